//! The per-mailbox index and cache: one redb file, `msgstore.index`, in the
//! mailbox's own directory (so a restored mailbox brings its flags back with it).
//!
//! Tables (see `schema/mailbox-index.md`):
//! - `header`:  "header" -> [`Header`], "keywords" -> the keyword list
//! - `records`: UID -> [`Record`]
//! - `cache`:   UID -> [`CacheEntry`]
//!
//! Everything read is verified: the header's checksum, each record's checksum under
//! the mailbox's identity, each cache entry's checksum under its UID. What fails is
//! damage, reported as such in every mode; `reconstruct` salvages around it.
//! Callers hold the mailbox lock (shared to read, exclusive to write) before they
//! open an index.

pub mod cache;
pub mod record;
pub mod salvage;

pub use cache::CacheEntry;

use crate::dbfile::{Handle, Options};
use crate::error::{DbKind, Fault, Result};
use record::{
    HEADER_SIZE, HEADER_V1_SIZE, Header, HeaderV1, INDEX_MAGIC, INDEX_VERSION, Identity,
    KEYWORDS_MAGIC, MAX_USER_FLAGS, RECORD_SIZE, Record,
};
use redb::{ReadableTable, ReadableTableMetadata, TableDefinition};
use std::collections::BTreeMap;
use std::path::Path;
use zerocopy::{FromBytes, IntoBytes};

pub const HEADER_TABLE: TableDefinition<&str, &[u8]> = TableDefinition::new("header");
pub const RECORDS_TABLE: TableDefinition<u32, &[u8]> = TableDefinition::new("records");
pub const CACHE_TABLE: TableDefinition<u32, &[u8]> = TableDefinition::new("cache");
/// Version 1 kept keyword names in a table of their own.
pub const USER_FLAGS_TABLE_V1: TableDefinition<u32, &str> = TableDefinition::new("user_flags");
pub const HEADER_KEY: &str = "header";
pub const KEYWORDS_KEY: &str = "keywords";

const K: DbKind = DbKind::Index;
/// redb's page cache for an index reconstruct writes or checks. redb's default (1
/// GiB) keeps every page a transaction dirties until its commit, so a rebuild's
/// memory grew with the mailbox (a 20,000-message rebuild peaked at 63 MiB, 40 with
/// this); bounded, redb writes the oldest pages out as it goes, which an ascending
/// load never touches again. Small, because whatever is still cached at the commit
/// is written then, on the serial tail of the run: the commit of a 20,000-message
/// rebuild took 15 ms with 1 MiB, 16 with 2, 20 with 8 and 30 with 32.
const CACHE_SIZE: usize = 2 << 20;
const BOUNDED: Options = Options {
    check: false,
    cache: Some(CACHE_SIZE),
};

/// What an index holds, less the cache.
#[derive(Clone, Debug, Default)]
pub struct State {
    pub header: Header,
    pub keywords: Vec<String>,
    pub records: BTreeMap<u32, Record>,
    /// Read from a version-1 index (no checksums, no identity): `reconstruct`
    /// converts it; nothing else writes it.
    pub v1: bool,
    /// The file is a copy put back since its last write (see [`FILE_KEY`]).
    pub replaced: bool,
}

/// What a server keeps of an index in memory: the header, the keyword list and
/// every record in UID order (a vector: looked up by binary search, and half the
/// size of a map).
#[derive(Clone, Debug, Default)]
pub struct View {
    pub header: Header,
    pub keywords: Vec<String>,
    pub records: Vec<Record>,
}

/// Encodes the keyword list for mailbox `id`: the magic, the count, each name with
/// its length, and a checksum that covers the identity too.
pub fn encode_keywords(id: Identity, names: &[String]) -> Vec<u8> {
    let mut out = KEYWORDS_MAGIC.to_vec();
    out.extend_from_slice(&(names.len() as u32).to_le_bytes());
    for n in names {
        let b = n.as_bytes();
        out.push(b.len().min(255) as u8);
        out.extend_from_slice(&b[..b.len().min(255)]);
    }
    let crc = keywords_crc(id, &out);
    out.extend_from_slice(&crc.to_le_bytes());
    out
}

fn keywords_crc(id: Identity, body: &[u8]) -> u32 {
    let mut h = crc32fast::Hasher::new();
    h.update(&id.mailbox_id.to_le_bytes());
    h.update(&id.uidvalidity.to_le_bytes());
    h.update(body);
    h.finalize()
}

