//! What the tests stand on: a server per test on a database of its own (`app`, `database`), the
//! server binary as a process (`process`), PostgreSQL behind a proxy that can fail (`proxy`),
//! assertions on answers (`expect`), and waiting for a condition instead of for a time.

mod app;
mod database;
mod expect;
mod process;
mod proxy;

use std::future::Future;
use std::time::Duration;

pub use app::*;
pub use database::*;
pub use expect::*;
pub use process::*;
pub use proxy::*;

/// Polls `condition` every 20 ms until it holds; panics with `what` after 10 s.
pub async fn wait_until<F, Fut>(what: &str, condition: F)
where
    F: FnMut() -> Fut,
    Fut: Future<Output = bool>,
{
    if !within(Duration::from_secs(10), condition).await {
        panic!("{what} did not happen within 10 s");
    }
}

/// Polls `condition` every 20 ms until it holds (true) or `patience` passes (false).
pub async fn within<F, Fut>(patience: Duration, mut condition: F) -> bool
where
    F: FnMut() -> Fut,
    Fut: Future<Output = bool>,
{
    let start = std::time::Instant::now();
    while !condition().await {
        if start.elapsed() > patience {
            return false;
        }
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
    true
}
