//! Whole-message corner cases for `build`.

use super::build;

fn bs(msg: &[u8]) -> String {
    String::from_utf8_lossy(&build(msg).bodystructure).into_owned()
}

fn crlf(msg: &[u8]) -> Vec<u8> {
    let mut out = Vec::new();
    let mut prev = 0;
    for &b in msg {
        if b == b'\n' && prev != b'\r' {
            out.push(b'\r');
        }
        out.push(b);
        prev = b;
    }
    out
}

#[test]
fn default_content_type_is_text_plain_us_ascii() {
    assert_eq!(
        bs(b"Subject: x\n\nhello\n"),
        r#"("text" "plain" ("charset" "us-ascii") NIL NIL "7bit" 7 1 NIL NIL NIL NIL)"#
    );
}

#[test]
fn text_without_charset_gets_default_appended() {
    assert_eq!(
        bs(b"Content-Type: text/html; format=x\n\n<p>\n"),
        r#"("text" "html" ("format" "x" "charset" "us-ascii") NIL NIL "7bit" 5 1 NIL NIL NIL NIL)"#
    );
}

#[test]
fn non_text_has_no_line_count_and_nil_params() {
    assert_eq!(
        bs(b"Content-Type: application/pdf\nContent-Transfer-Encoding: base64\n\nAAAA\n"),
        r#"("application" "pdf" NIL NIL NIL "base64" 6 NIL NIL NIL NIL)"#
    );
}

#[test]
fn message_rfc822_inside_multipart() {
    let msg = b"Content-Type: multipart/mixed; boundary=o\n\n--o\nContent-Type: message/rfc822\n\nSubject: inner\n\nhi\n--o--\n";
    assert_eq!(
        bs(msg),
        r#"(("message" "rfc822" NIL NIL NIL "7bit" 20 (NIL "inner" NIL NIL NIL NIL NIL NIL NIL NIL) ("text" "plain" ("charset" "us-ascii") NIL NIL "7bit" 2 0 NIL NIL NIL NIL) 2 NIL NIL NIL NIL) "mixed" ("boundary" "o") NIL NIL NIL)"#
    );
}

#[test]
fn digest_children_default_to_message_rfc822() {
    let msg = b"Content-Type: multipart/digest; boundary=d\n\n--d\n\nSubject: s\n\nx\n--d--\n";
    let got = bs(msg);
    assert!(
        got.starts_with(r#"(("message" "rfc822" NIL NIL NIL "7bit" "#),
        "{got}"
    );
    assert!(
        got.ends_with(r#" "digest" ("boundary" "d") NIL NIL NIL)"#),
        "{got}"
    );
}

#[test]
fn body_is_bodystructure_without_extensions() {
    let msg = b"Content-Type: multipart/alternative; boundary=a\n\n--a\nContent-Type: text/plain; charset=utf-8\nContent-Disposition: inline\n\nx\n--a--\n";
    let c = build(msg);
    assert_eq!(
        String::from_utf8_lossy(&c.body),
        r#"(("text" "plain" ("charset" "utf-8") NIL NIL "7bit" 1 0) "alternative")"#
    );
}

#[test]
fn line_ends_do_not_change_the_result() {
    let msgs: [&[u8]; 4] = [
        b"Subject: a\n b\nTo: x@y\n\nline\n\nlast",
        b"Content-Type: multipart/mixed; boundary=q\n\npre\n--q\nX: y\n\nbody\r\n\n--q--\nepi\n",
        b"Subject: mixed\r\nFrom: a@b\n\r\none\r\ntwo\n",
        b"Content-Type: message/rfc822\n\nFrom: c@d\nSubject:\n folded\n\nbody\n",
    ];
    for m in msgs {
        let (a, b) = (build(m), build(&crlf(m)));
        assert_eq!(
            (
                a.envelope,
                a.bodystructure,
                a.body,
                a.size,
                a.header_size,
                a.body_size
            ),
            (
                b.envelope,
                b.bodystructure,
                b.body,
                b.size,
                b.header_size,
                b.body_size
            ),
            "{:?}",
            String::from_utf8_lossy(m)
        );
    }
}

#[test]
fn sizes_add_up_and_offsets_point_at_the_body() {
    let msg = b"Subject: s\r\nTo: t@u\n\nbody\n";
    let c = build(msg);
    assert_eq!(c.header_size_physical, 21);
    assert_eq!(c.header_size, 23);
    assert_eq!(c.body_size, 6);
    assert_eq!(c.size, 29);
}

/// Hostile input must never panic: mutate a few seeds with a fixed PRNG.
#[test]
fn arbitrary_bytes_never_panic() {
    let seeds: [&[u8]; 3] = [
        b"From: \"a\\\" (b) <c@[d]>, g: h@i;\nContent-Type: multipart/mixed; boundary=\"z\"; x*0*=a; x*1=b\n\n--z\nContent-Type: message/rfc822\n\nTo: (\n\n--z--\n",
        b"Content-Type: multipart/digest; boundary=d\n\n--d\n\n--d\nContent-Type: text/plain; a=\"\n\n--d--",
        b"Subject: =?x?q?y?=\r\nReply-To: <@a,@b:c@d>\r\n\r\n\r\n",
    ];
    let mut state: u64 = 0x9E37_79B9_7F4A_7C15;
    let mut next = move || {
        state ^= state << 13;
        state ^= state >> 7;
        state ^= state << 17;
        state
    };
    let alphabet = b"\r\n \t:;<>@,\"\\()[]=*-%/0aZ\x80\xff";
    for seed in seeds {
        for _ in 0..400 {
            let mut m = seed.to_vec();
            for _ in 0..(next() % 8 + 1) {
                let pos = (next() as usize) % (m.len() + 1);
                let b = alphabet[(next() as usize) % alphabet.len()];
                match next() % 3 {
                    0 => m.insert(pos, b),
                    1 if pos < m.len() => {
                        m.remove(pos);
                    }
                    _ if pos < m.len() => m[pos] = b,
                    _ => m.push(b),
                }
            }
            let c = build(&m);
            assert_eq!(c.size, c.header_size + c.body_size);
            assert!(c.header_size_physical <= m.len() as u64);
        }
    }
}

#[test]
fn lone_types_and_broken_content_types() {
    assert_eq!(
        bs(b"Content-Type: text\n\nx\n"),
        r#"("text" "" ("charset" "us-ascii") NIL NIL "7bit" 3 1 NIL NIL NIL NIL)"#
    );
    assert_eq!(
        bs(b"Content-Type: multipart\n\n--b\n"),
        r#"("application" "octet-stream" NIL NIL NIL "7bit" 5 NIL NIL NIL NIL)"#
    );
    assert_eq!(
        bs(b"Content-Type: text/plain>\n\nx\n"),
        r#"("" "" NIL NIL NIL "7bit" 3 NIL NIL NIL NIL)"#
    );
}
