//! The server (`msgstore serve`): the store's own IMAP front end, on TCP (plain
//! with STARTTLS, or implicit TLS), on unix sockets, or as one pre-authenticated
//! session on stdin and stdout (`--stdio`, what mail clients' tunnel settings
//! run). The protocol layer (`imap::proto`) is pure; the sessions above it use
//! the store through `ops` and share open mailboxes through the [`hub`].
//!
//! One log line per connection, login and error goes to stderr. SIGTERM (or
//! SIGINT): no new connections, every session gets `* BYE` at its next read,
//! commands in flight finish, and the process exits 0.

pub mod hub;
pub mod imap;
pub mod lmtp;

use crate::error::{Error, Result};
use crate::store::Store;
use imap::{Context, Peer};
use std::path::{Path, PathBuf};
use std::sync::Arc;
use tokio::sync::watch;

/// Where to listen.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum Addr {
    Tcp(String),
    Unix(PathBuf),
}

impl Addr {
    /// `HOST:PORT` or `unix:PATH`.
    pub fn parse(s: &str) -> Result<Addr> {
        if let Some(p) = s.strip_prefix("unix:") {
            if p.is_empty() {
                return Err(Error::Usage(
                    "unix: needs a path, as in unix:/run/msgstore/imap.sock".into(),
                ));
            }
            return Ok(Addr::Unix(PathBuf::from(p)));
        }
        match s.rsplit_once(':') {
            Some((host, port)) if !host.is_empty() && port.parse::<u16>().is_ok() => {
                Ok(Addr::Tcp(s.to_owned()))
            }
            _ => Err(Error::Usage(format!(
                "{}: not a listening address; give HOST:PORT (127.0.0.1:143, [::]:993) or unix:PATH",
                crate::error::shown(s)
            ))),
        }
    }
}

impl std::fmt::Display for Addr {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            Addr::Tcp(a) => f.write_str(a),
            Addr::Unix(p) => write!(f, "unix:{}", p.display()),
        }
    }
}

/// What `msgstore serve` was asked to do.
#[derive(Clone, Debug, Default)]
pub struct Options {
    pub imap: Vec<Addr>,
    pub imaps: Vec<Addr>,
    pub lmtp: Vec<Addr>,
    pub tls_cert: Option<PathBuf>,
    pub tls_key: Option<PathBuf>,
    /// `--stdio --user NAME`: one pre-authenticated session on stdin/stdout.
    pub stdio_user: Option<String>,
    pub limits: ConnLimits,
}

/// How many connections the server takes, in all and from one address.
#[derive(Clone, Copy, Debug)]
pub struct ConnLimits {
    pub total: usize,
    pub per_address: usize,
}

impl Default for ConnLimits {
    /// Thousands of idle phones fit (a session costs tens of KiB); one address
    /// gets what a household or an office behind NAT needs.
    fn default() -> ConnLimits {
        ConnLimits {
            total: 20_000,
            per_address: 200,
        }
    }
}

/// The connections open now; a [`Slot`] gives its place back when dropped.
#[derive(Default)]
struct Counts {
    total: usize,
    by_addr: std::collections::HashMap<std::net::IpAddr, usize>,
}

struct Slot {
    counts: Arc<std::sync::Mutex<Counts>>,
    addr: Option<std::net::IpAddr>,
}

impl Drop for Slot {
    fn drop(&mut self) {
        let mut c = self.counts.lock().unwrap_or_else(|p| p.into_inner());
        c.total = c.total.saturating_sub(1);
        if let Some(a) = self.addr
            && let Some(n) = c.by_addr.get_mut(&a)
        {
            *n = n.saturating_sub(1);
            if *n == 0 {
                c.by_addr.remove(&a);
            }
        }
    }
}

/// A place for a new connection, or `None` when a limit is reached.
fn take_slot(
    counts: &Arc<std::sync::Mutex<Counts>>,
    limits: ConnLimits,
    addr: Option<std::net::IpAddr>,
) -> Option<Slot> {
    let mut c = counts.lock().unwrap_or_else(|p| p.into_inner());
    if c.total >= limits.total {
        return None;
    }
    if let Some(a) = addr {
        let n = c.by_addr.entry(a).or_insert(0);
        if *n >= limits.per_address {
            return None;
        }
        *n += 1;
    }
    c.total += 1;
    Some(Slot {
        counts: counts.clone(),
        addr,
    })
}

