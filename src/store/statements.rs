//! The task statements whose SQL text is built once per shape: each says in one place how its
//! SQL is built and which values that SQL binds, in order, and a test builds every shape both
//! ways and compares them.

use chrono::{DateTime, Utc};
use sea_orm::sea_query::{Alias, BinOper, Expr, Func, SimpleExpr, Value};
use sea_orm::{
    ColumnTrait, Condition, DatabaseBackend, EntityTrait, Iterable, Order, QueryFilter, QueryOrder,
    QuerySelect, QueryTrait, Set,
};
use uuid::Uuid;

use crate::db::sql_cache::{CachedStatement, Shape};
use crate::entity::task;
use crate::pagination::{SortField, SortKey, TaskPosition, TaskSort};

/// A comparison of a sort key with a value (`<`, `<=`, `>`, `>=`).
type Comparison = fn(Expr, SimpleExpr) -> SimpleExpr;

/// Inserts a task as it is.
pub struct InsertTask<'a>(pub &'a task::Model);

impl CachedStatement for InsertTask<'_> {
    type Query = sea_orm::Insert<task::ActiveModel>;

    fn shape(&self) -> Shape {
        Shape::CreateTask
    }

    fn build(&self) -> Self::Query {
        let task = self.0;
        task::Entity::insert(task::ActiveModel {
            id: Set(task.id),
            user_id: Set(task.user_id),
            title: Set(task.title.clone()),
            description: Set(task.description.clone()),
            is_completed: Set(task.is_completed),
            created_at: Set(task.created_at),
            updated_at: Set(task.updated_at),
        })
    }

    fn values(&self) -> Vec<Value> {
        let task = self.0;
        vec![
            task.id.into(),
            task.user_id.into(),
            task.title.clone().into(),
            task.description.clone().into(),
            task.is_completed.into(),
            task.created_at.into(),
            task.updated_at.into(),
        ]
    }
}

/// One task of one owner.
#[derive(Debug, Clone, Copy)]
pub struct OwnedTask {
    pub user_id: Uuid,
    pub task_id: Uuid,
}

impl OwnedTask {
    fn condition(&self) -> Condition {
        Condition::all()
            .add(task::Column::Id.eq(self.task_id))
            .add(task::Column::UserId.eq(self.user_id))
    }

    /// The values `condition` binds, in its order.
    fn values(&self) -> [Value; 2] {
        [self.task_id.into(), self.user_id.into()]
    }
}

/// Reads one task of its owner.
pub struct GetTask(pub OwnedTask);

impl CachedStatement for GetTask {
    type Query = sea_orm::Select<task::Entity>;

    fn shape(&self) -> Shape {
        Shape::GetTask
    }

    fn build(&self) -> Self::Query {
        task::Entity::find().filter(self.0.condition()).limit(1)
    }

    fn values(&self) -> Vec<Value> {
        self.0.values().into_iter().chain([1u64.into()]).collect()
    }
}

/// Deletes one task of its owner.
pub struct DeleteTask(pub OwnedTask);

impl CachedStatement for DeleteTask {
    type Query = sea_orm::DeleteMany<task::Entity>;

    fn shape(&self) -> Shape {
        Shape::DeleteTask
    }

    fn build(&self) -> Self::Query {
        task::Entity::delete_many().filter(self.0.condition())
    }

    fn values(&self) -> Vec<Value> {
        self.0.values().to_vec()
    }
}

/// Changes the given fields of one task of its owner, returning it; `updated_at` moves (never
/// back) only when a value really changes.
pub struct UpdateTask {
    pub task: OwnedTask,
    pub title: Option<String>,
    /// `Some(None)` clears the description.
    pub description: Option<Option<String>>,
    pub is_completed: Option<bool>,
    pub now: DateTime<Utc>,
}

impl CachedStatement for UpdateTask {
    type Query = sea_orm::UpdateMany<task::Entity>;

    fn shape(&self) -> Shape {
        Shape::UpdateTask {
            title: self.title.is_some(),
            description: self.description.as_ref().map(Option::is_none),
            is_completed: self.is_completed.is_some(),
        }
    }

