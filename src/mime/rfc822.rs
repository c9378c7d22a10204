//! A tolerant RFC 5322 / RFC 2045 tokenizer over one unfolded header value.
//!
//! Every routine mirrors the lenient reading mail servers apply (and Dovecot in
//! particular), because the IMAP strings must match what clients already cached:
//! comments and folding are skipped anywhere, 8-bit bytes count as atom text, and a
//! parse error stops at the offending byte so the caller can decide how to recover.

/// Outcome of one parsing step. `End` means the step succeeded and consumed the whole
/// input, `More` that it succeeded and input remains.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord)]
pub(crate) enum Step {
    Fail,
    End,
    More,
}

// 1: atext; 2: alphanumeric; 4: atext that is a MIME tspecial ("/", "=", "?").
const fn char_classes() -> [u8; 256] {
    let mut t = [0u8; 256];
    let mut i = 128;
    while i < 256 {
        t[i] = 1; // 8-bit bytes are treated as atext: raw UTF-8 and legacy charsets
        i += 1;
    }
    let punct = b"!#$%&'*+-^_`{|}~";
    let mut j = 0;
    while j < punct.len() {
        t[punct[j] as usize] = 1;
        j += 1;
    }
    let mut c = b'0';
    while c <= b'9' {
        t[c as usize] = 2;
        c += 1;
    }
    let mut c = b'A';
    while c <= b'Z' {
        t[c as usize] = 2;
        t[(c + 32) as usize] = 2;
        c += 1;
    }
    t[b'/' as usize] = 4;
    t[b'=' as usize] = 4;
    t[b'?' as usize] = 4;
    t
}

static CLASSES: [u8; 256] = char_classes();

pub(crate) fn is_atext(b: u8) -> bool {
    CLASSES[b as usize] != 0
}

/// RFC 2045 `token` characters (atext minus tspecials; "." is added by callers).
fn is_token(b: u8) -> bool {
    CLASSES[b as usize] & 3 != 0
}

pub(crate) struct Parser<'a> {
    data: &'a [u8],
    pub pos: usize,
    /// The text of the most recent comment, kept only when asked for: an address
    /// without a display name takes its name from a trailing comment (RFC 822 habit).
    pub last_comment: Option<Vec<u8>>,
}

impl<'a> Parser<'a> {
    pub fn new(data: &'a [u8]) -> Self {
        Parser {
            data,
            pos: 0,
            last_comment: None,
        }
    }

    pub fn with_comments(data: &'a [u8]) -> Self {
        Parser {
            data,
            pos: 0,
            last_comment: Some(Vec::new()),
        }
    }

    pub fn at_end(&self) -> bool {
        self.pos >= self.data.len()
    }

    /// The current byte, or 0 past the end: lets checks like "is this '<'" stay simple.
    pub fn cur(&self) -> u8 {
        self.data.get(self.pos).copied().unwrap_or(0)
    }

    fn more_or_end(&self) -> Step {
        if self.at_end() { Step::End } else { Step::More }
    }

