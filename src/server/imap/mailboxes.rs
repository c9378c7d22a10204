//! The commands on mailboxes as a whole: CREATE, DELETE, RENAME, SUBSCRIBE,
//! UNSUBSCRIBE, LIST (with LIST-EXTENDED, LIST-STATUS, SPECIAL-USE), LSUB and
//! STATUS. Every name goes through `names::resolve`: what the user may not see
//! answers exactly as a mailbox that does not exist.

use super::names::{self, Name};
use super::out::Out;
use super::proto::write::{self, Code};
use super::proto::{List, Mailbox, StatusItem, utf7};
use super::session::{Reply, Session, nonexistent};
use crate::db::mailboxes::SPECIAL_USE;
use crate::error::Error;
use crate::index::record::flag;
use crate::store::lock::{LIST_CHANGE_GRACE, Wait};
use crate::store::names::{MailboxName, PUBLIC_ROOT, Root};
use std::collections::{BTreeMap, BTreeSet};

/// One name LIST may show.
#[derive(Default)]
struct Listed {
    /// A mailbox (else a parent that only exists as a level: `\Noselect`).
    exists: bool,
    special_use: u32,
    children: bool,
    subscribed: bool,
    store_name: Option<MailboxName>,
    /// A subscribed name has a subscribed child (LIST-EXTENDED CHILDINFO).
    subscribed_child: bool,
}

/// The SPECIAL-USE attribute a folder has by its name when none was set: what
/// clients look for (Thunderbird, Apple Mail and mbsync read the attributes).
fn default_special_use(imap: &str) -> u32 {
    let bit = |name: &str| {
        SPECIAL_USE
            .iter()
            .find(|(_, n)| *n == name)
            .map_or(0, |(b, _)| *b)
    };
    match imap {
        "Sent" | "Sent Items" | "Sent Messages" => bit("\\Sent"),
        "Drafts" => bit("\\Drafts"),
        "Trash" | "Deleted Items" | "Deleted Messages" => bit("\\Trash"),
        "Junk" | "Spam" => bit("\\Junk"),
        "Archive" => bit("\\Archive"),
        _ => 0,
    }
}

fn special_use_bits(names: &[String]) -> Result<u32, Reply> {
    let mut bits = 0;
    for n in names {
        match SPECIAL_USE.iter().find(|(_, s)| s.eq_ignore_ascii_case(n)) {
            Some((b, _)) => bits |= b,
            // RFC 6154 3: an attribute the server does not support is USEATTR.
            None => {
                return Err(Reply::No(
                    Some(Code::UseAttr),
                    format!("{n} is not a SPECIAL-USE attribute this server keeps"),
                ));
            }
        }
    }
    Ok(bits)
}

fn wait() -> Wait {
    Wait::For(LIST_CHANGE_GRACE)
}

/// The names LSUB answers for pattern `full`, with their attributes. RFC 3501
/// 6.3.9: when `%` stops a match above a subscribed name (`foo/bar` subscribed,
/// pattern `%`), the level it stops at (`foo`) is answered, flagged `\Noselect`
/// unless it is itself subscribed.
fn lsub_lines(full: &str, all: &BTreeMap<String, Listed>) -> BTreeMap<String, &'static str> {
    let mut shown: BTreeMap<String, &'static str> = BTreeMap::new();
    for (name, info) in all {
        if !info.subscribed {
            continue;
        }
        if names::matches(full, name) {
            shown.insert(name.clone(), if info.exists { "" } else { "\\Noselect" });
            continue;
        }
        if !full.contains('%') {
            continue;
        }
        let mut parts: Vec<&str> = name.split(names::SEPARATOR).collect();
        while parts.len() > 1 {
            parts.pop();
            let parent = parts.join("/");
            if names::matches(full, &parent) {
                shown.entry(parent).or_insert("\\Noselect");
                break;
            }
        }
    }
    shown
}

impl Session {
    fn user_name(&self) -> &str {
        self.user.as_deref().unwrap_or_default()
    }

