//! The store's statements, each written in one place: its SQL text and the values it binds come
//! from the same code ([`Sql`]), and the text is written once per [`Shape`].
//!
//! Writes take their version from the owner's change counter. On PostgreSQL each write is one
//! statement: it locks the owner's `users` row (held to commit, so that a user's changes commit in
//! the order of their numbers), writes the task with `change_seq + 1`, and bumps the counter only
//! when the task was written. SQLite has no data-modifying CTEs: there the same parts run as
//! statements of one transaction (SQLite has one writer at a time). Each write gives both forms
//! ([`Write`]), and `Database::write` runs the one its database takes.

mod create;
mod delete;
mod lists;
mod order;
mod read;
mod runs;
#[cfg(test)]
mod tests;
mod update;

use std::sync::LazyLock;

use sea_orm::{DatabaseBackend, IdenStatic, Iterable, Statement};
use uuid::Uuid;

use crate::db::sql_cache::{Sql, SqlCache};
use crate::db::write::Step;
use crate::domain::{Due, Task};
use crate::entity::task;
use crate::pagination::TaskSort;

pub use crate::db::write::Write;
pub use create::{CreateTask, CreateTasks, IdempotencyClaim};
pub use delete::DeleteTask;
pub use lists::{CreateList, DeleteList, GetList, ListLists, OwnedList, RenameList};
pub use order::{ListOrder, LockOwner, MoveOutcome, MoveTask, PlaceTask, VersionTest};
pub use read::{GetTask, GetTasks, ListChanges, ListTags, ListTasks};
pub use runs::{InsertTasks, LastPosition, OwnedLists, RewriteTasks, TakeVersions, TasksWithIds};
pub use update::UpdateTask;

/// What decides a statement's SQL text, apart from its values (each database has texts of its
/// own).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum Shape {
    /// PostgreSQL's create; whether it claims an idempotency key too.
    CreateTask {
        claims_key: bool,
        into_list: bool,
    },
    /// PostgreSQL's create of several owners' tasks together; how many.
    CreateTasks {
        tasks: usize,
    },
    /// SQLite's first step of a create with an idempotency key; whether the task goes in a list.
    ClaimIdempotencyKey {
        into_list: bool,
    },
    /// SQLite's last step of a create; whether the task goes in a list.
    InsertTask {
        into_list: bool,
    },
    /// Which of the owner's counts the bump keeps besides the change number (SQLite).
    BumpChangeSeq {
        counts: Counts,
    },
    GetTask,
    /// How many tasks are read together.
    GetTasks {
        tasks: usize,
    },
    /// How many versions `If-Match` lists (0: no condition).
    DeleteTask {
        expected_versions: usize,
    },
    /// SQLite's steps of a delete after the bump: the deletion remembered, the oldest kept past
    /// the bound forgotten.
    InsertTombstone,
    DropTombstones(Tombstones),
    /// Which fields change, (when it changes) whether the description becomes null, whether
    /// only a task without a recurrence is written, and how many versions `If-Match` lists.
    UpdateTask {
        title: bool,
        description: Option<bool>,
        is_completed: bool,
        due: bool,
        priority: bool,
        tags: bool,
        recurrence: bool,
        recurrence_start: bool,
        /// Where the task goes, when the changes move it.
        list: Option<ListShape>,
        not_recurring: bool,
        expected_versions: usize,
    },
    ListChanges,
    /// PostgreSQL's create of a list.
    CreateList,
    /// SQLite's last step of a list's create.
    InsertList,
    GetList,
    /// Whether the page follows a cursor.
    ListLists {
        after: bool,
    },
    /// How many versions `If-Match` lists.
    RenameList {
        expected_versions: usize,
    },
    /// How many versions `If-Match` lists (on SQLite, the first step: the counter's bump).
    DeleteList {
        expected_versions: usize,
    },
    /// SQLite's steps of a list's delete after the bump.
    InsertListTaskTombstones,
    DeleteListTasks,
    DeleteListRow,
    InsertListTombstone,
    ListTasks {
        sort: TaskSort,
        filter: FilterShape,
        after: bool,
    },
    ListTags,
    /// The ids and positions of a list's tasks, in order.
    ListOrder {
        list: ListShape,
    },
    /// The owner's row locked for a write that reads first.
    LockOwner,
    /// A task put at a position of a list (or the inbox).
    PlaceTask {
        list: ListShape,
    },
    /// PostgreSQL's move: where to (`None`: the task's own list), whether after a task, and how
    /// the task's version is tested.
    MoveTask {
        list: Option<ListShape>,
        after: bool,
        versions: VersionTest,
    },
    /// A run's tasks read by their ids: whether only the owner's, and how many ids.
    TasksWithIds {
        owned: bool,
        ids: usize,
    },
    /// Which of so many ids are the owner's lists.
    OwnedLists {
        ids: usize,
    },
    /// The greatest position of a list (or the inbox).
    LastPosition {
        list: ListShape,
    },
    /// A run's creates: how many rows.
    InsertTasks {
        rows: usize,
    },
    /// A run's updates: how many rows.
    RewriteTasks {
        rows: usize,
    },
    /// The owner's counter moved on by a run's versions.
    TakeVersions,
}

