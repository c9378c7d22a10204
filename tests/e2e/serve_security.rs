//! Nobody reads what is not theirs (issue 15): every IMAP command that takes a
//! mailbox name, with every spelling of another user's mailbox or of a path out
//! of the store, answers exactly as it does for a mailbox that does not exist,
//! and changes nothing on disk.

use crate::serve::{Client, Server};
use crate::util::Store;

/// Spellings that must all mean "no such mailbox" to joe.
const HOSTILE: &[&str] = &[
    "Other Users/ann",
    "Other Users/ann/private",
    "other users/ann",
    "OTHER USERS/ann/private",
    "Other Users/joe",
    "Other Users",
    "../ann",
    "../../users/ann",
    "INBOX/../../ann",
    "stuff/../../ann",
    "Public Folders/../users/ann",
    "Public Folders",
    "%2e%2e/ann",
    "..%2fann",
    "users/ann",
    "/ann",
    "ann",
    "ann/private",
    "Other&ACA-Users/ann",
    "Other Users&AC8-ann",
    "Other Users/ann/&AC4ALg-",
];

/// Spellings that, for joe, are names of his own folders (nothing in them is
/// special in IMAP): looking them up finds nothing, creating them is allowed.
const OWN_NAMES: &[&str] = &["%2e%2e/ann", "..%2fann", "users/ann", "ann", "ann/private"];

/// The status and response code of a tagged reply, without the tag and text.
fn shape(tagged: &str) -> String {
    let rest = tagged.split_once(' ').map_or("", |x| x.1);
    match rest.find(']') {
        Some(i) if rest.contains('[') => rest[..=i].to_owned(),
        _ => rest.split(' ').next().unwrap_or("").to_owned(),
    }
}

/// An IMAP quoted string (the names above have no `"` or `\`).
fn q(s: &str) -> String {
    format!("\"{s}\"")
}

fn setup() -> Store {
    let s = Store::new();
    s.run(&["user", "add", "joe", "ann", "zoë"]).ok();
    s.run(&["mailbox", "create", "ann/private"]).ok();
    s.run(&["mailbox", "create", "joe/stuff"]).ok();
    s.run(&["mailbox", "create", "Public Folders/news"]).ok();
    for u in ["ann", "ann/private", "joe"] {
        s.deliver(
            u,
            format!("From: x@y\r\nSubject: for {u}\r\n\r\nsecret of {u}\r\n").as_bytes(),
        );
    }
    crate::serve::set_password(&s, "joe", "pw");
    s
}

fn answers(c: &mut Client, cmd: &str) -> String {
    let (_, t) = c.cmd(cmd);
    shape(&t)
}

