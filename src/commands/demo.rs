//! `demo`: builds a sample store, damages it the ways real stores get damaged,
//! repairs it with x-build-user-db, reconstruct -m and reconstruct -r, and checks
//! that nothing was lost. The newcomer's first command.

use super::{Ctx, Exit, OK, PARTIAL};
use crate::cli::ReconstructArgs;
use crate::error::{Error, Result};
use crate::ops;
use crate::ops::deliver::Input;
use crate::output::Printer;
use crate::store::{INDEX_FILE, Store};
use std::collections::BTreeMap;
use std::path::PathBuf;

const MAILBOXES: [&str; 4] = ["joe", "joe/my stuff", "ann", "Public Folders/news"];

/// guid -> flags, per mailbox.
type Contents = BTreeMap<String, BTreeMap<String, Vec<String>>>;

fn io<'a>(p: &'a std::path::Path, op: &'static str) -> impl Fn(std::io::Error) -> Error + 'a {
    move |e| Error::io(p, op, e)
}

fn contents(store: &Store) -> Result<Contents> {
    let mut out = Contents::new();
    for m in MAILBOXES {
        let d = ops::dump::dump(store, m)?;
        out.insert(
            d.mailbox,
            d.messages.into_iter().map(|x| (x.guid, x.flags)).collect(),
        );
    }
    Ok(out)
}

