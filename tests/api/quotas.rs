//! Per-user bounds: writes per minute, tasks and deletions kept per user (checked in the write,
//! so that no race passes them), each user's share of the pool's connections, and no write
//! answering 500 while its owner is deleted.

use std::num::NonZeroU32;
use std::sync::Arc;
use std::time::{Duration, Instant};

use reqwest::{Method, StatusCode};
use serde_json::{json, Value};
use uuid::Uuid;

use crate::helpers::{
    each_database_configured, expect_error, hold_locks, http_client, id_of, remove_sqlite_files,
    shared_database, Backend, TestApp,
};

#[tokio::test]
async fn a_users_writes_past_the_rate_are_429_whatever_their_answer() {
    each_database_configured(
        |config| config.user_limits.writes_per_minute = NonZeroU32::new(5).unwrap(),
        |app| async move {
            let user = app.create_user().await;
            let other = app.create_user().await;
            let task = app.create_titled(user, "first").await;
            let path = format!("/users/{user}/tasks/{}", id_of(&task));
            // A change, a refused create, a write with a parameter the operation does not have
            // (refused by the gate after the rate is taken), a write of a task that does not
            // exist: each counts.
            let patched = app.patch_json(&path, &json!({ "title": "second" })).await;
            assert_eq!(patched.status(), StatusCode::OK);
            let refused = app
                .post_json(&format!("/users/{user}/tasks"), &json!({ "title": "" }))
                .await;
            assert_eq!(refused.status(), StatusCode::BAD_REQUEST);
            let unknown_parameter = app.delete(&format!("{path}?force=true")).await;
            expect_error(
                unknown_parameter,
                StatusCode::BAD_REQUEST,
                "VALIDATION_ERROR",
            )
            .await;
            let missing = app
                .delete(&format!("/users/{user}/tasks/{}", Uuid::new_v4()))
                .await;
            assert_eq!(missing.status(), StatusCode::NOT_FOUND);
            let limited = app.patch_json(&path, &json!({ "title": "third" })).await;
            assert_eq!(limited.status(), StatusCode::TOO_MANY_REQUESTS);
            let retry_after: u64 = limited.headers()["retry-after"]
                .to_str()
                .unwrap()
                .parse()
                .unwrap();
            assert!((1..=15).contains(&retry_after), "{retry_after}");
            expect_error(limited, StatusCode::TOO_MANY_REQUESTS, "RATE_LIMITED").await;
            // Nothing was written; reads and other users go on.
            assert_eq!(app.get_ok(&path).await["title"], "second");
            app.create_titled(other, "theirs").await;
        },
    )
    .await;
}

#[tokio::test]
async fn creates_past_the_task_quota_are_409_and_write_nothing() {
    each_database_configured(
        |config| config.user_limits.max_tasks = 2,
        |app| async move {
            let user = app.create_user().await;
            let first = app.create_titled(user, "one").await;
            app.create_titled(user, "two").await;
            let tasks = format!("/users/{user}/tasks");
            let over = app.post_json(&tasks, &json!({ "title": "three" })).await;
            expect_error(over, StatusCode::CONFLICT, "QUOTA_EXCEEDED").await;
            // With an idempotency key: refused alike, and the key is not spent on it.
            let keyed = || {
                http_client()
                    .post(app.url(&tasks))
                    .header("Idempotency-Key", "quota-1")
                    .json(&json!({ "title": "keyed" }))
                    .send()
            };
            expect_error(
                keyed().await.unwrap(),
                StatusCode::CONFLICT,
                "QUOTA_EXCEEDED",
            )
            .await;
            assert_eq!(app.all_tasks(user).await.len(), 2);
            // A deletion makes room again, and the same key then creates.
            let deleted = app.delete(&format!("{tasks}/{}", id_of(&first))).await;
            assert_eq!(deleted.status(), StatusCode::NO_CONTENT);
            assert_eq!(keyed().await.unwrap().status(), StatusCode::CREATED);
            let replayed = keyed().await.unwrap();
            assert_eq!(replayed.status(), StatusCode::CREATED);
            assert_eq!(replayed.headers()["idempotent-replayed"], "true");
            assert_eq!(app.all_tasks(user).await.len(), 2);
        },
    )
    .await;
}

