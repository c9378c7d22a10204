//! msgstore: a mail message store for IMAP and the tool that keeps it healthy.
//!
//! Data flows one way: `cli`/`commands` -> `ops` (the operations) -> `store`, `db`,
//! `index`. `imap` is pure (message bytes in, IMAP strings out) and so is the
//! merge at the heart of `reconstruct`.

// Bytes from disk and names from users are read with fallible accessors: no panics.
#![cfg_attr(
    not(test),
    deny(clippy::unwrap_used, clippy::expect_used, clippy::panic)
)]

pub mod cli;
pub mod commands;
pub mod db;
pub mod error;
pub mod faults;
pub mod imap;
pub mod index;
pub mod message;
pub mod ops;
pub mod output;
pub mod prompt;
pub mod reconstruct;
pub mod sample;
pub mod store;
pub mod uidset;
