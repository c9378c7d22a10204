//! import and export: Maildirs Dovecot wrote, mbox files Python wrote, the real
//! corpus, an interrupted import run again, round trips in both formats, and
//! malformed sources.

use crate::util::*;
use std::collections::BTreeMap;
use std::io::Write as _;
use std::os::unix::fs::PermissionsExt;
use std::path::{Path, PathBuf};
use std::process::{Command, Stdio};

fn crlf(b: &[u8]) -> Vec<u8> {
    msgstore::message::to_crlf(b).into_owned()
}

fn guid_counts(d: &serde_json::Value) -> BTreeMap<String, usize> {
    let mut m = BTreeMap::new();
    for x in d["messages"].as_array().unwrap() {
        *m.entry(x["guid"].as_str().unwrap().to_owned()).or_default() += 1;
    }
    m
}

fn flags_of(m: &serde_json::Value) -> Vec<String> {
    let mut f: Vec<String> = m["flags"]
        .as_array()
        .unwrap()
        .iter()
        .map(|f| f.as_str().unwrap().to_owned())
        .collect();
    f.sort();
    f
}

// ------------------------------------------------------------------ Dovecot

/// Dovecot's `doveadm` on a private configuration: no daemon, no userdb (without
/// `-u` it takes `$USER` and `$HOME`), mail in `mail`.
struct Dovecot {
    work: PathBuf,
    conf: PathBuf,
    /// Who Dovecot runs as: itself, or `nobody` when we are root (it refuses root).
    uid: u32,
}

fn doveadm_path() -> Option<PathBuf> {
    ["/usr/bin/doveadm", "/usr/local/bin/doveadm"]
        .iter()
        .map(PathBuf::from)
        .find(|p| p.is_file())
}

impl Dovecot {
    fn new(work: &Path, mail: &Path) -> Dovecot {
        // SAFETY: getuid cannot fail.
        let me = unsafe { libc::getuid() };
        let uid = if me == 0 { 65534 } else { me };
        for d in ["home", "run", "state"] {
            std::fs::create_dir_all(work.join(d)).unwrap();
        }
        std::fs::create_dir_all(mail).unwrap();
        let conf = work.join("dovecot.conf");
        std::fs::write(
            &conf,
            format!(
                "base_dir = {w}/run\nstate_dir = {w}/state\nlog_path = /dev/null\ninfo_log_path = /dev/null\nssl = no\nprotocols =\nmail_location = maildir:{m}\nmail_uid = {uid}\nmail_gid = {uid}\nfirst_valid_uid = 1\nfirst_valid_gid = 1\nnamespace inbox {{\n  inbox = yes\n  separator = /\n}}\n",
                w = work.display(),
                m = mail.display()
            ),
        )
        .unwrap();
        let d = Dovecot {
            work: work.to_owned(),
            conf,
            uid,
        };
        d.give(work);
        d
    }

    /// Makes `dir` (and all in it) Dovecot's, and the way to it passable.
    fn give(&self, dir: &Path) {
        if self.uid == unsafe { libc::getuid() } {
            return;
        }
        let mut a = dir.to_owned();
        while let Some(parent) = a.parent() {
            if parent.as_os_str().is_empty() || parent == Path::new("/") {
                break;
            }
            let mut perm = std::fs::metadata(parent).unwrap().permissions();
            perm.set_mode(perm.mode() | 0o711);
            let _ = std::fs::set_permissions(parent, perm);
            a = parent.to_owned();
        }
        let st = Command::new("chown")
            .args(["-R", &format!("{0}:{0}", self.uid)])
            .arg(dir)
            .status()
            .unwrap();
        assert!(st.success());
    }

    fn run(&self, args: &[&str], input: Option<&[u8]>) -> String {
        let mut c = Command::new(doveadm_path().unwrap());
        c.arg("-c")
            .arg(&self.conf)
            .args(args)
            .env("USER", "ref")
            .env("HOME", self.work.join("home"))
            .stdin(if input.is_some() {
                Stdio::piped()
            } else {
                Stdio::null()
            })
            .stdout(Stdio::piped())
            .stderr(Stdio::piped());
        let mut child = c.spawn().unwrap();
        if let Some(i) = input {
            child.stdin.take().unwrap().write_all(i).unwrap();
        }
        let o = child.wait_with_output().unwrap();
        assert!(
            o.status.success(),
            "doveadm {args:?}: {}\n{}",
            String::from_utf8_lossy(&o.stdout),
            String::from_utf8_lossy(&o.stderr)
        );
        String::from_utf8_lossy(&o.stdout).into_owned()
    }

