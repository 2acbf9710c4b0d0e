//! Lists, the named containers of a user's tasks: the `lists` table, each task's list and its place
//! in the list's manual order (`tasks.list_id`, `tasks.position`), deletions of lists remembered
//! for the change feed (`list_tombstones`), and the owner's count of lists for `USER_MAX_LISTS`.
//! Additive only: the previous release goes on serving while it runs (its tasks are in no list
//! and take the default position).

use sea_orm_migration::sea_orm::DatabaseBackend;
use sea_orm_migration::{prelude::*, schema::*};

#[derive(DeriveMigrationName)]
pub struct Migration;

#[derive(DeriveIden)]
enum Users {
    Table,
    Id,
    ListCount,
}

#[derive(DeriveIden)]
enum Lists {
    Table,
    Id,
    UserId,
    Name,
    CreatedAt,
    UpdatedAt,
    Version,
}

#[derive(DeriveIden)]
enum Tasks {
    Table,
    Id,
    ListId,
    Position,
}

#[derive(DeriveIden)]
enum ListTombstones {
    Table,
    UserId,
    ListId,
    Version,
    DeletedAt,
}

/// The position every task has until it is given one: tasks of equal positions are ordered by
/// id.
const DEFAULT_POSITION: &str = "a0";

#[async_trait::async_trait]
impl MigrationTrait for Migration {
    async fn up(&self, manager: &SchemaManager) -> Result<(), DbErr> {
        manager
            .create_table(
                Table::create()
                    .table(Lists::Table)
                    .col(uuid(Lists::Id).primary_key())
                    .col(uuid(Lists::UserId))
                    .col(text(Lists::Name))
                    .col(timestamp_with_time_zone(Lists::CreatedAt))
                    .col(timestamp_with_time_zone(Lists::UpdatedAt))
                    .col(big_integer(Lists::Version))
                    .foreign_key(
                        ForeignKey::create()
                            .name("fk_lists_user_id")
                            .from(Lists::Table, Lists::UserId)
                            .to(Users::Table, Users::Id)
                            .on_delete(ForeignKeyAction::Cascade),
                    )
                    .to_owned(),
            )
            .await?;
        // The list page's keyset (oldest first), and the change feed's.
        manager
            .create_index(
                Index::create()
                    .name("idx_lists_user_id_created_at_id")
                    .table(Lists::Table)
                    .col(Lists::UserId)
                    .col(Lists::CreatedAt)
                    .col(Lists::Id)
                    .to_owned(),
            )
            .await?;
        manager
            .create_index(
                Index::create()
                    .name("idx_lists_user_id_version")
                    .table(Lists::Table)
                    .col(Lists::UserId)
                    .col(Lists::Version)
                    .to_owned(),
            )
            .await?;
        // A task's list: deleting a list deletes its tasks in the store (each with a tombstone),
        // so the key only guards against a task left in a list that is gone.
        manager
            .alter_table(
                Table::alter()
                    .table(Tasks::Table)
                    .add_column(uuid_null(Tasks::ListId).extra(r#"REFERENCES "lists" ("id")"#))
                    .to_owned(),
            )
            .await?;
        // Positions compare as byte strings on both databases (SQLite's default collation is
        // BINARY already).
        let mut position = text(Tasks::Position);
        position.default(DEFAULT_POSITION);
        if manager.get_database_backend() == DatabaseBackend::Postgres {
            position.extra(r#"COLLATE "C""#);
        }
        manager
            .alter_table(
                Table::alter()
                    .table(Tasks::Table)
                    .add_column(position)
                    .to_owned(),
            )
            .await?;
        // A list's tasks in their order; also what deleting a list (and its key's check) reads.
        manager
            .create_index(
                Index::create()
                    .name("idx_tasks_list_id_position_id")
                    .table(Tasks::Table)
                    .col(Tasks::ListId)
                    .col(Tasks::Position)
                    .col(Tasks::Id)
                    .to_owned(),
            )
            .await?;
        manager
            .create_table(
                Table::create()
                    .table(ListTombstones::Table)
                    .col(uuid(ListTombstones::UserId))
                    .col(uuid(ListTombstones::ListId))
                    .col(big_integer(ListTombstones::Version))
                    .col(timestamp_with_time_zone(ListTombstones::DeletedAt))
                    .primary_key(
                        Index::create()
                            .col(ListTombstones::UserId)
                            .col(ListTombstones::ListId),
                    )
                    .foreign_key(
                        ForeignKey::create()
                            .name("fk_list_tombstones_user_id")
                            .from(ListTombstones::Table, ListTombstones::UserId)
                            .to(Users::Table, Users::Id)
                            .on_delete(ForeignKeyAction::Cascade),
                    )
                    .to_owned(),
            )
            .await?;
        // The change feed's read, and the purge of old deletions.
        manager
            .create_index(
                Index::create()
                    .name("idx_list_tombstones_user_id_version")
                    .table(ListTombstones::Table)
                    .col(ListTombstones::UserId)
                    .col(ListTombstones::Version)
                    .to_owned(),
            )
            .await?;
        manager
            .create_index(
                Index::create()
                    .name("idx_list_tombstones_deleted_at")
                    .table(ListTombstones::Table)
                    .col(ListTombstones::DeletedAt)
                    .to_owned(),
            )
            .await?;
        manager
            .alter_table(
                Table::alter()
                    .table(Users::Table)
                    .add_column(big_integer(Users::ListCount).default(0))
                    .to_owned(),
            )
            .await
    }

    async fn down(&self, manager: &SchemaManager) -> Result<(), DbErr> {
        manager
            .alter_table(
                Table::alter()
                    .table(Users::Table)
                    .drop_column(Users::ListCount)
                    .to_owned(),
            )
            .await?;
        manager
            .drop_table(Table::drop().table(ListTombstones::Table).to_owned())
            .await?;
        manager
            .drop_index(
                Index::drop()
                    .name("idx_tasks_list_id_position_id")
                    .table(Tasks::Table)
                    .to_owned(),
            )
            .await?;
        for column in [Tasks::Position, Tasks::ListId] {
            manager
                .alter_table(
                    Table::alter()
                        .table(Tasks::Table)
                        .drop_column(column)
                        .to_owned(),
                )
                .await?;
        }
        manager
            .drop_table(Table::drop().table(Lists::Table).to_owned())
            .await
    }
}
