//! Versions and conditional requests: each user's change counter, `ETag`, `If-None-Match` (304)
//! and `If-Match` (412), and conditional writers racing for the same version.

use std::sync::Arc;

use reqwest::{Method, Response, StatusCode};
use serde_json::{json, Value};
use uuid::Uuid;

use crate::helpers::*;

fn task_path(user_id: Uuid, task: &Value) -> String {
    format!("/users/{user_id}/tasks/{}", id_of(task))
}

fn etag_of(response: &Response) -> String {
    response.headers()["etag"].to_str().unwrap().to_owned()
}

/// The version an ETag names.
fn version_of(tag: &str) -> i64 {
    tag.trim_matches('"').parse().unwrap()
}

/// Sends `method` to `path` with one header (and a JSON body, if any).
pub(crate) async fn send_with(
    app: &TestApp,
    method: Method,
    path: &str,
    header: (&str, &str),
    body: Option<&Value>,
) -> Response {
    let mut request = app
        .client
        .request(method, app.url(path))
        .header(header.0, header.1);
    if let Some(body) = body {
        request = request.json(body);
    }
    request.send().await.unwrap()
}

#[tokio::test]
async fn every_change_takes_the_owners_next_number_and_no_change_takes_none() {
    each_database(|app| async move {
        let user_id = app.create_user().await;
        let first = app.create_titled(user_id, "first").await;
        let second = app.create_titled(user_id, "second").await;
        assert_eq!(
            (first["version"].as_i64(), second["version"].as_i64()),
            (Some(1), Some(2))
        );
        let first_path = task_path(user_id, &first);
        let changed = expect_json(
            app.patch_json(&first_path, &json!({ "title": "first, renamed" }))
                .await,
            StatusCode::OK,
        )
        .await;
        assert_eq!(changed["version"], 3);
        // The same values again, an empty patch, a PUT of what is there: no number taken.
        for (method, body) in [
            (Method::PATCH, json!({ "title": "first, renamed" })),
            (Method::PATCH, json!({})),
            (Method::PUT, json!({ "title": "first, renamed" })),
        ] {
            let answer = app.send_json(method, &first_path, &body).await;
            assert_eq!(etag_of(&answer), "\"3\"");
            let unchanged = expect_json(answer, StatusCode::OK).await;
            assert_eq!(unchanged, changed);
        }
        let deleted = app.delete(&task_path(user_id, &second)).await;
        assert_eq!(deleted.status(), StatusCode::NO_CONTENT);
        // The delete took 4.
        let third = app.create_titled(user_id, "third").await;
        assert_eq!(third["version"], 5);
        // Each user counts their own changes.
        let other = app.create_user().await;
        assert_eq!(app.create_titled(other, "theirs").await["version"], 1);
        let page = app.get_ok(&format!("/users/{user_id}/tasks")).await;
        let versions: Vec<i64> = page["items"]
            .as_array()
            .unwrap()
            .iter()
            .map(|task| task["version"].as_i64().unwrap())
            .collect();
        assert_eq!(versions, [5, 3]);
    })
    .await;
}

