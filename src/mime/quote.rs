//! IMAP string output: quoted strings, literals and NIL (RFC 3501 section 4.3, 9).
//!
//! The choice between quoted and literal follows Dovecot so that cached strings are
//! byte-identical to what a Dovecot-backed client has already seen.

/// A quoted string may hold `"` and `\` escaped, but past a handful of escapes a
/// literal is both shorter to scan for the client and what Dovecot sends.
const MAX_QUOTED_ESCAPES: usize = 4;

/// `string` (RFC 3501 `string`): quoted when the grammar allows, otherwise a literal.
pub(crate) fn string(out: &mut Vec<u8>, s: &[u8]) {
    let mut escapes = 0;
    for &b in s {
        let needs_literal = match b {
            b'"' | b'\\' => {
                escapes += 1;
                escapes > MAX_QUOTED_ESCAPES
            }
            // QUOTED-CHAR excludes CR, LF and 8-bit bytes (RFC 3501 section 9).
            b'\r' | b'\n' => true,
            _ => b >= 0x80,
        };
        if needs_literal {
            literal(out, s);
            return;
        }
    }
    quoted(out, s);
}

/// `nstring`: NIL for an absent value.
pub(crate) fn nstring(out: &mut Vec<u8>, s: Option<&[u8]>) {
    match s {
        Some(s) => string(out, s),
        None => out.extend_from_slice(b"NIL"),
    }
}

/// `nstring` for raw header values: unfolding removes the CR/LF of folded lines
/// (RFC 5322 section 2.2.3) but keeps the whitespace that followed them.
pub(crate) fn nstring_nolf(out: &mut Vec<u8>, s: Option<&[u8]>) {
    match s {
        Some(s) if memchr::memchr2(b'\r', b'\n', s).is_some() => {
            let unfolded: Vec<u8> = s
                .iter()
                .copied()
                .filter(|&b| b != b'\r' && b != b'\n')
                .collect();
            string(out, &unfolded);
        }
        _ => nstring(out, s),
    }
}

/// Subjects and display names are for people: whitespace runs (including folding)
/// collapse to one space and the ends are trimmed. Anything that needed changing, or
/// that a quoted string cannot carry unescaped, is sent as a literal.
pub(crate) fn string_for_humans(out: &mut Vec<u8>, s: &[u8]) {
    let is_lwsp = |b: u8| matches!(b, b' ' | b'\t' | b'\r' | b'\n');
    let mut modify = false;
    let mut remove = 0usize;
    let mut last_lwsp = true;
    let mut only_ws_so_far = true;
    for &b in s {
        if is_lwsp(b) {
            if b != b' ' || last_lwsp {
                modify = true;
            }
            if last_lwsp {
                remove += 1;
            }
            last_lwsp = true;
        } else {
            if b == b'"' || b == b'\\' || b >= 0x80 {
                modify = true;
            }
            last_lwsp = false;
            only_ws_so_far = false;
        }
    }
    if last_lwsp && !s.is_empty() && !only_ws_so_far {
        modify = true;
        remove += 1;
    }
    if !modify {
        quoted(out, s);
        return;
    }
    if remove == s.len() {
        out.extend_from_slice(b"\"\"");
        return;
    }
    out.push(b'{');
    out.extend_from_slice((s.len() - remove).to_string().as_bytes());
    out.extend_from_slice(b"}\r\n");
    let mut last_lwsp = true;
    for &b in s {
        if is_lwsp(b) {
            if !last_lwsp {
                out.push(b' ');
            }
            last_lwsp = true;
        } else {
            out.push(b);
            last_lwsp = false;
        }
    }
    if last_lwsp && out.last() == Some(&b' ') {
        out.pop();
    }
}

fn literal(out: &mut Vec<u8>, s: &[u8]) {
    out.push(b'{');
    out.extend_from_slice(s.len().to_string().as_bytes());
    out.extend_from_slice(b"}\r\n");
    out.extend_from_slice(s);
}

fn quoted(out: &mut Vec<u8>, s: &[u8]) {
    out.reserve(s.len() + 2);
    out.push(b'"');
    // Runs between the bytes that need care are copied whole (this is on the hot
    // path of every parse: byte-at-a-time pushes cost 4% of a full rebuild).
    let mut rest = s;
    while let Some(i) = rest
        .iter()
        .position(|&b| matches!(b, b'\r' | b'\n' | b'"' | b'\\'))
    {
        out.extend_from_slice(&rest[..i]);
        let b = rest[i];
        if b == b'"' || b == b'\\' {
            out.push(b'\\');
            out.push(b);
        }
        rest = &rest[i + 1..];
    }
    out.extend_from_slice(rest);
    out.push(b'"');
}

#[cfg(test)]
mod tests {
    use super::*;

    fn s(f: impl Fn(&mut Vec<u8>)) -> String {
        let mut v = Vec::new();
        f(&mut v);
        String::from_utf8_lossy(&v).into_owned()
    }

    #[test]
    fn quoting_versus_literal() {
        assert_eq!(s(|o| string(o, b"plain")), "\"plain\"");
        assert_eq!(s(|o| string(o, b"a\"b\\c")), "\"a\\\"b\\\\c\"");
        assert_eq!(s(|o| string(o, b"\"\"\"\"")), "\"\\\"\\\"\\\"\\\"\"");
        assert_eq!(s(|o| string(o, b"\"\"\"\"\"")), "{5}\r\n\"\"\"\"\"");
        assert_eq!(s(|o| string(o, "é".as_bytes())), "{2}\r\né");
        assert_eq!(s(|o| string(o, b"")), "\"\"");
        assert_eq!(s(|o| nstring(o, None)), "NIL");
        assert_eq!(s(|o| nstring_nolf(o, Some(b"a\r\n\tb"))), "\"a\tb\"");
    }

    #[test]
    fn for_humans() {
        assert_eq!(
            s(|o| string_for_humans(o, b"hello world")),
            "\"hello world\""
        );
        assert_eq!(s(|o| string_for_humans(o, b"")), "\"\"");
        assert_eq!(s(|o| string_for_humans(o, b"   ")), "\"\"");
        assert_eq!(s(|o| string_for_humans(o, b" a  b ")), "{3}\r\na b");
        assert_eq!(s(|o| string_for_humans(o, b"a\n\tb")), "{3}\r\na b");
        assert_eq!(
            s(|o| string_for_humans(o, b"say \"hi\"")),
            "{8}\r\nsay \"hi\""
        );
    }
}
