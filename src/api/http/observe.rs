//! What operators see of each request: its request id, one structured log line, Prometheus
//! metrics per operation and status.

use std::collections::HashMap;
use std::sync::{Arc, OnceLock, RwLock};
use std::time::{Duration, Instant};

use metrics::{Counter, Histogram};
use metrics_exporter_prometheus::{Matcher, PrometheusBuilder, PrometheusHandle};
use poem::http::HeaderValue;
use poem::{Endpoint, IntoResponse, Middleware, Request, Response, Result};
use poem_openapi::OperationId;

use crate::api::request::caller::CallerSlot;
use crate::db::Database;

/// The request id header, taken from the request or made, and returned on every response.
pub const REQUEST_ID: &str = "x-request-id";
const REQUEST_DURATION: &str = "http_request_duration_seconds";
const REQUESTS: &str = "http_requests_total";

/// The process's Prometheus recorder (the `metrics` facade has one global recorder).
pub fn prometheus() -> &'static PrometheusHandle {
    static HANDLE: OnceLock<PrometheusHandle> = OnceLock::new();
    HANDLE.get_or_init(|| {
        let recorder = PrometheusBuilder::new()
            .set_buckets_for_metric(
                Matcher::Full(REQUEST_DURATION.to_owned()),
                &[
                    0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1.0, 2.5, 5.0, 10.0,
                ],
            )
            .expect("the buckets are not empty")
            .build_recorder();
        let handle = recorder.handle();
        // Another recorder may be installed already (several apps in one test process).
        let _ = metrics::set_global_recorder(recorder);
        handle
    })
}

/// Every few seconds, moves the latency samples recorded since into the histogram's buckets: the
/// recorder keeps every sample until then (it was built without an upkeep task of its own), so
/// without this the process grows by 8 bytes a request until `/metrics` is scraped.
pub async fn run_metrics_upkeep() {
    let mut ticks = tokio::time::interval(Duration::from_secs(5));
    loop {
        ticks.tick().await;
        prometheus().run_upkeep();
    }
}

/// The Prometheus text: request metrics plus the database pool's gauges, read now.
pub fn render_metrics(db: &Database) -> String {
    let (size, idle) = db.pool_connections();
    metrics::gauge!("db_pool_connections", "state" => "idle").set(idle as f64);
    metrics::gauge!("db_pool_connections", "state" => "in_use")
        .set(size.saturating_sub(idle as u32) as f64);
    prometheus().render()
}

/// Adds the request id, logs one line and records metrics per request.
pub struct Observe {
    /// operationId → "METHOD /path/{template}".
    routes: Arc<HashMap<String, String>>,
    metrics: Arc<RequestMetrics>,
}

impl Observe {
    pub fn new(routes: HashMap<String, String>) -> Self {
        prometheus();
        Self {
            routes: Arc::new(routes),
            metrics: Arc::default(),
        }
    }
}

impl<E: Endpoint> Middleware<E> for Observe {
    type Output = ObserveEndpoint<E>;

    fn transform(&self, inner: E) -> Self::Output {
        ObserveEndpoint {
            inner,
            routes: self.routes.clone(),
            metrics: self.metrics.clone(),
        }
    }
}

pub struct ObserveEndpoint<E> {
    inner: E,
    routes: Arc<HashMap<String, String>>,
    metrics: Arc<RequestMetrics>,
}

/// The request counter and latency histogram of each operation and status, each registered with
/// the recorder once: registering (building the labelled key, hashing it, looking it up) cost
/// more per request than recording.
#[derive(Default)]
struct RequestMetrics(RwLock<HashMap<OperationStatus, (Counter, Histogram)>>);

/// An operation's id and a status it answered.
type OperationStatus = (&'static str, u16);

impl RequestMetrics {
    fn record(&self, operation: &'static str, status: u16, elapsed: Duration) {
        let count = |(requests, duration): &(Counter, Histogram)| {
            requests.increment(1);
            duration.record(elapsed.as_secs_f64());
        };
        let key = (operation, status);
        if let Some(handles) = self.0.read().expect("not poisoned").get(&key) {
            return count(handles);
        }
        let status_label = status.to_string();
        let handles = (
            metrics::counter!(REQUESTS, "operation" => operation, "status" => status_label.clone()),
            metrics::histogram!(REQUEST_DURATION, "operation" => operation, "status" => status_label),
        );
        count(&handles);
        self.0.write().expect("not poisoned").insert(key, handles);
    }
}

/// A caller's id if it is a sensible one (printable ASCII, at most 128 bytes), else a new one.
fn request_id(req: &Request) -> HeaderValue {
    req.headers()
        .get(REQUEST_ID)
        .filter(|value| {
            let bytes = value.as_bytes();
            !bytes.is_empty() && bytes.len() <= 128 && bytes.iter().all(|b| b.is_ascii_graphic())
        })
        .cloned()
        .unwrap_or_else(|| {
            let mut text = uuid::Uuid::encode_buffer();
            let text = uuid::Uuid::new_v4().hyphenated().encode_lower(&mut text);
            HeaderValue::from_str(text).expect("a UUID is ASCII")
        })
}

impl<E: Endpoint> Endpoint for ObserveEndpoint<E> {
    type Output = Response;

    async fn call(&self, mut req: Request) -> Result<Self::Output> {
        let started = Instant::now();
        let id = request_id(&req);
        let caller = CallerSlot::default();
        req.extensions_mut().insert(caller.clone());
        let method = req.method().clone();
        let mut response = match self.inner.call(req).await {
            Ok(output) => output.into_response(),
            Err(err) => err.into_response(),
        };
        let elapsed = started.elapsed();
        let operation = response
            .data::<OperationId>()
            .map_or("none", |operation| operation.0);
        let status = response.status().as_u16();
        self.metrics.record(operation, status, elapsed);
        // The fields are evaluated only when the line is written.
        tracing::info!(
            target: "task_api::request",
            request_id = id.to_str().unwrap_or_default(),
            method = method.as_str(),
            route = self
                .routes
                .get(operation)
                .map_or("(no operation)", String::as_str),
            operation,
            status,
            user_id = caller.user_id().map(tracing::field::display),
            latency_ms = elapsed.as_secs_f64() * 1000.0,
            "request"
        );
        response.headers_mut().insert(REQUEST_ID, id);
        Ok(response)
    }
}
