//! One mailbox's rebuild, under its exclusive lock: read what survives, scan the
//! files, salvage a damaged index, decide whose mailbox this is and what bounds
//! hold, merge, make the disk changes in a recoverable order, commit, and bring the
//! mailbox list's entry up to what the index now says.

use super::merge::{self, Bounds, Plan, Scanned};
use super::report::MailboxReport;
use super::scan::{self, Check, FileState, IndexFile};
use super::{Options, Progress, write};
use crate::db::mailboxes::{self, Entry};
use crate::error::{Error, Fault, Result};
use crate::index::record::{Header, Identity};
use crate::index::{Reader, State, salvage};
use crate::store::fsutil::{rename_noreplace, sync_dir, unique_name};
use crate::store::lock::{self, Mode, Wait};
use crate::store::names::MailboxName;
use crate::store::{BAD_SUFFIX, INDEX_FILE, Store, message_file_name};
use rayon::prelude::*;
use std::collections::BTreeMap;
use std::path::Path;

/// What the rebuild of each mailbox knows of the mailbox list.
pub struct ListView {
    pub entries: BTreeMap<String, Entry>,
    /// The list's next id: an index whose id is at least this was made after the
    /// list was saved.
    pub next_id: u64,
    pub readable: bool,
}

pub struct Context<'a> {
    pub store: &'a Store,
    pub opts: Options,
    pub list: &'a ListView,
    pub progress: Progress<'a>,
    /// Reservations of the rebuilds running at once, written together.
    pub reservations: super::mirror::Reservations,
    /// With many mailboxes rebuilt at once, their new indexes are put in place
    /// together ([`super::stage`]).
    pub stage: Option<super::stage::Stage>,
}

/// The time of one mailbox's rebuild, read once: the merge stamps it on the
/// records it makes, and a full rebuild stamps the same on those it streams.
#[derive(Clone, Copy, Debug)]
pub struct Clock {
    pub now: i64,
}

/// How an index relates to the mailbox list's entry for its directory.
#[derive(Debug, PartialEq, Eq)]
pub enum Relation {
    /// The same mailbox (or nothing to compare with).
    Same,
    /// The same mailbox, newer than the list (the list was restored or lost
    /// since): the index is the truth, and the entry is brought up to it.
    ListStale,
    /// Another mailbox's index: moved aside, never adopted.
    Foreign(String),
}

/// Ids only grow, and so do UIDVALIDITYs: an index whose id the list has not
/// handed out yet was made after the list was saved; one whose id the list gave
/// to another mailbox (or whose UIDVALIDITY is older than the entry's) is not this
/// mailbox's.
pub fn relate(index: Identity, entry: Option<&Entry>, next_id: u64) -> Relation {
    let Some(e) = entry else {
        return Relation::Same;
    };
    let id_known = index.mailbox_id != 0;
    if !id_known || index.mailbox_id == e.id {
        return if index.uidvalidity == e.uidvalidity {
            Relation::Same
        } else if id_known && index.uidvalidity > e.uidvalidity {
            Relation::ListStale
        } else {
            Relation::Foreign(format!(
                "its UIDVALIDITY {} is not the mailbox list's {}",
                index.uidvalidity, e.uidvalidity
            ))
        };
    }
    if index.mailbox_id >= next_id && index.uidvalidity > e.uidvalidity {
        return Relation::ListStale;
    }
    Relation::Foreign(format!(
        "it belongs to mailbox id {} (UIDVALIDITY {}), not to this mailbox (id {}, UIDVALIDITY {})",
        index.mailbox_id, index.uidvalidity, e.id, e.uidvalidity
    ))
}

/// What survives of the old index.
pub enum Old {
    None,
    Intact(State),
    /// Unreadable or failing its checks; salvaged after the scan.
    Damaged(String),
    /// A verified index of another mailbox.
    Foreign(State, String),
}

pub fn rebuild(cx: &Context<'_>, name: &MailboxName) -> Result<MailboxReport> {
    let store = cx.store;
    let opts = cx.opts;
    let dir = store.mailbox_dir(name);
    let shown = name.to_string();
    let wait = if opts.wait {
        Wait::Forever
    } else {
        Wait::default_for_writers().at_most(lock::RECONSTRUCT_GRACE)
    };
    let lock = lock::mailbox(&dir, Mode::Exclusive, wait, !opts.dry_run)
        .map_err(|e| e.into_error(|| Error::MailboxBusy(shown.clone())))?;
    let r = rebuild_locked(cx, name);
    // A new index waiting to be put in place keeps the mailbox locked until then.
    if let Some(stage) = &cx.stage
        && stage.has(&shown)
    {
        stage.attach(&shown, lock);
    } else if r.is_ok() && !opts.dry_run {
        note_rebuilt(cx, name);
    }
    r
}

