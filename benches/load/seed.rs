//! The seed: 100 users × 10,000 tasks and one user with 100,000, with deterministic ids, times
//! and due dates.

use std::str::FromStr;

use chrono::{DateTime, Days, NaiveDate, NaiveTime, SecondsFormat, Utc};
use sea_orm::sqlx::{
    self,
    postgres::{PgConnectOptions, PgPool, PgPoolOptions},
    sqlite::SqlitePool,
};
use serde_json::Value;
use sha2::{Digest, Sha256};
use uuid::Uuid;

use anyhow::{anyhow, Context, Result};

use crate::*;

/// 2025-01-01T00:00:00Z in microseconds; users are created then, tasks from an hour later.
pub(crate) const BASE_MICROS: i64 = 1_735_689_600_000_000;
pub(crate) const HOUR_MICROS: i64 = 3_600_000_000;
/// Microseconds between two seeded tasks (a prime: the times are distinct and rarely round).
pub(crate) const STEP_MICROS: i64 = 997;

pub(crate) fn seeded_uuid(micros: i64, name: &str) -> Uuid {
    let hash = Sha256::digest(name.as_bytes());
    let hex: String = hash.iter().map(|b| format!("{b:02x}")).collect();
    let text = format!(
        "{:012x}7{}8{}",
        micros.div_euclid(1000),
        &hex[0..3],
        &hex[3..18]
    );
    Uuid::parse_str(&text).expect("32 hex digits")
}

/// The same, in PostgreSQL, for a `timestamptz` expression and a `text` expression.
pub(crate) fn seeded_uuid_sql(time: &str, name: &str) -> String {
    format!(
        "(lpad(to_hex(floor(extract(epoch FROM {time}) * 1000)::bigint), 12, '0') || '7' || \
         substr(encode(sha256(convert_to({name}, 'UTF8')), 'hex'), 1, 3) || '8' || \
         substr(encode(sha256(convert_to({name}, 'UTF8')), 'hex'), 4, 15))::uuid"
    )
}

pub(crate) fn user_time(user: u64) -> i64 {
    BASE_MICROS + user as i64
}

pub(crate) fn user_id(user: u64) -> Uuid {
    seeded_uuid(user_time(user), &format!("user {user}"))
}

/// Task `n` of the regular users belongs to user `n % 100`.
pub(crate) fn task_time(n: u64) -> i64 {
    BASE_MICROS + HOUR_MICROS + n as i64 * STEP_MICROS
}

pub(crate) fn task_id(n: u64) -> Uuid {
    seeded_uuid(task_time(n), &format!("task {n}"))
}

pub(crate) fn deep_time(n: u64) -> i64 {
    BASE_MICROS + 2 * HOUR_MICROS + n as i64 * STEP_MICROS
}

pub(crate) fn deep_id(n: u64) -> Uuid {
    seeded_uuid(deep_time(n), &format!("deep task {n}"))
}

/// One task of each regular user, somewhere in the middle of its list.
pub(crate) fn pool_tasks() -> Vec<(Uuid, Uuid)> {
    (0..POOL as u64)
        .map(|user| (user_id(user), user_task(user, pool_place(user))))
        .collect()
}

/// `batch_patch`'s tasks of each pool user (as `pool_tasks`): the `BATCH_OPERATIONS` seeded
/// tasks of theirs after their pool task.
pub(crate) fn batch_tasks() -> Vec<Vec<Uuid>> {
    (0..POOL as u64)
        .map(|user| {
            (1..=BATCH_OPERATIONS as u64)
                .map(|k| user_task(user, (pool_place(user) + k) % TASKS_PER_USER))
                .collect()
        })
        .collect()
}

/// Where a pool user's pool task is among their own seeded tasks.
fn pool_place(user: u64) -> u64 {
    (user * 7919 + 13) % TASKS_PER_USER
}

/// The seeded task at `place` among `user`'s own.
fn user_task(user: u64, place: u64) -> Uuid {
    task_id(place * USERS + user)
}

/// One task in `NO_DUE_EVERY` has no due date; the others are due over `DUE_DAYS` days around
/// `SEED_TODAY`, every other one at a time of day.
const NO_DUE_EVERY: u64 = 5;
const DUE_DAYS: u64 = 31;

/// Whether a seeded task numbered `version` (its place in its owner's list) is completed, and
/// when it is due: spread over each user's own tasks, so that every user's list has of each.
pub(crate) fn seeded_state(version: u64) -> (bool, Option<NaiveDate>, Option<NaiveTime>) {
    let completed = version.is_multiple_of(4);
    if version.is_multiple_of(NO_DUE_EVERY) {
        return (completed, None, None);
    }
    let today = NaiveDate::parse_from_str(SEED_TODAY, "%Y-%m-%d").expect("a date");
    let date = today + Days::new(version % DUE_DAYS) - Days::new(DUE_DAYS / 2);
    let time = (version % 2 == 1)
        .then(|| NaiveTime::MIN + chrono::Duration::minutes((version % 1440) as i64));
    (completed, Some(date), time)
}

