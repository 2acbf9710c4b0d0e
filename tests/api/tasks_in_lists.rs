//! Tasks in lists: `list_id` on create, PUT and PATCH, refused by name when the list is not one of
//! the user's (nothing written, also while the list is being deleted); the `list_id` filter; and
//! the deletions of lists counted with those of tasks, whose oldest are dropped past the bound.

use std::sync::Arc;

use reqwest::StatusCode;
use serde_json::{json, Value};
use uuid::Uuid;

use crate::helpers::*;
use crate::lists::{create_list, list_path, rows_of};

fn task_path(user: Uuid, task: &Value) -> String {
    format!("/users/{user}/tasks/{}", id_of(task))
}

/// The ids of every task `query` lists, following the cursor `limit` at a time.
pub(crate) async fn listed(app: &TestApp, user: Uuid, query: &str, limit: u32) -> Vec<Uuid> {
    let mut ids = Vec::new();
    let mut cursor = String::new();
    loop {
        let page = app
            .get_ok(&format!(
                "/users/{user}/tasks?{query}&limit={limit}{cursor}"
            ))
            .await;
        ids.extend(page["items"].as_array().unwrap().iter().map(id_of));
        match page["next_cursor"].as_str() {
            Some(next) => cursor = format!("&cursor={next}"),
            None => return ids,
        }
    }
}

/// Expects a 400 naming `list_id` in the body.
async fn expect_list_refused(answer: reqwest::Response) {
    let error = expect_error(answer, StatusCode::BAD_REQUEST, "VALIDATION_ERROR").await;
    let fields = &error["details"]["fields"];
    assert_eq!(fields[0]["field"], "list_id", "{error}");
    assert_eq!(fields.as_array().unwrap().len(), 1, "{error}");
}

#[tokio::test]
async fn a_task_goes_in_a_list_by_create_put_and_patch_and_back_to_the_inbox() {
    each_database(|app| async move {
        let user = app.create_user().await;
        let home = create_list(&app, user, "Home").await;
        let work = create_list(&app, user, "Work").await;
        let task = app
            .create_task(user, json!({ "title": "paint", "list_id": id_of(&home) }))
            .await;
        assert_eq!(task["list_id"], home["id"]);
        assert_eq!(task["version"], 3);
        let path = task_path(user, &task);
        assert_eq!(app.get_ok(&path).await, task);

        // PATCH moves it; the same list again changes nothing and takes no number.
        let moved = app
            .patch_json(&path, &json!({ "list_id": id_of(&work) }))
            .await;
        let moved = expect_json(moved, StatusCode::OK).await;
        assert_eq!(
            (&moved["list_id"], &moved["version"]),
            (&work["id"], &json!(4))
        );
        let again = app
            .patch_json(&path, &json!({ "list_id": id_of(&work) }))
            .await;
        assert_eq!(expect_json(again, StatusCode::OK).await, moved);
        // A PATCH of another field leaves the list alone.
        let renamed = app
            .patch_json(&path, &json!({ "title": "paint walls" }))
            .await;
        let renamed = expect_json(renamed, StatusCode::OK).await;
        assert_eq!(
            (&renamed["list_id"], &renamed["version"]),
            (&work["id"], &json!(5))
        );
        // null: the inbox.
        let inbox = app.patch_json(&path, &json!({ "list_id": null })).await;
        let inbox = expect_json(inbox, StatusCode::OK).await;
        assert_eq!(
            (&inbox["list_id"], &inbox["version"]),
            (&Value::Null, &json!(6))
        );

        // PUT: in the list it names; absent, the inbox.
        let put = app
            .put_json(&path, &json!({ "title": "paint", "list_id": id_of(&home) }))
            .await;
        let put = expect_json(put, StatusCode::OK).await;
        assert_eq!((&put["list_id"], &put["version"]), (&home["id"], &json!(7)));
        let put = app.put_json(&path, &json!({ "title": "paint" })).await;
        let put = expect_json(put, StatusCode::OK).await;
        assert_eq!(
            (&put["list_id"], &put["version"]),
            (&Value::Null, &json!(8))
        );

        // The feed carries the task as it is, in its list.
        let changes = app.get_ok(&format!("/users/{user}/changes")).await;
        let last = changes["changes"]
            .as_array()
            .unwrap()
            .last()
            .unwrap()
            .clone();
        assert_eq!(last["task"], put);
    })
    .await;
}

