//! The names of files the store has set aside, and when it set them aside.
//!
//! A repair never deletes what it cannot use: a damaged index or database is kept
//! as `<name>.corrupt-<UTC time>` (`.2`, `.3`, ... appended when that is taken),
//! a message file with a NUL byte as `<uid>.BAD` (or `<uid>.BAD.<n>`). Those are
//! the only names `msgstore set-aside` lists and removes: anything else in the
//! store is somebody's data or the store's own live file, and is never touched.

use super::{INDEX_FILE, LOCK_FILE, MAILBOXES_DB, SET_ASIDE_INFIX, USERS_DB};

/// What a set-aside file was before it was set aside.
#[derive(Clone, Copy, Debug, PartialEq, Eq, serde::Serialize)]
#[serde(rename_all = "kebab-case")]
pub enum Kind {
    /// `<uid>.BAD`: a message file that contains a NUL byte.
    Message,
    /// `msgstore.index.corrupt-<time>`: a damaged (or another mailbox's) index.
    Index,
    /// `msgstore.lock.corrupt-<time>`: something that was not a lock file.
    Lock,
    /// `users.redb.corrupt-<time>`: a damaged user database.
    UserDatabase,
    /// `mailboxes.redb.corrupt-<time>`: a damaged mailbox list.
    MailboxList,
}

impl Kind {
    /// For people: what the file was.
    pub fn describe(self) -> &'static str {
        match self {
            Kind::Message => "message file with a NUL byte",
            Kind::Index => "damaged or foreign index",
            Kind::Lock => "lock file that was not one",
            Kind::UserDatabase => "damaged user database",
            Kind::MailboxList => "damaged mailbox list",
        }
    }
}

/// A set-aside name, read.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct SetAside {
    pub kind: Kind,
    /// When it was set aside, from the name (Unix seconds); `None` for
    /// `<uid>.BAD`, whose name holds no time (its inode's change time does: the
    /// rename to `.BAD` sets it).
    pub at: Option<i64>,
}

/// A name in a mailbox directory that the store set aside, or `None`.
pub fn in_mailbox(name: &str) -> Option<SetAside> {
    if is_bad(name) {
        return Some(SetAside {
            kind: Kind::Message,
            at: None,
        });
    }
    stamped(name, &[(INDEX_FILE, Kind::Index), (LOCK_FILE, Kind::Lock)])
}

/// A name in the store directory that the store set aside, or `None`.
pub fn in_store(name: &str) -> Option<SetAside> {
    stamped(
        name,
        &[
            (USERS_DB, Kind::UserDatabase),
            (MAILBOXES_DB, Kind::MailboxList),
        ],
    )
}

/// `<file>.corrupt-<UTC time>` or `<file>.corrupt-<UTC time>.<n>` (n >= 2, no
/// leading zero), for one of `files`.
fn stamped(name: &str, files: &[(&str, Kind)]) -> Option<SetAside> {
    let (kind, rest) = files.iter().find_map(|&(file, kind)| {
        name.strip_prefix(file)
            .and_then(|r| r.strip_prefix(SET_ASIDE_INFIX))
            .map(|r| (kind, r))
    })?;
    let (stamp, n) = match rest.split_once('.') {
        Some((s, n)) => (s, Some(n)),
        None => (rest, None),
    };
    if let Some(n) = n
        && !(n.bytes().all(|b| b.is_ascii_digit())
            && !n.starts_with('0')
            && n.parse::<u32>().is_ok_and(|k| k >= 2))
    {
        return None;
    }
    let at = super::time::parse_stamp(stamp)?;
    Some(SetAside { kind, at: Some(at) })
}

/// `<uid>.BAD` or `<uid>.BAD.<n>`, as `classify` reads them.
fn is_bad(name: &str) -> bool {
    matches!(super::classify(name), super::Entry::Bad(_))
}

/// An age as people write it: a whole number and a unit, `s`, `m`, `h`, `d` or
/// `w` (`30d`, `12h`, `2w`); `0` alone is no age at all. Gives seconds.
pub fn parse_age(s: &str) -> Option<u64> {
    if s == "0" {
        return Some(0);
    }
    let unit = s.chars().last()?;
    let n: u64 = s.get(..s.len() - unit.len_utf8())?.parse().ok()?;
    let per = match unit {
        's' => 1,
        'm' => 60,
        'h' => 3600,
        'd' => 86_400,
        'w' => 7 * 86_400,
        _ => return None,
    };
    n.checked_mul(per)
}

