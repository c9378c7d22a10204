//! Maildir, as qmail defined it (<https://cr.yp.to/proto/maildir.html>) and
//! Dovecot keeps it: one message per file in `cur/` or `new/` (`tmp/` holds
//! deliveries in progress and is never read), flags in the name after `:2,`
//! (`S` \Seen, `R` \Answered, `F` \Flagged, `T` \Deleted, `D` \Draft, `P`
//! $Forwarded; `a`..`z` the keywords a folder's `dovecot-keywords` numbers 0..25),
//! the file's modification time as INTERNALDATE. Maildir++ keeps folders as
//! sibling directories `.Sent`, `.Archive.2023` (`.` separates levels, names in
//! modified UTF-7), each a Maildir with its own `dovecot-keywords`.
//!
//! Reading never follows a symbolic link and opens only regular files, never in a
//! way that can block: what else is found is reported by name. Writing creates new
//! files only, the Maildir way: written and fsynced in `tmp/`, then linked into
//! `cur/` (a link never replaces a name).
//!
//! An INTERNALDATE's zone has no place in a Maildir; a non-zero one is written as a
//! `,Z=+HHMM` field of the name (as Dovecot adds `,S=` and `,W=`; other readers
//! ignore it) and read back, so an export imports with the very same dates.

use super::{FORWARDED, Flags, Item, MAX_MESSAGE, Message, Problem, mutf7, read_capped};
use crate::error::{Error, Result};
use crate::store::fsutil::{Access, OpenError, open_regular, sync_dir};
use std::collections::HashMap;
use std::ffi::OsString;
use std::fs;
use std::io::Write;
use std::os::unix::ffi::{OsStrExt, OsStringExt};
use std::os::unix::fs::MetadataExt;
use std::path::{Path, PathBuf};

/// Dovecot's keyword file: `<index> <name>` per line, index 0 for `a`.
pub const KEYWORDS_FILE: &str = "dovecot-keywords";
/// Dovecot's UID list: the order its UIDs give the files.
pub const UIDLIST_FILE: &str = "dovecot-uidlist";
/// Maildir++ marks each folder with this empty file.
pub const FOLDER_MARK: &str = "maildirfolder";
/// Keyword letters `a`..`z`.
pub const MAX_KEYWORDS: usize = 26;

fn is_real_dir(p: &Path) -> bool {
    fs::symlink_metadata(p).is_ok_and(|m| m.is_dir())
}

/// Whether `path` is a Maildir: a directory with `cur/` or `new/` (neither a link).
pub fn is_maildir(path: &Path) -> bool {
    fs::metadata(path).is_ok_and(|m| m.is_dir())
        && (is_real_dir(&path.join("cur")) || is_real_dir(&path.join("new")))
}

fn show(p: &Path) -> String {
    p.display().to_string()
}

/// A Maildir++ folder below a Maildir: its levels (decoded) and its directory.
#[derive(Debug)]
pub struct SubFolder {
    pub parts: Vec<String>,
    pub path: PathBuf,
}

