//! The command line, as clap definitions only. The same definitions parse the
//! arguments of `msgstore` and each line typed at the `msgstore> ` prompt.

use clap::{Args, Parser, Subcommand};
use std::path::PathBuf;

#[derive(Debug, Parser)]
#[command(
    name = "msgstore",
    version,
    about = "A mail message store for IMAP, and the tool that keeps it healthy",
    after_help = "With no COMMAND, msgstore opens the `msgstore> ` prompt (or runs the commands on standard input when it is not a terminal).\n\nExample:\n  msgstore --store /srv/mail init\n  msgstore --store /srv/mail user add joe\n  msgstore --store /srv/mail reconstruct -r"
)]
pub struct Cli {
    #[command(flatten)]
    pub global: Global,
    #[command(subcommand)]
    pub command: Option<Command>,
}

#[derive(Debug, Clone, Args)]
pub struct Global {
    /// The store directory [default: $MSGSTORE_ROOT if set and not empty, else /var/lib/msgstore]
    #[arg(long, global = true, value_name = "DIR")]
    pub store: Option<PathBuf>,
    /// Print one JSON document per command (errors too, as {"error": ...})
    #[arg(long, global = true)]
    pub json: bool,
    /// Print only errors and warnings
    #[arg(short, long, global = true)]
    pub quiet: bool,
}

impl Global {
    /// The store directory given: `--store`, else a non-empty `MSGSTORE_ROOT`.
    pub fn store_given(&self) -> Option<PathBuf> {
        self.store.clone().or_else(|| {
            std::env::var_os("MSGSTORE_ROOT")
                .filter(|v| !v.is_empty())
                .map(PathBuf::from)
        })
    }
}

/// A command line clap refused, as msgstore says it: `msgstore: <what>; <next
/// step>`, the tip clap found (a close command name) kept. `None` for `--help` and
/// `--version`, which are no errors.
pub fn refusal(e: &clap::Error, args: &[String]) -> Option<String> {
    use clap::error::ErrorKind;
    if matches!(
        e.kind(),
        ErrorKind::DisplayHelp
            | ErrorKind::DisplayVersion
            | ErrorKind::DisplayHelpOnMissingArgumentOrSubcommand
    ) {
        return None;
    }
    let rendered = e.render().to_string();
    let mut what = String::new();
    let mut tips = Vec::new();
    // An error that ends in a colon lists what it is about on the lines below
    // it ("required arguments were not provided:" then "  --older-than <AGE>").
    let mut listing = false;
    for raw in rendered.lines() {
        let line = raw.trim();
        if let Some(m) = line.strip_prefix("error: ") {
            what = m.to_owned();
            listing = what.ends_with(':');
        } else if let Some(t) = line.strip_prefix("tip: ") {
            tips.push(t.to_owned());
            listing = false;
        } else if listing && raw.starts_with(' ') && !line.is_empty() {
            what.push(' ');
            what.push_str(line);
        } else {
            listing = false;
        }
    }
    if let Some(w) = what.strip_suffix(':') {
        what = w.to_owned();
    }
    if what.is_empty() {
        what = rendered
            .lines()
            .next()
            .unwrap_or("invalid command line")
            .to_owned();
    }
    // The subcommand words typed, for the pointer to its help.
    let mut words: Vec<&str> = Vec::new();
    let mut rest = args.iter().skip(1).map(String::as_str);
    while let Some(a) = rest.next() {
        if a == "--store" {
            rest.next();
        } else if a.starts_with('-') {
        } else if COMMAND_WORDS.contains(&a) {
            words.push(a);
        } else {
            break;
        }
    }
    let help = if words.is_empty() {
        "msgstore --help".to_owned()
    } else {
        format!("msgstore {} --help", words.join(" "))
    };
    let mut out = what;
    for t in tips {
        out.push_str(&format!(" ({t})"));
    }
    out.push_str(&format!("; see `{help}`"));
    Some(out)
}

/// Words that name a command or subcommand (for [`refusal`]'s pointer to help).
const COMMAND_WORDS: &[&str] = &[
    "init",
    "user",
    "mailbox",
    "deliver",
    "flags",
    "expunge",
    "reconstruct",
    "x-build-user-db",
    "dump",
    "demo",
    "add",
    "list",
    "delete",
    "rename",
    "create",
    "passwd",
    "quota",
    "serve",
    "import",
    "export",
    "set-aside",
    "remove",
    "completions",
    "man",
];

