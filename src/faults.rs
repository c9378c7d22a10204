//! Test-only fault points: `MSGSTORE_FAULT=<step>` aborts the process at that named
//! step, the way a power cut or `kill -9` would, so tests can prove the write order
//! leaves something `reconstruct` repairs. `MSGSTORE_FAULT=enospc-<step>` instead
//! makes the I/O at an [`io_error`] step fail with "no space left on device", so
//! tests can prove a full disk fails cleanly and leaves the store as it was. Unset
//! (always, in production), a point costs one cached comparison.
//!
//! Every step name is listed in [`POINTS`] (and [`ENOSPC_POINTS`]); a test crosses
//! each with each operation.

use std::sync::OnceLock;

/// Every abort point, in write order per operation.
pub const POINTS: &[&str] = &[
    "deliver-before-fsync",
    "deliver-after-fsync",
    "deliver-after-link",
    "deliver-before-commit",
    "deliver-after-commit",
    "expunge-after-first-unlink",
    "expunge-after-unlink",
    "index-before-commit",
    "index-after-commit",
    "list-before-commit",
    "list-after-commit",
    "mailbox-create-after-mkdir",
    "mailbox-rename-after-move",
    "mailbox-delete-after-list",
    "rename-before-sync",
    "reconstruct-after-bad",
    "reconstruct-after-renumber",
    "reconstruct-after-set-aside",
    "reconstruct-before-commit",
    "reconstruct-before-index-rename",
    "reconstruct-before-mirror",
    "db-rebuild-before-write",
    "db-rebuild-before-rename",
];

/// Every ENOSPC point (armed as `enospc-<step>`).
pub const ENOSPC_POINTS: &[&str] = &["deliver-write", "index-commit", "list-commit"];

fn armed() -> Option<&'static str> {
    static FAULT: OnceLock<Option<String>> = OnceLock::new();
    FAULT
        .get_or_init(|| {
            std::env::var("MSGSTORE_FAULT")
                .ok()
                .filter(|s| !s.is_empty())
        })
        .as_deref()
}

/// Aborts the process if `step` is the armed fault point.
pub fn point(step: &str) {
    if armed() == Some(step) {
        eprintln!("msgstore: fault point {step}: aborting as asked by MSGSTORE_FAULT");
        std::process::abort();
    }
}

/// "No space left on device" if `enospc-<step>` is armed: the caller fails its I/O
/// with this error, as a full disk would.
pub fn io_error(step: &str) -> Option<std::io::Error> {
    let armed = armed()?.strip_prefix("enospc-")?;
    (armed == step).then(|| std::io::Error::from_raw_os_error(28))
}
