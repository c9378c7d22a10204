//! import and export: parse, call the operation, print the report.

use super::{Ctx, Exit, OK, PARTIAL};
use crate::cli::{ExportArgs, Format, ImportArgs};
use crate::error::Result;
use crate::mailfmt::mbox::Variant;
use crate::ops::{export, import};
use crate::reconstruct::report::Status;
use std::fmt::Write;

pub fn import(ctx: &Ctx, a: ImportArgs) -> Result<Exit> {
    let store = ctx.store()?;
    let opts = import::Options {
        recurse: a.recurse,
        variant: if a.mboxo {
            Variant::Mboxo
        } else {
            Variant::Mboxrd
        },
    };
    let planned = import::plan(&store, &a.mailbox, &a.path, opts)?;
    let bar = ctx
        .printer
        .progress()
        .then(|| ctx.printer.bar(planned.total_bytes(), "bytes"));
    let at = |n: u64| {
        if let Some(b) = &bar {
            b.set_position(n);
        }
    };
    let report = planned.run(&store, &at);
    if let Some(b) = bar {
        b.finish_and_clear();
    }
    for w in &report.warnings {
        ctx.printer.warn(w);
    }
    if let (Some(Variant::Mboxrd), Some(n @ 1..)) =
        (report.mbox_variant, report.mbox_double_quoted_lines)
    {
        ctx.printer.note(&format!(
            "{}: {n} line(s) of two or more `>` before `From ` were read as mboxrd quoting (one `>` less); if the file comes from an mboxo writer, import it with --mboxo (into another mailbox: those messages differ)",
            report.path
        ));
    }
    for p in &report.skipped_folders {
        ctx.printer.problem(&format!("{}: {}", p.source, p.why));
    }
    for m in &report.mailboxes {
        for w in &m.warnings {
            ctx.printer.warn(w);
        }
        for p in &m.refused {
            ctx.printer
                .problem(&format!("{}: refused: {}", p.source, p.why));
        }
        if let Some(e) = &m.error {
            ctx.printer.problem(e);
        }
    }
    let quiet = ctx.printer.quiet;
    ctx.printer.result(&report, |s| {
        if quiet {
            return;
        }
        for m in &report.mailboxes {
            let _ = write!(s, "{} <- {}: ", m.mailbox, m.source);
            if m.created {
                let _ = write!(s, "created; ");
            }
            let _ = write!(s, "{} added", m.added);
            if !m.uids.is_empty() {
                let _ = write!(s, " (UIDs {})", m.uids);
            }
            let _ = write!(s, ", {} already there", m.skipped);
            if !m.refused.is_empty() {
                let _ = write!(s, ", {} refused", m.refused.len());
            }
            if m.error.is_some() {
                let _ = write!(s, "; {}, not finished", status(m.status));
            }
            let _ = writeln!(s);
            if m.recovered > 0 {
                let _ = writeln!(
                    s,
                    "  {} message(s) an interrupted run had left uncommitted were written again, with their flags",
                    m.recovered
                );
            }
        }
        let t = &report.total;
        let _ = writeln!(
            s,
            "import: {} added, {} already there, {} refused, {} mailbox(es){}",
            t.added,
            t.skipped,
            t.refused,
            t.mailboxes,
            if t.failed > 0 {
                format!(", {} not finished", t.failed)
            } else {
                String::new()
            }
        );
    });
    Ok(if report.incomplete() { PARTIAL } else { OK })
}

pub fn export(ctx: &Ctx, a: ExportArgs) -> Result<Exit> {
    let store = ctx.store()?;
    let opts = export::Options {
        recurse: a.recurse,
        format: match a.format {
            Format::Maildir => export::Format::Maildir,
            Format::Mbox => export::Format::Mbox,
        },
    };
    let planned = export::plan(&store, &a.mailbox, &a.path, opts)?;
    let bar = ctx
        .printer
        .progress()
        .then(|| ctx.printer.bar(planned.total_messages(), "messages"));
    let at = |n: u64| {
        if let Some(b) = &bar {
            b.set_position(n);
        }
    };
    let report = planned.run(&store, &at);
    if let Some(b) = bar {
        b.finish_and_clear();
    }
    for m in &report.mailboxes {
        for w in &m.warnings {
            ctx.printer.warn(&format!("{}: {w}", m.mailbox));
        }
        for f in &m.failed {
            ctx.printer.problem(&format!(
                "{}: UID {}: not exported: {}",
                m.mailbox, f.uid, f.why
            ));
        }
        if let Some(e) = &m.error {
            ctx.printer.problem(e);
        }
    }
    let quiet = ctx.printer.quiet;
    ctx.printer.result(&report, |s| {
        if quiet {
            return;
        }
        for m in &report.mailboxes {
            let _ = write!(s, "{} -> {}: {} exported", m.mailbox, m.path, m.exported);
            if !m.failed.is_empty() {
                let _ = write!(s, ", {} failed", m.failed.len());
            }
            if m.error.is_some() {
                let _ = write!(s, "; {}, not finished", status(m.status));
            }
            let _ = writeln!(s);
        }
        let t = &report.total;
        let _ = writeln!(
            s,
            "export ({}): {} message(s) from {} mailbox(es){}",
            match report.format {
                export::Format::Maildir => "maildir",
                export::Format::Mbox => "mbox",
            },
            t.exported,
            t.mailboxes,
            if t.failed + t.failed_mailboxes > 0 {
                format!(
                    ", {} message(s) and {} mailbox(es) failed",
                    t.failed, t.failed_mailboxes
                )
            } else {
                String::new()
            }
        );
    });
    Ok(if report.incomplete() { PARTIAL } else { OK })
}

fn status(s: Status) -> &'static str {
    match s {
        Status::Ok => "ok",
        Status::Busy => "busy",
        Status::Failed => "failed",
    }
}
