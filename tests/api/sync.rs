//! The change feed: a client that follows `next_since` ends with the server's state, while other
//! clients write; tokens that are forged, another user's, too old or from a former registration.

use std::collections::BTreeMap;
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::Arc;
use std::time::Duration;

use reqwest::{Method, StatusCode};
use serde_json::{json, Value};
use task_api::config::Retention;
use uuid::Uuid;

use crate::helpers::*;

/// What a syncing client knows: each task and list it has seen, by id, as the feed last told it
/// (`None` once deleted), and the last version seen.
#[derive(Default)]
struct Replica {
    tasks: BTreeMap<String, Option<Value>>,
    lists: BTreeMap<String, Option<Value>>,
    since: Option<String>,
    last_version: i64,
    changes_seen: usize,
}

impl Replica {
    /// Follows the feed until `has_more` is false, `limit` changes a page; every change must come
    /// after the last one seen.
    async fn sync(&mut self, app: &TestApp, user_id: Uuid, limit: u32) {
        loop {
            let mut path = format!("/users/{user_id}/changes?limit={limit}");
            if let Some(since) = &self.since {
                path.push_str(&format!("&since={since}"));
            }
            let page = app.get_ok(&path).await;
            for change in page["changes"].as_array().unwrap() {
                let version = change["version"].as_i64().unwrap();
                assert!(
                    version > self.last_version,
                    "change {version} after {}: seen twice or out of order",
                    self.last_version
                );
                self.last_version = version;
                self.changes_seen += 1;
                let (kind, known) = match change["kind"].as_str() {
                    Some("task") => ("task", &mut self.tasks),
                    Some("list") => ("list", &mut self.lists),
                    other => panic!("a change of kind {other:?}: {change}"),
                };
                let id = change[format!("{kind}_id")].as_str().unwrap().to_owned();
                // The resource, null exactly when deleted.
                let resource = match change["deleted"].as_bool().unwrap() {
                    true => {
                        assert_eq!(change[kind], Value::Null);
                        None
                    }
                    false => {
                        assert_eq!(change[kind]["version"], version);
                        Some(change[kind].clone())
                    }
                };
                assert_eq!(change.as_object().unwrap().len(), 5, "{change}");
                known.insert(id, resource);
            }
            self.since = Some(page["next_since"].as_str().unwrap().to_owned());
            if !page["has_more"].as_bool().unwrap() {
                return;
            }
        }
    }

    /// The tasks that exist, as the replica has them.
    fn live(&self) -> BTreeMap<String, Value> {
        existing(&self.tasks)
    }

    /// The lists that exist, as the replica has them.
    fn live_lists(&self) -> BTreeMap<String, Value> {
        existing(&self.lists)
    }
}

/// The resources of `known` that exist.
fn existing(known: &BTreeMap<String, Option<Value>>) -> BTreeMap<String, Value> {
    known
        .iter()
        .filter_map(|(id, resource)| resource.clone().map(|resource| (id.clone(), resource)))
        .collect()
}

/// Every task of the user, by id, as the API lists them.
async fn server_state(app: &TestApp, user_id: Uuid) -> BTreeMap<String, Value> {
    app.all_tasks(user_id)
        .await
        .into_iter()
        .map(|task| (task["id"].as_str().unwrap().to_owned(), task))
        .collect()
}

#[tokio::test]
async fn a_full_sync_then_incremental_ones_see_every_change_once() {
    each_database(|app| async move {
        let user_id = app.create_user().await;
        let mut replica = Replica::default();
        replica.sync(&app, user_id, 2).await;
        assert!(replica.tasks.is_empty());
        let tasks: Vec<Value> = create_tasks(&app, user_id, 5).await;
        app.patch_json(
            &format!("/users/{user_id}/tasks/{}", id_of(&tasks[1])),
            &json!({ "title": "changed" }),
        )
        .await;
        app.delete(&format!("/users/{user_id}/tasks/{}", id_of(&tasks[2])))
            .await;
        let mut full = Replica::default();
        full.sync(&app, user_id, 2).await;
        assert_eq!(full.live(), server_state(&app, user_id).await);
        assert_eq!(
            full.tasks[&tasks[2]["id"].as_str().unwrap().to_owned()],
            None
        );
        // One change each of the tasks (the update supersedes the create), one deletion.
        assert_eq!(full.changes_seen, 5);
        replica.sync(&app, user_id, 100).await;
        assert_eq!(replica.tasks, full.tasks);
        // Nothing new: an empty page and the same position.
        let since = full.since.clone().unwrap();
        let page = app
            .get_ok(&format!("/users/{user_id}/changes?since={since}"))
            .await;
        assert_eq!(page["changes"], json!([]));
        assert_eq!(page["has_more"], false);
        // One more change: exactly that one.
        app.patch_json(
            &format!("/users/{user_id}/tasks/{}", id_of(&tasks[0])),
            &json!({ "is_completed": true }),
        )
        .await;
        let page = app
            .get_ok(&format!("/users/{user_id}/changes?since={since}"))
            .await;
        let changes = page["changes"].as_array().unwrap();
        assert_eq!(changes.len(), 1);
        assert_eq!(changes[0]["task_id"], tasks[0]["id"]);
        assert_eq!(changes[0]["task"]["is_completed"], true);
        assert_eq!(changes[0]["version"], 8);
    })
    .await;
}