/// The Maildir++ folders of the Maildir at `root`, sorted by name (parents before
/// children); what looks like a folder but cannot be one is a [`Problem`], and
/// what is merely worth knowing a warning.
pub fn folders(root: &Path) -> Result<(Vec<SubFolder>, Vec<Problem>, Vec<String>)> {
    let mut subs = Vec::new();
    let mut problems = Vec::new();
    let mut warnings = Vec::new();
    let rd = fs::read_dir(root).map_err(|e| Error::io(root, "read directory", e))?;
    for item in rd {
        let item = item.map_err(|e| Error::io(root, "read directory", e))?;
        let name = item.file_name();
        let path = item.path();
        let bytes = name.as_bytes();
        let Ok(ft) = item.file_type() else { continue };
        if !bytes.starts_with(b".") || bytes == b"." || bytes == b".." {
            // The fs layout (mbsync's `SubFolders Verbatim`) keeps folders as plain
            // subdirectories: said, not guessed at.
            if ft.is_dir() && !matches!(bytes, b"cur" | b"new" | b"tmp") && is_maildir(&path) {
                warnings.push(format!(
                    "{}: a Maildir inside the Maildir, not a Maildir++ folder (`.{}`): not imported; import it by itself",
                    show(&path),
                    name.to_string_lossy()
                ));
            }
            continue;
        }
        if ft.is_symlink() {
            if is_maildir(&path) || fs::metadata(&path).is_err() {
                problems.push(Problem::new(
                    show(&path),
                    "a symbolic link, never followed: the folder is not imported",
                ));
            }
            continue;
        }
        if !ft.is_dir() || !is_maildir(&path) {
            continue;
        }
        let Some(rest) = std::str::from_utf8(&bytes[1..]).ok() else {
            problems.push(Problem::new(
                show(&path),
                "the folder's name is not UTF-8 or modified UTF-7: not imported",
            ));
            continue;
        };
        if rest.split('.').any(str::is_empty) {
            problems.push(Problem::new(
                show(&path),
                "not a Maildir++ folder name (an empty level between dots): not imported",
            ));
            continue;
        }
        let mut parts = Vec::new();
        for level in rest.split('.') {
            // Dovecot writes modified UTF-7; with `UTF-8` in its layout, plain UTF-8.
            let decoded = if level.is_ascii() {
                mutf7::decode(level)
            } else {
                Some(level.to_owned())
            };
            match decoded {
                Some(d) => parts.push(d),
                None => {
                    warnings.push(format!(
                        "{}: {level:?} is not valid modified UTF-7; the folder keeps the name as it is",
                        show(&path)
                    ));
                    parts.push(level.to_owned());
                }
            }
        }
        subs.push(SubFolder { parts, path });
    }
    subs.sort_by(|a, b| a.parts.cmp(&b.parts));
    problems.sort_by(|a, b| a.source.cmp(&b.source));
    Ok((subs, problems, warnings))
}

/// One file to read.
#[derive(Debug)]
struct Entry {
    path: PathBuf,
    name: OsString,
    size: u64,
}

/// A Maildir folder, listed: its message files in the order to import them
/// (Dovecot's UIDs where `dovecot-uidlist` gives them, then by name, which starts
/// with the delivery time), and what was found that is no message file.
#[derive(Debug)]
pub struct Folder {
    pub path: PathBuf,
    entries: Vec<Entry>,
    keywords: Vec<Option<String>>,
    problems: Vec<Problem>,
    warnings: Vec<String>,
}

impl Folder {
    /// Lists the Maildir at `path` (which [`is_maildir`]).
    pub fn open(path: &Path) -> Result<Folder> {
        let mut f = Folder {
            path: path.to_owned(),
            entries: Vec::new(),
            keywords: vec![None; MAX_KEYWORDS],
            problems: Vec::new(),
            warnings: Vec::new(),
        };
        for sub in ["cur", "new"] {
            let dir = path.join(sub);
            match fs::symlink_metadata(&dir) {
                Ok(m) if m.is_dir() => {}
                Ok(m) => {
                    f.problems.push(Problem::new(
                        show(&dir),
                        format!(
                            "{}, not a directory: never followed, nothing in it imported",
                            crate::store::fsutil::describe(m.file_type())
                        ),
                    ));
                    continue;
                }
                Err(_) => continue,
            }
            let rd = fs::read_dir(&dir).map_err(|e| Error::io(&dir, "read directory", e))?;
            for item in rd {
                let item = item.map_err(|e| Error::io(&dir, "read directory", e))?;
                let name = item.file_name();
                // Maildir readers skip names that start with a dot.
                if name.as_bytes().starts_with(b".") {
                    continue;
                }
                let p = item.path();
                let meta = match fs::symlink_metadata(&p) {
                    Ok(m) => m,
                    Err(e) if e.kind() == std::io::ErrorKind::NotFound => continue,
                    Err(e) => return Err(Error::io(&p, "stat", e)),
                };
                if meta.file_type().is_symlink() {
                    let why = if fs::metadata(&p).is_err() {
                        "a dangling symbolic link, never followed: not imported"
                    } else {
                        "a symbolic link, never followed: not imported"
                    };
                    f.problems.push(Problem::new(show(&p), why));
                    continue;
                }
                if !meta.file_type().is_file() {
                    f.problems.push(Problem::new(
                        show(&p),
                        format!(
                            "{}, not a message file: not imported",
                            crate::store::fsutil::describe(meta.file_type())
                        ),
                    ));
                    continue;
                }
                f.entries.push(Entry {
                    path: p,
                    name,
                    size: meta.len(),
                });
            }
        }
        f.read_keywords();
        let uids = f.read_uidlist();
        f.entries.sort_by(|a, b| {
            let ua = uids.get(base_name(a.name.as_bytes()));
            let ub = uids.get(base_name(b.name.as_bytes()));
            match (ua, ub) {
                (Some(x), Some(y)) => x.cmp(y),
                (Some(_), None) => std::cmp::Ordering::Less,
                (None, Some(_)) => std::cmp::Ordering::Greater,
                (None, None) => a.name.cmp(&b.name),
            }
            .then_with(|| a.path.cmp(&b.path))
        });
        f.problems.sort_by(|a, b| a.source.cmp(&b.source));
        Ok(f)
    }