/// One log line on stderr: `2026-12-01T10:00:00Z imap 127.0.0.1:40000 joe: login`.
pub fn log_line(proto: &str, peer: &str, user: Option<&str>, what: &str) {
    let when = crate::store::time::rfc3339(crate::store::time::now_unix());
    let who = user.map(|u| format!(" {u}")).unwrap_or_default();
    // Names and peers come from clients: no control characters in the log.
    let clean = |s: &str| {
        s.chars()
            .map(|c| if c.is_control() { '?' } else { c })
            .collect::<String>()
    };
    eprintln!(
        "{when} {proto} {}{}: {}",
        clean(peer),
        clean(&who),
        clean(what)
    );
}

fn load_tls(cert: &Path, key: &Path) -> Result<Arc<rustls::ServerConfig>> {
    use rustls_pki_types::pem::PemObject;
    use rustls_pki_types::{CertificateDer, PrivateKeyDer};
    let bad = |p: &Path, what: String| Error::Usage(format!("{}: {what}", p.display()));
    let certs: Vec<CertificateDer<'static>> = CertificateDer::pem_file_iter(cert)
        .map_err(|e| bad(cert, format!("cannot read the certificate: {e}")))?
        .collect::<std::result::Result<_, _>>()
        .map_err(|e| bad(cert, format!("not a PEM certificate chain: {e}")))?;
    if certs.is_empty() {
        return Err(bad(
            cert,
            "holds no certificate (PEM `BEGIN CERTIFICATE`)".into(),
        ));
    }
    let key_der = PrivateKeyDer::from_pem_file(key)
        .map_err(|e| bad(key, format!("not a PEM private key: {e}")))?;
    let provider = Arc::new(rustls::crypto::ring::default_provider());
    let cfg = rustls::ServerConfig::builder_with_provider(provider)
        .with_safe_default_protocol_versions()
        .map_err(|e| Error::Usage(format!("TLS: {e}")))?
        .with_no_client_auth()
        .with_single_cert(certs, key_der)
        .map_err(|e| bad(key, format!("does not go with the certificate: {e}")))?;
    Ok(Arc::new(cfg))
}

/// Runs the server until SIGTERM or SIGINT (or, with `--stdio`, until the
/// session ends).
pub fn serve(store: &Store, opts: Options) -> Result<()> {
    if opts.stdio_user.is_none()
        && opts.imap.is_empty()
        && opts.imaps.is_empty()
        && opts.lmtp.is_empty()
    {
        return Err(Error::Usage(
            "give at least one listener: --imap 127.0.0.1:143, --imaps [::]:993 (with --tls-cert and --tls-key), --lmtp unix:/run/msgstore/lmtp.sock, or --stdio --user NAME".into(),
        ));
    }
    let tls = match (&opts.tls_cert, &opts.tls_key) {
        (Some(c), Some(k)) => Some(load_tls(c, k)?),
        (None, None) => None,
        _ => {
            return Err(Error::Usage("--tls-cert and --tls-key go together".into()));
        }
    };
    if !opts.imaps.is_empty() && tls.is_none() {
        return Err(Error::Usage(
            "--imaps needs --tls-cert PEM and --tls-key PEM".into(),
        ));
    }
    if let Some(user) = &opts.stdio_user
        && !crate::db::users::exists(store, user)?
    {
        return Err(Error::UnknownUser(user.clone()));
    }
    raise_fd_limit();
    let rt = tokio::runtime::Builder::new_multi_thread()
        .enable_all()
        .thread_name("msgstore-serve")
        .build()
        .map_err(|e| Error::io(store.root(), "start the server's threads", e))?;
    let hub = hub::Hub::new(store.clone());
    let ctx = Arc::new(Context {
        store: store.clone(),
        hub: hub.clone(),
        tls: tls.clone(),
        penalties: imap::Penalties::default(),
    });
    let lmtp_ctx = {
        let mut c = lmtp::Context::new(store.clone(), hostname());
        let h = hub.clone();
        c.delivered = Arc::new(move |name| h.touch(name));
        c.log = Arc::new(|line: &str| {
            let when = crate::store::time::rfc3339(crate::store::time::now_unix());
            eprintln!("{when} {line}");
        });
        Arc::new(c)
    };
    rt.block_on(async move {
        hub.spawn_poller();
        let (stop_tx, stop_rx) = watch::channel(false);
        if let Some(user) = opts.stdio_user.clone() {
            let io = Box::new(tokio::io::join(tokio::io::stdin(), tokio::io::stdout()));
            let peer = Peer {
                addr: "stdio".into(),
                local: true,
                tls: false,
            };
            let session = imap::serve_connection(io, ctx, peer, Some(user), stop_rx);
            tokio::select! {
                _ = session => {}
                _ = shutdown_signal() => { let _ = stop_tx.send(true); }
            }
            return Ok(());
        }
        let mut tasks = tokio::task::JoinSet::new();
        let counts = Arc::new(std::sync::Mutex::new(Counts::default()));
        let protos = opts
            .imap
            .iter()
            .map(|a| (a, Proto::Imap))
            .chain(opts.imaps.iter().map(|a| (a, Proto::Imaps)))
            .chain(opts.lmtp.iter().map(|a| (a, Proto::Lmtp)));
        for (addr, proto) in protos {
            let l = Listener::bind(addr).await?;
            if proto == Proto::Lmtp {
                l.open_to_local_mtas()?;
            }
            log_line(proto.name(), &addr.to_string(), None, "listening");
            tasks.spawn(accept_loop(
                l,
                Protocols {
                    imap: ctx.clone(),
                    lmtp: lmtp_ctx.clone(),
                },
                proto,
                stop_rx.clone(),
                (counts.clone(), opts.limits),
            ));
        }
        shutdown_signal().await;
        log_line("serve", "-", None, "shutting down");
        let _ = stop_tx.send(true);
        // Sessions hold the context; wait for them to say BYE and finish what
        // they are doing, a bounded time.
        let _ = tokio::time::timeout(std::time::Duration::from_secs(30), async {
            while tasks.join_next().await.is_some() {}
        })
        .await;
        Ok::<(), Error>(())
    })?;
    // Blocking threads still writing for a session that is gone are left to end.
    rt.shutdown_timeout(std::time::Duration::from_secs(5));
    Ok(())
}

