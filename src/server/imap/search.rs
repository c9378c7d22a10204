//! SEARCH and UID SEARCH, with ESEARCH (RFC 4731), SEARCHRES (RFC 5182) and the
//! MODSEQ key (RFC 7162). Flags, sizes, dates, UIDs and MODSEQs come from the
//! index records; a key on the text reads the message file, once per message,
//! and only when the keys before it did not already decide.

use super::out::Out;
use super::proto::{Charset, Date, Search, SearchKey, SearchReturn, write};
use super::selected::Selected;
use super::session::{Reply, Session};
use crate::index::record::{Record, flag};
use crate::store::fsutil::{Access, open_regular};
use std::io::Read;

/// One message being tested, with its file read at most once.
struct Candidate<'a> {
    seq: u32,
    rec: &'a Record,
    keywords: &'a [String],
    recent: bool,
    file: Option<Option<Vec<u8>>>,
    path: std::path::PathBuf,
}

impl Candidate<'_> {
    fn text(&mut self) -> Option<&[u8]> {
        if self.file.is_none() {
            let bytes = open_regular(&self.path, Access::Read)
                .ok()
                .and_then(|mut f| {
                    let mut v = Vec::new();
                    f.read_to_end(&mut v).ok().map(|_| v)
                });
            self.file = Some(bytes);
        }
        self.file.as_ref().and_then(|f| f.as_deref())
    }

    fn has(&self, bit: u32) -> bool {
        self.rec.system_flags.get() & bit != 0
    }

    fn keyword(&self, k: &str) -> bool {
        self.keywords
            .iter()
            .position(|x| x.eq_ignore_ascii_case(k))
            .is_some_and(|i| self.rec.has_user_flag(i))
    }

    /// The internal date's day, in its own zone.
    fn internal_day(&self) -> i64 {
        let zone = i64::from(self.rec.internal_date_zone.get());
        (self.rec.internal_date.get() + zone * 60).div_euclid(86_400)
    }
}

/// A needle in the search's charset, as UTF-8 (`None`: not valid in it).
fn needle(bytes: &[u8]) -> Option<String> {
    String::from_utf8(bytes.to_vec()).ok()
}

/// Evaluates one key; `largest` and `uids` resolve sets.
fn eval(key: &SearchKey, c: &mut Candidate<'_>, sel: &Selected, saved: Option<&[u32]>) -> bool {
    use SearchKey as K;
    let uid = c.rec.uid.get();
    match key {
        K::All => true,
        K::Answered => c.has(flag::ANSWERED),
        K::Deleted => c.has(flag::DELETED),
        K::Draft => c.has(flag::DRAFT),
        K::Flagged => c.has(flag::FLAGGED),
        K::Seen => c.has(flag::SEEN),
        K::Unanswered => !c.has(flag::ANSWERED),
        K::Undeleted => !c.has(flag::DELETED),
        K::Undraft => !c.has(flag::DRAFT),
        K::Unflagged => !c.has(flag::FLAGGED),
        K::Unseen => !c.has(flag::SEEN),
        K::Recent => c.recent,
        K::New => c.recent && !c.has(flag::SEEN),
        K::Old => !c.recent,
        K::Keyword(k) => c.keyword(k),
        K::Unkeyword(k) => !c.keyword(k),
        K::Larger(n) => c.rec.size.get() > *n,
        K::Smaller(n) => c.rec.size.get() < *n,
        K::Before(d) => c.internal_day() < d.days_since_epoch(),
        K::On(d) => c.internal_day() == d.days_since_epoch(),
        K::Since(d) => c.internal_day() >= d.days_since_epoch(),
        K::SentBefore(d) => sent_day(c).is_some_and(|s| s < d.days_since_epoch()),
        K::SentOn(d) => sent_day(c).is_some_and(|s| s == d.days_since_epoch()),
        K::SentSince(d) => sent_day(c).is_some_and(|s| s >= d.days_since_epoch()),
        K::Uid(set) => {
            let largest = sel.uids.last().copied().unwrap_or(0);
            set.contains(uid, largest)
                || (set.uses_saved() && saved.is_some_and(|s| s.binary_search(&uid).is_ok()))
        }
        K::Seq(set) => {
            set.contains(c.seq, sel.exists())
                || (set.uses_saved() && saved.is_some_and(|s| s.binary_search(&uid).is_ok()))
        }
        K::ModSeq { modseq, .. } => c.rec.modseq.get() >= *modseq,
        K::Not(k) => !eval(k, c, sel, saved),
        K::Or(ks) => ks.iter().any(|k| eval(k, c, sel, saved)),
        K::And(ks) => ks.iter().all(|k| eval(k, c, sel, saved)),
        K::Bcc(s) => header_has(c, b"Bcc", s),
        K::Cc(s) => header_has(c, b"Cc", s),
        K::From(s) => header_has(c, b"From", s),
        K::To(s) => header_has(c, b"To", s),
        K::Subject(s) => header_has(c, b"Subject", s),
        K::Header(f, s) => header_has(c, f, s),
        K::Body(s) => {
            let Some(n) = needle(s) else { return false };
            c.text()
                .is_some_and(|t| crate::mime::search::Searchable::new(t).body(&n))
        }
        K::Text(s) => {
            let Some(n) = needle(s) else { return false };
            c.text()
                .is_some_and(|t| crate::mime::search::Searchable::new(t).text(&n))
        }
    }
}

