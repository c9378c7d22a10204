//! Two redb storage backends for files that must not be flushed, or not written,
//! as redb would by itself:
//!
//! - [`Unsynced`]: a new file nothing refers to yet. redb flushes a file about eight
//!   times while it is created, committed and closed; under a temporary name those
//!   flushes buy nothing, so the caller flushes once before renaming it into place.
//! - [`Overlay`]: an existing file seen through a private copy-on-write layer. redb's
//!   integrity check commits (it rebuilds the allocator state) and a crashed file's
//!   recovery writes; through an overlay both run in memory, so a check, a dry run
//!   or a reader verifies the file without writing or flushing it.

use redb::StorageBackend;
use std::collections::HashMap;
use std::fs::File;
use std::io;
use std::os::unix::fs::FileExt;

use std::sync::{Mutex, MutexGuard};

/// A file written without a single flush; see the module comment.
#[derive(Debug)]
pub struct Unsynced(File);

impl Unsynced {
    /// Over a new, empty file nothing refers to yet.
    pub fn new(file: File) -> Unsynced {
        Unsynced(file)
    }
}

impl StorageBackend for Unsynced {
    fn len(&self) -> io::Result<u64> {
        Ok(self.0.metadata()?.len())
    }
    fn read(&self, offset: u64, out: &mut [u8]) -> io::Result<()> {
        self.0.read_exact_at(out, offset)
    }
    fn set_len(&self, len: u64) -> io::Result<()> {
        self.0.set_len(len)
    }
    fn sync_data(&self) -> io::Result<()> {
        Ok(())
    }
    fn write(&self, offset: u64, data: &[u8]) -> io::Result<()> {
        self.0.write_all_at(data, offset)
    }
}

const BLOCK: u64 = 4096;

/// A read-only file plus the blocks written since it was opened; see the module
/// comment. Never writes, truncates or flushes the file.
#[derive(Debug)]
pub struct Overlay {
    file: File,
    state: Mutex<OverlayState>,
}

#[derive(Debug)]
struct OverlayState {
    /// The length redb sees.
    len: u64,
    /// Bytes of the file still visible (a shrink hides the rest for good).
    file_len: u64,
    /// Blocks written, by block number; each is `BLOCK` bytes.
    blocks: HashMap<u64, Box<[u8]>>,
}

impl Overlay {
    /// Over an already opened file (see [`crate::store::fsutil::open_regular`]).
    pub fn new(file: File) -> io::Result<Overlay> {
        let len = file.metadata()?.len();
        Ok(Overlay {
            file,
            state: Mutex::new(OverlayState {
                len,
                file_len: len,
                blocks: HashMap::new(),
            }),
        })
    }

    fn state(&self) -> MutexGuard<'_, OverlayState> {
        // A panic while the lock was held leaves the map consistent (every update is
        // a single insert or copy), so a poisoned lock is still usable.
        self.state.lock().unwrap_or_else(|p| p.into_inner())
    }

    /// Fills `out` with the file's bytes at `offset`, zeros beyond `file_len`.
    fn read_file(&self, file_len: u64, offset: u64, out: &mut [u8]) -> io::Result<()> {
        let from_file = file_len.saturating_sub(offset).min(out.len() as u64) as usize;
        let (head, tail) = out.split_at_mut(from_file);
        self.file.read_exact_at(head, offset)?;
        tail.fill(0);
        Ok(())
    }
}

/// The block-sized pieces of `[offset, offset + len)`: (block number, offset in
/// the block, offset in the caller's buffer, length).
fn pieces(offset: u64, len: usize) -> impl Iterator<Item = (u64, usize, usize, usize)> {
    let end = offset + len as u64;
    let mut at = offset;
    std::iter::from_fn(move || {
        if at >= end {
            return None;
        }
        let block = at / BLOCK;
        let within = (at % BLOCK) as usize;
        let n = ((BLOCK - at % BLOCK).min(end - at)) as usize;
        let piece = (block, within, (at - offset) as usize, n);
        at += n as u64;
        Some(piece)
    })
}

impl StorageBackend for Overlay {
    fn len(&self) -> io::Result<u64> {
        Ok(self.state().len)
    }

