//! Live change events on this instance: each user's latest change number, shared with the user's
//! open event streams (`ChangeHub`), fed by the PostgreSQL listener (`listener`) — to which every
//! instance tells its committed writes' counters in batches, after commit (`notify_when_asked`) —
//! or, on SQLite, by the store after each committed write; the streams' limits, and their end at
//! shutdown.

pub mod listener;

use std::collections::HashMap;
use std::sync::{Arc, Mutex};
use std::time::Duration;

use tokio::sync::{mpsc, watch};
use uuid::Uuid;

use crate::db::Database;
use crate::store;

/// How long the notifier gathers the writes that committed before it tells the other instances:
/// under load one statement then carries many users' counters, not one write's each, for a few
/// milliseconds more before a change is heard.
const NOTIFY_GATHER: Duration = Duration::from_millis(5);

/// How many event streams may be open at once, and how often an idle one says it is alive.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct StreamLimits {
    /// Open streams per user on this instance (`EVENTS_MAX_STREAMS_PER_USER`).
    pub per_user: usize,
    /// Open streams on this instance (`EVENTS_MAX_STREAMS`).
    pub per_instance: usize,
    /// A `: keep-alive` comment goes out after this long without an event
    /// (`EVENTS_HEARTBEAT_SECS`).
    pub heartbeat: Duration,
    /// How long a stream ticket opens the stream after it is made (60 s; shorter in tests).
    pub ticket_lifetime: Duration,
}

impl Default for StreamLimits {
    fn default() -> Self {
        Self {
            per_user: 20,
            per_instance: 10_000,
            heartbeat: Duration::from_secs(15),
            ticket_lifetime: Duration::from_secs(60),
        }
    }
}

/// Why a stream cannot open.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum StreamRefusal {
    /// The user has `per_user` streams open on this instance.
    UserFull,
    /// This instance has `per_instance` streams open.
    InstanceFull,
    /// The instance is shutting down.
    ShuttingDown,
}

/// The users with open streams on this instance, each with the latest change number known here.
/// A user's entry lives while the user has a stream open.
pub struct ChangeHub {
    limits: StreamLimits,
    state: Mutex<HubState>,
    /// Turns true when shutdown begins: every stream ends.
    closing: watch::Sender<bool>,
    /// Users whose counter must be read from the database again (see `refresh_when_asked`).
    stale: mpsc::UnboundedSender<Vec<Uuid>>,
    stale_requests: Mutex<Option<mpsc::UnboundedReceiver<Vec<Uuid>>>>,
    /// Users whose writes committed here, to be told to every instance (see `notify_when_asked`).
    to_notify: mpsc::UnboundedSender<Uuid>,
    notify_requests: Mutex<Option<mpsc::UnboundedReceiver<Uuid>>>,
}

#[derive(Default)]
struct HubState {
    users: HashMap<Uuid, Watched>,
    open: usize,
}

struct Watched {
    latest: watch::Sender<i64>,
    streams: usize,
}

impl ChangeHub {
    pub fn new(limits: StreamLimits) -> Arc<Self> {
        let (stale, stale_requests) = mpsc::unbounded_channel();
        let (to_notify, notify_requests) = mpsc::unbounded_channel();
        Arc::new(Self {
            limits,
            state: Mutex::default(),
            closing: watch::channel(false).0,
            stale,
            stale_requests: Mutex::new(Some(stale_requests)),
            to_notify,
            notify_requests: Mutex::new(Some(notify_requests)),
        })
    }

    pub fn limits(&self) -> StreamLimits {
        self.limits
    }

