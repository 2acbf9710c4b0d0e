//! A running server for a test, built exactly as `main` builds it on port 0, with a client;
//! `each_database` runs a test once on every database.

use std::future::Future;
use std::time::Duration;

use poem::{get, handler, Route};
use reqwest::{Client, Response, StatusCode};
use serde_json::{json, Value};
use task_api::config::Config;
use task_api::startup::Application;
use tokio::sync::oneshot;
use uuid::Uuid;

use super::{expect_json, Backend, TestDatabase};

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

/// The `id` of a user or task as the API returned it.
pub fn id_of(resource: &Value) -> Uuid {
    resource["id"]
        .as_str()
        .and_then(|id| Uuid::try_parse(id).ok())
        .unwrap_or_else(|| panic!("no id in {resource}"))
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
    pub async fn create_user(&self) -> Uuid {
        let response = self.client.post(self.url("/users")).send().await.unwrap();
        id_of(&expect_json(response, StatusCode::CREATED).await)
    }

    /// Creates a task for `user_id` and returns it.
    pub async fn create_task(&self, user_id: Uuid, body: Value) -> Value {
        let response = self
            .post_json(&format!("/users/{user_id}/tasks"), &body)
            .await;
        expect_json(response, StatusCode::CREATED).await
    }

    /// Every task of a user, by following the cursor.
    pub async fn all_tasks(&self, user_id: Uuid) -> Vec<Value> {
        let mut tasks = Vec::new();
        let mut cursor = String::new();
        loop {
            let page = self
                .get_ok(&format!("/users/{user_id}/tasks?limit=100{cursor}"))
                .await;
            tasks.extend(page["items"].as_array().unwrap().iter().cloned());
            match page["next_cursor"].as_str() {
                Some(next) => cursor = format!("&cursor={next}"),
                None => return tasks,
            }
        }
    }

    /// Creates a task with just a title.
    pub async fn create_titled(&self, user_id: Uuid, title: &str) -> Value {
        self.create_task(user_id, json!({ "title": title })).await
    }
}
