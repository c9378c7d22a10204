//! reconstruct and x-build-user-db: parse, call the operation, print the report.

use super::{Ctx, Exit, OK, PARTIAL};
use crate::cli::ReconstructArgs;
use crate::error::{Error, Result};
use crate::ops::reconstruct::{self as ops, Check};
use crate::reconstruct::Options;
use crate::reconstruct::report::Report;
use crate::uidset;
use std::fmt::Write;

pub fn reconstruct(ctx: &Ctx, a: ReconstructArgs) -> Result<Exit> {
    let store = ctx.store()?;
    if a.mailbox_list {
        if !a.mailboxes.is_empty() || a.recurse || a.full || a.quick {
            return Err(Error::Usage(
                "reconstruct -m rebuilds the mailbox list alone (no names, -r, --full or --quick); run `reconstruct -r` after it".into(),
            ));
        }
        return mailbox_list(ctx, &store, a.dry_run, a.wait);
    }
    let planned = ops::plan(&store, &a.mailboxes, a.recurse)?;
    if let Some(e) = planned.only_unknown() {
        // Nothing named exists: a mistake on the command line, not a repair that failed.
        return Err(Error::Usage(e.to_string()));
    }
    let opts = Options {
        dry_run: a.dry_run,
        check: if a.full {
            Check::Full
        } else if a.quick {
            Check::Quick
        } else {
            Check::Hash
        },
        wait: a.wait,
    };
    let bar = ctx
        .printer
        .progress()
        .then(|| ctx.printer.bar(planned.messages(&store), "messages"));
    let tick = |n: u64| {
        if let Some(b) = &bar {
            b.inc(n);
        }
    };
    let report = planned.run(&store, opts, &tick);
    if let Some(b) = bar {
        b.finish_and_clear();
    }
    ctx.printer.result(&report, |s| text(s, &report, false));
    if ctx.printer.quiet && !ctx.printer.json {
        // -q: what needs attention, on stderr.
        let mut s = String::new();
        text(&mut s, &report, true);
        for line in s.lines() {
            ctx.printer
                .warn(line.trim_start().trim_start_matches("warning: "));
        }
    }
    for m in report.mailboxes.iter().filter(|m| m.failed()) {
        if let Some(e) = &m.error {
            ctx.printer.problem(e);
        }
    }
    Ok(if report.incomplete() { PARTIAL } else { OK })
}

fn mailbox_list(ctx: &Ctx, store: &crate::store::Store, dry_run: bool, wait: bool) -> Result<Exit> {
    let rep = ops::mailbox_list(store, dry_run, wait)?;
    let verb = if dry_run { "would be " } else { "" };
    let quiet = ctx.printer.quiet && !ctx.printer.json;
    let text = |s: &mut String, quiet: bool| {
        if !quiet {
            let _ = writeln!(
                s,
                "mailbox list: {} kept, {} added, {} removed{}",
                rep.kept.len(),
                rep.added.len(),
                rep.removed.len(),
                if dry_run {
                    " (dry run: nothing changed)"
                } else {
                    ""
                }
            );
            for x in &rep.added {
                let _ = writeln!(
                    s,
                    "  {verb}added {} (id {}, uidvalidity {} from {})",
                    x.name, x.id, x.uidvalidity, x.uidvalidity_from
                );
            }
            for x in &rep.removed {
                let _ = writeln!(s, "  {verb}removed {x} (its directory is gone)");
            }
            for x in &rep.created_inboxes {
                let _ = writeln!(s, "  {verb}created missing INBOX {x}");
            }
            if let Some(m) = &rep.moved_aside {
                let _ = writeln!(s, "  damaged mailbox list {verb}kept as {m}");
            }
        }
        for u in &rep.unknown_users {
            let _ = writeln!(
                s,
                "  warning: users/{u}: user not in the user database; run `msgstore x-build-user-db`, then `msgstore reconstruct -m` (entries it had are kept)"
            );
        }
        for d in &rep.unknown_dirs {
            let _ = writeln!(s, "  warning: {d}");
        }
        for f in &rep.failed {
            let _ = writeln!(s, "  failed: {}: {}", f.path, f.why);
        }
        for w in &rep.warnings {
            let _ = writeln!(s, "  warning: {w}");
        }
    };
    ctx.printer.result(&rep, |s| text(s, false));
    if quiet {
        let mut s = String::new();
        text(&mut s, true);
        for line in s.lines() {
            ctx.printer
                .warn(line.trim_start().trim_start_matches("warning: "));
        }
    }
    Ok(if rep.incomplete() { PARTIAL } else { OK })
}

