//! mbox: messages one after another in one file, each after a `From ` line
//! (`From sender Thu Nov 29 22:33:52 2001`) whose date is the INTERNALDATE.
//!
//! **Separators.** A message starts at the file's first line, which must begin
//! with `From `, and at each later line that begins with `From `, follows an empty
//! line and has a date (as Dovecot and mutt require: a sloppy writer's unquoted
//! `From ` line in a body does not cut a message in two). The empty line before a
//! separator, and the one at the end of the file, belong to the mbox, not to the
//! message. The date: asctime (`Thu Nov 29 22:33:52 2001`, seconds optional), with
//! a numeric zone before or after the year if given (`+0200`), or
//! `Thu, 29 Nov 2001 22:33:52 +0200`. Without a zone it is UTC.
//!
//! **Quoting.** Writers put `>` before body lines that would look like separators.
//! mboxo quotes `From ` as `>From `, so a `>From ` line in the message came out as
//! `>From ` too, and nobody can tell the two apart; mboxrd quotes every
//! `>*From ` line with one more `>`, and unquotes exactly. The variants read
//! differently only where a line has two or more `>` before `From `; such a line
//! is the way mboxrd writes a `>From ` line (which many old messages have, left by
//! mboxo systems they passed), while in an mboxo file it has to be in the message
//! itself, which is rare. So a file is read as mboxrd, which is also what
//! [`Writer`] writes; [`Variant::Mboxo`] (import's `--mboxo`) is for a file known
//! to come from an mboxo writer. The report counts the lines where it mattered.
//!
//! **Flag headers.** mutt and Dovecot keep flags in the header: `Status:` (`R`
//! \Seen; `O` only means "not new"), `X-Status:` (`A` \Answered, `F` \Flagged, `T`
//! \Draft, `D` \Deleted) and `X-Keywords:` (keywords, space-separated); Dovecot
//! adds `X-UID:`, `X-IMAP:` and `X-IMAPbase:` for its own UIDs. They are the
//! mbox's bookkeeping, not part of the message (Dovecot hides them from IMAP
//! clients too), so they are read as flags and **taken out**: a message then has
//! the same bytes (and the same BLAKE3) whatever flags it had in the file, and an
//! import run again finds it already there. [`Writer`] writes the first three back.
//! The folder-data pseudo message UW-IMAP and Pine put first (`X-IMAP:`, subject
//! `DON'T DELETE THIS MESSAGE -- FOLDER INTERNAL DATA`) is left out.
//!
//! **Line ends.** A message's lines end as the file's do (CRLF is kept, LF is
//! made CRLF by delivery). [`Writer`] writes LF, except for a message with a CR
//! right before a CRLF, which only CRLF keeps exactly. A message whose last line
//! has no line end cannot be kept in an mbox: it is written with one, and said so.

use super::maildir::{zone_text, zone_value};
use super::{Flags, Item, MAX_MESSAGE, Message, Problem, days_from_civil, maildir::is_atom};
use crate::error::{Error, Result};
use crate::store::fsutil::{Access, name_taken, open_regular, sync_dir};
use std::fs::File;
use std::io::{BufRead, BufReader, BufWriter, Write};
use std::path::{Path, PathBuf};

#[derive(Clone, Copy, Debug, PartialEq, Eq, serde::Serialize)]
#[serde(rename_all = "lowercase")]
pub enum Variant {
    Mboxrd,
    Mboxo,
}

/// The header fields an mbox keeps its flags and bookkeeping in.
pub const FLAG_HEADERS: [&str; 6] = [
    "Status",
    "X-Status",
    "X-Keywords",
    "X-UID",
    "X-IMAP",
    "X-IMAPbase",
];

/// Lines are read in pieces of at most this much: a "line" of gigabytes is never
/// held whole.
const CHUNK: usize = 64 << 10;

const WEEKDAYS: [&str; 7] = ["Sun", "Mon", "Tue", "Wed", "Thu", "Fri", "Sat"];
const MONTHS: [&str; 12] = [
    "Jan", "Feb", "Mar", "Apr", "May", "Jun", "Jul", "Aug", "Sep", "Oct", "Nov", "Dec",
];

/// Reads an mbox file one message at a time; only the message being read is held.
pub struct Reader {
    src: BufReader<File>,
    path: PathBuf,
    variant: Variant,
    pos: u64,
    line: u64,
    at_line_start: bool,
    /// The separator of the next message: the line, its number, and whether it
    /// was whole (a file cut in a `From ` line ends with a truncated message).
    next_from: Option<(Vec<u8>, u64, bool)>,
    count: u64,
    /// Lines with two or more `>` before `From `: where the variants differ.
    pub double_quoted: u64,
}

