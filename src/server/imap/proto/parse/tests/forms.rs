//! One test per command family: every form the grammar allows, and the near
//! misses it refuses.

use super::*;

#[test]
fn commands_without_arguments_in_any_case() {
    for (s, body) in [
        ("a CAPABILITY\r\n", CommandBody::Capability),
        ("a noop\r\n", CommandBody::Noop),
        ("a LogOut\r\n", CommandBody::Logout),
        ("a STARTTLS\r\n", CommandBody::StartTls),
        ("a CHECK\r\n", CommandBody::Check),
        ("a close\r\n", CommandBody::Close),
        ("a UNSELECT\r\n", CommandBody::Unselect),
        ("a EXPUNGE\r\n", CommandBody::Expunge),
        ("a NAMESPACE\r\n", CommandBody::Namespace),
        ("a idle\r\n", CommandBody::Idle),
    ] {
        assert_eq!(ok(s), body, "{s:?}");
    }
    assert_eq!(err("a NOOP x\r\n").tag.as_deref(), Some("a"));
    err("a NOOP \r\n");
    err("a NOOP\n");
    err("a NOOP");
    err("a NOOP\r\nb NOOP\r\n");
}

#[test]
fn tags_and_errors() {
    let c = parse(b"A0001.x] NOOP\r\n").unwrap();
    assert_eq!(c.tag, "A0001.x]");
    for (s, tag) in [
        ("\r\n", None),
        (" NOOP\r\n", None),
        ("+a NOOP\r\n", None),
        ("a\r\n", Some("a")),
        ("a  NOOP\r\n", Some("a")),
        ("a FROB\r\n", Some("a")),
        ("a UID FROB 1\r\n", Some("a")),
        ("a UID EXPUNGE\r\n", Some("a")),
    ] {
        assert_eq!(err(s).tag.as_deref(), tag, "{s:?}");
    }
    let e = err("a FROBNICATEFROBNICATEFROBNICATE\r\n");
    assert_eq!(e.reason, "unknown command FROBNICATEFROBNICATEFROB...");
    assert_eq!(
        err("a  NOOP\r\n").reason,
        "expected a command name, found an extra space"
    );
    // Reasons are safe to put in a reply: printable, no CR or LF.
    for s in [
        "a SELECT \"x\r\n",
        "a FETCH 1 (\u{1}FLAGS)\r\n",
        "a LOGIN \u{7f}\r\n",
    ] {
        let r = err(s).reason;
        assert!(r.bytes().all(|b| (0x20..0x7f).contains(&b)), "{r:?}");
    }
}

#[test]
fn login_and_authenticate() {
    assert_eq!(
        ok("a LOGIN joe \"s3cr\\\"et\"\r\n"),
        CommandBody::Login {
            username: b"joe".to_vec(),
            password: Secret(b"s3cr\"et".to_vec())
        }
    );
    assert_eq!(
        ok("a LOGIN {3}\r\njoe {6+}\r\nsecret\r\n"),
        CommandBody::Login {
            username: b"joe".to_vec(),
            password: Secret(b"secret".to_vec())
        }
    );
    err("a LOGIN joe\r\n");
    assert_eq!(
        ok("a AUTHENTICATE plain\r\n"),
        CommandBody::Authenticate {
            mechanism: "PLAIN".into(),
            initial_response: None
        }
    );
    assert_eq!(
        ok("a AUTHENTICATE PLAIN AGpvZQBzZWNyZXQ=\r\n"),
        CommandBody::Authenticate {
            mechanism: "PLAIN".into(),
            initial_response: Some(Secret(b"\0joe\0secret".to_vec()))
        }
    );
    // RFC 4959: `=` is an empty initial response.
    assert_eq!(
        ok("a AUTHENTICATE EXTERNAL =\r\n"),
        CommandBody::Authenticate {
            mechanism: "EXTERNAL".into(),
            initial_response: Some(Secret(Vec::new()))
        }
    );
    err("a AUTHENTICATE PLAIN AGpvZQ\r\n");
    err("a AUTHENTICATE PLAIN ***\r\n");
    assert_eq!(
        parse_auth_response(b"AGpvZQBzZWNyZXQ="),
        Ok(AuthResponse::Data(Secret(b"\0joe\0secret".to_vec())))
    );
    assert_eq!(
        parse_auth_response(b""),
        Ok(AuthResponse::Data(Secret(Vec::new())))
    );
    assert_eq!(parse_auth_response(b"*"), Ok(AuthResponse::Cancel));
    assert!(parse_auth_response(b"AGpv ZQ==").is_err());
    assert!(is_idle_done(b"done") && is_idle_done(b"DONE") && !is_idle_done(b"DONE "));
}

