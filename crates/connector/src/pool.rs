//! The connection pool, per host (scheme and authority):
//!
//! - **HTTP/1.1**: a request takes an idle connection, or opens one and
//!   uses it itself. A connection goes back to the idle list when its
//!   response body has been read to the end (a body dropped before its end
//!   closes it). No connection is ever opened in the background on the
//!   chance that it is needed, so N concurrent callers never have more
//!   than N connections open to a host.
//! - **HTTP/2**: requests share a connection while it has a free stream
//!   under the server's `SETTINGS_MAX_CONCURRENT_STREAMS` (read off the
//!   connection, see [`crate::h2_settings`]); when every connection is
//!   full, one more is opened. One HTTP/2 connection is opened at a time
//!   per host, and requests arriving meanwhile wait for it (or for a
//!   stream to free up) instead of opening their own.
//! - With ALPN the first connection to a host tells which of the two it
//!   speaks; until then requests wait for it as for an HTTP/2 connection.
//! - Idle connections close after the idle timeout (checked when one is
//!   taken, and by a reaper task every half timeout); a request sent over
//!   a reused connection that turns out closed before the request left is
//!   sent again over another one.
//!
//! (hyper-util's legacy client, used before, races a new connection
//! against the wait for an idle one and keeps both; under load it opened
//! more connections than callers, and it queues HTTP/2 requests behind the
//! stream limit of its one connection per host.)

use std::sync::atomic::{AtomicU32, AtomicU64, Ordering};
use std::sync::{Arc, Mutex, Once, Weak};
use std::time::{Duration, Instant};

use http::uri::{Authority, Scheme};
use http::{header, HeaderValue, Request, Response, Uri};
use hyper::client::conn::{http1, http2};
use hyper_util::rt::{TokioExecutor, TokioTimer};
use llm_layers_core::hash_map::HashMap;
use tokio::sync::Notify;

use crate::body::{Release, UpstreamBody};
use crate::connect::{Connect, Dialed};
use crate::error::{classify, ConnectError, ConnectorError};
use crate::h2_settings::PeerSettings;
use crate::service::RequestBody;
use crate::stats::ConnectionMeta;

/// How long a request waits for a just-returned HTTP/1.1 connection to be
/// ready for the next request (it is once its last exchange is wound up,
/// which is at once unless the request body is still being sent); after
/// that the connection stays idle and the request opens another.
const READY_WAIT: Duration = Duration::from_secs(1);

/// A request whose reused connection closed before it left is sent again
/// at most this many times.
const UNSENT_RETRIES: usize = 3;

/// HTTP/2 options of new connections.
#[derive(Clone, Debug)]
pub(crate) struct Http2Options {
    pub keep_alive_interval: Option<Duration>,
    pub keep_alive_timeout: Duration,
    pub adaptive_window: bool,
}

/// The pool's settings.
#[derive(Clone, Debug)]
pub(crate) struct PoolConfig {
    pub max_idle_per_host: usize,
    pub idle_timeout: Option<Duration>,
    pub http1_only: bool,
    pub http2: Http2Options,
}

/// The pool; clones share it.
pub(crate) struct Pool<B> {
    shared: Arc<Shared<B>>,
}

impl<B> Clone for Pool<B> {
    fn clone(&self) -> Self {
        Pool {
            shared: self.shared.clone(),
        }
    }
}

struct Shared<B> {
    connect: Connect,
    config: PoolConfig,
    hosts: Mutex<HashMap<HostKey, Host<B>>>,
    epoch: Instant,
    reaper: Once,
}

#[derive(Clone, Debug, PartialEq, Eq, Hash)]
struct HostKey {
    scheme: Scheme,
    authority: Authority,
}

impl HostKey {
    fn of(uri: &Uri) -> Option<HostKey> {
        Some(HostKey {
            scheme: uri.scheme()?.clone(),
            authority: uri.authority()?.clone(),
        })
    }
}

