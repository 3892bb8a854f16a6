//! Configuration of a [`HyperConnector`], with the defaults documented.

use std::sync::Arc;
use std::time::Duration;

use hyper_util::client::legacy::connect::HttpConnector;
use rustls::pki_types::CertificateDer;
use tokio_rustls::TlsConnector;
use tower::limit::ConcurrencyLimit;
use tower::util::Either;

use crate::connect::Connect;
use crate::pool::{Http2Options, Pool, PoolConfig};
use crate::service::{HyperConnector, PooledClient, RequestBody};
use crate::stats::PoolStats;

/// Which certificate authorities to trust.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Roots {
    /// Mozilla's roots, compiled in (`webpki-roots`). The default.
    Webpki,
    /// The operating system's store (`rustls-native-certs`).
    Native,
    /// None: only the certificates given with
    /// [`HyperConnectorBuilder::add_root_certificate`].
    None,
}

/// Errors building a connector.
#[derive(Debug, thiserror::Error)]
pub enum BuildError {
    /// An extra root certificate could not be parsed.
    #[error("invalid root certificate: {0}")]
    Certificate(#[source] rustls::Error),
    /// The operating system's root store could not be read.
    #[error("loading native root certificates: {0}")]
    NativeRoots(String),
    /// rustls refused the configuration.
    #[error("TLS configuration: {0}")]
    Tls(#[source] rustls::Error),
}

/// Builds a [`HyperConnector`]. `Default` is the documented configuration.
#[derive(Clone, Debug)]
pub struct HyperConnectorBuilder {
    /// Idle connections kept per host. Default unbounded: a pool never
    /// holds more connections than were once in use together, and each
    /// idle one closes after [`idle_timeout`](Self::idle_timeout). A cap
    /// below the callers' concurrency closes and reopens connections on
    /// every burst (at 32 concurrent callers, a cap of 20 had the proxy
    /// open a TCP connection per few requests).
    pub max_idle_per_host: usize,
    /// How long an idle connection is kept. Default 300 s.
    pub idle_timeout: Option<Duration>,
    /// TCP connect timeout; also bounds the TLS handshake. Default 10 s.
    pub connect_timeout: Duration,
    /// TCP keep-alive probes. Default 60 s.
    pub tcp_keepalive: Option<Duration>,
    /// Happy eyeballs fallback delay between IPv6 and IPv4. Default 300 ms.
    pub happy_eyeballs: Option<Duration>,
    /// Speak only HTTP/2 (prior knowledge on `http`, ALPN `h2` only on
    /// `https`). Default false: HTTP/1.1 or HTTP/2 by ALPN.
    pub http2_only: bool,
    /// Offer only HTTP/1.1 in ALPN (for servers with a broken HTTP/2).
    /// Default false.
    pub http1_only: bool,
    /// HTTP/2 keep-alive ping interval. Default 30 s.
    pub http2_keep_alive_interval: Option<Duration>,
    /// How long to wait for a ping's answer. Default 20 s.
    pub http2_keep_alive_timeout: Duration,
    /// HTTP/2 adaptive flow-control window. Default true.
    pub http2_adaptive_window: bool,
    /// Trusted roots. Default [`Roots::Webpki`].
    pub roots: Roots,
    /// Further trusted roots (self-hosted gateways, tests).
    pub extra_roots: Vec<CertificateDer<'static>>,
    /// Cap on requests in flight at once (tower's `ConcurrencyLimit`).
    /// Default none.
    pub max_in_flight: Option<usize>,
}

impl Default for HyperConnectorBuilder {
    fn default() -> Self {
        HyperConnectorBuilder {
            max_idle_per_host: usize::MAX,
            idle_timeout: Some(Duration::from_secs(300)),
            connect_timeout: Duration::from_secs(10),
            tcp_keepalive: Some(Duration::from_secs(60)),
            happy_eyeballs: Some(Duration::from_millis(300)),
            http2_only: false,
            http1_only: false,
            http2_keep_alive_interval: Some(Duration::from_secs(30)),
            http2_keep_alive_timeout: Duration::from_secs(20),
            http2_adaptive_window: true,
            roots: Roots::Webpki,
            extra_roots: Vec::new(),
            max_in_flight: None,
        }
    }
}

impl HyperConnectorBuilder {
    /// Idle connections kept per host (0 disables pooling).
    pub fn max_idle_per_host(mut self, count: usize) -> Self {
        self.max_idle_per_host = count;
        self
    }

    /// How long an idle connection is kept.
    pub fn idle_timeout(mut self, timeout: Option<Duration>) -> Self {
        self.idle_timeout = timeout;
        self
    }

    /// TCP connect (and TLS handshake) timeout.
    pub fn connect_timeout(mut self, timeout: Duration) -> Self {
        self.connect_timeout = timeout;
        self
    }

    /// Speak only HTTP/2.
    pub fn http2_only(mut self, only: bool) -> Self {
        self.http2_only = only;
        self
    }

    /// Offer only HTTP/1.1.
    pub fn http1_only(mut self, only: bool) -> Self {
        self.http1_only = only;
        self
    }

    /// Which roots to trust.
    pub fn roots(mut self, roots: Roots) -> Self {
        self.roots = roots;
        self
    }

    /// Trust one more root certificate (DER).
    pub fn add_root_certificate(mut self, certificate: CertificateDer<'static>) -> Self {
        self.extra_roots.push(certificate);
        self
    }

    /// Cap the requests in flight at once.
    pub fn max_in_flight(mut self, limit: Option<usize>) -> Self {
        self.max_in_flight = limit;
        self
    }

    /// Builds the connector for request bodies of type `B`.
    pub fn build<B>(self) -> Result<HyperConnector<B>, BuildError>
    where
        B: RequestBody,
    {
        crate::stats::describe();
        let tls = self.tls_config()?;
        let mut http = HttpConnector::new();
        http.enforce_http(false);
        http.set_nodelay(true);
        http.set_keepalive(self.tcp_keepalive);
        http.set_connect_timeout(Some(self.connect_timeout));
        http.set_happy_eyeballs_timeout(self.happy_eyeballs);
        let stats = Arc::new(PoolStats::default());
        let connect = Connect {
            http,
            tls: TlsConnector::from(Arc::new(tls)),
            handshake_timeout: self.connect_timeout,
            http2_only: self.http2_only,
            stats: stats.clone(),
        };
        let config = PoolConfig {
            max_idle_per_host: self.max_idle_per_host,
            idle_timeout: self.idle_timeout,
            http1_only: self.http1_only,
            http2: Http2Options {
                keep_alive_interval: self.http2_keep_alive_interval,
                keep_alive_timeout: self.http2_keep_alive_timeout,
                adaptive_window: self.http2_adaptive_window,
            },
        };
        let pooled = PooledClient {
            pool: Pool::new(connect, config),
        };
        let inner = match self.max_in_flight {
            Some(limit) => Either::Left(ConcurrencyLimit::new(pooled, limit.max(1))),
            None => Either::Right(pooled),
        };
        Ok(HyperConnector { inner, stats })
    }

    fn tls_config(&self) -> Result<rustls::ClientConfig, BuildError> {
        let mut roots = rustls::RootCertStore::empty();
        match self.roots {
            Roots::Webpki => roots.extend(webpki_roots::TLS_SERVER_ROOTS.iter().cloned()),
            Roots::Native => {
                let loaded = rustls_native_certs::load_native_certs();
                if loaded.certs.is_empty() {
                    let errors: Vec<String> =
                        loaded.errors.iter().map(ToString::to_string).collect();
                    return Err(BuildError::NativeRoots(errors.join("; ")));
                }
                roots.add_parsable_certificates(loaded.certs);
            }
            Roots::None => {}
        }
        for certificate in &self.extra_roots {
            roots
                .add(certificate.clone())
                .map_err(BuildError::Certificate)?;
        }
        let provider = Arc::new(rustls::crypto::ring::default_provider());
        let mut config = rustls::ClientConfig::builder_with_provider(provider)
            .with_safe_default_protocol_versions()
            .map_err(BuildError::Tls)?
            .with_root_certificates(roots)
            .with_no_client_auth();
        config.alpn_protocols = if self.http2_only {
            vec![b"h2".to_vec()]
        } else if self.http1_only {
            vec![b"http/1.1".to_vec()]
        } else {
            vec![b"h2".to_vec(), b"http/1.1".to_vec()]
        };
        Ok(config)
    }
}
