//! An open mailbox: the one way the front ends (the CLI, the IMAP and LMTP server,
//! import) read and write a mailbox. It follows the lock protocol of
//! `schema/locking.md`: each operation takes the mailbox lock (shared to read,
//! exclusive to write), opens the index, works, commits, and lets both go, so a
//! rebuild can always get in between two operations, and waits for the one in
//! flight. Holders in one process share one value (behind an `Arc`) and are told
//! of each change made through it ([`OpenMailbox::watch`]); changes made by other
//! processes show in [`OpenMailbox::stamp`].

use super::deliver::Prepared;
use super::flags::{Flag, flag_names};
use crate::db::mailboxes::{self, Bounds};
use crate::error::{Error, Result};
use crate::index::record::{Header, Identity, MAX_USER_FLAGS, Record, flag};
use crate::index::{CacheEntry, Index, Reader, State, View};
use crate::store::fsutil::{sync_dir, write_new_file};
use crate::store::lock::{self, Lock, Mode, Wait};
use crate::store::names::MailboxName;
use crate::store::{INDEX_FILE, Store, TMP_PREFIX, message_file_name};
use std::os::unix::fs::MetadataExt;
use std::path::{Path, PathBuf};
use std::sync::{Arc, Mutex, Weak};

/// Called after each change made through an [`OpenMailbox`].
pub type Watcher = dyn Fn() + Send + Sync;

pub struct OpenMailbox {
    store: Store,
    name: MailboxName,
    dir: PathBuf,
    watchers: Mutex<Vec<Weak<Watcher>>>,
    /// How long an operation waits for the mailbox lock.
    wait: Wait,
}

/// One message to append, ready: its bytes parsed, and its flags and date.
pub struct Append {
    pub message: Prepared,
    pub system_flags: u32,
    pub keywords: Vec<String>,
    /// INTERNALDATE: Unix seconds and minutes east of UTC; `None`: now.
    pub internal_date: Option<(i64, i16)>,
}

impl Append {
    pub fn new(message: Prepared) -> Append {
        Append {
            message,
            system_flags: 0,
            keywords: Vec::new(),
            internal_date: None,
        }
    }
}

/// What [`OpenMailbox::append_what_fits`] did.
pub struct Fitted {
    pub appended: Vec<Appended>,
    /// The messages refused for the quota, and why.
    pub over_quota: Option<(Error, Vec<Append>)>,
}

/// A message now in the mailbox.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Appended {
    pub uid: u32,
    pub modseq: u64,
}

/// How a flag change applies.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct FlagChange {
    pub add: Vec<Flag>,
    pub remove: Vec<Flag>,
    /// Replace the flags with `add` (IMAP `FLAGS`), instead of adding and removing.
    pub replace: bool,
}

/// A changed message: its UID, flags and new MODSEQ.
#[derive(Clone, Debug, PartialEq, Eq, serde::Serialize)]
pub struct Changed {
    pub uid: u32,
    pub flags: Vec<String>,
    pub modseq: u64,
}

/// What a flag change did.
#[derive(Debug, Default)]
pub struct FlagOutcome {
    pub changed: Vec<Changed>,
    /// UIDs left alone because their MODSEQ was above `UNCHANGEDSINCE`.
    pub modified: Vec<u32>,
}

/// Which messages an expunge removes.
#[derive(Clone, Debug)]
pub enum Expunge {
    /// Every message flagged `\Deleted`.
    Deleted,
    /// These UIDs, flagged or not.
    Uids(Vec<u32>),
    /// The messages flagged `\Deleted` among these UIDs (`UID EXPUNGE`).
    DeletedAmong(Vec<u32>),
}

/// The state of the index file on disk: if it differs from one taken earlier, the
/// mailbox may have changed (by this process or another).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Stamp {
    ino: u64,
    size: u64,
    mtime_ns: i64,
    ctime_ns: i64,
}

impl Stamp {
    /// The index file's inode: a rebuild swaps in a new file.
    pub fn ino(&self) -> u64 {
        self.ino
    }
}

fn busy(name: &MailboxName) -> impl FnOnce() -> Error + '_ {
    move || Error::MailboxBusy(name.to_string())
}

impl OpenMailbox {
    /// Opens the mailbox a user names (`joe/stuff`); it must exist on disk.
    pub fn open(store: &Store, name: &str) -> Result<OpenMailbox> {
        OpenMailbox::at(store, MailboxName::parse(name)?)
    }

