//! The caller before the body: 401 and 403 answered from the request's head while its body is
//! still on the way (or never sent), `Expect: 100-continue` answered with the refusal, two
//! `Authorization` headers refused, and stalled unauthenticated uploads holding no memory.

use std::time::{Duration, Instant};

use reqwest::StatusCode;
use serde_json::json;
use task_api::config::Config;
use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::TcpStream;
use uuid::Uuid;

use crate::helpers::{
    each_database_configured, expect_invalid, start_server_process, Backend, TestDatabase,
};
use crate::identity::{shared_secret_auth_config, SigningKey, ISSUER};

const SECRET: &str = "an HS256 secret of at least thirty-two bytes";

/// The settings of these tests: HS256 tokens, and a request timeout long enough that an answer
/// within a second cannot be the timeout's.
fn configure(config: &mut Config) {
    config.auth = shared_secret_auth_config(SECRET);
    config.http.request_timeout = Duration::from_secs(30);
}

/// A new user's id and a token naming them.
fn new_caller() -> (String, String) {
    let me = Uuid::new_v4().to_string();
    let token = SigningKey::secret(SECRET).token_for(&me);
    (me, token)
}

/// Opens a raw connection to the server at `address` (`http://host:port`) and sends `head`.
async fn send_head(address: &str, head: &str) -> TcpStream {
    let mut stream = TcpStream::connect(address.trim_start_matches("http://"))
        .await
        .unwrap();
    stream.write_all(head.as_bytes()).await.unwrap();
    stream
}

/// The head of a request with a JSON body of `length` bytes, none of which is sent with it.
fn request_head(
    method: &str,
    path: &str,
    token: Option<&str>,
    length: usize,
    extra: &str,
) -> String {
    let authorization = token.map_or(String::new(), |token| {
        format!("Authorization: Bearer {token}\r\n")
    });
    format!(
        "{method} {path} HTTP/1.1\r\nHost: localhost\r\n{authorization}Content-Type: \
         application/json\r\nContent-Length: {length}\r\n{extra}\r\n"
    )
}

/// What the server sends within `wait`, as text (until it has sent a whole head at least).
async fn read_answer(stream: &mut TcpStream, wait: Duration) -> String {
    let mut received = Vec::new();
    let deadline = Instant::now() + wait;
    let mut buffer = [0u8; 4096];
    while !String::from_utf8_lossy(&received).contains("\r\n\r\n{") {
        let left = deadline.saturating_duration_since(Instant::now());
        match tokio::time::timeout(left, stream.read(&mut buffer)).await {
            Ok(Ok(n)) if n > 0 => received.extend_from_slice(&buffer[..n]),
            _ => break,
        }
    }
    String::from_utf8_lossy(&received).into_owned()
}

