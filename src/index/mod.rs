//! The per-mailbox index and cache: one redb file, `msgstore.index`, in the mailbox's
//! own directory (so a restored mailbox brings its flags back with it).
//!
//! Tables (see `schema/mailbox-index.md`):
//! - `header`:     "header" -> [`Header`] bytes
//! - `user_flags`: bit number -> keyword name
//! - `records`:    UID -> [`Record`] bytes
//! - `cache`:      UID -> [`CacheHead`] bytes followed by ENVELOPE, BODYSTRUCTURE, BODY

pub mod record;

use crate::db::backend::Overlay;
use crate::db::{guard, guard_res};
use crate::error::{Error, Result};
use record::{
    CACHE_HEAD_SIZE, CacheHead, HEADER_SIZE, Header, INDEX_MAGIC, INDEX_VERSION, RECORD_SIZE,
    Record,
};
use redb::{Database, ReadableDatabase, ReadableTable, ReadableTableMetadata, TableDefinition};
use std::collections::BTreeMap;
use std::path::{Path, PathBuf};
use zerocopy::{FromBytes, IntoBytes};

pub const HEADER_TABLE: TableDefinition<&str, &[u8]> = TableDefinition::new("header");
pub const USER_FLAGS_TABLE: TableDefinition<u32, &str> = TableDefinition::new("user_flags");
pub const RECORDS_TABLE: TableDefinition<u32, &[u8]> = TableDefinition::new("records");
pub const CACHE_TABLE: TableDefinition<u32, &[u8]> = TableDefinition::new("cache");
const HEADER_KEY: &str = "header";

const REMEDY: &str = "run `msgstore reconstruct` on this mailbox";
/// redb's page cache for an index reconstruct writes or checks. redb's default (1
/// GiB) keeps every page a transaction dirties until its commit, so a rebuild's
/// memory grew with the mailbox (a 20,000-message rebuild peaked at 63 MiB, 40 with
/// this); bounded, redb writes the oldest pages out as it goes, which an ascending
/// load never touches again. Small, because whatever is still cached at the commit
/// is written then, on the serial tail of the run: the commit of a 20,000-message
/// rebuild took 15 ms with 1 MiB, 16 with 2, 20 with 8 and 30 with 32.
const CACHE_SIZE: usize = 2 << 20;

/// What an index holds, less the cache.
#[derive(Clone, Debug, Default)]
pub struct State {
    pub header: Header,
    pub user_flags: Vec<String>,
    pub records: BTreeMap<u32, Record>,
}

/// A cache entry, decoded.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct CacheEntry {
    pub body_offset: u64,
    pub header_size: u64,
    pub body_size: u64,
    pub envelope: Vec<u8>,
    pub bodystructure: Vec<u8>,
    pub body: Vec<u8>,
}

impl CacheEntry {
    pub fn encode(&self) -> Vec<u8> {
        let head = CacheHead {
            body_offset: self.body_offset.into(),
            header_size: self.header_size.into(),
            body_size: self.body_size.into(),
            envelope_len: (self.envelope.len() as u32).into(),
            bodystructure_len: (self.bodystructure.len() as u32).into(),
            body_len: (self.body.len() as u32).into(),
            reserved: 0.into(),
        };
        let mut out = Vec::with_capacity(
            CACHE_HEAD_SIZE + self.envelope.len() + self.bodystructure.len() + self.body.len(),
        );
        out.extend_from_slice(head.as_bytes());
        out.extend_from_slice(&self.envelope);
        out.extend_from_slice(&self.bodystructure);
        out.extend_from_slice(&self.body);
        out
    }

    pub fn decode(bytes: &[u8]) -> Option<CacheEntry> {
        let (head, rest) = CacheHead::read_from_prefix(bytes).ok()?;
        let (e, b, s) = (
            head.envelope_len.get() as usize,
            head.bodystructure_len.get() as usize,
            head.body_len.get() as usize,
        );
        // The reserved word is written as zero: anything else is damage.
        if head.reserved.get() != 0 || rest.len() != e.checked_add(b)?.checked_add(s)? {
            return None;
        }
        Some(CacheEntry {
            body_offset: head.body_offset.get(),
            header_size: head.header_size.get(),
            body_size: head.body_size.get(),
            envelope: rest.get(..e)?.to_vec(),
            bodystructure: rest.get(e..e + b)?.to_vec(),
            body: rest.get(e + b..)?.to_vec(),
        })
    }
}