    pub fn at(store: &Store, name: MailboxName) -> Result<OpenMailbox> {
        if !store.has_mailbox_dir(&name) {
            return Err(super::unknown_mailbox(store, &name));
        }
        Ok(OpenMailbox {
            dir: store.mailbox_dir(&name),
            store: store.clone(),
            name,
            watchers: Mutex::new(Vec::new()),
            wait: Wait::default_for_writers(),
        })
    }

    /// Operations wait `wait` for the mailbox lock instead of the writers' default
    /// (a server's sessions wait for a rebuild to commit, however long it takes).
    pub fn waiting(mut self, wait: Wait) -> OpenMailbox {
        self.wait = wait;
        self
    }

    pub fn name(&self) -> &MailboxName {
        &self.name
    }

    pub fn dir(&self) -> &Path {
        &self.dir
    }

    pub fn index_path(&self) -> PathBuf {
        self.dir.join(INDEX_FILE)
    }

    /// The message file of `uid` (a reader opens it with
    /// [`crate::store::fsutil::open_regular`]).
    pub fn message_path(&self, uid: u32) -> PathBuf {
        self.dir.join(message_file_name(uid))
    }

    /// `None` only for a shared lock on a read-only store, where nobody can hold
    /// the exclusive one.
    fn lock(&self, mode: Mode) -> Result<Option<Lock>> {
        lock::mailbox(&self.dir, mode, self.wait, true).map_err(|e| e.into_error(busy(&self.name)))
    }

    /// Takes the mailbox's shared lock, waiting as writers do: whatever is read
    /// while it is held is one committed state.
    pub fn lock_shared(&self) -> Result<Option<Lock>> {
        self.lock(Mode::Shared)
    }

    /// Registers `f` to be called after each change made through this value. It
    /// is dropped when the `Arc` the caller keeps is.
    pub fn watch(&self, f: &Arc<Watcher>) {
        let mut w = self.watchers.lock().unwrap_or_else(|p| p.into_inner());
        w.retain(|x| x.strong_count() > 0);
        w.push(Arc::downgrade(f));
    }

    fn notify(&self) {
        let live: Vec<Arc<Watcher>> = {
            let w = self.watchers.lock().unwrap_or_else(|p| p.into_inner());
            w.iter().filter_map(Weak::upgrade).collect()
        };
        for f in live {
            f();
        }
    }

    /// The index file's stamp, `None` if it cannot be stat'ed.
    pub fn stamp(&self) -> Option<Stamp> {
        let m = std::fs::symlink_metadata(self.index_path()).ok()?;
        Some(Stamp {
            ino: m.ino(),
            size: m.size(),
            mtime_ns: m
                .mtime()
                .saturating_mul(1_000_000_000)
                .saturating_add(m.mtime_nsec()),
            ctime_ns: m
                .ctime()
                .saturating_mul(1_000_000_000)
                .saturating_add(m.ctime_nsec()),
        })
    }

    /// Everything but the cache, verified, under the shared lock.
    pub fn state(&self) -> Result<State> {
        let _l = self.lock(Mode::Shared)?;
        Reader::open(&self.index_path())?.load()
    }

    /// The index as a [`View`], unless its header is still `known` (`None`).
    pub fn view_unless(&self, known: Option<&Header>) -> Result<Option<View>> {
        let _l = self.lock(Mode::Shared)?;
        Reader::open(&self.index_path())?.view_unless(known)
    }

    /// The header alone.
    pub fn header(&self) -> Result<Header> {
        let _l = self.lock(Mode::Shared)?;
        let (h, v1) = Reader::open(&self.index_path())?.header()?;
        if v1 {
            return Err(old_format(&self.index_path()));
        }
        Ok(h)
    }

    /// The cache entries of `uids` (ascending), read in one transaction under the
    /// shared lock; `f` gets each UID with its entry (`None`: it has none).
    pub fn read_cache(
        &self,
        uids: &[u32],
        f: impl FnMut(u32, Option<CacheEntry>) -> Result<()>,
    ) -> Result<()> {
        let _l = self.lock(Mode::Shared)?;
        Reader::open(&self.index_path())?.each_cache(uids, false, f)
    }

