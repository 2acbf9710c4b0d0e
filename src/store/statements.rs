//! The store's statements whose SQL text is built once per shape: each says in one place how its
//! SQL is built and which values that SQL binds, in order, and a test builds every shape both
//! ways and compares them.
//!
//! Writes take their version from the owner's change counter. On PostgreSQL each write is one
//! statement: it locks the owner's `users` row (held to commit, so that a user's changes commit in
//! the order of their numbers), writes the task with `change_seq + 1`, and bumps the counter only
//! when the task was written. SQLite has no data-modifying CTEs: there the same parts run as
//! statements of one transaction (SQLite has one writer at a time).

use chrono::{DateTime, Utc};
use sea_orm::sea_query::{
    Alias, BinOper, CommonTableExpression, Expr, Func, InsertStatement, LockType, OnConflict,
    Query, SelectStatement, SimpleExpr, UpdateStatement, Value, WithClause,
};
use sea_orm::{
    ColumnTrait, Condition, DatabaseBackend, EntityTrait, Iterable, Order, QueryFilter, QueryOrder,
    QuerySelect, QueryTrait, Statement,
};
use uuid::Uuid;

use crate::db::sql_cache::{written, CachedStatement, Counts, Shape};
use crate::entity::{idempotency_key, task, task_tombstone, user};
use crate::pagination::{SortField, SortKey, TaskPosition, TaskSort};

/// A comparison of a sort key with a value (`<`, `<=`, `>`, `>=`).
type Comparison = fn(Expr, SimpleExpr) -> SimpleExpr;

/// The common table expressions of PostgreSQL's one-statement writes.
const COUNTER: &str = "counter";
const CHANGED: &str = "changed";
const CLAIMED: &str = "claimed";
const DROPPED: &str = "dropped";

/// `change_seq + 1`, the one written in the SQL rather than bound.
fn next_change_seq() -> SimpleExpr {
    Expr::col((user::Entity, user::Column::ChangeSeq)).add(Expr::cust("1"))
}

/// `SELECT <expr> FROM users WHERE id = <owner> FOR UPDATE`: on PostgreSQL it locks the owner's
/// row to the end of the transaction (SQLite has no row locks, and needs none).
fn owner_row(user_id: Uuid, expr: SimpleExpr) -> SelectStatement {
    Query::select()
        .expr(expr)
        .from(user::Entity)
        .and_where(user::Column::Id.eq(user_id))
        .lock(LockType::Update)
        .to_owned()
}

/// `EXISTS (SELECT 1 FROM <cte>)`: whether an earlier part of the statement wrote a row.
fn wrote_in(cte: &str) -> SimpleExpr {
    Expr::exists(
        Query::select()
            .expr(Expr::cust("1"))
            .from(Alias::new(cte))
            .to_owned(),
    )
}

fn cte(name: &str, query: impl sea_orm::sea_query::QueryStatementBuilder) -> CommonTableExpression {
    CommonTableExpression::new()
        .query(query)
        .table_name(Alias::new(name))
        .to_owned()
}

/// Where a versioned insert reads the version it takes.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum VersionSource {
    /// The `counter` part of the same statement (PostgreSQL).
    Counter,
    /// The owner's row, bumped earlier in the transaction (SQLite).
    Owner,
}

impl VersionSource {
    fn of(backend: DatabaseBackend) -> Self {
        match backend {
            DatabaseBackend::Postgres => Self::Counter,
            _ => Self::Owner,
        }
    }
}

/// `SELECT <values>, change_seq FROM <source>`: the row a versioned insert inserts.
fn versioned_rows(
    user_id: Uuid,
    source: VersionSource,
    values: impl IntoIterator<Item = SimpleExpr>,
) -> SelectStatement {
    let mut select = Query::select();
    select.exprs(values);
    match source {
        VersionSource::Counter => select
            .expr(Expr::col(user::Column::ChangeSeq))
            .from(Alias::new(COUNTER)),
        VersionSource::Owner => select
            .expr(Expr::col((user::Entity, user::Column::ChangeSeq)))
            .from(user::Entity)
            .and_where(user::Column::Id.eq(user_id)),
    };
    select
}

