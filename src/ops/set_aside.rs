//! The files repairs set aside (`<uid>.BAD`, `<file>.corrupt-<UTC time>`, see
//! `store::aside`): listed, and removed once they are older than an age the
//! administrator gives. Repairs keep them because they may hold what somebody
//! needs; nothing but this removes them, and it removes nothing else.
//!
//! A file's age is the time in its name; a `<uid>.BAD` has none, and its age is
//! its inode's change time, which the rename to `.BAD` set. Removal holds the
//! lock of the directory it removes from: the mailbox's exclusive lock in a
//! mailbox directory, the list-change lock in the store directory (which the
//! rebuilds of the databases hold while they set files aside there).

use crate::error::{Error, Result};
use crate::store::Store;
use crate::store::aside::{self, Kind};
use crate::store::lock::{self, Mode, Wait};
use crate::store::names::{MailboxName, Root};
use serde::Serialize;
use std::os::unix::fs::MetadataExt;
use std::path::{Path, PathBuf};

/// One set-aside file.
#[derive(Clone, Debug, Serialize)]
pub struct Item {
    /// Its path below the store directory.
    pub path: String,
    /// The mailbox whose directory holds it; `None` in the store directory.
    pub mailbox: Option<String>,
    pub kind: Kind,
    /// What it is on disk: `file`, or what is there instead (`a directory`, ...).
    pub file_type: &'static str,
    pub bytes: u64,
    /// When it was set aside (RFC 3339, UTC).
    pub set_aside_at: String,
    pub age_seconds: u64,
    #[serde(skip)]
    full: PathBuf,
    #[serde(skip)]
    is_dir: bool,
}

/// What [`list`] found.
#[derive(Debug, Default, Serialize)]
pub struct Listing {
    pub set_aside: Vec<Item>,
    pub total: Total,
    /// Directories that could not be read (the listing is incomplete).
    pub problems: Vec<String>,
}

#[derive(Debug, Default, Serialize)]
pub struct Total {
    pub files: usize,
    pub bytes: u64,
}

/// What [`remove`] did.
#[derive(Debug, Default, Serialize)]
pub struct Removal {
    pub dry_run: bool,
    pub older_than_seconds: u64,
    /// Removed (or, in a dry run, would be).
    pub removed: Vec<Item>,
    /// Set-aside files younger than the age, left alone.
    pub kept: usize,
    /// Files that were not removed, with why.
    pub failed: Vec<Failure>,
    /// Mailboxes (or the store directory) whose lock was held by somebody else.
    pub busy: Vec<String>,
    pub total: Total,
    pub problems: Vec<String>,
}

#[derive(Debug, Serialize)]
pub struct Failure {
    pub path: String,
    pub why: String,
}

impl Removal {
    /// Whether something asked for was not done.
    pub fn incomplete(&self) -> bool {
        !self.failed.is_empty() || !self.busy.is_empty() || !self.problems.is_empty()
    }
}

/// Every set-aside file in the mailboxes `names` and every mailbox below them;
/// with no name, in the whole store (its directory and every mailbox directory in
/// the tree, listed or not: the databases may be what was damaged).
pub fn list(store: &Store, names: &[String]) -> Result<Listing> {
    let mut out = Listing::default();
    let now = crate::store::time::now_unix();
    if names.is_empty() {
        scan_dir(store, store.root(), None, now, &mut out);
        for root in [Root::Users, Root::Public] {
            let dir = store.root_dir(root);
            for (name, dir) in children(&dir, root, &[], &mut out.problems) {
                walk(store, &name, &dir, now, &mut out);
            }
        }
    } else {
        let mut seen = std::collections::BTreeSet::new();
        for n in names {
            let name = MailboxName::parse(n)?;
            if !store.has_mailbox_dir(&name) {
                return Err(super::unknown_mailbox(store, &name));
            }
            // `joe joe/stuff`: joe's walk has stuff already.
            if seen.iter().any(|s: &MailboxName| name.is_within(s)) {
                continue;
            }
            seen.retain(|s: &MailboxName| !s.is_within(&name));
            seen.insert(name);
        }
        for name in &seen {
            walk(store, name, &store.mailbox_dir(name), now, &mut out);
        }
    }
    out.set_aside.sort_by(|a, b| a.path.cmp(&b.path));
    out.total = Total {
        files: out.set_aside.len(),
        bytes: out.set_aside.iter().map(|i| i.bytes).sum(),
    };
    Ok(out)
}

