//! Live change events under load: event streams held open on a server while the writes are
//! compared with the baseline (`--streams-open`), and one change's fan-out to many streams of
//! one user, with the server's resident memory before and after they opened (`--fan-out N`).

use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{mpsc, Arc};
use std::thread::JoinHandle;
use std::time::{Duration, Instant};

use anyhow::{anyhow, Context, Result};
use futures_util::future::{join_all, try_join_all};
use serde_json::Value;
use uuid::Uuid;

use crate::*;

/// How long a stream may take to open, or to hear of a change, before the measurement fails.
const PATIENCE: Duration = Duration::from_secs(30);
/// Streams opened at once by the fan-out measurement: the listen backlog is not what it measures.
const OPENED_AT_ONCE: usize = 100;

/// One `GET /users/{user_id}/events` stream, read block by block.
pub(crate) struct EventStream {
    response: reqwest::Response,
    buffer: String,
}

impl EventStream {
    pub(crate) async fn open(client: &reqwest::Client, port: u16, user: Uuid) -> Result<Self> {
        let response = client
            .get(format!("http://127.0.0.1:{port}/users/{user}/events"))
            .send()
            .await
            .context("open an event stream")?;
        if response.status() != reqwest::StatusCode::OK {
            return Err(anyhow!(
                "an event stream answers {}: {}",
                response.status(),
                response.text().await.unwrap_or_default()
            ));
        }
        Ok(Self {
            response,
            buffer: String::new(),
        })
    }

    /// The next `changed` event's version (keep-alive comments skipped); `None` when the stream
    /// ended.
    pub(crate) async fn next_version(&mut self) -> Result<Option<i64>> {
        loop {
            while let Some(end) = self.buffer.find("\n\n") {
                let block: String = self.buffer.drain(..end + 2).collect();
                if let Some(data) = block.lines().find_map(|line| line.strip_prefix("data: ")) {
                    let event: Value = serde_json::from_str(data).context("an event's data")?;
                    return event["version"]
                        .as_i64()
                        .map(Some)
                        .ok_or_else(|| anyhow!("an event without a version: {block:?}"));
                }
            }
            match self
                .response
                .chunk()
                .await
                .context("read an event stream")?
            {
                Some(bytes) => self.buffer.push_str(std::str::from_utf8(&bytes)?),
                None => return Ok(None),
            }
        }
    }

    /// The next version within `PATIENCE`, failing when the stream ends or stays silent.
    async fn expect_version(&mut self) -> Result<i64> {
        tokio::time::timeout(PATIENCE, self.next_version())
            .await
            .map_err(|_| anyhow!("no event within {PATIENCE:?}"))??
            .ok_or_else(|| anyhow!("the event stream ended"))
    }
}

/// Event streams held open on a server and read all along, on a thread of their own (the
/// benchmark's own runtime is blocked while wrk runs).
pub(crate) struct OpenStreams {
    pub(crate) streams: usize,
    heard: Arc<AtomicU64>,
    stop: Option<tokio::sync::oneshot::Sender<()>>,
    reader: Option<JoinHandle<()>>,
}

impl OpenStreams {
    /// One stream of each of `users` on the server at `port`; returns once each has its first
    /// event.
    pub(crate) fn open(port: u16, users: Vec<Uuid>) -> Result<Self> {
        let streams = users.len();
        let heard = Arc::new(AtomicU64::new(0));
        let (opened, opening) = mpsc::channel();
        let (stop, stopped) = tokio::sync::oneshot::channel::<()>();
        let counter = heard.clone();
        let reader = std::thread::spawn(move || {
            let runtime = match tokio::runtime::Builder::new_current_thread()
                .enable_all()
                .build()
            {
                Ok(runtime) => runtime,
                Err(err) => {
                    let _ = opened.send(Err(anyhow!("a runtime for the streams: {err}")));
                    return;
                }
            };
            runtime.block_on(async move {
                let client = reqwest::Client::new();
                let opening = try_join_all(users.into_iter().map(|user| {
                    let client = &client;
                    async move {
                        let mut stream = EventStream::open(client, port, user).await?;
                        stream.expect_version().await?;
                        Ok::<_, anyhow::Error>(stream)
                    }
                }))
                .await;
                let streams = match opening {
                    Ok(streams) => streams,
                    Err(err) => {
                        let _ = opened.send(Err(err));
                        return;
                    }
                };
                let _ = opened.send(Ok(()));
                let reading = join_all(streams.into_iter().map(|mut stream| {
                    let counter = &counter;
                    async move {
                        while let Ok(Some(_)) = stream.next_version().await {
                            counter.fetch_add(1, Ordering::Relaxed);
                        }
                    }
                }));
                tokio::select! {
                    _ = reading => {}
                    _ = stopped => {}
                }
            });
        });
        opening
            .recv()
            .context("the stream reader stopped before the streams opened")??;
        Ok(Self {
            streams,
            heard,
            stop: Some(stop),
            reader: Some(reader),
        })
    }

