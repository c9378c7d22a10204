//! Keeps `schema/` true: parses the documents' tables and compares them with the
//! code that reads and writes the formats. Fails when a record field is added,
//! moved, resized, retyped or renamed on either side, when a redb table or a meta
//! key appears, disappears or changes type, when a format version changes without
//! the document, and when a reserved file name or the name encoding changes.
//!
//! The field lists below name each struct's fields so `offset_of!` can reach them;
//! they are checked to cover every byte of the struct, so a field added in code but
//! not here (or in the document) fails too.

use msgstore::db::mailboxes::{self, MailboxRecord, MailboxRecordV1};
use msgstore::db::users::{self, Status, User, UserHead, UserRecord};
use msgstore::db::{self};
use msgstore::error::DbKind;
use msgstore::index::record::{self, CacheHead, Header, HeaderV1, Identity, Record};
use msgstore::index::{self as index, Index};
use msgstore::store::{self, Entry, Store};
use redb::{ReadableDatabase, ReadableTable, TableDefinition, TableHandle};
use std::collections::BTreeSet;
use std::mem::{offset_of, size_of, size_of_val};
use std::path::{Path, PathBuf};

// ---------------------------------------------------------------- the documents

/// One Markdown table, with the heading it sits under.
#[derive(Debug)]
struct MdTable {
    heading: String,
    header: Vec<String>,
    rows: Vec<Vec<String>>,
}

struct Doc {
    file: String,
    text: String,
    tables: Vec<MdTable>,
}

fn root() -> PathBuf {
    PathBuf::from(env!("CARGO_MANIFEST_DIR"))
}

fn cells(line: &str) -> Vec<String> {
    let inner = line.trim().trim_start_matches('|').trim_end_matches('|');
    inner.split('|').map(|c| c.trim().to_owned()).collect()
}

/// A cell's text without the backticks around it.
fn plain(cell: &str) -> &str {
    cell.strip_prefix('`')
        .and_then(|c| c.strip_suffix('`'))
        .unwrap_or(cell)
}

impl Doc {
    fn load(name: &str) -> Doc {
        let file = format!("schema/{name}");
        let text =
            std::fs::read_to_string(root().join(&file)).unwrap_or_else(|e| panic!("{file}: {e}"));
        let mut tables: Vec<MdTable> = Vec::new();
        let mut heading = String::new();
        let mut in_code = false;
        let mut in_table = false;
        for line in text.lines() {
            if line.trim_start().starts_with("```") {
                in_code = !in_code;
                in_table = false;
                continue;
            }
            if in_code {
                continue;
            }
            if line.starts_with('#') {
                heading = line.trim_start_matches('#').trim().to_owned();
            }
            if line.trim_start().starts_with('|') {
                let c = cells(line);
                if !in_table {
                    tables.push(MdTable {
                        heading: heading.clone(),
                        header: c,
                        rows: Vec::new(),
                    });
                    in_table = true;
                } else if !c
                    .iter()
                    .all(|x| !x.is_empty() && x.chars().all(|ch| ch == '-' || ch == ':'))
                {
                    tables.last_mut().unwrap().rows.push(c);
                }
            } else {
                in_table = false;
            }
        }
        Doc { file, text, tables }
    }

    fn tables(&self, header: &[&str]) -> Vec<&MdTable> {
        self.tables
            .iter()
            .filter(|t| {
                t.header
                    .iter()
                    .map(String::as_str)
                    .eq(header.iter().copied())
            })
            .collect()
    }

    fn table(&self, header: &[&str]) -> &MdTable {
        let t = self.tables(header);
        assert_eq!(
            t.len(),
            1,
            "{}: want exactly one table with columns {header:?}",
            self.file
        );
        t[0]
    }

    /// The number on the one line `LABEL: N`.
    fn number(&self, label: &str) -> u64 {
        let prefix = format!("{label}:");
        let lines: Vec<&str> = self
            .text
            .lines()
            .filter(|l| l.starts_with(&prefix))
            .collect();
        assert_eq!(
            lines.len(),
            1,
            "{}: want exactly one line `{label}: N`",
            self.file
        );
        lines[0][prefix.len()..]
            .trim()
            .parse()
            .unwrap_or_else(|_| panic!("{}: {:?} is not `{label}: N`", self.file, lines[0]))
    }
}

