//! msgstore: a mail message store for IMAP and the tool that keeps it healthy.
//!
//! Data flows one way: `cli` -> `commands` -> `ops` (the operations) -> `store`, `db`,
//! `index`. `imap` is pure (message bytes in, IMAP strings out) and so is most of
//! `reconstruct`.

pub mod imap;
