//! MIME to IMAP: ENVELOPE, BODYSTRUCTURE, BODY and RFC822.SIZE (RFC 3501 section
//! 7.4.2, RFC 9051 section 7.5.2), computed from the message bytes alone.
//!
//! Why not a MIME library such as mail-parser: those decode and normalise (charsets,
//! RFC 2047 words, folding, parameter continuations), while IMAP needs the raw header
//! values, the parameter strings as written, exact byte offsets and line counts. So
//! this module locates parts in place and never decodes a body.
//!
//! The output matches Dovecot 2.3 byte for byte wherever Dovecot follows the RFCs, so
//! a store migrated from Dovecot serves clients exactly the strings they cached; the
//! deliberate differences are listed in `DIFFERENCES.md` beside this file.
//!
//! Two more things the IMAP server needs from the bytes: [`section`] extracts
//! BODY[section] and streams BODY[] with CRLF line ends, and [`search`] matches the
//! text keys of SEARCH. Both are pure functions of the message bytes.
//!
//! Line ends: LF, CRLF, mixed and bare CR are all accepted, and a message gives the
//! same result as its CRLF-normalised copy (sizes count every bare LF as CRLF).

mod address;
mod bodystructure;
mod content;
mod envelope;
mod header;
mod params;
mod quote;
mod rfc822;
pub mod search;
pub mod section;
#[cfg(test)]
mod tests;
mod tree;

/// What IMAP FETCH returns for one message, as exact IMAP strings.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct FetchData {
    /// ENVELOPE, with the outer parentheses.
    pub envelope: Vec<u8>,
    /// BODYSTRUCTURE, with the outer parentheses.
    pub bodystructure: Vec<u8>,
    /// BODY (BODYSTRUCTURE without extension data), with the outer parentheses.
    pub body: Vec<u8>,
    /// RFC822.SIZE: octets with every bare LF counted as CRLF.
    pub size: u64,
    /// The header including its blank line, CRLF-counted.
    pub header_size: u64,
    /// The body, CRLF-counted.
    pub body_size: u64,
    /// Bytes of the header block including the blank line as in the file; the body
    /// starts at this offset.
    pub header_size_physical: u64,
}

/// Computes the IMAP cache strings of one message. Never panics; any byte string is
/// a message (the worst case is a header-only text/plain message).
pub fn build(raw: &[u8]) -> FetchData {
    let msg = tree::parse(raw);

    let mut envelope = Vec::with_capacity(256);
    envelope.push(b'(');
    match &msg.root.envelope {
        Some(env) => env.write(&mut envelope),
        None => envelope.extend_from_slice(b"NIL NIL NIL NIL NIL NIL NIL NIL NIL NIL"),
    }
    envelope.push(b')');

    let mut bodystructure = Vec::with_capacity(256);
    bodystructure.push(b'(');
    bodystructure::write_root(&mut bodystructure, &msg.root, true);
    bodystructure.push(b')');

    let mut body = Vec::with_capacity(256);
    body.push(b'(');
    bodystructure::write_root(&mut body, &msg.root, false);
    body.push(b')');

    let size = msg.total.virtual_size();
    let header_size = msg.header.virtual_size();
    FetchData {
        envelope,
        bodystructure,
        body,
        size,
        header_size,
        body_size: size - header_size,
        header_size_physical: msg.header.len,
    }
}
