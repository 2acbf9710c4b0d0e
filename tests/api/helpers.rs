//! Spawns the application as `main` does, on port 0, on a database of its own per test.

use std::future::Future;
use std::str::FromStr;
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::Arc;
use std::time::Duration;

use poem::{get, handler, Route};
use reqwest::{Client, Response, StatusCode};
use sea_orm::sqlx::postgres::PgConnectOptions;
use sea_orm::sqlx::{ConnectOptions, Connection, Executor, PgConnection};
use serde_json::{json, Value};
use task_api::config::Config;
use task_api::db::DatabaseTarget;
use task_api::startup::Application;
use tokio::sync::oneshot;

/// Which database a test runs on.
#[derive(Debug, Clone)]
pub enum Backend {
    Sqlite,
    Postgres(String),
}

impl Backend {
    /// SQLite always; PostgreSQL too when `TEST_DATABASE_URL` is set.
    pub fn all() -> Vec<Backend> {
        let mut backends = vec![Backend::Sqlite];
        if let Some(url) = std::env::var("TEST_DATABASE_URL")
            .ok()
            .filter(|url| !url.is_empty())
        {
            backends.push(Backend::Postgres(url));
        }
        backends
    }
}

/// Runs `test` once per backend, each time against a new app on a new database.
pub async fn each_database<F, Fut>(test: F)
where
    F: Fn(TestApp) -> Fut,
    Fut: Future<Output = ()>,
{
    each_database_configured(|_| {}, test).await;
}

/// Runs `test` once per backend against a new app on a new database, configured by `configure`.
pub async fn each_database_configured<F, Fut>(configure: impl Fn(&mut Config), test: F)
where
    F: Fn(TestApp) -> Fut,
    Fut: Future<Output = ()>,
{
    for backend in Backend::all() {
        eprintln!("--- on {backend:?}");
        let database = TestDatabase::create(&backend).await;
        let mut config = database.config();
        configure(&mut config);
        let app = TestApp::spawn(config).await;
        test(app).await;
    }
}

/// A database for one test: in-memory SQLite, or a PostgreSQL database dropped afterwards.
pub struct TestDatabase {
    target: DatabaseTarget,
    /// The URL a separate process would use to reach this database.
    pub url: String,
    postgres: Option<(String, String)>,
}

/// `url` with its database name replaced by `name`.
pub fn with_database(url: &str, name: &str) -> String {
    let (base, query) = url
        .split_once('?')
        .map_or((url, None), |(b, q)| (b, Some(q)));
    let scheme_end = base.find("://").map_or(0, |i| i + 3);
    let host_end = base[scheme_end..]
        .find('/')
        .map_or(base.len(), |i| scheme_end + i);
    let mut replaced = format!("{}/{name}", &base[..host_end]);
    if let Some(query) = query {
        replaced.push('?');
        replaced.push_str(query);
    }
    replaced
}

