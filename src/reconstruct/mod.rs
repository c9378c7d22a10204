//! The reconstruct engine: scan -> read (parallel) -> merge -> one write
//! transaction -> report, one mailbox at a time under its exclusive lock, many
//! mailboxes at once. `list` rebuilds the mailbox list (`-m`), `users` the user
//! database (`x-build-user-db`).

pub mod list;
pub mod merge;
pub mod report;
pub mod scan;
pub mod users;

use crate::db::{self, Which, mailboxes};
use crate::error::{Error, Result};
use crate::index::record::Record;
use crate::index::{self, Index, State, Writer};
use crate::store::fsutil::{rename_durable, sync_dir};
use crate::store::lock::{Mode, Wait};
use crate::store::names::{MailboxName, Root};
use crate::store::{BAD_SUFFIX, INDEX_FILE, Store, message_file_name};
use merge::{CacheFrom, Plan, Scanned};
use rayon::prelude::*;
use report::{MailboxReport, Report};
use scan::Check;
use scan::FileState;
use std::collections::BTreeMap;
use std::os::unix::fs::MetadataExt;
use std::path::Path;
use std::time::Instant;

#[derive(Clone, Copy, Debug)]
pub struct Options {
    pub dry_run: bool,
    pub check: Check,
    pub wait: bool,
}

/// The time of one mailbox's rebuild, read once: the merge stamps it on the
/// records it makes, and a full rebuild stamps the same on those it streams.
#[derive(Clone, Copy, Debug)]
struct Clock {
    now: i64,
    /// With no index, HIGHESTMODSEQ restarts from this clock-based floor so that
    /// it stays above any value clients saw from the lost index.
    modseq_floor: u64,
}

impl Clock {
    fn now() -> Clock {
        let now = db::now_unix();
        Clock {
            now,
            modseq_floor: (now.max(0) as u64).saturating_mul(1000),
        }
    }
}

/// Called with the number of messages done, for progress bars.
pub type Progress<'a> = &'a (dyn Fn(u64) + Sync);

/// Which mailboxes `reconstruct [-r] NAME...` means: each name, and with `recurse`
/// everything below it in the mailbox list or on disk; with `recurse` and no name,
/// every mailbox. Names that do not exist are reported as failures.
pub fn select(
    store: &Store,
    names: &[String],
    recurse: bool,
) -> Result<(Vec<MailboxName>, Vec<MailboxReport>)> {
    let mut found = std::collections::BTreeSet::new();
    let mut missing = Vec::new();
    let listed: Vec<MailboxName> = match mailboxes::list(&store.mailboxes_db(), None) {
        Ok(l) => l
            .iter()
            .filter_map(|e| MailboxName::parse(&e.name).ok())
            .collect(),
        // A lost list is no reason to stop: the directory walk still finds them.
        Err(_) => Vec::new(),
    };
    if names.is_empty() {
        if !recurse {
            return Err(Error::Usage(
                "name the mailboxes to rebuild, or use -r to rebuild every mailbox".into(),
            ));
        }
        for root in [Root::Users, Root::Public] {
            walk(root, &store.root_dir(root), &mut Vec::new(), &mut found);
        }
        found.extend(listed.into_iter().filter(|n| store.has_mailbox_dir(n)));
        return Ok((found.into_iter().collect(), missing));
    }
    for n in names {
        let name = MailboxName::parse(n)?;
        let dir = store.mailbox_dir(&name);
        if !store.has_mailbox_dir(&name) {
            missing.push(MailboxReport {
                mailbox: name.to_string(),
                status: "failed",
                error: Some(Error::UnknownMailbox(name.to_string()).to_string()),
                ..MailboxReport::default()
            });
            continue;
        }
        if recurse {
            let mut parts = name.parts().to_vec();
            walk(name.root(), &dir, &mut parts, &mut found);
            found.extend(
                listed
                    .iter()
                    .filter(|l| l.is_within(&name) && store.has_mailbox_dir(l))
                    .cloned(),
            );
        }
        found.insert(name);
    }
    Ok((found.into_iter().collect(), missing))
}

