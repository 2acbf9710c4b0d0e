//! Lists: created (with a client-made id or not), read, paged oldest first, renamed and deleted
//! with their tasks; another user's list answered as an unknown one; the quota on lists, also
//! under concurrent creates; the deletions a list's delete keeps within their bound.

use std::sync::Arc;

use reqwest::{Method, StatusCode};
use sea_orm::{ConnectionTrait, DatabaseBackend, Statement};
use serde_json::{json, Value};
use uuid::Uuid;

use crate::helpers::*;

/// Creates a list for `user` from `body`; returns the response.
pub(crate) async fn post_list(app: &TestApp, user: Uuid, body: Value) -> reqwest::Response {
    app.post_json(&format!("/users/{user}/lists"), &body).await
}

/// Creates a list named `name`; returns it.
pub(crate) async fn create_list(app: &TestApp, user: Uuid, name: &str) -> Value {
    expect_json(
        post_list(app, user, json!({ "name": name })).await,
        StatusCode::CREATED,
    )
    .await
}

pub(crate) fn list_path(user: Uuid, list: &Value) -> String {
    format!("/users/{user}/lists/{}", id_of(list))
}

/// How many rows of `table` belong to `user`, in the database.
pub(crate) async fn rows_of(app: &TestApp, table: &str, user: Uuid) -> i64 {
    let backend = app.db.get_database_backend();
    let placeholder = match backend {
        DatabaseBackend::Postgres => "$1",
        _ => "?",
    };
    let sql = format!(r#"SELECT COUNT(*) FROM "{table}" WHERE "user_id" = {placeholder}"#);
    let row = app
        .db
        .query_one(Statement::from_sql_and_values(backend, sql, [user.into()]))
        .await
        .unwrap()
        .unwrap();
    row.try_get_by_index(0).unwrap()
}

/// Every list of a user, by following the cursor `limit` at a time.
async fn all_lists(app: &TestApp, user: Uuid, limit: u32) -> Vec<Value> {
    let mut lists = Vec::new();
    let mut cursor = String::new();
    loop {
        let page = app
            .get_ok(&format!("/users/{user}/lists?limit={limit}{cursor}"))
            .await;
        lists.extend(page["items"].as_array().unwrap().iter().cloned());
        match page["next_cursor"].as_str() {
            Some(next) => cursor = format!("&cursor={next}"),
            None => return lists,
        }
    }
}

#[tokio::test]
async fn a_list_is_created_read_renamed_and_deleted_with_versions_and_etags() {
    each_database(|app| async move {
        let user = app.create_user().await;
        let created = post_list(&app, user, json!({ "name": "  Groceries \n" })).await;
        assert_eq!(created.status(), StatusCode::CREATED);
        let location = created.headers()["location"].to_str().unwrap().to_owned();
        let tag = created.headers()["etag"].to_str().unwrap().to_owned();
        let list = expect_json(created, StatusCode::CREATED).await;
        let path = list_path(user, &list);
        assert_eq!(location, path);
        assert_eq!(list["name"], "Groceries");
        assert_eq!(list["user_id"], user.to_string());
        assert_eq!(list["version"], 1, "the user's first change");
        assert_eq!(tag, "\"1\"");
        assert_eq!(list["created_at"], list["updated_at"]);
        let fields: Vec<&String> = list.as_object().unwrap().keys().collect();
        assert_eq!(
            fields,
            [
                "id",
                "user_id",
                "name",
                "created_at",
                "updated_at",
                "version"
            ]
        );

        // GET: the same list and ETag; 304 for a current If-None-Match, 412 for a stale If-Match.
        let read = app.get(&path).await;
        assert_eq!(read.headers()["etag"], "\"1\"");
        assert_eq!(expect_json(read, StatusCode::OK).await, list);
        let cached = app
            .client
            .get(app.url(&path))
            .header("If-None-Match", "W/\"1\"")
            .send()
            .await
            .unwrap();
        assert_eq!(cached.status(), StatusCode::NOT_MODIFIED);
        assert_eq!(cached.headers()["etag"], "\"1\"");
        assert!(cached.bytes().await.unwrap().is_empty());
        let stale = app
            .client
            .get(app.url(&path))
            .header("If-Match", "\"7\"")
            .send()
            .await
            .unwrap();
        expect_error(
            stale,
            StatusCode::PRECONDITION_FAILED,
            "PRECONDITION_FAILED",
        )
        .await;

        // A task's write takes the next number of the same counter.
        let task = app.create_titled(user, "milk").await;
        assert_eq!(task["version"], 2);

        // PATCH as a merge patch, with the current ETag: renamed, version 3.
        let renamed = app
            .client
            .patch(app.url(&path))
            .header("Content-Type", "application/merge-patch+json")
            .header("If-Match", "\"1\"")
            .body(r#"{ "name": "Shopping" }"#)
            .send()
            .await
            .unwrap();
        assert_eq!(renamed.headers()["etag"], "\"3\"");
        let renamed = expect_json(renamed, StatusCode::OK).await;
        assert_eq!(renamed["name"], "Shopping");
        assert_eq!(renamed["version"], 3);
        assert_eq!(renamed["created_at"], list["created_at"]);
        assert_ne!(renamed["updated_at"], list["updated_at"]);
        // `{}` and the same name change nothing and take no number.
        for unchanged in [json!({}), json!({ "name": " Shopping " })] {
            let answer = app.patch_json(&path, &unchanged).await;
            assert_eq!(expect_json(answer, StatusCode::OK).await, renamed);
        }
        assert_eq!(app.create_titled(user, "bread").await["version"], 4);

        // A stale If-Match, or an If-None-Match naming the current tag, writes nothing.
        let stale_rename = app
            .client
            .patch(app.url(&path))
            .header("If-Match", "\"1\"")
            .json(&json!({ "name": "Lost" }))
            .send()
            .await
            .unwrap();
        expect_error(
            stale_rename,
            StatusCode::PRECONDITION_FAILED,
            "PRECONDITION_FAILED",
        )
        .await;
        let none_match = app
            .client
            .patch(app.url(&path))
            .header("If-None-Match", "\"3\"")
            .json(&json!({ "name": "Lost" }))
            .send()
            .await
            .unwrap();
        expect_error(
            none_match,
            StatusCode::PRECONDITION_FAILED,
            "PRECONDITION_FAILED",
        )
        .await;
        let stale_delete = app
            .client
            .delete(app.url(&path))
            .header("If-Match", "\"1\"")
            .send()
            .await
            .unwrap();
        expect_error(
            stale_delete,
            StatusCode::PRECONDITION_FAILED,
            "PRECONDITION_FAILED",
        )
        .await;
        assert_eq!(app.get_ok(&path).await, renamed);

        // DELETE with the current tag: gone, and a second delete is 404.
        let deleted = app
            .client
            .delete(app.url(&path))
            .header("If-Match", "\"3\"")
            .send()
            .await
            .unwrap();
        assert_eq!(deleted.status(), StatusCode::NO_CONTENT);
        expect_error(
            app.get(&path).await,
            StatusCode::NOT_FOUND,
            "LIST_NOT_FOUND",
        )
        .await;
        expect_error(
            app.delete(&path).await,
            StatusCode::NOT_FOUND,
            "LIST_NOT_FOUND",
        )
        .await;
        // Its tasks were none: the inbox's are untouched.
        assert_eq!(app.all_tasks(user).await.len(), 2);
    })
    .await;
}

#[tokio::test]
async fn another_users_list_is_answered_as_an_unknown_one_whatever_the_preconditions() {
    each_database(|app| async move {
        let owner = app.create_user().await;
        let other = app.create_user().await;
        let list = create_list(&app, owner, "Mine").await;
        let unknown = Uuid::new_v4();
        for (id, expected_id) in [(id_of(&list), id_of(&list)), (unknown, unknown)] {
            let path = format!("/users/{other}/lists/{id}");
            let mut errors = Vec::new();
            for method in [Method::GET, Method::PATCH, Method::DELETE] {
                let mut request = app
                    .client
                    .request(method.clone(), app.url(&path))
                    .header("If-Match", "\"1\"");
                if method == Method::PATCH {
                    request = request.json(&json!({ "name": "Theirs" }));
                }
                let answer = request.send().await.unwrap();
                let error = expect_error(answer, StatusCode::NOT_FOUND, "LIST_NOT_FOUND").await;
                errors.push(
                    error["message"]
                        .as_str()
                        .unwrap()
                        .replace(&expected_id.to_string(), "<id>"),
                );
            }
            assert!(
                errors.iter().all(|message| message == &errors[0]),
                "{errors:?}"
            );
        }
        // The owner's list is as it was; an unknown user is USER_NOT_FOUND.
        assert_eq!(app.get_ok(&list_path(owner, &list)).await, list);
        expect_error(
            app.get(&format!("/users/{}/lists", Uuid::new_v4())).await,
            StatusCode::NOT_FOUND,
            "USER_NOT_FOUND",
        )
        .await;
        expect_error(
            post_list(&app, Uuid::new_v4(), json!({ "name": "x" })).await,
            StatusCode::NOT_FOUND,
            "USER_NOT_FOUND",
        )
        .await;
    })
    .await;
}

#[tokio::test]
async fn a_client_made_id_that_any_list_has_is_409_and_changes_nothing() {
    each_database(|app| async move {
        let user = app.create_user().await;
        let other = app.create_user().await;
        let id = Uuid::new_v4();
        let made = expect_json(
            post_list(&app, user, json!({ "name": "Offline", "id": id })).await,
            StatusCode::CREATED,
        )
        .await;
        assert_eq!(id_of(&made), id);
        for owner in [user, other] {
            let again = post_list(&app, owner, json!({ "name": "Again", "id": id })).await;
            let error = expect_error(again, StatusCode::CONFLICT, "LIST_ALREADY_EXISTS").await;
            assert!(error["message"].as_str().unwrap().contains(&id.to_string()));
        }
        // Nothing changed: the list, the lists of both, and neither counter moved.
        assert_eq!(app.get_ok(&list_path(user, &made)).await, made);
        assert_eq!(all_lists(&app, user, 20).await, vec![made.clone()]);
        assert!(all_lists(&app, other, 20).await.is_empty());
        assert_eq!(create_list(&app, user, "next").await["version"], 2);
        assert_eq!(create_list(&app, other, "first").await["version"], 1);
        // A task may have the same id (ids are checked against their own kind), and the id of a
        // deleted list may be used again.
        let deleted = app.delete(&list_path(user, &made)).await;
        assert_eq!(deleted.status(), StatusCode::NO_CONTENT);
        let reused = post_list(&app, other, json!({ "name": "Reused", "id": id })).await;
        assert_eq!(id_of(&expect_json(reused, StatusCode::CREATED).await), id);
    })
    .await;
}

#[tokio::test]
async fn bodies_are_checked_field_by_field_all_at_once() {
    each_database(|app| async move {
        let user = app.create_user().await;
        let lists = format!("/users/{user}/lists");
        expect_invalid(
            app.post_json(
                &lists,
                &json!({ "id": "not-a-uuid", "version": 3, "colour": "red" }),
            )
            .await,
            &[
                ("name", "body"),
                ("id", "body"),
                ("version", "body"),
                ("colour", "body"),
            ],
        )
        .await;
        for bad in [
            json!(null),
            json!(""),
            json!(" \t "),
            json!("a\u{0}b"),
            json!("é".repeat(256)),
            json!(7),
        ] {
            expect_invalid(
                app.post_json(&lists, &json!({ "name": bad })).await,
                &[("name", "body")],
            )
            .await;
        }
        assert_eq!(
            create_list(&app, user, &"é".repeat(255)).await["name"],
            "é".repeat(255)
        );
        let list = create_list(&app, user, "ok").await;
        let path = list_path(user, &list);
        expect_invalid(
            app.patch_json(&path, &json!({ "name": null, "id": Uuid::new_v4() }))
                .await,
            &[("name", "body"), ("id", "body")],
        )
        .await;
        expect_invalid(
            app.get(&format!("/users/{user}/lists/nope")).await,
            &[("list_id", "path")],
        )
        .await;
        expect_invalid(
            app.get(&format!("/users/{user}/lists?limit=0")).await,
            &[("limit", "query")],
        )
        .await;
        let plain = app
            .client
            .post(app.url(&lists))
            .header("Content-Type", "text/plain")
            .body(r#"{"name":"x"}"#)
            .send()
            .await
            .unwrap();
        expect_error(
            plain,
            StatusCode::UNSUPPORTED_MEDIA_TYPE,
            "UNSUPPORTED_MEDIA_TYPE",
        )
        .await;
        // Nothing was written by any of them.
        assert_eq!(all_lists(&app, user, 20).await.len(), 2);
    })
    .await;
}

#[tokio::test]
async fn list_pages_go_oldest_first_and_take_only_their_own_cursors() {
    each_database(|app| async move {
        let user = app.create_user().await;
        let other = app.create_user().await;
        let mut made = Vec::new();
        for n in 0..7 {
            made.push(create_list(&app, user, &format!("list {n}")).await);
        }
        for limit in [1, 2, 3, 7, 100] {
            assert_eq!(all_lists(&app, user, limit).await, made, "limit {limit}");
        }
        let first = app.get_ok(&format!("/users/{user}/lists?limit=2")).await;
        let cursor = first["next_cursor"].as_str().unwrap().to_owned();
        // Lists added meanwhile come after, once.
        let late = create_list(&app, user, "late").await;
        let rest = app
            .get_ok(&format!("/users/{user}/lists?limit=100&cursor={cursor}"))
            .await;
        let rest = rest["items"].as_array().unwrap();
        assert_eq!(rest.len(), 6);
        assert_eq!(rest.last().unwrap(), &late);
        // Another user's cursor, a task list's cursor, a changed one: 400 naming `cursor`.
        for n in 0..3 {
            create_list(&app, other, &format!("theirs {n}")).await;
            app.create_titled(user, &format!("task {n}")).await;
        }
        let theirs = app.get_ok(&format!("/users/{other}/lists?limit=1")).await;
        let tasks = app.get_ok(&format!("/users/{user}/tasks?limit=1")).await;
        let mut changed = cursor.clone().into_bytes();
        changed[10] = if changed[10] == b'A' { b'B' } else { b'A' };
        for foreign in [
            theirs["next_cursor"].as_str().unwrap().to_owned(),
            tasks["next_cursor"].as_str().unwrap().to_owned(),
            String::from_utf8(changed).unwrap(),
        ] {
            expect_invalid(
                app.get(&format!("/users/{user}/lists?cursor={foreign}"))
                    .await,
                &[("cursor", "query")],
            )
            .await;
        }
        // A list cursor is no task cursor either.
        expect_invalid(
            app.get(&format!("/users/{user}/tasks?cursor={cursor}"))
                .await,
            &[("cursor", "query")],
        )
        .await;
        // An empty page for a user without lists; 404 for no user.
        let none = app
            .get_ok(&format!("/users/{}/lists", app.create_user().await))
            .await;
        assert_eq!(none, json!({ "items": [], "next_cursor": null }));
    })
    .await;
}

#[tokio::test]
async fn a_list_page_past_page_max_bytes_is_cut_and_followed_whole() {
    each_database_configured(
        |config| config.http.page_max_bytes = 6 * 1024,
        |app| async move {
            let user = app.create_user().await;
            let mut made = Vec::new();
            for n in 0..12 {
                made.push(create_list(&app, user, &format!("{n:03}{}", "n".repeat(250))).await);
            }
            let first = app.get_ok(&format!("/users/{user}/lists?limit=100")).await;
            let items = first["items"].as_array().unwrap().len();
            assert!((1..12).contains(&items), "{items} lists on a 6 KiB page");
            assert!(first["next_cursor"].is_string());
            assert_eq!(all_lists(&app, user, 100).await, made);
        },
    )
    .await;
}

#[tokio::test]
async fn deleting_a_list_deletes_its_tasks_each_with_a_version_of_its_own() {
    each_database(|app| async move {
        let user = app.create_user().await;
        let list = create_list(&app, user, "Trip").await;
        let kept_list = create_list(&app, user, "Home").await;
        let mut in_list = Vec::new();
        for n in 0..4 {
            let body = json!({ "title": format!("pack {n}"), "list_id": id_of(&list) });
            in_list.push(app.create_task(user, body).await);
        }
        let elsewhere = app
            .create_task(
                user,
                json!({ "title": "water plants", "list_id": id_of(&kept_list) }),
            )
            .await;
        let inbox = app.create_titled(user, "inbox").await;
        let before = inbox["version"].as_i64().unwrap();
        let since = app
            .get_ok(&format!("/users/{user}/changes?limit=1000"))
            .await["next_since"]
            .as_str()
            .unwrap()
            .to_owned();
        let deleted = app.delete(&list_path(user, &list)).await;
        assert_eq!(deleted.status(), StatusCode::NO_CONTENT);
        for task in &in_list {
            let gone = app
                .get(&format!("/users/{user}/tasks/{}", id_of(task)))
                .await;
            expect_error(gone, StatusCode::NOT_FOUND, "TASK_NOT_FOUND").await;
        }
        let left: Vec<Uuid> = app.all_tasks(user).await.iter().map(id_of).collect();
        assert_eq!(left.len(), 2);
        assert!(left.contains(&id_of(&elsewhere)) && left.contains(&id_of(&inbox)));
        assert_eq!(all_lists(&app, user, 20).await, vec![kept_list]);
        // Four task deletions and the list's took five numbers: the next write takes the sixth.
        assert_eq!(rows_of(&app, "task_tombstones", user).await, 4);
        assert_eq!(rows_of(&app, "list_tombstones", user).await, 1);
        let next = app.create_titled(user, "after").await;
        assert_eq!(next["version"].as_i64().unwrap(), before + 6);
        // The feed: each task's deletion, then the list's, in version order, then the create.
        let page = app
            .get_ok(&format!("/users/{user}/changes?since={since}"))
            .await;
        let changes = page["changes"].as_array().unwrap();
        let mut deleted_tasks: Vec<Uuid> = in_list.iter().map(id_of).collect();
        deleted_tasks.sort();
        let mut expected: Vec<Value> = deleted_tasks
            .iter()
            .zip(1..)
            .map(|(task_id, n)| {
                json!({ "kind": "task", "task_id": task_id, "version": before + n,
                        "deleted": true, "task": null })
            })
            .collect();
        expected.push(
            json!({ "kind": "list", "list_id": id_of(&list), "version": before + 5,
                              "deleted": true, "list": null }),
        );
        assert_eq!(changes[..5], expected[..]);
        assert_eq!(changes[5]["kind"], "task");
        assert_eq!(changes[5]["task"], next);
    })
    .await;
}

#[tokio::test]
async fn a_list_deleting_more_tasks_than_the_deletions_kept_keeps_the_bound() {
    each_database_configured(
        |config| {
            config.user_limits.max_tombstones = 3;
            config.user_limits.writes_per_minute = std::num::NonZeroU32::MAX;
        },
        |app| async move {
            let user = app.create_user().await;
            let early = app.create_titled(user, "early").await;
            let deleted = app
                .delete(&format!("/users/{user}/tasks/{}", id_of(&early)))
                .await;
            assert_eq!(deleted.status(), StatusCode::NO_CONTENT);
            let small = create_list(&app, user, "small").await;
            let big = create_list(&app, user, "big").await;
            for (list, tasks) in [(&small, 2), (&big, 5)] {
                for n in 0..tasks {
                    let body = json!({ "title": format!("task {n}"), "list_id": id_of(list) });
                    app.create_task(user, body).await;
                }
            }
            let kept = async |tasks: i64, lists: i64| {
                assert_eq!(rows_of(&app, "task_tombstones", user).await, tasks);
                assert_eq!(rows_of(&app, "list_tombstones", user).await, lists);
            };
            // One kept, three more (two tasks, the list): the oldest, the early task's, dropped.
            let answer = app.delete(&list_path(user, &small)).await;
            assert_eq!(answer.status(), StatusCode::NO_CONTENT);
            kept(2, 1).await;
            // Six more: the newest three are kept (two tasks and the list), whatever came before.
            let answer = app.delete(&list_path(user, &big)).await;
            assert_eq!(answer.status(), StatusCode::NO_CONTENT);
            kept(2, 1).await;
            // And a single task's deletion goes on from there, dropping the oldest task's.
            let last = app.create_titled(user, "last").await;
            let answer = app
                .delete(&format!("/users/{user}/tasks/{}", id_of(&last)))
                .await;
            assert_eq!(answer.status(), StatusCode::NO_CONTENT);
            kept(2, 1).await;
            // Two more: the list's deletion is the oldest, and goes first.
            for title in ["one", "two"] {
                let task = app.create_titled(user, title).await;
                let answer = app
                    .delete(&format!("/users/{user}/tasks/{}", id_of(&task)))
                    .await;
                assert_eq!(answer.status(), StatusCode::NO_CONTENT);
            }
            kept(3, 0).await;
            assert!(app.all_tasks(user).await.is_empty());
        },
    )
    .await;
}

#[tokio::test]
async fn creates_past_the_list_quota_are_409_and_no_race_passes_it() {
    each_database_configured(
        |config| {
            config.user_limits.max_lists = 5;
            config.user_limits.max_concurrent_writes = 32;
            config.user_limits.writes_per_minute = std::num::NonZeroU32::MAX;
        },
        |app| async move {
            let app = Arc::new(app);
            for round in 0..4 {
                let user = app.create_user().await;
                for n in 0..3 {
                    create_list(&app, user, &format!("before {n}")).await;
                }
                let creates: Vec<_> = (0..16)
                    .map(|n| {
                        let app = app.clone();
                        tokio::spawn(async move {
                            let body = json!({ "name": format!("racer {n}") });
                            post_list(&app, user, body).await.status()
                        })
                    })
                    .collect();
                let mut statuses = Vec::new();
                for create in creates {
                    statuses.push(create.await.unwrap());
                }
                let created = statuses
                    .iter()
                    .filter(|status| **status == StatusCode::CREATED)
                    .count();
                let refused = statuses
                    .iter()
                    .filter(|status| **status == StatusCode::CONFLICT)
                    .count();
                assert_eq!((created, refused), (2, 14), "round {round}: {statuses:?}");
                assert_eq!(all_lists(&app, user, 100).await.len(), 5, "round {round}");
                let over = post_list(&app, user, json!({ "name": "over" })).await;
                let error = expect_error(over, StatusCode::CONFLICT, "QUOTA_EXCEEDED").await;
                assert!(error["message"].as_str().unwrap().contains("5 lists"));
            }
            // A deletion makes room again.
            let user = app.create_user().await;
            let mut lists = Vec::new();
            for n in 0..5 {
                lists.push(create_list(&app, user, &format!("{n}")).await);
            }
            let deleted = app.delete(&list_path(user, &lists[0])).await;
            assert_eq!(deleted.status(), StatusCode::NO_CONTENT);
            create_list(&app, user, "room again").await;
        },
    )
    .await;
}

#[tokio::test]
async fn deleting_a_user_deletes_their_lists_and_the_tasks_in_them() {
    each_database(|app| async move {
        let user = app.create_user().await;
        let list = create_list(&app, user, "Trip").await;
        app.create_task(user, json!({ "title": "pack", "list_id": id_of(&list) }))
            .await;
        let deleted = app.delete(&list_path(user, &list)).await;
        assert_eq!(deleted.status(), StatusCode::NO_CONTENT);
        let again = create_list(&app, user, "Home").await;
        let task = app.create_titled(user, "water plants").await;
        let moved = app
            .patch_json(
                &format!("/users/{user}/tasks/{}", id_of(&task)),
                &json!({ "list_id": id_of(&again) }),
            )
            .await;
        expect_json(moved, StatusCode::OK).await;
        let answer = app.delete(&format!("/users/{user}")).await;
        assert_eq!(answer.status(), StatusCode::NO_CONTENT);
        for table in ["lists", "list_tombstones", "tasks", "task_tombstones"] {
            assert_eq!(rows_of(&app, table, user).await, 0, "{table}");
        }
    })
    .await;
}