    /// (mailbox, uid) -> flags, as Dovecot sees them (`\Recent` left out).
    fn flags(&self) -> BTreeMap<(String, u32), Vec<String>> {
        let out = self.run(&["-f", "tab", "fetch", "mailbox uid flags", "all"], None);
        let mut m = BTreeMap::new();
        for line in out.lines().skip(1) {
            let mut cols = line.split('\t');
            let (Some(mb), Some(uid), flags) = (cols.next(), cols.next(), cols.next()) else {
                continue;
            };
            let mut f: Vec<String> = flags
                .unwrap_or("")
                .split_ascii_whitespace()
                .filter(|f| *f != "\\Recent")
                .map(str::to_owned)
                .collect();
            f.sort();
            m.insert((mb.to_owned(), uid.parse().unwrap()), f);
        }
        m
    }
}

fn dovecot_name(ours: &str) -> String {
    match ours.strip_prefix("Other Users/joe/") {
        Some(rest) => rest.to_owned(),
        None => "INBOX".to_owned(),
    }
}

/// A Maildir written by Dovecot itself (folders, a name in modified UTF-7,
/// flags, keywords, `$Forwarded`), imported with -r and compared with what
/// Dovecot says; run again, nothing is added; exported, Dovecot reads the same.
#[test]
fn dovecot_maildir_with_folders_flags_and_keywords() {
    if doveadm_path().is_none() {
        return skip("doveadm (dovecot-core) is not installed");
    }
    let tmp = tempfile::tempdir().unwrap();
    let work = tmp.path().join("dovecot");
    let mail = work.join("mail");
    let dv = Dovecot::new(&work, &mail);
    dv.run(
        &["mailbox", "create", "Sent", "Archive/2023", "Überweisungen"],
        None,
    );
    let msgs: [(&str, &str, i64); 6] = [
        ("INBOX", "one", 1_000_000_000),
        ("INBOX", "two", 1_100_000_000),
        ("INBOX", "three", 1_200_000_000),
        ("Sent", "sent", 1_300_000_000),
        ("Archive/2023", "old", 1_400_000_000),
        ("Überweisungen", "money", 1_500_000_000),
    ];
    for (mb, subject, _) in msgs {
        let m = format!(
            "From: a@example.org\nTo: joe@example.org\nSubject: {subject}\nMessage-ID: <{subject}@dovecot>\n\nbody of {subject}\nFrom here on\n"
        );
        dv.run(&["save", "-m", mb], Some(m.as_bytes()));
    }
    dv.run(
        &[
            "flags",
            "add",
            "\\Seen \\Flagged",
            "mailbox",
            "INBOX",
            "uid",
            "1",
        ],
        None,
    );
    dv.run(
        &[
            "flags",
            "add",
            "$Forwarded Junk \\Answered",
            "mailbox",
            "INBOX",
            "uid",
            "2",
        ],
        None,
    );
    dv.run(
        &[
            "flags",
            "add",
            "\\Deleted \\Draft NonJunk",
            "mailbox",
            "Sent",
            "uid",
            "1",
        ],
        None,
    );
    dv.run(
        &[
            "flags",
            "add",
            "$Label1 \\Seen",
            "mailbox",
            "Archive/2023",
            "uid",
            "1",
        ],
        None,
    );
    // INTERNALDATE is the file's mtime: give each message its own.
    for f in files_under(&mail) {
        let text = std::fs::read_to_string(&f).unwrap_or_default();
        if let Some((_, _, t)) = msgs
            .iter()
            .find(|(_, s, _)| text.contains(&format!("Subject: {s}\n")))
        {
            set_mtime(&f, *t);
        }
    }
    let before = dv.flags();
    assert_eq!(before.len(), 6, "{before:?}");

    let s = Store::new();
    s.run(&["user", "add", "joe"]).ok();
    let r = s.run(&["--json", "import", "joe", p(&mail), "-r"]).ok();
    let j = r.json();
    assert_eq!(j["total"]["added"], 6, "{j}");
    assert_eq!(j["format"], "maildir");
    let names = field_of(&s.json(&["mailbox", "list", "joe"])["mailboxes"], "name")
        .into_iter()
        .map(str::to_owned)
        .collect::<Vec<_>>();
    assert_eq!(
        names,
        [
            "Other Users/joe",
            "Other Users/joe/Archive",
            "Other Users/joe/Archive/2023",
            "Other Users/joe/Sent",
            "Other Users/joe/Überweisungen"
        ]
    );
    let mut ours = BTreeMap::new();
    for n in &names {
        let d = s.dump(n);
        for m in d["messages"].as_array().unwrap() {
            let uid = m["uid"].as_u64().unwrap() as u32;
            ours.insert((dovecot_name(n), uid), flags_of(m));
            let env = m["envelope"].as_str().unwrap();
            let (_, subject, t) = msgs
                .iter()
                .find(|(_, s, _)| env.contains(&format!("\"{s}\"")))
                .unwrap_or_else(|| panic!("unknown message {env}"));
            let want = msgstore::message::imap_date(*t, 0);
            assert_eq!(
                m["internaldate"].as_str().unwrap(),
                want.trim_matches('"'),
                "{subject}"
            );
        }
    }
    assert_eq!(ours, before, "flags as Dovecot has them");
    // The stored bytes are Dovecot's file, with CRLF line ends.
    let inbox = s.dump("joe");
    let files: Vec<Vec<u8>> = files_under(&mail)
        .into_iter()
        .filter(|f| f.parent().unwrap().parent().unwrap() == mail)
        .filter(|f| {
            matches!(
                f.parent().unwrap().file_name().unwrap().to_str(),
                Some("cur" | "new")
            )
        })
        .map(|f| crlf(&std::fs::read(f).unwrap()))
        .collect();
    let mut want: Vec<String> = files.iter().map(|b| guid(b)).collect();
    let mut got: Vec<String> = inbox["messages"]
        .as_array()
        .unwrap()
        .iter()
        .map(|m| m["guid"].as_str().unwrap().to_owned())
        .collect();
    want.sort();
    got.sort();
    assert_eq!(got, want);

    // Again: nothing is added.
    let j = s
        .run(&["--json", "import", "joe", p(&mail), "-r"])
        .ok()
        .json();
    assert_eq!(j["total"]["added"], 0, "{j}");
    assert_eq!(j["total"]["skipped"], 6, "{j}");

    // Exported, Dovecot reads the same flags and folders.
    let out = tmp.path().join("export");
    s.run(&["export", "joe", p(&out), "-r"]).ok();
    let work2 = tmp.path().join("dovecot2");
    let dv2 = Dovecot::new(&work2, &out);
    dv2.give(&out);
    assert_eq!(dv2.flags(), before, "Dovecot reads back the flags");
    let listed = dv2.run(&["mailbox", "list"], None);
    for n in ["INBOX", "Sent", "Archive/2023", "Überweisungen"] {
        assert!(listed.lines().any(|l| l == n), "{n} in {listed}");
    }
}

