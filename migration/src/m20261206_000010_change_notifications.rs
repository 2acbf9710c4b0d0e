//! Live change events across instances (PostgreSQL only; SQLite runs in one process and is told
//! in it): a trigger on `users` that notifies `task_api_changes` with `<user id>:<change number>`
//! whenever a user's change counter moves. The notification is sent in the write's own
//! transaction, so it is delivered only when that commits, and every write that takes a number
//! (today's and later ones) notifies without a word in its statement. Additive: the previous
//! release's writes notify too, and nobody listens to them.

use sea_orm_migration::prelude::*;
use sea_orm_migration::sea_orm::DatabaseBackend;

#[derive(DeriveMigrationName)]
pub struct Migration;

#[async_trait::async_trait]
impl MigrationTrait for Migration {
    async fn up(&self, manager: &SchemaManager) -> Result<(), DbErr> {
        if manager.get_database_backend() != DatabaseBackend::Postgres {
            return Ok(());
        }
        let connection = manager.get_connection();
        connection
            .execute_unprepared(
                r#"CREATE OR REPLACE FUNCTION "task_api_notify_change"() RETURNS trigger
                   LANGUAGE plpgsql AS $$
                   BEGIN
                       PERFORM pg_notify('task_api_changes', NEW."id"::text || ':' || NEW."change_seq"::text);
                       RETURN NULL;
                   END
                   $$"#,
            )
            .await?;
        connection
            .execute_unprepared(
                r#"CREATE TRIGGER "users_change_seq_notify"
                   AFTER UPDATE OF "change_seq" ON "users"
                   FOR EACH ROW WHEN (NEW."change_seq" IS DISTINCT FROM OLD."change_seq")
                   EXECUTE FUNCTION "task_api_notify_change"()"#,
            )
            .await?;
        Ok(())
    }

    async fn down(&self, manager: &SchemaManager) -> Result<(), DbErr> {
        if manager.get_database_backend() != DatabaseBackend::Postgres {
            return Ok(());
        }
        let connection = manager.get_connection();
        connection
            .execute_unprepared(r#"DROP TRIGGER IF EXISTS "users_change_seq_notify" ON "users""#)
            .await?;
        connection
            .execute_unprepared(r#"DROP FUNCTION IF EXISTS "task_api_notify_change"()"#)
            .await?;
        Ok(())
    }
}