#[derive(Debug, Subcommand)]
pub enum Command {
    /// Create a new, empty store
    #[command(after_help = "Example:\n  msgstore --store /srv/mail init")]
    Init,
    /// Add, list or delete users; set their passwords and quotas
    #[command(subcommand)]
    User(UserCmd),
    /// Create, list, delete or rename mailboxes
    #[command(subcommand)]
    Mailbox(MailboxCmd),
    /// Deliver messages from files (or one from standard input); prints the new UIDs
    #[command(
        after_help = "Example:\n  msgstore deliver joe message.eml\n  msgstore deliver \"joe/my stuff\" < message.eml"
    )]
    Deliver {
        /// Mailbox name (`joe` means `Other Users/joe`)
        mailbox: String,
        /// Message files; standard input if none
        files: Vec<PathBuf>,
    },
    /// Add or remove flags (\Seen \Answered \Flagged \Deleted \Draft, or keywords)
    #[command(
        after_help = "Example:\n  msgstore flags joe 1:4,7 --add '\\Seen' --add '$Important' --remove '\\Flagged'"
    )]
    Flags {
        mailbox: String,
        /// UIDs, like 1:4,7,9:*
        uidset: String,
        #[arg(long, value_name = "FLAG", allow_hyphen_values = true)]
        add: Vec<String>,
        #[arg(long, value_name = "FLAG", allow_hyphen_values = true)]
        remove: Vec<String>,
    },
    /// Remove messages flagged \Deleted, or the given UIDs
    #[command(after_help = "Example:\n  msgstore expunge joe\n  msgstore expunge joe 3:5")]
    Expunge {
        mailbox: String,
        uidset: Option<String>,
    },
    /// Rebuild mailbox indexes from their message files (-r: and below; -m: the mailbox list)
    #[command(
        after_help = "Examples:\n  msgstore reconstruct joe \"joe/my stuff\"\n  msgstore reconstruct -r            # every mailbox\n  msgstore reconstruct -m            # the mailbox list\n  msgstore reconstruct -r -n joe     # what would change, changing nothing"
    )]
    Reconstruct(ReconstructArgs),
    /// Rebuild the user database from the directories under users/
    #[command(
        name = "x-build-user-db",
        after_help = "Example:\n  msgstore x-build-user-db -n\n  msgstore x-build-user-db"
    )]
    XBuildUserDb {
        /// Dry run: report what would change, change nothing
        #[arg(short = 'n', long = "dry-run")]
        dry_run: bool,
    },
    /// Show a mailbox's index and cache
    #[command(
        after_help = "Example:\n  msgstore dump joe\n  msgstore --json dump \"Public Folders/news\""
    )]
    Dump { mailbox: String },
    /// Import a Maildir (-r: and its Maildir++ folders) or an mbox file into a mailbox
    #[command(
        after_help = "Messages already in the mailbox are not added again, so an interrupted import can simply be run again.\n\nExamples:\n  msgstore import joe /home/joe/Maildir -r     # INBOX, and .Sent as joe/Sent, ...\n  msgstore import joe/archive archive.mbox"
    )]
    Import(ImportArgs),
    /// Export a mailbox (-r: and those below it) as a Maildir or an mbox file
    #[command(
        after_help = "Writes new files only: a new or empty directory, or a new file.\n\nExamples:\n  msgstore export joe /tmp/joe-maildir -r\n  msgstore export joe/archive archive.mbox --format mbox"
    )]
    Export(ExportArgs),
    /// Serve the store over IMAP and LMTP (TCP, TLS, unix sockets, or one IMAP session on stdin/stdout)
    #[command(
        after_help = "ADDR is HOST:PORT or unix:PATH. Logs go to standard error; SIGTERM ends every session with BYE and exits 0.\n\nExamples:\n  msgstore serve --imap 127.0.0.1:143\n  msgstore serve --imap [::]:143 --imaps [::]:993 --tls-cert cert.pem --tls-key key.pem\n  msgstore serve --imap 127.0.0.1:143 --lmtp unix:/run/msgstore/lmtp.sock\n  msgstore serve --stdio --user joe      # what a mail client's Tunnel setting runs"
    )]
    Serve(ServeArgs),
    /// List or remove the files repairs set aside (NUL messages, damaged indexes and databases)
    #[command(
        subcommand,
        name = "set-aside",
        after_help = "Examples:\n  msgstore set-aside list\n  msgstore set-aside remove --older-than 30d"
    )]
    SetAside(SetAsideCmd),
    /// Print a shell completion script (bash, elvish, fish, powershell, zsh)
    #[command(
        after_help = "Examples:\n  msgstore completions bash > /etc/bash_completion.d/msgstore\n  msgstore completions zsh > \"${fpath[1]}/_msgstore\"\n  msgstore completions fish > ~/.config/fish/completions/msgstore.fish"
    )]
    Completions {
        /// The shell to complete for
        #[arg(value_enum)]
        shell: clap_complete::Shell,
    },
    /// Write the manual pages (msgstore.1, msgstore-reconstruct.1, ...) into DIR, for packagers
    #[command(
        hide = true,
        after_help = "DIR is created if missing; pages already there with the same names are replaced.\n\nExample:\n  msgstore man /usr/local/share/man/man1"
    )]
    Man {
        /// Where to write the pages
        dir: PathBuf,
    },
    /// Build a sample store, damage it, repair it, and show that nothing was lost
    #[command(
        after_help = "The store is built in --dir DIR, else in --store DIR, else in a new directory under the system's temp directory; it must be new or empty.\n\nExample:\n  msgstore demo\n  msgstore demo --dir /tmp/demo-store --messages 1000"
    )]
    Demo {
        /// Where to build the sample store [default: --store, else a new directory under the system temp dir]
        #[arg(long, value_name = "DIR")]
        dir: Option<PathBuf>,
        /// Messages to generate, spread over its four mailboxes (at least 12)
        #[arg(long, default_value_t = 200, value_parser = clap::value_parser!(u32).range(12..=1_000_000))]
        messages: u32,
    },
}

