//! The database: where it is and how to reach it (`target`), schema migrations serialised
//! across instances (`migrate`), and the handle the store runs every statement on, which on
//! PostgreSQL keeps answering connections warm (`warm`) and runs each write in the form its
//! database takes (`write`). Statements write their SQL text once per shape (`sql_cache`).

mod migrate;
pub mod sql_cache;
mod target;
mod warm;
pub mod write;

use std::sync::Arc;
use std::time::Duration;

use sea_orm::prelude::async_trait::async_trait;
use sea_orm::sqlx;
use sea_orm::{
    ConnAcquireErr, ConnectionTrait, DatabaseBackend, DatabaseConnection, DatabaseTransaction,
    DbErr, ExecResult, QueryResult, RuntimeErr, Statement, TransactionTrait,
};
use tokio::sync::{Mutex, MutexGuard, Semaphore, SemaphorePermit};
use uuid::Uuid;

use crate::fairness::{UserLimits, UserWriteGate, WritePermit};

pub use migrate::{migrate, MigrationCommand};
pub use target::{DatabaseTarget, DatabaseUrlError, WAL_SIZE_LIMIT_BYTES};
pub use warm::REUSE_WITHIN;

use warm::{
    return_idle_connections, Execute, ExecuteUnprepared, FetchAll, FetchOptional, WarmConnections,
};
use write::{Step, Write};

/// The server's database: the sea-orm connection (migrations, metrics, closing), and on
/// PostgreSQL the connections kept warm for the store's statements.
#[derive(Clone)]
pub struct Database {
    connection: DatabaseConnection,
    warm: Option<Arc<WarmConnections>>,
    /// Title searches may hold half the pool's connections at most, and one user's searches one
    /// at a time (users share these by their id's hash), so that one user searching heavily
    /// leaves the rest of the pool, and of the database's CPU, to everyone else's requests.
    searches: Arc<Semaphore>,
    searches_by_user: Arc<[Semaphore]>,
    /// Each user's writes that may hold connections at once (the rest wait without one).
    writes: Arc<UserWriteGate>,
    /// On SQLite, this process's writes one at a time, as SQLite takes them anyway: they queue
    /// here in turn rather than poll for SQLite's lock (sleeping between tries), and a truncating
    /// checkpoint takes its turn among them.
    sqlite_writes: Arc<Mutex<()>>,
    acquire_timeout: Duration,
    /// The pool's connections (`DATABASE_MAX_CONNECTIONS`).
    pool_size: usize,
    /// Told of each write committed, by its owner (the live change events).
    committed: Option<CommitHook>,
    /// The transaction every statement of this handle runs in (`in_transaction`'s), holding the
    /// owner's turn to write for all of them.
    transaction: Option<Arc<DatabaseTransaction>>,
}

/// What is told of each committed write's owner.
pub type CommitHook = Arc<dyn Fn(Uuid) + Send + Sync>;

/// How many slots users' searches are spread over, one search running in each at a time.
const USER_SEARCH_SLOTS: usize = 64;

/// Leave to run one title search; given back when dropped.
pub struct SearchPermit<'a> {
    _user: SemaphorePermit<'a>,
    _pool: SemaphorePermit<'a>,
}

impl Database {
    /// Wraps a connection; on PostgreSQL also keeps its answering connections warm (needs a
    /// tokio runtime: a task hands idle ones back to sqlx's pool).
    pub fn new(connection: DatabaseConnection) -> Self {
        let warm = match &connection {
            DatabaseConnection::SqlxPostgresPoolConnection(_) => {
                let warm = Arc::new(WarmConnections::new(
                    connection.get_postgres_connection_pool().clone(),
                ));
                tokio::spawn(return_idle_connections(Arc::downgrade(&warm)));
                Some(warm)
            }
            _ => None,
        };
        let (max_connections, acquire_timeout) = match &connection {
            DatabaseConnection::SqlxPostgresPoolConnection(_) => {
                let options = connection.get_postgres_connection_pool().options();
                (options.get_max_connections(), options.get_acquire_timeout())
            }
            DatabaseConnection::SqlxSqlitePoolConnection(_) => {
                let options = connection.get_sqlite_connection_pool().options();
                (options.get_max_connections(), options.get_acquire_timeout())
            }
            _ => (1, Duration::from_secs(5)),
        };
        let pool_size = max_connections as usize;
        Self {
            connection,
            warm,
            searches: Arc::new(Semaphore::new(half_of(pool_size))),
            searches_by_user: (0..USER_SEARCH_SLOTS).map(|_| Semaphore::new(1)).collect(),
            writes: UserWriteGate::new(UserLimits::default().max_concurrent_writes),
            sqlite_writes: Arc::new(Mutex::new(())),
            acquire_timeout,
            pool_size,
            committed: None,
            transaction: None,
        }
    }