#[test]
fn id_enable_namespace() {
    assert_eq!(ok("a ID NIL\r\n"), CommandBody::Id(None));
    assert_eq!(
        ok("a ID (\"name\" \"Thunderbird\" \"version\" NIL)\r\n"),
        CommandBody::Id(Some(vec![
            (b"name".to_vec(), Some(b"Thunderbird".to_vec())),
            (b"version".to_vec(), None)
        ]))
    );
    // Leniencies: `()` and a space before `)`.
    assert_eq!(ok("a ID ()\r\n"), CommandBody::Id(Some(Vec::new())));
    assert_eq!(
        ok("a ID (\"name\" \"x\" )\r\n"),
        CommandBody::Id(Some(vec![(b"name".to_vec(), Some(b"x".to_vec()))]))
    );
    err("a ID (\"name\")\r\n");
    err("a ID (name \"x\")\r\n");
    assert_eq!(
        ok("a ENABLE condstore UTF8=ACCEPT QRESYNC\r\n"),
        CommandBody::Enable(vec![
            "CONDSTORE".into(),
            "UTF8=ACCEPT".into(),
            "QRESYNC".into()
        ])
    );
    err("a ENABLE\r\n");
    err("a ENABLE \r\n");
}

#[test]
fn mailbox_commands() {
    assert_eq!(ok("a DELETE inbox\r\n"), CommandBody::Delete(mb("INBOX")));
    assert_eq!(
        ok("a SUBSCRIBE \"Sent Items\"\r\n"),
        CommandBody::Subscribe(mb("Sent Items"))
    );
    assert_eq!(
        ok("a UNSUBSCRIBE {4}\r\nJunk\r\n"),
        CommandBody::Unsubscribe(mb("Junk"))
    );
    assert_eq!(
        ok("a RENAME Foo \"Bar/Baz\"\r\n"),
        CommandBody::Rename {
            from: mb("Foo"),
            to: mb("Bar/Baz")
        }
    );
    assert_eq!(
        ok("a CREATE Entw&APw-rfe\r\n"),
        CommandBody::Create {
            mailbox: mb("Entw&APw-rfe"),
            special_use: Vec::new()
        }
    );
    assert_eq!(
        ok("a CREATE MySent (USE (\\Sent \\Archive))\r\n"),
        CommandBody::Create {
            mailbox: mb("MySent"),
            special_use: vec!["\\Sent".into(), "\\Archive".into()]
        }
    );
    assert!(matches!(
        ok("a CREATE x (use ())\r\n"),
        CommandBody::Create { .. }
    ));
    err("a CREATE x (FOO (\\Sent))\r\n");
    err("a CREATE x ()\r\n");
    err("a CREATE x (USE (Sent))\r\n");
    err("a RENAME Foo\r\n");
    // `]` is an astring character, `%` is not.
    assert_eq!(ok("a DELETE a]b\r\n"), CommandBody::Delete(mb("a]b")));
    err("a DELETE a%b\r\n");
    let CommandBody::Delete(m) = ok("a DELETE Entw&APw-rfe\r\n") else {
        panic!()
    };
    assert_eq!(m.decode(false).as_deref(), Ok("Entwürfe"));
}