/// What a write does to its owner's counts besides taking the next change number.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum CountChange {
    /// A task changed: the number only.
    None,
    /// A task created: one task more, only while the owner holds fewer than `max_tasks`.
    TaskCreated { max_tasks: i64 },
    /// A task deleted: one task fewer and one deletion more; when `max_tombstones` are kept
    /// already, the oldest kept is dropped (`tombstones_dropped_through` moves up to it, and
    /// `DropTombstones` removes it).
    TaskDeleted { max_tombstones: i64 },
}

/// Takes the owner's next change number: `change_seq + 1`, returned (with
/// `tombstones_dropped_through`), and keeps the owner's counts. On PostgreSQL a part of a write,
/// run only when `after` (an earlier part) wrote a row.
pub struct BumpChangeSeq {
    pub user_id: Uuid,
    pub change: CountChange,
}

/// `users.<column>`, qualified: the statements that read it also read other tables.
fn user_col(column: user::Column) -> Expr {
    Expr::col((user::Entity, column))
}

/// The oldest deletion of the owner's still kept (the owner's row being updated); the bound
/// itself when there is none. Correlated, so that a deletion that waited for the owner's row
/// lock reads the bound the one before it left.
fn oldest_kept_tombstone() -> SimpleExpr {
    Expr::cust(
        r#"COALESCE((SELECT MIN("task_tombstones"."version") FROM "task_tombstones"
                     WHERE "task_tombstones"."user_id" = "users"."id"
                       AND "task_tombstones"."version" > "users"."tombstones_dropped_through"),
                    "users"."tombstones_dropped_through")"#,
    )
}

impl BumpChangeSeq {
    fn update(&self, after: Option<&str>) -> UpdateStatement {
        let mut update = Query::update();
        update
            .table(user::Entity)
            .value(user::Column::ChangeSeq, next_change_seq());
        match self.change {
            CountChange::None => {}
            CountChange::TaskCreated { .. } => {
                update.value(
                    user::Column::TaskCount,
                    user_col(user::Column::TaskCount).add(Expr::cust("1")),
                );
            }
            CountChange::TaskDeleted { max_tombstones } => {
                let full = || user_col(user::Column::TombstoneCount).gte(max_tombstones);
                let tombstones = user_col(user::Column::TombstoneCount);
                update
                    .value(
                        user::Column::TaskCount,
                        user_col(user::Column::TaskCount).sub(Expr::cust("1")),
                    )
                    .value(
                        user::Column::TombstoneCount,
                        Expr::case(full(), tombstones.clone())
                            .finally(tombstones.add(Expr::cust("1"))),
                    )
                    .value(
                        user::Column::TombstonesDroppedThrough,
                        Expr::case(full(), oldest_kept_tombstone())
                            .finally(user_col(user::Column::TombstonesDroppedThrough)),
                    );
            }
        }
        update.and_where(user::Column::Id.eq(self.user_id));
        if let CountChange::TaskCreated { max_tasks } = self.change {
            update.and_where(user_col(user::Column::TaskCount).lt(max_tasks));
        }
        if let Some(after) = after {
            update.and_where(wrote_in(after));
        }
        update
            .returning(Query::returning().columns([
                user::Column::ChangeSeq,
                user::Column::TombstonesDroppedThrough,
            ]))
            .to_owned()
    }

    /// The values `update` binds, in its order.
    fn update_values(&self) -> Vec<Value> {
        let user_id = self.user_id.into();
        match self.change {
            CountChange::None => vec![user_id],
            CountChange::TaskCreated { max_tasks } => vec![user_id, max_tasks.into()],
            CountChange::TaskDeleted { max_tombstones } => {
                vec![max_tombstones.into(), max_tombstones.into(), user_id]
            }
        }
    }
}

