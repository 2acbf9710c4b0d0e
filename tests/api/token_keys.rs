//! The keys that seal cursors and sync tokens: kept in the database when `CURSOR_SECRET` is not
//! set (restarts and other instances accept the tokens), rotated with `CURSOR_SECRET_PREVIOUS`,
//! a retired key's sync token 410 and cursor 400, and nothing a client typed readable in a token.

use std::time::Duration;

use base64::{engine::general_purpose::URL_SAFE_NO_PAD, Engine};
use reqwest::StatusCode;
use task_api::config::Config;
use task_api::tokens::TokenKey;
use uuid::Uuid;

use crate::helpers::{
    each_database, expect_error, expect_invalid, postgres_database, remove_sqlite_files,
    shared_database, wait_until, Backend, PgProxy, TestApp,
};

/// A user's tokens: a cursor of a title-sorted search and a sync token.
struct Tokens {
    user_id: Uuid,
    cursor: String,
    since: String,
}

const SEARCH: &str = "/tasks?limit=1&sort=title&q=plan";

/// Makes a user with three tasks and takes a cursor and a sync token from `app`.
async fn tokens_of(app: &TestApp) -> Tokens {
    let user_id = app.create_user().await;
    for title in ["Secret plan A", "Secret plan B", "Secret plan C"] {
        app.create_titled(user_id, title).await;
    }
    let page = app.get_ok(&format!("/users/{user_id}{SEARCH}")).await;
    let since = app.get_ok(&format!("/users/{user_id}/changes")).await["next_since"]
        .as_str()
        .unwrap()
        .to_owned();
    Tokens {
        user_id,
        cursor: page["next_cursor"].as_str().unwrap().to_owned(),
        since,
    }
}

impl Tokens {
    /// The search's page after `cursor`.
    fn page_after(&self, cursor: &str) -> String {
        format!("/users/{}{SEARCH}&cursor={cursor}", self.user_id)
    }

    /// The user's changes since `since`.
    fn changes_since(&self, since: &str) -> String {
        format!("/users/{}/changes?since={since}", self.user_id)
    }
}

/// Asserts that `app` follows both tokens.
async fn accepts(app: &TestApp, tokens: &Tokens) {
    let next = app.get_ok(&tokens.page_after(&tokens.cursor)).await;
    assert_eq!(next["items"][0]["title"], "Secret plan B");
    let changes = app.get_ok(&tokens.changes_since(&tokens.since)).await;
    assert_eq!(changes["changes"].as_array().unwrap().len(), 0);
}

/// Asserts that `app` holds none of the tokens' keys: the sync token is 410, the cursor 400.
async fn refuses_as_unknown_key(app: &TestApp, tokens: &Tokens) {
    let answer = app.get(&tokens.changes_since(&tokens.since)).await;
    let error = expect_error(answer, StatusCode::GONE, "SYNC_EXPIRED").await;
    assert!(
        error["message"].as_str().unwrap().contains("key"),
        "{error}"
    );
    let answer = app.get(&tokens.page_after(&tokens.cursor)).await;
    expect_invalid(answer, &[("cursor", "query")]).await;
}

async fn stop(mut app: TestApp) {
    app.shutdown.take().unwrap().send(()).unwrap();
    app.server.await.unwrap().unwrap();
}

fn with_keys(config: &Config, current: Option<&str>, previous: &[&str]) -> Config {
    let key = |secret: &str| TokenKey::from_secret(secret).unwrap();
    let mut config = config.clone();
    config.token_key = current.map(key);
    config.previous_token_keys = previous.iter().map(|secret| key(secret)).collect();
    config
}

