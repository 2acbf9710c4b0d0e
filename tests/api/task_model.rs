//! The task model's fields: `due` (a date, a floating time, a time in a zone), `priority`,
//! `tags`, `completed_at`; their rules, every failing part named at once, merge-patch
//! semantics, and the migration that adds them to the tasks an older release made.

use std::time::Duration;

use reqwest::StatusCode;
use serde_json::{json, Value};
use uuid::Uuid;

use crate::helpers::*;

fn tasks_path(user_id: Uuid) -> String {
    format!("/users/{user_id}/tasks")
}

fn task_path(user_id: Uuid, task: &Value) -> String {
    format!("/users/{user_id}/tasks/{}", id_of(task))
}

/// The task model's fields of a task, as answered.
fn model_fields(task: &Value) -> Value {
    json!({
        "is_completed": task["is_completed"],
        "completed_at": task["completed_at"],
        "due": task["due"],
        "priority": task["priority"],
        "tags": task["tags"],
        "recurrence": task["recurrence"],
    })
}

#[tokio::test]
async fn every_answer_carries_the_fields_as_stored() {
    each_database(|app| async move {
        let user_id = app.create_user().await;
        let created = app
            .create_task(
                user_id,
                json!({
                    "title": "Meeting in Paris",
                    "due": { "date": "2026-12-24", "time": "18:30", "time_zone": "Europe/Paris" },
                    "priority": "high",
                    "tags": [" Work ", "errands", "Ärger"],
                }),
            )
            .await;
        let expected = json!({
            "is_completed": false,
            "completed_at": null,
            "due": { "date": "2026-12-24", "time": "18:30:00", "time_zone": "Europe/Paris" },
            "priority": "high",
            "tags": ["Work", "errands", "Ärger"],
            "recurrence": null,
        });
        assert_eq!(model_fields(&created), expected);
        let path = task_path(user_id, &created);
        assert_eq!(model_fields(&app.get_ok(&path).await), expected);
        let page = app.get_ok(&tasks_path(user_id)).await;
        assert_eq!(model_fields(&page["items"][0]), expected);
        let feed = app.get_ok(&format!("/users/{user_id}/changes")).await;
        assert_eq!(model_fields(&feed["changes"][0]["task"]), expected);
        // A PATCH that touches none of them answers them too.
        let renamed = expect_json(
            app.patch_json(&path, &json!({ "title": "Meeting" })).await,
            StatusCode::OK,
        )
        .await;
        assert_eq!(model_fields(&renamed), expected);
    })
    .await;
}

#[tokio::test]
async fn due_is_a_date_a_floating_time_or_a_time_in_a_zone() {
    each_database(|app| async move {
        let user_id = app.create_user().await;
        for (sent, answered) in [
            (
                json!({ "date": "2026-12-24" }),
                json!({ "date": "2026-12-24", "time": null, "time_zone": null }),
            ),
            (
                json!({ "date": "2026-12-24", "time": "08:00:05", "time_zone": null }),
                json!({ "date": "2026-12-24", "time": "08:00:05", "time_zone": null }),
            ),
            (
                json!({ "date": "2028-02-29", "time": "23:59", "time_zone": "America/New_York" }),
                json!({ "date": "2028-02-29", "time": "23:59:00", "time_zone": "America/New_York" }),
            ),
            // A wall-clock time the zone skips at its DST change is kept as written.
            (
                json!({ "date": "2026-03-29", "time": "02:30", "time_zone": "Europe/Paris" }),
                json!({ "date": "2026-03-29", "time": "02:30:00", "time_zone": "Europe/Paris" }),
            ),
        ] {
            let task = app
                .create_task(user_id, json!({ "title": "due", "due": sent }))
                .await;
            assert_eq!(task["due"], answered, "{sent}");
            let read = app.get_ok(&task_path(user_id, &task)).await;
            assert_eq!(read["due"], answered, "{sent}");
        }
    })
    .await;
}

