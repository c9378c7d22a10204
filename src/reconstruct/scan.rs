//! Scanning a mailbox directory and reading its message files. Reading is the
//! only step that touches message bytes; it runs in parallel and reads each file
//! once, hashing and (only when needed) parsing the same buffer.

use super::merge::FileId;
use crate::error::{Error, Result};
use crate::index::CacheEntry;
use crate::index::record::Record;
use crate::store::fsutil::describe;
use crate::store::{Entry, classify};
use std::cell::RefCell;
use std::fs::{DirEntry, File, Metadata};
use std::io::Read;
use std::os::unix::fs::{MetadataExt, OpenOptionsExt};
use std::path::{Path, PathBuf};

/// What a mailbox directory holds, by name.
#[derive(Debug, Default)]
pub struct Listing {
    /// Message files `<uid>.` that are regular files (by the directory entry's
    /// type: listing stats nothing; each file is stat'ed by its reader, in parallel).
    pub messages: Vec<(u32, DirEntry)>,
    /// Files already set aside as `<uid>.BAD`.
    pub bad: Vec<String>,
    pub temp: Vec<PathBuf>,
    /// What holds the name `msgstore.index`.
    pub index: IndexFile,
    /// UIDs whose name `<uid>.` something other than a regular file holds (a
    /// directory, a link, a FIFO): left alone, and never given to a message.
    pub blocked: Vec<u32>,
    /// Anything else, and what it is: left alone and reported (links among them:
    /// never followed).
    pub unknown: Vec<(String, &'static str)>,
}

/// What the directory holds under the index's name.
#[derive(Debug, Default, PartialEq, Eq)]
pub enum IndexFile {
    #[default]
    Missing,
    Regular,
    /// A FIFO, a directory, a link...: damage, set aside (never opened).
    Other(&'static str),
}

pub fn list_dir(dir: &Path) -> Result<Listing> {
    let mut out = Listing::default();
    let rd = std::fs::read_dir(dir).map_err(|e| Error::io(dir, "read mailbox directory", e))?;
    for item in rd {
        let item = item.map_err(|e| Error::io(dir, "read mailbox directory", e))?;
        let Some(name) = item.file_name().to_str().map(str::to_owned) else {
            out.unknown.push((
                item.file_name().to_string_lossy().into_owned(),
                "a name that is not UTF-8",
            ));
            continue;
        };
        // The type from the directory entry (lstat only where the file system does
        // not give it): a link is reported, never followed out of the store.
        let ft = item
            .file_type()
            .map_err(|e| Error::io(item.path(), "stat", e))?;
        match classify(&name) {
            Entry::Message(uid) if ft.is_file() => out.messages.push((uid, item)),
            Entry::Message(uid) => {
                out.blocked.push(uid);
                out.unknown.push((name, describe(ft)));
            }
            Entry::Bad(_) if ft.is_file() => out.bad.push(name),
            Entry::Temp if ft.is_file() => out.temp.push(item.path()),
            Entry::Index if ft.is_file() => out.index = IndexFile::Regular,
            Entry::Index => out.index = IndexFile::Other(describe(ft)),
            Entry::Lock if ft.is_file() => {}
            Entry::SetAside => {}
            Entry::Folder(_) if ft.is_dir() => {}
            _ if ft.is_file() => out.unknown.push((name, "a file the store does not name")),
            _ => out.unknown.push((name, describe(ft))),
        }
    }
    out.messages.sort_unstable_by_key(|m| m.0);
    out.bad.sort();
    out.blocked.sort_unstable();
    out.unknown.sort();
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

/// Opens a message file for reading: without updating the access time where the
/// kernel allows it (a dry run must not change a timestamp), never through a
/// symbolic link (the listing saw a regular file; a link put there since is
/// refused), never blocking (a FIFO put there since opens at once and is refused
/// by its type).
fn open_message(path: &Path) -> std::io::Result<File> {
    let base = libc::O_NOFOLLOW | libc::O_NONBLOCK | libc::O_CLOEXEC;
    match std::fs::OpenOptions::new()
        .read(true)
        .custom_flags(base | libc::O_NOATIME)
        .open(path)
    {
        Ok(f) => Ok(f),
        // EPERM: O_NOATIME on a file we do not own; anything else is final.
        Err(e) if e.raw_os_error() == Some(libc::EPERM) => std::fs::OpenOptions::new()
            .read(true)
            .custom_flags(base)
            .open(path),
        Err(e) => Err(e),
    }
}

pub fn file_id(meta: &Metadata) -> FileId {
    FileId {
        len: meta.len(),
        dev: meta.dev(),
        ino: meta.ino(),
        mtime_ns: mtime_ns(meta),
    }
}

pub fn mtime_ns(meta: &Metadata) -> i64 {
    meta.mtime()
        .saturating_mul(1_000_000_000)
        .saturating_add(meta.mtime_nsec())
}

/// Reads a whole file of about `expect` bytes into `buf`, and gives the bytes read.
/// `buf` keeps its length between files: `read_to_end` into a cleared vector zeroes
/// its spare room before every read (1.5% of a full rebuild's profile), and would
/// ask the kernel for the size again (fstat and lseek), which the caller knows.
fn read_whole<'b>(file: &File, expect: usize, buf: &'b mut Vec<u8>) -> std::io::Result<&'b [u8]> {
    // One byte more than expected, so that a file that did not grow ends in one read.
    let room = expect.saturating_add(1);
    if buf.len() < room {
        buf.resize(room, 0);
    }
    let mut n = 0;
    loop {
        if n == buf.len() {
            // The file grew since it was stat'ed: read on to its end.
            buf.resize(n.saturating_mul(2).max(4096), 0);
        }
        match (&mut &*file).read(&mut buf[n..]) {
            Ok(0) => return Ok(&buf[..n]),
            Ok(k) => n += k,
            Err(e) if e.kind() == std::io::ErrorKind::Interrupted => {}
            Err(e) => return Err(e),
        }
    }
}

/// A read buffer kept larger than this is dropped after use: one huge message must
/// not pin its size in every worker for the rest of the run.
const KEEP_BUFFER: usize = 4 << 20;

thread_local! {
    /// Each worker thread's read buffer, reused from file to file. A buffer per
    /// rayon split (`map_init`) was new memory every few files: 9-19% of a full
    /// rebuild's profile samples were the kernel zeroing freshly faulted pages.
    static READ_BUFFER: RefCell<Vec<u8>> = const { RefCell::new(Vec::new()) };
}

/// Reads one message file into its thread's buffer and decides what it is.
/// One open, one fstat and the reads; `--quick` stats (relative to the directory)
/// and reads nothing when the file's identity matches its record.
pub fn read_message(entry: &DirEntry, old: Option<&Record>, check: Check) -> (FileState, FileId) {
    READ_BUFFER.with(|cell| match cell.try_borrow_mut() {
        Ok(mut buf) => {
            let out = read_into(entry, old, check, &mut buf);
            if buf.capacity() > KEEP_BUFFER {
                *buf = Vec::new();
            }
            out
        }
        // Only if a read ever ran inside another on this thread (work stolen while
        // parsing): a buffer of its own rather than a panic.
        Err(_) => read_into(entry, old, check, &mut Vec::new()),
    })
}

fn read_into(
    entry: &DirEntry,
    old: Option<&Record>,
    check: Check,
    buf: &mut Vec<u8>,
) -> (FileState, FileId) {
    if let (Some(r), Check::Quick) = (old, check)
        && let Ok(meta) = entry.metadata()
    {
        let id = file_id(&meta);
        if meta.is_file() && id.matches(r) {
            return (FileState::Same, id);
        }
    }
    // Built only here: `--quick` over an unchanged file never needs the full path.
    let path = entry.path();
    let failed = |e: std::io::Error, what: &str| {
        (
            FileState::Failed(format!("{}: {what}: {e}", path.display())),
            FileId::default(),
        )
    };
    let file = match open_message(&path) {
        Ok(f) => f,
        Err(e) => return failed(e, "read"),
    };
    let meta = match file.metadata() {
        Ok(m) => m,
        Err(e) => return failed(e, "stat"),
    };
    if !meta.is_file() {
        return failed(std::io::Error::other("not a regular file"), "read");
    }
    let id = file_id(&meta);
    let expect = usize::try_from(meta.len()).unwrap_or(0);
    let buf = match read_whole(&file, expect, buf) {
        Ok(bytes) => bytes,
        Err(e) => return failed(e, "read"),
    };
    drop(file);
    if let Some(at) = crate::message::find_nul(buf) {
        return (FileState::Nul(at), id);
    }
    let guid = *blake3::hash(buf).as_bytes();
    if let Some(r) = old
        && check != Check::Full
        && r.guid == guid
    {
        return (FileState::Same, id);
    }
    let c = crate::mime::build(buf);
    let parsed = Parsed {
        guid,
        size: c.size,
        cache: CacheEntry::from(c),
    };
    (FileState::Parsed(Box::new(parsed)), id)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn entry_of(dir: &Path, name: &str) -> DirEntry {
        std::fs::read_dir(dir)
            .expect("read_dir")
            .map(|e| e.expect("entry"))
            .find(|e| e.file_name() == name)
            .expect("the file is listed")
    }

    #[test]
    fn the_read_buffer_is_reused_but_never_kept_huge() {
        let dir = tempfile::tempdir().expect("tempdir");
        let small = b"Subject: s\r\n\r\nbody\r\n".to_vec();
        let mut huge = b"Subject: h\r\n\r\n".to_vec();
        huge.resize(KEEP_BUFFER + 100, b'x');
        std::fs::write(dir.path().join("1."), &small).expect("write");
        std::fs::write(dir.path().join("2."), &huge).expect("write");
        let capacity = || READ_BUFFER.with_borrow(Vec::capacity);

        let (state, id) = read_message(&entry_of(dir.path(), "1."), None, Check::Hash);
        assert!(matches!(state, FileState::Parsed(_)));
        assert_eq!(id.len, small.len() as u64);
        let kept = capacity();
        assert!(kept > small.len(), "the buffer stays for the next file");

        let (state, id) = read_message(&entry_of(dir.path(), "2."), None, Check::Hash);
        let FileState::Parsed(p) = state else {
            panic!("a big message is parsed like any other");
        };
        assert_eq!(p.guid, *blake3::hash(&huge).as_bytes());
        assert_eq!(id.len, huge.len() as u64);
        assert_eq!(capacity(), 0, "a buffer past KEEP_BUFFER is let go");
    }
}
