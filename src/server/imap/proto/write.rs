//! Response building blocks, appended to a `Vec<u8>`: strings in the form the
//! grammar allows (atom, quoted or literal), mailbox names in the client's
//! encoding, flags, sequence sets, response codes and status lines.
//!
//! Cached ENVELOPE and BODYSTRUCTURE strings are already IMAP syntax and are
//! spliced in by the session as they are; nothing here knows MIME.

use super::chars::is_atom_char;
use super::types::{BodySection, Flag, SectionText};
use super::utf7;

/// Past this length a string goes as a literal: a long quoted string gives the
/// client nothing, and a literal's length lets it allocate once.
const MAX_QUOTED: usize = 1024;

/// `string`: quoted when the grammar allows (7-bit, no CR, LF or NUL, not long),
/// otherwise a literal. NUL cannot be sent at all (RFC 3501 `CHAR8`); the store
/// refuses it, so it does not reach here, and a literal is written regardless.
pub fn string(out: &mut Vec<u8>, s: &[u8]) {
    if s.len() <= MAX_QUOTED
        && s.iter()
            .all(|&b| matches!(b, 0x01..=0x7f) && b != b'\r' && b != b'\n')
    {
        quoted(out, s);
    } else {
        literal(out, s);
    }
}

/// `string` once UTF8=ACCEPT is enabled: valid UTF-8 may also be quoted
/// (RFC 6855 `utf8-quoted`).
pub fn string_utf8(out: &mut Vec<u8>, s: &[u8]) {
    if s.is_ascii() || std::str::from_utf8(s).is_err() {
        string(out, s);
    } else if s.len() <= MAX_QUOTED && !s.iter().any(|&b| matches!(b, 0 | b'\r' | b'\n')) {
        quoted(out, s);
    } else {
        literal(out, s);
    }
}

/// `quoted`, escaping `"` and `\`; the caller has checked the bytes may be quoted.
fn quoted(out: &mut Vec<u8>, s: &[u8]) {
    out.reserve(s.len() + 2);
    out.push(b'"');
    for &b in s {
        if b == b'"' || b == b'\\' {
            out.push(b'\\');
        }
        out.push(b);
    }
    out.push(b'"');
}

/// `literal`: `{N}` CRLF and the bytes.
pub fn literal(out: &mut Vec<u8>, s: &[u8]) {
    out.push(b'{');
    out.extend_from_slice(s.len().to_string().as_bytes());
    out.extend_from_slice(b"}\r\n");
    out.extend_from_slice(s);
}

/// `nstring`: NIL or a string.
pub fn nstring(out: &mut Vec<u8>, s: Option<&[u8]>) {
    match s {
        Some(s) => string(out, s),
        None => out.extend_from_slice(b"NIL"),
    }
}

/// `astring`: an atom when every byte is an atom character (conservatively: `]`
/// is quoted, as some client parsers end an atom there), else a string. `NIL` is
/// quoted, so that no reader takes it for nil.
pub fn astring(out: &mut Vec<u8>, s: &[u8]) {
    if !s.is_empty() && s.iter().all(|&b| is_atom_char(b)) && !s.eq_ignore_ascii_case(b"NIL") {
        out.extend_from_slice(s);
    } else {
        string(out, s);
    }
}

/// A mailbox name (`mailbox`, an astring) in the client's encoding: modified UTF-7
/// unless UTF8=ACCEPT is enabled (then UTF-8, quoted when it can be).
pub fn mailbox(out: &mut Vec<u8>, name: &str, utf8_accept: bool) {
    let wire = utf7::mailbox_to_wire(name, utf8_accept);
    if wire.is_ascii() {
        astring(out, wire.as_bytes());
    } else {
        string_utf8(out, wire.as_bytes());
    }
}

/// One flag as clients write it.
pub fn flag(out: &mut Vec<u8>, f: &Flag) {
    let name: &[u8] = match f {
        Flag::Answered => b"\\Answered",
        Flag::Flagged => b"\\Flagged",
        Flag::Deleted => b"\\Deleted",
        Flag::Seen => b"\\Seen",
        Flag::Draft => b"\\Draft",
        Flag::Keyword(k) => k.as_bytes(),
        Flag::Extension(e) => {
            out.push(b'\\');
            e.as_bytes()
        }
    };
    out.extend_from_slice(name);
}

/// `(` flags `)`, as in `FLAGS (\Seen $Forwarded)`.
pub fn flag_list(out: &mut Vec<u8>, flags: &[Flag]) {
    out.push(b'(');
    for (i, f) in flags.iter().enumerate() {
        if i > 0 {
            out.push(b' ');
        }
        flag(out, f);
    }
    out.push(b')');
}