/// Decodes a keyword list of mailbox `id` from the start of `raw`; gives the names
/// and the bytes it took.
pub fn decode_keywords(id: Identity, raw: &[u8]) -> Option<(Vec<String>, usize)> {
    let rest = raw.strip_prefix(&KEYWORDS_MAGIC)?;
    let count = u32::from_le_bytes(rest.get(..4)?.try_into().ok()?) as usize;
    if count > MAX_USER_FLAGS {
        return None;
    }
    let mut at = KEYWORDS_MAGIC.len() + 4;
    let mut names = Vec::with_capacity(count);
    for _ in 0..count {
        let len = *raw.get(at)? as usize;
        let name = std::str::from_utf8(raw.get(at + 1..at + 1 + len)?).ok()?;
        names.push(name.to_owned());
        at += 1 + len;
    }
    let crc = u32::from_le_bytes(raw.get(at..at + 4)?.try_into().ok()?);
    (crc == keywords_crc(id, &raw[..at])).then_some((names, at + 4))
}

/// Key of the file stamp in the `header` table: the device, inode and birth
/// time of the index file as its last writer saw it (see [`file_stamp`]). A file
/// put back from a copy (a restore from backup, a copy to a new disk) is another
/// file, so its UIDNEXT and HIGHESTMODSEQ prove no bound: writers then continue
/// above the mailbox list's reservations (see `ops::open`).
pub const FILE_KEY: &str = "file";

/// The device, inode and birth time of the file at `path`, as a file stamp. The
/// birth time tells a copy from the original even where the copy was given the
/// inode number the original freed (as `rm -r` and a restore do); no copying
/// tool can set it. Where the file system keeps none, it counts as 0.
fn file_stamp(path: &Path) -> Option<[u8; 32]> {
    use std::os::unix::fs::MetadataExt;
    let m = std::fs::symlink_metadata(path).ok()?;
    let born = m
        .created()
        .ok()
        .and_then(|t| t.duration_since(std::time::UNIX_EPOCH).ok())
        .unwrap_or_default();
    let mut b = [0u8; 32];
    b[..8].copy_from_slice(&m.dev().to_le_bytes());
    b[8..16].copy_from_slice(&m.ino().to_le_bytes());
    b[16..24].copy_from_slice(&born.as_secs().to_le_bytes());
    b[24..28].copy_from_slice(&born.subsec_nanos().to_le_bytes());
    Some(b)
}

/// The file was put there by a copy since its last write: it carries another
/// file's stamp. An index without a stamp (written before stamps existed) or
/// whose file cannot be examined is taken as it is.
fn replaced(h: &Handle, txn: &redb::ReadTransaction) -> Result<bool> {
    let t = txn.open_table(HEADER_TABLE).map_err(h.err())?;
    let Some(stored) = t.get(FILE_KEY).map_err(h.err())? else {
        return Ok(false);
    };
    Ok(file_stamp(h.path()).is_some_and(|now| stored.value() != now.as_slice()))
}

fn damaged(h: &Handle, why: impl Into<String>) -> crate::error::Error {
    h.error(Fault::Damaged(why.into()))
}

/// Reads the header: version 2 verified, version 1 converted (mailbox id 0).
fn read_header(h: &Handle, txn: &redb::ReadTransaction) -> Result<(Header, bool)> {
    let t = txn.open_table(HEADER_TABLE).map_err(h.err())?;
    let raw = t
        .get(HEADER_KEY)
        .map_err(h.err())?
        .ok_or_else(|| damaged(h, "the index has no header"))?;
    decode_header(h, raw.value())
}

