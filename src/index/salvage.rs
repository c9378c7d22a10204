//! Salvage from an index redb cannot read or whose checks fail. One bad bit must
//! not throw away a mailbox's flags: every header copy, record and keyword list
//! that still verifies is found by scanning the file's bytes for them, whatever
//! happened to redb's own structures. Version-2 records and keyword lists carry a
//! mark and a checksum bound to the mailbox's identity, so what is found belongs
//! to this mailbox and is intact. Version-1 records have neither: one is taken
//! only where its BLAKE3 matches the message file of its UID (the content it
//! describes is there, so its flags belong to it).
//!
//! A file holds stale copies too (redb writes pages anew and frees the old ones):
//! of several verified copies of a record, the one with the highest MODSEQ is the
//! latest; header copies are used as bounds (the largest UIDNEXT and MODSEQ), never
//! to lower anything.

use super::record::{
    HEADER_SIZE, HEADER_V1_SIZE, Header, HeaderV1, INDEX_MAGIC, Identity, KEYWORDS_MAGIC,
    MAX_USER_FLAGS, RECORD_MARK, RECORD_MARK_AT, RECORD_SIZE, Record, flag,
};
use crate::store::fsutil::{Access, open_regular};
use std::collections::BTreeMap;
use std::io::Read;
use std::path::Path;
use zerocopy::FromBytes;

/// What could be read back.
#[derive(Debug, Default)]
pub struct Salvaged {
    /// Whose records were kept: the mailbox list's identity when given, else that
    /// of the latest verified header.
    pub identity: Option<Identity>,
    /// Verified header copies of that identity were found.
    pub header_found: bool,
    /// Version-1 headers only (no checksums): their values are plausible, not proven.
    pub v1: bool,
    /// The largest UIDNEXT of those header copies (0 if none).
    pub uidnext: u32,
    /// The largest HIGHESTMODSEQ of those header copies and records.
    pub highestmodseq: u64,
    /// UIDVALIDITY of a plausible header when no identity was given or verified.
    pub uidvalidity: Option<u32>,
    pub records: BTreeMap<u32, Record>,
    pub keywords: Vec<String>,
    /// Record-shaped windows that failed their checks.
    pub rejected: usize,
}

/// Reading window; consecutive windows overlap by [`OVERLAP`] so that nothing that
/// straddles a boundary is missed.
const CHUNK: usize = 8 << 20;
/// Longer than anything looked for: a keyword list is at most 8 + 4 + 128 * 256 + 4.
const OVERLAP: usize = 40 << 10;

