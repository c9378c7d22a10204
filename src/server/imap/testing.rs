//! Sessions for unit tests: a store in a temporary directory with users joe and
//! ann, sessions on one shared hub (as in one server process), commands run as
//! the connection would run them, and deliveries the way the CLI makes them.

use super::Context;
use super::out::Out;
use super::session::{Peer, Session};
use crate::server::hub::Hub;
use crate::store::Store;
use std::sync::Arc;

pub struct Rig {
    _tmp: tempfile::TempDir,
    pub ctx: Arc<Context>,
}

impl Rig {
    pub fn new() -> Rig {
        Rig::with_tls(None)
    }

    pub fn with_tls(tls: Option<Arc<rustls::ServerConfig>>) -> Rig {
        let tmp = tempfile::tempdir().unwrap();
        let store = Store::at(tmp.path().join("store"));
        crate::ops::init(&store).unwrap();
        crate::ops::user::add(&store, &["joe".into(), "ann".into()]).unwrap();
        let ctx = Arc::new(Context {
            hub: Hub::new(store.clone()),
            store,
            tls,
            penalties: super::Penalties::default(),
        });
        Rig { _tmp: tmp, ctx }
    }

    pub fn session(&self, user: Option<&str>, peer: Peer) -> Session {
        Session::new(self.ctx.clone(), peer, user.map(str::to_owned))
    }

    /// joe, pre-authenticated, as `serve --stdio --user joe` makes him.
    pub fn joe(&self) -> Session {
        self.session(Some("joe"), stdio())
    }

    /// Delivers as the CLI does: through a mailbox handle of its own, not the hub.
    pub fn deliver(&self, mailbox: &str, msg: &[u8]) {
        let input = crate::ops::deliver::Input {
            label: "test".into(),
            bytes: msg.to_vec(),
        };
        let (_, done) =
            crate::ops::deliver::deliver(&self.ctx.store, mailbox, vec![input]).unwrap();
        assert!(done.iter().all(|d| d.uid.is_some()), "delivery failed");
    }
}

pub fn stdio() -> Peer {
    Peer {
        addr: "stdio".into(),
        local: true,
        tls: false,
    }
}

/// A message with a subject.
pub fn msg(subject: &str) -> Vec<u8> {
    format!("From: a@example.org\r\nSubject: {subject}\r\nDate: Mon, 1 Jan 2024 10:00:00 +0000\r\n\r\nbody\r\n").into_bytes()
}

/// Runs one command line (CRLF added; literals inline as the framer gives
/// them) and gives everything the session answered.
pub fn run(s: &mut Session, line: &str) -> String {
    let mut bytes = line.as_bytes().to_vec();
    bytes.extend_from_slice(b"\r\n");
    let mut out = Out::buffered();
    s.run(super::proto::parse(&bytes), &mut out);
    String::from_utf8_lossy(&out.take()).into_owned()
}
