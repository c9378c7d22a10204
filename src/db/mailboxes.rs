//! The mailbox list, `mailboxes.redb`: every mailbox with its id, UIDVALIDITY and
//! the bounds reserved for its UIDs and MODSEQs. The owner is not stored: it is the
//! first level below `Other Users/` of the name, so it can never disagree with it.
//!
//! The bounds are what makes "no UID is given twice under one UIDVALIDITY"
//! provable when an index is lost or restored from an older copy: every UID a
//! mailbox ever gave out is below `uid_bound`, and every MODSEQ at most
//! `modseq_bound`. Writers reserve in blocks (see [`UID_BLOCK`]) before they use a
//! value, so the list is written once per block, not once per delivery.

use super::{Db, META_TABLE};
use crate::dbfile::Handle;
use crate::error::{DbKind, Error, Fault, Result};
use crate::store::Store;
use crate::store::names::MailboxName;
use redb::{ReadableTable, TableDefinition};
use serde::Serialize;
use zerocopy::byteorder::little_endian::{I64, U16, U32, U64};
use zerocopy::{FromBytes, Immutable, IntoBytes, KnownLayout, Unaligned};

/// Format 2 added the MODSEQ bound and made the UID mirror a reservation.
pub const FORMAT_VERSION: u64 = 2;
/// Format 1 lists are read (their records converted as they are rewritten).
pub const OLDEST_FORMAT: u64 = 1;
pub const RECORD_VERSION: u16 = 2;
/// Full mailbox name -> [`MailboxRecord`] bytes.
pub const MAILBOXES_TABLE: TableDefinition<&str, &[u8]> = TableDefinition::new("mailboxes");
/// Mailbox id -> fingerprint of the index file this list last reserved for (see
/// [`index_file_known`]): how a writer tells an index restored from an older copy
/// from the one it reserved for, between two reservations.
pub const INDEX_FILES_TABLE: TableDefinition<u64, u64> = TableDefinition::new("index_files");
pub const NEXT_ID_KEY: &str = "next_id";
pub const LAST_UIDVALIDITY_KEY: &str = "last_uidvalidity";
const K: DbKind = DbKind::Mailboxes;

/// UIDs reserved at a time beyond what a delivery needs.
pub const UID_BLOCK: u32 = 100;
/// MODSEQs reserved at a time beyond what a change needs.
pub const MODSEQ_BLOCK: u64 = 1000;

/// Record layout 2 (56 bytes).
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
    pub version: U16,
    pub reserved: [u8; 6],
    /// Stable id: kept across renames and by `reconstruct -m`; the index holds it too.
    pub id: U64,
    pub uidvalidity: U32,
    /// Every UID given out under this UIDVALIDITY is below it.
    pub uid_bound: U32,
    /// Unix seconds.
    pub created: I64,
    /// Every MODSEQ given out under this UIDVALIDITY is at most this.
    pub modseq_bound: U64,
    /// The index's UIDNEXT when this entry last heard of it: the index's is never
    /// lower, unless the index is an older copy.
    pub uidnext: U32,
    /// The mailbox's SPECIAL-USE attributes (RFC 6154), one bit each: see
    /// [`SPECIAL_USE`].
    pub attributes: U32,
    /// The index's HIGHESTMODSEQ when this entry last heard of it (likewise).
    pub highestmodseq: U64,
}

/// Record layout 1 (32 bytes): `uid_bound` was a UIDNEXT mirror that might lag.
#[derive(Clone, Copy, Debug, Default, FromBytes, IntoBytes, Immutable, KnownLayout, Unaligned)]
#[repr(C)]
pub struct MailboxRecordV1 {
    pub version: U16,
    pub reserved: [u8; 6],
    pub id: U64,
    pub uidvalidity: U32,
    pub uidnext: U32,
    pub created: I64,
}

