//! Keyset pages: every sort walked to the end while tasks are added, filters, bound cursors.

use std::cmp::Ordering;
use std::collections::HashSet;

use reqwest::StatusCode;
use sea_orm::sqlx::{self, Connection, PgConnection};
use sea_orm::DatabaseBackend;
use serde_json::{json, Value};
use task_api::pagination::{ListFilter, TaskFilter, TaskSort};
use task_api::store::statements::ListTasks;
use uuid::Uuid;

use crate::helpers::{each_database, expect_invalid, expect_json, postgres_database, TestApp};

const SORTS: [&str; 10] = [
    "-created_at",
    "created_at",
    "-updated_at",
    "updated_at",
    "title",
    "-title",
    "due",
    "-due",
    "priority",
    "-priority",
];

/// Due dates with ties, all-day and timed on one date, floating and zoned times (compared as
/// written, never converted), and none.
fn due(i: usize) -> Value {
    match i % 5 {
        0 => Value::Null,
        1 => json!({ "date": "2026-12-06" }),
        2 => json!({ "date": "2026-12-06", "time": "09:30" }),
        3 => json!({ "date": "2026-12-06", "time": "08:00", "time_zone": "Asia/Tokyo" }),
        _ => json!({ "date": "2025-01-31", "time": "23:59:59" }),
    }
}

const PRIORITIES: [&str; 4] = ["none", "low", "medium", "high"];

/// Titles with ties, case differences and non-ASCII, so that `id` must break ties.
const TITLES: [&str; 9] = [
    "banana", "Apple", "apple", "cherry", "Banana", "apple", "date", "Éclair", "b",
];

async fn page(app: &TestApp, path: &str) -> (Vec<Value>, Option<String>) {
    let page = app.get_ok(path).await;
    let items = page["items"].as_array().unwrap().clone();
    let next = page["next_cursor"].as_str().map(str::to_owned);
    (items, next)
}

fn compare(sort: &str, a: &Value, b: &Value) -> Ordering {
    let field = sort.trim_start_matches('-');
    let by_id = || a["id"].as_str().unwrap().cmp(b["id"].as_str().unwrap());
    let directed = |ordering: Ordering| {
        if sort.starts_with('-') {
            ordering.reverse()
        } else {
            ordering
        }
    };
    if field == "due" {
        // By date, all-day before timed, time as written; without due last either way.
        let key = |task: &Value| {
            let due = &task["due"];
            (!due.is_null()).then(|| {
                (
                    due["date"].as_str().unwrap().to_owned(),
                    due["time"].as_str().map(str::to_owned),
                )
            })
        };
        return match (key(a), key(b)) {
            (None, None) => directed(by_id()),
            (None, Some(_)) => Ordering::Greater,
            (Some(_), None) => Ordering::Less,
            (Some(a_key), Some(b_key)) => directed(a_key.cmp(&b_key).then_with(by_id)),
        };
    }
    if field == "priority" {
        let rank = |task: &Value| {
            PRIORITIES
                .iter()
                .position(|name| task["priority"] == *name)
                .unwrap()
        };
        return directed(rank(a).cmp(&rank(b)).then_with(by_id));
    }
    let key = |task: &Value| -> String {
        let value = task[field].as_str().unwrap();
        if field == "title" {
            value.to_ascii_lowercase()
        } else {
            value.to_owned()
        }
    };
    let ordering = key(a)
        .cmp(&key(b))
        .then_with(|| a["id"].as_str().unwrap().cmp(b["id"].as_str().unwrap()));
    if sort.starts_with('-') {
        ordering.reverse()
    } else {
        ordering
    }
}

