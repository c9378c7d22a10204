//! mbsync (isync) against msgstore: over `Tunnel "msgstore serve --stdio"` and over
//! TCP with LOGIN on loopback, a full two-way sync of several mailboxes to a local
//! Maildir; what it fetched is counted from its protocol trace (`-Dn`).

use crate::clients::{self, PASSWORD, deliver, local, view};
use crate::harness::{BIN, Server, Store, run_bounded, skip};
use std::path::PathBuf;
use std::time::Duration;

pub enum Transport {
    Tunnel,
    Tcp(u16),
}

/// One mbsync configuration: joe's mailboxes <-> a local Maildir tree.
pub struct Mbsync {
    conf: PathBuf,
    pub local: PathBuf,
}

/// What one run did.
pub struct Synced {
    /// UIDs whose bodies it fetched (`UID FETCH n (BODY.PEEK[])`), in order.
    pub fetched: Vec<u32>,
    pub out: String,
}

impl Mbsync {
    pub fn new(s: &Store, name: &str, t: Transport) -> Mbsync {
        let dir = s.path(name);
        let local = dir.join("mail");
        std::fs::create_dir_all(&local).unwrap();
        let far = match t {
            Transport::Tunnel => format!(
                "Tunnel \"{BIN} --store {} serve --stdio --user joe\"\n",
                s.root.display()
            ),
            Transport::Tcp(port) => format!(
                "Host 127.0.0.1\nPort {port}\nUser joe\nPass \"{PASSWORD}\"\nSSLType None\nAuthMechs LOGIN\n"
            ),
        };
        let conf = dir.join("mbsyncrc");
        std::fs::write(
            &conf,
            format!(
                "IMAPStore far\n{far}\nMaildirStore near\nPath {l}/\nInbox {l}/INBOX\nSubFolders Verbatim\n\nChannel joe\nFar :far:\nNear :near:\nPatterns *\nCreate Near\nExpunge Both\nSyncState *\nSync All\n",
                l = local.display()
            ),
        )
        .unwrap();
        Mbsync { conf, local }
    }

    /// Runs `mbsync -a` once; fails the test if it fails.
    #[track_caller]
    pub fn sync(&self) -> Synced {
        let r = self.try_sync();
        assert_eq!(r.0, 0, "mbsync failed:\n{}", r.1.out);
        r.1
    }

    /// Runs `mbsync -a` once: its exit status and what it did.
    pub fn try_sync(&self) -> (i32, Synced) {
        let mut c = std::process::Command::new("mbsync");
        c.arg("-Dn").arg("-c").arg(&self.conf).arg("-a");
        let (code, out, err) = run_bounded(&mut c, Duration::from_secs(60));
        let fetched = out
            .lines()
            .filter_map(|l| l.split_once(">>> ").map(|x| x.1))
            .filter_map(|l| {
                let rest = l.split_once(" UID FETCH ")?.1;
                let (set, items) = rest.split_once(' ')?;
                items.contains("BODY.PEEK[]").then_some(set.to_owned())
            })
            .flat_map(|set| uids(&set))
            .collect();
        (
            code,
            Synced {
                fetched,
                out: format!("{out}{err}"),
            },
        )
    }
}

/// The UIDs of a UID set without `*` (`3`, `4:6,9`).
fn uids(set: &str) -> Vec<u32> {
    let mut v = Vec::new();
    for part in set.split(',') {
        match part.split_once(':') {
            Some((a, b)) => {
                if let (Ok(a), Ok(b)) = (a.parse::<u32>(), b.parse::<u32>()) {
                    v.extend(a.min(b)..=a.max(b));
                }
            }
            None => v.extend(part.parse::<u32>().ok()),
        }
    }
    v
}

/// joe's test mail: INBOX with three (one \Seen, one \Flagged with a keyword),
/// work with two (one \Answered), Archive empty, Archive/2023 with one \Seen.
pub fn fill(s: &Store) {
    for id in ["in1", "in2", "in3"] {
        deliver(s, "joe", id);
    }
    s.ok(&["flags", "joe", "1", "--add", "\\Seen"]);
    s.ok(&[
        "flags",
        "joe",
        "2",
        "--add",
        "\\Flagged",
        "--add",
        "$Important",
    ]);
    for id in ["w1", "w2"] {
        deliver(s, "joe/work", id);
    }
    s.ok(&["flags", "joe/work", "2", "--add", "\\Answered"]);
    deliver(s, "joe/Archive/2023", "a1");
    s.ok(&["flags", "joe/Archive/2023", "1", "--add", "\\Seen"]);
}

