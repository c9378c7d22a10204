//! `reconstruct -m`: rebuilds the mailbox list from the user database and the
//! directory tree, under the list-change lock (nobody creates, deletes or renames
//! a mailbox meanwhile).
//!
//! - Surviving entries keep their ids, UIDVALIDITYs and bounds; a directory found
//!   with no entry gets the id and UIDVALIDITY its index (or what salvage reads of
//!   it) still holds; only when nothing holds one is a new UIDVALIDITY chosen, and
//!   this report says that clients must resynchronise.
//! - An entry is removed only when its directory is known to be gone: a directory
//!   that cannot be read is a failure (exit status 1), never an absence.
//! - Each index header is read under its mailbox's shared lock.
//! - What writers changed in the list meanwhile (bounds they reserved) is merged
//!   into the new list in the transaction that writes it.

use super::mailbox::{Relation, relate};
use crate::db::mailboxes::{self, Entry};
use crate::db::{self, OldFile};
use crate::error::{DbKind, Error, Result};
use crate::index::record::Identity;
use crate::index::{Reader, salvage};
use crate::store::fsutil::sync_dir;
use crate::store::lock::{self, Mode, Wait};
use crate::store::names::{self, MailboxName, Root};
use crate::store::{INDEX_FILE, Store, TRASH_PREFIX};
use serde::Serialize;
use std::collections::{BTreeMap, BTreeSet};
use std::path::Path;

#[derive(Debug, Default, Serialize)]
pub struct ListReport {
    pub dry_run: bool,
    pub kept: Vec<String>,
    /// Found on disk with no entry.
    pub added: Vec<Added>,
    pub removed: Vec<String>,
    /// Users' INBOXes that had no directory and were created.
    pub created_inboxes: Vec<String>,
    /// Mailboxes that got a new UIDVALIDITY: their clients must resynchronise.
    pub uidvalidity_changed: Vec<String>,
    /// Top-level directories under users/ whose user is not in the user database
    /// (their mailboxes are listed all the same).
    pub unknown_users: Vec<String>,
    /// Directories that are not mailboxes: left alone.
    pub unknown_dirs: Vec<String>,
    /// What could not be read (path, why): entries below it are kept.
    pub failed: Vec<Failed>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub moved_aside: Option<String>,
    pub warnings: Vec<String>,
}

#[derive(Debug, Serialize)]
pub struct Added {
    pub name: String,
    pub id: u64,
    pub uidvalidity: u32,
    /// "index" when the mailbox's own index gave it, "salvage" when read from a
    /// damaged index, "new" when none survived.
    pub uidvalidity_from: &'static str,
}

#[derive(Debug, Serialize)]
pub struct Failed {
    pub path: String,
    pub why: String,
}

/// What a mailbox's index says of itself.
#[derive(Clone, Copy, Debug)]
struct Said {
    identity: Identity,
    uidnext: u32,
    highestmodseq: u64,
    from: &'static str,
}

/// A mailbox found on disk.
struct Found {
    name: MailboxName,
    said: Option<Said>,
}

impl ListReport {
    /// Whether the exit status must say something was left undone.
    pub fn incomplete(&self) -> bool {
        !self.unknown_users.is_empty() || !self.failed.is_empty()
    }
}

