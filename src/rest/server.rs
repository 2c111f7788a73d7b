//! Serving a router on a TCP listener with every limit a server facing
//! hostile clients needs: timeouts on headers, bodies, whole exchanges and
//! idle connections; a cap on connections; a cap on the request body bytes
//! held across all connections; HTTP/2 limits per connection.
//!
//! [`Server`] serves any `axum::Router` (the [`Gateway`](super::gateway::Gateway)'s,
//! the emulator's) over HTTP/1.1 and HTTP/2 cleartext on one port. Every
//! limit is in [`Limits`], with defaults meant for a production gateway;
//! what each does at its limit is said on its field.

use std::collections::HashMap;
use std::convert::Infallible;
use std::future::Future;
use std::pin::{Pin, pin};
use std::sync::atomic::{AtomicU64, AtomicUsize, Ordering};
use std::sync::{Arc, Mutex, PoisonError};
use std::task::{Context, Poll, ready};
use std::time::Duration;

use axum::body::Body;
use axum::response::Response;
use bytes::Bytes;
use http_body::{Body as _, Frame, SizeHint};
use http_body_util::BodyExt;
use hyper::body::Incoming;
use hyper_util::rt::{TokioExecutor, TokioIo, TokioTimer};
use hyper_util::server::conn::auto;
use tokio::net::{TcpListener, TcpStream};
use tokio::sync::{Notify, Semaphore, watch};
use tokio::time::{Instant, Sleep};
use tower::ServiceExt;

use super::call::Abort;
use super::error::RestError;
use super::error::{BodyError, error_response};
use crate::google::rpc::{Code, Status};

/// The limits a [`Server`] holds connections and requests to.
///
/// ```
/// use std::time::Duration;
/// use cloud_report_proto::rest::Limits;
///
/// let mut limits = Limits::default();
/// limits.idle_timeout = Duration::from_secs(30);
/// limits.max_connections = 200;
/// assert_eq!(limits.max_body_bytes_in_flight, 256 << 20);
/// ```
#[derive(Clone, Debug, PartialEq, Eq)]
#[non_exhaustive]
pub struct Limits {
    /// How long a new connection may take to send its first request's
    /// headers, and an HTTP/1.1 connection each request's headers (10 s).
    /// Past it the connection is closed.
    pub header_read_timeout: Duration,
    /// How long a connection may stay with no request in flight (60 s).
    /// Past it the connection is closed (HTTP/2: GOAWAY first).
    pub idle_timeout: Duration,
    /// How long a request body may take to arrive whole, from its headers
    /// (30 s). Past it the request fails: REST 408, gRPC DEADLINE_EXCEEDED.
    pub body_timeout: Duration,
    /// How long a whole exchange may take, from the request's headers to the
    /// answer's last byte (60 s); `None` for no limit (long streaming calls).
    /// Past it a request not yet answered gets REST 504 or gRPC
    /// DEADLINE_EXCEEDED, and an answer still being sent is cut off.
    pub request_timeout: Option<Duration>,
    /// The most connections open at once (1,000). A connection past it
    /// closes the connection idle the longest; when none is idle, it is
    /// answered 503 (gRPC UNAVAILABLE) and closed. A listener out of file
    /// descriptors closes idle connections the same way.
    pub max_connections: usize,
    /// The most request body bytes held at once across all connections
    /// (256 MiB), counted from their arrival until the answer is sent. A
    /// body that would pass it fails: REST 503, gRPC UNAVAILABLE. The last
    /// eighth is kept for bodies of at most 64 KiB, so small requests are
    /// still served while large ones fill the rest.
    pub max_body_bytes_in_flight: usize,
    /// The largest request header block (64 KiB): HTTP/1.1 431, HTTP/2 a
    /// reset connection.
    pub max_header_bytes: u32,
    /// The most HTTP/2 streams open at once on one connection (100); more
    /// are refused (REFUSED_STREAM).
    pub http2_max_concurrent_streams: u32,
    /// The HTTP/2 flow-control window of each stream (1 MiB) and of each
    /// connection (2 MiB): what a client may send before the server reads.
    pub http2_stream_window: u32,
    /// See [`http2_stream_window`](Self::http2_stream_window).
    pub http2_connection_window: u32,
    /// The most bytes an HTTP/2 stream buffers for sending (1 MiB).
    pub http2_max_send_buffer: usize,
}

