//! Where the database is and how to reach it: PostgreSQL or SQLite connect options and pools.

use std::str::FromStr;
use std::time::Duration;

use sea_orm::sqlx;
use sea_orm::sqlx::postgres::{PgConnectOptions, PgPoolOptions};
use sea_orm::sqlx::sqlite::{
    SqliteConnectOptions, SqliteJournalMode, SqlitePoolOptions, SqliteSynchronous,
};
use sea_orm::{DatabaseConnection, SqlxPostgresConnector, SqlxSqliteConnector};

/// How long an SQLite connection waits for another writer before giving up, unless told.
const SQLITE_BUSY_TIMEOUT: Duration = Duration::from_secs(5);
/// How long each of a checkpoint's waits for SQLite's locks lasts: a reader that begins again at
/// once can keep the lock a checkpoint waits on for good (SQLite looks again only at the next
/// try), so a truncation is tried often and briefly rather than once at length.
const CHECKPOINT_LOCK_WAIT: Duration = Duration::from_millis(100);
/// The size the SQLite write-ahead log is cut back to after a checkpoint.
pub const WAL_SIZE_LIMIT_BYTES: u64 = 16 * 1024 * 1024;

/// Why a database URL cannot be used.
#[derive(Debug, thiserror::Error)]
pub enum DatabaseUrlError {
    #[error("not a usable PostgreSQL URL ({0})")]
    Postgres(sqlx::Error),
    #[error("not a usable SQLite URL ({0})")]
    Sqlite(sqlx::Error),
    #[error("must start with postgres://, postgresql:// or sqlite:")]
    UnknownScheme,
}

/// Where the database is and how to reach it.
#[derive(Debug, Clone)]
pub enum DatabaseTarget {
    Postgres(PgConnectOptions),
    Sqlite {
        options: SqliteConnectOptions,
        in_memory: bool,
        /// How long a connection waits for the database's locks (`options` keeps it unread).
        busy_timeout: Duration,
    },
}

impl DatabaseTarget {
    /// Reads a `postgres://`, `postgresql://` or `sqlite:` URL.
    pub fn parse(url: &str) -> Result<Self, DatabaseUrlError> {
        if url.starts_with("postgres://") || url.starts_with("postgresql://") {
            PgConnectOptions::from_str(url)
                .map(Self::Postgres)
                .map_err(DatabaseUrlError::Postgres)
        } else if url.starts_with("sqlite:") {
            let in_memory = url.contains(":memory:") || url.contains("mode=memory");
            SqliteConnectOptions::from_str(url)
                .map(|options| Self::sqlite(options, in_memory))
                .map_err(DatabaseUrlError::Sqlite)
        } else {
            Err(DatabaseUrlError::UnknownScheme)
        }
    }

    /// Bounds each statement's time on the database's own side, so that a statement that gives
    /// up has certainly done nothing: PostgreSQL cancels a statement that runs longer than
    /// `timeout` (and rolls it back); SQLite stops waiting for another writer's lock after it.
    pub fn with_statement_timeout(self, timeout: Duration) -> Self {
        match self {
            Self::Postgres(options) => Self::Postgres(
                options.options([("statement_timeout", format!("{}ms", timeout.as_millis()))]),
            ),
            Self::Sqlite {
                options, in_memory, ..
            } => Self::Sqlite {
                options: options.busy_timeout(timeout),
                in_memory,
                busy_timeout: timeout,
            },
        }
    }

    /// An SQLite database file, created when missing.
    pub fn sqlite_file(path: &str) -> Self {
        Self::sqlite(SqliteConnectOptions::new().filename(path), false)
    }

    /// A private in-memory SQLite database: it lives as long as its one connection.
    pub fn sqlite_in_memory() -> Self {
        Self::sqlite(SqliteConnectOptions::new().in_memory(true), true)
    }

    fn sqlite(options: SqliteConnectOptions, in_memory: bool) -> Self {
        let options = options
            .create_if_missing(true)
            .foreign_keys(true)
            .busy_timeout(SQLITE_BUSY_TIMEOUT);
        let options = if in_memory {
            options
        } else {
            options
                .journal_mode(SqliteJournalMode::Wal)
                .synchronous(SqliteSynchronous::Normal)
                // A write-ahead log grown past this is cut back to it once checkpointed.
                .pragma("journal_size_limit", WAL_SIZE_LIMIT_BYTES.to_string())
        };
        Self::Sqlite {
            options,
            in_memory,
            busy_timeout: SQLITE_BUSY_TIMEOUT,
        }
    }

    /// A pool of at most `max_connections`; connections are opened when first needed.
    pub fn connect(&self, max_connections: u32, acquire_timeout: Duration) -> DatabaseConnection {
        match self {
            Self::Postgres(options) => SqlxPostgresConnector::from_sqlx_postgres_pool(
                PgPoolOptions::new()
                    .max_connections(max_connections)
                    .acquire_timeout(acquire_timeout)
                    .connect_lazy_with(options.clone()),
            ),
            // One connection holds an in-memory database; closing it would lose the data.
            Self::Sqlite {
                options,
                in_memory: true,
                ..
            } => SqlxSqliteConnector::from_sqlx_sqlite_pool(
                SqlitePoolOptions::new()
                    .max_connections(1)
                    .acquire_timeout(acquire_timeout)
                    .idle_timeout(None)
                    .max_lifetime(None)
                    .connect_lazy_with(options.clone()),
            ),
            Self::Sqlite { options, .. } => {
                create_private_file(options.get_filename());
                SqlxSqliteConnector::from_sqlx_sqlite_pool(
                    SqlitePoolOptions::new()
                        .max_connections(max_connections)
                        .acquire_timeout(acquire_timeout)
                        .connect_lazy_with(options.clone()),
                )
            }
        }
    }

    /// For an SQLite file, whose write-ahead log needs checkpoints of its own: the file as its
    /// checkpointer reaches it, and how long one truncation may hold writers back in all (a
    /// quarter of what they wait for the lock, so that none gives up on its account).
    pub fn checkpointer(&self) -> Option<(Self, Duration)> {
        match self {
            Self::Sqlite {
                in_memory: false,
                busy_timeout,
                ..
            } => Some((
                self.clone().with_statement_timeout(CHECKPOINT_LOCK_WAIT),
                *busy_timeout / 4,
            )),
            _ => None,
        }
    }

    /// Whether every connection to this target sees a database of its own.
    pub fn is_in_memory(&self) -> bool {
        matches!(
            self,
            Self::Sqlite {
                in_memory: true,
                ..
            }
        )
    }
}

/// Creates a missing SQLite database file readable and writable by its owner only; SQLite gives
/// its `-wal` and `-shm` files the same permissions. An existing file is left as it is, and a
/// file that cannot be made here is left for SQLite to report.
fn create_private_file(path: &std::path::Path) {
    let mut file = std::fs::OpenOptions::new();
    file.write(true).create_new(true);
    #[cfg(unix)]
    std::os::unix::fs::OpenOptionsExt::mode(&mut file, 0o600);
    let _ = file.open(path);
}
