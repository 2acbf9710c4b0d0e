//! Recurring tasks: the rule's checks, the series that starts on `due.date`, and completions that
//! roll the task forward (by PATCH, PUT and create) until the series ends; two devices
//! completing the same occurrence at once.

use std::sync::Arc;

use reqwest::{Response, StatusCode};
use serde_json::{json, Value};
use uuid::Uuid;

use crate::helpers::*;

fn task_path(user_id: Uuid, task: &Value) -> String {
    format!("/users/{user_id}/tasks/{}", id_of(task))
}

/// Creates a task due on `date` (at 08:00 in Paris) recurring by `rule`.
async fn recurring(app: &TestApp, user_id: Uuid, date: &str, rule: &str) -> Value {
    app.create_task(
        user_id,
        json!({
            "title": "recurring",
            "due": { "date": date, "time": "08:00", "time_zone": "Europe/Paris" },
            "recurrence": rule,
        }),
    )
    .await
}

/// Completes the task by PATCH; returns the task as stored.
async fn complete(app: &TestApp, path: &str) -> Value {
    expect_json(
        app.patch_json(path, &json!({ "is_completed": true })).await,
        StatusCode::OK,
    )
    .await
}

#[tokio::test]
async fn completing_a_recurring_task_rolls_it_to_its_next_occurrence() {
    each_database(|app| async move {
        let user_id = app.create_user().await;
        // 2026-12-07 is a Monday.
        let task = recurring(&app, user_id, "2026-12-07", "RRULE:freq=weekly;byday=MO,WE").await;
        assert_eq!(task["recurrence"], "FREQ=WEEKLY;BYDAY=MO,WE");
        let path = task_path(user_id, &task);
        let rolled = complete(&app, &path).await;
        assert_eq!(rolled["is_completed"], false);
        assert_eq!(rolled["completed_at"], Value::Null);
        assert_eq!(
            rolled["due"],
            json!({ "date": "2026-12-09", "time": "08:00:00", "time_zone": "Europe/Paris" })
        );
        assert_eq!(rolled["recurrence"], task["recurrence"]);
        // One change, one new version.
        assert_eq!(rolled["version"], task["version"].as_i64().unwrap() + 1);
        assert_eq!(app.get_ok(&path).await, rolled);
        let feed = app.get_ok(&format!("/users/{user_id}/changes")).await;
        assert_eq!(feed["changes"].as_array().unwrap().len(), 1);
        assert_eq!(feed["changes"][0]["task"], rolled);
        assert_eq!(complete(&app, &path).await["due"]["date"], "2026-12-14");
        // A monthly rule from the 31st skips the months without one.
        let monthly = recurring(&app, user_id, "2026-01-31", "FREQ=MONTHLY").await;
        let monthly_path = task_path(user_id, &monthly);
        assert_eq!(
            complete(&app, &monthly_path).await["due"]["date"],
            "2026-03-31"
        );
        assert_eq!(
            complete(&app, &monthly_path).await["due"]["date"],
            "2026-05-31"
        );
    })
    .await;
}

#[tokio::test]
async fn the_series_keeps_its_start_so_count_and_until_are_reached() {
    each_database(|app| async move {
        let user_id = app.create_user().await;
        let task = recurring(&app, user_id, "2026-12-01", "FREQ=DAILY;COUNT=3").await;
        let path = task_path(user_id, &task);
        assert_eq!(complete(&app, &path).await["due"]["date"], "2026-12-02");
        assert_eq!(complete(&app, &path).await["due"]["date"], "2026-12-03");
        // The third occurrence was the last: the task completes and keeps its rule.
        let done = complete(&app, &path).await;
        assert_eq!(done["is_completed"], true);
        assert_eq!(done["completed_at"], done["updated_at"]);
        assert_eq!(done["due"]["date"], "2026-12-03");
        assert_eq!(done["recurrence"], "FREQ=DAILY;COUNT=3");
        // Completing it again changes nothing.
        assert_eq!(complete(&app, &path).await, done);
        // UNTIL as a date includes that day.
        let until = recurring(&app, user_id, "2026-12-30", "FREQ=DAILY;UNTIL=20261231").await;
        let until_path = task_path(user_id, &until);
        assert_eq!(
            complete(&app, &until_path).await["due"]["date"],
            "2026-12-31"
        );
        assert_eq!(complete(&app, &until_path).await["is_completed"], true);
    })
    .await;
}

