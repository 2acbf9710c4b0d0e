//! Start-up, migrations, configuration, shutdown: the server as a process and as a library.

use std::process::Command;
use std::time::Duration;

use reqwest::StatusCode;
use serde_json::json;
use task_api::db::{Database, DatabaseTarget, MigrationCommand};
use task_api::startup::{self, Application, PingFailure, StartupError};
use task_api::tokens::TokenKey;
use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::TcpStream;

use crate::helpers::{
    each_database, earlier_release, expect_error, expect_invalid, expect_json, http_client,
    postgres_database, remove_sqlite_files, server_command, shared_database, start_server_process,
    test_routes, Backend, TestApp, TestDatabase,
};

#[tokio::test]
async fn two_servers_started_at_once_both_migrate_and_serve() {
    for backend in Backend::all() {
        eprintln!("--- on {backend:?}");
        let (_database, config, file) = shared_database(&backend).await;
        let (first, second) = tokio::join!(
            Application::build(&config, test_routes()),
            Application::build(&config, test_routes())
        );
        let (first, second) = (first.expect("first server"), second.expect("second server"));
        let addresses = [first.port(), second.port()].map(|p| format!("http://127.0.0.1:{p}"));
        tokio::spawn(first.run_until(std::future::pending()));
        tokio::spawn(second.run_until(std::future::pending()));
        let client = http_client();
        let created = client
            .post(format!("{}/users", addresses[0]))
            .send()
            .await
            .unwrap();
        let user = expect_json(created, StatusCode::CREATED).await;
        let read = client
            .get(format!(
                "{}/users/{}",
                addresses[1],
                user["id"].as_str().unwrap()
            ))
            .send()
            .await
            .unwrap();
        assert_eq!(expect_json(read, StatusCode::OK).await, user);
        // Concurrent writes through both instances are all there.
        let user_id = user["id"].as_str().unwrap().to_owned();
        let writes: Vec<_> = (0..80)
            .map(|i| {
                let (client, address) = (client.clone(), addresses[i % 2].clone());
                let path = format!("{address}/users/{user_id}/tasks");
                tokio::spawn(async move {
                    let body = json!({ "title": format!("through {address} #{i}") });
                    client.post(path).json(&body).send().await.unwrap().status()
                })
            })
            .collect();
        let mut statuses = Vec::new();
        for write in writes {
            statuses.push(write.await.unwrap());
        }
        assert!(
            statuses.iter().all(|s| *s == StatusCode::CREATED),
            "{statuses:?}"
        );
        let listed = client
            .get(format!("{}/users/{user_id}/tasks?limit=100", addresses[1]))
            .send()
            .await
            .unwrap();
        let page = expect_json(listed, StatusCode::OK).await;
        assert_eq!(page["items"].as_array().unwrap().len(), 80);
        remove_sqlite_files(file);
    }
}

#[tokio::test]
async fn a_cursor_works_on_every_instance_with_the_same_cursor_secret_only() {
    for backend in Backend::all() {
        eprintln!("--- on {backend:?}");
        let (_database, mut config, file) = shared_database(&backend).await;
        config.token_key = Some(TokenKey::from_secret(&"s".repeat(32)).unwrap());
        let first = TestApp::spawn(config.clone()).await;
        let twin = TestApp::spawn(config.clone()).await;
        config.token_key = Some(TokenKey::from_secret(&"t".repeat(32)).unwrap());
        let stranger = TestApp::spawn(config).await;

        let user_id = first.create_user().await;
        for title in ["a", "b", "c"] {
            first.create_titled(user_id, title).await;
        }
        let list = format!("/users/{user_id}/tasks?limit=2&sort=title");
        let page = first.get_ok(&list).await;
        let cursor = page["next_cursor"].as_str().unwrap();
        let next = twin.get_ok(&format!("{list}&cursor={cursor}")).await;
        assert_eq!(next["items"][0]["title"], "c");
        expect_invalid(
            stranger.get(&format!("{list}&cursor={cursor}")).await,
            &[("cursor", "query")],
        )
        .await;
        remove_sqlite_files(file);
    }
}

