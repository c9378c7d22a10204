//! FETCH and UID FETCH. UID, FLAGS, INTERNALDATE, RFC822.SIZE and MODSEQ come
//! from the index record; ENVELOPE, BODYSTRUCTURE and BODY are the cache's strings,
//! spliced byte for byte without touching the message file; body sections are
//! read from the file (a whole message is streamed to the client in pieces).
//!
//! Messages are handled in batches: the cache entries of a batch are read in one
//! transaction under the mailbox's shared lock, which is let go before anything
//! is written, so a client that reads slowly never holds a writer or a rebuild.

use super::out::Out;
use super::proto::{BodySection, Fetch, FetchItem, SectionText, write};
use super::session::{Reply, Session};
use crate::index::CacheEntry;
use crate::index::record::{Record, flag};
use crate::ops::open::FlagChange;
use crate::store::fsutil::{Access, open_regular};
use std::io::Read;

/// Messages per batch of cache reads.
const BATCH: usize = 512;

const MONTHS: [&str; 12] = [
    "Jan", "Feb", "Mar", "Apr", "May", "Jun", "Jul", "Aug", "Sep", "Oct", "Nov", "Dec",
];

/// `"17-Jul-1996 02:44:25 -0700"` (RFC 3501 `date-time`, the day space-padded).
pub fn internal_date(r: &Record) -> String {
    let zone = i64::from(r.internal_date_zone.get());
    let local = r.internal_date.get().saturating_add(zone * 60);
    let days = local.div_euclid(86_400);
    let rem = local.rem_euclid(86_400);
    let (y, m, d) = crate::message::civil_from_days(days);
    let sign = if zone < 0 { '-' } else { '+' };
    let z = zone.abs();
    format!(
        "\"{d:>2}-{}-{y:04} {:02}:{:02}:{:02} {sign}{:02}{:02}\"",
        MONTHS[(m as usize).saturating_sub(1).min(11)],
        rem / 3600,
        rem % 3600 / 60,
        rem % 60,
        z / 60,
        z % 60
    )
}

/// What a FETCH needs, worked out once for the whole command.
struct Needs {
    cache: bool,
    file: bool,
    sets_seen: bool,
    modseq: bool,
    /// Every item that reads the file wants the top-level header only (HEADER,
    /// HEADER.FIELDS, HEADER.FIELDS.NOT, RFC822.HEADER): reading up to its blank
    /// line gives the same answer as reading the whole file.
    header_only: bool,
}

fn needs(items: &[FetchItem], changed_since: bool) -> Needs {
    let mut n = Needs {
        cache: false,
        file: false,
        sets_seen: false,
        modseq: changed_since,
        header_only: true,
    };
    for it in items {
        match it {
            FetchItem::Envelope | FetchItem::Body | FetchItem::BodyStructure => n.cache = true,
            FetchItem::Rfc822 | FetchItem::Rfc822Text => {
                n.file = true;
                n.sets_seen = true;
                n.header_only = false;
            }
            FetchItem::Rfc822Header => n.file = true,
            FetchItem::Section(s) => {
                n.file = true;
                n.sets_seen |= !s.peek;
                let header = matches!(
                    s.section.text,
                    Some(
                        SectionText::Header
                            | SectionText::HeaderFields(_)
                            | SectionText::HeaderFieldsNot(_)
                    )
                );
                n.header_only &= header && s.section.part.is_empty();
            }
            FetchItem::ModSeq => n.modseq = true,
            _ => {}
        }
    }
    n
}

/// A message's bytes as IMAP carries them: with CRLF line ends (a message file
/// that reconstruct adopted may have bare LFs; RFC822.SIZE counts them as CRLF).
fn crlf(raw: Vec<u8>) -> Vec<u8> {
    match crate::message::to_crlf(&raw) {
        std::borrow::Cow::Borrowed(_) => raw,
        std::borrow::Cow::Owned(v) => v,
    }
}

/// The bytes of a body section of a whole message (CRLF line ends).
fn section_bytes(msg: &[u8], s: &super::proto::Section) -> Vec<u8> {
    let text = s.text.as_ref().map(|t| match t {
        SectionText::Header => crate::mime::section::SectionText::Header,
        SectionText::HeaderFields(f) => crate::mime::section::SectionText::HeaderFields(f.clone()),
        SectionText::HeaderFieldsNot(f) => {
            crate::mime::section::SectionText::HeaderFieldsNot(f.clone())
        }
        SectionText::Text => crate::mime::section::SectionText::Text,
        SectionText::Mime => crate::mime::section::SectionText::Mime,
    });
    crate::mime::section::section(msg, &s.part, text.as_ref()).into_owned()
}

