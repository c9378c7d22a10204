//! Delivery, in the write order DESIGN.md fixes: take the next UID, write the
//! message to a temporary file, fsync, link it to `<uid>.` (never replacing a file),
//! sync the directory, and only then commit the records and cache entries.
//!
//! Messages with NUL bytes are refused rather than stripped: a store must hold what
//! was sent, and a sender can re-encode; so only damage or a restore can put a NUL on
//! disk, and reconstruct sets such files aside as BAD.

use super::existing_mailbox;
use crate::error::{Error, Result};
use crate::index::CacheEntry;
use crate::index::record::{Header, Record};
use crate::message::{self, MAX_MESSAGE_SIZE};
use crate::store::fsutil::{sync_dir, write_new_file};
use crate::store::{Store, TMP_PREFIX, message_file_name};
use serde::Serialize;
use std::os::unix::fs::MetadataExt;
use std::path::Path;

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
}

/// A message ready to be written: normalised bytes and everything the index needs.
pub struct Prepared {
    pub bytes: Vec<u8>,
    pub cache: CacheEntry,
    pub size: u64,
    pub guid: [u8; 32],
}

/// Checks and parses one message; pure, so it can run before the lock is taken.
pub fn prepare(label: &str, raw: &[u8]) -> Result<Prepared> {
    if let Some(at) = message::find_nul(raw) {
        return Err(Error::Refused {
            what: label.to_owned(),
            why: format!(
                "it contains a NUL byte at offset {at}; IMAP cannot carry it (re-encode the message, e.g. as base64)"
            ),
        });
    }
    let bytes = message::to_crlf(raw).into_owned();
    if bytes.len() > MAX_MESSAGE_SIZE {
        return Err(Error::Refused {
            what: label.to_owned(),
            why: format!("it is larger than {MAX_MESSAGE_SIZE} bytes"),
        });
    }
    let parsed = crate::imap::build(&bytes);
    Ok(Prepared {
        guid: *blake3::hash(&bytes).as_bytes(),
        size: parsed.size,
        cache: CacheEntry {
            body_offset: parsed.header_size_physical,
            header_size: parsed.header_size,
            body_size: parsed.body_size,
            envelope: parsed.envelope,
            bodystructure: parsed.bodystructure,
            body: parsed.body,
        },
        bytes,
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
        file_mtime_ns: (meta.mtime() * 1_000_000_000 + meta.mtime_nsec()).into(),
        ..Record::default()
    }
}

pub fn deliver(
    store: &Store,
    mailbox: &str,
    inputs: Vec<Input>,
) -> Result<(String, Vec<Delivered>)> {
    let (name, dir) = existing_mailbox(store, mailbox)?;
    let mut results: Vec<Delivered> = Vec::with_capacity(inputs.len());
    let mut ready = Vec::new();
    for input in inputs {
        match prepare(&input.label, &input.bytes) {
            Ok(p) => {
                results.push(Delivered {
                    source: input.label,
                    uid: None,
                    error: None,
                });
                ready.push((results.len() - 1, p));
            }
            Err(e) => results.push(Delivered {
                source: input.label,
                uid: None,
                error: Some(e.to_string()),
            }),
        }
    }
    if ready.is_empty() {
        return Ok((name.to_string(), results));
    }
    let (_lock, index) = super::open_for_write(store, &name, &dir)?;
    let mut header = index.header()?;
    let now = crate::db::now_unix();
    let mut written = Vec::with_capacity(ready.len());
    let outcome = (|| -> Result<()> {
        for (slot, p) in ready {
            let (uid, meta) = write_message(&dir, &mut header, &p)?;
            written.push((slot, uid, record_for(uid, &p, &meta, now, 0), p));
        }
        sync_dir(&dir)?;
        crate::faults::point("deliver-before-commit");
        index.write(|w| {
            for (_, uid, rec, p) in &mut written {
                let modseq = header.highestmodseq.get() + 1;
                header.highestmodseq = modseq.into();
                rec.modseq = modseq.into();
                w.put_record(rec)?;
                w.put_cache(*uid, &p.cache)?;
                header.exists = (header.exists.get() + 1).into();
                header.total_size = (header.total_size.get() + p.size).into();
            }
            w.set_header(&header)
        })
    })();
    if let Err(e) = outcome {
        // Reported as not delivered, so the sender will try again: take back the
        // files already linked, or reconstruct would add them and the retry would
        // deliver them twice (a disk that filled up must leave the store as it was).
        for (_, uid, _, _) in &written {
            let _ = std::fs::remove_file(dir.join(message_file_name(*uid)));
        }
        let _ = sync_dir(&dir);
        return Err(e);
    }
    crate::faults::point("deliver-after-commit");
    for (slot, uid, _, _) in written {
        results[slot].uid = Some(uid);
    }
    Ok((name.to_string(), results))
}

/// Writes one message file under the next free UID and advances UIDNEXT in `header`
/// (in memory; the caller commits it).
fn write_message(
    dir: &Path,
    header: &mut Header,
    p: &Prepared,
) -> Result<(u32, std::fs::Metadata)> {
    loop {
        let uid = header.uidnext.get();
        if uid == u32::MAX {
            return Err(Error::Mailbox {
                mailbox: dir.display().to_string(),
                what: "UIDs are exhausted; the mailbox must be recreated".into(),
            });
        }
        let tmp = dir.join(format!("{TMP_PREFIX}{uid}.{}", std::process::id()));
        let dest = dir.join(message_file_name(uid));
        header.uidnext = (uid + 1).into();
        // A file already there was left by a delivery that never committed: keep it
        // for reconstruct and take the next UID.
        if write_new_file(&tmp, &dest, &p.bytes)? {
            let meta = std::fs::metadata(&dest).map_err(|e| Error::io(&dest, "stat", e))?;
            return Ok((uid, meta));
        }
    }
}
