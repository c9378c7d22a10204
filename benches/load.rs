//! The load benchmark of the server: `cargo bench --bench load -- MODE [OPTIONS]`.
//!
//! Builds a store, starts the release `msgstore serve --imap 127.0.0.1:PORT --lmtp
//! unix:PATH` on it (loopback and a unix socket only), and drives it from this
//! process (tokio, two worker threads: a task per session, so the harness is not
//! the bottleneck; its own RLIMIT_NOFILE is raised to the hard limit).
//!
//! `idle`: `--sessions N` sessions [5000], each logged in as its own user, SELECT
//! INBOX, IDLE; then an LMTP client (`--lmtp-conns` connections [4]) delivers
//! `--rate R` messages a second [50] to random users for `--minutes M` [10]. Every
//! session must hear of each of its new messages (`* n EXISTS`). Reported: the
//! notification latency from the LMTP `250` to the `EXISTS` (p50, p99, max), the
//! notifications missed (must be 0), the LMTP latency, and the server's VmRSS and
//! VmHWM (`/proc/PID/status`) before the sessions, with all of them idle, and at the
//! end, with the memory per session. Goal: p99 under 1 s, under 1 GB for 5,000.
//!
//! `active`: `--sessions N` sessions [200] on `--per-mailbox K` sessions per mailbox
//! [4] (so N/K users, each INBOX filled with `--messages P` messages [40]) loop over
//! UID FETCH, UID STORE, UID SEARCH and APPEND for `--minutes M` [3] while
//! `msgstore reconstruct -r` runs every `--reconstruct-every S` seconds [30]. Checked:
//! a UID once seen always names the same Message-ID (one UID -> Message-ID model per
//! mailbox, fed by APPENDUID, FETCH and SEARCH), no error but the documented busy
//! answer, every acknowledged APPEND is present at the end, every reconstruct ends
//! (and its exit status). Reported: ops/s and latency p50/p99 per command, and the
//! reconstruct durations.
//!
//! Common options: `--dir DIR` (where the store is built; default a new directory
//! under /tmp, removed at the end unless `--keep`; an idle store already in DIR with
//! enough users is reused), `--bin PATH` (another msgstore binary), `--seed S`,
//! `--login-parallel L` (logins in flight at once [4]), `--seconds S` (instead of
//! `--minutes`).
//!
//! Passwords: every user gets the same Argon2id PHC string, hashed once with the
//! server's own parameters (`ops::user::hash_password`) and written to the user
//! database in one transaction, so a login costs what it costs in production.
//!
//! Exit status: 0 when every check passed and the goals were met, 1 otherwise.

use std::collections::HashMap;
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::sync::atomic::{AtomicBool, AtomicU64, AtomicUsize, Ordering};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};
use tokio::io::{AsyncBufReadExt, AsyncReadExt, AsyncWriteExt, BufReader};

const USAGE: &str = "usage: cargo bench --bench load -- idle|active [--sessions N] [--rate R] \
[--minutes M | --seconds S] [--lmtp-conns C] [--per-mailbox K] [--messages P] \
[--reconstruct-every S] [--login-parallel L] [--dir DIR] [--keep] [--bin PATH] [--seed S]";

const PASSWORD: &str = "load-bench-password";
/// Longest wait for any one reply of the server.
const REPLY_TIMEOUT: Duration = Duration::from_secs(120);
/// Largest response read (a FETCH of one mailbox's Message-IDs fits many times).
const MAX_RESPONSE: usize = 64 << 20;

#[derive(Clone, Copy, PartialEq, Eq, Debug)]
enum Mode {
    Idle,
    Active,
}

struct Opts {
    mode: Mode,
    sessions: usize,
    rate: f64,
    secs: f64,
    lmtp_conns: usize,
    per_mailbox: usize,
    messages: usize,
    reconstruct_every: f64,
    login_parallel: usize,
    dir: Option<PathBuf>,
    keep: bool,
    bin: PathBuf,
    seed: u64,
}

fn die(msg: &str) -> ! {
    eprintln!("load: {msg}");
    std::process::exit(2)
}

fn parse_args() -> Opts {
    let args: Vec<String> = std::env::args().skip(1).collect();
    let mut mode = None;
    let mut o = Opts {
        mode: Mode::Idle,
        sessions: 0,
        rate: 50.0,
        secs: 0.0,
        lmtp_conns: 4,
        per_mailbox: 4,
        messages: 40,
        reconstruct_every: 30.0,
        login_parallel: 4,
        dir: None,
        keep: false,
        bin: PathBuf::from(env!("CARGO_BIN_EXE_msgstore")),
        seed: 1,
    };
    let mut i = 0;
    let value = |i: &mut usize| -> String {
        *i += 1;
        args.get(*i).cloned().unwrap_or_else(|| die(USAGE))
    };
    fn num<T: std::str::FromStr>(s: &str) -> T {
        s.parse()
            .unwrap_or_else(|_| die(&format!("{s}: not a number\n{USAGE}")))
    }
    while i < args.len() {
        match args[i].as_str() {
            "--bench" => {} // cargo bench passes it
            "idle" => mode = Some(Mode::Idle),
            "active" => mode = Some(Mode::Active),
            "--sessions" => o.sessions = num(&value(&mut i)),
            "--rate" => o.rate = num(&value(&mut i)),
            "--minutes" => o.secs = num::<f64>(&value(&mut i)) * 60.0,
            "--seconds" => o.secs = num(&value(&mut i)),
            "--lmtp-conns" => o.lmtp_conns = num(&value(&mut i)),
            "--per-mailbox" => o.per_mailbox = num(&value(&mut i)),
            "--messages" => o.messages = num(&value(&mut i)),
            "--reconstruct-every" => o.reconstruct_every = num(&value(&mut i)),
            "--login-parallel" => o.login_parallel = num(&value(&mut i)),
            "--dir" => o.dir = Some(PathBuf::from(value(&mut i))),
            "--keep" => o.keep = true,
            "--bin" => o.bin = PathBuf::from(value(&mut i)),
            "--seed" => o.seed = num(&value(&mut i)),
            "-h" | "--help" => {
                println!("{USAGE}");
                std::process::exit(0)
            }
            other => die(&format!("{other}: unknown argument\n{USAGE}")),
        }
        i += 1;
    }
    o.mode = mode.unwrap_or_else(|| die(&format!("say idle or active\n{USAGE}")));
    if o.sessions == 0 {
        o.sessions = if o.mode == Mode::Idle { 5000 } else { 200 };
    }
    if o.secs <= 0.0 {
        o.secs = if o.mode == Mode::Idle { 600.0 } else { 180.0 };
    }
    if o.rate <= 0.0 || o.lmtp_conns == 0 || o.per_mailbox == 0 || o.login_parallel == 0 {
        die("--rate, --lmtp-conns, --per-mailbox and --login-parallel must be positive");
    }
    if o.reconstruct_every < 1.0 {
        die("--reconstruct-every must be at least 1 second");
    }
    o
}

/// A small deterministic generator (xorshift64*), one per task.
struct Rng(u64);

