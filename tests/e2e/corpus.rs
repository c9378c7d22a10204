//! End-to-end tests on the real-mail corpus beside the checkout
//! (`../shared/corpus/real`, never in it): the real binary delivers, rebuilds,
//! imports and exports every message of it.
//!
//! Its own test binary with its own harness (libtest-mimic, `harness = false`):
//! libtest fixes what is ignored when it compiles, and only a harness that
//! decides at run time can report these as "ignored" with the reason, in the
//! summary every `cargo test` prints, when the corpus is not there, instead of a
//! pass that tested nothing. `MSGSTORE_REQUIRE_CORPUS=1` makes its absence a
//! failure, for a machine that must have it; `MSGSTORE_CORPUS_DIR` names another
//! copy.

#[allow(dead_code)]
mod util;

use libtest_mimic::{Arguments, Completion, Failed, Trial};
use std::path::{Path, PathBuf};
use util::*;

/// A test of the corpus: given its directory, it panics on failure.
type CorpusTest = fn(&Path);

fn main() -> std::process::ExitCode {
    let args = Arguments::from_args();
    let tests: Vec<(&str, CorpusTest)> = vec![
        (
            "deliver_of_the_whole_real_corpus_refuses_only_the_nul_messages",
            deliver_of_the_whole_real_corpus_refuses_only_the_nul_messages,
        ),
        (
            "real_corpus_imports_and_round_trips",
            real_corpus_imports_and_round_trips,
        ),
    ];
    let trials = tests
        .into_iter()
        .map(|(name, f)| Trial::ignorable_test(name, move || with_corpus(f)))
        .collect();
    libtest_mimic::run(&args, trials).exit_code()
}

/// Runs `f` on the corpus, or says why it cannot (a panic in `f` is a failure:
/// the harness catches it).
fn with_corpus(f: CorpusTest) -> Result<Completion, Failed> {
    let corpus = std::env::var_os("MSGSTORE_CORPUS_DIR")
        .map(PathBuf::from)
        .unwrap_or_else(|| Path::new(env!("CARGO_MANIFEST_DIR")).join("../shared/corpus/real"));
    if corpus.is_dir() {
        f(&corpus);
        return Ok(Completion::Completed);
    }
    let why = format!(
        "needs the real-mail corpus, {} is not there",
        corpus.display()
    );
    if std::env::var_os("MSGSTORE_REQUIRE_CORPUS").is_some_and(|v| !v.is_empty()) {
        return Err(format!("{why} (and MSGSTORE_REQUIRE_CORPUS is set)").into());
    }
    Ok(Completion::ignored_with(why))
}

/// Every message of the corpus delivered at once: only those with a NUL byte (or
/// nothing at all) are refused, and a full rebuild computes the same cache.
fn deliver_of_the_whole_real_corpus_refuses_only_the_nul_messages(corpus: &Path) {
    let mut files = Vec::new();
    for src in std::fs::read_dir(corpus)
        .unwrap()
        .flatten()
        .filter(|e| e.path().is_dir())
    {
        for f in std::fs::read_dir(src.path()).unwrap().flatten() {
            if f.path().extension().is_some_and(|x| x == "eml") {
                files.push(f.path());
            }
        }
    }
    files.sort();
    // Refused: a NUL byte, or nothing at all (an empty file is no message).
    let with_nul: Vec<_> = files
        .iter()
        .filter(|f| {
            let b = std::fs::read(f).unwrap();
            b.contains(&0) || b.iter().all(u8::is_ascii_whitespace)
        })
        .cloned()
        .collect();
    assert!(!with_nul.is_empty());
    let s = Store::new();
    s.run(&["user", "add", "joe"]).ok();
    let mut args = vec!["--json".to_string(), "deliver".into(), "joe".into()];
    args.extend(files.iter().map(|f| f.display().to_string()));
    let a: Vec<&str> = args.iter().map(String::as_str).collect();
    let r = s.run(&a).code(1);
    let j = r.json();
    assert_eq!(
        j["delivered"].as_u64().unwrap() as usize,
        files.len() - with_nul.len()
    );
    let refused: Vec<String> = j["messages"]
        .as_array()
        .unwrap()
        .iter()
        .filter(|m| m["error"].is_string())
        .map(|m| m["source"].as_str().unwrap().to_owned())
        .collect();
    let expected: Vec<String> = with_nul.iter().map(|f| f.display().to_string()).collect();
    assert_eq!(refused, expected);
    for f in &with_nul {
        let why = if std::fs::read(f).unwrap().contains(&0) {
            "it contains a NUL byte"
        } else {
            "it is empty"
        };
        assert!(
            r.stderr
                .contains(&format!("{}: refused: {why}", f.display())),
            "{}",
            r.stderr
        );
    }
    // A full rebuild computes the very same cache the delivery did.
    let before = s.dump("joe");
    std::fs::remove_file(s.dir("users/joe/msgstore.index")).unwrap();
    s.run(&["reconstruct", "--full", "joe"]).ok();
    let after = s.dump("joe");
    for (a, b) in before["messages"]
        .as_array()
        .unwrap()
        .iter()
        .zip(after["messages"].as_array().unwrap())
    {
        for k in ["uid", "size", "guid", "envelope", "bodystructure", "body"] {
            assert_eq!(a[k], b[k], "{k} of UID {}", a["uid"]);
        }
    }
}

