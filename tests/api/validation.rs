//! Every validation rule: body fields, path and query parameters, all failing fields at once.

use reqwest::StatusCode;
use serde_json::{json, Value};
use uuid::Uuid;

use crate::helpers::{each_database, expect_error, expect_invalid, expect_json, TestApp};

async fn user_and_task(app: &TestApp) -> (Uuid, String) {
    let user_id = app.create_user().await;
    let task = app.create_titled(user_id, "original").await;
    let path = format!("/users/{user_id}/tasks/{}", task["id"].as_str().unwrap());
    (user_id, path)
}

#[tokio::test]
async fn title_must_be_a_non_blank_string_of_at_most_255_characters() {
    each_database(|app| async move {
        let (user_id, task_path) = user_and_task(&app).await;
        let tasks = format!("/users/{user_id}/tasks");
        for title in [
            json!(5),
            json!(true),
            json!(null),
            json!(""),
            json!("   \n\t"),
            json!("x".repeat(256)),
            json!("nul \u{0} inside"),
            json!(["a"]),
            json!({ "a": 1 }),
        ] {
            let body = json!({ "title": title });
            expect_invalid(app.post_json(&tasks, &body).await, &[("title", "body")]).await;
            expect_invalid(app.put_json(&task_path, &body).await, &[("title", "body")]).await;
            expect_invalid(
                app.patch_json(&task_path, &body).await,
                &[("title", "body")],
            )
            .await;
        }
        let missing = expect_invalid(
            app.post_json(&tasks, &json!({})).await,
            &[("title", "body")],
        )
        .await;
        assert!(missing["details"]["fields"][0]["message"]
            .as_str()
            .unwrap()
            .contains("required"));
        expect_invalid(
            app.put_json(&task_path, &json!({ "is_completed": true }))
                .await,
            &[("title", "body")],
        )
        .await;

        // 255 characters as sent, counted as characters not bytes, white space included; stored
        // trimmed.
        let longest = "é".repeat(251);
        let task = app
            .create_task(user_id, json!({ "title": format!("  {longest}  ") }))
            .await;
        assert_eq!(task["title"], longest);
        let padded_too_long = json!({ "title": format!("  {}  ", "é".repeat(252)) });
        expect_invalid(
            app.post_json(&tasks, &padded_too_long).await,
            &[("title", "body")],
        )
        .await;
        // Nothing above was written.
        let unchanged = app.get_ok(&task_path).await;
        assert_eq!(unchanged["title"], "original");
        let page = app.get_ok(&tasks).await;
        assert_eq!(page["items"].as_array().unwrap().len(), 2);
    })
    .await;
}

#[tokio::test]
async fn description_is_a_string_of_at_most_10000_characters_or_null() {
    each_database(|app| async move {
        let (user_id, task_path) = user_and_task(&app).await;
        let tasks = format!("/users/{user_id}/tasks");
        for description in [
            json!(1),
            json!(false),
            json!("é".repeat(10_001)),
            json!("\u{0}"),
            json!([]),
        ] {
            let body = json!({ "title": "t", "description": description });
            expect_invalid(
                app.post_json(&tasks, &body).await,
                &[("description", "body")],
            )
            .await;
            expect_invalid(
                app.put_json(&task_path, &body).await,
                &[("description", "body")],
            )
            .await;
            expect_invalid(
                app.patch_json(&task_path, &json!({ "description": description }))
                    .await,
                &[("description", "body")],
            )
            .await;
        }
        let longest = "é".repeat(10_000);
        let task = app
            .create_task(user_id, json!({ "title": "t", "description": longest }))
            .await;
        assert_eq!(task["description"], longest);
        let task = app
            .create_task(user_id, json!({ "title": "t", "description": null }))
            .await;
        assert_eq!(task["description"], Value::Null);
    })
    .await;
}

#[tokio::test]
async fn is_completed_must_be_a_boolean() {
    each_database(|app| async move {
        let (user_id, task_path) = user_and_task(&app).await;
        let tasks = format!("/users/{user_id}/tasks");
        for value in [json!("true"), json!(1), json!(null)] {
            let body = json!({ "title": "t", "is_completed": value });
            expect_invalid(
                app.post_json(&tasks, &body).await,
                &[("is_completed", "body")],
            )
            .await;
            expect_invalid(
                app.put_json(&task_path, &body).await,
                &[("is_completed", "body")],
            )
            .await;
            expect_invalid(
                app.patch_json(&task_path, &json!({ "is_completed": value }))
                    .await,
                &[("is_completed", "body")],
            )
            .await;
        }
    })
    .await;
}

#[tokio::test]
async fn unknown_and_read_only_fields_are_named() {
    each_database(|app| async move {
        let (user_id, task_path) = user_and_task(&app).await;
        let tasks = format!("/users/{user_id}/tasks");
        let body = json!({
            "title": "t", "completed": true, "id": "x", "user_id": "y",
            "created_at": "2026-01-01T00:00:00Z", "updated_at": "2026-01-01T00:00:00Z"
        });
        let expected = [
            ("completed", "body"),
            ("id", "body"),
            ("user_id", "body"),
            ("created_at", "body"),
            ("updated_at", "body"),
        ];
        let error = expect_invalid(app.post_json(&tasks, &body).await, &expected).await;
        let messages = error["details"]["fields"].to_string();
        assert!(
            messages.contains("read-only") && messages.contains("not a known field"),
            "{messages}"
        );
        expect_invalid(app.put_json(&task_path, &body).await, &expected).await;
        expect_invalid(app.patch_json(&task_path, &body).await, &expected).await;
        let unchanged = app.get_ok(&task_path).await;
        assert_eq!(unchanged["title"], "original");
    })
    .await;
}

