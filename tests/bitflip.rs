//! The single-bit-flip experiment on an index (issue 11, class 2): one bad bit must
//! not throw flags away. A mailbox whose messages each carry different flags and
//! keywords; in each trial one bit of its `msgstore.index` is flipped, `reconstruct`
//! runs (in this process, through the same operations the CLI calls), and then:
//! - every record that still verifies in the damaged file (redb can read it, or
//!   salvage finds its latest copy) comes back with exactly its flags;
//! - no message ever shows flags it did not have (none misapplied);
//! - every message keeps its UID, UIDVALIDITY is unchanged, UIDNEXT and
//!   HIGHESTMODSEQ do not go down.
//!
//! Seeded and bounded: `MSGSTORE_BITFLIP_TRIALS=N` random bits (default 300), or
//! `MSGSTORE_BITFLIP_PAGES=N` for every bit of N pages picked at random (the full
//! experiment; 32,768 trials a page). `MSGSTORE_BITFLIP_SEED=S` another sample.
//! Prints the tally.

mod support;
#[allow(dead_code)]
#[path = "e2e/util.rs"]
mod util;

use msgstore::index::{self, record::Record};
use std::collections::{BTreeMap, BTreeSet};
use std::path::{Path, PathBuf};
use std::process::Command;
use std::sync::{Arc, Mutex};
use support::{Rng, env_u64, fast_tempdir};
use util::BIN;

type Flags = (u32, BTreeSet<String>);

fn flags_of(r: &Record, keywords: &[String]) -> Flags {
    let mut names = BTreeSet::new();
    for (i, k) in keywords.iter().enumerate() {
        let word = r.user_flags[i / 64].get();
        if word & (1u64 << (i % 64)) != 0 {
            names.insert(k.clone());
        }
    }
    (r.system_flags.get(), names)
}

fn run(root: &Path, args: &[&str]) {
    let out = Command::new(BIN)
        .arg("--store")
        .arg(root)
        .args(args)
        .output()
        .unwrap();
    assert!(
        out.status.success(),
        "{args:?}: {}",
        String::from_utf8_lossy(&out.stderr)
    );
}

/// A store with joe's INBOX: 40 messages, flags and keywords in many combinations,
/// some expunged, so that the index has history (stale page copies) as in use.
fn template() -> (tempfile::TempDir, PathBuf) {
    let t = fast_tempdir();
    let root = t.path().join("store");
    run(&root, &["init"]);
    run(&root, &["user", "add", "joe"]);
    let msgs = t.path().join("msgs");
    std::fs::create_dir(&msgs).unwrap();
    let mut files = Vec::new();
    for i in 0..40 {
        let p = msgs.join(format!("{i}.eml"));
        std::fs::write(
            &p,
            format!(
                "From: a{i}@example.org\r\nTo: joe@example.org\r\nSubject: message {i}\r\nMessage-ID: <{i}@bitflip>\r\nDate: Tue, 1 Dec 2026 10:{:02}:00 +0000\r\n\r\nbody of message {i}\r\n{}",
                i % 60,
                "line\r\n".repeat(i * 7)
            ),
        )
        .unwrap();
        files.push(p.to_string_lossy().into_owned());
    }
    let mut args = vec!["deliver", "joe"];
    args.extend(files.iter().map(|s| s.as_str()));
    run(&root, &args);
    let kws = ["$Junk", "work", "$Forwarded", "later", "$label1"];
    for uid in 1..=40u32 {
        let mut add = Vec::new();
        for (bit, f) in ["\\Seen", "\\Answered", "\\Flagged", "\\Draft"]
            .iter()
            .enumerate()
        {
            if uid & (1 << bit) != 0 {
                add.push(f.to_string());
            }
        }
        if uid % 3 == 0 {
            add.push(kws[(uid as usize / 3) % kws.len()].to_owned());
        }
        if uid % 7 == 0 {
            add.push("later".to_owned());
        }
        if !add.is_empty() {
            let set = uid.to_string();
            let mut a = vec!["flags", "joe", set.as_str()];
            for f in &add {
                a.push("--add");
                a.push(f);
            }
            run(&root, &a);
        }
    }
    run(&root, &["flags", "joe", "5:9", "--add", "\\Deleted"]);
    run(&root, &["expunge", "joe"]);
    (t, root)
}

