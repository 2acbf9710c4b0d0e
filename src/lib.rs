//! Task API: a contract-first HTTP API for task management over PostgreSQL or SQLite.

pub mod api;
pub mod auth;
pub mod config;
pub mod db;
pub mod domain;
pub mod entity;
pub mod pagination;
pub mod server;
pub mod startup;
pub mod store;
pub mod sync;

use crate::auth::Authenticator;
use crate::config::Retention;
use crate::db::Database;
use crate::pagination::CursorKey;

/// What every request handler shares.
#[derive(Clone)]
pub struct AppState {
    pub db: Database,
    pub cursor_key: CursorKey,
    pub auth: Authenticator,
    pub retention: Retention,
    /// A page of tasks or changes ends before the item that would take its JSON past this.
    pub page_max_bytes: usize,
}
