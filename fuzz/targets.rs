//! The fuzz targets' properties, as plain functions of the input bytes: built by
//! `cargo fuzz` (fuzz/fuzz_targets/*.rs) and, on stable, by
//! `tests/fuzz_regressions.rs` over the kept corpus and crash files. Each panics
//! when a property fails.
#![allow(dead_code)]

use msgstore::index::CacheEntry;
use msgstore::index::record::{CacheHead, Header, Record};
use msgstore::store::names::{self, MailboxName};
use msgstore::uidset::UidSet;
use zerocopy::{FromBytes, IntoBytes};

/// The MIME-to-IMAP cache builder: never panics, sizes add up, the strings are
/// balanced IMAP lists, and LF and CRLF spellings give the same result.
pub fn mime_build(data: &[u8]) {
    let c = msgstore::mime::build(data);
    assert!(c.header_size_physical <= data.len() as u64);
    assert_eq!(c.header_size + c.body_size, c.size);
    for s in [&c.envelope, &c.bodystructure, &c.body] {
        assert_eq!(s.first(), Some(&b'('));
        assert_eq!(s.last(), Some(&b')'));
        assert!(balanced(s), "unbalanced: {}", String::from_utf8_lossy(s));
    }
    let crlf = msgstore::message::to_crlf(data);
    if crlf.as_ref() != data {
        let d = msgstore::mime::build(&crlf);
        assert_eq!(d.size, c.size, "RFC822.SIZE differs from the CRLF copy's");
        assert_eq!(d.envelope, c.envelope);
        assert_eq!(d.bodystructure, c.bodystructure);
    }
}

/// BODY[section]: never panics; every section is CRLF-clean (no bare LF, no NUL);
/// its length is what `len` says; BODY[] is RFC822.SIZE octets and is HEADER
/// followed by TEXT; the streaming converter agrees at any chunk split; and the
/// LF and CRLF spellings of a message give the same sections.
pub fn mime_section(data: &[u8]) {
    use msgstore::mime::section::{CrlfStream, SectionText, Sections, crlf_len, partial};

    let sections = Sections::new(data);
    let whole = sections.get(&[], None);
    let built = msgstore::mime::build(data);
    assert_eq!(
        whole.len() as u64,
        built.size,
        "BODY[] is not RFC822.SIZE octets"
    );
    assert_eq!(crlf_len(data), built.size);
    let header = sections.get(&[], Some(&SectionText::Header));
    assert_eq!(header.len() as u64, built.header_size);
    let text = sections.get(&[], Some(&SectionText::Text));
    assert_eq!([&header[..], &text[..]].concat(), whole.as_ref());

    let split = data.len() / 3;
    let offset = data.first().map_or(0, |&b| u64::from(b));
    let mut s = CrlfStream::window(offset, Some(17));
    let mut out = Vec::new();
    s.push(&data[..split], &mut out);
    s.push(&data[split..], &mut out);
    assert_eq!(out, partial(&whole, offset, Some(17)), "stream window");

    let names = vec![
        b"subject".to_vec(),
        b"From".to_vec(),
        b"content-type".to_vec(),
    ];
    let texts = [
        None,
        Some(SectionText::Header),
        Some(SectionText::Text),
        Some(SectionText::Mime),
        Some(SectionText::HeaderFields(names.clone())),
        Some(SectionText::HeaderFieldsNot(names)),
    ];
    let crlf = msgstore::message::to_crlf(data);
    let other = Sections::new(&crlf);
    let paths: [&[u32]; 9] = [
        &[],
        &[1],
        &[2],
        &[1, 1],
        &[1, 2],
        &[2, 1],
        &[3],
        &[1, 1, 1],
        &[2, 2, 1],
    ];
    for path in paths {
        for t in &texts {
            let got = sections.get(path, t.as_ref());
            assert_eq!(got.len() as u64, sections.len(path, t.as_ref()));
            assert!(!got.contains(&0), "NUL in a section");
            for (i, &b) in got.iter().enumerate() {
                assert!(
                    b != b'\n' || (i > 0 && got[i - 1] == b'\r'),
                    "bare LF in {path:?}"
                );
            }
            assert_eq!(
                got,
                other.get(path, t.as_ref()),
                "LF and CRLF copies differ at {path:?} {t:?}"
            );
        }
    }
}

