//! Starting and stopping the proxy.

use std::net::SocketAddr;
use std::sync::Arc;

use crate::embedded_mock::{self, EmbeddedMock};
use axum::routing::{get, post};
use axum::Router;
use http::header::HeaderName;
use llm_layers::connector::HyperConnector;
use llm_layers::stack::{StackBody, StackService};
use llm_layers::LlmStack;
use metrics_exporter_prometheus::PrometheusHandle;
use tokio::sync::oneshot;
use tokio::task::JoinHandle;
use tower_http::sensitive_headers::SetSensitiveRequestHeadersLayer;
use tower_http::trace::TraceLayer;

use crate::config::{ConfigError, ProxyConfig};
use crate::serve::{serve, ConnectionLimits};
use crate::upstream::{Routes, CREDENTIAL_HEADERS};
use crate::{admin, batches, layers, prometheus};

/// What every handler shares.
pub struct AppState {
    /// Where requests go.
    pub routes: Routes,
    /// The built stack.
    pub service: StackService,
    /// The layers, for their stats and admin operations.
    pub stack: LlmStack,
    /// The connector, for its pool stats.
    pub connector: HyperConnector<StackBody>,
    /// The admin routes' bearer token.
    pub admin_token: Option<String>,
    /// Renders `/metrics`.
    pub prometheus: PrometheusHandle,
    /// Largest request body forwarded (413 beyond).
    pub max_request_bytes: usize,
    /// Time to read a request body (408 beyond).
    pub client_body_timeout: std::time::Duration,
    /// Bytes of all request bodies being read at once (503 beyond).
    pub body_budget: Arc<tokio::sync::Semaphore>,
    /// Batch API jobs filling the cache (none when the cache is off).
    pub batches: Option<llm_layers::batch::filler::BatchFiller>,
}