/// UIDs (or message numbers) as a sequence set, consecutive runs as ranges, in
/// the order given: COPYUID's two sets must pair up element by element.
pub fn sequence_set(out: &mut Vec<u8>, uids: &[u32]) {
    out.extend_from_slice(crate::uidset::format(uids).as_bytes());
}

/// A number, as IMAP writes it.
pub fn number(out: &mut Vec<u8>, n: u64) {
    out.extend_from_slice(n.to_string().as_bytes());
}

/// A response code (RFC 3501 section 7.1, RFC 4315, 5530, 7162 and others).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Code<'a> {
    Alert,
    AlreadyExists,
    AppendUid {
        uidvalidity: u32,
        uid: u32,
    },
    AuthenticationFailed,
    AuthorizationFailed,
    /// The charsets SEARCH supports; an empty list gives a bare `BADCHARSET`.
    BadCharset(&'a [&'a str]),
    Cannot,
    Capability(&'a [&'a str]),
    ClientBug,
    Closed,
    ContactAdmin,
    CopyUid {
        uidvalidity: u32,
        source: &'a [u32],
        dest: &'a [u32],
    },
    Corruption,
    Expired,
    ExpungeIssued,
    HighestModSeq(u64),
    InUse,
    Limit,
    Modified(&'a [u32]),
    NoModSeq,
    NonExistent,
    NoPerm,
    OverQuota,
    Parse,
    /// The flags clients may set; `any_keyword` adds `\*` (new keywords allowed).
    PermanentFlags {
        flags: &'a [Flag],
        any_keyword: bool,
    },
    PrivacyRequired,
    ReadOnly,
    ReadWrite,
    ServerBug,
    TooBig,
    TryCreate,
    UidNext(u32),
    UidNotSticky,
    UidValidity(u32),
    Unavailable,
    Unseen(u32),
    /// RFC 6154: a special-use attribute the server does not support.
    UseAttr,
}

/// `[code]`.
pub fn code(out: &mut Vec<u8>, c: &Code<'_>) {
    out.push(b'[');
    let word: &[u8] = match c {
        Code::Alert => b"ALERT",
        Code::AlreadyExists => b"ALREADYEXISTS",
        Code::AuthenticationFailed => b"AUTHENTICATIONFAILED",
        Code::AuthorizationFailed => b"AUTHORIZATIONFAILED",
        Code::Cannot => b"CANNOT",
        Code::ClientBug => b"CLIENTBUG",
        Code::Closed => b"CLOSED",
        Code::ContactAdmin => b"CONTACTADMIN",
        Code::Corruption => b"CORRUPTION",
        Code::Expired => b"EXPIRED",
        Code::ExpungeIssued => b"EXPUNGEISSUED",
        Code::InUse => b"INUSE",
        Code::Limit => b"LIMIT",
        Code::NoModSeq => b"NOMODSEQ",
        Code::NonExistent => b"NONEXISTENT",
        Code::NoPerm => b"NOPERM",
        Code::OverQuota => b"OVERQUOTA",
        Code::Parse => b"PARSE",
        Code::PrivacyRequired => b"PRIVACYREQUIRED",
        Code::ReadOnly => b"READ-ONLY",
        Code::ReadWrite => b"READ-WRITE",
        Code::ServerBug => b"SERVERBUG",
        Code::TooBig => b"TOOBIG",
        Code::TryCreate => b"TRYCREATE",
        Code::UidNotSticky => b"UIDNOTSTICKY",
        Code::Unavailable => b"UNAVAILABLE",
        Code::UseAttr => b"USEATTR",
        Code::AppendUid { uidvalidity, uid } => {
            out.extend_from_slice(b"APPENDUID ");
            number(out, u64::from(*uidvalidity));
            out.push(b' ');
            number(out, u64::from(*uid));
            b""
        }
        Code::BadCharset(sets) => {
            out.extend_from_slice(b"BADCHARSET");
            if !sets.is_empty() {
                out.extend_from_slice(b" (");
                for (i, s) in sets.iter().enumerate() {
                    if i > 0 {
                        out.push(b' ');
                    }
                    astring(out, s.as_bytes());
                }
                out.push(b')');
            }
            b""
        }
        Code::Capability(caps) => {
            out.extend_from_slice(b"CAPABILITY");
            for cap in caps.iter() {
                out.push(b' ');
                out.extend_from_slice(cap.as_bytes());
            }
            b""
        }
        Code::CopyUid {
            uidvalidity,
            source,
            dest,
        } => {
            out.extend_from_slice(b"COPYUID ");
            number(out, u64::from(*uidvalidity));
            out.push(b' ');
            sequence_set(out, source);
            out.push(b' ');
            sequence_set(out, dest);
            b""
        }
        Code::HighestModSeq(n) => {
            out.extend_from_slice(b"HIGHESTMODSEQ ");
            number(out, *n);
            b""
        }
        Code::Modified(set) => {
            out.extend_from_slice(b"MODIFIED ");
            sequence_set(out, set);
            b""
        }
        Code::PermanentFlags { flags, any_keyword } => {
            out.extend_from_slice(b"PERMANENTFLAGS (");
            for (i, f) in flags.iter().enumerate() {
                if i > 0 {
                    out.push(b' ');
                }
                flag(out, f);
            }
            if *any_keyword {
                if !flags.is_empty() {
                    out.push(b' ');
                }
                out.extend_from_slice(b"\\*");
            }
            out.push(b')');
            b""
        }
        Code::UidNext(n) => {
            out.extend_from_slice(b"UIDNEXT ");
            number(out, u64::from(*n));
            b""
        }
        Code::UidValidity(n) => {
            out.extend_from_slice(b"UIDVALIDITY ");
            number(out, u64::from(*n));
            b""
        }
        Code::Unseen(n) => {
            out.extend_from_slice(b"UNSEEN ");
            number(out, u64::from(*n));
            b""
        }
    };
    out.extend_from_slice(word);
    out.push(b']');
}

