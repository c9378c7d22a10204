//! `reconstruct -m`: rebuilds the mailbox list from the user database and the
//! directory tree. Surviving entries keep their ids; found directories are added
//! with the UIDVALIDITY their index still holds; entries with no directory go.
//! The mailbox-list lock is held throughout, so nobody creates, deletes or renames
//! a mailbox meanwhile.

use crate::db::mailboxes::{self, Entry};
use crate::db::{self, Which};
use crate::error::{Error, Result};
use crate::index;
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
    /// Found on disk with no entry: (name, UIDVALIDITY, where it came from).
    pub added: Vec<Added>,
    pub removed: Vec<String>,
    /// Users' INBOXes that had no directory and were created.
    pub created_inboxes: Vec<String>,
    /// Top-level directories under users/ whose user is not in the user database.
    pub unknown_users: Vec<String>,
    pub unknown_dirs: Vec<String>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub moved_aside: Option<String>,
    pub warnings: Vec<String>,
}

#[derive(Debug, Serialize)]
pub struct Added {
    pub name: String,
    pub uidvalidity: u32,
    /// "index" when the mailbox's own index gave it, "new" when none survived.
    pub uidvalidity_from: &'static str,
}

/// A mailbox found on disk: its name, and the index header if it can be read.
struct Found {
    name: MailboxName,
    header: Option<(u32, u32)>,
}

pub fn run(store: &Store, dry_run: bool, wait: bool) -> Result<ListReport> {
    let path = store.mailboxes_db();
    let _lock = lock::lock_store(
        store.root(),
        Mode::Exclusive,
        if wait {
            Wait::Forever
        } else {
            Wait::default_for_writers()
        },
        || {
            Error::db(
                &path,
                "the mailbox list is in use by another process",
                "try again, or use --wait",
            )
        },
    )?;
    let mut rep = ListReport {
        dry_run,
        ..ListReport::default()
    };
    let users: BTreeSet<String> = db::users::list(&store.users_db())
        .map_err(|e| {
            Error::db(
                store.users_db(),
                format!("the user database is needed to rebuild the mailbox list: {e}"),
                "run `msgstore x-build-user-db` first",
            )
        })?
        .into_iter()
        .map(|u| u.name)
        .collect();

    let (old_entries, last_uidvalidity, problem) = if path.exists() {
        mailboxes::salvage(&path)
    } else {
        (Vec::new(), 0, Some("missing".to_string()))
    };
    if let Some(p) = &problem {
        rep.warnings
            .push(format!("{}: {p}; building it anew", path.display()));
    }
    let old: BTreeMap<String, Entry> = old_entries
        .into_iter()
        .map(|e| (e.name.clone(), e))
        .collect();

    let mut found = Vec::new();
    find(store, Root::Users, &users, &mut found, &mut rep);
    find(store, Root::Public, &users, &mut found, &mut rep);

    let mut new_list = Vec::new();
    let mut next_id = old.values().map(|e| e.id).max().unwrap_or(0) + 1;
    // New values must stay above every UIDVALIDITY that survives anywhere.
    let mut last_uv = last_uidvalidity
        .max(
            old.values()
                .map(|e| u64::from(e.uidvalidity))
                .max()
                .unwrap_or(0),
        )
        .max(
            found
                .iter()
                .filter_map(|f| f.header.map(|h| u64::from(h.0)))
                .max()
                .unwrap_or(0),
        );
    let mut found_names = BTreeSet::new();
    for f in &found {
        let shown = f.name.to_string();
        found_names.insert(shown.clone());
        match old.get(&shown) {
            Some(e) => {
                let mut e = e.clone();
                // The mailbox's own index is the truth; the entry only mirrors it.
                if let Some((uv, next)) = f.header {
                    e.uidvalidity = uv;
                    e.uidnext = e.uidnext.max(next);
                }
                rep.kept.push(shown);
                new_list.push(e);
            }
            None => {
                let (uidvalidity, from) = match f.header {
                    Some((uv, _)) => (uv, "index"),
                    None => {
                        last_uv = (db::now_unix().max(1) as u64).max(last_uv + 1);
                        (last_uv as u32, "new")
                    }
                };
                last_uv = last_uv.max(u64::from(uidvalidity));
                let e = Entry {
                    name: shown.clone(),
                    id: next_id,
                    owner: f.name.owner().map(str::to_owned),
                    uidvalidity,
                    uidnext: f.header.map(|h| h.1).unwrap_or(1),
                    created: db::now_unix(),
                };
                next_id += 1;
                rep.added.push(Added {
                    name: shown,
                    uidvalidity,
                    uidvalidity_from: from,
                });
                new_list.push(e);
            }
        }
    }
    rep.removed = old
        .keys()
        .filter(|n| !found_names.contains(*n))
        .cloned()
        .collect();

    // Users without an INBOX directory get an empty one: a user always has an INBOX.
    for u in &users {
        let inbox = MailboxName::parse(&format!("{}/{u}", names::USERS_ROOT))?;
        if !found_names.contains(&inbox.to_string()) {
            rep.created_inboxes.push(inbox.to_string());
            last_uv = (db::now_unix().max(1) as u64).max(last_uv + 1);
            if !dry_run {
                let dir = store.mailbox_dir(&inbox);
                std::fs::create_dir_all(&dir)
                    .map_err(|e| Error::io(&dir, "create INBOX directory", e))?;
                index::Index::create(
                    &dir.join(INDEX_FILE),
                    index::new_header(last_uv as u32, 1, 0),
                )?;
                sync_dir(&store.root_dir(Root::Users))?;
            }
            new_list.push(Entry {
                name: inbox.to_string(),
                id: next_id,
                owner: Some(u.clone()),
                uidvalidity: last_uv as u32,
                uidnext: 1,
                created: db::now_unix(),
            });
            next_id += 1;
        }
    }
    rep.moved_aside = db::rebuild(
        store.root(),
        Which::Mailboxes,
        problem.is_some(),
        dry_run,
        |dbh, p| {
            mailboxes::write(dbh, p, |t| {
                t.clear()?;
                for e in &new_list {
                    t.put(e)?;
                    t.note_id(e.id)?;
                }
                t.note_uidvalidity(last_uv.min(u64::from(u32::MAX)) as u32)
            })
        },
    )?;
    Ok(rep)
}