#[derive(Debug, Subcommand)]
pub enum UserCmd {
    /// Add users, each with an INBOX
    #[command(after_help = "Example:\n  msgstore user add joe ann")]
    Add {
        #[arg(required = true)]
        names: Vec<String>,
    },
    /// List users: status, quota, usage (bytes), whether a password is set
    #[command(after_help = "Example:\n  msgstore user list\n  msgstore --json user list")]
    List,
    /// Delete a user with all their mailboxes and mail
    #[command(after_help = "Example:\n  msgstore user delete joe")]
    Delete { name: String },
    /// Set a user's password: prompted twice on a terminal, else one line of standard input
    #[command(
        after_help = "The password is stored as an Argon2id hash; a user without one cannot log in to IMAP.\n\nExamples:\n  msgstore user passwd joe\n  printf '%s\\n' \"$PASSWORD\" | msgstore user passwd joe"
    )]
    Passwd {
        /// The user, as added
        name: String,
    },
    /// Set a user's storage quota (the sum of RFC822.SIZE over their mailboxes), or remove it
    #[command(
        after_help = "BYTES is a number of bytes, or of KiB, MiB, GiB or TiB with the suffix K, M, G or T; `none` removes the quota. Deliveries, LMTP, IMAP APPEND and import refuse a message that would take the user over it.\n\nExamples:\n  msgstore user quota joe 2G\n  msgstore user quota joe 500000000\n  msgstore user quota joe none"
    )]
    Quota {
        /// The user, as added
        name: String,
        /// Bytes (or with K, M, G, T: KiB, MiB, GiB, TiB), or `none`
        #[arg(value_name = "BYTES|none", value_parser = parse_quota)]
        limit: QuotaLimit,
    },
}

/// The argument of `user quota`.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum QuotaLimit {
    Bytes(u64),
    None,
}

impl QuotaLimit {
    pub fn bytes(self) -> Option<u64> {
        match self {
            QuotaLimit::Bytes(b) => Some(b),
            QuotaLimit::None => None,
        }
    }
}

/// `none`, or digits with an optional binary suffix (`2G` is 2 GiB).
pub fn parse_quota(s: &str) -> Result<QuotaLimit, String> {
    if s.eq_ignore_ascii_case("none") {
        return Ok(QuotaLimit::None);
    }
    let bad = || format!("`{s}` is not a quota: give bytes (like 500000000 or 2G) or `none`");
    let (digits, shift) = match s.as_bytes().last().map(u8::to_ascii_uppercase) {
        Some(b'K') => (&s[..s.len() - 1], 10),
        Some(b'M') => (&s[..s.len() - 1], 20),
        Some(b'G') => (&s[..s.len() - 1], 30),
        Some(b'T') => (&s[..s.len() - 1], 40),
        _ => (s, 0),
    };
    if digits.is_empty() || !digits.bytes().all(|b| b.is_ascii_digit()) {
        return Err(bad());
    }
    let n: u64 = digits.parse().map_err(|_| bad())?;
    n.checked_mul(1u64 << shift)
        .map(QuotaLimit::Bytes)
        .ok_or_else(|| format!("`{s}` is more bytes than a quota can hold"))
}

