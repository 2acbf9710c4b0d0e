//! Tasks in lists (issue 23, its second half): the indexes that page a list's tasks (or the
//! inbox's) by the default sort and by the manual order, each within the owner's rows, and the
//! owner's tasks by position; the position an idempotent create gave its task (to answer retries
//! with); and the owner's count of kept deletions, which from now on counts the deletions of
//! lists too. Additive only: the previous release goes on serving while it runs.

use sea_orm_migration::prelude::*;

#[derive(DeriveMigrationName)]
pub struct Migration;

#[derive(DeriveIden)]
enum IdempotencyKeys {
    Table,
    TaskPosition,
}

#[derive(DeriveIden)]
enum Tasks {
    Table,
    UserId,
    ListId,
    Position,
    CreatedAt,
    Id,
}

/// The two indexes: a name and its columns after `user_id` and `list_id`.
const INDEXES: [(&str, [Tasks; 2]); 2] = [
    (
        "idx_tasks_user_id_list_id_position_id",
        [Tasks::Position, Tasks::Id],
    ),
    (
        "idx_tasks_user_id_list_id_created_at_id",
        [Tasks::CreatedAt, Tasks::Id],
    ),
];

/// The owner's tasks by position (`sort=position` without a list).
const POSITION_INDEX: &str = "idx_tasks_user_id_position_id";

/// The kept deletions of lists, added to the count of kept deletions (of tasks until now).
const COUNT_LIST_TOMBSTONES: &str = r#"UPDATE "users" SET "tombstone_count" = "tombstone_count" + (SELECT COUNT(*) FROM "list_tombstones" WHERE "list_tombstones"."user_id" = "users"."id" AND "list_tombstones"."version" > "users"."tombstones_dropped_through")"#;

#[async_trait::async_trait]
impl MigrationTrait for Migration {
    async fn up(&self, manager: &SchemaManager) -> Result<(), DbErr> {
        for (name, [third, fourth]) in INDEXES {
            manager
                .create_index(
                    Index::create()
                        .name(name)
                        .table(Tasks::Table)
                        .col(Tasks::UserId)
                        .col(Tasks::ListId)
                        .col(third)
                        .col(fourth)
                        .to_owned(),
                )
                .await?;
        }
        manager
            .create_index(
                Index::create()
                    .name(POSITION_INDEX)
                    .table(Tasks::Table)
                    .col(Tasks::UserId)
                    .col(Tasks::Position)
                    .col(Tasks::Id)
                    .to_owned(),
            )
            .await?;
        manager
            .alter_table(
                Table::alter()
                    .table(IdempotencyKeys::Table)
                    .add_column(ColumnDef::new(IdempotencyKeys::TaskPosition).text().null())
                    .to_owned(),
            )
            .await?;
        manager
            .get_connection()
            .execute_unprepared(COUNT_LIST_TOMBSTONES)
            .await?;
        Ok(())
    }

    async fn down(&self, manager: &SchemaManager) -> Result<(), DbErr> {
        manager
            .get_connection()
            .execute_unprepared(
                &COUNT_LIST_TOMBSTONES
                    .replace(r#""tombstone_count" + "#, r#""tombstone_count" - "#),
            )
            .await?;
        manager
            .alter_table(
                Table::alter()
                    .table(IdempotencyKeys::Table)
                    .drop_column(IdempotencyKeys::TaskPosition)
                    .to_owned(),
            )
            .await?;
        manager
            .drop_index(
                Index::drop()
                    .name(POSITION_INDEX)
                    .table(Tasks::Table)
                    .to_owned(),
            )
            .await?;
        for (name, _) in INDEXES {
            manager
                .drop_index(Index::drop().name(name).table(Tasks::Table).to_owned())
                .await?;
        }
        Ok(())
    }
}