struct Host<B> {
    idle: Vec<Idle<B>>,
    h2: Vec<Arc<H2Connection<B>>>,
    /// A connection that is, or may turn out to be, HTTP/2 is being opened.
    h2_dialing: bool,
    /// What the last connection opened to the host spoke.
    speaks_h2: Option<bool>,
    /// Woken when an HTTP/2 dial ends or an HTTP/2 stream frees up.
    changed: Arc<Notify>,
}

impl<B> Default for Host<B> {
    fn default() -> Self {
        Host {
            idle: Vec::new(),
            h2: Vec::new(),
            h2_dialing: false,
            speaks_h2: None,
            changed: Arc::new(Notify::new()),
        }
    }
}

/// An HTTP/1.1 connection between requests.
struct Idle<B> {
    sender: http1::SendRequest<B>,
    meta: ConnectionMeta,
    since: Instant,
}

/// An HTTP/2 connection and the streams it carries.
struct H2Connection<B> {
    sender: http2::SendRequest<B>,
    meta: ConnectionMeta,
    peer: Arc<PeerSettings>,
    in_flight: AtomicU32,
    /// Milliseconds from the pool's epoch to when the last stream ended.
    last_used_ms: AtomicU64,
    changed: Arc<Notify>,
}

impl<B> H2Connection<B> {
    fn has_room(&self) -> bool {
        self.in_flight.load(Ordering::Acquire) < self.peer.max_streams()
    }
}

/// A connection taken for one request.
enum Taken<B> {
    Http1 {
        sender: http1::SendRequest<B>,
        meta: ConnectionMeta,
    },
    /// Its stream is already counted in `in_flight`.
    Http2(Arc<H2Connection<B>>),
}

/// What the pool's state says to do next.
enum Step<B> {
    Take(Taken<B>),
    /// An idle HTTP/1.1 connection, to be checked ready outside the lock.
    Idle(Idle<B>),
    Wait(tokio::sync::futures::OwnedNotified),
    Dial {
        h2_slot: bool,
    },
}

/// A send that failed: with the request when it never left.
enum Failed<B> {
    // Boxed: the request head is a few hundred bytes, and failures are rare.
    Unsent(Box<Request<B>>, hyper::Error),
    Sent(hyper::Error),
}

