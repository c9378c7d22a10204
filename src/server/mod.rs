//! The server (`msgstore serve`): the store's own IMAP front end. The protocol layer
//! (`imap::proto`) is pure; the sessions that touch the store sit above it.

pub mod imap;
pub mod lmtp;