fn partial(bytes: &[u8], p: Option<(u32, u32)>) -> &[u8] {
    match p {
        None => bytes,
        Some((off, len)) => {
            let start = (off as usize).min(bytes.len());
            let end = start.saturating_add(len as usize).min(bytes.len());
            &bytes[start..end]
        }
    }
}

impl Session {
    /// Runs a FETCH; `Ok(true)` when some messages could not be answered because
    /// they were expunged meanwhile.
    pub(super) fn fetch(&mut self, f: &Fetch, out: &mut Out) -> Result<bool, Reply> {
        let en = self.enabled;
        if f.vanished && !en.qresync {
            return Err(Reply::Bad("VANISHED needs ENABLE QRESYNC".into()));
        }
        if f.changed_since.is_some() || f.items.contains(&FetchItem::ModSeq) {
            // RFC 7162 3.1: CHANGEDSINCE and MODSEQ are CONDSTORE-enabling.
            self.enable_condstore(out);
        }
        let en = super::selected::Enabled {
            condstore: self.enabled.condstore,
            ..en
        };
        let saved = self.saved.clone();
        let Some(sel) = self.selected.as_ref() else {
            return Err(Reply::Bad("select a mailbox first".into()));
        };
        let idx = sel
            .resolve(&f.set, f.uid, saved.as_deref())
            .map_err(|e| Reply::Bad(e.into()))?;
        let need = needs(&f.items, f.changed_since.is_some());

        if f.vanished && f.changed_since.is_some() {
            self.write_vanished_earlier(&f.set, 0, out);
        }

        let sel = self
            .selected
            .as_ref()
            .ok_or_else(|| Reply::Bad("no mailbox".into()))?;
        let mut targets: Vec<u32> = idx.iter().map(|&i| sel.uids[i]).collect();
        if let Some(since) = f.changed_since {
            targets.retain(|&u| sel.record(u).is_some_and(|r| r.modseq.get() > since));
        }

        // Reading a body sets \Seen first, so the replies show it (RFC 3501 6.4.5).
        let mut seen_now: Vec<u32> = Vec::new();
        if need.sets_seen && !sel.read_only {
            let unseen: Vec<u32> = targets
                .iter()
                .copied()
                .filter(|&u| {
                    sel.record(u)
                        .is_some_and(|r| r.system_flags.get() & flag::SEEN == 0)
                })
                .collect();
            if !unseen.is_empty() {
                let change = FlagChange {
                    add: vec![crate::ops::flags::Flag::System(flag::SEEN)],
                    remove: Vec::new(),
                    replace: false,
                };
                let outcome = sel.shared.open.store_flags(
                    |u, _| unseen.binary_search(&u).is_ok(),
                    &change,
                    None,
                )?;
                if let Some(sel) = self.selected.as_mut() {
                    sel.snap = sel.shared.current()?;
                    for c in &outcome.changed {
                        sel.reported(c.uid, c.modseq);
                        seen_now.push(c.uid);
                    }
                }
            }
        }

        let Some(sel) = self.selected.as_ref() else {
            return Err(Reply::Bad("no mailbox".into()));
        };
        let mut missed = false;
        for batch in targets.chunks(BATCH) {
            let mut caches: Vec<Option<CacheEntry>> = Vec::new();
            if need.cache {
                let present: Vec<u32> = batch
                    .iter()
                    .copied()
                    .filter(|&u| sel.record(u).is_some())
                    .collect();
                let mut got = std::collections::HashMap::new();
                sel.shared.open.read_cache(&present, |uid, c| {
                    if let Some(c) = c {
                        got.insert(uid, c);
                    }
                    Ok(())
                })?;
                caches = batch.iter().map(|u| got.remove(u)).collect();
            }
            for (i, &uid) in batch.iter().enumerate() {
                let Some(rec) = sel.record(uid).copied() else {
                    missed = true;
                    continue;
                };
                let Some(seq) = sel.seq_of(uid) else { continue };
                let cache = if need.cache {
                    match caches.get_mut(i).and_then(Option::take) {
                        Some(c) => Some(c),
                        None => {
                            missed = true;
                            continue;
                        }
                    }
                } else {
                    None
                };
                let file = if need.file {
                    let read = if need.header_only {
                        read_header(sel, uid)
                    } else {
                        read_message(sel, uid)
                    };
                    match read {
                        Some(b) => Some(b),
                        None => {
                            missed = true;
                            continue;
                        }
                    }
                } else {
                    None
                };
                let show_flags = seen_now.binary_search(&uid).is_ok();
                write_one(
                    sel,
                    f,
                    en,
                    (seq, show_flags),
                    &rec,
                    cache.as_ref(),
                    file.as_deref(),
                    out,
                );
                out.maybe_flush();
                if out.closed() {
                    return Ok(missed);
                }
            }
        }
        Ok(missed)
    }

