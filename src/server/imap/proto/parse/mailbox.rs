//! Mailbox commands with more than a name: SELECT and EXAMINE parameters
//! (CONDSTORE, QRESYNC), CREATE's USE (RFC 6154), LIST basic and extended
//! (RFC 5258, 5819, 6154), LSUB, STATUS and APPEND.

use super::super::types::{
    CommandBody, List, QResync, SelectParams, SeqItem, SeqNum, SequenceSet, StatusItem,
};
use super::lex::{Cursor, R};

/// `SELECT`/`EXAMINE SP mailbox [SP "(" select-param *(SP select-param) ")"]`.
pub(super) fn select(c: &mut Cursor<'_>, examine: bool) -> R<CommandBody> {
    c.sp()?;
    let mailbox = c.mailbox()?;
    let mut params = SelectParams::default();
    if !c.at_end() {
        c.sp()?;
        c.list(false, "select parameters", |c| {
            match c.keyword("a select parameter")?.as_str() {
                "CONDSTORE" if !params.condstore => params.condstore = true,
                "QRESYNC" if params.qresync.is_none() => {
                    c.sp()?;
                    params.qresync = Some(qresync(c)?);
                }
                "CONDSTORE" | "QRESYNC" => return Err("select parameter given twice".into()),
                _ => return Err("unknown select parameter".into()),
            }
            Ok(())
        })?;
        // RFC 7162 section 3.2.5: QRESYNC implies CONDSTORE.
        params.condstore |= params.qresync.is_some();
    }
    Ok(if examine {
        CommandBody::Examine { mailbox, params }
    } else {
        CommandBody::Select { mailbox, params }
    })
}

/// `"(" uidvalidity SP mod-sequence-value [SP known-uids] [SP seq-match-data] ")"`.
fn qresync(c: &mut Cursor<'_>) -> R<QResync> {
    c.expect(b'(', "'(' opening the QRESYNC parameters")?;
    let uidvalidity = c.nz_number()?;
    c.sp()?;
    let modseq = c.modseq(false)?;
    let (mut known_uids, mut seq_match) = (None, None);
    if c.eat(b' ') {
        if c.peek() == Some(b'(') {
            seq_match = Some(seq_match_data(c)?);
        } else {
            known_uids = Some(known_set(c)?);
            if c.eat(b' ') {
                seq_match = Some(seq_match_data(c)?);
            }
        }
    }
    c.expect(b')', "')' closing the QRESYNC parameters")?;
    Ok(QResync {
        uidvalidity,
        modseq,
        known_uids,
        seq_match,
    })
}

/// `"(" known-sequence-set SP known-uid-set ")"`.
fn seq_match_data(c: &mut Cursor<'_>) -> R<(SequenceSet, SequenceSet)> {
    c.expect(b'(', "'(' opening the known sequence set")?;
    let seqs = known_set(c)?;
    c.sp()?;
    let uids = known_set(c)?;
    c.expect(b')', "')' closing the known sequence set")?;
    Ok((seqs, uids))
}

/// A set the client knows exactly: RFC 7162 forbids `*` in it (and `$` has no
/// meaning before SELECT).
fn known_set(c: &mut Cursor<'_>) -> R<SequenceSet> {
    let set = c.seq_set()?;
    let vague = set.0.iter().any(|item| match item {
        SeqItem::Range(a, b) => *a == SeqNum::Star || *b == SeqNum::Star,
        SeqItem::Saved => true,
    });
    if vague {
        return Err("'*' and '$' are not allowed in QRESYNC sets".into());
    }
    Ok(set)
}

/// `CREATE SP mailbox [SP "(" "USE" SP "(" [use-attr *(SP use-attr)] ")" ")"]`.
pub(super) fn create(c: &mut Cursor<'_>) -> R<CommandBody> {
    c.sp()?;
    let mailbox = c.mailbox()?;
    let mut special_use = Vec::new();
    if !c.at_end() {
        c.sp()?;
        c.list(false, "create parameters", |c| {
            if !c.eat_keyword(b"USE") {
                return Err(c.expected("USE"));
            }
            c.sp()?;
            special_use = c.list(true, "special-use attributes", |c| {
                c.expect(b'\\', "a special-use attribute such as \\Sent")?;
                let a = c.atom("a special-use attribute")?;
                Ok(format!("\\{}", String::from_utf8_lossy(a)))
            })?;
            Ok(())
        })?;
    }
    Ok(CommandBody::Create {
        mailbox,
        special_use,
    })
}

