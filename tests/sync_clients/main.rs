//! Real synchronising clients against `msgstore serve`, and the proof that a repaired
//! store makes them download nothing they already had. A test whose tool is missing
//! says `SKIPPED <test>: <why>` on stderr and passes.
//!
//! - `mbsync`: isync over `Tunnel` (`serve --stdio`) and over TCP with LOGIN, two-way;
//! - `getmail`: getmail6's SimpleIMAPRetriever with `read_all = false`;
//! - `interimap`: interimap between msgstore and a second msgstore store;
//! - `repair`: each kind of damage, `reconstruct`, and what the clients fetch again;
//!   plus an imaplib session in IDLE while the index is rebuilt under it.

#[allow(dead_code)]
#[path = "../imap_clients/harness.rs"]
mod harness;

mod clients;
mod getmail;
mod interimap;
mod mbsync;
mod repair;