/// Whether `path` is what a mailbox delete killed midway left (the mailbox was
/// already out of the list): then it is removed, or with a dry run reported. Every
/// delete holds the mailbox-list lock, as this run does, so none is in progress.
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

/// Finds every mailbox directory of a root. Under users/, only trees of users the
/// user database knows; the others are reported.
fn find(
    store: &Store,
    root: Root,
    users: &BTreeSet<String>,
    out: &mut Vec<Found>,
    rep: &mut ListReport,
) {
    let top = store.root_dir(root);
    let Ok(rd) = std::fs::read_dir(&top) else {
        rep.warnings
            .push(format!("{}: cannot read directory", top.display()));
        return;
    };
    let mut items: Vec<_> = rd.flatten().collect();
    items.sort_by_key(|i| i.file_name());
    for item in items {
        let fname = item.file_name().to_string_lossy().into_owned();
        if !item.file_type().is_ok_and(|t| t.is_dir()) || is_trash(&item.path(), &fname, rep) {
            continue;
        }
        let Some(name) = names::decode(&fname) else {
            rep.unknown_dirs.push(item.path().display().to_string());
            continue;
        };
        if root == Root::Users && !users.contains(&name) {
            rep.unknown_users.push(name);
            continue;
        }
        descend(root, &item.path(), vec![name], out, rep);
    }
}

fn descend(root: Root, dir: &Path, parts: Vec<String>, out: &mut Vec<Found>, rep: &mut ListReport) {
    let Ok(name) = MailboxName::from_parts(root, parts.clone()) else {
        rep.unknown_dirs.push(dir.display().to_string());
        return;
    };
    let header = index::header_read_only(&dir.join(INDEX_FILE))
        .ok()
        .map(|h| (h.uidvalidity.get(), h.uidnext.get()));
    out.push(Found { name, header });
    let Ok(rd) = std::fs::read_dir(dir) else {
        return;
    };
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
                descend(root, &item.path(), p, out, rep);
            }
            None => rep.unknown_dirs.push(item.path().display().to_string()),
        }
    }
}
