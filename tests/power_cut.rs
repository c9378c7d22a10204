//! Power cuts below the process (issue 6, item 2): what a disk keeps when the power
//! goes, not what a killed process leaves (`tests/crash.rs` covers that: a kill
//! never loses the page cache).
//!
//! `PowerCutBackend` is a redb `StorageBackend` that keeps two images of one file:
//! `live` (every write and `set_len`, what the process reads back) and `durable`
//! (the bytes as of the last completed `sync_data`), plus the unsynced operations
//! in between. It logs every write, `set_len` and sync, so one run of a workload
//! gives the image a power cut leaves after any of them. At each cut point the test
//! builds:
//! - `durable`: none of the unsynced writes reached the platter;
//! - `everything`: all of them did (the same bytes a SIGKILL leaves);
//! - `torn`: a seeded random subset of the unsynced writes, each split into 512-byte
//!   sectors that land or not independently (a sector is atomic, a write is not;
//!   later writes may land while earlier ones do not), and a file length that is
//!   the durable one or the live one.
//!
//! The workload drives the real index code (`Index::create_with_backend`, then
//! `Index::write` with the `Writer` calls deliver, flags and expunge make:
//! `put_record` + `put_cache` + `set_header`, `set_keywords`, `remove`), with
//! records and cache entries built by `ops::deliver::prepare`/`record_for` from real
//! message bytes, and keeps a model of every committed state. Each image is then:
//! 1. written as `msgstore.index` in a temporary mailbox directory and opened with
//!    `Index::open` + `load` + `cache`: it either fails with an error (never a
//!    panic), or shows exactly one committed state: the last one whose sync
//!    completed, or the next one if the cut fell inside that commit — compared
//!    byte for byte (header, keyword names, every record, every cache entry);
//! 2. put into a real store (users.redb, mailboxes.redb with its mirror) with the
//!    message files that existed at that instant, and repaired with
//!    `msgstore::reconstruct::run`: no message is lost or comes back, no UID is
//!    lowered, UIDNEXT does not go below what the index committed, flags survive
//!    when the index did, UIDVALIDITY is kept, and a damaged index is set aside.
//!
//! A second test does the same for `mailboxes.redb` (`db::create_with_backend`,
//! then `db::mailboxes::write`), repaired with `reconstruct -m`.
//!
//! Not simulated: the file system's own metadata. Creating, renaming, linking and
//! unlinking files, directory fsyncs and the file's size as the file system records
//! it are not part of this layer (redb only sees one file's bytes): the message files
//! of a cut are taken to be the ones the write order (DESIGN.md) had made by then,
//! all intact. Also not simulated: a disk that lies about flushes, sectors torn
//! inside themselves, and bit rot (tests/corruption.rs flips bytes).
//!
//! Seeded and bounded: every cut point of the workload is tried; at each one
//! `MSGSTORE_POWERCUT_TRIALS=N` torn images (default 2) besides `durable` and
//! `everything`; `MSGSTORE_POWERCUT_SEED=S` another seed. Identical images are
//! checked once. Each test prints its totals.

mod support;

use msgstore::db::{self, mailboxes};
use msgstore::error::DbKind;
use msgstore::index::record::{Header, Identity, Record, flag};
use msgstore::index::{self, CacheEntry, Index};
use msgstore::ops::deliver::{prepare, record_for};
use msgstore::reconstruct::{self, Options, scan::Check};
use msgstore::store::names::MailboxName;
use msgstore::store::{INDEX_FILE, Store};
use redb::StorageBackend;
use std::collections::{BTreeMap, BTreeSet, HashSet};
use std::path::Path;
use std::sync::{Arc, Mutex};
use support::{Rng, env_u64, fast_tempdir};
use zerocopy::IntoBytes;

const SECTOR: u64 = 512;

// ---------------------------------------------------------------------------
// The backend

#[derive(Clone, Debug)]
enum Op {
    Write(u64, Vec<u8>),
    SetLen(u64),
    Sync,
}

/// One file as a disk holds it: what the process sees and what a power cut keeps.
#[derive(Clone, Debug, Default)]
struct Disk {
    live: Vec<u8>,
    durable: Vec<u8>,
    /// Writes and `set_len`s since the last sync, in order.
    pending: Vec<Op>,
}

#[derive(Clone, Copy, Debug)]
enum Cut {
    Durable,
    Everything,
    /// Percent of unsynced sectors that land, and a seed.
    Torn(u64, u64),
}

fn write_at(buf: &mut Vec<u8>, off: u64, data: &[u8]) {
    let off = off as usize;
    if buf.len() < off + data.len() {
        buf.resize(off + data.len(), 0);
    }
    buf[off..off + data.len()].copy_from_slice(data);
}

