//! Mailbox names and their reversible encoding on disk.
//!
//! A mailbox name is UTF-8 with `/` as separator, rooted at `Other Users/` (a user's
//! INBOX and folders) or `Public Folders/`. Each component becomes one directory name.
//! The encoding percent-escapes `.` and `%` (and bytes a shell or another filesystem
//! would trip on), so an encoded name never contains a literal dot: it can never be
//! `..`, a message file (`7.`, `7.BAD`) or one of the store's own files (`msgstore.*`).

use crate::error::{Error, Result};
use std::fmt;

pub const USERS_ROOT: &str = "Other Users";
pub const PUBLIC_ROOT: &str = "Public Folders";
/// Longest directory name most filesystems accept.
const MAX_ENCODED: usize = 255;
/// Deepest folder nesting accepted.
pub const MAX_DEPTH: usize = 32;
/// Longest path a mailbox's files may have, PATH_MAX (4096) with its NUL less the
/// longest name the store gives a file in a mailbox directory
/// (`msgstore.index.corrupt-YYYYMMDDTHHMMSSZ.NNNN`, 48 bytes with its slash).
pub const MAX_PATH: usize = 4095 - 48;

#[derive(Clone, Copy, Debug, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub enum Root {
    Users,
    Public,
}

/// A checked, canonical mailbox name such as `Other Users/joe/stuff`.
#[derive(Clone, Debug, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub struct MailboxName {
    root: Root,
    /// Components below the root; for `Root::Users` the first one is the owner.
    parts: Vec<String>,
}

impl MailboxName {
    /// Parses a name as a user types it: `joe/stuff` means `Other Users/joe/stuff`.
    pub fn parse(input: &str) -> Result<MailboxName> {
        let (root, rest) = if let Some(r) = strip_root(input, USERS_ROOT) {
            (Root::Users, r)
        } else if let Some(r) = strip_root(input, PUBLIC_ROOT) {
            (Root::Public, r)
        } else {
            (Root::Users, input)
        };
        let parts: Vec<String> = rest.split('/').map(str::to_owned).collect();
        if rest.is_empty() {
            return Err(Error::Usage(format!(
                "{}: not a mailbox name; give a user's INBOX (`joe`), a folder (`joe/stuff`) or `Public Folders/NAME`",
                crate::error::shown(input)
            )));
        }
        if parts.len() > MAX_DEPTH {
            return Err(Error::Usage(format!(
                "{}: mailbox nested more than {MAX_DEPTH} levels deep",
                crate::error::shown(input)
            )));
        }
        // `users/` or `public/`, then each level encoded and its slash.
        let encoded: usize = 7 + parts.iter().map(|p| encode(p).len() + 1).sum::<usize>();
        if encoded > MAX_PATH {
            return Err(Error::Usage(format!(
                "{}: the mailbox's directory would be {encoded} bytes long, more than the {MAX_PATH} the store allows (PATH_MAX); use shorter names",
                crate::error::shown(input)
            )));
        }
        for (i, p) in parts.iter().enumerate() {
            if root == Root::Users && i == 0 {
                check_user_name(p)?;
            } else {
                check_component(p, input)?;
            }
        }
        Ok(MailboxName { root, parts })
    }

    pub fn from_parts(root: Root, parts: Vec<String>) -> Result<MailboxName> {
        let mut s = String::from(match root {
            Root::Users => USERS_ROOT,
            Root::Public => PUBLIC_ROOT,
        });
        for p in &parts {
            s.push('/');
            s.push_str(p);
        }
        MailboxName::parse(&s)
    }

    pub fn root(&self) -> Root {
        self.root
    }

    pub fn parts(&self) -> &[String] {
        &self.parts
    }

    /// The user who owns the mailbox, none for public folders.
    pub fn owner(&self) -> Option<&str> {
        match self.root {
            Root::Users => self.parts.first().map(String::as_str),
            Root::Public => None,
        }
    }

    /// A user's INBOX: `Other Users/joe`.
    pub fn is_inbox(&self) -> bool {
        self.root == Root::Users && self.parts.len() == 1
    }

    pub fn parent(&self) -> Option<MailboxName> {
        let min = match self.root {
            Root::Users => 1,
            Root::Public => 1,
        };
        if self.parts.len() <= min {
            return None;
        }
        Some(MailboxName {
            root: self.root,
            parts: self.parts[..self.parts.len() - 1].to_vec(),
        })
    }

    /// True if `self` is `other` or below it.
    pub fn is_within(&self, other: &MailboxName) -> bool {
        self.root == other.root && self.parts.starts_with(&other.parts)
    }

    /// `self` moved from below `from` to below `to`.
    pub fn rebase(&self, from: &MailboxName, to: &MailboxName) -> Option<MailboxName> {
        if !self.is_within(from) {
            return None;
        }
        let mut parts = to.parts.clone();
        parts.extend_from_slice(&self.parts[from.parts.len()..]);
        Some(MailboxName {
            root: to.root,
            parts,
        })
    }

    /// Directory names from the root directory (`users/` or `public/`) down.
    pub fn encoded_parts(&self) -> impl Iterator<Item = String> + '_ {
        self.parts.iter().map(|p| encode(p))
    }
}

impl fmt::Display for MailboxName {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(match self.root {
            Root::Users => USERS_ROOT,
            Root::Public => PUBLIC_ROOT,
        })?;
        for p in &self.parts {
            write!(f, "/{p}")?;
        }
        Ok(())
    }
}

