//! The key after the last of a list, as a PostgreSQL function (`position_after_the_last`) that
//! reads the list's newest committed keys: a volatile function takes a snapshot of its own for
//! each query, so a write that waited for its owner's lock sees the keys the write before it
//! made (the statement's own snapshot, taken before the wait, does not). The key is the one the
//! server's statements made in SQL until now: the integer part of the greatest position plus one
//! (`a0` for an empty list), a fraction past the last integer. SQLite's writes take the
//! database's write lock before they read: nothing to do there. Additive only: the previous
//! release goes on serving while it runs.

use sea_orm_migration::prelude::*;

#[derive(DeriveMigrationName)]
pub struct Migration;

const SIGNATURE: &str = r#""position_after_the_last"(uuid, uuid)"#;

/// The key after the last of the owner's list (`list` NULL: the inbox). "last"."m": the greatest
/// key; "head": its head's place among the heads ("p") and its integer part's length ("n");
/// "parts": the integer part ("i") and its trailing `z` digits ("t").
pub(crate) const AFTER_THE_LAST: &str = r#"
CREATE FUNCTION "position_after_the_last"("owner" uuid, "list" uuid) RETURNS text
LANGUAGE plpgsql VOLATILE AS $$
#variable_conflict use_variable
DECLARE
    "last_key" text;
BEGIN
    IF "list" IS NULL THEN
        SELECT MAX("tasks"."position") INTO "last_key" FROM "tasks"
        WHERE "tasks"."user_id" = "owner" AND "tasks"."list_id" IS NULL;
    ELSE
        SELECT MAX("tasks"."position") INTO "last_key" FROM "tasks"
        WHERE "tasks"."user_id" = "owner" AND "tasks"."list_id" = "list";
    END IF;
    RETURN (
        SELECT CASE
            WHEN "m" IS NULL THEN 'a0'
            WHEN "t" < "n" - 1 THEN substr("i", 1, "n" - 1 - "t")
                || substr('0123456789ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz', strpos('0123456789ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz', substr("i", "n" - "t", 1)) + 1, 1)
                || substr('000000000000000000000000000', 1, "t")
            WHEN "p" = 26 THEN 'a0'
            WHEN "p" = 52 THEN "m" || 'V'
            WHEN "p" > 26 THEN substr('ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz', "p" + 1, 1)
                || substr('000000000000000000000000000', 1, "n")
            ELSE substr('ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz', "p" + 1, 1)
                || substr('000000000000000000000000000', 1, "n" - 2)
        END
        FROM (SELECT "m", "p", "n", substr("m", 1, "n") AS "i",
                "n" - 1 - length(rtrim(substr("m", 2, "n" - 1), 'z')) AS "t"
            FROM (SELECT "m", "p", CASE WHEN "p" > 26 THEN "p" - 25 ELSE 28 - "p" END AS "n"
                FROM (SELECT "m", strpos('ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz', substr("m", 1, 1)) AS "p"
                    FROM (SELECT "last_key" AS "m") AS "last") AS "placed") AS "head") AS "parts"
    );
END
$$"#;

#[async_trait::async_trait]
impl MigrationTrait for Migration {
    async fn up(&self, manager: &SchemaManager) -> Result<(), DbErr> {
        crate::execute_on_postgres(manager, AFTER_THE_LAST).await
    }

    async fn down(&self, manager: &SchemaManager) -> Result<(), DbErr> {
        crate::execute_on_postgres(manager, &format!("DROP FUNCTION {SIGNATURE}")).await
    }
}
