//! Deployment: CORS for a front end's origins and headers, TLS to PostgreSQL, migrations on their own URL,
//! two server processes started at once, and a bad setting stopping the binary.

use std::time::Duration;

use reqwest::StatusCode;
use serde_json::json;

use crate::helpers::{
    each_database_configured, expect_error, expect_json, http_client, postgres_admin_url,
    postgres_database, server_command, start_server_process, Backend, TestApp, TestDatabase,
};

#[tokio::test]
async fn cors_answers_configured_origins_and_others_as_any_request() {
    for backend in Backend::all() {
        eprintln!("--- on {backend:?}");
        let database = TestDatabase::create(&backend).await;
        let mut config = database.config();
        config.http.cors_origins = vec!["http://localhost:5173".to_owned()];
        let app = TestApp::spawn(config).await;
        let preflight = app
            .client
            .request(reqwest::Method::OPTIONS, app.url("/users/x/tasks/y"))
            .header("origin", "http://localhost:5173")
            .header("access-control-request-method", "PATCH")
            .header(
                "access-control-request-headers",
                "content-type, authorization",
            )
            .send()
            .await
            .unwrap();
        assert!(preflight.status().is_success(), "{}", preflight.status());
        let headers = preflight.headers();
        assert_eq!(
            headers["access-control-allow-origin"],
            "http://localhost:5173"
        );
        assert!(headers["access-control-allow-methods"]
            .to_str()
            .unwrap()
            .contains("PATCH"));
        let allowed = headers["access-control-allow-headers"]
            .to_str()
            .unwrap()
            .to_lowercase();
        assert!(
            allowed.contains("content-type") && allowed.contains("authorization"),
            "{allowed}"
        );
        assert_eq!(headers["access-control-max-age"], "86400", "cacheable");
        let simple = app
            .client
            .post(app.url("/users"))
            .header("origin", "http://localhost:5173")
            .send()
            .await
            .unwrap();
        assert_eq!(
            simple.headers()["access-control-allow-origin"],
            "http://localhost:5173"
        );
        let exposed = simple.headers()["access-control-expose-headers"]
            .to_str()
            .unwrap()
            .to_lowercase();
        for header in ["location", "www-authenticate", "retry-after"] {
            assert!(exposed.contains(header), "{header} not in {exposed}");
        }
        let foreign = app
            .client
            .post(app.url("/users"))
            .header("origin", "http://evil.example")
            .send()
            .await
            .unwrap();
        assert!(foreign
            .headers()
            .get("access-control-allow-origin")
            .is_none());
        // Other origins are answered as any request is, without CORS headers (the browser
        // enforces), and every answer varies by Origin.
        let varies = |response: &reqwest::Response| {
            response
                .headers()
                .get_all("vary")
                .iter()
                .any(|v| v.to_str().unwrap().eq_ignore_ascii_case("origin"))
        };
        for origin in [
            Some("http://localhost:5173"),
            Some("http://evil.example"),
            None,
        ] {
            let mut request = app.client.post(app.url("/users"));
            if let Some(origin) = origin {
                request = request.header("origin", origin);
            }
            let response = request.send().await.unwrap();
            assert_eq!(response.status(), StatusCode::CREATED, "{origin:?}");
            assert!(varies(&response), "Vary: Origin for {origin:?}");
            assert_eq!(
                response
                    .headers()
                    .get("access-control-allow-origin")
                    .is_some(),
                origin == Some("http://localhost:5173"),
                "{origin:?}"
            );
        }
        // A preflight from another origin is answered as OPTIONS is on that route: the
        // envelope, no CORS headers.
        for (origin, method) in [("http://evil.example", "PATCH")] {
            let preflight = app
                .client
                .request(reqwest::Method::OPTIONS, app.url("/users"))
                .header("origin", origin)
                .header("access-control-request-method", method)
                .send()
                .await
                .unwrap();
            assert!(preflight
                .headers()
                .get("access-control-allow-origin")
                .is_none());
            assert!(varies(&preflight));
            assert_eq!(preflight.headers()["allow"], "POST");
            expect_error(
                preflight,
                StatusCode::METHOD_NOT_ALLOWED,
                "METHOD_NOT_ALLOWED",
            )
            .await;
        }

        let database = TestDatabase::create(&backend).await;
        let plain = TestApp::spawn(database.config()).await;
        let response = plain
            .client
            .get(plain.url("/health"))
            .header("origin", "http://localhost:5173")
            .send()
            .await
            .unwrap();
        assert!(
            response
                .headers()
                .keys()
                .all(|name| !name.as_str().starts_with("access-control-")),
            "no CORS without CORS_ORIGINS"
        );
    }
}

