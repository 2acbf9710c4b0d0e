//! The store: every query Task API runs, each scoped by the owning user.

pub mod statements;

use sea_orm::{
    sqlx, ConnectionTrait, DatabaseBackend, DbErr, EntityTrait, FromQueryResult, Set, SqlErr,
};
use uuid::Uuid;

use crate::db::{self, Database};
use crate::domain::{self, TaskChanges, TaskFields};
use crate::entity::{task, user};
use crate::pagination::{TaskFilter, TaskPosition, TaskSort};
use statements::{DeleteTask, GetTask, InsertTask, ListTasks, OwnedTask, UpdateTask};

/// Why a store operation did not succeed.
#[derive(Debug)]
pub enum StoreError {
    UserNotFound(Uuid),
    TaskNotFound(Uuid),
    UserAlreadyExists(Uuid),
    /// The database could not be reached (no connection, pool timed out, statement timed out or
    /// refused): the statement certainly did nothing.
    Unavailable(DbErr),
    /// The connection was lost while a write ran: it may or may not have been applied.
    WriteOutcomeUnknown(DbErr),
    /// Anything else the database said.
    Database(DbErr),
}

impl From<DbErr> for StoreError {
    fn from(err: DbErr) -> Self {
        if is_unavailable(&err) {
            Self::Unavailable(err)
        } else {
            Self::Database(err)
        }
    }
}

impl StoreError {
    /// A write's failure: one lost in flight has an unknown outcome, not a certain one.
    fn of_write(err: DbErr) -> Self {
        if lost_in_flight(&err) {
            Self::WriteOutcomeUnknown(err)
        } else {
            err.into()
        }
    }
}

/// Whether the connection failed after the statement was handed to it (not while a connection
/// was being acquired or opened): the database may have run it, and committed it, all the same.
fn lost_in_flight(err: &DbErr) -> bool {
    matches!(err, DbErr::Exec(_) | DbErr::Query(_))
        && matches!(
            db::sqlx_error(err),
            Some(sqlx::Error::Io(_) | sqlx::Error::Protocol(_) | sqlx::Error::WorkerCrashed)
        )
}

fn is_unavailable(err: &DbErr) -> bool {
    if matches!(err, DbErr::ConnectionAcquire(_) | DbErr::Conn(_)) || db::is_sqlite_busy(err) {
        return true;
    }
    match db::sqlx_error(err) {
        Some(
            sqlx::Error::Io(_)
            | sqlx::Error::Tls(_)
            | sqlx::Error::PoolTimedOut
            | sqlx::Error::PoolClosed
            | sqlx::Error::WorkerCrashed,
        ) => true,
        // admin_shutdown, crash_shutdown, cannot_connect_now (the server is going away);
        // query_canceled (the statement timeout).
        Some(sqlx::Error::Database(db)) => {
            matches!(
                db.code().as_deref(),
                Some("57P01" | "57P02" | "57P03" | "57014")
            )
        }
        _ => false,
    }
}

pub type StoreResult<T> = Result<T, StoreError>;

/// One page of tasks in the order asked for.
#[derive(Debug)]
pub struct TaskPage {
    pub tasks: Vec<task::Model>,
    /// Whether more tasks follow the last one of this page.
    pub has_more: bool,
}

/// Which page of which tasks to list.
#[derive(Debug)]
pub struct TaskQuery {
    pub sort: TaskSort,
    pub filter: TaskFilter,
    pub after: Option<TaskPosition>,
    pub limit: u64,
}

/// Registers a user, with the given id or a new one.
pub async fn create_user(db: &Database, id: Option<Uuid>) -> StoreResult<user::Model> {
    let user = user::Model {
        id: id.unwrap_or_else(Uuid::now_v7),
        created_at: domain::now(),
    };
    let insert = user::Entity::insert(user::ActiveModel {
        id: Set(user.id),
        created_at: Set(user.created_at),
    })
    .exec_without_returning(db)
    .await;
    match insert {
        Ok(_) => Ok(user),
        Err(err) if matches!(err.sql_err(), Some(SqlErr::UniqueConstraintViolation(_))) => {
            Err(StoreError::UserAlreadyExists(user.id))
        }
        Err(err) => Err(StoreError::of_write(err)),
    }
}

pub async fn get_user(db: &Database, user_id: Uuid) -> StoreResult<user::Model> {
    user::Entity::find_by_id(user_id)
        .one(db)
        .await?
        .ok_or(StoreError::UserNotFound(user_id))
}

/// Deletes a user; the database deletes the user's tasks with it.
pub async fn delete_user(db: &Database, user_id: Uuid) -> StoreResult<()> {
    let result = user::Entity::delete_by_id(user_id)
        .exec(db)
        .await
        .map_err(StoreError::of_write)?;
    if result.rows_affected == 0 {
        return Err(StoreError::UserNotFound(user_id));
    }
    Ok(())
}