    fn state(&self) -> std::sync::MutexGuard<'_, HubState> {
        self.state.lock().expect("not poisoned")
    }

    /// Opens a stream of `user_id`'s change numbers, within the limits.
    pub fn subscribe(self: &Arc<Self>, user_id: Uuid) -> Result<Subscription, StreamRefusal> {
        if *self.closing.borrow() {
            return Err(StreamRefusal::ShuttingDown);
        }
        let mut state = self.state();
        if state.open >= self.limits.per_instance {
            return Err(StreamRefusal::InstanceFull);
        }
        let watched = state.users.entry(user_id).or_insert_with(|| Watched {
            latest: watch::channel(0).0,
            streams: 0,
        });
        if watched.streams >= self.limits.per_user {
            return Err(StreamRefusal::UserFull);
        }
        watched.streams += 1;
        let latest = watched.latest.subscribe();
        state.open += 1;
        Ok(Subscription {
            hub: self.clone(),
            user_id,
            latest,
            closing: self.closing.subscribe(),
        })
    }

    /// `user_id`'s counter is at `version` (or further): the user's streams learn of it, unless
    /// they know of as much already. Nothing is kept for a user with no stream open.
    pub fn publish(&self, user_id: Uuid, version: i64) {
        if let Some(watched) = self.state().users.get(&user_id) {
            watched.latest.send_if_modified(|latest| {
                let moved = version > *latest;
                if moved {
                    *latest = version;
                }
                moved
            });
        }
    }

    /// The users with a stream open here.
    pub fn watched_users(&self) -> Vec<Uuid> {
        self.state().users.keys().copied().collect()
    }

    /// How many streams are open here.
    pub fn open_streams(&self) -> usize {
        self.state().open
    }

    /// A write of `user_id`'s committed: when the user has a stream open here, the counter is
    /// read again (by `refresh_when_asked`) and published. SQLite's writes call this; PostgreSQL's
    /// call `notify_everywhere`.
    pub fn committed(&self, user_id: Uuid) {
        if self.state().users.contains_key(&user_id) {
            let _ = self.stale.send(vec![user_id]);
        }
    }

    /// A write of `user_id`'s committed on PostgreSQL: every instance's listener is told the
    /// user's counter (by `notify_when_asked`), this one's too.
    pub fn notify_everywhere(&self, user_id: Uuid) {
        let _ = self.to_notify.send(user_id);
    }

    /// Reads every watched user's counter again and publishes it (after the listener missed
    /// notifications while it was away).
    pub fn refresh_all(&self) {
        let users = self.watched_users();
        if !users.is_empty() {
            let _ = self.stale.send(users);
        }
    }

    /// Shutdown begins: every stream ends now, and no new one opens.
    pub fn close(&self) {
        self.closing.send_replace(true);
    }

    /// Resolves once shutdown has begun.
    pub async fn closed(&self) {
        let mut closing = self.closing.subscribe();
        let _ = closing.wait_for(|closing| *closing).await;
    }

    fn unsubscribe(&self, user_id: Uuid) {
        let mut state = self.state();
        state.open -= 1;
        if let Some(watched) = state.users.get_mut(&user_id) {
            watched.streams -= 1;
            if watched.streams == 0 {
                state.users.remove(&user_id);
            }
        }
    }

    /// Until shutdown, reads the counters of the users `committed` and `refresh_all` name from
    /// the database and publishes them (one query for each batch of requests waiting).
    pub async fn refresh_when_asked(self: Arc<Self>, db: Database) {
        let Some(mut requests) = self.stale_requests.lock().expect("not poisoned").take() else {
            return;
        };
        loop {
            let first = tokio::select! {
                request = requests.recv() => match request {
                    Some(users) => users,
                    None => return,
                },
                _ = self.closed() => return,
            };
            let mut users = first;
            while let Ok(more) = requests.try_recv() {
                users.extend(more);
            }
            users.sort_unstable();
            users.dedup();
            match store::change_counters(&db, &users).await {
                Ok(counters) => {
                    for (user_id, version) in counters {
                        self.publish(user_id, version);
                    }
                }
                Err(err) => {
                    tracing::warn!(error = ?err, users = users.len(), "reading change counters for event streams failed")
                }
            }
        }
    }

    /// Until shutdown, tells every instance's listener the counters of the users whose writes
    /// committed here (`notify_everywhere`): one `NOTIFY` statement for those gathered within
    /// `NOTIFY_GATHER` of the first, after the writes committed and off their requests' way.
    /// (A `NOTIFY` inside each write's own
    /// transaction would take PostgreSQL's commit-time notification lock in every write, which
    /// serialises their commits: see the README.)
    pub async fn notify_when_asked(self: Arc<Self>, db: Database) {
        let Some(mut requests) = self.notify_requests.lock().expect("not poisoned").take() else {
            return;
        };
        loop {
            let first = tokio::select! {
                request = requests.recv() => match request {
                    Some(user_id) => user_id,
                    None => return,
                },
                _ = self.closed() => return,
            };
            tokio::select! {
                _ = tokio::time::sleep(NOTIFY_GATHER) => {}
                _ = self.closed() => return,
            }
            let mut users = vec![first];
            while let Ok(more) = requests.try_recv() {
                users.push(more);
            }
            users.sort_unstable();
            users.dedup();
            if let Err(err) = store::notify_changes(&db, listener::CHANNEL, &users).await {
                tracing::warn!(error = ?err, users = users.len(), "telling other instances of committed changes failed");
            }
        }
    }
}

