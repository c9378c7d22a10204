//! The user database, `users.redb`: one record per user.

use super::{Db, META_TABLE};
use crate::dbfile::Handle;
use crate::error::{DbKind, Error, Fault, Result};
use crate::store::Store;
use redb::{ReadableTable, TableDefinition};
use serde::Serialize;
use zerocopy::byteorder::little_endian::{I64, U16, U64};
use zerocopy::{FromBytes, Immutable, IntoBytes, KnownLayout, Unaligned};

/// Format 2 added the password to the record.
pub const FORMAT_VERSION: u64 = 2;
/// Format 1 databases are read (their records converted as they are rewritten).
pub const OLDEST_FORMAT: u64 = 1;
pub const RECORD_VERSION: u16 = 2;
/// User name -> [`UserRecord`] bytes, then the password's PHC string.
pub const USERS_TABLE: TableDefinition<&str, &[u8]> = TableDefinition::new("users");
const K: DbKind = DbKind::Users;

/// The fixed head of a user record (24 bytes, layouts 1 and 2 alike); in layout 2
/// the Argon2id PHC string of the password follows it (nothing: no password).
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
pub struct UserHead {
    pub version: U16,
    pub status: u8,
    /// Bit 0: `quota` is set.
    pub flags: u8,
    pub reserved: [u8; 4],
    /// Unix seconds.
    pub created: I64,
    /// Quota in bytes, meaningful when flags bit 0 is set.
    pub quota: U64,
}

pub const USER_HEAD_SIZE: usize = core::mem::size_of::<UserHead>();

/// Longest password hash accepted in a record (an Argon2id PHC string is ~100 bytes).
const MAX_PHC: usize = 512;

#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize)]
#[serde(rename_all = "lowercase")]
pub enum Status {
    Active,
    Disabled,
    /// Rebuilt by `x-build-user-db` with defaults: an administrator should check it.
    Recovered,
}

impl Status {
    fn code(self) -> u8 {
        match self {
            Status::Active => 0,
            Status::Disabled => 1,
            Status::Recovered => 2,
        }
    }

    fn from_code(c: u8) -> Option<Status> {
        match c {
            0 => Some(Status::Active),
            1 => Some(Status::Disabled),
            2 => Some(Status::Recovered),
            _ => None,
        }
    }

    pub fn as_str(self) -> &'static str {
        match self {
            Status::Active => "active",
            Status::Disabled => "disabled",
            Status::Recovered => "recovered",
        }
    }
}

/// A user record.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct UserRecord {
    pub status: Status,
    pub created: i64,
    pub quota: Option<u64>,
    /// Argon2id PHC string; `None`: the user cannot log in until `user passwd`.
    pub password: Option<String>,
}

impl UserRecord {
    pub fn new(created: i64, status: Status) -> UserRecord {
        UserRecord {
            status,
            created,
            quota: None,
            password: None,
        }
    }

    pub fn encode(&self) -> Vec<u8> {
        let head = UserHead {
            version: RECORD_VERSION.into(),
            status: self.status.code(),
            flags: u8::from(self.quota.is_some()),
            reserved: [0; 4],
            created: self.created.into(),
            quota: self.quota.unwrap_or(0).into(),
        };
        let mut out = head.as_bytes().to_vec();
        if let Some(p) = &self.password {
            out.extend_from_slice(p.as_bytes());
        }
        out
    }

    /// Layout 1 (24 bytes, version 1) or layout 2 (the head, version 2, then the PHC
    /// string); anything else is damage.
    pub fn decode(raw: &[u8]) -> Option<UserRecord> {
        let (head, rest) = UserHead::read_from_prefix(raw).ok()?;
        let status = Status::from_code(head.status)?;
        if head.flags & !1 != 0 || head.reserved != [0; 4] {
            return None;
        }
        let password = match head.version.get() {
            1 if rest.is_empty() => None,
            2 if rest.is_empty() => None,
            2 if rest.len() <= MAX_PHC && rest.starts_with(b"$argon2") => {
                Some(std::str::from_utf8(rest).ok()?.to_owned())
            }
            _ => return None,
        };
        Some(UserRecord {
            status,
            created: head.created.get(),
            quota: (head.flags & 1 == 1).then(|| head.quota.get()),
            password,
        })
    }
}

/// A user as commands show it (never the password hash).
#[derive(Clone, Debug, Serialize, PartialEq, Eq)]
pub struct User {
    pub name: String,
    pub status: Status,
    /// RFC 3339, UTC.
    pub created: String,
    pub quota: Option<u64>,
    pub has_password: bool,
}

impl User {
    pub fn new(name: &str, r: &UserRecord) -> User {
        User {
            name: name.to_owned(),
            status: r.status,
            created: crate::store::time::rfc3339(r.created),
            quota: r.quota,
            has_password: r.password.is_some(),
        }
    }
}

fn decode(h: &Handle, name: &str, raw: &[u8]) -> Result<UserRecord> {
    UserRecord::decode(raw).ok_or_else(|| {
        h.error(Fault::Damaged(format!(
            "record of user {} ({} bytes) is not one this msgstore reads",
            crate::error::shown(name),
            raw.len()
        )))
    })
}

