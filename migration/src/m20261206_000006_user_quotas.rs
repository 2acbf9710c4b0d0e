//! Per-user quotas kept on the owner's row, which every write locks already: how many tasks and
//! deletions a user holds (so that a create checks its limit in the write itself, race-free), and
//! the version of the newest deletion dropped to keep their number bounded (older sync tokens
//! then expire). Additive only: the previous release's writes leave the counts as they are until
//! the roll-out ends (they drift by what it writes meanwhile).

use sea_orm_migration::{prelude::*, schema::*};

#[derive(DeriveMigrationName)]
pub struct Migration;

#[derive(DeriveIden)]
enum Users {
    Table,
    TaskCount,
    TombstoneCount,
    TombstonesDroppedThrough,
}

#[async_trait::async_trait]
impl MigrationTrait for Migration {
    async fn up(&self, manager: &SchemaManager) -> Result<(), DbErr> {
        // One column per statement: SQLite's ALTER TABLE adds one at a time.
        for column in [
            Users::TaskCount,
            Users::TombstoneCount,
            Users::TombstonesDroppedThrough,
        ] {
            manager
                .alter_table(
                    Table::alter()
                        .table(Users::Table)
                        .add_column(big_integer(column).default(0))
                        .to_owned(),
                )
                .await?;
        }
        manager
            .get_connection()
            .execute_unprepared(
                r#"UPDATE "users" SET
                       "task_count" =
                           (SELECT COUNT(*) FROM "tasks" WHERE "tasks"."user_id" = "users"."id"),
                       "tombstone_count" =
                           (SELECT COUNT(*) FROM "task_tombstones"
                            WHERE "task_tombstones"."user_id" = "users"."id")"#,
            )
            .await?;
        Ok(())
    }

    async fn down(&self, manager: &SchemaManager) -> Result<(), DbErr> {
        for column in [
            Users::TombstonesDroppedThrough,
            Users::TombstoneCount,
            Users::TaskCount,
        ] {
            manager
                .alter_table(
                    Table::alter()
                        .table(Users::Table)
                        .drop_column(column)
                        .to_owned(),
                )
                .await?;
        }
        Ok(())
    }
}