#[tokio::test]
async fn another_users_path_is_403_while_its_body_has_not_arrived() {
    each_database_configured(configure, |app| async move {
        let (_, token) = new_caller();
        let theirs = format!("/users/{}/tasks", Uuid::new_v4());
        let started = Instant::now();
        let mut stream = send_head(
            &app.address,
            &request_head("POST", &theirs, Some(&token), 1000, ""),
        )
        .await;
        let answer = read_answer(&mut stream, Duration::from_secs(5)).await;
        assert!(answer.starts_with("HTTP/1.1 403"), "{answer}");
        assert!(answer.contains(r#""code":"FORBIDDEN""#), "{answer}");
        // Its body is never read: the answer says the connection ends, so that a client does
        // not send its next request on it.
        assert!(
            answer.to_ascii_lowercase().contains("connection: close"),
            "{answer}"
        );
        assert!(
            started.elapsed() < Duration::from_secs(2),
            "answered after {:?}, not at once",
            started.elapsed()
        );
        // Refused before the operation ran, it is still counted under it.
        let metrics = app.get("/metrics").await.text().await.unwrap();
        assert!(
            metrics.contains(r#"http_requests_total{operation="createTask",status="403"}"#),
            "{metrics}"
        );
    })
    .await;
}

#[tokio::test]
async fn expect_100_continue_gets_the_refusal_and_never_continue() {
    each_database_configured(configure, |app| async move {
        let (me, token) = new_caller();
        let tasks = format!("/users/{me}/tasks");
        let expect = "Expect: 100-continue\r\n";
        let refused = [
            (None, "401"),
            (Some("not.a.token"), "401"),
            (Some(token.as_str()), "403"),
        ];
        for (token, status) in refused {
            let path = match status {
                "403" => format!("/users/{}/tasks", Uuid::new_v4()),
                _ => tasks.clone(),
            };
            let mut stream = send_head(
                &app.address,
                &request_head("POST", &path, token, 20, expect),
            )
            .await;
            let answer = read_answer(&mut stream, Duration::from_secs(5)).await;
            assert!(
                answer.starts_with(&format!("HTTP/1.1 {status}")),
                "{token:?}: {answer}"
            );
            assert!(!answer.contains("100 Continue"), "{token:?}: {answer}");
        }

        // The caller's own path: 100 Continue, then the body, then the answer.
        let registered = app
            .client
            .post(app.url("/users"))
            .bearer_auth(&token)
            .send()
            .await
            .unwrap();
        assert_eq!(registered.status(), StatusCode::CREATED);
        let body = json!({ "title": "sent after 100" }).to_string();
        let mut stream = send_head(
            &app.address,
            &request_head("POST", &tasks, Some(&token), body.len(), expect),
        )
        .await;
        let mut interim = [0u8; 25];
        tokio::time::timeout(Duration::from_secs(5), stream.read_exact(&mut interim))
            .await
            .unwrap()
            .unwrap();
        assert_eq!(&interim, b"HTTP/1.1 100 Continue\r\n\r\n");
        stream.write_all(body.as_bytes()).await.unwrap();
        let answer = read_answer(&mut stream, Duration::from_secs(5)).await;
        assert!(answer.starts_with("HTTP/1.1 201"), "{answer}");
    })
    .await;
}

#[tokio::test]
async fn two_authorization_headers_are_refused_naming_it() {
    each_database_configured(configure, |app| async move {
        let (me, token) = new_caller();
        let response = app
            .client
            .get(app.url(&format!("/users/{me}/tasks")))
            .header("authorization", format!("Bearer {token}"))
            .header("authorization", format!("Bearer {token}"))
            .send()
            .await
            .unwrap();
        expect_invalid(response, &[("Authorization", "header")]).await;
    })
    .await;
}

/// The server process's resident memory, in bytes.
fn resident_bytes(pid: u32) -> u64 {
    let status = std::fs::read_to_string(format!("/proc/{pid}/status")).unwrap();
    let kib: u64 = status
        .lines()
        .find_map(|line| line.strip_prefix("VmRSS:"))
        .and_then(|value| value.split_whitespace().next())
        .and_then(|kib| kib.parse().ok())
        .expect("VmRSS in /proc/<pid>/status");
    kib * 1024
}

#[cfg(target_os = "linux")]
#[tokio::test]
async fn three_hundred_stalled_unauthenticated_uploads_hold_no_memory() {
    const UPLOADS: usize = 300;
    const MEMORY_LIMIT: u64 = 100 * 1024 * 1024;
    for backend in Backend::all() {
        let database = TestDatabase::create(&backend).await;
        let env = [
            ("DATABASE_URL", database.url.as_str()),
            ("AUTH_JWT_SECRET", SECRET),
            ("AUTH_ISSUER", ISSUER),
            ("REQUEST_TIMEOUT_MS", "60000"),
        ];
        let (server, address, mut log) = start_server_process(&env, |_| {}).await;
        // Its log is read, so that the server never waits for the pipe.
        tokio::spawn(async move { while let Ok(Some(_)) = log.next_line().await {} });
        let pid = server.id().unwrap();
        let before = resident_bytes(pid);
        let user = Uuid::new_v4();
        let head = request_head("POST", &format!("/users/{user}/tasks"), None, 1 << 20, "");
        let first_bytes = format!("{{\"title\": \"{}", "a".repeat(4 * 1024));
        let mut stalled = Vec::with_capacity(UPLOADS);
        for _ in 0..UPLOADS {
            let mut stream = send_head(&address, &head).await;
            // The first few KB of the body; the rest never comes.
            let _ = stream.write_all(first_bytes.as_bytes()).await;
            stalled.push(stream);
        }
        let mut refused = 0;
        for stream in &mut stalled {
            let answer = read_answer(stream, Duration::from_secs(5)).await;
            refused += usize::from(answer.starts_with("HTTP/1.1 401"));
        }
        let during = resident_bytes(pid);
        eprintln!(
            "{backend:?}: resident {} MiB before, {} MiB with {UPLOADS} stalled uploads",
            before >> 20,
            during >> 20
        );
        assert_eq!(refused, UPLOADS, "every upload is refused from its head");
        assert!(during < MEMORY_LIMIT, "{} MiB resident", during >> 20);
        drop(stalled);
    }
}