/// Creates `count` tasks, one after another.
async fn create_tasks(app: &TestApp, user_id: Uuid, count: usize) -> Vec<Value> {
    let mut tasks = Vec::new();
    for n in 0..count {
        tasks.push(app.create_titled(user_id, &format!("task {n}")).await);
    }
    tasks
}

#[tokio::test]
async fn forged_foreign_and_out_of_range_parameters_are_400_and_missing_users_404() {
    each_database(|app| async move {
        let user_id = app.create_user().await;
        let other = app.create_user().await;
        let theirs = app.get_ok(&format!("/users/{other}/changes")).await["next_since"]
            .as_str()
            .unwrap()
            .to_owned();
        let mine = app.get_ok(&format!("/users/{user_id}/changes")).await["next_since"]
            .as_str()
            .unwrap()
            .to_owned();
        // Changed past the key id it starts with (a changed id names a key this server does not
        // hold: 410, see token_keys.rs).
        let mut tampered = mine.clone().into_bytes();
        tampered[20] = if tampered[20] == b'A' { b'B' } else { b'A' };
        let tampered = String::from_utf8(tampered).unwrap();
        for (query, field) in [
            (format!("since={theirs}"), "since"),
            (format!("since={tampered}"), "since"),
            (format!("since={}", &mine[..mine.len() - 3]), "since"),
            ("since=made-up".to_owned(), "since"),
            ("limit=0".to_owned(), "limit"),
            ("limit=1001".to_owned(), "limit"),
            ("limit=ten".to_owned(), "limit"),
        ] {
            let answer = app.get(&format!("/users/{user_id}/changes?{query}")).await;
            let error = expect_error(answer, StatusCode::BAD_REQUEST, "VALIDATION_ERROR").await;
            assert_eq!(
                failing_fields(&error),
                [(field.to_owned(), "query".to_owned())],
                "{query}"
            );
        }
        assert_eq!(
            app.get(&format!("/users/{user_id}/changes?limit=1000"))
                .await
                .status(),
            StatusCode::OK
        );
        let nobody = app.get(&format!("/users/{}/changes", Uuid::new_v4())).await;
        expect_error(nobody, StatusCode::NOT_FOUND, "USER_NOT_FOUND").await;
    })
    .await;
}

#[tokio::test]
async fn a_token_from_before_the_user_was_registered_again_is_410() {
    each_database(|app| async move {
        let user_id = Uuid::new_v4();
        let registration = json!({ "id": user_id });
        let register = || app.send_json(Method::POST, "/users", &registration);
        expect_json(register().await, StatusCode::CREATED).await;
        app.create_titled(user_id, "old life").await;
        let since = app.get_ok(&format!("/users/{user_id}/changes")).await["next_since"]
            .as_str()
            .unwrap()
            .to_owned();
        assert_eq!(
            app.delete(&format!("/users/{user_id}")).await.status(),
            StatusCode::NO_CONTENT
        );
        expect_json(register().await, StatusCode::CREATED).await;
        app.create_titled(user_id, "new life").await;
        let answer = app
            .get(&format!("/users/{user_id}/changes?since={since}"))
            .await;
        let error = expect_error(answer, StatusCode::GONE, "SYNC_EXPIRED").await;
        assert!(error["message"]
            .as_str()
            .unwrap()
            .contains("registered again"));
        // A full sync starts the new feed: the new life only, numbered from 1.
        let page = app.get_ok(&format!("/users/{user_id}/changes")).await;
        assert_eq!(page["changes"].as_array().unwrap().len(), 1);
        assert_eq!(page["changes"][0]["version"], 1);
    })
    .await;
}