/// The proxy could not start.
#[derive(Debug, thiserror::Error)]
pub enum StartError {
    /// The configuration is invalid.
    #[error(transparent)]
    Config(#[from] ConfigError),
    /// The cache store could not be opened.
    #[error(transparent)]
    Store(#[from] layers::StoreOpenError),
    /// The connector could not be built.
    #[error("building the connector: {0}")]
    Connector(String),
    /// The TLS certificate or key could not be used.
    #[error(transparent)]
    Tls(#[from] crate::tls::TlsError),
    /// The embedded mock could not start.
    #[error("starting the mock upstream: {0}")]
    Mock(String),
    /// The listen address could not be bound.
    #[error("listening on {addr}: {source}")]
    Listen {
        /// The address.
        addr: SocketAddr,
        /// Why.
        source: std::io::Error,
    },
}

/// A running proxy.
pub struct RunningProxy {
    addr: SocketAddr,
    state: Arc<AppState>,
    shutdown: Option<oneshot::Sender<()>>,
    task: JoinHandle<std::io::Result<()>>,
    mock: Option<EmbeddedMock>,
    grace: std::time::Duration,
    scheme: &'static str,
}

impl RunningProxy {
    /// The address it listens on.
    pub fn addr(&self) -> SocketAddr {
        self.addr
    }

    /// `http://addr`, or `https://addr` when serving TLS.
    pub fn url(&self) -> String {
        format!("{}://{}", self.scheme, self.addr)
    }

    /// The layers, for their stats.
    pub fn stack(&self) -> &LlmStack {
        &self.state.stack
    }

    /// The embedded mock upstream, when started with `mock`.
    pub fn mock(&self) -> Option<&EmbeddedMock> {
        self.mock.as_ref()
    }

    /// Stops accepting connections, waits for in-flight requests (and
    /// streams) to finish and for their answers to reach the cache store,
    /// then lets go of the store. Connections still open after the grace
    /// period are closed, and answers still being written get one more
    /// grace period.
    pub async fn shutdown(mut self) -> std::io::Result<()> {
        if let Some(trigger) = self.shutdown.take() {
            let _ = trigger.send(());
        }
        let served = (&mut self.task)
            .await
            .unwrap_or_else(|error| Err(std::io::Error::other(error)));
        if let Some(cache) = self.state.stack.cache() {
            if tokio::time::timeout(self.grace, cache.flush())
                .await
                .is_err()
            {
                tracing::warn!(
                    "shutdown grace period over: answers still being stored are dropped"
                );
            }
        }
        // A connection task tells the server it is done a moment before it
        // drops its copy of the service; wait (bounded) for the last one,
        // so the store is closed when this returns.
        let deadline = tokio::time::Instant::now() + std::time::Duration::from_secs(5);
        while Arc::strong_count(&self.state) > 1 && tokio::time::Instant::now() < deadline {
            tokio::time::sleep(std::time::Duration::from_millis(1)).await;
        }
        served
    }

    /// Runs until `signal` completes, then shuts down gracefully.
    pub async fn run_until(
        self,
        signal: impl std::future::Future<Output = ()>,
    ) -> std::io::Result<()> {
        signal.await;
        self.shutdown().await
    }
}

/// Starts the proxy described by `config`.
pub async fn start(mut config: ProxyConfig) -> Result<RunningProxy, StartError> {
    config.validate()?;
    let mock = match config.mock {
        false => None,
        true => {
            let mock = embedded_mock::start().await.map_err(StartError::Mock)?;
            config.upstream = mock.base_url().to_owned();
            config.anthropic_upstream = Some(mock.base_url().to_owned());
            config.gemini_upstream = Some(mock.base_url().to_owned());
            Some(mock)
        }
    };
    let routes = Routes::new(&config)?;
    let stack = layers::stack(&config)?;
    let connector = HyperConnector::builder()
        .build::<StackBody>()
        .map_err(|error| StartError::Connector(error.to_string()))?;
    let service = stack.clone().service(connector.clone());
    if config.admin_token.is_none() {
        tracing::warn!("no admin token configured: the admin routes refuse every request");
    }
    let batches = match stack.cache() {
        Some(cache) => Some(
            crate::batches::filler(cache, &config.upstream, config.batch.poll_interval)
                .map_err(StartError::Connector)?,
        ),
        None => None,
    };
    let state = Arc::new(AppState {
        routes,
        service,
        stack,
        connector,
        admin_token: config.admin_token.clone(),
        prometheus: prometheus::handle(),
        max_request_bytes: config.max_request_bytes,
        client_body_timeout: config.client_body_timeout,
        body_budget: Arc::new(tokio::sync::Semaphore::new(
            config.max_buffered_request_bytes.min(u32::MAX as usize),
        )),
        batches,
    });
    let own_routes = own_routes(state.clone());
    let listener = tokio::net::TcpListener::bind(config.listen)
        .await
        .map_err(|source| StartError::Listen {
            addr: config.listen,
            source,
        })?;
    let addr = listener.local_addr().map_err(|source| StartError::Listen {
        addr: config.listen,
        source,
    })?;
    let (trigger, stopped) = oneshot::channel::<()>();
    let limits = ConnectionLimits {
        header_timeout: config.client_header_timeout,
        keep_alive_timeout: config.keep_alive_timeout,
        max_connections: config.max_connections,
        shutdown_grace: config.shutdown_grace,
    };
    let tls = match (&config.tls_cert, &config.tls_key) {
        (Some(cert), Some(key)) => Some(crate::tls::acceptor(cert, key)?),
        _ => None,
    };
    let scheme = if tls.is_some() { "https" } else { "http" };
    let task = tokio::spawn(serve(
        listener,
        state.clone(),
        own_routes,
        limits,
        tls,
        stopped,
    ));
    Ok(RunningProxy {
        addr,
        state,
        shutdown: Some(trigger),
        task,
        mock,
        grace: config.shutdown_grace,
        scheme,
    })
}

/// The proxy's own routes (everything else is forwarded, see [`serve`]).
fn own_routes(state: Arc<AppState>) -> Router {
    let max_request_bytes = state.max_request_bytes;
    let sensitive: Vec<HeaderName> = CREDENTIAL_HEADERS.to_vec();
    Router::new()
        .route("/healthz", get(admin::healthz))
        .route("/metrics", get(admin::metrics))
        .route("/stats", get(admin::stats))
        .route("/dashboard", get(admin::dashboard))
        .route("/admin/cache/clear", post(admin::clear_cache))
        .route("/admin/cache/stats", get(admin::cache_stats))
        .route("/admin/batches", post(batches::submit))
        .route("/admin/batches/{id}", get(batches::job))
        .layer(axum::extract::DefaultBodyLimit::max(max_request_bytes))
        .layer(TraceLayer::new_for_http())
        .layer(SetSensitiveRequestHeadersLayer::new(sensitive))
        .with_state(state)
}