#[tokio::test]
async fn a_list_that_is_not_the_users_is_400_naming_list_id_and_nothing_is_written() {
    each_database(|app| async move {
        let user = app.create_user().await;
        let other = app.create_user().await;
        let theirs = create_list(&app, other, "Theirs").await;
        let gone = create_list(&app, user, "Gone").await;
        let answer = app.delete(&list_path(user, &gone)).await;
        assert_eq!(answer.status(), StatusCode::NO_CONTENT);
        let task = app.create_titled(user, "stay").await;
        let path = task_path(user, &task);
        let version = task["version"].as_i64().unwrap();
        let tasks = format!("/users/{user}/tasks");
        for list_id in [id_of(&theirs), id_of(&gone), Uuid::new_v4()] {
            let body = json!({ "title": "nowhere", "list_id": list_id });
            expect_list_refused(app.post_json(&tasks, &body).await).await;
            // With an idempotency key: nothing claimed either, so the key stays free.
            let keyed = app
                .client
                .post(app.url(&tasks))
                .header("Idempotency-Key", list_id.to_string())
                .json(&body)
                .send()
                .await
                .unwrap();
            expect_list_refused(keyed).await;
            expect_list_refused(app.put_json(&path, &body).await).await;
            let patch = json!({ "list_id": list_id, "title": "moved" });
            expect_list_refused(app.patch_json(&path, &patch).await).await;
        }
        for bad in [json!("inbox"), json!(7), json!("not-a-uuid")] {
            let body = json!({ "title": "bad", "list_id": bad });
            expect_list_refused(app.post_json(&tasks, &body).await).await;
        }
        assert_eq!(app.get_ok(&path).await, task, "the task is as it was");
        // No number was taken: the next write takes the next one.
        let next = app.create_titled(user, "next").await;
        assert_eq!(next["version"].as_i64().unwrap(), version + 1);
        assert_eq!(app.all_tasks(user).await.len(), 2);
        assert!(app.all_tasks(other).await.is_empty());
    })
    .await;
}

#[tokio::test]
async fn the_list_id_filter_pages_a_lists_tasks_or_the_inboxs_and_nothing_of_another_user() {
    each_database(|app| async move {
        let user = app.create_user().await;
        let other = app.create_user().await;
        let trip = create_list(&app, user, "Trip").await;
        let home = create_list(&app, user, "Home").await;
        let theirs = create_list(&app, other, "Theirs").await;
        app.create_task(
            other,
            json!({ "title": "theirs", "list_id": id_of(&theirs) }),
        )
        .await;
        let (mut in_trip, mut in_home, mut in_inbox) = (Vec::new(), Vec::new(), Vec::new());
        for n in 0..7 {
            let (list, ids) = match n % 3 {
                0 => (Some(id_of(&trip)), &mut in_trip),
                1 => (Some(id_of(&home)), &mut in_home),
                _ => (None, &mut in_inbox),
            };
            let task = app
                .create_task(
                    user,
                    json!({ "title": format!("task {n}"), "list_id": list }),
                )
                .await;
            ids.push((
                task["created_at"].as_str().unwrap().to_owned(),
                id_of(&task),
            ));
        }
        // A task moved in from the inbox is found in its new list only.
        let moved = in_inbox.remove(0);
        let answer = app
            .patch_json(
                &format!("/users/{user}/tasks/{}", moved.1),
                &json!({ "list_id": id_of(&trip) }),
            )
            .await;
        expect_json(answer, StatusCode::OK).await;
        in_trip.push(moved);
        // Newest first, as the default sort has them.
        let newest_first = |mut tasks: Vec<(String, Uuid)>| {
            tasks.sort_by(|a, b| b.cmp(a));
            tasks.into_iter().map(|(_, id)| id).collect::<Vec<Uuid>>()
        };
        let (in_trip, in_home, in_inbox) = (
            newest_first(in_trip),
            newest_first(in_home),
            newest_first(in_inbox),
        );
        for limit in [1, 2, 100] {
            let trip_query = format!("list_id={}", id_of(&trip));
            assert_eq!(listed(&app, user, &trip_query, limit).await, in_trip);
            let home_query = format!("list_id={}&sort=-created_at", id_of(&home));
            assert_eq!(listed(&app, user, &home_query, limit).await, in_home);
            assert_eq!(listed(&app, user, "list_id=inbox", limit).await, in_inbox);
            let theirs_query = format!("list_id={}", id_of(&theirs));
            assert!(listed(&app, user, &theirs_query, limit).await.is_empty());
        }
        // Other filters combine with it.
        let query = format!("list_id={}&q=task%203", id_of(&trip));
        assert_eq!(listed(&app, user, &query, 20).await.len(), 1);
    })
    .await;
}

