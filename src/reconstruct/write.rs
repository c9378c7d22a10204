//! Writing a plan: into the surviving index (only what changed, or every entry
//! when a version-1 index is converted or UIDs ran out), or into a new index built
//! under a temporary name and put in place without replacing any name, so a crash
//! at any instant leaves the old index or the new one, and nothing is ever lost.

use super::mailbox::{Clock, Context, Decided, Ready, prepare};
use super::merge::{self, CacheFrom, Scanned};
use super::report::MailboxReport;
use super::scan::{self, Check, FileState};
use super::stage::Swap;
use crate::error::{Error, Result};
use crate::index::record::{Identity, Record};
use crate::index::{CacheEntry, Index, State, Writer};
use crate::store::fsutil::{exchange, name_taken, rename_noreplace, sync_dir, unique_name};
use crate::store::{INDEX_FILE, SET_ASIDE_INFIX, message_file_name};
use rayon::prelude::*;
use std::collections::BTreeMap;
use std::path::Path;

/// Commits a prepared plan.
pub fn commit(
    cx: &Context<'_>,
    dir: &Path,
    index_path: &Path,
    ready: Ready,
    rep: &mut MailboxReport,
) -> Result<()> {
    let id = ready.identity;
    match &ready.in_place {
        Some(old) => {
            let full = ready.converting || ready.plan.exhausted;
            let idx = Index::open_checked(index_path)?;
            let body = |w: &mut Writer<'_>| write_plan(w, &ready, Some(old), full, dir);
            if ready.converting {
                idx.write_converting(id, body)?;
            } else {
                idx.write(id, body)?;
            }
        }
        None => {
            let placed = new_index(cx, &rep.mailbox, dir, index_path, id, |w| {
                write_plan(w, &ready, None, true, dir)
            })?;
            match placed {
                NewIndex::Placed(aside) => rep.moved_aside = aside,
                // Its list entry is brought up to it once it is in place.
                NewIndex::Staged => {
                    if let Some(stage) = &cx.stage {
                        stage.set_header(&rep.mailbox, ready.header, ready.need);
                    }
                    return Ok(());
                }
            }
        }
    }
    super::mirror::after_commit(cx, rep, &ready.header);
    Ok(())
}

/// The UID each planned record's cache entry is stored under in the old index.
fn sources(ready: &Ready) -> BTreeMap<u32, u32> {
    ready
        .plan
        .renumbered
        .iter()
        .map(|&(from, to)| (to, from))
        .collect()
}

/// Writes the plan into the open transaction: on the surviving index (`old`) only
/// what changed unless `full`; on a new one, everything. `ready.streamed`
/// (ascending) holds the UIDs whose cache entries (and, on a new index, records) the
/// scan already wrote.
fn write_plan(
    w: &mut Writer<'_>,
    ready: &Ready,
    old: Option<&State>,
    full: bool,
    dir: &Path,
) -> Result<()> {
    let plan = &ready.plan;
    let was_streamed = |uid: u32| ready.streamed.binary_search(&uid).is_ok();
    let from = sources(ready);
    let v1 = old.is_some_and(|s| s.v1);
    if old.is_some() {
        // Entries kept under another UID are copied before their old place goes.
        for p in &plan.records {
            let uid = p.record.uid.get();
            if let (CacheFrom::Old, Some(&src)) = (&p.cache, from.get(&uid)) {
                let entry = w.cache_entry(src, v1)?;
                if let Some(c) = entry {
                    w.put_cache(uid, &c)?;
                }
            }
        }
        for uid in &plan.dropped {
            w.remove(*uid)?;
        }
        for (src, _) in &plan.renumbered {
            w.remove(*src)?;
        }
    }
    // A renumbered file whose entry was streamed under its old UID (the scan's
    // guess was wrong): parse it again, under its new name.
    for p in plan
        .records
        .iter()
        .filter(|p| old.is_none() || p.changed || full)
    {
        let uid = p.record.uid.get();
        if old.is_some() || !was_streamed(uid) {
            w.put_record(&p.record)?;
        }
        match &p.cache {
            CacheFrom::New(c) => {
                let streamed_elsewhere = from.get(&uid).is_some_and(|src| was_streamed(*src));
                if streamed_elsewhere {
                    let path = dir.join(message_file_name(uid));
                    let bytes = std::fs::read(&path).map_err(|e| Error::io(&path, "read", e))?;
                    w.put_cache(uid, &CacheEntry::build(&bytes))?;
                } else if !was_streamed(uid) {
                    w.put_cache(uid, &c.cache)?;
                }
            }
            // Kept under its own UID: rewritten only when its seal changes.
            CacheFrom::Old if full && !from.contains_key(&uid) => {
                if let Some(c) = w.cache_entry(uid, v1)? {
                    w.put_cache(uid, &c)?;
                }
            }
            CacheFrom::Old => {}
        }
    }
    w.set_keywords(&ready.keywords)?;
    w.set_header(&ready.header)
}

