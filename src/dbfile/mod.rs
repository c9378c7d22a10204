//! The one place that opens redb files: `users.redb`, `mailboxes.redb` and every
//! mailbox's `msgstore.index`. It owns
//! - how a file is opened: never through a symbolic link, never blocking, only a
//!   regular file (the store's own rules, which redb's path-based opens do not keep);
//! - the panic guard: redb reading a damaged file may panic, and one damaged file
//!   must not stop a repair of the rest, nor end the process after it reported;
//! - the read-only open that recovers a crashed file in memory ([`backend::Overlay`]),
//!   and the unflushed writer for files nothing refers to yet ([`backend::Unsynced`]);
//! - the classification of redb's typed errors into [`Fault`]s.
//!
//! Callers hold the lock that guards the file (`crate::store::lock`) before they
//! open it; this module takes no locks of its own beyond redb's.

pub mod backend;

use crate::error::{DbKind, Error, Fault, Result};
use crate::store::fsutil::{Access, OpenError, open_regular};
use redb::{Database, ReadOnlyDatabase, ReadTransaction, ReadableDatabase, WriteTransaction};
use std::cell::Cell;
use std::mem::ManuallyDrop;
use std::path::{Path, PathBuf};

thread_local! {
    static QUIET_PANICS: Cell<bool> = const { Cell::new(false) };
}

/// Installs a panic hook that stays silent for panics [`guard`] turns into errors.
pub fn install_panic_hook() {
    let default = std::panic::take_hook();
    std::panic::set_hook(Box::new(move |info| {
        if !QUIET_PANICS.with(Cell::get) {
            default(info);
        }
    }));
}

/// Runs `f`, turning a panic of the storage engine into [`Fault::Damaged`].
pub fn guard<T>(f: impl FnOnce() -> T) -> std::result::Result<T, Fault> {
    let was = QUIET_PANICS.with(|q| q.replace(true));
    let r = std::panic::catch_unwind(std::panic::AssertUnwindSafe(f));
    QUIET_PANICS.with(|q| q.set(was));
    r.map_err(|p| {
        let msg = p
            .downcast_ref::<&str>()
            .map(|s| s.to_string())
            .or_else(|| p.downcast_ref::<String>().cloned())
            .unwrap_or_else(|| "unknown".into());
        Fault::Damaged(format!(
            "beyond reading (the storage engine gave up: {msg})"
        ))
    })
}

/// What a redb error means for the store.
pub fn fault(e: impl Into<redb::Error>) -> Fault {
    use redb::Error as R;
    use std::io::ErrorKind as K;
    match e.into() {
        R::DatabaseAlreadyOpen | R::LockProtocolMismatch | R::TransactionInProgress => Fault::Busy,
        R::WouldBlock => Fault::Busy,
        R::RepairAborted => Fault::NeedsRecovery,
        // redb reports a file that holds no redb database as InvalidData, and reads
        // past a truncated end as UnexpectedEof: the bytes are wrong, not the OS.
        R::Io(e) if matches!(e.kind(), K::InvalidData | K::UnexpectedEof) => {
            Fault::Damaged(e.to_string())
        }
        R::Io(e) => Fault::Os(e),
        R::UpgradeRequired(v) => Fault::Damaged(format!(
            "written in storage-engine file format {v}, which this msgstore cannot read"
        )),
        other => Fault::Damaged(other.to_string()),
    }
}

/// How the file is to be opened.
#[derive(Clone, Copy, Debug)]
pub struct Options {
    /// Verify every page's checksum at the open (redb's integrity check).
    pub check: bool,
    /// redb's page cache; its default (1 GiB) keeps every dirty page until commit.
    pub cache: Option<usize>,
}

impl Options {
    pub const PLAIN: Options = Options {
        check: false,
        cache: None,
    };
    pub const CHECKED: Options = Options {
        check: true,
        cache: None,
    };
}

enum Inner {
    /// Dropped under [`guard`]: redb commits its allocator state when a database is
    /// closed, and on a damaged file that can panic.
    Rw(ManuallyDrop<Database>),
    Ro(ReadOnlyDatabase),
}

/// An open redb file, named for errors.
pub struct Handle {
    inner: Inner,
    path: PathBuf,
    kind: DbKind,
    /// The file is [`backend::Unsynced`]: flushed once, by [`Handle::close_durably`].
    unsynced: bool,
}

impl Drop for Handle {
    fn drop(&mut self) {
        if let Inner::Rw(db) = &mut self.inner {
            // SAFETY: taken exactly once, here; `inner` is never used again.
            let db = unsafe { ManuallyDrop::take(db) };
            let _ = guard(move || drop(db));
        }
    }
}

fn open_file(path: &Path, kind: DbKind, access: Access) -> Result<std::fs::File> {
    open_regular(path, access).map_err(|e| match e {
        e if e.is_not_found() => Error::db(path, kind, Fault::Missing),
        OpenError::NotRegular(what) => Error::db(path, kind, Fault::NotRegular(what)),
        OpenError::Io(e) => Error::db(path, kind, Fault::Os(e)),
    })
}