    /// The cache entry of one message, `None` if it has none.
    pub fn read_one_cache(&self, uid: u32) -> Result<Option<CacheEntry>> {
        let _l = self.lock(Mode::Shared)?;
        Reader::open(&self.index_path())?.cache(uid, false)
    }

    /// The list's bounds for this mailbox, after reserving what a writer about to
    /// use UIDs below `uid_end` and MODSEQs up to `modseq_end` needs; checked
    /// against the index's identity, so that a writer never gives out a value the
    /// list does not cover, nor writes an index the list does not know.
    fn reserve(&self, h: &Header, uid_end: u32, modseq_end: u64) -> Result<Bounds> {
        let need = mailboxes::Need {
            uidnext: h.uidnext.get(),
            highestmodseq: h.highestmodseq.get(),
            uid_end,
            modseq_end,
        };
        let b = mailboxes::reserve(&self.store, &self.name, need)?;
        let id = h.identity();
        if b.uidvalidity != id.uidvalidity || (id.mailbox_id != 0 && b.id != id.mailbox_id) {
            return Err(Error::Mailbox {
                mailbox: self.name.to_string(),
                what: format!(
                    "the index (id {}, UIDVALIDITY {}) and the mailbox list (id {}, UIDVALIDITY {}) disagree; nothing was written; run `msgstore reconstruct {}`",
                    id.mailbox_id, id.uidvalidity, b.id, b.uidvalidity, self.name
                ),
            });
        }
        Ok(b)
    }

    /// Catches the index up with the mailbox list before a writer changes it, when
    /// the index file is not the one the list last heard of: an index restored
    /// from an older copy (or put back by hand) trusts a UIDNEXT and
    /// HIGHESTMODSEQ that writers may have gone past since, and a UID given out
    /// twice names other content to every client that saw the first (R2). The
    /// list's bounds are above anything given out: UIDNEXT and HIGHESTMODSEQ are
    /// raised to them, and every record gets one MODSEQ above, since its flags
    /// may be older than what clients last fetched under a MODSEQ they have
    /// passed (R4: CONDSTORE clients then fetch them again). One transaction of
    /// its own, committed before the file is noted in the list (noted before, a
    /// crash would leave the list trusting the old values); a crash between the
    /// two only makes the next writer catch up again. It costs at most one block
    /// of UIDs and MODSEQs, once per replaced file.
    fn catch_up(&self, index: &Index) -> Result<()> {
        let fingerprint = mailboxes::index_fingerprint(&self.index_path())?;
        let Some(e) = mailboxes::get(&self.store, &self.name)? else {
            // The reservation that follows says what to do.
            return Ok(());
        };
        if mailboxes::index_file_known(&self.store, e.id, fingerprint)? {
            return Ok(());
        }
        let mut state = index.load()?;
        let h = &mut state.header;
        if e.uidvalidity != h.identity().uidvalidity {
            // Another epoch: the writer's reservation refuses it by name.
            return Ok(());
        }
        let uidnext = h.uidnext.get().max(e.uid_bound);
        let mut highest = h.highestmodseq.get().max(e.modseq_bound);
        if !state.records.is_empty() {
            highest += 1;
        }
        if uidnext != h.uidnext.get() || highest != h.highestmodseq.get() {
            self.reserve(h, uidnext, highest)?;
            h.uidnext = uidnext.into();
            h.highestmodseq = highest.into();
            let id = h.identity();
            let header = *h;
            index.write(id, |w| {
                for r in state.records.values_mut() {
                    r.modseq = highest.into();
                    w.put_record(r)?;
                }
                w.set_header(&header)
            })?;
        }
        mailboxes::note_index_file(&self.store, e.id, fingerprint)
    }

    /// Appends messages, in the write order DESIGN.md fixes: reserve the UIDs in
    /// the mailbox list if it does not cover them yet, write each message to a
    /// temporary file, fsync, link it to `<uid>.` (never replacing a name), sync
    /// the directory, and only then commit the records and cache entries. On
    /// failure nothing stays: the files already linked are taken back.
    ///
    /// All or nothing: messages that together would take the owner over their
    /// quota are refused with [`Error::OverQuota`] before anything is written
    /// (see [`super::quota`] for how usage is counted and what races allow).
    pub fn append(&self, msgs: Vec<Append>) -> Result<Vec<Appended>> {
        Ok(self.append_inner(msgs, false)?.appended)
    }

