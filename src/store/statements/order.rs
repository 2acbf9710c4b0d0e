//! The manual order of a list's tasks: positions are fractional-indexing keys over `0-9A-Za-z`
//! (rocicorp/fractional-indexing's format: an integer part, a head letter that tells its length
//! and as many digits, then an optional fraction), compared as byte strings. The key after the
//! last of a list is made by the write itself, in SQL, under the owner's lock.

use uuid::Uuid;

use crate::db::sql_cache::Sql;
use sea_orm::DatabaseBackend;

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
