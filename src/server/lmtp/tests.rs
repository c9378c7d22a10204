//! Protocol tests: a client on one end of an in-memory duplex stream, the real
//! `serve_connection` on the other, over a temporary store.

use super::*;
use crate::ops;
use std::sync::Mutex;
use tokio::io::{AsyncReadExt, AsyncWriteExt, DuplexStream};

struct Fixture {
    _dir: tempfile::TempDir,
    store: Store,
    log: Arc<Mutex<Vec<String>>>,
}

/// joe (a folder `Lists`), ann, full (quota 0), small (quota 300 bytes).
fn fixture() -> Fixture {
    let dir = tempfile::tempdir().unwrap();
    let store = Store::at(dir.path().join("store"));
    ops::init(&store).unwrap();
    ops::user::add(
        &store,
        &["joe".into(), "ann".into(), "full".into(), "small".into()],
    )
    .unwrap();
    ops::mailbox::create(&store, "joe/Lists").unwrap();
    ops::user::set_quota(&store, "full", Some(0)).unwrap();
    ops::user::set_quota(&store, "small", Some(300)).unwrap();
    Fixture {
        _dir: dir,
        store,
        log: Arc::new(Mutex::new(Vec::new())),
    }
}

impl Fixture {
    fn ctx(&self) -> Context {
        let mut c = Context::new(self.store.clone(), "lmtp.test");
        let log = self.log.clone();
        c.log = Arc::new(move |l: &str| log.lock().unwrap().push(l.to_owned()));
        c
    }

    /// Runs a whole session: `input` written at once, then the client's end
    /// closed; every reply line.
    async fn run(&self, ctx: Context, input: &[u8]) -> Vec<String> {
        let (mut client, server) = tokio::io::duplex(1 << 20);
        let (_tx, rx) = watch::channel(false);
        let task = tokio::spawn(serve_connection(server, Arc::new(ctx), "test".into(), rx));
        client.write_all(input).await.unwrap();
        client.shutdown().await.unwrap();
        let mut out = Vec::new();
        client.read_to_end(&mut out).await.unwrap();
        task.await.unwrap().unwrap();
        lines(&out)
    }

    async fn session(&self, input: &[u8]) -> Vec<String> {
        self.run(self.ctx(), input).await
    }

    /// The messages of a mailbox, as stored.
    fn messages(&self, mailbox: &str) -> Vec<Vec<u8>> {
        let m = ops::OpenMailbox::open(&self.store, mailbox).unwrap();
        let state = m.state().unwrap();
        state
            .records
            .keys()
            .map(|uid| std::fs::read(m.message_path(*uid)).unwrap())
            .collect()
    }
}

fn lines(out: &[u8]) -> Vec<String> {
    let text = String::from_utf8(out.to_vec()).unwrap();
    assert!(text.is_empty() || text.ends_with("\r\n"), "{text:?}");
    text.split_terminator("\r\n").map(str::to_owned).collect()
}

/// The reply codes, with the enhanced code where there is one.
fn codes(lines: &[String]) -> Vec<String> {
    lines
        .iter()
        .filter(|l| !l.starts_with("250-"))
        .map(|l| {
            let mut w = l.split(' ');
            let code = w.next().unwrap_or("");
            match w.next() {
                Some(e) if e.contains('.') && e.len() <= 7 => format!("{code} {e}"),
                _ => code.to_owned(),
            }
        })
        .collect()
}

const HELLO: &str = "LHLO mta.test\r\n";

#[tokio::test]
async fn a_pipelined_session_delivers_to_every_recipient() {
    let f = fixture();
    let input = format!(
        "{HELLO}MAIL FROM:<a@b.test> SIZE=60 BODY=8BITMIME\r\nRCPT TO:<joe@x.test>\r\n\
         RCPT TO:<ann@x.test>\r\nDATA\r\nSubject: dots\r\n\r\n..a stuffed dot\r\nend\r\n.\r\nQUIT\r\n"
    );
    let out = f.session(input.as_bytes()).await;
    assert_eq!(
        out[..7],
        [
            "220 lmtp.test LMTP msgstore ready",
            "250-lmtp.test",
            "250-PIPELINING",
            "250-ENHANCEDSTATUSCODES",
            "250-8BITMIME",
            "250-CHUNKING",
            "250 SIZE 67108864",
        ]
    );
    assert_eq!(
        codes(&out[7..]),
        [
            "250 2.1.0",
            "250 2.1.5",
            "250 2.1.5",
            "354",
            "250 2.0.0",
            "250 2.0.0",
            "221 2.0.0"
        ]
    );
    assert!(out[11].contains("<joe@x.test>") && out[12].contains("<ann@x.test>"));
    let joe = f.messages("joe");
    assert_eq!(
        joe,
        [b"Return-Path: <a@b.test>\r\nDelivered-To: joe@x.test\r\nSubject: dots\r\n\r\n.a stuffed dot\r\nend\r\n"]
    );
    assert_eq!(f.messages("ann")[0].len(), joe[0].len());
    let log = f.log.lock().unwrap();
    assert_eq!(
        log.len(),
        3,
        "one line per delivery, one per connection: {log:?}"
    );
    assert!(
        log[0].starts_with(
            "lmtp test: <a@b.test> -> <joe@x.test>: delivered to Other Users/joe as UID"
        )
    );
    assert!(
        log[2].contains("closed: 1 messages, 2 deliveries, 0 refused"),
        "{}",
        log[2]
    );
}

