//! The `msgstore> ` prompt (line editing and history on a terminal) and scripts
//! (commands on standard input when it is not a terminal). Lines are split with
//! shell-like quoting, so `reconstruct "Other Users/joe/my stuff"` works.

use crate::cli::{Cli, Global};
use crate::commands::{self, Ctx, Exit, FAILED, OK};
use clap::Parser;
use std::io::{BufRead, IsTerminal};

const HELP: &str = "Commands: init, user add|list|delete, mailbox create|list|delete|rename, deliver, flags, expunge, reconstruct, x-build-user-db, dump, import, export, set-aside list|remove, completions, demo.\n`help COMMAND` or `COMMAND --help` for details; `quit` or Ctrl-D to leave.\nQuote names with spaces: reconstruct \"Other Users/joe/my stuff\"";

/// Set for a command the prompt runs: standard input is the terminal, not a message.
pub const FROM_PROMPT: &str = "MSGSTORE_FROM_PROMPT";

/// What one line asks for.
enum Line {
    Nothing,
    Quit,
    Run(Vec<String>),
    Bad(String),
}

fn split(line: &str) -> Line {
    let Some(words) = shlex::split(line) else {
        return Line::Bad(
            "unbalanced quotes: close the quote, or put a backslash before a quote that is part of a name".into(),
        );
    };
    match words.first().map(String::as_str) {
        None => Line::Nothing,
        Some(w) if w.starts_with('#') => Line::Nothing,
        Some("quit" | "exit") => Line::Quit,
        Some("help") if words.len() == 1 => Line::Run(vec!["--help".into()]),
        Some("help") => Line::Run(
            words[1..]
                .iter()
                .cloned()
                .chain(["--help".into()])
                .collect(),
        ),
        Some(_) => Line::Run(words),
    }
}

/// Runs one line's words with the outer invocation's global options as defaults.
fn run_words(global: &Global, words: Vec<String>) -> Exit {
    let argv: Vec<String> = std::iter::once("msgstore".to_string())
        .chain(words)
        .collect();
    match Cli::try_parse_from(&argv) {
        Err(e) => commands::refused(&e, &argv, global.json),
        Ok(cli) => {
            let Some(cmd) = cli.command else { return OK };
            let merged = Global {
                store: cli.global.store.or_else(|| global.store.clone()),
                json: cli.global.json || global.json,
                quiet: cli.global.quiet || global.quiet,
            };
            commands::run(&Ctx::new(&merged, true), cmd)
        }
    }
}

/// The prompt or the script runner; returns the exit status (the worst of a script's commands).
pub fn run(global: &Global) -> Exit {
    if std::io::stdin().is_terminal() {
        interactive(global)
    } else {
        script(global)
    }
}

fn script(global: &Global) -> Exit {
    let mut worst = OK;
    for (n, line) in std::io::stdin().lock().lines().enumerate() {
        let n = n + 1;
        let line = match line {
            Ok(l) => l,
            Err(e) => {
                eprintln!("msgstore: standard input, line {n}: {e}");
                return FAILED;
            }
        };
        match split(&line) {
            Line::Nothing => {}
            Line::Quit => break,
            Line::Bad(why) => {
                eprintln!("msgstore: standard input, line {n}: {why}");
                worst = worst.max(FAILED);
            }
            Line::Run(words) => {
                let status = run_words(global, words);
                if status != OK {
                    eprintln!(
                        "msgstore: standard input, line {n}: `{}` ended with exit status {}",
                        line.trim(),
                        status.code()
                    );
                }
                worst = worst.max(status);
            }
        }
    }
    worst
}

