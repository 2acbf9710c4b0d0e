//! The manual order: every task has a `position` the server makes (fractional-indexing keys over
//! `0-9A-Za-z`, compared as bytes), a new task comes last in its list, a task put in another list
//! by PUT or PATCH comes last in that one, and `sort=position` pages a list in that order.

use reqwest::StatusCode;
use serde_json::{json, Value};
use uuid::Uuid;

use crate::helpers::*;
use crate::lists::create_list;
use crate::tasks_in_lists::listed;

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
