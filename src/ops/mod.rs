//! The operations: the one API the front ends (the CLI, the IMAP and LMTP server,
//! import and export) use, with no printing. Each returns a serialisable outcome
//! the front end prints as text or JSON, or answers with.
//!
//! - [`OpenMailbox`] reads and writes one mailbox (deliver, flags, expunge, dump);
//! - `mailbox` and `user` change which mailboxes and users exist, `user` sets
//!   passwords and quotas and checks logins, `quota` counts what users use;
//! - `reconstruct` runs the repairs;
//! - `import` and `export` move mail in and out (Maildir, mbox);
//! - `set_aside` lists and removes the files repairs set aside.

pub mod copy;
pub mod deliver;
pub mod dump;
pub mod export;
pub mod expunge;
pub mod flags;
pub mod import;
pub mod mailbox;
pub mod open;
pub mod quota;
pub mod reconstruct;
pub mod set_aside;
pub mod user;

pub use open::OpenMailbox;

use crate::error::{DbKind, Error, Result};
use crate::store::Store;
use crate::store::lock::{self, Lock, Mode, Wait};
use crate::store::names::MailboxName;

/// Creates a new store directory.
pub fn init(store: &Store) -> Result<()> {
    let root = store.root();
    if Store::open(root).is_ok() {
        return Err(Error::Usage(format!(
            "{}: already a msgstore store; nothing to do (use it with --store {})",
            root.display(),
            root.display()
        )));
    }
    if crate::store::fsutil::name_taken(root) {
        let mut entries =
            std::fs::read_dir(root).map_err(|e| Error::io(root, "read directory", e))?;
        if entries.next().is_some() {
            return Err(Error::Usage(format!(
                "{}: directory is not empty and not a store; give an empty or new directory",
                root.display()
            )));
        }
    }
    for d in [crate::store::USERS_DIR, crate::store::PUBLIC_DIR] {
        let p = root.join(d);
        std::fs::create_dir_all(&p).map_err(|e| Error::io(&p, "create directory", e))?;
    }
    let lock = root.join(lock::DATABASES_LOCK);
    crate::store::fsutil::open_regular(&lock, crate::store::fsutil::Access::Create)
        .map_err(|e| e.into_error(&lock, "create"))?;
    crate::db::create(&store.users_db(), DbKind::Users)?;
    crate::db::create(&store.mailboxes_db(), DbKind::Mailboxes)?;
    crate::store::fsutil::sync_dir(root)
}

/// Takes the list-change lock, for a change of which mailboxes or users exist.
pub(crate) fn list_changes(store: &Store) -> Result<Lock> {
    list_changes_waiting(store, Wait::default_for_writers())
}

/// [`list_changes`], waiting `wait` (IMAP CREATE, DELETE and RENAME wait only
/// `LIST_CHANGE_GRACE`, then answer `NO [INUSE]`).
pub(crate) fn list_changes_waiting(store: &Store, wait: Wait) -> Result<Lock> {
    lock::list_changes(store.root(), wait).map_err(|e| e.into_error(|| Error::ListBusy))
}

/// Exclusive locks on every mailbox of `names` that has a directory, in name order
/// (the lock order), so nobody has one open while it moves or goes away.
pub(crate) fn lock_all(store: &Store, names: &[MailboxName]) -> Result<Vec<Lock>> {
    let mut sorted: Vec<&MailboxName> = names.iter().collect();
    sorted.sort();
    let mut locks = Vec::new();
    for n in sorted {
        if store.has_mailbox_dir(n) {
            let dir = store.mailbox_dir(n);
            let l = lock::mailbox(&dir, Mode::Exclusive, Wait::default_for_writers(), true)
                .map_err(|e| e.into_error(|| Error::MailboxBusy(n.to_string())))?;
            locks.extend(l);
        }
    }
    Ok(locks)
}

/// The error for a mailbox that does not exist, with the closest listed name.
pub(crate) fn unknown_mailbox(store: &Store, name: &MailboxName) -> Error {
    let listed: Vec<MailboxName> = crate::db::mailboxes::list(store, None)
        .unwrap_or_default()
        .iter()
        .filter_map(|e| MailboxName::parse(&e.name).ok())
        .collect();
    Error::UnknownMailbox {
        name: name.to_string(),
        suggestion: crate::reconstruct::closest(&name.to_string(), &listed),
    }
}
