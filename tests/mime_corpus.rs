//! `msgstore::mime::build` against Dovecot 2.3 on the shared corpus of real mail.
//!
//! The corpus lives beside the checkout (`../shared/corpus/real`), never in it. Every
//! message is built twice — as published and CRLF-normalised, as the store writes it —
//! and both must agree; then each field is compared byte for byte with what Dovecot
//! returned (`dovecot-oracle.jsonl`). Every difference is printed; the floors below
//! are what the module reached, so a regression fails. Known, deliberate differences
//! are explained in `src/mime/DIFFERENCES.md`.
//!
//! Its own harness (libtest-mimic, `harness = false`): libtest decides what is
//! ignored when it compiles, and only a harness that decides at run time can say
//! "ignored" when the corpus is not there, in the summary every `cargo test`
//! prints, instead of a pass that compared nothing.

use libtest_mimic::{Arguments, Completion, Failed, Trial};
use std::collections::BTreeMap;
use std::fmt::Write as _;
use std::path::{Path, PathBuf};

const CORPUS: &str = concat!(env!("CARGO_MANIFEST_DIR"), "/../shared/corpus/real");

/// `MSGSTORE_CORPUS_DIR`, else [`CORPUS`].
fn corpus() -> PathBuf {
    std::env::var_os("MSGSTORE_CORPUS_DIR").map_or_else(|| PathBuf::from(CORPUS), PathBuf::from)
}

/// Minimum number of matching messages per field (raise when the module improves).
const FLOORS: &[(&str, usize)] = &[
    ("ENVELOPE", 659),
    ("BODYSTRUCTURE", 659),
    ("BODY", 659),
    ("RFC822.SIZE", 659),
    ("HEADER.SIZE", 659),
    ("HEADER.PHYSICAL", 659),
];

fn main() -> std::process::ExitCode {
    let args = Arguments::from_args();
    let tests = vec![Trial::ignorable_test(
        "matches_dovecot_on_real_mail",
        matches_dovecot_on_real_mail,
    )];
    libtest_mimic::run(&args, tests).exit_code()
}

/// The corpus lives beside the checkout, never in it: without it the test is
/// reported as ignored, with the reason; `MSGSTORE_REQUIRE_CORPUS=1` makes its
/// absence a failure instead (for a machine that must have it), and
/// `MSGSTORE_CORPUS_DIR` names another copy.
fn absent(root: &Path) -> Result<Completion, Failed> {
    let why = format!(
        "needs the real-mail corpus, {} is not there",
        root.display()
    );
    if std::env::var_os("MSGSTORE_REQUIRE_CORPUS").is_some_and(|v| !v.is_empty()) {
        return Err(format!("{why} (and MSGSTORE_REQUIRE_CORPUS is set)").into());
    }
    Ok(Completion::ignored_with(why))
}

fn matches_dovecot_on_real_mail() -> Result<Completion, Failed> {
    let root = &corpus();
    if !root.is_dir() {
        return absent(root);
    }
    let oracle = read_oracle(&root.join("dovecot-oracle.jsonl"));
    let files = list_messages(root);
    assert!(!files.is_empty(), "no .eml files under {}", root.display());

    let mut matched: BTreeMap<&str, usize> = FLOORS.iter().map(|&(f, _)| (f, 0)).collect();
    let mut compared = 0usize;
    let mut skipped_nul = 0usize;
    let mut line_end_disagreements = Vec::new();
    let mut differences = Vec::new();

    for path in &files {
        let rel = path
            .strip_prefix(root)
            .map(|p| p.to_string_lossy().replace('\\', "/"))
            .unwrap_or_default();
        let raw = std::fs::read(path).unwrap_or_else(|e| panic!("{}: {e}", path.display()));
        if raw.contains(&0) {
            // msgstore sets messages with NUL bytes aside as BAD; they are never cached.
            skipped_nul += 1;
            continue;
        }
        let Some(want) = oracle.get(&rel) else {
            panic!("{rel}: not in dovecot-oracle.jsonl");
        };
        let ours = msgstore::mime::build(&raw);
        let crlf = msgstore::mime::build(&crlf_normalise(&raw));
        // Everything but the physical header length must be independent of line ends.
        let virtual_view = |c: &msgstore::mime::FetchData| {
            (
                c.envelope.clone(),
                c.bodystructure.clone(),
                c.body.clone(),
                c.size,
                c.header_size,
                c.body_size,
            )
        };
        if virtual_view(&ours) != virtual_view(&crlf) {
            line_end_disagreements.push(rel.clone());
        }
        compared += 1;

        let fields: [(&str, Vec<u8>, &Vec<u8>); 6] = [
            ("ENVELOPE", strip_parens(&ours.envelope), &want.envelope),
            (
                "BODYSTRUCTURE",
                strip_parens(&ours.bodystructure),
                &want.bodystructure,
            ),
            ("BODY", strip_parens(&ours.body), &want.body),
            (
                "RFC822.SIZE",
                ours.size.to_string().into_bytes(),
                &want.size,
            ),
            (
                "HEADER.SIZE",
                ours.header_size.to_string().into_bytes(),
                &want.hdr_size,
            ),
            (
                "HEADER.PHYSICAL",
                ours.header_size_physical.to_string().into_bytes(),
                &want.hdr_physical,
            ),
        ];
        for (field, got, expected) in fields {
            if &got == expected {
                *matched.entry(field).or_default() += 1;
            } else {
                differences.push(format!(
                    "{rel} {field}\n  ours:    {}\n  dovecot: {}",
                    show(&got),
                    show(expected)
                ));
            }
        }
    }

    // Shown only with a failure: this harness does not capture output.
    let mut log = String::new();
    let _ = writeln!(
        log,
        "compared {compared} messages ({skipped_nul} with NUL bytes skipped)"
    );
    for (field, n) in &matched {
        let _ = writeln!(
            log,
            "{field:16} {n:4}/{compared} ({:.2}%)",
            100.0 * *n as f64 / compared.max(1) as f64
        );
    }
    for d in &differences {
        let _ = writeln!(log, "{d}");
    }
    if !line_end_disagreements.is_empty() {
        return Err(
            format!("LF and CRLF copies disagree: {line_end_disagreements:?}\n{log}").into(),
        );
    }
    for &(field, floor) in FLOORS {
        let n = matched.get(field).copied().unwrap_or_default();
        if n < floor {
            return Err(format!("{field}: {n} matches, floor is {floor}\n{log}").into());
        }
    }
    Ok(Completion::Completed)
}

