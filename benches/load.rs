//! Load benchmark of the Task API server against the database's own limit.
//!
//! ```sh
//! cargo bench --bench load -- [--database-url URL | --sqlite] [--seconds N | --smoke]
//!                             [--connections 16,64] [--scenarios get_task,mixed,…] [--pg-log PATH]
//!                             [--keep-database] [--pool N]
//! ```
//!
//! `cargo bench` builds the release server (`target/release/task-api`, as `CARGO_BIN_EXE_task-api`)
//! before this runs; the benchmark copies that binary and runs the copy, so a rebuild during the
//! run cannot change it. It then:
//!
//! 1. creates a scratch database `taskapi_bench` in the PostgreSQL cluster of `--database-url`
//!    (default `postgres://postgres@127.0.0.1:5432/postgres`; the user must be a superuser), or a
//!    temporary SQLite file with `--sqlite`, migrates it with `task-api migrate up` and seeds it
//!    through SQL: 100 users × 10,000 tasks and one user with 100,000 tasks (deterministic ids and
//!    distinct microsecond timestamps, stored exactly as the server stores them);
//! 2. on PostgreSQL, captures the SQL the server sends for each operation from PostgreSQL's
//!    statement log (`ALTER DATABASE taskapi_bench SET log_statement = 'all'`, against a server of
//!    its own), and writes it as pgbench scripts to `benches/sql/<operation>.sql`;
//! 3. starts the release server as its own process and drives it with `wrk -t2` (scripted by
//!    `benches/wrk/tasks.lua`) at each concurrency for a fixed time per scenario, sampling the
//!    server's CPU time and peak RSS; then runs `pgbench -M prepared -n -c C -j 2` with the
//!    captured SQL at the same concurrency, and reports server ÷ pgbench;
//! 4. measures how long the server takes from spawn to its first `200` on `/health` on the
//!    migrated database (median of 5), and drops the scratch database.

use std::collections::{BTreeSet, HashSet};
use std::fmt::Write as _;
use std::fs;
use std::io::{Read, Seek, SeekFrom, Write};
use std::net::{TcpListener, TcpStream};
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::str::FromStr;
use std::time::{Duration, Instant, SystemTime};

use chrono::{DateTime, SecondsFormat, Utc};
use sea_orm::sqlx::{
    self,
    postgres::{PgConnectOptions, PgPool, PgPoolOptions},
    sqlite::{SqliteConnectOptions, SqliteJournalMode, SqlitePool, SqlitePoolOptions},
    Row,
};
use serde_json::Value;
use sha2::{Digest, Sha256};
use uuid::Uuid;

const SERVER_BINARY: &str = env!("CARGO_BIN_EXE_task-api");
const MANIFEST_DIR: &str = env!("CARGO_MANIFEST_DIR");
/// The server's own default pool size.
const DEFAULT_POOL: u32 = 10;
const DEFAULT_DATABASE_URL: &str = "postgres://postgres@127.0.0.1:5432/postgres";
const BENCH_DATABASE: &str = "taskapi_bench";
const CURSOR_SECRET: &str = "task-api-load-benchmark-cursor-secret-0123456789";
/// `application_name` of the benchmark's own connections, to tell them from the server's.
const HARNESS_APPLICATION: &str = "taskapi-bench-harness";

const USERS: u64 = 100;
const TASKS_PER_USER: u64 = 10_000;
const DEEP_TASKS: u64 = 100_000;
/// Connections of other users' reads in the search-isolation measurement.
const ISOLATION_READERS: u32 = 4;
/// How deep the `list_deep` page is, and the page size used to walk there.
const DEEP_OFFSET: u64 = 50_000;
const WALK_LIMIT: u64 = 100;
/// Seeded tasks (one per user) that the load picks from, for wrk and pgbench alike (the number
/// is also in `POOL_PICK`).
const POOL: usize = 100;
/// INSERTs per `\gset` of fresh ids in the pgbench script of `create_task`.
const CREATE_BATCH: usize = 20;
const DESCRIPTION: &str = "Created by the load benchmark";
/// Requests per operation recorded while capturing SQL (after one unrecorded request).
const CAPTURE_REQUESTS: usize = 3;

type Result<T, E = String> = std::result::Result<T, E>;

trait Context<T> {
    fn context(self, what: impl std::fmt::Display) -> Result<T>;
}

impl<T, E: std::fmt::Display> Context<T> for std::result::Result<T, E> {
    fn context(self, what: impl std::fmt::Display) -> Result<T> {
        self.map_err(|err| format!("{what}: {err}"))
    }
}

fn main() {
    // reqwest is built without a TLS crypto provider of its own: use ring, as the server does.
    let _ = rustls::crypto::ring::default_provider().install_default();
    let options = match Options::parse(std::env::args().skip(1)) {
        Ok(options) => options,
        Err(message) => {
            eprintln!("{message}\n\n{USAGE}");
            std::process::exit(2);
        }
    };
    let runtime = tokio::runtime::Builder::new_multi_thread()
        .worker_threads(1)
        .enable_all()
        .build()
        .expect("a tokio runtime");
    if let Err(message) = runtime.block_on(run(options)) {
        eprintln!("\nload benchmark failed: {message}");
        std::process::exit(1);
    }
}

const USAGE: &str = "usage: cargo bench --bench load -- [--database-url URL | --sqlite] \
[--seconds N | --smoke] [--connections 16,64] [--scenarios get_task,get_task_auth,create_task,\
list_page,list_deep,patch_task,mixed] [--pool N] [--pg-log PATH] [--keep-database]";

// ---------------------------------------------------------------------------------------------
// Options and scenarios

struct Options {
    target: TargetKind,
    seconds: u64,
    warmup_seconds: u64,
    connections: Vec<u32>,
    scenarios: Vec<Scenario>,
    /// The server's DATABASE_MAX_CONNECTIONS.
    pool: u32,
    pg_log: Option<PathBuf>,
    keep_database: bool,
}

enum TargetKind {
    Postgres { admin_url: String },
    Sqlite,
}

impl Options {
    fn parse(mut args: impl Iterator<Item = String>) -> Result<Self> {
        let mut options = Options {
            target: TargetKind::Postgres {
                admin_url: DEFAULT_DATABASE_URL.to_owned(),
            },
            seconds: 20,
            warmup_seconds: 2,
            connections: vec![16, 64],
            scenarios: Scenario::ALL.to_vec(),
            pool: DEFAULT_POOL,
            pg_log: None,
            keep_database: false,
        };
        let mut smoke = false;
        let mut seconds = None;
        while let Some(arg) = args.next() {
            let mut value = |name: &str| args.next().ok_or(format!("{name} needs a value"));
            match arg.as_str() {
                "--database-url" => {
                    options.target = TargetKind::Postgres {
                        admin_url: value("--database-url")?,
                    }
                }
                "--sqlite" => options.target = TargetKind::Sqlite,
                "--seconds" => {
                    seconds = Some(
                        value("--seconds")?
                            .parse::<u64>()
                            .ok()
                            .filter(|s| *s >= 1)
                            .ok_or("--seconds takes a whole number ≥ 1")?,
                    )
                }
                "--smoke" => smoke = true,
                "--connections" => {
                    options.connections = value("--connections")?
                        .split(',')
                        .map(|c| c.trim().parse::<u32>().ok().filter(|c| *c >= 2))
                        .collect::<Option<Vec<_>>>()
                        .ok_or("--connections takes numbers ≥ 2, comma-separated")?
                }
                "--scenarios" => {
                    options.scenarios = value("--scenarios")?
                        .split(',')
                        .map(|name| {
                            Scenario::ALL
                                .into_iter()
                                .find(|s| s.name() == name.trim())
                                .ok_or(format!("unknown scenario {name:?}"))
                        })
                        .collect::<Result<Vec<_>>>()?
                }
                "--pool" => {
                    options.pool = value("--pool")?
                        .parse::<u32>()
                        .ok()
                        .filter(|n| *n >= 1)
                        .ok_or("--pool takes a whole number ≥ 1")?
                }
                "--pg-log" => options.pg_log = Some(PathBuf::from(value("--pg-log")?)),
                "--keep-database" => options.keep_database = true,
                // cargo bench passes --bench to every benchmark binary.
                "--bench" => {}
                "-h" | "--help" => return Err("Task API load benchmark".to_owned()),
                other => return Err(format!("unknown argument {other:?}")),
            }
        }
        if smoke {
            options.seconds = seconds.unwrap_or(2);
            options.warmup_seconds = 0;
        } else if let Some(seconds) = seconds {
            options.seconds = seconds;
        }
        Ok(options)
    }
}

#[derive(Clone, Copy, Debug, PartialEq, Eq, PartialOrd, Ord)]
enum Scenario {
    GetTask,
    /// `get_task` on a server with authentication on, each user with an EdDSA token of their own.
    GetTaskAuth,
    CreateTask,
    ListPage,
    ListDeep,
    PatchTask,
    Mixed,
}

impl Scenario {
    const ALL: [Scenario; 7] = [
        Self::GetTask,
        Self::GetTaskAuth,
        Self::CreateTask,
        Self::ListPage,
        Self::ListDeep,
        Self::PatchTask,
        Self::Mixed,
    ];
    /// The operations, each with its own captured SQL.
    const OPERATIONS: [Scenario; 5] = [
        Self::GetTask,
        Self::CreateTask,
        Self::ListPage,
        Self::ListDeep,
        Self::PatchTask,
    ];
    /// The mixed scenario: operation and share of requests (%), as `benches/wrk/tasks.lua`.
    const MIX: [(Scenario, u32); 4] = [
        (Self::GetTask, 60),
        (Self::ListPage, 20),
        (Self::CreateTask, 10),
        (Self::PatchTask, 10),
    ];

