//! Text matching for IMAP SEARCH (RFC 3501 section 6.4.4, RFC 9051 section 6.4.4):
//! FROM, TO, CC, BCC, SUBJECT, HEADER, BODY, TEXT and the SENT* dates of one message.
//!
//! What is searched follows Dovecot 2.3, so that a store taken over from Dovecot
//! finds the same messages:
//! - a match is a substring match after case folding (Unicode, not only ASCII) of
//!   the decoded text: RFC 2047 words decoded, bodies decoded from base64 or
//!   quoted-printable and converted from their charset to UTF-8;
//! - header keys look at the top-level header only, every occurrence of the field,
//!   unfolded; SUBJECT also with blank runs made one space; address fields also in
//!   the normalised `name <mailbox@domain>` form Dovecot matches;
//! - BODY looks at the bodies of text/* and message/* leaves (a part without
//!   Content-Type is text), including those of attached messages, but not at other
//!   attachments, nor at a multipart's preamble and epilogue, nor at any header;
//! - TEXT is BODY plus every header of every part: the message's, each part's MIME
//!   header (so attachment names match) and those of attached messages.
//!
//! Decoding is done once per message on first need and cached, so one SEARCH with
//! several keys reads each part once; every step is linear in the message size.

use std::borrow::Cow;
use std::cell::{OnceCell, RefCell};

use memchr::memmem;

use super::address;
use super::header::unfold;
use super::rfc822::{Parser, Step};
use super::section::FieldLines;
use super::tree::{self, Body, Part};

/// One message's bytes, with what a search has decoded so far.
pub struct Searchable<'a> {
    raw: &'a [u8],
    /// Top-level header fields: (name, raw value) in order.
    fields: OnceCell<Vec<(&'a [u8], &'a [u8])>>,
    /// Folded, decoded values of top-level fields, by index in `fields`.
    values: RefCell<Vec<Option<String>>>,
    tree: OnceCell<tree::Message>,
    /// Folded text of the searched bodies, parts separated by NUL (no needle holds
    /// one, so no match spans two parts).
    bodies: OnceCell<String>,
    /// Folded `Name: value` lines of every header of every part, NUL-separated.
    headers: OnceCell<String>,
}

impl<'a> Searchable<'a> {
    pub fn new(raw: &'a [u8]) -> Self {
        Searchable {
            raw,
            fields: OnceCell::new(),
            values: RefCell::new(Vec::new()),
            tree: OnceCell::new(),
            bodies: OnceCell::new(),
            headers: OnceCell::new(),
        }
    }

    /// `HEADER field needle` (and FROM, TO, CC, BCC, SUBJECT with their field name):
    /// some top-level `field` contains `needle`; an empty needle asks only that the
    /// field is present (RFC 3501 section 6.4.4).
    pub fn header(&self, field: &[u8], needle: &str) -> bool {
        let fields = self.fields();
        let needle = fold(needle);
        let mut values = self.values.borrow_mut();
        if values.len() < fields.len() {
            values.resize(fields.len(), None);
        }
        for (i, (name, raw)) in fields.iter().enumerate() {
            if !name.eq_ignore_ascii_case(field) {
                continue;
            }
            if needle.is_empty() {
                return true;
            }
            let Some(slot) = values.get_mut(i) else {
                continue;
            };
            let value = slot.get_or_insert_with(|| field_text(name, raw));
            if memmem::find(value.as_bytes(), needle.as_bytes()).is_some() {
                return true;
            }
        }
        false
    }

    /// `BODY needle`: some searched body contains `needle`.
    pub fn body(&self, needle: &str) -> bool {
        let needle = fold(needle);
        needle.is_empty() || contains(self.bodies(), &needle)
    }

    /// `TEXT needle`: some header of some part, or some searched body, contains it.
    pub fn text(&self, needle: &str) -> bool {
        let needle = fold(needle);
        needle.is_empty()
            || contains(self.all_headers(), &needle)
            || contains(self.bodies(), &needle)
    }

