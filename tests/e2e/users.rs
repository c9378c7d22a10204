//! `user passwd` and `user quota`, and quota enforcement by every CLI way in.

use crate::util::{BIN, Store};
use std::process::{Command, Stdio};

/// A message of exactly `size` bytes of RFC822.SIZE (CRLF line ends).
fn msg(size: usize, tag: &str) -> Vec<u8> {
    let mut m = format!("Subject: {tag}\r\n\r\n").into_bytes();
    assert!(m.len() < size);
    m.resize(size, b'a');
    m
}

fn user<'a>(list: &'a serde_json::Value, name: &str) -> &'a serde_json::Value {
    list["users"]
        .as_array()
        .unwrap()
        .iter()
        .find(|u| u["name"] == name)
        .unwrap_or_else(|| panic!("{name} not listed: {list}"))
}

#[test]
fn passwd_reads_one_line_of_stdin_and_user_list_shows_it() {
    let s = Store::new();
    s.run(&["user", "add", "joe", "ann"]).ok();
    let l = s.json(&["user", "list"]);
    assert_eq!(user(&l, "joe")["has_password"], false);
    let r = s
        .run_stdin(&["user", "passwd", "joe"], b"s3cret pass\n")
        .ok();
    assert!(
        r.stdout.contains("password set for user joe"),
        "{}",
        r.stdout
    );
    let l = s.json(&["user", "list"]);
    assert_eq!(user(&l, "joe")["has_password"], true);
    assert_eq!(user(&l, "ann")["has_password"], false);
    let text = s.run(&["user", "list"]).ok().stdout;
    let joe = text.lines().find(|l| l.starts_with("joe\t")).unwrap();
    assert!(joe.contains("\tpassword=set\t"), "{joe}");
    let ann = text.lines().find(|l| l.starts_with("ann\t")).unwrap();
    assert!(ann.contains("\tpassword=none\t"), "{ann}");
    // Never the hash itself.
    assert!(!s.run(&["--json", "user", "list"]).stdout.contains("argon2"));

    for (input, why) in [
        (&b"\n"[..], "empty"),
        (b"", "empty"),
        (b"one\ntwo\n", "more than one line"),
    ] {
        let r = s.run_stdin(&["user", "passwd", "ann"], input).code(2);
        assert!(r.stderr.contains(why), "{input:?}: {}", r.stderr);
    }
    let r = s.run_stdin(&["user", "passwd", "nobody"], b"x\n").code(2);
    assert!(r.stderr.contains("nobody: no such user"), "{}", r.stderr);
    let r = s
        .run_stdin(&["user", "passwd", "ann"], &vec![b'x'; 5000])
        .code(2);
    assert!(r.stderr.contains("longer than"), "{}", r.stderr);
    // In a script, standard input is the script: no password can come from it.
    let r = s.run_stdin(&[], b"user passwd ann\nuser list\n");
    assert_eq!(r.code, 2, "{}", r.stderr);
    assert!(r.stderr.contains("in a script"), "{}", r.stderr);
    let l = s.json(&["user", "list"]);
    assert_eq!(user(&l, "ann")["has_password"], false, "nothing changed");
}

/// On a terminal (a real pseudo-terminal made by util-linux `script`): asked
/// twice, never echoed, and two different answers change nothing.
#[test]
fn passwd_on_a_terminal_asks_twice_without_echo() {
    if Command::new("script").arg("--version").output().is_err() {
        eprintln!("skipping: `script` (util-linux) is not installed");
        return;
    }
    let s = Store::new();
    s.run(&["user", "add", "joe"]).ok();
    let on_tty = |answers: &[&str]| {
        use std::io::{Read, Write};
        let cmd = format!("{BIN} --store '{}' user passwd joe", s.root.display());
        let mut child = Command::new("script")
            .args(["-qec", &cmd, "/dev/null"])
            .stdin(Stdio::piped())
            .stdout(Stdio::piped())
            .stderr(Stdio::piped())
            .spawn()
            .unwrap();
        let mut input = child.stdin.take().unwrap();
        let mut stdout = child.stdout.take().unwrap();
        let reader = std::thread::spawn(move || {
            let mut out = Vec::new();
            let _ = stdout.read_to_end(&mut out);
            String::from_utf8_lossy(&out).into_owned()
        });
        for a in answers {
            // Each answer once its prompt is up (the terminal's echo is off by then).
            std::thread::sleep(std::time::Duration::from_millis(500));
            input.write_all(a.as_bytes()).unwrap();
            input.write_all(b"\r").unwrap();
            input.flush().unwrap();
        }
        let status = child.wait().unwrap();
        drop(input);
        (status, reader.join().unwrap())
    };
    let (status, out) = on_tty(&["tty-secret-1", "tty-secret-2"]);
    assert!(!status.success(), "{out}");
    assert!(out.contains("differ"), "{out}");
    let (status, out) = on_tty(&["tty-secret-1", "tty-secret-1"]);
    assert!(status.success(), "{out}");
    assert!(out.contains("new password for joe"), "{out}");
    assert!(out.contains("password set for user joe"), "{out}");
    assert!(!out.contains("tty-secret"), "echoed: {out}");
    let l = s.json(&["user", "list"]);
    assert_eq!(user(&l, "joe")["has_password"], true);
}