/// [`rebuild`] under the mailbox's exclusive lock.
fn rebuild_locked(cx: &Context<'_>, name: &MailboxName) -> Result<MailboxReport> {
    let store = cx.store;
    let opts = cx.opts;
    let dir = store.mailbox_dir(name);
    let shown = name.to_string();
    let entry = cx.list.entries.get(&shown);
    let index_path = dir.join(INDEX_FILE);
    let mut progress = cx.progress;
    let mut rep = MailboxReport::new(&shown);

    if opts.check == Check::Quick && !opts.dry_run {
        if let Some(r) = super::quick::unchanged(
            cx.store,
            &dir,
            &index_path,
            entry,
            cx.list.next_id,
            progress,
            rep,
        )? {
            return Ok(r);
        }
        // Something changed: the full path below, without counting the files twice.
        progress = &|_| {};
        rep = MailboxReport::new(&shown);
    }

    // The old index and the directory listing are independent: read both at once.
    let (old, listing) = rayon::join(
        || read_old(&index_path, entry, cx.list.next_id),
        || scan::list_dir(&dir),
    );
    let listing = listing?;
    let mut old = old?;
    if let IndexFile::Other(what) = listing.index {
        old = Old::Damaged(format!("{} is {what}, not a file", index_path.display()));
    }
    rep.unknown_files = listing.unknown.iter().map(|u| u.0.clone()).collect();
    let clock = Clock {
        now: crate::store::time::now_unix(),
    };

    // A full rebuild (no index) and --full over an intact one parse every file: their
    // cache entries go into the write transaction while the next files are read, so
    // writing overlaps reading and no parsed entry waits in memory.
    let stream = !opts.dry_run
        && !listing.messages.is_empty()
        && match &old {
            Old::None => true,
            Old::Intact(s) => opts.check == Check::Full && !s.v1,
            _ => false,
        };
    if stream {
        let decided = decide(cx, name, entry, &old, None, &mut rep)?;
        if let Some(id) = decided.identity {
            let flags_lost = matches!(old, Old::None);
            match write::streamed(
                cx,
                &dir,
                &index_path,
                &listing,
                old_state(&old),
                id,
                decided,
                flags_lost,
                clock,
                rep,
            )? {
                write::Outcome::Done(r) => return Ok(*r),
                write::Outcome::Exhausted => {}
            }
        }
        rep = MailboxReport::new(&shown);
        rep.unknown_files = listing.unknown.iter().map(|u| u.0.clone()).collect();
    }
    let known = match &old {
        Old::Intact(s) => Some(s),
        _ => None,
    };
    let files = scan_all(&listing, known, opts.check, progress);
    // Every file is read, except under --quick one that matches its record.
    rep.bytes_read = files
        .iter()
        .filter(|f| {
            !(opts.check == Check::Quick
                && matches!(f.state, FileState::Same)
                && known
                    .and_then(|s| s.records.get(&f.uid))
                    .is_some_and(|r| f.file.matches(r)))
        })
        .map(|f| f.file.len)
        .sum();
    let salvaged = match &old {
        Old::Damaged(_) => Some(salvage_index(
            &index_path,
            entry,
            &files,
            &listing,
            &mut rep,
        )),
        _ => None,
    };
    let decided = decide(cx, name, entry, &old, salvaged, &mut rep)?;
    let plan = merge::merge(
        decided.state.as_ref(),
        decided.bounds,
        files,
        &listing.blocked,
        clock.now,
    );
    let flags_lost = match &old {
        Old::None | Old::Foreign(..) => true,
        Old::Damaged(_) => rep.salvaged.as_ref().is_none_or(|s| s.records == 0),
        Old::Intact(_) => false,
    };
    let Some(ready) = prepare(
        cx,
        &dir,
        &listing,
        old_state(&old),
        flags_lost,
        decided,
        plan,
        &mut rep,
    )?
    else {
        return Ok(rep);
    };
    write::commit(cx, &dir, &index_path, ready, &mut rep)?;
    Ok(rep)
}