impl Default for Limits {
    fn default() -> Self {
        Self {
            header_read_timeout: Duration::from_secs(10),
            idle_timeout: Duration::from_secs(60),
            body_timeout: Duration::from_secs(30),
            request_timeout: Some(Duration::from_secs(60)),
            max_connections: 1_000,
            max_body_bytes_in_flight: 256 << 20,
            max_header_bytes: 64 << 10,
            http2_max_concurrent_streams: 100,
            http2_stream_window: 1 << 20,
            http2_connection_window: 2 << 20,
            http2_max_send_buffer: 1 << 20,
        }
    }
}

/// A body of at most this many bytes may use the last eighth of
/// [`Limits::max_body_bytes_in_flight`].
const SMALL_BODY_BYTES: usize = 64 << 10;
/// How long a connection that is being closed may take to finish.
const CLOSE_GRACE: Duration = Duration::from_secs(1);
/// How many connections past the cap may be answered 503 at once; more are
/// closed without an answer.
const MAX_REFUSING: usize = 64;
/// How long answering a connection past the cap may take.
const REFUSAL_TIMEOUT: Duration = Duration::from_secs(2);
/// An HTTP/1.1 request answered before its body was read (a refused token,
/// an unknown route): the rest of its body, when at most this many bytes, is
/// read and dropped before the answer so the connection carries the next
/// request. A longer one, or one slower than [`UNREAD_BODY_TIME`], gets
/// `Connection: close` on its answer.
const UNREAD_BODY_BYTES: u64 = 64 << 10;
/// How long reading the rest of an unread body may take.
const UNREAD_BODY_TIME: Duration = Duration::from_secs(1);

/// Serves an `axum::Router` (the [`Gateway`](super::gateway::Gateway)'s, the
/// emulator's) over HTTP/1.1 and HTTP/2 cleartext on one port, holding every
/// connection and request to [`Limits`]: timeouts on headers, bodies, whole
/// exchanges and idle connections; a cap on connections that closes the
/// longest idle one rather than locking clients out; a cap on the request
/// body bytes held across all connections; HTTP/2 limits per connection.
///
/// ```no_run
/// use cloud_report_proto::rest::{Gateway, Limits, Server};
/// # async fn run(gateway: Gateway) -> std::io::Result<()> {
/// let listener = tokio::net::TcpListener::bind("127.0.0.1:8080").await?;
/// Server::new(gateway.into_router())
///     .limits(Limits::default())
///     .serve_with_shutdown(listener, async {
///         let _ = tokio::signal::ctrl_c().await;
///     })
///     .await
/// # }
/// ```
#[derive(Debug)]
pub struct Server {
    router: axum::Router,
    limits: Limits,
    tls: Option<Arc<rustls::ServerConfig>>,
}

impl Server {
    /// A server of this router with the default [`Limits`].
    pub fn new(router: axum::Router) -> Self {
        Self {
            router,
            limits: Limits::default(),
            tls: None,
        }
    }

    /// Serves HTTPS (and gRPC over TLS) with this identity: rustls with the
    /// ring provider, ALPN `h2` and `http/1.1`. The handshake must end
    /// within [`Limits::header_read_timeout`].
    ///
    /// # Errors
    ///
    /// When rustls refuses the certificate and key.
    pub fn tls(mut self, identity: &super::tls::TlsIdentity) -> Result<Self, super::tls::TlsError> {
        self.tls = Some(identity.server_config()?);
        Ok(self)
    }

