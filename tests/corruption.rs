//! Corruption anywhere: every persistent file (users.redb, mailboxes.redb, a
//! mailbox's msgstore.index, a message file) truncated to a random length, with
//! random bytes flipped, with a 4 KiB page zeroed, replaced by a directory or by a
//! dangling symlink. Each time the outcome is a clear error naming the file (exit
//! status 1 or 2) or a repair by the documented command (`reconstruct`,
//! `reconstruct -m`, `x-build-user-db`); never a panic, never a hang, never a
//! message file lost or modified.
//!
//! Thousands of cheap trials call the library in-process (opening, checking and
//! reading the damaged file as every command does); a smaller number drive the
//! binary through the whole repair. Seeded and bounded:
//! `MSGSTORE_CORRUPT_TRIALS=N` in-process trials per file type (default 600),
//! `MSGSTORE_CORRUPT_BIN_TRIALS=N` binary trials per file type (default 12),
//! `MSGSTORE_CORRUPT_SEED=S`.
//!
//! Wrong permissions: root reads and writes through any mode bits, so as root (as in
//! CI) that trial runs the binary as `nobody` (util-linux `setpriv`) on a store
//! given to `nobody`.

mod support;
#[allow(dead_code)]
#[path = "e2e/util.rs"]
mod util;

use msgstore::index::{self, Index};
use std::collections::BTreeMap;
use std::path::{Path, PathBuf};
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Arc, Mutex};
use std::time::Duration;
use support::{Rng, env_u64, fast_tempdir, run_with_timeout};
use util::{BIN, guid};

const LIMIT: Duration = Duration::from_secs(60);

/// A store with two users, a folder and a public folder, mail and flags.
fn template() -> (tempfile::TempDir, PathBuf) {
    let tmp = fast_tempdir();
    let root = tmp.path().join("store");
    let run = |args: &[&str]| {
        let o = run_with_timeout(
            std::process::Command::new(BIN)
                .arg("--store")
                .arg(&root)
                .args(args),
            LIMIT,
        );
        assert_eq!(o.code, 0, "{args:?}: {}", o.stderr);
    };
    run(&["init"]);
    run(&["user", "add", "joe", "ann"]);
    run(&["mailbox", "create", "joe/work"]);
    run(&["mailbox", "create", "Public Folders/news"]);
    let inbox = tmp.path().join("in");
    std::fs::create_dir(&inbox).unwrap();
    for (i, mb) in ["joe", "joe/work", "ann", "Public Folders/news"]
        .iter()
        .enumerate()
    {
        let mut files = Vec::new();
        for j in 0..6u64 {
            let p = inbox.join(format!("{i}-{j}.eml"));
            std::fs::write(&p, msgstore::sample::message(11, i as u64 * 100 + j, 3)).unwrap();
            files.push(p.display().to_string());
        }
        let mut a = vec!["deliver", mb];
        a.extend(files.iter().map(String::as_str));
        run(&a);
        run(&["flags", mb, "1:3", "--add", "\\Seen", "--add", "$Work"]);
        run(&["flags", mb, "2", "--add", "\\Flagged"]);
    }
    (tmp, root)
}

fn copy_dir(from: &Path, to: &Path) {
    std::fs::create_dir_all(to).unwrap();
    for e in std::fs::read_dir(from).unwrap().flatten() {
        let t = to.join(e.file_name());
        let ft = e.file_type().unwrap();
        if ft.is_dir() {
            copy_dir(&e.path(), &t);
        } else if ft.is_file() {
            std::fs::copy(e.path(), &t).unwrap();
        }
    }
}

#[derive(Debug, Clone)]
enum Mutation {
    Truncate(u64),
    Flip(Vec<(u64, u8)>),
    ZeroPage(u64),
    Directory,
    DanglingSymlink,
}

fn pick_mutation(rng: &mut Rng, len: u64, fs_kinds: bool) -> Mutation {
    let kinds = if fs_kinds { 5 } else { 3 };
    match rng.below(kinds) {
        0 => Mutation::Truncate(rng.below(len)),
        1 => {
            let n = 1 + rng.below(8);
            Mutation::Flip(
                (0..n)
                    .map(|_| (rng.below(len), 1 + rng.below(255) as u8))
                    .collect(),
            )
        }
        2 => Mutation::ZeroPage(rng.below(len.div_ceil(4096).max(1))),
        3 => Mutation::Directory,
        _ => Mutation::DanglingSymlink,
    }
}