/// The local copy of message `id` in `folder`: (file path, flags).
fn find(m: &Mbsync, folder: &str, id: &str) -> Option<(PathBuf, String)> {
    for sub in ["cur", "new"] {
        let d = m.local.join(folder).join(sub);
        for f in std::fs::read_dir(&d).ok()?.flatten() {
            let text = std::fs::read(f.path()).unwrap();
            if String::from_utf8_lossy(&text).contains(&format!("<{id}@sync.test>")) {
                let name = f.file_name().to_string_lossy().into_owned();
                let flags = name.split_once(":2,").map_or("", |x| x.1).to_owned();
                return Some((f.path(), flags));
            }
        }
    }
    None
}

fn flags_of(s: &Store, mailbox: &str, id: &str) -> Option<Vec<String>> {
    view(s, mailbox)
        .messages
        .values()
        .find(|(i, _)| i == id)
        .map(|(_, f)| f.clone())
}

fn two_way(t: fn(&Store) -> (Option<Server>, Transport)) {
    if !clients::installed("mbsync") {
        return skip("mbsync (isync) is not installed");
    }
    let s = clients::store();
    fill(&s);
    let (_server, transport) = t(&s);
    let m = Mbsync::new(&s, "mbsync", transport);

    // First sync: every body once, flags as on the server.
    let first = m.sync();
    assert_eq!(first.fetched.len(), 6, "{}", first.out);
    let l = local(&m.local);
    assert_eq!(l.len(), 6, "{l:?}");
    assert_eq!(find(&m, "INBOX", "in1").unwrap().1, "S");
    assert_eq!(find(&m, "INBOX", "in2").unwrap().1, "F");
    assert_eq!(find(&m, "INBOX", "in3").unwrap().1, "");
    assert_eq!(find(&m, "work", "w2").unwrap().1, "R");
    assert_eq!(find(&m, "Archive/2023", "a1").unwrap().1, "S");
    assert!(m.local.join("Archive/cur").is_dir());

    // Local changes are pushed: a flag set, a flag taken off, a new message.
    let (p, _) = find(&m, "INBOX", "in3").unwrap();
    let base = p.file_name().unwrap().to_string_lossy().into_owned();
    let base = base
        .split_once(":2,")
        .map_or(base.clone(), |x| x.0.to_owned());
    std::fs::rename(&p, m.local.join("INBOX/cur").join(format!("{base}:2,FS"))).unwrap();
    let (p, _) = find(&m, "work", "w2").unwrap();
    let base = p.file_name().unwrap().to_string_lossy().into_owned();
    let base = base
        .split_once(":2,")
        .map_or(base.clone(), |x| x.0.to_owned());
    std::fs::rename(&p, m.local.join("work/cur").join(format!("{base}:2,"))).unwrap();
    std::fs::write(
        m.local.join("work/cur/1700000000.local1.host:2,S"),
        clients::message("local1"),
    )
    .unwrap();
    let push = m.sync();
    assert!(push.fetched.is_empty(), "fetched again: {}", push.out);
    assert_eq!(
        flags_of(&s, "joe", "in3").unwrap(),
        vec!["\\Flagged", "\\Seen"]
    );
    assert_eq!(
        flags_of(&s, "joe", "in2").unwrap(),
        vec!["$Important", "\\Flagged"],
        "a keyword mbsync cannot see stays"
    );
    assert_eq!(
        flags_of(&s, "joe/work", "w2").unwrap(),
        Vec::<String>::new()
    );
    assert_eq!(flags_of(&s, "joe/work", "local1").unwrap(), vec!["\\Seen"]);

    // Changes made with the CLI are pulled: a delivery, a flag, an expunge.
    deliver(&s, "joe", "in4");
    s.ok(&["flags", "joe", "1", "--remove", "\\Seen"]);
    s.ok(&["expunge", "joe/work", "1"]);
    let pull = m.sync();
    assert_eq!(pull.fetched.len(), 1, "only the new message: {}", pull.out);
    assert!(find(&m, "INBOX", "in4").is_some());
    assert_eq!(find(&m, "INBOX", "in1").unwrap().1, "");
    assert!(find(&m, "work", "w1").is_none(), "expunged on the server");
    assert!(find(&m, "work", "local1").is_some());

    // A rerun has nothing to do.
    let before = local(&m.local);
    let again = m.sync();
    assert!(again.fetched.is_empty(), "{}", again.out);
    assert_eq!(before, local(&m.local));
    let writes = again
        .out
        .lines()
        .filter_map(|l| l.split_once(">>> ").map(|x| x.1))
        .filter(|c| c.contains(" APPEND ") || c.contains(" STORE ") || c.contains(" EXPUNGE"))
        .count();
    assert_eq!(writes, 0, "nothing pushed again: {}", again.out);
}

#[test]
fn mbsync_over_tunnel() {
    two_way(|_| (None, Transport::Tunnel));
}

#[test]
fn mbsync_over_tcp_login() {
    two_way(|s| {
        let server = Server::start(s, &[]);
        let port = server.port;
        (Some(server), Transport::Tcp(port))
    });
}
