//! reconstruct, reconstruct -m and x-build-user-db against each kind of damage.
//! Every test asserts the invariants (nothing lost, nothing expunged back, flags
//! kept where their record survived, no UID reused or lowered), not only counts.

use crate::util::*;
use std::collections::BTreeMap;

type Contents = BTreeMap<String, (u32, Vec<String>)>;

/// joe with five messages, some flagged; returns (contents, uidvalidity, uidnext).
fn joe_with_mail(s: &Store, mailbox: &str) -> (Contents, u64, u32) {
    if s.run(&["user", "list"])
        .stdout
        .lines()
        .all(|l| !l.starts_with("joe\t"))
    {
        s.run(&["user", "add", "joe"]).ok();
    }
    if mailbox != "joe" {
        s.run(&["mailbox", "create", mailbox]).ok();
    }
    for i in 0..5 {
        s.deliver(mailbox, &sample(i));
    }
    s.run(&["flags", mailbox, "1:3", "--add", "\\Seen"]).ok();
    s.run(&[
        "flags",
        mailbox,
        "2",
        "--add",
        "$Project",
        "--add",
        "\\Flagged",
    ])
    .ok();
    let d = s.dump(mailbox);
    (
        s.contents(mailbox),
        d["uidvalidity"].as_u64().unwrap(),
        d["uidnext"].as_u64().unwrap() as u32,
    )
}

/// A copy as a backup tool makes it (`cp -a`).
fn cp_a(from: &std::path::Path, to: &std::path::Path) {
    let ok = std::process::Command::new("cp")
        .arg("-a")
        .arg(from)
        .arg(to)
        .status()
        .unwrap();
    assert!(ok.success());
}

fn uidnext(s: &Store, m: &str) -> u32 {
    s.dump(m)["uidnext"].as_u64().unwrap() as u32
}

fn report<'a>(r: &'a serde_json::Value, mailbox: &str) -> &'a serde_json::Value {
    r["mailboxes"]
        .as_array()
        .unwrap()
        .iter()
        .find(|m| m["mailbox"] == mailbox)
        .unwrap_or_else(|| panic!("no report for {mailbox}: {r}"))
}

#[test]
fn a_index_file_deleted() {
    let s = Store::new();
    let (before, uv, next) = joe_with_mail(&s, "joe");
    std::fs::remove_file(s.dir("users/joe/msgstore.index")).unwrap();
    let r = s.json(&["reconstruct", "joe"]);
    let m = report(&r, "Other Users/joe");
    assert_eq!(m["added"], serde_json::json!([1, 2, 3, 4, 5]));
    assert_eq!(m["uidvalidity_changed"], false);
    let d = s.dump("joe");
    assert_eq!(
        d["uidvalidity"].as_u64().unwrap(),
        uv,
        "UIDVALIDITY comes back from the mailbox list's mirror"
    );
    assert_nothing_lost(
        &before,
        &s.contents("joe"),
        &[],
        false,
        next,
        uidnext(&s, "joe"),
    );
    // Same UIDs, flags gone with their records.
    for (g, (uid, _)) in &before {
        assert_eq!(s.contents("joe")[g].0, *uid);
    }
}

#[test]
fn a_without_mirror_the_report_warns_that_uidvalidity_changed() {
    let s = Store::new();
    let (before, uv, next) = joe_with_mail(&s, "joe");
    // UIDVALIDITYs come from the clock: let it move past the one given at creation.
    std::thread::sleep(std::time::Duration::from_millis(1100));
    std::fs::remove_file(s.dir("users/joe/msgstore.index")).unwrap();
    std::fs::remove_file(s.dir("mailboxes.redb")).unwrap();
    let r = s.run(&["reconstruct", "joe"]).ok();
    assert!(
        r.stdout.contains("clients must resynchronise"),
        "{}",
        r.stdout
    );
    assert!(
        r.stdout.contains("\n  added: 1:5 "),
        "the added UIDs, as a set: {}",
        r.stdout
    );
    assert_ne!(s.dump("joe")["uidvalidity"].as_u64().unwrap(), uv);
    assert_nothing_lost(
        &before,
        &s.contents("joe"),
        &[],
        false,
        next,
        uidnext(&s, "joe"),
    );
}