fn old_state(old: &Old) -> Option<&State> {
    match old {
        Old::Intact(s) => Some(s),
        _ => None,
    }
}

/// The old index, if it opens and passes its checks (every page's checksum, and
/// every header, record and keyword list verified); read through an overlay, so a
/// run that changes nothing writes nothing, and a dry run sees exactly what a real
/// run would. Contention and the OS are not damage: the mailbox fails instead.
fn read_old(path: &Path, entry: Option<&Entry>, next_id: u64) -> Result<Old> {
    if !crate::store::fsutil::name_taken(path) {
        return Ok(Old::None);
    }
    match Reader::open_checked(path).and_then(|r| r.load_any()) {
        Ok(s) => Ok(match relate(s.header.identity(), entry, next_id) {
            Relation::Foreign(why) => Old::Foreign(s, why),
            _ => Old::Intact(s),
        }),
        Err(e) => match e.fault() {
            Some(Fault::Missing) => Ok(Old::None),
            Some(Fault::Version { found, .. })
                if *found > u64::from(crate::index::record::INDEX_VERSION) =>
            {
                Err(e)
            }
            Some(f) if f.is_damage() || matches!(f, Fault::Version { .. }) => {
                Ok(Old::Damaged(e.detail()))
            }
            _ => Err(e),
        },
    }
}

/// Reads every message file, in parallel, each into its worker's buffer.
pub fn scan_all(
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
            let (state, file) = scan::read_message(entry, old_rec, check);
            progress(1);
            Scanned {
                uid: *uid,
                state,
                file,
            }
        })
        .collect()
}

/// What salvage reads of a damaged index, given the files' hashes (a version-1
/// record is trusted where its BLAKE3 matches its file).
fn salvage_index(
    path: &Path,
    entry: Option<&Entry>,
    files: &[Scanned],
    listing: &scan::Listing,
    rep: &mut MailboxReport,
) -> Option<salvage::Salvaged> {
    if listing.index != IndexFile::Regular {
        return None;
    }
    let guids: BTreeMap<u32, [u8; 32]> = files
        .iter()
        .filter_map(|f| match &f.state {
            FileState::Parsed(p) => Some((f.uid, p.guid)),
            _ => None,
        })
        .collect();
    let expected = entry.map(|e| Identity {
        mailbox_id: e.id,
        uidvalidity: e.uidvalidity,
    });
    match salvage::salvage(path, expected, &guids) {
        Ok(s) => Some(s),
        Err(e) => {
            rep.warnings.push(format!(
                "{}: cannot read it for salvage: {e}",
                path.display()
            ));
            None
        }
    }
}

/// Whose mailbox, which UIDVALIDITY, and which bounds hold.
pub struct Decided {
    /// The old index as the merge sees it (salvaged records, or none when foreign);
    /// `None`: no index survived, files keep their UIDs.
    pub state: Option<State>,
    /// `None`: nothing survives that names one; a new UIDVALIDITY is chosen.
    pub identity: Option<Identity>,
    pub bounds: Bounds,
    /// The index must be written even if the merge changes nothing (damage, a
    /// foreign or version-1 index, a header to correct).
    pub must_write: bool,
    /// Write the whole index anew (not only what changed).
    pub fresh_file: bool,
}

fn entry_identity(e: &Entry) -> Identity {
    Identity {
        mailbox_id: e.id,
        uidvalidity: e.uidvalidity,
    }
}

/// Whether the index at `index_path` (header `h`), which passes its checks and is
/// the mailbox of list entry `e`, may be an older copy than what clients saw:
/// below what the list heard of, or not the file the list knows (see
/// [`mailboxes::index_file_known`]; a restore puts another file in its place).
pub fn may_be_older_copy(
    store: &crate::store::Store,
    e: &Entry,
    index_path: &std::path::Path,
    h: &Header,
) -> bool {
    if h.uidnext.get() < e.uidnext || h.highestmodseq.get() < e.highestmodseq {
        return true;
    }
    match mailboxes::index_fingerprint(index_path) {
        Ok(fp) => !mailboxes::index_file_known(store, e.id, fp).unwrap_or(false),
        Err(_) => true,
    }
}