pub fn demo(ctx: &Ctx, dir: Option<PathBuf>, count: u32) -> Result<Exit> {
    let root = dir.unwrap_or_else(|| {
        std::env::temp_dir().join(format!("msgstore-demo-{}", std::process::id()))
    });
    let say = |s: &str| {
        if !ctx.printer.json {
            println!("{s}");
        }
    };
    say(&format!("== building a sample store in {}", root.display()));
    let store = Store::at(&root);
    ops::init(&store)?;
    let store = Store::open(&root)?;
    ops::user::add(&store, &["joe".into(), "ann".into()])?;
    ops::mailbox::create(&store, "joe/my stuff")?;
    ops::mailbox::create(&store, "Public Folders/news")?;
    let per = (count as usize / MAILBOXES.len()).max(3);
    for (k, m) in MAILBOXES.iter().enumerate() {
        let inputs = (0..per)
            .map(|i| Input {
                label: format!("sample {k}/{i}"),
                bytes: crate::sample::message(1, (k * per + i) as u64, 6),
            })
            .collect();
        ops::deliver::deliver(&store, m, inputs)?;
        ops::flags::store_flags(&store, m, "1:*", &["\\Seen".into()], &[])?;
        ops::flags::store_flags(
            &store,
            m,
            "2",
            &["$Important".into(), "\\Flagged".into()],
            &[],
        )?;
    }
    ops::flags::store_flags(
        &store,
        "Public Folders/news",
        "3",
        &["\\Deleted".into()],
        &[],
    )?;
    let before = contents(&store)?;
    say(&format!(
        "   {} users, {} mailboxes, {} messages, flags set",
        2,
        MAILBOXES.len(),
        per * MAILBOXES.len()
    ));

    say("== damaging it");
    let dir_of = |m: &str| -> Result<PathBuf> {
        Ok(store.mailbox_dir(&crate::store::names::MailboxName::parse(m)?))
    };
    // (a) an index file lost
    let p = dir_of("joe")?.join(INDEX_FILE);
    std::fs::remove_file(&p).map_err(io(&p, "remove"))?;
    say("   Other Users/joe: index file deleted");
    // (b) an index file cut short
    let p = dir_of("joe/my stuff")?.join(INDEX_FILE);
    let len = std::fs::metadata(&p).map_err(io(&p, "stat"))?.len();
    std::fs::OpenOptions::new()
        .write(true)
        .open(&p)
        .and_then(|f| f.set_len(len / 2))
        .map_err(io(&p, "truncate"))?;
    say("   Other Users/joe/my stuff: index file truncated to half");
    // (c) a delivery interrupted after its file was written: a file with no record,
    // and the temporary file of another one
    let ann = dir_of("ann")?;
    let interrupted = crate::sample::message(1, 10_000, 6);
    let uidnext = ops::dump::dump(&store, "ann")?.uidnext;
    let p = ann.join(crate::store::message_file_name(uidnext));
    std::fs::write(&p, &interrupted).map_err(io(&p, "write"))?;
    let p = ann.join(format!("{}{}.999", crate::store::TMP_PREFIX, uidnext + 1));
    std::fs::write(&p, b"Subject: half written").map_err(io(&p, "write"))?;
    say(&format!(
        "   Other Users/ann: delivery of UID {uidnext} interrupted before its commit, a stale temporary file"
    ));
    // (d) an expunge interrupted between unlink and commit
    let news = dir_of("Public Folders/news")?;
    let p = news.join(crate::store::message_file_name(3));
    std::fs::remove_file(&p).map_err(io(&p, "remove"))?;
    say("   Public Folders/news: expunge of UID 3 interrupted after the unlink");
    // (f) a message with a NUL byte restored from a backup
    let p = ann.join(crate::store::message_file_name(uidnext + 50));
    std::fs::write(&p, b"Subject: binary junk\r\n\r\nnul \0 here\r\n").map_err(io(&p, "write"))?;
    say(&format!(
        "   Other Users/ann: a restored file {uidnext_bad}. with a NUL byte",
        uidnext_bad = uidnext + 50
    ));
    // (g) the user database overwritten, (h) the mailbox list lost
    let p = store.users_db();
    std::fs::write(&p, vec![0xA5u8; 8192]).map_err(io(&p, "write"))?;
    let p = store.mailboxes_db();
    std::fs::remove_file(&p).map_err(io(&p, "remove"))?;
    say("   users.redb overwritten with garbage; mailboxes.redb deleted");

    let sub = Ctx {
        printer: Printer {
            json: ctx.printer.json,
            quiet: ctx.printer.quiet,
        },
        root: root.clone(),
        interactive: true,
    };
    say("\n== msgstore x-build-user-db");
    super::reconstruct::build_user_db(&sub, false)?;
    say("\n== msgstore reconstruct -m");
    let args = |m: bool| ReconstructArgs {
        recurse: !m,
        mailbox_list: m,
        dry_run: false,
        full: false,
        quick: false,
        wait: false,
        mailboxes: vec![],
    };
    super::reconstruct::reconstruct(&sub, args(true))?;
    say("\n== msgstore reconstruct -r");
    let status = super::reconstruct::reconstruct(&sub, args(false))?;

    say("\n== checking that nothing was lost");
    let after = contents(&store)?;
    let mut problems = Vec::new();
    let mut present = 0;
    let mut total = 0;
    for (mailbox, msgs) in &before {
        let now = after.get(mailbox).cloned().unwrap_or_default();
        for (guid, flags) in msgs {
            let expunged =
                mailbox == "Public Folders/news" && flags.iter().any(|f| f == "\\Deleted");
            if expunged {
                if now.contains_key(guid) {
                    problems.push(format!("{mailbox}: an expunged message came back"));
                }
                continue;
            }
            total += 1;
            match now.get(guid) {
                Some(f) => {
                    present += 1;
                    // Flags survive wherever the index did.
                    let index_survived =
                        mailbox != "Other Users/joe" && mailbox != "Other Users/joe/my stuff";
                    if index_survived && f != flags {
                        problems.push(format!(
                            "{mailbox}: flags of {guid} changed from {flags:?} to {f:?}"
                        ));
                    }
                }
                None => problems.push(format!("{mailbox}: message {guid} lost")),
            }
        }
    }
    let recovered = after.get("Other Users/ann").is_some_and(|m| {
        m.contains_key(&crate::index::record::hex(
            blake3::hash(&interrupted).as_bytes(),
        ))
    });
    if !recovered {
        problems.push("the interrupted delivery was not recovered".into());
    }
    let bad_set_aside = ann
        .join(format!(
            "{}BAD",
            crate::store::message_file_name(uidnext + 50)
        ))
        .exists();
    if !bad_set_aside {
        problems.push("the NUL file was not set aside".into());
    }
    let summary = serde_json::json!({
        "store": root.display().to_string(),
        "messages_before": total,
        "messages_present": present,
        "interrupted_delivery_recovered": recovered,
        "nul_file_set_aside": bad_set_aside,
        "problems": problems,
    });
    ctx.printer.result(&summary, |s| {
        use std::fmt::Write;
        let _ = writeln!(s, "   {present} of {total} messages present with their content; the interrupted delivery recovered: {recovered}; the NUL file set aside: {bad_set_aside}");
        let _ = writeln!(s, "   flags kept in every mailbox whose index survived; the expunged message stayed expunged");
        for p in &problems {
            let _ = writeln!(s, "   PROBLEM: {p}");
        }
        let _ = writeln!(s, "{}", if problems.is_empty() { "nothing was lost." } else { "SOMETHING WAS LOST." });
        let _ = writeln!(s, "\nexplore it: msgstore --store {} dump joe", root.display());
    });
    Ok(if problems.is_empty() && status == OK {
        OK
    } else {
        PARTIAL
    })
}
