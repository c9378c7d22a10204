//! Running the binary, and the invariants every repair must keep.

use std::collections::BTreeMap;
use std::io::Write;
use std::path::{Path, PathBuf};
use std::process::{Command, Output, Stdio};

pub const BIN: &str = env!("CARGO_BIN_EXE_msgstore");

pub fn fixture(name: &str) -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR"))
        .join("tests/e2e/fixtures")
        .join(name)
}

pub struct Run {
    pub code: i32,
    pub stdout: String,
    pub stderr: String,
}

impl Run {
    fn from(o: Output) -> Run {
        Run {
            code: o.status.code().unwrap_or(-1),
            stdout: String::from_utf8_lossy(&o.stdout).into_owned(),
            stderr: String::from_utf8_lossy(&o.stderr).into_owned(),
        }
    }

    pub fn json(&self) -> serde_json::Value {
        serde_json::from_str(&self.stdout)
            .unwrap_or_else(|e| panic!("not JSON ({e}): {}\nstderr: {}", self.stdout, self.stderr))
    }

    #[track_caller]
    pub fn ok(self) -> Run {
        assert_eq!(
            self.code, 0,
            "stdout: {}\nstderr: {}",
            self.stdout, self.stderr
        );
        self
    }

    #[track_caller]
    pub fn code(self, code: i32) -> Run {
        assert_eq!(
            self.code, code,
            "stdout: {}\nstderr: {}",
            self.stdout, self.stderr
        );
        self
    }
}

/// A store in a temporary directory.
pub struct Store {
    pub _tmp: tempfile::TempDir,
    pub root: PathBuf,
}

impl Store {
    pub fn new() -> Store {
        let tmp = tempfile::tempdir().unwrap();
        let root = tmp.path().join("store");
        let s = Store { _tmp: tmp, root };
        s.run(&["init"]).ok();
        s
    }

    pub fn cmd(&self) -> Command {
        let mut c = Command::new(BIN);
        c.arg("--store")
            .arg(&self.root)
            .env_remove("MSGSTORE_ROOT")
            .env_remove("MSGSTORE_FAULT")
            .env("MSGSTORE_LOCK_TIMEOUT", "1");
        c
    }

    pub fn run(&self, args: &[&str]) -> Run {
        Run::from(self.cmd().args(args).stdin(Stdio::null()).output().unwrap())
    }

    pub fn run_env(&self, args: &[&str], env: &[(&str, &str)]) -> Run {
        let mut c = self.cmd();
        c.args(args).stdin(Stdio::null());
        for (k, v) in env {
            c.env(k, v);
        }
        Run::from(c.output().unwrap())
    }

    pub fn run_stdin(&self, args: &[&str], input: &[u8]) -> Run {
        let mut child = self
            .cmd()
            .args(args)
            .stdin(Stdio::piped())
            .stdout(Stdio::piped())
            .stderr(Stdio::piped())
            .spawn()
            .unwrap();
        // A command that refuses early closes its stdin: its exit status and
        // output are what the test checks, not our write.
        if let Err(e) = child.stdin.take().unwrap().write_all(input) {
            assert_eq!(e.kind(), std::io::ErrorKind::BrokenPipe, "{e}");
        }
        Run::from(child.wait_with_output().unwrap())
    }

    pub fn json(&self, args: &[&str]) -> serde_json::Value {
        let mut a = vec!["--json"];
        a.extend_from_slice(args);
        self.run(&a).ok().json()
    }

    pub fn dir(&self, rel: &str) -> PathBuf {
        self.root.join(rel)
    }

    /// Delivers message bytes; returns the UID.
    pub fn deliver(&self, mailbox: &str, msg: &[u8]) -> u32 {
        let r = self.run_stdin(&["deliver", mailbox], msg).ok();
        r.stdout
            .trim()
            .parse()
            .unwrap_or_else(|_| panic!("no UID in {:?}", r.stdout))
    }

    /// The UID bound the mailbox list reserved for `mailbox`: every UID given out
    /// is below it, and a repair hands out new UIDs at or above it.
    pub fn bound(&self, mailbox: &str) -> u32 {
        let full = if mailbox.starts_with("Other Users/") || mailbox.starts_with("Public Folders/")
        {
            mailbox.to_owned()
        } else {
            format!("Other Users/{mailbox}")
        };
        let l = self.json(&["mailbox", "list"]);
        l["mailboxes"]
            .as_array()
            .unwrap()
            .iter()
            .find(|m| m["name"] == full.as_str())
            .and_then(|m| m["uid_bound"].as_u64())
            .unwrap_or_else(|| panic!("{full} is not listed: {l}")) as u32
    }

    pub fn dump(&self, mailbox: &str) -> serde_json::Value {
        self.json(&["dump", mailbox])
    }

    /// guid -> (uid, flags) of a mailbox.
    pub fn contents(&self, mailbox: &str) -> BTreeMap<String, (u32, Vec<String>)> {
        let d = self.dump(mailbox);
        d["messages"]
            .as_array()
            .unwrap()
            .iter()
            .map(|m| {
                let flags = m["flags"]
                    .as_array()
                    .unwrap()
                    .iter()
                    .map(|f| f.as_str().unwrap().to_owned())
                    .collect();
                (
                    m["guid"].as_str().unwrap().to_owned(),
                    (m["uid"].as_u64().unwrap() as u32, flags),
                )
            })
            .collect()
    }