/// Every connection is a descriptor: take the hard limit, not the soft one
/// (often 1024), so that thousands of idle clients fit.
fn raise_fd_limit() {
    let mut r = libc::rlimit {
        rlim_cur: 0,
        rlim_max: 0,
    };
    // SAFETY: getrlimit and setrlimit only read and write the struct given.
    unsafe {
        if libc::getrlimit(libc::RLIMIT_NOFILE, &mut r) == 0 && r.rlim_cur < r.rlim_max {
            r.rlim_cur = r.rlim_max;
            libc::setrlimit(libc::RLIMIT_NOFILE, &r);
        }
    }
}

async fn shutdown_signal() {
    use tokio::signal::unix::{SignalKind, signal};
    let (Ok(mut term), Ok(mut int)) = (
        signal(SignalKind::terminate()),
        signal(SignalKind::interrupt()),
    ) else {
        return std::future::pending().await;
    };
    tokio::select! {
        _ = term.recv() => {}
        _ = int.recv() => {}
    }
}

enum Listener {
    Tcp(tokio::net::TcpListener),
    Unix(tokio::net::UnixListener, PathBuf),
}

impl Listener {
    async fn bind(a: &Addr) -> Result<Listener> {
        match a {
            Addr::Tcp(s) => tokio::net::TcpListener::bind(s.as_str())
                .await
                .map(Listener::Tcp)
                .map_err(|e| Error::Usage(format!("cannot listen on {s}: {e}"))),
            Addr::Unix(p) => {
                // A socket left by a server that died is replaced; anything else
                // at the path is not.
                if let Ok(m) = std::fs::symlink_metadata(p) {
                    use std::os::unix::fs::FileTypeExt;
                    if m.file_type().is_socket() {
                        let _ = std::fs::remove_file(p);
                    }
                }
                tokio::net::UnixListener::bind(p)
                    .map(|l| Listener::Unix(l, p.clone()))
                    .map_err(|e| {
                        Error::Usage(format!("cannot listen on unix:{}: {e}", p.display()))
                    })
            }
        }
    }
}

impl Listener {
    /// An LMTP unix socket is made `0666`: the MTA's delivery agent connects as
    /// its own unprivileged user (Postfix's `postfix`, Exim's `Debian-exim`), and
    /// under the usual umask 022 it could not (connect needs write permission),
    /// so every delivery would be deferred. Who may deliver is then decided by
    /// the permissions of the socket's directory (README: "Delivery from an
    /// MTA"); any local user can submit mail through the MTA anyway.
    fn open_to_local_mtas(&self) -> Result<()> {
        use std::os::unix::fs::PermissionsExt;
        let Listener::Unix(_, p) = self else {
            return Ok(());
        };
        std::fs::set_permissions(p, std::fs::Permissions::from_mode(0o666)).map_err(|e| {
            Error::Usage(format!(
                "cannot make the LMTP socket unix:{} writable for the MTA: {e}",
                p.display()
            ))
        })
    }
}

impl Drop for Listener {
    fn drop(&mut self) {
        if let Listener::Unix(_, p) = self {
            let _ = std::fs::remove_file(p);
        }
    }
}

/// What a listener speaks.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
enum Proto {
    Imap,
    /// IMAP over TLS from the first byte.
    Imaps,
    Lmtp,
}

impl Proto {
    fn name(self) -> &'static str {
        match self {
            Proto::Imap => "imap",
            Proto::Imaps => "imaps",
            Proto::Lmtp => "lmtp",
        }
    }
}

