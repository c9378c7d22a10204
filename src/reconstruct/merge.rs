//! The merge of what survives (old index, mailbox-list mirror) with what the files
//! say, following DESIGN.md's rules. Pure: no I/O, so every rule has a unit test.

use super::scan::{FileState, Parsed};
use crate::index::State;
use crate::index::record::{Header, Record};
use std::collections::BTreeMap;

/// A message file as scanned.
pub struct Scanned {
    pub uid: u32,
    pub state: FileState,
    pub identity: Identity,
}

#[derive(Clone, Copy, Debug, Default)]
pub struct Identity {
    pub len: u64,
    pub dev: u64,
    pub ino: u64,
    pub mtime_ns: i64,
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
    /// `None`: nothing survives; a new UIDVALIDITY must be chosen.
    pub uidvalidity: Option<u32>,
    pub uidnext: u32,
    pub highestmodseq: u64,
    pub records: Vec<Planned>,
    pub kept: usize,
    pub added: Vec<u32>,
    /// (file UID, new UID): interrupted deliveries and changed files.
    pub renumbered: Vec<(u32, u32)>,
    /// UIDs whose content no longer matched their record (also in `renumbered`).
    pub changed_content: Vec<u32>,
    pub dropped: Vec<u32>,
    pub reparsed: usize,
    pub bad: Vec<u32>,
    /// Files that could not be read: their records are kept, the files left alone.
    pub unreadable: Vec<String>,
}

impl Plan {
    /// Messages in the mailbox after the plan: every record it keeps or makes.
    pub fn messages(&self) -> usize {
        self.kept + self.added.len() + self.renumbered.len()
    }

    /// Whether the index must be written at all.
    pub fn changes_anything(&self, old: Option<&State>) -> bool {
        let Some(old) = old else { return true };
        !self.added.is_empty()
            || !self.renumbered.is_empty()
            || !self.dropped.is_empty()
            || self.records.iter().any(|p| p.changed)
            || old.header.uidnext.get() != self.uidnext
            || old.header.exists.get() as usize != self.records.len()
    }
}

/// The plan [`merge`] gives when each of the old records (`records`, in UID order)
/// has its file, unchanged (`Same`, with the identity the record holds) and there
/// is no other file: if that changes nothing, the same plan without its records,
/// else `None`. What `--quick` needs for a mailbox it leaves alone, without
/// copying every record.
pub fn unchanged(h: &Header, records: &[Record], mirror: Option<(u32, u32)>) -> Option<Plan> {
    let uidnext = h.uidnext.get();
    let max_uid = records.last().map_or(0, |r| r.uid.get());
    let same = h.uidvalidity.get() != 0
        && uidnext >= 1
        && uidnext > max_uid
        && mirror.is_none_or(|(_, next)| next <= uidnext)
        && h.exists.get() as usize == records.len();
    same.then(|| Plan {
        uidvalidity: Some(h.uidvalidity.get()),
        uidnext,
        highestmodseq: h.highestmodseq.get(),
        kept: records.len(),
        ..Plan::default()
    })
}

