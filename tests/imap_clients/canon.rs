//! Response lines in a canonical form, so that two servers' answers compare on
//! what they mean: strings the same whether quoted or literal, FETCH items and
//! flags in one order, human text after a status dropped, values that differ by
//! nature (UIDVALIDITY, MODSEQ, capability lists) replaced by placeholders.

/// A token of a response line.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum Tok {
    Atom(String),
    /// Quoted or literal: the same string either way.
    Str(Vec<u8>),
    List(Vec<Tok>),
}

impl Tok {
    pub fn render(&self, out: &mut String) {
        match self {
            Tok::Atom(a) => out.push_str(a),
            Tok::Str(s) => {
                out.push('"');
                for &b in s {
                    match b {
                        b'"' => out.push_str("\\\""),
                        b'\\' => out.push_str("\\\\"),
                        b'\r' => out.push_str("\\r"),
                        b'\n' => out.push_str("\\n"),
                        0x20..=0x7e => out.push(b as char),
                        _ => out.push_str(&format!("\\x{b:02x}")),
                    }
                }
                out.push('"');
            }
            Tok::List(items) => {
                out.push('(');
                for (i, t) in items.iter().enumerate() {
                    if i > 0 {
                        out.push(' ');
                    }
                    t.render(out);
                }
                out.push(')');
            }
        }
    }

    pub fn shown(&self) -> String {
        let mut s = String::new();
        self.render(&mut s);
        s
    }
}

/// Parses tokens from `b` (a response line without its CRLF, literals inline).
pub fn tokens(b: &[u8]) -> Vec<Tok> {
    let mut i = 0;
    let mut out = Vec::new();
    while i < b.len() {
        match parse_one(b, &mut i) {
            Some(t) => out.push(t),
            None => break,
        }
    }
    out
}

fn parse_one(b: &[u8], i: &mut usize) -> Option<Tok> {
    while *i < b.len() && b[*i] == b' ' {
        *i += 1;
    }
    let c = *b.get(*i)?;
    match c {
        b'(' => {
            *i += 1;
            let mut items = Vec::new();
            loop {
                while *i < b.len() && b[*i] == b' ' {
                    *i += 1;
                }
                match b.get(*i) {
                    None => return Some(Tok::List(items)),
                    Some(b')') => {
                        *i += 1;
                        return Some(Tok::List(items));
                    }
                    _ => items.push(parse_one(b, i)?),
                }
            }
        }
        b')' => {
            // Unbalanced: take it as an atom so that nothing is lost.
            *i += 1;
            Some(Tok::Atom(")".into()))
        }
        b'"' => {
            *i += 1;
            let mut s = Vec::new();
            while let Some(&c) = b.get(*i) {
                *i += 1;
                match c {
                    b'\\' => {
                        if let Some(&n) = b.get(*i) {
                            s.push(n);
                            *i += 1;
                        }
                    }
                    b'"' => break,
                    c => s.push(c),
                }
            }
            Some(Tok::Str(s))
        }
        b'{' => {
            let close = b[*i..].iter().position(|&c| c == b'}')? + *i;
            let n: usize = std::str::from_utf8(&b[*i + 1..close])
                .ok()?
                .trim_end_matches('+')
                .parse()
                .ok()?;
            let start = close + 3; // "}\r\n"
            let end = (start + n).min(b.len());
            *i = end;
            Some(Tok::Str(b.get(start..end)?.to_vec()))
        }
        _ => {
            let mut s = String::new();
            let mut depth = 0;
            while let Some(&c) = b.get(*i) {
                if depth == 0 && (c == b' ' || c == b'(' || c == b')') {
                    break;
                }
                if c == b'[' {
                    depth += 1;
                } else if c == b']' && depth > 0 {
                    depth -= 1;
                }
                s.push(c as char);
                *i += 1;
            }
            Some(Tok::Atom(s))
        }
    }
}

/// The FETCH items of `* n FETCH (...)` as (name, value) pairs.
pub fn fetch_items(list: &[Tok]) -> Vec<(String, Tok)> {
    let mut out = Vec::new();
    let mut it = list.iter();
    while let Some(name) = it.next() {
        let name = match name {
            Tok::Atom(a) => a.to_ascii_uppercase(),
            other => other.shown(),
        };
        let value = it.next().cloned().unwrap_or(Tok::Atom(String::new()));
        out.push((name, value));
    }
    out
}

/// Sorts the atoms of a flag list (flag order means nothing).
pub fn sorted_flags(t: &Tok) -> Tok {
    match t {
        Tok::List(items) => {
            let mut v = items.clone();
            v.sort_by_key(|a| a.shown().to_ascii_lowercase());
            Tok::List(v)
        }
        other => other.clone(),
    }
}

/// A status line (`* OK [CODE] text`, `TAG NO text`...): the words up to the
/// response code, and the code with its brackets; `None` when not a status.
pub fn status(line: &str) -> Option<(String, Option<String>)> {
    let mut words = line.splitn(3, ' ');
    let tag = words.next()?;
    let st = words.next()?;
    if !matches!(
        st.to_ascii_uppercase().as_str(),
        "OK" | "NO" | "BAD" | "BYE" | "PREAUTH"
    ) {
        return None;
    }
    let rest = words.next().unwrap_or("");
    let code = rest
        .strip_prefix('[')
        .and_then(|r| r.find(']').map(|e| format!("[{}]", &r[..e])));
    Some((format!("{tag} {}", st.to_ascii_uppercase()), code))
}