#[tokio::test]
async fn several_recipients_with_mixed_outcomes() {
    let f = fixture();
    ops::OpenMailbox::open(&f.store, "small")
        .unwrap()
        .append(vec![ops::open::Append::new(
            ops::deliver::prepare("m", b"Subject: x\r\n\r\n123456789\r\n").unwrap(),
        )])
        .unwrap();
    let body = format!("Subject: big\r\n\r\n{}\r\n", "x".repeat(300));
    let input = format!(
        "{HELLO}MAIL FROM:<>\r\nRCPT TO:<nobody@x>\r\nRCPT TO:<joe@x>\r\nRCPT TO:<full@x>\r\n\
         RCPT TO:<small@x>\r\nRCPT TO:<ann@x>\r\nDATA\r\n{body}.\r\nQUIT\r\n"
    );
    let out = f.session(input.as_bytes()).await;
    assert_eq!(
        codes(&out[7..]),
        [
            "250 2.1.0",
            "550 5.1.1",
            "250 2.1.5",
            "552 5.2.2",
            // small has room for no more than 275 bytes: accepted at RCPT (no SIZE),
            // refused once the message is known to be bigger.
            "250 2.1.5",
            "250 2.1.5",
            "354",
            "250 2.0.0",
            "552 5.2.2",
            "250 2.0.0",
            "221 2.0.0"
        ],
        "{out:?}"
    );
    assert_eq!(f.messages("joe").len(), 1);
    assert_eq!(f.messages("ann").len(), 1);
    assert_eq!(f.messages("small").len(), 1, "only what it had");
    assert!(f.messages("joe")[0].starts_with(b"Return-Path: <>\r\n"));
    // With SIZE, the would-be overshoot is refused at RCPT.
    let out = f
        .session(
            format!("{HELLO}MAIL FROM:<a@b> SIZE=5000\r\nRCPT TO:<small@x>\r\nQUIT\r\n").as_bytes(),
        )
        .await;
    assert_eq!(codes(&out[7..]), ["250 2.1.0", "552 5.2.2", "221 2.0.0"]);
}

#[tokio::test]
async fn bdat_chunks_and_last() {
    let f = fixture();
    let input = format!(
        "{HELLO}MAIL FROM:<a@b>\r\nRCPT TO:<joe@x>\r\nBDAT 14\r\nSubject: c\r\n\r\nBDAT 11 LAST\r\n.no\r\nstuf\r\n\
         MAIL FROM:<a@b>\r\nRCPT TO:<ann@x>\r\nBDAT 0 LAST\r\nNOOP\r\n"
    );
    let out = f.session(input.as_bytes()).await;
    assert_eq!(
        codes(&out[7..]),
        [
            "250 2.1.0",
            "250 2.1.5",
            "250 2.0.0",
            "250 2.0.0",
            "250 2.1.0",
            "250 2.1.5",
            "554 5.6.0",
            "250 2.0.0"
        ],
        "{out:?}"
    );
    assert_eq!(
        f.messages("joe"),
        [b"Return-Path: <a@b>\r\nDelivered-To: joe@x\r\nSubject: c\r\n\r\n.no\r\nstuf\r\n"],
        "BDAT is not dot-stuffed"
    );
    assert!(f.messages("ann").is_empty(), "an empty message is refused");
    // DATA after BDAT, a chunk without recipients: refused, and its bytes skipped.
    let out = f
        .session(
            format!("{HELLO}MAIL FROM:<a@b>\r\nRCPT TO:<joe@x>\r\nBDAT 3\r\nabcDATA\r\nBDAT 4 LAST\r\nRSETRSET\r\nBDAT 4\r\nRSETNOOP\r\n")
                .as_bytes(),
        )
        .await;
    assert_eq!(
        codes(&out[7..]),
        [
            "250 2.1.0",
            "250 2.1.5",
            "250 2.0.0",
            "503 5.5.1",
            "250 2.0.0",
            "250 2.0.0",
            "503 5.5.1",
            "250 2.0.0"
        ],
        "{out:?}"
    );
}