/// Collects every disagreement, so one run shows them all.
struct Check {
    file: String,
    errors: Vec<String>,
}

impl Check {
    fn new(doc: &Doc) -> Check {
        Check {
            file: doc.file.clone(),
            errors: Vec::new(),
        }
    }

    fn eq<T: PartialEq + std::fmt::Debug>(&mut self, what: &str, doc: T, code: T) {
        if doc != code {
            self.errors.push(format!(
                "{what}: the document says {doc:?}, the code has {code:?}"
            ));
        }
    }

    fn ok(&mut self, what: &str, cond: bool) {
        if !cond {
            self.errors.push(what.to_owned());
        }
    }

    fn finish(self) {
        assert!(
            self.errors.is_empty(),
            "{} and the code disagree:\n  - {}",
            self.file,
            self.errors.join("\n  - ")
        );
    }
}

// ------------------------------------------------------------- record layouts

struct Field {
    name: &'static str,
    offset: usize,
    size: usize,
    ty: String,
}

struct Layout {
    name: &'static str,
    size: usize,
    fields: Vec<Field>,
}

fn type_name_of<F>(_: &F) -> &'static str {
    std::any::type_name::<F>()
}

/// `zerocopy::byteorder::U32<zerocopy::byteorder::LittleEndian>` -> `u32 le`,
/// `[u8; 32]` -> `[u8; 32]`, `[U64<LittleEndian>; 2]` -> `[u64 le; 2]`.
fn doc_type(rust: &str) -> String {
    if let Some(inner) = rust.strip_prefix('[').and_then(|s| s.strip_suffix(']')) {
        let (elem, n) = inner.rsplit_once("; ").expect("array type");
        return format!("[{}; {n}]", doc_type(elem));
    }
    if let Some((base, order)) = rust.split_once('<') {
        let short = base.rsplit("::").next().unwrap().to_lowercase();
        let order = if order.contains("LittleEndian") {
            "le"
        } else {
            "BIG ENDIAN"
        };
        return format!("{short} {order}");
    }
    rust.to_owned()
}

macro_rules! layout {
    ($ty:ident { $($field:ident),* $(,)? }) => {{
        let v = <$ty>::default();
        Layout {
            name: stringify!($ty),
            size: size_of::<$ty>(),
            fields: vec![$(Field {
                name: stringify!($field),
                offset: offset_of!($ty, $field),
                size: size_of_val(&v.$field),
                ty: doc_type(type_name_of(&v.$field)),
            }),*],
        }
    }};
}

const LAYOUT_COLUMNS: [&str; 5] = ["offset", "size", "field", "type", "meaning"];

/// The first `word` in backticks of a heading: the struct a layout table describes.
fn heading_struct(heading: &str) -> Option<&str> {
    let start = heading.find('`')? + 1;
    let len = heading[start..].find('`')?;
    Some(&heading[start..start + len])
}

