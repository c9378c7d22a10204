//! Mailbox list operations: create, list, delete, rename.
//!
//! Parents are created on demand (RFC 3501 6.3.3 lets a server create the superior
//! names a CREATE needs); a user's INBOX comes with the user and goes with them.
//! Disk changes come first and the list commit last, so a crash in between leaves a
//! directory the list does not know, which `reconstruct -m` adds back.

use super::{existing_mailbox, lock_list, lock_mailbox};
use crate::db::mailboxes::{self, Entry, ListTxn};
use crate::db::{self, Which};
use crate::error::{Error, Result};
use crate::index::{Index, new_header};
use crate::store::Store;
use crate::store::fsutil::{remove_dir_tree, sync_dir};
use crate::store::lock::{Lock, Mode, Wait};
use crate::store::names::{MailboxName, Root};
use std::path::Path;

/// Creates `name` (and missing parents) inside an open list transaction. Returns the
/// entries made, parents first.
pub(crate) fn create_in(
    t: &mut ListTxn<'_>,
    store: &Store,
    name: &MailboxName,
) -> Result<Vec<Entry>> {
    let mut chain = vec![name.clone()];
    while let Some(p) = chain.last().and_then(MailboxName::parent) {
        chain.push(p);
    }
    chain.reverse();
    let mut made = Vec::new();
    for n in &chain {
        let shown = n.to_string();
        if t.get(&shown)?.is_some() {
            if n == name {
                return Err(Error::MailboxExists(shown));
            }
            continue;
        }
        let dir = store.mailbox_dir(n);
        if std::fs::symlink_metadata(&dir).is_ok() && !store.has_mailbox_dir(n) {
            return Err(Error::Mailbox {
                mailbox: shown,
                what: format!(
                    "{} exists but is not a mailbox directory (a file or a symlink); move it away first",
                    dir.display()
                ),
            });
        }
        if dir.join(crate::store::INDEX_FILE).exists() {
            return Err(Error::Mailbox {
                mailbox: shown,
                what: "its directory exists but the mailbox list does not know it; run `msgstore reconstruct -m` to add it back".into(),
            });
        }
        std::fs::create_dir_all(&dir)
            .map_err(|e| Error::io(&dir, "create mailbox directory", e))?;
        crate::faults::point("mailbox-create-after-mkdir");
        let uidvalidity = t.new_uidvalidity()?;
        Index::create(&store.index_path(n), new_header(uidvalidity, 1, 0))?;
        if let Some(parent) = dir.parent() {
            sync_dir(parent)?;
        }
        let e = Entry {
            name: shown,
            id: t.next_id()?,
            owner: n.owner().map(str::to_owned),
            uidvalidity,
            uidnext: 1,
            created: db::now_unix(),
        };
        t.put(&e)?;
        made.push(e);
    }
    Ok(made)
}

pub fn create(store: &Store, name: &str) -> Result<Vec<Entry>> {
    let name = MailboxName::parse(name)?;
    if let Some(owner) = name.owner()
        && !db::users::exists(&store.users_db(), owner)?
    {
        return Err(Error::UnknownUser(owner.to_owned()));
    }
    let _list = lock_list(store, Mode::Exclusive)?;
    let path = store.mailboxes_db();
    let dbh = db::open_rw(&path, Which::Mailboxes)?;
    mailboxes::write(&dbh, &path, |t| create_in(t, store, &name))
}

pub fn list(store: &Store, prefix: Option<&str>) -> Result<Vec<Entry>> {
    let _list = lock_list(store, Mode::Shared)?;
    // A prefix is a name prefix as the user types it: `joe` lists joe's mailboxes.
    let prefix = prefix.map(|p| match MailboxName::parse(p) {
        Ok(n) => n.to_string(),
        Err(_) => p.to_owned(),
    });
    mailboxes::list(&store.mailboxes_db(), prefix.as_deref())
}

/// Exclusive locks on every mailbox of a subtree, so nobody has one open while it
/// moves or goes away.
fn lock_all(store: &Store, entries: &[Entry]) -> Result<Vec<Lock>> {
    let mut locks = Vec::new();
    for e in entries {
        let n = MailboxName::parse(&e.name)?;
        if store.has_mailbox_dir(&n) {
            locks.extend(lock_mailbox(store, &n, Mode::Exclusive, Wait::No, true)?);
        }
    }
    Ok(locks)
}