    fn name(self) -> &'static str {
        match self {
            Self::GetTask => "get_task",
            Self::GetTaskAuth => "get_task_auth",
            Self::CreateTask => "create_task",
            Self::ListPage => "list_page",
            Self::ListDeep => "list_deep",
            Self::PatchTask => "patch_task",
            Self::Mixed => "mixed",
        }
    }

    fn request(self) -> &'static str {
        match self {
            Self::GetTask => "GET /users/{user_id}/tasks/{task_id}",
            Self::GetTaskAuth => {
                "get_task with `Authorization: Bearer` (EdDSA, one token per user, keys from a JWKS)"
            }
            Self::CreateTask => "POST /users/{user_id}/tasks {\"title\", \"description\"}",
            Self::ListPage => "GET /users/{user_id}/tasks (first page, 20 tasks)",
            Self::ListDeep => {
                "GET /users/{deep_user_id}/tasks?cursor=… (20 tasks, 50,000 tasks into the list)"
            }
            Self::PatchTask => "PATCH /users/{user_id}/tasks/{task_id} {\"title\"}",
            Self::Mixed => "60 % get_task, 20 % list_page, 10 % create_task, 10 % patch_task",
        }
    }

    /// The operation whose SQL this scenario runs.
    fn sql_operation(self) -> Scenario {
        match self {
            Self::GetTaskAuth => Self::GetTask,
            other => other,
        }
    }

    fn sql_file(self) -> PathBuf {
        Path::new(MANIFEST_DIR)
            .join("benches/sql")
            .join(format!("{}.sql", self.name()))
    }
}

// ---------------------------------------------------------------------------------------------
// The run

struct Bench {
    options: Options,
    dir: PathBuf,
    server_binary: PathBuf,
    database: Database,
    server_url: String,
    pool: Vec<(Uuid, Uuid)>,
    deep_user: Uuid,
    clock_ticks: f64,
}

enum Database {
    Postgres {
        admin: PgPool,
        bench: PgPool,
        bench_url: String,
    },
    Sqlite {
        pool: SqlitePool,
    },
}

async fn run(options: Options) -> Result<()> {
    let dir = std::env::temp_dir().join(format!("taskapi-bench-{}", std::process::id()));
    fs::create_dir_all(&dir).context("cannot create the temporary directory")?;
    let outcome = run_in(options, &dir).await;
    fs::remove_dir_all(&dir).ok();
    outcome
}

async fn run_in(options: Options, dir: &Path) -> Result<()> {
    ensure_wrk()?;
    let server_binary = prepare_server_binary(dir)?;
    let (database, server_url) = match &options.target {
        TargetKind::Postgres { admin_url } => create_postgres_database(admin_url).await?,
        TargetKind::Sqlite => {
            let path = dir.join("bench.db");
            let url = format!("sqlite:{}", path.display());
            let options = SqliteConnectOptions::new()
                .filename(&path)
                .create_if_missing(true)
                .journal_mode(SqliteJournalMode::Wal)
                .foreign_keys(true);
            let pool = SqlitePoolOptions::new()
                .max_connections(1)
                .connect_with(options)
                .await
                .context("cannot open the SQLite file")?;
            (Database::Sqlite { pool }, url)
        }
    };
    let mut bench = Bench {
        options,
        dir: dir.to_owned(),
        server_binary,
        database,
        server_url,
        pool: pool_tasks(),
        deep_user: user_id(USERS),
        clock_ticks: clock_ticks(),
    };
    let outcome = bench.measure().await;
    if let Database::Postgres {
        admin, bench: pool, ..
    } = &bench.database
    {
        pool.close().await;
        if bench.options.keep_database {
            eprintln!("kept the database {BENCH_DATABASE} (--keep-database)");
            admin.close().await;
            return outcome;
        }
        let dropped = sqlx::query(&format!(
            "DROP DATABASE IF EXISTS {BENCH_DATABASE} WITH (FORCE)"
        ))
        .execute(admin)
        .await;
        if let Err(err) = dropped {
            eprintln!("could not drop the database {BENCH_DATABASE}: {err}");
        }
        admin.close().await;
    }
    outcome
}

impl Bench {
    fn is_postgres(&self) -> bool {
        matches!(self.database, Database::Postgres { .. })
    }

    async fn measure(&mut self) -> Result<()> {
        let started = Instant::now();
        self.migrate()?;
        let seeded = Instant::now();
        self.seed().await?;
        eprintln!(
            "seeded {} users and {} tasks in {:.1} s",
            USERS + 1,
            USERS * TASKS_PER_USER + DEEP_TASKS,
            seeded.elapsed().as_secs_f64()
        );

        let capture = if self.is_postgres() {
            match self.capture_sql().await {
                Ok(changed) => Some(changed),
                Err(err) => {
                    eprintln!(
                        "cannot capture the server's SQL ({err}); pgbench runs the committed \
                         benches/sql/*.sql"
                    );
                    None
                }
            }
        } else {
            None
        };
        let templates = if self.is_postgres() && pgbench_available() {
            self.create_pool_table().await?;
            match Scenario::OPERATIONS
                .iter()
                .map(|op| Template::read(*op))
                .collect::<Result<Vec<_>>>()
            {
                Ok(templates) => Some(templates),
                Err(err) => {
                    eprintln!("no pgbench figures: {err}");
                    None
                }
            }
        } else {
            None
        };

        let server = self.start_server(self.options.pool, "measure", &[])?;
        // The authenticated scenario's server: the same database, tokens checked against a JWKS.
        let identity = IdentityProvider::start()?;
        let auth_server = if self.options.scenarios.contains(&Scenario::GetTaskAuth) {
            Some(self.start_server(self.options.pool, "measure-auth", &identity.server_env())?)
        } else {
            None
        };
        let http = reqwest::Client::new();
        let base = format!("http://127.0.0.1:{}", server.port);
        if let Database::Sqlite { .. } = self.database {
            self.check_sqlite_format(&http, &base).await?;
        }
        for (user, task) in &self.pool {
            let status = http
                .get(format!("{base}/users/{user}/tasks/{task}"))
                .send()
                .await
                .context("GET a pool task")?
                .status();
            if status != 200 {
                return Err(format!(
                    "seeded task {task} of user {user} answers {status}"
                ));
            }
        }
        if let (Some(auth_server), Some((user, task))) = (&auth_server, self.pool.first()) {
            let url = format!(
                "http://127.0.0.1:{}/users/{user}/tasks/{task}",
                auth_server.port
            );
            let with_token = http.get(&url).bearer_auth(identity.token_for(*user));
            let statuses = (
                with_token
                    .send()
                    .await
                    .context("GET with a token")?
                    .status(),
                http.get(&url)
                    .send()
                    .await
                    .context("GET without a token")?
                    .status(),
            );
            if statuses != (reqwest::StatusCode::OK, reqwest::StatusCode::UNAUTHORIZED) {
                return Err(format!(
                    "the authenticated server answers {statuses:?} with and without a token"
                ));
            }
        }
        let deep_path = walk_to_deep_page(&http, &base, self.deep_user).await?;
        let pool_file = self.dir.join("pool.txt");
        let mut lines = String::new();
        for (user, task) in &self.pool {
            writeln!(lines, "{user} {task} {}", identity.token_for(*user)).unwrap();
        }
        fs::write(&pool_file, lines).context("cannot write the pool file")?;

        let mut rows = Vec::new();
        for scenario in self.options.scenarios.clone() {
            let server = match (&auth_server, scenario) {
                (Some(auth_server), Scenario::GetTaskAuth) => auth_server,
                _ => &server,
            };
            if self.options.warmup_seconds > 0 {
                let warmup = Wrk {
                    scenario,
                    connections: 16,
                    seconds: self.options.warmup_seconds,
                    port: server.port,
                    pool_file: &pool_file,
                    deep_path: &deep_path,
                };
                warmup.run()?;
            }
            for &connections in &self.options.connections {
                self.checkpoint().await;
                let wrk = Wrk {
                    scenario,
                    connections,
                    seconds: self.options.seconds,
                    port: server.port,
                    pool_file: &pool_file,
                    deep_path: &deep_path,
                };
                reset_peak_rss(server.pid());
                let cpu_before = cpu_ticks(server.pid())?;
                let wall = Instant::now();
                let load = wrk.run()?;
                let cpu = (cpu_ticks(server.pid())? - cpu_before) as f64
                    / self.clock_ticks
                    / wall.elapsed().as_secs_f64()
                    * 100.0;
                let rss = peak_rss_kib(server.pid())? as f64 / 1024.0;
                let pgbench = match &templates {
                    Some(templates) => {
                        self.checkpoint().await;
                        Some(self.pgbench(scenario, connections, templates))
                    }
                    None => None,
                };
                let row = Cell {
                    scenario,
                    connections,
                    load,
                    cpu,
                    rss,
                    pgbench,
                };
                eprintln!("{}", row.line());
                rows.push(row);
            }
        }
        let isolation = self.search_isolation(server.port, &pool_file)?;
        let authentication = match &auth_server {
            Some(auth_server) => {
                Some(self.authentication_cost(server.port, auth_server.port, &pool_file)?)
            }
            None => None,
        };
        drop(server);
        drop(auth_server);

        let startups = self.startup_times()?;
        println!();
        println!("Task API load benchmark ({})", self.describe());
        let limit = if templates.is_some() {
            format!(
                "; pgbench -M prepared -n -j 2 -T {} with the server's SQL",
                self.options.seconds
            )
        } else {
            String::new()
        };
        println!(
            "wrk -t2, {} s per cell{limit}; server: release build, DATABASE_MAX_CONNECTIONS={}, \
             LOG=warn; CPU in % of one core, RSS = peak (VmHWM) per cell",
            self.options.seconds, self.options.pool
        );
        println!();
        println!("{}", Cell::header());
        for row in &rows {
            println!("{}", row.line());
        }
        for row in &rows {
            for problem in row.problems() {
                println!(
                    "note: {} c{}: {problem}",
                    row.scenario.name(),
                    row.connections
                );
            }
        }
        if let Some((median, ratios)) = &authentication {
            let rounds: Vec<String> = ratios.iter().map(|ratio| format!("{ratio:.3}")).collect();
            println!(
                "authentication: get_task_auth ÷ get_task at c16, {} rounds of each taken in turns: \
                 median {median:.3} ({})",
                ratios.len(),
                rounds.join(", ")
            );
        }
        let (alone, during, searches) = &isolation;
        println!();
        println!(
            "search isolation: other users' get_task (c{ISOLATION_READERS}) p50/p99 {:.2}/{:.2} ms \
             alone, {:.2}/{:.2} ms while one user searches (c16 `?q=zz` over {DEEP_TASKS} tasks, \
             {:.0} searches/s, {} non-2xx)",
            alone.p50_ms, alone.p99_ms, during.p50_ms, during.p99_ms, searches.rps, searches.non_2xx
        );
        let mut sorted = startups.clone();
        sorted.sort_by(f64::total_cmp);
        println!();
        println!(
            "start to first served request (spawn → first 200 on /health, migrated database, \
             RUN_MIGRATIONS=true): median {:.0} ms of {} ({})",
            sorted[sorted.len() / 2],
            sorted.len(),
            startups
                .iter()
                .map(|ms| format!("{ms:.0}"))
                .collect::<Vec<_>>()
                .join(", ")
        );
        if let Some(templates) = &templates {
            println!();
            println!("SQL per request (from PostgreSQL's statement log; benches/sql/*.sql):");
            for template in templates {
                println!(
                    "  {:<12} {} statement(s): {}",
                    template.operation.name(),
                    template.sql.len(),
                    template
                        .sql
                        .iter()
                        .map(|sql| abbreviate(sql))
                        .collect::<Vec<_>>()
                        .join(" ; ")
                );
            }
        }
        if let Some(changed) = capture {
            if !changed.is_empty() {
                println!();
                println!(
                    "the server's SQL changed: rewrote {} (commit them)",
                    changed.join(", ")
                );
            }
        }
        eprintln!("total {:.0} s", started.elapsed().as_secs_f64());
        Ok(())
    }

