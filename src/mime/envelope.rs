//! ENVELOPE (RFC 3501 section 7.4.2): ten fields from the top-level header, or from
//! the header of a message/rfc822 part.
//!
//! Values are the raw header text (RFC 3501: "not decoded"); RFC 2047 words stay
//! encoded. A repeated Date/Subject/Message-ID/In-Reply-To keeps its last value and
//! repeated address fields are merged, so no address a client might reply to is lost.

use super::address::{self, Address};
use super::header::{name_is, unfold};
use super::quote;

#[derive(Debug, Default)]
pub(crate) struct Envelope {
    date: Option<Vec<u8>>,
    subject: Option<Vec<u8>>,
    from: Vec<Address>,
    sender: Vec<Address>,
    reply_to: Vec<Address>,
    to: Vec<Address>,
    cc: Vec<Address>,
    bcc: Vec<Address>,
    in_reply_to: Option<Vec<u8>>,
    message_id: Option<Vec<u8>>,
}

impl Envelope {
    pub fn add_field(&mut self, name: &[u8], raw: &[u8]) {
        let text = match name.first().map(u8::to_ascii_lowercase) {
            Some(b'd') if name_is(name, b"date") => &mut self.date,
            Some(b's') if name_is(name, b"subject") => &mut self.subject,
            Some(b'm') if name_is(name, b"message-id") => &mut self.message_id,
            Some(b'i') if name_is(name, b"in-reply-to") => &mut self.in_reply_to,
            _ => {
                let list = match name.first().map(u8::to_ascii_lowercase) {
                    Some(b'f') if name_is(name, b"from") => &mut self.from,
                    Some(b's') if name_is(name, b"sender") => &mut self.sender,
                    Some(b'r') if name_is(name, b"reply-to") => &mut self.reply_to,
                    Some(b't') if name_is(name, b"to") => &mut self.to,
                    Some(b'c') if name_is(name, b"cc") => &mut self.cc,
                    Some(b'b') if name_is(name, b"bcc") => &mut self.bcc,
                    _ => return,
                };
                address::parse_list(&unfold(raw), list);
                return;
            }
        };
        *text = Some(unfold(raw).into_owned());
    }

    /// Writes the fields without the surrounding parentheses.
    pub fn write(&self, out: &mut Vec<u8>) {
        quote::nstring_nolf(out, self.date.as_deref());
        out.push(b' ');
        match &self.subject {
            Some(s) => quote::string_for_humans(out, s),
            None => out.extend_from_slice(b"NIL"),
        }
        // Sender and Reply-To default to From (RFC 3501 section 7.4.2).
        out.push(b' ');
        write_addresses(out, &self.from);
        for list in [&self.sender, &self.reply_to] {
            out.push(b' ');
            write_addresses(out, if list.is_empty() { &self.from } else { list });
        }
        for list in [&self.to, &self.cc, &self.bcc] {
            out.push(b' ');
            write_addresses(out, list);
        }
        out.push(b' ');
        quote::nstring_nolf(out, self.in_reply_to.as_deref());
        out.push(b' ');
        quote::nstring_nolf(out, self.message_id.as_deref());
    }
}

fn write_addresses(out: &mut Vec<u8>, list: &[Address]) {
    if list.is_empty() {
        out.extend_from_slice(b"NIL");
        return;
    }
    out.push(b'(');
    for a in list {
        out.push(b'(');
        match &a.name {
            Some(n) => quote::string_for_humans(out, n),
            None => out.extend_from_slice(b"NIL"),
        }
        for part in [&a.route, &a.mailbox, &a.domain] {
            out.push(b' ');
            quote::nstring_nolf(out, part.as_deref());
        }
        out.push(b')');
    }
    out.push(b')');
}

#[cfg(test)]
mod tests {
    use super::*;

    fn env(fields: &[(&str, &str)]) -> String {
        let mut e = Envelope::default();
        for (n, v) in fields {
            e.add_field(n.as_bytes(), v.as_bytes());
        }
        let mut out = Vec::new();
        e.write(&mut out);
        String::from_utf8_lossy(&out).into_owned()
    }

    #[test]
    fn empty_is_all_nil() {
        assert_eq!(env(&[]), "NIL NIL NIL NIL NIL NIL NIL NIL NIL NIL");
    }

    #[test]
    fn sender_defaults_and_merging() {
        assert_eq!(
            env(&[
                ("From", "a@b"),
                ("To", "c@d"),
                ("to", "e@f"),
                ("Subject", "x"),
                ("SUBJECT", "y")
            ]),
            r#"NIL "y" ((NIL NIL "a" "b")) ((NIL NIL "a" "b")) ((NIL NIL "a" "b")) ((NIL NIL "c" "d")(NIL NIL "e" "f")) NIL NIL NIL NIL"#
        );
    }

    #[test]
    fn folded_subject_is_collapsed() {
        assert_eq!(
            env(&[("Subject", "a\n\tb"), ("Message-ID", "<x@y>\n ")]),
            "NIL {3}\r\na b NIL NIL NIL NIL NIL NIL NIL \"<x@y> \""
        );
    }
}
