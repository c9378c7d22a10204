//! The repairs, as the front ends call them: `reconstruct [-r] NAME...` (select,
//! then rebuild, then recount the owners' quota usage), `reconstruct -m` and
//! `x-build-user-db`.

use super::{OpenMailbox, quota};
use crate::error::{Error, Result};
use crate::reconstruct::report::{
    MailboxReport, Report, SizeCorrection, Skipped, Status, UserUsage,
};
use crate::reconstruct::{self, ListView, Options, Progress};
use crate::store::Store;
use crate::store::lock::Wait;
use crate::store::names::MailboxName;
use std::collections::{BTreeMap, BTreeSet};

pub use crate::reconstruct::list::ListReport;
pub use crate::reconstruct::scan::Check;
pub use crate::reconstruct::users::UserDbReport;

/// What `reconstruct [-r] NAME...` will rebuild.
pub struct Planned {
    pub names: Vec<MailboxName>,
    list: ListView,
    unknown: Vec<Error>,
    gone: Vec<String>,
    skipped: Vec<(String, String)>,
}

/// Selects the mailboxes; the mailbox list is read once, for the selection and for
/// every rebuild.
pub fn plan(store: &Store, names: &[String], recurse: bool) -> Result<Planned> {
    let list = reconstruct::load_list(store);
    let listed: Vec<_> = list.entries.values().cloned().collect();
    let sel = reconstruct::select(store, names, recurse, &listed)?;
    Ok(Planned {
        names: sel.mailboxes,
        list,
        unknown: sel.unknown,
        gone: sel.gone,
        skipped: sel.skipped,
    })
}

impl Planned {
    /// Every name given was unknown: nothing to do, a usage error.
    pub fn only_unknown(&self) -> Option<&Error> {
        if self.names.is_empty() {
            self.unknown.first()
        } else {
            None
        }
    }

    /// Message files to read, for a progress bar.
    pub fn messages(&self, store: &Store) -> u64 {
        self.names
            .iter()
            .map(|n| {
                std::fs::read_dir(store.mailbox_dir(n))
                    .map(|rd| {
                        rd.flatten()
                            .filter(|e| {
                                e.file_name().to_str().is_some_and(|n| {
                                    matches!(
                                        crate::store::classify(n),
                                        crate::store::Entry::Message(_)
                                    )
                                })
                            })
                            .count() as u64
                    })
                    .unwrap_or(0)
            })
            .sum()
    }

    pub fn run(self, store: &Store, opts: Options, progress: Progress<'_>) -> Report {
        let wait = if opts.wait {
            Wait::Forever
        } else {
            Wait::default_for_writers().at_most(crate::store::lock::RECONSTRUCT_GRACE)
        };
        // Whose quota usage the run may change, and their mailboxes as the list
        // has them (read once).
        let owners: BTreeSet<&str> = self.names.iter().filter_map(|n| n.owner()).collect();
        let mut theirs: BTreeMap<String, Vec<MailboxName>> = owners
            .iter()
            .map(|u| ((*u).to_owned(), Vec::new()))
            .collect();
        for e in self.list.entries.values() {
            if let Some(v) = e.owner.as_ref().and_then(|o| theirs.get_mut(o))
                && let Ok(name) = MailboxName::parse(&e.name)
            {
                v.push(name);
            }
        }
        let mut report = reconstruct::run(store, &self.names, &self.list, opts, progress);
        let mut unknown: Vec<MailboxReport> = self
            .unknown
            .iter()
            .map(|e| {
                let name = match e {
                    Error::UnknownMailbox { name, .. } => name.clone(),
                    _ => String::new(),
                };
                MailboxReport {
                    status: Status::Failed,
                    error: Some(e.to_string()),
                    ..MailboxReport::new(&name)
                }
            })
            .collect();
        unknown.append(&mut report.mailboxes);
        report.mailboxes = unknown;
        report.gone = self.gone;
        report.skipped = self
            .skipped
            .into_iter()
            .map(|(path, why)| Skipped { path, why })
            .collect();
        report.users = recount(store, theirs, &report, opts, wait);
        let elapsed = std::time::Duration::from_millis(report.total.elapsed_ms);
        report.finish(elapsed);
        report
    }
}

