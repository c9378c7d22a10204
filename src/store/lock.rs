//! The store's locks: advisory `flock`s, which the kernel drops when their holder
//! dies, so a crash never leaves one behind. The protocol is a persistent contract,
//! written down in `schema/locking.md`; in short:
//!
//! 1. the **list-change lock** (the store directory itself), exclusive: held by
//!    whoever changes which mailboxes exist (create, delete, rename, user add and
//!    delete) for the whole change, and by `reconstruct -m` and `x-build-user-db`
//!    for their whole run. Nobody waits for it long: the server answers
//!    `NO [INUSE]` when it is taken;
//! 2. **mailbox locks** (`msgstore.lock` in each mailbox directory): shared to read
//!    the index, exclusive to write it or to rebuild the mailbox;
//! 3. the **database lock** (`STORE/msgstore.lock`): shared to open `users.redb`
//!    or `mailboxes.redb` read-only, exclusive to open either for writing; held
//!    only for the open, never while waiting for another lock.
//!
//! They are taken in that order (mailbox locks in name order), which makes a
//! deadlock impossible; whoever opens a redb file holds the lock that guards it
//! first, so contention is always a wait, never an error from the storage engine.

use super::fsutil::{Access, OpenError, open_dir, open_regular};
use std::fs::{File, TryLockError};
use std::path::{Path, PathBuf};
use std::time::{Duration, Instant};

/// The version of the protocol in `schema/locking.md`.
pub const PROTOCOL_VERSION: u32 = 1;
/// What writers wait by default (`MSGSTORE_LOCK_TIMEOUT` changes it), seconds.
pub const WRITER_TIMEOUT_SECS: u64 = 10;
/// What `reconstruct` waits for a mailbox an operation has in hand.
pub const RECONSTRUCT_GRACE: Duration = Duration::from_secs(2);
/// What a session's CREATE, DELETE or RENAME waits for the list-change lock.
pub const LIST_CHANGE_GRACE: Duration = Duration::from_secs(1);

#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Mode {
    Shared,
    Exclusive,
}

/// How long to wait for a busy lock.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Wait {
    No,
    For(Duration),
    Forever,
}

impl Wait {
    /// What writers that a person or an MTA started wait before they give up:
    /// `MSGSTORE_LOCK_TIMEOUT` seconds, 10 by default.
    pub fn default_for_writers() -> Wait {
        let secs = std::env::var("MSGSTORE_LOCK_TIMEOUT")
            .ok()
            .and_then(|s| s.parse::<u64>().ok())
            .unwrap_or(WRITER_TIMEOUT_SECS);
        Wait::For(Duration::from_secs(secs))
    }

    /// The shorter of the two.
    pub fn at_most(self, d: Duration) -> Wait {
        match self {
            Wait::No => Wait::No,
            Wait::For(x) => Wait::For(x.min(d)),
            Wait::Forever => Wait::For(d),
        }
    }
}

/// Held until dropped.
#[derive(Debug)]
pub struct Lock {
    _file: File,
}

/// Why a lock was not taken.
#[derive(Debug)]
pub enum LockError {
    /// Somebody else holds it, and waiting did not help.
    Busy,
    /// The lock file could not be opened or locked.
    Io(PathBuf, std::io::Error),
}

impl LockError {
    pub fn into_error(self, busy: impl FnOnce() -> crate::error::Error) -> crate::error::Error {
        match self {
            LockError::Busy => busy(),
            LockError::Io(p, e) => crate::error::Error::io(p, "lock", e),
        }
    }
}

pub const DATABASES_LOCK: &str = "msgstore.lock";

/// Locks a mailbox directory. `create` makes the lock file if missing (a dry run
/// passes false so it changes nothing; with no lock file nobody holds the lock).
/// The lock file must be a regular file: a link put there is refused, never
/// followed (it could lead out of the store).
pub fn mailbox(
    dir: &Path,
    mode: Mode,
    wait: Wait,
    create: bool,
) -> Result<Option<Lock>, LockError> {
    let path = dir.join(super::LOCK_FILE);
    file_lock(&path, mode, wait, create)
}

/// The database lock (3 above).
pub fn databases(
    root: &Path,
    mode: Mode,
    wait: Wait,
    create: bool,
) -> Result<Option<Lock>, LockError> {
    file_lock(&root.join(DATABASES_LOCK), mode, wait, create)
}

