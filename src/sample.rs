//! Deterministic sample mail, for the demo, tests and benchmarks: message `i`
//! depends only on (`seed`, `i`). A realistic mix: plain text, HTML alternatives,
//! base64 attachments, forwarded messages, the odd encoded subject, replies with
//! `In-Reply-To`/`References`, relay `Received:` lines, and about one message in a
//! hundred ten times the mean size (a large attachment).

/// splitmix64: tiny, fast, and good enough to vary test mail.
struct Rng(u64);

impl Rng {
    fn next(&mut self) -> u64 {
        self.0 = self.0.wrapping_add(0x9E37_79B9_7F4A_7C15);
        let mut z = self.0;
        z = (z ^ (z >> 30)).wrapping_mul(0xBF58_476D_1CE4_E5B9);
        z = (z ^ (z >> 27)).wrapping_mul(0x94D0_49BB_1331_11EB);
        z ^ (z >> 31)
    }

    fn below(&mut self, n: u64) -> u64 {
        self.next() % n.max(1)
    }

    fn pick<'a>(&mut self, xs: &[&'a str]) -> &'a str {
        xs[self.below(xs.len() as u64) as usize]
    }
}

const NAMES: &[&str] = &[
    "Joe Bloggs",
    "Ann Smith",
    "María José",
    "Li Wei",
    "O'Brien, Pat",
    "Zoë Müller",
];
const USERS: &[&str] = &["joe", "ann", "maria", "li.wei", "pat", "zoe"];
const WORDS: &[&str] = &[
    "quarterly",
    "report",
    "meeting",
    "invoice",
    "lunch",
    "schedule",
    "backup",
    "server",
    "restore",
    "mailbox",
    "project",
    "deadline",
    "review",
    "draft",
    "budget",
    "travel",
    "notes",
    "agenda",
    "release",
    "holiday",
];

fn words(r: &mut Rng, n: usize) -> String {
    let mut s = String::new();
    for i in 0..n {
        if i > 0 {
            s.push(' ');
        }
        s.push_str(r.pick(WORDS));
    }
    s
}

fn address(r: &mut Rng) -> String {
    let i = r.below(NAMES.len() as u64) as usize;
    let name = NAMES[i];
    let name = if name.contains(',') || name.contains('\'') {
        format!("\"{name}\"")
    } else {
        name.to_owned()
    };
    let name = if name.is_ascii() {
        name
    } else {
        format!("=?utf-8?q?{}?=", q_encode(&name))
    };
    format!("{name} <{}@example.org>", USERS[i])
}

fn q_encode(s: &str) -> String {
    s.bytes()
        .map(|b| {
            if b.is_ascii_alphanumeric() {
                (b as char).to_string()
            } else if b == b' ' {
                "_".into()
            } else {
                format!("={b:02X}")
            }
        })
        .collect()
}

fn base64_lines(r: &mut Rng, bytes: usize) -> String {
    use base64::Engine;
    let data: Vec<u8> = (0..bytes).map(|_| r.next() as u8).collect();
    let b64 = base64::engine::general_purpose::STANDARD.encode(data);
    b64.as_bytes()
        .chunks(76)
        .map(|c| String::from_utf8_lossy(c).into_owned() + "\r\n")
        .collect()
}

