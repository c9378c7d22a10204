//! `import MAILBOX PATH [-r]`: the messages of a Maildir (with `-r`, its Maildir++
//! folders too, as child mailboxes) or of an mbox file, with their flags and
//! internal dates, each through [`OpenMailbox::append`] (deliver's write order).
//!
//! **Duplicates.** An import run again, after an interruption or not, adds no
//! message twice: each source message is compared, by the BLAKE3 of the bytes it
//! would be stored as (CRLF line ends; an mbox's flag headers taken out), with
//! the messages already in the target mailbox, counted as a multiset. A source
//! message whose content is there is *skipped*, using up one copy; so a source
//! that really holds two identical messages imports both the first time, and
//! neither the second. After an import, the mailbox holds at least as many copies
//! of each message as the source. A skipped message is left as it is (its flags
//! are not changed).
//!
//! **Interruptions.** Messages are appended in batches ([`BATCH_MESSAGES`] or
//! [`BATCH_BYTES`], whichever comes first), each committed whole. A run killed
//! between a batch's links and its commit leaves message files without records
//! (which a reconstruct would add). Run again, an import takes the BLAKE3 of each
//! such file first; a source message with that content (and not otherwise in the
//! mailbox) is appended anew, with its flags and date, and the uncommitted file
//! is removed just before (under the mailbox's exclusive lock, checked again): a
//! kill in between leaves the message to the next run (the source still has it),
//! never two copies. Such files whose content the source does not have are left
//! for reconstruct, and said.
//!
//! **Memory.** Sources are read one message at a time; a batch holds at most
//! [`BATCH_BYTES`] of messages (or one larger message), and no message over
//! [`crate::mailfmt::MAX_MESSAGE`] is read.

use super::deliver::prepare;
use super::flags::Flag;
use super::open::{Append, OpenMailbox};
use crate::error::{Error, Result};
use crate::index::record::{MAX_USER_FLAGS, flag};
use crate::mailfmt::mbox::{self, Variant};
use crate::mailfmt::{self, Flags, Item, Problem, maildir};
use crate::reconstruct::report::Status;
use crate::store::Store;
use crate::store::names::MailboxName;
use serde::Serialize;
use std::collections::{HashMap, HashSet, VecDeque};
use std::path::{Path, PathBuf};

/// Most messages appended in one commit.
pub const BATCH_MESSAGES: usize = 256;
/// Most message bytes held for one commit.
pub const BATCH_BYTES: usize = 32 << 20;
/// Most warnings a mailbox's report lists (then a count of the rest).
const MAX_WARNINGS: usize = 100;

#[derive(Clone, Copy, Debug)]
pub struct Options {
    /// Also the Maildir++ folders, as child mailboxes.
    pub recurse: bool,
    pub variant: Variant,
}

#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize)]
#[serde(rename_all = "lowercase")]
pub enum Format {
    Maildir,
    Mbox,
}

enum Kind {
    Maildir(maildir::Folder),
    Mbox(PathBuf),
}

struct Source {
    target: MailboxName,
    shown: String,
    kind: Kind,
    bytes: u64,
}

/// What an import will read, and where it goes.
pub struct Planned {
    path: PathBuf,
    format: Format,
    variant: Option<Variant>,
    sources: Vec<Source>,
    skipped: Vec<Problem>,
    warnings: Vec<String>,
}

/// One mailbox's import.
#[derive(Debug, Default, Serialize)]
pub struct MailboxReport {
    pub mailbox: String,
    /// The Maildir folder or mbox file it came from.
    pub source: String,
    pub status: Status,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub error: Option<String>,
    /// The mailbox did not exist and was created.
    pub created: bool,
    pub added: usize,
    /// The UIDs the added messages got, as a UID set.
    pub uids: String,
    /// Messages already in the mailbox (see the duplicates rule), not added again.
    pub skipped: usize,
    /// Messages and files not imported, by name, and why.
    pub refused: Vec<Problem>,
    /// Messages an interrupted earlier run had written but not committed:
    /// appended anew (with their flags and dates), the uncommitted files removed.
    pub recovered: usize,
    pub warnings: Vec<String>,
    #[serde(skip)]
    more_warnings: usize,
    #[serde(skip)]
    added_uids: Vec<u32>,
}

#[derive(Debug, Default, Serialize)]
pub struct Total {
    pub mailboxes: usize,
    pub failed: usize,
    pub added: usize,
    pub skipped: usize,
    pub refused: usize,
}