/// One piece of a line: whether it starts a line, whether it ends one.
struct Piece {
    starts: bool,
    ends: bool,
}

impl Reader {
    /// Opens an mbox file: a regular file (never through a symbolic link) that is
    /// empty or whose first line that is not empty begins with `From `.
    pub fn open(path: &Path, variant: Variant) -> Result<Reader> {
        let f = open_regular(path, Access::Read).map_err(|e| e.into_error(path, "open"))?;
        let mut r = Reader {
            src: BufReader::with_capacity(256 << 10, f),
            path: path.to_owned(),
            variant,
            pos: 0,
            line: 0,
            at_line_start: true,
            next_from: None,
            count: 0,
            double_quoted: 0,
        };
        let mut buf = Vec::new();
        loop {
            let p = r.piece(&mut buf)?;
            if buf.is_empty() {
                return Ok(r);
            }
            if p.starts && is_blank(&buf) {
                continue;
            }
            if p.starts && buf.starts_with(b"From ") {
                let whole = p.ends || r.skip_line()?;
                r.next_from = Some((buf, r.line, whole));
                return Ok(r);
            }
            return Err(Error::Usage(format!(
                "{}: not an mbox file: it does not begin with a `From ` line; give an mbox file or a Maildir",
                path.display()
            )));
        }
    }

    /// Bytes of the file read so far.
    pub fn position(&self) -> u64 {
        self.pos
    }

    /// The next piece of a line into `buf`: up to and including its `\n`, or
    /// [`CHUNK`] bytes; empty at the end of the file.
    fn piece(&mut self, buf: &mut Vec<u8>) -> Result<Piece> {
        buf.clear();
        let starts = self.at_line_start;
        loop {
            let (used, found) = {
                let avail = self
                    .src
                    .fill_buf()
                    .map_err(|e| Error::io(&self.path, "read", e))?;
                if avail.is_empty() {
                    break;
                }
                let room = CHUNK - buf.len();
                let take = &avail[..avail.len().min(room)];
                match memchr::memchr(b'\n', take) {
                    Some(i) => {
                        buf.extend_from_slice(&take[..=i]);
                        (i + 1, true)
                    }
                    None => {
                        buf.extend_from_slice(take);
                        (take.len(), false)
                    }
                }
            };
            self.src.consume(used);
            self.pos += used as u64;
            if found || buf.len() >= CHUNK {
                if starts {
                    self.line += 1;
                }
                self.at_line_start = found;
                return Ok(Piece {
                    starts,
                    ends: found,
                });
            }
        }
        if !buf.is_empty() {
            if starts {
                self.line += 1;
            }
            self.at_line_start = false;
        }
        Ok(Piece {
            starts,
            ends: false,
        })
    }

    /// Skips the rest of a line; whether it ended (not the end of the file).
    fn skip_line(&mut self) -> Result<bool> {
        let mut buf = Vec::new();
        loop {
            let p = self.piece(&mut buf)?;
            if buf.is_empty() {
                return Ok(false);
            }
            if p.ends {
                return Ok(true);
            }
        }
    }

