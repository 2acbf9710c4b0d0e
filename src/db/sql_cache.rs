//! SQL text written once per statement shape. A statement writes its text and binds its values in
//! one pass ([`Sql`]), so that no list of values is kept beside the text; once its shape's text is
//! cached, the same code runs with the text left out and only gathers the values (and the row
//! counts written into the text).

use std::collections::HashMap;
use std::fmt::{Debug, Write as _};
use std::hash::Hash;
use std::sync::{Arc, RwLock};

use sea_orm::sea_query::Value;
use sea_orm::{DatabaseBackend, Statement};

/// The row counts [`Sql::limit`] writes: a page and the row after it, at the API's usual sizes.
const ROW_COUNTS: [u64; 9] = [2, 6, 11, 21, 51, 101, 251, 501, 1001];

/// A statement being written: its SQL text (left out when its shape's text is cached), the row
/// counts written into the text and the values it binds, in the order of their placeholders.
pub struct Sql {
    backend: DatabaseBackend,
    /// The text after the last row count.
    text: Option<String>,
    /// The text before each row count.
    pieces: Vec<String>,
    /// The row counts, in the order of their gaps.
    row_counts: Vec<u64>,
    values: Vec<Value>,
}

impl Sql {
    fn new(backend: DatabaseBackend, writes_text: bool, values: usize) -> Self {
        Self {
            backend,
            text: writes_text.then(String::new),
            pieces: Vec::new(),
            row_counts: Vec::new(),
            values: Vec::with_capacity(values),
        }
    }

    /// The text written (if it was), in its pieces around the row counts; the row counts; the
    /// values.
    fn finish(mut self) -> (Option<Text>, Vec<u64>, Vec<Value>) {
        let text = self.text.take().map(|tail| {
            self.pieces.push(tail);
            Text {
                pieces: self.pieces,
                values: self.values.len(),
            }
        });
        (text, self.row_counts, self.values)
    }

    pub fn backend(&self) -> DatabaseBackend {
        self.backend
    }

    /// Appends SQL text.
    pub fn push(&mut self, text: &str) -> &mut Self {
        if let Some(sql) = &mut self.text {
            sql.push_str(text);
        }
        self
    }

    /// Binds `value` where its placeholder goes: `$n` on PostgreSQL, `?` on SQLite.
    pub fn bind(&mut self, value: impl Into<Value>) -> &mut Self {
        self.values.push(value.into());
        if let Some(sql) = &mut self.text {
            match self.backend {
                DatabaseBackend::Postgres => {
                    write!(sql, "${}", self.values.len()).expect("a String takes any text");
                }
                _ => sql.push('?'),
            }
        }
        self
    }

    /// ` LIMIT n`, at least `rows`: the number written into the text, not bound, and rounded up
    /// to one of `ROW_COUNTS`, so that callers cut what they read to what they need.
    /// PostgreSQL plans a bound `LIMIT` for a tenth of the rows, so that a statement with one
    /// never earns a generic plan and is planned anew on every execution (planning a page of
    /// tasks, with the table's many indexes to weigh, cost as much as running it); with the
    /// number in the text, one plan serves every execution. Rounded, a client's page sizes make
    /// a few texts of a shape, not one each, so that they never crowd the connections' prepared
    /// statements. The shape's text is cached with a gap where the number goes.
    pub fn limit(&mut self, rows: u64) -> &mut Self {
        self.push(" LIMIT ");
        let rounded = ROW_COUNTS.into_iter().find(|&count| count >= rows);
        self.row_counts.push(rounded.unwrap_or(rows));
        if let Some(text) = &mut self.text {
            self.pieces.push(std::mem::take(text));
        }
        self
    }

    /// `items`, each written by `write`, with `separator` between them.
    pub fn join<T>(
        &mut self,
        items: impl IntoIterator<Item = T>,
        separator: &str,
        mut write: impl FnMut(&mut Self, T),
    ) -> &mut Self {
        for (index, item) in items.into_iter().enumerate() {
            if index > 0 {
                self.push(separator);
            }
            write(self, item);
        }
        self
    }

