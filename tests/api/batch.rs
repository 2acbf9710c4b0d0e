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
fn normalized(value: &Value, names: &[(Uuid, String)]) -> Value {
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

/// How many client-made ids a script is given.
const SCRIPT_IDS: usize = 8;

/// Runs `script` (given the client-made ids to use) for one new user through the endpoints, one
/// request after another, and for another new user as one batch; asserts that each operation
/// answered alike (status, ETag, body), that both users' counters moved alike and that both
/// hold the same tasks in the same order. Returns the operations' statuses.
async fn assert_answers_alike(app: &TestApp, script: impl Fn(&[Uuid]) -> Vec<Value>) -> Vec<u16> {
    let (one, other) = (app.create_user().await, app.create_user().await);
    let one_ids: Vec<Uuid> = (0..SCRIPT_IDS).map(|_| Uuid::new_v4()).collect();
    let other_ids: Vec<Uuid> = (0..SCRIPT_IDS).map(|_| Uuid::new_v4()).collect();
    let names = |user: Uuid, ids: &[Uuid]| {
        let ids = ids.iter().enumerate();
        std::iter::once((user, "<user>".to_owned()))
            .chain(ids.map(|(index, id)| (*id, format!("<id {index}>"))))
            .collect::<Vec<_>>()
    };
    // The endpoints, one request after another.
    let mut by_endpoint = Vec::new();
    for operation in script(&one_ids) {
        let response = send_to_endpoint(app, one, &operation).await;
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
    let answer = batch_ok(app, other, json!({ "operations": operations })).await;
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
    // Both users hold the same tasks, in the same order.
    let mut held = Vec::new();
    for (user, ids) in [(one, &one_ids), (other, &other_ids)] {
        let tasks = app
            .get_ok(&format!("/users/{user}/tasks?sort=position"))
            .await;
        held.push(normalized(&tasks["items"], &names(user, ids)));
    }
    assert_eq!(held[0], held[1]);
    let status = |result: &Value| result["status"].as_u64().unwrap() as u16;
    results.iter().map(status).collect()
}

#[tokio::test]
async fn every_operation_answers_in_a_batch_exactly_as_its_endpoint_does() {
    each_database(|app| async move {
        assert_answers_alike(&app, |ids| script(&[ids[0], ids[1], ids[2]])).await;
    })
    .await;
}

/// A script of runs of creates and of updates (which a batch writes together), failing in the
/// middle in every way a run can see: a client-made id another user's task has (`foreign[0]`)
/// or an earlier create of the run took, another user's list (`foreign[1]`), the quota reached
/// (5 tasks), a stale `If-Match`, a task not the user's, a patch that changes nothing, one task
/// patched twice, completions of recurring tasks, tasks leaving a list and others put at its end.
fn run_script(ids: &[Uuid], foreign: [Uuid; 2]) -> Vec<Value> {
    let [a, b, c, d, e, f, list, unknown] = ids else {
        panic!("{SCRIPT_IDS} ids")
    };
    let [their_task, their_list] = foreign;
    let due = json!({ "date": "2026-12-24" });
    vec![
        json!({ "op": "create_list", "body": { "id": list, "name": "Errands" } }),
        json!({ "op": "create_task", "body": { "id": a, "title": "A", "list_id": list } }),
        json!({ "op": "create_task", "body": { "id": their_task, "title": "Taken" } }),
        json!({ "op": "create_task", "body": { "id": b, "title": "Theirs", "list_id": their_list } }),
        json!({ "op": "create_task", "body": { "id": a, "title": "Again" } }),
        json!({ "op": "create_task", "body": { "id": b, "title": "B", "list_id": list, "tags": ["x"] } }),
        json!({ "op": "create_task", "body": { "id": c, "title": "C", "is_completed": true, "due": due, "recurrence": "FREQ=WEEKLY" } }),
        json!({ "op": "create_task", "body": { "title": " " } }),
        json!({ "op": "create_task", "body": { "id": d, "title": "D", "is_completed": true } }),
        json!({ "op": "create_task", "body": { "id": e, "title": "E" } }),
        json!({ "op": "create_task", "body": { "id": f, "title": "F" } }),
        json!({ "op": "create_task", "body": { "id": f, "title": "F", "list_id": their_list } }),
        json!({ "op": "update_task", "task_id": a, "if_match": "\"2\"", "body": { "title": "A2" } }),
        json!({ "op": "update_task", "task_id": a, "if_match": "\"2\"", "body": { "title": "Stale" } }),
        json!({ "op": "update_task", "task_id": a, "body": { "list_id": null } }),
        json!({ "op": "update_task", "task_id": a, "body": { "title": "A2" } }),
        json!({ "op": "update_task", "task_id": b, "body": { "list_id": their_list } }),
        json!({ "op": "update_task", "task_id": c, "body": { "is_completed": true } }),
        json!({ "op": "update_task", "task_id": unknown, "body": { "title": "Nobody's" } }),
        json!({ "op": "update_task", "task_id": their_task, "body": { "title": "Not mine" } }),
        json!({ "op": "update_task", "task_id": b, "body": { "due": { "time": "10:00" } } }),
        json!({ "op": "update_task", "task_id": b, "if_match": "*", "body": { "priority": "high", "tags": ["y"] } }),
        json!({ "op": "update_task", "task_id": b, "body": { "title": "B2", "list_id": null } }),
        json!({ "op": "update_task", "task_id": c, "body": { "list_id": list } }),
        json!({ "op": "update_task", "task_id": c, "body": { "list_id": null } }),
        json!({ "op": "update_task", "task_id": d, "body": { "list_id": list } }),
        json!({ "op": "update_task", "task_id": d, "body": { "is_completed": false } }),
        json!({ "op": "update_task", "task_id": d, "if_match": "\"999\"", "body": {} }),
        json!({ "op": "update_task", "task_id": e, "body": {} }),
        json!({ "op": "delete_task", "task_id": e }),
        json!({ "op": "create_task", "body": { "id": e, "title": "E again" } }),
        json!({ "op": "create_task", "body": { "id": f, "title": "F" } }),
    ]
}

#[tokio::test]
async fn runs_of_creates_and_updates_answer_each_operation_as_its_endpoint_does() {
    each_database_configured(
        |config| config.user_limits.max_tasks = 5,
        |app| async move {
            let stranger = app.create_user().await;
            let their_task = id_of(&app.create_titled(stranger, "Theirs").await);
            let path = format!("/users/{stranger}/lists");
            let their_list = app.post_json(&path, &json!({ "name": "Theirs" })).await;
            let their_list = id_of(&expect_json(their_list, StatusCode::CREATED).await);
            let statuses =
                assert_answers_alike(&app, |ids| run_script(ids, [their_task, their_list])).await;
            // Each case of the script happened.
            let expected = [
                201, 201, 409, 400, 409, 201, 201, 400, 201, 201, 409, 409, // creates
                200, 412, 200, 200, 400, 200, 404, 404, 400, 200, 200, 200, 200, 200, 200, 412,
                200, // updates
                204, 201, 409,
            ];
            assert_eq!(statuses, expected);
            // The stranger's task is as it was.
            let theirs = app.all_tasks(stranger).await;
            assert_eq!(theirs.len(), 1);
            assert_eq!(theirs[0]["title"], "Theirs");
            assert_eq!(theirs[0]["version"], 1);
        },
    )
    .await;
}

#[tokio::test]
async fn a_run_past_the_quota_or_with_a_stale_if_match_fails_an_atomic_batch_whole() {
    each_database_configured(
        |config| config.user_limits.max_tasks = 3,
        |app| async move {
            let user = app.create_user().await;
            let creates: Vec<Value> = (0..5)
                .map(|n| json!({ "op": "create_task", "body": { "title": format!("T{n}") } }))
                .collect();
            let atomic = json!({ "atomic": true, "operations": creates });
            let response = post_batch(&app, user, atomic).await;
            let error = expect_error(response, StatusCode::CONFLICT, "QUOTA_EXCEEDED").await;
            assert_eq!(error["details"]["operation"], 3, "{error}");
            assert!(app.all_tasks(user).await.is_empty(), "nothing was written");
            // Not atomic: the first three are written, the rest refused.
            let answer = batch_ok(&app, user, json!({ "operations": creates })).await;
            let results = answer["results"].as_array().unwrap();
            let statuses: Vec<&Value> = results.iter().map(|result| &result["status"]).collect();
            assert_eq!(statuses, [201, 201, 201, 409, 409]);
            assert_eq!(results[3]["error"]["code"], "QUOTA_EXCEEDED");
            assert_eq!(answer["version"], 3);
            let tasks = app.all_tasks(user).await;
            assert_eq!(tasks.len(), 3);
            // A run of patches with a stale If-Match in the middle.
            let patches: Vec<Value> = tasks
                .iter()
                .enumerate()
                .map(|(n, task)| {
                    let version = if n == 1 {
                        json!(99)
                    } else {
                        task["version"].clone()
                    };
                    json!({
                        "op": "update_task",
                        "task_id": id_of(task),
                        "if_match": format!("\"{version}\""),
                        "body": { "title": "Patched" },
                    })
                })
                .collect();
            let atomic = json!({ "atomic": true, "operations": patches });
            let response = post_batch(&app, user, atomic).await;
            let error = expect_error(
                response,
                StatusCode::PRECONDITION_FAILED,
                "PRECONDITION_FAILED",
            )
            .await;
            assert_eq!(error["details"]["operation"], 1, "{error}");
            assert_eq!(app.all_tasks(user).await, tasks, "nothing was written");
            // Not atomic: the others are written, each with its own version.
            let answer = batch_ok(&app, user, json!({ "operations": patches })).await;
            let results = answer["results"].as_array().unwrap();
            assert_eq!(results[0]["status"], 200);
            assert_eq!(results[0]["task"]["version"], 4);
            assert_eq!(results[1]["status"], 412);
            assert_eq!(results[2]["task"]["version"], 5);
            assert_eq!(answer["version"], 5);
        },
    )
    .await;
}

#[tokio::test]
async fn the_change_feed_lists_a_runs_operations_at_their_versions_in_order() {
    each_database(|app| async move {
        let user = app.create_user().await;
        let [x, y, z] = [Uuid::new_v4(), Uuid::new_v4(), Uuid::new_v4()];
        let answer = batch_ok(
            &app,
            user,
            json!({ "operations": [
                { "op": "create_task", "body": { "id": x, "title": "X" } },
                { "op": "create_task", "body": { "id": y, "title": "Y" } },
                { "op": "create_task", "body": { "id": z, "title": "Z" } },
                { "op": "update_task", "task_id": y, "body": { "title": "Y2" } },
                { "op": "update_task", "task_id": x, "body": { "title": "X2" } },
                { "op": "update_task", "task_id": y, "if_match": "\"4\"", "body": { "title": "Y3" } },
            ] }),
        )
        .await;
        let versions: Vec<&Value> = answer["results"]
            .as_array()
            .unwrap()
            .iter()
            .map(|result| &result["task"]["version"])
            .collect();
        assert_eq!(versions, [1, 2, 3, 4, 5, 6]);
        assert_eq!(answer["results"][5]["task"]["title"], "Y3");
        assert_eq!(answer["version"], 6);
        let feed = app.get_ok(&format!("/users/{user}/changes")).await;
        let changes = feed["changes"].as_array().unwrap();
        let listed: Vec<(Uuid, i64)> = changes
            .iter()
            .map(|change| (id_of(&change["task"]), change["version"].as_i64().unwrap()))
            .collect();
        assert_eq!(listed, [(z, 3), (x, 5), (y, 6)]);
        // Each task as the feed lists it is the task as stored.
        for change in changes {
            let task = &change["task"];
            let stored = app.get_ok(&format!("/users/{user}/tasks/{}", id_of(task))).await;
            assert_eq!(*task, stored);
        }
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