    /// Sets the limits.
    #[must_use]
    pub fn limits(mut self, limits: Limits) -> Self {
        self.limits = limits;
        self
    }

    /// Serves until the task is dropped.
    ///
    /// # Errors
    ///
    /// None at present: a failed accept is waited out (out of file
    /// descriptors, the connection idle the longest is closed first), as
    /// `axum::serve` does. The result keeps the signature of `axum::serve`.
    pub async fn serve(self, listener: TcpListener) -> std::io::Result<()> {
        self.serve_with_shutdown(listener, std::future::pending())
            .await
    }

    /// Serves until `signal` completes, then stops accepting, lets the
    /// requests in flight finish (within [`Limits::request_timeout`]) and
    /// returns when every connection is closed.
    ///
    /// # Errors
    ///
    /// As [`serve`](Self::serve).
    pub async fn serve_with_shutdown(
        self,
        listener: TcpListener,
        signal: impl Future<Output = ()> + Send,
    ) -> std::io::Result<()> {
        let shared = Arc::new(Shared::new(self.limits));
        let (stop_tx, stop_rx) = watch::channel(false);
        let mut signal = pin!(signal);
        loop {
            let accepted = tokio::select! {
                accepted = listener.accept() => accepted,
                () = &mut signal => break,
            };
            match accepted {
                Ok((stream, _)) => {
                    let _ = stream.set_nodelay(true);
                    match shared.admit() {
                        Some((id, connection)) => {
                            let task = ConnectionTask {
                                shared: shared.clone(),
                                router: self.router.clone(),
                                id,
                                connection,
                                stop: stop_rx.clone(),
                            };
                            match &self.tls {
                                Some(config) => {
                                    let acceptor = tokio_rustls::TlsAcceptor::from(config.clone());
                                    tokio::spawn(task.handshake(acceptor, stream));
                                }
                                None => {
                                    tokio::spawn(task.run(stream));
                                }
                            }
                        }
                        None => shared.refuse(stream),
                    }
                }
                Err(error) if is_connection_error(&error) => {}
                Err(_) => {
                    // Most likely out of file descriptors: make room by
                    // closing the connection idle the longest, then retry.
                    shared.evict_idle();
                    tokio::time::sleep(Duration::from_millis(10)).await;
                }
            }
        }
        drop(listener);
        let _ = stop_tx.send(true);
        // Each connection task holds a receiver until it ends.
        drop(stop_rx);
        stop_tx.closed().await;
        Ok(())
    }
}

fn is_connection_error(error: &std::io::Error) -> bool {
    use std::io::ErrorKind::{ConnectionAborted, ConnectionRefused, ConnectionReset};
    matches!(
        error.kind(),
        ConnectionAborted | ConnectionRefused | ConnectionReset
    )
}

/// What every connection of a server shares.
struct Shared {
    limits: Limits,
    builder: auto::Builder<TokioExecutor>,
    epoch: Instant,
    next_id: AtomicU64,
    connections: Mutex<HashMap<u64, Arc<Connection>>>,
    body_bytes: AtomicUsize,
    refusing: Arc<Semaphore>,
}

/// What a connection's task and its requests share.
struct Connection {
    in_flight: AtomicUsize,
    /// Milliseconds since the server's epoch when a request last began or
    /// ended, or the connection was accepted.
    last_active: AtomicU64,
    /// Whether any request has begun.
    served: std::sync::atomic::AtomicBool,
    /// Wakes the task to close the connection at once.
    evict: Notify,
    /// Wakes the task to drop the connection whatever is in flight (a
    /// service asked for [`Abort::Close`]).
    abort: Notify,
}