impl Rng {
    fn new(seed: u64) -> Rng {
        Rng(seed.wrapping_mul(0x9E37_79B9_7F4A_7C15) | 1)
    }
    fn next(&mut self) -> u64 {
        self.0 ^= self.0 >> 12;
        self.0 ^= self.0 << 25;
        self.0 ^= self.0 >> 27;
        self.0.wrapping_mul(0x2545_F491_4F6C_DD1D)
    }
    fn below(&mut self, n: usize) -> usize {
        (self.next() % n.max(1) as u64) as usize
    }
}

fn raise_fd_limit() {
    let mut r = libc::rlimit {
        rlim_cur: 0,
        rlim_max: 0,
    };
    // SAFETY: getrlimit and setrlimit only read and write the struct given.
    unsafe {
        if libc::getrlimit(libc::RLIMIT_NOFILE, &mut r) == 0 {
            r.rlim_cur = r.rlim_max;
            libc::setrlimit(libc::RLIMIT_NOFILE, &r);
            libc::getrlimit(libc::RLIMIT_NOFILE, &mut r);
        }
    }
    println!("load: RLIMIT_NOFILE {}", r.rlim_cur);
}

fn user_name(i: usize) -> String {
    format!("u{i:05}")
}

fn message(seq: u64, to: &str, tag: &str) -> String {
    format!(
        "From: Load <load@bench.test>\r\nTo: {to}@bench.test\r\nSubject: {tag} {seq}\r\n\
         Message-ID: <{tag}-{seq}@bench.test>\r\nDate: Tue, 1 Dec 2026 12:00:00 +0000\r\n\
         MIME-Version: 1.0\r\nContent-Type: text/plain; charset=us-ascii\r\n\r\n\
         Message {seq} of the load benchmark.\r\nA second line, so there is a body.\r\n"
    )
}

// ---------------------------------------------------------------- the store

/// Makes (or reuses) a store with `users` users, all with the benchmark's password.
fn build_store(store: &msgstore::store::Store, users: usize) -> Result<(), String> {
    use msgstore::db::users;
    let t = Instant::now();
    let have = if store.root().join("users.redb").exists() {
        users::list(store).map_err(|e| e.to_string())?.len()
    } else {
        msgstore::ops::init(store).map_err(|e| e.to_string())?;
        0
    };
    if have > users {
        return Err(format!(
            "{}: has {have} users, more than the {users} asked for; give another --dir",
            store.root().display()
        ));
    }
    if have == users {
        println!("load: reusing the store's {users} users");
        return Ok(());
    }
    let names: Vec<String> = (have..users).map(user_name).collect();
    for chunk in names.chunks(1000) {
        msgstore::ops::user::add(store, chunk).map_err(|e| e.to_string())?;
    }
    let phc = msgstore::ops::user::hash_password(PASSWORD.as_bytes()).map_err(|e| e.to_string())?;
    let mut all = users::list(store).map_err(|e| e.to_string())?;
    for (_, r) in &mut all {
        r.password = Some(phc.clone());
    }
    let db = users::open_rw(store).map_err(|e| e.to_string())?;
    users::replace_all(&db, &all).map_err(|e| e.to_string())?;
    println!(
        "load: {} users made with their INBOX and password in {:.1} s",
        names.len(),
        t.elapsed().as_secs_f64()
    );
    Ok(())
}

/// Fills each user's INBOX with `n` messages (the active run's starting point).
fn fill_store(store: &msgstore::store::Store, users: usize, n: usize) -> Result<(), String> {
    use msgstore::ops::{OpenMailbox, deliver, open::Append};
    for u in 0..users {
        let name = user_name(u);
        let mut batch = Vec::new();
        for k in 0..n {
            let raw = message(k as u64, &name, &format!("seed-{name}"));
            let p = deliver::prepare(&format!("seed {k}"), raw.as_bytes())
                .map_err(|e| e.to_string())?;
            batch.push(Append::new(p));
        }
        OpenMailbox::open(store, &name)
            .and_then(|m| m.append(batch))
            .map_err(|e| format!("{name}: {e}"))?;
    }
    Ok(())
}

// ---------------------------------------------------------------- the server

struct Server {
    child: Child,
    imap: String,
    lmtp: PathBuf,
    log: PathBuf,
}

fn free_port() -> u16 {
    std::net::TcpListener::bind("127.0.0.1:0")
        .and_then(|l| l.local_addr())
        .map(|a| a.port())
        .unwrap_or_else(|e| die(&format!("no free loopback port: {e}")))
}

fn start_server(bin: &Path, store: &Path, dir: &Path, conns: usize) -> Server {
    let imap = format!("127.0.0.1:{}", free_port());
    let lmtp = dir.join("lmtp.sock");
    let _ = std::fs::remove_file(&lmtp);
    let log = dir.join("serve.log");
    let err = std::fs::File::create(&log).unwrap_or_else(|e| die(&format!("{e}")));
    let limit = (conns + 100).to_string();
    let mut child = Command::new(bin)
        .arg("--store")
        .arg(store)
        .args(["serve", "--imap", &imap, "--lmtp"])
        .arg(format!("unix:{}", lmtp.display()))
        .args(["--max-connections", &limit, "--max-per-address", &limit])
        .stdin(Stdio::null())
        .stdout(Stdio::null())
        .stderr(err)
        .spawn()
        .unwrap_or_else(|e| die(&format!("{}: cannot start: {e}", bin.display())));
    let t = Instant::now();
    while t.elapsed() < Duration::from_secs(30) {
        if std::net::TcpStream::connect(&imap).is_ok() && lmtp.exists() {
            return Server {
                child,
                imap,
                lmtp,
                log,
            };
        }
        std::thread::sleep(Duration::from_millis(50));
    }
    let _ = child.kill();
    let _ = child.wait();
    die(&format!(
        "the server did not listen within 30 s; see {}",
        log.display()
    ))
}

impl Server {
    fn pid(&self) -> u32 {
        self.child.id()
    }

    /// SIGTERM, then the time it took to exit (SIGKILL after 60 s).
    fn stop(mut self) -> (Duration, Option<i32>) {
        let t = Instant::now();
        // SAFETY: kill(2) on our own child's pid.
        unsafe { libc::kill(self.child.id() as libc::pid_t, libc::SIGTERM) };
        while t.elapsed() < Duration::from_secs(60) {
            if let Ok(Some(st)) = self.child.try_wait() {
                return (t.elapsed(), st.code());
            }
            std::thread::sleep(Duration::from_millis(20));
        }
        let _ = self.child.kill();
        let _ = self.child.wait();
        (t.elapsed(), None)
    }
}

/// VmRSS and VmHWM of `pid`, in KiB.
fn memory(pid: u32) -> (u64, u64) {
    let s = std::fs::read_to_string(format!("/proc/{pid}/status")).unwrap_or_default();
    let field = |k: &str| {
        s.lines()
            .find_map(|l| l.strip_prefix(k))
            .and_then(|v| v.trim().trim_end_matches("kB").trim().parse().ok())
            .unwrap_or(0)
    };
    (field("VmRSS:"), field("VmHWM:"))
}

/// The `Threads:` of `pid` (the blocking pool's size shows in it).
fn thread_count(pid: u32) -> u64 {
    std::fs::read_to_string(format!("/proc/{pid}/status"))
        .unwrap_or_default()
        .lines()
        .find_map(|l| l.strip_prefix("Threads:"))
        .and_then(|v| v.trim().parse().ok())
        .unwrap_or(0)
}