#[test]
fn b_index_truncated_is_moved_aside_and_rebuilt() {
    let s = Store::new();
    let (before, uv, next) = joe_with_mail(&s, "joe");
    let idx = s.dir("users/joe/msgstore.index");
    let len = std::fs::metadata(&idx).unwrap().len();
    std::fs::OpenOptions::new()
        .write(true)
        .open(&idx)
        .unwrap()
        .set_len(len / 3)
        .unwrap();
    // Normal commands refuse a damaged index and name the remedy.
    let r = s.run(&["dump", "joe"]).code(2);
    assert!(r.stderr.contains("reconstruct"), "{}", r.stderr);
    let r = s.json(&["reconstruct", "joe"]);
    let m = report(&r, "Other Users/joe");
    let aside = m["moved_aside"]
        .as_str()
        .expect("damaged index moved aside");
    assert!(aside.starts_with("msgstore.index.corrupt-"));
    assert!(
        s.dir("users/joe").join(aside).is_file(),
        "the damaged file is kept"
    );
    assert_eq!(s.dump("joe")["uidvalidity"].as_u64().unwrap(), uv);
    assert_nothing_lost(
        &before,
        &s.contents("joe"),
        &[],
        false,
        next,
        uidnext(&s, "joe"),
    );
}

#[test]
fn b_index_with_bytes_overwritten_in_the_middle() {
    let s = Store::new();
    let (before, _, next) = joe_with_mail(&s, "joe");
    let idx = s.dir("users/joe/msgstore.index");
    let mut bytes = std::fs::read(&idx).unwrap();
    let mid = bytes.len() / 2;
    let end = mid + 4096.min(bytes.len() - mid);
    for (i, b) in bytes[mid..end].iter_mut().enumerate() {
        *b = (i as u8).wrapping_mul(31) ^ 0x5A;
    }
    std::fs::write(&idx, &bytes).unwrap();
    let r = s.run(&["reconstruct", "joe"]).ok();
    let after = s.contents("joe");
    // Whether the overwritten pages held live data or not, nothing is lost; if
    // the index was judged damaged it was kept aside.
    let moved = std::fs::read_dir(s.dir("users/joe"))
        .unwrap()
        .flatten()
        .any(|e| {
            e.file_name()
                .to_string_lossy()
                .starts_with("msgstore.index.corrupt-")
        });
    assert_nothing_lost(&before, &after, &[], !moved, next, uidnext(&s, "joe"));
    assert!(!r.stdout.is_empty());
    // And the repaired mailbox opens cleanly afterwards: a second run changes nothing.
    let again = s.json(&["reconstruct", "joe"]);
    assert_eq!(report(&again, "Other Users/joe")["rewritten"], false);
}

#[test]
fn c_delivery_interrupted_before_commit() {
    let s = Store::new();
    let (before, _, next) = joe_with_mail(&s, "joe");
    let msg = sample(100);
    let r = s
        .cmd()
        .args(["deliver", "joe"])
        .env("MSGSTORE_FAULT", "deliver-before-commit")
        .stdin(std::process::Stdio::piped())
        .stdout(std::process::Stdio::piped())
        .stderr(std::process::Stdio::piped())
        .spawn()
        .unwrap();
    let mut r = r;
    use std::io::Write;
    r.stdin.take().unwrap().write_all(&msg).unwrap();
    let o = r.wait_with_output().unwrap();
    assert!(!o.status.success(), "the fault point aborts");
    assert!(
        o.stdout.is_empty(),
        "no UID was reported for the interrupted delivery"
    );
    assert!(
        s.dir(&format!("users/joe/{next}.")).is_file(),
        "the file was written"
    );
    assert!(
        !s.contents("joe").contains_key(&guid(&msg)),
        "but has no record"
    );

    // Its UID was never committed, so it keeps it (it is at the index's UIDNEXT);
    // UIDNEXT moves on above what the mailbox list reserved.
    let r = s.json(&["reconstruct", "joe"]);
    assert_eq!(
        report(&r, "Other Users/joe")["added"],
        serde_json::json!([next])
    );
    let after = s.contents("joe");
    assert_eq!(after[&guid(&msg)].0, next);
    assert_nothing_lost(&before, &after, &[], true, next, uidnext(&s, "joe"));
}

#[test]
fn c_interrupted_delivery_below_uidnext_gets_a_new_uid() {
    let s = Store::new();
    let (before, _, next) = joe_with_mail(&s, "joe");
    let lost = sample(100);
    let tmp = tempfile::NamedTempFile::new().unwrap();
    std::fs::write(tmp.path(), &lost).unwrap();
    let o = s
        .cmd()
        .args(["deliver", "joe"])
        .arg(tmp.path())
        .env("MSGSTORE_FAULT", "deliver-before-commit")
        .output()
        .unwrap();
    assert!(!o.status.success());
    // A later delivery never overwrites the orphan: it takes the next UID, and
    // clients now see a UIDNEXT above the orphan's UID.
    let later = s.deliver("joe", &sample(101));
    assert_eq!(later, next + 1);
    assert_eq!(
        std::fs::read(s.dir(&format!("users/joe/{next}."))).unwrap(),
        lost
    );
    let bound = s.bound("joe");
    assert!(bound > next + 1);
    let r = s.json(&["reconstruct", "joe"]);
    let m = report(&r, "Other Users/joe");
    assert_eq!(m["renumbered"], serde_json::json!([[next, bound]]));
    let after = s.contents("joe");
    assert_eq!(after[&guid(&lost)].0, bound);
    assert!(!s.dir(&format!("users/joe/{next}.")).exists());
    assert_nothing_lost(&before, &after, &[], true, bound, uidnext(&s, "joe"));
}