impl Shared {
    fn new(limits: Limits) -> Self {
        let mut builder = auto::Builder::new(TokioExecutor::new());
        builder
            .http1()
            .timer(TokioTimer::new())
            .header_read_timeout(limits.header_read_timeout)
            .max_buf_size((limits.max_header_bytes as usize).max(8192));
        builder
            .http2()
            .timer(TokioTimer::new())
            .max_concurrent_streams(limits.http2_max_concurrent_streams)
            .initial_stream_window_size(limits.http2_stream_window)
            .initial_connection_window_size(limits.http2_connection_window)
            .max_send_buf_size(limits.http2_max_send_buffer)
            .max_header_list_size(limits.max_header_bytes);
        Self {
            limits,
            builder,
            epoch: Instant::now(),
            next_id: AtomicU64::new(0),
            connections: Mutex::new(HashMap::new()),
            body_bytes: AtomicUsize::new(0),
            refusing: Arc::new(Semaphore::new(MAX_REFUSING)),
        }
    }

    fn now_ms(&self) -> u64 {
        u64::try_from(self.epoch.elapsed().as_millis()).unwrap_or(u64::MAX)
    }

    fn connections(&self) -> std::sync::MutexGuard<'_, HashMap<u64, Arc<Connection>>> {
        self.connections
            .lock()
            .unwrap_or_else(PoisonError::into_inner)
    }

    /// Registers a new connection, closing the longest idle one when at the
    /// cap; `None` when at the cap with none idle.
    fn admit(&self) -> Option<(u64, Arc<Connection>)> {
        let mut connections = self.connections();
        if connections.len() >= self.limits.max_connections
            && !Self::evict_idle_locked(&mut connections)
        {
            return None;
        }
        let id = self.next_id.fetch_add(1, Ordering::Relaxed);
        let connection = Arc::new(Connection {
            in_flight: AtomicUsize::new(0),
            last_active: AtomicU64::new(self.now_ms()),
            served: std::sync::atomic::AtomicBool::new(false),
            evict: Notify::new(),
            abort: Notify::new(),
        });
        connections.insert(id, connection.clone());
        Some((id, connection))
    }

    fn evict_idle(&self) -> bool {
        Self::evict_idle_locked(&mut self.connections())
    }

    /// Closes the connection with no request in flight that was active the
    /// longest ago; `false` when every connection has one in flight.
    fn evict_idle_locked(connections: &mut HashMap<u64, Arc<Connection>>) -> bool {
        let oldest = connections
            .iter()
            .filter(|(_, c)| c.in_flight.load(Ordering::Acquire) == 0)
            .min_by_key(|(_, c)| c.last_active.load(Ordering::Relaxed))
            .map(|(id, _)| *id);
        let Some(id) = oldest else {
            return false;
        };
        if let Some(connection) = connections.remove(&id) {
            // notify_one keeps the wake-up for a task not yet waiting.
            connection.evict.notify_one();
        }
        true
    }

    /// Answers every request of a connection past the cap with 503 (gRPC
    /// UNAVAILABLE) and closes it.
    fn refuse(&self, stream: TcpStream) {
        let Ok(permit) = self.refusing.clone().try_acquire_owned() else {
            return;
        };
        let mut builder = auto::Builder::new(TokioExecutor::new());
        builder.http1().keep_alive(false);
        builder.http2().max_concurrent_streams(8);
        tokio::spawn(async move {
            let service = hyper::service::service_fn(|request: http::Request<Incoming>| {
                let status = Status::new(
                    Code::Unavailable,
                    "the server has its limit of open connections, none idle; retry later",
                );
                std::future::ready(Ok::<_, Infallible>(error_response(
                    is_grpc(request.headers()),
                    RestError::from(status),
                )))
            });
            let connection = builder.serve_connection(TokioIo::new(stream), service);
            let _ = tokio::time::timeout(REFUSAL_TIMEOUT, connection).await;
            drop(permit);
        });
    }
}

/// Whether a request is a gRPC call, by its content type.
pub(crate) fn is_grpc(headers: &http::HeaderMap) -> bool {
    headers
        .get(http::header::CONTENT_TYPE)
        .is_some_and(|v| v.as_bytes().starts_with(b"application/grpc"))
}

