//! reconstruct and x-build-user-db: run the engine, show progress, print the report.

use super::{Ctx, OK, PARTIAL};
use crate::cli::ReconstructArgs;
use crate::error::{Error, Result};
use crate::reconstruct::report::Report;
use crate::reconstruct::scan::Check;
use crate::reconstruct::{self, Options};
use crate::uidset;
use std::fmt::Write;

pub fn reconstruct(ctx: &Ctx, a: ReconstructArgs) -> Result<i32> {
    let store = ctx.store()?;
    if a.mailbox_list {
        if !a.mailboxes.is_empty() || a.recurse || a.full || a.quick {
            return Err(Error::Usage(
                "reconstruct -m rebuilds the mailbox list alone (no names, -r, --full or --quick); run `reconstruct -r` after it".into(),
            ));
        }
        let rep = reconstruct::list::run(&store, a.dry_run, a.wait)?;
        let verb = if a.dry_run { "would be " } else { "" };
        ctx.printer.result(&rep, |s| {
            let _ = writeln!(s, "mailbox list: {} kept, {} added, {} removed{}", rep.kept.len(), rep.added.len(), rep.removed.len(), if a.dry_run { " (dry run: nothing changed)" } else { "" });
            for x in &rep.added {
                let _ = writeln!(s, "  {verb}added {} (uidvalidity {} from {})", x.name, x.uidvalidity, x.uidvalidity_from);
            }
            for x in &rep.removed {
                let _ = writeln!(s, "  {verb}removed {x} (no directory)");
            }
            for x in &rep.created_inboxes {
                let _ = writeln!(s, "  {verb}created missing INBOX {x}");
            }
            for u in &rep.unknown_users {
                let _ = writeln!(s, "  users/{u}: user not in the user database; run `msgstore x-build-user-db`, then `msgstore reconstruct -m`");
            }
            for d in &rep.unknown_dirs {
                let _ = writeln!(s, "  {d}: not a mailbox directory name; left alone");
            }
            if let Some(m) = &rep.moved_aside {
                let _ = writeln!(s, "  damaged mailbox list {verb}kept as {m}");
            }
            for w in &rep.warnings {
                let _ = writeln!(s, "  warning: {w}");
            }
        });
        return Ok(if rep.unknown_users.is_empty() {
            OK
        } else {
            PARTIAL
        });
    }
    let (names, mut missing) = reconstruct::select(&store, &a.mailboxes, a.recurse)?;
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
    let bar = ctx.printer.progress().then(|| {
        let total = names
            .iter()
            .map(|n| count_messages(&store.mailbox_dir(n)))
            .sum::<u64>();
        let b = indicatif::ProgressBar::new(total);
        b.set_style(
            indicatif::ProgressStyle::with_template(
                "{bar:40} {pos}/{len} messages {per_sec} eta {eta}",
            )
            .unwrap_or_else(|_| indicatif::ProgressStyle::default_bar()),
        );
        b
    });
    let tick = |n: u64| {
        if let Some(b) = &bar {
            b.inc(n);
        }
    };
    let mut report = reconstruct::run(&store, &names, opts, &tick);
    if let Some(b) = bar {
        b.finish_and_clear();
    }
    let had_missing = !missing.is_empty();
    missing.append(&mut report.mailboxes);
    report.mailboxes = missing;
    if had_missing {
        report.total.mailboxes = report.mailboxes.len();
        report.total.failed = report.mailboxes.iter().filter(|m| m.failed()).count();
    }
    ctx.printer.result(&report, |s| text(s, &report));
    for m in report.mailboxes.iter().filter(|m| m.failed()) {
        if let Some(e) = &m.error {
            eprintln!("msgstore: {e}");
        }
    }
    Ok(if report.total.failed > 0 { PARTIAL } else { OK })
}

fn count_messages(dir: &std::path::Path) -> u64 {
    std::fs::read_dir(dir)
        .map(|rd| {
            rd.flatten()
                .filter(|e| {
                    e.file_name().to_str().is_some_and(|n| {
                        matches!(crate::store::classify(n), crate::store::Entry::Message(_))
                    })
                })
                .count() as u64
        })
        .unwrap_or(0)
}

fn text(s: &mut String, r: &Report) {
    let would = if r.dry_run { "would be " } else { "" };
    for m in &r.mailboxes {
        if m.failed() && m.messages == 0 {
            let _ = writeln!(
                s,
                "{}: {}: {}",
                m.mailbox,
                m.status,
                m.error.as_deref().unwrap_or("")
            );
            continue;
        }
        let _ = writeln!(
            s,
            "{}: {} messages: {} kept, {} added, {} renumbered, {} dropped, {} re-parsed, {} BAD, uidvalidity {}, uidnext {}{}",
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
            if m.rewritten { "" } else { " (unchanged)" }
        );
        for [a, b] in &m.renumbered {
            let why = if m.changed_content.contains(a) {
                "content changed"
            } else {
                "interrupted delivery"
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
            let _ = writeln!(s, "  {would}added: {}", uidset::format(&m.added));
        }
        for b in &m.bad {
            let _ = writeln!(s, "  {would}set aside (NUL byte): {b}");
        }
        for t in &m.temp_removed {
            let _ = writeln!(s, "  {would}removed stale temporary file {t}");
        }
        if let Some(a) = &m.moved_aside {
            let _ = writeln!(s, "  damaged index kept as {a}");
        }
        for w in &m.warnings {
            let _ = writeln!(s, "  warning: {w}");
        }
    }
    let t = &r.total;
    let _ = writeln!(
        s,
        "total: {} mailboxes ({} failed), {} messages, {:.1} MB read in {:.3} s: {} messages/s, {} MB/s{}",
        t.mailboxes,
        t.failed,
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

pub fn build_user_db(ctx: &Ctx, dry_run: bool) -> Result<i32> {
    let store = ctx.store()?;
    let rep = reconstruct::users::run(&store, dry_run)?;
    let verb = if dry_run { "would be " } else { "" };
    ctx.printer.result(&rep, |s| {
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
            let _ = writeln!(s, "  {verb}added {u} (found under users/, default record)");
        }
        for u in &rep.removed {
            let _ = writeln!(s, "  {verb}removed {u} (no directory)");
        }
        for d in &rep.unknown_dirs {
            let _ = writeln!(s, "  users/{d}: not a user directory name; left alone");
        }
        if let Some(m) = &rep.moved_aside {
            let _ = writeln!(s, "  damaged user database {verb}kept as {m}");
        }
        for w in &rep.warnings {
            let _ = writeln!(s, "  warning: {w}");
        }
    });
    Ok(OK)
}