fn decode_header(h: &Handle, raw: &[u8]) -> Result<(Header, bool)> {
    if !raw.starts_with(&INDEX_MAGIC) {
        return Err(h.error(Fault::NotOurs));
    }
    let version = raw
        .get(8..12)
        .and_then(|b| b.try_into().ok())
        .map(u32::from_le_bytes)
        .unwrap_or(0);
    match (version, raw.len()) {
        (INDEX_VERSION, HEADER_SIZE) => {
            let hd = Header::read_from_bytes(raw).map_err(|_| damaged(h, "short header"))?;
            hd.verify().map_err(|why| damaged(h, why))?;
            Ok((hd, false))
        }
        (1, HEADER_V1_SIZE) => {
            let v1 = HeaderV1::read_from_bytes(raw).map_err(|_| damaged(h, "short header"))?;
            if v1.uidvalidity.get() == 0 || v1.uidnext.get() == 0 {
                return Err(damaged(h, "index header has UIDVALIDITY or UIDNEXT 0"));
            }
            let mut hd = Header::new(
                Identity {
                    mailbox_id: 0,
                    uidvalidity: v1.uidvalidity.get(),
                },
                v1.uidnext.get(),
                v1.highestmodseq.get(),
            );
            hd.exists = v1.exists;
            hd.total_size = v1.total_size;
            hd.last_reconstruct = v1.last_reconstruct;
            Ok((hd, true))
        }
        (v, _) if v != INDEX_VERSION && v != 1 => Err(h.error(Fault::Version {
            found: u64::from(v),
            expected: u64::from(INDEX_VERSION),
        })),
        (_, n) => Err(damaged(h, format!("index header has {n} bytes"))),
    }
}

fn read_keywords(
    h: &Handle,
    txn: &redb::ReadTransaction,
    hd: &Header,
    v1: bool,
) -> Result<Vec<String>> {
    if v1 {
        let mut names: Vec<String> = Vec::new();
        let t = match txn.open_table(USER_FLAGS_TABLE_V1) {
            Ok(t) => t,
            Err(redb::TableError::TableDoesNotExist(_)) => return Ok(names),
            Err(e) => return Err(h.err()(e)),
        };
        for item in t.iter().map_err(h.err())? {
            let (k, v) = item.map_err(h.err())?;
            let bit = k.value() as usize;
            if bit >= MAX_USER_FLAGS {
                return Err(damaged(h, format!("keyword number {bit} out of range")));
            }
            if names.len() <= bit {
                names.resize(bit + 1, String::new());
            }
            names[bit] = v.value().to_owned();
        }
        return Ok(names);
    }
    let t = txn.open_table(HEADER_TABLE).map_err(h.err())?;
    let Some(raw) = t.get(KEYWORDS_KEY).map_err(h.err())? else {
        return Err(damaged(h, "the index has no keyword list"));
    };
    match decode_keywords(hd.identity(), raw.value()) {
        Some((names, n)) if n == raw.value().len() => Ok(names),
        _ => Err(damaged(h, "the keyword list fails its checksum")),
    }
}

/// Every record in UID order, each checked against its key, the header and (in
/// version 2) its checksum under the mailbox's identity.
fn read_records(
    h: &Handle,
    txn: &redb::ReadTransaction,
    hd: &Header,
    v1: bool,
    mut each: impl FnMut(Record),
) -> Result<()> {
    let records = txn.open_table(RECORDS_TABLE).map_err(h.err())?;
    let id = hd.identity();
    let mut count = 0usize;
    for item in records.iter().map_err(h.err())? {
        let (k, v) = item.map_err(h.err())?;
        let uid = k.value();
        let rec = Record::read_from_bytes(v.value()).map_err(|_| {
            damaged(
                h,
                format!(
                    "record of UID {uid} has {} bytes, not {RECORD_SIZE}",
                    v.value().len()
                ),
            )
        })?;
        let sound = if v1 {
            rec.mark.get() == 0 && rec.crc.get() == 0 && rec.reserved == [0; 8]
        } else {
            rec.verify(id)
        };
        if !sound {
            return Err(damaged(
                h,
                format!("record of UID {uid} fails its checksum"),
            ));
        }
        if rec.uid.get() != uid || uid >= hd.uidnext.get() {
            return Err(damaged(
                h,
                format!(
                    "record of UID {uid} does not fit the header (UIDNEXT {})",
                    hd.uidnext.get()
                ),
            ));
        }
        each(rec);
        count += 1;
    }
    if records.len().map_err(h.err())? as usize != count {
        return Err(damaged(h, "the record count does not match the records"));
    }
    Ok(())
}

fn read_state(h: &Handle, txn: &redb::ReadTransaction, allow_v1: bool) -> Result<State> {
    let (header, v1) = read_header(h, txn)?;
    if v1 && !allow_v1 {
        return Err(h.error(Fault::Version {
            found: 1,
            expected: u64::from(INDEX_VERSION),
        }));
    }
    let keywords = read_keywords(h, txn, &header, v1)?;
    let mut records = BTreeMap::new();
    read_records(h, txn, &header, v1, |r| {
        records.insert(r.uid.get(), r);
    })?;
    Ok(State {
        header,
        keywords,
        records,
        v1,
        replaced: replaced(h, txn)?,
    })
}

