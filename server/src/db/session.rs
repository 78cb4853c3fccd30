//! Sessions: ids, passwords, timeouts and expiry (`SessionTrackerImpl`).
//!
//! Ids and passwords follow ZooKeeper exactly so that a session created by a
//! real ZooKeeper (after moving its dataDir here) can reconnect: the password
//! is derived from the id by Java's `Random`, not stored.

use std::collections::HashMap;
use std::time::{Duration, Instant};

/// The 16-byte password of a session: `new Random(id ^ 0xB3415C00).nextBytes`.
pub fn password(session_id: i64) -> Vec<u8> {
    let mut rnd = JavaRandom::new(session_id ^ 0xB341_5C00);
    let mut out = Vec::with_capacity(16);
    while out.len() < 16 {
        let mut r = rnd.next_int();
        for _ in 0..4.min(16 - out.len()) {
            out.push(r as u8);
            r >>= 8;
        }
    }
    out
}

/// `java.util.Random`'s 48-bit LCG.
struct JavaRandom {
    seed: i64,
}

impl JavaRandom {
    const MULT: i64 = 0x5_DEEC_E66D;
    const MASK: i64 = (1 << 48) - 1;

    fn new(seed: i64) -> Self {
        JavaRandom {
            seed: (seed ^ Self::MULT) & Self::MASK,
        }
    }

    fn next_int(&mut self) -> i32 {
        self.seed = (self.seed.wrapping_mul(Self::MULT).wrapping_add(0xB)) & Self::MASK;
        (self.seed >> 16) as i32
    }
}

/// First session id of a server: `myid` in the top byte, a millisecond clock
/// in the middle, zeros at the bottom.
pub fn initial_session_id(server_id: i64, now_ms: i64) -> i64 {
    let t = ((now_ms << 24) as u64 >> 8) as i64;
    t | (server_id << 56)
}

#[derive(Debug, Clone)]
pub struct Session {
    pub id: i64,
    pub timeout_ms: i32,
    /// When the session expires unless touched.
    pub expires_at: Instant,
    /// Set once a closeSession txn is submitted, so it is not submitted twice
    /// and the session accepts no more requests.
    pub closing: bool,
}

/// Tracks live sessions and their expiry. Expiry times are rounded up to the
/// next tick, like ZooKeeper's `ExpiryQueue`, so a session expires between
/// `timeout` and `timeout + tickTime` after it was last heard from.
pub struct SessionTracker {
    sessions: HashMap<i64, Session>,
    next_id: i64,
    tick: Duration,
    start: Instant,
}

impl SessionTracker {
    pub fn new(server_id: i64, tick_ms: u64) -> SessionTracker {
        let now_ms = std::time::SystemTime::now()
            .duration_since(std::time::UNIX_EPOCH)
            .map(|d| d.as_millis() as i64)
            .unwrap_or(0);
        SessionTracker {
            sessions: HashMap::new(),
            next_id: initial_session_id(server_id, now_ms),
            tick: Duration::from_millis(tick_ms.max(1)),
            start: Instant::now(),
        }
    }

    /// Allocates the next id (skipping the container marker value).
    pub fn next_session_id(&mut self) -> i64 {
        let mut id = self.next_id;
        if id == i64::MIN {
            id += 1;
        }
        self.next_id = id.wrapping_add(1);
        id
    }

    fn round_up(&self, t: Instant) -> Instant {
        let since = t.duration_since(self.start).as_millis();
        let tick = self.tick.as_millis().max(1);
        let rounded = since.div_ceil(tick) * tick;
        self.start + Duration::from_millis(rounded as u64)
    }

    /// Adds (or re-adds, on replay) a session.
    pub fn add(&mut self, id: i64, timeout_ms: i32) {
        let expires_at =
            self.round_up(Instant::now() + Duration::from_millis(timeout_ms.max(0) as u64));
        self.sessions.insert(
            id,
            Session {
                id,
                timeout_ms,
                expires_at,
                closing: false,
            },
        );
    }

    pub fn remove(&mut self, id: i64) -> Option<Session> {
        self.sessions.remove(&id)
    }

    pub fn get(&self, id: i64) -> Option<&Session> {
        self.sessions.get(&id)
    }

    pub fn set_timeout(&mut self, id: i64, timeout_ms: i32) {
        if let Some(s) = self.sessions.get_mut(&id) {
            s.timeout_ms = timeout_ms;
        }
        self.touch(id);
    }

    pub fn mark_closing(&mut self, id: i64) {
        if let Some(s) = self.sessions.get_mut(&id) {
            s.closing = true;
        }
    }

    /// Records activity; false if the session is unknown or closing.
    pub fn touch(&mut self, id: i64) -> bool {
        let now = Instant::now();
        let Some(timeout) = self
            .sessions
            .get(&id)
            .filter(|s| !s.closing)
            .map(|s| s.timeout_ms)
        else {
            return false;
        };
        let at = self.round_up(now + Duration::from_millis(timeout.max(0) as u64));
        if let Some(s) = self.sessions.get_mut(&id) {
            s.expires_at = at;
        }
        true
    }

    /// Sessions past their expiry time that are not already closing.
    pub fn expired(&self, now: Instant) -> Vec<i64> {
        self.sessions
            .values()
            .filter(|s| !s.closing && s.expires_at <= now)
            .map(|s| s.id)
            .collect()
    }

    pub fn len(&self) -> usize {
        self.sessions.len()
    }

    pub fn is_empty(&self) -> bool {
        self.sessions.is_empty()
    }

    pub fn iter(&self) -> impl Iterator<Item = &Session> {
        self.sessions.values()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn java_random_matches() {
        // new java.util.Random(42).nextInt() == -1170105035
        let mut r = JavaRandom::new(42);
        assert_eq!(r.next_int(), -1170105035);
        assert_eq!(r.next_int(), 234785527);
        assert_eq!(password(1).len(), 16);
    }

    #[test]
    fn id_layout() {
        let id = initial_session_id(1, 0x0012_3456_789a);
        assert_eq!(id >> 56, 1);
        assert_eq!(id & 0xffff, 0);
    }
}
