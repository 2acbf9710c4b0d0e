//! Changing a task: the given fields, when a value really changes, with the owner's next change
//! number as its version.

use chrono::{DateTime, Utc};
use sea_orm::{DatabaseBackend, Statement};

use super::{
    expected_versions, statement, task_columns, BumpChangeSeq, CountChange, OwnedTask, Shape,
    CHANGED, COUNTER,
};
use crate::db::sql_cache::Sql;
use crate::db::write::{Step, Write};
use crate::domain::{TaskChanges, TaskDescription};

/// Changes the given fields of one task of its owner when a value really changes (and its
/// version is one of `expected`, if given), returning it: `updated_at` moves (never back) and the
/// version becomes the owner's next change number.
pub struct UpdateTask<'a> {
    pub task: OwnedTask,
    pub changes: &'a TaskChanges,
    pub expected: Option<&'a [i64]>,
    pub now: DateTime<Utc>,
}

impl UpdateTask<'_> {
    fn shape(&self) -> Shape {
        Shape::UpdateTask {
            title: self.changes.title.is_some(),
            description: self.changes.description.as_ref().map(Option::is_none),
            is_completed: self.changes.is_completed.is_some(),
            expected_versions: self.expected.map_or(0, <[i64]>::len),
        }
    }

    /// The `UPDATE … RETURNING <the task>`, its version read from the owner's row, joined (on
    /// PostgreSQL locked first, as by every other write: no two writes lock the same rows in
    /// opposite orders). A task whose owner is being deleted is left alone: without the owner's
    /// row there is nothing to join, and no counter for its version to come from.
    fn update(&self, sql: &mut Sql) {
        let changes = self.changes;
        let owner = self.task.user_id;
        let description = changes
            .description
            .as_ref()
            .map(|description| description.as_ref().map(TaskDescription::as_str));
        sql.push(r#"UPDATE "tasks" SET "#);
        if let Some(title) = &changes.title {
            sql.push(r#""title" = "#).bind(title.as_str()).push(", ");
        }
        if let Some(description) = description {
            sql.push(r#""description" = "#).bind(description).push(", ");
        }
        if let Some(is_completed) = changes.is_completed {
            sql.push(r#""is_completed" = "#)
                .bind(is_completed)
                .push(", ");
        }
        // Never earlier than the time already stored: a write that took its time before a
        // concurrent one committed must not move `updated_at` back.
        sql.push(r#""updated_at" = "#)
            .greatest()
            .bind(self.now)
            .push(r#", "updated_at"), "version" = "owner"."change_seq" + 1 FROM (SELECT "users"."change_seq" FROM "users" WHERE "users"."id" = "#)
            .bind(owner)
            .lock_rows()
            .push(r#") AS "owner" WHERE "#);
        self.task.condition(sql);
        // Only when a value changes.
        let changed = [
            changes
                .title
                .as_ref()
                .map(|title| Changed::Title(title.as_str())),
            description.map(Changed::Description),
            changes.is_completed.map(Changed::IsCompleted),
        ];
        sql.push(" AND (")
            .join(changed.into_iter().flatten(), " OR ", |sql, changed| {
                changed.write(sql)
            })
            .push(")");
        expected_versions(sql, self.expected);
        // Named columns: a column a newer release adds changes nothing this statement returns.
        sql.push(" RETURNING ");
        task_columns(sql, false);
    }
}

/// A field's test that its new value differs from the stored one.
enum Changed<'a> {
    Title(&'a str),
    /// `None`: the description is cleared.
    Description(Option<&'a str>),
    IsCompleted(bool),
}

impl Changed<'_> {
    fn write(&self, sql: &mut Sql) {
        match *self {
            Self::Title(title) => {
                sql.push(r#""tasks"."title" <> "#).bind(title);
            }
            Self::Description(None) => {
                sql.push(r#""tasks"."description" IS NOT NULL"#);
            }
            Self::Description(Some(text)) => {
                sql.push(r#"("tasks"."description" IS NULL OR "tasks"."description" <> "#)
                    .bind(text)
                    .push(")");
            }
            Self::IsCompleted(is_completed) => {
                sql.push(r#""tasks"."is_completed" <> "#).bind(is_completed);
            }
        }
    }
}

impl UpdateTask<'_> {
    fn bump(&self) -> BumpChangeSeq {
        BumpChangeSeq {
            user_id: self.task.user_id,
            change: CountChange::None,
        }
    }
}

impl Write for UpdateTask<'_> {
    fn postgres(&self) -> Statement {
        statement(DatabaseBackend::Postgres, self.shape(), |sql| {
            sql.push("WITH ").push(CHANGED).push(" AS (");
            self.update(sql);
            sql.push("), ").push(COUNTER).push(" AS (");
            self.bump().write(sql, Some(CHANGED));
            sql.push(") SELECT ");
            task_columns(sql, false);
            sql.push(" FROM ").push(CHANGED);
        })
    }

    /// The task changed with the next change number, then the counter bumped.
    fn sqlite(&self) -> Vec<Step> {
        let update = statement(DatabaseBackend::Sqlite, self.shape(), |sql| {
            self.update(sql)
        });
        vec![Step::Returning(update), Step::Effect(self.bump().sqlite())]
    }
}