impl CachedStatement for BumpChangeSeq {
    fn shape(&self) -> Shape {
        Shape::BumpChangeSeq {
            counts: match self.change {
                CountChange::None => Counts::Unchanged,
                CountChange::TaskCreated { .. } => Counts::TaskCreated,
                CountChange::TaskDeleted { .. } => Counts::TaskDeleted,
            },
        }
    }

    fn build(&self, backend: DatabaseBackend) -> Statement {
        written(&self.update(None), backend)
    }

    fn values(&self, _: DatabaseBackend) -> Vec<Value> {
        self.update_values()
    }
}

/// Forgets the owner's deletions up to `tombstones_dropped_through` (those `BumpChangeSeq` of a
/// deletion dropped to keep the bound), read from `source`.
fn drop_tombstones(user_id: Uuid, source: VersionSource) -> sea_orm::sea_query::DeleteStatement {
    let mut bound = Query::select();
    bound.column(user::Column::TombstonesDroppedThrough);
    match source {
        VersionSource::Counter => bound.from(Alias::new(COUNTER)),
        VersionSource::Owner => bound
            .from(user::Entity)
            .and_where(user::Column::Id.eq(user_id)),
    };
    Query::delete()
        .from_table(task_tombstone::Entity)
        .and_where(task_tombstone::Column::UserId.eq(user_id))
        .and_where(
            Expr::col(task_tombstone::Column::Version).lte(SimpleExpr::SubQuery(
                None,
                Box::new(bound.into_sub_query_statement()),
            )),
        )
        .to_owned()
}

/// Forgets the owner's deletions dropped by the deletion before it in the transaction (SQLite;
/// PostgreSQL's `DeleteTask` does it in the same statement).
pub struct DropTombstones {
    pub user_id: Uuid,
}

impl CachedStatement for DropTombstones {
    fn shape(&self) -> Shape {
        Shape::DropTombstones
    }

    fn build(&self, backend: DatabaseBackend) -> Statement {
        written(
            &drop_tombstones(self.user_id, VersionSource::Owner),
            backend,
        )
    }

    fn values(&self, _: DatabaseBackend) -> Vec<Value> {
        vec![self.user_id.into(), self.user_id.into()]
    }
}

/// Claims an idempotency key for a create, with the task's id, time and version (the owner's next
/// change number); claims nothing when the key is taken (or the owner does not exist).
pub struct ClaimIdempotencyKey<'a> {
    pub task: &'a task::Model,
    pub key: &'a str,
    pub request_hash: &'a str,
    /// The key is claimed only while the owner holds fewer tasks than this.
    pub max_tasks: i64,
}

impl ClaimIdempotencyKey<'_> {
    fn insert(&self) -> InsertStatement {
        let task = self.task;
        let claim = owner_row(task.user_id, Expr::val(task.user_id).into())
            .expr(Expr::val(self.key))
            .expr(Expr::val(self.request_hash))
            .expr(Expr::val(task.id))
            .expr(next_change_seq())
            .expr(Expr::val(task.created_at))
            .and_where(user_col(user::Column::TaskCount).lt(self.max_tasks))
            .to_owned();
        Query::insert()
            .into_table(idempotency_key::Entity)
            .columns([
                idempotency_key::Column::UserId,
                idempotency_key::Column::Key,
                idempotency_key::Column::RequestHash,
                idempotency_key::Column::TaskId,
                idempotency_key::Column::TaskVersion,
                idempotency_key::Column::CreatedAt,
            ])
            .select_from(claim)
            .expect("as many values as columns")
            .on_conflict(
                OnConflict::columns([
                    idempotency_key::Column::UserId,
                    idempotency_key::Column::Key,
                ])
                .do_nothing()
                .to_owned(),
            )
            .returning_col(idempotency_key::Column::TaskVersion)
            .to_owned()
    }

    fn claim_values(&self) -> Vec<Value> {
        let task = self.task;
        vec![
            task.user_id.into(),
            self.key.into(),
            self.request_hash.into(),
            task.id.into(),
            task.created_at.into(),
            task.user_id.into(),
            self.max_tasks.into(),
        ]
    }
}

