//! The mail-in benchmark: `cargo bench --bench mailin -- [OPTIONS]`.
//!
//! The same messages (`../shared/tools/gen_corpus.py --seed 1`) into an empty
//! mailbox, msgstore against Dovecot 2.3, on one machine in one run:
//!
//!   lmtp     LMTP delivery, one connection, one message after the other (each
//!            MAIL, RCPT, DATA pipelined, the next sent after the 250): msgstore's
//!            `serve --lmtp unix:PATH`, and Dovecot's `lmtp` started on its own with
//!            a private config (no dovecot master), its LMTP session on pipes. A
//!            standalone `lmtp` looks every recipient up through the auth-userdb
//!            socket; this bench answers that socket itself (one static user, the
//!            reply Dovecot's static userdb gives), so no auth daemon runs.
//!   import   `msgstore import bench MAILDIR` against `doveadm import
//!            maildir:MAILDIR "" all` into an empty Maildir INBOX, both from the same
//!            source Maildir (Dovecot's index files in it removed before each run).
//!
//! fsync: msgstore always fsyncs each message file, syncs the directory and commits
//! the index durably before it answers 250 (or goes on); it has no setting. Dovecot
//! is run with `mail_fsync = optimized` (its default: message files fsynced, index
//! and uidlist writes not) and `mail_fsync = always` (those too), one row each.
//!
//! Wall time from the first byte to the last reply (LMTP) or of the whole process
//! (import); peak memory is the server's or importer's maximum RSS (`wait4`). One
//! untimed warm-up round (of `--warmup` messages), then `--runs` rounds in which every case runs once (who
//! goes first alternating); medians. Needs root (Dovecot drops to uid 65534),
//! `dovecot-core` and `dovecot-lmtpd`; reads `../shared/tools` (or
//! `$MSGSTORE_BENCH_TOOLS`) for the corpus generator, and stops saying so without it.
//!
//! Options (defaults in brackets):
//!   --messages N     messages [10000]
//!   --avg-kb K       gen_corpus.py --avg-kb [40]
//!   --corpus DIR     use this gen_corpus.py output (DIR/msg/*.eml, first N sorted)
//!   --runs R         timed rounds [3]
//!   --warmup W       messages of the untimed warm-up round [1000]
//!   --steps LIST     subset of lmtp,import [both]
//!   --dovecot-fsync LIST  Dovecot's mail_fsync settings to run [optimized,always]
//!   --dir DIR        work directory [a new one under /tmp, removed at the end]
//!   --keep           keep the work directory
//!   --bin PATH       time this msgstore binary instead of the one cargo built

// Children are reaped by `wait4` (for their rusage), which clippy does not see.
#![allow(clippy::zombie_processes)]

mod peer;

use peer::{Lmtp, Scratch, Series, die, fmt_s, thousands};
use std::fs;
use std::io::{BufRead, BufReader, Write};
use std::os::unix::net::{UnixListener, UnixStream};
use std::path::{Path, PathBuf};
use std::process::{Command, Stdio};
use std::time::{Duration, Instant};

const USAGE: &str = "usage: cargo bench --bench mailin -- [--messages N] [--avg-kb K] [--corpus DIR] \
[--runs R] [--steps lmtp,import] [--dovecot-fsync optimized,always] [--dir DIR] [--keep] [--bin PATH]";

const USER: &str = "bench";
const LMTP: &str = "/usr/lib/dovecot/lmtp";

struct Opts {
    messages: usize,
    avg_kb: usize,
    corpus: Option<PathBuf>,
    runs: usize,
    warmup: usize,
    steps: Vec<String>,
    fsync: Vec<String>,
    dir: Option<PathBuf>,
    keep: bool,
}