pub fn run(store: &Store, dry_run: bool, wait: bool) -> Result<ListReport> {
    let _lock = lock::list_changes(
        store.root(),
        if wait {
            Wait::Forever
        } else {
            Wait::default_for_writers()
        },
    )
    .map_err(|e| e.into_error(|| Error::ListBusy))?;
    let mut rep = ListReport {
        dry_run,
        ..ListReport::default()
    };
    let users: BTreeSet<String> = db::users::list(store)
        .map_err(|e| {
            Error::Mailbox {
                mailbox: store.users_db().display().to_string(),
                what: format!(
                    "the user database is needed to rebuild the mailbox list: {}; run `msgstore x-build-user-db` first",
                    e.detail()
                ),
            }
        })?
        .into_iter()
        .map(|(n, _)| n)
        .collect();

    let path = store.mailboxes_db();
    let (old_entries, counters, problem) = if crate::store::fsutil::name_taken(&path) {
        mailboxes::salvage(store)
    } else {
        (Vec::new(), Default::default(), Some("missing".to_string()))
    };
    if let Some(p) = &problem {
        rep.warnings
            .push(format!("{}: {p}; building it anew", path.display()));
    }
    let old: BTreeMap<String, Entry> = old_entries
        .into_iter()
        .map(|e| (e.name.clone(), e))
        .collect();
    let old_next_id = counters
        .next_id
        .max(old.values().map(|e| e.id + 1).max().unwrap_or(1));

    let mut found = Vec::new();
    // Subtrees that could not be read: entries below them are kept.
    let mut unreadable: Vec<MailboxName> = Vec::new();
    for root in [Root::Users, Root::Public] {
        find(
            store,
            root,
            &users,
            &old,
            &mut found,
            &mut unreadable,
            &mut rep,
        );
    }

    let mut new_list: Vec<Entry> = Vec::new();
    let mut used_ids: BTreeSet<u64> = BTreeSet::new();
    let mut found_names = BTreeSet::new();
    for f in &found {
        found_names.insert(f.name.to_string());
        if let Some(e) = old.get(&f.name.to_string()) {
            used_ids.insert(e.id);
        }
    }
    // Ids the surviving indexes claim are theirs before any new one is handed out:
    // a new id must be none of them, or the index that claims it would then look
    // like another mailbox's.
    let claimed: BTreeSet<u64> = found
        .iter()
        .filter_map(|f| f.said.map(|s| s.identity.mailbox_id))
        .filter(|&id| id != 0)
        .collect();
    let mut next_id = old_next_id.max(claimed.iter().next_back().map_or(0, |m| m + 1));
    // New values must stay above every UIDVALIDITY that survives anywhere.
    let mut last_uv = counters
        .last_uidvalidity
        .max(
            old.values()
                .map(|e| u64::from(e.uidvalidity))
                .max()
                .unwrap_or(0),
        )
        .max(
            found
                .iter()
                .filter_map(|f| f.said.map(|s| u64::from(s.identity.uidvalidity)))
                .max()
                .unwrap_or(0),
        );
    let new_uidvalidity = |last_uv: &mut u64| {
        *last_uv = (crate::store::time::now_unix().max(1) as u64).max(*last_uv + 1);
        (*last_uv).min(u64::from(u32::MAX)) as u32
    };
    let now = crate::store::time::now_unix();
    for f in &found {
        let shown = f.name.to_string();
        match old.get(&shown) {
            Some(e) => {
                let mut e = e.clone();
                if let Some(s) = f.said {
                    match relate(s.identity, Some(&e), old_next_id) {
                        Relation::Same => e.heard(s.uidnext, s.highestmodseq),
                        Relation::ListStale => {
                            rep.warnings.push(format!(
                                "{shown}: the index is newer than the list's entry; the entry takes its id {} and UIDVALIDITY {}",
                                s.identity.mailbox_id, s.identity.uidvalidity
                            ));
                            if !used_ids.contains(&s.identity.mailbox_id) {
                                e.id = s.identity.mailbox_id;
                            }
                            e.uidvalidity = s.identity.uidvalidity;
                            e.uid_bound = s.uidnext;
                            e.modseq_bound = s.highestmodseq;
                            e.uidnext = s.uidnext;
                            e.highestmodseq = s.highestmodseq;
                        }
                        Relation::Foreign(why) => rep.warnings.push(format!(
                            "{shown}: its index is not this mailbox's ({why}); the entry is kept, and `msgstore reconstruct` will set the index aside"
                        )),
                    }
                }
                used_ids.insert(e.id);
                rep.kept.push(shown);
                new_list.push(e);
            }
            None if f.name.owner().is_some_and(|u| !users.contains(u)) => {
                // A directory of a user the user database does not know: reported
                // (x-build-user-db first), not listed; an entry it had is kept above.
            }
            None => {
                let (identity, from) = match f.said {
                    Some(s)
                        if s.identity.mailbox_id != 0
                            && !used_ids.contains(&s.identity.mailbox_id) =>
                    {
                        (s.identity, s.from)
                    }
                    Some(s) => {
                        let id = next_id;
                        next_id += 1;
                        (
                            Identity {
                                mailbox_id: id,
                                uidvalidity: s.identity.uidvalidity,
                            },
                            s.from,
                        )
                    }
                    None => {
                        let id = next_id;
                        next_id += 1;
                        rep.uidvalidity_changed.push(shown.clone());
                        (
                            Identity {
                                mailbox_id: id,
                                uidvalidity: new_uidvalidity(&mut last_uv),
                            },
                            "new",
                        )
                    }
                };
                used_ids.insert(identity.mailbox_id);
                next_id = next_id.max(identity.mailbox_id + 1);
                last_uv = last_uv.max(u64::from(identity.uidvalidity));
                let mut e = Entry::new(&f.name, identity.mailbox_id, identity.uidvalidity, now);
                if let Some(s) = f.said.filter(|_| from != "new") {
                    e.heard(s.uidnext, s.highestmodseq);
                }
                rep.added.push(Added {
                    name: shown,
                    id: e.id,
                    uidvalidity: e.uidvalidity,
                    uidvalidity_from: from,
                });
                new_list.push(e);
            }
        }
    }
    for (name, e) in &old {
        if found_names.contains(name) {
            continue;
        }
        let Ok(n) = MailboxName::parse(name) else {
            rep.removed.push(name.clone());
            continue;
        };
        let below_unreadable = unreadable.iter().any(|u| n.is_within(u));
        let dir = store.mailbox_dir(&n);
        match std::fs::symlink_metadata(&dir) {
            Err(err) if err.kind() == std::io::ErrorKind::NotFound && !below_unreadable => {
                rep.removed.push(name.clone());
            }
            Err(err) if err.kind() != std::io::ErrorKind::NotFound => {
                rep.failed.push(Failed {
                    path: dir.display().to_string(),
                    why: format!("cannot look at it ({err}); its entry is kept"),
                });
                new_list.push(e.clone());
            }
            _ => {
                if !below_unreadable {
                    rep.failed.push(Failed {
                        path: dir.display().to_string(),
                        why: "something other than a mailbox directory is there; its entry is kept"
                            .into(),
                    });
                }
                new_list.push(e.clone());
            }
        }
    }

    // Users without an INBOX directory get an empty one: a user always has an INBOX.
    for u in &users {
        let Ok(inbox) = MailboxName::parse(&format!("{}/{u}", names::USERS_ROOT)) else {
            continue;
        };
        let shown = inbox.to_string();
        if found_names.contains(&shown) || new_list.iter().any(|e| e.name == shown) {
            continue;
        }
        let dir = store.mailbox_dir(&inbox);
        if std::fs::symlink_metadata(&dir).is_ok_and(|m| !m.is_dir()) {
            // One stray file must not stop the rest of the list.
            rep.failed.push(Failed {
                path: dir.display().to_string(),
                why: format!(
                    "something other than a directory is where {u}'s INBOX belongs; move it away, then run `msgstore reconstruct -m` again"
                ),
            });
            continue;
        }
        let uv = new_uidvalidity(&mut last_uv);
        let id = next_id;
        if !dry_run {
            let made = std::fs::create_dir_all(&dir)
                .map_err(|e| Error::io(&dir, "create INBOX directory", e))
                .and_then(|()| {
                    let identity = Identity {
                        mailbox_id: id,
                        uidvalidity: uv,
                    };
                    crate::index::Index::create(
                        &dir.join(INDEX_FILE),
                        crate::index::record::Header::new(identity, 1, 1),
                    )?;
                    sync_dir(&store.root_dir(Root::Users))
                });
            if let Err(e) = made {
                rep.failed.push(Failed {
                    path: dir.display().to_string(),
                    why: format!("cannot create {u}'s INBOX: {e}"),
                });
                continue;
            }
        }
        next_id += 1;
        rep.created_inboxes.push(shown);
        new_list.push(Entry::new(&inbox, id, uv, now));
    }
    let old_file = match &problem {
        None => OldFile::Usable,
        Some(_) if crate::store::fsutil::name_taken(&path) => OldFile::Damaged,
        Some(_) => OldFile::Missing,
    };
    let last_uv = last_uv.min(u64::from(u32::MAX)) as u32;
    rep.moved_aside = db::rebuild(store, DbKind::Mailboxes, old_file, dry_run, |h| {
        mailboxes::write(h, |t| {
            // What writers reserved since the list was read above.
            let live: BTreeMap<String, Entry> = t
                .all()
                .unwrap_or_default()
                .into_iter()
                .map(|e| (e.name.clone(), e))
                .collect();
            t.clear()?;
            for e in &mut new_list {
                if let Some(l) = live.get(&e.name) {
                    if l.id == e.id && l.uidvalidity == e.uidvalidity {
                        e.uid_bound = e.uid_bound.max(l.uid_bound);
                        e.modseq_bound = e.modseq_bound.max(l.modseq_bound);
                        e.heard(l.uidnext, l.highestmodseq);
                    } else if l.id == e.id && l.uidvalidity > e.uidvalidity {
                        *e = l.clone();
                    }
                }
                t.put(e)?;
                t.note_id(e.id)?;
            }
            t.note_id(next_id.saturating_sub(1))?;
            t.note_uidvalidity(last_uv)
        })
    })?;
    for n in &rep.uidvalidity_changed {
        rep.warnings.push(format!(
            "{n}: no UIDVALIDITY survived (no readable index, no list entry): a new one was chosen; clients must resynchronise this mailbox"
        ));
    }
    Ok(rep)
}

