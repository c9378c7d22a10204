//! What a package installs beside the binary: shell completions and manual pages,
//! both generated from the clap definitions.

use crate::util::{BIN, Run};
use std::path::Path;
use std::process::{Command, Stdio};

fn bare(args: &[&str]) -> Run {
    let o = Command::new(BIN)
        .args(args)
        .stdin(Stdio::null())
        .env_remove("MSGSTORE_ROOT")
        .output()
        .unwrap();
    Run {
        code: o.status.code().unwrap_or(-1),
        stdout: String::from_utf8_lossy(&o.stdout).into_owned(),
        stderr: String::from_utf8_lossy(&o.stderr).into_owned(),
    }
}

/// The commands `msgstore --help` lists (hidden ones are not), as words.
fn listed_commands() -> Vec<String> {
    let help = bare(&["--help"]).ok().stdout;
    help.split("Commands:")
        .nth(1)
        .unwrap()
        .split("\n\n")
        .next()
        .unwrap()
        .lines()
        .filter_map(|l| l.split_whitespace().next().map(str::to_owned))
        .filter(|c| c != "help")
        .collect()
}

#[test]
fn completions_for_each_shell_name_every_listed_command() {
    let commands = listed_commands();
    assert!(commands.contains(&"set-aside".to_string()), "{commands:?}");
    assert!(!commands.contains(&"man".to_string()), "man is hidden");
    for (shell, marker) in [
        ("bash", "complete -F _msgstore"),
        ("zsh", "#compdef msgstore"),
        ("fish", "complete -c msgstore"),
        ("elvish", "edit:completion:arg-completer[msgstore]"),
        ("powershell", "Register-ArgumentCompleter"),
    ] {
        let r = bare(&["completions", shell]).ok();
        assert!(r.stdout.contains(marker), "{shell}: no {marker:?}");
        for c in &commands {
            assert!(r.stdout.contains(c.as_str()), "{shell}: no {c}");
        }
        assert!(r.stderr.is_empty(), "{shell}: {}", r.stderr);
    }
    // The bash script is one bash accepts, and it completes the subcommands.
    if Command::new("bash").arg("--version").output().is_ok() {
        let tmp = tempfile::tempdir().unwrap();
        let f = tmp.path().join("msgstore.bash");
        std::fs::write(&f, bare(&["completions", "bash"]).ok().stdout).unwrap();
        let script = format!(
            "source {}; COMP_WORDS=(msgstore set-aside r); COMP_CWORD=2; _msgstore msgstore r set-aside; printf '%s\\n' \"${{COMPREPLY[@]}}\"",
            f.display()
        );
        let o = Command::new("bash")
            .args(["--norc", "-c", &script])
            .output()
            .unwrap();
        let out = String::from_utf8_lossy(&o.stdout);
        assert!(o.status.success(), "{}", String::from_utf8_lossy(&o.stderr));
        assert_eq!(out.trim(), "remove", "bash completes `set-aside r`");
    }
    // -q does not silence the script (it is the result), --json wraps it.
    let q = bare(&["-q", "completions", "zsh"]).ok();
    assert!(q.stdout.contains("#compdef msgstore"));
    let j: serde_json::Value =
        serde_json::from_str(&bare(&["--json", "completions", "fish"]).ok().stdout).unwrap();
    assert_eq!(j["shell"], "fish");
    assert!(
        j["script"]
            .as_str()
            .unwrap()
            .contains("complete -c msgstore")
    );
    // An unknown shell: the usage error, in msgstore's form.
    let r = bare(&["completions", "tcsh"]).code(2);
    assert!(
        r.stderr.starts_with("msgstore: ") && r.stderr.contains("tcsh"),
        "{}",
        r.stderr
    );
}

