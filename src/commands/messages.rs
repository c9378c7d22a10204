//! deliver, flags, expunge and dump.

use super::{Ctx, Exit, OK, PARTIAL};
use crate::error::{Error, Result};
use crate::ops;
use crate::ops::deliver::Input;
use std::fmt::Write;
use std::io::Read;
use std::path::PathBuf;

/// Files read and delivered at a time: memory stays bounded however many are given.
const BATCH: usize = 256;

fn refused(source: &std::path::Path, error: String) -> ops::deliver::Delivered {
    ops::deliver::Delivered {
        source: source.display().to_string(),
        uid: None,
        warning: None,
        error: Some(error),
    }
}

/// One message file's bytes, or why it is no message.
fn read_message(f: &std::path::Path) -> std::result::Result<Vec<u8>, String> {
    let meta = std::fs::metadata(f).map_err(|e| Error::io(f, "read", e).to_string())?;
    if meta.is_dir() {
        let maildir = ["cur", "new", "tmp"].iter().any(|d| f.join(d).is_dir());
        return Err(if maildir {
            format!(
                "{}: a Maildir, not a message; use `msgstore import MAILBOX {}` to add the messages it holds",
                f.display(),
                f.display()
            )
        } else {
            format!(
                "{}: a directory, not a message file; give message files",
                f.display()
            )
        });
    }
    if meta.len() > crate::message::MAX_MESSAGE_SIZE as u64 {
        return Err(format!(
            "{}: refused: it is larger than {} bytes",
            f.display(),
            crate::message::MAX_MESSAGE_SIZE
        ));
    }
    std::fs::read(f).map_err(|e| Error::io(f, "read", e).to_string())
}

pub fn deliver(ctx: &Ctx, mailbox: &str, files: Vec<PathBuf>) -> Result<Exit> {
    let store = ctx.store()?;
    let mut name = ops::OpenMailbox::open(&store, mailbox)?.name().to_string();
    let mut results = Vec::new();
    if files.is_empty() {
        if ctx.interactive {
            return Err(Error::Usage(
                "at the prompt or in a script, deliver needs FILE arguments".into(),
            ));
        }
        let mut bytes = Vec::new();
        std::io::stdin()
            .read_to_end(&mut bytes)
            .map_err(|e| Error::io("<stdin>", "read", e))?;
        let input = Input {
            label: "<stdin>".into(),
            bytes,
        };
        let (n, r) = ops::deliver::deliver(&store, mailbox, vec![input])?;
        name = n;
        results = r;
    }
    let bar = (files.len() > BATCH && ctx.printer.progress())
        .then(|| ctx.printer.bar(files.len() as u64, "messages"));
    for chunk in files.chunks(BATCH) {
        // In the order given: a file that cannot be read keeps its place.
        let mut slots: Vec<Option<ops::deliver::Delivered>> = Vec::with_capacity(chunk.len());
        let mut inputs = Vec::new();
        for f in chunk {
            match read_message(f) {
                Ok(bytes) => {
                    slots.push(None);
                    inputs.push(Input {
                        label: f.display().to_string(),
                        bytes,
                    });
                }
                Err(why) => slots.push(Some(refused(f, why))),
            }
        }
        let mut done = if inputs.is_empty() {
            Vec::new()
        } else {
            let (n, r) = ops::deliver::deliver(&store, mailbox, inputs)?;
            name = n;
            r
        }
        .into_iter();
        for slot in slots {
            match slot {
                Some(r) => results.push(r),
                None => results.extend(done.next()),
            }
        }
        if let Some(b) = &bar {
            b.inc(chunk.len() as u64);
        }
    }
    if let Some(b) = bar {
        b.finish_and_clear();
    }
    let failed = results.iter().filter(|r| r.error.is_some()).count();
    for r in &results {
        if let Some(e) = &r.error {
            ctx.printer.problem(e);
        }
        if let Some(w) = &r.warning {
            ctx.printer.warn(w);
        }
    }
    let delivered = results.len() - failed;
    let quiet = ctx.printer.quiet;
    ctx.printer.result(
        &serde_json::json!({ "mailbox": name, "delivered": delivered, "failed": failed, "messages": results }),
        |s| {
            if quiet {
                return;
            }
            for r in &results {
                if let Some(uid) = r.uid {
                    // The UID first, so scripts can take it; the file it came from
                    // after a tab (none for standard input).
                    if r.source == "<stdin>" {
                        let _ = writeln!(s, "{uid}");
                    } else {
                        let _ = writeln!(s, "{uid}\t{}", r.source);
                    }
                }
            }
        },
    );
    Ok(if failed > 0 { PARTIAL } else { OK })
}

pub fn flags(
    ctx: &Ctx,
    mailbox: &str,
    set: &str,
    add: &[String],
    remove: &[String],
) -> Result<Exit> {
    let store = ctx.store()?;
    let (name, changed) = ops::flags::store_flags(&store, mailbox, set, add, remove)?;
    let quiet = ctx.printer.quiet;
    ctx.printer.result(
        &serde_json::json!({ "mailbox": name, "changed": changed }),
        |s| {
            if quiet {
                return;
            }
            for c in &changed {
                let _ = writeln!(s, "{} ({}) modseq {}", c.uid, c.flags.join(" "), c.modseq);
            }
            if changed.is_empty() {
                let _ = writeln!(s, "no message changed");
            }
        },
    );
    Ok(OK)
}

pub fn expunge(ctx: &Ctx, mailbox: &str, set: Option<&str>) -> Result<Exit> {
    let store = ctx.store()?;
    let (name, gone) = ops::expunge::expunge(&store, mailbox, set)?;
    let quiet = ctx.printer.quiet;
    ctx.printer.result(
        &serde_json::json!({ "mailbox": name, "expunged": gone }),
        |s| {
            if quiet {
                return;
            }
            let _ = writeln!(
                s,
                "expunged {} message(s){}{}",
                gone.len(),
                if gone.is_empty() { "" } else { ": " },
                crate::uidset::format(&gone)
            );
        },
    );
    Ok(OK)
}

pub fn dump(ctx: &Ctx, mailbox: &str) -> Result<Exit> {
    let store = ctx.store()?;
    let d = ops::dump::dump(&store, mailbox)?;
    ctx.printer.result(&d, |s| {
        let _ = writeln!(s, "mailbox {}", d.mailbox);
        let _ = writeln!(
            s,
            "uidvalidity {}  uidnext {}  highestmodseq {}  messages {}",
            d.uidvalidity,
            d.uidnext,
            d.highestmodseq,
            d.messages.len()
        );
        for m in &d.messages {
            let _ = writeln!(
                s,
                "\nuid {}  flags ({})  internaldate \"{}\"  size {}  modseq {}\n  guid {}\n  envelope {}\n  bodystructure {}\n  body {}",
                m.uid,
                m.flags.join(" "),
                m.internaldate,
                m.size,
                m.modseq,
                m.guid,
                m.strings.envelope,
                m.strings.bodystructure,
                m.strings.body
            );
        }
    });
    Ok(OK)
}
