//! Authentication: bearer tokens from a local identity provider (RSA, P-256 and Ed25519 keys in a
//! JWKS, or an HS256 secret), every way a token can be bad, key rotation and a JWKS that goes
//! away, and the caller held to their own path before anything else is read.

use std::time::Duration;

use jsonwebtoken::{Algorithm, Header};
use reqwest::{Method, Response, StatusCode};
use serde_json::{json, Value};
use task_api::auth::{Authenticator, KeySetupError};
use task_api::config::{AuthConfig, Config};
use task_api::db::DatabaseTarget;
use uuid::Uuid;

use crate::helpers::{
    each_database_configured, expect_error, expect_invalid, expect_json, killed_server_log,
    postgres_database, server_command, start_server_process, wait_until, Backend, PgProxy, TestApp,
    TestDatabase,
};
use crate::identity::{
    claims_for, jwks_auth_config, shared_secret_auth_config, unix_now, IdentityProvider,
    SigningKey, ISSUER, RSA_PUBLIC_PEM,
};

const NO_TOKEN_CHALLENGE: &str = r#"Bearer realm="task-api""#;

/// Sends a request with an optional bearer token and JSON body.
async fn call(
    app: &TestApp,
    method: Method,
    path: &str,
    token: Option<&str>,
    body: Option<Value>,
) -> Response {
    let mut request = app.client.request(method, app.url(path));
    if let Some(token) = token {
        request = request.bearer_auth(token);
    }
    if let Some(body) = body {
        request = request.json(&body);
    }
    request.send().await.unwrap()
}

fn challenge(response: &Response) -> String {
    response
        .headers()
        .get("www-authenticate")
        .map(|value| value.to_str().unwrap().to_owned())
        .unwrap_or_default()
}

