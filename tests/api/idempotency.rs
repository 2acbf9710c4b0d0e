//! Idempotent creates: a retried `POST /users/{user_id}/tasks` with the same `Idempotency-Key`
//! gets the first answer again and creates nothing, whether it comes later or at the same time.

use std::sync::Arc;
use std::time::Duration;

use reqwest::{Response, StatusCode};
use serde_json::{json, Value};
use task_api::config::Retention;
use uuid::Uuid;

use crate::helpers::*;

async fn create_with_key(app: &TestApp, user_id: Uuid, key: &str, body: &str) -> Response {
    app.client
        .post(app.url(&format!("/users/{user_id}/tasks")))
        .header("idempotency-key", key)
        .header("content-type", "application/json")
        .body(body.to_owned())
        .send()
        .await
        .unwrap()
}

/// What a create answered: status, `Location`, `ETag`, `Idempotent-Replayed`, body.
async fn answer_of(response: Response) -> (StatusCode, String, String, Option<String>, Value) {
    let header = |name: &str| {
        response
            .headers()
            .get(name)
            .map(|value| value.to_str().unwrap().to_owned())
    };
    let (location, etag, replayed) = (
        header("location").unwrap_or_default(),
        header("etag").unwrap_or_default(),
        header("idempotent-replayed"),
    );
    let status = response.status();
    let body = expect_json(response, status).await;
    (status, location, etag, replayed, body)
}

async fn task_count(app: &TestApp, user_id: Uuid) -> usize {
    app.get_ok(&format!("/users/{user_id}/tasks?limit=100"))
        .await["items"]
        .as_array()
        .unwrap()
        .len()
}

