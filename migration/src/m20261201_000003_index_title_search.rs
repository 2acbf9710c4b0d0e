//! A trigram index for the title search on PostgreSQL, so that `q` reads the matching tasks
//! instead of every task of the user. Where `pg_trgm` cannot be created (no right to, or not
//! offered), the migration still succeeds and search keeps working without the index.

use sea_orm_migration::prelude::*;

#[derive(DeriveMigrationName)]
pub struct Migration;

#[async_trait::async_trait]
impl MigrationTrait for Migration {
    async fn up(&self, manager: &SchemaManager) -> Result<(), DbErr> {
        // The extension's failure is caught inside the block (a subtransaction), so that the
        // migration's own transaction goes on.
        crate::execute_on_postgres(
            manager,
            r#"
DO $$
BEGIN
    BEGIN
        CREATE EXTENSION IF NOT EXISTS pg_trgm;
    EXCEPTION WHEN OTHERS THEN
        RAISE WARNING 'pg_trgm is not available (%): title search runs without its index', SQLERRM;
    END;
    IF EXISTS (SELECT 1 FROM pg_extension WHERE extname = 'pg_trgm') THEN
        CREATE INDEX IF NOT EXISTS "idx_tasks_title_trigram"
            ON "tasks" USING gin (lower("title") gin_trgm_ops);
    END IF;
END
$$"#,
        )
        .await
    }

    async fn down(&self, manager: &SchemaManager) -> Result<(), DbErr> {
        crate::execute_on_postgres(manager, r#"DROP INDEX IF EXISTS "idx_tasks_title_trigram""#)
            .await
    }
}