pub(crate) fn time_of(micros: i64) -> DateTime<Utc> {
    DateTime::from_timestamp_micros(micros).expect("a valid time")
}

/// How sqlx stores a `DateTime<Utc>` in SQLite (RFC 3339 text).
pub(crate) fn sqlite_time(time: DateTime<Utc>) -> String {
    time.to_rfc3339_opts(SecondsFormat::AutoSi, false)
}

pub(crate) fn parse_api_time(value: &Value) -> Result<DateTime<Utc>> {
    let text = value.as_str().context("a time is not a string")?;
    DateTime::parse_from_rfc3339(text)
        .map(|time| time.with_timezone(&Utc))
        .context(format!("bad time {text:?}"))
}

impl Bench {
    pub(crate) async fn seed(&self) -> Result<()> {
        match &self.database {
            Database::Postgres { bench, .. } => seed_postgres(bench).await,
            Database::Sqlite { pool } => seed_sqlite(pool).await,
        }
    }
}

pub(crate) async fn seed_postgres(pool: &PgPool) -> Result<()> {
    let base = format!("timestamptz '{}'", time_of(BASE_MICROS).to_rfc3339());
    // Each user's counter at their last task's version (their tasks are numbered in time order).
    let users = format!(
        "INSERT INTO users (id, created_at, change_seq) \
         SELECT {id}, t, CASE WHEN n = {USERS} THEN {DEEP_TASKS} ELSE {TASKS_PER_USER} END \
         FROM (SELECT n, {base} + n * interval '1 microsecond' AS t \
               FROM generate_series(0, {USERS}) n) s",
        id = seeded_uuid_sql("t", "'user ' || n"),
    );
    let user_of = |n: &str| {
        seeded_uuid_sql(
            &format!("({base} + {n} * interval '1 microsecond')"),
            &format!("'user ' || {n}"),
        )
    };
    // `count` tasks titled "<Name> n" (ids hashed from "<name> n"), one every STEP_MICROS from
    // `hours` after the base, each owned by `owner` and numbered `version` (SQL of `n`), completed
    // and due by their number (as `seeded_state`).
    let seeded_tasks = |name: &str, hours: u32, owner: String, version: String, count: u64| {
        let mut title = name.to_owned();
        title[..1].make_ascii_uppercase();
        format!(
            "INSERT INTO tasks (id, user_id, title, description, is_completed, created_at, updated_at, \
                                version, due_date, due_time) \
             SELECT {id}, {owner}, '{title} ' || n, \
                    CASE WHEN n % 3 = 0 THEN NULL ELSE 'Seeded {name} number ' || n END, \
                    v % 4 = 0, t, t, v, \
                    CASE WHEN v % {NO_DUE_EVERY} <> 0 \
                         THEN DATE '{SEED_TODAY}' + (v % {DUE_DAYS} - {DUE_DAYS} / 2) END, \
                    CASE WHEN v % {NO_DUE_EVERY} <> 0 AND v % 2 = 1 \
                         THEN TIME '00:00' + (v % 1440) * interval '1 minute' END \
             FROM (SELECT n, {version} AS v, \
                          {base} + interval '{hours} hours' + n * {STEP_MICROS} * interval '1 microsecond' AS t \
                   FROM generate_series(0, {last}) n) s",
            id = seeded_uuid_sql("t", &format!("'{name} ' || n")),
            last = count - 1,
        )
    };
    let tasks = seeded_tasks(
        "task",
        1,
        user_of(&format!("(n % {USERS})")),
        format!("n / {USERS} + 1"),
        USERS * TASKS_PER_USER,
    );
    let deep_tasks = seeded_tasks(
        "deep task",
        2,
        user_of(&USERS.to_string()),
        "n + 1".to_owned(),
        DEEP_TASKS,
    );
    let mut conn = pool.acquire().await.context("connect")?;
    // The rows are valid by construction: skip the per-row foreign key trigger.
    for statement in [
        "SET session_replication_role = replica",
        &users,
        &tasks,
        &deep_tasks,
        "RESET session_replication_role",
    ] {
        sqlx::raw_sql(statement)
            .execute(&mut *conn)
            .await
            .context(format!("seed: {}", abbreviate(statement)))?;
    }
    sqlx::raw_sql("VACUUM (ANALYZE) users, tasks")
        .execute(&mut *conn)
        .await
        .context("VACUUM ANALYZE")?;
    sqlx::raw_sql("CHECKPOINT").execute(&mut *conn).await.ok();
    // The seed in Rust (SQLite, pool, deep page) must name the same rows.
    let probe = task_id(12_345);
    let owner: Option<Uuid> = sqlx::query_scalar("SELECT user_id FROM tasks WHERE id = $1")
        .bind(probe)
        .fetch_optional(&mut *conn)
        .await
        .context("check the seed")?;
    if owner != Some(user_id(12_345 % USERS)) {
        return Err(anyhow!(
            "the seeded ids differ from the ones benches/load.rs computes"
        ));
    }
    Ok(())
}

