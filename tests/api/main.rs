//! Integration tests of Task API over HTTP: every test runs on SQLite, and on PostgreSQL too
//! when `TEST_DATABASE_URL` is set.

mod answers;
mod auth;
mod batch;
mod benchmark_sql;
mod contract;
mod creates;
mod deployment;
mod errors;
mod events;
mod faults;
mod gate;
mod generated_client;
mod helpers;
mod idempotency;
mod identity;
mod integrity;
mod lifecycle;
mod lists;
mod observability;
mod order;
mod pagination;
mod protocol;
mod quotas;
mod reads;
mod recurrence;
mod starvation;
mod sync;
mod task_model;
mod tasks;
mod tasks_in_lists;
mod token_keys;
mod users;
mod validation;
mod versions;
mod views;