#[test]
fn quota_is_set_shown_and_removed() {
    let s = Store::new();
    s.run(&["user", "add", "joe"]).ok();
    s.run(&["mailbox", "create", "joe/stuff"]).ok();
    s.deliver("joe", &msg(1000, "a"));
    s.deliver("joe/stuff", &msg(500, "b"));
    let l = s.json(&["user", "list"]);
    assert_eq!(user(&l, "joe")["quota"], serde_json::Value::Null);
    assert_eq!(user(&l, "joe")["usage"]["bytes"], 1500);
    assert_eq!(user(&l, "joe")["usage"]["messages"], 2);

    let r = s.run(&["user", "quota", "joe", "2K"]).ok();
    assert!(
        r.stdout
            .contains("quota 2048 bytes (2.0 KiB), 1500 bytes used in 2 messages"),
        "{}",
        r.stdout
    );
    let j = s.json(&["user", "quota", "joe", "3000"]);
    assert_eq!(j["quota"], 3000);
    assert_eq!(j["usage"]["bytes"], 1500);
    let text = s.run(&["user", "list"]).ok().stdout;
    assert!(text.contains("\tquota=3000\tused=1500\t"), "{text}");
    assert_eq!(s.json(&["user", "list"])["users"][0]["quota"], 3000);

    let r = s.run(&["user", "quota", "joe", "none"]).ok();
    assert!(r.stdout.contains("no quota"), "{}", r.stdout);
    let text = s.run(&["user", "list"]).ok().stdout;
    assert!(text.contains("\tquota=none\tused=1500\t"), "{text}");

    let r = s.run(&["user", "quota", "joe", "lots"]).code(2);
    assert!(r.stderr.contains("not a quota"), "{}", r.stderr);
    let r = s.run(&["user", "quota", "zed", "1"]).code(2);
    assert!(r.stderr.contains("zed: no such user"), "{}", r.stderr);
    // A quota below the usage is allowed, and said.
    let r = s.run(&["user", "quota", "joe", "0"]).ok();
    assert!(r.stdout.contains("over quota"), "{}", r.stdout);
}

