//! Every command of the contract, including its refusals.

use crate::util::*;

#[test]
fn init_and_not_a_store() {
    let s = Store::new();
    assert!(s.dir("users.redb").is_file() && s.dir("mailboxes.redb").is_file());
    assert!(s.dir("users").is_dir() && s.dir("public").is_dir());
    let r = s.run(&["init"]).code(2);
    assert!(
        r.stderr.contains("already a msgstore store"),
        "{}",
        r.stderr
    );

    let tmp = tempfile::tempdir().unwrap();
    let r = std::process::Command::new(BIN)
        .args(["--store"])
        .arg(tmp.path())
        .args(["user", "list"])
        .output()
        .unwrap();
    assert_eq!(r.status.code(), Some(2));
    let err = String::from_utf8_lossy(&r.stderr);
    assert!(
        err.contains("not a msgstore store") && err.contains("init"),
        "{err}"
    );

    // MSGSTORE_ROOT gives the store when --store does not.
    let r = std::process::Command::new(BIN)
        .env("MSGSTORE_ROOT", &s.root)
        .args(["user", "list"])
        .output()
        .unwrap();
    assert_eq!(r.status.code(), Some(0));
}

#[test]
fn users_are_added_listed_and_deleted_and_bad_names_refused() {
    let s = Store::new();
    s.run(&["user", "add", "joe", "ann"]).ok();
    let users = s.json(&["user", "list"]);
    let names = field_of(&users["users"], "name");
    assert_eq!(names, ["ann", "joe"]);
    assert_eq!(users["users"][0]["status"], "active");
    // RFC 3339, UTC.
    let created = users["users"][0]["created"].as_str().unwrap();
    assert!(
        created.len() == 20 && created.ends_with('Z') && created.starts_with("20"),
        "{created}"
    );
    assert!(
        s.dir("users/joe/msgstore.index").is_file(),
        "INBOX made with the user"
    );
    let r = s.run(&["user", "add", "joe"]).code(2);
    assert!(
        r.stderr.contains("joe: user already exists"),
        "{}",
        r.stderr
    );
    for bad in ["", "a/b", "..", "x..y", "tab\there"] {
        let r = s.run(&["user", "add", bad]).code(2);
        assert!(
            r.stderr.contains("invalid user name"),
            "{bad:?}: {}",
            r.stderr
        );
    }
    s.deliver("ann", &sample(1));
    s.run(&["mailbox", "create", "ann/sub"]).ok();
    s.run(&["user", "delete", "ann"]).ok();
    assert!(!s.dir("users/ann").exists());
    let list = s.json(&["mailbox", "list"]);
    assert!(
        list["mailboxes"]
            .as_array()
            .unwrap()
            .iter()
            .all(|m| !m["name"].as_str().unwrap().contains("ann"))
    );
    s.run(&["user", "delete", "ann"]).code(2);
}