    /// `* VANISHED (EARLIER)`: the UIDs of the set, below UIDNEXT, that are not in
    /// the mailbox. The store keeps no record of expunged UIDs, so this names every
    /// hole (RFC 7162 3.2.6 lets a server name UIDs that never existed).
    /// UIDs at or below `floor` are left out (the client's view is right there).
    fn write_vanished_earlier(&self, set: &super::proto::SequenceSet, floor: u32, out: &mut Out) {
        let Some(sel) = self.selected.as_ref() else {
            return;
        };
        let top = sel.snap.uidnext().saturating_sub(1);
        let mut holes: Vec<(u32, u32)> = Vec::new();
        for (lo, hi) in set.ranges(top) {
            let hi = hi.min(top);
            let lo = lo.max(floor.saturating_add(1));
            if lo > hi || lo == 0 {
                continue;
            }
            let mut next = lo;
            let start = sel.uids.partition_point(|&u| u < lo);
            for &u in &sel.uids[start..] {
                if u > hi {
                    break;
                }
                if u > next {
                    holes.push((next, u - 1));
                }
                next = u + 1;
            }
            if next <= hi {
                holes.push((next, hi));
            }
        }
        if holes.is_empty() {
            return;
        }
        holes.sort_unstable();
        out.buf.extend_from_slice(b"* VANISHED (EARLIER) ");
        for (i, (a, b)) in holes.iter().enumerate() {
            if i > 0 {
                out.buf.push(b',');
            }
            if a == b {
                out.buf.extend_from_slice(a.to_string().as_bytes());
            } else {
                out.buf.extend_from_slice(format!("{a}:{b}").as_bytes());
            }
        }
        out.buf.extend_from_slice(b"\r\n");
    }

    /// SELECT (QRESYNC ...): what changed since the client's MODSEQ (RFC 7162
    /// 3.2.5): the vanished UIDs, then the flags of messages changed since.
    pub(super) fn qresync_select(&mut self, q: &super::proto::QResync, out: &mut Out) {
        let Some(sel) = self.selected.as_ref() else {
            return;
        };
        if q.uidvalidity != sel.snap.uidvalidity() {
            return;
        }
        let known = q.known_uids.clone().unwrap_or_else(|| {
            super::proto::SequenceSet(vec![super::proto::SeqItem::Range(
                super::proto::SeqNum::Value(1),
                super::proto::SeqNum::Star,
            )])
        });
        self.write_vanished_earlier(&known, 0, out);
        let Some(sel) = self.selected.as_ref() else {
            return;
        };
        for (i, &uid) in sel.uids.iter().enumerate() {
            let Some(r) = sel.record(uid) else { continue };
            if r.modseq.get() <= q.modseq {
                continue;
            }
            out.buf
                .extend_from_slice(format!("* {} FETCH (UID {uid} FLAGS ", i + 1).as_bytes());
            let f = sel.flags_of(r);
            out.buf.extend_from_slice(&f);
            out.buf
                .extend_from_slice(format!(" MODSEQ ({}))\r\n", r.modseq.get()).as_bytes());
            out.maybe_flush();
        }
    }
}

/// The message file's bytes (CRLF), `None` when it is gone (expunged meanwhile).
fn read_message(sel: &super::selected::Selected, uid: u32) -> Option<Vec<u8>> {
    let path = sel.shared.open.message_path(uid);
    let mut f = open_regular(&path, Access::Read).ok()?;
    let mut raw = Vec::new();
    f.read_to_end(&mut raw).ok()?;
    Some(crlf(raw))
}

