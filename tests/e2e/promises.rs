//! reconstruct's promises, one test per class of what broke them (issue 11):
//! each asserts the rule (no UID given twice under one UIDVALIDITY, no flag lost
//! where its record verifies or applied to other content, no file replaced,
//! nothing outside the store touched, no hang, nothing removed that exists), on
//! damage an administrator meets. tests/crash.rs holds the randomized suite and
//! tests/bitflip.rs the single-bit experiment.

use crate::util::*;
use std::collections::BTreeSet;
use std::path::Path;
use std::process::{Command, Stdio};
use std::time::{Duration, Instant};

fn joe(s: &Store) {
    s.run(&["user", "add", "joe", "ann"]).ok();
}

fn uids(d: &serde_json::Value) -> Vec<u64> {
    messages(d)
        .iter()
        .map(|m| m["uid"].as_u64().unwrap())
        .collect()
}

fn flags_of(d: &serde_json::Value, uid: u64) -> BTreeSet<String> {
    messages(d)
        .iter()
        .find(|m| m["uid"] == uid)
        .map(|m| {
            m["flags"]
                .as_array()
                .unwrap()
                .iter()
                .map(|f| f.as_str().unwrap().to_owned())
                .collect()
        })
        .unwrap_or_default()
}

/// Runs with a deadline: a hang is a failure, not a stuck suite.
fn bounded(s: &Store, args: &[&str]) -> Run {
    let mut c = s.cmd();
    c.args(args)
        .stdin(Stdio::null())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped());
    let mut child = c.spawn().unwrap();
    let start = Instant::now();
    while child.try_wait().unwrap().is_none() {
        if start.elapsed() > Duration::from_secs(20) {
            let _ = child.kill();
            panic!("{args:?} hung");
        }
        std::thread::sleep(Duration::from_millis(20));
    }
    let o = child.wait_with_output().unwrap();
    Run {
        code: o.status.code().unwrap_or(-1),
        stdout: String::from_utf8_lossy(&o.stdout).into_owned(),
        stderr: String::from_utf8_lossy(&o.stderr).into_owned(),
    }
}

/// Offset of the current header in an index file: the copy whose UIDVALIDITY is
/// `uv` (redb may keep stale pages, but they hold the same value here).
fn header_offsets(bytes: &[u8], uv: u32) -> Vec<usize> {
    let magic = b"MSGSIDX\0";
    (0..bytes.len().saturating_sub(16))
        .filter(|&i| &bytes[i..i + 8] == magic && bytes[i + 12..i + 16] == uv.to_le_bytes())
        .collect()
}

/// Class 1: a lost index never lowers UIDNEXT, so the next delivery never gets a
/// UID clients saw, and whichever command chose a new UIDVALIDITY says so.
#[test]
fn class1_no_uid_reused_after_the_index_or_the_list_is_lost() {
    let s = Store::new();
    joe(&s);
    for i in 0..5 {
        s.deliver("joe", &sample(i));
    }
    s.run(&["expunge", "joe", "5"]).ok();
    let uv = s.dump("joe")["uidvalidity"].clone();
    std::fs::remove_file(s.dir("users/joe/msgstore.index")).unwrap();
    s.run(&["reconstruct", "joe"]).ok();
    assert_eq!(s.dump("joe")["uidvalidity"], uv);
    let uid = s.deliver("joe", &sample(9));
    assert!(uid > 5, "UID {uid} given again after the index was lost");

    // Both the index and the list lost: a new UIDVALIDITY is unavoidable, and the
    // command that chose it reports it.
    std::fs::remove_file(s.dir("users/joe/msgstore.index")).unwrap();
    std::fs::remove_file(s.dir("mailboxes.redb")).unwrap();
    let m = s.run(&["--json", "reconstruct", "-m"]);
    let r = s.json(&["reconstruct", "joe"]);
    let now = s.dump("joe")["uidvalidity"].clone();
    if now != uv {
        let said = m.stdout.contains("\"uidvalidity_from\":\"new\"")
            || m.stdout.contains("\"uidvalidity_from\": \"new\"")
            || r.to_string().contains("\"uidvalidity_changed\":true");
        assert!(said, "UIDVALIDITY changed silently: -m {} / {r}", m.stdout);
    }
}

