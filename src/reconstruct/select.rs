//! Which mailboxes `reconstruct [-r] NAME...` means: each name, and with `recurse`
//! everything below it in the mailbox list or on disk; with `recurse` and no name,
//! every mailbox. What cannot be one (a listed mailbox whose directory is gone, a
//! directory whose name is no encoding, one too deep or unreadable) is reported,
//! never silently skipped.

use crate::db::mailboxes::Entry;
use crate::error::{Error, Result};
use crate::store::Store;
use crate::store::names::{self, MailboxName, Root};
use std::collections::BTreeSet;
use std::path::Path;

/// The selection, and what the walk found that it could not take.
#[derive(Debug, Default)]
pub struct Selection {
    pub mailboxes: Vec<MailboxName>,
    /// Named mailboxes that do not exist (with the closest name, if one is close).
    pub unknown: Vec<Error>,
    /// Listed mailboxes whose directory is gone: `reconstruct -m` removes them.
    pub gone: Vec<String>,
    /// Directories that are not mailboxes, or could not be read: path and why.
    pub skipped: Vec<(String, String)>,
}

/// `listed` is the mailbox list (empty when it cannot be read).
pub fn select(
    store: &Store,
    names: &[String],
    recurse: bool,
    listed: &[Entry],
) -> Result<Selection> {
    let mut sel = Selection::default();
    let mut found = BTreeSet::new();
    let listed: Vec<MailboxName> = listed
        .iter()
        .filter_map(|e| MailboxName::parse(&e.name).ok())
        .collect();
    if names.is_empty() {
        if !recurse {
            return Err(Error::Usage(
                "name the mailboxes to rebuild, or use -r to rebuild every mailbox".into(),
            ));
        }
        for root in [Root::Users, Root::Public] {
            walk(
                root,
                &store.root_dir(root),
                &mut Vec::new(),
                &mut found,
                &mut sel,
            );
        }
        for n in listed {
            if store.has_mailbox_dir(&n) {
                found.insert(n);
            } else {
                sel.gone.push(n.to_string());
            }
        }
        sel.mailboxes = found.into_iter().collect();
        return Ok(sel);
    }
    for n in names {
        let name = MailboxName::parse(n)?;
        if !store.has_mailbox_dir(&name) {
            sel.unknown.push(Error::UnknownMailbox {
                suggestion: closest(&name.to_string(), &listed),
                name: name.to_string(),
            });
            continue;
        }
        if recurse {
            let mut parts = name.parts().to_vec();
            walk(
                name.root(),
                &store.mailbox_dir(&name),
                &mut parts,
                &mut found,
                &mut sel,
            );
            for l in listed.iter().filter(|l| l.is_within(&name)) {
                if store.has_mailbox_dir(l) {
                    found.insert(l.clone());
                } else {
                    sel.gone.push(l.to_string());
                }
            }
        }
        found.insert(name);
    }
    sel.mailboxes = found.into_iter().collect();
    Ok(sel)
}

/// The listed name closest to a mistyped one, if it is close (a few edits).
pub fn closest(name: &str, listed: &[MailboxName]) -> Option<String> {
    let best = listed
        .iter()
        .map(|l| {
            let s = l.to_string();
            (edit_distance(name, &s), s)
        })
        .min()?;
    let limit = (name.chars().count() / 4).clamp(1, 4);
    (best.0 <= limit).then_some(best.1)
}

fn edit_distance(a: &str, b: &str) -> usize {
    let b: Vec<char> = b.chars().collect();
    let mut row: Vec<usize> = (0..=b.len()).collect();
    for (i, ca) in a.chars().enumerate() {
        let mut prev = row[0];
        row[0] = i + 1;
        for (j, cb) in b.iter().enumerate() {
            let cur = row[j + 1];
            row[j + 1] = (prev + usize::from(ca != *cb)).min(row[j] + 1).min(cur + 1);
            prev = cur;
        }
    }
    row[b.len()]
}

/// Every mailbox directory below `dir` (and `dir` itself when it is one).
fn walk(
    root: Root,
    dir: &Path,
    parts: &mut Vec<String>,
    out: &mut BTreeSet<MailboxName>,
    sel: &mut Selection,
) {
    if !parts.is_empty() {
        match MailboxName::from_parts(root, parts.clone()) {
            Ok(n) => {
                out.insert(n);
            }
            Err(e) => {
                sel.skipped.push((dir.display().to_string(), e.to_string()));
                return;
            }
        }
    }
    let rd = match std::fs::read_dir(dir) {
        Ok(rd) => rd,
        Err(e) => {
            sel.skipped.push((
                dir.display().to_string(),
                format!("cannot read the directory: {e}"),
            ));
            return;
        }
    };
    for item in rd.flatten() {
        let Ok(ft) = item.file_type() else { continue };
        if !ft.is_dir() {
            continue;
        }
        let fname = item.file_name();
        let Some(fname) = fname.to_str() else {
            sel.skipped.push((
                item.path().display().to_string(),
                "its name is not UTF-8, so it is not a mailbox; left alone".into(),
            ));
            continue;
        };
        if fname.starts_with(crate::store::TMP_PREFIX) {
            continue;
        }
        let Some(name) = names::decode(fname) else {
            // Message files and the store's own names are never directories; any
            // other name is not one the encoding writes.
            if matches!(crate::store::classify(fname), crate::store::Entry::Unknown) {
                sel.skipped.push((
                    item.path().display().to_string(),
                    "not a mailbox directory name (no encoding gives it); left alone".into(),
                ));
            }
            continue;
        };
        parts.push(name);
        // A directory's link count is 2 plus its subdirectories on ext4, XFS and
        // tmpfs: at exactly 2 there is nothing below it, and its listing (every
        // message file of the mailbox, which the rebuild reads anyway) is skipped.
        // File systems that do not keep the count (btrfs reports 1) are read.
        use std::os::unix::fs::MetadataExt;
        if item.metadata().is_ok_and(|m| m.nlink() == 2) {
            match MailboxName::from_parts(root, parts.clone()) {
                Ok(n) => {
                    out.insert(n);
                }
                Err(e) => sel
                    .skipped
                    .push((item.path().display().to_string(), e.to_string())),
            }
        } else {
            walk(root, &item.path(), parts, out, sel);
        }
        parts.pop();
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn close_names_are_suggested() {
        let listed: Vec<MailboxName> = ["joe", "joe/Sent", "ann"]
            .iter()
            .map(|n| MailboxName::parse(n).unwrap())
            .collect();
        assert_eq!(
            closest("Other Users/joe/Snet", &listed).as_deref(),
            Some("Other Users/joe/Sent")
        );
        assert_eq!(closest("Other Users/zzzzzzzz/qqqq", &listed), None);
    }
}