fn mutate_bytes(bytes: &mut Vec<u8>, m: &Mutation) {
    match m {
        Mutation::Truncate(n) => bytes.truncate(*n as usize),
        Mutation::Flip(v) => {
            for (at, x) in v {
                if let Some(b) = bytes.get_mut(*at as usize) {
                    *b ^= x;
                }
            }
        }
        Mutation::ZeroPage(p) => {
            let start = (*p as usize * 4096).min(bytes.len());
            let end = (start + 4096).min(bytes.len());
            bytes[start..end].fill(0);
        }
        Mutation::Directory | Mutation::DanglingSymlink => {}
    }
}

fn apply(path: &Path, m: &Mutation) {
    match m {
        Mutation::Directory => {
            std::fs::remove_file(path).unwrap();
            std::fs::create_dir(path).unwrap();
        }
        Mutation::DanglingSymlink => {
            std::fs::remove_file(path).unwrap();
            std::os::unix::fs::symlink("/nonexistent/msgstore-corruption-test", path).unwrap();
        }
        _ => {
            let mut b = std::fs::read(path).unwrap();
            mutate_bytes(&mut b, m);
            std::fs::write(path, b).unwrap();
        }
    }
}

/// Runs `trials` in a worker thread and fails if one panics or one stalls: a
/// hang can't be killed in-process, but it is reported with its trial.
fn watchdog(name: &str, trials: u64, f: impl Fn(u64) -> Result<(), String> + Send + 'static) {
    // redb panics on some damage; the library catches those (quietly, as the
    // binary does). A panic that escapes it fails the trial.
    msgstore::dbfile::install_panic_hook();
    let done = Arc::new(AtomicU64::new(0));
    let failures = Arc::new(Mutex::new(Vec::<String>::new()));
    let (d, fl) = (done.clone(), failures.clone());
    let worker = std::thread::spawn(move || {
        // MSGSTORE_CORRUPT_ONLY=T reruns one trial (to debug a failure).
        let only = std::env::var("MSGSTORE_CORRUPT_ONLY")
            .ok()
            .and_then(|s| s.parse::<u64>().ok());
        for t in 0..trials {
            if only.is_some_and(|o| o != t) {
                continue;
            }
            let r = std::panic::catch_unwind(std::panic::AssertUnwindSafe(|| f(t)));
            match r {
                Ok(Ok(())) => {}
                Ok(Err(e)) => fl.lock().unwrap().push(format!("trial {t}: {e}")),
                Err(_) => fl.lock().unwrap().push(format!("trial {t}: PANIC")),
            }
            d.store(t + 1, Ordering::SeqCst);
        }
    });
    let mut last = 0;
    let mut still = 0;
    while !worker.is_finished() {
        std::thread::sleep(Duration::from_millis(100));
        let now = done.load(Ordering::SeqCst);
        if now == last {
            still += 1;
            assert!(
                still < 300,
                "{name}: trial {now} hangs (no progress in 30 s)"
            );
        } else {
            still = 0;
            last = now;
        }
    }
    worker.join().unwrap();
    let f = failures.lock().unwrap();
    eprintln!("{name}: {trials} in-process trials, {} failures", f.len());
    assert!(
        f.is_empty(),
        "{name}: {} failures:\n{}",
        f.len(),
        f.join("\n")
    );
}

/// An error must name the damaged file.
fn names_file(e: &msgstore::error::Error, path: &Path) -> Result<(), String> {
    let s = e.to_string();
    let file = path.file_name().unwrap().to_string_lossy();
    if s.contains(&*file) {
        Ok(())
    } else {
        Err(format!("error does not name {file}: {s}"))
    }
}

/// Every way a command reads an index: read-only (dump, dry runs), for writing
/// (deliver, flags, expunge), and checked (reconstruct); cache entries included.
fn read_index_every_way(path: &Path) -> Result<(&'static str, &'static str), String> {
    let ro = match index::Reader::open(path).and_then(|h| h.load().map(|st| (st, h))) {
        Ok((st, h)) => {
            for uid in st.records.keys() {
                if let Err(e) = h.cache(*uid, false) {
                    names_file(&e, path)?;
                }
            }
            "ok"
        }
        Err(e) => {
            names_file(&e, path)?;
            "error"
        }
    };
    let rw = match Index::open(path).and_then(|i| i.header().map(|_| i)) {
        Ok(i) => {
            if let Ok(st) = i.load() {
                for uid in st.records.keys() {
                    if let Err(e) = i.cache(*uid) {
                        names_file(&e, path)?;
                    }
                }
            }
            "ok"
        }
        Err(e) => {
            names_file(&e, path)?;
            "error"
        }
    };
    match Index::open_checked(path).and_then(|i| i.load()) {
        Ok(_) => {}
        Err(e) => names_file(&e, path)?,
    }
    Ok((ro, rw))
}