/// The list-change lock (1 above), on the store directory itself.
pub fn list_changes(root: &Path, wait: Wait) -> Result<Lock, LockError> {
    let file = open_dir(root).map_err(|e| LockError::Io(root.to_owned(), e))?;
    acquire(file, root, Mode::Exclusive, wait)
}

fn file_lock(path: &Path, mode: Mode, wait: Wait, create: bool) -> Result<Option<Lock>, LockError> {
    // A shared lock needs no write access to its file: readers open it read-only,
    // so they work on a read-only store; the file is made only if it is missing.
    let first = if mode == Mode::Shared || !create {
        open_regular(path, Access::Read)
    } else {
        open_regular(path, Access::Create)
    };
    let opened = match first {
        Err(e) if e.is_not_found() && create && mode == Mode::Shared => {
            match open_regular(path, Access::Create) {
                // Nobody can write a read-only store, so nobody holds the lock.
                Err(OpenError::Io(e)) if e.raw_os_error() == Some(libc::EROFS) => return Ok(None),
                other => other,
            }
        }
        other => other,
    };
    let file = match opened {
        Ok(f) => f,
        Err(e) if !create && e.is_not_found() => return Ok(None),
        Err(OpenError::NotRegular(what)) => {
            return Err(LockError::Io(
                path.to_owned(),
                std::io::Error::other(format!("not a regular file but {what}; move it away")),
            ));
        }
        Err(OpenError::Io(e)) => return Err(LockError::Io(path.to_owned(), e)),
    };
    acquire(file, path, mode, wait).map(Some)
}

/// How long a reader defers to an exclusive locker that announced its wait (rule 4
/// of `schema/locking.md`) before it goes ahead anyway: long enough for the
/// operations in flight to end, short enough that a reader never waits long for
/// one that is stuck.
pub const INTENT_DEFERRAL: Duration = Duration::from_secs(10);

fn acquire(file: File, path: &Path, mode: Mode, wait: Wait) -> Result<Lock, LockError> {
    let start = Instant::now();
    let mut pause = Duration::from_millis(1);
    let mut announced = false;
    let r = loop {
        // flock gives a waiting exclusive locker no precedence: with readers that
        // overlap (sessions on a busy mailbox) it would never get in. So a reader
        // that may wait does not start while one announces its wait.
        let defer = mode == Mode::Shared
            && wait != Wait::No
            && start.elapsed() < INTENT_DEFERRAL
            && intent::announced(&file);
        let r = if defer {
            Err(TryLockError::WouldBlock)
        } else {
            match mode {
                Mode::Shared => file.try_lock_shared(),
                Mode::Exclusive => file.try_lock(),
            }
        };
        match r {
            Ok(()) => break Ok(()),
            Err(TryLockError::Error(e)) => break Err(LockError::Io(path.to_owned(), e)),
            Err(TryLockError::WouldBlock) => {
                let left = match wait {
                    Wait::No => break Err(LockError::Busy),
                    Wait::For(d) => match d.checked_sub(start.elapsed()) {
                        Some(left) if !left.is_zero() => Some(left),
                        _ => break Err(LockError::Busy),
                    },
                    Wait::Forever => None,
                };
                if mode == Mode::Exclusive && !announced {
                    intent::announce(&file, true);
                    announced = true;
                }
                let nap = left.map_or(pause, |l| pause.min(l));
                std::thread::sleep(nap);
                pause = (pause * 2).min(Duration::from_millis(50));
            }
        }
    };
    if announced {
        intent::announce(&file, false);
    }
    r.map(|()| Lock { _file: file })
}

/// An exclusive locker's announcement that it waits: an open-file-description
/// (OFD) read lock on the lock file's first byte, which the kernel keeps apart
/// from the `flock` and drops with the file. Several waiters can announce at once;
/// readers test for any with `F_OFD_GETLK`. Best effort: where it is not
/// available, nobody announces and readers never defer (the old behaviour).
mod intent {
    use std::fs::File;

