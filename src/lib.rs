//! Task API: a contract-first HTTP API for task management over PostgreSQL or SQLite.

pub mod api;
pub mod config;
pub mod db;
pub mod domain;
pub mod entity;
pub mod pagination;
pub mod pool;
pub mod server;
pub mod sql_cache;
pub mod startup;
pub mod store;

use crate::pagination::CursorKey;
use crate::pool::Database;

/// What every request handler shares.
#[derive(Clone)]
pub struct AppState {
    pub db: Database,
    pub cursor_key: CursorKey,
}