#[test]
fn every_command_answers_another_users_mailbox_as_a_missing_one() {
    let s = setup();
    let srv = Server::start(&s, &[]);
    let mut c = srv.connect();
    c.ok("LOGIN joe pw");
    let before = s.snapshot();

    // One command template per command that takes a name (`{}`), and the name
    // it is compared with: a missing mailbox, or, where the name is one to
    // create, a place where nobody can create one (a user that does not exist).
    let missing = "no such box";
    let nowhere = "Other Users/nosuchuser/x";
    let commands: &[(&str, &str)] = &[
        ("SELECT {}", missing),
        ("EXAMINE {}", missing),
        ("STATUS {} (MESSAGES UIDNEXT)", missing),
        ("DELETE {}", missing),
        ("RENAME {} joe-renamed", missing),
        ("RENAME stuff {}", nowhere),
        ("SUBSCRIBE {}", missing),
        ("UNSUBSCRIBE {}", missing),
        ("CREATE {}", nowhere),
        ("CREATE {}/x", nowhere),
        ("APPEND {} {6+}\r\nx: y\r\n", missing),
    ];
    for (cmd, base) in commands {
        let expected = answers(&mut c, &cmd.replace("{}", &q(base)));
        for name in HOSTILE {
            // Names that are joe's own folder names (`ann` is joe's folder
            // `Other Users/joe/ann`) may be created: they reach nobody else.
            if *base == nowhere && OWN_NAMES.contains(name) {
                continue;
            }
            let got = answers(&mut c, &cmd.replace("{}", &q(name)));
            assert_eq!(got, expected, "{cmd} with {name:?}");
        }
    }
    // COPY and MOVE from a selected mailbox to a hostile target.
    c.ok("SELECT INBOX");
    for cmd in [
        "UID COPY 1:* {}",
        "UID MOVE 1:* {}",
        "COPY 1 {}",
        "MOVE 1 {}",
    ] {
        let expected = answers(&mut c, &cmd.replace("{}", &q(missing)));
        for name in HOSTILE {
            let got = answers(&mut c, &cmd.replace("{}", &q(name)));
            assert_eq!(got, expected, "{cmd} with {name:?}");
        }
    }
    c.ok("UNSELECT");

    // Patterns never show another user's names, whatever the wildcards.
    for (r, p) in [
        ("\"\"", "*"),
        ("\"\"", "%"),
        ("\"\"", "%/%"),
        ("\"\"", "*ann*"),
        ("\"Other Users/\"", "*"),
        ("\"Other Users/\"", "%"),
        ("\"\"", "Other Users/*"),
        ("\"\"", "other users/*"),
        ("\"../\"", "*"),
        ("\"Public Folders/../\"", "*"),
    ] {
        for verb in ["LIST", "LSUB"] {
            let (u, t) = c.cmd(&format!("{verb} {r} {}", q(p)));
            assert!(t.contains(" OK"), "{verb} {r} {p}: {t}");
            for l in &u {
                assert!(
                    !l.contains("ann") && !l.contains("Other Users/joe"),
                    "{verb} {r} {p}: {l}"
                );
            }
        }
        let (u, _) = c.cmd(&format!(
            "LIST (SUBSCRIBED RECURSIVEMATCH) {r} {} RETURN (STATUS (MESSAGES) CHILDREN)",
            q(p)
        ));
        assert!(u.iter().all(|l| !l.contains("ann")), "{u:#?}");
    }
    // Names with NUL, control characters or 8-bit bytes are refused alike.
    for raw in ["\"a\u{1}b\"", "\"\u{7f}\"", "{3+}\r\na\0b"] {
        let (_, t) = c.cmd(&format!("SELECT {raw}"));
        assert!(t.contains(" NO") || t.contains(" BAD"), "{raw:?}: {t}");
    }
    c.w_raw(b"t8bit SELECT \"Other Users/ann\xff\"\r\n");
    let l = c.line();
    assert!(
        l.starts_with("t8bit NO") || l.starts_with("t8bit BAD"),
        "{l}"
    );

    c.ok("LOGOUT");
    drop(srv);
    let after = s.snapshot();
    let changed: Vec<_> = before
        .iter()
        .filter(|(p, v)| after.get(*p) != Some(v))
        .map(|(p, _)| p.clone())
        .chain(after.keys().filter(|p| !before.contains_key(*p)).cloned())
        .filter(|p| !p.to_string_lossy().contains("msgstore.lock"))
        .collect();
    // Subscribing to joe's own names is the only change allowed, and none was made.
    assert!(changed.is_empty(), "changed on disk: {changed:#?}");
    assert_eq!(s.contents("ann").len(), 1);
    assert_eq!(s.contents("ann/private").len(), 1);
}

#[test]
fn stdio_refuses_names_that_are_not_users() {
    let s = setup();
    for name in ["ann/private", "../ann", "Other Users/ann", "", "nobody"] {
        let r = s.run(&["serve", "--stdio", "--user", name]);
        assert_ne!(r.code, 0, "{name:?}: {}", r.stdout);
        assert!(!r.stdout.contains("PREAUTH"), "{name:?}");
    }
}
