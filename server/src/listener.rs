//! The accept loop of the dashboard and `/api/v1` listener, with the
//! limits a server exposed to the internet needs (Alumia is often run
//! without a proxy in front):
//!
//! - a cap on open connections: past it, new ones wait in the kernel's
//!   backlog instead of exhausting file descriptors;
//! - a header timeout: a request head must arrive whole within it,
//!   counted from its first byte;
//! - a keep-alive idle timeout: a connection between requests is closed
//!   after it; so is one whose client stops reading an answer;
//! - a body timeout: a request body that stalls that long answers 408
//!   (the `REQUEST_TIMEOUT` envelope on `/api/v1`);
//! - a graceful shutdown that stops accepting, lets answers in flight
//!   finish and closes idle connections, up to a grace period.
//!
//! No timeout bounds how long an answer takes to stream: event streams
//! stay open as long as their client reads them.
//!
//! hyper's own header timer is off: it starts when a connection begins
//! waiting for a request, so it would also close idle kept-alive
//! connections at the header timeout. Here the connection's I/O is
//! watched instead, and its phase (waiting, reading a head, serving)
//! comes from the service, which sees each request start and its answer
//! end.

use std::convert::Infallible;
use std::future::Future;
use std::io;
use std::net::SocketAddr;
use std::pin::Pin;
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{Arc, Mutex};
use std::task::{Context, Poll, Waker};
use std::time::Duration;

use axum::body::Body;
use axum::extract::connect_info::ConnectInfo;
use axum::response::{IntoResponse, Response};
use axum::Router;
use bytes::Bytes;
use http::header::CONNECTION;
use http::{HeaderValue, Request, StatusCode};
use http_body::{Body as HttpBody, Frame, SizeHint};
use hyper::body::Incoming;
use hyper_util::rt::TokioIo;
use hyper_util::server::graceful::GracefulShutdown;
use tokio::io::{AsyncRead, AsyncWrite, ReadBuf};
use tokio::net::{TcpListener, TcpStream};
use tokio::sync::Semaphore;
use tokio::time::{sleep_until, Instant, Sleep};
use tower::ServiceExt;

use app::model::{AppError, ErrorCode};

use crate::api::envelope::ApiError;

/// The listener's limits (`alumia --help`: `ALUMIA_HEADER_TIMEOUT_SECS`,
/// `ALUMIA_BODY_TIMEOUT_SECS`, `ALUMIA_IDLE_TIMEOUT_SECS`,
/// `ALUMIA_MAX_CONNECTIONS`, `ALUMIA_SHUTDOWN_GRACE_SECS`).
#[derive(Clone, Copy, Debug)]
pub struct Limits {
    pub header_timeout: Duration,
    pub body_timeout: Duration,
    pub idle_timeout: Duration,
    pub max_connections: usize,
    pub shutdown_grace: Duration,
}

impl Default for Limits {
    fn default() -> Limits {
        Limits {
            header_timeout: Duration::from_secs(10),
            body_timeout: Duration::from_secs(30),
            idle_timeout: Duration::from_secs(60),
            max_connections: 10_000,
            shutdown_grace: Duration::from_secs(30),
        }
    }
}

/// Where a connection is between requests, as the service reports it.
#[derive(Debug)]
enum Phase {
    /// No request under way since this instant.
    Idle(Instant),
    /// The first bytes of a request head arrived at this instant.
    Head(Instant),
    /// This many requests are being served (answers not yet finished).
    Serving(usize),
}

/// A connection's phase, shared by its socket and its service.
#[derive(Debug)]
struct State {
    phase: Phase,
    /// The connection task, parked on a read. When an answer ends it is
    /// woken, so that its next read starts the idle deadline: hyper does
    /// not read again on its own, and the read it parked on had the
    /// deadline of an earlier phase (or none).
    parked_reader: Option<Waker>,
}

type Shared = Arc<Mutex<State>>;

fn lock(state: &Shared) -> std::sync::MutexGuard<'_, State> {
    state.lock().unwrap_or_else(|poisoned| poisoned.into_inner())
}

