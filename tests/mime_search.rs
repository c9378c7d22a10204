//! `msgstore::mime::search` against Dovecot 2.3's own SEARCH answers on the shared
//! corpus of real mail, asked live of Dovecot's `imap` process.
//!
//! Needs `../shared` (the corpus and `tools/dovecot/imap-preauth.sh`, beside the
//! checkout, never in it) and the `dovecot-imapd` package; without either it prints
//! why and skips. The semantics are proved without them by the unit tests in
//! `src/mime/search.rs`. Deliberate differences: `src/mime/DIFFERENCES.md`.

mod dovecot_imap;

use dovecot_imap::{Dovecot, SearchKey, corpus};
use msgstore::mime::search::Searchable;

/// One search: its IMAP keys and our evaluation of it.
struct Case {
    keys: Vec<SearchKey>,
    ours: fn(&Searchable<'_>) -> bool,
}

/// Messages where we deliberately answer otherwise (src/mime/DIFFERENCES.md): a
/// text part labelled us-ascii whose 8-bit bytes we read as windows-1252.
const DELIBERATE: &[(&str, &str)] = &[("TEXT \"HEIßE\"", "enmime/70.eml")];

/// Dovecot keeps a sent date as an unsigned 32-bit time with 0 for "none or
/// invalid", so a message without a usable Date, or dated outside 1970-2105, lands
/// on a date it does not have; we answer from the Date field itself.
fn date_outside_dovecot(m: &Searchable<'_>) -> bool {
    m.sent_date()
        .is_none_or(|(y, _, _)| !(1970..2106).contains(&y))
}

fn s(v: &str) -> SearchKey {
    SearchKey::Str(v.into())
}
fn a(v: &str) -> SearchKey {
    SearchKey::Atom(v.into())
}

fn cases() -> Vec<Case> {
    let c = |keys, ours| Case { keys, ours };
    vec![
        c(vec![a("BODY"), s("the")], |m| m.body("the")),
        c(vec![a("BODY"), s("Content-Type")], |m| {
            m.body("Content-Type")
        }),
        c(vec![a("BODY"), s("привет")], |m| m.body("привет")),
        c(vec![a("BODY"), s("GRÜSSE")], |m| m.body("GRÜSSE")),
        c(vec![a("TEXT"), s("attachment")], |m| m.text("attachment")),
        c(vec![a("TEXT"), s("boundary")], |m| m.text("boundary")),
        c(vec![a("TEXT"), s("HEIßE")], |m| m.text("HEIßE")),
        c(vec![a("SUBJECT"), s("QUÄLTE")], |m| {
            m.header(b"Subject", "QUÄLTE")
        }),
        c(vec![a("SUBJECT"), s("письмо")], |m| {
            m.header(b"Subject", "письмо")
        }),
        c(vec![a("SUBJECT"), s("漢字")], |m| {
            m.header(b"Subject", "漢字")
        }),
        c(vec![a("SUBJECT"), s("accentué")], |m| {
            m.header(b"Subject", "accentué")
        }),
        c(vec![a("SUBJECT"), s("re:")], |m| {
            m.header(b"Subject", "re:")
        }),
        c(vec![a("FROM"), s("example.com")], |m| {
            m.header(b"From", "example.com")
        }),
        c(vec![a("FROM"), s("GMAIL.COM")], |m| {
            m.header(b"From", "GMAIL.COM")
        }),
        c(vec![a("TO"), s("example.org")], |m| {
            m.header(b"To", "example.org")
        }),
        c(vec![a("CC"), s("example")], |m| m.header(b"Cc", "example")),
        c(vec![a("FROM"), s("")], |m| m.header(b"From", "")),
        c(
            vec![
                a("HEADER"),
                s("Message-ID"),
                s("<15090.61304.110929.45684@aaa.zzz.org>"),
            ],
            |m| m.header(b"Message-ID", "<15090.61304.110929.45684@aaa.zzz.org>"),
        ),
        c(vec![a("HEADER"), s("Message-ID"), s("")], |m| {
            m.header(b"Message-ID", "")
        }),
        c(vec![a("HEADER"), s("References"), s("")], |m| {
            m.header(b"References", "")
        }),
        c(vec![a("HEADER"), s("X-Mailer"), s("mutt")], |m| {
            m.header(b"X-Mailer", "mutt")
        }),
        c(vec![a("SENTSINCE"), a("1-Jan-2010")], |m| {
            m.sent_date().is_some_and(|d| d >= (2010, 1, 1))
        }),
        c(vec![a("SENTBEFORE"), a("1-Jan-2000")], |m| {
            m.sent_date().is_some_and(|d| d < (2000, 1, 1))
        }),
        c(vec![a("SENTON"), a("20-Apr-2001")], |m| {
            m.sent_date() == Some((2001, 4, 20))
        }),
        c(vec![a("NOT"), a("SENTSINCE"), a("1-Jan-1970")], |m| {
            m.sent_date().is_none_or(|d| d < (1970, 1, 1))
        }),
    ]
}

#[test]
fn searches_match_dovecot_on_real_mail() {
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
    let mut differences = Vec::new();
    let mut deliberate = 0;
    let cases = cases();
    for case in &cases {
        let theirs = dovecot.search(&case.keys).expect("dovecot SEARCH");
        let ours: Vec<u32> = raws
            .iter()
            .enumerate()
            .filter(|(_, raw)| (case.ours)(&Searchable::new(raw)))
            .map(|(i, _)| i as u32 + 1)
            .collect();
        let label = case
            .keys
            .iter()
            .map(|k| match k {
                SearchKey::Atom(x) => x.clone(),
                SearchKey::Str(x) => format!("{x:?}"),
            })
            .collect::<Vec<_>>()
            .join(" ");
        let is_date = case
            .keys
            .iter()
            .any(|k| matches!(k, SearchKey::Atom(x) if x.starts_with("SENT")));
        let name = |uid: &u32| messages[*uid as usize - 1].0.clone();
        let mut only_ours = Vec::new();
        let mut only_theirs = Vec::new();
        for uid in 1..=raws.len() as u32 {
            let (a, b) = (ours.contains(&uid), theirs.contains(&uid));
            if a == b {
                continue;
            }
            let file = name(&uid);
            let raw = raws[uid as usize - 1];
            if (is_date && date_outside_dovecot(&Searchable::new(raw)))
                || DELIBERATE.contains(&(label.as_str(), file.as_str()))
            {
                deliberate += 1;
                continue;
            }
            if a {
                only_ours.push(file);
            } else {
                only_theirs.push(file);
            }
        }
        println!(
            "SEARCH {label}: dovecot {} messages, ours {}",
            theirs.len(),
            ours.len()
        );
        if !only_ours.is_empty() || !only_theirs.is_empty() {
            differences.push(format!(
                "SEARCH {label}\n  only ours:    {only_ours:?}\n  only dovecot: {only_theirs:?}"
            ));
        }
    }
    println!(
        "{} searches over {} messages; {deliberate} message answers differ deliberately",
        cases.len(),
        raws.len()
    );
    for d in &differences {
        println!("{d}");
    }
    assert!(
        differences.is_empty(),
        "{} searches differ from Dovecot",
        differences.len()
    );
}