    /// The date of the first Date: field, in the field's own zone, for SENTBEFORE,
    /// SENTON and SENTSINCE ("disregarding time and timezone"). None when there is
    /// none or it does not parse: then no SENT* key matches, as in Dovecot.
    pub fn sent_date(&self) -> Option<(i32, u8, u8)> {
        let (_, raw) = self
            .fields()
            .iter()
            .find(|(n, _)| n.eq_ignore_ascii_case(b"date"))?;
        parse_date(&unfold(raw))
    }

    fn fields(&self) -> &Vec<(&'a [u8], &'a [u8])> {
        self.fields.get_or_init(|| {
            let mut v = Vec::new();
            super::header::scan(self.raw, 0, &tree::Boundaries::default(), |name, raw| {
                v.push((name, raw))
            });
            v
        })
    }

    fn tree(&self) -> &tree::Message {
        self.tree.get_or_init(|| tree::parse(self.raw))
    }

    fn bodies(&self) -> &str {
        self.bodies.get_or_init(|| {
            let mut out = String::new();
            collect_bodies(self.raw, &self.tree().root, &mut out);
            out
        })
    }

    fn all_headers(&self) -> &str {
        self.headers.get_or_init(|| {
            let mut out = String::new();
            collect_headers(self.raw, &self.tree().root, &mut out);
            out
        })
    }
}

fn contains(hay: &str, needle: &str) -> bool {
    memmem::find(hay.as_bytes(), needle.as_bytes()).is_some()
}

/// The folded text a header key matches for one field.
fn field_text(name: &[u8], raw: &[u8]) -> String {
    let value = unfold_line(raw);
    let mut out = String::new();
    if name.eq_ignore_ascii_case(b"subject") {
        fold_into(&mut out, &decode_words(&compress_blanks(&value)));
        return out;
    }
    fold_into(&mut out, &decode_words(&value));
    if is_address_field(name) {
        // Dovecot matches the normalised address list instead; match both, so a
        // needle spelled either way is found.
        let mut list = Vec::new();
        address::parse_list(&value, &mut list);
        out.push('\0');
        let mut written = Vec::new();
        for (i, a) in list.iter().enumerate() {
            if i > 0 {
                written.extend_from_slice(b", ");
            }
            let local = a.mailbox.as_deref().unwrap_or_default();
            let spec = match a.domain.as_deref() {
                Some(d) => [local, b"@", d].concat(),
                None => local.to_vec(),
            };
            match a.name.as_deref() {
                Some(n) => {
                    written.extend_from_slice(n);
                    written.extend_from_slice(b" <");
                    written.extend_from_slice(&spec);
                    written.push(b'>');
                }
                None => written.extend_from_slice(&spec),
            }
        }
        fold_into(&mut out, &decode_words(&written));
    }
    out
}

fn is_address_field(name: &[u8]) -> bool {
    [&b"from"[..], b"to", b"cc", b"bcc"]
        .iter()
        .any(|f| name.eq_ignore_ascii_case(f))
}

/// A folded value on one line: line breaks dropped, and a TAB that starts a
/// continuation line read as a space (Dovecot's one-line form).
fn unfold_line(raw: &[u8]) -> Cow<'_, [u8]> {
    if memchr::memchr2(b'\n', b'\r', raw).is_none() {
        return Cow::Borrowed(raw);
    }
    let mut out = Vec::with_capacity(raw.len());
    let mut i = 0;
    while let Some(&b) = raw.get(i) {
        match b {
            b'\r' if raw.get(i + 1) == Some(&b'\n') => {}
            b'\n' => {
                if raw.get(i + 1) == Some(&b'\t') {
                    out.push(b' ');
                    i += 1;
                }
            }
            _ => out.push(b),
        }
        i += 1;
    }
    Cow::Owned(out)
}

/// Runs of blanks become one space and leading blanks go (Dovecot's SUBJECT form).
fn compress_blanks(s: &[u8]) -> Vec<u8> {
    let mut out = Vec::with_capacity(s.len());
    let mut prev_blank = true;
    for &b in s {
        if matches!(b, b' ' | b'\t' | b'\r' | b'\n') {
            if !prev_blank {
                out.push(b' ');
            }
            prev_blank = true;
        } else {
            out.push(b);
            prev_blank = false;
        }
    }
    out
}

