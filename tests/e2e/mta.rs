//! A real MTA in front of msgstore's LMTP: Postfix, with its own configuration
//! and queue directories in a temporary directory (nothing of the system's
//! Postfix is used or touched), takes mail over SMTP on a loopback port and hands
//! it to `msgstore serve --lmtp unix:...`. Checked: the store holds exactly the
//! messages Postfix was told were delivered, an unknown user is bounced with
//! `550 5.1.1`, an over-quota user with `552 5.2.2` (Postfix's log and the bounce
//! notices, which come back through LMTP to the sender's INBOX), and `user+folder`
//! reaches the folder. Then what msgstore cannot take now is kept and retried
//! by Postfix: msgstore down (deferred `4.4.1`), a full disk (deferred with
//! msgstore's `452 4.3.1`), then delivered once. Skips visibly when Postfix or Python is missing, or Postfix
//! will not start for a user who is not root.

use crate::serve::Server;
use crate::util::{Store, skip};
use std::os::unix::fs::PermissionsExt;
use std::path::{Path, PathBuf};
use std::process::{Command, Stdio};
use std::time::{Duration, Instant};

const POSTFIX: &str = "/usr/sbin/postfix";
const DOMAIN: &str = "msgstore.test";

/// A Postfix instance of our own; stopped (and its master made to exit) when
/// dropped, whether the test passed or not.
struct Postfix {
    conf: PathBuf,
    queue: PathBuf,
    log: PathBuf,
}

impl Postfix {
    fn master_pid(&self) -> Option<i32> {
        std::fs::read_to_string(self.queue.join("pid/master.pid"))
            .ok()?
            .trim()
            .parse()
            .ok()
    }

    fn log(&self) -> String {
        std::fs::read_to_string(&self.log).unwrap_or_default()
    }

    /// Waits (bounded) until every queued message is in the deferred queue;
    /// their queue ids.
    fn wait_deferred(&self) -> Vec<String> {
        let deadline = Instant::now() + Duration::from_secs(20);
        loop {
            let q = Command::new("/usr/sbin/postqueue")
                .arg("-c")
                .arg(&self.conf)
                .arg("-j")
                .output()
                .unwrap();
            let out = String::from_utf8_lossy(&q.stdout);
            let queued: Vec<(String, String)> = out
                .lines()
                .filter_map(|l| serde_json::from_str::<serde_json::Value>(l).ok())
                .map(|m| {
                    let s = |k: &str| m[k].as_str().unwrap_or("").to_owned();
                    (s("queue_name"), s("queue_id"))
                })
                .collect();
            if queued.iter().all(|(q, _)| q == "deferred") {
                return queued.into_iter().map(|(_, id)| id).collect();
            }
            assert!(
                Instant::now() < deadline,
                "queued mail not deferred in 20 s: {out}"
            );
            std::thread::sleep(Duration::from_millis(50));
        }
    }

    fn cmd(&self, args: &[&str]) -> std::process::Output {
        Command::new(POSTFIX)
            .arg("-c")
            .arg(&self.conf)
            .args(args)
            .stdin(Stdio::null())
            .output()
            .unwrap()
    }
}

impl Drop for Postfix {
    fn drop(&mut self) {
        let pid = self.master_pid();
        let _ = self.cmd(&["abort"]);
        // The master takes its children with it; wait for it (bounded), then
        // make sure.
        if let Some(pid) = pid {
            let deadline = Instant::now() + Duration::from_secs(10);
            while unsafe { libc::kill(pid, 0) } == 0 && Instant::now() < deadline {
                std::thread::sleep(Duration::from_millis(50));
            }
            if unsafe { libc::kill(pid, 0) } == 0 {
                unsafe { libc::kill(pid, libc::SIGKILL) };
            }
        }
    }
}

fn free_port() -> u16 {
    std::net::TcpListener::bind("127.0.0.1:0")
        .unwrap()
        .local_addr()
        .unwrap()
        .port()
}

