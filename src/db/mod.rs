//! The store-wide databases: `users.redb` (the user database) and `mailboxes.redb`
//! (the mailbox list). Each can be lost alone and is rebuilt alone.

pub mod backend;
pub mod mailboxes;
pub mod users;

use crate::error::{Error, Result};
use redb::{Database, ReadOnlyDatabase, TableDefinition};
use std::cell::Cell;
use std::path::Path;

/// `meta` table of both databases: "format" -> version, and counters.
pub const META_TABLE: TableDefinition<&str, u64> = TableDefinition::new("meta");
pub const FORMAT_KEY: &str = "format";

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

/// Runs `f`, turning a panic into an error: a database engine reading a damaged file
/// may panic, and one damaged file must not stop a repair of the rest.
pub fn guard<T>(path: &Path, f: impl FnOnce() -> T) -> Result<T, String> {
    let was = QUIET_PANICS.with(|q| q.replace(true));
    let r = std::panic::catch_unwind(std::panic::AssertUnwindSafe(f));
    QUIET_PANICS.with(|q| q.set(was));
    r.map_err(|p| {
        let msg = p
            .downcast_ref::<&str>()
            .map(|s| s.to_string())
            .or_else(|| p.downcast_ref::<String>().cloned())
            .unwrap_or_else(|| "unknown".into());
        format!(
            "{}: damaged beyond reading (the database engine gave up: {msg})",
            path.display()
        )
    })
}

/// [`guard`] for a call that returns a `Result`: both failures become text.
pub fn guard_res<T, E: std::fmt::Display>(
    path: &Path,
    f: impl FnOnce() -> Result<T, E>,
) -> Result<T, String> {
    guard(path, f).and_then(|r| r.map_err(|e| e.to_string()))
}

/// A redb database that is closed under [`guard`]. redb commits its allocator
/// state when a database is dropped, and on a damaged file that can panic: outside
/// a guard the panic would end the process (exit status 101) after the command had
/// already reported the damage. Dereferences to the database.
pub struct Db {
    inner: std::mem::ManuallyDrop<Database>,
    path: std::path::PathBuf,
}

impl Db {
    pub fn new(db: Database, path: &Path) -> Db {
        Db {
            inner: std::mem::ManuallyDrop::new(db),
            path: path.to_owned(),
        }
    }
}

impl std::ops::Deref for Db {
    type Target = Database;
    fn deref(&self) -> &Database {
        &self.inner
    }
}

impl Drop for Db {
    fn drop(&mut self) {
        // SAFETY: `inner` is taken exactly once, here, and never used again.
        let db = unsafe { std::mem::ManuallyDrop::take(&mut self.inner) };
        let _ = guard(&self.path, move || drop(db));
    }
}

/// Which store-wide database, for messages and remedies.
#[derive(Clone, Copy, Debug)]
pub enum Which {
    Users,
    Mailboxes,
}

impl Which {
    pub fn remedy(self) -> &'static str {
        match self {
            Which::Users => "run `msgstore x-build-user-db` to rebuild the user database",
            Which::Mailboxes => "run `msgstore reconstruct -m` to rebuild the mailbox list",
        }
    }

    pub fn version(self) -> u64 {
        match self {
            Which::Users => users::FORMAT_VERSION,
            Which::Mailboxes => mailboxes::FORMAT_VERSION,
        }
    }
}

/// Opens a store-wide database for writing, checking every page first (they are
/// small, and a damaged one must give an error, not a panic).
pub fn open_rw(path: &Path, which: Which) -> Result<Db> {
    if !path.exists() {
        return Err(Error::db(path, "missing", which.remedy()));
    }
    let db = guard_res(path, || {
        Database::builder()
            .set_check_integrity_on_open(true)
            .open(path)
    })
    .map(|db| Db::new(db, path))
    .map_err(|e| busy_or_damaged(path, which, e))?;
    check_format(path, which, |f| {
        use redb::ReadableDatabase;
        let txn = db.begin_read().map_err(|e| e.to_string())?;
        read_format(&txn, f)
    })?;
    Ok(db)
}

pub fn open_ro(path: &Path, which: Which) -> Result<ReadHandle> {
    if !path.exists() {
        return Err(Error::db(path, "missing", which.remedy()));
    }
    let db = open_read_only_recovering(path).map_err(|e| busy_or_damaged(path, which, e))?;
    check_format(path, which, |f| {
        let txn = db.begin_read().map_err(|e| e.to_string())?;
        read_format(&txn, f)
    })?;
    Ok(db)
}

