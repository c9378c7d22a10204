//! BODY[section] (RFC 3501 section 6.4.5, RFC 9051 section 6.4.5): the bytes of a
//! part, a header, a header subset or a body, located in the message as the part tree
//! finds them, with every line end sent as CRLF.
//!
//! Why CRLF: RFC822.SIZE and the BODYSTRUCTURE sizes count a bare LF as CRLF, so a
//! section must be sent the same way or a client's size checks fail. A bare CR is
//! data and stays (RFC 5322 section 2.3; Dovecot keeps it too), and a NUL, which no
//! IMAP literal may carry (RFC 3501 section 4.3), is sent as 0x80, as Dovecot does.
//!
//! Part numbers follow Dovecot, which reads RFC 3501 as follows: a multipart's parts
//! are 1, 2, ...; any other part has only part 1, itself; a path continues into a
//! message/rfc822 part's encapsulated message. `N.HEADER`, `N.TEXT` and the header
//! subsets need part N to be message/rfc822; `N.MIME` is part N's own header. A part
//! that does not exist gives an empty string, not an error (Dovecot's answer, and
//! RFC 3501 lets a server return what it has).
//!
//! How the server uses it:
//! - `BODY[]` and `BODY[]<o.n>`: no parse is needed. The literal's size is
//!   RFC822.SIZE from the cache (or `min(n, size - o)` for a partial); then read the
//!   file in chunks and push each through one [`CrlfStream`] (`window(o, Some(n))`
//!   for a partial), sending what it appends, until [`CrlfStream::is_done`] or EOF.
//! - any other section: read the file, build one [`Sections`] and `get` each
//!   section the FETCH names (the tree is built once), then [`partial`]; `len` gives
//!   a literal's size. [`crlf_len`] sizes any byte range without copying.

use std::borrow::Cow;

use super::tree::{self, Body, Boundaries, Counts, Part};

/// The text part of a section specifier (RFC 3501 `section-text`).
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum SectionText {
    /// `HEADER`: the header including its blank line.
    Header,
    /// `HEADER.FIELDS (...)`: the field lines whose names are listed.
    HeaderFields(Vec<Vec<u8>>),
    /// `HEADER.FIELDS.NOT (...)`: the field lines whose names are not listed.
    HeaderFieldsNot(Vec<Vec<u8>>),
    /// `TEXT`: the body of the message or of a message/rfc822 part.
    Text,
    /// `MIME`: the MIME header of a part (only after a part number).
    Mime,
}

/// `BODY[part.text]` of `raw`, CRLF-normalised. `part` empty is the whole message
/// (`BODY[]`, `BODY[HEADER]`, ...). Borrows from `raw` when nothing needs converting.
/// Apply a partial `<offset.length>` to the result with [`partial`]. For several
/// sections of one message, [`Sections`] parses the message once.
pub fn section<'a>(raw: &'a [u8], part: &[u32], text: Option<&SectionText>) -> Cow<'a, [u8]> {
    Sections::new(raw).get(part, text)
}

/// One message's sections: the part tree is built on the first request that needs
/// it and kept for the next ones (a FETCH often asks several of one message).
pub struct Sections<'a> {
    raw: &'a [u8],
    tree: std::cell::OnceCell<tree::Message>,
}

impl<'a> Sections<'a> {
    pub fn new(raw: &'a [u8]) -> Self {
        Sections {
            raw,
            tree: std::cell::OnceCell::new(),
        }
    }

