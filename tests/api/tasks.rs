//! Task operations: create, get, replace, update, delete; user isolation; timestamps.

use reqwest::{Method, StatusCode};
use serde_json::{json, Value};
use uuid::Uuid;

use crate::helpers::{each_database, expect_error, expect_json, TestApp};

fn task_path(user_id: &Uuid, task: &Value) -> String {
    format!("/users/{user_id}/tasks/{}", task["id"].as_str().unwrap())
}

fn is_micros_utc(value: &Value) -> bool {
    let text = value.as_str().unwrap_or_default();
    // 2026-11-24T06:21:35.123456Z
    text.len() == 27
        && text.ends_with('Z')
        && text.as_bytes()[19] == b'.'
        && chrono::DateTime::parse_from_rfc3339(text).is_ok()
}

#[tokio::test]
async fn create_task_returns_the_whole_task_and_its_location() {
    each_database(|app| async move {
        let user_id = app.create_user().await;
        let response = app
            .post_json(
                &format!("/users/{user_id}/tasks"),
                &json!({ "title": "  Buy milk \t" }),
            )
            .await;
        let location = response.headers()["location"].to_str().unwrap().to_owned();
        let etag = response.headers()["etag"].to_str().unwrap().to_owned();
        assert!(response.headers().get("idempotent-replayed").is_none());
        let task = expect_json(response, StatusCode::CREATED).await;
        let keys: Vec<&str> = task
            .as_object()
            .unwrap()
            .keys()
            .map(String::as_str)
            .collect();
        assert_eq!(
            keys,
            [
                "id",
                "user_id",
                "title",
                "description",
                "is_completed",
                "completed_at",
                "due",
                "priority",
                "tags",
                "recurrence",
                "list_id",
                "position",
                "created_at",
                "updated_at",
                "version"
            ]
        );
        assert_eq!(task["completed_at"], Value::Null);
        assert_eq!(task["list_id"], Value::Null);
        assert_eq!(task["position"], "a0", "the first of the inbox");
        assert_eq!(task["due"], Value::Null);
        assert_eq!(task["priority"], "none");
        assert_eq!(task["tags"], json!([]));
        assert_eq!(task["recurrence"], Value::Null);
        assert_eq!(task["user_id"], user_id.to_string());
        assert_eq!(task["title"], "Buy milk");
        assert_eq!(task["description"], Value::Null);
        assert_eq!(task["is_completed"], false);
        assert!(is_micros_utc(&task["created_at"]), "{task}");
        assert_eq!(task["created_at"], task["updated_at"]);
        // The user's first change is number 1, and the ETag says so.
        assert_eq!(task["version"], 1);
        assert_eq!(etag, "\"1\"");
        assert_eq!(location, task_path(&user_id, &task));
        assert_eq!(app.get_ok(&location).await, task);
    })
    .await;
}

#[tokio::test]
async fn create_task_with_every_field() {
    each_database(|app| async move {
        let user_id = app.create_user().await;
        let task = app
            .create_task(
                user_id,
                json!({ "title": "Crème brûlée", "description": "été", "is_completed": true }),
            )
            .await;
        assert_eq!(task["title"], "Crème brûlée");
        assert_eq!(task["description"], "été");
        assert_eq!(task["is_completed"], true);
        let fetched = app.get_ok(&task_path(&user_id, &task)).await;
        assert_eq!(fetched, task);
    })
    .await;
}

#[tokio::test]
async fn task_operations_on_a_missing_user_are_user_not_found() {
    each_database(|app| async move {
        let ghost = uuid::Uuid::new_v4();
        let task_id = uuid::Uuid::new_v4();
        let tasks = format!("/users/{ghost}/tasks");
        let one = format!("{tasks}/{task_id}");
        let body = json!({ "title": "x" });
        for response in [
            app.post_json(&tasks, &body).await,
            app.get(&tasks).await,
            app.get(&one).await,
            app.put_json(&one, &body).await,
            app.patch_json(&one, &body).await,
            app.patch_json(&one, &json!({})).await,
            app.delete(&one).await,
        ] {
            expect_error(response, StatusCode::NOT_FOUND, "USER_NOT_FOUND").await;
        }
    })
    .await;
}