#[tokio::test]
async fn if_none_match_naming_the_current_etag_is_304_without_a_body() {
    each_database(|app| async move {
        let user_id = app.create_user().await;
        let task = app.create_titled(user_id, "cached").await;
        let path = task_path(user_id, &task);
        let answer = app.get(&path).await;
        let etag = etag_of(&answer);
        assert_eq!(etag, "\"1\"");
        for header in [
            etag.clone(),
            format!("W/{etag}"),
            "*".to_owned(),
            format!("\"7\", {etag}"),
        ] {
            let answer =
                send_with(&app, Method::GET, &path, ("if-none-match", &header), None).await;
            assert_eq!(answer.status(), StatusCode::NOT_MODIFIED, "{header}");
            assert_eq!(etag_of(&answer), etag);
            assert!(
                answer.bytes().await.unwrap().is_empty(),
                "no body for {header}"
            );
        }
        // A stale or foreign tag: the task, as usual.
        for header in ["\"2\"", "\"01\"", "\"x\""] {
            let answer = send_with(&app, Method::GET, &path, ("if-none-match", header), None).await;
            assert_eq!(etag_of(&answer), etag);
            assert_eq!(expect_json(answer, StatusCode::OK).await, task);
        }
        // 404 whatever the preconditions; a malformed header is a 400 naming it.
        let missing = format!("/users/{user_id}/tasks/{}", Uuid::new_v4());
        let answer = send_with(&app, Method::GET, &missing, ("if-none-match", "*"), None).await;
        expect_error(answer, StatusCode::NOT_FOUND, "TASK_NOT_FOUND").await;
        let answer = send_with(&app, Method::GET, &path, ("if-none-match", "1"), None).await;
        let error = expect_error(answer, StatusCode::BAD_REQUEST, "VALIDATION_ERROR").await;
        assert_eq!(
            failing_fields(&error),
            [("If-None-Match".to_owned(), "header".to_owned())]
        );
    })
    .await;
}

#[tokio::test]
async fn if_match_lets_only_the_current_version_be_written() {
    each_database(|app| async move {
        let user_id = app.create_user().await;
        let task = app.create_titled(user_id, "shared").await;
        let path = task_path(user_id, &task);
        // Changed by another device: the first copy's ETag is stale.
        let current = expect_json(
            app.patch_json(&path, &json!({ "is_completed": true }))
                .await,
            StatusCode::OK,
        )
        .await;
        assert_eq!(current["version"], 2);
        for (method, body) in [
            (Method::PATCH, Some(json!({ "title": "lost update" }))),
            (Method::PUT, Some(json!({ "title": "lost update" }))),
            (Method::DELETE, None),
        ] {
            for stale in ["\"1\"", "W/\"2\"", "\"1\", \"3\""] {
                let answer = send_with(
                    &app,
                    method.clone(),
                    &path,
                    ("if-match", stale),
                    body.as_ref(),
                )
                .await;
                let error = expect_error(
                    answer,
                    StatusCode::PRECONDITION_FAILED,
                    "PRECONDITION_FAILED",
                )
                .await;
                assert!(error["message"]
                    .as_str()
                    .unwrap()
                    .contains("nothing was written"));
                assert_eq!(
                    app.get_ok(&path).await,
                    current,
                    "{method} {stale} wrote nothing"
                );
            }
        }
        // A write that would change nothing is still refused on a stale tag, and answered on a
        // current one without a new number.
        let same = json!({ "is_completed": true });
        let answer = send_with(
            &app,
            Method::PATCH,
            &path,
            ("if-match", "\"1\""),
            Some(&same),
        )
        .await;
        assert_eq!(answer.status(), StatusCode::PRECONDITION_FAILED);
        let answer = send_with(
            &app,
            Method::PATCH,
            &path,
            ("if-match", "\"2\""),
            Some(&same),
        )
        .await;
        assert_eq!(expect_json(answer, StatusCode::OK).await, current);
        // The current tag, in a list, or `*`: written, with a new ETag each time.
        let mut tag = "\"2\"".to_owned();
        for (n, header) in ["\"2\"", "\"9\", \"3\"", "*"].into_iter().enumerate() {
            let body = json!({ "title": format!("edit {n}") });
            let answer = send_with(
                &app,
                Method::PATCH,
                &path,
                ("if-match", header),
                Some(&body),
            )
            .await;
            let new_tag = etag_of(&answer);
            let edited = expect_json(answer, StatusCode::OK).await;
            assert_eq!(new_tag, format!("\"{}\"", edited["version"]));
            assert_ne!(new_tag, tag);
            tag = new_tag;
        }
        let put = json!({ "title": "replaced" });
        let answer = send_with(&app, Method::PUT, &path, ("if-match", &tag), Some(&put)).await;
        let tag = etag_of(&answer);
        expect_json(answer, StatusCode::OK).await;
        let answer = send_with(&app, Method::DELETE, &path, ("if-match", &tag), None).await;
        assert_eq!(answer.status(), StatusCode::NO_CONTENT);
        // 404 before 412: a missing task, or another user's.
        let theirs = app.create_user().await;
        let their_task = app.create_titled(theirs, "theirs").await;
        for missing in [
            path.clone(),
            format!("/users/{user_id}/tasks/{}", id_of(&their_task)),
        ] {
            let answer =
                send_with(&app, Method::DELETE, &missing, ("if-match", "\"1\""), None).await;
            expect_error(answer, StatusCode::NOT_FOUND, "TASK_NOT_FOUND").await;
        }
        // Malformed: a 400 naming the header, with the body's errors.
        let answer = send_with(
            &app,
            Method::PATCH,
            &task_path(theirs, &their_task),
            ("if-match", "1"),
            Some(&json!({ "title": "" })),
        )
        .await;
        let error = expect_error(answer, StatusCode::BAD_REQUEST, "VALIDATION_ERROR").await;
        assert_eq!(
            failing_fields(&error),
            [
                ("If-Match".to_owned(), "header".to_owned()),
                ("title".to_owned(), "body".to_owned())
            ]
        );
        let mut many = vec!["\"1\""; 17].join(", ");
        let answer = send_with(
            &app,
            Method::DELETE,
            &task_path(theirs, &their_task),
            ("if-match", &many),
            None,
        )
        .await;
        expect_error(answer, StatusCode::BAD_REQUEST, "VALIDATION_ERROR").await;
        many.truncate(many.len() - 5);
        let answer = send_with(
            &app,
            Method::DELETE,
            &task_path(theirs, &their_task),
            ("if-match", &many),
            None,
        )
        .await;
        assert_eq!(
            answer.status(),
            StatusCode::NO_CONTENT,
            "16 tags are allowed"
        );
    })
    .await;
}

