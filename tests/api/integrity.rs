//! Writes that never lie: an answer of "not done" only when nothing was done, times that never
//! go backwards, statements that survive a schema change under a live server.

use std::sync::Arc;
use std::time::{Duration, Instant};

use reqwest::StatusCode;
use sea_orm::sqlx::{self, Connection, PgConnection};
use sea_orm::ConnectionTrait;
use serde_json::{json, Value};
use task_api::db::DatabaseTarget;

use crate::helpers::{
    expect_error, expect_json, hold_locks, postgres_database, remove_sqlite_files, shared_database,
    wait_until, Backend, PgProxy, TestApp, TestDatabase,
};

/// Writes stuck behind another session's locks answer 503 within `deadline`; once the locks are
/// gone, none of them turns out to have happened, and the same requests sent again succeed.
async fn stuck_writes_answer_503_having_done_nothing(
    backend: &Backend,
    configure: impl FnOnce(&mut task_api::config::Config),
    deadline: Duration,
) {
    let (database, mut config, file) = shared_database(backend).await;
    configure(&mut config);
    let app = Arc::new(TestApp::spawn(config).await);
    let user_id = app.create_user().await;
    let task = app.create_titled(user_id, "locked").await;
    let task_id = task["id"].as_str().unwrap().to_owned();
    let (tasks, user) = (
        format!("/users/{user_id}/tasks"),
        format!("/users/{user_id}"),
    );
    let task_path = format!("{tasks}/{task_id}");
    let (_locker, transaction) = hold_locks(&database.url, user_id, &task_id).await;

    let started = Instant::now();
    let create = {
        let (app, tasks) = (app.clone(), tasks.clone());
        tokio::spawn(async move { app.post_json(&tasks, &json!({ "title": "new" })).await })
    };
    let change = {
        let (app, task_path) = (app.clone(), task_path.clone());
        tokio::spawn(async move {
            app.patch_json(&task_path, &json!({ "title": "changed" }))
                .await
        })
    };
    let delete = {
        let (app, user) = (app.clone(), user.clone());
        tokio::spawn(async move { app.delete(&user).await })
    };
    for answer in [create, change, delete] {
        let answer = answer.await.unwrap();
        assert_eq!(answer.headers()["retry-after"], "1");
        expect_error(
            answer,
            StatusCode::SERVICE_UNAVAILABLE,
            "SERVICE_UNAVAILABLE",
        )
        .await;
    }
    let waited = started.elapsed();
    assert!(waited < deadline, "answered by {deadline:?}: {waited:?}");
    // The locks go; had a statement been left running, it would commit now.
    transaction.rollback().await.unwrap();
    tokio::time::sleep(Duration::from_millis(300)).await;

    let page = app.get_ok(&format!("{tasks}?limit=100")).await;
    let stored: Vec<&str> = page["items"]
        .as_array()
        .unwrap()
        .iter()
        .map(|task| task["title"].as_str().unwrap())
        .collect();
    assert_eq!(
        stored,
        ["locked"],
        "no task was created or changed, no user deleted"
    );
    expect_json(
        app.patch_json(&task_path, &json!({ "title": "changed" }))
            .await,
        StatusCode::OK,
    )
    .await;
    expect_json(
        app.post_json(&tasks, &json!({ "title": "new" })).await,
        StatusCode::CREATED,
    )
    .await;
    assert_eq!(app.delete(&user).await.status(), StatusCode::NO_CONTENT);
    remove_sqlite_files(file);
}

#[tokio::test]
async fn writes_stuck_past_the_request_timeout_wait_for_the_database_to_give_up_first() {
    // The request timeout (1 s) passes while the statements wait; they are not abandoned
    // mid-flight (they would commit once the locks go), the database ends them at 2 s.
    for backend in Backend::all() {
        eprintln!("--- on {backend:?}");
        stuck_writes_answer_503_having_done_nothing(
            &backend,
            |config| {
                config.http.request_timeout = Duration::from_secs(1);
                config.database = config
                    .database
                    .clone()
                    .with_statement_timeout(Duration::from_secs(2));
            },
            Duration::from_secs(5),
        )
        .await;
    }
}