#[derive(Debug, Serialize)]
pub struct Report {
    pub path: String,
    pub format: Format,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub mbox_variant: Option<Variant>,
    /// mbox lines with two or more `>` before `From `, where the variants differ.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub mbox_double_quoted_lines: Option<u64>,
    pub mailboxes: Vec<MailboxReport>,
    /// Folders of the source not imported, and why.
    pub skipped_folders: Vec<Problem>,
    pub warnings: Vec<String>,
    pub total: Total,
}

impl Report {
    /// Something was not imported: exit status 1.
    pub fn incomplete(&self) -> bool {
        self.total.failed > 0 || self.total.refused > 0 || !self.skipped_folders.is_empty()
    }
}

impl MailboxReport {
    fn warn(&mut self, w: String) {
        if self.warnings.len() < MAX_WARNINGS {
            self.warnings.push(w);
        } else {
            self.more_warnings += 1;
        }
    }

    fn fail(&mut self, e: &Error) {
        self.status = if e.is_busy() {
            Status::Busy
        } else {
            Status::Failed
        };
        self.error = Some(e.to_string());
    }
}

/// Works out what `PATH` is and which mailboxes its messages go to; fails (a
/// usage or store error) before anything is written.
pub fn plan(store: &Store, mailbox: &str, path: &Path, opts: Options) -> Result<Planned> {
    let target = MailboxName::parse(mailbox)?;
    if let Some(owner) = target.owner()
        && !crate::db::users::exists(store, owner)?
    {
        return Err(Error::UnknownUser(owner.to_owned()));
    }
    // PATH is the administrator's own word, so a link there is followed; nothing
    // inside it ever is.
    let meta = std::fs::metadata(path).map_err(|e| Error::io(path, "read", e))?;
    let shown = path.display().to_string();
    let mut planned = Planned {
        path: path.to_owned(),
        format: Format::Maildir,
        variant: None,
        sources: Vec::new(),
        skipped: Vec::new(),
        warnings: Vec::new(),
    };
    if meta.is_dir() {
        if !maildir::is_maildir(path) {
            return Err(Error::Usage(format!(
                "{shown}: a directory but not a Maildir (it has no cur/ or new/); give a Maildir or an mbox file"
            )));
        }
        let folder = maildir::Folder::open(path)?;
        planned.sources.push(Source {
            target: target.clone(),
            shown: shown.clone(),
            bytes: folder.total_bytes(),
            kind: Kind::Maildir(folder),
        });
        let (subs, problems, warnings) = maildir::folders(path)?;
        planned.warnings.extend(warnings);
        if !opts.recurse {
            if !subs.is_empty() {
                let names: Vec<String> = subs.iter().map(|s| s.parts.join("/")).take(5).collect();
                planned.warnings.push(format!(
                    "{shown} has {} Maildir++ folder(s) ({}{}), not imported without -r",
                    subs.len(),
                    names.join(", "),
                    if subs.len() > 5 { ", ..." } else { "" }
                ));
            }
            return Ok(planned);
        }
        planned.skipped.extend(problems);
        for sub in subs {
            let mut parts = target.parts().to_vec();
            parts.extend(sub.parts.iter().cloned());
            let name = match MailboxName::from_parts(target.root(), parts) {
                Ok(n) => n,
                Err(e) => {
                    planned.skipped.push(Problem::new(
                        sub.path.display().to_string(),
                        format!("no mailbox can have its name: {e}"),
                    ));
                    continue;
                }
            };
            let folder = match maildir::Folder::open(&sub.path) {
                Ok(f) => f,
                Err(e) => {
                    planned
                        .skipped
                        .push(Problem::new(sub.path.display().to_string(), e.to_string()));
                    continue;
                }
            };
            planned.sources.push(Source {
                target: name,
                shown: sub.path.display().to_string(),
                bytes: folder.total_bytes(),
                kind: Kind::Maildir(folder),
            });
        }
    } else if meta.is_file() {
        // Opened here to refuse what is no mbox before anything is written.
        mbox::Reader::open(path, opts.variant)?;
        planned.format = Format::Mbox;
        planned.variant = Some(opts.variant);
        if opts.recurse {
            planned.warnings.push(format!(
                "{shown}: an mbox file holds one mailbox: -r changes nothing"
            ));
        }
        planned.sources.push(Source {
            target,
            shown,
            bytes: meta.len(),
            kind: Kind::Mbox(path.to_owned()),
        });
    } else {
        return Err(Error::Usage(format!(
            "{shown}: {}, neither a Maildir nor an mbox file",
            crate::store::fsutil::describe(meta.file_type())
        )));
    }
    Ok(planned)
}

impl Planned {
    /// Bytes to read, for a progress bar.
    pub fn total_bytes(&self) -> u64 {
        self.sources.iter().map(|s| s.bytes).sum()
    }

