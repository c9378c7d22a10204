//! `export MAILBOX PATH [-r] [--format maildir|mbox]`: a mailbox (with `-r`, and
//! every mailbox below it, as Maildir++ folders) written in the formats `import`
//! reads, so that importing an export gives the same messages (byte for byte),
//! flags, keywords and internal dates.
//!
//! New files only: a Maildir goes into a new or empty directory, an mbox into a
//! new file (written beside it and linked into place when complete). Each message
//! file is read once, checked against its record's content hash, and written; the
//! index is read under the shared lock for a moment, never held while files are
//! written, so deliveries go on (a message expunged meanwhile is said and left
//! out). What a format cannot hold is said per mailbox: more than 26 keywords in
//! one Maildir folder, a last line without a line end in an mbox.

use super::flags::flag_names;
use super::open::OpenMailbox;
use crate::error::{Error, Result};
use crate::index::record::{Record, flag};
use crate::mailfmt::{self, Flags, maildir};
use crate::reconstruct::report::Status;
use crate::store::Store;
use crate::store::fsutil::{Access, OpenError, open_regular};
use crate::store::names::MailboxName;
use serde::Serialize;
use std::io::Read;
use std::path::{Path, PathBuf};

#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize)]
#[serde(rename_all = "lowercase")]
pub enum Format {
    Maildir,
    Mbox,
}

#[derive(Clone, Copy, Debug)]
pub struct Options {
    pub recurse: bool,
    pub format: Format,
}

/// What an export will write.
pub struct Planned {
    path: PathBuf,
    format: Format,
    /// Each mailbox with its levels below the named one.
    mailboxes: Vec<(MailboxName, Vec<String>)>,
    messages: u64,
}

#[derive(Debug, Serialize)]
pub struct Failed {
    pub uid: u32,
    pub why: String,
}

#[derive(Debug, Default, Serialize)]
pub struct MailboxReport {
    pub mailbox: String,
    /// The Maildir folder or mbox file written.
    pub path: String,
    pub status: Status,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub error: Option<String>,
    pub exported: usize,
    pub failed: Vec<Failed>,
    pub warnings: Vec<String>,
}

#[derive(Debug, Default, Serialize)]
pub struct Total {
    pub mailboxes: usize,
    pub failed_mailboxes: usize,
    pub exported: usize,
    pub failed: usize,
}

#[derive(Debug, Serialize)]
pub struct Report {
    pub path: String,
    pub format: Format,
    pub mailboxes: Vec<MailboxReport>,
    pub total: Total,
}

impl Report {
    pub fn incomplete(&self) -> bool {
        self.total.failed_mailboxes > 0 || self.total.failed > 0
    }
}

/// Checks the mailbox and the target; fails (a usage or store error) before
/// anything is written.
pub fn plan(store: &Store, mailbox: &str, path: &Path, opts: Options) -> Result<Planned> {
    let top = MailboxName::parse(mailbox)?;
    let first = OpenMailbox::at(store, top.clone())?;
    let mut names = vec![top.clone()];
    if opts.recurse {
        for e in super::mailbox::list(store, Some(&top.to_string()))? {
            if let Ok(n) = MailboxName::parse(&e.name)
                && n != top
                && n.is_within(&top)
            {
                names.push(n);
            }
        }
    }
    names.sort();
    names.dedup();
    if opts.format == Format::Mbox && names.len() > 1 {
        return Err(Error::Usage(format!(
            "{top}: an mbox file holds one mailbox, and -r asks for {}; export to a Maildir (--format maildir), or each mailbox to its own mbox file",
            names.len()
        )));
    }
    let shown = path.display();
    let parent = match path.parent() {
        Some(p) if !p.as_os_str().is_empty() => p,
        _ => Path::new("."),
    };
    if !parent.is_dir() {
        return Err(Error::Usage(format!(
            "{}: no such directory to write {shown} in; create it first",
            parent.display()
        )));
    }
    match std::fs::symlink_metadata(path) {
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => {}
        Err(e) => return Err(Error::io(path, "stat", e)),
        Ok(m) if opts.format == Format::Maildir && m.is_dir() => {
            let mut rd =
                std::fs::read_dir(path).map_err(|e| Error::io(path, "read directory", e))?;
            if rd.next().is_some() {
                return Err(Error::Usage(format!(
                    "{shown}: not empty; an export writes new files only: give a new or empty directory"
                )));
            }
        }
        Ok(_) => {
            return Err(Error::Usage(format!(
                "{shown}: already exists; an export writes new files only: give a new {}",
                if opts.format == Format::Maildir {
                    "or empty directory"
                } else {
                    "file name"
                }
            )));
        }
    }
    let mut messages = u64::from(first.header()?.exists.get());
    let mut mailboxes = vec![(top.clone(), Vec::new())];
    for n in names.into_iter().filter(|n| *n != top) {
        if let Ok(h) = OpenMailbox::at(store, n.clone()).and_then(|m| m.header()) {
            messages += u64::from(h.exists.get());
        }
        let rel = n.parts()[top.parts().len()..].to_vec();
        mailboxes.push((n, rel));
    }
    Ok(Planned {
        path: path.to_owned(),
        format: opts.format,
        mailboxes,
        messages,
    })
}

