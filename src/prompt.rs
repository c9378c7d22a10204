//! The `msgstore> ` prompt (line editing and history on a terminal) and scripts
//! (commands on standard input when it is not a terminal). Lines are split with
//! shell-like quoting, so `reconstruct "Other Users/joe/my stuff"` works.

use crate::cli::{Cli, Global};
use crate::commands::{self, Ctx, Exit, FAILED, OK};
use clap::Parser;
use std::io::{BufRead, IsTerminal};

const HELP: &str = "Commands: init, user add|list|delete, mailbox create|list|delete|rename, deliver, flags, expunge, reconstruct, x-build-user-db, dump, demo.\n`help COMMAND` or `COMMAND --help` for details; `quit` or Ctrl-D to leave.\nQuote names with spaces: reconstruct \"Other Users/joe/my stuff\"";

/// What one line asks for.
enum Line {
    Nothing,
    Quit,
    Run(Vec<String>),
    Bad(String),
}

fn split(line: &str) -> Line {
    let Some(words) = shlex::split(line) else {
        return Line::Bad("unbalanced quotes".into());
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
    let argv = std::iter::once("msgstore".to_string()).chain(words);
    match Cli::try_parse_from(argv) {
        Err(e) => {
            let code = if e.use_stderr() { FAILED } else { OK };
            let _ = e.print();
            code
        }
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
        let line = match line {
            Ok(l) => l,
            Err(e) => {
                eprintln!("msgstore: standard input, line {}: {e}", n + 1);
                return FAILED;
            }
        };
        match split(&line) {
            Line::Nothing => {}
            Line::Quit => break,
            Line::Bad(why) => {
                eprintln!("msgstore: standard input, line {}: {why}", n + 1);
                worst = worst.max(FAILED);
            }
            Line::Run(words) => worst = worst.max(run_words(global, words)),
        }
    }
    worst
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
        "msgstore {} — type `help`, or `quit` to leave",
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
                        run_words(global, words);
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
