//! Quotas: a user's storage limit (in the user record) and what they use.
//!
//! **Usage** is the sum of RFC822.SIZE over the user's mailboxes (those the
//! mailbox list has at and below `Other Users/NAME`), read from each index
//! header's `total_size`, which every append and expunge keeps in the same commit
//! as its records. So it is never stored twice and can never drift from the
//! indexes: a message counts once it is committed, and a message file that a
//! crash left without its record (an interrupted delivery) counts for nothing
//! until a reconstruct adds it, and then once. A delivery writes nothing
//! store-wide for the quota: it reads the headers. Public Folders have no quota.
//!
//! **Enforcement** is in [`super::OpenMailbox::append`], the one way mail comes in
//! (deliver, import, LMTP, IMAP APPEND, COPY and MOVE): the other mailboxes'
//! usage is read first, then, under the target's exclusive lock, its own header,
//! so appends to one mailbox are counted exactly. Two appends to *two* mailboxes
//! of one user at the same instant may each miss the other's message: the
//! overshoot is at most what is being appended concurrently to the user's other
//! mailboxes (Dovecot and Cyrus allow the same). A mailbox whose index cannot be
//! read counts as empty (usage is then a lower bound, and [`Usage::unreadable`]
//! names it): a damaged folder must not stop the user's mail. A mailbox that is
//! busy is waited for as writers wait (`schema/locking.md`, rule 4), and then the
//! delivery fails as busy (LMTP `451`, the MTA retries).

use crate::db::mailboxes;
use crate::db::users;
use crate::error::{Error, Result};
use crate::index::Reader;
use crate::store::Store;
use crate::store::lock::{self, Mode, Wait};
use crate::store::names::{MailboxName, USERS_ROOT};
use serde::Serialize;

/// What a user uses and may use.
#[derive(Clone, Debug, Default, PartialEq, Eq, Serialize)]
pub struct Usage {
    pub user: String,
    /// Sum of RFC822.SIZE over the user's mailboxes, in bytes.
    pub bytes: u64,
    pub messages: u64,
    /// The limit in bytes; `None`: no limit.
    pub quota: Option<u64>,
    /// Mailboxes counted.
    pub mailboxes: usize,
    /// Mailboxes whose index could not be read (or, in a listing of every user,
    /// that were busy), counted as empty.
    #[serde(skip_serializing_if = "Vec::is_empty")]
    pub unreadable: Vec<String>,
}

impl Usage {
    /// RFC 9208 STORAGE usage, in units of 1024 octets, rounded up: a user is
    /// never shown below what they use.
    pub fn storage_kib(&self) -> u64 {
        self.bytes.div_ceil(1024)
    }

    /// RFC 9208 STORAGE limit, in units of 1024 octets, rounded down: never
    /// shown above what is allowed.
    pub fn storage_limit_kib(&self) -> Option<u64> {
        self.quota.map(|q| q / 1024)
    }

    /// Whether no message at all can be added (usage at or over the quota): LMTP
    /// refuses such a recipient at RCPT.
    pub fn full(&self) -> bool {
        self.quota.is_some_and(|q| self.bytes >= q)
    }

    /// Whether a message of `size` bytes would go over the quota.
    pub fn would_exceed(&self, size: u64) -> bool {
        self.quota
            .is_some_and(|q| self.bytes.saturating_add(size) > q)
    }
}

/// A user's usage and quota (`user quota`, `user list`, IMAP GETQUOTA and
/// GETQUOTAROOT, LMTP's RCPT). Blocking: reads the user database, the mailbox
/// list, and one index header per mailbox.
pub fn usage(store: &Store, name: &str) -> Result<Usage> {
    crate::store::names::check_user_name(name)?;
    let record = users::get(store, name)?.ok_or_else(|| Error::UnknownUser(name.to_owned()))?;
    let mut u = count(store, name, None)?;
    u.quota = record.quota;
    Ok(u)
}

/// The usage of every user (`user list`): the mailbox list read once.
pub fn usage_of_all(store: &Store) -> Result<Vec<Usage>> {
    let mut by_user: std::collections::BTreeMap<String, Usage> = users::list(store)?
        .into_iter()
        .map(|(n, r)| {
            let u = Usage {
                user: n.clone(),
                quota: r.quota,
                ..Usage::default()
            };
            (n, u)
        })
        .collect();
    for e in mailboxes::list(store, None)? {
        let Some(u) = e.owner.as_ref().and_then(|o| by_user.get_mut(o)) else {
            continue;
        };
        if let Ok(n) = MailboxName::parse(&e.name) {
            // A listing goes on past a busy mailbox, naming it.
            if let Err(e) = add(store, &n, u) {
                debug_assert!(e.is_busy());
                u.unreadable.push(n.to_string());
            }
        }
    }
    Ok(by_user.into_values().collect())
}