/// `LIST [SP list-select-opts] SP mailbox SP mbox-or-pat [SP list-return-opts]`
/// (RFC 5258 section 6); the basic form is the same without the options.
pub(super) fn list(c: &mut Cursor<'_>) -> R<CommandBody> {
    let mut l = List::default();
    c.sp()?;
    if c.peek() == Some(b'(') {
        l.extended = true;
        let opts = c.list(true, "selection options", |c| {
            c.keyword("a selection option")
        })?;
        for o in opts {
            match o.as_str() {
                "SUBSCRIBED" => l.select.subscribed = true,
                "REMOTE" => l.select.remote = true,
                "RECURSIVEMATCH" => l.select.recursive_match = true,
                "SPECIAL-USE" => l.select.special_use = true,
                _ => return Err("unknown LIST selection option".into()),
            }
        }
        // RFC 5258 section 3.1: RECURSIVEMATCH modifies a base option.
        if l.select.recursive_match && !l.select.subscribed && !l.select.special_use {
            return Err("RECURSIVEMATCH needs SUBSCRIBED or SPECIAL-USE".into());
        }
        c.sp()?;
    }
    l.reference = c.astring()?;
    c.sp()?;
    if c.peek() == Some(b'(') {
        l.extended = true;
        l.patterns = c.list(false, "mailbox patterns", Cursor::list_mailbox)?;
    } else {
        l.patterns = vec![c.list_mailbox()?];
    }
    if !c.at_end() {
        c.sp()?;
        if !c.eat_keyword(b"RETURN") {
            return Err(c.expected("RETURN"));
        }
        l.extended = true;
        c.sp()?;
        c.list(true, "return options", |c| {
            match c.keyword("a return option")?.as_str() {
                "SUBSCRIBED" => l.returns.subscribed = true,
                "CHILDREN" => l.returns.children = true,
                "SPECIAL-USE" => l.returns.special_use = true,
                "STATUS" if l.returns.status.is_none() => {
                    c.sp()?;
                    l.returns.status = Some(status_items(c)?);
                }
                _ => return Err("unknown or repeated LIST return option".into()),
            }
            Ok(())
        })?;
    }
    Ok(CommandBody::List(l))
}

/// `LSUB SP mailbox SP list-mailbox`.
pub(super) fn lsub(c: &mut Cursor<'_>) -> R<CommandBody> {
    c.sp()?;
    let reference = c.astring()?;
    c.sp()?;
    let pattern = c.list_mailbox()?;
    Ok(CommandBody::Lsub { reference, pattern })
}

/// `STATUS SP mailbox SP "(" status-att *(SP status-att) ")"`.
pub(super) fn status(c: &mut Cursor<'_>) -> R<CommandBody> {
    c.sp()?;
    let mailbox = c.mailbox()?;
    c.sp()?;
    let items = status_items(c)?;
    Ok(CommandBody::Status { mailbox, items })
}

fn status_items(c: &mut Cursor<'_>) -> R<Vec<StatusItem>> {
    c.list(false, "status items", |c| {
        Ok(match c.keyword("a status item")?.as_str() {
            "MESSAGES" => StatusItem::Messages,
            "RECENT" => StatusItem::Recent,
            "UIDNEXT" => StatusItem::UidNext,
            "UIDVALIDITY" => StatusItem::UidValidity,
            "UNSEEN" => StatusItem::Unseen,
            "HIGHESTMODSEQ" => StatusItem::HighestModSeq,
            _ => return Err("unknown status item".into()),
        })
    })
}

/// `APPEND SP mailbox [SP flag-list] [SP date-time] SP literal`.
pub(super) fn append(c: &mut Cursor<'_>) -> R<CommandBody> {
    c.sp()?;
    let mailbox = c.mailbox()?;
    c.sp()?;
    let mut flags = Vec::new();
    if c.peek() == Some(b'(') {
        flags = c.flag_list()?;
        c.sp()?;
    }
    let mut date = None;
    if c.peek() == Some(b'"') {
        date = Some(c.date_time()?);
        c.sp()?;
    }
    let message = c.literal()?;
    Ok(CommandBody::Append {
        mailbox,
        flags,
        date,
        message,
    })
}