pub fn new_header(uidvalidity: u32, uidnext: u32, highestmodseq: u64) -> Header {
    Header {
        magic: INDEX_MAGIC,
        version: INDEX_VERSION.into(),
        uidvalidity: uidvalidity.into(),
        uidnext: uidnext.max(1).into(),
        highestmodseq: highestmodseq.into(),
        ..Header::default()
    }
}

/// An index open for reading and writing. Callers hold the mailbox lock.
pub struct Index {
    db: crate::db::Db,
    path: PathBuf,
}

impl Index {
    /// Creates a new, empty index (the file must not exist).
    pub fn create(path: &Path, header: Header) -> Result<Index> {
        if path.exists() {
            return Err(Error::db(path, "index already exists", ""));
        }
        let db = guard_res(path, || Database::create(path))
            .map_err(|e| Error::db(path, format!("cannot create index: {e}"), ""))?;
        Index::initialise(db, path, header)
    }

    /// Creates a new, empty index on a redb storage backend instead of a file: the
    /// seam for `tests/power_cut.rs`, whose backend keeps the bytes a power cut
    /// would leave. `path` only names the index in errors. Everything after the
    /// open (write transactions, commits, the close) is the same code as [`create`].
    ///
    /// [`create`]: Index::create
    pub fn create_with_backend(
        path: &Path,
        backend: impl redb::StorageBackend,
        header: Header,
    ) -> Result<Index> {
        let db = guard_res(path, || Database::builder().create_with_backend(backend))
            .map_err(|e| Error::db(path, format!("cannot create index: {e}"), ""))?;
        Index::initialise(db, path, header)
    }

    fn initialise(db: Database, path: &Path, header: Header) -> Result<Index> {
        let index = Index {
            db: crate::db::Db::new(db, path),
            path: path.to_owned(),
        };
        index.write(|w| {
            w.set_header(&header)?;
            Ok(())
        })?;
        Ok(index)
    }

    /// Creates a new index file and commits nothing: for a caller (reconstruct) that
    /// writes the whole index, header included, in its first transaction under a
    /// temporary name, and renames it into place only after that commit. One open
    /// and one commit, where `create` and a first write would commit twice. redb's
    /// own flushes are skipped ([`Unsynced`]): nothing refers to the file until its
    /// rename, so [`close_durably`] flushes it once, before.
    ///
    /// [`Unsynced`]: crate::db::backend::Unsynced
    /// [`close_durably`]: Index::close_durably
    pub fn create_unwritten(path: &Path) -> Result<Index> {
        let file = crate::db::backend::Unsynced::create_new(path)
            .map_err(|e| Error::io(path, "create index", e))?;
        let db = guard_res(path, || {
            Database::builder()
                .set_cache_size(CACHE_SIZE)
                .create_with_backend(file)
        })
        .map_err(|e| Error::db(path, format!("cannot create index: {e}"), ""))?;
        Ok(Index {
            db: crate::db::Db::new(db, path),
            path: path.to_owned(),
        })
    }

    /// Closes the index and flushes its file: the one flush of an index made by
    /// [`create_unwritten`](Index::create_unwritten).
    pub fn close_durably(self) -> Result<()> {
        let path = self.path.clone();
        drop(self);
        std::fs::File::open(&path)
            .and_then(|f| f.sync_data())
            .map_err(|e| Error::io(&path, "fsync", e))
    }

    /// Opens an existing index for deliver, flags and expunge.
    pub fn open(path: &Path) -> Result<Index> {
        if !path.exists() {
            return Err(Error::db(path, "index file is missing", REMEDY));
        }
        let db = guard_res(path, || Database::open(path)).map_err(|e| open_error(path, e))?;
        Ok(Index {
            db: crate::db::Db::new(db, path),
            path: path.to_owned(),
        })
    }

