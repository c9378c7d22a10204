//! The store-wide databases: `users.redb` (the user database) and `mailboxes.redb`
//! (the mailbox list). Each can be lost alone and is rebuilt alone. Every open
//! takes the database lock first (`crate::store::lock`): shared to read, exclusive
//! to write, held as long as the returned [`Db`] lives.

pub mod mailboxes;
pub mod subscriptions;
pub mod users;

use crate::dbfile::{Handle, Options};
use crate::error::{DbKind, Error, Fault, Result};
use crate::store::Store;
use crate::store::lock::{self, Lock, Mode, Wait};
use redb::{ReadableTable, TableDefinition};
use std::path::Path;

/// `meta` table of both databases: "format" -> version, and counters.
pub const META_TABLE: TableDefinition<&str, u64> = TableDefinition::new("meta");
pub const FORMAT_KEY: &str = "format";

/// An open store-wide database and the lock that guards it.
pub struct Db {
    handle: Handle,
    _lock: Option<Lock>,
}

impl std::ops::Deref for Db {
    type Target = Handle;
    fn deref(&self) -> &Handle {
        &self.handle
    }
}

fn path_of(store: &Store, kind: DbKind) -> std::path::PathBuf {
    match kind {
        DbKind::Users => store.users_db(),
        _ => store.mailboxes_db(),
    }
}

/// The format version this msgstore writes, and the oldest it still reads.
pub fn versions(kind: DbKind) -> (u64, u64) {
    match kind {
        DbKind::Users => (users::FORMAT_VERSION, users::OLDEST_FORMAT),
        _ => (mailboxes::FORMAT_VERSION, mailboxes::OLDEST_FORMAT),
    }
}

fn lock_db(store: &Store, mode: Mode, create: bool) -> Result<Option<Lock>> {
    lock::databases(store.root(), mode, Wait::default_for_writers(), create)
        .map_err(|e| e.into_error(|| Error::ListBusy))
}

/// Opens a store-wide database read-only (readers, dry runs). Never writes it.
pub fn open_ro(store: &Store, kind: DbKind) -> Result<Db> {
    let lock = lock_db(store, Mode::Shared, false)?;
    let handle = Handle::open_ro(&path_of(store, kind), kind)?;
    check_format(&handle)?;
    Ok(Db {
        handle,
        _lock: lock,
    })
}

/// Opens a store-wide database for writing, checking every page first (they are
/// small, and a damaged one must give an error, not a panic).
pub fn open_rw(store: &Store, kind: DbKind) -> Result<Db> {
    let lock = lock_db(store, Mode::Exclusive, true)?;
    let handle = Handle::open_rw(&path_of(store, kind), kind, Options::CHECKED)?;
    check_format(&handle)?;
    Ok(Db {
        handle,
        _lock: lock,
    })
}

/// Creates a new, empty database with its format version (init, and rebuilds).
pub fn create(path: &Path, kind: DbKind) -> Result<Handle> {
    initialise(Handle::create(path, kind)?)
}

/// [`create`] on a redb storage backend instead of a file: the seam for
/// `tests/power_cut.rs`. `path` only names the database in errors.
pub fn create_with_backend(
    path: &Path,
    kind: DbKind,
    backend: impl redb::StorageBackend,
) -> Result<Handle> {
    initialise(Handle::create_with_backend(path, kind, backend)?)
}

fn initialise(h: Handle) -> Result<Handle> {
    let kind = h.kind();
    h.write(|txn| {
        let mut meta = txn.open_table(META_TABLE).map_err(h.err())?;
        meta.insert(FORMAT_KEY, versions(kind).0).map_err(h.err())?;
        match kind {
            DbKind::Users => drop(txn.open_table(users::USERS_TABLE).map_err(h.err())?),
            _ => {
                drop(
                    txn.open_table(mailboxes::MAILBOXES_TABLE)
                        .map_err(h.err())?,
                );
                drop(
                    txn.open_table(mailboxes::INDEX_FILES_TABLE)
                        .map_err(h.err())?,
                );
            }
        }
        Ok(())
    })?;
    Ok(h)
}

/// The format version in the `meta` table, if there is one.
pub fn read_format(h: &Handle, txn: &redb::ReadTransaction) -> Result<Option<u64>> {
    let meta = txn.open_table(META_TABLE).map_err(h.err())?;
    let v = meta.get(FORMAT_KEY).map_err(h.err())?;
    Ok(v.map(|g| g.value()))
}

/// Refuses a file of a format this msgstore does not read, or not ours at all.
pub fn check_format(h: &Handle) -> Result<u64> {
    let (current, oldest) = versions(h.kind());
    match h.read(|txn| read_format(h, txn))? {
        Some(v) if (oldest..=current).contains(&v) => Ok(v),
        Some(v) => Err(h.error(Fault::Version {
            found: v,
            expected: current,
        })),
        None => Err(h.error(Fault::NotOurs)),
    }
}

/// Marks the file as written in the current format, in the transaction that
/// writes records of that format (older files are converted record by record as
/// they are rewritten; readers accept both).
pub fn stamp_format(h: &Handle, txn: &redb::WriteTransaction) -> Result<()> {
    let mut meta = txn.open_table(META_TABLE).map_err(h.err())?;
    let current = versions(h.kind()).0;
    let found = meta.get(FORMAT_KEY).map_err(h.err())?.map(|g| g.value());
    if found != Some(current) {
        meta.insert(FORMAT_KEY, current).map_err(h.err())?;
    }
    Ok(())
}