#[tokio::test]
async fn every_bad_part_is_named_at_once_and_nothing_is_written() {
    each_database(|app| async move {
        let user_id = app.create_user().await;
        let path = tasks_path(user_id);
        expect_invalid(
            app.post_json(
                &path,
                &json!({
                    "title": " ",
                    "due": { "date": "2026-02-30", "time": "24:00", "time_zone": "Mars/Olympus" },
                    "priority": "urgent",
                    "tags": ["Work", "work"],
                    "recurrence": "FREQ=HOURLY",
                }),
            )
            .await,
            &[
                ("title", "body"),
                ("due.date", "body"),
                ("due.time", "body"),
                ("due.time_zone", "body"),
                ("priority", "body"),
                ("tags", "body"),
                ("recurrence", "body"),
            ],
        )
        .await;
        for (body, fields) in [
            // A time zone needs a time.
            (
                json!({ "title": "t", "due": { "date": "2026-12-24", "time_zone": "UTC" } }),
                vec!["due.time_zone"],
            ),
            // A date is required, and a due date has no other parts.
            (json!({ "title": "t", "due": {} }), vec!["due.date"]),
            (
                json!({ "title": "t", "due": { "date": "2026-12-24", "hour": 9 } }),
                vec!["due.hour"],
            ),
            (json!({ "title": "t", "due": "2026-12-24" }), vec!["due"]),
            // Times: two digits each, no fraction, no offset, no leap second.
            (
                json!({ "title": "t", "due": { "date": "2026-12-24", "time": "8:30" } }),
                vec!["due.time"],
            ),
            (
                json!({ "title": "t", "due": { "date": "2026-12-24", "time": "08:30:00.5" } }),
                vec!["due.time"],
            ),
            (
                json!({ "title": "t", "due": { "date": "2026-12-24", "time": "08:30+01:00" } }),
                vec!["due.time"],
            ),
            (
                json!({ "title": "t", "due": { "date": "2026-12-24", "time": "23:59:60" } }),
                vec!["due.time"],
            ),
            (
                json!({ "title": "t", "due": { "date": "2026-1-5" } }),
                vec!["due.date"],
            ),
            // Tags: a comma, only white space, too long, too many, not strings.
            (json!({ "title": "t", "tags": ["a,b"] }), vec!["tags"]),
            (json!({ "title": "t", "tags": ["  "] }), vec!["tags"]),
            (
                json!({ "title": "t", "tags": ["é".repeat(51)] }),
                vec!["tags"],
            ),
            (
                json!({ "title": "t", "tags": (0..21).map(|n| format!("t{n}")).collect::<Vec<_>>() }),
                vec!["tags"],
            ),
            (json!({ "title": "t", "tags": [1] }), vec!["tags"]),
            (json!({ "title": "t", "tags": "home" }), vec!["tags"]),
            // null is never a value of a field that is not nullable.
            (
                json!({ "title": "t", "priority": null, "tags": null, "is_completed": null }),
                vec!["priority", "tags", "is_completed"],
            ),
            (json!({ "title": "t", "priority": "HIGH" }), vec!["priority"]),
            // completed_at is the server's.
            (
                json!({ "title": "t", "completed_at": "2026-12-24T00:00:00Z" }),
                vec!["completed_at"],
            ),
        ] {
            let expected: Vec<(&str, &str)> = fields.iter().map(|field| (*field, "body")).collect();
            expect_invalid(app.post_json(&path, &body).await, &expected).await;
        }
        assert!(app.all_tasks(user_id).await.is_empty());
    })
    .await;
}

#[tokio::test]
async fn patch_merges_due_part_by_part_and_checks_the_merged_task() {
    each_database(|app| async move {
        let user_id = app.create_user().await;
        let task = app
            .create_task(
                user_id,
                json!({
                    "title": "call",
                    "due": { "date": "2026-12-24", "time": "18:30", "time_zone": "Europe/Paris" },
                }),
            )
            .await;
        let path = task_path(user_id, &task);
        let patch = |body: Value| {
            let (app, path) = (&app, &path);
            async move { app.patch_json(path, &body).await }
        };
        let later = expect_json(
            patch(json!({ "due": { "time": "19:00" } })).await,
            StatusCode::OK,
        )
        .await;
        assert_eq!(
            later["due"],
            json!({ "date": "2026-12-24", "time": "19:00:00", "time_zone": "Europe/Paris" })
        );
        // Clearing the time would leave the zone without one: refused, nothing written.
        expect_invalid(
            patch(json!({ "due": { "time": null } })).await,
            &[("due.time_zone", "body")],
        )
        .await;
        expect_invalid(
            patch(json!({ "due": { "date": null }, "priority": "urgent" })).await,
            &[("due.date", "body"), ("priority", "body")],
        )
        .await;
        assert_eq!(app.get_ok(&path).await, later);
        let all_day = expect_json(
            patch(json!({ "due": { "time": null, "time_zone": null } })).await,
            StatusCode::OK,
        )
        .await;
        assert_eq!(
            all_day["due"],
            json!({ "date": "2026-12-24", "time": null, "time_zone": null })
        );
        let moved = expect_json(
            patch(json!({ "due": { "date": "2027-01-02" } })).await,
            StatusCode::OK,
        )
        .await;
        assert_eq!(moved["due"]["date"], "2027-01-02");
        let cleared = expect_json(patch(json!({ "due": null })).await, StatusCode::OK).await;
        assert_eq!(cleared["due"], Value::Null);
        // A patch of a task with no due date merges into nothing: it needs a date.
        expect_invalid(
            patch(json!({ "due": { "time": "09:00" } })).await,
            &[("due.date", "body")],
        )
        .await;
        // The same values again change nothing: no new version.
        let same = expect_json(patch(json!({ "due": null })).await, StatusCode::OK).await;
        assert_eq!(same["version"], cleared["version"]);
        assert_eq!(same["updated_at"], cleared["updated_at"]);
    })
    .await;
}