#[tokio::test]
async fn migrations_go_down_and_up_again() {
    for backend in Backend::all() {
        eprintln!("--- on {backend:?}");
        let database = TestDatabase::create(&backend).await;
        let config = database.config();
        let app = Application::build(&config, test_routes()).await.unwrap();
        let db = app.db().clone();
        let address = format!("http://127.0.0.1:{}", app.port());
        tokio::spawn(app.run_until(std::future::pending()));
        let client = http_client();
        let create_user = || client.post(format!("{address}/users")).send();

        expect_json(create_user().await.unwrap(), StatusCode::CREATED).await;
        // Down reverts one migration at a time, the newest first; the tables serve until the
        // first migration, which made them, is reverted.
        for _ in 1..<migration::Migrator as migration::MigratorTrait>::migrations().len() {
            startup::migrate(&config, &db, MigrationCommand::Down)
                .await
                .unwrap();
            expect_json(create_user().await.unwrap(), StatusCode::CREATED).await;
        }
        startup::migrate(&config, &db, MigrationCommand::Down)
            .await
            .unwrap();
        // The tables are gone: the server answers 500, opaquely.
        let error = expect_error(
            create_user().await.unwrap(),
            StatusCode::INTERNAL_SERVER_ERROR,
            "INTERNAL_ERROR",
        )
        .await;
        assert!(
            !error.to_string().to_lowercase().contains("users"),
            "no SQL in {error}"
        );
        startup::migrate(&config, &db, MigrationCommand::Status)
            .await
            .unwrap();
        startup::migrate(&config, &db, MigrationCommand::Up)
            .await
            .unwrap();
        startup::migrate(&config, &db, MigrationCommand::Up)
            .await
            .unwrap();
        expect_json(create_user().await.unwrap(), StatusCode::CREATED).await;
    }
}

#[tokio::test]
async fn shutdown_lets_in_flight_requests_finish() {
    each_database(|mut app| async move {
        let slow = tokio::spawn({
            let client = app.client.clone();
            let url = app.url("/__extra/slow");
            async move { client.get(url).send().await }
        });
        tokio::time::sleep(Duration::from_millis(100)).await;
        app.shutdown.take().unwrap().send(()).unwrap();
        let response = slow
            .await
            .unwrap()
            .expect("the in-flight request is answered");
        assert_eq!(response.status(), StatusCode::OK);
        assert_eq!(response.text().await.unwrap(), "done");
        let health = app.url("/health");
        let served = tokio::time::timeout(Duration::from_secs(5), app.server).await;
        assert!(matches!(served, Ok(Ok(Ok(())))), "the server stops cleanly");
        assert!(
            app.client.get(health).send().await.is_err(),
            "no longer listening"
        );
    })
    .await;
}

#[tokio::test]
async fn bad_configuration_exits_non_zero_with_one_clear_line() {
    let busy = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
    let busy_port = busy.local_addr().unwrap().port().to_string();
    let cases = [
        (
            vec![("DATABASE_URL", "mysql://root@localhost/x")],
            "DATABASE_URL is invalid",
        ),
        (
            vec![("DATABASE_URL", "postgres://[::1")],
            "DATABASE_URL is invalid",
        ),
        (vec![("PORT", "eighty")], "PORT is invalid"),
        (
            vec![("DATABASE_MAX_CONNECTIONS", "0")],
            "DATABASE_MAX_CONNECTIONS is invalid",
        ),
        (
            vec![("PORT", busy_port.as_str())],
            "cannot listen on 127.0.0.1",
        ),
        (vec![("HOST", "0.0.0.0")], "authentication is off"),
        (
            vec![("AUTH_JWT_SECRET", "shorter than 32 bytes")],
            "AUTH_JWT_SECRET is invalid",
        ),
        (
            vec![("AUTH_JWKS_URL", "file:///etc/jwks.json")],
            "AUTH_JWKS_URL is invalid",
        ),
        (
            vec![(
                "AUTH_JWKS_URL",
                "https://idp.example.com/.well-known/jwks.json",
            )],
            "AUTH_ISSUER is required",
        ),
    ];
    let bad_dotenv = std::env::temp_dir().join(format!("taskapi-env-{}", uuid::Uuid::new_v4()));
    std::fs::create_dir_all(&bad_dotenv).unwrap();
    std::fs::write(
        bad_dotenv.join(".env"),
        "PORT=1\nthis line is not a variable\n",
    )
    .unwrap();
    let mut command = server_command(&[("DATABASE_URL", "sqlite::memory:")]);
    let output = command.current_dir(&bad_dotenv).output().await.unwrap();
    let stderr = String::from_utf8_lossy(&output.stderr);
    assert!(!output.status.success());
    assert_eq!(stderr.lines().count(), 1, "{stderr}");
    assert!(stderr.contains(".env is invalid"), "{stderr}");
    std::fs::remove_dir_all(&bad_dotenv).unwrap();

    for (vars, expected) in cases {
        let mut command = server_command(&[("DATABASE_URL", "sqlite::memory:"), ("LOG", "off")]);
        for (name, value) in &vars {
            command.env(name, value);
        }
        let output = command.output().await.unwrap();
        let stderr = String::from_utf8_lossy(&output.stderr);
        assert!(!output.status.success(), "{vars:?} must fail");
        assert_eq!(stderr.lines().count(), 1, "one line for {vars:?}: {stderr}");
        assert!(stderr.contains(expected), "{vars:?}: {stderr}");
        assert!(!stderr.contains("panicked"), "{stderr}");
    }
}

