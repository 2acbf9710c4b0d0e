//! Faults and recovery: a database outage under load, connections the database ends, a
//! database that comes up late or never, and idle connections that must not starve real ones.

use std::collections::HashSet;
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::Arc;
use std::time::{Duration, Instant};

use reqwest::StatusCode;
use serde_json::{json, Value};
use uuid::Uuid;

use crate::helpers::{
    each_database, expect_error, expect_json, postgres_database, server_command,
    start_server_process, wait_until, PgProxy, TestApp, TestDatabase,
};

/// What one load worker saw.
#[derive(Default)]
struct Tally {
    sent: usize,
    created: Vec<String>,
    refused_titles: Vec<String>,
    read_ok: usize,
    unavailable: usize,
    /// Creates answered "may or may not have been applied" (the connection was lost in flight).
    outcome_unknown: usize,
    other: Vec<String>,
    slowest: Duration,
}

/// Creates and reads tasks until `stop`, recording every answer.
async fn load_worker(
    app: Arc<TestApp>,
    user_id: Uuid,
    worker: usize,
    stop: Arc<AtomicBool>,
) -> Tally {
    let mut tally = Tally::default();
    let mut n = 0;
    while !stop.load(Ordering::SeqCst) {
        n += 1;
        let title = format!("w{worker}-{n}");
        let started = Instant::now();
        let response = app
            .post_json(
                &format!("/users/{user_id}/tasks"),
                &json!({ "title": title }),
            )
            .await;
        tally.sent += 1;
        tally.slowest = tally.slowest.max(started.elapsed());
        match response.status() {
            StatusCode::CREATED => {
                let task: Value = response.json().await.unwrap();
                let id = task["id"].as_str().unwrap().to_owned();
                let started = Instant::now();
                let read = app.get(&format!("/users/{user_id}/tasks/{id}")).await;
                tally.sent += 1;
                tally.slowest = tally.slowest.max(started.elapsed());
                match read.status() {
                    StatusCode::OK => tally.read_ok += 1,
                    StatusCode::SERVICE_UNAVAILABLE => tally.unavailable += 1,
                    other => tally.other.push(format!("GET {other}")),
                }
                tally.created.push(id);
            }
            StatusCode::SERVICE_UNAVAILABLE => {
                let body: Value = response.json().await.unwrap();
                assert_eq!(body["error"]["code"], "SERVICE_UNAVAILABLE");
                tally.unavailable += 1;
                tally.refused_titles.push(title);
            }
            StatusCode::INTERNAL_SERVER_ERROR => {
                assert!(response.headers().get("retry-after").is_none());
                let body: Value = response.json().await.unwrap();
                assert_eq!(body["error"]["code"], "INTERNAL_ERROR");
                let message = body["error"]["message"].as_str().unwrap();
                assert!(message.contains("may or may not"), "{message}");
                tally.outcome_unknown += 1;
            }
            other => tally
                .other
                .push(format!("POST {other}: {}", response.text().await.unwrap())),
        }
    }
    tally
}

