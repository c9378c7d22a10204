//! Copying messages between mailboxes (IMAP COPY and MOVE): the same bytes, flags
//! and internal date, under new UIDs of the target, by the target's write order
//! (`OpenMailbox::append`). MOVE is a copy, then an expunge of the source: a crash
//! in between leaves the message in both mailboxes, never in neither.

use super::deliver::Prepared;
use super::open::{Append, Expunge, OpenMailbox};
use crate::error::{Error, Result};
use crate::index::record::flag;
use crate::store::fsutil::{Access, open_regular};
use std::io::Read;

/// Messages copied in one append at most, and bytes: a COPY of a whole mailbox
/// holds one batch in memory at a time, not the mailbox.
const BATCH_MESSAGES: usize = 256;
const BATCH_BYTES: u64 = 32 * 1024 * 1024;

/// What a copy did: pairs of (source UID, target UID), ascending by source; UIDs
/// that were gone from the source (expunged meanwhile) are left out.
#[derive(Debug, Default)]
pub struct Copied {
    pub pairs: Vec<(u32, u32)>,
    pub uidvalidity: u32,
}

/// Copies the messages of `uids` (ascending) from `from` to `to`. All or nothing:
/// if a later batch fails, the batches already appended are expunged from the
/// target again before the error is returned (RFC 3501 6.4.7).
pub fn copy(from: &OpenMailbox, uids: &[u32], to: &OpenMailbox) -> Result<Copied> {
    let target = to.header()?;
    let mut out = Copied {
        pairs: Vec::new(),
        uidvalidity: target.uidvalidity.get(),
    };
    let state = from.state()?;
    let mut batch: Vec<(u32, Append)> = Vec::new();
    let mut bytes = 0u64;
    let result = (|| -> Result<()> {
        for &uid in uids {
            let Some(rec) = state.records.get(&uid) else {
                continue;
            };
            let path = from.message_path(uid);
            let mut file = match open_regular(&path, Access::Read) {
                Ok(f) => f,
                // Expunged since the state was read: nothing to copy.
                Err(e) if e.is_not_found() => continue,
                Err(e) => return Err(e.into_error(&path, "open message")),
            };
            let mut raw = Vec::with_capacity(rec.file_size.get() as usize);
            file.read_to_end(&mut raw)
                .map_err(|e| Error::io(&path, "read message", e))?;
            let cache = match from.read_one_cache(uid)? {
                Some(c) => c,
                None => super::deliver::prepare(&path.display().to_string(), &raw)?.cache,
            };
            let bytes_now = raw.len() as u64;
            let keywords = super::flags::flag_names(rec, &state.keywords)
                .into_iter()
                .filter(|n| !n.starts_with('\\'))
                .collect();
            let message = Prepared {
                guid: rec.guid,
                size: u64::from(rec.size.get()),
                cache,
                bytes: raw,
                note: None,
            };
            batch.push((
                uid,
                Append {
                    message,
                    system_flags: rec.system_flags.get() & flag::ALL_BITS,
                    keywords,
                    internal_date: Some((rec.internal_date.get(), rec.internal_date_zone.get())),
                },
            ));
            bytes += bytes_now;
            if batch.len() >= BATCH_MESSAGES || bytes >= BATCH_BYTES {
                flush(&mut batch, to, &mut out)?;
                bytes = 0;
            }
        }
        flush(&mut batch, to, &mut out)
    })();
    if let Err(e) = result {
        if !out.pairs.is_empty() {
            let made: Vec<u32> = out.pairs.iter().map(|p| p.1).collect();
            let _ = to.expunge(&Expunge::Uids(made));
        }
        return Err(e);
    }
    Ok(out)
}

fn flush(batch: &mut Vec<(u32, Append)>, to: &OpenMailbox, out: &mut Copied) -> Result<()> {
    if batch.is_empty() {
        return Ok(());
    }
    let (sources, appends): (Vec<u32>, Vec<Append>) = std::mem::take(batch).into_iter().unzip();
    let made = to.append(appends)?;
    out.pairs
        .extend(sources.into_iter().zip(made.into_iter().map(|a| a.uid)));
    Ok(())
}

/// Moves: copies, then expunges the copied messages from the source. Gives the
/// pairs and the UIDs expunged from the source.
pub fn move_messages(
    from: &OpenMailbox,
    uids: &[u32],
    to: &OpenMailbox,
) -> Result<(Copied, Vec<u32>)> {
    let copied = copy(from, uids, to)?;
    let sources: Vec<u32> = copied.pairs.iter().map(|p| p.0).collect();
    let gone = from.expunge(&Expunge::Uids(sources))?;
    Ok((copied, gone))
}
