//! Delivery: checking and parsing messages, then appending them through
//! [`OpenMailbox::append`], the one delivery path of the CLI, LMTP, IMAP APPEND and
//! import.
//!
//! Messages with NUL bytes are refused rather than stripped: a store must hold what
//! was sent, and a sender can re-encode; so only damage or a restore can put a NUL on
//! disk, and reconstruct sets such files aside as BAD.

use super::open::{Append, OpenMailbox};
use crate::error::{Error, Result};
use crate::index::CacheEntry;
use crate::index::record::Record;
use crate::message::{self, MAX_MESSAGE_SIZE};
use crate::store::Store;
use serde::Serialize;
use std::os::unix::fs::MetadataExt;

/// One message to deliver: where it came from (for messages) and its bytes.
pub struct Input {
    pub label: String,
    pub bytes: Vec<u8>,
}

#[derive(Debug, Serialize)]
pub struct Delivered {
    pub source: String,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub uid: Option<u32>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub error: Option<String>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub warning: Option<String>,
}

/// A message ready to be written: normalised bytes and everything the index needs.
pub struct Prepared {
    pub bytes: Vec<u8>,
    pub cache: CacheEntry,
    pub size: u64,
    pub guid: [u8; 32],
    /// What was done to the input that the sender should know.
    pub note: Option<String>,
}

/// Checks and parses one message; pure, so it can run before any lock is taken.
/// Refuses what is not a message (empty input, NUL bytes, more than the index can
/// count); an mbox `From ` line at the start is envelope, not message, and is left
/// out, with a note (`import` reads an mbox file as the messages it holds).
pub fn prepare(label: &str, raw: &[u8]) -> Result<Prepared> {
    let refuse = |why: String| Error::Refused {
        what: label.to_owned(),
        why,
    };
    if raw.iter().all(|b| b.is_ascii_whitespace()) {
        return Err(refuse(
            "it is empty; a message has at least a header".into(),
        ));
    }
    if let Some(at) = message::find_nul(raw) {
        return Err(refuse(format!(
            "it contains a NUL byte at offset {at}; IMAP cannot carry it (re-encode the message, e.g. as base64)"
        )));
    }
    let mut note = None;
    let mut raw = raw;
    if raw.starts_with(b"From ") {
        let end = memchr::memchr(b'\n', raw).map_or(raw.len(), |i| i + 1);
        raw = &raw[end..];
        note = Some(format!(
            "{label}: starts with an mbox `From ` line, left out: delivered as one message; to add each message of an mbox file, use `msgstore import MAILBOX {label}`"
        ));
        if raw.iter().all(|b| b.is_ascii_whitespace()) {
            return Err(refuse("it holds nothing but an mbox `From ` line".into()));
        }
    }
    let bytes = message::to_crlf(raw).into_owned();
    if bytes.len() > MAX_MESSAGE_SIZE {
        return Err(refuse(format!(
            "it is larger than {MAX_MESSAGE_SIZE} bytes"
        )));
    }
    let parsed = crate::mime::build(&bytes);
    Ok(Prepared {
        guid: *blake3::hash(&bytes).as_bytes(),
        size: parsed.size,
        cache: CacheEntry::from(parsed),
        bytes,
        note,
    })
}

/// The index record for a message file now on disk.
pub fn record_for(
    uid: u32,
    p: &Prepared,
    meta: &std::fs::Metadata,
    internal_date: i64,
    modseq: u64,
) -> Record {
    Record {
        uid: uid.into(),
        internal_date: internal_date.into(),
        size: (p.size.min(u64::from(u32::MAX)) as u32).into(),
        header_size: (p.cache.header_size.min(u64::from(u32::MAX)) as u32).into(),
        file_size: meta.len().into(),
        modseq: modseq.into(),
        guid: p.guid,
        file_dev: meta.dev().into(),
        file_ino: meta.ino().into(),
        file_mtime_ns: meta
            .mtime()
            .saturating_mul(1_000_000_000)
            .saturating_add(meta.mtime_nsec())
            .into(),
        ..Record::default()
    }
}

/// Delivers `inputs` to `mailbox`: those that pass [`prepare`] in one append, the
/// others reported by name, and so are those the owner's quota has no room for.
pub fn deliver(
    store: &Store,
    mailbox: &str,
    inputs: Vec<Input>,
) -> Result<(String, Vec<Delivered>)> {
    let mbox = OpenMailbox::open(store, mailbox)?;
    let mut results: Vec<Delivered> = Vec::with_capacity(inputs.len());
    let mut ready = Vec::new();
    let mut slots = Vec::new();
    for input in inputs {
        match prepare(&input.label, &input.bytes) {
            Ok(p) => {
                slots.push(results.len());
                results.push(Delivered {
                    source: input.label,
                    uid: None,
                    error: None,
                    warning: p.note.clone(),
                });
                ready.push(Append::new(p));
            }
            Err(e) => results.push(Delivered {
                source: input.label,
                uid: None,
                error: Some(e.to_string()),
                warning: None,
            }),
        }
    }
    // Each message stands alone: over quota, those that fit are delivered.
    let fitted = mbox.append_what_fits(ready)?;
    let mut slots = slots.into_iter();
    // The appended first: zip stops at the shorter without taking a slot more.
    for (a, slot) in fitted.appended.into_iter().zip(slots.by_ref()) {
        results[slot].uid = Some(a.uid);
    }
    if let Some((e, _)) = fitted.over_quota {
        for slot in slots {
            results[slot].error = Some(format!("{}: {e}", results[slot].source));
        }
    }
    Ok((mbox.name().to_string(), results))
}