#[tokio::test]
async fn a_client_that_changes_the_due_date_or_the_rule_restarts_the_series() {
    each_database(|app| async move {
        let user_id = app.create_user().await;
        let task = recurring(&app, user_id, "2026-12-01", "FREQ=DAILY;COUNT=2").await;
        let path = task_path(user_id, &task);
        assert_eq!(complete(&app, &path).await["due"]["date"], "2026-12-02");
        // The client moves the task: two occurrences from the new date.
        let moved = expect_json(
            app.patch_json(&path, &json!({ "due": { "date": "2026-12-10" } }))
                .await,
            StatusCode::OK,
        )
        .await;
        assert_eq!(moved["due"]["time_zone"], "Europe/Paris");
        assert_eq!(complete(&app, &path).await["due"]["date"], "2026-12-11");
        assert_eq!(complete(&app, &path).await["is_completed"], true);
        // A new rule on the completed task starts a series of its own from its due date; a PUT
        // that sends the task back as it is keeps the series.
        let reopened = expect_json(
            app.patch_json(
                &path,
                &json!({ "is_completed": false, "recurrence": "FREQ=WEEKLY;COUNT=2" }),
            )
            .await,
            StatusCode::OK,
        )
        .await;
        let echoed = json!({
            "title": reopened["title"],
            "due": reopened["due"],
            "recurrence": reopened["recurrence"],
            "is_completed": true,
        });
        let by_put = expect_json(app.put_json(&path, &echoed).await, StatusCode::OK).await;
        assert_eq!(by_put["due"]["date"], "2026-12-18");
        assert_eq!(by_put["is_completed"], false);
        let mut echoed = echoed;
        echoed["due"] = by_put["due"].clone();
        let last = expect_json(app.put_json(&path, &echoed).await, StatusCode::OK).await;
        assert_eq!(last["is_completed"], true);
        assert_eq!(last["due"]["date"], "2026-12-18");
    })
    .await;
}

#[tokio::test]
async fn a_create_that_completes_a_recurring_task_rolls_it_forward_too() {
    each_database(|app| async move {
        let user_id = app.create_user().await;
        let task = app
            .create_task(
                user_id,
                json!({
                    "title": "water the plants",
                    "due": { "date": "2026-12-06" },
                    "recurrence": "FREQ=DAILY;INTERVAL=3",
                    "is_completed": true,
                }),
            )
            .await;
        assert_eq!(task["is_completed"], false);
        assert_eq!(task["completed_at"], Value::Null);
        assert_eq!(
            task["due"],
            json!({ "date": "2026-12-09", "time": null, "time_zone": null })
        );
        // Its series still starts on the date it was sent with.
        let path = task_path(user_id, &task);
        assert_eq!(complete(&app, &path).await["due"]["date"], "2026-12-12");
    })
    .await;
}

#[tokio::test]
async fn a_recurrence_needs_a_due_date_and_the_rule_its_allowed_parts() {
    each_database(|app| async move {
        let user_id = app.create_user().await;
        let tasks = format!("/users/{user_id}/tasks");
        expect_invalid(
            app.post_json(&tasks, &json!({ "title": "t", "recurrence": "FREQ=DAILY" }))
                .await,
            &[("recurrence", "body")],
        )
        .await;
        for rule in [
            "FREQ=HOURLY",
            "FREQ=DAILY;BYHOUR=9",
            "FREQ=DAILY;FREQ=WEEKLY",
            "INTERVAL=2",
            "FREQ=WEEKLY;BYDAY=XX",
            "FREQ=MONTHLY;BYMONTHDAY=32",
            "not a rule",
        ] {
            expect_invalid(
                app.post_json(
                    &tasks,
                    &json!({ "title": "t", "due": { "date": "2026-12-06" }, "recurrence": rule }),
                )
                .await,
                &[("recurrence", "body")],
            )
            .await;
        }
        let plain = app.create_titled(user_id, "no due").await;
        expect_invalid(
            app.patch_json(
                &task_path(user_id, &plain),
                &json!({ "recurrence": "FREQ=DAILY" }),
            )
            .await,
            &[("recurrence", "body")],
        )
        .await;
        // Clearing the due date of a recurring task needs its rule cleared too.
        let task = recurring(&app, user_id, "2026-12-06", "FREQ=DAILY").await;
        let path = task_path(user_id, &task);
        expect_invalid(
            app.patch_json(&path, &json!({ "due": null })).await,
            &[("due", "body")],
        )
        .await;
        assert_eq!(app.get_ok(&path).await, task);
        let plain_again = expect_json(
            app.patch_json(&path, &json!({ "due": null, "recurrence": null }))
                .await,
            StatusCode::OK,
        )
        .await;
        assert_eq!(
            (&plain_again["due"], &plain_again["recurrence"]),
            (&Value::Null, &Value::Null)
        );
        // A plain task completes as any task does.
        let done = complete(&app, &path).await;
        assert_eq!(done["is_completed"], true);
    })
    .await;
}