    /// Other users' `get_task` alone, then while one user's searches run (16 connections of a
    /// two-letter search, which no index can narrow, over the deep user's tasks); returns
    /// (alone, during, the searches).
    fn search_isolation(&self, port: u16, pool_file: &Path) -> Result<(Load, Load, Load)> {
        let search_path = format!("/users/{}/tasks?q=zz", self.deep_user);
        let readers = Wrk {
            scenario: Scenario::GetTask,
            connections: ISOLATION_READERS,
            seconds: self.options.seconds,
            port,
            pool_file,
            deep_path: "",
        };
        let searches = Wrk {
            scenario: Scenario::ListDeep,
            connections: 16,
            seconds: self.options.seconds + 2,
            port,
            pool_file,
            deep_path: &search_path,
        };
        let alone = readers.run()?;
        let (during, searched) = std::thread::scope(|scope| {
            let searching = scope.spawn(|| searches.run());
            std::thread::sleep(Duration::from_secs(1));
            let during = readers.run();
            (during, searching.join().expect("the search thread ends"))
        });
        let (during, searched) = (during?, searched?);
        eprintln!(
            "search isolation: get_task p99 {:.2} ms alone, {:.2} ms during searches",
            alone.p99_ms, during.p99_ms
        );
        Ok((alone, during, searched))
    }

    /// `get_task` with a token ÷ without at 16 connections: short rounds of each taken in turns,
    /// so that the machine's drift weighs on both alike; the median of the rounds' ratios.
    fn authentication_cost(
        &self,
        port: u16,
        auth_port: u16,
        pool_file: &Path,
    ) -> Result<(f64, Vec<f64>)> {
        const ROUNDS: usize = 5;
        let round = |scenario, port| Wrk {
            scenario,
            connections: 16,
            seconds: (self.options.seconds / 4).max(1),
            port,
            pool_file,
            deep_path: "",
        };
        let mut ratios = Vec::with_capacity(ROUNDS);
        for _ in 0..ROUNDS {
            let without = round(Scenario::GetTask, port).run()?;
            let with_token = round(Scenario::GetTaskAuth, auth_port).run()?;
            ratios.push(with_token.rps / without.rps);
        }
        let mut sorted = ratios.clone();
        sorted.sort_by(f64::total_cmp);
        Ok((sorted[ROUNDS / 2], ratios))
    }

    fn describe(&self) -> String {
        let commit = Command::new("git")
            .args(["-C", MANIFEST_DIR, "rev-parse", "--short", "HEAD"])
            .output()
            .ok()
            .map(|out| String::from_utf8_lossy(&out.stdout).trim().to_owned())
            .unwrap_or_default();
        let dirty = Command::new("git")
            .args([
                "-C",
                MANIFEST_DIR,
                "status",
                "--porcelain",
                "--",
                "src",
                "migration",
            ])
            .output()
            .map(|out| !out.stdout.is_empty())
            .unwrap_or(false);
        let database = match &self.database {
            Database::Postgres { .. } => "PostgreSQL",
            Database::Sqlite { .. } => "SQLite",
        };
        format!(
            "{database}, commit {commit}{}, {} cores",
            if dirty {
                " + uncommitted changes in src/ or migration/"
            } else {
                ""
            },
            std::thread::available_parallelism().map_or(0, |n| n.get())
        )
    }

    fn server_command(&self, database_url: &str, port: u16) -> Command {
        let mut command = Command::new(&self.server_binary);
        command
            .current_dir(&self.dir) // no .env of the working tree
            .env_clear()
            .env("PATH", std::env::var("PATH").unwrap_or_default())
            .env("DATABASE_URL", database_url)
            .env("HOST", "127.0.0.1")
            .env("PORT", port.to_string())
            .env("LOG", "warn")
            .env("CURSOR_SECRET", CURSOR_SECRET);
        command
    }

    fn migrate(&self) -> Result<()> {
        let output = self
            .server_command(&self.server_url, 0)
            .args(["migrate", "up"])
            .output()
            .context("cannot run task-api migrate up")?;
        if !output.status.success() {
            return Err(format!(
                "task-api migrate up failed: {}",
                String::from_utf8_lossy(&output.stderr)
            ));
        }
        Ok(())
    }

    fn start_server(
        &self,
        max_connections: u32,
        name: &str,
        env: &[(&str, String)],
    ) -> Result<Server> {
        let port = free_port()?;
        let log = self.dir.join(format!("server-{name}.log"));
        let log_file = fs::File::create(&log).context("cannot create the server log")?;
        let child = self
            .server_command(&self.server_url, port)
            .env("DATABASE_MAX_CONNECTIONS", max_connections.to_string())
            .envs(env.iter().map(|(name, value)| (name, value)))
            .stdout(Stdio::from(log_file.try_clone().unwrap()))
            .stderr(Stdio::from(log_file))
            .spawn()
            .context("cannot start the server")?;
        let mut server = Server { child, port, log };
        let deadline = Instant::now() + Duration::from_secs(60);
        loop {
            if http_status(port, "/ready") == Some(200) {
                return Ok(server);
            }
            if let Ok(Some(status)) = server.child.try_wait() {
                return Err(format!(
                    "the server exited ({status}): {}",
                    fs::read_to_string(&server.log).unwrap_or_default()
                ));
            }
            if Instant::now() > deadline {
                return Err("the server was not ready within 60 s".to_owned());
            }
            std::thread::sleep(Duration::from_millis(20));
        }
    }

    /// Spawn → first 200 on /health, five times, in milliseconds.
    fn startup_times(&self) -> Result<Vec<f64>> {
        let mut times = Vec::new();
        for _ in 0..5 {
            let port = free_port()?;
            let started = Instant::now();
            let child = self
                .server_command(&self.server_url, port)
                .stdout(Stdio::null())
                .stderr(Stdio::null())
                .spawn()
                .context("cannot start the server")?;
            let mut server = Server {
                child,
                port,
                log: PathBuf::new(),
            };
            loop {
                if http_status(port, "/health") == Some(200) {
                    times.push(started.elapsed().as_secs_f64() * 1000.0);
                    break;
                }
                if let Ok(Some(status)) = server.child.try_wait() {
                    return Err(format!("the server exited ({status}) while starting"));
                }
                if started.elapsed() > Duration::from_secs(60) {
                    return Err("the server did not answer /health within 60 s".to_owned());
                }
                std::thread::sleep(Duration::from_millis(1));
            }
        }
        Ok(times)
    }

    async fn checkpoint(&self) {
        if let Database::Postgres { admin, .. } = &self.database {
            sqlx::query("CHECKPOINT").execute(admin).await.ok();
        }
    }

    /// Creates a task through the API and checks that the seed writes times as the server does.
    async fn check_sqlite_format(&self, http: &reqwest::Client, base: &str) -> Result<()> {
        let Database::Sqlite { pool } = &self.database else {
            return Ok(());
        };
        let user = self.pool[0].0;
        let task: Value = http
            .post(format!("{base}/users/{user}/tasks"))
            .json(&serde_json::json!({ "title": "format probe" }))
            .send()
            .await
            .context("POST a task")?
            .json()
            .await
            .context("POST a task")?;
        let id = Uuid::parse_str(task["id"].as_str().unwrap_or_default()).context("task id")?;
        let created_at = parse_api_time(&task["created_at"])?;
        let row = sqlx::query("SELECT created_at, typeof(id) AS id_type FROM tasks WHERE id = ?")
            .bind(id)
            .fetch_one(pool)
            .await
            .context("read the probe task back")?;
        let stored: String = row.get("created_at");
        let id_type: String = row.get("id_type");
        if stored != sqlite_time(created_at) || id_type != "blob" {
            return Err(format!(
                "the server stores {stored:?} ({id_type} ids) where the seed writes {:?} (blob \
                 ids): fix sqlite_time in benches/load.rs",
                sqlite_time(created_at)
            ));
        }
        Ok(())
    }
}

struct Server {
    child: Child,
    port: u16,
    log: PathBuf,
}

impl Server {
    fn pid(&self) -> u32 {
        self.child.id()
    }
}

impl Drop for Server {
    /// SIGTERM, then SIGKILL when it has not stopped within 10 s.
    fn drop(&mut self) {
        Command::new("kill")
            .args(["-TERM", &self.child.id().to_string()])
            .status()
            .ok();
        let deadline = Instant::now() + Duration::from_secs(10);
        while Instant::now() < deadline {
            if let Ok(Some(_)) = self.child.try_wait() {
                return;
            }
            std::thread::sleep(Duration::from_millis(10));
        }
        self.child.kill().ok();
        self.child.wait().ok();
    }
}

