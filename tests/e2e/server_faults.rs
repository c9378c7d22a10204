//! The server killed at random instants (SIGKILL) while a session APPENDs,
//! STOREs, EXPUNGEs, COPYs and MOVEs, then `reconstruct -r`, then the model
//! check: no acknowledged message lost, no expunged message back, no UID reused
//! or UIDVALIDITY changed, a MOVE leaves the message in the source, the target
//! or both (never neither), an acknowledged flag change stays. Seeded and
//! bounded: `MSGSTORE_FAULT_TRIALS` trials (default 200) and at most 150 seconds.
//!
//! Then the same for LMTP: killed during pipelined DATA to three recipients
//! (`MSGSTORE_FAULT_TRIALS_LMTP`, default 40, at most 40 s) and with sessions
//! in IDLE while another client delivers (`MSGSTORE_FAULT_TRIALS_IDLE`, default
//! 12, at most 40 s): every `250` is there exactly once, nothing half-delivered,
//! no UID names other content. And a full disk (a small tmpfs filled to the
//! page, or `MSGSTORE_FAULT=enospc-*` where nothing can be mounted) and a
//! read-only bind mount, or an ext4 that turns read-only under the running
//! server (loop-mounted, `errors=remount-ro`), during APPEND and LMTP: `NO` / `452 4.3.1` /
//! `451 4.3.0`, nothing half-written, delivery works again on the same server,
//! `reconstruct` finds nothing to repair.

use crate::util::{BIN, Store};
use std::collections::{BTreeMap, BTreeSet};
use std::io::{BufRead, BufReader, Write};
use std::process::{Command, Stdio};
use std::sync::mpsc;
use std::time::{Duration, Instant};

struct Rng(u64);

impl Rng {
    fn next(&mut self) -> u64 {
        // splitmix64
        self.0 = self.0.wrapping_add(0x9e37_79b9_7f4a_7c15);
        let mut z = self.0;
        z = (z ^ (z >> 30)).wrapping_mul(0xbf58_476d_1ce4_e5b9);
        z = (z ^ (z >> 27)).wrapping_mul(0x94d0_49bb_1331_11eb);
        z ^ (z >> 31)
    }

    fn below(&mut self, n: u64) -> u64 {
        self.next() % n.max(1)
    }
}

/// guid -> (uid, flags), by mailbox.
type Contents = BTreeMap<String, (u32, Vec<String>)>;

fn contents(s: &Store, mailbox: &str) -> (u32, Contents) {
    let d = s.dump(mailbox);
    (
        d["uidvalidity"].as_u64().unwrap() as u32,
        s.contents(mailbox),
    )
}

fn message(trial: usize, n: usize) -> Vec<u8> {
    format!(
        "From: fault@example.org\r\nSubject: trial {trial} message {n}\r\nMessage-ID: <{trial}.{n}@faults>\r\n\r\n{}\r\n",
        "x".repeat(n * 97 % 3000)
    )
    .into_bytes()
}

/// What a trial's session was told.
#[derive(Default)]
struct Told {
    appended: Vec<String>,
    appending: Option<String>,
    expunged: Vec<String>,
    expunging: Option<String>,
    moved: Vec<String>,
    moving: Option<String>,
    copied: Vec<String>,
    flagged: Vec<String>,
}