/// main.cf and master.cf of an instance that listens on 127.0.0.1:`port` only,
/// takes mail for [`DOMAIN`] and hands every local recipient to the LMTP socket.
fn configure(dir: &Path, port: u16, sock: &Path) -> Postfix {
    let conf = dir.join("conf");
    let queue = dir.join("queue");
    let log = dir.join("maillog");
    std::fs::create_dir(&conf).unwrap();
    std::fs::create_dir(&queue).unwrap();
    let d = dir.display();
    let main = format!(
        "compatibility_level = 3.6
queue_directory = {d}/queue
data_directory = {d}/data
mail_owner = postfix
setgid_group = postdrop
inet_interfaces = loopback-only
inet_protocols = ipv4
myhostname = mx.{DOMAIN}
mydomain = {DOMAIN}
myorigin = {DOMAIN}
mydestination = {DOMAIN}
# msgstore decides who exists: its 550 5.1.1 becomes Postfix's bounce.
local_recipient_maps =
alias_maps =
alias_database =
local_transport = lmtp:unix:{sock}
lmtp_destination_recipient_limit = 100
# Nothing leaves this test: no DNS, no relay.
default_transport = error:this test delivers locally only
relayhost =
# Deferred mail is retried within seconds (the default is minutes).
queue_run_delay = 1s
minimal_backoff_time = 1s
maximal_backoff_time = 2s
maillog_file = {d}/maillog
maillog_file_prefixes = {d}
biff = no
smtputf8_enable = no
",
        sock = sock.display()
    );
    std::fs::write(conf.join("main.cf"), main).unwrap();
    // No chroot anywhere (the 5th column): the socket and the queue are paths
    // of the real file system.
    let master = format!(
        "127.0.0.1:{port} inet n - n - - smtpd
pickup    unix  n - n 60 1 pickup
cleanup   unix  n - n - 0 cleanup
qmgr      unix  n - n 300 1 qmgr
rewrite   unix  - - n - - trivial-rewrite
bounce    unix  - - n - 0 bounce
defer     unix  - - n - 0 bounce
trace     unix  - - n - 0 bounce
verify    unix  - - n - 1 verify
flush     unix  n - n 1000? 0 flush
proxymap  unix  - - n - - proxymap
showq     unix  n - n - - showq
error     unix  - - n - - error
retry     unix  - - n - - error
discard   unix  - - n - - discard
lmtp      unix  - - n - - lmtp
anvil     unix  - - n - 1 anvil
scache    unix  - - n - 1 scache
postlog   unix-dgram n - n - 1 postlogd
"
    );
    std::fs::write(conf.join("master.cf"), master).unwrap();
    Postfix { conf, queue, log }
}

/// Sends each message over SMTP with Python's smtplib; the refused recipients
/// of each (Postfix accepts every local address: msgstore decides).
const SEND: &str = r#"
import json, smtplib, sys
port = int(sys.argv[1])
out = []
for m in json.loads(sys.stdin.read()):
    s = smtplib.SMTP("127.0.0.1", port, timeout=20)
    out.append(s.sendmail(m["from"], m["to"], m["data"].encode()))
    s.quit()
print(json.dumps(out))
"#;

struct Mail {
    subject: &'static str,
    to: &'static [&'static str],
}

const MAILS: &[Mail] = &[
    Mail {
        subject: "to four and a stranger",
        to: &["joe", "ann", "joe+work", "nobody", "full"],
    },
    Mail {
        subject: "to joe and another stranger",
        to: &["joe", "stranger"],
    },
    Mail {
        subject: "to a folder that does not exist",
        to: &["ann+nosuchfolder"],
    },
];

fn addr(local: &str) -> String {
    format!("{local}@{DOMAIN}")
}

/// The subjects of the messages in `mailbox`, from the dump's envelopes.
fn subjects(s: &Store, mailbox: &str) -> Vec<String> {
    let d = s.dump(mailbox);
    let mut out: Vec<String> = d["messages"]
        .as_array()
        .unwrap()
        .iter()
        .map(|m| {
            let env = m["envelope"].as_str().unwrap();
            // ENVELOPE is ("date" "subject" ...) or (NIL "subject" ...).
            let nth = if env.starts_with("(NIL ") { 1 } else { 3 };
            env.split('"').nth(nth).unwrap_or("").to_owned()
        })
        .collect();
    out.sort();
    out
}

/// Postfix's `status=` lines for `rcpt`.
fn statuses<'a>(log: &'a str, rcpt: &str) -> Vec<&'a str> {
    let to = format!("to=<{rcpt}>");
    log.lines()
        .filter(|l| l.contains(&to) && l.contains("status="))
        .collect()
}

