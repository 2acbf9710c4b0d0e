//! The store: every query Task API runs, each scoped by the owning user.

use sea_orm::sea_query::{Alias, BinOper, Expr, Func, SimpleExpr, Value};
use sea_orm::{
    sqlx, ColumnTrait, Condition, ConnectionTrait, DatabaseBackend, DbErr, EntityTrait,
    FromQueryResult, Iterable, Order, QueryFilter, QueryOrder, QuerySelect, QueryTrait, RuntimeErr,
    Set, SqlErr,
};
use uuid::Uuid;

use crate::db;
use crate::db::sql_cache::Shape;
use crate::db::Database;
use crate::domain::{self, TaskChanges, TaskFields};
use crate::entity::{task, user};
use crate::pagination::{SortField, SortKey, TaskFilter, TaskPosition, TaskSort};

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
    matches!(
        err,
        DbErr::Exec(RuntimeErr::SqlxError(
            sqlx::Error::Io(_) | sqlx::Error::Protocol(_) | sqlx::Error::WorkerCrashed
        )) | DbErr::Query(RuntimeErr::SqlxError(
            sqlx::Error::Io(_) | sqlx::Error::Protocol(_) | sqlx::Error::WorkerCrashed
        ))
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

/// A comparison of a sort key with a value (`<`, `<=`, `>`, `>=`).
type Comparison = fn(Expr, SimpleExpr) -> SimpleExpr;

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
    let values = vec![
        task.id.into(),
        task.user_id.into(),
        task.title.clone().into(),
        task.description.clone().into(),
        task.is_completed.into(),
        task.created_at.into(),
        task.updated_at.into(),
    ];
    let insert = db.statement(Shape::CreateTask, values, || {
        task::Entity::insert(task::ActiveModel {
            id: Set(task.id),
            user_id: Set(task.user_id),
            title: Set(task.title.clone()),
            description: Set(task.description.clone()),
            is_completed: Set(task.is_completed),
            created_at: Set(task.created_at),
            updated_at: Set(task.updated_at),
        })
    });
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
    let select = db.statement(
        Shape::GetTask,
        owned_task_values(user_id, task_id)
            .into_iter()
            .chain([1u64.into()])
            .collect(),
        || {
            task::Entity::find()
                .filter(owned_task(user_id, task_id))
                .limit(1)
        },
    );
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
    let title = changes.title.map(|title| title.into_inner());
    let description = changes
        .description
        .map(|description| description.map(|d| d.into_inner()));
    let is_completed = changes.is_completed;
    let now = domain::now();
    let shape = Shape::UpdateTask {
        title: title.is_some(),
        description: description.as_ref().map(Option::is_none),
        is_completed: is_completed.is_some(),
    };
    // In the order of the SQL: the new values, the ones the CASE compares with, the time, the task.
    let new_values = [
        title.clone().map(Value::from),
        description.clone().map(Value::from),
        is_completed.map(Value::from),
    ];
    let compared = [
        title.clone().map(Value::from),
        description.clone().flatten().map(Value::from),
        is_completed.map(Value::from),
    ];
    let values = new_values
        .into_iter()
        .chain(compared)
        .flatten()
        .chain([now.into()])
        .chain(owned_task_values(user_id, task_id))
        .collect();
    let update = db.statement(shape, values, || {
        let mut update = task::Entity::update_many().filter(owned_task(user_id, task_id));
        let mut changed = Condition::any();
        if let Some(title) = title {
            changed = changed.add(task::Column::Title.ne(title.clone()));
            update = update.col_expr(task::Column::Title, Expr::value(title));
        }
        if let Some(description) = description {
            changed = changed.add(match &description {
                None => task::Column::Description.is_not_null(),
                Some(text) => task::Column::Description
                    .is_null()
                    .or(task::Column::Description.ne(text.as_str())),
            });
            update = update.col_expr(task::Column::Description, Expr::value(description));
        }
        if let Some(is_completed) = is_completed {
            changed = changed.add(task::Column::IsCompleted.ne(is_completed));
            update = update.col_expr(task::Column::IsCompleted, Expr::value(is_completed));
        }
        // Never earlier than the time already stored: a write that took its time before a
        // concurrent one committed must not move `updated_at` back.
        let later = Func::greatest([Expr::value(now), Expr::col(task::Column::UpdatedAt).into()]);
        let updated_at = Expr::case(changed, later).finally(Expr::col(task::Column::UpdatedAt));
        let mut update = update.col_expr(task::Column::UpdatedAt, updated_at.into());
        // Named columns: a column a newer release adds changes nothing this statement returns.
        QueryTrait::query(&mut update)
            .returning(sea_orm::sea_query::Query::returning().columns(task::Column::iter()));
        update
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
    let delete = db.statement(
        Shape::DeleteTask,
        owned_task_values(user_id, task_id).to_vec(),
        || task::Entity::delete_many().filter(owned_task(user_id, task_id)),
    );
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
    let backend = db.get_database_backend();
    let TaskQuery {
        sort,
        filter,
        after,
        limit,
    } = query;
    let shape = Shape::ListTasks {
        sort,
        completed: filter.completed.is_some(),
        title_contains: filter.title_contains.is_some(),
        after: after.is_some(),
    };
    // In the order of the SQL: the owner, the completed filter, the search's values, the
    // cursor's key (thrice) and id, the limit.
    let search = filter
        .title_contains
        .as_deref()
        .map(|text| title_search(text, backend));
    let _search_permit = match search {
        Some(_) => Some(db.search_permit(user_id).await?),
        None => None,
    };
    let cursor_values = after.as_ref().map(|after| {
        let key = match &after.key {
            SortKey::Time(time) => Value::from(*time),
            SortKey::Title(title) => Value::from(title.clone()),
        };
        [key.clone(), key.clone(), key, after.id.into()]
    });
    let values = [Some(user_id.into()), filter.completed.map(Value::from)]
        .into_iter()
        .flatten()
        .chain(search.iter().flat_map(|(_, values)| values.iter().cloned()))
        .chain(cursor_values.into_iter().flatten())
        .chain([(limit + 1).into()])
        .collect();
    let select = db.statement(shape, values, || {
        let (key, order) = sort_key(sort, backend);
        let mut select = task::Entity::find().filter(task::Column::UserId.eq(user_id));
        if let Some(completed) = filter.completed {
            select = select.filter(task::Column::IsCompleted.eq(completed));
        }
        if let Some((condition, _)) = search {
            select = select.filter(condition);
        }
        if let Some(after) = after {
            let value: SimpleExpr = match after.key {
                SortKey::Time(time) => Expr::value(time),
                SortKey::Title(title) => Func::lower(Expr::value(title)).into(),
            };
            let (beyond, reached): (Comparison, Comparison) = match order {
                Order::Desc => (Expr::lt, Expr::lte),
                _ => (Expr::gt, Expr::gte),
            };
            // `reached` repeats what the OR implies, as a plain bound an index range scan can use.
            select =
                select.filter(
                    Condition::all()
                        .add(reached(Expr::expr(key.clone()), value.clone()))
                        .add(
                            Condition::any()
                                .add(beyond(Expr::expr(key.clone()), value.clone()))
                                .add(Condition::all().add(Expr::expr(key.clone()).eq(value)).add(
                                    beyond(Expr::col(task::Column::Id), Expr::value(after.id)),
                                )),
                        ),
                );
        }
        select
            .order_by(key, order.clone())
            .order_by(task::Column::Id, order)
            .limit(limit + 1)
    });
    let mut tasks = task::Model::find_by_statement(select).all(db).await?;
    if tasks.is_empty() {
        get_user(db, user_id).await?;
    }
    let has_more = tasks.len() as u64 > limit;
    tasks.truncate(limit as usize);
    Ok(TaskPage { tasks, has_more })
}

/// The condition that a title contains `text`, case-insensitively (both lower-cased by the
/// database, so that they fold alike), and the values it binds in order.
fn title_search(text: &str, backend: DatabaseBackend) -> (SimpleExpr, Vec<Value>) {
    let title = Func::lower(Expr::col(task::Column::Title));
    match backend {
        // LIKE can use the trigram index on lower(title); the text's own `%`, `_` and `\` are
        // escaped with PostgreSQL's default LIKE escape, the backslash.
        DatabaseBackend::Postgres => {
            let escaped: String = text
                .chars()
                .flat_map(|c| match c {
                    '%' | '_' | '\\' => vec!['\\', c],
                    c => vec![c],
                })
                .collect();
            let pattern = format!("%{escaped}%");
            let condition =
                Expr::expr(title).binary(BinOper::Like, Func::lower(Expr::value(pattern.clone())));
            (condition, vec![pattern.into()])
        }
        // A plain substring test: no wildcards at all.
        _ => {
            let position = Func::cust(Alias::new("instr"))
                .arg(title)
                .arg(Func::lower(Expr::value(text)));
            (Expr::expr(position).gt(0), vec![text.into(), 0.into()])
        }
    }
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

fn owned_task(user_id: Uuid, task_id: Uuid) -> Condition {
    Condition::all()
        .add(task::Column::Id.eq(task_id))
        .add(task::Column::UserId.eq(user_id))
}

/// The values `owned_task` binds, in its order.
fn owned_task_values(user_id: Uuid, task_id: Uuid) -> [Value; 2] {
    [task_id.into(), user_id.into()]
}

/// Tells a missing user from a missing (or someone else's) task: runs only when a lookup missed.
async fn task_miss(db: &Database, user_id: Uuid, task_id: Uuid) -> StoreError {
    match get_user(db, user_id).await {
        Ok(_) => StoreError::TaskNotFound(task_id),
        Err(err) => err,
    }
}

/// The expression a sort compares first. Titles compare lower-cased and byte by byte (SQLite's
/// default; PostgreSQL is told `COLLATE "C"`), so that both databases order them alike.
fn sort_key(sort: TaskSort, backend: DatabaseBackend) -> (SimpleExpr, Order) {
    let key = match (sort.field(), backend) {
        (SortField::CreatedAt, _) => Expr::col(task::Column::CreatedAt).into(),
        (SortField::UpdatedAt, _) => Expr::col(task::Column::UpdatedAt).into(),
        (SortField::Title, DatabaseBackend::Postgres) => {
            Expr::cust(r#"lower("title") COLLATE "C""#)
        }
        (SortField::Title, _) => Func::lower(Expr::col(task::Column::Title)).into(),
    };
    let order = if sort.is_descending() {
        Order::Desc
    } else {
        Order::Asc
    };
    (key, order)
}