    /// Message files found.
    pub fn len(&self) -> usize {
        self.entries.len()
    }

    pub fn is_empty(&self) -> bool {
        self.entries.is_empty()
    }

    /// Their bytes, for a progress bar.
    pub fn total_bytes(&self) -> u64 {
        self.entries.iter().map(|e| e.size).sum()
    }

    /// `dovecot-keywords`: bad lines are warned about and left out.
    fn read_keywords(&mut self) {
        let path = self.path.join(KEYWORDS_FILE);
        let Some(text) = self.small_file(&path) else {
            return;
        };
        for line in text.lines() {
            let line = line.trim_end_matches('\r');
            if line.trim().is_empty() {
                continue;
            }
            let parsed = line.split_once(' ').and_then(|(i, name)| {
                let i: usize = i.parse().ok()?;
                (i < MAX_KEYWORDS && is_atom(name)).then(|| (i, name.to_owned()))
            });
            match parsed {
                Some((i, name)) => self.keywords[i] = Some(name),
                None => self.warnings.push(format!(
                    "{}: line {line:?} is not `<0-25> <keyword>`: left out",
                    show(&path)
                )),
            }
        }
    }

    /// `dovecot-uidlist`: base file name -> Dovecot's UID.
    fn read_uidlist(&mut self) -> HashMap<Vec<u8>, u32> {
        let mut out = HashMap::new();
        let path = self.path.join(UIDLIST_FILE);
        let Some(text) = self.small_file(&path) else {
            return out;
        };
        for line in text.lines().skip(1) {
            let Some((uid, rest)) = line.split_once(' ') else {
                continue;
            };
            let Ok(uid) = uid.parse::<u32>() else {
                continue;
            };
            // Version 3: `<uid> [<key><value>...] :<name>`; older: `<uid> <flags> <name>`.
            let name = match rest.split_once(" :") {
                Some((_, n)) => n,
                None => rest
                    .strip_prefix(':')
                    .unwrap_or_else(|| rest.rsplit(' ').next().unwrap_or(rest)),
            };
            out.insert(base_name(name.as_bytes()).to_vec(), uid);
        }
        out
    }

    /// A small regular file of the Maildir as text; none if absent, and a warning
    /// if it is something else or unreadable.
    fn small_file(&mut self, path: &Path) -> Option<String> {
        const LIMIT: u64 = 64 << 20;
        let f = match open_regular(path, Access::Read) {
            Ok(f) => f,
            Err(e) if e.is_not_found() => return None,
            Err(e) => {
                self.warnings.push(format!(
                    "{}: left out: {}",
                    show(path),
                    e.into_error(path, "open")
                ));
                return None;
            }
        };
        match read_capped(f, path, LIMIT) {
            Ok(b) if b.len() as u64 <= LIMIT => Some(String::from_utf8_lossy(&b).into_owned()),
            Ok(_) => {
                self.warnings.push(format!(
                    "{}: larger than {LIMIT} bytes: left out",
                    show(path)
                ));
                None
            }
            Err(e) => {
                self.warnings.push(format!("{}: left out: {e}", show(path)));
                None
            }
        }
    }

