//! What a rebuild did (or, in a dry run, would do), per mailbox and in total.

use serde::Serialize;

#[derive(Debug, Default, Serialize)]
pub struct MailboxReport {
    pub mailbox: String,
    /// "ok", "busy" or "failed".
    pub status: &'static str,
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
    /// The damaged index, kept under this name.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub moved_aside: Option<String>,
    pub uidvalidity_changed: bool,
    pub warnings: Vec<String>,
    /// Bytes of message files read.
    pub bytes_read: u64,
    pub elapsed_ms: u64,
    /// Whether the index was (or would be) written.
    pub rewritten: bool,
}

impl MailboxReport {
    pub fn failed(&self) -> bool {
        self.status != "ok"
    }

    /// Whether anything was repaired (or would be).
    pub fn repaired(&self) -> bool {
        !self.added.is_empty()
            || !self.renumbered.is_empty()
            || !self.dropped.is_empty()
            || !self.bad.is_empty()
            || !self.temp_removed.is_empty()
            || self.moved_aside.is_some()
            || self.uidvalidity_changed
    }
}

#[derive(Debug, Default, Serialize)]
pub struct Total {
    pub mailboxes: usize,
    pub failed: usize,
    pub messages: usize,
    pub bytes_read: u64,
    pub elapsed_ms: u64,
    pub messages_per_sec: f64,
    pub mb_per_sec: f64,
}

#[derive(Debug, Default, Serialize)]
pub struct Report {
    pub dry_run: bool,
    pub mailboxes: Vec<MailboxReport>,
    pub total: Total,
}

impl Report {
    pub fn finish(&mut self, elapsed: std::time::Duration) {
        let secs = elapsed.as_secs_f64().max(1e-9);
        let t = &mut self.total;
        t.mailboxes = self.mailboxes.len();
        t.failed = self.mailboxes.iter().filter(|m| m.failed()).count();
        t.messages = self.mailboxes.iter().map(|m| m.messages).sum();
        t.bytes_read = self.mailboxes.iter().map(|m| m.bytes_read).sum();
        t.elapsed_ms = elapsed.as_millis() as u64;
        t.messages_per_sec = (t.messages as f64 / secs).round();
        t.mb_per_sec = (t.bytes_read as f64 / 1e6 / secs * 10.0).round() / 10.0;
    }
}