// ------------------------------------------------------------------ Python

fn python() -> Option<PathBuf> {
    ["/usr/bin/python3", "/usr/local/bin/python3"]
        .iter()
        .map(PathBuf::from)
        .find(|p| p.is_file())
        .or_else(|| {
            Command::new("python3")
                .arg("-c")
                .arg("import mailbox")
                .output()
                .ok()
                .filter(|o| o.status.success())
                .map(|_| PathBuf::from("python3"))
        })
}

/// An mbox file written by Python's `mailbox` module (mboxo, `Status:` and
/// `X-Status:` flags), with dates in its `From ` lines.
#[test]
fn python_mbox_with_flags_and_dates() {
    let Some(py) = python() else {
        return skip("python3 is not installed");
    };
    let tmp = tempfile::tempdir().unwrap();
    let path = tmp.path().join("py.mbox");
    let script = r#"
import mailbox, sys, time
box = mailbox.mbox(sys.argv[1], create=True)
msgs = [
  (b"From: a@example.org\nSubject: one\nMessage-ID: <1@py>\n\nbody one\nFrom here on\n", "RO", 1000000000),
  (b"From: b@example.org\nSubject: two\nX-Keywords: $Label1 Junk\n\nbody two\n", "OAF", 1100000000),
  (b"From: c@example.org\nSubject: three\n\nbody three\n\n", "ROD", 1200000000),
  (b"From: d@example.org\nSubject: four\n\nbody four\n", "", 1300000000),
]
for raw, flags, t in msgs:
    m = mailbox.mboxMessage(raw)
    m.set_flags(flags)
    m.set_from("sender@example.org", time.gmtime(t))
    box.add(m)
box.flush()
box.close()
"#;
    let o = Command::new(py)
        .arg("-c")
        .arg(script)
        .arg(&path)
        .output()
        .unwrap();
    assert!(o.status.success(), "{}", String::from_utf8_lossy(&o.stderr));
    let s = Store::new();
    s.run(&["user", "add", "joe"]).ok();
    let j = s.run(&["--json", "import", "joe/py", p(&path)]).ok().json();
    assert_eq!(j["format"], "mbox");
    assert_eq!(j["mbox_variant"], "mboxrd");
    assert_eq!(j["total"]["added"], 4, "{j}");
    assert_eq!(j["mailboxes"][0]["created"], true);
    let d = s.dump("joe/py");
    let m = d["messages"].as_array().unwrap();
    let want: [(&[u8], &[&str], i64); 4] = [
        (
            b"From: a@example.org\nSubject: one\nMessage-ID: <1@py>\n\nbody one\nFrom here on\n",
            &["\\Seen"],
            1_000_000_000,
        ),
        (
            b"From: b@example.org\nSubject: two\n\nbody two\n",
            &["$Label1", "Junk", "\\Answered", "\\Flagged"],
            1_100_000_000,
        ),
        (
            b"From: c@example.org\nSubject: three\n\nbody three\n\n",
            &["\\Deleted", "\\Seen"],
            1_200_000_000,
        ),
        (
            b"From: d@example.org\nSubject: four\n\nbody four\n",
            &[],
            1_300_000_000,
        ),
    ];
    for (got, (bytes, flags, t)) in m.iter().zip(want) {
        // The flag headers are taken out: the message is what was given to Python.
        assert_eq!(got["guid"], guid(&crlf(bytes)), "{got}");
        assert_eq!(
            flags_of(got),
            flags.iter().map(|f| f.to_string()).collect::<Vec<_>>()
        );
        assert_eq!(
            got["internaldate"].as_str().unwrap(),
            msgstore::message::imap_date(t, 0).trim_matches('"')
        );
    }
    // Again: nothing added, even though the flags live in the file's headers.
    let j = s.run(&["--json", "import", "joe/py", p(&path)]).ok().json();
    assert_eq!(
        (j["total"]["added"].as_u64(), j["total"]["skipped"].as_u64()),
        (Some(0), Some(4))
    );
}

