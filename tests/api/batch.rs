//! Batches: each operation answers as its own endpoint does (the same requests sent both ways),
//! in order, referring to what earlier operations created; atomic batches all or nothing; a
//! malformed batch refused whole; a batch's operations counted among the user's writes.

use std::num::NonZeroU32;

use reqwest::{Method, StatusCode};
use serde_json::{json, Value};
use uuid::Uuid;

use crate::helpers::*;

/// Sends a batch for `user`; returns the response.
async fn post_batch(app: &TestApp, user: Uuid, batch: Value) -> reqwest::Response {
    app.post_json(&format!("/users/{user}/batch"), &batch).await
}

/// Sends a batch for `user`, asserting 200; returns the answer.
async fn batch_ok(app: &TestApp, user: Uuid, batch: Value) -> Value {
    expect_json(post_batch(app, user, batch).await, StatusCode::OK).await
}

/// The operations of the script both users run, with `ids` as the client-made ids: every kind,
/// succeeding and failing in every way a batch can see.
fn script(ids: &[Uuid; 3]) -> Vec<Value> {
    let [task, other, list] = ids;
    let unknown = Uuid::from_u128(7);
    vec![
        json!({ "op": "create_task", "body": { "id": task, "title": " Buy milk ", "tags": ["home"] } }),
        json!({ "op": "create_task", "body": { "id": task, "title": "Again" } }),
        json!({ "op": "create_task", "idempotency_key": "k1", "body": { "id": other, "title": "Keyed" } }),
        json!({ "op": "create_task", "idempotency_key": "k1", "body": { "id": other, "title": "Keyed" } }),
        json!({ "op": "create_task", "body": { "title": "", "priority": "urgent", "recurrence": "FREQ=DAILY" } }),
        json!({ "op": "update_task", "task_id": task, "if_match": "\"1\"", "body": { "is_completed": true, "due": { "date": "2026-12-24" } } }),
        json!({ "op": "update_task", "task_id": task, "if_match": "\"1\"", "body": { "title": "Stale" } }),
        json!({ "op": "update_task", "task_id": task, "if_match": "not a tag", "body": { "title": "Malformed" } }),
        json!({ "op": "replace_task", "task_id": task, "body": { "title": "Buy oat milk" } }),
        json!({ "op": "replace_task", "task_id": unknown, "body": { "title": "Nobody's" } }),
        json!({ "op": "create_list", "body": { "id": list, "name": "Groceries" } }),
        json!({ "op": "update_list", "list_id": list, "if_match": "*", "body": { "name": "Shopping" } }),
        json!({ "op": "move_task", "task_id": task, "if_match": "*", "body": { "after": other } }),
        json!({ "op": "move_task", "task_id": task, "if_match": "\"1\"", "body": { "after": null } }),
        json!({ "op": "move_task", "task_id": task, "body": { "after": unknown } }),
        json!({ "op": "move_task", "task_id": task, "body": { "after": null, "list_id": list } }),
        json!({ "op": "move_task", "task_id": unknown, "body": { "after": null } }),
        json!({ "op": "delete_task", "task_id": task }),
        json!({ "op": "delete_task", "task_id": task }),
        json!({ "op": "delete_list", "list_id": list, "if_match": "\"99\"" }),
        json!({ "op": "delete_list", "list_id": list }),
    ]
}