#[test]
fn mailboxes_are_created_listed_renamed_and_deleted() {
    let s = Store::new();
    s.run(&["user", "add", "joe"]).ok();
    // Parents are created on demand.
    let made = s.json(&["mailbox", "create", "joe/archive/2025"]);
    assert_eq!(made["created"].as_array().unwrap().len(), 2);
    s.run(&["mailbox", "create", "Public Folders/news"]).ok();
    let r = s.run(&["mailbox", "create", "joe/archive"]).code(2);
    assert!(r.stderr.contains("already exists"));
    let r = s.run(&["mailbox", "create", "nobody/x"]).code(2);
    assert!(r.stderr.contains("nobody: no such user"), "{}", r.stderr);
    for bad in ["joe//x", "joe/../etc", "joe/a\u{1}b", "Public Folders/"] {
        let r = s.run(&["mailbox", "create", bad]).code(2);
        assert!(
            r.stderr.contains("invalid mailbox name") || r.stderr.contains("not a mailbox name"),
            "{bad:?}: {}",
            r.stderr
        );
    }
    let list = s.json(&["mailbox", "list", "joe"]);
    let names = field_of(&list["mailboxes"], "name");
    assert_eq!(
        names,
        [
            "Other Users/joe",
            "Other Users/joe/archive",
            "Other Users/joe/archive/2025"
        ]
    );
    assert_eq!(list["mailboxes"][0]["owner"], "joe");
    let uv = |l: &serde_json::Value, n: &str| {
        l["mailboxes"]
            .as_array()
            .unwrap()
            .iter()
            .find(|m| m["name"] == n)
            .map(|m| {
                (
                    m["uidvalidity"].as_u64().unwrap(),
                    m["id"].as_u64().unwrap(),
                )
            })
    };
    let before = uv(&list, "Other Users/joe/archive/2025").unwrap();

    let uid = s.deliver("joe/archive/2025", &sample(3));
    s.run(&["mailbox", "rename", "joe/archive", "joe/old"]).ok();
    let list = s.json(&["mailbox", "list"]);
    assert_eq!(
        uv(&list, "Other Users/joe/old/2025"),
        Some(before),
        "rename keeps UIDVALIDITY and id"
    );
    assert!(uv(&list, "Other Users/joe/archive").is_none());
    assert_eq!(s.dump("joe/old/2025")["messages"][0]["uid"], uid);
    s.run(&["mailbox", "rename", "joe", "joe/x"]).code(2);
    s.run(&["mailbox", "rename", "joe/old", "joe/old/inner"])
        .code(2);

    let r = s.run(&["mailbox", "delete", "joe/old"]).code(2);
    assert!(r.stderr.contains("child mailboxes"), "{}", r.stderr);
    s.run(&["mailbox", "delete", "joe/old/2025"]).ok();
    s.run(&["mailbox", "delete", "joe/old"]).ok();
    assert!(!s.dir("users/joe/old").exists());
    // A mailbox deleted and made again is a new incarnation: a new UIDVALIDITY.
    s.run(&["mailbox", "create", "joe/old"]).ok();
    let again = uv(&s.json(&["mailbox", "list"]), "Other Users/joe/old").unwrap();
    assert_ne!(again.0, before.0);
    let r = s.run(&["mailbox", "delete", "joe/nothing"]).code(2);
    assert!(r.stderr.contains("no such mailbox"));
    let r = s.run(&["mailbox", "delete", "joe"]).code(2);
    assert!(r.stderr.contains("user delete"));
}

#[test]
fn deliver_refuses_nul_by_name_and_delivers_the_rest() {
    let s = Store::new();
    s.run(&["user", "add", "joe"]).ok();
    let r = s
        .run(&[
            "deliver",
            "joe",
            fixture("plain.eml").to_str().unwrap(),
            fixture("nul.eml").to_str().unwrap(),
            fixture("forward.eml").to_str().unwrap(),
        ])
        .code(1);
    // Each UID, then the file it came from.
    assert_eq!(
        r.stdout,
        format!(
            "1\t{}\n2\t{}\n",
            fixture("plain.eml").display(),
            fixture("forward.eml").display()
        )
    );
    assert!(
        r.stderr
            .contains("nul.eml: refused: it contains a NUL byte at offset"),
        "{}",
        r.stderr
    );
    let d = s.dump("joe");
    assert_eq!(d["uidnext"], 3);
    assert_eq!(d["messages"].as_array().unwrap().len(), 2);
    // Line ends are stored as CRLF: the LF fixture's file has no bare LF.
    s.run(&[
        "deliver",
        "joe",
        fixture("attachment-lf.eml").to_str().unwrap(),
    ])
    .ok();
    let stored = std::fs::read(s.dir("users/joe/3.")).unwrap();
    assert!(stored.windows(2).all(|w| w[1] != b'\n' || w[0] == b'\r'));
    let lf = std::fs::read(fixture("attachment-lf.eml")).unwrap();
    let lines = lf.iter().filter(|&&b| b == b'\n').count();
    assert_eq!(
        s.dump("joe")["messages"][2]["size"],
        lf.len() + lines,
        "RFC822.SIZE counts CRLF"
    );
    let r = s
        .run(&["deliver", "nobody", fixture("plain.eml").to_str().unwrap()])
        .code(2);
    assert!(r.stderr.contains("no such mailbox"));
    let r = s.run(&["deliver", "joe", "/nonexistent/file.eml"]).code(1);
    assert!(
        r.stderr.contains("/nonexistent/file.eml: read:"),
        "{}",
        r.stderr
    );
    // No temporary files are left behind.
    assert!(
        std::fs::read_dir(s.dir("users/joe"))
            .unwrap()
            .flatten()
            .all(|e| !e.file_name().to_string_lossy().starts_with("msgstore.tmp"))
    );
}