fn header_has(c: &mut Candidate<'_>, field: &[u8], s: &[u8]) -> bool {
    let Some(n) = needle(s) else { return false };
    c.text()
        .is_some_and(|t| crate::mime::search::Searchable::new(t).header(field, &n))
}

/// The day of the Date: header; a message without a readable one is dated by
/// its internal date, as Dovecot and Cyrus do (RFC 3501 leaves it open), so
/// that SENTBEFORE and SENTSINCE together still cover every message.
fn sent_day(c: &mut Candidate<'_>) -> Option<i64> {
    let t = c.text()?;
    let Some((y, m, d)) = crate::mime::search::Searchable::new(t).sent_date() else {
        return Some(c.internal_day());
    };
    let y = u16::try_from(y).ok()?;
    Some(
        Date {
            year: y,
            month: m,
            day: d,
        }
        .days_since_epoch(),
    )
}

/// What `RETURN (SAVE ...)` keeps for `$` (RFC 5182 2.4): with MIN or MAX and
/// neither ALL nor COUNT, only those messages; otherwise every match. `uids`
/// ascending.
fn saved_result(ret: &[SearchReturn], uids: &[u32]) -> Vec<u32> {
    let has = |r| ret.contains(&r);
    if has(SearchReturn::All) || has(SearchReturn::Count) {
        return uids.to_vec();
    }
    let (min, max) = (has(SearchReturn::Min), has(SearchReturn::Max));
    if !min && !max {
        return uids.to_vec();
    }
    let mut out = Vec::new();
    if let (true, Some(&u)) = (min, uids.first()) {
        out.push(u);
    }
    if let (true, Some(&u)) = (max, uids.last())
        && out.last() != Some(&u)
    {
        out.push(u);
    }
    out
}

fn uses_modseq(keys: &[SearchKey]) -> bool {
    keys.iter().any(|k| match k {
        SearchKey::ModSeq { .. } => true,
        SearchKey::Not(k) => uses_modseq(std::slice::from_ref(k)),
        SearchKey::Or(ks) | SearchKey::And(ks) => uses_modseq(ks),
        _ => false,
    })
}