pub const MAILBOX_RECORD_SIZE: usize = core::mem::size_of::<MailboxRecord>();
pub const MAILBOX_RECORD_V1_SIZE: usize = core::mem::size_of::<MailboxRecordV1>();

/// The SPECIAL-USE attributes a mailbox can have (RFC 6154), and their bits.
pub const SPECIAL_USE: [(u32, &str); 7] = [
    (1, "\\All"),
    (2, "\\Archive"),
    (4, "\\Drafts"),
    (8, "\\Flagged"),
    (16, "\\Junk"),
    (32, "\\Sent"),
    (64, "\\Trash"),
];
const SPECIAL_USE_BITS: u32 = 127;

fn is_zero(n: &u32) -> bool {
    *n == 0
}

/// A mailbox list entry.
#[derive(Clone, Debug, Serialize, PartialEq, Eq)]
pub struct Entry {
    pub name: String,
    pub id: u64,
    pub owner: Option<String>,
    pub uidvalidity: u32,
    /// The index's UIDNEXT as last heard of: a lower bound of it.
    pub uidnext: u32,
    /// The index's HIGHESTMODSEQ as last heard of: a lower bound of it.
    pub highestmodseq: u64,
    /// Every UID given out is below it.
    pub uid_bound: u32,
    /// Every MODSEQ given out is at most this.
    pub modseq_bound: u64,
    pub created: i64,
    /// SPECIAL-USE bits ([`SPECIAL_USE`]); 0: none set.
    #[serde(skip_serializing_if = "is_zero")]
    pub special_use: u32,
    /// The record came from a format-1 list: its bounds are only a lagging mirror.
    #[serde(skip)]
    pub from_v1: bool,
}

impl Entry {
    pub fn new(name: &MailboxName, id: u64, uidvalidity: u32, created: i64) -> Entry {
        Entry {
            name: name.to_string(),
            id,
            owner: name.owner().map(str::to_owned),
            uidvalidity,
            uidnext: 1,
            highestmodseq: 1,
            uid_bound: 1,
            modseq_bound: 1,
            created,
            special_use: 0,
            from_v1: false,
        }
    }

    /// Hears of the index's values: mirrors and bounds never go down.
    pub fn heard(&mut self, uidnext: u32, highestmodseq: u64) {
        self.uidnext = self.uidnext.max(uidnext);
        self.highestmodseq = self.highestmodseq.max(highestmodseq);
        self.uid_bound = self.uid_bound.max(uidnext);
        self.modseq_bound = self.modseq_bound.max(highestmodseq);
    }

    fn decode(name: &str, raw: &[u8]) -> Option<Entry> {
        let owner = MailboxName::parse(name)
            .ok()
            .and_then(|n| n.owner().map(str::to_owned));
        if let Ok(r) = MailboxRecord::read_from_bytes(raw)
            && r.version.get() == RECORD_VERSION
            && r.reserved == [0; 6]
            && r.attributes.get() & !SPECIAL_USE_BITS == 0
        {
            return Some(Entry {
                name: name.to_owned(),
                id: r.id.get(),
                owner,
                uidvalidity: r.uidvalidity.get(),
                uidnext: r.uidnext.get(),
                highestmodseq: r.highestmodseq.get(),
                uid_bound: r.uid_bound.get(),
                modseq_bound: r.modseq_bound.get(),
                created: r.created.get(),
                special_use: r.attributes.get(),
                from_v1: false,
            });
        }
        let r = MailboxRecordV1::read_from_bytes(raw).ok()?;
        (r.version.get() == 1).then(|| Entry {
            name: name.to_owned(),
            id: r.id.get(),
            owner,
            uidvalidity: r.uidvalidity.get(),
            uidnext: r.uidnext.get(),
            highestmodseq: 0,
            uid_bound: r.uidnext.get(),
            modseq_bound: 0,
            created: r.created.get(),
            special_use: 0,
            from_v1: true,
        })
    }

