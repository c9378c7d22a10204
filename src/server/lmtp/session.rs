//! The LMTP session as a state machine over bytes, with no I/O: bytes in, reply
//! bytes out, and a [`Step`] when the store must be asked (a recipient to look
//! up, a message to deliver). The driver in `mod.rs` reads and writes, and runs
//! the store's blocking work off the async threads.
//!
//! Command lines are framed here (up to [`MAX_LINE`] bytes, CRLF or LF) and only
//! whole lines go to smtp-proto's parser: so a line's fate never depends on how
//! it was split into reads, and the tail of an over-long line is skipped, never
//! taken as a command (smtp-proto's own line receiver would parse it).

use smtp_proto::request::receiver::{BdatReceiver, DataReceiver, DummyDataReceiver};
use smtp_proto::{Error as ParseError, MAIL_BODY_BINARYMIME, Request};
use std::io::Write;

/// Longest command line, its line end included. RFC 5321 asks for 512; SMTP
/// extensions' parameters need more.
pub const MAX_LINE: usize = 4096;

/// What the driver must do next.
#[derive(Debug)]
pub enum Step {
    /// Read more input (after writing the replies so far).
    NeedMore,
    /// Look up this recipient (RCPT TO's address), then call [`Session::resolved`].
    Resolve { address: String, size_hint: u64 },
    /// The message is complete: deliver it to each recipient, then call
    /// [`Session::delivered`] with one outcome per recipient, in order.
    Deliver(Job),
    /// Write the replies and close the connection.
    Close,
}

/// A message to deliver.
#[derive(Debug)]
pub struct Job {
    /// MAIL FROM's address (`""` for the null sender).
    pub from: String,
    pub recipients: Vec<Recipient>,
    /// The message as received: dot-unstuffed (DATA) or as sent (BDAT).
    pub message: Vec<u8>,
}

/// An accepted recipient.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Recipient {
    /// As RCPT TO gave it (for the reply and `Delivered-To:`).
    pub address: String,
    /// The user it resolved to, as the user database keys them.
    pub user: String,
    /// `user+folder`'s folder, when that folder exists.
    pub folder: Option<String>,
}

/// One reply: code, enhanced status code, text.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Reply {
    pub code: u16,
    pub status: &'static str,
    pub text: String,
}

impl Reply {
    pub fn new(code: u16, status: &'static str, text: impl Into<String>) -> Reply {
        Reply {
            code,
            status,
            text: text.into(),
        }
    }
}

/// What became of a recipient's lookup.
#[derive(Debug)]
pub enum Resolved {
    Accept(Recipient),
    Refuse(Reply),
}

/// What a session has done, for its log line.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct Stats {
    pub messages: u64,
    pub delivered: u64,
    pub refused: u64,
}

enum Framed {
    Line(Vec<u8>),
    /// An over-long line, refused and consumed.
    Dropped,
    More,
}

enum State {
    Command,
    /// After an over-long line: its rest, up to its LF, is dropped.
    SkipLine,
    Data(DataReceiver),
    /// An oversized DATA: dropped up to its end, then refused per recipient.
    DataDiscard(DummyDataReceiver),
    Bdat(BdatReceiver),
    /// A BDAT chunk that cannot be taken is read and dropped, then refused.
    BdatDiscard(DummyDataReceiver, Reply),
    Closed,
}

struct Transaction {
    from: String,
    /// MAIL FROM's SIZE=, 0 if not given.
    size_hint: u64,
    recipients: Vec<Recipient>,
    /// A RCPT being looked up.
    pending: bool,
    message: Vec<u8>,
    /// Chunks came by BDAT: DATA may not follow.
    bdat: bool,
}

pub struct Session {
    hostname: String,
    max_size: usize,
    max_recipients: usize,
    greeted: bool,
    shutting_down: bool,
    tx: Option<Transaction>,
    state: State,
    line: Vec<u8>,
    out: Vec<u8>,
    pub stats: Stats,
}