pub(crate) async fn seed_sqlite(pool: &SqlitePool) -> Result<()> {
    let mut tx = pool.begin().await.context("BEGIN")?;
    let mut users = sqlx::QueryBuilder::new("INSERT INTO users (id, created_at, change_seq) ");
    users.push_values(0..=USERS, |mut row, user| {
        let last_version = if user == USERS {
            DEEP_TASKS
        } else {
            TASKS_PER_USER
        };
        row.push_bind(user_id(user))
            .push_bind(sqlite_time(time_of(user_time(user))))
            .push_bind(last_version as i64);
    });
    users
        .build()
        .execute(&mut *tx)
        .await
        .context("seed users")?;
    let rows = (0..USERS * TASKS_PER_USER)
        .map(|n| {
            (
                task_id(n),
                user_id(n % USERS),
                format!("Task {n}"),
                (n % 3 != 0).then(|| format!("Seeded task number {n}")),
                task_time(n),
                n / USERS + 1,
            )
        })
        .chain((0..DEEP_TASKS).map(|n| {
            (
                deep_id(n),
                user_id(USERS),
                format!("Deep task {n}"),
                (n % 3 != 0).then(|| format!("Seeded deep task number {n}")),
                deep_time(n),
                n + 1,
            )
        }));
    let mut batch = Vec::with_capacity(1000);
    let mut rows = rows.peekable();
    while rows.peek().is_some() {
        batch.clear();
        batch.extend(rows.by_ref().take(1000));
        let mut insert = sqlx::QueryBuilder::new(
            "INSERT INTO tasks (id, user_id, title, description, is_completed, created_at, \
             updated_at, version, due_date, due_time) ",
        );
        insert.push_values(batch.drain(..), |mut row, task| {
            let time = sqlite_time(time_of(task.4));
            let (completed, due_date, due_time) = seeded_state(task.5);
            row.push_bind(task.0)
                .push_bind(task.1)
                .push_bind(task.2)
                .push_bind(task.3)
                .push_bind(completed)
                .push_bind(time.clone())
                .push_bind(time)
                .push_bind(task.5 as i64)
                .push_bind(due_date)
                .push_bind(due_time);
        });
        insert
            .build()
            .execute(&mut *tx)
            .await
            .context("seed tasks")?;
    }
    tx.commit().await.context("COMMIT")?;
    sqlx::raw_sql("PRAGMA wal_checkpoint(TRUNCATE)")
        .execute(pool)
        .await
        .ok();
    Ok(())
}

pub(crate) async fn create_postgres_database(admin_url: &str) -> Result<(Database, String)> {
    let admin_options = PgConnectOptions::from_str(admin_url)
        .context("--database-url is not a PostgreSQL URL")?
        .application_name(HARNESS_APPLICATION);
    let admin = PgPoolOptions::new()
        .max_connections(1)
        .connect_with(admin_options)
        .await
        .context(format!("cannot connect to {admin_url}"))?;
    for statement in [
        format!("DROP DATABASE IF EXISTS {} WITH (FORCE)", bench_database()),
        format!("CREATE DATABASE {}", bench_database()),
    ] {
        sqlx::query(&statement)
            .execute(&admin)
            .await
            .with_context(|| statement.clone())?;
    }
    let mut url = reqwest::Url::parse(admin_url).context("--database-url")?;
    url.set_path(&format!("/{}", bench_database()));
    let bench_url = url.to_string();
    let bench = PgPoolOptions::new()
        .max_connections(1)
        .connect_with(
            PgConnectOptions::from_str(&bench_url)
                .context("the benchmark database URL")?
                .application_name(HARNESS_APPLICATION),
        )
        .await
        .context(format!("cannot connect to {bench_url}"))?;
    Ok((
        Database::Postgres {
            admin,
            bench,
            bench_url: bench_url.clone(),
        },
        bench_url,
    ))
}

/// Follows `next_cursor` with limit=100 until 50,000 tasks in; returns the path of the next page.
pub(crate) async fn walk_to_deep_page(
    http: &reqwest::Client,
    base: &str,
    user: Uuid,
) -> Result<String> {
    let mut cursor: Option<String> = None;
    for _ in 0..DEEP_OFFSET / WALK_LIMIT {
        let mut request = http
            .get(format!("{base}/users/{user}/tasks"))
            .query(&[("limit", WALK_LIMIT.to_string())]);
        if let Some(cursor) = &cursor {
            request = request.query(&[("cursor", cursor)]);
        }
        let page: Value = request
            .send()
            .await
            .context("walk the deep list")?
            .json()
            .await
            .context("walk the deep list")?;
        cursor = Some(
            page["next_cursor"]
                .as_str()
                .context("the deep list ended early")?
                .to_owned(),
        );
    }
    // A cursor is base64url: nothing in it needs escaping in a query.
    Ok(format!(
        "/users/{user}/tasks?cursor={}",
        cursor.unwrap_or_default()
    ))
}
