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
                "{}: malformed UID set ({why}); write it like 1:4,7,9:*",
                crate::error::shown(s)
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
                _ => {
                    return bad(&format!(
                        "{} is not a UID, `*` or a range",
                        crate::error::shown(item)
                    ));
                }
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

/// UIDs written as a sequence set, runs of consecutive UIDs as ranges: a rebuild
/// that added 100,000 messages says `1:100000`, not every number. The order given
/// is kept (a set that parses back to the same UIDs).
pub fn format(uids: &[u32]) -> String {
    let mut out = String::new();
    let mut i = 0;
    while let Some(&first) = uids.get(i) {
        let mut last = first;
        i += 1;
        while uids.get(i).is_some_and(|&u| Some(u) == last.checked_add(1)) {
            last = uids[i];
            i += 1;
        }
        if !out.is_empty() {
            out.push(',');
        }
        out.push_str(&first.to_string());
        if last != first {
            out.push(':');
            out.push_str(&last.to_string());
        }
    }
    out
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
    fn formats_runs_as_ranges_and_parses_back() {
        assert_eq!(format(&[]), "");
        assert_eq!(format(&[7]), "7");
        assert_eq!(
            format(&[1, 2, 3, 5, 8, 9, u32::MAX]),
            "1:3,5,8:9,4294967295"
        );
        assert_eq!(
            format(&[4, 3, 4294967294, 4294967295]),
            "4,3,4294967294:4294967295"
        );
        let uids = [2, 3, 4, 10, 12, 13];
        let s = UidSet::parse(&format(&uids)).unwrap();
        let back: Vec<u32> = (1..=20).filter(|&u| s.contains(u, 20)).collect();
        assert_eq!(back, uids);
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
