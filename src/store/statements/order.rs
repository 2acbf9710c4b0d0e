//! The manual order of a list's tasks: positions are fractional-indexing keys over `0-9A-Za-z`
//! (rocicorp/fractional-indexing's format: an integer part, a head letter that tells its length
//! and as many digits, then an optional fraction), compared as byte strings. The key after the
//! last of a list is made by the write itself, in SQL, under the owner's lock (on PostgreSQL by
//! `position_after_the_last`, which reads the keys committed before the lock was had). On
//! PostgreSQL a move is one statement too ([`MoveTask`]: the key between the new neighbours'
//! made by `position_key_between`, the server's `key_between` as a database function); where
//! that statement cannot place the task (the list's keys must be made again) and on SQLite, a
//! move reads the list's order under the owner's lock and places the task with a key made
//! between its new neighbours' in the server.

use chrono::{DateTime, Utc};
use sea_orm::{DatabaseBackend, Statement};
use uuid::Uuid;

use super::{
    lists, statement, task_columns, BumpChangeSeq, CountChange, ListShape, OneRowChange, OwnedTask,
    Shape, COUNTER,
};
use crate::db::sql_cache::Sql;
use crate::domain::{TaskMove, WriteCondition, POSITION_MAX_CHARS};

/// The digits of a key, in byte order.
const DIGITS: &str = "'0123456789ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz'";
/// The heads of an integer part, in byte order: `A` (27 characters) … `Z` (2), `a` (2) … `z` (27).
const HEADS: &str = "'ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz'";
/// Zeros enough for the longest integer part.
const ZEROS: &str = "'000000000000000000000000000'";
/// The first key of an empty list.
const FIRST_KEY: &str = "'a0'";

/// `instr(<haystack>, <needle>)`: the 1-based place of `needle` in the literal `haystack`.
fn place(sql: &mut Sql, haystack: &str, needle: &str) {
    sql.push("instr(")
        .push(haystack)
        .push(", ")
        .push(needle)
        .push(")");
}