fn check_layouts(c: &mut Check, doc: &Doc, code: &[Layout]) {
    let tables = doc.tables(&LAYOUT_COLUMNS);
    let documented: Vec<&str> = tables
        .iter()
        .filter_map(|t| heading_struct(&t.heading))
        .collect();
    c.eq(
        "records with a layout table",
        documented.clone(),
        code.iter().map(|l| l.name).collect(),
    );
    for l in code {
        // The test's field list must cover the struct byte for byte, so a field
        // added in code (and not here) is caught even before the document is read.
        let mut end = 0;
        for f in &l.fields {
            c.ok(
                &format!(
                    "{}: field `{}` is at {} but the one before it ends at {end} (a field missing from tests/schema.rs?)",
                    l.name, f.name, f.offset
                ),
                f.offset == end,
            );
            end = f.offset + f.size;
        }
        c.ok(
            &format!(
                "{}: the fields cover {end} bytes of {} (a field missing from tests/schema.rs?)",
                l.name, l.size
            ),
            end == l.size,
        );

        let Some(t) = tables
            .iter()
            .find(|t| heading_struct(&t.heading) == Some(l.name))
        else {
            continue;
        };
        c.ok(
            &format!(
                "{}: the heading {:?} does not say \"({} bytes)\"",
                l.name, t.heading, l.size
            ),
            t.heading.contains(&format!("({} bytes)", l.size)),
        );
        c.eq(
            &format!("{}: fields, in order", l.name),
            t.rows
                .iter()
                .map(|r| plain(&r[2]).to_owned())
                .collect::<Vec<_>>(),
            l.fields.iter().map(|f| f.name.to_owned()).collect(),
        );
        let mut doc_end = 0;
        for row in &t.rows {
            let name = plain(&row[2]);
            let offset: usize = row[0].parse().unwrap_or(usize::MAX);
            let size: usize = row[1].parse().unwrap_or(usize::MAX);
            c.ok(
                &format!("{}: the document's `{name}` is at {offset}, not where the row before ends ({doc_end})", l.name),
                offset == doc_end,
            );
            doc_end = offset.saturating_add(size);
            let Some(f) = l.fields.iter().find(|f| f.name == name) else {
                continue;
            };
            c.eq(&format!("{}.{name}: offset", l.name), offset, f.offset);
            c.eq(&format!("{}.{name}: size", l.name), size, f.size);
            c.eq(
                &format!("{}.{name}: type", l.name),
                plain(&row[3]),
                f.ty.as_str(),
            );
        }
        c.eq(&format!("{}: total size", l.name), doc_end, l.size);
    }
}

/// The meaning column of one field's row.
fn meaning<'d>(doc: &'d Doc, record: &str, field: &str) -> &'d str {
    doc.tables(&LAYOUT_COLUMNS)
        .into_iter()
        .filter(|t| heading_struct(&t.heading) == Some(record))
        .flat_map(|t| t.rows.iter())
        .find(|r| plain(&r[2]) == field)
        .map(|r| r[4].as_str())
        .unwrap_or("")
}

// ---------------------------------------------------------------- redb tables

fn table_def<K: redb::Key + 'static, V: redb::Value + 'static>(
    t: TableDefinition<K, V>,
) -> (String, String, String) {
    (
        t.name().to_owned(),
        K::type_name().name().to_owned(),
        V::type_name().name().to_owned(),
    )
}

/// Every `TableDefinition::new("NAME")` in the given source files.
fn tables_in_source(files: &[&str]) -> BTreeSet<String> {
    strings_after(files, "TableDefinition::new(\"")
}

/// Every `const X_KEY: &str = "NAME"` in the given source files.
fn keys_in_source(files: &[&str]) -> BTreeSet<String> {
    let mut out = BTreeSet::new();
    for f in files {
        let src = std::fs::read_to_string(root().join(f)).unwrap();
        for line in src.lines() {
            if let Some((_, rest)) = line.split_once("_KEY: &str = \"") {
                out.insert(rest.split('"').next().unwrap().to_owned());
            }
        }
    }
    out
}

fn strings_after(files: &[&str], marker: &str) -> BTreeSet<String> {
    let mut out = BTreeSet::new();
    for f in files {
        let src = std::fs::read_to_string(root().join(f)).unwrap();
        for piece in src.split(marker).skip(1) {
            out.insert(piece.split('"').next().unwrap().to_owned());
        }
    }
    out
}

fn check_tables(
    c: &mut Check,
    doc: &Doc,
    code: &[(String, String, String)],
    sources: &[&str],
    on_disk: BTreeSet<String>,
) {
    let t = doc.table(&["table", "key", "value", "meaning"]);
    let documented: BTreeSet<(String, String, String)> = t
        .rows
        .iter()
        .map(|r| {
            (
                plain(&r[0]).to_owned(),
                plain(&r[1]).to_owned(),
                plain(&r[2]).to_owned(),
            )
        })
        .collect();
    c.eq(
        "redb tables (name, key type, value type)",
        documented.clone(),
        code.iter().cloned().collect(),
    );
    let names: BTreeSet<String> = documented.into_iter().map(|t| t.0).collect();
    c.eq(
        "redb tables defined in the source",
        names.clone(),
        tables_in_source(sources),
    );
    c.eq("redb tables in a file the code creates", names, on_disk);
}

