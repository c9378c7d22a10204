//! Mail formats other programs write: Maildir (with Maildir++ folders, as Dovecot
//! keeps them) and mbox (mboxrd and mboxo). Readers turn files into messages with
//! their flags and internal dates; writers do the reverse, creating new files only.
//!
//! Below `ops` (which imports and exports through `OpenMailbox`): this module knows
//! files and bytes, not the store. Nothing read is trusted: a malformed or strange
//! file (a symbolic link, a FIFO, a name that means nothing, a truncated mbox) is a
//! [`Problem`] reported by name, and the reader goes on with the rest.
//!
//! - `maildir`: `cur/` and `new/`, `:2,` flags, `dovecot-keywords`, Maildir++
//!   folders (`.Sent`, `.Archive.2023`, names in modified UTF-7);
//! - `mbox`: `From ` lines, `>From ` quoting, the flag headers of mutt and Dovecot;
//! - `mutf7`: IMAP's modified UTF-7.

pub mod maildir;
pub mod mbox;
pub mod mutf7;

use crate::error::{Error, Result};
use std::io::Read;
use std::path::Path;

/// The largest message an import reads: a message is held whole in memory to be
/// parsed, so a file that is no mail (or an mbox with no separator in gigabytes)
/// must not be. Larger messages are refused by name.
pub const MAX_MESSAGE: u64 = 256 << 20;

/// Flags as the formats carry them. `$Forwarded` (Maildir's `P`) is a keyword.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct Flags {
    pub seen: bool,
    pub answered: bool,
    pub flagged: bool,
    pub deleted: bool,
    pub draft: bool,
    /// In the order the source gives them, without duplicates (compared without
    /// regard to ASCII case, as IMAP compares keywords).
    pub keywords: Vec<String>,
}

impl Flags {
    /// Adds a keyword unless it is there already.
    pub fn add_keyword(&mut self, k: &str) {
        if !self.keywords.iter().any(|x| x.eq_ignore_ascii_case(k)) {
            self.keywords.push(k.to_owned());
        }
    }

    pub fn has_keyword(&self, k: &str) -> bool {
        self.keywords.iter().any(|x| x.eq_ignore_ascii_case(k))
    }
}

/// The keyword Maildir's `P` flag stands for.
pub const FORWARDED: &str = "$Forwarded";

/// One message read from a source.
#[derive(Debug)]
pub struct Message {
    /// Where it came from, for reports: a file's path, or `FILE: message N (line L)`.
    pub label: String,
    pub bytes: Vec<u8>,
    pub flags: Flags,
    /// INTERNALDATE: Unix seconds and minutes east of UTC, when the source has one.
    pub date: Option<(i64, i16)>,
    /// What was odd about it but did not stop it (an unknown flag letter, ...).
    pub warnings: Vec<String>,
}

/// Something of a source that is not imported, and why.
#[derive(Clone, Debug, PartialEq, Eq, serde::Serialize)]
pub struct Problem {
    pub source: String,
    pub why: String,
}

impl Problem {
    pub fn new(source: impl Into<String>, why: impl Into<String>) -> Problem {
        Problem {
            source: source.into(),
            why: why.into(),
        }
    }
}

/// What a reader yields, one at a time.
#[derive(Debug)]
pub enum Item {
    Message(Message),
    /// Not imported: counts as a failure.
    Problem(Problem),
    /// Worth saying, but nothing was lost (a keyword file line that means nothing).
    Note(String),
}

/// Reads at most `limit + 1` bytes of `f` (so the caller sees that it is too big).
pub(crate) fn read_capped(f: impl Read, path: &Path, limit: u64) -> Result<Vec<u8>> {
    let mut buf = Vec::new();
    f.take(limit.saturating_add(1))
        .read_to_end(&mut buf)
        .map_err(|e| Error::io(path, "read", e))?;
    Ok(buf)
}

/// Unix seconds as a `SystemTime` (before 1970 too; the epoch if the system's
/// clock type cannot hold it: a date from an index is not trusted).
pub(crate) fn system_time(secs: i64) -> std::time::SystemTime {
    let d = std::time::Duration::from_secs(secs.unsigned_abs());
    let t = if secs >= 0 {
        std::time::UNIX_EPOCH.checked_add(d)
    } else {
        std::time::UNIX_EPOCH.checked_sub(d)
    };
    t.unwrap_or(std::time::UNIX_EPOCH)
}

/// Days from 1970-01-01 to a proleptic Gregorian date (the inverse of
/// [`crate::message::civil_from_days`]).
pub(crate) fn days_from_civil(y: i64, m: u32, d: u32) -> i64 {
    let y = if m <= 2 { y - 1 } else { y };
    let era = y.div_euclid(400);
    let yoe = y.rem_euclid(400);
    let m = i64::from(m);
    let doy = (153 * (if m > 2 { m - 3 } else { m + 9 }) + 2) / 5 + i64::from(d) - 1;
    let doe = yoe * 365 + yoe / 4 - yoe / 100 + doy;
    era * 146_097 + doe - 719_468
}

#[cfg(test)]
mod tests {
    #[test]
    fn any_date_is_a_system_time() {
        for s in [i64::MIN, -1, 0, 1, i64::MAX] {
            let _ = super::system_time(s);
        }
    }

    #[test]
    fn days_invert_civil() {
        for z in [-800_000i64, -1, 0, 1, 11_016, 20_000, 2_932_896] {
            let (y, m, d) = crate::message::civil_from_days(z);
            assert_eq!(super::days_from_civil(y, m, d), z);
        }
    }
}
