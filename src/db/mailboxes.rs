//! The mailbox list, `mailboxes.redb`: every mailbox with its id, UIDVALIDITY and
//! UIDNEXT mirror. The owner is not stored: it is the first level below
//! `Other Users/` of the name, so it can never disagree with it.

use super::{META_TABLE, Which, damaged};
use crate::error::{Error, Result};
use crate::store::names::MailboxName;
use redb::{Database, ReadableTable, TableDefinition};
use serde::Serialize;
use std::path::Path;
use zerocopy::byteorder::little_endian::{I64, U16, U32, U64};
use zerocopy::{FromBytes, Immutable, IntoBytes, KnownLayout, Unaligned};

pub const FORMAT_VERSION: u64 = 1;
/// Full mailbox name -> [`MailboxRecord`] bytes.
pub const MAILBOXES_TABLE: TableDefinition<&str, &[u8]> = TableDefinition::new("mailboxes");
pub const NEXT_ID_KEY: &str = "next_id";
pub const LAST_UIDVALIDITY_KEY: &str = "last_uidvalidity";
const W: Which = Which::Mailboxes;

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
pub struct MailboxRecord {
    /// Layout version of this record (1).
    pub version: U16,
    pub reserved: [u8; 6],
    /// Stable id: kept across renames and by `reconstruct -m` for surviving entries.
    pub id: U64,
    pub uidvalidity: U32,
    /// Lower bound of the index's UIDNEXT, kept for recovery when the index is lost.
    pub uidnext: U32,
    /// Unix seconds.
    pub created: I64,
}

pub const MAILBOX_RECORD_SIZE: usize = core::mem::size_of::<MailboxRecord>();

/// A mailbox list entry as commands show it.
#[derive(Clone, Debug, Serialize, PartialEq, Eq)]
pub struct Entry {
    pub name: String,
    pub id: u64,
    pub owner: Option<String>,
    pub uidvalidity: u32,
    pub uidnext: u32,
    pub created: i64,
}

impl Entry {
    fn new(name: &str, r: &MailboxRecord) -> Entry {
        let owner = MailboxName::parse(name)
            .ok()
            .and_then(|n| n.owner().map(str::to_owned));
        Entry {
            name: name.to_owned(),
            id: r.id.get(),
            owner,
            uidvalidity: r.uidvalidity.get(),
            uidnext: r.uidnext.get(),
            created: r.created.get(),
        }
    }

    pub fn record(&self) -> MailboxRecord {
        MailboxRecord {
            version: 1.into(),
            reserved: [0; 6],
            id: self.id.into(),
            uidvalidity: self.uidvalidity.into(),
            uidnext: self.uidnext.into(),
            created: self.created.into(),
        }
    }
}

fn decode(path: &Path, name: &str, raw: &[u8]) -> Result<MailboxRecord> {
    MailboxRecord::read_from_bytes(raw).map_err(|_| {
        Error::db(
            path,
            format!(
                "entry {name:?} has {} bytes, not {MAILBOX_RECORD_SIZE}",
                raw.len()
            ),
            W.remedy(),
        )
    })
}

/// Every entry, read-only, optionally only names starting with `prefix`.
pub fn list(path: &Path, prefix: Option<&str>) -> Result<Vec<Entry>> {
    let db = super::open_ro(path, W)?;
    super::guard(path, || -> Result<Vec<Entry>> {
        let txn = db.begin_read().map_err(|e| damaged(path, W, e))?;
        let t = txn
            .open_table(MAILBOXES_TABLE)
            .map_err(|e| damaged(path, W, e))?;
        let mut out = Vec::new();
        let iter = match prefix {
            Some(p) => t.range(p..).map_err(|e| damaged(path, W, e))?,
            None => t.iter().map_err(|e| damaged(path, W, e))?,
        };
        for item in iter {
            let (k, v) = item.map_err(|e| damaged(path, W, e))?;
            if let Some(p) = prefix
                && !k.value().starts_with(p)
            {
                break;
            }
            out.push(Entry::new(k.value(), &decode(path, k.value(), v.value())?));
        }
        Ok(out)
    })
    .map_err(|e| Error::db(path, e, W.remedy()))?
}

/// One write transaction on the mailbox list.
pub struct ListTxn<'t> {
    path: &'t Path,
    table: redb::Table<'t, &'static str, &'static [u8]>,
    meta: redb::Table<'t, &'static str, u64>,
}

