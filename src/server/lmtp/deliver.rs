//! The store's side of an LMTP session, blocking (file locks, redb): looking up
//! a recipient and delivering a message to one. The driver runs these with
//! `spawn_blocking`.

use super::Context;
use super::session::{Recipient, Reply, Resolved};
use crate::error::{Error, Fault};
use crate::ops::deliver::prepare;
use crate::ops::open::{Append, Appended};
use crate::store::names::{MailboxName, USERS_ROOT};

/// RCPT TO: the address's local part names a user (`user+folder` that user's
/// folder, when it exists); a user at or over quota, or whom the announced
/// SIZE would take over it, is refused now, before the message is sent.
pub fn resolve(ctx: &Context, address: &str, size_hint: u64) -> Resolved {
    let refuse = |r: Reply| Resolved::Refuse(r);
    // The domain is the MTA's business: it routed the message here.
    let local = match address.rsplit_once('@') {
        Some((l, _)) => l,
        None => address,
    };
    // `<postmaster>` and the null path both come as an empty address (smtp-proto).
    let local = if local.is_empty() {
        "postmaster"
    } else {
        local
    };
    let found = match find(ctx, local) {
        Ok(f) => f,
        Err(e) => return refuse(store_trouble(&e, address)),
    };
    let Some((user, folder)) = found else {
        return refuse(Reply::new(
            550,
            "5.1.1",
            format!("<{address}>: no such user here"),
        ));
    };
    match crate::ops::quota::usage(&ctx.store, &user) {
        Ok(u) if u.full() => refuse(Reply::new(
            552,
            "5.2.2",
            format!("<{address}>: mailbox full (over quota)"),
        )),
        Ok(u) if u.would_exceed(size_hint) => refuse(Reply::new(
            552,
            "5.2.2",
            format!("<{address}>: a message of {size_hint} bytes would exceed the quota"),
        )),
        Ok(_) => Resolved::Accept(Recipient {
            address: address.to_owned(),
            user,
            folder,
        }),
        Err(Error::UnknownUser(_)) => refuse(Reply::new(
            550,
            "5.1.1",
            format!("<{address}>: no such user here"),
        )),
        Err(e) => refuse(store_trouble(&e, address)),
    }
}

/// The user and the folder a local part names: the whole local part as a user
/// first (a user may have `+` in their name), else `user+folder`.
fn find(ctx: &Context, local: &str) -> crate::error::Result<Option<(String, Option<String>)>> {
    if let Some(user) = crate::ops::user::find(&ctx.store, local)? {
        return Ok(Some((user, None)));
    }
    let Some((user, folder)) = local.split_once('+') else {
        return Ok(None);
    };
    let Some(user) = crate::ops::user::find(&ctx.store, user)? else {
        return Ok(None);
    };
    let folder = folder_of(ctx, &user, folder).map(|_| folder.to_owned());
    Ok(Some((user, folder)))
}

/// `user+folder`'s mailbox, if the folder exists (names are exact).
fn folder_of(ctx: &Context, user: &str, folder: &str) -> Option<MailboxName> {
    if folder.is_empty() {
        return None;
    }
    let name = MailboxName::parse(&format!("{USERS_ROOT}/{user}/{folder}")).ok()?;
    ctx.store.has_mailbox_dir(&name).then_some(name)
}

/// Delivers one message to each recipient, each on its own: one reply each,
/// `250` only once the message is committed (append's write order: the file
/// fsynced and linked, the directory synced, then the index committed).
pub fn deliver(
    ctx: &Context,
    peer: &str,
    from: &str,
    rcpts: &[Recipient],
    msg: &[u8],
) -> Vec<Reply> {
    let refuse_all = |r: Reply| vec![r; rcpts.len()];
    if let Some(at) = crate::message::find_nul(msg) {
        let r = Reply::new(
            554,
            "5.6.0",
            format!(
                "message refused: it contains a NUL byte at offset {at}; send it encoded (base64)"
            ),
        );
        for rcpt in rcpts {
            ctx.log_line(
                peer,
                &format!("<{from}> -> <{}>: refused: NUL byte at {at}", rcpt.address),
            );
        }
        return refuse_all(r);
    }
    if msg.iter().all(|b| b.is_ascii_whitespace()) {
        for rcpt in rcpts {
            ctx.log_line(
                peer,
                &format!("<{from}> -> <{}>: refused: empty message", rcpt.address),
            );
        }
        return refuse_all(Reply::new(554, "5.6.0", "message refused: it is empty"));
    }
    rcpts
        .iter()
        .map(|rcpt| match deliver_one(ctx, from, rcpt, msg) {
            Ok((mailbox, a, size)) => {
                ctx.log_line(
                    peer,
                    &format!(
                        "<{from}> -> <{}>: delivered to {mailbox} as UID {}, {size} bytes",
                        rcpt.address, a.uid
                    ),
                );
                Reply::new(250, "2.0.0", format!("<{}> delivered", rcpt.address))
            }
            Err(e) => {
                let r = delivery_error(&e, &rcpt.address);
                ctx.log_line(
                    peer,
                    &format!(
                        "<{from}> -> <{}>: not delivered: {} {}: {e}",
                        rcpt.address, r.code, r.status
                    ),
                );
                r
            }
        })
        .collect()
}

