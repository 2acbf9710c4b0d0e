//! A row of `idempotency_keys`: the task an idempotent create made, to answer its retries with.

use sea_orm::entity::prelude::*;

#[derive(Clone, Debug, PartialEq, Eq, DeriveEntityModel)]
#[sea_orm(table_name = "idempotency_keys")]
pub struct Model {
    #[sea_orm(primary_key, auto_increment = false)]
    pub user_id: Uuid,
    #[sea_orm(primary_key, auto_increment = false)]
    pub key: String,
    /// The fingerprint of the request's validated fields.
    pub request_hash: String,
    pub task_id: Uuid,
    /// The task's version as created.
    pub task_version: i64,
    /// The task's position as created; null for a key claimed before positions were made.
    pub task_position: Option<String>,
    /// When the task was created (and the key first used).
    pub created_at: DateTimeUtc,
}

#[derive(Copy, Clone, Debug, EnumIter, DeriveRelation)]
pub enum Relation {}

impl ActiveModelBehavior for ActiveModel {}