impl CachedStatement for ClaimIdempotencyKey<'_> {
    fn shape(&self) -> Shape {
        Shape::ClaimIdempotencyKey
    }

    fn build(&self, backend: DatabaseBackend) -> Statement {
        written(&self.insert(), backend)
    }

    fn values(&self, _: DatabaseBackend) -> Vec<Value> {
        self.claim_values()
    }
}

/// Inserts a task with the owner's next change number as its version, returned; inserts nothing
/// when the owner does not exist. On PostgreSQL, with `claim`, only when the key was claimed in
/// the same statement; SQLite claims it in a statement of its own first.
pub struct InsertTask<'a> {
    pub task: &'a task::Model,
    pub claim: Option<ClaimIdempotencyKey<'a>>,
    /// Inserted only while the owner holds fewer tasks than this (PostgreSQL; SQLite's counter
    /// bump checks it first).
    pub max_tasks: i64,
}

impl InsertTask<'_> {
    fn bump(&self) -> BumpChangeSeq {
        BumpChangeSeq {
            user_id: self.task.user_id,
            change: CountChange::TaskCreated {
                max_tasks: self.max_tasks,
            },
        }
    }
}

impl CachedStatement for InsertTask<'_> {
    fn shape(&self) -> Shape {
        Shape::CreateTask {
            claims_key: self.claim.is_some(),
        }
    }

    fn build(&self, backend: DatabaseBackend) -> Statement {
        let task = self.task;
        let rows = versioned_rows(
            task.user_id,
            VersionSource::of(backend),
            [
                Expr::val(task.id).into(),
                Expr::val(task.user_id).into(),
                Expr::val(task.title.clone()).into(),
                Expr::val(task.description.clone()).into(),
                Expr::val(task.is_completed).into(),
                Expr::val(task.created_at).into(),
                Expr::val(task.updated_at).into(),
            ],
        );
        let insert = Query::insert()
            .into_table(task::Entity)
            .columns(task::Column::iter())
            .select_from(rows)
            .expect("as many values as columns")
            .returning_col(task::Column::Version)
            .to_owned();
        if backend != DatabaseBackend::Postgres {
            return written(&insert, backend);
        }
        let bump = self.bump();
        let mut with = WithClause::new();
        if let Some(claim) = &self.claim {
            with.cte(cte(CLAIMED, claim.insert()));
            with.cte(cte(COUNTER, bump.update(Some(CLAIMED))));
        } else {
            with.cte(cte(COUNTER, bump.update(None)));
        }
        written(&insert.with(with), backend)
    }

    fn values(&self, backend: DatabaseBackend) -> Vec<Value> {
        let task = self.task;
        let postgres = backend == DatabaseBackend::Postgres;
        let claim = self
            .claim
            .as_ref()
            .filter(|_| postgres)
            .map(ClaimIdempotencyKey::claim_values);
        let bump = postgres.then(|| self.bump().update_values());
        let owner = (!postgres).then_some(task.user_id.into());
        claim
            .into_iter()
            .flatten()
            .chain(bump.into_iter().flatten())
            .chain([
                task.id.into(),
                task.user_id.into(),
                task.title.clone().into(),
                task.description.clone().into(),
                task.is_completed.into(),
                task.created_at.into(),
                task.updated_at.into(),
            ])
            .chain(owner)
            .collect()
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

/// `version IN (…)` of an `If-Match`, when it lists versions.
fn version_condition(expected: &Option<Vec<i64>>) -> Option<SimpleExpr> {
    expected
        .as_ref()
        .map(|versions| task::Column::Version.is_in(versions.iter().copied()))
}

fn version_values(expected: &Option<Vec<i64>>) -> impl Iterator<Item = Value> + '_ {
    expected
        .iter()
        .flatten()
        .map(|version| Value::from(*version))
}

/// Reads one task of its owner.
pub struct GetTask(pub OwnedTask);

impl CachedStatement for GetTask {
    fn shape(&self) -> Shape {
        Shape::GetTask
    }

