//! Real IMAP servers and clients against `msgstore serve`. A test whose tool is
//! missing says `SKIPPED <test>: <why>` on stderr and passes.
//!
//! - `dovecot`: one scripted session side by side with Dovecot's `imap`;
//! - `imaplib`: Python's imaplib through every command and extension;
//! - `livetest`: the live test suite of the imapclient package.

mod canon;
mod dovecot;
mod harness;
mod imaplib;
mod livetest;