#[test]
fn c_delivery_interrupted_after_fsync_leaves_a_temporary_file_that_is_removed() {
    let s = Store::new();
    let (before, _, next) = joe_with_mail(&s, "joe");
    let o = s
        .cmd()
        .args(["deliver", "joe"])
        .arg(fixture("plain.eml"))
        .env("MSGSTORE_FAULT", "deliver-after-fsync")
        .output()
        .unwrap();
    assert!(!o.status.success());
    let temps: Vec<_> = std::fs::read_dir(s.dir("users/joe"))
        .unwrap()
        .flatten()
        .filter(|e| e.file_name().to_string_lossy().starts_with("msgstore.tmp."))
        .collect();
    assert_eq!(temps.len(), 1);
    let r = s.json(&["reconstruct", "joe"]);
    assert_eq!(
        report(&r, "Other Users/joe")["temp_removed"]
            .as_array()
            .unwrap()
            .len(),
        1
    );
    assert!(!temps[0].path().exists());
    assert_nothing_lost(
        &before,
        &s.contents("joe"),
        &[],
        true,
        next,
        uidnext(&s, "joe"),
    );
}

#[test]
fn d_expunge_interrupted_between_unlink_and_commit() {
    let s = Store::new();
    let (before, _, next) = joe_with_mail(&s, "joe");
    s.run(&["flags", "joe", "2,4", "--add", "\\Deleted"]).ok();
    let before_flags = s.contents("joe");
    let gone: Vec<String> = before_flags
        .iter()
        .filter(|(_, (u, _))| *u == 2 || *u == 4)
        .map(|(g, _)| g.clone())
        .collect();
    let o = s.run_env(
        &["expunge", "joe"],
        &[("MSGSTORE_FAULT", "expunge-after-unlink")],
    );
    assert_ne!(o.code, 0);
    assert_eq!(
        s.dump("joe")["messages"].as_array().unwrap().len(),
        5,
        "records still there"
    );
    let r = s.json(&["reconstruct", "joe"]);
    assert_eq!(
        report(&r, "Other Users/joe")["dropped"],
        serde_json::json!([2, 4])
    );
    let after = s.contents("joe");
    assert_eq!(after.len(), 3);
    assert_nothing_lost(&before_flags, &after, &gone, true, next, uidnext(&s, "joe"));
    let _ = before;
}

#[test]
fn e_user_tree_restored_from_an_earlier_copy() {
    let s = Store::new();
    let (before, uv, _) = joe_with_mail(&s, "joe");
    s.run(&["mailbox", "create", "joe/sub"]).ok();
    s.deliver("joe/sub", &sample(50));
    let backup = s._tmp.path().join("backup-joe");
    cp_a(&s.dir("users/joe"), &backup);
    // Later: more mail, an expunge, and a routine reconstruct that refreshes the mirror.
    for i in 10..13 {
        s.deliver("joe", &sample(i));
    }
    s.run(&["expunge", "joe", "1"]).ok();
    s.run(&["reconstruct", "-r"]).ok();
    let seen_uidnext = uidnext(&s, "joe");
    // Disaster, then the restore.
    std::fs::remove_dir_all(s.dir("users/joe")).unwrap();
    std::fs::rename(&backup, s.dir("users/joe")).unwrap();
    let r = s.json(&["reconstruct", "-r", "joe"]);
    assert_eq!(r["total"]["failed"], 0);
    let after = s.contents("joe");
    assert_eq!(s.dump("joe")["uidvalidity"].as_u64().unwrap(), uv);
    // Everything in the copy is back with its flags, and UIDNEXT stays above every
    // UID clients have seen since.
    assert_nothing_lost(&before, &after, &[], true, seen_uidnext, uidnext(&s, "joe"));
    assert_eq!(s.contents("joe/sub").len(), 1);
}

