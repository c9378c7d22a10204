//! Mailbox names as a session sees them (RFC 2342 namespaces, separator `/`), and
//! the store's names behind them.
//!
//! For user joe: `INBOX` (any case) is `Other Users/joe`; `stuff/old` is
//! `Other Users/joe/stuff/old`; `Public Folders/news` is itself. The other users'
//! namespace `Other Users/` is advertised (clients expect the three) but always
//! empty: another user's mailbox, and joe's own under that spelling, answer
//! exactly as a mailbox that does not exist (RFC 4314 section 6), whatever the
//! spelling. INBOX has no children (`\Noinferiors`): in the store a user's folders
//! already sit below the INBOX, so `INBOX/x` could only alias `x`; a store folder
//! named `INBOX` below a user (made with the CLI) is not visible over IMAP.

use crate::store::names::{MailboxName, PUBLIC_ROOT, Root, USERS_ROOT};

pub const SEPARATOR: char = '/';

/// What an IMAP name is for a user.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum Name {
    /// A name the user may use: their own mailboxes and the public folders.
    Mailbox(MailboxName),
    /// A child of INBOX (`INBOX/x`): never exists, cannot be created.
    BelowInbox,
    /// Anything else: another user's, a namespace root, or not a valid name.
    Nonexistent,
}

fn is_inbox(s: &str) -> bool {
    s.eq_ignore_ascii_case("INBOX")
}

/// Maps an IMAP name (already decoded from modified UTF-7) for `user`.
pub fn resolve(user: &str, imap: &str) -> Name {
    if is_inbox(imap) {
        return match MailboxName::from_parts(Root::Users, vec![user.to_owned()]) {
            Ok(n) => Name::Mailbox(n),
            Err(_) => Name::Nonexistent,
        };
    }
    let mut parts: Vec<&str> = imap.split(SEPARATOR).collect();
    if parts.first().is_some_and(|p| is_inbox(p)) {
        return Name::BelowInbox;
    }
    // The namespace roots in any case: `other users/ann` is never a folder of
    // one's own that looks like another user's.
    if parts.first().is_some_and(|p| {
        p.eq_ignore_ascii_case(USERS_ROOT)
            || (p.eq_ignore_ascii_case(PUBLIC_ROOT) && *p != PUBLIC_ROOT)
    }) {
        return Name::Nonexistent;
    }
    let root = if parts.first() == Some(&PUBLIC_ROOT) {
        parts.remove(0);
        if parts.is_empty() {
            return Name::Nonexistent;
        }
        Root::Public
    } else {
        parts.insert(0, user);
        Root::Users
    };
    if parts.iter().any(|p| p.is_empty()) {
        return Name::Nonexistent;
    }
    match MailboxName::from_parts(root, parts.into_iter().map(str::to_owned).collect()) {
        Ok(n) => Name::Mailbox(n),
        Err(_) => Name::Nonexistent,
    }
}

/// The IMAP name of a store mailbox for `user`, `None` if the user cannot see it.
pub fn imap_name(user: &str, name: &MailboxName) -> Option<String> {
    let parts = name.parts();
    match name.root() {
        Root::Users => {
            if parts.first().map(String::as_str) != Some(user) {
                return None;
            }
            match parts.len() {
                1 => Some("INBOX".to_owned()),
                _ if is_inbox(&parts[1]) => None,
                _ => Some(parts[1..].join("/")),
            }
        }
        Root::Public => Some(format!("{PUBLIC_ROOT}/{}", parts.join("/"))),
    }
}

/// RFC 3501 6.3.8: the reference and the pattern make one pattern; `*` matches
/// anything, `%` anything but the separator. Matched on decoded names.
///
/// They are joined as they are, as Dovecot, Cyrus and Courier join them (the
/// RFC leaves a reference without a trailing separator to the server): `LIST
/// "Work" "*"` is `Work*`, which names Work itself and all below it, and is
/// what clients such as imapclient send to list a folder with its children.
pub fn pattern(reference: &str, pat: &str) -> String {
    match (
        reference.strip_suffix(SEPARATOR),
        pat.strip_prefix(SEPARATOR),
    ) {
        (Some(r), Some(p)) => format!("{r}{SEPARATOR}{p}"),
        _ => format!("{reference}{pat}"),
    }
}

/// Whether `name` matches `pat`; INBOX matches case-insensitively.
pub fn matches(pat: &str, name: &str) -> bool {
    if name == "INBOX" && wild(&pat.to_ascii_uppercase(), "INBOX") {
        return true;
    }
    wild(pat, name)
}