    /// The listing's problems and warnings, then each message file, read one at a
    /// time; with each item, the bytes of the listing it stands for (for progress).
    pub fn items(self) -> impl Iterator<Item = (Item, u64)> {
        let Folder {
            entries,
            keywords,
            problems,
            warnings,
            ..
        } = self;
        let head = warnings
            .into_iter()
            .map(|w| (Item::Note(w), 0))
            .chain(problems.into_iter().map(|p| (Item::Problem(p), 0)));
        head.chain(entries.into_iter().map(move |e| {
            let size = e.size;
            (read_entry(&e, &keywords), size)
        }))
    }
}

/// The name up to its info (`:2,...`).
fn base_name(name: &[u8]) -> &[u8] {
    match memchr::memchr(b':', name) {
        Some(i) => &name[..i],
        None => name,
    }
}

/// An IMAP atom fit to be a keyword (RFC 3501: no specials, spaces or controls).
pub fn is_atom(s: &str) -> bool {
    !s.is_empty()
        && s.len() <= 200
        && s.bytes()
            .all(|b| b > 0x20 && b < 0x7f && !b"(){%*\"\\]".contains(&b))
}

fn read_entry(e: &Entry, keywords: &[Option<String>]) -> Item {
    let label = show(&e.path);
    let f = match open_regular(&e.path, Access::Read) {
        Ok(f) => f,
        Err(OpenError::NotRegular(what)) => {
            return Item::Problem(Problem::new(
                label,
                format!("{what}, not a message file: not imported"),
            ));
        }
        Err(OpenError::Io(err)) if err.kind() == std::io::ErrorKind::NotFound => {
            return Item::Problem(Problem::new(label, "removed while the import ran"));
        }
        Err(OpenError::Io(err)) => {
            return Item::Problem(Problem::new(label, format!("cannot open it: {err}")));
        }
    };
    let meta = match f.metadata() {
        Ok(m) => m,
        Err(err) => return Item::Problem(Problem::new(label, format!("cannot stat it: {err}"))),
    };
    if meta.len() > MAX_MESSAGE {
        return Item::Problem(Problem::new(
            label,
            format!("larger than {MAX_MESSAGE} bytes, the most an import reads: not imported"),
        ));
    }
    let bytes = match read_capped(f, &e.path, MAX_MESSAGE) {
        Ok(b) if b.len() as u64 <= MAX_MESSAGE => b,
        Ok(_) => {
            return Item::Problem(Problem::new(
                label,
                format!("larger than {MAX_MESSAGE} bytes, the most an import reads: not imported"),
            ));
        }
        Err(err) => return Item::Problem(Problem::new(label, err.to_string())),
    };
    let (flags, zone, warnings) = parse_name(e.name.as_bytes(), keywords, &label);
    Item::Message(Message {
        label,
        bytes,
        flags,
        date: Some((meta.mtime(), zone)),
        warnings,
    })
}

