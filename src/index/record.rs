//! The fixed-size records of a mailbox index, read and written with zerocopy.
//! Every integer is little-endian; the layouts are written down in
//! `schema/mailbox-index.md`, and a test checks the two agree.
//!
//! Every header and record carries a CRC-32 of its bytes, and a record's checksum
//! also covers the identity of the mailbox it belongs to (its id in the mailbox
//! list and its UIDVALIDITY): damage is found in every mode, a record read from
//! another mailbox's index never passes as this one's, and `reconstruct` can
//! salvage every record that still verifies from a file redb cannot open.

use zerocopy::byteorder::little_endian::{I16, I64, U16, U32, U64};
use zerocopy::{FromBytes, Immutable, IntoBytes, KnownLayout, Unaligned};

pub const INDEX_MAGIC: [u8; 8] = *b"MSGSIDX\0";
/// The format this msgstore writes; version 1 (no checksums, no identity) is read
/// by `reconstruct` only, which converts it.
pub const INDEX_VERSION: u32 = 2;
/// The mark every version-2 record carries at [`RECORD_MARK_AT`].
pub const RECORD_MARK: u16 = 0x5243;
pub const RECORD_MARK_AT: usize = 34;
/// The first bytes of the keyword list's entry.
pub const KEYWORDS_MAGIC: [u8; 8] = *b"MSGSKWD\0";

/// System flags, one bit each. `\Recent` is a session property and not stored.
pub mod flag {
    pub const SEEN: u32 = 1 << 0;
    pub const ANSWERED: u32 = 1 << 1;
    pub const FLAGGED: u32 = 1 << 2;
    pub const DELETED: u32 = 1 << 3;
    pub const DRAFT: u32 = 1 << 4;
    pub const ALL_BITS: u32 = 0x1f;
    pub const ALL: [(u32, &str); 5] = [
        (SEEN, "\\Seen"),
        (ANSWERED, "\\Answered"),
        (FLAGGED, "\\Flagged"),
        (DELETED, "\\Deleted"),
        (DRAFT, "\\Draft"),
    ];
}

/// The largest UID a message may have: UIDNEXT must stay a 32-bit number above it.
pub const MAX_UID: u32 = u32::MAX - 1;

/// Most keywords (user flags) one mailbox can hold: one bit each in a record.
pub const MAX_USER_FLAGS: usize = 128;

/// Which mailbox an index belongs to: its id in the mailbox list and its
/// UIDVALIDITY. Every record's checksum covers it.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub struct Identity {
    pub mailbox_id: u64,
    pub uidvalidity: u32,
}

impl Identity {
    fn bytes(&self) -> [u8; 12] {
        let mut b = [0; 12];
        b[..8].copy_from_slice(&self.mailbox_id.to_le_bytes());
        b[8..].copy_from_slice(&self.uidvalidity.to_le_bytes());
        b
    }
}

/// The index header: one per mailbox (128 bytes).
#[derive(
    Clone, Copy, Debug, PartialEq, Eq, FromBytes, IntoBytes, Immutable, KnownLayout, Unaligned,
)]
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
    /// The mailbox's id in the mailbox list (0: not known, converted from version 1).
    pub mailbox_id: U64,
    pub reserved: [u8; 68],
    /// CRC-32 of the 124 bytes before it.
    pub crc: U32,
}

impl Default for Header {
    fn default() -> Header {
        <Header as zerocopy::FromZeros>::new_zeroed()
    }
}

impl Header {
    pub fn new(identity: Identity, uidnext: u32, highestmodseq: u64) -> Header {
        Header {
            magic: INDEX_MAGIC,
            version: INDEX_VERSION.into(),
            uidvalidity: identity.uidvalidity.into(),
            uidnext: uidnext.max(1).into(),
            highestmodseq: highestmodseq.into(),
            mailbox_id: identity.mailbox_id.into(),
            ..Header::default()
        }
    }

    pub fn identity(&self) -> Identity {
        Identity {
            mailbox_id: self.mailbox_id.get(),
            uidvalidity: self.uidvalidity.get(),
        }
    }

    fn compute_crc(&self) -> u32 {
        crc32fast::hash(&self.as_bytes()[..HEADER_SIZE - 4])
    }

    /// The header as written: with its checksum.
    pub fn sealed(mut self) -> Header {
        self.crc = self.compute_crc().into();
        self
    }

