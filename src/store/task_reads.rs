//! Reads of single tasks (`GET /users/{user_id}/tasks/{task_id}`) that arrive together, made on
//! PostgreSQL as one statement ([`Together`]).

use sea_orm::{ConnectionTrait, DatabaseBackend};
use uuid::Uuid;

use super::statements::{GetTasks, OwnedTask};
use super::together::{Together, Waiting};
use super::{get_task, task_miss, task_row, StoreResult};
use crate::db::Database;
use crate::domain::Task;
use crate::entity::task;

/// How many tasks one statement reads at most.
const TASKS_PER_READ: usize = 64;

/// A task's row, if it exists (or the statement's failure).
type Read = StoreResult<Option<task::Model>>;

/// Reads single tasks, coalescing those that wait at the same moment (PostgreSQL; on SQLite,
/// in the process, there is no round trip to save and each read runs alone).
#[derive(Clone)]
pub struct TaskReads {
    db: Database,
    together: Option<Together<OwnedTask, Read>>,
}

impl TaskReads {
    pub fn new(db: Database) -> Self {
        let together = (db.get_database_backend() == DatabaseBackend::Postgres)
            .then(|| Together::start(&db, db.half_the_pool(), TASKS_PER_READ, read_together));
        Self { db, together }
    }

    /// The owner's task: `TaskNotFound` when the owner has no such task, `UserNotFound` when
    /// there is no such owner.
    pub async fn get(&self, user_id: Uuid, task_id: Uuid) -> StoreResult<Task> {
        let Some(together) = &self.together else {
            return get_task(&self.db, user_id, task_id).await;
        };
        match together.ask(OwnedTask { user_id, task_id }).await?? {
            Some(row) => Ok(row.into()),
            None => Err(task_miss(&self.db, user_id, task_id).await),
        }
    }
}

/// Reads the tasks of `batch` in one statement and sends each its row, or the statement's
/// failure.
async fn read_together(
    db: Database,
    mut batch: Vec<Waiting<OwnedTask, Read>>,
) -> Vec<Waiting<OwnedTask, Read>> {
    let tasks: Vec<OwnedTask> = batch.iter().map(|wanted| wanted.item).collect();
    match read(&db, &tasks).await {
        Ok(found) => {
            for wanted in batch.drain(..) {
                let OwnedTask { user_id, task_id } = wanted.item;
                let row = found
                    .iter()
                    .find(|row| row.id == task_id && row.user_id == user_id)
                    .cloned();
                wanted.answer(Ok(row));
            }
        }
        Err(err) => {
            for wanted in batch.drain(..) {
                wanted.answer(Err(err.again()));
            }
        }
    }
    batch
}

/// The rows of those of `tasks` that exist.
async fn read(db: &Database, tasks: &[OwnedTask]) -> StoreResult<Vec<task::Model>> {
    let select = GetTasks(tasks).statement(db.get_database_backend());
    let rows = db.query_all(select).await?;
    Ok(rows.iter().map(task_row).collect::<Result<_, _>>()?)
}