/// Scans `path`. `expected` is the identity the mailbox list holds, if any;
/// `files` the BLAKE3 of each message file by UID (for version-1 records).
pub fn salvage(
    path: &Path,
    expected: Option<Identity>,
    files: &BTreeMap<u32, [u8; 32]>,
) -> std::io::Result<Salvaged> {
    let mut f = open_regular(path, Access::Read).map_err(|e| match e {
        crate::store::fsutil::OpenError::Io(e) => e,
        crate::store::fsutil::OpenError::NotRegular(w) => std::io::Error::other(w),
    })?;
    let mut headers: Vec<Header> = Vec::new();
    let mut v1_headers: Vec<HeaderV1> = Vec::new();
    let mut candidates: Vec<Record> = Vec::new();
    let mut keyword_lists: Vec<(usize, Vec<u8>)> = Vec::new();
    let mut v1_records: Vec<Record> = Vec::new();

    let mut buf = vec![0u8; CHUNK + OVERLAP];
    let mut base = 0usize; // file offset of buf[0]
    let mut filled = 0usize;
    let mut eof = false;
    while !eof || filled > 0 {
        while !eof && filled < buf.len() {
            match f.read(&mut buf[filled..]) {
                Ok(0) => eof = true,
                Ok(n) => filled += n,
                Err(e) if e.kind() == std::io::ErrorKind::Interrupted => {}
                Err(e) => return Err(e),
            }
        }
        let window = &buf[..filled];
        // Positions handled in this pass: those whose structures end in the window
        // and start before the part the next window repeats.
        let limit = if eof {
            filled
        } else {
            filled.saturating_sub(OVERLAP)
        };
        for at in memchr::memmem::find_iter(window, &INDEX_MAGIC) {
            if at >= limit {
                break;
            }
            if let Some(h) = window
                .get(at..at + HEADER_SIZE)
                .and_then(|b| Header::read_from_bytes(b).ok())
                .filter(|h| h.verify().is_ok())
            {
                headers.push(h);
            } else if let Some(h) = window
                .get(at..at + HEADER_V1_SIZE)
                .and_then(|b| HeaderV1::read_from_bytes(b).ok())
                .filter(|h| {
                    h.version.get() == 1
                        && h.uidvalidity.get() != 0
                        && h.uidnext.get() != 0
                        && h.reserved == [0; 16]
                })
            {
                v1_headers.push(h);
            }
        }
        for at in memchr::memmem::find_iter(window, &KEYWORDS_MAGIC) {
            if at >= limit {
                break;
            }
            let end = window.len().min(at + OVERLAP);
            keyword_lists.push((base + at, window[at..end].to_vec()));
        }
        let mark = RECORD_MARK.to_le_bytes();
        for at in memchr::memmem::find_iter(window, &mark) {
            let Some(start) = at.checked_sub(RECORD_MARK_AT) else {
                continue;
            };
            if start >= limit {
                break;
            }
            if let Some(r) = window
                .get(start..start + RECORD_SIZE)
                .and_then(|b| Record::read_from_bytes(b).ok())
            {
                candidates.push(r);
            }
        }
        if !files.is_empty() {
            scan_v1(window, limit, files, &mut v1_records);
        }
        if eof {
            break;
        }
        // Keep the overlap for the next pass.
        let keep = filled - limit;
        buf.copy_within(limit..filled, 0);
        base += limit;
        filled = keep;
    }

    let mut out = Salvaged::default();
    let latest = headers
        .iter()
        .max_by_key(|h| (h.uidvalidity.get(), h.highestmodseq.get()))
        .map(Header::identity);
    out.identity = expected.or(latest);
    if let Some(id) = out.identity {
        for h in headers.iter().filter(|h| h.identity() == id) {
            out.header_found = true;
            out.uidnext = out.uidnext.max(h.uidnext.get());
            out.highestmodseq = out.highestmodseq.max(h.highestmodseq.get());
        }
        let mut by_content = BTreeMap::new();
        for r in candidates.iter().copied() {
            if r.verify(id) {
                keep_latest(&mut out.records, r);
            } else if let Some(r) = content_proven(&r, files) {
                keep_latest(&mut by_content, r);
            } else {
                out.rejected += 1;
            }
        }
        // A record of another UIDVALIDITY of this mailbox (the list gave it a new
        // one when nothing else survived) still holds the flags of its content.
        // But where records of this identity are found, one that fails its
        // checksum is damage, not another identity's: a flipped bit in its flags
        // or date would be taken as true (its BLAKE3 still matches). Its UID
        // then has no record, and its message a new UID without flags.
        if out.records.is_empty() {
            out.records = by_content;
        } else {
            out.rejected += by_content.len();
        }
        let mut best: Option<Vec<String>> = None;
        for (_, raw) in &keyword_lists {
            if let Some((names, _)) = super::decode_keywords(id, raw) {
                // Keywords are only ever appended: the longest list is the latest.
                if best.as_ref().is_none_or(|b| names.len() > b.len()) {
                    best = Some(names);
                }
            }
        }
        out.keywords = best.unwrap_or_default();
    } else {
        // No identity to check records against (the list and every header copy
        // are lost): records proven by their content only.
        for r in candidates {
            match content_proven(&r, files) {
                Some(r) => keep_latest(&mut out.records, r),
                None => out.rejected += 1,
            }
        }
    }
    if !out.header_found && !v1_headers.is_empty() {
        // A version-1 index: its headers are plausible values, usable as bounds.
        out.v1 = true;
        let uv = expected
            .map(|e| e.uidvalidity)
            .or_else(|| v1_headers.iter().map(|h| h.uidvalidity.get()).max());
        out.uidvalidity = uv;
        for h in v1_headers
            .iter()
            .filter(|h| Some(h.uidvalidity.get()) == uv)
        {
            out.uidnext = out.uidnext.max(h.uidnext.get());
            out.highestmodseq = out.highestmodseq.max(h.highestmodseq.get());
        }
        if out.records.is_empty() {
            for r in v1_records {
                keep_latest(&mut out.records, r);
            }
        }
    }
    // Keyword bits without a name cannot be told apart: they are cleared.
    let named = out.keywords.len();
    for r in out.records.values_mut() {
        for bit in named..MAX_USER_FLAGS {
            r.set_user_flag(bit, false);
        }
        out.highestmodseq = out.highestmodseq.max(r.modseq.get());
    }
    Ok(out)
}