fn mib(kib: u64) -> String {
    format!("{:.1} MiB", kib as f64 / 1024.0)
}

// ---------------------------------------------------------------- IMAP client

struct Imap {
    r: BufReader<tokio::net::tcp::OwnedReadHalf>,
    w: tokio::net::tcp::OwnedWriteHalf,
    tag: u64,
}

/// One tagged reply: its status word and the whole line.
struct Reply {
    ok: bool,
    line: String,
}

async fn timed<T>(
    what: &str,
    f: impl std::future::Future<Output = std::io::Result<T>>,
) -> Result<T, String> {
    match tokio::time::timeout(REPLY_TIMEOUT, f).await {
        Ok(Ok(v)) => Ok(v),
        Ok(Err(e)) => Err(format!("{what}: {e}")),
        Err(_) => Err(format!(
            "{what}: no reply within {} s",
            REPLY_TIMEOUT.as_secs()
        )),
    }
}

/// The literal length a line ends with (`{n}` or `{n+}` then CRLF).
fn literal_at_end(line: &[u8]) -> Option<usize> {
    let l = line.strip_suffix(b"\r\n")?.strip_suffix(b"}")?;
    let l = l.strip_suffix(b"+").unwrap_or(l);
    let open = l.iter().rposition(|&b| b == b'{')?;
    std::str::from_utf8(&l[open + 1..]).ok()?.parse().ok()
}

impl Imap {
    async fn connect(addr: &str) -> Result<Imap, String> {
        let s = timed("connect", tokio::net::TcpStream::connect(addr)).await?;
        let _ = s.set_nodelay(true);
        let (r, w) = s.into_split();
        let mut c = Imap {
            r: BufReader::new(r),
            w,
            tag: 0,
        };
        let g = c.response().await?;
        if !g.starts_with(b"* OK") {
            return Err(format!("greeting: {}", String::from_utf8_lossy(&g)));
        }
        Ok(c)
    }

    /// One response, literals included.
    async fn response(&mut self) -> Result<Vec<u8>, String> {
        let mut out = Vec::new();
        loop {
            let start = out.len();
            let n = timed("read", self.r.read_until(b'\n', &mut out)).await?;
            if n == 0 {
                return Err("the server closed the connection".into());
            }
            if out.len() > MAX_RESPONSE {
                return Err("a response larger than 64 MiB".into());
            }
            match literal_at_end(&out[start..]) {
                Some(len) if out.len() + len <= MAX_RESPONSE => {
                    let at = out.len();
                    out.resize(at + len, 0);
                    timed("read literal", self.r.read_exact(&mut out[at..])).await?;
                }
                Some(_) => return Err("a literal larger than 64 MiB".into()),
                None => return Ok(out),
            }
        }
    }

    async fn send(&mut self, bytes: &[u8]) -> Result<(), String> {
        timed("write", self.w.write_all(bytes)).await
    }

    /// Sends a command (`{tag} ` is put in front) and reads up to its tagged reply;
    /// every untagged response goes to `untagged`.
    async fn command(
        &mut self,
        cmd: &[u8],
        untagged: &mut (dyn FnMut(&[u8]) + Send),
    ) -> Result<Reply, String> {
        self.tag += 1;
        let tag = format!("t{}", self.tag);
        let mut bytes = Vec::with_capacity(cmd.len() + 16);
        bytes.extend_from_slice(tag.as_bytes());
        bytes.push(b' ');
        bytes.extend_from_slice(cmd);
        bytes.extend_from_slice(b"\r\n");
        self.send(&bytes).await?;
        loop {
            let r = self.response().await?;
            if r.starts_with(b"* BYE") {
                return Err(format!("BYE: {}", String::from_utf8_lossy(&r).trim_end()));
            }
            if let Some(rest) = r
                .strip_prefix(tag.as_bytes())
                .and_then(|x| x.strip_prefix(b" "))
            {
                return Ok(Reply {
                    ok: rest.starts_with(b"OK"),
                    line: String::from_utf8_lossy(&r).trim_end().to_owned(),
                });
            }
            untagged(&r);
        }
    }

    async fn login(&mut self, user: &str) -> Result<(), String> {
        let r = self
            .command(format!("LOGIN {user} {PASSWORD}").as_bytes(), &mut |_| {})
            .await?;
        if r.ok { Ok(()) } else { Err(r.line) }
    }
}

/// `* n WORD` -> (n, rest after the word's space) when WORD matches.
fn untagged_number<'a>(r: &'a [u8], word: &[u8]) -> Option<(u32, &'a [u8])> {
    let rest = r.strip_prefix(b"* ")?;
    let sp = rest.iter().position(|&b| b == b' ')?;
    let n = std::str::from_utf8(&rest[..sp]).ok()?.parse().ok()?;
    let after = &rest[sp + 1..];
    let w = after.get(..word.len())?;
    if !w.eq_ignore_ascii_case(word) {
        return None;
    }
    let tail = &after[word.len()..];
    if !(tail.is_empty() || tail[0] == b' ' || tail[0] == b'\r') {
        return None;
    }
    Some((n, tail))
}

fn find(h: &[u8], n: &[u8]) -> Option<usize> {
    h.windows(n.len()).position(|w| w.eq_ignore_ascii_case(n))
}

fn number_after(h: &[u8], key: &[u8]) -> Option<u64> {
    let at = find(h, key)? + key.len();
    let digits: Vec<u8> = h[at..]
        .iter()
        .take_while(|b| b.is_ascii_digit())
        .copied()
        .collect();
    std::str::from_utf8(&digits).ok()?.parse().ok()
}

// ---------------------------------------------------------------- statistics

fn pct(sorted: &[Duration], p: f64) -> Duration {
    if sorted.is_empty() {
        return Duration::ZERO;
    }
    let i = ((sorted.len() as f64 - 1.0) * p).round() as usize;
    sorted[i.min(sorted.len() - 1)]
}

fn ms(d: Duration) -> String {
    format!("{:.1} ms", d.as_secs_f64() * 1000.0)
}

// ---------------------------------------------------------------- idle

#[derive(Default)]
struct Inbox {
    /// EXISTS after SELECT; `None` until the session is idling.
    base: Option<u32>,
    last: u32,
    /// When each new message was announced, in order.
    seen: Vec<Instant>,
    /// When each delivery to this user got its 250, in order.
    acks: Vec<Instant>,
}

struct IdleWorld {
    inboxes: Vec<Mutex<Inbox>>,
    busy: Vec<AtomicBool>,
    idling: AtomicUsize,
    failures: Mutex<Vec<String>>,
    byes: AtomicUsize,
}

