//! The clock, as the store uses it: Unix seconds, and UTC stamps for the names of
//! files set aside.

/// Seconds since the Unix epoch (0 if the clock is before it).
pub fn now_unix() -> i64 {
    std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .map(|d| d.as_secs() as i64)
        .unwrap_or(0)
}

/// `20261128T101500Z`, for names of files set aside: they sort by age.
pub fn utc_stamp() -> String {
    stamp(now_unix())
}

pub fn stamp(s: i64) -> String {
    let days = s.div_euclid(86_400);
    let rem = s.rem_euclid(86_400);
    let (y, m, dd) = crate::message::civil_from_days(days);
    format!(
        "{y:04}{m:02}{dd:02}T{:02}{:02}{:02}Z",
        rem / 3600,
        rem % 3600 / 60,
        rem % 60
    )
}

/// The instant a [`stamp`] names, or `None` if `s` is not exactly one (the
/// fields in range, `YYYYMMDDTHHMMSSZ`, nothing before or after).
pub fn parse_stamp(s: &str) -> Option<i64> {
    let b = s.as_bytes();
    if b.len() != 16 || b[8] != b'T' || b[15] != b'Z' {
        return None;
    }
    let num = |r: std::ops::Range<usize>| -> Option<i64> {
        let d = s.get(r)?;
        if !d.bytes().all(|c| c.is_ascii_digit()) {
            return None;
        }
        d.parse().ok()
    };
    let (y, m, d) = (num(0..4)?, num(4..6)?, num(6..8)?);
    let (hh, mm, ss) = (num(9..11)?, num(11..13)?, num(13..15)?);
    if !(1..=12).contains(&m) || d < 1 || hh > 23 || mm > 59 || ss > 59 {
        return None;
    }
    let days = days_from_civil(y, m, d);
    // A day that does not exist (30 February) comes back as another date.
    if crate::message::civil_from_days(days) != (y, m as u32, d as u32) {
        return None;
    }
    Some(days * 86_400 + hh * 3600 + mm * 60 + ss)
}

/// (year, month, day) to days since 1970-01-01, proleptic Gregorian: the inverse
/// of `message::civil_from_days` (H. Hinnant's algorithm).
fn days_from_civil(y: i64, m: i64, d: i64) -> i64 {
    let y = if m <= 2 { y - 1 } else { y };
    let era = y.div_euclid(400);
    let yoe = y.rem_euclid(400);
    let mp = if m > 2 { m - 3 } else { m + 9 };
    let doy = (153 * mp + 2) / 5 + d - 1;
    let doe = yoe * 365 + yoe / 4 - yoe / 100 + doy;
    era * 146_097 + doe - 719_468
}

/// RFC 3339 in UTC, for people: `2026-11-28T10:15:00Z`.
pub fn rfc3339(s: i64) -> String {
    let days = s.div_euclid(86_400);
    let rem = s.rem_euclid(86_400);
    let (y, m, dd) = crate::message::civil_from_days(days);
    format!(
        "{y:04}-{m:02}-{dd:02}T{:02}:{:02}:{:02}Z",
        rem / 3600,
        rem % 3600 / 60,
        rem % 60
    )
}

#[cfg(test)]
mod tests {
    #[test]
    fn stamps() {
        assert_eq!(super::stamp(0), "19700101T000000Z");
        assert_eq!(super::stamp(1_795_860_900), "20261128T101500Z");
        assert_eq!(super::rfc3339(1_795_860_900), "2026-11-28T10:15:00Z");
        assert_eq!(super::parse_stamp("20261128T101500Z"), Some(1_795_860_900));
        assert_eq!(super::parse_stamp("19700101T000000Z"), Some(0));
        for t in [0, 951_782_400, 1_795_860_900, 4_102_444_799] {
            assert_eq!(super::parse_stamp(&super::stamp(t)), Some(t));
        }
        for bad in [
            "20261128T101500",
            "20261128T101500Z.2",
            "20261128 101500Z",
            "20261330T101500Z",
            "20260230T101500Z",
            "20261128T246000Z",
            "2026112xT101500Z",
            "+0261128T101500Z",
            "",
        ] {
            assert_eq!(super::parse_stamp(bad), None, "{bad}");
        }
    }
}