/// Mail keeps arriving after a restore, before anyone runs reconstruct: no
/// writer gives a UID that named other (now lost) mail, and the flags the copy
/// brought back get MODSEQs above any a client saw, so CHANGEDSINCE shows them.
#[test]
fn e_writers_after_a_restore_give_no_uid_twice_and_raise_modseqs() {
    let s = Store::new();
    joe_with_mail(&s, "joe");
    let backup = s._tmp.path().join("backup-joe");
    cp_a(&s.dir("users/joe"), &backup);
    // Later: mail the restore will lose, a flag change it will undo.
    for i in 10..13 {
        s.deliver("joe", &sample(i));
    }
    s.run(&["flags", "joe", "1", "--remove", "\\Seen"]).ok();
    let seen = s.dump("joe");
    let seen_uids: Vec<u64> = seen["messages"]
        .as_array()
        .unwrap()
        .iter()
        .map(|m| m["uid"].as_u64().unwrap())
        .collect();
    let seen_modseq = seen["highestmodseq"].as_u64().unwrap();
    // The restore (rm and copy back: the inode numbers may well be the same).
    std::fs::remove_dir_all(s.dir("users/joe")).unwrap();
    cp_a(&backup, &s.dir("users/joe"));
    // Each kind of writer, before any repair.
    let uid = u64::from(s.deliver("joe", &sample(20)));
    assert!(
        seen_uids.iter().all(|u| uid > *u),
        "UID {uid} given again after a restore (clients saw {seen_uids:?})"
    );
    let d = s.dump("joe");
    assert_eq!(d["uidvalidity"], seen["uidvalidity"]);
    assert!(d["highestmodseq"].as_u64().unwrap() > seen_modseq);
    for m in d["messages"].as_array().unwrap() {
        assert!(
            m["modseq"].as_u64().unwrap() > seen_modseq,
            "UID {} kept MODSEQ {} <= {seen_modseq}: {m}",
            m["uid"],
            m["modseq"]
        );
    }
    // \Seen is back on UID 1 (the copy had it), under the raised MODSEQ.
    let one = &d["messages"][0];
    assert_eq!(one["uid"], 1);
    assert!(one["flags"].to_string().contains("Seen"), "{one}");
    // reconstruct afterwards changes no UID and lowers nothing.
    let r = s.json(&["reconstruct", "joe"]);
    assert_eq!(r["total"]["failed"], 0);
    let again = s.dump("joe");
    assert_eq!(again["messages"], d["messages"]);
    assert!(again["uidnext"].as_u64() >= d["uidnext"].as_u64());
}

#[test]
fn f_message_with_a_nul_byte_is_set_aside() {
    let s = Store::new();
    let (before, _, next) = joe_with_mail(&s, "joe");
    let bad = next + 3;
    std::fs::write(
        s.dir(&format!("users/joe/{bad}.")),
        b"Subject: x\r\n\r\nnul \0 byte\r\n",
    )
    .unwrap();
    std::fs::write(s.dir("users/joe/notes.txt"), b"left by an admin").unwrap();
    let r = s.json(&["reconstruct", "joe"]);
    let m = report(&r, "Other Users/joe");
    assert_eq!(m["bad"], serde_json::json!([format!("{bad}.BAD")]));
    assert_eq!(m["unknown_files"], serde_json::json!(["notes.txt"]));
    assert!(s.dir(&format!("users/joe/{bad}.BAD")).is_file());
    assert!(
        s.dir("users/joe/notes.txt").is_file(),
        "unknown files are left alone"
    );
    let after = s.contents("joe");
    assert_nothing_lost(&before, &after, &[], true, next, uidnext(&s, "joe"));
    assert_eq!(after.len(), 5);
    let text = s.run(&["reconstruct", "joe"]).ok().stdout;
    assert!(
        text.contains(&format!("{bad}.BAD")),
        "later runs still mention it: {text}"
    );
}

#[test]
fn g_user_database_overwritten_with_garbage() {
    let s = Store::new();
    let (before, uv, next) = joe_with_mail(&s, "joe");
    s.run(&["user", "add", "ann", "zoë"]).ok();
    let users_before = s.json(&["user", "list"]);
    std::fs::write(s.dir("users.redb"), vec![0xA5u8; 16384]).unwrap();
    let r = s.run(&["user", "list"]).code(2);
    assert!(
        r.stderr.contains("users.redb") && r.stderr.contains("x-build-user-db"),
        "{}",
        r.stderr
    );
    let r = s.run(&["reconstruct", "-m"]).code(2);
    assert!(r.stderr.contains("x-build-user-db"), "{}", r.stderr);
    let rep = s.json(&["x-build-user-db"]);
    assert_eq!(rep["added"], serde_json::json!(["ann", "joe", "zoë"]));
    assert!(
        rep["moved_aside"]
            .as_str()
            .unwrap()
            .starts_with("users.redb.corrupt-")
    );
    let names = |v: &serde_json::Value| {
        v["users"]
            .as_array()
            .unwrap()
            .iter()
            .map(|u| u["name"].as_str().unwrap().to_owned())
            .collect::<Vec<_>>()
    };
    assert_eq!(names(&s.json(&["user", "list"])), names(&users_before));
    let m = s.json(&["reconstruct", "-m"]);
    assert_eq!(m["removed"], serde_json::json!([]));
    assert!(m["kept"].as_array().unwrap().len() >= 3);
    assert_eq!(s.dump("joe")["uidvalidity"].as_u64().unwrap(), uv);
    assert_nothing_lost(
        &before,
        &s.contents("joe"),
        &[],
        true,
        next,
        uidnext(&s, "joe"),
    );
    // A second rebuild keeps the records it can read.
    let again = s.json(&["x-build-user-db"]);
    assert_eq!(again["kept"].as_array().unwrap().len(), 3);
    assert_eq!(again["added"], serde_json::json!([]));
}

