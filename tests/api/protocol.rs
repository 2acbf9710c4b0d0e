//! HTTP protocol details: repeated and unknown query parameters, the request-target limit, capped error
//! listings, private SQLite files.

use reqwest::{Method, StatusCode};
use serde_json::{json, Map, Value};

use crate::helpers::{
    each_database, expect_error, expect_invalid, http_client, id_of, start_server_process,
};

#[tokio::test]
async fn a_query_parameter_given_twice_is_refused_naming_it() {
    each_database(|app| async move {
        let user_id = app.create_user().await;
        let tasks = format!("/users/{user_id}/tasks");
        let error = expect_invalid(
            app.get(&format!("{tasks}?limit=5&limit=abc")).await,
            &[("limit", "query")],
        )
        .await;
        assert!(error["details"]["fields"][0]["message"]
            .as_str()
            .unwrap()
            .contains("more than once"));
        expect_invalid(
            app.get(&format!("{tasks}?limit=5&q=a&limit=5&q=b&completed=true"))
                .await,
            &[("limit", "query"), ("q", "query")],
        )
        .await;
        // Percent-encoded names are the same names.
        expect_invalid(
            app.get(&format!("{tasks}?sort=title&%73ort=title")).await,
            &[("sort", "query")],
        )
        .await;
        app.get_ok(&format!("{tasks}?limit=5&q=a&sort=title")).await;
    })
    .await;
}

#[tokio::test]
async fn a_query_parameter_the_operation_lacks_is_refused_naming_it_on_every_operation() {
    each_database(|app| async move {
        let user_id = app.create_user().await;
        let task_id = id_of(&app.create_titled(user_id, "kept").await);
        let tasks = format!("/users/{user_id}/tasks");
        // A typo of `completed` never lists every task.
        let error = expect_invalid(
            app.get(&format!("{tasks}?complete=true")).await,
            &[("complete", "query")],
        )
        .await;
        let message = error["details"]["fields"][0]["message"].as_str().unwrap();
        assert!(message.contains("completed"), "{message}");
        // Unknown and repeated parameters are named together, each once.
        expect_invalid(
            app.get(&format!("{tasks}?complete=1&limit=1&limit=2&complete=2&x"))
                .await,
            &[("complete", "query"), ("x", "query"), ("limit", "query")],
        )
        .await;
        let task = format!("{tasks}/{task_id}");
        let body = json!({ "title": "changed" });
        let operations = [
            (Method::POST, "/users".to_owned(), None),
            (Method::GET, "/me".to_owned(), None),
            (Method::GET, format!("/users/{user_id}"), None),
            (Method::POST, tasks.clone(), Some(body.clone())),
            (Method::GET, task.clone(), None),
            (Method::HEAD, task.clone(), None),
            (Method::PUT, task.clone(), Some(body.clone())),
            (Method::PATCH, task.clone(), Some(body)),
            (Method::GET, format!("/users/{user_id}/changes"), None),
            (Method::GET, "/health".to_owned(), None),
            (Method::GET, "/ready".to_owned(), None),
            (Method::DELETE, task.clone(), None),
            (Method::DELETE, format!("/users/{user_id}"), None),
        ];
        for (method, path, body) in operations {
            let mut request = app
                .client
                .request(method.clone(), app.url(&format!("{path}?verbose=1")));
            if let Some(body) = body {
                request = request.json(&body);
            }
            let response = request.send().await.unwrap();
            if method == Method::HEAD {
                assert_eq!(response.status(), StatusCode::BAD_REQUEST, "HEAD {path}");
                continue;
            }
            expect_invalid(response, &[("verbose", "query")]).await;
        }
        // Nothing above was done.
        let kept = app.get_ok(&task).await;
        assert_eq!(kept["title"], "kept");
        // The routes beside the operations (documents, Swagger UI) are not checked.
        let response = app.get("/openapi.json?v=1").await;
        assert_eq!(response.status(), StatusCode::OK);
    })
    .await;
}

#[tokio::test]
async fn a_request_target_over_8_kib_is_refused_with_414() {
    each_database(|app| async move {
        let user_id = app.create_user().await;
        let tasks = format!("/users/{user_id}/tasks");
        // At the limit the target is read (and its unknown parameter refused); one byte more
        // and only its length is answered.
        let at_limit = format!("{tasks}?unread={}", "a".repeat(8 * 1024 - tasks.len() - 8));
        assert_eq!(at_limit.len(), 8 * 1024);
        expect_invalid(app.get(&at_limit).await, &[("unread", "query")]).await;
        let over = format!("{at_limit}a");
        expect_error(
            app.get(&over).await,
            StatusCode::URI_TOO_LONG,
            "URI_TOO_LONG",
        )
        .await;
        let long_path = format!("/users/{}", "x".repeat(9000));
        expect_error(
            app.delete(&long_path).await,
            StatusCode::URI_TOO_LONG,
            "URI_TOO_LONG",
        )
        .await;
    })
    .await;
}