    fn read_message(&mut self, from: Vec<u8>, from_line: u64, whole: bool) -> Result<Item> {
        self.count += 1;
        let label = format!(
            "{}: message {} (line {from_line})",
            self.path.display(),
            self.count
        );
        let mut body: Vec<u8> = Vec::new();
        let mut oversize: u64 = 0;
        let mut prev_blank = false;
        let mut last_whole = whole;
        let mut warnings = Vec::new();
        let mut buf = Vec::with_capacity(1024);
        loop {
            let p = self.piece(&mut buf)?;
            if buf.is_empty() {
                break;
            }
            last_whole = p.ends;
            let mut content: &[u8] = &buf;
            if p.starts {
                if buf.starts_with(b"From ") {
                    if prev_blank && parse_from_line(&buf).is_some() {
                        let whole = p.ends || self.skip_line()?;
                        self.next_from = Some((std::mem::take(&mut buf), self.line, whole));
                        break;
                    }
                    if warnings.is_empty() {
                        warnings.push(format!(
                            "{label}: line {} begins with `From ` unquoted but is no separator: kept in the message",
                            self.line
                        ));
                    }
                }
                let depth = quote_depth(&buf);
                if depth >= 2 {
                    self.double_quoted += 1;
                }
                let unquote = match self.variant {
                    Variant::Mboxrd => depth >= 1,
                    Variant::Mboxo => depth == 1,
                };
                if unquote {
                    content = &buf[1..];
                }
                prev_blank = is_blank(&buf);
            } else {
                prev_blank = false;
            }
            if oversize > 0 {
                oversize += content.len() as u64;
            } else if (body.len() + content.len()) as u64 > MAX_MESSAGE {
                oversize = (body.len() + content.len()) as u64;
                body = Vec::new();
            } else {
                body.extend_from_slice(content);
            }
        }
        if oversize > 0 {
            return Ok(Item::Problem(Problem::new(
                label,
                format!("larger than {MAX_MESSAGE} bytes, the most an import reads: not imported"),
            )));
        }
        if !last_whole {
            return Ok(Item::Problem(Problem::new(
                label,
                "truncated: the file ends in the middle of a line: not imported (a complete copy imports as a new message)",
            )));
        }
        if body.ends_with(b"\n\n") {
            body.pop();
        } else if body.ends_with(b"\n\r\n") {
            body.truncate(body.len() - 2);
        }
        let taken = take_flag_headers(&mut body);
        warnings.extend(taken.warnings.iter().map(|w| format!("{label}: {w}")));
        if self.count == 1
            && taken.x_imap
            && taken
                .subject
                .as_deref()
                .is_some_and(|s| s.contains("FOLDER INTERNAL DATA"))
        {
            return Ok(Item::Note(format!(
                "{label}: the folder-data message UW-IMAP and Pine keep first is no mail: left out"
            )));
        }
        let date = parse_from_line(&from);
        if date.is_none() {
            warnings.push(format!(
                "{label}: its `From ` line has no date I can read: the internal date is the time of the import"
            ));
        }
        Ok(Item::Message(Message {
            label,
            bytes: body,
            flags: taken.flags,
            date,
            warnings,
        }))
    }
}

impl Iterator for Reader {
    type Item = Item;

    fn next(&mut self) -> Option<Item> {
        let (from, line, whole) = self.next_from.take()?;
        match self.read_message(from, line, whole) {
            Ok(item) => Some(item),
            Err(e) => Some(Item::Problem(Problem::new(
                self.path.display().to_string(),
                format!("{e}; the rest of the file is not imported"),
            ))),
        }
    }
}

fn is_blank(line: &[u8]) -> bool {
    line == b"\n" || line == b"\r\n"
}

/// How many `>` come before `From ` at the start of `line` (0 if it is no
/// quoted `From ` line).
fn quote_depth(line: &[u8]) -> usize {
    let n = line.iter().take_while(|&&b| b == b'>').count();
    if n > 0 && line[n..].starts_with(b"From ") {
        n
    } else {
        0
    }
}

/// What [`take_flag_headers`] found.
#[derive(Debug, Default)]
pub struct Taken {
    pub flags: Flags,
    pub x_imap: bool,
    pub subject: Option<String>,
    pub warnings: Vec<String>,
}

/// The header fields of `msg` (up to its empty line): name and byte range, each
/// with its continuation lines.
fn header_fields(msg: &[u8]) -> Vec<(String, usize, usize)> {
    let mut out: Vec<(String, usize, usize)> = Vec::new();
    let mut i = 0;
    while i < msg.len() {
        let end = memchr::memchr(b'\n', &msg[i..]).map_or(msg.len(), |k| i + k + 1);
        let line = &msg[i..end];
        if is_blank(line) {
            break;
        }
        if line[0] == b' ' || line[0] == b'\t' {
            match out.last_mut() {
                Some(f) => f.2 = end,
                None => break,
            }
        } else {
            let Some(colon) = memchr::memchr(b':', line) else {
                break;
            };
            let name = &line[..colon];
            if name.is_empty() || !name.iter().all(|&b| b > 0x20 && b < 0x7f) {
                break;
            }
            out.push((String::from_utf8_lossy(name).into_owned(), i, end));
        }
        i = end;
    }
    out
}

fn field_value(msg: &[u8], name: &str, start: usize, end: usize) -> String {
    let raw = &msg[start + name.len() + 1..end];
    String::from_utf8_lossy(raw)
        .split(['\r', '\n'])
        .collect::<Vec<_>>()
        .join("")
        .trim()
        .to_owned()
}