fn parse_args() -> Opts {
    let args: Vec<String> = std::env::args().skip(1).collect();
    let mut o = Opts {
        messages: 10_000,
        avg_kb: 40,
        corpus: None,
        runs: 3,
        warmup: 1000,
        steps: vec!["lmtp".into(), "import".into()],
        fsync: vec!["optimized".into(), "always".into()],
        dir: None,
        keep: false,
    };
    let mut i = 0;
    let value = |i: &mut usize| -> String {
        *i += 1;
        args.get(*i).cloned().unwrap_or_else(|| die(USAGE))
    };
    let num = |s: String| -> usize {
        s.replace(['_', ','], "")
            .parse()
            .unwrap_or_else(|_| die(USAGE))
    };
    let list = |s: String, allowed: &[&str]| -> Vec<String> {
        let v: Vec<String> = s.split(',').map(str::to_string).collect();
        if let Some(bad) = v.iter().find(|x| !allowed.contains(&x.as_str())) {
            die(&format!("unknown value {bad}\n{USAGE}"));
        }
        v
    };
    while i < args.len() {
        match args[i].as_str() {
            "--bench" => {}
            "--messages" => o.messages = num(value(&mut i)).max(1),
            "--avg-kb" => o.avg_kb = num(value(&mut i)).max(1),
            "--corpus" => o.corpus = Some(value(&mut i).into()),
            "--runs" => o.runs = num(value(&mut i)).max(1),
            "--warmup" => o.warmup = num(value(&mut i)).max(1),
            "--steps" => o.steps = list(value(&mut i), &["lmtp", "import"]),
            "--dovecot-fsync" => o.fsync = list(value(&mut i), &["optimized", "always", "never"]),
            "--dir" => o.dir = Some(value(&mut i).into()),
            "--keep" => o.keep = true,
            // SAFETY: set before any thread is started.
            "--bin" => unsafe { std::env::set_var("MSGSTORE_BENCH_BIN", value(&mut i)) },
            "-h" | "--help" => {
                println!("{USAGE}");
                std::process::exit(0);
            }
            other => die(&format!("unknown argument {other}\n{USAGE}")),
        }
        i += 1;
    }
    o
}

/// One case: a row of the table.
#[derive(Clone)]
enum Case {
    MsgstoreLmtp,
    DovecotLmtp(String),
    MsgstoreImport,
    DovecotImport(String),
}

impl Case {
    fn label(&self) -> String {
        match self {
            Case::MsgstoreLmtp => "msgstore `serve --lmtp unix:`".into(),
            Case::DovecotLmtp(f) => format!("Dovecot `lmtp`, mail_fsync={f}"),
            Case::MsgstoreImport => "msgstore `import`".into(),
            Case::DovecotImport(f) => format!("Dovecot `doveadm import`, mail_fsync={f}"),
        }
    }
}

struct Bench {
    work: PathBuf,
    files: Vec<PathBuf>,
    /// The source Maildir of the imports (owned by Dovecot's uid).
    maildir: PathBuf,
}

