//! The fuzz targets on stable Rust: each target's property (`fuzz/targets.rs`)
//! over its kept corpus (`fuzz/corpus/<target>/`) and every crash reproducer
//! (`fuzz/artifacts/<target>/`), then a seeded random-mutation loop bounded in
//! time, so CI exercises them without nightly. `cargo +nightly fuzz run <target>`
//! (in `fuzz/`) is the real fuzzer; `MSGSTORE_FUZZ_SECS=N` runs the loop longer
//! and `MSGSTORE_FUZZ_SEED=S` another seed.

mod support;
#[path = "../fuzz/targets.rs"]
mod targets;

use std::path::{Path, PathBuf};
use std::time::{Duration, Instant};
use support::{Rng, env_u64};

fn files(dir: &Path) -> Vec<PathBuf> {
    let mut v: Vec<PathBuf> = std::fs::read_dir(dir)
        .map(|rd| {
            rd.flatten()
                .map(|e| e.path())
                .filter(|p| p.is_file())
                .collect()
        })
        .unwrap_or_default();
    v.sort();
    v
}

/// One mutation of `input`: flips, inserts, deletes, duplications and splices
/// from the corpus, and the bytes mail parsers trip on.
fn mutate(rng: &mut Rng, input: &[u8], corpus: &[Vec<u8>]) -> Vec<u8> {
    const INTERESTING: &[&[u8]] = &[
        b"\r\n",
        b"\n",
        b"\r",
        b"\r\n\r\n",
        b"--",
        b"boundary=",
        b"Content-Type: multipart/mixed; boundary=x\r\n",
        b"message/rfc822",
        b"\"",
        b"\\",
        b"(",
        b")",
        b"{",
        b"}",
        b"=?utf-8?q?",
        b"?=",
        b":",
        b"*",
        b",",
        b"%",
        b".",
        b"/",
        b"\0",
        b"\xff",
        b"\xc3\xa9",
        b"<",
        b">",
        b"@",
        b";",
        b"*0*=",
        b"''",
    ];
    let mut v = input.to_vec();
    for _ in 0..1 + rng.below(4) {
        let at = rng.below(v.len() as u64 + 1) as usize;
        match rng.below(7) {
            0 if !v.is_empty() => {
                let i = at.min(v.len() - 1);
                v[i] ^= 1 << rng.below(8);
            }
            1 => {
                let s = INTERESTING[rng.below(INTERESTING.len() as u64) as usize];
                v.splice(at..at, s.iter().copied());
            }
            2 if !v.is_empty() => {
                let end = (at + 1 + rng.below(16) as usize).min(v.len());
                v.drain(at.min(end)..end);
            }
            3 => {
                let end = (at + 1 + rng.below(64) as usize).min(v.len());
                let chunk: Vec<u8> = v[at.min(end)..end].to_vec();
                for _ in 0..1 + rng.below(8) {
                    v.splice(at..at, chunk.iter().copied());
                }
            }
            4 if !corpus.is_empty() => {
                let other = &corpus[rng.below(corpus.len() as u64) as usize];
                let from = rng.below(other.len() as u64 + 1) as usize;
                let end = (from + rng.below(256) as usize).min(other.len());
                v.splice(at..at, other[from..end].iter().copied());
            }
            5 => v.insert(at, rng.below(256) as u8),
            _ => v.truncate(at),
        }
    }
    v.truncate(1 << 16);
    v
}

fn run_target(name: &str, f: fn(&[u8])) {
    let root = Path::new(env!("CARGO_MANIFEST_DIR")).join("fuzz");
    let mut corpus = Vec::new();
    for p in files(&root.join("corpus").join(name))
        .into_iter()
        .chain(files(&root.join("artifacts").join(name)))
    {
        let bytes = std::fs::read(&p).unwrap();
        let r = std::panic::catch_unwind(|| f(&bytes));
        assert!(r.is_ok(), "{name}: {} fails", p.display());
        corpus.push(bytes);
    }
    assert!(
        !corpus.is_empty(),
        "{name}: no corpus in fuzz/corpus/{name}"
    );
    let secs = env_u64("MSGSTORE_FUZZ_SECS", 2);
    let mut rng = Rng(env_u64("MSGSTORE_FUZZ_SEED", 1) ^ name.len() as u64);
    let start = Instant::now();
    let mut runs = 0u64;
    // Bounded by time and by count, so a slow machine still finishes quickly.
    while start.elapsed() < Duration::from_secs(secs) && runs < 200_000 * secs {
        let base = &corpus[rng.below(corpus.len() as u64) as usize];
        let input = mutate(&mut rng, base, &corpus);
        let r = std::panic::catch_unwind(|| f(&input));
        if r.is_err() {
            let dir = root.join("artifacts").join(name);
            let _ = std::fs::create_dir_all(&dir);
            let p = dir.join(format!("crash-{}", blake3::hash(&input).to_hex()));
            let _ = std::fs::write(&p, &input);
            panic!("{name}: a mutated input fails; kept as {}", p.display());
        }
        runs += 1;
    }
    eprintln!(
        "{name}: {} corpus files, {runs} mutated inputs in {:?}",
        corpus.len(),
        start.elapsed()
    );
}

#[test]
fn mime_build() {
    run_target("mime_build", targets::mime_build);
}

#[test]
fn mime_section() {
    run_target("mime_section", targets::mime_section);
}

#[test]
fn mime_search() {
    run_target("mime_search", targets::mime_search);
}

#[test]
fn names() {
    run_target("names", targets::names);
}

#[test]
fn uidset() {
    run_target("uidset", targets::uidset);
}

#[test]
fn records() {
    run_target("records", targets::records);
}

#[test]
fn imap_parse() {
    run_target("imap_parse", targets::imap_parse);
}

#[test]
fn imap_session() {
    run_target("imap_session", targets::imap_session);
}

#[test]
fn lmtp_session() {
    run_target("lmtp_session", targets::lmtp_session);
}