#[test]
fn index_files_in_process() {
    let (_t, root) = template();
    let src = std::fs::read(root.join("users/joe/msgstore.index")).unwrap();
    let seed = env_u64("MSGSTORE_CORRUPT_SEED", 1);
    let trials = env_u64("MSGSTORE_CORRUPT_TRIALS", 600);
    let work = fast_tempdir();
    let dir = work.path().to_owned();
    let tally = Arc::new(Mutex::new(BTreeMap::<String, u64>::new()));
    let t2 = tally.clone();
    watchdog("index", trials, move |t| {
        let mut rng = Rng(seed.wrapping_mul(1_000_003).wrapping_add(t));
        let m = pick_mutation(&mut rng, src.len() as u64, false);
        let path = dir.join("msgstore.index");
        let mut b = src.clone();
        mutate_bytes(&mut b, &m);
        std::fs::write(&path, &b).map_err(|e| e.to_string())?;
        // MSGSTORE_CORRUPT_KEEP=DIR keeps each damaged file (to make a fixture).
        if let Ok(keep) = std::env::var("MSGSTORE_CORRUPT_KEEP") {
            let _ = std::fs::write(Path::new(&keep).join(format!("index-{t}")), &b);
        }
        let (ro, rw) = read_index_every_way(&path).map_err(|e| format!("{m:?}: {e}"))?;
        let kind = format!("{m:?}").split('(').next().unwrap_or("").to_owned();
        *t2.lock()
            .unwrap()
            .entry(format!("{kind}: read-only {ro}, for writing {rw}"))
            .or_default() += 1;
        Ok(())
    });
    eprintln!("index outcomes: {:#?}", tally.lock().unwrap());
}

fn db_trials(name: &'static str, file: &'static str, which: msgstore::error::DbKind) {
    let (_t, root) = template();
    let src = std::fs::read(root.join(file)).unwrap();
    let seed = env_u64("MSGSTORE_CORRUPT_SEED", 2);
    let trials = env_u64("MSGSTORE_CORRUPT_TRIALS", 600);
    let work = fast_tempdir();
    let dir = work.path().to_owned();
    let tally = Arc::new(Mutex::new(BTreeMap::<String, u64>::new()));
    let t2 = tally.clone();
    watchdog(name, trials, move |t| {
        let mut rng = Rng(seed.wrapping_mul(1_000_003).wrapping_add(t));
        let m = pick_mutation(&mut rng, src.len() as u64, false);
        let path = dir.join(file);
        let mut b = src.clone();
        mutate_bytes(&mut b, &m);
        std::fs::write(&path, &b).map_err(|e| e.to_string())?;
        let store = msgstore::store::Store::at(&dir);
        let listed = match which {
            msgstore::error::DbKind::Users => msgstore::db::users::list(&store).map(|v| v.len()),
            _ => msgstore::db::mailboxes::list(&store, None).map(|v| v.len()),
        };
        let outcome = match &listed {
            Ok(_) => "read",
            Err(e) => {
                names_file(e, &path).map_err(|e| format!("{m:?}: {e}"))?;
                "error"
            }
        };
        let salvaged = match which {
            msgstore::error::DbKind::Users => msgstore::db::users::salvage(&store).0.len(),
            _ => msgstore::db::mailboxes::salvage(&store).0.len(),
        };
        if let Err(e) = msgstore::db::open_rw(&store, which) {
            names_file(&e, &path).map_err(|e| format!("{m:?}: {e}"))?;
        }
        let kind = format!("{m:?}").split('(').next().unwrap_or("").to_owned();
        *t2.lock()
            .unwrap()
            .entry(format!(
                "{kind}: {outcome}, salvage {}",
                if salvaged > 0 {
                    "kept records"
                } else {
                    "kept none"
                }
            ))
            .or_default() += 1;
        Ok(())
    });
    eprintln!("{name} outcomes: {:#?}", tally.lock().unwrap());
}

#[test]
fn users_db_in_process() {
    db_trials("users.redb", "users.redb", msgstore::error::DbKind::Users);
}