fn main() {
    let o = parse_args();
    peer::need("doveadm", "dovecot-core");
    peer::need(LMTP, "dovecot-lmtpd");
    let corpus = peer::corpus(o.corpus.as_deref(), o.messages, o.avg_kb);
    let files = peer::corpus_files(&corpus, o.messages);
    let bytes = peer::total_bytes(&files);
    let scratch = Scratch::new(o.dir.as_deref(), "mailin", o.keep);
    let work = scratch.path.clone();
    let maildir = work.join("source");
    peer::make_maildir(&files, &maildir);
    peer::chown_r(&maildir, peer::DOVECOT_UID);
    // The warm-up round runs on the first --warmup messages, in a directory of its own.
    let warm = work.join("warm");
    peer::make_maildir(&files[..o.warmup.min(files.len())], &warm.join("source"));
    peer::chown_r(&warm, peer::DOVECOT_UID);
    let warm_bench = Bench {
        work: warm.clone(),
        files: files[..o.warmup.min(files.len())].to_vec(),
        maildir: warm.join("source"),
    };
    let b = Bench {
        work: work.clone(),
        files,
        maildir,
    };
    println!(
        "mailin: {} messages, {:.1} MB ({:.1} KB mean), corpus {}, {} rounds after a warm-up; load average {}",
        thousands(o.messages as f64),
        bytes as f64 / 1e6,
        bytes as f64 / o.messages as f64 / 1024.0,
        corpus.display(),
        o.runs,
        peer::load_average()
    );

    let mut cases: Vec<Case> = Vec::new();
    if o.steps.iter().any(|s| s == "lmtp") {
        cases.push(Case::MsgstoreLmtp);
        cases.extend(o.fsync.iter().map(|f| Case::DovecotLmtp(f.clone())));
    }
    if o.steps.iter().any(|s| s == "import") {
        cases.push(Case::MsgstoreImport);
        cases.extend(o.fsync.iter().map(|f| Case::DovecotImport(f.clone())));
    }
    let mut results: Vec<Series> = vec![Series::default(); cases.len()];
    for round in 0..=o.runs {
        let mut order: Vec<usize> = (0..cases.len()).collect();
        if round % 2 == 1 {
            order.reverse();
        }
        for &k in &order {
            let (secs, rss) = if round == 0 {
                warm_bench.run(&cases[k])
            } else {
                b.run(&cases[k])
            };
            eprintln!(
                "bench: round {round}: {}: {}, {:.1} MiB",
                cases[k].label(),
                fmt_s(secs),
                rss as f64 / 1024.0
            );
            if round > 0 {
                results[k].push(secs, rss, bytes);
            }
        }
        eprintln!(
            "bench: round {round}{} done, load average {}",
            if round == 0 { " (warm-up)" } else { "" },
            peer::load_average()
        );
    }

    let n = o.messages as f64;
    println!();
    println!("| case | wall | spread | messages/s | MB/s | peak MiB | msgstore is |");
    println!("|---|---|---|---|---|---|---|");
    let ours = |c: &Case| -> Option<f64> {
        let k = cases.iter().position(|x| {
            matches!(
                (x, c),
                (Case::MsgstoreLmtp, Case::DovecotLmtp(_))
                    | (Case::MsgstoreImport, Case::DovecotImport(_))
            )
        })?;
        Some(results[k].wall())
    };
    for (k, c) in cases.iter().enumerate() {
        let s = &results[k];
        let ratio = match (c, ours(c)) {
            (Case::DovecotLmtp(_) | Case::DovecotImport(_), Some(m)) => {
                let r = s.wall() / m;
                if r >= 1.0 {
                    format!("{r:.1}x faster")
                } else {
                    format!("{:.1}x slower", 1.0 / r)
                }
            }
            _ => String::new(),
        };
        println!(
            "| {} | {} | {} | {} | {:.1} | {:.1} | {ratio} |",
            c.label(),
            fmt_s(s.wall()),
            s.spread(),
            thousands(n / s.wall()),
            s.mb() / s.wall(),
            s.rss_mib()
        );
    }
    println!("load average at the end: {}", peer::load_average());
    let _ = fs::remove_dir_all(&warm);
}

impl Bench {
    /// One case, from an empty mailbox: (seconds, peak RSS KiB).
    fn run(&self, c: &Case) -> (f64, u64) {
        match c {
            Case::MsgstoreLmtp => self.msgstore_lmtp(),
            Case::DovecotLmtp(f) => self.dovecot_lmtp(f),
            Case::MsgstoreImport => {
                let store = self.work.join("msgstore-import");
                peer::new_store(&store, USER);
                let r = peer::run_timed(
                    Command::new(peer::msgstore_bin())
                        .arg("--store")
                        .arg(&store)
                        .args(["-q", "import", USER])
                        .arg(&self.maildir)
                        .stdin(Stdio::null())
                        .stdout(Stdio::null()),
                    "msgstore import",
                );
                self.check_msgstore(&store);
                let _ = fs::remove_dir_all(&store);
                (r.wall.as_secs_f64(), r.maxrss_kib)
            }
            Case::DovecotImport(f) => {
                let d = self.dovecot_dir("dovecot-import", f);
                // Dovecot's index of the source from the last run would make this
                // one cheaper: every run reads the source Maildir as new.
                for e in fs::read_dir(&self.maildir).into_iter().flatten().flatten() {
                    if e.file_name().to_string_lossy().starts_with("dovecot") {
                        let _ = fs::remove_file(e.path());
                    }
                }
                let r = peer::run_timed(
                    Command::new("doveadm")
                        .arg("-c")
                        .arg(d.join("dovecot.conf"))
                        .arg("import")
                        .arg(format!("maildir:{}", self.maildir.display()))
                        .arg("")
                        .arg("all")
                        .env("USER", USER)
                        .env("HOME", d.join("home"))
                        .stdin(Stdio::null())
                        .stdout(Stdio::null()),
                    "doveadm import",
                );
                self.check_maildir(&d.join("mail"));
                let _ = fs::remove_dir_all(&d);
                (r.wall.as_secs_f64(), r.maxrss_kib)
            }
        }
    }