    /// ` FOR UPDATE`, on PostgreSQL: the rows read are locked to the end of the transaction
    /// (SQLite has no row locks, and needs none: it has one writer at a time).
    pub fn lock_rows(&mut self) -> &mut Self {
        match self.backend {
            DatabaseBackend::Postgres => self.push(" FOR UPDATE"),
            _ => self,
        }
    }

    /// The opening of the function that answers the greater of its arguments.
    pub fn greatest(&mut self) -> &mut Self {
        match self.backend {
            DatabaseBackend::Postgres => self.push("GREATEST("),
            _ => self.push("MAX("),
        }
    }
}

/// A shape's SQL text, in pieces around its row counts, and how many values it binds.
#[derive(Debug, PartialEq)]
struct Text {
    pieces: Vec<String>,
    values: usize,
}

impl Text {
    /// The text with `row_counts` in its gaps.
    fn with(&self, row_counts: &[u64]) -> String {
        let (tail, pieces) = self.pieces.split_last().expect("a text has its tail");
        assert_eq!(pieces.len(), row_counts.len(), "one row count for each gap");
        let digits = 4 * row_counts.len();
        let mut sql =
            String::with_capacity(self.pieces.iter().map(String::len).sum::<usize>() + digits);
        for (piece, rows) in pieces.iter().zip(row_counts) {
            sql.push_str(piece);
            write!(sql, "{rows}").expect("a String takes any text");
        }
        sql.push_str(tail);
        sql
    }
}

/// The SQL text of each shape written so far, per database backend. A shape is whatever decides
/// a statement's text apart from its values.
#[derive(Debug)]
pub struct SqlCache<S> {
    postgres: RwLock<HashMap<S, Arc<Text>>>,
    sqlite: RwLock<HashMap<S, Arc<Text>>>,
}

impl<S> Default for SqlCache<S> {
    fn default() -> Self {
        Self {
            postgres: RwLock::default(),
            sqlite: RwLock::default(),
        }
    }
}

impl<S: Copy + Eq + Hash + Debug> SqlCache<S> {
    /// The statement `write` writes for `backend`, its text written once for `shape`; later
    /// statements of the shape take the cached text and only gather their values. Debug builds
    /// write the text every time and check that it is the shape's.
    pub fn statement(
        &self,
        backend: DatabaseBackend,
        shape: S,
        write: impl Fn(&mut Sql),
    ) -> Statement {
        let texts = match backend {
            DatabaseBackend::Postgres => &self.postgres,
            _ => &self.sqlite,
        };
        let cached = texts.read().expect("not poisoned").get(&shape).cloned();
        let Some(text) = cached else {
            let mut sql = Sql::new(backend, true, 0);
            write(&mut sql);
            let (text, row_counts, values) = sql.finish();
            let text = text.expect("written");
            let statement = text.with(&row_counts);
            texts
                .write()
                .expect("not poisoned")
                .insert(shape, Arc::new(text));
            return Statement::from_sql_and_values(backend, statement, values);
        };
        let mut sql = Sql::new(backend, cfg!(debug_assertions), text.values);
        write(&mut sql);
        let (written, row_counts, values) = sql.finish();
        if let Some(written) = written {
            assert_eq!(written, *text, "{shape:?} has one SQL text");
        }
        Statement::from_sql_and_values(backend, text.with(&row_counts), values)
    }
}

#[cfg(test)]
mod tests {
    use uuid::Uuid;

    use super::*;