impl Session {
    pub(super) fn search(&mut self, tag: &str, s: &Search, out: &mut Out) -> Result<(), Reply> {
        if let Some(Charset::Other(_)) = &s.charset {
            return Err(Reply::No(
                Some(write::Code::BadCharset(&["US-ASCII", "UTF-8"])),
                "unsupported charset".into(),
            ));
        }
        let modseq_key = uses_modseq(&s.keys);
        if modseq_key {
            self.enable_condstore(out);
        }
        let saved = self.saved.clone();
        let Some(sel) = self.selected.as_ref() else {
            return Err(Reply::Bad("select a mailbox first".into()));
        };
        let keywords = &sel.snap.view.keywords;
        let mut hits: Vec<(u32, u32, u64)> = Vec::new();
        for (i, &uid) in sel.uids.iter().enumerate() {
            let Some(rec) = sel.record(uid) else { continue };
            let mut c = Candidate {
                seq: i as u32 + 1,
                rec,
                keywords,
                recent: sel.is_recent(uid),
                file: None,
                path: sel.shared.open.message_path(uid),
            };
            if s.keys
                .iter()
                .all(|k| eval(k, &mut c, sel, saved.as_deref()))
            {
                hits.push((c.seq, uid, rec.modseq.get()));
            }
        }
        let numbers: Vec<u32> = hits.iter().map(|h| if s.uid { h.1 } else { h.0 }).collect();
        let highest = hits.iter().map(|h| h.2).max();
        match &s.returns {
            None => {
                out.buf.extend_from_slice(b"* SEARCH");
                for n in &numbers {
                    out.buf.extend_from_slice(format!(" {n}").as_bytes());
                }
                if modseq_key && let Some(m) = highest {
                    out.buf
                        .extend_from_slice(format!(" (MODSEQ {m})").as_bytes());
                }
                out.buf.extend_from_slice(b"\r\n");
            }
            Some(ret) => {
                let save = ret.contains(&SearchReturn::Save);
                if save {
                    self.saved = Some(saved_result(
                        ret,
                        &hits.iter().map(|h| h.1).collect::<Vec<_>>(),
                    ));
                }
                // RFC 5182: RETURN (SAVE) alone gives no ESEARCH reply.
                let shown: Vec<SearchReturn> = ret
                    .iter()
                    .copied()
                    .filter(|r| *r != SearchReturn::Save)
                    .collect();
                if save && shown.is_empty() {
                    return Ok(());
                }
                let shown = if shown.is_empty() {
                    vec![SearchReturn::All]
                } else {
                    shown
                };
                out.buf.extend_from_slice(b"* ESEARCH ");
                write::search_correlator(&mut out.buf, tag);
                if s.uid {
                    out.buf.extend_from_slice(b" UID");
                }
                for r in shown {
                    match r {
                        SearchReturn::Min => {
                            if let Some(n) = numbers.first() {
                                out.buf.extend_from_slice(format!(" MIN {n}").as_bytes());
                            }
                        }
                        SearchReturn::Max => {
                            if let Some(n) = numbers.last() {
                                out.buf.extend_from_slice(format!(" MAX {n}").as_bytes());
                            }
                        }
                        SearchReturn::Count => {
                            out.buf
                                .extend_from_slice(format!(" COUNT {}", numbers.len()).as_bytes());
                        }
                        SearchReturn::All => {
                            if !numbers.is_empty() {
                                out.buf.extend_from_slice(b" ALL ");
                                write::sequence_set(&mut out.buf, &numbers);
                            }
                        }
                        SearchReturn::Save => {}
                    }
                }
                if modseq_key && let Some(m) = highest {
                    out.buf.extend_from_slice(format!(" MODSEQ {m}").as_bytes());
                }
                out.buf.extend_from_slice(b"\r\n");
            }
        }
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use SearchReturn as R;

    #[test]
    fn save_with_min_or_max_keeps_only_those() {
        let u = [3, 5, 9];
        assert_eq!(saved_result(&[R::Save], &u), [3, 5, 9]);
        assert_eq!(saved_result(&[R::Save, R::Min], &u), [3]);
        assert_eq!(saved_result(&[R::Max, R::Save], &u), [9]);
        assert_eq!(saved_result(&[R::Save, R::Min, R::Max], &u), [3, 9]);
        assert_eq!(saved_result(&[R::Save, R::Min, R::Count], &u), [3, 5, 9]);
        assert_eq!(saved_result(&[R::Save, R::Max, R::All], &u), [3, 5, 9]);
        assert_eq!(saved_result(&[R::Save, R::Min, R::Max], &[4]), [4]);
        assert!(saved_result(&[R::Save, R::Min], &[]).is_empty());
    }
}