#[tokio::test]
async fn a_database_outage_under_load_answers_503_then_recovers_losing_and_inventing_nothing() {
    let Some(database) = postgres_database().await else {
        return;
    };
    let proxy = PgProxy::to("127.0.0.1:5432").await;
    let mut config = database.config();
    config.database = task_api::db::DatabaseTarget::parse(&database.proxied_url(&proxy)).unwrap();
    config.database_acquire_timeout = Duration::from_secs(1);
    config.http.request_timeout = Duration::from_secs(3);
    // One user's load: no rate of writes binds.
    config.user_limits.writes_per_minute = std::num::NonZeroU32::MAX;
    let app = Arc::new(TestApp::spawn(config).await);
    let user_id = app.create_user().await;

    let stop = Arc::new(AtomicBool::new(false));
    let workers: Vec<_> = (0..8)
        .map(|worker| tokio::spawn(load_worker(app.clone(), user_id, worker, stop.clone())))
        .collect();
    // Each phase lasts this long under load: before the outage, during it, after recovery.
    const PHASE: Duration = Duration::from_millis(1000);
    tokio::time::sleep(PHASE).await;
    proxy.cut();
    let ready_is = |status: StatusCode| {
        let app = app.clone();
        move || {
            let app = app.clone();
            async move { app.get("/ready").await.status() == status }
        }
    };
    wait_until(
        "/ready answering 503 once the database is gone",
        ready_is(StatusCode::SERVICE_UNAVAILABLE),
    )
    .await;
    expect_error(
        app.get("/ready").await,
        StatusCode::SERVICE_UNAVAILABLE,
        "SERVICE_UNAVAILABLE",
    )
    .await;
    expect_json(app.get("/health").await, StatusCode::OK).await;
    tokio::time::sleep(PHASE).await;
    proxy.restore();
    wait_until(
        "/ready answering 200 once the database is back",
        ready_is(StatusCode::OK),
    )
    .await;
    tokio::time::sleep(PHASE).await;
    stop.store(true, Ordering::SeqCst);

    let mut total = Tally::default();
    for worker in workers {
        let tally = worker.await.unwrap();
        total.sent += tally.sent;
        total.created.extend(tally.created);
        total.refused_titles.extend(tally.refused_titles);
        total.read_ok += tally.read_ok;
        total.unavailable += tally.unavailable;
        total.outcome_unknown += tally.outcome_unknown;
        total.other.extend(tally.other);
        total.slowest = total.slowest.max(tally.slowest);
    }
    let stored = app.all_tasks(user_id).await;
    let stored_ids: HashSet<&str> = stored.iter().map(|t| t["id"].as_str().unwrap()).collect();
    let stored_titles: HashSet<&str> = stored
        .iter()
        .map(|t| t["title"].as_str().unwrap())
        .collect();
    eprintln!(
        "outage: {} requests sent, {} answered 201, {} answered 200, {} answered 503, {} answered \
         500 outcome unknown, {} anything else; {} tasks stored for {} answered 201; slowest \
         answer {:?}",
        total.sent,
        total.created.len(),
        total.read_ok,
        total.unavailable,
        total.outcome_unknown,
        total.other.len(),
        stored.len(),
        total.created.len(),
        total.slowest
    );
    assert!(
        total.other.is_empty(),
        "only 2xx, 503 and outcome-unknown 500: {:?}",
        total.other
    );
    assert!(total.unavailable > 0, "the outage was seen");
    assert!(
        total.slowest < Duration::from_secs(4),
        "no hang: {:?}",
        total.slowest
    );
    // A create whose outcome was said to be unknown may be stored; no other task may be.
    assert!(
        (total.created.len()..=total.created.len() + total.outcome_unknown).contains(&stored.len()),
        "no lost and no phantom task: {} stored",
        stored.len()
    );
    for id in &total.created {
        assert!(
            stored_ids.contains(id.as_str()),
            "task {id} answered 201 is stored"
        );
    }
    for title in &total.refused_titles {
        assert!(
            !stored_titles.contains(title.as_str()),
            "task {title} answered 503 is not stored"
        );
    }
    assert!(
        app.post_json(
            &format!("/users/{user_id}/tasks"),
            &json!({ "title": "after" })
        )
        .await
        .status()
            == StatusCode::CREATED,
        "serving again without a restart"
    );
}

/// How many pool connections the server holds to its database, from `pg_stat_activity` (its
/// change listener's one aside).
async fn server_connections(app: &TestApp) -> i64 {
    use sea_orm::{ConnectionTrait, Statement};
    let row = app
        .db
        .query_one(Statement::from_string(
            sea_orm::DatabaseBackend::Postgres,
            "SELECT count(*) AS n FROM pg_stat_activity WHERE datname = current_database() \
             AND application_name <> 'task-api-listener'",
        ))
        .await
        .unwrap()
        .unwrap();
    row.try_get("", "n").unwrap()
}

/// A server on a PostgreSQL database of its own with a pool of `max_connections`.
async fn app_with_pool(max_connections: u32) -> Option<(TestDatabase, TestApp)> {
    let database = postgres_database().await?;
    let mut config = database.config();
    config.database_max_connections = max_connections;
    let app = TestApp::spawn(config).await;
    Some((database, app))
}

/// Ends every connection the server holds, from a session of its own, as an administrator or a
/// failover would: PostgreSQL sends each a FATAL error and closes it.
async fn end_server_connections(database: &TestDatabase) {
    use sea_orm::ConnectionTrait;
    let admin = sea_orm::Database::connect(&database.url).await.unwrap();
    admin
        .execute_unprepared(
            "SELECT pg_terminate_backend(pid) FROM pg_stat_activity \
             WHERE datname = current_database() AND pid <> pg_backend_pid()",
        )
        .await
        .unwrap();
    admin.close().await.unwrap();
}

