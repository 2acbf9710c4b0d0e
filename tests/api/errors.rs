//! The envelope on every error: unknown routes, wrong methods, size limits, panics, outages.

use std::time::{Duration, Instant};

use reqwest::StatusCode;
use serde_json::json;
use tokio::io::{AsyncReadExt, AsyncWriteExt};

use crate::helpers::{
    each_database, expect_error, http_client_builder, Backend, TestApp, TestDatabase,
};

#[tokio::test]
async fn unknown_routes_and_methods_answer_with_the_envelope() {
    each_database(|app| async move {
        for path in ["/nothing", "/users/x/tasks/y/z", "/tasks"] {
            expect_error(app.get(path).await, StatusCode::NOT_FOUND, "NOT_FOUND").await;
        }
        let user_id = app.create_user().await;
        // Each 405 names the methods its route allows (RFC 9110).
        for (method, path, allowed) in [
            (reqwest::Method::PUT, "/health".to_owned(), "GET, HEAD"),
            (reqwest::Method::DELETE, "/users".to_owned(), "POST"),
            (
                reqwest::Method::PATCH,
                format!("/users/{user_id}"),
                "DELETE, GET, HEAD",
            ),
            (
                reqwest::Method::PUT,
                format!("/users/{user_id}/tasks"),
                "GET, HEAD, POST",
            ),
            (
                reqwest::Method::POST,
                format!("/users/{user_id}/tasks/{user_id}"),
                "DELETE, GET, HEAD, PATCH, PUT",
            ),
            (reqwest::Method::POST, "/docs".to_owned(), "GET, HEAD"),
            (
                reqwest::Method::OPTIONS,
                "/openapi.json".to_owned(),
                "GET, HEAD",
            ),
        ] {
            let response = app
                .client
                .request(method.clone(), app.url(&path))
                .send()
                .await
                .unwrap();
            assert_eq!(
                response
                    .headers()
                    .get("allow")
                    .and_then(|v| v.to_str().ok()),
                Some(allowed),
                "{method} {path}"
            );
            expect_error(
                response,
                StatusCode::METHOD_NOT_ALLOWED,
                "METHOD_NOT_ALLOWED",
            )
            .await;
        }
    })
    .await;
}

#[tokio::test]
async fn a_body_over_one_mebibyte_is_413_and_writes_nothing() {
    each_database(|app| async move {
        let user_id = app.create_user().await;
        let tasks = format!("/users/{user_id}/tasks");
        let huge = json!({ "title": "t", "description": "x".repeat(1024 * 1024) });
        expect_error(
            app.post_json(&tasks, &huge).await,
            StatusCode::PAYLOAD_TOO_LARGE,
            "PAYLOAD_TOO_LARGE",
        )
        .await;
        let page = app.get_ok(&tasks).await;
        assert_eq!(page["items"], json!([]));
        // Just under the limit is parsed (and refused for its description's length instead).
        expect_error(
            app.post_json("/users", &json!({ "id": "x".repeat(1024 * 1024) }))
                .await,
            StatusCode::PAYLOAD_TOO_LARGE,
            "PAYLOAD_TOO_LARGE",
        )
        .await;
        // Operations without a body do not read one, so they never answer 413.
        let listed = app
            .client
            .get(app.url(&tasks))
            .body(vec![b'x'; 2 * 1024 * 1024])
            .send()
            .await
            .unwrap();
        assert_eq!(listed.status(), StatusCode::OK);
        let under = json!({ "title": "t", "description": "x".repeat(1024 * 1024 - 100) });
        expect_error(
            app.post_json(&tasks, &under).await,
            StatusCode::BAD_REQUEST,
            "VALIDATION_ERROR",
        )
        .await;
    })
    .await;
}

