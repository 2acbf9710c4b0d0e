//! Load benchmark of the Task API server against the database's own limit.
//!
//! ```sh
//! cargo bench --bench load -- [--database-url URL | --sqlite] [--seconds N | --smoke]
//!                             [--connections 16,64] [--scenarios get_task,mixed,…]
//!                             [--keep-database] [--pool N]
//!                             [--baseline-server BIN [--streams-open]] [--fan-out N]
//!                             [--server BIN]
//! cargo bench --bench load -- --compare-peers ../shared/peers [--far-database-ms 2]
//!                             [--seconds N] [--connections 16]
//! ```
//!
//! `cargo bench` builds the release server (`target/release/task-api`, as `CARGO_BIN_EXE_task-api`)
//! before this runs; the benchmark copies that binary (and the one given with `--server`, which is
//! then measured instead, without a pgbench column) and runs the copy, so a rebuild during the run
//! cannot change it. It then:
//!
//! 1. creates a scratch database `taskapi_bench_<pid>` in the PostgreSQL cluster of `--database-url`
//!    (default `postgres://postgres@127.0.0.1:5432/postgres`; the user must be a superuser), or a
//!    temporary SQLite file with `--sqlite`, migrates it with `task-api migrate up` and seeds it
//!    through SQL: 100 users × 10,000 tasks and one user with 100,000 tasks (deterministic ids and
//!    distinct microsecond timestamps, stored exactly as the server stores them);
//! 2. on PostgreSQL, reads the pgbench scripts `benches/sql/<operation>.sql`: the store's own
//!    statement of each operation, written by `tests/api/benchmark_sql.rs` (a test that fails
//!    when they differ from what the store sends);
//! 3. starts the release server as its own process and drives it with `wrk -t2` (scripted by
//!    `benches/wrk/tasks.lua`) at each concurrency for a fixed time per scenario, sampling the
//!    server's CPU time and peak RSS; then runs `pgbench -M prepared -n -c C -j 2` with the
//!    same SQL at the same concurrency, and reports server ÷ pgbench;
//! 4. measures other users' `get_task` while one user searches, and `get_task` with a token ÷
//!    without (rounds taken in turns);
//! 5. with `--fan-out N`, opens N event streams of one user on a server of its own and measures
//!    its resident memory before and after, and the time for one change to reach them all;
//! 6. measures how long the server takes from spawn to its first `200` on `/health` on the
//!    migrated database (median of 5), and drops the scratch database.
//!
//! With `--compare-peers DIR` it makes and migrates the scratch database, then hands it to the
//! reference servers' own harness (`DIR/bench/compare.sh`, which seeds it with 100 users ×
//! 10,000 tasks): this server, axum + sqlx and hyper + tokio-postgres, each driven by wrk in
//! turns (forward, then back), beside pgbench running the same statements; with
//! `--far-database-ms N`, everything reaches the database through the peers' latency proxy.

mod cli;
mod events;
mod identity;
mod peers;
mod pgbench;
mod report;
mod run;
mod seed;
mod server;
mod wrk;

use cli::*;
use events::*;
use identity::*;
use peers::*;
use pgbench::*;
use report::*;
use run::*;
use seed::*;
use server::*;
use wrk::*;

pub(crate) const SERVER_BINARY: &str = env!("CARGO_BIN_EXE_task-api");
pub(crate) const MANIFEST_DIR: &str = env!("CARGO_MANIFEST_DIR");
/// The server's own default pool size.
pub(crate) const DEFAULT_POOL: u32 = 10;
pub(crate) const DEFAULT_DATABASE_URL: &str = "postgres://postgres@127.0.0.1:5432/postgres";
/// The scratch database's name: this run's own (`taskapi_bench_<pid>`), so that two benchmarks on
/// one cluster never drop each other's database.
pub(crate) fn bench_database() -> String {
    format!("taskapi_bench_{}", std::process::id())
}
pub(crate) const CURSOR_SECRET: &str = "task-api-load-benchmark-cursor-secret-0123456789";
/// `application_name` of the benchmark's own connections, to tell them from the server's.
pub(crate) const HARNESS_APPLICATION: &str = "taskapi-bench-harness";

pub(crate) const USERS: u64 = 100;
pub(crate) const TASKS_PER_USER: u64 = 10_000;
pub(crate) const DEEP_TASKS: u64 = 100_000;
/// Connections of other users' reads in the search-isolation measurement.
pub(crate) const ISOLATION_READERS: u32 = 4;
/// How deep the `list_deep` page is, and the page size used to walk there.
pub(crate) const DEEP_OFFSET: u64 = 50_000;
pub(crate) const WALK_LIMIT: u64 = 100;
/// Seeded tasks (one per user) that the load picks from, for wrk and pgbench alike (the number
/// is also in `POOL_PICK`).
pub(crate) const POOL: usize = 100;
/// INSERTs per `\gset` of fresh ids in the pgbench script of `create_task`.
pub(crate) const CREATE_BATCH: usize = 20;
/// Operations per request of the batch scenarios (the most a batch takes); `batch_patch`'s are
/// on as many distinct seeded tasks of the user, listed in the pool file.
pub(crate) const BATCH_OPERATIONS: usize = 100;
/// The most connections a batch scenario runs at (see `Scenario::connection_counts`).
pub(crate) const BATCH_MAX_CONNECTIONS: u32 = 16;
pub(crate) const DESCRIPTION: &str = "Created by the load benchmark";
/// The date `list_today` lists (as `benches/wrk/tasks.lua`'s `TODAY`); the seeded due dates lie
/// around it.
pub(crate) const SEED_TODAY: &str = "2026-12-06";

pub(crate) fn main() {
    // reqwest is built without a TLS crypto provider of its own: use ring, as the server does.
    let _ = rustls::crypto::ring::default_provider().install_default();
    let options = Options::from(<Cli as clap::Parser>::parse());
    let runtime = tokio::runtime::Builder::new_multi_thread()
        .worker_threads(1)
        .enable_all()
        .build()
        .expect("a tokio runtime");
    if let Err(err) = runtime.block_on(run(options)) {
        eprintln!("\nload benchmark failed: {err:#}");
        std::process::exit(1);
    }
}
