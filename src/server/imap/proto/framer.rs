//! The command framer: bytes as they arrive in, whole commands out.
//!
//! An IMAP command is a line, unless the line ends with a literal announcement
//! `{N}` (synchronising: the client waits for `+`) or `{N+}` (LITERAL+, RFC 7888:
//! it does not), in which case N bytes of data and another line follow. The framer
//! finds those boundaries without parsing, so that the session can answer a
//! literal announcement before its data arrives, and it enforces the limits with
//! bounded memory: an over-long line or an over-large literal is *discarded* as it
//! streams past, never buffered. While discarding, it still follows the literals
//! that the discarded lines announce, so literal data is never mistaken for a
//! command.
//!
//! The session's loop:
//! ```text
//! framer.feed(&bytes_read);
//! loop { match framer.next() {
//!     NeedMore => break,                               // read more
//!     Command(c) => parse and run it,
//!     Literal { nonsync: false, .. } => accept_literal() + "+ Ready", or
//!                                       refuse_literal() + "tag NO ...",
//!     Literal { nonsync: true, .. } => nothing to do (or refuse_literal()),
//!     TooBig { tag, .. } => "tag NO [TOOBIG] ...",
//!     LineTooLong { tag } | Bad { tag, .. } => "tag BAD ..." (or "* BAD"),
//! } }
//! ```
//! AUTHENTICATE responses and IDLE's DONE are lines, not commands: read them
//! with [`Framer::next_line`].

use memchr::memchr;

use super::chars::is_tag_char;

/// What one command may cost. The session may tighten them (e.g. before login)
/// with [`Framer::set_limits`].
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Limits {
    /// The longest line, CRLF included; literal data does not count.
    pub max_line: usize,
    /// The largest literal (the APPENDLIMIT a server would advertise).
    pub max_literal: u64,
    /// The largest command: lines and literals together.
    pub max_command: u64,
}

impl Default for Limits {
    /// 64 KiB lines, as Dovecot's default (long UID sets from clients fit), and
    /// 64 MiB messages, with room for one line of arguments beside the largest.
    fn default() -> Limits {
        Limits {
            max_line: 64 * 1024,
            max_literal: 64 * 1024 * 1024,
            max_command: 64 * 1024 * 1024 + 64 * 1024,
        }
    }
}

/// What the framer has for the session.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum Event {
    /// Feed more bytes.
    NeedMore,
    /// One complete command, CRLF-terminated, its literals inlined as sent
    /// (`{N}\r\n` then the data), ready for the parser.
    Command(Vec<u8>),
    /// A line ended with a literal announcement within the limits. Synchronising
    /// (`nonsync: false`): the framer waits, reporting this event again, until the
    /// session calls [`Framer::accept_literal`] (and sends `+ Ready`) or
    /// [`Framer::refuse_literal`] (and sends `tag NO`/`BAD`). Non-synchronising: the
    /// data is already on its way and the framer reads it on its own; the event is
    /// for information (the session may still refuse, e.g. over quota).
    Literal {
        tag: Option<String>,
        size: u64,
        nonsync: bool,
    },
    /// A literal over the limits. Synchronising: reported at once and the command
    /// dropped (the client waits for a `+` that never comes). Non-synchronising:
    /// reported after its data and the rest of its command have been discarded.
    /// Either way, answer `tag NO [TOOBIG]`.
    TooBig { tag: Option<String>, size: u64 },
    /// A line over the limit (or a command over its total): reported at once, and
    /// the rest of the command is discarded as it arrives. Answer `tag BAD`.
    LineTooLong { tag: Option<String> },
    /// Garbage in a line: a NUL byte, or an LF without its CR. The rest of the
    /// command is discarded. Answer `tag BAD reason`.
    Bad {
        tag: Option<String>,
        reason: &'static str,
    },
}

/// What [`Framer::next_line`] has for the session.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum LineEvent {
    NeedMore,
    /// One line, without its CRLF.
    Line(Vec<u8>),
    /// Over [`Limits::max_line`]; the rest of it is discarded as it arrives.
    TooLong,
    Bad(&'static str),
}

pub struct Framer {
    limits: Limits,
    /// Bytes fed and not yet framed start at `input[start..]`.
    input: Vec<u8>,
    start: usize,
    /// The command so far; its current line starts at `line_start`.
    cmd: Vec<u8>,
    line_start: usize,
    /// Watches the current line for a literal announcement at its end.
    scan: LitScan,
    state: State,
}

