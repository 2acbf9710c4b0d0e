//! A row of `tasks`: one task of one user.

use sea_orm::entity::prelude::*;

#[derive(Clone, Debug, PartialEq, Eq, DeriveEntityModel)]
#[sea_orm(table_name = "tasks")]
pub struct Model {
    #[sea_orm(primary_key, auto_increment = false)]
    pub id: Uuid,
    pub user_id: Uuid,
    pub title: String,
    pub description: Option<String>,
    pub is_completed: bool,
    /// When a write made `is_completed` true; null while it is false.
    pub completed_at: Option<DateTimeUtc>,
    /// When the task is due: a date, with a wall-clock time, in a time zone (IANA name).
    pub due_date: Option<Date>,
    pub due_time: Option<Time>,
    pub due_time_zone: Option<String>,
    /// 0 none, 1 low, 2 medium, 3 high.
    pub priority: i16,
    /// A JSON array of the tags as sent (trimmed), in order.
    pub tags: String,
    /// A JSON array of the same tags' Unicode-lowercase forms, in the same order.
    pub tag_keys: String,
    /// An RFC 5545 RRULE value, normalised (without `RRULE:`).
    pub recurrence: Option<String>,
    /// The recurrence series' first date: `due_date` when a client last set the rule or `due`.
    pub recurrence_start: Option<Date>,
    /// The list the task is in; null for the owner's inbox.
    pub list_id: Option<Uuid>,
    /// The task's place in its list's manual order (fractional indexing keys, compared as byte
    /// strings).
    pub position: String,
    pub created_at: DateTimeUtc,
    pub updated_at: DateTimeUtc,
    /// The owner's change counter at the task's last change.
    pub version: i64,
}

#[derive(Copy, Clone, Debug, EnumIter, DeriveRelation)]
pub enum Relation {
    #[sea_orm(
        belongs_to = "super::user::Entity",
        from = "Column::UserId",
        to = "super::user::Column::Id",
        on_delete = "Cascade"
    )]
    User,
}

impl ActiveModelBehavior for ActiveModel {}