/// Every mailbox directory below `dir` (and `dir` itself when it is one).
fn walk(
    root: Root,
    dir: &Path,
    parts: &mut Vec<String>,
    out: &mut std::collections::BTreeSet<MailboxName>,
) {
    if !parts.is_empty()
        && let Ok(n) = MailboxName::from_parts(root, parts.clone())
    {
        out.insert(n);
    }
    let Ok(rd) = std::fs::read_dir(dir) else {
        return;
    };
    for item in rd.flatten() {
        let Ok(ft) = item.file_type() else { continue };
        if !ft.is_dir() {
            continue;
        }
        let Some(name) = item
            .file_name()
            .to_str()
            .and_then(crate::store::names::decode)
        else {
            continue;
        };
        parts.push(name);
        // A directory's link count is 2 plus its subdirectories on ext4, XFS and
        // tmpfs: at exactly 2 there is nothing below it, and its listing (every
        // message file of the mailbox, which the rebuild reads anyway) is skipped.
        // File systems that do not keep the count (btrfs reports 1) are read.
        if item.metadata().is_ok_and(|m| m.nlink() == 2) {
            if let Ok(n) = MailboxName::from_parts(root, parts.clone()) {
                out.insert(n);
            }
        } else {
            walk(root, &item.path(), parts, out);
        }
        parts.pop();
    }
}

/// Rebuilds the given mailboxes, in parallel, and updates their mirrors in the
/// mailbox list.
pub fn run(store: &Store, names: &[MailboxName], opts: Options, progress: Progress<'_>) -> Report {
    let start = Instant::now();
    // The mailbox list is read once, for every mailbox's mirror.
    let listed = mailboxes::list(&store.mailboxes_db(), None);
    let list_ok = listed.is_ok();
    let mirrors: BTreeMap<String, (u32, u32)> = listed
        .map(|l| {
            l.into_iter()
                .map(|e| (e.name, (e.uidvalidity, e.uidnext)))
                .collect()
        })
        .unwrap_or_default();
    let each = || -> Vec<MailboxReport> {
        names
            .par_iter()
            .map(|n| {
                let t = Instant::now();
                let shown = n.to_string();
                let mut r = match rebuild(store, n, mirrors.get(&shown).copied(), opts, progress) {
                    Ok(r) => r,
                    Err(e) => MailboxReport {
                        mailbox: shown.clone(),
                        status: if matches!(e, Error::MailboxBusy(_)) {
                            "busy"
                        } else {
                            "failed"
                        },
                        error: Some(e.to_string()),
                        ..MailboxReport::default()
                    },
                };
                if r.status == "ok" && list_ok && !mirrors.contains_key(&shown) {
                    r.warnings.push(
                        "not in the mailbox list; run `msgstore reconstruct -m` to add it".into(),
                    );
                }
                r.elapsed_ms = t.elapsed().as_millis() as u64;
                r
            })
            .collect()
    };
    // Small mailboxes spend most of their time waiting for flushes (a new index's
    // one fdatasync, its rename and the directory's fsync): with more of them in
    // flight than there are cores (8 per core measured best of 1, 4, 8), the file
    // system batches those flushes (ext4 commits concurrent fsyncs together). The
    // message scans inside run on the same pool, so CPU work still spreads.
    let mut reports = if names.len() > 1 {
        let cores = std::thread::available_parallelism().map_or(2, |n| n.get());
        match rayon::ThreadPoolBuilder::new()
            .num_threads(cores * 8)
            .thread_name(|i| format!("reconstruct-{i}"))
            .build()
        {
            Ok(pool) => pool.install(each),
            Err(_) => each(),
        }
    } else {
        each()
    };
    if !opts.dry_run && list_ok {
        crate::faults::point("reconstruct-before-mirror");
    }
    // The mailbox list is written only when a mirror is out of date (an intact store
    // costs no write and no flush).
    let stale = reports.iter().any(|r| {
        r.status == "ok"
            && mirrors
                .get(&r.mailbox)
                .is_some_and(|&m| m != (r.uidvalidity, r.uidnext))
    });
    if !opts.dry_run
        && list_ok
        && stale
        && let Err(e) = update_mirrors(store, &reports, opts)
    {
        for r in reports.iter_mut().filter(|r| r.status == "ok") {
            r.warnings
                .push(format!("mirror in the mailbox list not updated: {e}"));
        }
    }
    let mut report = Report {
        dry_run: opts.dry_run,
        mailboxes: reports,
        ..Report::default()
    };
    report.finish(start.elapsed());
    report
}

