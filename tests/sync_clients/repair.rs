//! The no-re-download proof. mbsync and getmail6 synchronise joe's mailboxes; then,
//! each in its own trial, the store is damaged the way disks, crashes and restores
//! damage it; a delivery is tried before the repair; `msgstore reconstruct` repairs;
//! the clients synchronise again. They must download no body they already had,
//! UIDVALIDITY stays, HIGHESTMODSEQ never goes down, no UID names other content,
//! and no UID a client saw is given out again. The table of what happened is printed.

use crate::clients::{self, View, deliver, local, view};
use crate::getmail::Getmail;
use crate::harness::{Server, Store, skip};
use crate::mbsync::{Mbsync, Transport, fill};
use std::collections::BTreeMap;
use std::path::Path;

const MAILBOXES: &[&str] = &["joe", "joe/work", "joe/Archive", "joe/Archive/2023"];

#[derive(Clone, Copy, PartialEq)]
enum Damage {
    IndexDeleted,
    IndexTruncated,
    IndexBitFlipped,
    InterruptedDelivery,
    InterruptedExpunge,
    OlderTreeRestored,
    ListDeleted,
}

impl Damage {
    fn name(self) -> &'static str {
        match self {
            Damage::IndexDeleted => "(a) index deleted",
            Damage::IndexTruncated => "(b) index truncated",
            Damage::IndexBitFlipped => "(c) index bit-flipped",
            Damage::InterruptedDelivery => "(d) interrupted delivery",
            Damage::InterruptedExpunge => "(e) interrupted expunge",
            Damage::OlderTreeRestored => "(f) older tree restored",
            Damage::ListDeleted => "(g) mailboxes.redb deleted",
        }
    }

    /// Whether every record the clients knew survives, so their flags must too.
    fn records_survive(self) -> bool {
        matches!(
            self,
            Damage::InterruptedDelivery | Damage::InterruptedExpunge | Damage::ListDeleted
        )
    }
}

/// One trial's figures.
struct Row {
    damage: &'static str,
    mbsync_refetched: usize,
    getmail_refetched: usize,
    uidvalidity_kept: bool,
    modseq_kept: bool,
    flags_kept: (usize, usize),
    early_delivery: String,
}

fn copy_tree(from: &Path, to: &Path) {
    std::fs::create_dir_all(to).unwrap();
    for e in std::fs::read_dir(from).unwrap().flatten() {
        let t = to.join(e.file_name());
        if e.file_type().unwrap().is_dir() {
            copy_tree(&e.path(), &t);
        } else if e.file_name() != "msgstore.lock" {
            std::fs::copy(e.path(), &t).unwrap();
        }
    }
}

/// Runs msgstore with a fault point armed: its exit status.
fn with_fault(s: &Store, args: &[&str], fault: &str, input: &[u8]) -> i32 {
    use std::io::Write;
    let mut child = s
        .cmd()
        .env("MSGSTORE_FAULT", fault)
        .args(args)
        .stdin(std::process::Stdio::piped())
        .stdout(std::process::Stdio::null())
        .stderr(std::process::Stdio::null())
        .spawn()
        .unwrap();
    child.stdin.take().unwrap().write_all(input).unwrap();
    child.wait().unwrap().code().unwrap_or(-1)
}

fn views(s: &Store) -> BTreeMap<&'static str, View> {
    MAILBOXES.iter().map(|m| (*m, view(s, m))).collect()
}

fn index(s: &Store) -> std::path::PathBuf {
    s.root.join("users/joe/msgstore.index")
}

