//! The command-line contract as a newcomer meets it: exit statuses, errors in one
//! form (and as JSON with --json), -q, the demo, names and prefixes, deliver's
//! refusals, every command's --help (snapshots), and Ctrl-C at the prompt.

use crate::util::{BIN, Store, fixture, sample};
use std::process::{Command, Stdio};

fn bare(args: &[&str]) -> crate::util::Run {
    let o = Command::new(BIN)
        .args(args)
        .stdin(Stdio::null())
        .env_remove("MSGSTORE_ROOT")
        .output()
        .unwrap();
    crate::util::Run {
        code: o.status.code().unwrap_or(-1),
        stdout: String::from_utf8_lossy(&o.stdout).into_owned(),
        stderr: String::from_utf8_lossy(&o.stderr).into_owned(),
    }
}

#[test]
fn exit_statuses_are_the_contract() {
    let s = Store::new();
    s.run(&["user", "add", "joe"]).ok();
    // 0: all done.
    s.run(&["deliver", "joe", fixture("plain.eml").to_str().unwrap()])
        .code(0);
    // 1: done, but one message was refused.
    s.run(&[
        "deliver",
        "joe",
        fixture("plain.eml").to_str().unwrap(),
        fixture("nul.eml").to_str().unwrap(),
    ])
    .code(1);
    // 1: one named mailbox is unknown, the other was rebuilt.
    let r = s.run(&["reconstruct", "joe", "joe/nosuch"]).code(1);
    assert_eq!(
        r.stderr.matches("no such mailbox").count(),
        1,
        "{}",
        r.stderr
    );
    // 2: nothing named exists; a command-line mistake; a store error.
    s.run(&["reconstruct", "joe/nosuch"]).code(2);
    s.run(&["dump", "joe/nosuch"]).code(2);
    s.run(&["flags", "joe", "1"]).code(2);
    s.run(&["flags", "joe", "1:2:3", "--add", "\\Seen"]).code(2);
    bare(&["--store", "/nonexistent-msgstore", "user", "list"]).code(2);
    // --help and --version are no errors.
    bare(&["--help"]).code(0);
    bare(&["--version"]).code(0);
    bare(&["reconstruct", "--help"]).code(0);
}

#[test]
fn errors_say_what_and_where_in_one_form_and_as_json() {
    let s = Store::new();
    s.run(&["user", "add", "joe"]).ok();
    // A command-line mistake: the msgstore form, clap's tip kept, a pointer to help.
    let r = s.run(&["user", "lst"]).code(2);
    assert!(r.stderr.starts_with("msgstore: "), "{}", r.stderr);
    assert!(r.stderr.contains("'list'"), "{}", r.stderr);
    assert!(r.stderr.contains("msgstore user --help"), "{}", r.stderr);
    assert!(r.stdout.is_empty());
    // With --json, one document on stdout, whatever failed.
    for args in [
        &["--json", "user", "lst"][..],
        &["--json", "flags", "joe"],
        &["--json", "dump", "joe/nosuch"],
        &["--json", "demo", "--messages", "3"],
    ] {
        let r = s.run(args).code(2);
        let j = r.json();
        let e = j["error"]
            .as_str()
            .unwrap_or_else(|| panic!("{args:?}: {j}"));
        assert!(!e.is_empty());
        assert_eq!(
            r.stdout.lines().count(),
            1,
            "{args:?}: one document: {}",
            r.stdout
        );
    }
    // A typo gets the closest name.
    let r = s.run(&["dump", "jo"]).code(2);
    assert!(
        r.stderr.contains("did you mean `Other Users/joe`?"),
        "{}",
        r.stderr
    );
    // Names are shown as typed, not escaped like program source.
    let r = s.run(&["flags", "joe", "1", "--add", "\\Recent"]).code(2);
    assert!(r.stderr.contains("`\\Recent`"), "{}", r.stderr);
    assert!(!r.stderr.contains("\\\\"), "{}", r.stderr);
    // A directory that is no store and not empty: init would refuse it, so it is
    // not suggested.
    let d = tempfile::tempdir().unwrap();
    std::fs::write(d.path().join("x"), "x").unwrap();
    let r = bare(&["--store", d.path().to_str().unwrap(), "user", "list"]).code(2);
    assert!(!r.stderr.contains("init"), "{}", r.stderr);
    let r = bare(&["--store", d.path().to_str().unwrap(), "init"]).code(2);
    assert!(r.stderr.contains("not empty"), "{}", r.stderr);
}

#[test]
fn an_empty_msgstore_root_is_unset() {
    let s = Store::new();
    s.run(&["user", "add", "joe"]).ok();
    let o = Command::new(BIN)
        .args(["--store", s.root.to_str().unwrap(), "user", "list"])
        .env("MSGSTORE_ROOT", "")
        .output()
        .unwrap();
    assert!(o.status.success(), "{}", String::from_utf8_lossy(&o.stderr));
    let o = Command::new(BIN)
        .args(["user", "list"])
        .env("MSGSTORE_ROOT", &s.root)
        .output()
        .unwrap();
    assert!(String::from_utf8_lossy(&o.stdout).contains("joe"));
    // The usage line shows --store as an option, not a requirement.
    let help = bare(&["--help"]).ok().stdout;
    assert!(
        help.contains("Usage: msgstore [OPTIONS] [COMMAND]"),
        "{help}"
    );
}

