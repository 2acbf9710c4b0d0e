//! Builds the application from its configuration: the one way production and tests start it.

use std::future::Future;
use std::sync::Arc;
use std::time::{Duration, Instant};

use poem::Route;
use sea_orm::DbErr;
use tokio::net::TcpListener;

use crate::api;
use crate::api::http::connection::{self as server, ConnectionLimits};
use crate::auth::{Authenticator, KeySetupError};
use crate::config::{Config, ConfigError, Retention};
use crate::db::{self, Database, DatabaseTarget, MigrationCommand};
use crate::events::{listener, ChangeHub};
use crate::fairness::WriteRate;
use crate::store::{self, token_key::TokenKeySource, StoreError};
use crate::AppState;

/// Why the server did not start (or, serving, stopped): each one line for the operator.
#[derive(Debug, thiserror::Error)]
pub enum StartupError {
    #[error(".env is invalid: {0}")]
    DotEnv(dotenvy::Error),
    #[error(transparent)]
    Config(#[from] ConfigError),
    #[error("cannot start the runtime: {0}")]
    Runtime(std::io::Error),
    #[error("cannot listen on {address}: {source}")]
    Listen {
        address: String,
        source: std::io::Error,
    },
    #[error(
        "the database did not answer within {}s ({attempts} attempts; last: {last})",
        .patience.as_secs()
    )]
    DatabaseAway {
        patience: Duration,
        attempts: u32,
        last: PingFailure,
    },
    #[error("migration failed: {0}")]
    Migration(DbErr),
    #[error(transparent)]
    Auth(#[from] KeySetupError),
    #[error("server failed: {0}")]
    Serve(std::io::Error),
}

/// Why one attempt to reach the database at start failed.
#[derive(Debug)]
pub enum PingFailure {
    Error(StoreError),
    NoAnswer,
}

impl std::fmt::Display for PingFailure {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            Self::Error(err) => write!(f, "{err:?}"),
            Self::NoAnswer => f.write_str("no answer"),
        }
    }
}

/// A server bound to its port, ready to serve.
pub struct Application {
    listener: TcpListener,
    port: u16,
    db: Database,
    endpoint: poem::endpoint::BoxEndpoint<'static>,
    limits: ConnectionLimits,
    events: Arc<ChangeHub>,
}

impl Application {
    /// Connects, migrates (unless turned off) and binds; `extra` routes are served under
    /// `/__extra` (tests mount theirs there; the server mounts none).
    pub async fn build(config: &Config, extra: Route) -> Result<Self, StartupError> {
        let events = ChangeHub::new(config.events);
        let db = Database::new(config.database.connect(
            config.database_max_connections,
            config.database_acquire_timeout,
        ))
        .with_user_writes(config.user_limits.max_concurrent_writes);
        // PostgreSQL's committed writes are told to every instance's listener (this one's too);
        // SQLite's, in one process, to this instance's streams.
        let hub = Arc::downgrade(&events);
        let db = match (&config.database, &config.listen_database) {
            (_, Some(DatabaseTarget::Postgres(options)))
            | (DatabaseTarget::Postgres(options), None) => {
                tokio::spawn(listener::listen(events.clone(), options.clone()));
                let db = db.on_commit(Arc::new(move |user_id| {
                    if let Some(hub) = hub.upgrade() {
                        hub.notify_everywhere(user_id);
                    }
                }));
                tokio::spawn(events.clone().notify_when_asked(db.clone()));
                db
            }
            _ => db.on_commit(Arc::new(move |user_id| {
                if let Some(hub) = hub.upgrade() {
                    hub.committed(user_id);
                }
            })),
        };
        tokio::spawn(events.clone().refresh_when_asked(db.clone()));
        let address = format!("{}:{}", config.host, config.port);
        let cannot_listen = |source| StartupError::Listen {
            address: address.clone(),
            source,
        };
        let listener = TcpListener::bind(&address).await.map_err(cannot_listen)?;
        wait_for_database(&db, config.startup_database_wait).await?;
        if config.run_migrations {
            migrate(config, &db, MigrationCommand::Up).await?;
        }
        let port = listener.local_addr().map_err(cannot_listen)?.port();
        let token_keys = settle_token_keys(config, &db).await;
        let auth = Authenticator::start(&config.auth).await?;
        tokio::spawn(api::run_metrics_upkeep());
        if let Some((checkpointer, hold)) = config.database.checkpointer() {
            let checkpoints =
                db.on_connection(checkpointer.connect(1, config.database_acquire_timeout));
            tokio::spawn(keep_wal_bounded(db.clone(), checkpoints, hold));
        }
        tokio::spawn(purge_expired(db.clone(), config.retention));
        let state = AppState {
            db: db.clone(),
            task_reads: store::TaskReads::new(db.clone()),
            task_creates: store::TaskCreates::new(&db),
            token_keys,
            auth,
            retention: config.retention,
            limits: config.user_limits,
            write_rate: Arc::new(WriteRate::new(config.user_limits.writes_per_minute)),
            page_max_bytes: config.http.page_max_bytes,
            events: events.clone(),
        };
        tokio::spawn(forget_idle_writers(Arc::downgrade(&state.write_rate)));
        Ok(Self {
            listener,
            port,
            db,
            endpoint: api::app(state, &config.http, extra),
            limits: ConnectionLimits {
                head_timeout: config.http.request_head_timeout,
                idle_timeout: config.idle_timeout,
                shutdown_grace: config.shutdown_grace,
                response_timeout: config.http.response_timeout,
                response_buffer_max_bytes: config.http.response_buffer_max_bytes,
            },
            events,
        })
    }

