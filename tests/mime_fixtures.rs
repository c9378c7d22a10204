//! Hand-written RFC corner cases for `msgstore::mime::build`, one snapshot each
//! (in `snapshots/mime/`). Each message is also built CRLF-normalised, and the two
//! must agree on everything but the physical header length.

use std::path::Path;

const FIXTURES: &str = concat!(env!("CARGO_MANIFEST_DIR"), "/tests/mime_fixtures");

#[test]
fn fixtures_match_snapshots() {
    let mut paths: Vec<_> = std::fs::read_dir(FIXTURES)
        .expect("tests/mime_fixtures exists")
        .flatten()
        .map(|e| e.path())
        .filter(|p| p.extension().is_some_and(|e| e == "eml"))
        .collect();
    paths.sort();
    assert!(
        paths.len() >= 15,
        "expected the fixture set, found {}",
        paths.len()
    );
    for path in paths {
        let name = stem(&path);
        let raw = std::fs::read(&path).expect("fixture is readable");
        let cache = msgstore::mime::build(&raw);
        let normalised = msgstore::mime::build(&crlf_normalise(&raw));
        assert_eq!(
            (
                &cache.envelope,
                &cache.bodystructure,
                &cache.body,
                cache.size,
                cache.header_size
            ),
            (
                &normalised.envelope,
                &normalised.bodystructure,
                &normalised.body,
                normalised.size,
                normalised.header_size
            ),
            "{name}: LF and CRLF copies disagree"
        );
        assert_eq!(cache.size, cache.header_size + cache.body_size, "{name}");
        let value = format!(
            "envelope: {}\nbodystructure: {}\nbody: {}\nsize: {} header_size: {} body_size: {} header_size_physical: {}\n",
            escape(&cache.envelope),
            escape(&cache.bodystructure),
            escape(&cache.body),
            cache.size,
            cache.header_size,
            cache.body_size,
            cache.header_size_physical,
        );
        insta::with_settings!({snapshot_path => "../snapshots/mime", prepend_module_to_snapshot => false}, {
            insta::assert_snapshot!(name, value)
        });
    }
}

fn stem(p: &Path) -> String {
    p.file_stem()
        .map(|s| s.to_string_lossy().into_owned())
        .unwrap_or_default()
}

/// Literals carry CRLF and 8-bit bytes; escape them so snapshots stay plain text.
fn escape(v: &[u8]) -> String {
    let mut s = String::new();
    for chunk in v.utf8_chunks() {
        for c in chunk.valid().chars() {
            match c {
                '\r' => s.push_str("\\r"),
                '\n' => s.push_str("\\n"),
                _ => s.push(c),
            }
        }
        for b in chunk.invalid() {
            s.push_str(&format!("\\x{b:02x}"));
        }
    }
    s
}

/// The normalisation `deliver` applies before it stores a message.
fn crlf_normalise(raw: &[u8]) -> Vec<u8> {
    msgstore::message::to_crlf(raw).into_owned()
}