#[tokio::test]
async fn following_next_cursor_visits_every_task_once_in_every_sort_while_tasks_are_added() {
    each_database(|app| async move {
        // A user per sort, so that the tasks each walk adds do not lengthen the next one's.
        for sort in SORTS {
            let user_id = app.create_user().await;
            let mut originals = HashSet::new();
            for (i, title) in TITLES.iter().enumerate() {
                let task = app
                    .create_task(
                        user_id,
                        json!({
                            "title": title,
                            "is_completed": i % 2 == 0,
                            "due": due(i),
                            "priority": PRIORITIES[i % 3],
                        }),
                    )
                    .await;
                originals.insert(task["id"].as_str().unwrap().to_owned());
            }
            // Make updated_at differ from created_at order for some tasks.
            let first = originals.iter().next().unwrap().clone();
            app.patch_json(
                &format!("/users/{user_id}/tasks/{first}"),
                &json!({ "description": "touched" }),
            )
            .await;

            let mut seen: Vec<Value> = Vec::new();
            let mut next: Option<String> = None;
            let mut pages = 0;
            loop {
                let mut path = format!("/users/{user_id}/tasks?limit=2&sort={sort}");
                if let Some(cursor) = &next {
                    path.push_str(&format!("&cursor={cursor}"));
                }
                let (items, cursor) = page(&app, &path).await;
                assert!(items.len() <= 2);
                seen.extend(items);
                pages += 1;
                // A task added between pages must not disturb the walk.
                app.create_task(
                    user_id,
                    json!({
                        "title": format!("added {sort} {pages}"),
                        "due": due(pages),
                        "priority": PRIORITIES[pages % 4],
                    }),
                )
                .await;
                match cursor {
                    Some(cursor) => next = Some(cursor),
                    None => break,
                }
                assert!(pages < 100, "the walk does not end");
            }
            let ids: Vec<&str> = seen.iter().map(|t| t["id"].as_str().unwrap()).collect();
            let unique: HashSet<&str> = ids.iter().copied().collect();
            assert_eq!(
                unique.len(),
                ids.len(),
                "a task was seen twice in sort {sort}"
            );
            for original in &originals {
                assert!(
                    unique.contains(original.as_str()),
                    "task {original} missed in sort {sort}"
                );
            }
            for pair in seen.windows(2) {
                assert_eq!(
                    compare(sort, &pair[0], &pair[1]),
                    Ordering::Less,
                    "out of order in sort {sort}: {} then {}",
                    pair[0],
                    pair[1]
                );
            }
        }
    })
    .await;
}

#[tokio::test]
async fn tasks_with_equal_timestamps_and_titles_are_ordered_by_id_and_each_seen_once() {
    each_database(|app| async move {
        use sea_orm::{ActiveModelTrait, Set};
        use task_api::entity::task;
        let user_id = app.create_user().await;
        let same_time = task_api::domain::now();
        let mut ids = Vec::new();
        for _ in 0..7 {
            let id = uuid::Uuid::new_v4();
            task::ActiveModel {
                id: Set(id),
                user_id: Set(user_id),
                title: Set("Same".to_owned()),
                description: Set(None),
                is_completed: Set(false),
                created_at: Set(same_time),
                updated_at: Set(same_time),
                version: Set(1),
                ..Default::default()
            }
            .insert(&app.db)
            .await
            .unwrap();
            ids.push(id.to_string());
        }
        ids.sort();
        for sort in SORTS {
            let mut seen = Vec::new();
            let mut next: Option<String> = None;
            loop {
                let cursor = next.map(|c| format!("&cursor={c}")).unwrap_or_default();
                let (items, cursor) = page(
                    &app,
                    &format!("/users/{user_id}/tasks?limit=2&sort={sort}{cursor}"),
                )
                .await;
                seen.extend(items.iter().map(|t| t["id"].as_str().unwrap().to_owned()));
                next = cursor;
                if next.is_none() {
                    break;
                }
            }
            let mut expected = ids.clone();
            if sort.starts_with('-') {
                expected.reverse();
            }
            assert_eq!(seen, expected, "sort {sort}");
        }
    })
    .await;
}

#[tokio::test]
async fn default_page_is_20_newest_first_and_the_last_page_has_no_cursor() {
    each_database(|app| async move {
        let user_id = app.create_user().await;
        let mut created = Vec::new();
        for i in 0..21 {
            created.push(app.create_titled(user_id, &format!("task {i}")).await);
        }
        let (items, next) = page(&app, &format!("/users/{user_id}/tasks")).await;
        assert_eq!(items.len(), 20);
        assert_eq!(items[0], created[20]);
        let next = next.expect("a second page");
        let (rest, last) = page(&app, &format!("/users/{user_id}/tasks?cursor={next}")).await;
        assert_eq!(rest, vec![created[0].clone()]);
        assert_eq!(last, None);

        let (exact, none) = page(&app, &format!("/users/{user_id}/tasks?limit=21")).await;
        assert_eq!(exact.len(), 21);
        assert_eq!(none, None, "no cursor when nothing follows");
    })
    .await;
}