#[test]
fn killed_server_loses_nothing_acknowledged() {
    let trials: usize = std::env::var("MSGSTORE_FAULT_TRIALS")
        .ok()
        .and_then(|v| v.parse().ok())
        .unwrap_or(200);
    let seed: u64 = std::env::var("MSGSTORE_FAULT_SEED")
        .ok()
        .and_then(|v| v.parse().ok())
        .unwrap_or(7);
    let mut rng = Rng(seed);
    let s = Store::new();
    s.run(&["user", "add", "joe"]).ok();
    s.run(&["mailbox", "create", "joe/stuff"]).ok();
    for n in 0..5 {
        s.deliver("joe", &message(0, n));
    }
    let (uv_inbox, _) = contents(&s, "joe");
    let (uv_stuff, _) = contents(&s, "joe/stuff");
    // Every (mailbox, UID) ever seen and its content: a UID never changes content.
    let mut seen: BTreeMap<(String, u32), String> = BTreeMap::new();
    let mut gone_for_good: BTreeSet<String> = BTreeSet::new();
    let started = Instant::now();
    let mut done = 0;
    let (mut acked, mut in_flight) = (0usize, 0usize);
    for trial in 1..=trials {
        if started.elapsed() > Duration::from_secs(150) {
            break;
        }
        let (_, inbox) = contents(&s, "joe");
        let (_, stuff) = contents(&s, "joe/stuff");
        let by_uid: BTreeMap<u32, String> =
            inbox.iter().map(|(g, (u, _))| (*u, g.clone())).collect();

        let mut child = Command::new(BIN)
            .arg("--store")
            .arg(&s.root)
            .args(["serve", "--stdio", "--user", "joe"])
            .env_remove("MSGSTORE_FAULT")
            .stdin(Stdio::piped())
            .stdout(Stdio::piped())
            .stderr(Stdio::null())
            .spawn()
            .unwrap();
        let mut stdin = child.stdin.take().unwrap();
        let stdout = child.stdout.take().unwrap();
        let (tx, rx) = mpsc::channel::<String>();
        let reader = std::thread::spawn(move || {
            for l in BufReader::new(stdout).lines() {
                let Ok(l) = l else { break };
                if tx.send(l).is_err() {
                    break;
                }
            }
        });
        let pid = child.id() as i32;
        let delay = Duration::from_millis(50 + rng.below(1200));
        let killer = std::thread::spawn(move || {
            std::thread::sleep(delay);
            unsafe { libc::kill(pid, libc::SIGKILL) };
        });

        let mut told = Told::default();
        let mut tag = 0;
        // Sends one command; `true` if it was acknowledged with OK.
        let mut run = |stdin: &mut std::process::ChildStdin, line: &[u8]| -> Option<bool> {
            tag += 1;
            let t = format!("c{tag}");
            let mut cmd = format!("{t} ").into_bytes();
            cmd.extend_from_slice(line);
            if stdin.write_all(&cmd).is_err() {
                return None;
            }
            loop {
                match rx.recv_timeout(Duration::from_secs(20)) {
                    Ok(l) if l.starts_with(&format!("{t} ")) => {
                        return Some(l.starts_with(&format!("{t} OK")));
                    }
                    Ok(_) => {}
                    Err(_) => return None,
                }
            }
        };
        let mut alive = run(&mut stdin, b"SELECT INBOX\r\n").is_some();
        // The INBOX messages a command may still name: one expunged or moved
        // away is not picked again, so every command means what the model says.
        let mut uids: Vec<u32> = by_uid.keys().copied().collect();
        let mut n = 0;
        while alive {
            n += 1;
            let op = rng.below(5);
            let picked = uids.get(rng.below(uids.len() as u64) as usize).copied();
            if matches!(op, 2 | 4)
                && let Some(u) = picked
            {
                uids.retain(|&x| x != u);
            }
            let r = match (op, picked) {
                (0, _) | (_, None) => {
                    let m = message(trial, n);
                    let g = crate::util::guid(&m);
                    told.appending = Some(g.clone());
                    let mut line = format!("APPEND INBOX {{{}+}}\r\n", m.len()).into_bytes();
                    line.extend_from_slice(&m);
                    line.extend_from_slice(b"\r\n");
                    let r = run(&mut stdin, &line);
                    if r == Some(true) {
                        told.appended.push(g);
                        told.appending = None;
                    }
                    r
                }
                (1, Some(u)) => {
                    let r = run(
                        &mut stdin,
                        format!("UID STORE {u} +FLAGS (\\Flagged)\r\n").as_bytes(),
                    );
                    if r == Some(true) {
                        told.flagged.push(by_uid[&u].clone());
                    }
                    r
                }
                (2, Some(u)) => {
                    told.expunging = Some(by_uid[&u].clone());
                    let r = run(
                        &mut stdin,
                        format!("UID STORE {u} +FLAGS (\\Deleted)\r\n").as_bytes(),
                    )
                    .and_then(|_| run(&mut stdin, format!("UID EXPUNGE {u}\r\n").as_bytes()));
                    if r == Some(true) {
                        told.expunged.push(by_uid[&u].clone());
                        told.expunging = None;
                    }
                    r
                }
                (3, Some(u)) => {
                    let r = run(&mut stdin, format!("UID COPY {u} stuff\r\n").as_bytes());
                    if r == Some(true) {
                        told.copied.push(by_uid[&u].clone());
                    }
                    r
                }
                (_, Some(u)) => {
                    told.moving = Some(by_uid[&u].clone());
                    let r = run(&mut stdin, format!("UID MOVE {u} stuff\r\n").as_bytes());
                    if r == Some(true) {
                        told.moved.push(by_uid[&u].clone());
                        told.moving = None;
                    }
                    r
                }
            };
            alive = r.is_some() && n < 40;
        }
        drop(stdin);
        let _ = killer.join();
        let _ = child.kill();
        let _ = child.wait();
        let _ = reader.join();

        let rep = s.run(&["reconstruct", "-r"]);
        assert!(
            rep.code == 0,
            "trial {trial}: reconstruct: {}{}",
            rep.stdout,
            rep.stderr
        );
        let (uv1, inbox_after) = contents(&s, "joe");
        let (uv2, stuff_after) = contents(&s, "joe/stuff");
        let ctx = format!("trial {trial} (seed {seed}, kill after {delay:?})");
        assert_eq!(
            (uv1, uv2),
            (uv_inbox, uv_stuff),
            "{ctx}: UIDVALIDITY changed"
        );

        for g in &told.appended {
            assert!(
                inbox_after.contains_key(g),
                "{ctx}: an acknowledged APPEND is lost"
            );
        }
        for g in told.expunged.iter().chain(&gone_for_good) {
            assert!(
                !inbox_after.contains_key(g),
                "{ctx}: an expunged message is back"
            );
        }
        for g in &told.moved {
            assert!(
                !inbox_after.contains_key(g),
                "{ctx}: a moved message is still in INBOX"
            );
            assert!(
                stuff_after.contains_key(g),
                "{ctx}: a moved message is not in stuff"
            );
        }
        if let Some(g) = &told.moving {
            assert!(
                inbox_after.contains_key(g) || stuff_after.contains_key(g),
                "{ctx}: a message being moved is in neither mailbox"
            );
        }
        for g in &told.copied {
            assert!(
                stuff_after.contains_key(g),
                "{ctx}: an acknowledged COPY is lost"
            );
        }
        for g in inbox.keys() {
            let touched = told.expunged.contains(g)
                || told.moved.contains(g)
                || told.expunging.as_ref() == Some(g)
                || told.moving.as_ref() == Some(g);
            assert!(
                touched || inbox_after.contains_key(g),
                "{ctx}: a message was lost"
            );
        }
        for g in stuff.keys() {
            assert!(
                stuff_after.contains_key(g),
                "{ctx}: a message in stuff was lost"
            );
        }
        for g in inbox_after.keys() {
            assert!(
                inbox.contains_key(g)
                    || told.appended.contains(g)
                    || told.appending.as_ref() == Some(g),
                "{ctx}: a message appeared from nowhere"
            );
        }
        // (Only in INBOX, where a content is never twice: `stuff` may hold two
        // copies of one message, made before and after the flag changed.)
        for g in &told.flagged {
            if let Some((_, flags)) = inbox_after.get(g) {
                assert!(
                    flags.iter().any(|f| f == "\\Flagged"),
                    "{ctx}: an acknowledged flag is lost"
                );
            }
        }
        for (mb, c) in [("joe", &inbox_after), ("joe/stuff", &stuff_after)] {
            for (g, (u, _)) in c.iter() {
                let prev = seen.insert((mb.to_owned(), *u), g.clone());
                assert!(
                    prev.is_none() || prev.as_ref() == Some(g),
                    "{ctx}: UID {u} of {mb} now names other content"
                );
            }
        }
        gone_for_good.extend(told.expunged.iter().cloned());
        acked += told.appended.len()
            + told.expunged.len()
            + told.moved.len()
            + told.copied.len()
            + told.flagged.len();
        in_flight += usize::from(
            told.appending.is_some() || told.expunging.is_some() || told.moving.is_some(),
        );
        done += 1;
    }
    eprintln!(
        "server faults: {done} trials in {:?}; {acked} acknowledged changes, {in_flight} trials killed with an APPEND, EXPUNGE or MOVE in flight",
        started.elapsed()
    );
    assert!(
        in_flight > 0,
        "no kill landed during a change: the test proves nothing"
    );
    assert!(
        done >= trials.min(10),
        "only {done} trials ran in the time allowed"
    );
}

// ---------------------------------------------------------------------------
// LMTP DATA and IDLE under SIGKILL; a full disk and a read-only store.

use crate::serve::{Client, Server, set_password};
use crate::util::skip;
use std::os::unix::net::UnixStream;
use std::path::{Path, PathBuf};

/// An LMTP client that never panics on a dead server: `None` once it is gone.
struct Lmtp {
    r: BufReader<UnixStream>,
    w: UnixStream,
}

impl Lmtp {
    /// Connects (retrying while the server starts, bounded) and says LHLO.
    fn connect(sock: &Path) -> Option<Lmtp> {
        let deadline = Instant::now() + Duration::from_secs(20);
        let u = loop {
            match UnixStream::connect(sock) {
                Ok(u) => break u,
                Err(_) if Instant::now() < deadline => {
                    std::thread::sleep(Duration::from_millis(20))
                }
                Err(_) => return None,
            }
        };
        u.set_read_timeout(Some(Duration::from_secs(20))).ok()?;
        let mut l = Lmtp {
            r: BufReader::new(u.try_clone().ok()?),
            w: u,
        };
        l.reply().filter(|g| g.starts_with("220 "))?;
        l.send(b"LHLO faults.test\r\n")?;
        l.reply().filter(|r| r.starts_with("250 "))?;
        Some(l)
    }