/// Flags, zone and what was odd (said of `shown`), from a file name.
pub fn parse_name(
    name: &[u8],
    keywords: &[Option<String>],
    shown: &str,
) -> (Flags, i16, Vec<String>) {
    let mut flags = Flags::default();
    let mut warnings = Vec::new();
    let base = base_name(name);
    let zone = zone_field(base).unwrap_or(0);
    if base.len() < name.len() {
        let info = &name[base.len() + 1..];
        if let Some(letters) = info.strip_prefix(b"2,") {
            for &c in letters {
                match c {
                    b'S' => flags.seen = true,
                    b'R' => flags.answered = true,
                    b'F' => flags.flagged = true,
                    b'T' => flags.deleted = true,
                    b'D' => flags.draft = true,
                    b'P' => flags.add_keyword(FORWARDED),
                    b'a'..=b'z' => match keywords.get(usize::from(c - b'a')).cloned().flatten() {
                        Some(k) => flags.add_keyword(&k),
                        None => warnings.push(format!(
                            "{shown}: flag letter `{}` has no keyword in {KEYWORDS_FILE}: left out",
                            c as char
                        )),
                    },
                    // Dovecot's `,` separates extension fields after the flags.
                    b',' => break,
                    _ => warnings.push(format!(
                        "{shown}: unknown flag `{}`: left out",
                        String::from_utf8_lossy(&[c])
                    )),
                }
            }
        } else {
            warnings.push(format!(
                "{shown}: the part after `:` is not `2,<flags>`: imported without flags"
            ));
        }
    }
    (flags, zone, warnings)
}

/// The `,Z=+HHMM` field of a base name, if it has a valid one.
fn zone_field(base: &[u8]) -> Option<i16> {
    let at = memchr::memmem::find(base, b",Z=")?;
    let v = base.get(at + 3..at + 8)?;
    if let Some(&next) = base.get(at + 8)
        && next != b','
    {
        return None;
    }
    zone_value(v)
}

/// `+HHMM` / `-HHMM` as minutes east of UTC.
pub(crate) fn zone_value(v: &[u8]) -> Option<i16> {
    let [sign, h1, h2, m1, m2] = *v else {
        return None;
    };
    if !(sign == b'+' || sign == b'-') || ![h1, h2, m1, m2].iter().all(u8::is_ascii_digit) {
        return None;
    }
    let h = i16::from(h1 - b'0') * 10 + i16::from(h2 - b'0');
    let m = i16::from(m1 - b'0') * 10 + i16::from(m2 - b'0');
    if h > 23 || m > 59 {
        return None;
    }
    let z = h * 60 + m;
    Some(if sign == b'-' { -z } else { z })
}

pub(crate) fn zone_text(zone: i16) -> String {
    let sign = if zone < 0 { '-' } else { '+' };
    let z = zone.unsigned_abs();
    format!("{sign}{:02}{:02}", z / 60, z % 60)
}

/// The directory of a Maildir++ folder below `root`; `Err` says why a name cannot
/// be one (a level containing `.`, the separator).
pub fn folder_path(root: &Path, parts: &[String]) -> std::result::Result<PathBuf, String> {
    if parts.is_empty() {
        return Ok(root.to_owned());
    }
    let mut name = String::new();
    for p in parts {
        if p.contains('.') {
            return Err(format!(
                "{p:?} contains `.`, the level separator of Maildir++ folder names; rename the mailbox to export it"
            ));
        }
        name.push('.');
        name.push_str(&mutf7::encode(p));
    }
    if name.len() > 255 {
        return Err("its Maildir++ folder name would be longer than 255 bytes".into());
    }
    Ok(root.join(name))
}

/// Writes one Maildir folder: new files only.
pub struct Writer {
    path: PathBuf,
    /// Keywords that have a letter, index 0 = `a`.
    letters: Vec<String>,
    prefix: String,
    host: String,
}

