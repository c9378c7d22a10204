//! msgstore: a mail message store for IMAP and the tool that keeps it healthy.
//!
//! Data flows one way, each layer using only those below it (a test checks it):
//!
//! 1. front ends: `cli`, `commands`, `prompt`, `output`, `server`;
//! 2. `ops`: the operations every front end shares, [`ops::OpenMailbox`] first;
//! 3. `reconstruct`: the repair engine;
//! 4. `db` (users.redb, mailboxes.redb) and `index` (each mailbox's index), and
//!    `mailfmt` (Maildir and mbox files, for import and export);
//! 5. `dbfile`: the one place redb files are opened;
//! 6. `store`: the layout, names, locks, file primitives and time;
//! 7. `error`, `faults`, `message`, `mime`, `uidset`, `sample`: pure pieces.
//!
//! `mime` (message bytes in, FETCH strings out) and the merge at the heart of
//! `reconstruct` are pure.

// Bytes from disk and names from users are read with fallible accessors: no panics.
#![cfg_attr(
    not(test),
    deny(clippy::unwrap_used, clippy::expect_used, clippy::panic)
)]

pub mod cli;
pub mod commands;
pub mod db;
pub mod dbfile;
pub mod error;
pub mod faults;
pub mod index;
pub mod mailfmt;
pub mod message;
pub mod mime;
pub mod ops;
pub mod output;
pub mod prompt;
pub mod reconstruct;
pub mod sample;
pub mod server;
pub mod store;
pub mod uidset;
