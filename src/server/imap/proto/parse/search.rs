//! SEARCH and UID SEARCH (RFC 3501 section 6.4.4) with ESEARCH return options
//! (RFC 4731, SAVE from RFC 5182) and MODSEQ (RFC 7162).
//!
//! Nesting is bounded (see [`super::ParseOptions::max_depth`]): each parenthesised
//! list, NOT, and OR costs a level, but the right-nested chain `OR a OR b OR c d`
//! that clients build for "any of these senders" is read in a loop as one n-ary
//! OR, so a chain of any length costs one level and cannot exhaust the stack.

use super::super::types::{Charset, CommandBody, EntryType, Search, SearchKey, SearchReturn};
use super::lex::{Cursor, R};

/// `SEARCH [SP "RETURN" SP "(" [opt *(SP opt)] ")"] [SP "CHARSET" SP astring]
/// 1*(SP search-key)`.
pub(super) fn search(c: &mut Cursor<'_>, uid: bool) -> R<CommandBody> {
    c.sp()?;
    let mut returns = None;
    if c.eat_keyword(b"RETURN") {
        c.sp()?;
        let mut opts = c.list(true, "search return options", |c| {
            Ok(match c.keyword("a search return option")?.as_str() {
                "MIN" => SearchReturn::Min,
                "MAX" => SearchReturn::Max,
                "ALL" => SearchReturn::All,
                "COUNT" => SearchReturn::Count,
                "SAVE" => SearchReturn::Save,
                _ => return Err("unknown search return option".into()),
            })
        })?;
        // RFC 4731 section 3.1: `RETURN ()` means `RETURN (ALL)`.
        if opts.is_empty() {
            opts.push(SearchReturn::All);
        }
        returns = Some(opts);
        c.sp()?;
    }
    let mut charset = None;
    if c.eat_keyword(b"CHARSET") {
        c.sp()?;
        let name = String::from_utf8_lossy(&c.astring()?).to_ascii_uppercase();
        charset = Some(match name.as_str() {
            "US-ASCII" => Charset::UsAscii,
            "UTF-8" => Charset::Utf8,
            _ => Charset::Other(name),
        });
        c.sp()?;
    }
    let mut keys = vec![key(c)?];
    while c.eat(b' ') {
        keys.push(key(c)?);
    }
    Ok(CommandBody::Search(Search {
        uid,
        returns,
        charset,
        keys,
    }))
}

/// One `search-key`. The recursive keys are handled here and the rest in
/// [`simple_key`], kept out of line: a debug build gives a function one stack slot
/// per temporary, and the big match would otherwise multiply every level's frame.
fn key(c: &mut Cursor<'_>) -> R<SearchKey> {
    match c.peek() {
        Some(b'(') => {
            c.enter()?;
            let keys = c.list(false, "a list of search keys", key)?;
            c.leave();
            return Ok(SearchKey::And(keys));
        }
        Some(b'0'..=b'9' | b'*' | b'$') => return Ok(SearchKey::Seq(c.seq_set()?)),
        _ => {}
    }
    if c.eat_keyword(b"NOT") {
        c.sp()?;
        c.enter()?;
        let k = key(c)?;
        c.leave();
        return Ok(SearchKey::Not(Box::new(k)));
    }
    if c.eat_keyword(b"OR") {
        return or_chain(c);
    }
    simple_key(c)
}

/// A search key that contains no other key.
#[inline(never)]
fn simple_key(c: &mut Cursor<'_>) -> R<SearchKey> {
    use SearchKey as K;
    let name = c.keyword("a search key")?;
    Ok(match name.as_str() {
        "ALL" => K::All,
        "ANSWERED" => K::Answered,
        "DELETED" => K::Deleted,
        "DRAFT" => K::Draft,
        "FLAGGED" => K::Flagged,
        "NEW" => K::New,
        "OLD" => K::Old,
        "RECENT" => K::Recent,
        "SEEN" => K::Seen,
        "UNANSWERED" => K::Unanswered,
        "UNDELETED" => K::Undeleted,
        "UNDRAFT" => K::Undraft,
        "UNFLAGGED" => K::Unflagged,
        "UNSEEN" => K::Unseen,
        "KEYWORD" | "UNKEYWORD" => {
            c.sp()?;
            let k = String::from_utf8_lossy(c.atom("a keyword")?).into_owned();
            if name == "KEYWORD" {
                K::Keyword(k)
            } else {
                K::Unkeyword(k)
            }
        }
        "BCC" => K::Bcc(arg(c)?),
        "BODY" => K::Body(arg(c)?),
        "CC" => K::Cc(arg(c)?),
        "FROM" => K::From(arg(c)?),
        "SUBJECT" => K::Subject(arg(c)?),
        "TEXT" => K::Text(arg(c)?),
        "TO" => K::To(arg(c)?),
        "HEADER" => {
            let field = arg(c)?;
            K::Header(field, arg(c)?)
        }
        "BEFORE" => K::Before(date(c)?),
        "ON" => K::On(date(c)?),
        "SINCE" => K::Since(date(c)?),
        "SENTBEFORE" => K::SentBefore(date(c)?),
        "SENTON" => K::SentOn(date(c)?),
        "SENTSINCE" => K::SentSince(date(c)?),
        "LARGER" => {
            c.sp()?;
            K::Larger(c.number()?)
        }
        "SMALLER" => {
            c.sp()?;
            K::Smaller(c.number()?)
        }
        "UID" => {
            c.sp()?;
            K::Uid(c.seq_set()?)
        }
        "MODSEQ" => modseq(c)?,
        _ => return Err("unknown search key".into()),
    })
}

/// After `OR`: `search-key SP search-key`, where a second operand that is itself
/// an OR continues the same chain instead of recursing.
fn or_chain(c: &mut Cursor<'_>) -> R<SearchKey> {
    c.enter()?;
    let mut terms = Vec::new();
    loop {
        c.sp()?;
        terms.push(key(c)?);
        c.sp()?;
        if c.eat_keyword(b"OR") {
            continue;
        }
        terms.push(key(c)?);
        break;
    }
    c.leave();
    Ok(SearchKey::Or(terms))
}

/// `"MODSEQ" [SP entry-name SP entry-type-req] SP mod-sequence-valzer`.
fn modseq(c: &mut Cursor<'_>) -> R<SearchKey> {
    c.sp()?;
    let mut entry = None;
    if c.peek() == Some(b'"') {
        let name = c.quoted()?;
        if !name.starts_with(b"/flags/") {
            return Err("a MODSEQ entry name starts with /flags/".into());
        }
        c.sp()?;
        let kind = match c.keyword("priv, shared or all")?.as_str() {
            "PRIV" => EntryType::Private,
            "SHARED" => EntryType::Shared,
            "ALL" => EntryType::All,
            _ => return Err("expected priv, shared or all".into()),
        };
        entry = Some((name, kind));
        c.sp()?;
    }
    Ok(SearchKey::ModSeq {
        entry,
        modseq: c.modseq(true)?,
    })
}

fn arg(c: &mut Cursor<'_>) -> R<Vec<u8>> {
    c.sp()?;
    c.astring()
}

fn date(c: &mut Cursor<'_>) -> R<super::super::types::Date> {
    c.sp()?;
    c.date()
}