/// Whether `path` is what a mailbox delete killed midway left (the mailbox was
/// already out of the list): then it is removed, or with a dry run reported. Every
/// delete holds the list-change lock, as this run does, so none is in progress.
fn is_trash(path: &Path, fname: &str, rep: &mut ListReport) -> bool {
    if !fname.starts_with(TRASH_PREFIX) {
        return false;
    }
    let shown = path.display();
    if rep.dry_run {
        rep.warnings.push(format!(
            "{shown}: left by an interrupted delete; would be removed"
        ));
    } else if let Err(e) = crate::store::fsutil::remove_dir_tree(path) {
        rep.warnings
            .push(format!("{shown}: left by an interrupted delete: {e}"));
    } else {
        rep.warnings
            .push(format!("{shown}: left by an interrupted delete; removed"));
    }
    true
}

/// Every mailbox directory of a root. Under users/, trees of users the user
/// database does not know are listed too, and reported.
fn find(
    store: &Store,
    root: Root,
    users: &BTreeSet<String>,
    old: &BTreeMap<String, Entry>,
    out: &mut Vec<Found>,
    unreadable: &mut Vec<MailboxName>,
    rep: &mut ListReport,
) {
    let top = store.root_dir(root);
    let rd = match std::fs::read_dir(&top) {
        Ok(rd) => rd,
        Err(e) => {
            rep.failed.push(Failed {
                path: top.display().to_string(),
                why: format!("cannot read the directory: {e}"),
            });
            for name in old.keys() {
                if let Ok(n) = MailboxName::parse(name)
                    && n.root() == root
                {
                    unreadable.push(n);
                }
            }
            return;
        }
    };
    let mut items: Vec<_> = rd.flatten().collect();
    items.sort_by_key(|i| i.file_name());
    for item in items {
        let fname = item.file_name().to_string_lossy().into_owned();
        let Ok(ft) = item.file_type() else { continue };
        if !ft.is_dir() {
            if ft.is_symlink() {
                rep.unknown_dirs.push(format!(
                    "{}: a symbolic link, never followed; left alone",
                    item.path().display()
                ));
            }
            continue;
        }
        if is_trash(&item.path(), &fname, rep) {
            continue;
        }
        let Some(name) = names::decode(&fname)
            .filter(|n| root == Root::Public || names::check_user_name(n).is_ok())
        else {
            rep.unknown_dirs.push(format!(
                "{}: not a mailbox directory name; left alone",
                item.path().display()
            ));
            continue;
        };
        if root == Root::Users && !users.contains(&name) {
            rep.unknown_users.push(name.clone());
        }
        descend(root, &item.path(), vec![name], out, unreadable, rep);
    }
}