#[test]
fn select_examine_with_condstore_and_qresync() {
    assert_eq!(
        ok("a SELECT INBOX\r\n"),
        CommandBody::Select {
            mailbox: mb("INBOX"),
            params: SelectParams::default()
        }
    );
    assert_eq!(
        ok("a EXAMINE \"Sent\" (CONDSTORE)\r\n"),
        CommandBody::Examine {
            mailbox: mb("Sent"),
            params: SelectParams {
                condstore: true,
                qresync: None
            }
        }
    );
    let q = |s: &str| match ok(s) {
        CommandBody::Select { params, .. } => {
            assert!(params.condstore, "QRESYNC implies CONDSTORE");
            params.qresync.unwrap()
        }
        other => panic!("{other:?}"),
    };
    let r = q("a SELECT INBOX (QRESYNC (67890007 20050715194045000))\r\n");
    assert_eq!(
        (r.uidvalidity, r.modseq, r.known_uids, r.seq_match),
        (67890007, 20050715194045000, None, None)
    );
    let r = q("a SELECT INBOX (QRESYNC (67890007 90060115194045000 41:211,214:541))\r\n");
    assert_eq!(r.known_uids, Some(set(&[(41, 211), (214, 541)])));
    // RFC 7162 section 3.2.5.2's example, seq-match-data included.
    let r = q(
        "B04 SELECT INBOX (QRESYNC (67890007 90060115194045000 1:29997 (5000,7500,9000,9990:9999 15000,22500,27000,29970,29973,29976,29979,29982,29985,29988,29991,29994,29997)))\r\n",
    );
    let (seqs, uids) = r.seq_match.unwrap();
    assert_eq!(seqs.0.len(), 4);
    assert_eq!(uids.0.len(), 13);
    // seq-match-data without known-uids.
    assert!(
        q("a SELECT INBOX (QRESYNC (1 2 (1:3 4:6)))\r\n")
            .seq_match
            .is_some()
    );
    assert!(matches!(
        ok("a SELECT INBOX (CONDSTORE QRESYNC (1 2))\r\n"),
        CommandBody::Select { .. }
    ));
    for bad in [
        "a SELECT INBOX ()\r\n",
        "a SELECT INBOX (FOO)\r\n",
        "a SELECT INBOX (CONDSTORE CONDSTORE)\r\n",
        "a SELECT INBOX (QRESYNC (0 2))\r\n",
        "a SELECT INBOX (QRESYNC (1 0))\r\n",
        "a SELECT INBOX (QRESYNC (1 2 1:*))\r\n",
        "a SELECT INBOX (QRESYNC (1 2 1:5 (1:*)))\r\n",
        "a SELECT INBOX (QRESYNC (1))\r\n",
        "a SELECT INBOX(CONDSTORE)\r\n",
    ] {
        err(bad);
    }
}

#[test]
fn list_basic_and_extended() {
    let list = |s: &str| match ok(s) {
        CommandBody::List(l) => l,
        other => panic!("{other:?}"),
    };
    let l = list("a LIST \"\" *\r\n");
    assert_eq!(
        (l.reference, l.patterns, l.extended),
        (Vec::new(), vec![b"*".to_vec()], false)
    );
    let l = list("a LIST \"\" \"\"\r\n");
    assert_eq!(l.patterns, [b"".to_vec()]);
    let l = list("a LIST ~/Mail/ %/foo]*\r\n");
    assert_eq!(
        (l.reference, l.patterns),
        (b"~/Mail/".to_vec(), vec![b"%/foo]*".to_vec()])
    );
    // RFC 5258 section 5's examples.
    let l = list("A02 LIST (SUBSCRIBED) \"\" \"*\"\r\n");
    assert!(l.extended && l.select.subscribed);
    let l = list("A03 LIST () \"\" \"%\" RETURN (CHILDREN)\r\n");
    assert!(l.extended && l.returns.children && l.select == ListSelect::default());
    let l = list("A04 LIST (REMOTE) \"\" \"%\" RETURN (CHILDREN)\r\n");
    assert!(l.select.remote);
    let l = list("A05 LIST (REMOTE SUBSCRIBED) \"/\" \"*\"\r\n");
    assert!(l.select.remote && l.select.subscribed);
    let l = list("A06 LIST (SUBSCRIBED RECURSIVEMATCH) \"\" \"%\" RETURN (CHILDREN)\r\n");
    assert!(l.select.recursive_match);
    let l = list("BBB LIST \"\" (\"INBOX\" \"Drafts\" \"Sent/%\")\r\n");
    assert!(l.extended);
    assert_eq!(
        l.patterns,
        [b"INBOX".to_vec(), b"Drafts".to_vec(), b"Sent/%".to_vec()]
    );
    // RFC 6154 and RFC 5819.
    let l = list("t1 LIST (SPECIAL-USE) \"\" \"*\"\r\n");
    assert!(l.select.special_use);
    let l = list("t1 LIST (SPECIAL-USE RECURSIVEMATCH) \"\" \"*\"\r\n");
    assert!(l.select.recursive_match);
    let l = list(
        "t1 LIST \"\" \"%\" RETURN (SPECIAL-USE SUBSCRIBED STATUS (MESSAGES UNSEEN HIGHESTMODSEQ))\r\n",
    );
    assert!(l.returns.special_use && l.returns.subscribed);
    assert_eq!(
        l.returns.status,
        Some(vec![
            StatusItem::Messages,
            StatusItem::Unseen,
            StatusItem::HighestModSeq
        ])
    );
    assert!(list("t LIST \"\" % RETURN ()\r\n").extended);
    for bad in [
        "a LIST \"\"\r\n",
        "a LIST (RECURSIVEMATCH) \"\" *\r\n",
        "a LIST (FROB) \"\" *\r\n",
        "a LIST \"\" ()\r\n",
        "a LIST \"\" * (CHILDREN)\r\n",
        "a LIST \"\" * RETURN (FROB)\r\n",
        "a LIST \"\" * RETURN (STATUS ())\r\n",
        "a LIST \"\" * RETURN (STATUS (MESSAGES) STATUS (UNSEEN))\r\n",
        "a LIST \"\"  *\r\n",
    ] {
        err(bad);
    }
    assert_eq!(
        ok("a LSUB \"\" %/*\r\n"),
        CommandBody::Lsub {
            reference: Vec::new(),
            pattern: b"%/*".to_vec()
        }
    );
    err("a LSUB \"\" (a b)\r\n");
}

