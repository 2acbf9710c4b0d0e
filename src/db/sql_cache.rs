//! SQL text built once per statement shape: sea-query writes a statement's SQL the first time
//! its shape is used, and later statements of that shape bind their own values to the same text.

use std::collections::HashMap;
use std::sync::RwLock;

use sea_orm::sea_query::Value;
use sea_orm::{DatabaseBackend, Statement, StatementBuilder};

use crate::pagination::TaskSort;

/// What decides a statement's SQL text, apart from its values.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum Shape {
    /// Whether the same statement claims an idempotency key (PostgreSQL).
    CreateTask {
        claims_key: bool,
    },
    ClaimIdempotencyKey,
    /// Which of the owner's counts the bump keeps besides the change number.
    BumpChangeSeq {
        counts: Counts,
    },
    DropTombstones,
    GetTask,
    /// How many versions `If-Match` lists (0: no condition).
    DeleteTask {
        expected_versions: usize,
    },
    InsertTombstone,
    /// Which fields change, (when it changes) whether the description becomes null, and how many
    /// versions `If-Match` lists.
    UpdateTask {
        title: bool,
        description: Option<bool>,
        is_completed: bool,
        expected_versions: usize,
    },
    ListChanges,
    ListTasks {
        sort: TaskSort,
        completed: bool,
        title_contains: bool,
        after: bool,
    },
}

/// What a change-number bump does to the owner's counts.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum Counts {
    Unchanged,
    TaskCreated,
    TaskDeleted,
}

/// A statement of the SQL cache: its shape decides its text; `values` are the ones `build`'s SQL
/// binds, in its order.
pub trait CachedStatement {
    fn shape(&self) -> Shape;
    /// The statement as sea-query writes it for `backend`, values bound.
    fn build(&self, backend: DatabaseBackend) -> Statement;
    fn values(&self, backend: DatabaseBackend) -> Vec<Value>;
}

/// `query` written for `backend`.
pub fn written(query: &impl StatementBuilder, backend: DatabaseBackend) -> Statement {
    query.build(&backend)
}

/// The SQL text of each shape built so far, for one database backend.
#[derive(Debug, Default)]
pub struct SqlCache {
    texts: RwLock<HashMap<Shape, String>>,
}

impl SqlCache {
    /// `statement` with its values bound to the text of its shape, which is built once. Debug
    /// builds also build every statement afresh and check that its text is the shape's and its
    /// values are the ones it lists.
    pub fn statement(
        &self,
        backend: DatabaseBackend,
        statement: &impl CachedStatement,
    ) -> Statement {
        let shape = statement.shape();
        let cached = self
            .texts
            .read()
            .expect("not poisoned")
            .get(&shape)
            .cloned();
        let Some(sql) = cached else {
            let built = statement.build(backend);
            assert_values(shape, &built, &statement.values(backend));
            let mut texts = self.texts.write().expect("not poisoned");
            texts.insert(shape, built.sql.clone());
            return built;
        };
        let values = statement.values(backend);
        if cfg!(debug_assertions) {
            let built = statement.build(backend);
            assert_eq!(built.sql, sql, "{shape:?} has one SQL text");
            assert_values(shape, &built, &values);
        }
        Statement::from_sql_and_values(backend, sql, values)
    }
}

/// In debug builds, that the values given for a statement are the ones its SQL takes, in order.
fn assert_values(shape: Shape, built: &Statement, values: &[Value]) {
    debug_assert_eq!(
        built.values.as_ref().map(|built| built.0.as_slice()),
        Some(values),
        "{shape:?}: the values in the order of its SQL"
    );
}

#[cfg(test)]
mod tests {
    use sea_orm::{ColumnTrait, EntityTrait, QueryFilter, QuerySelect, QueryTrait};
    use uuid::Uuid;

    use super::*;
    use crate::entity::task;

    /// A task by id and owner that lists its values in the order given.
    struct GetTask {
        task_id: Uuid,
        user_id: Uuid,
        swapped: bool,
    }

    impl CachedStatement for GetTask {
        fn shape(&self) -> Shape {
            Shape::GetTask
        }
        fn build(&self, backend: DatabaseBackend) -> Statement {
            task::Entity::find()
                .filter(task::Column::Id.eq(self.task_id))
                .filter(task::Column::UserId.eq(self.user_id))
                .limit(1)
                .build(backend)
        }
        fn values(&self, _: DatabaseBackend) -> Vec<Value> {
            let (first, second) = match self.swapped {
                false => (self.task_id, self.user_id),
                true => (self.user_id, self.task_id),
            };
            vec![first.into(), second.into(), 1u64.into()]
        }
    }

    fn get_task(swapped: bool) -> GetTask {
        GetTask {
            task_id: Uuid::new_v4(),
            user_id: Uuid::new_v4(),
            swapped,
        }
    }

    #[test]
    fn a_shape_built_once_takes_new_values_for_the_same_text() {
        let cache = SqlCache::default();
        let first = cache.statement(DatabaseBackend::Postgres, &get_task(false));
        let second_task = get_task(false);
        let second = cache.statement(DatabaseBackend::Postgres, &second_task);
        assert_eq!(second.sql, first.sql);
        assert!(second.sql.starts_with("SELECT "), "{}", second.sql);
        assert_eq!(
            second.values.unwrap().0,
            second_task.values(DatabaseBackend::Postgres)
        );
    }

    #[test]
    #[cfg(debug_assertions)]
    #[should_panic(expected = "the values in the order of its SQL")]
    fn values_out_of_order_are_caught_in_debug_builds() {
        let cache = SqlCache::default();
        cache.statement(DatabaseBackend::Postgres, &get_task(false));
        cache.statement(DatabaseBackend::Postgres, &get_task(true));
    }
}