struct ConnectionTask {
    shared: Arc<Shared>,
    router: axum::Router,
    id: u64,
    connection: Arc<Connection>,
    stop: watch::Receiver<bool>,
}

impl ConnectionTask {
    /// Completes the TLS handshake within the time a first request's
    /// headers have, then serves; a failed or slow handshake closes the
    /// connection.
    async fn handshake(self, acceptor: tokio_rustls::TlsAcceptor, stream: TcpStream) {
        let within = self.shared.limits.header_read_timeout;
        match tokio::time::timeout(within, acceptor.accept(stream)).await {
            Ok(Ok(stream)) => self.run(stream).await,
            _ => {
                self.shared.connections().remove(&self.id);
            }
        }
    }

    async fn run<S>(mut self, stream: S)
    where
        S: tokio::io::AsyncRead + tokio::io::AsyncWrite + Unpin + Send + 'static,
    {
        let (shared, connection, router) = (
            self.shared.clone(),
            self.connection.clone(),
            self.router.clone(),
        );
        let service = hyper::service::service_fn(move |request| {
            serve_request(shared.clone(), connection.clone(), router.clone(), request)
        });
        let mut conn = pin!(
            self.shared
                .builder
                .serve_connection(TokioIo::new(stream), service)
        );
        let mut closing_by: Option<Instant> = None;
        loop {
            let wake = closing_by.unwrap_or_else(|| self.next_look());
            tokio::select! {
                _ = conn.as_mut() => break,
                () = self.connection.abort.notified() => break,
                () = self.connection.evict.notified(), if closing_by.is_none() => {
                    // Chosen while idle; a request may have begun since.
                    if self.connection.in_flight.load(Ordering::Acquire) == 0 {
                        break;
                    }
                    conn.as_mut().graceful_shutdown();
                    closing_by = Some(Instant::now() + self.grace());
                }
                changed = self.stop.changed(), if closing_by.is_none() => {
                    if changed.is_err() || *self.stop.borrow() {
                        conn.as_mut().graceful_shutdown();
                        closing_by = Some(Instant::now() + self.grace());
                    }
                }
                () = tokio::time::sleep_until(wake) => {
                    if closing_by.is_some() {
                        break;
                    }
                    if self.idle_deadline().is_some_and(|d| d <= Instant::now()) {
                        conn.as_mut().graceful_shutdown();
                        closing_by = Some(Instant::now() + CLOSE_GRACE);
                    }
                }
            }
        }
        self.shared.connections().remove(&self.id);
    }

    /// How long requests in flight may go on once the connection is closing:
    /// their own timeout.
    fn grace(&self) -> Duration {
        self.shared
            .limits
            .request_timeout
            .unwrap_or(Duration::MAX)
            .min(Duration::from_secs(3600))
    }

    /// When the connection becomes too long idle, as things stand; `None`
    /// while a request is in flight.
    fn idle_deadline(&self) -> Option<Instant> {
        let limits = &self.shared.limits;
        let c = &self.connection;
        if c.in_flight.load(Ordering::Acquire) > 0 {
            return None;
        }
        let timeout = if c.served.load(Ordering::Relaxed) {
            limits.idle_timeout
        } else {
            limits.header_read_timeout
        };
        Some(self.last_active() + timeout)
    }

    /// When to look again: the idle deadline, or sooner where a request
    /// that has come and gone since would make it sooner; while a request is
    /// in flight, an idle timeout from now.
    fn next_look(&self) -> Instant {
        let idle = self.shared.limits.idle_timeout;
        match self.idle_deadline() {
            Some(deadline) => deadline.min(self.last_active() + idle),
            None => Instant::now() + idle,
        }
    }

    fn last_active(&self) -> Instant {
        self.shared.epoch
            + Duration::from_millis(self.connection.last_active.load(Ordering::Relaxed))
    }
}