/// The final pass: each user's usage recounted from the rebuilt indexes, with
/// what they counted before. The rebuild reports each mailbox's size from its
/// records (what it wrote, or checked and left alone) and what the old header
/// said; a header it left alone that miscounts is set right here, so it cannot
/// keep a quota wrong for ever. The user's mailboxes the run did not rebuild
/// (or that failed) are read as they are. Usage stays the indexes' own count,
/// never a second store of it that could drift (as Cyrus's quota files do,
/// whose fixer has doubled usage). A dry run writes nothing and counts what
/// would be.
fn recount(
    store: &Store,
    theirs: BTreeMap<String, Vec<MailboxName>>,
    report: &Report,
    opts: Options,
    wait: Wait,
) -> Vec<UserUsage> {
    use rayon::prelude::*;
    let quotas: BTreeMap<String, Option<u64>> = crate::db::users::list(store)
        .unwrap_or_default()
        .into_iter()
        .map(|(n, r)| (n, r.quota))
        .collect();
    let rebuilt: BTreeMap<&str, &MailboxReport> = report
        .mailboxes
        .iter()
        .filter(|m| !m.failed())
        .map(|m| (m.mailbox.as_str(), m))
        .collect();
    // (bytes before, bytes and messages after); `None` after: not readable.
    let count = |name: &MailboxName| -> (u64, Option<(u64, u64)>) {
        let shown = name.to_string();
        let Some((m, size)) = rebuilt
            .get(shown.as_str())
            .and_then(|m| m.size.map(|s| (m, s)))
        else {
            let now = quota::totals(store, name, wait, !opts.dry_run);
            return (now.map_or(0, |c| c.0), now);
        };
        let before = m.size_before.unwrap_or(0);
        let messages = m.messages as u64;
        if !m.rewritten && !opts.dry_run && m.size_before != Some(size) {
            // Checked again under the exclusive lock, and set right.
            let fixed = OpenMailbox::at(store, name.clone())
                .and_then(|mb| mb.recount_size(true))
                .ok();
            return (before, fixed.map(|(_, to)| (to, messages)));
        }
        (before, Some((size, messages)))
    };
    theirs
        .into_par_iter()
        .map(|(user, boxes)| {
            let counted: Vec<(u64, Option<(u64, u64)>)> = boxes.par_iter().map(count).collect();
            let mut u = UserUsage {
                quota: quotas.get(&user).copied().flatten(),
                user,
                ..UserUsage::default()
            };
            for (name, (before, after)) in boxes.iter().zip(counted) {
                u.before += before;
                match after {
                    Some((bytes, n)) => {
                        u.bytes += bytes;
                        u.messages += n;
                        if bytes != before {
                            u.corrected.push(SizeCorrection {
                                mailbox: name.to_string(),
                                from: before,
                                to: bytes,
                            });
                        }
                    }
                    None => u.uncounted.push(name.to_string()),
                }
            }
            u
        })
        .collect()
}

/// `reconstruct -m`.
pub fn mailbox_list(store: &Store, dry_run: bool, wait: bool) -> Result<ListReport> {
    reconstruct::list::run(store, dry_run, wait)
}

/// `x-build-user-db`.
pub fn user_db(store: &Store, dry_run: bool) -> Result<UserDbReport> {
    reconstruct::users::run(store, dry_run)
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::index::Index;

    fn run(store: &Store, dry_run: bool) -> Report {
        let opts = Options {
            dry_run,
            check: Check::Hash,
            wait: false,
        };
        plan(store, &[], true).unwrap().run(store, opts, &|_| {})
    }

    #[test]
    fn a_header_that_miscounts_is_recounted_and_reported() {
        let d = tempfile::tempdir().unwrap();
        let s = Store::at(d.path().join("store"));
        crate::ops::init(&s).unwrap();
        crate::ops::user::add(&s, &["joe".into()]).unwrap();
        crate::ops::user::set_quota(&s, "joe", Some(1 << 20)).unwrap();
        let msg = b"Subject: x\r\n\r\nbody\r\n";
        let size = msg.len() as u64;
        let (_, done) = crate::ops::deliver::deliver(
            &s,
            "joe",
            vec![crate::ops::deliver::Input {
                label: "m".into(),
                bytes: msg.to_vec(),
            }],
        )
        .unwrap();
        assert!(done[0].uid.is_some());
        // Once rebuilt, a rebuild has nothing to rewrite: only the final pass
        // can see what follows.
        run(&s, false);
        // A header that says 999 bytes where its one record says `size`.
        let path = s.index_path(&MailboxName::parse("joe").unwrap());
        let index = Index::open(&path).unwrap();
        let mut h = index.header().unwrap();
        h.total_size = 999.into();
        index.write(h.identity(), |w| w.set_header(&h)).unwrap();
        drop(index);
        assert_eq!(quota::usage(&s, "joe").unwrap().bytes, 999);

        let dry = run(&s, true);
        assert_eq!(dry.users.len(), 1);
        assert_eq!(dry.users[0].bytes, size, "what it would be");
        assert_eq!(dry.users[0].corrected.len(), 1);
        assert_eq!(quota::usage(&s, "joe").unwrap().bytes, 999, "dry run");

        let r = run(&s, false);
        assert!(!r.mailboxes[0].rewritten);
        let u = &r.users[0];
        assert_eq!((u.user.as_str(), u.quota), ("joe", Some(1 << 20)));
        assert_eq!((u.before, u.bytes, u.messages), (999, size, 1));
        assert_eq!(
            u.corrected,
            vec![SizeCorrection {
                mailbox: "Other Users/joe".into(),
                from: 999,
                to: size
            }]
        );
        assert_eq!(quota::usage(&s, "joe").unwrap().bytes, size);
        let again = run(&s, false);
        assert!(again.users[0].corrected.is_empty());
        assert_eq!(again.users[0].before, size);
    }
}