#[test]
fn quiet_is_errors_and_warnings_only() {
    let s = Store::new();
    s.run(&["user", "add", "joe"]).ok();
    for i in 0..20 {
        s.deliver("joe", &sample(i));
    }
    for args in [
        &["-q", "reconstruct", "-r"][..],
        &["-q", "flags", "joe", "1:*", "--add", "\\Seen"],
        &["-q", "user", "add", "ann"],
        &["-q", "mailbox", "create", "joe/x"],
        &["-q", "reconstruct", "-m"],
        &["-q", "x-build-user-db"],
        &["-q", "expunge", "joe"],
    ] {
        let r = s.run(args).ok();
        assert!(r.stdout.is_empty(), "{args:?} printed {:?}", r.stdout);
        assert!(r.stderr.is_empty(), "{args:?} warned {:?}", r.stderr);
    }
    // What needs attention still shows, on stderr.
    std::fs::write(s.dir("users/joe/notes.txt"), "x").unwrap();
    let r = s.run(&["-q", "reconstruct", "joe"]).ok();
    assert!(r.stdout.is_empty());
    assert!(r.stderr.contains("notes.txt"), "{}", r.stderr);
    // An error is an error.
    let r = s.run(&["-q", "dump", "nobody"]).code(2);
    assert!(r.stderr.contains("no such mailbox"));
}

#[test]
fn the_demo_builds_what_it_is_asked_where_it_is_asked() {
    let d = tempfile::tempdir().unwrap();
    let store = d.path().join("demo-store");
    let r = bare(&[
        "--store",
        store.to_str().unwrap(),
        "demo",
        "--messages",
        "13",
    ])
    .ok();
    assert!(r.stdout.contains("13 messages"), "{}", r.stdout);
    assert!(r.stdout.contains("nothing was lost."), "{}", r.stdout);
    // Its last lines name a command that runs as printed.
    let line = r
        .stdout
        .lines()
        .find(|l| l.starts_with("explore it: "))
        .unwrap()
        .trim_start_matches("explore it: ")
        .to_owned();
    let words = shlex::split(&line).unwrap();
    let o = Command::new(&words[0]).args(&words[1..]).output().unwrap();
    assert!(
        o.status.success(),
        "{line}: {}",
        String::from_utf8_lossy(&o.stderr)
    );
    assert!(
        store.join("users").is_dir(),
        "the store went where --store said"
    );
    let r = bare(&["demo", "--messages", "0"]).code(2);
    assert!(r.stderr.contains("12"), "{}", r.stderr);
    // One JSON document with --json.
    let r = bare(&[
        "--json",
        "demo",
        "--dir",
        d.path().join("j").to_str().unwrap(),
        "--messages",
        "12",
    ])
    .ok();
    let j = r.json();
    assert_eq!(j["problems"], serde_json::json!([]));
    assert!(j["reconstruct"]["mailboxes"].is_array());
}

#[test]
fn a_prefix_is_a_hierarchy_not_text() {
    let s = Store::new();
    s.run(&["user", "add", "joe", "joel"]).ok();
    s.run(&["mailbox", "create", "joe/x"]).ok();
    let names: Vec<String> = s.json(&["mailbox", "list", "joe"])["mailboxes"]
        .as_array()
        .unwrap()
        .iter()
        .map(|m| m["name"].as_str().unwrap().to_owned())
        .collect();
    assert_eq!(names, ["Other Users/joe", "Other Users/joe/x"]);
}

#[test]
fn deliver_refuses_what_is_not_one_message_and_names_each_file() {
    let s = Store::new();
    s.run(&["user", "add", "joe"]).ok();
    let r = s.run_stdin(&["deliver", "joe"], b"").code(1);
    assert!(r.stderr.contains("it is empty"), "{}", r.stderr);
    let d = tempfile::tempdir().unwrap();
    for sub in ["cur", "new", "tmp"] {
        std::fs::create_dir_all(d.path().join("md").join(sub)).unwrap();
    }
    let md = d.path().join("md");
    let r = s.run(&["deliver", "joe", md.to_str().unwrap()]).code(1);
    assert!(r.stderr.contains("msgstore import"), "{}", r.stderr);
    let mbox = d.path().join("one.mbox");
    let mut m = b"From a@b.example Mon Jan  5 10:00:00 2026\n".to_vec();
    m.extend_from_slice(&sample(1));
    std::fs::write(&mbox, &m).unwrap();
    let r = s.run(&["deliver", "joe", mbox.to_str().unwrap()]).ok();
    assert!(r.stderr.contains("mbox `From ` line"), "{}", r.stderr);
    assert_eq!(r.stdout, format!("1\t{}\n", mbox.display()));
    let d1 = s.dump("joe");
    assert!(
        !d1["messages"][0]["envelope"]
            .as_str()
            .unwrap()
            .contains("From a@b"),
        "the From_ line is not part of the message"
    );
}

