//! Requests of one kind that arrive together, done together: they wait in one queue, and each of
//! a few workers takes whatever waits (up to a bound) and does it in one statement: one round
//! trip, one wake-up of the database's backend and one executor run for them all, instead of one
//! each. A request waits for no other: when a worker is free it runs at once with whatever else
//! is waiting by then.

use std::future::Future;
use std::sync::atomic::{AtomicU8, Ordering};
use std::sync::Arc;
use std::time::Duration;

use sea_orm::{ConnAcquireErr, DbErr};
use tokio::sync::{mpsc, oneshot, Mutex, Notify};

use super::{StoreError, StoreResult};
use crate::db::Database;

/// A request's state: waiting, then either taken by a worker or given up by its caller (timed
/// out, or gone), whichever comes first; a request given up is never done.
const WAITING: u8 = 0;
const TAKEN: u8 = 1;
const GIVEN_UP: u8 = 2;

/// A request waiting (`item`), and where its answer goes.
pub(super) struct Waiting<T, A> {
    pub item: T,
    state: Arc<AtomicU8>,
    answer: oneshot::Sender<A>,
}

impl<T, A> Waiting<T, A> {
    /// Takes it for a worker: `false` when its caller gave it up first.
    fn take(&self) -> bool {
        self.state
            .compare_exchange(WAITING, TAKEN, Ordering::AcqRel, Ordering::Acquire)
            .is_ok()
    }
}

/// Gives a request up when its caller stops waiting before a worker took it.
struct GiveUp(Arc<AtomicU8>);

impl GiveUp {
    /// `true` when it was given up now, `false` when a worker had taken it.
    fn give_up(&self) -> bool {
        self.0
            .compare_exchange(WAITING, GIVEN_UP, Ordering::AcqRel, Ordering::Acquire)
            .is_ok()
    }
}

impl Drop for GiveUp {
    fn drop(&mut self) {
        self.give_up();
    }
}

impl<T, A> Waiting<T, A> {
    /// Gives the request its answer (a request given up on no longer hears it).
    pub fn answer(self, answer: A) {
        let _ = self.answer.send(answer);
    }
}

/// What the workers take from.
type Queue<T, A> = Arc<Mutex<mpsc::UnboundedReceiver<Waiting<T, A>>>>;

/// Each worker's word that another worker has ended a round that did something (kept until it
/// listens).
type RoundsEnded = Arc<[Notify]>;

/// The queue of requests `T`, answered `A`; its workers end when every handle is dropped.
pub(super) struct Together<T, A> {
    waiting: mpsc::UnboundedSender<Waiting<T, A>>,
    acquire_timeout: Duration,
}

impl<T, A> Clone for Together<T, A> {
    fn clone(&self) -> Self {
        Self {
            waiting: self.waiting.clone(),
            acquire_timeout: self.acquire_timeout,
        }
    }
}

impl<T: Send + 'static, A: Send + 'static> Together<T, A> {
    /// Starts `workers` workers (the caller's share of the pool for these requests, at least
    /// one). Each takes up to `most` waiting requests and hands them to `run`, which answers
    /// those it did and gives back those that must wait for its next round (they go first); a
    /// round that could do none of them (each waits for what another worker is doing) is tried
    /// again once another worker ends a round that did something, or more requests arrive.
    pub fn start<R, F>(db: &Database, workers: usize, most: usize, run: R) -> Self
    where
        R: Fn(Database, Vec<Waiting<T, A>>) -> F + Clone + Send + 'static,
        F: Future<Output = Vec<Waiting<T, A>>> + Send + 'static,
    {
        let (waiting, queue) = mpsc::unbounded_channel();
        let queue = Arc::new(Mutex::new(queue));
        let rounds_ended: RoundsEnded = (0..workers).map(|_| Notify::new()).collect();
        for worker in 0..workers {
            let rounds_ended = (worker, rounds_ended.clone());
            tokio::spawn(work(
                db.clone(),
                queue.clone(),
                rounds_ended,
                most,
                run.clone(),
            ));
        }
        Self {
            waiting,
            acquire_timeout: db.acquire_timeout(),
        }
    }

    /// `item`'s answer. A request no worker has taken within the pool's acquire timeout (every
    /// worker held up by a database that does not answer) is given up, as a wait for a
    /// connection is: nothing is done for it, then or later. A caller that stops waiting (its
    /// client gone) gives its request up alike, if no worker has taken it yet.
    pub async fn ask(&self, item: T) -> StoreResult<A> {
        let (answer, mut answered) = oneshot::channel();
        let state = Arc::new(AtomicU8::new(WAITING));
        let waiting = GiveUp(state.clone());
        // The workers live as long as a sender does: this one is here.
        let _ = self.waiting.send(Waiting {
            item,
            state,
            answer,
        });
        let answer = match tokio::time::timeout(self.acquire_timeout, &mut answered).await {
            Ok(answer) => answer,
            Err(_) if waiting.give_up() => {
                return Err(StoreError::Unavailable(DbErr::ConnectionAcquire(
                    ConnAcquireErr::Timeout,
                )))
            }
            Err(_) => answered.await,
        };
        answer.map_err(|_| StoreError::Database(DbErr::Custom("the worker stopped".into())))
    }
}

/// Takes what waits (at least one request, at most `most`, those left from the last round
/// first), hands it to `run`, and again, until no handle is left. `rounds_ended`: this worker's
/// place among the workers, and where each hears that another ended a round that did something.
async fn work<T, A, R, F>(
    db: Database,
    queue: Queue<T, A>,
    (worker, rounds_ended): (usize, RoundsEnded),
    most: usize,
    run: R,
) where
    R: Fn(Database, Vec<Waiting<T, A>>) -> F,
    F: Future<Output = Vec<Waiting<T, A>>>,
{
    let mut batch = Vec::with_capacity(most);
    loop {
        if batch.is_empty() {
            if queue.lock().await.recv_many(&mut batch, most).await == 0 {
                return;
            }
        } else if let Ok(mut queue) = queue.try_lock() {
            // Those left wait for no one: what waits already joins them (the queue is held by
            // a worker waiting for more only when nothing waits).
            while batch.len() < most {
                match queue.try_recv() {
                    Ok(waiting) => batch.push(waiting),
                    Err(_) => break,
                }
            }
        }
        // Those given up are dropped (those left from the last round are taken already).
        batch.retain(|waiting| waiting.state.load(Ordering::Acquire) == TAKEN || waiting.take());
        if batch.is_empty() {
            continue;
        }
        let taken = batch.len();
        batch = run(db.clone(), batch).await;
        if batch.len() < taken {
            // What this round did may be what another worker's requests wait for. (A round that
            // did nothing held nothing: told of it, two waiting workers would wake each other
            // without end.)
            for (other, round_ended) in rounds_ended.iter().enumerate() {
                if other != worker {
                    round_ended.notify_one();
                }
            }
        } else {
            // None of it could be done yet: what it waits for ends with another worker's round.
            let room = most.saturating_sub(batch.len());
            tokio::select! {
                _ = rounds_ended[worker].notified() => {}
                received = async { queue.lock().await.recv_many(&mut batch, room).await }, if room > 0 => {
                    if received == 0 {
                        return;
                    }
                }
            }
        }
    }
}
