//! Flag changes: system flags and keywords, one new modseq per command.

use super::existing_mailbox;
use crate::error::{Error, Result};
use crate::index::record::{MAX_USER_FLAGS, Record, flag};
use crate::store::Store;
use crate::uidset::UidSet;
use serde::Serialize;

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
                "{s:?}: not a system flag this store keeps (\\Seen \\Answered \\Flagged \\Deleted \\Draft; \\Recent belongs to a session)"
            )));
        }
        // RFC 3501 atom: no specials, no spaces, no control characters.
        let ok = !s.is_empty()
            && s.len() <= 200
            && s.bytes()
                .all(|b| b > 0x20 && b < 0x7f && !b"(){%*\"\\]".contains(&b));
        if !ok {
            return Err(Error::Usage(format!(
                "{s:?}: not a valid keyword (an IMAP atom: printable ASCII without spaces or (){{%*\"\\])"
            )));
        }
        Ok(Flag::Keyword(s.to_owned()))
    }
}

/// IMAP flag atoms of a record.
pub fn flag_names(r: &Record, user_flags: &[String]) -> Vec<String> {
    let mut out: Vec<String> = flag::ALL
        .iter()
        .filter(|(bit, _)| r.system_flags.get() & bit != 0)
        .map(|(_, n)| (*n).to_owned())
        .collect();
    for (i, n) in user_flags.iter().enumerate() {
        if r.has_user_flag(i) && !n.is_empty() {
            out.push(n.clone());
        }
    }
    out
}

#[derive(Debug, Serialize)]
pub struct Changed {
    pub uid: u32,
    pub flags: Vec<String>,
    pub modseq: u64,
}

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
    let (name, dir) = existing_mailbox(store, mailbox)?;
    let (_lock, index) = super::open_for_write(store, &name, &dir)?;
    let mut state = index.load()?;
    let max = state.records.keys().next_back().copied().unwrap_or(0);

    // Keywords get a bit each, in the order first used; names compare case-insensitively.
    let mut bit_of = |k: &str, create: bool| -> Result<Option<usize>> {
        if let Some(i) = state
            .user_flags
            .iter()
            .position(|n| n.eq_ignore_ascii_case(k))
        {
            return Ok(Some(i));
        }
        if !create {
            return Ok(None);
        }
        if state.user_flags.len() >= MAX_USER_FLAGS {
            return Err(Error::Mailbox {
                mailbox: name.to_string(),
                what: format!(
                    "cannot add keyword {k}: the mailbox already has {MAX_USER_FLAGS} keywords"
                ),
            });
        }
        state.user_flags.push(k.to_owned());
        Ok(Some(state.user_flags.len() - 1))
    };
    let mut sys_add = 0u32;
    let mut sys_remove = 0u32;
    let mut kw_add = Vec::new();
    let mut kw_remove = Vec::new();
    for f in &add {
        match f {
            Flag::System(b) => sys_add |= b,
            Flag::Keyword(k) => kw_add.extend(bit_of(k, true)?),
        }
    }
    for f in &remove {
        match f {
            Flag::System(b) => sys_remove |= b,
            Flag::Keyword(k) => kw_remove.extend(bit_of(k, false)?),
        }
    }

    let modseq = state.header.highestmodseq.get() + 1;
    let mut changed = Vec::new();
    for (uid, rec) in state.records.iter_mut() {
        if !set.contains(*uid, max) {
            continue;
        }
        let before = *rec;
        rec.system_flags = ((rec.system_flags.get() | sys_add) & !sys_remove).into();
        for &b in &kw_add {
            rec.set_user_flag(b, true);
        }
        for &b in &kw_remove {
            rec.set_user_flag(b, false);
        }
        if *rec != before {
            rec.modseq = modseq.into();
            changed.push(*rec);
        }
    }
    if !changed.is_empty() {
        state.header.highestmodseq = modseq.into();
        index.write(|w| {
            w.set_user_flags(&state.user_flags)?;
            for r in &changed {
                w.put_record(r)?;
            }
            w.set_header(&state.header)
        })?;
    }
    let out = changed
        .iter()
        .map(|r| Changed {
            uid: r.uid.get(),
            flags: flag_names(r, &state.user_flags),
            modseq,
        })
        .collect();
    Ok((name.to_string(), out))
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