fn check_meta_keys(c: &mut Check, doc: &Doc, code: &[&str], sources: &[&str]) {
    let t = doc.table(&["key", "value"]);
    let documented: BTreeSet<String> = t.rows.iter().map(|r| plain(&r[0]).to_owned()).collect();
    c.eq(
        "keys of the meta table",
        documented.clone(),
        code.iter().map(|s| s.to_string()).collect(),
    );
    c.eq(
        "keys of the meta table in the source",
        documented,
        keys_in_source(sources),
    );
}

fn check_common(c: &mut Check, doc: &Doc, version: u64, little_endian: bool) {
    c.eq("Format version", doc.number("Format version"), version);
    if little_endian {
        c.eq(
            "times \"All integers are little-endian\" is said",
            doc.text.matches("All integers are little-endian").count(),
            1,
        );
    }
    let log = doc.text.rsplit_once("\n## ").map(|(_, s)| s).unwrap_or("");
    c.ok(
        "the last section is `## Version changes`",
        log.starts_with("Version changes\n"),
    );
    c.ok(
        &format!("the version changes log has no entry `- {version} ...`"),
        log.lines().any(|l| l.starts_with(&format!("- {version} "))),
    );
}

/// Whether `example` is `pattern` with its placeholders filled in: `<uid>` and
/// `<pid>` are decimal numbers, `<UTC time>` has the shape of `stamp`, and
/// `<encoded name>` is a directory name the decoder accepts.
fn fits(pattern: &str, example: &str, stamp: &str) -> bool {
    let Some(open) = pattern.find('<') else {
        return pattern == example;
    };
    let Some(example) = example.strip_prefix(&pattern[..open]) else {
        return false;
    };
    let close = open + pattern[open..].find('>').unwrap();
    let rest = &pattern[close + 1..];
    let take = match &pattern[open..=close] {
        "<uid>" | "<pid>" | "<n>" => example.bytes().take_while(u8::is_ascii_digit).count(),
        "<UTC time>" => {
            let shape = |s: &str| -> Vec<bool> { s.bytes().map(|b| b.is_ascii_digit()).collect() };
            let n = stamp.len().min(example.len());
            if shape(&example[..n]) != shape(stamp) {
                return false;
            }
            n
        }
        "<encoded name>" => {
            if msgstore::store::names::decode(example).is_none() {
                return false;
            }
            example.len()
        }
        _ => return false,
    };
    take > 0 && fits(rest, &example[take..], stamp)
}

fn redb_tables(path: &Path) -> BTreeSet<String> {
    let db = redb::Database::open(path).unwrap();
    let txn = db.begin_read().unwrap();
    txn.list_tables()
        .unwrap()
        .map(|t| t.name().to_owned())
        .collect()
}

// ---------------------------------------------------------------- the tests