#[tokio::test]
async fn writes_stuck_behind_a_lock_answer_503_at_the_databases_own_timeout() {
    // PostgreSQL's statement timeout or SQLite's busy timeout (1 s here) ends the wait.
    for backend in Backend::all() {
        eprintln!("--- on {backend:?}");
        stuck_writes_answer_503_having_done_nothing(
            &backend,
            |config| {
                config.database = config
                    .database
                    .clone()
                    .with_statement_timeout(Duration::from_secs(1));
            },
            Duration::from_secs(4),
        )
        .await;
    }
}

#[tokio::test]
async fn a_write_whose_connection_is_lost_in_flight_says_its_outcome_is_unknown() {
    let Some(database) = postgres_database().await else {
        return;
    };
    let proxy = PgProxy::to("127.0.0.1:5432").await;
    let mut config = database.config();
    config.database = DatabaseTarget::parse(&database.proxied_url(&proxy)).unwrap();
    let app = Arc::new(TestApp::spawn(config).await);
    let user_id = app.create_user().await;
    let task = app.create_titled(user_id, "first").await;
    let (_locker, transaction) =
        hold_locks(&database.url, user_id, task["id"].as_str().unwrap()).await;

    // The create (a statement of creates, `WITH "input" …`: pg_stat_activity keeps only the
    // first KiB of its text) has reached PostgreSQL and waits there when the connection is lost:
    // it may still commit, so the answer must not invite a blind retry.
    let create = {
        let app = app.clone();
        tokio::spawn(async move {
            app.post_json(
                &format!("/users/{user_id}/tasks"),
                &json!({ "title": "in flight" }),
            )
            .await
        })
    };
    let admin = database.url.clone();
    wait_until("the create waiting on the lock inside PostgreSQL", || {
        let admin = admin.clone();
        async move {
            let mut admin = PgConnection::connect(&admin).await.unwrap();
            let waiting: i64 = sqlx::query_scalar(
                "SELECT count(*) FROM pg_stat_activity WHERE datname = current_database() \
                 AND wait_event_type = 'Lock' AND query LIKE 'WITH \"input\"%'",
            )
            .fetch_one(&mut admin)
            .await
            .unwrap();
            waiting > 0
        }
    })
    .await;
    proxy.sever();
    let answer = create.await.unwrap();
    assert!(answer.headers().get("retry-after").is_none());
    let error = expect_error(answer, StatusCode::INTERNAL_SERVER_ERROR, "INTERNAL_ERROR").await;
    assert!(
        error["message"]
            .as_str()
            .unwrap()
            .contains("may or may not have been applied"),
        "{error}"
    );
    transaction.rollback().await.unwrap();
    proxy.restore();
}

#[tokio::test]
async fn updated_at_never_goes_backwards_under_concurrent_writes() {
    // Writers take their turns in an order of the database's (SQLite's busy handler retries in
    // no particular order): each one's time is taken before it waits.
    for backend in Backend::all() {
        eprintln!("--- on {backend:?}");
        let (database, config, file) = shared_database(&backend).await;
        let app = Arc::new(TestApp::spawn(config).await);
        let user_id = app.create_user().await;
        let other = app.create_titled(user_id, "other").await;
        let task = app.create_titled(user_id, "contended").await;
        let task_id = task["id"].as_str().unwrap();
        let path = format!("/users/{user_id}/tasks/{task_id}");
        let (_locker, transaction) = hold_locks(&database.url, user_id, task_id).await;
        let mut writers = Vec::new();
        for n in 0..30 {
            let (app, path) = (app.clone(), path.clone());
            writers.push(tokio::spawn(async move {
                let answer = app
                    .patch_json(&path, &json!({ "title": format!("w{n}") }))
                    .await;
                expect_json(answer, StatusCode::OK).await
            }));
            tokio::time::sleep(Duration::from_millis(5)).await;
        }
        tokio::time::sleep(Duration::from_millis(200)).await;
        transaction.rollback().await.unwrap();
        let mut latest_acknowledged = String::new();
        for writer in writers {
            let written = writer.await.unwrap();
            let written_at = written["updated_at"].as_str().unwrap().to_owned();
            latest_acknowledged = latest_acknowledged.max(written_at);
        }
        let stored = app.get_ok(&path).await;
        let stored_at = stored["updated_at"].as_str().unwrap();
        assert!(
            stored_at >= latest_acknowledged.as_str(),
            "stored {stored_at}, yet a write was acknowledged at {latest_acknowledged}"
        );
        let page = app
            .get_ok(&format!("/users/{user_id}/tasks?sort=-updated_at"))
            .await;
        assert_eq!(page["items"][0], stored, "the last write leads");
        assert_eq!(page["items"][1]["id"], other["id"]);
        remove_sqlite_files(file);
    }
}

