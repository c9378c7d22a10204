//! Parser tests: every command form (`forms`), the shapes real clients send
//! (`clients`), and limits, framing and random input (`robustness`).

use super::*;
use crate::server::imap::proto::types::*;

mod clients;
mod forms;
mod robustness;

/// The body of a command that must parse.
fn ok(s: &str) -> CommandBody {
    ok_bytes(s.as_bytes())
}

fn ok_bytes(s: &[u8]) -> CommandBody {
    match parse(s) {
        Ok(c) => c.body,
        Err(e) => panic!(
            "{:?} does not parse: {}",
            String::from_utf8_lossy(s),
            e.reason
        ),
    }
}

/// The error of a command that must not parse.
fn err(s: &str) -> ParseError {
    match parse(s.as_bytes()) {
        Ok(c) => panic!("{s:?} parses, as {c:?}"),
        Err(e) => e,
    }
}

fn mb(s: &str) -> Mailbox {
    Mailbox::from_wire(s.as_bytes().to_vec())
}

fn set(items: &[(u32, u32)]) -> SequenceSet {
    SequenceSet(
        items
            .iter()
            .map(|&(a, b)| {
                let n = |v| {
                    if v == 0 {
                        SeqNum::Star
                    } else {
                        SeqNum::Value(v)
                    }
                };
                SeqItem::Range(n(a), n(b))
            })
            .collect(),
    )
}

fn search(s: &str) -> Search {
    match ok(s) {
        CommandBody::Search(s) => s,
        other => panic!("not a SEARCH: {other:?}"),
    }
}

fn fetch(s: &str) -> Fetch {
    match ok(s) {
        CommandBody::Fetch(f) => f,
        other => panic!("not a FETCH: {other:?}"),
    }
}