    /// `BODY[part.text]`, as [`section`].
    pub fn get(&self, part: &[u32], text: Option<&SectionText>) -> Cow<'a, [u8]> {
        let raw = self.raw;
        match self.locate(part, text) {
            Located::Range(from, to) => crlf_range(raw, from, to),
            Located::Fields {
                from,
                to,
                names,
                keep,
            } => Cow::Owned(filter_fields(raw, from, to, names, keep)),
            Located::Nothing => Cow::Borrowed(&[]),
        }
    }

    /// The CRLF length of `BODY[part.text]`, for a literal's size, without building
    /// it where the section is a plain range of the message.
    pub fn len(&self, part: &[u32], text: Option<&SectionText>) -> u64 {
        match self.locate(part, text) {
            Located::Range(from, to) => crlf_len(self.raw.get(from..to).unwrap_or_default()),
            Located::Fields { .. } => self.get(part, text).len() as u64,
            Located::Nothing => 0,
        }
    }

    fn locate<'n>(&self, path: &[u32], text: Option<&'n SectionText>) -> Located<'n> {
        let raw = self.raw;
        if path.is_empty() {
            // The top level needs only the end of the header, not the part tree.
            let hdr = super::header::scan(raw, 0, &Boundaries::default(), |_, _| {});
            let b = hdr.body_start;
            return of_message(text, 0, b, b, raw.len());
        }
        let msg = self.tree.get_or_init(|| tree::parse(raw));
        let Some(part) = find(&msg.root, path) else {
            return Located::Nothing;
        };
        match text {
            None => Located::Range(part.body_start, part.body_end),
            Some(SectionText::Mime) => Located::Range(part.header_start, header_end(raw, part)),
            Some(t) => match &part.body {
                // HEADER and TEXT after a part number are those of the encapsulated
                // message (RFC 3501 section 6.4.5).
                Body::Message(inner) => of_message(
                    Some(t),
                    inner.header_start,
                    header_end(raw, inner),
                    inner.body_start,
                    inner.body_end,
                ),
                _ => Located::Nothing,
            },
        }
    }
}

/// The CRLF length of `BODY[part.text]`; see [`Sections::len`].
pub fn section_len(raw: &[u8], part: &[u32], text: Option<&SectionText>) -> u64 {
    Sections::new(raw).len(part, text)
}

/// The partial `<offset.length>` of a section's bytes (RFC 3501 section 6.4.5): an
/// offset past the end gives an empty string; `length` None means to the end.
pub fn partial(data: &[u8], offset: u64, length: Option<u64>) -> &[u8] {
    let len = data.len() as u64;
    let from = offset.min(len);
    let to = match length {
        Some(n) => from.saturating_add(n).min(len),
        None => len,
    };
    data.get(from as usize..to as usize).unwrap_or_default()
}

enum Located<'n> {
    Range(usize, usize),
    Fields {
        from: usize,
        to: usize,
        names: &'n [Vec<u8>],
        keep: bool,
    },
    Nothing,
}

/// The end of a part's header as Dovecot reports it. When a boundary line follows
/// the header directly (the body is empty), the line break before it belongs to the
/// boundary (RFC 2046 section 5.1.1), so it is not part of the header; the tree keeps
/// it there only because it also counts as the header's blank line.
fn header_end(raw: &[u8], part: &Part) -> usize {
    let end = part.body_start;
    let boundary_next = raw.get(end..).is_some_and(|r| r.starts_with(b"--"));
    if part.body_end != end || !boundary_next || end <= part.header_start {
        return end;
    }
    let mut cut = end;
    if raw.get(cut - 1) == Some(&b'\n') {
        cut -= 1;
        if cut > part.header_start && raw.get(cut - 1) == Some(&b'\r') {
            cut -= 1;
        }
    }
    cut
}

/// A message's sections: its header is `start..hdr_end`, its body `body..end`.
fn of_message(
    text: Option<&SectionText>,
    start: usize,
    hdr_end: usize,
    body: usize,
    end: usize,
) -> Located<'_> {
    match text {
        None => Located::Range(start, end),
        Some(SectionText::Header) => Located::Range(start, hdr_end),
        Some(SectionText::Text) => Located::Range(body, end),
        Some(SectionText::HeaderFields(names)) => Located::Fields {
            from: start,
            to: hdr_end,
            names,
            keep: true,
        },
        Some(SectionText::HeaderFieldsNot(names)) => Located::Fields {
            from: start,
            to: hdr_end,
            names,
            keep: false,
        },
        // MIME needs a part number; the IMAP parser refuses `BODY[MIME]`.
        Some(SectionText::Mime) => Located::Nothing,
    }
}