    /// Imports, mailbox after mailbox; `progress` gets the bytes read so far.
    pub fn run(self, store: &Store, progress: &dyn Fn(u64)) -> Report {
        let mut report = Report {
            path: self.path.display().to_string(),
            format: self.format,
            mbox_variant: self.variant,
            mbox_double_quoted_lines: None,
            mailboxes: Vec::new(),
            skipped_folders: self.skipped,
            warnings: self.warnings,
            total: Total::default(),
        };
        let mut base = 0u64;
        for src in self.sources {
            let size = src.bytes;
            let mut m = MailboxReport {
                mailbox: src.target.to_string(),
                source: src.shown.clone(),
                ..MailboxReport::default()
            };
            let at = |n: u64| progress(base + n.min(size));
            if let Err(e) = import_one(store, src, &mut m, &mut report, &at) {
                m.fail(&e);
            }
            m.uids = crate::uidset::format(&m.added_uids);
            if m.more_warnings > 0 {
                m.warnings
                    .push(format!("... and {} more warnings", m.more_warnings));
            }
            base += size;
            progress(base);
            report.mailboxes.push(m);
        }
        let t = &mut report.total;
        t.mailboxes = report.mailboxes.len();
        t.failed = report
            .mailboxes
            .iter()
            .filter(|m| m.status != Status::Ok)
            .count();
        t.added = report.mailboxes.iter().map(|m| m.added).sum();
        t.skipped = report.mailboxes.iter().map(|m| m.skipped).sum();
        t.refused = report.mailboxes.iter().map(|m| m.refused.len()).sum();
        report
    }
}

/// The target's messages by content, and the keywords it knows.
struct Have {
    by_guid: HashMap<[u8; 32], VecDeque<u32>>,
    /// Uncommitted message files by content (see the module's doc).
    uncommitted: HashMap<[u8; 32], VecDeque<u32>>,
    /// Lowercased: IMAP compares keywords without regard to case.
    keywords: HashSet<String>,
}

fn import_one(
    store: &Store,
    src: Source,
    m: &mut MailboxReport,
    report: &mut Report,
    progress: &dyn Fn(u64),
) -> Result<()> {
    if !store.has_mailbox_dir(&src.target) {
        match super::mailbox::create(store, &src.target.to_string()) {
            Ok(_) => m.created = true,
            Err(Error::MailboxExists(_)) => {}
            Err(e) => return Err(e),
        }
    }
    let mbox = OpenMailbox::at(store, src.target.clone())?;
    let uncommitted = mbox.uncommitted()?;
    let state = mbox.state()?;
    let mut have = Have {
        by_guid: HashMap::new(),
        uncommitted: HashMap::new(),
        keywords: state
            .keywords
            .iter()
            .filter(|k| !k.is_empty())
            .map(|k| k.to_ascii_lowercase())
            .collect(),
    };
    for (uid, r) in &state.records {
        have.by_guid.entry(r.guid).or_default().push_back(*uid);
    }
    for (uid, guid) in uncommitted {
        // A record may have come meanwhile: then it is in `by_guid` already.
        if !state.records.contains_key(&uid) {
            have.uncommitted.entry(guid).or_default().push_back(uid);
        }
    }
    drop(state);
    let mut batch = Batch::default();
    let outcome = match src.kind {
        Kind::Maildir(folder) => {
            let mut done = 0u64;
            let mut r = Ok(());
            for (item, size) in folder.items() {
                done += size;
                r = take(item, &mbox, &mut have, &mut batch, m);
                if r.is_err() {
                    break;
                }
                progress(done);
            }
            r
        }
        Kind::Mbox(path) => {
            let mut reader =
                mbox::Reader::open(&path, report.mbox_variant.unwrap_or(Variant::Mboxrd))?;
            let mut r = Ok(());
            while let Some(item) = reader.next() {
                r = take(item, &mbox, &mut have, &mut batch, m);
                if r.is_err() {
                    break;
                }
                progress(reader.position());
            }
            report.mbox_double_quoted_lines = Some(reader.double_quoted);
            r
        }
    };
    outcome?;
    batch.flush(&mbox, m)?;
    let left: usize = have.uncommitted.values().map(VecDeque::len).sum();
    if left > 0 {
        m.warn(format!(
            "{}: {left} message file(s) without a record, left by an interrupted delivery, are not in this source: run `msgstore reconstruct {}` to add them",
            m.mailbox, m.mailbox
        ));
    }
    Ok(())
}

/// Messages ready to append, and their bytes.
#[derive(Default)]
struct Batch {
    msgs: Vec<Append>,
    /// For each message, the uncommitted file of the same content it replaces.
    replaces: Vec<Option<(u32, [u8; 32])>>,
    bytes: usize,
}