/// A DataReceiver that has seen the CRLF before the message: smtp-proto starts
/// one as if none came, so `DATA` then `.` would not end an empty message, and
/// a stuffed dot on the first line would stay.
fn data_receiver() -> DataReceiver {
    let mut rx = DataReceiver::new();
    let _ = rx.ingest(&mut b"\r\n".iter(), &mut Vec::new());
    rx
}

/// Text safe in a reply line: printable ASCII, bounded.
fn printable(s: &str) -> String {
    s.chars()
        .take(200)
        .map(|c| if (' '..='~').contains(&c) { c } else { '?' })
        .collect()
}

impl Session {
    pub fn new(hostname: &str, max_size: usize, max_recipients: usize) -> Session {
        Session {
            hostname: printable(hostname),
            max_size,
            max_recipients,
            greeted: false,
            shutting_down: false,
            tx: None,
            state: State::Command,
            line: Vec::new(),
            out: Vec::new(),
            stats: Stats::default(),
        }
    }

    /// The greeting (RFC 2033 4.1: as SMTP's).
    pub fn greet(&mut self) {
        let h = self.hostname.clone();
        self.reply(&Reply::new(220, "", format!("{h} LMTP msgstore ready")));
    }

    /// The replies written so far, taken.
    pub fn take_output(&mut self) -> Vec<u8> {
        std::mem::take(&mut self.out)
    }

    pub fn has_output(&self) -> bool {
        !self.out.is_empty()
    }

    /// Waiting for a command (not inside a message, not waiting for the store).
    pub fn idle(&self) -> bool {
        matches!(self.state, State::Command | State::SkipLine)
            && self.tx.as_ref().is_none_or(|t| !t.pending)
    }

    /// Inside a message's data: a client that leaves now has delivered nothing.
    pub fn in_message(&self) -> bool {
        matches!(
            self.state,
            State::Data(_) | State::DataDiscard(_) | State::Bdat(_) | State::BdatDiscard(..)
        ) || self.tx.as_ref().is_some_and(|t| t.bdat)
    }

    /// The server is stopping: the next command is answered `421` (a message
    /// being received is received and delivered first).
    pub fn begin_shutdown(&mut self) {
        self.shutting_down = true;
    }

    /// Says `421` and closes (the driver's idle timeout).
    pub fn close_with(&mut self, r: &Reply) {
        self.reply(r);
        self.state = State::Closed;
    }

    fn reply(&mut self, r: &Reply) {
        let text = printable(&r.text);
        let _ = if r.status.is_empty() {
            write!(self.out, "{} {text}\r\n", r.code)
        } else {
            write!(self.out, "{} {} {text}\r\n", r.code, r.status)
        };
    }