/// The user's mailboxes as the mailbox list has them.
fn mailboxes_of(store: &Store, user: &str) -> Result<Vec<MailboxName>> {
    let inbox = MailboxName::parse(&format!("{USERS_ROOT}/{user}"))?;
    Ok(mailboxes::list(store, Some(&inbox))?
        .iter()
        .filter_map(|e| MailboxName::parse(&e.name).ok())
        .collect())
}

/// Counts the user's mailboxes, leaving `except` out.
fn count(store: &Store, user: &str, except: Option<&MailboxName>) -> Result<Usage> {
    let mut u = Usage {
        user: user.to_owned(),
        ..Usage::default()
    };
    for n in mailboxes_of(store, user)? {
        if Some(&n) != except {
            add(store, &n, &mut u)?;
        }
    }
    Ok(u)
}

/// What one mailbox's header counts now, `(bytes, messages)`, for
/// `reconstruct`'s report; `None` when it is still busy after `wait`, cannot be
/// read, or has no directory. `writing`: whether the run may write (a dry run
/// makes no lock file).
pub(crate) fn totals(
    store: &Store,
    name: &MailboxName,
    wait: Wait,
    writing: bool,
) -> Option<(u64, u64)> {
    if !store.has_mailbox_dir(name) {
        return None;
    }
    let dir = store.mailbox_dir(name);
    let _l = lock::mailbox(&dir, Mode::Shared, wait, writing).ok()?;
    let (h, _) = Reader::open(&store.index_path(name)).ok()?.header().ok()?;
    Some((h.total_size.get(), u64::from(h.exists.get())))
}

/// Adds one mailbox's header to `u`; busy is an error, damage a note.
fn add(store: &Store, name: &MailboxName, u: &mut Usage) -> Result<()> {
    match header_totals(store, name, Wait::default_for_writers()) {
        Ok(Some((bytes, messages))) => {
            u.bytes = u.bytes.saturating_add(bytes);
            u.messages = u.messages.saturating_add(messages);
            u.mailboxes += 1;
            Ok(())
        }
        // Listed but gone from disk: nothing to count (`reconstruct -m` tidies it).
        Ok(None) => Ok(()),
        Err(e) if e.is_busy() => Err(e),
        Err(_) => {
            u.unreadable.push(name.to_string());
            Ok(())
        }
    }
}

/// A mailbox's `total_size` and `exists`, read under its shared lock (a
/// version-1 index's too); `None` if it has no directory.
fn header_totals(store: &Store, name: &MailboxName, wait: Wait) -> Result<Option<(u64, u64)>> {
    if !store.has_mailbox_dir(name) {
        return Ok(None);
    }
    let dir = store.mailbox_dir(name);
    let _l = lock::mailbox(&dir, Mode::Shared, wait, true)
        .map_err(|e| e.into_error(|| Error::MailboxBusy(name.to_string())))?;
    let (h, _) = Reader::open(&store.index_path(name))?.header()?;
    Ok(Some((h.total_size.get(), u64::from(h.exists.get()))))
}

/// What an append to a mailbox may add: the owner's quota and what their other
/// mailboxes use, read before the append takes its lock (the lock order forbids
/// waiting for another mailbox's lock while holding one).
pub(crate) struct Budget {
    user: String,
    quota: u64,
    others: u64,
}

/// `None`: no limit (a public folder, a user without a quota or without a record).
pub(crate) fn budget(store: &Store, mailbox: &MailboxName) -> Result<Option<Budget>> {
    let Some(owner) = mailbox.owner() else {
        return Ok(None);
    };
    let Some(quota) = users::get(store, owner)?.and_then(|r| r.quota) else {
        return Ok(None);
    };
    let others = count(store, owner, Some(mailbox))?;
    Ok(Some(Budget {
        user: owner.to_owned(),
        quota,
        others: others.bytes,
    }))
}