/// Writes each rebuilt mailbox's UIDVALIDITY and UIDNEXT into its list entry.
fn update_mirrors(store: &Store, reports: &[MailboxReport], opts: Options) -> Result<()> {
    let wait = if opts.wait {
        Wait::Forever
    } else {
        Wait::default_for_writers()
    };
    let path = store.mailboxes_db();
    let _l = crate::store::lock::lock_store(store.root(), Mode::Exclusive, wait, || {
        Error::db(
            &path,
            "the mailbox list is busy",
            "run `msgstore reconstruct -m` later to refresh the mirrors",
        )
    })?;
    let dbh = db::open_rw(&path, Which::Mailboxes)?;
    mailboxes::write(&dbh, &path, |t| {
        for r in reports.iter().filter(|r| r.status == "ok") {
            if let Some(mut e) = t.get(&r.mailbox)? {
                if e.uidvalidity != r.uidvalidity || e.uidnext != r.uidnext {
                    e.uidvalidity = r.uidvalidity;
                    e.uidnext = r.uidnext;
                    t.put(&e)?;
                }
                t.note_uidvalidity(r.uidvalidity)?;
            }
        }
        Ok(())
    })
}

/// The old index, if it opens and passes its checks (every page's checksum); else
/// why not. Read through an overlay, so a run that changes nothing writes nothing,
/// and a dry run sees exactly what a real run would.
fn read_old(path: &Path) -> (Option<State>, Option<String>) {
    if !path.exists() {
        return (None, None);
    }
    match index::load_checked(path) {
        Ok(s) => (Some(s), None),
        Err(e) => (None, Some(e.detail())),
    }
}

fn rebuild(
    store: &Store,
    name: &MailboxName,
    mirror: Option<(u32, u32)>,
    opts: Options,
    progress: Progress<'_>,
) -> Result<MailboxReport> {
    let dir = store.mailbox_dir(name);
    let shown = name.to_string();
    let wait = if opts.wait { Wait::Forever } else { Wait::No };
    let _lock = crate::ops::lock_mailbox(store, name, Mode::Exclusive, wait, !opts.dry_run)?;
    let mut rep = MailboxReport {
        mailbox: shown.clone(),
        status: "ok",
        ..MailboxReport::default()
    };

    let index_path = dir.join(INDEX_FILE);
    let mut progress = progress;
    if opts.check == Check::Quick && !opts.dry_run {
        if let Some(r) = quick_unchanged(&dir, &index_path, mirror, progress, rep)? {
            return Ok(r);
        }
        // Something changed: the full path below, without counting the files twice.
        progress = &|_| {};
        rep = MailboxReport {
            mailbox: shown.clone(),
            status: "ok",
            ..MailboxReport::default()
        };
    }
    // The old index and the directory listing are independent: read both at once.
    let ((old_state, damage), listing) =
        rayon::join(|| read_old(&index_path), || scan::list_dir(&dir));
    let listing = listing?;
    if let Some(why) = &damage {
        rep.warnings.push(format!(
            "index unreadable, rebuilt from the message files: {why}"
        ));
    }

    rep.unknown_files = listing.unknown.clone();
    let check = opts.check;
    let old = Old {
        state: old_state.as_ref(),
        damage: damage.as_deref(),
    };

    // A full rebuild (no usable index) and --full parse every file: their cache
    // entries go into the write transaction while the next files are read, so
    // writing overlaps reading and no parsed entry waits in memory. The routine
    // check, --quick and dry runs parse few files, if any: they scan, then write.
    let clock = Clock::now();
    let stream = !opts.dry_run
        && !listing.messages.is_empty()
        && (old.state.is_none() || check == Check::Full);
    if !stream {
        let files = scan_all(&listing, old.state, check, progress);
        let Some(plan) = prepare(
            store, &dir, opts, mirror, clock, &old, &listing, files, &mut rep,
        )?
        else {
            return Ok(rep);
        };
        match old.state {
            Some(o) => Index::open_checked(&index_path)?
                .write(|w| write_plan(w, &plan, Some(o), &[], &dir))?,
            None => write_new_index(&dir, &index_path, |w| write_plan(w, &plan, None, &[], &dir))?,
        }
        return Ok(rep);
    }
    let body = |w: &mut Writer<'_>| -> Result<()> {
        let mut streamed = Vec::new();
        let files = scan_streaming(
            &listing,
            old.state,
            check,
            clock,
            progress,
            w,
            &mut streamed,
        )?;
        match prepare(
            store, &dir, opts, mirror, clock, &old, &listing, files, &mut rep,
        )? {
            Some(plan) => write_plan(w, &plan, old.state, &streamed, &dir),
            None => Ok(()),
        }
    };
    match old.state {
        // Checked again on the real file: what the overlay verified is what redb
        // writes over (its repair, if any, now for real).
        Some(_) => Index::open_checked(&index_path)?.write(body)?,
        None => write_new_index(&dir, &index_path, body)?,
    }
    Ok(rep)
}

