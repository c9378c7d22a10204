//! What the sync-client tests share: the test mail (every message has its own
//! Message-ID, which is how a client's local copy is recognised), a look at a local
//! Maildir, the store's own view (`dump --json`), and whether a tool is installed.

use crate::harness::Store;
use std::collections::BTreeMap;
use std::path::Path;
use std::process::{Command, Stdio};

pub const PASSWORD: &str = "sync clients' secret";

/// A message whose Message-ID is `<ID@sync.test>`.
pub fn message(id: &str) -> Vec<u8> {
    format!(
        "From: Sender <sender@example.org>\r\nTo: joe@example.org\r\nSubject: message {id}\r\nMessage-ID: <{id}@sync.test>\r\nDate: Tue, 01 Dec 2026 10:00:00 +0000\r\n\r\nThis is message {id}.\r\nA second line.\r\n"
    )
    .into_bytes()
}

/// Delivers one test message with the CLI; its UID.
#[track_caller]
pub fn deliver(s: &Store, mailbox: &str, id: &str) -> u32 {
    let r = s.run(&["deliver", mailbox], &message(id));
    assert_eq!(r.code, 0, "deliver {id} to {mailbox}: {}", r.stderr);
    r.stdout.trim().parse().expect("deliver prints the UID")
}

/// The store's view of one mailbox.
#[derive(Clone, Debug)]
pub struct View {
    pub uidvalidity: u64,
    pub uidnext: u64,
    pub highestmodseq: u64,
    /// UID -> (Message-ID, flags sorted)
    pub messages: BTreeMap<u32, (String, Vec<String>)>,
}

#[track_caller]
pub fn view(s: &Store, mailbox: &str) -> View {
    let out = s.ok(&["--json", "dump", mailbox]);
    let v: serde_json::Value = serde_json::from_str(&out).expect("dump --json");
    let mut messages = BTreeMap::new();
    for m in v["messages"].as_array().expect("messages") {
        let uid = m["uid"].as_u64().expect("uid") as u32;
        let env = m["envelope"].as_str().unwrap_or("");
        let id = env
            .split("\"<")
            .nth(1)
            .and_then(|r| r.split("@sync.test>").next())
            .unwrap_or("?")
            .to_owned();
        let mut flags: Vec<String> = m["flags"]
            .as_array()
            .expect("flags")
            .iter()
            .map(|f| f.as_str().unwrap_or("").to_owned())
            .collect();
        flags.sort();
        messages.insert(uid, (id, flags));
    }
    View {
        uidvalidity: v["uidvalidity"].as_u64().expect("uidvalidity"),
        uidnext: v["uidnext"].as_u64().expect("uidnext"),
        highestmodseq: v["highestmodseq"].as_u64().expect("highestmodseq"),
        messages,
    }
}

/// One message file of a local Maildir.
#[derive(Clone, Debug, PartialEq)]
pub struct Local {
    /// The Message-ID's local part (`?` if none).
    pub id: String,
    /// The Maildir info flags after `:2,`.
    pub flags: String,
}

/// Every message file below `dir` (all its Maildirs, recursively), by folder path
/// relative to `dir` ("" for a Maildir at `dir` itself) and file name up to the `:`
/// (what stays when only the flags change).
pub fn local(dir: &Path) -> BTreeMap<(String, String), Local> {
    let mut out = BTreeMap::new();
    walk(dir, dir, &mut out);
    out
}

fn walk(root: &Path, dir: &Path, out: &mut BTreeMap<(String, String), Local>) {
    let Ok(rd) = std::fs::read_dir(dir) else {
        return;
    };
    for e in rd.flatten() {
        let p = e.path();
        let name = e.file_name().to_string_lossy().into_owned();
        if p.is_dir() {
            if name == "cur" || name == "new" {
                let folder = dir
                    .strip_prefix(root)
                    .unwrap()
                    .to_string_lossy()
                    .into_owned();
                for f in std::fs::read_dir(&p).unwrap().flatten() {
                    let fname = f.file_name().to_string_lossy().into_owned();
                    let (base, flags) = match fname.split_once(":2,") {
                        Some((b, fl)) => (b.to_owned(), fl.to_owned()),
                        None => (fname.clone(), String::new()),
                    };
                    let text = std::fs::read(f.path()).unwrap();
                    let text = String::from_utf8_lossy(&text);
                    let id = text
                        .split("Message-ID: <")
                        .nth(1)
                        .and_then(|r| r.split("@sync.test>").next())
                        .unwrap_or("?")
                        .to_owned();
                    out.insert((folder.clone(), base), Local { id, flags });
                }
            } else if name != "tmp" {
                walk(root, &p, out);
            }
        }
    }
}

/// The Message-IDs of files in `after` that were not in `before` but whose
/// Message-ID was: bodies the client fetched again.
pub fn refetched(
    before: &BTreeMap<(String, String), Local>,
    after: &BTreeMap<(String, String), Local>,
) -> Vec<String> {
    let had: std::collections::BTreeSet<(&str, &str)> = before
        .iter()
        .map(|((folder, _), l)| (folder.as_str(), l.id.as_str()))
        .collect();
    after
        .iter()
        .filter(|(k, _)| !before.contains_key(*k))
        .filter(|((folder, _), l)| had.contains(&(folder.as_str(), l.id.as_str())))
        .map(|((folder, _), l)| format!("{folder}:{}", l.id))
        .collect()
}

/// Whether `tool` runs at all (`tool --version` or `-V` exits, whatever its status).
pub fn installed(tool: &str) -> bool {
    Command::new(tool)
        .arg("--version")
        .stdin(Stdio::null())
        .stdout(Stdio::null())
        .stderr(Stdio::null())
        .status()
        .is_ok()
}

/// A store with users joe and ann, joe's password set, and joe's folders `work`,
/// `Archive` and `Archive/2023`.
pub fn store() -> Store {
    let s = Store::new();
    s.set_password("joe", PASSWORD);
    for f in ["joe/work", "joe/Archive", "joe/Archive/2023"] {
        s.ok(&["mailbox", "create", f]);
    }
    s
}

/// Whether this process runs as root (getmail then refuses to deliver unless told
/// to become another user).
pub fn is_root() -> bool {
    Command::new("id")
        .arg("-u")
        .output()
        .map(|o| String::from_utf8_lossy(&o.stdout).trim() == "0")
        .unwrap_or(false)
}
