//! The serving benchmark: `cargo bench --bench serve -- [OPTIONS]`.
//!
//! msgstore's IMAP (`serve --stdio --user bench`) against Dovecot's own `imap`
//! (pre-authenticated, `../shared/tools/dovecot/imap-preauth.sh`), both over pipes,
//! on the same messages (`../shared/tools/gen_corpus.py --seed 1`), one mailbox
//! (INBOX) each. Reads `../shared/tools` (or `$MSGSTORE_BENCH_TOOLS`) and stops,
//! saying so, when it is absent; needs root (Dovecot drops to uid 65534),
//! `dovecot-imapd` and `isync` (mbsync).
//!
//! Steps, each in a session of its own (a new server process), timed from the
//! command's first byte sent to its tagged reply read:
//!   select   SELECT INBOX
//!   flags    UID FETCH 1:* (UID FLAGS RFC822.SIZE)
//!   envbs    UID FETCH 1:* (ENVELOPE BODYSTRUCTURE)
//!   tb       Thunderbird's first FETCH: UID RFC822.SIZE FLAGS BODY.PEEK[HEADER.FIELDS (...)]
//!   mbsync   mbsync's first full sync of INBOX into an empty local Maildir, through a
//!            `Tunnel` to each server (`FSync no`: the local disk is not what is timed);
//!            wall time of the whole mbsync run
//! Peak memory is the server process's maximum RSS (`wait4`). One untimed warm-up
//! pass of every step fills both sides' caches (Dovecot builds its index and cache
//! on first use); then `--runs` rounds, each running every step on both servers,
//! which goes first alternating; the tables show medians.
//!
//! Options (defaults in brackets):
//!   --messages N     messages [10000]
//!   --avg-kb K       gen_corpus.py --avg-kb [40 up to 10,000 messages, else 8]
//!   --corpus DIR     use this gen_corpus.py output (DIR/msg/*.eml, first N sorted)
//!                    [/tmp/msgstore-bench-corpus-N-Kkb, generated when missing]
//!   --runs R         timed rounds [3]
//!   --steps LIST     subset of select,flags,envbs,tb,mbsync [all]
//!   --dir DIR        work directory [a new one under /tmp, removed at the end]
//!   --keep           keep the work directory
//!   --bin PATH       time this msgstore binary instead of the one cargo built

// Children are reaped by `wait4` (for their rusage), which clippy does not see.
#![allow(clippy::zombie_processes)]

mod peer;

use peer::{Imap, Scratch, Series, die, fmt_s, thousands};
use std::fs;
use std::path::{Path, PathBuf};
use std::process::{Command, Stdio};

const USAGE: &str = "usage: cargo bench --bench serve -- [--messages N] [--avg-kb K] [--corpus DIR] \
[--runs R] [--steps select,flags,envbs,tb,mbsync] [--dir DIR] [--keep] [--bin PATH]";

const USER: &str = "bench";

const TB_FETCH: &str = "UID FETCH 1:* (UID RFC822.SIZE FLAGS BODY.PEEK[HEADER.FIELDS (From To Cc Bcc \
Subject Date Message-ID Priority X-Priority References Newsgroups In-Reply-To Content-Type Reply-To)])";

const STEPS: [(&str, &str); 5] = [
    ("select", "SELECT INBOX"),
    ("flags", "UID FETCH 1:* (UID FLAGS RFC822.SIZE)"),
    ("envbs", "UID FETCH 1:* (ENVELOPE BODYSTRUCTURE)"),
    ("tb", TB_FETCH),
    ("mbsync", "mbsync first full sync"),
];

struct Opts {
    messages: usize,
    avg_kb: Option<usize>,
    corpus: Option<PathBuf>,
    runs: usize,
    steps: Vec<String>,
    dir: Option<PathBuf>,
    keep: bool,
}