    fn read(&self, offset: u64, out: &mut [u8]) -> io::Result<()> {
        let st = self.state();
        if offset
            .checked_add(out.len() as u64)
            .is_none_or(|e| e > st.len)
        {
            return Err(io::Error::from(io::ErrorKind::UnexpectedEof));
        }
        for (block, within, at, n) in pieces(offset, out.len()) {
            let dst = &mut out[at..at + n];
            match st.blocks.get(&block) {
                Some(b) => dst.copy_from_slice(&b[within..within + n]),
                None => self.read_file(st.file_len, offset + at as u64, dst)?,
            }
        }
        Ok(())
    }

    fn set_len(&self, len: u64) -> io::Result<()> {
        let mut st = self.state();
        if len < st.len {
            st.file_len = st.file_len.min(len);
            st.blocks.retain(|&b, _| b * BLOCK < len);
            // What lies past the new end of the last block reads as zeros if the
            // file grows again.
            if let Some(b) = st.blocks.get_mut(&(len / BLOCK)) {
                b[(len % BLOCK) as usize..].fill(0);
            }
        }
        st.len = len;
        Ok(())
    }

    fn sync_data(&self) -> io::Result<()> {
        Ok(())
    }

    fn write(&self, offset: u64, data: &[u8]) -> io::Result<()> {
        let end = offset
            .checked_add(data.len() as u64)
            .ok_or_else(|| io::Error::from(io::ErrorKind::InvalidInput))?;
        let mut st = self.state();
        for (block, within, at, n) in pieces(offset, data.len()) {
            if !st.blocks.contains_key(&block) {
                let mut b = vec![0u8; BLOCK as usize].into_boxed_slice();
                // Bytes past the current end read as zeros, as a file's would.
                let visible = st.file_len.min(st.len);
                self.read_file(visible, block * BLOCK, &mut b)?;
                st.blocks.insert(block, b);
            }
            if let Some(b) = st.blocks.get_mut(&block) {
                b[within..within + n].copy_from_slice(&data[at..at + n]);
            }
        }
        st.len = st.len.max(end);
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn read(o: &Overlay, offset: u64, n: usize) -> Vec<u8> {
        let mut v = vec![0xee; n];
        o.read(offset, &mut v).unwrap();
        v
    }

    #[test]
    fn overlay_reads_through_writes_aside_and_never_touches_the_file() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("f");
        let original: Vec<u8> = (0..10_000u32).map(|i| (i % 251) as u8).collect();
        std::fs::write(&path, &original).unwrap();
        let o = Overlay::new(File::open(&path).unwrap()).unwrap();
        assert_eq!(o.len().unwrap(), 10_000);
        assert_eq!(read(&o, 0, 10_000), original);

        // A write across a block boundary, then reads around it.
        o.write(4090, &[1; 12]).unwrap();
        let mut expect = original.clone();
        expect[4090..4102].fill(1);
        assert_eq!(read(&o, 0, 10_000), expect);
        assert_eq!(read(&o, 4088, 16), expect[4088..4104].to_vec());

        // Writing past the end grows it; the gap reads as zeros.
        o.write(12_000, &[7; 5]).unwrap();
        assert_eq!(o.len().unwrap(), 12_005);
        assert_eq!(
            read(&o, 9_998, 4),
            vec![original[9998], original[9999], 0, 0]
        );
        assert_eq!(read(&o, 12_000, 5), vec![7; 5]);
        assert!(o.read(12_000, &mut [0; 6]).is_err());

        // Shrinking hides the rest for good, in the file and in written blocks.
        o.set_len(4095).unwrap();
        o.set_len(9_000).unwrap();
        let got = read(&o, 0, 9_000);
        assert_eq!(got[..4090], expect[..4090]);
        assert_eq!(got[4090..4095], [1; 5]);
        assert!(got[4095..].iter().all(|&b| b == 0));

        o.sync_data().unwrap();
        assert_eq!(std::fs::read(&path).unwrap(), original);
    }

    #[test]
    fn unsynced_is_a_plain_new_file() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("f");
        let u = Unsynced::new(
            File::options()
                .read(true)
                .write(true)
                .create_new(true)
                .open(&path)
                .unwrap(),
        );
        u.write(3, b"abc").unwrap();
        u.sync_data().unwrap();
        assert_eq!(u.len().unwrap(), 6);
        let mut out = [0; 6];
        u.read(0, &mut out).unwrap();
        assert_eq!(&out, b"\0\0\0abc");
    }
}
