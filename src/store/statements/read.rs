//! Reading tasks: one task, a keyset page of a user's tasks, a page of the change feed (tasks and
//! lists).

use sea_orm::{DatabaseBackend, IdenStatic, Iterable, Statement};
use uuid::Uuid;

use super::{statement, task_columns, FilterShape, ListShape, OwnedTask, Shape};
use crate::db::sql_cache::Sql;
use crate::entity::task;
use crate::pagination::{ListFilter, SortField, SortKey, TaskFilter, TaskPosition, TaskSort};

/// Reads one task of its owner.
pub struct GetTask(pub OwnedTask);

impl GetTask {
    pub fn statement(&self, backend: DatabaseBackend) -> Statement {
        statement(backend, Shape::GetTask, |sql| {
            sql.push("SELECT ");
            task_columns(sql, true);
            sql.push(r#" FROM "tasks" WHERE "#);
            self.0.condition(sql);
            sql.push(" LIMIT 1");
        })
    }
}

/// Reads several tasks, each of its own owner, in one statement: the single reads that arrived
/// together (`store::TaskReads`). Each task's row comes once, however often it is asked for.
pub struct GetTasks<'a>(pub &'a [OwnedTask]);

impl GetTasks<'_> {
    pub fn statement(&self, backend: DatabaseBackend) -> Statement {
        let shape = Shape::GetTasks {
            tasks: self.0.len(),
        };
        statement(backend, shape, |sql| {
            sql.push("SELECT ");
            task_columns(sql, true);
            sql.push(r#" FROM "tasks" WHERE ("tasks"."id", "tasks"."user_id") IN ("#)
                .join(self.0, ", ", |sql, task| {
                    sql.push("(")
                        .bind(task.task_id)
                        .push(", ")
                        .bind(task.user_id)
                        .push(")");
                })
                .push(")");
        })
    }
}

/// One keyset page of a user's tasks: at least `limit + 1` rows (the count is rounded up:
/// `Sql::limit`), so that the caller sees whether more follow.
pub struct ListTasks<'a> {
    pub user_id: Uuid,
    pub sort: TaskSort,
    pub filter: &'a TaskFilter,
    pub after: Option<&'a TaskPosition>,
    pub limit: u64,
}

