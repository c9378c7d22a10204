//! The commit of many new indexes at once. Rebuilding many small mailboxes, each
//! new index's own flush (its data, then its directory after the rename) was most
//! of the cost. So within one chunk of mailboxes rebuilt together, each new index is
//! written unflushed under its temporary name while its mailbox's lock is held;
//! then one flush of the file system makes all of them durable, every one is put
//! in place (never replacing a name), one more flush makes the renames durable,
//! and only then do the locks go. Each mailbox passes from its old index to its
//! new one in the order a lone rebuild keeps: a crash at any instant leaves one of
//! the two.

use super::mailbox::Context;
use super::report::{MailboxReport, Status};
use crate::error::{Error, Result};
use crate::index::record::Header;
use crate::store::fsutil::{
    exchange, is_regular, name_taken, rename_noreplace, syncfs, unique_name,
};
use crate::store::lock::Lock;
use crate::store::{INDEX_FILE, SET_ASIDE_INFIX};
use std::path::PathBuf;
use std::sync::Mutex;

/// A new index written, waiting to be put in place.
pub struct Swap {
    pub mailbox: String,
    pub dir: PathBuf,
    pub tmp: PathBuf,
    pub index_path: PathBuf,
    /// What the new index's header holds (set once the commit into it is done).
    pub header: Option<Header>,
    /// What the mailbox list must reserve before the swap.
    pub need: Option<crate::db::mailboxes::Need>,
    /// The mailbox's lock, held until the swap is durable.
    pub lock: Option<Lock>,
}

#[derive(Default)]
pub struct Stage {
    swaps: Mutex<Vec<Swap>>,
}

impl Stage {
    fn lock(&self) -> std::sync::MutexGuard<'_, Vec<Swap>> {
        // Every update under the lock is one push or one field set: consistent.
        self.swaps.lock().unwrap_or_else(|p| p.into_inner())
    }

    pub fn push(&self, swap: Swap) {
        self.lock().push(swap);
    }

    /// Whether `mailbox` has a swap waiting.
    pub fn has(&self, mailbox: &str) -> bool {
        self.lock().iter().any(|s| s.mailbox == mailbox)
    }

    /// The header the mailbox's waiting swap holds, and what it must reserve.
    pub fn set_header(
        &self,
        mailbox: &str,
        header: Header,
        need: Option<crate::db::mailboxes::Need>,
    ) {
        if let Some(s) = self.lock().iter_mut().find(|s| s.mailbox == mailbox) {
            s.header = Some(header);
            s.need = need;
        }
    }

    /// Hands the mailbox's lock to its waiting swap.
    pub fn attach(&self, mailbox: &str, lock: Option<Lock>) {
        if let Some(s) = self.lock().iter_mut().find(|s| s.mailbox == mailbox) {
            s.lock = lock;
        }
    }

    fn take(&self) -> Vec<Swap> {
        std::mem::take(&mut *self.lock())
    }
}

/// Flushes, puts in place and flushes again every swap waiting, and brings the
/// mailbox list up to what they hold; a swap that fails fails its mailbox (its old
/// index stays, and the temporary file goes at the next run).
pub fn finish(cx: &Context<'_>, stage: &Stage, reports: &mut [MailboxReport]) {
    let swaps = stage.take();
    if swaps.is_empty() {
        return;
    }
    let fail = |reports: &mut [MailboxReport], mailbox: &str, e: &Error| {
        if let Some(r) = reports.iter_mut().find(|r| r.mailbox == mailbox) {
            r.status = Status::Failed;
            r.rewritten = false;
            r.error = Some(e.to_string());
        }
    };
    // What the new indexes hand out, reserved before any of them is in place.
    let needs: Vec<(String, crate::db::mailboxes::Need)> = swaps
        .iter()
        .filter_map(|s| s.need.map(|n| (s.mailbox.clone(), n)))
        .collect();
    if !needs.is_empty()
        && let Err(e) = super::mirror::reserve_all(cx.store, &needs)
    {
        let e = super::mirror::refused("the mailboxes of this chunk", &e.to_string());
        for s in &swaps {
            fail(reports, &s.mailbox, &e);
        }
        return;
    }
    if let Err(e) = syncfs(cx.store.root()) {
        for s in &swaps {
            fail(reports, &s.mailbox, &e);
        }
        return;
    }
    crate::faults::point("reconstruct-before-index-rename");
    let mut placed = Vec::new();
    for s in swaps {
        match put_in_place(&s) {
            Ok(aside) => placed.push((s, aside)),
            Err(e) => fail(reports, &s.mailbox, &e),
        }
    }
    crate::faults::point("rename-before-sync");
    let flushed = syncfs(cx.store.root());
    for (s, aside) in placed {
        let Some(r) = reports.iter_mut().find(|r| r.mailbox == s.mailbox) else {
            continue;
        };
        if let Err(e) = &flushed {
            r.status = Status::Failed;
            r.error = Some(e.to_string());
            continue;
        }
        if aside.is_some() {
            r.moved_aside = aside;
        }
        if let Some(h) = &s.header {
            super::mirror::after_commit(cx, r, h);
        }
        if let Ok(name) = crate::store::names::MailboxName::parse(&s.mailbox) {
            super::mailbox::note_rebuilt(cx, &name);
        }
        drop(s.lock);
    }
}

/// Puts one new index in place, never replacing a name: what held the name is
/// kept as `msgstore.index.corrupt-<time>` (a regular file by a second link, then
/// the two swap names; anything else moved out of the way first).
fn put_in_place(s: &Swap) -> Result<Option<String>> {
    if !name_taken(&s.index_path) {
        rename_noreplace(&s.tmp, &s.index_path)
            .map_err(|e| Error::io(&s.tmp, "rename into place", e))?;
        return Ok(None);
    }
    let aside = unique_name(
        &s.dir,
        &format!(
            "{INDEX_FILE}{SET_ASIDE_INFIX}{}",
            crate::store::time::utc_stamp()
        ),
    );
    let kept = s.dir.join(&aside);
    if is_regular(&s.index_path) {
        std::fs::hard_link(&s.index_path, &kept)
            .map_err(|e| Error::io(&s.index_path, "keep the old index under another name", e))?;
        exchange(&s.tmp, &s.index_path)
            .map_err(|e| Error::io(&s.tmp, "swap the new index into place", e))?;
        std::fs::remove_file(&s.tmp).map_err(|e| Error::io(&s.tmp, "remove", e))?;
    } else {
        rename_noreplace(&s.index_path, &kept)
            .map_err(|e| Error::io(&s.index_path, "move out of the way", e))?;
        rename_noreplace(&s.tmp, &s.index_path)
            .map_err(|e| Error::io(&s.tmp, "rename into place", e))?;
    }
    Ok(Some(aside))
}
