//! Durable file operations: the write order in DESIGN.md is only as good as the
//! fsyncs behind it.

use crate::error::{Error, Result};
use std::fs::{self, File};
use std::io::Write;
use std::path::Path;

/// Flushes a directory so renames, links and unlinks in it survive a power cut.
pub fn sync_dir(dir: &Path) -> Result<()> {
    File::open(dir)
        .and_then(|f| f.sync_all())
        .map_err(|e| Error::io(dir, "sync directory", e))
}

/// Writes `data` to `tmp`, fsyncs it, then links it to `dest` without ever replacing
/// an existing file, and removes `tmp`. Returns false (and removes `tmp`) if `dest`
/// already exists: a file left by an interrupted delivery is never overwritten.
pub fn write_new_file(tmp: &Path, dest: &Path, data: &[u8]) -> Result<bool> {
    let result = (|| {
        let mut f = fs::OpenOptions::new()
            .write(true)
            .create_new(true)
            .open(tmp)
            .map_err(|e| Error::io(tmp, "create", e))?;
        if let Some(e) = crate::faults::io_error("deliver-write") {
            return Err(Error::io(tmp, "write", e));
        }
        f.write_all(data).map_err(|e| Error::io(tmp, "write", e))?;
        crate::faults::point("deliver-before-fsync");
        f.sync_all().map_err(|e| Error::io(tmp, "fsync", e))?;
        crate::faults::point("deliver-after-fsync");
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

/// Renames and then syncs the directory holding `to`.
pub fn rename_durable(from: &Path, to: &Path) -> Result<()> {
    fs::rename(from, to).map_err(|e| Error::io(from, "rename", e))?;
    crate::faults::point("rename-before-sync");
    if let Some(dir) = to.parent() {
        sync_dir(dir)?;
    }
    Ok(())
}

/// Removes a directory and everything in it; one already gone is fine.
pub fn remove_dir_tree(dir: &Path) -> Result<()> {
    match std::fs::remove_dir_all(dir) {
        Ok(()) => Ok(()),
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => Ok(()),
        Err(e) => Err(Error::io(dir, "remove directory", e)),
    }
}
