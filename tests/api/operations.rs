//! Production behaviour: database outages under load, waiting for a late database, timeouts,
//! idle connections, request ids, logs, metrics and CORS.

use std::collections::HashSet;
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::Arc;
use std::time::{Duration, Instant};

use reqwest::StatusCode;
use serde_json::{json, Value};

use crate::helpers::{
    each_database, expect_error, expect_json, http_client, postgres_admin_url, postgres_database,
    server_command, start_server_process, Backend, PgProxy, TestApp, TestDatabase,
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
    user_id: String,
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

/// Every task of a user, by following the cursor.
async fn all_tasks(app: &TestApp, user_id: &str) -> Vec<Value> {
    let mut tasks = Vec::new();
    let mut cursor = String::new();
    loop {
        let page = app
            .get_ok(&format!("/users/{user_id}/tasks?limit=100{cursor}"))
            .await;
        tasks.extend(page["items"].as_array().unwrap().iter().cloned());
        match page["next_cursor"].as_str() {
            Some(next) => cursor = format!("&cursor={next}"),
            None => return tasks,
        }
    }
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
    let app = Arc::new(TestApp::spawn(config).await);
    let user_id = app.create_user().await;

    let stop = Arc::new(AtomicBool::new(false));
    let workers: Vec<_> = (0..8)
        .map(|worker| {
            tokio::spawn(load_worker(
                app.clone(),
                user_id.clone(),
                worker,
                stop.clone(),
            ))
        })
        .collect();
    tokio::time::sleep(Duration::from_millis(1500)).await;
    proxy.cut();
    tokio::time::sleep(Duration::from_millis(1500)).await;
    expect_error(
        app.get("/ready").await,
        StatusCode::SERVICE_UNAVAILABLE,
        "SERVICE_UNAVAILABLE",
    )
    .await;
    expect_json(app.get("/health").await, StatusCode::OK).await;
    tokio::time::sleep(Duration::from_millis(1000)).await;
    proxy.restore();
    tokio::time::sleep(Duration::from_millis(2500)).await;
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
    let stored = all_tasks(&app, &user_id).await;
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

/// How many connections the server holds to its database, from `pg_stat_activity`.
async fn server_connections(app: &TestApp) -> i64 {
    use sea_orm::{ConnectionTrait, Statement};
    let row = app
        .db
        .query_one(Statement::from_string(
            sea_orm::DatabaseBackend::Postgres,
            "SELECT count(*) AS n FROM pg_stat_activity WHERE datname = current_database()",
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
    let task = app.create_titled(&user_id, "kept warm").await;
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
            app.create_titled(&user_id, &format!("t{i}")).await;
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

#[tokio::test]
async fn every_response_carries_a_request_id_taken_from_the_request_or_made() {
    each_database(|app| async move {
        let given = app
            .client
            .get(app.url("/health"))
            .header("x-request-id", "abc-123")
            .send()
            .await
            .unwrap();
        assert_eq!(given.headers()["x-request-id"], "abc-123");
        for response in [
            app.get("/health").await,
            app.get("/nothing").await,
            app.get("/users/x").await,
            app.post_json("/users", &json!([1])).await,
        ] {
            let id = response.headers()["x-request-id"]
                .to_str()
                .unwrap()
                .to_owned();
            assert!(uuid::Uuid::parse_str(&id).is_ok(), "a made id: {id}");
        }
        let odd = app
            .client
            .get(app.url("/health"))
            .header("x-request-id", "has space")
            .send()
            .await
            .unwrap();
        assert_ne!(
            odd.headers()["x-request-id"],
            "has space",
            "an unusable id is replaced"
        );
    })
    .await;
}

#[tokio::test]
async fn metrics_count_requests_per_operation_and_status_and_show_the_pool() {
    each_database(|app| async move {
        let user_id = app.create_user().await;
        app.create_titled(&user_id, "counted").await;
        app.get(&format!("/users/{user_id}/tasks/{}", uuid::Uuid::new_v4())).await;
        let response = app.get("/metrics").await;
        assert_eq!(response.status(), StatusCode::OK);
        assert!(response.headers()["content-type"].to_str().unwrap().starts_with("text/plain"));
        let text = response.text().await.unwrap();
        for expected in [
            r#"http_requests_total{operation="createTask",status="201"}"#,
            r#"http_requests_total{operation="getTask",status="404"}"#,
            r#"http_request_duration_seconds_bucket{operation="createTask",status="201",le="0.005"}"#,
            r#"db_pool_connections{state="idle"}"#,
            r#"db_pool_connections{state="in_use"}"#,
        ] {
            assert!(text.contains(expected), "{expected} in\n{text}");
        }
    })
    .await;
}

#[tokio::test]
async fn one_structured_log_line_per_request_names_the_route_template() {
    let (_child, address, mut log) = start_server_process(
        &[("DATABASE_URL", "sqlite::memory:"), ("LOG_FORMAT", "json")],
        |line| {
            serde_json::from_str::<Value>(line).expect("every line is JSON");
        },
    )
    .await;
    let client = http_client();
    let user = client
        .post(format!("{address}/users"))
        .header("x-request-id", "log-test-1")
        .send()
        .await
        .unwrap();
    let user: Value = user.json().await.unwrap();
    let task_path = format!(
        "{address}/users/{}/tasks/{}",
        user["id"].as_str().unwrap(),
        uuid::Uuid::new_v4()
    );
    client
        .get(&task_path)
        .header("x-request-id", "log-test-2")
        .send()
        .await
        .unwrap();
    let mut seen = Vec::new();
    while seen.len() < 2 {
        let line = log.next_line().await.unwrap().expect("request lines");
        let entry: Value = serde_json::from_str(&line).unwrap();
        if entry["fields"]["message"] == "request" {
            eprintln!("log line: {line}");
            seen.push(entry["fields"].clone());
        }
    }
    assert_eq!(seen[0]["request_id"], "log-test-1");
    assert_eq!(seen[0]["method"], "POST");
    assert_eq!(seen[0]["route"], "POST /users");
    assert_eq!(seen[0]["status"], 201);
    assert!(seen[0]["latency_ms"].is_number());
    assert_eq!(seen[1]["request_id"], "log-test-2");
    assert_eq!(
        seen[1]["route"], "GET /users/{user_id}/tasks/{task_id}",
        "the template, not the ids"
    );
    assert_eq!(seen[1]["status"], 404);
}

#[tokio::test]
async fn cors_answers_configured_origins_and_others_as_any_request() {
    for backend in Backend::all() {
        eprintln!("--- on {backend:?}");
        let database = TestDatabase::create(&backend).await;
        let mut config = database.config();
        config.http.cors_origins = vec!["http://localhost:5173".to_owned()];
        let app = TestApp::spawn(config).await;
        let preflight = app
            .client
            .request(reqwest::Method::OPTIONS, app.url("/users/x/tasks/y"))
            .header("origin", "http://localhost:5173")
            .header("access-control-request-method", "PATCH")
            .header(
                "access-control-request-headers",
                "content-type, authorization",
            )
            .send()
            .await
            .unwrap();
        assert!(preflight.status().is_success(), "{}", preflight.status());
        let headers = preflight.headers();
        assert_eq!(
            headers["access-control-allow-origin"],
            "http://localhost:5173"
        );
        assert!(headers["access-control-allow-methods"]
            .to_str()
            .unwrap()
            .contains("PATCH"));
        let allowed = headers["access-control-allow-headers"]
            .to_str()
            .unwrap()
            .to_lowercase();
        assert!(
            allowed.contains("content-type") && allowed.contains("authorization"),
            "{allowed}"
        );
        assert_eq!(headers["access-control-max-age"], "86400", "cacheable");
        let simple = app
            .client
            .post(app.url("/users"))
            .header("origin", "http://localhost:5173")
            .send()
            .await
            .unwrap();
        assert_eq!(
            simple.headers()["access-control-allow-origin"],
            "http://localhost:5173"
        );
        let exposed = simple.headers()["access-control-expose-headers"]
            .to_str()
            .unwrap()
            .to_lowercase();
        for header in ["location", "www-authenticate", "retry-after"] {
            assert!(exposed.contains(header), "{header} not in {exposed}");
        }
        let foreign = app
            .client
            .post(app.url("/users"))
            .header("origin", "http://evil.example")
            .send()
            .await
            .unwrap();
        assert!(foreign
            .headers()
            .get("access-control-allow-origin")
            .is_none());
        // Other origins are answered as any request is, without CORS headers (the browser
        // enforces), and every answer varies by Origin.
        let varies = |response: &reqwest::Response| {
            response
                .headers()
                .get_all("vary")
                .iter()
                .any(|v| v.to_str().unwrap().eq_ignore_ascii_case("origin"))
        };
        for origin in [
            Some("http://localhost:5173"),
            Some("http://evil.example"),
            None,
        ] {
            let mut request = app.client.post(app.url("/users"));
            if let Some(origin) = origin {
                request = request.header("origin", origin);
            }
            let response = request.send().await.unwrap();
            assert_eq!(response.status(), StatusCode::CREATED, "{origin:?}");
            assert!(varies(&response), "Vary: Origin for {origin:?}");
            assert_eq!(
                response
                    .headers()
                    .get("access-control-allow-origin")
                    .is_some(),
                origin == Some("http://localhost:5173"),
                "{origin:?}"
            );
        }
        // A preflight from another origin, or for a method CORS does not allow, is answered as
        // OPTIONS is on that route: the envelope, no CORS headers.
        for (origin, method) in [
            ("http://evil.example", "PATCH"),
            ("http://localhost:5173", "TRACE"),
        ] {
            let preflight = app
                .client
                .request(reqwest::Method::OPTIONS, app.url("/users"))
                .header("origin", origin)
                .header("access-control-request-method", method)
                .send()
                .await
                .unwrap();
            assert!(preflight
                .headers()
                .get("access-control-allow-origin")
                .is_none());
            assert!(varies(&preflight));
            assert_eq!(preflight.headers()["allow"], "POST");
            expect_error(
                preflight,
                StatusCode::METHOD_NOT_ALLOWED,
                "METHOD_NOT_ALLOWED",
            )
            .await;
        }

        let database = TestDatabase::create(&backend).await;
        let plain = TestApp::spawn(database.config()).await;
        let response = plain
            .client
            .get(plain.url("/health"))
            .header("origin", "http://localhost:5173")
            .send()
            .await
            .unwrap();
        assert!(
            response
                .headers()
                .keys()
                .all(|name| !name.as_str().starts_with("access-control-")),
            "no CORS without CORS_ORIGINS"
        );
    }
}

#[tokio::test]
async fn sslmode_verify_full_verifies_the_server_certificate() {
    let Some(database) = postgres_database().await else {
        return;
    };
    // The local server's certificate is self-signed for `localhost`: trusted only when named.
    let by_name = database.url.replacen("127.0.0.1", "localhost", 1);
    let separator = if by_name.contains('?') { '&' } else { '?' };
    let trusted = format!(
        "{by_name}{separator}sslmode=verify-full&sslrootcert=/etc/ssl/certs/ssl-cert-snakeoil.pem"
    );
    let db = task_api::db::DatabaseTarget::parse(&trusted)
        .unwrap()
        .connect(1, Duration::from_secs(5));
    task_api::store::ping(&task_api::db::Database::new(db))
        .await
        .expect("verify-full with the server's CA connects");

    let untrusted = format!("{by_name}{separator}sslmode=verify-full");
    let db = task_api::db::DatabaseTarget::parse(&untrusted)
        .unwrap()
        .connect(1, Duration::from_secs(2));
    let refused = task_api::store::ping(&task_api::db::Database::new(db))
        .await
        .expect_err("webpki roots do not trust it");
    let reason = format!("{refused:?}").to_lowercase();
    assert!(
        reason.contains("certificate") || reason.contains("issuer"),
        "{reason}"
    );
}

#[tokio::test]
async fn migrations_run_on_migration_database_url_and_channel_binding_is_warned_about() {
    let Some(admin_url) = postgres_admin_url() else {
        eprintln!("PostgreSQL only: set TEST_DATABASE_URL");
        return;
    };
    let serving = TestDatabase::create(&Backend::Postgres(admin_url.clone())).await;
    let direct = TestDatabase::create(&Backend::Postgres(admin_url)).await;
    // The served URL as Neon's pooler endpoint would be given; migrations go to the direct one.
    let separator = if serving.url.contains('?') { '&' } else { '?' };
    let pooled = format!(
        "{}{separator}sslmode=require&channel_binding=require",
        serving.url
    );
    let env = [
        ("DATABASE_URL", pooled.as_str()),
        ("MIGRATION_DATABASE_URL", direct.url.as_str()),
    ];
    let output = server_command(&env)
        .args(["migrate", "status"])
        .output()
        .await
        .unwrap();
    let log = String::from_utf8_lossy(&output.stderr);
    assert!(output.status.success(), "{log}");
    assert!(
        log.contains("DATABASE_URL asks for channel_binding=require"),
        "{log}"
    );

    let _server = start_server_process(&env, |_| {}).await;
    use sea_orm::ConnectionTrait;
    let tables = |url: String| async move {
        let db = task_api::db::DatabaseTarget::parse(&url)
            .unwrap()
            .connect(1, Duration::from_secs(5));
        let row = db
            .query_one(sea_orm::Statement::from_string(
                db.get_database_backend(),
                "SELECT count(*) AS n FROM information_schema.tables WHERE table_name = 'seaql_migrations'",
            ))
            .await
            .unwrap()
            .unwrap();
        row.try_get::<i64>("", "n").unwrap()
    };
    assert_eq!(
        tables(direct.url.clone()).await,
        1,
        "migrated through MIGRATION_DATABASE_URL"
    );
    assert_eq!(
        tables(serving.url.clone()).await,
        0,
        "not through DATABASE_URL"
    );
}

#[tokio::test]
async fn two_server_processes_started_at_once_both_serve_every_write() {
    let Some(database) = postgres_database().await else {
        return;
    };
    let env = [
        ("DATABASE_URL", database.url.as_str()),
        (
            "CURSOR_SECRET",
            "a secret shared by every instance, 32+ bytes",
        ),
    ];
    // The processes and their logs stay alive until the end of the test.
    let ((_first, first, _first_log), (_second, second, _second_log)) = tokio::join!(
        start_server_process(&env, |_| {}),
        start_server_process(&env, |_| {})
    );
    let client = http_client();
    let user = client.post(format!("{first}/users")).send().await.unwrap();
    let user_id = expect_json(user, StatusCode::CREATED).await["id"]
        .as_str()
        .unwrap()
        .to_owned();
    let writes: Vec<_> = (0..100)
        .map(|i| {
            let address = if i % 2 == 0 { &first } else { &second };
            let request = client
                .post(format!("{address}/users/{user_id}/tasks"))
                .json(&json!({ "title": format!("write {i}") }));
            tokio::spawn(async move { request.send().await.unwrap().status() })
        })
        .collect();
    for write in writes {
        assert_eq!(write.await.unwrap(), StatusCode::CREATED);
    }
    // Read back through the other instance, following its cursor across both.
    let page = client
        .get(format!("{second}/users/{user_id}/tasks?limit=60"))
        .send()
        .await
        .unwrap();
    let page = expect_json(page, StatusCode::OK).await;
    let cursor = page["next_cursor"].as_str().unwrap();
    let rest = client
        .get(format!(
            "{first}/users/{user_id}/tasks?limit=60&cursor={cursor}"
        ))
        .send()
        .await
        .unwrap();
    let rest = expect_json(rest, StatusCode::OK).await;
    let count = page["items"].as_array().unwrap().len() + rest["items"].as_array().unwrap().len();
    assert_eq!(count, 100, "every write through either instance is there");
}
