//! The store directory: where everything lives, and the file-level primitives
//! (locks, durable renames) the operations are built from.
//!
//! ```text
//! STORE/users.redb  mailboxes.redb  users/<joe>/<stuff>/...  public/<news>/...
//! ```
//! In a mailbox directory: `<uid>.` message files, `<uid>.BAD` set-aside files,
//! `msgstore.index` (index and cache), `msgstore.lock`, `msgstore.tmp.*` (deliveries
//! in progress) and one encoded directory per child folder.

pub mod aside;
pub mod fsutil;
pub mod lock;
pub mod names;
pub mod time;

use crate::error::{Error, Result};
use names::{MailboxName, Root};
use std::path::{Path, PathBuf};

pub const USERS_DB: &str = "users.redb";
pub const MAILBOXES_DB: &str = "mailboxes.redb";
pub const USERS_DIR: &str = "users";
pub const PUBLIC_DIR: &str = "public";
pub const INDEX_FILE: &str = "msgstore.index";
pub const LOCK_FILE: &str = "msgstore.lock";
pub const TMP_PREFIX: &str = "msgstore.tmp.";
/// A mailbox directory being deleted is first renamed to this prefix (which no
/// encoded mailbox name can have: those never contain a dot), so that a crash
/// leaves either the whole mailbox, index included, or a directory no walker
/// takes for one; `reconstruct -m` removes what is left of it.
pub const TRASH_PREFIX: &str = "msgstore.tmp.deleted.";
pub const BAD_SUFFIX: &str = "BAD";
/// A damaged file moved aside by `reconstruct` is named: its name, this, the UTC
/// time as `YYYYMMDDTHHMMSSZ` (`msgstore.index.corrupt-20261128T101500Z`), and
/// `.2`, `.3`, ... if that name is taken.
pub const SET_ASIDE_INFIX: &str = ".corrupt-";
/// Version of the directory layout and naming (`schema/spool.md`). Not written
/// anywhere: a store is recognised by its `users/` and `public/` directories.
pub const SPOOL_VERSION: u32 = 2;
/// Default store location when neither `--store` nor `MSGSTORE_ROOT` is given.
pub const DEFAULT_ROOT: &str = "/var/lib/msgstore";

#[derive(Clone, Debug)]
pub struct Store {
    root: PathBuf,
}

/// What a file in a mailbox directory is, by its name alone.
#[derive(Debug, PartialEq, Eq)]
pub enum Entry {
    Message(u32),
    Bad(u32),
    Index,
    Lock,
    Temp,
    /// The index moved aside by reconstruct (kept for the administrator).
    SetAside,
    /// A child folder's directory (decoded name).
    Folder(String),
    Unknown,
}

impl Store {
    /// A store that must already exist.
    pub fn open(root: impl Into<PathBuf>) -> Result<Store> {
        let root = root.into();
        // users/ and public/ identify a store even when a database is lost: the
        // rebuild commands must still find it.
        let real_dir = |p: &Path| std::fs::symlink_metadata(p).is_ok_and(|m| m.is_dir());
        if !real_dir(&root.join(USERS_DIR)) || !real_dir(&root.join(PUBLIC_DIR)) {
            let nonempty = std::fs::read_dir(&root).is_ok_and(|mut d| d.next().is_some());
            return Err(Error::NotAStore {
                path: root,
                nonempty,
            });
        }
        Ok(Store { root })
    }

    /// A store about to be created by `init`.
    pub fn at(root: impl Into<PathBuf>) -> Store {
        Store { root: root.into() }
    }

    pub fn root(&self) -> &Path {
        &self.root
    }

    pub fn users_db(&self) -> PathBuf {
        self.root.join(USERS_DB)
    }

    pub fn mailboxes_db(&self) -> PathBuf {
        self.root.join(MAILBOXES_DB)
    }

    pub fn root_dir(&self, root: Root) -> PathBuf {
        self.root.join(match root {
            Root::Users => USERS_DIR,
            Root::Public => PUBLIC_DIR,
        })
    }

    pub fn mailbox_dir(&self, name: &MailboxName) -> PathBuf {
        let mut p = self.root_dir(name.root());
        for part in name.encoded_parts() {
            p.push(part);
        }
        p
    }