impl<B> Pool<B>
where
    B: RequestBody,
{
    pub fn new(connect: Connect, config: PoolConfig) -> Pool<B> {
        Pool {
            shared: Arc::new(Shared {
                connect,
                config,
                hosts: Mutex::new(HashMap::default()),
                epoch: Instant::now(),
                reaper: Once::new(),
            }),
        }
    }

    /// Sends `request` (an absolute URI) over a pooled connection.
    pub async fn send(
        &self,
        mut request: Request<B>,
    ) -> Result<Response<UpstreamBody>, ConnectorError> {
        let uri = request.uri().clone();
        let Some(key) = HostKey::of(&uri) else {
            return Err(classify(ConnectError::InvalidUri(uri.to_string())));
        };
        let mut retries = 0;
        loop {
            let (taken, reused) = self.take(&key, &uri).await?;
            match self.send_on(taken, &key, request).await {
                Ok(response) => return Ok(response),
                Err(Failed::Unsent(returned, _)) if reused && retries < UNSENT_RETRIES => {
                    retries += 1;
                    request = *returned;
                    *request.uri_mut() = uri.clone();
                }
                Err(Failed::Unsent(_, error) | Failed::Sent(error)) => return Err(classify(error)),
            }
        }
    }

    /// A connection for one request to `key`, and whether it served before.
    async fn take(&self, key: &HostKey, uri: &Uri) -> Result<(Taken<B>, bool), ConnectorError> {
        loop {
            match self.next_step(key) {
                Step::Take(taken) => return Ok((taken, true)),
                Step::Idle(idle) => {
                    if let Some(taken) = self.ready(key, idle).await {
                        return Ok((taken, true));
                    }
                }
                Step::Wait(changed) => changed.await,
                Step::Dial { h2_slot } => {
                    // Boxed: a connection set-up (TCP, TLS, the HTTP/2
                    // handshake) holds kilobytes of state, which would
                    // otherwise be part of every request's future.
                    return Box::pin(self.dial(key, uri, h2_slot))
                        .await
                        .map(|taken| (taken, false));
                }
            }
        }
    }

    /// Decides, under the lock, what the next try at a connection is.
    fn next_step(&self, key: &HostKey) -> Step<B> {
        let shared = &*self.shared;
        let mut hosts = shared.lock();
        let host = match hosts.get_mut(key) {
            Some(host) => host,
            None => hosts.entry(key.clone()).or_default(),
        };
        host.h2.retain(|connection| !connection.sender.is_closed());
        if let Some(connection) = host.h2.iter().find(|connection| connection.has_room()) {
            connection.in_flight.fetch_add(1, Ordering::AcqRel);
            return Step::Take(Taken::Http2(connection.clone()));
        }
        while let Some(idle) = host.idle.pop() {
            if !idle.sender.is_closed() && !shared.expired(idle.since) {
                return Step::Idle(idle);
            }
        }
        let may_be_h2 = host
            .speaks_h2
            .unwrap_or_else(|| shared.may_negotiate_h2(key));
        if !may_be_h2 {
            return Step::Dial { h2_slot: false };
        }
        if host.h2_dialing {
            // Registered now, under the lock: a wake-up after it is not lost.
            return Step::Wait(host.changed.clone().notified_owned());
        }
        host.h2_dialing = true;
        Step::Dial { h2_slot: true }
    }

    /// The idle connection once it is ready for a request; `None` when it
    /// closed meanwhile (dropped) or stays busy (kept idle; another is then
    /// opened).
    async fn ready(&self, key: &HostKey, mut idle: Idle<B>) -> Option<Taken<B>> {
        if !idle.sender.is_ready() {
            match tokio::time::timeout(READY_WAIT, idle.sender.ready()).await {
                Ok(Ok(())) => {}
                Ok(Err(_closed)) => return None,
                Err(_busy) => {
                    self.shared
                        .lock()
                        .entry(key.clone())
                        .or_default()
                        .idle
                        .push(idle);
                    return None;
                }
            }
        }
        Some(Taken::Http1 {
            sender: idle.sender,
            meta: idle.meta,
        })
    }

    /// Opens a connection and takes it. `h2_slot`: this dial holds the
    /// host's one HTTP/2 dial, freed (and the waiters woken) however it ends.
    async fn dial(
        &self,
        key: &HostKey,
        uri: &Uri,
        h2_slot: bool,
    ) -> Result<Taken<B>, ConnectorError> {
        let slot = DialSlot {
            shared: &self.shared,
            key,
            held: h2_slot,
        };
        let Dialed { io, meta, peer } = self.shared.connect.dial(uri).await.map_err(classify)?;
        match peer {
            Some(peer) => {
                let options = &self.shared.config.http2;
                let (sender, connection) = http2::Builder::new(TokioExecutor::new())
                    .timer(TokioTimer::new())
                    .keep_alive_interval(options.keep_alive_interval)
                    .keep_alive_timeout(options.keep_alive_timeout)
                    .keep_alive_while_idle(true)
                    .adaptive_window(options.adaptive_window)
                    .handshake(io)
                    .await
                    .map_err(|error| classify(ConnectError::Handshake(error)))?;
                tokio::spawn(async move {
                    if let Err(error) = connection.await {
                        tracing::debug!(%error, "HTTP/2 upstream connection ended");
                    }
                });
                // Its stream limit is known before it takes requests: the
                // server's SETTINGS come first, within a round trip.
                let _ = tokio::time::timeout(self.shared.connect.handshake_timeout, peer.arrived())
                    .await;
                let mut hosts = self.shared.lock();
                let host = hosts.entry(key.clone()).or_default();
                let connection = Arc::new(H2Connection {
                    sender,
                    meta,
                    peer,
                    in_flight: AtomicU32::new(1),
                    last_used_ms: AtomicU64::new(self.shared.now_ms()),
                    changed: host.changed.clone(),
                });
                host.speaks_h2 = Some(true);
                host.h2.push(connection.clone());
                drop(hosts);
                drop(slot);
                self.shared.start_reaper();
                Ok(Taken::Http2(connection))
            }
            None => {
                let (sender, connection) = http1::Builder::new()
                    .handshake(io)
                    .await
                    .map_err(|error| classify(ConnectError::Handshake(error)))?;
                tokio::spawn(async move {
                    if let Err(error) = connection.await {
                        tracing::debug!(%error, "HTTP/1.1 upstream connection ended");
                    }
                });
                self.shared.lock().entry(key.clone()).or_default().speaks_h2 = Some(false);
                drop(slot);
                Ok(Taken::Http1 { sender, meta })
            }
        }
    }

    /// Sends the request over the connection taken; the response body holds
    /// the connection (or stream) until it ends.
    async fn send_on(
        &self,
        taken: Taken<B>,
        key: &HostKey,
        mut request: Request<B>,
    ) -> Result<Response<UpstreamBody>, Failed<B>> {
        let (result, meta, release): (_, ConnectionMeta, Box<dyn Release>) = match taken {
            Taken::Http1 { mut sender, meta } => {
                to_origin_form(&mut request);
                let result = sender.try_send_request(request).await;
                let release = Box::new(Http1Lease {
                    pool: Arc::downgrade(&self.shared),
                    key: key.clone(),
                    sender,
                    meta: meta.clone(),
                });
                (result, meta, release)
            }
            Taken::Http2(connection) => {
                let result = connection.sender.clone().try_send_request(request).await;
                let meta = connection.meta.clone();
                let release = Box::new(Http2Lease {
                    connection,
                    epoch: self.shared.epoch,
                });
                (result, meta, release)
            }
        };
        match result {
            Ok(mut response) => {
                let connection = self.shared.connect.stats.served(&meta);
                response.extensions_mut().insert(connection);
                Ok(response.map(|body| UpstreamBody::new(body, release)))
            }
            Err(mut error) => {
                release.release(false);
                Err(match error.take_message() {
                    Some(request) => Failed::Unsent(Box::new(request), error.into_error()),
                    None => Failed::Sent(error.into_error()),
                })
            }
        }
    }
}

