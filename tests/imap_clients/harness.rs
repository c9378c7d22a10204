//! What the real-client tests share: a store made with the real binary, a user
//! with a password, `msgstore serve` on a loopback port (optionally with a test
//! certificate), an IMAP session over pipes, the Python to run, and skips that
//! say why.

use std::io::{BufRead, BufReader, Read, Write};
use std::net::TcpStream;
use std::path::{Path, PathBuf};
use std::process::{Child, ChildStdin, Command, Stdio};
use std::sync::mpsc;
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

pub const BIN: &str = env!("CARGO_BIN_EXE_msgstore");

/// This test binary's directory: the scripts and fixtures beside the code.
pub fn here() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("tests/imap_clients")
}

/// Says why a test is skipped, on the real standard error (libtest does not
/// capture it), so every run's output shows `SKIPPED <test>: <why>`.
pub fn skip(why: &str) {
    let name = std::thread::current()
        .name()
        .unwrap_or("an imap client test")
        .to_owned();
    eprintln!("skipping: {why}");
    let _ = writeln!(std::io::stderr(), "\nSKIPPED {name}: {why}");
}

/// A store in a temporary directory with users joe and ann.
pub struct Store {
    _tmp: tempfile::TempDir,
    pub root: PathBuf,
}

pub struct Run {
    pub code: i32,
    pub stdout: String,
    pub stderr: String,
}

impl Store {
    pub fn new() -> Store {
        let tmp = tempfile::tempdir().unwrap();
        let root = tmp.path().join("store");
        let s = Store { _tmp: tmp, root };
        s.ok(&["init"]);
        s.ok(&["user", "add", "joe", "ann"]);
        s
    }

    /// A scratch path beside the store.
    pub fn path(&self, name: &str) -> PathBuf {
        self._tmp.path().join(name)
    }

    pub fn cmd(&self) -> Command {
        let mut c = Command::new(BIN);
        c.arg("--store")
            .arg(&self.root)
            .env_remove("MSGSTORE_ROOT")
            .env_remove("MSGSTORE_FAULT")
            .env("MSGSTORE_LOCK_TIMEOUT", "5");
        c
    }

    pub fn run(&self, args: &[&str], input: &[u8]) -> Run {
        let mut child = self
            .cmd()
            .args(args)
            .stdin(Stdio::piped())
            .stdout(Stdio::piped())
            .stderr(Stdio::piped())
            .spawn()
            .unwrap();
        child.stdin.take().unwrap().write_all(input).unwrap();
        let o = child.wait_with_output().unwrap();
        Run {
            code: o.status.code().unwrap_or(-1),
            stdout: String::from_utf8_lossy(&o.stdout).into_owned(),
            stderr: String::from_utf8_lossy(&o.stderr).into_owned(),
        }
    }

    #[track_caller]
    pub fn ok(&self, args: &[&str]) -> String {
        let r = self.run(args, b"");
        assert_eq!(r.code, 0, "msgstore {args:?}: {}{}", r.stdout, r.stderr);
        r.stdout
    }

    /// Sets a user's password the way `user passwd` will: an Argon2id PHC string
    /// in the user record, through the library. The hash is made with the
    /// smallest costs: a PHC string carries its own, and the tests log in dozens
    /// of times in a debug build, where the default costs take seconds.
    pub fn set_password(&self, user: &str, password: &str) {
        use argon2::password_hash::PasswordHasher;
        let params = argon2::Params::new(8, 1, 1, None).unwrap();
        let phc = argon2::Argon2::new(argon2::Algorithm::Argon2id, argon2::Version::V0x13, params)
            .hash_password_with_salt(password.as_bytes(), b"imap-client-test")
            .unwrap()
            .to_string();
        let store = msgstore::store::Store::open(&self.root).unwrap();
        let db = msgstore::db::users::open_rw(&store).unwrap();
        msgstore::db::users::update(&db, user, |r| r.password = Some(phc)).unwrap();
    }
}

/// A running `msgstore serve --imap 127.0.0.1:PORT`; what it logs is kept.
pub struct Server {
    child: Child,
    pub port: u16,
    log: Arc<Mutex<String>>,
}

