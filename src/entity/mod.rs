//! SeaORM entities: the rows of the tables that the `migration` crate creates.

pub mod task;
pub mod user;
