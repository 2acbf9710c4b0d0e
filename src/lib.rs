//! Task API: a contract-first HTTP API for task management over PostgreSQL or SQLite.

pub mod api;
pub mod config;
pub mod db;
pub mod domain;
pub mod entity;
pub mod pagination;
pub mod startup;
pub mod store;

use sea_orm::DatabaseConnection;

use crate::pagination::CursorKey;

/// What every request handler shares.
#[derive(Clone)]
pub struct AppState {
    pub db: DatabaseConnection,
    pub cursor_key: CursorKey,
}