#[derive(Debug, Subcommand)]
pub enum MailboxCmd {
    /// Create a mailbox (and any missing parents)
    #[command(
        after_help = "Example:\n  msgstore mailbox create \"joe/my stuff\"\n  msgstore mailbox create \"Public Folders/news\""
    )]
    Create { name: String },
    /// List mailboxes, optionally those whose name starts with PREFIX
    #[command(after_help = "Example:\n  msgstore mailbox list\n  msgstore mailbox list joe")]
    List { prefix: Option<String> },
    /// Delete a mailbox and its messages (it must have no child mailboxes)
    #[command(after_help = "Example:\n  msgstore mailbox delete joe/old")]
    Delete { name: String },
    /// Rename a mailbox; its children move with it and UIDVALIDITY is kept
    #[command(after_help = "Example:\n  msgstore mailbox rename joe/old joe/archive/2025")]
    Rename { old: String, new: String },
}

#[derive(Debug, Subcommand)]
pub enum SetAsideCmd {
    /// List set-aside files: in the named mailboxes and those below them, or with no name in the whole store
    #[command(
        after_help = "A file's age is the time in its name (msgstore.index.corrupt-20261128T101500Z); a <uid>.BAD has none, and its age is the time it was renamed.\n\nExamples:\n  msgstore set-aside list\n  msgstore --json set-aside list joe"
    )]
    List {
        /// Mailboxes to look in, each with those below it (`joe` means `Other Users/joe`) [default: the whole store]
        #[arg(value_name = "MAILBOX")]
        mailboxes: Vec<String>,
    },
    /// Remove set-aside files set aside at least AGE ago (nothing else is ever removed)
    #[command(
        after_help = "Only names repairs give are removed: <uid>.BAD and <file>.corrupt-<UTC time> (see schema/spool.md); a directory under such a name is left for you to look into.\n\nExamples:\n  msgstore set-aside remove --older-than 30d -n     # what would go\n  msgstore set-aside remove --older-than 30d\n  msgstore set-aside remove --older-than 0 joe/stuff"
    )]
    Remove {
        /// A whole number and a unit: s, m, h, d or w (`30d`, `12h`, `2w`); `0` for all
        #[arg(long, value_name = "AGE", value_parser = parse_age)]
        older_than: u64,
        /// Dry run: say what would be removed, remove nothing
        #[arg(short = 'n', long = "dry-run")]
        dry_run: bool,
        /// Mailboxes to look in, each with those below it [default: the whole store]
        #[arg(value_name = "MAILBOX")]
        mailboxes: Vec<String>,
    },
}

/// `--older-than`'s value: seconds.
fn parse_age(s: &str) -> Result<u64, String> {
    crate::store::aside::parse_age(s).ok_or_else(|| {
        format!("`{s}` is no age: give a whole number and a unit, s, m, h, d or w (`30d`), or `0`")
    })
}

#[derive(Debug, Clone, Args)]
pub struct ServeArgs {
    /// Listen for IMAP (STARTTLS when a certificate is given) on ADDR; repeatable
    #[arg(long, value_name = "ADDR")]
    pub imap: Vec<String>,
    /// Listen for IMAP over implicit TLS on ADDR; repeatable (needs --tls-cert and --tls-key)
    #[arg(long, value_name = "ADDR")]
    pub imaps: Vec<String>,
    /// Listen for LMTP (deliveries from an MTA) on ADDR; repeatable
    #[arg(long, value_name = "ADDR")]
    pub lmtp: Vec<String>,
    /// The server's certificate chain, PEM
    #[arg(long, value_name = "PEM")]
    pub tls_cert: Option<PathBuf>,
    /// The certificate's private key, PEM
    #[arg(long, value_name = "PEM")]
    pub tls_key: Option<PathBuf>,
    /// Serve one pre-authenticated session on standard input and output
    #[arg(long, requires = "user", conflicts_with_all = ["imap", "imaps", "lmtp"])]
    pub stdio: bool,
    /// The user of the --stdio session
    #[arg(long, value_name = "NAME", requires = "stdio")]
    pub user: Option<String>,
    /// Connections taken at once, in all; more are told BYE
    #[arg(long, value_name = "N", default_value_t = 20_000)]
    pub max_connections: usize,
    /// Connections taken at once from one IP address
    #[arg(long, value_name = "N", default_value_t = 200)]
    pub max_per_address: usize,
}

