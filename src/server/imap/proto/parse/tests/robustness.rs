//! Limits, framing into parsing, and hostile input.

use super::*;
use crate::server::imap::proto::framer::{Event, Framer, Limits};

fn deep(prefix: &str, open: &str, close: &str, n: usize) -> String {
    format!("{prefix}{}ALL{}\r\n", open.repeat(n), close.repeat(n))
}

#[test]
fn long_or_chains_cost_one_level() {
    for n in [2, 50, 5000] {
        let mut s = String::from("a UID SEARCH ");
        for i in 1..n {
            s.push_str(&format!("OR FROM user{i}@example.com "));
        }
        s.push_str(&format!("FROM user{n}@example.com\r\n"));
        let keys = search(&s).keys;
        let [SearchKey::Or(terms)] = keys.as_slice() else {
            panic!("{keys:?}")
        };
        assert_eq!(terms.len(), n);
        assert_eq!(
            terms[n - 1],
            SearchKey::From(format!("user{n}@example.com").into_bytes())
        );
    }
    // Within parentheses and under NOT, chains still cost one level each.
    let s = format!(
        "a SEARCH NOT ({}SEEN DRAFT)\r\n",
        "OR ANSWERED ".repeat(200)
    );
    assert!(parse_with(s.as_bytes(), &ParseOptions { max_depth: 3 }).is_ok());
}

#[test]
fn nesting_at_and_beyond_the_limit() {
    let limit = ParseOptions::default().max_depth;
    assert_eq!(limit, 100);
    for (open, close) in [("(", ")"), ("NOT ", ""), ("OR ", " ALL")] {
        assert!(
            parse(deep("a SEARCH ", open, close, limit).as_bytes()).is_ok(),
            "{open:?} at the limit"
        );
        let e = parse(deep("a SEARCH ", open, close, limit + 1).as_bytes()).unwrap_err();
        assert_eq!(e.tag.as_deref(), Some("a"));
        assert_eq!(e.reason, "search nested too deeply (limit 100)");
    }
    // Mixed kinds add up.
    let s = format!(
        "a SEARCH {}{}ALL{}\r\n",
        "NOT ".repeat(50),
        "(".repeat(51),
        ")".repeat(51)
    );
    assert!(parse(s.as_bytes()).is_err());
    // The limit is configurable.
    let five = ParseOptions { max_depth: 5 };
    assert!(parse_with(deep("a SEARCH ", "(", ")", 5).as_bytes(), &five).is_ok());
    assert!(parse_with(deep("a SEARCH ", "(", ")", 6).as_bytes(), &five).is_err());
}

/// Hostile depth on a thread with tokio's 2 MiB stack, in whatever build this
/// is: the ceiling holds even when the configured limit is absurd.
#[test]
fn depth_never_exhausts_the_stack() {
    let run = std::thread::Builder::new()
        .stack_size(2 << 20)
        .spawn(|| {
            let unlimited = ParseOptions {
                max_depth: usize::MAX,
            };
            let at = MAX_DEPTH_CEILING;
            for (open, close) in [("(", ")"), ("NOT ", ""), ("OR ", " ALL")] {
                assert!(
                    parse_with(deep("a SEARCH ", open, close, at).as_bytes(), &unlimited).is_ok()
                );
                assert!(
                    parse_with(
                        deep("a SEARCH ", open, close, at + 1).as_bytes(),
                        &unlimited
                    )
                    .is_err()
                );
            }
            let flood = format!("a SEARCH {}\r\n", "(".repeat(100_000));
            assert!(parse_with(flood.as_bytes(), &unlimited).is_err());
            let nots = format!("a SEARCH {}ALL\r\n", "NOT ".repeat(100_000));
            assert!(parse(nots.as_bytes()).is_err());
        })
        .unwrap();
    run.join().unwrap();
}

