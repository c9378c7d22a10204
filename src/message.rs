//! Message bytes as delivered: line ends, NUL checks, dates.

use std::borrow::Cow;

/// Largest message `deliver` accepts: RFC822.SIZE must fit the index's 32 bits.
pub const MAX_MESSAGE_SIZE: usize = u32::MAX as usize;

/// Rewrites bare LF line ends as CRLF; borrows when nothing changes. A bare CR is
/// data, not a line end (RFC 5322 2.3, and what the IMAP cache builder assumes), so
/// it is left as it is.
pub fn to_crlf(raw: &[u8]) -> Cow<'_, [u8]> {
    let bare_lf = |i: usize| i == 0 || raw[i - 1] != b'\r';
    if !memchr::memchr_iter(b'\n', raw).any(bare_lf) {
        return Cow::Borrowed(raw);
    }
    let mut out = Vec::with_capacity(raw.len() + raw.len() / 32);
    let mut start = 0;
    for i in memchr::memchr_iter(b'\n', raw) {
        if bare_lf(i) {
            out.extend_from_slice(&raw[start..i]);
            out.extend_from_slice(b"\r\n");
            start = i + 1;
        }
    }
    out.extend_from_slice(&raw[start..]);
    Cow::Owned(out)
}

/// Offset of the first NUL byte, if any.
pub fn find_nul(raw: &[u8]) -> Option<usize> {
    memchr::memchr(0, raw)
}

/// RFC 3501 date-time: `"28-Nov-2026 10:15:00 +0000"` (with the quotes).
pub fn imap_date(secs: i64, zone_minutes: i16) -> String {
    const MONTHS: [&str; 12] = [
        "Jan", "Feb", "Mar", "Apr", "May", "Jun", "Jul", "Aug", "Sep", "Oct", "Nov", "Dec",
    ];
    let local = secs + i64::from(zone_minutes) * 60;
    let days = local.div_euclid(86_400);
    let rem = local.rem_euclid(86_400);
    let (y, m, d) = civil_from_days(days);
    let sign = if zone_minutes < 0 { '-' } else { '+' };
    let z = i32::from(zone_minutes).abs();
    format!(
        "\"{d:02}-{}-{y:04} {:02}:{:02}:{:02} {sign}{:02}{:02}\"",
        MONTHS[(m - 1) as usize],
        rem / 3600,
        rem % 3600 / 60,
        rem % 60,
        z / 60,
        z % 60
    )
}

/// Days since 1970-01-01 to (year, month, day), proleptic Gregorian (H. Hinnant's algorithm).
pub fn civil_from_days(z: i64) -> (i64, u32, u32) {
    let z = z + 719_468;
    let era = z.div_euclid(146_097);
    let doe = z.rem_euclid(146_097);
    let yoe = (doe - doe / 1460 + doe / 36_524 - doe / 146_096) / 365;
    let y = yoe + era * 400;
    let doy = doe - (365 * yoe + yoe / 4 - yoe / 100);
    let mp = (5 * doy + 2) / 153;
    let d = (doy - (153 * mp + 2) / 5 + 1) as u32;
    let m = if mp < 10 { mp + 3 } else { mp - 9 } as u32;
    (if m <= 2 { y + 1 } else { y }, m, d)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn crlf_normalisation() {
        assert!(matches!(to_crlf(b"a\r\nb\r\n"), Cow::Borrowed(_)));
        assert_eq!(&*to_crlf(b"a\nb\r\nc\rd\n"), b"a\r\nb\r\nc\rd\r\n");
        assert_eq!(&*to_crlf(b"\n"), b"\r\n");
        assert!(
            matches!(to_crlf(b"x\r"), Cow::Borrowed(_)),
            "a bare CR is data"
        );
        assert_eq!(&*to_crlf(b""), b"");
    }

    #[test]
    fn dates() {
        assert_eq!(imap_date(0, 0), "\"01-Jan-1970 00:00:00 +0000\"");
        assert_eq!(
            imap_date(1_795_860_900, 60),
            "\"28-Nov-2026 11:15:00 +0100\""
        );
        assert_eq!(
            imap_date(951_782_400, -330),
            "\"28-Feb-2000 18:30:00 -0530\""
        );
    }
}
