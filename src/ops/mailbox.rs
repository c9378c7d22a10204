//! Mailbox list operations: create, list, delete, rename. Each change holds the
//! list-change lock for its whole run, and the locks of the mailboxes it moves or
//! removes (the lock order of `schema/locking.md`).
//!
//! Parents are created on demand (RFC 3501 6.3.3 lets a server create the superior
//! names a CREATE needs); a user's INBOX comes with the user and goes with them.
//! Disk changes come first and the list commit last, so a crash in between leaves a
//! directory the list does not know, which `reconstruct -m` adds back.

use super::{list_changes_waiting, lock_all};
use crate::db::mailboxes::{self, Entry, ListTxn};
use crate::db::{self};
use crate::error::{Error, Result};
use crate::index::Index;
use crate::index::record::{Header, Identity};
use crate::store::Store;
use crate::store::fsutil::{name_taken, rename_noreplace, sync_dir};
use crate::store::lock::Wait;
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
        store.check_path_len(n)?;
        if t.get(&shown)?.is_some() {
            if n == name {
                return Err(Error::MailboxExists(shown));
            }
            continue;
        }
        let dir = store.mailbox_dir(n);
        if name_taken(&dir) && !store.has_mailbox_dir(n) {
            return Err(Error::Mailbox {
                mailbox: shown,
                what: format!(
                    "{} exists but is not a mailbox directory (a file or a symlink); move it away first",
                    dir.display()
                ),
            });
        }
        if name_taken(&dir.join(crate::store::INDEX_FILE)) {
            return Err(Error::Mailbox {
                mailbox: shown,
                what: "its directory exists but the mailbox list does not know it; run `msgstore reconstruct -m` to add it back".into(),
            });
        }
        std::fs::create_dir_all(&dir)
            .map_err(|e| Error::io(&dir, "create mailbox directory", e))?;
        crate::faults::point("mailbox-create-after-mkdir");
        let id = t.next_id()?;
        let uidvalidity = t.new_uidvalidity()?;
        let identity = Identity {
            mailbox_id: id,
            uidvalidity,
        };
        Index::create(&store.index_path(n), Header::new(identity, 1, 1))?;
        if let Some(parent) = dir.parent() {
            sync_dir(parent)?;
        }
        let e = Entry::new(n, id, uidvalidity, crate::store::time::now_unix());
        t.put(&e)?;
        made.push(e);
    }
    Ok(made)
}

pub fn create(store: &Store, name: &str) -> Result<Vec<Entry>> {
    create_with(store, name, 0, Wait::default_for_writers())
}

/// Creates `name` with SPECIAL-USE bits (`mailboxes::SPECIAL_USE`), waiting `wait`
/// for the list-change lock.
pub fn create_with(store: &Store, name: &str, special_use: u32, wait: Wait) -> Result<Vec<Entry>> {
    let name = MailboxName::parse(name)?;
    if let Some(owner) = name.owner()
        && !db::users::exists(store, owner)?
    {
        return Err(Error::UnknownUser(owner.to_owned()));
    }
    let _list = list_changes_waiting(store, wait)?;
    mailboxes::change(store, |t| {
        let mut made = create_in(t, store, &name)?;
        if special_use != 0
            && let Some(last) = made.last_mut()
        {
            last.special_use = special_use;
            t.put(last)?;
        }
        Ok(made)
    })
}

/// The mailboxes, all or those at and below `under` (a hierarchy, not text:
/// `joe` lists joe's INBOX and folders, not `joel`'s).
pub fn list(store: &Store, under: Option<&str>) -> Result<Vec<Entry>> {
    let under = under.map(MailboxName::parse).transpose()?;
    mailboxes::list(store, under.as_ref())
}

pub fn delete(store: &Store, name: &str) -> Result<Entry> {
    delete_with(store, name, Wait::default_for_writers())
}