#[test]
fn flags_and_expunge() {
    let s = Store::new();
    s.run(&["user", "add", "joe"]).ok();
    for i in 0..5 {
        s.deliver("joe", &sample(i));
    }
    let m0 = s.dump("joe")["highestmodseq"].as_u64().unwrap();
    let r = s.json(&["flags", "joe", "1:3,5", "--add", "\\Seen", "--add", "$Work"]);
    assert_eq!(r["changed"].as_array().unwrap().len(), 4);
    s.run(&[
        "flags",
        "joe",
        "2",
        "--remove",
        "$Work",
        "--add",
        "\\Deleted",
    ])
    .ok();
    s.run(&["flags", "joe", "4:*", "--add", "\\deleted"]).ok();
    let d = s.dump("joe");
    let flags = |i: usize| {
        d["messages"][i]["flags"]
            .as_array()
            .unwrap()
            .iter()
            .map(|f| f.as_str().unwrap().to_owned())
            .collect::<Vec<_>>()
    };
    assert_eq!(flags(0), ["\\Seen", "$Work"]);
    assert_eq!(flags(1), ["\\Seen", "\\Deleted"]);
    assert_eq!(flags(4), ["\\Seen", "\\Deleted", "$Work"]);
    assert!(
        d["highestmodseq"].as_u64().unwrap() > m0,
        "flag changes bump the modseq"
    );
    for bad in ["", "0", "1:", "a", "1,,2", "3:x"] {
        let r = s.run(&["flags", "joe", bad, "--add", "\\Seen"]).code(2);
        assert!(
            r.stderr.contains("malformed UID set"),
            "{bad:?}: {}",
            r.stderr
        );
    }
    s.run(&["flags", "joe", "1", "--add", "\\Recent"]).code(2);
    s.run(&["flags", "joe", "1", "--add", "bad word"]).code(2);

    let r = s.json(&["expunge", "joe"]);
    assert_eq!(r["expunged"], serde_json::json!([2, 4, 5]));
    assert!(!s.dir("users/joe/2.").exists() && s.dir("users/joe/1.").exists());
    let r = s.json(&["expunge", "joe", "1"]);
    assert_eq!(r["expunged"], serde_json::json!([1]));
    let d = s.dump("joe");
    assert_eq!(d["messages"].as_array().unwrap().len(), 1);
    assert_eq!(d["uidnext"], 6, "UIDs are never reused");
}

