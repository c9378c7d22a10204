//! A cache entry: where the body starts, the header and body sizes, and the exact
//! ENVELOPE, BODYSTRUCTURE and BODY strings a FETCH returns, behind a checksum
//! that covers the entry and its UID.

use super::record::{CACHE_HEAD_SIZE, CacheHead};
use zerocopy::{FromBytes, IntoBytes};

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

fn crc(uid: u32, head: &CacheHead, strings: &[&[u8]]) -> u32 {
    let mut unsealed = *head;
    unsealed.crc = 0.into();
    let mut h = crc32fast::Hasher::new();
    h.update(&uid.to_le_bytes());
    h.update(unsealed.as_bytes());
    for s in strings {
        h.update(s);
    }
    h.finalize()
}

impl CacheEntry {
    /// The entry as stored under `uid`.
    pub fn encode(&self, uid: u32) -> Vec<u8> {
        let mut head = CacheHead {
            body_offset: self.body_offset.into(),
            header_size: self.header_size.into(),
            body_size: self.body_size.into(),
            envelope_len: (self.envelope.len() as u32).into(),
            bodystructure_len: (self.bodystructure.len() as u32).into(),
            body_len: (self.body.len() as u32).into(),
            crc: 0.into(),
        };
        head.crc = crc(
            uid,
            &head,
            &[&self.envelope, &self.bodystructure, &self.body],
        )
        .into();
        let mut out = Vec::with_capacity(
            CACHE_HEAD_SIZE + self.envelope.len() + self.bodystructure.len() + self.body.len(),
        );
        out.extend_from_slice(head.as_bytes());
        out.extend_from_slice(&self.envelope);
        out.extend_from_slice(&self.bodystructure);
        out.extend_from_slice(&self.body);
        out
    }

    /// Decodes the entry stored under `uid`, checking its lengths and checksum.
    /// `version_1`: an entry of a version-1 index, whose checksum field is zero.
    pub fn decode(uid: u32, bytes: &[u8], version_1: bool) -> Option<CacheEntry> {
        let (head, rest) = CacheHead::read_from_prefix(bytes).ok()?;
        let (e, b, s) = (
            head.envelope_len.get() as usize,
            head.bodystructure_len.get() as usize,
            head.body_len.get() as usize,
        );
        if rest.len() != e.checked_add(b)?.checked_add(s)? {
            return None;
        }
        let (envelope, more) = rest.split_at(e);
        let (bodystructure, body) = more.split_at(b);
        let ok = if version_1 {
            head.crc.get() == 0
        } else {
            head.crc.get() == crc(uid, &head, &[envelope, bodystructure, body])
        };
        ok.then(|| CacheEntry {
            body_offset: head.body_offset.get(),
            header_size: head.header_size.get(),
            body_size: head.body_size.get(),
            envelope: envelope.to_vec(),
            bodystructure: bodystructure.to_vec(),
            body: body.to_vec(),
        })
    }

    /// The entry for a message's bytes: parsed here.
    pub fn build(bytes: &[u8]) -> CacheEntry {
        CacheEntry::from(crate::mime::build(bytes))
    }
}

impl From<crate::mime::FetchData> for CacheEntry {
    fn from(c: crate::mime::FetchData) -> CacheEntry {
        CacheEntry {
            body_offset: c.header_size_physical,
            header_size: c.header_size,
            body_size: c.body_size,
            envelope: c.envelope,
            bodystructure: c.bodystructure,
            body: c.body,
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn round_trips_and_rejects_damage() {
        let c = CacheEntry {
            body_offset: 10,
            header_size: 12,
            body_size: 30,
            envelope: b"(NIL)".to_vec(),
            bodystructure: b"(\"text\")".to_vec(),
            body: b"(\"x\")".to_vec(),
        };
        let enc = c.encode(7);
        assert_eq!(CacheEntry::decode(7, &enc, false), Some(c.clone()));
        assert_eq!(
            CacheEntry::decode(8, &enc, false),
            None,
            "another UID's entry"
        );
        assert_eq!(CacheEntry::decode(7, &enc[..enc.len() - 1], false), None);
        assert_eq!(CacheEntry::decode(7, &enc[..3], false), None);
        for i in 0..enc.len() {
            let mut bad = enc.clone();
            bad[i] ^= 0x10;
            assert_eq!(CacheEntry::decode(7, &bad, false), None, "byte {i}");
        }
    }
}