/// [`delete`], waiting `wait` for the list-change lock.
pub fn delete_with(store: &Store, name: &str, wait: Wait) -> Result<Entry> {
    let name = MailboxName::parse(name)?;
    if name.is_inbox() {
        return Err(Error::Usage(format!(
            "{name}: a user's INBOX goes with the user; use `msgstore user delete {}`",
            name.owner().unwrap_or_default()
        )));
    }
    let _list = list_changes_waiting(store, wait)?;
    if !store.has_mailbox_dir(&name) {
        return Err(super::unknown_mailbox(store, &name));
    }
    let dir = store.mailbox_dir(&name);
    let shown = name.to_string();
    let entry = mailboxes::change(store, |t| {
        let sub = t.subtree(&name)?;
        if sub.len() > 1 || has_child_dirs(&dir)? {
            return Err(Error::Usage(format!(
                "{shown}: has child mailboxes; delete them first"
            )));
        }
        t.get(&shown)?
            .ok_or_else(|| Error::unknown_mailbox(shown.clone()))
    })?;
    let _locks = lock_all(store, std::slice::from_ref(&name))?;
    mailboxes::change(store, |t| t.remove(&shown).map(drop))?;
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
            && item.file_type().is_ok_and(|t| t.is_dir())
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
    remove_tree_ticking(dir, &|_| {})
}

/// [`remove_tree`], calling `tick` once a file removed.
pub(crate) fn remove_tree_ticking(dir: &Path, tick: &dyn Fn(u64)) -> Result<()> {
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
    rename_noreplace(dir, &trash).map_err(|e| Error::io(dir, "move mailbox directory aside", e))?;
    sync_dir(parent)?;
    crate::store::fsutil::remove_dir_tree_ticking(&trash, tick)?;
    sync_dir(parent)
}

#[derive(Debug, serde::Serialize)]
pub struct Renamed {
    pub from: String,
    pub to: String,
}

pub fn rename(store: &Store, old: &str, new: &str) -> Result<Vec<Renamed>> {
    rename_with(store, old, new, Wait::default_for_writers())
}

/// [`rename`], waiting `wait` for the list-change lock.
pub fn rename_with(store: &Store, old: &str, new: &str, wait: Wait) -> Result<Vec<Renamed>> {
    let old = MailboxName::parse(old)?;
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
        && !db::users::exists(store, owner)?
    {
        return Err(Error::UnknownUser(owner.to_owned()));
    }
    let _list = list_changes_waiting(store, wait)?;
    if !store.has_mailbox_dir(&old) {
        return Err(super::unknown_mailbox(store, &old));
    }
    let old_dir = store.mailbox_dir(&old);
    let new_dir = store.mailbox_dir(&new);
    let subtree = mailboxes::change(store, |t| {
        if t.get(&new.to_string())?.is_some() || name_taken(&new_dir) {
            return Err(Error::MailboxExists(new.to_string()));
        }
        let sub = t.subtree(&old)?;
        if sub.is_empty() {
            return Err(Error::unknown_mailbox(old.to_string()));
        }
        Ok(sub)
    })?;
    let names: Vec<MailboxName> = subtree
        .iter()
        .filter_map(|e| MailboxName::parse(&e.name).ok())
        .collect();
    for n in &names {
        if let Some(to) = n.rebase(&old, &new) {
            MailboxName::parse(&to.to_string())?;
            store.check_path_len(&to)?;
        }
    }
    let _locks = lock_all(store, &names)?;
    mailboxes::change(store, |t| {
        // Parents of the new name first, then the move on disk, then the entries.
        if let Some(parent) = new.parent()
            && t.get(&parent.to_string())?.is_none()
        {
            create_in(t, store, &parent)?;
        }
        rename_noreplace(&old_dir, &new_dir)
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
}

/// Sets a mailbox's SPECIAL-USE bits (`mailboxes::SPECIAL_USE`).
pub fn set_special_use(store: &Store, name: &str, special_use: u32) -> Result<Entry> {
    let name = MailboxName::parse(name)?;
    let shown = name.to_string();
    mailboxes::change(store, |t| {
        let mut e = t
            .get(&shown)?
            .ok_or_else(|| Error::unknown_mailbox(shown.clone()))?;
        e.special_use = special_use;
        t.put(&e)?;
        Ok(e)
    })
}