#[test]
fn h_mailbox_list_deleted_uidvalidities_come_back_from_the_indexes() {
    let s = Store::new();
    joe_with_mail(&s, "joe");
    s.run(&["mailbox", "create", "joe/a/b"]).ok();
    s.run(&["mailbox", "create", "Public Folders/news"]).ok();
    let list_before = s.json(&["mailbox", "list"]);
    std::fs::remove_file(s.dir("mailboxes.redb")).unwrap();
    let r = s.run(&["mailbox", "list"]).code(2);
    assert!(r.stderr.contains("reconstruct -m"), "{}", r.stderr);
    let rep = s.json(&["reconstruct", "-m"]);
    assert_eq!(
        rep["added"].as_array().unwrap().len(),
        4,
        "joe, joe/a, joe/a/b, news"
    );
    assert!(
        rep["added"]
            .as_array()
            .unwrap()
            .iter()
            .all(|a| a["uidvalidity_from"] == "index")
    );
    let list_after = s.json(&["mailbox", "list"]);
    let uvs = |l: &serde_json::Value| {
        l["mailboxes"]
            .as_array()
            .unwrap()
            .iter()
            .map(|m| {
                (
                    m["name"].as_str().unwrap().to_owned(),
                    m["uidvalidity"].as_u64().unwrap(),
                )
            })
            .collect::<Vec<_>>()
    };
    assert_eq!(uvs(&list_before), uvs(&list_after));
    // New mailboxes still get fresh UIDVALIDITYs above the recovered ones.
    s.run(&["mailbox", "create", "joe/new"]).ok();
    let max_before = uvs(&list_before).iter().map(|x| x.1).max().unwrap();
    let new_uv = uvs(&s.json(&["mailbox", "list"]))
        .into_iter()
        .find(|x| x.0 == "Other Users/joe/new")
        .unwrap()
        .1;
    assert!(new_uv > max_before);
}

#[test]
fn h_mailbox_list_entries_without_directories_are_removed_and_strays_reported() {
    let s = Store::new();
    joe_with_mail(&s, "joe");
    s.run(&["mailbox", "create", "joe/gone"]).ok();
    let id_before = s.json(&["mailbox", "list"])["mailboxes"][0]["id"].clone();
    std::fs::remove_dir_all(s.dir("users/joe/gone")).unwrap();
    std::fs::create_dir_all(s.dir("users/stranger")).unwrap();
    let rep = s.run(&["reconstruct", "-m"]).code(1);
    assert!(
        rep.stdout.contains("removed Other Users/joe/gone"),
        "{}",
        rep.stdout
    );
    assert!(
        rep.stdout.contains(
            "users/stranger: user not in the user database; run `msgstore x-build-user-db`"
        ),
        "{}",
        rep.stdout
    );
    assert_eq!(
        s.json(&["mailbox", "list"])["mailboxes"][0]["id"],
        id_before,
        "surviving entries keep their ids"
    );
}

#[test]
fn i_a_mailbox_held_by_another_process_is_busy_and_the_others_go_on() {
    let s = Store::new();
    joe_with_mail(&s, "joe");
    s.run(&["user", "add", "ann"]).ok();
    s.deliver("ann", &sample(9));
    let lock = std::fs::OpenOptions::new()
        .read(true)
        .write(true)
        .open(s.dir("users/joe/msgstore.lock"))
        .unwrap();
    lock.lock_shared().unwrap(); // like an IMAP session with joe's INBOX selected
    let r = s.run(&["reconstruct", "-r"]).code(1);
    assert!(
        r.stderr.contains("Other Users/joe: mailbox in use"),
        "{}",
        r.stderr
    );
    assert!(
        r.stdout.contains("Other Users/ann: 1 messages"),
        "{}",
        r.stdout
    );
    let r = s.run(&["--json", "reconstruct", "joe", "ann"]).code(1);
    let j = r.json();
    assert_eq!(report(&j, "Other Users/joe")["status"], "busy");
    assert_eq!(report(&j, "Other Users/ann")["status"], "ok");
    // A writer waits a moment, then gives up clearly.
    lock.unlock().unwrap();
    lock.lock().unwrap();
    let r = s.run_stdin(&["deliver", "joe"], &sample(77)).code(1);
    assert!(r.stderr.contains("mailbox in use"), "{}", r.stderr);
    // --wait waits for it.
    let child = s
        .cmd()
        .args(["reconstruct", "--wait", "joe"])
        .stdout(std::process::Stdio::piped())
        .spawn()
        .unwrap();
    std::thread::sleep(std::time::Duration::from_millis(300));
    lock.unlock().unwrap();
    let o = child.wait_with_output().unwrap();
    assert_eq!(o.status.code(), Some(0));
}

