//! A write in the form each database runs it: PostgreSQL's one statement, or the statements of
//! one SQLite transaction (SQLite has no data-modifying common table expressions).

use sea_orm::Statement;
use uuid::Uuid;

/// A write the store makes, in both forms; [`Database::write`](super::Database::write) runs the
/// one its database takes.
pub trait Write {
    /// The user whose change counter the write takes its number from (whose event streams hear
    /// of it).
    fn owner(&self) -> Uuid;
    /// The whole write as one statement: it returns a row when it wrote, none when it wrote
    /// nothing.
    fn postgres(&self) -> Statement;
    /// The write as the statements of one transaction, in order.
    fn sqlite(&self) -> Vec<Step>;
}

/// One statement of a write's SQLite transaction.
pub enum Step {
    /// The write goes on only if this statement returns a row (else the transaction is rolled
    /// back: nothing was written); the last such row is the write's answer.
    Returning(Statement),
    /// Run for its effect alone.
    Effect(Statement),
}