#[tokio::test]
async fn a_chunked_body_over_the_limit_is_413() {
    each_database(|app| async move {
        let user_id = app.create_user().await;
        let address = app.address.trim_start_matches("http://").to_owned();
        let mut stream = tokio::net::TcpStream::connect(&address).await.unwrap();
        let head = format!(
            "POST /users/{user_id}/tasks HTTP/1.1\r\nHost: {address}\r\nContent-Type: application/json\r\nTransfer-Encoding: chunked\r\n\r\n"
        );
        stream.write_all(head.as_bytes()).await.unwrap();
        let chunk = vec![b' '; 64 * 1024];
        // Up to 2 MiB in chunks; the server may answer and close before all of it is sent.
        for _ in 0..32 {
            let mut framed = format!("{:x}\r\n", chunk.len()).into_bytes();
            framed.extend_from_slice(&chunk);
            framed.extend_from_slice(b"\r\n");
            if stream.write_all(&framed).await.is_err() {
                break;
            }
        }
        let _ = stream.write_all(b"0\r\n\r\n").await;
        let mut answer = Vec::new();
        let _ = tokio::time::timeout(Duration::from_secs(10), stream.read_to_end(&mut answer)).await;
        let answer = String::from_utf8_lossy(&answer);
        assert!(answer.starts_with("HTTP/1.1 413"), "{answer}");
        assert!(answer.to_ascii_lowercase().contains("content-type: application/json"), "{answer}");
        assert!(answer.contains(r#""code":"PAYLOAD_TOO_LARGE""#), "{answer}");
        // The rest of the body is never read: the connection cannot carry another request.
        assert!(answer.to_ascii_lowercase().contains("connection: close"), "{answer}");
    })
    .await;
}

#[tokio::test]
async fn a_get_without_content_length_is_served() {
    each_database(|app| async move {
        let address = app.address.trim_start_matches("http://").to_owned();
        let mut stream = tokio::net::TcpStream::connect(&address).await.unwrap();
        let request =
            format!("GET /health HTTP/1.1\r\nHost: {address}\r\nConnection: close\r\n\r\n");
        stream.write_all(request.as_bytes()).await.unwrap();
        let mut answer = vec![0u8; 4096];
        let read = stream.read(&mut answer).await.unwrap();
        let answer = String::from_utf8_lossy(&answer[..read]);
        assert!(answer.starts_with("HTTP/1.1 200"), "{answer}");
    })
    .await;
}

#[tokio::test]
async fn a_panic_in_a_handler_is_a_500_envelope_without_the_panic_text() {
    each_database(|app| async move {
        let response = app.get("/__extra/panic").await;
        let error = expect_error(
            response,
            StatusCode::INTERNAL_SERVER_ERROR,
            "INTERNAL_ERROR",
        )
        .await;
        assert!(!error.to_string().contains("secret"), "{error}");
        // The server keeps serving.
        app.get_ok("/health").await;
    })
    .await;
}

#[tokio::test]
async fn an_unreachable_database_is_503_within_the_acquire_timeout() {
    // Port 9 (discard) on loopback: nothing listens, connections are refused.
    let database = TestDatabase::create(&Backend::Sqlite).await;
    let mut config = database.config();
    config.database =
        task_api::db::DatabaseTarget::parse("postgres://nobody@127.0.0.1:9/none").unwrap();
    config.database_acquire_timeout = Duration::from_secs(1);
    config.run_migrations = false;
    config.startup_database_wait = Duration::ZERO;
    let app = TestApp::spawn(config).await;
    let user_id = uuid::Uuid::new_v4();
    let started = Instant::now();
    expect_error(
        app.get(&format!("/users/{user_id}/tasks")).await,
        StatusCode::SERVICE_UNAVAILABLE,
        "SERVICE_UNAVAILABLE",
    )
    .await;
    expect_error(
        app.post_json(&format!("/users/{user_id}/tasks"), &json!({ "title": "t" }))
            .await,
        StatusCode::SERVICE_UNAVAILABLE,
        "SERVICE_UNAVAILABLE",
    )
    .await;
    let error = expect_error(
        app.get("/ready").await,
        StatusCode::SERVICE_UNAVAILABLE,
        "SERVICE_UNAVAILABLE",
    )
    .await;
    assert!(
        !error.to_string().contains("127.0.0.1"),
        "no driver text: {error}"
    );
    assert!(
        started.elapsed() < Duration::from_secs(5),
        "took {:?}",
        started.elapsed()
    );
    app.get_ok("/health").await;
}

#[tokio::test]
async fn health_ready_docs_and_documents_are_served() {
    each_database(|app| async move {
        assert_eq!(app.get_ok("/health").await, json!({ "status": "ok" }));
        assert_eq!(app.get_ok("/ready").await, json!({ "status": "ok" }));
        let docs = app.get("/docs").await;
        assert_eq!(docs.status(), StatusCode::OK);
        assert!(docs.text().await.unwrap().contains("swagger-ui"));
        let no_redirects = http_client_builder()
            .redirect(reqwest::redirect::Policy::none())
            .build()
            .unwrap();
        let root = no_redirects.get(app.url("/")).send().await.unwrap();
        assert!(root.status().is_redirection());
        assert_eq!(root.headers()["location"], "/docs");

        let document = app.get_ok("/openapi.json").await;
        let mut operation_ids: Vec<String> = document["paths"]
            .as_object()
            .unwrap()
            .values()
            .flat_map(|path| path.as_object().unwrap().values())
            .map(|operation| operation["operationId"].as_str().unwrap().to_owned())
            .collect();
        operation_ids.sort();
        assert_eq!(
            operation_ids,
            [
                "applyBatch",
                "createEventTicket",
                "createList",
                "createTask",
                "createUser",
                "deleteList",
                "deleteTask",
                "deleteUser",
                "getCurrentUser",
                "getList",
                "getTask",
                "getUser",
                "health",
                "listChanges",
                "listLists",
                "listTags",
                "listTasks",
                "moveTask",
                "ready",
                "replaceTask",
                "streamEvents",
                "updateList",
                "updateTask"
            ]
        );
        let yaml = app.get("/openapi.yaml").await;
        assert_eq!(yaml.status(), StatusCode::OK);
        assert!(yaml
            .text()
            .await
            .unwrap()
            .contains("operationId: createTask"));
    })
    .await;
}
