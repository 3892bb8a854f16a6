//! Serving connections: hyper's HTTP/1.1 and HTTP/2 server, each request
//! sent either to the proxy's own routes (an axum router) or straight to
//! the forwarding path, which needs no router: one prefix check per
//! request, one boxed future, and the stack's body passed through as it is.

use std::convert::Infallible;
use std::future::Future;
use std::pin::Pin;
use std::sync::Arc;
use std::time::Duration;

use tokio::sync::{watch, OwnedSemaphorePermit, Semaphore, TryAcquireError};
use tokio::task::JoinSet;
use tokio::time::Instant;

use axum::Router;
use http::{Request, Response};
use http_body_util::Either;
use hyper::body::Incoming;
use hyper_util::rt::{TokioExecutor, TokioIo, TokioTimer};
use hyper_util::server::conn::auto;
use llm_layers::stack::StackBody;
use tokio::net::TcpListener;
use tokio::sync::oneshot;
use tokio_rustls::TlsAcceptor;
use tower::ServiceExt;

use crate::activity::{Activity, Tracked};
use crate::forward;
use crate::head_timer::HeadTimer;
use crate::open_connections::{OpenConnections, Registered};
use crate::server::AppState;

/// The body of every answer: the stack's, or an axum body (the proxy's own
/// routes and errors).
pub type ProxyBody = Either<StackBody, axum::body::Body>;

/// While a new connection waits past the limit and no open one has been
/// idle long enough to close, how often to look again.
const LOOK_FOR_IDLE_EVERY: Duration = Duration::from_millis(50);

/// Paths the proxy answers itself; everything else is forwarded.
const OWN_PATHS: [&str; 5] = ["/healthz", "/metrics", "/stats", "/dashboard", "/admin/"];

fn is_own_path(path: &str) -> bool {
    OWN_PATHS
        .iter()
        .any(|own| path == *own || (own.ends_with('/') && path.starts_with(own)))
}

/// One connection's service.
#[derive(Clone)]
struct ProxyService {
    state: Arc<AppState>,
    own_routes: Router,
    activity: Arc<Activity>,
}

type ProxyFuture =
    Pin<Box<dyn Future<Output = Result<Response<Tracked<ProxyBody>>, Infallible>> + Send>>;

impl hyper::service::Service<Request<Incoming>> for ProxyService {
    type Response = Response<Tracked<ProxyBody>>;
    type Error = Infallible;
    type Future = ProxyFuture;

    fn call(&self, request: Request<Incoming>) -> ProxyFuture {
        // In flight from now until the answer's body is done or dropped.
        let guard = self.activity.begin();
        if is_own_path(request.uri().path()) {
            let own_routes = self.own_routes.clone();
            return Box::pin(async move {
                let response = own_routes
                    .oneshot(request.map(axum::body::Body::new))
                    .await?;
                Ok(response.map(|body| Tracked::new(Either::Right(body), guard)))
            });
        }
        let answer = forward::forward(self.state.clone(), request);
        Box::pin(async move {
            let response = answer.await?;
            Ok(response.map(|body| Tracked::new(body, guard)))
        })
    }
}

/// How the server treats its clients' connections.
#[derive(Clone, Copy, Debug)]
pub struct ConnectionLimits {
    /// Time to send a request's head (HTTP/1.1).
    pub header_timeout: Duration,
    /// A connection with nothing in flight is closed after this.
    pub keep_alive_timeout: Duration,
    /// Open connections at most; more wait in the listen backlog, and
    /// while one does, the connection idle the longest is closed.
    pub max_connections: usize,
    /// After the stop signal, how long open connections may finish.
    pub shutdown_grace: Duration,
}

