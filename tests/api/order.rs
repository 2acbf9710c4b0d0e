//! The manual order: every task has a `position` the server makes (fractional-indexing keys over
//! `0-9A-Za-z`, compared as bytes), a new task comes last in its list, a task put in another list
//! by PUT or PATCH comes last in that one, `sort=position` pages a list in that order, and a move
//! puts a task right after another (one round trip on PostgreSQL, whose key function answers as
//! the server's does), concurrent moves each seeing the others.

use reqwest::{Method, StatusCode};
use sea_orm::sqlx::{self, Connection, PgConnection};
use serde_json::{json, Value};
use task_api::domain::key_between;
use uuid::Uuid;

use crate::helpers::*;
use crate::lists::create_list;
use crate::tasks_in_lists::listed;
use crate::versions::send_with;

/// The digits of a key, in byte order.
const DIGITS: &[u8] = b"0123456789ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz";

/// The key after an integer key of a positive head (`a0` → `a1`, `az` → `b00`): the model the
/// server's keys are checked against.
fn next_integer_key(key: &str) -> String {
    let mut digits: Vec<u8> = key.bytes().collect();
    for place in (1..digits.len()).rev() {
        let digit = DIGITS.iter().position(|d| *d == digits[place]).unwrap();
        if digit + 1 < DIGITS.len() {
            digits[place] = DIGITS[digit + 1];
            return String::from_utf8(digits).unwrap();
        }
        digits[place] = b'0';
    }
    digits[0] += 1;
    digits.push(b'0');
    String::from_utf8(digits).unwrap()
}

/// The ids of a list's tasks in the manual order, following the cursor `limit` at a time.
async fn in_order(app: &TestApp, user: Uuid, list: &str, limit: u32) -> Vec<Uuid> {
    listed(app, user, &format!("sort=position&list_id={list}"), limit).await
}

fn position_of(task: &Value) -> &str {
    task["position"].as_str().unwrap()
}

#[tokio::test]
async fn new_tasks_come_last_in_their_list_and_sort_by_position_pages_that_order() {
    each_database_configured(
        |config| config.user_limits.writes_per_minute = std::num::NonZeroU32::MAX,
        |app| async move {
            let user = app.create_user().await;
            let list = create_list(&app, user, "Long").await;
            let (mut created, mut inbox) = (Vec::new(), Vec::new());
            let mut expected = "a0".to_owned();
            // Past `az`, where the integer part grows a digit.
            for n in 0..70 {
                let body = json!({ "title": format!("task {n}"), "list_id": id_of(&list) });
                let task = app.create_task(user, body).await;
                assert_eq!(position_of(&task), expected, "task {n}");
                assert_eq!(
                    app.get_ok(&format!("/users/{user}/tasks/{}", id_of(&task)))
                        .await,
                    task
                );
                expected = next_integer_key(&expected);
                created.push(id_of(&task));
                if n % 20 == 0 {
                    let other = app.create_titled(user, &format!("inbox {n}")).await;
                    inbox.push((position_of(&other).to_owned(), id_of(&other)));
                }
            }
            assert_eq!(expected, "b08");
            // The inbox is an order of its own.
            let inbox_keys: Vec<&str> = inbox.iter().map(|(key, _)| key.as_str()).collect();
            assert_eq!(inbox_keys, ["a0", "a1", "a2", "a3"]);
            for limit in [7, 100] {
                assert_eq!(
                    in_order(&app, user, &id_of(&list).to_string(), limit).await,
                    created
                );
            }
            let inbox_ids: Vec<Uuid> = inbox.iter().map(|(_, id)| *id).collect();
            assert_eq!(in_order(&app, user, "inbox", 2).await, inbox_ids);
        },
    )
    .await;
}

