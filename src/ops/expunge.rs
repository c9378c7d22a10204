//! `expunge MAILBOX [UIDSET]`: the messages flagged `\Deleted`, or the given UIDs,
//! through [`OpenMailbox::expunge`].

use super::open::{Expunge, OpenMailbox};
use crate::error::Result;
use crate::store::Store;
use crate::uidset::UidSet;

/// Expunges the given UIDs, or every message flagged `\Deleted`. Returns the UIDs.
pub fn expunge(store: &Store, mailbox: &str, set: Option<&str>) -> Result<(String, Vec<u32>)> {
    let set = set.map(UidSet::parse).transpose()?;
    let mbox = OpenMailbox::open(store, mailbox)?;
    let which = match set {
        None => Expunge::Deleted,
        Some(s) => {
            let state = mbox.state()?;
            let max = state.records.keys().next_back().copied().unwrap_or(0);
            Expunge::Uids(
                state
                    .records
                    .keys()
                    .copied()
                    .filter(|u| s.contains(*u, max))
                    .collect(),
            )
        }
    };
    let gone = mbox.expunge(&which)?;
    Ok((mbox.name().to_string(), gone))
}
