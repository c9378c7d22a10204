//! The commands that change messages: APPEND, STORE, EXPUNGE (and UID EXPUNGE),
//! COPY and MOVE. Each is one operation of `ops` on the shared open mailbox, so
//! the other sessions hear of it at once.

use super::out::Out;
use super::proto::write::{self, Code};
use super::proto::{DateTime, Flag, Mailbox, SequenceSet, Store, StoreAction};
use super::session::{Reply, Session};
use crate::error::Error;
use crate::index::record::flag;
use crate::ops::flags::Flag as OpsFlag;
use crate::ops::open::{Append, Expunge, FlagChange};

/// IMAP flags as the store keeps them; `\Recent` cannot be set (RFC 3501 2.3.2)
/// and other backslash flags do not exist.
fn ops_flags(flags: &[Flag]) -> Result<Vec<OpsFlag>, Reply> {
    let mut out = Vec::new();
    for f in flags {
        out.push(match f {
            Flag::Answered => OpsFlag::System(flag::ANSWERED),
            Flag::Flagged => OpsFlag::System(flag::FLAGGED),
            Flag::Deleted => OpsFlag::System(flag::DELETED),
            Flag::Seen => OpsFlag::System(flag::SEEN),
            Flag::Draft => OpsFlag::System(flag::DRAFT),
            Flag::Keyword(k) => OpsFlag::Keyword(k.clone()),
            Flag::Extension(e) if e.eq_ignore_ascii_case("Recent") => continue,
            Flag::Extension(e) => {
                return Err(Reply::Bad(format!("\\{e} is not a flag")));
            }
        });
    }
    Ok(out)
}

fn system_bits(flags: &[OpsFlag]) -> (u32, Vec<String>) {
    let mut bits = 0;
    let mut kw = Vec::new();
    for f in flags {
        match f {
            OpsFlag::System(b) => bits |= b,
            OpsFlag::Keyword(k) => kw.push(k.clone()),
        }
    }
    (bits, kw)
}

/// COPYUID: the target's UIDVALIDITY, the source UIDs and the target UIDs.
pub(super) type CopyUid = (u32, Vec<u32>, Vec<u32>);

impl Session {
    fn read_write(&self) -> Result<&super::selected::Selected, Reply> {
        let sel = self
            .selected
            .as_ref()
            .ok_or_else(|| Reply::Bad("select a mailbox first".into()))?;
        if sel.read_only {
            return Err(Reply::No(
                Some(Code::ReadOnly),
                "the mailbox is open read-only (EXAMINE)".into(),
            ));
        }
        Ok(sel)
    }

    /// APPEND: gives (UIDVALIDITY, UID) for APPENDUID.
    pub(super) fn append(
        &mut self,
        m: &Mailbox,
        flags: &[Flag],
        date: Option<&DateTime>,
        message: Vec<u8>,
    ) -> Result<(u32, u32), Reply> {
        let (name, _) = self
            .mailbox_name(m)
            .map_err(|_| Reply::No(Some(Code::TryCreate), "No such mailbox".into()))?;
        let shared = self.ctx.hub.open(&name).map_err(|e| match e {
            Error::UnknownMailbox { .. } => {
                Reply::No(Some(Code::TryCreate), "No such mailbox".into())
            }
            e => Reply::Store(e),
        })?;
        let prepared =
            crate::ops::deliver::prepare("the APPEND message", &message).map_err(|e| match e {
                Error::Refused { why, .. } => Reply::No(Some(Code::Cannot), why),
                e => Reply::Store(e),
            })?;
        drop(message);
        let (system_flags, keywords) = system_bits(&ops_flags(flags)?);
        let append = Append {
            message: prepared,
            system_flags,
            keywords,
            internal_date: date.map(|d| (d.unix_seconds(), d.zone_minutes)),
        };
        let uidvalidity = shared.open.header()?.uidvalidity.get();
        let made = shared.open.append(vec![append])?;
        let uid = made.first().map_or(0, |a| a.uid);
        Ok((uidvalidity, uid))
    }

    /// EXPUNGE and UID EXPUNGE; `Ok(true)` when something was expunged.
    pub(super) fn expunge(
        &mut self,
        set: Option<&SequenceSet>,
        out: &mut Out,
    ) -> Result<bool, Reply> {
        let en = self.enabled;
        let saved = self.saved.clone();
        let sel = self.read_write()?;
        let which = match set {
            None => Expunge::Deleted,
            Some(s) => {
                let idx = sel
                    .resolve(s, true, saved.as_deref())
                    .map_err(|e| Reply::Bad(e.into()))?;
                Expunge::DeletedAmong(idx.iter().map(|&i| sel.uids[i]).collect())
            }
        };
        let gone = sel.shared.open.expunge(&which)?;
        if let Some(sel) = self.selected.as_mut() {
            sel.expunged(&gone, out, en);
        }
        Ok(!gone.is_empty())
    }