/// Walks a part path the way Dovecot does (see the module doc).
fn find<'p>(root: &'p Part, path: &[u32]) -> Option<&'p Part> {
    let mut part = root;
    for (i, &n) in path.iter().enumerate() {
        let more = i + 1 < path.len();
        match &part.body {
            Body::Multipart(children) => {
                part = children.get(usize::try_from(n).ok()?.checked_sub(1)?)?;
            }
            _ if n != 1 => return None,
            Body::Message(_) => {}
            _ if more => return None,
            _ => {}
        }
        if more && let Body::Message(inner) = &part.body {
            part = inner;
        }
    }
    Some(part)
}

/// Field lines of the header `raw[from..to]` whose names are (`keep`) or are not
/// listed, then the blank line if the header has one. A field keeps its continuation
/// lines; a line without a colon has no name, so it is never listed (as in Dovecot).
fn filter_fields(raw: &[u8], from: usize, to: usize, names: &[Vec<u8>], keep: bool) -> Vec<u8> {
    let mut out = Vec::new();
    let mut kept = false;
    for line in FieldLines::new(raw, from, to) {
        let bytes = raw.get(line.start..line.end).unwrap_or_default();
        if line.blank {
            push_crlf(&mut out, bytes, &mut false);
            break;
        }
        if !line.continuation {
            let listed = names.iter().any(|n| n.eq_ignore_ascii_case(line.name));
            kept = listed == keep;
        }
        if kept {
            push_crlf(&mut out, bytes, &mut false);
        }
    }
    out
}

/// One line of a header block.
pub(crate) struct FieldLine<'a> {
    pub start: usize,
    /// Just past the line's LF (or the end of the block).
    pub end: usize,
    /// The field name with blanks before the colon trimmed; empty for a line
    /// without colon or a continuation line.
    pub name: &'a [u8],
    /// Where the value starts (after the colon); `end` for a line without colon.
    pub value_start: usize,
    pub continuation: bool,
    /// The empty line that ends the header; it is the last line returned.
    pub blank: bool,
}

/// Dovecot caps header names; a longer "name" is treated as a nameless line.
const MAX_NAME_LEN: usize = 1000;

/// The lines of the header block `raw[from..to]`, as the tree delimited it.
pub(crate) struct FieldLines<'a> {
    raw: &'a [u8],
    pos: usize,
    to: usize,
    first: bool,
}

impl<'a> FieldLines<'a> {
    pub fn new(raw: &'a [u8], from: usize, to: usize) -> Self {
        FieldLines {
            raw,
            pos: from,
            to: to.min(raw.len()),
            first: true,
        }
    }
}

impl<'a> Iterator for FieldLines<'a> {
    type Item = FieldLine<'a>;

    fn next(&mut self) -> Option<FieldLine<'a>> {
        let start = self.pos;
        if start >= self.to {
            return None;
        }
        let rest = self.raw.get(start..self.to).unwrap_or_default();
        let (content_len, end) = match memchr::memchr(b'\n', rest) {
            Some(i) => (
                i - usize::from(i > 0 && rest.get(i - 1) == Some(&b'\r')),
                start + i + 1,
            ),
            None => (rest.len(), self.to),
        };
        self.pos = end;
        let content = rest.get(..content_len).unwrap_or_default();
        let first = std::mem::replace(&mut self.first, false);
        let mut line = FieldLine {
            start,
            end,
            name: &[],
            value_start: end,
            continuation: false,
            blank: false,
        };
        if content.is_empty() {
            // An empty line (it has its LF: a line without one is not empty).
            line.blank = true;
            self.pos = self.to;
            return Some(line);
        }
        if !first && matches!(content.first(), Some(b' ' | b'\t')) {
            line.continuation = true;
            return Some(line);
        }
        if let Some(colon) = memchr::memchr(b':', content) {
            let name = content.get(..colon).unwrap_or_default();
            let trimmed = name.len()
                - name
                    .iter()
                    .rev()
                    .take_while(|&&b| b == b' ' || b == b'\t')
                    .count();
            if trimmed <= MAX_NAME_LEN {
                line.name = name.get(..trimmed).unwrap_or_default();
                line.value_start = start + colon + 1;
            }
        }
        Some(line)
    }
}