    /// Like [`OpenMailbox::append`], but over quota it appends the messages that
    /// fit, in order up to the first that does not, and gives back that one and
    /// those after it with the error that refused them (deliver and import of
    /// many messages, where each message stands alone).
    pub fn append_what_fits(&self, msgs: Vec<Append>) -> Result<Fitted> {
        self.append_inner(msgs, true)
    }

    fn append_inner(&self, mut msgs: Vec<Append>, partial: bool) -> Result<Fitted> {
        let nothing = |over_quota| Fitted {
            appended: Vec::new(),
            over_quota,
        };
        if msgs.is_empty() {
            return Ok(nothing(None));
        }
        let budget = super::quota::budget(&self.store, &self.name)?;
        let _l = self.lock(Mode::Exclusive)?;
        let path = self.index_path();
        let index = Index::open(&path)?;
        self.catch_up(&index)?;
        let mut header = index.header()?;
        let mut refused = None;
        if let Some(b) = &budget {
            let own = header.total_size.get();
            let adding = msgs.iter().map(|m| m.message.size).sum::<u64>();
            if let Err(e) = b.check(own, adding) {
                if !partial {
                    return Err(e);
                }
                let mut fit = 0;
                let mut taken = 0u64;
                for m in &msgs {
                    if b.check(own.saturating_add(taken), m.message.size).is_err() {
                        break;
                    }
                    taken = taken.saturating_add(m.message.size);
                    fit += 1;
                }
                let rest = msgs.split_off(fit);
                let first = rest.first().map_or(0, |m| m.message.size);
                let why = b.check(own.saturating_add(taken), first).err().unwrap_or(e);
                refused = Some((why, rest));
                if msgs.is_empty() {
                    return Ok(nothing(refused));
                }
            }
        }
        let id = header.identity();
        let n = msgs.len() as u32;
        let mut bounds = self.reserve(
            &header,
            header.uidnext.get().saturating_add(n),
            header.highestmodseq.get().saturating_add(u64::from(n)),
        )?;
        let any_keywords = msgs.iter().any(|m| !m.keywords.is_empty());
        let mut keywords = if any_keywords {
            index.load()?.keywords
        } else {
            Vec::new()
        };
        let keywords_before = keywords.len();
        let now = crate::store::time::now_unix();
        let mut written: Vec<(u32, Record, CacheEntry)> = Vec::with_capacity(msgs.len());
        let outcome = (|| -> Result<()> {
            for m in msgs {
                let (uid, meta) = self.write_message(&mut header, &mut bounds, &m.message)?;
                let (date, zone) = m.internal_date.unwrap_or((now, 0));
                let mut rec = super::deliver::record_for(uid, &m.message, &meta, date, 0);
                rec.internal_date_zone = zone.into();
                rec.system_flags = (m.system_flags & flag::ALL_BITS).into();
                for k in &m.keywords {
                    if let Some(bit) = keyword_bit(&mut keywords, k, true, &self.name)? {
                        rec.set_user_flag(bit, true);
                    }
                }
                written.push((uid, rec, m.message.cache));
            }
            sync_dir(&self.dir)?;
            crate::faults::point("deliver-before-commit");
            index.write(id, |w| {
                for (uid, rec, cache) in &mut written {
                    let modseq = header.highestmodseq.get() + 1;
                    header.highestmodseq = modseq.into();
                    rec.modseq = modseq.into();
                    w.put_record(rec)?;
                    w.put_cache(*uid, cache)?;
                    header.exists = (header.exists.get() + 1).into();
                    header.total_size =
                        (header.total_size.get() + u64::from(rec.size.get())).into();
                }
                if keywords.len() != keywords_before {
                    w.set_keywords(&keywords)?;
                }
                w.set_header(&header)
            })
        })();
        if let Err(e) = outcome {
            // Reported as not delivered, so the sender will try again: take back the
            // files already linked, or reconstruct would add them and the retry would
            // deliver them twice (a disk that filled up must leave the store as it was).
            for (uid, _, _) in &written {
                let _ = std::fs::remove_file(self.dir.join(message_file_name(*uid)));
            }
            let _ = sync_dir(&self.dir);
            return Err(e);
        }
        crate::faults::point("deliver-after-commit");
        drop(index);
        self.notify();
        let appended = written
            .iter()
            .map(|(uid, rec, _)| Appended {
                uid: *uid,
                modseq: rec.modseq.get(),
            })
            .collect();
        Ok(Fitted {
            appended,
            over_quota: refused,
        })
    }