    /// The port the server listens on (the real one when configured as 0).
    pub fn port(&self) -> u16 {
        self.port
    }

    /// The database the server uses.
    pub fn db(&self) -> &Database {
        &self.db
    }

    /// Serves until `shutdown` resolves, then ends every event stream at once and lets in-flight
    /// requests finish.
    pub async fn run_until(self, shutdown: impl Future<Output = ()> + Send) -> std::io::Result<()> {
        let events = self.events.clone();
        let shutdown = async move {
            shutdown.await;
            events.close();
        };
        server::serve(self.listener, self.endpoint, self.limits, shutdown).await?;
        self.db.close().await;
        Ok(())
    }
}

/// Once a minute, forgets the users whose write allowance is whole again, until the server is
/// gone: the rate keeps one entry per user who wrote in the last minute.
async fn forget_idle_writers(rate: std::sync::Weak<WriteRate>) {
    let mut ticks = tokio::time::interval(Duration::from_secs(60));
    loop {
        ticks.tick().await;
        match rate.upgrade() {
            Some(rate) => rate.forget_idle(),
            None => return,
        }
    }
}

/// The keys that seal and open tokens, settled now when the database can give its key; else (the
/// database away, or not migrated yet) at the first request that needs them, as every other
/// operation waits for the database.
async fn settle_token_keys(config: &Config, db: &Database) -> TokenKeySource {
    let source = TokenKeySource::new(config.token_key.clone(), config.previous_token_keys.clone());
    if let Err(err) = source.keys(db).await {
        tracing::warn!(
            error = ?err,
            "the token key cannot be read from the database yet: it is read when a request needs it"
        );
    }
    source
}

/// How often the SQLite write-ahead log is checkpointed: at a few thousand pages a second of
/// sustained writes, often enough that it never grows far past `WAL_TRUNCATE_PAGES` while a
/// truncation waits for its turn.
const WAL_CHECKPOINT_INTERVAL: Duration = Duration::from_millis(50);

/// How long after a truncation that could not finish (a reader kept an older snapshot past its
/// wait) the next is tried: the writes it held back, and others, run meanwhile.
const WAL_TRUNCATE_BACKOFF: Duration = Duration::from_millis(250);