/// Class 3: `--quick` never copies an unverified header anywhere; the next full
/// run keeps UIDVALIDITY and every flag.
#[test]
fn class3_quick_never_trusts_a_flipped_header() {
    let s = Store::new();
    joe(&s);
    for i in 0..4 {
        s.deliver("joe", &sample(i));
    }
    s.run(&["flags", "joe", "2", "--add", "\\Flagged", "--add", "$Work"])
        .ok();
    let before = s.dump("joe");
    let uv = before["uidvalidity"].as_u64().unwrap() as u32;
    let path = s.dir("users/joe/msgstore.index");
    let mut bytes = std::fs::read(&path).unwrap();
    let at = header_offsets(&bytes, uv);
    assert!(!at.is_empty(), "no header found");
    for a in at {
        bytes[a + 12] ^= 0x10;
    }
    std::fs::write(&path, &bytes).unwrap();
    let list_before = s.json(&["mailbox", "list"]);
    bounded(&s, &["reconstruct", "--quick", "joe"]);
    let list_after = s.json(&["mailbox", "list"]);
    assert_eq!(
        list_before["mailboxes"][0]["uidvalidity"], list_after["mailboxes"][0]["uidvalidity"],
        "--quick wrote an unverified UIDVALIDITY into the list"
    );
    s.run(&["reconstruct", "joe"]);
    let after = s.dump("joe");
    assert_eq!(after["uidvalidity"], before["uidvalidity"]);
    assert_eq!(uids(&after), uids(&before));
    assert_eq!(flags_of(&after, 2), flags_of(&before, 2));
}

/// Class 4: another mailbox's index is never adopted: the mailbox keeps its
/// UIDVALIDITY, and no flag set on the other mailbox's mail lands on its own.
#[test]
fn class4_a_foreign_index_is_set_aside_and_its_flags_go_nowhere() {
    let s = Store::new();
    joe(&s);
    s.deliver("joe", &sample(1));
    s.deliver("joe", &sample(2));
    s.deliver("ann", &sample(3));
    s.run(&["flags", "ann", "1", "--add", "\\Deleted", "--add", "$Junk"])
        .ok();
    let uv = s.dump("joe")["uidvalidity"].clone();
    std::fs::copy(
        s.dir("users/ann/msgstore.index"),
        s.dir("users/joe/msgstore.index"),
    )
    .unwrap();
    let r = s.run(&["--json", "reconstruct", "joe"]);
    assert!(
        r.stdout.contains("another mailbox"),
        "not reported: {}",
        r.stdout
    );
    let d = s.dump("joe");
    assert_eq!(d["uidvalidity"], uv);
    assert_eq!(messages(&d).len(), 2);
    for m in messages(&d) {
        assert_eq!(m["flags"], serde_json::json!([]), "flags moved: {m}");
    }
    // So the next expunge deletes nothing joe never flagged.
    s.run(&["expunge", "joe"]).ok();
    assert_eq!(messages(&s.dump("joe")).len(), 2);

    // Two folders' directories swapped: neither takes the other's flags.
    s.run(&["mailbox", "create", "joe/a"]).ok();
    s.run(&["mailbox", "create", "joe/b"]).ok();
    s.deliver("joe/a", &sample(10));
    s.deliver("joe/b", &sample(11));
    s.run(&["flags", "joe/a", "1", "--add", "\\Deleted"]).ok();
    let (a, b) = (s.dir("users/joe/a"), s.dir("users/joe/b"));
    let tmp = s.dir("users/joe/swap");
    std::fs::rename(&a, &tmp).unwrap();
    std::fs::rename(&b, &a).unwrap();
    std::fs::rename(&tmp, &b).unwrap();
    let r = s.run(&["reconstruct", "-r", "joe"]);
    assert!(
        r.stdout.contains("another mailbox"),
        "swap not reported: {}",
        r.stdout
    );
    for m in ["joe/a", "joe/b"] {
        for msg in messages(&s.dump(m)) {
            assert_eq!(msg["flags"], serde_json::json!([]), "{m}: {msg}");
        }
    }
}

