//! `msgstore serve` end to end, with a minimal IMAP client written here: the
//! server's own guarantees (sessions see each other's and the CLI's changes,
//! reconstruct of a selected mailbox, SIGTERM, connection limits, hostile names).
//! Real clients are tested in their own files.

use crate::util::{BIN, Store};
use std::io::{BufRead, BufReader, Read, Write};
use std::net::TcpStream;
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

/// A running `msgstore serve --imap 127.0.0.1:PORT`.
pub struct Server {
    pub child: Child,
    pub port: u16,
}

impl Server {
    pub fn start(s: &Store, extra: &[&str]) -> Server {
        let port = free_port();
        let addr = format!("127.0.0.1:{port}");
        let child = s
            .cmd()
            .args(["serve", "--imap", &addr])
            .args(extra)
            .stdin(Stdio::null())
            .stdout(Stdio::null())
            .stderr(Stdio::piped())
            .spawn()
            .unwrap();
        let deadline = Instant::now() + Duration::from_secs(20);
        while TcpStream::connect(&addr).is_err() {
            assert!(Instant::now() < deadline, "server did not start");
            std::thread::sleep(Duration::from_millis(20));
        }
        Server { child, port }
    }

    pub fn connect(&self) -> Client {
        let s = TcpStream::connect(("127.0.0.1", self.port)).unwrap();
        s.set_read_timeout(Some(Duration::from_secs(20))).unwrap();
        let mut c = Client {
            r: BufReader::new(s.try_clone().unwrap()),
            w: s,
            n: 0,
        };
        let greeting = c.line();
        assert!(greeting.starts_with("* OK"), "{greeting}");
        c
    }

    /// SIGTERM, then the exit status and what the server logged.
    pub fn stop(mut self) -> (i32, String) {
        unsafe { libc::kill(self.child.id() as i32, libc::SIGTERM) };
        let deadline = Instant::now() + Duration::from_secs(20);
        loop {
            if let Some(st) = self.child.try_wait().unwrap() {
                let mut err = String::new();
                if let Some(mut e) = self.child.stderr.take() {
                    let _ = e.read_to_string(&mut err);
                }
                return (st.code().unwrap_or(-1), err);
            }
            assert!(Instant::now() < deadline, "server did not stop");
            std::thread::sleep(Duration::from_millis(20));
        }
    }
}

impl Drop for Server {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

fn free_port() -> u16 {
    std::net::TcpListener::bind("127.0.0.1:0")
        .unwrap()
        .local_addr()
        .unwrap()
        .port()
}

pub struct Client {
    r: BufReader<TcpStream>,
    w: TcpStream,
    n: u32,
}

impl Client {
    /// One line, without CRLF (literals are read as part of their line).
    pub fn line(&mut self) -> String {
        let mut l = Vec::new();
        self.r.read_until(b'\n', &mut l).unwrap();
        let mut s = String::from_utf8_lossy(&l).into_owned();
        // A literal: read its bytes and the rest of the line.
        while let Some(n) = s
            .trim_end()
            .strip_suffix('}')
            .and_then(|x| x.rsplit_once('{'))
            .and_then(|(_, n)| n.parse::<usize>().ok())
        {
            let mut data = vec![0; n];
            self.r.read_exact(&mut data).unwrap();
            s.push_str(&String::from_utf8_lossy(&data));
            let mut rest = Vec::new();
            self.r.read_until(b'\n', &mut rest).unwrap();
            s.push_str(&String::from_utf8_lossy(&rest));
        }
        s.trim_end_matches(['\r', '\n']).to_owned()
    }

    pub fn send(&mut self, raw: &str) {
        self.w.write_all(raw.as_bytes()).unwrap();
    }

    pub fn w_raw(&mut self, raw: &[u8]) {
        self.w.write_all(raw).unwrap();
    }

    /// Runs a command; gives the untagged lines and the tagged one.
    pub fn cmd(&mut self, c: &str) -> (Vec<String>, String) {
        self.n += 1;
        let tag = format!("t{}", self.n);
        self.send(&format!("{tag} {c}\r\n"));
        let mut untagged = Vec::new();
        loop {
            let l = self.line();
            if l.starts_with(&format!("{tag} ")) {
                return (untagged, l);
            }
            assert!(!l.is_empty(), "connection closed during {c}");
            untagged.push(l);
        }
    }

