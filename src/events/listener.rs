//! The PostgreSQL listener: one connection per instance that `LISTEN`s on the channel the
//! instances notify (`<user id>:<change number>` after a write commits), publishing each
//! notification to the hub; it reconnects with backoff when its connection is lost (or stops
//! answering), then has every open stream's counter read again, since what was notified meanwhile
//! is gone.

use std::sync::Arc;
use std::time::Duration;

use sea_orm::sqlx::postgres::{PgConnectOptions, PgListener, PgNotification, PgPoolOptions};
use sea_orm::sqlx::{self, Executor};
use uuid::Uuid;

use super::ChangeHub;

/// The channel every instance notifies after its writes commit (`ChangeHub::notify_when_asked`).
pub const CHANNEL: &str = "task_api_changes";
/// The listener's `application_name`, so that operators (and tests) can find its connection.
pub const APPLICATION_NAME: &str = "task-api-listener";

/// While streams are open, the connection is asked to answer after this long without a
/// notification: a connection that went half-open (a peer gone without a word) is found out.
/// With no stream open it is left idle, so that a Neon compute may suspend.
const PING_AFTER: Duration = Duration::from_secs(10);
const PING_TIMEOUT: Duration = Duration::from_secs(5);
const FIRST_PAUSE: Duration = Duration::from_millis(100);
const LONGEST_PAUSE: Duration = Duration::from_secs(10);

/// A notification's payload, `<user id>:<change number>`.
fn parse(notification: &PgNotification) -> Option<(Uuid, i64)> {
    let (user_id, version) = notification.payload().split_once(':')?;
    Some((Uuid::try_parse(user_id).ok()?, version.parse().ok()?))
}

/// Listens until shutdown, publishing every notification to `hub`.
pub async fn listen(hub: Arc<ChangeHub>, options: PgConnectOptions) {
    let pool = PgPoolOptions::new()
        .max_connections(1)
        .min_connections(0)
        .idle_timeout(None)
        .max_lifetime(None)
        .acquire_timeout(PING_TIMEOUT)
        .connect_lazy_with(options.application_name(APPLICATION_NAME));
    tokio::select! {
        _ = serve(&hub, &pool) => {}
        _ = hub.closed() => {}
    }
    pool.close().await;
}

async fn serve(hub: &ChangeHub, pool: &sqlx::PgPool) {
    let mut first = true;
    loop {
        let listener = connect(pool).await;
        if first {
            tracing::info!(channel = CHANNEL, "listening for committed changes");
            first = false;
        } else {
            tracing::warn!(
                channel = CHANNEL,
                "the change listener is connected again; open event streams are told their \
                 user's current version"
            );
        }
        // What committed before `LISTEN` took effect was not notified to this connection.
        hub.refresh_all();
        metrics::gauge!("events_listener_up").set(1.0);
        let mut listener = listener;
        let reason = receive(hub, &mut listener).await;
        metrics::gauge!("events_listener_up").set(0.0);
        metrics::counter!("events_listener_disconnects_total").increment(1);
        tracing::warn!(
            %reason,
            "the change listener lost its database connection: event streams on this instance \
             hear of no change until it is back (reconnecting)"
        );
        drop(listener);
    }
}

/// A listener on `CHANNEL`, retrying with backoff until one is had.
async fn connect(pool: &sqlx::PgPool) -> PgListener {
    let mut pause = FIRST_PAUSE;
    loop {
        let attempt = async {
            let mut listener = PgListener::connect_with(pool).await?;
            // A lost connection is this loop's to handle (then the counters are read again).
            listener.eager_reconnect(false);
            listener.listen(CHANNEL).await?;
            Ok::<_, sqlx::Error>(listener)
        };
        match tokio::time::timeout(PING_TIMEOUT, attempt).await {
            Ok(Ok(listener)) => return listener,
            Ok(Err(err)) => {
                tracing::warn!(error = %err, retry_in = ?pause, "the change listener cannot connect")
            }
            Err(_) => {
                tracing::warn!(retry_in = ?pause, "the change listener cannot connect (no answer)")
            }
        }
        // Down, also when it never connected at all.
        metrics::gauge!("events_listener_up").set(0.0);
        tokio::time::sleep(pause).await;
        pause = (pause * 2).min(LONGEST_PAUSE);
    }
}

/// Publishes notifications until the connection is lost; returns why it was.
async fn receive(hub: &ChangeHub, listener: &mut PgListener) -> String {
    loop {
        match tokio::time::timeout(PING_AFTER, listener.try_recv()).await {
            Ok(Ok(Some(notification))) => match parse(&notification) {
                Some((user_id, version)) => hub.publish(user_id, version),
                None => tracing::warn!(
                    payload = notification.payload(),
                    "a change notification that is not <user id>:<version>"
                ),
            },
            Ok(Ok(None)) => return "the connection was closed".to_owned(),
            Ok(Err(err)) => return err.to_string(),
            Err(_) if hub.open_streams() == 0 => {}
            Err(_) => {
                let ping = tokio::time::timeout(PING_TIMEOUT, listener.execute("SELECT 1")).await;
                match ping {
                    Ok(Ok(_)) => {}
                    Ok(Err(err)) => return err.to_string(),
                    Err(_) => return "the connection stopped answering".to_owned(),
                }
            }
        }
    }
}
