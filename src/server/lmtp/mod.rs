//! LMTP (RFC 2033): delivery from an MTA. One call, [`serve_connection`], runs a
//! session on any byte stream; the server's listeners (TCP, unix sockets) accept
//! connections and call it.
//!
//! # What is offered
//! LHLO (HELO and EHLO are refused, `500 5.5.1`: LMTP is not SMTP), MAIL FROM
//! with `SIZE=` checked and `BODY=8BITMIME`, RCPT TO, DATA with dot-unstuffing,
//! BDAT (CHUNKING, RFC 3030) with LAST, RSET, NOOP, QUIT; VRFY answers `252`;
//! PIPELINING, 8BITMIME, ENHANCEDSTATUSCODES, SIZE, CHUNKING. Commands are parsed
//! by smtp-proto (Stalwart's SMTP parser, pinned); the lines are framed and the
//! replies written here (`session`).
//!
//! # Recipients
//! The local part is the user (the domain is the MTA's business): exactly as the
//! user database keys it, else the one user whose name differs only in case
//! (`ops::user::find`). `user+folder` delivers to that folder when it exists,
//! else to the INBOX; a whole local part that is a user's name wins over the
//! split. Refused at RCPT: an unknown user `550 5.1.1`; a user already at or over
//! quota, or whom MAIL FROM's SIZE would take over it, `552 5.2.2`. Disabled
//! users still receive mail (as with Dovecot): the status is about logging in.
//!
//! # After DATA (or BDAT LAST)
//! One reply per accepted recipient, in order (RFC 2033 4.2): `250` only once the
//! message is durable for that recipient ([`crate::ops::OpenMailbox::append`]'s
//! write order: fsynced file, linked, directory synced, index committed); over
//! quota `552 5.2.2`; a NUL byte `554 5.6.0` (IMAP cannot carry it); a busy
//! mailbox `451 4.2.0`, a full disk `452 4.3.1`, any other store trouble `451
//! 4.3.0` (the MTA keeps the message and retries). Each delivery gets
//! `Return-Path:` and `Delivered-To:` first, as Dovecot's LMTP adds them (see
//! `deliver`).
//!
//! # Limits
//! Command lines up to [`session::MAX_LINE`] bytes (longer: `500 5.5.2`, and the
//! rest of the line is skipped, never read as a command); messages up to
//! [`Context::max_message_size`] (larger: `552 5.3.4`, at MAIL when SIZE says so,
//! else once the data has been read); [`Context::max_recipients`] per
//! transaction (`452 4.5.3`). A message is held in memory until it is complete
//! (the store writes each message from one buffer): a client that disconnects in
//! the middle leaves nothing behind. A client silent for
//! [`Context::idle_timeout`] gets `421 4.4.2`.
//!
//! # Shutdown
//! When the `shutdown` channel turns `true`, a session waiting for a command
//! answers `421 4.3.2` and closes; one receiving a message receives it, delivers
//! it and answers it, and says `421 4.3.2` at the next command.
//!
//! # Logging
//! One line per connection (when it ends) and one per delivery, through
//! [`Context::log`] (stderr by default): `lmtp PEER: ...`.

mod deliver;
pub mod session;
#[cfg(test)]
mod tests;

use crate::error::Result;
use crate::ops::OpenMailbox;
use crate::store::Store;
use crate::store::names::MailboxName;
use session::{Reply, Session, Step};
use std::sync::Arc;
use std::time::{Duration, Instant};
use tokio::io::{AsyncRead, AsyncReadExt, AsyncWrite, AsyncWriteExt};
use tokio::sync::watch;

/// How a delivery gets the mailbox it appends to.
pub type OpenFn = dyn Fn(&MailboxName) -> Result<Arc<OpenMailbox>> + Send + Sync;
/// Where a log line goes.
pub type LogFn = dyn Fn(&str) + Send + Sync;
/// Told of each mailbox a delivery went to.
pub type DeliveredFn = dyn Fn(&MailboxName) + Send + Sync;

/// What every session of one listener shares.
pub struct Context {
    pub store: Store,
    /// The name in the greeting and in LHLO's reply.
    pub hostname: String,
    /// SIZE advertised and enforced, in bytes (at most what the store takes).
    pub max_message_size: usize,
    /// Most recipients of one transaction.
    pub max_recipients: usize,
    /// A client silent this long (for a command, or within a message) is left.
    pub idle_timeout: Duration,
    /// Opens a delivery's mailbox: by default anew for each delivery; the
    /// server gives its shared handles instead, so sessions that have the
    /// mailbox selected are told (`schema/locking.md`, rule 5).
    pub open: Arc<OpenFn>,
    /// One line per connection and per delivery; stderr by default.
    pub log: Arc<LogFn>,
    /// Called after each delivery: the server wakes the sessions in IDLE on the
    /// mailbox at once (nothing by default).
    pub delivered: Arc<DeliveredFn>,
}

/// The default SIZE: what MTAs commonly allow, well above Postfix's 10 MB default.
pub const DEFAULT_MAX_MESSAGE_SIZE: usize = 64 << 20;