    /// The store name for a CREATE or RENAME target: `INBOX/x` cannot be made.
    fn new_name(&self, m: &Mailbox) -> Result<MailboxName, Reply> {
        let shown = m
            .decode(false)
            .map_err(|e| Reply::No(Some(Code::Cannot), format!("bad mailbox name: {e}")))?;
        let shown = shown.strip_suffix('/').unwrap_or(&shown).to_owned();
        match names::resolve(self.user_name(), &shown) {
            Name::Mailbox(n) => Ok(n),
            Name::BelowInbox => Err(Reply::No(
                Some(Code::Cannot),
                "INBOX has no child mailboxes here; create the folder at the top level".into(),
            )),
            Name::Nonexistent => Err(Reply::No(
                Some(Code::Cannot),
                "that name is not one you can create".into(),
            )),
        }
    }

    pub(super) fn create(&mut self, m: &Mailbox, special_use: &[String]) -> Result<String, Reply> {
        let name = self.new_name(m)?;
        if name.root() == Root::Users && name.is_inbox() {
            return Err(Reply::No(Some(Code::AlreadyExists), "INBOX exists".into()));
        }
        let bits = special_use_bits(special_use)?;
        crate::ops::mailbox::create_with(&self.ctx.store, &name.to_string(), bits, wait())
            .map_err(|e| match e {
                Error::MailboxExists(_) => {
                    Reply::No(Some(Code::AlreadyExists), "Mailbox already exists".into())
                }
                e => Reply::Store(e),
            })?;
        Ok("CREATE completed".into())
    }

    pub(super) fn delete(&mut self, m: &Mailbox) -> Result<(), Reply> {
        let (name, _) = self.mailbox_name(m)?;
        if name.root() == Root::Users && name.is_inbox() {
            return Err(Reply::No(
                Some(Code::Cannot),
                "INBOX cannot be deleted".into(),
            ));
        }
        if self
            .selected
            .as_ref()
            .is_some_and(|s| s.shared.open.name() == &name)
        {
            // RFC 3501 allows it; deselecting first keeps the session consistent.
            self.selected = None;
        }
        crate::ops::mailbox::delete_with(&self.ctx.store, &name.to_string(), wait()).map_err(
            |e| match e {
                Error::UnknownMailbox { .. } => nonexistent(),
                Error::Usage(why) => Reply::No(Some(Code::InUse), why),
                e => Reply::Store(e),
            },
        )?;
        self.ctx.hub.forget(&name);
        Ok(())
    }

    pub(super) fn rename(&mut self, from: &Mailbox, to: &Mailbox) -> Result<(), Reply> {
        let (old, _) = self.mailbox_name(from)?;
        let new = self.new_name(to)?;
        if old.root() == Root::Users && old.is_inbox() {
            return self.rename_inbox(&old, &new);
        }
        crate::ops::mailbox::rename_with(
            &self.ctx.store,
            &old.to_string(),
            &new.to_string(),
            wait(),
        )
        .map_err(|e| match e {
            Error::UnknownMailbox { .. } => nonexistent(),
            Error::MailboxExists(_) => {
                Reply::No(Some(Code::AlreadyExists), "Mailbox already exists".into())
            }
            e => Reply::Store(e),
        })?;
        self.ctx.hub.forget(&old);
        if self
            .selected
            .as_ref()
            .is_some_and(|s| s.shared.open.name().is_within(&old))
        {
            self.selected = None;
        }
        Ok(())
    }