async fn idle_session(
    addr: String,
    u: usize,
    w: Arc<IdleWorld>,
    gate: Arc<tokio::sync::Semaphore>,
) {
    let setup = async {
        let mut c = {
            let _permit = gate.acquire().await.map_err(|e| e.to_string())?;
            let mut c = Imap::connect(&addr).await?;
            c.login(&user_name(u)).await?;
            c
        };
        let mut exists = None;
        let r = c
            .command(b"SELECT INBOX", &mut |r| {
                if let Some((n, _)) = untagged_number(r, b"EXISTS") {
                    exists = Some(n);
                }
            })
            .await?;
        if !r.ok {
            return Err(r.line);
        }
        let base = exists.ok_or("SELECT gave no EXISTS")?;
        c.send(b"i IDLE\r\n").await?;
        loop {
            let r = c.response().await?;
            if r.starts_with(b"+") {
                break;
            }
            if !r.starts_with(b"* ") {
                return Err(format!("IDLE: {}", String::from_utf8_lossy(&r)));
            }
        }
        {
            let mut i = w.inboxes[u].lock().unwrap_or_else(|p| p.into_inner());
            i.base = Some(base);
            i.last = base;
        }
        w.idling.fetch_add(1, Ordering::SeqCst);
        Ok::<_, String>(c)
    };
    let mut c = match setup.await {
        Ok(c) => c,
        Err(e) => {
            w.failures
                .lock()
                .unwrap_or_else(|p| p.into_inner())
                .push(format!("{}: {e}", user_name(u)));
            return;
        }
    };
    // Until the server says BYE (SIGTERM at the end) or closes.
    let mut line = Vec::new();
    loop {
        line.clear();
        match c.r.read_until(b'\n', &mut line).await {
            Ok(0) | Err(_) => return,
            Ok(_) => {}
        }
        let now = Instant::now();
        if line.starts_with(b"* BYE") {
            w.byes.fetch_add(1, Ordering::SeqCst);
            return;
        }
        if let Some((n, _)) = untagged_number(&line, b"EXISTS") {
            let mut i = w.inboxes[u].lock().unwrap_or_else(|p| p.into_inner());
            while i.last < n {
                i.last += 1;
                i.seen.push(now);
            }
        }
    }
}

struct Lmtp {
    r: BufReader<tokio::net::unix::OwnedReadHalf>,
    w: tokio::net::unix::OwnedWriteHalf,
}

impl Lmtp {
    async fn connect(path: &Path) -> Result<Lmtp, String> {
        let s = timed("lmtp connect", tokio::net::UnixStream::connect(path)).await?;
        let (r, w) = s.into_split();
        let mut c = Lmtp {
            r: BufReader::new(r),
            w,
        };
        c.reply().await?;
        c.w.write_all(b"LHLO bench.test\r\n")
            .await
            .map_err(|e| e.to_string())?;
        c.reply().await?;
        Ok(c)
    }

    /// One reply (multi-line ones whole): its last line.
    async fn reply(&mut self) -> Result<String, String> {
        for _ in 0..100 {
            let mut l = Vec::new();
            let n = timed("lmtp read", self.r.read_until(b'\n', &mut l)).await?;
            if n == 0 {
                return Err("LMTP: the server closed the connection".into());
            }
            if l.get(3) != Some(&b'-') {
                return Ok(String::from_utf8_lossy(&l).trim_end().to_owned());
            }
        }
        Err("LMTP: a reply of more than 100 lines".into())
    }

    /// Delivers one message to one recipient; `Ok` on 250.
    async fn deliver(&mut self, to: &str, body: &str) -> Result<(), String> {
        for cmd in [
            "MAIL FROM:<load@bench.test>\r\n".to_owned(),
            format!("RCPT TO:<{to}@bench.test>\r\n"),
            "DATA\r\n".to_owned(),
        ] {
            timed("lmtp write", self.w.write_all(cmd.as_bytes())).await?;
            let r = self.reply().await?;
            if !(r.starts_with('2') || r.starts_with('3')) {
                return Err(format!("{}: {r}", cmd.trim_end()));
            }
        }
        let mut data = body.as_bytes().to_vec();
        data.extend_from_slice(b".\r\n");
        timed("lmtp write", self.w.write_all(&data)).await?;
        let r = self.reply().await?;
        if r.starts_with("250") {
            Ok(())
        } else {
            Err(format!("DATA: {r}"))
        }
    }
}

struct Deliveries {
    done: AtomicU64,
    failed: Mutex<Vec<String>>,
    lmtp_latency: Mutex<Vec<Duration>>,
}

#[allow(clippy::too_many_arguments)] // one LMTP connection's whole setting
async fn lmtp_worker(
    path: PathBuf,
    k: usize,
    per_sec: f64,
    until: Instant,
    w: Arc<IdleWorld>,
    targets: Arc<Vec<usize>>,
    d: Arc<Deliveries>,
    seed: u64,
) {
    let mut rng = Rng::new(seed ^ ((k as u64 + 1) * 7919));
    let mut c = match Lmtp::connect(&path).await {
        Ok(c) => c,
        Err(e) => {
            d.failed.lock().unwrap_or_else(|p| p.into_inner()).push(e);
            return;
        }
    };
    let period = Duration::from_secs_f64(1.0 / per_sec);
    let start = tokio::time::Instant::now() + period.mul_f64(k as f64 / 4.0);
    let mut tick = tokio::time::interval_at(start, period);
    tick.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Burst);
    let mut seq = k as u64 * 1_000_000_000;
    while Instant::now() < until {
        tick.tick().await;
        // A user with no delivery in flight, so that each user's 250s come in order.
        let mut u = None;
        for _ in 0..1000 {
            let t = targets[rng.below(targets.len())];
            if w.busy[t]
                .compare_exchange(false, true, Ordering::SeqCst, Ordering::SeqCst)
                .is_ok()
            {
                u = Some(t);
                break;
            }
        }
        let Some(u) = u else { continue };
        seq += 1;
        let name = user_name(u);
        let body = message(seq, &name, "load");
        let t0 = Instant::now();
        let r = c.deliver(&name, &body).await;
        let t1 = Instant::now();
        match r {
            Ok(()) => {
                w.inboxes[u]
                    .lock()
                    .unwrap_or_else(|p| p.into_inner())
                    .acks
                    .push(t1);
                d.done.fetch_add(1, Ordering::SeqCst);
                d.lmtp_latency
                    .lock()
                    .unwrap_or_else(|p| p.into_inner())
                    .push(t1 - t0);
            }
            Err(e) => {
                d.failed
                    .lock()
                    .unwrap_or_else(|p| p.into_inner())
                    .push(format!("{name}: {e}"));
                // Start afresh: the session's state is unknown.
                match Lmtp::connect(&path).await {
                    Ok(n) => c = n,
                    Err(e) => {
                        d.failed.lock().unwrap_or_else(|p| p.into_inner()).push(e);
                        w.busy[u].store(false, Ordering::SeqCst);
                        return;
                    }
                }
            }
        }
        w.busy[u].store(false, Ordering::SeqCst);
    }
    let _ = c.w.write_all(b"QUIT\r\n").await;
}

