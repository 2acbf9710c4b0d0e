//! Task API: a contract-first HTTP API for task management over PostgreSQL or SQLite.

pub mod api;
pub mod auth;
pub mod config;
pub mod db;
pub mod domain;
pub mod entity;
pub mod events;
pub mod fairness;
pub mod pagination;
pub mod startup;
pub mod store;
pub mod sync;
pub mod tokens;

use crate::auth::Authenticator;
use crate::config::Retention;
use crate::db::Database;
use crate::fairness::{UserLimits, WriteRate};
use crate::store::token_key::TokenKeySource;

/// What every request handler shares.
#[derive(Clone)]
pub struct AppState {
    pub db: Database,
    /// Single task reads, coalesced when they arrive together.
    pub task_reads: crate::store::TaskReads,
    /// Creates of tasks without idempotency keys, coalesced when they arrive together.
    pub task_creates: crate::store::TaskCreates,
    pub token_keys: TokenKeySource,
    pub auth: Authenticator,
    pub retention: Retention,
    pub limits: UserLimits,
    /// Each user's writes this minute (`USER_WRITES_PER_MINUTE`).
    pub write_rate: std::sync::Arc<WriteRate>,
    /// A page of tasks or changes ends before the item that would take its JSON past this.
    pub page_max_bytes: usize,
    /// The users with event streams open here, and their latest change numbers.
    pub events: std::sync::Arc<crate::events::ChangeHub>,
}
