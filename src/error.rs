//! One error type for the whole crate. Every variant names what failed and where, and
//! `Display` ends with the next step when the store is damaged.

use std::fmt;
use std::path::PathBuf;

#[derive(Debug)]
pub enum Error {
    /// The command line was wrong (bad name, malformed UIDSET, ...): exit status 2.
    Usage(String),
    /// The directory is not a msgstore store.
    NotAStore(PathBuf),
    /// An I/O operation on a path failed.
    Io {
        path: PathBuf,
        op: &'static str,
        source: std::io::Error,
    },
    /// A database (users.redb, mailboxes.redb, an index) could not be used.
    Db {
        path: PathBuf,
        what: String,
        remedy: &'static str,
    },
    UnknownUser(String),
    UserExists(String),
    UnknownMailbox(String),
    MailboxExists(String),
    /// Another process holds the mailbox.
    MailboxBusy(String),
    /// A message was refused (NUL bytes, empty, too large).
    Refused {
        what: String,
        why: String,
    },
    /// Anything else about one mailbox, already phrased for the user.
    Mailbox {
        mailbox: String,
        what: String,
    },
}

pub type Result<T, E = Error> = std::result::Result<T, E>;

impl Error {
    pub fn io(path: impl Into<PathBuf>, op: &'static str, source: std::io::Error) -> Error {
        Error::Io {
            path: path.into(),
            op,
            source,
        }
    }

    pub fn db(path: impl Into<PathBuf>, what: impl fmt::Display, remedy: &'static str) -> Error {
        Error::Db {
            path: path.into(),
            what: what.to_string(),
            remedy,
        }
    }

    /// The message without its remedy, for the report of the command that is the remedy.
    pub fn detail(&self) -> String {
        match self {
            Error::Db { path, what, .. } => format!("{}: {what}", path.display()),
            e => e.to_string(),
        }
    }

    /// Store-level errors (exit status 2) versus per-mailbox failures (exit status 1).
    pub fn is_store_error(&self) -> bool {
        matches!(self, Error::Usage(_) | Error::NotAStore(_))
    }
}

impl fmt::Display for Error {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Error::Usage(m) => write!(f, "{m}"),
            Error::NotAStore(p) => write!(
                f,
                "{}: not a msgstore store (no users.redb and mailboxes.redb); create one with `msgstore --store {} init`",
                p.display(),
                p.display()
            ),
            Error::Io { path, op, source } => write!(f, "{}: {op}: {source}", path.display()),
            Error::Db { path, what, remedy } => {
                write!(f, "{}: {what}", path.display())?;
                if !remedy.is_empty() {
                    write!(f, "; {remedy}")?;
                }
                Ok(())
            }
            Error::UnknownUser(u) => {
                write!(
                    f,
                    "{u}: no such user; see `msgstore user list` or add it with `msgstore user add`"
                )
            }
            Error::UserExists(u) => write!(f, "{u}: user already exists"),
            Error::UnknownMailbox(m) => write!(
                f,
                "{m}: no such mailbox; see `msgstore mailbox list`, or run `msgstore reconstruct -m` if its directory exists"
            ),
            Error::MailboxExists(m) => write!(f, "{m}: mailbox already exists"),
            Error::MailboxBusy(m) => write!(
                f,
                "{m}: mailbox in use by another process; try again later, or use --wait"
            ),
            Error::Refused { what, why } => write!(f, "{what}: refused: {why}"),
            Error::Mailbox { mailbox, what } => write!(f, "{mailbox}: {what}"),
        }
    }
}

impl std::error::Error for Error {
    fn source(&self) -> Option<&(dyn std::error::Error + 'static)> {
        match self {
            Error::Io { source, .. } => Some(source),
            _ => None,
        }
    }
}
