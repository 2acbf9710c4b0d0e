//! The HTTP/1.1 connection loop under the application: a deadline for every request head
//! (slowloris) and for every answer (slow readers), connections that move no byte closed, the
//! bytes held for answers not yet sent bounded, graceful shutdown, and the refusals hyper
//! answers itself counted and logged.

use std::convert::Infallible;
use std::future::Future;
use std::io;
use std::net::SocketAddr;
use std::os::fd::{AsRawFd, RawFd};
use std::pin::Pin;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::{Arc, Mutex};
use std::task::{Context, Poll};
use std::time::{Duration, Instant};

use hyper::body::Buf;
use hyper::server::conn::http1;
use hyper_util::rt::{TokioIo, TokioTimer};
use hyper_util::server::graceful::GracefulShutdown;
use poem::endpoint::BoxEndpoint;
use poem::web::{LocalAddr, RemoteAddr};
use poem::{Addr, Endpoint, IntoResponse};
use tokio::io::{AsyncRead, AsyncWrite, ReadBuf};
use tokio::net::{TcpListener, TcpStream};
use tokio::sync::{watch, Notify};

use crate::api::error::ApiError;

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
    /// A connection whose answer the client has not wholly taken (written to the socket and
    /// acknowledged) within this of its head being ready is closed (a client that reads too
    /// slowly).
    pub response_timeout: Duration,
    /// Past this many bytes held for answers not yet written (every connection's together),
    /// new requests are answered 503 until it drains.
    pub response_buffer_max_bytes: usize,
}

