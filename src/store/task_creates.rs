//! Creates of tasks without idempotency keys that arrive together, made on PostgreSQL as one
//! statement ([`Together`], [`CreateTasks`]): one task an owner a statement, and each task
//! written exactly as its own statement would write it.

use std::collections::HashSet;
use std::sync::{Arc, Mutex};

use sea_orm::{ConnectionTrait, DatabaseBackend, DbErr, QueryResult};
use uuid::Uuid;

use super::statements::{CreateTask, CreateTasks};
use super::together::{Together, Waiting};
use super::{StoreError, StoreResult};
use crate::db::{self, Database};
use crate::domain::Task;

/// How many tasks one statement creates at most.
const TASKS_PER_CREATE: usize = 16;

/// How many of the pool's connections there are for each statement of creates in flight.
const CONNECTIONS_PER_CREATE_WORKER: usize = 5;

/// A task to create, with its owner's quota; whether its writer tells the commit hook of it.
struct Create {
    task: Task,
    max_tasks: i64,
    announced: bool,
}

/// What became of a create that waited.
enum Created {
    /// Written with its version and position, or (`None`) not written: its owner does not
    /// exist, holds `max_tasks` tasks, or does not own its list.
    Written(Option<Placed>),
    /// The statement it shared failed on the database's side (nothing of it written): it is
    /// written alone, so that its own outcome (a taken id, a list deleted meanwhile) is its own.
    WriteAlone,
    /// The statement it shared did not reach the database, or its answer did not come back (or
    /// could not be read).
    Failed(StoreError),
}

/// Creates tasks, coalescing those without idempotency keys that wait at the same moment
/// (PostgreSQL; on SQLite each runs alone).
#[derive(Clone)]
pub struct TaskCreates {
    together: Option<Together<Create, Created>>,
}

impl TaskCreates {
    pub fn new(db: &Database) -> Self {
        let together = (db.get_database_backend() == DatabaseBackend::Postgres).then(|| {
            let writing = Writing::default();
            Together::start(
                db,
                create_workers(db),
                TASKS_PER_CREATE,
                move |db, batch| create_together(db, batch, writing.clone()),
            )
        });
        Self { together }
    }

    /// Writes `create` on `db`: with others when it claims no key and `db` is no transaction's;
    /// its version and position, or `None` when nothing was written.
    pub(super) async fn write(
        &self,
        db: &Database,
        create: &CreateTask<'_>,
    ) -> StoreResult<Option<Placed>> {
        if let (Some(together), None, false) =
            (&self.together, create.claim, db.within_transaction())
        {
            let asked = Create {
                task: create.task.clone(),
                max_tasks: create.max_tasks,
                announced: db.announces(),
            };
            match together.ask(asked).await? {
                Created::Written(created) => return Ok(created),
                Created::Failed(err) => return Err(err),
                Created::WriteAlone => {}
            }
        }
        write_alone(db, create).await
    }
}

/// How many statements of creates are in flight at most: one for each five connections of the
/// pool, rounded up (two of the default ten). Near the database, where a create waits mostly for
/// its commit's flush, a few statements of many creates each commit more tasks a flush and cost
/// the server less a create than many statements of few; a far database wants more statements
/// in flight, which a larger pool gives (README, *Deploying*).
fn create_workers(db: &Database) -> usize {
    db.pool_size().div_ceil(CONNECTIONS_PER_CREATE_WORKER)
}

/// The owners whose creates a statement in flight writes. Another statement leaves their next
/// creates for later: no statement waits for another's lock on an owner, and an owner whose row
/// is held (by a long transaction of its own, or from outside) holds up one statement of creates,
/// never every worker's.
type Writing = Arc<Mutex<HashSet<Uuid>>>;

/// A statement's owners, taken out of [`Writing`] again when it is done (or given up).
struct OwnersWriting {
    writing: Writing,
    owners: Vec<Uuid>,
}