#[tokio::test]
async fn a_client_that_leaves_mid_data_delivers_nothing() {
    let f = fixture();
    for cut in [
        "DATA\r\nSubject: half\r\n\r\nbody",
        "DATA\r\nSubject: half\r\n\r\n.",
        "BDAT 100 LAST\r\nSubject: x\r\n",
    ] {
        let input =
            format!("{HELLO}MAIL FROM:<a@b>\r\nRCPT TO:<joe@x>\r\nRCPT TO:<ann@x>\r\n{cut}");
        let out = f.session(input.as_bytes()).await;
        assert!(!out.iter().any(|l| l.starts_with("250 2.0.0")), "{out:?}");
        let log = f.log.lock().unwrap();
        assert!(
            log.last().unwrap().contains("in the middle of a message"),
            "{log:?}"
        );
    }
    assert!(f.messages("joe").is_empty() && f.messages("ann").is_empty());
    // Nothing left behind on disk either (no file without a record).
    for m in ["joe", "ann"] {
        assert!(
            ops::OpenMailbox::open(&f.store, m)
                .unwrap()
                .uncommitted()
                .unwrap()
                .is_empty()
        );
    }
}

#[tokio::test]
async fn nul_bytes_unknown_users_and_the_wrong_greeting() {
    let f = fixture();
    let input = format!(
        "EHLO x\r\nHELO x\r\nMAIL FROM:<a@b>\r\n{HELLO}MAIL FROM:<a@b>\r\nRCPT TO:<joe@x>\r\nRCPT TO:<ann@x>\r\n\
         RCPT TO:<Nobody@x>\r\nDATA\r\nSubject: nul\r\n\r\na\0b\r\n.\r\nVRFY joe\r\nRCPT TO:<joe@x>\r\nEXPN all\r\nSTARTTLS\r\nFOO\r\nQUIT\r\n"
    );
    let out = f.session(input.as_bytes()).await;
    assert_eq!(
        codes(&out),
        [
            "220",
            "500 5.5.1",
            "500 5.5.1",
            "503 5.5.1",
            "250",
            "250 2.1.0",
            "250 2.1.5",
            "250 2.1.5",
            "550 5.1.1",
            "354",
            "554 5.6.0",
            "554 5.6.0",
            "252 2.5.2",
            "503 5.5.1",
            "502 5.5.1",
            "502 5.5.1",
            "500 5.5.1",
            "221 2.0.0"
        ],
        "{out:?}"
    );
    assert!(out[1].contains("LHLO"));
    assert!(f.messages("joe").is_empty());
}

#[tokio::test]
async fn size_limits_and_long_lines() {
    let f = fixture();
    let mut ctx = f.ctx();
    ctx.max_message_size = 100;
    let big = format!("Subject: big\r\n\r\n{}\r\n", "y".repeat(200));
    let long = format!("NOOP {}RSET\r\n", "a".repeat(5000));
    let input = format!(
        "{HELLO}MAIL FROM:<a@b> SIZE=101\r\nMAIL FROM:<a@b> SIZE=100\r\nRCPT TO:<joe@x>\r\nRCPT TO:<ann@x>\r\n\
         DATA\r\n{big}.\r\nMAIL FROM:<a@b>\r\nRCPT TO:<joe@x>\r\nBDAT 101 LAST\r\n{}BDAT 1 LAST\r\nx\
         {long}MAIL FROM:<a@b>\r\nRCPT TO:<joe@x>\r\nDATA\r\nSubject: fits\r\n\r\n.\r\nQUIT\r\n",
        "z".repeat(101)
    );
    let out = f.run(ctx, input.as_bytes()).await;
    assert_eq!(
        codes(&out[7..]),
        [
            "552 5.3.4",
            "250 2.1.0",
            "250 2.1.5",
            "250 2.1.5",
            "354",
            "552 5.3.4",
            "552 5.3.4",
            "250 2.1.0",
            "250 2.1.5",
            "552 5.3.4",
            // the transaction ended with the refused chunk
            "503 5.5.1",
            // the long line is refused once, its tail (RSET) never run
            "500 5.5.2",
            "250 2.1.0",
            "250 2.1.5",
            "354",
            "250 2.0.0",
            "221 2.0.0"
        ],
        "{out:?}"
    );
    assert_eq!(f.messages("joe").len(), 1);
    assert!(f.messages("ann").is_empty());
}