    fn build(&self, backend: DatabaseBackend) -> Statement {
        task::Entity::find()
            .filter(self.0.condition())
            .limit(1)
            .build(backend)
    }

    fn values(&self, _: DatabaseBackend) -> Vec<Value> {
        self.0.values().into_iter().chain([1u64.into()]).collect()
    }
}

/// Deletes one task of its owner (when its version is one of `expected`, if given). On
/// PostgreSQL the same statement takes the owner's next change number and remembers the task as
/// deleted with it; SQLite does both in statements of their own (`BumpChangeSeq`,
/// `InsertTombstone`).
pub struct DeleteTask {
    pub task: OwnedTask,
    pub expected: Option<Vec<i64>>,
    pub now: DateTime<Utc>,
    /// The owner's deletions kept at most (PostgreSQL; SQLite's counter bump keeps them).
    pub max_tombstones: i64,
}

impl DeleteTask {
    fn bump(&self) -> BumpChangeSeq {
        BumpChangeSeq {
            user_id: self.task.user_id,
            change: CountChange::TaskDeleted {
                max_tombstones: self.max_tombstones,
            },
        }
    }
}

impl CachedStatement for DeleteTask {
    fn shape(&self) -> Shape {
        Shape::DeleteTask {
            expected_versions: self.expected.as_ref().map_or(0, Vec::len),
        }
    }

    fn build(&self, backend: DatabaseBackend) -> Statement {
        let mut delete = task::Entity::delete_many().filter(self.task.condition());
        if let Some(condition) = version_condition(&self.expected) {
            delete = delete.filter(condition);
        }
        let mut delete = delete.into_query();
        delete.returning_col(task::Column::Id);
        if backend != DatabaseBackend::Postgres {
            return written(&delete, backend);
        }
        // The owner's row is locked first, as by every other write: no two writes lock the
        // same rows in opposite orders.
        delete.and_where(Expr::exists(owner_row(self.task.user_id, Expr::cust("1"))));
        let with = WithClause::new()
            .cte(cte(CHANGED, delete))
            .cte(cte(COUNTER, self.bump().update(Some(CHANGED))))
            .cte(cte(
                DROPPED,
                drop_tombstones(self.task.user_id, VersionSource::Counter),
            ))
            .to_owned();
        let tombstone = tombstone(self.task, self.now, VersionSource::Counter);
        written(&tombstone.with(with), backend)
    }

    fn values(&self, backend: DatabaseBackend) -> Vec<Value> {
        let deleted = self
            .task
            .values()
            .into_iter()
            .chain(version_values(&self.expected));
        match backend {
            // The lock, the bump, the deletions dropped, the tombstone.
            DatabaseBackend::Postgres => deleted
                .chain([self.task.user_id.into()])
                .chain(self.bump().update_values())
                .chain([self.task.user_id.into()])
                .chain([
                    self.task.user_id.into(),
                    self.task.task_id.into(),
                    self.now.into(),
                ])
                .collect(),
            _ => deleted.collect(),
        }
    }
}

/// `INSERT INTO task_tombstones … SELECT <task>, change_seq, <now> FROM <the counter>`.
fn tombstone(task: OwnedTask, now: DateTime<Utc>, source: VersionSource) -> InsertStatement {
    let rows = versioned_rows(
        task.user_id,
        source,
        [
            Expr::val(task.user_id).into(),
            Expr::val(task.task_id).into(),
        ],
    )
    .expr(Expr::val(now))
    .to_owned();
    Query::insert()
        .into_table(task_tombstone::Entity)
        .columns([
            task_tombstone::Column::UserId,
            task_tombstone::Column::TaskId,
            task_tombstone::Column::Version,
            task_tombstone::Column::DeletedAt,
        ])
        .select_from(rows)
        .expect("as many values as columns")
        .to_owned()
}

/// Remembers a deleted task with the owner's change number, bumped earlier in the transaction
/// (SQLite; PostgreSQL's `DeleteTask` does it in the same statement).
pub struct InsertTombstone {
    task: OwnedTask,
    now: DateTime<Utc>,
}