#[tokio::test]
async fn every_failing_field_is_listed_at_once_across_path_and_body() {
    each_database(|app| async move {
        expect_invalid(
            app.put_json(
                "/users/not-a-user/tasks/not-a-task",
                &json!({ "title": 5, "description": 6, "is_completed": "no", "colour": "red" }),
            )
            .await,
            &[
                ("user_id", "path"),
                ("task_id", "path"),
                ("title", "body"),
                ("description", "body"),
                ("is_completed", "body"),
                ("colour", "body"),
            ],
        )
        .await;
        expect_invalid(
            app.post_json("/users/1/tasks", &json!({ "description": null }))
                .await,
            &[("user_id", "path"), ("title", "body")],
        )
        .await;
        expect_invalid(
            app.get("/users/1/tasks/2").await,
            &[("user_id", "path"), ("task_id", "path")],
        )
        .await;
        expect_invalid(
            app.delete("/users/1/tasks/2").await,
            &[("user_id", "path"), ("task_id", "path")],
        )
        .await;
    })
    .await;
}

#[tokio::test]
async fn bodies_that_are_not_json_objects_are_malformed() {
    each_database(|app| async move {
        let (user_id, task_path) = user_and_task(&app).await;
        let tasks = format!("/users/{user_id}/tasks");
        for raw in [
            r#"{"title": "#,
            "",
            "[1]",
            "\"title\"",
            "null",
            "{\"title\":\"a\"} trailing",
        ] {
            for (method, path) in [
                (reqwest::Method::POST, &tasks),
                (reqwest::Method::PUT, &task_path),
                (reqwest::Method::PATCH, &task_path),
            ] {
                let response = app
                    .client
                    .request(method, app.url(path))
                    .header("content-type", "application/json")
                    .body(raw)
                    .send()
                    .await
                    .unwrap();
                expect_error(response, StatusCode::BAD_REQUEST, "MALFORMED_JSON").await;
            }
        }
    })
    .await;
}

#[tokio::test]
async fn a_body_needs_a_json_content_type() {
    each_database(|app| async move {
        let (user_id, task_path) = user_and_task(&app).await;
        let tasks = format!("/users/{user_id}/tasks");
        let body = r#"{"title":"a"}"#;
        for content_type in [
            None,
            Some("text/plain"),
            Some("application/xml"),
            Some("application/jsonx"),
        ] {
            for (method, path) in [
                (reqwest::Method::POST, tasks.as_str()),
                (reqwest::Method::PUT, task_path.as_str()),
                (reqwest::Method::PATCH, task_path.as_str()),
                (reqwest::Method::POST, "/users"),
            ] {
                let mut request = app.client.request(method, app.url(path)).body(body);
                if let Some(content_type) = content_type {
                    request = request.header("content-type", content_type);
                }
                expect_error(
                    request.send().await.unwrap(),
                    StatusCode::UNSUPPORTED_MEDIA_TYPE,
                    "UNSUPPORTED_MEDIA_TYPE",
                )
                .await;
            }
        }
        // Parameters of the media type are fine.
        let response = app
            .client
            .post(app.url(&tasks))
            .header("content-type", "application/json; charset=utf-8")
            .body(body)
            .send()
            .await
            .unwrap();
        expect_json(response, StatusCode::CREATED).await;
    })
    .await;
}

#[tokio::test]
async fn list_parameters_are_checked_never_clamped() {
    each_database(|app| async move {
        let user_id = app.create_user().await;
        let tasks = format!("/users/{user_id}/tasks");
        for limit in ["0", "101", "-1", "abc", "1.5", ""] {
            expect_invalid(
                app.get(&format!("{tasks}?limit={limit}")).await,
                &[("limit", "query")],
            )
            .await;
        }
        for limit in ["1", "100"] {
            app.get_ok(&format!("{tasks}?limit={limit}")).await;
        }
        expect_invalid(
            app.get(&format!("{tasks}?sort=name")).await,
            &[("sort", "query")],
        )
        .await;
        expect_invalid(
            app.get(&format!("{tasks}?completed=yes")).await,
            &[("completed", "query")],
        )
        .await;
        expect_invalid(
            app.get(&format!("{tasks}?cursor=abc")).await,
            &[("cursor", "query")],
        )
        .await;
        for q in ["x".repeat(256), "%00".to_owned()] {
            expect_invalid(app.get(&format!("{tasks}?q={q}")).await, &[("q", "query")]).await;
        }
        expect_invalid(
            app.get("/users/x/tasks?limit=0&sort=x&completed=x&cursor=x")
                .await,
            &[
                ("user_id", "path"),
                ("limit", "query"),
                ("sort", "query"),
                ("completed", "query"),
                ("cursor", "query"),
            ],
        )
        .await;
    })
    .await;
}
