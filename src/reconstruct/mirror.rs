//! The mailbox list's side of a rebuild: a new UIDVALIDITY when nothing names one,
//! and the entry brought up to what the index now says. Both take the database
//! lock while the mailbox's own lock is held (the lock order of
//! `schema/locking.md`), so a writer never sees the index and the list disagree.

use super::mailbox::Context;
use super::report::MailboxReport;
use crate::db::mailboxes;
use crate::error::Result;
use crate::index::record::{Header, Identity};
use crate::store::Store;

/// A UIDVALIDITY never handed out before by this store: from the mailbox list's
/// counter, or, when the list cannot be written (it is lost: `reconstruct -m`
/// then reads the value back from the index), from the clock, which only ever
/// gave out smaller ones. A dry run reports one without taking it.
pub fn new_uidvalidity(store: &Store, dry_run: bool) -> Result<u32> {
    let clock = crate::store::time::now_unix().clamp(1, i64::from(u32::MAX)) as u32;
    if dry_run {
        return Ok(clock);
    }
    match mailboxes::change(store, |t| t.new_uidvalidity()) {
        Ok(v) => Ok(v),
        Err(e) if e.is_busy() => Err(e),
        Err(_) => Ok(clock),
    }
}

/// What the list must reserve before a rebuild's commit, if anything: the UIDs
/// it invents (below `uid_end`: files renumbered) and the MODSEQ of its changes
/// (up to `highestmodseq`), where the entry has this identity. UIDs of files that
/// keep theirs need nothing: any later writer reserves above the index's UIDNEXT
/// before it hands out a UID. An entry of another identity is brought up to the
/// index after the commit instead ([`after_commit`]).
pub fn need(
    cx: &Context<'_>,
    name: &str,
    identity: Identity,
    old: Option<&Header>,
    uid_end: u32,
    highestmodseq: u64,
) -> Option<mailboxes::Need> {
    let e = cx.list.entries.get(name)?;
    if e.id != identity.mailbox_id || e.uidvalidity != identity.uidvalidity {
        return None;
    }
    if !e.from_v1 && e.uid_bound >= uid_end && e.modseq_bound >= highestmodseq {
        return None;
    }
    Some(mailboxes::Need {
        uidnext: old.map_or(e.uidnext, |h| h.uidnext.get()),
        highestmodseq: old.map_or(e.highestmodseq, |h| h.highestmodseq.get()),
        uid_end,
        modseq_end: highestmodseq,
    })
}

/// Reserves many needs in one list transaction.
pub fn reserve_all(store: &Store, needs: &[(String, mailboxes::Need)]) -> Result<()> {
    mailboxes::change(store, |t| {
        for (name, need) in needs {
            if let Some(mut e) = t.get(name)? {
                e.uid_bound = e.uid_bound.max(need.uid_end);
                e.modseq_bound = e.modseq_bound.max(need.modseq_end);
                e.heard(need.uidnext, need.highestmodseq);
                e.from_v1 = false;
                t.put(&e)?;
            }
        }
        Ok(())
    })
}

/// A group commit of reservations for rebuilds that write in place: each hands its
/// need in and waits; one of them writes every need handed in meanwhile in one
/// transaction, then wakes the others. (New indexes put in place together reserve
/// together, in `stage`.)
#[derive(Default)]
pub struct Reservations {
    state: std::sync::Mutex<Batch>,
    done: std::sync::Condvar,
}

#[derive(Default)]
struct Batch {
    /// Needs waiting for the next write.
    pending: Vec<(String, mailboxes::Need)>,
    /// The write now collecting needs (pending ones belong to it).
    collecting: u64,
    /// Writes finished, and how each ended.
    finished: std::collections::BTreeMap<u64, std::result::Result<(), String>>,
    writing: bool,
}

