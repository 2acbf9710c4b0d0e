//! The list views of issue 22: the `tag`, `priority`, `has_due`, `due_from`/`due_to` and
//! `list_id` filters, the tags of a user's tasks, and the query plans of the new sorts and of the
//! tag filter on a user with 100,000 tasks.

use reqwest::StatusCode;
use sea_orm::{ConnectionTrait, DatabaseBackend, Statement};
use serde_json::{json, Value};
use task_api::pagination::{ListFilter, SortKey, TaskFilter, TaskPosition, TaskSort};
use task_api::store::statements::ListTasks;
use uuid::Uuid;

use crate::helpers::{
    each_database, each_database_configured, expect_error, expect_invalid, expect_json, TestApp,
};

/// Every task of a list, following `next_cursor` with pages of `limit`.
async fn walk(app: &TestApp, path: &str, limit: usize) -> Vec<Value> {
    let mut items = Vec::new();
    let mut cursor: Option<String> = None;
    loop {
        let separator = if path.contains('?') { '&' } else { '?' };
        let mut url = format!("{path}{separator}limit={limit}");
        if let Some(cursor) = &cursor {
            url.push_str(&format!("&cursor={cursor}"));
        }
        let page = app.get_ok(&url).await;
        items.extend(page["items"].as_array().unwrap().iter().cloned());
        match page["next_cursor"].as_str() {
            Some(next) => cursor = Some(next.to_owned()),
            None => return items,
        }
    }
}

fn titles(items: &[Value]) -> Vec<&str> {
    items
        .iter()
        .map(|task| task["title"].as_str().unwrap())
        .collect()
}

fn sorted_titles(items: &[Value]) -> Vec<&str> {
    let mut titles = titles(items);
    titles.sort_unstable();
    titles
}

#[tokio::test]
async fn tag_priority_has_due_due_range_and_list_id_filter_the_list_and_combine() {
    each_database(|app| async move {
        let user_id = app.create_user().await;
        let other = app.create_user().await;
        for body in [
            json!({ "title": "yesterday", "due": { "date": "2026-12-05" }, "tags": ["Work"], "priority": "high" }),
            json!({ "title": "yesterday done", "is_completed": true, "due": { "date": "2026-12-05" } }),
            json!({ "title": "today", "due": { "date": "2026-12-06", "time": "08:00" }, "tags": ["home", "ÉTÉ"], "priority": "low" }),
            json!({ "title": "today zoned", "due": { "date": "2026-12-06", "time": "23:59:59", "time_zone": "Europe/Paris" }, "tags": ["work"] }),
            json!({ "title": "tomorrow", "due": { "date": "2026-12-07" }, "priority": "high" }),
            json!({ "title": "someday", "tags": ["Work", "été"], "priority": "medium" }),
        ] {
            app.create_task(user_id, body).await;
        }
        app.create_task(other, json!({ "title": "not mine", "tags": ["work"], "due": { "date": "2026-12-06" } }))
            .await;
        let tasks = format!("/users/{user_id}/tasks");
        let listed = |query: &'static str| {
            let app = &app;
            let tasks = tasks.clone();
            async move { walk(app, &format!("{tasks}?{query}"), 2).await }
        };
        assert_eq!(
            sorted_titles(&listed("tag=work").await),
            ["someday", "today zoned", "yesterday"]
        );
        assert_eq!(sorted_titles(&listed("tag=%20WORK%20").await).len(), 3);
        assert_eq!(sorted_titles(&listed("tag=%C3%A9t%C3%A9").await), ["someday", "today"]);
        assert!(listed("tag=errands").await.is_empty());
        assert_eq!(sorted_titles(&listed("priority=high").await), ["tomorrow", "yesterday"]);
        assert_eq!(
            sorted_titles(&listed("priority=none").await),
            ["today zoned", "yesterday done"]
        );
        assert_eq!(sorted_titles(&listed("has_due=false").await), ["someday"]);
        assert_eq!(listed("has_due=true").await.len(), 5);
        assert_eq!(
            sorted_titles(&listed("due_from=2026-12-06&due_to=2026-12-06").await),
            ["today", "today zoned"]
        );
        assert_eq!(
            sorted_titles(&listed("due_to=2026-12-05&completed=false").await),
            ["yesterday"]
        );
        assert_eq!(
            sorted_titles(&listed("due_from=2026-12-06").await),
            ["today", "today zoned", "tomorrow"]
        );
        assert!(listed("due_from=2026-12-07&due_to=2026-12-06").await.is_empty());
        assert_eq!(
            sorted_titles(&listed("tag=work&priority=high&due_to=2026-12-05").await),
            ["yesterday"]
        );
        assert_eq!(
            sorted_titles(&listed("tag=work&has_due=true&sort=-due").await),
            ["today zoned", "yesterday"]
        );
        // Every task is in the inbox; an unknown list has none (tests/api/tasks_in_lists.rs has
        // tasks in lists).
        assert_eq!(listed("list_id=inbox").await.len(), 6);
        let some_list = Uuid::new_v4();
        let path = format!("{tasks}?list_id={some_list}");
        let page = expect_json(app.get(&path).await, StatusCode::OK).await;
        assert_eq!(page["items"], json!([]));

        // Each bad value is named, all at once.
        expect_invalid(
            app.get(&format!(
                "{tasks}?tag=a,b&priority=urgent&has_due=yes&due_from=2026-02-30&due_to=tomorrow&list_id=outbox"
            ))
            .await,
            &[
                ("due_from", "query"),
                ("due_to", "query"),
                ("has_due", "query"),
                ("list_id", "query"),
                ("priority", "query"),
                ("tag", "query"),
            ],
        )
        .await;
        expect_invalid(app.get(&format!("{tasks}?tag=%20%20")).await, &[("tag", "query")]).await;
        expect_invalid(
            app.get(&format!("{tasks}?tag={}", "x".repeat(51))).await,
            &[("tag", "query")],
        )
        .await;
        expect_invalid(app.get(&format!("{tasks}?sort=-position")).await, &[("sort", "query")])
            .await;
        expect_invalid(app.get(&format!("{tasks}?tags=work")).await, &[("tags", "query")]).await;
        expect_error(
            app.get(&format!("/users/{}/tasks?tag=work", Uuid::new_v4())).await,
            StatusCode::NOT_FOUND,
            "USER_NOT_FOUND",
        )
        .await;
    })
    .await;
}