    /// Tells `hook` of each write committed.
    pub fn on_commit(self, hook: CommitHook) -> Self {
        Self {
            committed: Some(hook),
            ..self
        }
    }

    /// A handle on `connection` (to the same database) that takes its turns to write with this
    /// one's: the checkpointer's, whose connection gives up waiting sooner.
    pub fn on_connection(&self, connection: DatabaseConnection) -> Self {
        Self {
            sqlite_writes: self.sqlite_writes.clone(),
            ..Self::new(connection)
        }
    }

    /// Holds this process's SQLite writes back (the one under way finishes first) until dropped.
    pub async fn hold_writes(&self) -> MutexGuard<'_, ()> {
        self.sqlite_writes.lock().await
    }

    /// On SQLite, a write's turn among the others (see `sqlite_writes`); none on PostgreSQL.
    async fn sqlite_write_turn(&self) -> Option<MutexGuard<'_, ()>> {
        match self.get_database_backend() {
            DatabaseBackend::Sqlite => Some(self.hold_writes().await),
            _ => None,
        }
    }

    /// Lets at most `per_user` of each user's writes hold connections at once.
    pub fn with_user_writes(self, per_user: usize) -> Self {
        Self {
            writes: UserWriteGate::new(per_user),
            ..self
        }
    }

    /// Waits (up to the acquire timeout, without a connection) for the user's turn to write; in
    /// a transaction, none is needed (the transaction holds its owner's turn).
    pub async fn write_permit(&self, user_id: Uuid) -> Result<Option<WritePermit>, DbErr> {
        if self.transaction.is_some() {
            return Ok(None);
        }
        self.writes
            .enter(user_id, self.acquire_timeout)
            .await
            .map(Some)
            .ok_or(DbErr::ConnectionAcquire(ConnAcquireErr::Timeout))
    }

    /// Whether this handle's statements run in a transaction of its own (a batch's).
    pub fn within_transaction(&self) -> bool {
        self.transaction.is_some()
    }

    /// A handle whose committed writes the commit hook is not told of: the caller tells it once
    /// (`announce`), after several.
    pub fn unannounced(&self) -> Self {
        Self {
            committed: None,
            ..self.clone()
        }
    }

    /// Whether this handle tells the commit hook of its writes (not a batch's, which tells it
    /// once, after several).
    pub fn announces(&self) -> bool {
        self.committed.is_some()
    }

    /// Tells the commit hook that `owner`'s writes committed.
    pub fn announce(&self, owner: Uuid) {
        if let Some(committed) = &self.committed {
            committed(owner);
        }
    }

    /// Runs `work` with a handle whose statements (reads and writes, each write as it runs
    /// alone) all run in one transaction, holding `owner`'s turn to write throughout: committed
    /// when `work` succeeds, and then the commit hook told once; rolled back when it fails. A
    /// handle already in a transaction runs `work` in it.
    pub async fn in_transaction<T, E: From<DbErr>>(
        &self,
        owner: Uuid,
        work: impl AsyncFnOnce(&Database) -> Result<T, E>,
    ) -> Result<T, E> {
        if self.transaction.is_some() {
            // Already in one (a batch's): its work is part of it.
            return work(self).await;
        }
        let _turn = self.write_permit(owner).await?;
        let _sqlite_turn = self.sqlite_write_turn().await;
        // Its connection counted among the warm ones', so that the pool has one for it.
        let _room = match &self.warm {
            Some(warm) => Some(warm.room_for_one().await?),
            None => None,
        };
        let transaction = Arc::new(self.connection.begin().await?);
        let handle = Self {
            committed: None,
            transaction: Some(transaction.clone()),
            ..self.clone()
        };
        let outcome = work(&handle).await;
        drop(handle);
        let transaction = Arc::into_inner(transaction)
            .ok_or_else(|| DbErr::Custom("a transaction outlived its work".to_owned()))?;
        match outcome {
            Ok(done) => {
                transaction.commit().await?;
                self.announce(owner);
                Ok(done)
            }
            Err(err) => {
                // A failed rollback leaves the connection to the pool, which closes it.
                transaction.rollback().await.ok();
                Err(err)
            }
        }
    }

    /// Waits (up to the acquire timeout) for the user's turn to search and the searches' share
    /// of the pool.
    pub async fn search_permit(&self, user_id: Uuid) -> Result<SearchPermit<'_>, DbErr> {
        let slot = &self.searches_by_user[user_id.as_u128() as usize % USER_SEARCH_SLOTS];
        let permits = async {
            let user = slot.acquire().await?;
            let pool = self.searches.acquire().await?;
            Ok::<_, tokio::sync::AcquireError>(SearchPermit {
                _user: user,
                _pool: pool,
            })
        };
        match tokio::time::timeout(self.acquire_timeout, permits).await {
            Ok(Ok(permit)) => Ok(permit),
            Ok(Err(_)) => Err(DbErr::ConnectionAcquire(ConnAcquireErr::ConnectionClosed)),
            Err(_) => Err(DbErr::ConnectionAcquire(ConnAcquireErr::Timeout)),
        }
    }

    /// Runs a write in its database's form: on PostgreSQL its one statement (on a warm
    /// connection), on SQLite its statements in one transaction (a savepoint of the handle's
    /// transaction, if it has one). Answers the row it wrote; none when it wrote nothing.
    pub async fn write(&self, write: &impl Write) -> Result<Option<QueryResult>, DbErr> {
        if self.get_database_backend() == DatabaseBackend::Postgres {
            let answer = self.query_one(write.postgres()).await?;
            if answer.is_some() {
                self.announce(write.owner());
            }
            return Ok(answer);
        }
        let (_sqlite_turn, transaction) = match &self.transaction {
            Some(outer) => (None, outer.begin().await?),
            None => (
                self.sqlite_write_turn().await,
                self.connection.begin().await?,
            ),
        };
        let mut answer = None;
        for step in write.sqlite() {
            match step {
                Step::Returning(statement) => match transaction.query_one(statement).await? {
                    Some(row) => answer = Some(row),
                    None => return Ok(None),
                },
                Step::Effect(statement) => {
                    transaction.execute(statement).await?;
                }
            }
        }
        transaction.commit().await?;
        self.announce(write.owner());
        Ok(answer)
    }

    /// The sea-orm connection underneath, for migrations only: its statements take sqlx's pool,
    /// which the warm connections can hold empty under steady load.
    pub(crate) fn migration_connection(&self) -> &DatabaseConnection {
        &self.connection
    }

    /// Connections open to the database: (all of them, idle ones).
    pub fn pool_connections(&self) -> (u32, usize) {
        let warm_idle = self.warm.as_ref().map_or(0, |warm| warm.idle_count());
        match &self.connection {
            DatabaseConnection::SqlxPostgresPoolConnection(_) => {
                let pool = self.connection.get_postgres_connection_pool();
                (pool.size(), pool.num_idle() + warm_idle)
            }
            DatabaseConnection::SqlxSqlitePoolConnection(_) => {
                let pool = self.connection.get_sqlite_connection_pool();
                (pool.size(), pool.num_idle())
            }
            _ => (0, 0),
        }
    }

    /// The share of the pool's connections that one kind of read (title searches, single task
    /// reads) may hold at once, so that it never holds the whole pool: half, at least one.
    pub fn half_the_pool(&self) -> usize {
        half_of(self.pool_size)
    }

    /// How many connections the pool holds at most (`DATABASE_MAX_CONNECTIONS`).
    pub fn pool_size(&self) -> usize {
        self.pool_size
    }

    /// How long a statement waits for a connection (`DATABASE_ACQUIRE_TIMEOUT_MS`).
    pub fn acquire_timeout(&self) -> Duration {
        self.acquire_timeout
    }

    /// Whether the pool has been closed.
    pub fn is_closed(&self) -> bool {
        match &self.connection {
            DatabaseConnection::SqlxPostgresPoolConnection(_) => {
                self.connection.get_postgres_connection_pool().is_closed()
            }
            DatabaseConnection::SqlxSqlitePoolConnection(_) => {
                self.connection.get_sqlite_connection_pool().is_closed()
            }
            _ => true,
        }
    }

    /// Hands every connection back and closes the pool.
    pub async fn close(&self) {
        if let Some(warm) = &self.warm {
            warm.close();
        }
        self.connection.close_by_ref().await.ok();
    }
}