#[tokio::test]
async fn without_a_secret_a_restart_and_other_instances_accept_the_tokens_made_before() {
    for backend in Backend::all() {
        eprintln!("--- on {backend:?}");
        let (_database, config, file) = shared_database(&backend).await;
        assert!(config.token_key.is_none());
        // Two instances starting together on a new database end with one key.
        let (first, twin) = tokio::join!(
            TestApp::spawn(config.clone()),
            TestApp::spawn(config.clone())
        );
        let tokens = tokens_of(&first).await;
        accepts(&twin, &tokens).await;
        let twins_tokens = tokens_of(&twin).await;
        accepts(&first, &twins_tokens).await;
        stop(first).await;
        stop(twin).await;

        let restarted = TestApp::spawn(config.clone()).await;
        accepts(&restarted, &tokens).await;
        accepts(&restarted, &twins_tokens).await;
        // A server with a key of its own does not hold the database's.
        let configured = TestApp::spawn(with_keys(&config, Some(&"c".repeat(32)), &[])).await;
        refuses_as_unknown_key(&configured, &tokens).await;
        remove_sqlite_files(file);
    }
}

#[tokio::test]
async fn a_server_started_while_the_database_is_away_reads_the_key_once_it_is_back() {
    let Some(database) = postgres_database().await else {
        return;
    };
    let first = TestApp::spawn(database.config()).await;
    let tokens = tokens_of(&first).await;
    let proxy = PgProxy::to("127.0.0.1:5432").await;
    proxy.cut();
    let mut config = database.config();
    config.database = task_api::db::DatabaseTarget::parse(&database.proxied_url(&proxy)).unwrap();
    config.database_acquire_timeout = Duration::from_secs(1);
    config.run_migrations = false;
    config.startup_database_wait = Duration::ZERO;
    let late = TestApp::spawn(config).await;
    let answer = late.get(&tokens.page_after(&tokens.cursor)).await;
    expect_error(
        answer,
        StatusCode::SERVICE_UNAVAILABLE,
        "SERVICE_UNAVAILABLE",
    )
    .await;
    proxy.restore();
    wait_until("the database answering through the proxy again", || async {
        late.get("/ready").await.status() == StatusCode::OK
    })
    .await;
    accepts(&late, &tokens).await;
}

#[tokio::test]
async fn a_rotated_secret_opens_old_tokens_while_previous_and_then_expires_them() {
    let (old, new) = ("o".repeat(32), "n".repeat(40));
    for backend in Backend::all() {
        eprintln!("--- on {backend:?}");
        let (_database, config, file) = shared_database(&backend).await;
        let before = TestApp::spawn(with_keys(&config, Some(&old), &[])).await;
        let during = TestApp::spawn(with_keys(&config, Some(&new), &[&old])).await;
        let after = TestApp::spawn(with_keys(&config, Some(&new), &[])).await;
        let old_tokens = tokens_of(&before).await;
        accepts(&during, &old_tokens).await;
        refuses_as_unknown_key(&after, &old_tokens).await;
        // New tokens are sealed with the current key only.
        let new_tokens = tokens_of(&during).await;
        accepts(&after, &new_tokens).await;
        refuses_as_unknown_key(&before, &new_tokens).await;

        // A token changed past its key id stays a 400, whatever key it names.
        let tampered = |token: &str| {
            let mut bytes = token.to_owned().into_bytes();
            let at = bytes.len() / 2;
            bytes[at] = if bytes[at] == b'A' { b'B' } else { b'A' };
            String::from_utf8(bytes).unwrap()
        };
        for app in [&before, &during] {
            let answer = app
                .get(&old_tokens.changes_since(&tampered(&old_tokens.since)))
                .await;
            expect_invalid(answer, &[("since", "query")]).await;
            let answer = app
                .get(&old_tokens.page_after(&tampered(&old_tokens.cursor)))
                .await;
            expect_invalid(answer, &[("cursor", "query")]).await;
        }
        remove_sqlite_files(file);
    }
}

#[tokio::test]
async fn no_text_a_client_typed_can_be_read_from_a_cursor() {
    each_database(|app| async move {
        let Tokens { cursor, since, .. } = tokens_of(&app).await;
        for token in [&cursor, &since] {
            let bytes = URL_SAFE_NO_PAD.decode(token).unwrap();
            let text = String::from_utf8_lossy(&bytes).to_lowercase();
            for typed in ["plan", "secret"] {
                assert!(!text.contains(typed), "{typed:?} in {text:?}");
            }
            assert!(token.len() < 256, "{} characters: {token}", token.len());
        }
        eprintln!(
            "a search cursor is {} characters, a sync token {}",
            cursor.len(),
            since.len()
        );
    })
    .await;
}