#[tokio::test]
async fn a_cursor_is_bound_to_the_new_filters_too() {
    each_database(|app| async move {
        let user_id = app.create_user().await;
        for i in 0..3 {
            app.create_task(
                user_id,
                json!({ "title": format!("t{i}"), "tags": ["a", "b"], "priority": "low", "due": { "date": "2026-12-06" } }),
            )
            .await;
        }
        let tasks = format!("/users/{user_id}/tasks");
        let first = app
            .get_ok(&format!("{tasks}?limit=1&sort=due&tag=a&priority=low&due_from=2026-12-01&has_due=true&list_id=inbox"))
            .await;
        let cursor = first["next_cursor"].as_str().unwrap();
        expect_json(
            app.get(&format!("{tasks}?limit=1&sort=due&tag=A&priority=low&due_from=2026-12-01&has_due=true&list_id=inbox&cursor={cursor}"))
                .await,
            StatusCode::OK,
        )
        .await;
        for changed in [
            "sort=-due&tag=a&priority=low&due_from=2026-12-01&has_due=true&list_id=inbox",
            "sort=due&tag=b&priority=low&due_from=2026-12-01&has_due=true&list_id=inbox",
            "sort=due&tag=a&priority=high&due_from=2026-12-01&has_due=true&list_id=inbox",
            "sort=due&tag=a&priority=low&due_from=2026-12-02&has_due=true&list_id=inbox",
            "sort=due&tag=a&priority=low&due_from=2026-12-01&due_to=2026-12-31&has_due=true&list_id=inbox",
            "sort=due&tag=a&priority=low&due_from=2026-12-01&list_id=inbox",
            "sort=due&tag=a&priority=low&due_from=2026-12-01&has_due=true",
            "sort=priority&tag=a&priority=low&due_from=2026-12-01&has_due=true&list_id=inbox",
        ] {
            expect_invalid(
                app.get(&format!("{tasks}?limit=1&{changed}&cursor={cursor}")).await,
                &[("cursor", "query")],
            )
            .await;
        }
    })
    .await;
}