impl Batch {
    fn flush(&mut self, mbox: &OpenMailbox, m: &mut MailboxReport) -> Result<()> {
        if self.msgs.is_empty() {
            return Ok(());
        }
        let mut msgs = std::mem::take(&mut self.msgs);
        let replaces = std::mem::take(&mut self.replaces);
        self.bytes = 0;
        // The old files go first: a kill between the two leaves the messages to
        // the next run; the other order would leave two copies for reconstruct.
        let old: Vec<(u32, [u8; 32])> = replaces.iter().flatten().copied().collect();
        let done = mbox.remove_uncommitted(&old)?;
        m.recovered += done.removed.len();
        if !done.committed.is_empty() {
            // Taken in by a reconstruct meanwhile: those are there now.
            let mut keep = replaces
                .iter()
                .map(|r| !r.is_some_and(|(uid, _)| done.committed.contains(&uid)));
            msgs.retain(|_| keep.next().unwrap_or(true));
            m.skipped += done.committed.len();
        }
        // Over quota, the messages that fit go in and the import of this mailbox
        // stops (run again once there is room: nothing is added twice).
        let fitted = mbox.append_what_fits(msgs)?;
        m.added += fitted.appended.len();
        m.added_uids.extend(fitted.appended.iter().map(|a| a.uid));
        match fitted.over_quota {
            Some((e, _)) => Err(e),
            None => Ok(()),
        }
    }
}

/// One item of a source: refused, skipped (already there), or into the batch.
fn take(
    item: Item,
    mbox: &OpenMailbox,
    have: &mut Have,
    batch: &mut Batch,
    m: &mut MailboxReport,
) -> Result<()> {
    let msg = match item {
        Item::Message(msg) => msg,
        Item::Problem(p) => {
            m.refused.push(p);
            return Ok(());
        }
        Item::Note(w) => {
            m.warn(w);
            return Ok(());
        }
    };
    let mailfmt::Message {
        label,
        bytes,
        flags,
        date,
        warnings,
    } = msg;
    for w in warnings {
        m.warn(w);
    }
    let p = match prepare(&label, &bytes) {
        Ok(p) => p,
        Err(Error::Refused { why, .. }) => {
            m.refused.push(Problem::new(label, why));
            return Ok(());
        }
        Err(e) => return Err(e),
    };
    drop(bytes);
    if p.note.is_some() {
        m.warn(format!(
            "{label}: begins with an mbox `From ` line: left out of the message"
        ));
    }
    if let Some(uids) = have.by_guid.get_mut(&p.guid)
        && uids.pop_front().is_some()
    {
        m.skipped += 1;
        return Ok(());
    }
    let replaces = have
        .uncommitted
        .get_mut(&p.guid)
        .and_then(VecDeque::pop_front)
        .map(|uid| (uid, p.guid));
    let (system_flags, keywords) = store_flags(&flags, have, &label, m);
    batch.replaces.push(replaces);
    batch.bytes += p.bytes.len();
    batch.msgs.push(Append {
        message: p,
        system_flags,
        keywords,
        internal_date: date,
    });
    if batch.msgs.len() >= BATCH_MESSAGES || batch.bytes >= BATCH_BYTES {
        batch.flush(mbox, m)?;
    }
    Ok(())
}

/// The index's flag bits and the keywords a message can keep: valid IMAP atoms,
/// and no more kinds than a mailbox holds.
fn store_flags(
    f: &Flags,
    have: &mut Have,
    label: &str,
    m: &mut MailboxReport,
) -> (u32, Vec<String>) {
    let mut bits = 0;
    for (on, bit) in [
        (f.seen, flag::SEEN),
        (f.answered, flag::ANSWERED),
        (f.flagged, flag::FLAGGED),
        (f.deleted, flag::DELETED),
        (f.draft, flag::DRAFT),
    ] {
        if on {
            bits |= bit;
        }
    }
    let mut keywords = Vec::new();
    for k in &f.keywords {
        if !matches!(Flag::parse(k), Ok(Flag::Keyword(_))) {
            m.warn(format!(
                "{label}: {k:?} is not a keyword (an IMAP atom): left out"
            ));
            continue;
        }
        let lower = k.to_ascii_lowercase();
        if !have.keywords.contains(&lower) {
            if have.keywords.len() >= MAX_USER_FLAGS {
                m.warn(format!(
                    "{label}: keyword {k} left out: the mailbox already has {MAX_USER_FLAGS} keywords"
                ));
                continue;
            }
            have.keywords.insert(lower);
        }
        keywords.push(k.clone());
    }
    (bits, keywords)
}
