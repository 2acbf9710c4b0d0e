//! Warm PostgreSQL connections: a connection that has just answered goes straight to the next
//! statement instead of back through sqlx's pool, which would spend a round trip to the server
//! checking it on release and another on acquire.
use std::sync::{Mutex, Weak};
use std::time::{Duration, Instant};

use futures_core::future::BoxFuture;
use sea_orm::sea_query::Values;
use sea_orm::sqlx::pool::PoolConnection;
use sea_orm::sqlx::postgres::{
    PgDatabaseError, PgPool, PgQueryResult, PgRow, PgSeverity, Postgres,
};
use sea_orm::sqlx::{self, Connection, Executor};
use sea_orm::{ConnAcquireErr, DbErr, RuntimeErr, Statement};
use sea_query_binder::SqlxValues;
use tokio::sync::{Semaphore, SemaphorePermit};

/// How long a connection may have been idle and still be handed out as it is. Older ones go back
/// to sqlx's pool, which checks them (a suspended Neon compute or a restarted server has closed
/// them) and applies its idle timeout.
pub const REUSE_WITHIN: Duration = Duration::from_secs(1);
/// How long a connection stays out of sqlx's pool at most, however busy: handed back then, it is
/// checked and closed once past the pool's maximum lifetime.
const RETURN_AFTER: Duration = Duration::from_secs(60);

/// One way of running a statement on a connection and what it gives back.
pub(super) trait Fetch {
    type Output: Send;
    fn fetch<'c>(
        connection: &'c mut sqlx::PgConnection,
        statement: &'c Statement,
    ) -> BoxFuture<'c, Result<Self::Output, sqlx::Error>>;
    /// The database error sea-orm reports for a failure of this kind.
    fn error(err: sqlx::Error) -> DbErr {
        DbErr::Query(RuntimeErr::SqlxError(err))
    }
}

/// A prepared statement, for the rows it affected.
pub(super) struct Execute;
impl Fetch for Execute {
    type Output = PgQueryResult;
    fn fetch<'c>(
        connection: &'c mut sqlx::PgConnection,
        statement: &'c Statement,
    ) -> BoxFuture<'c, Result<PgQueryResult, sqlx::Error>> {
        Box::pin(bind(statement).execute(connection))
    }
    fn error(err: sqlx::Error) -> DbErr {
        DbErr::Exec(RuntimeErr::SqlxError(err))
    }
}

/// Plain SQL in the simple protocol, not prepared.
pub(super) struct ExecuteUnprepared;
impl Fetch for ExecuteUnprepared {
    type Output = PgQueryResult;
    fn fetch<'c>(
        connection: &'c mut sqlx::PgConnection,
        statement: &'c Statement,
    ) -> BoxFuture<'c, Result<PgQueryResult, sqlx::Error>> {
        Box::pin(connection.execute(statement.sql.as_str()))
    }
    fn error(err: sqlx::Error) -> DbErr {
        DbErr::Exec(RuntimeErr::SqlxError(err))
    }
}

/// A prepared statement, for its first row if any.
pub(super) struct FetchOptional;
impl Fetch for FetchOptional {
    type Output = Option<PgRow>;
    fn fetch<'c>(
        connection: &'c mut sqlx::PgConnection,
        statement: &'c Statement,
    ) -> BoxFuture<'c, Result<Option<PgRow>, sqlx::Error>> {
        Box::pin(bind(statement).fetch_optional(connection))
    }
}

/// A prepared statement, for all its rows.
pub(super) struct FetchAll;
impl Fetch for FetchAll {
    type Output = Vec<PgRow>;
    fn fetch<'c>(
        connection: &'c mut sqlx::PgConnection,
        statement: &'c Statement,
    ) -> BoxFuture<'c, Result<Vec<PgRow>, sqlx::Error>> {
        Box::pin(bind(statement).fetch_all(connection))
    }
}

/// Whether PostgreSQL refused a prepared statement because the schema changed under its cached
/// plan ("cached plan must not change result type", SQLSTATE 0A000): it ran nothing.
fn is_stale_plan<T>(outcome: &Result<T, sqlx::Error>) -> bool {
    matches!(outcome, Err(sqlx::Error::Database(err)) if err.code().as_deref() == Some("0A000"))
}