#[tokio::test]
async fn a_task_put_in_another_list_comes_last_there_and_keeps_its_place_otherwise() {
    each_database(|app| async move {
        let user = app.create_user().await;
        let home = create_list(&app, user, "Home").await;
        let work = create_list(&app, user, "Work").await;
        let mut tasks = Vec::new();
        for (n, list) in [&home, &home, &work, &work].into_iter().enumerate() {
            let body = json!({ "title": format!("task {n}"), "list_id": id_of(list) });
            tasks.push(app.create_task(user, body).await);
        }
        let path = format!("/users/{user}/tasks/{}", id_of(&tasks[0]));
        // Another field, PUT in the same list, or the same list again: the same place.
        let renamed = app.patch_json(&path, &json!({ "title": "renamed" })).await;
        let renamed = expect_json(renamed, StatusCode::OK).await;
        assert_eq!(renamed["position"], tasks[0]["position"]);
        let put = app
            .put_json(&path, &json!({ "title": "put", "list_id": id_of(&home) }))
            .await;
        let put = expect_json(put, StatusCode::OK).await;
        assert_eq!(put["position"], tasks[0]["position"]);
        // Into work: after work's last.
        let moved = app
            .patch_json(&path, &json!({ "list_id": id_of(&work) }))
            .await;
        let moved = expect_json(moved, StatusCode::OK).await;
        assert_eq!(position_of(&moved), "a2");
        let work_order = in_order(&app, user, &id_of(&work).to_string(), 20).await;
        assert_eq!(
            work_order,
            [id_of(&tasks[2]), id_of(&tasks[3]), id_of(&tasks[0])]
        );
        // PUT without a list: last in the inbox (empty: the first key).
        let put = app.put_json(&path, &json!({ "title": "inbox" })).await;
        let put = expect_json(put, StatusCode::OK).await;
        assert_eq!((&put["list_id"], position_of(&put)), (&Value::Null, "a0"));
        // Back to home, whose last is task 1: after it.
        let back = app
            .patch_json(&path, &json!({ "list_id": id_of(&home) }))
            .await;
        let back = expect_json(back, StatusCode::OK).await;
        assert_eq!(position_of(&back), "a2");
        let home_order = in_order(&app, user, &id_of(&home).to_string(), 1).await;
        assert_eq!(home_order, [id_of(&tasks[1]), id_of(&tasks[0])]);
    })
    .await;
}

#[tokio::test]
async fn position_is_read_only() {
    each_database(|app| async move {
        let user = app.create_user().await;
        let task = app.create_titled(user, "t").await;
        let tasks = format!("/users/{user}/tasks");
        let body = json!({ "title": "t", "position": "a5" });
        let refused = app.post_json(&tasks, &body).await;
        let error = expect_error(refused, StatusCode::BAD_REQUEST, "VALIDATION_ERROR").await;
        assert_eq!(error["details"]["fields"][0]["field"], "position");
        let path = format!("{tasks}/{}", id_of(&task));
        let refused = app.patch_json(&path, &json!({ "position": "a5" })).await;
        let error = expect_error(refused, StatusCode::BAD_REQUEST, "VALIDATION_ERROR").await;
        assert_eq!(error["details"]["fields"][0]["field"], "position");
        assert_eq!(app.get_ok(&path).await, task);
    })
    .await;
}

/// `POST …/tasks/{task}/move` with `body`.
async fn move_task(app: &TestApp, user: Uuid, task: Uuid, body: &Value) -> reqwest::Response {
    app.post_json(&format!("/users/{user}/tasks/{task}/move"), body)
        .await
}

/// Moves a task, expecting 200: the task as moved.
async fn moved(app: &TestApp, user: Uuid, task: Uuid, body: Value) -> Value {
    expect_json(move_task(app, user, task, &body).await, StatusCode::OK).await
}

/// Creates `n` tasks in `list`, in order.
async fn tasks_in(app: &TestApp, user: Uuid, list: Uuid, n: usize) -> Vec<Uuid> {
    let mut tasks = Vec::with_capacity(n);
    for index in 0..n {
        let body = json!({ "title": format!("task {index}"), "list_id": list });
        tasks.push(id_of(&app.create_task(user, body).await));
    }
    tasks
}

