//! Test-only fault points: `MSGSTORE_FAULT=<step>` aborts the process at that named
//! step, the way a power cut or `kill -9` would, so tests can prove the write order
//! leaves something `reconstruct` repairs. Unset (always, in production), a point
//! costs one cached comparison.

use std::sync::OnceLock;

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