fn descend(
    root: Root,
    dir: &Path,
    parts: Vec<String>,
    out: &mut Vec<Found>,
    unreadable: &mut Vec<MailboxName>,
    rep: &mut ListReport,
) {
    let name = match MailboxName::from_parts(root, parts.clone()) {
        Ok(n) => n,
        Err(e) => {
            rep.unknown_dirs
                .push(format!("{}: {e}; left alone", dir.display()));
            return;
        }
    };
    let rd = match std::fs::read_dir(dir) {
        Ok(rd) => rd,
        Err(e) => {
            rep.failed.push(Failed {
                path: dir.display().to_string(),
                why: format!("cannot read the directory: {e}; its mailboxes are kept as listed"),
            });
            unreadable.push(name.clone());
            out.push(Found {
                said: read_said(&name, dir, rep),
                name,
            });
            return;
        }
    };
    out.push(Found {
        said: read_said(&name, dir, rep),
        name,
    });
    let mut items: Vec<_> = rd.flatten().collect();
    items.sort_by_key(|i| i.file_name());
    for item in items {
        if !item.file_type().is_ok_and(|t| t.is_dir()) {
            continue;
        }
        let fname = item.file_name().to_string_lossy().into_owned();
        if is_trash(&item.path(), &fname, rep) {
            continue;
        }
        match names::decode(&fname) {
            Some(child) => {
                let mut p = parts.clone();
                p.push(child);
                descend(root, &item.path(), p, out, unreadable, rep);
            }
            None => {
                if matches!(crate::store::classify(&fname), crate::store::Entry::Unknown) {
                    rep.unknown_dirs.push(format!(
                        "{}: not a mailbox directory name; left alone",
                        item.path().display()
                    ));
                }
            }
        }
    }
}