#[test]
fn dump_json_has_exactly_the_contract_fields() {
    let s = Store::new();
    s.run(&["user", "add", "joe"]).ok();
    s.run(&["deliver", "joe", fixture("plain.eml").to_str().unwrap()])
        .ok();
    let d = s.dump("joe");
    let keys: Vec<&str> = d.as_object().unwrap().keys().map(String::as_str).collect();
    assert_eq!(
        keys,
        [
            "highestmodseq",
            "mailbox",
            "messages",
            "uidnext",
            "uidvalidity"
        ]
    );
    let m = &d["messages"][0];
    let mut keys: Vec<&str> = m.as_object().unwrap().keys().map(String::as_str).collect();
    keys.sort();
    assert_eq!(
        keys,
        [
            "body",
            "bodystructure",
            "envelope",
            "flags",
            "guid",
            "internaldate",
            "modseq",
            "size",
            "uid"
        ]
    );
    let raw = std::fs::read(fixture("plain.eml")).unwrap();
    assert_eq!(
        m["guid"],
        guid(&raw),
        "guid is the BLAKE3 of the stored (CRLF) file"
    );
    assert_eq!(m["size"], raw.len());
    let date = m["internaldate"].as_str().unwrap();
    assert!(date.len() == 26 && date.ends_with("+0000"), "{date}");
    assert!(
        m["envelope"]
            .as_str()
            .unwrap()
            .starts_with("(\"Mon, 2 Nov 2026 10:00:00 +0100\" \"Plain text\"")
    );
    assert!(
        m["bodystructure"]
            .as_str()
            .unwrap()
            .starts_with("(\"text\" \"plain\"")
    );
    // Text form for people.
    let r = s.run(&["dump", "joe"]).ok();
    assert!(
        r.stdout.contains("mailbox Other Users/joe")
            && r.stdout.contains("envelope (\"Mon, 2 Nov 2026")
    );
}

#[test]
fn every_command_speaks_json() {
    let s = Store::new();
    for args in [
        &["user", "add", "joe"][..],
        &["user", "list"],
        &["mailbox", "create", "joe/a"],
        &["mailbox", "list"],
        &["mailbox", "rename", "joe/a", "joe/b"],
        &["flags", "joe", "1:*", "--add", "\\Seen"],
        &["expunge", "joe"],
        &["dump", "joe"],
        &["reconstruct", "joe"],
        &["reconstruct", "-m"],
        &["x-build-user-db", "-n"],
        &["mailbox", "delete", "joe/b"],
    ] {
        s.json(args);
    }
    let r = s.run(&["--json", "mailbox", "delete", "joe/zzz"]).code(2);
    assert!(
        r.json()["error"]
            .as_str()
            .unwrap()
            .contains("no such mailbox")
    );
}

#[test]
fn names_with_spaces_quotes_and_unicode_from_prompt_script_and_command_line() {
    let s = Store::new();
    s.run(&["user", "add", "joe"]).ok();
    let script = "# a script on standard input\nmailbox create \"Other Users/joe/my stuff\"\nmailbox create 'joe/Ünïcødé \"quoted\"'\nmailbox create \"joe/100% 5.\"\n";
    s.run_stdin(&[], script.as_bytes()).ok();
    let list = s.json(&["mailbox", "list", "joe"]);
    let names = field_of(&list["mailboxes"], "name");
    assert_eq!(
        names,
        [
            "Other Users/joe",
            "Other Users/joe/100% 5.",
            "Other Users/joe/my stuff",
            "Other Users/joe/Ünïcødé \"quoted\""
        ]
    );
    // On disk the names can never look like message files.
    assert!(s.dir("users/joe/100%25 5%2E").is_dir());
    s.deliver("joe/my stuff", &sample(1));
    s.deliver("joe/Ünïcødé \"quoted\"", &sample(2));
    s.run(&[
        "reconstruct",
        "joe/my stuff",
        "Other Users/joe/Ünïcødé \"quoted\"",
    ])
    .ok();
    let r = s
        .run_stdin(
            &[],
            b"reconstruct -r \"joe/my stuff\"\ndump 'joe/my stuff'\n",
        )
        .ok();
    assert!(
        r.stdout.contains("mailbox Other Users/joe/my stuff"),
        "{}",
        r.stdout
    );
    // A failing line makes the script's status non-zero, and the rest still runs.
    let r = s.run_stdin(&[], b"dump joe/nothing\nuser list\n").code(2);
    assert!(r.stdout.contains("joe"));
    let r = s.run_stdin(&[], b"dump \"joe\n").code(2);
    assert!(r.stderr.contains("unbalanced quotes"));
}