#[test]
fn mailboxes_db_in_process() {
    db_trials(
        "mailboxes.redb",
        "mailboxes.redb",
        msgstore::error::DbKind::Mailboxes,
    );
}

/// Message files in process: whatever the bytes, building the IMAP cache (as
/// reconstruct and deliver do) never panics.
#[test]
fn message_files_in_process() {
    let seed = env_u64("MSGSTORE_CORRUPT_SEED", 3);
    let trials = env_u64("MSGSTORE_CORRUPT_TRIALS", 600) * 2;
    watchdog("message files", trials, move |t| {
        let mut rng = Rng(seed.wrapping_mul(1_000_003).wrapping_add(t));
        let mut b = msgstore::sample::message(5, t % 50, 4);
        let m = pick_mutation(&mut rng, b.len() as u64, false);
        mutate_bytes(&mut b, &m);
        // What reconstruct does with a file's bytes, and what deliver does.
        let c = msgstore::mime::build(&b);
        if c.header_size_physical > b.len() as u64 {
            return Err(format!("{m:?}: header beyond the end"));
        }
        let _ = msgstore::ops::deliver::prepare("trial", &b);
        Ok(())
    });
}

/// What a store holds: mailbox -> guid -> (uid, flags), and every message file's
/// bytes by path.
type Contents = BTreeMap<String, BTreeMap<String, (u32, Vec<String>)>>;

fn contents(root: &Path) -> Contents {
    let store = msgstore::store::Store::open(root).unwrap();
    let mut out = Contents::new();
    for e in msgstore::ops::mailbox::list(&store, None).unwrap() {
        let d = msgstore::ops::dump::dump(&store, &e.name)
            .unwrap_or_else(|err| panic!("{}: dump after repair: {err}", e.name));
        out.insert(
            e.name,
            d.messages
                .into_iter()
                .map(|m| (m.guid, (m.uid, m.flags)))
                .collect(),
        );
    }
    out
}

fn message_files(root: &Path) -> BTreeMap<PathBuf, Vec<u8>> {
    let mut out = BTreeMap::new();
    fn walk(d: &Path, out: &mut BTreeMap<PathBuf, Vec<u8>>) {
        for e in std::fs::read_dir(d).unwrap().flatten() {
            let ft = e.file_type().unwrap();
            let name = e.file_name().to_string_lossy().into_owned();
            if ft.is_dir() {
                walk(&e.path(), out);
            } else if ft.is_file()
                && matches!(
                    msgstore::store::classify(&name),
                    msgstore::store::Entry::Message(_) | msgstore::store::Entry::Bad(_)
                )
            {
                out.insert(e.path(), std::fs::read(e.path()).unwrap());
            }
        }
    }
    walk(&root.join("users"), &mut out);
    walk(&root.join("public"), &mut out);
    out
}

struct Bin<'a>(&'a Path);

impl Bin<'_> {
    fn run(&self, args: &[&str]) -> support::Output {
        let o = run_with_timeout(
            std::process::Command::new(BIN)
                .arg("--store")
                .arg(self.0)
                .env_remove("MSGSTORE_FAULT")
                .env("MSGSTORE_LOCK_TIMEOUT", "5")
                .args(args),
            LIMIT,
        );
        checked(o, args)
    }
}

/// A run must end with a documented exit status, never a panic.
fn checked(o: support::Output, args: &[&str]) -> support::Output {
    assert!(
        o.code != 101 && !o.stderr.contains("panicked"),
        "{args:?} panicked: {}",
        o.stderr
    );
    assert!(
        (0..=2).contains(&o.code),
        "{args:?}: exit status {}: {}",
        o.code,
        o.stderr
    );
    o
}

#[derive(Clone, Copy, Debug, PartialEq)]
enum Target {
    Users,
    Mailboxes,
    Index,
    Message,
}

