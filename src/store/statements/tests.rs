//! Every statement shape on both databases: one text per shape, as many values as placeholders.

use std::collections::HashSet;

use sea_orm::{DatabaseBackend, Statement};
use uuid::Uuid;

use super::*;
use crate::db::write::Step;
use crate::domain::{
    self, Due, Priority, Recurrence, Tags, Task, TaskChanges, TaskDescription, TaskFields,
    TaskTitle,
};
use crate::pagination::{ListFilter, SortField, SortKey, TaskFilter, TaskPosition};

fn owned() -> OwnedTask {
    OwnedTask {
        user_id: Uuid::new_v4(),
        task_id: Uuid::new_v4(),
    }
}

/// The statements a write sends on `backend`.
fn sent(write: &impl Write, backend: DatabaseBackend) -> Vec<Statement> {
    match backend {
        DatabaseBackend::Postgres => vec![write.postgres()],
        _ => write
            .sqlite()
            .into_iter()
            .map(|step| match step {
                Step::Returning(statement) | Step::Effect(statement) => statement,
            })
            .collect(),
    }
}

/// The placeholders of `statement`'s text: `$1`…`$n` on PostgreSQL, `?` on SQLite.
fn placeholders(statement: &Statement) -> usize {
    match statement.db_backend {
        DatabaseBackend::Postgres => {
            let numbers: HashSet<usize> = placeholder_numbers(&statement.sql);
            assert!(
                (1..=numbers.len()).all(|n| numbers.contains(&n)),
                "{}: numbered from $1 without gaps",
                statement.sql
            );
            numbers.len()
        }
        _ => statement.sql.matches('?').count(),
    }
}

/// The numbers of the `$n` in `sql`.
fn placeholder_numbers(sql: &str) -> HashSet<usize> {
    sql.split('$')
        .skip(1)
        .filter_map(|rest| {
            let digits: String = rest.chars().take_while(char::is_ascii_digit).collect();
            digits.parse().ok()
        })
        .collect()
}

