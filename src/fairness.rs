//! Per-user fairness on one instance: how many of a user's writes may hold database connections
//! at once (the rest queue without one), and how many writes a user may send per minute.

use std::collections::HashMap;
use std::num::NonZeroU32;
use std::sync::{Arc, Mutex};
use std::time::Duration;

use governor::clock::{Clock, DefaultClock};
use governor::state::keyed::DefaultKeyedStateStore;
use governor::{Quota, RateLimiter};
use tokio::sync::{OwnedSemaphorePermit, Semaphore};
use uuid::Uuid;

/// The per-user limits of `USER_*` settings.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct UserLimits {
    /// `USER_MAX_CONCURRENT_WRITES`: a user's writes holding connections at once.
    pub max_concurrent_writes: usize,
    /// `USER_WRITES_PER_MINUTE`: writes a user may send per minute.
    pub writes_per_minute: NonZeroU32,
    /// `USER_MAX_TASKS`: tasks a user may hold.
    pub max_tasks: i64,
    /// `USER_MAX_TOMBSTONES`: deletions kept per user for the change feed.
    pub max_tombstones: i64,
    /// `USER_MAX_LISTS`: lists a user may hold.
    pub max_lists: i64,
}

impl Default for UserLimits {
    fn default() -> Self {
        Self {
            max_concurrent_writes: 4,
            writes_per_minute: NonZeroU32::new(600).expect("not zero"),
            max_tasks: 100_000,
            max_tombstones: 10_000,
            max_lists: 1_000,
        }
    }
}

/// Each user's turn to write: at most `per_user` of a user's writes run at once; the others
/// wait here, holding no connection.
pub struct UserWriteGate {
    per_user: usize,
    users: Mutex<HashMap<Uuid, Arc<Semaphore>>>,
}

/// Leave to run one write of a user's; given back when dropped.
pub struct WritePermit {
    user_id: Uuid,
    gate: Arc<UserWriteGate>,
    permit: Option<OwnedSemaphorePermit>,
}

impl UserWriteGate {
    pub fn new(per_user: usize) -> Arc<Self> {
        Arc::new(Self {
            per_user: per_user.max(1),
            users: Mutex::default(),
        })
    }

    /// Waits for one of the user's write slots (for up to `timeout`: `None` when it ran out).
    pub async fn enter(self: &Arc<Self>, user_id: Uuid, timeout: Duration) -> Option<WritePermit> {
        let semaphore = self
            .users
            .lock()
            .expect("not poisoned")
            .entry(user_id)
            .or_insert_with(|| Arc::new(Semaphore::new(self.per_user)))
            .clone();
        // Held from here, so that the slot is not forgotten while this write waits.
        let mut permit = WritePermit {
            user_id,
            gate: self.clone(),
            permit: None,
        };
        let acquired = tokio::time::timeout(timeout, semaphore.acquire_owned()).await;
        permit.permit = Some(acquired.ok()?.expect("never closed"));
        Some(permit)
    }
}

impl Drop for WritePermit {
    fn drop(&mut self) {
        drop(self.permit.take());
        let mut users = self.gate.users.lock().expect("not poisoned");
        // The last write of the user (running or waiting) forgets the user's slots.
        if let Some(semaphore) = users.get(&self.user_id) {
            if Arc::strong_count(semaphore) == 1 {
                users.remove(&self.user_id);
            }
        }
    }
}

/// The writes each user may still send this minute.
pub struct WriteRate {
    limiter: RateLimiter<Uuid, DefaultKeyedStateStore<Uuid>, DefaultClock>,
    clock: DefaultClock,
}

impl WriteRate {
    pub fn new(per_minute: NonZeroU32) -> Self {
        Self {
            limiter: RateLimiter::keyed(Quota::per_minute(per_minute)),
            clock: DefaultClock::default(),
        }
    }

    /// Counts `writes` writes of the user's: `Err(wait)` when they pass the user's rate (none of
    /// them is counted then), with how long until they would be allowed.
    pub fn take(&self, user_id: Uuid, writes: NonZeroU32) -> Result<(), Duration> {
        match self.limiter.check_key_n(&user_id, writes) {
            Ok(Ok(())) => Ok(()),
            Ok(Err(not_until)) => Err(not_until.wait_time_from(self.clock.now())),
            // More writes at once than a minute allows: never.
            Err(_) => Err(Duration::from_secs(60)),
        }
    }

    /// Forgets the users whose allowance is whole again (called now and then: the state is one
    /// entry per user who wrote in the last minute).
    pub fn forget_idle(&self) {
        self.limiter.retain_recent();
        self.limiter.shrink_to_fit();
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[tokio::test]
    async fn a_user_gets_at_most_its_share_and_others_are_not_held() {
        let gate = UserWriteGate::new(2);
        let (one, other) = (Uuid::new_v4(), Uuid::new_v4());
        let short = Duration::from_millis(20);
        let first = gate.enter(one, short).await.unwrap();
        let _second = gate.enter(one, short).await.unwrap();
        assert!(
            gate.enter(one, short).await.is_none(),
            "a third write waits"
        );
        assert!(
            gate.enter(other, short).await.is_some(),
            "another user is not held"
        );
        drop(first);
        assert!(gate.enter(one, short).await.is_some());
        drop(_second);
        assert!(
            gate.users.lock().unwrap().is_empty(),
            "idle users are forgotten"
        );
    }

    #[test]
    fn writes_past_the_rate_are_refused_with_a_wait() {
        let rate = WriteRate::new(NonZeroU32::new(3).unwrap());
        let user = Uuid::new_v4();
        let one = NonZeroU32::new(1).unwrap();
        for _ in 0..3 {
            assert_eq!(rate.take(user, one), Ok(()));
        }
        let wait = rate.take(user, one).unwrap_err();
        assert!(wait > Duration::ZERO && wait <= Duration::from_secs(20));
        assert_eq!(rate.take(Uuid::new_v4(), one), Ok(()), "per user");
        assert!(rate
            .take(Uuid::new_v4(), NonZeroU32::new(4).unwrap())
            .is_err());
    }
}