/// One binary trial: damage one file of a copy of the template, read the store
/// as users would, repair it the documented way, and check nothing was lost.
fn binary_trial(
    template_root: &Path,
    before: &Contents,
    files_before: &BTreeMap<PathBuf, Vec<u8>>,
    target: Target,
    rng: &mut Rng,
) -> String {
    let tmp = fast_tempdir();
    let root = tmp.path().join("store");
    copy_dir(template_root, &root);
    let rel = match target {
        Target::Users => PathBuf::from("users.redb"),
        Target::Mailboxes => PathBuf::from("mailboxes.redb"),
        Target::Index => PathBuf::from(if rng.chance(50) {
            "users/joe/msgstore.index"
        } else {
            "users/joe/work/msgstore.index"
        }),
        Target::Message => PathBuf::from(format!("users/joe/{}.", 1 + rng.below(6))),
    };
    let path = root.join(&rel);
    let len = std::fs::metadata(&path).unwrap().len();
    let m = pick_mutation(rng, len, true);
    apply(&path, &m);
    let file = rel.file_name().unwrap().to_string_lossy().into_owned();
    let b = Bin(&root);

    // Using the damaged store: results, or an error naming the file. The flag
    // change is one UID 1 already has (nothing changes); a delivery adds a message
    // that is not checked below.
    let extra = tmp.path().join("extra.eml");
    std::fs::write(&extra, msgstore::sample::message(99, 1, 1)).unwrap();
    let extra = extra.display().to_string();
    for args in [
        &["mailbox", "list"][..],
        &["user", "list"],
        &["dump", "joe"],
        &["dump", "joe/work"],
        &["flags", "joe", "1", "--add", "\\Seen"],
        &["expunge", "joe/work", "999"],
        &["deliver", "joe", &extra],
    ] {
        let o = b.run(args);
        if o.code != 0 {
            assert!(
                o.stderr.contains(&file) || o.stderr.contains("run `msgstore"),
                "{m:?} on {rel:?}: {args:?} failed without naming the file or the remedy: {}",
                o.stderr
            );
        }
    }
    // The documented repair.
    let steps: &[&[&str]] = match target {
        Target::Users => &[
            &["x-build-user-db"],
            &["reconstruct", "-m"],
            &["reconstruct", "-r"],
        ],
        Target::Mailboxes => &[&["reconstruct", "-m"], &["reconstruct", "-r"]],
        Target::Index | Target::Message => &[&["reconstruct", "-r"]],
    };
    for s in steps {
        let o = b.run(s);
        assert_eq!(
            o.code, 0,
            "{m:?} on {rel:?}: {s:?} did not repair: {}\n{}",
            o.stdout, o.stderr
        );
    }
    let o = b.run(&["--json", "reconstruct", "-r"]);
    assert_eq!(o.code, 0, "{}", o.stderr);
    assert!(
        !o.stdout.contains("\"rewritten\": true"),
        "{m:?} on {rel:?}: a second reconstruct still rewrote: {}",
        o.stdout
    );

    // Nothing lost: every message, in its mailbox; flags kept unless the damage
    // hit the index (where flags live) or the file itself.
    let after = contents(&root);
    let damaged_guid = (target == Target::Message).then(|| {
        let uid: u32 = file.trim_end_matches('.').parse().unwrap();
        before["Other Users/joe"]
            .iter()
            .find(|(_, v)| v.0 == uid)
            .map(|(g, _)| g.clone())
            .unwrap()
    });
    for (mb, msgs) in before {
        let got = after
            .get(mb)
            .unwrap_or_else(|| panic!("{m:?} on {rel:?}: mailbox {mb} lost"));
        for (g, (uid, flags)) in msgs {
            if Some(g) == damaged_guid.as_ref() {
                continue;
            }
            let (nuid, nflags) = got
                .get(g)
                .unwrap_or_else(|| panic!("{m:?} on {rel:?}: {mb} UID {uid} lost"));
            assert_eq!(nuid, uid, "{m:?} on {rel:?}: {mb}: UID changed");
            let index_hit = target == Target::Index && rel.starts_with(mailbox_rel(mb));
            if !index_hit && target != Target::Users {
                assert_eq!(nflags, flags, "{m:?} on {rel:?}: {mb} UID {uid}: flags");
            }
        }
    }
    // Never a message file lost or modified (the damaged one is as we left it).
    let files_after = message_files(&root);
    for (p, bytes) in files_before {
        let rel_p = p.strip_prefix(template_root).unwrap();
        if rel_p == rel {
            continue;
        }
        let now = root.join(rel_p);
        assert_eq!(
            files_after.get(&now).map(|b| guid(b)),
            Some(guid(bytes)),
            "{m:?} on {rel:?}: message file {rel_p:?} lost or modified"
        );
    }
    if matches!(m, Mutation::Directory | Mutation::DanglingSymlink) && target == Target::Message {
        assert!(
            std::fs::symlink_metadata(&path).is_ok(),
            "{m:?}: the odd {rel:?} was removed; it must be left alone"
        );
    }
    let kind = format!("{m:?}").split('(').next().unwrap_or("").to_owned();
    format!("{target:?} {kind}")
}

