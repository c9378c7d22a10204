//! Content-Type / Content-Disposition parameter lists with RFC 2231 continuations.
//!
//! IMAP reports parameters as written: RFC 2231 continuations (`name*0`, `name*1`)
//! are joined so clients see one parameter, but charset/percent encoding is kept and
//! the name keeps its trailing `*` when any piece was extended (RFC 2231 section 4).

use super::rfc822::{Parser, Step};

pub(crate) type Params = Vec<(Vec<u8>, Vec<u8>)>;

struct Piece {
    key: Vec<u8>,
    idx: u32,
    extended: bool,
    value: Vec<u8>,
}

/// Reads `*(";" parameter)` from the parser's position. Broken parameters are skipped
/// byte by byte up to the next ";" so one bad parameter does not hide the rest.
pub(crate) fn parse(p: &mut Parser<'_>) -> Params {
    let mut result = Params::new();
    let mut pieces: Vec<Piece> = Vec::new();
    loop {
        let (r, key, value) = p.parse_content_param();
        match r {
            Step::End => break,
            Step::Fail => {
                if p.at_end() {
                    break;
                }
                p.pos += 1;
                continue;
            }
            Step::More => {}
        }
        match split_rfc2231_key(&key) {
            Some((name, idx, extended)) => pieces.push(Piece {
                key: name.to_vec(),
                idx,
                extended,
                value,
            }),
            None => result.push((key, value)),
        }
    }
    if pieces.is_empty() {
        return result;
    }
    // Continuations may arrive in any order; group by name, then by index.
    pieces.sort_by(|a, b| {
        a.key
            .iter()
            .map(u8::to_ascii_lowercase)
            .cmp(b.key.iter().map(u8::to_ascii_lowercase))
            .then(a.idx.cmp(&b.idx))
    });
    for group in pieces.chunk_by(|a, b| a.key.eq_ignore_ascii_case(&b.key)) {
        let complete = group.iter().enumerate().all(|(n, p)| p.idx as usize == n);
        let have_extended = group.iter().any(|p| p.extended);
        let Some(first) = group.first() else {
            continue;
        };
        if !complete {
            // A gap in the numbering: these are not a continuation set after all,
            // so report each piece under its literal name.
            for piece in group {
                let mut key = piece.key.clone();
                key.push(b'*');
                key.extend_from_slice(piece.idx.to_string().as_bytes());
                if piece.extended {
                    key.push(b'*');
                }
                result.push((key, piece.value.clone()));
            }
            continue;
        }
        let mut value = Vec::new();
        if have_extended && !first.extended {
            // An extended value must start with charset'language'.
            value.extend_from_slice(b"''");
        }
        for piece in group {
            if have_extended && !piece.extended {
                // Plain pieces joined to an extended value must not be
                // percent-decoded later.
                for &b in &piece.value {
                    if b == b'%' {
                        value.extend_from_slice(b"%25");
                    } else {
                        value.push(b);
                    }
                }
            } else {
                value.extend_from_slice(&piece.value);
            }
        }
        let mut key = first.key.clone();
        if have_extended {
            key.push(b'*');
        }
        result.push((key, value));
    }
    result
}

/// `name*` (extended, single), `name*N` or `name*N*` (RFC 2231 sections 3 and 4).
/// Anything else with a `*` is an ordinary parameter name.
fn split_rfc2231_key(key: &[u8]) -> Option<(&[u8], u32, bool)> {
    let star = memchr::memchr(b'*', key)?;
    let name = key.get(..star)?;
    let rest = key.get(star + 1..)?;
    if rest.is_empty() {
        return Some((name, 0, true));
    }
    let digits = rest.iter().take_while(|b| b.is_ascii_digit()).count();
    let mut idx: u32 = 0;
    for &d in rest.get(..digits)? {
        idx = idx.wrapping_mul(10).wrapping_add(u32::from(d - b'0'));
    }
    match rest.get(digits..)? {
        b"" => Some((name, idx, false)),
        b"*" => Some((name, idx, true)),
        _ => None,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn run(s: &[u8]) -> Vec<(String, String)> {
        let mut p = Parser::new(s);
        parse(&mut p)
            .into_iter()
            .map(|(k, v)| {
                (
                    String::from_utf8_lossy(&k).into_owned(),
                    String::from_utf8_lossy(&v).into_owned(),
                )
            })
            .collect()
    }

    #[test]
    fn continuations_joined() {
        let r = run(b"; title*1=\" world\"; title*0=\"hello\"; a=b");
        assert_eq!(
            r,
            [
                ("a".into(), "b".into()),
                ("title".into(), "hello world".into())
            ]
        );
    }

    #[test]
    fn extended_kept_encoded() {
        let r = run(b"; name*0*=utf-8''%E2%82; name*1=\"%AC\"");
        assert_eq!(r, [("name*".into(), "utf-8''%E2%82%25AC".into())]);
        let r = run(b"; filename*=utf-8''a%20b");
        assert_eq!(r, [("filename*".into(), "utf-8''a%20b".into())]);
    }

    #[test]
    fn gaps_and_garbage() {
        let r = run(b"; x*0=a; x*2=c; junk text; y=\"q\"");
        assert_eq!(
            r,
            [
                ("y".into(), "q".into()),
                ("x*0".into(), "a".into()),
                ("x*2".into(), "c".into())
            ]
        );
    }
}