#[tokio::test]
async fn completed_and_q_filter_the_list() {
    each_database(|app| async move {
        let user_id = app.create_user().await;
        let other = app.create_user().await;
        app.create_task(
            user_id,
            json!({ "title": "Buy MILK", "is_completed": true }),
        )
        .await;
        app.create_task(user_id, json!({ "title": "buy bread" }))
            .await;
        app.create_task(user_id, json!({ "title": "100% done" }))
            .await;
        app.create_task(user_id, json!({ "title": "1000 done" }))
            .await;
        app.create_task(user_id, json!({ "title": "snake_case" }))
            .await;
        app.create_task(user_id, json!({ "title": "snakeXcase" }))
            .await;
        app.create_task(user_id, json!({ "title": r"back\slash" }))
            .await;
        app.create_task(other, json!({ "title": "buy milk too" }))
            .await;

        let titles = |items: Vec<Value>| -> Vec<String> {
            let mut titles: Vec<String> = items
                .iter()
                .map(|t| t["title"].as_str().unwrap().to_owned())
                .collect();
            titles.sort();
            titles
        };
        let tasks = format!("/users/{user_id}/tasks");
        let (items, _) = page(&app, &format!("{tasks}?completed=true")).await;
        assert_eq!(titles(items), ["Buy MILK"]);
        let (items, _) = page(&app, &format!("{tasks}?completed=false&q=BUY")).await;
        assert_eq!(titles(items), ["buy bread"]);
        let (items, _) = page(&app, &format!("{tasks}?q=milk")).await;
        assert_eq!(titles(items), ["Buy MILK"]);
        let (items, _) = page(&app, &format!("{tasks}?q=0%25")).await;
        assert_eq!(titles(items), ["100% done"]);
        let (items, _) = page(&app, &format!("{tasks}?q=e_c")).await;
        assert_eq!(titles(items), ["snake_case"]);
        let (items, _) = page(&app, &format!("{tasks}?q=k%5Cs")).await;
        assert_eq!(titles(items), [r"back\slash"]);
        app.create_task(user_id, json!({ "title": "Éclair au café" }))
            .await;
        let (items, _) = page(&app, &format!("{tasks}?q=Éclair")).await;
        assert_eq!(titles(items), ["Éclair au café"]);
        let (items, _) = page(&app, &format!("{tasks}?q=AU%20CAF")).await;
        assert_eq!(titles(items), ["Éclair au café"]);
        let (items, _) = page(&app, &format!("{tasks}?q=nothing")).await;
        assert!(items.is_empty());
    })
    .await;
}

#[tokio::test]
async fn filtered_walk_keeps_the_filter() {
    each_database(|app| async move {
        let user_id = app.create_user().await;
        for i in 0..7 {
            app.create_task(
                user_id,
                json!({ "title": format!("t{i}"), "is_completed": i % 2 == 0 }),
            )
            .await;
        }
        let base = format!("/users/{user_id}/tasks?limit=2&completed=true&sort=title");
        let (mut items, mut next) = page(&app, &base).await;
        while let Some(cursor) = next {
            let (more, cursor) = page(&app, &format!("{base}&cursor={cursor}")).await;
            items.extend(more);
            next = cursor;
        }
        let titles: Vec<&str> = items.iter().map(|t| t["title"].as_str().unwrap()).collect();
        assert_eq!(titles, ["t0", "t2", "t4", "t6"]);
    })
    .await;
}