    fn msgstore_lmtp(&self) -> (f64, u64) {
        let store = self.work.join("msgstore-lmtp");
        peer::new_store(&store, USER);
        let sock = self.work.join("lmtp.sock");
        let _ = fs::remove_file(&sock);
        let child = Command::new(peer::msgstore_bin())
            .arg("--store")
            .arg(&store)
            .arg("serve")
            .arg("--lmtp")
            .arg(format!("unix:{}", sock.display()))
            .stdin(Stdio::null())
            .stdout(Stdio::null())
            .stderr(Stdio::null())
            .spawn()
            .unwrap_or_else(|e| die(&format!("msgstore serve --lmtp: {e}")));
        let pid = child.id();
        let t0 = Instant::now();
        let conn = loop {
            match UnixStream::connect(&sock) {
                Ok(c) => break c,
                Err(_) if t0.elapsed() < Duration::from_secs(20) => {
                    std::thread::sleep(Duration::from_millis(10))
                }
                Err(e) => die(&format!("{}: {e}", sock.display())),
            }
        };
        let r = conn
            .try_clone()
            .unwrap_or_else(|e| die(&format!("socket: {e}")));
        let start = Instant::now();
        let mut s = Lmtp::start(r, conn);
        self.deliver_all(&mut s);
        let secs = start.elapsed().as_secs_f64();
        s.quit();
        // SAFETY: signalling our own child.
        unsafe { libc::kill(pid as i32, libc::SIGTERM) };
        let (st, rss) = peer::wait4(pid, Duration::from_secs(60));
        if !st.success() {
            die(&format!("msgstore serve --lmtp: {st}"));
        }
        self.check_msgstore(&store);
        let _ = fs::remove_dir_all(&store);
        (secs, rss)
    }

    fn deliver_all<R: std::io::Read, W: Write>(&self, s: &mut Lmtp<R, W>) {
        for f in &self.files {
            let msg = fs::read(f).unwrap_or_else(|e| die(&format!("{}: {e}", f.display())));
            s.deliver(&format!("{USER}@localhost"), &msg);
        }
    }

    fn dovecot_lmtp(&self, fsync: &str) -> (f64, u64) {
        let d = self.dovecot_dir("dovecot-lmtp", fsync);
        let auth = FakeUserdb::start(&d.join("run/auth-userdb"), &d.join("home"));
        let mut child = Command::new(LMTP)
            .arg("-c")
            .arg(d.join("dovecot.conf"))
            .env("USER", USER)
            .env("HOME", d.join("home"))
            .stdin(Stdio::piped())
            .stdout(Stdio::piped())
            .stderr(Stdio::null())
            .spawn()
            .unwrap_or_else(|e| die(&format!("{LMTP}: {e}")));
        let w = child.stdin.take().unwrap_or_else(|| die("no stdin"));
        let r = child.stdout.take().unwrap_or_else(|| die("no stdout"));
        let start = Instant::now();
        let mut s = Lmtp::start(r, w);
        self.deliver_all(&mut s);
        let secs = start.elapsed().as_secs_f64();
        s.quit();
        let (st, rss) = peer::wait4(child.id(), Duration::from_secs(60));
        if !st.success() {
            die(&format!("{LMTP}: {st}"));
        }
        drop(auth);
        self.check_maildir(&d.join("mail"));
        let _ = fs::remove_dir_all(&d);
        (secs, rss)
    }