    fn send(&mut self, b: &[u8]) -> Option<()> {
        self.w.write_all(b).ok()
    }

    /// The last line of one (possibly multi-line) reply, without CRLF.
    fn reply(&mut self) -> Option<String> {
        loop {
            let mut l = String::new();
            match self.r.read_line(&mut l) {
                Ok(0) | Err(_) => return None,
                Ok(_) => {}
            }
            if l.len() < 4 || l.as_bytes()[3] == b' ' {
                return Some(l.trim_end().to_owned());
            }
        }
    }

    /// One whole transaction, unpipelined: the reply to each recipient after DATA.
    fn deliver(&mut self, from: &str, rcpts: &[String], msg: &[u8]) -> Option<Vec<String>> {
        self.send(format!("MAIL FROM:<{from}>\r\n").as_bytes())?;
        self.reply().filter(|r| r.starts_with("250"))?;
        for r in rcpts {
            self.send(format!("RCPT TO:<{r}>\r\n").as_bytes())?;
            self.reply().filter(|r| r.starts_with("250"))?;
        }
        self.send(b"DATA\r\n")?;
        self.reply().filter(|r| r.starts_with("354"))?;
        self.send(msg)?;
        self.send(b".\r\n")?;
        rcpts.iter().map(|_| self.reply()).collect()
    }
}

/// What the store holds as LMTP stored it for `rcpt`: its trace headers first.
fn as_delivered(from: &str, rcpt: &str, msg: &[u8]) -> String {
    let mut b = format!("Return-Path: <{from}>\r\nDelivered-To: {rcpt}\r\n").into_bytes();
    b.extend_from_slice(msg);
    crate::util::guid(&b)
}

/// (uid, guid) of every message of `mailbox`, in UID order.
fn listing(s: &Store, mailbox: &str) -> (u32, Vec<(u32, String)>) {
    let d = s.dump(mailbox);
    let v = d["messages"]
        .as_array()
        .unwrap()
        .iter()
        .map(|m| {
            (
                m["uid"].as_u64().unwrap() as u32,
                m["guid"].as_str().unwrap().to_owned(),
            )
        })
        .collect();
    (d["uidvalidity"].as_u64().unwrap() as u32, v)
}

fn serve_lmtp(s: &Store, sock: &Path) -> std::process::Child {
    s.cmd()
        .args(["serve", "--lmtp", &format!("unix:{}", sock.display())])
        .stdin(Stdio::null())
        .stdout(Stdio::null())
        .stderr(Stdio::null())
        .spawn()
        .unwrap()
}

/// Seeded like the IMAP trials: `MSGSTORE_FAULT_SEED`, and a trial count from
/// `var` (else `default`).
fn knobs(var: &str, default: usize) -> (usize, u64) {
    let trials = std::env::var(var)
        .ok()
        .and_then(|v| v.parse().ok())
        .unwrap_or(default);
    let seed = std::env::var("MSGSTORE_FAULT_SEED")
        .ok()
        .and_then(|v| v.parse().ok())
        .unwrap_or(7);
    (trials, seed)
}

/// The model check after a kill and `reconstruct -r`, for one mailbox: what it
/// held before and every acknowledged delivery are there exactly once; nothing
/// else is, but the deliveries in flight, whole (a guid names the entire file);
/// no UID names other content than it ever did; UIDVALIDITY kept. Gives how
/// many deliveries in flight (not acknowledged) are there.
#[allow(clippy::too_many_arguments)]
fn check_mailbox(
    ctx: &str,
    mailbox: &str,
    uidvalidity: u32,
    after: &(u32, Vec<(u32, String)>),
    before: &[(u32, String)],
    acked: &[String],
    in_flight: &[String],
    seen: &mut BTreeMap<(String, u32), String>,
) -> usize {
    assert_eq!(
        after.0, uidvalidity,
        "{ctx}: UIDVALIDITY of {mailbox} changed"
    );
    let mut count: BTreeMap<&str, usize> = BTreeMap::new();
    for (_, g) in &after.1 {
        *count.entry(g).or_default() += 1;
    }
    for (_, g) in before {
        assert_eq!(
            count.get(g.as_str()),
            Some(&1),
            "{ctx}: {mailbox} lost a message"
        );
    }
    for g in acked {
        assert_eq!(
            count.get(g.as_str()),
            Some(&1),
            "{ctx}: {mailbox}: a delivery acknowledged with 250 is lost or doubled"
        );
    }
    for (g, n) in &count {
        assert_eq!(*n, 1, "{ctx}: {mailbox} holds a message twice");
        assert!(
            before.iter().any(|(_, b)| b == g)
                || acked.iter().any(|a| a == g)
                || in_flight.iter().any(|a| a == g),
            "{ctx}: {mailbox} holds a message nobody delivered whole (half a delivery?)"
        );
    }
    for (u, g) in &after.1 {
        let prev = seen.insert((mailbox.to_owned(), *u), g.clone());
        assert!(
            prev.is_none() || prev.as_ref() == Some(g),
            "{ctx}: UID {u} of {mailbox} now names other content"
        );
    }
    in_flight
        .iter()
        .filter(|g| count.contains_key(g.as_str()))
        .count()
}

