//! The live test suite that ships inside the `imapclient` Python package
//! (`imapclient.livetest`, 59 tests), run against `msgstore serve` on a
//! loopback port as joe with a password. Every test must pass but those in
//! [`EXPECTED_FAILURES`] and [`EXPECTED_SKIPS`], each with the reason; a listed
//! failure that passes fails this test too (unless it is a timing test that
//! loopback may or may not win), so the lists stay true.

use crate::harness::{Server, Store, python_with, run_bounded, skip};
use std::collections::BTreeMap;
use std::time::Duration;

const PASSWORD: &str = "livetest password";

/// Tests that cannot pass here, and why (`Class.test`, may it pass, reason).
const EXPECTED_FAILURES: &[(&str, bool, &str)] = &[
    (
        "TestWithUIDs.test_fetch",
        false,
        "imapclient 4.1's own bug: Envelope became a dataclass and the test still \
         compares it with assertSequenceEqual (it fails against Dovecot the same way)",
    ),
    (
        "TestWithoutUIDs.test_fetch",
        false,
        "the same Envelope bug; and it expects no UID in the reply to a FETCH of \
         RFC822 that sets \\Seen with CONDSTORE on, where RFC 7162 3.1 asks for UID \
         and MODSEQ in every untagged FETCH of such a change",
    ),
    (
        "TestWithoutUIDs.test_move",
        false,
        "imapclient 4.1's own bug: without UIDs it calls imaplib.IMAP4.move, which \
         does not exist (fails against Dovecot the same way); TestWithUIDs.test_move \
         passes",
    ),
    (
        "TestSocketTimeout.test_small_read_timeout_fail",
        true,
        "expects a 10 µs read timeout to expire, but NOOP is answered faster on \
         loopback",
    ),
    (
        "TestSocketTimeout.test_small_connection_timeout_fail",
        true,
        "expects a 1 ms connect timeout to expire, which a loopback connection \
         usually beats",
    ),
];

/// Tests skipped for capabilities msgstore does not advertise (DESIGN.md lists
/// what it offers), and why.
const EXPECTED_SKIPS: &[(&str, &str)] = &[
    (
        "TestGeneral.test_xlist",
        "XLIST is Gmail's, replaced by SPECIAL-USE",
    ),
    (
        "TestWithUIDs.test_getacl",
        "no ACL (RFC 4314): users see only their own",
    ),
    (
        "TestWithoutUIDs.test_getacl",
        "no ACL (RFC 4314): users see only their own",
    ),
    ("TestWithUIDs.test_gmail_labels", "X-GM-EXT-1 is Gmail's"),
    ("TestWithoutUIDs.test_gmail_labels", "X-GM-EXT-1 is Gmail's"),
    ("TestWithUIDs.test_gmail_search", "X-GM-EXT-1 is Gmail's"),
    ("TestWithoutUIDs.test_gmail_search", "X-GM-EXT-1 is Gmail's"),
    ("TestWithUIDs.test_sort", "no SORT (RFC 5256)"),
    ("TestWithoutUIDs.test_sort", "no SORT (RFC 5256)"),
    ("TestWithUIDs.test_sort_with_unicode", "no SORT (RFC 5256)"),
    (
        "TestWithoutUIDs.test_sort_with_unicode",
        "no SORT (RFC 5256)",
    ),
    ("TestWithUIDs.test_thread", "no THREAD (RFC 5256)"),
    ("TestWithoutUIDs.test_thread", "no THREAD (RFC 5256)"),
    (
        "TestWithUIDs.test_thread_with_unicode",
        "no THREAD (RFC 5256)",
    ),
    (
        "TestWithoutUIDs.test_thread_with_unicode",
        "no THREAD (RFC 5256)",
    ),
    (
        "TestWithoutUIDs.test_uid_expunge",
        "the suite runs it in its UID class only",
    ),
];