/// Which filters a list of tasks has, and `has_due`'s value.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub struct FilterShape {
    pub completed: bool,
    pub title_contains: bool,
    pub tag: bool,
    pub priority: bool,
    pub has_due: Option<bool>,
    pub due_range: bool,
    pub list: Option<ListShape>,
}

/// Which tasks a `list_id` filter keeps.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum ListShape {
    Inbox,
    List,
}

impl ListShape {
    /// A list's shape (`None`: the inbox).
    pub fn of(list_id: Option<Uuid>) -> Self {
        match list_id {
            None => Self::Inbox,
            Some(_) => Self::List,
        }
    }
}

/// What a change-number bump does to the owner's counts.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum Counts {
    Unchanged,
    /// Whether the new task goes in a list (which must be the owner's).
    TaskCreated {
        into_list: bool,
    },
    TaskDeleted,
    ListCreated,
}

/// The text of every shape written so far: a function of the shape and the database alone.
static SQL: LazyLock<SqlCache<Shape>> = LazyLock::new(SqlCache::default);

/// The statement `write` writes for `backend`, its text written once for `shape`.
fn statement(backend: DatabaseBackend, shape: Shape, write: impl Fn(&mut Sql)) -> Statement {
    SQL.statement(backend, shape, write)
}

/// The common table expressions of PostgreSQL's one-statement writes, quoted.
const COUNTER: &str = r#""counter""#;
const CHANGED: &str = r#""changed""#;
const CLAIMED: &str = r#""claimed""#;

/// The end of an insert of task deletions: a task id used again (a client-made id may be) replaces
/// its earlier deletion.
const TASK_DELETED_AGAIN: &str = r#" ON CONFLICT ("user_id", "task_id") DO UPDATE SET "version" = EXCLUDED."version", "deleted_at" = EXCLUDED."deleted_at""#;