/// Builds a new index under a temporary name with `f` (one transaction), flushes
/// it, and puts it in place. What held the name before (a damaged index, another
/// mailbox's, a FIFO or directory) is kept under `msgstore.index.corrupt-<time>`,
/// never deleted, and no rename replaces a name: a regular file is kept by a second
/// link and the two swap names in one step; anything else is moved out of the way
/// first. Returns the name it was kept under.
fn new_index(
    cx: &Context<'_>,
    mailbox: &str,
    dir: &Path,
    index_path: &Path,
    id: Identity,
    f: impl FnOnce(&mut Writer<'_>) -> Result<()>,
) -> Result<NewIndex> {
    let tmp = dir.join(format!(
        "{}index.{}",
        crate::store::TMP_PREFIX,
        std::process::id()
    ));
    match std::fs::remove_file(&tmp) {
        Ok(()) => {}
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => {}
        Err(e) => return Err(Error::io(&tmp, "remove a stale temporary index", e)),
    }
    // One transaction writes everything, header included; until it commits the
    // file fails every check (and is a stale temporary file to a later run).
    let idx = Index::create_unsynced(&tmp)?;
    idx.write(id, f)?;
    if let Some(stage) = &cx.stage {
        // Put in place with the other mailboxes of the chunk.
        idx.close_unflushed();
        stage.push(Swap {
            mailbox: mailbox.to_owned(),
            dir: dir.to_owned(),
            tmp,
            index_path: index_path.to_owned(),
            header: None,
            need: None,
            lock: None,
        });
        return Ok(NewIndex::Staged);
    }
    idx.close_durably()?;
    crate::faults::point("reconstruct-before-index-rename");
    if !name_taken(index_path) {
        rename_noreplace(&tmp, index_path).map_err(|e| Error::io(&tmp, "rename into place", e))?;
        crate::faults::point("rename-before-sync");
        sync_dir(dir)?;
        return Ok(NewIndex::Placed(None));
    }
    let aside = unique_name(
        dir,
        &format!(
            "{INDEX_FILE}{SET_ASIDE_INFIX}{}",
            crate::store::time::utc_stamp()
        ),
    );
    let kept = dir.join(&aside);
    if crate::store::fsutil::is_regular(index_path) {
        std::fs::hard_link(index_path, &kept)
            .map_err(|e| Error::io(index_path, "keep the old index under another name", e))?;
        sync_dir(dir)?;
        crate::faults::point("reconstruct-after-set-aside");
        exchange(&tmp, index_path)
            .map_err(|e| Error::io(&tmp, "swap the new index into place", e))?;
        // `tmp` now names the old index, which `aside` keeps.
        std::fs::remove_file(&tmp).map_err(|e| Error::io(&tmp, "remove", e))?;
        sync_dir(dir)?;
    } else {
        rename_noreplace(index_path, &kept)
            .map_err(|e| Error::io(index_path, "move out of the way", e))?;
        crate::faults::point("reconstruct-after-set-aside");
        rename_noreplace(&tmp, index_path).map_err(|e| Error::io(&tmp, "rename into place", e))?;
        sync_dir(dir)?;
    }
    Ok(NewIndex::Placed(Some(aside)))
}

/// What [`new_index`] did.
enum NewIndex {
    /// In place; what held the name was kept under this name, if anything.
    Placed(Option<String>),
    /// Written, waiting to be put in place with the others of its chunk.
    Staged,
}

/// Files per step of the streamed scan: enough to keep both sides busy, few enough
/// that the entries waiting to be written stay small.
const STREAM_CHUNK: usize = 256;

/// A parsed file's encoded cache entry and, with no old index, its record.
type Streamed = (Vec<u8>, Option<Record>);

/// What a streamed rebuild came to.
pub enum Outcome {
    Done(Box<MailboxReport>),
    /// The UID space ran out: what was streamed was sealed for a UIDVALIDITY that
    /// must change, so nothing was committed; the caller takes the unstreamed path.
    Exhausted,
}

/// The full rebuild (no index) and `--full` over an intact index: each parsed file
/// whose UID the merge will keep has its cache entry written into the transaction
/// (under that UID) while the next chunk of files is read, and dropped from
/// memory. With no old index, each of those files' records is written too: the
/// merge's record is known already ([`merge::record_without_index`]).
#[allow(clippy::too_many_arguments)]
pub fn streamed(
    cx: &Context<'_>,
    dir: &Path,
    index_path: &Path,
    listing: &scan::Listing,
    old: Option<&State>,
    id: Identity,
    decided: Decided,
    flags_lost: bool,
    clock: Clock,
    mut rep: MailboxReport,
) -> Result<Outcome> {
    let bounds = decided.bounds;
    let floor = bounds
        .uid_floor
        .max(old.map_or(0, |s| s.header.uidnext.get()));
    let mut exhausted = false;
    let mut ready_header = None;
    let mut ready_need = None;
    let mailbox = rep.mailbox.clone();
    let body = |w: &mut Writer<'_>| -> Result<()> {
        let mut streamed = Vec::new();
        let files = scan_streaming(
            listing,
            old,
            cx.opts.check,
            clock,
            bounds.modseq_floor,
            floor,
            cx.progress,
            w,
            &mut streamed,
        )?;
        rep.bytes_read = files.iter().map(|f| f.file.len).sum();
        let plan = merge::merge(old, bounds, files, &listing.blocked, clock.now);
        if plan.exhausted {
            exhausted = true;
            // Aborts the transaction: nothing of it is committed.
            return Err(Error::Mailbox {
                mailbox: rep.mailbox.clone(),
                what: "UIDs exhausted".into(),
            });
        }
        if let Some(mut ready) =
            prepare(cx, dir, listing, old, flags_lost, decided, plan, &mut rep)?
        {
            ready.streamed = streamed;
            write_plan(w, &ready, ready.in_place.as_ref(), false, dir)?;
            ready_header = Some(ready.header);
            ready_need = ready.need;
        }
        Ok(())
    };
    let r = match old {
        Some(_) => Index::open_checked(index_path)?
            .write(id, body)
            .map(|()| NewIndex::Placed(None)),
        None => new_index(cx, &mailbox, dir, index_path, id, body),
    };
    match r {
        Ok(NewIndex::Placed(aside)) => {
            rep.moved_aside = aside;
            if let Some(h) = ready_header {
                super::mirror::after_commit(cx, &mut rep, &h);
            }
            Ok(Outcome::Done(Box::new(rep)))
        }
        Ok(NewIndex::Staged) => {
            if let (Some(stage), Some(h)) = (&cx.stage, ready_header) {
                stage.set_header(&mailbox, h, ready_need);
            }
            Ok(Outcome::Done(Box::new(rep)))
        }
        Err(_) if exhausted => Ok(Outcome::Exhausted),
        Err(e) => Err(e),
    }
}