#[test]
fn status() {
    assert_eq!(
        ok("a STATUS blurdybloop (UIDNEXT messages RECENT UIDVALIDITY UNSEEN HIGHESTMODSEQ)\r\n"),
        CommandBody::Status {
            mailbox: mb("blurdybloop"),
            items: vec![
                StatusItem::UidNext,
                StatusItem::Messages,
                StatusItem::Recent,
                StatusItem::UidValidity,
                StatusItem::Unseen,
                StatusItem::HighestModSeq
            ]
        }
    );
    err("a STATUS x ()\r\n");
    err("a STATUS x (SIZE)\r\n");
    err("a STATUS x MESSAGES\r\n");
}

#[test]
fn append() {
    assert_eq!(
        ok("A003 APPEND saved-messages (\\Seen) {5}\r\nhello\r\n"),
        CommandBody::Append {
            mailbox: mb("saved-messages"),
            flags: vec![Flag::Seen],
            date: None,
            message: b"hello".to_vec()
        }
    );
    let CommandBody::Append {
        flags,
        date,
        message,
        ..
    } = ok("a APPEND INBOX () \" 7-Feb-1994 21:52:25 -0800\" {7+}\r\nab\r\ncd \r\n")
    else {
        panic!()
    };
    assert!(flags.is_empty());
    assert_eq!(date.map(|d| d.unix_seconds()), Some(760_686_745));
    assert_eq!(message, b"ab\r\ncd ");
    assert!(matches!(
        ok("a APPEND INBOX \"07-Feb-1994 21:52:25 +0000\" {0}\r\n\r\n"),
        CommandBody::Append { .. }
    ));
    for bad in [
        "a APPEND INBOX \"hello\"\r\n",
        "a APPEND INBOX {5}\r\nhell\r\n",
        "a APPEND INBOX {2}\r\na\0\r\n",
        "a APPEND INBOX ~{5}\r\nhello\r\n",
        "a APPEND INBOX {5}\r\nhello {5}\r\nworld\r\n",
        "a APPEND INBOX (\\Seen){5}\r\nhello\r\n",
        "a APPEND INBOX \"31-Feb-1994 21:52:25 -0800\" {1}\r\nx\r\n",
    ] {
        err(bad);
    }
}

