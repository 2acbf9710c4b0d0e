//! The run: the scratch database, the seed, the servers, every cell, and the report at the end.

use std::fmt::Write as _;
use std::fs;
use std::path::{Path, PathBuf};
use std::process::{Command, Stdio};
use std::time::{Duration, Instant};

use sea_orm::sqlx::{
    self,
    postgres::PgPool,
    sqlite::{SqliteConnectOptions, SqliteJournalMode, SqlitePool, SqlitePoolOptions},
    Row,
};
use serde_json::Value;
use uuid::Uuid;

use anyhow::{anyhow, Context, Result};

use crate::*;

/// One round's rates (requests per second) of two runs taken in turns.
#[derive(Debug, Clone, Copy)]
pub(crate) struct Rates {
    pub(crate) before: f64,
    pub(crate) after: f64,
}

/// The median of the rounds' after ÷ before, the median rates and each round's ratio.
pub(crate) fn describe_rounds(rounds: &[Rates]) -> String {
    let median = |mut values: Vec<f64>| {
        values.sort_by(f64::total_cmp);
        values[values.len() / 2]
    };
    let ratios: Vec<f64> = rounds.iter().map(|r| r.after / r.before).collect();
    format!(
        "median {:.3} (rounds {}), median rates {:.0} → {:.0} req/s",
        median(ratios.clone()),
        ratios
            .iter()
            .map(|ratio| format!("{ratio:.3}"))
            .collect::<Vec<_>>()
            .join(", "),
        median(rounds.iter().map(|r| r.before).collect()),
        median(rounds.iter().map(|r| r.after).collect()),
    )
}

pub(crate) struct Bench {
    pub(crate) options: Options,
    pub(crate) dir: PathBuf,
    /// This build's server: it migrates the scratch database.
    pub(crate) built_binary: PathBuf,
    /// The server measured: this build's, or the one given with `--server`.
    pub(crate) server_binary: PathBuf,
    /// `--baseline-server`, copied.
    pub(crate) baseline_binary: Option<PathBuf>,
    pub(crate) database: Database,
    pub(crate) server_url: String,
    pub(crate) pool: Vec<(Uuid, Uuid)>,
    pub(crate) deep_user: Uuid,
    pub(crate) clock_ticks: f64,
}

pub(crate) enum Database {
    Postgres {
        admin: PgPool,
        bench: PgPool,
        bench_url: String,
    },
    Sqlite {
        pool: SqlitePool,
    },
}

pub(crate) async fn run(options: Options) -> Result<()> {
    let dir = std::env::temp_dir().join(format!("taskapi-bench-{}", std::process::id()));
    fs::create_dir_all(&dir).context("cannot create the temporary directory")?;
    let outcome = run_in(options, &dir).await;
    fs::remove_dir_all(&dir).ok();
    outcome
}

pub(crate) async fn run_in(options: Options, dir: &Path) -> Result<()> {
    ensure_wrk()?;
    if let Some(peers) = &options.compare_peers {
        check_peers(peers)?;
    }
    let built_binary = prepare_server_binary(dir)?;
    // Copies of the other builds, so that a rebuild cannot change them mid-run either.
    let copy_of = |given: &Option<PathBuf>, name: &str| -> Result<Option<PathBuf>> {
        let Some(given) = given else {
            return Ok(None);
        };
        let copy = dir.join(name);
        fs::copy(given, &copy).context(format!("cannot copy the server {}", given.display()))?;
        Ok(Some(copy))
    };
    let server_binary =
        copy_of(&options.server, "task-api-measured")?.unwrap_or_else(|| built_binary.clone());
    let baseline_binary = copy_of(&options.baseline_server, "task-api-baseline")?;
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
        built_binary,
        server_binary,
        baseline_binary,
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
            eprintln!("kept the database {} (--keep-database)", bench_database());
            admin.close().await;
            return outcome;
        }
        let dropped = sqlx::query(&format!(
            "DROP DATABASE IF EXISTS {} WITH (FORCE)",
            bench_database()
        ))
        .execute(admin)
        .await;
        if let Err(err) = dropped {
            eprintln!("could not drop the database {}: {err}", bench_database());
        }
        admin.close().await;
    }
    outcome
}

