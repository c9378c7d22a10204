//! The user database, `users.redb`: one record per user.

use super::{META_TABLE, Which, damaged};
use crate::error::{Error, Result};
use redb::{Database, ReadableTable, TableDefinition};
use serde::Serialize;
use std::path::Path;
use zerocopy::byteorder::little_endian::{I64, U16, U64};
use zerocopy::{FromBytes, Immutable, IntoBytes, KnownLayout, Unaligned};

pub const FORMAT_VERSION: u64 = 1;
/// User name -> [`UserRecord`] bytes.
pub const USERS_TABLE: TableDefinition<&str, &[u8]> = TableDefinition::new("users");
const W: Which = Which::Users;

#[derive(
    Clone,
    Copy,
    Debug,
    Default,
    PartialEq,
    Eq,
    FromBytes,
    IntoBytes,
    Immutable,
    KnownLayout,
    Unaligned,
)]
#[repr(C)]
pub struct UserRecord {
    /// Layout version of this record (1).
    pub version: U16,
    /// 0 active, 1 disabled, 2 recovered (rebuilt by `x-build-user-db` with defaults).
    pub status: u8,
    /// Bit 0: `quota` is set.
    pub flags: u8,
    pub reserved: [u8; 4],
    /// Unix seconds.
    pub created: I64,
    /// Quota in bytes, meaningful when flags bit 0 is set.
    pub quota: U64,
}

pub const USER_RECORD_SIZE: usize = core::mem::size_of::<UserRecord>();
pub const STATUS_ACTIVE: u8 = 0;
pub const STATUS_DISABLED: u8 = 1;
pub const STATUS_RECOVERED: u8 = 2;

impl UserRecord {
    pub fn new(created: i64, status: u8) -> UserRecord {
        UserRecord {
            version: 1.into(),
            status,
            created: created.into(),
            ..UserRecord::default()
        }
    }

    pub fn quota(&self) -> Option<u64> {
        (self.flags & 1 == 1).then(|| self.quota.get())
    }
}

/// A user as commands show it.
#[derive(Clone, Debug, Serialize, PartialEq, Eq)]
pub struct User {
    pub name: String,
    pub created: i64,
    pub status: &'static str,
    pub quota: Option<u64>,
}

impl User {
    pub fn from_record(name: &str, r: &UserRecord) -> User {
        User {
            name: name.to_owned(),
            created: r.created.get(),
            status: match r.status {
                STATUS_ACTIVE => "active",
                STATUS_DISABLED => "disabled",
                STATUS_RECOVERED => "recovered",
                _ => "unknown",
            },
            quota: r.quota(),
        }
    }
}

fn decode(path: &Path, name: &str, raw: &[u8]) -> Result<UserRecord> {
    UserRecord::read_from_bytes(raw).map_err(|_| {
        Error::db(
            path,
            format!(
                "record of user {name:?} has {} bytes, not {USER_RECORD_SIZE}",
                raw.len()
            ),
            W.remedy(),
        )
    })
}

/// Every user, read-only.
pub fn list(path: &Path) -> Result<Vec<User>> {
    let db = super::open_ro(path, W)?;
    let mut out = Vec::new();
    super::guard(path, || -> Result<()> {
        let txn = db.begin_read().map_err(|e| damaged(path, W, e))?;
        let t = txn
            .open_table(USERS_TABLE)
            .map_err(|e| damaged(path, W, e))?;
        for item in t.iter().map_err(|e| damaged(path, W, e))? {
            let (k, v) = item.map_err(|e| damaged(path, W, e))?;
            out.push(User::from_record(
                k.value(),
                &decode(path, k.value(), v.value())?,
            ));
        }
        Ok(())
    })
    .map_err(|e| Error::db(path, e, W.remedy()))??;
    Ok(out)
}

pub fn exists(path: &Path, name: &str) -> Result<bool> {
    let db = super::open_ro(path, W)?;
    let txn = db.begin_read().map_err(|e| damaged(path, W, e))?;
    let t = txn
        .open_table(USERS_TABLE)
        .map_err(|e| damaged(path, W, e))?;
    Ok(t.get(name).map_err(|e| damaged(path, W, e))?.is_some())
}