#[tokio::test]
async fn user_plus_folder_and_the_case_of_names() {
    let f = fixture();
    let mut input = String::from(HELLO);
    for rcpt in [
        "joe+Lists@x",
        "joe+Nowhere@x",
        "JOE@x",
        "joe+lists@x",
        "Joe+Lists@x",
    ] {
        input.push_str(&format!(
            "MAIL FROM:<a@b>\r\nRCPT TO:<{rcpt}>\r\nDATA\r\nSubject: {rcpt}\r\n\r\n.\r\n"
        ));
    }
    input.push_str("QUIT\r\n");
    let out = f.session(input.as_bytes()).await;
    assert_eq!(
        out.iter().filter(|l| l.starts_with("250 2.0.0")).count(),
        5,
        "{out:?}"
    );
    let subjects = |m: &str| -> Vec<String> {
        f.messages(m)
            .iter()
            .map(|b| {
                let t = String::from_utf8_lossy(b).into_owned();
                t.lines()
                    .find_map(|l| l.strip_prefix("Subject: "))
                    .unwrap()
                    .to_owned()
            })
            .collect()
    };
    assert_eq!(subjects("joe/Lists"), ["joe+Lists@x", "Joe+Lists@x"]);
    assert_eq!(
        subjects("joe"),
        ["joe+Nowhere@x", "JOE@x", "joe+lists@x"],
        "folders are exact"
    );
}

/// Reads until `want` has come; all that came.
async fn read_until(client: &mut DuplexStream, got: &mut Vec<u8>, want: &str) -> String {
    let mut buf = [0u8; 4096];
    while !String::from_utf8_lossy(got).contains(want) {
        let n = client.read(&mut buf).await.unwrap();
        assert!(n > 0, "closed early: {}", String::from_utf8_lossy(got));
        got.extend_from_slice(&buf[..n]);
    }
    String::from_utf8_lossy(got).into_owned()
}

#[tokio::test]
async fn shutdown_says_421_at_the_next_command_after_a_message_in_flight() {
    let f = fixture();
    let (mut client, server) = tokio::io::duplex(1 << 16);
    let (tx, rx) = watch::channel(false);
    let task = tokio::spawn(serve_connection(server, Arc::new(f.ctx()), "t".into(), rx));
    let mut got = Vec::new();
    client
        .write_all(
            format!("{HELLO}MAIL FROM:<a@b>\r\nRCPT TO:<joe@x>\r\nDATA\r\nSubject: s\r\n\r\n")
                .as_bytes(),
        )
        .await
        .unwrap();
    read_until(&mut client, &mut got, "354").await;
    tx.send(true).unwrap();
    tokio::task::yield_now().await;
    client.write_all(b"body\r\n.\r\n").await.unwrap();
    let text = read_until(&mut client, &mut got, "421").await;
    let out = lines(text.as_bytes());
    assert_eq!(
        codes(&out[7..]),
        ["250 2.1.0", "250 2.1.5", "354", "250 2.0.0", "421 4.3.2"],
        "{out:?}"
    );
    task.await.unwrap().unwrap();
    assert_eq!(f.messages("joe").len(), 1);

    // Idle: told at once.
    let (mut client, server) = tokio::io::duplex(1 << 16);
    let (tx, rx) = watch::channel(false);
    let task = tokio::spawn(serve_connection(server, Arc::new(f.ctx()), "t".into(), rx));
    client.write_all(HELLO.as_bytes()).await.unwrap();
    let mut got = Vec::new();
    read_until(&mut client, &mut got, "SIZE").await;
    tx.send(true).unwrap();
    client.read_to_end(&mut got).await.unwrap();
    assert!(
        String::from_utf8_lossy(&got)
            .ends_with("421 4.3.2 lmtp.test shutting down; try again later\r\n")
    );
    task.await.unwrap().unwrap();
}

#[tokio::test]
async fn an_idle_client_is_told_and_left() {
    let f = fixture();
    let mut ctx = f.ctx();
    ctx.idle_timeout = std::time::Duration::from_millis(50);
    let (mut client, server) = tokio::io::duplex(1 << 16);
    let (_tx, rx) = watch::channel(false);
    let task = tokio::spawn(serve_connection(server, Arc::new(ctx), "t".into(), rx));
    client.write_all(HELLO.as_bytes()).await.unwrap();
    let mut out = Vec::new();
    client.read_to_end(&mut out).await.unwrap();
    task.await.unwrap().unwrap();
    let out = lines(&out);
    assert_eq!(codes(&out[out.len() - 1..]), ["421 4.4.2"]);
}