/// The status of a reply line.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Status {
    Ok,
    No,
    Bad,
    Bye,
    PreAuth,
}

impl Status {
    fn word(self) -> &'static [u8] {
        match self {
            Status::Ok => b"OK",
            Status::No => b"NO",
            Status::Bad => b"BAD",
            Status::Bye => b"BYE",
            Status::PreAuth => b"PREAUTH",
        }
    }
}

/// `text`: CR, LF and NUL would end or corrupt the line, so they become spaces.
pub fn text(out: &mut Vec<u8>, s: &str) {
    out.extend(s.bytes().map(|b| {
        if matches!(b, 0 | b'\r' | b'\n') {
            b' '
        } else {
            b
        }
    }));
}

/// `tag status [code] text CRLF`; `tag: None` makes it untagged (`*`).
pub fn status_line(
    out: &mut Vec<u8>,
    tag: Option<&str>,
    status: Status,
    c: Option<&Code<'_>>,
    msg: &str,
) {
    match tag {
        Some(t) => out.extend_from_slice(t.as_bytes()),
        None => out.push(b'*'),
    }
    out.push(b' ');
    out.extend_from_slice(status.word());
    if let Some(c) = c {
        out.push(b' ');
        code(out, c);
    }
    if !msg.is_empty() {
        out.push(b' ');
        text(out, msg);
    }
    out.extend_from_slice(b"\r\n");
}

/// `+ text CRLF`: the continuation request (for a literal or AUTHENTICATE, whose
/// challenge is base64 and so plain text).
pub fn continuation(out: &mut Vec<u8>, msg: &str) {
    out.push(b'+');
    out.push(b' ');
    text(out, msg);
    out.extend_from_slice(b"\r\n");
}

/// ESEARCH's correlator: `(TAG "tag")` (RFC 4731).
pub fn search_correlator(out: &mut Vec<u8>, tag: &str) {
    out.extend_from_slice(b"(TAG ");
    string(out, tag.as_bytes());
    out.push(b')');
}

/// The name a FETCH reply gives a body section: `BODY[1.HEADER.FIELDS (To)]`, and
/// for a partial fetch `<offset>` (RFC 3501 section 7.4.2: the origin only). PEEK
/// is never echoed.
pub fn section_name(out: &mut Vec<u8>, s: &BodySection) {
    out.extend_from_slice(b"BODY[");
    for (i, p) in s.section.part.iter().enumerate() {
        if i > 0 {
            out.push(b'.');
        }
        number(out, u64::from(*p));
    }
    if let Some(t) = &s.section.text {
        if !s.section.part.is_empty() {
            out.push(b'.');
        }
        let (word, fields): (&[u8], Option<&Vec<Vec<u8>>>) = match t {
            SectionText::Header => (b"HEADER", None),
            SectionText::HeaderFields(f) => (b"HEADER.FIELDS", Some(f)),
            SectionText::HeaderFieldsNot(f) => (b"HEADER.FIELDS.NOT", Some(f)),
            SectionText::Text => (b"TEXT", None),
            SectionText::Mime => (b"MIME", None),
        };
        out.extend_from_slice(word);
        if let Some(fields) = fields {
            out.extend_from_slice(b" (");
            for (i, f) in fields.iter().enumerate() {
                if i > 0 {
                    out.push(b' ');
                }
                astring(out, f);
            }
            out.push(b')');
        }
    }
    out.push(b']');
    if let Some((offset, _)) = s.partial {
        out.push(b'<');
        number(out, u64::from(offset));
        out.push(b'>');
    }
}

#[cfg(test)]
mod tests;