impl TestDatabase {
    pub async fn create(backend: &Backend) -> Self {
        match backend {
            Backend::Sqlite => Self {
                target: DatabaseTarget::sqlite_in_memory(),
                url: "sqlite::memory:".to_owned(),
                postgres: None,
            },
            Backend::Postgres(admin_url) => {
                let name = format!("taskapi_test_{}", uuid::Uuid::new_v4().simple());
                let mut admin = PgConnection::connect(admin_url)
                    .await
                    .expect("TEST_DATABASE_URL must reach PostgreSQL");
                admin
                    .execute(format!(r#"CREATE DATABASE "{name}""#).as_str())
                    .await
                    .expect("create the test database");
                let options = PgConnectOptions::from_str(admin_url)
                    .unwrap()
                    .database(&name)
                    .disable_statement_logging();
                Self {
                    target: DatabaseTarget::Postgres(options),
                    url: with_database(admin_url, &name),
                    postgres: Some((admin_url.clone(), name)),
                }
            }
        }
    }

    /// A server configuration on this database, on a free port.
    pub fn config(&self) -> Config {
        let mut config = Config::from_lookup(|_| None).expect("defaults are valid");
        config.database = self.target.clone();
        config.port = 0;
        config.database_acquire_timeout = Duration::from_secs(5);
        config.shutdown_grace = Duration::from_secs(5);
        config
    }

    pub fn is_postgres(&self) -> bool {
        self.postgres.is_some()
    }

    /// This PostgreSQL database's URL through `proxy` (the test URL must name 127.0.0.1:5432).
    pub fn proxied_url(&self, proxy: &PgProxy) -> String {
        let proxied = self
            .url
            .replacen("127.0.0.1:5432", &format!("127.0.0.1:{}", proxy.port), 1);
        assert_ne!(
            proxied, self.url,
            "TEST_DATABASE_URL must use 127.0.0.1:5432"
        );
        proxied
    }
}

impl Drop for TestDatabase {
    fn drop(&mut self) {
        let Some((admin_url, name)) = self.postgres.take() else {
            return;
        };
        // The test's runtime may be gone; drop the database from a runtime of its own.
        std::thread::spawn(move || {
            let runtime = tokio::runtime::Builder::new_current_thread()
                .enable_all()
                .build()
                .unwrap();
            runtime.block_on(async {
                if let Ok(mut admin) = PgConnection::connect(&admin_url).await {
                    let _ = admin
                        .execute(
                            format!(r#"DROP DATABASE IF EXISTS "{name}" WITH (FORCE)"#).as_str(),
                        )
                        .await;
                }
            });
        })
        .join()
        .ok();
    }
}

#[handler]
fn panicking() -> &'static str {
    panic!("a handler bug with a secret inside")
}

#[handler]
async fn slow() -> &'static str {
    tokio::time::sleep(Duration::from_millis(500)).await;
    "done"
}

/// Routes only tests mount: a handler that panics and one that takes its time.
pub fn test_routes() -> Route {
    Route::new()
        .at("/panic", get(panicking))
        .at("/slow", get(slow))
}

/// A client builder: reqwest is built without a TLS crypto provider of its own, so ring (the one
/// the server uses) is installed first.
pub fn http_client_builder() -> reqwest::ClientBuilder {
    let _ = rustls::crypto::ring::default_provider().install_default();
    Client::builder()
}

/// A client with reqwest's defaults.
pub fn http_client() -> Client {
    http_client_builder().build().expect("a client builds")
}

/// A running server and a client for it.
pub struct TestApp {
    pub address: String,
    /// The app's own database, for setting up what the API cannot make (equal timestamps).
    pub db: task_api::db::Database,
    pub client: Client,
    pub shutdown: Option<oneshot::Sender<()>>,
    pub server: tokio::task::JoinHandle<std::io::Result<()>>,
}

impl TestApp {
    /// Builds the app exactly as `main` does and serves it in the background.
    pub async fn spawn(config: Config) -> Self {
        let app = Application::build(&config, test_routes())
            .await
            .expect("the app starts");
        let address = format!("http://127.0.0.1:{}", app.port());
        let db = app.db().clone();
        let (shutdown, stop) = oneshot::channel::<()>();
        // Shut down when told; a test that drops its sender leaves the server running.
        let server = tokio::spawn(app.run_until(async {
            if stop.await.is_err() {
                std::future::pending::<()>().await;
            }
        }));
        Self {
            address,
            db,
            client: http_client(),
            shutdown: Some(shutdown),
            server,
        }
    }

    pub fn url(&self, path: &str) -> String {
        format!("{}{}", self.address, path)
    }

    pub async fn get(&self, path: &str) -> Response {
        self.client.get(self.url(path)).send().await.unwrap()
    }

    /// GETs `path`, asserting 200 and JSON; returns the body.
    pub async fn get_ok(&self, path: &str) -> Value {
        expect_json(self.get(path).await, StatusCode::OK).await
    }

    pub async fn delete(&self, path: &str) -> Response {
        self.client.delete(self.url(path)).send().await.unwrap()
    }

    pub async fn send_json(&self, method: reqwest::Method, path: &str, body: &Value) -> Response {
        self.client
            .request(method, self.url(path))
            .json(body)
            .send()
            .await
            .unwrap()
    }

    pub async fn post_json(&self, path: &str, body: &Value) -> Response {
        self.send_json(reqwest::Method::POST, path, body).await
    }

    pub async fn put_json(&self, path: &str, body: &Value) -> Response {
        self.send_json(reqwest::Method::PUT, path, body).await
    }

    pub async fn patch_json(&self, path: &str, body: &Value) -> Response {
        self.send_json(reqwest::Method::PATCH, path, body).await
    }

    /// Registers a new user and returns its id.
    pub async fn create_user(&self) -> String {
        let response = self.client.post(self.url("/users")).send().await.unwrap();
        let user = expect_json(response, StatusCode::CREATED).await;
        user["id"].as_str().unwrap().to_owned()
    }