/// Class 5: at the end of the UID space nothing is replaced: every message is
/// still there, the mailbox gets a new UIDVALIDITY with a warning, every UID is
/// below UIDNEXT, and what is not a message file is left as it was.
#[test]
fn class5_renumbering_replaces_nothing_and_uid_exhaustion_says_so() {
    let s = Store::new();
    joe(&s);
    s.deliver("joe", &sample(1));
    s.deliver("joe", &sample(2));
    let dir = s.dir("users/joe");
    std::fs::write(dir.join("4294967295."), sample(3)).unwrap();
    let mut one = std::fs::read(dir.join("1.")).unwrap();
    one.extend_from_slice(b"changed\r\n");
    std::fs::write(dir.join("1."), &one).unwrap();
    let mut two = std::fs::read(dir.join("2.")).unwrap();
    two.extend_from_slice(b"changed too\r\n");
    std::fs::write(dir.join("2."), &two).unwrap();
    let outside = s._tmp.path().join("outside");
    std::fs::write(&outside, b"not mail").unwrap();
    std::os::unix::fs::symlink(&outside, dir.join("4.")).unwrap();
    std::fs::create_dir(dir.join("5.")).unwrap();
    let want: BTreeSet<String> = [guid(&one), guid(&two), guid(&sample(3))].into();
    let uv = s.dump("joe")["uidvalidity"].clone();
    let r = s.run(&["reconstruct", "joe"]);
    assert!(
        r.stdout.contains("UIDVALIDITY") || r.stderr.contains("UIDVALIDITY"),
        "no warning: {}{}",
        r.stdout,
        r.stderr
    );
    let d = s.dump("joe");
    assert_ne!(d["uidvalidity"], uv);
    let have: BTreeSet<String> = messages(&d)
        .iter()
        .map(|m| m["guid"].as_str().unwrap().to_owned())
        .collect();
    assert_eq!(have, want, "a message was lost");
    let next = d["uidnext"].as_u64().unwrap();
    assert!(uids(&d).iter().all(|u| *u < next));
    assert!(dir.join("4.").symlink_metadata().unwrap().is_symlink());
    assert!(dir.join("5.").is_dir());
    assert_eq!(std::fs::read(&outside).unwrap(), b"not mail");
    // And the next run has nothing to do and fails nothing.
    let again = s.json(&["reconstruct", "joe"]);
    assert_eq!(again["total"]["failed"], 0);
    assert_eq!(s.dump("joe")["messages"], d["messages"]);
}