#[async_trait]
impl ConnectionTrait for Database {
    fn get_database_backend(&self) -> DatabaseBackend {
        self.connection.get_database_backend()
    }

    async fn execute(&self, statement: Statement) -> Result<ExecResult, DbErr> {
        if let Some(transaction) = &self.transaction {
            return transaction.execute(statement).await;
        }
        match &self.warm {
            Some(warm) => warm.run::<Execute>(&statement).await.map(ExecResult::from),
            None => self.connection.execute(statement).await,
        }
    }

    async fn execute_unprepared(&self, sql: &str) -> Result<ExecResult, DbErr> {
        if let Some(transaction) = &self.transaction {
            return transaction.execute_unprepared(sql).await;
        }
        match &self.warm {
            Some(warm) => {
                let statement = Statement::from_string(DatabaseBackend::Postgres, sql);
                warm.run::<ExecuteUnprepared>(&statement)
                    .await
                    .map(ExecResult::from)
            }
            None => self.connection.execute_unprepared(sql).await,
        }
    }

    async fn query_one(&self, statement: Statement) -> Result<Option<QueryResult>, DbErr> {
        if let Some(transaction) = &self.transaction {
            return transaction.query_one(statement).await;
        }
        match &self.warm {
            Some(warm) => warm
                .run::<FetchOptional>(&statement)
                .await
                .map(|row| row.map(QueryResult::from)),
            None => self.connection.query_one(statement).await,
        }
    }