    pub fn record(&self) -> MailboxRecord {
        MailboxRecord {
            version: RECORD_VERSION.into(),
            reserved: [0; 6],
            id: self.id.into(),
            uidvalidity: self.uidvalidity.into(),
            uid_bound: self.uid_bound.into(),
            created: self.created.into(),
            modseq_bound: self.modseq_bound.into(),
            uidnext: self.uidnext.into(),
            attributes: self.special_use.into(),
            highestmodseq: self.highestmodseq.into(),
        }
    }
}

fn decode(h: &Handle, name: &str, raw: &[u8]) -> Result<Entry> {
    Entry::decode(name, raw).ok_or_else(|| {
        h.error(Fault::Damaged(format!(
            "entry {} has {} bytes, not a record this msgstore reads",
            crate::error::shown(name),
            raw.len()
        )))
    })
}

/// Every entry, read-only; with `under`, only that mailbox and those below it (a
/// prefix is a hierarchy, not text: `joe` is not a prefix of `joel`).
pub fn list(store: &Store, under: Option<&MailboxName>) -> Result<Vec<Entry>> {
    let db = super::open_ro(store, K)?;
    read_all(&db, under)
}

/// One entry, read-only.
pub fn get(store: &Store, name: &MailboxName) -> Result<Option<Entry>> {
    let db = super::open_ro(store, K)?;
    let shown = name.to_string();
    db.read(|txn| {
        let t = txn.open_table(MAILBOXES_TABLE).map_err(db.err())?;
        match t.get(shown.as_str()).map_err(db.err())? {
            Some(v) => decode(&db, &shown, v.value()).map(Some),
            None => Ok(None),
        }
    })
}

fn read_all(db: &Handle, under: Option<&MailboxName>) -> Result<Vec<Entry>> {
    db.read(|txn| {
        let t = txn.open_table(MAILBOXES_TABLE).map_err(db.err())?;
        let mut out = Vec::new();
        let prefix = under.map(|n| n.to_string());
        let iter = match &prefix {
            Some(p) => t.range(p.as_str()..).map_err(db.err())?,
            None => t.iter().map_err(db.err())?,
        };
        for item in iter {
            let (k, v) = item.map_err(db.err())?;
            let name = k.value();
            if let Some(p) = &prefix {
                if !name.starts_with(p.as_str()) {
                    break;
                }
                // `Other Users/joe` covers `Other Users/joe/x`, not `Other Users/joel`.
                if name.len() > p.len() && name.as_bytes()[p.len()] != b'/' {
                    continue;
                }
            }
            out.push(decode(db, name, v.value())?);
        }
        Ok(out)
    })
}

/// One write transaction on the mailbox list.
pub struct ListTxn<'t> {
    h: &'t Handle,
    table: redb::Table<'t, &'static str, &'static [u8]>,
    meta: redb::Table<'t, &'static str, u64>,
}

