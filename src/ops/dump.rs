//! `dump`: the index and cache of a mailbox, for people and tests. Reads through a
//! read-only handle under the shared mailbox lock; changes nothing.

use super::flags::flag_names;
use super::open::OpenMailbox;
use crate::error::{DbKind, Error, Fault, Result};
use crate::index::{self, Reader};
use crate::message::imap_date;
use crate::store::Store;
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
    /// CONDSTORE's MODSEQ of the message's last change.
    pub modseq: u64,
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
    OpenMailbox::open(store, mailbox)?.dump()
}

impl OpenMailbox {
    /// The index and cache, read in one transaction under the shared lock.
    pub fn dump(&self) -> Result<Dump> {
        let _l = self.lock_shared()?;
        let path = self.index_path();
        let reader = Reader::open(&path)?;
        let state = reader.load()?;
        let uids: Vec<u32> = state.records.keys().copied().collect();
        let mut messages = Vec::with_capacity(uids.len());
        reader.each_cache(&uids, false, |uid, cache| {
            let cache = cache.ok_or_else(|| {
                Error::db(
                    &path,
                    DbKind::Index,
                    Fault::Damaged(format!("UID {uid} has no cache entry")),
                )
            })?;
            let Some(r) = state.records.get(&uid) else {
                return Ok(());
            };
            let date = imap_date(r.internal_date.get(), r.internal_date_zone.get());
            messages.push(DumpMessage {
                uid,
                flags: flag_names(r, &state.keywords),
                internaldate: date.trim_matches('"').to_owned(),
                size: r.size.get(),
                modseq: r.modseq.get(),
                guid: r.guid_hex(),
                strings: ImapStrings::new(&cache),
            });
            Ok(())
        })?;
        Ok(Dump {
            mailbox: self.name().to_string(),
            uidvalidity: state.header.uidvalidity.get(),
            uidnext: state.header.uidnext.get(),
            highestmodseq: state.header.highestmodseq.get(),
            messages,
        })
    }
}
