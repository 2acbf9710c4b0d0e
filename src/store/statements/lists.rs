//! A user's lists: creating one, reading one or a keyset page, renaming one, and deleting one with
//! its tasks, each write taking its numbers from the owner's change counter as a task's does.

use chrono::{DateTime, Utc};
use sea_orm::{DatabaseBackend, IdenStatic, Iterable, Statement};
use uuid::Uuid;

use super::{
    drop_tombstone_steps, dropped_parts, kept_tombstone_versions, owner_locked, statement,
    versions_in, BumpChangeSeq, CountChange, OneRowChange, Shape, VersionSource, COUNTER,
    TASK_DELETED_AGAIN,
};
use crate::db::sql_cache::Sql;
use crate::db::write::{Step, Write};
use crate::domain::List;
use crate::entity::list;

/// The list's columns, in the entity's order, named plainly or (`qualified`) with the table.
fn list_columns(sql: &mut Sql, qualified: bool) {
    sql.join(list::Column::iter(), ", ", |sql, column| {
        if qualified {
            sql.push(r#""lists"."#);
        }
        sql.push("\"").push(column.as_str()).push("\"");
    });
}

/// `EXISTS(<the owner's list>)`: that `list_id` is one of the owner's lists.
pub(super) fn owners_list(sql: &mut Sql, user_id: Uuid, list_id: Uuid) {
    sql.push("EXISTS(SELECT 1 FROM \"lists\" WHERE ");
    OwnedList { user_id, list_id }.condition(sql);
    sql.push(")");
}

/// One list of one owner.
#[derive(Debug, Clone, Copy)]
pub struct OwnedList {
    pub user_id: Uuid,
    pub list_id: Uuid,
}

impl OwnedList {
    /// `"lists"."id" = <list> AND "lists"."user_id" = <owner>`.
    fn condition(&self, sql: &mut Sql) {
        sql.push(r#""lists"."id" = "#)
            .bind(self.list_id)
            .push(r#" AND "lists"."user_id" = "#)
            .bind(self.user_id);
    }

    /// The condition, and ` AND "lists"."version" IN (…)` when `expected` lists versions.
    fn condition_at(&self, sql: &mut Sql, expected: Option<&[i64]>) {
        self.condition(sql);
        versions_in(sql, r#""lists"."version""#, expected);
    }
}

/// Inserts a list with the owner's next change number as its version, returned; inserts nothing
/// when the owner does not exist or holds `max_lists` lists already. An id that is taken (by any
/// user's list) fails the whole write with a unique violation: nothing is written.
pub struct CreateList<'a> {
    pub list: &'a List,
    pub max_lists: i64,
}

impl CreateList<'_> {
    fn bump(&self) -> BumpChangeSeq {
        BumpChangeSeq {
            user_id: self.list.user_id,
            change: CountChange::ListCreated {
                max_lists: self.max_lists,
            },
        }
    }

    /// `INSERT INTO lists … SELECT <the list's values>, <change number> FROM <source>`.
    fn insert(&self, sql: &mut Sql, source: VersionSource) {
        let list = self.list;
        sql.push(r#"INSERT INTO "lists" ("#);
        list_columns(sql, false);
        sql.push(") SELECT ")
            .join(list::Column::iter(), ", ", |sql, column| match column {
                list::Column::Id => {
                    sql.bind(list.id);
                }
                list::Column::UserId => {
                    sql.bind(list.user_id);
                }
                list::Column::Name => {
                    sql.bind(list.name.as_str());
                }
                list::Column::CreatedAt => {
                    sql.bind(list.created_at);
                }
                list::Column::UpdatedAt => {
                    sql.bind(list.updated_at);
                }
                list::Column::Version => source.change_seq(sql),
            });
        source.from(sql, list.user_id);
        sql.push(r#" RETURNING "version""#);
    }
}

impl Write for CreateList<'_> {
    fn owner(&self) -> Uuid {
        self.list.user_id
    }

    fn postgres(&self) -> Statement {
        statement(DatabaseBackend::Postgres, Shape::CreateList, |sql| {
            sql.push("WITH ").push(COUNTER).push(" AS (");
            self.bump().write(sql, None);
            sql.push(") ");
            self.insert(sql, VersionSource::Counter);
        })
    }

    /// The counter bumped (while the owner has room), the list inserted with it.
    fn sqlite(&self) -> Vec<Step> {
        let insert = statement(DatabaseBackend::Sqlite, Shape::InsertList, |sql| {
            self.insert(sql, VersionSource::Owner)
        });
        vec![
            Step::Returning(self.bump().sqlite()),
            Step::Returning(insert),
        ]
    }
}

/// Reads one list of its owner.
pub struct GetList(pub OwnedList);

impl GetList {
    pub fn statement(&self, backend: DatabaseBackend) -> Statement {
        statement(backend, Shape::GetList, |sql| {
            sql.push("SELECT ");
            list_columns(sql, true);
            sql.push(r#" FROM "lists" WHERE "#);
            self.0.condition(sql);
            sql.push(" LIMIT 1");
        })
    }
}

/// One keyset page of a user's lists, oldest first (`created_at`, then `id`): at least
/// `limit + 1` rows (the count is rounded up: `Sql::limit`), so that the caller sees whether more
/// follow.
pub struct ListLists {
    pub user_id: Uuid,
    /// The `created_at` and `id` of the previous page's last list.
    pub after: Option<(DateTime<Utc>, Uuid)>,
    pub limit: u64,
}

impl ListLists {
    pub fn statement(&self, backend: DatabaseBackend) -> Statement {
        let shape = Shape::ListLists {
            after: self.after.is_some(),
        };
        statement(backend, shape, |sql| {
            sql.push("SELECT ");
            list_columns(sql, true);
            sql.push(r#" FROM "lists" WHERE "lists"."user_id" = "#)
                .bind(self.user_id);
            if let Some((created_at, id)) = self.after {
                // The first bound repeats what the OR implies, as a plain bound an index range
                // scan can use.
                sql.push(r#" AND "lists"."created_at" >= "#)
                    .bind(created_at)
                    .push(r#" AND ("lists"."created_at" > "#)
                    .bind(created_at)
                    .push(r#" OR ("lists"."created_at" = "#)
                    .bind(created_at)
                    .push(r#" AND "lists"."id" > "#)
                    .bind(id)
                    .push("))");
            }
            sql.push(r#" ORDER BY "lists"."created_at" ASC, "lists"."id" ASC"#)
                .limit(self.limit + 1);
        })
    }
}

/// Renames one list of its owner when the name really changes (and its version is one of
/// `expected`, if given), returning it: `updated_at` moves (never back) and the version becomes
/// the owner's next change number.
pub struct RenameList<'a> {
    pub list: OwnedList,
    pub name: &'a str,
    pub expected: Option<&'a [i64]>,
    pub now: DateTime<Utc>,
}

impl OneRowChange for RenameList<'_> {
    fn columns(sql: &mut Sql) {
        list_columns(sql, false);
    }

    fn owner(&self) -> Uuid {
        self.list.user_id
    }

    fn shape(&self) -> Shape {
        Shape::RenameList {
            expected_versions: self.expected.map_or(0, <[i64]>::len),
        }
    }

    /// The `UPDATE … RETURNING <the list>`, its version read from the owner's row (on PostgreSQL
    /// locked first, as by every other write).
    fn update(&self, sql: &mut Sql) {
        let owner = self.list.user_id;
        sql.push(r#"UPDATE "lists" SET "name" = "#)
            .bind(self.name)
            .push(r#", "updated_at" = "#)
            .greatest()
            .bind(self.now)
            .push(r#", "updated_at"), "version" = (SELECT "users"."change_seq" + 1 FROM "users" WHERE "users"."id" = "#)
            .bind(owner)
            .lock_rows()
            .push(") WHERE ");
        self.list.condition_at(sql, self.expected);
        sql.push(r#" AND "lists"."name" <> "#)
            .bind(self.name)
            .push(" AND ");
        owner_locked(sql, owner);
        sql.push(" RETURNING ");
        list_columns(sql, false);
    }
}

/// PostgreSQL's parts of a list's delete, quoted.
const DELETED_LIST: &str = r#""deleted_list""#;
const DELETED_TASKS: &str = r#""deleted_tasks""#;

/// Deletes one list of its owner (when its version is one of `expected`, if given) and every
/// task in it: each task takes one of the owner's next change numbers (in the order of their
/// ids) and the list the one after, each remembered as deleted. The owner's task deletions stay
/// within `max_tombstones`: the oldest kept are dropped as many as the bound needs.
pub struct DeleteList<'a> {
    pub list: OwnedList,
    pub expected: Option<&'a [i64]>,
    pub now: DateTime<Utc>,
    pub max_tombstones: i64,
}

/// Where a list's delete finds its tasks and its change numbers.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Deleting {
    /// PostgreSQL: the tasks the statement deleted, the `counter` part's numbers.
    InOneStatement,
    /// SQLite: the list's tasks, still there; the owner's row, bumped first.
    StepByStep,
}

impl DeleteList<'_> {
    fn shape(&self) -> Shape {
        Shape::DeleteList {
            expected_versions: self.expected.map_or(0, <[i64]>::len),
        }
    }

    fn source(deleting: Deleting) -> VersionSource {
        match deleting {
            Deleting::InOneStatement => VersionSource::Counter,
            Deleting::StepByStep => VersionSource::Owner,
        }
    }

    /// ` FROM "tasks" WHERE <the list's tasks>`.
    fn tasks_in_list(&self, sql: &mut Sql) {
        sql.push(r#" FROM "tasks" WHERE "tasks"."user_id" = "#)
            .bind(self.list.user_id)
            .push(r#" AND "tasks"."list_id" = "#)
            .bind(self.list.list_id);
    }

    /// How many tasks the delete deletes, as an expression.
    fn task_count(&self, sql: &mut Sql, deleting: Deleting) {
        sql.push("(SELECT COUNT(*)");
        match deleting {
            Deleting::InOneStatement => {
                sql.push(" FROM ").push(DELETED_TASKS);
            }
            Deleting::StepByStep => self.tasks_in_list(sql),
        }
        sql.push(")");
    }

    /// The owner's counter moved past the tasks' numbers and the list's; one list fewer, the
    /// tasks fewer; the deletions kept (the tasks' and the list's among them) within the bound. Only when the list (at an expected
    /// version) is there: on PostgreSQL deleted by an earlier part, on SQLite still to delete.
    fn bump(&self, sql: &mut Sql, deleting: Deleting) {
        let max = self.max_tombstones;
        // How many kept task deletions pass the bound once the tasks' are added.
        let excess = |sql: &mut Sql| {
            sql.push(r#"("users"."tombstone_count" + "#);
            self.task_count(sql, deleting);
            sql.push(" + 1 - ").bind(max).push(")");
        };
        sql.push(r#"UPDATE "users" SET "change_seq" = "users"."change_seq" + "#);
        self.task_count(sql, deleting);
        sql.push(r#" + 1, "task_count" = "users"."task_count" - "#);
        self.task_count(sql, deleting);
        sql.push(r#", "list_count" = "users"."list_count" - 1, "tombstone_count" = CASE WHEN "#);
        excess(sql);
        sql.push(r#" > 0 THEN "#)
            .bind(max)
            .push(r#" ELSE "users"."tombstone_count" + "#);
        self.task_count(sql, deleting);
        sql.push(r#" + 1 END, "tombstones_dropped_through" = CASE WHEN "#);
        excess(sql);
        // The excess-th oldest kept deletion; past the kept ones, among the delete's own numbers.
        sql.push(r#" > 0 THEN COALESCE((SELECT "kept"."version" FROM (SELECT "version", ROW_NUMBER() OVER (ORDER BY "version") AS "rank" FROM ("#);
        kept_tombstone_versions(sql, "");
        sql.push(r#") AS "each_kept") AS "kept" WHERE "kept"."rank" = "#);
        excess(sql);
        sql.push(r#"), "users"."change_seq" + "#);
        excess(sql);
        sql.push(r#" - "users"."tombstone_count") ELSE "users"."tombstones_dropped_through" END WHERE "users"."id" = "#)
            .bind(self.list.user_id);
        match deleting {
            Deleting::InOneStatement => {
                sql.push(" AND EXISTS(SELECT 1 FROM ")
                    .push(DELETED_LIST)
                    .push(")");
            }
            Deleting::StepByStep => {
                sql.push(r#" AND EXISTS(SELECT 1 FROM "lists" WHERE "#);
                self.list.condition_at(sql, self.expected);
                sql.push(")");
            }
        }
        sql.push(r#" RETURNING "change_seq", "tombstones_dropped_through""#);
    }

    /// The tasks' deletions remembered, numbered in the order of their ids just below the list's
    /// number; those the bound drops at once are not written.
    fn task_tombstones(&self, sql: &mut Sql, deleting: Deleting) {
        let source = Self::source(deleting);
        sql.push(r#"INSERT INTO "task_tombstones" ("user_id", "task_id", "version", "deleted_at") SELECT "#)
            .bind(self.list.user_id)
            .push(r#", "numbered"."id", "numbered"."version", "#)
            .bind(self.now)
            .push(r#" FROM (SELECT "ids"."id", "#);
        source.change_seq(sql);
        sql.push(" - ");
        self.task_count(sql, deleting);
        sql.push(r#" - 1 + ROW_NUMBER() OVER (ORDER BY "ids"."id") AS "version", "tombstones_dropped_through" AS "dropped" FROM (SELECT "id""#);
        match deleting {
            Deleting::InOneStatement => {
                sql.push(" FROM ").push(DELETED_TASKS);
            }
            Deleting::StepByStep => self.tasks_in_list(sql),
        }
        sql.push(r#") AS "ids", "#);
        match source {
            VersionSource::Counter => {
                sql.push(COUNTER);
            }
            VersionSource::Owner => {
                sql.push(r#""users" WHERE "users"."id" = "#)
                    .bind(self.list.user_id);
            }
        }
        sql.push(r#") AS "numbered" WHERE "numbered"."version" > "numbered"."dropped""#)
            .push(TASK_DELETED_AGAIN);
    }

    /// The list remembered as deleted with the last number (a list id used again replaces its
    /// earlier deletion).
    fn list_tombstone(&self, sql: &mut Sql, source: VersionSource) {
        sql.push(r#"INSERT INTO "list_tombstones" ("user_id", "list_id", "version", "deleted_at") SELECT "#)
            .bind(self.list.user_id)
            .push(", ")
            .bind(self.list.list_id)
            .push(", ");
        source.change_seq(sql);
        sql.push(", ").bind(self.now);
        source.from(sql, self.list.user_id);
        sql.push(r#" ON CONFLICT ("user_id", "list_id") DO UPDATE SET "version" = EXCLUDED."version", "deleted_at" = EXCLUDED."deleted_at" RETURNING "version""#);
    }

    /// `DELETE FROM lists WHERE <the list> [AND <its versions>]`.
    fn delete_list(&self, sql: &mut Sql) {
        sql.push(r#"DELETE FROM "lists" WHERE "#);
        self.list.condition_at(sql, self.expected);
    }

    /// `DELETE FROM tasks WHERE <the list's tasks>`.
    fn delete_tasks(&self, sql: &mut Sql) {
        sql.push("DELETE");
        self.tasks_in_list(sql);
    }
}

impl Write for DeleteList<'_> {
    fn owner(&self) -> Uuid {
        self.list.user_id
    }

    fn postgres(&self) -> Statement {
        let deleting = Deleting::InOneStatement;
        statement(DatabaseBackend::Postgres, self.shape(), |sql| {
            sql.push("WITH ").push(DELETED_LIST).push(" AS (");
            self.delete_list(sql);
            // The owner's row is locked first, as by every other write.
            sql.push(" AND ");
            owner_locked(sql, self.list.user_id);
            sql.push(r#" RETURNING "id"), "#)
                .push(DELETED_TASKS)
                .push(" AS (");
            self.delete_tasks(sql);
            sql.push(" AND EXISTS(SELECT 1 FROM ")
                .push(DELETED_LIST)
                .push(r#") RETURNING "id"), "#)
                .push(COUNTER)
                .push(" AS (");
            self.bump(sql, deleting);
            sql.push(r#"), "task_tombstones_written" AS ("#);
            self.task_tombstones(sql, deleting);
            sql.push("), ");
            dropped_parts(sql, self.list.user_id);
            sql.push(" ");
            self.list_tombstone(sql, VersionSource::Counter);
        })
    }

    /// The counter bumped (while the list is there), the tasks' deletions remembered, the tasks
    /// and the list deleted, the list's deletion remembered, the oldest dropped past the bound.
    fn sqlite(&self) -> Vec<Step> {
        let backend = DatabaseBackend::Sqlite;
        let deleting = Deleting::StepByStep;
        let bump = statement(backend, self.shape(), |sql| self.bump(sql, deleting));
        let task_tombstones = statement(backend, Shape::InsertListTaskTombstones, |sql| {
            self.task_tombstones(sql, deleting)
        });
        let tasks = statement(backend, Shape::DeleteListTasks, |sql| {
            self.delete_tasks(sql)
        });
        let list = statement(backend, Shape::DeleteListRow, |sql| {
            sql.push(r#"DELETE FROM "lists" WHERE "#);
            self.list.condition(sql);
        });
        let list_tombstone = statement(backend, Shape::InsertListTombstone, |sql| {
            self.list_tombstone(sql, VersionSource::Owner)
        });
        [
            Step::Returning(bump),
            Step::Effect(task_tombstones),
            Step::Effect(tasks),
            Step::Effect(list),
        ]
        .into_iter()
        .chain(drop_tombstone_steps(self.list.user_id))
        .chain([Step::Returning(list_tombstone)])
        .collect()
    }
}