#[tokio::test]
async fn statements_survive_a_schema_change_under_a_live_server() {
    let Some(database) = postgres_database().await else {
        return;
    };
    let app = TestApp::spawn(database.config()).await;
    let user_id = app.create_user().await;
    let task = app.create_titled(user_id, "before").await;
    let path = format!("/users/{user_id}/tasks/{}", task["id"].as_str().unwrap());
    let exercise = |title: &'static str| {
        let (app, path, user_id) = (&app, path.clone(), user_id);
        async move {
            // Every statement, several times over, so that each is prepared on the connection.
            for _ in 0..3 {
                expect_json(app.get(&path).await, StatusCode::OK).await;
                expect_json(
                    app.patch_json(&path, &json!({ "title": title })).await,
                    StatusCode::OK,
                )
                .await;
                expect_json(
                    app.put_json(&path, &json!({ "title": title, "description": "d" }))
                        .await,
                    StatusCode::OK,
                )
                .await;
                app.get_ok(&format!("/users/{user_id}/tasks")).await;
                let created = app.create_titled(user_id, "extra").await;
                let extra = format!("/users/{user_id}/tasks/{}", created["id"].as_str().unwrap());
                assert_eq!(app.delete(&extra).await.status(), StatusCode::NO_CONTENT);
            }
        }
    };
    exercise("prepared").await;
    let admin = sea_orm::Database::connect(&database.url).await.unwrap();
    // An additive migration of a later release: a new column with a default.
    admin
        .execute_unprepared("ALTER TABLE tasks ADD COLUMN snoozes integer NOT NULL DEFAULT 0")
        .await
        .unwrap();
    exercise("after a column was added").await;
    // A change of a column's type changes the result of every cached plan that reads it.
    admin
        .execute_unprepared("ALTER TABLE tasks ALTER COLUMN description TYPE varchar(10000)")
        .await
        .unwrap();
    exercise("after a type changed").await;
    admin.close().await.unwrap();
}

#[tokio::test]
async fn a_body_trickling_in_past_the_request_timeout_is_answered_408_having_done_nothing() {
    use tokio::io::{AsyncReadExt, AsyncWriteExt};
    for backend in Backend::all() {
        eprintln!("--- on {backend:?}");
        let database = TestDatabase::create(&backend).await;
        let mut config = database.config();
        config.http.request_timeout = Duration::from_secs(1);
        let app = TestApp::spawn(config).await;
        let user_id = app.create_user().await;
        let body = r#"{"title":"slow upload"}"#;
        let mut stream = tokio::net::TcpStream::connect(app.address.trim_start_matches("http://"))
            .await
            .unwrap();
        let head = format!(
            "POST /users/{user_id}/tasks HTTP/1.1\r\nHost: x\r\nContent-Type: application/json\r\n\
             Content-Length: {}\r\n\r\n",
            body.len()
        );
        stream.write_all(head.as_bytes()).await.unwrap();
        let started = Instant::now();
        // One byte every 300 ms: the body would take 7 s.
        let mut answer = Vec::new();
        for byte in body.as_bytes() {
            if stream.write_all(&[*byte]).await.is_err() {
                break;
            }
            let mut chunk = [0u8; 4096];
            match tokio::time::timeout(Duration::from_millis(300), stream.read(&mut chunk)).await {
                Ok(Ok(0)) | Ok(Err(_)) => break,
                Ok(Ok(n)) => answer.extend_from_slice(&chunk[..n]),
                Err(_) => {}
            }
            if !answer.is_empty() {
                break;
            }
        }
        let waited = started.elapsed();
        let answer = String::from_utf8_lossy(&answer).into_owned();
        assert!(answer.starts_with("HTTP/1.1 408"), "{answer}");
        assert!(answer.contains(r#""code":"REQUEST_TIMEOUT""#), "{answer}");
        assert!(waited < Duration::from_secs(3), "{waited:?}");
        let page: Value = app.get_ok(&format!("/users/{user_id}/tasks")).await;
        assert_eq!(page["items"], json!([]), "nothing was created");
    }
}