/// Every operation on one task, with the same body where it takes one.
async fn every_task_operation(app: &TestApp, path: &str) -> Vec<reqwest::Response> {
    let body = json!({ "title": "stolen" });
    vec![
        app.get(path).await,
        app.put_json(path, &body).await,
        app.patch_json(path, &body).await,
        app.patch_json(path, &json!({})).await,
        app.delete(path).await,
    ]
}

#[tokio::test]
async fn another_users_task_is_not_found_exactly_like_a_missing_one() {
    each_database(|app| async move {
        let owner = app.create_user().await;
        let intruder = app.create_user().await;
        let task = app.create_titled(owner, "private").await;
        let task_id = task["id"].as_str().unwrap();
        let missing_id = uuid::Uuid::new_v4().to_string();

        let foreign =
            every_task_operation(&app, &format!("/users/{intruder}/tasks/{task_id}")).await;
        let missing =
            every_task_operation(&app, &format!("/users/{intruder}/tasks/{missing_id}")).await;
        for (foreign, missing) in foreign.into_iter().zip(missing) {
            let foreign = expect_error(foreign, StatusCode::NOT_FOUND, "TASK_NOT_FOUND").await;
            let missing = expect_error(missing, StatusCode::NOT_FOUND, "TASK_NOT_FOUND").await;
            assert_eq!(
                foreign["message"].as_str().unwrap().replace(task_id, "ID"),
                missing["message"]
                    .as_str()
                    .unwrap()
                    .replace(&missing_id, "ID")
            );
            assert_eq!(foreign["details"], missing["details"]);
        }
        // The intruder's list does not show it, and the owner's task is unchanged.
        let page = app.get_ok(&format!("/users/{intruder}/tasks")).await;
        assert_eq!(page["items"], json!([]));
        let unchanged = app.get_ok(&task_path(&owner, &task)).await;
        assert_eq!(unchanged, task);
    })
    .await;
}

#[tokio::test]
async fn put_replaces_the_whole_task_with_defaults_for_absent_fields() {
    each_database(|app| async move {
        let user_id = app.create_user().await;
        let task = app
            .create_task(
                user_id,
                json!({ "title": "a", "description": "d", "is_completed": true }),
            )
            .await;
        let path = task_path(&user_id, &task);
        let replaced = expect_json(
            app.put_json(&path, &json!({ "title": " b " })).await,
            StatusCode::OK,
        )
        .await;
        assert_eq!(replaced["title"], "b");
        assert_eq!(replaced["description"], Value::Null);
        assert_eq!(replaced["is_completed"], false);
        assert_eq!(replaced["id"], task["id"]);
        assert_eq!(replaced["created_at"], task["created_at"]);
        assert_ne!(replaced["updated_at"], task["updated_at"]);
        assert_eq!(app.get_ok(&path).await, replaced);
    })
    .await;
}

#[tokio::test]
async fn patch_leaves_absent_fields_and_clears_on_null() {
    each_database(|app| async move {
        let user_id = app.create_user().await;
        let task = app
            .create_task(user_id, json!({ "title": "a", "description": "d" }))
            .await;
        let path = task_path(&user_id, &task);

        let done = expect_json(
            app.patch_json(&path, &json!({ "is_completed": true }))
                .await,
            StatusCode::OK,
        )
        .await;
        assert_eq!(done["title"], "a");
        assert_eq!(done["description"], "d");
        assert_eq!(done["is_completed"], true);

        let cleared = expect_json(
            app.patch_json(&path, &json!({ "description": null })).await,
            StatusCode::OK,
        )
        .await;
        assert_eq!(cleared["description"], Value::Null);
        assert_eq!(cleared["title"], "a");
        assert_eq!(cleared["is_completed"], true);

        let retitled = expect_json(
            app.patch_json(&path, &json!({ "title": "  z " })).await,
            StatusCode::OK,
        )
        .await;
        assert_eq!(retitled["title"], "z");
        assert_eq!(retitled["is_completed"], true);
        assert_eq!(app.get_ok(&path).await, retitled);
    })
    .await;
}

