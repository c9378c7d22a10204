//! Resources and concurrency: a full disk during deliver and reconstruct, a
//! read-only store, deliveries while another mailbox (or the same one) is being
//! reconstructed, and two reconstructs of one store at once.
//!
//! A full disk is simulated by the `MSGSTORE_FAULT=enospc-<step>` fault points
//! (always), and is real on a 1 MiB tmpfs when this process may mount one (root
//! with CAP_SYS_ADMIN; otherwise that test says it is skipped and why). The
//! read-only store is a read-only bind mount, under the same condition: `chmod -w`
//! does not stop root.

mod support;
#[allow(dead_code)]
#[path = "e2e/util.rs"]
mod util;

use std::path::{Path, PathBuf};
use std::process::Command;
use std::time::Duration;
use util::{Store, sample};

/// A mount made for a test, unmounted when dropped.
struct Mount(PathBuf);

impl Mount {
    fn try_new(args: &[&str], at: &Path) -> Result<Mount, String> {
        std::fs::create_dir_all(at).map_err(|e| e.to_string())?;
        let o = Command::new("mount")
            .args(args)
            .arg(at)
            .output()
            .map_err(|e| format!("cannot run mount: {e}"))?;
        if o.status.success() {
            Ok(Mount(at.to_owned()))
        } else {
            Err(String::from_utf8_lossy(&o.stderr).trim().to_owned())
        }
    }
}

impl Drop for Mount {
    fn drop(&mut self) {
        let _ = Command::new("umount").arg(&self.0).status();
    }
}

fn names_in(dir: &Path) -> Vec<String> {
    let mut v: Vec<String> = std::fs::read_dir(dir)
        .unwrap()
        .flatten()
        .map(|e| e.file_name().to_string_lossy().into_owned())
        .collect();
    v.sort();
    v
}

#[test]
fn disk_full_during_reconstruct_fails_clearly_and_repairs_later() {
    let s = Store::new();
    s.run(&["user", "add", "joe"]).ok();
    for i in 0..3 {
        s.deliver("joe", &sample(i));
    }
    let before = s.contents("joe");
    // A file copied in by hand (above every UID reserved): reconstruct must write
    // a new index record for it.
    std::fs::write(s.dir("users/joe/9999."), sample(9)).unwrap();
    let files = names_in(&s.dir("users/joe"));
    let r = s.run_env(
        &["reconstruct", "joe"],
        &[("MSGSTORE_FAULT", "enospc-index-commit")],
    );
    assert_eq!(r.code, 1, "{}{}", r.stdout, r.stderr);
    assert!(
        r.stderr.contains("No space left on device") && r.stderr.contains("msgstore.index"),
        "{}",
        r.stderr
    );
    eprintln!("limit: disk full during reconstruct: {}", r.stderr.trim());
    assert_eq!(names_in(&s.dir("users/joe")), files, "files changed");
    assert_eq!(s.contents("joe"), before, "the index changed");
    // The UIDs a rebuild hands out are reserved in the mailbox list first: a list
    // that cannot be written fails the mailbox before anything changes.
    let r = s.run_env(
        &["reconstruct", "joe"],
        &[("MSGSTORE_FAULT", "enospc-list-commit")],
    );
    assert_eq!(r.code, 1, "{}{}", r.stdout, r.stderr);
    assert!(
        r.stderr.contains("No space left on device") && r.stderr.contains("mailboxes.redb"),
        "{}",
        r.stderr
    );
    assert_eq!(names_in(&s.dir("users/joe")), files, "files changed");
    assert_eq!(s.contents("joe"), before, "the index changed");
    s.run(&["reconstruct", "joe"]).ok();
    let r = s.json(&["reconstruct", "joe"]);
    assert_eq!(r["mailboxes"][0]["rewritten"], false, "{r}");
    assert_eq!(s.contents("joe").len(), 4);
}

#[test]
fn a_real_full_disk() {
    let base = support::fast_tempdir();
    let mnt = base.path().join("small");
    let _m = match Mount::try_new(&["-t", "tmpfs", "-o", "size=1m", "tmpfs"], &mnt) {
        Ok(m) => m,
        Err(e) => {
            eprintln!("skipped: cannot mount a small tmpfs here ({e})");
            return;
        }
    };
    let root = mnt.join("store");
    let bin = |args: &[&str]| {
        support::run_with_timeout(
            Command::new(util::BIN)
                .arg("--store")
                .arg(&root)
                .env("MSGSTORE_LOCK_TIMEOUT", "2")
                .args(args),
            Duration::from_secs(60),
        )
    };
    let big = base.path().join("big.eml");
    let mut m = b"Subject: too big\r\n\r\n".to_vec();
    m.resize(600_000, b'x');
    std::fs::write(&big, &m).unwrap();
    assert_eq!(bin(&["init"]).code, 0);
    assert_eq!(bin(&["user", "add", "joe"]).code, 0);
    let mut delivered = 0;
    let mut last = None;
    for _ in 0..6 {
        let o = bin(&["deliver", "joe", big.to_str().unwrap()]);
        assert!(o.code == 0 || o.code == 2, "{}", o.stderr);
        assert!(!o.stderr.contains("panicked"));
        if o.code == 0 {
            delivered += 1;
        } else {
            last = Some(o.stderr);
            break;
        }
    }
    let err = last.expect("a 1 MiB filesystem filled up");
    assert!(err.contains("No space left on device"), "{err}");
    eprintln!("limit: real full disk during deliver: {}", err.trim());
    let left: Vec<String> = names_in(&root.join("users/joe"))
        .into_iter()
        .filter(|n| n.ends_with('.') || n.starts_with("msgstore.tmp"))
        .collect();
    assert_eq!(left.len(), delivered, "{left:?}");
    let o = bin(&["--json", "dump", "joe"]);
    assert_eq!(o.code, 0, "{}", o.stderr);
    let o = bin(&["reconstruct", "-r"]);
    assert!(o.code == 0 || o.code == 1, "{}", o.stderr);
    assert!(!o.stderr.contains("panicked"));
}

