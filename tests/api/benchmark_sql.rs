//! The load benchmark's pgbench scripts (`benches/sql/*.sql`) are the store's own statements for
//! each operation, written deterministically here: a test fails on any difference, and
//! `EXPECTORATE=overwrite cargo test --test api benchmark_sql` rewrites them.

use std::collections::BTreeSet;

use chrono::{DateTime, NaiveDate, TimeZone, Utc};
use sea_orm::sea_query::Value;
use sea_orm::{DatabaseBackend, EntityTrait, QuerySelect, QueryTrait, Statement};
use task_api::domain::{Task, TaskChanges, TaskTitle};
use task_api::entity::user;
use task_api::pagination::{ListFilter, SortKey, TaskFilter, TaskPosition, TaskSort};
use task_api::store::statements::{
    CreateTasks, GetTask, ListChanges, ListTasks, OwnedTask, UpdateTask, Write,
};
use uuid::Uuid;

/// Stand-ins for the values each script takes, told apart by value.
const USER: Uuid = Uuid::from_u128(1);
const TASK: Uuid = Uuid::from_u128(2);
const NEW_TASK: Uuid = Uuid::from_u128(3);
const DEEP_USER: Uuid = Uuid::from_u128(4);
const AFTER_ID: Uuid = Uuid::from_u128(5);
const TITLE: &str = "the title";
const DESCRIPTION: &str = "the description";
/// The benchmark's page sizes (the default ones).
const PAGE_SIZE: u64 = 20;
const CHANGE_PAGE_SIZE: u64 = 100;

fn now() -> DateTime<Utc> {
    Utc.timestamp_opt(2_000_000_000, 0).unwrap()
}

fn after_created_at() -> DateTime<Utc> {
    Utc.timestamp_opt(1_000_000_000, 0).unwrap()
}

/// `list_today`'s filter: open tasks due on one date.
fn today() -> TaskFilter {
    let date = NaiveDate::from_ymd_opt(2026, 12, 6);
    TaskFilter {
        completed: Some(false),
        due_from: date,
        due_to: date,
        ..TaskFilter::default()
    }
}

/// The pgbench variable each stand-in becomes.
fn variables() -> Vec<(Value, &'static str)> {
    let (due_first, due_last) = today().due_key_range().unwrap();
    vec![
        (due_first.into(), "due_first"),
        (due_last.into(), "due_last"),
        (USER.into(), "user_id"),
        (TASK.into(), "task_id"),
        (NEW_TASK.into(), "new_id"),
        (DEEP_USER.into(), "deep_user_id"),
        (AFTER_ID.into(), "after_id"),
        (TITLE.into(), "title"),
        (Some(DESCRIPTION.to_owned()).into(), "description"),
        (false.into(), "is_completed"),
        (now().into(), "now"),
        (after_created_at().into(), "after_created_at"),
    ]
}

/// The script of one operation: its statements as PostgreSQL receives them, each `$n` named.
fn script(operation: &str, request: &str, statements: &[Statement]) -> String {
    let known = variables();
    let placeholder = regex::Regex::new(r"\$(\d+)").unwrap();
    let mut sets = BTreeSet::new();
    let mut sql = String::new();
    for built in statements {
        let values = built
            .values
            .clone()
            .map(|values| values.0)
            .unwrap_or_default();
        let names: Vec<String> = values
            .iter()
            .enumerate()
            .map(|(index, value)| {
                if let Some((_, name)) = known.iter().find(|(known, _)| known == value) {
                    if *name == "title" {
                        sets.insert("\\set title random(1, 1000000000)".to_owned());
                    }
                    return format!(":{name}");
                }
                match value {
                    // The integers a statement binds: a LIMIT, the version a feed starts after.
                    Value::BigUnsigned(Some(limit)) => {
                        sets.insert(format!("\\set limit_{limit} {limit}"));
                        format!(":limit_{limit}")
                    }
                    Value::BigInt(Some(since)) => {
                        sets.insert(format!("\\set since {since}"));
                        ":since".to_owned()
                    }
                    // A new task's defaults of the task model: written as they are.
                    Value::SmallInt(Some(priority)) => priority.to_string(),
                    Value::String(Some(empty)) if empty.as_str() == "[]" => "'[]'".to_owned(),
                    null if null == &null.as_null() => "NULL".to_owned(),
                    other => panic!(
                        "{operation}: ${} is {other:?}, which no variable stands for",
                        index + 1
                    ),
                }
            })
            .collect();
        let text = placeholder.replace_all(&built.sql, |captures: &regex::Captures| {
            let index: usize = captures[1].parse().unwrap();
            names[index - 1].clone()
        });
        sql.push_str(&text);
        sql.push_str(";\n");
    }
    let mut text = format!(
        "-- {operation}: {request}\n\
         -- What the server sends PostgreSQL for one such request, written from the\n\
         -- store's own statement (src/store/statements/) by tests/api/benchmark_sql.rs, which\n\
         -- fails when this file differs. Variables: :user_id, :task_id a seeded task (the\n\
         -- benchmark's scripts pick one from bench_pool); :new_id, :now a new time-ordered id and\n\
         -- the current time (fetched with \\gset); :title a random integer; the others are\n\
         -- constants the benchmark passes with -D.\n"
    );
    for set in sets {
        text.push_str(&set);
        text.push('\n');
    }
    text.push_str(&sql);
    text
}

