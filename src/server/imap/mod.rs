//! IMAP4rev1 (RFC 3501) and the extensions real clients use. `proto` turns bytes
//! into typed commands and builds responses; it knows nothing of the store.

pub mod proto;