    /// Magic, version and checksum hold, and the values are possible ones.
    pub fn verify(&self) -> Result<(), &'static str> {
        if self.magic != INDEX_MAGIC {
            return Err("not a msgstore index header (bad magic)");
        }
        if self.version.get() != INDEX_VERSION {
            return Err("index header of another format version");
        }
        if self.crc.get() != self.compute_crc() {
            return Err("index header fails its checksum");
        }
        if self.uidvalidity.get() == 0 || self.uidnext.get() == 0 {
            return Err("index header has UIDVALIDITY or UIDNEXT 0");
        }
        if self.reserved != [0; 68] {
            return Err("index header has reserved bytes set");
        }
        Ok(())
    }
}

/// The version-1 header (64 bytes), read only to convert an old index.
#[derive(Clone, Copy, Debug, Default, FromBytes, IntoBytes, Immutable, KnownLayout, Unaligned)]
#[repr(C)]
pub struct HeaderV1 {
    pub magic: [u8; 8],
    pub version: U32,
    pub uidvalidity: U32,
    pub uidnext: U32,
    pub exists: U32,
    pub highestmodseq: U64,
    pub total_size: U64,
    pub last_reconstruct: I64,
    pub reserved: [u8; 16],
}

/// One message (128 bytes; the same layout in version 1, whose mark and checksum
/// are zero).
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
    /// Keyword bits; bit i is keyword i of the index's keyword list.
    pub user_flags: [U64; 2],
    /// INTERNALDATE: Unix seconds and the zone it was given in, in minutes east of UTC.
    pub internal_date: I64,
    pub internal_date_zone: I16,
    /// [`RECORD_MARK`]: what salvage looks for in a damaged file.
    pub mark: U16,
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
    pub reserved: [u8; 8],
    /// CRC-32 of the mailbox's [`Identity`] and the 124 bytes before it.
    pub crc: U32,
}

pub const HEADER_SIZE: usize = core::mem::size_of::<Header>();
pub const HEADER_V1_SIZE: usize = core::mem::size_of::<HeaderV1>();
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

    fn compute_crc(&self, id: Identity) -> u32 {
        let mut h = crc32fast::Hasher::new();
        h.update(&id.bytes());
        h.update(&self.as_bytes()[..RECORD_SIZE - 4]);
        h.finalize()
    }

    /// The record as written for the mailbox `id`: marked, with its checksum.
    pub fn sealed(mut self, id: Identity) -> Record {
        self.mark = RECORD_MARK.into();
        self.crc = self.compute_crc(id).into();
        self
    }

    /// The mark and checksum hold for mailbox `id`, and the values are possible.
    pub fn verify(&self, id: Identity) -> bool {
        self.mark.get() == RECORD_MARK
            && self.crc.get() == self.compute_crc(id)
            && self.uid.get() != 0
            && self.system_flags.get() & !flag::ALL_BITS == 0
            && self.reserved == [0; 8]
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
    /// Version 2: CRC-32 of the UID and the whole entry with this field zero.
    /// Version 1: zero.
    pub crc: U32,
}

pub const CACHE_HEAD_SIZE: usize = core::mem::size_of::<CacheHead>();

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn sizes_are_fixed() {
        assert_eq!(HEADER_SIZE, 128);
        assert_eq!(HEADER_V1_SIZE, 64);
        assert_eq!(RECORD_SIZE, 128);
        assert_eq!(CACHE_HEAD_SIZE, 40);
        assert_eq!(core::mem::offset_of!(Record, mark), RECORD_MARK_AT);
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

    #[test]
    fn every_bit_of_a_record_or_header_is_covered() {
        let id = Identity {
            mailbox_id: 3,
            uidvalidity: 77,
        };
        let r = Record {
            uid: 5.into(),
            system_flags: flag::SEEN.into(),
            ..Record::default()
        }
        .sealed(id);
        assert!(r.verify(id));
        assert!(
            !r.verify(Identity {
                mailbox_id: 4,
                ..id
            }),
            "another mailbox's"
        );
        assert!(!r.verify(Identity {
            uidvalidity: 78,
            ..id
        }));
        for bit in 0..RECORD_SIZE * 8 {
            let mut b = r.as_bytes().to_vec();
            b[bit / 8] ^= 1 << (bit % 8);
            let flipped = Record::read_from_bytes(&b).unwrap();
            assert!(!flipped.verify(id), "bit {bit} not covered");
        }
        let h = Header::new(id, 6, 9).sealed();
        assert!(h.verify().is_ok());
        for bit in 0..HEADER_SIZE * 8 {
            let mut b = h.as_bytes().to_vec();
            b[bit / 8] ^= 1 << (bit % 8);
            assert!(
                Header::read_from_bytes(&b).unwrap().verify().is_err(),
                "bit {bit}"
            );
        }
    }
}