// ------------------------------------------------------------------ round trips

/// A mailbox with every flag, keywords ($Forwarded too), dates with zones, and
/// bodies mbox must quote; exported as Maildir (-r) and as mbox, imported back:
/// the dumps agree exactly.
#[test]
fn export_then_import_gives_the_same_messages_flags_and_dates_in_both_formats() {
    let s = Store::new();
    s.run(&["user", "add", "joe"]).ok();
    let tmp = tempfile::tempdir().unwrap();
    // Dates with zones come in through an mbox's From lines.
    let src = tmp.path().join("src.mbox");
    let bodies = [
        "Subject: quoting\n\nFrom the start\n>From one\n>>From two\nlast\n",
        "Subject: crlf\r\n\r\nbare CR\r\r\nand more\r\n",
        "Subject: blank end\n\nbody\n\n\n",
        "Subject: plain\nTo: x@example.org\n\nhello\n",
    ];
    let zones = ["+0100", "-0530", "", "+1400"];
    let mut text = String::new();
    for (i, (b, z)) in bodies.iter().zip(zones).enumerate() {
        let q: String = b
            .split_inclusive('\n')
            .map(|l| {
                if l.trim_start_matches('>').starts_with("From ") {
                    format!(">{l}")
                } else {
                    l.to_owned()
                }
            })
            .collect();
        text.push_str(&format!(
            "From x@example.org Mon Nov {:>2} 10:1{i}:00 2026 {z}\n{q}\n",
            i + 2
        ));
    }
    std::fs::write(&src, &text).unwrap();
    s.run(&["import", "joe/src", p(&src)]).ok();
    for i in 0..6 {
        s.deliver("joe/src", &sample(i));
    }
    s.run(&["mailbox", "create", "joe/src/child"]).ok();
    s.run(&["mailbox", "create", "joe/src/Ünï & co"]).ok();
    s.deliver("joe/src/child", &sample(20));
    s.deliver("joe/src/Ünï & co", &sample(21));
    for (set, flags) in [
        ("1", &["\\Seen", "\\Answered"][..]),
        ("2", &["\\Flagged", "$Forwarded", "Junk"]),
        ("3", &["\\Deleted", "\\Draft", "$Label1"]),
        ("4:6", &["\\Seen", "NonJunk", "$Forwarded"]),
        ("8", &["Junk"]),
    ] {
        let mut a = vec!["flags", "joe/src", set];
        for f in flags {
            a.extend(["--add", f]);
        }
        s.run(&a).ok();
    }
    s.run(&[
        "flags",
        "joe/src/child",
        "1",
        "--add",
        "\\Flagged",
        "--add",
        "Child",
    ])
    .ok();
    let before = s.dump("joe/src");
    let zoned = before["messages"]
        .as_array()
        .unwrap()
        .iter()
        .filter(|m| !m["internaldate"].as_str().unwrap().ends_with("+0000"))
        .count();
    assert_eq!(zoned, 3, "dates with zones: {before}");

    let md = tmp.path().join("md");
    let r = s.run(&["--json", "export", "joe/src", p(&md), "-r"]).ok();
    assert_eq!(r.json()["total"]["exported"], 12, "{}", r.stdout);
    assert!(md.join(".child/maildirfolder").is_file());
    assert!(md.join(".&ANw-n&AO8- &- co/cur").is_dir());
    let mb = tmp.path().join("box.mbox");
    let r = s
        .run(&["--json", "export", "joe/src", p(&mb), "--format", "mbox"])
        .ok();
    assert_eq!(
        r.json()["mailboxes"][0]["warnings"],
        serde_json::json!([]),
        "{}",
        r.stdout
    );

    s.run(&["import", "joe/md", p(&md), "-r"]).ok();
    s.run(&["import", "joe/mb", p(&mb)]).ok();
    assert_eq!(messages(&s.dump("joe/md")), messages(&before));
    assert_eq!(messages(&s.dump("joe/mb")), messages(&before));
    assert_eq!(
        messages(&s.dump("joe/md/child")),
        messages(&s.dump("joe/src/child"))
    );
    assert_eq!(
        messages(&s.dump("joe/md/Ünï & co")),
        messages(&s.dump("joe/src/Ünï & co"))
    );
    // And the round trip is stable: once more gives the same files' contents.
    let j = s.run(&["--json", "import", "joe/mb", p(&mb)]).ok().json();
    assert_eq!(j["total"]["added"], 0);
}

