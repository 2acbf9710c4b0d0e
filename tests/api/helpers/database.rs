//! Databases for tests: SQLite in memory, or a PostgreSQL database of the test's own (dropped
//! afterwards), and one two servers can share.

use std::str::FromStr;
use std::time::Duration;

use sea_orm::sqlx::postgres::PgConnectOptions;
use sea_orm::sqlx::{ConnectOptions, Connection, Executor, PgConnection};
use sea_orm::{ConnectionTrait, DatabaseConnection, TransactionTrait};
use task_api::config::Config;
use task_api::db::DatabaseTarget;
use uuid::Uuid;

use super::PgProxy;

/// Which database a test runs on.
#[derive(Debug, Clone)]
pub enum Backend {
    Sqlite,
    Postgres(String),
}

impl Backend {
    /// SQLite always; PostgreSQL too when `TEST_DATABASE_URL` is set.
    pub fn all() -> Vec<Backend> {
        let mut backends = vec![Backend::Sqlite];
        if let Some(url) = std::env::var("TEST_DATABASE_URL")
            .ok()
            .filter(|url| !url.is_empty())
        {
            backends.push(Backend::Postgres(url));
        }
        backends
    }
}

/// A database for one test: in-memory SQLite, or a PostgreSQL database dropped afterwards.
pub struct TestDatabase {
    target: DatabaseTarget,
    /// The URL a separate process would use to reach this database.
    pub url: String,
    postgres: Option<(String, String)>,
}

/// `url` with its database name replaced by `name`.
pub fn with_database(url: &str, name: &str) -> String {
    let (base, query) = url
        .split_once('?')
        .map_or((url, None), |(b, q)| (b, Some(q)));
    let scheme_end = base.find("://").map_or(0, |i| i + 3);
    let host_end = base[scheme_end..]
        .find('/')
        .map_or(base.len(), |i| scheme_end + i);
    let mut replaced = format!("{}/{name}", &base[..host_end]);
    if let Some(query) = query {
        replaced.push('?');
        replaced.push_str(query);
    }
    replaced
}

