//! The IMAP front end: one connection's loop ([`serve_connection`]), the session
//! state machine it drives, and the pure protocol layer below both.
//!
//! - [`proto`]: bytes to typed commands, and the building blocks of replies;
//! - `session`: the state machine and the dispatch of commands;
//! - `selected`: the selected mailbox as the client knows it, and its updates;
//! - `names`: namespaces, and which store mailbox a client's name means;
//! - `mailboxes`, `messages`, `fetch`, `search`: the commands;
//! - `auth`: password checks and penalties; `out`: streaming replies.
//!
//! Threads: the connection's I/O is async (thousands of idle sessions cost a
//! task each); each command runs on a blocking thread, because store operations
//! take file locks and read files, and streams its replies back through a
//! bounded channel.

mod auth;
mod fetch;
mod mailboxes;
mod messages;
mod names;
mod out;
pub mod proto;
mod quota;
mod search;
mod selected;
mod session;
#[cfg(test)]
mod testing;

pub use auth::Penalties;
pub use session::Peer;

use crate::server::hub::Hub;
use crate::store::Store;
use out::Out;
use proto::{Event, Framer, LineEvent};
use session::{After, Done, Session};
use std::sync::Arc;
use std::time::Duration;
use tokio::io::{AsyncRead, AsyncReadExt, AsyncWrite, AsyncWriteExt};
use tokio::sync::{mpsc, watch};

/// What every session of one server shares.
pub struct Context {
    pub store: Store,
    pub hub: Arc<Hub>,
    /// For STARTTLS; `None`: no certificate was given.
    pub tls: Option<Arc<rustls::ServerConfig>>,
    pub penalties: Penalties,
}

/// A client that says nothing this long before logging in is disconnected.
const LOGIN_TIMEOUT: Duration = Duration::from_secs(60);
/// RFC 3501 5.4: an idle authenticated client, at least 30 minutes.
const AUTOLOGOUT: Duration = Duration::from_secs(31 * 60);
/// A client that takes none of our replies for this long is gone: its session
/// ends instead of holding a thread and a buffer.
const WRITE_TIMEOUT: Duration = Duration::from_secs(5 * 60);

async fn write_timed(io: &mut Box<dyn Io>, bytes: &[u8]) -> std::io::Result<()> {
    match tokio::time::timeout(WRITE_TIMEOUT, io.write_all(bytes)).await {
        Ok(r) => r,
        Err(_) => Err(std::io::Error::new(
            std::io::ErrorKind::TimedOut,
            "the client read nothing for 5 minutes",
        )),
    }
}

/// One log line on stderr: the time, the peer, the user, what happened.
pub fn log(peer: &Peer, user: Option<&str>, what: &str) {
    crate::server::log_line("imap", &peer.addr, user, what);
}

/// A stream a session can run on: TCP, TLS, a unix socket, stdin and stdout.
pub trait Io: AsyncRead + AsyncWrite + Unpin + Send {}
impl<T: AsyncRead + AsyncWrite + Unpin + Send> Io for T {}

/// Serves one connection until the client logs out, goes away, times out, or the
/// server shuts down (`shutdown` turns true: `* BYE`).
pub async fn serve_connection(
    io: Box<dyn Io>,
    ctx: Arc<Context>,
    peer: Peer,
    preauth: Option<String>,
    shutdown: watch::Receiver<bool>,
) {
    let addr = peer.addr.clone();
    let mut conn = Conn {
        io,
        framer: Framer::new(proto::Limits::default()),
        shutdown,
        ctx: ctx.clone(),
    };
    let session = Box::new(Session::new(ctx, peer, preauth));
    let user = session.user().map(str::to_owned);
    match conn.run(session).await {
        Ok(()) => {}
        Err(e) if e.kind() == std::io::ErrorKind::UnexpectedEof => {}
        Err(e) => crate::server::log_line(
            "imap",
            &addr,
            user.as_deref(),
            &format!("connection error: {e}"),
        ),
    }
}

struct Conn {
    io: Box<dyn Io>,
    framer: Framer,
    shutdown: watch::Receiver<bool>,
    ctx: Arc<Context>,
}