// ------------------------------------------------------------------ interruptions

/// A Maildir of 600 messages (two of them identical), imported with the process
/// aborted midway: after the first batch's commit, or between its links and its
/// commit, or killed at any instant, several runs in a row. Run again, the
/// mailbox holds each message exactly as often as the source, with its flags; a
/// reconstruct afterwards finds nothing to add or drop.
#[test]
fn an_interrupted_import_run_again_adds_no_duplicates_and_loses_nothing() {
    let tmp = tempfile::tempdir().unwrap();
    let md = tmp.path().join("big");
    for d in ["cur", "new", "tmp"] {
        std::fs::create_dir_all(md.join(d)).unwrap();
    }
    let mut want: BTreeMap<String, usize> = BTreeMap::new();
    // Flags and internal date of each message.
    let mut flags_by_guid: BTreeMap<String, (Vec<String>, String)> = BTreeMap::new();
    for i in 0..600u64 {
        let m = if i == 599 { sample(3) } else { sample(i) };
        let (letters, flags): (&str, &[&str]) = match i % 3 {
            0 => ("S", &["\\Seen"]),
            1 => ("FR", &["\\Answered", "\\Flagged"]),
            _ => ("", &[]),
        };
        let f = md.join(format!("cur/{:06}.host:2,{letters}", i));
        std::fs::write(&f, &m).unwrap();
        let t = 1_000_000_000 + i as i64 * 60;
        set_mtime(&f, t);
        let g = guid(&crlf(&m));
        *want.entry(g.clone()).or_default() += 1;
        let date = msgstore::message::imap_date(t, 0)
            .trim_matches('"')
            .to_owned();
        flags_by_guid.insert(g, (flags.iter().map(|f| f.to_string()).collect(), date));
    }
    // The two copies have different flags: which copy is which is not known.
    flags_by_guid.remove(&guid(&crlf(&sample(3))));
    for fault in ["deliver-after-commit", "deliver-before-commit"] {
        let s = Store::new();
        s.run(&["user", "add", "joe"]).ok();
        let r = s.run_env(&["import", "joe", p(&md)], &[("MSGSTORE_FAULT", fault)]);
        assert_ne!(r.code, 0, "{fault}: not aborted: {}", r.stdout);
        assert!(
            r.stderr.contains(&format!("fault point {fault}")),
            "{}",
            r.stderr
        );
        let partial = s.dump("joe")["messages"].as_array().unwrap().len();
        let r = s.run(&["--json", "import", "joe", p(&md)]).ok();
        let j = r.json();
        let after = s.dump("joe");
        assert_eq!(guid_counts(&after), want, "{fault}: every message, once");
        let m = &j["mailboxes"][0];
        let recovered = m["recovered"].as_u64().unwrap() as usize;
        if fault == "deliver-after-commit" {
            assert_eq!(partial, 256, "{fault}: the first batch was committed");
            assert_eq!(recovered, 0);
        } else {
            assert_eq!(partial, 0, "{fault}: nothing committed");
            assert_eq!(
                recovered, 256,
                "{fault}: the uncommitted files were replaced"
            );
        }
        assert_eq!(
            m["skipped"].as_u64().unwrap() as usize,
            partial,
            "{fault}: {m}"
        );
        for x in after["messages"].as_array().unwrap() {
            let g = x["guid"].as_str().unwrap();
            if let Some((f, date)) = flags_by_guid.get(g) {
                assert_eq!(&flags_of(x), f, "{fault}: flags of UID {}", x["uid"]);
                assert_eq!(
                    x["internaldate"],
                    date.as_str(),
                    "{fault}: UID {}",
                    x["uid"]
                );
            }
        }
        // Nothing left for reconstruct to take in or drop (it may raise UIDNEXT to
        // the bound the killed run reserved: that is its rule after any crash).
        let rc = s.json(&["reconstruct", "joe"]);
        let m = &rc["mailboxes"][0];
        assert_eq!(m["kept"], 600, "{rc}");
        for k in ["added", "renumbered", "dropped", "changed_content"] {
            assert_eq!(m[k], serde_json::json!([]), "{k}: {rc}");
        }
        let j = s.run(&["--json", "import", "joe", p(&md)]).ok().json();
        assert_eq!(j["total"]["added"], 0);
    }

    // SIGKILL at whatever instant the delays hit, run after run (a kill may land
    // in the recovery of the one before, or in creating the mailbox), then once
    // to the end: the same invariant.
    let s = Store::new();
    s.run(&["user", "add", "joe"]).ok();
    let mut killed = 0;
    for delay_ms in [150u64, 400, 60, 700, 250] {
        let mut child = s
            .cmd()
            .args(["import", "joe/killed", p(&md)])
            .stdin(Stdio::null())
            .stdout(Stdio::null())
            .stderr(Stdio::null())
            .spawn()
            .unwrap();
        std::thread::sleep(std::time::Duration::from_millis(delay_ms));
        if child.try_wait().unwrap().is_none() {
            killed += 1;
        }
        let _ = child.kill();
        let _ = child.wait();
    }
    assert!(killed > 0, "no run was still going when killed");
    s.run(&["import", "joe/killed", p(&md)]).ok();
    let after = s.dump("joe/killed");
    assert_eq!(
        guid_counts(&after),
        want,
        "killed runs: every message, once"
    );
    for x in after["messages"].as_array().unwrap() {
        if let Some((f, date)) = flags_by_guid.get(x["guid"].as_str().unwrap()) {
            assert_eq!(&flags_of(x), f, "killed runs: flags of UID {}", x["uid"]);
            assert_eq!(
                x["internaldate"],
                date.as_str(),
                "killed runs: UID {}",
                x["uid"]
            );
        }
    }
    let rc = s.json(&["reconstruct", "joe/killed"]);
    let m = &rc["mailboxes"][0];
    assert_eq!(m["kept"], 600, "{rc}");
    for k in ["added", "renumbered", "dropped", "changed_content"] {
        assert_eq!(m[k], serde_json::json!([]), "{k}: {rc}");
    }
}