#[tokio::test]
async fn a_failed_start_says_which_step_failed() {
    let database = TestDatabase::create(&Backend::Sqlite).await;
    let taken = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
    let mut config = database.config();
    config.port = taken.local_addr().unwrap().port();
    let failure = Application::build(&config, test_routes()).await.err();
    let taken_address = format!("127.0.0.1:{}", config.port);
    assert!(
        matches!(&failure, Some(StartupError::Listen { address, .. }) if *address == taken_address),
        "{failure:?}"
    );

    // Port 9 (discard) on loopback: nothing listens, connections are refused.
    let away = DatabaseTarget::parse("postgres://nobody@127.0.0.1:9/none").unwrap();
    config.port = 0;
    config.database = away.clone();
    config.database_acquire_timeout = Duration::from_millis(200);
    config.startup_database_wait = Duration::from_secs(2);
    let failure = Application::build(&config, test_routes()).await.err();
    assert!(
        matches!(
            &failure,
            Some(StartupError::DatabaseAway { attempts, last: PingFailure::Error(_), .. })
                if *attempts >= 2
        ),
        "{failure:?}"
    );

    let mut config = database.config();
    config.migration_database = Some(away);
    config.database_acquire_timeout = Duration::from_secs(1);
    let server_db = Database::new(config.database.connect(1, config.database_acquire_timeout));
    let failure = startup::migrate(&config, &server_db, MigrationCommand::Up).await;
    assert!(
        matches!(failure, Err(StartupError::Migration(_))),
        "{failure:?}"
    );
}