    /// A task by id and owner; `numbered` writes another text for the same shape.
    fn get_task(sql: &mut Sql, task_id: Uuid, user_id: Uuid, numbered: bool) {
        sql.push(r#"SELECT "id" FROM "tasks" WHERE "id" = "#)
            .bind(task_id)
            .push(r#" AND "user_id" = "#)
            .bind(user_id)
            .push(if numbered { " LIMIT 1" } else { "" });
    }

    #[test]
    fn a_shape_written_once_takes_new_values_for_the_same_text() {
        let cache = SqlCache::default();
        let first = cache.statement(DatabaseBackend::Postgres, "get", |sql| {
            get_task(sql, Uuid::new_v4(), Uuid::new_v4(), false)
        });
        let (task_id, user_id) = (Uuid::new_v4(), Uuid::new_v4());
        let second = cache.statement(DatabaseBackend::Postgres, "get", |sql| {
            get_task(sql, task_id, user_id, false)
        });
        assert_eq!(second.sql, first.sql);
        assert_eq!(
            second.sql,
            r#"SELECT "id" FROM "tasks" WHERE "id" = $1 AND "user_id" = $2"#
        );
        assert_eq!(
            second.values.unwrap().0,
            vec![Value::from(task_id), user_id.into()]
        );
        let sqlite = cache.statement(DatabaseBackend::Sqlite, "get", |sql| {
            get_task(sql, task_id, user_id, false)
        });
        assert_eq!(
            sqlite.sql,
            r#"SELECT "id" FROM "tasks" WHERE "id" = ? AND "user_id" = ?"#
        );
    }

    /// A page of an owner's tasks, row counts in the text, in a subquery and at the end.
    fn page(sql: &mut Sql, user_id: Uuid, inner: u64, outer: u64) {
        sql.push(r#"SELECT * FROM (SELECT "id" FROM "tasks" WHERE "user_id" = "#)
            .bind(user_id)
            .limit(inner)
            .push(r#") AS "page""#)
            .limit(outer);
    }

    #[test]
    fn row_counts_are_written_into_the_text_of_their_statement_alone() {
        let cache = SqlCache::default();
        let user_id = Uuid::new_v4();
        let statement = |backend, inner, outer| {
            cache
                .statement(backend, "page", |sql| page(sql, user_id, inner, outer))
                .sql
        };
        let text = |inner, outer| {
            format!(
                r#"SELECT * FROM (SELECT "id" FROM "tasks" WHERE "user_id" = $1 LIMIT {inner}) AS "page" LIMIT {outer}"#
            )
        };
        // Written, then cached with other counts.
        assert_eq!(statement(DatabaseBackend::Postgres, 21, 2), text(21, 2));
        assert_eq!(
            statement(DatabaseBackend::Postgres, 101, 1001),
            text(101, 1001)
        );
        // Rounded up to the next of the row counts; past the greatest, as given.
        assert_eq!(statement(DatabaseBackend::Postgres, 1, 22), text(2, 51));
        assert_eq!(
            statement(DatabaseBackend::Postgres, 7, 1002),
            text(11, 1002)
        );
        for sqlite in [(3, 6), (12, 21)] {
            statement(DatabaseBackend::Sqlite, sqlite.0, sqlite.1);
        }
        assert_eq!(
            statement(DatabaseBackend::Sqlite, 12, 21),
            r#"SELECT * FROM (SELECT "id" FROM "tasks" WHERE "user_id" = ? LIMIT 21) AS "page" LIMIT 21"#
        );
        let values = cache
            .statement(DatabaseBackend::Postgres, "page", |sql| {
                page(sql, user_id, 21, 21)
            })
            .values;
        assert_eq!(values.unwrap().0, vec![Value::from(user_id)]);
    }

    #[test]
    #[cfg(debug_assertions)]
    #[should_panic(expected = "has one SQL text")]
    fn a_shape_written_two_ways_is_caught_in_debug_builds() {
        let cache = SqlCache::default();
        let (task_id, user_id) = (Uuid::new_v4(), Uuid::new_v4());
        cache.statement(DatabaseBackend::Postgres, "get", |sql| {
            get_task(sql, task_id, user_id, false)
        });
        cache.statement(DatabaseBackend::Postgres, "get", |sql| {
            get_task(sql, task_id, user_id, true)
        });
    }
}