#[test]
fn fetch_items_and_macros() {
    use FetchItem as F;
    let f = fetch("a FETCH 1:* ALL\r\n");
    assert_eq!(
        f.items,
        [F::Flags, F::InternalDate, F::Rfc822Size, F::Envelope]
    );
    assert_eq!(
        fetch("a FETCH 1 fast\r\n").items,
        [F::Flags, F::InternalDate, F::Rfc822Size]
    );
    assert_eq!(
        fetch("a FETCH 1 FULL\r\n").items,
        [
            F::Flags,
            F::InternalDate,
            F::Rfc822Size,
            F::Envelope,
            F::Body
        ]
    );
    assert_eq!(fetch("a FETCH 2,4 flags\r\n").items, [F::Flags]);
    let f = fetch(
        "a UID FETCH 1:5,7 (ENVELOPE FLAGS INTERNALDATE RFC822 RFC822.HEADER RFC822.SIZE RFC822.TEXT BODY BODYSTRUCTURE UID MODSEQ)\r\n",
    );
    assert!(f.uid);
    assert_eq!(f.set, set(&[(1, 5), (7, 7)]));
    assert_eq!(
        f.items,
        [
            F::Envelope,
            F::Flags,
            F::InternalDate,
            F::Rfc822,
            F::Rfc822Header,
            F::Rfc822Size,
            F::Rfc822Text,
            F::Body,
            F::BodyStructure,
            F::Uid,
            F::ModSeq
        ]
    );
    for bad in [
        "a FETCH 1 ()\r\n",
        "a FETCH 1 (ALL)\r\n",
        "a FETCH 1 FLAGS UID\r\n",
        "a FETCH 1 (FLAGS  UID)\r\n",
        "a FETCH 1 (FLAGS UID )\r\n",
        "a FETCH 1 BINARY[1]\r\n",
        "a FETCH 1 RFC822.PEEK\r\n",
        "a FETCH 0 FLAGS\r\n",
        "a FETCH FLAGS\r\n",
    ] {
        err(bad);
    }
}

#[test]
fn fetch_sections_and_partials() {
    let sec = |s: &str| match fetch(s).items.as_slice() {
        [FetchItem::Section(b)] => b.clone(),
        other => panic!("{other:?}"),
    };
    let b = sec("a FETCH 1 BODY[]\r\n");
    assert_eq!(
        (b.peek, b.section, b.partial),
        (false, Section::default(), None)
    );
    let b = sec("a FETCH 1 BODY.PEEK[]<0.2048>\r\n");
    assert_eq!((b.peek, b.partial), (true, Some((0, 2048))));
    let b = sec("a FETCH 1 body[1.2.3]\r\n");
    assert_eq!((b.section.part, b.section.text), (vec![1, 2, 3], None));
    let b = sec("a FETCH 1 BODY[HEADER]\r\n");
    assert_eq!(b.section.text, Some(SectionText::Header));
    let b = sec("a FETCH 1 BODY[2.TEXT]<100.5>\r\n");
    assert_eq!(
        (b.section.part, b.section.text, b.partial),
        (vec![2], Some(SectionText::Text), Some((100, 5)))
    );
    let b = sec("a FETCH 1 BODY[1.mime]\r\n");
    assert_eq!(b.section.text, Some(SectionText::Mime));
    let b = sec("a FETCH 1 BODY.PEEK[HEADER.FIELDS (Date \"From\" {2}\r\nTo)]\r\n");
    assert_eq!(
        b.section.text,
        Some(SectionText::HeaderFields(vec![
            b"Date".to_vec(),
            b"From".to_vec(),
            b"To".to_vec()
        ]))
    );
    let b = sec("a FETCH 1 BODY[3.1.HEADER.FIELDS.NOT (Received)]\r\n");
    assert_eq!(b.section.part, [3, 1]);
    assert_eq!(
        b.section.text,
        Some(SectionText::HeaderFieldsNot(vec![b"Received".to_vec()]))
    );
    for bad in [
        "a FETCH 1 BODY[MIME]\r\n",
        "a FETCH 1 BODY.PEEK\r\n",
        "a FETCH 1 BODY[0]\r\n",
        "a FETCH 1 BODY[1.]\r\n",
        "a FETCH 1 BODY[HEADER.FIELDS]\r\n",
        "a FETCH 1 BODY[HEADER.FIELDS ()]\r\n",
        "a FETCH 1 BODY[HEADER.FIELDS(From)]\r\n",
        "a FETCH 1 BODY[TEXT.HEADER]\r\n",
        "a FETCH 1 BODY[]<0>\r\n",
        "a FETCH 1 BODY[]<0.0>\r\n",
        "a FETCH 1 BODY[\r\n",
    ] {
        err(bad);
    }
}

