//! A batch's runs of writes of one kind, each part one statement for the whole run: the tasks a
//! run names read at once, the rows of its creates inserted (or of its updates rewritten) by one
//! multi-row statement, and the owner's counter moved once by as many numbers as the run took.
//! The caller holds the owner's lock ([`LockOwner`](super::LockOwner)) throughout and numbers the
//! run's versions itself.

use sea_orm::{DatabaseBackend, Iterable, Statement};
use uuid::Uuid;

use super::{bind_column, order, statement, task_columns, Shape};
use crate::db::sql_cache::Sql;
use crate::domain::Task;
use crate::entity::task;

/// `(<value>, <value>, …)` of `ids`.
fn id_list(sql: &mut Sql, ids: &[Uuid]) {
    sql.push("(")
        .join(ids, ", ", |sql, id| {
            sql.bind(*id);
        })
        .push(")");
}

/// The tasks with these ids: of any user (`owner: None`; ids are unique across users), or of the
/// owner alone.
pub struct TasksWithIds<'a> {
    pub owner: Option<Uuid>,
    pub ids: &'a [Uuid],
}

impl TasksWithIds<'_> {
    pub fn statement(&self, backend: DatabaseBackend) -> Statement {
        let shape = Shape::TasksWithIds {
            owned: self.owner.is_some(),
            ids: self.ids.len(),
        };
        statement(backend, shape, |sql| {
            sql.push("SELECT ");
            task_columns(sql, true);
            sql.push(r#" FROM "tasks" WHERE "tasks"."id" IN "#);
            id_list(sql, self.ids);
            if let Some(owner) = self.owner {
                sql.push(r#" AND "tasks"."user_id" = "#).bind(owner);
            }
        })
    }
}

/// The ids of those of `ids` that are the owner's lists.
pub struct OwnedLists<'a> {
    pub user_id: Uuid,
    pub ids: &'a [Uuid],
}

impl OwnedLists<'_> {
    pub fn statement(&self, backend: DatabaseBackend) -> Statement {
        let shape = Shape::OwnedLists {
            ids: self.ids.len(),
        };
        statement(backend, shape, |sql| {
            sql.push(r#"SELECT "lists"."id" FROM "lists" WHERE "lists"."user_id" = "#)
                .bind(self.user_id)
                .push(r#" AND "lists"."id" IN "#);
            id_list(sql, self.ids);
        })
    }
}

/// The greatest position of the owner's list (`None`: the inbox): null when it is empty.
pub struct LastPosition {
    pub user_id: Uuid,
    pub list_id: Option<Uuid>,
}

impl LastPosition {
    pub fn statement(&self, backend: DatabaseBackend) -> Statement {
        let shape = Shape::LastPosition {
            list: super::ListShape::of(self.list_id),
        };
        statement(backend, shape, |sql| {
            sql.push(r#"SELECT MAX("tasks"."position") AS "position" FROM "tasks" WHERE "#);
            order::tasks_of_list(sql, self.user_id, self.list_id);
        })
    }
}

/// `(<the task's columns' values>)`, in the entity's order.
fn task_row(sql: &mut Sql, task: &Task) {
    sql.push("(")
        .join(task::Column::iter(), ", ", |sql, column| {
            bind_column(sql, task, column)
        })
        .push(")");
}

/// Inserts the tasks as they are (their versions and positions given), in one statement.
pub struct InsertTasks<'a>(pub &'a [Task]);

impl InsertTasks<'_> {
    pub fn statement(&self, backend: DatabaseBackend) -> Statement {
        let shape = Shape::InsertTasks { rows: self.0.len() };
        statement(backend, shape, |sql| {
            sql.push(r#"INSERT INTO "tasks" ("#);
            task_columns(sql, false);
            sql.push(") VALUES ").join(self.0, ", ", task_row);
        })
    }
}

/// Writes every column of the owner's tasks as they are now (their versions given) but the
/// ones a task keeps from its creation, in one statement.
pub struct RewriteTasks<'a> {
    pub user_id: Uuid,
    pub tasks: &'a [Task],
}

impl RewriteTasks<'_> {
    pub fn statement(&self, backend: DatabaseBackend) -> Statement {
        let shape = Shape::RewriteTasks {
            rows: self.tasks.len(),
        };
        statement(backend, shape, |sql| {
            sql.push(r#"WITH "run" ("#);
            task_columns(sql, false);
            sql.push(") AS (VALUES ")
                .join(self.tasks, ", ", task_row)
                .push(r#") UPDATE "tasks" SET "#)
                .join(
                    task::Column::iter().filter(|column| {
                        !matches!(
                            column,
                            task::Column::Id | task::Column::UserId | task::Column::CreatedAt
                        )
                    }),
                    ", ",
                    |sql, column| {
                        let name = sea_orm::IdenStatic::as_str(&column);
                        sql.push("\"")
                            .push(name)
                            .push(r#"" = "run".""#)
                            .push(name)
                            .push("\"");
                    },
                )
                .push(r#" FROM "run" WHERE "tasks"."id" = "run"."id" AND "tasks"."user_id" = "#)
                .bind(self.user_id);
        })
    }
}

/// Moves the owner's counter on by the `versions` a run took, and its task count by the tasks
/// it `created`.
pub struct TakeVersions {
    pub user_id: Uuid,
    pub versions: i64,
    pub created: i64,
}

impl TakeVersions {
    pub fn statement(&self, backend: DatabaseBackend) -> Statement {
        statement(backend, Shape::TakeVersions, |sql| {
            sql.push(r#"UPDATE "users" SET "change_seq" = "users"."change_seq" + "#)
                .bind(self.versions)
                .push(r#", "task_count" = "users"."task_count" + "#)
                .bind(self.created)
                .push(r#" WHERE "users"."id" = "#)
                .bind(self.user_id);
        })
    }
}