    /// Runs the session over `input` until it needs more, or the store, or is
    /// done; `input` is advanced past what was consumed.
    pub fn step(&mut self, input: &mut &[u8]) -> Step {
        loop {
            // Taken out while it runs, put back (or replaced) below.
            match std::mem::replace(&mut self.state, State::Closed) {
                State::Closed => return Step::Close,
                State::Command => {
                    self.state = State::Command;
                    if self.shutting_down {
                        let h = self.hostname.clone();
                        self.close_with(&Reply::new(
                            421,
                            "4.3.2",
                            format!("{h} shutting down; try again later"),
                        ));
                        return Step::Close;
                    }
                    if self.tx.as_ref().is_some_and(|t| t.pending) {
                        // The driver answers the lookup before anything else runs.
                        return Step::NeedMore;
                    }
                    match self.frame_line(input) {
                        Framed::Line(line) => {
                            if let Some(step) = self.command(&line) {
                                return step;
                            }
                        }
                        Framed::Dropped => {}
                        Framed::More => return Step::NeedMore,
                    }
                }
                State::SkipLine => match memchr::memchr(b'\n', input) {
                    Some(i) => {
                        *input = &input[i + 1..];
                        self.state = State::Command;
                    }
                    None => {
                        *input = &[];
                        self.state = State::SkipLine;
                        return Step::NeedMore;
                    }
                },
                State::Data(mut rx) => {
                    let Some(tx) = self.tx.as_mut() else {
                        self.state = State::Command;
                        continue;
                    };
                    let mut it = input.iter();
                    let done = rx.ingest(&mut it, &mut tx.message);
                    *input = it.as_slice();
                    if tx.message.len() > self.max_size {
                        // Read to its end and refuse it then: the client sends it all
                        // anyway, and the rest must not be taken for commands.
                        tx.message = Vec::new();
                        if done {
                            self.refuse_message(&too_big(self.max_size));
                        } else {
                            self.state = State::DataDiscard(DummyDataReceiver::new_data(&rx));
                        }
                        continue;
                    }
                    if !done {
                        self.state = State::Data(rx);
                        return Step::NeedMore;
                    }
                    self.state = State::Command;
                    return self.message_complete();
                }
                State::DataDiscard(mut rx) => {
                    let mut it = input.iter();
                    let done = rx.ingest(&mut it);
                    *input = it.as_slice();
                    if !done {
                        self.state = State::DataDiscard(rx);
                        return Step::NeedMore;
                    }
                    self.refuse_message(&too_big(self.max_size));
                }
                State::Bdat(mut rx) => {
                    let Some(tx) = self.tx.as_mut() else {
                        self.state = State::Command;
                        continue;
                    };
                    let mut it = input.iter();
                    let done = rx.ingest(&mut it, &mut tx.message);
                    *input = it.as_slice();
                    if !done {
                        self.state = State::Bdat(rx);
                        return Step::NeedMore;
                    }
                    self.state = State::Command;
                    if rx.is_last {
                        return self.message_complete();
                    }
                    let n = tx.message.len();
                    self.reply(&Reply::new(
                        250,
                        "2.0.0",
                        format!("{n} octets received so far"),
                    ));
                }
                State::BdatDiscard(mut rx, why) => {
                    let mut it = input.iter();
                    let done = rx.ingest(&mut it);
                    *input = it.as_slice();
                    if !done {
                        self.state = State::BdatDiscard(rx, why);
                        return Step::NeedMore;
                    }
                    self.state = State::Command;
                    self.reply(&why);
                }
            }
        }
    }

    /// The next whole command line. An over-long line is refused here, once,
    /// and its rest skipped.
    fn frame_line(&mut self, input: &mut &[u8]) -> Framed {
        let room = MAX_LINE.saturating_sub(self.line.len());
        match memchr::memchr(b'\n', input) {
            Some(i) if i < room => {
                self.line.extend_from_slice(&input[..=i]);
                *input = &input[i + 1..];
                Framed::Line(std::mem::take(&mut self.line))
            }
            Some(i) => {
                *input = &input[i + 1..];
                self.line_too_long();
                Framed::Dropped
            }
            None if input.len() < room => {
                self.line.extend_from_slice(input);
                *input = &[];
                Framed::More
            }
            None => {
                *input = &[];
                self.line_too_long();
                self.state = State::SkipLine;
                Framed::More
            }
        }
    }

    fn line_too_long(&mut self) {
        self.line.clear();
        self.reply(&Reply::new(
            500,
            "5.5.2",
            format!("line too long (more than {MAX_LINE} bytes); it was not read as a command"),
        ));
    }

