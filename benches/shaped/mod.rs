//! The store-shaped case: a real store is many users with a few to dozens of
//! folders each, not one big mailbox. 2,000 mailboxes whose sizes follow Zipf's
//! law (the k-th largest holds 1/k of the largest), 100,000 messages in all,
//! from `../shared/tools/gen_corpus.py`; then msgstore's phases, and Cyrus IMAP's
//! `reconstruct -r` on the same mailboxes with the same messages
//! (`../shared/tools/cyrus`), in one run.
//!
//! Mailbox m of size s holds the first s messages of the corpus as UIDs 1..s, in
//! both stores: that is what the Cyrus tools' setup does with a folder list
//! (`SUBFOLDERS="name:percent ..."`, each folder the first N*percent/100 corpus
//! messages; with N = 100 a percent is a message count), so the two stores hold
//! the same files mailbox for mailbox. Cyrus's setup makes one user, its INBOX
//! and 1,999 folders; msgstore's store has 200 users of ten mailboxes. Each
//! message is a file of its own in both (copied, never linked).
//!
//! Without `../shared/tools` (or python3, or Cyrus) the case says so and is
//! skipped: the repository never holds the corpus or the peers.

use super::*;

/// The shape: mailbox sizes, largest first.
pub fn zipf_sizes(mailboxes: usize, messages: usize) -> Vec<usize> {
    let h: f64 = (1..=mailboxes).map(|k| 1.0 / k as f64).sum();
    let top = messages as f64 / h;
    let mut sizes: Vec<usize> = (1..=mailboxes)
        .map(|k| ((top / k as f64).round() as usize).max(1))
        .collect();
    // Cyrus's setup gives its INBOX exactly N = 100 messages: one mailbox holds 100.
    if let Some(i) = sizes.iter().position(|&s| s <= 100) {
        sizes[i] = 100;
    }
    // Exactly `messages` in all: the difference goes to (or comes from) the largest.
    let sum: usize = sizes.iter().sum();
    sizes[0] = (sizes[0] + messages).saturating_sub(sum).max(1);
    if sizes.iter().sum::<usize>() != messages || !sizes.contains(&100) {
        die(&format!(
            "no Zipf shape of {messages} messages in {mailboxes} mailboxes with one of 100"
        ));
    }
    sizes
}

/// Where the peers' tools are: `$MSGSTORE_TOOLS`, else `../shared/tools` beside
/// the repository.
fn tools() -> PathBuf {
    std::env::var_os("MSGSTORE_TOOLS")
        .map(PathBuf::from)
        .unwrap_or_else(|| Path::new(env!("CARGO_MANIFEST_DIR")).join("../shared/tools"))
}

fn skip(why: &str) {
    println!("\nstore-shaped case SKIPPED: {why}");
}

/// The corpus of the first `count` messages, `gen_corpus.py --seed 1 --avg-kb 8`,
/// made once and kept under the temp directory (`--corpus DIR` gives one).
fn corpus(o: &Opts, count: usize) -> Option<PathBuf> {
    if let Some(d) = &o.corpus {
        return Some(d.clone());
    }
    let gen_corpus = tools().join("gen_corpus.py");
    if !gen_corpus.is_file() {
        skip(&format!(
            "{} not found (the tools live beside the checkout, in ../shared/tools; or give --corpus DIR)",
            gen_corpus.display()
        ));
        return None;
    }
    let dir = std::env::temp_dir().join(format!("msgstore-corpus-s1-kb8-{count}"));
    let done = std::fs::read_to_string(dir.join("MANIFEST.tsv"))
        .map(|m| m.lines().filter(|l| !l.starts_with('#')).count() >= count)
        .unwrap_or(false);
    if !done {
        eprintln!(
            "bench: making the corpus: {} --count {count} ...",
            gen_corpus.display()
        );
        let _ = std::fs::remove_dir_all(&dir);
        let st = Command::new("python3")
            .arg(&gen_corpus)
            .args(["--out"])
            .arg(&dir)
            .args([
                "--count",
                &count.to_string(),
                "--seed",
                "1",
                "--avg-kb",
                "8",
            ])
            .args(["--jobs", "2"])
            .stdout(Stdio::null())
            .status();
        if !st.is_ok_and(|s| s.success()) {
            skip("gen_corpus.py failed (is python3 installed?)");
            return None;
        }
    }
    Some(dir)
}

/// msgstore's layout of the shape: users `s000`..., ten mailboxes each (the
/// INBOX and `f1`..`f9`); the sizes are dealt out in a fixed shuffled order so
/// large mailboxes are spread over users and over INBOXes and folders alike.
fn shaped_layout(sizes: &[usize]) -> (Vec<String>, Vec<(PathBuf, usize)>) {
    let users: Vec<String> = (0..sizes.len().div_ceil(10))
        .map(|u| format!("s{u:03}"))
        .collect();
    let mut order: Vec<usize> = (0..sizes.len()).collect();
    let mut x: u64 = 0x9E37_79B9_7F4A_7C15;
    for i in (1..order.len()).rev() {
        // splitmix64: a fixed permutation, the same on every run.
        x = x.wrapping_add(0x9E37_79B9_7F4A_7C15);
        let mut z = x;
        z = (z ^ (z >> 30)).wrapping_mul(0xBF58_476D_1CE4_E5B9);
        z = (z ^ (z >> 27)).wrapping_mul(0x94D0_49BB_1331_11EB);
        z ^= z >> 31;
        order.swap(i, (z % (i as u64 + 1)) as usize);
    }
    let dirs = order
        .iter()
        .enumerate()
        .map(|(m, &k)| {
            let mut p = PathBuf::from("users").join(&users[m / 10]);
            if m % 10 > 0 {
                p.push(format!("f{}", m % 10));
            }
            (p, sizes[k])
        })
        .collect();
    (users, dirs)
}

