//! Python's imaplib through every command of RFC 3501 and every extension the
//! server advertises (`imaplib_session.py` beside this file), over TCP with
//! STARTTLS and over `--stdio`: the answers are checked, not only their OK.

use crate::harness::{Server, Store, here, python_with, run_bounded, skip, test_certificate};
use std::time::Duration;

const PASSWORD: &str = "correct horse battery staple";

/// joe (empty INBOX, the one the script works in) and ann (INBOX and Private,
/// one message each: the mailboxes joe must not see).
fn store() -> Store {
    let s = Store::new();
    s.ok(&["mailbox", "create", "ann/Private"]);
    for (mb, subject) in [("ann", "ann's own"), ("ann/Private", "ann's private")] {
        let m = format!("From: ann@example.org\r\nSubject: {subject}\r\n\r\nsecret\r\n");
        let r = s.run(&["deliver", mb], m.as_bytes());
        assert_eq!(r.code, 0, "{}", r.stderr);
    }
    s
}

/// Runs the script with `args` after its fixed ones; fails with its report.
fn script(s: &Store, args: &[&str]) {
    let Some(py) = python_with("imaplib") else {
        return skip("python3 is not installed");
    };
    let mut c = std::process::Command::new(py);
    c.arg(here().join("imaplib_session.py"))
        .arg("--msgstore")
        .arg(crate::harness::BIN)
        .arg("--store")
        .arg(&s.root)
        .args(args);
    let (code, out, err) = run_bounded(&mut c, Duration::from_secs(180));
    println!("{out}");
    assert!(
        code == 0 && out.contains("RESULT passed=") && out.contains(" failed=0"),
        "imaplib session failed (exit {code}):\n{out}\n{err}"
    );
}

#[test]
fn imaplib_every_command_over_tcp_with_starttls() {
    let s = store();
    s.set_password("joe", PASSWORD);
    let (cert, key) = test_certificate(&s.path(""));
    let srv = Server::start(
        &s,
        &[
            "--tls-cert",
            cert.to_str().unwrap(),
            "--tls-key",
            key.to_str().unwrap(),
        ],
    );
    let port = srv.port.to_string();
    script(&s, &["tcp", &port, PASSWORD, cert.to_str().unwrap()]);
    assert!(srv.log().contains("joe: login"), "{}", srv.log());
}

#[test]
fn imaplib_every_command_over_stdio() {
    let s = store();
    script(&s, &["stdio"]);
}