    fn slice(&self, from: usize, to: usize) -> &'a [u8] {
        self.data.get(from..to).unwrap_or_default()
    }

    pub fn skip_comment(&mut self) -> Step {
        if let Some(c) = self.last_comment.as_mut() {
            c.clear();
        }
        let mut level = 1;
        self.pos += 1;
        let mut start = self.pos;
        while let Some(&b) = self.data.get(self.pos) {
            match b {
                b'(' => level += 1,
                b')' => {
                    level -= 1;
                    if level == 0 {
                        let text = self.slice(start, self.pos);
                        if let Some(c) = self.last_comment.as_mut() {
                            c.extend_from_slice(text);
                        }
                        self.pos += 1;
                        return self.more_or_end();
                    }
                }
                b'\n' => {
                    // Folding inside a comment: drop the line break only.
                    let mut text = self.slice(start, self.pos);
                    if let Some((b'\r', rest)) = text.split_last() {
                        text = rest;
                    }
                    if let Some(c) = self.last_comment.as_mut() {
                        c.extend_from_slice(text);
                    }
                    start = self.pos + 1;
                }
                b'\\' => {
                    self.pos += 1;
                    if self.at_end() {
                        return Step::Fail;
                    }
                }
                _ => {}
            }
            self.pos += 1;
        }
        Step::Fail
    }

    /// Skips CFWS (RFC 5322 section 3.2.2).
    pub fn skip_lwsp(&mut self) -> Step {
        while let Some(&b) = self.data.get(self.pos) {
            match b {
                b' ' | b'\t' | b'\r' | b'\n' => self.pos += 1,
                b'(' => {
                    if self.skip_comment() == Step::Fail {
                        return Step::Fail;
                    }
                }
                _ => break,
            }
        }
        self.more_or_end()
    }

    pub fn parse_atom(&mut self, out: &mut Vec<u8>) -> Step {
        if !is_atext(self.cur()) || self.at_end() {
            return Step::Fail;
        }
        let start = self.pos;
        while !self.at_end() && is_atext(self.cur()) {
            self.pos += 1;
        }
        out.extend_from_slice(self.slice(start, self.pos));
        self.skip_lwsp()
    }

    /// dot-atom, tolerating CFWS around the dots and empty labels as RFC 822 did.
    pub fn parse_dot_atom(&mut self, out: &mut Vec<u8>) -> Step {
        if self.at_end() || !is_atext(self.cur()) {
            return Step::Fail;
        }
        let mut start = self.pos;
        self.pos += 1;
        loop {
            if self.at_end() {
                out.extend_from_slice(self.slice(start, self.pos));
                return Step::End;
            }
            if is_atext(self.cur()) {
                self.pos += 1;
                continue;
            }
            out.extend_from_slice(self.slice(start, self.pos));
            let r = self.skip_lwsp();
            if r != Step::More {
                return r;
            }
            if self.cur() != b'.' {
                return Step::More;
            }
            self.pos += 1;
            out.push(b'.');
            let r = self.skip_lwsp();
            if r != Step::More {
                return r;
            }
            start = self.pos;
        }
    }

    /// RFC 2045 token; "." is accepted too since real Content-Types use it freely.
    pub fn parse_mime_token(&mut self, out: &mut Vec<u8>) -> Step {
        let start = self.pos;
        while !self.at_end() && (is_token(self.cur()) || self.cur() == b'.') {
            self.pos += 1;
        }
        out.extend_from_slice(self.slice(start, self.pos));
        if self.at_end() {
            return Step::End;
        }
        self.skip_lwsp()
    }

    /// quoted-string: the quotes and backslash escapes are removed, folding CRLFs too.
    pub fn parse_quoted_string(&mut self, out: &mut Vec<u8>) -> Step {
        self.pos += 1;
        let mut start = self.pos;
        while let Some(&b) = self.data.get(self.pos) {
            match b {
                b'"' => {
                    out.extend_from_slice(self.slice(start, self.pos));
                    self.pos += 1;
                    return self.skip_lwsp();
                }
                b'\n' => {
                    let mut text = self.slice(start, self.pos);
                    if let Some((b'\r', rest)) = text.split_last() {
                        text = rest;
                    }
                    out.extend_from_slice(text);
                    start = self.pos + 1;
                }
                b'\\' => {
                    out.extend_from_slice(self.slice(start, self.pos));
                    self.pos += 1;
                    if self.at_end() {
                        return Step::Fail;
                    }
                    start = self.pos;
                }
                _ => {}
            }
            self.pos += 1;
        }
        Step::Fail
    }

    /// Atom text with dots kept (obs-phrase allows "." between words).
    fn parse_atom_or_dot(&mut self, out: &mut Vec<u8>) -> Step {
        let start = self.pos;
        while !self.at_end() && (is_atext(self.cur()) || self.cur() == b'.') {
            self.pos += 1;
        }
        out.extend_from_slice(self.slice(start, self.pos));
        if self.at_end() {
            return Step::End;
        }
        self.skip_lwsp()
    }

    /// phrase / obs-phrase: words joined by one space, comments dropped.
    pub fn parse_phrase(&mut self, out: &mut Vec<u8>) -> Step {
        if self.at_end() {
            return Step::End;
        }
        if self.cur() == b'.' {
            return Step::Fail;
        }
        loop {
            let r = if self.cur() == b'"' {
                self.parse_quoted_string(out)
            } else {
                self.parse_atom_or_dot(out)
            };
            if r != Step::More {
                return r;
            }
            let c = self.cur();
            if !is_atext(c) && c != b'"' && c != b'.' {
                break;
            }
            out.push(b' ');
        }
        self.skip_lwsp()
    }

    /// domain after "@": dot-atom or a domain literal kept with its brackets.
    pub fn parse_domain(&mut self, out: &mut Vec<u8>) -> Step {
        self.pos += 1;
        if self.skip_lwsp() != Step::More {
            return Step::Fail;
        }
        if self.cur() != b'[' {
            return self.parse_dot_atom(out);
        }
        let start = self.pos;
        self.pos += 1;
        while let Some(&b) = self.data.get(self.pos) {
            if b == b'\\' {
                self.pos += 1;
                if self.at_end() {
                    break;
                }
            } else if b == b']' {
                self.pos += 1;
                out.extend_from_slice(self.slice(start, self.pos));
                return self.skip_lwsp();
            }
            self.pos += 1;
        }
        Step::Fail
    }

    /// `type "/" subtype` (RFC 2045 section 5.1). On failure `out` is left as it was,
    /// which callers report as an empty type and subtype.
    pub fn parse_content_type(&mut self, out: &mut Vec<u8>) -> Step {
        let orig = out.len();
        let fail = |out: &mut Vec<u8>| {
            out.truncate(orig);
            Step::Fail
        };
        if self.skip_lwsp() != Step::More {
            return fail(out);
        }
        match self.parse_mime_token(out) {
            Step::More if out.len() > orig => {}
            // A lone type ("text", "image") is kept: it still says what the body
            // is, as Dovecot reports it ("text" "" with a line count).
            Step::End if out.len() > orig => return Step::Fail,
            _ => return fail(out),
        }
        if self.cur() != b'/' {
            return fail(out);
        }
        self.pos += 1;
        if self.skip_lwsp() != Step::More {
            return fail(out);
        }
        out.push(b'/');
        let sub = out.len();
        let r = self.parse_mime_token(out);
        if r == Step::Fail || out.len() == sub {
            return fail(out);
        }
        // Anything but parameters after the subtype ("text/plain>", a missing ";")
        // makes the whole field unreliable.
        if r == Step::More && self.cur() != b';' {
            return fail(out);
        }
        r
    }

    /// One `; attribute=value` (RFC 2045 section 5.1). `Step::End` means no more
    /// parameters; on `Step::Fail` the position is where parsing stopped.
    pub fn parse_content_param(&mut self) -> (Step, Vec<u8>, Vec<u8>) {
        let mut key = Vec::new();
        let mut value = Vec::new();
        if self.at_end() {
            return (Step::End, key, value);
        }
        if self.cur() != b';' {
            return (Step::Fail, key, value);
        }
        self.pos += 1;
        if self.skip_lwsp() != Step::More {
            return (Step::Fail, key, value);
        }
        if self.parse_mime_token(&mut key) != Step::More {
            return (Step::Fail, key, value);
        }
        if self.cur() != b'=' {
            return (Step::Fail, key, value);
        }
        self.pos += 1;
        let mut r = self.skip_lwsp();
        if r != Step::More {
            // "name=" at the end: an empty value.
        } else if self.cur() == b'"' {
            r = self.parse_quoted_string(&mut value);
        } else if self.cur() == b'=' {
            // Unquoted RFC 2047 words ("name==?utf-8?b?...?=") are common enough in
            // the wild to keep whole rather than cut at the first tspecial.
            while let Some(&b) = self.data.get(self.pos) {
                if matches!(b, b';' | b' ' | b'\t' | b'\r' | b'\n') {
                    break;
                }
                value.push(b);
                self.pos += 1;
            }
        } else {
            r = self.parse_mime_token(&mut value);
        }
        let r = if r == Step::Fail {
            Step::Fail
        } else {
            Step::More
        };
        (r, key, value)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn content_type() {
        let mut out = Vec::new();
        let mut p = Parser::new(b" Text/Plain ; charset=x");
        assert_eq!(p.parse_content_type(&mut out), Step::More);
        assert_eq!(out, b"Text/Plain");
        let mut out = Vec::new();
        assert_eq!(
            Parser::new(b"image ").parse_content_type(&mut out),
            Step::Fail
        );
        assert_eq!(out, b"image");
        for bad in [
            &b"image; x=y"[..],
            b"text/plain>",
            b"application/pdf name=x",
            b"text/",
        ] {
            let mut out = Vec::new();
            assert_eq!(Parser::new(bad).parse_content_type(&mut out), Step::Fail);
            assert!(out.is_empty());
        }
    }

    #[test]
    fn phrase_joins_words() {
        let mut out = Vec::new();
        let mut p = Parser::new(b"John  (x) \"Q. Public\" <a@b>");
        assert_eq!(p.parse_phrase(&mut out), Step::More);
        assert_eq!(out, b"John Q. Public");
        assert_eq!(p.cur(), b'<');
    }
}
