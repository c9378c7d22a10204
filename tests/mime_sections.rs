//! `msgstore::mime::section` against Dovecot 2.3's own answers to FETCH BODY[...]
//! on the shared corpus of real mail, asked live of Dovecot's `imap` process.
//!
//! Needs `../shared` (the corpus and `tools/dovecot/imap-preauth.sh`, beside the
//! checkout, never in it) and the `dovecot-imapd` package; without either it prints
//! why and skips. The same semantics are proved without them by the unit tests in
//! `src/mime/section.rs` and the fixtures in `tests/mime_fixtures/`.
//! Deliberate differences are listed in `src/mime/DIFFERENCES.md`.

mod dovecot_imap;

use dovecot_imap::{Dovecot, corpus, fetch_items};
use msgstore::mime::section::{SectionText, Sections, partial, section};

const FIELDS: &[&str] = &[
    "From",
    "Subject",
    "Date",
    "Message-ID",
    "Content-Type",
    "References",
];

struct Spec {
    path: Vec<u32>,
    text: Option<SectionText>,
    partial: Option<(u64, u64)>,
}

impl Spec {
    fn imap(&self) -> String {
        let mut s = self
            .path
            .iter()
            .map(|n| n.to_string())
            .collect::<Vec<_>>()
            .join(".");
        let list = || format!(" ({})", FIELDS.join(" "));
        let text = match &self.text {
            None => String::new(),
            Some(SectionText::Header) => "HEADER".into(),
            Some(SectionText::Text) => "TEXT".into(),
            Some(SectionText::Mime) => "MIME".into(),
            Some(SectionText::HeaderFields(_)) => format!("HEADER.FIELDS{}", list()),
            Some(SectionText::HeaderFieldsNot(_)) => format!("HEADER.FIELDS.NOT{}", list()),
        };
        if !s.is_empty() && !text.is_empty() {
            s.push('.');
        }
        s.push_str(&text);
        let mut out = format!("BODY.PEEK[{s}]");
        if let Some((o, l)) = self.partial {
            out.push_str(&format!("<{o}.{l}>"));
        }
        out
    }
}

fn specs(raw: &[u8]) -> Vec<Spec> {
    let fields = || {
        FIELDS
            .iter()
            .map(|f| f.as_bytes().to_vec())
            .collect::<Vec<_>>()
    };
    let spec = |path: &[u32], text, partial| Spec {
        path: path.to_vec(),
        text,
        partial,
    };
    let mut v = vec![
        spec(&[], None, None),
        spec(&[], Some(SectionText::Header), None),
        spec(&[], Some(SectionText::Text), None),
        spec(&[], Some(SectionText::HeaderFields(fields())), None),
        spec(&[], Some(SectionText::HeaderFieldsNot(fields())), None),
        spec(&[], None, Some((0, 100))),
        spec(&[], Some(SectionText::Text), Some((10, 50))),
    ];
    // Partials that start on either octet of the first line end, which is a CR the
    // conversion adds when the file has a bare LF there.
    if let Some(lf) = raw.iter().position(|&b| b == b'\n') {
        let at = lf as u64;
        v.push(spec(&[], None, Some((at, 3))));
        v.push(spec(&[], None, Some((at + 1, 3))));
    }
    let mut paths: Vec<Vec<u32>> = Vec::new();
    for a in 1..=3 {
        paths.push(vec![a]);
        for b in 1..=3 {
            paths.push(vec![a, b]);
            for c in 1..=3 {
                paths.push(vec![a, b, c]);
            }
        }
    }
    for p in &paths {
        v.push(spec(p, None, None));
        v.push(spec(p, Some(SectionText::Mime), None));
        v.push(spec(p, Some(SectionText::Header), None));
        v.push(spec(p, Some(SectionText::Text), None));
        if p.len() <= 2 {
            v.push(spec(p, Some(SectionText::HeaderFields(fields())), None));
            v.push(spec(p, Some(SectionText::HeaderFieldsNot(fields())), None));
            v.push(spec(p, None, Some((5, 50))));
        }
    }
    v
}