enum State {
    /// Reading a line into `cmd`.
    Line,
    /// A synchronising literal was announced; the session has not decided.
    Decide { tag: Option<String>, size: u64 },
    /// Copying this many more literal bytes into `cmd`.
    Literal { left: u64 },
    /// Discarding the rest of a command.
    Skip(Skip),
}

struct Skip {
    /// Literal bytes still to discard before the next line.
    literal_left: u64,
    /// Whether announced non-synchronising literals are followed (command mode)
    /// or lines are just lines (line mode).
    literals: bool,
    /// Reported once the command has been discarded.
    pending: Option<Event>,
}

/// Recognises `{digits}` or `{digits+}`, then an optional CR, at the end of a line,
/// a byte at a time, so that lines can be checked while they stream past.
#[derive(Clone, Copy, Debug, Default)]
struct LitScan {
    state: Scan,
    size: u64,
    /// The last byte was CR.
    cr: bool,
}

#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
enum Scan {
    #[default]
    Other,
    Open,
    Digits,
    Plus,
    Close {
        nonsync: bool,
    },
    CloseCr {
        nonsync: bool,
    },
}

impl LitScan {
    fn push(&mut self, b: u8) {
        self.cr = b == b'\r';
        self.state = match (self.state, b) {
            (_, b'{') => {
                self.size = 0;
                Scan::Open
            }
            (Scan::Open | Scan::Digits, b'0'..=b'9') => {
                // Saturates: an absurd size is simply too big.
                self.size = self
                    .size
                    .saturating_mul(10)
                    .saturating_add(u64::from(b - b'0'));
                Scan::Digits
            }
            (Scan::Digits, b'+') => Scan::Plus,
            (Scan::Digits, b'}') => Scan::Close { nonsync: false },
            (Scan::Plus, b'}') => Scan::Close { nonsync: true },
            (Scan::Close { nonsync }, b'\r') => Scan::CloseCr { nonsync },
            _ => Scan::Other,
        };
    }

    fn push_all(&mut self, bytes: &[u8]) {
        // Only what follows the last `{` can matter: skip ahead cheaply, which keeps
        // discarding a huge line fast.
        match memchr::memrchr(b'{', bytes) {
            Some(i) => bytes
                .get(i..)
                .unwrap_or_default()
                .iter()
                .for_each(|&b| self.push(b)),
            None if self.state == Scan::Other => {
                self.cr = bytes.last().map_or(self.cr, |&b| b == b'\r')
            }
            None => bytes.iter().for_each(|&b| self.push(b)),
        }
    }

    /// At the LF: the literal the line announced, as (size, non-synchronising).
    fn announced(&self) -> Option<(u64, bool)> {
        match self.state {
            Scan::Close { nonsync } | Scan::CloseCr { nonsync } => Some((self.size, nonsync)),
            _ => None,
        }
    }
}

/// The result of reading the current line.
enum Collected {
    NeedMore,
    /// The line is complete in `cmd`, LF included.
    Line {
        crlf: bool,
    },
    TooLong,
    Nul,
}

impl Default for Framer {
    fn default() -> Framer {
        Framer::new(Limits::default())
    }
}

impl Framer {
    pub fn new(limits: Limits) -> Framer {
        Framer {
            limits,
            input: Vec::new(),
            start: 0,
            cmd: Vec::new(),
            line_start: 0,
            scan: LitScan::default(),
            state: State::Line,
        }
    }

    /// New limits, from the next line or literal on.
    pub fn set_limits(&mut self, limits: Limits) {
        self.limits = limits;
    }

    pub fn limits(&self) -> Limits {
        self.limits
    }

    /// Bytes as they arrived. Call [`Framer::next`] until `NeedMore` before feeding
    /// again: the framer holds what is fed, and only its own buffer is bounded.
    pub fn feed(&mut self, data: &[u8]) {
        if self.start > 0 {
            self.input.drain(..self.start);
            self.start = 0;
        }
        self.input.extend_from_slice(data);
    }

    /// Bytes fed and not yet framed (they follow the last command returned).
    pub fn buffered(&self) -> usize {
        self.input.len() - self.start
    }

    /// Drops every byte fed and not yet framed, returning how many. After STARTTLS
    /// the session must call it (and refuse the command if it returns non-zero):
    /// plaintext pipelined behind STARTTLS must not run as if it came over TLS.
    pub fn clear_input(&mut self) -> usize {
        let n = self.buffered();
        self.input.clear();
        self.start = 0;
        n
    }

    /// Go ahead with the announced synchronising literal (send `+ Ready`).
    pub fn accept_literal(&mut self) {
        if let State::Decide { size, .. } = self.state {
            self.state = State::Literal { left: size };
        }
    }