/// Removes the set-aside files of [`list`] that were set aside at least
/// `older_than` seconds ago (a dry run says which it would remove). `wait` is how
/// long to wait for a lock somebody else holds (writers wait
/// [`Wait::default_for_writers`]).
pub fn remove(
    store: &Store,
    names: &[String],
    older_than: u64,
    dry_run: bool,
    wait: Wait,
) -> Result<Removal> {
    let listing = list(store, names)?;
    let mut out = Removal {
        dry_run,
        older_than_seconds: older_than,
        problems: listing.problems,
        ..Removal::default()
    };
    // Grouped by directory, each removed under that directory's lock.
    let mut groups: std::collections::BTreeMap<PathBuf, Vec<Item>> = Default::default();
    for item in listing.set_aside {
        if item.age_seconds < older_than {
            out.kept += 1;
            continue;
        }
        let dir = item
            .full
            .parent()
            .map(Path::to_path_buf)
            .unwrap_or_default();
        groups.entry(dir).or_default().push(item);
    }
    for (dir, items) in groups {
        let mailbox = items.first().and_then(|i| i.mailbox.clone());
        if dry_run {
            out.removed.extend(items);
            continue;
        }
        let held = match &mailbox {
            Some(_) => lock::mailbox(&dir, Mode::Exclusive, wait, true),
            None => lock::list_changes(&dir, wait).map(Some),
        };
        let _lock = match held {
            Ok(l) => l,
            Err(lock::LockError::Busy) => {
                out.busy.push(match &mailbox {
                    Some(m) => m.clone(),
                    None => "the store directory (the mailbox list or the user database is being changed or rebuilt)".into(),
                });
                continue;
            }
            Err(lock::LockError::Io(p, e)) => {
                for i in items {
                    out.failed.push(Failure {
                        path: i.path,
                        why: format!(
                            "cannot lock {}: {e}; it must be a regular file you can write",
                            p.display()
                        ),
                    });
                }
                continue;
            }
        };
        let mut changed = false;
        for i in items {
            if i.is_dir {
                out.failed.push(Failure {
                    why: format!(
                        "a directory, not removed: look inside, then remove it by hand (rm -r {})",
                        i.full.display()
                    ),
                    path: i.path,
                });
                continue;
            }
            // unlink(2) removes a symbolic link itself, never what it points to.
            match std::fs::remove_file(&i.full) {
                Ok(()) => {
                    changed = true;
                    out.removed.push(i);
                }
                // Removed meanwhile by somebody else: nothing left to do.
                Err(e) if e.kind() == std::io::ErrorKind::NotFound => {}
                Err(e) => out.failed.push(Failure {
                    why: format!("cannot remove it: {e}; check its directory's permissions"),
                    path: i.path,
                }),
            }
        }
        if changed && let Err(e) = crate::store::fsutil::sync_dir(&dir) {
            out.problems.push(e.to_string());
        }
    }
    out.removed.sort_by(|a, b| a.path.cmp(&b.path));
    out.total = Total {
        files: out.removed.len(),
        bytes: out.removed.iter().map(|i| i.bytes).sum(),
    };
    Ok(out)
}

/// The mailbox `name` in `dir`, and every mailbox below it.
fn walk(store: &Store, name: &MailboxName, dir: &Path, now: i64, out: &mut Listing) {
    scan_dir(store, dir, Some(name), now, out);
    for (child, d) in children(dir, name.root(), name.parts(), &mut out.problems) {
        walk(store, &child, &d, now, out);
    }
}

/// The child mailboxes' directories in `dir` (real directories whose names are
/// encodings of a name; links are never followed).
fn children(
    dir: &Path,
    root: Root,
    parts: &[String],
    problems: &mut Vec<String>,
) -> Vec<(MailboxName, PathBuf)> {
    let mut out = Vec::new();
    let rd = match std::fs::read_dir(dir) {
        Ok(rd) => rd,
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => return out,
        Err(e) => {
            problems.push(Error::io(dir, "read directory", e).to_string());
            return out;
        }
    };
    for e in rd.flatten() {
        if !e.file_type().is_ok_and(|t| t.is_dir()) {
            continue;
        }
        let Some(raw) = e.file_name().to_str().map(str::to_owned) else {
            continue;
        };
        let Some(level) = crate::store::names::decode(&raw) else {
            continue;
        };
        let mut p = parts.to_vec();
        p.push(level);
        if let Ok(name) = MailboxName::from_parts(root, p) {
            out.push((name, e.path()));
        }
    }
    out
}

