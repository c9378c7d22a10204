//! The mailboxes the server's sessions have open, shared: one [`OpenMailbox`] per
//! mailbox for every session and LMTP delivery in this process, one in-memory
//! [`Snapshot`] of its index for all of them, and a change counter that sessions
//! in IDLE wait on.
//!
//! Changes reach the counter two ways (`schema/locking.md`, rule 5): a write made
//! through the shared `OpenMailbox` calls back at once; a write by another process
//! (the CLI, `reconstruct`) is seen by the poller, which compares the index file's
//! stamp every [`POLL_INTERVAL`] for the mailboxes someone waits on. Whoever then
//! asks for the snapshot re-reads the index under the shared lock, unless its
//! header is unchanged: every change rewrites the header.

use crate::error::Result;
use crate::index::View;
use crate::index::record::Record;
use crate::ops::OpenMailbox;
use crate::ops::open::{Stamp, Watcher};
use crate::store::Store;
use crate::store::lock::Wait;
use crate::store::names::MailboxName;
use std::collections::HashMap;
use std::sync::{Arc, Mutex, Weak};
use std::time::Duration;
use tokio::sync::watch;

/// How often the poller looks for changes made by other processes: a session in
/// IDLE hears of a CLI delivery within this, and DESIGN.md promises one second.
pub const POLL_INTERVAL: Duration = Duration::from_millis(400);

/// One committed state of a mailbox's index, as sessions read it.
#[derive(Debug)]
pub struct Snapshot {
    pub view: View,
    /// The index file's inode when it was read: a rebuild swaps in a new file,
    /// and its content is then re-read even if its header looks the same.
    ino: Option<u64>,
}

impl Snapshot {
    pub fn get(&self, uid: u32) -> Option<&Record> {
        let r = &self.view.records;
        r.binary_search_by_key(&uid, |x| x.uid.get())
            .ok()
            .map(|i| &r[i])
    }

    pub fn uidvalidity(&self) -> u32 {
        self.view.header.uidvalidity.get()
    }

    pub fn uidnext(&self) -> u32 {
        self.view.header.uidnext.get()
    }

    pub fn highestmodseq(&self) -> u64 {
        self.view.header.highestmodseq.get()
    }

    pub fn mailbox_id(&self) -> u64 {
        self.view.header.mailbox_id.get()
    }
}

/// How many times [`Shared::current`] reads an index whose file was replaced
/// while it read; after that it answers with the last read (filed under the
/// inode seen before it, so the next call reads again).
const CURRENT_TRIES: u32 = 4;

/// A mailbox open in the server.
pub struct Shared {
    pub open: OpenMailbox,
    snapshot: Mutex<Option<Arc<Snapshot>>>,
    changes: Arc<watch::Sender<u64>>,
    /// The stamp the poller saw last.
    stamp: Mutex<Option<Stamp>>,
    /// Messages at or above this UID are `\Recent` to the next session that
    /// selects the mailbox (RFC 3501 2.3.2: one session sees each as recent).
    recent_from: Mutex<Option<u32>>,
    /// The UIDVALIDITY `recent_from` belongs to.
    uidvalidity: Mutex<Option<u32>>,
    /// Where `recent_from` is kept while nobody has the mailbox open, so that
    /// messages that arrive between sessions are still recent to the next.
    marks: Arc<Mutex<Marks>>,
    _watcher: Arc<Watcher>,
}

/// Per mailbox, the UIDVALIDITY and the `\Recent` mark of the last [`Shared`]
/// that had it open.
type Marks = HashMap<MailboxName, (u32, u32)>;

impl Drop for Shared {
    fn drop(&mut self) {
        let from = *lock(&self.recent_from);
        let uv = *lock(&self.uidvalidity);
        if let (Some(from), Some(uv)) = (from, uv) {
            lock(&self.marks).insert(self.open.name().clone(), (uv, from));
        }
    }
}

