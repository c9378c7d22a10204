use super::*;

fn small() -> Limits {
    Limits {
        max_line: 64,
        max_literal: 32,
        max_command: 128,
    }
}

/// Every event until NeedMore, accepting synchronising literals as a session that
/// always says `+ Ready` would.
fn drain(f: &mut Framer, out: &mut Vec<Event>) {
    loop {
        let e = f.next();
        match e {
            Event::NeedMore => return,
            Event::Literal { nonsync: false, .. } => f.accept_literal(),
            _ => {}
        }
        out.push(e);
    }
}

/// Feeds `input` in pieces of `chunk` bytes.
fn run(limits: Limits, input: &[u8], chunk: usize) -> Vec<Event> {
    let mut f = Framer::new(limits);
    let mut out = Vec::new();
    for piece in input.chunks(chunk.max(1)) {
        f.feed(piece);
        drain(&mut f, &mut out);
        assert!(f.cmd.len() as u64 <= limits.max_command);
        if matches!(f.state, State::Line) {
            assert!(f.cmd.len() - f.line_start <= limits.max_line);
        }
    }
    out
}

/// The events for `input`, checked to be the same fed whole and a byte at a time.
fn events(limits: Limits, input: &[u8]) -> Vec<Event> {
    let whole = run(limits, input, input.len());
    assert_eq!(run(limits, input, 1), whole, "byte at a time differs");
    assert_eq!(run(limits, input, 7), whole, "7 bytes at a time differ");
    whole
}

fn cmd(s: &[u8]) -> Event {
    Event::Command(s.to_vec())
}

fn tag(t: &str) -> Option<String> {
    Some(t.to_string())
}

#[test]
fn pipelined_commands_come_out_one_by_one() {
    assert_eq!(
        events(small(), b"a NOOP\r\nb CAPABILITY\r\n\r\nc LOGOUT\r\n"),
        [
            cmd(b"a NOOP\r\n"),
            cmd(b"b CAPABILITY\r\n"),
            cmd(b"\r\n"),
            cmd(b"c LOGOUT\r\n")
        ]
    );
}

#[test]
fn synchronising_literals_wait_for_the_session() {
    let mut f = Framer::new(small());
    f.feed(b"a LOGIN {3}\r\n");
    let lit = Event::Literal {
        tag: tag("a"),
        size: 3,
        nonsync: false,
    };
    assert_eq!(f.next(), lit);
    // Undecided: the same event again, never a hang on NeedMore.
    assert_eq!(f.next(), lit);
    f.accept_literal();
    assert_eq!(f.next(), Event::NeedMore);
    f.feed(b"joe {6}\r\n");
    assert!(matches!(f.next(), Event::Literal { size: 6, .. }));
    f.accept_literal();
    f.feed(b"secret\r\nb NOOP\r\n");
    assert_eq!(f.next(), cmd(b"a LOGIN {3}\r\njoe {6}\r\nsecret\r\n"));
    assert_eq!(f.next(), cmd(b"b NOOP\r\n"));
    assert_eq!(f.next(), Event::NeedMore);
    assert_eq!(f.buffered(), 0);
}

#[test]
fn literal_plus_needs_no_decision() {
    assert_eq!(
        events(small(), b"a LOGIN {3+}\r\njoe {6+}\r\nsecret\r\n"),
        [
            Event::Literal {
                tag: tag("a"),
                size: 3,
                nonsync: true
            },
            Event::Literal {
                tag: tag("a"),
                size: 6,
                nonsync: true
            },
            cmd(b"a LOGIN {3+}\r\njoe {6+}\r\nsecret\r\n"),
        ]
    );
    // Empty literals, and literal data holding what looks like a command.
    assert_eq!(
        events(small(), b"a X {0+}\r\n {8+}\r\nb NOOP\r\n\r\n").last(),
        Some(&cmd(b"a X {0+}\r\n {8+}\r\nb NOOP\r\n\r\n"))
    );
}

#[test]
fn a_refused_literal_ends_its_command() {
    let mut f = Framer::new(small());
    f.feed(b"a APPEND INBOX {20}\r\n");
    assert!(matches!(f.next(), Event::Literal { size: 20, .. }));
    f.refuse_literal();
    f.feed(b"b NOOP\r\n");
    assert_eq!(f.next(), cmd(b"b NOOP\r\n"));

    // A non-synchronising one is already coming: its data and the rest of the
    // command are discarded.
    let mut f = Framer::new(small());
    f.feed(b"a APPEND INBOX {10+}\r\n01234");
    assert!(matches!(f.next(), Event::Literal { nonsync: true, .. }));
    f.refuse_literal();
    assert_eq!(f.next(), Event::NeedMore);
    f.feed(b"56789 {3+}\r\nx\r\n\r\nb NOOP\r\n");
    assert_eq!(f.next(), cmd(b"b NOOP\r\n"));
}