/// `--quick` over a mailbox that needs nothing written (the usual case): the index
/// is read through a read-only handle (no page-checksum pass, no commit, no flush:
/// `--quick` trusts the index as it trusts file identities), the files are only
/// stat'ed, and nothing is read. Gives the report, or `None` when anything would
/// change or the index cannot be read so; the caller then takes the full path.
fn quick_unchanged(
    dir: &Path,
    index_path: &Path,
    mirror: Option<(u32, u32)>,
    progress: Progress<'_>,
    mut rep: MailboxReport,
) -> Result<Option<MailboxReport>> {
    if !index_path.exists() {
        return Ok(None);
    }
    // The files are stat'ed while the index is still being read: the two are
    // independent until their identities are compared.
    let (loaded, listed) = rayon::join(
        || index::records_read_only(index_path),
        || {
            scan::list_dir(dir).map(|listing| {
                let ids: Vec<Option<merge::Identity>> = listing
                    .messages
                    .par_iter()
                    .map(|(_, entry)| {
                        let meta = entry.metadata().ok().filter(|m| m.is_file());
                        progress(1);
                        meta.map(|m| scan::identity(&m))
                    })
                    .collect();
                (listing, ids)
            })
        },
    );
    let (Ok((header, records)), Ok((listing, ids))) = (loaded, listed) else {
        return Ok(None);
    };
    // Unchanged is one record per file, both in UID order, and each file what its
    // record says; anything else sends the mailbox down the default path, which
    // reads what changed (read here too, it would be read twice).
    let mut walk = records.iter();
    let all_same = listing.messages.iter().zip(ids).all(|((uid, _), id)| {
        walk.next()
            .filter(|r| r.uid.get() == *uid)
            .zip(id)
            .is_some_and(|(r, id)| scan::same_identity(r, &id))
    });
    if !all_same || walk.next().is_some() || !listing.temp.is_empty() {
        return Ok(None);
    }
    let Some(plan) = merge::unchanged(&header, &records, mirror) else {
        return Ok(None);
    };
    let Some(uidvalidity) = plan.uidvalidity else {
        return Ok(None);
    };
    rep.unknown_files = listing.unknown.clone();
    fill_report(&mut rep, &plan, &listing, uidvalidity);
    rep.rewritten = false;
    rep.bytes_read = 0;
    Ok(Some(rep))
}

/// What survives of the mailbox's old index.
struct Old<'a> {
    state: Option<&'a State>,
    /// Why the index could not be used, if it exists but is damaged.
    damage: Option<&'a str>,
}

/// Reads every message file, in parallel, each into its worker's buffer.
fn scan_all(
    listing: &scan::Listing,
    old: Option<&State>,
    check: Check,
    progress: Progress<'_>,
) -> Vec<Scanned> {
    listing
        .messages
        .par_iter()
        .map(|(uid, entry)| {
            let old_rec = old.and_then(|s| s.records.get(uid));
            let (state, identity) = scan::read_message(entry, old_rec, check);
            progress(1);
            Scanned {
                uid: *uid,
                state,
                identity,
            }
        })
        .collect()
}

/// Files per step of the streamed scan: enough to keep both sides busy, few enough
/// that the entries waiting to be written stay small.
const STREAM_CHUNK: usize = 256;

/// A parsed file's encoded cache entry and, with no old index, its record.
type Streamed = (Vec<u8>, Option<Record>);

