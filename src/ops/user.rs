//! User database operations. A user's INBOX is made with the user and their whole
//! tree goes with them.
//!
//! User names are keys exactly as typed: the user database compares them byte for
//! byte (`schema/user-database.md`), so `Joe` and `joe` are two users, and a login
//! must spell the name as it was added.

use super::{list_changes, lock_all};
use crate::db::mailboxes::{self, Entry};
use crate::db::users::{self, Status, User};
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

/// The user a mail address's local part names (LMTP's RCPT): the name exactly
/// as the user database keys it, else the one user whose name differs from it
/// only in case (an MTA passes the address as the sender wrote it, and people
/// write `Joe@` for `joe@`, which Postfix's own local delivery folds too). Two
/// users that differ only in case are only ever reached exactly. `None`: no such
/// user. IMAP logins are exact ([`authenticate`]).
pub fn find(store: &Store, local: &str) -> Result<Option<String>> {
    if check_user_name(local).is_err() {
        return Ok(None);
    }
    if users::exists(store, local)? {
        return Ok(Some(local.to_owned()));
    }
    let folded = local.to_lowercase();
    let mut matches = users::list(store)?
        .into_iter()
        .map(|(n, _)| n)
        .filter(|n| n.to_lowercase() == folded);
    match (matches.next(), matches.next()) {
        (Some(one), None) => Ok(Some(one)),
        _ => Ok(None),
    }
}

/// Longest password accepted: more is no stronger, and a login's bytes are bounded.
pub const MAX_PASSWORD: usize = 1024;

/// Argon2id with the parameters OWASP's password storage cheat sheet gives first:
/// 19 MiB of memory, 2 passes, 1 lane. A hash costs tens of milliseconds of one
/// core (measured in the tests' release build); the server runs it off its async
/// threads.
fn argon2() -> Result<argon2::Argon2<'static>> {
    let params = argon2::Params::new(19 * 1024, 2, 1, None)
        .map_err(|e| Error::Usage(format!("argon2 parameters refused: {e} (a bug)")))?;
    Ok(argon2::Argon2::new(
        argon2::Algorithm::Argon2id,
        argon2::Version::V0x13,
        params,
    ))
}

/// A hash of a password nobody knows, made with [`argon2`]'s parameters: a login
/// for a user who does not exist, or has no password, is verified against it, so
/// that it costs what a wrong password costs and its timing does not tell whether
/// the user exists.
const DUMMY_PHC: &str = "$argon2id$v=19$m=19456,t=2,p=1$bXNnc3RvcmUtZHVtbXktc2FsdA$3JKpxJXwZ0xTVxhWzGZ0tjCxjIXsHz8dNKUqVQ3K1Kk";

/// Why a password cannot be set: what a person typed, refused before any hashing.
fn check_password(password: &[u8]) -> Result<()> {
    let bad = |why: &str| Err(Error::Usage(format!("password refused: {why}")));
    if password.is_empty() {
        return bad("it is empty");
    }
    if password.len() > MAX_PASSWORD {
        return bad(&format!("it is longer than {MAX_PASSWORD} bytes"));
    }
    // IMAP cannot carry these in a LOGIN or an AUTHENTICATE PLAIN: nobody could log in.
    if password.iter().any(|&b| matches!(b, 0 | b'\r' | b'\n')) {
        return bad("it contains a NUL, CR or LF byte, which no IMAP login can send");
    }
    Ok(())
}

/// The Argon2id PHC string of `password`, with a random salt from the OS.
pub fn hash_password(password: &[u8]) -> Result<String> {
    use argon2::password_hash::PasswordHasher;
    check_password(password)?;
    argon2()?
        .hash_password(password)
        .map(|h| h.to_string())
        .map_err(|e| {
            Error::Usage(format!(
                "cannot hash the password: {e}; check that the system's random number source works"
            ))
        })
}

/// Sets a user's password (`user passwd`): hashed first, then stored in one
/// transaction; the old one stops working at once.
pub fn passwd(store: &Store, name: &str, password: &[u8]) -> Result<()> {
    check_user_name(name)?;
    // Hashed before the database is opened: its lock is not held while it runs.
    let phc = hash_password(password)?;
    let udb = users::open_rw(store)?;
    users::update(&udb, name, |r| r.password = Some(phc))?;
    Ok(())
}