#[test]
fn fetch_modifiers() {
    let f = fetch("s100 UID FETCH 1:* (FLAGS) (CHANGEDSINCE 12345)\r\n");
    assert_eq!((f.changed_since, f.vanished), (Some(12345), false));
    let f = fetch("s100 UID FETCH 300:500 (FLAGS) (CHANGEDSINCE 12345 VANISHED)\r\n");
    assert_eq!((f.changed_since, f.vanished), (Some(12345), true));
    let f = fetch("a FETCH 1 FLAGS (CHANGEDSINCE 1)\r\n");
    assert_eq!(f.changed_since, Some(1));
    for bad in [
        "a FETCH 1:* (FLAGS) (CHANGEDSINCE 12345 VANISHED)\r\n",
        "a UID FETCH 1:* (FLAGS) (VANISHED)\r\n",
        "a UID FETCH 1:* (FLAGS) (CHANGEDSINCE 0)\r\n",
        "a UID FETCH 1:* (FLAGS) (CHANGEDSINCE 1 CHANGEDSINCE 2)\r\n",
        "a UID FETCH 1:* (FLAGS) (FROB)\r\n",
        "a UID FETCH 1:* (FLAGS) ()\r\n",
    ] {
        err(bad);
    }
}

#[test]
fn store_forms() {
    let st = |s: &str| match ok(s) {
        CommandBody::Store(st) => st,
        other => panic!("{other:?}"),
    };
    let s = st("a STORE 2:4 +FLAGS (\\Deleted)\r\n");
    assert_eq!(
        (s.uid, s.action, s.silent, s.flags.clone()),
        (false, StoreAction::Add, false, vec![Flag::Deleted])
    );
    let s = st("a UID STORE 1 -flags.silent \\Seen $Junk\r\n");
    assert_eq!(
        (s.uid, s.action, s.silent),
        (true, StoreAction::Remove, true)
    );
    assert_eq!(s.flags, [Flag::Seen, Flag::Keyword("$Junk".into())]);
    let s = st("a STORE 1 FLAGS ()\r\n");
    assert_eq!((s.action, s.flags), (StoreAction::Replace, Vec::new()));
    let s = st("d105 STORE 7,5,9 (UNCHANGEDSINCE 320162338) +FLAGS.SILENT (\\Deleted)\r\n");
    assert_eq!(s.unchanged_since, Some(320162338));
    assert_eq!(
        st("a STORE 1 (UNCHANGEDSINCE 0) FLAGS ()\r\n").unchanged_since,
        Some(0)
    );
    for bad in [
        "a STORE 1 FLAGS\r\n",
        "a STORE 1 +FLAGS.LOUD (\\Seen)\r\n",
        "a STORE 1 *FLAGS (\\Seen)\r\n",
        "a STORE 1 FLAGS (\\*)\r\n",
        "a STORE 1 (FROB 1) FLAGS ()\r\n",
        "a STORE 1 (UNCHANGEDSINCE 1)FLAGS ()\r\n",
        "a STORE 1 FLAGS \\Seen \r\n",
    ] {
        err(bad);
    }
}

#[test]
fn copy_move_expunge_quota() {
    assert_eq!(
        ok("a COPY 2:4 MEETING\r\n"),
        CommandBody::Copy {
            uid: false,
            set: set(&[(2, 4)]),
            mailbox: mb("MEETING")
        }
    );
    assert_eq!(
        ok("a UID MOVE 42:69 \"Trash\"\r\n"),
        CommandBody::Move {
            uid: true,
            set: set(&[(42, 69)]),
            mailbox: mb("Trash")
        }
    );
    assert!(matches!(
        ok("a MOVE $ Archive\r\n"),
        CommandBody::Move { uid: false, .. }
    ));
    assert_eq!(
        ok("a UID EXPUNGE 3000:3002\r\n"),
        CommandBody::UidExpunge(set(&[(3000, 3002)]))
    );
    assert_eq!(ok("a GETQUOTA \"\"\r\n"), CommandBody::GetQuota(Vec::new()));
    assert_eq!(
        ok("a GETQUOTAROOT inbox\r\n"),
        CommandBody::GetQuotaRoot(mb("INBOX"))
    );
    assert_eq!(
        ok("a SETQUOTA \"\" (STORAGE 512 messages 1000)\r\n"),
        CommandBody::SetQuota {
            root: Vec::new(),
            limits: vec![("STORAGE".into(), 512), ("MESSAGES".into(), 1000)]
        }
    );
    assert!(matches!(
        ok("a SETQUOTA \"\" ()\r\n"),
        CommandBody::SetQuota { .. }
    ));
    err("a SETQUOTA \"\" (STORAGE)\r\n");
    err("a COPY 1\r\n");
    err("a UID COPY * \r\n");
}