/// The message file's header block (CRLF): its bytes up to and including the
/// first empty line, or the whole file when it has none; `None` when the file is
/// gone. The top-level header sections of this are those of the whole message
/// (the header scan ends at the same empty line), without reading the body.
fn read_header(sel: &super::selected::Selected, uid: u32) -> Option<Vec<u8>> {
    let path = sel.shared.open.message_path(uid);
    let mut f = open_regular(&path, Access::Read).ok()?;
    Some(crlf(header_block(&mut f).ok()?))
}

/// Reads `r` in chunks up to and including the first empty line (`\n` or `\r\n`
/// at the start of a line), or to its end.
fn header_block(r: &mut impl Read) -> std::io::Result<Vec<u8>> {
    const CHUNK: usize = 16 * 1024;
    let mut buf = Vec::with_capacity(CHUNK);
    // Start of the first line not yet seen whole.
    let mut line = 0;
    loop {
        while let Some(i) = memchr::memchr(b'\n', &buf[line..]) {
            let l = &buf[line..line + i + 1];
            if l == b"\n" || l == b"\r\n" {
                buf.truncate(line + i + 1);
                return Ok(buf);
            }
            line += i + 1;
        }
        let at = buf.len();
        buf.resize(at + CHUNK, 0);
        let n = loop {
            match r.read(&mut buf[at..]) {
                Ok(n) => break n,
                Err(e) if e.kind() == std::io::ErrorKind::Interrupted => {}
                Err(e) => return Err(e),
            }
        };
        buf.truncate(at + n);
        if n == 0 {
            return Ok(buf);
        }
    }
}

#[allow(clippy::too_many_arguments)]
fn write_one(
    sel: &super::selected::Selected,
    f: &Fetch,
    en: super::selected::Enabled,
    (seq, show_flags): (u32, bool),
    rec: &Record,
    cache: Option<&CacheEntry>,
    file: Option<&[u8]>,
    out: &mut Out,
) {
    let b = &mut out.buf;
    b.extend_from_slice(format!("* {seq} FETCH (").as_bytes());
    let mut first = true;
    let mut sep = |b: &mut Vec<u8>| {
        if !first {
            b.push(b' ');
        }
        first = false;
    };
    let uid = rec.uid.get();
    // RFC 7162 3.1: once CONDSTORE is on, a FETCH that set \Seen shows the
    // message's UID and MODSEQ, as every untagged FETCH of a flag change does.
    let wants_uid = f.uid || f.items.contains(&FetchItem::Uid) || (show_flags && en.condstore);
    if wants_uid {
        sep(b);
        b.extend_from_slice(format!("UID {uid}").as_bytes());
    }
    let mut modseq_done = false;
    let mut flags_done = false;
    for it in &f.items {
        match it {
            FetchItem::Uid => {}
            FetchItem::Flags => {
                if flags_done {
                    continue;
                }
                flags_done = true;
                sep(b);
                b.extend_from_slice(b"FLAGS ");
                b.extend_from_slice(&sel.flags_of(rec));
            }
            FetchItem::InternalDate => {
                sep(b);
                b.extend_from_slice(b"INTERNALDATE ");
                b.extend_from_slice(internal_date(rec).as_bytes());
            }
            FetchItem::Rfc822Size => {
                sep(b);
                b.extend_from_slice(format!("RFC822.SIZE {}", rec.size.get()).as_bytes());
            }
            FetchItem::Envelope => {
                sep(b);
                b.extend_from_slice(b"ENVELOPE ");
                b.extend_from_slice(cache.map_or(&b"NIL"[..], |c| &c.envelope));
            }
            FetchItem::BodyStructure => {
                sep(b);
                b.extend_from_slice(b"BODYSTRUCTURE ");
                b.extend_from_slice(cache.map_or(&b"NIL"[..], |c| &c.bodystructure));
            }
            FetchItem::Body => {
                sep(b);
                b.extend_from_slice(b"BODY ");
                b.extend_from_slice(cache.map_or(&b"NIL"[..], |c| &c.body));
            }
            FetchItem::ModSeq => {
                modseq_done = true;
                sep(b);
                b.extend_from_slice(format!("MODSEQ ({})", rec.modseq.get()).as_bytes());
            }
            FetchItem::Rfc822 => {
                sep(b);
                b.extend_from_slice(b"RFC822 ");
                write::literal(b, file.unwrap_or_default());
            }
            FetchItem::Rfc822Header => {
                sep(b);
                b.extend_from_slice(b"RFC822.HEADER ");
                let s = super::proto::Section {
                    part: Vec::new(),
                    text: Some(SectionText::Header),
                };
                write::literal(b, &section_bytes(file.unwrap_or_default(), &s));
            }
            FetchItem::Rfc822Text => {
                sep(b);
                b.extend_from_slice(b"RFC822.TEXT ");
                let s = super::proto::Section {
                    part: Vec::new(),
                    text: Some(SectionText::Text),
                };
                write::literal(b, &section_bytes(file.unwrap_or_default(), &s));
            }
            FetchItem::Section(s) => {
                sep(b);
                write_section(b, s, file.unwrap_or_default());
            }
        }
    }
    if show_flags && !flags_done {
        sep(b);
        b.extend_from_slice(b"FLAGS ");
        b.extend_from_slice(&sel.flags_of(rec));
    }
    // Messages whose flags a body read just changed show their flags. CONDSTORE
    // clients are shown MODSEQ with CHANGEDSINCE, with a change this FETCH made,
    // and with FLAGS when the UID is asked for too (RFC 7162 3.1: a FETCH
    // without UID or MODSEQ gets no MODSEQ; Dovecot draws the line the same way).
    let asked_flags = f.items.contains(&FetchItem::Flags);
    if !modseq_done
        && en.condstore
        && (f.changed_since.is_some() || show_flags || (asked_flags && wants_uid))
    {
        sep(b);
        b.extend_from_slice(format!("MODSEQ ({})", rec.modseq.get()).as_bytes());
    }
    b.extend_from_slice(b")\r\n");
}

