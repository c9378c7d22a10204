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
            let usage = ops::quota::usage_of_all(&store)?;
            let rows: Vec<serde_json::Value> = users
                .iter()
                .map(|u| {
                    let used = usage.iter().find(|x| x.user == u.name);
                    let mut v = serde_json::json!(u);
                    v["usage"] = serde_json::json!({
                        "bytes": used.map_or(0, |x| x.bytes),
                        "messages": used.map_or(0, |x| x.messages),
                    });
                    if let Some(x) = used.filter(|x| !x.unreadable.is_empty()) {
                        v["usage"]["unreadable"] = serde_json::json!(x.unreadable);
                    }
                    v
                })
                .collect();
            for x in usage.iter().filter(|x| !x.unreadable.is_empty()) {
                ctx.printer.warn(&unreadable(x));
            }
            ctx.printer
                .result(&serde_json::json!({ "users": rows }), |s| {
                    for u in &users {
                        let quota = u.quota.map_or("none".to_string(), |q| q.to_string());
                        let used = usage
                            .iter()
                            .find(|x| x.user == u.name)
                            .map_or(0, |x| x.bytes);
                        let _ = writeln!(
                            s,
                            "{}\tstatus={}\tquota={quota}\tused={used}\tpassword={}\tcreated={}",
                            u.name,
                            u.status.as_str(),
                            if u.has_password { "set" } else { "none" },
                            u.created
                        );
                    }
                });
        }
        UserCmd::Passwd { name } => {
            // A mistyped name is said before anyone types a password for it.
            if !crate::db::users::exists(&store, &name)? {
                return Err(crate::error::Error::UnknownUser(name));
            }
            let password = read_new_password(ctx, &name)?;
            ops::user::passwd(&store, &name, &password)?;
            ctx.printer
                .result(&serde_json::json!({ "password_set": name }), |s| {
                    let _ = writeln!(s, "password set for user {name}");
                });
        }
        UserCmd::Quota { name, limit } => {
            let user = ops::user::set_quota(&store, &name, limit.bytes())?;
            let used = ops::quota::usage(&store, &name)?;
            if !used.unreadable.is_empty() {
                ctx.printer.warn(&unreadable(&used));
            }
            ctx.printer.result(
                &serde_json::json!({
                    "user": user.name,
                    "quota": user.quota,
                    "usage": { "bytes": used.bytes, "messages": used.messages },
                }),
                |s| {
                    let _ = match user.quota {
                        Some(q) => writeln!(
                            s,
                            "user {name}: quota {}, {} bytes used in {} messages{}",
                            human(q),
                            used.bytes,
                            used.messages,
                            if used.bytes > q {
                                ": over quota, new mail is refused until some is expunged"
                            } else {
                                ""
                            }
                        ),
                        None => writeln!(
                            s,
                            "user {name}: no quota, {} bytes used in {} messages",
                            used.bytes, used.messages
                        ),
                    };
                },
            );
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

/// Mailboxes left out of a user's usage.
fn unreadable(u: &ops::quota::Usage) -> String {
    format!(
        "user {}: usage leaves out {} (index unreadable or busy); run `msgstore reconstruct` on it",
        u.user,
        u.unreadable.join(", ")
    )
}

/// Bytes as people read a quota: `2147483648 bytes (2.0 GiB)`.
fn human(b: u64) -> String {
    const UNITS: [&str; 5] = ["bytes", "KiB", "MiB", "GiB", "TiB"];
    let mut v = b as f64;
    let mut i = 0;
    while v >= 1024.0 && i < UNITS.len() - 1 {
        v /= 1024.0;
        i += 1;
    }
    if i == 0 {
        format!("{b} bytes")
    } else {
        format!("{b} bytes ({v:.1} {})", UNITS[i])
    }
}

/// The new password: typed twice without echo on a terminal; else exactly one
/// line of standard input, its line end taken off (for scripts and
/// configuration tools). At the prompt's script mode standard input is the
/// script, so it is refused there.
fn read_new_password(ctx: &Ctx, name: &str) -> Result<Vec<u8>> {
    use crate::error::Error;
    use std::io::{IsTerminal, Read};
    let tty_err = |e: std::io::Error| Error::io("/dev/tty", "read the password", e);
    if std::io::stdin().is_terminal() {
        // rpassword: the terminal's echo off while it reads, and restored after,
        // even on Ctrl-C; small and widely used, where termios by hand is unsafe code.
        let first =
            rpassword::prompt_password(format!("new password for {name}: ")).map_err(tty_err)?;
        if first.is_empty() {
            return Err(Error::Usage(
                "password refused: it is empty; nothing changed".into(),
            ));
        }
        let again = rpassword::prompt_password("the same again: ").map_err(tty_err)?;
        if first != again {
            return Err(Error::Usage(
                "the two passwords differ; nothing changed, run `msgstore user passwd` again"
                    .into(),
            ));
        }
        return Ok(first.into_bytes());
    }
    if ctx.interactive {
        return Err(Error::Usage(format!(
            "in a script, user passwd cannot read a password (standard input is the script); run `msgstore user passwd {name}` with the password on its standard input"
        )));
    }
    // One line and its line end, and a byte more to tell a longer input apart.
    let limit = ops::user::MAX_PASSWORD as u64 + 3;
    let mut buf = Vec::new();
    std::io::stdin()
        .take(limit)
        .read_to_end(&mut buf)
        .map_err(|e| Error::io("<stdin>", "read the password", e))?;
    password_line(buf)
}

/// Exactly one line: its LF (and a CR before it) taken off; nothing may follow.
fn password_line(mut buf: Vec<u8>) -> Result<Vec<u8>> {
    use crate::error::Error;
    let refuse = |why: &str| {
        Err(Error::Usage(format!(
            "password refused: {why}; nothing changed"
        )))
    };
    if let Some(end) = buf.iter().position(|&b| b == b'\n') {
        if end + 1 != buf.len() {
            return refuse(
                "standard input has more than one line; give the password alone, on one line",
            );
        }
        buf.truncate(end);
        if buf.last() == Some(&b'\r') {
            buf.pop();
        }
    }
    if buf.is_empty() {
        return refuse("it is empty (standard input gave an empty line or nothing)");
    }
    if buf.len() > ops::user::MAX_PASSWORD {
        return refuse(&format!(
            "it is longer than {} bytes",
            ops::user::MAX_PASSWORD
        ));
    }
    Ok(buf)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_password_is_one_line() {
        assert_eq!(password_line(b"s3cret\n".to_vec()).unwrap(), b"s3cret");
        assert_eq!(password_line(b"s3cret\r\n".to_vec()).unwrap(), b"s3cret");
        assert_eq!(password_line(b"s3cret".to_vec()).unwrap(), b"s3cret");
        assert_eq!(password_line(b" a b ".to_vec()).unwrap(), b" a b ");
        for bad in [&b""[..], b"\n", b"\r\n", b"a\nb", b"a\n\n"] {
            assert!(password_line(bad.to_vec()).is_err(), "{bad:?}");
        }
        assert_eq!(human(2 << 30), "2147483648 bytes (2.0 GiB)");
        assert_eq!(human(100), "100 bytes");
    }
}
