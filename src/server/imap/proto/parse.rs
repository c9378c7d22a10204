//! The command parser: one framed command (as [`super::framer`] yields it, final
//! CRLF and inlined literals included) to a typed [`Command`]. Recursive descent,
//! one function per grammar rule of RFC 3501 section 9 and the extensions; the
//! grammar shared by all commands is in `lex`, the big families beside it.
//!
//! It is stateless: what depends on the session (capabilities enabled, the selected
//! mailbox, whether `$` was saved) is the session's to check.

mod fetch;
mod lex;
mod mailbox;
mod search;
#[cfg(test)]
mod tests;

use std::borrow::Cow;
use std::fmt;

use base64::Engine;

use super::types::{Command, CommandBody, Secret};
use lex::{Cursor, R};

/// What the parser may spend on one command.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct ParseOptions {
    /// Nesting of SEARCH keys: parenthesised lists, NOT, and an OR that is the first
    /// operand of OR (an OR chain is one level). Past it the command gets `BAD`.
    /// Values above [`MAX_DEPTH_CEILING`] are treated as that ceiling.
    pub max_depth: usize,
}

/// The deepest nesting ever allowed, whatever [`ParseOptions::max_depth`] says: the
/// parser recurses once per level, at up to about 2.2 KiB of stack a level in a
/// debug build (far less optimised), so this stays inside a quarter of a 2 MiB
/// thread stack (tokio's default); a test checks it on such a thread.
pub const MAX_DEPTH_CEILING: usize = 256;

impl Default for ParseOptions {
    fn default() -> ParseOptions {
        ParseOptions { max_depth: 100 }
    }
}

/// A command that did not parse: answer `tag BAD reason`, or `* BAD reason` when
/// the tag could not be read.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct ParseError {
    pub tag: Option<String>,
    /// Short, for people; printable ASCII only (safe to put in a reply line).
    pub reason: Cow<'static, str>,
}

impl fmt::Display for ParseError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.reason)
    }
}

impl std::error::Error for ParseError {}

/// Parses one command with the default options.
pub fn parse(input: &[u8]) -> Result<Command, ParseError> {
    parse_with(input, &ParseOptions::default())
}

/// Parses one command: `input` is exactly one command as the framer yields it,
/// ending with CRLF.
pub fn parse_with(input: &[u8], opts: &ParseOptions) -> Result<Command, ParseError> {
    let mut c = Cursor::new(input, opts.max_depth.min(MAX_DEPTH_CEILING));
    let tag = c.tag().map_err(|reason| ParseError { tag: None, reason })?;
    match command_body(&mut c) {
        Ok(body) => Ok(Command { tag, body }),
        Err(reason) => Err(ParseError {
            tag: Some(tag),
            reason,
        }),
    }
}

/// A client's line during AUTHENTICATE (RFC 3501 section 6.2.2).
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum AuthResponse {
    /// The decoded response (an empty line is an empty response).
    Data(Secret),
    /// `*`: the client gives up; answer `tag BAD`.
    Cancel,
}

/// Parses an AUTHENTICATE continuation line, as [`super::framer::Framer::next_line`]
/// yields it (without CRLF). Base64 must be canonical, as RFC 4648 writes it.
pub fn parse_auth_response(line: &[u8]) -> Result<AuthResponse, ParseError> {
    if line == b"*" {
        return Ok(AuthResponse::Cancel);
    }
    base64::engine::general_purpose::STANDARD
        .decode(line)
        .map(|d| AuthResponse::Data(Secret(d)))
        .map_err(|_| ParseError {
            tag: None,
            reason: "invalid base64 in the authentication response".into(),
        })
}

/// Whether a line ends IDLE (RFC 2177): `DONE`, in any case.
pub fn is_idle_done(line: &[u8]) -> bool {
    line.eq_ignore_ascii_case(b"DONE")
}

