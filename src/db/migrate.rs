//! Schema migrations, serialised across instances by a lock every instance waits for.

use std::time::{Duration, Instant};

use migration::{Migrator, MigratorTrait};
use sea_orm::{ConnectionTrait, DatabaseBackend, DatabaseConnection, DbErr, Statement};

use super::is_sqlite_busy;

/// The key of the PostgreSQL advisory lock that serialises migrations across instances.
const MIGRATION_LOCK_KEY: i64 = 0x7461_736b_6170_6931;
/// How long an instance waits for another one's migrations before giving up.
const MIGRATION_LOCK_WAIT: Duration = Duration::from_secs(300);

/// Waits for the migration lock: PostgreSQL's advisory lock, or SQLite's write lock. A new
/// SQLite file can be busy even before `BEGIN IMMEDIATE` waits (another instance is switching
/// it to WAL), so busy is retried too.
async fn take_lock(db: &DatabaseConnection) -> Result<(), DbErr> {
    let backend = db.get_database_backend();
    let deadline = Instant::now() + MIGRATION_LOCK_WAIT;
    loop {
        let taken = match backend {
            DatabaseBackend::Postgres => db
                .query_one(Statement::from_string(
                    backend,
                    format!("SELECT pg_try_advisory_lock({MIGRATION_LOCK_KEY}) AS taken"),
                ))
                .await?
                .map(|row| row.try_get::<bool>("", "taken"))
                .transpose()?
                .unwrap_or(false),
            _ => match db.execute_unprepared("BEGIN IMMEDIATE").await {
                Ok(_) => true,
                Err(err) if is_sqlite_busy(&err) => false,
                Err(err) => return Err(err),
            },
        };
        if taken {
            return Ok(());
        }
        if Instant::now() >= deadline {
            return Err(DbErr::Custom(format!(
                "another instance held the migration lock for more than {}s",
                MIGRATION_LOCK_WAIT.as_secs()
            )));
        }
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
}

/// What to do to the schema.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum MigrationCommand {
    /// Apply every pending migration.
    Up,
    /// Revert the last applied migration.
    Down,
    /// Log which migrations are applied.
    Status,
}

/// Runs a migration command while holding a lock that other instances wait for:
/// a PostgreSQL session advisory lock, or SQLite's write lock (`BEGIN IMMEDIATE`).
///
/// `db` must hold a single connection, so that the lock and the migration share a session.
pub async fn migrate(db: &DatabaseConnection, command: MigrationCommand) -> Result<(), DbErr> {
    let backend = db.get_database_backend();
    take_lock(db).await?;
    let outcome = match command {
        MigrationCommand::Up => Migrator::up(db, None).await,
        MigrationCommand::Down => Migrator::down(db, Some(1)).await,
        MigrationCommand::Status => Migrator::status(db).await,
    };
    let release = match (backend, outcome.is_ok()) {
        (DatabaseBackend::Postgres, _) => {
            format!("SELECT pg_advisory_unlock({MIGRATION_LOCK_KEY})")
        }
        (_, true) => "COMMIT".to_owned(),
        (_, false) => "ROLLBACK".to_owned(),
    };
    db.execute_unprepared(&release).await?;
    outcome
}