    /// Whether the mailbox's directory exists as a real directory at every level.
    /// A symlink anywhere on the way (which could lead out of the store) is not a
    /// mailbox: no command follows one.
    pub fn has_mailbox_dir(&self, name: &MailboxName) -> bool {
        let mut p = self.root_dir(name.root());
        for part in name.encoded_parts() {
            p.push(part);
            match std::fs::symlink_metadata(&p) {
                Ok(m) if m.file_type().is_dir() => {}
                _ => return false,
            }
        }
        true
    }

    /// Refuses a mailbox whose files' paths, in this store, would exceed PATH_MAX.
    pub fn check_path_len(&self, name: &MailboxName) -> Result<()> {
        let len = self.mailbox_dir(name).as_os_str().len() + 48;
        if len > 4095 {
            return Err(Error::Usage(format!(
                "{name}: its files' paths would be {len} bytes long in this store, more than PATH_MAX (4096); use shorter names"
            )));
        }
        Ok(())
    }

    pub fn index_path(&self, name: &MailboxName) -> PathBuf {
        self.mailbox_dir(name).join(INDEX_FILE)
    }
}

pub fn message_file_name(uid: u32) -> String {
    format!("{uid}.")
}

/// Classifies a directory entry of a mailbox directory by name.
pub fn classify(name: &str) -> Entry {
    if let Some(digits) = name.strip_suffix('.')
        && let Some(uid) = parse_uid(digits)
    {
        return Entry::Message(uid);
    }
    if let Some(uid) = bad_uid(name) {
        return Entry::Bad(uid);
    }
    match name {
        INDEX_FILE => return Entry::Index,
        LOCK_FILE => return Entry::Lock,
        _ => {}
    }
    if name.starts_with(TMP_PREFIX) {
        return Entry::Temp;
    }
    if name.starts_with(INDEX_FILE) && name.len() > INDEX_FILE.len() {
        return Entry::SetAside;
    }
    match names::decode(name) {
        Some(folder) => Entry::Folder(folder),
        None => Entry::Unknown,
    }
}

/// `<uid>.BAD`, or `<uid>.BAD.<n>` when a set-aside name was taken already.
fn bad_uid(name: &str) -> Option<u32> {
    let (digits, rest) = name.split_once('.')?;
    let uid = parse_uid(digits)?;
    let n = rest.strip_prefix(BAD_SUFFIX)?;
    match n.strip_prefix('.') {
        None if n.is_empty() => Some(uid),
        Some(k) if parse_uid(k).is_some() => Some(uid),
        _ => None,
    }
}

fn parse_uid(digits: &str) -> Option<u32> {
    if digits.is_empty() || !digits.bytes().all(|b| b.is_ascii_digit()) || digits.starts_with('0') {
        return None;
    }
    digits.parse().ok().filter(|&u: &u32| u > 0)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn classifies_every_kind_of_entry() {
        assert_eq!(classify("7."), Entry::Message(7));
        assert_eq!(classify("7.BAD"), Entry::Bad(7));
        assert_eq!(classify("7.BAD.2"), Entry::Bad(7));
        assert_eq!(classify("7.BADX"), Entry::Unknown);
        assert_eq!(classify("7.BAD.0"), Entry::Unknown);
        assert_eq!(classify("07."), Entry::Unknown);
        assert_eq!(classify("0."), Entry::Unknown);
        assert_eq!(classify("99999999999."), Entry::Unknown);
        assert_eq!(classify("msgstore.index"), Entry::Index);
        assert_eq!(
            classify("msgstore.index.corrupt-20261128T101500Z"),
            Entry::SetAside
        );
        assert_eq!(classify("msgstore.tmp.7.1234"), Entry::Temp);
        assert_eq!(classify("msgstore.lock"), Entry::Lock);
        assert_eq!(classify("my stuff"), Entry::Folder("my stuff".into()));
        assert_eq!(classify("5%2E"), Entry::Folder("5.".into()));
        assert_eq!(classify("notes.txt"), Entry::Unknown);
    }
}