/// Message `i` of the sample set, with CRLF line ends, about `mean_kb` KB on average.
pub fn message(seed: u64, i: u64, mean_kb: usize) -> Vec<u8> {
    let mut r = Rng(seed.wrapping_mul(0x1000_0000_01B3) ^ i.wrapping_mul(0x9E37_79B9));
    let _ = r.next();
    let from = address(&mut r);
    let to = address(&mut r);
    let subject = if r.below(8) == 0 {
        format!(
            "=?utf-8?q?{}?=",
            q_encode(&format!("Ré: {}", words(&mut r, 3)))
        )
    } else {
        words(&mut r, 4)
    };
    let day = 1 + r.below(28);
    let hour = r.below(24);
    let mut kind = r.below(10);
    let body_len = (mean_kb * 1024).max(200) as u64;
    let mut body_len = body_len / 2 + r.below(body_len);
    // The extras (large size, relay lines, Cc, threading) come from their own stream.
    let mut x = Rng(r.next() ^ 0xD6E8_FEB8_6659_FD93);
    if x.below(100) == 0 {
        kind = 7;
        body_len *= 10;
    }
    let mut m = format!(
        "Return-Path: <{u}@example.org>\r\nFrom: {from}\r\nTo: {to}\r\nSubject: {subject}\r\nDate: Mon, {day} Nov 2026 {hour:02}:15:00 +0100\r\nMessage-ID: <{i}.{seed}@sample.example.org>\r\nMIME-Version: 1.0\r\n",
        u = r.pick(USERS)
    );
    let mut extra = String::new();
    for hop in 0..2 + x.below(3) {
        extra.push_str(&format!(
            "Received: from mx{hop}.example.net (mx{hop}.example.net [192.0.2.{}])\r\n\tby mail.example.org with ESMTPS id {:016x}\r\n\tfor <{}@example.org>; Mon, {day} Nov 2026 {hour:02}:14:{:02} +0100\r\n",
            x.below(250),
            x.next(),
            x.pick(USERS),
            x.below(60)
        ));
    }
    if x.below(3) == 0 {
        extra.push_str(&format!("Cc: {}, {}\r\n", address(&mut x), address(&mut x)));
    }
    if x.below(4) == 0 {
        let parent = x.below(i.max(1));
        extra.push_str(&format!(
            "In-Reply-To: <{parent}.{seed}@sample.example.org>\r\nReferences: <{}.{seed}@sample.example.org>\r\n <{parent}.{seed}@sample.example.org>\r\n",
            x.below(parent.max(1))
        ));
    }
    let after_return_path = m.find("\r\n").map_or(0, |p| p + 2);
    m.insert_str(after_return_path, &extra);
    let text = |r: &mut Rng, len: u64| {
        let mut t = String::new();
        while (t.len() as u64) < len {
            t.push_str(&words(r, 12));
            t.push_str(".\r\n");
        }
        t
    };
    match kind {
        0..=4 => {
            m.push_str("Content-Type: text/plain; charset=us-ascii\r\n\r\n");
            m.push_str(&text(&mut r, body_len));
        }
        5..=6 => {
            let t = text(&mut r, body_len / 2);
            m.push_str("Content-Type: multipart/alternative; boundary=\"alt-b\"\r\n\r\n--alt-b\r\nContent-Type: text/plain; charset=utf-8\r\nContent-Transfer-Encoding: quoted-printable\r\n\r\n");
            m.push_str(&t);
            m.push_str(
                "--alt-b\r\nContent-Type: text/html; charset=utf-8\r\n\r\n<html><body><p>\r\n",
            );
            m.push_str(&t);
            m.push_str("</p></body></html>\r\n--alt-b--\r\n");
        }
        7..=8 => {
            m.push_str("Content-Type: multipart/mixed; boundary=\"mix-b\"\r\n\r\n--mix-b\r\nContent-Type: text/plain; charset=us-ascii\r\n\r\n");
            m.push_str(&text(&mut r, 300));
            m.push_str("--mix-b\r\nContent-Type: application/pdf; name=\"report.pdf\"\r\nContent-Disposition: attachment; filename=\"report.pdf\"\r\nContent-Transfer-Encoding: base64\r\n\r\n");
            m.push_str(&base64_lines(&mut r, (body_len * 3 / 4) as usize));
            m.push_str("--mix-b--\r\n");
        }
        _ => {
            m.push_str("Content-Type: multipart/mixed; boundary=\"fwd-b\"\r\n\r\n--fwd-b\r\nContent-Type: text/plain\r\n\r\nForwarded message below.\r\n--fwd-b\r\nContent-Type: message/rfc822\r\n\r\n");
            m.push_str(&format!(
                "From: {}\r\nSubject: {}\r\nDate: Sun, 1 Nov 2026 08:00:00 +0000\r\n\r\n",
                address(&mut r),
                words(&mut r, 3)
            ));
            m.push_str(&text(&mut r, body_len));
            m.push_str("--fwd-b--\r\n");
        }
    }
    m.into_bytes()
}

#[cfg(test)]
mod tests {
    #[test]
    fn deterministic_and_crlf() {
        for i in 0..50 {
            let a = super::message(1, i, 4);
            assert_eq!(a, super::message(1, i, 4));
            assert!(!a.is_empty());
            for (j, &b) in a.iter().enumerate() {
                if b == b'\n' {
                    assert_eq!(a[j - 1], b'\r', "message {i} has a bare LF");
                }
            }
        }
        assert_ne!(super::message(1, 0, 4), super::message(2, 0, 4));
    }
}