fn trial(d: Damage) -> Row {
    let s = clients::store();
    fill(&s);
    let server = Server::start(&s, &[]);
    let mb = Mbsync::new(&s, "mbsync", Transport::Tunnel);
    let gm = Getmail::new(&s, "getmail", server.port);
    mb.sync();
    gm.run();

    // The older copy is taken after the first sync; then mail comes and goes, a
    // flag changes, and the clients see all of it.
    let backup = s.path("backup");
    if d == Damage::OlderTreeRestored {
        copy_tree(&s.root.join("users/joe"), &backup);
        deliver(&s, "joe", "in5");
        deliver(&s, "joe", "in6");
        s.ok(&["expunge", "joe", "1"]);
        s.ok(&["flags", "joe", "3", "--add", "\\Seen"]);
    }
    mb.sync();
    gm.run();
    let before = views(&s);
    let mb_before = local(&mb.local);
    let gm_before = local(&gm.maildir);
    let max_seen: BTreeMap<&str, u32> = before
        .iter()
        .map(|(m, v)| (*m, v.messages.keys().copied().max().unwrap_or(0)))
        .collect();

    match d {
        Damage::IndexDeleted => std::fs::remove_file(index(&s)).unwrap(),
        Damage::IndexTruncated => {
            let f = std::fs::OpenOptions::new()
                .write(true)
                .open(index(&s))
                .unwrap();
            let len = f.metadata().unwrap().len();
            f.set_len(len / 2).unwrap();
        }
        Damage::IndexBitFlipped => {
            let mut b = std::fs::read(index(&s)).unwrap();
            let at = b.len() / 2;
            b[at] ^= 0x10;
            std::fs::write(index(&s), b).unwrap();
        }
        Damage::InterruptedDelivery => {
            let code = with_fault(
                &s,
                &["deliver", "joe"],
                "deliver-before-commit",
                &clients::message("crashed"),
            );
            assert_ne!(code, 0, "the fault point aborts");
        }
        Damage::InterruptedExpunge => {
            let code = with_fault(&s, &["expunge", "joe", "2"], "expunge-after-unlink", b"");
            assert_ne!(code, 0, "the fault point aborts");
        }
        Damage::OlderTreeRestored => {
            std::fs::remove_dir_all(s.root.join("users/joe")).unwrap();
            copy_tree(&backup, &s.root.join("users/joe"));
        }
        Damage::ListDeleted => std::fs::remove_file(s.root.join("mailboxes.redb")).unwrap(),
    }

    // A delivery before anyone repairs: refused, or under a UID no client saw.
    let r = s.run(&["deliver", "joe"], &clients::message("early"));
    let early_delivery = if r.code == 0 {
        let uid: u32 = r.stdout.trim().parse().unwrap();
        assert!(
            uid > max_seen["joe"],
            "{}: a delivery before the repair got UID {uid}, which clients saw (up to {})",
            d.name(),
            max_seen["joe"]
        );
        format!("UID {uid} (>{})", max_seen["joe"])
    } else {
        let why = r.stderr.lines().next().unwrap_or("").to_owned();
        assert!(
            why.contains("reconstruct"),
            "{}: a refused delivery says what to do: {why}",
            d.name()
        );
        "refused".into()
    };

    if d == Damage::ListDeleted {
        s.ok(&["reconstruct", "-m"]);
    }
    let r = s.run(&["reconstruct", "--wait", "-r", "joe"], b"");
    assert_eq!(
        r.code,
        0,
        "{}: reconstruct: {}{}",
        d.name(),
        r.stdout,
        r.stderr
    );
    if d == Damage::OlderTreeRestored {
        // The restore took in3's \Seen back (it was set after the copy): a
        // CONDSTORE client that saw HIGHESTMODSEQ before must learn of it.
        let mut c = s.cmd();
        c.args(["serve", "--stdio", "--user", "joe"]);
        let mut p = crate::harness::Pipe::start(c);
        p.cmd("SELECT INBOX (CONDSTORE)");
        let since = before["joe"].highestmodseq;
        let r = p.cmd(&format!("UID FETCH 1:* (FLAGS) (CHANGEDSINCE {since})"));
        let text: String = r.iter().map(|l| String::from_utf8_lossy(l)).collect();
        assert!(
            text.contains("UID 3 "),
            "{}: in3's flags changed by the restore, yet not reported since MODSEQ {since}: {text}",
            d.name()
        );
    }
    let late = deliver(&s, "joe", "late");
    assert!(
        late > max_seen["joe"],
        "{}: UID {late} given again",
        d.name()
    );

    assert!(
        view(&s, "joe").uidnext > u64::from(max_seen["joe"]),
        "{}: UIDNEXT at or below a UID clients saw",
        d.name()
    );
    let mb_sync = mb.sync();
    let (_, gm_out) = gm.run();
    let after = views(&s);

    let mut uidvalidity_kept = true;
    let mut modseq_kept = true;
    let mut flags_kept = (0, 0);
    for m in MAILBOXES {
        let (b, a) = (&before[m], &after[m]);
        uidvalidity_kept &= b.uidvalidity == a.uidvalidity;
        modseq_kept &= a.highestmodseq >= b.highestmodseq;
        for (uid, (id, flags)) in &b.messages {
            if let Some((id2, flags2)) = a.messages.get(uid) {
                assert_eq!(id, id2, "{}: {m} UID {uid} names other content", d.name());
                flags_kept.1 += 1;
                if flags == flags2 {
                    flags_kept.0 += 1;
                } else if d.records_survive() {
                    panic!(
                        "{}: {m} UID {uid} flags {flags:?} became {flags2:?}",
                        d.name()
                    );
                }
            }
        }
    }
    let mb_refetched = clients::refetched(&mb_before, &local(&mb.local));
    let gm_refetched = clients::refetched(&gm_before, &local(&gm.maildir));
    // The clients' next run has nothing to do.
    let again = mb.sync();
    assert!(again.fetched.is_empty(), "{}: {}", d.name(), again.out);
    let (n, out) = gm.run();
    assert_eq!(n, 0, "{}: {out}", d.name());
    drop(server);
    if !(mb_refetched.is_empty() && gm_refetched.is_empty()) {
        eprintln!(
            "{}: mbsync fetched again {mb_refetched:?}\n{}\ngetmail fetched again {gm_refetched:?}\n{gm_out}",
            d.name(),
            mb_sync.out
        );
    }
    Row {
        damage: d.name(),
        mbsync_refetched: mb_refetched.len(),
        getmail_refetched: gm_refetched.len(),
        uidvalidity_kept,
        modseq_kept,
        flags_kept,
        early_delivery,
    }
}

