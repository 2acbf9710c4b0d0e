//! The key between two position keys, as a PostgreSQL function (`position_key_between`), so
//! that a move makes its task's key in the statement that writes it: the same answers as the
//! server's `domain::key_between` (rocicorp/fractional-indexing's `generateKeyBetween` over the
//! base-62 digits `0-9A-Za-z`, keys compared as byte strings), NULL where it refuses. SQLite's
//! moves make their keys in the server: nothing to do there. Additive only: the previous release
//! goes on serving while it runs.

use sea_orm_migration::prelude::*;

#[derive(DeriveMigrationName)]
pub struct Migration;

/// The functions, each with its signature, in the order they are created (the key's own last).
const FUNCTIONS: [(&str, &str); 4] = [
    (r#""position_integer_length"(text)"#, INTEGER_LENGTH),
    (r#""position_midpoint"(text, text)"#, MIDPOINT),
    (r#""position_integer_step"(text, boolean)"#, INTEGER_STEP),
    (r#""position_key_between"(text, text)"#, KEY_BETWEEN),
];

/// The length of the integer part a key's head letter begins (`a` 2 … `z` 27, `Z` 2 … `A` 27);
/// NULL for any other head.
const INTEGER_LENGTH: &str = r#"
CREATE FUNCTION "position_integer_length"("key" text) RETURNS integer
LANGUAGE sql IMMUTABLE STRICT PARALLEL SAFE AS $$
    SELECT CASE
        WHEN ascii("key") BETWEEN ascii('a') AND ascii('z') THEN ascii("key") - ascii('a') + 2
        WHEN ascii("key") BETWEEN ascii('A') AND ascii('Z') THEN ascii('Z') - ascii("key") + 2
    END
$$"#;

/// A fraction strictly between fractions `a` and `b` (NULL: above every fraction), neither
/// ending with `0`, `a < b`.
const MIDPOINT: &str = r#"
CREATE FUNCTION "position_midpoint"("a" text, "b" text) RETURNS text
LANGUAGE plpgsql IMMUTABLE PARALLEL SAFE AS $$
DECLARE
    "digits" CONSTANT text := '0123456789ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz';
    "common" integer := 0;
    "digit_a" integer;
    "digit_b" integer;
BEGIN
    IF "b" IS NOT NULL THEN
        WHILE "common" < length("b")
            AND coalesce(nullif(substr("a", "common" + 1, 1), ''), '0') = substr("b", "common" + 1, 1)
        LOOP
            "common" := "common" + 1;
        END LOOP;
        IF "common" > 0 THEN
            RETURN substr("b", 1, "common")
                || "position_midpoint"(substr("a", "common" + 1), substr("b", "common" + 1));
        END IF;
    END IF;
    "digit_a" := CASE WHEN "a" = '' THEN 0 ELSE strpos("digits", substr("a", 1, 1)) - 1 END;
    "digit_b" := CASE WHEN "b" IS NULL THEN 62 ELSE strpos("digits", substr("b", 1, 1)) - 1 END;
    IF "digit_b" - "digit_a" > 1 THEN
        RETURN substr("digits", ("digit_a" + "digit_b" + 1) / 2 + 1, 1);
    END IF;
    IF "b" IS NOT NULL AND length("b") > 1 THEN
        RETURN substr("b", 1, 1);
    END IF;
    RETURN substr("digits", "digit_a" + 1, 1) || "position_midpoint"(substr("a", 2), NULL);
END
$$"#;

/// The integer part after `integer_part` (`up`) or before it; NULL past `z` and 26 `z` digits,
/// or below `A` and 26 `0` digits.
const INTEGER_STEP: &str = r#"
CREATE FUNCTION "position_integer_step"("integer_part" text, "up" boolean) RETURNS text
LANGUAGE plpgsql IMMUTABLE STRICT PARALLEL SAFE AS $$
DECLARE
    "digits" CONSTANT text := '0123456789ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz';
    "step" CONSTANT integer := CASE WHEN "up" THEN 1 ELSE -1 END;
    -- What a digit stepped past the last (or first) digit becomes, carrying (or borrowing).
    "wrapped" CONSTANT text := CASE WHEN "up" THEN '0' ELSE 'z' END;
    -- The head whose integers border the other sign's (`Z`, `a`), the other sign's head there
    -- (`a`, `Z`), and the last head (`z`, `A`).
    "crossing_head" CONSTANT text := CASE WHEN "up" THEN 'Z' ELSE 'a' END;
    "crossed_head" CONSTANT text := CASE WHEN "up" THEN 'a' ELSE 'Z' END;
    "last_head" CONSTANT text := CASE WHEN "up" THEN 'z' ELSE 'A' END;
    "head" text := substr("integer_part", 1, 1);
    "body" text := substr("integer_part", 2);
    "place" integer := length("body");
    "digit" integer;
BEGIN
    WHILE "place" > 0 LOOP
        "digit" := strpos("digits", substr("body", "place", 1)) - 1 + "step";
        IF "digit" BETWEEN 0 AND 61 THEN
            RETURN "head" || substr("body", 1, "place" - 1) || substr("digits", "digit" + 1, 1)
                || repeat("wrapped", length("body") - "place");
        END IF;
        "place" := "place" - 1;
    END LOOP;
    "body" := repeat("wrapped", length("body"));
    IF "head" = "crossing_head" THEN
        -- From the negative integers to the positive ones (`a0`), or back (`Zz`).
        RETURN "crossed_head" || "wrapped";
    ELSIF "head" = "last_head" THEN
        RETURN NULL;
    END IF;
    "head" := chr(ascii("head") + "step");
    -- Away from the middle (`a` up, `Z` down) the integer part grows a digit; towards it, it
    -- loses one.
    IF ("up" AND ascii("head") > ascii('a')) OR (NOT "up" AND ascii("head") < ascii('Z')) THEN
        RETURN "head" || "body" || "wrapped";
    END IF;
    RETURN "head" || substr("body", 2);
END
$$"#;

/// A key strictly between `a` and `b` (NULL: the list's start or end), as short as the format
/// allows there; NULL when either is not a key of the format, `a` is not below `b`, or no key is
/// left at that end.
const KEY_BETWEEN: &str = r#"
CREATE FUNCTION "position_key_between"("a" text, "b" text) RETURNS text
LANGUAGE plpgsql IMMUTABLE PARALLEL SAFE AS $$
DECLARE
    "smallest_integer" CONSTANT text := 'A00000000000000000000000000';
    "key" text;
    "integer_length" integer;
    "integer_a" text;
    "integer_b" text;
    "next_integer" text;
BEGIN
    FOREACH "key" IN ARRAY ARRAY["a", "b"] LOOP
        CONTINUE WHEN "key" IS NULL;
        "integer_length" := "position_integer_length"("key");
        IF "key" = '' OR "key" = "smallest_integer"
            OR translate("key", '0123456789ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz', '') <> ''
            OR "integer_length" IS NULL OR "integer_length" > length("key")
            OR (length("key") > "integer_length" AND right("key", 1) = '0')
        THEN
            RETURN NULL;
        END IF;
    END LOOP;
    IF "a" IS NULL AND "b" IS NULL THEN
        RETURN 'a0';
    END IF;
    "integer_a" := substr("a", 1, "position_integer_length"("a"));
    "integer_b" := substr("b", 1, "position_integer_length"("b"));
    IF "a" IS NULL THEN
        IF "integer_b" = "smallest_integer" THEN
            RETURN "integer_b" || "position_midpoint"('', substr("b", length("integer_b") + 1));
        ELSIF length("integer_b") < length("b") THEN
            RETURN "integer_b";
        END IF;
        RETURN "position_integer_step"("integer_b", FALSE);
    ELSIF "b" IS NULL THEN
        RETURN coalesce(
            "position_integer_step"("integer_a", TRUE),
            "integer_a" || "position_midpoint"(substr("a", length("integer_a") + 1), NULL)
        );
    ELSIF "a" COLLATE "C" >= "b" COLLATE "C" THEN
        RETURN NULL;
    ELSIF "integer_a" = "integer_b" THEN
        RETURN "integer_a" || "position_midpoint"(
            substr("a", length("integer_a") + 1), substr("b", length("integer_b") + 1)
        );
    END IF;
    "next_integer" := "position_integer_step"("integer_a", TRUE);
    IF "next_integer" IS NULL THEN
        RETURN NULL;
    ELSIF "next_integer" COLLATE "C" < "b" COLLATE "C" THEN
        RETURN "next_integer";
    END IF;
    RETURN "integer_a" || "position_midpoint"(substr("a", length("integer_a") + 1), NULL);
END
$$"#;

#[async_trait::async_trait]
impl MigrationTrait for Migration {
    async fn up(&self, manager: &SchemaManager) -> Result<(), DbErr> {
        for (_, create) in FUNCTIONS {
            crate::execute_on_postgres(manager, create).await?;
        }
        Ok(())
    }

    async fn down(&self, manager: &SchemaManager) -> Result<(), DbErr> {
        for (signature, _) in FUNCTIONS.iter().rev() {
            crate::execute_on_postgres(manager, &format!("DROP FUNCTION {signature}")).await?;
        }
        Ok(())
    }
}