#[test]
fn benchmark_sql_is_the_stores_own_statements() {
    let owned = OwnedTask {
        user_id: USER,
        task_id: TASK,
    };
    let created = Task {
        id: NEW_TASK,
        user_id: USER,
        title: TITLE.to_owned(),
        description: Some(DESCRIPTION.to_owned()),
        is_completed: false,
        completed_at: None,
        due: None,
        priority: Default::default(),
        tags: Default::default(),
        recurrence: None,
        recurrence_start: None,
        list_id: None,
        position: String::new(),
        created_at: now(),
        updated_at: now(),
        version: 0,
    };
    let every_task = TaskFilter::default();
    let first_page = |user_id, after| {
        ListTasks {
            user_id,
            sort: TaskSort::CreatedAtDesc,
            filter: &every_task,
            after,
            limit: PAGE_SIZE,
        }
        .statement(DatabaseBackend::Postgres)
    };
    let deep_position = TaskPosition {
        key: SortKey::Time(after_created_at()),
        id: AFTER_ID,
    };
    let new_title = TaskChanges {
        title: Some(TaskTitle::parse(TITLE).unwrap()),
        ..TaskChanges::default()
    };
    let scripts = [
        (
            "get_task",
            script(
                "get_task",
                "GET /users/{user_id}/tasks/{task_id}",
                &[GetTask(owned).statement(DatabaseBackend::Postgres)],
            ),
        ),
        (
            "create_task",
            script(
                "create_task",
                "POST /users/{user_id}/tasks {\"title\", \"description\"}",
                // A create that arrives alone: a statement of creates made together, of one.
                &[CreateTasks {
                    tasks: std::slice::from_ref(&created),
                    // As the benchmark's server has it: no quota binds.
                    max_tasks: i64::MAX,
                }
                .statement()],
            ),
        ),
        (
            "list_page",
            script(
                "list_page",
                "GET /users/{user_id}/tasks (first page, 20 tasks)",
                &[first_page(USER, None)],
            ),
        ),
        (
            "list_deep",
            script(
                "list_deep",
                "GET /users/{deep_user_id}/tasks?cursor=… (20 tasks, 50,000 tasks into the list)",
                &[first_page(DEEP_USER, Some(&deep_position))],
            ),
        ),
        (
            "list_today",
            script(
                "list_today",
                "GET /users/{user_id}/tasks?due_from=D&due_to=D&completed=false&sort=due (first page)",
                &[ListTasks {
                    user_id: USER,
                    sort: TaskSort::DueAsc,
                    filter: &today(),
                    after: None,
                    limit: PAGE_SIZE,
                }
                .statement(DatabaseBackend::Postgres)],
            ),
        ),
        (
            "list_position",
            script(
                "list_position",
                "GET /users/{user_id}/tasks?list_id=inbox&sort=position (first page)",
                &[ListTasks {
                    user_id: USER,
                    sort: TaskSort::PositionAsc,
                    filter: &TaskFilter {
                        list: Some(ListFilter::Inbox),
                        ..TaskFilter::default()
                    },
                    after: None,
                    limit: PAGE_SIZE,
                }
                .statement(DatabaseBackend::Postgres)],
            ),
        ),
        (
            "patch_task",
            script(
                "patch_task",
                "PATCH /users/{user_id}/tasks/{task_id} {\"title\"}",
                &[UpdateTask {
                    task: owned,
                    changes: &new_title,
                    expected: None,
                    not_recurring: false,
                    now: now(),
                }
                .postgres()],
            ),
        ),
        (
            "sync",
            script(
                "sync",
                "GET /users/{user_id}/changes (a full sync's first page, 100 changes)",
                &[
                    // The owner, whose registration the feed's token names.
                    user::Entity::find_by_id(USER)
                        .limit(1)
                        .build(DatabaseBackend::Postgres),
                    ListChanges {
                        user_id: USER,
                        since: 0,
                        limit: CHANGE_PAGE_SIZE,
                    }
                    .statement(DatabaseBackend::Postgres),
                ],
            ),
        ),
    ];
    for (operation, text) in scripts {
        expectorate::assert_contents(format!("benches/sql/{operation}.sql"), &text);
    }
}
