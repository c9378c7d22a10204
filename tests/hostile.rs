//! Hostile input and limits: huge header blocks, 100,000 MIME parts, nesting
//! 10,000 deep, very long lines, hostile names (`..`, `/`, NUL, control
//! characters, invalid UTF-8, overlong), and symlinks inside the spool (never
//! followed out of the store). Every case ends in a result or a clear error
//! naming what was refused, within a time limit, and never in a crash.
//!
//! The MIME limits of the cache builder are not errors: a mail store must keep
//! what it was sent, so beyond `MAX_NESTING` (100) levels a part is kept as one
//! opaque leaf and beyond `MAX_PARTS` (10,000) parts the rest of a multipart is
//! its epilogue, as Dovecot does. What is refused is listed in README.md.

mod support;
#[allow(dead_code)]
#[path = "e2e/util.rs"]
mod util;

use std::path::Path;
use std::time::{Duration, Instant};
use util::Store;

/// Runs `f` on a thread with a small stack (so deep recursion shows up as a
/// crash here, not only on a deeper input) and fails if it takes longer than
/// `limit`.
fn bounded<T: Send + 'static>(
    what: &str,
    limit: Duration,
    f: impl FnOnce() -> T + Send + 'static,
) -> T {
    let start = Instant::now();
    let h = std::thread::Builder::new()
        .stack_size(STACK)
        .spawn(f)
        .unwrap();
    while !h.is_finished() {
        assert!(
            start.elapsed() < limit,
            "{what}: still running after {limit:?}"
        );
        std::thread::sleep(Duration::from_millis(5));
    }
    let v = h.join().unwrap_or_else(|_| panic!("{what}: panicked"));
    eprintln!("{what}: {:?}", start.elapsed());
    v
}

const LIMIT: Duration = Duration::from_secs(60);
/// Half the stack of a rayon worker (reconstruct parses there) or any spawned
/// thread (2 MiB): the nesting limit must leave room to spare in a debug build.
const STACK: usize = 1 << 20;

fn build(what: &str, msg: Vec<u8>) -> msgstore::mime::FetchData {
    bounded(what, LIMIT, move || msgstore::mime::build(&msg))
}

#[test]
fn header_block_of_many_megabytes() {
    // 16 MiB of header lines, and one 8 MiB folded Subject.
    let mut m = Vec::new();
    for i in 0..200_000 {
        m.extend_from_slice(format!("X-Filler-{i}: {}\r\n", "v".repeat(70)).as_bytes());
    }
    m.extend_from_slice(b"Subject: start");
    for _ in 0..100_000 {
        m.extend_from_slice(b"\r\n folded continuation of the subject line, again");
    }
    m.extend_from_slice(b"\r\nTo: ");
    for i in 0..100_000 {
        m.extend_from_slice(format!("u{i}@example.org, ").as_bytes());
    }
    m.extend_from_slice(b"last@example.org\r\n\r\nbody\r\n");
    let len = m.len() as u64;
    let c = build("16 MiB header", m);
    assert!(c.header_size >= len - 8);
    assert!(c.envelope.starts_with(b"("));
}

#[test]
fn a_hundred_thousand_mime_parts() {
    let mut m = b"Content-Type: multipart/mixed; boundary=b\r\n\r\n".to_vec();
    for i in 0..100_000 {
        m.extend_from_slice(
            format!("--b\r\nContent-Type: text/plain\r\n\r\npart {i}\r\n").as_bytes(),
        );
    }
    m.extend_from_slice(b"--b--\r\n");
    let c = build("100,000 parts", m);
    let parts = c
        .bodystructure
        .windows(7)
        .filter(|w| w == b"\"plain\"")
        .count();
    assert!(
        (9_990..=10_000).contains(&parts),
        "{parts}: parts beyond MAX_PARTS are the epilogue"
    );
}

#[test]
fn multipart_nesting_ten_thousand_deep() {
    let depth = 10_000;
    let mut m = Vec::new();
    for i in 0..depth {
        m.extend_from_slice(
            format!("Content-Type: multipart/mixed; boundary=b{i}\r\n\r\n--b{i}\r\n").as_bytes(),
        );
    }
    m.extend_from_slice(b"Content-Type: text/plain\r\n\r\ndeep\r\n");
    for i in (0..depth).rev() {
        m.extend_from_slice(format!("--b{i}--\r\n").as_bytes());
    }
    let c = build("multipart 10,000 deep", m);
    assert!(
        c.bodystructure.len() < 1_000_000,
        "{}",
        c.bodystructure.len()
    );
}