fn command_body(c: &mut Cursor<'_>) -> R<CommandBody> {
    c.sp()?;
    let name = c.keyword("a command name")?;
    let body = match name.as_str() {
        "CAPABILITY" => CommandBody::Capability,
        "NOOP" => CommandBody::Noop,
        "LOGOUT" => CommandBody::Logout,
        "STARTTLS" => CommandBody::StartTls,
        "CHECK" => CommandBody::Check,
        "CLOSE" => CommandBody::Close,
        "UNSELECT" => CommandBody::Unselect,
        "EXPUNGE" => CommandBody::Expunge,
        "NAMESPACE" => CommandBody::Namespace,
        "IDLE" => CommandBody::Idle,
        "ID" => id(c)?,
        "AUTHENTICATE" => authenticate(c)?,
        "LOGIN" => {
            c.sp()?;
            let username = c.astring()?;
            c.sp()?;
            let password = Secret(c.astring()?);
            CommandBody::Login { username, password }
        }
        "ENABLE" => {
            let mut caps = Vec::new();
            while !c.at_end() {
                c.sp()?;
                caps.push(c.keyword("a capability name")?);
            }
            if caps.is_empty() {
                return Err("ENABLE needs at least one capability".into());
            }
            CommandBody::Enable(caps)
        }
        "SELECT" => mailbox::select(c, false)?,
        "EXAMINE" => mailbox::select(c, true)?,
        "CREATE" => mailbox::create(c)?,
        "DELETE" => CommandBody::Delete(one_mailbox(c)?),
        "SUBSCRIBE" => CommandBody::Subscribe(one_mailbox(c)?),
        "UNSUBSCRIBE" => CommandBody::Unsubscribe(one_mailbox(c)?),
        "RENAME" => {
            let from = one_mailbox(c)?;
            let to = one_mailbox(c)?;
            CommandBody::Rename { from, to }
        }
        "LIST" => mailbox::list(c)?,
        "LSUB" => mailbox::lsub(c)?,
        "STATUS" => mailbox::status(c)?,
        "APPEND" => mailbox::append(c)?,
        "GETQUOTA" => {
            c.sp()?;
            CommandBody::GetQuota(c.astring()?)
        }
        "GETQUOTAROOT" => CommandBody::GetQuotaRoot(one_mailbox(c)?),
        "SETQUOTA" => set_quota(c)?,
        "SEARCH" => search::search(c, false)?,
        "FETCH" => fetch::fetch(c, false)?,
        "STORE" => fetch::store(c, false)?,
        "COPY" => copy_move(c, false, false)?,
        "MOVE" => copy_move(c, false, true)?,
        "UID" => {
            c.sp()?;
            match c.keyword("a command after UID")?.as_str() {
                "FETCH" => fetch::fetch(c, true)?,
                "STORE" => fetch::store(c, true)?,
                "SEARCH" => search::search(c, true)?,
                "COPY" => copy_move(c, true, false)?,
                "MOVE" => copy_move(c, true, true)?,
                "EXPUNGE" => {
                    c.sp()?;
                    CommandBody::UidExpunge(c.seq_set()?)
                }
                other => return Err(format!("UID {} is not a command", shown(other)).into()),
            }
        }
        other => return Err(format!("unknown command {}", shown(other)).into()),
    };
    c.finish()?;
    Ok(body)
}

/// A client's word for an error reply: an atom (so printable ASCII), cut short.
fn shown(word: &str) -> String {
    let mut s: String = word.chars().take(24).collect();
    if word.len() > s.len() {
        s.push_str("...");
    }
    s
}

fn one_mailbox(c: &mut Cursor<'_>) -> R<super::types::Mailbox> {
    c.sp()?;
    c.mailbox()
}

/// `ID SP ("(" string SP nstring *(SP string SP nstring) ")" / NIL)`.
/// Leniencies: `ID ()` (RFC 2971 wants NIL) is taken as no fields, and a space
/// before `)` is ignored; clients send both (imap-codec accepts `()` and keeps
/// `quirk_trailing_space_id` for the second).
fn id(c: &mut Cursor<'_>) -> R<CommandBody> {
    c.sp()?;
    if c.eat_keyword(b"NIL") {
        return Ok(CommandBody::Id(None));
    }
    c.expect(b'(', "'(' or NIL")?;
    let mut fields = Vec::new();
    loop {
        if c.eat(b')') {
            break;
        }
        if !fields.is_empty() {
            c.sp()?;
            if c.eat(b')') {
                break;
            }
        }
        let key = c.string()?;
        c.sp()?;
        let value = c.nstring()?;
        fields.push((key, value));
    }
    Ok(CommandBody::Id(Some(fields)))
}

/// `AUTHENTICATE SP auth-type [SP (base64 / "=")]` (RFC 4959 SASL-IR).
fn authenticate(c: &mut Cursor<'_>) -> R<CommandBody> {
    c.sp()?;
    let mechanism = c.keyword("a SASL mechanism")?;
    let mut initial_response = None;
    if !c.at_end() {
        c.sp()?;
        // base64 characters are atom characters, `=` included.
        let ir = c.atom("an initial response")?;
        let data = if ir == b"=" {
            Vec::new()
        } else {
            base64::engine::general_purpose::STANDARD
                .decode(ir)
                .map_err(|_| "invalid base64 in the initial response")?
        };
        initial_response = Some(Secret(data));
    }
    Ok(CommandBody::Authenticate {
        mechanism,
        initial_response,
    })
}

/// `SETQUOTA SP quota-root SP "(" [resource SP number64 *(SP ...)] ")"`.
fn set_quota(c: &mut Cursor<'_>) -> R<CommandBody> {
    c.sp()?;
    let root = c.astring()?;
    c.sp()?;
    let limits = c.list(true, "a list of quota limits", |c| {
        let name = c.keyword("a resource name")?;
        c.sp()?;
        Ok((name, c.number64()?))
    })?;
    Ok(CommandBody::SetQuota { root, limits })
}

/// `COPY`/`MOVE SP sequence-set SP mailbox`.
fn copy_move(c: &mut Cursor<'_>, uid: bool, is_move: bool) -> R<CommandBody> {
    c.sp()?;
    let set = c.seq_set()?;
    let mailbox = one_mailbox(c)?;
    Ok(if is_move {
        CommandBody::Move { uid, set, mailbox }
    } else {
        CommandBody::Copy { uid, set, mailbox }
    })
}
