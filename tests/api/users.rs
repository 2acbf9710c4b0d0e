//! `/users`: register (with or without an id), read, delete with the user's tasks.

use reqwest::StatusCode;
use serde_json::json;

use crate::helpers::{each_database, expect_error, expect_invalid, expect_json};

#[tokio::test]
async fn create_user_without_body_makes_an_id_and_points_to_it() {
    each_database(|app| async move {
        let response = app.client.post(app.url("/users")).send().await.unwrap();
        let location = response.headers()["location"].to_str().unwrap().to_owned();
        let user = expect_json(response, StatusCode::CREATED).await;
        let id = user["id"].as_str().unwrap();
        assert!(uuid::Uuid::parse_str(id).is_ok());
        assert_eq!(location, format!("/users/{id}"));
        let fetched = app.get_ok(&location).await;
        assert_eq!(fetched, user);
        assert_eq!(user.as_object().unwrap().len(), 2, "{user}");
    })
    .await;
}

#[tokio::test]
async fn create_user_with_an_external_id_then_the_same_id_conflicts() {
    each_database(|app| async move {
        let id = uuid::Uuid::new_v4().to_string();
        let user = expect_json(
            app.post_json("/users", &json!({ "id": id })).await,
            StatusCode::CREATED,
        )
        .await;
        assert_eq!(user["id"], id);
        let error = expect_error(
            app.post_json("/users", &json!({ "id": id })).await,
            StatusCode::CONFLICT,
            "USER_ALREADY_EXISTS",
        )
        .await;
        assert!(error["message"].as_str().unwrap().contains(&id));
    })
    .await;
}

#[tokio::test]
async fn create_user_with_an_empty_object_makes_an_id() {
    each_database(|app| async move {
        let user = expect_json(
            app.post_json("/users", &json!({})).await,
            StatusCode::CREATED,
        )
        .await;
        assert!(user["id"].is_string());
    })
    .await;
}

#[tokio::test]
async fn create_user_refuses_bad_ids_and_unknown_fields() {
    each_database(|app| async move {
        expect_invalid(
            app.post_json(
                "/users",
                &json!({ "id": "not-a-uuid", "name": "x", "created_at": "2026-01-01T00:00:00Z" }),
            )
            .await,
            &[("id", "body"), ("name", "body"), ("created_at", "body")],
        )
        .await;
        expect_invalid(
            app.post_json("/users", &json!({ "id": 7 })).await,
            &[("id", "body")],
        )
        .await;
        expect_error(
            app.post_json("/users", &json!(["x"])).await,
            StatusCode::BAD_REQUEST,
            "MALFORMED_JSON",
        )
        .await;
    })
    .await;
}

#[tokio::test]
async fn get_user_that_does_not_exist_is_404_and_bad_id_is_400() {
    each_database(|app| async move {
        let id = uuid::Uuid::new_v4();
        let error = expect_error(
            app.get(&format!("/users/{id}")).await,
            StatusCode::NOT_FOUND,
            "USER_NOT_FOUND",
        )
        .await;
        assert!(error["message"].as_str().unwrap().contains(&id.to_string()));
        expect_invalid(app.get("/users/123").await, &[("user_id", "path")]).await;
    })
    .await;
}

#[tokio::test]
async fn delete_user_deletes_the_users_tasks_with_it() {
    each_database(|app| async move {
        let user_id = app.create_user().await;
        let other_user = app.create_user().await;
        let task = app.create_titled(user_id, "doomed").await;
        let kept = app.create_titled(other_user, "kept").await;

        let response = app.delete(&format!("/users/{user_id}")).await;
        assert_eq!(response.status(), StatusCode::NO_CONTENT);
        assert!(response.text().await.unwrap().is_empty());

        expect_error(
            app.get(&format!("/users/{user_id}")).await,
            StatusCode::NOT_FOUND,
            "USER_NOT_FOUND",
        )
        .await;
        expect_error(
            app.delete(&format!("/users/{user_id}")).await,
            StatusCode::NOT_FOUND,
            "USER_NOT_FOUND",
        )
        .await;
        // The same id registered again has no tasks: they went with the user.
        expect_json(
            app.post_json("/users", &json!({ "id": user_id })).await,
            StatusCode::CREATED,
        )
        .await;
        let page = app.get_ok(&format!("/users/{user_id}/tasks")).await;
        assert_eq!(page["items"], json!([]));
        expect_error(
            app.get(&format!(
                "/users/{user_id}/tasks/{}",
                task["id"].as_str().unwrap()
            ))
            .await,
            StatusCode::NOT_FOUND,
            "TASK_NOT_FOUND",
        )
        .await;
        // Another user's tasks are untouched.
        let other = expect_json(
            app.get(&format!(
                "/users/{other_user}/tasks/{}",
                kept["id"].as_str().unwrap()
            ))
            .await,
            StatusCode::OK,
        )
        .await;
        assert_eq!(other, kept);
    })
    .await;
}

#[tokio::test]
async fn delete_user_with_bad_id_is_400() {
    each_database(|app| async move {
        expect_invalid(app.delete("/users/xyz").await, &[("user_id", "path")]).await;
    })
    .await;
}