    /// Opens an index that may be damaged, checking every page first (reconstruct,
    /// before it writes).
    pub fn open_checked(path: &Path) -> Result<Index> {
        let db = guard_res(path, || {
            Database::builder()
                .set_cache_size(CACHE_SIZE)
                .set_check_integrity_on_open(true)
                .open(path)
        })
        .map_err(|e| open_error(path, e))?;
        Ok(Index {
            db: crate::db::Db::new(db, path),
            path: path.to_owned(),
        })
    }

    pub fn path(&self) -> &Path {
        &self.path
    }

    pub fn load(&self) -> Result<State> {
        let p = &self.path;
        guard(p, || -> Result<State> {
            let txn = self.db.begin_read().map_err(|e| corrupt(p, e))?;
            load_state(p, &txn)
        })
        .map_err(|e| corrupt(p, e))?
    }

    /// The header alone: what a delivery needs, without reading every record.
    pub fn header(&self) -> Result<Header> {
        let p = &self.path;
        guard(p, || -> Result<Header> {
            let txn = self.db.begin_read().map_err(|e| corrupt(p, e))?;
            let t = txn.open_table(HEADER_TABLE).map_err(|e| corrupt(p, e))?;
            let raw = t
                .get(HEADER_KEY)
                .map_err(|e| corrupt(p, e))?
                .ok_or_else(|| Error::db(p, "index has no header", REMEDY))?;
            decode_header(p, raw.value())
        })
        .map_err(|e| corrupt(p, e))?
    }

    pub fn cache(&self, uid: u32) -> Result<Option<CacheEntry>> {
        let p = &self.path;
        guard(p, || -> Result<Option<CacheEntry>> {
            let txn = self.db.begin_read().map_err(|e| corrupt(p, e))?;
            let table = txn.open_table(CACHE_TABLE).map_err(|e| corrupt(p, e))?;
            let Some(v) = table.get(uid).map_err(|e| corrupt(p, e))? else {
                return Ok(None);
            };
            CacheEntry::decode(v.value())
                .map(Some)
                .ok_or_else(|| Error::db(p, format!("cache entry of UID {uid} is damaged"), REMEDY))
        })
        .map_err(|e| corrupt(p, e))?
    }

