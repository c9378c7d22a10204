//! Text matching for IMAP SEARCH. Interim: case-insensitive substring on the raw
//! header values and the raw body, without decoding.

pub struct Searchable<'a> {
    raw: &'a [u8],
}

fn contains_ci(hay: &[u8], needle: &str) -> bool {
    let n = needle.as_bytes();
    if n.is_empty() {
        return true;
    }
    hay.windows(n.len()).any(|w| w.eq_ignore_ascii_case(n))
}

impl<'a> Searchable<'a> {
    pub fn new(raw: &'a [u8]) -> Searchable<'a> {
        Searchable { raw }
    }

    fn split(&self) -> (&'a [u8], &'a [u8]) {
        let r = self.raw;
        let mut i = 0;
        while i < r.len() {
            let end = memchr::memchr(b'\n', &r[i..]).map_or(r.len(), |p| i + p + 1);
            let line = &r[i..end];
            if line == b"\r\n" || line == b"\n" {
                return (&r[..i], &r[end..]);
            }
            i = end;
        }
        (r, &[])
    }

    fn values(&self, field: &[u8]) -> Vec<Vec<u8>> {
        let (h, _) = self.split();
        let mut out: Vec<Vec<u8>> = Vec::new();
        let mut cur: Option<Vec<u8>> = None;
        for line in h.split(|&b| b == b'\n') {
            let line = line.strip_suffix(b"\r").unwrap_or(line);
            if line.starts_with(b" ") || line.starts_with(b"\t") {
                if let Some(c) = cur.as_mut() {
                    c.extend_from_slice(line);
                }
                continue;
            }
            if let Some(c) = cur.take() {
                out.push(c);
            }
            if let Some(colon) = memchr::memchr(b':', line)
                && line[..colon].trim_ascii().eq_ignore_ascii_case(field)
            {
                cur = Some(line[colon + 1..].to_vec());
            }
        }
        out.extend(cur);
        out
    }

    pub fn header(&self, field: &[u8], needle: &str) -> bool {
        let v = self.values(field);
        if needle.is_empty() {
            return !v.is_empty();
        }
        v.iter().any(|x| contains_ci(x, needle))
    }

    pub fn body(&self, needle: &str) -> bool {
        contains_ci(self.split().1, needle)
    }

    pub fn text(&self, needle: &str) -> bool {
        contains_ci(self.raw, needle)
    }

    pub fn sent_date(&self) -> Option<(i32, u8, u8)> {
        let v = self.values(b"Date");
        let v = String::from_utf8_lossy(v.last()?).into_owned();
        let mut toks = v.split([' ', ',', '\t']).filter(|t| !t.is_empty());
        let mut t = toks.next()?;
        if t.parse::<u8>().is_err() {
            t = toks.next()?;
        }
        let d: u8 = t.parse().ok()?;
        let mon = toks.next()?.to_ascii_lowercase();
        let m = [
            "jan", "feb", "mar", "apr", "may", "jun", "jul", "aug", "sep", "oct", "nov", "dec",
        ]
        .iter()
        .position(|x| mon.starts_with(x))? as u8
            + 1;
        let mut y: i32 = toks.next()?.parse().ok()?;
        if y < 50 {
            y += 2000;
        } else if y < 1000 {
            y += 1900;
        }
        Some((y, m, d))
    }
}
