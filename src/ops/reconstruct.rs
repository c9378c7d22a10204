//! The repairs, as the front ends call them: `reconstruct [-r] NAME...` (select,
//! then rebuild), `reconstruct -m` and `x-build-user-db`.

use crate::error::{Error, Result};
use crate::reconstruct::report::{MailboxReport, Report, Skipped, Status};
use crate::reconstruct::{self, ListView, Options, Progress};
use crate::store::Store;
use crate::store::names::MailboxName;

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
        let elapsed = std::time::Duration::from_millis(report.total.elapsed_ms);
        report.finish(elapsed);
        report
    }
}

/// `reconstruct -m`.
pub fn mailbox_list(store: &Store, dry_run: bool, wait: bool) -> Result<ListReport> {
    reconstruct::list::run(store, dry_run, wait)
}

/// `x-build-user-db`.
pub fn user_db(store: &Store, dry_run: bool) -> Result<UserDbReport> {
    reconstruct::users::run(store, dry_run)
}