/// Rounds of writers that all hold the task's current ETag.
const ROUNDS: usize = 20;
const WRITERS: usize = 8;

#[tokio::test]
async fn if_none_match_on_a_write_and_if_match_on_a_read_are_preconditions_too() {
    each_database(|app| async move {
        let user_id = app.create_user().await;
        let task = app.create_titled(user_id, "kept").await;
        let path = task_path(user_id, &task);
        let before = app.get_ok(&path).await;
        let precondition_failed = |answer| async move {
            expect_error(
                answer,
                StatusCode::PRECONDITION_FAILED,
                "PRECONDITION_FAILED",
            )
            .await
        };
        // If-None-Match naming the current tag (weakly), or `*`: nothing is written.
        for (method, body) in [
            (Method::PATCH, Some(json!({ "title": "overwritten" }))),
            (Method::PUT, Some(json!({ "title": "overwritten" }))),
            (Method::PATCH, Some(json!({}))),
            (Method::DELETE, None),
        ] {
            for naming in ["*", "\"1\"", "W/\"1\"", "\"7\", W/\"1\""] {
                let answer = send_with(
                    &app,
                    method.clone(),
                    &path,
                    ("if-none-match", naming),
                    body.as_ref(),
                )
                .await;
                precondition_failed(answer).await;
                assert_eq!(app.get_ok(&path).await, before, "{method} {naming}");
            }
        }
        // Both headers: If-Match lets the current tag through, If-None-Match stops it.
        let answer = app
            .client
            .patch(app.url(&path))
            .header("if-match", "\"1\"")
            .header("if-none-match", "\"1\"")
            .json(&json!({ "title": "overwritten" }))
            .send()
            .await
            .unwrap();
        precondition_failed(answer).await;
        // A missing task is 404 whatever the preconditions.
        let missing = format!("/users/{user_id}/tasks/{}", Uuid::new_v4());
        let answer = send_with(&app, Method::DELETE, &missing, ("if-none-match", "*"), None).await;
        expect_error(answer, StatusCode::NOT_FOUND, "TASK_NOT_FOUND").await;
        let answer = send_with(&app, Method::GET, &missing, ("if-match", "\"1\""), None).await;
        expect_error(answer, StatusCode::NOT_FOUND, "TASK_NOT_FOUND").await;

        // If-None-Match naming other versions: the write happens.
        let answer = send_with(
            &app,
            Method::PATCH,
            &path,
            ("if-none-match", "\"7\""),
            Some(&json!({ "title": "changed" })),
        )
        .await;
        let changed = expect_json(answer, StatusCode::OK).await;
        assert_eq!(changed["version"], 2);

        // If-Match on a read: 412 when it names none of the current tags (`W/` never matches).
        for stale in ["\"1\"", "W/\"2\""] {
            let answer = send_with(&app, Method::GET, &path, ("if-match", stale), None).await;
            precondition_failed(answer).await;
        }
        for current in ["\"2\"", "\"1\", \"2\"", "*"] {
            let answer = send_with(&app, Method::GET, &path, ("if-match", current), None).await;
            assert_eq!(expect_json(answer, StatusCode::OK).await, changed);
        }

        let answer = send_with(
            &app,
            Method::DELETE,
            &path,
            ("if-none-match", "\"1\""),
            None,
        )
        .await;
        assert_eq!(answer.status(), StatusCode::NO_CONTENT);
        expect_error(
            app.get(&path).await,
            StatusCode::NOT_FOUND,
            "TASK_NOT_FOUND",
        )
        .await;
    })
    .await;
}