/// Pipelined commands with literals, framed then parsed: the same commands
/// whether the bytes arrive at once or one at a time.
#[test]
fn framer_then_parser_pipelined() {
    let input: &[u8] = b"a1 LOGIN {3}\r\njoe {6+}\r\nsecret\r\n\
a2 SELECT {5+}\r\ninbox (CONDSTORE)\r\n\
a3 UID FETCH 1:* (FLAGS) (CHANGEDSINCE 7)\r\n\
a4 APPEND Sent (\\Seen) {12+}\r\nhello\r\nworld\r\n\
a5 UID SEARCH TEXT {3}\r\n(a)\r\n\
a6 LOGOUT\r\n";
    let commands = |chunk: usize| {
        let mut f = Framer::new(Limits::default());
        let mut out = Vec::new();
        for piece in input.chunks(chunk) {
            f.feed(piece);
            loop {
                match f.next() {
                    Event::NeedMore => break,
                    Event::Literal { nonsync: false, .. } => f.accept_literal(),
                    Event::Literal { .. } => {}
                    Event::Command(c) => out.push(parse(&c).unwrap()),
                    other => panic!("{other:?}"),
                }
            }
        }
        out
    };
    let whole = commands(input.len());
    assert_eq!(commands(1), whole);
    let tags: Vec<&str> = whole.iter().map(|c| c.tag.as_str()).collect();
    assert_eq!(tags, ["a1", "a2", "a3", "a4", "a5", "a6"]);
    assert_eq!(
        whole[0].body,
        CommandBody::Login {
            username: b"joe".to_vec(),
            password: Secret(b"secret".to_vec())
        }
    );
    assert!(
        matches!(&whole[1].body, CommandBody::Select { mailbox, params } if mailbox.is_inbox() && params.condstore)
    );
    assert!(
        matches!(&whole[3].body, CommandBody::Append { message, .. } if message == b"hello\r\nworld")
    );
    assert!(
        matches!(&whole[4].body, CommandBody::Search(s) if s.keys == [SearchKey::Text(b"(a)".to_vec())])
    );
}

/// Random byte strings, most of them near-commands, never panic the parser, and
/// its reasons are always safe to send.
#[test]
fn random_bytes_never_panic() {
    const SEEDS: &[&[u8]] = &[
        b"a UID FETCH 1:* (UID FLAGS BODY.PEEK[HEADER.FIELDS (From To)]<0.100>) (CHANGEDSINCE 5 VANISHED)\r\n",
        b"a SEARCH RETURN (MIN) CHARSET UTF-8 OR (NOT SEEN) HEADER x {2}\r\nab SINCE 1-Jan-2020\r\n",
        b"a LIST (SUBSCRIBED RECURSIVEMATCH) \"\" (\"a\" %) RETURN (STATUS (MESSAGES))\r\n",
        b"a SELECT INBOX (QRESYNC (1 2 1:5 (1:3 1:3)))\r\n",
        b"a APPEND x (\\Seen) \" 1-Jan-2020 00:00:00 +0000\" {3+}\r\nabc\r\n",
        b"a STORE 1 (UNCHANGEDSINCE 3) +FLAGS.SILENT (\\Seen $x)\r\n",
        b"a ID (\"a\" NIL)\r\n",
        b"a AUTHENTICATE PLAIN =\r\n",
    ];
    const NOISE: &[&[u8]] = &[
        b"(",
        b")",
        b"{",
        b"}",
        b"\"",
        b"\\",
        b" ",
        b"\r\n",
        b"\0",
        b"\xff",
        b"*",
        b":",
        b",",
        b"$",
        b"[",
        b"]",
        b"<",
        b">",
        b"OR ",
        b"NOT ",
        b"{5}\r\n",
        b"{99999999999}\r\n",
    ];
    let mut seed = 0x2545_f491_4f6c_dd1d_u64;
    let mut rnd = move |n: usize| {
        seed ^= seed << 13;
        seed ^= seed >> 7;
        seed ^= seed << 17;
        (seed % n.max(1) as u64) as usize
    };
    for _ in 0..20_000 {
        let mut v = SEEDS[rnd(SEEDS.len())].to_vec();
        for _ in 0..1 + rnd(6) {
            let at = rnd(v.len() + 1);
            match rnd(4) {
                0 => {
                    let end = (at + rnd(8)).min(v.len());
                    v.drain(at..end);
                }
                1 => {
                    let n = NOISE[rnd(NOISE.len())];
                    v.splice(at..at, n.iter().copied());
                }
                2 => v.insert(at, rnd(256) as u8),
                _ => {
                    if let Some(b) = v.get_mut(at) {
                        *b ^= 1 << rnd(8);
                    }
                }
            }
        }
        if let Err(e) = parse(&v) {
            assert!(
                e.reason.bytes().all(|b| (0x20..0x7f).contains(&b)),
                "{:?}",
                e.reason
            );
        }
    }
}