fn ensure_wrk() -> Result<()> {
    let found = || {
        Command::new("wrk")
            .arg("--version")
            .stdout(Stdio::null())
            .stderr(Stdio::null())
            .status()
            .is_ok()
    };
    if found() {
        return Ok(());
    }
    eprintln!("wrk is missing: apt-get install -y wrk");
    let installed = Command::new("apt-get")
        .args(["install", "-y", "-qq", "wrk"])
        .env("DEBIAN_FRONTEND", "noninteractive")
        .status()
        .is_ok_and(|status| status.success());
    if installed && found() {
        Ok(())
    } else {
        Err("wrk is missing and apt-get install -y wrk failed: install wrk".to_owned())
    }
}

fn pgbench_available() -> bool {
    let found = Command::new("pgbench")
        .arg("--version")
        .output()
        .is_ok_and(|out| out.status.success());
    if !found {
        eprintln!("pgbench is missing: no database limit beside the server's figures");
    }
    found
}

/// Copies the server that `cargo bench` just built, so that a rebuild cannot change it mid-run.
fn prepare_server_binary(dir: &Path) -> Result<PathBuf> {
    let built = fs::metadata(SERVER_BINARY)
        .and_then(|meta| meta.modified())
        .context(format!("no server binary at {SERVER_BINARY}"))?;
    let newest_source = [
        "src",
        "migration/src",
        "migration/Cargo.toml",
        "Cargo.toml",
        "Cargo.lock",
    ]
    .iter()
    .flat_map(|path| files_under(&Path::new(MANIFEST_DIR).join(path)))
    .filter_map(|path| fs::metadata(path).and_then(|meta| meta.modified()).ok())
    .max();
    if newest_source.is_some_and(|newest| newest > built) {
        eprintln!(
            "warning: sources changed after {SERVER_BINARY} was built; it is measured as built \
             (run the benchmark again to rebuild)"
        );
    }
    let age = SystemTime::now().duration_since(built).unwrap_or_default();
    eprintln!(
        "server: {SERVER_BINARY} (built {} s ago; cargo bench rebuilds it when its sources change)",
        age.as_secs()
    );
    let copy = dir.join("task-api");
    fs::copy(SERVER_BINARY, &copy).context("cannot copy the server binary")?;
    Ok(copy)
}

fn files_under(path: &Path) -> Vec<PathBuf> {
    match fs::read_dir(path) {
        Ok(entries) => entries
            .flatten()
            .flat_map(|entry| files_under(&entry.path()))
            .collect(),
        Err(_) => vec![path.to_owned()],
    }
}

fn free_port() -> Result<u16> {
    TcpListener::bind("127.0.0.1:0")
        .and_then(|listener| listener.local_addr())
        .map(|addr| addr.port())
        .context("cannot find a free port")
}

/// The status of `GET path`, or None when the server does not answer (yet).
fn http_status(port: u16, path: &str) -> Option<u16> {
    let mut stream = TcpStream::connect(("127.0.0.1", port)).ok()?;
    stream.set_read_timeout(Some(Duration::from_secs(5))).ok()?;
    write!(
        stream,
        "GET {path} HTTP/1.1\r\nHost: 127.0.0.1\r\nConnection: close\r\n\r\n"
    )
    .ok()?;
    let mut head = [0u8; 12];
    stream.read_exact(&mut head).ok()?;
    std::str::from_utf8(&head[9..12]).ok()?.parse().ok()
}

fn clock_ticks() -> f64 {
    Command::new("getconf")
        .arg("CLK_TCK")
        .output()
        .ok()
        .and_then(|out| String::from_utf8_lossy(&out.stdout).trim().parse().ok())
        .unwrap_or(100.0)
}

/// utime + stime of a process, in clock ticks.
fn cpu_ticks(pid: u32) -> Result<u64> {
    let stat = fs::read_to_string(format!("/proc/{pid}/stat")).context("read /proc/PID/stat")?;
    let fields: Vec<&str> = stat
        .rsplit_once(')')
        .map(|(_, rest)| rest.split_whitespace().collect())
        .unwrap_or_default();
    // Fields 14 and 15 of stat(5); field 3 is the first after the command name.
    let field = |n: usize| fields.get(n - 3).and_then(|v| v.parse::<u64>().ok());
    Ok(field(14).unwrap_or(0) + field(15).unwrap_or(0))
}

fn reset_peak_rss(pid: u32) {
    fs::write(format!("/proc/{pid}/clear_refs"), "5").ok();
}

fn peak_rss_kib(pid: u32) -> Result<u64> {
    let status =
        fs::read_to_string(format!("/proc/{pid}/status")).context("read /proc/PID/status")?;
    status
        .lines()
        .find_map(|line| line.strip_prefix("VmHWM:"))
        .and_then(|value| value.trim().trim_end_matches("kB").trim().parse().ok())
        .ok_or_else(|| "no VmHWM in /proc/PID/status".to_owned())
}

// ---------------------------------------------------------------------------------------------
// The seed: deterministic ids (UUIDv7 layout: the creation millisecond, then SHA-256 bits of a
// name) and distinct microsecond times, computed alike by PostgreSQL and by Rust (for SQLite).

/// 2025-01-01T00:00:00Z in microseconds; users are created then, tasks from an hour later.
const BASE_MICROS: i64 = 1_735_689_600_000_000;
const HOUR_MICROS: i64 = 3_600_000_000;
/// Microseconds between two seeded tasks (a prime: the times are distinct and rarely round).
const STEP_MICROS: i64 = 997;

fn seeded_uuid(micros: i64, name: &str) -> Uuid {
    let hash = Sha256::digest(name.as_bytes());
    let hex: String = hash.iter().map(|b| format!("{b:02x}")).collect();
    let text = format!(
        "{:012x}7{}8{}",
        micros.div_euclid(1000),
        &hex[0..3],
        &hex[3..18]
    );
    Uuid::parse_str(&text).expect("32 hex digits")
}

/// The same, in PostgreSQL, for a `timestamptz` expression and a `text` expression.
fn seeded_uuid_sql(time: &str, name: &str) -> String {
    format!(
        "(lpad(to_hex(floor(extract(epoch FROM {time}) * 1000)::bigint), 12, '0') || '7' || \
         substr(encode(sha256(convert_to({name}, 'UTF8')), 'hex'), 1, 3) || '8' || \
         substr(encode(sha256(convert_to({name}, 'UTF8')), 'hex'), 4, 15))::uuid"
    )
}

fn user_time(user: u64) -> i64 {
    BASE_MICROS + user as i64
}

fn user_id(user: u64) -> Uuid {
    seeded_uuid(user_time(user), &format!("user {user}"))
}

/// Task `n` of the regular users belongs to user `n % 100`.
fn task_time(n: u64) -> i64 {
    BASE_MICROS + HOUR_MICROS + n as i64 * STEP_MICROS
}

fn task_id(n: u64) -> Uuid {
    seeded_uuid(task_time(n), &format!("task {n}"))
}

fn deep_time(n: u64) -> i64 {
    BASE_MICROS + 2 * HOUR_MICROS + n as i64 * STEP_MICROS
}

fn deep_id(n: u64) -> Uuid {
    seeded_uuid(deep_time(n), &format!("deep task {n}"))
}

/// One task of each regular user, somewhere in the middle of its list.
fn pool_tasks() -> Vec<(Uuid, Uuid)> {
    (0..POOL as u64)
        .map(|user| {
            let j = (user * 7919 + 13) % TASKS_PER_USER;
            (user_id(user), task_id(j * USERS + user))
        })
        .collect()
}

fn time_of(micros: i64) -> DateTime<Utc> {
    DateTime::from_timestamp_micros(micros).expect("a valid time")
}

/// How sqlx stores a `DateTime<Utc>` in SQLite (RFC 3339 text).
fn sqlite_time(time: DateTime<Utc>) -> String {
    time.to_rfc3339_opts(SecondsFormat::AutoSi, false)
}

fn parse_api_time(value: &Value) -> Result<DateTime<Utc>> {
    let text = value.as_str().ok_or("a time is not a string")?;
    DateTime::parse_from_rfc3339(text)
        .map(|time| time.with_timezone(&Utc))
        .context(format!("bad time {text:?}"))
}

impl Bench {
    async fn seed(&self) -> Result<()> {
        match &self.database {
            Database::Postgres { bench, .. } => seed_postgres(bench).await,
            Database::Sqlite { pool } => seed_sqlite(pool).await,
        }
    }
}

async fn seed_postgres(pool: &PgPool) -> Result<()> {
    let base = format!("timestamptz '{}'", time_of(BASE_MICROS).to_rfc3339());
    let users = format!(
        "INSERT INTO users (id, created_at) \
         SELECT {id}, t FROM (SELECT n, {base} + n * interval '1 microsecond' AS t \
                              FROM generate_series(0, {USERS}) n) s",
        id = seeded_uuid_sql("t", "'user ' || n"),
    );
    let user_of = |n: &str| {
        seeded_uuid_sql(
            &format!("({base} + {n} * interval '1 microsecond')"),
            &format!("'user ' || {n}"),
        )
    };
    let tasks = format!(
        "INSERT INTO tasks (id, user_id, title, description, is_completed, created_at, updated_at) \
         SELECT {id}, {owner}, 'Task ' || n, \
                CASE WHEN n % 3 = 0 THEN NULL ELSE 'Seeded task number ' || n END, \
                n % 4 = 0, t, t \
         FROM (SELECT n, {base} + interval '1 hour' + n * {STEP_MICROS} * interval '1 microsecond' AS t \
               FROM generate_series(0, {last}) n) s",
        id = seeded_uuid_sql("t", "'task ' || n"),
        owner = user_of(&format!("(n % {USERS})")),
        last = USERS * TASKS_PER_USER - 1,
    );
    let deep_tasks = format!(
        "INSERT INTO tasks (id, user_id, title, description, is_completed, created_at, updated_at) \
         SELECT {id}, {owner}, 'Deep task ' || n, \
                CASE WHEN n % 3 = 0 THEN NULL ELSE 'Seeded deep task number ' || n END, \
                n % 4 = 0, t, t \
         FROM (SELECT n, {base} + interval '2 hours' + n * {STEP_MICROS} * interval '1 microsecond' AS t \
               FROM generate_series(0, {last}) n) s",
        id = seeded_uuid_sql("t", "'deep task ' || n"),
        owner = user_of(&USERS.to_string()),
        last = DEEP_TASKS - 1,
    );
    let mut conn = pool.acquire().await.context("connect")?;
    // The rows are valid by construction: skip the per-row foreign key trigger.
    for statement in [
        "SET session_replication_role = replica",
        &users,
        &tasks,
        &deep_tasks,
        "RESET session_replication_role",
    ] {
        sqlx::raw_sql(statement)
            .execute(&mut *conn)
            .await
            .context(format!("seed: {}", abbreviate(statement)))?;
    }
    sqlx::raw_sql("VACUUM (ANALYZE) users, tasks")
        .execute(&mut *conn)
        .await
        .context("VACUUM ANALYZE")?;
    sqlx::raw_sql("CHECKPOINT").execute(&mut *conn).await.ok();
    // The seed in Rust (SQLite, pool, deep page) must name the same rows.
    let probe = task_id(12_345);
    let owner: Option<Uuid> = sqlx::query_scalar("SELECT user_id FROM tasks WHERE id = $1")
        .bind(probe)
        .fetch_optional(&mut *conn)
        .await
        .context("check the seed")?;
    if owner != Some(user_id(12_345 % USERS)) {
        return Err("the seeded ids differ from the ones benches/load.rs computes".to_owned());
    }
    Ok(())
}