    /// One command line; `None` to go on with the next.
    fn command(&mut self, line: &[u8]) -> Option<Step> {
        let req = match Request::parse(&mut line.iter()) {
            Ok(r) => r.into_owned(),
            Err(e) => {
                self.reply(&parse_error(&e));
                return None;
            }
        };
        match req {
            Request::Lhlo { host: _ } => {
                self.greeted = true;
                self.tx = None;
                let caps = [
                    "PIPELINING".to_owned(),
                    "ENHANCEDSTATUSCODES".to_owned(),
                    "8BITMIME".to_owned(),
                    "CHUNKING".to_owned(),
                    format!("SIZE {}", self.max_size),
                ];
                let _ = write!(self.out, "250-{}\r\n", self.hostname);
                for (i, c) in caps.iter().enumerate() {
                    let sep = if i + 1 == caps.len() { ' ' } else { '-' };
                    let _ = write!(self.out, "250{sep}{c}\r\n");
                }
            }
            Request::Ehlo { .. } | Request::Helo { .. } => self.reply(&Reply::new(
                500,
                "5.5.1",
                "this is LMTP (RFC 2033): greet with LHLO, not HELO or EHLO",
            )),
            Request::Mail { from } => self.mail(from),
            Request::Rcpt { to } => return self.rcpt(to.address),
            Request::Data => self.data(),
            Request::Bdat {
                chunk_size,
                is_last,
            } => self.bdat(chunk_size, is_last),
            Request::Rset => {
                self.tx = None;
                self.reply(&Reply::new(250, "2.0.0", "OK"));
            }
            Request::Noop { .. } => self.reply(&Reply::new(250, "2.0.0", "OK")),
            Request::Quit => {
                let h = self.hostname.clone();
                self.close_with(&Reply::new(221, "2.0.0", format!("{h} closing")));
                return Some(Step::Close);
            }
            Request::Vrfy { .. } => self.reply(&Reply::new(
                252,
                "2.5.2",
                "cannot VRFY a user; send the message and each recipient gets its answer",
            )),
            other => self.reply(&Reply::new(
                502,
                "5.5.1",
                format!("{} is not offered here", other.name()),
            )),
        }
        None
    }

    fn mail(&mut self, from: smtp_proto::MailFrom<String>) {
        if !self.greeted {
            return self.reply(&Reply::new(503, "5.5.1", "say LHLO first"));
        }
        if self.tx.is_some() {
            return self.reply(&Reply::new(
                503,
                "5.5.1",
                "a transaction is open already (RSET first)",
            ));
        }
        if from.address.contains('\u{fffd}') {
            return self.reply(&Reply::new(501, "5.1.7", "sender address is not UTF-8"));
        }
        if from.flags & MAIL_BODY_BINARYMIME != 0 {
            return self.reply(&Reply::new(555, "5.5.4", "BODY=BINARYMIME is not offered"));
        }
        if from.size > self.max_size {
            return self.reply(&too_big(self.max_size));
        }
        self.reply(&Reply::new(
            250,
            "2.1.0",
            format!("sender <{}> OK", from.address),
        ));
        self.tx = Some(Transaction {
            from: from.address,
            size_hint: from.size as u64,
            recipients: Vec::new(),
            pending: false,
            message: Vec::new(),
            bdat: false,
        });
    }

    fn rcpt(&mut self, address: String) -> Option<Step> {
        let max = self.max_recipients;
        let refuse = |s: &mut Session, r: Reply| {
            s.reply(&r);
            None
        };
        let Some(tx) = self.tx.as_mut() else {
            return refuse(self, Reply::new(503, "5.5.1", "MAIL FROM first"));
        };
        if tx.bdat {
            return refuse(
                self,
                Reply::new(503, "5.5.1", "no RCPT once BDAT has begun"),
            );
        }
        if tx.recipients.len() >= max {
            return refuse(
                self,
                Reply::new(452, "4.5.3", format!("too many recipients (at most {max})")),
            );
        }
        if address.contains('\u{fffd}') {
            return refuse(
                self,
                Reply::new(501, "5.1.3", "recipient address is not UTF-8"),
            );
        }
        tx.pending = true;
        Some(Step::Resolve {
            address,
            size_hint: tx.size_hint,
        })
    }

    /// The driver's answer to [`Step::Resolve`].
    pub fn resolved(&mut self, r: Resolved) {
        let Some(tx) = self.tx.as_mut() else { return };
        tx.pending = false;
        match r {
            Resolved::Accept(rcpt) => {
                let text = format!("<{}> OK", rcpt.address);
                tx.recipients.push(rcpt);
                self.reply(&Reply::new(250, "2.1.5", text));
            }
            Resolved::Refuse(why) => self.reply(&why),
        }
    }

