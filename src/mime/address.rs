//! RFC 5322 address lists (section 3.4) into IMAP envelope address structures.
//!
//! Real headers are often broken, and an ENVELOPE must still be produced. The rules:
//! an address that cannot be fully parsed keeps what was read and fills the gaps with
//! the placeholders `MISSING_MAILBOX` / `MISSING_DOMAIN` / `INVALID_ROUTE` /
//! `SYNTAX_ERROR` (as Dovecot does, so clients comparing caches see no change) rather
//! than NIL, because NIL host with non-NIL mailbox means "group start" in IMAP
//! (RFC 3501 section 7.4.2) and would be misread.

use super::rfc822::{Parser, Step};

#[derive(Debug, Default, Clone, PartialEq, Eq)]
pub(crate) struct Address {
    pub name: Option<Vec<u8>>,
    pub route: Option<Vec<u8>>,
    pub mailbox: Option<Vec<u8>>,
    pub domain: Option<Vec<u8>>,
}

struct Ctx<'a> {
    p: Parser<'a>,
    addr: Address,
    out: &'a mut Vec<Address>,
}

/// Appends the addresses of one header value to `out` (repeated headers merge).
pub(crate) fn parse_list(value: &[u8], out: &mut Vec<Address>) {
    let mut ctx = Ctx {
        p: Parser::with_comments(value),
        addr: Address::default(),
        out,
    };
    if ctx.p.skip_lwsp() != Step::More {
        return;
    }
    ctx.address_list();
}

