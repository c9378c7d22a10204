//! The reconstruct benchmark: `cargo bench --bench reconstruct -- [OPTIONS]`.
//!
//! Builds a deterministic store (msgstore's own sample corpus, or `--corpus DIR` of
//! `.eml` files, e.g. from `../shared/tools/gen_corpus.py`, so the peers can be timed
//! on the very same messages), then times in one run, against each other:
//!
//! - (a) the floor: read every message file and BLAKE3 it, in parallel, nothing else
//! - (b) `reconstruct -r` after every index file was deleted (full rebuild)
//! - (c) `reconstruct -r --full` over intact indexes
//! - (d) `reconstruct -r` over intact indexes (the routine check)
//! - (q) `reconstruct -r --quick` over intact indexes
//! - (s) the floor of (q): list every mailbox directory and stat every message file
//!   (relative to its directory, in parallel), nothing else
//! - (e) `reconstruct -m`
//! - (f) `x-build-user-db`
//!
//! Every phase runs as a child process (the release binary; the floor is this
//! benchmark re-executed), timed wall-clock around spawn and `wait4`, whose rusage
//! gives its peak memory. The phases run in rounds (each round runs every phase
//! once, so all are measured in the same stretch of a noisy machine's time), each
//! run after a sync(2); round 0 is an untimed warm-up, then `--runs` rounds; the
//! table shows medians. The page cache is warm unless `--cold` (root only) drops
//! it before every timed run.
//!
//! Options (defaults in brackets):
//!   --messages N        messages in the store [20000]
//!   --kb K[,K...]       mean message size in KB of the sample corpus; one table each [8,60]
//!   --mailboxes M       spread the messages over M mailboxes [1]
//!   --corpus DIR        use DIR/msg/*.eml or DIR/*.eml (sorted) instead of the sample
//!   --runs R            timed runs per phase [3]
//!   --dir DIR           where to build stores [a new directory under /tmp]
//!   --keep              keep the stores
//!   --bin PATH          time this msgstore binary instead of the one cargo built
//!   --tsv FILE          also append each phase's medians to FILE (for benches/peers.sh)
//!   --cold              drop the page cache before each timed run (needs root)
//!   --phases LIST       subset of a,b,c,d,q,s,e,f [all]
//!   --scale [LIST]      instead: the scaling series, e.g. 1000,10000,100000,10000x10
//!                       (COUNTxPER = COUNT mailboxes of PER messages) [that list]
//!   --store-shaped [M,N]  instead: the store-shaped case (`shaped/mod.rs`): M mailboxes
//!                       of Zipf-distributed sizes, N messages, from gen_corpus.py,
//!                       and Cyrus `reconstruct -r` on the same tree [2000,100000]
//!
//! With none of --messages, --kb, --mailboxes, --corpus, --scale, --store-shaped,
//! the default run is the two sample tables and then the store-shaped case.

use std::collections::BTreeMap;
use std::io::{Read, Seek};
use std::path::{Path, PathBuf};
use std::process::{Command, Stdio};
use std::time::{Duration, Instant};

mod shaped;

const USAGE: &str = "usage: cargo bench --bench reconstruct -- [--messages N] [--kb K[,K...]] \
[--mailboxes M] [--corpus DIR] [--runs R] [--dir DIR] [--keep] [--bin PATH] [--cold] [--phases abcdqsef] \
[--scale [1000,10000,100000,10000x10]] [--store-shaped [2000,100000]]";

struct Opts {
    messages: usize,
    kb: Vec<usize>,
    mailboxes: usize,
    corpus: Option<PathBuf>,
    runs: usize,
    dir: Option<PathBuf>,
    keep: bool,
    cold: bool,
    phases: String,
    scale: Option<Vec<(usize, usize)>>,
    tsv: Option<PathBuf>,
    /// The store-shaped case: mailboxes, messages.
    shaped: Option<(usize, usize)>,
    /// Whether the tables were chosen (any option that picks the stores).
    chosen: bool,
}