/// Notes in the mailbox list that the index file a rebuild left in place is
/// above the list's bounds (every rebuild continues above them), so writers trust
/// it. A failure only makes the next writer skip a block of UIDs.
pub(super) fn note_rebuilt(cx: &Context<'_>, name: &MailboxName) {
    let path = cx.store.mailbox_dir(name).join(INDEX_FILE);
    if let (Ok(Some(e)), Ok(fp)) = (
        mailboxes::get(cx.store, name),
        mailboxes::index_fingerprint(&path),
    ) {
        let _ = mailboxes::note_index_file(cx.store, e.id, fp);
    }
}

/// The list's bounds over an index that passes its checks and is this mailbox's.
/// A format-1 list keeps no MODSEQ bound, and its UID mirror may lag (it is then
/// at most the index's own).
pub fn intact_bounds(e: &Entry) -> Bounds {
    Bounds {
        uid_floor: e.uid_bound,
        modseq_floor: if e.from_v1 { 0 } else { e.modseq_bound },
        restamp: false,
    }
}

/// The list's bounds, for an index that cannot speak for itself (lost, damaged or
/// foreign). A format-1 list's UID mirror may lag and it keeps no MODSEQ bound:
/// then the clock gives one (MODSEQs were never handed out faster than 1,000 a
/// second).
fn list_bounds(e: &Entry, now: i64) -> Bounds {
    Bounds {
        uid_floor: e.uid_bound,
        modseq_floor: if e.from_v1 {
            (now.max(0) as u64).saturating_mul(1000)
        } else {
            e.modseq_bound
        },
        restamp: false,
    }
}

pub fn decide(
    cx: &Context<'_>,
    name: &MailboxName,
    entry: Option<&Entry>,
    old: &Old,
    salvaged: Option<Option<salvage::Salvaged>>,
    rep: &mut MailboxReport,
) -> Result<Decided> {
    let now = crate::store::time::now_unix();
    let d = match old {
        Old::Intact(s) => {
            let relation = relate(s.header.identity(), entry, cx.list.next_id);
            let mut identity = s.header.identity();
            let mut bounds = Bounds::default();
            let mut state = s.clone();
            if let (Relation::Same, Some(e)) = (&relation, entry) {
                identity.mailbox_id = e.id;
                // New UIDs and UIDNEXT continue above what the list reserved: an
                // index restored from an older copy looks like a healthy one, and
                // what it lacks may have been seen.
                bounds = intact_bounds(e);
                // Below a UIDNEXT the list heard of, it is certainly an older copy:
                // a file without a record below the reserved bound may then have
                // been shown under another UIDNEXT, so it gets a new UID too.
                if s.header.uidnext.get() < e.uidnext
                    || s.header.highestmodseq.get() < e.highestmodseq
                {
                    rep.warnings.push(format!(
                        "the index is older than the mailbox list (UIDNEXT {} < {}, HIGHESTMODSEQ {} < {}): restored from an older copy; UIDs continue above {}",
                        s.header.uidnext.get(),
                        e.uidnext,
                        s.header.highestmodseq.get(),
                        e.highestmodseq,
                        e.uid_bound
                    ));
                    state.header.uidnext = state.header.uidnext.get().max(e.uid_bound).into();
                }
                let index_path = cx.store.mailbox_dir(name).join(INDEX_FILE);
                if may_be_older_copy(cx.store, e, &index_path, &s.header) {
                    bounds.restamp = true;
                    rep.warnings.push(
                        "the index file is not the one the mailbox list knows (restored from a copy?): every message gets a new MODSEQ, so that clients fetch its flags again".into(),
                    );
                }
            }
            if relation == Relation::ListStale {
                rep.warnings.push(
                    "the mailbox list's entry is older than the index (the list was restored or rebuilt); it is brought up to the index".into(),
                );
            }
            if s.v1 {
                rep.warnings
                    .push("index in format version 1: converted to version 2".into());
            }
            Decided {
                must_write: s.v1 || identity != s.header.identity(),
                fresh_file: false,
                state: Some(state),
                identity: Some(identity),
                bounds,
            }
        }
        Old::Foreign(s, why) => {
            rep.foreign = Some(why.clone());
            rep.warnings.push(format!(
                "the index is another mailbox's ({why}): moved aside and not used; the files get new UIDs, as nothing proves they are this mailbox's"
            ));
            let _ = s;
            let e = entry.ok_or_else(|| Error::Mailbox {
                mailbox: name.to_string(),
                what: "a foreign index with no list entry (a bug: refused)".into(),
            })?;
            let mut empty = State {
                header: Header::new(entry_identity(e), e.uid_bound, e.modseq_bound),
                ..State::default()
            };
            empty.header.exists = 0.into();
            Decided {
                state: Some(empty),
                identity: Some(entry_identity(e)),
                bounds: list_bounds(e, now),
                must_write: true,
                fresh_file: true,
            }
        }
        Old::Damaged(why) => {
            rep.warnings.push(format!(
                "index damaged, rebuilt from the message files: {why}"
            ));
            let s = salvaged.flatten();
            let mut bounds = entry.map(|e| list_bounds(e, now)).unwrap_or_default();
            let identity = match (entry, &s) {
                (Some(e), _) => Some(entry_identity(e)),
                (None, Some(s)) => s.identity.or(s.uidvalidity.map(|uv| Identity {
                    mailbox_id: 0,
                    uidvalidity: uv,
                })),
                (None, None) => None,
            };
            let state = match (&s, identity) {
                (Some(s), id) if s.header_found || s.v1 || !s.records.is_empty() => {
                    // With no identity (a new UIDVALIDITY follows), only the
                    // records matched by content are there; they keep their flags.
                    let id = id.unwrap_or(Identity {
                        mailbox_id: 0,
                        uidvalidity: 0,
                    });
                    let max_uid = s.records.keys().next_back().copied().unwrap_or(0);
                    bounds.uid_floor = bounds
                        .uid_floor
                        .max(s.uidnext)
                        .max(max_uid.saturating_add(1));
                    bounds.modseq_floor = bounds.modseq_floor.max(s.highestmodseq);
                    rep.salvaged = Some(super::report::Salvage {
                        records: s.records.len(),
                        header: s.header_found,
                        keywords: s.keywords.len(),
                    });
                    let mut st = State {
                        header: Header::new(id, bounds.uid_floor, bounds.modseq_floor),
                        keywords: s.keywords.clone(),
                        records: s.records.clone(),
                        v1: false,
                    };
                    st.header.exists = (st.records.len() as u32).into();
                    Some(st)
                }
                _ => None,
            };
            Decided {
                state,
                identity,
                bounds,
                must_write: true,
                fresh_file: true,
            }
        }
        Old::None => {
            let identity = entry.map(entry_identity);
            Decided {
                state: None,
                identity,
                bounds: entry.map(|e| list_bounds(e, now)).unwrap_or_default(),
                must_write: true,
                fresh_file: true,
            }
        }
    };
    Ok(d)
}

