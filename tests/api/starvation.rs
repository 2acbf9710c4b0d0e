//! No client can starve the server: slow request heads, clients that do not read, heavy
//! searches, and a write-ahead log that would grow without bound.

use std::time::{Duration, Instant};

use reqwest::StatusCode;
use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::TcpStream;

use crate::helpers::{each_database, Backend, TestApp, TestDatabase};

/// Connects to the app without sending anything.
async fn connect(app: &TestApp) -> TcpStream {
    TcpStream::connect(app.address.trim_start_matches("http://"))
        .await
        .unwrap()
}

/// Reads until the server closes the connection (or `patience` passes); returns what it sent.
async fn read_until_closed(stream: &mut TcpStream, patience: Duration) -> Option<Vec<u8>> {
    let mut answer = Vec::new();
    let mut chunk = [0u8; 16 * 1024];
    let deadline = Instant::now() + patience;
    loop {
        let left = deadline.saturating_duration_since(Instant::now());
        match tokio::time::timeout(left, stream.read(&mut chunk)).await {
            Ok(Ok(0)) | Ok(Err(_)) => return Some(answer),
            Ok(Ok(n)) => answer.extend_from_slice(&chunk[..n]),
            Err(_) => return None,
        }
    }
}

#[tokio::test]
async fn a_request_head_trickling_in_is_cut_off_at_the_head_timeout() {
    for backend in Backend::all() {
        eprintln!("--- on {backend:?}");
        let database = TestDatabase::create(&backend).await;
        let mut config = database.config();
        config.http.request_head_timeout = Duration::from_secs(1);
        let app = TestApp::spawn(config).await;
        let mut stream = connect(&app).await;
        let started = Instant::now();
        stream
            .write_all(b"GET /health HTTP/1.1\r\nHost: x\r\n")
            .await
            .unwrap();
        // A header line every 200 ms: the head would never end.
        let closed_after = loop {
            tokio::time::sleep(Duration::from_millis(200)).await;
            if stream.write_all(b"X-Slow: yes\r\n").await.is_err() {
                break started.elapsed();
            }
            let mut byte = [0u8; 1];
            match tokio::time::timeout(Duration::from_millis(1), stream.read(&mut byte)).await {
                Ok(Ok(0)) | Ok(Err(_)) => break started.elapsed(),
                _ if started.elapsed() > Duration::from_secs(5) => panic!("still open after 5 s"),
                _ => {}
            }
        };
        assert!(
            closed_after >= Duration::from_millis(900) && closed_after < Duration::from_secs(3),
            "closed after {closed_after:?}"
        );
        // Real requests were served all along.
        assert_eq!(app.get("/health").await.status(), StatusCode::OK);
    }
}

#[tokio::test]
async fn slow_heads_do_not_hold_up_shutdown() {
    let database = TestDatabase::create(&Backend::Sqlite).await;
    let mut config = database.config();
    config.shutdown_grace = Duration::from_secs(20);
    let mut app = TestApp::spawn(config).await;
    let mut slow = Vec::new();
    for _ in 0..50 {
        let mut stream = connect(&app).await;
        stream
            .write_all(b"GET /health HTTP/1.1\r\nHost: x\r\n")
            .await
            .unwrap();
        slow.push(stream);
    }
    assert_eq!(app.get("/health").await.status(), StatusCode::OK);
    let started = Instant::now();
    app.shutdown.take().unwrap().send(()).unwrap();
    (&mut app.server).await.unwrap().unwrap();
    assert!(
        started.elapsed() < Duration::from_secs(3),
        "shut down in {:?} (grace 20 s)",
        started.elapsed()
    );
}

#[tokio::test]
async fn refusals_hyper_answers_itself_are_counted_in_the_metrics() {
    each_database(|app| async move {
        for (head, status) in [
            (
                "GET /health HTTP/1.1\r\nHost: x\r\nBad Header\r\n\r\n".to_owned(),
                "400",
            ),
            (
                format!(
                    "GET /health HTTP/1.1\r\nHost: x\r\nX-Big: {}\r\n\r\n",
                    "a".repeat(500_000)
                ),
                "431",
            ),
        ] {
            let mut stream = connect(&app).await;
            let _ = stream.write_all(head.as_bytes()).await;
            let answer = read_until_closed(&mut stream, Duration::from_secs(5))
                .await
                .expect("closed");
            let answer = String::from_utf8_lossy(&answer).into_owned();
            assert!(
                answer.starts_with(&format!("HTTP/1.1 {status}")),
                "{answer}"
            );
        }
        let metrics = app.get("/metrics").await.text().await.unwrap();
        for reason in ["unparsable_head", "head_too_large"] {
            assert!(
                metrics.contains(&format!(
                    r#"http_connection_errors_total{{reason="{reason}"}}"#
                )),
                "{reason} in\n{metrics}"
            );
        }
    })
    .await;
}