fn read_cache(
    h: &Handle,
    txn: &redb::ReadTransaction,
    uid: u32,
    v1: bool,
) -> Result<Option<CacheEntry>> {
    let table = txn.open_table(CACHE_TABLE).map_err(h.err())?;
    let Some(v) = table.get(uid).map_err(h.err())? else {
        return Ok(None);
    };
    CacheEntry::decode(uid, v.value(), v1)
        .map(Some)
        .ok_or_else(|| damaged(h, format!("cache entry of UID {uid} fails its checksum")))
}

/// An index open for reading and writing. The caller holds the mailbox's
/// exclusive lock.
pub struct Index {
    h: Handle,
}

impl Index {
    /// Creates a new, empty index (the file must not exist) with its header and an
    /// empty keyword list, committed.
    pub fn create(path: &Path, header: Header) -> Result<Index> {
        let index = Index {
            h: Handle::create(path, K)?,
        };
        index.write(header.identity(), |w| {
            w.set_header(&header)?;
            w.set_keywords(&[])
        })?;
        Ok(index)
    }

    /// [`Index::create`] on a redb storage backend: the seam for
    /// `tests/power_cut.rs`. `path` only names the index in errors.
    pub fn create_with_backend(
        path: &Path,
        backend: impl redb::StorageBackend,
        header: Header,
    ) -> Result<Index> {
        let index = Index {
            h: Handle::create_with_backend(path, K, backend)?,
        };
        index.write(header.identity(), |w| {
            w.set_header(&header)?;
            w.set_keywords(&[])
        })?;
        Ok(index)
    }

    /// Creates a new index file and commits nothing, never flushed until
    /// [`Index::close_durably`]: for `reconstruct`, which writes the whole index in
    /// one transaction under a temporary name and renames it into place after.
    pub fn create_unsynced(path: &Path) -> Result<Index> {
        Ok(Index {
            h: Handle::create_unsynced(path, K, BOUNDED)?,
        })
    }

    pub fn close_durably(self) -> Result<()> {
        self.h.close_durably()
    }

    /// Closes an index made by [`Index::create_unsynced`] without flushing it: the
    /// caller flushes it, with others, before it refers to it.
    pub fn close_unflushed(self) {
        self.h.close();
    }

    /// Opens an existing index for deliver, flags and expunge.
    pub fn open(path: &Path) -> Result<Index> {
        Ok(Index {
            h: Handle::open_rw(path, K, Options::PLAIN)?,
        })
    }

    /// Opens an index checking every page first (reconstruct, before it writes).
    pub fn open_checked(path: &Path) -> Result<Index> {
        Ok(Index {
            h: Handle::open_rw(
                path,
                K,
                Options {
                    check: true,
                    cache: Some(CACHE_SIZE),
                },
            )?,
        })
    }

    /// Everything but the cache, verified; a version-1 index is refused.
    pub fn load(&self) -> Result<State> {
        self.h.read(|txn| read_state(&self.h, txn, false))
    }

    /// The header alone, verified: what a delivery needs.
    pub fn header(&self) -> Result<Header> {
        self.h.read(|txn| {
            let (hd, v1) = read_header(&self.h, txn)?;
            if v1 {
                return Err(self.h.error(Fault::Version {
                    found: 1,
                    expected: u64::from(INDEX_VERSION),
                }));
            }
            Ok(hd)
        })
    }

    /// The file is a copy put back since its last write (see [`FILE_KEY`]).
    pub fn replaced(&self) -> Result<bool> {
        self.h.read(|txn| replaced(&self.h, txn))
    }

    /// Records with UIDs at or above `from`, verified (a writer that knows the
    /// rest).
    pub fn records_from(&self, from: u32) -> Result<Vec<Record>> {
        self.h.read(|txn| {
            let (hd, _) = read_header(&self.h, txn)?;
            let t = txn.open_table(RECORDS_TABLE).map_err(self.h.err())?;
            let mut out = Vec::new();
            for item in t.range(from..).map_err(self.h.err())? {
                let (k, v) = item.map_err(self.h.err())?;
                let rec = Record::read_from_bytes(v.value())
                    .ok()
                    .filter(|r| r.verify(hd.identity()) && r.uid.get() == k.value())
                    .ok_or_else(|| {
                        damaged(
                            &self.h,
                            format!("record of UID {} fails its checksum", k.value()),
                        )
                    })?;
                out.push(rec);
            }
            Ok(out)
        })
    }