#[test]
fn search_keys() {
    use SearchKey as K;
    let keys = |s: &str| search(s).keys;
    let d = |year, month, day| Date { year, month, day };
    assert_eq!(
        keys(
            "a SEARCH ALL answered DELETED DRAFT FLAGGED NEW OLD RECENT SEEN UNANSWERED UNDELETED UNDRAFT UNFLAGGED UNSEEN\r\n"
        ),
        [
            K::All,
            K::Answered,
            K::Deleted,
            K::Draft,
            K::Flagged,
            K::New,
            K::Old,
            K::Recent,
            K::Seen,
            K::Unanswered,
            K::Undeleted,
            K::Undraft,
            K::Unflagged,
            K::Unseen
        ]
    );
    assert_eq!(
        keys(
            "a SEARCH KEYWORD $Forwarded UNKEYWORD Junk BCC a CC \"b c\" FROM {1}\r\nd SUBJECT e TEXT f TO g BODY h\r\n"
        ),
        [
            K::Keyword("$Forwarded".into()),
            K::Unkeyword("Junk".into()),
            K::Bcc(b"a".to_vec()),
            K::Cc(b"b c".to_vec()),
            K::From(b"d".to_vec()),
            K::Subject(b"e".to_vec()),
            K::Text(b"f".to_vec()),
            K::To(b"g".to_vec()),
            K::Body(b"h".to_vec()),
        ]
    );
    assert_eq!(
        keys("a SEARCH HEADER Message-ID \"<x@y>\" HEADER X-Spam \"\"\r\n"),
        [
            K::Header(b"Message-ID".to_vec(), b"<x@y>".to_vec()),
            K::Header(b"X-Spam".to_vec(), Vec::new())
        ]
    );
    assert_eq!(
        keys(
            "a SEARCH BEFORE 1-Feb-1994 ON \"01-feb-1994\" SINCE 1-Feb-1994 SENTBEFORE 2-Mar-2000 SENTON 2-Mar-2000 SENTSINCE 2-Mar-2000\r\n"
        ),
        [
            K::Before(d(1994, 2, 1)),
            K::On(d(1994, 2, 1)),
            K::Since(d(1994, 2, 1)),
            K::SentBefore(d(2000, 3, 2)),
            K::SentOn(d(2000, 3, 2)),
            K::SentSince(d(2000, 3, 2)),
        ]
    );
    assert_eq!(
        keys("a SEARCH LARGER 1000 SMALLER 4294967295 UID 1:*,5 2,4:7 * $\r\n"),
        [
            K::Larger(1000),
            K::Smaller(u32::MAX),
            K::Uid(set(&[(1, 0), (5, 5)])),
            K::Seq(set(&[(2, 2), (4, 7)])),
            K::Seq(set(&[(0, 0)])),
            K::Seq(SequenceSet(vec![SeqItem::Saved])),
        ]
    );
    assert_eq!(
        keys("a SEARCH NOT (SEEN FLAGGED) OR DELETED DRAFT\r\n"),
        [
            K::Not(Box::new(K::And(vec![K::Seen, K::Flagged]))),
            K::Or(vec![K::Deleted, K::Draft]),
        ]
    );
    // Left-nested ORs stay nested; right-nested ones form one chain.
    assert_eq!(
        keys("a SEARCH OR OR SEEN DRAFT OR DELETED FLAGGED\r\n"),
        [K::Or(vec![
            K::Or(vec![K::Seen, K::Draft]),
            K::Deleted,
            K::Flagged
        ])]
    );
    for bad in [
        "a SEARCH\r\n",
        "a SEARCH \r\n",
        "a SEARCH ALL \r\n",
        "a SEARCH FROB\r\n",
        "a SEARCH ()\r\n",
        "a SEARCH (ALL\r\n",
        "a SEARCH ALL)\r\n",
        "a SEARCH OR SEEN\r\n",
        "a SEARCH NOT\r\n",
        "a SEARCH KEYWORD \\Seen\r\n",
        "a SEARCH LARGER 4294967296\r\n",
        "a SEARCH SINCE 1-Feb-94\r\n",
        "a SEARCH HEADER Subject\r\n",
        "a SEARCH UID\r\n",
        "a SEARCH ORSEEN DRAFT\r\n",
    ] {
        err(bad);
    }
}