/// Runs the suite with the two UID classes named apart (both are
/// `createUidTestClass.<locals>.LiveTest` in unittest's report otherwise).
const LAUNCHER: &str = r#"
import sys
import imapclient.livetest as lt
made = lt.createUidTestClass
def named(conf, use_uid):
    k = made(conf, use_uid)
    k.__qualname__ = "TestWithUIDs" if use_uid else "TestWithoutUIDs"
    return k
lt.createUidTestClass = named
sys.argv[0] = "imapclient.livetest"
lt.main()
"#;

/// unittest's `-v` lines, `test_x (livetests.Class.test_x) ... ok` (the
/// description of a test with a docstring comes on the next line): `Class.test_x`
/// to `ok`, `FAIL`, `ERROR` or `skipped '...'`.
fn outcomes(report: &str) -> BTreeMap<String, String> {
    let mut out = BTreeMap::new();
    let mut pending: Option<String> = None;
    for line in report.lines() {
        let (head, result) = match line.split_once(" ... ") {
            Some((h, r)) => (h, Some(r)),
            None => (line, None),
        };
        if let Some(id) = head
            .strip_prefix("test_")
            .and_then(|_| head.split_once(" ("))
            .and_then(|(_, rest)| rest.strip_suffix(')'))
        {
            let parts: Vec<&str> = id.rsplit('.').take(2).collect();
            if let [test, class] = parts.as_slice() {
                pending = Some(format!("{class}.{test}"));
            }
        }
        if let (Some(r), Some(id)) = (result, pending.as_ref()) {
            out.insert(id.clone(), r.trim().to_owned());
            pending = None;
        }
    }
    out
}

#[test]
fn imapclient_livetest() {
    let Some(py) = python_with("imapclient.livetest") else {
        return skip("the imapclient package is not installed (pip install imapclient)");
    };
    let s = Store::new();
    s.set_password("joe", PASSWORD);
    let srv = Server::start(&s, &[]);
    let ini = s.path("livetest.ini");
    std::fs::write(
        &ini,
        format!(
            "[DEFAULT]\nhost = 127.0.0.1\nport = {}\nssl = false\nstarttls = false\nusername = joe\npassword = {PASSWORD}\n",
            srv.port
        ),
    )
    .unwrap();
    let mut c = std::process::Command::new(py);
    c.args(["-c", LAUNCHER]).arg(&ini).arg("-v");
    let (code, out, err) = run_bounded(&mut c, Duration::from_secs(300));
    println!("{err}");
    let got = outcomes(&err);
    assert!(
        got.len() >= 59,
        "{} tests reported (exit {code}):\n{out}\n{err}",
        got.len()
    );
    let mut wrong = Vec::new();
    for (test, result) in &got {
        let failed = result == "FAIL" || result == "ERROR";
        let skipped = result.starts_with("skipped");
        match EXPECTED_FAILURES.iter().find(|(t, _, _)| t == test) {
            Some((_, may_pass, why)) => {
                if !failed && !may_pass {
                    wrong.push(format!(
                        "{test} now passes ({result}): drop it from the list ({why})"
                    ));
                }
                continue;
            }
            None if failed => wrong.push(format!("{test}: {result}")),
            None => {}
        }
        let skip_listed = EXPECTED_SKIPS.iter().any(|(t, _)| t == test);
        if skipped != skip_listed {
            wrong.push(format!("{test}: {result} (skip listed: {skip_listed})"));
        }
    }
    for (t, _, _) in EXPECTED_FAILURES {
        if !got.contains_key(*t) {
            wrong.push(format!("{t} did not run"));
        }
    }
    assert!(
        wrong.is_empty(),
        "imapclient livetest against msgstore:\n{}\n\nfull report:\n{err}",
        wrong.join("\n")
    );
    for (t, _, why) in EXPECTED_FAILURES {
        println!("expected failure {t}: {why} ({})", got[*t]);
    }
}