fn parse_args() -> Opts {
    let args: Vec<String> = std::env::args().skip(1).collect();
    if args.first().is_some_and(|a| a == "--rss-wrap") {
        peer::rss_wrap_main(&args[1..]);
    }
    let mut o = Opts {
        messages: 10_000,
        avg_kb: None,
        corpus: None,
        runs: 3,
        steps: STEPS.iter().map(|s| s.0.to_string()).collect(),
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
    while i < args.len() {
        match args[i].as_str() {
            "--bench" => {}
            "--messages" => o.messages = num(value(&mut i)).max(1),
            "--avg-kb" => o.avg_kb = Some(num(value(&mut i)).max(1)),
            "--corpus" => o.corpus = Some(value(&mut i).into()),
            "--runs" => o.runs = num(value(&mut i)).max(1),
            "--steps" => {
                o.steps = value(&mut i).split(',').map(str::to_string).collect();
                if let Some(bad) = o
                    .steps
                    .iter()
                    .find(|s| !STEPS.iter().any(|t| t.0 == s.as_str()))
                {
                    die(&format!("unknown step {bad}\n{USAGE}"));
                }
            }
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

#[derive(Clone, Copy, PartialEq)]
enum Side {
    Msgstore,
    Dovecot,
}

struct Setup {
    work: PathBuf,
    store: PathBuf,
    dovecot: PathBuf,
    messages: usize,
}

impl Setup {
    fn server(&self, side: Side) -> Command {
        match side {
            Side::Msgstore => peer::msgstore_imap_cmd(&self.store, USER),
            Side::Dovecot => peer::dovecot_imap_cmd(&self.dovecot),
        }
    }

    /// One step on one side: (seconds, server peak RSS KiB, octets moved, count).
    fn run(&self, side: Side, step: &str) -> (f64, u64, u64, u64) {
        if step == "mbsync" {
            return self.mbsync(side);
        }
        let mut s = Imap::start(self.server(side));
        let (secs, bytes, untagged) = if step == "select" {
            let (b, u, t) = s.cmd("SELECT INBOX");
            (t.as_secs_f64(), b, u)
        } else {
            s.cmd("SELECT INBOX");
            let cmd = STEPS
                .iter()
                .find(|x| x.0 == step)
                .map(|x| x.1)
                .unwrap_or_else(|| die(step));
            let (b, u, t) = s.cmd(cmd);
            (t.as_secs_f64(), b, u)
        };
        let r = s.logout();
        if step != "select" && untagged as usize != self.messages {
            die(&format!(
                "{step}: {untagged} FETCH replies for {} messages",
                self.messages
            ));
        }
        (secs, r.maxrss_kib, bytes, untagged)
    }

    /// mbsync's first full sync of INBOX into a new local Maildir.
    fn mbsync(&self, side: Side) -> (f64, u64, u64, u64) {
        let name = if side == Side::Msgstore {
            "msgstore"
        } else {
            "dovecot"
        };
        let local = self.work.join(format!("mbsync-{name}"));
        let _ = fs::remove_dir_all(&local);
        fs::create_dir_all(&local).unwrap_or_else(|e| die(&format!("{}: {e}", local.display())));
        let rss = self.work.join(format!("mbsync-{name}.rss"));
        let _ = fs::remove_file(&rss);
        let me = std::env::current_exe().unwrap_or_else(|e| die(&format!("current_exe: {e}")));
        let server = self.server(side);
        let mut tunnel = format!(
            "{} --rss-wrap {} -- {}",
            me.display(),
            rss.display(),
            server.get_program().to_string_lossy()
        );
        for a in server.get_args() {
            tunnel.push(' ');
            tunnel.push_str(&a.to_string_lossy());
        }
        let rc = self.work.join(format!("mbsync-{name}.rc"));
        let conf = format!(
            "FSync no\n\nIMAPStore far\nTunnel \"{tunnel} 2>/dev/null\"\n\n\
             MaildirStore near\nPath {l}/\nInbox {l}/INBOX\n\n\
             Channel bench\nFar :far:\nNear :near:\nPatterns INBOX\nCreate Near\nSyncState *\n",
            l = local.display()
        );
        fs::write(&rc, conf).unwrap_or_else(|e| die(&format!("{}: {e}", rc.display())));
        let r = peer::run_timed(
            Command::new("mbsync")
                .arg("-c")
                .arg(&rc)
                .arg("-q")
                .arg("bench")
                .stdin(Stdio::null())
                .stdout(Stdio::null()),
            "mbsync",
        );
        let mut got = 0u64;
        let mut bytes = 0u64;
        for d in ["cur", "new"] {
            if let Ok(rd) = fs::read_dir(local.join("INBOX").join(d)) {
                for e in rd.flatten() {
                    got += 1;
                    bytes += e.metadata().map(|m| m.len()).unwrap_or(0);
                }
            }
        }
        if got as usize != self.messages {
            die(&format!(
                "mbsync from {name}: {got} messages arrived, {} expected",
                self.messages
            ));
        }
        let _ = fs::remove_dir_all(&local);
        (r.wall.as_secs_f64(), peer::read_rss_file(&rss), bytes, got)
    }
}

fn main() {
    let o = parse_args();
    peer::need("mbsync", "isync");
    peer::need("/usr/lib/dovecot/imap", "dovecot-imapd");
    let avg_kb = o
        .avg_kb
        .unwrap_or(if o.messages <= 10_000 { 40 } else { 8 });
    let corpus = peer::corpus(o.corpus.as_deref(), o.messages, avg_kb);
    let files = peer::corpus_files(&corpus, o.messages);
    let bytes = peer::total_bytes(&files);
    let scratch = Scratch::new(o.dir.as_deref(), "serve", o.keep);
    let work = scratch.path.clone();
    let setup = setup(&work, &files);
    println!(
        "serve: {} messages, {:.1} MB ({:.1} KB mean), corpus {}, {} rounds after a warm-up; load average {}",
        thousands(o.messages as f64),
        bytes as f64 / 1e6,
        bytes as f64 / o.messages as f64 / 1024.0,
        corpus.display(),
        o.runs,
        peer::load_average()
    );

    let sides = [Side::Msgstore, Side::Dovecot];
    let mut results: Vec<[Series; 2]> = vec![Default::default(); o.steps.len()];
    for round in 0..=o.runs {
        for (k, step) in o.steps.iter().enumerate() {
            for j in 0..2 {
                let si = if round % 2 == 0 { j } else { 1 - j };
                let (secs, rss, b, _) = setup.run(sides[si], step);
                if round > 0 {
                    results[k][si].push(secs, rss, b);
                }
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
    println!(
        "| step | msgstore | msg/s | MB/s | peak MiB | Dovecot | msg/s | MB/s | peak MiB | msgstore is |"
    );
    println!("|---|---|---|---|---|---|---|---|---|---|");
    for (k, step) in o.steps.iter().enumerate() {
        let [m, d] = &results[k];
        let label = match step.as_str() {
            "select" => "SELECT INBOX".to_string(),
            "flags" => "UID FETCH 1:* (UID FLAGS RFC822.SIZE)".into(),
            "envbs" => "UID FETCH 1:* (ENVELOPE BODYSTRUCTURE)".into(),
            "tb" => "Thunderbird's first FETCH (HEADER.FIELDS)".into(),
            _ => "mbsync first full sync".into(),
        };
        let per = |s: &Series| {
            if step == "select" {
                ("".to_string(), "".to_string())
            } else {
                (thousands(n / s.wall()), format!("{:.0}", s.mb() / s.wall()))
            }
        };
        let (mr, mmb) = per(m);
        let (dr, dmb) = per(d);
        let ratio = d.wall() / m.wall();
        println!(
            "| {label} | {} | {mr} | {mmb} | {:.1} | {} | {dr} | {dmb} | {:.1} | {} |",
            fmt_s(m.wall()),
            m.rss_mib(),
            fmt_s(d.wall()),
            d.rss_mib(),
            if ratio >= 1.0 {
                format!("{ratio:.1}x faster")
            } else {
                format!("{:.1}x slower", 1.0 / ratio)
            }
        );
    }
    println!();
    println!("spread (min-max) and octets of the answer, msgstore / Dovecot:");
    for (k, step) in o.steps.iter().enumerate() {
        let [m, d] = &results[k];
        println!(
            "  {step:<7} {} / {}   {:.1} MB / {:.1} MB",
            m.spread(),
            d.spread(),
            m.mb(),
            d.mb()
        );
    }
    println!("load average at the end: {}", peer::load_average());
}

/// The two servers' mailboxes: Dovecot's Maildir by `imap-preauth.sh setup` (from a
/// directory of hard links to exactly these files) and msgstore's by `reconstruct`.
fn setup(work: &Path, files: &[PathBuf]) -> Setup {
    let links = work.join("corpus/msg");
    fs::create_dir_all(&links).unwrap_or_else(|e| die(&format!("{}: {e}", links.display())));
    for f in files {
        let to = links.join(f.file_name().unwrap_or_default());
        // imap-preauth.sh copies regular files only: hard links (or copies), not symlinks.
        if fs::hard_link(f, &to).is_err() {
            fs::copy(f, &to).unwrap_or_else(|e| die(&format!("{}: {e}", to.display())));
        }
    }
    let dovecot = work.join("dovecot");
    eprintln!("bench: Dovecot Maildir (imap-preauth.sh setup)...");
    peer::dovecot_setup(&work.join("corpus"), &dovecot);
    // msgstore's INBOX the way the reconstruct bench builds a store: the files
    // linked in as `<uid>.`, then `reconstruct -r` (import would fsync each of
    // them, minutes for 100,000 messages on this disk; `mailin` times import).
    let store = work.join("store");
    eprintln!("bench: msgstore store (files + reconstruct -r)...");
    peer::new_store(&store, USER);
    let inbox = store.join("users").join(USER);
    for (i, f) in files.iter().enumerate() {
        let to = inbox.join(format!("{}.", i + 1));
        if fs::hard_link(f, &to).is_err() {
            fs::copy(f, &to).unwrap_or_else(|e| die(&format!("{}: {e}", to.display())));
        }
    }
    peer::msgstore(&store, &["reconstruct", "-r", USER]);
    let _ = fs::remove_dir_all(work.join("corpus"));
    Setup {
        work: work.to_path_buf(),
        store,
        dovecot,
        messages: files.len(),
    }
}