#[tokio::test]
async fn tokens_older_than_the_history_kept_are_410_and_old_deletions_are_purged() {
    each_database_configured(
        |config| {
            config.retention = Retention {
                sync_history: Duration::from_secs(1),
                ..config.retention
            }
        },
        |app| async move {
            let user_id = app.create_user().await;
            let task = app.create_titled(user_id, "short-lived").await;
            let since = app.get_ok(&format!("/users/{user_id}/changes")).await["next_since"]
                .as_str()
                .unwrap()
                .to_owned();
            app.delete(&format!("/users/{user_id}/tasks/{}", id_of(&task)))
                .await;
            let fresh = app
                .get_ok(&format!("/users/{user_id}/changes?since={since}"))
                .await;
            assert_eq!(fresh["changes"][0]["deleted"], true);
            tokio::time::sleep(Duration::from_millis(1100)).await;
            let answer = app
                .get(&format!("/users/{user_id}/changes?since={since}"))
                .await;
            let error = expect_error(answer, StatusCode::GONE, "SYNC_EXPIRED").await;
            assert!(error["message"].as_str().unwrap().contains("older than"));
            // Kept a margin longer than tokens live (here as long again), then purged.
            wait_until("the deletion to be purged", || async {
                let page = app.get_ok(&format!("/users/{user_id}/changes")).await;
                page["changes"].as_array().unwrap().is_empty()
            })
            .await;
        },
    )
    .await;
}

#[tokio::test]
async fn a_backlog_followed_slowly_cannot_outlive_the_deletions_kept() {
    each_database_configured(
        |config| {
            config.retention = Retention {
                sync_history: Duration::from_secs(1),
                ..config.retention
            }
        },
        |app| async move {
            let user_id = app.create_user().await;
            create_tasks(&app, user_id, 3).await;
            let page = |since: Option<String>| {
                let app = &app;
                async move {
                    let mut path = format!("/users/{user_id}/changes?limit=1");
                    if let Some(since) = since {
                        path.push_str(&format!("&since={since}"));
                    }
                    app.get(&path).await
                }
            };
            let first = expect_json(page(None).await, StatusCode::OK).await;
            assert_eq!(first["has_more"], true);
            tokio::time::sleep(Duration::from_millis(600)).await;
            let second = expect_json(
                page(first["next_since"].as_str().map(str::to_owned)).await,
                StatusCode::OK,
            )
            .await;
            assert_eq!(second["has_more"], true);
            // The second token is as old as the first page: the client has not caught up since.
            tokio::time::sleep(Duration::from_millis(600)).await;
            let third = page(second["next_since"].as_str().map(str::to_owned)).await;
            expect_error(third, StatusCode::GONE, "SYNC_EXPIRED").await;
        },
    )
    .await;
}

/// Concurrent writers and how many writes each makes.
const WRITERS: usize = 4;
const WRITES_EACH: usize = 40;

#[tokio::test]
async fn a_client_syncing_while_others_write_ends_with_exactly_the_servers_state() {
    for backend in Backend::all() {
        eprintln!("--- on {backend:?}");
        let (_database, config, file) = shared_database(&backend).await;
        let app = Arc::new(TestApp::spawn(config).await);
        let user_id = app.create_user().await;
        let done = Arc::new(AtomicBool::new(false));
        let writers: Vec<_> = (0..WRITERS)
            .map(|writer| {
                let app = app.clone();
                tokio::spawn(async move {
                    let mut mine: Vec<Value> = Vec::new();
                    for n in 0..WRITES_EACH {
                        match (n % 4, mine.len()) {
                            (0 | 1, _) | (_, 0) => mine
                                .push(app.create_titled(user_id, &format!("w{writer} n{n}")).await),
                            (2, _) => {
                                let task = &mine[n % mine.len()];
                                let answer = app
                                    .patch_json(
                                        &format!("/users/{user_id}/tasks/{}", id_of(task)),
                                        &json!({ "title": format!("w{writer} n{n} edited") }),
                                    )
                                    .await;
                                expect_json(answer, StatusCode::OK).await;
                            }
                            _ => {
                                let task = mine.remove(n % mine.len());
                                let answer = app
                                    .delete(&format!("/users/{user_id}/tasks/{}", id_of(&task)))
                                    .await;
                                assert_eq!(answer.status(), StatusCode::NO_CONTENT);
                            }
                        }
                    }
                })
            })
            .collect();
        let syncing = {
            let (app, done) = (app.clone(), done.clone());
            tokio::spawn(async move {
                let mut replica = Replica::default();
                let mut rounds = 0;
                while !done.load(Ordering::SeqCst) {
                    replica.sync(&app, user_id, 7).await;
                    rounds += 1;
                }
                (replica, rounds)
            })
        };
        for writer in writers {
            writer.await.unwrap();
        }
        done.store(true, Ordering::SeqCst);
        let (mut replica, rounds) = syncing.await.unwrap();
        replica.sync(&app, user_id, 7).await;
        let server = server_state(&app, user_id).await;
        assert_eq!(replica.live(), server, "the replica is the server's state");
        let writes = WRITERS * WRITES_EACH;
        // The last version is the number of changes made: none was lost, none counted twice.
        assert_eq!(replica.last_version, writes as i64);
        eprintln!(
            "{writes} writes by {WRITERS} writers; the syncing client saw {} changes in {rounds} \
             rounds, ending with the server's {} tasks",
            replica.changes_seen,
            server.len()
        );
        remove_sqlite_files(file);
    }
}