/// Takes [`FLAG_HEADERS`] out of the message's header and reads the flags they give.
pub fn take_flag_headers(msg: &mut Vec<u8>) -> Taken {
    let mut t = Taken::default();
    let fields = header_fields(msg);
    let mut cut: Vec<(usize, usize)> = Vec::new();
    for (name, start, end) in &fields {
        if name.eq_ignore_ascii_case("Subject") {
            t.subject = Some(field_value(msg, name, *start, *end));
        }
        let Some(known) = FLAG_HEADERS.iter().find(|h| h.eq_ignore_ascii_case(name)) else {
            continue;
        };
        let value = field_value(msg, name, *start, *end);
        match *known {
            "Status" => t.flags.seen |= value.contains('R'),
            "X-Status" => {
                for c in value.chars() {
                    match c {
                        'A' => t.flags.answered = true,
                        'F' => t.flags.flagged = true,
                        'T' => t.flags.draft = true,
                        'D' => t.flags.deleted = true,
                        _ => {}
                    }
                }
            }
            "X-Keywords" => {
                for k in value.split_ascii_whitespace() {
                    if is_atom(k) {
                        t.flags.add_keyword(k);
                    } else {
                        t.warnings.push(format!(
                            "X-Keywords: {k:?} is not a keyword (an IMAP atom): left out"
                        ));
                    }
                }
            }
            "X-IMAP" => t.x_imap = true,
            _ => {}
        }
        cut.push((*start, *end));
    }
    if !cut.is_empty() {
        let mut out = Vec::with_capacity(msg.len());
        let mut at = 0;
        for (s, e) in cut {
            out.extend_from_slice(&msg[at..s]);
            at = e;
        }
        out.extend_from_slice(&msg[at..]);
        *msg = out;
    }
    t
}

/// The date of a `From ` line (the whole line, `From ` included): Unix seconds and
/// minutes east of UTC; `None` if it has none this reader knows.
pub fn parse_from_line(line: &[u8]) -> Option<(i64, i16)> {
    let rest = line.strip_prefix(b"From ")?;
    let text = String::from_utf8_lossy(rest);
    let text = text.trim_end_matches(['\r', '\n']);
    // The sender: a quoted local part may hold spaces; an empty one leaves two.
    let after = if text.starts_with(' ') {
        text
    } else {
        let mut i = 0;
        let b = text.as_bytes();
        if b.first() == Some(&b'"') {
            i = 1;
            let mut esc = false;
            while i < b.len() && (b[i] != b'"' || esc) {
                esc = !esc && b[i] == b'\\';
                i += 1;
            }
        }
        match text[i.min(text.len())..].find(' ') {
            Some(k) => &text[i + k..],
            None => return None,
        }
    };
    let toks: Vec<&str> = after.split_ascii_whitespace().collect();
    asctime(&toks).or_else(|| rfc_style(&toks))
}

fn month(s: &str) -> Option<u32> {
    MONTHS
        .iter()
        .position(|m| m.eq_ignore_ascii_case(s))
        .map(|i| i as u32 + 1)
}

fn is_weekday(s: &str) -> bool {
    WEEKDAYS.iter().any(|w| w.eq_ignore_ascii_case(s))
}

fn number(s: &str, max_digits: usize) -> Option<i64> {
    (!s.is_empty() && s.len() <= max_digits && s.bytes().all(|b| b.is_ascii_digit()))
        .then(|| s.parse().ok())
        .flatten()
}

fn year(s: &str) -> Option<i64> {
    (s.len() == 4).then(|| number(s, 4)).flatten()
}

fn clock(s: &str) -> Option<(i64, i64, i64)> {
    let mut it = s.split(':');
    let h = number(it.next()?, 2)?;
    let m = it
        .next()
        .and_then(|x| (x.len() == 2).then(|| number(x, 2)).flatten())?;
    let sec = match it.next() {
        Some(x) if x.len() == 2 => number(x, 2)?,
        Some(_) => return None,
        None => 0,
    };
    if it.next().is_some() || h > 23 || m > 59 || sec > 60 {
        return None;
    }
    Some((h, m, sec))
}

fn zone(s: &str) -> Option<i16> {
    zone_value(s.as_bytes())
}

fn instant(y: i64, mo: u32, d: i64, (h, mi, s): (i64, i64, i64), zone: i16) -> Option<(i64, i16)> {
    if !(1..=31).contains(&d) || y < 1 {
        return None;
    }
    let days = days_from_civil(y, mo, d as u32);
    Some((
        days * 86_400 + h * 3600 + mi * 60 + s - i64::from(zone) * 60,
        zone,
    ))
}

/// `Thu Nov 29 22:33:52 [zone] 2001 [zone]`.
fn asctime(t: &[&str]) -> Option<(i64, i16)> {
    if t.len() < 5 || !is_weekday(t[0]) {
        return None;
    }
    let mo = month(t[1])?;
    let d = number(t[2], 2)?;
    let c = clock(t[3])?;
    let (y, z) = if let Some(y) = year(t[4]) {
        (y, t.get(5).and_then(|z| zone(z)).unwrap_or(0))
    } else {
        // A zone before the year: numeric is used, a name (`UTC`, `EST`) is not.
        (year(t.get(5)?)?, zone(t[4]).unwrap_or(0))
    };
    instant(y, mo, d, c, z)
}