impl Planned {
    /// Messages to write, for a progress bar.
    pub fn total_messages(&self) -> u64 {
        self.messages
    }

    /// Writes every mailbox; `progress` gets the messages done so far.
    pub fn run(self, store: &Store, progress: &dyn Fn(u64)) -> Report {
        let mut report = Report {
            path: self.path.display().to_string(),
            format: self.format,
            mailboxes: Vec::new(),
            total: Total::default(),
        };
        let mut done = 0u64;
        for (i, (name, rel)) in self.mailboxes.iter().enumerate() {
            let mut m = MailboxReport {
                mailbox: name.to_string(),
                ..MailboxReport::default()
            };
            let r = match self.format {
                Format::Maildir => match maildir::folder_path(&self.path, rel) {
                    Ok(dir) => {
                        m.path = dir.display().to_string();
                        export_maildir(store, name, &dir, i == 0, &mut m, &mut done, progress)
                    }
                    Err(why) => Err(Error::Mailbox {
                        mailbox: name.to_string(),
                        what: format!("not exported: {why}"),
                    }),
                },
                Format::Mbox => {
                    m.path = report.path.clone();
                    export_mbox(store, name, &self.path, &mut m, &mut done, progress)
                }
            };
            if let Err(e) = r {
                m.status = if e.is_busy() {
                    Status::Busy
                } else {
                    Status::Failed
                };
                m.error = Some(e.to_string());
            }
            report.mailboxes.push(m);
            // Folders go inside the top one: without it, there is nowhere to go on.
            if self.format == Format::Maildir && !maildir::is_maildir(&self.path) {
                break;
            }
        }
        let t = &mut report.total;
        t.mailboxes = report.mailboxes.len();
        t.failed_mailboxes = report
            .mailboxes
            .iter()
            .filter(|m| m.status != Status::Ok)
            .count();
        t.exported = report.mailboxes.iter().map(|m| m.exported).sum();
        t.failed = report.mailboxes.iter().map(|m| m.failed.len()).sum();
        report
    }
}

/// A record's flags as the formats carry them.
fn flags_of(r: &Record, keywords: &[String]) -> Flags {
    let bits = r.system_flags.get();
    let mut f = Flags {
        seen: bits & flag::SEEN != 0,
        answered: bits & flag::ANSWERED != 0,
        flagged: bits & flag::FLAGGED != 0,
        deleted: bits & flag::DELETED != 0,
        draft: bits & flag::DRAFT != 0,
        keywords: Vec::new(),
    };
    for n in flag_names(r, keywords) {
        if !n.starts_with('\\') {
            f.add_keyword(&n);
        }
    }
    f
}

