//! The command line (clap) and the scenarios it names.

use std::path::{Path, PathBuf};

use anyhow::{anyhow, Result};

use crate::*;

/// Task API load benchmark: the release server, driven by wrk, against pgbench running the same
/// SQL on the same database.
#[derive(clap::Parser)]
#[command(name = "cargo bench --bench load --")]
pub(crate) struct Cli {
    /// The PostgreSQL cluster to make the scratch database in (a superuser's URL).
    #[arg(long, default_value = DEFAULT_DATABASE_URL, conflicts_with = "sqlite")]
    pub(crate) database_url: String,
    /// A temporary SQLite file instead of PostgreSQL.
    #[arg(long)]
    pub(crate) sqlite: bool,
    /// Seconds per cell [default: 20, or 2 with --smoke].
    #[arg(long, value_parser = clap::value_parser!(u64).range(1..))]
    pub(crate) seconds: Option<u64>,
    /// 2 s per cell and no warm-up, as CI runs it.
    #[arg(long)]
    pub(crate) smoke: bool,
    /// The concurrencies, comma-separated (each at least 2).
    #[arg(long, value_delimiter = ',', default_values_t = [16, 64],
          value_parser = clap::value_parser!(u32).range(2..))]
    pub(crate) connections: Vec<u32>,
    /// The scenarios, comma-separated [default: all].
    #[arg(long, value_delimiter = ',', value_parser = Scenario::parse)]
    pub(crate) scenarios: Option<Vec<Scenario>>,
    /// The server's DATABASE_MAX_CONNECTIONS.
    #[arg(long, default_value_t = DEFAULT_POOL, value_parser = clap::value_parser!(u32).range(1..))]
    pub(crate) pool: u32,
    /// Keep the scratch database afterwards.
    #[arg(long)]
    pub(crate) keep_database: bool,
    /// An earlier release build of the server (e.g. of the commit before a change): the write
    /// scenarios and get_task run on it and on this build in turns, reported as this ÷ that.
    #[arg(long)]
    pub(crate) baseline_server: Option<PathBuf>,
    /// A release build to measure instead of the one `cargo bench` built (e.g. a later commit's,
    /// against `--baseline-server` an earlier one's). It serves the schema this build migrated
    /// (`RUN_MIGRATIONS=false`), as a baseline does; the pgbench column, which runs this
    /// checkout's statements, is left out.
    #[arg(long, value_name = "BIN", conflicts_with = "compare_peers")]
    pub(crate) server: Option<PathBuf>,
    /// With --baseline-server: then create_task and patch_task are compared again with one event
    /// stream open on this build's server per seeded user of the load, read all along, so that
    /// its writes' notifications are also heard and sent on to streams (the baseline has none).
    #[arg(long, requires = "baseline_server")]
    pub(crate) streams_open: bool,
    /// Opens this many event streams of one user on a server of their own: its resident memory
    /// before and after, and the time for one change to reach every stream.
    #[arg(long, value_parser = clap::value_parser!(u32).range(1..))]
    pub(crate) fan_out: Option<u32>,
    /// Instead of the scenarios: this server beside the reference servers in DIR (the peers'
    /// folder: `axum-sqlx/`, `hyper-pg/`, `bench/compare.sh`), each built and run by their
    /// harness on the scratch database, TLS off, in turns forward and back.
    #[arg(long, value_name = "DIR", conflicts_with_all = ["sqlite", "baseline_server", "fan_out"])]
    pub(crate) compare_peers: Option<PathBuf>,
    /// With --compare-peers: the database this many milliseconds away each way (the peers'
    /// latency proxy), as Neon is from an app server.
    #[arg(long, requires = "compare_peers", value_parser = clap::value_parser!(u64).range(1..))]
    pub(crate) far_database_ms: Option<u64>,
    /// Passed by `cargo bench` to every benchmark.
    #[arg(long, hide = true)]
    pub(crate) bench: bool,
}

pub(crate) struct Options {
    pub(crate) target: TargetKind,
    pub(crate) seconds: u64,
    pub(crate) warmup_seconds: u64,
    pub(crate) connections: Vec<u32>,
    pub(crate) scenarios: Vec<Scenario>,
    /// The server's DATABASE_MAX_CONNECTIONS.
    pub(crate) pool: u32,
    pub(crate) keep_database: bool,
    pub(crate) baseline_server: Option<PathBuf>,
    /// `--server`: the build measured when it is not this one.
    pub(crate) server: Option<PathBuf>,
    pub(crate) streams_open: bool,
    pub(crate) fan_out: Option<u32>,
    pub(crate) compare_peers: Option<PathBuf>,
    pub(crate) far_database_ms: Option<u64>,
}

impl From<Cli> for Options {
    fn from(cli: Cli) -> Self {
        Self {
            target: if cli.sqlite {
                TargetKind::Sqlite
            } else {
                TargetKind::Postgres {
                    admin_url: cli.database_url,
                }
            },
            seconds: cli.seconds.unwrap_or(if cli.smoke { 2 } else { 20 }),
            warmup_seconds: if cli.smoke { 0 } else { 2 },
            connections: cli.connections,
            scenarios: cli.scenarios.unwrap_or_else(|| Scenario::ALL.to_vec()),
            pool: cli.pool,
            keep_database: cli.keep_database,
            baseline_server: cli.baseline_server,
            server: cli.server,
            streams_open: cli.streams_open,
            fan_out: cli.fan_out,
            compare_peers: cli.compare_peers,
            far_database_ms: cli.far_database_ms,
        }
    }
}