/// SEARCH text matching: never panics, on any message and any needle (taken from
/// the input itself, so it often occurs); BODY implies TEXT; empty needles match;
/// the LF and CRLF spellings of a message give the same answers.
pub fn mime_search(data: &[u8]) {
    use msgstore::mime::search::Searchable;

    let cut = data.iter().position(|&b| b == b'|').unwrap_or(0);
    let (needle, msg) = (
        String::from_utf8_lossy(&data[..cut]),
        &data[(cut + 1).min(data.len())..],
    );
    let crlf = msgstore::message::to_crlf(msg);
    let (a, b) = (Searchable::new(msg), Searchable::new(&crlf));
    for s in [&a, &b] {
        assert!(s.body("") && s.text(""));
        if s.body(&needle) {
            assert!(s.text(&needle), "BODY matched but TEXT did not");
        }
    }
    // A needle holding a line break may match one spelling only.
    if !needle.contains(['\r', '\n']) {
        assert_eq!(
            a.body(&needle),
            b.body(&needle),
            "BODY differs by line ends"
        );
        assert_eq!(
            a.text(&needle),
            b.text(&needle),
            "TEXT differs by line ends"
        );
    }
    for field in [&b"From"[..], b"subject", b"To", b"Message-ID", b"X-Y"] {
        assert_eq!(a.header(field, &needle), b.header(field, &needle));
        assert_eq!(a.header(field, ""), b.header(field, ""));
        if a.header(field, &needle) {
            assert!(a.header(field, ""), "a value matched in an absent field");
        }
    }
    assert_eq!(a.sent_date(), b.sent_date());
    if let Some((y, m, d)) = a.sent_date() {
        assert!((1900..10_000).contains(&y) && (1..=12).contains(&m) && (1..=31).contains(&d));
    }
}

/// Parentheses balance outside quoted strings and literals.
fn balanced(s: &[u8]) -> bool {
    let mut depth: i64 = 0;
    let mut i = 0;
    while i < s.len() {
        match s[i] {
            b'"' => {
                i += 1;
                while i < s.len() && s[i] != b'"' {
                    if s[i] == b'\\' {
                        i += 1;
                    }
                    i += 1;
                }
            }
            b'{' => {
                // {N}\r\n then N bytes.
                let start = i + 1;
                let mut j = start;
                while j < s.len() && s[j].is_ascii_digit() {
                    j += 1;
                }
                if j < s.len() && s[j] == b'}' && j > start {
                    let n: usize = std::str::from_utf8(&s[start..j])
                        .ok()
                        .and_then(|t| t.parse().ok())
                        .unwrap_or(0);
                    i = j + 3 + n; // past "}\r\n" and the N bytes
                    continue;
                }
            }
            b'(' => depth += 1,
            b')' => {
                depth -= 1;
                if depth < 0 {
                    return false;
                }
            }
            _ => {}
        }
        i += 1;
    }
    depth == 0
}

/// Name encoding is reversible and never makes a dot, a slash or a store file
/// name; decoding accepts only canonical spellings; parsed names round-trip.
pub fn names(data: &[u8]) {
    let Ok(s) = std::str::from_utf8(data) else {
        return;
    };
    let enc = names::encode(s);
    assert!(!enc.contains('.') && !enc.contains('/'), "{enc:?}");
    assert_eq!(names::decode(&enc).as_deref(), Some(s), "{s:?} -> {enc:?}");
    if let Some(d) = names::decode(s) {
        assert_eq!(
            names::encode(&d),
            s,
            "decode accepted a non-canonical {s:?}"
        );
    }
    if !enc.is_empty() {
        assert!(matches!(
            msgstore::store::classify(&enc),
            msgstore::store::Entry::Folder(_)
        ));
    }
    if let Ok(n) = MailboxName::parse(s) {
        let shown = n.to_string();
        let again = MailboxName::parse(&shown).expect("a parsed name parses again");
        assert_eq!(again, n);
        for part in n.encoded_parts() {
            assert!(!part.is_empty() && part != "." && part != ".." && !part.contains('/'));
            assert!(part.len() <= 255);
        }
    }
    let _ = names::check_user_name(s);
}