/// `raw[from..to]` with CRLF line ends; borrowed when it already has them.
fn crlf_range(raw: &[u8], from: usize, to: usize) -> Cow<'_, [u8]> {
    let Some(slice) = raw.get(from..to) else {
        return Cow::Borrowed(&[]);
    };
    let c = Counts::of(slice, 0, slice.len());
    if c.lf == c.crlf && memchr::memchr(0, slice).is_none() {
        return Cow::Borrowed(slice);
    }
    let mut out = Vec::with_capacity(slice.len() + (c.lf - c.crlf) as usize);
    push_crlf(&mut out, slice, &mut false);
    Cow::Owned(out)
}

/// Octets of `bytes` once every bare LF is sent as CRLF: a literal's size, counted
/// without copying. `bytes` is taken as a section of its own, so a leading LF is bare.
pub fn crlf_len(bytes: &[u8]) -> u64 {
    Counts::of(bytes, 0, bytes.len()).virtual_size()
}

/// Appends `chunk` with bare LFs made CRLF and NULs made 0x80; `prev_cr` says whether
/// the byte before `chunk` was a CR, and is updated.
fn push_crlf(out: &mut Vec<u8>, chunk: &[u8], prev_cr: &mut bool) {
    let mut start = 0;
    for i in memchr::memchr_iter(b'\n', chunk) {
        let after_cr = match i.checked_sub(1) {
            Some(p) => chunk.get(p) == Some(&b'\r'),
            None => *prev_cr,
        };
        if !after_cr {
            push_nonul(out, chunk.get(start..i).unwrap_or_default());
            out.push(b'\r');
            start = i;
        }
    }
    push_nonul(out, chunk.get(start..).unwrap_or_default());
    if let Some(&last) = chunk.last() {
        *prev_cr = last == b'\r';
    }
}

fn push_nonul(out: &mut Vec<u8>, s: &[u8]) {
    let from = out.len();
    out.extend_from_slice(s);
    if memchr::memchr(0, s).is_some()
        && let Some(tail) = out.get_mut(from..)
    {
        for b in tail.iter_mut().filter(|b| **b == 0) {
            *b = 0x80;
        }
    }
}

/// Streams a message (or any range of it) as CRLF, chunk by chunk, for BODY[] and
/// its partials: the server reads the file in chunks and pushes each one here. A CR
/// at the end of one chunk and an LF at the start of the next are one line end.
///
/// With a window (`<offset.length>`, counted in CRLF octets as RFC 3501 partials
/// are), only the octets inside it are emitted; once [`CrlfStream::is_done`] says so,
/// reading can stop.
#[derive(Debug, Clone)]
pub struct CrlfStream {
    prev_cr: bool,
    /// CRLF octets produced so far, emitted or not.
    pos: u64,
    skip: u64,
    end: u64,
}

impl Default for CrlfStream {
    fn default() -> Self {
        Self::new()
    }
}

impl CrlfStream {
    /// The whole input.
    pub fn new() -> Self {
        Self::window(0, None)
    }

    /// Only the CRLF octets `offset..offset+length` of the input.
    pub fn window(offset: u64, length: Option<u64>) -> Self {
        CrlfStream {
            prev_cr: false,
            pos: 0,
            skip: offset,
            end: length.map_or(u64::MAX, |n| offset.saturating_add(n)),
        }
    }

    /// Converts the next chunk of input and appends what falls inside the window.
    pub fn push(&mut self, chunk: &[u8], out: &mut Vec<u8>) {
        if self.is_done() {
            return;
        }
        let inside_from = self.pos >= self.skip;
        let room = self.end - self.pos;
        if inside_from && room >= chunk.len() as u64 * 2 {
            // Whole chunk inside the window whatever it expands to: no clipping.
            let before = out.len();
            push_crlf(out, chunk, &mut self.prev_cr);
            self.pos += (out.len() - before) as u64;
            return;
        }
        // Near a window edge: convert, then clip. A chunk expands at most 2x.
        let mut tmp = Vec::with_capacity(chunk.len() + chunk.len() / 8);
        push_crlf(&mut tmp, chunk, &mut self.prev_cr);
        let (from, to) = (self.pos, self.pos + tmp.len() as u64);
        let a = self.skip.clamp(from, to) - from;
        let b = self.end.clamp(from, to) - from;
        out.extend_from_slice(tmp.get(a as usize..b as usize).unwrap_or_default());
        self.pos = to;
    }