impl Writer {
    /// Makes a Maildir at `path`, which must not exist, or (`may_exist`) be an
    /// empty directory; `keywords` are those its messages use, of which the first
    /// 26 get a letter (in `dovecot-keywords`), and the rest are returned: a
    /// Maildir cannot hold them. `subfolder` adds Maildir++'s `maildirfolder`.
    pub fn create(
        path: &Path,
        keywords: &[String],
        may_exist: bool,
        subfolder: bool,
    ) -> Result<(Writer, Vec<String>)> {
        match fs::symlink_metadata(path) {
            Err(e) if e.kind() == std::io::ErrorKind::NotFound => {
                fs::create_dir(path).map_err(|e| Error::io(path, "create directory", e))?;
            }
            Err(e) => return Err(Error::io(path, "stat", e)),
            Ok(m) if may_exist && m.is_dir() => {
                let mut rd =
                    fs::read_dir(path).map_err(|e| Error::io(path, "read directory", e))?;
                if rd.next().is_some() {
                    return Err(not_new(path));
                }
            }
            Ok(_) => return Err(not_new(path)),
        }
        for d in ["tmp", "new", "cur"] {
            let p = path.join(d);
            fs::create_dir(&p).map_err(|e| Error::io(&p, "create directory", e))?;
        }
        let mut letters: Vec<String> = Vec::new();
        let mut left = Vec::new();
        for k in keywords {
            if letters.iter().any(|x| x.eq_ignore_ascii_case(k)) {
                continue;
            }
            if letters.len() < MAX_KEYWORDS {
                letters.push(k.clone());
            } else {
                left.push(k.clone());
            }
        }
        if !letters.is_empty() {
            let mut text = String::new();
            for (i, k) in letters.iter().enumerate() {
                text.push_str(&format!("{i} {k}\n"));
            }
            write_new(&path.join(KEYWORDS_FILE), text.as_bytes(), None)?;
        }
        if subfolder {
            write_new(&path.join(FOLDER_MARK), b"", None)?;
        }
        let w = Writer {
            path: path.to_owned(),
            letters,
            prefix: format!("{}.P{}", crate::store::time::now_unix(), std::process::id()),
            host: hostname(),
        };
        Ok((w, left))
    }

    /// The file name for message number `seq` (names sort by `seq`).
    fn name(&self, seq: u32, flags: &Flags, zone: i16) -> String {
        let mut name = format!("{}Q{seq:010}.{}", self.prefix, self.host);
        if zone != 0 {
            name.push_str(",Z=");
            name.push_str(&zone_text(zone));
        }
        let mut letters: Vec<u8> = Vec::new();
        for (on, c) in [
            (flags.draft, b'D'),
            (flags.flagged, b'F'),
            (flags.has_keyword(FORWARDED), b'P'),
            (flags.answered, b'R'),
            (flags.seen, b'S'),
            (flags.deleted, b'T'),
        ] {
            if on {
                letters.push(c);
            }
        }
        // `$Forwarded` also gets its letter: Dovecot keeps it as a keyword, and
        // reads no `P`.
        for k in &flags.keywords {
            if let Some(i) = self.letters.iter().position(|x| x.eq_ignore_ascii_case(k)) {
                letters.push(b'a' + i as u8);
            }
        }
        letters.sort_unstable();
        letters.dedup();
        name.push_str(":2,");
        name.push_str(&String::from_utf8_lossy(&letters));
        name
    }

    /// Writes one message into `cur/`; returns its path.
    pub fn write(
        &self,
        seq: u32,
        bytes: &[u8],
        flags: &Flags,
        date: (i64, i16),
    ) -> Result<PathBuf> {
        let name = self.name(seq, flags, date.1);
        let tmp = self
            .path
            .join("tmp")
            .join(name.split(':').next().unwrap_or(&name));
        let dest = self.path.join("cur").join(&name);
        write_new(&tmp, bytes, Some(date.0))?;
        let linked = fs::hard_link(&tmp, &dest);
        let _ = fs::remove_file(&tmp);
        match linked {
            Ok(()) => Ok(dest),
            Err(e) if e.kind() == std::io::ErrorKind::AlreadyExists => Err(Error::io(
                &dest,
                "link",
                std::io::Error::other("the name is taken and is never replaced"),
            )),
            Err(e) => Err(Error::io(&dest, "link", e)),
        }
    }

    /// Makes what was written durable: the directories' entries.
    pub fn finish(self) -> Result<()> {
        for d in ["cur", "tmp"] {
            sync_dir(&self.path.join(d))?;
        }
        sync_dir(&self.path)?;
        if let Some(parent) = self.path.parent()
            && !parent.as_os_str().is_empty()
        {
            sync_dir(parent)?;
        }
        Ok(())
    }
}

fn not_new(path: &Path) -> Error {
    Error::Usage(format!(
        "{}: already exists and is not an empty directory; an export writes new files only: give a new or empty directory",
        show(path)
    ))
}