/// The task's columns, in the entity's order, named plainly or (`qualified`) with the table.
fn task_columns(sql: &mut Sql, qualified: bool) {
    sql.join(task::Column::iter(), ", ", |sql, column| {
        if qualified {
            sql.push(r#""tasks"."#);
        }
        sql.push("\"").push(column.as_str()).push("\"");
    });
}

/// Binds `task`'s value of `column`, as the column stores it.
fn bind_column(sql: &mut Sql, task: &Task, column: task::Column) {
    match column {
        task::Column::Id => sql.bind(task.id),
        task::Column::UserId => sql.bind(task.user_id),
        task::Column::Title => sql.bind(task.title.as_str()),
        task::Column::Description => sql.bind(task.description.clone()),
        task::Column::IsCompleted => sql.bind(task.is_completed),
        task::Column::CompletedAt => sql.bind(task.completed_at),
        task::Column::DueDate => sql.bind(task.due.as_ref().map(Due::date)),
        task::Column::DueTime => sql.bind(task.due.as_ref().and_then(Due::time)),
        task::Column::DueTimeZone => sql.bind(
            task.due
                .as_ref()
                .and_then(Due::time_zone)
                .map(|zone| zone.as_str().to_owned()),
        ),
        task::Column::Priority => sql.bind(task.priority.level()),
        task::Column::Tags => sql.bind(task.tags.to_json()),
        task::Column::TagKeys => sql.bind(task.tags.keys_json()),
        task::Column::Recurrence => sql.bind(
            task.recurrence
                .as_ref()
                .map(|rule| rule.as_str().to_owned()),
        ),
        task::Column::RecurrenceStart => sql.bind(task.recurrence_start),
        task::Column::ListId => sql.bind(task.list_id),
        task::Column::Position => sql.bind(task.position.as_str()),
        task::Column::CreatedAt => sql.bind(task.created_at),
        task::Column::UpdatedAt => sql.bind(task.updated_at),
        task::Column::Version => sql.bind(task.version),
    };
}

/// `EXISTS(SELECT 1 FROM "users" WHERE "users"."id" = <owner> FOR UPDATE)`: on PostgreSQL it
/// locks the owner's row to the end of the transaction.
fn owner_locked(sql: &mut Sql, user_id: Uuid) {
    sql.push(r#"EXISTS(SELECT 1 FROM "users" WHERE "users"."id" = "#)
        .bind(user_id)
        .lock_rows()
        .push(")");
}

/// ` AND EXISTS(SELECT 1 FROM <cte>)`: only when an earlier part of the statement wrote a row.
fn after_writing_in(sql: &mut Sql, cte: &str) {
    sql.push(" AND EXISTS(SELECT 1 FROM ").push(cte).push(")");
}

/// A write that changes one row of its owner's, then takes the owner's next change number: its
/// parts, from which both of its `Write` forms come.
pub trait OneRowChange {
    /// The user whose change counter the change takes its number from.
    fn owner(&self) -> Uuid;
    /// What decides the change's SQL text, apart from its values.
    fn shape(&self) -> Shape;
    /// The `UPDATE … RETURNING <the row>`, its version the owner's next change number.
    fn update(&self, sql: &mut Sql);
    /// The changed row's columns, as PostgreSQL's one statement answers them.
    fn columns(sql: &mut Sql);
}

impl<T: OneRowChange> Write for T {
    fn owner(&self) -> Uuid {
        OneRowChange::owner(self)
    }

    /// `WITH "changed" AS (<update>), "counter" AS (<bump>) SELECT <columns> FROM "changed"`.
    fn postgres(&self) -> Statement {
        statement(DatabaseBackend::Postgres, self.shape(), |sql| {
            sql.push("WITH ").push(CHANGED).push(" AS (");
            self.update(sql);
            sql.push("), ").push(COUNTER).push(" AS (");
            bump_of(self).write(sql, Some(CHANGED));
            sql.push(") SELECT ");
            T::columns(sql);
            sql.push(" FROM ").push(CHANGED);
        })
    }

    /// The row changed with the next change number, then the counter bumped.
    fn sqlite(&self) -> Vec<Step> {
        let change = statement(DatabaseBackend::Sqlite, self.shape(), |sql| {
            self.update(sql)
        });
        vec![
            Step::Returning(change),
            Step::Effect(bump_of(self).sqlite()),
        ]
    }
}

/// The owner's counter bumped by a one-row change, which counts nothing else.
fn bump_of(change: &impl OneRowChange) -> BumpChangeSeq {
    BumpChangeSeq {
        user_id: change.owner(),
        change: CountChange::None,
    }
}

/// Where a versioned insert reads the change number it takes.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum VersionSource {
    /// The `counter` part of the same statement (PostgreSQL).
    Counter,
    /// The owner's row, bumped earlier in the transaction (SQLite).
    Owner,
}

impl VersionSource {
    /// The change number's column.
    fn change_seq(self, sql: &mut Sql) {
        sql.push(match self {
            Self::Counter => r#""change_seq""#,
            Self::Owner => r#""users"."change_seq""#,
        });
    }

    /// ` FROM <the source>`.
    fn from(self, sql: &mut Sql, user_id: Uuid) {
        match self {
            Self::Counter => {
                sql.push(" FROM ").push(COUNTER);
            }
            Self::Owner => {
                sql.push(r#" FROM "users" WHERE "users"."id" = "#)
                    .bind(user_id);
            }
        }
    }
}

/// What a write does to its owner's counts besides taking the next change number.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum CountChange {
    /// A task changed: the number only.
    None,
    /// A task created: one task more, only while the owner holds fewer than `max_tasks` (and,
    /// with `list_id`, while that list is one of the owner's).
    TaskCreated {
        max_tasks: i64,
        list_id: Option<Uuid>,
    },
    /// A task deleted: one task fewer and one deletion more; when `max_tombstones` are kept
    /// already, the oldest kept is dropped (`tombstones_dropped_through` moves up to it, and the
    /// deletions up to it are removed).
    TaskDeleted { max_tombstones: i64 },
    /// A list created: one list more, only while the owner holds fewer than `max_lists`.
    ListCreated { max_lists: i64 },
}

/// Takes the owner's next change number: `change_seq + 1`, returned (with
/// `tombstones_dropped_through`), and keeps the owner's counts. In PostgreSQL's writes a part of
/// the statement, run only when an earlier part wrote a row; in SQLite's a statement of its own.
#[derive(Debug, Clone, Copy)]
struct BumpChangeSeq {
    user_id: Uuid,
    change: CountChange,
}

/// The deletions an owner's `tombstone_count` counts, which `USER_MAX_TOMBSTONES` bounds
/// together: of tasks and of lists.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum Tombstones {
    Tasks,
    Lists,
}