#[test]
fn too_big_literals() {
    // Synchronising: refused at once; the client never sends the data.
    assert_eq!(
        events(small(), b"a APPEND INBOX {33}\r\nb NOOP\r\n"),
        [
            Event::TooBig {
                tag: tag("a"),
                size: 33
            },
            cmd(b"b NOOP\r\n")
        ]
    );
    // Non-synchronising: the data (which here looks like commands) and the rest
    // of the command, another literal included, are discarded before the report.
    let mut input = b"a APPEND INBOX {40+}\r\n".to_vec();
    input.extend_from_slice(b"x NOOP\r\nx NOOP\r\nx NOOP\r\nx NOOP\r\nx NOOP\r\n");
    input.extend_from_slice(b" {8+}\r\ny NOOP\r\n\r\nb NOOP\r\n");
    assert_eq!(
        events(small(), &input),
        [
            Event::TooBig {
                tag: tag("a"),
                size: 40
            },
            cmd(b"b NOOP\r\n")
        ]
    );
    // An absurd size saturates: too big, never an overflow.
    assert_eq!(
        events(small(), b"a X {999999999999999999999999}\r\n"),
        [Event::TooBig {
            tag: tag("a"),
            size: u64::MAX
        }]
    );
    // The command's total counts: the fourth 30-byte literal would pass 128.
    let mut input = b"a X {30}\r\n".to_vec();
    for _ in 0..3 {
        input.extend_from_slice(&[b'd'; 30]);
        input.extend_from_slice(b" {30}\r\n");
    }
    let events = events(small(), &input);
    assert_eq!(events.len(), 4);
    assert_eq!(
        events.last(),
        Some(&Event::TooBig {
            tag: tag("a"),
            size: 30
        })
    );
}

#[test]
fn long_lines_are_discarded_unbuffered() {
    let mut input = b"a1 SEARCH ".to_vec();
    input.extend(std::iter::repeat_n(b'x', 1000));
    input.extend_from_slice(b"\r\nb NOOP\r\n");
    assert_eq!(
        events(small(), &input),
        [Event::LineTooLong { tag: tag("a1") }, cmd(b"b NOOP\r\n")]
    );
    // A discarded line that announced LITERAL+ data: the data is discarded too.
    let mut input = b"a1 LOGIN ".to_vec();
    input.extend(std::iter::repeat_n(b'x', 100));
    input.extend_from_slice(b" {8+}\r\nc NOOP\r\n\r\nb NOOP\r\n");
    assert_eq!(
        events(small(), &input),
        [Event::LineTooLong { tag: tag("a1") }, cmd(b"b NOOP\r\n")]
    );
    // A line exactly at the limit (CRLF included) passes.
    let mut exact = b"a ".to_vec();
    exact.extend(std::iter::repeat_n(b'y', 60));
    exact.extend_from_slice(b"\r\n");
    assert_eq!(exact.len(), 64);
    assert_eq!(events(small(), &exact), [cmd(&exact)]);
    exact.insert(2, b'y');
    assert_eq!(
        events(small(), &exact),
        [Event::LineTooLong { tag: tag("a") }]
    );
    // No tag to be found: `* BAD`.
    let long = [b'z'; 100];
    assert_eq!(events(small(), &long), [Event::LineTooLong { tag: None }]);
}

#[test]
fn garbage_is_bad() {
    assert_eq!(
        events(small(), b"a NO\0OP\r\nb NOOP\r\n"),
        [
            Event::Bad {
                tag: tag("a"),
                reason: "NUL byte in a command line"
            },
            cmd(b"b NOOP\r\n")
        ]
    );
    assert_eq!(
        events(small(), b"\0\r\nb NOOP\r\n")[0],
        Event::Bad {
            tag: None,
            reason: "NUL byte in a command line"
        }
    );
    assert_eq!(
        events(small(), b"a NOOP\nb NOOP\r\n"),
        [
            Event::Bad {
                tag: tag("a"),
                reason: "line ends in LF without CR"
            },
            cmd(b"b NOOP\r\n")
        ]
    );
    // A bare-LF line announcing LITERAL+ data: the data does not run.
    assert_eq!(
        events(small(), b"a LOGIN {8+}\nc NOOP\r\n\r\nb NOOP\r\n").last(),
        Some(&cmd(b"b NOOP\r\n"))
    );
    // NUL inside literal data is the parser's business, not the framer's.
    assert_eq!(
        events(small(), b"a X {1}\r\n\0\r\n"),
        [
            Event::Literal {
                tag: tag("a"),
                size: 1,
                nonsync: false
            },
            cmd(b"a X {1}\r\n\0\r\n")
        ]
    );
}