/// Like [`scan_all`], but each parsed file whose UID the merge will keep has its
/// cache entry written into `w` (under that UID) while the next chunk of files is
/// read, and dropped from memory; `streamed` gets those UIDs, ascending. The merge
/// sees the rest of each entry unchanged (sizes, hash). With no old index, each
/// of those files' records is written too: the merge's record is known already
/// ([`merge::record_without_index`]).
fn scan_streaming(
    listing: &scan::Listing,
    old: Option<&State>,
    check: Check,
    clock: Clock,
    progress: Progress<'_>,
    w: &mut Writer<'_>,
    streamed: &mut Vec<u32>,
) -> Result<Vec<Scanned>> {
    let old_uidnext = old.map(|s| s.header.uidnext.get());
    // Mirrors merge::merge: a parsed file keeps its UID unless its content no longer
    // matches its record, or it has no record below the old UIDNEXT. A wrong guess
    // costs only a second read of that file (see `write_plan`).
    let keeps_uid = |uid: u32, guid: &[u8; 32]| match old.and_then(|s| s.records.get(&uid)) {
        Some(r) => r.guid == *guid,
        None => old_uidnext.is_none_or(|next| uid >= next),
    };
    let mut out = Vec::with_capacity(listing.messages.len());
    let mut pending: Vec<(u32, Streamed)> = Vec::new();
    let mut write_err = None;
    for chunk in listing.messages.chunks(STREAM_CHUNK) {
        let mut scanned: Vec<(Scanned, Option<Streamed>)> = Vec::new();
        // The body (writing the previous chunk) runs here, on the thread that owns
        // the transaction; the spawned scan of this chunk runs on the pool, and
        // this thread joins it when done writing.
        rayon::in_place_scope(|scope| {
            let slot = &mut scanned;
            scope.spawn(move |_| {
                *slot = chunk
                    .par_iter()
                    .map(|(uid, entry)| {
                        let old_rec = old.and_then(|s| s.records.get(uid));
                        let (mut state, identity) = scan::read_message(entry, old_rec, check);
                        progress(1);
                        let mut encoded = None;
                        if let FileState::Parsed(p) = &mut state
                            && keeps_uid(*uid, &p.guid)
                        {
                            let record = old.is_none().then(|| {
                                merge::record_without_index(
                                    *uid,
                                    p,
                                    &identity,
                                    clock.modseq_floor,
                                    clock.now,
                                )
                            });
                            encoded = Some((p.cache.encode(), record));
                            p.cache.envelope = Vec::new();
                            p.cache.bodystructure = Vec::new();
                            p.cache.body = Vec::new();
                        }
                        let s = Scanned {
                            uid: *uid,
                            state,
                            identity,
                        };
                        (s, encoded)
                    })
                    .collect();
            });
            for (uid, (bytes, record)) in pending.drain(..) {
                if write_err.is_none()
                    && let Err(e) = put_streamed(w, uid, &bytes, record.as_ref())
                {
                    write_err = Some(e);
                }
            }
        });
        if let Some(e) = write_err {
            return Err(e);
        }
        for (s, encoded) in scanned {
            if let Some((bytes, record)) = encoded {
                streamed.push(s.uid);
                pending.push((s.uid, (bytes, record)));
            }
            out.push(s);
        }
    }
    for (uid, (bytes, record)) in pending {
        put_streamed(w, uid, &bytes, record.as_ref())?;
    }
    Ok(out)
}

fn put_streamed(w: &mut Writer<'_>, uid: u32, cache: &[u8], record: Option<&Record>) -> Result<()> {
    if let Some(r) = record {
        w.put_record(r)?;
    }
    w.put_cache_raw(uid, cache)
}