/// Runs `f` in one write transaction on an open list and commits it.
pub fn write<T>(db: &Handle, f: impl FnOnce(&mut ListTxn<'_>) -> Result<T>) -> Result<T> {
    db.write(|txn| {
        super::stamp_format(db, txn)?;
        let mut t = ListTxn {
            h: db,
            table: txn.open_table(MAILBOXES_TABLE).map_err(db.err())?,
            meta: txn.open_table(META_TABLE).map_err(db.err())?,
        };
        f(&mut t)
    })
}

/// Opens the list for writing (under the database lock) and runs `f` in one
/// transaction.
pub fn change<T>(store: &Store, f: impl FnOnce(&mut ListTxn<'_>) -> Result<T>) -> Result<T> {
    let db: Db = super::open_rw(store, K)?;
    write(&db, f)
}

impl ListTxn<'_> {
    pub fn get(&self, name: &str) -> Result<Option<Entry>> {
        let Some(v) = self.table.get(name).map_err(self.h.err())? else {
            return Ok(None);
        };
        Ok(Some(decode(self.h, name, v.value())?))
    }

    pub fn all(&self) -> Result<Vec<Entry>> {
        let mut out = Vec::new();
        for item in self.table.iter().map_err(self.h.err())? {
            let (k, v) = item.map_err(self.h.err())?;
            out.push(decode(self.h, k.value(), v.value())?);
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
            .map_err(self.h.err())?
            .map(|g| g.value())
            .unwrap_or(0))
    }

    pub fn next_id(&mut self) -> Result<u64> {
        let id = self.counter(NEXT_ID_KEY)?.max(1);
        self.meta
            .insert(NEXT_ID_KEY, id + 1)
            .map_err(self.h.err())?;
        Ok(id)
    }

    /// A UIDVALIDITY never handed out before by this store: the current time, or one
    /// more than the last if the clock has not moved on (or went back).
    pub fn new_uidvalidity(&mut self) -> Result<u32> {
        let last = self.counter(LAST_UIDVALIDITY_KEY)?;
        let now = crate::store::time::now_unix().clamp(1, u32::MAX as i64) as u64;
        let v = now.max(last + 1).min(u32::MAX as u64);
        self.meta
            .insert(LAST_UIDVALIDITY_KEY, v)
            .map_err(self.h.err())?;
        Ok(v as u32)
    }

    /// Records that `v` is in use, so later new values stay above it.
    pub fn note_uidvalidity(&mut self, v: u32) -> Result<()> {
        if u64::from(v) > self.counter(LAST_UIDVALIDITY_KEY)? {
            self.meta
                .insert(LAST_UIDVALIDITY_KEY, u64::from(v))
                .map_err(self.h.err())?;
        }
        Ok(())
    }

    pub fn note_id(&mut self, id: u64) -> Result<()> {
        if id >= self.counter(NEXT_ID_KEY)? {
            self.meta
                .insert(NEXT_ID_KEY, id + 1)
                .map_err(self.h.err())?;
        }
        Ok(())
    }

    pub fn put(&mut self, e: &Entry) -> Result<()> {
        self.table
            .insert(e.name.as_str(), e.record().as_bytes())
            .map_err(self.h.err())?;
        Ok(())
    }

    pub fn remove(&mut self, name: &str) -> Result<bool> {
        Ok(self.table.remove(name).map_err(self.h.err())?.is_some())
    }

    pub fn clear(&mut self) -> Result<()> {
        self.table.retain(|_, _| false).map_err(self.h.err())?;
        Ok(())
    }
}

/// What a writer needs of a mailbox's list entry: its identity and bounds.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Bounds {
    pub id: u64,
    pub uidvalidity: u32,
    pub uid_bound: u32,
    pub modseq_bound: u64,
}

impl From<&Entry> for Bounds {
    fn from(e: &Entry) -> Bounds {
        Bounds {
            id: e.id,
            uidvalidity: e.uidvalidity,
            uid_bound: e.uid_bound,
            modseq_bound: e.modseq_bound,
        }
    }
}

/// What a writer about to give out values tells the list: the index's UIDNEXT and
/// HIGHESTMODSEQ now (mirrored), and the UIDs below `uid_end` and MODSEQs up to
/// `modseq_end` it will use (reserved).
#[derive(Clone, Copy, Debug)]
pub struct Need {
    pub uidnext: u32,
    pub highestmodseq: u64,
    pub uid_end: u32,
    pub modseq_end: u64,
}

/// Makes sure the list has reserved what `need` says for `name` before a writer
/// uses it: read-only when the list already covers it (the usual case), else one
/// write that reserves a block more and mirrors the index's values. The caller
/// holds the mailbox's exclusive lock (so nobody else reserves for it) and checks
/// the returned identity against its index.
pub fn reserve(store: &Store, name: &MailboxName, need: Need) -> Result<Bounds> {
    reserve_with(store, name, need, UID_BLOCK, MODSEQ_BLOCK)
}