fn lock<T>(m: &Mutex<T>) -> std::sync::MutexGuard<'_, T> {
    m.lock().unwrap_or_else(|p| p.into_inner())
}

impl Shared {
    /// The current snapshot, re-read if the index changed. Blocking: it waits for
    /// the mailbox's shared lock, so a rebuild in progress is waited for.
    pub fn current(&self) -> Result<Arc<Snapshot>> {
        // The file's inode is read before the index (outside its lock): a rebuild
        // that puts a new file in place meanwhile would have the snapshot filed
        // under the old file's inode, so it is read again after, and the read
        // repeated (a bounded number of times) until the two agree.
        let mut tries = 0;
        loop {
            tries += 1;
            let cached = lock(&self.snapshot).clone();
            let ino = self.open.stamp().map(|s| s.ino());
            let known = cached
                .as_ref()
                .filter(|c| c.ino == ino && ino.is_some())
                .map(|c| c.view.header);
            let read = self.open.view_unless(known.as_ref())?;
            let after = self.open.stamp().map(|s| s.ino());
            if after != ino && tries < CURRENT_TRIES {
                continue;
            }
            return match read {
                None => match cached {
                    Some(c) => Ok(c),
                    // Unreachable (`known` came from the cache), but cheap to answer.
                    None => self.reload(ino),
                },
                Some(view) => Ok(self.keep(view, ino)),
            };
        }
    }

    fn reload(&self, ino: Option<u64>) -> Result<Arc<Snapshot>> {
        let view = self.open.view_unless(None)?.unwrap_or_default();
        Ok(self.keep(view, ino))
    }

    fn keep(&self, view: View, ino: Option<u64>) -> Arc<Snapshot> {
        let s = Arc::new(Snapshot { view, ino });
        let mut slot = lock(&self.snapshot);
        // Never replace a newer snapshot with an older one read concurrently.
        let newer = slot
            .as_ref()
            .is_some_and(|c| c.ino == s.ino && c.highestmodseq() > s.highestmodseq());
        if !newer {
            *slot = Some(s.clone());
        }
        s
    }

    /// A receiver that changes whenever the mailbox may have changed.
    pub fn subscribe(&self) -> watch::Receiver<u64> {
        self.changes.subscribe()
    }

    /// Tells every waiting session that the mailbox may have changed.
    pub fn changed(&self) {
        self.changes.send_modify(|n| *n = n.wrapping_add(1));
    }

    /// The UID from which messages are `\Recent` for a session selecting now, and
    /// moves the mark to `uidnext` so that the next session does not see them so.
    pub fn take_recent(&self, uidnext: u32) -> u32 {
        let mut r = lock(&self.recent_from);
        // A server that just started cannot know what earlier sessions saw; it
        // treats nothing as recent rather than everything.
        let from = r.unwrap_or(uidnext);
        *r = Some(uidnext.max(from));
        from
    }

    /// The UID from which messages are `\Recent`, without taking them: a
    /// read-only session (EXAMINE) shows them but must not clear them (RFC 3501
    /// 6.3.2).
    pub fn peek_recent(&self, uidnext: u32) -> u32 {
        lock(&self.recent_from).unwrap_or(uidnext)
    }

    /// Sets the `\Recent` mark of a mailbox this process has just opened: the
    /// mark its last holder left if the mailbox is still the same one, else the
    /// UIDNEXT now (what arrives from now on is recent). Reads the header, so
    /// it is called without the hub's lock.
    fn prime_recent(&self) {
        let Ok(h) = self.open.header() else { return };
        let uv = h.uidvalidity.get();
        let kept = lock(&self.marks)
            .get(self.open.name())
            .copied()
            .filter(|(v, _)| *v == uv);
        let mut r = lock(&self.recent_from);
        if r.is_none() {
            *r = Some(kept.map_or(h.uidnext.get(), |(_, from)| from));
            *lock(&self.uidvalidity) = Some(uv);
        }
    }
}

