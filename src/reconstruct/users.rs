//! `x-build-user-db`: rebuilds the user database from the top-level directories of
//! `users/`, keeping every record that can still be read. A record goes only when
//! its user's directory is known to be gone; one whose name is held by something
//! other than a directory (a link, a file) is kept and reported.

use crate::db::users::{self, Status, UserRecord};
use crate::db::{self, OldFile};
use crate::error::{DbKind, Error, Result};
use crate::store::Store;
use crate::store::lock::{self, Wait};
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
    /// Names under users/ that are not user directories: left alone.
    pub unknown_dirs: Vec<String>,
    /// Users whose directory is not a plain directory: their records are kept.
    pub failed: Vec<String>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub moved_aside: Option<String>,
    pub warnings: Vec<String>,
}

pub fn run(store: &Store, dry_run: bool) -> Result<UserDbReport> {
    let _lock = lock::list_changes(store.root(), Wait::default_for_writers())
        .map_err(|e| e.into_error(|| Error::ListBusy))?;
    let path = store.users_db();
    let mut rep = UserDbReport {
        dry_run,
        ..UserDbReport::default()
    };
    let (salvaged, unreadable, problem) = if crate::store::fsutil::name_taken(&path) {
        users::salvage(store)
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
        let fname = item.file_name().to_string_lossy().into_owned();
        if fname.starts_with(crate::store::TMP_PREFIX) {
            continue;
        }
        let is_dir = item.file_type().is_ok_and(|t| t.is_dir());
        match names::decode(&fname).filter(|n| names::check_user_name(n).is_ok()) {
            Some(n) if is_dir => dirs.push(n),
            Some(n) => {
                rep.failed.push(format!(
                    "users/{fname}: not a directory (a link or a file); user {} is kept as it was",
                    crate::error::shown(&n)
                ));
                if !old.contains_key(&n) {
                    rep.unknown_dirs.push(fname);
                }
            }
            None => rep.unknown_dirs.push(fname),
        }
    }
    dirs.sort();
    let now = crate::store::time::now_unix();
    let mut new_db = Vec::new();
    for n in &dirs {
        match old.get(n) {
            Some(r) => {
                rep.kept.push(n.clone());
                new_db.push((n.clone(), r.clone()));
            }
            None => {
                rep.added.push(n.clone());
                new_db.push((n.clone(), UserRecord::new(now, Status::Recovered)));
            }
        }
    }
    for (n, r) in &old {
        if dirs.contains(n) {
            continue;
        }
        let dir = top.join(names::encode(n));
        match std::fs::symlink_metadata(&dir) {
            Err(e) if e.kind() == std::io::ErrorKind::NotFound => rep.removed.push(n.clone()),
            _ => new_db.push((n.clone(), r.clone())),
        }
    }
    new_db.sort_by(|a, b| a.0.cmp(&b.0));
    let old_file = match &problem {
        None => OldFile::Usable,
        Some(_) if crate::store::fsutil::name_taken(&path) => OldFile::Damaged,
        Some(_) => OldFile::Missing,
    };
    rep.moved_aside = db::rebuild(store, DbKind::Users, old_file, dry_run, |h| {
        users::replace_all(h, &new_db)
    })?;
    Ok(rep)
}