    /// Creates a task for `user_id` and returns it.
    pub async fn create_task(&self, user_id: &str, body: Value) -> Value {
        let response = self
            .post_json(&format!("/users/{user_id}/tasks"), &body)
            .await;
        expect_json(response, StatusCode::CREATED).await
    }

    /// Creates a task with just a title.
    pub async fn create_titled(&self, user_id: &str, title: &str) -> Value {
        self.create_task(user_id, json!({ "title": title })).await
    }
}

/// Asserts the status, and that the body is JSON; returns it.
pub async fn expect_json(response: Response, status: StatusCode) -> Value {
    let actual = response.status();
    let content_type = response
        .headers()
        .get("content-type")
        .map(|v| v.to_str().unwrap().to_owned())
        .unwrap_or_default();
    let text = response.text().await.unwrap();
    assert_eq!(actual, status, "unexpected status; body: {text}");
    assert!(
        content_type.starts_with("application/json"),
        "content type {content_type:?} for body {text}"
    );
    serde_json::from_str(&text).unwrap_or_else(|_| panic!("not JSON: {text}"))
}

/// Asserts the response is the error envelope with this status and code; returns the error.
pub async fn expect_error(response: Response, status: StatusCode, code: &str) -> Value {
    let body = expect_json(response, status).await;
    let error = &body["error"];
    assert_eq!(error["code"], code, "body: {body}");
    assert!(error["message"].is_string(), "body: {body}");
    assert!(error["details"].is_object(), "body: {body}");
    assert_eq!(
        body.as_object().unwrap().len(),
        1,
        "only `error` at the top: {body}"
    );
    error.clone()
}

/// The `(field, location)` pairs of a validation error, in order.
pub fn failing_fields(error: &Value) -> Vec<(String, String)> {
    error["details"]["fields"]
        .as_array()
        .unwrap_or_else(|| panic!("no details.fields in {error}"))
        .iter()
        .map(|f| {
            assert!(f["message"].as_str().is_some_and(|m| !m.is_empty()), "{f}");
            (
                f["field"].as_str().unwrap().to_owned(),
                f["location"].as_str().unwrap().to_owned(),
            )
        })
        .collect()
}

/// Asserts a 400 VALIDATION_ERROR naming exactly these fields at these locations.
pub async fn expect_invalid(response: Response, expected: &[(&str, &str)]) -> Value {
    let error = expect_error(response, StatusCode::BAD_REQUEST, "VALIDATION_ERROR").await;
    let mut actual = failing_fields(&error);
    let mut expected: Vec<(String, String)> = expected
        .iter()
        .map(|(f, l)| (f.to_string(), l.to_string()))
        .collect();
    actual.sort();
    expected.sort();
    assert_eq!(actual, expected, "error: {error}");
    error
}

/// The PostgreSQL URL tests may create databases with, when `TEST_DATABASE_URL` is set.
pub fn postgres_admin_url() -> Option<String> {
    Backend::all()
        .into_iter()
        .find_map(|backend| match backend {
            Backend::Postgres(url) => Some(url),
            Backend::Sqlite => None,
        })
}

/// A PostgreSQL database of this test's own, or `None` (said on stderr) when
/// `TEST_DATABASE_URL` is not set: for the tests only PostgreSQL can run.
pub async fn postgres_database() -> Option<TestDatabase> {
    let Some(admin_url) = postgres_admin_url() else {
        eprintln!("PostgreSQL only: set TEST_DATABASE_URL");
        return None;
    };
    Some(TestDatabase::create(&Backend::Postgres(admin_url)).await)
}

/// A TCP proxy in front of PostgreSQL that can take the database away and bring it back.
///
/// `cut` ends every connection as `pg_terminate_backend` would, and refuses new ones: nothing
/// more reaches the server, while what the server already answered still reaches the client,
/// so a statement that committed is answered and one that did not arrive is not run.
/// `sever` drops both directions at once, as a network partition does: the client hears nothing
/// more, whatever the server does with what it already received.
pub struct PgProxy {
    pub port: u16,
    up: Arc<AtomicBool>,
    cut: Arc<tokio::sync::Notify>,
    severed: Arc<tokio::sync::Notify>,
}

impl PgProxy {
    pub async fn to(target: &str) -> Self {
        let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
        let port = listener.local_addr().unwrap().port();
        let up = Arc::new(AtomicBool::new(true));
        let cut = Arc::new(tokio::sync::Notify::new());
        let severed = Arc::new(tokio::sync::Notify::new());
        let (accept_up, accept_cut, accept_severed, target) =
            (up.clone(), cut.clone(), severed.clone(), target.to_owned());
        tokio::spawn(async move {
            while let Ok((client, _)) = listener.accept().await {
                if !accept_up.load(Ordering::SeqCst) {
                    continue; // dropped at once: the database is away
                }
                let (target, cut, severed) =
                    (target.clone(), accept_cut.clone(), accept_severed.clone());
                tokio::spawn(async move {
                    if let Ok(server) = tokio::net::TcpStream::connect(target).await {
                        tokio::select! {
                            _ = forward(client, server, cut) => {}
                            _ = severed.notified() => {}
                        }
                    }
                });
            }
        });
        Self {
            port,
            up,
            cut,
            severed,
        }
    }

