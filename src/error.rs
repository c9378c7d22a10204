//! One error type for the whole crate. Every variant names what failed and where, and
//! `Display` ends with the next step. Errors are classified by their variant, never
//! by their text: the front ends map them to exit statuses and protocol replies.

use std::fmt;
use std::path::PathBuf;

/// Which of the store's redb files an error is about: it decides the remedy.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum DbKind {
    /// `users.redb`
    Users,
    /// `mailboxes.redb`
    Mailboxes,
    /// A mailbox's `msgstore.index`
    Index,
}

impl DbKind {
    /// The command that rebuilds this file.
    pub fn rebuild(self) -> &'static str {
        match self {
            DbKind::Users => "run `msgstore x-build-user-db` to rebuild the user database",
            DbKind::Mailboxes => "run `msgstore reconstruct -m` to rebuild the mailbox list",
            DbKind::Index => "run `msgstore reconstruct` on this mailbox",
        }
    }
}

/// Why a redb file could not be used.
#[derive(Debug)]
pub enum Fault {
    Missing,
    /// Another process has the file open: contention, not damage.
    Busy,
    /// The file's last writer died: a writer's open must recover it first.
    NeedsRecovery,
    /// Bytes that make no sense.
    Damaged(String),
    /// The operating system refused (read-only or failing file system, permissions,
    /// a full disk): setting the file aside would not help.
    Os(std::io::Error),
    /// A format version this msgstore does not read.
    Version {
        found: u64,
        expected: u64,
    },
    /// Not one of msgstore's files (no format entry, wrong magic).
    NotOurs,
    /// A FIFO, a directory, a symlink or a device where a file should be.
    NotRegular(&'static str),
}

impl Fault {
    /// Damage that rebuilding the file repairs (as opposed to contention or the OS).
    pub fn is_damage(&self) -> bool {
        matches!(
            self,
            Fault::Damaged(_) | Fault::NotOurs | Fault::NotRegular(_) | Fault::NeedsRecovery
        )
    }
}

impl fmt::Display for Fault {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Fault::Missing => f.write_str("missing"),
            Fault::Busy => f.write_str("in use by another process"),
            Fault::NeedsRecovery => f.write_str("needs crash recovery (its last writer died)"),
            Fault::Damaged(why) => write!(f, "damaged: {why}"),
            Fault::Os(e) => write!(f, "{e}"),
            Fault::Version { found, expected } => write!(
                f,
                "format version {found}, but this msgstore reads version {expected}"
            ),
            Fault::NotOurs => f.write_str("not a msgstore file"),
            Fault::NotRegular(what) => write!(f, "not a regular file but {what}"),
        }
    }
}

#[derive(Debug)]
pub enum Error {
    /// The command line was wrong (bad name, malformed UIDSET, ...).
    Usage(String),
    /// The directory is not a msgstore store; `nonempty`: it holds other things, so
    /// `init` would refuse it too.
    NotAStore {
        path: PathBuf,
        nonempty: bool,
    },
    /// An I/O operation on a path failed.
    Io {
        path: PathBuf,
        op: &'static str,
        source: std::io::Error,
    },
    /// A redb file (users.redb, mailboxes.redb, an index) could not be used.
    Db {
        path: PathBuf,
        kind: DbKind,
        fault: Fault,
    },
    UnknownUser(String),
    UserExists(String),
    UnknownMailbox {
        name: String,
        /// The closest existing name, when one is close.
        suggestion: Option<String>,
    },
    MailboxExists(String),
    /// Another process holds the mailbox, and waiting did not help.
    MailboxBusy(String),
    /// The mailbox list is locked (being rebuilt or changed) and waiting did not help.
    ListBusy,
    /// A message was refused (NUL bytes, empty, too large).
    Refused {
        what: String,
        why: String,
    },
    /// A user's quota would be exceeded.
    OverQuota {
        user: String,
        detail: String,
    },
    /// Anything else about one mailbox, already phrased for the user.
    Mailbox {
        mailbox: String,
        what: String,
    },
}

pub type Result<T, E = Error> = std::result::Result<T, E>;

/// A name as messages show it: in backticks, as typed, with only what cannot be
/// printed (control characters, a backtick) escaped — `\Seen`, not `"\\Seen"`.
pub fn shown(s: &str) -> String {
    let mut out = String::with_capacity(s.len() + 2);
    out.push('`');
    for c in s.chars() {
        match c {
            '`' => out.push_str("\\`"),
            c if c.is_control() => out.push_str(&c.escape_unicode().to_string()),
            c => out.push(c),
        }
    }
    out.push('`');
    out
}

impl Error {
    pub fn io(path: impl Into<PathBuf>, op: &'static str, source: std::io::Error) -> Error {
        Error::Io {
            path: path.into(),
            op,
            source,
        }
    }

    pub fn db(path: impl Into<PathBuf>, kind: DbKind, fault: Fault) -> Error {
        Error::Db {
            path: path.into(),
            kind,
            fault,
        }
    }