/// A self-signed certificate for `localhost` and 127.0.0.1, as PEM files.
pub fn test_certificate(dir: &Path) -> (PathBuf, PathBuf) {
    let c =
        rcgen::generate_simple_self_signed(vec!["localhost".into(), "127.0.0.1".into()]).unwrap();
    let cert = dir.join("cert.pem");
    let key = dir.join("key.pem");
    std::fs::write(&cert, c.cert.pem()).unwrap();
    std::fs::write(&key, c.signing_key.serialize_pem()).unwrap();
    (cert, key)
}

fn free_port() -> u16 {
    std::net::TcpListener::bind("127.0.0.1:0")
        .unwrap()
        .local_addr()
        .unwrap()
        .port()
}

impl Server {
    pub fn start(s: &Store, extra: &[&str]) -> Server {
        let port = free_port();
        let addr = format!("127.0.0.1:{port}");
        let mut child = s
            .cmd()
            .args(["serve", "--imap", &addr])
            .args(extra)
            .stdin(Stdio::null())
            .stdout(Stdio::null())
            .stderr(Stdio::piped())
            .spawn()
            .unwrap();
        let log = Arc::new(Mutex::new(String::new()));
        let mut err = child.stderr.take().unwrap();
        let sink = log.clone();
        std::thread::spawn(move || {
            let mut buf = [0u8; 4096];
            while let Ok(n) = err.read(&mut buf) {
                if n == 0 {
                    break;
                }
                let mut l = sink.lock().unwrap_or_else(|p| p.into_inner());
                l.push_str(&String::from_utf8_lossy(&buf[..n]));
            }
        });
        let deadline = Instant::now() + Duration::from_secs(30);
        while TcpStream::connect(&addr).is_err() {
            if let Ok(Some(st)) = child.try_wait() {
                panic!("serve exited ({st}): {}", log.lock().unwrap());
            }
            assert!(Instant::now() < deadline, "serve did not start listening");
            std::thread::sleep(Duration::from_millis(20));
        }
        Server { child, port, log }
    }

    pub fn log(&self) -> String {
        self.log.lock().unwrap_or_else(|p| p.into_inner()).clone()
    }
}