#[tokio::test]
async fn the_tags_list_counts_each_lowercase_form_once_named_by_its_smallest_spelling() {
    each_database(|app| async move {
        let user_id = app.create_user().await;
        let other = app.create_user().await;
        let tags = format!("/users/{user_id}/tags");
        assert_eq!(app.get_ok(&tags).await, json!({ "tags": [] }));
        let first = app
            .create_task(
                user_id,
                json!({ "title": "a", "tags": ["work", "Été", "zebra"] }),
            )
            .await;
        app.create_task(user_id, json!({ "title": "b", "tags": ["Work", "été"] }))
            .await;
        app.create_task(user_id, json!({ "title": "c", "tags": ["errands"] }))
            .await;
        app.create_task(user_id, json!({ "title": "d" })).await;
        app.create_task(other, json!({ "title": "e", "tags": ["Other", "work"] }))
            .await;
        // Sorted by lowercase form in byte order ("été" after "zebra"), named by the smallest
        // spelling in byte order ("Work" < "work", "Été" < "été").
        assert_eq!(
            app.get_ok(&tags).await,
            json!({ "tags": [
                { "name": "errands", "count": 1 },
                { "name": "Work", "count": 2 },
                { "name": "zebra", "count": 1 },
                { "name": "Été", "count": 2 },
            ] })
        );
        // Writes keep it: a PATCH replaces the tags, a PUT without tags clears them, a deletion
        // takes them away.
        let first_path = format!("/users/{user_id}/tasks/{}", first["id"].as_str().unwrap());
        expect_json(
            app.patch_json(&first_path, &json!({ "tags": ["errands", "zebra"] }))
                .await,
            StatusCode::OK,
        )
        .await;
        assert_eq!(
            app.get_ok(&tags).await,
            json!({ "tags": [
                { "name": "errands", "count": 2 },
                { "name": "Work", "count": 1 },
                { "name": "zebra", "count": 1 },
                { "name": "été", "count": 1 },
            ] })
        );
        expect_json(
            app.put_json(&first_path, &json!({ "title": "a" })).await,
            StatusCode::OK,
        )
        .await;
        let listed = app.get_ok(&tags).await;
        assert_eq!(listed["tags"][0], json!({ "name": "errands", "count": 1 }));
        assert_eq!(listed["tags"].as_array().unwrap().len(), 3);
        let page = app
            .get_ok(&format!("/users/{user_id}/tasks?tag=work"))
            .await;
        let id = page["items"][0]["id"].as_str().unwrap().to_owned();
        let deleted = app.delete(&format!("/users/{user_id}/tasks/{id}")).await;
        assert_eq!(deleted.status(), StatusCode::NO_CONTENT);
        assert_eq!(
            app.get_ok(&tags).await,
            json!({ "tags": [{ "name": "errands", "count": 1 }] })
        );

        expect_error(
            app.get(&format!("/users/{}/tags", Uuid::new_v4())).await,
            StatusCode::NOT_FOUND,
            "USER_NOT_FOUND",
        )
        .await;
        expect_invalid(
            app.get("/users/not-a-uuid/tags").await,
            &[("user_id", "path")],
        )
        .await;
        expect_invalid(
            app.get(&format!("{tags}?limit=5")).await,
            &[("limit", "query")],
        )
        .await;
    })
    .await;
}

#[tokio::test]
async fn the_tags_list_answers_at_most_1000_tags() {
    each_database_configured(
        |config| config.user_limits.writes_per_minute = std::num::NonZeroU32::MAX,
        |app| async move {
            let user_id = app.create_user().await;
            for task in 0..51 {
                let tags: Vec<String> = (0..20).map(|tag| format!("t{task:02}-{tag:02}")).collect();
                app.create_task(user_id, json!({ "title": "many", "tags": tags }))
                    .await;
            }
            let listed = app.get_ok(&format!("/users/{user_id}/tags")).await;
            let listed = listed["tags"].as_array().unwrap();
            assert_eq!(listed.len(), 1000);
            assert_eq!(listed[0], json!({ "name": "t00-00", "count": 1 }));
            assert_eq!(listed[999]["name"], "t49-19");
        },
    )
    .await;
}