/// Every message of the corpus as a Maildir, imported; then exported in both
/// formats and imported back.
fn real_corpus_imports_and_round_trips(corpus: &Path) {
    let mut files: Vec<PathBuf> = files_under(corpus)
        .into_iter()
        .filter(|f| f.extension().is_some_and(|x| x == "eml"))
        .collect();
    files.sort();
    let tmp = tempfile::tempdir().unwrap();
    let md = tmp.path().join("corpus");
    for d in ["cur", "new", "tmp"] {
        std::fs::create_dir_all(md.join(d)).unwrap();
    }
    let mut refused = Vec::new();
    let letters = ["S", "RS", "F", "T", "D", "", "P", "FS"];
    for (i, f) in files.iter().enumerate() {
        let b = std::fs::read(f).unwrap();
        let name = md.join(format!(
            "cur/{:08}.corpus:2,{}",
            i,
            letters[i % letters.len()]
        ));
        std::fs::copy(f, &name).unwrap();
        set_mtime(&name, 1_000_000_000 + i as i64 * 3600);
        if b.contains(&0) || b.iter().all(u8::is_ascii_whitespace) {
            refused.push(name);
        }
    }
    assert!(!refused.is_empty());
    let s = Store::new();
    s.run(&["user", "add", "joe"]).ok();
    let r = s.run(&["--json", "import", "joe/corpus", p(&md)]).code(1);
    let j = r.json();
    assert_eq!(
        j["total"]["added"].as_u64().unwrap() as usize,
        files.len() - refused.len()
    );
    let names: Vec<String> = j["mailboxes"][0]["refused"]
        .as_array()
        .unwrap()
        .iter()
        .map(|x| x["source"].as_str().unwrap().to_owned())
        .collect();
    let want: Vec<String> = refused.iter().map(|f| f.display().to_string()).collect();
    assert_eq!(names, want);
    for f in &refused {
        assert!(
            r.stderr.contains(&format!("{}: refused: it ", f.display())),
            "{}",
            r.stderr
        );
    }
    let before = s.dump("joe/corpus");

    let out = tmp.path().join("out");
    s.run(&["export", "joe/corpus", p(&out)]).ok();
    s.run(&["import", "joe/back", p(&out)]).ok();
    assert_eq!(
        messages(&s.dump("joe/back")),
        messages(&before),
        "Maildir round trip"
    );

    let mb = tmp.path().join("out.mbox");
    let r = s
        .run(&["--json", "export", "joe/corpus", p(&mb), "--format", "mbox"])
        .ok();
    // What mbox cannot hold, export says, by UID: those may differ, no other.
    let mut unkept = std::collections::BTreeSet::new();
    for w in r.json()["mailboxes"][0]["warnings"].as_array().unwrap() {
        let w = w.as_str().unwrap();
        let uid: u64 = w
            .strip_prefix("UID ")
            .and_then(|x| x.split(':').next())
            .and_then(|x| x.parse().ok())
            .unwrap_or_else(|| panic!("{w}"));
        unkept.insert(uid);
    }
    s.run(&["import", "joe/mbox", p(&mb)]).ok();
    let back = messages(&s.dump("joe/mbox"));
    let orig = messages(&before);
    assert_eq!(back.len(), orig.len());
    let mut same = 0;
    for (a, b) in back.iter().zip(&orig) {
        if unkept.contains(&b["uid"].as_u64().unwrap()) {
            continue;
        }
        assert_eq!(a, b, "mbox round trip of UID {}", b["uid"]);
        same += 1;
    }
    assert!(same > orig.len() / 2, "{same} of {}", orig.len());
    eprintln!(
        "corpus: {} messages, {} kept exactly by mbox, {} said not to be",
        orig.len(),
        same,
        unkept.len()
    );
}