/// In a child process (see `build_store`): the msgstore store of the shape.
/// Prints the bytes of message files written.
pub fn build_child(root: &Path, corpus: &Path, mailboxes: usize, messages: usize) {
    use rayon::prelude::*;
    let files = corpus_files(corpus);
    let sizes = zipf_sizes(mailboxes, messages);
    if sizes[0] > files.len() {
        die(&format!(
            "the corpus has {} messages, the largest mailbox needs {}",
            files.len(),
            sizes[0]
        ));
    }
    let _ = std::fs::remove_dir_all(root);
    ms_ok(root, &["init"]);
    let (users, dirs) = shaped_layout(&sizes);
    for chunk in users.chunks(500) {
        let mut args = vec!["user", "add"];
        args.extend(chunk.iter().map(String::as_str));
        ms_ok(root, &args);
    }
    let jobs: Vec<(PathBuf, usize)> = dirs
        .iter()
        .flat_map(|(d, n)| (1..=*n).map(move |uid| (root.join(d), uid)))
        .collect();
    for (d, _) in &dirs {
        std::fs::create_dir_all(root.join(d)).unwrap_or_else(|e| die(&format!("{d:?}: {e}")));
    }
    let bytes: u64 = jobs
        .par_iter()
        .map(|(d, uid)| {
            let data = std::fs::read(&files[uid - 1])
                .unwrap_or_else(|e| die(&format!("{:?}: {e}", files[uid - 1])));
            let p = d.join(format!("{uid}."));
            std::fs::write(&p, &data).unwrap_or_else(|e| die(&format!("{p:?}: {e}")));
            data.len() as u64
        })
        .sum();
    ms_ok(root, &["reconstruct", "-m"]);
    println!("{bytes}");
}

/// One row of the Cyrus tools' `summary.tsv`: median wall, median CPU, peak RSS
/// (MiB), messages.
struct CyrusRow {
    wall: f64,
    cpu: f64,
    rss_mib: f64,
    msgs: usize,
}

/// Cyrus `reconstruct -r` over the same mailboxes: indexes deleted (`rfull`) and
/// intact (`rcheck`), with `$TOOLS/cyrus/setup.sh` and `bench.sh`.
fn cyrus(o: &Opts, base: &Path, corpus: &Path, sizes: &[usize]) -> Option<(CyrusRow, CyrusRow)> {
    let dir = tools().join("cyrus");
    let cyrbin = std::env::var_os("CYRBIN")
        .map(PathBuf::from)
        .unwrap_or_else(|| PathBuf::from("/usr/lib/cyrus/bin"));
    if !dir.join("setup.sh").is_file() {
        skip(&format!(
            "Cyrus: {} not found",
            dir.join("setup.sh").display()
        ));
        return None;
    }
    if !cyrbin.join("reconstruct").is_file() {
        skip(&format!(
            "Cyrus: {} not found (Debian: apt-get install cyrus-common, see ../shared/tools/README.md)",
            cyrbin.join("reconstruct").display()
        ));
        return None;
    }
    // The INBOX holds N = 100; every other mailbox is a folder of `size` percent
    // of N, that is of `size` messages.
    let inbox = sizes.iter().position(|&s| s == 100)?;
    let folders: Vec<String> = sizes
        .iter()
        .enumerate()
        .filter(|&(i, _)| i != inbox)
        .map(|(i, s)| format!("m{i:04}:{s}"))
        .collect();
    let work = base.join("cyrus");
    let out = work.join("results");
    let _ = std::fs::remove_dir_all(&out);
    std::fs::create_dir_all(&work).unwrap_or_else(|e| die(&format!("{work:?}: {e}")));
    let t = Instant::now();
    eprintln!("bench: Cyrus setup of {} mailboxes ...", sizes.len());
    let log = std::fs::File::create(work.join("setup.log"))
        .unwrap_or_else(|e| die(&format!("{work:?}: {e}")));
    let st = Command::new(dir.join("setup.sh"))
        .arg(corpus)
        .arg("100")
        .env("WORK", &work)
        .env("CYRBIN", &cyrbin)
        .env("SUBFOLDERS", folders.join(" "))
        .stdout(log.try_clone().unwrap_or_else(|e| die(&format!("{e}"))))
        .stderr(log)
        .status();
    if !st.is_ok_and(|s| s.success()) {
        skip(&format!(
            "Cyrus setup failed; see {}",
            work.join("setup.log").display()
        ));
        return None;
    }
    eprintln!(
        "bench: Cyrus set up in {:.0} s; timing ...",
        t.elapsed().as_secs_f64()
    );
    let st = Command::new(dir.join("bench.sh"))
        .args(["100", "rfull", "rcheck"])
        .env("WORK", &work)
        .env("CYRBIN", &cyrbin)
        .env("SUBFOLDERS", folders.join(" "))
        .env("OUT", &out)
        .env("RUNS", o.runs.to_string())
        .env("WARMUP", "1")
        .stdout(Stdio::null())
        .stderr(Stdio::inherit())
        .status();
    if !st.is_ok_and(|s| s.success()) {
        skip(&format!("Cyrus bench.sh failed; see {}", out.display()));
        return None;
    }
    let summary = std::fs::read_to_string(out.join("summary.tsv")).unwrap_or_default();
    let row = |name: &str| -> Option<CyrusRow> {
        let f: Vec<&str> = summary
            .lines()
            .rev()
            .find(|l| l.split('\t').next() == Some(name))?
            .split('\t')
            .collect();
        Some(CyrusRow {
            msgs: f.get(2)?.parse().ok()?,
            wall: f.get(5)?.parse().ok()?,
            cpu: f.get(7)?.parse().ok()?,
            rss_mib: f.get(8)?.parse().ok()?,
        })
    };
    Some((row("rfull")?, row("rcheck")?))
}