#[tokio::test]
async fn replies_do_not_depend_on_how_the_input_is_split() {
    let f = fixture();
    let input = format!(
        "{HELLO}MAIL FROM:<a@b>\r\nRCPT TO:<joe@x>\r\nRCPT TO:<nobody@x>\r\nDATA\r\n.x\r\n..y\r\n.\r\n\
         MAIL FROM:<a@b>\r\nRCPT TO:<ann@x>\r\nBDAT 5\r\nS: a\rBDAT 4 LAST\r\n\n\r\nzNOOP {}\r\nQUIT\r\n",
        "n".repeat(4200)
    );
    let whole = f.session(input.as_bytes()).await;
    // Byte by byte, each one a write of its own.
    let (mut client, server) = tokio::io::duplex(1 << 20);
    let (_tx, rx) = watch::channel(false);
    let task = tokio::spawn(serve_connection(server, Arc::new(f.ctx()), "t".into(), rx));
    let writer = tokio::spawn(async move {
        for b in input.as_bytes() {
            client.write_all(std::slice::from_ref(b)).await.unwrap();
            tokio::task::yield_now().await;
        }
        let mut out = Vec::new();
        client.read_to_end(&mut out).await.unwrap();
        out
    });
    let out = writer.await.unwrap();
    task.await.unwrap().unwrap();
    assert_eq!(codes(&lines(&out)), codes(&whole));
    assert_eq!(f.messages("joe").len(), 2);
    assert_eq!(f.messages("ann").len(), 2);
}

/// Recipients that spell another user's mailbox or a way out of the store
/// (issue 15): each is refused as an unknown user, or lands in joe's own INBOX
/// or folder; ann and the store's other files never get anything.
#[tokio::test]
async fn hostile_recipients_reach_no_other_users_mailbox() {
    let f = fixture();
    let hostile = [
        "../ann@x",
        "joe/../ann@x",
        "\"Other Users/ann\"@x",
        "\"other users/ann\"@x",
        "joe+../../ann@x",
        "joe+../ann@x",
        "joe+INBOX/../../ann@x",
        "joe+Other Users/ann@x",
        "joe+%2e%2e%2fann@x",
        "joe+/ann@x",
        "joe+Lists/../../ann@x",
        "ann/../joe@x",
        "%61nn@x",
        "\"ann\\\"\"@x",
        "joe+*@x",
        "joe+%@x",
        "joe+\u{7f}@x",
        "joe+&AGEAbgBu-@x",
        "\"joe\\\\ann\"@x",
        "joe@x@ann",
        "users/ann@x",
        "public/ann@x",
    ];
    let mut accepted = 0;
    for r in hostile {
        let input = format!(
            "LHLO x\r\nMAIL FROM:<a@b>\r\nRCPT TO:<{r}>\r\nDATA\r\nSubject: to {r}\r\n\r\nhi\r\n.\r\nQUIT\r\n"
        );
        let out = f.session(input.as_bytes()).await;
        let c = codes(&out);
        if c.iter().any(|l| l == "250 2.1.5") {
            accepted += 1;
        }
        assert!(
            !c.iter().any(|l| l.starts_with('4')),
            "{r}: a temporary failure instead of an answer: {out:?}"
        );
    }
    assert!(f.messages("ann").is_empty(), "ann got mail");
    let joe = f.messages("joe").len() + f.messages("joe/Lists").len();
    assert_eq!(joe, accepted, "accepted mail went somewhere else");
    // Nothing new anywhere in the store but joe's two mailboxes.
    let mut boxes = Vec::new();
    for e in walk(&f.store.root_dir(crate::store::names::Root::Users)) {
        if e.file_name().is_some_and(|n| n == "msgstore.index") {
            boxes.push(e);
        }
    }
    assert_eq!(boxes.len(), 5, "{boxes:?}");
}

fn walk(dir: &std::path::Path) -> Vec<std::path::PathBuf> {
    let mut out = Vec::new();
    for e in std::fs::read_dir(dir).into_iter().flatten().flatten() {
        let p = e.path();
        if e.file_type().is_ok_and(|t| t.is_dir()) {
            out.extend(walk(&p));
        } else {
            out.push(p);
        }
    }
    out
}