fn read_all(db: &Handle) -> Result<Vec<(String, UserRecord)>> {
    db.read(|txn| {
        let t = txn.open_table(USERS_TABLE).map_err(db.err())?;
        let mut out = Vec::new();
        for item in t.iter().map_err(db.err())? {
            let (k, v) = item.map_err(db.err())?;
            out.push((k.value().to_owned(), decode(db, k.value(), v.value())?));
        }
        Ok(out)
    })
}

/// Every user, read-only.
pub fn list(store: &Store) -> Result<Vec<(String, UserRecord)>> {
    let db = super::open_ro(store, K)?;
    read_all(&db)
}

/// One user's record, read-only.
pub fn get(store: &Store, name: &str) -> Result<Option<UserRecord>> {
    let db = super::open_ro(store, K)?;
    get_in(&db, name)
}

fn get_in(db: &Handle, name: &str) -> Result<Option<UserRecord>> {
    db.read(|txn| {
        let t = txn.open_table(USERS_TABLE).map_err(db.err())?;
        match t.get(name).map_err(db.err())? {
            Some(v) => decode(db, name, v.value()).map(Some),
            None => Ok(None),
        }
    })
}

pub fn exists(store: &Store, name: &str) -> Result<bool> {
    Ok(get(store, name)?.is_some())
}

/// Opens the user database for writing (under the database lock).
pub fn open_rw(store: &Store) -> Result<Db> {
    super::open_rw(store, K)
}

/// Whether `name` exists, in an open database.
pub fn has(db: &Handle, name: &str) -> Result<bool> {
    Ok(get_in(db, name)?.is_some())
}

/// Adds users in one transaction; refuses the whole batch if one exists.
pub fn add(db: &Handle, names: &[String], created: i64) -> Result<()> {
    db.write(|txn| {
        super::stamp_format(db, txn)?;
        let mut t = txn.open_table(USERS_TABLE).map_err(db.err())?;
        for n in names {
            if t.get(n.as_str()).map_err(db.err())?.is_some() {
                return Err(Error::UserExists(n.clone()));
            }
            let rec = UserRecord::new(created, Status::Active);
            t.insert(n.as_str(), rec.encode().as_slice())
                .map_err(db.err())?;
        }
        Ok(())
    })
}

/// Changes one user's record in one transaction.
pub fn update(db: &Handle, name: &str, f: impl FnOnce(&mut UserRecord)) -> Result<UserRecord> {
    db.write(|txn| {
        super::stamp_format(db, txn)?;
        let mut t = txn.open_table(USERS_TABLE).map_err(db.err())?;
        let mut rec = match t.get(name).map_err(db.err())? {
            Some(v) => decode(db, name, v.value())?,
            None => return Err(Error::UnknownUser(name.to_owned())),
        };
        f(&mut rec);
        t.insert(name, rec.encode().as_slice()).map_err(db.err())?;
        Ok(rec)
    })
}

pub fn delete(db: &Handle, name: &str) -> Result<()> {
    db.write(|txn| {
        let mut t = txn.open_table(USERS_TABLE).map_err(db.err())?;
        if t.remove(name).map_err(db.err())?.is_none() {
            return Err(Error::UnknownUser(name.to_owned()));
        }
        Ok(())
    })
}

/// Reads every record that can still be read from a database that may be damaged
/// (`x-build-user-db`): the records, how many could not be read, and what went
/// wrong, if anything.
pub fn salvage(store: &Store) -> (Vec<(String, UserRecord)>, usize, Option<String>) {
    let db = match super::open_ro(store, K) {
        Ok(db) => db,
        Err(e) => return (Vec::new(), 0, Some(e.detail())),
    };
    super::salvage_table(&db, USERS_TABLE, UserRecord::decode)
}

/// Writes a whole user database anew in one transaction (x-build-user-db).
pub fn replace_all(db: &Handle, users: &[(String, UserRecord)]) -> Result<()> {
    db.write(|txn| {
        super::stamp_format(db, txn)?;
        let mut t = txn.open_table(USERS_TABLE).map_err(db.err())?;
        t.retain(|_, _| false).map_err(db.err())?;
        for (n, r) in users {
            t.insert(n.as_str(), r.encode().as_slice())
                .map_err(db.err())?;
        }
        drop(t);
        drop(txn.open_table(META_TABLE).map_err(db.err())?);
        Ok(())
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn record_layouts() {
        assert_eq!(USER_HEAD_SIZE, 24);
        let mut r = UserRecord::new(5, Status::Active);
        assert_eq!(UserRecord::decode(&r.encode()), Some(r.clone()));
        r.quota = Some(0);
        r.password = Some("$argon2id$v=19$m=19456,t=2,p=1$c2FsdA$aGFzaA".into());
        assert_eq!(UserRecord::decode(&r.encode()), Some(r.clone()));
        // Layout 1: 24 bytes, version 1, no password.
        let v1 = UserHead {
            version: 1.into(),
            status: 2,
            flags: 1,
            created: 9.into(),
            quota: 1000.into(),
            ..UserHead::default()
        };
        let old = UserRecord::decode(v1.as_bytes()).unwrap();
        assert_eq!(
            (old.status, old.quota, old.password),
            (Status::Recovered, Some(1000), None)
        );
        let mut bad = r.encode();
        bad[2] = 9; // unknown status
        assert_eq!(UserRecord::decode(&bad), None);
        let mut v1_with_tail = v1.as_bytes().to_vec();
        v1_with_tail.push(b'x');
        assert_eq!(UserRecord::decode(&v1_with_tail), None);
    }
}