/// The set-aside files in one directory: a mailbox's, or the store's (`None`).
fn scan_dir(store: &Store, dir: &Path, mailbox: Option<&MailboxName>, now: i64, out: &mut Listing) {
    let rd = match std::fs::read_dir(dir) {
        Ok(rd) => rd,
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => return,
        Err(e) => {
            out.problems
                .push(Error::io(dir, "read directory", e).to_string());
            return;
        }
    };
    for e in rd.flatten() {
        let Some(name) = e.file_name().to_str().map(str::to_owned) else {
            continue;
        };
        let found = match mailbox {
            Some(_) => aside::in_mailbox(&name),
            None => aside::in_store(&name),
        };
        let Some(found) = found else { continue };
        let full = e.path();
        // Not followed: a link is listed as the link it is.
        let Ok(meta) = std::fs::symlink_metadata(&full) else {
            continue;
        };
        let at = found.at.unwrap_or_else(|| meta.ctime());
        let ft = meta.file_type();
        out.set_aside.push(Item {
            path: full
                .strip_prefix(store.root())
                .unwrap_or(&full)
                .to_string_lossy()
                .into_owned(),
            mailbox: mailbox.map(ToString::to_string),
            kind: found.kind,
            file_type: if ft.is_file() {
                "file"
            } else {
                crate::store::fsutil::describe(ft)
            },
            bytes: if ft.is_file() { meta.len() } else { 0 },
            set_aside_at: crate::store::time::rfc3339(at),
            age_seconds: now.saturating_sub(at).max(0) as u64,
            is_dir: ft.is_dir(),
            full,
        });
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn store() -> (tempfile::TempDir, Store) {
        let d = tempfile::tempdir().unwrap();
        let s = Store::at(d.path().join("s"));
        crate::ops::init(&s).unwrap();
        crate::ops::user::add(&s, &["joe".to_string()]).unwrap();
        crate::ops::mailbox::create(&s, "joe/stuff").unwrap();
        let s = Store::open(d.path().join("s")).unwrap();
        (d, s)
    }

    #[test]
    fn lists_and_removes_only_set_aside_names_by_age() {
        let (_d, s) = store();
        let joe = s.root().join("users/joe");
        let stuff = joe.join("stuff");
        let old = "msgstore.index.corrupt-20200101T000000Z";
        std::fs::write(joe.join(old), "old index").unwrap();
        std::fs::write(stuff.join("3.BAD"), "a\0b").unwrap();
        std::fs::write(s.root().join("users.redb.corrupt-20200101T000000Z"), "db").unwrap();
        // Look-alikes are never listed nor removed.
        for keep in ["msgstore.index.corrupt-soon", "notes.BAD", "7."] {
            std::fs::write(joe.join(keep), "x").unwrap();
        }
        std::fs::write(
            s.root().join("msgstore.index.corrupt-20200101T000000Z"),
            "x",
        )
        .unwrap();

        let l = list(&s, &[]).unwrap();
        let paths: Vec<&str> = l.set_aside.iter().map(|i| i.path.as_str()).collect();
        assert_eq!(
            paths,
            [
                "users.redb.corrupt-20200101T000000Z",
                "users/joe/msgstore.index.corrupt-20200101T000000Z",
                "users/joe/stuff/3.BAD",
            ]
        );
        assert_eq!(l.set_aside[1].mailbox.as_deref(), Some("Other Users/joe"));
        assert_eq!(l.set_aside[0].mailbox, None);
        assert_eq!(l.set_aside[2].kind, Kind::Message);
        assert!(
            l.set_aside[2].age_seconds < 60,
            "a .BAD's age is its ctime's"
        );
        assert_eq!(l.total.bytes, 2 + 9 + 3);

        // A mailbox and those below it only.
        let l = list(&s, &["joe/stuff".into()]).unwrap();
        assert_eq!(l.set_aside.len(), 1);
        assert!(list(&s, &["ann".into()]).is_err());

        // Older than 30 days: the two stamped in 2020; a dry run removes nothing.
        let r = remove(&s, &[], 30 * 86_400, true, Wait::No).unwrap();
        assert_eq!((r.removed.len(), r.kept), (2, 1));
        assert!(joe.join(old).exists());
        let r = remove(&s, &[], 30 * 86_400, false, Wait::No).unwrap();
        assert_eq!((r.removed.len(), r.kept), (2, 1));
        assert!(!joe.join(old).exists());
        assert!(stuff.join("3.BAD").exists());
        for keep in ["msgstore.index.corrupt-soon", "notes.BAD", "7."] {
            assert!(joe.join(keep).exists(), "{keep}");
        }
        assert!(
            s.root()
                .join("msgstore.index.corrupt-20200101T000000Z")
                .exists()
        );
        let r = remove(&s, &["joe".into()], 0, false, Wait::No).unwrap();
        assert_eq!(r.removed.len(), 1);
        assert!(!stuff.join("3.BAD").exists());
    }

    #[test]
    fn a_directory_or_a_busy_mailbox_is_left_and_said() {
        let (_d, s) = store();
        let joe = s.root().join("users/joe");
        std::fs::create_dir(joe.join("msgstore.index.corrupt-20200101T000000Z")).unwrap();
        let r = remove(&s, &[], 0, false, Wait::No).unwrap();
        assert_eq!(r.failed.len(), 1, "{r:?}");
        assert!(r.failed[0].why.contains("a directory"), "{r:?}");
        assert!(r.incomplete());

        std::fs::write(joe.join("stuff/1.BAD"), "x").unwrap();
        let held = lock::mailbox(&joe.join("stuff"), Mode::Shared, Wait::No, true).unwrap();
        let r = remove(&s, &["joe/stuff".into()], 0, false, Wait::No).unwrap();
        assert_eq!(r.busy, ["Other Users/joe/stuff"]);
        assert!(joe.join("stuff/1.BAD").exists());
        drop(held);
    }
}