pub fn delete(store: &Store, name: &str) -> Result<Entry> {
    let (name, dir) = existing_mailbox(store, name)?;
    if name.is_inbox() {
        return Err(Error::Usage(format!(
            "{name}: a user's INBOX goes with the user; use `msgstore user delete {}`",
            name.owner().unwrap_or_default()
        )));
    }
    let _list = lock_list(store, Mode::Exclusive)?;
    let path = store.mailboxes_db();
    let dbh = db::open_rw(&path, Which::Mailboxes)?;
    let shown = name.to_string();
    let entry = mailboxes::write(&dbh, &path, |t| {
        let sub = t.subtree(&name)?;
        if sub.len() > 1 || has_child_dirs(&dir)? {
            return Err(Error::Usage(format!(
                "{shown}: has child mailboxes; delete them first"
            )));
        }
        let e = t
            .get(&shown)?
            .ok_or_else(|| Error::UnknownMailbox(shown.clone()))?;
        Ok(e)
    })?;
    let _lock = lock_mailbox(store, &name, Mode::Exclusive, Wait::No, true)?;
    mailboxes::write(&dbh, &path, |t| t.remove(&shown).map(drop))?;
    crate::faults::point("mailbox-delete-after-list");
    remove_tree(&dir)?;
    Ok(entry)
}

fn has_child_dirs(dir: &Path) -> Result<bool> {
    let rd = std::fs::read_dir(dir).map_err(|e| Error::io(dir, "read directory", e))?;
    for item in rd {
        let item = item.map_err(|e| Error::io(dir, "read directory", e))?;
        if let Some(n) = item.file_name().to_str()
            && matches!(crate::store::classify(n), crate::store::Entry::Folder(_))
            && item.path().is_dir()
        {
            return Ok(true);
        }
    }
    Ok(false)
}

/// Removes a mailbox directory tree (its list entries are already gone). Renamed
/// aside first: removed in place, a crash could leave some messages and no index,
/// and `reconstruct -m` would bring the mailbox back with a new UIDVALIDITY.
pub(crate) fn remove_tree(dir: &Path) -> Result<()> {
    let parent = dir.parent().ok_or_else(|| {
        Error::io(
            dir,
            "remove mailbox directory",
            std::io::ErrorKind::InvalidInput.into(),
        )
    })?;
    let stamp = std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .map_or(0, |d| d.as_nanos());
    let trash = parent.join(format!(
        "{}{}.{stamp}",
        crate::store::TRASH_PREFIX,
        std::process::id()
    ));
    std::fs::rename(dir, &trash).map_err(|e| Error::io(dir, "move mailbox directory aside", e))?;
    sync_dir(parent)?;
    remove_dir_tree(&trash)?;
    sync_dir(parent)
}

#[derive(Debug, serde::Serialize)]
pub struct Renamed {
    pub from: String,
    pub to: String,
}

pub fn rename(store: &Store, old: &str, new: &str) -> Result<Vec<Renamed>> {
    let (old, old_dir) = existing_mailbox(store, old)?;
    let new = MailboxName::parse(new)?;
    if old.is_inbox() {
        return Err(Error::Usage(format!(
            "{old}: a user's INBOX cannot be renamed"
        )));
    }
    if new.is_within(&old) {
        return Err(Error::Usage(format!(
            "{new}: cannot move a mailbox below itself"
        )));
    }
    if new.root() == Root::Users && new.is_inbox() {
        return Err(Error::Usage(format!(
            "{new}: that name is a user's INBOX; choose a folder name"
        )));
    }
    if let Some(owner) = new.owner()
        && !db::users::exists(&store.users_db(), owner)?
    {
        return Err(Error::UnknownUser(owner.to_owned()));
    }
    let new_dir = store.mailbox_dir(&new);
    let _list = lock_list(store, Mode::Exclusive)?;
    let path = store.mailboxes_db();
    let dbh = db::open_rw(&path, Which::Mailboxes)?;
    let subtree = mailboxes::write(&dbh, &path, |t| {
        if t.get(&new.to_string())?.is_some() || new_dir.exists() {
            return Err(Error::MailboxExists(new.to_string()));
        }
        let sub = t.subtree(&old)?;
        if sub.is_empty() {
            return Err(Error::UnknownMailbox(old.to_string()));
        }
        Ok(sub)
    })?;
    let locks = lock_all(store, &subtree)?;
    mailboxes::write(&dbh, &path, |t| {
        // Parents of the new name first, then the move on disk, then the entries.
        if let Some(parent) = new.parent()
            && t.get(&parent.to_string())?.is_none()
        {
            create_in(t, store, &parent)?;
        }
        std::fs::rename(&old_dir, &new_dir)
            .map_err(|e| Error::io(&old_dir, "rename mailbox directory", e))?;
        for d in [old_dir.parent(), new_dir.parent()].into_iter().flatten() {
            sync_dir(d)?;
        }
        crate::faults::point("mailbox-rename-after-move");
        let mut out = Vec::new();
        for e in &subtree {
            let from = MailboxName::parse(&e.name)?;
            let Some(to) = from.rebase(&old, &new) else {
                continue;
            };
            t.remove(&e.name)?;
            let moved = Entry {
                name: to.to_string(),
                owner: to.owner().map(str::to_owned),
                ..e.clone()
            };
            t.put(&moved)?;
            out.push(Renamed {
                from: e.name.clone(),
                to: moved.name,
            });
        }
        Ok(out)
    })
    .inspect(|_| drop(locks))
}