/// Class 6: a FIFO where a database or an index belongs blocks nothing; a
/// symlink is never followed out of the store.
#[test]
fn class6_fifos_do_not_hang_and_symlinks_are_not_followed() {
    for file in ["users/joe/msgstore.index", "users.redb", "mailboxes.redb"] {
        let s = Store::new();
        joe(&s);
        s.deliver("joe", &sample(1));
        let p = s.dir(file);
        std::fs::remove_file(&p).unwrap();
        let ok = Command::new("mkfifo").arg(&p).status().unwrap();
        assert!(ok.success());
        for args in [
            &["reconstruct", "joe"][..],
            &["reconstruct", "-r", "-n"],
            &["reconstruct", "-m", "-n"],
            &["reconstruct", "--quick", "joe"],
            &["dump", "joe"],
            &["x-build-user-db", "-n"],
        ] {
            let r = bounded(&s, args);
            assert!(r.code != -1, "{file}: {args:?} was killed");
        }
    }
    // A symlinked index pointing outside: neither deliver nor reconstruct
    // writes through it.
    let s = Store::new();
    joe(&s);
    s.deliver("joe", &sample(1));
    let outside = s._tmp.path().join("outside.index");
    let idx = s.dir("users/joe/msgstore.index");
    std::fs::rename(&idx, &outside).unwrap();
    std::os::unix::fs::symlink(&outside, &idx).unwrap();
    let before = std::fs::read(&outside).unwrap();
    s.run_stdin(&["deliver", "joe"], &sample(2));
    bounded(&s, &["reconstruct", "joe"]);
    assert_eq!(
        std::fs::read(&outside).unwrap(),
        before,
        "written through a symlink"
    );
    // A dangling lock symlink: its target is never created.
    let target = s._tmp.path().join("made-by-msgstore");
    let lock = s.dir("users/joe/msgstore.lock");
    let _ = std::fs::remove_file(&lock);
    std::os::unix::fs::symlink(&target, &lock).unwrap();
    bounded(&s, &["reconstruct", "joe"]);
    s.run_stdin(&["deliver", "joe"], &sample(3));
    assert!(!target.exists(), "a file was created outside the store");
}

/// Class 7: an entry or record goes only when its directory is known to be gone:
/// an older users.redb, or a user directory that is a symlink, removes nothing
/// that exists.
#[test]
fn class7_nothing_is_removed_that_still_exists() {
    let s = Store::new();
    joe(&s);
    let old_users = std::fs::read(s.dir("users.redb")).unwrap();
    s.run(&["user", "add", "bob"]).ok();
    s.run(&["mailbox", "create", "bob/work"]).ok();
    s.deliver("bob/work", &sample(1));
    let list = s.json(&["mailbox", "list"]);
    std::fs::write(s.dir("users.redb"), old_users).unwrap();
    let m = s.run(&["--json", "reconstruct", "-m"]).json();
    assert_eq!(m["removed"], serde_json::json!([]), "{m}");
    let after = s.json(&["mailbox", "list"]);
    let ids = |l: &serde_json::Value| -> Vec<(String, u64, u64)> {
        l["mailboxes"]
            .as_array()
            .unwrap()
            .iter()
            .map(|e| {
                (
                    e["name"].as_str().unwrap().to_owned(),
                    e["id"].as_u64().unwrap(),
                    e["uidvalidity"].as_u64().unwrap(),
                )
            })
            .collect()
    };
    assert_eq!(
        ids(&after),
        ids(&list),
        "entries, ids or UIDVALIDITY changed although every directory is there"
    );
    assert_eq!(messages(&s.dump("bob/work")).len(), 1);

    // users/ann a symlink: x-build-user-db keeps or refuses, never drops silently.
    let real = s._tmp.path().join("ann-elsewhere");
    std::fs::rename(s.dir("users/ann"), &real).unwrap();
    std::os::unix::fs::symlink(&real, s.dir("users/ann")).unwrap();
    let r = s.run(&["x-build-user-db"]);
    let users = s.run(&["user", "list"]).stdout;
    assert!(
        users.lines().any(|l| l.starts_with("ann")) || r.code != 0,
        "ann dropped with exit 0: {}{}",
        r.stdout,
        r.stderr
    );
}

/// Class 8: what reconstruct cannot rebuild is reported, with the next step; one
/// stray file does not stop the rest.
#[test]
fn class8_silence_and_one_stray_file() {
    let s = Store::new();
    joe(&s);
    s.run(&["mailbox", "create", "joe/work"]).ok();
    s.deliver("ann", &sample(1));
    std::fs::remove_dir_all(s.dir("users/joe/work")).unwrap();
    let r = s.run(&["reconstruct", "-r"]);
    assert_ne!(
        r.code, 0,
        "a listed mailbox without a directory passed as ok"
    );
    assert!(r.stdout.contains("reconstruct -m"), "{}", r.stdout);

    // A regular file where a user directory belongs, and no mailbox list.
    let s = Store::new();
    joe(&s);
    s.deliver("joe", &sample(1));
    std::fs::remove_dir_all(s.dir("users/ann")).unwrap();
    std::fs::write(s.dir("users/ann"), b"stray").unwrap();
    std::fs::remove_file(s.dir("mailboxes.redb")).unwrap();
    let r = s.run(&["reconstruct", "-m"]);
    assert_ne!(
        r.code, 2,
        "one stray file aborted the rebuild: {}",
        r.stderr
    );
    let list = s.run(&["mailbox", "list"]).stdout;
    assert!(list.contains("Other Users/joe"), "{list}");
}