/// What a rebuild found of the old file: why it must be set aside, if it must.
pub enum OldFile {
    /// Usable: written over in place.
    Usable,
    /// Damaged (or not a file of ours): kept under a name of its own, and the new
    /// database built beside it.
    Damaged,
    /// No file at all.
    Missing,
}

/// Writes a store-wide database anew (`x-build-user-db`, `reconstruct -m`). The
/// caller holds the list-change lock. A damaged file is kept under a name of its
/// own (returned) by a second link while the new one is built under a temporary
/// name and renamed over it, so at no instant is the store without the copy that
/// still holds what salvage could read, and a crash never leaves half a database.
/// A dry run only says what it would keep aside.
pub fn rebuild(
    store: &Store,
    kind: DbKind,
    old: OldFile,
    dry_run: bool,
    write: impl FnOnce(&Handle) -> Result<()>,
) -> Result<Option<String>> {
    let path = path_of(store, kind);
    let root = store.root();
    let file = path
        .file_name()
        .map(|n| n.to_string_lossy().into_owned())
        .unwrap_or_default();
    // What salvage read may still fail the integrity check a writer's open makes (a
    // damaged page it never needed): that file is damaged too. Contention and the
    // OS are not damage: setting a healthy file aside must never be tried for them.
    let mut damaged = matches!(old, OldFile::Damaged);
    if matches!(old, OldFile::Usable) && !dry_run {
        match open_rw(store, kind) {
            Ok(db) => {
                crate::faults::point("db-rebuild-before-write");
                write(&db)?;
                return Ok(None);
            }
            Err(e) if e.fault().is_some_and(Fault::is_damage) => damaged = true,
            Err(
                e @ Error::Db {
                    fault: Fault::Version { .. },
                    ..
                },
            ) => {
                // A newer release's file: never overwritten by an older one.
                return Err(e);
            }
            Err(e) => return Err(e),
        }
    }
    let set_aside = damaged && crate::store::fsutil::name_taken(&path);
    if dry_run {
        return Ok(set_aside.then(|| format!("{file}{}<time>", crate::store::SET_ASIDE_INFIX)));
    }
    let _lock = lock_db(store, Mode::Exclusive, true)?;
    let mut aside = None;
    if set_aside {
        let name = crate::store::fsutil::unique_name(
            root,
            &format!(
                "{file}{}{}",
                crate::store::SET_ASIDE_INFIX,
                crate::store::time::utc_stamp()
            ),
        );
        let kept = root.join(&name);
        if !crate::store::fsutil::is_regular(&path) {
            // A directory, FIFO or link where the file should be: nothing to
            // salvage later, so it is simply moved out of the way.
            crate::store::fsutil::rename_durable(&path, &kept)?;
        } else if let Err(e) = std::fs::hard_link(&path, &kept) {
            return Err(Error::io(&path, "keep a copy of the damaged file", e));
        }
        crate::store::fsutil::sync_dir(root)?;
        aside = Some(name);
    }
    crate::faults::point("db-rebuild-before-write");
    let tmp = root.join(format!("{file}.tmp"));
    match std::fs::remove_file(&tmp) {
        Ok(()) => {}
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => {}
        Err(e) => return Err(Error::io(&tmp, "remove a stale temporary file", e)),
    }
    let h = create(&tmp, kind)?;
    write(&h)?;
    drop(h);
    crate::store::fsutil::sync_dir(root)?;
    crate::faults::point("db-rebuild-before-rename");
    if crate::store::fsutil::name_taken(&path) {
        // The damaged file, kept above under its own name too: the two swap names
        // in one step, so the store always has a database and nothing is replaced.
        crate::store::fsutil::exchange(&tmp, &path)
            .map_err(|e| Error::io(&tmp, "swap into place", e))?;
        std::fs::remove_file(&tmp).map_err(|e| Error::io(&tmp, "remove", e))?;
        crate::store::fsutil::sync_dir(root)?;
    } else {
        crate::store::fsutil::rename_durable(&tmp, &path)?;
    }
    Ok(aside)
}

/// Every entry of a `&str`-keyed table that decodes, and how many did not: what
/// salvage reads from a damaged database.
pub fn salvage_table<T>(
    h: &Handle,
    table: TableDefinition<&str, &[u8]>,
    decode: impl Fn(&[u8]) -> Option<T>,
) -> (Vec<(String, T)>, usize, Option<String>) {
    let mut out = Vec::new();
    let mut unreadable = 0;
    let r = h.read(|txn| {
        let t = txn.open_table(table).map_err(h.err())?;
        for item in t.iter().map_err(h.err())? {
            match item {
                Ok((k, v)) => match decode(v.value()) {
                    Some(x) => out.push((k.value().to_owned(), x)),
                    None => unreadable += 1,
                },
                Err(_) => unreadable += 1,
            }
        }
        Ok(())
    });
    (out, unreadable, r.err().map(|e| e.detail()))
}

/// The unix time, for records.
pub fn now_unix() -> i64 {
    crate::store::time::now_unix()
}