/// Applies the rules. `modseq_floor` is the HIGHESTMODSEQ to start from when no
/// index survives (it must not go below what clients may have seen).
pub fn merge(
    old: Option<&State>,
    mirror: Option<(u32, u32)>,
    files: Vec<Scanned>,
    modseq_floor: u64,
    now: i64,
) -> Plan {
    let mut plan = Plan::default();
    let old_uidnext = old.map(|s| s.header.uidnext.get()).unwrap_or(0);
    let mirror_uidnext = mirror.map(|m| m.1).unwrap_or(0);
    let max_file_uid = files.iter().map(|f| f.uid).max().unwrap_or(0);
    let old_highest = old
        .map(|s| s.header.highestmodseq.get())
        .unwrap_or(modseq_floor);
    let max_old_modseq = old
        .map(|s| {
            s.records
                .values()
                .map(|r| r.modseq.get())
                .max()
                .unwrap_or(0)
        })
        .unwrap_or(0);
    // Every change this run makes gets one modseq above anything seen before, so
    // clients resynchronise exactly the messages that changed.
    let modseq = old_highest.max(max_old_modseq) + 1;

    plan.uidvalidity = old
        .map(|s| s.header.uidvalidity.get())
        .or(mirror.map(|m| m.0))
        .filter(|&v| v != 0);
    // New UIDs are handed out above everything a client could have seen.
    let mut next_new = old_uidnext
        .max(mirror_uidnext)
        .max(max_file_uid.saturating_add(1))
        .max(1);
    // UIDs with a surviving record, ascending (the files come sorted).
    let mut seen: Vec<u32> = Vec::with_capacity(files.len());
    plan.records.reserve(files.len());
    let mut to_renumber: Vec<(u32, Box<Parsed>, Identity, Option<Record>)> = Vec::new();

    let mut records = old.map(|s| Cursor::new(&s.records));
    for f in files {
        let old_rec = records.as_mut().and_then(|c| c.get(f.uid)).copied();
        match f.state {
            FileState::Nul(_) => plan.bad.push(f.uid),
            FileState::Failed(why) => {
                plan.unreadable.push(why);
                if let Some(r) = old_rec {
                    seen.push(f.uid);
                    plan.kept += 1;
                    plan.records.push(Planned {
                        record: r,
                        cache: CacheFrom::Old,
                        changed: false,
                    });
                }
            }
            FileState::Same => {
                let Some(mut r) = old_rec else { continue };
                seen.push(f.uid);
                plan.kept += 1;
                let before = r;
                set_identity(&mut r, &f.identity);
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
                        // --full: same content, fresh cache.
                        seen.push(f.uid);
                        plan.kept += 1;
                        let mut rec = r;
                        set_identity(&mut rec, &f.identity);
                        fill_from_parse(&mut rec, &p);
                        plan.records.push(Planned {
                            changed: true,
                            record: rec,
                            cache: CacheFrom::New(p),
                        });
                    }
                    Some(r) => {
                        plan.changed_content.push(f.uid);
                        to_renumber.push((f.uid, p, f.identity, Some(r)));
                    }
                    None if old.is_some() && f.uid < old_uidnext => {
                        // An interrupted delivery: clients may have seen this UIDNEXT
                        // and skipped the UID, so it must not appear under it now.
                        to_renumber.push((f.uid, p, f.identity, None));
                    }
                    None => {
                        plan.added.push(f.uid);
                        let rec = new_record(f.uid, &p, &f.identity, now, modseq);
                        plan.records.push(Planned {
                            record: rec,
                            cache: CacheFrom::New(p),
                            changed: true,
                        });
                    }
                }
            }
        }
    }
    for (from, p, id, old_rec) in to_renumber {
        let uid = next_new;
        next_new = next_new.saturating_add(1);
        plan.renumbered.push((from, uid));
        let mut rec = new_record(uid, &p, &id, now, modseq);
        if let Some(o) = old_rec {
            // The file was damaged, not replaced: the user's flags and the date stay.
            rec.system_flags = o.system_flags;
            rec.user_flags = o.user_flags;
            rec.internal_date = o.internal_date;
            rec.internal_date_zone = o.internal_date_zone;
        }
        plan.records.push(Planned {
            record: rec,
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
        plan.dropped.retain(|u| !plan.changed_content.contains(u));
    }
    // UIDs are unique: an unstable sort gives the same order without the stable
    // sort's scratch buffer (fresh pages the kernel must zero, measurable here).
    plan.records.sort_unstable_by_key(|p| p.record.uid.get());
    let max_uid = plan.records.last().map(|p| p.record.uid.get()).unwrap_or(0);
    plan.uidnext = next_new.max(max_uid.saturating_add(1));
    let any_change = plan.records.iter().any(|p| p.changed) || !plan.dropped.is_empty();
    plan.highestmodseq = if any_change || old.is_none() {
        modseq
    } else {
        old_highest
    };
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

fn set_identity(r: &mut Record, id: &Identity) {
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
    id: &Identity,
    modseq_floor: u64,
    now: i64,
) -> Record {
    new_record(uid, p, id, now, modseq_floor + 1)
}

/// A record for a message nobody knew: no flags; its internal date is the file's
/// modification time (the closest thing to a delivery time that survives).
fn new_record(uid: u32, p: &Parsed, id: &Identity, now: i64, modseq: u64) -> Record {
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
    set_identity(&mut r, id);
    fill_from_parse(&mut r, p);
    r
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::index::CacheEntry;
    use crate::index::new_header;
    use crate::index::record::flag;

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
            identity: Identity {
                len: 100,
                dev: 1,
                ino: uid as u64,
                mtime_ns: 5_000_000_000,
            },
        }
    }

    fn old(uidnext: u32, recs: &[(u32, u8, u32)]) -> State {
        let mut s = State {
            header: new_header(42, uidnext, 9),
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

    #[test]
    fn matching_files_keep_flags_and_missing_files_are_dropped() {
        let o = old(4, &[(1, 1, flag::SEEN), (2, 2, flag::FLAGGED), (3, 3, 0)]);
        let plan = merge(
            Some(&o),
            None,
            vec![file(1, FileState::Same), file(2, FileState::Same)],
            0,
            0,
        );
        assert_eq!(plan.uidvalidity, Some(42));
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
            None,
            vec![file(1, FileState::Same), file(4, parsed(4))],
            0,
            0,
        );
        assert_eq!(plan.renumbered, vec![(4, 6)]);
        assert_eq!(plan.uidnext, 7);
    }

    #[test]
    fn file_at_or_above_uidnext_keeps_its_uid() {
        let o = old(3, &[(1, 1, 0)]);
        let plan = merge(
            Some(&o),
            None,
            vec![
                file(1, FileState::Same),
                file(3, parsed(3)),
                file(9, parsed(9)),
            ],
            0,
            0,
        );
        assert_eq!(plan.added, vec![3, 9]);
        assert!(plan.renumbered.is_empty());
        assert_eq!(plan.uidnext, 10);
    }

    #[test]
    fn changed_content_gets_a_new_uid_and_keeps_flags() {
        let o = old(3, &[(1, 1, flag::SEEN), (2, 2, 0)]);
        let plan = merge(
            Some(&o),
            None,
            vec![file(1, parsed(7)), file(2, FileState::Same)],
            0,
            0,
        );
        assert_eq!(plan.renumbered, vec![(1, 3)]);
        assert_eq!(plan.changed_content, vec![1]);
        assert!(plan.dropped.is_empty());
        let r = plan
            .records
            .iter()
            .find(|p| p.record.uid.get() == 3)
            .unwrap();
        assert_eq!(r.record.system_flags.get(), flag::SEEN);
    }

    #[test]
    fn no_index_keeps_file_uids_and_the_mirror() {
        let plan = merge(
            None,
            Some((77, 20)),
            vec![file(3, parsed(3)), file(5, parsed(5))],
            1000,
            0,
        );
        assert_eq!(plan.uidvalidity, Some(77));
        assert_eq!(plan.added, vec![3, 5]);
        assert_eq!(plan.uidnext, 20);
        assert!(plan.highestmodseq > 1000);
        let plan = merge(None, None, vec![file(3, parsed(3))], 0, 0);
        assert_eq!(plan.uidvalidity, None);
        assert_eq!(plan.uidnext, 4);
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
                record_without_index(uid, &p, &file(uid, FileState::Same).identity, 1000, 7)
            })
            .collect();
        let plan = merge(None, Some((77, 20)), files, 1000, 7);
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
                    identity: Identity {
                        len: r.file_size.get(),
                        dev: r.file_dev.get(),
                        ino: r.file_ino.get(),
                        mtime_ns: r.file_mtime_ns.get(),
                    },
                })
                .collect()
        };
        let intact = old(6, &[(1, 1, flag::SEEN), (4, 4, 0), (5, 5, 0)]);
        let mut no_uidvalidity = intact.clone();
        no_uidvalidity.header.uidvalidity = 0.into();
        let mut wrong_count = intact.clone();
        wrong_count.header.exists = 2.into();
        let empty = old(1, &[]);
        for (o, mirror) in [
            (&intact, None),
            (&intact, Some((42, 6))),
            (&intact, Some((7, 3))),
            (&intact, Some((42, 7))),
            (&no_uidvalidity, None),
            (&wrong_count, None),
            (&empty, None),
            (&empty, Some((42, 2))),
        ] {
            let merged = merge(Some(o), mirror, same(o), 0, 0);
            let merge_changes = merged.uidvalidity.is_none() || merged.changes_anything(Some(o));
            let records: Vec<Record> = o.records.values().copied().collect();
            match unchanged(&o.header, &records, mirror) {
                None => assert!(merge_changes, "{mirror:?}: merge changes nothing"),
                Some(p) => {
                    assert!(!merge_changes, "{mirror:?}: merge changes something");
                    assert_eq!(
                        (
                            p.uidvalidity,
                            p.uidnext,
                            p.highestmodseq,
                            p.kept,
                            p.messages()
                        ),
                        (
                            merged.uidvalidity,
                            merged.uidnext,
                            merged.highestmodseq,
                            merged.kept,
                            merged.messages()
                        ),
                        "{mirror:?}"
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
            None,
            vec![
                file(1, FileState::Failed("eio".into())),
                file(2, FileState::Nul(5)),
            ],
            0,
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
            identity: Identity::default(),
        };
        let plan = merge(Some(&o), None, vec![mk(1), mk(2)], 0, 0);
        assert!(!plan.changes_anything(Some(&o)));
        assert_eq!(plan.highestmodseq, 9);
    }
}
