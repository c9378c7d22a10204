//! Logins: the password check and the penalty for failures. A failed login is
//! answered after a delay that grows with the failures from the same address and
//! for the same user name (Dovecot waits 2 s, up to 15 s), and every refusal looks
//! the same: an unknown user, a user without a password, a disabled one, a wrong
//! password all answer `NO [AUTHENTICATIONFAILED]` after the same work.

use super::Context;
use super::session::Peer;
use std::collections::HashMap;
use std::sync::{Condvar, Mutex};
use std::time::{Duration, Instant};

/// The delay of a first failure.
pub const FAILURE_DELAY: Duration = Duration::from_secs(2);
/// The longest delay.
pub const MAX_DELAY: Duration = Duration::from_secs(15);
/// Failures are forgotten after this long without another.
const FORGET_AFTER: Duration = Duration::from_secs(15 * 60);
/// Entries kept at most per table (a flood of addresses cannot grow memory).
const MAX_ENTRIES: usize = 100_000;

pub struct Penalties {
    by_addr: Mutex<HashMap<String, (u32, Instant)>>,
    by_user: Mutex<HashMap<String, (u32, Instant)>>,
    base: Duration,
}

impl Default for Penalties {
    fn default() -> Penalties {
        Penalties::starting_at(FAILURE_DELAY)
    }
}

fn bump(table: &Mutex<HashMap<String, (u32, Instant)>>, key: &str) -> u32 {
    let mut t = table.lock().unwrap_or_else(|p| p.into_inner());
    let now = Instant::now();
    if t.len() >= MAX_ENTRIES {
        t.retain(|_, (_, at)| now.duration_since(*at) < FORGET_AFTER);
        if t.len() >= MAX_ENTRIES {
            t.clear();
        }
    }
    let e = t.entry(key.to_owned()).or_insert((0, now));
    if now.duration_since(e.1) >= FORGET_AFTER {
        e.0 = 0;
    }
    e.0 = e.0.saturating_add(1);
    e.1 = now;
    e.0
}

fn clear(table: &Mutex<HashMap<String, (u32, Instant)>>, key: &str) {
    table.lock().unwrap_or_else(|p| p.into_inner()).remove(key);
}

impl Penalties {
    /// Penalties whose first delay is `base` (tests and fuzzing use zero).
    pub fn starting_at(base: Duration) -> Penalties {
        Penalties {
            by_addr: Mutex::new(HashMap::new()),
            by_user: Mutex::new(HashMap::new()),
            base,
        }
    }

    /// Notes a failure; gives the delay to answer it after.
    pub fn failed(&self, addr: &str, user: &str) -> Duration {
        let n = bump(&self.by_addr, addr).max(bump(&self.by_user, user));
        let factor = 1u32 << n.saturating_sub(1).min(4);
        (self.base * factor).min(MAX_DELAY)
    }

    pub fn succeeded(&self, addr: &str, user: &str) {
        clear(&self.by_addr, addr);
        clear(&self.by_user, user);
    }
}

/// The address part of a peer, without the port: penalties are per host.
fn host(peer: &Peer) -> &str {
    match peer.addr.rsplit_once(':') {
        Some((h, _)) if !peer.addr.starts_with("unix") => h,
        _ => &peer.addr,
    }
}

/// Argon2id verifications running at once. Each takes its 19 MiB and a core for
/// tens of milliseconds, and every command runs on a blocking thread (up to 512):
/// unbounded, a burst of LOGINs (thousands of clients reconnecting at once, or one
/// attacker) would take 512 x 19 MiB. More at once than there are cores finishes
/// no sooner, so the others wait here, taking no memory.
struct Hashing {
    running: Mutex<usize>,
    freed: Condvar,
}

/// How long a login waits for its turn before it is refused (it is answered as a
/// failure, without the penalty: the client may try again at once).
const HASHING_WAIT: Duration = Duration::from_secs(30);