impl<B> Shared<B> {
    fn lock(&self) -> std::sync::MutexGuard<'_, HashMap<HostKey, Host<B>>> {
        self.hosts
            .lock()
            .unwrap_or_else(|poisoned| poisoned.into_inner())
    }

    fn expired(&self, since: Instant) -> bool {
        self.config
            .idle_timeout
            .is_some_and(|timeout| since.elapsed() >= timeout)
    }

    fn now_ms(&self) -> u64 {
        self.epoch.elapsed().as_millis() as u64
    }

    /// Whether a connection to `key` may speak HTTP/2 before one has told.
    fn may_negotiate_h2(&self, key: &HostKey) -> bool {
        self.connect.http2_only || (key.scheme == Scheme::HTTPS && !self.config.http1_only)
    }
}

impl<B: Send + 'static> Shared<B> {
    /// Starts, once, the task that closes connections idle for longer than
    /// the idle timeout; it ends with the pool.
    fn start_reaper(self: &Arc<Self>) {
        let Some(timeout) = self.config.idle_timeout else {
            return;
        };
        self.reaper.call_once(|| {
            let Ok(runtime) = tokio::runtime::Handle::try_current() else {
                return;
            };
            let pool = Arc::downgrade(self);
            let period = (timeout / 2).clamp(Duration::from_millis(1), Duration::from_secs(30));
            runtime.spawn(async move {
                let mut ticks = tokio::time::interval(period);
                ticks.tick().await;
                loop {
                    ticks.tick().await;
                    let Some(pool) = pool.upgrade() else { return };
                    pool.reap(timeout);
                }
            });
        });
    }

    fn reap(&self, timeout: Duration) {
        let now_ms = self.now_ms();
        let timeout_ms = timeout.as_millis() as u64;
        let mut hosts = self.lock();
        hosts.retain(|_, host| {
            host.idle
                .retain(|idle| !idle.sender.is_closed() && idle.since.elapsed() < timeout);
            host.h2.retain(|connection| {
                let idle = connection.in_flight.load(Ordering::Acquire) == 0
                    && now_ms.saturating_sub(connection.last_used_ms.load(Ordering::Acquire))
                        >= timeout_ms;
                !connection.sender.is_closed() && !idle
            });
            !(host.idle.is_empty() && host.h2.is_empty() && !host.h2_dialing)
        });
    }
}

