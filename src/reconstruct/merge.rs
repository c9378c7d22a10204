//! The merge of what survives (the old index, or what salvage read of it, and the
//! bounds the mailbox list reserved) with what the files say, following the rules
//! of DESIGN.md and the promises behind them:
//! - a UID is never given twice under one UIDVALIDITY: new UIDs start above the
//!   largest bound known, and a file without a record below it gets a new UID;
//! - a flag belongs to the content it was set on: a record's flags are kept only
//!   while its file's BLAKE3 matches it, never moved to other content;
//! - every record's UID is below UIDNEXT, and UIDNEXT fits in 32 bits: when UIDs
//!   run out the plan says so, and the mailbox gets a new UIDVALIDITY.
//!
//! Pure: no I/O, so every rule has a unit test.

use super::scan::{FileState, Parsed};
use crate::index::State;
use crate::index::record::{Header, Record};
use std::collections::{BTreeMap, BTreeSet};

pub use crate::index::record::MAX_UID;

/// A message file as scanned.
pub struct Scanned {
    pub uid: u32,
    pub state: FileState,
    pub file: FileId,
}

/// What identifies a file on disk: `--quick` trusts a file whose size, device,
/// inode and modification time are those its record holds.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct FileId {
    pub len: u64,
    pub dev: u64,
    pub ino: u64,
    pub mtime_ns: i64,
}

impl FileId {
    pub fn of(r: &Record) -> FileId {
        FileId {
            len: r.file_size.get(),
            dev: r.file_dev.get(),
            ino: r.file_ino.get(),
            mtime_ns: r.file_mtime_ns.get(),
        }
    }

    pub fn matches(&self, r: &Record) -> bool {
        *self == FileId::of(r)
    }
}

/// What the mailbox may have shown clients, as far as anything proves it.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct Bounds {
    /// UIDs below it may have been seen (the largest UIDNEXT known).
    pub uid_floor: u32,
    /// The largest MODSEQ that may have been given out.
    pub modseq_floor: u64,
    /// The old index may be an older copy than what clients saw (restored): a
    /// kept record's flags may differ from what they last fetched, under a MODSEQ
    /// they have already passed, so every kept record gets a new MODSEQ above the
    /// floor and CONDSTORE/QRESYNC clients fetch its flags again.
    pub restamp: bool,
}

/// Where a new record's cache entry comes from.
#[derive(Debug)]
pub enum CacheFrom {
    /// The old index's entry for this UID, unchanged.
    Old,
    /// The file's parse (boxed as it came: a plan of mostly kept records stays small).
    New(Box<Parsed>),
}

#[derive(Debug)]
pub struct Planned {
    pub record: Record,
    pub cache: CacheFrom,
    /// The record differs from the old index's (or there was none).
    pub changed: bool,
}

#[derive(Debug, Default)]
pub struct Plan {
    pub uidnext: u32,
    pub highestmodseq: u64,
    pub records: Vec<Planned>,
    pub kept: usize,
    pub added: Vec<u32>,
    /// (file UID, new UID): interrupted deliveries, changed files, UIDs out of range.
    pub renumbered: Vec<(u32, u32)>,
    /// UIDs whose content no longer matched their record (also in `renumbered`):
    /// their old records, flags included, are dropped.
    pub changed_content: Vec<u32>,
    pub dropped: Vec<u32>,
    pub reparsed: usize,
    pub bad: Vec<u32>,
    /// Files that could not be read: their records are kept, the files left alone.
    pub unreadable: Vec<String>,
    /// The UID space ran out: the plan numbers the files for a new UIDVALIDITY.
    pub exhausted: bool,
}

impl Plan {
    /// Messages in the mailbox after the plan: every record it keeps or makes
    /// (counted, not listed: `--quick`'s plan of an unchanged mailbox lists none).
    pub fn messages(&self) -> usize {
        self.kept + self.added.len() + self.renumbered.len()
    }

    /// Whether the index must be written at all.
    pub fn changes_anything(&self, old: Option<&State>) -> bool {
        let Some(old) = old else { return true };
        self.exhausted
            || !self.added.is_empty()
            || !self.renumbered.is_empty()
            || !self.dropped.is_empty()
            || self.records.iter().any(|p| p.changed)
            || old.header.uidnext.get() != self.uidnext
            || old.header.highestmodseq.get() != self.highestmodseq
            || old.header.exists.get() as usize != self.records.len()
    }
}

