//! What the list views read (issue 22): the `task_tags` index of every tag on every task, kept by
//! triggers on `tasks` (so that writes need not know it), and the indexes of the `due` and
//! `priority` sorts. Additive only: the previous release goes on serving while it runs (its
//! tasks carry no tags, and its reads never see the new table).
//!
//! The due sorts compare one integer per task, `days since 1970-01-01 × 100000`, plus the
//! seconds of `due_time` + 1 when there is a time (all-day tasks first on their date); a task
//! without `due` takes a sentinel that puts it last in the sort's direction. The expressions
//! are the store's (`src/store/statements/read.rs`, `due_key`), character for character, so
//! that the indexes serve its ORDER BY and bounds.

use sea_orm_migration::sea_orm::DatabaseBackend;
use sea_orm_migration::{prelude::*, schema::*};

#[derive(DeriveMigrationName)]
pub struct Migration;

#[derive(DeriveIden)]
enum Tasks {
    Table,
    Id,
    UserId,
    Priority,
}

#[derive(DeriveIden)]
enum TaskTags {
    Table,
    UserId,
    TagKey,
    TaskId,
    Name,
}

/// A due date's key: its days since 1970-01-01 × 100000, plus 1 + the seconds of its time when
/// it has one; null without a due date.
fn dated_key(backend: DatabaseBackend) -> &'static str {
    match backend {
        DatabaseBackend::Postgres => {
            r#"("due_date" - DATE '1970-01-01') * CAST(100000 AS bigint) + COALESCE(CAST(EXTRACT(EPOCH FROM "due_time") AS bigint) + 1, 0)"#
        }
        _ => {
            r#"unixepoch("due_date") / 86400 * 100000 + COALESCE(unixepoch('1970-01-01 ' || "due_time") + 1, 0)"#
        }
    }
}

/// The key of the `due` sort (`missing`, the key of a task without `due`, is the greatest) or of
/// the `-due` sort (`missing` the least), so that such tasks come last either way.
fn due_key(backend: DatabaseBackend, missing: &str) -> String {
    format!("COALESCE({}, {missing})", dated_key(backend))
}

/// The rows of a task's tags (`NEW`, in a trigger; every task, in the backfill, joined `from`):
/// its tag keys and names paired by their place in the two JSON arrays.
fn tag_rows(backend: DatabaseBackend, task: &str, from: &str) -> String {
    match backend {
        DatabaseBackend::Postgres => format!(
            r#"SELECT {task}."user_id", "tag_key"."value", {task}."id", "tag_name"."value"
               FROM {from}jsonb_array_elements_text(CAST({task}."tag_keys" AS jsonb)) WITH ORDINALITY AS "tag_key"("value", "n")
               JOIN jsonb_array_elements_text(CAST({task}."tags" AS jsonb)) WITH ORDINALITY AS "tag_name"("value", "n")
               ON "tag_name"."n" = "tag_key"."n""#
        ),
        _ => format!(
            r#"SELECT {task}."user_id", "tag_key"."value", {task}."id", "tag_name"."value"
               FROM {from}json_each({task}."tag_keys") AS "tag_key"
               JOIN json_each({task}."tags") AS "tag_name" ON "tag_name"."key" = "tag_key"."key""#
        ),
    }
}

const INSERT_TAG_ROWS: &str =
    r#"INSERT INTO "task_tags" ("user_id", "tag_key", "task_id", "name") "#;

/// Inserts (on insert) or replaces (on an update that changes the tags) a task's rows; a task's
/// deletion removes them by the foreign key's cascade.
const INSERT_WHEN: &str = r#"NEW."tag_keys" <> '[]'"#;
const UPDATE_WHEN: &str =
    r#"OLD."tags" IS DISTINCT FROM NEW."tags" OR OLD."tag_keys" IS DISTINCT FROM NEW."tag_keys""#;

