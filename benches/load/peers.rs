//! `--compare-peers DIR`: this server beside the reference servers of the same API (axum + sqlx,
//! hyper + tokio-postgres pipelined) and pgbench, in one run of their own harness
//! (`DIR/bench/compare.sh`), on the scratch database, optionally behind a latency proxy.

use std::fs;
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};

use anyhow::{anyhow, Context, Result};

use crate::*;

/// The reference servers: their folder under the peers' directory and their binary.
const PEER_SERVERS: [(&str, &str); 2] = [
    ("axum-sqlx", "axum-sqlx-peer"),
    ("hyper-pg", "hyper-pg-peer"),
];
/// The proxy that puts the database far away.
const LATENCY_PROXY: (&str, &str) = ("bench/latency-proxy", "latency-proxy");
/// Where the latency proxy listens.
const PROXY_PORT: u16 = 15_433;

impl Bench {
    /// Builds the peers (into `target/peers`, kept between runs), then runs their harness with
    /// this server first: its table is printed as it is when the harness finishes, then every
    /// run with non-2xx answers.
    pub(crate) fn compare_peers(&self, peers: &Path) -> Result<()> {
        let copy = self.dir.join("peers");
        copy_tree(peers, &copy)?;
        let target = Path::new(MANIFEST_DIR).join("target/peers");
        // The servers are built from a copy kept in one place (outside this workspace), its
        // files' times kept, so that cargo finds them unchanged on later runs and only checks
        // them (a copy at the run's own path would be another package to cargo, built anew).
        let sources = std::env::temp_dir().join("task-api-peer-sources");
        if sources.exists() {
            fs::remove_dir_all(&sources).context("cannot remove the peers' last copy")?;
        }
        copy_tree(peers, &sources)?;
        let limits: Vec<String> = unbound_limits()
            .iter()
            .map(|(name, value)| format!("{name}={value}"))
            .collect();
        let mut servers = vec![format!(
            "project=env HOST=127.0.0.1 LOG=warn CURSOR_SECRET={CURSOR_SECRET} \
             DATABASE_MAX_CONNECTIONS={} {} {}",
            self.options.pool,
            limits.join(" "),
            self.server_binary.display()
        )];
        for (folder, binary) in PEER_SERVERS {
            let built = build(&sources.join(folder), &target, binary)?;
            servers.push(format!("{folder}={}", built.display()));
        }
        let database_url = format!("{}?sslmode=disable", self.server_url);
        let (database_url, proxy) = match self.options.far_database_ms {
            Some(delay) => {
                let proxy = build(&sources.join(LATENCY_PROXY.0), &target, LATENCY_PROXY.1)?;
                let far = far_away(&proxy, &database_url, delay)?;
                (far.url, Some(far.process))
            }
            None => (database_url, None),
        };
        let connections: Vec<String> = self
            .options
            .connections
            .iter()
            .map(u32::to_string)
            .collect();
        let compared = Command::new(copy.join("bench/compare.sh"))
            .args(&servers)
            .env("DATABASE_URL", &database_url)
            .env("DURATION", self.options.seconds.to_string())
            .env("CONNS", connections.join(" "))
            .env("ORDER", "both")
            .stderr(Stdio::inherit())
            .output()
            .context("cannot run the peers' compare.sh");
        if let Some(mut proxy) = proxy {
            proxy.kill().ok();
            proxy.wait().ok();
        }
        let compared = compared?;
        let table = String::from_utf8_lossy(&compared.stdout);
        print!("{table}");
        if !compared.status.success() {
            return Err(anyhow!("the peers' compare.sh failed: {}", compared.status));
        }
        report_refusals(&table)
    }
}