#[test]
fn message_rfc822_nesting_ten_thousand_deep() {
    let mut m = Vec::new();
    for _ in 0..10_000 {
        m.extend_from_slice(b"Subject: wrapper\r\nContent-Type: message/rfc822\r\n\r\n");
    }
    m.extend_from_slice(b"Subject: inner\r\n\r\nthe end\r\n");
    let c = build("message/rfc822 10,000 deep", m);
    assert!(c.bodystructure.len() < 200_000);
}

#[test]
fn very_long_lines() {
    // 64 MiB without a line end (the budget of a debug build; the code is linear),
    // and a 16 MiB header line.
    let mut m = b"Subject: x\r\n\r\n".to_vec();
    m.resize(64 << 20, b'a');
    let c = build("64 MiB line", m);
    assert_eq!(c.size, 64 << 20);
    let mut m = b"X-Long: ".to_vec();
    m.resize(16 << 20, b'b');
    m.extend_from_slice(b"\r\n\r\nbody\r\n");
    build("16 MiB header line", m);
}

#[test]
fn quoting_and_parameters_at_scale() {
    let mut m = b"From: \"".to_vec();
    m.extend(std::iter::repeat_n(b"\\\"", 1_000_000).flatten());
    m.extend_from_slice(b"\" <a@b>\r\nContent-Type: text/plain");
    for i in 0..50_000 {
        m.extend_from_slice(format!("; p{i}*{i}*=utf-8''%41").as_bytes());
    }
    m.extend_from_slice(b"\r\n\r\nx\r\n");
    build("escapes and parameters", m);
}

/// The same inputs through the binary: delivered (a store keeps what it is sent)
/// and rebuilt by reconstruct, or refused with a message naming the input.
#[test]
fn huge_messages_through_deliver_and_reconstruct() {
    let s = Store::new();
    s.run(&["user", "add", "joe"]).ok();
    let mut deep = Vec::new();
    for i in 0..10_000 {
        deep.extend_from_slice(
            format!("Content-Type: multipart/mixed; boundary=b{i}\r\n\r\n--b{i}\r\n").as_bytes(),
        );
    }
    deep.extend_from_slice(b"\r\nx\r\n");
    let mut many = b"Content-Type: multipart/mixed; boundary=b\r\n\r\n".to_vec();
    for i in 0..100_000 {
        many.extend_from_slice(format!("--b\r\n\r\n{i}\r\n").as_bytes());
    }
    let mut header = Vec::new();
    for i in 0..100_000 {
        header.extend_from_slice(format!("X-F{i}: {}\r\n", "v".repeat(60)).as_bytes());
    }
    header.extend_from_slice(b"\r\nbody\r\n");
    for (what, m) in [("deep", deep), ("many parts", many), ("big header", header)] {
        let start = Instant::now();
        let r = s.run_stdin(&["deliver", "joe"], &m);
        assert_eq!(r.code, 0, "{what}: {}", r.stderr);
        eprintln!("deliver {what} ({} bytes): {:?}", m.len(), start.elapsed());
    }
    let r = s.run(&["reconstruct", "--full", "joe"]).ok();
    assert!(r.stdout.contains("3 messages"), "{}", r.stdout);
    let r = s.run_stdin(&["deliver", "joe"], b"Subject: nul\r\n\r\na\0b\r\n");
    assert_eq!(r.code, 1);
    eprintln!("limit: NUL byte: {}", r.stderr.trim());
    assert!(
        r.stderr
            .contains("<stdin>: refused: it contains a NUL byte at offset 17")
    );
}