fn collect_headers(raw: &[u8], part: &Part, out: &mut String) {
    for line in FieldLines::new(raw, part.header_start, part.body_start) {
        if line.blank {
            break;
        }
        if line.continuation {
            continue;
        }
        // The field with its continuation lines: up to the next line that is not one.
        let end = field_end(raw, line.end, part.body_start);
        let prefix = raw.get(line.start..line.value_start).unwrap_or_default();
        let value = raw.get(line.value_start..end).unwrap_or_default();
        let mut text = unfold_line(prefix).into_owned();
        text.extend_from_slice(&unfold_line(value));
        fold_into(out, &decode_words(&text));
        out.push('\0');
    }
    match &part.body {
        Body::Multipart(children) => {
            for c in children {
                collect_headers(raw, c, out);
            }
        }
        Body::Message(inner) => collect_headers(raw, inner, out),
        Body::Leaf | Body::Truncated => {}
    }
}

/// Where the field whose first line ends at `from` ends, continuation lines included.
fn field_end(raw: &[u8], from: usize, to: usize) -> usize {
    let mut pos = from;
    while pos < to && matches!(raw.get(pos), Some(b' ' | b'\t')) {
        pos = match raw.get(pos..to).and_then(|r| memchr::memchr(b'\n', r)) {
            Some(i) => pos + i + 1,
            None => to,
        };
    }
    pos.min(to)
}

fn collect_bodies(raw: &[u8], part: &Part, out: &mut String) {
    match &part.body {
        Body::Multipart(children) => {
            for c in children {
                collect_bodies(raw, c, out);
            }
        }
        Body::Message(inner) => collect_bodies(raw, inner, out),
        Body::Truncated => {}
        Body::Leaf => {
            let c = &part.content;
            let textual = match &c.ctype {
                None => true,
                Some(t) => {
                    !t.subtype.is_empty()
                        && (t.ty.eq_ignore_ascii_case(b"text")
                            || t.ty.eq_ignore_ascii_case(b"message"))
                }
            };
            if !textual {
                return;
            }
            let body = raw.get(part.body_start..part.body_end).unwrap_or_default();
            let decoded: Cow<'_, [u8]> = match transfer_encoding(raw, part) {
                Cte::Plain => Cow::Borrowed(body),
                Cte::Base64 => Cow::Owned(base64(body)),
                Cte::QuotedPrintable => Cow::Owned(quoted_printable(body, false)),
                // An encoding we cannot undo: the bytes would not be the text.
                Cte::Unknown => return,
            };
            let charset = c.ctype.as_ref().and_then(|t| {
                t.params
                    .iter()
                    .find(|(k, _)| k.eq_ignore_ascii_case(b"charset"))
                    .map(|(_, v)| v.as_slice())
            });
            fold_into(out, &to_utf8(charset, &decoded));
            out.push('\0');
        }
    }
}

enum Cte {
    Plain,
    Base64,
    QuotedPrintable,
    Unknown,
}

/// The part's Content-Transfer-Encoding as a decoder must read it: the last such
/// field counts (as in Dovecot), none means 7bit, and a value that is not one token
/// (optionally followed by `;`) or names no known encoding cannot be decoded, so
/// the body is not searched. (BODYSTRUCTURE reports such a value as 7bit instead.)
fn transfer_encoding(raw: &[u8], part: &Part) -> Cte {
    let mut found = None;
    for line in FieldLines::new(raw, part.header_start, part.body_start) {
        if line.blank {
            break;
        }
        if !line.continuation && line.name.eq_ignore_ascii_case(b"content-transfer-encoding") {
            let end = field_end(raw, line.end, part.body_start);
            found = Some(raw.get(line.value_start..end).unwrap_or_default());
        }
    }
    let Some(value) = found else {
        return Cte::Plain;
    };
    let value = unfold(value);
    let mut p = Parser::new(&value);
    p.skip_lwsp();
    let mut token = Vec::new();
    match p.parse_mime_token(&mut token) {
        Step::More if p.cur() != b';' => return Cte::Unknown,
        _ => {}
    }
    let is = |name: &[u8]| token.eq_ignore_ascii_case(name);
    if is(b"7bit") || is(b"8bit") || is(b"binary") {
        Cte::Plain
    } else if is(b"base64") {
        Cte::Base64
    } else if is(b"quoted-printable") {
        Cte::QuotedPrintable
    } else {
        Cte::Unknown
    }
}