fn builder(o: Options) -> redb::Builder {
    let mut b = Database::builder();
    b.set_check_integrity_on_open(o.check);
    if let Some(c) = o.cache {
        b.set_cache_size(c);
    }
    b
}

impl Handle {
    fn new(inner: Inner, path: &Path, kind: DbKind) -> Handle {
        Handle {
            inner,
            path: path.to_owned(),
            kind,
            unsynced: false,
        }
    }

    /// Opens an existing file for reading and writing. A file its last writer left
    /// mid-write is recovered by redb here (that writes the file).
    pub fn open_rw(path: &Path, kind: DbKind, o: Options) -> Result<Handle> {
        let file = open_file(path, kind, Access::ReadWrite)?;
        let db = guard(|| {
            let backend = redb::backends::FileBackend::new(file).map_err(fault)?;
            builder(o).create_with_backend(backend).map_err(fault)
        })
        .and_then(|r| r)
        .map_err(|f| Error::db(path, kind, f))?;
        Ok(Handle::new(Inner::Rw(ManuallyDrop::new(db)), path, kind))
    }

    /// Opens an existing file read-only; it is never written. One that needs crash
    /// recovery (its last writer was killed), which a read-only open cannot do, is
    /// recovered in memory instead ([`backend::Overlay`]), so readers and dry runs
    /// change nothing and still see every committed record.
    pub fn open_ro(path: &Path, kind: DbKind) -> Result<Handle> {
        let file = open_file(path, kind, Access::Read)?;
        let r = guard(|| {
            let backend = redb::backends::FileBackend::new(file).map_err(fault)?;
            Database::builder()
                .open_read_only_with_backend(backend)
                .map_err(fault)
        })
        .and_then(|r| r);
        match r {
            Ok(db) => Ok(Handle::new(Inner::Ro(db), path, kind)),
            Err(Fault::NeedsRecovery) => Handle::open_overlay(path, kind, Options::CHECKED),
            Err(f) => Err(Error::db(path, kind, f)),
        }
    }

    /// Opens a file through a private copy-on-write layer in memory: whatever redb
    /// writes (the integrity check's commit, a crashed file's recovery) stays in
    /// memory, so the file is verified without being written or flushed.
    pub fn open_overlay(path: &Path, kind: DbKind, o: Options) -> Result<Handle> {
        let file = open_file(path, kind, Access::Read)?;
        let overlay =
            backend::Overlay::new(file).map_err(|e| Error::db(path, kind, Fault::Os(e)))?;
        let db = guard(|| builder(o).create_with_backend(overlay).map_err(fault))
            .and_then(|r| r)
            .map_err(|f| Error::db(path, kind, f))?;
        Ok(Handle::new(Inner::Rw(ManuallyDrop::new(db)), path, kind))
    }

    /// Creates a new file, which must not exist (not even as a dangling link).
    pub fn create(path: &Path, kind: DbKind) -> Result<Handle> {
        let file = open_file(path, kind, Access::CreateNew)?;
        let db = guard(|| {
            let backend = redb::backends::FileBackend::new(file).map_err(fault)?;
            Database::builder()
                .create_with_backend(backend)
                .map_err(fault)
        })
        .and_then(|r| r)
        .map_err(|f| Error::db(path, kind, f))?;
        Ok(Handle::new(Inner::Rw(ManuallyDrop::new(db)), path, kind))
    }

    /// Creates a new file that redb never flushes: nothing refers to it until the
    /// caller renames it into place, so redb's eight or so flushes while it is
    /// created, committed and closed buy nothing; [`Handle::close_durably`] flushes
    /// it once instead.
    pub fn create_unsynced(path: &Path, kind: DbKind, o: Options) -> Result<Handle> {
        let file = open_file(path, kind, Access::CreateNew)?;
        let db = guard(|| {
            builder(o)
                .create_with_backend(backend::Unsynced::new(file))
                .map_err(fault)
        })
        .and_then(|r| r)
        .map_err(|f| Error::db(path, kind, f))?;
        let mut h = Handle::new(Inner::Rw(ManuallyDrop::new(db)), path, kind);
        h.unsynced = true;
        Ok(h)
    }

    /// A new database on a storage backend instead of a file: the seam for
    /// `tests/power_cut.rs`, whose backend keeps the bytes a power cut would leave.
    /// `path` only names it in errors.
    pub fn create_with_backend(
        path: &Path,
        kind: DbKind,
        backend: impl redb::StorageBackend,
    ) -> Result<Handle> {
        let db = guard(|| {
            Database::builder()
                .create_with_backend(backend)
                .map_err(fault)
        })
        .and_then(|r| r)
        .map_err(|f| Error::db(path, kind, f))?;
        Ok(Handle::new(Inner::Rw(ManuallyDrop::new(db)), path, kind))
    }

    pub fn path(&self) -> &Path {
        &self.path
    }

    pub fn kind(&self) -> DbKind {
        self.kind
    }

    /// The error for a fault of this file.
    pub fn error(&self, f: Fault) -> Error {
        Error::db(&self.path, self.kind, f)
    }

