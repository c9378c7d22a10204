//! The reconstruct engine: select -> scan (parallel) -> salvage -> merge -> one
//! write transaction -> report, one mailbox at a time under its exclusive lock,
//! many mailboxes at once. `list` rebuilds the mailbox list (`-m`), `users` the
//! user database (`x-build-user-db`).
//!
//! - `select`: which mailboxes a command names;
//! - `mailbox`: one mailbox's rebuild (what survives, whose it is, the bounds);
//! - `scan`, `merge`, `write`: reading files, the rules, writing the plan;
//! - `quick`: `--quick` over a mailbox that needs nothing;
//! - `mirror`: the mailbox list's side of a rebuild.

pub mod list;
mod mailbox;
pub mod merge;
mod mirror;
mod quick;
pub mod report;
pub mod scan;
mod select;
mod stage;
pub mod users;
mod write;

pub use mailbox::{ListView, Relation, relate};
pub use select::{Selection, closest, select};

use crate::db::mailboxes;
use crate::error::Error;
use crate::store::Store;
use crate::store::names::MailboxName;
use merge::Plan;
use report::{MailboxReport, Report, Status};
use scan::Check;
use std::time::Instant;

#[derive(Clone, Copy, Debug)]
pub struct Options {
    pub dry_run: bool,
    pub check: Check,
    pub wait: bool,
}

/// Mailboxes rebuilt together, whose new indexes share two flushes.
const STAGE_CHUNK: usize = 256;

/// Called with the number of messages done, for progress bars.
pub type Progress<'a> = &'a (dyn Fn(u64) + Sync);

/// The mailbox list as a rebuild needs it, read once for every mailbox; an
/// unreadable list is no reason to stop (the directory walk still finds them).
pub fn load_list(store: &Store) -> ListView {
    match mailboxes::list_with_counters(store) {
        Ok((entries, next_id)) => ListView {
            entries: entries.into_iter().map(|e| (e.name.clone(), e)).collect(),
            next_id,
            readable: true,
        },
        Err(_) => ListView {
            entries: Default::default(),
            next_id: 0,
            readable: false,
        },
    }
}

/// Rebuilds the given mailboxes, many at once.
pub fn run(
    store: &Store,
    names: &[MailboxName],
    list: &ListView,
    opts: Options,
    progress: Progress<'_>,
) -> Report {
    use rayon::prelude::*;
    let start = Instant::now();
    let cx = mailbox::Context {
        store,
        opts,
        list,
        progress,
        reservations: mirror::Reservations::default(),
        stage: (names.len() > 1 && !opts.dry_run).then(stage::Stage::default),
    };
    let one = |n: &MailboxName| {
        let t = Instant::now();
        let shown = n.to_string();
        let mut r = match mailbox::rebuild(&cx, n) {
            Ok(r) => r,
            Err(e) => MailboxReport {
                status: if e.is_busy() {
                    Status::Busy
                } else {
                    Status::Failed
                },
                error: Some(e.to_string()),
                ..MailboxReport::new(&shown)
            },
        };
        if r.status == Status::Ok && list.readable && !list.entries.contains_key(&shown) {
            r.warnings
                .push("not in the mailbox list; run `msgstore reconstruct -m` to add it".into());
        }
        r.elapsed_ms = t.elapsed().as_millis() as u64;
        r
    };
    // Mailboxes in chunks: the new indexes of a chunk are put in place together
    // (see `stage`), so a chunk's mailboxes stay locked until its end; small
    // enough that writers wait little, large enough that the flushes are few.
    let each = || -> Vec<MailboxReport> {
        let mut out = Vec::with_capacity(names.len());
        for chunk in names.chunks(STAGE_CHUNK) {
            let mut reports: Vec<MailboxReport> = chunk.par_iter().map(one).collect();
            if let Some(stage) = &cx.stage {
                stage::finish(&cx, stage, &mut reports);
            }
            out.append(&mut reports);
        }
        out
    };
    // Small mailboxes spend most of their time waiting for flushes: with more of
    // them in flight than there are cores (8 per core measured best of 1, 4, 8),
    // the waits overlap. The message scans inside run on the same pool, so CPU
    // work still spreads.
    let mut reports = if names.len() > 1 {
        let cores = std::thread::available_parallelism().map_or(2, |n| n.get());
        match rayon::ThreadPoolBuilder::new()
            .num_threads(cores * 8)
            .thread_name(|i| format!("reconstruct-{i}"))
            .build()
        {
            Ok(pool) => pool.install(each),
            Err(_) => each(),
        }
    } else {
        each()
    };
    if !opts.dry_run && list.readable {
        mirror::refresh(store, list, &mut reports);
    }
    let mut report = Report {
        dry_run: opts.dry_run,
        mailboxes: reports,
        ..Report::default()
    };
    report.finish(start.elapsed());
    report
}

/// The report's account of a plan.
fn fill_report(rep: &mut MailboxReport, plan: &Plan, listing: &scan::Listing, uidvalidity: u32) {
    rep.uidvalidity = uidvalidity;
    rep.uidnext = plan.uidnext;
    rep.highestmodseq = plan.highestmodseq;
    rep.messages = plan.messages();
    rep.kept = plan.kept;
    rep.added = plan.added.clone();
    rep.renumbered = plan.renumbered.iter().map(|&(a, b)| [a, b]).collect();
    rep.changed_content = plan.changed_content.clone();
    rep.dropped = plan.dropped.clone();
    rep.reparsed = plan.reparsed;
    rep.bad = plan
        .bad
        .iter()
        .map(|u| {
            format!(
                "{}{}",
                crate::store::message_file_name(*u),
                crate::store::BAD_SUFFIX
            )
        })
        .collect();
    rep.temp_removed = listing
        .temp
        .iter()
        .filter_map(|p| p.file_name())
        .map(|n| n.to_string_lossy().into_owned())
        .collect();
    for why in &plan.unreadable {
        rep.warnings.push(format!(
            "cannot read {why}; its record is kept and the file left alone; check the disk, then run reconstruct again"
        ));
        rep.status = Status::Failed;
    }
    if !listing.bad.is_empty() {
        rep.warnings.push(format!(
            "set aside earlier (contain NUL bytes): {}; see them with `msgstore set-aside list`, remove old ones with `msgstore set-aside remove --older-than AGE`",
            listing.bad.join(" ")
        ));
    }
    for (name, what) in &listing.unknown {
        rep.warnings.push(format!(
            "{name}: {what}, not a file of the store; left alone"
        ));
    }
}

/// The error for a named mailbox that does not exist, with the closest name.
pub fn unknown(name: &MailboxName, list: &ListView) -> Error {
    let listed: Vec<MailboxName> = list
        .entries
        .keys()
        .filter_map(|n| MailboxName::parse(n).ok())
        .collect();
    Error::UnknownMailbox {
        name: name.to_string(),
        suggestion: closest(&name.to_string(), &listed),
    }
}