/// Runs `f` on a blocking thread with the session, writing its replies as they
/// come; gives the session back with the outcome and what is left to write.
async fn on_thread<F>(
    io: &mut Box<dyn Io>,
    session: Box<Session>,
    f: F,
) -> std::io::Result<(Box<Session>, Done, Vec<u8>)>
where
    F: FnOnce(&mut Session, &mut Out) -> Done + Send + 'static,
{
    let (tx, mut rx) = mpsc::channel::<Vec<u8>>(4);
    let job = tokio::task::spawn_blocking(move || {
        let mut s = session;
        let mut out = Out::streaming(tx);
        let done = f(&mut s, &mut out);
        let rest = out.take();
        (s, done, rest)
    });
    while let Some(piece) = rx.recv().await {
        write_timed(io, &piece).await?;
    }
    match job.await {
        Ok(r) => Ok(r),
        Err(e) => Err(std::io::Error::other(format!("session failed: {e}"))),
    }
}

enum Flow {
    Go(Box<Session>),
    Close,
}

impl Conn {
    async fn write(&mut self, bytes: &[u8]) -> std::io::Result<()> {
        write_timed(&mut self.io, bytes).await?;
        self.io.flush().await
    }

    async fn bye(&mut self, msg: &str) -> std::io::Result<()> {
        self.write(format!("* BYE {msg}\r\n").as_bytes()).await
    }

    async fn run(&mut self, session: Box<Session>) -> std::io::Result<()> {
        let mut greeting = Vec::new();
        session.greeting(&mut greeting);
        self.write(&greeting).await?;
        self.framer.set_limits(session.limits());
        let mut session = session;
        let mut buf = vec![0u8; 16 * 1024];
        loop {
            loop {
                match self.framer.next() {
                    Event::NeedMore => break,
                    Event::Command(bytes) => {
                        let parsed = proto::parse(&bytes);
                        drop(bytes);
                        let (s, done, rest) =
                            on_thread(&mut self.io, session, move |s, out| s.run(parsed, out))
                                .await?;
                        match self.after(s, done, rest).await? {
                            Flow::Go(s) => session = s,
                            Flow::Close => return Ok(()),
                        }
                        self.framer.set_limits(session.limits());
                    }
                    Event::Literal { nonsync, .. } => {
                        if !nonsync {
                            self.framer.accept_literal();
                            self.write(b"+ Ready for literal data\r\n").await?;
                        }
                    }
                    Event::TooBig { tag, size } => {
                        let t = tag.as_deref().unwrap_or("*");
                        self.write(
                            format!(
                                "{t} NO [TOOBIG] A literal of {size} octets is over the limit\r\n"
                            )
                            .as_bytes(),
                        )
                        .await?;
                    }
                    Event::LineTooLong { tag } => {
                        let t = tag.as_deref().unwrap_or("*");
                        self.write(format!("{t} BAD Command line too long\r\n").as_bytes())
                            .await?;
                        if session.bad_command() {
                            return self.bye("Too many invalid commands").await;
                        }
                    }
                    Event::Bad { tag, reason } => {
                        let t = tag.as_deref().unwrap_or("*");
                        self.write(format!("{t} BAD {reason}\r\n").as_bytes())
                            .await?;
                        if session.bad_command() {
                            return self.bye("Too many invalid commands").await;
                        }
                    }
                }
            }
            let timeout = if session.user().is_some() {
                AUTOLOGOUT
            } else {
                LOGIN_TIMEOUT
            };
            let n = tokio::select! {
                r = self.io.read(&mut buf) => r?,
                _ = self.shutdown.changed() => {
                    return self.bye("Server shutting down").await;
                }
                _ = tokio::time::sleep(timeout) => {
                    return self.bye("Autologout; idle for too long").await;
                }
            };
            if n == 0 {
                return Ok(());
            }
            self.framer.feed(&buf[..n]);
        }
    }

    /// What a command's outcome asks of the connection.
    async fn after(
        &mut self,
        session: Box<Session>,
        done: Done,
        rest: Vec<u8>,
    ) -> std::io::Result<Flow> {
        if let Some(d) = done.delay {
            tokio::time::sleep(d).await;
        }
        self.write(&rest).await?;
        match done.after {
            After::Continue => Ok(Flow::Go(session)),
            After::Close => Ok(Flow::Close),
            After::StartTls => self.start_tls(session).await,
            After::Idle { tag } => self.idle(session, tag).await,
            After::Authenticate { tag } => self.authenticate(session, tag).await,
        }
    }