/// UID sets: never panic; membership is consistent with the ranges given.
pub fn uidset(data: &[u8]) {
    let Ok(s) = std::str::from_utf8(data) else {
        return;
    };
    if let Ok(set) = UidSet::parse(s) {
        let max = 1000;
        for item in s.split(',') {
            let (a, b) = item.split_once(':').unwrap_or((item, item));
            let v = |t: &str| {
                if t == "*" {
                    max
                } else {
                    t.parse::<u32>().unwrap_or(0)
                }
            };
            let (lo, hi) = (v(a).min(v(b)), v(a).max(v(b)));
            assert!(set.contains(lo, max) && set.contains(hi, max), "{s:?}");
        }
        let _ = set.contains(u32::MAX, u32::MAX);
        let _ = set.contains(0, 0);
    }
}

/// The fixed-size record decoders read any bytes without panicking, and a
/// decoded cache entry encodes back to the same bytes.
pub fn records(data: &[u8]) {
    if let Ok(r) = Record::read_from_bytes(data) {
        assert_eq!(r.as_bytes(), data);
        let _ = r.guid_hex();
        for bit in [0, 63, 64, 127, 128, 1000] {
            let _ = r.has_user_flag(bit);
        }
    }
    let _ = Record::read_from_prefix(data);
    if let Ok(h) = Header::read_from_bytes(data) {
        assert_eq!(h.as_bytes(), data);
    }
    let _ = CacheHead::read_from_prefix(data);
    if let Ok(h) = Header::read_from_bytes(data) {
        let _ = h.verify();
    }
    if let Ok(r) = Record::read_from_bytes(data) {
        let id = msgstore::index::record::Identity {
            mailbox_id: 7,
            uidvalidity: 9,
        };
        let _ = r.verify(id);
        assert!(
            r.sealed(id).verify(id)
                || r.uid.get() == 0
                || r.reserved != [0; 8]
                || r.system_flags.get() & !0x1f != 0
        );
    }
    for v1 in [false, true] {
        if let Some(c) = CacheEntry::decode(5, data, v1) {
            // A verified entry is exactly its bytes: it encodes back to them.
            let enc = c.encode(5);
            assert_eq!(enc.len(), data.len());
            assert_eq!(
                CacheEntry::decode(5, &enc, false),
                Some(c),
                "cache entry does not round-trip"
            );
        }
    }
    let _ = msgstore::index::decode_keywords(
        msgstore::index::record::Identity {
            mailbox_id: 1,
            uidvalidity: 1,
        },
        data,
    );
}

/// The IMAP framer and parser over arbitrary bytes: they never panic; a command
/// never exceeds the framer's limits (memory stays bounded); the events do not
/// depend on how the bytes were split into reads; and every parse error's reason
/// is printable ASCII, safe to put in a `BAD` reply.
pub fn imap_parse(data: &[u8]) {
    use msgstore::server::imap::proto::framer::{Event, Framer, Limits, LineEvent};
    use msgstore::server::imap::proto::parse;

    let limits = Limits {
        max_line: 1024,
        max_literal: 4096,
        max_command: 8192,
    };
    // A session that accepts most synchronising literals and refuses some,
    // deciding by the size so that every split decides alike.
    let frame = |chunk: usize| {
        let mut f = Framer::new(limits);
        let mut events = Vec::new();
        for piece in data.chunks(chunk) {
            f.feed(piece);
            loop {
                let e = f.next();
                match &e {
                    Event::NeedMore => break,
                    Event::Literal { size, .. } if size % 5 == 4 => f.refuse_literal(),
                    Event::Literal { nonsync: false, .. } => f.accept_literal(),
                    _ => {}
                }
                events.push(e);
            }
            assert_eq!(f.buffered(), 0, "fed bytes are framed, not held");
        }
        events
    };
    let whole = frame(data.len().max(1));
    assert_eq!(frame(1), whole, "events differ when fed a byte at a time");
    assert_eq!(
        frame(2 + data.len() % 13),
        whole,
        "events differ by read size"
    );
    let safe = |e: &parse::ParseError| e.reason.bytes().all(|b| (0x20..0x7f).contains(&b));
    for e in &whole {
        if let Event::Command(c) = e {
            assert!(c.len() as u64 <= limits.max_command);
            assert!(c.ends_with(b"\r\n"));
            match parse::parse(c) {
                Ok(cmd) => assert!(!cmd.tag.is_empty() && !cmd.body.name().is_empty()),
                Err(err) => assert!(safe(&err), "{:?}", err.reason),
            }
        }
    }
    // The parser alone, on input no framer has checked.
    if let Err(err) = parse::parse_with(
        data,
        &parse::ParseOptions {
            max_depth: usize::MAX,
        },
    ) {
        assert!(safe(&err), "{:?}", err.reason);
    }
    // Line mode (AUTHENTICATE, IDLE).
    let mut f = Framer::new(limits);
    f.feed(data);
    loop {
        match f.next_line() {
            LineEvent::NeedMore => break,
            LineEvent::Line(l) => {
                assert!(l.len() < limits.max_line);
                let _ = parse::parse_auth_response(&l);
                let _ = parse::is_idle_done(&l);
            }
            LineEvent::TooLong | LineEvent::Bad(_) => {}
        }
    }
}