/// Runs one line's words as a child process, so that Ctrl-C stops that command
/// (the terminal sends SIGINT to both; the prompt ignores it while it waits) and
/// the prompt goes on. A command killed midway leaves the store as a crash would:
/// repairable by the write order, nothing lost.
fn run_child(global: &Global, words: Vec<String>) -> Exit {
    let exe = match std::env::current_exe() {
        Ok(e) => e,
        Err(_) => return run_words(global, words),
    };
    let mut cmd = std::process::Command::new(exe);
    if let Some(store) = global.store_given() {
        cmd.arg("--store").arg(store);
    }
    if global.json {
        cmd.arg("--json");
    }
    if global.quiet {
        cmd.arg("-q");
    }
    cmd.args(&words).env(FROM_PROMPT, "1");
    // An ignored signal stays ignored across exec: the child gets the default back.
    // SAFETY: between fork and exec only `signal`, which is async-signal-safe.
    unsafe {
        use std::os::unix::process::CommandExt;
        cmd.pre_exec(|| {
            libc::signal(libc::SIGINT, libc::SIG_DFL);
            Ok(())
        });
    }
    let _ignore = IgnoreInterrupts::new();
    match cmd.status() {
        Ok(st) => match st.code() {
            Some(0) => OK,
            Some(1) => commands::PARTIAL,
            Some(_) => FAILED,
            None => {
                eprintln!(
                    "msgstore: interrupted; the store is as a crash would leave it (run `reconstruct` on what it was working on)"
                );
                FAILED
            }
        },
        Err(e) => {
            eprintln!("msgstore: cannot run the command: {e}");
            FAILED
        }
    }
}

/// SIGINT ignored while it lives (the prompt waiting for its child).
struct IgnoreInterrupts(libc::sighandler_t);

impl IgnoreInterrupts {
    fn new() -> IgnoreInterrupts {
        // SAFETY: installs SIG_IGN for SIGINT and keeps the old disposition; no
        // handler code runs.
        IgnoreInterrupts(unsafe { libc::signal(libc::SIGINT, libc::SIG_IGN) })
    }
}

impl Drop for IgnoreInterrupts {
    fn drop(&mut self) {
        // SAFETY: restores the disposition saved in `new`.
        unsafe {
            libc::signal(libc::SIGINT, self.0);
        }
    }
}

fn interactive(global: &Global) -> Exit {
    let mut ed = match rustyline::DefaultEditor::new() {
        Ok(e) => e,
        Err(e) => {
            eprintln!("msgstore: cannot start the prompt: {e}");
            return FAILED;
        }
    };
    let history =
        std::env::var_os("HOME").map(|h| std::path::PathBuf::from(h).join(".msgstore_history"));
    if let Some(h) = &history {
        let _ = ed.load_history(h);
    }
    println!(
        "msgstore {} — type `help`, or `quit` to leave; Ctrl-C stops a command",
        env!("CARGO_PKG_VERSION")
    );
    loop {
        match ed.readline("msgstore> ") {
            Ok(line) => {
                let _ = ed.add_history_entry(line.as_str());
                match split(&line) {
                    Line::Nothing => {}
                    Line::Quit => break,
                    Line::Bad(why) => eprintln!("msgstore: {why}"),
                    Line::Run(words) if words == ["--help"] => println!("{HELP}"),
                    Line::Run(words) => {
                        run_child(global, words);
                    }
                }
            }
            Err(rustyline::error::ReadlineError::Interrupted) => continue,
            Err(_) => break,
        }
    }
    if let Some(h) = &history {
        let _ = ed.save_history(h);
    }
    OK
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn quoting_keeps_names_with_spaces_whole() {
        let Line::Run(w) = split(r#"reconstruct "Other Users/joe/my stuff" 'it''s' caf\ é"#)
        else {
            panic!()
        };
        assert_eq!(
            w,
            vec!["reconstruct", "Other Users/joe/my stuff", "its", "caf é"]
        );
        assert!(matches!(split("  "), Line::Nothing));
        assert!(matches!(split("# comment"), Line::Nothing));
        assert!(matches!(split("quit"), Line::Quit));
        assert!(matches!(split("dump \"joe"), Line::Bad(_)));
        let Line::Run(w) = split("help dump") else {
            panic!()
        };
        assert_eq!(w, vec!["dump", "--help"]);
    }
}