#[tokio::test]
async fn sslmode_verify_full_verifies_the_server_certificate() {
    let Some(database) = postgres_database().await else {
        return;
    };
    // The local server's certificate is self-signed for `localhost`: trusted only when named.
    let by_name = database.url.replacen("127.0.0.1", "localhost", 1);
    let separator = if by_name.contains('?') { '&' } else { '?' };
    let trusted = format!(
        "{by_name}{separator}sslmode=verify-full&sslrootcert=/etc/ssl/certs/ssl-cert-snakeoil.pem"
    );
    let db = task_api::db::DatabaseTarget::parse(&trusted)
        .unwrap()
        .connect(1, Duration::from_secs(5));
    task_api::store::ping(&task_api::db::Database::new(db))
        .await
        .expect("verify-full with the server's CA connects");

    let untrusted = format!("{by_name}{separator}sslmode=verify-full");
    let db = task_api::db::DatabaseTarget::parse(&untrusted)
        .unwrap()
        .connect(1, Duration::from_secs(2));
    let refused = task_api::store::ping(&task_api::db::Database::new(db))
        .await
        .expect_err("webpki roots do not trust it");
    let reason = format!("{refused:?}").to_lowercase();
    assert!(
        reason.contains("certificate") || reason.contains("issuer"),
        "{reason}"
    );
}

#[tokio::test]
async fn migrations_run_on_migration_database_url_and_channel_binding_is_warned_about() {
    let Some(admin_url) = postgres_admin_url() else {
        eprintln!("PostgreSQL only: set TEST_DATABASE_URL");
        return;
    };
    let serving = TestDatabase::create(&Backend::Postgres(admin_url.clone())).await;
    let direct = TestDatabase::create(&Backend::Postgres(admin_url)).await;
    // The served URL as Neon's pooler endpoint would be given; migrations go to the direct one.
    let separator = if serving.url.contains('?') { '&' } else { '?' };
    let pooled = format!(
        "{}{separator}sslmode=require&channel_binding=require",
        serving.url
    );
    let env = [
        ("DATABASE_URL", pooled.as_str()),
        ("MIGRATION_DATABASE_URL", direct.url.as_str()),
    ];
    let output = server_command(&env)
        .args(["migrate", "status"])
        .output()
        .await
        .unwrap();
    let log = String::from_utf8_lossy(&output.stderr);
    assert!(output.status.success(), "{log}");
    assert!(
        log.contains("DATABASE_URL asks for channel_binding=require"),
        "{log}"
    );

    let _server = start_server_process(&env, |_| {}).await;
    use sea_orm::ConnectionTrait;
    let tables = |url: String| async move {
        let db = task_api::db::DatabaseTarget::parse(&url)
            .unwrap()
            .connect(1, Duration::from_secs(5));
        let row = db
            .query_one(sea_orm::Statement::from_string(
                db.get_database_backend(),
                "SELECT count(*) AS n FROM information_schema.tables WHERE table_name = 'seaql_migrations'",
            ))
            .await
            .unwrap()
            .unwrap();
        row.try_get::<i64>("", "n").unwrap()
    };
    assert_eq!(
        tables(direct.url.clone()).await,
        1,
        "migrated through MIGRATION_DATABASE_URL"
    );
    assert_eq!(
        tables(serving.url.clone()).await,
        0,
        "not through DATABASE_URL"
    );
}

#[tokio::test]
async fn two_server_processes_started_at_once_both_serve_every_write() {
    let Some(database) = postgres_database().await else {
        return;
    };
    let env = [
        ("DATABASE_URL", database.url.as_str()),
        (
            "CURSOR_SECRET",
            "a secret shared by every instance, 32+ bytes",
        ),
    ];
    // The processes and their logs stay alive until the end of the test.
    let ((_first, first, _first_log), (_second, second, _second_log)) = tokio::join!(
        start_server_process(&env, |_| {}),
        start_server_process(&env, |_| {})
    );
    let client = http_client();
    let user = client.post(format!("{first}/users")).send().await.unwrap();
    let user_id = expect_json(user, StatusCode::CREATED).await["id"]
        .as_str()
        .unwrap()
        .to_owned();
    let writes: Vec<_> = (0..100)
        .map(|i| {
            let address = if i % 2 == 0 { &first } else { &second };
            let request = client
                .post(format!("{address}/users/{user_id}/tasks"))
                .json(&json!({ "title": format!("write {i}") }));
            tokio::spawn(async move { request.send().await.unwrap().status() })
        })
        .collect();
    for write in writes {
        assert_eq!(write.await.unwrap(), StatusCode::CREATED);
    }
    // Read back through the other instance, following its cursor across both.
    let page = client
        .get(format!("{second}/users/{user_id}/tasks?limit=60"))
        .send()
        .await
        .unwrap();
    let page = expect_json(page, StatusCode::OK).await;
    let cursor = page["next_cursor"].as_str().unwrap();
    let rest = client
        .get(format!(
            "{first}/users/{user_id}/tasks?limit=60&cursor={cursor}"
        ))
        .send()
        .await
        .unwrap();
    let rest = expect_json(rest, StatusCode::OK).await;
    let count = page["items"].as_array().unwrap().len() + rest["items"].as_array().unwrap().len();
    assert_eq!(count, 100, "every write through either instance is there");
}