impl Ctx<'_> {
    fn push(&mut self) {
        self.out.push(std::mem::take(&mut self.addr));
    }

    fn push_fixed(&mut self) {
        if self.addr.mailbox.is_none() {
            self.addr.mailbox = Some(b"MISSING_MAILBOX".to_vec());
        }
        if self.addr.domain.as_deref().is_none_or(<[u8]>::is_empty) {
            self.addr.domain = Some(b"MISSING_DOMAIN".to_vec());
        }
        self.push();
    }

    fn clear_comment(&mut self) {
        if let Some(c) = self.p.last_comment.as_mut() {
            c.clear();
        }
    }

    fn address_list(&mut self) {
        loop {
            if self.address() == Step::End {
                break;
            }
            if self.p.cur() != b',' || self.p.at_end() {
                break;
            }
            self.p.pos += 1;
            match self.p.skip_lwsp() {
                Step::More => {}
                Step::End => break,
                Step::Fail => {
                    self.push_fixed();
                    break;
                }
            }
        }
    }

    fn address(&mut self) -> Step {
        let start = self.p.pos;
        let r = self.group();
        if r != Step::Fail {
            return r;
        }
        self.p.pos = start;
        self.mailbox()
    }

    /// group = display-name ":" [mailbox-list / CFWS] ";" [CFWS]
    /// IMAP marks it with a start address (mailbox = group name, host NIL) and an end
    /// address of all NILs.
    fn group(&mut self) -> Step {
        let mut name = Vec::new();
        if self.p.parse_phrase(&mut name) != Step::More || self.p.cur() != b':' {
            return Step::Fail;
        }
        // From here on this is a group even if its contents are broken.
        self.p.pos += 1;
        let mut r = self.p.skip_lwsp();
        self.addr = Address {
            mailbox: Some(name),
            ..Address::default()
        };
        self.push();
        if r == Step::More && self.p.cur() != b';' {
            loop {
                if self.mailbox() != Step::More {
                    r = Step::Fail;
                    break;
                }
                if self.p.cur() != b',' {
                    break;
                }
                self.p.pos += 1;
                if self.p.skip_lwsp() != Step::More {
                    r = Step::Fail;
                    break;
                }
            }
        }
        if r != Step::Fail {
            if self.p.at_end() || self.p.cur() != b';' {
                r = Step::Fail;
            } else {
                self.p.pos += 1;
                r = self.p.skip_lwsp();
            }
        }
        self.addr = Address::default();
        self.push();
        if r == Step::End {
            Step::End
        } else {
            Step::More
        }
    }

    /// mailbox = name-addr / addr-spec
    fn mailbox(&mut self) -> Step {
        let start = self.p.pos;
        let mut r = self.name_addr();
        if r == Step::Fail {
            self.p.pos = start;
            self.addr = Address::default();
            r = self.addr_spec();
        }
        self.push_fixed();
        r
    }

    fn name_addr(&mut self) -> Step {
        let mut name = Vec::new();
        if self.p.parse_phrase(&mut name) != Step::More || self.p.cur() != b'<' {
            return Step::Fail;
        }
        self.addr.name = (!name.is_empty()).then_some(name);
        if self.angle_addr() == Step::Fail {
            self.addr.domain = Some(b"SYNTAX_ERROR".to_vec());
        }
        if self.p.at_end() {
            Step::End
        } else {
            Step::More
        }
    }

    /// angle-addr = "<" [obs-route] addr-spec ">"
    fn angle_addr(&mut self) -> Step {
        self.p.pos += 1;
        if self.p.skip_lwsp() != Step::More {
            return Step::Fail;
        }
        if self.p.cur() == b'@' {
            if self.domain_list() == Step::More && self.p.cur() == b':' {
                self.p.pos += 1;
            } else {
                self.addr.route = Some(b"INVALID_ROUTE".to_vec());
                if self.p.at_end() {
                    return Step::Fail;
                }
            }
            if self.p.skip_lwsp() != Step::More {
                return Step::Fail;
            }
        }
        if self.p.cur() != b'>' {
            if self.local_part() != Step::More {
                return Step::Fail;
            }
            if self.p.cur() == b'@' && self.domain() != Step::More {
                return Step::Fail;
            }
        }
        if self.p.cur() != b'>' {
            return Step::Fail;
        }
        self.p.pos += 1;
        self.p.skip_lwsp()
    }

    /// obs-route's domain list: "@a,@b" as IMAP's source-route string.
    fn domain_list(&mut self) -> Step {
        let mut route = Vec::new();
        loop {
            if self.p.at_end() {
                return Step::End;
            }
            if self.p.cur() != b'@' {
                break;
            }
            if !route.is_empty() {
                route.push(b',');
            }
            route.push(b'@');
            let r = self.p.parse_domain(&mut route);
            if r != Step::More {
                return r;
            }
            while self.p.skip_lwsp() == Step::More && self.p.cur() == b',' {
                self.p.pos += 1;
            }
        }
        self.addr.route = Some(route);
        Step::More
    }

    /// local-part = dot-atom / quoted-string / obs-local-part
    fn local_part(&mut self) -> Step {
        let mut mailbox = Vec::new();
        let mut r;
        loop {
            r = if self.p.cur() == b'"' {
                self.p.parse_quoted_string(&mut mailbox)
            } else {
                self.p.parse_dot_atom(&mut mailbox)
            };
            // obs-local-part: a quoted word may be followed by "." and more words.
            if r != Step::More || self.p.cur() != b'.' {
                break;
            }
            mailbox.push(b'.');
            self.p.pos += 1;
            r = self.p.skip_lwsp();
            if r != Step::More {
                break;
            }
        }
        if r == Step::Fail {
            return r;
        }
        self.addr.mailbox = Some(mailbox);
        r
    }

    fn domain(&mut self) -> Step {
        let mut domain = Vec::new();
        let r = self.p.parse_domain(&mut domain);
        if r != Step::Fail {
            self.addr.domain = Some(domain);
        }
        r
    }

    /// addr-spec, plus the RFC 822 habits: "user@host (Real Name)" takes the name
    /// from the comment, and a bare word list is a display name with no address.
    fn addr_spec(&mut self) -> Step {
        self.clear_comment();
        let quoted = self.p.cur() == b'"';
        let mut r = self.local_part();
        let mut domain_tried = false;
        if r != Step::End && !self.p.at_end() && self.p.cur() == b'@' {
            domain_tried = true;
            let r2 = self.domain();
            if r2 != Step::More {
                r = r2;
            }
        }
        let comment = self.p.last_comment.take().unwrap_or_default();
        if !comment.is_empty() {
            self.addr.name = Some(comment);
        } else if !domain_tried {
            let mut words = self.addr.mailbox.clone().unwrap_or_default();
            words.push(b' ');
            let before = words.len();
            let _ = self.p.parse_phrase(&mut words);
            if words.len() != before {
                self.addr.mailbox = None;
                self.addr.name = Some(words);
            } else if !quoted {
                self.addr.domain = Some(Vec::new());
            }
            r = Step::Fail;
        }
        self.p.last_comment = Some(Vec::new());
        r
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn show(v: &[u8]) -> String {
        let mut out = Vec::new();
        parse_list(v, &mut out);
        out.iter()
            .map(|a| {
                let f = |x: &Option<Vec<u8>>| match x {
                    Some(x) => format!("{:?}", String::from_utf8_lossy(x)),
                    None => "NIL".into(),
                };
                format!(
                    "({} {} {} {})",
                    f(&a.name),
                    f(&a.route),
                    f(&a.mailbox),
                    f(&a.domain)
                )
            })
            .collect()
    }

    #[test]
    fn common_forms() {
        assert_eq!(show(b"a@b.c"), r#"(NIL NIL "a" "b.c")"#);
        assert_eq!(show(b"\"Doe, John\" <j@x>"), r#"("Doe, John" NIL "j" "x")"#);
        assert_eq!(show(b"j@x (John Doe)"), r#"("John Doe" NIL "j" "x")"#);
        assert_eq!(show(b"<@r1,@r2:j@x>"), r#"(NIL "@r1,@r2" "j" "x")"#);
    }

    #[test]
    fn groups() {
        assert_eq!(
            show(b"undisclosed-recipients:;"),
            r#"(NIL NIL "undisclosed-recipients" NIL)(NIL NIL NIL NIL)"#
        );
        assert_eq!(
            show(b"G: a@b, c@d;, e@f"),
            r#"(NIL NIL "G" NIL)(NIL NIL "a" "b")(NIL NIL "c" "d")(NIL NIL NIL NIL)(NIL NIL "e" "f")"#
        );
    }

    #[test]
    fn broken_addresses_get_placeholders() {
        assert_eq!(show(b"user"), r#"(NIL NIL "user" "MISSING_DOMAIN")"#);
        assert_eq!(
            show(b"Just A Name"),
            r#"("Just A Name" NIL "MISSING_MAILBOX" "MISSING_DOMAIN")"#
        );
        assert_eq!(show(b""), "");
    }
}