#[tokio::test]
async fn of_writers_holding_the_same_etag_exactly_one_wins() {
    for backend in Backend::all() {
        eprintln!("--- on {backend:?}");
        let (_database, config, file) = shared_database(&backend).await;
        let app = Arc::new(TestApp::spawn(config).await);
        let user_id = app.create_user().await;
        let task = app.create_titled(user_id, "contended").await;
        let path = task_path(user_id, &task);
        let (mut writers, mut winners) = (0, 0);
        for round in 0..ROUNDS {
            let before = app.get(&path).await;
            let tag = etag_of(&before);
            // Odd rounds race on If-None-Match naming the version the first write makes: only
            // that write can pass it.
            let next = format!("\"{}\"", version_of(&tag) + 1);
            let (header, value) = match round % 2 {
                0 => ("if-match", tag.clone()),
                _ => ("if-none-match", next),
            };
            let mut racing = Vec::new();
            for writer in 0..WRITERS {
                let (app, path, value) = (app.clone(), path.clone(), value.clone());
                racing.push(tokio::spawn(async move {
                    // One in four deletes: a delete and an edit race too, in the last round.
                    let (method, body) = match (round == ROUNDS - 1, writer % 4) {
                        (true, 0) => (Method::DELETE, None),
                        _ => (
                            Method::PATCH,
                            Some(json!({ "title": format!("r{round} w{writer}") })),
                        ),
                    };
                    let answer =
                        send_with(&app, method, &path, (header, &value), body.as_ref()).await;
                    (writer, answer.status())
                }));
            }
            let mut won = Vec::new();
            for racer in racing {
                let (writer, status) = racer.await.unwrap();
                writers += 1;
                match status {
                    StatusCode::OK | StatusCode::NO_CONTENT => won.push(writer),
                    StatusCode::PRECONDITION_FAILED => {}
                    // Once the delete has won, there is no task to hold a version.
                    StatusCode::NOT_FOUND if round == ROUNDS - 1 => {}
                    other => panic!("round {round}: writer {writer} got {other}"),
                }
            }
            assert_eq!(
                won.len(),
                1,
                "round {round}: exactly one winner, got {won:?}"
            );
            winners += 1;
            if round < ROUNDS - 1 {
                let after = app.get_ok(&path).await;
                assert_eq!(after["title"], format!("r{round} w{}", won[0]));
                assert_eq!(
                    format!("\"{}\"", after["version"].as_i64().unwrap() - 1),
                    tag,
                    "one number taken per round"
                );
            }
        }
        eprintln!("{writers} conditional writers in {ROUNDS} rounds, {winners} won");
        remove_sqlite_files(file);
    }
}
