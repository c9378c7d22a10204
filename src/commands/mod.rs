//! Runs one parsed command: opens the store, calls the operation, prints the
//! outcome. Returns the exit status: 0 done, 1 done but something failed, 2 usage
//! or store error.

mod admin;
mod demo;
mod messages;
mod packaging;
mod reconstruct;
mod set_aside;
mod transfer;

use crate::cli::{Command, Global};
use crate::error::{Error, Result};
use crate::output::Printer;
use crate::store::{DEFAULT_ROOT, Store};
use std::path::PathBuf;

/// The exit status: a contract scripts rely on.
#[derive(Clone, Copy, Debug, PartialEq, Eq, PartialOrd, Ord)]
pub enum Exit {
    /// All done.
    Ok = 0,
    /// Done, but some mailbox or message failed or was busy.
    Partial = 1,
    /// A usage or store error: nothing (or not everything asked) was done.
    Failed = 2,
}

impl Exit {
    /// The status a command ends with when `e` stopped it.
    pub fn for_error(e: &Error) -> Exit {
        match e {
            Error::MailboxBusy(_) | Error::Refused { .. } | Error::OverQuota { .. } => {
                Exit::Partial
            }
            Error::Db {
                fault: crate::error::Fault::Busy,
                ..
            } => Exit::Partial,
            _ => Exit::Failed,
        }
    }

    pub fn code(self) -> i32 {
        self as i32
    }
}

pub use Exit::{Failed as FAILED, Ok as OK, Partial as PARTIAL};

/// Where the command runs; `interactive` is true at the prompt and in scripts,
/// where standard input is not a message.
pub struct Ctx {
    pub printer: Printer,
    pub root: PathBuf,
    /// The store was named (`--store` or `MSGSTORE_ROOT`), not the default.
    pub store_given: bool,
    pub interactive: bool,
}

impl Ctx {
    pub fn new(global: &Global, interactive: bool) -> Ctx {
        let given = global.store_given();
        Ctx {
            printer: Printer {
                json: global.json,
                quiet: global.quiet,
            },
            store_given: given.is_some(),
            root: given.unwrap_or_else(|| PathBuf::from(DEFAULT_ROOT)),
            interactive,
        }
    }

    pub fn store(&self) -> Result<Store> {
        Store::open(&self.root)
    }

    /// Prints an error and gives its exit status.
    pub fn fail(&self, e: &Error) -> Exit {
        self.printer.error(&e.to_string());
        Exit::for_error(e)
    }
}

/// A command line clap refused: said as msgstore says errors (and as one JSON
/// document with `--json`); `--help` and `--version` print as clap prints them.
pub fn refused(e: &clap::Error, args: &[String], json: bool) -> Exit {
    match crate::cli::refusal(e, args) {
        None => {
            let _ = e.print();
            OK
        }
        Some(msg) => {
            Printer { json, quiet: false }.error(&msg);
            FAILED
        }
    }
}

pub fn run(ctx: &Ctx, cmd: Command) -> Exit {
    let r = match cmd {
        Command::Init => admin::init(ctx),
        Command::User(u) => admin::user(ctx, u),
        Command::Mailbox(m) => admin::mailbox(ctx, m),
        Command::Deliver { mailbox, files } => messages::deliver(ctx, &mailbox, files),
        Command::Flags {
            mailbox,
            uidset,
            add,
            remove,
        } => messages::flags(ctx, &mailbox, &uidset, &add, &remove),
        Command::Expunge { mailbox, uidset } => messages::expunge(ctx, &mailbox, uidset.as_deref()),
        Command::Dump { mailbox } => messages::dump(ctx, &mailbox),
        Command::Reconstruct(a) => reconstruct::reconstruct(ctx, a),
        Command::XBuildUserDb { dry_run } => reconstruct::build_user_db(ctx, dry_run),
        Command::Demo { dir, messages } => demo::demo(ctx, dir, messages),
        Command::Import(a) => transfer::import(ctx, a),
        Command::Export(a) => transfer::export(ctx, a),
        Command::Serve(a) => serve(ctx, a),
        Command::SetAside(c) => set_aside::set_aside(ctx, c),
        Command::Completions { shell } => packaging::completions(ctx, shell),
        Command::Man { dir } => packaging::man(ctx, &dir),
    };
    r.unwrap_or_else(|e| ctx.fail(&e))
}

fn serve(ctx: &Ctx, a: crate::cli::ServeArgs) -> Result<Exit> {
    let store = ctx.store()?;
    let parse = |v: &[String]| -> Result<Vec<crate::server::Addr>> {
        v.iter().map(|s| crate::server::Addr::parse(s)).collect()
    };
    let opts = crate::server::Options {
        imap: parse(&a.imap)?,
        imaps: parse(&a.imaps)?,
        lmtp: parse(&a.lmtp)?,
        tls_cert: a.tls_cert,
        tls_key: a.tls_key,
        stdio_user: if a.stdio { a.user } else { None },
        limits: crate::server::ConnLimits {
            total: a.max_connections,
            per_address: a.max_per_address,
        },
    };
    crate::server::serve(&store, opts)?;
    Ok(OK)
}