fn parse_args() -> Opts {
    let mut o = Opts {
        messages: 20_000,
        kb: vec![8, 60],
        mailboxes: 1,
        corpus: None,
        runs: 3,
        dir: None,
        keep: false,
        cold: false,
        phases: "abcdqsef".into(),
        scale: None,
        tsv: None,
        shaped: None,
        chosen: false,
    };
    let args: Vec<String> = std::env::args().skip(1).collect();
    let mut i = 0;
    let value = |i: &mut usize| -> String {
        *i += 1;
        args.get(*i).cloned().unwrap_or_else(|| die(USAGE))
    };
    let num = |s: String| -> usize { s.replace('_', "").parse().unwrap_or_else(|_| die(USAGE)) };
    while i < args.len() {
        if [
            "--messages",
            "--kb",
            "--mailboxes",
            "--corpus",
            "--scale",
            "--store-shaped",
        ]
        .contains(&args[i].as_str())
        {
            o.chosen = true;
        }
        match args[i].as_str() {
            "--bench" => {} // cargo bench passes it
            "--messages" => o.messages = num(value(&mut i)),
            "--kb" => o.kb = value(&mut i).split(',').map(|s| num(s.into())).collect(),
            "--mailboxes" => o.mailboxes = num(value(&mut i)).max(1),
            "--corpus" => o.corpus = Some(value(&mut i).into()),
            "--runs" => o.runs = num(value(&mut i)).max(1),
            "--dir" => o.dir = Some(value(&mut i).into()),
            "--keep" => o.keep = true,
            "--tsv" => o.tsv = Some(value(&mut i).into()),
            // SAFETY: set before any thread is started.
            "--bin" => unsafe { std::env::set_var("MSGSTORE_BENCH_BIN", value(&mut i)) },
            "--cold" => o.cold = true,
            "--phases" => o.phases = value(&mut i),
            "--scale" => {
                let list = match args.get(i + 1) {
                    Some(v) if !v.starts_with("--") => value(&mut i),
                    _ => "1000,10000,100000,10000x10".into(),
                };
                o.scale = Some(
                    list.split(',')
                        .map(|s| match s.split_once('x') {
                            Some((m, per)) => (num(m.into()), num(per.into())),
                            None => (1, num(s.into())),
                        })
                        .collect(),
                );
            }
            "--store-shaped" => {
                o.shaped = Some(match args.get(i + 1) {
                    Some(v) if !v.starts_with("--") => {
                        let v = value(&mut i);
                        let (m, n) = v.split_once(',').unwrap_or_else(|| die(USAGE));
                        (num(m.into()), num(n.into()))
                    }
                    _ => (2000, 100_000),
                });
            }
            "--build-shaped-child" => {
                let root = PathBuf::from(value(&mut i));
                let corpus = PathBuf::from(value(&mut i));
                let mailboxes = num(value(&mut i));
                let messages = num(value(&mut i));
                shaped::build_child(&root, &corpus, mailboxes, messages);
                std::process::exit(0);
            }
            "--floor-child" => {
                floor_child(Path::new(&value(&mut i)));
                std::process::exit(0);
            }
            "--stat-floor-child" => {
                stat_floor_child(Path::new(&value(&mut i)));
                std::process::exit(0);
            }
            "--build-child" => {
                let root = PathBuf::from(value(&mut i));
                let messages = num(value(&mut i));
                let mailboxes = num(value(&mut i));
                let src = Source::from_arg(&value(&mut i));
                println!("{}", build_store_here(&root, &src, messages, mailboxes));
                std::process::exit(0);
            }
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

fn die(msg: &str) -> ! {
    eprintln!("bench: {msg}");
    std::process::exit(2);
}

fn msgstore_bin() -> PathBuf {
    // --bin PATH (exported by main) times another build, e.g. before/after a change.
    std::env::var_os("MSGSTORE_BENCH_BIN")
        .map(PathBuf::from)
        .unwrap_or_else(|| PathBuf::from(env!("CARGO_BIN_EXE_msgstore")))
}

/// The floor, in a child process: every message file of the store, read once into
/// a per-worker buffer and BLAKE3-hashed, in parallel. Prints the bytes read.
fn floor_child(store: &Path) {
    use rayon::prelude::*;
    let mut files = Vec::new();
    for top in ["users", "public"] {
        collect_messages(&store.join(top), &mut files);
    }
    let bytes: u64 = files
        .par_iter()
        .map_init(Vec::new, |buf: &mut Vec<u8>, p| {
            buf.clear();
            let mut f = std::fs::File::open(p).unwrap_or_else(|e| die(&format!("{p:?}: {e}")));
            f.read_to_end(buf)
                .unwrap_or_else(|e| die(&format!("{p:?}: {e}")));
            std::hint::black_box(blake3::hash(buf));
            buf.len() as u64
        })
        .sum();
    println!("{} {bytes}", files.len());
}

/// The floor of `--quick`, in a child process: every mailbox directory listed and
/// every message file stat'ed through its directory entry (`fstatat` relative to the
/// directory, as `reconstruct` does), in parallel. Prints the files seen.
fn stat_floor_child(store: &Path) {
    use rayon::prelude::*;
    fn walk(dir: &Path, out: &mut Vec<std::fs::DirEntry>) {
        let Ok(rd) = std::fs::read_dir(dir) else {
            return;
        };
        for e in rd.flatten() {
            match e.file_type() {
                Ok(ft) if ft.is_dir() => walk(&e.path(), out),
                Ok(ft) if ft.is_file() => out.push(e),
                _ => {}
            }
        }
    }
    let mut entries = Vec::new();
    for top in ["users", "public"] {
        walk(&store.join(top), &mut entries);
    }
    let bytes: u64 = entries
        .par_iter()
        .map(|e| e.metadata().map(|m| m.len()).unwrap_or(0))
        .sum();
    println!("{} {bytes}", entries.len());
}

fn collect_messages(dir: &Path, out: &mut Vec<PathBuf>) {
    let Ok(rd) = std::fs::read_dir(dir) else {
        return;
    };
    for e in rd.flatten() {
        let Ok(ft) = e.file_type() else { continue };
        let name = e.file_name();
        let name = name.to_string_lossy();
        if ft.is_dir() {
            collect_messages(&e.path(), out);
        } else if ft.is_file()
            && name.len() > 1
            && name.ends_with('.')
            && name[..name.len() - 1].bytes().all(|b| b.is_ascii_digit())
        {
            out.push(e.path());
        }
    }
}

/// One finished child: wall time and peak resident memory.
struct Sample {
    wall: Duration,
    /// User + system CPU time: less sensitive than wall time to other load.
    cpu: Duration,
    maxrss_kib: u64,
    /// What it printed, in an unnamed file: a report on 10,000 mailboxes is
    /// megabytes, and read into this process it would raise the peak memory that
    /// the next child inherits (see `build_store`).
    stdout: std::fs::File,
}

impl Sample {
    /// The whole output: only for the small ones (a count, a size).
    fn text(mut self) -> String {
        let mut s = String::new();
        let _ = self.stdout.rewind();
        let _ = self.stdout.read_to_string(&mut s);
        s
    }
}

fn run_child(mut cmd: Command) -> Sample {
    let mut stdout = tempfile::tempfile().unwrap_or_else(|e| die(&format!("tempfile: {e}")));
    let for_child = stdout
        .try_clone()
        .unwrap_or_else(|e| die(&format!("tempfile: {e}")));
    cmd.stdout(Stdio::from(for_child)).stderr(Stdio::piped());
    let start = Instant::now();
    let mut child = cmd.spawn().unwrap_or_else(|e| die(&format!("spawn: {e}")));
    // Drain stderr on a thread so a chatty child never blocks on a full pipe.
    let mut err = child.stderr.take().expect("stderr");
    let t_err = std::thread::spawn(move || {
        let mut s = String::new();
        let _ = err.read_to_string(&mut s);
        s
    });
    let mut status: libc::c_int = 0;
    // SAFETY: plain FFI call with valid pointers to locals.
    let mut ru: libc::rusage = unsafe { std::mem::zeroed() };
    let pid = child.id() as libc::pid_t;
    let r = unsafe { libc::wait4(pid, &mut status, 0, &mut ru) };
    let wall = start.elapsed();
    if r != pid {
        die(&format!("wait4: {}", std::io::Error::last_os_error()));
    }
    let stderr = t_err.join().unwrap_or_default();
    let ok = libc::WIFEXITED(status) && libc::WEXITSTATUS(status) == 0;
    if !ok {
        let mut head = Vec::new();
        let _ = stdout.rewind();
        let _ = (&mut stdout).take(4000).read_to_end(&mut head);
        die(&format!(
            "{cmd:?} failed (status {status}):\n{stderr}\n{}",
            String::from_utf8_lossy(&head)
        ));
    }
    // The std handle must not try to reap the already reaped child.
    std::mem::forget(child);
    let tv = |t: libc::timeval| Duration::new(t.tv_sec as u64, t.tv_usec as u32 * 1000);
    Sample {
        wall,
        cpu: tv(ru.ru_utime) + tv(ru.ru_stime),
        maxrss_kib: ru.ru_maxrss as u64,
        stdout,
    }
}

fn ms(store: &Path, args: &[&str]) -> Command {
    let mut c = Command::new(msgstore_bin());
    c.arg("--store").arg(store).arg("-q");
    c.args(args);
    c
}

fn ms_ok(store: &Path, args: &[&str]) {
    run_child(ms(store, args));
}

// ---------------------------------------------------------------- the corpus

/// Where the messages come from.
enum Source {
    Sample {
        seed: u64,
        kb: usize,
    },
    /// The corpus directory, and its files.
    Files(PathBuf, Vec<PathBuf>),
}

impl Source {
    /// The source as one argument of `--build-child`, and back.
    fn arg(&self) -> String {
        match self {
            Source::Sample { seed, kb } => format!("sample:{seed}:{kb}"),
            Source::Files(dir, _) => format!("corpus:{}", dir.display()),
        }
    }

    fn from_arg(a: &str) -> Source {
        if let Some(dir) = a.strip_prefix("corpus:") {
            return Source::Files(dir.into(), corpus_files(Path::new(dir)));
        }
        let mut it = a
            .strip_prefix("sample:")
            .unwrap_or_else(|| die(a))
            .split(':');
        let mut next = || -> u64 {
            it.next()
                .and_then(|v| v.parse().ok())
                .unwrap_or_else(|| die(a))
        };
        let seed = next();
        Source::Sample {
            seed,
            kb: next() as usize,
        }
    }

    fn message(&self, i: usize) -> Vec<u8> {
        match self {
            Source::Sample { seed, kb } => msgstore::sample::message(*seed, i as u64, *kb),
            Source::Files(_, f) => std::fs::read(&f[i % f.len()])
                .unwrap_or_else(|e| die(&format!("{:?}: {e}", f[i % f.len()]))),
        }
    }

    fn describe(&self) -> String {
        match self {
            Source::Sample { seed, kb } => {
                format!("msgstore::sample corpus (seed {seed}, mean ~{kb} KB)")
            }
            Source::Files(_, f) => format!(
                "corpus {} ({} files)",
                f.first()
                    .and_then(|p| p.parent())
                    .map(|p| p.display().to_string())
                    .unwrap_or_default(),
                f.len()
            ),
        }
    }
}

fn corpus_files(dir: &Path) -> Vec<PathBuf> {
    let d = if dir.join("msg").is_dir() {
        dir.join("msg")
    } else {
        dir.to_owned()
    };
    let mut v: Vec<PathBuf> = std::fs::read_dir(&d)
        .unwrap_or_else(|e| die(&format!("{}: {e}", d.display())))
        .flatten()
        .map(|e| e.path())
        .filter(|p| p.extension().is_some_and(|x| x == "eml"))
        .collect();
    v.sort();
    if v.is_empty() {
        die(&format!("no .eml files in {}", d.display()));
    }
    v
}

/// The store's shape: mailbox directories and the users that own them. Users
/// `u0000`... each hold up to 100 mailboxes: the INBOX and folders `f01`...
fn layout(mailboxes: usize) -> (Vec<String>, Vec<PathBuf>) {
    let users: Vec<String> = (0..mailboxes.div_ceil(100))
        .map(|u| format!("u{u:04}"))
        .collect();
    let dirs = (0..mailboxes)
        .map(|m| {
            let mut p = PathBuf::from("users").join(&users[m / 100]);
            if m % 100 > 0 {
                p.push(format!("f{:02}", m % 100));
            }
            p
        })
        .collect();
    (users, dirs)
}

struct Store {
    root: PathBuf,
    messages: usize,
    mailboxes: usize,
    bytes: u64,
}

/// Builds the store in a child process. A child's peak memory as `wait4` reports
/// it is at least the peak of the process it was spawned from (Linux keeps the
/// larger high-water mark across exec): built here, the messages generated for
/// 10,000 mailboxes made every phase's peak read 46.5 MiB.
fn build_store(root: &Path, src: &Source, messages: usize, mailboxes: usize) -> Store {
    let mut c = Command::new(std::env::current_exe().expect("current_exe"));
    c.arg("--build-child")
        .arg(root)
        .arg(messages.to_string())
        .arg(mailboxes.to_string())
        .arg(src.arg());
    let out = run_child(c).text();
    let bytes = out
        .trim()
        .parse()
        .unwrap_or_else(|_| die(&format!("--build-child said {out:?}")));
    Store {
        root: root.to_owned(),
        messages,
        mailboxes,
        bytes,
    }
}

/// `init`, `user add`, the message files written straight into the mailbox
/// directories (as a restore would), then `reconstruct -m` to list the folders. No
/// index exists afterwards: the first (b) run builds them. Gives the bytes written.
fn build_store_here(root: &Path, src: &Source, messages: usize, mailboxes: usize) -> u64 {
    use rayon::prelude::*;
    let _ = std::fs::remove_dir_all(root);
    ms_ok(root, &["init"]);
    let (users, dirs) = layout(mailboxes);
    for chunk in users.chunks(500) {
        let mut args = vec!["user", "add"];
        args.extend(chunk.iter().map(String::as_str));
        ms_ok(root, &args);
    }
    for d in &dirs {
        std::fs::create_dir_all(root.join(d)).unwrap_or_else(|e| die(&format!("{d:?}: {e}")));
    }
    let bytes: u64 = (0..messages)
        .into_par_iter()
        .map(|i| {
            let m = i % mailboxes;
            let uid = i / mailboxes + 1;
            let data = src.message(i);
            let p = root.join(&dirs[m]).join(format!("{uid}."));
            std::fs::write(&p, &data).unwrap_or_else(|e| die(&format!("{p:?}: {e}")));
            data.len() as u64
        })
        .sum();
    if mailboxes > users.len() {
        ms_ok(root, &["reconstruct", "-m"]);
    }
    bytes
}

fn remove_indexes(dir: &Path) {
    let Ok(rd) = std::fs::read_dir(dir) else {
        return;
    };
    for e in rd.flatten() {
        let Ok(ft) = e.file_type() else { continue };
        if ft.is_dir() {
            remove_indexes(&e.path());
        } else if e.file_name() == "msgstore.index" {
            let _ = std::fs::remove_file(e.path());
        }
    }
}

fn drop_caches() -> bool {
    // SAFETY: sync(2) takes no arguments and cannot fail.
    unsafe { libc::sync() };
    std::fs::write("/proc/sys/vm/drop_caches", "3\n").is_ok()
}

// ---------------------------------------------------------------- the phases

struct Phase {
    key: char,
    label: &'static str,
    /// Prepares the store (untimed) and gives the command to time.
    prep: fn(&Store) -> Command,
    /// Whether the phase reads message bytes (MB/s is meaningless otherwise).
    reads: bool,
    /// Messages this phase must report in its JSON total, if it reports any.
    checks_total: bool,
}

fn phases() -> Vec<Phase> {
    vec![
        Phase {
            key: 'a',
            label: "(a) floor: read + BLAKE3, parallel",
            prep: |s| {
                let mut c = Command::new(std::env::current_exe().expect("current_exe"));
                c.arg("--floor-child").arg(&s.root);
                c
            },
            reads: true,
            checks_total: false,
        },
        Phase {
            key: 'b',
            label: "(b) reconstruct -r, indexes deleted",
            prep: |s| {
                remove_indexes(&s.root.join("users"));
                remove_indexes(&s.root.join("public"));
                json(&s.root, &["reconstruct", "-r"])
            },
            reads: true,
            checks_total: true,
        },
        Phase {
            key: 'c',
            label: "(c) reconstruct -r --full, intact",
            prep: |s| json(&s.root, &["reconstruct", "-r", "--full"]),
            reads: true,
            checks_total: true,
        },
        Phase {
            key: 'd',
            label: "(d) reconstruct -r, intact (routine)",
            prep: |s| json(&s.root, &["reconstruct", "-r"]),
            reads: true,
            checks_total: true,
        },
        Phase {
            key: 'q',
            label: "(q) reconstruct -r --quick, intact",
            prep: |s| json(&s.root, &["reconstruct", "-r", "--quick"]),
            reads: false,
            checks_total: true,
        },
        Phase {
            key: 's',
            label: "(s) floor of (q): list + stat, parallel",
            prep: |s| {
                let mut c = Command::new(std::env::current_exe().expect("current_exe"));
                c.arg("--stat-floor-child").arg(&s.root);
                c
            },
            reads: false,
            checks_total: false,
        },
        Phase {
            key: 'e',
            label: "(e) reconstruct -m",
            prep: |s| json(&s.root, &["reconstruct", "-m"]),
            reads: false,
            checks_total: false,
        },
        Phase {
            key: 'f',
            label: "(f) x-build-user-db",
            prep: |s| json(&s.root, &["x-build-user-db"]),
            reads: false,
            checks_total: false,
        },
    ]
}

fn json(store: &Path, args: &[&str]) -> Command {
    let mut c = Command::new(msgstore_bin());
    c.arg("--store").arg(store).arg("--json");
    c.args(args);
    c
}

struct Result {
    key: char,
    label: &'static str,
    reads: bool,
    walls: Vec<f64>,
    cpus: Vec<f64>,
    rss_kib: Vec<u64>,
}

impl Result {
    fn median(&self) -> f64 {
        median(&self.walls)
    }
}

fn median(v: &[f64]) -> f64 {
    let mut s = v.to_vec();
    s.sort_by(f64::total_cmp);
    let n = s.len();
    if n == 0 {
        return f64::NAN;
    }
    if n % 2 == 1 {
        s[n / 2]
    } else {
        (s[n / 2 - 1] + s[n / 2]) / 2.0
    }
}

/// Times the phases named in `keys` in rounds: each round runs every phase once,
/// in order, so the floor and the phases compared with it are measured in the same
/// minute of a noisy machine. Round 0 is the warm-up. Before every run, sync(2):
/// what the last run (or the phase's preparation) wrote is flushed, so no run
/// waits for another's writeback.
fn time_phases(s: &Store, keys: &str, runs: usize, cold: bool) -> Vec<Result> {
    let all = phases();
    let phases: Vec<&Phase> = all.iter().filter(|p| keys.contains(p.key)).collect();
    let mut out: Vec<Result> = phases
        .iter()
        .map(|p| Result {
            key: p.key,
            label: p.label,
            reads: p.reads,
            walls: Vec::new(),
            cpus: Vec::new(),
            rss_kib: Vec::new(),
        })
        .collect();
    for run in 0..=runs {
        for (p, r) in phases.iter().zip(out.iter_mut()) {
            let cmd = (p.prep)(s);
            if cold && run > 0 {
                drop_caches();
            } else {
                // SAFETY: sync(2) takes no arguments and cannot fail.
                unsafe { libc::sync() };
            }
            let mut x = run_child(cmd);
            if p.checks_total {
                check_total(&mut x.stdout, s.messages, p.label);
            }
            let (wall, cpu, rss) = (x.wall, x.cpu, x.maxrss_kib);
            if p.key == 'a' {
                let n: usize = x
                    .text()
                    .split_whitespace()
                    .next()
                    .and_then(|v| v.parse().ok())
                    .unwrap_or(0);
                if n != s.messages {
                    die(&format!("floor read {n} files, expected {}", s.messages));
                }
            }
            if run > 0 {
                r.walls.push(wall.as_secs_f64());
                r.cpus.push(cpu.as_secs_f64());
                r.rss_kib.push(rss);
            }
        }
    }
    out
}

/// Checks the report's total, reading it as a stream: of a report only the total
/// is kept in memory, whatever the number of mailboxes.
fn check_total(stdout: &mut std::fs::File, expect: usize, what: &str) {
    #[derive(serde::Deserialize)]
    struct Report {
        total: Total,
    }
    #[derive(serde::Deserialize)]
    struct Total {
        messages: u64,
        failed: u64,
    }
    let _ = stdout.rewind();
    let v: Report = serde_json::from_reader(std::io::BufReader::new(stdout))
        .unwrap_or_else(|e| die(&format!("{what}: not a report ({e})")));
    let got = v.total.messages as usize;
    let failed = v.total.failed;
    if got != expect || failed != 0 {
        die(&format!(
            "{what}: {got} messages, {failed} failed; expected {expect}"
        ));
    }
}

fn print_table(title: &str, s: &Store, results: &[Result]) {
    println!("\n{title}");
    let floor = results.iter().find(|r| r.key == 'a').map(Result::median);
    println!(
        "{:<40} {:>9} {:>13} {:>7} {:>11} {:>7} {:>8} {:>7} {:>8}",
        "phase",
        "median s",
        "min-max s",
        "cpu s",
        "messages/s",
        "MB/s",
        "us/msg",
        "x floor",
        "peak MiB"
    );
    for r in results {
        let m = r.median();
        let min = r.walls.iter().copied().fold(f64::INFINITY, f64::min);
        let max = r.walls.iter().copied().fold(0.0, f64::max);
        let rate = s.messages as f64 / m;
        let mbs = if r.reads || r.key == 'q' || r.key == 's' {
            format!("{:.0}", s.bytes as f64 / 1e6 / m)
        } else {
            "-".into()
        };
        let ratio = floor.map(|f| format!("{:.2}", m / f)).unwrap_or("-".into());
        let rss = median(&r.rss_kib.iter().map(|&k| k as f64).collect::<Vec<_>>()) / 1024.0;
        println!(
            "{:<40} {:>9.3} {:>13} {:>7.3} {:>11.0} {:>7} {:>8.1} {:>7} {:>8.1}",
            r.label,
            m,
            format!("{min:.3}-{max:.3}"),
            median(&r.cpus),
            rate,
            mbs,
            m * 1e6 / s.messages.max(1) as f64,
            ratio,
            rss
        );
    }
    let get = |k: char| results.iter().find(|r| r.key == k).map(Result::median);
    if let (Some(d), Some(q)) = (get('d'), get('q')) {
        println!("--quick is {:.1}x faster than the routine check (d)", d / q);
        if let Some(st) = get('s') {
            println!(
                "the stat floor (s) is {:.1}x faster than (d); --quick costs {:.2}x its floor",
                d / st,
                q / st
            );
        }
    }
}

/// `phase  messages  bytes  median_wall_s  median_cpu_s  median_peak_kib`, one line each.
fn write_tsv(path: &Path, s: &Store, results: &[Result]) {
    use std::io::Write;
    let mut f = std::fs::OpenOptions::new()
        .create(true)
        .append(true)
        .open(path)
        .unwrap_or_else(|e| die(&format!("{}: {e}", path.display())));
    for r in results {
        let rss = median(&r.rss_kib.iter().map(|&k| k as f64).collect::<Vec<_>>());
        let _ = writeln!(
            f,
            "{}\t{}\t{}\t{:.4}\t{:.4}\t{:.0}",
            r.key,
            s.messages,
            s.bytes,
            r.median(),
            median(&r.cpus),
            rss
        );
    }
}

fn machine() -> String {
    let cpus = std::thread::available_parallelism()
        .map(|n| n.get())
        .unwrap_or(1);
    let model = std::fs::read_to_string("/proc/cpuinfo")
        .ok()
        .and_then(|c| {
            c.lines()
                .find(|l| l.starts_with("model name"))
                .and_then(|l| l.split_once(':'))
                .map(|(_, v)| v.trim().to_owned())
        })
        .unwrap_or_default();
    format!("{cpus} CPUs {model}")
}

fn bench_one(o: &Opts, base: &Path, src: &Source, messages: usize, mailboxes: usize, keys: &str) {
    let root = base.join(format!("store-{messages}x{mailboxes}"));
    let t = Instant::now();
    let s = build_store(&root, src, messages, mailboxes);
    eprintln!(
        "bench: built {} in {:.1} s",
        root.display(),
        t.elapsed().as_secs_f64()
    );
    let results = time_phases(&s, keys, o.runs, o.cold);
    let cache = if o.cold {
        if drop_caches() {
            "cold (page cache dropped before each timed run)"
        } else {
            "WARM: --cold asked, but dropping the page cache failed (not root?)"
        }
    } else {
        "warm (one untimed warm-up round; like the peers' figures)"
    };
    let title = format!(
        "{} messages in {} mailbox(es), {:.1} MB ({:.1} KB mean); {}\n{}; page cache {}; median of {} runs",
        s.messages,
        s.mailboxes,
        s.bytes as f64 / 1e6,
        s.bytes as f64 / 1024.0 / s.messages.max(1) as f64,
        src.describe(),
        machine(),
        cache,
        o.runs
    );
    print_table(&title, &s, &results);
    if let Some(path) = &o.tsv {
        write_tsv(path, &s, &results);
    }
    if !o.keep {
        let _ = std::fs::remove_dir_all(&root);
    }
}

fn main() {
    let o = parse_args();
    let base = o.dir.clone().unwrap_or_else(|| {
        std::env::temp_dir().join(format!("msgstore-bench-{}", std::process::id()))
    });
    std::fs::create_dir_all(&base).unwrap_or_else(|e| die(&format!("{base:?}: {e}")));
    let sources: Vec<Source> = match &o.corpus {
        Some(d) => vec![Source::Files(d.clone(), corpus_files(d))],
        None => {
            o.kb.iter()
                .map(|&kb| Source::Sample { seed: 1, kb })
                .collect()
        }
    };
    match &o.scale {
        None if o.shaped.is_some() => {}
        None => {
            for src in &sources {
                bench_one(&o, &base, src, o.messages, o.mailboxes, &o.phases);
            }
        }
        Some(list) => {
            // The scaling series: the phases that touch every message, per config;
            // cost per message must stay flat.
            let keys: String = o.phases.chars().filter(|c| "abdq".contains(*c)).collect();
            let mut rows: BTreeMap<(usize, usize), Vec<Result>> = BTreeMap::new();
            let src = &sources[0];
            for &(mailboxes, per) in list {
                let n = mailboxes * per;
                let root = base.join(format!("scale-{mailboxes}x{per}"));
                let s = build_store(&root, src, n, mailboxes);
                let res = time_phases(&s, &keys, o.runs, o.cold);
                print_table(
                    &format!(
                        "scale: {mailboxes} mailbox(es) x {per} messages, {:.1} MB; {}; {}",
                        s.bytes as f64 / 1e6,
                        src.describe(),
                        machine()
                    ),
                    &s,
                    &res,
                );
                rows.insert((mailboxes, per), res);
                if !o.keep {
                    let _ = std::fs::remove_dir_all(&root);
                }
            }
            println!("\nscale summary: microseconds per message (median), peak MiB");
            print!("{:<22}", "mailboxes x messages");
            for c in keys.chars() {
                print!(" {:>10} {:>8}", format!("({c}) us/msg"), "MiB");
            }
            println!();
            for ((m, per), res) in &rows {
                print!("{:<22}", format!("{m} x {per}"));
                for r in res {
                    let rss = median(&r.rss_kib.iter().map(|&k| k as f64).collect::<Vec<_>>());
                    print!(
                        " {:>10.1} {:>8.1}",
                        r.median() * 1e6 / (*m * *per) as f64,
                        rss / 1024.0
                    );
                }
                println!();
            }
        }
    }
    // The store-shaped case: asked for, or part of the default run.
    if let Some((mailboxes, messages)) = o.shaped.or((!o.chosen).then_some((2000, 100_000))) {
        shaped::run(&o, &base, mailboxes, messages);
    }
    if !o.keep && o.dir.is_none() {
        let _ = std::fs::remove_dir_all(&base);
    }
}