fn run_idle(o: &Opts, dir: &Path) -> bool {
    let store = msgstore::store::Store::at(dir.join("store"));
    if let Err(e) = build_store(&store, o.sessions) {
        die(&e)
    }
    let server = start_server(&o.bin, store.root(), dir, o.sessions);
    let pid = server.pid();
    let (rss0, _) = memory(pid);
    println!(
        "load: server pid {pid} on {} and unix:{}; VmRSS before any session {}",
        server.imap,
        server.lmtp.display(),
        mib(rss0)
    );
    let rt = tokio::runtime::Builder::new_multi_thread()
        .worker_threads(2)
        .enable_all()
        .build()
        .unwrap_or_else(|e| die(&format!("runtime: {e}")));
    let w = Arc::new(IdleWorld {
        inboxes: (0..o.sessions)
            .map(|_| Mutex::new(Inbox::default()))
            .collect(),
        busy: (0..o.sessions).map(|_| AtomicBool::new(false)).collect(),
        idling: AtomicUsize::new(0),
        failures: Mutex::new(Vec::new()),
        byes: AtomicUsize::new(0),
    });
    let d = Arc::new(Deliveries {
        done: AtomicU64::new(0),
        failed: Mutex::new(Vec::new()),
        lmtp_latency: Mutex::new(Vec::new()),
    });
    let mut ok = true;
    let (rss1, hwm1, setup_secs, rss2, hwm2) = rt.block_on(async {
        let t = Instant::now();
        let gate = Arc::new(tokio::sync::Semaphore::new(o.login_parallel));
        let mut tasks = Vec::new();
        for u in 0..o.sessions {
            tasks.push(tokio::spawn(idle_session(
                server.imap.clone(),
                u,
                w.clone(),
                gate.clone(),
            )));
        }
        // Until every session idles or failed (bounded: each reply has its timeout).
        let deadline = Instant::now() + Duration::from_secs(3600);
        let mut last_report = Instant::now();
        loop {
            let idling = w.idling.load(Ordering::SeqCst);
            let failed = w.failures.lock().unwrap_or_else(|p| p.into_inner()).len();
            if idling + failed >= o.sessions || Instant::now() > deadline {
                break;
            }
            if last_report.elapsed() > Duration::from_secs(15) {
                println!(
                    "load: {idling} sessions idling after {:.0} s",
                    t.elapsed().as_secs_f64()
                );
                last_report = Instant::now();
            }
            tokio::time::sleep(Duration::from_millis(100)).await;
        }
        let setup_secs = t.elapsed().as_secs_f64();
        // Let the server settle (the logins' memory freed) before measuring.
        tokio::time::sleep(Duration::from_secs(2)).await;
        let (rss1, hwm1) = memory(pid);
        let targets: Arc<Vec<usize>> = Arc::new(
            (0..o.sessions)
                .filter(|&u| {
                    w.inboxes[u]
                        .lock()
                        .unwrap_or_else(|p| p.into_inner())
                        .base
                        .is_some()
                })
                .collect(),
        );
        println!(
            "load: {} of {} sessions idling after {setup_secs:.1} s; server VmRSS {} VmHWM {}",
            targets.len(),
            o.sessions,
            mib(rss1),
            mib(hwm1)
        );
        let until = Instant::now() + Duration::from_secs_f64(o.secs);
        let mut workers = Vec::new();
        if !targets.is_empty() {
            for k in 0..o.lmtp_conns {
                workers.push(tokio::spawn(lmtp_worker(
                    server.lmtp.clone(),
                    k,
                    o.rate / o.lmtp_conns as f64,
                    until,
                    w.clone(),
                    targets.clone(),
                    d.clone(),
                    o.seed,
                )));
            }
        }
        let mut peak = (0, 0);
        let t_del = Instant::now();
        let mut last_report = Instant::now();
        while Instant::now() < until {
            tokio::time::sleep(Duration::from_millis(500)).await;
            let m = memory(pid);
            peak.0 = peak.0.max(m.0);
            peak.1 = peak.1.max(m.1);
            if last_report.elapsed() > Duration::from_secs(30) {
                println!(
                    "load: {:.0} s: {} delivered, server VmRSS {}",
                    t_del.elapsed().as_secs_f64(),
                    d.done.load(Ordering::SeqCst),
                    mib(m.0)
                );
                last_report = Instant::now();
            }
        }
        for wk in workers {
            let _ = tokio::time::timeout(Duration::from_secs(130), wk).await;
        }
        let delivering = t_del.elapsed().as_secs_f64();
        // The last notifications: up to 10 s for every session to catch up.
        let t = Instant::now();
        while t.elapsed() < Duration::from_secs(10) {
            let behind = targets.iter().any(|&u| {
                let i = w.inboxes[u].lock().unwrap_or_else(|p| p.into_inner());
                i.seen.len() < i.acks.len()
            });
            if !behind {
                break;
            }
            tokio::time::sleep(Duration::from_millis(50)).await;
        }
        let (rss2, hwm2) = memory(pid);
        println!(
            "load: {} delivered in {delivering:.1} s ({:.1}/s)",
            d.done.load(Ordering::SeqCst),
            d.done.load(Ordering::SeqCst) as f64 / delivering
        );
        let _ = peak;
        (rss1, hwm1, setup_secs, rss2, hwm2.max(peak.1))
    });
    let log = server.log.clone();
    let (shutdown, code) = server.stop();
    // The sessions end with the server's BYE.
    let byes = rt.block_on(async {
        tokio::time::sleep(Duration::from_millis(200)).await;
        w.byes.load(Ordering::SeqCst)
    });
    rt.shutdown_timeout(Duration::from_secs(5));

    // The figures.
    let failures = w.failures.lock().unwrap_or_else(|p| p.into_inner()).clone();
    let mut lat = Vec::new();
    let (mut missed, mut extra, mut early) = (0usize, 0usize, 0usize);
    for i in &w.inboxes {
        let i = i.lock().unwrap_or_else(|p| p.into_inner());
        if i.base.is_none() {
            continue;
        }
        missed += i.acks.len().saturating_sub(i.seen.len());
        extra += i.seen.len().saturating_sub(i.acks.len());
        for (a, s) in i.acks.iter().zip(&i.seen) {
            if s < a {
                early += 1;
            }
            lat.push(s.saturating_duration_since(*a));
        }
    }
    lat.sort();
    let mut lmtp = d
        .lmtp_latency
        .lock()
        .unwrap_or_else(|p| p.into_inner())
        .clone();
    lmtp.sort();
    let dfail = d.failed.lock().unwrap_or_else(|p| p.into_inner()).clone();
    let per_session = rss1.saturating_sub(rss0) as f64 / o.sessions.max(1) as f64;
    println!();
    println!(
        "idle: {} sessions, {:.0} deliveries/s asked for {:.1} min",
        o.sessions,
        o.rate,
        o.secs / 60.0
    );
    println!(
        "  sessions set up (LOGIN, SELECT, IDLE): {} in {setup_secs:.1} s, {} failed",
        o.sessions - failures.len(),
        failures.len()
    );
    for f in failures.iter().take(10) {
        println!("    {f}");
    }
    println!(
        "  deliveries: {} (250), {} failed; LMTP DATA->250 p50 {} p99 {} max {}",
        d.done.load(Ordering::SeqCst),
        dfail.len(),
        ms(pct(&lmtp, 0.5)),
        ms(pct(&lmtp, 0.99)),
        ms(pct(&lmtp, 1.0))
    );
    for f in dfail.iter().take(10) {
        println!("    {f}");
    }
    println!(
        "  notification 250->EXISTS: p50 {} p99 {} max {} ({} notifications; {} came before the harness read the 250)",
        ms(pct(&lat, 0.5)),
        ms(pct(&lat, 0.99)),
        ms(pct(&lat, 1.0)),
        lat.len(),
        early
    );
    println!("  missed notifications: {missed}; unexplained EXISTS: {extra}");
    println!(
        "  server memory: before sessions VmRSS {}; all idling VmRSS {} VmHWM {}; at the end VmRSS {} VmHWM {}",
        mib(rss0),
        mib(rss1),
        mib(hwm1),
        mib(rss2),
        mib(hwm2)
    );
    println!(
        "  per session: {:.1} KiB (VmRSS all idling minus before, over {} sessions)",
        per_session, o.sessions
    );
    println!(
        "  SIGTERM: exit {code:?} in {:.2} s; {byes} sessions got BYE",
        shutdown.as_secs_f64()
    );
    println!("  server log: {}", log.display());
    if !failures.is_empty() || !dfail.is_empty() || missed > 0 || extra > 0 {
        println!("  FAIL: failures, missed or unexplained notifications");
        ok = false;
    }
    if pct(&lat, 0.99) >= Duration::from_secs(1) {
        println!("  FAIL: p99 notification latency is not under 1 s");
        ok = false;
    }
    if hwm2.max(hwm1) >= 1024 * 1024 {
        println!("  FAIL: the server's VmHWM reached 1 GiB");
        ok = false;
    }
    if code != Some(0) {
        println!("  FAIL: the server did not exit 0 on SIGTERM");
        ok = false;
    }
    ok
}