impl InsertTombstone {
    pub fn of(task: OwnedTask, now: DateTime<Utc>) -> Self {
        Self { task, now }
    }
}

impl CachedStatement for InsertTombstone {
    fn shape(&self) -> Shape {
        Shape::InsertTombstone
    }

    fn build(&self, backend: DatabaseBackend) -> Statement {
        written(
            &tombstone(self.task, self.now, VersionSource::Owner),
            backend,
        )
    }

    fn values(&self, _: DatabaseBackend) -> Vec<Value> {
        vec![
            self.task.user_id.into(),
            self.task.task_id.into(),
            self.now.into(),
            self.task.user_id.into(),
        ]
    }
}

/// Changes the given fields of one task of its owner when a value really changes (and its
/// version is one of `expected`, if given), returning it: `updated_at` moves (never back) and the
/// version becomes the owner's next change number. On PostgreSQL the same statement takes that
/// number; SQLite bumps the counter in a statement of its own (`BumpChangeSeq`).
pub struct UpdateTask {
    pub task: OwnedTask,
    pub title: Option<String>,
    /// `Some(None)` clears the description.
    pub description: Option<Option<String>>,
    pub is_completed: Option<bool>,
    pub expected: Option<Vec<i64>>,
    pub now: DateTime<Utc>,
}

impl CachedStatement for UpdateTask {
    fn shape(&self) -> Shape {
        Shape::UpdateTask {
            title: self.title.is_some(),
            description: self.description.as_ref().map(Option::is_none),
            is_completed: self.is_completed.is_some(),
            expected_versions: self.expected.as_ref().map_or(0, Vec::len),
        }
    }

    fn build(&self, backend: DatabaseBackend) -> Statement {
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
        let next_version = owner_row(self.task.user_id, next_change_seq());
        let mut update = update
            .col_expr(task::Column::UpdatedAt, later.into())
            .col_expr(
                task::Column::Version,
                SimpleExpr::SubQuery(None, Box::new(next_version.into_sub_query_statement())),
            )
            .filter(changed);
        if let Some(condition) = version_condition(&self.expected) {
            update = update.filter(condition);
        }
        // The owner's row locked before the task's, as by every other write, and a task whose
        // owner is being deleted left alone (its version would have no counter to come from).
        update = update.filter(Expr::exists(owner_row(self.task.user_id, Expr::cust("1"))));
        // Named columns: a column a newer release adds changes nothing this statement returns.
        let mut update = update.into_query();
        update.returning(Query::returning().columns(task::Column::iter()));
        if backend != DatabaseBackend::Postgres {
            return written(&update, backend);
        }
        let bump = BumpChangeSeq {
            user_id: self.task.user_id,
            change: CountChange::None,
        };
        let with = WithClause::new()
            .cte(cte(CHANGED, update))
            .cte(cte(COUNTER, bump.update(Some(CHANGED))))
            .to_owned();
        let changed = Query::select()
            .columns(task::Column::iter())
            .from(Alias::new(CHANGED))
            .to_owned();
        written(&changed.with(with), backend)
    }

    fn values(&self, backend: DatabaseBackend) -> Vec<Value> {
        // The new values, the time, the owner (for the version), the task, the ones the changed
        // test compares with, the expected versions; on PostgreSQL the owner again (the bump).
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
        let bump = (backend == DatabaseBackend::Postgres).then_some(self.task.user_id.into());
        new_values
            .into_iter()
            .flatten()
            .chain([self.now.into(), self.task.user_id.into()])
            .chain(self.task.values())
            .chain(compared.into_iter().flatten())
            .chain(version_values(&self.expected))
            .chain([self.task.user_id.into()])
            .chain(bump)
            .collect()
    }
}

/// One page of a user's changes after `since`, in version order: the tasks changed since (in
/// their latest state) and the tasks deleted since; `limit + 1` rows, so that the caller sees
/// whether more follow. One statement, so one snapshot: no change is skipped between the two.
/// Each side takes its first `limit + 1` by its `(user_id, version)` index before the two are
/// merged, so that a page costs the same however many changes follow it.
pub struct ListChanges {
    pub user_id: Uuid,
    pub since: i64,
    pub limit: u64,
}