/// A whole IMAP session on arbitrary client bytes, over a small store shared by
/// every run (so state carries over, as on a real server): never panics, always
/// ends, and answers with CRLF-terminated lines. The first byte picks a
/// pre-authenticated session (even) or one that must log in (odd).
pub fn imap_session(data: &[u8]) {
    use msgstore::server::imap::{Context, Peer, Penalties, serve_connection};
    use std::sync::{Arc, OnceLock};
    use tokio::io::{AsyncReadExt, AsyncWriteExt};

    struct World {
        rt: tokio::runtime::Runtime,
        ctx: Arc<Context>,
        _dir: tempfile::TempDir,
    }
    static WORLD: OnceLock<World> = OnceLock::new();
    let w = WORLD.get_or_init(|| {
        let dir = tempfile::tempdir().expect("tempdir");
        let store = msgstore::store::Store::at(dir.path().join("s"));
        msgstore::ops::init(&store).expect("init");
        msgstore::ops::user::add(&store, &["joe".into(), "ann".into()]).expect("users");
        msgstore::ops::mailbox::create(&store, "joe/stuff").expect("mailbox");
        for (i, m) in [
            &b"From: a@b\r\nSubject: one\r\n\r\nbody\r\n"[..],
            b"Content-Type: multipart/mixed; boundary=x\r\n\r\n--x\r\n\r\npart\r\n--x--\r\n",
        ]
        .iter()
        .enumerate()
        {
            let p = msgstore::ops::deliver::prepare(&format!("m{i}"), m).expect("prepare");
            msgstore::ops::OpenMailbox::open(&store, "joe")
                .expect("open")
                .append(vec![msgstore::ops::open::Append::new(p)])
                .expect("append");
        }
        let rt = tokio::runtime::Builder::new_multi_thread()
            .worker_threads(2)
            .enable_all()
            .build()
            .expect("runtime");
        let ctx = Arc::new(Context {
            hub: msgstore::server::hub::Hub::new(store.clone()),
            store,
            tls: None,
            penalties: Penalties::starting_at(std::time::Duration::ZERO),
        });
        World { rt, ctx, _dir: dir }
    });
    let preauth = data
        .first()
        .is_some_and(|b| b % 2 == 0)
        .then(|| "joe".to_owned());
    let input = data.get(1..).unwrap_or_default().to_vec();
    let ctx = w.ctx.clone();
    let out = w.rt.block_on(async move {
        let (client, server) = tokio::io::duplex(1 << 16);
        let (_stop_tx, stop) = tokio::sync::watch::channel(false);
        let peer = Peer {
            addr: "fuzz".into(),
            local: true,
            tls: false,
        };
        let session = tokio::spawn(serve_connection(Box::new(server), ctx, peer, preauth, stop));
        let (mut r, mut wr) = tokio::io::split(client);
        let writer = tokio::spawn(async move {
            let _ = wr.write_all(&input).await;
            let _ = wr.shutdown().await;
        });
        let mut out = Vec::new();
        let read =
            tokio::time::timeout(std::time::Duration::from_secs(20), r.read_to_end(&mut out));
        let finished = read.await.is_ok();
        let _ = writer.await;
        session.abort();
        // Until the session's task is dropped: its half of the duplex, fully read,
        // holds a buffer whose only pointer is one past its end (bytes' BytesMut),
        // which LeakSanitizer reports as a leak if it checks before the drop.
        let _ = tokio::time::timeout(std::time::Duration::from_secs(20), session).await;
        drop(r);
        assert!(finished, "the session did not end after its input did");
        out
    });
    assert!(
        out.is_empty() || out.ends_with(b"\r\n"),
        "a reply line without CRLF"
    );
}