#[derive(Debug, Clone, Args)]
pub struct ImportArgs {
    /// Mailbox to import into, created if missing (`joe` means `Other Users/joe`)
    pub mailbox: String,
    /// A Maildir (a directory with cur/ and new/) or an mbox file
    pub path: PathBuf,
    /// Also the Maildir++ folders (.Sent, .Archive.2023), as mailboxes below MAILBOX
    #[arg(short = 'r', long = "recurse")]
    pub recurse: bool,
    /// Read the mbox file as mboxo: unquote `>From ` lines only, not `>>From ` (the default reads mboxrd)
    #[arg(long)]
    pub mboxo: bool,
}

#[derive(Debug, Clone, Args)]
pub struct ExportArgs {
    /// Mailbox to export (`joe` means `Other Users/joe`)
    pub mailbox: String,
    /// A new or empty directory (Maildir), or a new file (mbox)
    pub path: PathBuf,
    /// Also every mailbox below MAILBOX, as Maildir++ folders
    #[arg(short = 'r', long = "recurse")]
    pub recurse: bool,
    #[arg(long, value_enum, default_value_t = Format::Maildir)]
    pub format: Format,
}

/// The formats of `export`.
#[derive(Clone, Copy, Debug, PartialEq, Eq, clap::ValueEnum)]
pub enum Format {
    Maildir,
    Mbox,
}

#[derive(Debug, Clone, Args)]
pub struct ReconstructArgs {
    /// Also every mailbox below the named ones; with no name, every mailbox
    #[arg(short = 'r', long = "recurse")]
    pub recurse: bool,
    /// Rebuild the mailbox list from the user database and the directory tree
    #[arg(short = 'm', long = "mailbox-list")]
    pub mailbox_list: bool,
    /// Dry run: report what would change, change nothing
    #[arg(short = 'n', long = "dry-run")]
    pub dry_run: bool,
    /// Re-parse every message, even those whose content hash matches
    #[arg(long, conflicts_with = "quick")]
    pub full: bool,
    /// Trust size, mtime and inode of files that match their record; read nothing
    #[arg(long)]
    pub quick: bool,
    /// Wait for a busy mailbox instead of skipping it
    #[arg(long)]
    pub wait: bool,
    pub mailboxes: Vec<String>,
}

#[cfg(test)]
mod tests {
    use super::*;
    use clap::CommandFactory;

    #[test]
    fn definitions_are_consistent() {
        Cli::command().debug_assert();
    }

    #[test]
    fn every_command_has_an_example() {
        fn walk(c: &clap::Command) {
            if c.get_subcommands().next().is_none() && c.get_name() != "help" {
                let h = c
                    .get_after_help()
                    .map(|s| s.to_string())
                    .unwrap_or_default();
                assert!(h.contains("Example"), "{} has no example", c.get_name());
            }
            for s in c.get_subcommands() {
                walk(s);
            }
        }
        walk(&Cli::command());
    }

    #[test]
    fn import_and_export_flag_spellings() {
        let c = Cli::try_parse_from(["msgstore", "import", "-r", "joe", "/m", "--mboxo"]).unwrap();
        let Some(Command::Import(a)) = c.command else {
            panic!("not import")
        };
        assert!(a.recurse && a.mboxo && a.mailbox == "joe");
        let c = Cli::try_parse_from(["msgstore", "export", "joe", "/m", "--recurse"]).unwrap();
        let Some(Command::Export(a)) = c.command else {
            panic!("not export")
        };
        assert!(a.recurse && a.format == Format::Maildir);
        let c =
            Cli::try_parse_from(["msgstore", "export", "joe", "/m", "--format", "mbox"]).unwrap();
        let Some(Command::Export(a)) = c.command else {
            panic!("not export")
        };
        assert_eq!(a.format, Format::Mbox);
        assert!(
            Cli::try_parse_from(["msgstore", "export", "joe", "/m", "--format", "mh"]).is_err()
        );
    }