#[test]
fn j_every_dry_run_leaves_the_store_byte_identical() {
    let s = Store::new();
    joe_with_mail(&s, "joe");
    s.run(&["mailbox", "create", "joe/my stuff"]).ok();
    s.deliver("joe/my stuff", &sample(20));
    s.run(&["user", "add", "ann"]).ok();
    // Damage of every kind at once.
    std::fs::remove_file(s.dir("users/joe/my stuff/msgstore.index")).unwrap();
    std::fs::write(s.dir("users/joe/9."), b"Subject: nul\r\n\r\n\0\r\n").unwrap();
    std::fs::write(s.dir("users/joe/msgstore.tmp.44.1"), b"half").unwrap();
    std::fs::remove_file(s.dir("users/joe/2.")).unwrap();
    std::fs::write(s.dir("users/joe/7."), sample(30)).unwrap();
    std::fs::create_dir_all(s.dir("users/stray")).unwrap();
    let before = s.snapshot();
    std::thread::sleep(std::time::Duration::from_millis(20));
    let r = s.json(&["reconstruct", "-r", "-n"]);
    assert_eq!(r["dry_run"], true);
    let joe = report(&r, "Other Users/joe");
    assert_eq!(joe["dropped"], serde_json::json!([2]));
    assert_eq!(joe["bad"], serde_json::json!(["9.BAD"]));
    assert_eq!(
        joe["added"],
        serde_json::json!([7]),
        "what would change is reported exactly"
    );
    s.run(&["reconstruct", "-n", "joe", "joe/my stuff"]).ok();
    s.run(&["reconstruct", "-n", "--full", "joe"]).ok();
    s.run(&["reconstruct", "-m", "-n"]).code(1);
    s.run(&["x-build-user-db", "-n"]).ok();
    assert_eq!(before, s.snapshot(), "a dry run changed something");
    std::fs::write(s.dir("users.redb"), vec![1u8; 4096]).unwrap();
    std::fs::remove_file(s.dir("mailboxes.redb")).unwrap();
    let before2 = s.snapshot();
    s.run(&["x-build-user-db", "-n"]).ok();
    assert_eq!(
        before2,
        s.snapshot(),
        "x-build-user-db -n on a damaged store changed something"
    );
}

#[test]
fn j_dry_run_on_a_damaged_store_changes_nothing() {
    let s = Store::new();
    joe_with_mail(&s, "joe");
    std::fs::remove_file(s.dir("users/joe/msgstore.index")).unwrap();
    std::fs::write(s.dir("users/joe/9."), b"Subject: nul\r\n\r\n\0\r\n").unwrap();
    std::fs::write(s.dir("users/joe/msgstore.tmp.44.1"), b"half").unwrap();
    let before = s.snapshot();
    std::thread::sleep(std::time::Duration::from_millis(20));
    s.run(&["reconstruct", "-r", "-n"]).ok();
    s.run(&["reconstruct", "-m", "-n"]).ok();
    s.run(&["x-build-user-db", "-n"]).ok();
    assert_eq!(before, s.snapshot());
}

#[test]
fn k_damaged_mailbox_with_a_unicode_name_with_spaces_and_quotes() {
    let s = Store::new();
    let name = "joe/Ünïcødé \"q\" 5.";
    let (before, uv, next) = joe_with_mail(&s, name);
    let dir = s.dir("users/joe/Ünïcødé %22q%22 5%2E");
    assert!(dir.is_dir());
    std::fs::remove_file(dir.join("msgstore.index")).unwrap();
    s.run_stdin(
        &[],
        format!("reconstruct 'Other Users/{name}'\n").as_bytes(),
    )
    .ok();
    assert_eq!(s.dump(name)["uidvalidity"].as_u64().unwrap(), uv);
    assert_nothing_lost(
        &before,
        &s.contents(name),
        &[],
        false,
        next,
        uidnext(&s, name),
    );
}