pub fn write<T>(
    db: &Database,
    path: &Path,
    f: impl FnOnce(&mut ListTxn<'_>) -> Result<T>,
) -> Result<T> {
    let txn = db.begin_write().map_err(|e| damaged(path, W, e))?;
    let v = {
        let mut t = ListTxn {
            path,
            table: txn
                .open_table(MAILBOXES_TABLE)
                .map_err(|e| damaged(path, W, e))?,
            meta: txn
                .open_table(META_TABLE)
                .map_err(|e| damaged(path, W, e))?,
        };
        f(&mut t)?
    };
    crate::faults::point("list-before-commit");
    if let Some(e) = crate::faults::io_error("list-commit") {
        return Err(Error::io(path, "commit", e));
    }
    txn.commit().map_err(|e| damaged(path, W, e))?;
    crate::faults::point("list-after-commit");
    Ok(v)
}

impl ListTxn<'_> {
    pub fn get(&self, name: &str) -> Result<Option<Entry>> {
        let Some(v) = self.table.get(name).map_err(|e| damaged(self.path, W, e))? else {
            return Ok(None);
        };
        Ok(Some(Entry::new(name, &decode(self.path, name, v.value())?)))
    }

    pub fn all(&self) -> Result<Vec<Entry>> {
        let mut out = Vec::new();
        for item in self.table.iter().map_err(|e| damaged(self.path, W, e))? {
            let (k, v) = item.map_err(|e| damaged(self.path, W, e))?;
            out.push(Entry::new(
                k.value(),
                &decode(self.path, k.value(), v.value())?,
            ));
        }
        Ok(out)
    }

    /// `name` and every entry below it.
    pub fn subtree(&self, name: &MailboxName) -> Result<Vec<Entry>> {
        Ok(self
            .all()?
            .into_iter()
            .filter(|e| MailboxName::parse(&e.name).is_ok_and(|n| n.is_within(name)))
            .collect())
    }

    fn counter(&self, key: &str) -> Result<u64> {
        Ok(self
            .meta
            .get(key)
            .map_err(|e| damaged(self.path, W, e))?
            .map(|g| g.value())
            .unwrap_or(0))
    }

    pub fn next_id(&mut self) -> Result<u64> {
        let id = self.counter(NEXT_ID_KEY)?.max(1);
        self.meta
            .insert(NEXT_ID_KEY, id + 1)
            .map_err(|e| damaged(self.path, W, e))?;
        Ok(id)
    }

    /// A UIDVALIDITY never handed out before by this store: the current time, or one
    /// more than the last if the clock has not moved on (or went back).
    pub fn new_uidvalidity(&mut self) -> Result<u32> {
        let last = self.counter(LAST_UIDVALIDITY_KEY)?;
        let now = super::now_unix().clamp(1, u32::MAX as i64) as u64;
        let v = now.max(last + 1).min(u32::MAX as u64);
        self.meta
            .insert(LAST_UIDVALIDITY_KEY, v)
            .map_err(|e| damaged(self.path, W, e))?;
        Ok(v as u32)
    }

    /// Records that `v` is in use, so later new values stay above it.
    pub fn note_uidvalidity(&mut self, v: u32) -> Result<()> {
        if u64::from(v) > self.counter(LAST_UIDVALIDITY_KEY)? {
            self.meta
                .insert(LAST_UIDVALIDITY_KEY, u64::from(v))
                .map_err(|e| damaged(self.path, W, e))?;
        }
        Ok(())
    }

    pub fn note_id(&mut self, id: u64) -> Result<()> {
        if id >= self.counter(NEXT_ID_KEY)? {
            self.meta
                .insert(NEXT_ID_KEY, id + 1)
                .map_err(|e| damaged(self.path, W, e))?;
        }
        Ok(())
    }

    pub fn put(&mut self, e: &Entry) -> Result<()> {
        self.table
            .insert(e.name.as_str(), e.record().as_bytes())
            .map_err(|err| damaged(self.path, W, err))?;
        Ok(())
    }

    pub fn remove(&mut self, name: &str) -> Result<bool> {
        Ok(self
            .table
            .remove(name)
            .map_err(|e| damaged(self.path, W, e))?
            .is_some())
    }

    pub fn clear(&mut self) -> Result<()> {
        self.table
            .retain(|_, _| false)
            .map_err(|e| damaged(self.path, W, e))?;
        Ok(())
    }
}

/// What `reconstruct -m` can still read from a list that may be damaged.
pub fn salvage(path: &Path) -> (Vec<Entry>, u64, Option<String>) {
    let mut out = Vec::new();
    let mut last_uidvalidity = 0;
    let r = super::guard(path, || -> std::result::Result<(), String> {
        let db = super::open_read_only_recovering(path)?;
        let txn = db.begin_read().map_err(|e| e.to_string())?;
        let meta = txn.open_table(META_TABLE).map_err(|e| e.to_string())?;
        match meta.get(super::FORMAT_KEY).map_err(|e| e.to_string())? {
            Some(v) if v.value() == FORMAT_VERSION => {}
            _ => return Err("not a msgstore mailbox list of a known format".into()),
        }
        if let Ok(Some(v)) = meta.get(LAST_UIDVALIDITY_KEY) {
            last_uidvalidity = v.value();
        }
        let t = txn.open_table(MAILBOXES_TABLE).map_err(|e| e.to_string())?;
        for (k, v) in t.iter().map_err(|e| e.to_string())?.flatten() {
            if let Ok(rec) = MailboxRecord::read_from_bytes(v.value()) {
                out.push(Entry::new(k.value(), &rec));
            }
        }
        Ok(())
    });
    let problem = match r {
        Ok(Ok(())) => None,
        Ok(Err(e)) | Err(e) => Some(e),
    };
    (out, last_uidvalidity, problem)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn record_layout() {
        assert_eq!(MAILBOX_RECORD_SIZE, 32);
    }

    #[test]
    fn uidvalidity_is_never_repeated() {
        let dir = tempfile::tempdir().unwrap();
        let p = dir.path().join("mailboxes.redb");
        let db = super::super::create(&p, W).unwrap();
        let (a, b) = write(&db, &p, |t| {
            Ok((t.new_uidvalidity()?, t.new_uidvalidity()?))
        })
        .unwrap();
        assert!(b > a);
        write(&db, &p, |t| t.note_uidvalidity(b + 100)).unwrap();
        let c = write(&db, &p, |t| t.new_uidvalidity()).unwrap();
        assert!(c > b + 100);
    }
}
