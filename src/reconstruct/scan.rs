//! Scanning a mailbox directory and reading its message files. Reading is the
//! only step that touches message bytes; it runs in parallel and reads each file
//! once, hashing and (only when needed) parsing the same buffer.

use crate::error::{Error, Result};
use crate::index::CacheEntry;
use crate::index::record::Record;
use crate::store::{Entry, classify};
use std::fs::{File, Metadata};
use std::io::Read;
use std::os::unix::fs::{MetadataExt, OpenOptionsExt};
use std::path::{Path, PathBuf};

/// What a mailbox directory holds, by name.
#[derive(Debug, Default)]
pub struct Listing {
    /// Message files `<uid>.` that are regular files.
    pub messages: Vec<(u32, PathBuf, Metadata)>,
    /// Files already set aside as `<uid>.BAD`.
    pub bad: Vec<String>,
    pub temp: Vec<PathBuf>,
    /// Index files moved aside by earlier runs.
    pub set_aside: Vec<String>,
    /// Anything else: left alone and reported (symlinks among them: never followed).
    pub unknown: Vec<String>,
    /// Child mailbox directories (decoded names).
    pub folders: Vec<String>,
}

pub fn list_dir(dir: &Path) -> Result<Listing> {
    let mut out = Listing::default();
    let rd = std::fs::read_dir(dir).map_err(|e| Error::io(dir, "read mailbox directory", e))?;
    for item in rd {
        let item = item.map_err(|e| Error::io(dir, "read mailbox directory", e))?;
        let path = item.path();
        let Some(name) = item.file_name().to_str().map(str::to_owned) else {
            out.unknown
                .push(item.file_name().to_string_lossy().into_owned());
            continue;
        };
        // symlink_metadata: a link is reported, never followed out of the store.
        let meta = std::fs::symlink_metadata(&path).map_err(|e| Error::io(&path, "stat", e))?;
        let ft = meta.file_type();
        match classify(&name) {
            Entry::Message(uid) if ft.is_file() => out.messages.push((uid, path, meta)),
            Entry::Bad(_) if ft.is_file() => out.bad.push(name),
            Entry::Temp if ft.is_file() => out.temp.push(path),
            Entry::SetAside => out.set_aside.push(name),
            Entry::Index | Entry::Lock if ft.is_file() => {}
            Entry::Folder(f) if ft.is_dir() => out.folders.push(f),
            _ => out.unknown.push(name),
        }
    }
    out.messages.sort_by_key(|m| m.0);
    out.bad.sort();
    out.unknown.sort();
    out.folders.sort();
    Ok(out)
}

/// The outcome of reading one message file.
#[derive(Debug)]
pub enum FileState {
    /// The file matches its record: keep the record and its cache entry.
    Same,
    /// The file was read and parsed (new, changed, or --full).
    Parsed(Box<Parsed>),
    /// The file contains a NUL byte at this offset.
    Nul(usize),
    Failed(String),
}

#[derive(Debug)]
pub struct Parsed {
    pub guid: [u8; 32],
    pub size: u64,
    pub cache: CacheEntry,
}

/// How much to trust a file that has a record.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Check {
    /// Trust size, mtime and inode; read nothing (`--quick`).
    Quick,
    /// Hash the content (the default).
    Hash,
    /// Re-parse everything (`--full`).
    Full,
}

/// Opens for reading without updating the access time where the kernel allows it
/// (a dry run must not change a timestamp).
fn open_noatime(path: &Path) -> std::io::Result<File> {
    #[cfg(target_os = "linux")]
    {
        const O_NOATIME: i32 = 0o1_000_000;
        if let Ok(f) = std::fs::OpenOptions::new()
            .read(true)
            .custom_flags(O_NOATIME)
            .open(path)
        {
            return Ok(f);
        }
    }
    File::open(path)
}

pub fn same_identity(r: &Record, meta: &Metadata) -> bool {
    r.file_size.get() == meta.len()
        && r.file_ino.get() == meta.ino()
        && r.file_dev.get() == meta.dev()
        && r.file_mtime_ns.get() == mtime_ns(meta)
}

pub fn mtime_ns(meta: &Metadata) -> i64 {
    meta.mtime()
        .saturating_mul(1_000_000_000)
        .saturating_add(meta.mtime_nsec())
}

/// Reads one message file into `buf` (reused per worker) and decides what it is.
pub fn read_message(
    path: &Path,
    meta: &Metadata,
    old: Option<&Record>,
    check: Check,
    buf: &mut Vec<u8>,
) -> FileState {
    if let (Some(r), Check::Quick) = (old, check)
        && same_identity(r, meta)
    {
        return FileState::Same;
    }
    buf.clear();
    let read = open_noatime(path).and_then(|mut f| f.read_to_end(buf));
    if let Err(e) = read {
        return FileState::Failed(format!("{}: read: {e}", path.display()));
    }
    if let Some(at) = crate::message::find_nul(buf) {
        return FileState::Nul(at);
    }
    let guid = *blake3::hash(buf).as_bytes();
    if let Some(r) = old
        && check != Check::Full
        && r.guid == guid
    {
        return FileState::Same;
    }
    let c = crate::imap::build(buf);
    FileState::Parsed(Box::new(Parsed {
        guid,
        size: c.size,
        cache: CacheEntry {
            body_offset: c.header_size_physical,
            header_size: c.header_size,
            body_size: c.body_size,
            envelope: c.envelope,
            bodystructure: c.bodystructure,
            body: c.body,
        },
    }))
}
