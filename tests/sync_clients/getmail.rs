//! getmail6 against msgstore: SimpleIMAPRetriever over TCP LOGIN on loopback into a
//! Maildir, `read_all = false`, so its oldmail files remember what it fetched (by
//! UIDVALIDITY/UID); its own "N messages retrieved" counts the bodies.

use crate::clients::{self, PASSWORD, deliver};
use crate::harness::{Store, run_bounded, skip};
use std::path::PathBuf;
use std::time::Duration;

pub struct Getmail {
    rc: PathBuf,
    state: PathBuf,
    pub maildir: PathBuf,
}

impl Getmail {
    pub fn new(s: &Store, name: &str, port: u16) -> Getmail {
        let dir = s.path(name);
        let maildir = dir.join("mail");
        for sub in ["cur", "new", "tmp"] {
            std::fs::create_dir_all(maildir.join(sub)).unwrap();
        }
        let state = dir.join("state");
        std::fs::create_dir_all(&state).unwrap();
        // As root getmail refuses to deliver unless it becomes another user, who
        // must then reach and write the Maildir.
        let user = if clients::is_root() {
            use std::os::unix::fs::PermissionsExt;
            let mut p = maildir.clone();
            while let Some(parent) = p.parent() {
                if parent == std::path::Path::new("/") {
                    break;
                }
                let m = std::fs::metadata(parent).unwrap().permissions().mode();
                std::fs::set_permissions(parent, std::fs::Permissions::from_mode(m | 0o711))
                    .unwrap();
                p = parent.to_path_buf();
            }
            for d in ["", "cur", "new", "tmp"] {
                std::fs::set_permissions(maildir.join(d), std::fs::Permissions::from_mode(0o777))
                    .unwrap();
            }
            "user = nobody\n"
        } else {
            ""
        };
        let rc = dir.join("getmailrc");
        std::fs::write(
            &rc,
            format!(
                "[retriever]\ntype = SimpleIMAPRetriever\nserver = 127.0.0.1\nport = {port}\nusername = joe\npassword = {PASSWORD}\nmailboxes = (\"INBOX\", \"work\", \"Archive/2023\")\n\n[destination]\ntype = Maildir\npath = {}/\n{user}\n[options]\nread_all = false\ndelete = false\nverbose = 1\n",
                maildir.display()
            ),
        )
        .unwrap();
        Getmail { rc, state, maildir }
    }

    /// Runs getmail once: how many messages it says it retrieved, and its output.
    /// Fails the test if getmail fails.
    #[track_caller]
    pub fn run(&self) -> (usize, String) {
        // Through a wrapper that fixes getmail's lost wakeup (see the script).
        // The Python getmail's own first line names, which has its modules.
        let script = getmail_path().expect("getmail on PATH");
        let text = std::fs::read_to_string(&script).unwrap_or_default();
        let python = text
            .lines()
            .next()
            .and_then(|l| l.strip_prefix("#!"))
            .map(|l| l.split_whitespace().collect::<Vec<_>>())
            .unwrap_or_default();
        let (exe, pre) = match python.split_first() {
            Some((e, rest)) => (e.to_string(), rest.iter().map(|a| a.to_string()).collect()),
            None => ("python3".to_owned(), Vec::new()),
        };
        let mut c = std::process::Command::new(exe);
        c.args(pre)
            .arg(
                std::path::Path::new(env!("CARGO_MANIFEST_DIR"))
                    .join("tests/sync_clients/getmail_wrapper.py"),
            )
            .arg(&script)
            .arg("--getmaildir")
            .arg(&self.state)
            .arg("--rcfile")
            .arg(&self.rc);
        let (code, out, err) = run_bounded(&mut c, Duration::from_secs(60));
        let all = format!("{out}{err}");
        assert_eq!(code, 0, "getmail failed:\n{all}");
        assert!(!all.contains("error"), "getmail reported an error:\n{all}");
        let n = all
            .lines()
            .filter_map(|l| l.trim().split_once(" messages ("))
            .filter_map(|(n, _)| n.parse::<usize>().ok())
            .sum();
        (n, all)
    }
}

/// The getmail script on PATH.
pub fn getmail_path() -> Option<PathBuf> {
    std::env::var_os("PATH").and_then(|p| {
        std::env::split_paths(&p)
            .map(|d| d.join("getmail"))
            .find(|f| f.is_file())
    })
}

#[test]
fn getmail_remembers_what_it_fetched() {
    if !clients::installed("getmail") {
        return skip("getmail (getmail6) is not installed");
    }
    let s = clients::store();
    crate::mbsync::fill(&s);
    let server = crate::harness::Server::start(&s, &[]);
    let g = Getmail::new(&s, "getmail", server.port);
    let (n, out) = g.run();
    assert_eq!(n, 6, "{out}");
    assert_eq!(clients::local(&g.maildir).len(), 6);
    let (n, out) = g.run();
    assert_eq!(n, 0, "a second run fetches nothing: {out}");
    deliver(&s, "joe/work", "w3");
    deliver(&s, "joe", "in4");
    let (n, out) = g.run();
    assert_eq!(n, 2, "only the new ones: {out}");
    let ids: Vec<String> = clients::local(&g.maildir)
        .values()
        .map(|l| l.id.clone())
        .collect();
    for id in ["in1", "in2", "in3", "in4", "w1", "w2", "w3", "a1"] {
        assert_eq!(
            ids.iter().filter(|i| *i == id).count(),
            1,
            "{id} in {ids:?}"
        );
    }
}