#[tokio::test]
async fn busy_connections_stay_within_the_pool_and_closed_idle_ones_are_replaced_unseen() {
    let Some((database, app)) = app_with_pool(3).await else {
        return;
    };
    let app = Arc::new(app);
    let user_id = app.create_user().await;
    let task = app.create_titled(user_id, "kept warm").await;
    let path = format!("/users/{user_id}/tasks/{}", task["id"].as_str().unwrap());
    let burst = || {
        let requests: Vec<_> = (0..40)
            .map(|_| {
                let (app, path) = (app.clone(), path.clone());
                tokio::spawn(async move { app.get(&path).await.status() })
            })
            .collect();
        async move {
            for request in requests {
                assert_eq!(request.await.unwrap(), StatusCode::OK);
            }
        }
    };

    // Forty requests at once share three connections: none waits past the acquire timeout.
    burst().await;
    let open = server_connections(&app).await;
    assert!(
        (1..=3).contains(&open),
        "{open} connections open, at most 3"
    );

    // The database closes every connection of the server's while they are idle (a restart, a
    // suspended Neon compute): once they have been idle a while, no request sees it.
    end_server_connections(&database).await;
    tokio::time::sleep(task_api::db::REUSE_WITHIN * 2).await;
    burst().await;
    assert_eq!(app.get(&path).await.status(), StatusCode::OK);
}

#[tokio::test]
async fn a_connection_the_database_ended_serves_no_second_request() {
    let Some((database, app)) = app_with_pool(1).await else {
        return;
    };
    let user = format!("/users/{}", app.create_user().await);
    // The server's one connection is ended while it is warm.
    end_server_connections(&database).await;

    // The request that finds it ended may answer 503; the next one has a new connection.
    let first = app.get(&user).await.status();
    assert!(
        [StatusCode::OK, StatusCode::SERVICE_UNAVAILABLE].contains(&first),
        "{first}"
    );
    expect_json(app.get(&user).await, StatusCode::OK).await;
}

#[tokio::test]
async fn the_server_waits_for_a_database_that_comes_up_late() {
    let Some(database) = postgres_database().await else {
        return;
    };
    let proxy = PgProxy::to("127.0.0.1:5432").await;
    proxy.cut();
    let proxied = database.proxied_url(&proxy);
    let mut retries = 0;
    let started = Instant::now();
    let (_child, address, _log) = start_server_process(
        &[
            ("DATABASE_URL", &proxied),
            ("STARTUP_DATABASE_WAIT_SECS", "20"),
        ],
        |line| {
            if line.contains("does not answer yet") {
                retries += 1;
                if retries == 2 {
                    proxy.restore();
                }
            }
        },
    )
    .await;
    eprintln!(
        "started after {retries} logged retries in {:?}",
        started.elapsed()
    );
    assert!(retries >= 2, "each attempt is logged");
    let ready = reqwest::get(format!("{address}/ready")).await.unwrap();
    assert_eq!(ready.status(), StatusCode::OK);
}

#[tokio::test]
async fn the_server_gives_up_on_a_database_that_never_comes_with_one_clear_line() {
    let output = server_command(&[
        ("DATABASE_URL", "postgres://nobody@127.0.0.1:9/none"),
        ("STARTUP_DATABASE_WAIT_SECS", "2"),
        ("LOG", "off"),
    ])
    .output()
    .await
    .unwrap();
    let stderr = String::from_utf8_lossy(&output.stderr);
    assert!(!output.status.success());
    assert_eq!(stderr.lines().count(), 1, "{stderr}");
    assert!(
        stderr.contains("the database did not answer within 2s"),
        "{stderr}"
    );
}

#[tokio::test]
async fn a_thousand_idle_connections_do_not_starve_real_requests() {
    each_database(|app| async move {
        let address = app.address.trim_start_matches("http://").to_owned();
        let mut idle = Vec::new();
        for _ in 0..1000 {
            idle.push(tokio::net::TcpStream::connect(&address).await.unwrap());
        }
        let user_id = app.create_user().await;
        for i in 0..20 {
            let started = Instant::now();
            app.create_titled(user_id, &format!("t{i}")).await;
            assert!(
                started.elapsed() < Duration::from_secs(1),
                "request {i} took {:?}",
                started.elapsed()
            );
        }
        drop(idle);
    })
    .await;
}
