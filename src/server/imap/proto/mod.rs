//! The IMAP protocol layer, pure: bytes in, typed commands out; building blocks
//! for the bytes that go back. No I/O, no async, no store: the session owns state,
//! this module owns syntax.

mod chars;
pub mod framer;
pub mod utf7;