/// Bytes in `charset` as UTF-8; an unknown or missing charset is read as UTF-8,
/// invalid sequences becoming U+FFFD (as Dovecot does).
fn to_utf8<'b>(charset: Option<&[u8]>, bytes: &'b [u8]) -> Cow<'b, str> {
    let enc = charset
        .and_then(encoding_rs::Encoding::for_label)
        .unwrap_or(encoding_rs::UTF_8);
    // UTF-7 and the like are not in the Encoding Standard, which maps them to
    // "replacement": reading them as UTF-8 keeps at least their ASCII.
    let enc = if enc == encoding_rs::REPLACEMENT {
        encoding_rs::UTF_8
    } else {
        enc
    };
    enc.decode_without_bom_handling(bytes).0
}

/// Base64, skipping anything outside the alphabet (line breaks, junk) and stopping
/// at padding.
fn base64(s: &[u8]) -> Vec<u8> {
    let mut out = Vec::with_capacity(s.len() / 4 * 3);
    let (mut acc, mut bits) = (0u32, 0u32);
    for &c in s {
        let v = match c {
            b'A'..=b'Z' => c - b'A',
            b'a'..=b'z' => c - b'a' + 26,
            b'0'..=b'9' => c - b'0' + 52,
            b'+' => 62,
            b'/' => 63,
            b'=' => break,
            _ => continue,
        };
        acc = (acc << 6) | u32::from(v);
        bits += 6;
        if bits >= 8 {
            bits -= 8;
            out.push((acc >> bits) as u8);
            acc &= (1 << bits) - 1;
        }
    }
    out
}

/// Quoted-printable (RFC 2045 section 6.7); `q_word` for RFC 2047 Q words, where
/// `_` is a space. A malformed `=` is kept as it is.
fn quoted_printable(s: &[u8], q_word: bool) -> Vec<u8> {
    let hex = |b: u8| (b as char).to_digit(16).map(|d| d as u8);
    let mut out = Vec::with_capacity(s.len());
    let mut i = 0;
    while let Some(&b) = s.get(i) {
        match b {
            b'=' => {
                let (h, l) = (s.get(i + 1).copied(), s.get(i + 2).copied());
                if let (Some(Some(h)), Some(Some(l))) = (h.map(hex), l.map(hex)) {
                    out.push(h << 4 | l);
                    i += 3;
                    continue;
                }
                // A soft line break, possibly after trailing blanks.
                let rest = s.get(i + 1..).unwrap_or_default();
                let blanks = rest
                    .iter()
                    .take_while(|&&c| c == b' ' || c == b'\t')
                    .count();
                let after = rest.get(blanks..).unwrap_or_default();
                if after.starts_with(b"\r\n") {
                    i += 1 + blanks + 2;
                } else if after.starts_with(b"\n") {
                    i += 1 + blanks + 1;
                } else {
                    out.push(b'=');
                    i += 1;
                }
                continue;
            }
            b'_' if q_word => out.push(b' '),
            _ => out.push(b),
        }
        i += 1;
    }
    out
}

/// RFC 2047 encoded words decoded to UTF-8, the rest read as UTF-8. Blanks between
/// two adjacent encoded words are dropped (section 6.2). Words are recognised even
/// inside other text, as Dovecot does, since real mail puts them there.
pub(crate) fn decode_words(s: &[u8]) -> String {
    let mut out = String::with_capacity(s.len());
    let mut plain_from = 0;
    let mut pos = 0;
    // Where the last encoded word ended, to drop blanks up to the next one.
    let mut after_word: Option<usize> = None;
    while let Some(i) = s.get(pos..).and_then(|r| memmem::find(r, b"=?")) {
        let start = pos + i;
        let Some((decoded, end)) = encoded_word(s, start) else {
            pos = start + 2;
            continue;
        };
        let between = s.get(plain_from..start).unwrap_or_default();
        let only_blanks = between.iter().all(|&b| b == b' ' || b == b'\t');
        if !(after_word == Some(plain_from) && only_blanks) {
            out.push_str(&String::from_utf8_lossy(between));
        }
        out.push_str(&decoded);
        plain_from = end;
        after_word = Some(end);
        pos = end;
    }
    out.push_str(&String::from_utf8_lossy(
        s.get(plain_from..).unwrap_or_default(),
    ));
    out
}

