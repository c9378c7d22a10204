//! The selected mailbox as one session sees it: the UIDs it has been told of, in
//! message-number order, and the state it last reported. The shared snapshot
//! moves on when anyone changes the mailbox; [`Selected::sync`] tells the client
//! the difference with ordinary untagged replies (EXPUNGE or VANISHED, EXISTS,
//! RECENT, FETCH FLAGS, FLAGS), never a number the client cannot reconcile.

use super::out::Out;
use super::proto::write;
use super::proto::{SeqItem, SequenceSet};
use crate::error::Result;
use crate::index::record::{MAX_USER_FLAGS, Record};
use crate::server::hub::{Shared, Snapshot};
use std::collections::HashMap;
use std::sync::Arc;

/// What the client enabled that changes untagged replies.
#[derive(Clone, Copy, Debug, Default)]
pub struct Enabled {
    pub condstore: bool,
    pub qresync: bool,
}

pub struct Selected {
    pub shared: Arc<Shared>,
    pub read_only: bool,
    /// UIDs the client knows, ascending: message number `n` is `uids[n - 1]`.
    pub uids: Vec<u32>,
    /// The snapshot the client was last brought up to date with.
    pub snap: Arc<Snapshot>,
    /// Every change up to this MODSEQ has been reported.
    known_modseq: u64,
    uidvalidity: u32,
    mailbox_id: u64,
    /// `\Recent` for this session (ascending).
    recent: Vec<u32>,
    /// Keywords the client was told of with FLAGS, by name: a rebuilt index
    /// may number them otherwise, or hold others as many.
    keywords: Vec<String>,
    /// FETCH FLAGS already sent since the last sync, by UID, at this MODSEQ: a
    /// sync does not repeat them.
    reported: HashMap<u32, u64>,
}

/// Why a session must end: the mailbox it has selected is not the one it was.
#[derive(Debug)]
pub struct Gone;

impl Selected {
    /// Selects: reads the snapshot and takes the `\Recent` messages (EXAMINE only
    /// looks at them).
    pub fn open(shared: Arc<Shared>, read_only: bool) -> Result<Selected> {
        let snap = shared.current()?;
        let uids: Vec<u32> = snap.view.records.iter().map(|r| r.uid.get()).collect();
        let from = if read_only {
            shared.peek_recent(snap.uidnext())
        } else {
            shared.take_recent(snap.uidnext())
        };
        let recent = uids.iter().copied().filter(|&u| u >= from).collect();
        Ok(Selected {
            known_modseq: snap.highestmodseq(),
            uidvalidity: snap.uidvalidity(),
            mailbox_id: snap.mailbox_id(),
            keywords: snap.view.keywords.clone(),
            shared,
            read_only,
            uids,
            snap,
            recent,
            reported: HashMap::new(),
        })
    }

    /// The HIGHESTMODSEQ of the state the client has been told of.
    pub fn reported_modseq(&self) -> u64 {
        self.known_modseq
    }

    pub fn exists(&self) -> u32 {
        self.uids.len() as u32
    }

    pub fn recent_count(&self) -> u32 {
        self.recent.len() as u32
    }

    pub fn is_recent(&self, uid: u32) -> bool {
        self.recent.binary_search(&uid).is_ok()
    }

    /// The message number of `uid`, if the client knows it.
    pub fn seq_of(&self, uid: u32) -> Option<u32> {
        self.uids.binary_search(&uid).ok().map(|i| i as u32 + 1)
    }

    /// The record of a message the client knows, from the newest snapshot read;
    /// `None` when it has been expunged meanwhile.
    pub fn record(&self, uid: u32) -> Option<&Record> {
        self.snap.get(uid)
    }

    /// Notes that FETCH FLAGS of `uid` at `modseq` was sent.
    pub fn reported(&mut self, uid: u32, modseq: u64) {
        self.reported.insert(uid, modseq);
    }