/// Rounds of the race between a list's delete and writes putting tasks in it.
const RACE_ROUNDS: usize = 12;

#[tokio::test]
async fn tasks_put_in_a_list_while_it_is_deleted_are_refused_or_deleted_never_a_500() {
    each_database_configured(
        |config| {
            config.user_limits.max_concurrent_writes = 32;
            config.user_limits.writes_per_minute = std::num::NonZeroU32::MAX;
        },
        |app| async move {
            let app = Arc::new(app);
            let user = app.create_user().await;
            for round in 0..RACE_ROUNDS {
                let list = create_list(&app, user, &format!("round {round}")).await;
                let list_id = id_of(&list);
                let mut inbox = Vec::new();
                for n in 0..4 {
                    inbox.push(app.create_titled(user, &format!("r{round} t{n}")).await);
                }
                let mut writes = Vec::new();
                for (n, task) in inbox.into_iter().enumerate() {
                    let app = app.clone();
                    writes.push(tokio::spawn(async move {
                        let path = task_path(user, &task);
                        let body = json!({ "title": format!("moved {n}"), "list_id": list_id });
                        let answer = match n % 3 {
                            0 => app.patch_json(&path, &json!({ "list_id": list_id })).await,
                            1 => app.put_json(&path, &body).await,
                            _ => app.post_json(&format!("/users/{user}/tasks"), &body).await,
                        };
                        let status = answer.status();
                        if status == StatusCode::BAD_REQUEST {
                            expect_list_refused(answer).await;
                        } else if status.is_success() {
                            expect_json(answer, status).await;
                        } else {
                            // The task was deleted with the list before the write found it.
                            expect_error(answer, StatusCode::NOT_FOUND, "TASK_NOT_FOUND").await;
                        }
                        status
                    }));
                }
                let deleted = app.delete(&list_path(user, &list)).await;
                assert_eq!(deleted.status(), StatusCode::NO_CONTENT, "round {round}");
                for write in writes {
                    let status = write.await.unwrap();
                    let expected = [
                        StatusCode::OK,
                        StatusCode::CREATED,
                        StatusCode::BAD_REQUEST,
                        StatusCode::NOT_FOUND,
                    ];
                    assert!(expected.contains(&status), "round {round}: {status}");
                }
                // Whatever won, no task is left in the deleted list.
                assert!(
                    listed(&app, user, &format!("list_id={list_id}"), 100)
                        .await
                        .is_empty(),
                    "round {round}"
                );
            }
        },
    )
    .await;
}

#[tokio::test]
async fn list_deletions_count_toward_the_kept_deletions_and_older_tokens_expire() {
    each_database_configured(
        |config| {
            config.user_limits.max_tombstones = 2;
            config.user_limits.writes_per_minute = std::num::NonZeroU32::MAX;
        },
        |app| async move {
            let user = app.create_user().await;
            let lists: Vec<Value> = [
                create_list(&app, user, "one").await,
                create_list(&app, user, "two").await,
                create_list(&app, user, "three").await,
            ]
            .into();
            let token = app.get_ok(&format!("/users/{user}/changes")).await["next_since"]
                .as_str()
                .unwrap()
                .to_owned();
            for list in &lists[..2] {
                let answer = app.delete(&list_path(user, list)).await;
                assert_eq!(answer.status(), StatusCode::NO_CONTENT);
            }
            // Two kept: the token still follows.
            assert_eq!(rows_of(&app, "list_tombstones", user).await, 2);
            let page = app
                .get_ok(&format!("/users/{user}/changes?since={token}"))
                .await;
            assert_eq!(page["changes"].as_array().unwrap().len(), 2);
            // A third: the oldest is dropped at once, and the token is too old.
            let answer = app.delete(&list_path(user, &lists[2])).await;
            assert_eq!(answer.status(), StatusCode::NO_CONTENT);
            assert_eq!(rows_of(&app, "list_tombstones", user).await, 2);
            let expired = app
                .get(&format!("/users/{user}/changes?since={token}"))
                .await;
            expect_error(expired, StatusCode::GONE, "SYNC_EXPIRED").await;
            // A task's deletion then drops the oldest list's.
            let task = app.create_titled(user, "t").await;
            let answer = app.delete(&task_path(user, &task)).await;
            assert_eq!(answer.status(), StatusCode::NO_CONTENT);
            assert_eq!(rows_of(&app, "list_tombstones", user).await, 1);
            assert_eq!(rows_of(&app, "task_tombstones", user).await, 1);
        },
    )
    .await;
}