static HASHING: Hashing = Hashing {
    running: Mutex::new(0),
    freed: Condvar::new(),
};

fn hashing_slots() -> usize {
    std::thread::available_parallelism().map_or(2, |n| n.get().clamp(2, 16))
}

/// A turn at hashing; gives it back when dropped.
struct Turn;

impl Drop for Turn {
    fn drop(&mut self) {
        let mut n = HASHING.running.lock().unwrap_or_else(|p| p.into_inner());
        *n = n.saturating_sub(1);
        drop(n);
        HASHING.freed.notify_one();
    }
}

impl Hashing {
    /// Waits up to [`HASHING_WAIT`] for a turn (blocking: called on the command's
    /// thread); `None` when none came.
    fn enter(&self) -> Option<Turn> {
        let deadline = Instant::now() + HASHING_WAIT;
        let slots = hashing_slots();
        let mut n = self.running.lock().unwrap_or_else(|p| p.into_inner());
        while *n >= slots {
            let left = deadline.checked_duration_since(Instant::now())?;
            n = self
                .freed
                .wait_timeout(n, left)
                .unwrap_or_else(|p| p.into_inner())
                .0;
        }
        *n += 1;
        Some(Turn)
    }
}

/// Checks a login: the user's name on success; `Err((delay, why))` when refused
/// (answer after `delay`; `why` is for the log only).
pub fn verify(
    ctx: &Context,
    peer: &Peer,
    user: &str,
    pass: &[u8],
) -> Result<String, (Duration, &'static str)> {
    use crate::ops::user::Login;
    let Some(_permit) = HASHING.enter() else {
        // Not the client's failure: no penalty, the first delay only.
        return Err((ctx.penalties.base, "too many logins at once; try again"));
    };
    match crate::ops::user::authenticate(&ctx.store, user, pass) {
        Ok(Login::Ok(u)) => {
            ctx.penalties.succeeded(host(peer), user);
            Ok(u.name)
        }
        Ok(Login::Refused(r)) => Err((ctx.penalties.failed(host(peer), user), r.as_str())),
        // The user database cannot be read: refused too, and said in the log.
        Err(_) => Err((
            ctx.penalties.failed(host(peer), user),
            "the user database cannot be read",
        )),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn delays_grow_per_address_and_per_user_and_are_capped() {
        let p = Penalties::default();
        assert_eq!(p.failed("1.2.3.4", "joe"), FAILURE_DELAY);
        assert_eq!(p.failed("1.2.3.4", "ann"), FAILURE_DELAY * 2);
        // Another address, but a user already failing.
        assert_eq!(p.failed("5.6.7.8", "joe"), FAILURE_DELAY * 2);
        for _ in 0..10 {
            p.failed("1.2.3.4", "x");
        }
        assert_eq!(p.failed("1.2.3.4", "y"), MAX_DELAY);
        p.succeeded("1.2.3.4", "y");
        assert_eq!(p.failed("1.2.3.4", "z"), FAILURE_DELAY);
    }

    #[test]
    fn no_more_hashes_at_once_than_there_are_slots() {
        use std::sync::atomic::{AtomicUsize, Ordering};
        let inside = std::sync::Arc::new(AtomicUsize::new(0));
        let most = std::sync::Arc::new(AtomicUsize::new(0));
        let threads: Vec<_> = (0..4 * hashing_slots())
            .map(|_| {
                let (inside, most) = (inside.clone(), most.clone());
                std::thread::spawn(move || {
                    let turn = HASHING.enter().expect("a turn within 30 s");
                    let n = inside.fetch_add(1, Ordering::SeqCst) + 1;
                    most.fetch_max(n, Ordering::SeqCst);
                    std::thread::sleep(Duration::from_millis(5));
                    inside.fetch_sub(1, Ordering::SeqCst);
                    drop(turn);
                })
            })
            .collect();
        for t in threads {
            t.join().expect("thread");
        }
        assert!(most.load(Ordering::SeqCst) <= hashing_slots());
    }
}