/// Sends `mails` through Postfix's SMTP port; what was refused, per mail.
fn smtp_send(port: u16, mails: Vec<serde_json::Value>, pf: &Postfix) -> serde_json::Value {
    use std::io::Write as _;
    let mut py = Command::new("python3")
        .arg("-c")
        .arg(SEND)
        .arg(port.to_string())
        .stdin(Stdio::piped())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .unwrap();
    py.stdin
        .take()
        .unwrap()
        .write_all(serde_json::Value::Array(mails).to_string().as_bytes())
        .unwrap();
    let out = py.wait_with_output().unwrap();
    assert!(
        out.status.success(),
        "smtplib: {}\n{}",
        String::from_utf8_lossy(&out.stderr),
        pf.log()
    );
    serde_json::from_slice(&out.stdout).unwrap()
}

fn mail(i: usize, to: &[String], subject: &str) -> serde_json::Value {
    serde_json::json!({
        "from": addr("bouncer"),
        "to": to,
        "data": format!(
            "From: <{}>\r\nTo: <{}>\r\nSubject: {subject}\r\nMessage-ID: <{i}@mta.test>\r\n\r\nmessage {i}\r\n",
            addr("bouncer"), to[0]
        ),
    })
}

/// `msgstore serve` with the LMTP socket at `sock` (mode 0666 once it is
/// there), and `MSGSTORE_FAULT=fault` if given.
fn start_msgstore(s: &Store, sock: &Path, fault: Option<&str>) -> Server {
    let srv = match fault {
        None => Server::start(s, &["--lmtp", &format!("unix:{}", sock.display())]),
        Some(f) => {
            let port = free_port();
            let child = s
                .cmd()
                .env("MSGSTORE_FAULT", f)
                .args(["serve", "--imap", &format!("127.0.0.1:{port}")])
                .arg("--lmtp")
                .arg(format!("unix:{}", sock.display()))
                .stdin(Stdio::null())
                .stdout(Stdio::null())
                .stderr(Stdio::piped())
                .spawn()
                .unwrap();
            Server { child, port }
        }
    };
    let mode = || {
        std::fs::metadata(sock)
            .map(|m| m.permissions().mode() & 0o777)
            .ok()
    };
    let deadline = Instant::now() + Duration::from_secs(20);
    while mode() != Some(0o666) {
        assert!(
            Instant::now() < deadline,
            "no LMTP socket of mode 0666 at {sock:?}: {:o}",
            mode().unwrap_or(0)
        );
        std::thread::sleep(Duration::from_millis(20));
    }
    srv
}

/// Waits for `rcpt`'s next status line that `want` accepts (a retry on a stale
/// cached connection may first give another); that line. With `flush`, nudges
/// Postfix (`postqueue -i`, `-f`) besides its own retries every second or two.
/// Bounded: 5 status lines, 20 s each.
fn retry_until(pf: &Postfix, rcpt: &str, flush: bool, want: impl Fn(&str) -> bool) -> String {
    for _ in 0..5 {
        let before = statuses(&pf.log(), rcpt).len();
        // A deferral is logged before the queue manager has put the message
        // away in the deferred queue, and a flush that comes too early does
        // nothing: flush again every 2 s until something happens.
        let mut flushed: Option<Instant> = None;
        let deadline = Instant::now() + Duration::from_secs(20);
        loop {
            if flush && flushed.is_none_or(|t| t.elapsed() > Duration::from_secs(2)) {
                // Each deferred message by its id (`-i`), then the whole queue.
                for id in pf.wait_deferred() {
                    let _ = Command::new("/usr/sbin/postqueue")
                        .arg("-c")
                        .arg(&pf.conf)
                        .args(["-i", &id])
                        .output();
                }
                let q = Command::new("/usr/sbin/postqueue")
                    .arg("-c")
                    .arg(&pf.conf)
                    .arg("-f")
                    .output()
                    .unwrap();
                assert!(q.status.success(), "postqueue -f: {q:?}");
                flushed = Some(Instant::now());
            }
            let log = pf.log();
            let st = statuses(&log, rcpt);
            if st.len() > before {
                let last = st[st.len() - 1].to_owned();
                if want(&last) {
                    return last;
                }
                break;
            }
            assert!(
                Instant::now() < deadline,
                "no new status for {rcpt} in 20 s:\n{log}\nqueue: {}",
                String::from_utf8_lossy(
                    &Command::new("/usr/sbin/postqueue")
                        .arg("-c")
                        .arg(&pf.conf)
                        .arg("-j")
                        .output()
                        .unwrap()
                        .stdout
                )
            );
            std::thread::sleep(Duration::from_millis(100));
        }
    }
    panic!(
        "{rcpt}: not the status wanted after 5 retries:\n{}",
        pf.log()
    );
}

