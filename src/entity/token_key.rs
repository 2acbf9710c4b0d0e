//! The row of `token_key`: the secret that seals list cursors and sync tokens when
//! `CURSOR_SECRET` is not set.

use sea_orm::entity::prelude::*;

#[derive(Clone, Debug, PartialEq, Eq, DeriveEntityModel)]
#[sea_orm(table_name = "token_key")]
pub struct Model {
    /// Always [`ROW_ID`]: the table holds one row.
    #[sea_orm(primary_key, auto_increment = false)]
    pub id: i16,
    pub secret: String,
    pub created_at: DateTimeUtc,
}

/// The id of the table's one row.
pub const ROW_ID: i16 = 1;

#[derive(Copy, Clone, Debug, EnumIter, DeriveRelation)]
pub enum Relation {}

impl ActiveModelBehavior for ActiveModel {}
