//! The schema of Task API: every change, up and down, in order.

pub use sea_orm_migration::prelude::*;

mod m20261124_000001_create_users_and_tasks;
mod m20261124_000002_index_task_sorts;
mod m20261201_000003_index_title_search;
mod m20261202_000004_versions_and_sync;
mod m20261206_000005_token_key;
mod m20261206_000006_user_quotas;
mod m20261206_000007_task_model;
mod m20261206_000008_task_views;
mod m20261206_000009_lists;
mod m20261206_000010_tasks_in_lists;
mod m20261206_000011_position_key_between;
mod m20261207_000012_position_after_the_last;
mod m20261207_000013_position_after_the_last_in_steps;
mod m20261207_000014_indexes_writes_pay_for;

/// Applies and reverts the schema migrations of Task API.
pub struct Migrator;

#[async_trait::async_trait]
impl MigratorTrait for Migrator {
    fn migrations() -> Vec<Box<dyn MigrationTrait>> {
        vec![
            Box::new(m20261124_000001_create_users_and_tasks::Migration),
            Box::new(m20261124_000002_index_task_sorts::Migration),
            Box::new(m20261201_000003_index_title_search::Migration),
            Box::new(m20261202_000004_versions_and_sync::Migration),
            Box::new(m20261206_000005_token_key::Migration),
            Box::new(m20261206_000006_user_quotas::Migration),
            Box::new(m20261206_000007_task_model::Migration),
            Box::new(m20261206_000008_task_views::Migration),
            Box::new(m20261206_000009_lists::Migration),
            Box::new(m20261206_000010_tasks_in_lists::Migration),
            Box::new(m20261206_000011_position_key_between::Migration),
            Box::new(m20261207_000012_position_after_the_last::Migration),
            Box::new(m20261207_000013_position_after_the_last_in_steps::Migration),
            Box::new(m20261207_000014_indexes_writes_pay_for::Migration),
        ]
    }
}

/// Runs `sql` on PostgreSQL; nothing on SQLite (for the parts of the schema only PostgreSQL has).
async fn execute_on_postgres(manager: &SchemaManager<'_>, sql: &str) -> Result<(), DbErr> {
    if manager.get_database_backend() == sea_orm_migration::sea_orm::DatabaseBackend::Postgres {
        manager.get_connection().execute_unprepared(sql).await?;
    }
    Ok(())
}