#[test]
fn mailbox_index() {
    let doc = Doc::load("mailbox-index.md");
    let mut c = Check::new(&doc);
    check_common(&mut c, &doc, u64::from(record::INDEX_VERSION), true);

    check_layouts(
        &mut c,
        &doc,
        &[
            layout!(Header {
                magic,
                version,
                uidvalidity,
                uidnext,
                exists,
                highestmodseq,
                total_size,
                last_reconstruct,
                mailbox_id,
                reserved,
                crc,
            }),
            layout!(HeaderV1 {
                magic,
                version,
                uidvalidity,
                uidnext,
                exists,
                highestmodseq,
                total_size,
                last_reconstruct,
                reserved,
            }),
            layout!(Record {
                uid,
                system_flags,
                user_flags,
                internal_date,
                internal_date_zone,
                mark,
                size,
                header_size,
                file_size,
                modseq,
                guid,
                file_dev,
                file_ino,
                file_mtime_ns,
                reserved,
                crc,
            }),
            layout!(CacheHead {
                body_offset,
                header_size,
                body_size,
                envelope_len,
                bodystructure_len,
                body_len,
                crc,
            }),
        ],
    );
    c.eq("HEADER_SIZE", record::HEADER_SIZE, size_of::<Header>());
    c.eq(
        "HEADER_V1_SIZE",
        record::HEADER_V1_SIZE,
        size_of::<HeaderV1>(),
    );
    c.ok(
        "Record.mark's meaning gives the mark",
        meaning(&doc, "Record", "mark").contains(&format!("0x{:04X}", record::RECORD_MARK)),
    );
    let kw: String = record::KEYWORDS_MAGIC
        .iter()
        .map(|&b| {
            if b == 0 {
                "\\0".to_owned()
            } else {
                (b as char).to_string()
            }
        })
        .collect();
    c.ok(
        &format!("the keyword list's magic `{kw}` is given"),
        doc.text.contains(&format!("`{kw}`")),
    );
    c.eq("RECORD_SIZE", record::RECORD_SIZE, size_of::<Record>());
    c.eq(
        "CACHE_HEAD_SIZE",
        record::CACHE_HEAD_SIZE,
        size_of::<CacheHead>(),
    );

    let magic: String = record::INDEX_MAGIC
        .iter()
        .map(|&b| {
            if b == 0 {
                "\\0".to_owned()
            } else {
                (b as char).to_string()
            }
        })
        .collect();
    c.ok(
        &format!("Header.magic's meaning starts with `{magic}`"),
        meaning(&doc, "Header", "magic").starts_with(&format!("`{magic}`")),
    );
    c.ok(
        "Header.version's meaning names the format version",
        meaning(&doc, "Header", "version").contains("format version"),
    );
    c.eq(
        "user flag bits in a record",
        record::MAX_USER_FLAGS,
        8 * size_of_val(&Record::default().user_flags),
    );

    let flags = doc.table(&["bit", "flag"]);
    c.eq(
        "system flag bits",
        flags
            .rows
            .iter()
            .map(|r| {
                (
                    r[0].parse::<u32>().unwrap_or(u32::MAX),
                    plain(&r[1]).to_owned(),
                )
            })
            .collect::<Vec<_>>(),
        record::flag::ALL
            .iter()
            .map(|&(bit, name)| (bit.trailing_zeros(), name.to_owned()))
            .collect(),
    );

    // The tables and the header's key, as the code writes them.
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join(store::INDEX_FILE);
    let id = Identity {
        mailbox_id: 1,
        uidvalidity: 1,
    };
    drop(Index::create(&path, Header::new(id, 1, 1)).unwrap());
    let header_keys: Vec<String> = {
        let db = redb::Database::open(&path).unwrap();
        let txn = db.begin_read().unwrap();
        let t = txn.open_table(index::HEADER_TABLE).unwrap();
        t.iter()
            .unwrap()
            .map(|kv| kv.unwrap().0.value().to_owned())
            .collect()
    };
    let header_row = doc
        .table(&["table", "key", "value", "meaning"])
        .rows
        .iter()
        .find(|r| plain(&r[0]) == index::HEADER_TABLE.name())
        .map(|r| r[3].clone())
        .unwrap_or_default();
    for k in &header_keys {
        c.ok(
            &format!("the `header` table's row names its key `{k}`"),
            header_row.contains(&format!("key `{k}`")),
        );
    }
    c.eq(
        "entries of a new index's header table",
        header_keys,
        vec![index::HEADER_KEY.to_owned(), index::KEYWORDS_KEY.to_owned()],
    );
    check_tables(
        &mut c,
        &doc,
        &[
            table_def(index::HEADER_TABLE),
            table_def(index::RECORDS_TABLE),
            table_def(index::CACHE_TABLE),
            table_def(index::USER_FLAGS_TABLE_V1),
        ],
        &["src/index/mod.rs", "src/index/record.rs"],
        {
            // Version 1's keyword table is in the document, not in a new file.
            let mut t = redb_tables(&path);
            t.insert(index::USER_FLAGS_TABLE_V1.name().to_owned());
            t
        },
    );
    c.finish();
}

