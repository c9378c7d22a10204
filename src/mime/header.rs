//! Header blocks: where they end, and their fields' raw values.
//!
//! A header block ends at the first empty line (RFC 5322 section 2.1), at the end of
//! the input, or — inside a multipart — at a line that is an enclosing boundary
//! (RFC 2046 section 5.1.1: a boundary ends the part wherever it appears).

use std::borrow::Cow;

use super::tree::{Boundaries, Hit};

pub(crate) struct HeaderEnd {
    /// Where the body starts. When a boundary cut the header short this is the
    /// boundary line itself, and the line break before it belongs to the boundary.
    pub body_start: usize,
    pub hit: Option<Hit>,
}

/// Calls `on_field(name, raw_value)` for each field from `start`. The raw value runs
/// from after the colon and its leading blanks to the end of the field's last line,
/// folding included; pass it to [`unfold`] before use.
pub(crate) fn scan<'a>(
    msg: &'a [u8],
    start: usize,
    bounds: &Boundaries,
    mut on_field: impl FnMut(&'a [u8], &'a [u8]),
) -> HeaderEnd {
    // The field being collected: (name, value start, value end).
    let mut field: Option<(&'a [u8], usize, usize)> = None;
    let mut flush = |field: &mut Option<(&'a [u8], usize, usize)>| {
        if let Some((name, from, to)) = field.take() {
            on_field(name, msg.get(from..to).unwrap_or_default());
        }
    };
    let mut pos = start;
    while pos < msg.len() {
        if let Some(hit) = bounds.check_line(msg, pos) {
            flush(&mut field);
            return HeaderEnd {
                body_start: pos,
                hit: Some(hit),
            };
        }
        let rest = msg.get(pos..).unwrap_or_default();
        let (content_end, next) = match memchr::memchr(b'\n', rest) {
            Some(i) => {
                let lf = pos + i;
                let cr = lf > pos && msg.get(lf - 1) == Some(&b'\r');
                (if cr { lf - 1 } else { lf }, lf + 1)
            }
            None => (msg.len(), msg.len()),
        };
        if content_end == pos {
            // The empty line: it belongs to the header block.
            flush(&mut field);
            return HeaderEnd {
                body_start: next,
                hit: None,
            };
        }
        let first = msg.get(pos).copied().unwrap_or(0);
        match field.as_mut() {
            Some((_, _, value_end)) if first == b' ' || first == b'\t' => *value_end = content_end,
            _ => {
                flush(&mut field);
                let line = msg.get(pos..content_end).unwrap_or_default();
                field = Some(match memchr::memchr(b':', line) {
                    Some(colon) => {
                        let name = trim_end(line.get(..colon).unwrap_or_default());
                        let blanks = line
                            .get(colon + 1..)
                            .unwrap_or_default()
                            .iter()
                            .take_while(|&&b| b == b' ' || b == b'\t')
                            .count();
                        (name, pos + colon + 1 + blanks, content_end)
                    }
                    // No colon: keep the line as a name without value, so it still
                    // consumes its continuation lines.
                    None => (trim_end(line), content_end, content_end),
                });
            }
        }
        pos = next;
    }
    flush(&mut field);
    HeaderEnd {
        body_start: msg.len(),
        hit: None,
    }
}

fn trim_end(s: &[u8]) -> &[u8] {
    let n = s
        .iter()
        .rev()
        .take_while(|&&b| b == b' ' || b == b'\t')
        .count();
    s.get(..s.len() - n).unwrap_or_default()
}

/// The field value as IMAP reports it: line breaks of folded lines become a bare LF
/// (so LF and CRLF files agree), and a NUL, which no IMAP string may carry, becomes
/// U+FFFD.
pub(crate) fn unfold(raw: &[u8]) -> Cow<'_, [u8]> {
    if memchr::memchr3(b'\n', b'\r', 0, raw).is_none() {
        return Cow::Borrowed(raw);
    }
    let mut out = Vec::with_capacity(raw.len());
    let mut i = 0;
    while let Some(&b) = raw.get(i) {
        match b {
            b'\r' if raw.get(i + 1) == Some(&b'\n') => {}
            0 => out.extend_from_slice("\u{FFFD}".as_bytes()),
            _ => out.push(b),
        }
        i += 1;
    }
    Cow::Owned(out)
}

pub(crate) fn name_is(name: &[u8], want: &[u8]) -> bool {
    name.eq_ignore_ascii_case(want)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn fields(msg: &[u8]) -> (Vec<(String, String)>, usize) {
        let mut v = Vec::new();
        let end = scan(msg, 0, &Boundaries::default(), |n, r| {
            v.push((
                String::from_utf8_lossy(n).into_owned(),
                String::from_utf8_lossy(&unfold(r)).into_owned(),
            ))
        });
        (v, end.body_start)
    }

    #[test]
    fn folding_and_line_ends() {
        let (f, end) = fields(b"Subject: a\r\n  b\r\nX : y \r\n\r\nbody");
        assert_eq!(
            f,
            [
                ("Subject".into(), "a\n  b".into()),
                ("X".into(), "y ".into())
            ]
        );
        assert_eq!(end, 27);
        let (f2, end2) = fields(b"Subject: a\n  b\nX : y \n\nbody");
        assert_eq!(f, f2);
        assert_eq!(end2, 23);
    }

    #[test]
    fn no_blank_line() {
        let (f, end) = fields(b"A: 1\nB: 2");
        assert_eq!(f.len(), 2);
        assert_eq!(end, 9);
        assert_eq!(fields(b"\nbody").1, 1);
        assert_eq!(fields(b"").1, 0);
    }
}