#[tokio::test]
async fn cors_allows_the_designed_headers_and_says_which_one_it_refuses() {
    let front_end = "http://localhost:5173";
    each_database_configured(
        |config| {
            config.http.cors_origins = vec![front_end.to_owned()];
            config.http.cors_allow_headers = vec!["traceparent".to_owned()];
        },
        |app| async move {
            let preflight = |headers: &'static str| {
                app.client
                    .request(reqwest::Method::OPTIONS, app.url("/users/x/tasks"))
                    .header("origin", front_end)
                    .header("access-control-request-method", "POST")
                    .header("access-control-request-headers", headers)
                    .send()
            };
            let allowed_headers = |response: &reqwest::Response| {
                response.headers()["access-control-allow-headers"]
                    .to_str()
                    .unwrap()
                    .to_lowercase()
            };
            let designed = "authorization, content-type, if-match, if-none-match, \
                            idempotency-key, last-event-id, traceparent";
            let answer = preflight(designed).await.unwrap();
            assert!(answer.status().is_success(), "{}", answer.status());
            let allowed = allowed_headers(&answer);
            for header in designed.split(", ") {
                assert!(allowed.contains(header), "{header} not in {allowed}");
            }
            // A header or method not allowed: a 2xx that lists what is, so that the browser's
            // console names the refused one (a 405 would only say the preflight failed).
            for headers in ["content-type, x-debug", "x-debug"] {
                let refused = preflight(headers).await.unwrap();
                assert_eq!(refused.status(), StatusCode::NO_CONTENT);
                assert_eq!(refused.headers()["access-control-allow-origin"], front_end);
                let allowed = allowed_headers(&refused);
                assert!(!allowed.contains("x-debug"), "{allowed}");
                assert!(allowed.contains("traceparent"), "{allowed}");
            }
            let refused = app
                .client
                .request(reqwest::Method::OPTIONS, app.url("/users"))
                .header("origin", front_end)
                .header("access-control-request-method", "TRACE")
                .send()
                .await
                .unwrap();
            assert_eq!(refused.status(), StatusCode::NO_CONTENT);
            let methods = refused.headers()["access-control-allow-methods"]
                .to_str()
                .unwrap()
                .to_owned();
            assert_eq!(methods, "GET, POST, PUT, PATCH, DELETE");
            let created = app
                .client
                .post(app.url("/users"))
                .header("origin", front_end)
                .send()
                .await
                .unwrap();
            let exposed = created.headers()["access-control-expose-headers"]
                .to_str()
                .unwrap()
                .to_lowercase();
            for header in [
                "etag",
                "location",
                "idempotent-replayed",
                "retry-after",
                "www-authenticate",
            ] {
                assert!(exposed.contains(header), "{header} not in {exposed}");
            }
        },
    )
    .await;
}

#[tokio::test]
async fn a_bad_setting_stops_the_binary_with_one_line_naming_it() {
    let cases = [
        (
            ("CORS_ORIGINS", "http://localhost:5173/"),
            "task-api: CORS_ORIGINS is invalid: \"http://localhost:5173/\": no trailing slash (a \
             browser sends http://localhost:5173)",
        ),
        (
            ("AUTH_JWKS_URL", ""),
            "task-api: AUTH_JWKS_URL is set but blank: give it a value or unset it (a blank value \
             is never read as unset)",
        ),
        (
            ("AUTH_AUDIENCE", "task-api"),
            "task-api: AUTH_AUDIENCE is set but authentication is off (no AUTH_ISSUER, \
             AUTH_JWKS_URL or AUTH_JWT_SECRET): set the provider's, or unset AUTH_AUDIENCE",
        ),
    ];
    for ((name, value), line) in cases {
        let output = server_command(&[("DATABASE_URL", "sqlite::memory:"), (name, value)])
            .output()
            .await
            .unwrap();
        assert!(!output.status.success(), "{name}={value:?} starts");
        let log = String::from_utf8_lossy(&output.stderr);
        assert_eq!(log.trim_end(), line, "{name}={value:?}");
    }
}
