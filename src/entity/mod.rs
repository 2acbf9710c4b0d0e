//! SeaORM entities: the rows of the tables that the `migration` crate creates.

pub mod idempotency_key;
pub mod list;
pub mod list_tombstone;
pub mod task;
pub mod task_tombstone;
pub mod token_key;
pub mod user;
