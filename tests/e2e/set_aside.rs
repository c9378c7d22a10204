//! set-aside list | remove: the files repairs keep (`<uid>.BAD`,
//! `*.corrupt-<UTC time>`) are listed and removed by age, and nothing else is.

use crate::util::*;

/// A store where repairs set files aside: joe's NUL message became `3.BAD` and
/// his garbled index `msgstore.index.corrupt-<now>`; two older set-aside files
/// (2020) are put there by hand, with look-alikes that are not the store's names.
fn store_with_set_aside_files() -> Store {
    let s = Store::new();
    s.run(&["user", "add", "joe"]).ok();
    s.run(&["mailbox", "create", "joe/stuff"]).ok();
    s.deliver("joe", &sample(1));
    s.deliver("joe/stuff", &sample(2));
    std::fs::write(s.dir("users/joe/3."), b"Subject: x\r\n\r\na\0b\r\n").unwrap();
    std::fs::write(s.dir("users/joe/stuff/msgstore.index"), b"not an index").unwrap();
    s.run(&["reconstruct", "-r", "joe"]).ok();
    assert!(s.dir("users/joe/3.BAD").is_file());
    std::fs::write(
        s.dir("users/joe/msgstore.index.corrupt-20200101T000000Z"),
        b"old",
    )
    .unwrap();
    std::fs::write(s.dir("users.redb.corrupt-20200102T030405Z"), b"old db").unwrap();
    for look_alike in [
        "users/joe/notes.corrupt-20200101T000000Z",
        "users/joe/msgstore.index.corrupt-yesterday",
        "users/joe/3.BADX",
        "users/joe/stuff/msgstore.index.corrupt-20200101T000000Z.01",
        "msgstore.index.corrupt-20200101T000000Z",
    ] {
        std::fs::write(s.dir(look_alike), b"keep me").unwrap();
    }
    s
}

fn paths(v: &serde_json::Value, key: &str) -> Vec<String> {
    v[key]
        .as_array()
        .unwrap()
        .iter()
        .map(|i| i["path"].as_str().unwrap().to_owned())
        .collect()
}

#[test]
fn set_aside_files_are_listed_and_removed_by_age_and_nothing_else_is() {
    let s = store_with_set_aside_files();
    let fresh_index = std::fs::read_dir(s.dir("users/joe/stuff"))
        .unwrap()
        .map(|e| e.unwrap().file_name().to_string_lossy().into_owned())
        .find(|n| n.starts_with("msgstore.index.corrupt-2") && !n.ends_with(".01"))
        .expect("reconstruct set the garbled index aside");
    let fresh = format!("users/joe/stuff/{fresh_index}");

    let j = s.json(&["set-aside", "list"]);
    assert_eq!(
        paths(&j, "set_aside"),
        [
            "users.redb.corrupt-20200102T030405Z",
            "users/joe/3.BAD",
            "users/joe/msgstore.index.corrupt-20200101T000000Z",
            fresh.as_str(),
        ]
    );
    let items = j["set_aside"].as_array().unwrap();
    assert_eq!(items[0]["kind"], "user-database");
    assert_eq!(items[0]["mailbox"], serde_json::Value::Null);
    assert_eq!(items[0]["set_aside_at"], "2020-01-02T03:04:05Z");
    assert_eq!(items[1]["kind"], "message");
    assert_eq!(items[1]["mailbox"], "Other Users/joe");
    assert!(
        items[1]["age_seconds"].as_u64().unwrap() < 600,
        "a .BAD's age is its rename's"
    );
    assert_eq!(items[3]["kind"], "index");
    assert_eq!(items[3]["file_type"], "file");
    assert_eq!(j["total"]["files"], 4);

    // Text: one line each, and a total that says how to remove them.
    let t = s.run(&["set-aside", "list", "joe/stuff"]).ok().stdout;
    assert!(
        t.starts_with(&format!(
            "{fresh}\tOther Users/joe/stuff\tdamaged or foreign index\t"
        )),
        "{t}"
    );
    assert!(
        t.contains("1 set-aside file(s)") && t.contains("set-aside remove --older-than"),
        "{t}"
    );
    // A mailbox and those below it: joe has all three of his.
    assert_eq!(s.json(&["set-aside", "list", "joe"])["total"]["files"], 3);

    // The routine check still names the .BAD file, and says where to look.
    let r = s.run(&["reconstruct", "joe"]).ok();
    assert!(
        r.stdout.contains("3.BAD") && r.stdout.contains("msgstore set-aside list"),
        "{}",
        r.stdout
    );

    // A dry run says what would go and removes nothing.
    let j = s.json(&["set-aside", "remove", "--older-than", "30d", "-n"]);
    assert_eq!(j["dry_run"], true);
    assert_eq!(
        paths(&j, "removed"),
        [
            "users.redb.corrupt-20200102T030405Z",
            "users/joe/msgstore.index.corrupt-20200101T000000Z",
        ]
    );
    assert_eq!(j["kept"], 2);
    assert!(s.dir("users.redb.corrupt-20200102T030405Z").exists());

    // Older than 30 days: the two from 2020, said by name.
    let r = s.run(&["set-aside", "remove", "--older-than", "30d"]).ok();
    assert!(
        r.stdout
            .contains("removed users/joe/msgstore.index.corrupt-20200101T000000Z\tOther Users/joe"),
        "{}",
        r.stdout
    );
    assert!(
        r.stdout.contains("removed 2 set-aside file(s)")
            && r.stdout.contains("2 younger than 30d kept"),
        "{}",
        r.stdout
    );
    assert!(!s.dir("users.redb.corrupt-20200102T030405Z").exists());
    assert!(
        !s.dir("users/joe/msgstore.index.corrupt-20200101T000000Z")
            .exists()
    );
    assert!(s.dir("users/joe/3.BAD").exists() && s.dir(&fresh).exists());

    // `0`: all of them, here joe's; the store is whole afterwards.
    let j = s.json(&["set-aside", "remove", "--older-than", "0", "joe"]);
    assert_eq!(paths(&j, "removed"), ["users/joe/3.BAD", fresh.as_str()]);
    assert_eq!(s.json(&["set-aside", "list"])["total"]["files"], 0);
    for kept in [
        "users/joe/notes.corrupt-20200101T000000Z",
        "users/joe/msgstore.index.corrupt-yesterday",
        "users/joe/3.BADX",
        "users/joe/stuff/msgstore.index.corrupt-20200101T000000Z.01",
        "msgstore.index.corrupt-20200101T000000Z",
        "users/joe/msgstore.index",
        "users/joe/1.",
        "users/joe/stuff/1.",
        "users.redb",
    ] {
        assert!(s.dir(kept).exists(), "{kept} was removed");
    }
    assert_eq!(s.dump("joe")["messages"].as_array().unwrap().len(), 1);
    let r = s.run(&["reconstruct", "-r", "joe"]).ok();
    assert!(!r.stdout.contains("set aside earlier"), "{}", r.stdout);
}