/// The plan [`merge`] gives when each of the old records (`records`, in UID order)
/// has its file, unchanged (`Same`, with the identity the record holds), there is
/// no other file and the bounds are the header's own: then the same plan without
/// its records, else `None`. What `--quick` needs for a mailbox it leaves alone,
/// without copying every record.
pub fn unchanged(h: &Header, records: &[Record], bounds: Bounds) -> Option<Plan> {
    let uidnext = h.uidnext.get();
    let max_uid = records.last().map_or(0, |r| r.uid.get());
    let same = uidnext > max_uid
        && !bounds.restamp
        && bounds.uid_floor <= uidnext
        && bounds.modseq_floor <= h.highestmodseq.get()
        && h.exists.get() as usize == records.len();
    same.then(|| Plan {
        uidnext,
        highestmodseq: h.highestmodseq.get(),
        kept: records.len(),
        ..Plan::default()
    })
}

/// Hands out new UIDs above everything a client could have seen, skipping names
/// something else holds.
struct NewUids<'a> {
    next: u64,
    taken: &'a BTreeSet<u32>,
}

impl NewUids<'_> {
    fn take(&mut self) -> Option<u32> {
        while self.next <= u64::from(MAX_UID) {
            let uid = self.next as u32;
            self.next += 1;
            if !self.taken.contains(&uid) {
                return Some(uid);
            }
        }
        None
    }
}

