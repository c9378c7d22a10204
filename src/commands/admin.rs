//! init, user and mailbox commands.

use super::{Ctx, Exit, OK};
use crate::cli::{MailboxCmd, UserCmd};
use crate::error::Result;
use crate::ops;
use std::fmt::Write;

pub fn init(ctx: &Ctx) -> Result<Exit> {
    let store = crate::store::Store::at(&ctx.root);
    ops::init(&store)?;
    let root = ctx.root.display().to_string();
    ctx.printer
        .result(&serde_json::json!({ "initialized": root }), |s| {
            let _ = writeln!(s, "initialized store {root}");
        });
    Ok(OK)
}

pub fn user(ctx: &Ctx, cmd: UserCmd) -> Result<Exit> {
    let store = ctx.store()?;
    match cmd {
        UserCmd::Add { names } => {
            let made = ops::user::add(&store, &names)?;
            ctx.printer.result(
                &serde_json::json!({ "added": names, "mailboxes": made }),
                |s| {
                    for n in &names {
                        let _ = writeln!(s, "added user {n}");
                    }
                },
            );
        }
        UserCmd::List => {
            let users = ops::user::list(&store)?;
            ctx.printer
                .result(&serde_json::json!({ "users": users }), |s| {
                    for u in &users {
                        let quota = u.quota.map_or("none".to_string(), |q| q.to_string());
                        let _ = writeln!(
                            s,
                            "{}\tstatus={}\tquota={quota}\tpassword={}\tcreated={}",
                            u.name,
                            u.status.as_str(),
                            if u.has_password { "set" } else { "none" },
                            u.created
                        );
                    }
                });
        }
        UserCmd::Delete { name } => {
            let bar = ctx
                .printer
                .progress()
                .then(|| ctx.printer.bar(0, "files removed"));
            let n = ops::user::delete(&store, &name, &|n, total| {
                if let Some(b) = &bar {
                    b.set_length(total);
                    b.inc(n);
                }
            })?;
            if let Some(b) = bar {
                b.finish_and_clear();
            }
            ctx.printer.result(
                &serde_json::json!({ "deleted": name, "mailboxes_removed": n }),
                |s| {
                    let _ = writeln!(s, "deleted user {name} and {n} mailbox(es)");
                },
            );
        }
    }
    Ok(OK)
}

pub fn mailbox(ctx: &Ctx, cmd: MailboxCmd) -> Result<Exit> {
    let store = ctx.store()?;
    match cmd {
        MailboxCmd::Create { name } => {
            let made = ops::mailbox::create(&store, &name)?;
            ctx.printer
                .result(&serde_json::json!({ "created": made }), |s| {
                    for e in &made {
                        let _ = writeln!(s, "created {} (uidvalidity {})", e.name, e.uidvalidity);
                    }
                });
        }
        MailboxCmd::List { prefix } => {
            let list = ops::mailbox::list(&store, prefix.as_deref())?;
            ctx.printer
                .result(&serde_json::json!({ "mailboxes": list }), |s| {
                    for e in &list {
                        let _ = writeln!(
                            s,
                            "{}\tid={}\tuidvalidity={}\tuidnext={}",
                            e.name, e.id, e.uidvalidity, e.uidnext
                        );
                    }
                });
        }
        MailboxCmd::Delete { name } => {
            let e = ops::mailbox::delete(&store, &name)?;
            ctx.printer
                .result(&serde_json::json!({ "deleted": e.name }), |s| {
                    let _ = writeln!(s, "deleted {}", e.name);
                });
        }
        MailboxCmd::Rename { old, new } => {
            let moved = ops::mailbox::rename(&store, &old, &new)?;
            ctx.printer
                .result(&serde_json::json!({ "renamed": moved }), |s| {
                    for m in &moved {
                        let _ = writeln!(s, "renamed {} -> {}", m.from, m.to);
                    }
                });
        }
    }
    Ok(OK)
}