/// Every command's --help, as people read it.
#[test]
fn help_snapshots() {
    let mut out = String::new();
    for args in [
        &["--help"][..],
        &["init", "--help"],
        &["user", "--help"],
        &["user", "add", "--help"],
        &["user", "list", "--help"],
        &["user", "delete", "--help"],
        &["user", "passwd", "--help"],
        &["user", "quota", "--help"],
        &["mailbox", "--help"],
        &["mailbox", "create", "--help"],
        &["mailbox", "list", "--help"],
        &["mailbox", "delete", "--help"],
        &["mailbox", "rename", "--help"],
        &["deliver", "--help"],
        &["flags", "--help"],
        &["expunge", "--help"],
        &["reconstruct", "--help"],
        &["x-build-user-db", "--help"],
        &["dump", "--help"],
        &["import", "--help"],
        &["export", "--help"],
        &["serve", "--help"],
        &["set-aside", "--help"],
        &["set-aside", "list", "--help"],
        &["set-aside", "remove", "--help"],
        &["completions", "--help"],
        &["man", "--help"],
        &["demo", "--help"],
    ] {
        let r = bare(args).ok();
        out.push_str(&format!("$ msgstore {}\n{}\n", args.join(" "), r.stdout));
    }
    insta::with_settings!({
        snapshot_path => "../../snapshots/cli",
        prepend_module_to_snapshot => false,
    }, {
        insta::assert_snapshot!("help", out);
    });
}

/// Ctrl-C at the prompt stops the command it runs, not the prompt (on a real
/// pseudo-terminal made by util-linux `script`; skipped where it is missing).
#[test]
fn ctrl_c_at_the_prompt_stops_the_command_not_the_prompt() {
    if Command::new("script").arg("--version").output().is_err() {
        return crate::util::skip("`script` (util-linux) is not installed");
    }
    let s = Store::new();
    s.run(&["user", "add", "joe"]).ok();
    // Hold joe's lock, so that `reconstruct --wait joe` waits until interrupted.
    let lock = std::fs::File::options()
        .read(true)
        .write(true)
        .create(true)
        .truncate(false)
        .open(s.dir("users/joe/msgstore.lock"))
        .unwrap();
    lock.lock().unwrap();
    // `exec`: `script` runs the line through $SHELL, and a non-interactive dash
    // between it and the prompt would itself die of the terminal's SIGINT.
    let cmd = format!("exec {BIN} --store '{}'", s.root.display());
    let mut child = Command::new("script")
        .args(["-qec", &cmd, "/dev/null"])
        .env("SHELL", "/bin/sh")
        .env("HOME", s.root.parent().unwrap())
        .stdin(Stdio::piped())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .unwrap();
    use std::io::{Read, Write};
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
    let text = |seen: &std::sync::Mutex<Vec<u8>>| {
        String::from_utf8_lossy(&seen.lock().unwrap()).into_owned()
    };
    let wait_for = |what: &str, count: usize| {
        let start = std::time::Instant::now();
        while text(&seen).matches(what).count() < count
            && start.elapsed() < std::time::Duration::from_secs(20)
        {
            std::thread::sleep(std::time::Duration::from_millis(20));
        }
        std::thread::sleep(std::time::Duration::from_millis(100));
    };
    let mut input = child.stdin.take().unwrap();
    wait_for("msgstore> ", 1);
    input.write_all(b"reconstruct --wait joe\n").unwrap();
    input.flush().unwrap();
    // The command is waiting for the lock; Ctrl-C (ETX through the terminal).
    std::thread::sleep(std::time::Duration::from_millis(700));
    input.write_all(b"\x03").unwrap();
    input.flush().unwrap();
    wait_for("msgstore> ", 2);
    input.write_all(b"mailbox list\n").unwrap();
    input.flush().unwrap();
    wait_for("msgstore> ", 3);
    input.write_all(b"quit\n").unwrap();
    input.flush().unwrap();
    let status = child.wait().unwrap();
    drop(input);
    reader.join().unwrap();
    drop(lock);
    let out = text(&seen);
    assert!(status.success(), "{out}");
    assert!(out.contains("interrupted"), "{out}");
    assert!(
        out.contains("Other Users/joe\tid="),
        "the prompt went on: {out}"
    );
}

/// A script says which line failed.
#[test]
fn a_script_names_the_line_that_failed() {
    let s = Store::new();
    let r = s.run_stdin(&[], b"user add joe\n# a comment\ndump nobody\nuser list\n");
    assert_eq!(r.code, 2, "{}", r.stderr);
    assert!(r.stderr.contains("line 3"), "{}", r.stderr);
    assert!(r.stdout.contains("joe"), "the script went on: {}", r.stdout);
}