    async fn start_tls(&mut self, mut session: Box<Session>) -> std::io::Result<Flow> {
        let Some(cfg) = self.ctx.tls.clone() else {
            return Ok(Flow::Close);
        };
        // Anything the client sent after STARTTLS was sent in the clear: drop it
        // (the plaintext command injection of CVE-2011-0411 and kin).
        self.framer.clear_input();
        let plain = std::mem::replace(
            &mut self.io,
            Box::new(tokio::io::join(tokio::io::empty(), tokio::io::sink())),
        );
        let tls = tokio_rustls::TlsAcceptor::from(cfg).accept(plain).await?;
        self.io = Box::new(tls);
        session.set_tls();
        Ok(Flow::Go(session))
    }

    /// Reads one line (AUTHENTICATE responses, IDLE's DONE).
    async fn line(
        &mut self,
        buf: &mut [u8],
    ) -> std::io::Result<Option<Result<Vec<u8>, &'static str>>> {
        loop {
            match self.framer.next_line() {
                LineEvent::Line(l) => return Ok(Some(Ok(l))),
                LineEvent::TooLong => return Ok(Some(Err("line too long"))),
                LineEvent::Bad(why) => return Ok(Some(Err(why))),
                LineEvent::NeedMore => {}
            }
            let n = tokio::select! {
                r = self.io.read(buf) => r?,
                _ = self.shutdown.changed() => return Ok(None),
                _ = tokio::time::sleep(LOGIN_TIMEOUT) => return Ok(None),
            };
            if n == 0 {
                return Err(std::io::ErrorKind::UnexpectedEof.into());
            }
            self.framer.feed(&buf[..n]);
        }
    }

    async fn authenticate(&mut self, session: Box<Session>, tag: String) -> std::io::Result<Flow> {
        let mut buf = vec![0u8; 4096];
        let line = match self.line(&mut buf).await? {
            None => {
                self.bye("Server shutting down").await?;
                return Ok(Flow::Close);
            }
            Some(Err(why)) => {
                self.write(format!("{tag} BAD {why}\r\n").as_bytes())
                    .await?;
                return Ok(Flow::Go(session));
            }
            Some(Ok(l)) => l,
        };
        let (s, done, rest) = on_thread(&mut self.io, session, move |s, out| {
            s.auth_response(&tag, &line, out)
        })
        .await?;
        Box::pin(self.after(s, done, rest)).await
    }

    async fn idle(&mut self, session: Box<Session>, tag: String) -> std::io::Result<Flow> {
        let mut watch = session.idle_watch();
        if let Some(w) = watch.as_mut() {
            w.mark_unchanged();
        }
        let mut session = session;
        let mut buf = vec![0u8; 4096];
        let deadline = tokio::time::sleep(AUTOLOGOUT);
        tokio::pin!(deadline);
        loop {
            match self.framer.next_line() {
                LineEvent::Line(l) => {
                    if !proto::is_idle_done(&l) {
                        self.write(format!("{tag} BAD Expected DONE\r\n").as_bytes())
                            .await?;
                        return Ok(Flow::Go(session));
                    }
                    let (s, done, rest) =
                        on_thread(&mut self.io, session, move |s, out| s.idle_done(&tag, out))
                            .await?;
                    return Box::pin(self.after(s, done, rest)).await;
                }
                LineEvent::TooLong | LineEvent::Bad(_) => {
                    self.write(format!("{tag} BAD Expected DONE\r\n").as_bytes())
                        .await?;
                    return Ok(Flow::Go(session));
                }
                LineEvent::NeedMore => {}
            }
            tokio::select! {
                r = self.io.read(&mut buf) => {
                    let n = r?;
                    if n == 0 {
                        return Ok(Flow::Close);
                    }
                    self.framer.feed(&buf[..n]);
                }
                changed = changed(&mut watch) => {
                    if !changed {
                        watch = None;
                        continue;
                    }
                    let (s, done, rest) = on_thread(&mut self.io, session, |s, out| {
                        let keep = s.idle_update(out);
                        Done {
                            after: if keep { After::Continue } else { After::Close },
                            delay: None,
                        }
                    })
                    .await?;
                    self.write(&rest).await?;
                    if matches!(done.after, After::Close) {
                        return Ok(Flow::Close);
                    }
                    session = s;
                }
                _ = self.shutdown.changed() => {
                    self.bye("Server shutting down").await?;
                    return Ok(Flow::Close);
                }
                _ = &mut deadline => {
                    self.bye("Autologout; idle for too long").await?;
                    return Ok(Flow::Close);
                }
            }
        }
    }
}

/// Waits for a change; `false` when nothing can change any more.
async fn changed(w: &mut Option<watch::Receiver<u64>>) -> bool {
    match w {
        Some(w) => w.changed().await.is_ok(),
        None => std::future::pending().await,
    }
}
