//! Serving connections: hyper's HTTP/1.1 and HTTP/2 server, each request
//! sent either to the proxy's own routes (an axum router) or straight to
//! the forwarding path, which needs no router: one prefix check per
//! request, one boxed future, and the stack's body passed through as it is.

use std::convert::Infallible;
use std::future::Future;
use std::pin::Pin;
use std::sync::Arc;
use std::time::Duration;

use axum::Router;
use http::{Request, Response};
use http_body_util::Either;
use hyper::body::Incoming;
use hyper_util::rt::{TokioExecutor, TokioIo};
use hyper_util::server::conn::auto;
use hyper_util::server::graceful::GracefulShutdown;
use llm_layers::stack::StackBody;
use tokio::net::TcpListener;
use tokio::sync::oneshot;
use tower::ServiceExt;

use crate::forward;
use crate::server::AppState;

/// The body of every answer: the stack's, or an axum body (the proxy's own
/// routes and errors).
pub type ProxyBody = Either<StackBody, axum::body::Body>;

/// Paths the proxy answers itself; everything else is forwarded.
const OWN_PATHS: [&str; 4] = ["/healthz", "/metrics", "/stats", "/admin/"];

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
}

type ProxyFuture = Pin<Box<dyn Future<Output = Result<Response<ProxyBody>, Infallible>> + Send>>;

impl hyper::service::Service<Request<Incoming>> for ProxyService {
    type Response = Response<ProxyBody>;
    type Error = Infallible;
    type Future = ProxyFuture;

    fn call(&self, request: Request<Incoming>) -> ProxyFuture {
        if is_own_path(request.uri().path()) {
            let own_routes = self.own_routes.clone();
            return Box::pin(async move {
                let response = own_routes
                    .oneshot(request.map(axum::body::Body::new))
                    .await?;
                Ok(response.map(Either::Right))
            });
        }
        Box::pin(forward::forward(self.state.clone(), request))
    }
}

/// Accepts connections until `stopped` fires, then lets the open ones
/// finish what they are doing (streams included) and returns.
pub async fn serve(
    listener: TcpListener,
    state: Arc<AppState>,
    own_routes: Router,
    stopped: oneshot::Receiver<()>,
) -> std::io::Result<()> {
    let service = ProxyService { state, own_routes };
    let builder = auto::Builder::new(TokioExecutor::new());
    let graceful = GracefulShutdown::new();
    let mut stopped = std::pin::pin!(stopped);
    loop {
        let accepted = tokio::select! {
            accepted = listener.accept() => accepted,
            _ = &mut stopped => break,
        };
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
        let _ = stream.set_nodelay(true);
        let connection = builder
            .serve_connection(TokioIo::new(stream), service.clone())
            .into_owned();
        let connection = graceful.watch(connection);
        tokio::spawn(async move {
            if let Err(error) = connection.await {
                tracing::debug!(error = %error, "connection ended with an error");
            }
        });
    }
    drop(listener);
    drop(service);
    graceful.shutdown().await;
    Ok(())
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