/// What the mailbox's index says of its identity, read under its shared lock: its
/// header, or what salvage reads of a damaged one.
fn read_said(name: &MailboxName, dir: &Path, rep: &mut ListReport) -> Option<Said> {
    let path = dir.join(INDEX_FILE);
    if !crate::store::fsutil::name_taken(&path) {
        return None;
    }
    let lock = match lock::mailbox(dir, Mode::Shared, Wait::default_for_writers(), false) {
        Ok(l) => l,
        Err(e) => {
            rep.warnings.push(format!(
                "{name}: {}; its index was not read",
                e.into_error(|| Error::MailboxBusy(name.to_string()))
            ));
            return None;
        }
    };
    let r = Reader::open(&path).and_then(|r| r.header());
    let said = match r {
        Ok((h, _v1)) => Some(Said {
            identity: h.identity(),
            uidnext: h.uidnext.get(),
            highestmodseq: h.highestmodseq.get(),
            from: "index",
        }),
        Err(_) => salvage::salvage(&path, None, &BTreeMap::new())
            .ok()
            .and_then(|s| {
                let identity = s.identity.or(s.uidvalidity.map(|uv| Identity {
                    mailbox_id: 0,
                    uidvalidity: uv,
                }))?;
                Some(Said {
                    identity,
                    uidnext: s
                        .uidnext
                        .max(s.records.keys().next_back().map_or(0, |u| u + 1)),
                    highestmodseq: s.highestmodseq,
                    from: "salvage",
                })
            }),
    };
    drop(lock);
    said
}