/// A statement with its values bound, as sea-orm's own PostgreSQL driver binds them.
fn bind(statement: &Statement) -> sqlx::query::Query<'_, Postgres, SqlxValues> {
    let values = statement.values.clone().unwrap_or(Values(Vec::new()));
    sqlx::query_with(&statement.sql, SqlxValues(values))
}

/// A failed acquire from sqlx's pool, as sea-orm reports it.
fn acquire_error(err: sqlx::Error) -> DbErr {
    match err {
        sqlx::Error::PoolTimedOut => DbErr::ConnectionAcquire(ConnAcquireErr::Timeout),
        sqlx::Error::PoolClosed => DbErr::ConnectionAcquire(ConnAcquireErr::ConnectionClosed),
        err => DbErr::Conn(RuntimeErr::SqlxError(err)),
    }
}

/// PostgreSQL connections checked out of sqlx's pool and kept for the next statement while they
/// are in use often enough.
pub(super) struct WarmConnections {
    pool: PgPool,
    /// One per connection the pool may open: a statement waits here when all are busy.
    permits: Semaphore,
    idle: Mutex<Idle>,
    acquire_timeout: Duration,
}

/// The warm connections no statement is using.
#[derive(Default)]
struct Idle {
    /// The most recently used last.
    connections: Vec<WarmConnection>,
    /// Set when the pool closes: no connection is kept from then on.
    closed: bool,
}

impl Idle {
    /// Takes out the connections idle for `idle_for` or longer (dropped, they go back to sqlx's
    /// pool: drop them once the lock is released).
    fn take_idle_for(&mut self, idle_for: Duration) -> Vec<WarmConnection> {
        let fresh_from = self
            .connections
            .partition_point(|warm| warm.idle_since.elapsed() >= idle_for);
        self.connections.drain(..fresh_from).collect()
    }
}

/// A connection out of sqlx's pool between two statements.
struct WarmConnection {
    connection: PoolConnection<Postgres>,
    taken_at: Instant,
    idle_since: Instant,
}

impl WarmConnections {
    pub(super) fn new(pool: PgPool) -> Self {
        let options = pool.options();
        Self {
            permits: Semaphore::new(options.get_max_connections() as usize),
            acquire_timeout: options.get_acquire_timeout(),
            idle: Mutex::default(),
            pool,
        }
    }

