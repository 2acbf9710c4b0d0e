//! A row of `users`: someone who owns tasks.

use sea_orm::entity::prelude::*;

#[derive(Clone, Debug, PartialEq, Eq, DeriveEntityModel)]
#[sea_orm(table_name = "users")]
pub struct Model {
    #[sea_orm(primary_key, auto_increment = false)]
    pub id: Uuid,
    pub created_at: DateTimeUtc,
    /// The number of the user's last change to a task: their tasks' versions are taken from it.
    pub change_seq: i64,
    /// How many tasks the user holds (checked against `USER_MAX_TASKS` by every create).
    pub task_count: i64,
    /// How many deletions of the user's are kept for the change feed.
    pub tombstone_count: i64,
    /// The version of the newest deletion dropped to keep `USER_MAX_TOMBSTONES`: a sync token
    /// older than it has missed a deletion.
    pub tombstones_dropped_through: i64,
    /// How many lists the user holds (checked against `USER_MAX_LISTS` by every create).
    pub list_count: i64,
}

#[derive(Copy, Clone, Debug, EnumIter, DeriveRelation)]
pub enum Relation {}

impl ActiveModelBehavior for ActiveModel {}