#[test]
fn man_writes_one_page_per_command_from_the_definitions() {
    let tmp = tempfile::tempdir().unwrap();
    let dir = tmp.path().join("share/man/man1");
    let r = bare(&["man", dir.to_str().unwrap()]).ok();
    assert!(r.stdout.contains("manual page(s) in"), "{}", r.stdout);
    let mut pages: Vec<String> = std::fs::read_dir(&dir)
        .unwrap()
        .map(|e| e.unwrap().file_name().to_string_lossy().into_owned())
        .collect();
    pages.sort();
    // The top page, every listed command, and every subcommand of the groups.
    let mut want = vec!["msgstore.1".to_string()];
    for c in listed_commands() {
        want.push(format!("msgstore-{c}.1"));
    }
    for sub in [
        "user-add",
        "user-list",
        "user-delete",
        "user-passwd",
        "user-quota",
        "mailbox-create",
        "mailbox-list",
        "mailbox-delete",
        "mailbox-rename",
        "set-aside-list",
        "set-aside-remove",
    ] {
        want.push(format!("msgstore-{sub}.1"));
    }
    want.sort();
    assert_eq!(pages, want);
    assert!(
        !dir.join("msgstore-man.1").exists(),
        "no page for a hidden command"
    );

    let page = |name: &str| std::fs::read_to_string(dir.join(name)).unwrap();
    let top = page("msgstore.1");
    assert!(
        top.starts_with(".ie") || top.contains(".TH MSGSTORE 1"),
        "{top}"
    );
    assert!(top.contains("msgstore\\-reconstruct(1)"), "{top}");
    let rec = page("msgstore-reconstruct.1");
    assert!(rec.contains(".TH MSGSTORE-RECONSTRUCT 1"), "{rec}");
    for flag in ["recurse", "mailbox\\-list", "dry\\-run", "quick", "wait"] {
        assert!(rec.contains(flag), "reconstruct's page has no --{flag}");
    }
    // The synopsis names the command as it is typed, and the examples are there.
    let rm = page("msgstore-set-aside-remove.1");
    assert!(rm.contains("msgstore set\\-aside remove"), "{rm}");
    assert!(rm.contains("older\\-than 30d"), "{rm}");
    // groff reads them, where it is installed.
    if Command::new("groff").arg("--version").output().is_ok() {
        for p in &pages {
            let o = Command::new("groff")
                .args(["-man", "-Tutf8", "-ww"])
                .arg(dir.join(p))
                .stdout(Stdio::null())
                .output()
                .unwrap();
            assert!(
                o.status.success(),
                "{p}: {}",
                String::from_utf8_lossy(&o.stderr)
            );
            assert!(
                o.stderr.is_empty(),
                "{p}: {}",
                String::from_utf8_lossy(&o.stderr)
            );
        }
    }
    // Again into the same directory: the pages are replaced, nothing else changes.
    bare(&["-q", "man", dir.to_str().unwrap()]).ok();
    assert_eq!(std::fs::read_dir(&dir).unwrap().count(), want.len());

    // --json lists what it wrote.
    let j: serde_json::Value = serde_json::from_str(
        &bare(&["--json", "man", tmp.path().join("j").to_str().unwrap()])
            .ok()
            .stdout,
    )
    .unwrap();
    assert_eq!(j["written"].as_array().unwrap().len(), want.len());
}

#[test]
fn man_into_a_place_that_is_no_directory_says_where_and_what_to_do() {
    let tmp = tempfile::tempdir().unwrap();
    let file = tmp.path().join("a-file");
    std::fs::write(&file, "x").unwrap();
    let r = bare(&["man", file.join("man1").to_str().unwrap()]).code(2);
    assert!(
        r.stderr.starts_with("msgstore: ") && r.stderr.contains(&file.display().to_string()),
        "{}",
        r.stderr
    );
    let r = bare(&["--json", "man", file.to_str().unwrap()]).code(2);
    assert!(r.stdout.contains("\"error\""), "{}", r.stdout);
    assert!(Path::new(&file).is_file());
}