#[tokio::test]
async fn a_move_puts_the_task_right_after_another_or_first_in_any_of_the_users_lists() {
    each_database(|app| async move {
        let user = app.create_user().await;
        let home = id_of(&create_list(&app, user, "Home").await);
        let work = id_of(&create_list(&app, user, "Work").await);
        let [a, b, c] = tasks_in(&app, user, home, 3).await[..] else {
            unreachable!()
        };
        let home_order = async || in_order(&app, user, &home.to_string(), 20).await;
        // c first, then a after b.
        let first = move_task(&app, user, c, &json!({ "after": null })).await;
        let etag = first.headers()["etag"].to_str().unwrap().to_owned();
        let first = expect_json(first, StatusCode::OK).await;
        assert_eq!(etag, format!("\"{}\"", first["version"]));
        assert!(position_of(&first) < "a0", "{first}");
        assert_eq!(home_order().await, [c, a, b]);
        let after_b = moved(&app, user, a, json!({ "after": b })).await;
        assert_eq!(home_order().await, [c, b, a]);
        // Where it is already: nothing changes, no version is taken.
        let again = moved(&app, user, a, json!({ "after": b })).await;
        assert_eq!(again, after_b);
        // Into work (empty), then to the inbox after its only task.
        let into_work = moved(&app, user, b, json!({ "after": null, "list_id": work })).await;
        assert_eq!(into_work["list_id"], json!(work));
        assert_eq!(in_order(&app, user, &work.to_string(), 20).await, [b]);
        assert_eq!(home_order().await, [c, a]);
        let inbox = id_of(&app.create_titled(user, "in the inbox").await);
        let to_inbox = moved(&app, user, c, json!({ "after": inbox, "list_id": null })).await;
        assert_eq!(to_inbox["list_id"], Value::Null);
        assert_eq!(in_order(&app, user, "inbox", 20).await, [inbox, c]);
        assert_eq!(home_order().await, [a]);
        // The feed has the last move, last.
        let feed = app
            .get_ok(&format!("/users/{user}/changes?limit=1000"))
            .await;
        let last = feed["changes"].as_array().unwrap().last().unwrap().clone();
        assert_eq!(last["task"], to_inbox, "{feed}");
    })
    .await;
}

#[tokio::test]
async fn a_move_refuses_what_it_cannot_do_and_writes_nothing() {
    each_database(|app| async move {
        let user = app.create_user().await;
        let other = app.create_user().await;
        let home = id_of(&create_list(&app, user, "Home").await);
        let theirs = id_of(&create_list(&app, other, "Theirs").await);
        let [a, b] = tasks_in(&app, user, home, 2).await[..] else {
            unreachable!()
        };
        let inbox_task = id_of(&app.create_titled(user, "inbox").await);
        let their_task = id_of(&app.create_titled(other, "theirs").await);
        let before = app.all_tasks(user).await;
        // `after` not another task of the destination list: itself, another list's, another
        // user's, an unknown one; `after` missing.
        for after in [a, inbox_task, their_task, Uuid::new_v4()] {
            let refused = move_task(&app, user, a, &json!({ "after": after })).await;
            expect_invalid(refused, &[("after", "body")]).await;
        }
        let refused = move_task(&app, user, a, &json!({ "list_id": null })).await;
        expect_invalid(refused, &[("after", "body")]).await;
        let refused = move_task(&app, user, a, &json!({ "after": b, "list_id": null })).await;
        expect_invalid(refused, &[("after", "body")]).await;
        // A list not the user's, or no list at all.
        for list in [theirs, Uuid::new_v4()] {
            let body = json!({ "after": null, "list_id": list });
            expect_invalid(
                move_task(&app, user, a, &body).await,
                &[("list_id", "body")],
            )
            .await;
        }
        // Unknown fields, wrong types.
        let body = json!({ "after": null, "position": "a5" });
        expect_invalid(
            move_task(&app, user, a, &body).await,
            &[("position", "body")],
        )
        .await;
        let body = json!({ "after": 5, "list_id": "x" });
        let refused = move_task(&app, user, a, &body).await;
        expect_invalid(refused, &[("after", "body"), ("list_id", "body")]).await;
        // Another user's task, or none: 404 whatever the preconditions.
        let first = json!({ "after": null });
        let conditional = async |task: Uuid, header: (&str, &str)| {
            let path = format!("/users/{user}/tasks/{task}/move");
            send_with(&app, Method::POST, &path, header, Some(&first)).await
        };
        for task in [their_task, Uuid::new_v4()] {
            for header in [("if-match", "\"1\""), ("if-none-match", "*")] {
                let answer = conditional(task, header).await;
                expect_error(answer, StatusCode::NOT_FOUND, "TASK_NOT_FOUND").await;
            }
        }
        // Preconditions: 412 for a stale tag in If-Match, `*` or the current tag in
        // If-None-Match; 400 for a malformed one.
        let version = before.iter().find(|task| id_of(task) == b).unwrap()["version"].clone();
        let current = format!("\"{version}\"");
        for header in [
            ("if-match", "\"999\""),
            ("if-none-match", "*"),
            ("if-none-match", &format!("\"999\", W/{current}")),
        ] {
            let answer = conditional(b, header).await;
            let failed = StatusCode::PRECONDITION_FAILED;
            expect_error(answer, failed, "PRECONDITION_FAILED").await;
        }
        let answer = conditional(b, ("if-match", "1")).await;
        expect_invalid(answer, &[("If-Match", "header")]).await;
        assert_eq!(app.all_tasks(user).await, before);
        // The current tag in If-Match, or only others in If-None-Match, let it through.
        let answer = conditional(b, ("if-match", &current)).await;
        expect_json(answer, StatusCode::OK).await;
        assert_eq!(in_order(&app, user, &home.to_string(), 20).await, [b, a]);
        let answer = send_with(
            &app,
            Method::POST,
            &format!("/users/{user}/tasks/{a}/move"),
            ("if-none-match", &current),
            Some(&first),
        )
        .await;
        expect_json(answer, StatusCode::OK).await;
        assert_eq!(in_order(&app, user, &home.to_string(), 20).await, [a, b]);
    })
    .await;
}