    /// Writes one message file under the next free UID and advances UIDNEXT in
    /// `header` (in memory; the caller commits it). A UID past what the list
    /// reserved is reserved first.
    fn write_message(
        &self,
        header: &mut Header,
        bounds: &mut Bounds,
        p: &Prepared,
    ) -> Result<(u32, std::fs::Metadata)> {
        loop {
            let uid = header.uidnext.get();
            if uid >= crate::index::record::MAX_UID {
                return Err(Error::Mailbox {
                    mailbox: self.name.to_string(),
                    what: "its UIDs are used up; run `msgstore reconstruct` on it, which gives it a new UIDVALIDITY (clients then resynchronise)".into(),
                });
            }
            if uid >= bounds.uid_bound {
                *bounds = self.reserve(header, uid + 1, header.highestmodseq.get() + 1)?;
            }
            let tmp = self
                .dir
                .join(format!("{TMP_PREFIX}{uid}.{}", std::process::id()));
            let dest = self.dir.join(message_file_name(uid));
            header.uidnext = (uid + 1).into();
            // A name already there was left by a delivery that never committed (or is
            // something else): keep it for reconstruct and take the next UID.
            if write_new_file(&tmp, &dest, &p.bytes)? {
                let meta =
                    std::fs::symlink_metadata(&dest).map_err(|e| Error::io(&dest, "stat", e))?;
                return Ok((uid, meta));
            }
        }
    }

    /// Changes flags of the messages whose UIDs `select` picks from the mailbox's
    /// (given its highest UID), one new MODSEQ for the whole change; with
    /// `unchanged_since`, messages changed after that MODSEQ are left alone
    /// (CONDSTORE) and listed.
    pub fn store_flags(
        &self,
        select: impl Fn(u32, u32) -> bool,
        change: &FlagChange,
        unchanged_since: Option<u64>,
    ) -> Result<FlagOutcome> {
        let _l = self.lock(Mode::Exclusive)?;
        let path = self.index_path();
        let index = Index::open(&path)?;
        self.catch_up(&index)?;
        let mut state = index.load()?;
        let max = state.records.keys().next_back().copied().unwrap_or(0);
        let modseq = state.header.highestmodseq.get() + 1;
        let keywords_before = state.keywords.len();

        let mut sys_add = 0u32;
        let mut sys_remove = 0u32;
        let mut kw_add = Vec::new();
        let mut kw_remove = Vec::new();
        for f in &change.add {
            match f {
                Flag::System(b) => sys_add |= b,
                Flag::Keyword(k) => {
                    kw_add.extend(keyword_bit(&mut state.keywords, k, true, &self.name)?)
                }
            }
        }
        for f in &change.remove {
            match f {
                Flag::System(b) => sys_remove |= b,
                Flag::Keyword(k) => {
                    kw_remove.extend(keyword_bit(&mut state.keywords, k, false, &self.name)?)
                }
            }
        }
        let mut out = FlagOutcome::default();
        let mut changed = Vec::new();
        for (uid, rec) in state.records.iter_mut() {
            if !select(*uid, max) {
                continue;
            }
            if let Some(since) = unchanged_since
                && rec.modseq.get() > since
            {
                out.modified.push(*uid);
                continue;
            }
            let before = *rec;
            if change.replace {
                rec.system_flags = sys_add.into();
                rec.user_flags = [0.into(); 2];
            } else {
                rec.system_flags = ((rec.system_flags.get() | sys_add) & !sys_remove).into();
            }
            for &b in &kw_add {
                rec.set_user_flag(b, true);
            }
            for &b in &kw_remove {
                rec.set_user_flag(b, false);
            }
            if *rec != before {
                rec.modseq = modseq.into();
                changed.push(*rec);
            }
        }
        if !changed.is_empty() {
            self.reserve(&state.header, state.header.uidnext.get(), modseq)?;
            state.header.highestmodseq = modseq.into();
            let id = state.header.identity();
            index.write(id, |w| {
                if state.keywords.len() != keywords_before {
                    w.set_keywords(&state.keywords)?;
                }
                for r in &changed {
                    w.put_record(r)?;
                }
                w.set_header(&state.header)
            })?;
        }
        drop(index);
        out.changed = changed
            .iter()
            .map(|r| Changed {
                uid: r.uid.get(),
                flags: flag_names(r, &state.keywords),
                modseq: r.modseq.get(),
            })
            .collect();
        if !out.changed.is_empty() {
            self.notify();
        }
        Ok(out)
    }