/// `=?charset?B|Q?text?=` at `start`: its text in UTF-8 and where it ends.
fn encoded_word(s: &[u8], start: usize) -> Option<(String, usize)> {
    let body = s.get(start + 2..)?;
    let q1 = memchr::memchr(b'?', body)?;
    let charset = body.get(..q1)?;
    let enc = *body.get(q1 + 1)?;
    if body.get(q1 + 2) != Some(&b'?') || charset.is_empty() {
        return None;
    }
    let text_start = q1 + 3;
    let rest = body.get(text_start..)?;
    let close = memmem::find(rest, b"?=")?;
    let text = rest.get(..close)?;
    if text.iter().any(|&b| b == b' ' || b == b'\t' || b == b'\n') {
        return None;
    }
    let bytes = match enc.to_ascii_lowercase() {
        b'b' => base64(text),
        b'q' => quoted_printable(text, true),
        _ => return None,
    };
    // RFC 2231 section 5: a language may follow the charset after `*`.
    let charset = charset.split(|&b| b == b'*').next().unwrap_or_default();
    let decoded = to_utf8(Some(charset), &bytes).into_owned();
    Some((decoded, start + 2 + text_start + close + 2))
}

/// Case folding for matching: lowercase, plus the few simple case foldings where
/// Unicode folds differently from lowercasing (final sigma, long s, Greek symbol
/// forms), so that every case variant of a word finds it.
pub(crate) fn fold(s: &str) -> String {
    let mut out = String::with_capacity(s.len());
    fold_into(&mut out, s);
    out
}

fn fold_into(out: &mut String, s: &str) {
    out.reserve(s.len());
    let mut rest = s;
    while !rest.is_empty() {
        // ASCII runs, the bulk of mail, a byte at a time.
        let ascii = rest.bytes().take_while(u8::is_ascii).count();
        let (run, tail) = rest.split_at(ascii);
        let from = out.len();
        out.push_str(run);
        if let Some(tail) = out.get_mut(from..) {
            tail.make_ascii_lowercase();
        }
        let mut chars = tail.chars();
        match chars.next() {
            Some(c) => {
                match c {
                    'ς' => out.push('σ'),
                    'ſ' => out.push('s'),
                    'ϐ' => out.push('β'),
                    'ϑ' => out.push('θ'),
                    'ϕ' => out.push('φ'),
                    'ϖ' => out.push('π'),
                    'ϰ' => out.push('κ'),
                    'ϱ' => out.push('ρ'),
                    'ϵ' => out.push('ε'),
                    'ẛ' => out.push('ṡ'),
                    '\u{345}' | '\u{1FBE}' => out.push('ι'),
                    _ => out.extend(c.to_lowercase()),
                }
                rest = chars.as_str();
            }
            None => rest = "",
        }
    }
}