    /// RFC 3501 6.3.5: renaming INBOX moves its messages to the new mailbox and
    /// leaves INBOX empty.
    fn rename_inbox(&mut self, inbox: &MailboxName, new: &MailboxName) -> Result<(), Reply> {
        crate::ops::mailbox::create_with(&self.ctx.store, &new.to_string(), 0, wait()).map_err(
            |e| match e {
                Error::MailboxExists(_) => {
                    Reply::No(Some(Code::AlreadyExists), "Mailbox already exists".into())
                }
                e => Reply::Store(e),
            },
        )?;
        let from = self.ctx.hub.open(inbox)?;
        let to = self.ctx.hub.open(new)?;
        let state = from.open.state()?;
        let uids: Vec<u32> = state.records.keys().copied().collect();
        crate::ops::copy::move_messages(&from.open, &uids, &to.open)?;
        Ok(())
    }

    pub(super) fn subscribe(&mut self, m: &Mailbox, on: bool) -> Result<(), Reply> {
        let shown = match m.decode(false) {
            Ok(s) => s,
            Err(_) if !on => return Ok(()),
            Err(e) => {
                return Err(Reply::No(
                    Some(Code::NonExistent),
                    format!("bad mailbox name: {e}"),
                ));
            }
        };
        let name = match names::resolve(self.user_name(), &shown) {
            Name::Mailbox(n) => n,
            // Never subscribed (SUBSCRIBE refuses it): unsubscribing is a no-op,
            // answered as for any name one is not subscribed to.
            _ if !on => return Ok(()),
            _ => return Err(nonexistent()),
        };
        // RFC 3501 6.3.6: subscribing to a mailbox that does not exist is allowed
        // to fail; we refuse, so that the list never names what cannot be seen.
        if on && !self.ctx.store.has_mailbox_dir(&name) {
            return Err(nonexistent());
        }
        crate::db::subscriptions::set(&self.ctx.store, self.user_name(), &name.to_string(), on)?;
        Ok(())
    }

    /// Every name the user can see, with what LIST says of it.
    fn visible(&self, with_subscriptions: bool) -> Result<BTreeMap<String, Listed>, Reply> {
        let user = self.user_name().to_owned();
        let entries = crate::db::mailboxes::list(&self.ctx.store, None)?;
        let mut out: BTreeMap<String, Listed> = BTreeMap::new();
        for e in entries {
            let Ok(n) = MailboxName::parse(&e.name) else {
                continue;
            };
            let Some(imap) = names::imap_name(&user, &n) else {
                continue;
            };
            let l = out.entry(imap.clone()).or_default();
            l.exists = true;
            l.special_use = if e.special_use != 0 {
                e.special_use
            } else {
                default_special_use(&imap)
            };
            l.store_name = Some(n);
            // Every level above is a name too (a parent that is not a mailbox is
            // `\Noselect`); INBOX's folders are top-level names.
            let mut parts: Vec<&str> = imap.split('/').collect();
            while parts.len() > 1 {
                parts.pop();
                let p = parts.join("/");
                out.entry(p).or_default().children = true;
            }
        }
        if out
            .keys()
            .any(|k| k.starts_with(&format!("{PUBLIC_ROOT}/")))
        {
            out.entry(PUBLIC_ROOT.to_owned()).or_default().children = true;
        }
        if with_subscriptions {
            for s in crate::db::subscriptions::list(&self.ctx.store, &user)? {
                let Ok(n) = MailboxName::parse(&s) else {
                    continue;
                };
                if let Some(imap) = names::imap_name(&user, &n) {
                    out.entry(imap.clone()).or_default().subscribed = true;
                    let mut parts: Vec<&str> = imap.split('/').collect();
                    while parts.len() > 1 {
                        parts.pop();
                        if let Some(p) = out.get_mut(&parts.join("/")) {
                            p.subscribed_child = true;
                        }
                    }
                }
            }
        }
        Ok(out)
    }