#[test]
fn reconstruct_r_finds_nested_mailboxes_the_list_lacks() {
    let s = Store::new();
    joe_with_mail(&s, "joe");
    // Restored from a backup: folders the mailbox list never heard of, one with a
    // child (walked into) and one a leaf (found without reading its listing).
    let deep = s.dir("users/joe/archive/2019");
    std::fs::create_dir_all(&deep).unwrap();
    std::fs::write(deep.join("1."), sample(40)).unwrap();
    std::fs::create_dir_all(s.dir("users/joe/other")).unwrap();
    for args in [
        &["reconstruct", "-r"][..],
        &["reconstruct", "-r", "joe"][..],
    ] {
        let r = s.json(args);
        let names = field_of(&r["mailboxes"], "mailbox");
        for want in [
            "Other Users/joe",
            "Other Users/joe/archive",
            "Other Users/joe/archive/2019",
            "Other Users/joe/other",
        ] {
            assert!(names.contains(&want), "{args:?} missed {want}: {names:?}");
        }
        assert_eq!(report(&r, "Other Users/joe/archive/2019")["messages"], 1);
    }
}

#[test]
fn reconstruct_of_an_intact_store_changes_nothing_and_full_reparses() {
    let s = Store::new();
    let (before, _, next) = joe_with_mail(&s, "joe");
    // The first run may refresh the mailbox list's mirrors of UIDNEXT.
    s.run(&["reconstruct", "-r"]).ok();
    let snap = s.snapshot();
    std::thread::sleep(std::time::Duration::from_millis(20));
    let r = s.json(&["reconstruct", "-r"]);
    let m = report(&r, "Other Users/joe");
    assert_eq!(
        (m["kept"].as_u64(), m["reparsed"].as_u64(), &m["rewritten"]),
        (Some(5), Some(0), &serde_json::json!(false))
    );
    let r = s.json(&["reconstruct", "--quick", "joe"]);
    assert_eq!(report(&r, "Other Users/joe")["bytes_read"], 0);
    // The check reads the index through an overlay: not a byte or a timestamp of
    // the store changes (the index used to be committed to by redb's check).
    assert_eq!(
        snap,
        s.snapshot(),
        "a check with nothing to do wrote something"
    );
    let r = s.json(&["reconstruct", "--full", "joe"]);
    assert_eq!(report(&r, "Other Users/joe")["reparsed"], 5);
    assert_nothing_lost(
        &before,
        &s.contents("joe"),
        &[],
        true,
        next,
        uidnext(&s, "joe"),
    );
    // Nothing named exists: a usage error, said once.
    let r = s.run(&["reconstruct", "nobody"]).code(2);
    assert!(r.stderr.contains("no such mailbox"));
    assert_eq!(
        r.stderr.matches("no such mailbox").count(),
        1,
        "{}",
        r.stderr
    );
}