/// Names: every hostile spelling is refused with a message naming it; none
/// creates anything outside the store or a second spelling of one mailbox.
#[test]
fn hostile_names_are_refused_clearly() {
    use std::ffi::OsStr;
    use std::os::unix::ffi::OsStrExt;
    let s = Store::new();
    s.run(&["user", "add", "joe"]).ok();
    let long = "x".repeat(300);
    let deep = vec!["d"; 40].join("/");
    let joe_deep = format!("joe/{deep}");
    let joe_long = format!("joe/{long}");
    let cases: Vec<(&str, Vec<&OsStr>)> = vec![
        (
            "user ..",
            vec!["user".as_ref(), "add".as_ref(), "..".as_ref()],
        ),
        (
            "user a/b",
            vec!["user".as_ref(), "add".as_ref(), "a/b".as_ref()],
        ),
        (
            "user with ..",
            vec!["user".as_ref(), "add".as_ref(), "a..b".as_ref()],
        ),
        (
            "user newline",
            vec!["user".as_ref(), "add".as_ref(), "jo\ne".as_ref()],
        ),
        (
            "user empty",
            vec!["user".as_ref(), "add".as_ref(), "".as_ref()],
        ),
        (
            "user overlong",
            vec!["user".as_ref(), "add".as_ref(), long.as_ref()],
        ),
        (
            "user invalid UTF-8",
            vec![
                "user".as_ref(),
                "add".as_ref(),
                OsStr::from_bytes(b"j\xffe"),
            ],
        ),
        (
            "mailbox ..",
            vec!["mailbox".as_ref(), "create".as_ref(), "joe/..".as_ref()],
        ),
        (
            "mailbox .",
            vec!["mailbox".as_ref(), "create".as_ref(), "joe/.".as_ref()],
        ),
        (
            "mailbox //",
            vec!["mailbox".as_ref(), "create".as_ref(), "joe//x".as_ref()],
        ),
        (
            "mailbox trailing /",
            vec!["mailbox".as_ref(), "create".as_ref(), "joe/x/".as_ref()],
        ),
        (
            "mailbox tab",
            vec!["mailbox".as_ref(), "create".as_ref(), "joe/a\tb".as_ref()],
        ),
        (
            "mailbox DEL",
            vec!["mailbox".as_ref(), "create".as_ref(), "joe/a\x7fb".as_ref()],
        ),
        (
            "mailbox overlong level",
            vec!["mailbox".as_ref(), "create".as_ref(), OsStr::new(&joe_long)],
        ),
        (
            "mailbox too deep",
            vec!["mailbox".as_ref(), "create".as_ref(), OsStr::new(&joe_deep)],
        ),
        (
            "mailbox invalid UTF-8",
            vec![
                "mailbox".as_ref(),
                "create".as_ref(),
                OsStr::from_bytes(b"joe/\xc3\x28"),
            ],
        ),
        (
            "mailbox of nobody",
            vec!["mailbox".as_ref(), "create".as_ref(), "nobody/x".as_ref()],
        ),
        (
            "deliver to ..",
            vec!["deliver".as_ref(), "joe/..".as_ref(), "/dev/null".as_ref()],
        ),
        (
            "rename INBOX",
            vec![
                "mailbox".as_ref(),
                "rename".as_ref(),
                "joe".as_ref(),
                "joe/x".as_ref(),
            ],
        ),
        (
            "bad UID set",
            vec![
                "flags".as_ref(),
                "joe".as_ref(),
                "1:2:3".as_ref(),
                "--add".as_ref(),
                "\\Seen".as_ref(),
            ],
        ),
        (
            "bad keyword",
            vec![
                "flags".as_ref(),
                "joe".as_ref(),
                "1".as_ref(),
                "--add".as_ref(),
                "a(b".as_ref(),
            ],
        ),
        (
            "UID beyond 32 bits",
            vec!["expunge".as_ref(), "joe".as_ref(), "4294967296".as_ref()],
        ),
    ];
    let before = s.snapshot();
    let mut messages = Vec::new();
    for (what, args) in cases {
        let out = support::run_with_timeout(s.cmd().args(&args), LIMIT);
        assert_eq!(out.code, 2, "{what}: exit {} {}", out.code, out.stderr);
        assert!(
            out.stderr.starts_with("msgstore: ") || out.stderr.starts_with("error:"),
            "{what}: {}",
            out.stderr
        );
        assert!(!out.stderr.contains("panicked"), "{what}: {}", out.stderr);
        messages.push(format!(
            "{what}: {}",
            out.stderr.lines().next().unwrap_or("")
        ));
    }
    for m in &messages {
        eprintln!("limit: {m}");
    }
    let after = s.snapshot();
    let changed: Vec<_> = after
        .iter()
        .filter(|(p, v)| before.get(*p).map(|b| &b.0) != Some(&v.0))
        .map(|(p, _)| p.clone())
        .chain(before.keys().filter(|p| !after.contains_key(*p)).cloned())
        .filter(|p| !p.ends_with("msgstore.lock"))
        .collect();
    assert!(changed.is_empty(), "refused commands changed {changed:?}");
}