    /// STORE: gives the UIDs left alone by UNCHANGEDSINCE (for `[MODIFIED]`).
    pub(super) fn store(&mut self, s: &Store, out: &mut Out) -> Result<Vec<u32>, Reply> {
        if s.unchanged_since.is_some() {
            // RFC 7162 3.1: UNCHANGEDSINCE is a CONDSTORE-enabling command.
            self.enable_condstore(out);
        }
        let en = self.enabled;
        let saved = self.saved.clone();
        let sel = self.read_write()?;
        let idx = sel
            .resolve(&s.set, s.uid, saved.as_deref())
            .map_err(|e| Reply::Bad(e.into()))?;
        let uids: Vec<u32> = idx.iter().map(|&i| sel.uids[i]).collect();
        let flags = ops_flags(&s.flags)?;
        let change = match s.action {
            StoreAction::Replace => FlagChange {
                add: flags,
                remove: Vec::new(),
                replace: true,
            },
            StoreAction::Add => FlagChange {
                add: flags,
                remove: Vec::new(),
                replace: false,
            },
            StoreAction::Remove => FlagChange {
                add: Vec::new(),
                remove: flags,
                replace: false,
            },
        };
        if uids.is_empty() {
            return Ok(Vec::new());
        }
        let outcome = sel.shared.open.store_flags(
            |u, _| uids.binary_search(&u).is_ok(),
            &change,
            s.unchanged_since,
        )?;
        // The new flags as the client must see them: re-read the snapshot so that
        // `flags_of` sees new keywords, then answer for every message named (RFC
        // 3501 6.4.6: the FETCH replies show the flags now, changed or not).
        let Some(sel) = self.selected.as_mut() else {
            return Ok(outcome.modified);
        };
        sel.snap = sel.shared.current()?;
        // A keyword new to the mailbox is announced before the FETCH that
        // shows it, so the client knows every flag it is shown.
        sel.announce_keywords(out);
        let changed: std::collections::HashMap<u32, u64> =
            outcome.changed.iter().map(|c| (c.uid, c.modseq)).collect();
        for &uid in &uids {
            if outcome.modified.binary_search(&uid).is_ok() {
                continue;
            }
            let Some(r) = sel.record(uid).copied() else {
                continue;
            };
            let Some(seq) = sel.seq_of(uid) else { continue };
            let new = changed.get(&uid).copied();
            if let Some(m) = new {
                sel.reported(uid, m);
            }
            // .SILENT: no reply for our own change, except that a CONDSTORE
            // client is still told the new MODSEQ (RFC 7162 3.1.3).
            if s.silent && !(en.condstore && new.is_some()) {
                continue;
            }
            out.buf
                .extend_from_slice(format!("* {seq} FETCH (").as_bytes());
            let mut items: Vec<Vec<u8>> = Vec::new();
            if s.uid || en.condstore {
                items.push(format!("UID {uid}").into_bytes());
            }
            // .SILENT with CONDSTORE: the MODSEQ only, as RFC 7162 3.1.3's
            // example shows; the client knows the flags it set.
            if !s.silent {
                let mut f = b"FLAGS ".to_vec();
                f.extend_from_slice(&sel.flags_of(&r));
                items.push(f);
            }
            if en.condstore || s.unchanged_since.is_some() {
                items.push(format!("MODSEQ ({})", r.modseq.get()).into_bytes());
            }
            out.buf.extend_from_slice(&items.join(&b' '));
            out.buf.extend_from_slice(b")\r\n");
            out.maybe_flush();
        }
        let mut modified = outcome.modified;
        if !s.uid {
            // MODIFIED names message numbers for STORE, UIDs for UID STORE.
            modified = modified.iter().filter_map(|&u| sel.seq_of(u)).collect();
        }
        Ok(modified)
    }

    /// COPY and MOVE: gives (target UIDVALIDITY, source UIDs, target UIDs).
    pub(super) fn copy(
        &mut self,
        uid: bool,
        set: &SequenceSet,
        m: &Mailbox,
        mv: bool,
        out: &mut Out,
    ) -> Result<Option<CopyUid>, Reply> {
        let en = self.enabled;
        let saved = self.saved.clone();
        let sel = if mv {
            self.read_write()?
        } else {
            self.selected
                .as_ref()
                .ok_or_else(|| Reply::Bad("select a mailbox first".into()))?
        };
        let idx = sel
            .resolve(set, uid, saved.as_deref())
            .map_err(|e| Reply::Bad(e.into()))?;
        let uids: Vec<u32> = idx.iter().map(|&i| sel.uids[i]).collect();
        let from = sel.shared.clone();
        let (name, _) = self
            .mailbox_name(m)
            .map_err(|_| Reply::No(Some(Code::TryCreate), "No such mailbox".into()))?;
        let to = self.ctx.hub.open(&name).map_err(|e| match e {
            Error::UnknownMailbox { .. } => {
                Reply::No(Some(Code::TryCreate), "No such mailbox".into())
            }
            e => Reply::Store(e),
        })?;
        if uids.is_empty() {
            return Ok(None);
        }
        let (copied, gone) = if mv {
            if std::sync::Arc::ptr_eq(&from, &to) {
                return Err(Reply::No(
                    Some(Code::Cannot),
                    "source and target are the same mailbox".into(),
                ));
            }
            crate::ops::copy::move_messages(&from.open, &uids, &to.open)?
        } else {
            (
                crate::ops::copy::copy(&from.open, &uids, &to.open)?,
                Vec::new(),
            )
        };
        let (src, dst): (Vec<u32>, Vec<u32>) = copied.pairs.iter().copied().unzip();
        if mv {
            // RFC 6851: COPYUID comes in an untagged OK before the expunges.
            if !src.is_empty() {
                let c = Code::CopyUid {
                    uidvalidity: copied.uidvalidity,
                    source: &src,
                    dest: &dst,
                };
                write::status_line(&mut out.buf, None, write::Status::Ok, Some(&c), "Moved");
            }
            if let Some(sel) = self.selected.as_mut() {
                sel.expunged(&gone, out, en);
            }
            return Ok(None);
        }
        Ok(Some((copied.uidvalidity, src, dst)))
    }
}