    /// A private Dovecot instance: config, an empty Maildir, owned by its uid.
    fn dovecot_dir(&self, name: &str, fsync: &str) -> PathBuf {
        let d = self.work.join(name);
        let _ = fs::remove_dir_all(&d);
        for sub in ["mail/cur", "mail/new", "mail/tmp", "home", "run", "state"] {
            fs::create_dir_all(d.join(sub))
                .unwrap_or_else(|e| die(&format!("{}: {e}", d.display())));
        }
        let uid = peer::DOVECOT_UID;
        let conf = format!(
            "# private config of the mailin bench; no daemon uses it\n\
             base_dir = {d}/run\nstate_dir = {d}/state\n\
             log_path = /dev/null\ninfo_log_path = /dev/null\n\
             stats_writer_socket_path =\nssl = no\nprotocols = lmtp\n\
             mail_location = maildir:{d}/mail\nmail_uid = {uid}\nmail_gid = {uid}\n\
             first_valid_uid = 1\nfirst_valid_gid = 1\nmail_fsync = {fsync}\n\
             namespace inbox {{\n  inbox = yes\n  separator = /\n}}\n",
            d = d.display()
        );
        fs::write(d.join("dovecot.conf"), conf)
            .unwrap_or_else(|e| die(&format!("{}: {e}", d.display())));
        peer::chown_r(&d.join("mail"), uid);
        peer::chown_r(&d.join("home"), uid);
        d
    }

    fn check_maildir(&self, mail: &Path) {
        let n: usize = ["cur", "new"]
            .iter()
            .map(|s| fs::read_dir(mail.join(s)).map(|d| d.count()).unwrap_or(0))
            .sum();
        if n != self.files.len() {
            die(&format!(
                "{}: {n} messages, {} expected",
                mail.display(),
                self.files.len()
            ));
        }
    }

    fn check_msgstore(&self, store: &Path) {
        let dir = store.join("users").join(USER);
        let n = fs::read_dir(&dir)
            .map(|d| {
                d.flatten()
                    .filter(|e| {
                        let n = e.file_name();
                        let n = n.to_string_lossy();
                        n.ends_with('.') && n[..n.len() - 1].bytes().all(|b| b.is_ascii_digit())
                    })
                    .count()
            })
            .unwrap_or(0);
        if n != self.files.len() {
            die(&format!(
                "{}: {n} messages, {} expected",
                dir.display(),
                self.files.len()
            ));
        }
    }
}

/// Dovecot's auth-userdb socket, answered in a thread: every USER lookup gets the
/// one static user (uid/gid 65534, the given home), as `userdb { driver = static }`
/// would; the mail location is the config's.
struct FakeUserdb {
    path: PathBuf,
}

impl FakeUserdb {
    fn start(path: &Path, home: &Path) -> FakeUserdb {
        let _ = fs::remove_file(path);
        let l =
            UnixListener::bind(path).unwrap_or_else(|e| die(&format!("{}: {e}", path.display())));
        let _ = Command::new("chmod").arg("666").arg(path).status();
        let home = home.to_path_buf();
        std::thread::spawn(move || {
            for c in l.incoming().flatten() {
                let home = home.clone();
                std::thread::spawn(move || Self::serve(c, &home));
            }
        });
        FakeUserdb {
            path: path.to_path_buf(),
        }
    }

    fn serve(c: UnixStream, home: &Path) {
        let Ok(mut w) = c.try_clone() else { return };
        let uid = peer::DOVECOT_UID;
        if write!(w, "VERSION\t1\t2\nSPID\t{}\n", std::process::id()).is_err() {
            return;
        }
        for line in BufReader::new(c).lines() {
            let Ok(line) = line else { return };
            let f: Vec<&str> = line.split('\t').collect();
            let reply = match f.as_slice() {
                ["USER", id, user, ..] => {
                    format!(
                        "USER\t{id}\t{user}\tuid={uid}\tgid={uid}\thome={}\n",
                        home.display()
                    )
                }
                ["PASS", id, user, ..] => format!("PASS\t{id}\tuser={user}\n"),
                ["LIST", id, ..] => format!("DONE\t{id}\n"),
                _ => continue,
            };
            if w.write_all(reply.as_bytes()).is_err() {
                return;
            }
        }
    }
}

impl Drop for FakeUserdb {
    fn drop(&mut self) {
        let _ = fs::remove_file(&self.path);
    }
}
