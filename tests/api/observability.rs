//! What operators see: a request id on every answer, one structured log line per request, and
//! Prometheus metrics per operation and status.

use reqwest::StatusCode;
use serde_json::{json, Value};

use crate::helpers::{
    create_user_at, each_database, http_client, metrics_at, start_server_process,
};

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
        app.create_titled(user_id, "counted").await;
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
async fn metrics_count_every_request_once_per_operation_and_status() {
    // A process of its own: its recorder counts only the requests sent here.
    let (_child, address, _log) =
        start_server_process(&[("DATABASE_URL", "sqlite::memory:")], |_| {}).await;
    let client = http_client();
    let user = create_user_at(&client, &address).await;
    let user_path = format!("{address}/users/{}", user["id"].as_str().unwrap());
    let missing_path = format!("{address}/users/{}", uuid::Uuid::new_v4());
    for (path, times) in [(&user_path, 3), (&missing_path, 2)] {
        for _ in 0..times {
            client.get(path).send().await.unwrap();
        }
    }
    let text = metrics_at(&client, &address).await;
    for expected in [
        r#"http_requests_total{operation="createUser",status="201"} 1"#,
        r#"http_requests_total{operation="getUser",status="200"} 3"#,
        r#"http_requests_total{operation="getUser",status="404"} 2"#,
        r#"http_request_duration_seconds_count{operation="getUser",status="200"} 3"#,
        r#"http_request_duration_seconds_count{operation="getUser",status="404"} 2"#,
    ] {
        assert!(
            text.lines().any(|line| line == expected),
            "{expected} in\n{text}"
        );
    }
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