/// Creates a new file with `data` (its mtime set to `mtime`), fsynced.
pub(crate) fn write_new(path: &Path, data: &[u8], mtime: Option<i64>) -> Result<()> {
    let mut f = open_regular(path, Access::CreateNew).map_err(|e| e.into_error(path, "create"))?;
    f.write_all(data).map_err(|e| Error::io(path, "write", e))?;
    if let Some(t) = mtime {
        f.set_modified(super::system_time(t))
            .map_err(|e| Error::io(path, "set the modification time of", e))?;
    }
    f.sync_all().map_err(|e| Error::io(path, "fsync", e))
}

/// This host's name, as a Maildir name may hold it (`/` and `:` escaped as the
/// Maildir page says, `,` too: Dovecot reads fields after it).
fn hostname() -> String {
    let mut buf = [0u8; 256];
    // SAFETY: the buffer is valid for its length; gethostname NUL-terminates
    // within it or fails.
    let r = unsafe { libc::gethostname(buf.as_mut_ptr().cast(), buf.len()) };
    let raw = if r == 0 {
        let end = buf.iter().position(|&b| b == 0).unwrap_or(0);
        OsString::from_vec(buf[..end].to_vec())
    } else {
        OsString::new()
    };
    let mut out = String::new();
    for ch in raw.to_string_lossy().chars() {
        match ch {
            '/' => out.push_str("\\057"),
            ':' => out.push_str("\\072"),
            ',' => out.push_str("\\054"),
            c if c.is_control() || c == '.' && out.is_empty() => {}
            c => out.push(c),
        }
    }
    if out.is_empty() {
        out.push_str("localhost");
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    fn kw(names: &[&str]) -> Vec<Option<String>> {
        let mut v: Vec<Option<String>> = names.iter().map(|s| Some((*s).to_owned())).collect();
        v.resize(MAX_KEYWORDS, None);
        v
    }

    #[test]
    fn names_give_flags_keywords_and_zones() {
        let k = kw(&["$Forwarded", "Junk"]);
        let (f, z, w) = parse_name(b"1796148016.M79879P20123.vm,S=61,W=66:2,Rab", &k, "f");
        assert!(f.answered && !f.seen && w.is_empty());
        assert_eq!(f.keywords, ["$Forwarded", "Junk"]);
        assert_eq!(z, 0);
        let (f, _, w) = parse_name(b"x:2,DFPRSTc", &k, "f");
        assert!(f.draft && f.flagged && f.answered && f.seen && f.deleted);
        assert_eq!(f.keywords, ["$Forwarded"]);
        assert_eq!(w.len(), 1, "{w:?}");
        let (f, z, w) = parse_name(b"1.P2Q0000000003.host,Z=-0530:2,S", &k, "f");
        assert!(f.seen && w.is_empty());
        assert_eq!(z, -330);
        let (f, z, w) = parse_name(b"plain-new-file", &k, "f");
        assert_eq!((f, z), (Flags::default(), 0));
        assert!(w.is_empty());
        let (_, _, w) = parse_name(b"odd:1,xyz", &k, "f");
        assert_eq!(w.len(), 1);
        let (_, z, _) = parse_name(b"x,Z=+2500:2,", &k, "f");
        assert_eq!(z, 0, "an impossible zone is ignored");
    }

    #[test]
    fn folder_names_encode_and_refuse_dots() {
        let root = Path::new("/m");
        assert_eq!(
            folder_path(root, &["Archive".into(), "2023".into()]).unwrap(),
            Path::new("/m/.Archive.2023")
        );
        assert_eq!(
            folder_path(root, &["Überweisungen".into()]).unwrap(),
            Path::new("/m/.&ANw-berweisungen")
        );
        assert!(folder_path(root, &["v1.2".into()]).is_err());
    }

    #[test]
    fn writes_new_files_only_and_reads_them_back() {
        let d = tempfile::tempdir().unwrap();
        let p = d.path().join("md");
        let (w, left) =
            Writer::create(&p, &["Junk".into(), "$Forwarded".into()], false, false).unwrap();
        assert!(left.is_empty());
        let mut fl = Flags {
            seen: true,
            deleted: true,
            ..Flags::default()
        };
        fl.add_keyword("$Forwarded");
        fl.add_keyword("junk");
        w.write(1, b"Subject: a\r\n\r\nx\r\n", &fl, (1_000_000_000, 60))
            .unwrap();
        w.write(
            2,
            b"Subject: b\r\n\r\ny\r\n",
            &Flags::default(),
            (-86_400, 0),
        )
        .unwrap();
        w.finish().unwrap();
        assert!(Writer::create(&p, &[], true, false).is_err(), "not empty");
        let folder = Folder::open(&p).unwrap();
        assert_eq!(folder.len(), 2);
        let got: Vec<Message> = folder
            .items()
            .map(|(i, _)| match i {
                Item::Message(m) => m,
                other => panic!("{other:?}"),
            })
            .collect();
        assert_eq!(got[0].bytes, b"Subject: a\r\n\r\nx\r\n");
        assert_eq!(got[0].date, Some((1_000_000_000, 60)));
        assert!(got[0].flags.seen && got[0].flags.deleted);
        assert_eq!(got[0].flags.keywords, ["$Forwarded", "Junk"]);
        assert_eq!(got[1].date, Some((-86_400, 0)));
        assert_eq!(got[1].flags, Flags::default());
    }

    #[test]
    fn links_fifos_and_directories_are_problems_never_opened() {
        let d = tempfile::tempdir().unwrap();
        let p = d.path();
        for s in ["cur", "new", "tmp"] {
            fs::create_dir(p.join(s)).unwrap();
        }
        fs::write(p.join("cur/ok:2,S"), "Subject: ok\n\nbody\n").unwrap();
        fs::write(p.join("tmp/partial"), "Subject: half").unwrap();
        fs::write(p.join("cur/.hidden"), "x").unwrap();
        std::os::unix::fs::symlink("/nonexistent", p.join("cur/dangling:2,S")).unwrap();
        std::os::unix::fs::symlink("/etc/passwd", p.join("new/link")).unwrap();
        fs::create_dir(p.join("new/adir")).unwrap();
        let c = std::ffi::CString::new(p.join("new/fifo").to_str().unwrap()).unwrap();
        // SAFETY: a NUL-terminated path.
        assert_eq!(unsafe { libc::mkfifo(c.as_ptr(), 0o600) }, 0);
        let folder = Folder::open(p).unwrap();
        let items: Vec<Item> = folder.items().map(|(i, _)| i).collect();
        let problems: Vec<&Problem> = items
            .iter()
            .filter_map(|i| match i {
                Item::Problem(p) => Some(p),
                _ => None,
            })
            .collect();
        assert_eq!(problems.len(), 4, "{problems:?}");
        assert!(
            problems
                .iter()
                .any(|p| p.source.ends_with("dangling:2,S") && p.why.contains("dangling"))
        );
        assert!(
            problems
                .iter()
                .any(|p| p.source.ends_with("fifo") && p.why.contains("FIFO"))
        );
        let msgs = items
            .iter()
            .filter(|i| matches!(i, Item::Message(_)))
            .count();
        assert_eq!(msgs, 1);
    }

    #[test]
    fn random_names_never_panic() {
        let k = kw(&["a"]);
        let parts: [&[u8]; 9] = [
            b":", b"2,", b",Z=", b"+0100", b"-99", b"S", b"z", b"\xff", b",",
        ];
        let mut seed = 99u64;
        for _ in 0..3000 {
            let mut name = Vec::new();
            for _ in 0..(seed % 9) {
                seed = seed.wrapping_mul(6_364_136_223_846_793_005).wrapping_add(1);
                name.extend_from_slice(parts[(seed >> 33) as usize % parts.len()]);
            }
            seed = seed.wrapping_add(3);
            let _ = parse_name(&name, &k, "f");
        }
    }
}
