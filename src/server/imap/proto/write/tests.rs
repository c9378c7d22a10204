use super::*;
use crate::server::imap::proto::parse::parse;
use crate::server::imap::proto::types::{CommandBody, FetchItem, Section};

fn w(f: impl FnOnce(&mut Vec<u8>)) -> String {
    let mut out = Vec::new();
    f(&mut out);
    String::from_utf8(out).unwrap()
}

#[test]
fn strings_choose_quoted_or_literal() {
    assert_eq!(w(|o| string(o, b"hello world")), "\"hello world\"");
    assert_eq!(w(|o| string(o, b"")), "\"\"");
    assert_eq!(w(|o| string(o, br#"a"b\c"#)), r#""a\"b\\c""#);
    assert_eq!(w(|o| string(o, b"a\r\nb")), "{4}\r\na\r\nb");
    assert_eq!(w(|o| string(o, "é".as_bytes())), "{2}\r\né");
    let long = vec![b'x'; MAX_QUOTED + 1];
    assert!(w(|o| string(o, &long)).starts_with("{1025}\r\nxx"));
    assert_eq!(w(|o| string_utf8(o, "é".as_bytes())), "\"é\"");
    let mut out = Vec::new();
    string_utf8(&mut out, b"\xff");
    assert_eq!(out, b"{1}\r\n\xff");
    assert_eq!(w(|o| nstring(o, None)), "NIL");
    assert_eq!(w(|o| nstring(o, Some(b"NIL"))), "\"NIL\"");
}

#[test]
fn astrings_and_mailbox_names() {
    assert_eq!(w(|o| astring(o, b"INBOX")), "INBOX");
    assert_eq!(w(|o| astring(o, b"Sent Items")), "\"Sent Items\"");
    assert_eq!(w(|o| astring(o, b"a]b")), "\"a]b\"");
    assert_eq!(w(|o| astring(o, b"nil")), "\"nil\"");
    assert_eq!(w(|o| astring(o, b"")), "\"\"");
    assert_eq!(w(|o| astring(o, b"50%")), "\"50%\"");
    assert_eq!(w(|o| mailbox(o, "Entwürfe", false)), "Entw&APw-rfe");
    assert_eq!(w(|o| mailbox(o, "Entwürfe", true)), "\"Entwürfe\"");
    assert_eq!(w(|o| mailbox(o, "R&D Docs", false)), "\"R&-D Docs\"");
    assert_eq!(w(|o| mailbox(o, "R&D", true)), "R&D");
    assert_eq!(w(|o| mailbox(o, "a\"b", false)), "\"a\\\"b\"");
}

#[test]
fn written_names_parse_back() {
    for name in [
        "INBOX",
        "Sent Items",
        "a]b",
        "Entwürfe",
        "R&D",
        "\"q\"",
        "back\\slash",
        "日本語",
    ] {
        for utf8 in [false, true] {
            let mut cmd = b"a SELECT ".to_vec();
            mailbox(&mut cmd, name, utf8);
            cmd.extend_from_slice(b"\r\n");
            let Ok(c) = parse(&cmd) else {
                panic!("{}", String::from_utf8_lossy(&cmd))
            };
            let CommandBody::Select { mailbox, .. } = c.body else {
                panic!()
            };
            assert_eq!(mailbox.decode(utf8).as_deref(), Ok(name));
        }
    }
}

#[test]
fn flags_and_sets() {
    let flags = [
        Flag::Answered,
        Flag::Flagged,
        Flag::Deleted,
        Flag::Seen,
        Flag::Draft,
        Flag::Keyword("$Forwarded".into()),
        Flag::Extension("Recent".into()),
    ];
    assert_eq!(
        w(|o| flag_list(o, &flags)),
        "(\\Answered \\Flagged \\Deleted \\Seen \\Draft $Forwarded \\Recent)"
    );
    assert_eq!(w(|o| flag_list(o, &[])), "()");
    assert_eq!(w(|o| sequence_set(o, &[1, 2, 3, 5, 7, 8])), "1:3,5,7:8");
    assert_eq!(w(|o| sequence_set(o, &[9, 4, 5])), "9,4:5");
}

#[test]
fn response_codes() {
    let cases: &[(Code<'_>, &str)] = &[
        (Code::UidValidity(3857529045), "[UIDVALIDITY 3857529045]"),
        (Code::UidNext(4392), "[UIDNEXT 4392]"),
        (Code::Unseen(12), "[UNSEEN 12]"),
        (Code::UseAttr, "[USEATTR]"),
        (
            Code::AppendUid {
                uidvalidity: 38505,
                uid: 3955,
            },
            "[APPENDUID 38505 3955]",
        ),
        (
            Code::CopyUid {
                uidvalidity: 38505,
                source: &[304, 319, 320, 321],
                dest: &[3956, 3957, 3958, 3959],
            },
            "[COPYUID 38505 304,319:321 3956:3959]",
        ),
        (
            Code::HighestModSeq(715194045007),
            "[HIGHESTMODSEQ 715194045007]",
        ),
        (Code::Modified(&[7, 9]), "[MODIFIED 7,9]"),
        (
            Code::BadCharset(&["US-ASCII", "UTF-8"]),
            "[BADCHARSET (US-ASCII UTF-8)]",
        ),
        (Code::BadCharset(&[]), "[BADCHARSET]"),
        (
            Code::Capability(&["IMAP4rev1", "LITERAL+", "AUTH=PLAIN"]),
            "[CAPABILITY IMAP4rev1 LITERAL+ AUTH=PLAIN]",
        ),
        (
            Code::PermanentFlags {
                flags: &[Flag::Seen, Flag::Deleted],
                any_keyword: true,
            },
            "[PERMANENTFLAGS (\\Seen \\Deleted \\*)]",
        ),
        (
            Code::PermanentFlags {
                flags: &[],
                any_keyword: false,
            },
            "[PERMANENTFLAGS ()]",
        ),
        (Code::ReadOnly, "[READ-ONLY]"),
        (Code::ReadWrite, "[READ-WRITE]"),
    ];
    for (c, want) in cases {
        assert_eq!(w(|o| code(o, c)), *want);
    }
    for (c, want) in [
        (Code::Alert, "ALERT"),
        (Code::AlreadyExists, "ALREADYEXISTS"),
        (Code::AuthenticationFailed, "AUTHENTICATIONFAILED"),
        (Code::Cannot, "CANNOT"),
        (Code::ClientBug, "CLIENTBUG"),
        (Code::Closed, "CLOSED"),
        (Code::InUse, "INUSE"),
        (Code::Limit, "LIMIT"),
        (Code::NoModSeq, "NOMODSEQ"),
        (Code::NonExistent, "NONEXISTENT"),
        (Code::NoPerm, "NOPERM"),
        (Code::OverQuota, "OVERQUOTA"),
        (Code::PrivacyRequired, "PRIVACYREQUIRED"),
        (Code::TooBig, "TOOBIG"),
        (Code::TryCreate, "TRYCREATE"),
        (Code::Unavailable, "UNAVAILABLE"),
    ] {
        assert_eq!(w(|o| code(o, &c)), format!("[{want}]"));
    }
}

#[test]
fn status_lines() {
    assert_eq!(
        w(|o| status_line(
            o,
            Some("a1"),
            Status::Ok,
            Some(&Code::ReadWrite),
            "SELECT completed"
        )),
        "a1 OK [READ-WRITE] SELECT completed\r\n"
    );
    assert_eq!(
        w(|o| status_line(o, None, Status::Ok, Some(&Code::UidNext(5)), "")),
        "* OK [UIDNEXT 5]\r\n"
    );
    assert_eq!(
        w(|o| status_line(o, None, Status::Bad, None, "bad\r\nline\0")),
        "* BAD bad  line \r\n"
    );
    assert_eq!(
        w(|o| status_line(o, None, Status::Bye, None, "bye")),
        "* BYE bye\r\n"
    );
    assert_eq!(
        w(|o| status_line(o, None, Status::PreAuth, None, "hi")),
        "* PREAUTH hi\r\n"
    );
    assert_eq!(
        w(|o| status_line(o, Some("t"), Status::No, Some(&Code::TooBig), "too big")),
        "t NO [TOOBIG] too big\r\n"
    );
    assert_eq!(w(|o| continuation(o, "Ready")), "+ Ready\r\n");
    assert_eq!(w(|o| search_correlator(o, "A282")), "(TAG \"A282\")");
}

#[test]
fn section_names_echo_the_request() {
    let name = |req: &str| {
        let c = parse(format!("a FETCH 1 {req}\r\n").as_bytes()).unwrap();
        let CommandBody::Fetch(f) = c.body else {
            panic!()
        };
        let [FetchItem::Section(s)] = f.items.as_slice() else {
            panic!()
        };
        w(|o| section_name(o, s))
    };
    assert_eq!(name("BODY[]"), "BODY[]");
    assert_eq!(name("BODY.PEEK[]<0.2048>"), "BODY[]<0>");
    assert_eq!(name("body.peek[1.2.mime]"), "BODY[1.2.MIME]");
    assert_eq!(
        name("BODY[header.fields (From \"X Y\")]"),
        "BODY[HEADER.FIELDS (From \"X Y\")]"
    );
    assert_eq!(
        name("BODY[3.HEADER.FIELDS.NOT (Received)]<10.5>"),
        "BODY[3.HEADER.FIELDS.NOT (Received)]<10>"
    );
    assert_eq!(name("BODY[TEXT]"), "BODY[TEXT]");
    let s = BodySection {
        peek: false,
        section: Section {
            part: vec![4],
            text: None,
        },
        partial: None,
    };
    assert_eq!(w(|o| section_name(o, &s)), "BODY[4]");
}