/// A request in flight on a connection, and the body bytes it holds: ends
/// when the answer has been sent or dropped.
struct InFlight {
    shared: Arc<Shared>,
    connection: Arc<Connection>,
    body_bytes: AtomicUsize,
    /// Why the request body failed, when a limit failed it.
    body_error: Mutex<Option<RestError>>,
    /// What became of the request body once its reader let it go.
    body_left: Mutex<BodyLeft>,
}

/// What a request's reader left of its body.
enum BodyLeft {
    /// The reader still holds it.
    Held,
    /// Read to its end.
    Read,
    /// Dropped before its end: the rest.
    Unread(Incoming),
    /// Failed (a limit, the client): the connection cannot carry another
    /// request.
    Broken,
}

impl InFlight {
    fn begin(shared: Arc<Shared>, connection: Arc<Connection>) -> Arc<Self> {
        connection.in_flight.fetch_add(1, Ordering::AcqRel);
        connection
            .served
            .store(true, std::sync::atomic::Ordering::Relaxed);
        connection
            .last_active
            .store(shared.now_ms(), Ordering::Relaxed);
        Arc::new(Self {
            shared,
            connection,
            body_bytes: AtomicUsize::new(0),
            body_error: Mutex::new(None),
            body_left: Mutex::new(BodyLeft::Held),
        })
    }

    /// Counts `n` more body bytes against the server's budget; `false` when
    /// they do not fit.
    fn hold(&self, n: usize) -> bool {
        let limit = self.shared.limits.max_body_bytes_in_flight;
        let total = self.body_bytes.load(Ordering::Relaxed) + n;
        let cap = if total <= SMALL_BODY_BYTES {
            limit
        } else {
            limit - limit / 8
        };
        let fits = self
            .shared
            .body_bytes
            .fetch_update(Ordering::AcqRel, Ordering::Acquire, |used| {
                (used + n <= cap).then_some(used + n)
            })
            .is_ok();
        if fits {
            self.body_bytes.fetch_add(n, Ordering::Relaxed);
        }
        fits
    }

    /// Fails the request body for a limit: the error for the body's reader,
    /// and kept to answer with.
    fn fail_body(&self, error: RestError) -> Box<dyn std::error::Error + Send + Sync> {
        *self
            .body_error
            .lock()
            .unwrap_or_else(PoisonError::into_inner) = Some(error.clone());
        BodyError::new(error).into()
    }

    /// Whether the HTTP/1.1 connection of this request may carry another
    /// once it is answered: its body was read to the end, or the rest of it
    /// is read now (see [`UNREAD_BODY_BYTES`]). hyper closes a connection
    /// whose request body was left unread; the answer must then say so, or a
    /// client that reuses the connection finds it closed without an answer.
    /// Reading the rest ends by the exchange's `deadline`.
    async fn finish_body(&self, expects_continue: bool, deadline: Option<Instant>) -> bool {
        let left = std::mem::replace(
            &mut *self
                .body_left
                .lock()
                .unwrap_or_else(PoisonError::into_inner),
            BodyLeft::Broken,
        );
        let mut rest = match left {
            BodyLeft::Read => return true,
            BodyLeft::Held | BodyLeft::Broken => return false,
            // The client waits for `100 Continue` before it sends the body.
            BodyLeft::Unread(_) if expects_continue => return false,
            BodyLeft::Unread(rest) => rest,
        };
        // A chunked body's length is not known: it is read up to the limit.
        if rest
            .size_hint()
            .upper()
            .is_some_and(|n| n > UNREAD_BODY_BYTES)
        {
            return false;
        }
        let drain = async {
            let mut read = 0u64;
            while let Some(frame) = rest.frame().await {
                let Ok(frame) = frame else { return false };
                read += frame.data_ref().map_or(0, |d| d.len() as u64);
                if read > UNREAD_BODY_BYTES {
                    return false;
                }
            }
            true
        };
        let by = Instant::now() + UNREAD_BODY_TIME;
        tokio::time::timeout_at(deadline.map_or(by, |d| d.min(by)), drain)
            .await
            .unwrap_or(false)
    }
}