/// What a tombstone gives for a task's `column` in a change row: its task's id, owner and
/// version, and a typed null for the rest (PostgreSQL would take a bare NULL in a subquery for
/// text). A column a task gains must say here what a deletion has for it.
fn tombstone_column(column: task::Column) -> SimpleExpr {
    match column {
        task::Column::Id => Expr::col(task_tombstone::Column::TaskId).into(),
        task::Column::UserId => Expr::col(task_tombstone::Column::UserId).into(),
        task::Column::Version => Expr::col(task_tombstone::Column::Version).into(),
        task::Column::Title | task::Column::Description => Expr::cust("CAST(NULL AS text)"),
        task::Column::IsCompleted => Expr::cust("CAST(NULL AS boolean)"),
        task::Column::CreatedAt | task::Column::UpdatedAt => {
            Expr::cust("CAST(NULL AS timestamptz)")
        }
    }
}

impl CachedStatement for ListChanges {
    fn shape(&self) -> Shape {
        Shape::ListChanges
    }

    fn build(&self, backend: DatabaseBackend) -> Statement {
        let deleted_column = Alias::new("deleted");
        let first = |select: &mut SelectStatement, name: &str| {
            Query::select()
                .columns(task::Column::iter())
                .column(deleted_column.clone())
                .from_subquery(
                    select
                        .order_by(task::Column::Version, Order::Asc)
                        .limit(self.limit + 1)
                        .to_owned(),
                    Alias::new(name),
                )
                .to_owned()
        };
        let mut deleted = Query::select();
        for column in task::Column::iter() {
            deleted.expr_as(tombstone_column(column), column);
        }
        deleted
            .expr_as(Expr::cust("TRUE"), deleted_column.clone())
            .from(task_tombstone::Entity)
            .and_where(task_tombstone::Column::UserId.eq(self.user_id))
            .and_where(task_tombstone::Column::Version.gt(self.since));
        let mut changed = Query::select()
            .columns(task::Column::iter())
            .expr_as(Expr::cust("FALSE"), deleted_column.clone())
            .from(task::Entity)
            .and_where(task::Column::UserId.eq(self.user_id))
            .and_where(task::Column::Version.gt(self.since))
            .to_owned();
        let changes = first(&mut changed, "changed")
            .union(
                sea_orm::sea_query::UnionType::All,
                first(&mut deleted, "deleted"),
            )
            .order_by(task::Column::Version, Order::Asc)
            .limit(self.limit + 1)
            .to_owned();
        written(&changes, backend)
    }

    fn values(&self, _: DatabaseBackend) -> Vec<Value> {
        let side = [
            self.user_id.into(),
            self.since.into(),
            (self.limit + 1).into(),
        ];
        side.clone()
            .into_iter()
            .chain(side)
            .chain([(self.limit + 1).into()])
            .collect()
    }
}

/// One keyset page of a user's tasks: `limit + 1` rows, so that the caller sees whether more
/// follow.
pub struct ListTasks {
    pub user_id: Uuid,
    pub sort: TaskSort,
    pub completed: Option<bool>,
    pub title_contains: Option<String>,
    pub after: Option<TaskPosition>,
    pub limit: u64,
}

impl CachedStatement for ListTasks {
    fn shape(&self) -> Shape {
        Shape::ListTasks {
            sort: self.sort,
            completed: self.completed.is_some(),
            title_contains: self.title_contains.is_some(),
            after: self.after.is_some(),
        }
    }

