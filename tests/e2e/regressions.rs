//! Regression tests for bugs found by the crash, corruption and hostile-input
//! harnesses (`tests/crash.rs`, `tests/corruption.rs`, `tests/hostile.rs`), each
//! named after what broke.

use crate::util::*;

/// A killed writer leaves users.redb / mailboxes.redb needing redb's crash recovery,
/// which a read-only open cannot do: `mailbox list`, `user list`, and the salvage in
/// `reconstruct -m` / `x-build-user-db` took that for damage, so the rebuilds threw
/// away every user record and list entry after a mere crash.
#[test]
fn killed_list_writer_leaves_databases_readable_and_records_kept() {
    let s = Store::new();
    s.run(&["user", "add", "joe", "ann"]).ok();
    s.run(&["mailbox", "create", "joe/keep"]).ok();
    let before = s.json(&["mailbox", "list"]);
    let r = s.run_env(
        &["mailbox", "create", "joe/x"],
        &[("MSGSTORE_FAULT", "list-before-commit")],
    );
    assert_ne!(r.code, 0);
    let r = s.run_env(
        &["user", "add", "bob"],
        &[("MSGSTORE_FAULT", "list-before-commit")],
    );
    assert_ne!(r.code, 0);
    // Readers still read (and change nothing).
    assert_eq!(s.json(&["mailbox", "list"]), before);
    let users = s.run(&["user", "list"]).ok().stdout;
    assert!(users.contains("joe\tstatus=active"), "{users}");
    // The rebuilds keep every record that was committed.
    let r = s.json(&["x-build-user-db"]);
    assert_eq!(r["kept"], serde_json::json!(["ann", "joe"]), "{r}");
    assert!(r.get("moved_aside").is_none_or(|m| m.is_null()), "{r}");
    let r = s.json(&["reconstruct", "-m"]);
    assert_eq!(r["removed"], serde_json::json!([]), "{r}");
    assert!(r.get("moved_aside").is_none_or(|m| m.is_null()), "{r}");
    let after = s.json(&["mailbox", "list"]);
    for e in before["mailboxes"].as_array().unwrap() {
        assert!(
            after["mailboxes"].as_array().unwrap().contains(e),
            "{e} lost: {after}"
        );
    }
    let users = s.run(&["user", "list"]).ok().stdout;
    assert!(users.contains("joe\tstatus=active"), "{users}");
}