    fn data(&mut self) {
        let Some(tx) = self.tx.as_mut() else {
            return self.reply(&Reply::new(503, "5.5.1", "MAIL FROM first"));
        };
        if tx.bdat {
            return self.reply(&Reply::new(503, "5.5.1", "BDAT has begun: no DATA"));
        }
        if tx.recipients.is_empty() {
            return self.reply(&Reply::new(503, "5.5.1", "no valid recipients"));
        }
        self.state = State::Data(data_receiver());
        self.reply(&Reply::new(
            354,
            "",
            "send the message, end with <CRLF>.<CRLF>",
        ));
    }

    fn bdat(&mut self, size: usize, last: bool) {
        // The chunk's bytes follow whatever we answer: read them in every case.
        let discard = |why: Reply| State::BdatDiscard(DummyDataReceiver::new_bdat(size), why);
        let max = self.max_size;
        let Some(tx) = self.tx.as_mut() else {
            self.state = discard(Reply::new(503, "5.5.1", "MAIL FROM first"));
            return;
        };
        if tx.recipients.is_empty() {
            self.state = discard(Reply::new(503, "5.5.1", "no valid recipients"));
            return;
        }
        if tx.message.len().saturating_add(size) > max {
            // RFC 3030: after a 5xx to a chunk the transaction is over.
            let n = tx.recipients.len() as u64;
            self.tx = None;
            self.state = discard(too_big(max));
            self.stats.messages += 1;
            self.stats.refused += n;
            return;
        }
        tx.bdat = true;
        tx.message.reserve(size.min(1 << 20));
        self.state = State::Bdat(BdatReceiver::new(size, last));
    }

    fn message_complete(&mut self) -> Step {
        let Some(tx) = self.tx.take() else {
            return Step::NeedMore;
        };
        self.stats.messages += 1;
        Step::Deliver(Job {
            from: tx.from,
            recipients: tx.recipients,
            message: tx.message,
        })
    }

    /// One refusal per recipient (the message was not taken), ending the
    /// transaction.
    fn refuse_message(&mut self, why: &Reply) {
        self.state = State::Command;
        let n = self.tx.take().map_or(0, |t| t.recipients.len());
        self.stats.messages += 1;
        self.stats.refused += n as u64;
        for _ in 0..n {
            self.reply(why);
        }
    }

    /// The driver's answer to [`Step::Deliver`]: one reply per recipient, in the
    /// order they were accepted (RFC 2033 4.2).
    pub fn delivered(&mut self, replies: Vec<Reply>) {
        for r in &replies {
            if r.code == 250 {
                self.stats.delivered += 1;
            } else {
                self.stats.refused += 1;
            }
            self.reply(r);
        }
    }
}

fn too_big(max: usize) -> Reply {
    Reply::new(
        552,
        "5.3.4",
        format!("message too big: this server takes at most {max} bytes"),
    )
}

fn parse_error(e: &ParseError) -> Reply {
    match e {
        ParseError::UnknownCommand => Reply::new(500, "5.5.1", "unknown command"),
        ParseError::InvalidSenderAddress => Reply::new(501, "5.1.7", "bad sender address syntax"),
        ParseError::InvalidRecipientAddress => {
            Reply::new(501, "5.1.3", "bad recipient address syntax")
        }
        ParseError::SyntaxError { syntax } => {
            Reply::new(501, "5.5.4", format!("syntax error, expected: {syntax}"))
        }
        ParseError::InvalidParameter { param } => {
            Reply::new(501, "5.5.4", format!("invalid parameter {param}"))
        }
        ParseError::UnsupportedParameter { param } => {
            Reply::new(555, "5.5.4", format!("parameter {param} is not offered"))
        }
        _ => Reply::new(500, "5.5.2", "syntax error"),
    }
}
