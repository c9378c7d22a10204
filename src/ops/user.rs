//! User database operations. A user's INBOX is made with the user and their whole
//! tree goes with them.

use super::lock_list;
use crate::db::mailboxes::{self, Entry};
use crate::db::users::{self, User};
use crate::db::{self, Which};
use crate::error::{Error, Result};
use crate::store::Store;
use crate::store::lock::{Mode, Wait};
use crate::store::names::{MailboxName, check_user_name};

/// Adds users with their INBOXes. The INBOX directories and list entries come
/// first, the user records last: a crash in between leaves a directory that
/// `x-build-user-db` turns back into a user.
pub fn add(store: &Store, names: &[String]) -> Result<Vec<Entry>> {
    for n in names {
        check_user_name(n)?;
    }
    let mut seen = std::collections::BTreeSet::new();
    for n in names {
        if !seen.insert(n) {
            return Err(Error::Usage(format!("{n:?}: named twice")));
        }
    }
    let _list = lock_list(store, Mode::Exclusive)?;
    let upath = store.users_db();
    let udb = db::open_rw(&upath, Which::Users)?;
    for n in names {
        if users_has(&udb, &upath, n)? {
            return Err(Error::UserExists(n.clone()));
        }
    }
    let mpath = store.mailboxes_db();
    let mdb = db::open_rw(&mpath, Which::Mailboxes)?;
    let made = mailboxes::write(&mdb, &mpath, |t| {
        let mut made = Vec::new();
        for n in names {
            let inbox = MailboxName::parse(&format!("{}/{n}", crate::store::names::USERS_ROOT))?;
            made.extend(super::mailbox::create_in(t, store, &inbox)?);
        }
        Ok(made)
    })?;
    users::add(&udb, &upath, names, db::now_unix())?;
    Ok(made)
}

fn users_has(udb: &redb::Database, path: &std::path::Path, name: &str) -> Result<bool> {
    use redb::ReadableDatabase;
    let txn = udb
        .begin_read()
        .map_err(|e| db::damaged(path, Which::Users, e))?;
    let t = txn
        .open_table(users::USERS_TABLE)
        .map_err(|e| db::damaged(path, Which::Users, e))?;
    Ok(t.get(name)
        .map_err(|e| db::damaged(path, Which::Users, e))?
        .is_some())
}

pub fn list(store: &Store) -> Result<Vec<User>> {
    let _list = lock_list(store, Mode::Shared)?;
    users::list(&store.users_db())
}

/// Deletes a user: the mailbox list entries first, then the user record, then the
/// mail on disk.
pub fn delete(store: &Store, name: &str) -> Result<usize> {
    check_user_name(name)?;
    let _list = lock_list(store, Mode::Exclusive)?;
    let upath = store.users_db();
    let udb = db::open_rw(&upath, Which::Users)?;
    if !users_has(&udb, &upath, name)? {
        return Err(Error::UnknownUser(name.to_owned()));
    }
    let inbox = MailboxName::parse(&format!("{}/{name}", crate::store::names::USERS_ROOT))?;
    let dir = store.mailbox_dir(&inbox);
    // Nobody may have the INBOX open while it goes.
    let _lock = if dir.is_dir() {
        super::lock_mailbox(store, &inbox, Mode::Exclusive, Wait::No, true)?
    } else {
        None
    };
    let mpath = store.mailboxes_db();
    let mdb = db::open_rw(&mpath, Which::Mailboxes)?;
    let removed = mailboxes::write(&mdb, &mpath, |t| {
        let sub = t.subtree(&inbox)?;
        for e in &sub {
            t.remove(&e.name)?;
        }
        Ok(sub.len())
    })?;
    users::delete(&udb, &upath, name)?;
    if dir.exists() {
        super::mailbox::remove_tree(&dir)?;
    }
    Ok(removed)
}