    /// Expunges, in the write order DESIGN.md fixes: unlink the message files, sync
    /// the directory, then commit the removal of their records, so a crash can only
    /// leave records without files, which reconstruct drops: an expunged message
    /// never comes back. Gives the UIDs expunged, ascending.
    pub fn expunge(&self, which: &Expunge) -> Result<Vec<u32>> {
        let _l = self.lock(Mode::Exclusive)?;
        let path = self.index_path();
        let index = Index::open(&path)?;
        self.catch_up(&index)?;
        let mut state = index.load()?;
        let deleted = |r: &Record| r.system_flags.get() & flag::DELETED != 0;
        let gone: Vec<u32> = match which {
            Expunge::Deleted => state
                .records
                .values()
                .filter(|r| deleted(r))
                .map(|r| r.uid.get())
                .collect(),
            Expunge::Uids(uids) => uids
                .iter()
                .copied()
                .filter(|u| state.records.contains_key(u))
                .collect(),
            Expunge::DeletedAmong(uids) => uids
                .iter()
                .copied()
                .filter(|u| state.records.get(u).is_some_and(deleted))
                .collect(),
        };
        let mut gone = gone;
        gone.sort_unstable();
        gone.dedup();
        if gone.is_empty() {
            return Ok(gone);
        }
        let modseq = state.header.highestmodseq.get() + 1;
        self.reserve(&state.header, state.header.uidnext.get(), modseq)?;
        for uid in &gone {
            let f = self.dir.join(message_file_name(*uid));
            match std::fs::remove_file(&f) {
                Ok(()) => {}
                Err(e) if e.kind() == std::io::ErrorKind::NotFound => {}
                Err(e) => return Err(Error::io(&f, "remove expunged message", e)),
            }
            crate::faults::point("expunge-after-first-unlink");
        }
        sync_dir(&self.dir)?;
        crate::faults::point("expunge-after-unlink");
        let id = state.header.identity();
        index.write(id, |w| {
            for uid in &gone {
                if let Some(r) = state.records.remove(uid) {
                    w.remove(*uid)?;
                    state.header.exists = state.header.exists.get().saturating_sub(1).into();
                    state.header.total_size = state
                        .header
                        .total_size
                        .get()
                        .saturating_sub(u64::from(r.size.get()))
                        .into();
                }
            }
            state.header.highestmodseq = modseq.into();
            w.set_header(&state.header)
        })?;
        drop(index);
        self.notify();
        Ok(gone)
    }

    /// Recounts the mailbox's size from its records: `(header's count, records'
    /// sum)`, and with `fix` the header set to the sum (under the exclusive
    /// lock) when they differ (`reconstruct`'s final pass: a header that keeps a
    /// wrong count would make the quota wrong for ever).
    pub fn recount_size(&self, fix: bool) -> Result<(u64, u64)> {
        let counted = |h: &Header, records: &[Record]| {
            let sum = records.iter().map(|r| u64::from(r.size.get())).sum::<u64>();
            (h.total_size.get(), sum)
        };
        // Read first: an index opened for writing is written even if nothing
        // changes, and a check that finds nothing wrong must leave it as it was.
        let seen = {
            // Without `fix` (a dry run) no lock file is made where one is missing.
            let _l = lock::mailbox(&self.dir, Mode::Shared, Wait::default_for_writers(), fix)
                .map_err(|e| e.into_error(busy(&self.name)))?;
            let (h, records) = Reader::open(&self.index_path())?.records()?;
            counted(&h, &records)
        };
        if !fix || seen.0 == seen.1 {
            return Ok(seen);
        }
        let _l = self.lock(Mode::Exclusive)?;
        let index = Index::open(&self.index_path())?;
        let mut h = index.header()?;
        let (stored, sum) = counted(&h, &index.records_from(0)?);
        if stored != sum {
            h.total_size = sum.into();
            index.write(h.identity(), |w| w.set_header(&h))?;
            drop(index);
            self.notify();
        }
        Ok((stored, sum))
    }

    /// The identity the index holds.
    pub fn identity(&self) -> Result<Identity> {
        Ok(self.header()?.identity())
    }