impl Drop for OwnersWriting {
    fn drop(&mut self) {
        let mut writing = self.writing.lock().expect("not poisoned");
        for owner in &self.owners {
            writing.remove(owner);
        }
    }
}

/// `create` written by its own statement (or transaction, on SQLite).
async fn write_alone(db: &Database, create: &CreateTask<'_>) -> StoreResult<Option<Placed>> {
    match db.write(create).await {
        Ok(row) => Ok(row.as_ref().map(|row| placed(row, 0)).transpose()?),
        // The list was deleted after the statement's snapshot: written nothing.
        Err(err) if super::is_foreign_key_violation(&err) => Ok(None),
        Err(err)
            if matches!(
                err.sql_err(),
                Some(sea_orm::SqlErr::UniqueConstraintViolation(_))
            ) =>
        {
            Err(StoreError::TaskAlreadyExists(create.task.id))
        }
        Err(err) => Err(StoreError::of_keyed_write(err, create.claim.is_some())),
    }
}

/// A created task's version and position.
type Placed = (i64, String);

/// A create waiting.
type Asked = Waiting<Create, Created>;

/// A created task's version and position: the row's columns from `first` on.
fn placed(row: &QueryResult, first: usize) -> Result<Placed, DbErr> {
    Ok((
        row.try_get_by_index(first)?,
        row.try_get_by_index(first + 1)?,
    ))
}

/// Creates the tasks of `batch` in one statement, one task an owner (and one quota) of the owners
/// no other statement is `writing`, and tells each what became of it; gives back those left for
/// the next.
async fn create_together(db: Database, batch: Vec<Asked>, writing: Writing) -> Vec<Asked> {
    let (group, rest) = one_an_owner(batch, &mut writing.lock().expect("not poisoned"));
    if group.is_empty() {
        return rest;
    }
    let _owners = OwnersWriting {
        owners: group.iter().map(|asked| asked.item.task.user_id).collect(),
        writing,
    };
    let tasks: Vec<Task> = group.iter().map(|asked| asked.item.task.clone()).collect();
    let create = CreateTasks {
        tasks: &tasks,
        max_tasks: group[0].item.max_tasks,
    };
    let written = match db.query_all(create.statement()).await {
        Ok(rows) => rows
            .iter()
            .map(|row| Ok((row.try_get_by_index::<Uuid>(0)?, placed(row, 1)?)))
            .collect::<Result<Vec<_>, DbErr>>()
            // Written, but which and how cannot be told.
            .map_err(StoreError::WriteOutcomeUnknown),
        Err(err) if !db::is_database_error(&err) => Err(StoreError::of_write(err)),
        Err(_) => {
            for asked in group {
                asked.answer(Created::WriteAlone);
            }
            return rest;
        }
    };
    for asked in group {
        let answer = match &written {
            Ok(written) => {
                let placed = written
                    .iter()
                    .find(|(id, _)| *id == asked.item.task.id)
                    .map(|(_, placed)| placed.clone());
                if placed.is_some() && asked.item.announced {
                    // Here, not by the caller, which may be gone by now.
                    db.announce(asked.item.task.user_id);
                }
                Created::Written(placed)
            }
            Err(failure) => Created::Failed(failure.again()),
        };
        asked.answer(answer);
    }
    rest
}

/// `batch` split into the creates that go in one statement (the first of each owner's not
/// `writing` already, of the first's quota), their owners now `writing`, and the rest.
fn one_an_owner(batch: Vec<Asked>, writing: &mut HashSet<Uuid>) -> (Vec<Asked>, Vec<Asked>) {
    let mut group: Vec<Asked> = Vec::with_capacity(batch.len());
    let mut rest = Vec::new();
    for asked in batch {
        let joins = group
            .first()
            .is_none_or(|first| first.item.max_tasks == asked.item.max_tasks)
            && writing.insert(asked.item.task.user_id);
        if joins {
            group.push(asked);
        } else {
            rest.push(asked);
        }
    }
    (group, rest)
}