    /// Refuse the announced literal (and answer the tag with `NO` or `BAD`): a
    /// synchronising one is never sent, so the command simply ends; the data of a
    /// non-synchronising one, and the rest of its command, are discarded.
    pub fn refuse_literal(&mut self) {
        match self.state {
            State::Decide { .. } => {
                self.reset_command();
                self.state = State::Line;
            }
            State::Literal { left } => {
                self.reset_command();
                self.state = State::Skip(Skip {
                    literal_left: left,
                    literals: true,
                    pending: None,
                });
            }
            State::Line | State::Skip(_) => {}
        }
    }

    /// The next event in command mode.
    // Not an Iterator: `NeedMore` is not the end, and the session interleaves
    // feed(), accept_literal() and refuse_literal() with these calls.
    #[allow(clippy::should_implement_trait)]
    pub fn next(&mut self) -> Event {
        loop {
            match self.state {
                State::Decide { ref tag, size } => {
                    return Event::Literal {
                        tag: tag.clone(),
                        size,
                        nonsync: false,
                    };
                }
                State::Literal { left } => {
                    let avail = self.input.get(self.start..).unwrap_or_default();
                    let n = usize::try_from(left).unwrap_or(usize::MAX).min(avail.len());
                    self.cmd
                        .extend_from_slice(avail.get(..n).unwrap_or_default());
                    self.start += n;
                    let left = left - n as u64;
                    if left > 0 {
                        self.state = State::Literal { left };
                        return self.need_more();
                    }
                    self.state = State::Line;
                    self.line_start = self.cmd.len();
                    self.scan = LitScan::default();
                }
                State::Skip(_) => match self.skip() {
                    None => return self.need_more(),
                    Some(Some(event)) => return event,
                    Some(None) => {}
                },
                State::Line => match self.collect_line() {
                    Collected::NeedMore => return self.need_more(),
                    Collected::TooLong => {
                        let tag = tag_of(&self.cmd);
                        self.start_skip(None);
                        return Event::LineTooLong { tag };
                    }
                    Collected::Nul => {
                        let tag = tag_of(&self.cmd);
                        self.start_skip(None);
                        return Event::Bad {
                            tag,
                            reason: "NUL byte in a command line",
                        };
                    }
                    Collected::Line { crlf } => {
                        if let Some(event) = self.line_done(crlf) {
                            return event;
                        }
                    }
                },
            }
        }
    }

    /// The next line in line mode (AUTHENTICATE responses, IDLE's DONE): no
    /// literals, just lines. Call it only between commands.
    pub fn next_line(&mut self) -> LineEvent {
        loop {
            match self.state {
                State::Skip(_) => {
                    if self.skip().is_none() {
                        let _ = self.need_more();
                        return LineEvent::NeedMore;
                    }
                }
                State::Line => {
                    return match self.collect_line() {
                        Collected::NeedMore => {
                            let _ = self.need_more();
                            LineEvent::NeedMore
                        }
                        Collected::TooLong => {
                            self.start_skip_lines();
                            LineEvent::TooLong
                        }
                        Collected::Nul => {
                            self.start_skip_lines();
                            LineEvent::Bad("NUL byte in a line")
                        }
                        Collected::Line { crlf } => {
                            let mut line = std::mem::take(&mut self.cmd);
                            self.reset_command();
                            line.truncate(line.len().saturating_sub(if crlf { 2 } else { 1 }));
                            if crlf {
                                LineEvent::Line(line)
                            } else {
                                LineEvent::Bad("line ends in LF without CR")
                            }
                        }
                    };
                }
                // Mid-command: line mode does not apply.
                State::Decide { .. } | State::Literal { .. } => return LineEvent::NeedMore,
            }
        }
    }

    /// Out of input: forget what was consumed.
    fn need_more(&mut self) -> Event {
        if self.start >= self.input.len() {
            self.input.clear();
            self.start = 0;
        }
        Event::NeedMore
    }

    fn reset_command(&mut self) {
        self.cmd.clear();
        self.line_start = 0;
        self.scan = LitScan::default();
    }

    /// Discard the rest of the current command (command mode); the scanner keeps
    /// its view of the current line, whose end may announce a literal.
    fn start_skip(&mut self, pending: Option<Event>) {
        self.cmd.clear();
        self.line_start = 0;
        self.state = State::Skip(Skip {
            literal_left: 0,
            literals: true,
            pending,
        });
    }

    fn start_skip_lines(&mut self) {
        self.reset_command();
        self.state = State::Skip(Skip {
            literal_left: 0,
            literals: false,
            pending: None,
        });
    }