/// An age for people: the largest whole unit (`31d`, `5h`, `40s`).
pub fn show_age(secs: u64) -> String {
    match secs {
        s if s >= 86_400 => format!("{}d", s / 86_400),
        s if s >= 3600 => format!("{}h", s / 3600),
        s if s >= 60 => format!("{}m", s / 60),
        s => format!("{s}s"),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn only_the_names_the_store_gives_are_set_aside_names() {
        let at = Some(1_795_860_900);
        let index = Some(SetAside {
            kind: Kind::Index,
            at,
        });
        assert_eq!(in_mailbox("msgstore.index.corrupt-20261128T101500Z"), index);
        assert_eq!(
            in_mailbox("msgstore.index.corrupt-20261128T101500Z.2"),
            index
        );
        assert_eq!(
            in_mailbox("msgstore.lock.corrupt-20261128T101500Z").map(|a| a.kind),
            Some(Kind::Lock)
        );
        let bad = Some(SetAside {
            kind: Kind::Message,
            at: None,
        });
        assert_eq!(in_mailbox("7.BAD"), bad);
        assert_eq!(in_mailbox("7.BAD.3"), bad);
        for not in [
            "7.",
            "7.BADX",
            "07.BAD",
            "msgstore.index",
            "msgstore.lock",
            "msgstore.index.corrupt-",
            "msgstore.index.corrupt-20261128T101500Z.1",
            "msgstore.index.corrupt-20261128T101500Z.02",
            "msgstore.index.corrupt-20261128T101500Z.x",
            "msgstore.index.corrupt-20261128T101500Zjunk",
            "msgstore.index.corrupt-yesterday",
            "msgstore.tmp.index.1234",
            "msgstore.index.exchanged",
            "users.redb.corrupt-20261128T101500Z",
            "notes.txt",
            "my%2Efolder",
        ] {
            assert_eq!(in_mailbox(not), None, "{not}");
        }
        assert_eq!(
            in_store("users.redb.corrupt-20261128T101500Z").map(|a| a.kind),
            Some(Kind::UserDatabase)
        );
        assert_eq!(
            in_store("mailboxes.redb.corrupt-20261128T101500Z.2").map(|a| a.kind),
            Some(Kind::MailboxList)
        );
        for not in [
            "users.redb",
            "mailboxes.redb.tmp",
            "7.BAD",
            "msgstore.index.corrupt-20261128T101500Z",
            "users",
        ] {
            assert_eq!(in_store(not), None, "{not}");
        }
    }

    #[test]
    fn what_set_aside_writes_is_read_back() {
        let d = tempfile::tempdir().unwrap();
        std::fs::write(d.path().join(INDEX_FILE), "x").unwrap();
        let name = crate::store::fsutil::set_aside(d.path(), INDEX_FILE).unwrap();
        let got = in_mailbox(&name).unwrap();
        assert_eq!(got.kind, Kind::Index);
        let now = crate::store::time::now_unix();
        assert!(
            got.at.is_some_and(|t| (now - 5..=now).contains(&t)),
            "{name}"
        );
    }

    #[test]
    fn ages() {
        assert_eq!(parse_age("30d"), Some(30 * 86_400));
        assert_eq!(parse_age("12h"), Some(12 * 3600));
        assert_eq!(parse_age("2w"), Some(14 * 86_400));
        assert_eq!(parse_age("90m"), Some(5400));
        assert_eq!(parse_age("45s"), Some(45));
        assert_eq!(parse_age("0"), Some(0));
        assert_eq!(parse_age("0d"), Some(0));
        for bad in [
            "",
            "d",
            "30",
            "-3d",
            "3.5d",
            "30 d",
            "30D",
            "1y",
            "99999999999999999w",
        ] {
            assert_eq!(parse_age(bad), None, "{bad}");
        }
        assert_eq!(show_age(31 * 86_400 + 5), "31d");
        assert_eq!(show_age(7200), "2h");
        assert_eq!(show_age(59), "59s");
    }
}