/// Sends `operation` of `user`'s to its own endpoint (DESIGN: `body` the endpoint's body,
/// `task_id`/`list_id` the path's, `if_match` and `idempotency_key` the headers').
async fn send_to_endpoint(app: &TestApp, user: Uuid, operation: &Value) -> reqwest::Response {
    let id = |name: &str| operation[name].as_str().unwrap().to_owned();
    let (method, path) = match operation["op"].as_str().unwrap() {
        "create_task" => (Method::POST, "tasks".to_owned()),
        "replace_task" => (Method::PUT, format!("tasks/{}", id("task_id"))),
        "update_task" => (Method::PATCH, format!("tasks/{}", id("task_id"))),
        "move_task" => (Method::POST, format!("tasks/{}/move", id("task_id"))),
        "delete_task" => (Method::DELETE, format!("tasks/{}", id("task_id"))),
        "create_list" => (Method::POST, "lists".to_owned()),
        "update_list" => (Method::PATCH, format!("lists/{}", id("list_id"))),
        "delete_list" => (Method::DELETE, format!("lists/{}", id("list_id"))),
        other => panic!("no endpoint for {other}"),
    };
    let mut request = app
        .client
        .request(method, app.url(&format!("/users/{user}/{path}")));
    for (member, header) in [
        ("if_match", "If-Match"),
        ("idempotency_key", "Idempotency-Key"),
    ] {
        if let Some(value) = operation[member].as_str() {
            request = request.header(header, value);
        }
    }
    if operation["body"].is_object() {
        request = request.json(&operation["body"]);
    }
    request.send().await.unwrap()
}

/// `value` with what differs between two users doing the same (their ids, the ids they made,
/// the times) replaced by names.
fn normalized(value: &Value, names: &[(Uuid, &str)]) -> Value {
    match value {
        Value::String(text) => {
            let mut text = text.clone();
            for (id, name) in names {
                text = text.replace(&id.to_string(), name);
            }
            if chrono::DateTime::parse_from_rfc3339(&text).is_ok() {
                text = "<time>".to_owned();
            }
            Value::String(text)
        }
        Value::Array(items) => {
            Value::Array(items.iter().map(|item| normalized(item, names)).collect())
        }
        Value::Object(members) => Value::Object(
            members
                .iter()
                .map(|(name, member)| (name.clone(), normalized(member, names)))
                .collect(),
        ),
        other => other.clone(),
    }
}

#[tokio::test]
async fn every_operation_answers_in_a_batch_exactly_as_its_endpoint_does() {
    each_database(|app| async move {
        let (one, other) = (app.create_user().await, app.create_user().await);
        let one_ids = [Uuid::new_v4(), Uuid::new_v4(), Uuid::new_v4()];
        let other_ids = [Uuid::new_v4(), Uuid::new_v4(), Uuid::new_v4()];
        let names = |user: Uuid, ids: &[Uuid; 3]| {
            vec![
                (user, "<user>"),
                (ids[0], "<task>"),
                (ids[1], "<other>"),
                (ids[2], "<list>"),
            ]
        };
        // The endpoints, one request after another.
        let mut by_endpoint = Vec::new();
        for operation in script(&one_ids) {
            let response = send_to_endpoint(&app, one, &operation).await;
            let status = response.status().as_u16();
            let etag = response
                .headers()
                .get("etag")
                .map(|tag| tag.to_str().unwrap().to_owned());
            let text = response.text().await.unwrap();
            let body: Value = match text.is_empty() {
                true => Value::Null,
                false => serde_json::from_str(&text).unwrap(),
            };
            by_endpoint.push((status, etag, normalized(&body, &names(one, &one_ids))));
        }
        // The same, as one batch.
        let operations = script(&other_ids);
        let answer = batch_ok(&app, other, json!({ "operations": operations })).await;
        let results = answer["results"].as_array().unwrap();
        assert_eq!(results.len(), by_endpoint.len());
        for (index, (result, endpoint)) in results.iter().zip(&by_endpoint).enumerate() {
            let result = normalized(result, &names(other, &other_ids));
            let (status, etag, body) = endpoint;
            assert_eq!(result["status"], *status, "operation {index}: {result}");
            assert_eq!(
                result["etag"].as_str().map(str::to_owned),
                *etag,
                "operation {index}"
            );
            let answered = match (&result["task"], &result["list"], &result["error"]) {
                (Value::Null, Value::Null, Value::Null) => Value::Null,
                (task, Value::Null, Value::Null) if !task.is_null() => task.clone(),
                (Value::Null, list, Value::Null) if !list.is_null() => list.clone(),
                (Value::Null, Value::Null, error) => json!({ "error": error }),
                _ => panic!("operation {index} answers more than one thing: {result}"),
            };
            assert_eq!(answered, *body, "operation {index}");
        }
        // Both users' counters moved alike, and the batch answers its user's.
        let feed = app.get_ok(&format!("/users/{one}/changes")).await;
        let last = feed["changes"].as_array().unwrap().last().unwrap()["version"].clone();
        assert_eq!(answer["version"], last);
    })
    .await;
}