    pub fn cut(&self) {
        self.up.store(false, Ordering::SeqCst);
        self.cut.notify_waiters();
    }

    pub fn sever(&self) {
        self.up.store(false, Ordering::SeqCst);
        self.severed.notify_waiters();
    }

    pub fn restore(&self) {
        self.up.store(true, Ordering::SeqCst);
    }
}

async fn forward(
    client: tokio::net::TcpStream,
    server: tokio::net::TcpStream,
    cut: Arc<tokio::sync::Notify>,
) {
    use tokio::io::AsyncWriteExt;
    let (mut client_read, mut client_write) = client.into_split();
    let (mut server_read, mut server_write) = server.into_split();
    let to_server = async {
        tokio::select! {
            _ = tokio::io::copy(&mut client_read, &mut server_write) => {}
            _ = cut.notified() => {}
        }
        // The server sees the client go away and ends the session.
        let _ = server_write.shutdown().await;
    };
    let to_client = async {
        let _ = tokio::io::copy(&mut server_read, &mut client_write).await;
        let _ = client_write.shutdown().await;
    };
    tokio::join!(to_server, to_client);
}

/// The server binary, with a clean environment plus `env` (PORT defaults to 0).
pub fn server_command(env: &[(&str, &str)]) -> tokio::process::Command {
    let mut command = tokio::process::Command::new(env!("CARGO_BIN_EXE_task-api"));
    command
        .env_clear()
        .env("PATH", std::env::var("PATH").unwrap_or_default())
        .env("PORT", "0")
        .envs(env.iter().copied())
        .stdout(std::process::Stdio::piped())
        .stderr(std::process::Stdio::piped())
        .kill_on_drop(true);
    command
}

/// The log of a server process, line by line.
pub type ServerLog = tokio::io::Lines<tokio::io::BufReader<tokio::process::ChildStderr>>;

/// Starts the server binary and reads its log until it listens; `on_line` sees every line
/// before that. Returns the process, its address and the rest of its log.
pub async fn start_server_process(
    env: &[(&str, &str)],
    mut on_line: impl FnMut(&str),
) -> (tokio::process::Child, String, ServerLog) {
    use tokio::io::AsyncBufReadExt;
    let mut child = server_command(env).spawn().unwrap();
    let mut log = tokio::io::BufReader::new(child.stderr.take().unwrap()).lines();
    loop {
        let line = log.next_line().await.unwrap().expect("the server starts");
        on_line(&line);
        if let Some(rest) = line.split("listening on ").nth(1) {
            let address = rest.split_whitespace().next().unwrap().to_owned();
            return (child, address, log);
        }
    }
}

/// A database two servers can share (a PostgreSQL database, or an SQLite file) and a server
/// configuration on it.
pub async fn shared_database(
    backend: &Backend,
) -> (TestDatabase, Config, Option<std::path::PathBuf>) {
    let mut database = TestDatabase::create(backend).await;
    let file = (!database.is_postgres()).then(|| {
        let path = std::env::temp_dir().join(format!("taskapi-{}.db", uuid::Uuid::new_v4()));
        database.url = format!("sqlite://{}", path.display());
        path
    });
    let mut config = database.config();
    config.database = DatabaseTarget::parse(&database.url).unwrap();
    (database, config, file)
}

pub fn remove_sqlite_files(path: Option<std::path::PathBuf>) {
    if let Some(path) = path {
        for suffix in ["", "-wal", "-shm"] {
            let _ = std::fs::remove_file(format!("{}{suffix}", path.display()));
        }
    }
}