/// RFC 5322 section 3.3 date, read as leniently as Dovecot does: optional weekday
/// with comma, 1-2 digit day, month name, 2 or 4 digit year (2 digits: 1970-2069),
/// hh:mm[:ss] with `:` or `.`, and any zone or none. Out-of-range values (`32 Jan`,
/// `24:00`) make the date invalid, as in Dovecot; a leap second is accepted.
fn parse_date(v: &[u8]) -> Option<(i32, u8, u8)> {
    const MONTHS: [&[u8]; 12] = [
        b"jan", b"feb", b"mar", b"apr", b"may", b"jun", b"jul", b"aug", b"sep", b"oct", b"nov",
        b"dec",
    ];
    let mut p = Parser::new(v);
    p.skip_lwsp();
    // Each token but the zone must be followed by more.
    let token = |p: &mut Parser<'_>| -> Option<Vec<u8>> {
        let mut t = Vec::new();
        (p.parse_atom(&mut t) == Step::More).then_some(t)
    };
    let digits = |t: &[u8], lens: &[usize]| -> Option<i64> {
        if !lens.contains(&t.len()) || !t.iter().all(u8::is_ascii_digit) {
            return None;
        }
        Some(t.iter().fold(0i64, |n, &d| n * 10 + i64::from(d - b'0')))
    };
    let mut t = token(&mut p)?;
    if t.len() == 3 {
        if p.cur() != b',' {
            return None;
        }
        p.pos += 1;
        p.skip_lwsp();
        t = token(&mut p)?;
    }
    if !t.first().is_some_and(u8::is_ascii_digit) {
        return None;
    }
    let day = digits(&t, &[1, 2])?;
    let m = token(&mut p)?;
    let month = MONTHS.iter().position(|name| {
        m.len() >= 3 && m.get(..3).is_some_and(|p| p.eq_ignore_ascii_case(name))
    })?;
    let y = token(&mut p)?;
    let mut year = digits(&y, &[2, 4])?;
    if y.len() == 2 {
        year += if year < 70 { 2000 } else { 1900 };
    } else if year < 1900 {
        return None;
    }
    let h = token(&mut p)?;
    let hour = digits(&h, &[1, 2])?;
    let is_sep = |b: u8| b == b':' || b == b'.';
    if !is_sep(p.cur()) {
        return None;
    }
    p.pos += 1;
    p.skip_lwsp();
    let mut t = Vec::new();
    if p.parse_atom(&mut t) == Step::Fail {
        return None;
    }
    let min = digits(&t, &[2])?;
    let mut sec = 0;
    if !p.at_end() && is_sep(p.cur()) {
        p.pos += 1;
        p.skip_lwsp();
        let s = token(&mut p).or_else(|| {
            // Seconds may end the value when the zone is missing.
            let mut t = Vec::new();
            (p.parse_atom(&mut t) != Step::Fail).then_some(t)
        })?;
        sec = digits(&s, &[2])?;
    }
    let month = month as i64 + 1;
    let leap = year % 4 == 0 && (year % 100 != 0 || year % 400 == 0);
    let month_days = match month {
        2 if leap => 29,
        2 => 28,
        4 | 6 | 9 | 11 => 30,
        _ => 31,
    };
    if day < 1 || day > month_days || hour > 23 || min > 59 || sec > 60 {
        return None;
    }
    Some((i32::try_from(year).ok()?, month as u8, day as u8))
}

#[cfg(test)]
mod tests {
    use super::*;

    const MSG: &[u8] = b"From: =?iso-8859-1?q?J=F6rg?= Schmidt <joerg@Example.COM>\n\
To: \"Ann  Other\" <ann@example.org>, bob@example.net\n\
Subject: =?utf-8?B?w4lU?= =?utf-8?Q?=C3=89_t=C3=A9?=\n\tsecond  line\n\
Date: Tue, 31 Dec 2024 23:30:00 -0500\n\
Message-ID: <abc@x>\n\
Content-Type: multipart/mixed; boundary=b\n\
\n\
preamble-word\n\
--b\n\
Content-Type: text/plain; charset=iso-8859-1\n\
Content-Transfer-Encoding: quoted-printable\n\
\n\
Gr=FC=DFe aus K=F6ln, soft=\n\
break\n\
--b\n\
Content-Type: application/octet-stream; name=\"secret-name.bin\"\n\
Content-Transfer-Encoding: base64\n\
\n\
aGlkZGVuLXdvcmQ=\n\
--b\n\
Content-Type: message/rfc822\n\
\n\
Subject: inner-subject\n\
\n\
inner-body-word\n\
--b\n\
Content-Type: text/html; charset=koi8-r\n\
Content-Transfer-Encoding: base64\n\
\n\
8NLJ18XU\n\
--b--\n\
epilogue-word\n";