/// How a login ended.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Login {
    /// The password is right and the user active.
    Ok(User),
    /// Refused: the server answers every reason alike (and as slowly), and logs it.
    Refused(Refusal),
}

/// Why a login was refused: for the log, never for the client.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Refusal {
    UnknownUser,
    /// The user has no password yet (`msgstore user passwd` sets one).
    NoPassword,
    /// The password is right, but the user is disabled or recovered.
    NotActive(Status),
    WrongPassword,
    /// The stored hash cannot be read: nobody can log in until it is set again.
    UnusableHash,
}

impl Refusal {
    /// For the server's log line.
    pub fn as_str(self) -> &'static str {
        match self {
            Refusal::UnknownUser => "no such user",
            Refusal::NoPassword => "the user has no password (set one with `msgstore user passwd`)",
            Refusal::NotActive(Status::Disabled) => "the user is disabled",
            Refusal::NotActive(_) => {
                "the user is recovered, not active (an administrator should check it)"
            }
            Refusal::WrongPassword => "wrong password",
            Refusal::UnusableHash => {
                "the stored password hash is unreadable (set it again with `msgstore user passwd`)"
            }
        }
    }
}

/// Checks a login. Every refusal costs one Argon2id verification, whether the
/// user exists or not (a user who does not exist or has no password is verified
/// against [`DUMMY_PHC`]), so the time taken tells nothing of the reason; the
/// account's status is looked at only once the password is right, so it is never
/// revealed to someone who does not know it. The name is compared exactly
/// (see the module doc). Blocking: the server calls it off its async threads.
/// `Err` only when the user database cannot be read (the server answers that it
/// is unavailable, not that the login failed).
pub fn authenticate(store: &Store, name: &str, password: &[u8]) -> Result<Login> {
    use argon2::password_hash::PasswordVerifier;
    let record = if check_user_name(name).is_ok() {
        users::get(store, name)?
    } else {
        None
    };
    let stored = record.as_ref().and_then(|r| r.password.as_deref());
    let hasher = argon2()?;
    // A password longer than any that can be set is checked all the same (as the
    // dummy), so that its time is a wrong password's.
    let checked = &password[..password.len().min(MAX_PASSWORD + 1)];
    let parsed = stored.map(argon2::password_hash::phc::PasswordHash::new);
    let verified = match &parsed {
        Some(Ok(h)) => hasher.verify_password(checked, h).is_ok(),
        Some(Err(_)) | None => {
            let _ = hasher.verify_password(checked, DUMMY_PHC);
            false
        }
    };
    let refused = |why| Ok(Login::Refused(why));
    let Some(record) = record else {
        return refused(Refusal::UnknownUser);
    };
    match parsed {
        None => return refused(Refusal::NoPassword),
        Some(Err(_)) => return refused(Refusal::UnusableHash),
        Some(Ok(_)) if !verified || password.len() > MAX_PASSWORD => {
            return refused(Refusal::WrongPassword);
        }
        Some(Ok(_)) => {}
    }
    if record.status != Status::Active {
        return refused(Refusal::NotActive(record.status));
    }
    Ok(Login::Ok(User::new(name, &record)))
}

/// Sets or removes a user's storage quota, in bytes (`user quota`).
pub fn set_quota(store: &Store, name: &str, quota: Option<u64>) -> Result<User> {
    check_user_name(name)?;
    let udb = users::open_rw(store)?;
    let r = users::update(&udb, name, |r| r.quota = quota)?;
    Ok(User::new(name, &r))
}

#[cfg(test)]
mod tests {
    use super::*;

    fn store() -> (tempfile::TempDir, Store) {
        let d = tempfile::tempdir().unwrap();
        let s = Store::at(d.path().join("store"));
        crate::ops::init(&s).unwrap();
        add(&s, &["joe".into(), "ann".into()]).unwrap();
        (d, s)
    }