// ---------------------------------------------------------------- active

#[derive(Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord, Debug)]
enum Op {
    Fetch,
    Store,
    Search,
    Append,
}

const OPS: [Op; 4] = [Op::Fetch, Op::Store, Op::Search, Op::Append];

/// One mailbox as the harness knows it: UID -> Message-ID, and what APPENDs were
/// acknowledged.
#[derive(Default)]
struct Model {
    uidvalidity: Option<u32>,
    uids: HashMap<u32, String>,
    appended: Vec<(u32, String)>,
}

struct ActiveWorld {
    models: Vec<Mutex<Model>>,
    latency: Mutex<HashMap<Op, Vec<Duration>>>,
    errors: Mutex<Vec<String>>,
    wrong: Mutex<Vec<String>>,
    busy: AtomicUsize,
    seq: AtomicU64,
    stop: AtomicBool,
}

impl ActiveWorld {
    fn error(&self, e: String) {
        let mut v = self.errors.lock().unwrap_or_else(|p| p.into_inner());
        if v.len() < 1000 {
            v.push(e);
        }
    }

    /// Checks and records that `uid` names `id` in mailbox `m`.
    fn saw(&self, m: usize, uid: u32, id: &str, how: &str) {
        let mut model = self.models[m].lock().unwrap_or_else(|p| p.into_inner());
        match model.uids.get(&uid) {
            Some(known) if known != id => {
                let e = format!("{}: UID {uid} was {known}, now {id} ({how})", user_name(m));
                drop(model);
                self.wrong.lock().unwrap_or_else(|p| p.into_inner()).push(e);
            }
            Some(_) => {}
            None => {
                model.uids.insert(uid, id.to_owned());
            }
        }
    }
}

/// The Message-ID in a FETCH response's header literal, without the brackets.
fn message_id(r: &[u8]) -> Option<String> {
    let at = find(r, b"Message-ID: <")? + b"Message-ID: <".len();
    let end = r[at..].iter().position(|&b| b == b'>')?;
    Some(String::from_utf8_lossy(&r[at..at + end]).into_owned())
}

/// Checks every `* n FETCH (... UID u ... Message-ID ...)` of a response.
fn check_fetch(w: &ActiveWorld, m: usize, r: &[u8], how: &str) {
    if untagged_number(r, b"FETCH").is_none() {
        return;
    }
    if let (Some(uid), Some(id)) = (number_after(r, b"UID "), message_id(r)) {
        w.saw(m, uid as u32, &id, how);
    }
}