/// Every mailbox the server has open.
pub struct Hub {
    store: Store,
    boxes: Mutex<HashMap<MailboxName, Weak<Shared>>>,
    /// `\Recent` marks of mailboxes nobody has open (one entry per mailbox
    /// opened since the server started).
    marks: Arc<Mutex<Marks>>,
}

impl Hub {
    pub fn new(store: Store) -> Arc<Hub> {
        Arc::new(Hub {
            store,
            boxes: Mutex::new(HashMap::new()),
            marks: Arc::new(Mutex::new(HashMap::new())),
        })
    }

    pub fn store(&self) -> &Store {
        &self.store
    }

    /// The shared handle of `name`, opened if nobody has it open. Fails as
    /// `OpenMailbox::at` does for a mailbox that does not exist.
    pub fn open(&self, name: &MailboxName) -> Result<Arc<Shared>> {
        let (shared, new) = self.open_shared(name)?;
        if new {
            shared.prime_recent();
        }
        Ok(shared)
    }

    fn open_shared(&self, name: &MailboxName) -> Result<(Arc<Shared>, bool)> {
        let mut boxes = lock(&self.boxes);
        if let Some(s) = boxes.get(name).and_then(Weak::upgrade) {
            if s.open.dir().is_dir() {
                return Ok((s, false));
            }
            // Deleted or renamed since: forget it.
            boxes.remove(name);
        }
        let open = OpenMailbox::at(&self.store, name.clone())?.waiting(Wait::Forever);
        let (tx, _) = watch::channel(0u64);
        let changes = Arc::new(tx);
        let notify = changes.clone();
        let watcher: Arc<Watcher> =
            Arc::new(move || notify.send_modify(|n| *n = n.wrapping_add(1)));
        open.watch(&watcher);
        let shared = Arc::new(Shared {
            stamp: Mutex::new(open.stamp()),
            open,
            snapshot: Mutex::new(None),
            changes,
            recent_from: Mutex::new(None),
            uidvalidity: Mutex::new(None),
            marks: self.marks.clone(),
            _watcher: watcher,
        });
        boxes.retain(|_, w| w.strong_count() > 0);
        boxes.insert(name.clone(), Arc::downgrade(&shared));
        Ok((shared, true))
    }

    /// Tells the sessions that have `name` open that it changed (a write made
    /// through another handle in this process, such as an LMTP delivery).
    pub fn touch(&self, name: &MailboxName) {
        let live = lock(&self.boxes).get(name).and_then(Weak::upgrade);
        if let Some(s) = live {
            s.changed();
        }
    }

    /// Forgets `name` (deleted or renamed): the next open starts afresh.
    pub fn forget(&self, name: &MailboxName) {
        let mut boxes = lock(&self.boxes);
        boxes.retain(|n, w| w.strong_count() > 0 && !n.is_within(name) && n != name);
        lock(&self.marks).retain(|n, _| !n.is_within(name) && n != name);
    }

    /// One round of the poller: the mailboxes someone waits on whose index file
    /// changed since the last round are marked changed. Blocking (one `stat` each).
    pub fn poll(&self) {
        let live: Vec<Arc<Shared>> = lock(&self.boxes)
            .values()
            .filter_map(Weak::upgrade)
            .filter(|s| s.changes.receiver_count() > 0)
            .collect();
        for s in live {
            let now = s.open.stamp();
            let mut seen = lock(&s.stamp);
            if *seen != now {
                *seen = now;
                drop(seen);
                s.changed();
            }
        }
    }

    /// Runs [`Hub::poll`] every [`POLL_INTERVAL`] until the runtime ends.
    pub fn spawn_poller(self: &Arc<Hub>) {
        let hub = Arc::downgrade(self);
        tokio::spawn(async move {
            let mut tick = tokio::time::interval(POLL_INTERVAL);
            tick.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
            loop {
                tick.tick().await;
                let Some(h) = hub.upgrade() else { return };
                if tokio::task::spawn_blocking(move || h.poll()).await.is_err() {
                    return;
                }
            }
        });
    }
}