impl ListTasks<'_> {
    pub fn statement(&self, backend: DatabaseBackend) -> Statement {
        let filter = self.filter;
        let shape = Shape::ListTasks {
            sort: self.sort,
            filter: FilterShape {
                completed: filter.completed.is_some(),
                title_contains: filter.title_contains.is_some(),
                tag: filter.tag_key.is_some(),
                priority: filter.priority.is_some(),
                has_due: filter.has_due,
                due_range: filter.due_key_range().is_some(),
                list: filter.list.map(|list| match list {
                    ListFilter::Inbox => ListShape::Inbox,
                    ListFilter::List(_) => ListShape::List,
                }),
            },
            after: self.after.is_some(),
        };
        statement(backend, shape, |sql| self.write(sql))
    }

    fn write(&self, sql: &mut Sql) {
        let key = sort_key(self.sort, sql.backend());
        let (beyond, reached, order) = match self.sort.is_descending() {
            true => (" < ", " <= ", " DESC"),
            false => (" > ", " >= ", " ASC"),
        };
        sql.push("SELECT ");
        task_columns(sql, true);
        sql.push(r#" FROM "tasks" WHERE "tasks"."user_id" = "#)
            .bind(self.user_id);
        self.filter_conditions(sql);
        if let Some(after) = self.after {
            // `reached` repeats what the OR implies, as a plain bound an index range scan can
            // use.
            sql.push(" AND ").push(key).push(reached);
            key_value(sql, &after.key);
            sql.push(" AND (").push(key).push(beyond);
            key_value(sql, &after.key);
            sql.push(" OR (").push(key).push(" = ");
            key_value(sql, &after.key);
            sql.push(r#" AND "id""#)
                .push(beyond)
                .bind(after.id)
                .push("))");
        }
        sql.push(" ORDER BY ")
            .push(key)
            .push(order)
            .push(r#", "tasks"."id""#)
            .push(order)
            .limit(self.limit + 1);
    }

    /// ` AND …` for each filter given.
    fn filter_conditions(&self, sql: &mut Sql) {
        let filter = self.filter;
        if let Some(completed) = filter.completed {
            sql.push(r#" AND "tasks"."is_completed" = "#)
                .bind(completed);
        }
        if let Some(text) = &filter.title_contains {
            sql.push(" AND ");
            title_search(sql, text);
        }
        if let Some(tag_key) = &filter.tag_key {
            // The tag's rows in `task_tags` (its primary key's prefix).
            sql.push(r#" AND EXISTS(SELECT 1 FROM "task_tags" WHERE "task_tags"."user_id" = "#)
                .bind(self.user_id)
                .push(r#" AND "task_tags"."tag_key" = "#)
                .bind(tag_key.as_str())
                .push(r#" AND "task_tags"."task_id" = "tasks"."id")"#);
        }
        if let Some(priority) = filter.priority {
            sql.push(r#" AND "tasks"."priority" = "#).bind(priority);
        }
        match filter.has_due {
            Some(true) => sql.push(r#" AND "tasks"."due_date" IS NOT NULL"#),
            Some(false) => sql.push(r#" AND "tasks"."due_date" IS NULL"#),
            None => sql,
        };
        if let Some((first, last)) = filter.due_key_range() {
            // On the due key (the sort's own when it sorts by due), so that a due sort's index
            // serves the range.
            let key = due_key(self.sort == TaskSort::DueDesc, sql.backend());
            sql.push(" AND ")
                .push(key)
                .push(" BETWEEN ")
                .bind(first)
                .push(" AND ")
                .bind(last);
        }
        match filter.list {
            None => {}
            Some(ListFilter::Inbox) => {
                sql.push(r#" AND "tasks"."list_id" IS NULL"#);
            }
            Some(ListFilter::List(list_id)) => {
                sql.push(r#" AND "tasks"."list_id" = "#).bind(list_id);
            }
        }
    }
}

/// A user's tags with their counts, in byte order of their keys, named by their smallest spelling
/// (the columns compare byte by byte on both databases): the first `limit`, and a few more
/// when the count is rounded up (`Sql::limit`).
pub struct ListTags {
    pub user_id: Uuid,
    pub limit: u64,
}

impl ListTags {
    pub fn statement(&self, backend: DatabaseBackend) -> Statement {
        statement(backend, Shape::ListTags, |sql| {
            sql.push(r#"SELECT MIN("name") AS "name", COUNT(*) AS "count" FROM "task_tags" WHERE "user_id" = "#)
                .bind(self.user_id)
                .push(r#" GROUP BY "tag_key" ORDER BY "tag_key""#)
                .limit(self.limit);
        })
    }
}

/// A cursor's sort-key value, as the sort key compares it.
fn key_value(sql: &mut Sql, key: &SortKey) {
    match key {
        SortKey::Time(time) => {
            sql.bind(*time);
        }
        SortKey::Title(title) => {
            sql.push("LOWER(").bind(title.as_str()).push(")");
        }
        SortKey::Due(due) => {
            sql.bind(*due);
        }
        SortKey::Priority(priority) => {
            sql.bind(*priority);
        }
        SortKey::Position(position) => {
            sql.bind(position.as_str());
        }
    }
}

/// The condition that a title contains `text`, case-insensitively (both lower-cased by the
/// database, so that they fold alike).
fn title_search(sql: &mut Sql, text: &str) {
    match sql.backend() {
        // LIKE can use the trigram index on lower(title).
        DatabaseBackend::Postgres => {
            sql.push(r#"LOWER("title") LIKE LOWER("#)
                .bind(like_pattern(text))
                .push(")");
        }
        // A plain substring test: no wildcards at all.
        _ => {
            sql.push(r#"instr(LOWER("title"), LOWER("#)
                .bind(text)
                .push(")) > 0");
        }
    }
}

/// `%text%` with the text's own `%`, `_` and `\` escaped with PostgreSQL's default LIKE escape,
/// the backslash.
fn like_pattern(text: &str) -> String {
    let escaped: String = text
        .chars()
        .flat_map(|c| match c {
            '%' | '_' | '\\' => vec!['\\', c],
            c => vec![c],
        })
        .collect();
    format!("%{escaped}%")
}

/// The expression a sort compares first. Titles compare lower-cased and byte by byte (SQLite's
/// default; PostgreSQL is told `COLLATE "C"`), so that both databases order them alike.
fn sort_key(sort: TaskSort, backend: DatabaseBackend) -> &'static str {
    match (sort.field(), backend) {
        (SortField::CreatedAt, _) => r#""created_at""#,
        (SortField::UpdatedAt, _) => r#""updated_at""#,
        (SortField::Title, DatabaseBackend::Postgres) => r#"(lower("title") COLLATE "C")"#,
        (SortField::Title, _) => r#"lower("title")"#,
        (SortField::Due, backend) => due_key(sort == TaskSort::DueDesc, backend),
        (SortField::Priority, _) => r#""priority""#,
        // Compared as bytes on both databases (collation C on PostgreSQL, BINARY on SQLite).
        (SortField::Position, _) => r#""position""#,
    }
}

/// A due date's key (see [`crate::pagination::due_key`]) on PostgreSQL; null without a due date.
macro_rules! postgres_dated_key {
    () => {
        r#"("due_date" - DATE '1970-01-01') * CAST(100000 AS bigint) + COALESCE(CAST(EXTRACT(EPOCH FROM "due_time") AS bigint) + 1, 0)"#
    };
}

/// The same on SQLite.
macro_rules! sqlite_dated_key {
    () => {
        r#"unixepoch("due_date") / 86400 * 100000 + COALESCE(unixepoch('1970-01-01 ' || "due_time") + 1, 0)"#
    };
}

/// The due sorts' key: a due date's, or for a task without `due` one beyond every date's in the
/// sort's direction (`descending`: the least). The migration's index expressions
/// (m20261206_000008_task_views), character for character.
fn due_key(descending: bool, backend: DatabaseBackend) -> &'static str {
    match (descending, backend) {
        (false, DatabaseBackend::Postgres) => {
            concat!("COALESCE(", postgres_dated_key!(), ", 1000000000000000)")
        }
        (true, DatabaseBackend::Postgres) => {
            concat!("COALESCE(", postgres_dated_key!(), ", -1000000000000000)")
        }
        (false, _) => concat!("COALESCE(", sqlite_dated_key!(), ", 1000000000000000)"),
        (true, _) => concat!("COALESCE(", sqlite_dated_key!(), ", -1000000000000000)"),
    }
}

/// One page of a user's changes after `since`, in version order: the tasks and lists changed
/// since (in their latest state) and the tasks and lists deleted since; at least `limit + 1` rows
/// (the count is rounded up: `Sql::limit`), so that the caller sees whether more follow. One statement, so one snapshot: no change is skipped
/// between the four. Each side takes its first rows (as many) by its `(user_id, version)` index
/// before they are merged, so that a page costs the same however many changes follow it.
pub struct ListChanges {
    pub user_id: Uuid,
    pub since: i64,
    pub limit: u64,
}

/// What a tombstone gives for a task's `column` in a change row: its task's id, the columns of
/// the same name (owner, version), and a typed null for the rest (PostgreSQL would take a bare
/// NULL in a subquery for text). A column a task gains must say here what a deletion has for it.
fn tombstone_column(column: task::Column) -> Option<&'static str> {
    match column {
        task::Column::Id => Some(r#""task_id""#),
        task::Column::UserId | task::Column::Version => None,
        task::Column::ListId => Some("CAST(NULL AS uuid)"),
        task::Column::Title
        | task::Column::Position
        | task::Column::Description
        | task::Column::DueTimeZone
        | task::Column::Tags
        | task::Column::TagKeys
        | task::Column::Recurrence => Some("CAST(NULL AS text)"),
        task::Column::IsCompleted => Some("CAST(NULL AS boolean)"),
        task::Column::Priority => Some("CAST(NULL AS smallint)"),
        task::Column::DueDate | task::Column::RecurrenceStart => Some("CAST(NULL AS date)"),
        task::Column::DueTime => Some("CAST(NULL AS time)"),
        task::Column::CreatedAt | task::Column::UpdatedAt | task::Column::CompletedAt => {
            Some("CAST(NULL AS timestamptz)")
        }
    }
}

/// What a list gives for a task's `column` in a change row: the columns both have, and a
/// deletion's null for the rest.
fn list_column(column: task::Column) -> Option<&'static str> {
    match column {
        task::Column::Id | task::Column::CreatedAt | task::Column::UpdatedAt => None,
        other => tombstone_column(other),
    }
}

/// What a list's tombstone gives for a task's `column` in a change row.
fn list_tombstone_column(column: task::Column) -> Option<&'static str> {
    match column {
        task::Column::Id => Some(r#""list_id""#),
        other => tombstone_column(other),
    }
}

/// One side of the feed: where its rows come from and what they hold.
struct FeedSide {
    table: &'static str,
    /// The name of its first rows.
    name: &'static str,
    /// What it gives for each of a task's columns: `None` for its own column of that name.
    column: fn(task::Column) -> Option<&'static str>,
    /// What it gives for a list's `name`.
    list_name: &'static str,
    deleted: bool,
    is_list: bool,
}

const FEED_SIDES: [FeedSide; 4] = [
    FeedSide {
        table: r#""tasks""#,
        name: r#""changed""#,
        column: |_| None,
        list_name: "CAST(NULL AS text)",
        deleted: false,
        is_list: false,
    },
    FeedSide {
        table: r#""task_tombstones""#,
        name: r#""deleted""#,
        column: tombstone_column,
        list_name: "CAST(NULL AS text)",
        deleted: true,
        is_list: false,
    },
    FeedSide {
        table: r#""lists""#,
        name: r#""lists_changed""#,
        column: list_column,
        list_name: r#""name""#,
        deleted: false,
        is_list: true,
    },
    FeedSide {
        table: r#""list_tombstones""#,
        name: r#""lists_deleted""#,
        column: list_tombstone_column,
        list_name: "CAST(NULL AS text)",
        deleted: true,
        is_list: true,
    },
];

impl ListChanges {
    pub fn statement(&self, backend: DatabaseBackend) -> Statement {
        statement(backend, Shape::ListChanges, |sql| self.write(sql))
    }

    fn write(&self, sql: &mut Sql) {
        let rows = self.limit + 1;
        let flag = |value: bool| if value { "TRUE" } else { "FALSE" };
        sql.join(&FEED_SIDES, " UNION ALL ", |sql, side| {
            sql.push("SELECT ");
            task_columns(sql, false);
            sql.push(r#", "name", "deleted", "is_list" FROM (SELECT "#)
                .join(task::Column::iter(), ", ", |sql, column| {
                    if let Some(value) = (side.column)(column) {
                        sql.push(value).push(" AS ");
                    }
                    sql.push("\"").push(column.as_str()).push("\"");
                })
                .push(", ")
                .push(side.list_name)
                .push(r#" AS "name", "#)
                .push(flag(side.deleted))
                .push(r#" AS "deleted", "#)
                .push(flag(side.is_list))
                .push(r#" AS "is_list" FROM "#)
                .push(side.table)
                .push(" WHERE ")
                .push(side.table)
                .push(r#"."user_id" = "#)
                .bind(self.user_id)
                .push(" AND ")
                .push(side.table)
                .push(r#"."version" > "#)
                .bind(self.since)
                .push(r#" ORDER BY "version" ASC"#)
                .limit(rows)
                .push(") AS ")
                .push(side.name);
        });
        sql.push(r#" ORDER BY "version" ASC"#).limit(rows);
    }
}