async fn seed_sqlite(pool: &SqlitePool) -> Result<()> {
    let mut tx = pool.begin().await.context("BEGIN")?;
    let mut users = sqlx::QueryBuilder::new("INSERT INTO users (id, created_at) ");
    users.push_values(0..=USERS, |mut row, user| {
        row.push_bind(user_id(user))
            .push_bind(sqlite_time(time_of(user_time(user))));
    });
    users
        .build()
        .execute(&mut *tx)
        .await
        .context("seed users")?;
    let rows = (0..USERS * TASKS_PER_USER)
        .map(|n| {
            (
                task_id(n),
                user_id(n % USERS),
                format!("Task {n}"),
                (n % 3 != 0).then(|| format!("Seeded task number {n}")),
                n % 4 == 0,
                task_time(n),
            )
        })
        .chain((0..DEEP_TASKS).map(|n| {
            (
                deep_id(n),
                user_id(USERS),
                format!("Deep task {n}"),
                (n % 3 != 0).then(|| format!("Seeded deep task number {n}")),
                n % 4 == 0,
                deep_time(n),
            )
        }));
    let mut batch = Vec::with_capacity(1000);
    let mut rows = rows.peekable();
    while rows.peek().is_some() {
        batch.clear();
        batch.extend(rows.by_ref().take(1000));
        let mut insert = sqlx::QueryBuilder::new(
            "INSERT INTO tasks (id, user_id, title, description, is_completed, created_at, \
             updated_at) ",
        );
        insert.push_values(batch.drain(..), |mut row, task| {
            let time = sqlite_time(time_of(task.5));
            row.push_bind(task.0)
                .push_bind(task.1)
                .push_bind(task.2)
                .push_bind(task.3)
                .push_bind(task.4)
                .push_bind(time.clone())
                .push_bind(time);
        });
        insert
            .build()
            .execute(&mut *tx)
            .await
            .context("seed tasks")?;
    }
    tx.commit().await.context("COMMIT")?;
    sqlx::raw_sql("PRAGMA wal_checkpoint(TRUNCATE)")
        .execute(pool)
        .await
        .ok();
    Ok(())
}

async fn create_postgres_database(admin_url: &str) -> Result<(Database, String)> {
    let admin_options = PgConnectOptions::from_str(admin_url)
        .context("--database-url is not a PostgreSQL URL")?
        .application_name(HARNESS_APPLICATION);
    let admin = PgPoolOptions::new()
        .max_connections(1)
        .connect_with(admin_options)
        .await
        .context(format!("cannot connect to {admin_url}"))?;
    for statement in [
        format!("DROP DATABASE IF EXISTS {BENCH_DATABASE} WITH (FORCE)"),
        format!("CREATE DATABASE {BENCH_DATABASE}"),
    ] {
        sqlx::query(&statement)
            .execute(&admin)
            .await
            .context(&statement)?;
    }
    let mut url = reqwest::Url::parse(admin_url).context("--database-url")?;
    url.set_path(&format!("/{BENCH_DATABASE}"));
    let bench_url = url.to_string();
    let bench = PgPoolOptions::new()
        .max_connections(1)
        .connect_with(
            PgConnectOptions::from_str(&bench_url)
                .context("the benchmark database URL")?
                .application_name(HARNESS_APPLICATION),
        )
        .await
        .context(format!("cannot connect to {bench_url}"))?;
    Ok((
        Database::Postgres {
            admin,
            bench,
            bench_url: bench_url.clone(),
        },
        bench_url,
    ))
}

/// Follows `next_cursor` with limit=100 until 50,000 tasks in; returns the path of the next page.
async fn walk_to_deep_page(http: &reqwest::Client, base: &str, user: Uuid) -> Result<String> {
    let mut cursor: Option<String> = None;
    for _ in 0..DEEP_OFFSET / WALK_LIMIT {
        let mut request = http
            .get(format!("{base}/users/{user}/tasks"))
            .query(&[("limit", WALK_LIMIT.to_string())]);
        if let Some(cursor) = &cursor {
            request = request.query(&[("cursor", cursor)]);
        }
        let page: Value = request
            .send()
            .await
            .context("walk the deep list")?
            .json()
            .await
            .context("walk the deep list")?;
        cursor = Some(
            page["next_cursor"]
                .as_str()
                .ok_or("the deep list ended early")?
                .to_owned(),
        );
    }
    // A cursor is base64url: nothing in it needs escaping in a query.
    Ok(format!(
        "/users/{user}/tasks?cursor={}",
        cursor.unwrap_or_default()
    ))
}

// ---------------------------------------------------------------------------------------------
// The identity provider of the authenticated scenario

/// The test-only Ed25519 key the integration tests sign with too.
const SIGNING_KEY_PEM: &str = include_str!("../tests/api/keys/test-only-ed25519.pem");
const ISSUER: &str = "https://idp.load-benchmark.test";
const KEY_ID: &str = "bench-ed25519";

/// A JWKS of one Ed25519 key served on 127.0.0.1 (by a thread, one connection at a time: the
/// server fetches it once at start), and tokens signed with the key.
struct IdentityProvider {
    jwks_url: String,
    key: jsonwebtoken::EncodingKey,
}

impl IdentityProvider {
    fn start() -> Result<Self> {
        let key = jsonwebtoken::EncodingKey::from_ed_pem(SIGNING_KEY_PEM.as_bytes())
            .map_err(|err| format!("the signing key: {err}"))?;
        let mut jwk =
            jsonwebtoken::jwk::Jwk::from_encoding_key(&key, jsonwebtoken::Algorithm::EdDSA)
                .map_err(|err| format!("the JWK: {err}"))?;
        jwk.common.key_id = Some(KEY_ID.to_owned());
        let body = serde_json::json!({ "keys": [jwk] }).to_string();
        let listener = TcpListener::bind("127.0.0.1:0").context("cannot listen for the JWKS")?;
        let jwks_url = format!(
            "http://{}/.well-known/jwks.json",
            listener.local_addr().context("the JWKS address")?
        );
        std::thread::spawn(move || {
            for mut stream in listener.incoming().flatten() {
                let mut head = [0u8; 4096];
                let _ = stream.read(&mut head);
                let _ = write!(
                    stream,
                    "HTTP/1.1 200 OK\r\ncontent-type: application/json\r\ncontent-length: {}\r\n\
                     connection: close\r\n\r\n{body}",
                    body.len()
                );
            }
        });
        Ok(Self { jwks_url, key })
    }

    /// What a server needs to trust this provider.
    fn server_env(&self) -> Vec<(&'static str, String)> {
        vec![
            ("AUTH_JWKS_URL", self.jwks_url.clone()),
            ("AUTH_ISSUER", ISSUER.to_owned()),
            ("AUTH_AUDIENCE", "task-api".to_owned()),
        ]
    }

    /// A token for `user`, valid for a day.
    fn token_for(&self, user: Uuid) -> String {
        let now = Utc::now().timestamp();
        let claims = serde_json::json!({
            "iss": ISSUER, "aud": "task-api", "sub": user, "iat": now, "exp": now + 86_400,
        });
        let mut header = jsonwebtoken::Header::new(jsonwebtoken::Algorithm::EdDSA);
        header.kid = Some(KEY_ID.to_owned());
        jsonwebtoken::encode(&header, &claims, &self.key).expect("an Ed25519 key signs")
    }
}

// ---------------------------------------------------------------------------------------------
// wrk

struct Wrk<'a> {
    scenario: Scenario,
    connections: u32,
    seconds: u64,
    port: u16,
    pool_file: &'a Path,
    deep_path: &'a str,
}

#[derive(Default)]
struct Load {
    rps: f64,
    p50_ms: f64,
    p99_ms: f64,
    requests: u64,
    non_2xx: u64,
    socket_errors: u64,
}

impl Wrk<'_> {
    fn run(&self) -> Result<Load> {
        let script = Path::new(MANIFEST_DIR).join("benches/wrk/tasks.lua");
        let output = Command::new("wrk")
            .arg("-t2")
            .arg(format!("-c{}", self.connections))
            .arg(format!("-d{}s", self.seconds))
            .args(["--timeout", "10s", "--latency", "-s"])
            .arg(&script)
            .arg(format!("http://127.0.0.1:{}", self.port))
            .arg("--")
            .arg(self.scenario.name())
            .arg(self.pool_file)
            .arg(self.deep_path)
            .output()
            .context("cannot run wrk")?;
        let text = String::from_utf8_lossy(&output.stdout);
        if !output.status.success() {
            return Err(format!(
                "wrk failed: {text}{}",
                String::from_utf8_lossy(&output.stderr)
            ));
        }
        let mut load = Load::default();
        for line in text.lines() {
            let line = line.trim();
            let words: Vec<&str> = line.split_whitespace().collect();
            match words.as_slice() {
                ["Requests/sec:", rps] => load.rps = rps.parse().unwrap_or(0.0),
                ["50%", latency] => load.p50_ms = wrk_millis(latency),
                ["99%", latency] => load.p99_ms = wrk_millis(latency),
                [requests, "requests", "in", ..] => load.requests = requests.parse().unwrap_or(0),
                ["Non-2xx", "or", "3xx", "responses:", n] => load.non_2xx = n.parse().unwrap_or(0),
                ["Socket", "errors:", ..] => {
                    load.socket_errors = words
                        .iter()
                        .filter_map(|w| w.trim_end_matches(',').parse::<u64>().ok())
                        .sum()
                }
                _ => {}
            }
        }
        if load.rps == 0.0 {
            return Err(format!("no result from wrk: {text}"));
        }
        Ok(load)
    }
}