// ------------------------------------------------------------------ malformed input

/// Dangling and other symbolic links, a FIFO, a directory, odd names, a NUL
/// message, an empty file, folders that cannot be mailboxes: each reported by
/// name, never followed or opened; the rest imported.
#[test]
fn malformed_maildirs_are_reported_by_name_and_the_rest_imported() {
    let tmp = tempfile::tempdir().unwrap();
    let md = tmp.path().join("md");
    for d in [
        "cur",
        "new",
        "tmp",
        ".Good/cur",
        ".Bad..Name/cur",
        ".x&Y/cur",
    ] {
        std::fs::create_dir_all(md.join(d)).unwrap();
    }
    let secret = tmp.path().join("secret.eml");
    std::fs::write(&secret, "Subject: secret\n\nnever imported\n").unwrap();
    let w = |name: &str, body: &[u8]| std::fs::write(md.join(name), body).unwrap();
    w("cur/1.ok:2,S", b"Subject: ok\n\nfine\n");
    w(
        "cur/2.nokw:2,Sz",
        b"Subject: unknown keyword letter\n\nfine\n",
    );
    w("cur/3.odd:garbage", b"Subject: odd info\n\nfine\n");
    w("new/4.new", b"Subject: new\n\nfine\n");
    w("cur/5.nul:2,", b"Subject: nul\n\nbad\0byte\n");
    w("cur/6.empty:2,", b"");
    w("tmp/7.partial", b"Subject: in progress");
    w(".Good/cur/8.good:2,F", b"Subject: good folder\n\nfine\n");
    w(".x&Y/cur/9.amp:2,", b"Subject: not mutf7\n\nfine\n");
    std::os::unix::fs::symlink("/nonexistent/file", md.join("cur/dangling:2,S")).unwrap();
    std::os::unix::fs::symlink(&secret, md.join("cur/link:2,S")).unwrap();
    std::os::unix::fs::symlink(md.join(".Good"), md.join(".Linked")).unwrap();
    std::fs::create_dir(md.join("cur/adir")).unwrap();
    let fifo = std::ffi::CString::new(p(&md.join("new/fifo"))).unwrap();
    // SAFETY: a NUL-terminated path.
    assert_eq!(unsafe { libc::mkfifo(fifo.as_ptr(), 0o600) }, 0);

    let s = Store::new();
    s.run(&["user", "add", "joe"]).ok();
    let r = s.run(&["--json", "import", "joe", p(&md), "-r"]).code(1);
    let j = r.json();
    let refused: Vec<(String, String)> = j["mailboxes"]
        .as_array()
        .unwrap()
        .iter()
        .flat_map(|m| m["refused"].as_array().unwrap().clone())
        .map(|x| {
            (
                x["source"].as_str().unwrap().to_owned(),
                x["why"].as_str().unwrap().to_owned(),
            )
        })
        .collect();
    let has = |name: &str, why: &str| {
        assert!(
            refused
                .iter()
                .any(|(s, w)| s.ends_with(name) && w.contains(why)),
            "{name}: {why} not in {refused:?}"
        );
        assert!(
            r.stderr.contains(name),
            "{name} not named on stderr: {}",
            r.stderr
        );
    };
    has("cur/dangling:2,S", "dangling symbolic link");
    has("cur/link:2,S", "symbolic link, never followed");
    has("cur/adir", "a directory");
    has("new/fifo", "a FIFO");
    has("cur/5.nul:2,", "NUL byte");
    has("cur/6.empty:2,", "empty");
    assert_eq!(refused.len(), 6, "{refused:?}");
    let skipped: Vec<&str> = field_of(&j["skipped_folders"], "source");
    assert!(
        skipped.iter().any(|x| x.ends_with(".Linked")),
        "{skipped:?}"
    );
    assert!(
        skipped.iter().any(|x| x.ends_with(".Bad..Name")),
        "{skipped:?}"
    );
    assert!(r.stderr.contains("flag letter `z`"), "{}", r.stderr);
    assert!(r.stderr.contains("not `2,<flags>`"), "{}", r.stderr);
    assert_eq!(j["total"]["added"], 6, "{j}");
    let inbox = s.dump("joe");
    assert_eq!(inbox["messages"].as_array().unwrap().len(), 4);
    assert!(!inbox.to_string().contains("secret"), "a link was followed");
    assert_eq!(s.dump("joe/Good")["messages"].as_array().unwrap().len(), 1);
    assert_eq!(s.dump("joe/x&Y")["messages"].as_array().unwrap().len(), 1);
}