#[test]
fn user_database() {
    let doc = Doc::load("user-database.md");
    let mut c = Check::new(&doc);
    check_common(&mut c, &doc, users::FORMAT_VERSION, true);
    c.eq(
        "Record layout version",
        doc.number("Record layout version"),
        u64::from(users::RECORD_VERSION),
    );
    c.eq(
        "Oldest format read",
        doc.number("Oldest format read"),
        users::OLDEST_FORMAT,
    );
    check_layouts(
        &mut c,
        &doc,
        &[layout!(UserHead {
            version,
            status,
            flags,
            reserved,
            created,
            quota,
        })],
    );
    c.eq(
        "USER_HEAD_SIZE",
        users::USER_HEAD_SIZE,
        size_of::<UserHead>(),
    );

    let status = doc.table(&["value", "status"]);
    for v in 0..=u8::MAX {
        let documented = status
            .rows
            .iter()
            .find(|r| r[0].parse::<u8>().ok() == Some(v))
            .map(|r| plain(&r[1]))
            .unwrap_or("unknown");
        let head = UserHead {
            version: users::RECORD_VERSION.into(),
            status: v,
            ..UserHead::default()
        };
        let code = UserRecord::decode(zerocopy::IntoBytes::as_bytes(&head))
            .map(|r| User::new("x", &r).status.as_str())
            .unwrap_or("unknown");
        c.eq(&format!("status {v}"), documented, code);
    }
    let _ = Status::Active;

    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join(store::USERS_DB);
    drop(db::create(&path, DbKind::Users).unwrap());
    check_tables(
        &mut c,
        &doc,
        &[table_def(db::META_TABLE), table_def(users::USERS_TABLE)],
        &["src/db/mod.rs", "src/db/users.rs"],
        redb_tables(&path),
    );
    check_meta_keys(
        &mut c,
        &doc,
        &[db::FORMAT_KEY],
        &["src/db/mod.rs", "src/db/users.rs"],
    );
    c.finish();
}

#[test]
fn mailbox_list() {
    let doc = Doc::load("mailbox-list.md");
    let mut c = Check::new(&doc);
    check_common(&mut c, &doc, mailboxes::FORMAT_VERSION, true);
    let entry = mailboxes::Entry::new(
        &msgstore::store::names::MailboxName::parse("joe").unwrap(),
        1,
        1,
        0,
    );
    c.eq(
        "Record layout version",
        doc.number("Record layout version"),
        u64::from(entry.record().version.get()),
    );
    c.eq(
        "Oldest format read",
        doc.number("Oldest format read"),
        mailboxes::OLDEST_FORMAT,
    );
    check_layouts(
        &mut c,
        &doc,
        &[
            layout!(MailboxRecord {
                version,
                reserved,
                id,
                uidvalidity,
                uid_bound,
                created,
                modseq_bound,
                uidnext,
                attributes,
                highestmodseq,
            }),
            layout!(MailboxRecordV1 {
                version,
                reserved,
                id,
                uidvalidity,
                uidnext,
                created,
            }),
        ],
    );
    c.ok(
        "the reservation blocks are given",
        doc.text.contains(&format!("{} UIDs", mailboxes::UID_BLOCK))
            && doc
                .text
                .contains(&format!("{} MODSEQs", mailboxes::MODSEQ_BLOCK)),
    );
    c.eq(
        "MAILBOX_RECORD_SIZE",
        mailboxes::MAILBOX_RECORD_SIZE,
        size_of::<MailboxRecord>(),
    );

    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join(store::MAILBOXES_DB);
    drop(db::create(&path, DbKind::Mailboxes).unwrap());
    check_tables(
        &mut c,
        &doc,
        &[
            table_def(db::META_TABLE),
            table_def(mailboxes::MAILBOXES_TABLE),
            table_def(mailboxes::INDEX_FILES_TABLE),
        ],
        &["src/db/mod.rs", "src/db/mailboxes.rs"],
        redb_tables(&path),
    );
    check_meta_keys(
        &mut c,
        &doc,
        &[
            db::FORMAT_KEY,
            mailboxes::NEXT_ID_KEY,
            mailboxes::LAST_UIDVALIDITY_KEY,
        ],
        &["src/db/mod.rs", "src/db/mailboxes.rs"],
    );
    c.finish();
}