/// A small deterministic generator (xorshift), so that a failure is repeatable.
struct Xorshift(u64);

impl Xorshift {
    fn below(&mut self, n: usize) -> usize {
        self.0 ^= self.0 << 13;
        self.0 ^= self.0 >> 7;
        self.0 ^= self.0 << 17;
        (self.0 % n as u64) as usize
    }
}

/// The list's tasks in the server's order, each key at most 64 characters and strictly
/// increasing (no two equal: one client moved them all).
async fn checked_order(app: &TestApp, user: Uuid, list: Uuid) -> Vec<Uuid> {
    let page = app
        .get_ok(&format!(
            "/users/{user}/tasks?sort=position&list_id={list}&limit=100"
        ))
        .await;
    let tasks = page["items"].as_array().unwrap();
    let keys: Vec<&str> = tasks.iter().map(position_of).collect();
    assert!(keys.iter().all(|key| key.len() <= 64), "{keys:?}");
    assert!(keys.windows(2).all(|pair| pair[0] < pair[1]), "{keys:?}");
    tasks.iter().map(id_of).collect()
}

#[tokio::test]
async fn five_hundred_random_moves_keep_the_order_a_model_of_it_keeps() {
    each_database_configured(
        |config| config.user_limits.writes_per_minute = std::num::NonZeroU32::MAX,
        |app| async move {
            let user = app.create_user().await;
            let list = id_of(&create_list(&app, user, "Shuffled").await);
            let mut model = tasks_in(&app, user, list, 12).await;
            let mut random = Xorshift(0x2545_F491_4F6C_DD1D);
            for step in 0..500 {
                let task = model.remove(random.below(model.len()));
                let place = random.below(model.len() + 1);
                let after = place.checked_sub(1).map(|index| model[index]);
                moved(&app, user, task, json!({ "after": after })).await;
                model.insert(place, task);
                if step % 50 == 49 {
                    assert_eq!(checked_order(&app, user, list).await, model, "step {step}");
                }
            }
            assert_eq!(checked_order(&app, user, list).await, model);
        },
    )
    .await;
}

#[tokio::test]
async fn moving_into_one_narrowing_gap_respaces_the_list_and_the_feed_has_every_rekeyed_task() {
    each_database_configured(
        |config| config.user_limits.writes_per_minute = std::num::NonZeroU32::MAX,
        |app| async move {
            let user = app.create_user().await;
            let list = id_of(&create_list(&app, user, "Narrow").await);
            let tasks = tasks_in(&app, user, list, 4).await;
            // The last to the top, 200 times: integer keys, short.
            let mut model = tasks.clone();
            for _ in 0..200 {
                let last = model.pop().unwrap();
                moved(&app, user, last, json!({ "after": null })).await;
                model.insert(0, last);
                assert_eq!(checked_order(&app, user, list).await, model);
            }
            // Alternately the last two right after the first: the gap halves each time, and
            // the keys would pass 64 characters within 400 moves.
            let mut longest = 0;
            let mut respaced = false;
            for _ in 0..400 {
                let task = model.pop().unwrap();
                let answer = moved(&app, user, task, json!({ "after": model[0] })).await;
                let key = position_of(&answer).len();
                respaced |= key < longest;
                longest = longest.max(key);
                model.insert(1, task);
                assert_eq!(checked_order(&app, user, list).await, model);
            }
            assert!(respaced && longest <= 64, "{longest}");
            // Every task's last version is in the feed, with its last key.
            let mut since = String::new();
            let mut feed = Vec::new();
            loop {
                let page = app
                    .get_ok(&format!("/users/{user}/changes?limit=1000{since}"))
                    .await;
                feed.extend(page["changes"].as_array().unwrap().clone());
                if page["has_more"] != json!(true) {
                    break;
                }
                since = format!("&since={}", page["next_since"].as_str().unwrap());
            }
            for task in tasks {
                let stored = app.get_ok(&format!("/users/{user}/tasks/{task}")).await;
                let change = feed
                    .iter()
                    .rev()
                    .find(|change| change["task_id"] == json!(task))
                    .unwrap();
                assert_eq!(change["task"], stored);
            }
        },
    )
    .await;
}

