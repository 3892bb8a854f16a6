//! The listening server: TCP (and TLS) on loopback, HTTP/1.1 and HTTP/2.

use std::net::SocketAddr;
use std::sync::Arc;

use hyper::service::service_fn;
use hyper_util::rt::{TokioExecutor, TokioIo, TokioTimer};
use hyper_util::server::conn::auto;
use rustls::pki_types::CertificateDer;
use tokio::net::{TcpListener, TcpStream};
use tokio::task::JoinSet;
use tokio_rustls::TlsAcceptor;

use crate::config::MockConfig;
use crate::fault::Fault;
use crate::handler::{handle, State};
use crate::stats::{MockStats, RecordedRequest};
use crate::tls::{self_signed, TlsError};

/// Errors starting a mock server.
#[derive(Debug, thiserror::Error)]
pub enum StartError {
    /// The port could not be bound.
    #[error("binding 127.0.0.1:{port}: {source}")]
    Bind {
        /// The port asked for.
        port: u16,
        /// The system's error.
        source: std::io::Error,
    },
    /// The TLS set-up failed.
    #[error(transparent)]
    Tls(#[from] TlsError),
}

/// A running mock provider. Dropping it stops the server and closes every
/// connection.
pub struct MockServer {
    addr: SocketAddr,
    tls: Option<(CertificateDer<'static>, String)>,
    state: Arc<State>,
    accept_loop: tokio::task::JoinHandle<()>,
}

impl MockServer {
    /// Binds 127.0.0.1 and starts serving. Must be called inside a Tokio
    /// runtime.
    pub async fn start(config: MockConfig) -> Result<MockServer, StartError> {
        let port = config.port;
        let listener = TcpListener::bind(("127.0.0.1", port))
            .await
            .map_err(|source| StartError::Bind { port, source })?;
        let addr = listener
            .local_addr()
            .map_err(|source| StartError::Bind { port, source })?;
        let tls = if config.tls {
            Some(self_signed()?)
        } else {
            None
        };
        let acceptor = tls
            .as_ref()
            .map(|tls| TlsAcceptor::from(tls.config.clone()));
        let state = Arc::new(State::new(config));
        let accept_loop = tokio::spawn(accept(listener, acceptor, state.clone()));
        Ok(MockServer {
            addr,
            tls: tls.map(|tls| (tls.certificate, tls.pem)),
            state,
            accept_loop,
        })
    }

    /// The address it listens on.
    pub fn addr(&self) -> SocketAddr {
        self.addr
    }

    /// `http://127.0.0.1:PORT` or `https://localhost:PORT` (the certificate
    /// names `localhost` and `127.0.0.1`).
    pub fn base_url(&self) -> String {
        match self.tls {
            Some(_) => format!("https://localhost:{}", self.addr.port()),
            None => format!("http://{}", self.addr),
        }
    }

    /// The self-signed certificate (DER), when serving TLS: add it as a
    /// trusted root in clients.
    pub fn certificate_der(&self) -> Option<&CertificateDer<'static>> {
        self.tls.as_ref().map(|(der, _)| der)
    }

    /// The self-signed certificate (PEM), when serving TLS.
    pub fn certificate_pem(&self) -> Option<&str> {
        self.tls.as_ref().map(|(_, pem)| pem.as_str())
    }

    /// Counters since start or the last reset.
    pub fn stats(&self) -> MockStats {
        self.state.stats()
    }

    /// The most recent requests, oldest first.
    pub fn recent_requests(&self) -> Vec<RecordedRequest> {
        self.state.counters.recent()
    }

    /// Zeroes the counters, empties the emulated prompt caches and forgets
    /// how often scheduled faults struck.
    pub fn reset(&self) {
        self.state.reset();
    }

    /// Injects `fault` into every following request (`None` stops it).
    pub fn set_fault(&self, fault: Option<Fault>) {
        *self.state.fault.lock().unwrap_or_else(|e| e.into_inner()) = fault;
        *self
            .state
            .fault_until
            .lock()
            .unwrap_or_else(|e| e.into_inner()) = None;
    }

    /// Injects `fault` into every request for `window`, then answers
    /// normally again: a provider down for a while.
    pub fn down_for(&self, fault: Fault, window: std::time::Duration) {
        *self.state.fault.lock().unwrap_or_else(|e| e.into_inner()) = Some(fault);
        *self
            .state
            .fault_until
            .lock()
            .unwrap_or_else(|e| e.into_inner()) = Some(std::time::Instant::now() + window);
    }
}

impl Drop for MockServer {
    fn drop(&mut self) {
        self.accept_loop.abort();
    }
}

async fn accept(listener: TcpListener, tls: Option<TlsAcceptor>, state: Arc<State>) {
    // Owned by this task: aborting it aborts every connection.
    let mut connections = JoinSet::new();
    loop {
        tokio::select! {
            accepted = listener.accept() => {
                let Ok((stream, _)) = accepted else { continue };
                state.counters.count_connection();
                connections.spawn(serve(stream, tls.clone(), state.clone()));
            }
            Some(_) = connections.join_next(), if !connections.is_empty() => {}
        }
    }
}

async fn serve(stream: TcpStream, tls: Option<TlsAcceptor>, state: Arc<State>) {
    let _ = stream.set_nodelay(true);
    let delay = state.config.connect_delay;
    let idle_timeout = state.config.idle_timeout;
    let max_streams = state.config.http2_max_concurrent_streams;
    if !delay.is_zero() {
        tokio::time::sleep(delay).await;
    }
    let service = service_fn(move |request| handle(state.clone(), request));
    let mut builder = auto::Builder::new(TokioExecutor::new());
    if let Some(timeout) = idle_timeout {
        builder
            .http1()
            .timer(TokioTimer::new())
            .header_read_timeout(timeout);
    }
    if let Some(max) = max_streams {
        builder.http2().max_concurrent_streams(max);
    }
    let result = match tls {
        Some(acceptor) => match acceptor.accept(stream).await {
            Ok(stream) => {
                builder
                    .serve_connection(TokioIo::new(stream), service)
                    .await
            }
            Err(error) => {
                tracing::debug!(%error, "mock TLS handshake failed");
                return;
            }
        },
        None => {
            builder
                .serve_connection(TokioIo::new(stream), service)
                .await
        }
    };
    if let Err(error) = result {
        tracing::debug!(%error, "mock connection ended with an error");
    }
}
