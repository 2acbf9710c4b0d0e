//! The release server as a process of its own, and what the benchmark reads of it (CPU, RSS).

use std::fs;
use std::io::{Read, Write};
use std::net::{TcpListener, TcpStream};
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant, SystemTime};

use anyhow::{anyhow, Context, Result};

use crate::*;

pub(crate) struct Server {
    pub(crate) child: Child,
    pub(crate) port: u16,
    pub(crate) log: PathBuf,
}

impl Server {
    pub(crate) fn pid(&self) -> u32 {
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

pub(crate) fn ensure_wrk() -> Result<()> {
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
        Err(anyhow!(
            "wrk is missing and apt-get install -y wrk failed: install wrk"
        ))
    }
}

pub(crate) fn pgbench_available() -> bool {
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
pub(crate) fn prepare_server_binary(dir: &Path) -> Result<PathBuf> {
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

pub(crate) fn files_under(path: &Path) -> Vec<PathBuf> {
    match fs::read_dir(path) {
        Ok(entries) => entries
            .flatten()
            .flat_map(|entry| files_under(&entry.path()))
            .collect(),
        Err(_) => vec![path.to_owned()],
    }
}

pub(crate) fn free_port() -> Result<u16> {
    TcpListener::bind("127.0.0.1:0")
        .and_then(|listener| listener.local_addr())
        .map(|addr| addr.port())
        .context("cannot find a free port")
}

/// The status of `GET path`, or None when the server does not answer (yet).
pub(crate) fn http_status(port: u16, path: &str) -> Option<u16> {
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

pub(crate) fn clock_ticks() -> f64 {
    Command::new("getconf")
        .arg("CLK_TCK")
        .output()
        .ok()
        .and_then(|out| String::from_utf8_lossy(&out.stdout).trim().parse().ok())
        .unwrap_or(100.0)
}

/// utime + stime of a process, in clock ticks.
pub(crate) fn cpu_ticks(pid: u32) -> Result<u64> {
    let stat = fs::read_to_string(format!("/proc/{pid}/stat")).context("read /proc/PID/stat")?;
    let fields: Vec<&str> = stat
        .rsplit_once(')')
        .map(|(_, rest)| rest.split_whitespace().collect())
        .unwrap_or_default();
    // Fields 14 and 15 of stat(5); field 3 is the first after the command name.
    let field = |n: usize| fields.get(n - 3).and_then(|v| v.parse::<u64>().ok());
    Ok(field(14).unwrap_or(0) + field(15).unwrap_or(0))
}

pub(crate) fn reset_peak_rss(pid: u32) {
    fs::write(format!("/proc/{pid}/clear_refs"), "5").ok();
}

pub(crate) fn peak_rss_kib(pid: u32) -> Result<u64> {
    status_kib(pid, "VmHWM:")
}

/// The resident memory of a process now (VmRSS).
pub(crate) fn resident_kib(pid: u32) -> Result<u64> {
    status_kib(pid, "VmRSS:")
}

/// A field in kB of /proc/PID/status.
fn status_kib(pid: u32, field: &str) -> Result<u64> {
    let status =
        fs::read_to_string(format!("/proc/{pid}/status")).context("read /proc/PID/status")?;
    status
        .lines()
        .find_map(|line| line.strip_prefix(field))
        .and_then(|value| value.trim().trim_end_matches("kB").trim().parse().ok())
        .with_context(|| format!("no {field} in /proc/PID/status"))
}