impl Tombstones {
    const ALL: [Self; 2] = [Self::Tasks, Self::Lists];

    fn table(self) -> &'static str {
        match self {
            Self::Tasks => r#""task_tombstones""#,
            Self::Lists => r#""list_tombstones""#,
        }
    }

    /// The name of PostgreSQL's part that drops them.
    fn dropped_part(self) -> &'static str {
        match self {
            Self::Tasks => r#""dropped""#,
            Self::Lists => r#""lists_dropped""#,
        }
    }
}

/// `SELECT "version" FROM <table> WHERE <kept>` for each table of deletions, joined by
/// `UNION ALL`: the owner's deletions still kept (the owner's row being updated, correlated).
fn kept_tombstone_versions(sql: &mut Sql, each: &str) {
    sql.join(Tombstones::ALL, " UNION ALL ", |sql, tombstones| {
        let table = tombstones.table();
        sql.push("SELECT ")
            .push(each)
            .push(r#"("version") AS "version" FROM "#)
            .push(table)
            .push(" WHERE ")
            .push(table)
            .push(r#"."user_id" = "users"."id" AND "#)
            .push(table)
            .push(r#"."version" > "users"."tombstones_dropped_through""#);
    });
}

/// The oldest deletion of the owner's still kept (the owner's row being updated); the bound
/// itself when there is none. Correlated, so that a deletion that waited for the owner's row
/// lock reads the bound the one before it left.
fn oldest_kept_tombstone(sql: &mut Sql) {
    sql.push(r#"COALESCE((SELECT MIN("version") FROM ("#);
    kept_tombstone_versions(sql, "MIN");
    sql.push(r#") AS "oldest"), "users"."tombstones_dropped_through")"#);
}

impl BumpChangeSeq {
    /// The update; `after`, the part of the statement that must have written a row first.
    fn write(&self, sql: &mut Sql, after: Option<&str>) {
        sql.push(r#"UPDATE "users" SET "change_seq" = "users"."change_seq" + 1"#);
        match self.change {
            CountChange::None => {}
            CountChange::TaskCreated { .. } => {
                sql.push(r#", "task_count" = "users"."task_count" + 1"#);
            }
            CountChange::ListCreated { .. } => {
                sql.push(r#", "list_count" = "users"."list_count" + 1"#);
            }
            CountChange::TaskDeleted { max_tombstones } => {
                sql.push(r#", "task_count" = "users"."task_count" - 1"#)
                    .push(r#", "tombstone_count" = CASE WHEN "users"."tombstone_count" >= "#)
                    .bind(max_tombstones)
                    .push(r#" THEN "users"."tombstone_count" ELSE "users"."tombstone_count" + 1 END"#)
                    .push(r#", "tombstones_dropped_through" = CASE WHEN "users"."tombstone_count" >= "#)
                    .bind(max_tombstones)
                    .push(" THEN ");
                oldest_kept_tombstone(sql);
                sql.push(r#" ELSE "users"."tombstones_dropped_through" END"#);
            }
        }
        sql.push(r#" WHERE "users"."id" = "#).bind(self.user_id);
        match self.change {
            CountChange::TaskCreated { max_tasks, list_id } => {
                sql.push(r#" AND "users"."task_count" < "#).bind(max_tasks);
                if let Some(list_id) = list_id {
                    sql.push(" AND ");
                    lists::owners_list(sql, self.user_id, list_id);
                }
            }
            CountChange::ListCreated { max_lists } => {
                sql.push(r#" AND "users"."list_count" < "#).bind(max_lists);
            }
            CountChange::None | CountChange::TaskDeleted { .. } => {}
        }
        if let Some(after) = after {
            after_writing_in(sql, after);
        }
        sql.push(r#" RETURNING "change_seq", "tombstones_dropped_through""#);
    }

    /// SQLite's statement of its own.
    fn sqlite(&self) -> Statement {
        let counts = match self.change {
            CountChange::None => Counts::Unchanged,
            CountChange::TaskCreated { list_id, .. } => Counts::TaskCreated {
                into_list: list_id.is_some(),
            },
            CountChange::TaskDeleted { .. } => Counts::TaskDeleted,
            CountChange::ListCreated { .. } => Counts::ListCreated,
        };
        statement(
            DatabaseBackend::Sqlite,
            Shape::BumpChangeSeq { counts },
            |sql| self.write(sql, None),
        )
    }
}

/// Forgets the owner's deletions (of `tombstones`) up to `tombstones_dropped_through`, read from
/// `source` (moved up by the bump of a deletion that passed the bound).
fn drop_tombstones(sql: &mut Sql, user_id: Uuid, source: VersionSource, tombstones: Tombstones) {
    let table = tombstones.table();
    sql.push("DELETE FROM ")
        .push(table)
        .push(" WHERE ")
        .push(table)
        .push(r#"."user_id" = "#)
        .bind(user_id)
        .push(r#" AND "version" <= (SELECT "tombstones_dropped_through""#);
    source.from(sql, user_id);
    sql.push(")");
}

/// PostgreSQL's parts that forget the owner's deletions of both kinds up to the bound the
/// `counter` part left: `"dropped" AS (…), "lists_dropped" AS (…)`.
fn dropped_parts(sql: &mut Sql, user_id: Uuid) {
    sql.join(Tombstones::ALL, ", ", |sql, tombstones| {
        sql.push(tombstones.dropped_part()).push(" AS (");
        drop_tombstones(sql, user_id, VersionSource::Counter, tombstones);
        sql.push(")");
    });
}

/// SQLite's statements that forget the owner's deletions of both kinds up to the bound the
/// owner's row has (bumped earlier in the transaction).
fn drop_tombstone_steps(user_id: Uuid) -> impl Iterator<Item = Step> {
    Tombstones::ALL.into_iter().map(move |tombstones| {
        Step::Effect(statement(
            DatabaseBackend::Sqlite,
            Shape::DropTombstones(tombstones),
            |sql| drop_tombstones(sql, user_id, VersionSource::Owner, tombstones),
        ))
    })
}

/// One task of one owner.
#[derive(Debug, Clone, Copy)]
pub struct OwnedTask {
    pub user_id: Uuid,
    pub task_id: Uuid,
}

impl OwnedTask {
    /// `"tasks"."id" = <task> AND "tasks"."user_id" = <owner>`.
    fn condition(&self, sql: &mut Sql) {
        sql.push(r#""tasks"."id" = "#)
            .bind(self.task_id)
            .push(r#" AND "tasks"."user_id" = "#)
            .bind(self.user_id);
    }
}

/// ` AND "tasks"."version" IN (…)` of an `If-Match`, when it lists versions.
fn expected_versions(sql: &mut Sql, expected: Option<&[i64]>) {
    versions_in(sql, r#""tasks"."version""#, expected);
}

/// ` AND <column> IN (…)` of an `If-Match`, when it lists versions.
fn versions_in(sql: &mut Sql, column: &str, expected: Option<&[i64]>) {
    if let Some(versions) = expected {
        sql.push(" AND ")
            .push(column)
            .push(" IN (")
            .join(versions, ", ", |sql, version| {
                sql.bind(*version);
            })
            .push(")");
    }
}
