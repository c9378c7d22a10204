//! Commands in the shapes real clients send them: their case habits, long header
//! lists, modifiers, LITERAL+ and SASL-IR. Each must parse, into what the client
//! meant.

use super::*;

/// Thunderbird: lowercase command words after UID, the long header-field list of
/// its message-list fetch, CONDSTORE resync.
#[test]
fn thunderbird() {
    let f = fetch(
        "6 UID FETCH 1:* (UID RFC822.SIZE FLAGS BODY.PEEK[HEADER.FIELDS (From To Cc Bcc Subject Date Message-ID Priority X-Priority References Newsgroups In-Reply-To Content-Type Reply-To)])\r\n",
    );
    assert!(f.uid);
    assert_eq!(f.set, set(&[(1, 0)]));
    assert_eq!(
        &f.items[..3],
        [FetchItem::Uid, FetchItem::Rfc822Size, FetchItem::Flags]
    );
    let FetchItem::Section(b) = &f.items[3] else {
        panic!()
    };
    assert!(b.peek && b.section.part.is_empty());
    let Some(SectionText::HeaderFields(fields)) = &b.section.text else {
        panic!()
    };
    assert_eq!(fields.len(), 14);
    assert_eq!(fields[0], b"From");
    assert_eq!(fields[13], b"Reply-To");
    for s in [
        "1 capability\r\n",
        "2 ID (\"name\" \"Thunderbird\" \"version\" \"115.3.1\")\r\n",
        "3 authenticate PLAIN\r\n",
        "4 select \"INBOX\" (CONDSTORE)\r\n",
        "5 UID fetch 1:* (FLAGS) (CHANGEDSINCE 123456)\r\n",
        "7 UID fetch 4711 (UID RFC822.SIZE BODY[]<0.65536>)\r\n",
        "8 uid store 4711 +Flags (\\Seen)\r\n",
        "9 list \"\" \"*\"\r\n",
        "10 lsub \"\" \"*\"\r\n",
        "11 uid move 4711 \"Trash\"\r\n",
        "12 getquotaroot \"INBOX\"\r\n",
        "13 STATUS \"Sent\" (UIDNEXT MESSAGES UNSEEN RECENT)\r\n",
        "14 IDLE\r\n",
        "15 uid expunge 4711\r\n",
        "16 UID fetch 4711:4712 (UID RFC822.SIZE FLAGS BODY.PEEK[HEADER.FIELDS (From To Cc Bcc Subject Date Message-ID)])\r\n",
    ] {
        ok(s);
    }
}

/// mbsync (isync): SASL-IR, LITERAL+ for APPEND with flags and a date, huge UID
/// ranges, X-TUID header searches and fetches.
#[test]
fn mbsync() {
    for s in [
        "1 CAPABILITY\r\n",
        "2 AUTHENTICATE PLAIN AGpvZQBzZWNyZXQ=\r\n",
        "3 LIST \"\" \"*\"\r\n",
        "4 SELECT \"INBOX\"\r\n",
        "5 UID FETCH 1:1000000000 (UID FLAGS)\r\n",
        "6 UID FETCH 12:34 (UID FLAGS BODY.PEEK[HEADER.FIELDS (X-TUID)])\r\n",
        "7 UID FETCH 12 (BODY.PEEK[])\r\n",
        "8 UID STORE 1,3:5,9 +FLAGS.SILENT (\\Deleted)\r\n",
        "9 UID EXPUNGE 1,3:5,9\r\n",
        "10 UID SEARCH HEADER X-TUID 8pAqoVJqHH0b\r\n",
        "11 CREATE \"Archive/2023\"\r\n",
        "12 CLOSE\r\n",
        "13 LOGOUT\r\n",
    ] {
        ok(s);
    }
    let CommandBody::Append {
        mailbox,
        flags,
        date,
        message,
    } = ok(
        "14 APPEND \"Sent\" (\\Seen \\Answered) \"07-Jul-2023 09:05:00 +0200\" {25+}\r\nSubject: x\r\nX-TUID: a\r\n\r\n\r\n",
    )
    else {
        panic!()
    };
    assert_eq!(mailbox, mb("Sent"));
    assert_eq!(flags, [Flag::Seen, Flag::Answered]);
    assert!(date.is_some());
    assert_eq!(message, b"Subject: x\r\nX-TUID: a\r\n\r\n");
    ok("15 LOGIN \"joe\" {10+}\r\npa\"ss word\r\n");
}