/// The host's one HTTP/2 dial: freed, and the waiters woken, when the dial
/// ends however it ends (an error, or the request dropped mid-dial).
struct DialSlot<'a, B> {
    shared: &'a Shared<B>,
    key: &'a HostKey,
    held: bool,
}

impl<B> Drop for DialSlot<'_, B> {
    fn drop(&mut self) {
        if !self.held {
            return;
        }
        let mut hosts = self.shared.lock();
        if let Some(host) = hosts.get_mut(self.key) {
            host.h2_dialing = false;
            host.changed.notify_waiters();
        }
    }
}

/// An HTTP/1.1 connection lent to one response.
struct Http1Lease<B> {
    pool: Weak<Shared<B>>,
    key: HostKey,
    sender: http1::SendRequest<B>,
    meta: ConnectionMeta,
}

impl<B: Send + 'static> Release for Http1Lease<B> {
    fn release(self: Box<Self>, whole: bool) {
        // A response not read to its end leaves the connection unusable:
        // dropping the sender closes it.
        let Some(pool) = self.pool.upgrade().filter(|_| whole) else {
            return;
        };
        if self.sender.is_closed() {
            return;
        }
        let mut hosts = pool.lock();
        let host = hosts.entry(self.key).or_default();
        if host.idle.len() < pool.config.max_idle_per_host {
            host.idle.push(Idle {
                sender: self.sender,
                meta: self.meta,
                since: Instant::now(),
            });
            drop(hosts);
            pool.start_reaper();
        }
    }
}

/// One stream of an HTTP/2 connection.
struct Http2Lease<B> {
    connection: Arc<H2Connection<B>>,
    epoch: Instant,
}

impl<B: Send + 'static> Release for Http2Lease<B> {
    fn release(self: Box<Self>, _whole: bool) {
        let connection = &self.connection;
        connection
            .last_used_ms
            .store(self.epoch.elapsed().as_millis() as u64, Ordering::Release);
        connection.in_flight.fetch_sub(1, Ordering::AcqRel);
        connection.changed.notify_waiters();
    }
}

/// HTTP/1.1 sends the path and query, with the host in `Host`.
fn to_origin_form<B>(request: &mut Request<B>) {
    let uri = request.uri().clone();
    if !request.headers().contains_key(header::HOST) {
        if let Some(authority) = uri.authority() {
            let host = match (authority.port_u16(), uri.scheme_str()) {
                (Some(80), Some("http")) | (Some(443), Some("https")) | (None, _) => {
                    authority.host()
                }
                _ => authority.as_str(),
            };
            if let Ok(value) = HeaderValue::from_str(host) {
                request.headers_mut().insert(header::HOST, value);
            }
        }
    }
    let origin = match uri.path_and_query() {
        Some(path) if path.as_str() != "/" => {
            let mut parts = http::uri::Parts::default();
            parts.path_and_query = Some(path.clone());
            Uri::from_parts(parts).unwrap_or_default()
        }
        _ => Uri::default(),
    };
    *request.uri_mut() = origin;
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn origin_form_keeps_the_path_and_names_the_host() {
        let mut request = Request::get("http://example.test:8080/v1/models?limit=2")
            .body(())
            .unwrap();
        to_origin_form(&mut request);
        assert_eq!(request.uri(), "/v1/models?limit=2");
        assert_eq!(request.headers()[header::HOST], "example.test:8080");

        let mut request = Request::get("https://example.test:443").body(()).unwrap();
        to_origin_form(&mut request);
        assert_eq!(request.uri(), "/");
        assert_eq!(request.headers()[header::HOST], "example.test");

        let mut request = Request::get("https://example.test/x")
            .header(header::HOST, "given")
            .body(())
            .unwrap();
        to_origin_form(&mut request);
        assert_eq!(request.headers()[header::HOST], "given");
    }
}