/// The bytes of `uid`'s file, checked against its record: `Ok(None)` if it is
/// gone (expunged while the export ran).
fn read_message(
    mbox: &OpenMailbox,
    r: &Record,
    m: &mut MailboxReport,
) -> Result<Option<Vec<u8>>, String> {
    let uid = r.uid.get();
    let path = mbox.message_path(uid);
    let f = match open_regular(&path, Access::Read) {
        Ok(f) => f,
        Err(e) if e.is_not_found() => {
            m.warnings.push(format!(
                "UID {uid}: expunged while the export ran: left out"
            ));
            return Ok(None);
        }
        Err(OpenError::NotRegular(what)) => {
            return Err(format!(
                "{}: {what}, not a message file; run `msgstore reconstruct {}`",
                path.display(),
                mbox.name()
            ));
        }
        Err(OpenError::Io(e)) => return Err(format!("{}: open: {e}", path.display())),
    };
    let mut bytes = Vec::with_capacity(r.file_size.get().min(1 << 30) as usize);
    f.take(crate::message::MAX_MESSAGE_SIZE as u64)
        .read_to_end(&mut bytes)
        .map_err(|e| format!("{}: read: {e}", path.display()))?;
    if *blake3::hash(&bytes).as_bytes() != r.guid {
        m.warnings.push(format!(
            "UID {uid}: {} does not match its index record (exported as the file is); run `msgstore reconstruct {}`",
            path.display(),
            mbox.name()
        ));
    }
    Ok(Some(bytes))
}

fn export_maildir(
    store: &Store,
    name: &MailboxName,
    dir: &Path,
    top: bool,
    m: &mut MailboxReport,
    done: &mut u64,
    progress: &dyn Fn(u64),
) -> Result<()> {
    let mbox = OpenMailbox::at(store, name.clone())?;
    let state = mbox.state()?;
    // The keywords messages use, in the mailbox's order.
    let mut used = vec![false; state.keywords.len()];
    for r in state.records.values() {
        for (i, u) in used.iter_mut().enumerate() {
            *u |= r.has_user_flag(i);
        }
    }
    let keywords: Vec<String> = state
        .keywords
        .iter()
        .zip(&used)
        .filter(|(k, u)| **u && !k.is_empty())
        .map(|(k, _)| k.clone())
        .collect();
    let (writer, left) = maildir::Writer::create(dir, &keywords, top, !top)?;
    if !left.is_empty() {
        m.warnings.push(format!(
            "keywords {} not exported: a Maildir folder holds at most {} (dovecot-keywords' letters a-z)",
            left.join(" "),
            maildir::MAX_KEYWORDS
        ));
    }
    for r in state.records.values() {
        let uid = r.uid.get();
        match read_message(&mbox, r, m) {
            Ok(Some(bytes)) => {
                let f = flags_of(r, &state.keywords);
                writer.write(
                    uid,
                    &bytes,
                    &f,
                    (r.internal_date.get(), r.internal_date_zone.get()),
                )?;
                m.exported += 1;
            }
            Ok(None) => {}
            Err(why) => m.failed.push(Failed { uid, why }),
        }
        *done += 1;
        progress(*done);
    }
    writer.finish()
}

fn export_mbox(
    store: &Store,
    name: &MailboxName,
    path: &Path,
    m: &mut MailboxReport,
    done: &mut u64,
    progress: &dyn Fn(u64),
) -> Result<()> {
    let mbox = OpenMailbox::at(store, name.clone())?;
    let state = mbox.state()?;
    let mut writer = mailfmt::mbox::Writer::create(path)?;
    for r in state.records.values() {
        let uid = r.uid.get();
        match read_message(&mbox, r, m) {
            Ok(Some(bytes)) => {
                let f = flags_of(r, &state.keywords);
                let warnings = writer.write(
                    &bytes,
                    &f,
                    (r.internal_date.get(), r.internal_date_zone.get()),
                )?;
                m.warnings
                    .extend(warnings.into_iter().map(|w| format!("UID {uid}: {w}")));
                m.exported += 1;
            }
            Ok(None) => {}
            Err(why) => m.failed.push(Failed { uid, why }),
        }
        *done += 1;
        progress(*done);
    }
    writer.finish()
}