/// The contexts of the protocols, shared by every listener.
struct Protocols {
    imap: Arc<Context>,
    lmtp: Arc<lmtp::Context>,
}

/// This machine's name, for LMTP's greeting.
fn hostname() -> String {
    let mut buf = [0u8; 256];
    // SAFETY: gethostname writes at most `len` bytes into the buffer given.
    let r = unsafe { libc::gethostname(buf.as_mut_ptr().cast(), buf.len()) };
    let end = buf.iter().position(|&b| b == 0).unwrap_or(buf.len());
    match std::str::from_utf8(&buf[..end]) {
        Ok(h) if r == 0 && !h.is_empty() => h.to_owned(),
        _ => "localhost".to_owned(),
    }
}

async fn accept_loop(
    l: Listener,
    ctxs: Protocols,
    proto: Proto,
    mut stop: watch::Receiver<bool>,
    (counts, limits): (Arc<std::sync::Mutex<Counts>>, ConnLimits),
) {
    let mut sessions = tokio::task::JoinSet::new();
    loop {
        let accepted: std::io::Result<(Box<dyn imap::Io>, Peer, Option<std::net::IpAddr>)> = tokio::select! {
            _ = stop.changed() => break,
            r = accept(&l) => r,
            Some(_) = sessions.join_next(), if !sessions.is_empty() => continue,
        };
        let (mut io, peer, ip) = match accepted {
            Ok(x) => x,
            Err(e) => {
                log_line("imap", "-", None, &format!("accept failed: {e}"));
                // Out of descriptors and the like: do not spin.
                tokio::time::sleep(std::time::Duration::from_millis(100)).await;
                continue;
            }
        };
        let Some(slot) = take_slot(&counts, limits, ip) else {
            log_line(
                proto.name(),
                &peer.addr,
                None,
                "refused: too many connections",
            );
            // A reply the client can show; a TLS port just closes.
            let refusal: &[u8] = match proto {
                Proto::Imap => b"* BYE Too many connections; try again later\r\n",
                Proto::Lmtp => b"421 4.7.0 Too many connections; try again later\r\n",
                Proto::Imaps => b"",
            };
            if !refusal.is_empty() {
                use tokio::io::AsyncWriteExt;
                let _ =
                    tokio::time::timeout(std::time::Duration::from_secs(1), io.write_all(refusal))
                        .await;
            }
            continue;
        };
        let ctx = ctxs.imap.clone();
        let lctx = ctxs.lmtp.clone();
        let stop = stop.clone();
        sessions.spawn(async move {
            let _slot = slot;
            let addr = peer.addr.clone();
            if proto == Proto::Lmtp {
                if let Err(e) = lmtp::serve_connection(io, lctx, addr.clone(), stop).await {
                    log_line("lmtp", &addr, None, &format!("connection error: {e}"));
                }
                return;
            }
            log_line("imap", &peer.addr, None, "connected");
            if proto == Proto::Imaps {
                let Some(cfg) = ctx.tls.clone() else { return };
                let tls = match tokio::time::timeout(
                    std::time::Duration::from_secs(30),
                    tokio_rustls::TlsAcceptor::from(cfg).accept(io),
                )
                .await
                {
                    Ok(Ok(t)) => t,
                    Ok(Err(e)) => {
                        log_line("imap", &addr, None, &format!("TLS handshake failed: {e}"));
                        return;
                    }
                    Err(_) => {
                        log_line("imap", &addr, None, "TLS handshake timed out");
                        return;
                    }
                };
                let peer = Peer { tls: true, ..peer };
                imap::serve_connection(Box::new(tls), ctx, peer, None, stop).await;
            } else {
                imap::serve_connection(io, ctx, peer, None, stop).await;
            }
            log_line("imap", &addr, None, "disconnected");
        });
    }
    // Sessions saw the same stop signal: let them finish their BYE.
    while sessions.join_next().await.is_some() {}
}

async fn accept(
    l: &Listener,
) -> std::io::Result<(Box<dyn imap::Io>, Peer, Option<std::net::IpAddr>)> {
    match l {
        Listener::Tcp(t) => {
            let (s, a) = t.accept().await?;
            let _ = s.set_nodelay(true);
            let peer = Peer {
                addr: a.to_string(),
                local: a.ip().is_loopback(),
                tls: false,
            };
            Ok((Box::new(s), peer, Some(a.ip())))
        }
        Listener::Unix(u, _) => {
            let (s, _) = u.accept().await?;
            let peer = Peer {
                addr: "unix".into(),
                local: true,
                tls: false,
            };
            Ok((Box::new(s), peer, None))
        }
    }
}
