//! Mailbox subscriptions (IMAP SUBSCRIBE, LSUB, LIST (SUBSCRIBED)), in the user
//! database: a subscription is a user's, and goes with the user. Keys are the user
//! and the canonical mailbox name (`Other Users/joe/stuff`), so a subscription
//! names a mailbox whatever namespace spelling the client used; it may name a
//! mailbox that does not exist (RFC 3501 6.3.6).

use crate::error::{DbKind, Result};
use crate::store::Store;
use redb::TableDefinition;

/// `user NUL mailbox` -> nothing.
pub const SUBSCRIPTIONS_TABLE: TableDefinition<&str, ()> = TableDefinition::new("subscriptions");
const K: DbKind = DbKind::Users;

fn key(user: &str, mailbox: &str) -> String {
    format!("{user}\0{mailbox}")
}

/// The canonical names `user` is subscribed to, in name order.
pub fn list(store: &Store, user: &str) -> Result<Vec<String>> {
    let db = super::open_ro(store, K)?;
    db.read(|txn| {
        let t = match txn.open_table(SUBSCRIPTIONS_TABLE) {
            Ok(t) => t,
            // Never written: nobody subscribed to anything yet.
            Err(redb::TableError::TableDoesNotExist(_)) => return Ok(Vec::new()),
            Err(e) => return Err(db.err()(e)),
        };
        let from = format!("{user}\0");
        let to = format!("{user}\u{1}");
        let mut out = Vec::new();
        for item in t.range(from.as_str()..to.as_str()).map_err(db.err())? {
            let (k, _) = item.map_err(db.err())?;
            if let Some((_, name)) = k.value().split_once('\0') {
                out.push(name.to_owned());
            }
        }
        Ok(out)
    })
}

/// Subscribes (`on`) or unsubscribes; gives whether anything changed. Nothing
/// is written when nothing changes.
pub fn set(store: &Store, user: &str, mailbox: &str, on: bool) -> Result<bool> {
    let now = list(store, user)?.iter().any(|m| m == mailbox);
    if now == on {
        return Ok(false);
    }
    let db = super::open_rw(store, K)?;
    db.write(|txn| {
        let mut t = txn.open_table(SUBSCRIPTIONS_TABLE).map_err(db.err())?;
        let k = key(user, mailbox);
        let changed = if on {
            t.insert(k.as_str(), ()).map_err(db.err())?.is_none()
        } else {
            t.remove(k.as_str()).map_err(db.err())?.is_some()
        };
        Ok(changed)
    })
}

/// Removes every subscription of `user` (the user is being deleted).
pub fn remove_user(store: &Store, user: &str) -> Result<()> {
    let db = super::open_rw(store, K)?;
    db.write(|txn| {
        let mut t = txn.open_table(SUBSCRIPTIONS_TABLE).map_err(db.err())?;
        let prefix = format!("{user}\0");
        t.retain(|k, _| !k.starts_with(&prefix)).map_err(db.err())?;
        Ok(())
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn subscriptions_are_per_user_and_survive_reopening() {
        let d = tempfile::tempdir().unwrap();
        let store = Store::at(d.path().join("s"));
        crate::ops::init(&store).unwrap();
        assert!(list(&store, "joe").unwrap().is_empty());
        assert!(set(&store, "joe", "Other Users/joe/b", true).unwrap());
        assert!(set(&store, "joe", "Other Users/joe/a", true).unwrap());
        assert!(!set(&store, "joe", "Other Users/joe/a", true).unwrap());
        assert!(set(&store, "joel", "Other Users/joel", true).unwrap());
        assert_eq!(
            list(&store, "joe").unwrap(),
            ["Other Users/joe/a", "Other Users/joe/b"]
        );
        assert!(set(&store, "joe", "Other Users/joe/a", false).unwrap());
        assert_eq!(list(&store, "joe").unwrap(), ["Other Users/joe/b"]);
        remove_user(&store, "joe").unwrap();
        assert!(list(&store, "joe").unwrap().is_empty());
        assert_eq!(list(&store, "joel").unwrap(), ["Other Users/joel"]);
    }
}
