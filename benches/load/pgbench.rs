//! pgbench running the server's SQL (benches/sql/*.sql) at the same concurrency.

use std::fmt::Write as _;
use std::fs;
use std::process::Command;

use chrono::{DateTime, NaiveDate, Utc};
use sea_orm::sqlx::{self};
use task_api::pagination::TaskFilter;

use anyhow::{anyhow, Context, Result};

use crate::*;

/// One operation's SQL as a pgbench script: `benches/sql/<operation>.sql`.
pub(crate) struct Template {
    pub(crate) operation: Scenario,
    /// Meta-commands (`\set …`) and SQL commands (without the final `;`), in order.
    pub(crate) commands: Vec<String>,
    /// The SQL commands alone.
    pub(crate) sql: Vec<String>,
}

/// `time` as PostgreSQL writes a `timestamptz`.
pub(crate) fn pg_time(time: DateTime<Utc>) -> String {
    time.format("%Y-%m-%d %H:%M:%S%.6f+00").to_string()
}

impl Template {
    /// The pgbench script of one request, as `benches/sql/<operation>.sql` has it.
    pub(crate) fn read(operation: Scenario) -> Result<Self> {
        let path = operation.sql_file();
        let text = fs::read_to_string(&path).context(format!("cannot read {}", path.display()))?;
        let mut template = Template {
            operation,
            commands: Vec::new(),
            sql: Vec::new(),
        };
        let mut pending = String::new();
        for line in text.lines() {
            if line.starts_with("--") || (line.trim().is_empty() && pending.is_empty()) {
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
            return Err(anyhow!("{}: no SQL", path.display()));
        }
        Ok(template)
    }

    pub(crate) fn uses(&self, variable: &str) -> bool {
        self.commands
            .iter()
            .any(|command| variables(command).iter().any(|v| v == variable))
    }

    /// The commands of one request; `slot` names its fresh values in a batch.
    pub(crate) fn expand(&self, slot: Option<usize>) -> String {
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

pub(crate) fn variables(command: &str) -> Vec<String> {
    let mut found = Vec::new();
    rename_variables(command, |name| {
        found.push(name.to_owned());
        name.to_owned()
    });
    found
}

/// Rewrites every `:name` (not `::`) with `rename`.
pub(crate) fn rename_variables(command: &str, mut rename: impl FnMut(&str) -> String) -> String {
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
pub(crate) fn fresh_values(count: usize) -> String {
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
pub(crate) const POOL_PICK: &str = "\\set bench_tx :bench_tx + 1
\\if :bench_tx % 100 = 1
\\set bench_k random(0, 99)
SELECT user_id, task_id FROM bench_pool WHERE k = :bench_k \\gset
\\endif
";

impl Bench {
    /// The table `POOL_PICK` reads: the tasks wrk picks from too.
    pub(crate) async fn create_pool_table(&self) -> Result<()> {
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

    /// The constants the scripts take with -D: what the benchmark's requests send, where its
    /// deep page starts (after the deep user's 50,000th newest task, n = 50,000), and the due keys
    /// of `list_today`'s date.
    pub(crate) fn script_constants(&self) -> Vec<(&'static str, String)> {
        let n = DEEP_TASKS - DEEP_OFFSET;
        let today = NaiveDate::parse_from_str(SEED_TODAY, "%Y-%m-%d").expect("a date");
        let (due_first, due_last) = TaskFilter {
            due_from: Some(today),
            due_to: Some(today),
            ..TaskFilter::default()
        }
        .due_key_range()
        .expect("a due range");
        vec![
            ("due_first", due_first.to_string()),
            ("due_last", due_last.to_string()),
            ("description", DESCRIPTION.to_owned()),
            ("is_completed", "f".to_owned()),
            ("deep_user_id", self.deep_user.to_string()),
            ("after_id", deep_id(n).to_string()),
            ("after_created_at", pg_time(time_of(deep_time(n)))),
        ]
    }

    /// pgbench at `connections` clients with the server's SQL for `scenario`: requests per second.
    pub(crate) fn pgbench(
        &self,
        scenario: Scenario,
        connections: u32,
        templates: &[Template],
    ) -> Result<f64> {
        let Database::Postgres { bench_url, .. } = &self.database else {
            return Err(anyhow!("PostgreSQL only"));
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
                let operation = op
                    .sql_operation()
                    .ok_or_else(|| anyhow!("{} has no SQL of its own", op.name()))?;
                let (text, requests) = script(operation);
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
        for (name, value) in self.script_constants() {
            command.arg(format!("-D{name}={value}"));
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
            _ => Err(anyhow!(
                "pgbench failed ({}): {}",
                output.status,
                errors.lines().rev().take(5).collect::<Vec<_>>().join(" | ")
            )),
        }
    }
}