    #[track_caller]
    pub fn ok(&mut self, c: &str) -> Vec<String> {
        let (u, t) = self.cmd(c);
        assert!(t.contains(" OK"), "{c}: {t}\n{u:#?}");
        u
    }
}

fn msg(i: u32) -> Vec<u8> {
    format!(
        "From: a{i}@example.org\r\nTo: joe@example.org\r\nSubject: message {i}\r\nMessage-ID: <{i}@example.org>\r\nDate: Tue, 1 Dec 2026 10:00:00 +0000\r\n\r\nBody {i}\r\n"
    )
    .into_bytes()
}

pub fn set_password(s: &Store, user: &str, pw: &str) {
    s.run_stdin(&["user", "passwd", user], format!("{pw}\n").as_bytes())
        .ok();
}

fn store_with_joe(n: u32) -> Store {
    let s = Store::new();
    s.run(&["user", "add", "joe", "ann"]).ok();
    for i in 1..=n {
        s.deliver("joe", &msg(i));
    }
    s.deliver("ann", &msg(100));
    set_password(&s, "joe", "secret");
    set_password(&s, "ann", "secret2");
    s
}

fn login(srv: &Server, user: &str, pw: &str) -> Client {
    let mut c = srv.connect();
    c.ok(&format!("LOGIN {user} {pw}"));
    c
}

#[test]
fn sessions_and_the_cli_see_each_others_changes() {
    let s = store_with_joe(3);
    let srv = Server::start(&s, &[]);
    let mut a = login(&srv, "joe", "secret");
    let mut b = login(&srv, "joe", "secret");
    let sel = a.ok("SELECT INBOX");
    assert!(sel.contains(&"* 3 EXISTS".to_owned()), "{sel:#?}");
    b.ok("SELECT INBOX");

    // A's flag change reaches B at its next command.
    a.ok("UID STORE 2 +FLAGS (\\Flagged)");
    let u = b.ok("NOOP");
    assert!(
        u.iter()
            .any(|l| l.starts_with("* 2 FETCH") && l.contains("\\Flagged")),
        "{u:#?}"
    );

    // A CLI delivery and a CLI expunge while both have the mailbox selected.
    s.deliver("joe", &msg(4));
    s.run(&["expunge", "joe", "1"]).ok();
    let u = a.ok("NOOP");
    assert!(u.contains(&"* 1 EXPUNGE".to_owned()), "{u:#?}");
    assert!(u.iter().any(|l| l.ends_with(" EXISTS")), "{u:#?}");
    let u = b.ok("UID FETCH 1:* (UID)");
    // B learns of the expunge only after the UID FETCH (allowed for UID commands).
    let uids: Vec<&String> = u.iter().filter(|l| l.contains("FETCH (UID")).collect();
    assert_eq!(uids.len(), 3, "{u:#?}");
    assert!(u.contains(&"* 1 EXPUNGE".to_owned()), "{u:#?}");

    // B in IDLE hears of a CLI delivery within a second or so.
    b.send("i1 IDLE\r\n");
    assert!(b.line().starts_with("+ "));
    let t = Instant::now();
    s.deliver("joe", &msg(5));
    let l = b.line();
    assert!(l.ends_with(" EXISTS"), "{l}");
    assert!(
        t.elapsed() < Duration::from_millis(1500),
        "{:?}",
        t.elapsed()
    );
    b.send("DONE\r\n");
    loop {
        let l = b.line();
        if l.starts_with("i1 ") {
            assert!(l.contains("OK"), "{l}");
            break;
        }
    }
    a.ok("LOGOUT");
    b.ok("LOGOUT");
    let (code, log) = srv.stop();
    assert_eq!(code, 0, "{log}");
    assert!(log.contains("joe: login"), "{log}");
    assert!(!log.contains("secret"), "a password in the log: {log}");
}

#[test]
fn reconstruct_of_a_selected_mailbox_keeps_uids_and_updates_the_session() {
    let s = store_with_joe(5);
    let srv = Server::start(&s, &[]);
    let mut a = login(&srv, "joe", "secret");
    a.ok("SELECT INBOX");
    a.ok("UID STORE 3 +FLAGS (\\Seen)");
    let before = a.ok("UID FETCH 1:* (UID FLAGS BODY.PEEK[HEADER.FIELDS (Message-ID)])");
    // The index is lost; reconstruct rebuilds it from the files.
    std::fs::remove_file(s.dir("users/joe/msgstore.index")).unwrap();
    s.run(&["reconstruct", "joe"]).ok();
    let after = a.ok("UID FETCH 1:* (UID BODY.PEEK[HEADER.FIELDS (Message-ID)])");
    let ids = |v: &[String]| -> Vec<String> {
        v.iter()
            .filter(|l| l.contains("FETCH (UID"))
            .map(|l| {
                let uid = l
                    .split("UID ")
                    .nth(1)
                    .unwrap()
                    .split(' ')
                    .next()
                    .unwrap()
                    .to_owned();
                let id = l
                    .split("Message-ID: ")
                    .nth(1)
                    .unwrap_or("")
                    .split('\r')
                    .next()
                    .unwrap_or("")
                    .to_owned();
                format!("{uid}={id}")
            })
            .collect()
    };
    assert_eq!(ids(&before), ids(&after), "a UID names other content");
    a.ok("LOGOUT");
}

#[test]
fn another_users_mailbox_is_exactly_a_nonexistent_one() {
    let s = store_with_joe(1);
    s.run(&["mailbox", "create", "ann/private"]).ok();
    let srv = Server::start(&s, &[]);
    let mut c = login(&srv, "joe", "secret");
    let nonexistent = c.cmd("SELECT nosuchbox").1;
    let shape = |t: &str| {
        t.split_once(' ')
            .map(|x| x.1.to_owned())
            .unwrap_or_default()
    };
    for name in [
        "\"Other Users/ann\"",
        "\"Other Users/ann/private\"",
        "\"other users/ann\"",
        "\"Other Users/joe\"",
        "../ann",
        "\"INBOX/../../ann\"",
        "\"Public Folders/../users/ann\"",
        "\"%2e%2e/ann\"",
    ] {
        let t = c.cmd(&format!("SELECT {name}")).1;
        assert_eq!(shape(&t), shape(&nonexistent), "{name}");
        let t = c.cmd(&format!("STATUS {name} (MESSAGES)")).1;
        assert!(t.contains("NO [NONEXISTENT]"), "{name}: {t}");
        let t = c.cmd(&format!("DELETE {name}")).1;
        assert!(t.contains("NO [NONEXISTENT]"), "{name}: {t}");
    }
    let (u, _) = c.cmd("LIST \"\" *");
    assert!(u.iter().all(|l| !l.contains("ann")), "{u:#?}");
    let (u, _) = c.cmd("LIST \"Other Users/\" *");
    assert!(u.is_empty(), "{u:#?}");
    // Ann's mail is untouched.
    assert_eq!(s.contents("ann").len(), 1);
    c.ok("LOGOUT");
}

#[test]
fn failed_logins_are_refused_alike_and_slowly() {
    let s = store_with_joe(1);
    let srv = Server::start(&s, &[]);
    let mut c = srv.connect();
    let t = Instant::now();
    let wrong = c.cmd("LOGIN joe wrong").1;
    assert!(
        t.elapsed() >= Duration::from_millis(1900),
        "{:?}",
        t.elapsed()
    );
    let unknown = c.cmd("LOGIN nobody wrong").1;
    let strip = |t: &str| {
        t.split_once(' ')
            .map(|x| x.1.to_owned())
            .unwrap_or_default()
    };
    assert_eq!(strip(&wrong), strip(&unknown));
    assert!(wrong.contains("NO [AUTHENTICATIONFAILED]"), "{wrong}");
}

#[test]
fn sigterm_says_bye_to_every_session_and_exits_0() {
    let s = store_with_joe(1);
    let srv = Server::start(&s, &[]);
    let mut a = login(&srv, "joe", "secret");
    a.ok("SELECT INBOX");
    let mut b = srv.connect();
    unsafe { libc::kill(srv.child.id() as i32, libc::SIGTERM) };
    assert!(a.line().starts_with("* BYE"));
    assert!(b.line().starts_with("* BYE"));
    let (code, _) = srv.stop();
    assert_eq!(code, 0);
}

#[test]
fn connections_beyond_the_limit_are_told_bye() {
    let s = store_with_joe(1);
    let srv = Server::start(&s, &["--max-per-address", "2"]);
    let _a = srv.connect();
    let _b = srv.connect();
    let s3 = TcpStream::connect(("127.0.0.1", srv.port)).unwrap();
    s3.set_read_timeout(Some(Duration::from_secs(10))).unwrap();
    let mut l = String::new();
    BufReader::new(s3).read_line(&mut l).unwrap();
    assert!(l.starts_with("* BYE Too many connections"), "{l}");
}

#[test]
fn stdio_sessions_are_preauthenticated_and_refuse_unknown_users() {
    let s = store_with_joe(2);
    let mut child = Command::new(BIN)
        .args(["--store"])
        .arg(&s.root)
        .args(["serve", "--stdio", "--user", "joe"])
        .stdin(Stdio::piped())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .unwrap();
    child
        .stdin
        .take()
        .unwrap()
        .write_all(b"a SELECT INBOX\r\nb LOGOUT\r\n")
        .unwrap();
    let out = child.wait_with_output().unwrap();
    let text = String::from_utf8_lossy(&out.stdout);
    assert!(text.starts_with("* PREAUTH"), "{text}");
    assert!(text.contains("* 2 EXISTS"), "{text}");
    assert!(text.contains("b OK"), "{text}");
    s.run(&["serve", "--stdio", "--user", "nobody"]).code(2);
}

#[test]
fn an_lmtp_delivery_reaches_a_session_in_idle_at_once() {
    let s = store_with_joe(1);
    let sock = s.root.parent().unwrap().join("lmtp.sock");
    let lmtp = format!("unix:{}", sock.display());
    let srv = Server::start(&s, &["--lmtp", &lmtp]);
    let mut a = login(&srv, "joe", "secret");
    a.ok("SELECT INBOX");
    a.send("i1 IDLE\r\n");
    assert!(a.line().starts_with("+ "));

    let u = std::os::unix::net::UnixStream::connect(&sock).unwrap();
    u.set_read_timeout(Some(Duration::from_secs(20))).unwrap();
    let mut r = BufReader::new(u.try_clone().unwrap());
    let mut w = u;
    // A multi-line reply ends with the line whose code is followed by a space.
    let reply = |r: &mut BufReader<std::os::unix::net::UnixStream>| loop {
        let mut l = String::new();
        r.read_line(&mut l).unwrap();
        if l.len() < 4 || l.as_bytes()[3] == b' ' {
            return l;
        }
    };
    assert!(reply(&mut r).starts_with("220 "));
    w.write_all(b"LHLO test\r\n").unwrap();
    assert!(reply(&mut r).starts_with("250 "));
    w.write_all(b"MAIL FROM:<a@example.org>\r\nRCPT TO:<joe@example.org>\r\nRCPT TO:<nobody@example.org>\r\nDATA\r\n")
        .unwrap();
    assert!(reply(&mut r).starts_with("250 "));
    assert!(reply(&mut r).starts_with("250 "));
    assert!(reply(&mut r).starts_with("550 5.1.1"));
    assert!(reply(&mut r).starts_with("354 "));
    let t = Instant::now();
    w.write_all(b"Subject: by lmtp\r\n\r\nhello\r\n.\r\n")
        .unwrap();
    assert!(reply(&mut r).starts_with("250 "));
    let l = a.line();
    assert!(l.ends_with(" EXISTS"), "{l}");
    // In-process: no poller round to wait for.
    assert!(
        t.elapsed() < Duration::from_millis(350),
        "{:?}",
        t.elapsed()
    );
    w.write_all(b"QUIT\r\n").unwrap();
    a.send("DONE\r\n");
    assert!(s.contents("joe").len() == 2);
    let (code, log) = srv.stop();
    assert_eq!(code, 0, "{log}");
    assert!(log.contains("lmtp"), "{log}");
}