    /// Every file under the store with the hash of its bytes and its modification
    /// time (a hash, so a failed comparison prints something readable).
    pub fn snapshot(&self) -> BTreeMap<PathBuf, (String, std::time::SystemTime)> {
        let mut out = BTreeMap::new();
        fn walk(d: &Path, out: &mut BTreeMap<PathBuf, (String, std::time::SystemTime)>) {
            let mut items: Vec<_> = std::fs::read_dir(d).unwrap().flatten().collect();
            items.sort_by_key(|e| e.file_name());
            for e in items {
                let p = e.path();
                let m = std::fs::symlink_metadata(&p).unwrap();
                if m.is_dir() {
                    out.insert(p.clone(), ("directory".into(), m.modified().unwrap()));
                    walk(&p, out);
                } else {
                    let bytes = std::fs::read(&p).unwrap_or_default();
                    out.insert(p.clone(), (guid(&bytes), m.modified().unwrap()));
                }
            }
        }
        walk(&self.root, &mut out);
        out
    }
}

pub fn guid(bytes: &[u8]) -> String {
    blake3::hash(bytes).to_hex().to_string()
}

/// The invariants of every repair: `before` is what a mailbox held (guid -> uid,
/// flags); `expunged` guids must not come back; `flags_kept` says whether the
/// index survived (so flags must be the same).
#[track_caller]
pub fn assert_nothing_lost(
    before: &BTreeMap<String, (u32, Vec<String>)>,
    after: &BTreeMap<String, (u32, Vec<String>)>,
    expunged: &[String],
    flags_kept: bool,
    uidnext_before: u32,
    uidnext_after: u32,
) {
    for (g, (uid, flags)) in before {
        if expunged.contains(g) {
            assert!(!after.contains_key(g), "expunged message {g} came back");
            continue;
        }
        let (new_uid, new_flags) = after
            .get(g)
            .unwrap_or_else(|| panic!("message {g} (UID {uid}) lost"));
        if flags_kept {
            assert_eq!(new_flags, flags, "flags of UID {uid} changed");
            assert_eq!(new_uid, uid, "UID of a kept message changed");
        }
    }
    assert!(
        uidnext_after >= uidnext_before,
        "UIDNEXT went down: {uidnext_before} -> {uidnext_after}"
    );
    let mut uids: Vec<u32> = after.values().map(|v| v.0).collect();
    uids.sort();
    uids.dedup();
    assert_eq!(uids.len(), after.len(), "a UID is used twice");
    assert!(
        uids.iter().all(|&u| u < uidnext_after),
        "a UID at or above UIDNEXT"
    );
}

/// `field` of every object in the JSON array `list` (a report's mailbox names, say).
#[track_caller]
pub fn field_of<'a>(list: &'a serde_json::Value, field: &str) -> Vec<&'a str> {
    let items = list
        .as_array()
        .unwrap_or_else(|| panic!("not an array: {list}"));
    items
        .iter()
        .map(|m| {
            m[field]
                .as_str()
                .unwrap_or_else(|| panic!("no string {field:?} in {m}"))
        })
        .collect()
}

pub fn sample(i: u64) -> Vec<u8> {
    msgstore::sample::message(7, i, 2)
}

/// Says why a test is skipped (a tool it needs is missing): with `eprintln!`
/// (shown with `--nocapture`), and on the real standard error too, which libtest
/// does not capture, so the line shows in every run's output. (The corpus tests,
/// which skip on a missing directory, run under their own harness and are
/// counted as ignored instead: tests/e2e/corpus.rs.)
pub fn skip(why: &str) {
    use std::io::Write as _;
    eprintln!("skipping: {why}");
    let name = std::thread::current().name().unwrap_or("a test").to_owned();
    let _ = writeln!(std::io::stderr(), "\nSKIPPED {name}: {why}");
}

pub fn p(path: &Path) -> &str {
    path.to_str().unwrap()
}

/// A dump's messages without what a fresh mailbox gives anew (nothing: UIDs,
/// flags as sets, dates, sizes, guids and the three strings must all agree).
pub fn messages(d: &serde_json::Value) -> Vec<serde_json::Value> {
    d["messages"]
        .as_array()
        .unwrap()
        .iter()
        .map(|m| {
            let mut m = m.clone();
            let mut flags: Vec<String> = m["flags"]
                .as_array()
                .unwrap()
                .iter()
                .map(|f| f.as_str().unwrap().to_owned())
                .collect();
            // Keyword order is the order of first use in the mailbox: not content.
            flags.sort();
            m["flags"] = serde_json::json!(flags);
            // MODSEQ is the order of changes in this mailbox: not content either.
            if let Some(o) = m.as_object_mut() {
                o.remove("modseq");
            }
            m
        })
        .collect()
}

pub fn set_mtime(path: &Path, secs: i64) {
    let t = std::time::UNIX_EPOCH + std::time::Duration::from_secs(secs as u64);
    std::fs::File::options()
        .write(true)
        .open(path)
        .unwrap()
        .set_modified(t)
        .unwrap();
}

/// Every regular file under `dir`.
pub fn files_under(dir: &Path) -> Vec<PathBuf> {
    let mut out = Vec::new();
    for e in std::fs::read_dir(dir).unwrap().flatten() {
        let ft = e.file_type().unwrap();
        if ft.is_dir() {
            out.extend(files_under(&e.path()));
        } else if ft.is_file() {
            out.push(e.path());
        }
    }
    out.sort();
    out
}