fn mailbox_rel(mb: &str) -> PathBuf {
    let n = msgstore::store::names::MailboxName::parse(mb).unwrap();
    msgstore::store::Store::at("").mailbox_dir(&n)
}

fn binary_trials(target: Target, seed: u64) {
    let (_t, root) = template();
    let before = contents(&root);
    let files = message_files(&root);
    let n = env_u64("MSGSTORE_CORRUPT_BIN_TRIALS", 12);
    let mut rng = Rng(env_u64("MSGSTORE_CORRUPT_SEED", seed));
    let mut tally = BTreeMap::<String, u64>::new();
    for _ in 0..n {
        *tally
            .entry(binary_trial(&root, &before, &files, target, &mut rng))
            .or_default() += 1;
    }
    eprintln!("{target:?}: {n} binary trials: {tally:?}");
}

#[test]
fn users_db_binary() {
    binary_trials(Target::Users, 11);
}

#[test]
fn mailboxes_db_binary() {
    binary_trials(Target::Mailboxes, 12);
}

#[test]
fn index_binary() {
    binary_trials(Target::Index, 13);
}

#[test]
fn message_file_binary() {
    binary_trials(Target::Message, 14);
}

/// Permissions: a file the user running msgstore may not read. Root ignores mode
/// bits, so as root (as in CI) the binary runs as `nobody` through util-linux
/// `setpriv` on a store given to `nobody`; skipped where that is impossible.
#[test]
fn unreadable_files_give_errors_naming_them() {
    let as_root = std::process::Command::new("id")
        .arg("-u")
        .output()
        .is_ok_and(|o| o.stdout.starts_with(b"0"));
    let setpriv = std::process::Command::new("setpriv")
        .arg("--version")
        .output()
        .is_ok();
    if as_root && !setpriv {
        eprintln!("skipped: running as root without setpriv to drop to another user");
        return;
    }
    use std::os::unix::fs::PermissionsExt;
    let (_t, root) = template();
    const NOBODY: u32 = 65534;
    if as_root {
        fn give(p: &Path) {
            std::os::unix::fs::lchown(p, Some(NOBODY), Some(NOBODY)).unwrap();
            if p.is_dir() {
                for e in std::fs::read_dir(p).unwrap().flatten() {
                    give(&e.path());
                }
            }
        }
        // nobody must reach the store through its parents.
        for a in root.ancestors().skip(1) {
            if a.starts_with(std::env::temp_dir()) || a.starts_with("/dev/shm") {
                let mode = std::fs::metadata(a).unwrap().permissions().mode();
                std::fs::set_permissions(a, std::fs::Permissions::from_mode(mode | 0o755)).unwrap();
            }
        }
        give(&root);
    }
    let run = |args: &[&str]| -> support::Output {
        if !as_root {
            return Bin(&root).run(args);
        }
        let o = run_with_timeout(
            std::process::Command::new("setpriv")
                .args([
                    "--reuid=65534",
                    "--regid=65534",
                    "--clear-groups",
                    BIN,
                    "--store",
                ])
                .arg(&root)
                .env_remove("MSGSTORE_FAULT")
                .env("MSGSTORE_LOCK_TIMEOUT", "5")
                .args(args),
            LIMIT,
        );
        checked(o, args)
    };
    // As the store's owner, everything works before any damage.
    assert_eq!(
        run(&["mailbox", "list"]).code,
        0,
        "the store must be usable as its owner"
    );
    for rel in [
        "users.redb",
        "mailboxes.redb",
        "users/joe/msgstore.index",
        "users/joe/3.",
    ] {
        let p = root.join(rel);
        std::fs::set_permissions(&p, std::fs::Permissions::from_mode(0o000)).unwrap();
        let mut noticed = 0;
        for args in [
            &["user", "list"][..],
            &["mailbox", "list"],
            &["dump", "joe"],
            &["reconstruct", "-r"],
        ] {
            let o = run(args);
            noticed += usize::from(o.code != 0);
            if o.code != 0 {
                let file = Path::new(rel).file_name().unwrap().to_string_lossy();
                assert!(
                    o.stderr.contains(&*file) || o.stdout.contains(&*file),
                    "{rel}: {args:?}: {}",
                    o.stderr
                );
            }
        }
        assert!(noticed > 0, "{rel}: unreadable, yet no command said so");
        std::fs::set_permissions(&p, std::fs::Permissions::from_mode(0o600)).unwrap();
    }
}