#[allow(clippy::too_many_arguments)]
fn scan_streaming(
    listing: &scan::Listing,
    old: Option<&State>,
    check: Check,
    clock: Clock,
    modseq_floor: u64,
    uid_floor: u32,
    progress: super::Progress<'_>,
    w: &mut Writer<'_>,
    streamed: &mut Vec<u32>,
) -> Result<Vec<Scanned>> {
    // Mirrors merge::merge: a parsed file keeps its UID unless its content no longer
    // matches its record, or it has no record below the floor. A wrong guess costs
    // only a second read of that file (see `write_plan`).
    let keeps_uid = |uid: u32, guid: &[u8; 32]| match old.and_then(|s| s.records.get(&uid)) {
        Some(r) => r.guid == *guid,
        None => old.is_none() || uid >= uid_floor,
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
                        let (mut state, file) = scan::read_message(entry, old_rec, check);
                        progress(1);
                        let mut encoded = None;
                        if let FileState::Parsed(p) = &mut state
                            && keeps_uid(*uid, &p.guid)
                        {
                            let record = old.is_none().then(|| {
                                merge::record_without_index(*uid, p, &file, modseq_floor, clock.now)
                            });
                            encoded = Some((p.cache.encode(*uid), record));
                            p.cache.envelope = Vec::new();
                            p.cache.bodystructure = Vec::new();
                            p.cache.body = Vec::new();
                        }
                        (
                            Scanned {
                                uid: *uid,
                                state,
                                file,
                            },
                            encoded,
                        )
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