#[test]
fn killed_server_during_lmtp_data_loses_no_acknowledged_delivery() {
    let (trials, seed) = knobs("MSGSTORE_FAULT_TRIALS_LMTP", 40);
    let mut rng = Rng(seed ^ 0x4c4d_5450);
    let s = Store::new();
    s.run(&["user", "add", "joe", "ann"]).ok();
    s.run(&["mailbox", "create", "joe/stuff"]).ok();
    s.deliver("joe", &message(0, 1));
    let sock = s.root.parent().unwrap().join("lmtp.sock");
    // Recipient address -> the mailbox it lands in.
    let rcpts: Vec<(String, &str)> = vec![
        ("joe@faults.test".into(), "joe"),
        ("ann@faults.test".into(), "ann"),
        ("joe+stuff@faults.test".into(), "joe/stuff"),
    ];
    let uv: BTreeMap<&str, u32> = rcpts.iter().map(|(_, m)| (*m, listing(&s, m).0)).collect();
    let from = "sender@faults.test";
    let mut seen = BTreeMap::new();
    let started = Instant::now();
    let (mut done, mut acked_total, mut killed_in_data, mut kept_unacked) = (0, 0, 0, 0);
    for trial in 1..=trials {
        if started.elapsed() > Duration::from_secs(40) {
            break;
        }
        let before: BTreeMap<&str, Vec<(u32, String)>> =
            rcpts.iter().map(|(_, m)| (*m, listing(&s, m).1)).collect();
        let _ = std::fs::remove_file(&sock);
        let mut child = serve_lmtp(&s, &sock);
        let pid = child.id() as i32;
        let Some(mut c) = Lmtp::connect(&sock) else {
            let _ = child.kill();
            let _ = child.wait();
            panic!("trial {trial}: the LMTP server did not start");
        };
        let delay = Duration::from_millis(20 + rng.below(400));
        let killer = std::thread::spawn(move || {
            std::thread::sleep(delay);
            unsafe { libc::kill(pid, libc::SIGKILL) };
        });
        let mut acked: BTreeMap<&str, Vec<String>> = BTreeMap::new();
        let mut in_flight: BTreeMap<&str, Vec<String>> = BTreeMap::new();
        // Pipelined (RFC 2920): MAIL, the RCPTs and DATA in one write; the
        // message, its end and the next transaction's commands in the next.
        let envelope: String = std::iter::once(format!("MAIL FROM:<{from}>\r\n"))
            .chain(rcpts.iter().map(|(r, _)| format!("RCPT TO:<{r}>\r\n")))
            .chain(std::iter::once("DATA\r\n".to_owned()))
            .collect();
        let mut n = 0;
        let mut alive = c.send(envelope.as_bytes()).is_some();
        'session: while alive {
            n += 1;
            // MAIL, each RCPT, DATA.
            for _ in 0..rcpts.len() + 2 {
                match c.reply() {
                    Some(r) if r.starts_with('2') || r.starts_with("354") => {}
                    Some(r) => panic!("trial {trial}: unexpected reply {r}"),
                    None => break 'session,
                }
            }
            let m = message(trial, n);
            let gs: Vec<String> = rcpts
                .iter()
                .map(|(r, _)| as_delivered(from, r, &m))
                .collect();
            for ((_, mb), g) in rcpts.iter().zip(&gs) {
                in_flight.entry(mb).or_default().push(g.clone());
            }
            let more = n < 30;
            let mut out = m;
            out.extend_from_slice(b".\r\n");
            if more {
                out.extend_from_slice(envelope.as_bytes());
            }
            if c.send(&out).is_none() {
                break;
            }
            for ((_, mb), g) in rcpts.iter().zip(&gs) {
                match c.reply() {
                    Some(r) if r.starts_with("250") => {
                        acked.entry(mb).or_default().push(g.clone());
                        if let Some(f) = in_flight.get_mut(mb) {
                            f.retain(|x| x != g);
                        }
                    }
                    // A transient refusal is allowed (the MTA retries); never 5xx.
                    Some(r) if r.starts_with('4') => {}
                    Some(r) => panic!("trial {trial}: a delivery answered {r}"),
                    None => {
                        killed_in_data += 1;
                        break 'session;
                    }
                }
            }
            alive = more;
        }
        let _ = killer.join();
        let _ = child.kill();
        let _ = child.wait();
        let rep = s.run(&["reconstruct", "-r"]);
        assert!(
            rep.code == 0,
            "trial {trial}: reconstruct: {}{}",
            rep.stdout,
            rep.stderr
        );
        let ctx = format!("LMTP trial {trial} (seed {seed}, kill after {delay:?})");
        for (_, mb) in &rcpts {
            let after = listing(&s, mb);
            let none = Vec::new();
            kept_unacked += check_mailbox(
                &ctx,
                mb,
                uv[mb],
                &after,
                &before[mb],
                acked.get(mb).unwrap_or(&none),
                in_flight.get(mb).unwrap_or(&none),
                &mut seen,
            );
        }
        acked_total += acked.values().map(Vec::len).sum::<usize>();
        done += 1;
    }
    eprintln!(
        "LMTP faults: {done} trials in {:?}; {acked_total} acknowledged deliveries, {killed_in_data} trials killed awaiting DATA's replies, {kept_unacked} unacknowledged deliveries kept whole",
        started.elapsed()
    );
    assert!(
        killed_in_data > 0,
        "no kill landed while a message was being delivered: the test proves nothing"
    );
    assert!(
        done >= trials.min(10),
        "only {done} trials ran in the time allowed"
    );
}

/// A raw IMAP connection for the session killed with its server: reads lines
/// in a thread into a channel; never panics when the server dies.
fn idle_session(port: u16, user: &str, pw: &str) -> Option<(TcpStreamW, mpsc::Receiver<String>)> {
    let t = std::net::TcpStream::connect(("127.0.0.1", port)).ok()?;
    let mut w = t.try_clone().ok()?;
    let (tx, rx) = mpsc::channel::<String>();
    std::thread::spawn(move || {
        for l in BufReader::new(t).lines() {
            let Ok(l) = l else { break };
            if tx.send(l).is_err() {
                break;
            }
        }
    });
    let wait_for = |rx: &mpsc::Receiver<String>, prefix: &str| -> Option<Vec<String>> {
        let mut got = Vec::new();
        loop {
            let l = rx.recv_timeout(Duration::from_secs(20)).ok()?;
            if l.starts_with(prefix) {
                return l.starts_with(&format!("{prefix}OK")).then_some(got);
            }
            got.push(l);
        }
    };
    wait_for(&rx, "* ")?;
    w.write_all(format!("a LOGIN {user} {pw}\r\nb SELECT INBOX\r\n").as_bytes())
        .ok()?;
    wait_for(&rx, "a ")?;
    wait_for(&rx, "b ")?;
    w.write_all(b"i IDLE\r\n").ok()?;
    let l = rx.recv_timeout(Duration::from_secs(20)).ok()?;
    l.starts_with("+ ").then_some((w, rx))
}

type TcpStreamW = std::net::TcpStream;

/// The Message-IDs of `mailbox` as a live session FETCHes them.
fn message_ids(c: &mut Client) -> BTreeSet<String> {
    c.ok("UID FETCH 1:* (BODY.PEEK[HEADER.FIELDS (MESSAGE-ID)])")
        .iter()
        .filter_map(|l| {
            let i = l.find("Message-ID: <")?;
            let rest = &l[i + 13..];
            Some(rest[..rest.find('>')?].to_owned())
        })
        .collect()
}

fn exists(lines: &[String]) -> Option<u32> {
    lines
        .iter()
        .filter_map(|l| l.strip_prefix("* ")?.strip_suffix(" EXISTS")?.parse().ok())
        .max()
}