#[test]
fn read_only_store_reads_work_and_writes_fail_clearly() {
    let s = Store::new();
    s.run(&["user", "add", "joe"]).ok();
    s.run(&["mailbox", "create", "joe/work"]).ok();
    s.deliver("joe", &sample(1));
    let base = support::fast_tempdir();
    let ro = base.path().join("ro");
    let root = s.root.to_str().unwrap().to_owned();
    let _m = match Mount::try_new(&["--bind", "-o", "ro", &root], &ro) {
        Ok(m) => m,
        Err(e) => {
            eprintln!("skipped: cannot make a read-only bind mount here ({e})");
            return;
        }
    };
    if std::fs::write(ro.join("probe"), b"x").is_ok() {
        eprintln!("skipped: the bind mount is not read-only here");
        return;
    }
    let bin = |args: &[&str]| {
        support::run_with_timeout(
            Command::new(util::BIN)
                .arg("--store")
                .arg(&ro)
                .env("MSGSTORE_LOCK_TIMEOUT", "2")
                .args(args),
            Duration::from_secs(60),
        )
    };
    for args in [
        &["mailbox", "list"][..],
        &["user", "list"],
        &["dump", "joe"],
        &["dump", "joe/work"],
        &["reconstruct", "-r", "-n"],
        &["reconstruct", "-m", "-n"],
        &["x-build-user-db", "-n"],
    ] {
        let o = bin(args);
        assert_eq!(o.code, 0, "{args:?} on a read-only store: {}", o.stderr);
    }
    let msg = base.path().join("m.eml");
    std::fs::write(&msg, sample(2)).unwrap();
    for args in [
        &["deliver", "joe", msg.to_str().unwrap()][..],
        &["flags", "joe", "1", "--add", "\\Seen"],
        &["expunge", "joe", "1"],
        &["mailbox", "create", "joe/new"],
        &["user", "add", "ann"],
        &["reconstruct", "-r"],
        &["reconstruct", "-m"],
        &["x-build-user-db"],
    ] {
        let o = bin(args);
        assert!(
            o.code == 1 || o.code == 2,
            "{args:?}: exit {} {}",
            o.code,
            o.stdout
        );
        assert!(!o.stderr.contains("panicked"), "{args:?}: {}", o.stderr);
        assert!(
            o.stderr.contains("Read-only file system")
                || o.stdout.contains("Read-only file system"),
            "{args:?}: no clear reason: {}{}",
            o.stdout,
            o.stderr
        );
        eprintln!(
            "limit: read-only store: {args:?}: {}",
            o.stderr.lines().next().unwrap_or("")
        );
    }
}

/// Deliveries into one mailbox while another is reconstructed again and again;
/// then deliveries into the same mailbox a reconstruct keeps rebuilding (they
/// wait for its lock): none fails, none is lost.
#[test]
fn deliveries_while_reconstructing() {
    let s = std::sync::Arc::new(Store::new());
    s.run(&["user", "add", "joe", "ann"]).ok();
    for i in 0..20 {
        s.deliver("ann", &sample(i));
    }
    for same in [false, true] {
        let target = if same { "ann" } else { "joe" };
        let stop = std::sync::Arc::new(std::sync::atomic::AtomicBool::new(false));
        let (s2, stop2) = (s.clone(), stop.clone());
        let rebuilder = std::thread::spawn(move || {
            let mut runs = 0;
            while !stop2.load(std::sync::atomic::Ordering::SeqCst) {
                // Work for it: a lost index to rebuild (only while nobody delivers
                // there: a delivery refuses a mailbox without an index), and --full
                // re-parses and rewrites every record.
                if !same {
                    let _ = std::fs::remove_file(s2.dir("users/ann/msgstore.index"));
                }
                let r = s2.run(&["reconstruct", "--full", "--wait", "ann"]);
                assert_eq!(r.code, 0, "{}{}", r.stdout, r.stderr);
                runs += 1;
            }
            runs
        });
        let mut uids = Vec::new();
        for i in 0..15 {
            let r = s
                .cmd()
                .env("MSGSTORE_LOCK_TIMEOUT", "30")
                .args(["deliver", target])
                .stdin(std::process::Stdio::piped())
                .stdout(std::process::Stdio::piped())
                .stderr(std::process::Stdio::piped())
                .spawn()
                .unwrap();
            let msg = sample(1000 + i + if same { 100 } else { 0 });
            let mut r = r;
            use std::io::Write;
            r.stdin.take().unwrap().write_all(&msg).unwrap();
            let o = support::wait_output(r, Duration::from_secs(60));
            assert_eq!(
                o.code, 0,
                "deliver to {target} while reconstructing ann: {}",
                o.stderr
            );
            uids.push((util::guid(&msg), o.stdout.trim().parse::<u32>().unwrap()));
        }
        stop.store(true, std::sync::atomic::Ordering::SeqCst);
        let runs = rebuilder.join().unwrap();
        eprintln!("{target}: 15 deliveries during {runs} reconstructs of ann");
        let got = s.contents(target);
        for (g, _) in &uids {
            assert!(got.contains_key(g), "{target}: a delivery is lost");
        }
        if !same {
            for (g, uid) in &uids {
                assert_eq!(got[g].0, *uid, "joe's UIDs are untouched");
            }
        }
    }
}