/// A truncated mbox: the messages before the cut are imported, the cut one is
/// reported and left out; a file that is no mbox, a directory that is no Maildir
/// and an unknown user stop the command before anything is written.
#[test]
fn truncated_mbox_and_sources_that_are_neither_format() {
    let tmp = tempfile::tempdir().unwrap();
    let s = Store::new();
    s.run(&["user", "add", "joe"]).ok();
    let mb = tmp.path().join("cut.mbox");
    std::fs::write(
        &mb,
        "From a Thu Nov 29 22:33:52 2001\nSubject: 1\n\none\n\nFrom b Thu Nov 29 22:33:53 2001\nSubject: nul\n\n\0\n\nFrom c Thu Nov 29 22:33:54 2001\nSubject: 3\n\nthree and then the disk was f",
    )
    .unwrap();
    let r = s.run(&["--json", "import", "joe", p(&mb)]).code(1);
    let j = r.json();
    assert_eq!(j["total"]["added"], 1);
    assert_eq!(j["total"]["refused"], 2);
    assert!(
        r.stderr.contains(&format!(
            "{}: message 3 (line 11): refused: truncated",
            mb.display()
        )),
        "{}",
        r.stderr
    );
    assert!(
        r.stderr
            .contains("message 2 (line 6): refused: it contains a NUL byte"),
        "{}",
        r.stderr
    );

    let not_mbox = tmp.path().join("note.txt");
    std::fs::write(&not_mbox, "Subject: hello\n\nnot an mbox\n").unwrap();
    let r = s.run(&["import", "joe", p(&not_mbox)]).code(2);
    assert!(r.stderr.contains("not an mbox file"), "{}", r.stderr);
    let r = s.run(&["import", "joe", p(tmp.path())]).code(2);
    assert!(r.stderr.contains("not a Maildir"), "{}", r.stderr);
    let r = s.run(&["import", "nobody", p(&mb)]).code(2);
    assert!(r.stderr.contains("nobody: no such user"), "{}", r.stderr);
    let r = s
        .run(&["import", "joe", p(&tmp.path().join("missing"))])
        .code(2);
    assert!(r.stderr.contains("missing"), "{}", r.stderr);
    assert_eq!(s.dump("joe")["messages"].as_array().unwrap().len(), 1);
}