/// Every `WAL_CHECKPOINT_INTERVAL`, checkpoints the SQLite write-ahead log (truncating it once it
/// has grown, holding writes back for `hold` at most) on a connection of its own
/// (`checkpoints`), until `db` closes.
async fn keep_wal_bounded(db: Database, checkpoints: Database, hold: Duration) {
    let mut ticks = tokio::time::interval(WAL_CHECKPOINT_INTERVAL);
    ticks.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
    loop {
        ticks.tick().await;
        if db.is_closed() {
            return;
        }
        match store::checkpoint_wal(&checkpoints, hold).await {
            // The writers it held back get their turn before it is tried again.
            Ok(true) => tokio::time::sleep(WAL_TRUNCATE_BACKOFF).await,
            Ok(false) => {}
            Err(err) => tracing::warn!(error = ?err, "write-ahead log checkpoint failed"),
        }
    }
}

/// Every `retention.purge_interval()`, forgets the idempotency keys and the deletions older than
/// they are kept, until the database closes.
async fn purge_expired(db: Database, retention: Retention) {
    let mut ticks = tokio::time::interval(retention.purge_interval());
    ticks.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
    loop {
        ticks.tick().await;
        if db.is_closed() {
            return;
        }
        let now = chrono::Utc::now();
        let before = |kept: Duration| now - chrono::Duration::from_std(kept).unwrap_or_default();
        let purged = store::purge_expired(
            &db,
            before(retention.idempotency_keys),
            before(retention.sync_history + retention.deletions_margin()),
        )
        .await;
        match purged {
            Ok((0, 0)) => {}
            Ok((keys, deletions)) => {
                tracing::info!(
                    keys,
                    deletions,
                    "expired idempotency keys and deletions purged"
                )
            }
            Err(err) => tracing::warn!(error = ?err, "purging expired keys and deletions failed"),
        }
    }
}

/// Waits until the database answers, retrying with backoff (a suspended Neon compute takes about
/// a second to wake), logging each failed attempt; gives up after `patience` (zero: start
/// without waiting).
async fn wait_for_database(db: &Database, patience: Duration) -> Result<(), StartupError> {
    if patience.is_zero() {
        return Ok(());
    }
    const FIRST_PAUSE: Duration = Duration::from_millis(100);
    const LONGEST_PAUSE: Duration = Duration::from_secs(2);
    const LONGEST_ATTEMPT: Duration = Duration::from_secs(2);
    let deadline = Instant::now() + patience;
    let mut pause = FIRST_PAUSE;
    for attempt in 1.. {
        let remaining = deadline.saturating_duration_since(Instant::now());
        let outcome = tokio::time::timeout(
            LONGEST_ATTEMPT.min(remaining.max(FIRST_PAUSE)),
            store::ping(db),
        )
        .await;
        let reason = match outcome {
            Ok(Ok(())) => return Ok(()),
            Ok(Err(err)) => PingFailure::Error(err),
            Err(_) => PingFailure::NoAnswer,
        };
        if Instant::now() + pause >= deadline {
            return Err(StartupError::DatabaseAway {
                patience,
                attempts: attempt,
                last: reason,
            });
        }
        tracing::warn!(attempt, retry_in = ?pause, %reason, "the database does not answer yet");
        tokio::time::sleep(pause).await;
        pause = (pause * 2).min(LONGEST_PAUSE);
    }
    unreachable!("the loop returns")
}

/// Runs a migration command on a connection of its own (the lock needs one session), on
/// `MIGRATION_DATABASE_URL` when set, except for an in-memory database, which exists only on the
/// server's own connection.
pub async fn migrate(
    config: &Config,
    server_db: &Database,
    command: MigrationCommand,
) -> Result<(), StartupError> {
    let target = config
        .migration_database
        .as_ref()
        .unwrap_or(&config.database);
    let outcome = if target.is_in_memory() {
        db::migrate(server_db.migration_connection(), command).await
    } else {
        let migration_db = target.connect(1, config.database_acquire_timeout);
        let outcome = db::migrate(&migration_db, command).await;
        migration_db.close().await.ok();
        outcome
    };
    outcome.map_err(StartupError::Migration)
}