impl Drop for Server {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

/// A Python 3 that can import `module` (`MSGSTORE_TEST_PYTHON` first, then
/// `python3` on PATH), or `None`.
pub fn python_with(module: &str) -> Option<PathBuf> {
    let mut candidates: Vec<PathBuf> = Vec::new();
    if let Ok(p) = std::env::var("MSGSTORE_TEST_PYTHON") {
        candidates.push(p.into());
    }
    candidates.push("python3".into());
    candidates.into_iter().find(|p| {
        Command::new(p)
            .args(["-c", &format!("import {module}")])
            .stdin(Stdio::null())
            .stdout(Stdio::null())
            .stderr(Stdio::null())
            .status()
            .is_ok_and(|s| s.success())
    })
}

/// Runs a child to its end, killing it past `limit`: (status, stdout, stderr).
pub fn run_bounded(c: &mut Command, limit: Duration) -> (i32, String, String) {
    let mut child = c
        .stdin(Stdio::null())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .unwrap();
    let mut out = child.stdout.take().unwrap();
    let mut err = child.stderr.take().unwrap();
    let t_out = std::thread::spawn(move || {
        let mut v = Vec::new();
        let _ = out.read_to_end(&mut v);
        v
    });
    let t_err = std::thread::spawn(move || {
        let mut v = Vec::new();
        let _ = err.read_to_end(&mut v);
        v
    });
    let deadline = Instant::now() + limit;
    let status = loop {
        if let Some(s) = child.try_wait().unwrap() {
            break s;
        }
        if Instant::now() >= deadline {
            let _ = child.kill();
            let _ = child.wait();
            let e = String::from_utf8_lossy(&t_err.join().unwrap()).into_owned();
            let o = String::from_utf8_lossy(&t_out.join().unwrap()).into_owned();
            panic!("child ran longer than {limit:?}: a hang\nstdout:\n{o}\nstderr:\n{e}");
        }
        std::thread::sleep(Duration::from_millis(20));
    };
    (
        status.code().unwrap_or(-1),
        String::from_utf8_lossy(&t_out.join().unwrap()).into_owned(),
        String::from_utf8_lossy(&t_err.join().unwrap()).into_owned(),
    )
}

/// One IMAP session with a server on the other end of two pipes (`msgstore serve
/// --stdio`, Dovecot's `imap`). A reader thread splits the replies into response
/// lines, each with its literals inline, so every wait has a time limit.
pub struct Pipe {
    child: Child,
    w: ChildStdin,
    rx: mpsc::Receiver<Vec<u8>>,
    n: u32,
    pub greeting: Vec<u8>,
}

/// How long one reply may take.
const REPLY_TIMEOUT: Duration = Duration::from_secs(20);
/// Response lines one command may get (the sessions here give at most hundreds).
const MAX_LINES: usize = 100_000;

/// The bytes of one response line, with its literals, from `r`; `None` at EOF.
fn read_response(r: &mut impl BufRead) -> Option<Vec<u8>> {
    let mut line = Vec::new();
    if r.read_until(b'\n', &mut line).ok()? == 0 {
        return None;
    }
    loop {
        let body = line.strip_suffix(b"\r\n").unwrap_or(&line);
        let Some(open) = body.iter().rposition(|&b| b == b'{') else {
            return Some(line);
        };
        let Some(n) = body
            .strip_suffix(b"}")
            .and_then(|b| std::str::from_utf8(&b[open + 1..]).ok())
            .and_then(|s| s.parse::<usize>().ok())
        else {
            return Some(line);
        };
        let mut data = vec![0u8; n];
        r.read_exact(&mut data).ok()?;
        line.extend_from_slice(&data);
        let mut rest = Vec::new();
        if r.read_until(b'\n', &mut rest).ok()? == 0 {
            return Some(line);
        }
        line.extend_from_slice(&rest);
    }
}

impl Pipe {
    pub fn start(mut c: Command) -> Pipe {
        let mut child = c
            .stdin(Stdio::piped())
            .stdout(Stdio::piped())
            .stderr(Stdio::null())
            .spawn()
            .unwrap();
        let w = child.stdin.take().unwrap();
        let mut r = BufReader::new(child.stdout.take().unwrap());
        let (tx, rx) = mpsc::channel();
        std::thread::spawn(move || {
            while let Some(l) = read_response(&mut r) {
                if tx.send(l).is_err() {
                    break;
                }
            }
        });
        let mut p = Pipe {
            child,
            w,
            rx,
            n: 0,
            greeting: Vec::new(),
        };
        p.greeting = p.next().expect("no greeting");
        p
    }

    fn next(&mut self) -> Option<Vec<u8>> {
        match self.rx.recv_timeout(REPLY_TIMEOUT) {
            Ok(l) => Some(l),
            Err(mpsc::RecvTimeoutError::Disconnected) => None,
            Err(mpsc::RecvTimeoutError::Timeout) => panic!("no reply within {REPLY_TIMEOUT:?}"),
        }
    }

    /// Sends one command (its tag added; `literal`, if any, is sent as a LITERAL+
    /// `{n+}` at the end) and gives every response line up to the tagged one.
    pub fn cmd_with(&mut self, c: &[u8], literal: Option<&[u8]>) -> Vec<Vec<u8>> {
        self.n += 1;
        let tag = format!("t{}", self.n);
        let mut line = format!("{tag} ").into_bytes();
        line.extend_from_slice(c);
        if let Some(l) = literal {
            line.extend_from_slice(format!(" {{{}+}}\r\n", l.len()).as_bytes());
            line.extend_from_slice(l);
        }
        line.extend_from_slice(b"\r\n");
        self.w.write_all(&line).unwrap();
        self.w.flush().unwrap();
        let mut out = Vec::new();
        let prefix = format!("{tag} ").into_bytes();
        while let Some(l) = self.next() {
            let done = l.starts_with(&prefix);
            out.push(l);
            if done {
                return out;
            }
            assert!(
                out.len() < MAX_LINES,
                "{MAX_LINES} lines and no tagged reply"
            );
        }
        out.push(b"<connection closed>".to_vec());
        out
    }

    pub fn cmd(&mut self, c: &str) -> Vec<Vec<u8>> {
        self.cmd_with(c.as_bytes(), None)
    }
}

impl Drop for Pipe {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}