/// A read-only view of a store-wide database.
pub enum ReadHandle {
    Direct(ReadOnlyDatabase),
    /// The file needs the crash recovery redb does when a writer opens it (its last
    /// writer was killed), which a read-only open cannot do: it was
    /// recovered in memory instead ([`backend::Overlay`]), so readers, dry runs and
    /// salvage change nothing and still see every committed record.
    Recovered(Db),
}

impl ReadHandle {
    pub fn begin_read(&self) -> Result<redb::ReadTransaction, redb::TransactionError> {
        use redb::ReadableDatabase;
        match self {
            ReadHandle::Direct(db) => db.begin_read(),
            ReadHandle::Recovered(db) => db.begin_read(),
        }
    }
}

/// Opens a database read-only; if it needs crash recovery, recovers it in memory.
pub fn open_read_only_recovering(path: &Path) -> Result<ReadHandle, String> {
    match guard_res(path, || Database::builder().open_read_only(path)) {
        Ok(db) => Ok(ReadHandle::Direct(db)),
        Err(e) if e.contains("repair") => {
            let overlay = backend::Overlay::open(path).map_err(|e| e.to_string())?;
            let db = guard_res(path, || {
                Database::builder()
                    .set_check_integrity_on_open(true)
                    .create_with_backend(overlay)
            })?;
            Ok(ReadHandle::Recovered(Db::new(db, path)))
        }
        Err(e) => Err(e),
    }
}

/// Creates a new, empty database with its format version (init, and rebuilds).
pub fn create(path: &Path, which: Which) -> Result<Db> {
    let db = guard_res(path, || Database::create(path))
        .map(|db| Db::new(db, path))
        .map_err(|e| Error::db(path, format!("cannot create: {e}"), ""))?;
    initialise(db, path, which)
}

/// [`create`] on a redb storage backend instead of a file: the seam for
/// `tests/power_cut.rs`. `path` only names the database in errors.
pub fn create_with_backend(
    path: &Path,
    backend: impl redb::StorageBackend,
    which: Which,
) -> Result<Db> {
    let db = guard_res(path, || Database::builder().create_with_backend(backend))
        .map(|db| Db::new(db, path))
        .map_err(|e| Error::db(path, format!("cannot create: {e}"), ""))?;
    initialise(db, path, which)
}

fn initialise(db: Db, path: &Path, which: Which) -> Result<Db> {
    let txn = db.begin_write().map_err(|e| Error::db(path, e, ""))?;
    {
        let mut meta = txn
            .open_table(META_TABLE)
            .map_err(|e| Error::db(path, e, ""))?;
        meta.insert(FORMAT_KEY, which.version())
            .map_err(|e| Error::db(path, e, ""))?;
        match which {
            Which::Users => drop(
                txn.open_table(users::USERS_TABLE)
                    .map_err(|e| Error::db(path, e, ""))?,
            ),
            Which::Mailboxes => drop(
                txn.open_table(mailboxes::MAILBOXES_TABLE)
                    .map_err(|e| Error::db(path, e, ""))?,
            ),
        }
    }
    txn.commit().map_err(|e| Error::db(path, e, ""))?;
    Ok(db)
}

fn read_format(txn: &redb::ReadTransaction, _: ()) -> Result<Option<u64>, String> {
    let meta = txn.open_table(META_TABLE).map_err(|e| e.to_string())?;
    let v = meta.get(FORMAT_KEY).map_err(|e| e.to_string())?;
    Ok(v.map(|g| g.value()))
}

fn check_format(
    path: &Path,
    which: Which,
    read: impl FnOnce(()) -> Result<Option<u64>, String>,
) -> Result<()> {
    let found = guard(path, || read(()))
        .and_then(|r| r)
        .map_err(|e| Error::db(path, format!("damaged: {e}"), which.remedy()))?;
    match found {
        Some(v) if v == which.version() => Ok(()),
        Some(v) => Err(Error::db(
            path,
            format!(
                "format version {v}, but this msgstore reads version {}",
                which.version()
            ),
            "use the msgstore release that wrote it",
        )),
        None => Err(Error::db(
            path,
            "not a msgstore database (no format version)",
            which.remedy(),
        )),
    }
}

