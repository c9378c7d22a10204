//! User database operations. A user's INBOX is made with the user and their whole
//! tree goes with them.

use super::{list_changes, lock_all};
use crate::db::mailboxes::{self, Entry};
use crate::db::users::{self, User};
use crate::error::{Error, Result};
use crate::store::Store;
use crate::store::names::{MailboxName, USERS_ROOT, check_user_name};

/// Adds users with their INBOXes. The INBOX directories and list entries come
/// first, the user records last: a crash in between leaves a directory that
/// `x-build-user-db` turns back into a user.
pub fn add(store: &Store, names: &[String]) -> Result<Vec<Entry>> {
    for n in names {
        check_user_name(n)?;
    }
    let mut seen = std::collections::BTreeSet::new();
    for n in names {
        if !seen.insert(n) {
            return Err(Error::Usage(format!(
                "{}: named twice",
                crate::error::shown(n)
            )));
        }
    }
    let _list = list_changes(store)?;
    for n in names {
        if users::exists(store, n)? {
            return Err(Error::UserExists(n.clone()));
        }
    }
    let made = mailboxes::change(store, |t| {
        let mut made = Vec::new();
        for n in names {
            let inbox = MailboxName::parse(&format!("{USERS_ROOT}/{n}"))?;
            made.extend(super::mailbox::create_in(t, store, &inbox)?);
        }
        Ok(made)
    })?;
    let udb = users::open_rw(store)?;
    users::add(&udb, names, crate::store::time::now_unix())?;
    Ok(made)
}

pub fn list(store: &Store) -> Result<Vec<User>> {
    Ok(users::list(store)?
        .iter()
        .map(|(n, r)| User::new(n, r))
        .collect())
}

/// Deletes a user: under the locks of every mailbox they own, the mailbox list
/// entries first, then the user record, then the mail on disk (`progress` is
/// called once a file removed, with the number of files first: `progress(0, n)`).
pub fn delete(store: &Store, name: &str, progress: &dyn Fn(u64, u64)) -> Result<usize> {
    check_user_name(name)?;
    let _list = list_changes(store)?;
    if !users::exists(store, name)? {
        return Err(Error::UnknownUser(name.to_owned()));
    }
    let inbox = MailboxName::parse(&format!("{USERS_ROOT}/{name}"))?;
    let dir = store.mailbox_dir(&inbox);
    // Every mailbox of theirs, listed or only on disk: nobody may have one open.
    let mut names: Vec<MailboxName> = mailboxes::list(store, Some(&inbox))?
        .iter()
        .filter_map(|e| MailboxName::parse(&e.name).ok())
        .collect();
    for n in on_disk(store, &inbox) {
        if !names.contains(&n) {
            names.push(n);
        }
    }
    let _locks = lock_all(store, &names)?;
    let removed = mailboxes::change(store, |t| {
        let sub = t.subtree(&inbox)?;
        for e in &sub {
            t.remove(&e.name)?;
        }
        Ok(sub.len())
    })?;
    let udb = users::open_rw(store)?;
    users::delete(&udb, name)?;
    drop(udb);
    if store.has_mailbox_dir(&inbox) {
        let files: u64 = names
            .iter()
            .filter_map(|n| std::fs::read_dir(store.mailbox_dir(n)).ok())
            .map(|rd| {
                rd.flatten()
                    .filter(|e| e.file_type().is_ok_and(|t| !t.is_dir()))
                    .count() as u64
            })
            .sum();
        progress(0, files);
        super::mailbox::remove_tree_ticking(&dir, &|n| progress(n, files))?;
    }
    Ok(removed)
}

/// Every mailbox directory at and below `top`.
fn on_disk(store: &Store, top: &MailboxName) -> Vec<MailboxName> {
    let mut out = Vec::new();
    let mut stack = vec![top.clone()];
    while let Some(n) = stack.pop() {
        if !store.has_mailbox_dir(&n) {
            continue;
        }
        let Ok(rd) = std::fs::read_dir(store.mailbox_dir(&n)) else {
            out.push(n);
            continue;
        };
        for item in rd.flatten() {
            if !item.file_type().is_ok_and(|t| t.is_dir()) {
                continue;
            }
            if let Some(child) = item
                .file_name()
                .to_str()
                .and_then(crate::store::names::decode)
            {
                let mut parts = n.parts().to_vec();
                parts.push(child);
                if let Ok(c) = MailboxName::from_parts(n.root(), parts) {
                    stack.push(c);
                }
            }
        }
        out.push(n);
    }
    out
}

/// The outcome of a login attempt. Refusals are not told apart, so that a
/// front end cannot answer them differently.
#[derive(Debug, PartialEq, Eq)]
pub enum Login {
    Ok,
    Refused,
}

/// A fixed Argon2id hash checked when there is no real one, so that a refusal
/// costs the same whether or not the user exists.
const DUMMY_HASH: &str =
    "$argon2id$v=19$m=19456,t=2,p=1$bXNnc3RvcmVkdW1teQ$ZC5Vbe3aZ9w8pSCjTf2k8EEcNbZ5mYTAT0bLVYk6IJE";

/// Checks a user's password (Argon2id PHC string in the user record). An
/// unknown user, one without a password and one not active are refused.
pub fn authenticate(store: &Store, name: &str, password: &[u8]) -> Result<Login> {
    use argon2::password_hash::{PasswordHash, PasswordVerifier};
    let rec = if crate::store::names::check_user_name(name).is_ok() {
        users::get(store, name)?
    } else {
        None
    };
    let active = rec
        .as_ref()
        .is_some_and(|r| r.status == users::Status::Active);
    let phc = rec
        .as_ref()
        .and_then(|r| r.password.clone())
        .filter(|_| active);
    let hash = phc.as_deref().unwrap_or(DUMMY_HASH);
    let ok = PasswordHash::new(hash)
        .map(|h| {
            argon2::Argon2::default()
                .verify_password(password, &h)
                .is_ok()
        })
        .unwrap_or(false);
    Ok(if ok && phc.is_some() {
        Login::Ok
    } else {
        Login::Refused
    })
}