/// Merges, reports, and (unless this is a dry run or nothing changed) does
/// everything on disk that must precede the commit, in the order that keeps every
/// step recoverable: set aside, rename, remove temporaries, sync. Returns the plan
/// to commit, if any.
#[allow(clippy::too_many_arguments)]
fn prepare(
    store: &Store,
    dir: &Path,
    opts: Options,
    mirror: Option<(u32, u32)>,
    clock: Clock,
    old: &Old<'_>,
    listing: &scan::Listing,
    files: Vec<Scanned>,
    rep: &mut MailboxReport,
) -> Result<Option<(Plan, index::record::Header)>> {
    // Every file is read, except under --quick one that matches its record.
    let unread = |f: &Scanned| {
        opts.check == Check::Quick
            && matches!(f.state, FileState::Same)
            && old
                .state
                .and_then(|s| s.records.get(&f.uid))
                .is_some_and(|r| scan::same_identity(r, &f.identity))
    };
    rep.bytes_read = files
        .iter()
        .filter(|f| !unread(f))
        .map(|f| f.identity.len)
        .sum();
    let plan = merge::merge(old.state, mirror, files, clock.modseq_floor, clock.now);
    let uidvalidity = match plan.uidvalidity {
        Some(v) => v,
        None => {
            rep.uidvalidity_changed = true;
            rep.warnings.push("no UIDVALIDITY survived (no index, no mailbox-list entry): a new one was chosen; clients must resynchronise this mailbox".into());
            new_uidvalidity(store, opts.dry_run)
        }
    };
    fill_report(rep, &plan, listing, uidvalidity);
    let must_write = old.damage.is_some()
        || plan.changes_anything(old.state)
        || !listing.temp.is_empty()
        || !plan.bad.is_empty();
    rep.rewritten = must_write;
    if opts.dry_run || !must_write {
        return Ok(None);
    }

    rep.bad.clear();
    for uid in &plan.bad {
        let from = dir.join(message_file_name(*uid));
        let to = unique(dir, &format!("{}{BAD_SUFFIX}", message_file_name(*uid)));
        std::fs::rename(&from, dir.join(&to)).map_err(|e| Error::io(&from, "rename to .BAD", e))?;
        rep.bad.push(to);
    }
    crate::faults::point("reconstruct-after-bad");
    for (from, to) in &plan.renumbered {
        let f = dir.join(message_file_name(*from));
        let t = dir.join(message_file_name(*to));
        std::fs::rename(&f, &t).map_err(|e| Error::io(&f, "rename to its new UID", e))?;
    }
    crate::faults::point("reconstruct-after-renumber");
    for t in &listing.temp {
        match std::fs::remove_file(t) {
            Ok(()) => {}
            Err(e) if e.kind() == std::io::ErrorKind::NotFound => {}
            Err(e) => return Err(Error::io(t, "remove stale temporary file", e)),
        }
    }
    if old.damage.is_some() {
        let aside = unique(
            dir,
            &format!(
                "{INDEX_FILE}{}{}",
                crate::store::SET_ASIDE_INFIX,
                utc_stamp()
            ),
        );
        rename_durable(&dir.join(INDEX_FILE), &dir.join(&aside))?;
        rep.moved_aside = Some(aside);
        crate::faults::point("reconstruct-after-set-aside");
    }
    // The renames and removals above must be on disk before the commit that relies
    // on them; with none, there is nothing to flush.
    if !plan.bad.is_empty()
        || !plan.renumbered.is_empty()
        || !listing.temp.is_empty()
        || rep.moved_aside.is_some()
    {
        sync_dir(dir)?;
    }
    crate::faults::point("reconstruct-before-commit");
    let mut h = index::new_header(uidvalidity, plan.uidnext, plan.highestmodseq);
    h.exists = (plan.records.len() as u32).into();
    h.total_size = plan
        .records
        .iter()
        .map(|p| u64::from(p.record.size.get()))
        .sum::<u64>()
        .into();
    h.last_reconstruct = db::now_unix().into();
    Ok(Some((plan, h)))
}

/// Writes the plan into the open transaction: on the surviving index (`old`), only
/// what changed; on a new one, everything. `streamed` (ascending) holds the UIDs
/// whose cache entries the scan already wrote (and, on a new index, their records).
fn write_plan(
    w: &mut Writer<'_>,
    (plan, header): &(Plan, index::record::Header),
    old: Option<&State>,
    streamed: &[u32],
    dir: &Path,
) -> Result<()> {
    let was_streamed = |uid: u32| streamed.binary_search(&uid).is_ok();
    if old.is_some() {
        for uid in &plan.dropped {
            w.remove(*uid)?;
        }
        for (from, _) in &plan.renumbered {
            w.remove(*from)?;
        }
    }
    // A renumbered file whose entry was streamed under its old UID (the scan's
    // guess was wrong): parse it again, under its new name.
    let reparse: BTreeMap<u32, u32> = plan
        .renumbered
        .iter()
        .filter(|(from, _)| was_streamed(*from))
        .map(|&(from, to)| (to, from))
        .collect();
    for p in plan.records.iter().filter(|p| old.is_none() || p.changed) {
        let uid = p.record.uid.get();
        if old.is_some() || !was_streamed(uid) {
            w.put_record(&p.record)?;
        }
        if let CacheFrom::New(c) = &p.cache {
            if reparse.contains_key(&uid) {
                let path = dir.join(message_file_name(uid));
                let bytes = std::fs::read(&path).map_err(|e| Error::io(&path, "read", e))?;
                w.put_cache(uid, &scan::cache_entry(&bytes))?;
            } else if !was_streamed(uid) {
                w.put_cache(uid, &c.cache)?;
            }
        }
    }
    if let Some(old) = old {
        w.set_user_flags(&old.user_flags)?;
    }
    w.set_header(header)
}

