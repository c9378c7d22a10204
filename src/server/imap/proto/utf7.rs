//! Modified UTF-7 (RFC 3501 section 5.1.3), the wire form of mailbox names for
//! clients that have not enabled UTF-8, and the UTF8=ACCEPT rule (RFC 6855) that
//! decides which form applies.
//!
//! Decoding is strict: only the one canonical spelling of a name is accepted (no
//! empty or adjacent shifts, no shifted printable ASCII, zero padding bits, whole
//! UTF-16 units, paired surrogates). Two spellings of one name would otherwise name
//! the same folder twice, and a name that does not round-trip cannot be written back
//! in a LIST response as the client sent it. Nothing here panics on hostile input.

use std::borrow::Cow;
use std::fmt;

/// The modified-base64 alphabet: RFC 2045 base64 with `,` in place of `/`.
const ALPHABET: &[u8; 64] = b"ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789+,";

/// Why a mailbox name from the wire was refused; `Display` is the short reason the
/// session puts after `NO` or `BAD`.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Utf7Error {
    /// A byte outside printable US-ASCII in a modified UTF-7 name (8-bit text needs
    /// `ENABLE UTF8=ACCEPT` first).
    NotAscii,
    /// `&` without the closing `-`.
    Unterminated,
    /// A character outside the modified-base64 alphabet, or leftover bits.
    BadBase64,
    /// A spelling that is not the canonical one (see the module doc).
    NonCanonical,
    /// The shifted bytes are not well-formed UTF-16.
    BadUtf16,
    /// Not UTF-8, where UTF8=ACCEPT makes names UTF-8.
    NotUtf8,
    /// A control character, which RFC 5198 (Net-Unicode) excludes from names.
    Control,
}

impl fmt::Display for Utf7Error {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(match self {
            Utf7Error::NotAscii => {
                "mailbox name has 8-bit characters; use modified UTF-7 or ENABLE UTF8=ACCEPT"
            }
            Utf7Error::Unterminated => "mailbox name has an unterminated modified UTF-7 shift",
            Utf7Error::BadBase64 => "mailbox name has invalid modified base64",
            Utf7Error::NonCanonical => "mailbox name is not canonical modified UTF-7",
            Utf7Error::BadUtf16 => "mailbox name has invalid UTF-16 in modified UTF-7",
            Utf7Error::NotUtf8 => "mailbox name is not valid UTF-8",
            Utf7Error::Control => "mailbox name contains a control character",
        })
    }
}

impl std::error::Error for Utf7Error {}

/// `s` in modified UTF-7: printable ASCII as itself (`&` as `&-`), every run of
/// other characters as one `&`...`-` shift of UTF-16 in modified base64.
pub fn encode(s: &str) -> String {
    let mut out = String::with_capacity(s.len());
    let mut run: Vec<u16> = Vec::new();
    for c in s.chars() {
        if (' '..='~').contains(&c) {
            flush(&mut out, &mut run);
            if c == '&' {
                out.push_str("&-");
            } else {
                out.push(c);
            }
        } else {
            let mut units = [0u16; 2];
            run.extend_from_slice(c.encode_utf16(&mut units));
        }
    }
    flush(&mut out, &mut run);
    out
}

/// Writes a pending run of UTF-16 units as one shift.
fn flush(out: &mut String, run: &mut Vec<u16>) {
    if run.is_empty() {
        return;
    }
    out.push('&');
    let mut bits: u32 = 0;
    let mut nbits = 0;
    for unit in run.drain(..) {
        for byte in unit.to_be_bytes() {
            bits = (bits << 8) | u32::from(byte);
            nbits += 8;
            while nbits >= 6 {
                nbits -= 6;
                out.push(char::from(ALPHABET[((bits >> nbits) & 63) as usize]));
            }
        }
    }
    if nbits > 0 {
        out.push(char::from(ALPHABET[((bits << (6 - nbits)) & 63) as usize]));
    }
    out.push('-');
}