/// `Thu, 29 Nov 2001 22:33:52 [zone]`.
fn rfc_style(t: &[&str]) -> Option<(i64, i16)> {
    if t.len() < 5 || !t[0].strip_suffix(',').is_some_and(is_weekday) {
        return None;
    }
    let d = number(t[1], 2)?;
    let mo = month(t[2])?;
    let y = year(t[3])?;
    let c = clock(t[4])?;
    let z = t.get(5).and_then(|z| zone(z)).unwrap_or(0);
    instant(y, mo, d, c, z)
}

/// A `From ` line for `sender` and `date` (asctime in the date's own zone, then
/// the zone when it is not UTC), without its line end; `None` if the year has not
/// four digits (a reader would not know the line for a separator).
pub fn from_line(sender: &str, (secs, zone): (i64, i16)) -> Option<String> {
    let local = secs.saturating_add(i64::from(zone) * 60);
    let days = local.div_euclid(86_400);
    let rem = local.rem_euclid(86_400);
    let (y, m, d) = crate::message::civil_from_days(days);
    if !(1000..=9999).contains(&y) {
        return None;
    }
    let wd = WEEKDAYS[(days + 4).rem_euclid(7) as usize];
    let mut s = format!(
        "From {sender} {wd} {} {d:>2} {:02}:{:02}:{:02} {y:04}",
        MONTHS[(m - 1) as usize],
        rem / 3600,
        rem % 3600 / 60,
        rem % 60
    );
    if zone != 0 {
        s.push(' ');
        s.push_str(&zone_text(zone));
    }
    Some(s)
}

/// The envelope sender in a message's `Return-Path:`, if it is one word.
fn return_path(msg: &[u8]) -> Option<String> {
    let (name, s, e) = header_fields(msg)
        .into_iter()
        .find(|(n, _, _)| n.eq_ignore_ascii_case("Return-Path"))?;
    let v = field_value(msg, &name, s, e);
    let v = v.trim_start_matches('<').trim_end_matches('>');
    if v.is_empty() {
        return Some("MAILER-DAEMON".into());
    }
    v.bytes()
        .all(|b| b > 0x20 && b < 0x7f)
        .then(|| v.to_owned())
}

/// Writes one mbox file, new: into a temporary name beside it, linked into place
/// by [`Writer::finish`] (never replacing a name). Dropped unfinished, the
/// temporary file goes.
pub struct Writer {
    path: PathBuf,
    tmp: PathBuf,
    out: Option<BufWriter<File>>,
}

impl Writer {
    pub fn create(path: &Path) -> Result<Writer> {
        if name_taken(path) {
            return Err(Error::Usage(format!(
                "{}: already exists; an export writes new files only: give a new file name",
                path.display()
            )));
        }
        let name = path
            .file_name()
            .ok_or_else(|| Error::Usage(format!("{}: not a file name", path.display())))?;
        let tmp = path.with_file_name(format!(
            ".{}.msgstore-tmp.{}",
            name.to_string_lossy(),
            std::process::id()
        ));
        let f = open_regular(&tmp, Access::CreateNew).map_err(|e| e.into_error(&tmp, "create"))?;
        Ok(Writer {
            path: path.to_owned(),
            tmp,
            out: Some(BufWriter::with_capacity(256 << 10, f)),
        })
    }

