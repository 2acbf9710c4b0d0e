//! Indexes for the `updated_at` and `title` sorts, so that any page of those lists is an index
//! range scan like the `created_at` sort's (the expressions match the store's ORDER BY).

use sea_orm_migration::prelude::*;
use sea_orm_migration::sea_orm::DatabaseBackend;

#[derive(DeriveMigrationName)]
pub struct Migration;

#[async_trait::async_trait]
impl MigrationTrait for Migration {
    async fn up(&self, manager: &SchemaManager) -> Result<(), DbErr> {
        let title_key = match manager.get_database_backend() {
            DatabaseBackend::Postgres => r#"(lower("title") COLLATE "C")"#,
            _ => r#"lower("title")"#,
        };
        let connection = manager.get_connection();
        connection
            .execute_unprepared(
                r#"CREATE INDEX "idx_tasks_user_id_updated_at_id" ON "tasks" ("user_id", "updated_at", "id")"#,
            )
            .await?;
        connection
            .execute_unprepared(&format!(
                r#"CREATE INDEX "idx_tasks_user_id_title_id" ON "tasks" ("user_id", {title_key}, "id")"#
            ))
            .await?;
        Ok(())
    }

    async fn down(&self, manager: &SchemaManager) -> Result<(), DbErr> {
        let connection = manager.get_connection();
        connection
            .execute_unprepared(r#"DROP INDEX "idx_tasks_user_id_title_id""#)
            .await?;
        connection
            .execute_unprepared(r#"DROP INDEX "idx_tasks_user_id_updated_at_id""#)
            .await?;
        Ok(())
    }
}
