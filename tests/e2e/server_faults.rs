//! The server killed at random instants (SIGKILL) while a session APPENDs,
//! STOREs, EXPUNGEs, COPYs and MOVEs, then `reconstruct -r`, then the model
//! check: no acknowledged message lost, no expunged message back, no UID reused
//! or UIDVALIDITY changed, a MOVE leaves the message in the source, the target
//! or both (never neither), an acknowledged flag change stays. Seeded and
//! bounded: `MSGSTORE_FAULT_TRIALS` trials (default 200) and at most 150 seconds.

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