fn load(path: &Path) -> index::State {
    index::Reader::open(path).unwrap().load().unwrap()
}

fn copy_tree(from: &Path, to: &Path) {
    std::fs::create_dir_all(to).unwrap();
    for e in std::fs::read_dir(from).unwrap() {
        let e = e.unwrap();
        let t = to.join(e.file_name());
        if e.file_type().unwrap().is_dir() {
            copy_tree(&e.path(), &t);
        } else {
            std::fs::copy(e.path(), t).unwrap();
        }
    }
}

#[derive(Default, Debug)]
struct Tally {
    trials: u64,
    /// Trials where redb or a check refused the damaged file.
    damaged: u64,
    /// Records that still verified in the damaged file, summed over trials.
    readable: u64,
    /// Of those, records whose flags came back exactly.
    kept: u64,
    /// Records that no longer verified (their flags may be lost, never moved).
    unreadable: u64,
    /// Unreadable records whose flags came back anyway (from another copy).
    recovered: u64,
    /// Messages given a new UID (their record no longer verified).
    renumbered: u64,
}

#[test]
fn one_flipped_bit_keeps_every_readable_records_flags() {
    let (_t, root) = template();
    if let Ok(keep) = std::env::var("MSGSTORE_BITFLIP_KEEP") {
        copy_tree(&root, Path::new(&keep));
    }
    let index_path = root.join("users/joe/msgstore.index");
    let base = load(&index_path);
    let base_flags: BTreeMap<u32, (Flags, [u8; 32])> = base
        .records
        .iter()
        .map(|(u, r)| (*u, (flags_of(r, &base.keywords), r.guid)))
        .collect();
    assert_eq!(base_flags.len(), 35);
    let bytes = std::fs::read(&index_path).unwrap();
    let seed = env_u64("MSGSTORE_BITFLIP_SEED", 11);
    let mut rng = Rng(seed);
    let positions: Vec<u64> = match env_u64("MSGSTORE_BITFLIP_PAGES", 0) {
        0 => (0..env_u64("MSGSTORE_BITFLIP_TRIALS", 300))
            .map(|_| rng.below(bytes.len() as u64 * 8))
            .collect(),
        pages => {
            let n = (bytes.len() as u64).div_ceil(4096);
            let mut chosen = BTreeSet::new();
            while (chosen.len() as u64) < pages.min(n) {
                chosen.insert(rng.below(n));
            }
            chosen
                .into_iter()
                .flat_map(|p| p * 4096 * 8..((p + 1) * 4096 * 8).min(bytes.len() as u64 * 8))
                .collect()
        }
    };
    let work = fast_tempdir();
    let tally = Arc::new(Mutex::new(Tally::default()));
    let failures = Arc::new(Mutex::new(Vec::<String>::new()));
    let next = Arc::new(Mutex::new(0usize));
    let positions = Arc::new(positions);
    let threads: Vec<_> = (0..2)
        .map(|w| {
            let (root, work, bytes) =
                (root.clone(), work.path().join(w.to_string()), bytes.clone());
            let (tally, failures, next, positions) = (
                tally.clone(),
                failures.clone(),
                next.clone(),
                positions.clone(),
            );
            let base_flags = base_flags.clone();
            let base_header = base.header;
            std::thread::spawn(move || {
                loop {
                    let i = {
                        let mut n = next.lock().unwrap();
                        *n += 1;
                        *n - 1
                    };
                    let Some(&bit) = positions.get(i) else { break };
                    let _ = std::fs::remove_dir_all(&work);
                    copy_tree(&root, &work);
                    let path = work.join("users/joe/msgstore.index");
                    let mut b = bytes.clone();
                    b[(bit / 8) as usize] ^= 1 << (bit % 8);
                    std::fs::write(&path, &b).unwrap();
                    match trial(&work, &path, &base_flags, &base_header) {
                        Ok(t) => {
                            let mut all = tally.lock().unwrap();
                            all.trials += 1;
                            all.damaged += t.damaged;
                            all.readable += t.readable;
                            all.kept += t.kept;
                            all.unreadable += t.unreadable;
                            all.recovered += t.recovered;
                            all.renumbered += t.renumbered;
                        }
                        Err(e) => failures.lock().unwrap().push(format!("bit {bit}: {e}")),
                    }
                }
            })
        })
        .collect();
    for t in threads {
        t.join().unwrap();
    }
    let t = tally.lock().unwrap();
    eprintln!(
        "bit flips: {} trials ({} found damaged); readable records {}: flags kept {}; unreadable records {}: flags recovered {}, renumbered {}",
        t.trials, t.damaged, t.readable, t.kept, t.unreadable, t.recovered, t.renumbered
    );
    let f = failures.lock().unwrap();
    assert!(f.is_empty(), "{} failures:\n{}", f.len(), f.join("\n"));
    assert_eq!(t.readable, t.kept);
}

