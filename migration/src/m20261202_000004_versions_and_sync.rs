//! Versions, deletions and idempotency keys for offline-first clients: each user's change counter,
//! each task's version (existing tasks numbered in the order they last changed), tombstones of
//! deleted tasks for the change feed, and the stored answers of idempotent creates. Additive only:
//! the previous release goes on serving while it runs (its inserts take the column defaults).

use sea_orm_migration::sea_orm::DatabaseBackend;
use sea_orm_migration::{prelude::*, schema::*};

#[derive(DeriveMigrationName)]
pub struct Migration;

#[derive(DeriveIden)]
enum Users {
    Table,
    Id,
    ChangeSeq,
}

#[derive(DeriveIden)]
enum Tasks {
    Table,
    UserId,
    Version,
}

#[derive(DeriveIden)]
enum TaskTombstones {
    Table,
    UserId,
    TaskId,
    Version,
    DeletedAt,
}

#[derive(DeriveIden)]
enum IdempotencyKeys {
    Table,
    UserId,
    Key,
    RequestHash,
    TaskId,
    TaskVersion,
    CreatedAt,
}

#[async_trait::async_trait]
impl MigrationTrait for Migration {
    async fn up(&self, manager: &SchemaManager) -> Result<(), DbErr> {
        manager
            .alter_table(
                Table::alter()
                    .table(Users::Table)
                    .add_column(big_integer(Users::ChangeSeq).default(0))
                    .to_owned(),
            )
            .await?;
        manager
            .alter_table(
                Table::alter()
                    .table(Tasks::Table)
                    .add_column(big_integer(Tasks::Version).default(0))
                    .to_owned(),
            )
            .await?;
        let db = manager.get_connection();
        // Every write updates its owner's row now: PostgreSQL keeps few rows per page (new pages
        // only; existing ones as they are rewritten), so that writers of different users do not
        // queue for the same page and each update finds room on its own page (a HOT update).
        if manager.get_database_backend() == DatabaseBackend::Postgres {
            db.execute_unprepared(r#"ALTER TABLE "users" SET (fillfactor = 10)"#)
                .await?;
        }
        // Existing tasks: 1, 2, … per user in the order they last changed; the counter at the
        // last of them. The same SQL on both databases (SQLite ≥ 3.33 has UPDATE … FROM).
        db.execute_unprepared(
            r#"UPDATE "tasks" SET "version" = "numbered"."n"
               FROM (SELECT "id", ROW_NUMBER() OVER (PARTITION BY "user_id"
                                                     ORDER BY "updated_at", "id") AS "n"
                     FROM "tasks") AS "numbered"
               WHERE "tasks"."id" = "numbered"."id""#,
        )
        .await?;
        db.execute_unprepared(
            r#"UPDATE "users" SET "change_seq" =
                   (SELECT COUNT(*) FROM "tasks" WHERE "tasks"."user_id" = "users"."id")"#,
        )
        .await?;
        manager
            .create_index(
                Index::create()
                    .name("idx_tasks_user_id_version")
                    .table(Tasks::Table)
                    .col(Tasks::UserId)
                    .col(Tasks::Version)
                    .to_owned(),
            )
            .await?;
        manager
            .create_table(
                Table::create()
                    .table(TaskTombstones::Table)
                    .col(uuid(TaskTombstones::UserId))
                    .col(uuid(TaskTombstones::TaskId))
                    .col(big_integer(TaskTombstones::Version))
                    .col(timestamp_with_time_zone(TaskTombstones::DeletedAt))
                    .primary_key(
                        Index::create()
                            .col(TaskTombstones::UserId)
                            .col(TaskTombstones::TaskId),
                    )
                    .foreign_key(
                        ForeignKey::create()
                            .name("fk_task_tombstones_user_id")
                            .from(TaskTombstones::Table, TaskTombstones::UserId)
                            .to(Users::Table, Users::Id)
                            .on_delete(ForeignKeyAction::Cascade),
                    )
                    .to_owned(),
            )
            .await?;
        manager
            .create_index(
                Index::create()
                    .name("idx_task_tombstones_user_id_version")
                    .table(TaskTombstones::Table)
                    .col(TaskTombstones::UserId)
                    .col(TaskTombstones::Version)
                    .to_owned(),
            )
            .await?;
        manager
            .create_index(
                Index::create()
                    .name("idx_task_tombstones_deleted_at")
                    .table(TaskTombstones::Table)
                    .col(TaskTombstones::DeletedAt)
                    .to_owned(),
            )
            .await?;
        manager
            .create_table(
                Table::create()
                    .table(IdempotencyKeys::Table)
                    .col(uuid(IdempotencyKeys::UserId))
                    .col(text(IdempotencyKeys::Key))
                    .col(text(IdempotencyKeys::RequestHash))
                    .col(uuid(IdempotencyKeys::TaskId))
                    .col(big_integer(IdempotencyKeys::TaskVersion))
                    .col(timestamp_with_time_zone(IdempotencyKeys::CreatedAt))
                    .primary_key(
                        Index::create()
                            .col(IdempotencyKeys::UserId)
                            .col(IdempotencyKeys::Key),
                    )
                    .foreign_key(
                        ForeignKey::create()
                            .name("fk_idempotency_keys_user_id")
                            .from(IdempotencyKeys::Table, IdempotencyKeys::UserId)
                            .to(Users::Table, Users::Id)
                            .on_delete(ForeignKeyAction::Cascade),
                    )
                    .to_owned(),
            )
            .await?;
        manager
            .create_index(
                Index::create()
                    .name("idx_idempotency_keys_created_at")
                    .table(IdempotencyKeys::Table)
                    .col(IdempotencyKeys::CreatedAt)
                    .to_owned(),
            )
            .await
    }

    async fn down(&self, manager: &SchemaManager) -> Result<(), DbErr> {
        if manager.get_database_backend() == DatabaseBackend::Postgres {
            manager
                .get_connection()
                .execute_unprepared(r#"ALTER TABLE "users" RESET (fillfactor)"#)
                .await?;
        }
        manager
            .drop_table(Table::drop().table(IdempotencyKeys::Table).to_owned())
            .await?;
        manager
            .drop_table(Table::drop().table(TaskTombstones::Table).to_owned())
            .await?;
        manager
            .drop_index(
                Index::drop()
                    .name("idx_tasks_user_id_version")
                    .table(Tasks::Table)
                    .to_owned(),
            )
            .await?;
        manager
            .alter_table(
                Table::alter()
                    .table(Tasks::Table)
                    .drop_column(Tasks::Version)
                    .to_owned(),
            )
            .await?;
        manager
            .alter_table(
                Table::alter()
                    .table(Users::Table)
                    .drop_column(Users::ChangeSeq)
                    .to_owned(),
            )
            .await
    }
}