/// An error the operating system gave (read-only or failing file system,
/// permissions), as opposed to bytes redb could not make sense of.
fn is_os_error(e: &str) -> bool {
    e.contains("(os error")
}

fn busy_or_damaged(path: &Path, which: Which, e: String) -> Error {
    if e.contains("already open") {
        Error::db(path, "in use by another process", "try again in a moment")
    } else if is_os_error(&e) {
        Error::db(
            path,
            format!("cannot open: {e}"),
            "check that the file system is mounted writable and healthy",
        )
    } else {
        Error::db(path, format!("cannot open: {e}"), which.remedy())
    }
}

/// Writes a store-wide database anew (`x-build-user-db`, `reconstruct -m`). A
/// damaged file is first moved aside under a name of its own (returned); with no
/// usable file the new one is built under a temporary name and renamed in, so a
/// crash never leaves half a database. A dry run only says what it would keep aside.
pub fn rebuild(
    root: &Path,
    which: Which,
    damaged: bool,
    dry_run: bool,
    write: impl FnOnce(&Database, &Path) -> Result<()>,
) -> Result<Option<String>> {
    let file = match which {
        Which::Users => crate::store::USERS_DB,
        Which::Mailboxes => crate::store::MAILBOXES_DB,
    };
    let path = root.join(file);
    // What salvage could read may still fail the integrity check a writer's open
    // makes (a damaged page it never needed): that file is damaged too, and must be
    // set aside rather than stop the rebuild. A dry run must not open it for writing.
    let mut existing = None;
    let mut damaged = damaged;
    if !damaged && !dry_run && path.exists() {
        match open_rw(&path, which) {
            Ok(db) => existing = Some(db),
            Err(Error::Db { what, .. }) if what.contains("in use") => {
                return Err(Error::db(&path, what, "try again in a moment"));
            }
            // Not damage: a read-only or failing file system. Setting the file
            // aside would not help, and must not be tried on a healthy file.
            Err(e @ Error::Db { .. }) if is_os_error(&e.to_string()) => return Err(e),
            Err(_) => damaged = true,
        }
    }
    let set_aside = damaged && path.exists();
    if dry_run {
        return Ok(set_aside.then(|| format!("{file}{}<time>", crate::store::SET_ASIDE_INFIX)));
    }
    // The damaged file is kept under a name of its own by a second link, and stays
    // where it is until the new one replaces it in one rename: at no instant is the
    // store without the copy that still holds what salvage could read.
    let mut aside = None;
    if set_aside {
        let name = crate::reconstruct::unique(
            root,
            &format!(
                "{file}{}{}",
                crate::store::SET_ASIDE_INFIX,
                crate::reconstruct::utc_stamp()
            ),
        );
        let kept = root.join(&name);
        let regular = std::fs::symlink_metadata(&path).is_ok_and(|m| m.is_file());
        if !regular {
            // A directory or a symlink where the file should be: nothing to salvage
            // later, so it is simply moved out of the way.
            crate::store::fsutil::rename_durable(&path, &kept)?;
        } else if std::fs::hard_link(&path, &kept).is_err() {
            std::fs::copy(&path, &kept)
                .map_err(|e| Error::io(&path, "keep a copy of the damaged file", e))?;
        }
        crate::store::fsutil::sync_dir(root)?;
        aside = Some(name);
    }
    crate::faults::point("db-rebuild-before-write");
    if let Some(db) = existing {
        write(&db, &path)?;
    } else if path.exists() && !set_aside {
        write(&*open_rw(&path, which)?, &path)?;
    } else {
        let tmp = root.join(format!("{file}.tmp"));
        let _ = std::fs::remove_file(&tmp);
        let dbh = create(&tmp, which)?;
        write(&dbh, &tmp)?;
        drop(dbh);
        crate::faults::point("db-rebuild-before-rename");
        crate::store::fsutil::rename_durable(&tmp, &path)?;
    }
    Ok(aside)
}

/// Maps a database failure during a transaction to an error naming the file.
pub fn damaged(path: &Path, which: Which, e: impl Into<redb::Error>) -> Error {
    Error::db(path, format!("damaged: {}", e.into()), which.remedy())
}

pub fn now_unix() -> i64 {
    std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .map(|d| d.as_secs() as i64)
        .unwrap_or(0)
}