    fn build(&self) -> Self::Query {
        let mut update = task::Entity::update_many().filter(self.task.condition());
        let mut changed = Condition::any();
        if let Some(title) = &self.title {
            changed = changed.add(task::Column::Title.ne(title.clone()));
            update = update.col_expr(task::Column::Title, Expr::value(title.clone()));
        }
        if let Some(description) = &self.description {
            changed = changed.add(match description {
                None => task::Column::Description.is_not_null(),
                Some(text) => task::Column::Description
                    .is_null()
                    .or(task::Column::Description.ne(text.as_str())),
            });
            update = update.col_expr(task::Column::Description, Expr::value(description.clone()));
        }
        if let Some(is_completed) = self.is_completed {
            changed = changed.add(task::Column::IsCompleted.ne(is_completed));
            update = update.col_expr(task::Column::IsCompleted, Expr::value(is_completed));
        }
        // Never earlier than the time already stored: a write that took its time before a
        // concurrent one committed must not move `updated_at` back.
        let later = Func::greatest([
            Expr::value(self.now),
            Expr::col(task::Column::UpdatedAt).into(),
        ]);
        let updated_at = Expr::case(changed, later).finally(Expr::col(task::Column::UpdatedAt));
        let mut update = update.col_expr(task::Column::UpdatedAt, updated_at.into());
        // Named columns: a column a newer release adds changes nothing this statement returns.
        QueryTrait::query(&mut update)
            .returning(sea_orm::sea_query::Query::returning().columns(task::Column::iter()));
        update
    }

    fn values(&self) -> Vec<Value> {
        // The new values, the ones the CASE compares with, the time, the task.
        let new_values = [
            self.title.clone().map(Value::from),
            self.description.clone().map(Value::from),
            self.is_completed.map(Value::from),
        ];
        let compared = [
            self.title.clone().map(Value::from),
            self.description.clone().flatten().map(Value::from),
            self.is_completed.map(Value::from),
        ];
        new_values
            .into_iter()
            .chain(compared)
            .flatten()
            .chain([self.now.into()])
            .chain(self.task.values())
            .collect()
    }
}

/// One keyset page of a user's tasks: `limit + 1` rows, so that the caller sees whether more
/// follow.
pub struct ListTasks {
    pub backend: DatabaseBackend,
    pub user_id: Uuid,
    pub sort: TaskSort,
    pub completed: Option<bool>,
    pub title_contains: Option<String>,
    pub after: Option<TaskPosition>,
    pub limit: u64,
}

impl CachedStatement for ListTasks {
    type Query = sea_orm::Select<task::Entity>;

    fn shape(&self) -> Shape {
        Shape::ListTasks {
            sort: self.sort,
            completed: self.completed.is_some(),
            title_contains: self.title_contains.is_some(),
            after: self.after.is_some(),
        }
    }

    fn build(&self) -> Self::Query {
        let (key, order) = sort_key(self.sort, self.backend);
        let mut select = task::Entity::find().filter(task::Column::UserId.eq(self.user_id));
        if let Some(completed) = self.completed {
            select = select.filter(task::Column::IsCompleted.eq(completed));
        }
        if let Some(text) = &self.title_contains {
            select = select.filter(title_search(text, self.backend));
        }
        if let Some(after) = &self.after {
            let value: SimpleExpr = match &after.key {
                SortKey::Time(time) => Expr::value(*time),
                SortKey::Title(title) => Func::lower(Expr::value(title.clone())).into(),
            };
            let (beyond, reached): (Comparison, Comparison) = match order {
                Order::Desc => (Expr::lt, Expr::lte),
                _ => (Expr::gt, Expr::gte),
            };
            // `reached` repeats what the OR implies, as a plain bound an index range scan can use.
            select =
                select.filter(
                    Condition::all()
                        .add(reached(Expr::expr(key.clone()), value.clone()))
                        .add(
                            Condition::any()
                                .add(beyond(Expr::expr(key.clone()), value.clone()))
                                .add(Condition::all().add(Expr::expr(key.clone()).eq(value)).add(
                                    beyond(Expr::col(task::Column::Id), Expr::value(after.id)),
                                )),
                        ),
                );
        }
        select
            .order_by(key, order.clone())
            .order_by(task::Column::Id, order)
            .limit(self.limit + 1)
    }

    fn values(&self) -> Vec<Value> {
        // The owner, the completed filter, the search's values, the cursor's key (thrice) and
        // id, the limit.
        let search = self
            .title_contains
            .as_deref()
            .map(|text| title_search_values(text, self.backend));
        let cursor = self.after.as_ref().map(|after| {
            let key = match &after.key {
                SortKey::Time(time) => Value::from(*time),
                SortKey::Title(title) => Value::from(title.clone()),
            };
            [key.clone(), key.clone(), key, after.id.into()]
        });
        [Some(self.user_id.into()), self.completed.map(Value::from)]
            .into_iter()
            .flatten()
            .chain(search.into_iter().flatten())
            .chain(cursor.into_iter().flatten())
            .chain([(self.limit + 1).into()])
            .collect()
    }
}

/// The values the title search binds, in order: the LIKE pattern on PostgreSQL, the text and
/// the 0 its position must exceed on SQLite.
fn title_search_values(text: &str, backend: DatabaseBackend) -> Vec<Value> {
    match backend {
        DatabaseBackend::Postgres => vec![like_pattern(text).into()],
        _ => vec![text.into(), 0.into()],
    }
}