#[tokio::test]
async fn concurrent_creates_at_the_quota_never_pass_it_together() {
    each_database_configured(
        |config| {
            config.user_limits.max_tasks = 5;
            config.user_limits.max_concurrent_writes = 32;
        },
        |app| async move {
            let app = Arc::new(app);
            for round in 0..5 {
                let user = app.create_user().await;
                // Some room taken already, so that the race is at the limit.
                for n in 0..3 {
                    app.create_titled(user, &format!("before {n}")).await;
                }
                let creates: Vec<_> = (0..16)
                    .map(|n| {
                        let app = app.clone();
                        tokio::spawn(async move {
                            let tasks = format!("/users/{user}/tasks");
                            let body = json!({ "title": format!("racer {n}") });
                            app.post_json(&tasks, &body).await.status()
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
                assert_eq!(app.all_tasks(user).await.len(), 5, "round {round}");
            }
        },
    )
    .await;
}

/// A full walk of the user's change feed from `since`: every change, and the last token.
async fn changes_since(app: &TestApp, user: Uuid, since: Option<&str>) -> (Vec<Value>, String) {
    let mut changes = Vec::new();
    let mut since = since.map(str::to_owned);
    loop {
        let query = since
            .as_deref()
            .map_or(String::new(), |s| format!("?since={s}"));
        let page = app.get_ok(&format!("/users/{user}/changes{query}")).await;
        changes.extend(page["changes"].as_array().unwrap().iter().cloned());
        since = Some(page["next_since"].as_str().unwrap().to_owned());
        if page["has_more"] == false {
            return (changes, since.unwrap());
        }
    }
}

/// Deletes one of the user's tasks.
async fn delete(app: &TestApp, user: Uuid, task: &Value) {
    let deleted = app
        .delete(&format!("/users/{user}/tasks/{}", id_of(task)))
        .await;
    assert_eq!(deleted.status(), StatusCode::NO_CONTENT);
}

#[tokio::test]
async fn deletions_kept_are_bounded_and_older_tokens_expire() {
    each_database_configured(
        |config| config.user_limits.max_tombstones = 3,
        |app| async move {
            let user = app.create_user().await;
            let mut tasks = Vec::new();
            for n in 0..6 {
                tasks.push(app.create_titled(user, &format!("task {n}")).await);
            }
            let (_, before_deletions) = changes_since(&app, user, None).await;
            for task in &tasks[..3] {
                delete(&app, user, task).await;
            }
            // Three deletions kept: a token from before them still sees each.
            let (seen, caught_up) = changes_since(&app, user, Some(&before_deletions)).await;
            assert_eq!(seen.len(), 3);
            assert!(seen.iter().all(|change| change["deleted"] == true));
            // The fourth drops the oldest: the token before it has missed one.
            delete(&app, user, &tasks[3]).await;
            let expired = app
                .get(&format!("/users/{user}/changes?since={before_deletions}"))
                .await;
            expect_error(expired, StatusCode::GONE, "SYNC_EXPIRED").await;
            let (seen, _) = changes_since(&app, user, Some(&caught_up)).await;
            assert_eq!(seen.len(), 1, "{seen:?}");
            // A create-then-delete loop keeps no more deletions than the bound.
            for n in 0..20 {
                let task = app.create_titled(user, &format!("churn {n}")).await;
                delete(&app, user, &task).await;
            }
            let (all, _) = changes_since(&app, user, None).await;
            let deletions = all
                .iter()
                .filter(|change| change["deleted"] == true)
                .count();
            assert_eq!(deletions, 3, "{all:?}");
            assert_eq!(all.len(), 3 + 2, "the two tasks left and three deletions");
        },
    )
    .await;
}

#[tokio::test]
async fn no_write_answers_500_while_its_owner_is_deleted_and_registered_again() {
    each_database_configured(
        |config| config.user_limits.max_concurrent_writes = 16,
        |app| async move {
            let app = Arc::new(app);
            for round in 0..15 {
                let user = app.create_user().await;
                let mut tasks = Vec::new();
                for n in 0..4 {
                    tasks.push(id_of(&app.create_titled(user, &format!("task {n}")).await));
                }
                let writers: Vec<_> = (0..12)
                    .map(|n| {
                        let (app, task) = (app.clone(), tasks[n % tasks.len()]);
                        tokio::spawn(async move {
                            let path = format!("/users/{user}/tasks/{task}");
                            let mut statuses = Vec::new();
                            for turn in 0..6 {
                                let body = json!({ "title": format!("{n}.{turn}") });
                                let answer = match turn % 3 {
                                    0 => app.send_json(Method::PATCH, &path, &body).await,
                                    1 => app.send_json(Method::PUT, &path, &body).await,
                                    _ => app.delete(&path).await,
                                };
                                let status = answer.status();
                                let retry_after = answer.headers().contains_key("retry-after");
                                let body: Value = answer.json().await.unwrap_or(Value::Null);
                                statuses.push((status, retry_after, body));
                            }
                            statuses
                        })
                    })
                    .collect();
                let deleted = app.delete(&format!("/users/{user}")).await;
                assert_eq!(deleted.status(), StatusCode::NO_CONTENT);
                let again = app.post_json("/users", &json!({ "id": user })).await;
                assert_eq!(again.status(), StatusCode::CREATED);
                for writer in writers {
                    for (status, retry_after, body) in writer.await.unwrap() {
                        // Twelve writers on four tasks of one owner: a replacement that loses its
                        // every attempt to the others (or a wait for the owner's row or a connection
                        // that passes its timeout on a loaded machine) is the design's 503, which says
                        // that nothing was written and to try again; never a 500.
                        let unwritten = status == StatusCode::SERVICE_UNAVAILABLE
                            && retry_after
                            && body["error"]["code"] == "SERVICE_UNAVAILABLE";
                        assert!(
                            matches!(status.as_u16(), 200 | 204 | 404) || unwritten,
                            "round {round}: {status} {body}"
                        );
                    }
                }
                // The registration again starts clean: its counts are its own.
                let created = app.create_titled(user, "after").await;
                assert_eq!(created["version"], 1, "round {round}");
            }
        },
    )
    .await;
}

/// The `q`-th quantile of `samples`.
fn quantile(samples: &mut [Duration], q: f64) -> Duration {
    samples.sort();
    samples[((samples.len() - 1) as f64 * q) as usize]
}

/// Reads of one task `count` times, one at a time: each read's latency.
async fn read_latencies(client: &reqwest::Client, url: &str, count: usize) -> Vec<Duration> {
    let mut latencies = Vec::with_capacity(count);
    for _ in 0..count {
        let started = Instant::now();
        let read = client.get(url).send().await.unwrap();
        assert_eq!(read.status(), StatusCode::OK);
        read.bytes().await.unwrap();
        latencies.push(started.elapsed());
    }
    latencies
}

#[tokio::test]
async fn sixty_four_writers_of_one_user_leave_others_their_share_of_the_pool() {
    for backend in Backend::all() {
        eprintln!("--- on {backend:?}");
        let (database, mut config, file) = shared_database(&backend).await;
        config.database_max_connections = 8;
        config.user_limits.writes_per_minute = NonZeroU32::MAX;
        let app = Arc::new(TestApp::spawn(config).await);
        let (writer, reader) = (app.create_user().await, app.create_user().await);
        let written = id_of(&app.create_titled(writer, "shared").await);
        let read_url = app.url(&format!(
            "/users/{reader}/tasks/{}",
            id_of(&app.create_titled(reader, "mine").await)
        ));
        let client = http_client();
        read_latencies(&client, &read_url, 20).await; // warm
        let idle = quantile(&mut read_latencies(&client, &read_url, 100).await, 0.5);
        // The writer's owner row (the write lock on SQLite) held elsewhere: each of the user's
        // writes waits for it, as behind a long write of the user's own.
        let (_locker, lock) = hold_locks(&database.url, writer, &written.to_string()).await;
        let writers: Vec<_> = (0..64)
            .map(|n| {
                let app = app.clone();
                tokio::spawn(async move {
                    let path = format!("/users/{writer}/tasks/{written}");
                    let body = json!({ "title": format!("writer {n}") });
                    app.patch_json(&path, &body).await.status()
                })
            })
            .collect();
        tokio::time::sleep(Duration::from_millis(200)).await;
        let busy = quantile(&mut read_latencies(&client, &read_url, 100).await, 0.5);
        lock.rollback().await.unwrap();
        for writer in writers {
            assert_eq!(writer.await.unwrap(), StatusCode::OK);
        }
        let ratio = busy.as_secs_f64() / idle.as_secs_f64();
        eprintln!("another user's read p50: idle {idle:?}, beside 64 waiting writers {busy:?} ({ratio:.2}x)");
        assert!(ratio <= 2.0, "p50 {idle:?} → {busy:?} ({ratio:.2}x)");
        drop(app);
        remove_sqlite_files(file);
    }
}