impl Budget {
    /// Refuses `adding` bytes when the target already holds `own` bytes.
    pub(crate) fn check(&self, own: u64, adding: u64) -> Result<()> {
        let used = self.others.saturating_add(own);
        let after = used.saturating_add(adding);
        if after <= self.quota {
            return Ok(());
        }
        Err(Error::OverQuota {
            user: self.user.clone(),
            detail: format!(
                "{adding} bytes more would bring the usage from {used} to {after} bytes, over the quota of {} bytes",
                self.quota
            ),
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::ops::OpenMailbox;
    use crate::ops::deliver::prepare;
    use crate::ops::open::Append;

    fn store() -> (tempfile::TempDir, Store) {
        let d = tempfile::tempdir().unwrap();
        let s = Store::at(d.path().join("store"));
        crate::ops::init(&s).unwrap();
        crate::ops::user::add(&s, &["joe".into()]).unwrap();
        crate::ops::mailbox::create(&s, "joe/stuff").unwrap();
        crate::ops::mailbox::create(&s, "Public Folders/news").unwrap();
        (d, s)
    }

    /// A message of exactly `size` bytes of RFC822.SIZE.
    fn msg(size: usize) -> Append {
        let head = b"Subject: x\r\n\r\n";
        let mut m = head.to_vec();
        m.resize(size, b'a');
        let p = prepare("test", &m).unwrap();
        assert_eq!(p.size, size as u64);
        Append::new(p)
    }

    #[test]
    fn appends_are_refused_past_the_quota_and_counted_over_every_mailbox() {
        let (_d, s) = store();
        let inbox = OpenMailbox::open(&s, "joe").unwrap();
        let stuff = OpenMailbox::open(&s, "joe/stuff").unwrap();
        inbox.append(vec![msg(400)]).unwrap();
        stuff.append(vec![msg(300)]).unwrap();
        let u = usage(&s, "joe").unwrap();
        assert_eq!(
            (u.bytes, u.messages, u.mailboxes, u.quota),
            (700, 2, 2, None)
        );
        crate::ops::user::set_quota(&s, "joe", Some(1000)).unwrap();
        // 700 used: 300 more fit exactly, 301 do not, wherever they go.
        assert!(matches!(
            stuff.append(vec![msg(301)]),
            Err(Error::OverQuota { ref user, .. }) if user == "joe"
        ));
        assert!(
            matches!(
                inbox.append(vec![msg(200), msg(101)]),
                Err(Error::OverQuota { .. })
            ),
            "all or nothing"
        );
        assert_eq!(usage(&s, "joe").unwrap().bytes, 700, "nothing was written");
        let f = inbox
            .append_what_fits(vec![msg(200), msg(101), msg(50)])
            .unwrap();
        assert_eq!(f.appended.len(), 1);
        let (e, rest) = f.over_quota.unwrap();
        assert!(e.to_string().contains("joe: over quota"), "{e}");
        assert_eq!(rest.len(), 2, "the refused message and those after it");
        stuff.append(vec![msg(100)]).unwrap();
        let u = usage(&s, "joe").unwrap();
        assert_eq!((u.bytes, u.messages), (1000, 4));
        assert!(u.full());
        // Expunged mail frees its room.
        let state = stuff.state().unwrap();
        let first = *state.records.keys().next().unwrap();
        stuff
            .expunge(&crate::ops::open::Expunge::Uids(vec![first]))
            .unwrap();
        assert_eq!(usage(&s, "joe").unwrap().bytes, 700);
        stuff.append(vec![msg(300)]).unwrap();
        // Public folders have no quota.
        let news = OpenMailbox::open(&s, "Public Folders/news").unwrap();
        news.append(vec![msg(5000)]).unwrap();
    }

    #[test]
    fn an_uncommitted_file_is_no_usage_and_a_damaged_index_no_obstacle() {
        let (_d, s) = store();
        let stuff = OpenMailbox::open(&s, "joe/stuff").unwrap();
        stuff.append(vec![msg(100)]).unwrap();
        // What a crash between a delivery's link and its commit leaves.
        std::fs::write(stuff.message_path(99), b"Subject: y\r\n\r\nbody").unwrap();
        assert_eq!(usage(&s, "joe").unwrap().bytes, 100);
        // A folder whose index is damaged counts as empty, and is named.
        std::fs::write(stuff.index_path(), b"not an index").unwrap();
        crate::ops::user::set_quota(&s, "joe", Some(150)).unwrap();
        let u = usage(&s, "joe").unwrap();
        assert_eq!((u.bytes, u.unreadable.len()), (0, 1));
        OpenMailbox::open(&s, "joe")
            .unwrap()
            .append(vec![msg(150)])
            .unwrap();
        let all = usage_of_all(&s).unwrap();
        assert_eq!(all.len(), 1);
        assert_eq!((all[0].bytes, all[0].quota), (150, Some(150)));
    }

    #[test]
    fn rfc_9208_units_never_flatter() {
        let u = Usage {
            bytes: 1025,
            quota: Some(2047),
            ..Usage::default()
        };
        assert_eq!((u.storage_kib(), u.storage_limit_kib()), (2, Some(1)));
        assert!(!u.full() && !u.would_exceed(1022) && u.would_exceed(1023));
        let none = Usage::default();
        assert!(!none.full() && !none.would_exceed(u64::MAX));
        let at = Usage {
            bytes: 10,
            quota: Some(10),
            ..Usage::default()
        };
        assert!(at.full());
    }

    #[test]
    fn a_budget_refuses_only_past_the_quota() {
        let b = Budget {
            user: "joe".into(),
            quota: 100,
            others: 60,
        };
        assert!(b.check(30, 10).is_ok(), "exactly at the quota is allowed");
        let e = b.check(30, 11).unwrap_err();
        assert!(matches!(e, Error::OverQuota { .. }));
        assert!(e.to_string().contains("from 90 to 101 bytes"), "{e}");
        assert!(b.check(u64::MAX, u64::MAX).is_err(), "no overflow");
    }
}
