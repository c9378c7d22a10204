//! The Content-* fields of one MIME part (RFC 2045, RFC 2183, RFC 3066, RFC 2557),
//! kept as written: IMAP reports type, subtype, parameters and encoding verbatim.
//!
//! For each field only the first well-formed occurrence counts: a later duplicate is
//! more likely an injected or broken header than a correction.

use super::header::{name_is, unfold};
use super::params::{self, Params};
use super::rfc822::{Parser, Step};

#[derive(Debug)]
pub(crate) struct ContentType {
    pub ty: Vec<u8>,
    pub subtype: Vec<u8>,
    pub params: Params,
}

#[derive(Debug, Default)]
pub(crate) struct Content {
    pub ctype: Option<ContentType>,
    pub encoding: Option<Vec<u8>>,
    pub id: Option<Vec<u8>>,
    pub description: Option<Vec<u8>>,
    pub md5: Option<Vec<u8>>,
    pub location: Option<Vec<u8>>,
    pub disposition: Option<(Vec<u8>, Params)>,
    pub language: Option<Vec<Vec<u8>>>,
}

/// RFC 2046 section 5.1.1 allows 70 characters; longer boundaries are cut here and
/// then match as prefixes, the way Dovecot reads them, so that a message with
/// over-long boundaries gets the same structure in both stores.
const MAX_BOUNDARY_LEN: usize = 80;

/// What the part's body is, as far as MIME structure goes.
pub(crate) enum Kind {
    Leaf,
    /// Claims to be a container but cannot be parsed as one (a multipart without
    /// subtype): reported as application/octet-stream rather than guessed at.
    Opaque,
    Message,
    /// `boundary` is None when the parameter is missing: the body is then opaque.
    Multipart {
        boundary: Option<Vec<u8>>,
        digest: bool,
    },
}

impl Content {
    pub fn add_field(&mut self, name: &[u8], raw: &[u8]) {
        let Some(rest) = name
            .get(..8)
            .filter(|p| p.eq_ignore_ascii_case(b"content-"))
            .and_then(|_| name.get(8..))
        else {
            return;
        };
        let raw_slot = match rest.first().map(u8::to_ascii_lowercase) {
            Some(b't') if name_is(rest, b"type") => {
                if self.ctype.is_none() {
                    self.ctype = Some(parse_type(&unfold(raw)));
                }
                return;
            }
            Some(b't') if name_is(rest, b"transfer-encoding") => {
                if self.encoding.is_none() {
                    self.encoding = parse_encoding(&unfold(raw));
                }
                return;
            }
            Some(b'd') if name_is(rest, b"disposition") => {
                // A disposition without parameters may be refined by a later one
                // (as Dovecot does); one with parameters is final.
                if self.disposition.as_ref().is_none_or(|(_, p)| p.is_empty())
                    && let Some(d) = parse_disposition(&unfold(raw))
                {
                    self.disposition = Some(d);
                }
                return;
            }
            Some(b'l') if name_is(rest, b"language") => {
                if self.language.is_none() {
                    self.language = parse_language(&unfold(raw));
                }
                return;
            }
            Some(b'i') if name_is(rest, b"id") => &mut self.id,
            Some(b'd') if name_is(rest, b"description") => &mut self.description,
            Some(b'm') if name_is(rest, b"md5") => &mut self.md5,
            Some(b'l') if name_is(rest, b"location") => &mut self.location,
            _ => return,
        };
        if raw_slot.is_none() {
            *raw_slot = Some(unfold(raw).into_owned());
        }
    }

    /// A part without Content-Type is text/plain, or message/rfc822 directly inside
    /// multipart/digest (RFC 2046 section 5.1.5).
    pub fn kind(&self, in_digest: bool) -> Kind {
        let Some(ct) = &self.ctype else {
            return if in_digest { Kind::Message } else { Kind::Leaf };
        };
        if ct.ty.eq_ignore_ascii_case(b"message") && ct.subtype.eq_ignore_ascii_case(b"rfc822") {
            return Kind::Message;
        }
        if ct.ty.eq_ignore_ascii_case(b"multipart") && ct.subtype.is_empty() {
            return Kind::Opaque;
        }
        if ct.ty.eq_ignore_ascii_case(b"multipart") {
            let boundary = ct
                .params
                .iter()
                .find(|(k, _)| k.eq_ignore_ascii_case(b"boundary"))
                .map(|(_, v)| v.get(..MAX_BOUNDARY_LEN).unwrap_or(v).to_vec());
            return Kind::Multipart {
                boundary,
                digest: ct.subtype.eq_ignore_ascii_case(b"digest"),
            };
        }
        Kind::Leaf
    }
}

/// An unparsable type gives empty type and subtype and no parameters: reporting it as
/// text/plain would claim a line count and charset the sender never declared.
fn parse_type(value: &[u8]) -> ContentType {
    let mut p = Parser::new(value);
    p.skip_lwsp();
    let mut full = Vec::new();
    let r = p.parse_content_type(&mut full);
    let (ty, subtype) = match memchr::memchr(b'/', &full) {
        Some(i) => (
            full.get(..i).unwrap_or_default().to_vec(),
            full.get(i + 1..).unwrap_or_default().to_vec(),
        ),
        None => (full, Vec::new()),
    };
    let params = if r == Step::Fail {
        Params::new()
    } else {
        params::parse(&mut p)
    };
    ContentType {
        ty,
        subtype,
        params,
    }
}

/// A single token, or nothing (then "7bit" is reported, RFC 2045 section 6.1).
fn parse_encoding(value: &[u8]) -> Option<Vec<u8>> {
    let mut p = Parser::new(value);
    p.skip_lwsp();
    let mut token = Vec::new();
    let ok = p.parse_mime_token(&mut token) != Step::Fail && p.skip_lwsp() == Step::End;
    (ok && !token.is_empty()).then_some(token)
}

fn parse_disposition(value: &[u8]) -> Option<(Vec<u8>, Params)> {
    let mut p = Parser::new(value);
    p.skip_lwsp();
    let mut token = Vec::new();
    if p.parse_mime_token(&mut token) == Step::Fail {
        return None;
    }
    let params = params::parse(&mut p);
    Some((token, params))
}

/// `1#Language-tag` (RFC 3282); stops at the first thing that is not one.
fn parse_language(value: &[u8]) -> Option<Vec<Vec<u8>>> {
    let mut p = Parser::new(value);
    p.skip_lwsp();
    let mut langs = Vec::new();
    loop {
        let mut tag = Vec::new();
        if p.parse_atom(&mut tag) == Step::Fail {
            break;
        }
        langs.push(tag);
        if p.at_end() || p.cur() != b',' {
            break;
        }
        p.pos += 1;
        p.skip_lwsp();
    }
    (!langs.is_empty()).then_some(langs)
}
