//! The IMAP protocol layer, pure: bytes in, typed commands out; building blocks
//! for the bytes that go back. No I/O, no async, no store: the session owns state,
//! this module owns syntax.
//!
//! - [`framer`]: splits the byte stream into commands (lines and literals), with
//!   LITERAL+ and bounded memory; a line mode for AUTHENTICATE and IDLE.
//! - [`parse`](mod@parse): one framed command to a typed [`types::Command`].
//! - [`types`]: the commands, as the session consumes them.
//! - [`utf7`]: modified UTF-7 mailbox names and the UTF8=ACCEPT rule.
//! - [`write`](mod@write): strings, mailbox names, flags, sets, response codes, status lines.
//!
//! We write our own rather than use imap-codec: its SEARCH nesting is capped at 8
//! (a 10-address OR chain fails), it has no LIST-EXTENDED, LIST-STATUS or ESEARCH
//! RETURN, and its CONDSTORE/QRESYNC parsers are unfinished alphas (our evaluation
//! of 2.0.0-alpha.10, summarised in the commit that added this module).
//!
//! # What is parsed
//! All of RFC 3501: CAPABILITY NOOP LOGOUT STARTTLS AUTHENTICATE LOGIN SELECT
//! EXAMINE CREATE DELETE RENAME SUBSCRIBE UNSUBSCRIBE LIST LSUB STATUS APPEND CHECK
//! CLOSE EXPUNGE SEARCH FETCH STORE COPY and the UID forms, every FETCH item,
//! macro, section and partial, and every SEARCH key. Plus: SASL-IR (RFC 4959), ID
//! (2971), ENABLE (5161), NAMESPACE (2342), UNSELECT (3691), IDLE (2177), MOVE
//! (6851), UID EXPUNGE (UIDPLUS, 4315), LIST-EXTENDED (5258) with LIST-STATUS
//! (5819) and SPECIAL-USE (6154, also CREATE's USE), ESEARCH (4731) with SAVE and
//! `$` (SEARCHRES, 5182), CONDSTORE and QRESYNC (7162), QUOTA (9208; SETQUOTA only
//! so it can be refused), LITERAL+ (7888).
//!
//! Not parsed (not advertised): BINARY's `~{N}` literals, MULTIAPPEND, CATENATE,
//! COMPRESS, SORT/THREAD, METADATA.
//!
//! # Strictness and leniencies
//! Strict where RFC 3501 is: exactly one space between arguments, CRLF line ends
//! (a bare LF is `BAD`), no NUL anywhere, no trailing space, nz-numbers without
//! leading zeros, real calendar dates, canonical modified UTF-7 and base64.
//! Accepted beyond the grammar, because real clients send it (each is commented
//! where it is implemented):
//! - command names, keywords, flags, months and charsets in any case (the RFC says
//!   so for most; we apply it uniformly);
//! - 8-bit bytes in quoted strings (UTF-8 SEARCH strings; names under
//!   UTF8=ACCEPT): the bytes are passed on, and mailbox names are then checked by
//!   [`utf7::mailbox_from_wire`];
//! - `ID ()` as no fields, and a space before ID's closing parenthesis;
//! - a one-digit day in APPEND's date-time without its padding space;
//! - `$` anywhere in a sequence set, not only alone.
//!
//! # Limits
//! - [`framer::Limits`]: line 64 KiB (CRLF included, literal data excluded),
//!   literal 64 MiB, command 64 MiB + 64 KiB. Over-long lines and non-synchronising
//!   literals are discarded while they stream in; memory stays bounded by these.
//! - [`parse::ParseOptions::max_depth`]: SEARCH nesting 100 (ceiling
//!   [`parse::MAX_DEPTH_CEILING`]); an OR chain costs one level however long.
//! - Numbers: 32-bit where RFC 3501 says `number`, 63-bit mod-sequences.

mod chars;
pub mod framer;
pub mod parse;
pub mod types;
pub mod utf7;
pub mod write;

pub use framer::{Event, Framer, Limits, LineEvent};
pub use parse::{
    AuthResponse, ParseError, ParseOptions, is_idle_done, parse, parse_auth_response, parse_with,
};
pub use types::*;