#[test]
fn deliver_and_import_refuse_past_the_quota_and_expunge_makes_room() {
    let s = Store::new();
    s.run(&["user", "add", "joe"]).ok();
    s.run(&["mailbox", "create", "joe/stuff"]).ok();
    s.run(&["mailbox", "create", "Public Folders/news"]).ok();
    s.run(&["user", "quota", "joe", "2000"]).ok();
    s.deliver("joe", &msg(1200, "a"));
    // 800 left: a 900-byte message is refused, naming the user, exit status 1.
    let r = s
        .run_stdin(&["deliver", "joe/stuff"], &msg(900, "b"))
        .code(1);
    assert!(
        r.stderr.contains("joe: over quota") && r.stderr.contains("msgstore user quota joe"),
        "{}",
        r.stderr
    );
    // Several files: those that fit go in, in order; the rest are named.
    let tmp = tempfile::tempdir().unwrap();
    let files: Vec<String> = [(500, "c"), (400, "d"), (100, "e")]
        .iter()
        .map(|(n, t)| {
            let p = tmp.path().join(format!("{t}.eml"));
            std::fs::write(&p, msg(*n, t)).unwrap();
            p.display().to_string()
        })
        .collect();
    let mut args = vec!["--json", "deliver", "joe/stuff"];
    args.extend(files.iter().map(String::as_str));
    let r = s.run(&args).code(1);
    let j = r.json();
    assert_eq!(
        (j["delivered"].as_u64(), j["failed"].as_u64()),
        (Some(1), Some(2))
    );
    assert!(
        j["messages"][1]["error"]
            .as_str()
            .unwrap()
            .contains("d.eml")
    );
    assert_eq!(s.dump("joe/stuff")["messages"].as_array().unwrap().len(), 1);
    // Public folders have no quota.
    s.deliver("Public Folders/news", &msg(50_000, "f"));

    // Import stops at the quota, having added what fits.
    let maildir = tmp.path().join("Maildir");
    for d in ["cur", "new", "tmp"] {
        std::fs::create_dir_all(maildir.join(d)).unwrap();
    }
    for (i, n) in [200, 250, 300].iter().enumerate() {
        std::fs::write(
            maildir.join("cur").join(format!("{i}.host:2,S")),
            msg(*n, &format!("imported {i}")),
        )
        .unwrap();
    }
    let r = s.run(&["--json", "import", "joe/stuff", maildir.to_str().unwrap()]);
    assert_eq!(r.code, 1, "{}", r.stderr);
    let j = r.json();
    let added = j["mailboxes"][0]["added"].as_u64().unwrap();
    assert!(added < 3, "{j}");
    let err = j["mailboxes"][0]["error"].as_str().unwrap();
    assert!(err.contains("joe: over quota"), "{err}");
    let used = s.json(&["user", "list"])["users"][0]["usage"]["bytes"]
        .as_u64()
        .unwrap();
    assert!(used <= 2000, "{used}");

    // Expunged mail makes room: the import, run again, adds the rest.
    s.run(&["flags", "joe", "1", "--add", "\\Deleted"]).ok();
    s.run(&["expunge", "joe"]).ok();
    let after = s.json(&["user", "list"])["users"][0]["usage"]["bytes"]
        .as_u64()
        .unwrap();
    assert_eq!(after, used - 1200);
    let j = s.json(&["import", "joe/stuff", maildir.to_str().unwrap()]);
    assert_eq!(j["mailboxes"][0]["added"].as_u64().unwrap(), 3 - added);
    assert_eq!(
        s.json(&["user", "list"])["users"][0]["usage"]["bytes"],
        500 + 200 + 250 + 300
    );
}

/// A delivery killed between its file and its commit counts for nothing, and
/// once reconstruct has added its file, once.
#[test]
fn a_crash_between_file_and_commit_is_never_counted_twice() {
    let s = Store::new();
    s.run(&["user", "add", "joe"]).ok();
    s.run(&["user", "quota", "joe", "10000"]).ok();
    s.deliver("joe", &msg(1000, "a"));
    let r = s
        .cmd()
        .args(["deliver", "joe"])
        .env("MSGSTORE_FAULT", "deliver-before-commit")
        .stdin(Stdio::piped())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .and_then(|mut c| {
            use std::io::Write;
            c.stdin.take().unwrap().write_all(&msg(3000, "b"))?;
            c.wait_with_output()
        })
        .unwrap();
    assert!(!r.status.success(), "the fault point aborts");
    let usage = |s: &Store| s.json(&["user", "list"])["users"][0]["usage"].clone();
    assert_eq!(usage(&s)["bytes"], 1000, "an uncommitted file is no usage");
    let j = s.json(&["reconstruct", "-r"]);
    let joe = &j["users"][0];
    assert_eq!(joe["user"], "joe");
    assert_eq!(joe["before"], 1000);
    assert_eq!(joe["bytes"], 4000);
    assert_eq!(joe["messages"], 2);
    assert_eq!(usage(&s)["bytes"], 4000);
    // Again: nothing more to count.
    let j = s.json(&["reconstruct", "-r"]);
    assert_eq!(j["users"][0]["bytes"], 4000);
    assert_eq!(j["users"][0]["before"], 4000);
    assert_eq!(usage(&s)["bytes"], 4000);
}