    /// Runs `f` in one write transaction and commits it atomically.
    pub fn write<T>(&self, f: impl FnOnce(&mut Writer<'_>) -> Result<T>) -> Result<T> {
        // redb can panic while it writes into a damaged file (its commit frees pages
        // the damage points anywhere): that is an error, not the end of the process.
        let p = &self.path;
        guard(p, || self.write_unguarded(f)).map_err(|e| corrupt(p, e))?
    }

    fn write_unguarded<T>(&self, f: impl FnOnce(&mut Writer<'_>) -> Result<T>) -> Result<T> {
        let p = &self.path;
        let txn = self
            .db
            .begin_write()
            .map_err(|e| Error::db(p, format!("cannot write: {e}"), ""))?;
        let value = {
            let mut w = Writer {
                path: p,
                header: txn.open_table(HEADER_TABLE).map_err(|e| corrupt(p, e))?,
                user_flags: txn
                    .open_table(USER_FLAGS_TABLE)
                    .map_err(|e| corrupt(p, e))?,
                records: txn.open_table(RECORDS_TABLE).map_err(|e| corrupt(p, e))?,
                cache: txn.open_table(CACHE_TABLE).map_err(|e| corrupt(p, e))?,
            };
            f(&mut w)?
        };
        crate::faults::point("index-before-commit");
        if let Some(e) = crate::faults::io_error("index-commit") {
            // Dropping the transaction aborts it, as a failed commit does.
            return Err(Error::db(p, format!("commit failed: {e}"), ""));
        }
        txn.commit()
            .map_err(|e| Error::db(p, format!("commit failed: {e}"), ""))?;
        crate::faults::point("index-after-commit");
        Ok(value)
    }
}

/// A read-only view of an index.
pub enum ReadHandle {
    Direct(redb::ReadOnlyDatabase),
    /// The file needed crash recovery, which a read-only open cannot do: it was
    /// recovered in memory ([`Overlay`]), so a reader (or a dry run) changes nothing.
    Recovered(crate::db::Db),
}

impl ReadHandle {
    fn begin_read(&self) -> Result<redb::ReadTransaction, redb::TransactionError> {
        match self {
            ReadHandle::Direct(db) => db.begin_read(),
            ReadHandle::Recovered(db) => db.begin_read(),
        }
    }
}

/// Reads an index without taking write access (dump, `--quick`). Never writes it,
/// and trusts its pages (no checksum pass).
pub fn load_read_only(path: &Path) -> Result<(State, ReadHandle)> {
    let handle = open_read_only(path)?;
    let state = read_only(&handle, path, load_state)?;
    Ok((state, handle))
}

/// The header alone, read as [`load_read_only`] reads (`reconstruct -m`, which
/// needs UIDVALIDITY and UIDNEXT, not every record).
pub fn header_read_only(path: &Path) -> Result<Header> {
    read_only(&open_read_only(path)?, path, read_header)
}

/// The header and the records in UID order, read as [`load_read_only`] reads and
/// checked as it checks them, into a vector: `--quick` walks them once, in order,
/// and a map of 20,000 records built one insert at a time was most of its read.
pub fn records_read_only(path: &Path) -> Result<(Header, Vec<Record>)> {
    read_only(&open_read_only(path)?, path, |p, txn| {
        let header = read_header(p, txn)?;
        let mut records = Vec::new();
        read_records(p, txn, &header, |r| records.push(r))?;
        Ok((header, records))
    })
}

fn open_read_only(path: &Path) -> Result<ReadHandle> {
    match guard_res(path, || Database::builder().open_read_only(path)) {
        Ok(db) => Ok(ReadHandle::Direct(db)),
        Err(e) if e.contains("repair") => Ok(ReadHandle::Recovered(open_overlay(path)?)),
        Err(e) => Err(open_error(path, e)),
    }
}

fn read_only<T>(
    handle: &ReadHandle,
    path: &Path,
    read: impl FnOnce(&Path, &redb::ReadTransaction) -> Result<T>,
) -> Result<T> {
    guard(path, || -> Result<T> {
        let txn = handle.begin_read().map_err(|e| corrupt(path, e))?;
        read(path, &txn)
    })
    .map_err(|e| corrupt(path, e))?
}

/// Reads an index after checking every page's checksum, as [`Index::open_checked`]
/// does, but through an [`Overlay`]: the check's commit (and a crashed file's
/// recovery) stay in memory, so reconstruct's routine check and dry runs verify an
/// index without writing or flushing it. A mailbox with nothing to change costs no
/// write at all.
pub fn load_checked(path: &Path) -> Result<State> {
    let db = open_overlay(path)?;
    guard(path, || -> Result<State> {
        let txn = db.begin_read().map_err(|e| corrupt(path, e))?;
        load_state(path, &txn)
    })
    .map_err(|e| corrupt(path, e))?
}

fn open_overlay(path: &Path) -> Result<crate::db::Db> {
    let overlay = Overlay::open(path).map_err(|e| Error::io(path, "open index", e))?;
    guard_res(path, || {
        Database::builder()
            .set_cache_size(CACHE_SIZE)
            .set_check_integrity_on_open(true)
            .create_with_backend(overlay)
    })
    .map(|db| crate::db::Db::new(db, path))
    .map_err(|e| open_error(path, e))
}

/// Reads a cache entry through a read-only handle.
pub fn cache_read_only(db: &ReadHandle, path: &Path, uid: u32) -> Result<Option<CacheEntry>> {
    guard(path, || -> Result<Option<CacheEntry>> {
        let txn = db.begin_read().map_err(|e| corrupt(path, e))?;
        let table = txn.open_table(CACHE_TABLE).map_err(|e| corrupt(path, e))?;
        let Some(v) = table.get(uid).map_err(|e| corrupt(path, e))? else {
            return Ok(None);
        };
        CacheEntry::decode(v.value())
            .map(Some)
            .ok_or_else(|| Error::db(path, format!("cache entry of UID {uid} is damaged"), REMEDY))
    })
    .map_err(|e| corrupt(path, e))?
}

fn read_header(p: &Path, txn: &redb::ReadTransaction) -> Result<Header> {
    let header_table = txn.open_table(HEADER_TABLE).map_err(|e| corrupt(p, e))?;
    let raw = header_table
        .get(HEADER_KEY)
        .map_err(|e| corrupt(p, e))?
        .ok_or_else(|| Error::db(p, "index has no header", REMEDY))?;
    decode_header(p, raw.value())
}

fn load_state(p: &Path, txn: &redb::ReadTransaction) -> Result<State> {
    let header = read_header(p, txn)?;
    let mut state = State {
        header,
        ..State::default()
    };

    let flags = txn
        .open_table(USER_FLAGS_TABLE)
        .map_err(|e| corrupt(p, e))?;
    for item in flags.iter().map_err(|e| corrupt(p, e))? {
        let (k, v) = item.map_err(|e| corrupt(p, e))?;
        let bit = k.value() as usize;
        if bit >= record::MAX_USER_FLAGS {
            return Err(Error::db(
                p,
                format!("user flag number {bit} out of range"),
                REMEDY,
            ));
        }
        if state.user_flags.len() <= bit {
            state.user_flags.resize(bit + 1, String::new());
        }
        state.user_flags[bit] = v.value().to_owned();
    }

    read_records(p, txn, &header, |r| {
        state.records.insert(r.uid.get(), r);
    })?;
    Ok(state)
}

/// Every record, in UID order, each checked against its key and the header.
fn read_records(
    p: &Path,
    txn: &redb::ReadTransaction,
    header: &Header,
    mut each: impl FnMut(Record),
) -> Result<()> {
    let records = txn.open_table(RECORDS_TABLE).map_err(|e| corrupt(p, e))?;
    let mut count = 0usize;
    for item in records.iter().map_err(|e| corrupt(p, e))? {
        let (k, v) = item.map_err(|e| corrupt(p, e))?;
        let rec = Record::read_from_bytes(v.value()).map_err(|_| {
            Error::db(
                p,
                format!(
                    "record of UID {} has {} bytes, not {RECORD_SIZE}",
                    k.value(),
                    v.value().len()
                ),
                REMEDY,
            )
        })?;
        if rec.uid.get() != k.value() || rec.uid.get() == 0 || rec.uid.get() >= header.uidnext.get()
        {
            return Err(Error::db(
                p,
                format!("record of UID {} is inconsistent", k.value()),
                REMEDY,
            ));
        }
        each(rec);
        count += 1;
    }
    if records.len().map_err(|e| corrupt(p, e))? as usize != count {
        return Err(Error::db(p, "record count mismatch", REMEDY));
    }
    Ok(())
}

fn decode_header(p: &Path, raw: &[u8]) -> Result<Header> {
    let h = Header::read_from_bytes(raw).map_err(|_| {
        Error::db(
            p,
            format!("index header has {} bytes, not {HEADER_SIZE}", raw.len()),
            REMEDY,
        )
    })?;
    if h.magic != INDEX_MAGIC {
        return Err(Error::db(p, "not a msgstore index (bad magic)", REMEDY));
    }
    if h.version.get() != INDEX_VERSION {
        return Err(Error::db(
            p,
            format!(
                "index format version {} is not {INDEX_VERSION}, the one this msgstore reads",
                h.version.get()
            ),
            REMEDY,
        ));
    }
    if h.uidvalidity.get() == 0 || h.uidnext.get() == 0 {
        return Err(Error::db(
            p,
            "index header has UIDVALIDITY or UIDNEXT 0",
            REMEDY,
        ));
    }
    Ok(h)
}

fn corrupt(p: &Path, e: impl std::fmt::Display) -> Error {
    Error::db(p, format!("index is damaged: {e}"), REMEDY)
}

fn open_error(p: &Path, e: impl std::fmt::Display) -> Error {
    Error::db(p, format!("cannot open index: {e}"), REMEDY)
}

/// The tables of one write transaction.
pub struct Writer<'t> {
    path: &'t Path,
    header: redb::Table<'t, &'static str, &'static [u8]>,
    user_flags: redb::Table<'t, u32, &'static str>,
    records: redb::Table<'t, u32, &'static [u8]>,
    cache: redb::Table<'t, u32, &'static [u8]>,
}

impl Writer<'_> {
    pub fn set_header(&mut self, h: &Header) -> Result<()> {
        self.header
            .insert(HEADER_KEY, h.as_bytes())
            .map_err(|e| corrupt(self.path, e))?;
        Ok(())
    }