    /// The messages a set names, as indexes into `uids`, ascending and unique.
    /// `Err` for a message number above the count (RFC 3501 9: a `BAD`), and for
    /// `$` when nothing was saved.
    pub fn resolve(
        &self,
        set: &SequenceSet,
        uid: bool,
        saved: Option<&[u32]>,
    ) -> Result<Vec<usize>, &'static str> {
        let n = self.uids.len();
        let mut out: Vec<usize> = Vec::new();
        if set.uses_saved() {
            let Some(saved) = saved else {
                return Err("no search result was saved for $");
            };
            out.extend(saved.iter().filter_map(|u| self.uids.binary_search(u).ok()));
        }
        if uid {
            let largest = self.uids.last().copied().unwrap_or(0);
            for (lo, hi) in set.ranges(largest) {
                let a = self.uids.partition_point(|&u| u < lo);
                let b = self.uids.partition_point(|&u| u <= hi);
                out.extend(a..b);
            }
        } else {
            for item in &set.0 {
                if let SeqItem::Range(a, b) = item {
                    for v in [a, b] {
                        if let super::proto::SeqNum::Value(v) = v
                            && *v as usize > n
                        {
                            return Err("message number above the number of messages");
                        }
                    }
                }
            }
            for (lo, hi) in set.ranges(n as u32) {
                if lo == 0 {
                    continue;
                }
                out.extend((lo as usize - 1)..(hi as usize).min(n));
            }
        }
        out.sort_unstable();
        out.dedup();
        Ok(out)
    }

    /// The flags of a record as the client sees them.
    pub fn flags_of(&self, r: &Record) -> Vec<u8> {
        let mut out = Vec::with_capacity(32);
        out.push(b'(');
        let names = crate::ops::flags::flag_names(r, &self.snap.view.keywords);
        for (i, n) in names.iter().enumerate() {
            if i > 0 {
                out.push(b' ');
            }
            out.extend_from_slice(n.as_bytes());
        }
        if self.is_recent(r.uid.get()) {
            if !names.is_empty() {
                out.push(b' ');
            }
            out.extend_from_slice(b"\\Recent");
        }
        out.push(b')');
        out
    }

    /// `* FLAGS` and `* OK [PERMANENTFLAGS]` for the current keyword list.
    pub fn write_flags(&self, out: &mut Vec<u8>) {
        let mut list = b"\\Answered \\Flagged \\Deleted \\Seen \\Draft".to_vec();
        for k in self.snap.view.keywords.iter().filter(|k| !k.is_empty()) {
            list.push(b' ');
            list.extend_from_slice(k.as_bytes());
        }
        out.extend_from_slice(b"* FLAGS (");
        out.extend_from_slice(&list);
        out.extend_from_slice(b")\r\n");
        out.extend_from_slice(b"* OK [PERMANENTFLAGS (");
        if self.read_only {
            out.extend_from_slice(b")] Read-only mailbox\r\n");
            return;
        }
        out.extend_from_slice(&list);
        if self.snap.view.keywords.len() < MAX_USER_FLAGS {
            out.extend_from_slice(b" \\*");
        }
        out.extend_from_slice(b")] Flags permitted\r\n");
    }

    /// `* FLAGS` and PERMANENTFLAGS again when the snapshot has keywords the
    /// client was not told of: before any FETCH that shows them.
    pub fn announce_keywords(&mut self, out: &mut Out) {
        let told = &self.keywords;
        if self
            .snap
            .view
            .keywords
            .iter()
            .any(|k| !k.is_empty() && !told.contains(k))
        {
            self.keywords = self.snap.view.keywords.clone();
            self.write_flags(&mut out.buf);
        }
    }

    /// Brings the client up to date with the mailbox. `expunges`: whether EXPUNGE
    /// replies may be sent now (not during FETCH, STORE or SEARCH by message
    /// number, RFC 3501 7.4.1); they wait for the next command otherwise.
    /// `Err(Gone)`-like outcome: the UIDVALIDITY changed, the session must end.
    pub fn sync(
        &mut self,
        out: &mut Out,
        expunges: bool,
        en: Enabled,
    ) -> Result<std::result::Result<(), Gone>> {
        let new = self.shared.current()?;
        if new.uidvalidity() != self.uidvalidity
            || (self.mailbox_id != 0
                && new.mailbox_id() != 0
                && new.mailbox_id() != self.mailbox_id)
        {
            return Ok(Err(Gone));
        }
        // Nothing to tell: the same snapshot, and the client's view is all of it
        // (a command may have moved `snap` on without telling, e.g. a STORE that
        // raced with a delivery).
        let same = Arc::ptr_eq(&new, &self.snap)
            && self.reported.is_empty()
            && self.known_modseq >= new.highestmodseq()
            && self.uids.len() == new.view.records.len()
            && self.uids.last().copied() == new.view.records.last().map(|r| r.uid.get());
        self.snap = new;
        if same {
            return Ok(Ok(()));
        }
        let snap = self.snap.clone();
        let present = |u: u32| snap.get(u).is_some();
        let recent_before = self.recent.len();
        // Whether messages came or went: then a CONDSTORE client is told the new
        // HIGHESTMODSEQ (below), since no FETCH it gets carries it.
        let mut size_changed = false;

        if expunges {
            let gone: Vec<usize> = (0..self.uids.len())
                .filter(|&i| !present(self.uids[i]))
                .collect();
            if !gone.is_empty() {
                if en.qresync {
                    let uids: Vec<u32> = gone.iter().map(|&i| self.uids[i]).collect();
                    out.buf.extend_from_slice(b"* VANISHED ");
                    write::sequence_set(&mut out.buf, &uids);
                    out.buf.extend_from_slice(b"\r\n");
                } else {
                    for &i in gone.iter().rev() {
                        out.buf
                            .extend_from_slice(format!("* {} EXPUNGE\r\n", i + 1).as_bytes());
                        out.maybe_flush();
                    }
                }
                self.uids.retain(|&u| present(u));
                self.recent.retain(|&u| present(u));
                size_changed = true;
            }
        }

        let max = self.uids.last().copied().unwrap_or(0);
        let added: Vec<u32> = snap
            .view
            .records
            .iter()
            .map(|r| r.uid.get())
            .filter(|&u| u > max)
            .collect();

        self.announce_keywords(out);

        // Flag changes of messages the client already knows.
        if snap.highestmodseq() > self.known_modseq || !self.reported.is_empty() {
            let since = self.known_modseq;
            for (i, &uid) in self.uids.iter().enumerate() {
                let Some(r) = snap.get(uid) else { continue };
                let m = r.modseq.get();
                if m <= since || self.reported.get(&uid) == Some(&m) {
                    continue;
                }
                out.buf
                    .extend_from_slice(format!("* {} FETCH (", i + 1).as_bytes());
                // RFC 7162 3.1: with CONDSTORE on, every untagged FETCH of a flag
                // change carries the UID and the MODSEQ.
                if en.condstore {
                    out.buf.extend_from_slice(format!("UID {uid} ").as_bytes());
                }
                out.buf.extend_from_slice(b"FLAGS ");
                let f = self.flags_of(r);
                out.buf.extend_from_slice(&f);
                if en.condstore {
                    out.buf
                        .extend_from_slice(format!(" MODSEQ ({m})").as_bytes());
                }
                out.buf.extend_from_slice(b")\r\n");
                out.maybe_flush();
            }
        }
        self.known_modseq = self.known_modseq.max(snap.highestmodseq());
        self.reported.clear();

        if !added.is_empty() {
            // EXAMINE shows new messages as recent but leaves them recent for
            // a session that selects the mailbox (RFC 3501 6.3.2).
            let from = if self.read_only {
                self.shared.peek_recent(snap.uidnext())
            } else {
                self.shared.take_recent(snap.uidnext())
            };
            self.recent
                .extend(added.iter().copied().filter(|&u| u >= from));
            self.uids.extend_from_slice(&added);
            out.buf
                .extend_from_slice(format!("* {} EXISTS\r\n", self.uids.len()).as_bytes());
            out.buf
                .extend_from_slice(format!("* {} RECENT\r\n", self.recent.len()).as_bytes());
            size_changed = true;
        } else if self.recent.len() != recent_before {
            self.write_recent(out);
        }
        // An expunge or a delivery by someone else raises HIGHESTMODSEQ with no
        // FETCH MODSEQ the client could take it from (RFC 7162 gives it with an
        // EXPUNGE's own tagged OK, 3.2.10; an untagged OK [HIGHESTMODSEQ] may come
        // at any time, 3.1.2.1): a client that keeps its state by MODSEQ
        // (interimap, any QRESYNC client) needs it to resynchronise from later.
        // Dovecot sends it the same way.
        if en.condstore && size_changed {
            write::status_line(
                &mut out.buf,
                None,
                write::Status::Ok,
                Some(&write::Code::HighestModSeq(self.known_modseq)),
                "Highest",
            );
        }
        Ok(Ok(()))
    }

    /// `* n RECENT`: RFC 3501 7.3.2 sends it when the mailbox's size changes,
    /// and an expunge of recent messages changes the count.
    fn write_recent(&self, out: &mut Out) {
        out.buf
            .extend_from_slice(format!("* {} RECENT\r\n", self.recent.len()).as_bytes());
    }

    /// Takes expunged UIDs out of the view after this session's own EXPUNGE,
    /// writing their replies; `uids` ascending.
    pub fn expunged(&mut self, uids: &[u32], out: &mut Out, en: Enabled) {
        let idx: Vec<usize> = uids
            .iter()
            .filter_map(|u| self.uids.binary_search(u).ok())
            .collect();
        if idx.is_empty() {
            return;
        }
        if en.qresync {
            let shown: Vec<u32> = idx.iter().map(|&i| self.uids[i]).collect();
            out.buf.extend_from_slice(b"* VANISHED ");
            write::sequence_set(&mut out.buf, &shown);
            out.buf.extend_from_slice(b"\r\n");
        } else {
            for &i in idx.iter().rev() {
                out.buf
                    .extend_from_slice(format!("* {} EXPUNGE\r\n", i + 1).as_bytes());
                out.maybe_flush();
            }
        }
        self.uids.retain(|u| uids.binary_search(u).is_err());
        let recent_before = self.recent.len();
        self.recent.retain(|u| uids.binary_search(u).is_err());
        if self.recent.len() != recent_before {
            self.write_recent(out);
        }
    }
}

#[cfg(test)]
mod tests {
    use super::super::names::{Name, resolve};
    use super::super::testing::{Rig, msg};
    use super::*;

    #[test]
    fn a_snapshot_moved_on_by_a_command_still_gets_its_news_told() {
        let rig = Rig::new();
        rig.deliver("joe", &msg("one"));
        let Name::Mailbox(inbox) = resolve("joe", "INBOX") else {
            panic!("INBOX")
        };
        let shared = rig.ctx.hub.open(&inbox).unwrap();
        let mut sel = Selected::open(shared.clone(), false).unwrap();
        rig.deliver("joe", &msg("two"));
        // A STORE or a FETCH that set \Seen re-reads the snapshot for its own
        // replies; the delivery in it must still be told at the next sync.
        sel.snap = shared.current().unwrap();
        let mut out = Out::buffered();
        sel.sync(&mut out, true, Enabled::default())
            .unwrap()
            .unwrap();
        let text = String::from_utf8_lossy(&out.take()).into_owned();
        assert!(text.contains("* 2 EXISTS"), "{text}");
        let mut out = Out::buffered();
        sel.sync(&mut out, true, Enabled::default())
            .unwrap()
            .unwrap();
        assert!(out.take().is_empty(), "told once");
    }
}
