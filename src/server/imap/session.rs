//! One IMAP session's state machine (RFC 3501 section 3): not authenticated,
//! authenticated, selected, logout. Synchronous: the connection runs each command
//! on a blocking thread (store operations take file locks and read files), and
//! handles the waiting states (IDLE, an AUTHENTICATE exchange, STARTTLS) itself.

use super::Context;
use super::out::Out;
use super::proto::write::{self, Code, Status};
use super::proto::{Command, CommandBody, ParseError, SelectParams};
use super::selected::{Enabled, Selected};
use crate::error::Error;
use std::sync::Arc;
use std::time::Duration;

/// Where the connection is from, and how.
#[derive(Clone, Debug)]
pub struct Peer {
    /// For logs: `127.0.0.1:5000`, `unix`, `stdio`.
    pub addr: String,
    /// Loopback, a unix socket or stdio: plaintext passwords cannot be sniffed.
    pub local: bool,
    pub tls: bool,
}

/// What the connection does after a command.
#[derive(Debug)]
pub enum After {
    Continue,
    /// Write what is buffered, then close.
    Close,
    /// Write what is buffered, then start TLS (the session said OK).
    StartTls,
    /// `+ idling` was written: wait for DONE or for changes.
    Idle {
        tag: String,
    },
    /// A `+` challenge was written: the next line is the client's response.
    Authenticate {
        tag: String,
    },
}

/// A command's outcome for the connection.
pub struct Done {
    pub after: After,
    /// Wait this long before writing the reply (a failed login).
    pub delay: Option<Duration>,
}

impl Done {
    fn next() -> Done {
        Done {
            after: After::Continue,
            delay: None,
        }
    }

    fn then(after: After) -> Done {
        Done { after, delay: None }
    }
}

pub struct Session {
    pub(super) ctx: Arc<Context>,
    pub(super) peer: Peer,
    pub(super) user: Option<String>,
    pub(super) selected: Option<Selected>,
    pub(super) enabled: Enabled,
    /// SEARCHRES (RFC 5182): the UIDs the last `SEARCH RETURN (SAVE)` found.
    pub(super) saved: Option<Vec<u32>>,
    /// Consecutive bad commands (the connection closes after too many).
    bad: u32,
}

/// Bad commands in a row after which the connection closes (Dovecot's anchors:
/// 3 before login, 20 after).
const MAX_BAD_BEFORE_LOGIN: u32 = 3;
const MAX_BAD: u32 = 20;

impl Session {
    pub fn new(ctx: Arc<Context>, peer: Peer, preauth: Option<String>) -> Session {
        Session {
            ctx,
            peer,
            user: preauth,
            selected: None,
            enabled: Enabled::default(),
            saved: None,
            bad: 0,
        }
    }

    pub fn user(&self) -> Option<&str> {
        self.user.as_deref()
    }

    pub fn set_tls(&mut self) {
        self.peer.tls = true;
    }

    /// Whether LOGIN and AUTHENTICATE PLAIN are allowed on this connection.
    fn plaintext_ok(&self) -> bool {
        self.peer.tls || self.peer.local
    }

