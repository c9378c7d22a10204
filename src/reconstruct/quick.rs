//! `--quick` over a mailbox that needs nothing written (the usual case): the index
//! is read through a read-only handle (no page-checksum pass, no commit, no flush;
//! every header and record still verified by its own checksum, and its identity
//! compared with the mailbox list's), the files are only stat'ed, and nothing is
//! read. Anything else sends the mailbox down the default path.

use super::mailbox::{Relation, relate};
use super::merge::{self, Bounds, FileId};
use super::report::MailboxReport;
use super::{Progress, scan};
use crate::db::mailboxes::Entry;
use crate::error::Result;
use crate::index::Reader;
use rayon::prelude::*;
use std::path::Path;

/// The report, or `None` when anything would change or the index cannot be read
/// so; the caller then takes the full path.
pub fn unchanged(
    store: &crate::store::Store,
    dir: &Path,
    index_path: &Path,
    entry: Option<&Entry>,
    next_id: u64,
    progress: Progress<'_>,
    mut rep: MailboxReport,
) -> Result<Option<MailboxReport>> {
    if !crate::store::fsutil::is_regular(index_path) {
        return Ok(None);
    }
    // The files are stat'ed while the index is still being read: the two are
    // independent until their identities are compared.
    let (loaded, listed) = rayon::join(
        || Reader::open(index_path).and_then(|r| r.records()),
        || {
            scan::list_dir(dir).map(|listing| {
                let ids: Vec<Option<FileId>> = listing
                    .messages
                    .par_iter()
                    .map(|(_, entry)| {
                        let meta = entry.metadata().ok().filter(|m| m.is_file());
                        progress(1);
                        meta.map(|m| scan::file_id(&m))
                    })
                    .collect();
                (listing, ids)
            })
        },
    );
    let (Ok((header, records)), Ok((listing, ids))) = (loaded, listed) else {
        return Ok(None);
    };
    if relate(header.identity(), entry, next_id) != Relation::Same
        || entry.is_some_and(|e| e.id != header.mailbox_id.get())
        || listing.index != scan::IndexFile::Regular
    {
        return Ok(None);
    }
    // Unchanged is one record per file, both in UID order, and each file what its
    // record says; anything else sends the mailbox down the default path, which
    // reads what changed (read here too, it would be read twice).
    let mut walk = records.iter();
    let all_same = listing.messages.iter().zip(ids).all(|((uid, _), id)| {
        walk.next()
            .filter(|r| r.uid.get() == *uid)
            .zip(id)
            .is_some_and(|(r, id)| id.matches(r))
    });
    if !all_same || walk.next().is_some() || !listing.temp.is_empty() {
        return Ok(None);
    }
    let bounds = entry.map_or(Bounds::default(), super::mailbox::intact_bounds);
    if entry.is_some_and(|e| e.from_v1 || e.uidvalidity != header.uidvalidity.get()) {
        return Ok(None);
    }
    if entry.is_some_and(|e| super::mailbox::may_be_older_copy(store, e, index_path, &header)) {
        return Ok(None);
    }
    let Some(plan) = merge::unchanged(&header, &records, bounds) else {
        return Ok(None);
    };
    rep.unknown_files = listing.unknown.iter().map(|u| u.0.clone()).collect();
    super::fill_report(&mut rep, &plan, &listing, header.uidvalidity.get());
    rep.size = Some(records.iter().map(|r| u64::from(r.size.get())).sum());
    rep.size_before = Some(header.total_size.get());
    rep.rewritten = false;
    rep.bytes_read = 0;
    Ok(Some(rep))
}