#[tokio::test]
async fn two_clients_moving_into_the_same_gap_both_succeed_and_readers_agree() {
    each_database_configured(
        |config| config.user_limits.writes_per_minute = std::num::NonZeroU32::MAX,
        |app| async move {
            let user = app.create_user().await;
            let list = id_of(&create_list(&app, user, "Raced").await);
            for round in 0..10 {
                let tasks = tasks_in(&app, user, list, 4).await;
                let body = json!({ "after": tasks[0] });
                let (one, two) = tokio::join!(
                    move_task(&app, user, tasks[2], &body),
                    move_task(&app, user, tasks[3], &body)
                );
                expect_json(one, StatusCode::OK).await;
                expect_json(two, StatusCode::OK).await;
                let first = in_order(&app, user, &list.to_string(), 100).await;
                let again = in_order(&app, user, &list.to_string(), 3).await;
                assert_eq!(first, again, "round {round}");
                let mine: Vec<Uuid> = first.into_iter().filter(|id| tasks.contains(id)).collect();
                assert_eq!(mine[0], tasks[0], "round {round}");
                assert_eq!(mine[3], tasks[1], "round {round}");
            }
        },
    )
    .await;
}

#[tokio::test]
async fn concurrent_moves_into_one_gap_each_see_the_others_and_make_no_two_keys_equal() {
    each_database_configured(
        |config| config.user_limits.writes_per_minute = std::num::NonZeroU32::MAX,
        |app| async move {
            let user = app.create_user().await;
            let list = id_of(&create_list(&app, user, "Busy").await);
            let tasks = tasks_in(&app, user, list, 8).await;
            // Seven clients, each moving its own task right after the first task 20 times: each
            // move goes into the gap the others' go into too.
            let first = tasks[0];
            let clients = tasks[1..].iter().map(|task| {
                let app = &app;
                async move {
                    for _ in 0..20 {
                        moved(app, user, *task, json!({ "after": first })).await;
                    }
                }
            });
            futures_util::future::join_all(clients).await;
            let mut order = checked_order(&app, user, list).await;
            assert_eq!(order[0], first);
            order.sort();
            let mut expected = tasks.clone();
            expected.sort();
            assert_eq!(order, expected);
        },
    )
    .await;
}

/// Whether a round trip only told other instances of committed changes (the server's `NOTIFY`
/// after each write, off the request's way).
fn only_notifies(round_trip: &[String]) -> bool {
    !round_trip.is_empty() && round_trip.iter().all(|sql| sql.contains("pg_notify"))
}

