//! The `task-api` command line: serve (the default), migrate, or print the OpenAPI document.

use std::process::ExitCode;

use clap::{Parser, Subcommand, ValueEnum};
use poem::Route;
use task_api::config::{Config, LogFormat};
use task_api::db::MigrationCommand;
use task_api::startup::{self, Application, StartupError};

#[global_allocator]
static ALLOCATOR: mimalloc::MiMalloc = mimalloc::MiMalloc;

#[derive(Parser)]
#[command(
    name = "task-api",
    version,
    about = "Task API: a contract-first task-management HTTP API"
)]
struct Cli {
    #[command(subcommand)]
    command: Option<Command>,
}

#[derive(Subcommand)]
enum Command {
    /// Serve the API (the default)
    Serve,
    /// Change or show the database schema
    Migrate {
        #[arg(value_enum)]
        action: MigrateAction,
    },
    /// Print the generated OpenAPI document (JSON, or YAML with --yaml)
    Openapi {
        #[arg(long)]
        yaml: bool,
    },
}

#[derive(Clone, Copy, ValueEnum)]
enum MigrateAction {
    /// Apply every pending migration
    Up,
    /// Revert the last migration
    Down,
    /// Show which migrations are applied
    Status,
}

/// Runs the command; what stops it is one line on stderr and a failing exit status.
fn main() -> ExitCode {
    match run(Cli::parse()) {
        Ok(()) => ExitCode::SUCCESS,
        Err(err) => {
            eprintln!("task-api: {err}");
            ExitCode::FAILURE
        }
    }
}

fn run(cli: Cli) -> Result<(), StartupError> {
    if let Err(err) = dotenvy::dotenv() {
        if !err.not_found() {
            return Err(StartupError::DotEnv(err));
        }
    }
    let config = Config::from_env()?;
    // Migration commands report through sea-orm-migration's log lines: always show them.
    let log_filter = match cli.command {
        Some(Command::Migrate { .. }) => format!("{},sea_orm_migration=info", config.log_filter),
        _ => config.log_filter.clone(),
    };
    init_logging(&log_filter, config.log_format);
    for warning in &config.warnings {
        tracing::warn!("{warning}");
    }
    let runtime = tokio::runtime::Runtime::new().map_err(StartupError::Runtime)?;
    runtime.block_on(async {
        match cli.command.unwrap_or(Command::Serve) {
            Command::Serve => serve(&config).await,
            Command::Migrate { action } => {
                let command = match action {
                    MigrateAction::Up => MigrationCommand::Up,
                    MigrateAction::Down => MigrationCommand::Down,
                    MigrateAction::Status => MigrationCommand::Status,
                };
                let db = task_api::db::Database::new(
                    config.database.connect(1, config.database_acquire_timeout),
                );
                startup::migrate(&config, &db, command).await
            }
            Command::Openapi { yaml } => {
                let document = task_api::api::openapi_document();
                if yaml {
                    print!("{}", task_api::api::to_yaml(&document));
                } else {
                    println!("{document:#}");
                }
                Ok(())
            }
        }
    })
}

async fn serve(config: &Config) -> Result<(), StartupError> {
    let app = Application::build(config, Route::new()).await?;
    tracing::info!(
        "Task API listening on http://{}:{} (Swagger UI at /docs)",
        config.host,
        app.port()
    );
    app.run_until(shutdown_signal())
        .await
        .map_err(StartupError::Serve)?;
    tracing::info!("shut down cleanly");
    Ok(())
}

/// Resolves on SIGINT (Ctrl-C) or SIGTERM.
async fn shutdown_signal() {
    let interrupt = async {
        tokio::signal::ctrl_c().await.ok();
    };
    #[cfg(unix)]
    let terminate = async {
        match tokio::signal::unix::signal(tokio::signal::unix::SignalKind::terminate()) {
            Ok(mut signal) => {
                signal.recv().await;
            }
            Err(_) => std::future::pending().await,
        }
    };
    #[cfg(not(unix))]
    let terminate = std::future::pending::<()>();
    tokio::select! {
        _ = interrupt => {},
        _ = terminate => {},
    }
    tracing::info!("shutdown signal received; finishing in-flight requests");
}

fn init_logging(filter: &str, format: LogFormat) {
    let filter = tracing_subscriber::EnvFilter::try_new(filter)
        .unwrap_or_else(|_| tracing_subscriber::EnvFilter::new("info"));
    let builder = tracing_subscriber::fmt()
        .with_env_filter(filter)
        .with_writer(std::io::stderr);
    match format {
        LogFormat::Json => builder.json().init(),
        LogFormat::Pretty => builder.init(),
    }
}