#[test]
fn idle_sessions_see_every_delivery_across_a_killed_server() {
    let (trials, seed) = knobs("MSGSTORE_FAULT_TRIALS_IDLE", 12);
    let mut rng = Rng(seed ^ 0x4944_4c45);
    let s = Store::new();
    s.run(&["user", "add", "joe", "ann"]).ok();
    set_password(&s, "joe", "secret");
    set_password(&s, "ann", "secret2");
    s.deliver("joe", &message(0, 1));
    s.deliver("ann", &message(0, 2));
    let sock = s.root.parent().unwrap().join("lmtp-idle.sock");
    let lmtp = format!("unix:{}", sock.display());
    let uv: BTreeMap<&str, u32> = ["joe", "ann"]
        .iter()
        .map(|m| (*m, listing(&s, m).0))
        .collect();
    let from = "sender@faults.test";
    // Message-ID -> mailboxes its delivery was acknowledged for.
    let mut acked: BTreeMap<&str, BTreeSet<String>> = BTreeMap::new();
    let mut seen = BTreeMap::new();
    let started = Instant::now();
    let (mut done, mut idle_saw) = (0, 0);
    for trial in 1..=trials {
        if started.elapsed() > Duration::from_secs(40) {
            break;
        }
        let ctx = format!("IDLE trial {trial} (seed {seed})");
        let before: BTreeMap<&str, Vec<(u32, String)>> = ["joe", "ann"]
            .iter()
            .map(|m| (*m, listing(&s, m).1))
            .collect();
        let srv = Server::start(&s, &["--lmtp", &lmtp]);
        let pid = srv.child.id() as i32;
        let sessions: Vec<_> = [("joe", "secret"), ("ann", "secret2")]
            .iter()
            .map(|(u, p)| {
                idle_session(srv.port, u, p).unwrap_or_else(|| panic!("{ctx}: no IDLE for {u}"))
            })
            .collect();
        let delay = Duration::from_millis(50 + rng.below(600));
        let killer = std::thread::spawn(move || {
            std::thread::sleep(delay);
            unsafe { libc::kill(pid, libc::SIGKILL) };
        });
        // Another client delivers to both, one message after another.
        let mut in_flight: BTreeMap<&str, Vec<String>> = BTreeMap::new();
        let mut acked_now: BTreeMap<&str, Vec<String>> = BTreeMap::new();
        if let Some(mut c) = Lmtp::connect(&sock) {
            for n in 1..=40 {
                let m = message(1000 + trial, n);
                let rcpts = ["joe@faults.test".to_owned(), "ann@faults.test".to_owned()];
                for (r, mb) in rcpts.iter().zip(["joe", "ann"]) {
                    in_flight
                        .entry(mb)
                        .or_default()
                        .push(as_delivered(from, r, &m));
                }
                let Some(replies) = c.deliver(from, &rcpts, &m) else {
                    break;
                };
                for ((r, mb), reply) in rcpts.iter().zip(["joe", "ann"]).zip(replies) {
                    if reply.starts_with("250") {
                        let g = as_delivered(from, r, &m);
                        acked_now.entry(mb).or_default().push(g.clone());
                        if let Some(f) = in_flight.get_mut(mb) {
                            f.retain(|x| *x != g);
                        }
                        acked
                            .entry(mb)
                            .or_default()
                            .insert(format!("{}.{n}@faults", 1000 + trial));
                    } else {
                        assert!(reply.starts_with('4'), "{ctx}: a delivery answered {reply}");
                    }
                }
            }
        }
        let _ = killer.join();
        drop(srv);
        // What each IDLE session was told before its server died.
        let told: Vec<u32> = sessions
            .into_iter()
            .map(|(w, rx)| {
                drop(w);
                let lines: Vec<String> = rx.iter().collect();
                exists(&lines).unwrap_or(0)
            })
            .collect();
        idle_saw += told.iter().filter(|&&n| n > 0).count();

        // Restarted, with no repair first: each client reconnects and sees all
        // it was told of and every acknowledged delivery; then, in IDLE again,
        // a new delivery at once.
        let srv = Server::start(&s, &["--lmtp", &lmtp]);
        for ((user, pw), told) in [("joe", "secret"), ("ann", "secret2")].iter().zip(&told) {
            let mut c = srv.connect();
            c.ok(&format!("LOGIN {user} {pw}"));
            let sel = c.ok("SELECT INBOX");
            let n = exists(&sel).unwrap_or(0);
            assert!(
                n >= *told,
                "{ctx}: {user} was told of {told} messages, now sees {n}"
            );
            let ids = message_ids(&mut c);
            for id in acked.get(user).into_iter().flatten() {
                assert!(
                    ids.contains(id),
                    "{ctx}: {user} does not see acknowledged {id}"
                );
            }
            c.send("i IDLE\r\n");
            assert!(c.line().starts_with("+ "), "{ctx}");
            let m = message(2000 + trial, 1);
            let rcpt = format!("{user}@faults.test");
            let r = Lmtp::connect(&sock)
                .and_then(|mut l| l.deliver(from, std::slice::from_ref(&rcpt), &m))
                .unwrap_or_else(|| panic!("{ctx}: no LMTP after the restart"));
            assert!(r[0].starts_with("250"), "{ctx}: {r:?}");
            acked_now
                .entry(user)
                .or_default()
                .push(as_delivered(from, &rcpt, &m));
            acked
                .entry(user)
                .or_default()
                .insert(format!("{}.1@faults", 2000 + trial));
            let l = c.line();
            assert_eq!(l, format!("* {} EXISTS", n + 1), "{ctx}: {user} in IDLE");
            c.send("DONE\r\n");
            c.ok("LOGOUT");
        }
        let (code, log) = srv.stop();
        assert_eq!(code, 0, "{ctx}: {log}");
        let rep = s.run(&["reconstruct", "-r"]);
        assert!(
            rep.code == 0,
            "{ctx}: reconstruct: {}{}",
            rep.stdout,
            rep.stderr
        );
        for mb in ["joe", "ann"] {
            let none = Vec::new();
            check_mailbox(
                &ctx,
                mb,
                uv[mb],
                &listing(&s, mb),
                &before[mb],
                acked_now.get(mb).unwrap_or(&none),
                in_flight.get(mb).unwrap_or(&none),
                &mut seen,
            );
        }
        done += 1;
    }
    eprintln!(
        "IDLE faults: {done} trials in {:?}; {idle_saw} IDLE sessions had seen deliveries when the server was killed",
        started.elapsed()
    );
    assert!(
        idle_saw > 0,
        "no IDLE session saw a delivery before the kill: the test proves nothing"
    );
    assert!(
        done >= trials.min(4),
        "only {done} trials ran in the time allowed"
    );
}

/// A file system mounted for one test, unmounted when dropped (lazily if it is
/// still busy). `None` where mounting is not permitted.
struct Mount(PathBuf);

impl Mount {
    fn run(args: &[&str]) -> bool {
        Command::new("mount")
            .args(args)
            .stdin(Stdio::null())
            .stdout(Stdio::null())
            .stderr(Stdio::null())
            .status()
            .map(|s| s.success())
            .unwrap_or(false)
    }