impl Reservations {
    fn lock(&self) -> std::sync::MutexGuard<'_, Batch> {
        // Every update under the lock is a single push, insert or swap: a panic
        // while it was held leaves it consistent.
        self.state.lock().unwrap_or_else(|p| p.into_inner())
    }

    /// Hands `need` in and waits until a write that holds it has committed.
    pub fn reserve(&self, store: &Store, name: &str, need: mailboxes::Need) -> Result<()> {
        let mut st = self.lock();
        let mine = st.collecting;
        st.pending.push((name.to_owned(), need));
        loop {
            if let Some(r) = st.finished.get(&mine) {
                return r.clone().map_err(|why| refused(name, &why));
            }
            if !st.writing {
                // Lead: take every need handed in so far and write them at once.
                st.writing = true;
                let batch = std::mem::take(&mut st.pending);
                let this = st.collecting;
                st.collecting += 1;
                drop(st);
                let r = reserve_all(store, &batch).map_err(|e| e.to_string());
                st = self.lock();
                st.finished.insert(this, r);
                st.writing = false;
                self.done.notify_all();
                continue;
            }
            st = self.done.wait(st).unwrap_or_else(|p| p.into_inner());
        }
    }
}

pub fn refused(name: &str, why: &str) -> crate::error::Error {
    crate::error::Error::Mailbox {
        mailbox: name.to_owned(),
        what: format!(
            "the UIDs and MODSEQs the rebuild hands out could not be reserved in the mailbox list ({why}); nothing was changed; run `msgstore reconstruct -m` if the list is damaged, then this again"
        ),
    }
}

/// After a rebuild's commit that changed the mailbox's identity (a new
/// UIDVALIDITY, an id the list did not have): the entry takes the index's
/// identity and values. A failure leaves the list behind the index, which the next
/// run brings up to it (the index is then the newer of the two), so it is a
/// warning, not a failure of the rebuild.
pub fn after_commit(cx: &Context<'_>, rep: &mut MailboxReport, header: &Header) {
    let Some(entry) = cx.list.entries.get(&rep.mailbox) else {
        return;
    };
    if entry.uidvalidity == header.uidvalidity.get() && entry.id == header.mailbox_id.get() {
        return;
    }
    crate::faults::point("reconstruct-before-mirror");
    let name = rep.mailbox.clone();
    let r = mailboxes::change(cx.store, |t| {
        let Some(mut e) = t.get(&name)? else {
            return Ok(());
        };
        let uv = header.uidvalidity.get();
        e.uidvalidity = uv;
        e.uidnext = header.uidnext.get();
        e.uid_bound = header.uidnext.get();
        e.highestmodseq = header.highestmodseq.get();
        e.modseq_bound = header.highestmodseq.get();
        if header.mailbox_id.get() != 0 {
            e.id = header.mailbox_id.get();
            t.note_id(e.id)?;
        }
        t.note_uidvalidity(uv)?;
        t.put(&e)
    });
    if let Err(e) = r {
        rep.warnings.push(format!(
            "the mailbox list's entry not updated ({e}); run `msgstore reconstruct` on this mailbox again once the list can be written"
        ));
    }
}

/// After every rebuild of a run: the entries whose mirrors of UIDNEXT and
/// HIGHESTMODSEQ lag behind the indexes hear of them, in one transaction (a
/// store with nothing to change costs no write). A failure is a warning: the
/// mirrors are hints for the next repair, never needed for safety.
pub fn refresh(store: &Store, list: &super::ListView, reports: &mut [MailboxReport]) {
    let lagging = |r: &MailboxReport| {
        r.status == super::report::Status::Ok
            && list.entries.get(&r.mailbox).is_some_and(|e| {
                e.uidvalidity == r.uidvalidity
                    && (e.uidnext < r.uidnext || e.highestmodseq < r.highestmodseq || e.from_v1)
            })
    };
    if !reports.iter().any(lagging) {
        return;
    }
    crate::faults::point("reconstruct-before-mirror");
    let r = mailboxes::change(store, |t| {
        for r in reports.iter().filter(|r| lagging(r)) {
            if let Some(mut e) = t.get(&r.mailbox)?
                && e.uidvalidity == r.uidvalidity
            {
                e.heard(r.uidnext, r.highestmodseq);
                e.from_v1 = false;
                t.put(&e)?;
            }
        }
        Ok(())
    });
    if let Err(e) = r {
        for r in reports.iter_mut().filter(|r| lagging(r)) {
            r.warnings
                .push(format!("mirror in the mailbox list not updated: {e}"));
        }
    }
}