impl Drop for InFlight {
    fn drop(&mut self) {
        self.shared
            .body_bytes
            .fetch_sub(*self.body_bytes.get_mut(), Ordering::AcqRel);
        self.connection
            .last_active
            .store(self.shared.now_ms(), Ordering::Relaxed);
        self.connection.in_flight.fetch_sub(1, Ordering::AcqRel);
    }
}

/// A call left unanswered at its service's request ([`CallContext::abort`](super::call::CallContext::abort)).
#[derive(Debug)]
struct Aborted;

impl std::fmt::Display for Aborted {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("the service asked to leave the call unanswered")
    }
}

impl std::error::Error for Aborted {}

async fn serve_request(
    shared: Arc<Shared>,
    connection: Arc<Connection>,
    router: axum::Router,
    request: http::Request<Incoming>,
) -> Result<Response, Aborted> {
    let limits = shared.limits.clone();
    let in_flight = InFlight::begin(shared, connection);
    let grpc = is_grpc(request.headers());
    let http1 = request.version() < http::Version::HTTP_2;
    // Only an HTTP/1.1 request's unread body is looked at (`finish_body`).
    let expects_continue = http1
        && request
            .headers()
            .get(http::header::EXPECT)
            .is_some_and(|v| v.as_bytes().eq_ignore_ascii_case(b"100-continue"));
    let started = Instant::now();
    let request = request.map(|body| {
        Body::new(RequestBody {
            inner: Some(body),
            broken: false,
            in_flight: in_flight.clone(),
            deadline: Box::pin(tokio::time::sleep_until(started + limits.body_timeout)),
            timeout: limits.body_timeout,
        })
    });
    let deadline = limits.request_timeout.and_then(|t| started.checked_add(t));
    let answered = match deadline {
        Some(deadline) => tokio::time::timeout_at(deadline, router.oneshot(request)).await,
        None => Ok(router.oneshot(request).await),
    };
    let mut response = match answered {
        // A REST handler may answer a failed body in its own words (axum's
        // extractors: 400 in plain text); the limit's own answer is given.
        Ok(Ok(response)) if !grpc && !response.status().is_success() => {
            let failed = in_flight
                .body_error
                .lock()
                .unwrap_or_else(PoisonError::into_inner)
                .take();
            match failed {
                Some(error) => error_response(false, error),
                None => response,
            }
        }
        Ok(Ok(response)) => response,
        Ok(Err(never)) => match never {},
        Err(_) => {
            let timeout = limits.request_timeout.unwrap_or_default();
            error_response(
                grpc,
                RestError::new(
                    Code::DeadlineExceeded,
                    format!("the request was not answered within {timeout:?}"),
                ),
            )
        }
    };
    match response.extensions().get::<Abort>() {
        // hyper resets the stream of a failed call (HTTP/2) or closes its
        // connection (HTTP/1.1); dropping the connection closes it whole.
        Some(Abort::Reset) => return Err(Aborted),
        Some(Abort::Close) => {
            in_flight.connection.abort.notify_one();
            return Err(Aborted);
        }
        None => {}
    }
    if http1 && !in_flight.finish_body(expects_continue, deadline).await {
        response.headers_mut().insert(
            http::header::CONNECTION,
            http::HeaderValue::from_static("close"),
        );
    }
    Ok(response.map(|body| {
        Body::new(ResponseBody {
            inner: body,
            _in_flight: in_flight,
            deadline: deadline.map(|d| Box::pin(tokio::time::sleep_until(d))),
        })
    }))
}

/// A request body held to the body timeout and the server's byte budget.
/// Dropped, it tells its [`InFlight`] what it left ([`BodyLeft`]).
struct RequestBody {
    /// `None` once read to the end or failed.
    inner: Option<Incoming>,
    /// Whether it failed.
    broken: bool,
    in_flight: Arc<InFlight>,
    deadline: Pin<Box<Sleep>>,
    timeout: Duration,
}