/// Decodes a modified UTF-7 name, accepting only its canonical spelling.
pub fn decode(s: &[u8]) -> Result<String, Utf7Error> {
    let mut out = String::with_capacity(s.len());
    let mut i = 0;
    // Where the last base64 shift ended: a shift starting right there should have
    // been one shift.
    let mut last_shift_end = None;
    while let Some(&b) = s.get(i) {
        match b {
            b'&' => {
                let rest = s.get(i + 1..).unwrap_or_default();
                let len = rest
                    .iter()
                    .position(|&c| c == b'-')
                    .ok_or(Utf7Error::Unterminated)?;
                let b64 = rest.get(..len).unwrap_or_default();
                if b64.is_empty() {
                    out.push('&');
                } else {
                    if last_shift_end == Some(i) {
                        return Err(Utf7Error::NonCanonical);
                    }
                    decode_shift(b64, &mut out)?;
                    last_shift_end = Some(i + 2 + len);
                }
                i += 2 + len;
            }
            0x20..=0x7e => {
                out.push(char::from(b));
                i += 1;
            }
            _ => return Err(Utf7Error::NotAscii),
        }
    }
    Ok(out)
}

/// One shift's modified base64 (between `&` and `-`) into `out`.
fn decode_shift(b64: &[u8], out: &mut String) -> Result<(), Utf7Error> {
    let mut units = Vec::with_capacity(b64.len() * 6 / 16);
    let mut bits: u32 = 0;
    let mut nbits = 0;
    for &c in b64 {
        let v = match c {
            b'A'..=b'Z' => c - b'A',
            b'a'..=b'z' => c - b'a' + 26,
            b'0'..=b'9' => c - b'0' + 52,
            b'+' => 62,
            b',' => 63,
            _ => return Err(Utf7Error::BadBase64),
        };
        bits = (bits << 6) | u32::from(v);
        nbits += 6;
        if nbits >= 16 {
            nbits -= 16;
            units.push(((bits >> nbits) & 0xffff) as u16);
        }
    }
    // The encoder pads the last unit to a 6-bit boundary with zero bits: fewer than
    // six bits may remain, and they must be zero.
    if nbits >= 6 || bits & ((1 << nbits) - 1) != 0 {
        return Err(Utf7Error::BadBase64);
    }
    for c in char::decode_utf16(units) {
        let c = c.map_err(|_| Utf7Error::BadUtf16)?;
        if (' '..='~').contains(&c) {
            return Err(Utf7Error::NonCanonical);
        }
        out.push(c);
    }
    Ok(())
}

/// A mailbox name (or LIST pattern) from the wire as text, by the UTF8=ACCEPT rule:
/// once the client enabled it the name is UTF-8 as sent (RFC 6855 section 3: `&` is
/// then an ordinary character); before, it must be modified UTF-7, so 8-bit bytes
/// are refused. Either way a control character is refused.
pub fn mailbox_from_wire(raw: &[u8], utf8_accept: bool) -> Result<String, Utf7Error> {
    let name = if utf8_accept {
        String::from_utf8(raw.to_vec()).map_err(|_| Utf7Error::NotUtf8)?
    } else {
        decode(raw)?
    };
    if name.chars().any(char::is_control) {
        return Err(Utf7Error::Control);
    }
    Ok(name)
}