#[test]
fn set_aside_refusals_name_what_and_what_to_do() {
    let s = store_with_set_aside_files();
    // No age, no removal; an age must have its unit.
    let r = s.run(&["set-aside", "remove"]).code(2);
    assert!(
        r.stderr.starts_with(
            "msgstore: the following required arguments were not provided: --older-than <AGE>;"
        ),
        "{}",
        r.stderr
    );
    let r = s
        .run(&["--json", "set-aside", "remove", "--older-than", "30"])
        .code(2);
    assert!(r.stderr.contains("`30` is no age"), "{}", r.stderr);
    assert!(r.json()["error"].as_str().unwrap().contains("no age"));
    let r = s.run(&["set-aside", "list", "jo"]).code(2);
    assert!(
        r.stderr.contains("no such mailbox") && r.stderr.contains("joe"),
        "{}",
        r.stderr
    );
    assert_eq!(s.json(&["set-aside", "list"])["total"]["files"], 4);

    // A busy mailbox: said, its files kept, the others removed, exit status 1.
    let lock = std::fs::File::open(s.dir("users/joe/msgstore.lock")).unwrap();
    lock.lock_shared().unwrap();
    let r = s
        .run(&["--json", "set-aside", "remove", "--older-than", "0"])
        .code(1);
    assert!(r.stderr.contains("Other Users/joe: in use"), "{}", r.stderr);
    let j = r.json();
    assert_eq!(j["busy"][0], "Other Users/joe");
    assert_eq!(j["total"]["files"], 2, "the store's and joe/stuff's");
    assert!(s.dir("users/joe/3.BAD").exists());
    drop(lock);
    s.run(&["-q", "set-aside", "remove", "--older-than", "0"])
        .ok();
    assert_eq!(s.json(&["set-aside", "list"])["total"]["files"], 0);

    // A directory under a set-aside name is listed, never removed: look inside.
    std::fs::create_dir(s.dir("users/joe/msgstore.index.corrupt-20200101T000000Z")).unwrap();
    let j = s.json(&["set-aside", "list"]);
    assert_eq!(j["set_aside"][0]["file_type"], "a directory");
    let r = s.run(&["set-aside", "remove", "--older-than", "0"]).code(1);
    assert!(
        r.stderr.contains("a directory, not removed"),
        "{}",
        r.stderr
    );
    assert!(
        s.dir("users/joe/msgstore.index.corrupt-20200101T000000Z")
            .is_dir()
    );
}