    /// Appends one message (stored bytes, CRLF); returns what it could not keep.
    pub fn write(&mut self, msg: &[u8], flags: &Flags, date: (i64, i16)) -> Result<Vec<String>> {
        let mut warnings = Vec::new();
        let sender = return_path(msg).unwrap_or_else(|| "MAILER-DAEMON".into());
        let line = match from_line(&sender, date) {
            Some(l) => l,
            None => {
                warnings.push(
                    "its internal date has no four-digit year, which a `From ` line needs: written as 1970-01-01".into(),
                );
                from_line(&sender, (0, 0)).unwrap_or_default()
            }
        };
        let fields = header_fields(msg);
        if fields
            .iter()
            .any(|(n, _, _)| FLAG_HEADERS.iter().any(|h| h.eq_ignore_ascii_case(n)))
        {
            warnings.push(format!(
                "its header has one of {}, which mbox readers take as flags: an import of this file leaves it out",
                FLAG_HEADERS.join(", ")
            ));
        }
        let hdr = flag_header_lines(flags);
        let with: Vec<u8>;
        let mut msg = msg;
        if !hdr.is_empty() {
            // After the last header field, where mutt and Dovecot put them (and
            // where a reader's header ends: what follows is an empty line or no
            // field); in a message with no field, first, unless a continuation
            // line would follow them.
            let at = match fields.last() {
                Some((_, _, end)) if msg[..*end].ends_with(b"\n") => Some(*end),
                Some(_) => Some(0),
                None if msg.first().is_some_and(|&b| b == b' ' || b == b'\t') => None,
                None => Some(0),
            };
            match at {
                Some(at) => {
                    let mut v = Vec::with_capacity(msg.len() + hdr.len());
                    v.extend_from_slice(&msg[..at]);
                    v.extend_from_slice(hdr.as_bytes());
                    v.extend_from_slice(&msg[at..]);
                    with = v;
                    msg = &with;
                }
                None => warnings.push(
                    "its first line is a continuation line, so no flag header can go before it: written without flags".into(),
                ),
            }
        }
        let keep_crlf = memchr::memmem::find(msg, b"\r\r\n").is_some();
        let out = self.out.as_mut().ok_or_else(|| {
            Error::io(
                &self.tmp,
                "write",
                std::io::Error::other("already finished"),
            )
        })?;
        let w = |r: std::io::Result<()>| r.map_err(|e| Error::io(&self.tmp, "write", e));
        w(out.write_all(line.as_bytes()))?;
        w(out.write_all(b"\n"))?;
        let mut ended = true;
        for l in msg.split_inclusive(|&b| b == b'\n') {
            if l.starts_with(b"From ") || quote_depth(l) > 0 {
                w(out.write_all(b">"))?;
            }
            match l.strip_suffix(b"\r\n") {
                Some(text) if !keep_crlf => {
                    w(out.write_all(text))?;
                    w(out.write_all(b"\n"))?;
                }
                _ => w(out.write_all(l))?,
            }
            ended = l.ends_with(b"\n");
        }
        if !ended || msg.is_empty() {
            if !msg.is_empty() {
                warnings.push(
                    "its last line has no line end, which an mbox cannot keep: written with one (an import of this file gets one more line end)".into(),
                );
            }
            w(out.write_all(if keep_crlf { b"\r\n" } else { b"\n" }))?;
        }
        w(out.write_all(b"\n"))?;
        Ok(warnings)
    }

    /// Flushes, fsyncs and links the file into place.
    pub fn finish(mut self) -> Result<()> {
        let Some(out) = self.out.take() else {
            return Ok(());
        };
        let f = out
            .into_inner()
            .map_err(|e| Error::io(&self.tmp, "write", e.into_error()))?;
        f.sync_all().map_err(|e| Error::io(&self.tmp, "fsync", e))?;
        let linked = std::fs::hard_link(&self.tmp, &self.path);
        let _ = std::fs::remove_file(&self.tmp);
        match linked {
            Ok(()) => {}
            Err(e) if e.kind() == std::io::ErrorKind::AlreadyExists => {
                return Err(Error::io(
                    &self.path,
                    "link",
                    std::io::Error::other("the name was taken meanwhile and is never replaced"),
                ));
            }
            Err(e) => return Err(Error::io(&self.path, "link", e)),
        }
        if let Some(dir) = self.path.parent() {
            let dir = if dir.as_os_str().is_empty() {
                Path::new(".")
            } else {
                dir
            };
            sync_dir(dir)?;
        }
        Ok(())
    }
}

impl Drop for Writer {
    fn drop(&mut self) {
        if self.out.take().is_some() {
            let _ = std::fs::remove_file(&self.tmp);
        }
    }
}

