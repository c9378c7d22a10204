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
    }
}