    pub fn cache(&self, uid: u32) -> Result<Option<CacheEntry>> {
        self.h.read(|txn| read_cache(&self.h, txn, uid, false))
    }

    /// Runs `f` in one write transaction and commits it atomically. Records and
    /// keyword lists are sealed for mailbox `id`.
    pub fn write<T>(
        &self,
        id: Identity,
        f: impl FnOnce(&mut Writer<'_>) -> Result<T>,
    ) -> Result<T> {
        self.write_inner(id, false, f)
    }

    /// [`Index::write`] for the transaction that converts a version-1 index: it
    /// also drops the tables only version 1 had. The caller rewrites the header,
    /// the keyword list, every record and every cache entry in it.
    pub fn write_converting<T>(
        &self,
        id: Identity,
        f: impl FnOnce(&mut Writer<'_>) -> Result<T>,
    ) -> Result<T> {
        self.write_inner(id, true, f)
    }

    fn write_inner<T>(
        &self,
        id: Identity,
        converting: bool,
        f: impl FnOnce(&mut Writer<'_>) -> Result<T>,
    ) -> Result<T> {
        let h = &self.h;
        h.write(|txn| {
            let mut w = Writer {
                h,
                id,
                header: txn.open_table(HEADER_TABLE).map_err(h.err())?,
                records: txn.open_table(RECORDS_TABLE).map_err(h.err())?,
                cache: txn.open_table(CACHE_TABLE).map_err(h.err())?,
            };
            let v = f(&mut w)?;
            // Every commit stamps the file it went to (a new index under a
            // temporary name keeps its inode through the rename into place).
            if let Some(stamp) = file_stamp(h.path()) {
                w.header
                    .insert(FILE_KEY, stamp.as_slice())
                    .map_err(h.err())?;
            }
            drop(w);
            if converting {
                txn.delete_table(USER_FLAGS_TABLE_V1).map_err(h.err())?;
            }
            Ok(v)
        })
    }
}

/// A read-only view of an index. The caller holds the mailbox's shared lock (or
/// its exclusive one).
pub struct Reader {
    h: Handle,
}

impl Reader {
    /// Opens without writing (dump, the server, `--quick`); trusts redb's pages, but
    /// every record read is still verified.
    pub fn open(path: &Path) -> Result<Reader> {
        Ok(Reader {
            h: Handle::open_ro(path, K)?,
        })
    }

    /// Opens checking every page's checksum, through a copy-on-write layer in
    /// memory: reconstruct's routine check and dry runs verify an index without
    /// writing or flushing it.
    pub fn open_checked(path: &Path) -> Result<Reader> {
        Ok(Reader {
            h: Handle::open_overlay(
                path,
                K,
                Options {
                    check: true,
                    cache: Some(CACHE_SIZE),
                },
            )?,
        })
    }

    /// Everything but the cache, verified; a version-1 index is refused.
    pub fn load(&self) -> Result<State> {
        self.h.read(|txn| read_state(&self.h, txn, false))
    }

    /// Like [`Reader::load`], but a version-1 index is read too (reconstruct).
    pub fn load_any(&self) -> Result<State> {
        self.h.read(|txn| read_state(&self.h, txn, true))
    }

    /// The whole index as a [`View`], in one read transaction, unless its header
    /// equals `known` (every change rewrites the header: a new HIGHESTMODSEQ,
    /// UIDNEXT or count), in which case `None`. A version-1 index is refused.
    pub fn view_unless(&self, known: Option<&Header>) -> Result<Option<View>> {
        self.h.read(|txn| {
            let (header, v1) = read_header(&self.h, txn)?;
            if v1 {
                return Err(self.h.error(Fault::Version {
                    found: 1,
                    expected: u64::from(INDEX_VERSION),
                }));
            }
            if known == Some(&header) {
                return Ok(None);
            }
            let keywords = read_keywords(&self.h, txn, &header, false)?;
            let mut records = Vec::with_capacity(header.exists.get() as usize);
            read_records(&self.h, txn, &header, false, |r| records.push(r))?;
            Ok(Some(View {
                header,
                keywords,
                records,
            }))
        })
    }

    /// The header alone (version 1 converted).
    pub fn header(&self) -> Result<(Header, bool)> {
        self.h.read(|txn| read_header(&self.h, txn))
    }

    /// The header and every record in UID order, into a vector: `--quick` walks
    /// them once, in order, and a map built one insert at a time was most of its
    /// read.
    pub fn records(&self) -> Result<(Header, Vec<Record>)> {
        self.h.read(|txn| {
            let (hd, v1) = read_header(&self.h, txn)?;
            if v1 {
                return Err(self.h.error(Fault::Version {
                    found: 1,
                    expected: u64::from(INDEX_VERSION),
                }));
            }
            let mut out = Vec::new();
            read_records(&self.h, txn, &hd, false, |r| out.push(r))?;
            Ok((hd, out))
        })
    }

    pub fn cache(&self, uid: u32, v1: bool) -> Result<Option<CacheEntry>> {
        self.h.read(|txn| read_cache(&self.h, txn, uid, v1))
    }

    /// The cache entries of `uids` (ascending), in one read transaction: `f` gets
    /// each UID with its entry, or `None` when it has none.
    pub fn each_cache(
        &self,
        uids: &[u32],
        v1: bool,
        mut f: impl FnMut(u32, Option<CacheEntry>) -> Result<()>,
    ) -> Result<()> {
        self.h.read(|txn| {
            for &uid in uids {
                f(uid, read_cache(&self.h, txn, uid, v1)?)?;
            }
            Ok(())
        })
    }

    /// The raw cache entries of `uids` whose checksums hold (reconstruct copies
    /// them into a new index unchanged).
    pub fn raw_cache(&self, uid: u32, v1: bool) -> Result<Option<Vec<u8>>> {
        self.h.read(|txn| {
            let table = txn.open_table(CACHE_TABLE).map_err(self.h.err())?;
            Ok(table
                .get(uid)
                .map_err(self.h.err())?
                .map(|v| v.value().to_vec())
                .filter(|raw| CacheEntry::decode(uid, raw, v1).is_some()))
        })
    }
}

/// The tables of one write transaction.
pub struct Writer<'t> {
    h: &'t Handle,
    id: Identity,
    header: redb::Table<'t, &'static str, &'static [u8]>,
    records: redb::Table<'t, u32, &'static [u8]>,
    cache: redb::Table<'t, u32, &'static [u8]>,
}

impl Writer<'_> {
    /// Writes the header, sealed; its identity must be the one records are sealed for.
    pub fn set_header(&mut self, hd: &Header) -> Result<()> {
        if hd.identity() != self.id {
            return Err(damaged(
                self.h,
                "a header of another identity (a bug: refused)",
            ));
        }
        let sealed = hd.sealed();
        self.header
            .insert(HEADER_KEY, sealed.as_bytes())
            .map_err(self.h.err())?;
        Ok(())
    }

    pub fn set_keywords(&mut self, names: &[String]) -> Result<()> {
        self.header
            .insert(KEYWORDS_KEY, encode_keywords(self.id, names).as_slice())
            .map_err(self.h.err())?;
        Ok(())
    }

    pub fn put_record(&mut self, r: &Record) -> Result<()> {
        let sealed = r.sealed(self.id);
        self.records
            .insert(r.uid.get(), sealed.as_bytes())
            .map_err(self.h.err())?;
        Ok(())
    }

    pub fn put_cache(&mut self, uid: u32, c: &CacheEntry) -> Result<()> {
        self.cache
            .insert(uid, c.encode(uid).as_slice())
            .map_err(self.h.err())?;
        Ok(())
    }

    /// The cache entry stored under `uid` in this transaction, verified (`v1`: of
    /// a version-1 index, which carries no checksum).
    pub fn cache_entry(&self, uid: u32, v1: bool) -> Result<Option<CacheEntry>> {
        let Some(v) = self.cache.get(uid).map_err(self.h.err())? else {
            return Ok(None);
        };
        CacheEntry::decode(uid, v.value(), v1)
            .map(Some)
            .ok_or_else(|| {
                damaged(
                    self.h,
                    format!("cache entry of UID {uid} fails its checksum"),
                )
            })
    }

    /// A cache entry already encoded for `uid` ([`CacheEntry::encode`]).
    pub fn put_cache_raw(&mut self, uid: u32, raw: &[u8]) -> Result<()> {
        self.cache.insert(uid, raw).map_err(self.h.err())?;
        Ok(())
    }

    pub fn remove(&mut self, uid: u32) -> Result<()> {
        self.records.remove(uid).map_err(self.h.err())?;
        self.cache.remove(uid).map_err(self.h.err())?;
        Ok(())
    }

    /// Empties records and cache (reconstruct writes the whole mailbox anew).
    pub fn clear(&mut self) -> Result<()> {
        self.records.retain(|_, _| false).map_err(self.h.err())?;
        self.cache.retain(|_, _| false).map_err(self.h.err())?;
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn id() -> Identity {
        Identity {
            mailbox_id: 9,
            uidvalidity: 77,
        }
    }

    /// A copy put back where the index was is told from the original, even when
    /// it gets the original's inode number; an index without a stamp (revision 1)
    /// is taken as it is, and stamped at its next commit.
    #[test]
    fn a_copy_put_back_is_known_by_its_file_stamp() {
        let t = tempfile::tempdir().unwrap();
        let path = t.path().join("msgstore.index");
        let idx = Index::create(&path, Header::new(id(), 1, 1)).unwrap();
        assert!(!idx.replaced().unwrap());
        drop(idx);
        let copy = t.path().join("copy");
        std::fs::copy(&path, &copy).unwrap();
        std::fs::remove_file(&path).unwrap();
        std::fs::rename(&copy, &path).unwrap();
        let idx = Index::open(&path).unwrap();
        assert!(idx.replaced().unwrap());
        assert!(idx.load().unwrap().replaced);
        idx.write(id(), |_| Ok(())).unwrap();
        assert!(!idx.replaced().unwrap());
        // Revision 1: no stamp at all.
        idx.h
            .write(|txn| {
                let mut t = txn.open_table(HEADER_TABLE).map_err(idx.h.err())?;
                t.remove(FILE_KEY).map_err(idx.h.err())?;
                Ok(())
            })
            .unwrap();
        assert!(!idx.replaced().unwrap());
        drop(idx);
        assert!(!Reader::open(&path).unwrap().load().unwrap().replaced);
    }

    #[test]
    fn index_round_trip_on_disk() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("msgstore.index");
        let idx = Index::create(&path, Header::new(id(), 1, 1)).unwrap();
        let r = Record {
            uid: 1.into(),
            ..Record::default()
        };
        idx.write(id(), |w| {
            let mut h = Header::new(id(), 2, 2);
            h.exists = 1.into();
            w.set_header(&h)?;
            w.put_record(&r)?;
            w.set_keywords(&["$Junk".into()])
        })
        .unwrap();
        drop(idx);
        let st = Index::open(&path).unwrap().load().unwrap();
        assert_eq!(st.header.uidvalidity.get(), 77);
        assert_eq!(st.records.len(), 1);
        assert_eq!(st.keywords, vec!["$Junk".to_string()]);
        let st2 = Reader::open(&path).unwrap().load().unwrap();
        assert_eq!(st2.header.uidnext.get(), 2);
        // Sealed for another mailbox, nothing passes.
        let other = Identity {
            mailbox_id: 10,
            ..id()
        };
        let idx = Index::open(&path).unwrap();
        assert!(
            idx.write(other, |w| w.set_header(&Header::new(id(), 2, 2)))
                .is_err()
        );
    }

    #[test]
    fn keyword_lists_are_bound_to_their_mailbox() {
        let names = vec!["$Junk".to_string(), "Work".to_string()];
        let enc = encode_keywords(id(), &names);
        assert_eq!(decode_keywords(id(), &enc), Some((names, enc.len())));
        let other = Identity {
            uidvalidity: 78,
            ..id()
        };
        assert_eq!(decode_keywords(other, &enc), None);
    }

    #[test]
    fn garbage_index_is_an_error_not_a_panic() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("msgstore.index");
        std::fs::write(&path, vec![0x5a; 10000]).unwrap();
        assert!(Index::open(&path).is_err());
        assert!(Index::open_checked(&path).is_err());
        assert!(Reader::open(&path).and_then(|r| r.load()).is_err());
    }
}
