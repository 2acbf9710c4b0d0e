//! The store: every query Task API runs, each scoped by the owning user.

mod lists;
mod runs;
pub mod statements;
mod task_creates;
mod task_reads;
mod together;
pub mod token_key;

use chrono::{DateTime, NaiveDate, NaiveTime, Utc};
use sea_orm::{
    sqlx, ColumnTrait, ConnectionTrait, DatabaseBackend, DbErr, EntityTrait, FromQueryResult,
    IdenStatic, Iterable, NotSet, QueryFilter, QueryResult, QuerySelect, RuntimeErr, Set, SqlErr,
};
use uuid::Uuid;

use crate::db::{self, Database};
use crate::domain::{
    self, Due, IdempotencyKey, Invalid, List, NewTask, Priority, Recurrence, SettledFields, Tags,
    Task, TaskChanges, TaskDescription, TaskFields, TaskMove, TaskPatch, User, WriteCondition,
};
use crate::entity::{idempotency_key, list_tombstone, task, task_tombstone, user};
use crate::pagination::{TaskFilter, TaskPosition, TaskSort};
use statements::{
    CreateTask, DeleteTask, GetTask, IdempotencyClaim, ListChanges, ListOrder, ListTags, ListTasks,
    LockOwner, MoveOutcome, MoveTask, OwnedTask, PlaceTask, UpdateTask,
};

