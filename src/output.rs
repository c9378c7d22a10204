//! The printer: results to stdout as text or one JSON document, errors and warnings
//! to stderr, progress bars on stderr only when it is a terminal and not with
//! `--json` or `-q`. `-q` means errors and warnings only.

use serde::Serialize;
use std::io::{IsTerminal, Write};

#[derive(Clone, Copy, Debug)]
pub struct Printer {
    pub json: bool,
    pub quiet: bool,
}

impl Printer {
    /// Prints a result: `value` as JSON, or the text `text` writes; under `-q` (and
    /// no `--json`) nothing: errors and warnings go to stderr on their own.
    pub fn result<T: Serialize>(&self, value: &T, text: impl FnOnce(&mut String)) {
        if self.quiet && !self.json {
            return;
        }
        if self.json {
            // Written as it is encoded: a rebuild's report lists every UID, and one
            // string of it all was fresh memory the kernel zeroed on the run's tail.
            let mut out = std::io::BufWriter::new(std::io::stdout().lock());
            if let Err(e) = serde_json::to_writer_pretty(&mut out, value) {
                if !e.is_io() {
                    eprintln!("msgstore: cannot encode the result as JSON: {e}");
                    std::process::exit(2);
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

    /// The error that stopped a command, on stderr; with --json also as
    /// `{"error": ...}` on stdout so a script always gets one document.
    pub fn error(&self, msg: &str) {
        eprintln!("msgstore: {msg}");
        if self.json {
            write_stdout(&(serde_json::json!({ "error": msg }).to_string() + "\n"));
        }
    }

    /// A failure of one item of a command that went on (its JSON is in the result).
    pub fn problem(&self, msg: &str) {
        eprintln!("msgstore: {msg}");
    }

    pub fn warn(&self, msg: &str) {
        eprintln!("msgstore: warning: {msg}");
    }

    /// A line of a command's narrative (the demo's), on stdout; left out under
    /// `-q` and `--json`, where the result says it all.
    pub fn line(&self, msg: &str) {
        if !self.quiet && !self.json {
            write_stdout(&format!("{msg}\n"));
        }
    }

    /// A note for people; left out under `-q` and `--json`.
    pub fn note(&self, msg: &str) {
        if !self.quiet && !self.json {
            eprintln!("{msg}");
        }
    }

    /// Whether to show progress bars.
    pub fn progress(&self) -> bool {
        !self.json && !self.quiet && std::io::stderr().is_terminal()
    }

    /// A progress bar of `total` `unit`s, on stderr.
    pub fn bar(&self, total: u64, unit: &str) -> indicatif::ProgressBar {
        let b = indicatif::ProgressBar::new(total);
        let style = indicatif::ProgressStyle::with_template(&format!(
            "{{bar:40}} {{pos}}/{{len}} {unit} {{rate}} eta {{eta}}"
        ))
        .unwrap_or_else(|_| indicatif::ProgressStyle::default_bar())
        // A whole number a second: indicatif's own shows four decimals.
        .with_key(
            "rate",
            |s: &indicatif::ProgressState, w: &mut dyn std::fmt::Write| {
                let _ = write!(w, "{:.0}/s", s.per_sec());
            },
        );
        b.set_style(style);
        b
    }
}

/// A closed pipe (`msgstore dump joe | head`) is a quiet success, not an error.
fn write_stdout(s: &str) {
    let mut out = std::io::stdout().lock();
    if let Err(e) = out.write_all(s.as_bytes()).and_then(|()| out.flush()) {
        stdout_failed(e);
    }
}

/// A reader that went away (`| head`) is no error; anything else (a full disk
/// behind `> file`) is, and the command fails with exit status 2.
fn stdout_failed(e: std::io::Error) {
    if e.kind() == std::io::ErrorKind::BrokenPipe {
        std::process::exit(0);
    }
    eprintln!("msgstore: cannot write to standard output: {e}; the result is incomplete");
    std::process::exit(2);
}