    #[cfg(target_os = "linux")]
    fn byte0(kind: libc::c_int) -> libc::flock {
        // SAFETY: `flock` is plain data; all-zero is a valid value.
        let mut fl: libc::flock = unsafe { std::mem::zeroed() };
        fl.l_type = kind as libc::c_short;
        fl.l_whence = libc::SEEK_SET as libc::c_short;
        fl.l_start = 0;
        fl.l_len = 1;
        fl
    }

    /// Announces (`true`) or withdraws this file's wait.
    #[cfg(target_os = "linux")]
    pub fn announce(file: &File, on: bool) {
        use std::os::fd::AsRawFd;
        let mut fl = byte0(if on { libc::F_RDLCK } else { libc::F_UNLCK });
        // SAFETY: fcntl on an fd we own, with a valid flock struct.
        unsafe { libc::fcntl(file.as_raw_fd(), libc::F_OFD_SETLK, &mut fl) };
    }

    /// Whether another open of the file announces a wait.
    #[cfg(target_os = "linux")]
    pub fn announced(file: &File) -> bool {
        use std::os::fd::AsRawFd;
        let mut fl = byte0(libc::F_WRLCK);
        // SAFETY: fcntl on an fd we own, with a valid flock struct.
        let r = unsafe { libc::fcntl(file.as_raw_fd(), libc::F_OFD_GETLK, &mut fl) };
        r == 0 && fl.l_type != libc::F_UNLCK as libc::c_short
    }

    #[cfg(not(target_os = "linux"))]
    pub fn announce(_: &File, _: bool) {}

    #[cfg(not(target_os = "linux"))]
    pub fn announced(_: &File) -> bool {
        false
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn shared_locks_share_and_exclusive_waits_then_gives_up() {
        let d = tempfile::tempdir().unwrap();
        let a = mailbox(d.path(), Mode::Shared, Wait::No, true).unwrap();
        let b = mailbox(d.path(), Mode::Shared, Wait::No, true).unwrap();
        assert!(a.is_some() && b.is_some());
        let t = Instant::now();
        let e = mailbox(
            d.path(),
            Mode::Exclusive,
            Wait::For(Duration::from_millis(50)),
            true,
        );
        assert!(matches!(e, Err(LockError::Busy)));
        assert!(t.elapsed() >= Duration::from_millis(50));
        drop((a, b));
        assert!(
            mailbox(d.path(), Mode::Exclusive, Wait::No, true)
                .unwrap()
                .is_some()
        );
    }

    #[test]
    fn a_waiting_exclusive_locker_is_not_starved_by_overlapping_readers() {
        let d = tempfile::tempdir().unwrap();
        let dir = d.path().to_owned();
        let stop = std::sync::Arc::new(std::sync::atomic::AtomicBool::new(false));
        // Readers whose shared locks overlap: there is hardly ever a moment with none.
        let readers: Vec<_> = (0..4)
            .map(|_| {
                let (dir, stop) = (dir.clone(), stop.clone());
                std::thread::spawn(move || {
                    for _ in 0..10_000 {
                        if stop.load(std::sync::atomic::Ordering::SeqCst) {
                            break;
                        }
                        let l = mailbox(&dir, Mode::Shared, Wait::Forever, true).unwrap();
                        std::thread::sleep(Duration::from_millis(3));
                        drop(l);
                    }
                })
            })
            .collect();
        std::thread::sleep(Duration::from_millis(50));
        let got = mailbox(
            &dir,
            Mode::Exclusive,
            Wait::For(Duration::from_secs(2)),
            true,
        );
        let ok = matches!(got, Ok(Some(_)));
        drop(got);
        stop.store(true, std::sync::atomic::Ordering::SeqCst);
        for r in readers {
            r.join().unwrap();
        }
        assert!(ok, "the exclusive lock was not had within 2 s");
    }

    #[test]
    fn a_linked_lock_file_is_refused_and_nothing_is_made_through_it() {
        let d = tempfile::tempdir().unwrap();
        let outside = tempfile::tempdir().unwrap();
        let target = outside.path().join("made-here");
        std::os::unix::fs::symlink(&target, d.path().join(super::super::LOCK_FILE)).unwrap();
        assert!(matches!(
            mailbox(d.path(), Mode::Exclusive, Wait::No, true),
            Err(LockError::Io(..))
        ));
        assert!(!target.exists());
    }
}
