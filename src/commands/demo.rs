//! `demo`: builds a sample store, damages it the ways real stores get damaged,
//! repairs it with x-build-user-db, reconstruct -m and reconstruct -r, and checks
//! that nothing was lost. The newcomer's first command.

use super::{Ctx, Exit, OK, PARTIAL};
use crate::error::{Error, Result};
use crate::ops;
use crate::ops::deliver::Input;
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
    let root = dir
        .or_else(|| ctx.store_given.then(|| ctx.root.clone()))
        .unwrap_or_else(|| {
            std::env::temp_dir().join(format!("msgstore-demo-{}", std::process::id()))
        });
    let say = |s: &str| ctx.printer.line(s);
    say(&format!("== building a sample store in {}", root.display()));
    let store = Store::at(&root);
    ops::init(&store)?;
    let store = Store::open(&root)?;
    ops::user::add(&store, &["joe".into(), "ann".into()])?;
    ops::mailbox::create(&store, "joe/my stuff")?;
    ops::mailbox::create(&store, "Public Folders/news")?;
    // Exactly `count` messages (at least 3 a mailbox: clap checks count >= 12).
    let count = count as usize;
    let bar = ctx
        .printer
        .progress()
        .then(|| ctx.printer.bar(count as u64, "messages"));
    let mut n = 0u64;
    for (k, m) in MAILBOXES.iter().enumerate() {
        let per = count / MAILBOXES.len() + usize::from(k < count % MAILBOXES.len());
        // In batches, so memory stays small however many are asked for.
        for chunk in (0..per).collect::<Vec<_>>().chunks(500) {
            let inputs = chunk
                .iter()
                .map(|i| {
                    n += 1;
                    Input {
                        label: format!("sample {k}/{i}"),
                        bytes: crate::sample::message(1, n, 6),
                    }
                })
                .collect();
            ops::deliver::deliver(&store, m, inputs)?;
            if let Some(b) = &bar {
                b.inc(chunk.len() as u64);
            }
        }
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
    if let Some(b) = bar {
        b.finish_and_clear();
    }
    let before = contents(&store)?;
    say(&format!(
        "   {} users, {} mailboxes, {count} messages, flags set",
        2,
        MAILBOXES.len(),
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
    // Another seed than the mail above: its content is none of theirs.
    let interrupted = crate::sample::message(7, 1, 6);
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

    // The repairs, as the commands run them; their reports are printed (as text)
    // here, and with --json go into the one document at the end.
    say("\n== msgstore x-build-user-db");
    let users = ops::reconstruct::user_db(&store, false)?;
    say(&format!(
        "   {} kept, {} added (status recovered: their records were lost)",
        users.kept.len(),
        users.added.len()
    ));
    say("\n== msgstore reconstruct -m");
    let list = ops::reconstruct::mailbox_list(&store, false, false)?;
    say(&format!(
        "   {} kept, {} added from their directories, {} removed",
        list.kept.len(),
        list.added.len(),
        list.removed.len()
    ));
    for a in &list.added {
        say(&format!(
            "   {} (uidvalidity {} from {})",
            a.name, a.uidvalidity, a.uidvalidity_from
        ));
    }
    say("\n== msgstore reconstruct -r");
    let planned = ops::reconstruct::plan(&store, &[], true)?;
    let report = planned.run(
        &store,
        crate::reconstruct::Options {
            dry_run: false,
            check: ops::reconstruct::Check::Hash,
            wait: false,
        },
        &|_| {},
    );
    for m in &report.mailboxes {
        say(&format!(
            "   {}: {} messages: {} kept, {} added, {} renumbered, {} dropped, {} BAD{}",
            m.mailbox,
            m.messages,
            m.kept,
            m.added.len(),
            m.renumbered.len(),
            m.dropped.len(),
            m.bad.len(),
            m.moved_aside
                .as_ref()
                .map(|a| format!("; damaged index kept as {a}"))
                .unwrap_or_default()
        ));
    }
    let status = if report.incomplete() { PARTIAL } else { OK };

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
        "user_db": users,
        "mailbox_list": list,
        "reconstruct": report,
    });
    let me = std::env::current_exe()
        .map(|p| p.display().to_string())
        .unwrap_or_else(|_| "msgstore".into());
    ctx.printer.result(&summary, |s| {
        use std::fmt::Write;
        let _ = writeln!(s, "   {present} of {total} messages present with their content; the interrupted delivery recovered: {recovered}; the NUL file set aside: {bad_set_aside}");
        let _ = writeln!(s, "   flags kept in every mailbox whose index survived; the expunged message stayed expunged");
        for p in &problems {
            let _ = writeln!(s, "   PROBLEM: {p}");
        }
        let _ = writeln!(s, "{}", if problems.is_empty() { "nothing was lost." } else { "SOMETHING WAS LOST." });
        let _ = writeln!(s, "\nexplore it: {me} --store {} dump joe", root.display());
        let _ = writeln!(s, "(`cargo install --path .` puts `msgstore` on your PATH)");
    });
    Ok(if problems.is_empty() && status == OK {
        OK
    } else {
        PARTIAL
    })
}