impl Disk {
    fn apply(&mut self, op: &Op) {
        match op {
            Op::Write(off, data) => write_at(&mut self.live, *off, data),
            Op::SetLen(len) => self.live.resize(*len as usize, 0),
            Op::Sync => {
                self.durable = self.live.clone();
                self.pending.clear();
                return;
            }
        }
        self.pending.push(op.clone());
    }

    /// The bytes left on the disk if the power went now.
    fn power_cut(&self, cut: Cut) -> Vec<u8> {
        match cut {
            Cut::Durable => self.durable.clone(),
            Cut::Everything => self.live.clone(),
            Cut::Torn(percent, seed) => {
                let mut rng = Rng(seed);
                let mut img = self.durable.clone();
                for op in &self.pending {
                    let Op::Write(off, data) = op else { continue };
                    let (mut at, end) = (*off, *off + data.len() as u64);
                    while at < end {
                        let next = ((at / SECTOR) + 1) * SECTOR;
                        let upto = next.min(end);
                        if rng.chance(percent) {
                            let s = (at - off) as usize..(upto - off) as usize;
                            write_at(&mut img, at, &data[s]);
                        }
                        at = upto;
                    }
                }
                // The file system kept either length; what lies past it is gone,
                // and what it added and nothing wrote reads as zeros.
                let len = if rng.chance(50) {
                    self.durable.len()
                } else {
                    self.live.len()
                };
                img.resize(len, 0);
                img
            }
        }
    }
}

#[derive(Debug, Default)]
struct Recorder {
    disk: Disk,
    log: Vec<Op>,
}

/// A redb backend that logs every operation and keeps live and durable bytes apart.
#[derive(Clone, Debug, Default)]
struct PowerCutBackend(Arc<Mutex<Recorder>>);

impl PowerCutBackend {
    fn record(&self, op: Op) {
        let mut r = self.0.lock().unwrap();
        r.disk.apply(&op);
        r.log.push(op);
    }
    fn events(&self) -> usize {
        self.0.lock().unwrap().log.len()
    }
    fn log(&self) -> Vec<Op> {
        self.0.lock().unwrap().log.clone()
    }
}

impl StorageBackend for PowerCutBackend {
    fn len(&self) -> std::io::Result<u64> {
        Ok(self.0.lock().unwrap().disk.live.len() as u64)
    }
    fn read(&self, offset: u64, out: &mut [u8]) -> std::io::Result<()> {
        let r = self.0.lock().unwrap();
        let off = offset as usize;
        let src = r
            .disk
            .live
            .get(off..off + out.len())
            .ok_or_else(|| std::io::Error::from(std::io::ErrorKind::UnexpectedEof))?;
        out.copy_from_slice(src);
        Ok(())
    }
    fn set_len(&self, len: u64) -> std::io::Result<()> {
        self.record(Op::SetLen(len));
        Ok(())
    }
    fn sync_data(&self) -> std::io::Result<()> {
        self.record(Op::Sync);
        Ok(())
    }
    fn write(&self, offset: u64, data: &[u8]) -> std::io::Result<()> {
        self.record(Op::Write(offset, data.to_vec()));
        Ok(())
    }
}

#[test]
fn backend_keeps_unsynced_writes_apart() {
    let mut d = Disk::default();
    d.apply(&Op::Write(0, vec![1; 1024]));
    d.apply(&Op::Sync);
    d.apply(&Op::Write(256, vec![2; 1024]));
    assert_eq!(d.power_cut(Cut::Durable), vec![1; 1024]);
    let live = d.power_cut(Cut::Everything);
    assert_eq!(live.len(), 1280);
    assert_eq!(&live[256..], &[2; 1024][..]);
    // Torn: every sector is either all old or all new, and 0% / 100% are the extremes.
    assert_eq!(d.power_cut(Cut::Torn(0, 1))[..1024], [1; 1024][..]);
    for seed in 0..20 {
        let img = d.power_cut(Cut::Torn(50, seed));
        for s in img.chunks(SECTOR as usize).take(2) {
            let tail = &s[256..];
            assert!(tail.iter().all(|&b| b == 1) || tail.iter().all(|&b| b == 2));
        }
    }
}

// ---------------------------------------------------------------------------
// The model

/// One committed state of the index, and the message files on disk while the
/// transaction that made it ran (the write order puts them there first).
#[derive(Clone, Debug)]
struct Snap {
    header: Header,
    keywords: Vec<String>,
    records: BTreeMap<u32, Record>,
    cache: BTreeMap<u32, CacheEntry>,
    files: BTreeMap<u32, Vec<u8>>,
}

/// Which log events a transaction made.
#[derive(Clone, Copy, Debug)]
struct Span {
    start: usize,
    /// One past its last sync: from here on, the commit is durable.
    durable_at: usize,
}

struct Run {
    log: Vec<Op>,
    states: Vec<Snap>,
    spans: Vec<Span>,
    uidvalidity: u32,
}

