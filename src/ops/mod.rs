//! The operations: what each command does to the store, with no printing. Each
//! returns a serialisable outcome the command layer prints as text or JSON.

pub mod deliver;
pub mod dump;
pub mod expunge;
pub mod flags;
pub mod mailbox;
pub mod user;

use crate::error::{Error, Result};
use crate::store::Store;
use crate::store::lock::{self, Lock, Mode, Wait};
use crate::store::names::MailboxName;
use std::path::PathBuf;

/// Creates a new store directory.
pub fn init(store: &Store) -> Result<()> {
    let root = store.root();
    if Store::open(root).is_ok() {
        return Err(Error::Usage(format!(
            "{}: already a msgstore store",
            root.display()
        )));
    }
    if root.exists() {
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
    crate::db::create(&store.users_db(), crate::db::Which::Users)?;
    crate::db::create(&store.mailboxes_db(), crate::db::Which::Mailboxes)?;
    crate::store::fsutil::sync_dir(root)
}

/// Takes the mailbox-list lock for a change of the list (create, delete, rename).
pub fn lock_list(store: &Store, mode: Mode) -> Result<Lock> {
    let db = store.mailboxes_db();
    lock::lock_store(store.root(), mode, Wait::default_for_writers(), || {
        Error::db(
            &db,
            "the mailbox list is being rebuilt or changed by another process",
            "try again when `reconstruct -m` has finished",
        )
    })
}

/// A mailbox that exists on disk: its parsed name and directory.
pub fn existing_mailbox(store: &Store, name: &str) -> Result<(MailboxName, PathBuf)> {
    let name = MailboxName::parse(name)?;
    let dir = store.mailbox_dir(&name);
    if !store.has_mailbox_dir(&name) {
        return Err(Error::UnknownMailbox(name.to_string()));
    }
    Ok((name, dir))
}

/// Takes a mailbox's lock.
pub fn lock_mailbox(
    store: &Store,
    name: &MailboxName,
    mode: Mode,
    wait: Wait,
    create: bool,
) -> Result<Option<Lock>> {
    let dir = store.mailbox_dir(name);
    let shown = name.to_string();
    lock::lock_mailbox(&dir, mode, wait, create, || {
        Error::MailboxBusy(shown.clone())
    })
}

/// Takes a mailbox's lock for a write and opens its index: what deliver, flags and
/// expunge all start with. The lock is held as long as the returned value lives.
pub fn open_for_write(
    store: &Store,
    name: &MailboxName,
    dir: &std::path::Path,
) -> Result<(Option<Lock>, crate::index::Index)> {
    let lock = lock_mailbox(
        store,
        name,
        Mode::Exclusive,
        Wait::default_for_writers(),
        true,
    )?;
    let index = crate::index::Index::open(&dir.join(crate::store::INDEX_FILE))?;
    Ok((lock, index))
}