    #[test]
    fn header_keys() {
        let s = Searchable::new(MSG);
        assert!(s.header(b"from", "jörg"));
        assert!(s.header(b"FROM", "JÖRG SCHMIDT <JOERG@"));
        assert!(s.header(b"from", "example.com"));
        assert!(!s.header(b"from", "example.org"));
        assert!(s.header(b"to", "ann  other"), "raw form");
        assert!(
            s.header(b"to", "ann  other <ann@example.org>"),
            "normalised form"
        );
        assert!(s.header(b"to", "bob@"));
        assert!(
            s.header(b"subject", "ÉTÉ TÉ second line"),
            "words joined, blanks compressed"
        );
        assert!(s.header(b"message-id", "<abc@x>"));
        assert!(s.header(b"message-id", ""));
        assert!(!s.header(b"in-reply-to", ""));
        assert!(!s.header(b"subject", "inner-subject"), "top level only");
    }

    #[test]
    fn body_and_text() {
        let s = Searchable::new(MSG);
        assert!(s.body("grüße aus köln"));
        assert!(!s.body("GRÜSSE"), "no ß/ss folding");
        assert!(s.body("softbreak"));
        assert!(s.body("привет"), "koi8-r base64 html");
        assert!(s.body("inner-body-word"));
        assert!(!s.body("hidden-word"), "not a text part");
        assert!(!s.body("preamble-word") && !s.body("epilogue-word"));
        assert!(!s.body("inner-subject"), "BODY has no headers");
        assert!(!s.body("jörg"));
        assert!(s.text("inner-subject"));
        assert!(s.text("secret-name.bin"), "MIME headers are text");
        assert!(s.text("subject: été té"));
        assert!(s.text("köln"));
        assert!(!s.text("hidden-word"));
        assert!(s.body("") && s.text(""));
        // A transfer encoding that cannot be undone hides the body, as in Dovecot.
        let bad = Searchable::new(b"Content-Transfer-Encoding: text/html\n\nhidden\n");
        assert!(!bad.body("hidden"));
        let twice = b"Content-Transfer-Encoding: bogus\nContent-Transfer-Encoding: 8bit\n\nseen\n";
        assert!(Searchable::new(twice).body("seen"), "the last field counts");
    }

    #[test]
    fn sent_date_in_its_own_zone() {
        assert_eq!(Searchable::new(MSG).sent_date(), Some((2024, 12, 31)));
        let d = |v: &str| parse_date(v.as_bytes());
        assert_eq!(d("1 Feb 99 10:00"), Some((1999, 2, 1)));
        assert_eq!(d("1 Feb 69 10:00 +0000"), Some((2069, 2, 1)));
        assert_eq!(d("Mon, 31 Jan 2001 23:59:60 GMT"), Some((2001, 1, 31)));
        assert_eq!(d("Mon, 32 Jan 2001 10:00:00 GMT"), None);
        assert_eq!(d("29 Feb 2001 10:00"), None);
        assert_eq!(d("29 Feb 2000 10:00"), Some((2000, 2, 29)));
        assert_eq!(d("1 Jan 2001 24:00"), None);
        assert_eq!(d("Mon 1 Jan 2001 10:00"), None, "weekday needs its comma");
        assert_eq!(
            d("1 January 2001 10.00.59 (comment) EST"),
            Some((2001, 1, 1))
        );
        assert_eq!(d("2001-01-01"), None);
        assert_eq!(d("1 Jan 1899 10:00"), None);
        assert_eq!(Searchable::new(b"Subject: x\n\nbody").sent_date(), None);
    }

    #[test]
    fn decoding_pieces() {
        assert_eq!(decode_words(b"=?utf-8?q?a?=  =?utf-8?q?b?= c"), "ab c");
        assert_eq!(decode_words(b"x=?utf-8?q?a_b?=y"), "xa by");
        assert_eq!(decode_words(b"=?bogus?q?a?="), "a");
        assert_eq!(decode_words(b"=?utf-8?x?a?= =?"), "=?utf-8?x?a?= =?");
        assert_eq!(decode_words(b"=?utf-8*en?b?w6k=?="), "é");
        assert_eq!(quoted_printable(b"a=3D=\r\nb= \nc=zz", false), b"a=bc=zz");
        assert_eq!(base64(b"aGVs\r\nbG8=junk"), b"hello");
        assert_eq!(fold("ΣΑΣ ς Straße ÉTÉ"), "σασ σ straße été");
    }
}
