//! What a rebuild did (or, in a dry run, would do), per mailbox and in total.

use serde::Serialize;

/// How one mailbox's rebuild ended.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq, Serialize)]
#[serde(rename_all = "lowercase")]
pub enum Status {
    #[default]
    Ok,
    /// Another process held it, and waiting did not help.
    Busy,
    Failed,
}

/// What salvage read from a damaged index.
#[derive(Clone, Debug, Default, PartialEq, Eq, Serialize)]
pub struct Salvage {
    /// Records that verified and were used.
    pub records: usize,
    /// A verified header copy was found (its UIDNEXT and MODSEQ used as bounds).
    pub header: bool,
    pub keywords: usize,
}

#[derive(Debug, Default, Serialize)]
pub struct MailboxReport {
    pub mailbox: String,
    pub status: Status,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub error: Option<String>,
    pub uidvalidity: u32,
    pub uidnext: u32,
    pub highestmodseq: u64,
    pub messages: usize,
    pub kept: usize,
    pub added: Vec<u32>,
    /// `[from, to]` pairs: the file was renamed to its new UID.
    pub renumbered: Vec<[u32; 2]>,
    pub changed_content: Vec<u32>,
    pub dropped: Vec<u32>,
    pub reparsed: usize,
    /// Files set aside because they contain a NUL byte (`7.` became `7.BAD`).
    pub bad: Vec<String>,
    pub temp_removed: Vec<String>,
    pub unknown_files: Vec<String>,
    /// The damaged or foreign index, kept under this name.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub moved_aside: Option<String>,
    /// What was salvaged from a damaged index.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub salvaged: Option<Salvage>,
    /// Why the index was another mailbox's.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub foreign: Option<String>,
    /// No record of the messages' flags survived: they were added without flags.
    pub flags_lost: bool,
    pub uidvalidity_changed: bool,
    pub warnings: Vec<String>,
    /// Bytes of message files read.
    pub bytes_read: u64,
    pub elapsed_ms: u64,
    /// Whether the index was (or would be) written.
    pub rewritten: bool,
    /// The RFC822.SIZE of every message the index holds after the run (in a dry
    /// run: would hold), and what the old index's header counted (`None`: none
    /// was read): the quota's recount (`ops::reconstruct`) reports from them.
    #[serde(skip)]
    pub size: Option<u64>,
    #[serde(skip)]
    pub size_before: Option<u64>,
}

impl MailboxReport {
    pub fn new(mailbox: &str) -> MailboxReport {
        MailboxReport {
            mailbox: mailbox.to_owned(),
            ..MailboxReport::default()
        }
    }

    pub fn failed(&self) -> bool {
        self.status != Status::Ok
    }
}

#[derive(Debug, Default, Serialize)]
pub struct Total {
    pub mailboxes: usize,
    pub failed: usize,
    pub busy: usize,
    pub messages: usize,
    pub bytes_read: u64,
    pub elapsed_ms: u64,
    pub messages_per_sec: f64,
    pub mb_per_sec: f64,
}

/// A mailbox whose size, as its index counts it, the run changed: messages
/// were added or dropped, or the index header had miscounted its records.
#[derive(Debug, Default, PartialEq, Eq, Serialize)]
pub struct SizeCorrection {
    pub mailbox: String,
    /// Bytes (RFC822.SIZE) before and after.
    pub from: u64,
    pub to: u64,
}

/// What a user uses once their mailboxes are rebuilt, recounted from the
/// indexes (their quota's usage; see `ops::quota`).
#[derive(Debug, Default, Serialize)]
pub struct UserUsage {
    pub user: String,
    pub bytes: u64,
    pub messages: u64,
    pub quota: Option<u64>,
    /// The bytes the indexes counted before the run (an index that could not
    /// be read counted none).
    pub before: u64,
    /// Mailboxes whose count changed (in a dry run: would change, as far as the
    /// records tell).
    pub corrected: Vec<SizeCorrection>,
    /// Mailboxes left out of the count (busy, failed or unreadable).
    pub uncounted: Vec<String>,
}

#[derive(Debug, Default, Serialize)]
pub struct Report {
    pub dry_run: bool,
    pub mailboxes: Vec<MailboxReport>,
    /// The usage of each user whose mailboxes were rebuilt.
    pub users: Vec<UserUsage>,
    /// Listed mailboxes whose directory is gone (`reconstruct -m` removes them).
    pub gone: Vec<String>,
    /// Directories that are not mailboxes or could not be read: path and why.
    pub skipped: Vec<Skipped>,
    pub total: Total,
}

#[derive(Debug, Default, Serialize)]
pub struct Skipped {
    pub path: String,
    pub why: String,
}

impl Report {
    pub fn finish(&mut self, elapsed: std::time::Duration) {
        let secs = elapsed.as_secs_f64().max(1e-9);
        let t = &mut self.total;
        t.mailboxes = self.mailboxes.len();
        t.failed = self
            .mailboxes
            .iter()
            .filter(|m| m.status == Status::Failed)
            .count();
        t.busy = self
            .mailboxes
            .iter()
            .filter(|m| m.status == Status::Busy)
            .count();
        t.messages = self.mailboxes.iter().map(|m| m.messages).sum();
        t.bytes_read = self.mailboxes.iter().map(|m| m.bytes_read).sum();
        t.elapsed_ms = elapsed.as_millis() as u64;
        t.messages_per_sec = (t.messages as f64 / secs).round();
        t.mb_per_sec = (t.bytes_read as f64 / 1e6 / secs * 10.0).round() / 10.0;
    }

    /// Anything that makes the run's exit status 1: a mailbox failed or was busy,
    /// or the walk found what it could not take.
    pub fn incomplete(&self) -> bool {
        self.total.failed > 0
            || self.total.busy > 0
            || !self.gone.is_empty()
            || !self.skipped.is_empty()
    }
}
