//! `dump`: the index and cache of a mailbox, for people and tests. Reads through a
//! read-only handle under the shared mailbox lock; changes nothing.

use super::{existing_mailbox, lock_mailbox};
use crate::error::{Error, Result};
use crate::index;
use crate::message::imap_date;
use crate::ops::flags::flag_names;
use crate::store::lock::{Mode, Wait};
use crate::store::{INDEX_FILE, Store};
use serde::Serialize;

#[derive(Debug, Serialize)]
pub struct Dump {
    pub mailbox: String,
    pub uidvalidity: u32,
    pub uidnext: u32,
    pub highestmodseq: u64,
    pub messages: Vec<DumpMessage>,
}

#[derive(Debug, Serialize)]
pub struct DumpMessage {
    pub uid: u32,
    pub flags: Vec<String>,
    /// RFC 3501 date-time, without its double quotes.
    pub internaldate: String,
    pub size: u32,
    pub guid: String,
    #[serde(flatten)]
    pub strings: ImapStrings,
}

/// The three cached IMAP strings. JSON strings carry UTF-8 only, so a value with
/// other bytes (8-bit headers sent raw) also comes as `<field>_b64`, its exact bytes.
#[derive(Debug, Serialize)]
pub struct ImapStrings {
    pub envelope: String,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub envelope_b64: Option<String>,
    pub bodystructure: String,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub bodystructure_b64: Option<String>,
    pub body: String,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub body_b64: Option<String>,
}

fn text(bytes: &[u8]) -> (String, Option<String>) {
    use base64::Engine;
    match std::str::from_utf8(bytes) {
        Ok(s) => (s.to_owned(), None),
        Err(_) => (
            String::from_utf8_lossy(bytes).into_owned(),
            Some(base64::engine::general_purpose::STANDARD.encode(bytes)),
        ),
    }
}

impl ImapStrings {
    pub fn new(c: &index::CacheEntry) -> ImapStrings {
        let (envelope, envelope_b64) = text(&c.envelope);
        let (bodystructure, bodystructure_b64) = text(&c.bodystructure);
        let (body, body_b64) = text(&c.body);
        ImapStrings {
            envelope,
            envelope_b64,
            bodystructure,
            bodystructure_b64,
            body,
            body_b64,
        }
    }
}

pub fn dump(store: &Store, mailbox: &str) -> Result<Dump> {
    let (name, dir) = existing_mailbox(store, mailbox)?;
    let _lock = lock_mailbox(
        store,
        &name,
        Mode::Shared,
        Wait::default_for_writers(),
        false,
    )?;
    let path = dir.join(INDEX_FILE);
    if !path.exists() {
        return Err(Error::db(
            &path,
            "index file is missing",
            "run `msgstore reconstruct` on this mailbox",
        ));
    }
    let (state, db) = index::load_read_only(&path)?;
    let mut messages = Vec::with_capacity(state.records.len());
    for r in state.records.values() {
        let uid = r.uid.get();
        let cache = index::cache_read_only(&db, &path, uid)?.ok_or_else(|| {
            Error::db(
                &path,
                format!("UID {uid} has no cache entry"),
                "run `msgstore reconstruct` on this mailbox",
            )
        })?;
        let date = imap_date(r.internal_date.get(), r.internal_date_zone.get());
        messages.push(DumpMessage {
            uid,
            flags: flag_names(r, &state.user_flags),
            internaldate: date.trim_matches('"').to_owned(),
            size: r.size.get(),
            guid: r.guid_hex(),
            strings: ImapStrings::new(&cache),
        });
    }
    Ok(Dump {
        mailbox: name.to_string(),
        uidvalidity: state.header.uidvalidity.get(),
        uidnext: state.header.uidnext.get(),
        highestmodseq: state.header.highestmodseq.get(),
        messages,
    })
}
