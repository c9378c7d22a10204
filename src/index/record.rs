//! The fixed-size records of a mailbox index, read and written with zerocopy.
//! Every integer is little-endian; the layouts are written down in
//! `schema/mailbox-index.md`, and a test checks the two agree.

use zerocopy::byteorder::little_endian::{I16, I64, U16, U32, U64};
use zerocopy::{FromBytes, Immutable, IntoBytes, KnownLayout, Unaligned};

pub const INDEX_MAGIC: [u8; 8] = *b"MSGSIDX\0";
pub const INDEX_VERSION: u32 = 1;

/// System flags, one bit each. `\Recent` is a session property and not stored.
pub mod flag {
    pub const SEEN: u32 = 1 << 0;
    pub const ANSWERED: u32 = 1 << 1;
    pub const FLAGGED: u32 = 1 << 2;
    pub const DELETED: u32 = 1 << 3;
    pub const DRAFT: u32 = 1 << 4;
    pub const ALL: [(u32, &str); 5] = [
        (SEEN, "\\Seen"),
        (ANSWERED, "\\Answered"),
        (FLAGGED, "\\Flagged"),
        (DELETED, "\\Deleted"),
        (DRAFT, "\\Draft"),
    ];
}

/// Most keywords (user flags) one mailbox can hold: one bit each in a record.
pub const MAX_USER_FLAGS: usize = 128;

/// The index header: one per mailbox.
#[derive(Clone, Copy, Debug, Default, FromBytes, IntoBytes, Immutable, KnownLayout, Unaligned)]
#[repr(C)]
pub struct Header {
    pub magic: [u8; 8],
    pub version: U32,
    pub uidvalidity: U32,
    pub uidnext: U32,
    pub exists: U32,
    pub highestmodseq: U64,
    /// Sum of RFC822.SIZE of every message.
    pub total_size: U64,
    /// Unix seconds of the last rebuild by `reconstruct`, 0 if never.
    pub last_reconstruct: I64,
    pub reserved: [u8; 16],
}

/// One message.
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
pub struct Record {
    pub uid: U32,
    pub system_flags: U32,
    /// Keyword bits; bit i is user-flag name i of the header's list.
    pub user_flags: [U64; 2],
    /// INTERNALDATE: Unix seconds and the zone it was given in, in minutes east of UTC.
    pub internal_date: I64,
    pub internal_date_zone: I16,
    pub reserved0: U16,
    /// RFC822.SIZE: octets with CRLF line ends.
    pub size: U32,
    /// Header block including its blank line, CRLF-counted.
    pub header_size: U32,
    /// Bytes of the file as stored (differs from `size` if a restore put bare LFs there).
    pub file_size: U64,
    pub modseq: U64,
    /// BLAKE3 of the message file.
    pub guid: [u8; 32],
    /// File identity for `reconstruct --quick`: device, inode, mtime in nanoseconds.
    pub file_dev: U64,
    pub file_ino: U64,
    pub file_mtime_ns: I64,
    pub reserved: [u8; 12],
}

pub const HEADER_SIZE: usize = core::mem::size_of::<Header>();
pub const RECORD_SIZE: usize = core::mem::size_of::<Record>();

impl Record {
    pub fn has_user_flag(&self, bit: usize) -> bool {
        bit < MAX_USER_FLAGS && (self.user_flags[bit / 64].get() >> (bit % 64)) & 1 == 1
    }

    pub fn set_user_flag(&mut self, bit: usize, on: bool) {
        if bit >= MAX_USER_FLAGS {
            return;
        }
        let word = &mut self.user_flags[bit / 64];
        let mask = 1u64 << (bit % 64);
        word.set(if on {
            word.get() | mask
        } else {
            word.get() & !mask
        });
    }

    pub fn guid_hex(&self) -> String {
        hex(&self.guid)
    }
}

pub fn hex(bytes: &[u8]) -> String {
    use std::fmt::Write;
    let mut s = String::with_capacity(bytes.len() * 2);
    for b in bytes {
        let _ = write!(s, "{b:02x}");
    }
    s
}

/// The per-message cache entry's fixed part; the three IMAP strings follow it.
#[derive(Clone, Copy, Debug, Default, FromBytes, IntoBytes, Immutable, KnownLayout, Unaligned)]
#[repr(C)]
pub struct CacheHead {
    /// Where the body starts in the file (the header block's physical size).
    pub body_offset: U64,
    pub header_size: U64,
    pub body_size: U64,
    pub envelope_len: U32,
    pub bodystructure_len: U32,
    pub body_len: U32,
    pub reserved: U32,
}

pub const CACHE_HEAD_SIZE: usize = core::mem::size_of::<CacheHead>();

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn sizes_are_fixed() {
        assert_eq!(HEADER_SIZE, 64);
        assert_eq!(RECORD_SIZE, 128);
        assert_eq!(CACHE_HEAD_SIZE, 40);
    }

    #[test]
    fn user_flag_bits() {
        let mut r = Record::default();
        r.set_user_flag(0, true);
        r.set_user_flag(127, true);
        r.set_user_flag(200, true);
        assert!(r.has_user_flag(0) && r.has_user_flag(127) && !r.has_user_flag(1));
        r.set_user_flag(0, false);
        assert!(!r.has_user_flag(0));
    }
}