/// What real LMTP servers add (Dovecot's `lmtp` does the same): `Return-Path:`,
/// which RFC 5321 4.4 asks of the final delivery, with MAIL FROM's address, and
/// `Delivered-To:` with the recipient's, so a user sees which of their addresses
/// the copy came to and a forwarding loop shows. No `Received:`: the MTA's own
/// records this hop already.
fn with_trace_headers(from: &str, rcpt: &str, msg: &[u8]) -> Vec<u8> {
    let clean = |s: &str| -> String { s.chars().filter(|c| !c.is_control()).collect() };
    let mut out = Vec::with_capacity(msg.len() + 64 + from.len() + rcpt.len());
    out.extend_from_slice(format!("Return-Path: <{}>\r\n", clean(from)).as_bytes());
    out.extend_from_slice(format!("Delivered-To: {}\r\n", clean(rcpt)).as_bytes());
    out.extend_from_slice(msg);
    out
}

/// One recipient: the message with its trace headers, into the folder (or, if
/// it went away meanwhile, the INBOX). The one call that touches a mailbox, so
/// the server can give its shared handle instead ([`Context::open`]).
fn deliver_one(
    ctx: &Context,
    from: &str,
    rcpt: &Recipient,
    msg: &[u8],
) -> crate::error::Result<(MailboxName, Appended, u64)> {
    let bytes = with_trace_headers(from, &rcpt.address, msg);
    let prepared = prepare(&format!("message for <{}>", rcpt.address), &bytes)?;
    drop(bytes);
    let size = prepared.size;
    let inbox = MailboxName::parse(&format!("{USERS_ROOT}/{}", rcpt.user))?;
    let target = rcpt
        .folder
        .as_deref()
        .and_then(|f| folder_of(ctx, &rcpt.user, f))
        .unwrap_or(inbox);
    let mbox = (ctx.open)(&target)?;
    let mut done = mbox.append(vec![Append::new(prepared)])?;
    (ctx.delivered)(&target);
    let a = done.pop().ok_or_else(|| Error::Mailbox {
        mailbox: target.to_string(),
        what: "the append reported no message (a bug)".into(),
    })?;
    Ok((target, a, size))
}

/// A store that cannot answer: `4xx`, the MTA keeps the message and retries.
fn store_trouble(e: &Error, address: &str) -> Reply {
    if e.is_busy() {
        return Reply::new(
            451,
            "4.2.0",
            format!("<{address}>: mailbox busy, try again later"),
        );
    }
    match e {
        Error::Io { source, .. }
        | Error::Db {
            fault: Fault::Os(source),
            ..
        } if matches!(
            source.kind(),
            std::io::ErrorKind::StorageFull | std::io::ErrorKind::QuotaExceeded
        ) =>
        {
            Reply::new(452, "4.3.1", "mail system full, try again later")
        }
        _ => Reply::new(
            451,
            "4.3.0",
            "local error in processing, try again later (the server's log says what)",
        ),
    }
}

/// How a delivery's error is answered.
pub fn delivery_error(e: &Error, address: &str) -> Reply {
    match e {
        Error::OverQuota { .. } => Reply::new(
            552,
            "5.2.2",
            format!("<{address}>: mailbox full: this message would exceed the quota"),
        ),
        Error::Refused { why, .. } => Reply::new(554, "5.6.0", format!("message refused: {why}")),
        // The user was deleted after RCPT.
        Error::UnknownMailbox { .. } | Error::UnknownUser(_) => {
            Reply::new(550, "5.1.1", format!("<{address}>: no such user here"))
        }
        _ => store_trouble(e, address),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn errors_are_answered_so_that_the_mta_retries_what_can_succeed() {
        let code = |e: Error| {
            let r = delivery_error(&e, "joe@x");
            (r.code, r.status)
        };
        assert_eq!(code(Error::MailboxBusy("joe".into())), (451, "4.2.0"));
        assert_eq!(code(Error::ListBusy), (451, "4.2.0"));
        assert_eq!(
            code(Error::OverQuota {
                user: "joe".into(),
                detail: String::new()
            }),
            (552, "5.2.2")
        );
        assert_eq!(
            code(Error::Refused {
                what: "m".into(),
                why: "big".into()
            }),
            (554, "5.6.0")
        );
        let full = std::io::Error::from_raw_os_error(libc::ENOSPC);
        assert_eq!(code(Error::io("/x", "write", full)), (452, "4.3.1"));
        let eio = std::io::Error::from_raw_os_error(libc::EIO);
        assert_eq!(code(Error::io("/x", "write", eio)), (451, "4.3.0"));
        assert_eq!(
            code(Error::db("/i", crate::error::DbKind::Index, Fault::Busy)),
            (451, "4.2.0")
        );
        assert_eq!(code(Error::unknown_mailbox("joe")), (550, "5.1.1"));
    }

    #[test]
    fn trace_headers_go_first_without_control_characters() {
        let m = with_trace_headers("a@b\r\nX: y", "joe@x", b"Subject: s\r\n\r\nbody\r\n");
        assert_eq!(
            m,
            b"Return-Path: <a@bX: y>\r\nDelivered-To: joe@x\r\nSubject: s\r\n\r\nbody\r\n"
        );
        let null = with_trace_headers("", "joe@x", b"S: s\r\n\r\n");
        assert!(null.starts_with(b"Return-Path: <>\r\n"));
    }
}