#[tokio::test]
async fn on_postgresql_a_move_that_needs_no_respacing_is_one_round_trip() {
    let Some(database) = postgres_database().await else {
        return;
    };
    // The server's one connection goes through a proxy that reads what it sends (unencrypted).
    let proxy = PgProxy::to("127.0.0.1:5432").await;
    let mut config = database.config_through(&proxy, 1);
    config.user_limits.writes_per_minute = std::num::NonZeroU32::MAX;
    let app = TestApp::spawn(config).await;
    let user = app.create_user().await;
    // Each kind of move (after a task or first; in its own list, another list, the inbox; with
    // If-Match or not): each kind's first run prepares its statement, a round trip of its own.
    for round in ["prepare", "measure"] {
        let home = id_of(&create_list(&app, user, "Home").await);
        let work = id_of(&create_list(&app, user, "Work").await);
        let tasks = tasks_in(&app, user, home, 4).await;
        let inbox = id_of(&app.create_titled(user, "inbox").await);
        let moves = [
            (tasks[3], json!({ "after": tasks[0] }), None),
            (tasks[2], json!({ "after": null }), None),
            (tasks[1], json!({ "after": null, "list_id": work }), None),
            (
                tasks[0],
                json!({ "after": tasks[1], "list_id": work }),
                None,
            ),
            (tasks[1], json!({ "after": inbox, "list_id": null }), None),
            (tasks[3], json!({ "after": null }), Some("if-match")),
        ];
        for (task, body, precondition) in moves {
            let path = format!("/users/{user}/tasks/{task}");
            let before = app.get_ok(&path).await;
            proxy.round_trips.take();
            let answer = match precondition {
                Some(header) => {
                    let tag = format!("\"{}\"", before["version"]);
                    let path = format!("{path}/move");
                    send_with(&app, Method::POST, &path, (header, &tag), Some(&body)).await
                }
                None => move_task(&app, user, task, &body).await,
            };
            let moved = expect_json(answer, StatusCode::OK).await;
            assert!(
                moved["version"].as_i64() > before["version"].as_i64(),
                "{round} {body}: {moved}"
            );
            let round_trips: Vec<Vec<String>> = proxy
                .round_trips
                .take()
                .into_iter()
                .filter(|round_trip| !only_notifies(round_trip))
                .collect();
            if round == "measure" {
                assert_eq!(round_trips.len(), 1, "{body}: {round_trips:#?}");
                let statements = &round_trips[0];
                assert!(
                    statements.len() == 1 && statements[0].contains("position_key_between"),
                    "{body}: {statements:#?}"
                );
            }
        }
        assert_eq!(
            in_order(&app, user, &home.to_string(), 10).await,
            [tasks[3], tasks[2]]
        );
        assert_eq!(
            in_order(&app, user, &work.to_string(), 10).await,
            [tasks[0]]
        );
        let inbox_order = in_order(&app, user, "inbox", 10).await;
        assert_eq!(inbox_order[inbox_order.len() - 2..], [inbox, tasks[1]]);
    }
}

/// Pairs of keys (`None`: an end of the list) to check PostgreSQL's `position_key_between`
/// with: the neighbours of each key made by scattered insertions, by insertions at the top and
/// at the end (from the ends of the integer range too) and into narrowing gaps, then pairs of
/// those keys drawn at random (out of order and equal ones among them), and malformed keys.
fn key_pairs() -> Vec<(Option<String>, Option<String>)> {
    let mut pairs = Vec::new();
    let mut record = |a: Option<&str>, b: Option<&str>| {
        pairs.push((a.map(str::to_owned), b.map(str::to_owned)));
        key_between(a, b).ok()
    };
    let mut random = Xorshift(0x9E37_79B9_7F4A_7C15);
    let mut keys: Vec<String> = Vec::new();
    for _ in 0..2000 {
        let place = random.below(keys.len() + 1);
        let before = place.checked_sub(1).map(|index| keys[index].clone());
        let after = keys.get(place).cloned();
        let key = record(before.as_deref(), after.as_deref()).unwrap();
        keys.insert(place, key);
    }
    let starts = [
        "a0",
        "zzzzzzzzzzzzzzzzzzzzzzzzzzw",
        "A000000000000000000000000003",
    ];
    for start in starts {
        let (mut top, mut last) = (start.to_owned(), start.to_owned());
        for _ in 0..200 {
            if let Some(key) = record(None, Some(&top)) {
                top = key;
            }
            if let Some(key) = record(Some(&last), None) {
                last = key;
            }
            keys.extend([top.clone(), last.clone()]);
        }
    }
    let (mut low, mut high) = ("a0".to_owned(), "a1".to_owned());
    for step in 0..300 {
        let key = record(Some(&low), Some(&high)).unwrap();
        if step % 2 == 0 {
            high = key;
        } else {
            low = key;
        }
        keys.extend([low.clone(), high.clone()]);
    }
    // Just above the greatest negative integer key.
    let mut high = "a0".to_owned();
    for _ in 0..100 {
        high = record(Some("Zz"), Some(&high)).unwrap();
    }
    for _ in 0..3000 {
        let a = keys[random.below(keys.len())].clone();
        let b = keys[random.below(keys.len())].clone();
        record(Some(&a), Some(&b));
    }
    let malformed = [
        "",
        "a00",
        "0",
        "a1-",
        "a0 ",
        "é",
        "A00000000000000000000000000",
        "b1",
    ];
    for key in malformed {
        record(Some(key), None);
        record(None, Some(key));
        record(Some(key), Some("z0"));
    }
    pairs
}