/// Builds a new index under a temporary name with `f` (one transaction) and
/// renames it into place, so a crash leaves either no index or a complete one.
fn write_new_index(
    dir: &Path,
    index_path: &Path,
    f: impl FnOnce(&mut Writer<'_>) -> Result<()>,
) -> Result<()> {
    let tmp = dir.join(format!(
        "{}index.{}",
        crate::store::TMP_PREFIX,
        std::process::id()
    ));
    let _ = std::fs::remove_file(&tmp);
    // One transaction writes everything, header included; until it commits the
    // file fails `load` (and is a stale temporary file to a later run).
    let idx = Index::create_unwritten(&tmp)?;
    idx.write(f)?;
    idx.close_durably()?;
    crate::faults::point("reconstruct-before-index-rename");
    rename_durable(&tmp, index_path)
}

fn fill_report(rep: &mut MailboxReport, plan: &Plan, listing: &scan::Listing, uidvalidity: u32) {
    rep.uidvalidity = uidvalidity;
    rep.uidnext = plan.uidnext;
    rep.highestmodseq = plan.highestmodseq;
    rep.messages = plan.messages();
    rep.kept = plan.kept;
    rep.added = plan.added.clone();
    rep.renumbered = plan.renumbered.iter().map(|&(a, b)| [a, b]).collect();
    rep.changed_content = plan.changed_content.clone();
    rep.dropped = plan.dropped.clone();
    rep.reparsed = plan.reparsed;
    rep.bad = plan
        .bad
        .iter()
        .map(|u| format!("{}{BAD_SUFFIX}", message_file_name(*u)))
        .collect();
    rep.temp_removed = listing
        .temp
        .iter()
        .filter_map(|p| p.file_name())
        .map(|n| n.to_string_lossy().into_owned())
        .collect();
    for why in &plan.unreadable {
        rep.warnings.push(format!(
            "cannot read {why}; its record is kept and the file left alone"
        ));
        rep.status = "failed";
    }
    if !listing.bad.is_empty() {
        rep.warnings.push(format!(
            "set aside earlier (contain NUL bytes): {}",
            listing.bad.join(" ")
        ));
    }
    for u in &listing.unknown {
        rep.warnings.push(format!("unknown file left alone: {u}"));
    }
}

/// A UIDVALIDITY for a mailbox nothing survives of: from the mailbox list's
/// counter when it can be written, else from the clock.
fn new_uidvalidity(store: &Store, dry_run: bool) -> u32 {
    if !dry_run {
        let path = store.mailboxes_db();
        if let Ok(dbh) = db::open_rw(&path, Which::Mailboxes)
            && let Ok(v) = mailboxes::write(&dbh, &path, |t| t.new_uidvalidity())
        {
            return v;
        }
    }
    db::now_unix().clamp(1, i64::from(u32::MAX)) as u32
}

/// `name`, or `name.2`, `name.3`... whichever does not exist yet in `dir`.
pub fn unique(dir: &Path, name: &str) -> String {
    if !dir.join(name).exists() {
        return name.to_owned();
    }
    (2..)
        .map(|i| format!("{name}.{i}"))
        .find(|n| !dir.join(n).exists())
        .unwrap_or_else(|| name.to_owned())
}

/// `20261128T101500Z`, for names of files set aside.
pub fn utc_stamp() -> String {
    let s = db::now_unix();
    let days = s.div_euclid(86_400);
    let rem = s.rem_euclid(86_400);
    let (y, m, dd) = crate::message::civil_from_days(days);
    format!(
        "{y:04}{m:02}{dd:02}T{:02}{:02}{:02}Z",
        rem / 3600,
        rem % 3600 / 60,
        rem % 60
    )
}