/// The condition that a title contains `text`, case-insensitively (both lower-cased by the
/// database, so that they fold alike); it binds `title_search_values`.
fn title_search(text: &str, backend: DatabaseBackend) -> SimpleExpr {
    let title = Func::lower(Expr::col(task::Column::Title));
    match backend {
        // LIKE can use the trigram index on lower(title).
        DatabaseBackend::Postgres => {
            Expr::expr(title).binary(BinOper::Like, Func::lower(Expr::value(like_pattern(text))))
        }
        // A plain substring test: no wildcards at all.
        _ => {
            let position = Func::cust(Alias::new("instr"))
                .arg(title)
                .arg(Func::lower(Expr::value(text)));
            Expr::expr(position).gt(0)
        }
    }
}

/// `%text%` with the text's own `%`, `_` and `\` escaped with PostgreSQL's default LIKE escape,
/// the backslash.
fn like_pattern(text: &str) -> String {
    let escaped: String = text
        .chars()
        .flat_map(|c| match c {
            '%' | '_' | '\\' => vec!['\\', c],
            c => vec![c],
        })
        .collect();
    format!("%{escaped}%")
}

/// The expression a sort compares first. Titles compare lower-cased and byte by byte (SQLite's
/// default; PostgreSQL is told `COLLATE "C"`), so that both databases order them alike.
fn sort_key(sort: TaskSort, backend: DatabaseBackend) -> (SimpleExpr, Order) {
    let key = match (sort.field(), backend) {
        (SortField::CreatedAt, _) => Expr::col(task::Column::CreatedAt).into(),
        (SortField::UpdatedAt, _) => Expr::col(task::Column::UpdatedAt).into(),
        (SortField::Title, DatabaseBackend::Postgres) => {
            Expr::cust(r#"lower("title") COLLATE "C""#)
        }
        (SortField::Title, _) => Func::lower(Expr::col(task::Column::Title)).into(),
    };
    let order = if sort.is_descending() {
        Order::Desc
    } else {
        Order::Asc
    };
    (key, order)
}

#[cfg(test)]
mod tests {
    use std::collections::HashSet;

    use super::*;

    /// Builds `statement` and checks that the values it lists are the ones its SQL binds.
    fn check(
        statement: &impl CachedStatement,
        backend: DatabaseBackend,
        texts: &mut HashSet<String>,
    ) {
        let built = statement.build().build(backend);
        assert_eq!(
            built.values.map(|values| values.0).unwrap_or_default(),
            statement.values(),
            "{:?} on {backend:?}",
            statement.shape()
        );
        texts.insert(built.sql);
    }

    fn owned() -> OwnedTask {
        OwnedTask {
            user_id: Uuid::new_v4(),
            task_id: Uuid::new_v4(),
        }
    }

    #[test]
    fn every_shape_lists_the_values_its_sql_binds_in_order() {
        let now = crate::domain::now();
        for backend in [DatabaseBackend::Postgres, DatabaseBackend::Sqlite] {
            let mut texts = HashSet::new();
            let task = task::Model {
                id: Uuid::new_v4(),
                user_id: Uuid::new_v4(),
                title: "t".to_owned(),
                description: Some("d".to_owned()),
                is_completed: true,
                created_at: now,
                updated_at: now,
            };
            check(&InsertTask(&task), backend, &mut texts);
            check(&GetTask(owned()), backend, &mut texts);
            check(&DeleteTask(owned()), backend, &mut texts);
            let mut updates = 0;
            for title in [None, Some("new title".to_owned())] {
                for description in [None, Some(None), Some(Some("new text".to_owned()))] {
                    for is_completed in [None, Some(false)] {
                        if title.is_none() && description.is_none() && is_completed.is_none() {
                            continue; // changes nothing: the store reads the task instead
                        }
                        let update = UpdateTask {
                            task: owned(),
                            title: title.clone(),
                            description: description.clone(),
                            is_completed,
                            now,
                        };
                        check(&update, backend, &mut texts);
                        updates += 1;
                    }
                }
            }
            assert_eq!(updates, 11);
            let mut lists = 0;
            for (sort, _) in TaskSort::ALL {
                for completed in [None, Some(true)] {
                    for title_contains in [None, Some("50% off_".to_owned())] {
                        for after in [false, true] {
                            let key = match sort.field() {
                                SortField::Title => SortKey::Title("b".to_owned()),
                                _ => SortKey::Time(now),
                            };
                            let list = ListTasks {
                                backend,
                                user_id: Uuid::new_v4(),
                                sort,
                                completed,
                                title_contains: title_contains.clone(),
                                after: after.then(|| TaskPosition {
                                    key,
                                    id: Uuid::new_v4(),
                                }),
                                limit: 20,
                            };
                            check(&list, backend, &mut texts);
                            lists += 1;
                        }
                    }
                }
            }
            assert_eq!(lists, 48);
            assert_eq!(
                texts.len(),
                3 + 11 + 48,
                "one text per shape on {backend:?}"
            );
        }
    }
}