/// While a delivery (here: the test itself) holds a mailbox's lock, reconstruct
/// reports it busy and goes on with the others; with --wait it waits.
#[test]
fn reconstruct_while_the_mailbox_is_held() {
    let s = Store::new();
    s.run(&["user", "add", "joe", "ann"]).ok();
    s.deliver("joe", &sample(1));
    let f = std::fs::File::open(s.dir("users/joe/msgstore.lock")).unwrap();
    f.lock().unwrap();
    let r = s.run(&["--json", "reconstruct", "-r"]);
    assert_eq!(r.code, 1, "{}", r.stdout);
    let j = r.json();
    let joe = j["mailboxes"]
        .as_array()
        .unwrap()
        .iter()
        .find(|m| m["mailbox"] == "Other Users/joe")
        .unwrap();
    assert_eq!(joe["status"], "busy", "{j}");
    eprintln!("limit: busy mailbox: {}", joe["error"]);
    assert!(joe["error"].as_str().unwrap().contains("mailbox in use"));
    let ann = j["mailboxes"]
        .as_array()
        .unwrap()
        .iter()
        .find(|m| m["mailbox"] == "Other Users/ann")
        .unwrap();
    assert_eq!(ann["status"], "ok");
    let child = s
        .cmd()
        .args(["reconstruct", "--wait", "joe"])
        .stdout(std::process::Stdio::piped())
        .stderr(std::process::Stdio::piped())
        .spawn()
        .unwrap();
    std::thread::sleep(Duration::from_millis(300));
    f.unlock().unwrap();
    let o = support::wait_output(child, Duration::from_secs(60));
    assert_eq!(o.code, 0, "{}", o.stderr);
}

/// Two reconstructs of the whole store at once, many times: each mailbox is
/// rebuilt by one of them and reported busy (never failed) by the other, and the
/// store stays complete.
#[test]
fn two_reconstructs_at_once() {
    let s = Store::new();
    s.run(&["user", "add", "joe", "ann"]).ok();
    s.run(&["mailbox", "create", "joe/a"]).ok();
    for (i, m) in ["joe", "ann", "joe/a"].iter().enumerate() {
        for j in 0..5 {
            s.deliver(m, &sample(i as u64 * 10 + j));
        }
    }
    let before: Vec<_> = ["joe", "ann", "joe/a"]
        .iter()
        .map(|m| s.contents(m))
        .collect();
    for round in 0..8 {
        if round % 2 == 0 {
            let _ = std::fs::remove_file(s.dir("users/joe/msgstore.index"));
        }
        let spawn = || {
            s.cmd()
                .args(["--json", "reconstruct", "-r"])
                .stdout(std::process::Stdio::piped())
                .stderr(std::process::Stdio::piped())
                .spawn()
                .unwrap()
        };
        let (a, b) = (spawn(), spawn());
        for o in [
            support::wait_output(a, Duration::from_secs(60)),
            support::wait_output(b, Duration::from_secs(60)),
        ] {
            assert!(o.code == 0 || o.code == 1, "{}", o.stderr);
            let j: serde_json::Value = serde_json::from_str(&o.stdout).unwrap();
            for m in j["mailboxes"].as_array().unwrap() {
                assert!(
                    m["status"] == "ok" || m["status"] == "busy",
                    "round {round}: {m}"
                );
            }
        }
    }
    let r = s.json(&["reconstruct", "-r"]);
    for m in r["mailboxes"].as_array().unwrap() {
        assert_eq!(m["rewritten"], false, "{m}");
    }
    for (i, m) in ["joe", "ann", "joe/a"].iter().enumerate() {
        let now = s.contents(m);
        for g in before[i].keys() {
            assert!(now.contains_key(g), "{m}: a message is lost");
        }
    }
}