/// Adds users in one transaction; refuses the whole batch if one exists.
pub fn add(db: &Database, path: &Path, names: &[String], created: i64) -> Result<()> {
    let txn = db.begin_write().map_err(|e| damaged(path, W, e))?;
    {
        let mut t = txn
            .open_table(USERS_TABLE)
            .map_err(|e| damaged(path, W, e))?;
        for n in names {
            if t.get(n.as_str())
                .map_err(|e| damaged(path, W, e))?
                .is_some()
            {
                return Err(Error::UserExists(n.clone()));
            }
            let rec = UserRecord::new(created, STATUS_ACTIVE);
            t.insert(n.as_str(), rec.as_bytes())
                .map_err(|e| damaged(path, W, e))?;
        }
    }
    txn.commit().map_err(|e| damaged(path, W, e))?;
    Ok(())
}

pub fn delete(db: &Database, path: &Path, name: &str) -> Result<()> {
    let txn = db.begin_write().map_err(|e| damaged(path, W, e))?;
    {
        let mut t = txn
            .open_table(USERS_TABLE)
            .map_err(|e| damaged(path, W, e))?;
        if t.remove(name).map_err(|e| damaged(path, W, e))?.is_none() {
            return Err(Error::UnknownUser(name.to_owned()));
        }
    }
    txn.commit().map_err(|e| damaged(path, W, e))?;
    Ok(())
}

/// Reads every record that can still be read from a database that may be damaged
/// (`x-build-user-db`); records that fail to decode are skipped and counted.
pub fn salvage(path: &Path) -> (Vec<(String, UserRecord)>, usize, Option<String>) {
    let mut out = Vec::new();
    let mut unreadable = 0;
    let r = super::guard(path, || -> std::result::Result<(), String> {
        let db = super::open_read_only_recovering(path)?;
        let txn = db.begin_read().map_err(|e| e.to_string())?;
        let meta = txn.open_table(META_TABLE).map_err(|e| e.to_string())?;
        match meta.get(super::FORMAT_KEY).map_err(|e| e.to_string())? {
            Some(v) if v.value() == FORMAT_VERSION => {}
            _ => return Err("not a msgstore user database of a known format".into()),
        }
        let t = txn.open_table(USERS_TABLE).map_err(|e| e.to_string())?;
        for item in t.iter().map_err(|e| e.to_string())? {
            match item {
                Ok((k, v)) => match UserRecord::read_from_bytes(v.value()) {
                    Ok(rec) => out.push((k.value().to_owned(), rec)),
                    Err(_) => unreadable += 1,
                },
                Err(_) => unreadable += 1,
            }
        }
        Ok(())
    });
    let problem = match r {
        Ok(Ok(())) => None,
        Ok(Err(e)) | Err(e) => Some(e),
    };
    (out, unreadable, problem)
}

/// Writes a whole user database anew in one transaction (x-build-user-db).
pub fn replace_all(db: &Database, path: &Path, users: &[(String, UserRecord)]) -> Result<()> {
    let txn = db.begin_write().map_err(|e| damaged(path, W, e))?;
    {
        let mut t = txn
            .open_table(USERS_TABLE)
            .map_err(|e| damaged(path, W, e))?;
        t.retain(|_, _| false).map_err(|e| damaged(path, W, e))?;
        for (n, r) in users {
            t.insert(n.as_str(), r.as_bytes())
                .map_err(|e| damaged(path, W, e))?;
        }
    }
    txn.commit().map_err(|e| damaged(path, W, e))?;
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn record_layout() {
        assert_eq!(USER_RECORD_SIZE, 24);
        let mut r = UserRecord::new(5, STATUS_ACTIVE);
        assert_eq!(r.quota(), None);
        r.flags = 1;
        r.quota = 1000.into();
        assert_eq!(r.quota(), Some(1000));
    }

    #[test]
    fn add_list_delete() {
        let dir = tempfile::tempdir().unwrap();
        let p = dir.path().join("users.redb");
        let db = super::super::create(&p, W).unwrap();
        add(&db, &p, &["joe".into(), "ann".into()], 10).unwrap();
        assert!(matches!(
            add(&db, &p, &["joe".into()], 10),
            Err(Error::UserExists(_))
        ));
        delete(&db, &p, "ann").unwrap();
        drop(db);
        let names: Vec<_> = list(&p).unwrap().into_iter().map(|u| u.name).collect();
        assert_eq!(names, vec!["joe"]);
        let (salvaged, bad, problem) = salvage(&p);
        assert_eq!((salvaged.len(), bad, problem), (1, 0, None));
    }
}