const CONNECTION_ERRORS: &str = "http_connection_errors_total";
const REFUSED_FOR_UNSENT_ANSWERS: &str = "http_requests_refused_response_buffer_full_total";

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
    let unsent = UnsentBytes::default();
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
        let outgoing = Outgoing::new(unsent.clone(), limits.response_timeout, stream.as_raw_fd());
        let io = TokioIo::new(Tracked {
            inner: stream,
            activity: activity.clone(),
            outgoing: outgoing.clone(),
        });
        let service = hyper::service::service_fn({
            let (endpoint, in_flight, outgoing) =
                (endpoint.clone(), in_flight.clone(), outgoing.clone());
            let unsent = unsent.clone();
            move |req: hyper::Request<hyper::body::Incoming>| {
                let (endpoint, outgoing) = (endpoint.clone(), outgoing.clone());
                let buffer_full = unsent.total() > limits.response_buffer_max_bytes;
                // Held until the answer's body has been sent (or dropped).
                let request = in_flight.enter();
                async move {
                    let response = if buffer_full {
                        metrics::counter!(REFUSED_FOR_UNSENT_ANSWERS).increment(1);
                        ApiError::ResponseBufferFull.into_response()
                    } else {
                        let req = poem::Request::from((
                            req,
                            LocalAddr(Addr::SocketAddr(local_addr)),
                            RemoteAddr(Addr::SocketAddr(remote_addr)),
                            poem::http::uri::Scheme::HTTP,
                        ));
                        endpoint.get_response(req).await
                    };
                    let response: hyper::Response<_> = response.into();
                    Ok::<_, Infallible>(response.map(|body| outgoing.answer(body, request)))
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
                _ = outgoing.overdue() => {
                    metrics::counter!(CONNECTION_ERRORS, "reason" => "response_timeout")
                        .increment(1);
                    tracing::debug!(%remote_addr, "closing a connection whose answer was not taken in time");
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

/// The bytes of answers made and not yet written, on every connection of the instance.
#[derive(Clone, Default)]
struct UnsentBytes(Arc<AtomicUsize>);

impl UnsentBytes {
    fn total(&self) -> usize {
        self.0.load(Ordering::Relaxed)
    }

    fn add(&self, bytes: usize) {
        self.0.fetch_add(bytes, Ordering::Relaxed);
    }

    fn release(&self, bytes: usize) {
        self.0.fetch_sub(bytes, Ordering::Relaxed);
    }
}

/// The answer a connection is writing: its bytes not yet written (counted in the instance's
/// `UnsentBytes`) and its deadline.
#[derive(Clone)]
struct Outgoing(Arc<OutgoingState>);

struct OutgoingState {
    unsent: UnsentBytes,
    timeout: Duration,
    /// The connection's socket, open as long as the connection is served.
    socket: RawFd,
    progress: Mutex<Progress>,
}

#[derive(Default)]
struct Progress {
    /// When the last answer must have been taken by the client.
    deadline: Option<Instant>,
    /// Bytes of the body handed to the connection and not yet written.
    handed: usize,
    /// Whether the body has been handed over whole (or dropped).
    body_done: bool,
    /// Whether the answer has been written whole to the socket.
    written_whole: bool,
}

impl Outgoing {
    fn new(unsent: UnsentBytes, timeout: Duration, socket: RawFd) -> Self {
        Self(Arc::new(OutgoingState {
            unsent,
            timeout,
            socket,
            progress: Mutex::default(),
        }))
    }

    fn progress(&self) -> std::sync::MutexGuard<'_, Progress> {
        self.0.progress.lock().expect("not poisoned")
    }

    /// `body` as the answer whose head is ready now: its bytes counted until written, and
    /// its deadline set.
    fn answer<B: hyper::body::Body>(&self, body: B, request: InFlightRequest) -> Answer<B> {
        let hint = body.size_hint();
        let bytes = hint.exact().unwrap_or(hint.lower()) as usize;
        self.0.unsent.add(bytes);
        let mut progress = self.progress();
        // What an earlier answer handed over and has not written yet stays counted.
        *progress = Progress {
            deadline: Some(Instant::now() + self.0.timeout),
            handed: progress.handed,
            ..Progress::default()
        };
        drop(progress);
        Answer {
            body,
            unhanded: bytes,
            outgoing: self.clone(),
            _request: request,
        }
    }

    /// `bytes` of the body handed to the connection to write.
    fn handed(&self, bytes: usize) {
        self.progress().handed += bytes;
    }

    /// The body handed over whole, or dropped: `unhanded` bytes of it never will be.
    fn body_done(&self, unhanded: usize) {
        self.0.unsent.release(unhanded);
        self.progress().body_done = true;
    }

    /// `bytes` written to the socket (a head's few bytes count as the body's).
    fn written(&self, bytes: usize) {
        let mut progress = self.progress();
        let written = bytes.min(progress.handed);
        progress.handed -= written;
        self.0.unsent.release(written);
    }

    /// Everything handed to the connection is written: an answer whose body is done is
    /// written whole.
    fn flushed(&self) {
        let mut progress = self.progress();
        if progress.body_done {
            self.0.unsent.release(std::mem::take(&mut progress.handed));
            progress.written_whole = true;
        }
    }

    /// Resolves once an answer has not been taken by the client by its deadline: not written
    /// whole to the socket, or written but still queued there (the socket's buffers can hold a
    /// whole page that the client takes a few bytes at a time). A body still being made whose
    /// bytes so far are all taken (an event stream) gets a new deadline instead.
    async fn overdue(&self) {
        loop {
            let deadline = self.progress().deadline;
            match deadline {
                Some(due) if due <= Instant::now() => {
                    let mut progress = self.progress();
                    let taken = progress.handed == 0 && unacknowledged(self.0.socket) == 0;
                    if !progress.body_done && taken {
                        // A stream still going (event streams), whose client has taken every
                        // byte of it so far: the client is not the slow one.
                        progress.deadline = Some(Instant::now() + self.0.timeout);
                        continue;
                    }
                    if !progress.written_whole || !taken {
                        return;
                    }
                    if progress.deadline == deadline {
                        progress.deadline = None;
                    }
                }
                Some(due) => tokio::time::sleep_until(due.into()).await,
                None => tokio::time::sleep(self.0.timeout).await,
            }
        }
    }
}

impl Drop for OutgoingState {
    /// The connection ended: what it had not written never will be.
    fn drop(&mut self) {
        let handed = self
            .progress
            .get_mut()
            .map_or(0, |progress| progress.handed);
        self.unsent.release(handed);
    }
}

/// How many bytes written to `socket` its peer has not acknowledged yet (on Linux; elsewhere
/// none are known of).
#[cfg(target_os = "linux")]
fn unacknowledged(socket: RawFd) -> usize {
    let mut queued: libc::c_int = 0;
    // SAFETY: TIOCOUTQ writes one int where `queued` is; on a descriptor closed meanwhile it
    // fails, and nothing is read.
    let outcome = unsafe { libc::ioctl(socket, libc::TIOCOUTQ, &mut queued) };
    if outcome == 0 {
        usize::try_from(queued).unwrap_or(0)
    } else {
        0
    }
}

#[cfg(not(target_os = "linux"))]
fn unacknowledged(_socket: RawFd) -> usize {
    0
}

/// An answer's body, holding its request in flight until it is sent or dropped, its bytes
/// counted until written.
struct Answer<B> {
    body: B,
    /// Bytes of the body counted and not yet handed to the connection.
    unhanded: usize,
    outgoing: Outgoing,
    _request: InFlightRequest,
}

impl<B> Drop for Answer<B> {
    fn drop(&mut self) {
        self.outgoing.body_done(self.unhanded);
    }
}

impl<B: hyper::body::Body + Unpin> hyper::body::Body for Answer<B> {
    type Data = B::Data;
    type Error = B::Error;

    fn poll_frame(
        mut self: Pin<&mut Self>,
        cx: &mut Context<'_>,
    ) -> Poll<Option<Result<hyper::body::Frame<Self::Data>, Self::Error>>> {
        let polled = Pin::new(&mut self.body).poll_frame(cx);
        if let Poll::Ready(Some(Ok(frame))) = &polled {
            if let Some(data) = frame.data_ref() {
                let handed = data.remaining().min(self.unhanded);
                self.unhanded -= handed;
                self.outgoing.handed(handed);
            }
        }
        polled
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

/// A TCP stream that records when a byte last moved, and what its answers have written.
struct Tracked {
    inner: TcpStream,
    activity: Activity,
    outgoing: Outgoing,
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
        if let Poll::Ready(Ok(written @ 1..)) = outcome {
            self.activity.touch();
            self.outgoing.written(written);
        }
        outcome
    }

    fn poll_write_vectored(
        mut self: Pin<&mut Self>,
        cx: &mut Context<'_>,
        bufs: &[io::IoSlice<'_>],
    ) -> Poll<io::Result<usize>> {
        let outcome = Pin::new(&mut self.inner).poll_write_vectored(cx, bufs);
        if let Poll::Ready(Ok(written @ 1..)) = outcome {
            self.activity.touch();
            self.outgoing.written(written);
        }
        outcome
    }

    fn is_write_vectored(&self) -> bool {
        self.inner.is_write_vectored()
    }

    fn poll_flush(mut self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<io::Result<()>> {
        // hyper flushes the socket once its own buffer is written out.
        let outcome = Pin::new(&mut self.inner).poll_flush(cx);
        if let Poll::Ready(Ok(())) = outcome {
            self.outgoing.flushed();
        }
        outcome
    }

    fn poll_shutdown(mut self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<io::Result<()>> {
        Pin::new(&mut self.inner).poll_shutdown(cx)
    }
}