/// Creates a task in one INSERT; a missing owner shows as the foreign key failing.
pub async fn create_task(
    db: &Database,
    user_id: Uuid,
    fields: TaskFields,
) -> StoreResult<task::Model> {
    let now = domain::now();
    let task = task::Model {
        id: Uuid::now_v7(),
        user_id,
        title: fields.title.into_inner(),
        description: fields.description.map(|d| d.into_inner()),
        is_completed: fields.is_completed,
        created_at: now,
        updated_at: now,
    };
    let insert = db.statement(&InsertTask(&task));
    match db.execute(insert).await {
        Ok(_) => Ok(task),
        Err(err)
            if matches!(
                err.sql_err(),
                Some(SqlErr::ForeignKeyConstraintViolation(_))
            ) =>
        {
            Err(StoreError::UserNotFound(user_id))
        }
        Err(err) => Err(StoreError::of_write(err)),
    }
}

pub async fn get_task(db: &Database, user_id: Uuid, task_id: Uuid) -> StoreResult<task::Model> {
    let select = db.statement(&GetTask(OwnedTask { user_id, task_id }));
    match task::Model::find_by_statement(select).one(db).await? {
        Some(task) => Ok(task),
        None => Err(task_miss(db, user_id, task_id).await),
    }
}

/// Applies changes in one UPDATE … RETURNING; `updated_at` moves only when a value really changes.
pub async fn update_task(
    db: &Database,
    user_id: Uuid,
    task_id: Uuid,
    changes: TaskChanges,
) -> StoreResult<task::Model> {
    if changes.is_empty() {
        return get_task(db, user_id, task_id).await;
    }
    let update = db.statement(&UpdateTask {
        task: OwnedTask { user_id, task_id },
        title: changes.title.map(|title| title.into_inner()),
        description: changes
            .description
            .map(|description| description.map(|d| d.into_inner())),
        is_completed: changes.is_completed,
        now: domain::now(),
    });
    let mut rows = task::Model::find_by_statement(update)
        .all(db)
        .await
        .map_err(StoreError::of_write)?;
    match rows.pop() {
        Some(task) => Ok(task),
        None => Err(task_miss(db, user_id, task_id).await),
    }
}

pub async fn delete_task(db: &Database, user_id: Uuid, task_id: Uuid) -> StoreResult<()> {
    let delete = db.statement(&DeleteTask(OwnedTask { user_id, task_id }));
    if db
        .execute(delete)
        .await
        .map_err(StoreError::of_write)?
        .rows_affected()
        == 0
    {
        return Err(task_miss(db, user_id, task_id).await);
    }
    Ok(())
}

/// One keyset page in one SELECT; the owner is looked up only when the page is empty.
pub async fn list_tasks(db: &Database, user_id: Uuid, query: TaskQuery) -> StoreResult<TaskPage> {
    let TaskQuery {
        sort,
        filter,
        after,
        limit,
    } = query;
    let _search_permit = match filter.title_contains {
        Some(_) => Some(db.search_permit(user_id).await?),
        None => None,
    };
    let select = db.statement(&ListTasks {
        backend: db.get_database_backend(),
        user_id,
        sort,
        completed: filter.completed,
        title_contains: filter.title_contains,
        after,
        limit,
    });
    let mut tasks = task::Model::find_by_statement(select).all(db).await?;
    if tasks.is_empty() {
        get_user(db, user_id).await?;
    }
    let has_more = tasks.len() as u64 > limit;
    tasks.truncate(limit as usize);
    Ok(TaskPage { tasks, has_more })
}

/// Whether the database answers at all.
pub async fn ping(db: &Database) -> StoreResult<()> {
    db.execute_unprepared("SELECT 1").await?;
    Ok(())
}

/// The SQLite write-ahead log holding this many pages (about 4 MiB) or more is checkpointed and
/// truncated: SQLite's own checkpoints copy its pages back but cannot restart it while readers
/// keep using it, so under steady load it would grow without bound.
const WAL_TRUNCATE_PAGES: i64 = 1000;

/// Checkpoints SQLite's write-ahead log, truncating it once it has grown; returns its size in
/// pages before. A truncating checkpoint waits (up to the busy timeout) for the readers of older
/// snapshots to finish and holds new writers back meanwhile; readers go on.
pub async fn checkpoint_wal(db: &Database) -> StoreResult<i64> {
    let pages = wal_checkpoint(db, "PASSIVE").await?;
    if pages >= WAL_TRUNCATE_PAGES {
        wal_checkpoint(db, "TRUNCATE").await?;
    }
    Ok(pages)
}

/// Runs `PRAGMA wal_checkpoint(mode)`; returns the log's size in pages.
async fn wal_checkpoint(db: &Database, mode: &str) -> StoreResult<i64> {
    let row = db
        .query_one(sea_orm::Statement::from_string(
            DatabaseBackend::Sqlite,
            format!("PRAGMA wal_checkpoint({mode})"),
        ))
        .await?;
    Ok(row
        .map(|row| row.try_get_by_index::<i64>(1))
        .transpose()?
        .unwrap_or(0))
}

/// Tells a missing user from a missing (or someone else's) task: runs only when a lookup missed.
async fn task_miss(db: &Database, user_id: Uuid, task_id: Uuid) -> StoreError {
    match get_user(db, user_id).await {
        Ok(_) => StoreError::TaskNotFound(task_id),
        Err(err) => err,
    }
}