// This and `ResponseBody` (and `rest/grpc.rs`'s `OneMessage`) poll their
// inner body alike; what each watches differs.
impl http_body::Body for RequestBody {
    type Data = Bytes;
    type Error = Box<dyn std::error::Error + Send + Sync>;

    fn poll_frame(
        mut self: Pin<&mut Self>,
        cx: &mut Context<'_>,
    ) -> Poll<Option<Result<Frame<Bytes>, Self::Error>>> {
        let this = &mut *self;
        let Some(inner) = this.inner.as_mut() else {
            return Poll::Ready(None);
        };
        match Pin::new(inner).poll_frame(cx) {
            Poll::Ready(Some(Ok(frame))) => {
                let n = frame.data_ref().map_or(0, Bytes::len);
                if n > 0 && !this.in_flight.hold(n) {
                    this.inner = None;
                    this.broken = true;
                    let limit = this.in_flight.shared.limits.max_body_bytes_in_flight;
                    let error = RestError::new(
                        Code::Unavailable,
                        format!(
                            "the server holds its limit of request bodies ({limit} bytes); retry later"
                        ),
                    );
                    return Poll::Ready(Some(Err(this.in_flight.fail_body(error))));
                }
                Poll::Ready(Some(Ok(frame)))
            }
            Poll::Ready(Some(Err(error))) => {
                this.inner = None;
                this.broken = true;
                Poll::Ready(Some(Err(error.into())))
            }
            Poll::Ready(None) => {
                this.inner = None;
                Poll::Ready(None)
            }
            Poll::Pending => {
                ready!(this.deadline.as_mut().poll(cx));
                this.inner = None;
                this.broken = true;
                let error = RestError::new(
                    Code::DeadlineExceeded,
                    format!("the request body did not arrive within {:?}", this.timeout),
                )
                .with_http_status(408);
                Poll::Ready(Some(Err(this.in_flight.fail_body(error))))
            }
        }
    }

    fn is_end_stream(&self) -> bool {
        self.inner.as_ref().is_none_or(Incoming::is_end_stream)
    }

    fn size_hint(&self) -> SizeHint {
        self.inner
            .as_ref()
            .map_or_else(|| SizeHint::with_exact(0), Incoming::size_hint)
    }
}

impl Drop for RequestBody {
    fn drop(&mut self) {
        let left = match self.inner.take() {
            _ if self.broken => BodyLeft::Broken,
            Some(rest) if !rest.is_end_stream() => BodyLeft::Unread(rest),
            _ => BodyLeft::Read,
        };
        *self
            .in_flight
            .body_left
            .lock()
            .unwrap_or_else(PoisonError::into_inner) = left;
    }
}

/// An answer's body: keeps its request in flight until sent, and is cut off
/// at the exchange's deadline.
struct ResponseBody {
    inner: Body,
    _in_flight: Arc<InFlight>,
    deadline: Option<Pin<Box<Sleep>>>,
}

impl http_body::Body for ResponseBody {
    type Data = Bytes;
    type Error = axum::Error;

    fn poll_frame(
        mut self: Pin<&mut Self>,
        cx: &mut Context<'_>,
    ) -> Poll<Option<Result<Frame<Bytes>, Self::Error>>> {
        let this = &mut *self;
        match Pin::new(&mut this.inner).poll_frame(cx) {
            Poll::Pending => {
                if let Some(deadline) = &mut this.deadline {
                    ready!(deadline.as_mut().poll(cx));
                    return Poll::Ready(Some(Err(axum::Error::new(
                        "the answer was not sent within the request timeout",
                    ))));
                }
                Poll::Pending
            }
            ready => ready,
        }
    }

    fn is_end_stream(&self) -> bool {
        self.inner.is_end_stream()
    }

    fn size_hint(&self) -> SizeHint {
        self.inner.size_hint()
    }
}