#[tokio::test]
async fn tags_and_priority_are_replaced_and_put_restores_the_defaults() {
    each_database(|app| async move {
        let user_id = app.create_user().await;
        let task = app
            .create_task(
                user_id,
                json!({ "title": "t", "tags": ["a", "b"], "priority": "low" }),
            )
            .await;
        let path = task_path(user_id, &task);
        let patched = expect_json(
            app.patch_json(&path, &json!({ "tags": ["C"], "priority": "medium" }))
                .await,
            StatusCode::OK,
        )
        .await;
        assert_eq!(patched["tags"], json!(["C"]));
        assert_eq!(patched["priority"], "medium");
        assert_eq!(patched["version"], task["version"].as_i64().unwrap() + 1);
        expect_invalid(
            app.patch_json(
                &path,
                &json!({ "tags": null, "priority": null, "title": null, "is_completed": null }),
            )
            .await,
            &[
                ("tags", "body"),
                ("priority", "body"),
                ("title", "body"),
                ("is_completed", "body"),
            ],
        )
        .await;
        let no_tags = expect_json(
            app.patch_json(&path, &json!({ "tags": [] })).await,
            StatusCode::OK,
        )
        .await;
        assert_eq!(no_tags["tags"], json!([]));
        let zoned = expect_json(
            app.put_json(
                &path,
                &json!({
                    "title": "t",
                    "due": { "date": "2026-12-24", "time": "07:00", "time_zone": "Asia/Tokyo" },
                    "tags": ["x"],
                    "priority": "high",
                }),
            )
            .await,
            StatusCode::OK,
        )
        .await;
        assert_eq!(zoned["due"]["time_zone"], "Asia/Tokyo");
        let replaced = expect_json(
            app.put_json(&path, &json!({ "title": "t" })).await,
            StatusCode::OK,
        )
        .await;
        assert_eq!(
            model_fields(&replaced),
            json!({
                "is_completed": false,
                "completed_at": null,
                "due": null,
                "priority": "none",
                "tags": [],
                "recurrence": null,
            })
        );
    })
    .await;
}

#[tokio::test]
async fn completed_at_is_the_time_of_the_write_that_completed_the_task() {
    each_database(|app| async move {
        let user_id = app.create_user().await;
        let done = app
            .create_task(user_id, json!({ "title": "done", "is_completed": true }))
            .await;
        assert_eq!(done["completed_at"], done["created_at"]);
        let path = task_path(user_id, &done);
        tokio::time::sleep(Duration::from_millis(5)).await;
        // Kept while it stays completed, by PATCH and PUT alike.
        let renamed = expect_json(
            app.patch_json(
                &path,
                &json!({ "title": "done, renamed", "is_completed": true }),
            )
            .await,
            StatusCode::OK,
        )
        .await;
        assert_eq!(renamed["completed_at"], done["completed_at"]);
        let replaced = expect_json(
            app.put_json(&path, &json!({ "title": "done", "is_completed": true }))
                .await,
            StatusCode::OK,
        )
        .await;
        assert_eq!(replaced["completed_at"], done["completed_at"]);
        // Cleared when it is reopened, set anew when it is completed again.
        let reopened = expect_json(
            app.patch_json(&path, &json!({ "is_completed": false }))
                .await,
            StatusCode::OK,
        )
        .await;
        assert_eq!(reopened["completed_at"], Value::Null);
        let again = expect_json(
            app.patch_json(&path, &json!({ "is_completed": true }))
                .await,
            StatusCode::OK,
        )
        .await;
        assert_eq!(again["completed_at"], again["updated_at"]);
        assert!(again["completed_at"].as_str() > done["completed_at"].as_str());
        let open = app.create_titled(user_id, "open").await;
        assert_eq!(open["completed_at"], Value::Null);
        let by_put = expect_json(
            app.put_json(
                &task_path(user_id, &open),
                &json!({ "title": "open", "is_completed": true }),
            )
            .await,
            StatusCode::OK,
        )
        .await;
        assert_eq!(by_put["completed_at"], by_put["updated_at"]);
    })
    .await;
}

