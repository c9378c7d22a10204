//! Flag changes: system flags and keywords, one new modseq per command.

use super::open::{Changed, FlagChange, OpenMailbox};
use crate::error::{Error, Result};
use crate::index::record::{Record, flag};
use crate::store::Store;
use crate::uidset::UidSet;

/// A flag as given on the command line.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum Flag {
    System(u32),
    Keyword(String),
}

impl Flag {
    pub fn parse(s: &str) -> Result<Flag> {
        if let Some(rest) = s.strip_prefix('\\') {
            for (bit, name) in flag::ALL {
                if name[1..].eq_ignore_ascii_case(rest) {
                    return Ok(Flag::System(bit));
                }
            }
            return Err(Error::Usage(format!(
                "{}: not a system flag this store keeps (\\Seen \\Answered \\Flagged \\Deleted \\Draft; \\Recent belongs to a session)",
                crate::error::shown(s)
            )));
        }
        // RFC 3501 atom: no specials, no spaces, no control characters.
        let ok = !s.is_empty()
            && s.len() <= 200
            && s.bytes()
                .all(|b| b > 0x20 && b < 0x7f && !b"(){%*\"\\]".contains(&b));
        if !ok {
            return Err(Error::Usage(format!(
                "{}: not a valid keyword (an IMAP atom: printable ASCII without spaces or (){{%*\"\\])",
                crate::error::shown(s)
            )));
        }
        Ok(Flag::Keyword(s.to_owned()))
    }
}

/// IMAP flag atoms of a record.
pub fn flag_names(r: &Record, keywords: &[String]) -> Vec<String> {
    let mut out: Vec<String> = flag::ALL
        .iter()
        .filter(|(bit, _)| r.system_flags.get() & bit != 0)
        .map(|(_, n)| (*n).to_owned())
        .collect();
    for (i, n) in keywords.iter().enumerate() {
        if r.has_user_flag(i) && !n.is_empty() {
            out.push(n.clone());
        }
    }
    out
}

/// `flags MAILBOX UIDSET --add ... --remove ...`: one change, one new MODSEQ.
pub fn store_flags(
    store: &Store,
    mailbox: &str,
    set: &str,
    add: &[String],
    remove: &[String],
) -> Result<(String, Vec<Changed>)> {
    let set = UidSet::parse(set)?;
    let add: Vec<Flag> = add.iter().map(|f| Flag::parse(f)).collect::<Result<_>>()?;
    let remove: Vec<Flag> = remove
        .iter()
        .map(|f| Flag::parse(f))
        .collect::<Result<_>>()?;
    if add.is_empty() && remove.is_empty() {
        return Err(Error::Usage(
            "give at least one --add FLAG or --remove FLAG".into(),
        ));
    }
    let mbox = OpenMailbox::open(store, mailbox)?;
    let change = FlagChange {
        add,
        remove,
        replace: false,
    };
    let out = mbox.store_flags(|uid, max| set.contains(uid, max), &change, None)?;
    Ok((mbox.name().to_string(), out.changed))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn flag_spellings() {
        assert_eq!(Flag::parse("\\seen").unwrap(), Flag::System(flag::SEEN));
        assert_eq!(
            Flag::parse("\\Deleted").unwrap(),
            Flag::System(flag::DELETED)
        );
        assert_eq!(Flag::parse("$Junk").unwrap(), Flag::Keyword("$Junk".into()));
        for bad in ["\\Recent", "\\Foo", "", "a b", "x(", "q\"", "caf\u{e9}"] {
            assert!(Flag::parse(bad).is_err(), "{bad:?}");
        }
    }
}
