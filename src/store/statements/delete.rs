//! Deleting a task: the task deleted and remembered as deleted with the owner's next change
//! number, the owner's deletions kept bounded.

use chrono::{DateTime, Utc};
use sea_orm::{DatabaseBackend, Statement};

use super::{
    drop_tombstone_steps, dropped_parts, expected_versions, owner_locked, statement, BumpChangeSeq,
    CountChange, OwnedTask, Shape, VersionSource, CHANGED, COUNTER, TASK_DELETED_AGAIN,
};
use crate::db::sql_cache::Sql;
use crate::db::write::{Step, Write};

/// Deletes one task of its owner (when its version is one of `expected`, if given), remembers it
/// as deleted with the owner's next change number, and, past `max_tombstones` deletions kept,
/// forgets the oldest.
pub struct DeleteTask<'a> {
    pub task: OwnedTask,
    pub expected: Option<&'a [i64]>,
    pub now: DateTime<Utc>,
    pub max_tombstones: i64,
}

impl DeleteTask<'_> {
    fn shape(&self) -> Shape {
        Shape::DeleteTask {
            expected_versions: self.expected.map_or(0, <[i64]>::len),
        }
    }

    fn bump(&self) -> BumpChangeSeq {
        BumpChangeSeq {
            user_id: self.task.user_id,
            change: CountChange::TaskDeleted {
                max_tombstones: self.max_tombstones,
            },
        }
    }

    /// `DELETE FROM tasks WHERE <the task> [AND <its versions>]`.
    fn delete(&self, sql: &mut Sql) {
        sql.push(r#"DELETE FROM "tasks" WHERE "#);
        self.task.condition(sql);
        expected_versions(sql, self.expected);
    }

    /// `INSERT INTO task_tombstones … SELECT <task>, <change number>, <now> FROM <source>` (a
    /// task id used again replaces its earlier deletion).
    fn tombstone(&self, sql: &mut Sql, source: VersionSource) {
        sql.push(r#"INSERT INTO "task_tombstones" ("user_id", "task_id", "version", "deleted_at") SELECT "#)
            .bind(self.task.user_id)
            .push(", ")
            .bind(self.task.task_id)
            .push(", ");
        source.change_seq(sql);
        sql.push(", ").bind(self.now);
        source.from(sql, self.task.user_id);
        sql.push(TASK_DELETED_AGAIN);
    }
}

impl Write for DeleteTask<'_> {
    fn owner(&self) -> uuid::Uuid {
        self.task.user_id
    }

    fn postgres(&self) -> Statement {
        statement(DatabaseBackend::Postgres, self.shape(), |sql| {
            sql.push("WITH ").push(CHANGED).push(" AS (");
            self.delete(sql);
            // The owner's row is locked first, as by every other write: no two writes lock the
            // same rows in opposite orders.
            sql.push(" AND ");
            owner_locked(sql, self.task.user_id);
            sql.push(r#" RETURNING "id"), "#)
                .push(COUNTER)
                .push(" AS (");
            self.bump().write(sql, Some(CHANGED));
            sql.push("), ");
            dropped_parts(sql, self.task.user_id);
            sql.push(" ");
            self.tombstone(sql, VersionSource::Counter);
            sql.push(r#" RETURNING "version""#);
        })
    }

    /// The task deleted, the counter bumped, the tombstone written with it, and the oldest
    /// dropped past the bound.
    fn sqlite(&self) -> Vec<Step> {
        let backend = DatabaseBackend::Sqlite;
        let delete = statement(backend, self.shape(), |sql| {
            self.delete(sql);
            sql.push(r#" RETURNING "id""#);
        });
        let tombstone = statement(backend, Shape::InsertTombstone, |sql| {
            self.tombstone(sql, VersionSource::Owner)
        });
        [
            Step::Returning(delete),
            Step::Effect(self.bump().sqlite()),
            Step::Effect(tombstone),
        ]
        .into_iter()
        .chain(drop_tombstone_steps(self.task.user_id))
        .collect()
    }
}