    /// Maps a redb error of this file.
    pub fn err<E: Into<redb::Error>>(&self) -> impl Fn(E) -> Error + '_ {
        move |e| self.error(fault(e))
    }

    /// Runs `f` in a read transaction, under the panic guard.
    pub fn read<T>(&self, f: impl FnOnce(&ReadTransaction) -> Result<T>) -> Result<T> {
        guard(|| {
            let txn = match &self.inner {
                Inner::Rw(db) => db.begin_read(),
                Inner::Ro(db) => db.begin_read(),
            }
            .map_err(self.err())?;
            f(&txn)
        })
        .map_err(|f| self.error(f))?
    }

    /// Runs `f` in one write transaction and commits it atomically, under the panic
    /// guard (redb's commit frees pages, and on a damaged file the damage can point
    /// anywhere). Fault points `<prefix>-before-commit`, `<prefix>-after-commit` and
    /// `enospc-<prefix>-commit` of the file's kind bracket the commit.
    pub fn write<T>(&self, f: impl FnOnce(&WriteTransaction) -> Result<T>) -> Result<T> {
        let Inner::Rw(db) = &self.inner else {
            return Err(self.error(Fault::Os(std::io::Error::from(
                std::io::ErrorKind::ReadOnlyFilesystem,
            ))));
        };
        let (before, after, enospc) = match self.kind {
            DbKind::Index => ("index-before-commit", "index-after-commit", "index-commit"),
            DbKind::Mailboxes => ("list-before-commit", "list-after-commit", "list-commit"),
            DbKind::Users => ("users-before-commit", "users-after-commit", "users-commit"),
        };
        guard(|| -> Result<T> {
            let txn = db.begin_write().map_err(self.err())?;
            let value = f(&txn)?;
            crate::faults::point(before);
            if let Some(e) = crate::faults::io_error(enospc) {
                // Dropping the transaction aborts it, as a failed commit does.
                return Err(self.error(Fault::Os(e)));
            }
            txn.commit().map_err(self.err())?;
            crate::faults::point(after);
            Ok(value)
        })
        .map_err(|f| self.error(f))?
    }

    /// Closes the file without flushing it (the caller flushes, see
    /// [`crate::store::fsutil::GroupFlush`]).
    pub fn close(self) {
        drop(self);
    }

    /// Closes the file and flushes it: the one flush of a file made by
    /// [`Handle::create_unsynced`]. A no-op flush for other files.
    pub fn close_durably(self) -> Result<()> {
        let path = self.path.clone();
        let kind = self.kind;
        let unsynced = self.unsynced;
        drop(self);
        if !unsynced {
            return Ok(());
        }
        open_regular(&path, Access::Read)
            .map_err(|e| match e {
                OpenError::Io(e) => e,
                OpenError::NotRegular(w) => std::io::Error::other(w),
            })
            .and_then(|f| f.sync_data())
            .map_err(|e| Error::db(&path, kind, Fault::Os(e)))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    const T: redb::TableDefinition<u32, u32> = redb::TableDefinition::new("t");

    #[test]
    fn garbage_and_fifos_are_faults_not_panics_or_hangs() {
        let d = tempfile::tempdir().unwrap();
        let p = d.path().join("x.redb");
        std::fs::write(&p, vec![0x5a; 10_000]).unwrap();
        for r in [
            Handle::open_rw(&p, DbKind::Index, Options::CHECKED).err(),
            Handle::open_ro(&p, DbKind::Index).err(),
        ] {
            let f = r.unwrap();
            assert!(f.fault().is_some_and(Fault::is_damage), "{f}");
        }
        let fifo = d.path().join("fifo.redb");
        let c = std::ffi::CString::new(fifo.to_str().unwrap()).unwrap();
        // SAFETY: a NUL-terminated path.
        assert_eq!(unsafe { libc::mkfifo(c.as_ptr(), 0o600) }, 0);
        let e = Handle::open_ro(&fifo, DbKind::Users).err().unwrap();
        assert!(
            matches!(e.fault(), Some(Fault::NotRegular("a FIFO"))),
            "{e}"
        );
        let e = Handle::open_rw(&d.path().join("none"), DbKind::Users, Options::PLAIN)
            .err()
            .unwrap();
        assert!(matches!(e.fault(), Some(Fault::Missing)));
    }

    #[test]
    fn a_second_writer_is_busy_and_readers_see_commits() {
        let d = tempfile::tempdir().unwrap();
        let p = d.path().join("x.redb");
        let h = Handle::create(&p, DbKind::Mailboxes).unwrap();
        h.write(|t| {
            t.open_table(T)
                .map_err(h.err())?
                .insert(1, 2)
                .map_err(h.err())?;
            Ok(())
        })
        .unwrap();
        let e = Handle::open_rw(&p, DbKind::Mailboxes, Options::PLAIN)
            .err()
            .unwrap();
        assert!(e.is_busy(), "{e}");
        drop(h);
        let r = Handle::open_ro(&p, DbKind::Mailboxes).unwrap();
        let v = r
            .read(|t| {
                let t = t.open_table(T).map_err(r.err())?;
                Ok(t.get(1).map_err(r.err())?.map(|g| g.value()))
            })
            .unwrap();
        assert_eq!(v, Some(2));
    }
}