/// Raises the bounds to exactly what `need` says where they are lower, and the
/// mirrors: what a one-off writer (a rebuild) that hands out no more needs.
pub fn raise(store: &Store, name: &MailboxName, need: Need) -> Result<Bounds> {
    reserve_with(store, name, need, 0, 0)
}

fn reserve_with(
    store: &Store,
    name: &MailboxName,
    need: Need,
    uid_block: u32,
    modseq_block: u64,
) -> Result<Bounds> {
    let Need {
        uid_end,
        modseq_end,
        ..
    } = need;
    let shown = name.to_string();
    let missing = || {
        Error::Mailbox {
        mailbox: shown.clone(),
        what: "not in the mailbox list, so no UIDs can be reserved for it; run `msgstore reconstruct -m`".into(),
    }
    };
    let e = get(store, name)?.ok_or_else(missing)?;
    if !e.from_v1 && e.uid_bound >= uid_end && e.modseq_bound >= modseq_end {
        return Ok(Bounds::from(&e));
    }
    change(store, |t| {
        let mut e = t.get(&shown)?.ok_or_else(missing)?;
        if e.uid_bound < uid_end {
            e.uid_bound = uid_end.saturating_add(uid_block);
        }
        if e.modseq_bound < modseq_end {
            e.modseq_bound = modseq_end.saturating_add(modseq_block);
        }
        e.heard(need.uidnext, need.highestmodseq);
        e.from_v1 = false;
        t.put(&e)?;
        Ok(Bounds::from(&e))
    })
}

/// What tells one index file from another at the same path: its device, inode
/// and, where the filesystem keeps one, its birth time. Commits change none of
/// them (redb writes in place); a copy put in its place (a restore) or a rebuilt
/// file renamed over it has another inode or birth time. Hashed into 64 bits.
pub fn index_fingerprint(path: &std::path::Path) -> Result<u64> {
    let m = std::fs::symlink_metadata(path).map_err(|e| Error::io(path, "stat the index", e))?;
    let born = m
        .created()
        .ok()
        .and_then(|t| t.duration_since(std::time::UNIX_EPOCH).ok())
        .map_or(0, |d| d.as_nanos());
    let mut h = blake3::Hasher::new();
    use std::os::unix::fs::MetadataExt;
    h.update(&m.dev().to_le_bytes());
    h.update(&m.ino().to_le_bytes());
    h.update(&born.to_le_bytes());
    let mut b = [0u8; 8];
    b.copy_from_slice(&h.finalize().as_bytes()[..8]);
    Ok(u64::from_le_bytes(b) | 1)
}

/// Whether `fingerprint` is the index file this list last heard of for mailbox
/// `id` (see [`note_index_file`]). A list without the table (written before it)
/// knows none.
pub fn index_file_known(store: &Store, id: u64, fingerprint: u64) -> Result<bool> {
    let db = super::open_ro(store, K)?;
    db.read(|txn| {
        let t = match txn.open_table(INDEX_FILES_TABLE) {
            Ok(t) => t,
            Err(redb::TableError::TableDoesNotExist(_)) => return Ok(false),
            Err(e) => return Err((db.err())(e)),
        };
        Ok(t.get(id).map_err(db.err())?.map(|g| g.value()) == Some(fingerprint))
    })
}

/// Records that the index file of mailbox `id` is the one with `fingerprint`: its
/// UIDNEXT and HIGHESTMODSEQ have been brought above this list's bounds, so
/// writers may trust them until the file is replaced.
pub fn note_index_file(store: &Store, id: u64, fingerprint: u64) -> Result<()> {
    // Read first: a run with nothing to do writes nothing.
    if index_file_known(store, id, fingerprint)? {
        return Ok(());
    }
    let db: Db = super::open_rw(store, K)?;
    db.write(|txn| {
        super::stamp_format(&db, txn)?;
        let mut t = txn.open_table(INDEX_FILES_TABLE).map_err(db.err())?;
        t.insert(id, fingerprint).map_err(db.err())?;
        Ok(())
    })
}