    /// Message files that have no record (left by an append that died between
    /// its links and its commit), with the BLAKE3 of each. Read under the shared
    /// lock, where no append is between its links and its commit.
    pub fn uncommitted(&self) -> Result<Vec<(u32, [u8; 32])>> {
        let _l = self.lock(Mode::Shared)?;
        let state = Reader::open(&self.index_path())?.load()?;
        let rd =
            std::fs::read_dir(&self.dir).map_err(|e| Error::io(&self.dir, "read directory", e))?;
        let mut out = Vec::new();
        for item in rd {
            let item = item.map_err(|e| Error::io(&self.dir, "read directory", e))?;
            if let Some(name) = item.file_name().to_str()
                && let crate::store::Entry::Message(uid) = crate::store::classify(name)
                && !state.records.contains_key(&uid)
                && let Some(guid) = file_hash(&self.message_path(uid))
            {
                out.push((uid, guid));
            }
        }
        out.sort_unstable();
        Ok(out)
    }

    /// Removes uncommitted message files (see [`OpenMailbox::uncommitted`]) whose
    /// content is still the given one: for an import run again, which appends
    /// that very content anew (with its flags and date), so that a reconstruct
    /// never adds it a second time. Checked again under the exclusive lock: a
    /// file that has a record by now (a reconstruct took it in) is left alone and
    /// returned in `committed`. The unlinks are synced before this returns.
    pub fn remove_uncommitted(&self, files: &[(u32, [u8; 32])]) -> Result<Uncommitted> {
        let mut out = Uncommitted::default();
        if files.is_empty() {
            return Ok(out);
        }
        let _l = self.lock(Mode::Exclusive)?;
        let state = Reader::open(&self.index_path())?.load()?;
        for (uid, guid) in files {
            if let Some(r) = state.records.get(uid) {
                if r.guid == *guid {
                    out.committed.push(*uid);
                }
                continue;
            }
            let path = self.message_path(*uid);
            if file_hash(&path).as_ref() != Some(guid) {
                continue;
            }
            match std::fs::remove_file(&path) {
                Ok(()) => out.removed.push(*uid),
                Err(e) if e.kind() == std::io::ErrorKind::NotFound => {}
                Err(e) => return Err(Error::io(&path, "remove uncommitted message", e)),
            }
        }
        if !out.removed.is_empty() {
            sync_dir(&self.dir)?;
        }
        Ok(out)
    }
}

/// What [`OpenMailbox::remove_uncommitted`] did.
#[derive(Debug, Default)]
pub struct Uncommitted {
    pub removed: Vec<u32>,
    /// Files that had a record by then, with the content asked about.
    pub committed: Vec<u32>,
}

/// The BLAKE3 of a regular message file (never through a link); `None` if it
/// cannot be read or is larger than a message can be.
fn file_hash(path: &Path) -> Option<[u8; 32]> {
    use std::io::Read;
    let f = crate::store::fsutil::open_regular(path, crate::store::fsutil::Access::Read).ok()?;
    let mut h = blake3::Hasher::new();
    let limit = crate::message::MAX_MESSAGE_SIZE as u64;
    let n = std::io::copy(&mut f.take(limit + 1), &mut h).ok()?;
    (n <= limit).then(|| *h.finalize().as_bytes())
}

/// The bit of keyword `k` in `names` (compared without regard to case), made if
/// `create` and there is room.
fn keyword_bit(
    names: &mut Vec<String>,
    k: &str,
    create: bool,
    mailbox: &MailboxName,
) -> Result<Option<usize>> {
    if let Some(i) = names.iter().position(|n| n.eq_ignore_ascii_case(k)) {
        return Ok(Some(i));
    }
    if !create {
        return Ok(None);
    }
    if names.len() >= MAX_USER_FLAGS {
        return Err(Error::Mailbox {
            mailbox: mailbox.to_string(),
            what: format!(
                "cannot add keyword {k}: the mailbox already has {MAX_USER_FLAGS} keywords"
            ),
        });
    }
    names.push(k.to_owned());
    Ok(Some(names.len() - 1))
}

fn old_format(path: &Path) -> Error {
    Error::db(
        path,
        crate::error::DbKind::Index,
        crate::error::Fault::Version {
            found: 1,
            expected: u64::from(crate::index::record::INDEX_VERSION),
        },
    )
}
