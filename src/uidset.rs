//! IMAP sequence sets of UIDs (RFC 3501 `sequence-set`): `1:4,7,9:*`.

use crate::error::{Error, Result};

#[derive(Clone, Debug, PartialEq, Eq)]
pub struct UidSet {
    /// Inclusive ranges; `None` stands for `*`, the highest UID in the mailbox.
    ranges: Vec<(Option<u32>, Option<u32>)>,
}

impl UidSet {
    pub fn parse(s: &str) -> Result<UidSet> {
        let bad = |why: &str| {
            Err(Error::Usage(format!(
                "{s:?}: malformed UID set ({why}); write it like 1:4,7,9:*"
            )))
        };
        if s.is_empty() {
            return bad("empty");
        }
        let mut ranges = Vec::new();
        for item in s.split(',') {
            let (a, b) = match item.split_once(':') {
                Some((a, b)) => (a, b),
                None => (item, item),
            };
            let num = |t: &str| -> Option<Option<u32>> {
                if t == "*" {
                    return Some(None);
                }
                if t.is_empty() || !t.bytes().all(|c| c.is_ascii_digit()) || t.starts_with('0') {
                    return None;
                }
                t.parse::<u32>().ok().map(Some)
            };
            match (num(a), num(b)) {
                (Some(x), Some(y)) => ranges.push((x, y)),
                _ => return bad(&format!("{item:?} is not a UID, `*` or a range")),
            }
        }
        Ok(UidSet { ranges })
    }

    /// Whether `uid` is in the set, given the mailbox's highest UID (for `*`).
    pub fn contains(&self, uid: u32, max_uid: u32) -> bool {
        self.ranges.iter().any(|&(a, b)| {
            let a = a.unwrap_or(max_uid);
            let b = b.unwrap_or(max_uid);
            let (lo, hi) = if a <= b { (a, b) } else { (b, a) };
            (lo..=hi).contains(&uid)
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn parses_ranges_and_star() {
        let s = UidSet::parse("1:4,7,9:*").unwrap();
        let got: Vec<u32> = (1..=12).filter(|&u| s.contains(u, 12)).collect();
        assert_eq!(got, vec![1, 2, 3, 4, 7, 9, 10, 11, 12]);
        let rev = UidSet::parse("5:2").unwrap();
        assert!(rev.contains(3, 10));
        assert!(UidSet::parse("*").unwrap().contains(10, 10));
    }

    #[test]
    fn refuses_malformed_sets() {
        for bad in [
            "",
            ",",
            "1,",
            "a",
            "1:",
            ":3",
            "0",
            "01",
            "1:2:3",
            "-1",
            "4294967296",
            " 1",
        ] {
            assert!(UidSet::parse(bad).is_err(), "{bad:?} accepted");
        }
    }
}