#[test]
fn clients_download_nothing_again_after_a_repair() {
    if !clients::installed("mbsync") {
        return skip("mbsync (isync) is not installed");
    }
    if !clients::installed("getmail") {
        return skip("getmail (getmail6) is not installed");
    }
    let all = [
        Damage::IndexDeleted,
        Damage::IndexTruncated,
        Damage::IndexBitFlipped,
        Damage::InterruptedDelivery,
        Damage::InterruptedExpunge,
        Damage::OlderTreeRestored,
        Damage::ListDeleted,
    ];
    // Two at a time: the machine has two cores.
    let mut rows = Vec::new();
    for pair in all.chunks(2) {
        let hs: Vec<_> = pair
            .iter()
            .map(|d| {
                let d = *d;
                std::thread::Builder::new()
                    .name(d.name().into())
                    .spawn(move || trial(d))
                    .unwrap()
            })
            .collect();
        for h in hs {
            rows.push(
                h.join()
                    .unwrap_or_else(|_| panic!("a trial failed (above)")),
            );
        }
    }
    let mut table = String::from(
        "\ndamage                      | mbsync re-downloaded | getmail re-downloaded | UIDVALIDITY kept | HIGHESTMODSEQ kept | flags kept | delivery before repair\n",
    );
    for r in &rows {
        table.push_str(&format!(
            "{:<27} | {:>20} | {:>21} | {:>16} | {:>18} | {:>10} | {}\n",
            r.damage,
            r.mbsync_refetched,
            r.getmail_refetched,
            if r.uidvalidity_kept { "yes" } else { "NO" },
            if r.modseq_kept { "yes" } else { "NO" },
            format!("{}/{}", r.flags_kept.0, r.flags_kept.1),
            r.early_delivery
        ));
    }
    println!("{table}");
    eprintln!("{table}");
    for r in &rows {
        assert_eq!(
            r.mbsync_refetched, 0,
            "{}: mbsync downloaded again",
            r.damage
        );
        assert_eq!(
            r.getmail_refetched, 0,
            "{}: getmail downloaded again",
            r.damage
        );
        assert!(r.uidvalidity_kept, "{}: UIDVALIDITY changed", r.damage);
        assert!(r.modseq_kept, "{}: HIGHESTMODSEQ went down", r.damage);
    }
}

/// An imaplib session selected and in IDLE while INBOX's index is deleted and
/// rebuilt under it, then a delivery (`idle_repair.py` beside this file).
#[test]
fn idle_session_through_a_rebuild() {
    let Some(py) = crate::harness::python_with("imaplib") else {
        return skip("python3 is not installed");
    };
    let s = clients::store();
    fill(&s);
    let mut c = std::process::Command::new(py);
    c.arg(Path::new(env!("CARGO_MANIFEST_DIR")).join("tests/sync_clients/idle_repair.py"))
        .arg(crate::harness::BIN)
        .arg(&s.root);
    let (code, out, err) = crate::harness::run_bounded(&mut c, std::time::Duration::from_secs(90));
    println!("{out}");
    assert!(
        code == 0 && out.contains("RESULT ok"),
        "the IDLE session (exit {code}):\n{out}\n{err}"
    );
}
