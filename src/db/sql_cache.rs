//! SQL text built once per statement shape: sea-query writes a statement's SQL the first time
//! its shape is used, and later statements of that shape bind their own values to the same text.

use std::collections::HashMap;
use std::sync::RwLock;

use sea_orm::sea_query::Value;
use sea_orm::{DatabaseBackend, QueryTrait, Statement};

use crate::pagination::TaskSort;

/// What decides a statement's SQL text, apart from its values.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum Shape {
    CreateTask,
    GetTask,
    DeleteTask,
    /// Which fields change, and (when it changes) whether the description becomes null.
    UpdateTask {
        title: bool,
        description: Option<bool>,
        is_completed: bool,
    },
    ListTasks {
        sort: TaskSort,
        completed: bool,
        title_contains: bool,
        after: bool,
    },
}

/// The SQL text of each shape built so far, for one database backend.
#[derive(Debug, Default)]
pub struct SqlCache {
    texts: RwLock<HashMap<Shape, String>>,
}

impl SqlCache {
    /// The statement `query` builds, with `values` bound in the order its SQL takes them; the
    /// SQL is built once per shape. Debug builds also build every statement afresh and check
    /// that its text is the shape's and its values are `values`.
    pub fn statement<Q: QueryTrait>(
        &self,
        backend: DatabaseBackend,
        shape: Shape,
        values: Vec<Value>,
        query: impl FnOnce() -> Q,
    ) -> Statement {
        let cached = self
            .texts
            .read()
            .expect("not poisoned")
            .get(&shape)
            .cloned();
        let Some(sql) = cached else {
            let built = query().build(backend);
            assert_values(shape, &built, &values);
            let mut texts = self.texts.write().expect("not poisoned");
            texts.insert(shape, built.sql.clone());
            return built;
        };
        if cfg!(debug_assertions) {
            let built = query().build(backend);
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
    use sea_orm::{ColumnTrait, EntityTrait, QueryFilter, QuerySelect};
    use uuid::Uuid;

    use super::*;
    use crate::entity::task;

    /// A task by id and owner, with the values to bind given.
    fn get_task(cache: &SqlCache, task_id: Uuid, user_id: Uuid, values: Vec<Value>) -> Statement {
        cache.statement(DatabaseBackend::Postgres, Shape::GetTask, values, || {
            task::Entity::find()
                .filter(task::Column::Id.eq(task_id))
                .filter(task::Column::UserId.eq(user_id))
                .limit(1)
        })
    }

    fn in_order(task_id: Uuid, user_id: Uuid) -> Vec<Value> {
        vec![task_id.into(), user_id.into(), 1u64.into()]
    }

    #[test]
    fn a_shape_built_once_takes_new_values_for_the_same_text() {
        let cache = SqlCache::default();
        let (task_id, user_id) = (Uuid::new_v4(), Uuid::new_v4());
        let first = get_task(&cache, task_id, user_id, in_order(task_id, user_id));
        let (task_id, user_id) = (Uuid::new_v4(), Uuid::new_v4());
        let second = get_task(&cache, task_id, user_id, in_order(task_id, user_id));
        assert_eq!(second.sql, first.sql);
        assert!(second.sql.starts_with("SELECT "), "{}", second.sql);
        assert_eq!(second.values.unwrap().0, in_order(task_id, user_id));
    }

    #[test]
    #[cfg(debug_assertions)]
    #[should_panic(expected = "the values in the order of its SQL")]
    fn values_out_of_order_are_caught_in_debug_builds() {
        let cache = SqlCache::default();
        let (task_id, user_id) = (Uuid::new_v4(), Uuid::new_v4());
        get_task(&cache, task_id, user_id, in_order(task_id, user_id));
        get_task(&cache, task_id, user_id, in_order(user_id, task_id));
    }
}