    /// How many events the streams have heard since they opened (first events not counted).
    pub(crate) fn heard(&self) -> u64 {
        self.heard.load(Ordering::Relaxed)
    }
}

impl Drop for OpenStreams {
    fn drop(&mut self) {
        if let Some(stop) = self.stop.take() {
            let _ = stop.send(());
        }
        if let Some(reader) = self.reader.take() {
            let _ = reader.join();
        }
    }
}

/// What `--fan-out` measured.
pub(crate) struct FanOut {
    pub(crate) streams: usize,
    pub(crate) resident_before_kib: u64,
    pub(crate) resident_open_kib: u64,
    /// From sending the change to its 201.
    pub(crate) answered: Duration,
    /// From sending the change to the last stream hearing of it.
    pub(crate) last_heard: Duration,
}

impl FanOut {
    pub(crate) fn describe(&self) -> String {
        format!(
            "{} streams of one user on one server: resident {:.1} MiB before, {:.1} MiB with them \
             open ({:.1} KiB a stream); one change answered 201 in {:.1} ms, heard by the last \
             stream {:.1} ms after it was sent",
            self.streams,
            self.resident_before_kib as f64 / 1024.0,
            self.resident_open_kib as f64 / 1024.0,
            (self.resident_open_kib as f64 - self.resident_before_kib as f64) / self.streams as f64,
            self.answered.as_secs_f64() * 1000.0,
            self.last_heard.as_secs_f64() * 1000.0
        )
    }
}

impl Bench {
    /// `streams` streams of one seeded user on a fresh server, its resident memory before they
    /// open and with them open, and the time for one change (a created task) to reach them all.
    pub(crate) async fn fan_out(&self, streams: u32) -> Result<FanOut> {
        let server = self.start_server(
            self.options.pool,
            "fan-out",
            &[("EVENTS_MAX_STREAMS_PER_USER", streams.to_string())],
        )?;
        let (port, pid) = (server.port, server.pid());
        let user = self.pool[0].0;
        let client = reqwest::Client::new();
        let resident_before_kib = resident_kib(pid)?;
        let mut opened = Vec::with_capacity(streams as usize);
        let mut first = None;
        while opened.len() < streams as usize {
            let batch = OPENED_AT_ONCE.min(streams as usize - opened.len());
            let streams = try_join_all((0..batch).map(|_| async {
                let mut stream = EventStream::open(&client, port, user).await?;
                let version = stream.expect_version().await?;
                Ok::<_, anyhow::Error>((stream, version))
            }))
            .await?;
            for (stream, version) in streams {
                if *first.get_or_insert(version) != version {
                    return Err(anyhow!("the streams opened at different versions"));
                }
                opened.push(stream);
            }
        }
        let first = first.unwrap_or_default();
        let resident_open_kib = resident_kib(pid)?;
        let sent = Instant::now();
        let created = client
            .post(format!("http://127.0.0.1:{port}/users/{user}/tasks"))
            .json(&serde_json::json!({ "title": "Heard by every stream" }))
            .send()
            .await
            .context("POST the change")?;
        let answered = sent.elapsed();
        if created.status() != reqwest::StatusCode::CREATED {
            return Err(anyhow!("the change answers {}", created.status()));
        }
        let heard = try_join_all(opened.iter_mut().map(|stream| async move {
            let version = stream.expect_version().await?;
            if version <= first {
                return Err(anyhow!("a stream heard {version}, not past {first}"));
            }
            Ok(sent.elapsed())
        }))
        .await?;
        Ok(FanOut {
            streams: opened.len(),
            resident_before_kib,
            resident_open_kib,
            answered,
            last_heard: heard.into_iter().max().unwrap_or_default(),
        })
    }
}