    pub fn capabilities(&self) -> Vec<&'static str> {
        let mut c = vec!["IMAP4rev1", "SASL-IR", "ID", "ENABLE", "LITERAL+"];
        if self.user.is_none() {
            if self.ctx.tls.is_some() && !self.peer.tls {
                c.push("STARTTLS");
            }
            if self.plaintext_ok() {
                c.push("AUTH=PLAIN");
            } else {
                c.push("LOGINDISABLED");
            }
            return c;
        }
        c.extend([
            "NAMESPACE",
            "UIDPLUS",
            "UNSELECT",
            "CHILDREN",
            "IDLE",
            "MOVE",
            "SPECIAL-USE",
            "CREATE-SPECIAL-USE",
            "LIST-EXTENDED",
            "LIST-STATUS",
            "ESEARCH",
            "SEARCHRES",
            "CONDSTORE",
            "QRESYNC",
            "QUOTA",
            "QUOTA=RES-STORAGE",
            "APPENDLIMIT=67108864",
        ]);
        c
    }

    fn capability_code(&self, out: &mut Vec<u8>) {
        let caps = self.capabilities();
        write::code(out, &Code::Capability(&caps));
    }

    /// The greeting: `* OK`, or `* PREAUTH` for a pre-authenticated session.
    pub fn greeting(&self, out: &mut Vec<u8>) {
        match &self.user {
            Some(u) => {
                out.extend_from_slice(b"* PREAUTH ");
                self.capability_code(out);
                write::text(out, &format!(" Logged in as {u}"));
            }
            None => {
                out.extend_from_slice(b"* OK ");
                self.capability_code(out);
                out.extend_from_slice(b" msgstore ready");
            }
        }
        out.extend_from_slice(b"\r\n");
    }

    /// The framer's limits for the session's state: short lines before login.
    pub fn limits(&self) -> super::proto::Limits {
        let mut l = super::proto::Limits::default();
        if self.user.is_none() {
            l.max_line = 8 * 1024;
            l.max_literal = 8 * 1024;
            l.max_command = 16 * 1024;
        }
        l
    }

    /// Counts a bad command; `true` when the connection should close.
    pub fn bad_command(&mut self) -> bool {
        self.bad += 1;
        let max = if self.user.is_none() {
            MAX_BAD_BEFORE_LOGIN
        } else {
            MAX_BAD
        };
        self.bad >= max
    }

    /// Runs one parsed command (or answers one that did not parse).
    pub fn run(&mut self, cmd: Result<Command, ParseError>, out: &mut Out) -> Done {
        let cmd = match cmd {
            Ok(c) => c,
            Err(e) => {
                write::status_line(&mut out.buf, e.tag.as_deref(), Status::Bad, None, &e.reason);
                return self.after_bad(out);
            }
        };
        let tag = cmd.tag.clone();
        let name = cmd.body.name();
        match self.dispatch(cmd, out) {
            Ok(done) => {
                self.bad = 0;
                done
            }
            Err(Reply::Bad(msg)) => {
                write::status_line(&mut out.buf, Some(&tag), Status::Bad, None, &msg);
                self.after_bad(out)
            }
            Err(Reply::No(code, msg)) => {
                self.sync_after(out, true);
                write::status_line(&mut out.buf, Some(&tag), Status::No, code.as_ref(), &msg);
                Done::next()
            }
            Err(Reply::Store(e)) => {
                let (code, msg) = store_error(&e);
                // A full disk is the administrator's to fix: logged too, though
                // the client is told OVERQUOTA (as Dovecot does).
                if matches!(code, Code::ServerBug | Code::Unavailable | Code::Corruption)
                    || disk_full(&e)
                {
                    super::log(&self.peer, self.user.as_deref(), &format!("{name}: {e}"));
                }
                write::status_line(&mut out.buf, Some(&tag), Status::No, Some(&code), &msg);
                Done::next()
            }
            Err(Reply::Bye(msg)) => {
                write::status_line(&mut out.buf, None, Status::Bye, None, &msg);
                Done::then(After::Close)
            }
        }
    }

    fn after_bad(&mut self, out: &mut Out) -> Done {
        if self.bad_command() {
            write::status_line(
                &mut out.buf,
                None,
                Status::Bye,
                None,
                "Too many invalid commands",
            );
            return Done::then(After::Close);
        }
        Done::next()
    }

    /// Brings the selected mailbox's view up to date; a mailbox that changed
    /// UIDVALIDITY ends the session.
    pub(super) fn sync_after(&mut self, out: &mut Out, expunges: bool) -> bool {
        let en = self.enabled;
        let Some(sel) = self.selected.as_mut() else {
            return true;
        };
        match sel.sync(out, expunges, en) {
            Ok(Ok(())) => true,
            Ok(Err(super::selected::Gone)) => {
                write::status_line(
                    &mut out.buf,
                    None,
                    Status::Bye,
                    None,
                    "The mailbox was rebuilt with a new UIDVALIDITY; reconnect to see it",
                );
                self.selected = None;
                false
            }
            // The index cannot be read now: the next command tries again.
            Err(_) => true,
        }
    }

    fn ok(&mut self, out: &mut Out, tag: &str, code: Option<&Code<'_>>, msg: &str) -> Done {
        write::status_line(&mut out.buf, Some(tag), Status::Ok, code, msg);
        Done::next()
    }

    /// After a command on the selected mailbox: untagged updates, then the OK.
    fn sync_ok(&mut self, out: &mut Out, tag: &str, expunges: bool, msg: &str) -> Done {
        if !self.sync_after(out, expunges) {
            return Done::then(After::Close);
        }
        self.ok(out, tag, None, msg)
    }

    /// The tagged OK of a command that expunged: a CONDSTORE client cannot work
    /// out the new HIGHESTMODSEQ itself, so it is given (RFC 7162 3.2.10,
    /// RFC 6851 4.4 for MOVE).
    fn expunged_ok(&mut self, out: &mut Out, tag: &str, any: bool, msg: &str) -> Done {
        if !self.sync_after(out, true) {
            return Done::then(After::Close);
        }
        let highest = self
            .selected
            .as_ref()
            .filter(|_| any && self.enabled.condstore)
            .map(|s| s.reported_modseq());
        match highest {
            Some(m) => self.ok(out, tag, Some(&Code::HighestModSeq(m)), msg),
            None => self.ok(out, tag, None, msg),
        }
    }

    /// Turns CONDSTORE on for the session (RFC 7162 3.1: ENABLE, or the first
    /// CONDSTORE-enabling command); when that happens with a mailbox selected,
    /// the client is told the HIGHESTMODSEQ it now starts from.
    pub(super) fn enable_condstore(&mut self, out: &mut Out) {
        if self.enabled.condstore {
            return;
        }
        self.enabled.condstore = true;
        if let Some(sel) = &self.selected {
            write::status_line(
                &mut out.buf,
                None,
                Status::Ok,
                Some(&Code::HighestModSeq(sel.reported_modseq())),
                "Highest",
            );
        }
    }

    fn dispatch(&mut self, cmd: Command, out: &mut Out) -> Result<Done, Reply> {
        use CommandBody as C;
        let tag = cmd.tag;
        let authed = self.user.is_some();
        let selected = self.selected.is_some();
        match cmd.body {
            C::Capability => {
                let caps = self.capabilities().join(" ");
                out.buf
                    .extend_from_slice(format!("* CAPABILITY {caps}\r\n").as_bytes());
                Ok(self.ok(out, &tag, None, "CAPABILITY completed"))
            }
            C::Noop => Ok(self.sync_ok(out, &tag, true, "NOOP completed")),
            C::Logout => {
                out.buf.extend_from_slice(b"* BYE Logging out\r\n");
                write::status_line(
                    &mut out.buf,
                    Some(&tag),
                    Status::Ok,
                    None,
                    "LOGOUT completed",
                );
                Ok(Done::then(After::Close))
            }
            C::Id(_) => {
                out.buf.extend_from_slice(
                    format!(
                        "* ID (\"name\" \"msgstore\" \"version\" \"{}\")\r\n",
                        env!("CARGO_PKG_VERSION")
                    )
                    .as_bytes(),
                );
                Ok(self.ok(out, &tag, None, "ID completed"))
            }
            C::StartTls => {
                if authed {
                    return Err(Reply::Bad("STARTTLS only before login".into()));
                }
                if self.peer.tls {
                    return Err(Reply::Bad("TLS is already active".into()));
                }
                if self.ctx.tls.is_none() {
                    return Err(Reply::No(
                        Some(Code::Unavailable),
                        "this server has no TLS certificate (serve --tls-cert)".into(),
                    ));
                }
                write::status_line(
                    &mut out.buf,
                    Some(&tag),
                    Status::Ok,
                    None,
                    "Begin TLS negotiation now",
                );
                Ok(Done::then(After::StartTls))
            }
            C::Login { username, password } => {
                if authed {
                    return Err(Reply::Bad("already logged in".into()));
                }
                Ok(self.login(&tag, &username, password.expose(), out))
            }
            C::Authenticate {
                mechanism,
                initial_response,
            } => {
                if authed {
                    return Err(Reply::Bad("already logged in".into()));
                }
                if mechanism != "PLAIN" {
                    return Err(Reply::No(
                        None,
                        "unsupported authentication mechanism; use PLAIN".into(),
                    ));
                }
                if !self.plaintext_ok() {
                    return Err(Reply::No(
                        Some(Code::PrivacyRequired),
                        "use STARTTLS or the TLS port before logging in".into(),
                    ));
                }
                match initial_response {
                    Some(r) => Ok(self.auth_plain(&tag, r.expose(), out)),
                    None => {
                        out.buf.extend_from_slice(b"+ \r\n");
                        Ok(Done::then(After::Authenticate { tag }))
                    }
                }
            }
            _ if !authed => Err(Reply::Bad("log in first".into())),
            C::Enable(caps) => {
                // RFC 5161: ENABLED names what this command turned on, of what
                // was asked (QRESYNC turns CONDSTORE on too, RFC 7162 3.2.3).
                let before = self.enabled;
                let mut on: Vec<&str> = Vec::new();
                for c in &caps {
                    let name = match c.as_str() {
                        "CONDSTORE" if !before.condstore => "CONDSTORE",
                        "QRESYNC" if !before.qresync => "QRESYNC",
                        _ => continue,
                    };
                    if !on.contains(&name) {
                        on.push(name);
                    }
                }
                if caps.iter().any(|c| c == "CONDSTORE" || c == "QRESYNC") {
                    self.enable_condstore(out);
                }
                if caps.iter().any(|c| c == "QRESYNC") {
                    self.enabled.qresync = true;
                }
                out.buf.extend_from_slice(b"* ENABLED");
                for c in on {
                    out.buf.push(b' ');
                    out.buf.extend_from_slice(c.as_bytes());
                }
                out.buf.extend_from_slice(b"\r\n");
                Ok(self.ok(out, &tag, None, "ENABLE completed"))
            }
            C::Select { mailbox, params } => self.select(&tag, &mailbox, &params, false, out),
            C::Examine { mailbox, params } => self.select(&tag, &mailbox, &params, true, out),
            C::Create {
                mailbox,
                special_use,
            } => {
                let msg = self.create(&mailbox, &special_use)?;
                Ok(self.sync_ok(out, &tag, true, &msg))
            }
            C::Delete(m) => {
                self.delete(&m)?;
                Ok(self.sync_ok(out, &tag, true, "DELETE completed"))
            }
            C::Rename { from, to } => {
                self.rename(&from, &to)?;
                Ok(self.sync_ok(out, &tag, true, "RENAME completed"))
            }
            C::Subscribe(m) => {
                self.subscribe(&m, true)?;
                Ok(self.sync_ok(out, &tag, true, "SUBSCRIBE completed"))
            }
            C::Unsubscribe(m) => {
                self.subscribe(&m, false)?;
                Ok(self.sync_ok(out, &tag, true, "UNSUBSCRIBE completed"))
            }
            C::List(l) => {
                self.list(&l, out)?;
                Ok(self.sync_ok(out, &tag, true, "LIST completed"))
            }
            C::Lsub { reference, pattern } => {
                self.lsub(&reference, &pattern, out)?;
                Ok(self.sync_ok(out, &tag, true, "LSUB completed"))
            }
            C::Namespace => {
                out.buf.extend_from_slice(
                    b"* NAMESPACE ((\"\" \"/\")) ((\"Other Users/\" \"/\")) ((\"Public Folders/\" \"/\"))\r\n",
                );
                Ok(self.sync_ok(out, &tag, true, "NAMESPACE completed"))
            }
            C::Status { mailbox, items } => {
                self.status(&mailbox, &items, out)?;
                Ok(self.sync_ok(out, &tag, true, "STATUS completed"))
            }
            C::Append {
                mailbox,
                flags,
                date,
                message,
            } => {
                let code = self.append(&mailbox, &flags, date.as_ref(), message)?;
                if !self.sync_after(out, true) {
                    return Ok(Done::then(After::Close));
                }
                let c = Code::AppendUid {
                    uidvalidity: code.0,
                    uid: code.1,
                };
                Ok(self.ok(out, &tag, Some(&c), "APPEND completed"))
            }
            C::Idle => {
                if !self.sync_after(out, true) {
                    return Ok(Done::then(After::Close));
                }
                out.buf.extend_from_slice(b"+ idling\r\n");
                Ok(Done::then(After::Idle { tag }))
            }
            C::GetQuotaRoot(m) => {
                self.get_quota_root(&m, out)?;
                Ok(self.sync_ok(out, &tag, true, "GETQUOTAROOT completed"))
            }
            C::GetQuota(root) => {
                self.get_quota(&root, out)?;
                Ok(self.sync_ok(out, &tag, true, "GETQUOTA completed"))
            }
            C::SetQuota { .. } => Err(Reply::No(
                Some(Code::NoPerm),
                "quotas are set by the administrator (msgstore user quota)".into(),
            )),
            _ if !selected => Err(Reply::Bad("select a mailbox first".into())),
            C::Check => Ok(self.sync_ok(out, &tag, true, "CHECK completed")),
            C::Close => {
                let en = self.enabled;
                if let Some(sel) = self.selected.take()
                    && !sel.read_only
                {
                    // RFC 3501 6.4.2: expunge silently, then leave.
                    let _ = en;
                    sel.shared
                        .open
                        .expunge(&crate::ops::open::Expunge::Deleted)
                        .map_err(Reply::Store)?;
                }
                Ok(self.ok(out, &tag, None, "CLOSE completed"))
            }
            C::Unselect => {
                self.selected = None;
                Ok(self.ok(out, &tag, None, "UNSELECT completed"))
            }
            C::Expunge => {
                let any = self.expunge(None, out)?;
                Ok(self.expunged_ok(out, &tag, any, "EXPUNGE completed"))
            }
            C::UidExpunge(set) => {
                let any = self.expunge(Some(&set), out)?;
                Ok(self.expunged_ok(out, &tag, any, "UID EXPUNGE completed"))
            }
            C::Search(s) => {
                let uid = s.uid;
                self.search(&tag, &s, out)?;
                let name = if uid { "UID SEARCH" } else { "SEARCH" };
                Ok(self.sync_ok(out, &tag, uid, &format!("{name} completed")))
            }
            C::Fetch(f) => {
                let uid = f.uid;
                let partial = self.fetch(&f, out)?;
                let name = if uid { "UID FETCH" } else { "FETCH" };
                if !self.sync_after(out, uid) {
                    return Ok(Done::then(After::Close));
                }
                if partial {
                    let c = Code::ExpungeIssued;
                    return Ok(self.ok(
                        out,
                        &tag,
                        Some(&c),
                        "Some messages were expunged before they could be fetched",
                    ));
                }
                Ok(self.ok(out, &tag, None, &format!("{name} completed")))
            }
            C::Store(s) => {
                let uid = s.uid;
                let modified = self.store(&s, out)?;
                if !self.sync_after(out, uid) {
                    return Ok(Done::then(After::Close));
                }
                let name = if uid { "UID STORE" } else { "STORE" };
                if !modified.is_empty() {
                    let c = Code::Modified(&modified);
                    return Ok(self.ok(out, &tag, Some(&c), "Some messages were modified since"));
                }
                Ok(self.ok(out, &tag, None, &format!("{name} completed")))
            }
            C::Copy { uid, set, mailbox } => {
                let r = self.copy(uid, &set, &mailbox, false, out)?;
                self.copied(out, &tag, r, uid, "COPY")
            }
            C::Move { uid, set, mailbox } => {
                let before = self.selected.as_ref().map_or(0, |s| s.exists());
                self.copy(uid, &set, &mailbox, true, out)?;
                let after = self.selected.as_ref().map_or(0, |s| s.exists());
                let name = if uid {
                    "UID MOVE completed"
                } else {
                    "MOVE completed"
                };
                Ok(self.expunged_ok(out, &tag, after < before, name))
            }
        }
    }

    fn copied(
        &mut self,
        out: &mut Out,
        tag: &str,
        r: Option<super::messages::CopyUid>,
        uid: bool,
        name: &str,
    ) -> Result<Done, Reply> {
        if !self.sync_after(out, true) {
            return Ok(Done::then(After::Close));
        }
        let full = if uid {
            format!("UID {name} completed")
        } else {
            format!("{name} completed")
        };
        match r {
            Some((uidvalidity, source, dest)) if !source.is_empty() => {
                let c = Code::CopyUid {
                    uidvalidity,
                    source: &source,
                    dest: &dest,
                };
                Ok(self.ok(out, tag, Some(&c), &full))
            }
            _ => Ok(self.ok(out, tag, None, &full)),
        }
    }

    fn select(
        &mut self,
        tag: &str,
        mailbox: &super::proto::Mailbox,
        params: &SelectParams,
        read_only: bool,
        out: &mut Out,
    ) -> Result<Done, Reply> {
        // RFC 3501 6.3.1: a failed SELECT leaves no mailbox selected, and a
        // successful one deselects the previous. `* OK [CLOSED]` marks where the
        // old mailbox's replies end (RFC 7162 3.2.11 for a server that offers
        // QRESYNC, whether or not the client enabled it; RFC 9051 7.1).
        let had = self.selected.take().is_some();
        if had {
            out.buf
                .extend_from_slice(b"* OK [CLOSED] Previous mailbox closed\r\n");
        }
        if params.qresync.is_some() && !self.enabled.qresync {
            return Err(Reply::Bad(
                "QRESYNC parameter without ENABLE QRESYNC".into(),
            ));
        }
        if let Some((seqs, uids)) = params.qresync.as_ref().and_then(|q| q.seq_match.as_ref())
            && set_len(seqs) != set_len(uids)
        {
            // RFC 7162 3.2.5: the message numbers and the UIDs pair up one to one.
            return Err(Reply::Bad(
                "QRESYNC: the known sequence set and UID set differ in size".into(),
            ));
        }
        if params.condstore {
            self.enabled.condstore = true;
        }
        let (name, _) = self.mailbox_name(mailbox)?;
        let shared = self.ctx.hub.open(&name).map_err(|e| self.not_found(e))?;
        let sel = Selected::open(shared, read_only).map_err(Reply::Store)?;
        let snap = sel.snap.clone();
        sel.write_flags(&mut out.buf);
        out.buf
            .extend_from_slice(format!("* {} EXISTS\r\n", sel.exists()).as_bytes());
        out.buf
            .extend_from_slice(format!("* {} RECENT\r\n", sel.recent_count()).as_bytes());
        if let Some(first) = snap
            .view
            .records
            .iter()
            .position(|r| r.system_flags.get() & crate::index::record::flag::SEEN == 0)
        {
            write::status_line(
                &mut out.buf,
                None,
                Status::Ok,
                Some(&Code::Unseen(first as u32 + 1)),
                "First unseen",
            );
        }
        write::status_line(
            &mut out.buf,
            None,
            Status::Ok,
            Some(&Code::UidValidity(snap.uidvalidity())),
            "UIDs valid",
        );
        write::status_line(
            &mut out.buf,
            None,
            Status::Ok,
            Some(&Code::UidNext(snap.uidnext())),
            "Predicted next UID",
        );
        write::status_line(
            &mut out.buf,
            None,
            Status::Ok,
            Some(&Code::HighestModSeq(snap.highestmodseq())),
            "Highest",
        );
        self.selected = Some(sel);
        if let Some(q) = &params.qresync {
            self.qresync_select(q, out);
        }
        let code = if read_only {
            Code::ReadOnly
        } else {
            Code::ReadWrite
        };
        let verb = if read_only { "EXAMINE" } else { "SELECT" };
        write::status_line(
            &mut out.buf,
            Some(tag),
            Status::Ok,
            Some(&code),
            &format!("{verb} completed"),
        );
        Ok(Done::next())
    }

    /// The store's name behind a client's mailbox name, and the name decoded;
    /// a name the user may not see answers as a mailbox that does not exist.
    pub(super) fn mailbox_name(
        &self,
        m: &super::proto::Mailbox,
    ) -> Result<(crate::store::names::MailboxName, String), Reply> {
        let user = self.user.as_deref().unwrap_or_default();
        let shown = m
            .decode(false)
            .map_err(|e| Reply::No(Some(Code::NonExistent), format!("bad mailbox name: {e}")))?;
        match super::names::resolve(user, &shown) {
            super::names::Name::Mailbox(n) => Ok((n, shown)),
            _ => Err(nonexistent()),
        }
    }

    /// A failed open as a reply: a missing mailbox is NONEXISTENT.
    pub(super) fn not_found(&self, e: Error) -> Reply {
        match e {
            Error::UnknownMailbox { .. } => nonexistent(),
            e => Reply::Store(e),
        }
    }

    fn login(&mut self, tag: &str, user: &[u8], pass: &[u8], out: &mut Out) -> Done {
        if !self.plaintext_ok() {
            write::status_line(
                &mut out.buf,
                Some(tag),
                Status::No,
                Some(&Code::PrivacyRequired),
                "use STARTTLS or the TLS port before logging in",
            );
            return Done::next();
        }
        self.authenticate(tag, user, pass, out)
    }

    fn auth_plain(&mut self, tag: &str, response: &[u8], out: &mut Out) -> Done {
        // RFC 4616: authzid NUL authcid NUL passwd.
        let parts: Vec<&[u8]> = response.split(|&b| b == 0).collect();
        if parts.len() != 3 || (!parts[0].is_empty() && parts[0] != parts[1]) {
            write::status_line(
                &mut out.buf,
                Some(tag),
                Status::No,
                Some(&Code::AuthenticationFailed),
                "Authentication failed",
            );
            let delay = self.ctx.penalties.failed(&self.peer.addr, "");
            return Done {
                after: After::Continue,
                delay: Some(delay),
            };
        }
        self.authenticate(tag, parts[1], parts[2], out)
    }

    /// The client's line after an AUTHENTICATE challenge.
    pub fn auth_response(&mut self, tag: &str, line: &[u8], out: &mut Out) -> Done {
        match super::proto::parse_auth_response(line) {
            Ok(super::proto::AuthResponse::Data(d)) => self.auth_plain(tag, d.expose(), out),
            Ok(super::proto::AuthResponse::Cancel) => {
                write::status_line(
                    &mut out.buf,
                    Some(tag),
                    Status::Bad,
                    None,
                    "Authentication cancelled",
                );
                Done::next()
            }
            Err(e) => {
                write::status_line(&mut out.buf, Some(tag), Status::Bad, None, &e.reason);
                self.after_bad(out)
            }
        }
    }

    fn authenticate(&mut self, tag: &str, user: &[u8], pass: &[u8], out: &mut Out) -> Done {
        let name = String::from_utf8_lossy(user).into_owned();
        match super::auth::verify(&self.ctx, &self.peer, &name, pass) {
            Ok(user) => {
                super::log(&self.peer, Some(&user), "login");
                self.user = Some(user);
                self.bad = 0;
                let mut line = tag.as_bytes().to_vec();
                line.extend_from_slice(b" OK ");
                self.capability_code(&mut line);
                line.extend_from_slice(b" Logged in\r\n");
                out.buf.extend_from_slice(&line);
                Done::next()
            }
            Err((delay, why)) => {
                super::log(
                    &self.peer,
                    None,
                    &format!("login refused for {name:?}: {why}"),
                );
                write::status_line(
                    &mut out.buf,
                    Some(tag),
                    Status::No,
                    Some(&Code::AuthenticationFailed),
                    "Authentication failed",
                );
                Done {
                    after: After::Continue,
                    delay: Some(delay),
                }
            }
        }
    }

    /// Untagged updates while in IDLE.
    pub fn idle_update(&mut self, out: &mut Out) -> bool {
        self.sync_after(out, true)
    }

    /// DONE: the end of IDLE.
    pub fn idle_done(&mut self, tag: &str, out: &mut Out) -> Done {
        if !self.sync_after(out, true) {
            return Done::then(After::Close);
        }
        self.ok(out, tag, None, "IDLE terminated")
    }

    /// What IDLE waits on: the selected mailbox's changes.
    pub fn idle_watch(&self) -> Option<tokio::sync::watch::Receiver<u64>> {
        self.selected.as_ref().map(|s| s.shared.subscribe())
    }
}