#[tokio::test]
async fn an_idempotent_retry_is_the_same_request_only_with_the_same_fields() {
    each_database(|app| async move {
        let user_id = app.create_user().await;
        let body = json!({
            "title": "once",
            "is_completed": true,
            "due": { "date": "2026-12-24", "time": "09:00" },
            "tags": ["a"],
            "priority": "low",
        });
        let send = |body: Value| {
            let app = &app;
            async move {
                app.client
                    .post(app.url(&tasks_path(user_id)))
                    .header("idempotency-key", "model-1")
                    .json(&body)
                    .send()
                    .await
                    .unwrap()
            }
        };
        let first = expect_json(send(body.clone()).await, StatusCode::CREATED).await;
        // The same fields written otherwise are the same request.
        let mut respelled = body.clone();
        respelled["due"]["time"] = json!("09:00:00");
        respelled["tags"] = json!([" a "]);
        let replayed = send(respelled).await;
        assert_eq!(replayed.headers()["idempotent-replayed"], "true");
        assert_eq!(expect_json(replayed, StatusCode::CREATED).await, first);
        for (field, other) in [
            ("due", json!({ "date": "2026-12-25", "time": "09:00" })),
            ("tags", json!(["b"])),
            ("priority", json!("high")),
        ] {
            let mut changed = body.clone();
            changed[field] = other;
            expect_error(
                send(changed).await,
                StatusCode::UNPROCESSABLE_ENTITY,
                "IDEMPOTENCY_KEY_REUSED",
            )
            .await;
        }
    })
    .await;
}

#[tokio::test]
async fn the_migration_gives_completed_tasks_their_completion_time_and_old_writes_still_work() {
    use chrono::{Duration as Span, TimeZone, Utc};
    use sea_orm::sea_query::Query;
    use sea_orm::{ConnectionTrait, StatementBuilder};
    use task_api::entity::task;

    for backend in Backend::all() {
        eprintln!("--- on {backend:?}");
        let (_database, config, file) = shared_database(&backend).await;
        // The schema of the release before the task model, and tasks it made.
        let owner = Uuid::new_v4();
        let at = |minutes| Utc.timestamp_opt(1_700_000_000, 0).unwrap() + Span::minutes(minutes);
        let previous = earlier_release(&config, 6, &[owner], at(0)).await;
        let backend_of = previous.get_database_backend();
        // The previous release's insert: the columns it knew, named.
        let insert_as_before = |id: Uuid, is_completed: bool, changed| {
            let mut insert = Query::insert();
            insert
                .into_table(task::Entity)
                .columns([
                    task::Column::Id,
                    task::Column::UserId,
                    task::Column::Title,
                    task::Column::IsCompleted,
                    task::Column::CreatedAt,
                    task::Column::UpdatedAt,
                    task::Column::Version,
                ])
                .values_panic([
                    id.into(),
                    owner.into(),
                    "made before".into(),
                    is_completed.into(),
                    at(0).into(),
                    at(changed).into(),
                    1i64.into(),
                ]);
            StatementBuilder::build(&insert, &backend_of)
        };
        let (done, open, during) = (Uuid::new_v4(), Uuid::new_v4(), Uuid::new_v4());
        for statement in [
            insert_as_before(done, true, 7),
            insert_as_before(open, false, 8),
        ] {
            previous.execute(statement).await.unwrap();
        }
        // The new release migrates on start; the previous one's writes still succeed after it.
        let app = TestApp::spawn(config).await;
        previous
            .execute(insert_as_before(during, false, 9))
            .await
            .unwrap();
        previous.close().await.unwrap();
        let read = |id: Uuid| {
            let app = &app;
            async move { app.get_ok(&format!("/users/{owner}/tasks/{id}")).await }
        };
        let done = read(done).await;
        assert_eq!(done["completed_at"], done["updated_at"]);
        assert_eq!(
            done["completed_at"].as_str().unwrap(),
            "2023-11-14T22:20:20.000000Z"
        );
        for id in [open, during] {
            let task = read(id).await;
            assert_eq!(
                model_fields(&task),
                json!({
                    "is_completed": false,
                    "completed_at": null,
                    "due": null,
                    "priority": "none",
                    "tags": [],
                    "recurrence": null,
                })
            );
        }
        remove_sqlite_files(file);
    }
}