    fn tmpfs(at: &Path, size: &str) -> Option<Mount> {
        std::fs::create_dir_all(at).ok()?;
        let opt = format!("size={size},mode=0700");
        Mount::run(&["-t", "tmpfs", "-o", &opt, "tmpfs", crate::util::p(at)])
            .then(|| Mount(at.to_path_buf()))
    }

    /// `from` again at `at`, read-only.
    fn read_only_bind(from: &Path, at: &Path) -> Option<Mount> {
        std::fs::create_dir_all(at).ok()?;
        if !Mount::run(&["--bind", crate::util::p(from), crate::util::p(at)]) {
            return None;
        }
        let m = Mount(at.to_path_buf());
        Mount::run(&["-o", "remount,bind,ro", crate::util::p(at)]).then_some(m)
    }

    fn make_writable(&self) {
        assert!(
            Mount::run(&["-o", "remount,bind,rw", crate::util::p(&self.0)]),
            "cannot remount {:?} writable",
            self.0
        );
    }
}

impl Drop for Mount {
    fn drop(&mut self) {
        let p = self.0.clone();
        let ok = Command::new("umount")
            .arg(&p)
            .stderr(Stdio::null())
            .status()
            .map(|s| s.success())
            .unwrap_or(false);
        if !ok {
            let _ = Command::new("umount").arg("-l").arg(&p).status();
        }
    }
}

/// A store at `root` (on a mounted file system), `joe` with a password and
/// two messages.
fn store_at(tmp: tempfile::TempDir, root: PathBuf) -> Store {
    let s = Store { _tmp: tmp, root };
    s.run(&["init"]).ok();
    s.run(&["user", "add", "joe", "ann"]).ok();
    set_password(&s, "joe", "secret");
    s.deliver("joe", &message(0, 1));
    s.deliver("joe", &message(0, 2));
    s
}

fn big_message(tag: &str, kib: usize) -> Vec<u8> {
    let line = "y".repeat(76);
    let mut m =
        format!("From: disk@example.org\r\nSubject: {tag}\r\nMessage-ID: <{tag}@faults>\r\n\r\n");
    for _ in 0..kib * 1024 / 78 {
        m.push_str(&line);
        m.push_str("\r\n");
    }
    m.into_bytes()
}

fn append(c: &mut Client, m: &[u8]) -> String {
    let cmd = format!(
        "APPEND INBOX {{{}+}}\r\n{}",
        m.len(),
        String::from_utf8_lossy(m)
    );
    c.cmd(&cmd).1
}

/// Nothing half-written visible in `mailbox`'s directory: every message file
/// is a message of the index, no temporary file stays; and the mailbox holds
/// exactly `want` (guids).
#[track_caller]
fn assert_clean(s: &Store, dir: &str, mailbox: &str, want: &BTreeSet<String>, ctx: &str) {
    let (_, l) = listing(s, mailbox);
    let have: BTreeSet<String> = l.iter().map(|(_, g)| g.clone()).collect();
    assert_eq!(
        &have, want,
        "{ctx}: {mailbox} holds other messages than acknowledged"
    );
    let mut files: Vec<String> = std::fs::read_dir(s.dir(dir))
        .unwrap()
        .flatten()
        .map(|e| e.file_name().to_string_lossy().into_owned())
        .filter(|n| n.ends_with('.') || n.starts_with("msgstore.tmp."))
        .collect();
    files.sort();
    let mut uids: Vec<String> = l.iter().map(|(u, _)| format!("{u}.")).collect();
    uids.sort();
    assert_eq!(files, uids, "{ctx}: files of {mailbox} beside its index");
}

/// `reconstruct -r` of a mailbox that failed cleanly finds nothing to repair.
#[track_caller]
fn assert_nothing_to_repair(s: &Store, ctx: &str) {
    let r = s.json(&["reconstruct", "-r"]);
    for m in r["mailboxes"].as_array().unwrap() {
        for k in [
            "added",
            "renumbered",
            "changed_content",
            "dropped",
            "bad",
            "temp_removed",
        ] {
            assert_eq!(
                m[k].as_array().map(Vec::len),
                Some(0),
                "{ctx}: reconstruct repaired {k}: {m}"
            );
        }
        assert_eq!(m["kept"], m["messages"], "{ctx}: {m}");
    }
}

#[test]
fn a_full_disk_refuses_append_and_lmtp_transiently_and_leaves_nothing() {
    let tmp = tempfile::tempdir().unwrap();
    let mnt = tmp.path().join("small");
    let Some(_fs) = Mount::tmpfs(&mnt, "6m") else {
        return skip(
            "cannot mount a tmpfs here (not root, or not permitted): no full disk to test",
        );
    };
    let sock = tmp.path().join("lmtp.sock");
    let s = store_at(tempfile::tempdir().unwrap(), mnt.join("store"));
    let srv = Server::start(&s, &["--lmtp", &format!("unix:{}", sock.display())]);
    let mut c = srv.connect();
    c.ok("LOGIN joe secret");
    c.ok("SELECT INBOX");
    let mut want: BTreeSet<String> = listing(&s, "joe").1.into_iter().map(|(_, g)| g).collect();
    let mut want_ann: BTreeSet<String> = BTreeSet::new();

    // Fill the file system, then give back a little more room each round: the
    // message file, the index commit or neither runs out of space.
    let filler = mnt.join("filler");
    let mut f = std::fs::File::create(&filler).unwrap();
    let chunk = vec![0u8; 64 << 10];
    let mut len = 0u64;
    for _ in 0..1000 {
        match f.write(&chunk) {
            Ok(n) if n > 0 => len += n as u64,
            _ => break,
        }
    }
    let from = "sender@faults.test";
    let (mut imap_no, mut lmtp_4xx, mut fitted) = (0, 0, 0);
    for (round, pages) in [0u64, 0, 1, 2, 4, 8, 12, 16, 24, 32, 48, 64, 96]
        .into_iter()
        .enumerate()
    {
        f.set_len(len.saturating_sub(pages * 4096)).unwrap();
        let ctx = format!("full disk, round {round} ({pages} pages free)");
        let m = big_message(&format!("imap-{round}"), 40);
        let t = append(&mut c, &m);
        if t.contains(" OK") {
            want.insert(crate::util::guid(&m));
            fitted += 1;
        } else {
            assert!(t.contains(" NO "), "{ctx}: APPEND answered {t}");
            imap_no += 1;
        }
        assert_clean(&s, "users/joe", "joe", &want, &ctx);

        let m = big_message(&format!("lmtp-{round}"), 40);
        let rcpts = ["joe@faults.test".to_owned(), "ann@faults.test".to_owned()];
        let replies = Lmtp::connect(&sock)
            .and_then(|mut l| l.deliver(from, &rcpts, &m))
            .unwrap_or_else(|| panic!("{ctx}: LMTP session failed"));
        for (r, reply) in rcpts.iter().zip(&replies) {
            if reply.starts_with("250") {
                let g = as_delivered(from, r, &m);
                if r.starts_with("joe") {
                    want.insert(g);
                } else {
                    want_ann.insert(g);
                }
            } else {
                assert!(
                    reply.starts_with("452 4.3.1"),
                    "{ctx}: a full disk answered {reply} (the MTA must retry)"
                );
                lmtp_4xx += 1;
            }
        }
        assert_clean(&s, "users/joe", "joe", &want, &ctx);
        assert_clean(&s, "users/ann", "ann", &want_ann, &ctx);
    }
    assert!(imap_no > 0 && lmtp_4xx > 0, "the disk never filled up");
    eprintln!(
        "full disk: {imap_no} APPENDs refused, {lmtp_4xx} LMTP deliveries deferred, {fitted} APPENDs fitted"
    );

    // Room again: the same server, the same session, delivers.
    drop(f);
    std::fs::remove_file(&filler).unwrap();
    let m = big_message("after", 40);
    let t = append(&mut c, &m);
    assert!(t.contains(" OK"), "APPEND with room again: {t}");
    want.insert(crate::util::guid(&m));
    let r = Lmtp::connect(&sock)
        .and_then(|mut l| l.deliver(from, &["joe@faults.test".to_owned()], &m))
        .unwrap();
    assert!(r[0].starts_with("250"), "LMTP with room again: {r:?}");
    want.insert(as_delivered(from, "joe@faults.test", &m));
    let u = c.ok("NOOP");
    assert!(
        exists(&u).is_some(),
        "the session is not told of new mail: {u:?}"
    );
    c.ok("LOGOUT");
    let (code, log) = srv.stop();
    assert_eq!(code, 0, "{log}");
    // The administrator learns why, from both front ends.
    for (front, n) in [("APPEND: ", imap_no), ("lmtp ", lmtp_4xx)] {
        let logged = log
            .lines()
            .filter(|l| l.contains(front) && l.contains("No space left on device"))
            .count();
        assert!(
            logged >= n,
            "{logged} of {n} {front}failures logged:\n{log}"
        );
    }
    assert_clean(&s, "users/joe", "joe", &want, "after");
    assert_nothing_to_repair(&s, "after the full disk");
}