/// Export never replaces anything: a non-empty directory, an existing file (or a
/// link) are refused, and -r with mbox too, before anything is written.
#[test]
fn export_writes_new_files_only() {
    let s = Store::new();
    s.run(&["user", "add", "joe"]).ok();
    s.deliver("joe", &sample(1));
    s.run(&["mailbox", "create", "joe/sub"]).ok();
    let tmp = tempfile::tempdir().unwrap();
    let full = tmp.path().join("full");
    std::fs::create_dir(&full).unwrap();
    std::fs::write(full.join("keep"), "mine").unwrap();
    let r = s.run(&["export", "joe", p(&full)]).code(2);
    assert!(r.stderr.contains("not empty"), "{}", r.stderr);
    let file = tmp.path().join("existing.mbox");
    std::fs::write(&file, "mine").unwrap();
    let r = s
        .run(&["export", "joe", p(&file), "--format", "mbox"])
        .code(2);
    assert!(r.stderr.contains("already exists"), "{}", r.stderr);
    let link = tmp.path().join("link");
    std::os::unix::fs::symlink(tmp.path().join("nowhere"), &link).unwrap();
    s.run(&["export", "joe", p(&link), "--format", "mbox"])
        .code(2);
    assert!(
        !tmp.path().join("nowhere").exists(),
        "nothing written through a link"
    );
    let r = s
        .run(&[
            "export",
            "joe",
            p(&tmp.path().join("r.mbox")),
            "-r",
            "--format",
            "mbox",
        ])
        .code(2);
    assert!(
        r.stderr.contains("an mbox file holds one mailbox"),
        "{}",
        r.stderr
    );
    assert_eq!(std::fs::read(full.join("keep")).unwrap(), b"mine");
    assert_eq!(std::fs::read(&file).unwrap(), b"mine");
    assert_eq!(std::fs::read_dir(&full).unwrap().count(), 1);
    // An empty directory is fine.
    let empty = tmp.path().join("empty");
    std::fs::create_dir(&empty).unwrap();
    s.run(&["export", "joe", p(&empty)]).ok();
    assert_eq!(std::fs::read_dir(empty.join("cur")).unwrap().count(), 1);
    let r = s
        .run(&["export", "joe", p(&tmp.path().join("no/such/dir"))])
        .code(2);
    assert!(r.stderr.contains("no such directory"), "{}", r.stderr);
    let r = s
        .run(&["export", "nobody", p(&tmp.path().join("x"))])
        .code(2);
    assert!(r.stderr.contains("no such mailbox"), "{}", r.stderr);
}

#[test]
fn import_and_export_help_has_examples_and_json() {
    for cmd in ["import", "export"] {
        let o = Command::new(BIN).args([cmd, "--help"]).output().unwrap();
        let text = String::from_utf8_lossy(&o.stdout);
        assert!(text.contains("Example"), "{cmd}: {text}");
    }
    let s = Store::new();
    s.run(&["user", "add", "joe"]).ok();
    let tmp = tempfile::tempdir().unwrap();
    let out = tmp.path().join("e");
    let j = s.json(&["export", "joe", p(&out)]);
    assert_eq!(j["format"], "maildir");
    let j = s.json(&["import", "joe", p(&out)]);
    assert_eq!(j["total"]["mailboxes"], 1);
    // -q: nothing on stdout.
    let r = s.run(&["-q", "import", "joe", p(&out)]).ok();
    assert_eq!(r.stdout, "");
}
