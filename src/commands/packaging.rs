//! completions and man: what a package installs beside the binary, generated from
//! the clap definitions in `cli.rs` so they can never disagree with `--help`.

use super::{Ctx, Exit, OK};
use crate::error::{Error, Result};
use clap::CommandFactory;
use std::fmt::Write;
use std::path::Path;

/// The completion script for `shell`, on stdout (`--json`: as `{"shell", "script"}`).
pub fn completions(ctx: &Ctx, shell: clap_complete::Shell) -> Result<Exit> {
    let mut cmd = crate::cli::Cli::command();
    let mut script = Vec::new();
    clap_complete::generate(shell, &mut cmd, "msgstore", &mut script);
    let script = String::from_utf8_lossy(&script).into_owned();
    // A script is the result itself: -q does not silence it.
    let printer = crate::output::Printer {
        quiet: false,
        ..ctx.printer
    };
    printer.result(
        &serde_json::json!({ "shell": shell.to_string(), "script": script }),
        |s| s.push_str(&script),
    );
    Ok(OK)
}

/// One page per command, `msgstore.1`, `msgstore-user.1`, `msgstore-user-add.1`...,
/// written into `dir` (made if missing). Hidden commands (this one) get none.
pub fn man(ctx: &Ctx, dir: &Path) -> Result<Exit> {
    std::fs::create_dir_all(dir).map_err(|e| {
        Error::Usage(format!(
            "{}: cannot create the directory: {e}; give a directory you can write to",
            dir.display()
        ))
    })?;
    let mut cmd = crate::cli::Cli::command();
    cmd.build();
    let mut written = Vec::new();
    page(&cmd, "msgstore", "msgstore", dir, &mut written)?;
    let shown: Vec<String> = written.iter().map(|p| p.display().to_string()).collect();
    ctx.printer
        .result(&serde_json::json!({ "written": shown }), |s| {
            for p in &shown {
                let _ = writeln!(s, "wrote {p}");
            }
            let _ = writeln!(
                s,
                "{} manual page(s) in {}; read one with `man {}`",
                shown.len(),
                dir.display(),
                dir.join("msgstore.1").display()
            );
        });
    Ok(OK)
}

/// The page of `cmd`, `<name>.1` (`msgstore-user-add`, as `man` finds it; its
/// synopsis names the command as `typed`, `msgstore user add`), then its
/// subcommands'.
fn page(
    cmd: &clap::Command,
    name: &str,
    typed: &str,
    dir: &Path,
    written: &mut Vec<std::path::PathBuf>,
) -> Result<()> {
    let c = cmd.clone().name(name.to_owned()).bin_name(typed.to_owned());
    let mut buf = Vec::new();
    clap_mangen::Man::new(c)
        .title(name.to_uppercase())
        .section("1")
        .source(format!("msgstore {}", env!("CARGO_PKG_VERSION")))
        .manual("msgstore manual")
        .render(&mut buf)
        .map_err(|e| Error::io(dir, "render a manual page", e))?;
    let path = dir.join(format!("{name}.1"));
    std::fs::write(&path, &buf).map_err(|e| {
        Error::Usage(format!(
            "{}: cannot write the page: {e}; give a directory you can write to",
            path.display()
        ))
    })?;
    written.push(path);
    for sub in cmd.get_subcommands() {
        if sub.is_hide_set() || sub.get_name() == "help" {
            continue;
        }
        let sub_name = sub.get_name();
        page(
            sub,
            &format!("{name}-{sub_name}"),
            &format!("{typed} {sub_name}"),
            dir,
            written,
        )?;
    }
    Ok(())
}