/// Applies the rules. `old` is what survives of the index (its records may be a
/// salvaged subset, or none when the index was foreign); `None` when there is no
/// index at all, and then files keep their UIDs. `blocked` are UIDs whose names
/// something other than a message file holds.
pub fn merge(
    old: Option<&State>,
    bounds: Bounds,
    files: Vec<Scanned>,
    blocked: &[u32],
    now: i64,
) -> Plan {
    let max_file_uid = files.iter().map(|f| f.uid).max().unwrap_or(0);
    // A file without a record below the old UIDNEXT gets a new UID; new UIDs
    // start above that and above the bound.
    let floor = old.map_or(0, |s| s.header.uidnext.get());
    let mut taken: BTreeSet<u32> = files.iter().map(|f| f.uid).collect();
    taken.extend(blocked.iter().copied());
    let first_new = u64::from(floor)
        .max(u64::from(bounds.uid_floor))
        .max(u64::from(max_file_uid) + 1)
        .max(1);
    let renumbers = files
        .iter()
        .filter(|f| {
            let rec = old.and_then(|s| s.records.get(&f.uid));
            match &f.state {
                FileState::Parsed(p) => match rec {
                    Some(r) => r.guid != p.guid,
                    None => old.is_some() && f.uid < floor,
                },
                _ => false,
            }
        })
        .count() as u64;
    if max_file_uid > MAX_UID || first_new + renumbers > u64::from(MAX_UID) + 1 {
        return fresh(old, bounds, files, &taken, now);
    }

    let mut plan = Plan::default();
    let old_highest = old.map_or(0, |s| s.header.highestmodseq.get());
    let max_old_modseq = old
        .and_then(|s| s.records.values().map(|r| r.modseq.get()).max())
        .unwrap_or(0);
    // Every change this run makes gets one modseq above anything seen before, so
    // clients resynchronise exactly the messages that changed.
    let base = old_highest.max(max_old_modseq).max(bounds.modseq_floor);
    let modseq = base + 1;
    let mut uids = NewUids {
        next: first_new,
        taken: &taken,
    };

    let mut seen: Vec<u32> = Vec::with_capacity(files.len());
    plan.records.reserve(files.len());
    let mut to_renumber: Vec<(u32, Box<Parsed>, FileId)> = Vec::new();
    let mut records = old.map(|s| Cursor::new(&s.records));
    for f in files {
        let old_rec = records.as_mut().and_then(|c| c.get(f.uid)).copied();
        match f.state {
            FileState::Nul(_) => plan.bad.push(f.uid),
            FileState::Failed(why) => {
                plan.unreadable.push(why);
                if let Some(mut r) = old_rec {
                    seen.push(f.uid);
                    plan.kept += 1;
                    if bounds.restamp {
                        r.modseq = modseq.into();
                    }
                    plan.records.push(Planned {
                        record: r,
                        cache: CacheFrom::Old,
                        changed: bounds.restamp,
                    });
                }
            }
            FileState::Same => {
                let Some(mut r) = old_rec else { continue };
                seen.push(f.uid);
                plan.kept += 1;
                let before = r;
                set_file(&mut r, &f.file);
                if bounds.restamp {
                    r.modseq = modseq.into();
                }
                plan.records.push(Planned {
                    changed: r != before,
                    record: r,
                    cache: CacheFrom::Old,
                });
            }
            FileState::Parsed(p) => {
                plan.reparsed += 1;
                match old_rec {
                    Some(r) if r.guid == p.guid => {
                        // Same content: its record and flags stay, with a fresh cache.
                        seen.push(f.uid);
                        plan.kept += 1;
                        let mut rec = r;
                        set_file(&mut rec, &f.file);
                        fill_from_parse(&mut rec, &p);
                        if bounds.restamp {
                            rec.modseq = modseq.into();
                        }
                        plan.records.push(Planned {
                            changed: true,
                            record: rec,
                            cache: CacheFrom::New(p),
                        });
                    }
                    Some(_) => {
                        // Other content under a UID clients know: a new UID, and
                        // none of the old record's flags (they were set on the
                        // content that is gone).
                        plan.changed_content.push(f.uid);
                        to_renumber.push((f.uid, p, f.file));
                    }
                    None if old.is_some() && f.uid < floor => {
                        // An interrupted delivery, or a file restored under a UID a
                        // client may have seen as absent: it must not appear there.
                        to_renumber.push((f.uid, p, f.file));
                    }
                    None => {
                        plan.added.push(f.uid);
                        plan.records.push(Planned {
                            record: new_record(f.uid, &p, &f.file, now, modseq),
                            cache: CacheFrom::New(p),
                            changed: true,
                        });
                    }
                }
            }
        }
    }
    for (from, p, file) in to_renumber {
        // Counted above: there is a UID for each.
        let Some(uid) = uids.take() else { break };
        plan.renumbered.push((from, uid));
        plan.records.push(Planned {
            record: new_record(uid, &p, &file, now, modseq),
            cache: CacheFrom::New(p),
            changed: true,
        });
    }
    if let Some(s) = old {
        seen.sort_unstable();
        plan.dropped = s
            .records
            .keys()
            .filter(|u| seen.binary_search(u).is_err())
            .copied()
            .collect();
        // Those are reported as renumbered (their records go all the same).
        plan.dropped.retain(|u| !plan.changed_content.contains(u));
    }
    // UIDs are unique: an unstable sort gives the same order without the stable
    // sort's scratch buffer (fresh pages the kernel must zero, measurable here).
    plan.records.sort_unstable_by_key(|p| p.record.uid.get());
    // Above every file's UID too (those set aside as BAD included: a client may
    // have seen one), and above every UID handed out here.
    let max_uid = plan.records.last().map_or(0, |p| p.record.uid.get());
    let next = uids.next.max(u64::from(max_uid) + 1);
    plan.uidnext = next.min(u64::from(u32::MAX)) as u32;
    // A changed record needs a MODSEQ above anything seen; with none, the
    // mailbox's HIGHESTMODSEQ is only raised to what may have been seen.
    let any_change = plan.records.iter().any(|p| p.changed)
        || !plan.dropped.is_empty()
        || !plan.renumbered.is_empty();
    plan.highestmodseq = if any_change || old.is_none() {
        modseq
    } else {
        base
    };
    debug_assert_eq!(plan.messages(), plan.records.len());
    plan
}