/// Starts a request whose body is only half sent: it is in flight until the rest follows.
async fn half_sent_request(address: &str, user_id: &str, title: &str) -> TcpStream {
    let host = address.trim_start_matches("http://");
    let body = format!(r#"{{"title":"{title}"}}"#);
    let (first_half, _) = body.split_at(body.len() / 2);
    let mut stream = TcpStream::connect(host).await.unwrap();
    let head = format!(
        "POST /users/{user_id}/tasks HTTP/1.1\r\nHost: {host}\r\nContent-Type: application/json\r\nContent-Length: {}\r\n\r\n{first_half}",
        body.len()
    );
    stream.write_all(head.as_bytes()).await.unwrap();
    stream
}

#[tokio::test]
async fn sigterm_finishes_in_flight_requests_and_exits_zero() {
    for backend in Backend::all() {
        eprintln!("--- on {backend:?}");
        let database = TestDatabase::create(&backend).await;
        let (mut child, address, mut log) =
            start_server_process(&[("DATABASE_URL", &database.url)], |_| {}).await;
        let client = http_client();
        let user = expect_json(
            client
                .post(format!("{address}/users"))
                .send()
                .await
                .unwrap(),
            StatusCode::CREATED,
        )
        .await;
        let user_id = user["id"].as_str().unwrap();
        // Keep reading the log (a line per request): a full pipe would stall the server.
        let drain = tokio::spawn(async move {
            let mut lines = Vec::new();
            while let Ok(Some(line)) = log.next_line().await {
                lines.push(line);
            }
            lines
        });
        let mut in_flight = Vec::new();
        for i in 0..10 {
            in_flight.push(half_sent_request(&address, user_id, &format!("in flight {i}")).await);
        }
        // Load on kept-alive connections while SIGTERM arrives.
        let stop = std::sync::Arc::new(std::sync::atomic::AtomicBool::new(false));
        let load: Vec<_> = (0..4)
            .map(|worker| {
                let (client, stop) = (client.clone(), stop.clone());
                let path = format!("{address}/users/{user_id}/tasks");
                tokio::spawn(async move {
                    let (mut answered, mut refused) = (0, 0);
                    while !stop.load(std::sync::atomic::Ordering::SeqCst) {
                        let body = json!({ "title": format!("load {worker}") });
                        match client.post(&path).json(&body).send().await {
                            Ok(response) => {
                                assert_eq!(response.status(), StatusCode::CREATED);
                                answered += 1;
                            }
                            // After SIGTERM: the connection closes, new ones are refused.
                            Err(_) => refused += 1,
                        }
                    }
                    (answered, refused)
                })
            })
            .collect();
        tokio::time::sleep(Duration::from_millis(200)).await;
        let pid = child.id().unwrap().to_string();
        assert!(Command::new("kill")
            .args(["-TERM", &pid])
            .status()
            .unwrap()
            .success());
        tokio::time::sleep(Duration::from_millis(300)).await;
        // New connections are refused once shutdown began.
        let host = address.trim_start_matches("http://").to_owned();
        let deadline = std::time::Instant::now() + Duration::from_secs(2);
        while TcpStream::connect(&host).await.is_ok() {
            assert!(
                std::time::Instant::now() < deadline,
                "still accepting after SIGTERM"
            );
            tokio::time::sleep(Duration::from_millis(50)).await;
        }
        // Every request in flight completes with its normal answer.
        for (i, mut stream) in in_flight.into_iter().enumerate() {
            let body = format!(r#"{{"title":"in flight {i}"}}"#);
            stream
                .write_all(&body.as_bytes()[body.len() / 2..])
                .await
                .unwrap();
            let mut answer = String::new();
            stream.read_to_string(&mut answer).await.unwrap();
            assert!(answer.starts_with("HTTP/1.1 201"), "request {i}: {answer}");
            assert!(answer.contains(&format!("in flight {i}")), "{answer}");
        }
        let status = tokio::time::timeout(Duration::from_secs(10), child.wait())
            .await
            .unwrap()
            .unwrap();
        assert_eq!(status.code(), Some(0));
        stop.store(true, std::sync::atomic::Ordering::SeqCst);
        let (mut answered, mut refused) = (0, 0);
        for worker in load {
            let (a, r) = worker.await.unwrap();
            answered += a;
            refused += r;
        }
        eprintln!(
            "SIGTERM: 10 half-sent requests in flight, all answered 201; load: {answered} answered \
             201, {refused} refused after shutdown began, 0 other answers"
        );
        for line in drain.await.unwrap() {
            assert!(!line.contains("ERROR"), "{line}");
        }
    }
}

#[tokio::test]
async fn a_neon_style_url_connects_unchanged() {
    let Some(Backend::Postgres(admin_url)) = Backend::all().into_iter().nth(1) else {
        eprintln!("PostgreSQL only: set TEST_DATABASE_URL");
        return;
    };
    let database = TestDatabase::create(&Backend::Postgres(admin_url)).await;
    let separator = if database.url.contains('?') { '&' } else { '?' };
    let neon_style = format!(
        "{}{separator}sslmode=require&channel_binding=require",
        database.url
    );
    let mut config = database.config();
    config.database = DatabaseTarget::parse(&neon_style).unwrap();
    let app = TestApp::spawn(config).await;
    app.get_ok("/ready").await;
    let user_id = app.create_user().await;
    app.create_titled(user_id, "over TLS").await;
    // The connection really is encrypted.
    let db = task_api::db::DatabaseTarget::parse(&neon_style)
        .unwrap()
        .connect(1, Duration::from_secs(5));
    use sea_orm::ConnectionTrait;
    let row = db
        .query_one(sea_orm::Statement::from_string(
            db.get_database_backend(),
            "SELECT ssl FROM pg_stat_ssl WHERE pid = pg_backend_pid()",
        ))
        .await
        .unwrap()
        .unwrap();
    assert!(
        row.try_get::<bool>("", "ssl").unwrap(),
        "the connection uses TLS"
    );
}

#[tokio::test]
async fn title_search_gets_a_trigram_index_where_pg_trgm_can_be_created_and_works_where_not() {
    use sea_orm::{ConnectionTrait, Statement};
    let Some(database) = postgres_database().await else {
        return;
    };
    let has_index = |url: String| async move {
        let db = sea_orm::Database::connect(&url).await.unwrap();
        let row = db
            .query_one(Statement::from_string(
                sea_orm::DatabaseBackend::Postgres,
                "SELECT count(*) AS n FROM pg_indexes WHERE indexname = 'idx_tasks_title_trigram'",
            ))
            .await
            .unwrap()
            .unwrap();
        db.close().await.unwrap();
        row.try_get::<i64>("", "n").unwrap() == 1
    };
    let app = TestApp::spawn(database.config()).await;
    drop(app);
    assert!(
        has_index(database.url.clone()).await,
        "pg_trgm creatable: indexed"
    );

    // A role that may create tables but not extensions (no CREATE on the database).
    let restricted = postgres_database().await.expect("PostgreSQL is there");
    let role = format!("taskapi_{}", uuid::Uuid::new_v4().simple());
    let admin = sea_orm::Database::connect(&restricted.url).await.unwrap();
    for statement in [
        format!("CREATE ROLE {role} LOGIN"),
        format!("GRANT ALL ON SCHEMA public TO {role}"),
    ] {
        admin.execute_unprepared(&statement).await.unwrap();
    }
    let as_role = restricted.url.replacen("postgres@", &format!("{role}@"), 1);
    assert_ne!(
        as_role, restricted.url,
        "TEST_DATABASE_URL names user postgres"
    );
    let mut config = restricted.config();
    config.database = task_api::db::DatabaseTarget::parse(&as_role).unwrap();
    let app = TestApp::spawn(config).await;
    let user_id = app.create_user().await;
    app.create_titled(user_id, "100% sure_thing").await;
    app.create_titled(user_id, "100 percent").await;
    let page = app
        .get_ok(&format!("/users/{user_id}/tasks?q=0%25%20SURE_"))
        .await;
    assert_eq!(page["items"].as_array().unwrap().len(), 1, "{page}");
    assert!(
        !has_index(restricted.url.clone()).await,
        "no pg_trgm: no index"
    );
    drop(app);
    admin
        .execute_unprepared(&format!("DROP OWNED BY {role} CASCADE"))
        .await
        .unwrap();
    admin.close().await.unwrap();
    drop(restricted);
    let cleanup = sea_orm::Database::connect(&database.url).await.unwrap();
    cleanup
        .execute_unprepared(&format!("DROP ROLE IF EXISTS {role}"))
        .await
        .unwrap();
    cleanup.close().await.unwrap();
}

#[tokio::test]
async fn tasks_made_before_the_versions_migration_get_versions_in_the_order_they_changed() {
    use chrono::{Duration as Span, TimeZone, Utc};
    use sea_orm::sea_query::Query;
    use sea_orm::{ConnectionTrait, StatementBuilder};
    use task_api::entity::task;
    use uuid::Uuid;

    for backend in Backend::all() {
        eprintln!("--- on {backend:?}");
        let (_database, config, file) = shared_database(&backend).await;
        // The schema of the release before versions, and tasks it made: the second one changed
        // last, the third first.
        let (owner, other) = (Uuid::new_v4(), Uuid::new_v4());
        let at = |minutes| Utc.timestamp_opt(1_700_000_000, 0).unwrap() + Span::minutes(minutes);
        let previous = earlier_release(&config, 3, &[owner, other], at(0)).await;
        let backend_of = previous.get_database_backend();
        let tasks = [(owner, 2), (owner, 9), (owner, 1), (other, 5)]
            .map(|(user_id, changed)| (Uuid::new_v4(), user_id, at(changed)));
        let mut insert = Query::insert();
        insert.into_table(task::Entity).columns([
            task::Column::Id,
            task::Column::UserId,
            task::Column::Title,
            task::Column::IsCompleted,
            task::Column::CreatedAt,
            task::Column::UpdatedAt,
        ]);
        for (id, user_id, changed) in tasks {
            insert.values_panic([
                id.into(),
                user_id.into(),
                "made before".into(),
                false.into(),
                at(0).into(),
                changed.into(),
            ]);
        }
        previous
            .execute(StatementBuilder::build(&insert, &backend_of))
            .await
            .unwrap();
        previous.close().await.unwrap();

        // The new release migrates on start: versions 1, 2, 3 per user in that order, and the
        // counter goes on from the last.
        let app = TestApp::spawn(config).await;
        let version = |n: usize| {
            let (id, user_id, _) = tasks[n];
            let app = &app;
            async move {
                app.get_ok(&format!("/users/{user_id}/tasks/{id}")).await["version"]
                    .as_i64()
                    .unwrap()
            }
        };
        assert_eq!(
            [
                version(0).await,
                version(1).await,
                version(2).await,
                version(3).await
            ],
            [2, 3, 1, 1]
        );
        assert_eq!(app.create_titled(owner, "made after").await["version"], 4);
        let feed = app.get_ok(&format!("/users/{owner}/changes")).await;
        assert_eq!(feed["changes"].as_array().unwrap().len(), 4);
        remove_sqlite_files(file);
    }
}