    /// A connection for one statement: the most recently used idle one, or one from sqlx's pool.
    async fn lease(&self) -> Result<Lease<'_>, DbErr> {
        let lease = async {
            let permit = self
                .permits
                .acquire()
                .await
                .map_err(|_| DbErr::ConnectionAcquire(ConnAcquireErr::ConnectionClosed))?;
            let (recent, stale) = {
                let mut idle = self.idle.lock().expect("not poisoned");
                let stale = idle.take_idle_for(REUSE_WITHIN);
                (idle.connections.pop(), stale)
            };
            drop(stale);
            let (connection, taken_at) = match recent {
                Some(warm) => (warm.connection, warm.taken_at),
                None => (
                    self.pool.acquire().await.map_err(acquire_error)?,
                    Instant::now(),
                ),
            };
            Ok(Lease {
                connection: Some(connection),
                taken_at,
                warm: self,
                _permit: permit,
            })
        };
        tokio::time::timeout(self.acquire_timeout, lease)
            .await
            .unwrap_or(Err(DbErr::ConnectionAcquire(ConnAcquireErr::Timeout)))
    }

    /// Room for a connection taken from sqlx's pool for longer than a statement (a transaction's):
    /// a permit, held until the connection is back, and, when the pool has no connection left,
    /// one idle warm connection handed back to it, so that the pool gives one at once instead of
    /// when a warm one has been idle for `REUSE_WITHIN`. (Every connection the pool has given is
    /// held by a permit or idle here; holding a permit, the caller leaves fewer holders than
    /// connections, so one is idle here when the pool is empty.)
    pub(super) async fn room_for_one(&self) -> Result<SemaphorePermit<'_>, DbErr> {
        let permit = tokio::time::timeout(self.acquire_timeout, self.permits.acquire())
            .await
            .map_err(|_| DbErr::ConnectionAcquire(ConnAcquireErr::Timeout))?
            .map_err(|_| DbErr::ConnectionAcquire(ConnAcquireErr::ConnectionClosed))?;
        let full = self.pool.num_idle() == 0
            && self.pool.size() >= self.pool.options().get_max_connections();
        if full {
            let handed_back = self.idle.lock().expect("not poisoned").connections.pop();
            drop(handed_back);
        }
        Ok(permit)
    }

    /// Runs one statement on a warm connection. A statement whose cached plan the schema changed
    /// under (a migration applied while this server runs) is prepared afresh and run once more.
    pub(super) async fn run<F: Fetch>(&self, statement: &Statement) -> Result<F::Output, DbErr> {
        let mut lease = self.lease().await?;
        let mut outcome = F::fetch(lease.connection(), statement).await;
        if is_stale_plan(&outcome) {
            tracing::info!("the schema changed under a prepared statement: preparing it afresh");
            outcome = match lease.connection().clear_cached_statements().await {
                Ok(()) => F::fetch(lease.connection(), statement).await,
                Err(err) => Err(err),
            };
        }
        lease.finish(outcome).map_err(F::error)
    }

    /// Hands the connections idle for longer than `idle_for` back to sqlx's pool.
    fn return_idle(&self, idle_for: Duration) {
        let stale = self
            .idle
            .lock()
            .expect("not poisoned")
            .take_idle_for(idle_for);
        drop(stale);
    }

    /// Hands every idle connection back and keeps none from now on.
    pub(super) fn close(&self) {
        let idle = {
            let mut idle = self.idle.lock().expect("not poisoned");
            idle.closed = true;
            std::mem::take(&mut idle.connections)
        };
        drop(idle);
    }

    pub(super) fn idle_count(&self) -> usize {
        self.idle.lock().expect("not poisoned").connections.len()
    }
}

/// Every `REUSE_WITHIN`, hands the connections nobody used back to sqlx's pool; ends with the
/// server's database.
pub(super) async fn return_idle_connections(warm: Weak<WarmConnections>) {
    let mut ticks = tokio::time::interval(REUSE_WITHIN);
    ticks.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
    loop {
        ticks.tick().await;
        match warm.upgrade() {
            Some(warm) => warm.return_idle(REUSE_WITHIN),
            None => return,
        }
    }
}

/// One statement's connection. Kept warm when the database answered it; otherwise (a lost
/// connection, a cancelled request) dropped back into sqlx's pool, which checks it and closes it
/// when it is broken.
struct Lease<'a> {
    connection: Option<PoolConnection<Postgres>>,
    /// When the connection left sqlx's pool.
    taken_at: Instant,
    warm: &'a WarmConnections,
    /// Released after the connection is back, so that the next statement finds it.
    _permit: SemaphorePermit<'a>,
}

impl Lease<'_> {
    fn connection(&mut self) -> &mut sqlx::PgConnection {
        self.connection.as_mut().expect("leased until finished")
    }

    /// Keeps the connection warm when it is fit for the next statement and has not been out of
    /// sqlx's pool for `RETURN_AFTER` yet.
    fn finish<T>(mut self, outcome: Result<T, sqlx::Error>) -> Result<T, sqlx::Error> {
        if answered(&outcome) && self.taken_at.elapsed() < RETURN_AFTER {
            if let Some(connection) = self.connection.take() {
                let mut idle = self.warm.idle.lock().expect("not poisoned");
                if !idle.closed {
                    idle.connections.push(WarmConnection {
                        connection,
                        taken_at: self.taken_at,
                        idle_since: Instant::now(),
                    });
                }
            }
        }
        outcome
    }
}

/// Whether a connection is fit for the next statement after this outcome: the database answered,
/// perhaps with an error of the statement's own, but not a FATAL one (a terminated backend, a
/// server shutting down), after which it closes the connection.
fn answered<T>(outcome: &Result<T, sqlx::Error>) -> bool {
    match outcome {
        Ok(_) => true,
        Err(sqlx::Error::Database(err)) => err
            .try_downcast_ref::<PgDatabaseError>()
            .is_some_and(|err| err.severity() == PgSeverity::Error),
        Err(_) => false,
    }
}