/// A marked record whose checksum cannot be checked (its identity is unknown or
/// not the list's) is trusted where its BLAKE3 matches the file of its UID: the
/// content its flags were set on is there. Its keyword names went with its
/// identity, so only its system flags are kept.
fn content_proven(r: &Record, files: &BTreeMap<u32, [u8; 32]>) -> Option<Record> {
    let plausible = r.mark.get() == RECORD_MARK
        && r.uid.get() != 0
        && r.system_flags.get() & !flag::ALL_BITS == 0
        && r.reserved == [0; 8];
    if !plausible || files.get(&r.uid.get()) != Some(&r.guid) {
        return None;
    }
    let mut r = *r;
    r.user_flags = [0.into(); 2];
    Some(r)
}

fn keep_latest(map: &mut BTreeMap<u32, Record>, r: Record) {
    let uid = r.uid.get();
    match map.get(&uid) {
        Some(old) if old.modseq.get() >= r.modseq.get() => {}
        _ => {
            map.insert(uid, r);
        }
    }
}

/// Version-1 records: at every offset, a UID that names a message file and, 60
/// bytes on, that file's BLAKE3.
fn scan_v1(window: &[u8], limit: usize, files: &BTreeMap<u32, [u8; 32]>, out: &mut Vec<Record>) {
    let end = limit.min(window.len().saturating_sub(RECORD_SIZE - 1));
    for at in 0..end {
        let uid = u32::from_le_bytes([window[at], window[at + 1], window[at + 2], window[at + 3]]);
        let Some(guid) = files.get(&uid) else {
            continue;
        };
        if window[at + 60..at + 92] != guid[..] {
            continue;
        }
        if let Ok(r) = Record::read_from_bytes(&window[at..at + RECORD_SIZE])
            && r.mark.get() == 0
            && r.crc.get() == 0
            && r.system_flags.get() & !flag::ALL_BITS == 0
        {
            out.push(r);
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use zerocopy::IntoBytes;

    /// A record of this mailbox whose checksum fails (a flipped bit in its flags)
    /// is never taken on its BLAKE3 alone: that would give its message flags it
    /// never had. Only where no record of this identity is found at all are
    /// records proven by content (another UIDVALIDITY of the same mailbox).
    #[test]
    fn a_damaged_record_of_this_identity_is_not_taken_on_its_content() {
        let id = Identity {
            mailbox_id: 4,
            uidvalidity: 1000,
        };
        let rec = |uid: u32, guid: u8, flags: u32, id: Identity| {
            Record {
                uid: uid.into(),
                modseq: 3.into(),
                system_flags: flags.into(),
                mark: RECORD_MARK.into(),
                guid: [guid; 32],
                ..Record::default()
            }
            .sealed(id)
        };
        let files: BTreeMap<u32, [u8; 32]> = [(1, [1; 32]), (2, [2; 32])].into();
        let mut damaged = rec(2, 2, flag::SEEN, id);
        damaged.system_flags = (flag::SEEN | flag::DELETED).into();
        let mut bytes = vec![0u8; 64];
        bytes.extend_from_slice(Header::new(id, 3, 3).sealed().as_bytes());
        bytes.extend_from_slice(rec(1, 1, flag::FLAGGED, id).as_bytes());
        bytes.extend_from_slice(damaged.as_bytes());
        let t = tempfile::tempdir().unwrap();
        let path = t.path().join("i");
        std::fs::write(&path, &bytes).unwrap();
        let s = salvage(&path, Some(id), &files).unwrap();
        assert_eq!(s.records.keys().copied().collect::<Vec<_>>(), vec![1]);
        assert_eq!(s.records[&1].system_flags.get(), flag::FLAGGED);

        // The same records under an older UIDVALIDITY only: proven by content,
        // system flags kept.
        let old = Identity {
            mailbox_id: 4,
            uidvalidity: 900,
        };
        let mut bytes = vec![0u8; 64];
        bytes.extend_from_slice(rec(1, 1, flag::FLAGGED, old).as_bytes());
        bytes.extend_from_slice(rec(2, 2, flag::SEEN, old).as_bytes());
        std::fs::write(&path, &bytes).unwrap();
        let s = salvage(&path, Some(id), &files).unwrap();
        assert_eq!(s.records.len(), 2);
        assert_eq!(s.records[&2].system_flags.get(), flag::SEEN);
    }

    #[test]
    fn finds_verified_copies_in_any_bytes_and_keeps_the_latest() {
        let id = Identity {
            mailbox_id: 4,
            uidvalidity: 1000,
        };
        let rec = |uid: u32, modseq: u64, flags: u32| {
            Record {
                uid: uid.into(),
                modseq: modseq.into(),
                system_flags: flags.into(),
                ..Record::default()
            }
            .sealed(id)
        };
        let mut bytes = vec![0xA5u8; 3000];
        let mut put = |at: usize, b: &[u8]| {
            if bytes.len() < at + b.len() {
                bytes.resize(at + b.len(), 0);
            }
            bytes[at..at + b.len()].copy_from_slice(b);
        };
        put(7, Header::new(id, 9, 50).sealed().as_bytes());
        put(301, rec(3, 5, flag::SEEN).as_bytes());
        put(777, rec(3, 8, flag::SEEN | flag::FLAGGED).as_bytes());
        put(1501, rec(5, 2, 0).as_bytes());
        let mut bad = rec(6, 2, 0);
        bad.system_flags = 3.into(); // damaged after sealing
        put(2001, bad.as_bytes());
        put(2500, &super::super::encode_keywords(id, &["$Junk".into()]));
        // Another mailbox's record: never taken as this one's.
        let foreign = Record {
            uid: 7.into(),
            ..Record::default()
        }
        .sealed(Identity {
            mailbox_id: 5,
            ..id
        });
        put(CHUNK + 40, foreign.as_bytes());

        let d = tempfile::tempdir().unwrap();
        let p = d.path().join("msgstore.index.corrupt");
        std::fs::write(&p, &bytes).unwrap();
        let s = salvage(&p, Some(id), &BTreeMap::new()).unwrap();
        assert_eq!(s.identity, Some(id));
        assert!(s.header_found);
        assert_eq!((s.uidnext, s.highestmodseq), (9, 50));
        assert_eq!(s.records.keys().copied().collect::<Vec<_>>(), vec![3, 5]);
        assert_eq!(
            s.records[&3].system_flags.get(),
            flag::SEEN | flag::FLAGGED,
            "the copy with the highest modseq"
        );
        assert_eq!(s.keywords, vec!["$Junk".to_string()]);
        assert!(s.rejected >= 2);
        // Without the list's identity, the latest header's is used.
        let s = salvage(&p, None, &BTreeMap::new()).unwrap();
        assert_eq!(s.identity, Some(id));
    }
}
