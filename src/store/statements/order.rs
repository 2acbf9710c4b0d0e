//! The manual order of a list's tasks: positions are fractional-indexing keys over `0-9A-Za-z`
//! (rocicorp/fractional-indexing's format: an integer part, a head letter that tells its length
//! and as many digits, then an optional fraction), compared as byte strings. The key after the
//! last of a list is made by the write itself, in SQL, under the owner's lock; a move reads the
//! list's order under the owner's lock and places the task with a key made between its new
//! neighbours'.

use chrono::{DateTime, Utc};
use sea_orm::{DatabaseBackend, Statement};
use uuid::Uuid;

use super::{
    changed_then_bumped, changed_then_bumped_steps, lists, statement, task_columns, BumpChangeSeq,
    CountChange, ListShape, OwnedTask, Shape,
};
use crate::db::sql_cache::Sql;
use crate::db::write::{Step, Write};

/// The digits of a key, in byte order.
const DIGITS: &str = "'0123456789ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz'";
/// The heads of an integer part, in byte order: `A` (27 characters) … `Z` (2), `a` (2) … `z` (27).
const HEADS: &str = "'ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz'";
/// Zeros enough for the longest integer part.
const ZEROS: &str = "'000000000000000000000000000'";
/// The first key of an empty list.
const FIRST_KEY: &str = "'a0'";

/// The 1-based place of `needle` in the literal `haystack`, as each database spells it.
fn place(sql: &mut Sql, haystack: &str, needle: &str) {
    match sql.backend() {
        DatabaseBackend::Postgres => sql.push("strpos(").push(haystack).push(", ").push(needle),
        _ => sql.push("instr(").push(haystack).push(", ").push(needle),
    };
    sql.push(")");
}

/// The tasks of the owner's list (`None`: the inbox): ` "tasks"."user_id" = … AND "list_id" …`.
pub(super) fn tasks_of_list(sql: &mut Sql, user_id: Uuid, list_id: Option<Uuid>) {
    sql.push(r#""tasks"."user_id" = "#).bind(user_id);
    match list_id {
        Some(list_id) => sql.push(r#" AND "tasks"."list_id" = "#).bind(list_id),
        None => sql.push(r#" AND "tasks"."list_id" IS NULL"#),
    };
}

/// `(SELECT <the key after the last of the list's tasks>)`: the integer part of the greatest
/// position, plus one (`a0` for an empty list). The greatest position is read from the index of
/// the list's order. An integer part of `z` and 26 `z` digits (62^26 keys in) would have no
/// successor; the key then grows by a fraction instead.
pub(super) fn after_the_last(sql: &mut Sql, user_id: Uuid, list_id: Option<Uuid>) {
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

impl PlaceTask<'_> {
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

    fn bump(&self) -> BumpChangeSeq {
        BumpChangeSeq {
            user_id: self.task.user_id,
            change: CountChange::None,
        }
    }
}

impl Write for PlaceTask<'_> {
    fn owner(&self) -> Uuid {
        self.task.user_id
    }

    fn postgres(&self) -> Statement {
        changed_then_bumped(
            self.shape(),
            |sql| self.update(sql),
            self.bump(),
            |sql| task_columns(sql, false),
        )
    }

    /// The task placed with the next change number, then the counter bumped.
    fn sqlite(&self) -> Vec<Step> {
        changed_then_bumped_steps(self.shape(), |sql| self.update(sql), self.bump())
    }
}
