//! File-level primitives every layer above builds on. The write order in DESIGN.md
//! is only as good as the fsyncs behind it, and the store's promises rest on three
//! rules kept here: no rename or link ever replaces an existing name; nothing is
//! opened through a symbolic link; only regular files are opened, never in a way
//! that can block (a FIFO put where a file should be must not hang a repair).

use crate::error::{Error, Result};
use std::fs::{self, File, OpenOptions};
use std::io::Write;
use std::os::unix::fs::OpenOptionsExt;
use std::path::Path;

/// Flushes a directory so renames, links and unlinks in it survive a power cut.
pub fn sync_dir(dir: &Path) -> Result<()> {
    open_dir(dir)
        .and_then(|f| f.sync_all())
        .map_err(|e| Error::io(dir, "sync directory", e))
}

/// Opens a directory without following a symbolic link in its last component.
pub fn open_dir(dir: &Path) -> std::io::Result<File> {
    OpenOptions::new()
        .read(true)
        .custom_flags(libc::O_NOFOLLOW | libc::O_DIRECTORY | libc::O_CLOEXEC)
        .open(dir)
}

/// How [`open_regular`] opens a file.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Access {
    Read,
    ReadWrite,
    /// Read and write, creating the file if it does not exist.
    Create,
    /// Read and write a new file; fails if the name exists (even as a dangling link).
    CreateNew,
}

/// What a path holds instead of a regular file.
pub fn describe(ft: fs::FileType) -> &'static str {
    use std::os::unix::fs::FileTypeExt;
    if ft.is_dir() {
        "a directory"
    } else if ft.is_symlink() {
        "a symbolic link"
    } else if ft.is_fifo() {
        "a FIFO"
    } else if ft.is_socket() {
        "a socket"
    } else if ft.is_block_device() || ft.is_char_device() {
        "a device"
    } else {
        "not a regular file"
    }
}

/// Why [`open_regular`] failed.
#[derive(Debug)]
pub enum OpenError {
    /// The name holds something else (a FIFO, a directory, a symbolic link...).
    NotRegular(&'static str),
    Io(std::io::Error),
}

impl OpenError {
    pub fn into_error(self, path: &Path, op: &'static str) -> Error {
        match self {
            OpenError::NotRegular(what) => Error::io(
                path,
                op,
                std::io::Error::other(format!("not a regular file but {what}; move it away")),
            ),
            OpenError::Io(e) => Error::io(path, op, e),
        }
    }