impl Context {
    pub fn new(store: Store, hostname: impl Into<String>) -> Context {
        let s = store.clone();
        Context {
            store,
            hostname: hostname.into(),
            max_message_size: DEFAULT_MAX_MESSAGE_SIZE,
            max_recipients: 1000,
            // RFC 5321 4.5.3.2.7: a server waits at least 5 minutes for a command.
            idle_timeout: Duration::from_secs(300),
            open: Arc::new(move |name: &MailboxName| {
                OpenMailbox::at(&s, name.clone()).map(Arc::new)
            }),
            log: Arc::new(|line: &str| eprintln!("msgstore: {line}")),
            delivered: Arc::new(|_: &MailboxName| {}),
        }
    }

    /// Logs `what` about the connection from `peer`.
    pub fn log_line(&self, peer: &str, what: &str) {
        (self.log)(&format!("lmtp {peer}: {what}"));
    }
}

/// Bytes read at a time.
const READ_SIZE: usize = 64 << 10;

/// Runs one LMTP session on `stream` until the client quits or leaves, the
/// server shuts down (`shutdown` turns `true`), or the client is idle too long.
/// `peer` names the client in log lines. Store work (locks, redb, fsync) runs on
/// tokio's blocking pool. `Err` only for an I/O error on the stream.
pub async fn serve_connection<S>(
    mut stream: S,
    ctx: Arc<Context>,
    peer: String,
    mut shutdown: watch::Receiver<bool>,
) -> std::io::Result<()>
where
    S: AsyncRead + AsyncWrite + Unpin + Send,
{
    let started = Instant::now();
    let max = ctx.max_message_size.min(crate::message::MAX_MESSAGE_SIZE);
    let mut session = Session::new(&ctx.hostname, max, ctx.max_recipients);
    session.greet();
    let mut inbuf: Vec<u8> = Vec::with_capacity(READ_SIZE);
    let mut start = 0;
    // Once the sender is gone no signal can come: stop listening for one.
    let mut signals = true;
    let ended = loop {
        if signals && *shutdown.borrow() {
            session.begin_shutdown();
        }
        let mut input = &inbuf[start..];
        let step = session.step(&mut input);
        start = inbuf.len() - input.len();
        match step {
            Step::NeedMore => {
                debug_assert!(
                    start == inbuf.len(),
                    "the session wants more but left input"
                );
                write_out(&mut stream, &mut session).await?;
                inbuf.drain(..start);
                start = 0;
                inbuf.reserve(READ_SIZE);
                tokio::select! {
                    r = tokio::time::timeout(ctx.idle_timeout, stream.read_buf(&mut inbuf)) => {
                        match r {
                            Ok(Ok(0)) => break Ended::Left,
                            Ok(Ok(_)) => {}
                            Ok(Err(e)) => break Ended::Failed(e),
                            Err(_) => {
                                let h = ctx.hostname.clone();
                                session.close_with(&Reply::new(
                                    421,
                                    "4.4.2",
                                    format!("{h} closing: idle for too long"),
                                ));
                            }
                        }
                    }
                    c = shutdown.changed(), if signals => {
                        match c {
                            Ok(()) if *shutdown.borrow() => session.begin_shutdown(),
                            Ok(()) => {}
                            Err(_) => signals = false,
                        }
                    }
                }
            }
            Step::Resolve { address, size_hint } => {
                let c = ctx.clone();
                let r =
                    tokio::task::spawn_blocking(move || deliver::resolve(&c, &address, size_hint))
                        .await
                        .unwrap_or_else(|_| {
                            session::Resolved::Refuse(Reply::new(
                                451,
                                "4.3.0",
                                "local error in processing, try again later",
                            ))
                        });
                session.resolved(r);
            }
            Step::Deliver(job) => {
                // The replies so far first: the client may be waiting on them.
                write_out(&mut stream, &mut session).await?;
                let n = job.recipients.len();
                let c = ctx.clone();
                let p = peer.clone();
                let replies = tokio::task::spawn_blocking(move || {
                    deliver::deliver(&c, &p, &job.from, &job.recipients, &job.message)
                })
                .await
                .unwrap_or_else(|_| {
                    vec![Reply::new(451, "4.3.0", "local error in processing, try again later"); n]
                });
                session.delivered(replies);
            }
            Step::Close => {
                write_out(&mut stream, &mut session).await?;
                let _ = stream.shutdown().await;
                break Ended::Closed;
            }
        }
    };
    let s = session.stats;
    let how = match &ended {
        Ended::Closed => "closed".to_owned(),
        Ended::Left if session.in_message() => {
            "client left in the middle of a message (nothing of it delivered)".to_owned()
        }
        Ended::Left => "client left".to_owned(),
        Ended::Failed(e) => format!("connection failed: {e}"),
    };
    ctx.log_line(
        &peer,
        &format!(
            "{how}: {} messages, {} deliveries, {} refused, {:.3} s",
            s.messages,
            s.delivered,
            s.refused,
            started.elapsed().as_secs_f64()
        ),
    );
    match ended {
        Ended::Failed(e) => Err(e),
        _ => Ok(()),
    }
}

enum Ended {
    Closed,
    Left,
    Failed(std::io::Error),
}

async fn write_out<S: AsyncWrite + Unpin>(stream: &mut S, s: &mut Session) -> std::io::Result<()> {
    if !s.has_output() {
        return Ok(());
    }
    let out = s.take_output();
    stream.write_all(&out).await?;
    stream.flush().await
}