/// The tasks of the owner's list (`None`: the inbox): ` "tasks"."user_id" = … AND "list_id" …`.
pub(super) fn tasks_of_list(sql: &mut Sql, user_id: Uuid, list_id: Option<Uuid>) {
    sql.push(r#""tasks"."user_id" = "#).bind(user_id);
    match list_id {
        Some(list_id) => sql.push(r#" AND "tasks"."list_id" = "#).bind(list_id),
        None => sql.push(r#" AND "tasks"."list_id" IS NULL"#),
    };
}

/// The key after the last of the owner's list (`None`: the inbox): the integer part of the
/// greatest position, plus one (`a0` for an empty list). An integer part of `z` and 26 `z` digits
/// (62^26 keys in) would have no successor; the key then grows by a fraction instead.
pub(super) fn after_the_last(sql: &mut Sql, user_id: Uuid, list_id: Option<Uuid>) {
    match sql.backend() {
        DatabaseBackend::Postgres => after_the_last_committed(
            sql,
            |sql| {
                sql.bind(user_id);
            },
            |sql| {
                sql.bind(list_id);
            },
        ),
        _ => after_the_last_inline(sql, user_id, list_id),
    }
}

/// `"position_after_the_last"(<owner>, <list>)` (PostgreSQL): the key after the last of the
/// list, read from the keys committed when it runs, not from the statement's snapshot. A write
/// that waited for the owner's lock, which every write of the owner's tasks takes, thus sees
/// what the writes before it made; two concurrent creates never share a key. Evaluated where
/// the statement holds the owner's lock already (a row of the update that took it, or of a
/// subquery that locked it).
pub(super) fn after_the_last_committed(
    sql: &mut Sql,
    owner: impl FnOnce(&mut Sql),
    list: impl FnOnce(&mut Sql),
) {
    sql.push(r#""position_after_the_last"("#);
    owner(sql);
    sql.push(", ");
    list(sql);
    sql.push(")");
}

/// `(SELECT <the key after the last of the list's tasks>)` (SQLite, whose writes read under the
/// database's write lock): as `position_after_the_last` makes it. The greatest position is read
/// from the index of the list's order.
fn after_the_last_inline(sql: &mut Sql, user_id: Uuid, list_id: Option<Uuid>) {
    // "last"."m": the greatest key; "head": its head's place among the heads ("p") and its
    // integer part's length ("n"); "parts": the integer part ("i") and its trailing `z` digits
    // ("t").
    sql.push("(SELECT CASE WHEN \"m\" IS NULL THEN ")
        .push(FIRST_KEY)
        .push(r#" WHEN "t" < "n" - 1 THEN substr("i", 1, "n" - 1 - "t") || substr("#)
        .push(DIGITS)
        .push(", ");
    place(sql, DIGITS, r#"substr("i", "n" - "t", 1)"#);
    sql.push(" + 1, 1) || substr(")
        .push(ZEROS)
        .push(r#", 1, "t") WHEN "p" = 26 THEN "#)
        .push(FIRST_KEY)
        .push(r#" WHEN "p" = 52 THEN "m" || 'V' WHEN "p" > 26 THEN substr("#)
        .push(HEADS)
        .push(r#", "p" + 1, 1) || substr("#)
        .push(ZEROS)
        .push(r#", 1, "n") ELSE substr("#)
        .push(HEADS)
        .push(r#", "p" + 1, 1) || substr("#)
        .push(ZEROS)
        .push(r#", 1, "n" - 2) END FROM (SELECT "m", "p", "n", substr("m", 1, "n") AS "i", "n" - 1 - length(rtrim(substr("m", 2, "n" - 1), 'z')) AS "t" FROM (SELECT "m", "p", CASE WHEN "p" > 26 THEN "p" - 25 ELSE 28 - "p" END AS "n" FROM (SELECT "m", "#);
    place(sql, HEADS, r#"substr("m", 1, 1)"#);
    sql.push(r#" AS "p" FROM (SELECT MAX("tasks"."position") AS "m" FROM "tasks" WHERE "#);
    tasks_of_list(sql, user_id, list_id);
    sql.push(r#") AS "last") AS "placed") AS "head") AS "parts")"#);
}

/// The order of the owner's list (`None`: the inbox): each task's id and position, first to
/// last (equal positions by id).
pub struct ListOrder {
    pub user_id: Uuid,
    pub list_id: Option<Uuid>,
}

impl ListOrder {
    pub fn statement(&self, backend: DatabaseBackend) -> Statement {
        let shape = Shape::ListOrder {
            list: ListShape::of(self.list_id),
        };
        statement(backend, shape, |sql| {
            sql.push(r#"SELECT "tasks"."id", "tasks"."position" FROM "tasks" WHERE "#);
            tasks_of_list(sql, self.user_id, self.list_id);
            sql.push(r#" ORDER BY "tasks"."position", "tasks"."id""#);
        })
    }
}

/// Takes the owner's row lock for a write that reads before it writes: a no-op update of the
/// row (on PostgreSQL it locks the row to the end of the transaction; on SQLite the write takes
/// the database's write lock before anything is read), returning the owner's change counter and
/// task count (no row: no such owner).
pub struct LockOwner(pub Uuid);

impl LockOwner {
    pub fn statement(&self, backend: DatabaseBackend) -> Statement {
        statement(backend, Shape::LockOwner, |sql| {
            sql.push(
                r#"UPDATE "users" SET "change_seq" = "users"."change_seq" WHERE "users"."id" = "#,
            )
            .bind(self.0)
            .push(r#" RETURNING "change_seq", "task_count""#);
        })
    }
}

/// Puts one task of its owner at `position` in the list `list_id` (`None`: the inbox; a list
/// must be the owner's), with the owner's next change number as its version. Run under the
/// owner's lock ([`LockOwner`]), by a caller that has read the list's order.
pub struct PlaceTask<'a> {
    pub task: OwnedTask,
    pub list_id: Option<Uuid>,
    pub position: &'a str,
    pub now: DateTime<Utc>,
}

impl OneRowChange for PlaceTask<'_> {
    fn columns(sql: &mut Sql) {
        task_columns(sql, false);
    }

    fn owner(&self) -> Uuid {
        self.task.user_id
    }

    fn shape(&self) -> Shape {
        Shape::PlaceTask {
            list: ListShape::of(self.list_id),
        }
    }

    fn update(&self, sql: &mut Sql) {
        let owner = self.task.user_id;
        sql.push(r#"UPDATE "tasks" SET "list_id" = "#)
            .bind(self.list_id)
            .push(r#", "position" = "#)
            .bind(self.position)
            .push(r#", "updated_at" = "#)
            .greatest()
            .bind(self.now)
            .push(r#", "updated_at"), "version" = "owner"."change_seq" + 1 FROM (SELECT "users"."change_seq" FROM "users" WHERE "users"."id" = "#)
            .bind(owner)
            .lock_rows()
            .push(r#") AS "owner" WHERE "#);
        self.task.condition(sql);
        if let Some(list_id) = self.list_id {
            sql.push(" AND ");
            lists::owners_list(sql, owner, list_id);
        }
        sql.push(" RETURNING ");
        task_columns(sql, false);
    }
}

/// What PostgreSQL's one-statement move did, or why it did nothing.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum MoveOutcome {
    /// The task took its new place and the owner's next change number.
    Moved,
    /// The task is right there already: nothing written, the task as it is.
    Unchanged,
    /// The owner does not exist.
    NoOwner,
    /// The owner has no such task.
    NoTask,
    /// The task's version does not satisfy the condition.
    PreconditionFailed,
    /// The destination is not one of the owner's lists.
    NoList,
    /// `after` is not another task of the destination list.
    NoAfter,
    /// The key would pass `POSITION_MAX_CHARS` (or the neighbours' keys are equal): the list's
    /// keys must be made again, which the statement does not do.
    Respace,
    /// A write of the owner's committed after the statement's snapshot was taken, before the
    /// statement had the owner's lock: what it read may be out of date, so it wrote nothing.
    Stale,
}

impl MoveOutcome {
    const ALL: [Self; 9] = [
        Self::Moved,
        Self::Unchanged,
        Self::NoOwner,
        Self::NoTask,
        Self::PreconditionFailed,
        Self::NoList,
        Self::NoAfter,
        Self::Respace,
        Self::Stale,
    ];

    /// The outcome's name in the statement's `outcome` column.
    fn name(self) -> &'static str {
        match self {
            Self::Moved => "moved",
            Self::Unchanged => "unchanged",
            Self::NoOwner => "no_owner",
            Self::NoTask => "no_task",
            Self::PreconditionFailed => "precondition_failed",
            Self::NoList => "no_list",
            Self::NoAfter => "no_after",
            Self::Respace => "respace",
            Self::Stale => "stale",
        }
    }

    /// The outcome a statement named.
    pub fn named(name: &str) -> Option<Self> {
        Self::ALL.into_iter().find(|outcome| outcome.name() == name)
    }

    /// `'<name>'`.
    fn literal(self, sql: &mut Sql) {
        sql.push("'").push(self.name()).push("'");
    }
}

/// How a move's statement tests the task's version: any, one of the listed, or none of them.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum VersionTest {
    Any,
    In(usize),
    NotIn(usize),
}

/// Moves one task of its owner right after `after` (`None`: first) in its destination list, on
/// PostgreSQL, in one statement: under the owner's lock it reads the task (`NoOwner`, `NoTask`,
/// then `PreconditionFailed`), checks the destination (`NoList`, then `NoAfter`), finds the
/// task's new neighbours, sees whether the task is there already (`Unchanged`), makes the key
/// between theirs (`position_key_between`: `Respace` when there is none of at most
/// `POSITION_MAX_CHARS`), writes the task with the owner's next change number and bumps the
/// counter (`Moved`). One row always: the task's columns (the task as written, or as it is when
/// unchanged; nulls otherwise), then `outcome`. The owner's counter as locked and as the snapshot
/// has it must agree (else `Stale`): every write of the owner's bumps it under the same lock, so
/// what the statement read is what is there now.
pub struct MoveTask<'a> {
    pub task: OwnedTask,
    pub destination: TaskMove,
    pub condition: &'a WriteCondition,
    pub now: DateTime<Utc>,
}

/// The parts of the move's statement, quoted.
const OWNER: &str = r#""owner""#;
const READ: &str = r#""read""#;
const PLAN: &str = r#""plan""#;
const MOVED: &str = r#""moved""#;

/// Which tasks the move's statement looks for the moved task's new successor among.
#[derive(Clone, Copy)]
enum Successors {
    Inbox,
    /// A list the request names.
    List(Uuid),
    /// The inbox, when the task is in it (as read).
    TasksInbox,
    /// The task's own list, as read (none when the task is in the inbox).
    TasksList,
}

impl MoveTask<'_> {
    pub fn statement(&self) -> Statement {
        let shape = Shape::MoveTask {
            list: self.destination.list_id.map(ListShape::of),
            after: self.destination.after.is_some(),
            versions: self.version_test(),
        };
        let bump = BumpChangeSeq {
            user_id: self.task.user_id,
            change: CountChange::None,
        };
        statement(DatabaseBackend::Postgres, shape, |sql| {
            sql.push("WITH ").push(OWNER).push(" AS (");
            self.lock_owner(sql);
            sql.push("), ").push(READ).push(" AS (");
            self.read(sql);
            sql.push("), ").push(PLAN).push(" AS (");
            self.plan(sql);
            sql.push("), ").push(MOVED).push(" AS (");
            self.write(sql);
            sql.push("), ").push(COUNTER).push(" AS (");
            bump.write(sql, Some(MOVED));
            sql.push(") ");
            self.answer(sql);
        })
    }

    fn version_test(&self) -> VersionTest {
        match self.condition {
            WriteCondition::Always => VersionTest::Any,
            WriteCondition::VersionIn(versions) => VersionTest::In(versions.len()),
            WriteCondition::VersionNotIn(versions) => VersionTest::NotIn(versions.len()),
        }
    }

    /// The owner's counter, its row locked (the latest committed value, waited for).
    fn lock_owner(&self, sql: &mut Sql) {
        sql.push(r#"SELECT "users"."change_seq" FROM "users" WHERE "users"."id" = "#)
            .bind(self.task.user_id)
            .lock_rows();
    }

    /// One row: the counter as locked and as the snapshot has it, the task, the destination
    /// list's id (`"list_id"`, null for the inbox), `after`, the task that will follow the moved
    /// one (`"next_id"`, `"next_position"`) and the key between `after`'s and its.
    fn read(&self, sql: &mut Sql) {
        let owner = self.task.user_id;
        let after = self.destination.after;
        sql.push(r#"SELECT "owner"."change_seq" AS "locked_seq", (SELECT "users"."change_seq" FROM "users" WHERE "users"."id" = "#)
            .bind(owner)
            .push(r#") AS "seen_seq", "task"."id" AS "task_id", "task"."version" AS "task_version", "task"."list_id" AS "task_list_id", "task"."position" AS "task_position", "#);
        match self.destination.list_id {
            None => sql.push(r#""task"."list_id""#),
            Some(None) => sql.push("NULL::uuid"),
            Some(Some(list_id)) => sql.bind(list_id).push("::uuid"),
        };
        sql.push(r#" AS "list_id""#);
        if after.is_some() {
            sql.push(r#", "after"."id" AS "after_id", "after"."list_id" AS "after_list_id", "after"."position" AS "after_position""#);
        }
        sql.push(r#", "next"."id" AS "next_id", "next"."position" AS "next_position", "position_key_between"("#)
            .push(if after.is_some() { r#""after"."position""# } else { "NULL" })
            .push(r#", "next"."position") AS "key" FROM (SELECT 1) AS "one" LEFT JOIN "owner" ON TRUE LEFT JOIN "tasks" AS "task" ON "task"."id" = "#)
            .bind(self.task.task_id)
            .push(r#" AND "task"."user_id" = "#)
            .bind(owner);
        if let Some(after) = after {
            sql.push(r#" LEFT JOIN "tasks" AS "after" ON "after"."id" = "#)
                .bind(after)
                .push(r#" AND "after"."user_id" = "#)
                .bind(owner);
        }
        sql.push(" LEFT JOIN LATERAL (");
        match self.destination.list_id {
            None => {
                // The task's own list: one branch finds nothing (each reads an index in order).
                self.first_after(sql, Successors::TasksInbox);
                sql.push(" UNION ALL ");
                self.first_after(sql, Successors::TasksList);
            }
            Some(None) => self.first_after(sql, Successors::Inbox),
            Some(Some(list_id)) => self.first_after(sql, Successors::List(list_id)),
        }
        sql.push(r#") AS "next" ON TRUE"#);
    }

    /// `(SELECT <the id and position of the first of `successors` after "after" (or the first of
    /// all), the moved task left out>)`.
    fn first_after(&self, sql: &mut Sql, successors: Successors) {
        sql.push(
            r#"(SELECT "tasks"."id", "tasks"."position" FROM "tasks" WHERE "tasks"."user_id" = "#,
        )
        .bind(self.task.user_id);
        match successors {
            Successors::Inbox => sql.push(r#" AND "tasks"."list_id" IS NULL"#),
            Successors::List(list_id) => sql.push(r#" AND "tasks"."list_id" = "#).bind(list_id),
            Successors::TasksInbox => {
                sql.push(r#" AND "tasks"."list_id" IS NULL AND "task"."list_id" IS NULL"#)
            }
            Successors::TasksList => sql.push(r#" AND "tasks"."list_id" = "task"."list_id""#),
        };
        sql.push(r#" AND "tasks"."id" <> "#).bind(self.task.task_id);
        if self.destination.after.is_some() {
            sql.push(
                r#" AND ("tasks"."position", "tasks"."id") > ("after"."position", "after"."id")"#,
            );
        }
        sql.push(r#" ORDER BY "tasks"."position", "tasks"."id" LIMIT 1)"#);
    }

    /// One row: the outcome, the new key, the destination and the counter as locked.
    fn plan(&self, sql: &mut Sql) {
        sql.push(r#"SELECT CASE WHEN "locked_seq" IS NULL THEN "#);
        MoveOutcome::NoOwner.literal(sql);
        sql.push(r#" WHEN "locked_seq" IS DISTINCT FROM "seen_seq" THEN "#);
        MoveOutcome::Stale.literal(sql);
        sql.push(r#" WHEN "task_id" IS NULL THEN "#);
        MoveOutcome::NoTask.literal(sql);
        sql.push(" WHEN NOT ");
        self.version_allowed(sql);
        sql.push(" THEN ");
        MoveOutcome::PreconditionFailed.literal(sql);
        if let Some(Some(list_id)) = self.destination.list_id {
            sql.push(" WHEN NOT ");
            lists::owners_list(sql, self.task.user_id, list_id);
            sql.push(" THEN ");
            MoveOutcome::NoList.literal(sql);
        }
        if self.destination.after.is_some() {
            sql.push(r#" WHEN "after_id" IS NULL OR "after_id" = "task_id" OR "after_list_id" IS DISTINCT FROM "list_id" THEN "#);
            MoveOutcome::NoAfter.literal(sql);
        }
        // Already between its new neighbours: right after `after` (or first).
        sql.push(r#" WHEN "task_list_id" IS NOT DISTINCT FROM "list_id""#);
        if self.destination.after.is_some() {
            sql.push(r#" AND ("task_position", "task_id") > ("after_position", "after_id")"#);
        }
        sql.push(r#" AND ("next_id" IS NULL OR ("task_position", "task_id") < ("next_position", "next_id")) THEN "#);
        MoveOutcome::Unchanged.literal(sql);
        sql.push(r#" WHEN "key" IS NULL OR length("key") > "#)
            .push(&POSITION_MAX_CHARS.to_string())
            .push(" THEN ");
        MoveOutcome::Respace.literal(sql);
        sql.push(" ELSE ");
        MoveOutcome::Moved.literal(sql);
        sql.push(r#" END AS "outcome", "key", "list_id", "locked_seq" FROM "read""#);
    }

    /// `(<whether "task_version" satisfies the condition>)`.
    fn version_allowed(&self, sql: &mut Sql) {
        let (versions, excluded) = match self.condition {
            WriteCondition::Always => (&[][..], true),
            WriteCondition::VersionIn(versions) => (&versions[..], false),
            WriteCondition::VersionNotIn(versions) => (&versions[..], true),
        };
        if versions.is_empty() {
            // None listed: every version, or (`If-None-Match: *`) none.
            sql.push(if excluded { "(TRUE)" } else { "(FALSE)" });
            return;
        }
        sql.push(r#"("task_version""#)
            .push(if excluded { " NOT IN (" } else { " IN (" })
            .join(versions, ", ", |sql, version| {
                sql.bind(*version);
            })
            .push("))");
    }

    /// The task at its new place, when the plan says so.
    fn write(&self, sql: &mut Sql) {
        sql.push(r#"UPDATE "tasks" SET "list_id" = "plan"."list_id", "position" = "plan"."key", "updated_at" = "#)
            .greatest()
            .bind(self.now)
            .push(r#", "tasks"."updated_at"), "version" = "plan"."locked_seq" + 1 FROM "plan" WHERE "plan"."outcome" = "#);
        MoveOutcome::Moved.literal(sql);
        sql.push(" AND ");
        self.task.condition(sql);
        sql.push(" RETURNING ");
        task_columns(sql, true);
    }

    /// The task as written (moved) or as it is (unchanged), its columns first as every task
    /// row's, then the outcome.
    fn answer(&self, sql: &mut Sql) {
        sql.push("SELECT ");
        task_columns(sql, true);
        sql.push(r#", "plan"."outcome" FROM "plan" LEFT JOIN (SELECT "#);
        task_columns(sql, false);
        sql.push(" FROM ").push(MOVED).push(" UNION ALL SELECT ");
        task_columns(sql, true);
        sql.push(r#" FROM "tasks" WHERE "#);
        self.task.condition(sql);
        sql.push(r#" AND EXISTS(SELECT 1 FROM "plan" WHERE "plan"."outcome" = "#);
        MoveOutcome::Unchanged.literal(sql);
        sql.push(r#")) AS "tasks" ON TRUE"#);
    }
}
