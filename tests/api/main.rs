//! Integration tests of Task API over HTTP: every test runs on SQLite, and on PostgreSQL too
//! when `TEST_DATABASE_URL` is set.

mod auth;
mod contract;
mod errors;
mod generated_client;
mod helpers;
mod identity;
mod integrity;
mod lifecycle;
mod operations;
mod pagination;
mod protocol;
mod starvation;
mod tasks;
mod users;
mod validation;