impl TestDatabase {
    pub async fn create(backend: &Backend) -> Self {
        match backend {
            Backend::Sqlite => Self {
                target: DatabaseTarget::sqlite_in_memory(),
                url: "sqlite::memory:".to_owned(),
                postgres: None,
            },
            Backend::Postgres(admin_url) => {
                let name = format!("taskapi_test_{}", uuid::Uuid::new_v4().simple());
                let mut admin = PgConnection::connect(admin_url)
                    .await
                    .expect("TEST_DATABASE_URL must reach PostgreSQL");
                admin
                    .execute(format!(r#"CREATE DATABASE "{name}""#).as_str())
                    .await
                    .expect("create the test database");
                let options = PgConnectOptions::from_str(admin_url)
                    .unwrap()
                    .database(&name)
                    .disable_statement_logging();
                Self {
                    target: DatabaseTarget::Postgres(options),
                    url: with_database(admin_url, &name),
                    postgres: Some((admin_url.clone(), name)),
                }
            }
        }
    }

    /// A server configuration on this database, on a free port.
    pub fn config(&self) -> Config {
        let mut config = Config::from_lookup(|_| None).expect("defaults are valid");
        config.database = self.target.clone();
        config.port = 0;
        config.database_acquire_timeout = Duration::from_secs(5);
        config.shutdown_grace = Duration::from_secs(5);
        config
    }

    /// The configuration with one worker of each kind that shares statements (a pool of two: half
    /// of it reads, a fifth of it, at least one, creates), and a request that no worker takes
    /// within 500 ms given up.
    pub fn config_with_one_worker(&self) -> Config {
        let mut config = self.config();
        config.database_max_connections = 2;
        config.database_acquire_timeout = Duration::from_millis(500);
        config
    }

    pub fn is_postgres(&self) -> bool {
        self.postgres.is_some()
    }

    /// A configuration whose database connections go through `proxy` unencrypted (so that it
    /// reads their round trips), with at most `max_connections` of them.
    pub fn config_through(&self, proxy: &PgProxy, max_connections: u32) -> Config {
        let mut config = self.config();
        let url = format!("{}?sslmode=disable", self.proxied_url(proxy));
        config.database = DatabaseTarget::parse(&url).unwrap();
        config.database_max_connections = max_connections;
        config
    }

    /// This PostgreSQL database's URL through `proxy` (the test URL must name 127.0.0.1:5432).
    pub fn proxied_url(&self, proxy: &PgProxy) -> String {
        let proxied = self
            .url
            .replacen("127.0.0.1:5432", &format!("127.0.0.1:{}", proxy.port), 1);
        assert_ne!(
            proxied, self.url,
            "TEST_DATABASE_URL must use 127.0.0.1:5432"
        );
        proxied
    }
}

impl Drop for TestDatabase {
    fn drop(&mut self) {
        let Some((admin_url, name)) = self.postgres.take() else {
            return;
        };
        // The test's runtime may be gone; drop the database from a runtime of its own.
        std::thread::spawn(move || {
            let runtime = tokio::runtime::Builder::new_current_thread()
                .enable_all()
                .build()
                .unwrap();
            runtime.block_on(async {
                if let Ok(mut admin) = PgConnection::connect(&admin_url).await {
                    let _ = admin
                        .execute(
                            format!(r#"DROP DATABASE IF EXISTS "{name}" WITH (FORCE)"#).as_str(),
                        )
                        .await;
                }
            });
        })
        .join()
        .ok();
    }
}

/// The PostgreSQL URL tests may create databases with, when `TEST_DATABASE_URL` is set.
pub fn postgres_admin_url() -> Option<String> {
    Backend::all()
        .into_iter()
        .find_map(|backend| match backend {
            Backend::Postgres(url) => Some(url),
            Backend::Sqlite => None,
        })
}

/// A PostgreSQL database of this test's own, or `None` (said on stderr) when
/// `TEST_DATABASE_URL` is not set: for the tests only PostgreSQL can run.
pub async fn postgres_database() -> Option<TestDatabase> {
    let Some(admin_url) = postgres_admin_url() else {
        eprintln!("PostgreSQL only: set TEST_DATABASE_URL");
        return None;
    };
    Some(TestDatabase::create(&Backend::Postgres(admin_url)).await)
}

/// A database two servers can share (a PostgreSQL database, or an SQLite file) and a server
/// configuration on it.
pub async fn shared_database(
    backend: &Backend,
) -> (TestDatabase, Config, Option<std::path::PathBuf>) {
    let mut database = TestDatabase::create(backend).await;
    let file = (!database.is_postgres()).then(|| {
        let path = std::env::temp_dir().join(format!("taskapi-{}.db", uuid::Uuid::new_v4()));
        database.url = format!("sqlite://{}", path.display());
        path
    });
    let mut config = database.config();
    config.database = DatabaseTarget::parse(&database.url).unwrap();
    (database, config, file)
}

pub fn remove_sqlite_files(path: Option<std::path::PathBuf>) {
    if let Some(path) = path {
        for suffix in ["", "-wal", "-shm"] {
            let _ = std::fs::remove_file(format!("{}{suffix}", path.display()));
        }
    }
}

/// A session of its own on `url`, with a transaction open after `statements` ran in it: the
/// locks they took stay held, the snapshot they read stays kept.
pub async fn open_transaction(
    url: &str,
    statements: &[String],
) -> (DatabaseConnection, sea_orm::DatabaseTransaction) {
    let session = DatabaseTarget::parse(url)
        .unwrap()
        .connect(1, Duration::from_secs(5));
    let transaction = session.begin().await.unwrap();
    for statement in statements {
        transaction.execute_unprepared(statement).await.unwrap();
    }
    (session, transaction)
}

/// A session of its own on `url`, holding the locks a create, a change of `task_id` and a delete
/// of `user_id` wait for: the two rows on PostgreSQL, the write lock on SQLite.
pub async fn hold_locks(
    url: &str,
    user_id: Uuid,
    task_id: &str,
) -> (DatabaseConnection, sea_orm::DatabaseTransaction) {
    let locks = if url.starts_with("postgres") {
        vec![
            format!("SELECT id FROM users WHERE id = '{user_id}' FOR UPDATE"),
            format!("SELECT id FROM tasks WHERE id = '{task_id}' FOR UPDATE"),
        ]
    } else {
        vec!["UPDATE users SET created_at = created_at".to_owned()]
    };
    open_transaction(url, &locks).await
}

/// A connection to `config`'s database at the schema of an earlier release (its first
/// `migrations` migrations), with `users` registered as that release registered them (id and
/// creation time only): what a later release's migration finds.
pub async fn earlier_release(
    config: &Config,
    migrations: u32,
    users: &[Uuid],
    registered_at: chrono::DateTime<chrono::Utc>,
) -> DatabaseConnection {
    use migration::{Migrator, MigratorTrait};
    use sea_orm::sea_query::Query;
    use sea_orm::StatementBuilder;
    use task_api::entity::user;

    let earlier = config.database.connect(1, Duration::from_secs(5));
    Migrator::up(&earlier, Some(migrations)).await.unwrap();
    let mut insert = Query::insert();
    insert
        .into_table(user::Entity)
        .columns([user::Column::Id, user::Column::CreatedAt]);
    for id in users {
        insert.values_panic([(*id).into(), registered_at.into()]);
    }
    let statement = StatementBuilder::build(&insert, &earlier.get_database_backend());
    earlier.execute(statement).await.unwrap();
    earlier
}
