//! The cursor over one framed command and the tokens of RFC 3501 section 9 that
//! every command shares: spaces, atoms, strings, literals, numbers, sequence sets,
//! dates and flags. Every read is bounds-checked; an error is a short reason.

use std::borrow::Cow;

use super::super::chars::{is_astring_char, is_atom_char, is_list_char, is_tag_char};
use super::super::types::{Date, DateTime, Flag, Mailbox, SeqItem, SeqNum, SequenceSet};

/// Why a command did not parse, for the `BAD` reply.
pub(super) type Reason = Cow<'static, str>;
pub(super) type R<T> = Result<T, Reason>;

/// The largest mod-sequence RFC 7162 allows (63 bits).
const MAX_MODSEQ: u64 = i64::MAX as u64;

pub(super) struct Cursor<'a> {
    buf: &'a [u8],
    pos: usize,
    depth: usize,
    max_depth: usize,
}

impl<'a> Cursor<'a> {
    pub fn new(buf: &'a [u8], max_depth: usize) -> Cursor<'a> {
        Cursor {
            buf,
            pos: 0,
            depth: 0,
            max_depth,
        }
    }

    pub fn peek(&self) -> Option<u8> {
        self.buf.get(self.pos).copied()
    }

    fn rest(&self) -> &'a [u8] {
        self.buf.get(self.pos..).unwrap_or_default()
    }

    /// Consumes `b` if it is next.
    pub fn eat(&mut self, b: u8) -> bool {
        if self.peek() == Some(b) {
            self.pos += 1;
            true
        } else {
            false
        }
    }

    pub fn expect(&mut self, b: u8, what: &'static str) -> R<()> {
        if self.eat(b) {
            Ok(())
        } else {
            Err(self.expected(what))
        }
    }

    /// Exactly one space, as RFC 3501 requires between arguments.
    pub fn sp(&mut self) -> R<()> {
        self.expect(b' ', "a space")
    }

    /// "expected X", naming the offending character when it is printable.
    pub fn expected(&self, what: &str) -> Reason {
        match self.peek() {
            None | Some(b'\r') => format!("expected {what} before the end of the line").into(),
            Some(b' ') => format!("expected {what}, found an extra space").into(),
            Some(b) if b.is_ascii_graphic() => {
                format!("expected {what} at {:?}", char::from(b)).into()
            }
            Some(b) => format!("expected {what}, found byte {b:#04x}").into(),
        }
    }

    /// The command's final CRLF, and nothing after it.
    pub fn finish(&mut self) -> R<()> {
        if self.rest() == b"\r\n" {
            self.pos += 2;
            Ok(())
        } else if self.peek() == Some(b' ') {
            Err("unexpected space at the end of the command".into())
        } else {
            Err(self.expected("the end of the command"))
        }
    }

    /// Whether the line ends here (the command's arguments are over).
    pub fn at_end(&self) -> bool {
        self.rest().starts_with(b"\r\n")
    }

    /// One more level of nesting (a parenthesised list, NOT, OR), refused past the
    /// limit so that hostile input cannot exhaust the stack.
    pub fn enter(&mut self) -> R<()> {
        self.depth += 1;
        if self.depth > self.max_depth {
            return Err(format!("search nested too deeply (limit {})", self.max_depth).into());
        }
        Ok(())
    }

    pub fn leave(&mut self) {
        self.depth = self.depth.saturating_sub(1);
    }

