//! No client can starve the server: slow request heads, clients that do not read, heavy
//! searches, and a write-ahead log that would grow without bound.

use std::time::{Duration, Instant};

use reqwest::StatusCode;
use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::TcpStream;

use serde_json::json;

use crate::helpers::{
    each_database, open_transaction, postgres_database, remove_sqlite_files, shared_database,
    start_server_process, within, Backend, TestApp, TestDatabase,
};

/// Connects to the app without sending anything.
async fn connect(app: &TestApp) -> TcpStream {
    TcpStream::connect(app.address.trim_start_matches("http://"))
        .await
        .unwrap()
}

/// Reads until the server closes the connection (or `patience` passes); returns what it sent.
async fn read_until_closed(
    stream: &mut (impl AsyncReadExt + Unpin),
    patience: Duration,
) -> Option<Vec<u8>> {
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
            // Read while writing: the answer arrives before the whole head has been sent.
            let (mut reading, mut writing) = connect(&app).await.into_split();
            let (_, answer) = tokio::join!(
                writing.write_all(head.as_bytes()),
                read_until_closed(&mut reading, Duration::from_secs(5))
            );
            let answer = answer.expect("closed");
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

/// The resident memory of a process, in bytes.
fn resident_bytes(pid: u32) -> u64 {
    let status = std::fs::read_to_string(format!("/proc/{pid}/status")).unwrap();
    let line = status
        .lines()
        .find(|line| line.starts_with("VmRSS:"))
        .unwrap();
    let kib: u64 = line.split_whitespace().nth(1).unwrap().parse().unwrap();
    kib * 1024
}

#[tokio::test]
async fn swagger_ui_for_300_clients_that_do_not_read_shares_one_buffer() {
    // Request lines off: nobody reads this process's log, and a full pipe would stop it.
    let (child, address, _log) = start_server_process(
        &[
            ("DATABASE_URL", "sqlite::memory:"),
            ("LOG", "info,task_api::request=warn"),
        ],
        |_| {},
    )
    .await;
    let pid = child.id().unwrap();
    let page = reqwest::get(format!("{address}/docs")).await.unwrap();
    let page_len = page.bytes().await.unwrap().len() as u64;
    assert!(page_len > 1_000_000, "{page_len}");
    let before = resident_bytes(pid);
    let mut readers = Vec::new();
    for _ in 0..300 {
        let mut stream = TcpStream::connect(address.trim_start_matches("http://"))
            .await
            .unwrap();
        stream
            .write_all(b"GET /docs HTTP/1.1\r\nHost: x\r\n\r\n")
            .await
            .unwrap();
        readers.push(stream);
    }
    // Every answer has been started; none is read.
    tokio::time::sleep(Duration::from_secs(2)).await;
    let grown = resident_bytes(pid).saturating_sub(before);
    eprintln!(
        "300 slow readers of a {page_len}-byte page: resident memory {} -> {} MiB",
        before >> 20,
        (before + grown) >> 20
    );
    assert!(
        grown < 64 << 20,
        "grew by {} MiB (a copy per reader would be {} MiB)",
        grown >> 20,
        (300 * page_len) >> 20
    );
    let health = reqwest::get(format!("{address}/health")).await.unwrap();
    assert_eq!(health.status(), StatusCode::OK);
    drop(readers);
}

#[tokio::test]
async fn documents_and_large_json_answers_are_compressed_for_clients_that_accept_it() {
    use std::io::Read;
    each_database(|app| async move {
        let identity = app.get("/docs").await.bytes().await.unwrap();
        let user_id = app.create_user().await;
        for n in 0..40 {
            app.create_titled(user_id, &format!("a task title long enough {n}"))
                .await;
        }
        let page_path = format!("/users/{user_id}/tasks?limit=40");
        let page = app.get(&page_path).await.bytes().await.unwrap();
        for (path, plain) in [("/docs", &identity), (page_path.as_str(), &page)] {
            for coding in ["br", "gzip"] {
                let response = app
                    .client
                    .get(app.url(path))
                    .header("accept-encoding", coding)
                    .send()
                    .await
                    .unwrap();
                assert_eq!(response.status(), StatusCode::OK);
                assert_eq!(response.headers()["content-encoding"], coding, "{path}");
                assert!(response.headers()["vary"]
                    .to_str()
                    .unwrap()
                    .contains("Accept-Encoding"));
                let compressed = response.bytes().await.unwrap();
                assert!(compressed.len() < plain.len() / 2, "{path} {coding}");
                let mut decoded = Vec::new();
                match coding {
                    "br" => brotli::Decompressor::new(&compressed[..], 4096)
                        .read_to_end(&mut decoded)
                        .unwrap(),
                    _ => flate2::read::GzDecoder::new(&compressed[..])
                        .read_to_end(&mut decoded)
                        .unwrap(),
                };
                assert_eq!(&decoded[..], &plain[..], "{path} {coding}");
            }
        }
        // Small answers, and clients that ask for nothing, get the plain bytes.
        let small = app
            .client
            .get(app.url("/health"))
            .header("accept-encoding", "gzip")
            .send()
            .await
            .unwrap();
        assert!(small.headers().get("content-encoding").is_none());
        let plain = app.get(&page_path).await;
        assert!(plain.headers().get("content-encoding").is_none());
    })
    .await;
}

#[tokio::test]
async fn sqlites_write_ahead_log_stays_bounded_under_sustained_load() {
    use sea_orm::{ConnectionTrait, TransactionTrait};
    use std::sync::atomic::{AtomicBool, Ordering};
    use std::sync::Arc;
    let (database, mut config, file) = shared_database(&Backend::Sqlite).await;
    // One user's sustained writes: no rate binds.
    config.user_limits.writes_per_minute = std::num::NonZeroU32::MAX;
    let wal = format!("{}-wal", file.as_ref().unwrap().display());
    let app = Arc::new(TestApp::spawn(config).await);
    let user_id = app.create_user().await;
    let stop = Arc::new(AtomicBool::new(false));
    // Two readers of their own whose read transactions always overlap, as a steady stream of
    // requests' do: SQLite's own checkpoints can then never restart the log.
    let readers: Vec<_> = (0..2u64)
        .map(|reader| {
            let (url, stop) = (database.url.clone(), stop.clone());
            tokio::spawn(async move {
                let db = task_api::db::DatabaseTarget::parse(&url)
                    .unwrap()
                    .connect(1, Duration::from_secs(5));
                tokio::time::sleep(Duration::from_millis(100 * reader)).await;
                while !stop.load(Ordering::SeqCst) {
                    let read = db.begin().await.unwrap();
                    read.execute_unprepared("SELECT count(*) FROM tasks")
                        .await
                        .unwrap();
                    tokio::time::sleep(Duration::from_millis(200)).await;
                    read.commit().await.unwrap();
                }
            })
        })
        .collect();
    let writers: Vec<_> = (0..2)
        .map(|_| {
            let (app, user_id, stop) = (app.clone(), user_id, stop.clone());
            tokio::spawn(async move {
                let mut writes = 0;
                while !stop.load(Ordering::SeqCst) {
                    let description = "d".repeat(10_000);
                    app.create_task(user_id, json!({ "title": "w", "description": description }))
                        .await;
                    writes += 1;
                }
                writes
            })
        })
        .collect();
    let mut largest = 0;
    for _ in 0..32 {
        tokio::time::sleep(Duration::from_millis(250)).await;
        largest = largest.max(std::fs::metadata(&wal).map_or(0, |meta| meta.len()));
    }
    stop.store(true, Ordering::SeqCst);
    let mut writes = 0;
    for writer in writers {
        writes += writer.await.unwrap();
    }
    for reader in readers {
        reader.await.unwrap();
    }
    let database_size = std::fs::metadata(file.as_ref().unwrap()).unwrap().len();
    eprintln!(
        "{writes} writes of 10 KB in 8 s: database {} KiB, largest write-ahead log {} KiB",
        database_size >> 10,
        largest >> 10
    );
    assert!(
        largest <= task_api::db::WAL_SIZE_LIMIT_BYTES,
        "the log reached {} KiB",
        largest >> 10
    );
    remove_sqlite_files(file);
}

#[tokio::test]
async fn a_reader_keeping_an_old_snapshot_holds_no_writer_past_its_wait() {
    use std::sync::atomic::{AtomicBool, Ordering};
    use std::sync::Arc;
    // Writers give up on SQLite's lock after 2 s; the reader below keeps its snapshot twice as
    // long after the log has grown past the size the checkpointer truncates it at.
    let writers_wait = Duration::from_secs(2);
    let (database, mut config, file) = shared_database(&Backend::Sqlite).await;
    config.user_limits.writes_per_minute = std::num::NonZeroU32::MAX;
    config.database = config.database.with_statement_timeout(writers_wait);
    let wal = format!("{}-wal", file.as_ref().unwrap().display());
    let wal_size = || std::fs::metadata(&wal).map_or(0, |meta| meta.len());
    let app = Arc::new(TestApp::spawn(config).await);
    let user_id = app.create_user().await;
    let (_reader, snapshot) =
        open_transaction(&database.url, &["SELECT count(*) FROM tasks".to_owned()]).await;
    let stop = Arc::new(AtomicBool::new(false));
    let writers: Vec<_> = (0..2)
        .map(|_| {
            let (app, stop) = (app.clone(), stop.clone());
            tokio::spawn(async move {
                let mut refused = Vec::new();
                while !stop.load(Ordering::SeqCst) {
                    let body = json!({ "title": "w", "description": "d".repeat(10_000) });
                    let response = app
                        .post_json(&format!("/users/{user_id}/tasks"), &body)
                        .await;
                    if response.status() != StatusCode::CREATED {
                        refused.push((response.status(), response.text().await.unwrap()));
                    }
                }
                refused
            })
        })
        .collect();
    // Past about 1,000 pages of 4 KiB, truncations are tried, and each waits for the reader.
    let grown = within(Duration::from_secs(60), || async { wal_size() >= 5 << 20 }).await;
    if grown {
        tokio::time::sleep(writers_wait * 2).await;
    }
    let held = wal_size();
    snapshot.commit().await.unwrap();
    // With the reader gone, the next truncation finishes.
    let truncated = within(Duration::from_secs(10), || async { wal_size() < held / 4 }).await;
    stop.store(true, Ordering::SeqCst);
    for writer in writers {
        let refused = writer.await.unwrap();
        assert!(
            refused.is_empty(),
            "{} writes refused, the first: {:?}",
            refused.len(),
            refused.first()
        );
    }
    assert!(grown, "the log did not grow: {} KiB", held >> 10);
    assert!(truncated, "the log stayed at {} KiB", wal_size() >> 10);
    remove_sqlite_files(file);
}

#[tokio::test]
async fn one_users_heavy_searches_run_one_at_a_time() {
    use sea_orm::{ConnectionTrait, Statement};
    let Some(database) = postgres_database().await else {
        return;
    };
    let mut config = database.config();
    config.database_max_connections = 4;
    let app = std::sync::Arc::new(TestApp::spawn(config).await);
    let searcher = app.create_user().await;
    let other = app.create_user().await;
    let task = app.create_titled(other, "someone else's").await;
    let other_task = format!("/users/{other}/tasks/{}", task["id"].as_str().unwrap());
    let admin = sea_orm::Database::connect(&database.url).await.unwrap();
    admin
        .execute_unprepared(&format!(
            "INSERT INTO tasks (id, user_id, title, is_completed, created_at, updated_at) \
             SELECT gen_random_uuid(), '{searcher}', 'task ' || n, false, now(), now() \
             FROM generate_series(1, 200000) AS n"
        ))
        .await
        .unwrap();
    // Two letters: too short for the trigram index, so every search reads all 200,000 tasks.
    let searches: Vec<_> = (0..12)
        .map(|_| {
            let (app, searcher) = (app.clone(), searcher);
            tokio::spawn(async move {
                for _ in 0..4 {
                    let page = app.get_ok(&format!("/users/{searcher}/tasks?q=zz")).await;
                    assert_eq!(page["items"], serde_json::json!([]));
                }
            })
        })
        .collect();
    let mut most = 0i64;
    while !searches.iter().all(|search| search.is_finished()) {
        let row = admin
            .query_one(Statement::from_string(
                sea_orm::DatabaseBackend::Postgres,
                "SELECT count(*) AS n FROM pg_stat_activity \
                 WHERE state = 'active' AND query ILIKE '%like lower(%' \
                 AND pid <> pg_backend_pid()",
            ))
            .await
            .unwrap()
            .unwrap();
        most = most.max(row.try_get::<i64>("", "n").unwrap());
        // Another user's reads go on meanwhile.
        assert_eq!(app.get(&other_task).await.status(), StatusCode::OK);
    }
    for search in searches {
        search.await.unwrap();
    }
    eprintln!("one user's searches running at once: at most {most} (a pool of 4)");
    assert_eq!(most, 1, "{most} searches at once");
    admin.close().await.unwrap();
}