/// A plan ready to commit: the header it ends with.
pub struct Ready {
    pub plan: Plan,
    pub header: Header,
    pub keywords: Vec<String>,
    /// The old index it is written over (in place), if any.
    pub in_place: Option<State>,
    /// Converting a version-1 index in place.
    pub converting: bool,
    pub identity: Identity,
    pub streamed: Vec<u32>,
    /// A reservation left to the chunk's commit (a staged new index).
    pub need: Option<crate::db::mailboxes::Need>,
}

/// Merges, reports, and (unless this is a dry run or nothing changed) does
/// everything on disk that must precede the commit, in the order that keeps every
/// step recoverable: set aside, rename, remove temporaries, sync.
#[allow(clippy::too_many_arguments)]
pub fn prepare(
    cx: &Context<'_>,
    dir: &Path,
    listing: &scan::Listing,
    in_place: Option<&State>,
    flags_lost: bool,
    decided: Decided,
    plan: Plan,
    rep: &mut MailboxReport,
) -> Result<Option<Ready>> {
    let opts = cx.opts;
    let mut identity = decided.identity;
    if plan.exhausted {
        rep.warnings.push(
            "the UID space is used up: a new UIDVALIDITY was chosen; clients must resynchronise this mailbox".into(),
        );
        identity = None;
    }
    let identity = match identity {
        Some(id) => id,
        None => {
            rep.uidvalidity_changed = true;
            if !plan.exhausted {
                rep.warnings.push("no UIDVALIDITY survived (no usable index, no mailbox-list entry): a new one was chosen; clients must resynchronise this mailbox".into());
            }
            Identity {
                mailbox_id: cx.list.entries.get(&rep.mailbox).map_or(0, |e| e.id),
                uidvalidity: super::mirror::new_uidvalidity(cx.store, opts.dry_run)?,
            }
        }
    };
    if flags_lost && plan.messages() > 0 {
        rep.flags_lost = true;
        rep.warnings.push(
            "no record of their flags survived: the messages were added without flags".into(),
        );
    }
    super::fill_report(rep, &plan, listing, identity.uidvalidity);
    rep.size = Some(
        plan.records
            .iter()
            .map(|p| u64::from(p.record.size.get()))
            .sum(),
    );
    rep.size_before = in_place.map(|s| s.header.total_size.get());
    let must_write = decided.must_write
        || plan.changes_anything(in_place)
        || !listing.temp.is_empty()
        || !plan.bad.is_empty()
        || rep.uidvalidity_changed;
    rep.rewritten = must_write;
    if opts.dry_run || !must_write {
        return Ok(None);
    }

    // The UIDs and MODSEQs this rebuild hands out are reserved in the mailbox list
    // before anything changes, as a delivery reserves them: a list that cannot
    // be written fails the mailbox here, with nothing changed.
    let invented = plan
        .renumbered
        .iter()
        .map(|&(_, to)| to.saturating_add(1))
        .max()
        .unwrap_or(0);
    let need = super::mirror::need(
        cx,
        &rep.mailbox,
        identity,
        in_place.map(|s| &s.header),
        invented,
        plan.highestmodseq,
    );
    // A new index put in place with others of its chunk reserves with them, in
    // one list write before their swaps (nothing of it is visible before).
    let staged = cx.stage.is_some() && (decided.fresh_file || in_place.is_none());
    let deferred = match need {
        Some(n) if staged => Some(n),
        Some(n) => {
            cx.reservations.reserve(cx.store, &rep.mailbox, n)?;
            None
        }
        None => None,
    };
    rep.bad.clear();
    for uid in &plan.bad {
        let from = dir.join(message_file_name(*uid));
        let aside = unique_name(dir, &format!("{}{BAD_SUFFIX}", message_file_name(*uid)));
        rename_noreplace(&from, &dir.join(&aside))
            .map_err(|e| Error::io(&from, "rename to .BAD", e))?;
        rep.bad.push(aside);
    }
    crate::faults::point("reconstruct-after-bad");
    for (from, to) in &plan.renumbered {
        let f = dir.join(message_file_name(*from));
        let t = dir.join(message_file_name(*to));
        rename_noreplace(&f, &t).map_err(|e| Error::io(&f, "rename to its new UID", e))?;
    }
    crate::faults::point("reconstruct-after-renumber");
    for t in &listing.temp {
        match std::fs::remove_file(t) {
            Ok(()) => {}
            Err(e) if e.kind() == std::io::ErrorKind::NotFound => {}
            Err(e) => return Err(Error::io(t, "remove stale temporary file", e)),
        }
    }
    // The renames and removals above must be on disk before the commit that relies
    // on them; with none, there is nothing to flush.
    if !plan.bad.is_empty() || !plan.renumbered.is_empty() || !listing.temp.is_empty() {
        sync_dir(dir)?;
    }
    crate::faults::point("reconstruct-before-commit");
    let mut h = Header::new(identity, plan.uidnext, plan.highestmodseq);
    h.exists = (plan.records.len() as u32).into();
    h.total_size = plan
        .records
        .iter()
        .map(|p| u64::from(p.record.size.get()))
        .sum::<u64>()
        .into();
    h.last_reconstruct = crate::store::time::now_unix().into();
    // Every record below UIDNEXT, checked before anything is committed.
    if let Some(bad) = plan
        .records
        .iter()
        .find(|p| p.record.uid.get() >= h.uidnext.get())
    {
        return Err(Error::Mailbox {
            mailbox: rep.mailbox.clone(),
            what: format!(
                "refusing to commit: UID {} is not below UIDNEXT {} (a bug; nothing was written)",
                bad.record.uid.get(),
                h.uidnext.get()
            ),
        });
    }
    let keywords = decided
        .state
        .as_ref()
        .map(|s| s.keywords.clone())
        .unwrap_or_default();
    Ok(Some(Ready {
        converting: in_place.is_some_and(|s| s.v1),
        in_place: if decided.fresh_file {
            None
        } else {
            in_place.cloned()
        },
        plan,
        header: h,
        keywords,
        identity,
        streamed: Vec::new(),
        need: deferred,
    }))
}