    async fn query_all(&self, statement: Statement) -> Result<Vec<QueryResult>, DbErr> {
        if let Some(transaction) = &self.transaction {
            return transaction.query_all(statement).await;
        }
        match &self.warm {
            Some(warm) => warm
                .run::<FetchAll>(&statement)
                .await
                .map(|rows| rows.into_iter().map(QueryResult::from).collect()),
            None => self.connection.query_all(statement).await,
        }
    }
}

/// The driver's error inside a database error, if the driver raised it.
pub fn sqlx_error(err: &DbErr) -> Option<&sqlx::Error> {
    match err {
        DbErr::Conn(RuntimeErr::SqlxError(err))
        | DbErr::Exec(RuntimeErr::SqlxError(err))
        | DbErr::Query(RuntimeErr::SqlxError(err)) => Some(err),
        _ => None,
    }
}

/// Whether the database answered the statement with an error (the statement ran there and
/// failed: nothing of it was written), rather than the statement failing to reach it or its
/// answer failing to come back.
pub fn is_database_error(err: &DbErr) -> bool {
    matches!(sqlx_error(err), Some(sqlx::Error::Database(_)))
}

/// SQLITE_BUSY, in any of its extended forms: another writer held the lock past the busy timeout.
pub fn is_sqlite_busy(err: &DbErr) -> bool {
    sqlx_error(err)
        .and_then(|err| err.as_database_error())
        .and_then(|db_err| db_err.code())
        .and_then(|code| code.parse::<i32>().ok())
        .is_some_and(|code| code & 0xff == 5)
}

/// Half of a pool of `pool_size` connections, at least one.
fn half_of(pool_size: usize) -> usize {
    (pool_size / 2).max(1)
}