#[test]
fn line_mode_for_authenticate_and_idle() {
    let mut f = Framer::new(small());
    f.feed(b"a AUTHENTICATE PLAIN\r\nAGpvZQBzZWNyZXQ=\r\nb IDLE\r\nabc {5+}\r\n");
    assert_eq!(f.next(), cmd(b"a AUTHENTICATE PLAIN\r\n"));
    assert_eq!(f.next_line(), LineEvent::Line(b"AGpvZQBzZWNyZXQ=".to_vec()));
    assert_eq!(f.next(), cmd(b"b IDLE\r\n"));
    // In line mode a literal announcement is just text.
    assert_eq!(f.next_line(), LineEvent::Line(b"abc {5+}".to_vec()));
    assert_eq!(f.next_line(), LineEvent::NeedMore);
    f.feed(b"DO");
    assert_eq!(f.next_line(), LineEvent::NeedMore);
    f.feed(b"NE\r\n");
    assert_eq!(f.next_line(), LineEvent::Line(b"DONE".to_vec()));
    f.feed(&[b'q'; 100]);
    assert_eq!(f.next_line(), LineEvent::TooLong);
    f.feed(b"qqq\r\n\r\nx\0\r\nDONE\n");
    assert_eq!(f.next_line(), LineEvent::Line(Vec::new()));
    assert_eq!(f.next_line(), LineEvent::Bad("NUL byte in a line"));
    assert_eq!(f.next_line(), LineEvent::Bad("line ends in LF without CR"));
    assert_eq!(f.next_line(), LineEvent::NeedMore);
}

#[test]
fn starttls_drops_pipelined_plaintext() {
    let mut f = Framer::default();
    f.feed(b"a STARTTLS\r\nb LOGIN joe secret\r\n");
    assert_eq!(f.next(), cmd(b"a STARTTLS\r\n"));
    assert_eq!(f.clear_input(), 20);
    assert_eq!(f.next(), Event::NeedMore);
}

#[test]
fn limits_can_change_between_commands() {
    let mut f = Framer::new(small());
    f.feed(b"a APPEND INBOX {100}\r\n");
    assert!(matches!(f.next(), Event::TooBig { .. }));
    f.set_limits(Limits::default());
    assert_eq!(f.limits(), Limits::default());
    f.feed(b"a APPEND INBOX {100}\r\n");
    assert!(matches!(f.next(), Event::Literal { size: 100, .. }));
}

/// Random bytes in random pieces, with random session decisions: the framer never
/// panics, never holds more than its limits, and consumes everything fed.
#[test]
fn random_input_keeps_memory_bounded() {
    let mut seed = 0x9e37_79b9_7f4a_7c15_u64;
    let mut rnd = move |n: u64| {
        seed ^= seed << 13;
        seed ^= seed >> 7;
        seed ^= seed << 17;
        seed % n.max(1)
    };
    const PIECES: &[&[u8]] = &[
        b"a ", b"{", b"}", b"+", b"5", b"40", b"\r", b"\n", b"\r\n", b"\0", b"x", b" ",
    ];
    for _ in 0..3000 {
        let mut input = Vec::new();
        for _ in 0..rnd(60) {
            input.extend_from_slice(PIECES[rnd(PIECES.len() as u64) as usize]);
        }
        let limits = small();
        let mut f = Framer::new(limits);
        let mut i = 0;
        while i < input.len() {
            let n = 1 + rnd(16) as usize;
            f.feed(input.get(i..(i + n).min(input.len())).unwrap_or_default());
            i += n;
            for _ in 0..100 {
                let e = if rnd(4) == 0 {
                    f.next_line() == LineEvent::NeedMore
                } else {
                    match f.next() {
                        Event::NeedMore => true,
                        Event::Literal { .. } if rnd(2) == 0 => {
                            f.refuse_literal();
                            false
                        }
                        Event::Literal { .. } => {
                            f.accept_literal();
                            false
                        }
                        _ => false,
                    }
                };
                assert!(f.cmd.len() as u64 <= limits.max_command);
                if e {
                    break;
                }
            }
        }
        assert!(f.input.len() <= input.len());
    }
}