    pub fn unknown_mailbox(name: impl Into<String>) -> Error {
        Error::UnknownMailbox {
            name: name.into(),
            suggestion: None,
        }
    }

    /// The fault, when this is a database error.
    pub fn fault(&self) -> Option<&Fault> {
        match self {
            Error::Db { fault, .. } => Some(fault),
            _ => None,
        }
    }

    /// Contention that waiting would end (not damage, not a mistake).
    pub fn is_busy(&self) -> bool {
        matches!(
            self,
            Error::MailboxBusy(_)
                | Error::ListBusy
                | Error::Db {
                    fault: Fault::Busy,
                    ..
                }
        )
    }

    /// The message without its remedy, for the report of the command that is the remedy.
    pub fn detail(&self) -> String {
        match self {
            Error::Db { path, fault, .. } => format!("{}: {fault}", path.display()),
            e => e.to_string(),
        }
    }
}

fn db_remedy(kind: DbKind, fault: &Fault) -> &'static str {
    match fault {
        Fault::Busy => "another msgstore process is using it; try again in a moment",
        Fault::Os(_) => "check that the file system is mounted writable, has room and is healthy",
        Fault::Version { found, expected } if found > expected => {
            "use the msgstore release that wrote it"
        }
        Fault::Version { .. } if kind == DbKind::Index => {
            "run `msgstore reconstruct` on this mailbox to convert it"
        }
        Fault::Version { .. } => "use the msgstore release that wrote it",
        _ => kind.rebuild(),
    }
}

impl fmt::Display for Error {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Error::Usage(m) => write!(f, "{m}"),
            Error::NotAStore {
                path,
                nonempty: false,
            } => write!(
                f,
                "{}: not a msgstore store; create one with `msgstore --store {} init`, or give the right --store (or MSGSTORE_ROOT)",
                path.display(),
                path.display()
            ),
            Error::NotAStore {
                path,
                nonempty: true,
            } => write!(
                f,
                "{}: not a msgstore store (it has no users/ and public/ directories, and holds other files); give the store's directory with --store (or MSGSTORE_ROOT)",
                path.display()
            ),
            Error::Io { path, op, source } => write!(
                f,
                "{}: {op}: {source}; {}",
                path.display(),
                io_remedy(source)
            ),
            Error::Db { path, kind, fault } => {
                write!(
                    f,
                    "{}: {fault}; {}",
                    path.display(),
                    db_remedy(*kind, fault)
                )
            }
            Error::UnknownUser(u) => write!(
                f,
                "{u}: no such user; see `msgstore user list`, or add it with `msgstore user add {u}`"
            ),
            Error::UserExists(u) => write!(f, "{u}: user already exists; see `msgstore user list`"),
            Error::UnknownMailbox { name, suggestion } => {
                write!(f, "{name}: no such mailbox")?;
                if let Some(s) = suggestion {
                    write!(f, " (did you mean {}?)", shown(s))?;
                }
                write!(
                    f,
                    "; see `msgstore mailbox list`, or run `msgstore reconstruct -m` if its directory exists"
                )
            }
            Error::MailboxExists(m) => write!(
                f,
                "{m}: mailbox already exists; choose another name, or see `msgstore mailbox list`"
            ),
            Error::MailboxBusy(m) => write!(
                f,
                "{m}: mailbox in use by another process; try again later, or use --wait"
            ),
            Error::ListBusy => write!(
                f,
                "the mailbox list is being rebuilt or changed by another process; try again when `reconstruct -m` has finished"
            ),
            Error::Refused { what, why } => write!(f, "{what}: refused: {why}"),
            Error::OverQuota { user, detail } => write!(
                f,
                "{user}: over quota: {detail}; raise it with `msgstore user quota {user} BYTES`, or expunge mail"
            ),
            Error::Mailbox { mailbox, what } => write!(f, "{mailbox}: {what}"),
        }
    }
}

/// The next step after an I/O error, by its kind.
fn io_remedy(e: &std::io::Error) -> &'static str {
    use std::io::ErrorKind as K;
    match e.kind() {
        K::PermissionDenied => "run msgstore as the store's owner, or fix the permissions",
        K::NotFound => "check the path",
        K::StorageFull | K::QuotaExceeded => "free some space on the file system and try again",
        K::ReadOnlyFilesystem => "remount the file system writable and try again",
        K::IsADirectory => "give a file, not a directory",
        K::AlreadyExists => "move the existing file away first",
        _ if e.raw_os_error() == Some(libc::EIO) => {
            "the disk reported an I/O error: check it, then run `msgstore reconstruct`"
        }
        _ => "check the file system, then try again",
    }
}

impl std::error::Error for Error {
    fn source(&self) -> Option<&(dyn std::error::Error + 'static)> {
        match self {
            Error::Io { source, .. } => Some(source),
            Error::Db {
                fault: Fault::Os(e),
                ..
            } => Some(e),
            _ => None,
        }
    }
}