/// A connection's socket, closed when its phase's deadline passes.
struct Watched {
    io: TcpStream,
    phase: Shared,
    limits: Limits,
    read_timer: Pin<Box<Sleep>>,
    write_timer: Pin<Box<Sleep>>,
    /// Since when a write has been waiting for the client to read.
    write_blocked_since: Option<Instant>,
}

fn timed_out(what: &str) -> io::Error {
    io::Error::new(io::ErrorKind::TimedOut, what.to_string())
}

impl Watched {
    fn new(io: TcpStream, phase: Shared, limits: Limits) -> Watched {
        let far = Instant::now() + Duration::from_secs(86_400);
        Watched {
            io,
            phase,
            limits,
            read_timer: Box::pin(sleep_until(far)),
            write_timer: Box::pin(sleep_until(far)),
            write_blocked_since: None,
        }
    }

    /// When waiting for bytes must end, if it must: a head is due
    /// `header_timeout` after its first byte, the next request
    /// `idle_timeout` after the last answer. While serving, reading is
    /// the body's business (`DeadlineBody`).
    fn read_deadline(&self) -> Option<(Instant, &'static str)> {
        match lock(&self.phase).phase {
            Phase::Idle(since) => Some((since + self.limits.idle_timeout, "idle connection")),
            Phase::Head(since) => Some((since + self.limits.header_timeout, "request head too slow")),
            Phase::Serving(_) => None,
        }
    }

    fn park_reader(&self, waker: &Waker) {
        let mut state = lock(&self.phase);
        if !state.parked_reader.as_ref().is_some_and(|w| w.will_wake(waker)) {
            state.parked_reader = Some(waker.clone());
        }
    }

    /// Bytes arrived: on an idle connection, a request head has begun.
    fn bytes_read(&self) {
        let mut state = lock(&self.phase);
        if let Phase::Idle(_) = state.phase {
            state.phase = Phase::Head(Instant::now());
        }
    }
}

impl AsyncRead for Watched {
    fn poll_read(mut self: Pin<&mut Self>, cx: &mut Context<'_>, buf: &mut ReadBuf<'_>) -> Poll<io::Result<()>> {
        let before = buf.filled().len();
        let this = &mut *self;
        match Pin::new(&mut this.io).poll_read(cx, buf) {
            Poll::Ready(Ok(())) => {
                if buf.filled().len() > before {
                    this.bytes_read();
                    // A head trickling in byte by byte never waits, so
                    // its deadline is checked on arrival too.
                    if let Some((deadline, what)) = this.read_deadline() {
                        if Instant::now() >= deadline {
                            return Poll::Ready(Err(timed_out(what)));
                        }
                    }
                }
                Poll::Ready(Ok(()))
            }
            Poll::Ready(Err(e)) => Poll::Ready(Err(e)),
            Poll::Pending => {
                this.park_reader(cx.waker());
                let Some((deadline, what)) = this.read_deadline() else {
                    return Poll::Pending;
                };
                if this.read_timer.deadline() != deadline {
                    this.read_timer.as_mut().reset(deadline);
                }
                match this.read_timer.as_mut().poll(cx) {
                    Poll::Ready(()) => Poll::Ready(Err(timed_out(what))),
                    Poll::Pending => Poll::Pending,
                }
            }
        }
    }
}

impl Watched {
    /// A write waiting on a client that does not read gives up after the
    /// idle timeout.
    fn poll_blocked_write(&mut self, cx: &mut Context<'_>) -> Poll<io::Result<usize>> {
        let since = *self.write_blocked_since.get_or_insert_with(Instant::now);
        let deadline = since + self.limits.idle_timeout;
        if self.write_timer.deadline() != deadline {
            self.write_timer.as_mut().reset(deadline);
        }
        match self.write_timer.as_mut().poll(cx) {
            Poll::Ready(()) => Poll::Ready(Err(timed_out("client stopped reading"))),
            Poll::Pending => Poll::Pending,
        }
    }

    fn wrote<T>(&mut self, result: Poll<io::Result<T>>) -> Poll<io::Result<T>> {
        if result.is_ready() {
            self.write_blocked_since = None;
        }
        result
    }
}