#[test]
fn a_read_only_store_refuses_append_and_lmtp_transiently_and_recovers() {
    let tmp = tempfile::tempdir().unwrap();
    let mnt = tmp.path().join("fs");
    let Some(_fs) = Mount::tmpfs(&mnt, "16m") else {
        return skip(
            "cannot mount a tmpfs here (not root, or not permitted): no read-only store to test",
        );
    };
    let rw = store_at(tempfile::tempdir().unwrap(), mnt.join("store"));
    let before: BTreeSet<String> = listing(&rw, "joe").1.into_iter().map(|(_, g)| g).collect();
    let ro_path = tmp.path().join("ro");
    let Some(ro) = Mount::read_only_bind(&rw.root, &ro_path) else {
        return skip("cannot bind-mount the store read-only here");
    };
    // The server runs on the read-only view (a file system remounted read-only
    // under an administrator's feet; root ignores mode bits, so chmod would not do).
    let s = Store {
        _tmp: tempfile::tempdir().unwrap(),
        root: ro_path.clone(),
    };
    let sock = tmp.path().join("lmtp.sock");
    let srv = Server::start(&s, &["--lmtp", &format!("unix:{}", sock.display())]);
    let mut c = srv.connect();
    c.ok("LOGIN joe secret");
    c.ok("SELECT INBOX");
    let from = "sender@faults.test";
    let m = big_message("read-only", 4);
    let t = append(&mut c, &m);
    assert!(t.contains(" NO "), "APPEND to a read-only store: {t}");
    let r = Lmtp::connect(&sock)
        .and_then(|mut l| l.deliver(from, &["joe@faults.test".to_owned()], &m))
        .unwrap();
    assert!(
        r[0].starts_with("451 4.3.0"),
        "LMTP to a read-only store: {r:?}"
    );
    assert_clean(&rw, "users/joe", "joe", &before, "read-only");

    ro.make_writable();
    let mut want = before.clone();
    let t = append(&mut c, &m);
    assert!(t.contains(" OK"), "APPEND once writable: {t}");
    want.insert(crate::util::guid(&m));
    let r = Lmtp::connect(&sock)
        .and_then(|mut l| l.deliver(from, &["joe@faults.test".to_owned()], &m))
        .unwrap();
    assert!(r[0].starts_with("250"), "LMTP once writable: {r:?}");
    want.insert(as_delivered(from, "joe@faults.test", &m));
    c.ok("LOGOUT");
    let (code, log) = srv.stop();
    assert_eq!(code, 0, "{log}");
    assert_clean(&rw, "users/joe", "joe", &want, "writable again");
    assert_nothing_to_repair(&rw, "after the read-only store");
}

/// Where no file system can be mounted: the crate's ENOSPC injection
/// (`MSGSTORE_FAULT=enospc-<step>`, src/faults.rs) in the server, at the message
/// file's write and at the index commit. Same promises as the real full disk.
#[test]
fn injected_enospc_refuses_append_and_lmtp_transiently_and_leaves_nothing() {
    let s = Store::new();
    s.run(&["user", "add", "joe", "ann"]).ok();
    set_password(&s, "joe", "secret");
    s.deliver("joe", &message(0, 1));
    let sock = s.root.parent().unwrap().join("lmtp-enospc.sock");
    let lmtp = format!("unix:{}", sock.display());
    let from = "sender@faults.test";
    let mut want: BTreeSet<String> = listing(&s, "joe").1.into_iter().map(|(_, g)| g).collect();
    for step in ["enospc-deliver-write", "enospc-index-commit"] {
        let port = std::net::TcpListener::bind("127.0.0.1:0")
            .unwrap()
            .local_addr()
            .unwrap()
            .port();
        let child = s
            .cmd()
            .env("MSGSTORE_FAULT", step)
            .args([
                "serve",
                "--imap",
                &format!("127.0.0.1:{port}"),
                "--lmtp",
                &lmtp,
            ])
            .stdin(Stdio::null())
            .stdout(Stdio::null())
            .stderr(Stdio::piped())
            .spawn()
            .unwrap();
        let srv = Server { child, port };
        let deadline = Instant::now() + Duration::from_secs(20);
        while std::net::TcpStream::connect(("127.0.0.1", port)).is_err() {
            assert!(
                Instant::now() < deadline,
                "{step}: the server did not start"
            );
            std::thread::sleep(Duration::from_millis(20));
        }
        let mut c = srv.connect();
        c.ok("LOGIN joe secret");
        c.ok("SELECT INBOX");
        let m = big_message(step, 2);
        let t = append(&mut c, &m);
        assert!(t.contains(" NO "), "{step}: APPEND answered {t}");
        let rcpts = ["joe@faults.test".to_owned(), "ann@faults.test".to_owned()];
        let r = Lmtp::connect(&sock)
            .and_then(|mut l| l.deliver(from, &rcpts, &m))
            .unwrap();
        for reply in &r {
            assert!(
                reply.starts_with("452 4.3.1"),
                "{step}: LMTP answered {reply}"
            );
        }
        let u = c.ok("NOOP");
        assert!(
            exists(&u).is_none(),
            "{step}: a refused message was announced: {u:?}"
        );
        c.ok("LOGOUT");
        let (code, log) = srv.stop();
        assert_eq!(code, 0, "{step}: {log}");
        assert!(log.contains("No space left on device"), "{step}: {log}");
        assert_clean(&s, "users/joe", "joe", &want, step);
        assert_clean(&s, "users/ann", "ann", &BTreeSet::new(), step);
        assert_nothing_to_repair(&s, step);
    }
    // The disk has room again: the server delivers.
    let srv = Server::start(&s, &["--lmtp", &lmtp]);
    let m = big_message("room again", 2);
    let r = Lmtp::connect(&sock)
        .and_then(|mut l| l.deliver(from, &["joe@faults.test".to_owned()], &m))
        .unwrap();
    assert!(r[0].starts_with("250"), "{r:?}");
    want.insert(as_delivered(from, "joe@faults.test", &m));
    let (code, log) = srv.stop();
    assert_eq!(code, 0, "{log}");
    assert_clean(&s, "users/joe", "joe", &want, "room again");
    assert_nothing_to_repair(&s, "room again");
}

