//! interimap between two msgstore stores, each over `serve --stdio` (interimap's
//! `type = tunnel`): it needs QRESYNC, LIST-EXTENDED, LIST-STATUS and UIDPLUS, and
//! aborts on UIDs or MODSEQs that are not stable. Both directions, and a rerun that
//! has nothing to do.

use crate::clients::{self, deliver, view};
use crate::harness::{BIN, Store, run_bounded, skip};
use std::collections::BTreeSet;
use std::time::Duration;

const MAILBOXES: &[&str] = &["joe", "joe/work", "joe/Archive", "joe/Archive/2023"];

/// One mailbox's messages as (Message-ID, flags).
type Messages = BTreeSet<(String, Vec<String>)>;

/// Every mailbox's messages, or None where it does not exist.
fn content(s: &Store) -> Vec<Option<Messages>> {
    MAILBOXES
        .iter()
        .map(|m| {
            let r = s.run(&["--json", "dump", m], b"");
            (r.code == 0).then(|| view(s, m).messages.into_values().collect())
        })
        .collect()
}

fn run(conf: &std::path::Path, data: &std::path::Path) -> String {
    let mut c = std::process::Command::new("interimap");
    c.arg(format!("--config={}", conf.display()))
        .env("XDG_DATA_HOME", data)
        .env("XDG_CONFIG_HOME", data);
    let (code, out, err) = run_bounded(&mut c, Duration::from_secs(60));
    let all = format!("{out}{err}");
    assert_eq!(code, 0, "interimap failed:\n{all}");
    all
}

fn uid_of(s: &Store, mailbox: &str, id: &str) -> String {
    view(s, mailbox)
        .messages
        .iter()
        .find(|(_, (i, _))| i == id)
        .map(|(u, _)| u.to_string())
        .unwrap_or_else(|| panic!("{id} not in {mailbox}"))
}

#[test]
fn interimap_between_two_stores() {
    if !clients::installed("interimap") {
        return skip("interimap is not installed");
    }
    let a = clients::store();
    crate::mbsync::fill(&a);
    let b = Store::new();
    deliver(&b, "joe", "b1");
    let data = a.path("interimap");
    std::fs::create_dir_all(&data).unwrap();
    let conf = data.join("config");
    std::fs::write(
        &conf,
        format!(
            "database = {db}\n\n[local]\ntype = tunnel\ncommand = {BIN} --store {a} serve --stdio --user joe\n\n[remote]\ntype = tunnel\ncommand = {BIN} --store {b} serve --stdio --user joe\n",
            db = data.join("interimap.db").display(),
            a = a.root.display(),
            b = b.root.display()
        ),
    )
    .unwrap();

    // First run: each side gets what the other has, mailboxes included.
    let out = run(&conf, &data);
    let ca = content(&a);
    assert_eq!(ca, content(&b), "after the first run:\n{out}");
    assert_eq!(ca[0].as_ref().map(|m| m.len()), Some(4), "{out}");

    // Changes on both sides, then a run.
    let u = uid_of(&b, "joe", "in1");
    b.ok(&["flags", "joe", &u, "--add", "\\Flagged", "--add", "$Later"]);
    deliver(&b, "joe/work", "bw1");
    let u = uid_of(&a, "joe", "in3");
    a.ok(&["expunge", "joe", &u]);
    a.ok(&["flags", "joe/work", "2", "--remove", "\\Answered"]);
    deliver(&a, "joe/Archive", "aa1");
    let out = run(&conf, &data);
    let ca = content(&a);
    assert_eq!(ca, content(&b), "after the changes:\n{out}");
    let inbox = ca[0].as_ref().unwrap();
    assert!(inbox.iter().all(|(id, _)| id != "in3"), "{inbox:?}");
    assert!(inbox.contains(&(
        "in1".into(),
        vec!["$Later".into(), "\\Flagged".into(), "\\Seen".into()]
    )));
    assert_eq!(ca[1].as_ref().unwrap().len(), 3);
    assert_eq!(ca[2].as_ref().unwrap().len(), 1);

    // A rerun has nothing to do.
    let out = run(&conf, &data);
    for word in ["Added", "Removed", "Updated", "Created", "WARNING", "ERROR"] {
        assert!(!out.contains(word), "rerun did something ({word}):\n{out}");
    }
    assert_eq!(content(&a), content(&b));
}
