//! The printer: results to stdout as text or one JSON document, errors and warnings
//! to stderr, progress bars on stderr only when it is a terminal and not with --json.

use serde::Serialize;
use std::io::{IsTerminal, Write};

#[derive(Clone, Copy, Debug)]
pub struct Printer {
    pub json: bool,
    pub quiet: bool,
}

impl Printer {
    /// Prints a result: `value` as JSON, or the text `text` writes.
    pub fn result<T: Serialize>(&self, value: &T, text: impl FnOnce(&mut String)) {
        if self.json {
            // Written as it is encoded: a rebuild's report lists every UID, and one
            // string of it all was fresh memory the kernel zeroed on the run's tail.
            let mut out = std::io::BufWriter::new(std::io::stdout().lock());
            if let Err(e) = serde_json::to_writer_pretty(&mut out, value) {
                if !e.is_io() {
                    eprintln!("msgstore: cannot encode result: {e}");
                    return;
                }
                return stdout_failed(e.into());
            }
            if let Err(e) = out.write_all(b"\n").and_then(|()| out.flush()) {
                stdout_failed(e);
            }
        } else {
            let mut s = String::new();
            text(&mut s);
            write_stdout(&s);
        }
    }

    /// An error, on stderr; with --json also as `{"error": ...}` on stdout so a
    /// script always gets one document.
    pub fn error(&self, msg: &str) {
        eprintln!("msgstore: {msg}");
        if self.json {
            write_stdout(&(serde_json::json!({ "error": msg }).to_string() + "\n"));
        }
    }

    pub fn warn(&self, msg: &str) {
        if !self.quiet {
            eprintln!("msgstore: {msg}");
        }
    }

    /// Whether to show progress bars.
    pub fn progress(&self) -> bool {
        !self.json && !self.quiet && std::io::stderr().is_terminal()
    }
}

/// A closed pipe (`msgstore dump joe | head`) is a quiet success, not an error.
fn write_stdout(s: &str) {
    let mut out = std::io::stdout().lock();
    if let Err(e) = out.write_all(s.as_bytes()).and_then(|()| out.flush()) {
        stdout_failed(e);
    }
}

/// A reader that went away (`| head`) is no error; anything else is said once.
fn stdout_failed(e: std::io::Error) {
    if e.kind() == std::io::ErrorKind::BrokenPipe {
        std::process::exit(0);
    }
    eprintln!("msgstore: cannot write to standard output: {e}");
}