fn trial(
    root: &Path,
    path: &Path,
    base: &BTreeMap<u32, (Flags, [u8; 32])>,
    base_header: &index::record::Header,
) -> Result<Tally, String> {
    let mut t = Tally::default();
    // What still verifies in the damaged file, as any reader would find it.
    let readable: BTreeMap<u32, Flags> = match index::Reader::open(path).and_then(|r| r.load()) {
        Ok(st) => st
            .records
            .iter()
            .map(|(u, r)| (*u, flags_of(r, &st.keywords)))
            .collect(),
        Err(_) => {
            t.damaged = 1;
            let s = index::salvage::salvage(path, Some(base_header.identity()), &BTreeMap::new())
                .map_err(|e| e.to_string())?;
            s.records
                .iter()
                .map(|(u, r)| (*u, flags_of(r, &s.keywords)))
                .collect()
        }
    };
    let store = msgstore::store::Store::at(root);
    let planned = msgstore::ops::reconstruct::plan(&store, &["joe".to_owned()], false)
        .map_err(|e| e.to_string())?;
    let opts = msgstore::reconstruct::Options {
        dry_run: false,
        check: msgstore::ops::reconstruct::Check::Hash,
        wait: true,
    };
    let report = planned.run(&store, opts, &|_| {});
    if report.mailboxes.iter().any(|m| m.error.is_some()) {
        return Err(format!("reconstruct failed: {:?}", report.mailboxes));
    }
    let after = index::Reader::open(path)
        .and_then(|r| r.load())
        .map_err(|e| format!("rebuilt index unreadable: {e}"))?;
    let h = after.header;
    if h.uidvalidity.get() != base_header.uidvalidity.get() {
        return Err(format!(
            "UIDVALIDITY {} -> {}",
            base_header.uidvalidity.get(),
            h.uidvalidity.get()
        ));
    }
    if h.uidnext.get() < base_header.uidnext.get()
        || h.highestmodseq.get() < base_header.highestmodseq.get()
    {
        return Err(format!("UIDNEXT/HIGHESTMODSEQ went down: {h:?}"));
    }
    let by_guid: BTreeMap<[u8; 32], u32> =
        after.records.iter().map(|(u, r)| (r.guid, *u)).collect();
    for (uid, (flags, guid)) in base {
        let readable_here = readable.get(uid) == Some(flags);
        // A message keeps its UID; one whose record no longer verified may be given
        // a new one above UIDNEXT (nothing proves what its old UID named), never a
        // UID below it.
        let Some(&now_uid) = by_guid.get(guid) else {
            return Err(format!("the message of UID {uid} is gone"));
        };
        if now_uid != *uid && (readable_here || now_uid < base_header.uidnext.get()) {
            return Err(format!("UID {uid} became {now_uid}"));
        }
        if now_uid != *uid {
            t.renumbered += 1;
        }
        if after.records.get(uid).is_some_and(|r| &r.guid != guid) {
            return Err(format!("UID {uid} names other content"));
        }
        let now = flags_of(&after.records[&now_uid], &after.keywords);
        let extra = now.0 & !flags.0 != 0 || !now.1.is_subset(&flags.1);
        if extra {
            return Err(format!(
                "UID {uid} has flags it never had: {now:?}, was {flags:?}"
            ));
        }
        if readable_here {
            t.readable += 1;
            if &now == flags {
                t.kept += 1;
            } else {
                return Err(format!(
                    "UID {uid} was readable with {flags:?} but came back {now:?}"
                ));
            }
        } else {
            t.unreadable += 1;
            if &now == flags {
                t.recovered += 1;
            }
        }
    }
    if after.records.len() != base.len() {
        return Err(format!(
            "{} records, was {}",
            after.records.len(),
            base.len()
        ));
    }
    Ok(t)
}