#[tokio::test]
async fn a_client_syncing_while_lists_are_created_renamed_and_deleted_and_tasks_moved_ends_with_the_servers_lists_tasks_and_order(
) {
    each_database_configured(
        |config| config.user_limits.writes_per_minute = std::num::NonZeroU32::MAX,
        |app| async move {
            let app = Arc::new(app);
            let user_id = app.create_user().await;
            let done = Arc::new(AtomicBool::new(false));
            let writers: Vec<_> = (0..WRITERS)
                .map(|writer| {
                    let app = app.clone();
                    tokio::spawn(async move {
                        let lists = format!("/users/{user_id}/lists");
                        let mut mine: Vec<Value> = Vec::new();
                        // This writer's tasks, each with its list's id.
                        let mut my_tasks: Vec<(Uuid, Option<Uuid>)> = Vec::new();
                        for n in 0..WRITES_EACH {
                            match (n % 6, mine.len(), my_tasks.len()) {
                                (0 | 1, _, _) | (_, 0, _) => {
                                    let body = json!({ "name": format!("w{writer} n{n}") });
                                    let answer = app.post_json(&lists, &body).await;
                                    mine.push(expect_json(answer, StatusCode::CREATED).await);
                                }
                                (2, _, _) | (5, _, 0) => {
                                    let list = id_of(&mine[n % mine.len()]);
                                    let body = json!({ "title": format!("n{n}"), "list_id": list });
                                    let task = app.create_task(user_id, body).await;
                                    my_tasks.push((id_of(&task), Some(list)));
                                }
                                (3, _, _) => {
                                    let path = format!("{lists}/{}", id_of(&mine[n % mine.len()]));
                                    let body = json!({ "name": format!("w{writer} n{n} renamed") });
                                    let answer = app.patch_json(&path, &body).await;
                                    expect_json(answer, StatusCode::OK).await;
                                }
                                (5, _, _) => {
                                    // To the top of its list, or to the inbox: a move of the order.
                                    let which = n % my_tasks.len();
                                    let task = my_tasks[which].0;
                                    let body = match n % 4 {
                                        0 => json!({ "after": null, "list_id": null }),
                                        _ => json!({ "after": null }),
                                    };
                                    let path = format!("/users/{user_id}/tasks/{task}/move");
                                    let answer = app.post_json(&path, &body).await;
                                    let moved = expect_json(answer, StatusCode::OK).await;
                                    let place =
                                        moved["list_id"].as_str().map(|id| id.parse().unwrap());
                                    my_tasks[which].1 = place;
                                }
                                _ => {
                                    let list = mine.remove(n % mine.len());
                                    let answer =
                                        app.delete(&format!("{lists}/{}", id_of(&list))).await;
                                    assert_eq!(answer.status(), StatusCode::NO_CONTENT);
                                    my_tasks.retain(|(_, in_list)| *in_list != Some(id_of(&list)));
                                }
                            }
                        }
                    })
                })
                .collect();
            let syncing = {
                let (app, done) = (app.clone(), done.clone());
                tokio::spawn(async move {
                    let mut replica = Replica::default();
                    while !done.load(Ordering::SeqCst) {
                        replica.sync(&app, user_id, 5).await;
                    }
                    replica
                })
            };
            for writer in writers {
                writer.await.unwrap();
            }
            done.store(true, Ordering::SeqCst);
            let mut replica = syncing.await.unwrap();
            replica.sync(&app, user_id, 5).await;
            assert_eq!(replica.live(), server_state(&app, user_id).await);
            let lists: BTreeMap<String, Value> = app
                .get_ok(&format!("/users/{user_id}/lists?limit=100"))
                .await["items"]
                .as_array()
                .unwrap()
                .iter()
                .map(|list| (list["id"].as_str().unwrap().to_owned(), list.clone()))
                .collect();
            assert!(!lists.is_empty());
            assert_eq!(
                replica.live_lists(),
                lists,
                "the replica has the server's lists"
            );
            assert!(
                replica.lists.values().any(Option::is_none),
                "deletions were seen"
            );
            // A full sync from scratch ends the same.
            let mut fresh = Replica::default();
            fresh.sync(&app, user_id, 1000).await;
            assert_eq!(fresh.live_lists(), lists);
            assert_eq!(fresh.last_version, replica.last_version);
        },
    )
    .await;
}