/// Why a store operation did not succeed.
#[derive(Debug)]
pub enum StoreError {
    UserNotFound(Uuid),
    TaskNotFound(Uuid),
    ListNotFound(Uuid),
    UserAlreadyExists(Uuid),
    /// A create with a client-made id that a task (of any user) has: nothing was written.
    TaskAlreadyExists(Uuid),
    /// A create with a client-made id that a list (of any user) has: nothing was written.
    ListAlreadyExists(Uuid),
    /// A create would take the user past `USER_MAX_LISTS` (the limit): nothing was written.
    ListQuotaExceeded(i64),
    /// A conditional write's list has none of the expected versions: nothing was written.
    ListPreconditionFailed(Uuid),
    /// A create would take the user past `USER_MAX_TASKS` (the limit): nothing was written.
    TaskQuotaExceeded(i64),
    /// A conditional write's task has none of the expected versions: nothing was written.
    PreconditionFailed(Uuid),
    /// An idempotency key already used for a create with other fields.
    IdempotencyKeyReused,
    /// A create waited for the one holding its idempotency key (or another write of the same
    /// user) past the database's limit: nothing was written.
    IdempotencyKeyInUse,
    /// The database could not be reached (no connection, pool timed out, statement timed out or
    /// refused): the statement certainly did nothing.
    Unavailable(DbErr),
    /// The connection was lost while a write ran: it may or may not have been applied.
    WriteOutcomeUnknown(DbErr),
    /// A write lost every one of its `WRITE_ATTEMPTS` to concurrent ones (the text says how): it
    /// wrote nothing, and may be sent again.
    Contended(&'static str),
    /// The task a patch makes of the stored one breaks a rule (every failing field named):
    /// nothing was written.
    Invalid(Vec<Invalid>),
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
    /// The same failure, told to another of the reads that shared its statement.
    fn again(&self) -> Self {
        let told = |err: &DbErr| DbErr::Custom(err.to_string());
        match self {
            Self::Unavailable(err) => Self::Unavailable(told(err)),
            Self::Database(err) => Self::Database(told(err)),
            Self::WriteOutcomeUnknown(err) => Self::WriteOutcomeUnknown(told(err)),
            other => Self::Database(DbErr::Custom(format!("{other:?}"))),
        }
    }

    /// A write's failure: one lost in flight has an unknown outcome, not a certain one.
    pub fn of_write(err: DbErr) -> Self {
        if lost_in_flight(&err) {
            Self::WriteOutcomeUnknown(err)
        } else {
            err.into()
        }
    }

    /// A create's failure; with an idempotency key, a wait for a lock that ran out is the key
    /// being in use (by the first request, or another write of the user's in its way).
    fn of_keyed_write(err: DbErr, keyed: bool) -> Self {
        if keyed && is_lock_wait(&err) {
            Self::IdempotencyKeyInUse
        } else {
            Self::of_write(err)
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

/// Whether a statement gave up waiting: SQLite's busy timeout, PostgreSQL's statement timeout.
fn is_lock_wait(err: &DbErr) -> bool {
    db::is_sqlite_busy(err)
        || matches!(db::sqlx_error(err), Some(sqlx::Error::Database(db))
            if db.code().as_deref() == Some("57014"))
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

pub use lists::{create_list, delete_list, get_list, list_lists, rename_list, ListPage};
pub use runs::{create_tasks, update_tasks, TaskUpdate};
pub use task_creates::TaskCreates;
pub use task_reads::TaskReads;

impl From<task::Model> for Task {
    fn from(row: task::Model) -> Self {
        Self {
            id: row.id,
            user_id: row.user_id,
            title: row.title,
            description: row.description,
            is_completed: row.is_completed,
            completed_at: row.completed_at,
            due: Due::stored(row.due_date, row.due_time, row.due_time_zone),
            priority: Priority::of_level(row.priority),
            tags: Tags::stored(&row.tags),
            recurrence: row.recurrence.map(Recurrence::stored),
            recurrence_start: row.recurrence_start,
            list_id: row.list_id,
            position: row.position,
            created_at: row.created_at,
            updated_at: row.updated_at,
            version: row.version,
        }
    }
}

/// A row of `tasks` as the store's statements return it (every column, by its name), read as
/// sea-orm's derived reader reads it, except that a null is read as `None` at once: sea-orm's
/// reader first writes an error message naming the column for every null it meets, which cost a
/// page of tasks without `due` or `recurrence` more than decoding all of its rows.
fn task_row(row: &QueryResult) -> Result<task::Model, DbErr> {
    let read = match (row.try_as_pg_row(), row.try_as_sqlite_row()) {
        (Some(row), _) => read_task_columns(row),
        (_, Some(row)) => read_task_columns(row),
        _ => return task::Model::from_query_result(row, ""),
    };
    read.map_err(|err| DbErr::Query(RuntimeErr::SqlxError(err)))
}

/// Every column of a `tasks` row, decoded by sqlx: the row's first columns are the task's, in
/// `task::Column`'s order (as `statements::task_columns` writes them), read by position and without
/// sqlx's check of each column's type (the migrations fix the types) — found by name and checked,
/// they cost a page of tasks more than its decoding.
fn read_task_columns<R>(row: &R) -> Result<task::Model, sqlx::Error>
where
    R: sqlx::Row,
    usize: sqlx::ColumnIndex<R>,
    for<'r> Uuid: sqlx::Decode<'r, R::Database> + sqlx::Type<R::Database>,
    for<'r> String: sqlx::Decode<'r, R::Database> + sqlx::Type<R::Database>,
    for<'r> bool: sqlx::Decode<'r, R::Database> + sqlx::Type<R::Database>,
    for<'r> i16: sqlx::Decode<'r, R::Database> + sqlx::Type<R::Database>,
    for<'r> i64: sqlx::Decode<'r, R::Database> + sqlx::Type<R::Database>,
    for<'r> DateTime<Utc>: sqlx::Decode<'r, R::Database> + sqlx::Type<R::Database>,
    for<'r> NaiveDate: sqlx::Decode<'r, R::Database> + sqlx::Type<R::Database>,
    for<'r> NaiveTime: sqlx::Decode<'r, R::Database> + sqlx::Type<R::Database>,
{
    use sqlx::Column as _;
    use task::Column;
    let columns = row.columns();
    let count = Column::iter().len();
    let in_order = columns.len() >= count
        && columns[0].name() == Column::Id.as_str()
        && columns[count - 1].name() == Column::Version.as_str();
    if !in_order {
        return Err(sqlx::Error::ColumnNotFound(format!(
            "the task's columns, in order, first in a row of {} columns",
            columns.len()
        )));
    }
    let mut next = 0..count;
    let mut at = || next.next().expect("one of the task's columns");
    Ok(task::Model {
        id: row.try_get_unchecked(at())?,
        user_id: row.try_get_unchecked(at())?,
        title: row.try_get_unchecked(at())?,
        description: row.try_get_unchecked(at())?,
        is_completed: row.try_get_unchecked(at())?,
        completed_at: row.try_get_unchecked(at())?,
        due_date: row.try_get_unchecked(at())?,
        due_time: row.try_get_unchecked(at())?,
        due_time_zone: row.try_get_unchecked(at())?,
        priority: row.try_get_unchecked(at())?,
        tags: row.try_get_unchecked(at())?,
        tag_keys: row.try_get_unchecked(at())?,
        recurrence: row.try_get_unchecked(at())?,
        recurrence_start: row.try_get_unchecked(at())?,
        list_id: row.try_get_unchecked(at())?,
        position: row.try_get_unchecked(at())?,
        created_at: row.try_get_unchecked(at())?,
        updated_at: row.try_get_unchecked(at())?,
        version: row.try_get_unchecked(at())?,
    })
}

impl From<user::Model> for User {
    fn from(row: user::Model) -> Self {
        Self {
            id: row.id,
            created_at: row.created_at,
            task_count: row.task_count,
            tombstones_dropped_through: row.tombstones_dropped_through,
            list_count: row.list_count,
            change_seq: row.change_seq,
        }
    }
}

/// One page of tasks in the order asked for.
#[derive(Debug)]
pub struct TaskPage {
    pub tasks: Vec<Task>,
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
pub async fn create_user(db: &Database, id: Option<Uuid>) -> StoreResult<User> {
    let user = User {
        id: id.unwrap_or_else(Uuid::now_v7),
        created_at: domain::now(),
        task_count: 0,
        tombstones_dropped_through: 0,
        list_count: 0,
        change_seq: 0,
    };
    let insert = user::Entity::insert(user::ActiveModel {
        id: Set(user.id),
        created_at: Set(user.created_at),
        change_seq: NotSet,
        task_count: NotSet,
        tombstone_count: NotSet,
        tombstones_dropped_through: NotSet,
        list_count: NotSet,
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

pub async fn get_user(db: &Database, user_id: Uuid) -> StoreResult<User> {
    user::Entity::find_by_id(user_id)
        .one(db)
        .await?
        .map(User::from)
        .ok_or(StoreError::UserNotFound(user_id))
}

/// How many users' change counters one statement reads at most.
const COUNTERS_PER_STATEMENT: usize = 1000;

/// The change counters of those of `users` that exist.
pub async fn change_counters(db: &Database, users: &[Uuid]) -> StoreResult<Vec<(Uuid, i64)>> {
    let mut counters = Vec::with_capacity(users.len());
    for chunk in users.chunks(COUNTERS_PER_STATEMENT) {
        let read: Vec<(Uuid, i64)> = user::Entity::find()
            .select_only()
            .column(user::Column::Id)
            .column(user::Column::ChangeSeq)
            .filter(user::Column::Id.is_in(chunk.iter().copied()))
            .into_tuple()
            .all(db)
            .await?;
        counters.extend(read);
    }
    Ok(counters)
}

/// Tells every instance listening on `channel` (PostgreSQL `NOTIFY`) the change counters of
/// `users`, as `<user id>:<counter>`: after their writes committed, in one statement per batch,
/// of one text whatever the batch's size (the ids go as one list), so that the connection
/// prepares it once. Its transaction commits without waiting for the write-ahead log's flush:
/// PostgreSQL keeps no notification over a crash, so the flush would make nothing durable, and
/// it would queue among the writes' flushes, each write's commit waiting the longer.
pub async fn notify_changes(db: &Database, channel: &str, users: &[Uuid]) -> StoreResult<()> {
    for chunk in users.chunks(COUNTERS_PER_STATEMENT) {
        let ids: Vec<String> = chunk.iter().map(Uuid::to_string).collect();
        let notify = sea_orm::Statement::from_sql_and_values(
            DatabaseBackend::Postgres,
            r#"SELECT set_config('synchronous_commit', 'off', true), pg_notify($1, "id"::text || ':' || "change_seq"::text) FROM "users" WHERE "id" = ANY(string_to_array($2, ',')::uuid[])"#,
            [channel.into(), ids.join(",").into()],
        );
        db.execute(notify).await?;
    }
    Ok(())
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

/// A created task, and whether an earlier request with the same idempotency key created it (the
/// answer is then that request's, replayed).
#[derive(Debug)]
pub struct CreatedTask {
    pub task: Task,
    pub replayed: bool,
}

/// How many times a conditional write runs again when its statement's snapshot missed a
/// concurrent change (PostgreSQL reads a statement's candidate rows as they were when it began).
const WRITE_ATTEMPTS: usize = 3;

/// Creates a task with the owner's next change number as its version: one statement on
/// PostgreSQL, one transaction on SQLite. With an idempotency key, the key is claimed in the same
/// statement (or transaction), and a retry gets the first request's task instead. A user holding
/// `max_tasks` tasks gets `TaskQuotaExceeded`, checked under the owner's lock in the same write; a
/// client-made id that any user's task has already gets `TaskAlreadyExists` (the insert's unique
/// violation fails the whole write), and nothing is written either way.
pub async fn create_task(
    db: &Database,
    creates: &TaskCreates,
    user_id: Uuid,
    new: NewTask,
    key: Option<&IdempotencyKey>,
    max_tasks: i64,
) -> StoreResult<CreatedTask> {
    let _turn = db.write_permit(user_id).await?;
    let request_hash = key.map(|_| new.fingerprint());
    // Its position made by the insert: the key after the last of the list's.
    let mut task = new_task(user_id, new, domain::now());
    for _ in 0..WRITE_ATTEMPTS {
        let claim = key
            .zip(request_hash.as_deref())
            .map(|(key, request_hash)| IdempotencyClaim {
                key: key.as_str(),
                request_hash,
            });
        let create = CreateTask {
            task: &task,
            claim,
            max_tasks,
        };
        let created = creates.write(db, &create).await?;
        if let Some((version, position)) = created {
            task.version = version;
            task.position = position;
            return Ok(CreatedTask {
                task,
                replayed: false,
            });
        }
        let (Some(key), Some(request_hash)) = (key, &request_hash) else {
            // No owner, no room or no such list; or a task was deleted just now (then again).
            room_for_a_task(db, user_id, max_tasks).await?;
            list_to_hold(db, user_id, task.list_id).await?;
            continue;
        };
        let stored = idempotency_key::Entity::find_by_id((user_id, key.as_str().to_owned()))
            .one(db)
            .await?;
        match stored {
            Some(stored) if &stored.request_hash == request_hash => {
                return Ok(CreatedTask {
                    task: Task {
                        id: stored.task_id,
                        completed_at: task.completed_at.map(|_| stored.created_at),
                        created_at: stored.created_at,
                        updated_at: stored.created_at,
                        version: stored.task_version,
                        position: stored
                            .task_position
                            .unwrap_or_else(|| domain::UNORDERED_POSITION.to_owned()),
                        ..task
                    },
                    replayed: true,
                })
            }
            Some(_) => return Err(StoreError::IdempotencyKeyReused),
            // Neither claimed nor stored: no owner, no room or no such list; or the key expired
            // (or a task was deleted) just now (then again).
            None => {
                room_for_a_task(db, user_id, max_tasks).await?;
                list_to_hold(db, user_id, task.list_id).await?;
            }
        }
    }
    Err(StoreError::Contended(
        "an idempotency key kept being claimed and purged",
    ))
}

/// The task `new` makes for its owner at `now` (rolled forward when created completed), its
/// position and version still to be given.
fn new_task(user_id: Uuid, new: NewTask, now: DateTime<Utc>) -> Task {
    let id = new.id.unwrap_or_else(Uuid::now_v7);
    written_task(id, user_id, new.fields.settle(None), now, None)
}

/// The task as a write of `settled` at `now` leaves it: a new one (`stored: None`) or `stored`
/// changed, keeping its position; its version still to be given. `completed_at` follows
/// `is_completed` (the write's time when it turns true, kept while it stays true), and
/// `updated_at` never moves back.
fn written_task(
    id: Uuid,
    user_id: Uuid,
    settled: SettledFields,
    now: DateTime<Utc>,
    stored: Option<&Task>,
) -> Task {
    let SettledFields {
        fields,
        recurrence_start,
    } = settled;
    let completed_before = stored
        .filter(|stored| stored.is_completed)
        .and_then(|stored| stored.completed_at);
    Task {
        id,
        user_id,
        title: fields.title.into_inner(),
        description: fields.description.map(|d| d.into_inner()),
        is_completed: fields.is_completed,
        completed_at: fields.is_completed.then(|| completed_before.unwrap_or(now)),
        due: fields.due,
        priority: fields.priority,
        tags: fields.tags,
        recurrence: fields.recurrence,
        recurrence_start,
        list_id: fields.list_id,
        position: stored
            .map(|stored| stored.position.clone())
            .unwrap_or_default(),
        created_at: stored.map_or(now, |stored| stored.created_at),
        updated_at: stored.map_or(now, |stored| now.max(stored.updated_at)),
        version: 0,
    }
}

/// Whether the owner exists and holds fewer than `max_tasks` tasks: why a create that no key
/// stood in the way of inserted nothing.
async fn room_for_a_task(db: &Database, user_id: Uuid, max_tasks: i64) -> StoreResult<()> {
    if get_user(db, user_id).await?.task_count >= max_tasks {
        return Err(StoreError::TaskQuotaExceeded(max_tasks));
    }
    Ok(())
}

/// Whether `list_id` (if any) is one of the owner's lists: why a write that puts a task in it
/// wrote nothing, when it is not (a 400 naming `list_id`).
async fn list_to_hold(db: &Database, user_id: Uuid, list_id: Option<Uuid>) -> StoreResult<()> {
    let Some(list_id) = list_id else {
        return Ok(());
    };
    match get_list(db, user_id, list_id).await {
        Ok(_) => Ok(()),
        Err(StoreError::ListNotFound(_)) => Err(not_a_users_list(list_id)),
        Err(err) => Err(err),
    }
}

/// A 400 naming `list_id`: not one of the user's lists.
fn not_a_users_list(list_id: Uuid) -> StoreError {
    StoreError::Invalid(vec![Invalid::new(
        domain::LIST_ID_FIELD,
        format!("is not one of the user's lists: {list_id}"),
    )])
}

/// A 400 naming `after`: not another task of the list the task moves to.
fn not_in_the_list(after: Uuid) -> StoreError {
    StoreError::Invalid(vec![Invalid::new(
        domain::AFTER_FIELD,
        format!("is not another task of the list the task moves to: {after}"),
    )])
}

/// Whether a write failed on a foreign key: a task put in a list that a concurrent write deleted
/// after the statement's snapshot was taken (PostgreSQL), or a list deleted while a concurrent
/// write put a task in it. Nothing was written; run again, the write sees the other.
fn is_foreign_key_violation(err: &DbErr) -> bool {
    matches!(
        err.sql_err(),
        Some(SqlErr::ForeignKeyConstraintViolation(_))
    )
}

pub async fn get_task(db: &Database, user_id: Uuid, task_id: Uuid) -> StoreResult<Task> {
    let select = GetTask(OwnedTask { user_id, task_id }).statement(db.get_database_backend());
    match db.query_one(select).await? {
        Some(row) => Ok(task_row(&row)?.into()),
        None => Err(task_miss(db, user_id, task_id).await),
    }
}

/// The versions a conditional write of a task checks (see `versions_to_expect`).
async fn expected_versions(
    db: &Database,
    user_id: Uuid,
    task_id: Uuid,
    condition: &WriteCondition,
) -> StoreResult<Option<Option<Vec<i64>>>> {
    versions_to_expect(condition, async || {
        Ok(unwritten(db, user_id, task_id, condition).await?.version)
    })
    .await
}

/// The versions a conditional write's statement checks: `None` for any, or the listed ones; an
/// empty list matches nothing, so the write is not even tried. A condition that excludes versions
/// is checked against the row as it is now (`current`: its version when the condition holds),
/// and the write then expects that version: it happens only if the row has not changed since
/// (404 and 412 come from that read).
async fn versions_to_expect(
    condition: &WriteCondition,
    current: impl AsyncFnOnce() -> StoreResult<i64>,
) -> StoreResult<Option<Option<Vec<i64>>>> {
    Ok(match condition {
        WriteCondition::Always => Some(None),
        WriteCondition::VersionIn(versions) if versions.is_empty() => None,
        WriteCondition::VersionIn(versions) => Some(Some(versions.clone())),
        WriteCondition::VersionNotIn(_) => Some(Some(vec![current().await?])),
    })
}

/// Why a conditional write of an existing task wrote nothing: its task, when the condition holds.
async fn unwritten(
    db: &Database,
    user_id: Uuid,
    task_id: Uuid,
    condition: &WriteCondition,
) -> StoreResult<Task> {
    let current = get_task(db, user_id, task_id).await?;
    if condition.allows(current.version) {
        Ok(current)
    } else {
        Err(StoreError::PreconditionFailed(task_id))
    }
}

/// Whether applying `changes` to `task` would change a value.
fn changes_anything(changes: &TaskChanges, task: &Task) -> bool {
    changes
        .title
        .as_ref()
        .is_some_and(|title| title.as_str() != task.title)
        || changes.description.as_ref().is_some_and(|description| {
            description.as_ref().map(TaskDescription::as_str) != task.description.as_deref()
        })
        || changes
            .is_completed
            .is_some_and(|is_completed| is_completed != task.is_completed)
        || changes.due.as_ref().is_some_and(|due| *due != task.due)
        || changes
            .priority
            .is_some_and(|priority| priority != task.priority)
        || changes.tags.as_ref().is_some_and(|tags| *tags != task.tags)
        || changes
            .recurrence
            .as_ref()
            .is_some_and(|recurrence| *recurrence != task.recurrence)
        || changes
            .recurrence_start
            .is_some_and(|start| start != task.recurrence_start)
        || changes
            .list_id
            .is_some_and(|list_id| list_id != task.list_id)
}

/// Runs an update; the task as written, or `None` when it wrote nothing.
/// A task put in a list that was deleted meanwhile is not written.
async fn write_update(db: &Database, update: &UpdateTask<'_>) -> StoreResult<Option<Task>> {
    let row = match db.write(update).await {
        Ok(row) => row,
        Err(err) if is_foreign_key_violation(&err) => None,
        Err(err) => return Err(StoreError::of_write(err)),
    };
    Ok(row.map(|row| task_row(&row)).transpose()?.map(Task::from))
}

/// Applies a merge patch when it changes a value (and the task's version satisfies
/// `condition`): `updated_at` moves and the task takes the owner's next change number. A patch
/// that no rule needs the stored task for is one statement on PostgreSQL; one that changes
/// `due` or `recurrence`, or completes a recurring task, is merged with the task as read and
/// written only if the task is still at that version. A patch that changes nothing leaves the
/// task, and its version, as they are.
pub async fn update_task(
    db: &Database,
    user_id: Uuid,
    task_id: Uuid,
    patch: TaskPatch,
    condition: WriteCondition,
) -> StoreResult<Task> {
    let _turn = db.write_permit(user_id).await?;
    if patch.is_empty() {
        return unwritten(db, user_id, task_id, &condition).await;
    }
    let mut read = None;
    if let Some(changes) = patch.without_stored() {
        match update_in_place(db, user_id, task_id, &changes, &condition).await? {
            InPlace::Written(task) => return Ok(task),
            InPlace::Recurring(stored) => read = Some(stored),
        }
    }
    rewrite(db, user_id, task_id, &condition, read, |stored| {
        patch.merge(stored)
    })
    .await
}

/// Replaces every field of a task (when its version satisfies `condition`), merged with the
/// task as read so that the recurrence's series and a completion's roll-forward follow it.
pub async fn replace_task(
    db: &Database,
    user_id: Uuid,
    task_id: Uuid,
    fields: TaskFields,
    condition: WriteCondition,
) -> StoreResult<Task> {
    let _turn = db.write_permit(user_id).await?;
    rewrite(db, user_id, task_id, &condition, None, |_| {
        Ok(fields.clone())
    })
    .await
}

/// What an update in place did.
enum InPlace {
    /// The task as written (or as it is, when the changes changed nothing).
    Written(Task),
    /// Nothing: the changes complete a recurring task, as read, whose roll-forward needs it.
    Recurring(Task),
}

/// Applies `changes` in one statement. A completion is written only to a task without a
/// recurrence.
async fn update_in_place(
    db: &Database,
    user_id: Uuid,
    task_id: Uuid,
    changes: &TaskChanges,
    condition: &WriteCondition,
) -> StoreResult<InPlace> {
    let not_recurring = changes.is_completed == Some(true);
    for _ in 0..WRITE_ATTEMPTS {
        let Some(expected) = expected_versions(db, user_id, task_id, condition).await? else {
            return unwritten(db, user_id, task_id, condition)
                .await
                .map(InPlace::Written);
        };
        let update = UpdateTask {
            task: OwnedTask { user_id, task_id },
            changes,
            expected: expected.as_deref(),
            not_recurring,
            now: domain::now(),
        };
        if let Some(task) = write_update(db, &update).await? {
            return Ok(InPlace::Written(task));
        }
        let current = unwritten(db, user_id, task_id, condition).await?;
        if !changes_anything(changes, &current) {
            return Ok(InPlace::Written(current));
        }
        list_to_hold(db, user_id, changes.list_id.flatten()).await?;
        if not_recurring && current.recurrence.is_some() {
            return Ok(InPlace::Recurring(current));
        }
    }
    Err(StoreError::Contended(
        "the task kept changing under the update",
    ))
}

/// Writes the fields `make` makes of the task as read (every rule checked), settled against it,
/// only if the task is still at the version read; read again and retried when it is not. `read`:
/// the task as a caller has just read it (its condition checked), if it has.
async fn rewrite(
    db: &Database,
    user_id: Uuid,
    task_id: Uuid,
    condition: &WriteCondition,
    mut read: Option<Task>,
    make: impl Fn(&Task) -> Result<TaskFields, Vec<Invalid>>,
) -> StoreResult<Task> {
    for _ in 0..WRITE_ATTEMPTS {
        let stored = match read.take() {
            Some(stored) => stored,
            None => unwritten(db, user_id, task_id, condition).await?,
        };
        let fields = make(&stored).map_err(StoreError::Invalid)?;
        let changes = TaskChanges::from(fields.settle(Some(&stored)));
        if !changes_anything(&changes, &stored) {
            return Ok(stored);
        }
        let update = UpdateTask {
            task: OwnedTask { user_id, task_id },
            changes: &changes,
            expected: Some(&[stored.version]),
            not_recurring: false,
            now: domain::now(),
        };
        if let Some(task) = write_update(db, &update).await? {
            return Ok(task);
        }
        list_to_hold(db, user_id, changes.list_id.flatten()).await?;
    }
    Err(StoreError::Contended(
        "the task kept changing under the update",
    ))
}

/// Moves a task right after another of a list (or first): the task (404, then `condition`:
/// 412), the list (400 naming `list_id`) and `after` (400 naming `after`) are checked under the
/// owner's lock, and the task takes a key between its new neighbours' (fractional indexing) and
/// the owner's next change number. A move that leaves the task where it is writes nothing. When
/// the key would pass `POSITION_MAX_CHARS` (or the neighbours' keys are equal), the list's keys
/// are made again, evenly, each re-keyed task taking a version of its own. On PostgreSQL a move
/// that needs no re-spacing is one statement (one round trip); the rest run in a transaction.
pub async fn move_task(
    db: &Database,
    user_id: Uuid,
    task_id: Uuid,
    destination: TaskMove,
    condition: WriteCondition,
) -> StoreResult<Task> {
    if db.get_database_backend() == DatabaseBackend::Postgres {
        let task = OwnedTask { user_id, task_id };
        if let Some(moved) = move_in_one_statement(db, task, destination, &condition).await? {
            return Ok(moved);
        }
    }
    move_in_transaction(db, user_id, task_id, destination, condition).await
}

/// PostgreSQL's move in one statement ([`MoveTask`]); `None` when it could not place the task:
/// the list's keys must be made again, or the statement kept reading the owner's tasks as they
/// were before a concurrent write of theirs.
async fn move_in_one_statement(
    db: &Database,
    task: OwnedTask,
    destination: TaskMove,
    condition: &WriteCondition,
) -> StoreResult<Option<Task>> {
    let _turn = db.write_permit(task.user_id).await?;
    for _ in 0..WRITE_ATTEMPTS {
        let statement = MoveTask {
            task,
            destination,
            condition,
            now: domain::now(),
        }
        .statement();
        let row = db
            .query_one(statement)
            .await
            .map_err(StoreError::of_write)?
            .ok_or_else(|| DbErr::RecordNotFound("the move's outcome".to_owned()))?;
        let outcome: String = row.try_get("", "outcome")?;
        match (MoveOutcome::named(&outcome), destination) {
            (Some(MoveOutcome::Moved), _) => {
                db.announce(task.user_id);
                return Ok(Some(task_row(&row)?.into()));
            }
            (Some(MoveOutcome::Unchanged), _) => return Ok(Some(task_row(&row)?.into())),
            (Some(MoveOutcome::NoOwner), _) => return Err(StoreError::UserNotFound(task.user_id)),
            (Some(MoveOutcome::NoTask), _) => return Err(StoreError::TaskNotFound(task.task_id)),
            (Some(MoveOutcome::PreconditionFailed), _) => {
                return Err(StoreError::PreconditionFailed(task.task_id))
            }
            (
                Some(MoveOutcome::NoList),
                TaskMove {
                    list_id: Some(Some(list_id)),
                    ..
                },
            ) => return Err(not_a_users_list(list_id)),
            (
                Some(MoveOutcome::NoAfter),
                TaskMove {
                    after: Some(after), ..
                },
            ) => return Err(not_in_the_list(after)),
            (Some(MoveOutcome::Respace), _) => return Ok(None),
            (Some(MoveOutcome::Stale), _) => {}
            (None | Some(MoveOutcome::NoList | MoveOutcome::NoAfter), _) => {
                return Err(StoreError::Database(DbErr::Custom(format!(
                    "a move's statement answered {outcome} for {destination:?}"
                ))))
            }
        }
    }
    Ok(None)
}

/// A move in one transaction, under the owner's lock: the task, the list and the list's order
/// are read, and the task placed with a key made between its new neighbours' (or the list's
/// keys made again).
async fn move_in_transaction(
    db: &Database,
    user_id: Uuid,
    task_id: Uuid,
    destination: TaskMove,
    condition: WriteCondition,
) -> StoreResult<Task> {
    db.in_transaction(user_id, async |db: &Database| {
        let backend = db.get_database_backend();
        db.execute(LockOwner(user_id).statement(backend))
            .await
            .map_err(StoreError::of_write)?;
        let stored = unwritten(db, user_id, task_id, &condition).await?;
        let list_id = destination.list_id.unwrap_or(stored.list_id);
        list_to_hold(db, user_id, list_id).await?;
        let mut order = list_order(db, user_id, list_id).await?;
        let was_at = order.iter().position(|(id, _)| *id == task_id);
        if let Some(index) = was_at {
            order.remove(index);
        }
        let place = match destination.after {
            None => 0,
            Some(after) => {
                order
                    .iter()
                    .position(|(id, _)| *id == after)
                    .ok_or_else(|| not_in_the_list(after))?
                    + 1
            }
        };
        if was_at == Some(place) {
            return Ok(stored);
        }
        let before = place.checked_sub(1).map(|index| order[index].1.as_str());
        let next = order.get(place).map(|(_, position)| position.as_str());
        let task = OwnedTask { user_id, task_id };
        let now = domain::now();
        match domain::key_between(before, next) {
            Ok(position) if position.len() <= domain::POSITION_MAX_CHARS => {
                place_task(db, task, list_id, &position, now).await
            }
            _ => {
                order.insert(place, (task_id, String::new()));
                respace(db, user_id, task_id, list_id, &order, now).await
            }
        }
    })
    .await
}

/// The ids and positions of the owner's list (`None`: the inbox), first to last.
async fn list_order(
    db: &Database,
    user_id: Uuid,
    list_id: Option<Uuid>,
) -> StoreResult<Vec<(Uuid, String)>> {
    let select = ListOrder { user_id, list_id }.statement(db.get_database_backend());
    db.query_all(select)
        .await?
        .iter()
        .map(|row| Ok((row.try_get("", "id")?, row.try_get("", "position")?)))
        .collect()
}

/// Puts a task at `position` of the list (under the owner's lock): the task as written.
async fn place_task(
    db: &Database,
    task: OwnedTask,
    list_id: Option<Uuid>,
    position: &str,
    now: DateTime<Utc>,
) -> StoreResult<Task> {
    let place = PlaceTask {
        task,
        list_id,
        position,
        now,
    };
    match db.write(&place).await.map_err(StoreError::of_write)? {
        Some(row) => Ok(task_row(&row)?.into()),
        None => Err(StoreError::TaskNotFound(task.task_id)),
    }
}

/// Gives the list's tasks, in `order` (the moved task among them), keys made again from the
/// first key on, each one after the last: every task whose key changes (and the moved one)
/// takes a version of its own. The moved task as written.
async fn respace(
    db: &Database,
    user_id: Uuid,
    moved: Uuid,
    list_id: Option<Uuid>,
    order: &[(Uuid, String)],
    now: DateTime<Utc>,
) -> StoreResult<Task> {
    let mut position: Option<String> = None;
    let mut placed = None;
    for (task_id, old) in order {
        let key = domain::key_between(position.as_deref(), None)
            .map_err(|err| StoreError::Database(DbErr::Custom(format!("{err:?}"))))?;
        if *task_id == moved || *old != key {
            let task = OwnedTask {
                user_id,
                task_id: *task_id,
            };
            let written = place_task(db, task, list_id, &key, now).await?;
            if *task_id == moved {
                placed = Some(written);
            }
        }
        position = Some(key);
    }
    placed.ok_or(StoreError::TaskNotFound(moved))
}

/// Deletes a task (when its version satisfies `condition`) and remembers it as deleted with the
/// owner's next change number: one statement on PostgreSQL, one transaction on SQLite. Past
/// `max_tombstones` deletions kept, the oldest is dropped by the same write.
pub async fn delete_task(
    db: &Database,
    user_id: Uuid,
    task_id: Uuid,
    condition: WriteCondition,
    max_tombstones: i64,
) -> StoreResult<()> {
    let _turn = db.write_permit(user_id).await?;
    let task = OwnedTask { user_id, task_id };
    for _ in 0..WRITE_ATTEMPTS {
        let Some(expected) = expected_versions(db, user_id, task_id, &condition).await? else {
            unwritten(db, user_id, task_id, &condition).await?;
            return Err(StoreError::PreconditionFailed(task_id));
        };
        let delete = DeleteTask {
            task,
            expected: expected.as_deref(),
            now: domain::now(),
            max_tombstones,
        };
        let deleted = db
            .write(&delete)
            .await
            .map_err(StoreError::of_write)?
            .is_some();
        if deleted {
            return Ok(());
        }
        unwritten(db, user_id, task_id, &condition).await?;
    }
    Err(StoreError::Contended(
        "the task kept changing under the delete",
    ))
}

/// One change of the feed: a task or a list as it is now, or a deleted task or list.
#[derive(Debug, Clone)]
pub enum Change {
    Changed(Task),
    Deleted { task_id: Uuid, version: i64 },
    ListChanged(List),
    ListDeleted { list_id: Uuid, version: i64 },
}

impl Change {
    pub fn version(&self) -> i64 {
        match self {
            Self::Changed(task) => task.version,
            Self::ListChanged(list) => list.version,
            Self::Deleted { version, .. } | Self::ListDeleted { version, .. } => *version,
        }
    }
}

/// A row of the change feed's statement: a task or (`is_list`) a list, each with nulls for the
/// other's columns, or (`deleted`) a tombstone of either with nulls.
fn change_of(row: &sea_orm::QueryResult) -> Result<Change, DbErr> {
    let id: Uuid = row.try_get("", "id")?;
    let version: i64 = row.try_get("", "version")?;
    let deleted: bool = row.try_get("", "deleted")?;
    let is_list: bool = row.try_get("", "is_list")?;
    Ok(match (deleted, is_list) {
        (true, true) => Change::ListDeleted {
            list_id: id,
            version,
        },
        (true, false) => Change::Deleted {
            task_id: id,
            version,
        },
        (false, true) => Change::ListChanged(List {
            id,
            user_id: row.try_get("", "user_id")?,
            name: row.try_get("", "name")?,
            created_at: row.try_get("", "created_at")?,
            updated_at: row.try_get("", "updated_at")?,
            version,
        }),
        (false, false) => Change::Changed(task_row(row)?.into()),
    })
}

/// One page of a user's changes.
#[derive(Debug)]
pub struct ChangePage {
    pub changes: Vec<Change>,
    pub has_more: bool,
}

/// The user's changes after version `since`, in version order, at most `limit` (one statement:
/// one snapshot of tasks, lists and the deletions of both).
pub async fn list_changes(
    db: &Database,
    user_id: Uuid,
    since: i64,
    limit: u64,
) -> StoreResult<ChangePage> {
    let select = ListChanges {
        user_id,
        since,
        limit,
    }
    .statement(db.get_database_backend());
    let mut changes = db
        .query_all(select)
        .await?
        .iter()
        .map(change_of)
        .collect::<Result<Vec<Change>, DbErr>>()?;
    let has_more = changes.len() as u64 > limit;
    changes.truncate(limit as usize);
    Ok(ChangePage { changes, has_more })
}

/// Forgets the idempotency keys created before `keys_before` and the deletions made before
/// `deletions_before`; returns how many of each.
pub async fn purge_expired(
    db: &Database,
    keys_before: chrono::DateTime<chrono::Utc>,
    deletions_before: chrono::DateTime<chrono::Utc>,
) -> StoreResult<(u64, u64)> {
    let keys = idempotency_key::Entity::delete_many()
        .filter(idempotency_key::Column::CreatedAt.lt(keys_before))
        .exec(db)
        .await?;
    let task_deletions = task_tombstone::Entity::delete_many()
        .filter(task_tombstone::Column::DeletedAt.lt(deletions_before))
        .exec(db)
        .await?;
    let list_deletions = list_tombstone::Entity::delete_many()
        .filter(list_tombstone::Column::DeletedAt.lt(deletions_before))
        .exec(db)
        .await?;
    Ok((
        keys.rows_affected,
        task_deletions.rows_affected + list_deletions.rows_affected,
    ))
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
    let select = ListTasks {
        user_id,
        sort,
        filter: &filter,
        after: after.as_ref(),
        limit,
    }
    .statement(db.get_database_backend());
    let mut rows = db.query_all(select).await?;
    if rows.is_empty() {
        get_user(db, user_id).await?;
    }
    let has_more = rows.len() as u64 > limit;
    rows.truncate(limit as usize);
    let tasks = rows
        .iter()
        .map(|row| task_row(row).map(Task::from))
        .collect::<Result<_, _>>()?;
    Ok(TaskPage { tasks, has_more })
}

/// How many of a user's tasks carry one tag.
#[derive(Debug, Clone, PartialEq, Eq, FromQueryResult)]
pub struct TagCount {
    /// The smallest of the tag's spellings, in byte order.
    pub name: String,
    pub count: i64,
}

/// The user's tags, once per key (Unicode lowercase), in byte order of their keys: at most
/// `limit`, read from `task_tags`' primary key. The owner is looked up only when there are none.
pub async fn list_tags(db: &Database, user_id: Uuid, limit: u64) -> StoreResult<Vec<TagCount>> {
    let select = ListTags { user_id, limit }.statement(db.get_database_backend());
    let mut tags = TagCount::find_by_statement(select).all(db).await?;
    if tags.is_empty() {
        get_user(db, user_id).await?;
    }
    tags.truncate(limit as usize);
    Ok(tags)
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

/// Checkpoints SQLite's write-ahead log, truncating it once it has grown; answers whether it
/// had grown and could not be truncated. A truncation holds this process's writes back and
/// waits for the readers of older snapshots to finish (readers go on), for `hold` at most: it is
/// tried again until then, as each try waits only briefly (`db`'s busy timeout).
pub async fn checkpoint_wal(db: &Database, hold: std::time::Duration) -> StoreResult<bool> {
    let (_, pages) = wal_checkpoint(db, "PASSIVE").await?;
    if pages < WAL_TRUNCATE_PAGES {
        return Ok(false);
    }
    let _held = db.hold_writes().await;
    let deadline = tokio::time::Instant::now() + hold;
    loop {
        let (busy, _) = wal_checkpoint(db, "TRUNCATE").await?;
        if !busy || tokio::time::Instant::now() >= deadline {
            return Ok(busy);
        }
    }
}

/// Runs `PRAGMA wal_checkpoint(mode)`; whether it could not finish, and the log's size in pages.
async fn wal_checkpoint(db: &Database, mode: &str) -> StoreResult<(bool, i64)> {
    let row = db
        .query_one(sea_orm::Statement::from_string(
            DatabaseBackend::Sqlite,
            format!("PRAGMA wal_checkpoint({mode})"),
        ))
        .await?;
    Ok(match row {
        Some(row) => (
            row.try_get_by_index::<i64>(0)? != 0,
            row.try_get_by_index::<i64>(1)?,
        ),
        None => (false, 0),
    })
}

/// Tells a missing user from a missing (or someone else's) task: runs only when a lookup missed.
async fn task_miss(db: &Database, user_id: Uuid, task_id: Uuid) -> StoreError {
    match get_user(db, user_id).await {
        Ok(_) => StoreError::TaskNotFound(task_id),
        Err(err) => err,
    }
}
