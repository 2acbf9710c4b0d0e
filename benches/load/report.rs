//! The table: one row per scenario and concurrency, and what went wrong in each.

use anyhow::Result;

use crate::*;

pub(crate) struct Cell {
    pub(crate) scenario: Scenario,
    pub(crate) connections: u32,
    pub(crate) load: Load,
    /// The server's CPU in % of one core, and in seconds over the cell.
    pub(crate) cpu: f64,
    pub(crate) cpu_seconds: f64,
    pub(crate) rss: f64,
    pub(crate) pgbench: Option<Result<f64>>,
}

impl Cell {
    pub(crate) fn header() -> String {
        format!(
            "{:<12} {:>4} {:>9} {:>9} {:>9} {:>8} {:>10} {:>8} {:>11} {:>7}",
            "scenario",
            "conn",
            "rps",
            "p50 ms",
            "p99 ms",
            "CPU %",
            "CPU µs/op",
            "RSS MiB",
            "pgbench/s",
            "ratio"
        )
    }

    pub(crate) fn line(&self) -> String {
        let (pgbench, ratio) = match &self.pgbench {
            Some(Ok(rate)) => (format!("{rate:.0}"), format!("{:.3}", self.load.rps / rate)),
            Some(Err(_)) => ("failed".to_owned(), "—".to_owned()),
            None => ("—".to_owned(), "—".to_owned()),
        };
        format!(
            "{:<12} {:>4} {:>9.0} {:>9.2} {:>9.2} {:>8.0} {:>10.0} {:>8.1} {:>11} {:>7}",
            self.scenario.name(),
            self.connections,
            self.load.rps,
            self.load.p50_ms,
            self.load.p99_ms,
            self.cpu,
            self.cpu_us_per_operation(),
            self.rss,
            pgbench,
            ratio
        )
    }

    /// Operations per second: requests per second times the operations each carries.
    pub(crate) fn operations_per_second(&self) -> f64 {
        self.load.rps * self.scenario.operations_per_request() as f64
    }

    /// The server's CPU time per operation, in microseconds.
    pub(crate) fn cpu_us_per_operation(&self) -> f64 {
        let operations = self.load.requests * self.scenario.operations_per_request() as u64;
        self.cpu_seconds * 1_000_000.0 / operations as f64
    }

    pub(crate) fn problems(&self) -> Vec<String> {
        let mut problems = Vec::new();
        if self.load.non_2xx > 0 {
            problems.push(format!(
                "{} of {} responses were not 2xx",
                self.load.non_2xx, self.load.requests
            ));
        }
        if self.load.failed_operations > 0 {
            problems.push(format!(
                "{} operations of batches answered 200 failed",
                self.load.failed_operations
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

/// Each batch scenario's cells against its single request's at the same concurrency: the
/// server's CPU time per operation and the rate of operations, batch ÷ single.
pub(crate) fn describe_batches(rows: &[Cell]) -> Vec<String> {
    let mut lines = Vec::new();
    for (batched, single) in Scenario::BATCHED {
        for batch in rows.iter().filter(|row| row.scenario == batched) {
            let Some(alone) = rows
                .iter()
                .find(|row| row.scenario == single && row.connections == batch.connections)
            else {
                continue;
            };
            lines.push(format!(
                "{:<12} ÷ {} c{}: server CPU per operation {:.3} ({:.0} ÷ {:.0} µs), \
                 operations per second {:.2} ({:.0} ÷ {:.0})",
                batched.name(),
                single.name(),
                batch.connections,
                batch.cpu_us_per_operation() / alone.cpu_us_per_operation(),
                batch.cpu_us_per_operation(),
                alone.cpu_us_per_operation(),
                batch.operations_per_second() / alone.operations_per_second(),
                batch.operations_per_second(),
                alone.operations_per_second(),
            ));
        }
    }
    lines
}

pub(crate) fn abbreviate(sql: &str) -> String {
    let sql = sql.replace('\n', " ");
    let select_list = regex_free_select_list(&sql);
    if select_list.chars().count() > 140 {
        format!("{}…", select_list.chars().take(140).collect::<String>())
    } else {
        select_list
    }
}

/// `SELECT "tasks"."id", … FROM` → `SELECT … FROM`, for short listings.
pub(crate) fn regex_free_select_list(sql: &str) -> String {
    match (sql.strip_prefix("SELECT "), sql.find(" FROM ")) {
        (Some(_), Some(from)) => format!("SELECT …{}", &sql[from..]),
        _ => match sql.find(" RETURNING ") {
            Some(at) => format!("{} RETURNING …", &sql[..at]),
            None => sql.to_owned(),
        },
    }
}