struct Expected {
    envelope: Vec<u8>,
    bodystructure: Vec<u8>,
    body: Vec<u8>,
    size: Vec<u8>,
    hdr_size: Vec<u8>,
    hdr_physical: Vec<u8>,
}

fn read_oracle(path: &Path) -> BTreeMap<String, Expected> {
    let text = std::fs::read_to_string(path).unwrap_or_else(|e| panic!("{}: {e}", path.display()));
    let mut out = BTreeMap::new();
    for line in text.lines().filter(|l| !l.trim().is_empty()) {
        let v: serde_json::Value = serde_json::from_str(line).expect("oracle line is JSON");
        let string_field = |name: &str| -> Vec<u8> {
            if let Some(b64) = v.get(format!("{name}_b64")).and_then(|x| x.as_str()) {
                return base64_decode(b64);
            }
            v.get(name)
                .and_then(|x| x.as_str())
                .unwrap_or_default()
                .as_bytes()
                .to_vec()
        };
        let number = |name: &str| -> Vec<u8> {
            v.get(name)
                .and_then(|x| x.as_u64())
                .map(|n| n.to_string().into_bytes())
                .unwrap_or_default()
        };
        let file = v.get("file").and_then(|x| x.as_str()).unwrap_or_default();
        out.insert(
            file.to_string(),
            Expected {
                envelope: string_field("envelope"),
                bodystructure: string_field("bodystructure"),
                body: string_field("body"),
                size: number("size"),
                hdr_size: number("hdr_size_virtual"),
                hdr_physical: number("hdr_size_physical"),
            },
        );
    }
    out
}

fn list_messages(root: &Path) -> Vec<PathBuf> {
    let mut files = Vec::new();
    let mut dirs = vec![root.to_path_buf()];
    while let Some(dir) = dirs.pop() {
        let Ok(entries) = std::fs::read_dir(&dir) else {
            continue;
        };
        for entry in entries.flatten() {
            let p = entry.path();
            if p.is_dir() {
                dirs.push(p);
            } else if p.extension().is_some_and(|e| e == "eml") {
                files.push(p);
            }
        }
    }
    files.sort();
    files
}

/// The normalisation `deliver` applies before it stores a message.
fn crlf_normalise(raw: &[u8]) -> Vec<u8> {
    msgstore::message::to_crlf(raw).into_owned()
}

fn strip_parens(v: &[u8]) -> Vec<u8> {
    v.strip_prefix(b"(")
        .and_then(|v| v.strip_suffix(b")"))
        .unwrap_or(v)
        .to_vec()
}

fn show(v: &[u8]) -> String {
    format!("{:?}", String::from_utf8_lossy(v))
}

fn base64_decode(s: &str) -> Vec<u8> {
    let val = |c: u8| -> Option<u32> {
        Some(match c {
            b'A'..=b'Z' => c - b'A',
            b'a'..=b'z' => c - b'a' + 26,
            b'0'..=b'9' => c - b'0' + 52,
            b'+' => 62,
            b'/' => 63,
            _ => return None,
        } as u32)
    };
    let mut out = Vec::with_capacity(s.len() * 3 / 4);
    let (mut acc, mut bits) = (0u32, 0u32);
    for c in s.bytes().filter_map(val) {
        acc = (acc << 6) | c;
        bits += 6;
        if bits >= 8 {
            bits -= 8;
            out.push((acc >> bits) as u8);
            acc &= (1 << bits) - 1;
        }
    }
    out
}
