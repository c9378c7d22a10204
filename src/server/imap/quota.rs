//! QUOTA (RFC 9208): GETQUOTAROOT and GETQUOTA. A user's mailboxes share one
//! quota root, named `""`, with one resource, STORAGE (in units of 1024 octets:
//! the sum of RFC822.SIZE, `ops::quota`). A user without a quota, and the public
//! folders, have no quota root. Quotas are set by the administrator (`msgstore
//! user quota`), so SETQUOTA is refused.

use super::out::Out;
use super::proto::Mailbox;
use super::proto::write::{self, Code};
use super::session::{Reply, Session};
use crate::store::names::Root;

impl Session {
    fn quota_line(&self, out: &mut Out) -> Result<bool, Reply> {
        let user = self.user.as_deref().unwrap_or_default();
        let u = crate::ops::quota::usage(&self.ctx.store, user)?;
        let Some(limit) = u.storage_limit_kib() else {
            return Ok(false);
        };
        out.buf.extend_from_slice(
            format!("* QUOTA \"\" (STORAGE {} {limit})\r\n", u.storage_kib()).as_bytes(),
        );
        Ok(true)
    }

    pub(super) fn get_quota_root(&mut self, m: &Mailbox, out: &mut Out) -> Result<(), Reply> {
        let (name, shown) = self.mailbox_name(m)?;
        if !self.ctx.store.has_mailbox_dir(&name) {
            return Err(super::session::nonexistent());
        }
        let user = self.user.as_deref().unwrap_or_default();
        let limited = name.root() == Root::Users
            && crate::ops::quota::usage(&self.ctx.store, user)?
                .quota
                .is_some();
        out.buf.extend_from_slice(b"* QUOTAROOT ");
        write::mailbox(&mut out.buf, &shown, false);
        if limited {
            out.buf.extend_from_slice(b" \"\"\r\n");
            self.quota_line(out)?;
        } else {
            out.buf.extend_from_slice(b"\r\n");
        }
        Ok(())
    }

    pub(super) fn get_quota(&mut self, root: &[u8], out: &mut Out) -> Result<(), Reply> {
        if root.is_empty() && self.quota_line(out)? {
            return Ok(());
        }
        Err(Reply::No(
            Some(Code::NonExistent),
            "No such quota root".into(),
        ))
    }
}