/// One open stream's view of its user's counter; the stream closes (and its share of the limits
/// is given back) when this is dropped.
pub struct Subscription {
    hub: Arc<ChangeHub>,
    user_id: Uuid,
    latest: watch::Receiver<i64>,
    closing: watch::Receiver<bool>,
}

impl Subscription {
    /// The latest change number known here, marked as seen.
    pub fn latest(&mut self) -> i64 {
        *self.latest.borrow_and_update()
    }

    /// Resolves when the counter moved past what `latest` last gave; `false` when the stream must
    /// end (shutdown).
    pub async fn changed(&mut self) -> bool {
        if *self.closing.borrow() {
            return false;
        }
        tokio::select! {
            changed = self.latest.changed() => changed.is_ok(),
            _ = self.closing.wait_for(|closing| *closing) => false,
        }
    }
}

impl Drop for Subscription {
    fn drop(&mut self) {
        self.hub.unsubscribe(self.user_id);
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn hub(per_user: usize, per_instance: usize) -> Arc<ChangeHub> {
        ChangeHub::new(StreamLimits {
            per_user,
            per_instance,
            ..StreamLimits::default()
        })
    }

    #[test]
    fn limits_count_open_streams_and_idle_users_are_forgotten() {
        let hub = hub(2, 3);
        let (alice, bob) = (Uuid::new_v4(), Uuid::new_v4());
        let first = hub.subscribe(alice).unwrap();
        let second = hub.subscribe(alice).unwrap();
        assert_eq!(hub.subscribe(alice).err(), Some(StreamRefusal::UserFull));
        let third = hub.subscribe(bob).unwrap();
        assert_eq!(hub.subscribe(bob).err(), Some(StreamRefusal::InstanceFull));
        drop((first, third));
        assert_eq!(hub.watched_users(), vec![alice]);
        assert_eq!(hub.open_streams(), 1);
        drop(second);
        assert!(hub.watched_users().is_empty());
        hub.close();
        assert_eq!(hub.subscribe(bob).err(), Some(StreamRefusal::ShuttingDown));
    }

    #[tokio::test]
    async fn a_stream_learns_only_of_numbers_past_what_it_saw() {
        let hub = hub(5, 5);
        let user = Uuid::new_v4();
        let mut stream = hub.subscribe(user).unwrap();
        hub.publish(user, 3);
        hub.publish(user, 2);
        assert!(stream.changed().await);
        assert_eq!(stream.latest(), 3);
        hub.publish(user, 3);
        let unchanged = tokio::time::timeout(Duration::from_millis(50), stream.changed()).await;
        assert!(unchanged.is_err(), "no news: no wake-up");
        hub.close();
        assert!(!stream.changed().await, "shutdown ends the stream");
    }
}