/// A mailbox name as the wire form the client expects: UTF-8 once UTF8=ACCEPT is
/// enabled (RFC 6855 forbids modified UTF-7 then), modified UTF-7 before.
pub fn mailbox_to_wire(name: &str, utf8_accept: bool) -> Cow<'_, str> {
    if utf8_accept
        || name
            .bytes()
            .all(|b| (0x20..=0x7e).contains(&b) && b != b'&')
    {
        Cow::Borrowed(name)
    } else {
        Cow::Owned(encode(name))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    const PAIRS: &[(&str, &str)] = &[
        ("INBOX", "INBOX"),
        ("", ""),
        ("&", "&-"),
        ("a&b", "a&-b"),
        ("Entwürfe", "Entw&APw-rfe"),
        // RFC 3501 section 5.1.3's own example.
        ("~peter/mail/台北/日本語", "~peter/mail/&U,BTFw-/&ZeVnLIqe-"),
        ("☺!", "&Jjo-!"),
        ("Отправленные", "&BB4EQgQ,BEAEMAQyBDsENQQ9BD0ESwQ1-"),
        // Outside the BMP: a surrogate pair.
        ("📧 Mail", "&2D3c5w- Mail"),
        ("é&é", "&AOk-&-&AOk-"),
    ];

    #[test]
    fn encodes_and_decodes_known_names() {
        for (text, wire) in PAIRS {
            assert_eq!(encode(text), *wire, "{text}");
            assert_eq!(decode(wire.as_bytes()).as_deref(), Ok(*text), "{wire}");
        }
    }

    #[test]
    fn refuses_non_canonical_and_malformed_spellings() {
        for (bad, why) in [
            (&b"&"[..], Utf7Error::Unterminated),
            (b"a&AOk", Utf7Error::Unterminated),
            (b"&AOk-&AOk-", Utf7Error::NonCanonical), // two adjacent shifts
            (b"&AGE-", Utf7Error::NonCanonical),      // "a" shifted
            (b"&ACY-", Utf7Error::NonCanonical),      // "&" shifted
            (b"&AOl-", Utf7Error::BadBase64),         // non-zero padding bits
            (b"&AOkA-", Utf7Error::BadBase64),        // a whole spare character
            (b"&AO-", Utf7Error::BadBase64),          // half a UTF-16 unit
            (b"&A/k-", Utf7Error::BadBase64),         // RFC 2045 '/', not ','
            (b"&2D0-", Utf7Error::BadUtf16),          // lone high surrogate
            (b"&3OcAYQ-", Utf7Error::BadUtf16),       // lone low surrogate
            ("é".as_bytes(), Utf7Error::NotAscii),
            (b"a\tb", Utf7Error::NotAscii),
            (b"a\x7f", Utf7Error::NotAscii),
        ] {
            assert_eq!(decode(bad), Err(why), "{}", String::from_utf8_lossy(bad));
        }
    }

    #[test]
    fn utf8_accept_rule() {
        assert_eq!(
            mailbox_from_wire(b"Entw&APw-rfe", false).as_deref(),
            Ok("Entwürfe")
        );
        assert_eq!(
            mailbox_from_wire(b"Entw&APw-rfe", true).as_deref(),
            Ok("Entw&APw-rfe")
        );
        assert_eq!(
            mailbox_from_wire("Entwürfe".as_bytes(), true).as_deref(),
            Ok("Entwürfe")
        );
        assert_eq!(
            mailbox_from_wire("Entwürfe".as_bytes(), false),
            Err(Utf7Error::NotAscii)
        );
        assert_eq!(mailbox_from_wire(b"\xff", true), Err(Utf7Error::NotUtf8));
        assert_eq!(mailbox_from_wire(b"&AAA-", false), Err(Utf7Error::Control));
        assert_eq!(
            mailbox_from_wire("a\u{85}".as_bytes(), true),
            Err(Utf7Error::Control)
        );
        assert_eq!(mailbox_to_wire("Entwürfe", false), "Entw&APw-rfe");
        assert_eq!(mailbox_to_wire("Entwürfe", true), "Entwürfe");
        assert_eq!(mailbox_to_wire("R&D", false), "R&-D");
        assert!(matches!(mailbox_to_wire("Sent", false), Cow::Borrowed(_)));
    }

    #[test]
    fn every_encoding_decodes_back_and_decoding_never_panics() {
        let mut seed = 0x1234_5678_9abc_def0_u64;
        let mut next = move || {
            seed ^= seed << 13;
            seed ^= seed >> 7;
            seed ^= seed << 17;
            seed
        };
        let pool = [
            'a', '&', '-', ' ', 'é', '台', '📧', '~', ',', '+', '\u{ffff}',
        ];
        for _ in 0..2000 {
            let len = (next() % 12) as usize;
            let s: String = (0..len)
                .map(|_| pool[(next() % pool.len() as u64) as usize])
                .collect();
            assert_eq!(decode(encode(&s).as_bytes()).as_deref(), Ok(s.as_str()));
            let alphabet = b"&-AZaz09+,/\x80 ";
            let bytes: Vec<u8> = (0..len)
                .map(|_| alphabet[(next() % alphabet.len() as u64) as usize])
                .collect();
            if let Ok(d) = decode(&bytes) {
                assert_eq!(encode(&d).as_bytes(), &bytes[..], "accepted non-canonical");
            }
        }
    }
}