/// Asserts a 401 for a token that failed a check, whose description contains `reason`, and that
/// the answer never repeats the token.
async fn expect_invalid_token(response: Response, token: &str, reason: &str) {
    let challenge = challenge(&response);
    assert!(
        challenge
            .starts_with(r#"Bearer realm="task-api", error="invalid_token", error_description=""#),
        "{challenge}"
    );
    assert!(challenge.contains(reason), "{reason:?} not in {challenge}");
    let error = expect_error(response, StatusCode::UNAUTHORIZED, "UNAUTHORIZED").await;
    let message = error["message"].as_str().unwrap();
    assert!(message.contains(reason), "{reason:?} not in {message}");
    assert!(!message.contains(token) && !challenge.contains(token));
}

/// A server on SQLite with these authentication settings.
async fn sqlite_app(auth: AuthConfig) -> (TestDatabase, TestApp) {
    let database = TestDatabase::create(&Backend::Sqlite).await;
    let mut config = database.config();
    config.auth = auth;
    let app = TestApp::spawn(config).await;
    (database, app)
}

/// Asserts that `token` gets 503 (no key to check it with; sent again in a second) and that the
/// server is not ready.
async fn expect_no_usable_key(app: &TestApp, token: &str) {
    let response = call(app, Method::GET, "/me", Some(token), None).await;
    assert_eq!(response.headers()["retry-after"], "1");
    expect_error(
        response,
        StatusCode::SERVICE_UNAVAILABLE,
        "SERVICE_UNAVAILABLE",
    )
    .await;
    let ready = app.get("/ready").await;
    expect_error(
        ready,
        StatusCode::SERVICE_UNAVAILABLE,
        "SERVICE_UNAVAILABLE",
    )
    .await;
}

/// Registers the caller `token` names and returns their id.
async fn register(app: &TestApp, token: &str) -> String {
    let response = call(app, Method::POST, "/users", Some(token), None).await;
    expect_json(response, StatusCode::CREATED).await["id"]
        .as_str()
        .unwrap()
        .to_owned()
}

#[tokio::test]
async fn a_new_user_signs_in_registers_and_reaches_only_their_own_tasks() {
    let key = SigningKey::ed25519();
    let provider = IdentityProvider::start(&[&key]).await;
    let key = &key;
    each_database_configured(
        |config: &mut Config| config.auth = provider.auth_config(),
        move |app| async move {
            let me = Uuid::new_v4().to_string();
            let token = key.token_for(&me);

            let response = app.get("/me").await;
            assert_eq!(challenge(&response), NO_TOKEN_CHALLENGE);
            expect_error(response, StatusCode::UNAUTHORIZED, "UNAUTHORIZED").await;
            let response = call(&app, Method::GET, "/me", Some(&token), None).await;
            expect_error(response, StatusCode::NOT_FOUND, "USER_NOT_FOUND").await;

            // One key: a token that names none is checked with it.
            let without_kid = key.sign_with(&Header::new(key.algorithm), &claims_for(&me));
            let response = call(&app, Method::GET, "/me", Some(&without_kid), None).await;
            expect_error(response, StatusCode::NOT_FOUND, "USER_NOT_FOUND").await;
            assert_eq!(register(&app, &token).await, me, "the caller is registered");
            let response = call(&app, Method::GET, "/me", Some(&token), None).await;
            assert_eq!(
                expect_json(response, StatusCode::OK).await["id"],
                me.as_str()
            );
            let again = call(&app, Method::POST, "/users", Some(&token), None).await;
            expect_error(again, StatusCode::CONFLICT, "USER_ALREADY_EXISTS").await;

            // The path's id percent-encoded is still the caller's own.
            let encoded = format!("/users/{}/tasks", me.replace('-', "%2D"));
            let response = call(&app, Method::GET, &encoded, Some(&token), None).await;
            expect_json(response, StatusCode::OK).await;
            let tasks = format!("/users/{me}/tasks");
            let created = call(
                &app,
                Method::POST,
                &tasks,
                Some(&token),
                Some(json!({"title": "Buy milk"})),
            )
            .await;
            let task = expect_json(created, StatusCode::CREATED).await;
            let mine = format!("{tasks}/{}", task["id"].as_str().unwrap());
            let found = call(&app, Method::GET, &mine, Some(&token), None).await;
            assert_eq!(
                expect_json(found, StatusCode::OK).await["title"],
                "Buy milk"
            );
            let without_token = app.get(&mine).await;
            expect_error(without_token, StatusCode::UNAUTHORIZED, "UNAUTHORIZED").await;

            // Another user, registered or not, or no user at all: the same 403.
            let other = Uuid::new_v4().to_string();
            let other_token = key.token_for(&other);
            register(&app, &other_token).await;
            let mut messages = vec![];
            for path in [
                format!("/users/{other}"),
                format!("/users/{other}/tasks"),
                format!("/users/{}/tasks", Uuid::new_v4()),
                format!("/users/{other}/tasks/{}", task["id"].as_str().unwrap()),
                "/users/not-a-uuid/tasks".to_owned(),
            ] {
                let response = call(&app, Method::GET, &path, Some(&token), None).await;
                let error = expect_error(response, StatusCode::FORBIDDEN, "FORBIDDEN").await;
                messages.push(error["message"].as_str().unwrap().to_owned());
            }
            messages.dedup();
            assert_eq!(
                messages.len(),
                1,
                "one answer whoever the path names: {messages:?}"
            );
            // Registering someone else is refused; the other user does not see my task.
            let response = call(
                &app,
                Method::POST,
                "/users",
                Some(&token),
                Some(json!({"id": other})),
            )
            .await;
            expect_error(response, StatusCode::FORBIDDEN, "FORBIDDEN").await;
            let response = call(
                &app,
                Method::POST,
                "/users",
                Some(&token),
                Some(json!({"id": me})),
            )
            .await;
            expect_error(response, StatusCode::CONFLICT, "USER_ALREADY_EXISTS").await;
            let theirs = format!("/users/{other}/tasks/{}", task["id"].as_str().unwrap());
            let response = call(&app, Method::GET, &theirs, Some(&other_token), None).await;
            expect_error(response, StatusCode::NOT_FOUND, "TASK_NOT_FOUND").await;

            let metrics = app.get("/metrics").await.text().await.unwrap();
            for reason in ["missing_token", "forbidden"] {
                assert!(
                    metrics.contains(&format!(r#"auth_failures_total{{reason="{reason}"}}"#)),
                    "{reason} is counted:\n{metrics}"
                );
            }
            let health = app.get("/health").await;
            assert_eq!(health.status(), StatusCode::OK, "/health stays open");
            assert_eq!(app.get("/ready").await.status(), StatusCode::OK);
            assert_eq!(app.get("/openapi.json").await.status(), StatusCode::OK);
        },
    )
    .await;
}

#[tokio::test]
async fn every_kind_of_bad_token_is_401_naming_its_reason() {
    let (rsa, p256, ed25519) = (SigningKey::rsa(), SigningKey::p256(), SigningKey::ed25519());
    let (rsa_pss, p384) = (SigningKey::rsa_pss(), SigningKey::p384());
    // An Ed25519 key published under the algorithm's newer name.
    let ed25519_named = SigningKey::ed25519_rotated().with_kid("ed-named");
    let mut ed25519_named_jwk = ed25519_named.jwk();
    ed25519_named_jwk["alg"] = json!("Ed25519");
    let provider = IdentityProvider::start(&[]).await;
    let oct_secret = "a symmetric key must never come from a JWKS";
    let mut entries: Vec<Value> = [&rsa, &rsa_pss, &p256, &p384, &ed25519]
        .iter()
        .map(|key| key.jwk())
        .collect();
    entries.push(ed25519_named_jwk);
    entries.push(json!({"kty": "oct", "kid": "oct-1", "alg": "HS256",
        "k": base64_url(oct_secret.as_bytes())}));
    provider.publish_entries(entries);
    let (_database, app) = sqlite_app(provider.auth_config()).await;
    let me = Uuid::new_v4().to_string();

    // Each algorithm's key verifies (the caller is authenticated, and not registered yet), and
    // `alg: Ed25519` is EdDSA.
    let ed25519_header = |key: &SigningKey| json!({"alg": "Ed25519", "typ": "JWT", "kid": key.kid});
    let valid_tokens = [
        rsa.token_for(&me),
        rsa_pss.token_for(&me),
        p256.token_for(&me),
        p384.token_for(&me),
        ed25519.token_for(&me),
        ed25519_named.token_for(&me),
        ed25519.sign_with_raw_header(&ed25519_header(&ed25519), &claims_for(&me)),
        ed25519_named.sign_with_raw_header(&ed25519_header(&ed25519_named), &claims_for(&me)),
    ];
    for token in &valid_tokens {
        let response = call(&app, Method::GET, "/me", Some(token), None).await;
        expect_error(response, StatusCode::NOT_FOUND, "USER_NOT_FOUND").await;
    }

    let now = unix_now();
    let with = |changes: Value| {
        let mut claims = claims_for(&me);
        for (name, value) in changes.as_object().unwrap() {
            match value {
                Value::Null => claims.as_object_mut().unwrap().remove(name),
                value => claims
                    .as_object_mut()
                    .unwrap()
                    .insert(name.clone(), value.clone()),
            };
        }
        claims
    };
    let valid = ed25519.token_for(&me);
    let (head, rest) = valid.split_once('.').unwrap();
    let (_, signature) = rest.split_once('.').unwrap();
    let tampered = format!(
        "{head}.{}.{signature}",
        base64_url(
            with(json!({"sub": Uuid::new_v4().to_string()}))
                .to_string()
                .as_bytes()
        )
    );
    let unsigned = format!(
        "{}.{}.",
        base64_url(br#"{"alg":"none","typ":"JWT"}"#),
        base64_url(claims_for(&me).to_string().as_bytes())
    );
    let mut confused_header = Header::new(Algorithm::HS256);
    confused_header.kid = Some(rsa.kid.clone());
    let confused = SigningKey::secret(RSA_PUBLIC_PEM).sign_with(&confused_header, &claims_for(&me));
    let mut oct_header = Header::new(Algorithm::HS256);
    oct_header.kid = Some("oct-1".to_owned());
    let from_oct_key = SigningKey::secret(oct_secret).sign_with(&oct_header, &claims_for(&me));
    // Within the leeway (60 s): accepted.
    for claims in [json!({"exp": now - 30}), json!({"nbf": now + 30})] {
        let response = call(
            &app,
            Method::GET,
            "/me",
            Some(&ed25519.sign(&with(claims))),
            None,
        )
        .await;
        expect_error(response, StatusCode::NOT_FOUND, "USER_NOT_FOUND").await;
    }
    let no_kid = ed25519.sign_with(&Header::new(Algorithm::EdDSA), &claims_for(&me));
    let cases = [
        (ed25519.sign(&with(json!({"exp": now - 120}))), "expired"),
        (
            ed25519.sign(&with(json!({"aud": null}))),
            "the token lacks the aud claim",
        ),
        (
            ed25519.sign(&with(json!({"iss": null}))),
            "the token lacks the iss claim",
        ),
        (
            ed25519.sign(&with(json!({"iss": [ISSUER, "https://idp.evil.test"]}))),
            "the token's issuer (iss) is ['https://idp.task-api.test','https://idp.evil.test'], \
             and this server expects https://idp.task-api.test",
        ),
        (no_kid, "kid"),
        (
            ed25519.sign(&with(json!({"nbf": now + 600}))),
            "not valid yet",
        ),
        (
            ed25519.sign(&with(json!({"iss": "https://idp.evil.test"}))),
            "the token's issuer (iss) is https://idp.evil.test, and this server expects \
             https://idp.task-api.test",
        ),
        (
            ed25519.sign(&with(json!({"aud": "another-api"}))),
            "the token's audience (aud) is another-api, which does not include task-api",
        ),
        (
            ed25519.sign(&with(json!({"aud": ["web", "mobile"]}))),
            "the token's audience (aud) is ['web','mobile'], which does not include task-api",
        ),
        (
            ed25519.sign(&with(json!({"exp": null}))),
            "the token lacks the exp claim",
        ),
        (
            ed25519.sign(&with(json!({"exp": "tomorrow"}))),
            "exp claim is not a number",
        ),
        (
            ed25519.sign(&with(json!({"sub": null}))),
            "the token lacks the sub claim",
        ),
        (ed25519.sign(&with(json!({"sub": 42}))), "user claim"),
        (
            SigningKey::ed25519_rotated()
                .with_kid("ed-1")
                .token_for(&me),
            "signature",
        ),
        (tampered, "signature"),
        (unsigned, "the token's algorithm (alg) none is not accepted"),
        (
            confused,
            "the token's algorithm (alg) HS256 is not accepted for its key (accepted: RS256, \
             PS256, ES256, ES384, EdDSA)",
        ),
        (
            from_oct_key,
            "the token's algorithm (alg) HS256 is not accepted",
        ),
        // Each key verifies its own algorithm only: the RS256 key's kid on a PS256 token, the
        // P-384 key's on an ES256 one (below).
        (
            rsa_pss.clone().with_kid(&rsa.kid).token_for(&me),
            "algorithm (alg) PS256 is not accepted for its key (accepted: RS256 only)",
        ),
        (
            SigningKey::ed25519_rotated()
                .with_kid("nobody")
                .token_for(&me),
            "kid",
        ),
        (p256.clone().with_kid(&rsa.kid).token_for(&me), "algorithm"),
        (
            p256.clone().with_kid(&p384.kid).token_for(&me),
            "algorithm (alg) ES256 is not accepted for its key (accepted: ES384 only)",
        ),
        (
            "not.a.jwt".to_owned(),
            "the token is not a JWT (an opaque access token? ask the provider for a JWT for \
             this audience)",
        ),
        (
            "Xk9qL2vR8sT4wY6z".to_owned(),
            "not a JWT (an opaque access token?",
        ),
        ("x".repeat(16 * 1024 + 1), "longer than"),
    ];
    for (token, reason) in &cases {
        let response = call(&app, Method::GET, "/me", Some(token), None).await;
        expect_invalid_token(response, token, reason).await;
    }
    // No bearer token at all: another scheme, the query string, a cookie.
    let tries = [
        app.client
            .get(app.url("/me"))
            .basic_auth("me", Some("secret")),
        app.client
            .get(app.url(&format!("/me?access_token={valid}"))),
        app.client
            .get(app.url("/me"))
            .header("cookie", format!("access_token={valid}")),
    ];
    for request in tries {
        let response = request.send().await.unwrap();
        assert_eq!(challenge(&response), NO_TOKEN_CHALLENGE);
        expect_error(response, StatusCode::UNAUTHORIZED, "UNAUTHORIZED").await;
    }
    let metrics = app.get("/metrics").await.text().await.unwrap();
    for reason in [
        "expired",
        "not_yet_valid",
        "wrong_issuer",
        "wrong_audience",
        "bad_signature",
        "malformed",
        "disallowed_algorithm",
        "unknown_key",
        "missing_claim",
        "too_long",
        "bad_user_claim",
    ] {
        assert!(
            metrics.contains(&format!(r#"auth_failures_total{{reason="{reason}"}}"#)),
            "{reason} is counted"
        );
    }
}

#[tokio::test]
async fn another_users_path_is_403_before_anything_else_is_read_on_every_operation() {
    let key = SigningKey::ed25519();
    let provider = IdentityProvider::start(&[&key]).await;
    let (_database, app) = sqlite_app(provider.auth_config()).await;
    let me = Uuid::new_v4().to_string();
    let token = key.token_for(&me);
    register(&app, &token).await;
    let other = Uuid::new_v4();
    let task = Uuid::new_v4();
    // Each operation under another user's path, with a query or body that is itself invalid.
    let bad_body = Some(json!({"title": null, "completed": true}));
    let operations = [
        (Method::GET, format!("/users/{other}"), None),
        (Method::DELETE, format!("/users/{other}"), None),
        (
            Method::POST,
            format!("/users/{other}/tasks"),
            bad_body.clone(),
        ),
        (
            Method::GET,
            format!("/users/{other}/tasks?limit=0&limit=1&sort=nope&complete=true"),
            None,
        ),
        (
            Method::GET,
            format!("/users/{other}/tasks/{task}?x=1&x=2"),
            None,
        ),
        (
            Method::PUT,
            format!("/users/{other}/tasks/not-a-uuid"),
            bad_body.clone(),
        ),
        (
            Method::PATCH,
            format!("/users/{other}/tasks/{task}"),
            bad_body.clone(),
        ),
        (Method::DELETE, format!("/users/{other}/tasks/{task}"), None),
    ];
    for (method, path, body) in &operations {
        let response = call(&app, method.clone(), path, Some(&token), body.clone()).await;
        expect_error(response, StatusCode::FORBIDDEN, "FORBIDDEN").await;
        let response = call(&app, method.clone(), path, None, body.clone()).await;
        assert_eq!(challenge(&response), NO_TOKEN_CHALLENGE, "{method} {path}");
        expect_error(response, StatusCode::UNAUTHORIZED, "UNAUTHORIZED").await;
    }
    // On the caller's own path the same query is refused for what it is.
    let response = call(
        &app,
        Method::GET,
        &format!("/users/{me}/tasks?limit=1&limit=2"),
        Some(&token),
        None,
    )
    .await;
    expect_error(response, StatusCode::BAD_REQUEST, "VALIDATION_ERROR").await;
    let response = call(
        &app,
        Method::GET,
        &format!("/users/{me}/tasks?complete=true"),
        Some(&token),
        None,
    )
    .await;
    expect_invalid(response, &[("complete", "query")]).await;
    let response = call(&app, Method::GET, "/me?complete=true", None, None).await;
    expect_error(response, StatusCode::UNAUTHORIZED, "UNAUTHORIZED").await;
    let response = app.get("/health?x=1&x=2").await;
    expect_error(response, StatusCode::BAD_REQUEST, "VALIDATION_ERROR").await;
}

#[tokio::test]
async fn another_users_path_is_refused_without_touching_the_database() {
    let Some(database) = postgres_database().await else {
        return;
    };
    let secret = "an HS256 secret of at least thirty-two bytes";
    let proxy = PgProxy::to("127.0.0.1:5432").await;
    let mut config = database.config();
    config.database = DatabaseTarget::parse(&database.proxied_url(&proxy)).unwrap();
    config.database_acquire_timeout = Duration::from_secs(1);
    config.auth = shared_secret_auth_config(secret);
    let app = TestApp::spawn(config).await;
    let me = Uuid::new_v4().to_string();
    let token = SigningKey::secret(secret).token_for(&me);
    register(&app, &token).await;

    // The database is gone: the caller's own path waits for it and says so; another user's path
    // is refused at once, as it never needed the database.
    proxy.cut();
    let theirs = format!("/users/{}/tasks", Uuid::new_v4());
    let response = call(&app, Method::GET, &theirs, Some(&token), None).await;
    expect_error(response, StatusCode::FORBIDDEN, "FORBIDDEN").await;
    let mine = format!("/users/{me}/tasks");
    let response = call(&app, Method::GET, &mine, Some(&token), None).await;
    expect_error(
        response,
        StatusCode::SERVICE_UNAVAILABLE,
        "SERVICE_UNAVAILABLE",
    )
    .await;
    proxy.restore();
}

#[tokio::test]
async fn a_rotated_key_is_picked_up_and_unknown_keys_refetch_at_most_once_per_interval() {
    let (first, second) = (SigningKey::ed25519(), SigningKey::ed25519_rotated());
    let provider = IdentityProvider::start(&[&first]).await;
    let (_database, app) = sqlite_app(provider.auth_config()).await;
    assert_eq!(provider.fetches(), 1, "the keys are fetched at start");
    let me = Uuid::new_v4().to_string();
    register(&app, &first.token_for(&me)).await;

    provider.publish(&[&first, &second]);
    let response = call(&app, Method::GET, "/me", Some(&second.token_for(&me)), None).await;
    expect_json(response, StatusCode::OK).await;
    assert_eq!(
        provider.fetches(),
        2,
        "an unknown kid fetched the keys once"
    );

    // Another unknown kid within 30 s: no more fetches.
    let unknown = second.clone().with_kid("gone").token_for(&me);
    let response = call(&app, Method::GET, "/me", Some(&unknown), None).await;
    expect_invalid_token(response, &unknown, "kid").await;
    assert_eq!(provider.fetches(), 2, "refetches are rate-limited");
    let response = call(&app, Method::GET, "/me", Some(&first.token_for(&me)), None).await;
    expect_json(response, StatusCode::OK).await;
}

#[tokio::test]
async fn fifty_unknown_kids_at_once_cost_one_refetch() {
    let key = SigningKey::ed25519();
    let provider = IdentityProvider::start(&[&key]).await;
    let (_database, app) = sqlite_app(provider.auth_config()).await;
    assert_eq!(provider.fetches(), 1, "the keys are fetched at start");
    let me = Uuid::new_v4().to_string();
    let mut flood = tokio::task::JoinSet::new();
    for n in 0..50 {
        let token = key.clone().with_kid(&format!("gone-{n}")).token_for(&me);
        let request = app.client.get(app.url("/me")).bearer_auth(&token);
        flood.spawn(async move { (request.send().await.unwrap(), token) });
    }
    while let Some(answer) = flood.join_next().await {
        let (response, token) = answer.unwrap();
        expect_invalid_token(response, &token, "kid").await;
    }
    assert_eq!(
        provider.fetches(),
        2,
        "one refetch for all of them: single flight"
    );
}

#[tokio::test]
async fn a_remembered_token_stops_at_its_exp() {
    let secret = "an HS256 secret of at least thirty-two bytes";
    let mut auth = shared_secret_auth_config(secret);
    if let AuthConfig::On(rules) = &mut auth {
        rules.leeway = Duration::ZERO;
    }
    let (_database, app) = sqlite_app(auth).await;
    let mut claims = claims_for(&Uuid::new_v4().to_string());
    claims["exp"] = json!(unix_now() + 2);
    let token = SigningKey::secret(secret).sign(&claims);
    let response = call(&app, Method::GET, "/me", Some(&token), None).await;
    expect_error(response, StatusCode::NOT_FOUND, "USER_NOT_FOUND").await;
    let (app, token) = (&app, &token);
    wait_until(
        "the remembered token refused once it expired",
        || async move {
            let response = call(app, Method::GET, "/me", Some(token), None).await;
            response.status() == StatusCode::UNAUTHORIZED
        },
    )
    .await;
    let response = call(app, Method::GET, "/me", Some(token), None).await;
    expect_invalid_token(response, token, "expired").await;
}

#[tokio::test]
async fn known_keys_keep_working_while_the_jwks_is_down_and_a_dropped_key_stops() {
    let (first, second) = (SigningKey::ed25519(), SigningKey::ed25519_rotated());
    let provider = IdentityProvider::start(&[&first, &second]).await;
    provider.set_max_age(1);
    let (_database, app) = sqlite_app(provider.auth_config()).await;
    let me = Uuid::new_v4().to_string();
    let cached = second.token_for(&me);
    register(&app, &cached).await;

    provider.set_answering(false);
    let fetches = provider.fetches();
    let provider = &provider;
    wait_until("a failed fetch of the JWKS", || async move {
        provider.fetches() > fetches
    })
    .await;
    let fresh = first.token_for(&me);
    let response = call(&app, Method::GET, "/me", Some(&fresh), None).await;
    expect_json(response, StatusCode::OK).await;
    assert_eq!(
        app.get("/ready").await.status(),
        StatusCode::OK,
        "stale keys are usable keys"
    );

    // The provider comes back without the second key: its tokens, even verified ones, stop.
    provider.publish(&[&first]);
    provider.set_answering(true);
    let app = &app;
    let cached = &cached;
    wait_until(
        "the dropped key's tokens refused after the refresh",
        || async move {
            let response = call(app, Method::GET, "/me", Some(cached), None).await;
            response.status() == StatusCode::UNAUTHORIZED
        },
    )
    .await;
    let response = call(app, Method::GET, "/me", Some(cached), None).await;
    expect_invalid_token(response, cached, "kid").await;
    let response = call(app, Method::GET, "/me", Some(&first.token_for(&me)), None).await;
    expect_json(response, StatusCode::OK).await;
}

#[tokio::test]
async fn a_set_with_a_duplicate_kid_is_refused_and_an_empty_set_revokes_every_key() {
    let (first, second) = (SigningKey::ed25519(), SigningKey::ed25519_rotated());
    let impostor = second.with_kid(&first.kid);
    let provider = IdentityProvider::start(&[&first]).await;
    provider.set_max_age(1);
    let (provider, first, impostor) = (&provider, &first, &impostor);
    each_database_configured(
        |config: &mut Config| config.auth = provider.auth_config(),
        move |app| async move {
            provider.publish(&[first]);
            let me = Uuid::new_v4().to_string();
            let token = first.token_for(&me);
            register(&app, &token).await;

            // Two keys under one kid: the set is refused as a whole (a failed fetch), so the
            // cached key keeps working and neither is taken for the other.
            provider.publish(&[first, impostor]);
            tokio::time::sleep(Duration::from_millis(2500)).await;
            let response = call(&app, Method::GET, "/me", Some(&token), None).await;
            expect_json(response, StatusCode::OK).await;
            let forged = impostor.token_for(&me);
            let response = call(&app, Method::GET, "/me", Some(&forged), None).await;
            expect_invalid_token(response, &forged, "signature").await;
            assert_eq!(app.get("/ready").await.status(), StatusCode::OK);
            let metrics = app.get("/metrics").await.text().await.unwrap();
            assert!(metrics.contains("auth_jwks_fetch_failures_total"));

            // A well-formed set with no usable key is the provider's word: every key is revoked,
            // verified tokens included, as with no key at start.
            provider.publish_entries(vec![json!({"kty": "oct", "k": "c2VjcmV0", "kid": "s"})]);
            let (app, token) = (&app, &token);
            wait_until("the empty set in place", || async move {
                let response = call(app, Method::GET, "/me", Some(token), None).await;
                response.status() == StatusCode::SERVICE_UNAVAILABLE
            })
            .await;
            expect_no_usable_key(app, token).await;

            // The key published again is taken again.
            provider.publish(&[first]);
            wait_until("the key back in use", || async move {
                let response = call(app, Method::GET, "/me", Some(token), None).await;
                response.status() == StatusCode::OK
            })
            .await;
            assert_eq!(app.get("/ready").await.status(), StatusCode::OK);
        },
    )
    .await;
}

#[tokio::test]
async fn with_no_key_at_all_tokens_get_503_and_the_server_is_not_ready() {
    let unreachable = {
        let listener = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
        format!("http://{}/jwks.json", listener.local_addr().unwrap())
    };
    let (_database, app) = sqlite_app(jwks_auth_config(&unreachable)).await;
    let token = SigningKey::ed25519().token_for(&Uuid::new_v4().to_string());
    expect_no_usable_key(&app, &token).await;
    assert_eq!(app.get("/health").await.status(), StatusCode::OK);
    let response = app.get("/me").await;
    expect_error(response, StatusCode::UNAUTHORIZED, "UNAUTHORIZED").await;
}

#[tokio::test]
async fn a_shared_secret_and_non_uuid_subjects_work_on_every_database() {
    let secret = "an HS256 secret of at least thirty-two bytes";
    let key = SigningKey::secret(secret);
    each_database_configured(
        |config: &mut Config| config.auth = shared_secret_auth_config(secret),
        |app| {
            let key = key.clone();
            async move {
                // A Clerk-style subject: the user id is UUIDv5(NAMESPACE_URL, "<iss>#<sub>").
                let token = key.token_for("user_2abcDEF");
                let expected = Uuid::new_v5(
                    &Uuid::NAMESPACE_URL,
                    format!("{ISSUER}#user_2abcDEF").as_bytes(),
                );
                assert_eq!(register(&app, &token).await, expected.to_string());
                let tasks = format!("/users/{expected}/tasks");
                let response = call(
                    &app,
                    Method::POST,
                    &tasks,
                    Some(&token),
                    Some(json!({"title": "Call mum"})),
                )
                .await;
                expect_json(response, StatusCode::CREATED).await;
                let response = call(&app, Method::GET, &tasks, Some(&token), None).await;
                assert_eq!(
                    expect_json(response, StatusCode::OK).await["items"]
                        .as_array()
                        .unwrap()
                        .len(),
                    1
                );

                let wrong_secret = SigningKey::secret("another secret of thirty-two bytes or more")
                    .token_for("user_2abcDEF");
                let response = call(&app, Method::GET, "/me", Some(&wrong_secret), None).await;
                expect_invalid_token(response, &wrong_secret, "signature").await;
                let asymmetric = SigningKey::ed25519().token_for("user_2abcDEF");
                let response = call(&app, Method::GET, "/me", Some(&asymmetric), None).await;
                expect_invalid_token(response, &asymmetric, "algorithm").await;
            }
        },
    )
    .await;
}

#[tokio::test]
async fn the_request_log_names_the_caller_and_never_the_token() {
    let secret = "an HS256 secret of at least thirty-two bytes";
    let (server, address, log) = start_server_process(
        &[
            ("DATABASE_URL", "sqlite::memory:"),
            ("AUTH_JWT_SECRET", secret),
            ("AUTH_ISSUER", ISSUER),
            ("LOG", "info"),
        ],
        |_| {},
    )
    .await;
    let me = Uuid::new_v4().to_string();
    let token = SigningKey::secret(secret).token_for(&me);
    let client = crate::helpers::http_client();
    let response = client
        .post(format!("{address}/users"))
        .bearer_auth(&token)
        .send()
        .await
        .unwrap();
    assert_eq!(response.status(), StatusCode::CREATED);
    let response = client
        .get(format!("{address}/me"))
        .bearer_auth(&token)
        .send()
        .await
        .unwrap();
    assert_eq!(response.status(), StatusCode::OK);
    let lines = killed_server_log(server, log).await;
    let logged = lines.join("\n");
    assert!(
        lines
            .iter()
            .any(|line| line.contains("getCurrentUser") && line.contains(&me)),
        "the request line carries the caller's id:\n{logged}"
    );
    assert!(!logged.contains(&token), "the token is never logged");
}

fn base64_url(bytes: &[u8]) -> String {
    use base64::Engine;
    base64::engine::general_purpose::URL_SAFE_NO_PAD.encode(bytes)
}

#[tokio::test]
async fn auth_token_types_keeps_id_tokens_out() {
    let secret = "an HS256 secret of at least thirty-two bytes";
    let mut auth = shared_secret_auth_config(secret);
    if let AuthConfig::On(rules) = &mut auth {
        rules.token_types = vec!["at+jwt".to_owned()];
    }
    let (_database, app) = sqlite_app(auth).await;
    let key = SigningKey::secret(secret);
    let me = Uuid::new_v4().to_string();
    let typed = |typ: Option<&str>| {
        let mut header = Header::new(Algorithm::HS256);
        header.typ = typ.map(str::to_owned);
        key.sign_with(&header, &claims_for(&me))
    };
    // RFC 9068's access tokens, the media type's prefix and case aside.
    for typ in ["at+jwt", "AT+JWT", "application/at+jwt"] {
        let response = call(&app, Method::GET, "/me", Some(&typed(Some(typ))), None).await;
        expect_error(response, StatusCode::NOT_FOUND, "USER_NOT_FOUND").await;
    }
    for (typ, reason) in [
        (
            Some("JWT"),
            "the token's type (typ) is JWT, and this server accepts at+jwt (an ID token is not \
             an access token)",
        ),
        (None, "the token's type (typ) is missing"),
    ] {
        let token = typed(typ);
        let response = call(&app, Method::GET, "/me", Some(&token), None).await;
        expect_invalid_token(response, &token, reason).await;
    }
}

#[tokio::test]
async fn auth_issuer_alone_finds_the_keys_by_discovery_and_trusts_only_its_own_document() {
    let key = SigningKey::ed25519();
    let provider = IdentityProvider::start(&[&key]).await;
    // A document naming another issuer is never trusted: no key, 503, not ready.
    provider.set_discovered_issuer("https://idp.elsewhere.test");
    let (_database, app) = sqlite_app(provider.discovery_auth_config()).await;
    let me = Uuid::new_v4().to_string();
    let token = key.sign(&provider.claims_for(&me));
    assert_eq!(
        app.get("/ready").await.status(),
        StatusCode::SERVICE_UNAVAILABLE
    );
    let response = call(&app, Method::GET, "/me", Some(&token), None).await;
    expect_error(
        response,
        StatusCode::SERVICE_UNAVAILABLE,
        "SERVICE_UNAVAILABLE",
    )
    .await;
    // Once the document names the issuer exactly, its jwks_uri's keys verify (a server
    // retries a failed discovery as it does a JWKS that is down: within 30 s; a new one starts
    // with it).
    provider.set_discovered_issuer(&provider.issuer);
    let fetches = provider.fetches();
    let (_database, app) = sqlite_app(provider.discovery_auth_config()).await;
    assert_eq!(
        provider.fetches(),
        fetches + 1,
        "the JWKS came from jwks_uri"
    );
    assert_eq!(app.get("/ready").await.status(), StatusCode::OK);
    register(&app, &token).await;
    // A token of another issuer is still refused, saying which.
    let foreign = key.sign(&claims_for(&me));
    let response = call(&app, Method::GET, "/me", Some(&foreign), None).await;
    expect_invalid_token(
        response,
        &foreign,
        &format!(
            "the token's issuer (iss) is {ISSUER}, and this server expects {}",
            provider.issuer
        ),
    )
    .await;
}

#[tokio::test]
async fn a_jwks_url_that_answers_a_discovery_document_fails_key_setup() {
    let provider = IdentityProvider::start(&[&SigningKey::ed25519()]).await;
    let failure = Authenticator::start(&jwks_auth_config(&provider.discovery_url()))
        .await
        .err();
    assert!(
        matches!(
            &failure,
            Some(KeySetupError::JwksUrlIsDiscovery(document))
                if document.jwks_uri == provider.jwks_url
        ),
        "{failure:?}"
    );
    assert!(
        Authenticator::start(&provider.auth_config()).await.is_ok(),
        "its jwks_uri is a key set"
    );
}

#[tokio::test]
async fn a_jwks_url_that_answers_a_discovery_document_stops_the_binary() {
    let provider = IdentityProvider::start(&[&SigningKey::ed25519()]).await;
    let discovery_url = provider.discovery_url();
    let output = server_command(&[
        ("DATABASE_URL", "sqlite::memory:"),
        ("AUTH_JWKS_URL", &discovery_url),
        ("AUTH_ISSUER", &provider.issuer),
        ("LOG", "off"),
    ])
    .output()
    .await
    .unwrap();
    assert!(!output.status.success());
    let log = String::from_utf8_lossy(&output.stderr);
    assert_eq!(
        log.trim_end(),
        format!(
            "task-api: AUTH_JWKS_URL answers an OpenID Connect discovery document, not a key \
             set (its jwks_uri is {}): set AUTH_JWKS_URL to its jwks_uri, or unset it and keep \
             AUTH_ISSUER alone (discovery)",
            provider.jwks_url
        )
    );
}