    fn build(&self, backend: DatabaseBackend) -> Statement {
        let (key, order) = sort_key(self.sort, backend);
        let mut select = task::Entity::find().filter(task::Column::UserId.eq(self.user_id));
        if let Some(completed) = self.completed {
            select = select.filter(task::Column::IsCompleted.eq(completed));
        }
        if let Some(text) = &self.title_contains {
            select = select.filter(title_search(text, backend));
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
            .build(backend)
    }

    fn values(&self, backend: DatabaseBackend) -> Vec<Value> {
        // The owner, the completed filter, the search's values, the cursor's key (thrice) and
        // id, the limit.
        let search = self
            .title_contains
            .as_deref()
            .map(|text| title_search_values(text, backend));
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
        let built = statement.build(backend);
        assert_eq!(
            built.values.map(|values| values.0).unwrap_or_default(),
            statement.values(backend),
            "{:?} on {backend:?}: {}",
            statement.shape(),
            built.sql
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
                version: 0,
            };
            let claim = || ClaimIdempotencyKey {
                task: &task,
                key: "k",
                request_hash: "h",
                max_tasks: 100,
            };
            let creates = match backend {
                DatabaseBackend::Postgres => vec![None, Some(claim())],
                _ => vec![None],
            };
            for claim in creates {
                let insert = InsertTask {
                    task: &task,
                    claim,
                    max_tasks: 100,
                };
                check(&insert, backend, &mut texts);
            }
            check(&claim(), backend, &mut texts);
            let count_changes = [
                CountChange::None,
                CountChange::TaskCreated { max_tasks: 100 },
                CountChange::TaskDeleted { max_tombstones: 9 },
            ];
            for change in count_changes {
                let bump = BumpChangeSeq {
                    user_id: task.user_id,
                    change,
                };
                check(&bump, backend, &mut texts);
            }
            check(
                &DropTombstones {
                    user_id: task.user_id,
                },
                backend,
                &mut texts,
            );
            check(&InsertTombstone::of(owned(), now), backend, &mut texts);
            check(&GetTask(owned()), backend, &mut texts);
            let expectations = [None, Some(vec![3]), Some(vec![3, 4])];
            for expected in expectations.clone() {
                check(
                    &DeleteTask {
                        task: owned(),
                        expected,
                        now,
                        max_tombstones: 9,
                    },
                    backend,
                    &mut texts,
                );
            }
            check(
                &ListChanges {
                    user_id: task.user_id,
                    since: 7,
                    limit: 100,
                },
                backend,
                &mut texts,
            );
            let mut updates = 0;
            for title in [None, Some("new title".to_owned())] {
                for description in [None, Some(None), Some(Some("new text".to_owned()))] {
                    for is_completed in [None, Some(false)] {
                        if title.is_none() && description.is_none() && is_completed.is_none() {
                            continue; // changes nothing: the store reads the task instead
                        }
                        for expected in expectations.clone() {
                            let update = UpdateTask {
                                task: owned(),
                                title: title.clone(),
                                description: description.clone(),
                                is_completed,
                                expected,
                                now,
                            };
                            check(&update, backend, &mut texts);
                            updates += 1;
                        }
                    }
                }
            }
            assert_eq!(updates, 33);
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
            let creates = if backend == DatabaseBackend::Postgres {
                2
            } else {
                1
            };
            assert_eq!(
                texts.len(),
                creates + 7 + 3 + 1 + 33 + 48,
                "one text per shape on {backend:?}"
            );
        }
    }

    #[test]
    fn postgres_writes_lock_the_owner_and_take_their_number_in_one_statement() {
        let now = crate::domain::now();
        let update = UpdateTask {
            task: owned(),
            title: Some("t".to_owned()),
            description: None,
            is_completed: None,
            expected: Some(vec![5]),
            now,
        };
        let sql = update.build(DatabaseBackend::Postgres).sql;
        println!("{sql}");
        assert!(
            sql.starts_with(r#"WITH "changed" AS (UPDATE "tasks""#),
            "{sql}"
        );
        assert!(sql.contains("FOR UPDATE"), "{sql}");
        assert!(sql.contains(r#""counter" AS (UPDATE "users""#), "{sql}");
        let sqlite = update.build(DatabaseBackend::Sqlite).sql;
        assert!(sqlite.starts_with(r#"UPDATE "tasks""#), "{sqlite}");
        assert!(!sqlite.contains("FOR UPDATE"), "{sqlite}");
    }
}
