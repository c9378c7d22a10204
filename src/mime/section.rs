//! BODY[section] of a message (RFC 3501 6.4.5). Interim: the top level only
//! (HEADER, HEADER.FIELDS, HEADER.FIELDS.NOT, TEXT, and part 1 of a message that
//! is not multipart); nested parts answer empty.

use std::borrow::Cow;

#[derive(Clone, Debug, PartialEq, Eq)]
pub enum SectionText {
    Header,
    HeaderFields(Vec<Vec<u8>>),
    HeaderFieldsNot(Vec<Vec<u8>>),
    Text,
    Mime,
}

fn header_end(raw: &[u8]) -> usize {
    let mut i = 0;
    while i < raw.len() {
        let line_end = memchr::memchr(b'\n', &raw[i..]).map_or(raw.len(), |p| i + p + 1);
        let line = &raw[i..line_end];
        if line == b"\r\n" || line == b"\n" {
            return line_end;
        }
        i = line_end;
    }
    raw.len()
}

fn fields(header: &[u8], names: &[Vec<u8>], keep: bool) -> Vec<u8> {
    let mut out = Vec::new();
    let mut i = 0;
    let mut take = false;
    while i < header.len() {
        let end = memchr::memchr(b'\n', &header[i..]).map_or(header.len(), |p| i + p + 1);
        let line = &header[i..end];
        if line == b"\r\n" || line == b"\n" {
            break;
        }
        if !line.starts_with(b" ") && !line.starts_with(b"\t") {
            let name = line.split(|&b| b == b':').next().unwrap_or_default();
            let hit = names.iter().any(|n| n.eq_ignore_ascii_case(name));
            take = hit == keep;
        }
        if take {
            out.extend_from_slice(line);
        }
        i = end;
    }
    out.extend_from_slice(b"\r\n");
    out
}

/// The bytes of a section of `raw` (a whole message with CRLF line ends).
pub fn section<'a>(raw: &'a [u8], part: &[u32], text: Option<&SectionText>) -> Cow<'a, [u8]> {
    let he = header_end(raw);
    match (part, text) {
        ([], None) => Cow::Borrowed(raw),
        ([], Some(SectionText::Header)) => Cow::Borrowed(&raw[..he]),
        ([], Some(SectionText::Text)) | ([1], None) => Cow::Borrowed(&raw[he..]),
        ([], Some(SectionText::HeaderFields(n))) => Cow::Owned(fields(&raw[..he], n, true)),
        ([], Some(SectionText::HeaderFieldsNot(n))) => Cow::Owned(fields(&raw[..he], n, false)),
        _ => Cow::Borrowed(&[]),
    }
}