/// Class 10: a failure to write the output is an error, not a success.
#[test]
fn class10_a_full_stdout_is_an_error() {
    if !Path::new("/dev/full").exists() {
        return skip("/dev/full is missing");
    }
    let s = Store::new();
    joe(&s);
    let full = std::fs::File::options()
        .write(true)
        .open("/dev/full")
        .unwrap();
    let st = s
        .cmd()
        .args(["mailbox", "list"])
        .stdout(full)
        .stderr(Stdio::piped())
        .output()
        .unwrap();
    assert_ne!(st.status.code(), Some(0));
    assert!(String::from_utf8_lossy(&st.stderr).contains("standard output"));
}

/// Class 9: writers wait for a rebuild of the list instead of failing, and never
/// send the administrator to repair a healthy store; the rebuild keeps every
/// UIDVALIDITY.
#[test]
fn class9_writers_wait_while_the_list_is_rebuilt() {
    let s = Store::new();
    joe(&s);
    s.run(&["mailbox", "create", "joe/work"]).ok();
    let uv = s.dump("joe")["uidvalidity"].clone();
    let root = s.root.clone();
    let stop = std::sync::Arc::new(std::sync::atomic::AtomicBool::new(false));
    let stop2 = stop.clone();
    let rebuilds = std::thread::spawn(move || {
        let mut n = 0;
        while !stop2.load(std::sync::atomic::Ordering::Relaxed) && n < 40 {
            let o = Command::new(BIN)
                .arg("--store")
                .arg(&root)
                .args(["reconstruct", "-m"])
                .env_remove("MSGSTORE_ROOT")
                .output()
                .unwrap();
            assert_eq!(
                o.status.code(),
                Some(0),
                "{}",
                String::from_utf8_lossy(&o.stderr)
            );
            n += 1;
        }
        n
    });
    let mut delivered = 0;
    for i in 0..20u64 {
        let mailbox = if i % 2 == 0 { "joe" } else { "joe/work" };
        let mut c = s.cmd();
        c.env("MSGSTORE_LOCK_TIMEOUT", "30");
        let mut child = c
            .args(["deliver", mailbox])
            .stdin(Stdio::piped())
            .stdout(Stdio::piped())
            .stderr(Stdio::piped())
            .spawn()
            .unwrap();
        use std::io::Write;
        child
            .stdin
            .take()
            .unwrap()
            .write_all(&sample(100 + i))
            .unwrap();
        let o = child.wait_with_output().unwrap();
        let err = String::from_utf8_lossy(&o.stderr);
        assert_eq!(o.status.code(), Some(0), "deliver failed: {err}");
        assert!(!err.contains("reconstruct"), "sent to repair: {err}");
        delivered += 1;
        let f = s.run(&["flags", mailbox, "1:*", "--add", "\\Seen"]);
        assert!(
            !f.stderr.contains("run `msgstore reconstruct"),
            "{}",
            f.stderr
        );
    }
    stop.store(true, std::sync::atomic::Ordering::Relaxed);
    let n = rebuilds.join().unwrap();
    assert!(n > 0);
    assert_eq!(s.dump("joe")["uidvalidity"], uv);
    assert_eq!(
        messages(&s.dump("joe")).len() + messages(&s.dump("joe/work")).len(),
        delivered
    );
}
