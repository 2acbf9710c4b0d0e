//! Creating a task: the task inserted with the owner's next change number, while the owner has
//! room, and with an idempotency key claimed by the same write.

use sea_orm::{ColumnTrait, ColumnType, DatabaseBackend, IdenStatic, Iterable, Statement};

use super::{
    bind_column, lists, order, statement, task_columns, BumpChangeSeq, CountChange, Shape,
    VersionSource, CLAIMED, COUNTER,
};
use crate::db::sql_cache::Sql;
use crate::db::write::{Step, Write};
use crate::domain::Task;
use crate::entity::task;

/// The idempotency key a create claims, and what tells its request from another.
#[derive(Debug, Clone, Copy)]
pub struct IdempotencyClaim<'a> {
    pub key: &'a str,
    pub request_hash: &'a str,
}

/// Inserts a task with the owner's next change number as its version, returned with its position
/// at the end of its list (the key after the last of the list's, made by the write); inserts nothing
/// when the owner does not exist, holds `max_tasks` tasks already, or (with `claim`) the key is
/// taken. The key is claimed with the task's id, time and version.
pub struct CreateTask<'a> {
    pub task: &'a Task,
    pub claim: Option<IdempotencyClaim<'a>>,
    pub max_tasks: i64,
}

impl CreateTask<'_> {
    fn bump(&self) -> BumpChangeSeq {
        BumpChangeSeq {
            user_id: self.task.user_id,
            change: CountChange::TaskCreated {
                max_tasks: self.max_tasks,
                list_id: self.task.list_id,
            },
        }
    }

    /// Claims the key, only while the owner holds fewer than `max_tasks` tasks (on PostgreSQL
    /// with the owner's row locked first) and the task's list (if any) is the owner's; claims
    /// nothing when the key is taken.
    fn claim(&self, sql: &mut Sql, claim: IdempotencyClaim) {
        let task = self.task;
        sql.push(r#"INSERT INTO "idempotency_keys" ("user_id", "key", "request_hash", "task_id", "task_version", "task_position", "created_at") SELECT "#)
            .bind(task.user_id)
            .push(", ")
            .bind(claim.key)
            .push(", ")
            .bind(claim.request_hash)
            .push(", ")
            .bind(task.id)
            .push(r#", "owner"."change_seq" + 1, "#);
        // The same key the insert makes: made once the owner's row is locked (PostgreSQL), or in
        // the same transaction (SQLite).
        order::after_the_last(sql, task.user_id, task.list_id);
        sql.push(", ")
            .bind(task.created_at)
            .push(r#" FROM (SELECT "users"."change_seq", "users"."task_count" FROM "users" WHERE "users"."id" = "#)
            .bind(task.user_id)
            .lock_rows()
            .push(r#") AS "owner" WHERE "owner"."task_count" < "#)
            .bind(self.max_tasks);
        if let Some(list_id) = task.list_id {
            sql.push(" AND ");
            lists::owners_list(sql, task.user_id, list_id);
        }
        sql.push(r#" ON CONFLICT ("user_id", "key") DO NOTHING RETURNING "task_version""#);
    }

    /// `INSERT INTO tasks … SELECT <the task's values>, <change number> FROM <source>`: each
    /// column's value said once, by the column.
    fn insert(&self, sql: &mut Sql, source: VersionSource) {
        let task = self.task;
        sql.push(r#"INSERT INTO "tasks" ("#);
        task_columns(sql, false);
        sql.push(") SELECT ")
            .join(task::Column::iter(), ", ", |sql, column| match column {
                task::Column::Position => {
                    order::after_the_last(sql, task.user_id, task.list_id);
                }
                task::Column::Version => source.change_seq(sql),
                column => {
                    bind_column(sql, task, column);
                }
            });
        source.from(sql, task.user_id);
        sql.push(r#" RETURNING "version", "position""#);
    }
}

impl Write for CreateTask<'_> {
    fn owner(&self) -> uuid::Uuid {
        self.task.user_id
    }

    fn postgres(&self) -> Statement {
        let shape = Shape::CreateTask {
            claims_key: self.claim.is_some(),
            into_list: self.task.list_id.is_some(),
        };
        statement(DatabaseBackend::Postgres, shape, |sql| {
            sql.push("WITH ");
            if let Some(claim) = self.claim {
                sql.push(CLAIMED).push(" AS (");
                self.claim(sql, claim);
                sql.push("), ");
            }
            sql.push(COUNTER).push(" AS (");
            self.bump()
                .write(sql, self.claim.is_some().then_some(CLAIMED));
            sql.push(") ");
            self.insert(sql, VersionSource::Counter);
        })
    }

    /// The key claimed first (its write takes the database's write lock), the counter bumped
    /// (while the owner has room), the task inserted with it.
    fn sqlite(&self) -> Vec<Step> {
        let backend = DatabaseBackend::Sqlite;
        let claim = self.claim.map(|claim| {
            let shape = Shape::ClaimIdempotencyKey {
                into_list: self.task.list_id.is_some(),
            };
            Step::Returning(statement(backend, shape, |sql| self.claim(sql, claim)))
        });
        let shape = Shape::InsertTask {
            into_list: self.task.list_id.is_some(),
        };
        let insert = statement(backend, shape, |sql| self.insert(sql, VersionSource::Owner));
        claim
            .into_iter()
            .chain([
                Step::Returning(self.bump().sqlite()),
                Step::Returning(insert),
            ])
            .collect()
    }
}

/// Creates of several owners' tasks, one task an owner and none with an idempotency key, as one
/// statement (PostgreSQL): each task inserted as [`CreateTask`] inserts it alone, with its
/// owner's next change number and the key after the last of its list's, while its owner has
/// room (fewer than `max_tasks`) and its list is the owner's. Returns `"id", "version",
/// "position"` of each task inserted. The owners' rows are locked first, in the order of their
/// ids (one owner's row is locked by the update alone).
pub struct CreateTasks<'a> {
    pub tasks: &'a [Task],
    pub max_tasks: i64,
}

/// PostgreSQL's name of `column`'s type (`None`: a type this needs no name for).
fn column_type(column: task::Column) -> Option<&'static str> {
    Some(match column.def().get_column_type() {
        ColumnType::Uuid => "uuid",
        ColumnType::String(_) | ColumnType::Text => "text",
        ColumnType::Boolean => "boolean",
        ColumnType::TimestampWithTimeZone => "timestamptz",
        ColumnType::Date => "date",
        ColumnType::Time => "time",
        ColumnType::SmallInteger => "smallint",
        ColumnType::BigInteger => "bigint",
        _ => return None,
    })
}

/// The common table expression of the tasks' values, one row each.
const INPUT: &str = r#""input""#;

impl CreateTasks<'_> {
    /// The columns each task gives its own value: all but the position and the version.
    fn given(column: &task::Column) -> bool {
        !matches!(column, task::Column::Position | task::Column::Version)
    }

    /// `"input" ("user_id", …) AS (VALUES (…), …)`, a row a task.
    fn input(&self, sql: &mut Sql) {
        sql.push(INPUT)
            .push(" (")
            .join(
                task::Column::iter().filter(Self::given),
                ", ",
                |sql, column| {
                    sql.push("\"").push(column.as_str()).push("\"");
                },
            )
            .push(") AS (VALUES ")
            .join(self.tasks.iter().enumerate(), ", ", |sql, (row, task)| {
                sql.push("(")
                    .join(
                        task::Column::iter().filter(Self::given),
                        ", ",
                        |sql, column| {
                            bind_column(sql, task, column);
                            // The first row's values typed as their columns, which types the
                            // rest (a value's type may not be sent: pgbench's are not).
                            match column_type(column) {
                                Some(name) if row == 0 => sql.push("::").push(name),
                                _ => sql,
                            };
                        },
                    )
                    .push(")");
            })
            .push(")");
    }

    /// Whether the owners' rows are locked before the update: when there are several, so that
    /// two statements take their owners' locks in one order. With one owner, the update takes
    /// its lock as the lone create's statement does.
    fn locks_first(&self) -> bool {
        self.tasks.len() > 1
    }

    /// The owners' counters bumped, each while its owner has room and its task's list (if any)
    /// is the owner's: `RETURNING "id", "change_seq"`.
    fn bump(&self, sql: &mut Sql) {
        sql.push(r#"UPDATE "users" SET "change_seq" = "users"."change_seq" + 1, "task_count" = "users"."task_count" + 1 FROM "#)
            .push(INPUT);
        if self.locks_first() {
            sql.push(r#" JOIN "locked" ON "locked"."id" = "input"."user_id""#);
        }
        sql.push(r#" WHERE "users"."id" = "input"."user_id" AND "users"."task_count" < "#)
            .bind(self.max_tasks)
            .push(r#" AND ("input"."list_id" IS NULL OR EXISTS(SELECT 1 FROM "lists" WHERE "lists"."id" = "input"."list_id" AND "lists"."user_id" = "input"."user_id")) RETURNING "users"."id", "users"."change_seq""#);
    }

    pub fn statement(&self) -> Statement {
        let shape = Shape::CreateTasks {
            tasks: self.tasks.len(),
        };
        statement(DatabaseBackend::Postgres, shape, |sql| {
            sql.push("WITH ");
            self.input(sql);
            if self.locks_first() {
                // The owners' rows locked before the update, in the order of their ids, whatever
                // plan the update gets: two statements cannot wait for each other's owners.
                sql.push(r#", "locked" AS (SELECT "users"."id" FROM "users" WHERE "users"."id" IN (SELECT "user_id" FROM "input") ORDER BY "users"."id" FOR UPDATE)"#);
            }
            sql.push(", ").push(COUNTER).push(" AS (");
            self.bump(sql);
            sql.push(r#") INSERT INTO "tasks" ("#);
            task_columns(sql, false);
            sql.push(") SELECT ")
                .join(task::Column::iter(), ", ", |sql, column| match column {
                    task::Column::Position => {
                        order::after_the_last_committed(
                            sql,
                            |sql| {
                                sql.push(r#""input"."user_id""#);
                            },
                            |sql| {
                                sql.push(r#""input"."list_id""#);
                            },
                        );
                    }
                    task::Column::Version => {
                        sql.push(r#""counter"."change_seq""#);
                    }
                    column => {
                        sql.push(r#""input".""#).push(column.as_str()).push("\"");
                    }
                })
                .push(" FROM ")
                .push(INPUT)
                .push(r#" JOIN "counter" ON "counter"."id" = "input"."user_id" RETURNING "id", "version", "position""#);
        })
    }
}