/// Prints each run in which a server answered requests with statuses other than 2xx (counted in
/// its rate, as wrk counts them), from the harness's raw output whose folder `table` names.
fn report_refusals(table: &str) -> Result<()> {
    let raw = table
        .lines()
        .find_map(|line| line.strip_prefix("# raw output: "))
        .ok_or_else(|| anyhow!("the peers' compare.sh named no raw output"))?;
    let mut refusals = Vec::new();
    for entry in fs::read_dir(raw.trim()).context("the peers' raw output")? {
        let path = entry?.path();
        let run = path.file_stem().unwrap_or_default().to_string_lossy();
        for line in fs::read_to_string(&path)?.lines() {
            if let Some(count) = line
                .split_whitespace()
                .find(|word| word.starts_with("NON_2XX="))
            {
                // A run's label names its scenario and connections (`mixed/c16`); a discarded
                // run's line says so first.
                let scenario = line
                    .split_whitespace()
                    .find(|word| word.contains('/'))
                    .unwrap_or("?");
                let discarded = if line.starts_with("# discarded") {
                    " (discarded)"
                } else {
                    ""
                };
                refusals.push(format!("{run} {scenario}{discarded} {count}"));
            }
        }
    }
    refusals.sort();
    if refusals.is_empty() {
        println!("non-2xx answers: none, in every run");
    } else {
        let refusals = refusals.join("; ");
        println!("non-2xx answers (counted in the rates above): {refusals}");
    }
    Ok(())
}

/// `from` copied to `to` with its files' times, writable (the shared folder is read-only).
fn copy_tree(from: &Path, to: &Path) -> Result<()> {
    let copied = Command::new("cp")
        .args(["-r", "--preserve=timestamps"])
        .arg(from)
        .arg(to)
        .status()
        .context("cannot run cp")?;
    let writable = Command::new("chmod")
        .args(["-R", "u+w"])
        .arg(to)
        .status()
        .context("cannot run chmod")?;
    if !copied.success() || !writable.success() {
        return Err(anyhow!(
            "cannot copy {} to {}",
            from.display(),
            to.display()
        ));
    }
    Ok(())
}

/// The release binary `binary` of the crate in `folder`, built into `target`.
fn build(folder: &Path, target: &Path, binary: &str) -> Result<PathBuf> {
    eprintln!("building {} (release)", folder.display());
    let status = Command::new(std::env::var("CARGO").unwrap_or_else(|_| "cargo".into()))
        .args(["build", "--release", "--quiet"])
        .env("CARGO_TARGET_DIR", target)
        .current_dir(folder)
        .status()
        .context("cannot run cargo build")?;
    if !status.success() {
        return Err(anyhow!("building {} failed", folder.display()));
    }
    Ok(target.join("release").join(binary))
}

/// The database seen through the latency proxy, `delay_ms` each way.
struct FarDatabase {
    url: String,
    process: Child,
}

fn far_away(proxy: &Path, database_url: &str, delay_ms: u64) -> Result<FarDatabase> {
    let mut url = reqwest::Url::parse(database_url).context("the database URL")?;
    let target = format!(
        "{}:{}",
        url.host_str().unwrap_or("127.0.0.1"),
        url.port().unwrap_or(5432)
    );
    let process = Command::new(proxy)
        .args([
            PROXY_PORT.to_string(),
            target,
            (delay_ms * 1000).to_string(),
        ])
        .stdout(Stdio::null())
        .spawn()
        .context("cannot start the latency proxy")?;
    url.set_port(Some(PROXY_PORT))
        .map_err(|()| anyhow!("cannot set the proxy's port"))?;
    std::thread::sleep(std::time::Duration::from_millis(300));
    eprintln!("the database is {delay_ms} ms away each way (latency proxy on {PROXY_PORT})");
    Ok(FarDatabase {
        url: url.to_string(),
        process,
    })
}

/// Whether the peers' folder looks like one: the harness and each server are there.
pub(crate) fn check_peers(peers: &Path) -> Result<()> {
    let needed = PEER_SERVERS
        .iter()
        .map(|(folder, _)| peers.join(folder).join("Cargo.toml"))
        .chain([
            peers.join("bench/compare.sh"),
            peers.join(LATENCY_PROXY.0).join("Cargo.toml"),
        ]);
    for path in needed {
        fs::metadata(&path).context(format!("--compare-peers: no {}", path.display()))?;
    }
    Ok(())
}
