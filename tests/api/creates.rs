//! Creates that arrive together: each is answered as if it came alone (its task with its owner's
//! next version and the key after the last of its list's; 404 for an unknown owner, 400 for another
//! user's list, 409 for a taken id or a full quota, none of which holds the others back), and on
//! PostgreSQL those of different owners are written together, in fewer statements than there
//! were creates; a create that no writer takes in time (the database holding them up) gives up
//! as a wait for a connection does, and is never written; an owner whose row is held holds up no
//! other owner's creates. Creates and moves to the end of one owner's list that race each come
//! last, with a key of their own.

use std::collections::HashMap;
use std::sync::Arc;
use std::time::Duration;

use futures_util::future::join_all;
use reqwest::{Method, StatusCode};
use serde_json::{json, Value};
use uuid::Uuid;

use crate::helpers::*;
use crate::lists::create_list;
use crate::versions::send_with;

/// Each user's task quota here.
const MAX_TASKS: usize = 4;

/// What a create must be answered.
enum Expected {
    Created,
    Refused(StatusCode, &'static str),
}

/// A create: its owner, its body and its expected answer.
type Create = (Uuid, Value, Expected);

/// Creates of five users' tasks (three each, one of them into the owner's list), and creates
/// that must be refused: into another user's list, with an id another user's task has, for an
/// unknown owner, and for an owner whose quota is full.
async fn mixed_creates(app: &TestApp) -> Vec<Create> {
    let mut users = Vec::new();
    for _ in 0..5 {
        users.push(app.create_user().await);
    }
    let list = id_of(&create_list(app, users[0], "Errands").await);
    let taken = id_of(&app.create_titled(users[1], "has its id").await);
    let full = app.create_user().await;
    for n in 0..MAX_TASKS {
        app.create_titled(full, &format!("filling {n}")).await;
    }
    let mut creates = Vec::new();
    for (n, user) in users.iter().enumerate() {
        for round in 0..2 {
            let body = match round {
                0 => {
                    json!({ "title": format!("user {n}"), "priority": "high", "tags": ["a", "b"] })
                }
                _ => json!({
                    "title": format!("user {n} again"),
                    "due": { "date": "2026-12-24", "time": "08:30", "time_zone": "Europe/Paris" },
                    "recurrence": "FREQ=WEEKLY",
                    "is_completed": n % 2 == 0,
                }),
            };
            creates.push((*user, body, Expected::Created));
        }
    }
    let into_list = json!({ "title": "errand", "list_id": list, "due": { "date": "2026-12-24" } });
    creates.push((users[0], into_list.clone(), Expected::Created));
    for user in &users[2..] {
        let body = json!({ "title": "inbox", "tags": ["together"] });
        creates.push((*user, body, Expected::Created));
    }
    let refused = [
        (
            users[2],
            into_list,
            Expected::Refused(StatusCode::BAD_REQUEST, "VALIDATION_ERROR"),
        ),
        (
            users[3],
            json!({ "title": "same id", "id": taken }),
            Expected::Refused(StatusCode::CONFLICT, "TASK_ALREADY_EXISTS"),
        ),
        (
            Uuid::new_v4(),
            json!({ "title": "nobody's" }),
            Expected::Refused(StatusCode::NOT_FOUND, "USER_NOT_FOUND"),
        ),
        (
            full,
            json!({ "title": "one too many" }),
            Expected::Refused(StatusCode::CONFLICT, "QUOTA_EXCEEDED"),
        ),
    ];
    creates.extend(refused);
    creates
}

/// Asserts that the inbox tasks among `user`'s `tasks` have keys in the order of their versions:
/// each came last in the inbox when it was written, after the owner's writes before it.
fn assert_inbox_keys_follow_versions(user: Uuid, tasks: &[Value]) {
    let mut inbox: Vec<&Value> = tasks
        .iter()
        .filter(|task| task["list_id"].is_null())
        .collect();
    inbox.sort_by_key(|task| task["version"].as_i64().unwrap());
    let keys: Vec<&str> = inbox
        .iter()
        .map(|task| task["position"].as_str().unwrap())
        .collect();
    assert!(
        keys.windows(2).all(|pair| pair[0] < pair[1]),
        "{user}'s inbox keys in the order of the versions: {keys:?}"
    );
}

/// Sends every create at once and checks each answer: a created task is stored as answered, and
/// each owner's inbox tasks have keys in the order of their versions (each created at the end of
/// its list, whatever was created beside it).
async fn create_at_once(app: &TestApp, creates: &[Create]) {
    let paths: Vec<String> = creates
        .iter()
        .map(|(user, _, _)| format!("/users/{user}/tasks"))
        .collect();
    let answers = join_all(
        paths
            .iter()
            .zip(creates)
            .map(|(path, (_, body, _))| app.post_json(path, body)),
    )
    .await;
    let mut created: HashMap<Uuid, Vec<Value>> = HashMap::new();
    for ((user, body, expected), answer) in creates.iter().zip(answers) {
        match expected {
            Expected::Created => {
                let etag = answer.headers()["etag"].to_str().unwrap().to_owned();
                let task = expect_json(answer, StatusCode::CREATED).await;
                assert_eq!(task["title"], body["title"]);
                assert_eq!(etag, format!("\"{}\"", task["version"]), "{body}");
                let stored = app
                    .get_ok(&format!("/users/{user}/tasks/{}", id_of(&task)))
                    .await;
                assert_eq!(stored, task, "{body}");
                created.entry(*user).or_default().push(task);
            }
            Expected::Refused(status, code) => {
                expect_error(answer, *status, code).await;
            }
        }
    }
    for (user, mut tasks) in created {
        assert_inbox_keys_follow_versions(user, &tasks);
        tasks.sort_by_key(|task| task["version"].as_i64().unwrap());
        let versions: Vec<i64> = tasks
            .iter()
            .map(|t| t["version"].as_i64().unwrap())
            .collect();
        assert!(
            versions.windows(2).all(|pair| pair[0] < pair[1]),
            "{user}'s versions: {versions:?}"
        );
        assert!(app.all_tasks(user).await.len() <= MAX_TASKS);
    }
}

#[tokio::test]
async fn creates_arriving_together_are_each_answered_as_if_alone() {
    each_database_configured(
        |config| {
            config.user_limits.max_tasks = MAX_TASKS as i64;
        },
        |app| async move {
            let creates = mixed_creates(&app).await;
            create_at_once(&app, &creates).await;
        },
    )
    .await;
}

/// The tasks a statement that creates tasks together creates (0: not such a statement).
fn tasks_created_together(sql: &str) -> usize {
    let creating = r#"WITH "input" ("#;
    match sql.split_once(creating) {
        Some((_, rows)) => rows.split(" AS (VALUES ").nth(1).map_or(0, |rows| {
            rows.split_once(r#"), "counter""#)
                .map_or(0, |(values, _)| values.matches("), (").count() + 1)
        }),
        None => 0,
    }
}

#[tokio::test]
async fn on_postgresql_creates_of_different_owners_arriving_together_share_statements() {
    let Some(database) = postgres_database().await else {
        return;
    };
    let proxy = PgProxy::to("127.0.0.1:5432").await;
    // A worker for each five connections of the pool creates tasks together: here one, so that
    // creates must wait for each other.
    let mut config = database.config_through(&proxy, 2);
    config.user_limits.max_tasks = MAX_TASKS as i64;
    let app = TestApp::spawn(config).await;
    let creates = mixed_creates(&app).await;
    proxy.round_trips.take();
    create_at_once(&app, &creates).await;
    proxy
        .round_trips
        .assert_done_together(creates.len(), tasks_created_together);
}

#[tokio::test]
async fn on_postgresql_creates_no_writer_took_in_time_give_up_and_are_never_written() {
    let Some(database) = postgres_database().await else {
        return;
    };
    let app = Arc::new(TestApp::spawn(database.config_with_one_worker()).await);
    let (held, waiting) = (app.create_user().await, app.create_user().await);
    // Another session holds the first owner's row: the writer's statement waits inside
    // PostgreSQL.
    let (_locker, locks) = open_transaction(
        &database.url,
        &[format!(
            "SELECT id FROM users WHERE id = '{held}' FOR UPDATE"
        )],
    )
    .await;
    let first = {
        let app = app.clone();
        tokio::spawn(async move { app.create_task(held, json!({ "title": "held up" })).await })
    };
    tokio::time::sleep(Duration::from_millis(100)).await;
    let path = format!("/users/{waiting}/tasks");
    let bodies: Vec<Value> = (0..3)
        .map(|n| json!({ "title": format!("queued {n}") }))
        .collect();
    let queued = join_all(bodies.iter().map(|body| app.post_json(&path, body))).await;
    expect_try_again(queued).await;
    locks.rollback().await.unwrap();
    assert_eq!(first.await.unwrap()["title"], "held up");
    // The writer, free again, finds nothing of the given-up creates to write.
    app.create_titled(held, "after").await;
    tokio::time::sleep(Duration::from_millis(200)).await;
    assert_eq!(app.all_tasks(waiting).await, Vec::<Value>::new());
}

#[tokio::test]
async fn on_postgresql_an_owner_whose_row_is_held_holds_up_no_other_owners_creates() {
    let Some(database) = postgres_database().await else {
        return;
    };
    // The default pool: two workers create tasks together. A create no worker takes within 1 s
    // gives up.
    let mut config = database.config();
    config.database_acquire_timeout = Duration::from_secs(1);
    let app = Arc::new(TestApp::spawn(config).await);
    let held = app.create_user().await;
    let others = [app.create_user().await, app.create_user().await];
    // Another session holds the owner's row: a statement writing one of its tasks waits.
    let (_locker, locks) = open_transaction(
        &database.url,
        &[format!(
            "SELECT id FROM users WHERE id = '{held}' FOR UPDATE"
        )],
    )
    .await;
    // The owner's creates arrive one after another, so that each worker may take one.
    let mut held_up = Vec::new();
    for n in 0..3 {
        let app = app.clone();
        held_up.push(tokio::spawn(async move {
            app.create_task(held, json!({ "title": format!("held up {n}") }))
                .await
        }));
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
    // Meanwhile every other owner's creates are written, none given up.
    for other in others {
        for n in 0..3 {
            app.create_task(other, json!({ "title": format!("not held up {n}") }))
                .await;
        }
        assert_eq!(app.all_tasks(other).await.len(), 3);
    }
    locks.rollback().await.unwrap();
    for create in held_up {
        create.await.unwrap();
    }
    assert_eq!(app.all_tasks(held).await.len(), 3);
}

/// Tasks of `user`'s list "Elsewhere", to be put in the inbox.
async fn tasks_to_move(app: &TestApp, user: Uuid) -> Vec<Uuid> {
    let list = id_of(&create_list(app, user, "Elsewhere").await);
    let mut moving = Vec::new();
    for n in 0..6 {
        let body = json!({ "title": format!("moving {n}"), "list_id": list });
        moving.push(id_of(&app.create_task(user, body).await));
    }
    moving
}

/// Writes of `user`'s that all end up last in the inbox, sent at once: each waits for the
/// owner's lock while another makes the inbox's last key. Plain creates (written together where
/// they can be), creates with an idempotency key (written alone) and the tasks `moving` put in
/// the inbox from a list (each comes last there).
async fn race_to_the_inbox(app: &TestApp, user: Uuid, moving: &[Uuid]) {
    let path = format!("/users/{user}/tasks");
    let plain = (0..12).map(|n| {
        let path = &path;
        async move {
            app.post_json(path, &json!({ "title": format!("plain {n}") }))
                .await
        }
    });
    let keyed = (0..6).map(|n| {
        let path = &path;
        async move {
            let key = format!("racing-{n}");
            let body = json!({ "title": format!("keyed {n}") });
            send_with(
                app,
                Method::POST,
                path,
                ("idempotency-key", &key),
                Some(&body),
            )
            .await
        }
    });
    let moved = moving.iter().map(|task| {
        let path = format!("{path}/{task}");
        async move { app.patch_json(&path, &json!({ "list_id": null })).await }
    });
    let (plain, keyed, moved) =
        futures_util::join!(join_all(plain), join_all(keyed), join_all(moved));
    for answer in plain.into_iter().chain(keyed) {
        expect_json(answer, StatusCode::CREATED).await;
    }
    for answer in moved {
        expect_json(answer, StatusCode::OK).await;
    }
}

#[tokio::test]
async fn creates_and_moves_racing_to_the_end_of_one_list_each_get_a_key_of_their_own() {
    each_database_configured(
        |config| {
            config.user_limits.writes_per_minute = std::num::NonZeroU32::MAX;
            config.user_limits.max_concurrent_writes = 16;
        },
        |app| async move {
            // Two owners at once, so that statements of creates hold both.
            let (first, second) = (app.create_user().await, app.create_user().await);
            let (first_moving, second_moving) = (
                tasks_to_move(&app, first).await,
                tasks_to_move(&app, second).await,
            );
            futures_util::join!(
                race_to_the_inbox(&app, first, &first_moving),
                race_to_the_inbox(&app, second, &second_moving)
            );
            for user in [first, second] {
                let tasks = app.all_tasks(user).await;
                let inbox = tasks.iter().filter(|task| task["list_id"].is_null());
                assert_eq!(inbox.count(), 24);
                assert_inbox_keys_follow_versions(user, &tasks);
            }
        },
    )
    .await;
}
