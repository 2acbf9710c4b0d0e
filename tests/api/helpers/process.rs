//! The server binary as its own process: its command with a clean environment, and its log.

/// The server binary, with a clean environment plus `env` (PORT defaults to 0).
pub fn server_command(env: &[(&str, &str)]) -> tokio::process::Command {
    let mut command = tokio::process::Command::new(env!("CARGO_BIN_EXE_task-api"));
    command
        .env_clear()
        .env("PATH", std::env::var("PATH").unwrap_or_default())
        .env("PORT", "0")
        .envs(env.iter().copied())
        .stdout(std::process::Stdio::piped())
        .stderr(std::process::Stdio::piped())
        .kill_on_drop(true);
    command
}

/// The log of a server process, line by line.
pub type ServerLog = tokio::io::Lines<tokio::io::BufReader<tokio::process::ChildStderr>>;

/// Starts the server binary and reads its log until it listens; `on_line` sees every line
/// before that. Returns the process, its address and the rest of its log.
pub async fn start_server_process(
    env: &[(&str, &str)],
    mut on_line: impl FnMut(&str),
) -> (tokio::process::Child, String, ServerLog) {
    use tokio::io::AsyncBufReadExt;
    let mut child = server_command(env).spawn().unwrap();
    let mut log = tokio::io::BufReader::new(child.stderr.take().unwrap()).lines();
    loop {
        let line = log.next_line().await.unwrap().expect("the server starts");
        on_line(&line);
        if let Some(rest) = line.split("listening on ").nth(1) {
            let address = rest.split_whitespace().next().unwrap().to_owned();
            return (child, address, log);
        }
    }
}

/// Kills a server process and returns the rest of its log, line by line.
pub async fn killed_server_log(
    mut server: tokio::process::Child,
    mut log: ServerLog,
) -> Vec<String> {
    let _ = server.start_kill();
    let mut lines = vec![];
    while let Ok(Some(line)) = log.next_line().await {
        lines.push(line);
    }
    lines
}

/// A user registered on the server process at `address` (`POST /users`), as it answered.
pub async fn create_user_at(client: &reqwest::Client, address: &str) -> serde_json::Value {
    client
        .post(format!("{address}/users"))
        .send()
        .await
        .unwrap()
        .json()
        .await
        .unwrap()
}

/// The Prometheus text of the server process at `address` (`GET /metrics`).
pub async fn metrics_at(client: &reqwest::Client, address: &str) -> String {
    client
        .get(format!("{address}/metrics"))
        .send()
        .await
        .unwrap()
        .text()
        .await
        .unwrap()
}