#[test]
fn sections_match_dovecot_on_real_mail() {
    let messages = match corpus() {
        Ok(m) => m,
        Err(why) => {
            println!("skipping: {why}");
            return;
        }
    };
    let raws: Vec<&[u8]> = messages.iter().map(|(_, b)| b.as_slice()).collect();
    let mut dovecot = match Dovecot::start(&raws) {
        Ok(d) => d,
        Err(why) => {
            println!("skipping: {why}");
            return;
        }
    };
    let (mut compared, mut nonempty) = (0usize, 0usize);
    let (mut differences, mut deliberate) = (Vec::new(), Vec::new());
    for (i, (name, raw)) in messages.iter().enumerate() {
        let uid = i + 1;
        let specs = specs(raw);
        let sections = Sections::new(raw);
        let items: Vec<String> = specs.iter().map(Spec::imap).collect();
        let cmd = format!("UID FETCH {uid} ({})", items.join(" "));
        let responses = dovecot.command(cmd.as_bytes()).expect("dovecot FETCH");
        let mut answers = Vec::new();
        for r in &responses {
            let (_, its) = fetch_items(r).expect("FETCH response");
            answers.extend(its.into_iter().filter(|(n, _)| n.starts_with("BODY[")));
        }
        assert_eq!(answers.len(), specs.len(), "{name}: answers to {cmd}");
        for (spec, (echo, theirs)) in specs.iter().zip(answers) {
            let theirs = theirs.unwrap_or_default();
            let whole = sections.get(&spec.path, spec.text.as_ref());
            assert_eq!(
                whole.len() as u64,
                sections.len(&spec.path, spec.text.as_ref()),
                "{name} {echo}: section_len"
            );
            let ours = match spec.partial {
                Some((o, l)) => partial(&whole, o, Some(l)),
                None => &whole[..],
            };
            compared += 1;
            nonempty += usize::from(!theirs.is_empty());
            if ours != theirs.as_slice() && known_difference(raw, spec, ours, &theirs) {
                deliberate.push(format!("{name} {echo}"));
            } else if ours != theirs.as_slice() {
                differences.push(format!(
                    "{name} {echo}\n  ours    ({}): {:?}\n  dovecot ({}): {:?}",
                    ours.len(),
                    clip(ours),
                    theirs.len(),
                    clip(&theirs)
                ));
            }
        }
    }
    println!(
        "compared {compared} sections of {} messages ({nonempty} non-empty in Dovecot's answers); \
         {} differ, {} deliberately (src/mime/DIFFERENCES.md)",
        messages.len(),
        differences.len() + deliberate.len(),
        deliberate.len()
    );
    for d in &deliberate {
        println!("deliberate: {d}");
    }
    for d in &differences {
        println!("{d}");
    }
    assert!(
        differences.is_empty(),
        "{} sections differ from Dovecot",
        differences.len()
    );
}

/// The two deliberate differences of DIFFERENCES.md, both about a header subset of a
/// header without its blank line: Dovecot adds the blank line at the top level, and
/// inside a part cut short by a boundary it reads on past the part's end.
fn known_difference(raw: &[u8], spec: &Spec, ours: &[u8], theirs: &[u8]) -> bool {
    if !matches!(
        spec.text,
        Some(SectionText::HeaderFields(_) | SectionText::HeaderFieldsNot(_))
    ) || spec.partial.is_some()
    {
        return false;
    }
    let header = section(raw, &spec.path, Some(&SectionText::Header));
    let has_blank_line = header.as_ref() == b"\r\n" || header.ends_with(b"\r\n\r\n");
    if has_blank_line {
        return false;
    }
    if spec.path.is_empty() {
        let mut added = ours.to_vec();
        if !added.is_empty() && !added.ends_with(b"\r\n") {
            added.extend_from_slice(b"\r\n");
        }
        added.extend_from_slice(b"\r\n");
        matches!(spec.text, Some(SectionText::HeaderFields(_))) && theirs == added.as_slice()
    } else {
        theirs.starts_with(ours)
    }
}

fn clip(b: &[u8]) -> String {
    let s = String::from_utf8_lossy(b);
    if s.len() > 300 {
        let mut cut = 300;
        while !s.is_char_boundary(cut) {
            cut -= 1;
        }
        format!("{}...", &s[..cut])
    } else {
        s.into_owned()
    }
}