#[async_trait::async_trait]
impl MigrationTrait for Migration {
    async fn up(&self, manager: &SchemaManager) -> Result<(), DbErr> {
        let backend = manager.get_database_backend();
        let db = manager.get_connection();
        // Tag keys and names compare byte by byte on both databases (PostgreSQL is told
        // `COLLATE "C"`): the list of tags is sorted and named by byte order.
        let byte_order = |mut column: ColumnDef| match backend {
            DatabaseBackend::Postgres => column.extra(r#"COLLATE "C""#).to_owned(),
            _ => column,
        };
        manager
            .create_table(
                Table::create()
                    .table(TaskTags::Table)
                    .col(uuid(TaskTags::UserId))
                    .col(byte_order(text(TaskTags::TagKey)))
                    .col(uuid(TaskTags::TaskId))
                    .col(byte_order(text(TaskTags::Name)))
                    .primary_key(
                        Index::create()
                            .col(TaskTags::UserId)
                            .col(TaskTags::TagKey)
                            .col(TaskTags::TaskId),
                    )
                    .foreign_key(
                        ForeignKey::create()
                            .name("fk_task_tags_task_id")
                            .from(TaskTags::Table, TaskTags::TaskId)
                            .to(Tasks::Table, Tasks::Id)
                            .on_delete(ForeignKeyAction::Cascade),
                    )
                    .to_owned(),
            )
            .await?;
        manager
            .create_index(
                Index::create()
                    .name("idx_task_tags_task_id")
                    .table(TaskTags::Table)
                    .col(TaskTags::TaskId)
                    .to_owned(),
            )
            .await?;
        let new_rows = tag_rows(backend, "NEW", "");
        match backend {
            DatabaseBackend::Postgres => {
                db.execute_unprepared(&format!(
                    r#"CREATE FUNCTION "task_tags_write"() RETURNS trigger LANGUAGE plpgsql AS $$
                       BEGIN
                           IF TG_OP = 'UPDATE' THEN
                               DELETE FROM "task_tags" WHERE "task_id" = OLD."id";
                           END IF;
                           {INSERT_TAG_ROWS}{new_rows};
                           RETURN NULL;
                       END
                       $$"#
                ))
                .await?;
                db.execute_unprepared(&format!(
                    r#"CREATE TRIGGER "task_tags_on_insert" AFTER INSERT ON "tasks" FOR EACH ROW
                       WHEN ({INSERT_WHEN}) EXECUTE FUNCTION "task_tags_write"()"#
                ))
                .await?;
                db.execute_unprepared(&format!(
                    r#"CREATE TRIGGER "task_tags_on_update" AFTER UPDATE OF "tags", "tag_keys" ON "tasks"
                       FOR EACH ROW WHEN ({UPDATE_WHEN}) EXECUTE FUNCTION "task_tags_write"()"#
                ))
                .await?;
            }
            _ => {
                db.execute_unprepared(&format!(
                    r#"CREATE TRIGGER "task_tags_on_insert" AFTER INSERT ON "tasks" FOR EACH ROW
                       WHEN {INSERT_WHEN}
                       BEGIN {INSERT_TAG_ROWS}{new_rows}; END"#
                ))
                .await?;
                db.execute_unprepared(&format!(
                    r#"CREATE TRIGGER "task_tags_on_update" AFTER UPDATE OF "tags", "tag_keys" ON "tasks"
                       FOR EACH ROW WHEN {UPDATE_WHEN}
                       BEGIN
                           DELETE FROM "task_tags" WHERE "task_id" = OLD."id";
                           {INSERT_TAG_ROWS}{new_rows};
                       END"#
                ))
                .await?;
            }
        }
        // Tasks tagged before the triggers existed (a release of the task model without them).
        let every_task = tag_rows(backend, r#""tasks""#, r#""tasks" CROSS JOIN "#);
        db.execute_unprepared(&format!(
            r#"{INSERT_TAG_ROWS}{every_task} WHERE "tasks"."tag_keys" <> '[]'"#
        ))
        .await?;
        for (name, missing) in [
            ("idx_tasks_user_id_due_id", "1000000000000000"),
            ("idx_tasks_user_id_due_desc_id", "-1000000000000000"),
        ] {
            let key = due_key(backend, missing);
            db.execute_unprepared(&format!(
                r#"CREATE INDEX "{name}" ON "tasks" ("user_id", ({key}), "id")"#
            ))
            .await?;
        }
        manager
            .create_index(
                Index::create()
                    .name("idx_tasks_user_id_priority_id")
                    .table(Tasks::Table)
                    .col(Tasks::UserId)
                    .col(Tasks::Priority)
                    .col(Tasks::Id)
                    .to_owned(),
            )
            .await
    }

    async fn down(&self, manager: &SchemaManager) -> Result<(), DbErr> {
        let backend = manager.get_database_backend();
        let db = manager.get_connection();
        for index in [
            "idx_tasks_user_id_priority_id",
            "idx_tasks_user_id_due_desc_id",
            "idx_tasks_user_id_due_id",
        ] {
            db.execute_unprepared(&format!(r#"DROP INDEX "{index}""#))
                .await?;
        }
        let on_tasks = match backend {
            DatabaseBackend::Postgres => r#" ON "tasks""#,
            _ => "",
        };
        for trigger in ["task_tags_on_update", "task_tags_on_insert"] {
            db.execute_unprepared(&format!(r#"DROP TRIGGER "{trigger}"{on_tasks}"#))
                .await?;
        }
        if backend == DatabaseBackend::Postgres {
            db.execute_unprepared(r#"DROP FUNCTION "task_tags_write"()"#)
                .await?;
        }
        manager
            .drop_table(Table::drop().table(TaskTags::Table).to_owned())
            .await
    }
}