/// Tasks a user's plan test seeds: 100,000, a quarter of them without `due`, the rest over 400
/// dates (every other one timed), four priorities, one in ten tagged `common` (and `Common`).
const PLANNED_TASKS: i64 = 100_000;

/// Seeds `PLANNED_TASKS` tasks for the one user of the app's database, in one statement.
async fn seed_planned_tasks(app: &TestApp) {
    let backend = app.db.get_database_backend();
    let sql = match backend {
        DatabaseBackend::Postgres => format!(
            r#"INSERT INTO "tasks" ("id", "user_id", "title", "is_completed", "created_at", "updated_at", "version", "due_date", "due_time", "priority", "tags", "tag_keys")
               SELECT gen_random_uuid(), (SELECT "id" FROM "users"), 'task ' || n, n % 3 = 0,
                      now() - n * interval '1 second', now() - n * interval '1 second', n,
                      CASE WHEN n % 4 = 0 THEN NULL ELSE DATE '2026-01-01' + (n % 400) END,
                      CASE WHEN n % 4 = 1 THEN TIME '08:00' + (n % 600) * interval '1 minute' END,
                      n % 4,
                      CASE WHEN n % 10 = 0 THEN '["Common"]' ELSE '[]' END,
                      CASE WHEN n % 10 = 0 THEN '["common"]' ELSE '[]' END
               FROM generate_series(1, {PLANNED_TASKS}) AS n;
               ANALYZE "tasks"; ANALYZE "task_tags""#
        ),
        _ => format!(
            r#"WITH RECURSIVE "numbers"("n") AS (SELECT 1 UNION ALL SELECT "n" + 1 FROM "numbers" WHERE "n" < {PLANNED_TASKS})
               INSERT INTO "tasks" ("id", "user_id", "title", "is_completed", "created_at", "updated_at", "version", "due_date", "due_time", "priority", "tags", "tag_keys")
               SELECT randomblob(16), (SELECT "id" FROM "users"), 'task ' || n, n % 3 = 0,
                      strftime('%Y-%m-%dT%H:%M:%f+00:00', 'now', '-' || n || ' seconds'),
                      strftime('%Y-%m-%dT%H:%M:%f+00:00', 'now', '-' || n || ' seconds'), n,
                      CASE WHEN n % 4 = 0 THEN NULL ELSE date('2026-01-01', '+' || (n % 400) || ' days') END,
                      CASE WHEN n % 4 = 1 THEN time('08:00', '+' || (n % 600) || ' minutes') END,
                      n % 4,
                      CASE WHEN n % 10 = 0 THEN '["Common"]' ELSE '[]' END,
                      CASE WHEN n % 10 = 0 THEN '["common"]' ELSE '[]' END
               FROM "numbers";
               ANALYZE"#
        ),
    };
    app.db
        .execute_unprepared(&sql)
        .await
        .expect("the tasks are seeded");
}

/// The plan of a second page of `sort` with `filter`, as its database would run it, line by line.
async fn plan(app: &TestApp, user_id: Uuid, sort: TaskSort, filter: &TaskFilter) -> Vec<String> {
    let backend = app.db.get_database_backend();
    let key = match sort {
        TaskSort::DueAsc | TaskSort::DueDesc => SortKey::Due(2_040_100_000),
        TaskSort::PriorityAsc | TaskSort::PriorityDesc => SortKey::Priority(2),
        TaskSort::PositionAsc => SortKey::Position("a0".to_owned()),
        _ => SortKey::Time(task_api::domain::now()),
    };
    // The cursor's id is the least (greatest, going down) of all, so that on the cursor's key
    // every task with that key follows it: the case where a sort would cost the most. SQLite's
    // samples (STAT4) make its plan depend on the bound values; a random id made the seeded
    // tasks' one `position` ("a0") look nearly passed, and a sort of the few left cheaper.
    let id = match sort.is_descending() {
        true => Uuid::max(),
        false => Uuid::nil(),
    };
    let position = TaskPosition { key, id };
    let list = ListTasks {
        user_id,
        sort,
        filter,
        after: Some(&position),
        limit: 20,
    }
    .statement(backend);
    let (prefix, column) = match backend {
        DatabaseBackend::Postgres => ("EXPLAIN ", "QUERY PLAN"),
        _ => ("EXPLAIN QUERY PLAN ", "detail"),
    };
    let explain = Statement::from_sql_and_values(
        backend,
        format!("{prefix}{}", list.sql),
        list.values.map(|values| values.0).unwrap_or_default(),
    );
    let rows = app.db.query_all(explain).await.expect("the plan");
    rows.iter()
        .map(|row| row.try_get::<String>("", column).unwrap())
        .collect()
}