#[test]
fn snapshot_of_rebuilt_damaged_mailboxes() {
    let s = Store::new();
    s.run(&["user", "add", "joe"]).ok();
    for f in [
        "plain.eml",
        "attachment-lf.eml",
        "forward.eml",
        "minimal.eml",
    ] {
        s.run(&["deliver", "joe", fixture(f).to_str().unwrap()])
            .ok();
    }
    s.run(&["flags", "joe", "1", "--add", "\\Seen"]).ok();
    s.run(&["flags", "joe", "3", "--add", "\\Deleted"]).ok();
    // An expunge cut short, a file restored by hand (bare LF), an index lost in a second mailbox.
    s.run_env(
        &["expunge", "joe"],
        &[("MSGSTORE_FAULT", "expunge-after-unlink")],
    );
    std::fs::copy(fixture("attachment-lf.eml"), s.dir("users/joe/9.")).unwrap();
    s.run(&["mailbox", "create", "joe/lost"]).ok();
    s.run(&[
        "deliver",
        "joe/lost",
        fixture("forward.eml").to_str().unwrap(),
    ])
    .ok();
    std::fs::remove_file(s.dir("users/joe/lost/msgstore.index")).unwrap();
    s.run(&["reconstruct", "-r"]).ok();
    let out = format!(
        "{}\n{}",
        s.run(&["dump", "joe"]).ok().stdout,
        s.run(&["dump", "joe/lost"]).ok().stdout
    );
    insta::with_settings!({
        snapshot_path => "../../snapshots/e2e",
        prepend_module_to_snapshot => false,
        filters => vec![
            (r"uidvalidity \d+", "uidvalidity [UIDVALIDITY]"),
            (r"highestmodseq \d+", "highestmodseq [MODSEQ]"),
            (r#"internaldate "[^"]+""#, "internaldate [DATE]"),
        ],
    }, {
        insta::assert_snapshot!("rebuilt_damaged_mailboxes", out);
    });
}

#[test]
fn list_changes_wait_for_a_mailbox_list_rebuild_then_fail_clearly() {
    let s = Store::new();
    s.run(&["user", "add", "joe"]).ok();
    // reconstruct -m holds the store directory's lock while it runs; hold it here.
    let dir = std::fs::File::open(&s.root).unwrap();
    dir.lock().unwrap();
    for args in [
        &["mailbox", "create", "joe/x"][..],
        &["mailbox", "rename", "joe", "joe/y"],
        &["user", "add", "ann"],
    ] {
        let r = s.run(args);
        assert_ne!(r.code, 0);
        assert!(
            r.stderr.contains("mailbox list is being rebuilt")
                || r.stderr.contains("INBOX cannot be renamed"),
            "{args:?}: {}",
            r.stderr
        );
    }
    let r = s.run(&["reconstruct", "-m"]).code(2);
    assert!(
        r.stderr.contains("being rebuilt or changed"),
        "{}",
        r.stderr
    );
    // Deliveries and mailbox rebuilds do not need the list lock.
    s.deliver("joe", &sample(1));
    s.run(&["reconstruct", "joe"]).ok();
    dir.unlock().unwrap();
    s.run(&["mailbox", "create", "joe/x"]).ok();
}

#[test]
fn quick_finds_what_changed_and_repairs_it_as_the_default_check_does() {
    let s = Store::new();
    let (before, _, next) = joe_with_mail(&s, "joe");
    s.run(&["reconstruct", "-r"]).ok();
    // Message 3 (\Seen) replaced by other bytes, message 5 gone, message 1 only
    // touched: its identity changes, its content does not.
    let replaced = sample(200);
    std::fs::write(s.dir("users/joe/3."), &replaced).unwrap();
    std::fs::remove_file(s.dir("users/joe/5.")).unwrap();
    std::fs::File::options()
        .write(true)
        .open(s.dir("users/joe/1."))
        .unwrap()
        .set_modified(std::time::SystemTime::now() + std::time::Duration::from_secs(60))
        .unwrap();
    let bound = s.bound("joe");
    assert!(bound >= next);
    let r = s.json(&["reconstruct", "--quick", "joe"]);
    let m = report(&r, "Other Users/joe");
    assert_eq!(m["changed_content"], serde_json::json!([3]), "{m}");
    assert_eq!(m["renumbered"], serde_json::json!([[3, bound]]));
    assert_eq!(m["dropped"], serde_json::json!([5]));
    assert_eq!(m["rewritten"], true);
    let touched = std::fs::metadata(s.dir("users/joe/1.")).unwrap().len();
    assert_eq!(
        m["bytes_read"],
        touched + replaced.len() as u64,
        "only what changed is read"
    );
    let after = s.contents("joe");
    // Other content: a new UID, and none of the old flags (they were set on the
    // content that is gone).
    assert_eq!(after[&guid(&replaced)], (bound, vec![]));
    let one = before.iter().find(|(_, (uid, _))| *uid == 1).unwrap();
    assert_eq!(
        after[one.0], *one.1,
        "the touched message keeps its UID and flags"
    );
    // The touched file's new identity is in the index now: nothing left to do.
    let r = s.json(&["reconstruct", "--quick", "joe"]);
    let m = report(&r, "Other Users/joe");
    assert_eq!(
        (&m["rewritten"], &m["bytes_read"]),
        (&serde_json::json!(false), &serde_json::json!(0))
    );
}

#[test]
fn a_delete_killed_midway_leaves_no_mailbox_and_list_rebuild_removes_its_remains() {
    let s = Store::new();
    joe_with_mail(&s, "joe/old");
    s.run(&["mailbox", "delete", "joe/old"]).ok();
    let leftovers = |s: &Store| -> Vec<String> {
        std::fs::read_dir(s.dir("users/joe"))
            .unwrap()
            .flatten()
            .map(|e| e.file_name().to_string_lossy().into_owned())
            .filter(|n| n.starts_with("msgstore.tmp.deleted."))
            .collect()
    };
    assert!(!s.dir("users/joe/old").exists());
    assert_eq!(
        leftovers(&s),
        Vec::<String>::new(),
        "a finished delete leaves nothing"
    );
    // What a delete killed after moving the directory aside leaves: the mailbox is
    // out of the list, its directory renamed and half removed.
    let trash = s.dir("users/joe/msgstore.tmp.deleted.4242.1");
    std::fs::create_dir(&trash).unwrap();
    std::fs::write(trash.join("3."), sample(3)).unwrap();
    let r = s.json(&["reconstruct", "-m", "-n"]);
    assert_eq!(r["added"], serde_json::json!([]), "{r}");
    assert!(
        r["warnings"].to_string().contains("would be removed"),
        "{r}"
    );
    assert!(trash.exists(), "a dry run removes nothing");
    let r = s.json(&["reconstruct", "-m"]);
    assert_eq!(
        r["added"],
        serde_json::json!([]),
        "never brought back as a mailbox: {r}"
    );
    assert_eq!(r["unknown_dirs"], serde_json::json!([]));
    assert!(!trash.exists());
    assert_eq!(leftovers(&s), Vec::<String>::new());
}