    pub(super) fn list(&mut self, l: &List, out: &mut Out) -> Result<(), Reply> {
        let reference = utf7::mailbox_from_wire(&l.reference, false)
            .map_err(|e| Reply::Bad(format!("bad reference: {e}")))?;
        let mut patterns = Vec::new();
        for p in &l.patterns {
            let p = utf7::mailbox_from_wire(p, false)
                .map_err(|e| Reply::Bad(format!("bad pattern: {e}")))?;
            patterns.push(p);
        }
        // RFC 3501 6.3.8: an empty pattern asks for the separator.
        if !l.extended && patterns.len() == 1 && patterns[0].is_empty() {
            out.buf
                .extend_from_slice(b"* LIST (\\Noselect) \"/\" \"\"\r\n");
            return Ok(());
        }
        let sel = &l.select;
        let ret = &l.returns;
        let subs = sel.subscribed || ret.subscribed;
        let all = self.visible(subs)?;
        let full: Vec<String> = patterns
            .iter()
            .filter(|p| !p.is_empty())
            .map(|p| names::pattern(&reference, p))
            .collect();
        let mut shown = BTreeSet::new();
        for (name, info) in &all {
            if !full.iter().any(|p| names::matches(p, name)) {
                continue;
            }
            let mut childinfo = false;
            if sel.subscribed && !info.subscribed {
                // RECURSIVEMATCH: a parent of a subscribed mailbox is shown with
                // CHILDINFO, without being subscribed itself.
                if !(sel.recursive_match && info.subscribed_child) {
                    continue;
                }
                childinfo = true;
            }
            if sel.special_use && info.special_use == 0 {
                continue;
            }
            if !shown.insert(name.clone()) {
                continue;
            }
            let mut attrs: Vec<&str> = Vec::new();
            if !info.exists {
                attrs.push(if name == PUBLIC_ROOT || info.children {
                    "\\Noselect"
                } else {
                    "\\NonExistent"
                });
            }
            if name == "INBOX" {
                attrs.push("\\Noinferiors");
            } else if info.children {
                attrs.push("\\HasChildren");
            } else {
                attrs.push("\\HasNoChildren");
            }
            if info.subscribed && subs {
                attrs.push("\\Subscribed");
            }
            if (ret.special_use || sel.special_use || !l.extended) && info.special_use != 0 {
                for (b, n) in SPECIAL_USE {
                    if info.special_use & b != 0 {
                        attrs.push(n);
                    }
                }
            }
            out.buf.extend_from_slice(b"* LIST (");
            out.buf.extend_from_slice(attrs.join(" ").as_bytes());
            out.buf.extend_from_slice(b") \"/\" ");
            write::mailbox(&mut out.buf, name, false);
            if childinfo {
                out.buf
                    .extend_from_slice(b" (\"CHILDINFO\" (\"SUBSCRIBED\"))");
            }
            out.buf.extend_from_slice(b"\r\n");
            if let (Some(items), Some(n), true) = (&ret.status, &info.store_name, info.exists) {
                // RFC 5819: a STATUS reply right after the mailbox's LIST reply.
                let _ = self.status_of(n, name, items, out);
            }
            out.maybe_flush();
        }
        Ok(())
    }

    pub(super) fn lsub(
        &mut self,
        reference: &[u8],
        pattern: &[u8],
        out: &mut Out,
    ) -> Result<(), Reply> {
        let reference = utf7::mailbox_from_wire(reference, false)
            .map_err(|e| Reply::Bad(format!("bad reference: {e}")))?;
        let pattern = utf7::mailbox_from_wire(pattern, false)
            .map_err(|e| Reply::Bad(format!("bad pattern: {e}")))?;
        if pattern.is_empty() {
            return Ok(());
        }
        let full = names::pattern(&reference, &pattern);
        let all = self.visible(true)?;
        for (name, attrs) in lsub_lines(&full, &all) {
            out.buf
                .extend_from_slice(format!("* LSUB ({attrs}) \"/\" ").as_bytes());
            write::mailbox(&mut out.buf, &name, false);
            out.buf.extend_from_slice(b"\r\n");
        }
        Ok(())
    }

    pub(super) fn status(
        &mut self,
        m: &Mailbox,
        items: &[StatusItem],
        out: &mut Out,
    ) -> Result<(), Reply> {
        let (name, shown) = self.mailbox_name(m)?;
        self.status_of(&name, &shown, items, out)
    }