async fn active_session(
    addr: String,
    s: usize,
    m: usize,
    until: Instant,
    w: Arc<ActiveWorld>,
    gate: Arc<tokio::sync::Semaphore>,
    seed: u64,
) {
    let name = user_name(m);
    let mut rng = Rng::new(seed ^ ((s as u64 + 1) * 104_729));
    let run = async {
        let mut c = {
            let _p = gate.acquire().await.map_err(|e| e.to_string())?;
            let mut c = Imap::connect(&addr).await?;
            c.login(&name).await?;
            c
        };
        let mut uv = None;
        let r = c
            .command(b"SELECT INBOX", &mut |r| {
                if let Some(at) = find(r, b"[UIDVALIDITY ") {
                    uv = number_after(&r[at..], b"[UIDVALIDITY ").map(|v| v as u32);
                }
            })
            .await?;
        if !r.ok {
            return Err(format!("SELECT: {}", r.line));
        }
        let uv = uv.ok_or("SELECT gave no UIDVALIDITY")?;
        {
            let mut model = w.models[m].lock().unwrap_or_else(|p| p.into_inner());
            match model.uidvalidity {
                Some(v) if v != uv => return Err(format!("UIDVALIDITY {v}, now {uv}")),
                _ => model.uidvalidity = Some(uv),
            }
        }
        let mut n = 0u64;
        let mut mine: Vec<(u32, String)> = Vec::new();
        let mut fetched: Vec<(u32, String)> = Vec::new();
        while Instant::now() < until && !w.stop.load(Ordering::SeqCst) && n < 10_000_000 {
            n += 1;
            let op = match rng.below(100) {
                0..35 => Op::Fetch,
                35..55 => Op::Store,
                55..75 => Op::Search,
                _ => Op::Append,
            };
            // A UID this mailbox is known to have, with its Message-ID.
            // A UID this session was told of (its own FETCH or APPENDUID), with its
            // Message-ID: a session searches and stores only in the messages it
            // knows (a UID another session just appended may not be in its view
            // yet, and a SEARCH rightly does not find it).
            let known = if mine.is_empty() {
                None
            } else {
                Some(mine[rng.below(mine.len())].clone())
            };
            let t0 = Instant::now();
            let wr = w.clone();
            let mut each = |r: &[u8]| check_fetch(&wr, m, r, "untagged");
            let reply = match op {
                Op::Fetch => {
                    let range = match known {
                        Some((u, _)) if rng.below(4) != 0 => {
                            format!("{}:{}", u.saturating_sub(5).max(1), u + 5)
                        }
                        _ => "1:*".to_owned(),
                    };
                    let wr = w.clone();
                    c.command(
                        format!(
                            "UID FETCH {range} (UID FLAGS BODY.PEEK[HEADER.FIELDS (MESSAGE-ID)])"
                        )
                        .as_bytes(),
                        &mut |r| {
                            check_fetch(&wr, m, r, "FETCH");
                            if let (Some(uid), Some(id)) = (number_after(r, b"UID "), message_id(r))
                            {
                                fetched.push((uid as u32, id));
                            }
                        },
                    )
                    .await?
                }
                Op::Store => {
                    let Some((u, _)) = known else { continue };
                    let sign = if rng.below(2) == 0 { '+' } else { '-' };
                    c.command(
                        format!("UID STORE {u} {sign}FLAGS (\\Flagged $Bench)").as_bytes(),
                        &mut each,
                    )
                    .await?
                }
                Op::Search => {
                    let Some((u, id)) = known else { continue };
                    let mut got = None;
                    let wr = w.clone();
                    let r = c
                        .command(
                            format!("UID SEARCH HEADER Message-ID \"<{id}>\"").as_bytes(),
                            &mut |r| {
                                if r.starts_with(b"* SEARCH") {
                                    got = Some(
                                        String::from_utf8_lossy(&r[8..])
                                            .split_whitespace()
                                            .map(str::to_owned)
                                            .collect::<Vec<_>>(),
                                    );
                                } else {
                                    check_fetch(&wr, m, r, "untagged");
                                }
                            },
                        )
                        .await?;
                    if r.ok && got.as_deref() != Some(&[u.to_string()][..]) {
                        w.wrong
                            .lock()
                            .unwrap_or_else(|p| p.into_inner())
                            .push(format!("{name}: SEARCH for <{id}> (UID {u}) gave {got:?}"));
                    }
                    r
                }
                Op::Append => {
                    let seq = w.seq.fetch_add(1, Ordering::SeqCst);
                    let body = message(seq, &name, "append");
                    let mut cmd =
                        format!("APPEND INBOX (\\Seen) {{{}+}}\r\n", body.len()).into_bytes();
                    cmd.extend_from_slice(body.as_bytes());
                    let r = c.command(&cmd, &mut each).await?;
                    if r.ok {
                        let b = r.line.as_bytes();
                        let uid = find(b, b"[APPENDUID ").and_then(|at| {
                            let rest = String::from_utf8_lossy(&b[at + 11..]).into_owned();
                            let mut p = rest.split([' ', ']']);
                            let v: Option<u32> = p.next().and_then(|x| x.parse().ok());
                            let u: Option<u32> = p.next().and_then(|x| x.parse().ok());
                            v.zip(u)
                        });
                        match uid {
                            Some((v, u)) if v == uv => {
                                let id = format!("append-{seq}@bench.test");
                                w.saw(m, u, &id, "APPENDUID");
                                mine.push((u, id.clone()));
                                w.models[m]
                                    .lock()
                                    .unwrap_or_else(|p| p.into_inner())
                                    .appended
                                    .push((u, id));
                            }
                            other => w.error(format!(
                                "{name}: APPEND answered {other:?} under UIDVALIDITY {uv}: {}",
                                r.line
                            )),
                        }
                    }
                    r
                }
            };
            let dt = t0.elapsed();
            for f in fetched.drain(..) {
                if !mine.iter().any(|(u, _)| *u == f.0) {
                    mine.push(f);
                }
            }
            if reply.ok {
                w.latency
                    .lock()
                    .unwrap_or_else(|p| p.into_inner())
                    .entry(op)
                    .or_default()
                    .push(dt);
            } else if reply.line.contains("[INUSE]") {
                w.busy.fetch_add(1, Ordering::SeqCst);
            } else {
                w.error(format!("{name}: {op:?}: {}", reply.line));
            }
        }
        let _ = c.command(b"LOGOUT", &mut |_| {}).await;
        Ok::<_, String>(())
    };
    if let Err(e) = run.await {
        w.error(format!("{name} (session {s}): {e}"));
    }
}

struct Rebuild {
    secs: f64,
    code: Option<i32>,
    note: String,
}

fn reconstruct(bin: &Path, store: &Path) -> Rebuild {
    let t = Instant::now();
    let out = Command::new(bin)
        .arg("--store")
        .arg(store)
        .args(["-q", "reconstruct", "-r"])
        .stdin(Stdio::null())
        .output();
    let secs = t.elapsed().as_secs_f64();
    match out {
        Ok(o) => {
            let text = String::from_utf8_lossy(&o.stderr);
            let busy = text.lines().filter(|l| l.contains("busy")).count();
            let first = text.lines().next().unwrap_or("").to_owned();
            Rebuild {
                secs,
                code: o.status.code(),
                note: if text.trim().is_empty() {
                    String::new()
                } else {
                    format!("{busy} busy lines; first: {first}")
                },
            }
        }
        Err(e) => Rebuild {
            secs,
            code: None,
            note: format!("cannot run: {e}"),
        },
    }
}