    #[test]
    fn quota_spellings() {
        assert_eq!(parse_quota("none"), Ok(QuotaLimit::None));
        assert_eq!(parse_quota("NONE"), Ok(QuotaLimit::None));
        assert_eq!(parse_quota("0"), Ok(QuotaLimit::Bytes(0)));
        assert_eq!(parse_quota("1000"), Ok(QuotaLimit::Bytes(1000)));
        assert_eq!(parse_quota("2k"), Ok(QuotaLimit::Bytes(2048)));
        assert_eq!(parse_quota("2G"), Ok(QuotaLimit::Bytes(2 << 30)));
        assert_eq!(parse_quota("1T"), Ok(QuotaLimit::Bytes(1 << 40)));
        for bad in [
            "",
            "G",
            "-1",
            "1.5G",
            "1GB",
            "ten",
            " 1",
            "99999999999999999999",
        ] {
            assert!(parse_quota(bad).is_err(), "{bad:?} accepted");
        }
        assert!(parse_quota("99999999T").is_err(), "overflow");
        let c = Cli::try_parse_from(["msgstore", "user", "quota", "joe", "10M"]).unwrap();
        let Some(Command::User(UserCmd::Quota { name, limit })) = c.command else {
            panic!("not user quota")
        };
        assert_eq!((name.as_str(), limit), ("joe", QuotaLimit::Bytes(10 << 20)));
        let c = Cli::try_parse_from(["msgstore", "user", "passwd", "joe"]).unwrap();
        assert!(matches!(
            c.command,
            Some(Command::User(UserCmd::Passwd { .. }))
        ));
    }

    #[test]
    fn set_aside_and_packaging_spellings() {
        let c = Cli::try_parse_from([
            "msgstore",
            "set-aside",
            "remove",
            "--older-than",
            "30d",
            "-n",
            "joe",
        ])
        .unwrap();
        let Some(Command::SetAside(SetAsideCmd::Remove {
            older_than,
            dry_run,
            mailboxes,
        })) = c.command
        else {
            panic!("not set-aside remove")
        };
        assert_eq!(
            (older_than, dry_run, mailboxes),
            (30 * 86_400, true, vec!["joe".to_string()])
        );
        let c = Cli::try_parse_from([
            "msgstore",
            "set-aside",
            "remove",
            "--older-than=0",
            "--dry-run",
        ])
        .unwrap();
        assert!(matches!(
            c.command,
            Some(Command::SetAside(SetAsideCmd::Remove {
                older_than: 0,
                dry_run: true,
                ..
            }))
        ));
        for bad in ["30", "1y", "-1d", "soon"] {
            assert!(
                Cli::try_parse_from(["msgstore", "set-aside", "remove", "--older-than", bad])
                    .is_err(),
                "{bad}"
            );
        }
        // No age, no removal: it is never implied.
        assert!(Cli::try_parse_from(["msgstore", "set-aside", "remove"]).is_err());
        let c = Cli::try_parse_from(["msgstore", "set-aside", "list"]).unwrap();
        assert!(matches!(
            c.command,
            Some(Command::SetAside(SetAsideCmd::List { .. }))
        ));
        let c = Cli::try_parse_from(["msgstore", "completions", "zsh"]).unwrap();
        assert!(matches!(
            c.command,
            Some(Command::Completions {
                shell: clap_complete::Shell::Zsh
            })
        ));
        assert!(Cli::try_parse_from(["msgstore", "completions", "tcsh"]).is_err());
        let c = Cli::try_parse_from(["msgstore", "man", "/tmp/m"]).unwrap();
        assert!(matches!(c.command, Some(Command::Man { .. })));
    }

    #[test]
    fn reconstruct_flag_spellings() {
        let c = Cli::try_parse_from(["msgstore", "reconstruct", "-rmn", "--wait", "joe"]).unwrap();
        let Some(Command::Reconstruct(a)) = c.command else {
            panic!("not reconstruct")
        };
        assert!(a.recurse && a.mailbox_list && a.dry_run && a.wait && !a.full);
        let c = Cli::try_parse_from([
            "msgstore",
            "reconstruct",
            "--recurse",
            "--mailbox-list",
            "--dry-run",
            "--full",
        ])
        .unwrap();
        let Some(Command::Reconstruct(a)) = c.command else {
            panic!("not reconstruct")
        };
        assert!(a.recurse && a.mailbox_list && a.dry_run && a.full);
        assert!(Cli::try_parse_from(["msgstore", "reconstruct", "--full", "--quick"]).is_err());
    }
}