/// Apple Mail: ID with many fields, CONDSTORE select and flag resync, combined
/// structure-and-header fetches, partial body parts.
#[test]
fn apple_mail() {
    let CommandBody::Id(Some(fields)) = ok(
        "1 ID (\"name\" \"Mac OS X Mail\" \"version\" \"16.0 (3731.500.231)\" \"os\" \"Mac OS X\" \"os-version\" \"13.4 (22F66)\" \"vendor\" \"Apple Inc.\")\r\n",
    ) else {
        panic!()
    };
    assert_eq!(fields.len(), 5);
    for s in [
        "2 SELECT INBOX (CONDSTORE)\r\n",
        "3 UID FETCH 1:* (FLAGS) (CHANGEDSINCE 42)\r\n",
        "4 UID SEARCH 1:* NOT DELETED\r\n",
        "5 UID FETCH 412 (BODYSTRUCTURE BODY.PEEK[HEADER] INTERNALDATE FLAGS RFC822.SIZE)\r\n",
        "6 UID FETCH 412 (BODY.PEEK[1.MIME] BODY.PEEK[1]<0.32768>)\r\n",
        "7 STATUS INBOX (MESSAGES UIDNEXT UIDVALIDITY UNSEEN HIGHESTMODSEQ)\r\n",
        "8 UID STORE 412 FLAGS.SILENT (\\Seen $NotJunk NotJunk)\r\n",
        "9 LIST \"\" \"*\" RETURN (SPECIAL-USE)\r\n",
        "10 ENABLE QRESYNC\r\n",
        "11 SELECT INBOX (QRESYNC (1687880000 5500 1:2000))\r\n",
        "12 UID FETCH 1:2000 (FLAGS) (CHANGEDSINCE 5500 VANISHED)\r\n",
        "13 NOOP\r\n",
    ] {
        ok(s);
    }
}

/// Outlook: upper-case A-tags, LSUB, header-only fetches, multi-flag stores.
#[test]
fn outlook() {
    for s in [
        "A1 CAPABILITY\r\n",
        "A2 AUTHENTICATE PLAIN\r\n",
        "A3 LIST \"\" \"*\"\r\n",
        "A4 LSUB \"\" \"*\"\r\n",
        "A5 SELECT \"INBOX\"\r\n",
        "A6 UID SEARCH UID 1:*\r\n",
        "A7 UID FETCH 1:* (UID FLAGS RFC822.SIZE BODY.PEEK[HEADER] INTERNALDATE)\r\n",
        "A8 UID STORE 5 +FLAGS (\\Deleted \\Seen)\r\n",
        "A9 EXPUNGE\r\n",
        "A10 UID FETCH 5 (UID RFC822.SIZE BODY.PEEK[])\r\n",
        "A11 FETCH 1:* (UID FLAGS)\r\n",
        "A12 UID COPY 5 \"Deleted Items\"\r\n",
        "A13 CREATE \"Sent Items\"\r\n",
        "A14 APPEND \"Sent Items\" (\\Seen) {5}\r\nhello\r\n",
    ] {
        ok(s);
    }
}

/// Others: K-9/Thunderbird-for-Android, Geary, Evolution, alpine, webmails.
#[test]
fn others() {
    for s in [
        "7 UID SEARCH 1:* NOT DELETED\r\n",
        "8 UID FETCH * BODY.PEEK[HEADER.FIELDS (REFERENCES)]\r\n",
        "a008 UID FETCH 1:* (UID FLAGS ENVELOPE BODYSTRUCTURE INTERNALDATE RFC822.SIZE)\r\n",
        "A00012 UID SEARCH SINCE 1-Jan-2024 NOT DELETED\r\n",
        "00000005 FETCH 1:10 (FLAGS RFC822.SIZE INTERNALDATE BODY.PEEK[HEADER.FIELDS (DATE FROM SUBJECT)])\r\n",
        "a1 UID SEARCH OR OR FROM alice FROM bob SUBJECT \"[PATCH]\"\r\n",
        "a2 UID SEARCH CHARSET UTF-8 SUBJECT {5}\r\nFü\u{00df}\r\n",
        "a3 LIST (SUBSCRIBED) \"\" \"*\" RETURN (CHILDREN SPECIAL-USE STATUS (MESSAGES UNSEEN))\r\n",
        "a4 SEARCH RETURN (SAVE) UNSEEN\r\n",
        "a5 FETCH $ (FLAGS)\r\n",
        "a6 UID SEARCH RETURN (COUNT MIN) MODSEQ 1000\r\n",
    ] {
        ok(s);
    }
}