    #[test]
    fn the_dummy_hash_costs_what_a_real_one_does() {
        use argon2::password_hash::phc::PasswordHash;
        let dummy = PasswordHash::new(DUMMY_PHC).unwrap();
        let real_phc = hash_password(b"x").unwrap();
        let real = PasswordHash::new(&real_phc).unwrap();
        assert_eq!(dummy.algorithm, real.algorithm);
        assert_eq!(dummy.version, real.version);
        assert_eq!(dummy.params.to_string(), real.params.to_string());
        assert_eq!(
            dummy.hash.map(|h| h.len()),
            real.hash.map(|h| h.len()),
            "same output length"
        );
        assert!(real_phc.starts_with("$argon2id$v=19$m=19456,t=2,p=1$"));
    }

    #[test]
    fn logins_and_their_refusals() {
        let (_d, s) = store();
        let refused = |name: &str, pw: &[u8]| match authenticate(&s, name, pw).unwrap() {
            Login::Refused(r) => r,
            Login::Ok(u) => panic!("{} logged in", u.name),
        };
        assert_eq!(refused("joe", b"pw"), Refusal::NoPassword);
        assert_eq!(refused("nobody", b"pw"), Refusal::UnknownUser);
        assert_eq!(refused("../etc", b"pw"), Refusal::UnknownUser);
        passwd(&s, "joe", b"correct horse").unwrap();
        assert!(matches!(
            authenticate(&s, "joe", b"correct horse").unwrap(),
            Login::Ok(User { ref name, has_password: true, .. }) if name == "joe"
        ));
        assert_eq!(refused("joe", b"correct hors"), Refusal::WrongPassword);
        assert_eq!(
            refused("Joe", b"correct horse"),
            Refusal::UnknownUser,
            "names are exact"
        );
        let long = vec![b'a'; MAX_PASSWORD + 50];
        assert_eq!(refused("joe", &long), Refusal::WrongPassword);
        // A new password replaces the old at once.
        passwd(&s, "joe", b"battery staple").unwrap();
        assert_eq!(refused("joe", b"correct horse"), Refusal::WrongPassword);
        // A disabled user is told apart only once the password is right.
        let udb = users::open_rw(&s).unwrap();
        users::update(&udb, "joe", |r| r.status = Status::Disabled).unwrap();
        drop(udb);
        assert_eq!(refused("joe", b"wrong"), Refusal::WrongPassword);
        assert_eq!(
            refused("joe", b"battery staple"),
            Refusal::NotActive(Status::Disabled)
        );
    }

    #[test]
    fn passwords_that_cannot_be_set() {
        let (_d, s) = store();
        for bad in [&b""[..], b"a\nb", b"a\rb", b"a\0b"] {
            assert!(
                matches!(passwd(&s, "joe", bad), Err(Error::Usage(_))),
                "{bad:?}"
            );
        }
        assert!(passwd(&s, "joe", &vec![b'x'; MAX_PASSWORD + 1]).is_err());
        assert!(matches!(
            passwd(&s, "nobody", b"pw"),
            Err(Error::UnknownUser(_))
        ));
        assert!(users::get(&s, "joe").unwrap().unwrap().password.is_none());
    }

    #[test]
    fn an_address_finds_its_user_exactly_or_by_case_alone() {
        let (_d, s) = store();
        assert_eq!(find(&s, "joe").unwrap().as_deref(), Some("joe"));
        assert_eq!(find(&s, "JOE").unwrap().as_deref(), Some("joe"));
        assert_eq!(find(&s, "bob").unwrap(), None);
        assert_eq!(find(&s, "").unwrap(), None);
        assert_eq!(find(&s, "a/b").unwrap(), None);
        add(&s, &["Ann".into()]).unwrap();
        assert_eq!(find(&s, "Ann").unwrap().as_deref(), Some("Ann"));
        assert_eq!(find(&s, "ann").unwrap().as_deref(), Some("ann"));
        assert_eq!(
            find(&s, "ANN").unwrap(),
            None,
            "two users differ only in case"
        );
    }

    #[test]
    fn a_quota_is_set_and_removed() {
        let (_d, s) = store();
        assert_eq!(set_quota(&s, "ann", Some(0)).unwrap().quota, Some(0));
        assert_eq!(set_quota(&s, "ann", None).unwrap().quota, None);
        assert!(matches!(
            set_quota(&s, "zed", Some(1)),
            Err(Error::UnknownUser(_))
        ));
    }
}