/// The list's counters.
#[derive(Clone, Copy, Debug, Default)]
pub struct Counters {
    /// The next id to hand out.
    pub next_id: u64,
    /// The largest UIDVALIDITY handed out or seen.
    pub last_uidvalidity: u64,
}

fn read_counters(db: &Handle) -> Result<Counters> {
    db.read(|txn| {
        let meta = txn.open_table(META_TABLE).map_err(db.err())?;
        let get = |k: &str| -> Result<u64> {
            Ok(meta
                .get(k)
                .map_err(db.err())?
                .map(|g| g.value())
                .unwrap_or(0))
        };
        Ok(Counters {
            next_id: get(NEXT_ID_KEY)?,
            last_uidvalidity: get(LAST_UIDVALIDITY_KEY)?,
        })
    })
}

/// Every entry and the counters, read-only (what a rebuild reads once).
pub fn list_with_counters(store: &Store) -> Result<(Vec<Entry>, u64)> {
    let db = super::open_ro(store, K)?;
    let c = read_counters(&db)?;
    Ok((read_all(&db, None)?, c.next_id))
}

/// What `reconstruct -m` can still read from a list that may be damaged: the
/// entries that decode, the counters, and what went wrong, if anything.
pub fn salvage(store: &Store) -> (Vec<Entry>, Counters, Option<String>) {
    let db = match super::open_ro(store, K) {
        Ok(db) => db,
        Err(e) => return (Vec::new(), Counters::default(), Some(e.detail())),
    };
    let counters = read_counters(&db).unwrap_or_default();
    let (entries, unreadable, problem) =
        super::salvage_table(&db, MAILBOXES_TABLE, |raw| Some(raw.to_vec()));
    let mut out = Vec::new();
    let mut bad = unreadable;
    for (name, raw) in entries {
        match Entry::decode(&name, &raw) {
            Some(e) => out.push(e),
            None => bad += 1,
        }
    }
    let problem = match (problem, bad) {
        (Some(p), _) => Some(p),
        (None, 0) => None,
        (None, n) => Some(format!("{n} entries could not be read")),
    };
    (out, counters, problem)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn record_layouts() {
        assert_eq!(MAILBOX_RECORD_SIZE, 56);
        assert_eq!(MAILBOX_RECORD_V1_SIZE, 32);
        let n = MailboxName::parse("joe/x").unwrap();
        let mut e = Entry::new(&n, 7, 99, 5);
        e.uid_bound = 12;
        e.modseq_bound = 40;
        assert_eq!(
            Entry::decode(&e.name, e.record().as_bytes()),
            Some(e.clone())
        );
        let v1 = MailboxRecordV1 {
            version: 1.into(),
            id: 7.into(),
            uidvalidity: 99.into(),
            uidnext: 12.into(),
            created: 5.into(),
            ..MailboxRecordV1::default()
        };
        let old = Entry::decode(&e.name, v1.as_bytes()).unwrap();
        assert!(old.from_v1);
        assert_eq!(
            (old.id, old.uid_bound, old.uidnext, old.modseq_bound),
            (7, 12, 12, 0)
        );
        assert_eq!(Entry::decode("x", &[0; 40]), None);
    }

    #[test]
    fn uidvalidity_is_never_repeated() {
        let dir = tempfile::tempdir().unwrap();
        let p = dir.path().join("mailboxes.redb");
        let db = super::super::create(&p, K).unwrap();
        let (a, b) = write(&db, |t| Ok((t.new_uidvalidity()?, t.new_uidvalidity()?))).unwrap();
        assert!(b > a);
        write(&db, |t| t.note_uidvalidity(b + 100)).unwrap();
        let c = write(&db, |t| t.new_uidvalidity()).unwrap();
        assert!(c > b + 100);
    }
}