/// Names that are valid but look like the store's own files or message files are
/// encoded so they can never collide.
#[test]
fn lookalike_names_never_collide() {
    let s = Store::new();
    s.run(&["user", "add", "joe"]).ok();
    for n in [
        "joe/5.",
        "joe/7.BAD",
        "joe/msgstore.index",
        "joe/msgstore.tmp.1.2",
        "joe/%2E",
        "joe/ .",
        "joe/Über",
    ] {
        s.run(&["mailbox", "create", n]).ok();
        s.deliver(n, &util::sample(1));
    }
    s.deliver("joe", &util::sample(2));
    let r = s.json(&["reconstruct", "-r", "joe"]);
    for m in r["mailboxes"].as_array().unwrap() {
        assert_eq!(m["messages"], 1, "{m}");
        assert!(m["unknown_files"].as_array().unwrap().is_empty(), "{m}");
    }
}

fn outside_dir() -> tempfile::TempDir {
    let t = tempfile::tempdir().unwrap();
    std::fs::write(
        t.path().join("secret."),
        b"Subject: outside\r\n\r\nnot mail of the store\r\n",
    )
    .unwrap();
    std::fs::write(t.path().join("1."), b"Subject: outside 1\r\n\r\nx\r\n").unwrap();
    t
}

fn tree(p: &Path) -> Vec<(String, Vec<u8>)> {
    let mut v: Vec<_> = std::fs::read_dir(p)
        .unwrap()
        .flatten()
        .map(|e| {
            (
                e.file_name().to_string_lossy().into_owned(),
                std::fs::read(e.path()).unwrap_or_default(),
            )
        })
        .collect();
    v.sort();
    v
}

/// A symlinked message file pointing outside the store is reported and left
/// alone: never read, never renamed, never added.
#[test]
fn symlinked_message_file_is_not_followed() {
    let s = Store::new();
    s.run(&["user", "add", "joe"]).ok();
    s.deliver("joe", &util::sample(1));
    let out = outside_dir();
    let before = tree(out.path());
    std::os::unix::fs::symlink(out.path().join("secret."), s.dir("users/joe/7.")).unwrap();
    let r = s.json(&["reconstruct", "-r"]);
    let m = &r["mailboxes"][0];
    assert_eq!(m["messages"], 1, "{r}");
    assert_eq!(m["unknown_files"], serde_json::json!(["7."]), "{r}");
    assert!(
        std::fs::symlink_metadata(s.dir("users/joe/7."))
            .unwrap()
            .file_type()
            .is_symlink()
    );
    assert_eq!(tree(out.path()), before, "the outside directory changed");
    assert_eq!(s.contents("joe").len(), 1);
}

/// A symlinked folder directory pointing outside the store is never treated as a
/// mailbox: not by reconstruct -r, reconstruct -m, nor by any command naming it.
#[test]
fn symlinked_folder_directory_is_not_followed() {
    let s = Store::new();
    s.run(&["user", "add", "joe"]).ok();
    let out = outside_dir();
    let before = tree(out.path());
    std::os::unix::fs::symlink(out.path(), s.dir("users/joe/evil")).unwrap();
    std::os::unix::fs::symlink(out.path(), s.dir("public/evil")).unwrap();
    let r = s.json(&["reconstruct", "-r"]);
    let names = util::field_of(&r["mailboxes"], "mailbox");
    assert_eq!(names, vec!["Other Users/joe"], "{r}");
    let r = s.json(&["reconstruct", "-m"]);
    assert!(r["added"].as_array().unwrap().is_empty(), "{r}");
    let mut messages = Vec::new();
    for args in [
        &["reconstruct", "joe/evil"][..],
        &["reconstruct", "-r", "Public Folders/evil"],
        &["deliver", "joe/evil", "/dev/null"],
        &["dump", "joe/evil"],
        &["flags", "joe/evil", "1", "--add", "\\Seen"],
        &["expunge", "joe/evil", "1"],
        &["mailbox", "create", "joe/evil"],
        &["mailbox", "create", "joe/evil/sub"],
        &["mailbox", "delete", "joe/evil"],
        &["mailbox", "rename", "joe/evil", "joe/other"],
    ] {
        let o = s.run(args);
        assert_ne!(o.code, 0, "{args:?} followed the link: {}", o.stdout);
        messages.push(format!(
            "{args:?}: {}",
            o.stderr.lines().next().unwrap_or("")
        ));
    }
    for m in &messages {
        eprintln!("symlink: {m}");
    }
    assert_eq!(tree(out.path()), before, "the outside directory changed");
    assert!(
        std::fs::symlink_metadata(s.dir("users/joe/evil")).is_ok(),
        "the link was removed"
    );
}