#[tokio::test]
async fn postgresql_makes_the_key_between_two_keys_as_the_server_does() {
    let Some(database) = postgres_database().await else {
        return;
    };
    let _app = TestApp::spawn(database.config()).await;
    let pairs = key_pairs();
    let (lows, highs): (Vec<Option<String>>, Vec<Option<String>>) = pairs.iter().cloned().unzip();
    let mut connection = PgConnection::connect(&database.url).await.unwrap();
    let keys: Vec<Option<String>> = sqlx::query_scalar(
        r#"SELECT "position_key_between"("a", "b") FROM unnest($1::text[], $2::text[]) WITH ORDINALITY AS "pairs"("a", "b", "n") ORDER BY "n""#,
    )
    .bind(&lows)
    .bind(&highs)
    .fetch_all(&mut connection)
    .await
    .unwrap();
    assert_eq!(keys.len(), pairs.len());
    let mut refused = 0;
    for ((a, b), key) in pairs.iter().zip(keys) {
        let expected = key_between(a.as_deref(), b.as_deref()).ok();
        assert_eq!(key, expected, "between {a:?} and {b:?}");
        refused += usize::from(expected.is_none());
    }
    assert!(
        pairs.len() > 6000 && refused > 1000,
        "{} pairs, {refused} refused",
        pairs.len()
    );
}

/// The greatest integer part a key can have: past it, a new last key grows a fraction.
const GREATEST_INTEGER: &str = "zzzzzzzzzzzzzzzzzzzzzzzzzzz";

#[tokio::test]
async fn postgresql_makes_the_key_after_the_last_as_the_server_does() {
    let Some(database) = postgres_database().await else {
        return;
    };
    let _app = TestApp::spawn(database.config()).await;
    // Every well-formed key of the pairs, each the last (and only) key of an owner's inbox.
    let mut lasts: Vec<String> = key_pairs()
        .into_iter()
        .flat_map(|(a, b)| [a, b])
        .flatten()
        .filter(|key| key_between(Some(key), None).is_ok())
        .collect();
    lasts.extend([GREATEST_INTEGER.to_owned(), format!("{GREATEST_INTEGER}V")]);
    lasts.sort();
    lasts.dedup();
    let owners: Vec<Uuid> = lasts.iter().map(|_| Uuid::new_v4()).collect();
    let mut connection = PgConnection::connect(&database.url).await.unwrap();
    sqlx::query(r#"INSERT INTO "users" ("id", "created_at") SELECT "id", now() FROM unnest($1::uuid[]) AS "owners"("id")"#)
        .bind(&owners)
        .execute(&mut connection)
        .await
        .unwrap();
    sqlx::query(
        r#"INSERT INTO "tasks" ("id", "user_id", "title", "position", "created_at", "updated_at") SELECT gen_random_uuid(), "owner", 'last', "key", now(), now() FROM unnest($1::uuid[], $2::text[]) AS "lasts"("owner", "key")"#,
    )
    .bind(&owners)
    .bind(&lasts)
    .execute(&mut connection)
    .await
    .unwrap();
    let next: Vec<String> = sqlx::query_scalar(
        r#"SELECT "position_after_the_last"("owner", NULL) FROM unnest($1::uuid[]) WITH ORDINALITY AS "owners"("owner", "n") ORDER BY "n""#,
    )
    .bind(&owners)
    .fetch_all(&mut connection)
    .await
    .unwrap();
    assert_eq!(next.len(), lasts.len());
    for (last, next) in lasts.iter().zip(&next) {
        // The next integer, as the server's `key_between` makes it. Past the greatest integer,
        // the function appends `V` to the last key (a key after it, though not the server's
        // midpoint when the last key has a fraction already).
        let expected = if last.starts_with(GREATEST_INTEGER) {
            format!("{last}V")
        } else {
            key_between(Some(last), None).unwrap()
        };
        assert_eq!(next, &expected, "after {last:?}");
    }
    assert!(lasts.len() > 3000, "{} keys", lasts.len());
}