    pub fn set_user_flags(&mut self, names: &[String]) -> Result<()> {
        self.user_flags
            .retain(|_, _| false)
            .map_err(|e| corrupt(self.path, e))?;
        for (i, n) in names.iter().enumerate() {
            self.user_flags
                .insert(i as u32, n.as_str())
                .map_err(|e| corrupt(self.path, e))?;
        }
        Ok(())
    }

    pub fn put_record(&mut self, r: &Record) -> Result<()> {
        self.records
            .insert(r.uid.get(), r.as_bytes())
            .map_err(|e| corrupt(self.path, e))?;
        Ok(())
    }

    pub fn put_cache(&mut self, uid: u32, c: &CacheEntry) -> Result<()> {
        self.cache
            .insert(uid, c.encode().as_slice())
            .map_err(|e| corrupt(self.path, e))?;
        Ok(())
    }

    pub fn remove(&mut self, uid: u32) -> Result<()> {
        self.records
            .remove(uid)
            .map_err(|e| corrupt(self.path, e))?;
        self.cache.remove(uid).map_err(|e| corrupt(self.path, e))?;
        Ok(())
    }

    /// Empties records and cache (reconstruct writes the whole mailbox anew).
    pub fn clear(&mut self) -> Result<()> {
        self.records
            .retain(|_, _| false)
            .map_err(|e| corrupt(self.path, e))?;
        self.cache
            .retain(|_, _| false)
            .map_err(|e| corrupt(self.path, e))?;
        Ok(())
    }