pub(crate) enum TargetKind {
    Postgres { admin_url: String },
    Sqlite,
}

#[derive(Clone, Copy, Debug, PartialEq, Eq, PartialOrd, Ord)]
pub(crate) enum Scenario {
    GetTask,
    /// `get_task` on a server with authentication on, each user with an EdDSA token of their own.
    GetTaskAuth,
    CreateTask,
    ListPage,
    ListDeep,
    /// Today's open tasks by due time: `?due_from=…&due_to=…&completed=false&sort=due`.
    ListToday,
    /// The first page of a user's inbox in the manual order: `?list_id=inbox&sort=position`.
    ListPosition,
    PatchTask,
    /// A page of the change feed (a full sync's first 100 changes of a user with 10,000 tasks).
    Sync,
    Mixed,
    /// One `POST /users/{id}/batch` of `BATCH_OPERATIONS` `create_task` operations.
    BatchCreate,
    /// One `POST /users/{id}/batch` of `BATCH_OPERATIONS` `update_task` operations, each on
    /// another of the user's seeded tasks.
    BatchPatch,
}

impl Scenario {
    pub(crate) const ALL: [Scenario; 12] = [
        Self::GetTask,
        Self::GetTaskAuth,
        Self::CreateTask,
        Self::ListPage,
        Self::ListDeep,
        Self::ListToday,
        Self::ListPosition,
        Self::PatchTask,
        Self::Sync,
        Self::Mixed,
        Self::BatchCreate,
        Self::BatchPatch,
    ];
    /// The operations, each with its own SQL (`benches/sql/<name>.sql`).
    pub(crate) const OPERATIONS: [Scenario; 8] = [
        Self::GetTask,
        Self::CreateTask,
        Self::ListPage,
        Self::ListDeep,
        Self::ListToday,
        Self::ListPosition,
        Self::PatchTask,
        Self::Sync,
    ];
    /// What `--baseline-server` compares: the versioned writes, and two reads.
    pub(crate) const COMPARED: [Scenario; 4] = [
        Self::CreateTask,
        Self::PatchTask,
        Self::GetTask,
        Self::ListPage,
    ];
    /// Each batch scenario and the single request whose operation it sends in a batch.
    pub(crate) const BATCHED: [(Scenario, Scenario); 2] = [
        (Self::BatchCreate, Self::CreateTask),
        (Self::BatchPatch, Self::PatchTask),
    ];
    /// The mixed scenario: operation and share of requests (%), as `benches/wrk/tasks.lua`.
    pub(crate) const MIX: [(Scenario, u32); 4] = [
        (Self::GetTask, 60),
        (Self::ListPage, 20),
        (Self::CreateTask, 10),
        (Self::PatchTask, 10),
    ];

    /// The scenario `name` names, for the command line.
    pub(crate) fn parse(name: &str) -> Result<Self> {
        Self::ALL
            .into_iter()
            .find(|scenario| scenario.name() == name.trim())
            .ok_or_else(|| anyhow!("unknown scenario {name:?}"))
    }

    pub(crate) fn name(self) -> &'static str {
        match self {
            Self::GetTask => "get_task",
            Self::GetTaskAuth => "get_task_auth",
            Self::CreateTask => "create_task",
            Self::ListPage => "list_page",
            Self::ListDeep => "list_deep",
            Self::ListToday => "list_today",
            Self::ListPosition => "list_position",
            Self::PatchTask => "patch_task",
            Self::Sync => "sync",
            Self::Mixed => "mixed",
            Self::BatchCreate => "batch_create",
            Self::BatchPatch => "batch_patch",
        }
    }

    /// The operation whose SQL this scenario runs: none for a batch, whose statements are not
    /// one operation's.
    pub(crate) fn sql_operation(self) -> Option<Scenario> {
        match self {
            Self::GetTaskAuth => Some(Self::GetTask),
            Self::BatchCreate | Self::BatchPatch => None,
            other => Some(other),
        }
    }

    /// The operations one request of this scenario carries.
    pub(crate) fn operations_per_request(self) -> usize {
        match self {
            Self::BatchCreate | Self::BatchPatch => BATCH_OPERATIONS,
            _ => 1,
        }
    }

    /// The concurrencies this scenario runs at, of those asked for: a batch scenario at no more
    /// than `BATCH_MAX_CONNECTIONS` (at 64 connections no batch of 100 operations finishes
    /// within a short cell, and wrk then has no request to report).
    pub(crate) fn connection_counts(self, asked: &[u32]) -> Vec<u32> {
        if self.operations_per_request() == 1 {
            return asked.to_vec();
        }
        let mut counts: Vec<u32> = asked
            .iter()
            .map(|&count| count.min(BATCH_MAX_CONNECTIONS))
            .collect();
        counts.dedup();
        counts
    }

    pub(crate) fn sql_file(self) -> PathBuf {
        Path::new(MANIFEST_DIR)
            .join("benches/sql")
            .join(format!("{}.sql", self.name()))
    }
}