#[test]
fn search_charset_esearch_and_modseq() {
    let s = search("a SEARCH CHARSET UTF-8 TEXT {6}\r\nXXXXXX\r\n");
    assert_eq!(s.charset, Some(Charset::Utf8));
    assert_eq!(
        search("a SEARCH charset \"us-ascii\" ALL\r\n").charset,
        Some(Charset::UsAscii)
    );
    assert_eq!(
        search("a SEARCH CHARSET KOI8-R ALL\r\n").charset,
        Some(Charset::Other("KOI8-R".into()))
    );
    assert_eq!(search("a SEARCH ALL\r\n").charset, None);
    let s = search("a UID SEARCH RETURN (MIN MAX COUNT ALL SAVE) CHARSET UTF-8 UNSEEN\r\n");
    assert!(s.uid);
    assert_eq!(
        s.returns,
        Some(vec![
            SearchReturn::Min,
            SearchReturn::Max,
            SearchReturn::Count,
            SearchReturn::All,
            SearchReturn::Save
        ])
    );
    assert_eq!(s.charset, Some(Charset::Utf8));
    // RFC 4731: an empty RETURN list means ALL.
    assert_eq!(
        search("a SEARCH RETURN () ALL\r\n").returns,
        Some(vec![SearchReturn::All])
    );
    err("a SEARCH RETURN (FROB) ALL\r\n");
    err("a SEARCH RETURN ALL\r\n");
    err("a SEARCH CHARSET UTF-8 RETURN (MIN) ALL\r\n");
    // RFC 7162 section 3.1.5's examples.
    assert_eq!(
        search("a SEARCH MODSEQ \"/flags/\\\\draft\" all 620162338\r\n").keys,
        [SearchKey::ModSeq {
            entry: Some((b"/flags/\\draft".to_vec(), EntryType::All)),
            modseq: 620162338
        }]
    );
    assert_eq!(
        search("a SEARCH OR NOT MODSEQ 720162338 LARGER 50000\r\n").keys,
        [SearchKey::Or(vec![
            SearchKey::Not(Box::new(SearchKey::ModSeq {
                entry: None,
                modseq: 720162338
            })),
            SearchKey::Larger(50000)
        ])]
    );
    assert!(matches!(
        search("a SEARCH MODSEQ \"/flags/$x\" PRIV 0\r\n").keys[0],
        SearchKey::ModSeq {
            entry: Some((_, EntryType::Private)),
            ..
        }
    ));
    err("a SEARCH MODSEQ \"/vendor/x\" all 5\r\n");
    err("a SEARCH MODSEQ \"/flags/x\" none 5\r\n");
    err("a SEARCH MODSEQ\r\n");
}

#[test]
fn inbox_is_case_insensitive_and_names_keep_their_bytes() {
    for s in [
        "a SELECT inbox\r\n",
        "a SELECT \"InBoX\"\r\n",
        "a SELECT {5}\r\niNBOX\r\n",
    ] {
        let CommandBody::Select { mailbox, .. } = ok(s) else {
            panic!()
        };
        assert!(mailbox.is_inbox(), "{s:?}");
    }
    let CommandBody::Select { mailbox, .. } = ok("a SELECT \"INBOX.x\"\r\n") else {
        panic!()
    };
    assert!(!mailbox.is_inbox());
    // 8-bit in a quoted name is passed on; decoding applies the UTF8=ACCEPT rule.
    let CommandBody::Select { mailbox, .. } = ok("a SELECT \"Entwürfe\"\r\n") else {
        panic!()
    };
    assert_eq!(mailbox.decode(true).as_deref(), Ok("Entwürfe"));
    assert!(mailbox.decode(false).is_err());
}

#[test]
fn names_for_replies() {
    for (s, name) in [
        ("a UID FETCH 1 FLAGS\r\n", "UID FETCH"),
        ("a fetch 1 FLAGS\r\n", "FETCH"),
        ("a UID SEARCH ALL\r\n", "UID SEARCH"),
        ("a UID COPY 1 x\r\n", "UID COPY"),
        ("a UID EXPUNGE 1\r\n", "UID EXPUNGE"),
        ("a list \"\" *\r\n", "LIST"),
    ] {
        assert_eq!(ok(s).name(), name);
    }
}