/// An LMTP session over arbitrary bytes, against a small store (joe with a
/// folder, `full` with a quota of 0): it never panics and always ends; every
/// reply is one well-formed line (code, printable text, CRLF); and the replies
/// do not depend on how the bytes were split into reads.
pub fn lmtp_session(data: &[u8]) {
    use msgstore::server::lmtp::{Context, serve_connection};
    use std::sync::Arc;
    use tokio::io::{AsyncReadExt, AsyncWriteExt};

    struct Small {
        _dir: tempfile::TempDir,
        store: msgstore::store::Store,
        runs: u32,
    }
    fn small() -> Small {
        let dir = tempfile::tempdir().expect("tempdir");
        let store = msgstore::store::Store::at(dir.path().join("store"));
        msgstore::ops::init(&store).expect("init");
        msgstore::ops::user::add(&store, &["joe".into(), "full".into()]).expect("users");
        msgstore::ops::mailbox::create(&store, "joe/Lists").expect("folder");
        msgstore::ops::user::set_quota(&store, "full", Some(0)).expect("quota");
        Small {
            _dir: dir,
            store,
            runs: 0,
        }
    }
    thread_local! {
        static RT: tokio::runtime::Runtime = tokio::runtime::Builder::new_current_thread()
            .enable_time()
            .build()
            .expect("runtime");
        static STORE: std::cell::RefCell<Option<Small>> = const { std::cell::RefCell::new(None) };
    }
    // A fresh store now and then, so that mail piling up does not slow the runs.
    let store = STORE.with(|s| {
        let mut s = s.borrow_mut();
        if s.as_ref().is_none_or(|x| x.runs >= 200) {
            *s = Some(small());
        }
        let x = s.as_mut().expect("just made");
        x.runs += 1;
        x.store.clone()
    });
    let session = |chunk: usize| -> Vec<u8> {
        RT.with(|rt| {
            rt.block_on(async {
                let mut ctx = Context::new(store.clone(), "fuzz.test");
                ctx.max_message_size = 4096;
                ctx.max_recipients = 5;
                ctx.log = Arc::new(|_: &str| {});
                let (mut client, server) = tokio::io::duplex(1 << 16);
                let (_tx, rx) = tokio::sync::watch::channel(false);
                let task = tokio::spawn(serve_connection(server, Arc::new(ctx), "fuzz".into(), rx));
                let bytes = data.to_vec();
                let reader = tokio::spawn(async move {
                    for piece in bytes.chunks(chunk) {
                        if client.write_all(piece).await.is_err() {
                            break;
                        }
                        tokio::task::yield_now().await;
                    }
                    let _ = client.shutdown().await;
                    let mut out = Vec::new();
                    let _ = client.read_to_end(&mut out).await;
                    out
                });
                let out = reader.await.expect("client");
                task.await
                    .expect("session")
                    .expect("no I/O error on a duplex");
                out
            })
        })
    };
    let whole = session(data.len().max(1));
    assert!(whole.starts_with(b"220 "), "no greeting");
    assert!(whole.is_empty() || whole.ends_with(b"\r\n"));
    let mut codes = Vec::new();
    for line in whole.split(|&b| b == b'\n').filter(|l| !l.is_empty()) {
        let line = line.strip_suffix(b"\r").expect("CRLF line ends");
        assert!(line.len() >= 4 && line.len() <= 512, "{line:?}");
        assert!(line[..3].iter().all(u8::is_ascii_digit), "{line:?}");
        assert!(line[3] == b' ' || line[3] == b'-', "{line:?}");
        assert!(line.iter().all(|b| (0x20..0x7f).contains(b)), "{line:?}");
        codes.push(line[..3].to_vec());
    }
    let split = session(1 + data.len() % 7);
    let split_codes: Vec<Vec<u8>> = split
        .split(|&b| b == b'\n')
        .filter(|l| !l.is_empty())
        .map(|l| l[..3.min(l.len())].to_vec())
        .collect();
    assert_eq!(split_codes, codes, "replies differ by read size");
}
