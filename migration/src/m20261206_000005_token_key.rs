//! The key that seals list cursors and sync tokens when `CURSOR_SECRET` is not set: one row, made
//! by the first server to start, so that restarts and every instance on the database share it.
//! Additive: the previous release never reads it.

use sea_orm_migration::{prelude::*, schema::*};

#[derive(DeriveMigrationName)]
pub struct Migration;

#[derive(DeriveIden)]
enum TokenKey {
    Table,
    Id,
    Secret,
    CreatedAt,
}

#[async_trait::async_trait]
impl MigrationTrait for Migration {
    async fn up(&self, manager: &SchemaManager) -> Result<(), DbErr> {
        manager
            .create_table(
                Table::create()
                    .table(TokenKey::Table)
                    .if_not_exists()
                    // Always 1: the table holds one row.
                    .col(
                        small_integer(TokenKey::Id)
                            .primary_key()
                            .check(Expr::col(TokenKey::Id).eq(1)),
                    )
                    .col(text(TokenKey::Secret))
                    .col(timestamp_with_time_zone(TokenKey::CreatedAt))
                    .to_owned(),
            )
            .await
    }

    async fn down(&self, manager: &SchemaManager) -> Result<(), DbErr> {
        manager
            .drop_table(Table::drop().table(TokenKey::Table).to_owned())
            .await
    }
}
