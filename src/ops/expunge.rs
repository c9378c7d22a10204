//! Expunge: unlink the message files first, then commit the removal of their
//! records, so a crash can only leave records without files (reconstruct drops
//! them): an expunged message never comes back.

use super::existing_mailbox;
use crate::error::{Error, Result};
use crate::index::record::flag;
use crate::store::fsutil::sync_dir;
use crate::store::{Store, message_file_name};
use crate::uidset::UidSet;

/// Expunges the given UIDs, or every message flagged `\Deleted`. Returns the UIDs.
pub fn expunge(store: &Store, mailbox: &str, set: Option<&str>) -> Result<(String, Vec<u32>)> {
    let set = set.map(UidSet::parse).transpose()?;
    let (name, dir) = existing_mailbox(store, mailbox)?;
    let (_lock, index) = super::open_for_write(store, &name, &dir)?;
    let mut state = index.load()?;
    let max = state.records.keys().next_back().copied().unwrap_or(0);
    let gone: Vec<u32> = state
        .records
        .values()
        .filter(|r| match &set {
            Some(s) => s.contains(r.uid.get(), max),
            None => r.system_flags.get() & flag::DELETED != 0,
        })
        .map(|r| r.uid.get())
        .collect();
    if gone.is_empty() {
        return Ok((name.to_string(), gone));
    }
    for uid in &gone {
        let f = dir.join(message_file_name(*uid));
        match std::fs::remove_file(&f) {
            Ok(()) => {}
            Err(e) if e.kind() == std::io::ErrorKind::NotFound => {}
            Err(e) => return Err(Error::io(&f, "remove expunged message", e)),
        }
        crate::faults::point("expunge-after-first-unlink");
    }
    sync_dir(&dir)?;
    crate::faults::point("expunge-after-unlink");
    let modseq = state.header.highestmodseq.get() + 1;
    index.write(|w| {
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
    Ok((name.to_string(), gone))
}