#[test]
fn postfix_delivers_over_lmtp_and_bounces_what_msgstore_refuses() {
    if !Path::new(POSTFIX).exists() {
        return skip("Postfix is not installed (/usr/sbin/postfix)");
    }
    if Command::new("python3")
        .arg("-c")
        .arg("import smtplib")
        .output()
        .map(|o| !o.status.success())
        .unwrap_or(true)
    {
        return skip("python3 with smtplib is not installed");
    }
    let is_root = unsafe { libc::geteuid() } == 0;
    let s = Store::new();
    s.run(&["user", "add", "joe", "ann", "full", "bouncer"])
        .ok();
    s.run(&["mailbox", "create", "joe/work"]).ok();
    s.deliver("full", b"Subject: already here\r\n\r\nfills the quota\r\n");
    s.run(&["user", "quota", "full", "10"]).ok();

    // Postfix's daemons run as its mail_owner: they must reach the queue and
    // the socket, so this directory is not the usual private temporary one.
    let tmp = tempfile::tempdir().unwrap();
    let dir = tmp.path().to_path_buf();
    std::fs::set_permissions(&dir, std::fs::Permissions::from_mode(0o755)).unwrap();
    if let Some(closed) = dir.ancestors().skip(1).find(|a| {
        std::fs::metadata(a)
            .map(|m| m.permissions().mode() & 0o001 == 0)
            .unwrap_or(true)
    }) {
        return skip(&format!(
            "Postfix's unprivileged daemons cannot pass {} (no o+x) to reach {}: set TMPDIR",
            closed.display(),
            dir.display()
        ));
    }
    let sock = dir.join("msgstore-lmtp.sock");
    // Postfix's lmtp client is not root: it needs write permission on the
    // socket, which the server gives right after binding it (no chmod here: an
    // administrator would have to redo it at every start).
    let srv = start_msgstore(&s, &sock, None);

    let port = free_port();
    let pf = configure(&dir, port, &sock);
    let started = pf.cmd(&["start"]);
    if !started.status.success() {
        let why = format!(
            "postfix -c {} start failed: {}{}\n{}",
            pf.conf.display(),
            String::from_utf8_lossy(&started.stdout),
            String::from_utf8_lossy(&started.stderr),
            pf.log()
        );
        if !is_root {
            return skip(&format!("not root, and Postfix refuses to run: {why}"));
        }
        panic!("{why}");
    }
    let deadline = Instant::now() + Duration::from_secs(20);
    while std::net::TcpStream::connect(("127.0.0.1", port)).is_err() {
        assert!(
            Instant::now() < deadline,
            "Postfix does not listen on {port}:\n{}",
            pf.log()
        );
        std::thread::sleep(Duration::from_millis(50));
    }

    let mails: Vec<serde_json::Value> = MAILS
        .iter()
        .enumerate()
        .map(|(i, m)| {
            let to: Vec<String> = m.to.iter().map(|l| addr(l)).collect();
            mail(i, &to, m.subject)
        })
        .collect();
    let refused = smtp_send(port, mails, &pf);
    assert_eq!(
        refused,
        serde_json::json!([{}, {}, {}]),
        "Postfix refused at SMTP"
    );

    // Every recipient's fate, and the two bounce notices delivered back to the
    // sender (each through LMTP too): then Postfix has done all it will do.
    let expect: &[(&str, usize)] = &[
        ("joe", 2),
        ("ann", 1),
        ("joe+work", 1),
        ("ann+nosuchfolder", 1),
        ("nobody", 1),
        ("stranger", 1),
        ("full", 1),
    ];
    let deadline = Instant::now() + Duration::from_secs(20);
    let log = loop {
        let log = pf.log();
        let done = expect
            .iter()
            .all(|(u, n)| statuses(&log, &addr(u)).len() >= *n)
            && statuses(&log, &addr("bouncer"))
                .iter()
                .filter(|l| l.contains("status=sent"))
                .count()
                >= 2;
        if done {
            break log;
        }
        assert!(
            Instant::now() < deadline,
            "Postfix did not finish in 20 s:\n{log}"
        );
        std::thread::sleep(Duration::from_millis(100));
    };

    for (u, n) in expect {
        let st = statuses(&log, &addr(u));
        assert_eq!(st.len(), *n, "{u}:\n{log}");
        let want = match *u {
            "nobody" | "stranger" => "dsn=5.1.1, status=bounced",
            "full" => "dsn=5.2.2, status=",
            _ => "dsn=2.0.0, status=sent",
        };
        for l in &st {
            assert!(l.contains(want), "{u}: want {want}: {l}");
            if want.starts_with("dsn=5") {
                // The code is msgstore's, as Postfix heard it at RCPT.
                let code = if *u == "full" {
                    "said: 552 5.2.2"
                } else {
                    "said: 550 5.1.1"
                };
                assert!(l.contains(code), "{u}: {l}");
                assert!(l.contains("in reply to RCPT TO"), "{u}: {l}");
            }
        }
    }
    let full = &statuses(&log, &addr("full"))[0];
    assert!(
        full.contains("status=bounced") || full.contains("status=deferred"),
        "{full}"
    );

    // The store holds exactly what Postfix says it delivered.
    assert_eq!(
        subjects(&s, "joe"),
        vec!["to four and a stranger", "to joe and another stranger"]
    );
    assert_eq!(subjects(&s, "joe/work"), vec!["to four and a stranger"]);
    assert_eq!(
        subjects(&s, "ann"),
        vec!["to a folder that does not exist", "to four and a stranger"]
    );
    assert_eq!(subjects(&s, "full"), vec!["already here"]);
    let lmtp_file = std::fs::read_to_string(s.dir("users/joe/work/1.")).unwrap();
    assert!(
        lmtp_file.starts_with(&format!(
            "Return-Path: <{}>\r\nDelivered-To: {}\r\n",
            addr("bouncer"),
            addr("joe+work")
        )),
        "{lmtp_file}"
    );
    // The bounce notices came back through LMTP, naming msgstore's replies.
    let bounced = std::fs::read_dir(s.dir("users/bouncer"))
        .unwrap()
        .flatten()
        .filter(|e| e.file_name().to_string_lossy().ends_with('.'))
        .map(|e| std::fs::read_to_string(e.path()).unwrap())
        .collect::<Vec<_>>()
        .join("\n");
    assert_eq!(subjects(&s, "bouncer").len(), 2, "{bounced}");
    let mut wants = vec![
        "Return-Path: <>",
        "550 5.1.1 <nobody@msgstore.test>",
        "550 5.1.1 <stranger@msgstore.test>",
    ];
    if full.contains("status=bounced") {
        wants.push("552 5.2.2 <full@msgstore.test>");
    }
    for want in wants {
        assert!(bounced.contains(want), "no {want:?} in\n{bounced}");
    }
    let (code, served) = srv.stop();
    assert_eq!(code, 0, "{served}");
    assert!(served.contains("lmtp"), "{served}");

    // What msgstore cannot take now, Postfix keeps and retries: msgstore down
    // (no socket), then a full disk (452 4.3.1, by msgstore's ENOSPC injection),
    // then delivered.
    let joe = addr("joe");
    let refused = smtp_send(
        port,
        vec![mail(9, std::slice::from_ref(&joe), "retried")],
        &pf,
    );
    assert_eq!(refused, serde_json::json!([{}]));
    let l = retry_until(&pf, &joe, false, |_| true);
    assert!(l.contains("status=deferred"), "msgstore down: {l}");
    let srv = start_msgstore(&s, &sock, Some("enospc-deliver-write"));
    let l = retry_until(&pf, &joe, true, |l| l.contains("said: 452"));
    assert!(
        l.contains("dsn=4.3.1, status=deferred") && l.contains("452 4.3.1"),
        "disk full: {l}"
    );
    let (code, served) = srv.stop();
    assert_eq!(code, 0, "{served}");
    assert_eq!(
        subjects(&s, "joe").len(),
        2,
        "a deferred message was stored"
    );
    let srv = start_msgstore(&s, &sock, None);
    let l = retry_until(&pf, &joe, true, |l| !l.contains("status=deferred"));
    assert!(l.contains("dsn=2.0.0, status=sent"), "room again: {l}");
    assert_eq!(
        subjects(&s, "joe"),
        vec![
            "retried",
            "to four and a stranger",
            "to joe and another stranger"
        ]
    );
    drop(pf);
    let (code, served) = srv.stop();
    assert_eq!(code, 0, "{served}");
}