impl Bench {
    pub(crate) fn is_postgres(&self) -> bool {
        matches!(self.database, Database::Postgres { .. })
    }

    pub(crate) async fn measure(&mut self) -> Result<()> {
        let started = Instant::now();
        self.migrate()?;
        if let Some(peers) = &self.options.compare_peers {
            return self.compare_peers(peers);
        }
        let seeded = Instant::now();
        self.seed().await?;
        eprintln!(
            "seeded {} users and {} tasks in {:.1} s",
            USERS + 1,
            USERS * TASKS_PER_USER + DEEP_TASKS,
            seeded.elapsed().as_secs_f64()
        );

        let templates =
            if self.options.server.is_none() && self.is_postgres() && pgbench_available() {
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
                return Err(anyhow!(
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
                return Err(anyhow!(
                    "the authenticated server answers {statuses:?} with and without a token"
                ));
            }
        }
        let deep_path = walk_to_deep_page(&http, &base, self.deep_user).await?;
        let pool_file = self.dir.join("pool.txt");
        let mut lines = String::new();
        // One line per pool user: the user, the task, the token and batch_patch's tasks.
        for ((user, task), batch) in self.pool.iter().zip(batch_tasks()) {
            let batch: Vec<String> = batch.iter().map(Uuid::to_string).collect();
            writeln!(
                lines,
                "{user} {task} {} {}",
                identity.token_for(*user),
                batch.join(" ")
            )
            .unwrap();
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
            for connections in scenario.connection_counts(&self.options.connections) {
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
                let cpu_seconds = (cpu_ticks(server.pid())? - cpu_before) as f64 / self.clock_ticks;
                let cpu = cpu_seconds / wall.elapsed().as_secs_f64() * 100.0;
                let rss = peak_rss_kib(server.pid())? as f64 / 1024.0;
                let pgbench = match &templates {
                    Some(templates) if scenario.sql_operation().is_some() => {
                        self.checkpoint().await;
                        Some(self.pgbench(scenario, connections, templates))
                    }
                    _ => None,
                };
                let row = Cell {
                    scenario,
                    connections,
                    load,
                    cpu,
                    cpu_seconds,
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
        let against_baseline = match &self.baseline_binary {
            // The earlier build serves the same (already migrated) database.
            Some(binary) => {
                let baseline = self.start_server_of(binary, self.options.pool, "baseline", &[])?;
                let compare = |scenarios: &[Scenario]| {
                    scenarios
                        .iter()
                        .map(|&scenario| {
                            let rounds = self.in_turns(
                                (scenario, baseline.port),
                                (scenario, server.port),
                                &pool_file,
                            )?;
                            Ok((scenario, rounds))
                        })
                        .collect::<Result<Vec<_>>>()
                };
                let compared = compare(&Scenario::COMPARED)?;
                let with_streams = if self.options.streams_open {
                    let users = self.pool.iter().map(|(user, _)| *user).collect();
                    let streams = OpenStreams::open(server.port, users)?;
                    let compared = compare(&[Scenario::CreateTask, Scenario::PatchTask])?;
                    Some((streams.streams, streams.heard(), compared))
                } else {
                    None
                };
                Some((compared, with_streams))
            }
            None => None,
        };
        let fan_out = match self.options.fan_out {
            Some(streams) => Some(self.fan_out(streams).await?),
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
        let batches = describe_batches(&rows);
        if !batches.is_empty() {
            println!();
            println!(
                "a batch of {BATCH_OPERATIONS} ÷ {BATCH_OPERATIONS} single requests, same run \
                 (per operation: the server's CPU time, and the rate):"
            );
            for line in batches {
                println!("  {line}");
            }
        }
        if let Some(rounds) = &authentication {
            println!(
                "authentication: get_task_auth ÷ get_task at c16, {} rounds of each taken in turns: \
                 {}",
                rounds.len(),
                describe_rounds(rounds)
            );
        }
        if let (Some((compared, streams)), Some(binary)) =
            (&against_baseline, &self.options.baseline_server)
        {
            println!();
            println!(
                "{} ÷ the baseline ({}) on the same database, c16, rounds of each taken in turns:",
                match &self.options.server {
                    Some(given) => format!("the server {}", given.display()),
                    None => "this build".to_owned(),
                },
                binary.display()
            );
            for (scenario, rounds) in compared {
                println!("  {:<12} {}", scenario.name(), describe_rounds(rounds));
            }
            if let Some((open, heard, compared)) = streams {
                println!(
                    "  then with {open} event streams open on this build, one per user of the \
                     load (they heard {heard} events meanwhile):"
                );
                for (scenario, rounds) in compared {
                    println!("  {:<12} {}", scenario.name(), describe_rounds(rounds));
                }
            }
        }
        if let Some(fan_out) = &fan_out {
            println!();
            println!("fan-out: {}", fan_out.describe());
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
             RUN_MIGRATIONS={}): median {:.0} ms of {} ({})",
            self.options.server.is_none(),
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
            println!("SQL per request (the store's statements, benches/sql/*.sql):");
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
        eprintln!("total {:.0} s", started.elapsed().as_secs_f64());
        Ok(())
    }

    /// Other users' `get_task` alone, then while one user's searches run (16 connections of a
    /// two-letter search, which no index can narrow, over the deep user's tasks); returns
    /// (alone, during, the searches).
    pub(crate) fn search_isolation(
        &self,
        port: u16,
        pool_file: &Path,
    ) -> Result<(Load, Load, Load)> {
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

    /// `get_task` with a token ÷ without at 16 connections.
    pub(crate) fn authentication_cost(
        &self,
        port: u16,
        auth_port: u16,
        pool_file: &Path,
    ) -> Result<Vec<Rates>> {
        self.in_turns(
            (Scenario::GetTask, port),
            (Scenario::GetTaskAuth, auth_port),
            pool_file,
        )
    }

    /// `before` and `after` (a scenario on a server's port each) at 16 connections: rounds of
    /// half a cell each taken in turns, so that the machine's drift weighs on both alike.
    pub(crate) fn in_turns(
        &self,
        before: (Scenario, u16),
        after: (Scenario, u16),
        pool_file: &Path,
    ) -> Result<Vec<Rates>> {
        const ROUNDS: usize = 5;
        let round = |(scenario, port)| Wrk {
            scenario,
            connections: 16,
            seconds: (self.options.seconds / 2).max(1),
            port,
            pool_file,
            deep_path: "",
        };
        let mut rounds = Vec::with_capacity(ROUNDS);
        for _ in 0..ROUNDS {
            let before = round(before).run()?.rps;
            let after = round(after).run()?.rps;
            rounds.push(Rates { before, after });
        }
        Ok(rounds)
    }

    pub(crate) fn describe(&self) -> String {
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
        let measured = match &self.options.server {
            Some(given) => format!("server {}", given.display()),
            None if dirty => format!("commit {commit} + uncommitted changes in src/ or migration/"),
            None => format!("commit {commit}"),
        };
        format!(
            "{database}, {measured}, {} cores",
            std::thread::available_parallelism().map_or(0, |n| n.get())
        )
    }

    pub(crate) fn server_command(&self, database_url: &str, port: u16) -> Command {
        self.server_command_of(&self.server_binary, database_url, port)
    }

    /// `binary` as the benchmark runs a server: its environment only.
    pub(crate) fn server_command_of(
        &self,
        binary: &Path,
        database_url: &str,
        port: u16,
    ) -> Command {
        let mut command = Command::new(binary);
        command
            .current_dir(&self.dir) // no .env of the working tree
            .env_clear()
            .env("PATH", std::env::var("PATH").unwrap_or_default())
            .env("DATABASE_URL", database_url)
            .env("HOST", "127.0.0.1")
            .env("PORT", port.to_string())
            .env("LOG", "warn")
            .env("CURSOR_SECRET", CURSOR_SECRET)
            .envs(unbound_limits());
        if binary != self.built_binary {
            // Another commit's server (`--server`, `--baseline-server`) serves the schema this
            // build migrated.
            command.env("RUN_MIGRATIONS", "false");
        }
        command
    }

    pub(crate) fn migrate(&self) -> Result<()> {
        let output = self
            .server_command_of(&self.built_binary, &self.server_url, 0)
            .args(["migrate", "up"])
            .output()
            .context("cannot run task-api migrate up")?;
        if !output.status.success() {
            return Err(anyhow!(
                "task-api migrate up failed: {}",
                String::from_utf8_lossy(&output.stderr)
            ));
        }
        Ok(())
    }

    pub(crate) fn start_server(
        &self,
        max_connections: u32,
        name: &str,
        env: &[(&str, String)],
    ) -> Result<Server> {
        self.start_server_of(&self.server_binary, max_connections, name, env)
    }

    /// Starts `binary` (this build's server, or the baseline's) on the benchmark's database.
    pub(crate) fn start_server_of(
        &self,
        binary: &Path,
        max_connections: u32,
        name: &str,
        env: &[(&str, String)],
    ) -> Result<Server> {
        let port = free_port()?;
        let log = self.dir.join(format!("server-{name}.log"));
        let log_file = fs::File::create(&log).context("cannot create the server log")?;
        let child = self
            .server_command_of(binary, &self.server_url, port)
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
                return Err(anyhow!(
                    "the server exited ({status}): {}",
                    fs::read_to_string(&server.log).unwrap_or_default()
                ));
            }
            if Instant::now() > deadline {
                return Err(anyhow!("the server was not ready within 60 s"));
            }
            std::thread::sleep(Duration::from_millis(20));
        }
    }

    /// Spawn → first 200 on /health, five times, in milliseconds.
    pub(crate) fn startup_times(&self) -> Result<Vec<f64>> {
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
                    return Err(anyhow!("the server exited ({status}) while starting"));
                }
                if started.elapsed() > Duration::from_secs(60) {
                    return Err(anyhow!("the server did not answer /health within 60 s"));
                }
                std::thread::sleep(Duration::from_millis(1));
            }
        }
        Ok(times)
    }

    pub(crate) async fn checkpoint(&self) {
        if let Database::Postgres { admin, .. } = &self.database {
            sqlx::query("CHECKPOINT").execute(admin).await.ok();
        }
    }

    /// Creates a task through the API and checks that the seed writes times as the server does.
    pub(crate) async fn check_sqlite_format(
        &self,
        http: &reqwest::Client,
        base: &str,
    ) -> Result<()> {
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
            return Err(anyhow!(
                "the server stores {stored:?} ({id_type} ids) where the seed writes {:?} (blob \
                 ids): fix sqlite_time in benches/load.rs",
                sqlite_time(created_at)
            ));
        }
        Ok(())
    }
}

/// The per-user limits as the benchmark's servers run them: checked on every write, but none
/// binds (the benchmark's few users write far more than any person would; a write refused with
/// 429 or 409 would be a cheap answer counted as a served request).
pub(crate) fn unbound_limits() -> [(&'static str, String); 2] {
    [
        ("USER_WRITES_PER_MINUTE", u32::MAX.to_string()),
        ("USER_MAX_TASKS", i64::MAX.to_string()),
    ]
}