fn strip_root<'a>(input: &'a str, root: &str) -> Option<&'a str> {
    input.strip_prefix(root)?.strip_prefix('/')
}

/// User names: not empty, no `/`, no `..`, no control characters, and short enough
/// to be a directory name.
pub fn check_user_name(name: &str) -> Result<()> {
    let bad = |why: &str| {
        Err(Error::Usage(format!(
            "{}: invalid user name: {why}",
            crate::error::shown(name)
        )))
    };
    if name.is_empty() {
        return bad("it is empty");
    }
    if name.contains('/') {
        return bad("it contains `/`");
    }
    if name.contains("..") {
        return bad("it contains `..`");
    }
    if name.chars().any(char::is_control) {
        return bad("it contains a control character");
    }
    if name == "." {
        return bad("it is `.`");
    }
    if encode(name).len() > MAX_ENCODED {
        return bad("it is too long");
    }
    Ok(())
}

fn check_component(part: &str, whole: &str) -> Result<()> {
    let bad = |why: &str| {
        Err(Error::Usage(format!(
            "{}: invalid mailbox name: {why}",
            crate::error::shown(whole)
        )))
    };
    if part.is_empty() {
        return bad("empty level (`//` or a trailing `/`)");
    }
    if part == "." || part == ".." {
        return bad("a level is `.` or `..`");
    }
    if part.chars().any(char::is_control) {
        return bad("it contains a control character");
    }
    if encode(part).len() > MAX_ENCODED {
        return bad("a level is too long");
    }
    Ok(())
}

fn keep_as_is(b: u8) -> bool {
    b.is_ascii_alphanumeric()
        || b >= 0x80
        || matches!(
            b,
            b' ' | b'-'
                | b'_'
                | b'+'
                | b','
                | b'='
                | b'@'
                | b'~'
                | b'!'
                | b'#'
                | b'$'
                | b'&'
                | b'\''
                | b'('
                | b')'
                | b'['
                | b']'
                | b'{'
                | b'}'
        )
}

/// Encodes one name component as a directory name.
pub fn encode(part: &str) -> String {
    let mut out = String::with_capacity(part.len());
    for ch in part.chars() {
        if ch.len_utf8() > 1 || keep_as_is(ch as u8) {
            out.push(ch);
        } else {
            out.push_str(&format!("%{:02X}", ch as u32));
        }
    }
    out
}

/// Decodes a directory name; `None` if it is not one `encode` could have written
/// (so it is not a mailbox directory: an unknown file, or one of the store's own).
pub fn decode(dir: &str) -> Option<String> {
    let bytes = dir.as_bytes();
    let mut out = Vec::with_capacity(bytes.len());
    let mut i = 0;
    while i < bytes.len() {
        let b = bytes[i];
        if b == b'%' {
            let hex = dir.get(i + 1..i + 3)?;
            let v = u8::from_str_radix(hex, 16).ok()?;
            if keep_as_is(v) || v >= 0x80 {
                return None; // not canonical: two spellings would name one mailbox
            }
            out.push(v);
            i += 3;
        } else if keep_as_is(b) {
            out.push(b);
            i += 1;
        } else {
            return None;
        }
    }
    let s = String::from_utf8(out).ok()?;
    (encode(&s) == dir).then_some(s)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn short_names_get_the_users_root() {
        let n = MailboxName::parse("joe/stuff").unwrap();
        assert_eq!(n.to_string(), "Other Users/joe/stuff");
        assert_eq!(n.owner(), Some("joe"));
        assert_eq!(
            MailboxName::parse("Other Users/joe").unwrap(),
            MailboxName::parse("joe").unwrap()
        );
        let p = MailboxName::parse("Public Folders/news").unwrap();
        assert_eq!(p.owner(), None);
        assert_eq!(p.to_string(), "Public Folders/news");
    }

    #[test]
    fn hostile_names_are_refused() {
        for bad in [
            "",
            "joe/",
            "joe//x",
            "joe/..",
            "..",
            "a..b",
            "joe/x\ny",
            "jo\u{7f}e",
            "Public Folders/",
            "joe/.",
        ] {
            assert!(MailboxName::parse(bad).is_err(), "{bad:?} accepted");
        }
        assert!(MailboxName::parse(&format!("joe/{}", "x".repeat(300))).is_err());
    }

    #[test]
    fn encoding_round_trips_and_never_looks_like_a_message_file() {
        for name in [
            "5.",
            "..x",
            "my stuff",
            "100%",
            "Überweisung",
            "a.b.c",
            "msgstore.index",
            "7.BAD",
            "\"q\"",
            "a\\b:c*?",
        ] {
            let enc = encode(name);
            assert!(!enc.contains('.'), "{enc}");
            assert!(!enc.contains('/'));
            assert_eq!(decode(&enc).as_deref(), Some(name));
        }
        assert_eq!(decode("5."), None);
        assert_eq!(decode("msgstore.index"), None);
        assert_eq!(decode("%41"), None, "non-canonical spelling");
        assert_eq!(decode("%2"), None);
    }

    #[test]
    fn rebase_moves_children() {
        let a = MailboxName::parse("joe/a").unwrap();
        let b = MailboxName::parse("joe/b").unwrap();
        let c = MailboxName::parse("joe/a/c").unwrap();
        assert_eq!(c.rebase(&a, &b).unwrap().to_string(), "Other Users/joe/b/c");
        assert!(b.rebase(&a, &c).is_none());
    }
}
