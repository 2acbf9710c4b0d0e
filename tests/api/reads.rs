//! Single task reads that arrive together: each is answered as if it came alone (its task, 404
//! `TASK_NOT_FOUND` for another user's or a missing one, 404 `USER_NOT_FOUND` for an unknown
//! owner), and on PostgreSQL they are read together, in fewer statements than there were reads;
//! a read that no reader takes in time (the database holding them up) gives up as a wait for a
//! connection does.

use std::sync::Arc;
use std::time::{Duration, Instant};

use futures_util::future::join_all;
use reqwest::StatusCode;
use serde_json::Value;
use uuid::Uuid;

use crate::helpers::*;

/// What a read must be answered.
enum Expected {
    Task(Value),
    TaskNotFound,
    UserNotFound,
}

/// Reads of two users' tasks, each asked for twice, by its owner, by the other user, under an
/// unknown owner, and a missing task of its owner.
async fn mixed_reads(app: &TestApp) -> Vec<(String, Expected)> {
    let (alice, bob) = (app.create_user().await, app.create_user().await);
    let mut reads = Vec::new();
    for round in 0..4 {
        for (owner, other) in [(alice, bob), (bob, alice)] {
            let task = app.create_titled(owner, &format!("task {round}")).await;
            let id = id_of(&task);
            let own = format!("/users/{owner}/tasks/{id}");
            reads.push((own.clone(), Expected::Task(task.clone())));
            reads.push((own, Expected::Task(task)));
            reads.push((format!("/users/{other}/tasks/{id}"), Expected::TaskNotFound));
            let stranger = Uuid::new_v4();
            reads.push((
                format!("/users/{stranger}/tasks/{id}"),
                Expected::UserNotFound,
            ));
            let missing = Uuid::new_v4();
            reads.push((
                format!("/users/{owner}/tasks/{missing}"),
                Expected::TaskNotFound,
            ));
        }
    }
    reads
}

/// Sends every read at once and checks each answer.
async fn read_at_once(app: &TestApp, reads: &[(String, Expected)]) {
    let answers = join_all(reads.iter().map(|(path, _)| app.get(path))).await;
    for ((path, expected), answer) in reads.iter().zip(answers) {
        match expected {
            Expected::Task(task) => {
                let etag = answer.headers()["etag"].to_str().unwrap().to_owned();
                assert_eq!(etag, format!("\"{}\"", task["version"]), "{path}");
                assert_eq!(&expect_json(answer, StatusCode::OK).await, task, "{path}");
            }
            Expected::TaskNotFound => {
                expect_error(answer, StatusCode::NOT_FOUND, "TASK_NOT_FOUND").await;
            }
            Expected::UserNotFound => {
                expect_error(answer, StatusCode::NOT_FOUND, "USER_NOT_FOUND").await;
            }
        }
    }
}

#[tokio::test]
async fn reads_arriving_together_are_each_answered_as_if_alone() {
    each_database(|app| async move {
        let reads = mixed_reads(&app).await;
        for _ in 0..3 {
            read_at_once(&app, &reads).await;
        }
    })
    .await;
}

/// The tasks a statement that reads tasks together asks for (0: not such a statement).
fn tasks_read_together(sql: &str) -> usize {
    let reading = r#"WHERE ("tasks"."id", "tasks"."user_id") IN ("#;
    match sql.split_once(reading) {
        Some((_, pairs)) => pairs.matches("), (").count() + 1,
        None => 0,
    }
}

#[tokio::test]
async fn on_postgresql_reads_arriving_together_share_statements() {
    let Some(database) = postgres_database().await else {
        return;
    };
    let proxy = PgProxy::to("127.0.0.1:5432").await;
    // Half the pool reads single tasks: here one reader, so that reads must wait for each other.
    let app = TestApp::spawn(database.config_through(&proxy, 2)).await;
    let reads = mixed_reads(&app).await;
    read_at_once(&app, &reads).await;
    proxy.round_trips.take();
    read_at_once(&app, &reads).await;
    proxy
        .round_trips
        .assert_done_together(reads.len(), tasks_read_together);
}

#[tokio::test]
async fn on_postgresql_reads_waiting_behind_a_held_up_reader_give_up_as_a_connection_wait_does() {
    let Some(database) = postgres_database().await else {
        return;
    };
    let app = Arc::new(TestApp::spawn(database.config_with_one_worker()).await);
    let user = app.create_user().await;
    let task = app.create_titled(user, "held up").await;
    let path = format!("/users/{user}/tasks/{}", id_of(&task));
    // A schema change holds the table: the reader's statement waits inside PostgreSQL.
    let (_locker, migration) = open_transaction(
        &database.url,
        &["LOCK TABLE tasks IN ACCESS EXCLUSIVE MODE".to_owned()],
    )
    .await;
    let first = {
        let (app, path) = (app.clone(), path.clone());
        tokio::spawn(async move { app.get(&path).await })
    };
    tokio::time::sleep(Duration::from_millis(100)).await;
    let started = Instant::now();
    let queued = join_all((0..5).map(|_| app.get(&path))).await;
    expect_try_again(queued).await;
    assert!(
        started.elapsed() < Duration::from_secs(3),
        "{:?}",
        started.elapsed()
    );
    migration.rollback().await.unwrap();
    assert_eq!(
        expect_json(first.await.unwrap(), StatusCode::OK).await,
        task
    );
    assert_eq!(app.get_ok(&path).await, task);
}