#[tokio::test]
async fn a_body_with_thousands_of_unknown_fields_lists_the_first_50_and_counts_the_rest() {
    each_database(|app| async move {
        let user_id = app.create_user().await;
        let mut body = Map::new();
        body.insert("title".to_owned(), json!("kept"));
        for n in 0..90_000 {
            body.insert(format!("k{n}"), json!(1));
        }
        let body = Value::Object(body);
        assert!(serde_json::to_vec(&body).unwrap().len() < 1024 * 1024);
        let response = app
            .post_json(&format!("/users/{user_id}/tasks"), &body)
            .await;
        let text_len = response.content_length();
        let error = expect_error(response, StatusCode::BAD_REQUEST, "VALIDATION_ERROR").await;
        let fields = error["details"]["fields"].as_array().unwrap();
        assert_eq!(fields.len(), 50);
        assert_eq!(fields[0]["field"], "k0");
        assert_eq!(error["details"]["fields_not_listed"], 89_950);
        let message = error["message"].as_str().unwrap();
        assert!(message.ends_with("k49 and 89950 more"), "{message}");
        assert!(text_len.unwrap() < 8 * 1024, "{text_len:?} bytes");
        let page = app.get_ok(&format!("/users/{user_id}/tasks")).await;
        assert_eq!(page["items"], json!([]));
    })
    .await;
}

#[tokio::test]
async fn names_and_values_are_quoted_back_cut_to_64_characters() {
    each_database(|app| async move {
        let user_id = app.create_user().await;
        let tasks = format!("/users/{user_id}/tasks");
        let long_name = "n".repeat(1_000_000);
        let body = json!({ "title": "kept", long_name.clone(): 1 });
        assert!(serde_json::to_vec(&body).unwrap().len() < 1024 * 1024);
        let response = app.post_json(&tasks, &body).await;
        let length = response.content_length().unwrap();
        let error = expect_error(response, StatusCode::BAD_REQUEST, "VALIDATION_ERROR").await;
        let cut = format!("{}…", &long_name[..64]);
        assert_eq!(error["details"]["fields"][0]["field"], cut.as_str());
        assert!(error["message"].as_str().unwrap().ends_with(&cut));
        assert!(length < 1024, "{length} bytes");

        let long_value = "9".repeat(5000);
        let error = expect_error(
            app.get(&format!("{tasks}?limit={long_value}")).await,
            StatusCode::BAD_REQUEST,
            "VALIDATION_ERROR",
        )
        .await;
        let message = error["details"]["fields"][0]["message"].as_str().unwrap();
        assert!(
            message.ends_with(&format!("got \"{}…\"", &long_value[..64])),
            "{message}"
        );
        let response = app
            .client
            .post(app.url(&tasks))
            .header("content-type", format!("text/{}", "x".repeat(5000)))
            .body("{}")
            .send()
            .await
            .unwrap();
        let error = expect_error(
            response,
            StatusCode::UNSUPPORTED_MEDIA_TYPE,
            "UNSUPPORTED_MEDIA_TYPE",
        )
        .await;
        assert!(error["message"].as_str().unwrap().len() < 200, "{error}");
    })
    .await;
}

#[cfg(unix)]
#[tokio::test]
async fn the_sqlite_files_are_readable_by_their_owner_only() {
    use std::os::unix::fs::PermissionsExt;
    let dir = std::env::temp_dir().join(format!("taskapi-perm-{}", uuid::Uuid::new_v4()));
    std::fs::create_dir(&dir).unwrap();
    let file = dir.join("tasks.db");
    let url = format!("sqlite://{}", file.display());
    let (_child, address, _log) = start_server_process(&[("DATABASE_URL", &url)], |_| {}).await;
    let client = http_client();
    let user = crate::helpers::create_user_at(&client, &address).await;
    let created = client
        .post(format!(
            "{address}/users/{}/tasks",
            user["id"].as_str().unwrap()
        ))
        .json(&json!({ "title": "private" }))
        .send()
        .await
        .unwrap();
    assert_eq!(created.status(), StatusCode::CREATED);
    for suffix in ["", "-wal", "-shm"] {
        let path = format!("{}{suffix}", file.display());
        let mode = std::fs::metadata(&path).unwrap().permissions().mode() & 0o777;
        assert_eq!(mode, 0o600, "{path}: {mode:o}");
    }
    drop(_child);
    std::fs::remove_dir_all(&dir).ok();
}