impl Run {
    /// The states a power cut after `k` events may show: from the last durable one
    /// to the last one begun. `None` in the first slot: nothing is durable yet.
    fn allowed(&self, k: usize) -> (Option<usize>, usize) {
        let durable = self.spans.iter().rposition(|s| s.durable_at <= k);
        let begun = self
            .spans
            .iter()
            .rposition(|s| s.start < k)
            .unwrap_or(0)
            .max(durable.unwrap_or(0));
        (durable, begun)
    }

    /// The message files on disk at a cut after `k` events.
    fn files(&self, k: usize) -> &BTreeMap<u32, Vec<u8>> {
        let (_, begun) = self.allowed(k);
        &self.states[begun].files
    }
}

fn message(n: u32) -> Vec<u8> {
    let body: String = (0..(n % 7) * 40)
        .map(|i| format!("line {i} of message {n}\r\n"))
        .collect();
    format!(
        "From: sender{n} <s{n}@example.org>\r\nTo: joe@example.org\r\n\
         Subject: power cut {n}\r\nMessage-ID: <{n}@power.cut>\r\n\
         Date: Sat, 28 Nov 2026 10:00:00 +0000\r\n\r\nmessage {n}\r\n{body}"
    )
    .into_bytes()
}

enum Step {
    Deliver(u32),
    Flags(Vec<u32>, u32, Option<&'static str>),
    Expunge(Vec<u32>),
}

fn workload() -> Vec<Step> {
    use Step::*;
    vec![
        Deliver(3),
        Deliver(1),
        Flags(vec![1, 2], flag::SEEN, None),
        Deliver(12),
        Flags(vec![3, 5, 9], flag::FLAGGED, Some("$Junk")),
        Expunge(vec![2, 4]),
        Deliver(2),
        Flags(vec![1, 6, 18], flag::DELETED, Some("Work")),
        Expunge(vec![1, 6, 18]),
        Deliver(30),
        Flags(vec![7, 8, 20, 40], flag::ANSWERED, Some("$Junk")),
        Expunge(vec![3, 19, 20, 21, 22, 23, 24, 25, 26, 27, 28, 29, 30]),
        Deliver(1),
    ]
}

/// Runs the workload on a `PowerCutBackend` through the real index code.
fn record_index_run(id: Identity, scratch: &Path) -> Run {
    let uidvalidity = id.uidvalidity;
    let backend = PowerCutBackend::default();
    let path = scratch.join(INDEX_FILE);
    let mut cur = Snap {
        header: Header::new(id, 1, 1),
        keywords: Vec::new(),
        records: BTreeMap::new(),
        cache: BTreeMap::new(),
        files: BTreeMap::new(),
    };
    let mut spans = Vec::new();
    let mut states = Vec::new();
    let span = |start: usize, b: &PowerCutBackend| {
        let log = b.log();
        let last_sync = log[start..]
            .iter()
            .rposition(|o| matches!(o, Op::Sync))
            .expect("every commit syncs");
        Span {
            start,
            durable_at: start + last_sync + 1,
        }
    };
    let idx = Index::create_with_backend(&path, backend.clone(), cur.header).unwrap();
    spans.push(span(0, &backend));
    states.push(cur.clone());
    let mut n = 0u32;
    for step in workload() {
        let start = backend.events();
        match step {
            Step::Deliver(count) => {
                let mut new = Vec::new();
                for _ in 0..count {
                    n += 1;
                    let bytes = message(n);
                    let p = prepare("test", &bytes).unwrap();
                    let uid = cur.header.uidnext.get();
                    cur.header.uidnext = (uid + 1).into();
                    let f = scratch.join(format!("{uid}."));
                    std::fs::write(&f, &p.bytes).unwrap();
                    let meta = std::fs::metadata(&f).unwrap();
                    let mut rec = record_for(uid, &p, &meta, 1_795_000_000 + i64::from(n), 0);
                    let modseq = cur.header.highestmodseq.get() + 1;
                    cur.header.highestmodseq = modseq.into();
                    rec.modseq = modseq.into();
                    cur.header.exists = (cur.header.exists.get() + 1).into();
                    cur.header.total_size = (cur.header.total_size.get() + p.size).into();
                    cur.records.insert(uid, rec);
                    cur.cache.insert(uid, p.cache.clone());
                    cur.files.insert(uid, p.bytes.clone());
                    new.push((rec, p.cache));
                }
                let h = cur.header;
                idx.write(id, |w| {
                    for (rec, c) in &new {
                        w.put_record(rec)?;
                        w.put_cache(rec.uid.get(), c)?;
                    }
                    w.set_header(&h)
                })
                .unwrap();
            }
            Step::Flags(uids, sys, keyword) => {
                let bit = keyword.map(|k| match cur.keywords.iter().position(|f| f == k) {
                    Some(b) => b,
                    None => {
                        cur.keywords.push(k.to_owned());
                        cur.keywords.len() - 1
                    }
                });
                let modseq = cur.header.highestmodseq.get() + 1;
                let mut changed = Vec::new();
                for u in uids {
                    let Some(r) = cur.records.get_mut(&u) else {
                        continue;
                    };
                    r.system_flags = (r.system_flags.get() | sys).into();
                    if let Some(b) = bit {
                        r.set_user_flag(b, true);
                    }
                    r.modseq = modseq.into();
                    changed.push(*r);
                }
                cur.header.highestmodseq = modseq.into();
                let (h, names) = (cur.header, cur.keywords.clone());
                idx.write(id, |w| {
                    w.set_keywords(&names)?;
                    for r in &changed {
                        w.put_record(r)?;
                    }
                    w.set_header(&h)
                })
                .unwrap();
            }
            Step::Expunge(uids) => {
                let mut gone = Vec::new();
                for u in uids {
                    // Unlinked before the commit (the write order).
                    cur.files.remove(&u);
                    cur.cache.remove(&u);
                    if let Some(r) = cur.records.remove(&u) {
                        gone.push(u);
                        cur.header.exists = (cur.header.exists.get() - 1).into();
                        cur.header.total_size =
                            (cur.header.total_size.get() - u64::from(r.size.get())).into();
                    }
                }
                cur.header.highestmodseq = (cur.header.highestmodseq.get() + 1).into();
                let h = cur.header;
                idx.write(id, |w| {
                    for u in &gone {
                        w.remove(*u)?;
                    }
                    w.set_header(&h)
                })
                .unwrap();
            }
        }
        spans.push(span(start, &backend));
        states.push(cur.clone());
    }
    // The close writes too (redb records its allocator state): cuts there must
    // show the last state.
    drop(idx);
    Run {
        log: backend.log(),
        states,
        spans,
        uidvalidity,
    }
}

// ---------------------------------------------------------------------------
// Checks

fn same(a: &Snap, st: &index::State, idx: &Index, every_uid: &BTreeSet<u32>) -> bool {
    a.header.sealed().as_bytes() == st.header.as_bytes()
        && a.keywords == st.keywords
        && a.records.len() == st.records.len()
        && a.records
            .iter()
            .all(|(u, r)| st.records.get(u) == Some(&r.sealed(a.header.identity())))
        && every_uid
            .iter()
            .all(|u| idx.cache(*u).ok() == Some(a.cache.get(u).cloned()))
}

#[derive(Default, Debug)]
struct Tally {
    images: u64,
    duplicates: u64,
    /// Opened with the last durable state / the one after it (the cut fell inside
    /// its commit).
    last_durable: u64,
    in_flight: u64,
    failed_cleanly: u64,
    /// Of the failures: images with nothing durable yet (the create's own commit).
    failed_before_first_commit: u64,
    reconstructed: u64,
    moved_aside: u64,
}

fn copy_dir(from: &Path, to: &Path) {
    std::fs::create_dir_all(to).unwrap();
    for e in std::fs::read_dir(from).unwrap() {
        let e = e.unwrap();
        let dest = to.join(e.file_name());
        if e.file_type().unwrap().is_dir() {
            copy_dir(&e.path(), &dest);
        } else {
            std::fs::copy(e.path(), dest).unwrap();
        }
    }
}

fn message_files(dir: &Path) -> BTreeMap<u32, Vec<u8>> {
    let mut out = BTreeMap::new();
    for e in std::fs::read_dir(dir).unwrap() {
        let name = e.unwrap().file_name().into_string().unwrap();
        if let Some(uid) = name.strip_suffix('.').and_then(|u| u.parse().ok()) {
            out.insert(uid, std::fs::read(dir.join(&name)).unwrap());
        }
    }
    out
}

/// Check 1: the image opens as exactly one allowed state, or fails with an error.
/// Returns the state it showed.
fn check_open(
    run: &Run,
    k: usize,
    cut: Cut,
    image: &[u8],
    dir: &Path,
    what: &str,
) -> Option<usize> {
    let path = dir.join(INDEX_FILE);
    std::fs::write(&path, image).unwrap();
    let every_uid: BTreeSet<u32> = run
        .states
        .iter()
        .flat_map(|s| s.records.keys().copied())
        .collect();
    let opened = std::panic::catch_unwind(|| {
        let idx = Index::open(&path)?;
        let st = idx.load()?;
        Ok::<_, msgstore::error::Error>((idx, st))
    })
    .unwrap_or_else(|_| panic!("{what}: opening the image panicked"));
    let (durable, begun) = run.allowed(k);
    match opened {
        // Nothing of the commit in flight reached the disk, or all of it did: the
        // states redb's commit protocol is built for. A durable commit must open.
        Err(e) if durable.is_some() && !matches!(cut, Cut::Torn(..)) => {
            panic!("{what}: a durable index does not open: {e}")
        }
        Err(_) => None,
        Ok((idx, st)) => {
            let lo = durable.unwrap_or(0);
            let shown = (lo..=begun).find(|&j| same(&run.states[j], &st, &idx, &every_uid));
            assert!(
                shown.is_some(),
                "{what}: the index opened as a state no commit made (allowed: states {durable:?}..={begun}); \
                 header uidnext {} exists {}, records {:?}, keywords {:?}",
                st.header.uidnext.get(),
                st.header.exists.get(),
                st.records.keys().collect::<Vec<_>>(),
                st.keywords
            );
            shown
        }
    }
}

/// Check 2: reconstruct repairs the mailbox from this image and the files of the
/// instant: nothing lost, nothing back, no UID lowered.
#[allow(clippy::too_many_arguments)]
fn check_reconstruct(
    run: &Run,
    k: usize,
    image: &[u8],
    shown: Option<usize>,
    template: &Path,
    name: &MailboxName,
    what: &str,
    tally: &mut Tally,
) {
    let tmp = fast_tempdir();
    let root = tmp.path().join("store");
    copy_dir(template, &root);
    let store = Store::at(&root);
    let dir = store.mailbox_dir(name);
    std::fs::write(dir.join(INDEX_FILE), image).unwrap();
    let files = run.files(k);
    for (uid, bytes) in files {
        std::fs::write(dir.join(format!("{uid}.")), bytes).unwrap();
    }
    let opts = Options {
        dry_run: false,
        check: Check::Hash,
        wait: false,
    };
    let list = reconstruct::load_list(&store);
    let report = reconstruct::run(&store, std::slice::from_ref(name), &list, opts, &|_| {});
    let r = &report.mailboxes[0];
    assert_eq!(
        r.status,
        reconstruct::report::Status::Ok,
        "{what}: reconstruct failed: {r:?}"
    );
    tally.reconstructed += 1;
    if r.moved_aside.is_some() {
        tally.moved_aside += 1;
    }
    let old = shown.map(|j| &run.states[j]);
    if old.is_some() {
        assert!(
            r.moved_aside.is_none(),
            "{what}: the index opened, yet reconstruct set it aside: {r:?}"
        );
    }
    let after = Index::open(&dir.join(INDEX_FILE))
        .and_then(|i| i.load())
        .unwrap_or_else(|e| panic!("{what}: the rebuilt index does not open: {e}"));
    let on_disk = message_files(&dir);
    // Every file of the instant is there, once, and nothing else.
    let by_guid: BTreeMap<[u8; 32], u32> = on_disk
        .iter()
        .map(|(u, b)| (*blake3::hash(b).as_bytes(), *u))
        .collect();
    assert_eq!(by_guid.len(), files.len(), "{what}: messages lost or added");
    assert_eq!(
        on_disk.len(),
        files.len(),
        "{what}: a message is there twice"
    );
    assert_eq!(
        after.records.keys().collect::<Vec<_>>(),
        on_disk.keys().collect::<Vec<_>>(),
        "{what}: records and files disagree"
    );
    assert_eq!(after.header.uidvalidity.get(), run.uidvalidity, "{what}");
    let max = on_disk.keys().next_back().copied().unwrap_or(0);
    assert!(after.header.uidnext.get() > max, "{what}: UIDNEXT {max}");
    if let Some(o) = old {
        assert!(
            after.header.uidnext.get() >= o.header.uidnext.get(),
            "{what}: UIDNEXT went down from {} to {}",
            o.header.uidnext.get(),
            after.header.uidnext.get()
        );
    }
    for (uid, bytes) in files {
        let guid = *blake3::hash(bytes).as_bytes();
        let now = *by_guid
            .get(&guid)
            .unwrap_or_else(|| panic!("{what}: message {uid} lost"));
        let rec = &after.records[&now];
        assert_eq!(rec.guid, guid, "{what}: record of UID {now}");
        match old {
            Some(o) if o.records.contains_key(uid) => {
                // The record survived: same UID, same flags, same keywords.
                assert_eq!(now, *uid, "{what}: UID {uid} changed to {now}");
                let was = &o.records[uid];
                assert_eq!(rec.system_flags, was.system_flags, "{what}: UID {uid}");
                let names = |r: &Record, names: &[String]| -> BTreeSet<String> {
                    (0..names.len())
                        .filter(|b| r.has_user_flag(*b))
                        .map(|b| names[b].clone())
                        .collect()
                };
                assert_eq!(
                    names(rec, &after.keywords),
                    names(was, &o.keywords),
                    "{what}: keywords of UID {uid}"
                );
            }
            Some(o) if *uid < o.header.uidnext.get() => assert!(
                now >= o.header.uidnext.get(),
                "{what}: UID {uid} below UIDNEXT {} got {now}",
                o.header.uidnext.get()
            ),
            _ => assert_eq!(now, *uid, "{what}: UID {uid} changed to {now}"),
        }
        assert!(now >= *uid, "{what}: UID {uid} lowered to {now}");
    }
}

fn template_store(root: &Path) -> (MailboxName, Identity) {
    let store = Store::at(root);
    msgstore::ops::init(&store).unwrap();
    msgstore::ops::user::add(&store, &["joe".to_string()]).unwrap();
    let name = MailboxName::parse("joe").unwrap();
    let e = &mailboxes::list(&store, None).unwrap()[0];
    let id = Identity {
        mailbox_id: e.id,
        uidvalidity: e.uidvalidity,
    };
    (name, id)
}

fn cuts(trials: u64, seed: u64, k: usize) -> Vec<Cut> {
    let mut rng = Rng(seed ^ (k as u64).wrapping_mul(0x9E37_79B9));
    let mut v = vec![Cut::Durable, Cut::Everything];
    for _ in 0..trials {
        v.push(Cut::Torn(*rng.pick(&[20, 50, 80]), rng.next_u64()));
    }
    v
}

#[test]
fn index_survives_a_power_cut_at_every_write_and_sync() {
    msgstore::dbfile::install_panic_hook();
    let trials = env_u64("MSGSTORE_POWERCUT_TRIALS", 2);
    let seed = env_u64("MSGSTORE_POWERCUT_SEED", 0x5eed_6a11);
    let tmp = fast_tempdir();
    let template = tmp.path().join("template");
    let (name, id) = template_store(&template);
    let scratch = tmp.path().join("scratch");
    std::fs::create_dir_all(&scratch).unwrap();
    let run = record_index_run(id, &scratch);
    let open_dir = tmp.path().join("open");
    std::fs::create_dir_all(&open_dir).unwrap();

    let mut tally = Tally::default();
    let mut seen = HashSet::new();
    let mut disk = Disk::default();
    for k in 0..=run.log.len() {
        if k > 0 {
            disk.apply(&run.log[k - 1]);
        }
        for cut in cuts(trials, seed, k) {
            let image = disk.power_cut(cut);
            let what = format!("cut after event {k}/{} ({cut:?})", run.log.len());
            tally.images += 1;
            if !seen.insert((
                *blake3::hash(&image).as_bytes(),
                run.allowed(k),
                run.files(k).len(),
            )) {
                tally.duplicates += 1;
                continue;
            }
            let shown = check_open(&run, k, cut, &image, &open_dir, &what);
            let (durable, _) = run.allowed(k);
            match shown {
                None if durable.is_none() => tally.failed_before_first_commit += 1,
                None => tally.failed_cleanly += 1,
                Some(j) if Some(j) == durable => tally.last_durable += 1,
                Some(_) => tally.in_flight += 1,
            }
            check_reconstruct(&run, k, &image, shown, &template, &name, &what, &mut tally);
        }
    }
    eprintln!(
        "power_cut index: {} events ({} syncs), {} commits, trials {trials}, seed {seed:#x}: {tally:?}",
        run.log.len(),
        run.log.iter().filter(|o| matches!(o, Op::Sync)).count(),
        run.states.len()
    );
    assert!(tally.last_durable > 0 && tally.in_flight > 0);
}

// ---------------------------------------------------------------------------
// The mailbox list

/// One committed state of `mailboxes.redb`, and the mailbox directories on disk
/// while the transaction that made it ran (create and rename move the directory
/// first; delete removes it after the commit).
#[derive(Clone, Debug, Default)]
struct ListSnap {
    entries: BTreeMap<String, mailboxes::Entry>,
    next_id: u64,
    last_uidvalidity: u64,
    /// Each directory's UIDVALIDITY and id, as its index holds them.
    dirs: BTreeMap<String, (u32, u64)>,
}

struct ListRun {
    log: Vec<Op>,
    states: Vec<ListSnap>,
    spans: Vec<Span>,
}

impl ListRun {
    fn allowed(&self, k: usize) -> (Option<usize>, usize) {
        Run {
            log: Vec::new(),
            states: Vec::new(),
            spans: self.spans.clone(),
            uidvalidity: 0,
        }
        .allowed(k)
    }
}

enum ListStep {
    Create(&'static str),
    Rename(&'static str, &'static str),
    Delete(&'static str),
    Mirror(&'static str, u32),
}

fn record_list_run(scratch: &Path, inbox: Identity) -> ListRun {
    let inbox_uidvalidity = inbox.uidvalidity;
    use ListStep::*;
    let backend = PowerCutBackend::default();
    let path = scratch.join(msgstore::store::MAILBOXES_DB);
    let dbh = db::create_with_backend(&path, DbKind::Mailboxes, backend.clone()).unwrap();
    let span = |start: usize| {
        let log = backend.log();
        let last_sync = log[start..]
            .iter()
            .rposition(|o| matches!(o, Op::Sync))
            .expect("every commit syncs");
        Span {
            start,
            durable_at: start + last_sync + 1,
        }
    };
    // The INBOX directory is there from the start (the user exists), listed or not.
    let mut cur = ListSnap::default();
    cur.dirs.insert(
        MailboxName::parse("joe").unwrap().to_string(),
        (inbox_uidvalidity, inbox.mailbox_id),
    );
    let mut spans = vec![span(0)];
    let mut states = vec![cur.clone()];
    let steps = [
        Create("joe"),
        Create("joe/a"),
        Create("joe/b"),
        Create("joe/c"),
        Mirror("joe/a", 7),
        Rename("joe/b", "joe/b2"),
        Delete("joe/c"),
        Create("joe/d"),
        Mirror("joe", 3),
    ];
    for step in steps {
        let start = backend.events();
        let full = |n: &str| MailboxName::parse(n).unwrap().to_string();
        let next = mailboxes::write(&dbh, |t| {
            let mut next = cur.clone();
            match &step {
                Create(n) => {
                    let uidvalidity = if *n == "joe" {
                        t.note_uidvalidity(inbox_uidvalidity)?;
                        inbox_uidvalidity
                    } else {
                        t.new_uidvalidity()?
                    };
                    let id = t.next_id()?;
                    let e = mailboxes::Entry::new(
                        &MailboxName::parse(n).unwrap(),
                        id,
                        uidvalidity,
                        1_795_000_000 + id as i64,
                    );
                    t.put(&e)?;
                    let id = if *n == "joe" { inbox.mailbox_id } else { id };
                    next.dirs.insert(e.name.clone(), (uidvalidity, id));
                    next.entries.insert(e.name.clone(), e);
                }
                Rename(from, to) => {
                    let mut e = next.entries.remove(&full(from)).unwrap();
                    t.remove(&e.name)?;
                    let uv = next.dirs.remove(&e.name).unwrap();
                    e.name = full(to);
                    t.put(&e)?;
                    next.dirs.insert(e.name.clone(), uv);
                    next.entries.insert(e.name.clone(), e);
                }
                Delete(n) => {
                    t.remove(&full(n))?;
                    next.entries.remove(&full(n));
                }
                Mirror(n, uidnext) => {
                    let e = next.entries.get_mut(&full(n)).unwrap();
                    e.uid_bound = *uidnext;
                    t.put(e)?;
                }
            }
            Ok(next)
        })
        .unwrap();
        cur = next;
        // Read the counters back as committed (new_uidvalidity uses the clock).
        let (next_id, last_uv) = counters(&dbh).unwrap();
        cur.next_id = next_id;
        cur.last_uidvalidity = last_uv;
        spans.push(span(start));
        states.push(cur.clone());
        // A deleted mailbox's directory goes after the commit.
        if let Delete(n) = step {
            cur.dirs.remove(&full(n));
        }
    }
    drop(dbh);
    ListRun {
        log: backend.log(),
        states,
        spans,
    }
}

fn counters(h: &msgstore::dbfile::Handle) -> Result<(u64, u64), String> {
    h.read(|txn| {
        let meta = txn.open_table(db::META_TABLE).map_err(h.err())?;
        let get = |k| -> msgstore::error::Result<u64> {
            Ok(meta
                .get(k)
                .map_err(h.err())?
                .map(|g| g.value())
                .unwrap_or(0))
        };
        Ok((
            get(mailboxes::NEXT_ID_KEY)?,
            get(mailboxes::LAST_UIDVALIDITY_KEY)?,
        ))
    })
    .map_err(|e| e.to_string())
}

/// The list of the store at `root`, opened for writing (so a crashed image is
/// recovered as a writer would).
fn read_list(root: &Path) -> Result<ListSnap, String> {
    let store = Store::at(root);
    let dbh = db::open_rw(&store, DbKind::Mailboxes).map_err(|e| e.to_string())?;
    let entries = mailboxes::write(&dbh, |t| t.all()).map_err(|e| e.to_string())?;
    let (next_id, last_uidvalidity) = counters(&dbh)?;
    Ok(ListSnap {
        entries: entries.into_iter().map(|e| (e.name.clone(), e)).collect(),
        next_id,
        last_uidvalidity,
        dirs: BTreeMap::new(),
    })
}

#[test]
fn mailbox_list_survives_a_power_cut_at_every_write_and_sync() {
    msgstore::dbfile::install_panic_hook();
    let trials = env_u64("MSGSTORE_POWERCUT_TRIALS", 2);
    let seed = env_u64("MSGSTORE_POWERCUT_SEED", 0x5eed_6a11);
    let tmp = fast_tempdir();
    let template = tmp.path().join("template");
    let (inbox, inbox_id) = template_store(&template);
    std::fs::remove_file(Store::at(&template).mailboxes_db()).unwrap();
    let scratch = tmp.path().join("scratch");
    std::fs::create_dir_all(&scratch).unwrap();
    let run = record_list_run(&scratch, inbox_id);

    let mut tally = Tally::default();
    let mut seen = HashSet::new();
    let mut disk = Disk::default();
    for k in 0..=run.log.len() {
        if k > 0 {
            disk.apply(&run.log[k - 1]);
        }
        let (durable, begun) = run.allowed(k);
        let dirs = &run.states[begun].dirs;
        for cut in cuts(trials, seed, k) {
            let image = disk.power_cut(cut);
            let what = format!("list cut after event {k}/{} ({cut:?})", run.log.len());
            tally.images += 1;
            if !seen.insert((*blake3::hash(&image).as_bytes(), durable, begun)) {
                tally.duplicates += 1;
                continue;
            }
            // 1. It opens as exactly one allowed state, or fails with an error.
            let one = fast_tempdir();
            let p = one.path().join(msgstore::store::MAILBOXES_DB);
            std::fs::write(&p, &image).unwrap();
            let opened = std::panic::catch_unwind(|| read_list(one.path()))
                .unwrap_or_else(|_| panic!("{what}: opening the image panicked"));
            let shown = match opened {
                Err(e) if durable.is_some() && !matches!(cut, Cut::Torn(..)) => {
                    panic!("{what}: a durable list does not open: {e}")
                }
                Err(_) => None,
                Ok(got) => {
                    let lo = durable.unwrap_or(0);
                    let j = (lo..=begun).find(|&j| {
                        let s = &run.states[j];
                        s.entries == got.entries
                            && s.next_id == got.next_id
                            && s.last_uidvalidity == got.last_uidvalidity
                    });
                    assert!(
                        j.is_some(),
                        "{what}: the list opened as a state no commit made (allowed {durable:?}..={begun}): {got:?}"
                    );
                    j
                }
            };
            match shown {
                None if durable.is_none() => tally.failed_before_first_commit += 1,
                None => tally.failed_cleanly += 1,
                Some(j) if Some(j) == durable => tally.last_durable += 1,
                Some(_) => tally.in_flight += 1,
            }

            // 2. `reconstruct -m` on a store with this list and the directories of
            // the instant: the list matches the tree, surviving ids are kept, every
            // UIDVALIDITY is its index's, and new ones stay above all of them.
            let st = fast_tempdir();
            let root = st.path().join("store");
            copy_dir(&template, &root);
            let store = Store::at(&root);
            std::fs::write(store.mailboxes_db(), &image).unwrap();
            for (name, (uv, id)) in dirs {
                let n = MailboxName::parse(name).unwrap();
                if n == inbox {
                    continue;
                }
                std::fs::create_dir_all(store.mailbox_dir(&n)).unwrap();
                let identity = Identity {
                    mailbox_id: *id,
                    uidvalidity: *uv,
                };
                Index::create(&store.index_path(&n), Header::new(identity, 1, 1)).unwrap();
            }
            let rep = reconstruct::list::run(&store, false, false)
                .unwrap_or_else(|e| panic!("{what}: reconstruct -m failed: {e}"));
            tally.reconstructed += 1;
            if rep.moved_aside.is_some() {
                tally.moved_aside += 1;
            }
            let after = read_list(&root)
                .unwrap_or_else(|e| panic!("{what}: the rebuilt list does not open: {e}"));
            assert_eq!(
                after.entries.keys().collect::<Vec<_>>(),
                dirs.keys().collect::<Vec<_>>(),
                "{what}: list and directories disagree ({rep:?})"
            );
            let ids: BTreeSet<u64> = after.entries.values().map(|e| e.id).collect();
            assert_eq!(ids.len(), after.entries.len(), "{what}: an id twice");
            for (name, e) in &after.entries {
                assert_eq!(e.uidvalidity, dirs[name].0, "{what}: UIDVALIDITY of {name}");
                assert_eq!(e.id, dirs[name].1, "{what}: id of {name} is its index's");
                assert!(
                    after.last_uidvalidity >= u64::from(e.uidvalidity),
                    "{what}: a new UIDVALIDITY could repeat {name}'s"
                );
                assert!(after.next_id > e.id, "{what}: next id {}", after.next_id);
                if let Some(j) = shown
                    && let Some(was) = run.states[j].entries.get(name)
                {
                    assert_eq!(e.id, was.id, "{what}: id of {name}");
                    assert!(
                        e.uid_bound >= was.uid_bound,
                        "{what}: the UID bound of {name} went down"
                    );
                }
            }
        }
    }
    eprintln!(
        "power_cut list: {} events ({} syncs), {} commits, trials {trials}, seed {seed:#x}: {tally:?}",
        run.log.len(),
        run.log.iter().filter(|o| matches!(o, Op::Sync)).count(),
        run.states.len()
    );
    assert!(tally.last_durable > 0 && tally.in_flight > 0);
}
