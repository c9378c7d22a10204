//! The mailbox lock and the mailbox-list lock.
//!
//! A mailbox lock is an advisory `flock` on `msgstore.lock` in the mailbox directory:
//! - shared: the mailbox is open for reading (`dump`; and, in a future IMAP server,
//!   every session that has the mailbox selected, for as long as it is selected);
//! - exclusive: somebody writes the index (`deliver`, `flags`, `expunge`, for the
//!   milliseconds they commit) or rebuilds it (`reconstruct`, for the whole rebuild).
//!
//! So `reconstruct` finds a selected mailbox busy and says so, as the manual demands.
//! A server writes through its own process's index handle, under its own in-process
//! lock; an outside writer waits for the sessions (`MSGSTORE_LOCK_TIMEOUT`), so
//! deliveries to open mailboxes should go through the server. The kernel drops a lock
//! when its holder dies, so a crash never leaves one behind.
//!
//! The mailbox-list lock is the same on the store directory itself: `reconstruct -m`
//! holds it exclusively while it rebuilds; create, delete and rename take it
//! exclusively for their short commits, readers of the list take it shared.

use crate::error::{Error, Result};
use std::fs::{File, OpenOptions, TryLockError};
use std::path::Path;
use std::time::{Duration, Instant};

#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Mode {
    Shared,
    Exclusive,
}

/// How long to wait for a busy lock.
#[derive(Clone, Copy, Debug)]
pub enum Wait {
    No,
    For(Duration),
    Forever,
}

impl Wait {
    /// Writers that a person or an MTA started wait a little before they give up;
    /// `MSGSTORE_LOCK_TIMEOUT` (seconds) changes it.
    pub fn default_for_writers() -> Wait {
        let secs = std::env::var("MSGSTORE_LOCK_TIMEOUT")
            .ok()
            .and_then(|s| s.parse::<u64>().ok())
            .unwrap_or(10);
        Wait::For(Duration::from_secs(secs))
    }
}

/// Held until dropped.
#[derive(Debug)]
pub struct Lock {
    _file: File,
}

/// Locks a mailbox directory. `create` makes the lock file if missing (a dry run
/// passes false so it changes nothing; with no lock file nobody holds the lock).
pub fn lock_mailbox(
    dir: &Path,
    mode: Mode,
    wait: Wait,
    create: bool,
    busy: impl Fn() -> Error,
) -> Result<Option<Lock>> {
    let path = dir.join(super::LOCK_FILE);
    let file = match OpenOptions::new()
        .read(true)
        .write(create)
        .create(create)
        .open(&path)
    {
        Ok(f) => f,
        Err(e) if !create && e.kind() == std::io::ErrorKind::NotFound => return Ok(None),
        Err(e) => return Err(Error::io(&path, "open lock file", e)),
    };
    acquire(file, &path, mode, wait, busy).map(Some)
}

/// Locks the mailbox list (the store directory).
pub fn lock_store(root: &Path, mode: Mode, wait: Wait, busy: impl Fn() -> Error) -> Result<Lock> {
    let file = File::open(root).map_err(|e| Error::io(root, "open store directory", e))?;
    acquire(file, root, mode, wait, busy)
}

fn acquire(
    file: File,
    path: &Path,
    mode: Mode,
    wait: Wait,
    busy: impl Fn() -> Error,
) -> Result<Lock> {
    let start = Instant::now();
    let mut pause = Duration::from_millis(2);
    loop {
        let r = match mode {
            Mode::Shared => file.try_lock_shared(),
            Mode::Exclusive => file.try_lock(),
        };
        match r {
            Ok(()) => return Ok(Lock { _file: file }),
            Err(TryLockError::Error(e)) => return Err(Error::io(path, "lock", e)),
            Err(TryLockError::WouldBlock) => {
                let give_up = match wait {
                    Wait::No => true,
                    Wait::For(d) => start.elapsed() >= d,
                    Wait::Forever => false,
                };
                if give_up {
                    return Err(busy());
                }
                std::thread::sleep(pause);
                pause = (pause * 2).min(Duration::from_millis(100));
            }
        }
    }
}