    /// Copies a cache entry from another index (reconstruct keeps entries it trusts).
    pub fn put_cache_raw(&mut self, uid: u32, raw: &[u8]) -> Result<()> {
        self.cache
            .insert(uid, raw)
            .map_err(|e| corrupt(self.path, e))?;
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn cache_entry_round_trips_and_rejects_bad_lengths() {
        let c = CacheEntry {
            body_offset: 10,
            header_size: 12,
            body_size: 30,
            envelope: b"(NIL)".to_vec(),
            bodystructure: b"(\"text\")".to_vec(),
            body: b"(\"x\")".to_vec(),
        };
        let enc = c.encode();
        assert_eq!(CacheEntry::decode(&enc), Some(c));
        assert_eq!(CacheEntry::decode(&enc[..enc.len() - 1]), None);
        assert_eq!(CacheEntry::decode(&enc[..3]), None);
        let mut bad = enc.clone();
        bad[36] = 1; // the reserved word
        assert_eq!(CacheEntry::decode(&bad), None);
    }

    #[test]
    fn index_round_trip_on_disk() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("msgstore.index");
        let idx = Index::create(&path, new_header(77, 1, 0)).unwrap();
        let r = Record {
            uid: 1.into(),
            ..Record::default()
        };
        idx.write(|w| {
            let mut h = new_header(77, 2, 1);
            h.exists = 1.into();
            w.set_header(&h)?;
            w.put_record(&r)?;
            w.set_user_flags(&["$Junk".into()])
        })
        .unwrap();
        drop(idx);
        let st = Index::open(&path).unwrap().load().unwrap();
        assert_eq!(st.header.uidvalidity.get(), 77);
        assert_eq!(st.records.len(), 1);
        assert_eq!(st.user_flags, vec!["$Junk".to_string()]);
        let (st2, _db) = load_read_only(&path).unwrap();
        assert_eq!(st2.header.uidnext.get(), 2);
    }

    #[test]
    fn garbage_index_is_an_error_not_a_panic() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("msgstore.index");
        std::fs::write(&path, vec![0x5a; 10000]).unwrap();
        assert!(Index::open(&path).is_err());
        assert!(Index::open_checked(&path).is_err());
        assert!(load_read_only(&path).is_err());
    }
}
