//! The task model a to-do app needs: when a task was completed, when it is due (a date, a
//! floating time or a time in a zone), its priority, its tags (as sent, and their lowercase forms
//! for comparing), and its recurrence rule with the date its series started. Additive only: every
//! column is nullable or has a default, so the previous release's writes still succeed; tasks
//! completed before take their `updated_at` as `completed_at`.

use sea_orm_migration::{prelude::*, schema::*};

#[derive(DeriveMigrationName)]
pub struct Migration;

#[derive(DeriveIden)]
enum Tasks {
    Table,
    CompletedAt,
    DueDate,
    DueTime,
    DueTimeZone,
    Priority,
    Tags,
    TagKeys,
    Recurrence,
    RecurrenceStart,
}

/// The columns, in the order they are added (and dropped in reverse).
fn columns() -> Vec<ColumnDef> {
    vec![
        timestamp_with_time_zone_null(Tasks::CompletedAt),
        date_null(Tasks::DueDate),
        time_null(Tasks::DueTime),
        string_len_null(Tasks::DueTimeZone, 64),
        small_integer(Tasks::Priority).default(0).to_owned(),
        text(Tasks::Tags).default("[]").to_owned(),
        text(Tasks::TagKeys).default("[]").to_owned(),
        string_len_null(Tasks::Recurrence, 255),
        date_null(Tasks::RecurrenceStart),
    ]
}

#[async_trait::async_trait]
impl MigrationTrait for Migration {
    async fn up(&self, manager: &SchemaManager) -> Result<(), DbErr> {
        // One column per statement: SQLite's ALTER TABLE adds one at a time.
        for mut column in columns() {
            manager
                .alter_table(
                    Table::alter()
                        .table(Tasks::Table)
                        .add_column(&mut column)
                        .to_owned(),
                )
                .await?;
        }
        manager
            .get_connection()
            .execute_unprepared(
                r#"UPDATE "tasks" SET "completed_at" = "updated_at" WHERE "is_completed" AND "completed_at" IS NULL"#,
            )
            .await?;
        Ok(())
    }

    async fn down(&self, manager: &SchemaManager) -> Result<(), DbErr> {
        for column in [
            Tasks::RecurrenceStart,
            Tasks::Recurrence,
            Tasks::TagKeys,
            Tasks::Tags,
            Tasks::Priority,
            Tasks::DueTimeZone,
            Tasks::DueTime,
            Tasks::DueDate,
            Tasks::CompletedAt,
        ] {
            manager
                .alter_table(
                    Table::alter()
                        .table(Tasks::Table)
                        .drop_column(column)
                        .to_owned(),
                )
                .await?;
        }
        Ok(())
    }
}