fn run_active(o: &Opts, dir: &Path) -> bool {
    let store = msgstore::store::Store::at(dir.join("store"));
    let users = o.sessions.div_ceil(o.per_mailbox);
    if store.root().exists() {
        die(&format!(
            "{}: the active run needs a new store; give an empty --dir",
            store.root().display()
        ));
    }
    if let Err(e) = build_store(&store, users) {
        die(&e)
    }
    let t = Instant::now();
    if let Err(e) = fill_store(&store, users, o.messages) {
        die(&e)
    }
    println!(
        "load: {users} INBOXes of {} messages filled in {:.1} s",
        o.messages,
        t.elapsed().as_secs_f64()
    );
    let server = start_server(&o.bin, store.root(), dir, o.sessions);
    let pid = server.pid();
    let rt = tokio::runtime::Builder::new_multi_thread()
        .worker_threads(2)
        .enable_all()
        .build()
        .unwrap_or_else(|e| die(&format!("runtime: {e}")));
    let w = Arc::new(ActiveWorld {
        models: (0..users).map(|_| Mutex::new(Model::default())).collect(),
        latency: Mutex::new(HashMap::new()),
        errors: Mutex::new(Vec::new()),
        wrong: Mutex::new(Vec::new()),
        busy: AtomicUsize::new(0),
        seq: AtomicU64::new(0),
        stop: AtomicBool::new(false),
    });
    let rebuilds: Arc<Mutex<Vec<Rebuild>>> = Arc::new(Mutex::new(Vec::new()));
    let (elapsed, hwm, threads) = rt.block_on(async {
        let start = Instant::now();
        let until = start + Duration::from_secs_f64(o.secs);
        let gate = Arc::new(tokio::sync::Semaphore::new(o.login_parallel));
        let mut tasks = Vec::new();
        for s in 0..o.sessions {
            tasks.push(tokio::spawn(active_session(
                server.imap.clone(),
                s,
                s % users,
                until,
                w.clone(),
                gate.clone(),
                o.seed,
            )));
        }
        // reconstruct -r every S seconds, one at a time, while the sessions run.
        let (bin, root, every, rb) = (
            o.bin.clone(),
            store.root().to_owned(),
            o.reconstruct_every,
            rebuilds.clone(),
        );
        let rebuilder = tokio::spawn(async move {
            let mut next = start + Duration::from_secs_f64(every);
            while next < until {
                tokio::time::sleep_until(next.into()).await;
                let (b, r) = (bin.clone(), root.clone());
                match tokio::task::spawn_blocking(move || reconstruct(&b, &r)).await {
                    Ok(x) => {
                        println!(
                            "load: reconstruct -r took {:.2} s, exit {:?} {}",
                            x.secs, x.code, x.note
                        );
                        rb.lock().unwrap_or_else(|p| p.into_inner()).push(x);
                    }
                    Err(e) => println!("load: reconstruct task: {e}"),
                }
                next += Duration::from_secs_f64(every);
            }
        });
        let mut hwm = 0;
        let mut threads = 0;
        let mut last = Instant::now();
        while Instant::now() < until {
            tokio::time::sleep(Duration::from_millis(500)).await;
            hwm = hwm.max(memory(pid).1);
            threads = threads.max(thread_count(pid));
            if last.elapsed() > Duration::from_secs(30) {
                let n: usize = w
                    .latency
                    .lock()
                    .unwrap_or_else(|p| p.into_inner())
                    .values()
                    .map(Vec::len)
                    .sum();
                println!("load: {:.0} s: {n} commands", start.elapsed().as_secs_f64());
                last = Instant::now();
            }
        }
        w.stop.store(true, Ordering::SeqCst);
        for t in tasks {
            let _ = tokio::time::timeout(REPLY_TIMEOUT, t).await;
        }
        let _ = tokio::time::timeout(Duration::from_secs(600), rebuilder).await;
        (start.elapsed().as_secs_f64(), hwm, threads)
    });
    // Nothing lost: every acknowledged APPEND is there with its UID; every UID
    // still names what it named.
    let lost = rt.block_on(async {
        let mut lost = Vec::new();
        for m in 0..users {
            let name = user_name(m);
            let check = async {
                let mut c = Imap::connect(&server.imap).await?;
                c.login(&name).await?;
                let r = c.command(b"SELECT INBOX", &mut |_| {}).await?;
                if !r.ok {
                    return Err(r.line);
                }
                let mut present = HashMap::new();
                let r = c
                    .command(
                        b"UID FETCH 1:* (UID BODY.PEEK[HEADER.FIELDS (MESSAGE-ID)])",
                        &mut |r| {
                            if let (Some(uid), Some(id)) = (number_after(r, b"UID "), message_id(r))
                            {
                                present.insert(uid as u32, id);
                            }
                        },
                    )
                    .await?;
                if !r.ok {
                    return Err(r.line);
                }
                let _ = c.command(b"LOGOUT", &mut |_| {}).await;
                Ok(present)
            };
            match check.await {
                Err(e) => lost.push(format!("{name}: final check: {e}")),
                Ok(present) => {
                    for (u, id) in &present {
                        w.saw(m, *u, id, "final FETCH");
                    }
                    let model = w.models[m].lock().unwrap_or_else(|p| p.into_inner());
                    for (u, id) in &model.appended {
                        if present.get(u) != Some(id) {
                            lost.push(format!(
                                "{name}: APPENDed UID {u} <{id}> is {:?} at the end",
                                present.get(u)
                            ));
                        }
                    }
                }
            }
        }
        lost
    });
    let log = server.log.clone();
    let (shutdown, code) = server.stop();
    rt.shutdown_timeout(Duration::from_secs(5));

    let lat = w.latency.lock().unwrap_or_else(|p| p.into_inner()).clone();
    let errors = w.errors.lock().unwrap_or_else(|p| p.into_inner()).clone();
    let wrong = w.wrong.lock().unwrap_or_else(|p| p.into_inner()).clone();
    let rebuilds = rebuilds
        .lock()
        .unwrap_or_else(|p| p.into_inner())
        .drain(..)
        .collect::<Vec<_>>();
    let appended: usize = w
        .models
        .iter()
        .map(|m| m.lock().unwrap_or_else(|p| p.into_inner()).appended.len())
        .sum();
    let total: usize = lat.values().map(Vec::len).sum();
    println!();
    println!(
        "active: {} sessions on {users} mailboxes ({} messages each at the start), {:.1} min, reconstruct -r every {:.0} s",
        o.sessions,
        o.messages,
        o.secs / 60.0,
        o.reconstruct_every
    );
    println!(
        "  {total} commands answered OK in {elapsed:.1} s: {:.0} ops/s",
        total as f64 / elapsed
    );
    for op in OPS {
        let mut v = lat.get(&op).cloned().unwrap_or_default();
        v.sort();
        println!(
            "  {:<7} {:>8} ({:>6.1}/s)  p50 {:>9}  p99 {:>9}  max {:>9}",
            format!("{op:?}"),
            v.len(),
            v.len() as f64 / elapsed,
            ms(pct(&v, 0.5)),
            ms(pct(&v, 0.99)),
            ms(pct(&v, 1.0))
        );
    }
    let mut rs: Vec<f64> = rebuilds.iter().map(|r| r.secs).collect();
    rs.sort_by(f64::total_cmp);
    let codes: Vec<String> = rebuilds.iter().map(|r| format!("{:?}", r.code)).collect();
    println!(
        "  reconstruct -r: {} runs, durations {:?} s, exit statuses [{}]",
        rebuilds.len(),
        rs.iter()
            .map(|s| (s * 100.0).round() / 100.0)
            .collect::<Vec<_>>(),
        codes.join(", ")
    );
    for r in rebuilds.iter().filter(|r| !r.note.is_empty()).take(5) {
        println!("    {}", r.note);
    }
    println!(
        "  APPENDs acknowledged: {appended}; missing at the end: {}",
        lost.len()
    );
    for l in lost.iter().take(10) {
        println!("    {l}");
    }
    println!("  wrong UIDs or SEARCH answers: {}", wrong.len());
    for x in wrong.iter().take(10) {
        println!("    {x}");
    }
    println!(
        "  documented busy answers (NO [INUSE]): {}",
        w.busy.load(Ordering::SeqCst)
    );
    println!("  other errors: {}", errors.len());
    for e in errors.iter().take(10) {
        println!("    {e}");
    }
    println!(
        "  server VmHWM {} with up to {threads} threads; SIGTERM: exit {code:?} in {:.2} s; log {}",
        mib(hwm),
        shutdown.as_secs_f64(),
        log.display()
    );
    let ok = errors.is_empty()
        && wrong.is_empty()
        && lost.is_empty()
        && rebuilds.iter().all(|r| r.code == Some(0))
        && code == Some(0);
    if !ok {
        println!("  FAIL");
    }
    ok
}

fn main() {
    let o = parse_args();
    raise_fd_limit();
    let (dir, temp) = match &o.dir {
        Some(d) => {
            std::fs::create_dir_all(d).unwrap_or_else(|e| die(&format!("{}: {e}", d.display())));
            (d.clone(), None)
        }
        None => {
            let t = tempfile::Builder::new()
                .prefix("msgstore-load-")
                .tempdir_in("/tmp")
                .unwrap_or_else(|e| die(&format!("a directory under /tmp: {e}")));
            (t.path().to_owned(), Some(t))
        }
    };
    println!(
        "load: {:?} in {} with {}",
        o.mode,
        dir.display(),
        o.bin.display()
    );
    let ok = match o.mode {
        Mode::Idle => run_idle(&o, &dir),
        Mode::Active => run_active(&o, &dir),
    };
    // `exit` runs no destructors: the temporary directory goes (or stays) here.
    match temp {
        Some(t) if o.keep => println!("load: kept {}", t.keep().display()),
        Some(t) => drop(t),
        None => {}
    }
    std::process::exit(if ok { 0 } else { 1 })
}