#[tokio::test]
async fn patch_accepts_merge_patch_media_type_but_put_does_not() {
    each_database(|app| async move {
        let user_id = app.create_user().await;
        let task = app.create_titled(user_id, "a").await;
        let path = task_path(&user_id, &task);
        let send = |method: Method| {
            app.client
                .request(method, app.url(&path))
                .header("content-type", "application/merge-patch+json")
                .body(r#"{"title":"b"}"#)
                .send()
        };
        let patched = expect_json(send(Method::PATCH).await.unwrap(), StatusCode::OK).await;
        assert_eq!(patched["title"], "b");
        expect_error(
            send(Method::PUT).await.unwrap(),
            StatusCode::UNSUPPORTED_MEDIA_TYPE,
            "UNSUPPORTED_MEDIA_TYPE",
        )
        .await;
    })
    .await;
}

#[tokio::test]
async fn updated_at_moves_on_real_changes_only_and_created_at_never() {
    each_database(|app| async move {
        let user_id = app.create_user().await;
        let task = app
            .create_task(user_id, json!({ "title": "a", "description": "d" }))
            .await;
        let path = task_path(&user_id, &task);

        // Changes of nothing: an empty patch, the same values by PATCH and by PUT.
        for (method, body) in [
            (Method::PATCH, json!({})),
            (
                Method::PATCH,
                json!({ "title": "a", "description": "d", "is_completed": false }),
            ),
            (Method::PUT, json!({ "title": " a ", "description": "d" })),
        ] {
            let same = expect_json(app.send_json(method, &path, &body).await, StatusCode::OK).await;
            assert_eq!(same, task, "body {body}");
        }

        let mut previous = task.clone();
        for body in [
            json!({ "title": "b" }),
            json!({ "description": null }),
            json!({ "description": "again" }),
            json!({ "is_completed": true }),
        ] {
            tokio::time::sleep(std::time::Duration::from_millis(2)).await;
            let changed = expect_json(app.patch_json(&path, &body).await, StatusCode::OK).await;
            assert_eq!(changed["created_at"], task["created_at"], "body {body}");
            assert!(
                changed["updated_at"].as_str().unwrap() > previous["updated_at"].as_str().unwrap(),
                "updated_at must move for {body}: {changed}"
            );
            assert!(is_micros_utc(&changed["updated_at"]));
            previous = changed;
        }
    })
    .await;
}

#[tokio::test]
async fn delete_task_answers_204_once_then_404() {
    each_database(|app| async move {
        let user_id = app.create_user().await;
        let task = app.create_titled(user_id, "a").await;
        let other = app.create_titled(user_id, "b").await;
        let path = task_path(&user_id, &task);
        let response = app.delete(&path).await;
        assert_eq!(response.status(), StatusCode::NO_CONTENT);
        assert!(response.text().await.unwrap().is_empty());
        expect_error(
            app.get(&path).await,
            StatusCode::NOT_FOUND,
            "TASK_NOT_FOUND",
        )
        .await;
        expect_error(
            app.delete(&path).await,
            StatusCode::NOT_FOUND,
            "TASK_NOT_FOUND",
        )
        .await;
        let page = app.get_ok(&format!("/users/{user_id}/tasks")).await;
        assert_eq!(page["items"], json!([other]));
    })
    .await;
}

/// Creates a task from `body` for `user`; returns the response.
async fn post_task(app: &TestApp, user: Uuid, body: &Value) -> reqwest::Response {
    app.post_json(&format!("/users/{user}/tasks"), body).await
}

#[tokio::test]
async fn a_client_made_id_that_any_task_has_is_409_and_changes_nothing() {
    each_database(|app| async move {
        let user = app.create_user().await;
        let other = app.create_user().await;
        let id = Uuid::new_v4();
        let made = expect_json(
            post_task(&app, user, &json!({ "title": "Offline", "id": id })).await,
            StatusCode::CREATED,
        )
        .await;
        assert_eq!(made["id"], id.to_string());
        assert_eq!(made["version"], 1);
        for owner in [user, other] {
            let again = post_task(&app, owner, &json!({ "title": "Again", "id": id })).await;
            let error = expect_error(again, StatusCode::CONFLICT, "TASK_ALREADY_EXISTS").await;
            assert!(error["message"].as_str().unwrap().contains(&id.to_string()));
        }
        // Nothing changed: the task, the tasks of both, and neither counter moved.
        assert_eq!(app.get_ok(&task_path(&user, &made)).await, made);
        assert_eq!(app.all_tasks(user).await, vec![made.clone()]);
        assert!(app.all_tasks(other).await.is_empty());
        assert_eq!(app.create_titled(user, "next").await["version"], 2);
        assert_eq!(app.create_titled(other, "first").await["version"], 1);
        // A list may have the same id: ids are checked against their own kind.
        let list = app
            .post_json(
                &format!("/users/{user}/lists"),
                &json!({ "name": "Same id", "id": id }),
            )
            .await;
        expect_json(list, StatusCode::CREATED).await;
        // The id of a deleted task may be used again, by anyone, and deleted again.
        let deleted = app.delete(&task_path(&user, &made)).await;
        assert_eq!(deleted.status(), StatusCode::NO_CONTENT);
        for owner in [other, user] {
            let reused = expect_json(
                post_task(&app, owner, &json!({ "title": "Reused", "id": id })).await,
                StatusCode::CREATED,
            )
            .await;
            assert_eq!(reused["id"], id.to_string());
            let deleted = app.delete(&task_path(&owner, &reused)).await;
            assert_eq!(deleted.status(), StatusCode::NO_CONTENT);
        }
        // The feed ends with the id deleted, once.
        let feed = app.get_ok(&format!("/users/{user}/changes")).await;
        let about_id: Vec<&Value> = feed["changes"]
            .as_array()
            .unwrap()
            .iter()
            .filter(|change| change["task_id"] == id.to_string())
            .collect();
        assert_eq!(about_id.len(), 1, "{feed}");
        assert_eq!(about_id[0]["deleted"], true);
        // Not a UUID: a 400 naming it.
        let refused = post_task(&app, user, &json!({ "title": "t", "id": "x" })).await;
        let error = expect_error(refused, StatusCode::BAD_REQUEST, "VALIDATION_ERROR").await;
        assert_eq!(error["details"]["fields"][0]["field"], "id");
    })
    .await;
}

#[tokio::test]
async fn concurrent_creates_with_one_client_made_id_make_one_task() {
    each_database(|app| async move {
        let app = std::sync::Arc::new(app);
        let users = [app.create_user().await, app.create_user().await];
        let id = Uuid::new_v4();
        let creates: Vec<_> = (0..8)
            .map(|n| {
                let app = app.clone();
                let owner = users[n % 2];
                tokio::spawn(async move {
                    let body = json!({ "title": format!("racer {n}"), "id": id });
                    post_task(&app, owner, &body).await.status()
                })
            })
            .collect();
        let mut statuses = Vec::new();
        for create in creates {
            statuses.push(create.await.unwrap());
        }
        let answered = |status| statuses.iter().filter(|s| **s == status).count();
        assert_eq!(
            (
                answered(StatusCode::CREATED),
                answered(StatusCode::CONFLICT)
            ),
            (1, 7),
            "{statuses:?}"
        );
        let tasks: Vec<Value> =
            [app.all_tasks(users[0]).await, app.all_tasks(users[1]).await].concat();
        assert_eq!(tasks.len(), 1);
        assert_eq!(tasks[0]["id"], id.to_string());
        assert_eq!(tasks[0]["version"], 1, "the refused creates took no number");
    })
    .await;
}

#[tokio::test]
async fn an_idempotent_retry_of_a_create_with_a_client_made_id_is_replayed_not_refused() {
    each_database(|app| async move {
        let user = app.create_user().await;
        let id = Uuid::new_v4();
        let send = |body: Value, key: &'static str| {
            app.client
                .post(app.url(&format!("/users/{user}/tasks")))
                .header("idempotency-key", key)
                .json(&body)
                .send()
        };
        let first = send(json!({ "title": "Once", "id": id }), "k1")
            .await
            .unwrap();
        let etag = first.headers()["etag"].clone();
        let first = expect_json(first, StatusCode::CREATED).await;
        let retry = send(json!({ "title": "Once", "id": id }), "k1")
            .await
            .unwrap();
        assert_eq!(retry.headers()["idempotent-replayed"], "true");
        assert_eq!(retry.headers()["etag"], etag);
        assert_eq!(expect_json(retry, StatusCode::CREATED).await, first);
        // The same key with another id is another request.
        let other_id = json!({ "title": "Once", "id": Uuid::new_v4() });
        let reused = send(other_id, "k1").await.unwrap();
        expect_error(
            reused,
            StatusCode::UNPROCESSABLE_ENTITY,
            "IDEMPOTENCY_KEY_REUSED",
        )
        .await;
        // Another key with the taken id: the id's 409.
        let taken = send(json!({ "title": "Once", "id": id }), "k2")
            .await
            .unwrap();
        expect_error(taken, StatusCode::CONFLICT, "TASK_ALREADY_EXISTS").await;
        assert_eq!(app.all_tasks(user).await, vec![first]);
    })
    .await;
}