impl AsyncWrite for Watched {
    fn poll_write(mut self: Pin<&mut Self>, cx: &mut Context<'_>, data: &[u8]) -> Poll<io::Result<usize>> {
        let this = &mut *self;
        match Pin::new(&mut this.io).poll_write(cx, data) {
            Poll::Pending => this.poll_blocked_write(cx),
            ready => this.wrote(ready),
        }
    }

    fn poll_write_vectored(
        mut self: Pin<&mut Self>,
        cx: &mut Context<'_>,
        bufs: &[io::IoSlice<'_>],
    ) -> Poll<io::Result<usize>> {
        let this = &mut *self;
        match Pin::new(&mut this.io).poll_write_vectored(cx, bufs) {
            Poll::Pending => this.poll_blocked_write(cx),
            ready => this.wrote(ready),
        }
    }

    fn is_write_vectored(&self) -> bool {
        self.io.is_write_vectored()
    }

    fn poll_flush(mut self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<io::Result<()>> {
        Pin::new(&mut self.io).poll_flush(cx)
    }

    fn poll_shutdown(mut self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<io::Result<()>> {
        Pin::new(&mut self.io).poll_shutdown(cx)
    }
}

/// A request body that fails once no bytes arrived for the body timeout,
/// and says so through `stalled` (the service then answers 408, whatever
/// the handler made of the failed read).
struct DeadlineBody {
    inner: Incoming,
    timeout: Duration,
    timer: Pin<Box<Sleep>>,
    stalled: Arc<AtomicBool>,
}

#[derive(Debug)]
struct BodyStalled;

impl std::fmt::Display for BodyStalled {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("the request body stalled")
    }
}

impl std::error::Error for BodyStalled {}

impl HttpBody for DeadlineBody {
    type Data = Bytes;
    type Error = Box<dyn std::error::Error + Send + Sync>;

    fn poll_frame(mut self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<Option<Result<Frame<Bytes>, Self::Error>>> {
        let this = &mut *self;
        match Pin::new(&mut this.inner).poll_frame(cx) {
            Poll::Ready(frame) => {
                this.timer.as_mut().reset(Instant::now() + this.timeout);
                Poll::Ready(frame.map(|f| f.map_err(Into::into)))
            }
            Poll::Pending => match this.timer.as_mut().poll(cx) {
                Poll::Ready(()) => {
                    this.stalled.store(true, Ordering::Relaxed);
                    Poll::Ready(Some(Err(Box::new(BodyStalled))))
                }
                Poll::Pending => Poll::Pending,
            },
        }
    }

    fn is_end_stream(&self) -> bool {
        self.inner.is_end_stream()
    }

    fn size_hint(&self) -> SizeHint {
        self.inner.size_hint()
    }
}

/// An answer's body; when it is done (or dropped), the request it
/// answers is over and the connection may go idle.
struct AnswerBody {
    inner: Body,
    phase: Shared,
}

impl Drop for AnswerBody {
    fn drop(&mut self) {
        let mut state = lock(&self.phase);
        state.phase = match state.phase {
            Phase::Serving(n) if n > 1 => Phase::Serving(n - 1),
            _ => Phase::Idle(Instant::now()),
        };
        if matches!(state.phase, Phase::Idle(_)) {
            if let Some(reader) = state.parked_reader.take() {
                reader.wake();
            }
        }
    }
}

impl HttpBody for AnswerBody {
    type Data = Bytes;
    type Error = axum::Error;

    fn poll_frame(mut self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<Option<Result<Frame<Bytes>, Self::Error>>> {
        Pin::new(&mut self.inner).poll_frame(cx)
    }

    fn is_end_stream(&self) -> bool {
        self.inner.is_end_stream()
    }

    fn size_hint(&self) -> SizeHint {
        self.inner.size_hint()
    }
}

/// 408 for a body that stalled: the envelope on `/api/v1`, text
/// elsewhere. The connection closes after it.
fn request_timeout(path: &str) -> Response {
    let mut response = if path.starts_with("/api/") {
        ApiError(AppError::new(ErrorCode::RequestTimeout, "The request body stopped arriving; send it again"))
            .into_response()
    } else {
        (StatusCode::REQUEST_TIMEOUT, "The request body stopped arriving; send it again.").into_response()
    };
    response.headers_mut().insert(CONNECTION, HeaderValue::from_static("close"));
    response
}

async fn answer(
    router: Router,
    req: Request<Incoming>,
    peer: SocketAddr,
    phase: Shared,
    limits: Limits,
) -> Response<AnswerBody> {
    {
        let mut state = lock(&phase);
        state.phase = match state.phase {
            Phase::Serving(n) => Phase::Serving(n + 1),
            _ => Phase::Serving(1),
        };
    }
    let stalled = Arc::new(AtomicBool::new(false));
    let (mut parts, body) = req.into_parts();
    parts.extensions.insert(ConnectInfo(peer));
    let path = parts.uri.path().to_string();
    let body = DeadlineBody {
        inner: body,
        timeout: limits.body_timeout,
        timer: Box::pin(sleep_until(Instant::now() + limits.body_timeout)),
        stalled: stalled.clone(),
    };
    let response = match router.oneshot(Request::from_parts(parts, Body::new(body))).await {
        Ok(response) => response,
        Err(never) => match never {},
    };
    let response = if stalled.load(Ordering::Relaxed) { request_timeout(&path) } else { response };
    response.map(|inner| AnswerBody { inner, phase })
}

fn serve_connection(
    router: Router,
    stream: TcpStream,
    peer: SocketAddr,
    limits: Limits,
    graceful: &GracefulShutdown,
) -> impl Future<Output = ()> + Send + 'static {
    let _ = stream.set_nodelay(true);
    let phase: Shared = Arc::new(Mutex::new(State { phase: Phase::Idle(Instant::now()), parked_reader: None }));
    let io = TokioIo::new(Watched::new(stream, phase.clone(), limits));
    let service = hyper::service::service_fn(move |req: Request<Incoming>| {
        let (router, phase) = (router.clone(), phase.clone());
        async move { Ok::<_, Infallible>(answer(router, req, peer, phase, limits).await) }
    });
    let mut http = hyper::server::conn::http1::Builder::new();
    http.header_read_timeout(None);
    // HTTP/1.1 only: browsers speak HTTP/2 only over TLS, which a proxy
    // in front terminates.
    let connection = graceful.watch(http.serve_connection(io, service));
    async move {
        if let Err(e) = connection.await {
            tracing::debug!(%peer, error = %e, "connection closed");
        }
    }
}

/// Serves `router` on `listener` until `shutdown` resolves, then drains.
pub async fn serve(
    router: Router,
    listener: TcpListener,
    limits: Limits,
    shutdown: impl Future<Output = ()> + Send + 'static,
) -> io::Result<()> {
    let slots = Arc::new(Semaphore::new(limits.max_connections.max(1)));
    let graceful = GracefulShutdown::new();
    tokio::pin!(shutdown);
    loop {
        // At the cap, stop accepting: new connections wait in the backlog.
        let slot = tokio::select! {
            slot = slots.clone().acquire_owned() => slot.expect("the semaphore is never closed"),
            () = &mut shutdown => break,
        };
        let accepted = tokio::select! {
            accepted = listener.accept() => accepted,
            () = &mut shutdown => break,
        };
        let (stream, peer) = match accepted {
            Ok(accepted) => accepted,
            Err(e) => {
                // Out of file descriptors, or a connection reset before it
                // was accepted: wait a moment rather than spin.
                tracing::warn!(error = %e, "accept failed");
                tokio::time::sleep(Duration::from_millis(50)).await;
                continue;
            }
        };
        let connection = serve_connection(router.clone(), stream, peer, limits, &graceful);
        tokio::spawn(async move {
            connection.await;
            drop(slot);
        });
    }
    drop(listener);
    tracing::info!("shutting down: draining open connections");
    tokio::select! {
        () = graceful.shutdown() => tracing::info!("all connections closed"),
        () = tokio::time::sleep(limits.shutdown_grace) => {
            tracing::warn!(grace = ?limits.shutdown_grace, "connections still open after the grace period; closing them");
        }
    }
    Ok(())
}
