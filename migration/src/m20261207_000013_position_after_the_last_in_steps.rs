//! `position_after_the_last` made in steps: the same key from the same read of the list's newest
//! committed keys, worked out by assignments PL/pgSQL evaluates without the executor (one query a
//! call, the read), where the function it replaces ran a second query of four nested subqueries
//! for each created task (about 30 µs of the database's CPU a create). Replaced in place: the
//! previous release goes on serving while it runs, with the same answers.

use sea_orm_migration::prelude::*;

use crate::m20261207_000012_position_after_the_last::AFTER_THE_LAST;

#[derive(DeriveMigrationName)]
pub struct Migration;

/// The key after the last of the owner's list (`list` NULL: the inbox), over the digits `0-9A-Za-z`
/// and the heads `A-Za-z` of integer parts: "m" the greatest key, "p" its head's place among the
/// heads, "n" its integer part's length, "i" the integer part and "t" its trailing `z` digits; the
/// integer part plus one, past `Zz` the first positive integer, past the greatest a fraction.
const IN_STEPS: &str = r#"
CREATE OR REPLACE FUNCTION "position_after_the_last"("owner" uuid, "list" uuid) RETURNS text
LANGUAGE plpgsql VOLATILE AS $$
#variable_conflict use_variable
DECLARE
    "heads" CONSTANT text := 'ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz';
    "digits" CONSTANT text := '0123456789ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz';
    "zeros" CONSTANT text := '000000000000000000000000000';
    "m" text;
    "p" integer;
    "n" integer;
    "i" text;
    "t" integer;
BEGIN
    IF "list" IS NULL THEN
        SELECT MAX("tasks"."position") INTO "m" FROM "tasks"
        WHERE "tasks"."user_id" = "owner" AND "tasks"."list_id" IS NULL;
    ELSE
        SELECT MAX("tasks"."position") INTO "m" FROM "tasks"
        WHERE "tasks"."user_id" = "owner" AND "tasks"."list_id" = "list";
    END IF;
    IF "m" IS NULL THEN
        RETURN 'a0';
    END IF;
    "p" := strpos("heads", substr("m", 1, 1));
    "n" := CASE WHEN "p" > 26 THEN "p" - 25 ELSE 28 - "p" END;
    "i" := substr("m", 1, "n");
    "t" := "n" - 1 - length(rtrim(substr("m", 2, "n" - 1), 'z'));
    RETURN CASE
        WHEN "t" < "n" - 1 THEN substr("i", 1, "n" - 1 - "t")
            || substr("digits", strpos("digits", substr("i", "n" - "t", 1)) + 1, 1)
            || substr("zeros", 1, "t")
        WHEN "p" = 26 THEN 'a0'
        WHEN "p" = 52 THEN "m" || 'V'
        WHEN "p" > 26 THEN substr("heads", "p" + 1, 1) || substr("zeros", 1, "n")
        ELSE substr("heads", "p" + 1, 1) || substr("zeros", 1, "n" - 2)
    END;
END
$$"#;

#[async_trait::async_trait]
impl MigrationTrait for Migration {
    async fn up(&self, manager: &SchemaManager) -> Result<(), DbErr> {
        crate::execute_on_postgres(manager, IN_STEPS).await
    }

    /// The function as the migration before made it.
    async fn down(&self, manager: &SchemaManager) -> Result<(), DbErr> {
        let before = AFTER_THE_LAST.replacen("CREATE FUNCTION", "CREATE OR REPLACE FUNCTION", 1);
        crate::execute_on_postgres(manager, &before).await
    }
}
