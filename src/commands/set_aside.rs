//! set-aside list | remove: parse, call the operation, print.

use super::{Ctx, Exit, OK, PARTIAL};
use crate::cli::SetAsideCmd;
use crate::error::Result;
use crate::ops::set_aside::{self, Item};
use crate::store::aside::show_age;
use crate::store::lock::Wait;
use std::fmt::Write;

pub fn set_aside(ctx: &Ctx, cmd: SetAsideCmd) -> Result<Exit> {
    let store = ctx.store()?;
    match cmd {
        SetAsideCmd::List { mailboxes } => {
            let l = set_aside::list(&store, &mailboxes)?;
            for p in &l.problems {
                ctx.printer.problem(p);
            }
            ctx.printer.result(&l, |s| {
                for i in &l.set_aside {
                    line(s, i);
                }
                let _ = writeln!(
                    s,
                    "{} set-aside file(s), {} bytes{}",
                    l.total.files,
                    l.total.bytes,
                    if l.total.files > 0 {
                        "; remove old ones with `msgstore set-aside remove --older-than AGE`"
                    } else {
                        ""
                    }
                );
            });
            Ok(if l.problems.is_empty() { OK } else { PARTIAL })
        }
        SetAsideCmd::Remove {
            older_than,
            dry_run,
            mailboxes,
        } => {
            let r = set_aside::remove(
                &store,
                &mailboxes,
                older_than,
                dry_run,
                Wait::default_for_writers(),
            )?;
            for p in &r.problems {
                ctx.printer.problem(p);
            }
            for f in &r.failed {
                ctx.printer.problem(&format!("{}: {}", f.path, f.why));
            }
            for b in &r.busy {
                ctx.printer.problem(&format!(
                    "{b}: in use, nothing removed there; try again later"
                ));
            }
            ctx.printer.result(&r, |s| {
                let verb = if dry_run { "would remove" } else { "removed" };
                for i in &r.removed {
                    let _ = write!(s, "{verb} ");
                    line(s, i);
                }
                let _ = writeln!(
                    s,
                    "{verb} {} set-aside file(s), {} bytes; {} younger than {} kept",
                    r.total.files,
                    r.total.bytes,
                    r.kept,
                    show_age(older_than)
                );
            });
            Ok(if r.incomplete() { PARTIAL } else { OK })
        }
    }
}

/// `users/joe/7.BAD  Other Users/joe  message file with a NUL byte  1234 bytes  set aside 2026-11-28T10:15:00Z (31d ago)`
fn line(s: &mut String, i: &Item) {
    let _ = write!(
        s,
        "{}\t{}\t{}",
        i.path,
        i.mailbox.as_deref().unwrap_or("(store)"),
        i.kind.describe()
    );
    if i.file_type != "file" {
        let _ = write!(s, " ({})", i.file_type);
    }
    let _ = writeln!(
        s,
        "\t{} bytes\tset aside {} ({} ago)",
        i.bytes,
        i.set_aside_at,
        show_age(i.age_seconds)
    );
}