    /// The longest run of bytes satisfying `f` (possibly empty).
    pub fn take_while(&mut self, f: impl Fn(u8) -> bool) -> &'a [u8] {
        let rest = self.rest();
        let n = rest.iter().position(|&b| !f(b)).unwrap_or(rest.len());
        self.pos += n;
        rest.get(..n).unwrap_or_default()
    }

    /// `tag`: one or more tag characters.
    pub fn tag(&mut self) -> R<String> {
        let t = self.take_while(is_tag_char);
        if t.is_empty() {
            return Err(self.expected("a tag"));
        }
        Ok(String::from_utf8_lossy(t).into_owned())
    }

    /// `atom`.
    pub fn atom(&mut self, what: &'static str) -> R<&'a [u8]> {
        let a = self.take_while(is_atom_char);
        if a.is_empty() {
            return Err(self.expected(what));
        }
        Ok(a)
    }

    /// An atom as an uppercased keyword, for case-insensitive matching.
    pub fn keyword(&mut self, what: &'static str) -> R<String> {
        Ok(String::from_utf8_lossy(self.atom(what)?).to_ascii_uppercase())
    }

    /// Whether the next atom is `kw` (case-insensitively), without consuming it.
    pub fn peek_keyword(&self, kw: &[u8]) -> bool {
        let rest = self.rest();
        rest.get(..kw.len())
            .is_some_and(|w| w.eq_ignore_ascii_case(kw))
            && !rest.get(kw.len()).is_some_and(|&b| is_atom_char(b))
    }

    /// Consumes the keyword `kw` if it is next.
    pub fn eat_keyword(&mut self, kw: &[u8]) -> bool {
        if self.peek_keyword(kw) {
            self.pos += kw.len();
            true
        } else {
            false
        }
    }

    fn digits(&mut self, what: &'static str) -> R<&'a [u8]> {
        let d = self.take_while(|b| b.is_ascii_digit());
        if d.is_empty() {
            return Err(self.expected(what));
        }
        Ok(d)
    }

    fn value(d: &[u8], max: u64, what: &'static str) -> R<u64> {
        d.iter()
            .try_fold(0u64, |n, &b| {
                n.checked_mul(10)?.checked_add(u64::from(b - b'0'))
            })
            .filter(|&n| n <= max)
            .ok_or_else(|| format!("{what} out of range").into())
    }

    /// `number`: 32-bit, leading zeros allowed.
    pub fn number(&mut self) -> R<u32> {
        let d = self.digits("a number")?;
        Ok(Self::value(d, u64::from(u32::MAX), "number")? as u32)
    }

    /// `nz-number`: 1 to 2^32-1, no leading zero.
    pub fn nz_number(&mut self) -> R<u32> {
        let d = self.digits("a non-zero number")?;
        if d.first() == Some(&b'0') {
            return Err("a non-zero number is expected without leading zeros".into());
        }
        Ok(Self::value(d, u64::from(u32::MAX), "number")? as u32)
    }

    /// `number64` (RFC 9051): 63 bits.
    pub fn number64(&mut self) -> R<u64> {
        let d = self.digits("a number")?;
        Self::value(d, MAX_MODSEQ, "number")
    }

    /// `mod-sequence-value` (1 and up) or, with `zero`, `mod-sequence-valzer`.
    pub fn modseq(&mut self, zero: bool) -> R<u64> {
        let d = self.digits("a mod-sequence")?;
        let v = Self::value(d, MAX_MODSEQ, "mod-sequence")?;
        if v == 0 && !zero {
            return Err("mod-sequence must not be 0".into());
        }
        Ok(v)
    }

    /// `quoted`. Leniency: 8-bit bytes are accepted (clients send UTF-8 in quoted
    /// SEARCH strings and, under UTF8=ACCEPT, names); whether they are allowed is
    /// decided where the string is interpreted.
    pub fn quoted(&mut self) -> R<Vec<u8>> {
        self.expect(b'"', "a quoted string")?;
        let mut out = Vec::new();
        loop {
            let Some(b) = self.peek() else {
                return Err("unterminated quoted string".into());
            };
            self.pos += 1;
            match b {
                b'"' => return Ok(out),
                b'\\' => match self.peek() {
                    Some(e @ (b'"' | b'\\')) => {
                        self.pos += 1;
                        out.push(e);
                    }
                    _ => return Err("a backslash in a quoted string escapes only \" or \\".into()),
                },
                b'\r' | b'\n' => return Err("unterminated quoted string".into()),
                0 => return Err("NUL in a quoted string".into()),
                _ => out.push(b),
            }
        }
    }

    /// `literal`, synchronising `{N}` or non-synchronising `{N+}` (LITERAL+), with
    /// its data inlined by the framer. Literal data may not hold NUL (RFC 3501
    /// `CHAR8`); `~{N}` (BINARY's literal8) is not supported.
    pub fn literal(&mut self) -> R<Vec<u8>> {
        if self.peek() == Some(b'~') {
            return Err("binary literals (~{N}) are not supported".into());
        }
        self.expect(b'{', "a literal")?;
        let d = self.digits("a literal size")?;
        let size = Self::value(d, u64::MAX, "literal size")?;
        self.eat(b'+');
        self.expect(b'}', "'}' closing the literal size")?;
        if !self.rest().starts_with(b"\r\n") {
            return Err("a literal size must end the line".into());
        }
        self.pos += 2;
        let data = usize::try_from(size)
            .ok()
            .and_then(|n| self.rest().get(..n))
            .ok_or("literal shorter than its announced size")?;
        if memchr::memchr(0, data).is_some() {
            return Err("NUL in a literal".into());
        }
        self.pos += data.len();
        Ok(data.to_vec())
    }

    /// Whether a literal starts here (`~{` included, to refuse it clearly).
    fn at_literal(&self) -> bool {
        let rest = self.rest();
        rest.starts_with(b"{") || rest.starts_with(b"~{")
    }

    /// `string`: quoted or literal.
    pub fn string(&mut self) -> R<Vec<u8>> {
        if self.peek() == Some(b'"') {
            self.quoted()
        } else if self.at_literal() {
            self.literal()
        } else {
            Err(self.expected("a string"))
        }
    }

    /// `astring`: an atom (with `]` allowed) or a string.
    pub fn astring(&mut self) -> R<Vec<u8>> {
        if self.peek() == Some(b'"') || self.at_literal() {
            return self.string();
        }
        let a = self.take_while(is_astring_char);
        if a.is_empty() {
            return Err(self.expected("a string or atom"));
        }
        Ok(a.to_vec())
    }

    /// `nstring`: `NIL` or a string.
    pub fn nstring(&mut self) -> R<Option<Vec<u8>>> {
        if self.eat_keyword(b"NIL") {
            Ok(None)
        } else {
            self.string().map(Some)
        }
    }

    /// `mailbox`: an astring, with INBOX folded.
    pub fn mailbox(&mut self) -> R<Mailbox> {
        Ok(Mailbox::from_wire(self.astring()?))
    }

    /// `list-mailbox`: list characters (wildcards included) or a string.
    pub fn list_mailbox(&mut self) -> R<Vec<u8>> {
        if self.peek() == Some(b'"') || self.at_literal() {
            return self.string();
        }
        let a = self.take_while(is_list_char);
        if a.is_empty() {
            return Err(self.expected("a mailbox pattern"));
        }
        Ok(a.to_vec())
    }

    /// `"(" item *(SP item) ")"`; with `empty`, `()` too.
    pub fn list<T>(
        &mut self,
        empty: bool,
        what: &'static str,
        mut item: impl FnMut(&mut Self) -> R<T>,
    ) -> R<Vec<T>> {
        self.expect(b'(', what)?;
        let mut out = Vec::new();
        if self.eat(b')') {
            if empty {
                return Ok(out);
            }
            return Err(format!("{what} must not be empty").into());
        }
        loop {
            out.push(item(self)?);
            if self.eat(b')') {
                return Ok(out);
            }
            self.sp()?;
        }
    }

    /// `sequence-set`, with `$` (RFC 5182). Leniency: RFC 5182's grammar admits `$`
    /// as the whole set (and, through the recursion, after a comma); we accept it as
    /// any element, a superset the session resolves the same way.
    pub fn seq_set(&mut self) -> R<SequenceSet> {
        let mut items = Vec::new();
        loop {
            if self.eat(b'$') {
                items.push(SeqItem::Saved);
            } else {
                let a = self.seq_num()?;
                let b = if self.eat(b':') { self.seq_num()? } else { a };
                items.push(SeqItem::Range(a, b));
            }
            if !self.eat(b',') {
                return Ok(SequenceSet(items));
            }
        }
    }

    fn seq_num(&mut self) -> R<SeqNum> {
        if self.eat(b'*') {
            return Ok(SeqNum::Star);
        }
        if !self.peek().is_some_and(|b| b.is_ascii_digit()) {
            return Err(self.expected("a sequence set"));
        }
        self.nz_number().map(SeqNum::Value)
    }

    /// `date`: `d-Mon-yyyy`, optionally quoted.
    pub fn date(&mut self) -> R<Date> {
        let quoted = self.eat(b'"');
        let day = self.digits("a day")?;
        if day.len() > 2 {
            return Err("a day has one or two digits".into());
        }
        let d = self.month_year(Self::value(day, 99, "day")? as u8)?;
        if quoted {
            self.expect(b'"', "'\"' closing the date")?;
        }
        Ok(d)
    }

    /// `-Mon-yyyy` after the day, checked to be a real date.
    fn month_year(&mut self, day: u8) -> R<Date> {
        const MONTHS: [&[u8; 3]; 12] = [
            b"JAN", b"FEB", b"MAR", b"APR", b"MAY", b"JUN", b"JUL", b"AUG", b"SEP", b"OCT", b"NOV",
            b"DEC",
        ];
        self.expect(b'-', "'-' in the date")?;
        let m = self.rest().get(..3).ok_or("date cut short")?;
        let month = MONTHS
            .iter()
            .position(|name| m.eq_ignore_ascii_case(&name[..]))
            .ok_or("unknown month in the date")? as u8
            + 1;
        self.pos += 3;
        self.expect(b'-', "'-' in the date")?;
        let y = self.digits("a year")?;
        if y.len() != 4 {
            return Err("a year has four digits".into());
        }
        let year = Self::value(y, 9999, "year")? as u16;
        let leap =
            year.is_multiple_of(4) && (!year.is_multiple_of(100) || year.is_multiple_of(400));
        let days = [
            31,
            if leap { 29 } else { 28 },
            31,
            30,
            31,
            30,
            31,
            31,
            30,
            31,
            30,
            31,
        ];
        if day == 0 || days.get(usize::from(month - 1)).is_none_or(|&n| day > n) {
            return Err("no such day in the date".into());
        }
        Ok(Date { year, month, day })
    }

    /// `date-time`: `"dd-Mon-yyyy hh:mm:ss +zzzz"`. The day is `SP DIGIT` or two
    /// digits. Leniency: one digit without its padding space is accepted too; it is
    /// unambiguous, and clients that format the day unpadded (`%-d`) exist.
    pub fn date_time(&mut self) -> R<DateTime> {
        self.expect(b'"', "a quoted date-time")?;
        self.eat(b' ');
        let day = self.digits("a day")?;
        if day.len() > 2 {
            return Err("a day has one or two digits".into());
        }
        let date = self.month_year(Self::value(day, 99, "day")? as u8)?;
        self.sp()?;
        let two = |c: &mut Self, max: u64, what: &'static str| -> R<u8> {
            let d = c
                .rest()
                .get(..2)
                .filter(|d| d.iter().all(u8::is_ascii_digit));
            let d = d.ok_or_else(|| c.expected(what))?;
            c.pos += 2;
            Ok(Self::value(d, max, what)? as u8)
        };
        let hour = two(self, 23, "an hour")?;
        self.expect(b':', "':' in the time")?;
        let minute = two(self, 59, "minutes")?;
        self.expect(b':', "':' in the time")?;
        // 60: a leap second.
        let second = two(self, 60, "seconds")?;
        self.sp()?;
        let sign: i16 = match self.peek() {
            Some(b'+') => 1,
            Some(b'-') => -1,
            _ => return Err(self.expected("a zone such as +0000")),
        };
        self.pos += 1;
        let zh = two(self, 99, "a zone such as +0000")?;
        let zm = two(self, 59, "a zone such as +0000")?;
        self.expect(b'"', "'\"' closing the date-time")?;
        Ok(DateTime {
            date,
            hour,
            minute,
            second,
            zone_minutes: sign * (i16::from(zh) * 60 + i16::from(zm)),
        })
    }

    /// `flag`: a system flag, `\extension` or a keyword (`\*` is only for replies).
    pub fn flag(&mut self) -> R<Flag> {
        if self.eat(b'\\') {
            let name = self.atom("a flag name after '\\'")?;
            let upper = name.to_ascii_uppercase();
            return Ok(match upper.as_slice() {
                b"ANSWERED" => Flag::Answered,
                b"FLAGGED" => Flag::Flagged,
                b"DELETED" => Flag::Deleted,
                b"SEEN" => Flag::Seen,
                b"DRAFT" => Flag::Draft,
                _ => Flag::Extension(String::from_utf8_lossy(name).into_owned()),
            });
        }
        let k = self.atom("a flag")?;
        Ok(Flag::Keyword(String::from_utf8_lossy(k).into_owned()))
    }

    /// `flag-list`: `(` flags `)`, possibly empty.
    pub fn flag_list(&mut self) -> R<Vec<Flag>> {
        self.list(true, "a flag list", Cursor::flag)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn cur(s: &[u8]) -> Cursor<'_> {
        Cursor::new(s, 10)
    }

    #[test]
    fn strings_quoted_literal_and_atom() {
        assert_eq!(cur(br#""a\"b\\c""#).quoted().unwrap(), br#"a"b\c"#);
        assert!(cur(br#""a\nb""#).quoted().is_err());
        assert!(cur(b"\"abc").quoted().is_err());
        assert!(cur(b"\"a\r\nb\"").quoted().is_err());
        assert_eq!(
            cur("\"Entwürfe\"".as_bytes()).quoted().unwrap(),
            "Entwürfe".as_bytes()
        );
        assert_eq!(cur(b"{3}\r\nabc").literal().unwrap(), b"abc");
        assert_eq!(cur(b"{3+}\r\na\r\n").literal().unwrap(), b"a\r\n");
        assert_eq!(cur(b"{0}\r\n").literal().unwrap(), b"");
        assert!(cur(b"{3}\r\nab").literal().is_err());
        assert!(cur(b"{3}abc").literal().is_err());
        assert!(cur(b"{2}\r\na\0").literal().is_err());
        assert!(cur(b"~{2}\r\nab").literal().is_err());
        assert!(cur(b"{99999999999999999999}\r\n").literal().is_err());
        assert_eq!(cur(b"foo]bar baz").astring().unwrap(), b"foo]bar");
        assert!(cur(b"(x").astring().is_err());
        assert_eq!(cur(b"NIL").nstring().unwrap(), None);
        assert_eq!(cur(b"\"NIL\"").nstring().unwrap(), Some(b"NIL".to_vec()));
        assert!(cur(b"NILS").nstring().is_err());
        assert_eq!(cur(b"*%/x]").list_mailbox().unwrap(), b"*%/x]");
        assert_eq!(cur(b"~/Mail").astring().unwrap(), b"~/Mail");
    }

    #[test]
    fn numbers_and_modseqs() {
        assert_eq!(cur(b"4294967295").number().unwrap(), u32::MAX);
        assert!(cur(b"4294967296").number().is_err());
        assert_eq!(cur(b"007").number().unwrap(), 7);
        assert!(cur(b"07").nz_number().is_err());
        assert!(cur(b"0").nz_number().is_err());
        assert_eq!(
            cur(b"9223372036854775807").modseq(false).unwrap(),
            i64::MAX as u64
        );
        assert!(cur(b"9223372036854775808").modseq(false).is_err());
        assert!(cur(b"0").modseq(false).is_err());
        assert_eq!(cur(b"0").modseq(true).unwrap(), 0);
    }

    #[test]
    fn sequence_sets() {
        let s = cur(b"1:3,5,*:9,$,7:*").seq_set().unwrap();
        let v = |n| SeqNum::Value(n);
        assert_eq!(
            s.0,
            [
                SeqItem::Range(v(1), v(3)),
                SeqItem::Range(v(5), v(5)),
                SeqItem::Range(SeqNum::Star, v(9)),
                SeqItem::Saved,
                SeqItem::Range(v(7), SeqNum::Star),
            ]
        );
        for bad in [
            &b""[..],
            b",",
            b"1,",
            b"1:",
            b":2",
            b"0",
            b"01",
            b"1::2",
            b"a",
        ] {
            let mut c = cur(bad);
            let ok = c.seq_set().is_ok() && c.peek().is_none();
            assert!(!ok, "{}", String::from_utf8_lossy(bad));
        }
    }

    #[test]
    fn dates_and_times() {
        let d = |year, month, day| Date { year, month, day };
        assert_eq!(cur(b"1-Feb-1994").date().unwrap(), d(1994, 2, 1));
        assert_eq!(cur(b"\"29-feb-2024\"").date().unwrap(), d(2024, 2, 29));
        for bad in [
            &b"29-Feb-2023"[..],
            b"31-Apr-2024",
            b"0-Jan-2024",
            b"123-Jan-2024",
            b"1-Foo-2024",
            b"1-Jan-24",
            b"1-Jan",
        ] {
            assert!(cur(bad).date().is_err(), "{}", String::from_utf8_lossy(bad));
        }
        let t = cur(b"\" 7-Jul-2023 09:05:00 -0700\"").date_time().unwrap();
        assert_eq!(
            (t.date, t.hour, t.minute, t.second, t.zone_minutes),
            (d(2023, 7, 7), 9, 5, 0, -420)
        );
        assert!(cur(b"\"17-Jul-2023 09:05:00 +0200\"").date_time().is_ok());
        assert!(cur(b"\"7-Jul-2023 09:05:00 +0200\"").date_time().is_ok());
        for bad in [
            &b"\"17-Jul-2023 24:00:00 +0000\""[..],
            b"\"17-Jul-2023 9:05:00 +0000\"",
            b"\"17-Jul-2023 09:05:00 0000\"",
            b"\"17-Jul-2023 09:05:00 +0000",
            b"17-Jul-2023",
        ] {
            assert!(
                cur(bad).date_time().is_err(),
                "{}",
                String::from_utf8_lossy(bad)
            );
        }
    }

    #[test]
    fn flags() {
        let f = cur(br"(\Seen \ANSWERED $Forwarded \Recent NonJunk)")
            .flag_list()
            .unwrap();
        assert_eq!(
            f,
            [
                Flag::Seen,
                Flag::Answered,
                Flag::Keyword("$Forwarded".into()),
                Flag::Extension("Recent".into()),
                Flag::Keyword("NonJunk".into()),
            ]
        );
        assert_eq!(cur(b"()").flag_list().unwrap(), []);
        assert!(cur(br"(\*)").flag_list().is_err());
        assert!(cur(br"(\Seen  \Draft)").flag_list().is_err());
        assert!(cur(br"( \Seen)").flag_list().is_err());
    }

    #[test]
    fn nesting_is_bounded() {
        let mut c = Cursor::new(b"", 2);
        assert!(c.enter().is_ok() && c.enter().is_ok());
        assert!(c.enter().is_err());
    }
}