fn write_section(b: &mut Vec<u8>, s: &BodySection, msg: &[u8]) {
    // The reply names the section without PEEK (RFC 3501 7.4.2).
    write::section_name(b, s);
    b.push(b' ');
    if s.section.part.is_empty() && s.section.text.is_none() {
        write::literal(b, partial(msg, s.partial));
    } else {
        let bytes = section_bytes(msg, &s.section);
        write::literal(b, partial(&bytes, s.partial));
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn internal_dates_are_written_in_their_zone() {
        let r = Record {
            internal_date: 837_596_665.into(),
            internal_date_zone: (-420i16).into(),
            ..Record::default()
        };
        assert_eq!(internal_date(&r), "\"17-Jul-1996 02:44:25 -0700\"");
        let r = Record {
            internal_date: 0.into(),
            internal_date_zone: 60.into(),
            ..Record::default()
        };
        assert_eq!(internal_date(&r), "\" 1-Jan-1970 01:00:00 +0100\"");
    }

    #[test]
    fn header_block_stops_at_the_first_empty_line() {
        let read = |m: &[u8]| header_block(&mut std::io::Cursor::new(m.to_vec())).unwrap();
        assert_eq!(
            read(b"A: 1\r\nB: 2\r\n\r\nbody\r\n\r\n"),
            b"A: 1\r\nB: 2\r\n\r\n"
        );
        assert_eq!(read(b"A: 1\nB: 2\n\nbody"), b"A: 1\nB: 2\n\n");
        assert_eq!(read(b"\r\nbody"), b"\r\n");
        assert_eq!(read(b"A: 1\r\n \r\nB: 2"), b"A: 1\r\n \r\nB: 2");
        assert_eq!(read(b""), b"");
        // A header longer than one chunk, its empty line across the chunk's end.
        let mut big = b"X: ".to_vec();
        big.resize(16 * 1024 - 3, b'x');
        big.extend_from_slice(b"\r\n\r\nbody");
        assert_eq!(read(&big), &big[..big.len() - 4]);
        // Every top-level header section of the block is that of the whole message.
        let msg = b"From: a@b\r\nSubject: s\r\n\r\nbody\r\nSubject: not\r\n";
        let names = vec![b"Subject".to_vec()];
        for t in [
            crate::mime::section::SectionText::Header,
            crate::mime::section::SectionText::HeaderFields(names.clone()),
            crate::mime::section::SectionText::HeaderFieldsNot(names.clone()),
        ] {
            let whole = crate::mime::section::section(msg, &[], Some(&t)).into_owned();
            let part = crate::mime::section::section(&read(msg), &[], Some(&t)).into_owned();
            assert_eq!(whole, part);
        }
    }

    #[test]
    fn partials_clip() {
        assert_eq!(partial(b"abcdef", Some((2, 3))), b"cde");
        assert_eq!(partial(b"abcdef", Some((4, 10))), b"ef");
        assert_eq!(partial(b"abcdef", Some((10, 1))), b"");
        assert_eq!(partial(b"abcdef", None), b"abcdef");
    }
}
