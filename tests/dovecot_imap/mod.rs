//! Dovecot's real `imap` process, pre-authenticated over pipes, on a Maildir made
//! from the shared corpus: the reference the MIME section and search tests compare
//! against (`../shared/tools/dovecot/imap-preauth.sh`). Both `../shared` and the
//! `dovecot-imapd` package are optional: `Dovecot::start` says why it cannot run,
//! and the caller prints that and skips.
#![allow(dead_code)]

use std::io::{BufRead, BufReader, Read, Write};
use std::path::Path;
use std::process::{Child, ChildStdin, ChildStdout, Command, Stdio};

pub const SHARED: &str = concat!(env!("CARGO_MANIFEST_DIR"), "/../shared");

/// The corpus messages, sorted by their path under `real/` (`source/n.eml`).
pub fn corpus() -> Result<Vec<(String, Vec<u8>)>, String> {
    let root = Path::new(SHARED).join("corpus/real");
    if !root.is_dir() {
        return Err(
            "../shared/corpus/real not found (the corpus lives beside the checkout, never in it)"
                .into(),
        );
    }
    let mut files = Vec::new();
    let mut dirs = vec![root.clone()];
    while let Some(dir) = dirs.pop() {
        for e in std::fs::read_dir(&dir)
            .map_err(|e| e.to_string())?
            .flatten()
        {
            let p = e.path();
            if p.is_dir() {
                dirs.push(p);
            } else if p.extension().is_some_and(|x| x == "eml") {
                files.push(p);
            }
        }
    }
    files.sort();
    files
        .into_iter()
        .map(|p| {
            let rel = p
                .strip_prefix(&root)
                .map(|r| r.to_string_lossy().replace('\\', "/"))
                .unwrap_or_default();
            std::fs::read(&p)
                .map(|b| (rel, b))
                .map_err(|e| format!("{}: {e}", p.display()))
        })
        .collect()
}

pub struct Dovecot {
    child: Child,
    stdin: ChildStdin,
    out: BufReader<ChildStdout>,
    next_tag: u64,
    _work: tempfile::TempDir,
}

/// One untagged response with its literals inlined (`{N}\r\n` kept in front of
/// each literal's bytes), without the final CRLF.
pub type Response = Vec<u8>;

impl Dovecot {
    /// A session on a Maildir holding `messages` as UIDs 1, 2, ... in order.
    pub fn start(messages: &[&[u8]]) -> Result<Dovecot, String> {
        let script = Path::new(SHARED).join("tools/dovecot/imap-preauth.sh");
        if !script.is_file() {
            return Err("../shared/tools/dovecot/imap-preauth.sh not found".into());
        }
        let installed = Command::new("dpkg")
            .args(["-L", "dovecot-imapd"])
            .output()
            .map(|o| {
                o.status.success()
                    && String::from_utf8_lossy(&o.stdout)
                        .lines()
                        .any(|l| l.ends_with("/imap"))
            })
            .unwrap_or(false);
        if !installed {
            return Err("dovecot-imapd is not installed (apt-get install dovecot-imapd)".into());
        }
        let work = tempfile::tempdir().map_err(|e| e.to_string())?;
        let src = work.path().join("src");
        std::fs::create_dir(&src).map_err(|e| e.to_string())?;
        for (i, m) in messages.iter().enumerate() {
            // The script numbers UIDs by sorted file name.
            std::fs::write(src.join(format!("{:06}.eml", i + 1)), m).map_err(|e| e.to_string())?;
        }
        let maildir = work.path().join("dovecot");
        // The script hands the Maildir to this uid; as root that is nobody.
        let uid = unsafe { libc::getuid() };
        let owner = if uid == 0 { 65534 } else { uid };
        let run = |args: &[&Path]| {
            let mut c = Command::new("bash");
            c.arg(&script)
                .args(args)
                .env("DOVBENCH_UID", owner.to_string());
            c
        };
        let setup = run(&[Path::new("setup"), &src, &maildir])
            .stdout(Stdio::null())
            .output()
            .map_err(|e| e.to_string())?;
        if !setup.status.success() {
            return Err(format!(
                "imap-preauth.sh setup failed: {}",
                String::from_utf8_lossy(&setup.stderr)
            ));
        }
        // Pipes, not a socket (the script's header: Dovecot refuses a socket).
        let mut child = run(&[Path::new("run"), &maildir])
            .stdin(Stdio::piped())
            .stdout(Stdio::piped())
            .stderr(Stdio::null())
            .spawn()
            .map_err(|e| e.to_string())?;
        let stdin = child.stdin.take().ok_or("no stdin")?;
        let out = BufReader::new(child.stdout.take().ok_or("no stdout")?);
        let mut d = Dovecot {
            child,
            stdin,
            out,
            next_tag: 0,
            _work: work,
        };
        let greeting = d.read_response()?;
        if !greeting.starts_with(b"* PREAUTH") {
            return Err(format!(
                "unexpected greeting {:?}",
                String::from_utf8_lossy(&greeting)
            ));
        }
        d.command(b"SELECT INBOX")?;
        Ok(d)
    }

    /// Sends `cmd` and returns the untagged responses before its tagged OK.
    pub fn command(&mut self, cmd: &[u8]) -> Result<Vec<Response>, String> {
        self.next_tag += 1;
        let tag = format!("t{}", self.next_tag);
        let mut line = tag.clone().into_bytes();
        line.push(b' ');
        line.extend_from_slice(cmd);
        line.extend_from_slice(b"\r\n");
        self.stdin.write_all(&line).map_err(|e| e.to_string())?;
        self.stdin.flush().map_err(|e| e.to_string())?;
        let mut untagged = Vec::new();
        loop {
            let r = self.read_response()?;
            if r.starts_with(tag.as_bytes()) && r.get(tag.len()) == Some(&b' ') {
                let status = &r[tag.len() + 1..];
                if !status.starts_with(b"OK") {
                    return Err(format!(
                        "{}: {}",
                        String::from_utf8_lossy(cmd),
                        String::from_utf8_lossy(&r)
                    ));
                }
                return Ok(untagged);
            }
            untagged.push(r);
        }
    }