    fn status_of(
        &mut self,
        name: &MailboxName,
        shown: &str,
        items: &[StatusItem],
        out: &mut Out,
    ) -> Result<(), Reply> {
        if items.contains(&StatusItem::HighestModSeq) {
            // RFC 7162 3.1: STATUS (HIGHESTMODSEQ) is a CONDSTORE-enabling command.
            self.enable_condstore(out);
        }
        let shared = self.ctx.hub.open(name).map_err(|e| self.not_found(e))?;
        let snap = shared.current()?;
        let mut line = b"* STATUS ".to_vec();
        write::mailbox(&mut line, shown, false);
        line.extend_from_slice(b" (");
        for (i, it) in items.iter().enumerate() {
            if i > 0 {
                line.push(b' ');
            }
            let v: u64 = match it {
                StatusItem::Messages => snap.view.records.len() as u64,
                // The messages that are \Recent to the next session that selects
                // the mailbox (those a selected session took are its own).
                StatusItem::Recent => {
                    let from = shared.peek_recent(snap.uidnext());
                    let i = snap.view.records.partition_point(|r| r.uid.get() < from);
                    (snap.view.records.len() - i) as u64
                }
                StatusItem::UidNext => u64::from(snap.uidnext()),
                StatusItem::UidValidity => u64::from(snap.uidvalidity()),
                StatusItem::Unseen => snap
                    .view
                    .records
                    .iter()
                    .filter(|r| r.system_flags.get() & flag::SEEN == 0)
                    .count() as u64,
                StatusItem::HighestModSeq => snap.highestmodseq(),
            };
            line.extend_from_slice(format!("{} {v}", it.name()).as_bytes());
        }
        line.extend_from_slice(b")\r\n");
        out.buf.extend_from_slice(&line);
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn listed(exists: bool, subscribed: bool) -> Listed {
        Listed {
            exists,
            subscribed,
            ..Listed::default()
        }
    }

    #[test]
    fn lsub_percent_answers_the_level_above_a_subscribed_child_as_noselect() {
        let mut all = BTreeMap::new();
        all.insert("Archive".to_owned(), listed(true, true));
        all.insert("Work".to_owned(), listed(true, false));
        all.insert("Work/Projects".to_owned(), listed(true, true));
        all.insert("Gone/Deep/Box".to_owned(), listed(false, true));
        let got = lsub_lines("%", &all);
        let want: Vec<(&str, &str)> = vec![
            ("Archive", ""),
            ("Gone", "\\Noselect"),
            ("Work", "\\Noselect"),
        ];
        assert_eq!(
            got.iter()
                .map(|(k, v)| (k.as_str(), *v))
                .collect::<Vec<_>>(),
            want
        );
        // `*` reaches the subscribed names themselves, and nothing else.
        let got = lsub_lines("*", &all);
        assert_eq!(
            got.keys().map(String::as_str).collect::<Vec<_>>(),
            ["Archive", "Gone/Deep/Box", "Work/Projects"]
        );
        assert_eq!(got["Gone/Deep/Box"], "\\Noselect");
        // A subscribed parent is answered as itself.
        all.insert("Work".to_owned(), listed(true, true));
        assert_eq!(lsub_lines("%", &all)["Work"], "");
        assert_eq!(lsub_lines("Work/%", &all)["Work/Projects"], "");
    }

    #[test]
    fn an_unknown_special_use_is_useattr() {
        assert_eq!(special_use_bits(&["\\sent".into()]).ok(), Some(sent()));
        match special_use_bits(&["\\Bogus".into()]) {
            Err(Reply::No(Some(Code::UseAttr), _)) => {}
            _ => panic!("not USEATTR"),
        }
    }

    fn sent() -> u32 {
        SPECIAL_USE
            .iter()
            .find(|(_, n)| *n == "\\Sent")
            .map_or(0, |(b, _)| *b)
    }
}
