//! The HTTP/1.1 connection loop under the application: a deadline for every request head
//! (slowloris), connections that move no byte closed, graceful shutdown, and the refusals hyper
//! answers itself counted and logged.

use std::convert::Infallible;
use std::future::Future;
use std::io;
use std::net::SocketAddr;
use std::pin::Pin;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::{Arc, Mutex};
use std::task::{Context, Poll};
use std::time::{Duration, Instant};

use hyper::server::conn::http1;
use hyper_util::rt::{TokioIo, TokioTimer};
use hyper_util::server::graceful::GracefulShutdown;
use poem::endpoint::BoxEndpoint;
use poem::web::{LocalAddr, RemoteAddr};
use poem::{Addr, Endpoint};
use tokio::io::{AsyncRead, AsyncWrite, ReadBuf};
use tokio::net::{TcpListener, TcpStream};
use tokio::sync::{watch, Notify};

/// How connections are kept and ended.
#[derive(Debug, Clone, Copy)]
pub struct ConnectionLimits {
    /// A connection whose next request head has not wholly arrived within this is closed (an
    /// idle keep-alive connection waits for its next head, so it is closed then too).
    pub head_timeout: Duration,
    /// A connection on which no byte moved either way for this long is closed (a client that
    /// stopped reading its answer).
    pub idle_timeout: Duration,
    /// How long in-flight requests may take to finish once shutdown starts.
    pub shutdown_grace: Duration,
}

const CONNECTION_ERRORS: &str = "http_connection_errors_total";

/// Serves `endpoint` on `listener` until `shutdown` resolves, then stops accepting and lets
/// in-flight requests finish for up to the grace period.
pub async fn serve(
    listener: TcpListener,
    endpoint: BoxEndpoint<'static>,
    limits: ConnectionLimits,
    shutdown: impl Future<Output = ()> + Send,
) -> io::Result<()> {
    let endpoint: Arc<BoxEndpoint<'static>> = Arc::new(endpoint);
    let local_addr = listener.local_addr()?;
    let mut builder = http1::Builder::new();
    builder
        .timer(TokioTimer::new())
        .header_read_timeout(limits.head_timeout);
    let graceful = GracefulShutdown::new();
    let (stop, stopping) = watch::channel(false);
    tokio::pin!(shutdown);
    loop {
        let (stream, remote_addr) = tokio::select! {
            accepted = listener.accept() => match accepted {
                Ok(accepted) => accepted,
                Err(err) => {
                    // Out of descriptors, say: wait a moment instead of spinning.
                    tracing::warn!(error = %err, "cannot accept a connection");
                    tokio::time::sleep(Duration::from_millis(50)).await;
                    continue;
                }
            },
            _ = &mut shutdown => break,
        };
        let _ = stream.set_nodelay(true);
        let activity = Activity::new();
        let in_flight = InFlight::default();
        let io = TokioIo::new(Tracked {
            inner: stream,
            activity: activity.clone(),
        });
        let service = hyper::service::service_fn({
            let (endpoint, in_flight) = (endpoint.clone(), in_flight.clone());
            move |req: hyper::Request<hyper::body::Incoming>| {
                let endpoint = endpoint.clone();
                // Held until the answer's body has been sent (or dropped).
                let request = in_flight.enter();
                async move {
                    let req = poem::Request::from((
                        req,
                        LocalAddr(Addr::SocketAddr(local_addr)),
                        RemoteAddr(Addr::SocketAddr(remote_addr)),
                        poem::http::uri::Scheme::HTTP,
                    ));
                    let response: hyper::Response<_> = endpoint.get_response(req).await.into();
                    Ok::<_, Infallible>(response.map(|body| Answer {
                        body,
                        _request: request,
                    }))
                }
            }
        });
        let connection = graceful.watch(builder.serve_connection(io, service));
        let mut stopping = stopping.clone();
        tokio::spawn(async move {
            tokio::select! {
                outcome = connection => {
                    if let Err(err) = outcome {
                        connection_error(remote_addr, &err);
                    }
                }
                _ = activity.idle_for(limits.idle_timeout) => {
                    metrics::counter!(CONNECTION_ERRORS, "reason" => "idle").increment(1);
                    tracing::debug!(%remote_addr, "closing a connection that moved nothing");
                }
                // Shutting down, a connection between requests (or inside a request head) is
                // closed at once; one serving a request finishes it first.
                _ = async {
                    let _ = stopping.wait_for(|stop| *stop).await;
                    in_flight.none_left().await;
                } => {}
            }
        });
    }
    drop(listener);
    let _ = stop.send(true);
    tokio::select! {
        _ = graceful.shutdown() => {}
        _ = tokio::time::sleep(limits.shutdown_grace) => {
            tracing::warn!("the shutdown grace period passed; closing the connections left");
        }
    }
    Ok(())
}

