//! The character classes of RFC 3501 section 9 that the framer, the parser and the
//! writer share, so that what we accept and what we write agree on one definition.

/// `ATOM-CHAR`: any 7-bit `CHAR` except `atom-specials` (`(` `)` `{` SP, controls,
/// `%` `*`, `"` `\` and `]`).
pub fn is_atom_char(b: u8) -> bool {
    matches!(b, 0x21..=0x7e) && !matches!(b, b'(' | b')' | b'{' | b'%' | b'*' | b'"' | b'\\' | b']')
}

/// `ASTRING-CHAR`: an atom character or `]` (so `BODY[]`-like names stay atoms).
pub fn is_astring_char(b: u8) -> bool {
    is_atom_char(b) || b == b']'
}

/// A `tag` character: `ASTRING-CHAR` except `+`, which would look like a
/// continuation request when echoed.
pub fn is_tag_char(b: u8) -> bool {
    is_astring_char(b) && b != b'+'
}

/// `list-char`: an atom character, a wildcard (`%` `*`) or `]`.
pub fn is_list_char(b: u8) -> bool {
    is_atom_char(b) || matches!(b, b'%' | b'*' | b']')
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn classes_follow_rfc3501() {
        for b in [
            b'(', b')', b'{', b' ', b'%', b'*', b'"', b'\\', b']', 0, 0x1f, 0x7f, 0x80,
        ] {
            assert!(!is_atom_char(b), "{b:#x}");
        }
        for b in [
            b'a', b'Z', b'0', b'.', b'-', b'$', b'[', b'}', b'+', b'&', b'~',
        ] {
            assert!(is_atom_char(b), "{b:#x}");
        }
        assert!(is_astring_char(b']') && !is_atom_char(b']'));
        assert!(!is_tag_char(b'+') && is_tag_char(b']'));
        assert!(is_list_char(b'%') && is_list_char(b'*') && !is_list_char(b'('));
    }
}