#[test]
fn every_shape_has_one_text_binding_a_value_per_placeholder() {
    let now = domain::now();
    for backend in [DatabaseBackend::Postgres, DatabaseBackend::Sqlite] {
        let mut statements = Vec::new();
        let task = Task {
            id: Uuid::new_v4(),
            user_id: Uuid::new_v4(),
            title: "t".to_owned(),
            description: Some("d".to_owned()),
            is_completed: true,
            completed_at: None,
            due: None,
            priority: Default::default(),
            tags: Default::default(),
            recurrence: None,
            recurrence_start: None,
            list_id: None,
            position: "a0".to_owned(),
            created_at: now,
            updated_at: now,
            version: 0,
        };
        let in_list = Task {
            list_id: Some(Uuid::new_v4()),
            ..task.clone()
        };
        let claim = IdempotencyClaim {
            key: "k",
            request_hash: "h",
        };
        for claim in [None, Some(claim)] {
            for task in [&task, &in_list] {
                let create = CreateTask {
                    task,
                    claim,
                    max_tasks: 100,
                };
                statements.extend(sent(&create, backend));
            }
        }
        statements.push(GetTask(owned()).statement(backend));
        statements.push(GetTasks(&[owned(), owned(), owned()]).statement(backend));
        let expectations: [Option<&[i64]>; 3] = [None, Some(&[3]), Some(&[3, 4])];
        for expected in expectations {
            let delete = DeleteTask {
                task: owned(),
                expected,
                now,
                max_tombstones: 9,
            };
            statements.extend(sent(&delete, backend));
        }
        statements.push(
            ListChanges {
                user_id: task.user_id,
                since: 7,
                limit: 100,
            }
            .statement(backend),
        );
        let mut updates = 0;
        for title in [None, Some(TaskTitle::parse("new title").unwrap())] {
            for description in [
                None,
                Some(None),
                Some(Some(TaskDescription::parse("new text").unwrap())),
            ] {
                for is_completed in [None, Some(false), Some(true)] {
                    let changes = TaskChanges {
                        title: title.clone(),
                        description: description.clone(),
                        is_completed,
                        ..TaskChanges::default()
                    };
                    if changes == TaskChanges::default() {
                        continue; // changes nothing: the store reads the task instead
                    }
                    for expected in expectations {
                        let update = UpdateTask {
                            task: owned(),
                            changes: &changes,
                            expected,
                            not_recurring: is_completed == Some(true),
                            now,
                        };
                        statements.extend(sent(&update, backend));
                        updates += 1;
                    }
                }
            }
        }
        // A rewrite of the stored task: every column, at the version read.
        for description in [None, Some(TaskDescription::parse("d").unwrap())] {
            let fields = TaskFields {
                title: TaskTitle::parse("t").unwrap(),
                description,
                is_completed: true,
                due: Some(Due::new(domain::parse_date("2026-12-24").unwrap(), None, None).unwrap()),
                priority: Priority::High,
                tags: Tags::parse(&["home"]).unwrap(),
                recurrence: Some(Recurrence::parse("FREQ=DAILY").unwrap()),
                list_id: Some(Uuid::new_v4()),
            };
            let changes = TaskChanges::from(fields.settle(Some(&task)));
            let update = UpdateTask {
                task: owned(),
                changes: &changes,
                expected: Some(&[3]),
                not_recurring: false,
                now,
            };
            statements.extend(sent(&update, backend));
            updates += 1;
        }
        assert_eq!(updates, 53);
        let date = chrono::NaiveDate::from_ymd_opt(2026, 12, 6).unwrap();
        let filters = [
            TaskFilter::default(),
            TaskFilter {
                completed: Some(true),
                ..TaskFilter::default()
            },
            TaskFilter {
                title_contains: Some("50% off_".to_owned()),
                ..TaskFilter::default()
            },
            TaskFilter {
                tag_key: Some("work".to_owned()),
                ..TaskFilter::default()
            },
            TaskFilter {
                priority: Some(3),
                ..TaskFilter::default()
            },
            TaskFilter {
                has_due: Some(true),
                ..TaskFilter::default()
            },
            TaskFilter {
                has_due: Some(false),
                ..TaskFilter::default()
            },
            TaskFilter {
                due_to: Some(date),
                ..TaskFilter::default()
            },
            TaskFilter {
                list: Some(ListFilter::List(Uuid::new_v4())),
                ..TaskFilter::default()
            },
            TaskFilter {
                completed: Some(false),
                title_contains: Some("milk".to_owned()),
                tag_key: Some("home".to_owned()),
                priority: Some(0),
                has_due: Some(true),
                due_from: Some(date),
                due_to: Some(date),
                list: Some(ListFilter::Inbox),
            },
        ];
        let mut lists = 0;
        for (sort, _) in TaskSort::ALL {
            for filter in &filters {
                for after in [false, true] {
                    let key = match sort.field() {
                        SortField::Title => SortKey::Title("b".to_owned()),
                        SortField::Due => SortKey::Due(7),
                        SortField::Priority => SortKey::Priority(2),
                        SortField::Position => SortKey::Position("a1V".to_owned()),
                        SortField::CreatedAt | SortField::UpdatedAt => SortKey::Time(now),
                    };
                    let position = TaskPosition {
                        key,
                        id: Uuid::new_v4(),
                    };
                    let list = ListTasks {
                        user_id: Uuid::new_v4(),
                        sort,
                        filter,
                        after: after.then_some(&position),
                        limit: 20,
                    };
                    statements.push(list.statement(backend));
                    lists += 1;
                }
            }
        }
        assert_eq!(lists, 220);
        let list = domain::List {
            id: Uuid::new_v4(),
            user_id: task.user_id,
            name: "l".to_owned(),
            created_at: now,
            updated_at: now,
            version: 0,
        };
        let owned_list = OwnedList {
            user_id: list.user_id,
            list_id: list.id,
        };
        statements.extend(sent(
            &CreateList {
                list: &list,
                max_lists: 10,
            },
            backend,
        ));
        statements.push(GetList(owned_list).statement(backend));
        for after in [None, Some((now, list.id))] {
            let page = ListLists {
                user_id: list.user_id,
                after,
                limit: 20,
            };
            statements.push(page.statement(backend));
        }
        for expected in expectations {
            let rename = RenameList {
                list: owned_list,
                name: "m",
                expected,
                now,
            };
            statements.extend(sent(&rename, backend));
            let delete = DeleteList {
                list: owned_list,
                expected,
                now,
                max_tombstones: 9,
            };
            statements.extend(sent(&delete, backend));
        }
        statements.push(
            ListTags {
                user_id: task.user_id,
                limit: 1000,
            }
            .statement(backend),
        );
        // A batch's runs, of one and of two.
        let user_id = task.user_id;
        let tasks = [task.clone(), in_list.clone()];
        let ids = [task.id, in_list.id];
        statements.push(LockOwner(user_id).statement(backend));
        for count in [1, 2] {
            let ids = &ids[..count];
            for owner in [None, Some(user_id)] {
                statements.push(TasksWithIds { owner, ids }.statement(backend));
            }
            statements.push(OwnedLists { user_id, ids }.statement(backend));
            statements.push(InsertTasks(&tasks[..count]).statement(backend));
            let rewrite = RewriteTasks {
                user_id,
                tasks: &tasks[..count],
            };
            statements.push(rewrite.statement(backend));
        }
        for list_id in [None, in_list.list_id] {
            statements.push(LastPosition { user_id, list_id }.statement(backend));
        }
        let take = TakeVersions {
            user_id,
            versions: 2,
            created: 2,
        };
        statements.push(take.statement(backend));
        let mut texts = HashSet::new();
        for statement in statements {
            let values = statement.values.as_ref().map_or(0, |values| values.0.len());
            assert_eq!(placeholders(&statement), values, "{}", statement.sql);
            texts.insert(statement.sql);
        }
        // PostgreSQL: 4 creates (with a key or not, in a list or not), 3 deletes, 2 reads (one
        // task, three together); SQLite: 2 claims, 4 bumps, 2 inserts, 3 deletes, a tombstone,
        // the drops of task and list deletions, 2 reads. Both: the feed, 53 updates, 220 lists, the tags, 14 of runs
        // (the owner locked; of one and of two: 2 reads of tasks, a read of lists, an insert,
        // a rewrite; 2 last positions, the counter taken). Lists,
        // PostgreSQL: a create, a read, 2 pages, 3 renames, 3 deletes; SQLite: a bump and an
        // insert, a read, 2 pages, 3 renames, 3 deletes' bumps and their 4 other steps.
        let writes_and_reads = match backend {
            DatabaseBackend::Postgres => 4 + 3 + 2 + (1 + 1 + 2 + 3 + 3),
            _ => 2 + 4 + 2 + 3 + 1 + 2 + 2 + (2 + 1 + 2 + 3 + 3 + 4),
        };
        assert_eq!(
            texts.len(),
            writes_and_reads + 1 + 53 + 220 + 1 + 14,
            "one text per shape on {backend:?}"
        );
    }
}

#[test]
fn postgres_writes_lock_the_owner_and_take_their_number_in_one_statement() {
    let changes = TaskChanges {
        title: Some(TaskTitle::parse("t").unwrap()),
        ..TaskChanges::default()
    };
    let update = UpdateTask {
        task: owned(),
        changes: &changes,
        expected: Some(&[5]),
        not_recurring: false,
        now: domain::now(),
    };
    let sql = update.postgres().sql;
    assert!(
        sql.starts_with(r#"WITH "changed" AS (UPDATE "tasks""#),
        "{sql}"
    );
    assert!(sql.contains("FOR UPDATE"), "{sql}");
    assert!(sql.contains(r#""counter" AS (UPDATE "users""#), "{sql}");
    let sqlite = sent(&update, DatabaseBackend::Sqlite);
    assert!(
        sqlite[0].sql.starts_with(r#"UPDATE "tasks""#),
        "{}",
        sqlite[0].sql
    );
    assert!(sqlite
        .iter()
        .all(|statement| !statement.sql.contains("FOR UPDATE")));
}