/// Counts and logs a connection hyper ended with an error; the answers hyper gives itself
/// (400 for an unparsable head, 431 for headers over its limit, 414 for a URI over ~64 KiB)
/// are among them.
fn connection_error(remote_addr: SocketAddr, err: &hyper::Error) {
    let reason = if err.is_timeout() {
        "head_timeout"
    } else if err.is_parse_too_large() {
        "head_too_large"
    } else if err.is_parse() {
        "unparsable_head"
    } else if err.is_incomplete_message() {
        "incomplete_message"
    } else {
        "other"
    };
    metrics::counter!(CONNECTION_ERRORS, "reason" => reason).increment(1);
    match reason {
        "incomplete_message" | "other" => {
            tracing::debug!(%remote_addr, reason, error = %err, "connection ended")
        }
        _ => tracing::info!(
            target: "task_api::connection",
            %remote_addr,
            reason,
            error = %err,
            "connection refused by the HTTP layer"
        ),
    }
}

/// The requests of one connection whose answers are not sent yet.
#[derive(Clone, Default)]
struct InFlight(Arc<(AtomicUsize, Notify)>);

/// One request in flight, until dropped.
struct InFlightRequest(InFlight);

impl InFlight {
    fn enter(&self) -> InFlightRequest {
        self.0 .0.fetch_add(1, Ordering::SeqCst);
        InFlightRequest(self.clone())
    }

    /// Resolves once no request is in flight.
    async fn none_left(&self) {
        loop {
            let changed = self.0 .1.notified();
            tokio::pin!(changed);
            changed.as_mut().enable();
            if self.0 .0.load(Ordering::SeqCst) == 0 {
                return;
            }
            changed.await;
        }
    }
}

impl Drop for InFlightRequest {
    fn drop(&mut self) {
        self.0 .0 .0.fetch_sub(1, Ordering::SeqCst);
        self.0 .0 .1.notify_waiters();
    }
}

/// An answer's body, holding its request in flight until it is sent or dropped.
struct Answer<B> {
    body: B,
    _request: InFlightRequest,
}

impl<B: hyper::body::Body + Unpin> hyper::body::Body for Answer<B> {
    type Data = B::Data;
    type Error = B::Error;

    fn poll_frame(
        mut self: Pin<&mut Self>,
        cx: &mut Context<'_>,
    ) -> Poll<Option<Result<hyper::body::Frame<Self::Data>, Self::Error>>> {
        Pin::new(&mut self.body).poll_frame(cx)
    }

    fn is_end_stream(&self) -> bool {
        self.body.is_end_stream()
    }

    fn size_hint(&self) -> hyper::body::SizeHint {
        self.body.size_hint()
    }
}

/// When a byte last moved on a connection.
#[derive(Clone)]
struct Activity(Arc<Mutex<Instant>>);

impl Activity {
    fn new() -> Self {
        Self(Arc::new(Mutex::new(Instant::now())))
    }

    fn touch(&self) {
        *self.0.lock().expect("not poisoned") = Instant::now();
    }

    fn last(&self) -> Instant {
        *self.0.lock().expect("not poisoned")
    }

    /// Resolves once nothing has moved for `timeout`.
    async fn idle_for(&self, timeout: Duration) {
        loop {
            let deadline = self.last() + timeout;
            if deadline <= Instant::now() {
                return;
            }
            tokio::time::sleep_until(deadline.into()).await;
        }
    }
}

/// A TCP stream that records when a byte last moved.
struct Tracked {
    inner: TcpStream,
    activity: Activity,
}

impl AsyncRead for Tracked {
    fn poll_read(
        mut self: Pin<&mut Self>,
        cx: &mut Context<'_>,
        buf: &mut ReadBuf<'_>,
    ) -> Poll<io::Result<()>> {
        let before = buf.filled().len();
        let outcome = Pin::new(&mut self.inner).poll_read(cx, buf);
        if buf.filled().len() > before {
            self.activity.touch();
        }
        outcome
    }
}

impl AsyncWrite for Tracked {
    fn poll_write(
        mut self: Pin<&mut Self>,
        cx: &mut Context<'_>,
        buf: &[u8],
    ) -> Poll<io::Result<usize>> {
        let outcome = Pin::new(&mut self.inner).poll_write(cx, buf);
        if matches!(outcome, Poll::Ready(Ok(n)) if n > 0) {
            self.activity.touch();
        }
        outcome
    }

    fn poll_write_vectored(
        mut self: Pin<&mut Self>,
        cx: &mut Context<'_>,
        bufs: &[io::IoSlice<'_>],
    ) -> Poll<io::Result<usize>> {
        let outcome = Pin::new(&mut self.inner).poll_write_vectored(cx, bufs);
        if matches!(outcome, Poll::Ready(Ok(n)) if n > 0) {
            self.activity.touch();
        }
        outcome
    }

    fn is_write_vectored(&self) -> bool {
        self.inner.is_write_vectored()
    }

    fn poll_flush(mut self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<io::Result<()>> {
        Pin::new(&mut self.inner).poll_flush(cx)
    }

    fn poll_shutdown(mut self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<io::Result<()>> {
        Pin::new(&mut self.inner).poll_shutdown(cx)
    }
}