/// How many numbers a set names (`*` counts as one, `$` as none).
fn set_len(s: &super::proto::SequenceSet) -> u64 {
    s.ranges(u32::MAX)
        .map(|(lo, hi)| u64::from(hi.min(u32::MAX - 1)) - u64::from(lo.min(u32::MAX - 1)) + 1)
        .sum()
}

/// A command's failure, as the session answers it.
pub(super) enum Reply {
    Bad(String),
    No(Option<Code<'static>>, String),
    Store(Error),
    #[allow(dead_code)]
    Bye(String),
}

impl From<Error> for Reply {
    fn from(e: Error) -> Reply {
        Reply::Store(e)
    }
}

pub(super) fn nonexistent() -> Reply {
    Reply::No(Some(Code::NonExistent), "No such mailbox".into())
}

/// The reply for a store error: the response code clients act on, and the text.
/// ENOSPC (or EDQUOT, the file system's own quota), from a file or a database.
fn disk_full(e: &Error) -> bool {
    use crate::error::Fault;
    match e {
        Error::Db {
            fault: Fault::Os(o),
            ..
        }
        | Error::Io { source: o, .. } => matches!(
            o.kind(),
            std::io::ErrorKind::StorageFull | std::io::ErrorKind::QuotaExceeded
        ),
        _ => false,
    }
}

fn store_error(e: &Error) -> (Code<'static>, String) {
    match e {
        Error::UnknownMailbox { .. } => (Code::NonExistent, "No such mailbox".into()),
        Error::MailboxExists(_) => (Code::AlreadyExists, "Mailbox already exists".into()),
        Error::MailboxBusy(_) => (Code::InUse, "Mailbox is busy; try again".into()),
        Error::ListBusy => (
            Code::InUse,
            "The mailbox list is being rebuilt; try again in a moment".into(),
        ),
        Error::OverQuota { .. } => (Code::OverQuota, "Quota exceeded".into()),
        Error::Refused { why, .. } => (Code::Cannot, why.clone()),
        Error::Usage(why) => (Code::Cannot, why.clone()),
        Error::Db { fault, .. } if fault.is_damage() => (
            Code::Corruption,
            "The mailbox's index is damaged; the administrator must run msgstore reconstruct"
                .into(),
        ),
        _ if disk_full(e) => (Code::OverQuota, "The server's disk is full".into()),
        Error::Io { .. } | Error::Db { .. } => (
            Code::Unavailable,
            "The store cannot be read or written now; try again later".into(),
        ),
        Error::UnknownUser(_) => (Code::NonExistent, "No such mailbox".into()),
        _ => (Code::ServerBug, "Internal error; see the server log".into()),
    }
}

#[cfg(test)]
mod tests {
    use super::super::testing::{Rig, msg, run, stdio};
    use super::*;

