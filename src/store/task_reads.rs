//! Reads of single tasks (`GET /users/{user_id}/tasks/{task_id}`) that arrive together, made on
//! PostgreSQL as one statement: one round trip, one wake-up of the database's backend and one
//! executor run for them all, instead of one each. A read waits for no other: when a reader is
//! free it runs at once with whatever else is waiting by then.
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::Arc;

use sea_orm::{ConnAcquireErr, ConnectionTrait, DatabaseBackend, DbErr};
use tokio::sync::{mpsc, oneshot, Mutex};
use uuid::Uuid;

use super::statements::{GetTasks, OwnedTask};
use super::{get_task, task_miss, task_row, StoreError, StoreResult};
use crate::db::Database;
use crate::domain::Task;
use crate::entity::task;

/// How many tasks one statement reads at most.
const TASKS_PER_READ: usize = 64;

/// Reads single tasks, coalescing those that wait at the same moment (PostgreSQL; on SQLite,
/// in the process, there is no round trip to save and each read runs alone).
#[derive(Clone)]
pub struct TaskReads {
    db: Database,
    waiting: Option<mpsc::UnboundedSender<Wanted>>,
}

/// One task asked for, and where its row (or the statement's failure) goes.
struct Wanted {
    task: OwnedTask,
    /// Set when a reader takes it.
    taken: Arc<AtomicBool>,
    answer: oneshot::Sender<StoreResult<Option<task::Model>>>,
}

impl TaskReads {
    /// On PostgreSQL, starts readers that each run one statement at a time, as many as
    /// `Database::half_the_pool` (as title searches), so that single reads never hold the whole
    /// pool; they end when every `TaskReads` is dropped.
    pub fn new(db: Database) -> Self {
        if db.get_database_backend() != DatabaseBackend::Postgres {
            return Self { db, waiting: None };
        }
        let (waiting, queue) = mpsc::unbounded_channel();
        let queue = Arc::new(Mutex::new(queue));
        for _ in 0..db.half_the_pool() {
            tokio::spawn(read_together(db.clone(), queue.clone()));
        }
        Self {
            db,
            waiting: Some(waiting),
        }
    }

    /// The owner's task: `TaskNotFound` when the owner has no such task, `UserNotFound` when
    /// there is no such owner.
    pub async fn get(&self, user_id: Uuid, task_id: Uuid) -> StoreResult<Task> {
        let Some(waiting) = &self.waiting else {
            return get_task(&self.db, user_id, task_id).await;
        };
        let (answer, mut row) = oneshot::channel();
        let task = OwnedTask { user_id, task_id };
        let taken = Arc::new(AtomicBool::new(false));
        // The readers live as long as a sender does: this one is here.
        let _ = waiting.send(Wanted {
            task,
            taken: taken.clone(),
            answer,
        });
        // A read no reader has taken within the pool's acquire timeout (every reader held up by
        // a database that does not answer) is given up, as a wait for a connection is.
        let answered = match tokio::time::timeout(self.db.acquire_timeout(), &mut row).await {
            Ok(answered) => answered,
            Err(_) if !taken.load(Ordering::Acquire) => {
                return Err(StoreError::Unavailable(DbErr::ConnectionAcquire(
                    ConnAcquireErr::Timeout,
                )))
            }
            Err(_) => row.await,
        };
        let row = answered.unwrap_or_else(|_| {
            Err(StoreError::Database(DbErr::Custom(
                "the task's reader stopped".into(),
            )))
        })?;
        match row {
            Some(row) => Ok(row.into()),
            None => Err(task_miss(&self.db, user_id, task_id).await),
        }
    }
}

/// Takes what waits (at least one read, at most `TASKS_PER_READ`), reads it in one statement,
/// answers each, and again, until no `TaskReads` is left.
async fn read_together(db: Database, queue: Arc<Mutex<mpsc::UnboundedReceiver<Wanted>>>) {
    let mut batch = Vec::with_capacity(TASKS_PER_READ);
    loop {
        {
            let mut queue = queue.lock().await;
            if queue.recv_many(&mut batch, TASKS_PER_READ).await == 0 {
                return;
            }
        }
        answer(&db, &mut batch).await;
    }
}

/// Reads the tasks of `batch` and sends each its row, or the statement's failure.
async fn answer(db: &Database, batch: &mut Vec<Wanted>) {
    for wanted in batch.iter() {
        wanted.taken.store(true, Ordering::Release);
    }
    let tasks: Vec<OwnedTask> = batch.iter().map(|wanted| wanted.task).collect();
    match read(db, &tasks).await {
        Ok(found) => {
            for wanted in batch.drain(..) {
                let OwnedTask { user_id, task_id } = wanted.task;
                let row = found
                    .iter()
                    .find(|row| row.id == task_id && row.user_id == user_id)
                    .cloned();
                let _ = wanted.answer.send(Ok(row));
            }
        }
        Err(err) => {
            for wanted in batch.drain(..) {
                let _ = wanted.answer.send(Err(err.again()));
            }
        }
    }
}

/// The rows of those of `tasks` that exist.
async fn read(db: &Database, tasks: &[OwnedTask]) -> StoreResult<Vec<task::Model>> {
    let select = GetTasks(tasks).statement(db.get_database_backend());
    let rows = db.query_all(select).await?;
    Ok(rows.iter().map(task_row).collect::<Result<_, _>>()?)
}