    /// Reads the current line into `cmd`, as far as the input and the limits go.
    fn collect_line(&mut self) -> Collected {
        let avail = self.input.get(self.start..).unwrap_or_default();
        if avail.is_empty() {
            return Collected::NeedMore;
        }
        let lf = memchr(b'\n', avail);
        let part = lf.map_or(avail.len(), |i| i + 1);
        let line_len = self.cmd.len() - self.line_start;
        let command_room = self
            .limits
            .max_command
            .saturating_sub(self.cmd.len() as u64);
        let room = self
            .limits
            .max_line
            .saturating_sub(line_len)
            .min(usize::try_from(command_room).unwrap_or(usize::MAX));
        let take = part.min(room);
        let chunk = avail.get(..take).unwrap_or_default();
        if let Some(nul) = memchr(0, chunk) {
            let before = chunk.get(..nul).unwrap_or_default();
            self.cmd.extend_from_slice(before);
            self.scan.push_all(before);
            self.start += nul;
            return Collected::Nul;
        }
        self.cmd.extend_from_slice(chunk);
        let content = if lf.is_some() && take == part {
            chunk.get(..take - 1).unwrap_or_default()
        } else {
            chunk
        };
        self.scan.push_all(content);
        self.start += take;
        if take < part {
            Collected::TooLong
        } else if lf.is_some() {
            Collected::Line { crlf: self.scan.cr }
        } else {
            Collected::NeedMore
        }
    }

    /// A command line is complete in `cmd`: a whole command, or a literal to come.
    fn line_done(&mut self, crlf: bool) -> Option<Event> {
        let announced = self.scan.announced();
        self.scan = LitScan::default();
        let tag = tag_of(&self.cmd);
        if !crlf {
            self.reset_command();
            // A bare-LF line that announced LITERAL+ data is still followed by it:
            // discard that too, so that it cannot run as a command.
            if let Some((size, true)) = announced {
                self.state = State::Skip(Skip {
                    literal_left: size,
                    literals: true,
                    pending: None,
                });
            }
            return Some(Event::Bad {
                tag,
                reason: "line ends in LF without CR",
            });
        }
        let Some((size, nonsync)) = announced else {
            self.line_start = 0;
            return Some(Event::Command(std::mem::take(&mut self.cmd)));
        };
        let total = (self.cmd.len() as u64).saturating_add(size);
        if size > self.limits.max_literal || total > self.limits.max_command {
            self.reset_command();
            if nonsync {
                self.state = State::Skip(Skip {
                    literal_left: size,
                    literals: true,
                    pending: Some(Event::TooBig { tag, size }),
                });
                return None;
            }
            return Some(Event::TooBig { tag, size });
        }
        self.state = if nonsync {
            State::Literal { left: size }
        } else {
            State::Decide {
                tag: tag.clone(),
                size,
            }
        };
        Some(Event::Literal { tag, size, nonsync })
    }

    /// Discards input for [`State::Skip`]. `None`: more input is needed;
    /// `Some(pending)`: the command is over, with what to report.
    fn skip(&mut self) -> Option<Option<Event>> {
        loop {
            let State::Skip(skip) = &mut self.state else {
                return Some(None);
            };
            let avail = self.input.get(self.start..).unwrap_or_default();
            if skip.literal_left > 0 {
                let n = usize::try_from(skip.literal_left)
                    .unwrap_or(usize::MAX)
                    .min(avail.len());
                self.start += n;
                skip.literal_left -= n as u64;
                if skip.literal_left > 0 {
                    return None;
                }
                continue;
            }
            let Some(lf) = memchr(b'\n', avail) else {
                self.scan.push_all(avail);
                self.start = self.input.len();
                return None;
            };
            self.scan.push_all(avail.get(..lf).unwrap_or_default());
            self.start += lf + 1;
            let announced = self.scan.announced();
            self.scan = LitScan::default();
            if let (true, Some((size, true))) = (skip.literals, announced) {
                skip.literal_left = size;
                continue;
            }
            let pending = skip.pending.take();
            self.reset_command();
            self.state = State::Line;
            return Some(pending);
        }
    }
}

/// The tag at the start of a command, if it is a well-formed tag followed by a
/// space: what a `BAD` or `NO` reply can be addressed to.
fn tag_of(cmd: &[u8]) -> Option<String> {
    let end = memchr(b' ', cmd)?;
    let tag = cmd.get(..end)?;
    if tag.is_empty() || !tag.iter().all(|&b| is_tag_char(b)) {
        return None;
    }
    String::from_utf8(tag.to_vec()).ok()
}

#[cfg(test)]
mod tests;