/// The estimated rows of a PostgreSQL plan line.
fn estimated_rows(line: &str) -> f64 {
    let rows = line.split("rows=").nth(1).unwrap();
    rows.split(' ').next().unwrap().parse().unwrap()
}

#[tokio::test]
async fn each_new_sort_and_the_tag_and_list_filters_read_an_index_without_sorting_the_users_tasks()
{
    each_database(|app| async move {
        let user_id = app.create_user().await;
        seed_planned_tasks(&app).await;
        let no_filter = TaskFilter::default();
        let tagged = TaskFilter {
            tag_key: Some("common".to_owned()),
            ..TaskFilter::default()
        };
        let today = TaskFilter {
            completed: Some(false),
            due_from: chrono::NaiveDate::from_ymd_opt(2026, 6, 1),
            due_to: chrono::NaiveDate::from_ymd_opt(2026, 6, 1),
            ..TaskFilter::default()
        };
        let one_list = TaskFilter {
            list: Some(ListFilter::List(Uuid::new_v4())),
            ..TaskFilter::default()
        };
        let cases = [
            (
                TaskSort::CreatedAtDesc,
                &one_list,
                "idx_tasks_user_id_list_id_created_at_id",
            ),
            (
                TaskSort::PositionAsc,
                &one_list,
                "idx_tasks_user_id_list_id_position_id",
            ),
            (
                TaskSort::PositionAsc,
                &no_filter,
                "idx_tasks_user_id_position_id",
            ),
            (TaskSort::DueAsc, &no_filter, "idx_tasks_user_id_due_id"),
            (
                TaskSort::DueDesc,
                &no_filter,
                "idx_tasks_user_id_due_desc_id",
            ),
            (
                TaskSort::PriorityAsc,
                &no_filter,
                "idx_tasks_user_id_priority_id",
            ),
            (
                TaskSort::PriorityDesc,
                &no_filter,
                "idx_tasks_user_id_priority_id",
            ),
            (TaskSort::DueAsc, &today, "idx_tasks_user_id_due_id"),
            (TaskSort::CreatedAtDesc, &tagged, ""),
            (TaskSort::DueAsc, &tagged, ""),
        ];
        for (sort, filter, index) in cases {
            let plan = plan(&app, user_id, sort, filter).await;
            eprintln!("{sort:?} {filter:?}: {plan:#?}");
            let text = plan.join("\n");
            assert!(text.contains(index), "{sort:?} reads {index}: {text}");
            match app.db.get_database_backend() {
                DatabaseBackend::Postgres => {
                    assert!(text.contains("Index"), "an index scan: {text}");
                    assert!(!text.contains("Seq Scan"), "no scan of the table: {text}");
                    // A sort, if any, of a part of the user's tasks, never of all of them.
                    for node in plan.iter().filter(|line| line.contains("Sort  (")) {
                        let rows = estimated_rows(node);
                        assert!(rows < (PLANNED_TASKS / 5) as f64, "{node} in {text}");
                    }
                    if filter.tag_key.is_none() {
                        assert!(!text.contains("Sort  "), "no sort: {text}");
                    }
                }
                _ => {
                    assert!(text.contains("USING"), "an index: {text}");
                    if filter.tag_key.is_none() {
                        assert!(!text.contains("TEMP B-TREE"), "no sort: {text}");
                    }
                }
            }
        }
    })
    .await;
}