#[test]
fn spool() {
    use msgstore::store::names::{MailboxName, decode, encode};

    let doc = Doc::load("spool.md");
    let mut c = Check::new(&doc);
    check_common(&mut c, &doc, u64::from(store::SPOOL_VERSION), false);

    // `<UTC time>` has the shape of what reconstruct writes.
    let stamp = msgstore::store::time::utc_stamp();
    let fits = |pattern: &str, example: &str| fits(pattern, example, &stamp);

    let top = doc.table(&["name", "meaning"]);
    let top: Vec<&str> = top.rows.iter().map(|r| plain(&r[0])).collect();
    let dirs = [
        format!("{}/", store::USERS_DIR),
        format!("{}/", store::PUBLIC_DIR),
    ];
    let db_lock = msgstore::store::lock::DATABASES_LOCK;
    for want in [
        store::USERS_DB,
        store::MAILBOXES_DB,
        db_lock,
        &dirs[0],
        &dirs[1],
    ] {
        c.ok(
            &format!("the store directory's table has no row `{want}`"),
            top.contains(&want),
        );
    }
    for name in &top {
        let ok = [
            store::USERS_DB,
            store::MAILBOXES_DB,
            db_lock,
            &dirs[0],
            &dirs[1],
        ]
        .contains(name)
            || [store::USERS_DB, store::MAILBOXES_DB].iter().any(|db| {
                *name == format!("{db}{}<UTC time>", store::SET_ASIDE_INFIX)
                    || *name == format!("{db}.tmp")
            });
        c.ok(
            &format!("`{name}` in the store directory is none of the names the code gives"),
            ok,
        );
    }

    // Each row's example must be classified by the code as the kind its pattern
    // says, and the pattern must be the one the code's constants spell.
    let names = doc.table(&["name", "example", "meaning"]);
    let mut kinds = Vec::new();
    for r in &names.rows {
        let (pattern, example) = (plain(&r[0]), plain(&r[1]));
        let entry = store::classify(example);
        let (kind, want) = match &entry {
            Entry::Message(uid) => {
                c.eq(
                    "a message file's name",
                    example.to_owned(),
                    store::message_file_name(*uid),
                );
                (
                    "message",
                    vec![store::message_file_name(7).replacen('7', "<uid>", 1)],
                )
            }
            Entry::Bad(_) => (
                "bad",
                vec![
                    format!("<uid>.{}", store::BAD_SUFFIX),
                    format!("<uid>.{}.<n>", store::BAD_SUFFIX),
                ],
            ),
            Entry::Index => ("index", vec![store::INDEX_FILE.to_owned()]),
            Entry::Lock => ("lock", vec![store::LOCK_FILE.to_owned()]),
            Entry::Temp => (
                "temp",
                vec![
                    format!("{}<uid>.<pid>", store::TMP_PREFIX),
                    format!("{}index.<pid>", store::TMP_PREFIX),
                ],
            ),
            Entry::SetAside => (
                "set-aside",
                vec![format!(
                    "{}{}<UTC time>",
                    store::INDEX_FILE,
                    store::SET_ASIDE_INFIX
                )],
            ),
            Entry::Folder(_) => ("folder", vec!["<encoded name>".to_owned()]),
            Entry::Unknown => ("unknown", vec![]),
        };
        c.ok(
            &format!("pattern `{pattern}` of {example:?} ({entry:?}): the code spells it {want:?}"),
            want.iter().any(|w| w == pattern),
        );
        c.ok(
            &format!("example {example:?} does not fit its pattern `{pattern}`"),
            fits(pattern, example),
        );
        kinds.push(kind);
    }
    c.eq(
        "kinds of names in a mailbox directory",
        kinds,
        vec![
            "message",
            "bad",
            "bad",
            "index",
            "lock",
            "temp",
            "temp",
            "set-aside",
            "folder",
        ],
    );

    let store_at = Store::at("STORE");
    for r in &doc.table(&["mailbox", "directory"]).rows {
        let (name, dir) = (plain(&r[0]), plain(&r[1]));
        match MailboxName::parse(name) {
            Ok(n) => {
                let got = store_at.mailbox_dir(&n);
                let got = got.strip_prefix("STORE").unwrap();
                c.eq(
                    &format!("directory of {name:?}"),
                    Path::new(dir.trim_end_matches('/')),
                    got,
                );
                for part in n.encoded_parts() {
                    c.ok(&format!("{part:?} decodes back"), decode(&part).is_some());
                }
            }
            Err(e) => c.ok(&format!("{name:?}: {e}"), false),
        }
    }

    // The encoding: every ASCII byte is kept or escaped exactly as the lists say.
    let list = |label: &str| -> Vec<char> {
        let prefix = format!("{label}:");
        let line = doc
            .text
            .lines()
            .find(|l| l.starts_with(&prefix))
            .unwrap_or("");
        line[prefix.len().min(line.len())..]
            .split_whitespace()
            .map(|t| {
                if t == "space" {
                    ' '
                } else {
                    t.chars().next().unwrap()
                }
            })
            .collect()
    };
    let (kept, escaped) = (list("kept"), list("escaped"));
    for b in 0u8..0x80 {
        let ch = b as char;
        let s = ch.to_string();
        let documented_kept = ch.is_ascii_alphanumeric() || kept.contains(&ch);
        let documented_escaped =
            !ch.is_ascii_alphanumeric() && (escaped.contains(&ch) || ch.is_ascii_control());
        c.ok(
            &format!("{ch:?} is in both or neither of the lists `kept:` and `escaped:`"),
            documented_kept != documented_escaped,
        );
        let want = if documented_kept {
            s.clone()
        } else {
            format!("%{b:02X}")
        };
        c.eq(
            &format!("encoding of {ch:?}"),
            want.as_str(),
            encode(&s).as_str(),
        );
    }
    c.eq(
        "encoding of non-ASCII",
        "Überweisung",
        encode("Überweisung").as_str(),
    );
    c.finish();
}