/// The whole case: build, time msgstore's phases, time Cyrus, print both.
pub fn run(o: &Opts, base: &Path, mailboxes: usize, messages: usize) {
    let sizes = zipf_sizes(mailboxes, messages);
    let Some(corpus) = corpus(o, sizes[0]) else {
        return;
    };
    let root = base.join(format!("shaped-{mailboxes}-{messages}"));
    let t = Instant::now();
    let mut c = Command::new(std::env::current_exe().expect("current_exe"));
    c.arg("--build-shaped-child")
        .arg(&root)
        .arg(&corpus)
        .arg(mailboxes.to_string())
        .arg(messages.to_string());
    let out = run_child(c).text();
    let bytes: u64 = out
        .trim()
        .parse()
        .unwrap_or_else(|_| die(&format!("--build-shaped-child said {out:?}")));
    eprintln!(
        "bench: built {} in {:.1} s",
        root.display(),
        t.elapsed().as_secs_f64()
    );
    let s = Store {
        root: root.clone(),
        messages,
        mailboxes,
        bytes,
    };
    let keys: String = o.phases.chars().filter(|c| "abdq".contains(*c)).collect();
    let results = time_phases(&s, &keys, o.runs, o.cold);
    if !o.keep {
        let _ = std::fs::remove_dir_all(&root);
    }
    let cy = cyrus(o, base, &corpus, &sizes);
    let title = format!(
        "store-shaped: {mailboxes} mailboxes of Zipf-distributed sizes ({} to {} messages; {} of 10 or fewer), {messages} messages, {:.1} MB ({:.1} KB mean)\ncorpus {} (gen_corpus.py --seed 1 --avg-kb 8); {}; page cache warm; median of {} runs",
        sizes.last().copied().unwrap_or(0),
        sizes[0],
        sizes.iter().filter(|&&n| n <= 10).count(),
        bytes as f64 / 1e6,
        bytes as f64 / 1024.0 / messages.max(1) as f64,
        corpus.display(),
        machine(),
        o.runs
    );
    print_table(&title, &s, &results);
    let Some((full, check)) = cy else { return };
    let mb = bytes as f64 / 1e6;
    println!(
        "{:<40} {:>9} {:>7} {:>11} {:>7} {:>8} {:>8}",
        "Cyrus, same mailboxes and messages",
        "median s",
        "cpu s",
        "messages/s",
        "MB/s",
        "us/msg",
        "peak MiB"
    );
    for (label, r) in [
        ("Cyrus reconstruct -r, indexes deleted", &full),
        ("Cyrus reconstruct -r, intact", &check),
    ] {
        println!(
            "{:<40} {:>9.3} {:>7.3} {:>11.0} {:>7.0} {:>8.1} {:>8.1}",
            label,
            r.wall,
            r.cpu,
            r.msgs as f64 / r.wall,
            mb / r.wall,
            r.wall * 1e6 / r.msgs as f64,
            r.rss_mib
        );
    }
    if full.msgs != messages || check.msgs != messages {
        println!(
            "WARNING: Cyrus counted {} / {} messages, msgstore {messages}",
            full.msgs, check.msgs
        );
    }
    let get = |k: char| results.iter().find(|r| r.key == k).map(Result::median);
    if let Some(b) = get('b') {
        println!(
            "full rebuild (b): {:.1}x Cyrus's messages/s (budget: at least 8x)",
            full.wall / b
        );
    }
    if let Some(d) = get('d') {
        println!(
            "routine check (d): {:.1}x Cyrus's intact reconstruct (which stats each file, reads none)",
            check.wall / d
        );
    }
    if let Some(q) = get('q') {
        println!(
            "--quick (q): {:.1}x Cyrus's intact reconstruct",
            check.wall / q
        );
    }
}
