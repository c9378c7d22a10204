//! IMAP's modified UTF-7 (RFC 3501 5.1.3), as Dovecot spells Maildir++ folder names
//! on disk: `Überweisungen` is `&ANw-berweisungen`, `&` is `&-`.

use base64::Engine;
use base64::engine::general_purpose::{GeneralPurpose, NO_PAD};

const B64: GeneralPurpose = GeneralPurpose::new(&base64::alphabet::IMAP_MUTF7, NO_PAD);

/// Decodes a modified UTF-7 name; `None` if it is not valid modified UTF-7 (a shift
/// that is empty, unterminated, not base64, or not UTF-16; a byte outside printable
/// ASCII).
pub fn decode(s: &str) -> Option<String> {
    let mut out = String::with_capacity(s.len());
    let mut rest = s;
    while let Some(at) = rest.find('&') {
        let (plain, shifted) = rest.split_at(at);
        if !plain.bytes().all(printable) {
            return None;
        }
        out.push_str(plain);
        let shifted = &shifted[1..];
        let end = shifted.find('-')?;
        let b64 = &shifted[..end];
        if b64.is_empty() {
            out.push('&');
        } else {
            let bytes = B64.decode(b64).ok()?;
            if bytes.len() % 2 != 0 {
                return None;
            }
            let units = bytes
                .chunks_exact(2)
                .map(|c| u16::from_be_bytes([c[0], c[1]]));
            for ch in char::decode_utf16(units) {
                let ch = ch.ok()?;
                // Printable ASCII must not be shifted: two spellings of one name
                // would be two folders.
                if ch.is_ascii() && printable(ch as u8) {
                    return None;
                }
                out.push(ch);
            }
        }
        rest = &shifted[end + 1..];
    }
    if !rest.bytes().all(printable) {
        return None;
    }
    out.push_str(rest);
    Some(out)
}

fn printable(b: u8) -> bool {
    (0x20..0x7f).contains(&b)
}

/// Encodes a name as modified UTF-7.
pub fn encode(s: &str) -> String {
    let mut out = String::with_capacity(s.len());
    let mut pending: Vec<u16> = Vec::new();
    let flush = |pending: &mut Vec<u16>, out: &mut String| {
        if !pending.is_empty() {
            let bytes: Vec<u8> = pending.iter().flat_map(|u| u.to_be_bytes()).collect();
            out.push('&');
            out.push_str(&B64.encode(bytes));
            out.push('-');
            pending.clear();
        }
    };
    for ch in s.chars() {
        if ch.is_ascii() && printable(ch as u8) {
            flush(&mut pending, &mut out);
            if ch == '&' {
                out.push_str("&-");
            } else {
                out.push(ch);
            }
        } else {
            let mut buf = [0u16; 2];
            pending.extend_from_slice(ch.encode_utf16(&mut buf));
        }
    }
    flush(&mut pending, &mut out);
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn round_trips_and_rfc_examples() {
        // RFC 3501 5.1.3's example, and what Dovecot wrote for these names.
        assert_eq!(
            decode("~peter/mail/&U,BTFw-/&ZeVnLIqe-").as_deref(),
            Some("~peter/mail/台北/日本語")
        );
        assert_eq!(
            decode("&ANw-berweisungen").as_deref(),
            Some("Überweisungen")
        );
        assert_eq!(decode("Tom &- Jerry").as_deref(), Some("Tom & Jerry"));
        for s in [
            "Überweisungen",
            "Tom & Jerry",
            "台北/日本語",
            "a😀b",
            "plain",
            "",
        ] {
            assert_eq!(decode(&encode(s)).as_deref(), Some(s), "{s}");
        }
        assert_eq!(encode("Tom & Jerry"), "Tom &- Jerry");
        assert_eq!(encode("Überweisungen"), "&ANw-berweisungen");
    }

    #[test]
    fn refuses_what_is_not_modified_utf7() {
        for bad in [
            "&ANw",
            "&A-",
            "&AGE-",
            "a\u{7f}",
            "caf\u{e9}",
            "&2D0-",
            "&!!-",
        ] {
            assert_eq!(decode(bad), None, "{bad:?}");
        }
    }

    #[test]
    fn random_names_never_panic() {
        let alphabet = [
            '&', '-', 'A', 'N', 'w', ',', '+', '/', 'é', ' ', '\u{7f}', '0',
        ];
        let mut seed = 7u64;
        for _ in 0..2000 {
            let mut s = String::new();
            for _ in 0..(seed % 12) {
                seed = seed.wrapping_mul(6_364_136_223_846_793_005).wrapping_add(1);
                s.push(alphabet[(seed >> 33) as usize % alphabet.len()]);
            }
            seed = seed.wrapping_add(11);
            if let Some(d) = decode(&s) {
                assert_eq!(decode(&encode(&d)).as_deref(), Some(d.as_str()), "{s:?}");
            }
        }
    }
}