/// `Status:`, `X-Status:` and `X-Keywords:` for `flags` (CRLF lines; none if no flag).
fn flag_header_lines(flags: &Flags) -> String {
    let mut s = String::new();
    if flags.seen {
        s.push_str("Status: RO\r\n");
    }
    let x: String = [
        (flags.answered, 'A'),
        (flags.flagged, 'F'),
        (flags.draft, 'T'),
        (flags.deleted, 'D'),
    ]
    .iter()
    .filter(|(on, _)| *on)
    .map(|(_, c)| *c)
    .collect();
    if !x.is_empty() {
        s.push_str(&format!("X-Status: {x}\r\n"));
    }
    if !flags.keywords.is_empty() {
        s.push_str(&format!("X-Keywords: {}\r\n", flags.keywords.join(" ")));
    }
    s
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn from_lines_in_every_spelling() {
        let t = |s: &str| parse_from_line(s.as_bytes());
        // 2001-11-29 22:33:52 UTC is 1007073232.
        assert_eq!(
            t("From a@b Thu Nov 29 22:33:52 2001\n"),
            Some((1_007_073_232, 0))
        );
        assert_eq!(
            t("From a@b Thu Nov 29 22:33:52 2001 +0200\r\n"),
            Some((1_007_073_232 - 7200, 120))
        );
        assert_eq!(
            t("From a@b Thu Nov 29 22:33:52 -0500 2001"),
            Some((1_007_073_232 + 18_000, -300))
        );
        assert_eq!(
            t("From \"a b\"@c  Thu Nov 29 22:33:52 UTC 2001"),
            Some((1_007_073_232, 0))
        );
        assert_eq!(
            t("From a  Thu Nov 29 22:33 2001"),
            Some((1_007_073_232 - 52, 0))
        );
        assert_eq!(
            t("From a Thu, 29 Nov 2001 22:33:52 +0000"),
            Some((1_007_073_232, 0))
        );
        assert_eq!(t("From  Thu Nov  9 22:33:52 2001").map(|x| x.1), Some(0));
        assert_eq!(
            t("From MAILER-DAEMON Thu Nov 29 22:33:52 2001 remote from x"),
            Some((1_007_073_232, 0))
        );
        for bad in [
            "From here on we go",
            "From a Thu Nov 29 25:33:52 2001",
            "From a Thu Foo 29 22:33:52 2001",
            "From a",
            "Frm a Thu Nov 29 22:33:52 2001",
        ] {
            assert_eq!(t(bad), None, "{bad}");
        }
        for (secs, zone) in [
            (1_007_073_232, 0),
            (1_007_073_232, 120),
            (0, -330),
            (1_795_860_900, 60),
        ] {
            let l = from_line("x@y", (secs, zone)).unwrap();
            assert_eq!(t(&l), Some((secs, zone)), "{l}");
        }
        assert_eq!(from_line("x", (i64::MAX, 60)), None);
        assert_eq!(from_line("x", (i64::MIN, -60)), None);
        assert_eq!(
            from_line("x", (0, 0)).unwrap(),
            "From x Thu Jan  1 00:00:00 1970"
        );
    }

    #[test]
    fn flag_headers_are_read_and_taken_out() {
        let mut m = b"Subject: s\r\nStatus: RO\r\nX-Keywords: $Label1\r\n Junk\r\nX-Status: AFT\r\nX-UID: 7\r\nTo: t\r\n\r\nStatus: body\r\n".to_vec();
        let t = take_flag_headers(&mut m);
        assert!(
            t.flags.seen
                && t.flags.answered
                && t.flags.flagged
                && t.flags.draft
                && !t.flags.deleted
        );
        assert_eq!(t.flags.keywords, ["$Label1", "Junk"]);
        assert_eq!(m, b"Subject: s\r\nTo: t\r\n\r\nStatus: body\r\n");
        let mut plain = b"Subject: s\n\nbody\n".to_vec();
        let t = take_flag_headers(&mut plain);
        assert_eq!(t.flags, Flags::default());
        assert_eq!(plain, b"Subject: s\n\nbody\n");
    }

    fn write_read(msgs: &[(&[u8], Flags, (i64, i16))]) -> (Vec<u8>, Vec<Item>) {
        let d = tempfile::tempdir().unwrap();
        let p = d.path().join("box");
        let mut w = Writer::create(&p).unwrap();
        for (m, f, dt) in msgs {
            w.write(m, f, *dt).unwrap();
        }
        w.finish().unwrap();
        assert!(Writer::create(&p).is_err(), "never replaced");
        let raw = std::fs::read(&p).unwrap();
        let items = Reader::open(&p, Variant::Mboxrd).unwrap().collect();
        (raw, items)
    }

    #[test]
    fn written_messages_read_back_exactly() {
        let mut f = Flags {
            seen: true,
            deleted: true,
            ..Flags::default()
        };
        f.add_keyword("$Forwarded");
        let msgs: Vec<(&[u8], Flags, (i64, i16))> = vec![
            (
                b"Subject: a\r\n\r\nFrom here\r\n>From there\r\n>>From x\r\n\r\n",
                f.clone(),
                (1_000_000_000, 60),
            ),
            (
                b"Subject: cr\r\n\r\nbare\r\r\nFrom z\r\n",
                Flags::default(),
                (0, 0),
            ),
            (
                b"Subject: no body\r\n",
                Flags {
                    draft: true,
                    ..Flags::default()
                },
                (5, 0),
            ),
            (
                b"no header at all\r\n\r\nbody\r\n",
                Flags {
                    seen: true,
                    ..Flags::default()
                },
                (6, 0),
            ),
        ];
        let (raw, items) = write_read(&msgs);
        let text = String::from_utf8_lossy(&raw);
        assert!(text.starts_with("From MAILER-DAEMON Sun Sep  9 02:46:40 2001 +0100\nSubject: a\nStatus: RO\nX-Status: D\nX-Keywords: $Forwarded\n\n>From here\n>>From there\n>>>From x\n\n\n"), "{text}");
        assert_eq!(items.len(), 4);
        for (item, (m, fl, dt)) in items.iter().zip(&msgs) {
            let Item::Message(got) = item else {
                panic!("{item:?}")
            };
            assert_eq!(&crate::message::to_crlf(&got.bytes)[..], *m);
            assert_eq!(&got.flags, fl);
            assert_eq!(got.date, Some(*dt));
        }
    }

    #[test]
    fn truncated_and_non_mbox_files() {
        let d = tempfile::tempdir().unwrap();
        let p = d.path().join("t");
        std::fs::write(&p, "From a Thu Nov 29 22:33:52 2001\nSubject: 1\n\none\n\nFrom b Thu Nov 29 22:33:53 2001\nSubject: 2\n\ntw").unwrap();
        let items: Vec<Item> = Reader::open(&p, Variant::Mboxrd).unwrap().collect();
        assert!(matches!(&items[0], Item::Message(m) if m.bytes == b"Subject: 1\n\none\n"));
        assert!(
            matches!(&items[1], Item::Problem(p) if p.why.starts_with("truncated") && p.source.contains("message 2 (line 6)"))
        );
        std::fs::write(&p, "Subject: not an mbox\n").unwrap();
        assert!(Reader::open(&p, Variant::Mboxrd).is_err());
        std::fs::write(&p, "").unwrap();
        assert_eq!(Reader::open(&p, Variant::Mboxrd).unwrap().count(), 0);
        // An unquoted From line that is no separator stays in its message.
        std::fs::write(
            &p,
            "From a Thu Nov 29 22:33:52 2001\nSubject: 1\n\nFrom me to you\n\nFrom here on\n",
        )
        .unwrap();
        let items: Vec<Item> = Reader::open(&p, Variant::Mboxo).unwrap().collect();
        assert_eq!(items.len(), 1);
        assert!(
            matches!(&items[0], Item::Message(m) if m.bytes == b"Subject: 1\n\nFrom me to you\n\nFrom here on\n")
        );
    }

    #[test]
    fn mboxo_keeps_deeper_quotes() {
        let d = tempfile::tempdir().unwrap();
        let p = d.path().join("o");
        std::fs::write(
            &p,
            "From a Thu Nov 29 22:33:52 2001\nS: 1\n\n>From one\n>>From two\n",
        )
        .unwrap();
        let get = |v| match Reader::open(&p, v).unwrap().next() {
            Some(Item::Message(m)) => m.bytes,
            other => panic!("{other:?}"),
        };
        assert_eq!(get(Variant::Mboxo), b"S: 1\n\nFrom one\n>>From two\n");
        assert_eq!(get(Variant::Mboxrd), b"S: 1\n\nFrom one\n>From two\n");
    }

    /// Random files of the pieces mbox readers trip on: never a panic, and every
    /// message the reader yields is a slice of its input's lines.
    #[test]
    fn random_input_never_panics() {
        let pieces: [&[u8]; 14] = [
            b"From ",
            b"From a Thu Nov 29 22:33:52 2001\n",
            b">",
            b">>From ",
            b"\n",
            b"\r\n",
            b"\r",
            b"Status: RO\n",
            b"X-Keywords: a b\n",
            b" cont\n",
            b"Subject: x\n",
            b"\0",
            b"\xff\xfe",
            b"text",
        ];
        let mut seed = 0x2545_f491_4f6c_dd1du64;
        let mut next = || {
            seed ^= seed << 13;
            seed ^= seed >> 7;
            seed ^= seed << 17;
            seed
        };
        let d = tempfile::tempdir().unwrap();
        let p = d.path().join("r");
        for _ in 0..300 {
            let mut f = Vec::new();
            if next() % 4 != 0 {
                f.extend_from_slice(pieces[1]);
            }
            for _ in 0..(next() % 60) {
                f.extend_from_slice(pieces[(next() % pieces.len() as u64) as usize]);
            }
            std::fs::write(&p, &f).unwrap();
            for v in [Variant::Mboxrd, Variant::Mboxo] {
                if let Ok(r) = Reader::open(&p, v) {
                    for item in r {
                        if let Item::Message(mut m) = item {
                            let _ = take_flag_headers(&mut m.bytes);
                        }
                    }
                }
            }
            let _ = parse_from_line(&f);
            let mut w = Writer::create(&d.path().join(format!("w{}", next()))).unwrap();
            w.write(
                &f,
                &Flags {
                    seen: true,
                    ..Flags::default()
                },
                (next() as i64, 0),
            )
            .unwrap();
            w.finish().unwrap();
        }
    }
}