/// The plan for a new UIDVALIDITY when the UID space ran out: every file keeps its
/// UID but those beyond [`MAX_UID`], which get the lowest free ones; a record whose
/// content still matches keeps its flags (they belong to that content), and no UID
/// of the old epoch constrains the new one.
fn fresh(
    old: Option<&State>,
    bounds: Bounds,
    files: Vec<Scanned>,
    taken: &BTreeSet<u32>,
    now: i64,
) -> Plan {
    let mut plan = Plan {
        exhausted: true,
        ..Plan::default()
    };
    let modseq = bounds
        .modseq_floor
        .max(old.map_or(0, |s| s.header.highestmodseq.get()))
        + 1;
    let mut free = NewUids { next: 1, taken };
    let mut kept_uids = BTreeSet::new();
    for f in files {
        let old_rec = old.and_then(|s| s.records.get(&f.uid)).copied();
        let moved = f.uid > MAX_UID;
        let uid = if moved {
            match free.take() {
                Some(u) => u,
                // Every UID is taken: the file stays where it is, out of the index.
                None => continue,
            }
        } else {
            f.uid
        };
        // Counted once: as renumbered, or as kept or added below.
        let count = |plan: &mut Plan, kept: bool| {
            if moved {
                plan.renumbered.push((f.uid, uid));
            } else if kept {
                plan.kept += 1;
            } else {
                plan.added.push(uid);
            }
        };
        match f.state {
            FileState::Nul(_) => plan.bad.push(f.uid),
            FileState::Failed(why) => plan.unreadable.push(why),
            FileState::Same => {
                if let Some(mut r) = old_rec {
                    set_file(&mut r, &f.file);
                    r.uid = uid.into();
                    r.modseq = modseq.into();
                    kept_uids.insert(f.uid);
                    count(&mut plan, true);
                    plan.records.push(Planned {
                        record: r,
                        cache: CacheFrom::Old,
                        changed: true,
                    });
                }
            }
            FileState::Parsed(p) => {
                plan.reparsed += 1;
                let mut rec = new_record(uid, &p, &f.file, now, modseq);
                match old_rec {
                    Some(r) if r.guid == p.guid => {
                        rec.system_flags = r.system_flags;
                        rec.user_flags = r.user_flags;
                        rec.internal_date = r.internal_date;
                        rec.internal_date_zone = r.internal_date_zone;
                        kept_uids.insert(f.uid);
                        count(&mut plan, true);
                    }
                    Some(_) => {
                        plan.changed_content.push(f.uid);
                        count(&mut plan, false);
                    }
                    None => count(&mut plan, false),
                }
                plan.records.push(Planned {
                    record: rec,
                    cache: CacheFrom::New(p),
                    changed: true,
                });
            }
        }
    }
    if let Some(s) = old {
        plan.dropped = s
            .records
            .keys()
            .filter(|u| !kept_uids.contains(u))
            .copied()
            .collect();
    }
    plan.records.sort_unstable_by_key(|p| p.record.uid.get());
    let max_uid = plan.records.last().map_or(0, |p| p.record.uid.get());
    plan.uidnext = max_uid.saturating_add(1).max(1);
    plan.highestmodseq = modseq;
    debug_assert_eq!(plan.messages(), plan.records.len());
    plan
}

/// Finds the records of ascending UIDs by walking the map once, as the files come
/// (sorted by UID): one search per file cost as much as the rest of the merge.
/// A UID out of order is searched for.
struct Cursor<'a> {
    map: &'a BTreeMap<u32, Record>,
    walk: std::iter::Peekable<std::collections::btree_map::Iter<'a, u32, Record>>,
    last: u32,
}

impl<'a> Cursor<'a> {
    fn new(map: &'a BTreeMap<u32, Record>) -> Cursor<'a> {
        Cursor {
            map,
            walk: map.iter().peekable(),
            last: 0,
        }
    }

    fn get(&mut self, uid: u32) -> Option<&'a Record> {
        if uid < self.last {
            return self.map.get(&uid);
        }
        self.last = uid;
        while self.walk.next_if(|(k, _)| **k < uid).is_some() {}
        self.walk
            .peek()
            .filter(|(k, _)| **k == uid)
            .map(|(_, r)| *r)
    }
}

fn set_file(r: &mut Record, id: &FileId) {
    r.file_size = id.len.into();
    r.file_dev = id.dev.into();
    r.file_ino = id.ino.into();
    r.file_mtime_ns = id.mtime_ns.into();
}

fn fill_from_parse(r: &mut Record, p: &Parsed) {
    r.size = (p.size.min(u64::from(u32::MAX)) as u32).into();
    r.header_size = (p.cache.header_size.min(u64::from(u32::MAX)) as u32).into();
    r.guid = p.guid;
}