#[tokio::test]
async fn later_operations_refer_to_what_earlier_ones_created() {
    each_database(|app| async move {
        let user = app.create_user().await;
        let (list, task) = (Uuid::new_v4(), Uuid::new_v4());
        for atomic in [false, true] {
            let answer = batch_ok(
                &app,
                user,
                json!({ "atomic": atomic, "operations": [
                    { "op": "create_list", "body": { "id": list, "name": "Trip" } },
                    { "op": "create_task", "body": { "id": task, "title": "Pack" } },
                    { "op": "update_task", "task_id": task, "if_match": "*", "body": { "is_completed": true } },
                    { "op": "update_list", "list_id": list, "body": { "name": "Holiday" } },
                    { "op": "delete_task", "task_id": task },
                    { "op": "delete_list", "list_id": list },
                ] }),
            )
            .await;
            let statuses: Vec<&Value> = answer["results"]
                .as_array()
                .unwrap()
                .iter()
                .map(|result| &result["status"])
                .collect();
            assert_eq!(statuses, [201, 201, 200, 200, 204, 204], "atomic {atomic}");
            // Each operation took its own numbers, as if sent alone (the list's delete one).
            let first = if atomic { 7 } else { 1 };
            let versions: Vec<Value> = answer["results"]
                .as_array()
                .unwrap()
                .iter()
                .map(|result| result["etag"].clone())
                .collect();
            assert_eq!(
                versions,
                [
                    json!(format!("\"{first}\"")),
                    json!(format!("\"{}\"", first + 1)),
                    json!(format!("\"{}\"", first + 2)),
                    json!(format!("\"{}\"", first + 3)),
                    Value::Null,
                    Value::Null
                ]
            );
            assert_eq!(answer["version"], first + 5);
        }
        assert!(app.all_tasks(user).await.is_empty());
    })
    .await;
}

#[tokio::test]
async fn an_atomic_batch_that_fails_writes_nothing_and_answers_the_failing_operation() {
    each_database(|app| async move {
        let user = app.create_user().await;
        let task = app.create_titled(user, "Kept").await;
        let task_id = id_of(&task);
        let response = post_batch(
            &app,
            user,
            json!({ "atomic": true, "operations": [
                { "op": "create_list", "body": { "name": "Rolled back" } },
                { "op": "update_task", "task_id": task_id, "body": { "title": "Rolled back" } },
                { "op": "create_task", "body": { "title": "Rolled back" } },
                { "op": "update_task", "task_id": task_id, "if_match": "\"1\"", "body": { "title": "Stale" } },
                { "op": "create_task", "body": { "title": "Never run" } },
            ] }),
        )
        .await;
        let error = expect_error(response, StatusCode::PRECONDITION_FAILED, "PRECONDITION_FAILED").await;
        assert_eq!(error["details"]["operation"], 3, "{error}");
        // Nothing was written: the task as it was, no list, no task, the counter where it was.
        assert_eq!(app.all_tasks(user).await, vec![task.clone()]);
        let lists = app.get_ok(&format!("/users/{user}/lists")).await;
        assert_eq!(lists["items"], json!([]));
        assert_eq!(app.create_titled(user, "Next").await["version"], 2);
        // A body that breaks a rule fails its operation the same way.
        let response = post_batch(
            &app,
            user,
            json!({ "atomic": true, "operations": [
                { "op": "create_task", "body": { "title": "Rolled back" } },
                { "op": "create_task", "body": { "title": " " } },
            ] }),
        )
        .await;
        let error = expect_error(response, StatusCode::BAD_REQUEST, "VALIDATION_ERROR").await;
        assert_eq!(error["details"]["operation"], 1);
        assert_eq!(error["details"]["fields"][0]["field"], "title");
        assert_eq!(app.all_tasks(user).await.len(), 2);
        // Not atomic, the same failure stops nothing.
        let answer = batch_ok(
            &app,
            user,
            json!({ "operations": [
                { "op": "update_task", "task_id": task_id, "if_match": "\"9\"", "body": { "title": "Stale" } },
                { "op": "create_task", "body": { "title": "Written" } },
            ] }),
        )
        .await;
        assert_eq!(answer["results"][0]["status"], 412);
        assert_eq!(answer["results"][0]["error"]["code"], "PRECONDITION_FAILED");
        assert_eq!(answer["results"][1]["status"], 201);
        assert_eq!(answer["version"], 3);
    })
    .await;
}