#[test]
fn help_of_every_command_has_an_example() {
    for cmd in [
        "init",
        "deliver",
        "flags",
        "expunge",
        "reconstruct",
        "x-build-user-db",
        "dump",
        "demo",
    ] {
        let o = std::process::Command::new(BIN)
            .args([cmd, "--help"])
            .output()
            .unwrap();
        assert!(
            String::from_utf8_lossy(&o.stdout).contains("Example"),
            "{cmd}"
        );
    }
}

#[test]
fn dump_snapshot_of_fixture_messages() {
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
    s.run(&[
        "flags",
        "joe",
        "2",
        "--add",
        "\\Answered",
        "--add",
        "$Label1",
    ])
    .ok();
    let out = s.run(&["dump", "joe"]).ok().stdout;
    insta::with_settings!({
        snapshot_path => "../../snapshots/e2e",
        prepend_module_to_snapshot => false,
        filters => vec![
            (r"uidvalidity \d+", "uidvalidity [UIDVALIDITY]"),
            (r#"internaldate "[^"]+""#, "internaldate [DATE]"),
        ],
    }, {
        insta::assert_snapshot!("dump_of_fixtures", out);
    });
}

/// The interactive prompt on a real terminal (a pseudo-terminal made by
/// util-linux `script`; skipped where that is not installed).
#[test]
fn the_prompt_on_a_terminal_takes_quoted_names() {
    if std::process::Command::new("script")
        .arg("--version")
        .output()
        .is_err()
    {
        return skip("`script` (util-linux) is not installed");
    }
    let s = Store::new();
    s.run(&["user", "add", "joe"]).ok();
    let cmd = format!("{BIN} --store '{}'", s.root.display());
    let mut child = std::process::Command::new("script")
        .args(["-qec", &cmd, "/dev/null"])
        .env("HOME", s.root.parent().unwrap())
        .stdin(std::process::Stdio::piped())
        .stdout(std::process::Stdio::piped())
        .stderr(std::process::Stdio::piped())
        .spawn()
        .unwrap();
    use std::io::{Read, Write};
    // A line editor discards typeahead when it enters raw mode (TCSAFLUSH), so each
    // line is typed only once its prompt is on the screen, as a person would.
    let seen = std::sync::Arc::new(std::sync::Mutex::new(Vec::<u8>::new()));
    let mut stdout = child.stdout.take().unwrap();
    let sink = seen.clone();
    let reader = std::thread::spawn(move || {
        let mut buf = [0u8; 4096];
        while let Ok(n) = stdout.read(&mut buf) {
            if n == 0 {
                break;
            }
            sink.lock().unwrap().extend_from_slice(&buf[..n]);
        }
    });
    let prompts = |seen: &std::sync::Mutex<Vec<u8>>| {
        String::from_utf8_lossy(&seen.lock().unwrap())
            .matches("msgstore> ")
            .count()
    };
    let mut input = child.stdin.take().unwrap();
    for (n, line) in [
        "mailbox create \"Other Users/joe/my stuff\"\n",
        "help\n",
        "quit\n",
    ]
    .iter()
    .enumerate()
    {
        let start = std::time::Instant::now();
        while prompts(&seen) <= n && start.elapsed() < std::time::Duration::from_secs(20) {
            std::thread::sleep(std::time::Duration::from_millis(20));
        }
        std::thread::sleep(std::time::Duration::from_millis(50));
        input.write_all(line.as_bytes()).unwrap();
        input.flush().unwrap();
    }
    let status = child.wait().unwrap();
    drop(input);
    reader.join().unwrap();
    assert!(status.success());
    let o = seen.lock().unwrap().clone();
    let out = String::from_utf8_lossy(&o);
    assert!(out.contains("msgstore> "), "{out}");
    assert!(out.contains("created Other Users/joe/my stuff"), "{out}");
    assert!(out.contains("Quote names with spaces"), "{out}");
    assert!(s.dir("users/joe/my stuff").is_dir());
}