fn wild(pat: &str, name: &str) -> bool {
    let p: Vec<char> = pat.chars().collect();
    let n: Vec<char> = name.chars().collect();
    // Iterative, with a table bounded by the two lengths (patterns are one line,
    // names at most a few KiB): no exponential backtracking on `*%*%*`.
    let mut row = vec![false; n.len() + 1];
    row[0] = true;
    for &pc in &p {
        let mut next = vec![false; n.len() + 1];
        match pc {
            '*' => {
                let mut any = false;
                for j in 0..=n.len() {
                    any |= row[j];
                    next[j] = any;
                }
            }
            '%' => {
                for j in 0..=n.len() {
                    if row[j] {
                        next[j] = true;
                        let mut k = j;
                        while k < n.len() && n[k] != SEPARATOR {
                            k += 1;
                            next[k] = true;
                        }
                    }
                }
            }
            c => {
                for j in 0..n.len() {
                    next[j + 1] = row[j] && n[j] == c;
                }
            }
        }
        row = next;
    }
    row[n.len()]
}

#[cfg(test)]
mod tests {
    use super::*;

    fn mine(user: &str, s: &str) -> String {
        match resolve(user, s) {
            Name::Mailbox(n) => n.to_string(),
            other => format!("{other:?}"),
        }
    }

    #[test]
    fn names_map_to_the_users_own_and_public_mailboxes_only() {
        assert_eq!(mine("joe", "INBOX"), "Other Users/joe");
        assert_eq!(mine("joe", "inBox"), "Other Users/joe");
        assert_eq!(mine("joe", "stuff/old"), "Other Users/joe/stuff/old");
        assert_eq!(mine("joe", "Public Folders/news"), "Public Folders/news");
        for hostile in [
            "Other Users/ann",
            "other users/ann",
            "OTHER USERS",
            "public folders/news",
            "Other Users/joe",
            "Other Users",
            "Public Folders",
            "../ann",
            "stuff/../../ann",
            "a//b",
            "/abs",
            "trailing/",
            "",
            "x\u{0}y",
            "x\ry",
        ] {
            assert_eq!(mine("joe", hostile), "Nonexistent", "{hostile:?}");
        }
        assert_eq!(resolve("joe", "INBOX/x"), Name::BelowInbox);
        assert_eq!(resolve("joe", "inbox/x"), Name::BelowInbox);
    }

    #[test]
    fn store_names_map_back_for_their_owner() {
        let n = |s: &str| MailboxName::parse(s).unwrap();
        assert_eq!(imap_name("joe", &n("joe")).as_deref(), Some("INBOX"));
        assert_eq!(imap_name("joe", &n("joe/a/b")).as_deref(), Some("a/b"));
        assert_eq!(imap_name("joe", &n("joel/a")), None);
        assert_eq!(imap_name("joe", &n("ann")), None);
        assert_eq!(imap_name("joe", &n("joe/INBOX")), None);
        assert_eq!(
            imap_name("joe", &n("Public Folders/news/x")).as_deref(),
            Some("Public Folders/news/x")
        );
        for s in ["INBOX", "a/b", "Public Folders/news/x"] {
            let Name::Mailbox(m) = resolve("joe", s) else {
                panic!("{s}")
            };
            assert_eq!(imap_name("joe", &m).as_deref(), Some(s));
        }
    }

    #[test]
    fn wildcards() {
        assert!(matches("*", "a/b"));
        assert!(matches("%", "a"));
        assert!(!matches("%", "a/b"));
        assert!(matches("a/%", "a/b"));
        assert!(matches("inbox", "INBOX"));
        assert!(matches("In%", "INBOX"));
        assert!(!matches("in%", "Inner"));
        assert!(matches("*b", "a/b"));
        assert!(matches("%/%", "a/b"));
        assert!(!matches("%/%", "a/b/c"));
        assert!(matches("a*c", "a/b/c"));
        let long = "%*".repeat(200);
        assert!(matches(&long, &"x".repeat(300)));
        assert!(!matches(&format!("{long}y"), &"x".repeat(300)));
        assert_eq!(pattern("a/", "b"), "a/b");
        assert_eq!(pattern("a", "b"), "ab");
        assert_eq!(pattern("a", "/b"), "a/b");
        assert_eq!(pattern("a/", "/b"), "a/b");
        assert_eq!(pattern("", "b"), "b");
        // A folder and all below it, as imapclient lists them.
        let p = pattern("__imapclient", "*");
        assert!(matches(&p, "__imapclient") && matches(&p, "__imapclient/x/y"));
        assert!(!matches(&p, "INBOX"));
    }
}
