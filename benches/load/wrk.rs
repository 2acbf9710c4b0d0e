//! wrk and its Lua script: one run at a given concurrency, its figures read from done().

use std::path::Path;
use std::process::Command;

use anyhow::{anyhow, Context, Result};

use crate::*;

pub(crate) struct Wrk<'a> {
    pub(crate) scenario: Scenario,
    pub(crate) connections: u32,
    pub(crate) seconds: u64,
    pub(crate) port: u16,
    pub(crate) pool_file: &'a Path,
    pub(crate) deep_path: &'a str,
}

#[derive(Default)]
pub(crate) struct Load {
    pub(crate) rps: f64,
    pub(crate) p50_ms: f64,
    pub(crate) p99_ms: f64,
    pub(crate) requests: u64,
    pub(crate) non_2xx: u64,
    /// Operations of a batch answered 200 whose own result was not 2xx.
    pub(crate) failed_operations: u64,
    pub(crate) socket_errors: u64,
}

impl Wrk<'_> {
    pub(crate) fn run(&self) -> Result<Load> {
        let script = Path::new(MANIFEST_DIR).join("benches/wrk/tasks.lua");
        let output = Command::new("wrk")
            .arg("-t2")
            .arg(format!("-c{}", self.connections))
            .arg(format!("-d{}s", self.seconds))
            .args(["--timeout", "10s", "-s"])
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
            return Err(anyhow!(
                "wrk failed: {text}{}",
                String::from_utf8_lossy(&output.stderr)
            ));
        }
        // The figures of the script's done(), one JSON line.
        let summary: WrkSummary = text
            .lines()
            .find_map(|line| line.strip_prefix("TASK_API_WRK "))
            .ok_or_else(|| anyhow!("no figures from wrk's done(): {text}"))
            .and_then(|json| {
                serde_json::from_str(json).map_err(|err| anyhow!("wrk's figures: {err}: {json}"))
            })?;
        let load = Load {
            rps: summary.requests as f64 / (summary.duration_us as f64 / 1_000_000.0),
            p50_ms: summary.p50_us / 1000.0,
            p99_ms: summary.p99_us / 1000.0,
            requests: summary.requests,
            non_2xx: summary.non_2xx,
            failed_operations: summary.failed_operations,
            socket_errors: summary.socket_errors,
        };
        if load.requests == 0 {
            return Err(anyhow!("wrk made no request: {text}"));
        }
        Ok(load)
    }
}

/// What `benches/wrk/tasks.lua`'s done() reports.
#[derive(serde::Deserialize)]
pub(crate) struct WrkSummary {
    pub(crate) requests: u64,
    pub(crate) duration_us: u64,
    pub(crate) non_2xx: u64,
    pub(crate) failed_operations: u64,
    pub(crate) socket_errors: u64,
    pub(crate) p50_us: f64,
    pub(crate) p99_us: f64,
}