/// Accepts connections (over TLS when `tls` is given) until `stopped` fires, then lets the open ones
/// finish what they are doing (streams included) for at most the grace
/// period, closes what remains, and returns.
pub async fn serve(
    listener: TcpListener,
    state: Arc<AppState>,
    own_routes: Router,
    limits: ConnectionLimits,
    tls: Option<TlsAcceptor>,
    stopped: oneshot::Receiver<()>,
) -> std::io::Result<()> {
    let mut builder = auto::Builder::new(TokioExecutor::new());
    builder.http1().header_read_timeout(limits.header_timeout);
    builder.http2().timer(TokioTimer::new());
    let (stop, stopping) = watch::channel(false);
    let permits = Arc::new(Semaphore::new(limits.max_connections));
    let open = Arc::new(OpenConnections::default());
    let mut connections = JoinSet::new();
    let mut stopped = std::pin::pin!(stopped);
    'accepting: loop {
        let accepted = tokio::select! {
            accepted = listener.accept() => accepted,
            _ = &mut stopped => break,
        };
        // Reap the connections that ended.
        while connections.try_join_next().is_some() {}
        let stream = match accepted {
            Ok((stream, _)) => stream,
            Err(error) if is_per_connection(&error) => continue,
            Err(error) => {
                // Out of file descriptors and the like: wait, then go on.
                tracing::error!(%error, "accepting a connection failed");
                tokio::time::sleep(Duration::from_millis(100)).await;
                continue;
            }
        };
        // Past the limit, this connection waits (and the ones behind it in
        // the backlog): the connection idle the longest (for a second at
        // least) is asked to close; while there is none, look again.
        let permit = match permits.clone().try_acquire_owned() {
            Ok(permit) => permit,
            Err(TryAcquireError::Closed) => break,
            Err(TryAcquireError::NoPermits) => loop {
                open.close_longest_idle();
                tokio::select! {
                    permit = permits.clone().acquire_owned() => match permit {
                        Ok(permit) => break permit,
                        Err(_) => break 'accepting,
                    },
                    _ = &mut stopped => break 'accepting,
                    _ = tokio::time::sleep(LOOK_FOR_IDLE_EVERY) => {}
                }
            },
        };
        let _ = stream.set_nodelay(true);
        let activity = Arc::new(Activity::new());
        let listed = open.register(activity.clone());
        let service = ProxyService {
            state: state.clone(),
            own_routes: own_routes.clone(),
            activity: activity.clone(),
        };
        let watch = Watch {
            activity,
            keep_alive: limits.keep_alive_timeout,
            stopping: stopping.clone(),
            _permit: permit,
            _listed: listed,
        };
        let mut builder = builder.clone();
        // Each connection its own head timer: one timer registration per
        // connection, not per request.
        builder.http1().timer(HeadTimer::default());
        match &tls {
            None => {
                let connection = builder
                    .serve_connection(TokioIo::new(stream), service)
                    .into_owned();
                connections.spawn(watch_connection(connection, watch));
            }
            Some(acceptor) => {
                // The handshake runs on the connection's task, bounded like
                // a request's head, so a slow client never holds up accepting.
                // A stop ends a handshake still under way.
                let handshake =
                    tokio::time::timeout(limits.header_timeout, acceptor.accept(stream));
                let mut stopping = stopping.clone();
                connections.spawn(async move {
                    let handshake = tokio::select! {
                        handshake = handshake => handshake,
                        _ = stopping.wait_for(|stop| *stop) => return,
                    };
                    let stream = match handshake {
                        Ok(Ok(stream)) => stream,
                        Ok(Err(error)) => {
                            tracing::debug!(%error, "TLS handshake failed");
                            return;
                        }
                        Err(_) => return,
                    };
                    let connection = builder
                        .serve_connection(TokioIo::new(stream), service)
                        .into_owned();
                    watch_connection(connection, watch).await;
                });
            }
        }
    }
    drop(listener);
    let _ = stop.send(true);
    let drained = tokio::time::timeout(limits.shutdown_grace, async {
        while connections.join_next().await.is_some() {}
    })
    .await;
    if drained.is_err() {
        tracing::warn!(
            open = connections.len(),
            "shutdown grace period over: closing the connections still open"
        );
        connections.shutdown().await;
    }
    Ok(())
}

/// Drives one connection: closes it once it has been idle (nothing in
/// flight) for `keep_alive`, and shuts it down gracefully when the server
/// stops.
async fn watch_connection<C>(connection: C, watch: Watch)
where
    C: Future<Output = Result<(), Box<dyn std::error::Error + Send + Sync>>> + GracefulConnection,
{
    let Watch {
        activity,
        keep_alive,
        mut stopping,
        _permit,
        _listed,
    } = watch;
    let mut connection = std::pin::pin!(connection);
    let mut closing_since: Option<Instant> = None;
    loop {
        let check_at = activity.idle_deadline(keep_alive);
        tokio::select! {
            ended = connection.as_mut() => {
                if let Err(error) = ended {
                    tracing::debug!(%error, "connection ended with an error");
                }
                return;
            }
            _ = stopping.wait_for(|stop| *stop), if closing_since.is_none() => {
                connection.as_mut().shut_down();
                closing_since = Some(Instant::now());
            }
            // Its place is wanted by a new connection.
            _ = activity.until_asked_to_close(), if closing_since.is_none() => {
                connection.as_mut().shut_down();
                closing_since = Some(Instant::now());
            }
            _ = tokio::time::sleep_until(check_at) => {
                if !activity.is_idle_for(keep_alive) {
                    continue;
                }
                match closing_since {
                    None => {
                        connection.as_mut().shut_down();
                        closing_since = Some(Instant::now());
                    }
                    // Asked to close and still open with nothing in flight
                    // (a client that sent half a head and went quiet).
                    Some(since) if since.elapsed() >= keep_alive => return,
                    Some(_) => {}
                }
            }
        }
    }
}

/// What a connection is watched with: its activity, the idle limit, the
/// stop signal, and its place among the open connections.
struct Watch {
    activity: Arc<Activity>,
    keep_alive: Duration,
    stopping: watch::Receiver<bool>,
    _permit: OwnedSemaphorePermit,
    _listed: Registered,
}

/// A connection that can be asked to finish what it is doing and close.
trait GracefulConnection {
    fn shut_down(self: Pin<&mut Self>);
}

impl<I, S, E> GracefulConnection for auto::Connection<'static, I, S, E>
where
    S: hyper::service::HttpService<Incoming>,
    S::Error: Into<Box<dyn std::error::Error + Send + Sync>>,
    S::ResBody: http_body::Body + Send + 'static,
    <S::ResBody as http_body::Body>::Error: Into<Box<dyn std::error::Error + Send + Sync>>,
    I: hyper::rt::Read + hyper::rt::Write + Unpin + 'static,
    E: hyper_util::server::conn::auto::HttpServerConnExec<S::Future, S::ResBody>,
{
    fn shut_down(self: Pin<&mut Self>) {
        self.graceful_shutdown();
    }
}

/// Errors that concern one connection, not the listener.
fn is_per_connection(error: &std::io::Error) -> bool {
    use std::io::ErrorKind::*;
    matches!(
        error.kind(),
        ConnectionRefused | ConnectionAborted | ConnectionReset
    )
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn only_the_proxys_own_paths_stay_here() {
        for own in ["/healthz", "/metrics", "/stats", "/admin/cache/clear"] {
            assert!(is_own_path(own), "{own}");
        }
        for forwarded in [
            "/v1/chat/completions",
            "/anthropic/v1/messages",
            "/metricsx",
            "/admin",
            "/v1/stats",
        ] {
            assert!(!is_own_path(forwarded), "{forwarded}");
        }
    }
}