    pub fn is_not_found(&self) -> bool {
        matches!(self, OpenError::Io(e) if e.kind() == std::io::ErrorKind::NotFound)
    }
}

/// Opens a regular file of the store: never through a symbolic link (the last
/// component; directories on the way are checked by whoever resolved the path),
/// never blocking (O_NONBLOCK: opening a FIFO returns at once), and refusing
/// anything that is not a regular file once opened.
pub fn open_regular(path: &Path, access: Access) -> std::result::Result<File, OpenError> {
    let mut o = OpenOptions::new();
    o.read(true);
    match access {
        Access::Read => {}
        Access::ReadWrite => {
            o.write(true);
        }
        Access::Create => {
            o.write(true).create(true);
        }
        Access::CreateNew => {
            o.write(true).create_new(true);
        }
    }
    o.custom_flags(libc::O_NOFOLLOW | libc::O_NONBLOCK | libc::O_CLOEXEC);
    let f = match o.open(path) {
        Ok(f) => f,
        // O_NOFOLLOW on a symbolic link: ELOOP. Say what it is.
        Err(e) if e.raw_os_error() == Some(libc::ELOOP) => {
            return Err(OpenError::NotRegular("a symbolic link"));
        }
        Err(e) => {
            // A directory opened for writing fails with EISDIR; with a read it opens.
            if let Ok(m) = fs::symlink_metadata(path)
                && !m.file_type().is_file()
                && e.kind() != std::io::ErrorKind::NotFound
            {
                return Err(OpenError::NotRegular(describe(m.file_type())));
            }
            return Err(OpenError::Io(e));
        }
    };
    let meta = f.metadata().map_err(OpenError::Io)?;
    if !meta.file_type().is_file() {
        return Err(OpenError::NotRegular(describe(meta.file_type())));
    }
    // Regular files ignore O_NONBLOCK; it is cleared anyway so that nothing later
    // sees a flag it does not expect.
    // SAFETY: fcntl on a descriptor this function owns, with integer arguments.
    unsafe {
        use std::os::fd::AsRawFd;
        let fd = f.as_raw_fd();
        let flags = libc::fcntl(fd, libc::F_GETFL);
        if flags >= 0 {
            libc::fcntl(fd, libc::F_SETFL, flags & !libc::O_NONBLOCK);
        }
    }
    Ok(f)
}

/// Whether `path` is a regular file (not following a link), without opening it.
pub fn is_regular(path: &Path) -> bool {
    fs::symlink_metadata(path).is_ok_and(|m| m.file_type().is_file())
}

/// Whether anything at all has this name (a dangling link included).
pub fn name_taken(path: &Path) -> bool {
    fs::symlink_metadata(path).is_ok()
}

/// Writes `data` to `tmp`, fsyncs it, then links it to `dest` without ever replacing
/// an existing name, and removes `tmp`. Returns false (and removes `tmp`) if `dest`
/// already exists: a file left by an interrupted delivery is never overwritten.
pub fn write_new_file(tmp: &Path, dest: &Path, data: &[u8]) -> Result<bool> {
    let result = (|| {
        let mut f =
            open_regular(tmp, Access::CreateNew).map_err(|e| e.into_error(tmp, "create"))?;
        if let Some(e) = crate::faults::io_error("deliver-write") {
            return Err(Error::io(tmp, "write", e));
        }
        f.write_all(data).map_err(|e| Error::io(tmp, "write", e))?;
        crate::faults::point("deliver-before-fsync");
        f.sync_all().map_err(|e| Error::io(tmp, "fsync", e))?;
        crate::faults::point("deliver-after-fsync");
        // link(2) never replaces an existing name, a dangling symbolic link included.
        match fs::hard_link(tmp, dest) {
            Ok(()) => Ok(true),
            Err(e) if e.kind() == std::io::ErrorKind::AlreadyExists => Ok(false),
            Err(e) => Err(Error::io(dest, "link", e)),
        }
    })();
    crate::faults::point("deliver-after-link");
    // The temporary name must go whatever happened; a leftover is removed by reconstruct.
    let _ = fs::remove_file(tmp);
    result
}

/// Renames `from` to `to` only if nothing has the name `to` (a dangling link
/// included): `renameat2(RENAME_NOREPLACE)`, or where the file system lacks it, a
/// link and an unlink for a file, which never replace either. Fails with
/// `AlreadyExists` if the name is taken.
pub fn rename_noreplace(from: &Path, to: &Path) -> std::io::Result<()> {
    use std::ffi::CString;
    use std::os::unix::ffi::OsStrExt;
    let c = |p: &Path| {
        CString::new(p.as_os_str().as_bytes())
            .map_err(|_| std::io::Error::from(std::io::ErrorKind::InvalidInput))
    };
    let (f, t) = (c(from)?, c(to)?);
    // SAFETY: both are NUL-terminated paths that live across the call.
    let r = unsafe {
        libc::renameat2(
            libc::AT_FDCWD,
            f.as_ptr(),
            libc::AT_FDCWD,
            t.as_ptr(),
            libc::RENAME_NOREPLACE,
        )
    };
    if r == 0 {
        return Ok(());
    }
    let e = std::io::Error::last_os_error();
    match e.raw_os_error() {
        Some(libc::EINVAL) | Some(libc::ENOSYS) | Some(libc::EOPNOTSUPP) => {}
        _ => return Err(e),
    }
    let meta = fs::symlink_metadata(from)?;
    if meta.file_type().is_dir() {
        // No link for directories: checked, then renamed. Callers hold the lock
        // that keeps others from creating the name meanwhile.
        if name_taken(to) {
            return Err(std::io::ErrorKind::AlreadyExists.into());
        }
        return fs::rename(from, to);
    }
    fs::hard_link(from, to)?;
    fs::remove_file(from)
}

/// Swaps the names of two files in one step (`renameat2(RENAME_EXCHANGE)`), so
/// neither name is ever missing and nothing is replaced. Where the file system
/// lacks it, `a` is renamed over `b`: callers keep another link to `b` first.
pub fn exchange(a: &Path, b: &Path) -> std::io::Result<()> {
    use std::ffi::CString;
    use std::os::unix::ffi::OsStrExt;
    let c = |p: &Path| {
        CString::new(p.as_os_str().as_bytes())
            .map_err(|_| std::io::Error::from(std::io::ErrorKind::InvalidInput))
    };
    let (x, y) = (c(a)?, c(b)?);
    // SAFETY: both are NUL-terminated paths that live across the call.
    let r = unsafe {
        libc::renameat2(
            libc::AT_FDCWD,
            x.as_ptr(),
            libc::AT_FDCWD,
            y.as_ptr(),
            libc::RENAME_EXCHANGE,
        )
    };
    if r == 0 {
        return Ok(());
    }
    let e = std::io::Error::last_os_error();
    match e.raw_os_error() {
        Some(libc::EINVAL) | Some(libc::ENOSYS) | Some(libc::EOPNOTSUPP) => {
            // `a`'s old name must still exist afterwards for the caller to remove.
            fs::hard_link(b, a.with_extension("exchanged"))?;
            fs::rename(a, b)?;
            fs::rename(a.with_extension("exchanged"), a)
        }
        _ => Err(e),
    }
}

/// [`rename_noreplace`], then a sync of the directory holding `to`.
pub fn rename_durable(from: &Path, to: &Path) -> Result<()> {
    rename_noreplace(from, to).map_err(|e| {
        if e.kind() == std::io::ErrorKind::AlreadyExists {
            Error::io(
                to,
                "rename into place",
                std::io::Error::other(format!(
                    "{} is in the way and is never replaced; move it away",
                    to.display()
                )),
            )
        } else {
            Error::io(from, "rename", e)
        }
    })?;
    crate::faults::point("rename-before-sync");
    if let Some(dir) = to.parent() {
        sync_dir(dir)?;
    }
    Ok(())
}

/// `name`, or `name.2`, `name.3`... whichever is not taken in `dir` yet. The caller
/// renames with [`rename_noreplace`], so a name taken meanwhile is an error, never a
/// replacement.
pub fn unique_name(dir: &Path, name: &str) -> String {
    if !name_taken(&dir.join(name)) {
        return name.to_owned();
    }
    (2u32..)
        .map(|i| format!("{name}.{i}"))
        .find(|n| !name_taken(&dir.join(n)))
        .unwrap_or_else(|| name.to_owned())
}

/// Moves `name` in `dir` aside as `name<infix><UTC time>` (made unique), never
/// replacing anything; returns the name it now has.
pub fn set_aside(dir: &Path, name: &str) -> Result<String> {
    let mut aside = unique_name(
        dir,
        &format!(
            "{name}{}{}",
            super::SET_ASIDE_INFIX,
            super::time::utc_stamp()
        ),
    );
    // Another process may take the name between the check and the rename: try the next.
    for _ in 0..16 {
        match rename_noreplace(&dir.join(name), &dir.join(&aside)) {
            Ok(()) => {
                sync_dir(dir)?;
                return Ok(aside);
            }
            Err(e) if e.kind() == std::io::ErrorKind::AlreadyExists => {
                aside = unique_name(dir, &aside);
            }
            Err(e) => return Err(Error::io(dir.join(name), "move aside", e)),
        }
    }
    Err(Error::io(
        dir.join(name),
        "move aside",
        std::io::Error::other("no free name to move it to"),
    ))
}

/// Flushes the whole file system holding `path` (`syncfs(2)`): what many small
/// files made at once cost in one flush instead of one each.
pub fn syncfs(path: &Path) -> Result<()> {
    use std::os::fd::AsRawFd;
    let f = open_dir(path).map_err(|e| Error::io(path, "open", e))?;
    // SAFETY: syncfs on a descriptor this function owns.
    if unsafe { libc::syncfs(f.as_raw_fd()) } != 0 {
        return Err(Error::io(
            path,
            "flush the file system",
            std::io::Error::last_os_error(),
        ));
    }
    Ok(())
}

/// Removes a directory and everything in it, calling `tick` once a file, for
/// progress. Links are removed, never followed. One already gone is fine.
pub fn remove_dir_tree_ticking(dir: &Path, tick: &dyn Fn(u64)) -> Result<()> {
    let rd = match std::fs::read_dir(dir) {
        Ok(rd) => rd,
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => return Ok(()),
        Err(e) => return Err(Error::io(dir, "read directory", e)),
    };
    for item in rd {
        let item = item.map_err(|e| Error::io(dir, "read directory", e))?;
        let p = item.path();
        if item.file_type().is_ok_and(|t| t.is_dir()) {
            remove_dir_tree_ticking(&p, tick)?;
        } else {
            match std::fs::remove_file(&p) {
                Ok(()) => tick(1),
                Err(e) if e.kind() == std::io::ErrorKind::NotFound => {}
                Err(e) => return Err(Error::io(&p, "remove", e)),
            }
        }
    }
    match std::fs::remove_dir(dir) {
        Ok(()) => Ok(()),
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => Ok(()),
        Err(e) => Err(Error::io(dir, "remove directory", e)),
    }
}

/// Removes a directory and everything in it; one already gone is fine.
pub fn remove_dir_tree(dir: &Path) -> Result<()> {
    match std::fs::remove_dir_all(dir) {
        Ok(()) => Ok(()),
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => Ok(()),
        Err(e) => Err(Error::io(dir, "remove directory", e)),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn no_rename_replaces_anything() {
        let d = tempfile::tempdir().unwrap();
        let (a, b) = (d.path().join("a"), d.path().join("b"));
        fs::write(&a, "a").unwrap();
        fs::write(&b, "b").unwrap();
        let e = rename_noreplace(&a, &b).unwrap_err();
        assert_eq!(e.kind(), std::io::ErrorKind::AlreadyExists);
        assert_eq!(fs::read(&b).unwrap(), b"b");
        // A dangling symbolic link is a name too.
        let l = d.path().join("l");
        std::os::unix::fs::symlink("/nonexistent", &l).unwrap();
        assert!(rename_noreplace(&a, &l).is_err());
        assert!(fs::symlink_metadata(&l).unwrap().file_type().is_symlink());
        rename_noreplace(&a, &d.path().join("c")).unwrap();
        assert!(!a.exists());
    }

    #[test]
    fn opens_refuse_links_fifos_and_directories_without_blocking() {
        let d = tempfile::tempdir().unwrap();
        let fifo = d.path().join("fifo");
        let c = std::ffi::CString::new(fifo.to_str().unwrap()).unwrap();
        // SAFETY: a NUL-terminated path.
        assert_eq!(unsafe { libc::mkfifo(c.as_ptr(), 0o600) }, 0);
        for access in [Access::Read, Access::ReadWrite, Access::Create] {
            assert!(matches!(
                open_regular(&fifo, access),
                Err(OpenError::NotRegular("a FIFO"))
            ));
        }
        let target = d.path().join("t");
        fs::write(&target, "x").unwrap();
        let link = d.path().join("link");
        std::os::unix::fs::symlink(&target, &link).unwrap();
        assert!(matches!(
            open_regular(&link, Access::Read),
            Err(OpenError::NotRegular("a symbolic link"))
        ));
        let dangling = d.path().join("dangling");
        std::os::unix::fs::symlink(d.path().join("nowhere"), &dangling).unwrap();
        assert!(open_regular(&dangling, Access::Create).is_err());
        assert!(
            !d.path().join("nowhere").exists(),
            "no file made through the link"
        );
        assert!(matches!(
            open_regular(d.path(), Access::Read),
            Err(OpenError::NotRegular("a directory"))
        ));
        assert!(open_regular(&target, Access::Read).is_ok());
    }

    #[test]
    fn unique_names_and_set_aside() {
        let d = tempfile::tempdir().unwrap();
        fs::write(d.path().join("x"), "1").unwrap();
        let a = set_aside(d.path(), "x").unwrap();
        assert!(a.starts_with("x.corrupt-"), "{a}");
        fs::write(d.path().join("x"), "2").unwrap();
        let b = set_aside(d.path(), "x").unwrap();
        assert_ne!(a, b);
        assert_eq!(fs::read(d.path().join(&a)).unwrap(), b"1");
        assert_eq!(fs::read(d.path().join(&b)).unwrap(), b"2");
    }
}