fn wrk_millis(text: &str) -> f64 {
    let split = text
        .find(|c: char| c.is_ascii_alphabetic())
        .unwrap_or(text.len());
    let value: f64 = text[..split].parse().unwrap_or(f64::NAN);
    value
        * match &text[split..] {
            "us" => 0.001,
            "ms" => 1.0,
            "s" => 1000.0,
            "m" => 60_000.0,
            _ => f64::NAN,
        }
}

// ---------------------------------------------------------------------------------------------
// Results

struct Cell {
    scenario: Scenario,
    connections: u32,
    load: Load,
    cpu: f64,
    rss: f64,
    pgbench: Option<Result<f64>>,
}

impl Cell {
    fn header() -> String {
        format!(
            "{:<12} {:>4} {:>9} {:>9} {:>9} {:>8} {:>8} {:>11} {:>7}",
            "scenario", "conn", "rps", "p50 ms", "p99 ms", "CPU %", "RSS MiB", "pgbench/s", "ratio"
        )
    }

    fn line(&self) -> String {
        let (pgbench, ratio) = match &self.pgbench {
            Some(Ok(rate)) => (format!("{rate:.0}"), format!("{:.3}", self.load.rps / rate)),
            Some(Err(_)) => ("failed".to_owned(), "—".to_owned()),
            None => ("—".to_owned(), "—".to_owned()),
        };
        format!(
            "{:<12} {:>4} {:>9.0} {:>9.2} {:>9.2} {:>8.0} {:>8.1} {:>11} {:>7}",
            self.scenario.name(),
            self.connections,
            self.load.rps,
            self.load.p50_ms,
            self.load.p99_ms,
            self.cpu,
            self.rss,
            pgbench,
            ratio
        )
    }

    fn problems(&self) -> Vec<String> {
        let mut problems = Vec::new();
        if self.load.non_2xx > 0 {
            problems.push(format!(
                "{} of {} responses were not 2xx",
                self.load.non_2xx, self.load.requests
            ));
        }
        if self.load.socket_errors > 0 {
            problems.push(format!("{} socket errors", self.load.socket_errors));
        }
        if let Some(Err(err)) = &self.pgbench {
            problems.push(format!("pgbench: {err}"));
        }
        problems
    }
}

fn abbreviate(sql: &str) -> String {
    let sql = sql.replace('\n', " ");
    let select_list = regex_free_select_list(&sql);
    if select_list.chars().count() > 140 {
        format!("{}…", select_list.chars().take(140).collect::<String>())
    } else {
        select_list
    }
}

/// `SELECT "tasks"."id", … FROM` → `SELECT … FROM`, for short listings.
fn regex_free_select_list(sql: &str) -> String {
    match (sql.strip_prefix("SELECT "), sql.find(" FROM ")) {
        (Some(_), Some(from)) => format!("SELECT …{}", &sql[from..]),
        _ => match sql.find(" RETURNING ") {
            Some(at) => format!("{} RETURNING …", &sql[..at]),
            None => sql.to_owned(),
        },
    }
}

// ---------------------------------------------------------------------------------------------
// Capturing the server's SQL from PostgreSQL's statement log