#[tokio::test]
async fn a_retry_with_the_same_key_and_fields_gets_the_first_answer_and_creates_nothing() {
    each_database(|app| async move {
        let user_id = app.create_user().await;
        let key = Uuid::new_v4().to_string();
        let first = answer_of(
            create_with_key(
                &app,
                user_id,
                &key,
                r#"{"title":"Buy milk","description":"2 l"}"#,
            )
            .await,
        )
        .await;
        assert_eq!(first.0, StatusCode::CREATED);
        assert_eq!(first.3, None, "a first answer is not a replay");
        // The task changes meanwhile; the replay is still the first answer.
        let path = first.1.clone();
        app.patch_json(&path, &json!({ "is_completed": true }))
            .await;
        // The same validated fields, whatever the JSON's spacing, order or untrimmed title, and
        // the key bare or quoted.
        for (key, body) in [
            (key.clone(), r#"{"title":"Buy milk","description":"2 l"}"#),
            (
                format!("\"{key}\""),
                r#"{ "description" : "2 l", "is_completed": false, "title": "  Buy milk " }"#,
            ),
        ] {
            let again = answer_of(create_with_key(&app, user_id, &key, body).await).await;
            assert_eq!(again.3.as_deref(), Some("true"));
            assert_eq!(
                (&again.0, &again.1, &again.2, &again.4),
                (&first.0, &first.1, &first.2, &first.4),
                "status, Location, ETag and body replayed"
            );
        }
        assert_eq!(first.4["version"], 1);
        assert_eq!(task_count(&app, user_id).await, 1);
        // The same key with other fields: refused, nothing created.
        let other = create_with_key(&app, user_id, &key, r#"{"title":"Buy oat milk"}"#).await;
        let error = expect_error(
            other,
            StatusCode::UNPROCESSABLE_ENTITY,
            "IDEMPOTENCY_KEY_REUSED",
        )
        .await;
        assert!(error["message"]
            .as_str()
            .unwrap()
            .contains("different request"));
        assert_eq!(task_count(&app, user_id).await, 1);
        // Keys are the user's own: another user's same key creates their own task.
        let other_user = app.create_user().await;
        let theirs = answer_of(
            create_with_key(
                &app,
                other_user,
                &key,
                r#"{"title":"Buy milk","description":"2 l"}"#,
            )
            .await,
        )
        .await;
        assert_eq!((theirs.0, theirs.3), (StatusCode::CREATED, None));
        assert_ne!(theirs.4["id"], first.4["id"]);
    })
    .await;
}

#[tokio::test]
async fn errors_store_nothing_and_bad_keys_are_400_naming_the_header() {
    each_database(|app| async move {
        let user_id = app.create_user().await;
        // A refused body, then a missing user, under the key: neither is remembered.
        let refused = create_with_key(&app, user_id, "k-1", r#"{"title":""}"#).await;
        expect_error(refused, StatusCode::BAD_REQUEST, "VALIDATION_ERROR").await;
        let nobody = create_with_key(&app, Uuid::new_v4(), "k-1", r#"{"title":"x"}"#).await;
        expect_error(nobody, StatusCode::NOT_FOUND, "USER_NOT_FOUND").await;
        let created =
            answer_of(create_with_key(&app, user_id, "k-1", r#"{"title":"x"}"#).await).await;
        assert_eq!((created.0, created.3), (StatusCode::CREATED, None));
        for bad in ["", "\"\"", "a key", &"k".repeat(256), "\"unterminated"] {
            let answer = create_with_key(&app, user_id, bad, r#"{"title":"x"}"#).await;
            let error = expect_error(answer, StatusCode::BAD_REQUEST, "VALIDATION_ERROR").await;
            assert_eq!(
                failing_fields(&error),
                [("Idempotency-Key".to_owned(), "header".to_owned())],
                "{bad:?}"
            );
        }
        let twice = app
            .client
            .post(app.url(&format!("/users/{user_id}/tasks")))
            .header("idempotency-key", "k-2")
            .header("idempotency-key", "k-3")
            .json(&json!({ "title": "x" }))
            .send()
            .await
            .unwrap();
        let error = expect_error(twice, StatusCode::BAD_REQUEST, "VALIDATION_ERROR").await;
        assert!(error.to_string().contains("must be given once"), "{error}");
        assert_eq!(task_count(&app, user_id).await, 1);
    })
    .await;
}

/// Retries sent at once.
const RETRIES: usize = 20;

#[tokio::test]
async fn concurrent_retries_get_the_first_answer_and_exactly_one_task_is_created() {
    for backend in Backend::all() {
        eprintln!("--- on {backend:?}");
        let (_database, config, file) = shared_database(&backend).await;
        let app = Arc::new(TestApp::spawn(config).await);
        let user_id = app.create_user().await;
        for round in 0..5 {
            let key = format!("retry-{round}");
            let retries: Vec<_> = (0..RETRIES)
                .map(|_| {
                    let (app, key) = (app.clone(), key.clone());
                    tokio::spawn(async move {
                        answer_of(create_with_key(&app, user_id, &key, r#"{"title":"once"}"#).await)
                            .await
                    })
                })
                .collect();
            let mut answers = Vec::new();
            for retry in retries {
                answers.push(retry.await.unwrap());
            }
            let firsts = answers.iter().filter(|answer| answer.3.is_none()).count();
            assert_eq!(
                firsts, 1,
                "one request created the task, the others replayed it"
            );
            for answer in &answers {
                assert_eq!(answer.0, StatusCode::CREATED);
                assert_eq!(
                    (&answer.1, &answer.2, &answer.4),
                    (&answers[0].1, &answers[0].2, &answers[0].4)
                );
            }
            assert_eq!(task_count(&app, user_id).await, round + 1);
        }
        eprintln!("5 × {RETRIES} concurrent retries: 5 tasks created");
        remove_sqlite_files(file);
    }
}

#[tokio::test]
async fn a_retry_that_cannot_wait_for_the_first_is_409_and_nothing_is_done() {
    for backend in Backend::all() {
        eprintln!("--- on {backend:?}");
        let (database, mut config, file) = shared_database(&backend).await;
        config.database = config
            .database
            .with_statement_timeout(Duration::from_millis(300));
        let app = TestApp::spawn(config).await;
        let user_id = app.create_user().await;
        let task = app.create_titled(user_id, "held").await;
        // Another session holds what a create of this user waits for.
        let (_locker, transaction) =
            hold_locks(&database.url, user_id, task["id"].as_str().unwrap()).await;
        let answer = create_with_key(&app, user_id, "held-key", r#"{"title":"x"}"#).await;
        assert_eq!(answer.headers()["retry-after"], "1");
        expect_error(answer, StatusCode::CONFLICT, "IDEMPOTENCY_KEY_IN_USE").await;
        transaction.rollback().await.unwrap();
        // Nothing was stored: the retry creates the task, as a first answer.
        let retry =
            answer_of(create_with_key(&app, user_id, "held-key", r#"{"title":"x"}"#).await).await;
        assert_eq!((retry.0, retry.3), (StatusCode::CREATED, None));
        assert_eq!(task_count(&app, user_id).await, 2);
        remove_sqlite_files(file);
    }
}

#[tokio::test]
async fn keys_are_forgotten_after_their_time_to_live() {
    each_database_configured(
        |config| {
            config.retention = Retention {
                idempotency_keys: Duration::from_secs(1),
                ..config.retention
            }
        },
        |app| async move {
            let user_id = app.create_user().await;
            let first =
                answer_of(create_with_key(&app, user_id, "k", r#"{"title":"x"}"#).await).await;
            let replay =
                answer_of(create_with_key(&app, user_id, "k", r#"{"title":"x"}"#).await).await;
            assert_eq!(replay.3.as_deref(), Some("true"));
            wait_until("the key to be purged", || async {
                let answer =
                    answer_of(create_with_key(&app, user_id, "k", r#"{"title":"y"}"#).await).await;
                // Until then the other fields are refused; then the key is new.
                answer.0 == StatusCode::CREATED
            })
            .await;
            assert_eq!(task_count(&app, user_id).await, 2);
            assert_eq!(first.0, StatusCode::CREATED);
        },
    )
    .await;
}