#[tokio::test]
async fn a_malformed_batch_is_refused_whole_naming_each_failing_member() {
    each_database(|app| async move {
        let user = app.create_user().await;
        let task = Uuid::new_v4();
        let good = json!({ "op": "create_task", "body": { "id": task, "title": "Not written" } });
        let cases = [
            (json!({ "operations": [] }), vec!["operations"]),
            (
                json!({ "operations": vec![good.clone(); 101] }),
                vec!["operations"],
            ),
            (json!({ "operations": good.clone() }), vec!["operations"]),
            (
                json!({ "operations": [good.clone()], "atomic": "yes" }),
                vec!["atomic"],
            ),
            (
                json!({ "operations": [good.clone()], "extra": 1 }),
                vec!["extra"],
            ),
            (
                json!({ "operations": [
                    good.clone(),
                    { "op": "make_task", "body": {} },
                    { "op": "update_task", "body": { "title": "t" } },
                    { "op": "delete_task", "task_id": "x" },
                    { "op": "create_task" },
                    { "op": "create_list", "body": [] },
                    { "op": "delete_list", "list_id": task, "body": {}, "if_match": 3 },
                    { "op": "create_task", "task_id": task, "body": {} },
                    7,
                ] }),
                vec![
                    "operations[1].op",
                    "operations[2].task_id",
                    "operations[3].task_id",
                    "operations[4].body",
                    "operations[5].body",
                    "operations[6].body",
                    "operations[6].if_match",
                    "operations[7].task_id",
                    "operations[8]",
                ],
            ),
        ];
        for (batch, fields) in cases {
            let expected: Vec<(&str, &str)> = fields.iter().map(|field| (*field, "body")).collect();
            expect_invalid(post_batch(&app, user, batch).await, &expected).await;
        }
        assert!(app.all_tasks(user).await.is_empty(), "nothing was done");
        // An unknown user is 404, for the whole batch.
        let response = post_batch(&app, Uuid::new_v4(), json!({ "operations": [good] })).await;
        expect_error(response, StatusCode::NOT_FOUND, "USER_NOT_FOUND").await;
    })
    .await;
}

#[tokio::test]
async fn a_batch_counts_its_operations_among_the_users_writes() {
    each_database_configured(
        |config| config.user_limits.writes_per_minute = NonZeroU32::new(5).unwrap(),
        |app| async move {
            let create = json!({ "op": "create_task", "body": { "title": "t" } });
            let user = app.create_user().await;
            let six = json!({ "operations": vec![create.clone(); 6] });
            let refused = post_batch(&app, user, six).await;
            assert!(refused.headers().contains_key("retry-after"));
            expect_error(refused, StatusCode::TOO_MANY_REQUESTS, "RATE_LIMITED").await;
            assert!(app.all_tasks(user).await.is_empty(), "nothing was done");
            let other = app.create_user().await;
            let five = json!({ "operations": vec![create.clone(); 5] });
            assert_eq!(batch_ok(&app, other, five).await["version"], 5);
            let next = app
                .post_json(&format!("/users/{other}/tasks"), &json!({ "title": "t" }))
                .await;
            expect_error(next, StatusCode::TOO_MANY_REQUESTS, "RATE_LIMITED").await;
        },
    )
    .await;
}
