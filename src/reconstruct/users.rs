//! `x-build-user-db`: rebuilds the user database from the top-level directories of
//! `users/`, keeping every record that can still be read.

use crate::db::users::{self, STATUS_RECOVERED, UserRecord};
use crate::db::{self, Which};
use crate::error::{Error, Result};
use crate::store::Store;
use crate::store::lock::{self, Mode, Wait};
use crate::store::names;
use serde::Serialize;
use std::collections::BTreeMap;

#[derive(Debug, Default, Serialize)]
pub struct UserDbReport {
    pub dry_run: bool,
    pub kept: Vec<String>,
    /// Users found as directories with no readable record: added with defaults.
    pub added: Vec<String>,
    /// Users whose directory is gone.
    pub removed: Vec<String>,
    pub unreadable_records: usize,
    pub unknown_dirs: Vec<String>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub moved_aside: Option<String>,
    pub warnings: Vec<String>,
}

pub fn run(store: &Store, dry_run: bool) -> Result<UserDbReport> {
    let path = store.users_db();
    let _lock = lock::lock_store(
        store.root(),
        Mode::Exclusive,
        Wait::default_for_writers(),
        || {
            Error::db(
                &path,
                "the store's databases are in use by another process",
                "try again in a moment",
            )
        },
    )?;
    let mut rep = UserDbReport {
        dry_run,
        ..UserDbReport::default()
    };
    let (salvaged, unreadable, problem) = if path.exists() {
        users::salvage(&path)
    } else {
        (Vec::new(), 0, Some("missing".to_string()))
    };
    rep.unreadable_records = unreadable;
    if let Some(p) = &problem {
        rep.warnings
            .push(format!("{}: {p}; building it anew", path.display()));
    }
    let old: BTreeMap<String, UserRecord> = salvaged.into_iter().collect();

    let top = store.root_dir(names::Root::Users);
    let rd = std::fs::read_dir(&top).map_err(|e| Error::io(&top, "read directory", e))?;
    let mut dirs: Vec<String> = Vec::new();
    for item in rd {
        let item = item.map_err(|e| Error::io(&top, "read directory", e))?;
        if !item.file_type().is_ok_and(|t| t.is_dir()) {
            continue;
        }
        let fname = item.file_name().to_string_lossy().into_owned();
        match names::decode(&fname).filter(|n| names::check_user_name(n).is_ok()) {
            Some(n) => dirs.push(n),
            None => rep.unknown_dirs.push(fname),
        }
    }
    dirs.sort();
    let now = db::now_unix();
    let mut new_db = Vec::new();
    for n in &dirs {
        match old.get(n) {
            Some(r) => {
                rep.kept.push(n.clone());
                new_db.push((n.clone(), *r));
            }
            None => {
                rep.added.push(n.clone());
                new_db.push((n.clone(), UserRecord::new(now, STATUS_RECOVERED)));
            }
        }
    }
    rep.removed = old.keys().filter(|n| !dirs.contains(n)).cloned().collect();
    rep.moved_aside = db::rebuild(
        store.root(),
        Which::Users,
        problem.is_some(),
        dry_run,
        |dbh, p| users::replace_all(dbh, p, &new_db),
    )?;
    Ok(rep)
}