fn text(s: &mut String, r: &Report, quiet: bool) {
    let would = if r.dry_run { "would be " } else { "" };
    for m in &r.mailboxes {
        if m.failed() && m.messages == 0 && m.uidvalidity == 0 {
            let _ = writeln!(
                s,
                "{}: {}",
                m.mailbox,
                if m.status == crate::reconstruct::report::Status::Busy {
                    "busy"
                } else {
                    "failed"
                }
            );
            continue;
        }
        let noteworthy = m.rewritten || !m.warnings.is_empty() || m.failed();
        if quiet && !noteworthy {
            continue;
        }
        if !quiet {
            let _ = writeln!(
                s,
                "{}: {} messages: {} kept, {} added, {} renumbered, {} dropped, {} re-parsed, {} BAD, uidvalidity {}, uidnext {}, {} ms{}",
                m.mailbox,
                m.messages,
                m.kept,
                m.added.len(),
                m.renumbered.len(),
                m.dropped.len(),
                m.reparsed,
                m.bad.len(),
                m.uidvalidity,
                m.uidnext,
                m.elapsed_ms,
                if m.rewritten { "" } else { " (unchanged)" }
            );
            for [a, b] in &m.renumbered {
                let why = if m.changed_content.contains(a) {
                    "content changed; its flags stay with the old content"
                } else if m.uidvalidity_changed {
                    "UID out of range"
                } else {
                    "no record below UIDNEXT: an interrupted delivery or a restored file"
                };
                let _ = writeln!(s, "  {would}renumbered {a} -> {b} ({why})");
            }
            if !m.dropped.is_empty() {
                let _ = writeln!(
                    s,
                    "  {would}dropped (no file): {}",
                    uidset::format(&m.dropped)
                );
            }
            if !m.added.is_empty() {
                let _ = writeln!(
                    s,
                    "  {would}added: {}{}",
                    uidset::format(&m.added),
                    if m.flags_lost {
                        " (without flags: no record of them survived)"
                    } else {
                        ""
                    }
                );
            }
            for b in &m.bad {
                let _ = writeln!(s, "  {would}set aside (NUL byte): {b}");
            }
            for t in &m.temp_removed {
                let _ = writeln!(s, "  {would}removed stale temporary file {t}");
            }
            if let Some(x) = &m.salvaged {
                let _ = writeln!(
                    s,
                    "  salvaged from the damaged index: {} records, {} keywords{}",
                    x.records,
                    x.keywords,
                    if x.header { ", its header" } else { "" }
                );
            }
            if let Some(a) = &m.moved_aside {
                let _ = writeln!(s, "  old index kept as {a}");
            }
        }
        for w in &m.warnings {
            let _ = writeln!(s, "  warning: {w}");
        }
    }
    for g in &r.gone {
        let _ = writeln!(
            s,
            "{g}: listed, but its directory is gone; run `msgstore reconstruct -m` to take it out of the list"
        );
    }
    for k in &r.skipped {
        let _ = writeln!(s, "{}: {}", k.path, k.why);
    }
    for u in &r.users {
        let changed = u.before != u.bytes || !u.corrected.is_empty();
        if quiet && !changed && u.uncounted.is_empty() {
            continue;
        }
        let quota = u
            .quota
            .map_or(String::new(), |q| format!(" (quota {q} bytes)"));
        let was = if r.dry_run {
            ", as the indexes count it now".to_owned()
        } else if u.before == u.bytes {
            ", unchanged".to_owned()
        } else {
            format!(", was {} bytes", u.before)
        };
        let _ = writeln!(
            s,
            "usage of user {}: {} bytes in {} messages{quota}{was}",
            u.user, u.bytes, u.messages
        );
        for c in &u.corrected {
            let _ = writeln!(
                s,
                "  {}{}: {} -> {} bytes",
                if r.dry_run { "would change " } else { "" },
                c.mailbox,
                c.from,
                c.to
            );
        }
        if !u.uncounted.is_empty() {
            let _ = writeln!(
                s,
                "  warning: usage of user {} leaves out {} (busy or unreadable); run reconstruct on it again",
                u.user,
                u.uncounted.join(", ")
            );
        }
    }
    if quiet {
        return;
    }
    let t = &r.total;
    let _ = writeln!(
        s,
        "total: {} mailboxes ({} failed, {} busy), {} messages, {:.1} MB read in {:.3} s: {:.0} messages/s, {:.1} MB/s{}",
        t.mailboxes,
        t.failed,
        t.busy,
        t.messages,
        t.bytes_read as f64 / 1e6,
        t.elapsed_ms as f64 / 1000.0,
        t.messages_per_sec,
        t.mb_per_sec,
        if r.dry_run {
            " (dry run: nothing changed)"
        } else {
            ""
        }
    );
}

pub fn build_user_db(ctx: &Ctx, dry_run: bool) -> Result<Exit> {
    let store = ctx.store()?;
    let rep = ops::user_db(&store, dry_run)?;
    let verb = if dry_run { "would be " } else { "" };
    let quiet = ctx.printer.quiet && !ctx.printer.json;
    let text = |s: &mut String, quiet: bool| {
        if !quiet {
            let _ = writeln!(
                s,
                "user database: {} kept, {} added, {} removed{}",
                rep.kept.len(),
                rep.added.len(),
                rep.removed.len(),
                if dry_run {
                    " (dry run: nothing changed)"
                } else {
                    ""
                }
            );
            for u in &rep.added {
                let _ = writeln!(
                    s,
                    "  {verb}added {u} (found under users/, default record, status recovered)"
                );
            }
            for u in &rep.removed {
                let _ = writeln!(s, "  {verb}removed {u} (its directory is gone)");
            }
            if let Some(m) = &rep.moved_aside {
                let _ = writeln!(s, "  damaged user database {verb}kept as {m}");
            }
        }
        for d in &rep.unknown_dirs {
            let _ = writeln!(
                s,
                "  warning: users/{d}: not a user directory name; left alone"
            );
        }
        for f in &rep.failed {
            let _ = writeln!(s, "  failed: {f}");
        }
        for w in &rep.warnings {
            let _ = writeln!(s, "  warning: {w}");
        }
    };
    ctx.printer.result(&rep, |s| text(s, false));
    if quiet {
        let mut s = String::new();
        text(&mut s, true);
        for line in s.lines() {
            ctx.printer
                .warn(line.trim_start().trim_start_matches("warning: "));
        }
    }
    Ok(if rep.failed.is_empty() { OK } else { PARTIAL })
}