/// The status of a completion sent with `If-Match: tag`, when given.
async fn complete_with(app: &TestApp, path: &str, tag: Option<&str>) -> Response {
    let mut request = app
        .client
        .patch(app.url(path))
        .json(&json!({ "is_completed": true }));
    if let Some(tag) = tag {
        request = request.header("if-match", tag);
    }
    request.send().await.unwrap()
}

const ROUNDS: usize = 6;

#[tokio::test]
async fn two_devices_completing_the_same_occurrence_with_if_match_roll_it_once() {
    for backend in Backend::all() {
        eprintln!("--- on {backend:?}");
        let (_database, config, file) = shared_database(&backend).await;
        let app = Arc::new(TestApp::spawn(config).await);
        let user_id = app.create_user().await;
        let task = recurring(&app, user_id, "2026-12-01", "FREQ=DAILY").await;
        let path = task_path(user_id, &task);
        for round in 0..ROUNDS {
            let before = app.get(&path).await;
            let tag = before.headers()["etag"].to_str().unwrap().to_owned();
            let before = expect_json(before, StatusCode::OK).await;
            let devices: Vec<_> = (0..2)
                .map(|_| {
                    let (app, path, tag) = (app.clone(), path.clone(), tag.clone());
                    tokio::spawn(
                        async move { complete_with(&app, &path, Some(&tag)).await.status() },
                    )
                })
                .collect();
            let mut statuses = Vec::new();
            for device in devices {
                statuses.push(device.await.unwrap());
            }
            statuses.sort();
            assert_eq!(
                statuses,
                [StatusCode::OK, StatusCode::PRECONDITION_FAILED],
                "round {round}"
            );
            let after = app.get_ok(&path).await;
            assert_eq!(after["is_completed"], false);
            assert_eq!(after["version"], before["version"].as_i64().unwrap() + 1);
            assert_eq!(after["due"]["date"], format!("2026-12-{:02}", round + 2));
        }
        remove_sqlite_files(file);
    }
}

#[tokio::test]
async fn without_if_match_the_second_completion_completes_the_next_occurrence_too() {
    for backend in Backend::all() {
        eprintln!("--- on {backend:?}");
        let (_database, config, file) = shared_database(&backend).await;
        let app = Arc::new(TestApp::spawn(config).await);
        let user_id = app.create_user().await;
        let task = recurring(&app, user_id, "2026-12-01", "FREQ=DAILY").await;
        let path = task_path(user_id, &task);
        // Both writes succeed: neither says which occurrence it completes, so each completes
        // the one it finds, and the task moves two occurrences on, with two versions.
        let devices: Vec<_> = (0..2)
            .map(|_| {
                let (app, path) = (app.clone(), path.clone());
                tokio::spawn(async move { complete_with(&app, &path, None).await.status() })
            })
            .collect();
        for device in devices {
            assert_eq!(device.await.unwrap(), StatusCode::OK);
        }
        let after = app.get_ok(&path).await;
        assert_eq!(after["due"]["date"], "2026-12-03");
        assert_eq!(after["is_completed"], false);
        assert_eq!(after["version"], task["version"].as_i64().unwrap() + 2);
        remove_sqlite_files(file);
    }
}
