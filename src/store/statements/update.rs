//! Changing a task: the given fields, when a value really changes, with the owner's next change
//! number as its version.

use chrono::{DateTime, Utc};
use sea_orm::sea_query::Value;
use sea_orm::DatabaseBackend;

use super::{
    expected_versions, lists, order, task_columns, ListShape, OneRowChange, OwnedTask, Shape,
};
use crate::db::sql_cache::Sql;
use crate::domain::{Due, Recurrence, TaskChanges, TaskDescription, TimeZoneName};

/// Changes the given fields of one task of its owner when a value really changes (and its
/// version is one of `expected`, if given), returning it: `updated_at` moves (never back), the
/// version becomes the owner's next change number, a task moved to another list goes to its end,
/// and `completed_at` follows `is_completed`
/// (the write's time when it turns true, kept while it stays true, null when false).
pub struct UpdateTask<'a> {
    pub task: OwnedTask,
    pub changes: &'a TaskChanges,
    pub expected: Option<&'a [i64]>,
    /// Only when the task has no recurrence (a completion of a recurring task rolls it forward,
    /// which the store works out from the stored task).
    pub not_recurring: bool,
    pub now: DateTime<Utc>,
}

/// A column's new value, as the update sets and compares it.
struct Column {
    name: &'static str,
    value: Value,
}

impl Column {
    fn new(name: &'static str, value: impl Into<Value>) -> Self {
        Self {
            name,
            value: value.into(),
        }
    }
}

impl UpdateTask<'_> {
    /// The columns of the task model the changes set, compared null-safely (title, description
    /// and completion have tests of their own).
    fn model_columns(&self) -> Vec<Column> {
        let changes = self.changes;
        let mut columns = Vec::new();
        if let Some(due) = &changes.due {
            columns.push(Column::new("due_date", due.as_ref().map(Due::date)));
            columns.push(Column::new("due_time", due.as_ref().and_then(Due::time)));
            columns.push(Column::new(
                "due_time_zone",
                due.as_ref()
                    .and_then(Due::time_zone)
                    .map(|zone| TimeZoneName::as_str(zone).to_owned()),
            ));
        }
        if let Some(priority) = changes.priority {
            columns.push(Column::new("priority", priority.level()));
        }
        if let Some(tags) = &changes.tags {
            columns.push(Column::new("tags", tags.to_json()));
            columns.push(Column::new("tag_keys", tags.keys_json()));
        }
        if let Some(recurrence) = &changes.recurrence {
            columns.push(Column::new(
                "recurrence",
                recurrence
                    .as_ref()
                    .map(|rule| Recurrence::as_str(rule).to_owned()),
            ));
        }
        if let Some(start) = changes.recurrence_start {
            columns.push(Column::new("recurrence_start", start));
        }
        if let Some(list_id) = changes.list_id {
            columns.push(Column::new("list_id", list_id));
        }
        columns
    }
}

impl OneRowChange for UpdateTask<'_> {
    fn columns(sql: &mut Sql) {
        task_columns(sql, false);
    }

    fn owner(&self) -> uuid::Uuid {
        self.task.user_id
    }

    fn shape(&self) -> Shape {
        let changes = self.changes;
        Shape::UpdateTask {
            title: changes.title.is_some(),
            description: changes.description.as_ref().map(Option::is_none),
            is_completed: changes.is_completed.is_some(),
            due: changes.due.is_some(),
            priority: changes.priority.is_some(),
            tags: changes.tags.is_some(),
            recurrence: changes.recurrence.is_some(),
            recurrence_start: changes.recurrence_start.is_some(),
            list: changes.list_id.map(ListShape::of),
            not_recurring: self.not_recurring,
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
        let columns = self.model_columns();
        sql.push(r#"UPDATE "tasks" SET "#);
        if let Some(title) = &changes.title {
            sql.push(r#""title" = "#).bind(title.as_str()).push(", ");
        }
        if let Some(description) = description {
            sql.push(r#""description" = "#).bind(description).push(", ");
        }
        if let Some(is_completed) = changes.is_completed {
            // The time of the write that made it true, kept while it stays true.
            sql.push(r#""is_completed" = "#)
                .bind(is_completed)
                .push(r#", "completed_at" = CASE WHEN "#)
                .bind(is_completed)
                .push(r#" THEN COALESCE(CASE WHEN "tasks"."is_completed" THEN "tasks"."completed_at" END, "#)
                .bind(self.now)
                .push(") END, ");
        }
        if let Some(list_id) = changes.list_id {
            // A task that changes lists goes to the end of its new one.
            sql.push(r#""position" = CASE WHEN "tasks"."list_id""#);
            match list_id {
                Some(list_id) => {
                    let differs = distinct_from(sql.backend());
                    sql.push(differs).bind(list_id);
                }
                None => {
                    sql.push(" IS NOT NULL");
                }
            }
            sql.push(" THEN ");
            order::after_the_last(sql, owner, list_id);
            sql.push(r#" ELSE "tasks"."position" END, "#);
        }
        for column in &columns {
            sql.push("\"")
                .push(column.name)
                .push("\" = ")
                .bind(column.value.clone())
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
        ]
        .into_iter()
        .flatten()
        .chain(columns.into_iter().map(Changed::Column));
        sql.push(" AND (")
            .join(changed, " OR ", |sql, changed| changed.write(sql))
            .push(")");
        if self.not_recurring {
            sql.push(r#" AND "tasks"."recurrence" IS NULL"#);
        }
        if let Some(Some(list_id)) = changes.list_id {
            sql.push(" AND ");
            lists::owners_list(sql, owner, list_id);
        }
        expected_versions(sql, self.expected);
        // Named columns: a column a newer release adds changes nothing this statement returns.
        sql.push(" RETURNING ");
        task_columns(sql, false);
    }
}

/// The null-safe inequality, as each database spells it.
fn distinct_from(backend: DatabaseBackend) -> &'static str {
    match backend {
        DatabaseBackend::Postgres => " IS DISTINCT FROM ",
        _ => " IS NOT ",
    }
}

/// A field's test that its new value differs from the stored one.
enum Changed<'a> {
    Title(&'a str),
    /// `None`: the description is cleared.
    Description(Option<&'a str>),
    IsCompleted(bool),
    /// A column of the task model, compared null-safely.
    Column(Column),
}

impl Changed<'_> {
    fn write(self, sql: &mut Sql) {
        match self {
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
            Self::Column(column) => {
                let differs = distinct_from(sql.backend());
                sql.push(r#""tasks"."#)
                    .push("\"")
                    .push(column.name)
                    .push("\"")
                    .push(differs)
                    .bind(column.value);
            }
        }
    }
}