/// What a captured parameter stands for.
enum Role {
    /// A seeded task or its user: the harness passes a pool of them with -D.
    Pool(&'static str),
    /// A fresh id (`new_id`) or the current time (`now`) made per request.
    Fresh(&'static str),
    /// The random integer title, made by `\set title random(…)`.
    Title,
    /// A value fixed for the run, passed with -D.
    Constant(String),
}

enum Matcher {
    Text(String),
    Time(DateTime<Utc>),
}

struct Known(Vec<(Matcher, Role)>);

impl Known {
    fn role(&self, value: &str) -> Option<&Role> {
        let time = parse_pg_time(value);
        self.0
            .iter()
            .find(|(matcher, _)| match matcher {
                Matcher::Text(text) => text == value,
                Matcher::Time(at) => time == Some(*at),
            })
            .map(|(_, role)| role)
    }
}

fn parse_pg_time(value: &str) -> Option<DateTime<Utc>> {
    let value = value.replacen(' ', "T", 1);
    let value = if value.len() > 3 && value.as_bytes()[value.len() - 3] == b'+' {
        format!("{value}:00")
    } else {
        value
    };
    DateTime::parse_from_rfc3339(&value)
        .ok()
        .map(|time| time.with_timezone(&Utc))
}

fn pg_time(time: DateTime<Utc>) -> String {
    time.format("%Y-%m-%d %H:%M:%S%.6f+00").to_string()
}

struct Logged {
    pid: u32,
    sql: String,
    params: Vec<Option<String>>,
}

impl Bench {
    /// Runs each operation against a server whose statements PostgreSQL logs, and rewrites
    /// `benches/sql/*.sql` from what it sent; returns the files that changed.
    async fn capture_sql(&self) -> Result<Vec<String>> {
        let Database::Postgres { admin, bench, .. } = &self.database else {
            return Ok(Vec::new());
        };
        let prefix: String = sqlx::query_scalar("SHOW log_line_prefix")
            .fetch_one(admin)
            .await
            .context("SHOW log_line_prefix")?;
        if !prefix.contains("%p") {
            return Err(format!(
                "log_line_prefix {prefix:?} has no %p to tell the server's lines"
            ));
        }
        let log_path = self.postgres_log(admin).await?;
        fs::File::open(&log_path).context(format!("cannot read {}", log_path.display()))?;
        sqlx::query(&format!(
            "ALTER DATABASE {BENCH_DATABASE} SET log_statement = 'all'"
        ))
        .execute(admin)
        .await
        .context("ALTER DATABASE … SET log_statement")?;
        let captured = self.capture_with_log(bench, &log_path).await;
        sqlx::query(&format!(
            "ALTER DATABASE {BENCH_DATABASE} RESET log_statement"
        ))
        .execute(admin)
        .await
        .context("ALTER DATABASE … RESET log_statement")?;
        let mut changed = Vec::new();
        for (operation, text) in captured? {
            let path = operation.sql_file();
            if fs::read_to_string(&path).ok().as_deref() != Some(text.as_str()) {
                fs::create_dir_all(path.parent().unwrap()).ok();
                fs::write(&path, &text).context(format!("cannot write {}", path.display()))?;
                changed.push(format!("benches/sql/{}.sql", operation.name()));
            }
        }
        Ok(changed)
    }

    async fn postgres_log(&self, admin: &PgPool) -> Result<PathBuf> {
        if let Some(path) = &self.options.pg_log {
            return Ok(path.clone());
        }
        let current: Option<String> = sqlx::query_scalar("SELECT pg_current_logfile()")
            .fetch_one(admin)
            .await
            .unwrap_or(None);
        if let Some(current) = current {
            let data: String = sqlx::query_scalar("SHOW data_directory")
                .fetch_one(admin)
                .await
                .context("SHOW data_directory")?;
            return Ok(Path::new(&data).join(current));
        }
        // Debian's clusters write stderr to /var/log/postgresql/postgresql-<version>-<name>.log.
        let version: String = sqlx::query_scalar("SHOW server_version")
            .fetch_one(admin)
            .await
            .context("SHOW server_version")?;
        let major = version
            .split(['.', ' '])
            .next()
            .unwrap_or_default()
            .to_owned();
        let candidates: Vec<PathBuf> = fs::read_dir("/var/log/postgresql")
            .map(|entries| {
                entries
                    .flatten()
                    .map(|entry| entry.path())
                    .filter(|path| {
                        path.file_name()
                            .and_then(|n| n.to_str())
                            .is_some_and(|name| {
                                name.starts_with(&format!("postgresql-{major}-"))
                                    && name.ends_with(".log")
                            })
                    })
                    .collect()
            })
            .unwrap_or_default();
        match candidates.as_slice() {
            [only] => Ok(only.clone()),
            _ => Err("cannot tell which file PostgreSQL logs to: pass --pg-log PATH".to_owned()),
        }
    }

    async fn capture_with_log(
        &self,
        bench: &PgPool,
        log_path: &Path,
    ) -> Result<Vec<(Scenario, String)>> {
        // One pooled connection: every statement of a request goes through the same backend.
        let server = self.start_server(1, "capture", &[])?;
        let http = reqwest::Client::new();
        let base = format!("http://127.0.0.1:{}", server.port);
        let deep_path = walk_to_deep_page(&http, &base, self.deep_user).await?;
        // The walk's last task, the position its cursor continues from: the deep user's list runs
        // from its newest task (n = 99,999) down, so the 50,000th is n = 50,000.
        let after = {
            let n = DEEP_TASKS - DEEP_OFFSET;
            (deep_id(n), time_of(deep_time(n)))
        };
        let (user, task) = self.pool[0];
        let mut templates = Vec::new();
        for operation in Scenario::OPERATIONS {
            let mut chunks: Vec<Vec<Logged>> = Vec::new();
            let mut known = Known(Vec::new());
            for attempt in 0..=CAPTURE_REQUESTS {
                let offset = fs::metadata(log_path).map(|m| m.len()).unwrap_or(0);
                let title = format!("{}", 100_000_000 + attempt * 7_777_777 + templates.len());
                known = Known(vec![
                    (Matcher::Text(user.to_string()), Role::Pool("user_id")),
                    (Matcher::Text(task.to_string()), Role::Pool("task_id")),
                    (Matcher::Text(title.clone()), Role::Title),
                    (
                        Matcher::Text(DESCRIPTION.to_owned()),
                        Role::Constant("description".to_owned()),
                    ),
                    (
                        Matcher::Text("f".to_owned()),
                        Role::Constant("is_completed".to_owned()),
                    ),
                    (
                        Matcher::Text(self.deep_user.to_string()),
                        Role::Constant("deep_user_id".to_owned()),
                    ),
                    (
                        Matcher::Text(after.0.to_string()),
                        Role::Constant("after_id".to_owned()),
                    ),
                    (
                        Matcher::Time(after.1),
                        Role::Constant("after_created_at".to_owned()),
                    ),
                ]);
                let response = match operation {
                    Scenario::GetTask => http.get(format!("{base}/users/{user}/tasks/{task}")),
                    Scenario::CreateTask => http
                        .post(format!("{base}/users/{user}/tasks"))
                        .json(&serde_json::json!({ "title": title, "description": DESCRIPTION })),
                    Scenario::ListPage => http.get(format!("{base}/users/{user}/tasks")),
                    Scenario::ListDeep => http.get(format!("{base}{deep_path}")),
                    Scenario::PatchTask => http
                        .patch(format!("{base}/users/{user}/tasks/{task}"))
                        .header("content-type", "application/merge-patch+json")
                        .body(serde_json::json!({ "title": title }).to_string()),
                    Scenario::GetTaskAuth | Scenario::Mixed => unreachable!("not an operation"),
                }
                .send()
                .await
                .context(operation.name())?;
                let status = response.status();
                let body: Value = response.json().await.context(operation.name())?;
                if !status.is_success() {
                    return Err(format!("{} answered {status}: {body}", operation.name()));
                }
                if operation == Scenario::CreateTask {
                    known.0.push((
                        Matcher::Text(body["id"].as_str().unwrap_or_default().to_owned()),
                        Role::Fresh("new_id"),
                    ));
                }
                if matches!(operation, Scenario::CreateTask | Scenario::PatchTask) {
                    known.0.push((
                        Matcher::Time(parse_api_time(&body["updated_at"])?),
                        Role::Fresh("now"),
                    ));
                }
                // PostgreSQL writes a statement's line before running it: it is there by now.
                let pids = server_pids(bench).await?;
                let statements = read_log(log_path, offset, &pids)?;
                if attempt > 0 {
                    chunks.push(statements);
                }
            }
            let last = chunks.last().ok_or("nothing captured")?;
            if last.is_empty() {
                return Err(format!(
                    "no statement of {} in the log: is log_statement honoured?",
                    operation.name()
                ));
            }
            for chunk in &chunks {
                let same = chunk.len() == last.len()
                    && chunk.iter().zip(last.iter()).all(|(a, b)| a.sql == b.sql);
                if !same {
                    return Err(format!(
                        "{} sent different SQL on different requests: {:?} vs {:?}",
                        operation.name(),
                        chunk.iter().map(|s| &s.sql).collect::<Vec<_>>(),
                        last.iter().map(|s| &s.sql).collect::<Vec<_>>()
                    ));
                }
            }
            templates.push((operation, Template::render(operation, last, &known)?));
        }
        drop(server);
        Ok(templates)
    }
}

/// The backends of the server: every session on the benchmark database but the harness's own.
async fn server_pids(bench: &PgPool) -> Result<HashSet<u32>> {
    let pids: Vec<i32> = sqlx::query_scalar(
        "SELECT pid FROM pg_stat_activity WHERE datname = current_database() \
         AND application_name <> $1 AND backend_type = 'client backend'",
    )
    .bind(HARNESS_APPLICATION)
    .fetch_all(bench)
    .await
    .context("pg_stat_activity")?;
    Ok(pids.into_iter().map(|pid| pid as u32).collect())
}

/// The statements that the given backends logged after `offset`, with their parameters.
fn read_log(path: &Path, offset: u64, pids: &HashSet<u32>) -> Result<Vec<Logged>> {
    let mut file = fs::File::open(path).context("open the PostgreSQL log")?;
    file.seek(SeekFrom::Start(offset)).context("seek the log")?;
    let mut bytes = Vec::new();
    file.read_to_end(&mut bytes).context("read the log")?;
    let text = String::from_utf8_lossy(&bytes);
    const LEVELS: [&str; 10] = [
        "LOG:  ",
        "DETAIL:  ",
        "ERROR:  ",
        "STATEMENT:  ",
        "WARNING:  ",
        "HINT:  ",
        "CONTEXT:  ",
        "FATAL:  ",
        "NOTICE:  ",
        "PANIC:  ",
    ];
    let mut statements: Vec<Logged> = Vec::new();
    // The kind of the record a continuation line belongs to, when it is a statement of ours.
    let mut continuing = false;
    for line in text.lines() {
        if let Some(rest) = line.strip_prefix('\t') {
            if continuing {
                let last = statements.last_mut().unwrap();
                last.sql.push('\n');
                last.sql.push_str(rest);
            }
            continue;
        }
        continuing = false;
        let Some((at, level)) = LEVELS
            .iter()
            .filter_map(|level| line.find(level).map(|at| (at, *level)))
            .min_by_key(|(at, _)| *at)
        else {
            continue;
        };
        let Some(pid) = pids
            .iter()
            .copied()
            .find(|pid| line[..at].contains(&format!("[{pid}]")))
        else {
            continue;
        };
        let message = &line[at + level.len()..];
        match level {
            "LOG:  " => {
                let sql = if let Some(sql) = message.strip_prefix("statement: ") {
                    sql
                } else if let Some(rest) = message.strip_prefix("execute ") {
                    match rest.split_once(": ") {
                        Some((_, sql)) => sql,
                        None => continue,
                    }
                } else {
                    continue;
                };
                statements.push(Logged {
                    pid,
                    sql: sql.to_owned(),
                    params: Vec::new(),
                });
                continuing = true;
            }
            "DETAIL:  " => {
                if let Some(params) = message.strip_prefix("parameters: ") {
                    if let Some(last) = statements.iter_mut().rev().find(|s| s.pid == pid) {
                        last.params = parse_parameters(params)?;
                    }
                }
            }
            "ERROR:  " => return Err(format!("the server's statement failed: {message}")),
            _ => {}
        }
    }
    Ok(statements)
}

/// `$1 = 'a', $2 = NULL, $3 = 'it''s'` → [Some("a"), None, Some("it's")].
fn parse_parameters(text: &str) -> Result<Vec<Option<String>>> {
    let mut params = Vec::new();
    let mut rest = text;
    while !rest.is_empty() {
        let (_, value) = rest
            .split_once(" = ")
            .ok_or(format!("unreadable parameters: {text}"))?;
        if let Some(after) = value.strip_prefix("NULL") {
            params.push(None);
            rest = after;
        } else if let Some(quoted) = value.strip_prefix('\'') {
            let mut out = String::new();
            let mut chars = quoted.char_indices().peekable();
            let mut end = None;
            while let Some((i, c)) = chars.next() {
                if c == '\'' {
                    if chars.peek().map(|(_, c)| *c) == Some('\'') {
                        chars.next();
                        out.push('\'');
                    } else {
                        end = Some(i + 1);
                        break;
                    }
                } else {
                    out.push(c);
                }
            }
            params.push(Some(out));
            rest = &quoted[end.ok_or(format!("unterminated parameter in {text}"))?..];
        } else {
            return Err(format!("unreadable parameters: {text}"));
        }
        rest = rest.strip_prefix(", ").unwrap_or(rest);
    }
    Ok(params)
}

// ---------------------------------------------------------------------------------------------
// pgbench scripts

/// One operation's SQL as a pgbench script: `benches/sql/<operation>.sql`.
struct Template {
    operation: Scenario,
    /// `-D name=value` constants.
    defines: Vec<(String, String)>,
    /// Meta-commands (`\set …`) and SQL commands (without the final `;`), in order.
    commands: Vec<String>,
    /// The SQL commands alone.
    sql: Vec<String>,
}

impl Template {
    /// The pgbench script of one request: each logged `$n` becomes a named variable.
    fn render(operation: Scenario, statements: &[Logged], known: &Known) -> Result<String> {
        let mut defines: Vec<(String, String)> = Vec::new();
        let mut body = String::new();
        for statement in statements {
            let mut sets = BTreeSet::new();
            let mut names = Vec::new();
            for (i, value) in statement.params.iter().enumerate() {
                let n = i + 1;
                let value = value.as_deref().ok_or(format!(
                    "{}: parameter ${n} is NULL, which pgbench cannot pass",
                    operation.name()
                ))?;
                let name = match known.role(value) {
                    Some(Role::Pool(name) | Role::Fresh(name)) => name.to_string(),
                    Some(Role::Title) => {
                        sets.insert("\\set title random(1, 1000000000)".to_owned());
                        "title".to_owned()
                    }
                    Some(Role::Constant(name)) => {
                        if !defines.iter().any(|(d, _)| d == name) {
                            defines.push((name.clone(), value.to_owned()));
                        }
                        name.clone()
                    }
                    None if is_limit(&statement.sql, n) && value.parse::<u64>().is_ok() => {
                        sets.insert(format!("\\set limit {value}"));
                        "limit".to_owned()
                    }
                    None => {
                        let name = format!("{}_p{n}", operation.name());
                        defines.push((name.clone(), value.to_owned()));
                        name
                    }
                };
                names.push(name);
            }
            for set in sets {
                writeln!(body, "{set}").unwrap();
            }
            writeln!(body, "{};", substitute_parameters(&statement.sql, &names)?).unwrap();
        }
        let mut text = format!(
            "-- {name}: {request}\n\
             -- The SQL the server sent PostgreSQL for one such request ({count} statement(s)),\n\
             -- captured from PostgreSQL's statement log by `cargo bench --bench load`, which\n\
             -- rewrites this file when the server's SQL changes. Each $n parameter is a variable:\n\
             -- :user_id, :task_id a seeded task (the benchmark's scripts pick one from bench_pool);\n\
             -- :new_id, :now a new time-ordered id and the current time (fetched with \\gset);\n\
             -- :title a random integer; the others are constants, defined below for -D.\n",
            name = operation.name(),
            request = operation.request(),
            count = statements.len(),
        );
        for (name, value) in &defines {
            writeln!(text, "--@define {name}={value}").unwrap();
        }
        text.push_str(&body);
        Ok(text)
    }

    fn read(operation: Scenario) -> Result<Self> {
        let path = operation.sql_file();
        let text = fs::read_to_string(&path).context(format!("cannot read {}", path.display()))?;
        let mut template = Template {
            operation,
            defines: Vec::new(),
            commands: Vec::new(),
            sql: Vec::new(),
        };
        let mut pending = String::new();
        for line in text.lines() {
            if let Some(define) = line.strip_prefix("--@define ") {
                let (name, value) = define
                    .split_once('=')
                    .ok_or(format!("{}: bad --@define line", path.display()))?;
                template.defines.push((name.to_owned(), value.to_owned()));
            } else if line.starts_with("--") || (line.trim().is_empty() && pending.is_empty()) {
                continue;
            } else if line.starts_with('\\') {
                template.commands.push(line.to_owned());
            } else {
                if !pending.is_empty() {
                    pending.push('\n');
                }
                pending.push_str(line);
                if let Some(sql) = pending.trim_end().strip_suffix(';') {
                    template.commands.push(sql.to_owned());
                    template.sql.push(sql.to_owned());
                    pending.clear();
                }
            }
        }
        if template.sql.is_empty() {
            return Err(format!("{}: no SQL", path.display()));
        }
        Ok(template)
    }

    fn uses(&self, variable: &str) -> bool {
        self.commands
            .iter()
            .any(|command| variables(command).iter().any(|v| v == variable))
    }

    /// The commands of one request; `slot` names its fresh values in a batch.
    fn expand(&self, slot: Option<usize>) -> String {
        let mut out = String::new();
        for command in &self.commands {
            let renamed = rename_variables(command, |name| match (name, slot) {
                ("new_id", Some(slot)) => format!("new_id_{slot}"),
                ("now", Some(slot)) => format!("now_{slot}"),
                _ => name.to_owned(),
            });
            if command.starts_with('\\') {
                writeln!(out, "{renamed}").unwrap();
            } else {
                writeln!(out, "{renamed};").unwrap();
            }
        }
        out
    }
}

fn is_limit(sql: &str, n: usize) -> bool {
    let needle = format!("LIMIT ${n}");
    sql.match_indices(&needle).any(|(at, _)| {
        !sql[at + needle.len()..]
            .chars()
            .next()
            .is_some_and(|c| c.is_ascii_digit())
    })
}

/// Replaces `$1`, `$2`, … by `:name`.
fn substitute_parameters(sql: &str, names: &[String]) -> Result<String> {
    let mut out = String::new();
    let mut chars = sql.chars().peekable();
    while let Some(c) = chars.next() {
        if c == '$' && chars.peek().is_some_and(|c| c.is_ascii_digit()) {
            let mut digits = String::new();
            while let Some(d) = chars.peek().filter(|c| c.is_ascii_digit()) {
                digits.push(*d);
                chars.next();
            }
            let n: usize = digits.parse().unwrap();
            let name = names
                .get(n - 1)
                .ok_or(format!("${n} has no logged value in {sql}"))?;
            write!(out, ":{name}").unwrap();
        } else {
            if c == ':' && chars.peek().is_some_and(|c| c.is_ascii_alphabetic()) {
                return Err(format!(
                    "the SQL has a ':' pgbench would read as a variable: {sql}"
                ));
            }
            out.push(c);
        }
    }
    Ok(out)
}

fn variables(command: &str) -> Vec<String> {
    let mut found = Vec::new();
    rename_variables(command, |name| {
        found.push(name.to_owned());
        name.to_owned()
    });
    found
}

/// Rewrites every `:name` (not `::`) with `rename`.
fn rename_variables(command: &str, mut rename: impl FnMut(&str) -> String) -> String {
    let mut out = String::new();
    let bytes = command.as_bytes();
    let mut i = 0;
    while i < bytes.len() {
        if bytes[i] == b':' && i + 1 < bytes.len() && bytes[i + 1] == b':' {
            out.push_str("::");
            i += 2;
        } else if bytes[i] == b':'
            && i + 1 < bytes.len()
            && (bytes[i + 1].is_ascii_alphabetic() || bytes[i + 1] == b'_')
        {
            let start = i + 1;
            let mut end = start;
            while end < bytes.len() && (bytes[end].is_ascii_alphanumeric() || bytes[end] == b'_') {
                end += 1;
            }
            out.push(':');
            out.push_str(&rename(&command[start..end]));
            i = end;
        } else {
            let c = command[i..].chars().next().unwrap();
            out.push(c);
            i += c.len_utf8();
        }
    }
    out
}

/// The SELECT that makes `count` fresh ids (UUIDv7 layout, like the server's) and times.
fn fresh_values(count: usize) -> String {
    let columns: Vec<String> = (0..count)
        .map(|slot| {
            format!(
                "(lpad(to_hex(floor(extract(epoch FROM clock_timestamp()) * 1000)::bigint), 12, '0') \
                 || '7' || substr(md5(random()::text), 1, 3) || '8' || substr(md5(random()::text), 1, 15))::uuid \
                 AS new_id_{slot}, clock_timestamp() AS now_{slot}"
            )
        })
        .collect();
    format!("SELECT {} \\gset\n", columns.join(", "))
}

/// Picks `:user_id` and `:task_id` at random from `bench_pool` once every 100 executions of a
/// script (a client keeps its task in between): pgbench cannot make a uuid, and one script with
/// one prepared statement per query keeps pgbench as fast as it can be, as the server's cached
/// statements are (a hundred scripts, one per seeded task, cost pgbench 10–30 %).
const POOL_PICK: &str = "\\set bench_tx :bench_tx + 1
\\if :bench_tx % 100 = 1
\\set bench_k random(0, 99)
SELECT user_id, task_id FROM bench_pool WHERE k = :bench_k \\gset
\\endif
";

impl Bench {
    /// The table `POOL_PICK` reads: the tasks wrk picks from too.
    async fn create_pool_table(&self) -> Result<()> {
        let Database::Postgres { bench, .. } = &self.database else {
            return Ok(());
        };
        sqlx::raw_sql(
            "CREATE TABLE bench_pool (k int PRIMARY KEY, user_id uuid NOT NULL, task_id uuid NOT NULL)",
        )
        .execute(bench)
        .await
        .context("CREATE TABLE bench_pool")?;
        let mut insert = sqlx::QueryBuilder::new("INSERT INTO bench_pool (k, user_id, task_id) ");
        insert.push_values(
            self.pool.iter().enumerate(),
            |mut row, (k, (user, task))| {
                row.push_bind(k as i32).push_bind(*user).push_bind(*task);
            },
        );
        insert
            .build()
            .execute(bench)
            .await
            .context("fill bench_pool")?;
        sqlx::raw_sql("ANALYZE bench_pool")
            .execute(bench)
            .await
            .context("ANALYZE bench_pool")?;
        Ok(())
    }

    /// pgbench at `connections` clients with the server's SQL for `scenario`: requests per second.
    fn pgbench(&self, scenario: Scenario, connections: u32, templates: &[Template]) -> Result<f64> {
        let Database::Postgres { bench_url, .. } = &self.database else {
            return Err("PostgreSQL only".to_owned());
        };
        let template = |op: Scenario| templates.iter().find(|t| t.operation == op).unwrap();
        // One script per operation: (script, requests per execution).
        let script = |op: Scenario| -> (String, usize) {
            let t = template(op);
            let mut script = String::new();
            if t.uses("user_id") || t.uses("task_id") {
                script.push_str(POOL_PICK);
            }
            if t.uses("new_id") {
                // A batch of fresh ids per SELECT … \gset, one INSERT command per id.
                script.push_str(&fresh_values(CREATE_BATCH));
                for slot in 0..CREATE_BATCH {
                    script.push_str(&t.expand(Some(slot)));
                }
                (script, CREATE_BATCH)
            } else {
                script.push_str(&t.expand(None));
                (script, 1)
            }
        };
        // (script, weight, requests per execution)
        let scripts: Vec<(String, u32, usize)> = match scenario {
            Scenario::Mixed => Scenario::MIX
                .iter()
                .map(|(op, share)| {
                    let (text, requests) = script(*op);
                    // Weights in proportion to requests: share × batch ÷ requests per execution.
                    let weight = share * CREATE_BATCH as u32 / requests as u32;
                    (text, weight, requests)
                })
                .collect(),
            op => {
                let (text, requests) = script(op.sql_operation());
                vec![(text, 1, requests)]
            }
        };
        let mut command = Command::new("pgbench");
        command
            .args(["-M", "prepared", "-n", "-j", "2"])
            .arg("-c")
            .arg(connections.to_string())
            .arg("-T")
            .arg(self.options.seconds.to_string())
            .arg("-Dbench_tx=0")
            .arg(format!("-Dnow={}", pg_time(Utc::now())));
        for template in templates {
            for (name, value) in &template.defines {
                command.arg(format!("-D{name}={value}"));
            }
        }
        let dir = self.dir.join(format!("pgbench-{}", scenario.name()));
        fs::create_dir_all(&dir).context("pgbench directory")?;
        for (i, (script, weight, _)) in scripts.iter().enumerate() {
            let path = dir.join(format!("{i}.sql"));
            fs::write(&path, script).context("write a pgbench script")?;
            command
                .arg("-f")
                .arg(format!("{}@{weight}", path.display()));
        }
        command.arg(bench_url);
        let output = command.output().context("cannot run pgbench")?;
        let text = String::from_utf8_lossy(&output.stdout);
        let errors = String::from_utf8_lossy(&output.stderr);
        let tps = text
            .lines()
            .find_map(|line| line.strip_prefix("tps = "))
            .and_then(|rest| rest.split_whitespace().next())
            .and_then(|tps| tps.parse::<f64>().ok());
        match tps {
            Some(tps) if output.status.success() => {
                let weights: u32 = scripts.iter().map(|(_, w, _)| w).sum();
                let per_execution = scripts
                    .iter()
                    .map(|(_, w, r)| (*w as usize * r) as f64)
                    .sum::<f64>()
                    / weights as f64;
                Ok(tps * per_execution)
            }
            _ => Err(format!(
                "pgbench failed ({}): {}",
                output.status,
                errors.lines().rev().take(5).collect::<Vec<_>>().join(" | ")
            )),
        }
    }
}