    /// The window's end has been reached: no further input can add anything.
    pub fn is_done(&self) -> bool {
        self.pos >= self.end
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn sec(raw: &[u8], path: &[u32], text: Option<SectionText>) -> String {
        String::from_utf8_lossy(&section(raw, path, text.as_ref())).into_owned()
    }

    fn fields(names: &[&str]) -> Vec<Vec<u8>> {
        names.iter().map(|n| n.as_bytes().to_vec()).collect()
    }

    const PLAIN: &[u8] =
        b"From: a@b\nSubject: hi\n folded\nX-No-Colon\nsubject : second\n\nbody\nline2\r\nend";
    const MIXED: &[u8] = b"Content-Type: multipart/mixed; boundary=x\n\npre\n--x\n\
Content-Type: text/plain\n\none\n--x\nContent-Type: message/rfc822\n\n\
Subject: inner\nFrom: c@d\n\ninner body\n--x--\nepi\n";

    // The expected strings below are Dovecot 2.3.19's answers for the same messages.
    #[test]
    fn whole_header_and_text() {
        assert_eq!(
            sec(PLAIN, &[], None),
            "From: a@b\r\nSubject: hi\r\n folded\r\nX-No-Colon\r\nsubject : second\r\n\r\nbody\r\nline2\r\nend"
        );
        assert_eq!(
            sec(PLAIN, &[], Some(SectionText::Header)),
            "From: a@b\r\nSubject: hi\r\n folded\r\nX-No-Colon\r\nsubject : second\r\n\r\n"
        );
        assert_eq!(
            sec(PLAIN, &[], Some(SectionText::Text)),
            "body\r\nline2\r\nend"
        );
        // A non-multipart message's part 1 is its body; its MIME header is the header.
        assert_eq!(sec(PLAIN, &[1], None), "body\r\nline2\r\nend");
        assert_eq!(
            sec(PLAIN, &[1], Some(SectionText::Mime)),
            sec(PLAIN, &[], Some(SectionText::Header))
        );
        assert_eq!(sec(PLAIN, &[2], None), "");
        assert_eq!(sec(PLAIN, &[1, 1], None), "");
        assert_eq!(sec(PLAIN, &[1], Some(SectionText::Header)), "");
    }

    #[test]
    fn header_fields_keep_folding_and_match_case_insensitively() {
        let want = fields(&["SUBJECT"]);
        assert_eq!(
            sec(PLAIN, &[], Some(SectionText::HeaderFields(want.clone()))),
            "Subject: hi\r\n folded\r\nsubject : second\r\n\r\n"
        );
        assert_eq!(
            sec(PLAIN, &[], Some(SectionText::HeaderFieldsNot(want))),
            "From: a@b\r\nX-No-Colon\r\n\r\n"
        );
        // A line without colon has no name.
        assert_eq!(
            sec(
                PLAIN,
                &[],
                Some(SectionText::HeaderFields(fields(&["X-No-Colon"])))
            ),
            "\r\n"
        );
        // No blank line, no body: none is added (RFC 3501 section 6.4.5).
        let hdr_only = b"From: a@b\nSubject: hdr only\n";
        assert_eq!(
            sec(
                hdr_only,
                &[],
                Some(SectionText::HeaderFieldsNot(fields(&["subject"])))
            ),
            "From: a@b\r\n"
        );
        assert_eq!(sec(hdr_only, &[], Some(SectionText::Text)), "");
        assert_eq!(sec(hdr_only, &[1], None), "");
    }

    #[test]
    fn multipart_and_nested_message() {
        assert_eq!(sec(MIXED, &[1], None), "one");
        assert_eq!(
            sec(MIXED, &[2], None),
            "Subject: inner\r\nFrom: c@d\r\n\r\ninner body"
        );
        assert_eq!(
            sec(MIXED, &[2], Some(SectionText::Header)),
            "Subject: inner\r\nFrom: c@d\r\n\r\n"
        );
        assert_eq!(sec(MIXED, &[2], Some(SectionText::Text)), "inner body");
        assert_eq!(
            sec(MIXED, &[2], Some(SectionText::Mime)),
            "Content-Type: message/rfc822\r\n\r\n"
        );
        assert_eq!(sec(MIXED, &[2, 1], None), "inner body");
        assert_eq!(
            sec(MIXED, &[2, 1], Some(SectionText::Mime)),
            "Subject: inner\r\nFrom: c@d\r\n\r\n"
        );
        assert_eq!(sec(MIXED, &[2, 2], None), "");
        assert_eq!(sec(MIXED, &[3], None), "");
        assert_eq!(sec(MIXED, &[0], None), "");
        assert_eq!(
            sec(
                MIXED,
                &[2],
                Some(SectionText::HeaderFields(fields(&["from"])))
            ),
            "From: c@d\r\n\r\n"
        );
        assert_eq!(sec(MIXED, &[1], Some(SectionText::Text)), "");
        let text = section(MIXED, &[], Some(&SectionText::Text));
        assert_eq!(partial(&text, 3, Some(5)), b"\r\n--x");
        assert_eq!(partial(&text, 1000, Some(5)), b"");
        assert_eq!(partial(&text, 0, None), &text[..]);
    }

    #[test]
    fn top_level_message_rfc822() {
        let m = b"Content-Type: message/rfc822\n\nSubject: inner\n\ninner\rbody\n";
        assert_eq!(sec(m, &[1], None), "Subject: inner\r\n\r\ninner\rbody\r\n");
        assert_eq!(sec(m, &[1, 1], None), "inner\rbody\r\n");
        assert_eq!(
            sec(m, &[1], Some(SectionText::Header)),
            "Subject: inner\r\n\r\n"
        );
        assert_eq!(
            sec(m, &[1], Some(SectionText::Mime)),
            "Content-Type: message/rfc822\r\n\r\n"
        );
        assert_eq!(
            sec(m, &[1, 1], Some(SectionText::Mime)),
            "Subject: inner\r\n\r\n"
        );
        assert_eq!(sec(m, &[1, 2], None), "");
    }

    #[test]
    fn borrowed_when_already_crlf_and_nul_replaced() {
        let m = b"A: b\r\n\r\nbody\r\n";
        assert!(matches!(section(m, &[], None), Cow::Borrowed(_)));
        assert_eq!(&*section(b"A: b\n\nx\0y", &[], None), b"A: b\r\n\r\nx\x80y");
        assert_eq!(
            section_len(PLAIN, &[], None),
            sec(PLAIN, &[], None).len() as u64
        );
        let f = SectionText::HeaderFields(fields(&["from"]));
        assert_eq!(section_len(PLAIN, &[], Some(&f)), 13);
    }

    #[test]
    fn stream_agrees_with_whole_conversion_at_every_split() {
        let input = b"a\r\nb\nc\r\r\n\n\rd\n\0\r";
        let whole = section(input, &[], None).into_owned();
        assert_eq!(whole.len() as u64, crlf_len(input));
        for split in 0..=input.len() {
            for offset in [0u64, 1, 2, 3, 4, 7, 100] {
                for length in [None, Some(0), Some(1), Some(2), Some(5)] {
                    let mut s = CrlfStream::window(offset, length);
                    let mut out = Vec::new();
                    s.push(&input[..split], &mut out);
                    s.push(&input[split..], &mut out);
                    assert_eq!(
                        out,
                        partial(&whole, offset, length),
                        "split {split} window {offset} {length:?}"
                    );
                    if length.is_some() && offset + length.unwrap_or(0) <= whole.len() as u64 {
                        assert!(s.is_done());
                    }
                }
            }
        }
        // A byte at a time.
        let mut s = CrlfStream::new();
        let mut out = Vec::new();
        for b in input.chunks(1) {
            s.push(b, &mut out);
        }
        assert_eq!(out, whole);
    }
}