#[tokio::test]
async fn a_cursor_works_only_for_the_list_that_made_it() {
    each_database(|app| async move {
        let user_id = app.create_user().await;
        let other = app.create_user().await;
        for i in 0..3 {
            app.create_titled(user_id, &format!("t{i}")).await;
        }
        let tasks = format!("/users/{user_id}/tasks");
        let (_, next) = page(&app, &format!("{tasks}?limit=1&sort=title&q=t")).await;
        let cursor = next.unwrap();
        // The same list accepts it.
        expect_json(
            app.get(&format!("{tasks}?limit=1&sort=title&q=t&cursor={cursor}"))
                .await,
            StatusCode::OK,
        )
        .await;
        // Another sort, filter or user refuses it, as does any change to it.
        let mut changed = cursor.clone().into_bytes();
        let middle = changed.len() / 2;
        changed[middle] = if changed[middle] == b'A' { b'B' } else { b'A' };
        let changed = String::from_utf8(changed).unwrap();
        for path in [
            format!("{tasks}?limit=1&sort=-title&q=t&cursor={cursor}"),
            format!("{tasks}?limit=1&sort=title&cursor={cursor}"),
            format!("{tasks}?limit=1&sort=title&q=t&completed=false&cursor={cursor}"),
            format!("/users/{other}/tasks?limit=1&sort=title&q=t&cursor={cursor}"),
            format!("{tasks}?limit=1&sort=title&q=t&cursor={changed}"),
            format!(
                "{tasks}?limit=1&sort=title&q=t&cursor={}",
                &cursor[..cursor.len() - 3]
            ),
        ] {
            expect_invalid(app.get(&path).await, &[("cursor", "query")]).await;
        }
        // A different page size is the same list: allowed.
        expect_json(
            app.get(&format!("{tasks}?limit=5&sort=title&q=t&cursor={cursor}"))
                .await,
            StatusCode::OK,
        )
        .await;
    })
    .await;
}

/// On PostgreSQL a first page's statement, executed for owner after owner, is planned once after
/// PostgreSQL's first five: its row count is written into the text, where a bound one would have
/// it planned anew on every execution (PostgreSQL plans a bound `LIMIT` for a tenth of the rows, so that the generic plan
/// never looks as cheap as a custom one).
#[tokio::test]
async fn on_postgresql_a_first_page_is_planned_once_for_every_owner() {
    let Some(database) = postgres_database().await else {
        return;
    };
    let _app = TestApp::spawn(database.config()).await;
    let mut connection = PgConnection::connect(&database.url).await.unwrap();
    // Owners with a thousand tasks each, so that reading a page is much less than reading them
    // all, and the planner knows it.
    let owners: Vec<Uuid> = (0..12).map(|_| Uuid::new_v4()).collect();
    for statement in [
        r#"INSERT INTO "users" ("id", "created_at") SELECT "id", now() FROM unnest($1::uuid[]) AS "owners"("id")"#,
        r#"INSERT INTO "tasks" ("id", "user_id", "title", "position", "created_at", "updated_at") SELECT gen_random_uuid(), "owner", 'task ' || "n", 'a' || "n", now() - "n" * interval '1 second', now() FROM unnest($1::uuid[]) AS "owners"("owner"), generate_series(1, 1000) AS "n""#,
    ] {
        sqlx::query(statement)
            .bind(&owners)
            .execute(&mut connection)
            .await
            .unwrap();
    }
    sqlx::query(r#"ANALYZE "tasks""#)
        .execute(&mut connection)
        .await
        .unwrap();
    let every_task = TaskFilter::default();
    let inbox = TaskFilter {
        list: Some(ListFilter::Inbox),
        ..TaskFilter::default()
    };
    for (sort, filter) in [
        (TaskSort::CreatedAtDesc, &every_task),
        (TaskSort::PositionAsc, &inbox),
        (TaskSort::DueAsc, &every_task),
    ] {
        let first_page = |user_id| {
            ListTasks {
                user_id,
                sort,
                filter,
                after: None,
                limit: 20,
            }
            .statement(DatabaseBackend::Postgres)
        };
        let text = first_page(Uuid::nil()).sql;
        for &user_id in &owners {
            let statement = first_page(user_id);
            assert_eq!(
                statement.values.unwrap().0,
                vec![sea_orm::Value::from(user_id)],
                "{sort:?}: the owner is the one value bound"
            );
            let page = sqlx::query(&statement.sql)
                .bind(user_id)
                .fetch_all(&mut connection)
                .await
                .unwrap();
            assert_eq!(
                page.len(),
                21,
                "{sort:?}: a page and the first task after it"
            );
        }
        let (generic, custom): (i64, i64) = sqlx::query_as(
            "SELECT generic_plans, custom_plans FROM pg_prepared_statements WHERE statement = $1",
        )
        .bind(&text)
        .fetch_one(&mut connection)
        .await
        .unwrap();
        // PostgreSQL always plans the first five executions anew, then weighs the generic plan.
        assert_eq!(
            generic,
            owners.len() as i64 - 5,
            "{sort:?}: {generic} executions on the generic plan, {custom} planned anew: {text}"
        );
    }
}