/// The file system goes read-only under the running server, its files open
/// (ext4's `errors=remount-ro` after an error, here triggered through sysfs): a
/// loop-mounted ext4 image. IMAP APPEND and LMTP DATA are refused transiently
/// and leave nothing; after the administrator's fsck and remount, what was
/// acknowledged before is all there, `reconstruct` finds nothing to repair and
/// delivery works.
#[test]
fn a_store_turned_read_only_under_the_server_refuses_transiently() {
    let tmp = tempfile::tempdir().unwrap();
    let img = tmp.path().join("ext4.img");
    let mnt = tmp.path().join("ext4");
    std::fs::File::create(&img)
        .unwrap()
        .set_len(32 << 20)
        .unwrap();
    let mkfs = Command::new("mkfs.ext4")
        .args(["-q", "-F"])
        .arg(&img)
        .stdout(Stdio::null())
        .stderr(Stdio::null())
        .status();
    if !mkfs.map(|s| s.success()).unwrap_or(false) {
        return skip("mkfs.ext4 is missing or failed: no file system to turn read-only");
    }
    std::fs::create_dir(&mnt).unwrap();
    let mount = |mnt: &Path| -> Option<Mount> {
        let opt = "loop,errors=remount-ro";
        Mount::run(&["-o", opt, crate::util::p(&img), crate::util::p(mnt)])
            .then(|| Mount(mnt.to_path_buf()))
    };
    let Some(fs) = mount(&mnt) else {
        return skip("cannot loop-mount an ext4 image here (not root, or not permitted)");
    };
    // The sysfs knob of the loop device the image is mounted on.
    let dev = std::fs::read_to_string("/proc/mounts")
        .unwrap_or_default()
        .lines()
        .find_map(|l| {
            let mut f = l.split_whitespace();
            let (src, at) = (f.next()?, f.next()?);
            (Path::new(at) == mnt).then(|| src.trim_start_matches("/dev/").to_owned())
        });
    let trigger = dev.map(|d| PathBuf::from(format!("/sys/fs/ext4/{d}/trigger_fs_error")));
    let Some(trigger) = trigger.filter(|t| t.exists()) else {
        return skip(
            "this kernel has no ext4 trigger_fs_error: cannot turn the store read-only under the server",
        );
    };
    let sock = tmp.path().join("lmtp.sock");
    let s = store_at(tempfile::tempdir().unwrap(), mnt.join("store"));
    let srv = Server::start(&s, &["--lmtp", &format!("unix:{}", sock.display())]);
    let mut c = srv.connect();
    c.ok("LOGIN joe secret");
    c.ok("SELECT INBOX");
    let from = "sender@faults.test";
    let joe = ["joe@faults.test".to_owned()];
    let mut want: BTreeSet<String> = listing(&s, "joe").1.into_iter().map(|(_, g)| g).collect();
    // Acknowledged before: must survive.
    let m = big_message("before", 4);
    assert!(append(&mut c, &m).contains(" OK"));
    want.insert(crate::util::guid(&m));
    let r = Lmtp::connect(&sock)
        .and_then(|mut l| l.deliver(from, &joe, &m))
        .unwrap();
    assert!(r[0].starts_with("250"), "{r:?}");
    want.insert(as_delivered(from, &joe[0], &m));
    c.ok("NOOP");

    std::fs::write(&trigger, "msgstore test\n").unwrap();
    assert!(
        std::fs::write(mnt.join("probe"), b"x").is_err(),
        "the file system is still writable"
    );
    for i in 0..3 {
        let m = big_message(&format!("read-only-{i}"), 4);
        let t = append(&mut c, &m);
        assert!(
            t.contains(" NO "),
            "APPEND on a file system gone read-only: {t}"
        );
        let r = Lmtp::connect(&sock)
            .and_then(|mut l| l.deliver(from, &joe, &m))
            .unwrap_or_else(|| panic!("LMTP session failed on a read-only store"));
        assert!(
            r[0].starts_with("451 4.3.0"),
            "LMTP on a read-only store: {r:?}"
        );
    }
    let u = c.ok("NOOP");
    assert!(
        exists(&u).is_none(),
        "a refused message was announced: {u:?}"
    );
    c.ok("LOGOUT");
    let (code, log) = srv.stop();
    assert_eq!(code, 0, "{log}");
    assert!(log.contains("Read-only file system"), "{log}");

    // The administrator's repair: unmount, fsck, mount again.
    drop(fs);
    let fsck = Command::new("e2fsck")
        .args(["-f", "-y"])
        .arg(&img)
        .stdout(Stdio::null())
        .stderr(Stdio::null())
        .status()
        .unwrap();
    assert!(fsck.code().is_some_and(|c| c <= 1), "e2fsck: {fsck:?}");
    let _fs = mount(&mnt).expect("mount again after fsck");
    assert_clean(&s, "users/joe", "joe", &want, "after the remount");
    assert_nothing_to_repair(&s, "after the remount");
    let srv = Server::start(&s, &["--lmtp", &format!("unix:{}", sock.display())]);
    let m = big_message("after", 4);
    let r = Lmtp::connect(&sock)
        .and_then(|mut l| l.deliver(from, &joe, &m))
        .unwrap();
    assert!(r[0].starts_with("250"), "{r:?}");
    want.insert(as_delivered(from, &joe[0], &m));
    let (code, log) = srv.stop();
    assert_eq!(code, 0, "{log}");
    assert_clean(&s, "users/joe", "joe", &want, "delivering again");
}