#[test]
fn locking() {
    use msgstore::store::lock;
    let doc = Doc::load("locking.md");
    let mut c = Check::new(&doc);
    c.eq(
        "Protocol version",
        doc.number("Protocol version"),
        u64::from(lock::PROTOCOL_VERSION),
    );
    let log = doc.text.rsplit_once("\n## ").map(|(_, s)| s).unwrap_or("");
    c.ok(
        "the last section is `## Version changes` with an entry for this version",
        log.starts_with("Version changes\n")
            && log
                .lines()
                .any(|l| l.starts_with(&format!("- {} ", lock::PROTOCOL_VERSION))),
    );
    let t = doc.table(&["lock", "on", "shared", "exclusive"]);
    let on = |name: &str| {
        t.rows
            .iter()
            .find(|r| r[0] == name)
            .map(|r| r[1].clone())
            .unwrap_or_default()
    };
    c.ok(
        "the mailbox lock is on `msgstore.lock` in the mailbox's directory",
        on("mailbox").contains(&format!("`{}`", store::LOCK_FILE)),
    );
    c.ok(
        "the database lock is on `STORE/msgstore.lock`",
        on("database").contains(&format!("`STORE/{}`", lock::DATABASES_LOCK)),
    );
    c.ok(
        "the list-change lock is on the store directory",
        on("list-change").contains("store directory"),
    );
    for (what, secs) in [
        ("writers", lock::WRITER_TIMEOUT_SECS),
        ("reconstruct", lock::RECONSTRUCT_GRACE.as_secs()),
        ("CREATE, DELETE", lock::LIST_CHANGE_GRACE.as_secs()),
    ] {
        let line = doc
            .text
            .split("\n\n")
            .find(|p| p.contains("**Waiting.**"))
            .unwrap_or("");
        let words = if secs == 1 {
            "1 second".to_owned()
        } else {
            format!("{secs} seconds")
        };
        c.ok(
            &format!("the waiting rule gives {what}' wait ({words})"),
            line.contains(&words) || line.contains(&format!("({secs} by default)")),
        );
    }
    c.finish();
}