    fn remote() -> Peer {
        Peer {
            addr: "192.0.2.7:40000".into(),
            local: false,
            tls: false,
        }
    }

    fn tls_config() -> Arc<rustls::ServerConfig> {
        let c = rcgen::generate_simple_self_signed(vec!["localhost".into()]).unwrap();
        let key = rustls_pki_types::PrivateKeyDer::Pkcs8(c.signing_key.serialize_der().into());
        let provider = Arc::new(rustls::crypto::ring::default_provider());
        Arc::new(
            rustls::ServerConfig::builder_with_provider(provider)
                .with_safe_default_protocol_versions()
                .unwrap()
                .with_no_client_auth()
                .with_single_cert(vec![c.cert.der().clone()], key)
                .unwrap(),
        )
    }

    /// The one tagged line of a reply.
    fn tagged<'a>(reply: &'a str, tag: &str) -> &'a str {
        reply
            .lines()
            .find(|l| l.starts_with(&format!("{tag} ")))
            .unwrap_or_else(|| panic!("no {tag} line in {reply:?}"))
    }

    #[test]
    fn plaintext_logins_are_refused_off_loopback_before_tls() {
        let rig = Rig::with_tls(Some(tls_config()));
        let mut s = rig.session(None, remote());
        let caps = run(&mut s, "a CAPABILITY");
        assert!(caps.contains(" LOGINDISABLED"), "{caps}");
        assert!(caps.contains(" STARTTLS"), "{caps}");
        assert!(!caps.contains("AUTH=PLAIN"), "{caps}");
        let r = run(&mut s, "b LOGIN joe secret");
        assert!(tagged(&r, "b").starts_with("b NO [PRIVACYREQUIRED]"), "{r}");
        let r = run(&mut s, "c AUTHENTICATE PLAIN AGpvZQBzZWNyZXQ=");
        assert!(tagged(&r, "c").starts_with("c NO [PRIVACYREQUIRED]"), "{r}");
        assert!(s.user().is_none());
        // After STARTTLS (the connection sets the flag) they are offered.
        s.set_tls();
        let caps = run(&mut s, "d CAPABILITY");
        assert!(caps.contains(" AUTH=PLAIN") && !caps.contains("LOGINDISABLED"));
        assert!(!caps.contains("STARTTLS"), "{caps}");
        // Loopback, a unix socket, stdio: no TLS needed.
        let mut local = rig.session(None, stdio());
        let caps = run(&mut local, "e CAPABILITY");
        assert!(caps.contains(" AUTH=PLAIN") && !caps.contains("LOGINDISABLED"));
        // Without a certificate there is no STARTTLS to offer.
        let rig = Rig::new();
        let mut s = rig.session(None, remote());
        let caps = run(&mut s, "f CAPABILITY");
        assert!(caps.contains(" LOGINDISABLED") && !caps.contains("STARTTLS"));
        let r = run(&mut s, "g STARTTLS");
        assert!(tagged(&r, "g").starts_with("g NO"), "{r}");
    }

    #[test]
    fn examine_leaves_recent_messages_recent_and_select_takes_them() {
        let rig = Rig::new();
        let mut first = rig.joe();
        let r = run(&mut first, "a SELECT INBOX");
        assert!(r.contains("* 0 RECENT"), "{r}");
        run(&mut first, "b LOGOUT");
        drop(first);
        // Delivered while nobody has the mailbox open: still recent to the next.
        rig.deliver("joe", &msg("one"));
        rig.deliver("joe", &msg("two"));
        let mut examiner = rig.joe();
        let r = run(&mut examiner, "b2 STATUS INBOX (RECENT MESSAGES)");
        assert!(r.starts_with("* STATUS INBOX (RECENT 2 MESSAGES 2)"), "{r}");
        let r = run(&mut examiner, "c EXAMINE INBOX");
        assert!(r.contains("* 2 RECENT"), "{r}");
        let r = run(&mut examiner, "d FETCH 1 FLAGS");
        assert!(r.contains("FLAGS (\\Recent)"), "{r}");
        let mut selector = rig.joe();
        let r = run(&mut selector, "e SELECT INBOX");
        assert!(r.contains("* 2 RECENT"), "{r}");
        let mut late = rig.joe();
        let r = run(&mut late, "f SELECT INBOX");
        assert!(r.contains("* 0 RECENT"), "{r}");
        let r = run(&mut late, "f2 STATUS INBOX (RECENT)");
        assert!(r.starts_with("* STATUS INBOX (RECENT 0)"), "{r}");
        // A third arrives while all three have it open: EXAMINE shows it as
        // recent but leaves it to the first session that selects.
        rig.deliver("joe", &msg("three"));
        let r = run(&mut examiner, "g NOOP");
        assert!(r.contains("* 3 EXISTS\r\n* 3 RECENT"), "{r}");
        let r = run(&mut selector, "h NOOP");
        assert!(r.contains("* 3 EXISTS\r\n* 3 RECENT"), "{r}");
        let r = run(&mut late, "i NOOP");
        assert!(r.contains("* 3 EXISTS\r\n* 0 RECENT"), "{r}");
        // Expunging a recent message changes the count, which is said again.
        run(&mut selector, "j STORE 1 +FLAGS.SILENT (\\Deleted)");
        let r = run(&mut selector, "k EXPUNGE");
        assert!(r.starts_with("* 1 EXPUNGE\r\n* 2 RECENT\r\nk OK"), "{r}");
    }

    #[test]
    fn a_second_select_says_closed_first() {
        let rig = Rig::new();
        let mut s = rig.joe();
        run(&mut s, "a SELECT INBOX");
        let r = run(&mut s, "b EXAMINE INBOX");
        assert!(r.starts_with("* OK [CLOSED]"), "{r}");
        let r = run(&mut s, "c SELECT Nonexistent");
        assert!(r.starts_with("* OK [CLOSED]"), "{r}");
        assert!(tagged(&r, "c").starts_with("c NO [NONEXISTENT]"), "{r}");
        let r = run(&mut s, "d SELECT INBOX");
        assert!(!r.contains("CLOSED"), "nothing was selected: {r}");
    }

    #[test]
    fn condstore_enabling_commands_give_highestmodseq_then_uid_and_modseq() {
        let rig = Rig::new();
        rig.deliver("joe", &msg("one"));
        rig.deliver("joe", &msg("two"));
        let mut s = rig.joe();
        run(&mut s, "a SELECT INBOX");
        // Before CONDSTORE: plain STORE replies.
        let r = run(&mut s, "b STORE 1 +FLAGS (\\Seen)");
        assert!(r.starts_with("* 1 FETCH (FLAGS (\\Seen))\r\n"), "{r}");
        // FETCH MODSEQ turns it on, and the client hears where it starts.
        let r = run(&mut s, "c FETCH 1 (MODSEQ)");
        assert!(r.starts_with("* OK [HIGHESTMODSEQ "), "{r}");
        let r = run(&mut s, "d FETCH 1 (MODSEQ)");
        assert!(!r.contains("HIGHESTMODSEQ"), "only once: {r}");
        // Every untagged FETCH of a change now has UID and MODSEQ...
        let r = run(&mut s, "e STORE 2 +FLAGS (\\Flagged)");
        assert!(
            r.starts_with("* 2 FETCH (UID 2 FLAGS (\\Flagged) MODSEQ ("),
            "{r}"
        );
        // ... and .SILENT keeps the MODSEQ only (RFC 7162 3.1.3).
        let r = run(&mut s, "f STORE 2 -FLAGS.SILENT (\\Flagged)");
        assert!(r.starts_with("* 2 FETCH (UID 2 MODSEQ ("), "{r}");
        assert!(!r.contains("FLAGS ("), "{r}");
        // A FETCH of FLAGS alone has no MODSEQ; with the UID it has.
        let r = run(&mut s, "g FETCH 1 (FLAGS)");
        assert!(r.starts_with("* 1 FETCH (FLAGS (\\Seen))"), "{r}");
        let r = run(&mut s, "h FETCH 1 (UID FLAGS)");
        assert!(r.contains("MODSEQ ("), "{r}");
        // Another session's change arrives with UID and MODSEQ.
        let mut other = rig.joe();
        run(&mut other, "i SELECT INBOX");
        run(&mut other, "j STORE 1 +FLAGS (\\Answered)");
        let r = run(&mut s, "k NOOP");
        assert!(r.starts_with("* 1 FETCH (UID 1 FLAGS ("), "{r}");
        assert!(r.contains("\\Answered") && r.contains(") MODSEQ ("), "{r}");
        // EXPUNGE's OK tells the new HIGHESTMODSEQ.
        run(&mut s, "l STORE 2 +FLAGS.SILENT (\\Deleted)");
        let r = run(&mut s, "m EXPUNGE");
        assert!(tagged(&r, "m").starts_with("m OK [HIGHESTMODSEQ "), "{r}");
        let r = run(&mut s, "n EXPUNGE");
        assert_eq!(
            tagged(&r, "n"),
            "n OK EXPUNGE completed",
            "nothing expunged"
        );
    }

    #[test]
    fn a_condstore_session_hears_highestmodseq_after_others_expunge_or_deliver() {
        let rig = Rig::new();
        rig.deliver("joe", &msg("one"));
        rig.deliver("joe", &msg("two"));
        let mut s = rig.joe();
        run(&mut s, "a ENABLE CONDSTORE");
        run(&mut s, "b SELECT INBOX");
        let mut other = rig.joe();
        run(&mut other, "c SELECT INBOX");
        run(&mut other, "d UID STORE 1 +FLAGS.SILENT (\\Deleted)");
        run(&mut other, "e EXPUNGE");
        let r = run(&mut s, "f NOOP");
        assert!(r.contains("* 1 EXPUNGE\r\n* OK [HIGHESTMODSEQ "), "{r}");
        rig.deliver("joe", &msg("three"));
        let r = run(&mut s, "g NOOP");
        assert!(
            r.contains("EXISTS\r\n") && r.contains("* OK [HIGHESTMODSEQ "),
            "{r}"
        );
        // A session without CONDSTORE hears none.
        let mut plain = rig.joe();
        run(&mut plain, "h SELECT INBOX");
        rig.deliver("joe", &msg("four"));
        let r = run(&mut plain, "i NOOP");
        assert!(r.contains("EXISTS") && !r.contains("HIGHESTMODSEQ"), "{r}");
    }

    #[test]
    fn qresync_sequence_match_sets_must_pair_up() {
        let rig = Rig::new();
        rig.deliver("joe", &msg("one"));
        let mut s = rig.joe();
        run(&mut s, "a ENABLE QRESYNC");
        let r = run(&mut s, "b SELECT INBOX (QRESYNC (1 1 1:10 (1:2 3:5)))");
        assert!(tagged(&r, "b").starts_with("b BAD"), "{r}");
        let r = run(&mut s, "c SELECT INBOX (QRESYNC (1 1 1:10 (1:2 3,5)))");
        assert!(tagged(&r, "c").starts_with("c OK"), "{r}");
    }

    #[test]
    fn enable_names_what_it_turned_on() {
        let rig = Rig::new();
        let mut s = rig.joe();
        let r = run(&mut s, "a ENABLE CONDSTORE QRESYNC X-UNKNOWN");
        assert!(r.starts_with("* ENABLED CONDSTORE QRESYNC\r\n"), "{r}");
        let r = run(&mut s, "b ENABLE QRESYNC CONDSTORE");
        assert!(r.starts_with("* ENABLED\r\n"), "{r}");
        let mut s = rig.joe();
        run(&mut s, "c SELECT INBOX");
        let r = run(&mut s, "d ENABLE QRESYNC");
        assert!(r.starts_with("* OK [HIGHESTMODSEQ "), "{r}");
        assert!(r.contains("* ENABLED QRESYNC\r\n"), "{r}");
    }

    #[test]
    fn a_new_keyword_is_announced_before_the_fetch_that_shows_it() {
        let rig = Rig::new();
        rig.deliver("joe", &msg("one"));
        let mut s = rig.joe();
        run(&mut s, "a SELECT INBOX");
        let r = run(&mut s, "b STORE 1 +FLAGS (NewKeyword)");
        let flags = r.find("* FLAGS (").expect("a FLAGS reply");
        let fetch = r.find("* 1 FETCH").expect("a FETCH reply");
        assert!(flags < fetch, "{r}");
        assert!(r.contains("* OK [PERMANENTFLAGS ("), "{r}");
    }

    #[test]
    fn sent_date_keys_use_the_internal_date_without_a_date_header() {
        let rig = Rig::new();
        let mut s = rig.joe();
        let m = "From: a@example.org\r\nSubject: undated\r\n\r\nx\r\n";
        let r = run(
            &mut s,
            &format!(
                "a APPEND INBOX \"01-Feb-2024 12:00:00 +0000\" {{{}+}}\r\n{m}",
                m.len()
            ),
        );
        assert!(tagged(&r, "a").starts_with("a OK"), "{r}");
        run(&mut s, "b SELECT INBOX");
        assert!(run(&mut s, "c SEARCH SENTBEFORE 2-Feb-2024").starts_with("* SEARCH 1\r\n"));
        assert!(run(&mut s, "d SEARCH SENTON 1-Feb-2024").starts_with("* SEARCH 1\r\n"));
        assert!(run(&mut s, "e SEARCH SENTSINCE 2-Feb-2024").starts_with("* SEARCH\r\n"));
    }

    #[test]
    fn searchres_with_min_saves_the_minimum_only() {
        let rig = Rig::new();
        for s in ["one", "two", "three"] {
            rig.deliver("joe", &msg(s));
        }
        let mut s = rig.joe();
        run(&mut s, "a SELECT INBOX");
        let r = run(&mut s, "b SEARCH RETURN (SAVE MIN) ALL");
        assert!(r.contains("MIN 1"), "{r}");
        assert!(run(&mut s, "c SEARCH $").starts_with("* SEARCH 1\r\n"));
        run(&mut s, "d SEARCH RETURN (SAVE) ALL");
        assert!(run(&mut s, "e SEARCH $").starts_with("* SEARCH 1 2 3\r\n"));
    }
}