/// The record [`merge`] gives a parsed file when no index survives: every such file
/// is added under its own UID, with one modseq above the floor. A full rebuild
/// writes it while it scans, so the write is off the serial tail.
pub fn record_without_index(
    uid: u32,
    p: &Parsed,
    id: &FileId,
    modseq_floor: u64,
    now: i64,
) -> Record {
    new_record(uid, p, id, now, modseq_floor + 1)
}

/// A record for a message nobody knew: no flags; its internal date is the file's
/// modification time (the closest thing to a delivery time that survives).
fn new_record(uid: u32, p: &Parsed, id: &FileId, now: i64, modseq: u64) -> Record {
    let date = if id.mtime_ns > 0 {
        id.mtime_ns / 1_000_000_000
    } else {
        now
    };
    let mut r = Record {
        uid: uid.into(),
        internal_date: date.into(),
        modseq: modseq.into(),
        ..Record::default()
    };
    set_file(&mut r, id);
    fill_from_parse(&mut r, p);
    r
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::index::CacheEntry;
    use crate::index::record::{Identity, flag};

    fn parsed(tag: u8) -> FileState {
        FileState::Parsed(Box::new(Parsed {
            guid: [tag; 32],
            size: 100,
            cache: CacheEntry {
                body_offset: 0,
                header_size: 10,
                body_size: 90,
                envelope: vec![],
                bodystructure: vec![],
                body: vec![],
            },
        }))
    }

    fn file(uid: u32, state: FileState) -> Scanned {
        Scanned {
            uid,
            state,
            file: FileId {
                len: 100,
                dev: 1,
                ino: uid as u64,
                mtime_ns: 5_000_000_000,
            },
        }
    }

    fn old(uidnext: u32, recs: &[(u32, u8, u32)]) -> State {
        let id = Identity {
            mailbox_id: 1,
            uidvalidity: 42,
        };
        let mut s = State {
            header: Header::new(id, uidnext, 9),
            ..State::default()
        };
        for &(uid, tag, flags) in recs {
            let r = Record {
                uid: uid.into(),
                guid: [tag; 32],
                system_flags: flags.into(),
                modseq: 3.into(),
                ..Record::default()
            };
            s.records.insert(uid, r);
        }
        s.header.exists = (recs.len() as u32).into();
        s
    }

    const NO: Bounds = Bounds {
        uid_floor: 0,
        modseq_floor: 0,
        restamp: false,
    };

    #[test]
    fn matching_files_keep_flags_and_missing_files_are_dropped() {
        let o = old(4, &[(1, 1, flag::SEEN), (2, 2, flag::FLAGGED), (3, 3, 0)]);
        let plan = merge(
            Some(&o),
            NO,
            vec![file(1, FileState::Same), file(2, FileState::Same)],
            &[],
            0,
        );
        assert_eq!(plan.kept, 2);
        assert_eq!(plan.dropped, vec![3]);
        assert_eq!(plan.records[0].record.system_flags.get(), flag::SEEN);
        assert_eq!(plan.records[1].record.system_flags.get(), flag::FLAGGED);
        assert_eq!(plan.uidnext, 4, "UIDNEXT never goes down");
        assert!(plan.highestmodseq > 9);
    }

    #[test]
    fn interrupted_delivery_below_uidnext_gets_a_new_uid() {
        let o = old(6, &[(1, 1, 0)]);
        let plan = merge(
            Some(&o),
            NO,
            vec![file(1, FileState::Same), file(4, parsed(4))],
            &[],
            0,
        );
        assert_eq!(plan.renumbered, vec![(4, 6)]);
        assert_eq!(plan.uidnext, 7);
    }

    #[test]
    fn new_uids_and_uidnext_continue_above_the_bound() {
        // The list reserved up to 50: a file at or above UIDNEXT keeps its UID (it
        // was never shown under another), one below it gets a UID above 50.
        let o = old(3, &[(1, 1, 0)]);
        let bounds = Bounds {
            uid_floor: 50,
            modseq_floor: 400,
            restamp: false,
        };
        let plan = merge(
            Some(&o),
            bounds,
            vec![
                file(1, FileState::Same),
                file(2, parsed(2)),
                file(7, parsed(7)),
            ],
            &[],
            0,
        );
        assert_eq!(plan.renumbered, vec![(2, 50)]);
        assert_eq!(plan.added, vec![7]);
        assert_eq!(plan.uidnext, 51);
        assert!(plan.highestmodseq > 400, "MODSEQ never goes down");
        // With nothing to renumber, UIDNEXT still moves up to the bound.
        let plan = merge(Some(&o), bounds, vec![file(1, FileState::Same)], &[], 0);
        assert_eq!(plan.uidnext, 50);
        assert!(plan.highestmodseq >= 400);
    }

    #[test]
    fn file_at_or_above_uidnext_keeps_its_uid() {
        let o = old(3, &[(1, 1, 0)]);
        let plan = merge(
            Some(&o),
            NO,
            vec![
                file(1, FileState::Same),
                file(3, parsed(3)),
                file(9, parsed(9)),
            ],
            &[],
            0,
        );
        assert_eq!(plan.added, vec![3, 9]);
        assert!(plan.renumbered.is_empty());
        assert_eq!(plan.uidnext, 10);
    }

    #[test]
    fn changed_content_gets_a_new_uid_and_no_flags() {
        let o = old(3, &[(1, 1, flag::SEEN | flag::DELETED), (2, 2, 0)]);
        let plan = merge(
            Some(&o),
            NO,
            vec![file(1, parsed(7)), file(2, FileState::Same)],
            &[],
            0,
        );
        assert_eq!(plan.renumbered, vec![(1, 3)]);
        assert_eq!(plan.changed_content, vec![1]);
        assert!(plan.dropped.is_empty(), "reported as renumbered");
        let r = plan
            .records
            .iter()
            .find(|p| p.record.uid.get() == 3)
            .unwrap();
        assert_eq!(
            r.record.system_flags.get(),
            0,
            "flags stay with the old content"
        );
    }

    #[test]
    fn new_uids_skip_names_something_else_holds() {
        let o = old(3, &[(1, 1, 0)]);
        let plan = merge(
            Some(&o),
            NO,
            vec![file(1, parsed(9)), file(2, parsed(2))],
            &[3, 4],
            0,
        );
        assert_eq!(plan.renumbered, vec![(1, 5), (2, 6)]);
        assert!(
            plan.records
                .iter()
                .all(|p| p.record.uid.get() < plan.uidnext)
        );
    }

    #[test]
    fn no_index_keeps_file_uids_above_the_bound() {
        let b = Bounds {
            uid_floor: 20,
            modseq_floor: 1000,
            restamp: false,
        };
        let plan = merge(
            None,
            b,
            vec![file(3, parsed(3)), file(5, parsed(5))],
            &[],
            0,
        );
        assert_eq!(plan.added, vec![3, 5]);
        assert_eq!(plan.uidnext, 20);
        assert_eq!(plan.highestmodseq, 1001);
        let plan = merge(None, NO, vec![file(3, parsed(3))], &[], 0);
        assert_eq!(plan.uidnext, 4);
    }

    #[test]
    fn when_uids_run_out_the_plan_says_so_and_renumbers_nothing_onto_a_taken_name() {
        let o = old(MAX_UID, &[(1, 1, flag::SEEN), (2, 2, 0)]);
        let plan = merge(
            Some(&o),
            NO,
            vec![
                file(1, FileState::Same),
                file(2, parsed(8)),
                file(u32::MAX, parsed(5)),
            ],
            &[3],
            0,
        );
        assert!(plan.exhausted);
        assert_eq!(plan.renumbered, vec![(u32::MAX, 4)]);
        assert_eq!(plan.uidnext, 5);
        assert_eq!(plan.records[0].record.system_flags.get(), flag::SEEN);
        assert_eq!(
            plan.records[1].record.system_flags.get(),
            0,
            "changed content"
        );
        assert!(
            plan.records
                .iter()
                .all(|p| p.record.uid.get() < plan.uidnext)
        );
    }

    #[test]
    fn with_no_index_the_plan_holds_exactly_the_records_a_full_rebuild_streams() {
        let files = vec![
            file(9, parsed(9)),
            file(2, parsed(2)),
            file(4, FileState::Nul(0)),
        ];
        let expect: Vec<Record> = [(2, parsed(2)), (9, parsed(9))]
            .into_iter()
            .map(|(uid, state)| {
                let FileState::Parsed(p) = state else {
                    unreachable!()
                };
                record_without_index(uid, &p, &file(uid, FileState::Same).file, 1000, 7)
            })
            .collect();
        let b = Bounds {
            uid_floor: 20,
            modseq_floor: 1000,
            restamp: false,
        };
        let plan = merge(None, b, files, &[], 7);
        let got: Vec<Record> = plan.records.iter().map(|p| p.record).collect();
        assert_eq!(got, expect);
        assert_eq!(plan.highestmodseq, 1001);
    }

    #[test]
    fn the_unchanged_plan_is_the_merge_of_unchanged_files() {
        let same = |o: &State| -> Vec<Scanned> {
            o.records
                .values()
                .map(|r| Scanned {
                    uid: r.uid.get(),
                    state: FileState::Same,
                    file: FileId::of(r),
                })
                .collect()
        };
        let intact = old(6, &[(1, 1, flag::SEEN), (4, 4, 0), (5, 5, 0)]);
        let mut wrong_count = intact.clone();
        wrong_count.header.exists = 2.into();
        let empty = old(1, &[]);
        let b = |uid_floor, modseq_floor| Bounds {
            uid_floor,
            modseq_floor,
            restamp: false,
        };
        for (o, bounds) in [
            (&intact, NO),
            (&intact, b(6, 9)),
            (&intact, b(3, 2)),
            (&intact, b(7, 9)),
            (&intact, b(6, 10)),
            (&wrong_count, NO),
            (&empty, NO),
            (&empty, b(2, 0)),
        ] {
            let merged = merge(Some(o), bounds, same(o), &[], 0);
            let merge_changes = merged.changes_anything(Some(o));
            let records: Vec<Record> = o.records.values().copied().collect();
            match unchanged(&o.header, &records, bounds) {
                None => assert!(merge_changes, "{bounds:?}: merge changes nothing"),
                Some(p) => {
                    assert!(!merge_changes, "{bounds:?}: merge changes something");
                    assert_eq!(
                        (p.uidnext, p.highestmodseq, p.kept),
                        (merged.uidnext, merged.highestmodseq, merged.kept),
                        "{bounds:?}"
                    );
                }
            }
        }
    }

    #[test]
    fn the_cursor_finds_records_in_any_order_of_uids() {
        let map: BTreeMap<u32, Record> = [2, 3, 7, 20]
            .into_iter()
            .map(|u| {
                let r = Record {
                    uid: u.into(),
                    ..Record::default()
                };
                (u, r)
            })
            .collect();
        let mut c = Cursor::new(&map);
        let found = |c: &mut Cursor<'_>, u: u32| c.get(u).map(|r| r.uid.get());
        for (uid, want) in [
            (1, None),
            (2, Some(2)),
            (7, Some(7)),
            (3, Some(3)),
            (5, None),
            (7, Some(7)),
            (21, None),
            (20, Some(20)),
        ] {
            assert_eq!(found(&mut c, uid), want, "UID {uid}");
        }
    }

    #[test]
    fn nul_files_are_left_out_and_unreadable_files_keep_their_records() {
        let o = old(3, &[(1, 1, flag::SEEN), (2, 2, 0)]);
        let plan = merge(
            Some(&o),
            NO,
            vec![
                file(1, FileState::Failed("eio".into())),
                file(2, FileState::Nul(5)),
            ],
            &[],
            0,
        );
        assert_eq!(plan.bad, vec![2]);
        assert_eq!(plan.dropped, vec![2]);
        assert_eq!(plan.kept, 1);
        assert_eq!(plan.unreadable.len(), 1);
    }

    #[test]
    fn an_intact_mailbox_changes_nothing() {
        let o = old(3, &[(1, 1, 0), (2, 2, 0)]);
        let mk = |uid: u32| Scanned {
            uid,
            state: FileState::Same,
            file: FileId::default(),
        };
        let plan = merge(Some(&o), NO, vec![mk(1), mk(2)], &[], 0);
        assert!(!plan.changes_anything(Some(&o)));
        assert_eq!(plan.highestmodseq, 9);
    }
}