    /// A CHARSET UTF-8 SEARCH whose strings are sent as literals (LITERAL+), so any
    /// UTF-8 needle works; returns the matching UIDs.
    pub fn search(&mut self, keys: &[SearchKey]) -> Result<Vec<u32>, String> {
        let mut cmd = b"UID SEARCH CHARSET UTF-8".to_vec();
        for k in keys {
            cmd.push(b' ');
            match k {
                SearchKey::Atom(a) => cmd.extend_from_slice(a.as_bytes()),
                SearchKey::Str(s) => {
                    cmd.extend_from_slice(format!("{{{}+}}\r\n", s.len()).as_bytes());
                    cmd.extend_from_slice(s.as_bytes());
                }
            }
        }
        let mut uids = Vec::new();
        for r in self.command(&cmd)? {
            if let Some(rest) = r.strip_prefix(b"* SEARCH") {
                for n in String::from_utf8_lossy(rest).split_whitespace() {
                    uids.push(n.parse().map_err(|_| format!("bad uid {n}"))?);
                }
            }
        }
        uids.sort_unstable();
        Ok(uids)
    }

    fn read_response(&mut self) -> Result<Response, String> {
        let mut resp = Vec::new();
        loop {
            let mut line = Vec::new();
            let n = self
                .out
                .read_until(b'\n', &mut line)
                .map_err(|e| e.to_string())?;
            if n == 0 {
                return Err("dovecot closed the connection".into());
            }
            let body = line.strip_suffix(b"\r\n").unwrap_or(&line);
            resp.extend_from_slice(body);
            match literal_len(body) {
                Some(len) => {
                    resp.extend_from_slice(b"\r\n");
                    let mut lit = vec![0; len];
                    self.out.read_exact(&mut lit).map_err(|e| e.to_string())?;
                    resp.extend_from_slice(&lit);
                }
                None => return Ok(resp),
            }
        }
    }
}

impl Drop for Dovecot {
    fn drop(&mut self) {
        // End of input ends the session; wait for the tagged LOGOUT first.
        let _ = self.command(b"LOGOUT");
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

pub enum SearchKey {
    Atom(String),
    Str(String),
}

/// `{N}` at the end of a line.
fn literal_len(line: &[u8]) -> Option<usize> {
    let inner = line.strip_suffix(b"}")?;
    let open = inner.iter().rposition(|&b| b == b'{')?;
    std::str::from_utf8(&inner[open + 1..]).ok()?.parse().ok()
}

/// A FETCH item: its name as echoed and its value (None for NIL).
pub type Item = (String, Option<Vec<u8>>);

/// The items of `* N FETCH (...)`: (name, value) with literals and quoted strings
/// unwrapped and NIL as None.
pub fn fetch_items(resp: &[u8]) -> Result<(u32, Vec<Item>), String> {
    let err = || format!("unparsable FETCH: {:?}", String::from_utf8_lossy(resp));
    let rest = resp.strip_prefix(b"* ").ok_or_else(err)?;
    let sp = rest.iter().position(|&b| b == b' ').ok_or_else(err)?;
    let seq: u32 = std::str::from_utf8(&rest[..sp])
        .ok()
        .and_then(|s| s.parse().ok())
        .ok_or_else(err)?;
    let mut s = rest[sp..].strip_prefix(b" FETCH (").ok_or_else(err)?;
    let mut items = Vec::new();
    loop {
        if s.first() == Some(&b')') {
            return Ok((seq, items));
        }
        // The name runs to a space outside brackets.
        let mut depth = 0i32;
        let mut i = 0;
        while let Some(&b) = s.get(i) {
            match b {
                b'[' => depth += 1,
                b']' => depth -= 1,
                b' ' if depth == 0 => break,
                _ => {}
            }
            i += 1;
        }
        let name = String::from_utf8_lossy(&s[..i]).into_owned();
        s = s.get(i + 1..).ok_or_else(err)?;
        let (value, used) = if s.starts_with(b"NIL") {
            (None, 3)
        } else if s.first() == Some(&b'{') {
            let close = s.iter().position(|&b| b == b'}').ok_or_else(err)?;
            let len: usize = std::str::from_utf8(&s[1..close])
                .ok()
                .and_then(|t| t.parse().ok())
                .ok_or_else(err)?;
            let start = close + 3;
            (
                Some(s.get(start..start + len).ok_or_else(err)?.to_vec()),
                start + len,
            )
        } else if s.first() == Some(&b'"') {
            let mut v = Vec::new();
            let mut j = 1;
            while let Some(&b) = s.get(j) {
                match b {
                    b'\\' => {
                        j += 1;
                        v.push(*s.get(j).ok_or_else(err)?);
                    }
                    b'"' => break,
                    _ => v.push(b),
                }
                j += 1;
            }
            (Some(v), j + 1)
        } else {
            let end = s
                .iter()
                .position(|&b| b == b' ' || b == b')')
                .ok_or_else(err)?;
            (Some(s[..end].to_vec()), end)
        };
        items.push((name, value));
        s = s.get(used..).ok_or_else(err)?;
        if s.first() == Some(&b' ') {
            s = &s[1..];
        }
    }
}
