//! Opening a connection: TCP through hyper-util's `HttpConnector`, then TLS
//! through rustls (ring provider) for `https` URIs, each step timed, each
//! failure typed, each connection given an identity for the pool statistics.
//!
//! (hyper-rustls would do the TLS step too, but it reports neither the TLS
//! handshake time apart from the TCP connect nor a typed TLS failure, and
//! both are what this crate is for; the handshake itself is tokio-rustls.)

use std::future::Future;
use std::io;
use std::pin::Pin;
use std::sync::Arc;
use std::task::{Context, Poll};
use std::time::{Duration, Instant};

use http::Uri;
use hyper::rt::{Read, ReadBufCursor, Write};
use hyper_util::client::legacy::connect::{Connected, Connection, HttpConnector};
use hyper_util::rt::TokioIo;
use rustls::pki_types::ServerName;
use tokio::net::TcpStream;
use tokio_rustls::client::TlsStream;
use tokio_rustls::TlsConnector;
use tower::Service;

use crate::error::ConnectError;
use crate::stats::{ConnectionMeta, PoolStats};

/// The connector handed to hyper-util's client.
#[derive(Clone)]
pub(crate) struct Connect {
    pub http: HttpConnector,
    pub tls: TlsConnector,
    pub handshake_timeout: Duration,
    pub stats: Arc<PoolStats>,
}

impl Service<Uri> for Connect {
    type Response = Stream;
    type Error = ConnectError;
    type Future = Pin<Box<dyn Future<Output = Result<Stream, ConnectError>> + Send>>;

    fn poll_ready(&mut self, cx: &mut Context<'_>) -> Poll<Result<(), ConnectError>> {
        self.http
            .poll_ready(cx)
            .map_err(|error| ConnectError::Tcp(error.into()))
    }

    fn call(&mut self, uri: Uri) -> Self::Future {
        let mut http = self.http.clone();
        let tls = self.tls.clone();
        let timeout = self.handshake_timeout;
        let stats = self.stats.clone();
        Box::pin(async move {
            let host = uri
                .host()
                .ok_or_else(|| ConnectError::InvalidUri(uri.to_string()))?
                .trim_start_matches('[')
                .trim_end_matches(']')
                .to_owned();
            let https = uri.scheme() == Some(&http::uri::Scheme::HTTPS);
            let started = Instant::now();
            let tcp = http
                .call(uri)
                .await
                .map_err(|error| ConnectError::Tcp(error.into()))?;
            let tcp_time = started.elapsed();
            if !https {
                let meta = stats.opened(&host, tcp_time, None, false);
                return Ok(Stream::Plain(tcp, meta));
            }
            let name = ServerName::try_from(host.clone())
                .map_err(|_| ConnectError::InvalidUri(host.clone()))?;
            let started = Instant::now();
            let stream = tokio::time::timeout(timeout, tls.connect(name, tcp.into_inner()))
                .await
                .map_err(|_| ConnectError::Timeout("TLS handshake"))?
                .map_err(ConnectError::Tls)?;
            let tls_time = started.elapsed();
            let http2 = stream.get_ref().1.alpn_protocol() == Some(b"h2");
            let meta = stats.opened(&host, tcp_time, Some(tls_time), http2);
            Ok(Stream::Tls(Box::new(TokioIo::new(stream)), meta))
        })
    }
}

/// A plain or TLS connection, with its identity.
pub(crate) enum Stream {
    Plain(TokioIo<TcpStream>, ConnectionMeta),
    // Boxed: a TLS session is a kilobyte, a TCP stream a few words.
    Tls(Box<TokioIo<TlsStream<TcpStream>>>, ConnectionMeta),
}

impl Connection for Stream {
    fn connected(&self) -> Connected {
        match self {
            Stream::Plain(tcp, meta) => tcp.connected().extra(meta.clone()),
            Stream::Tls(_, meta) => {
                let connected = Connected::new().extra(meta.clone());
                if meta.http2 {
                    connected.negotiated_h2()
                } else {
                    connected
                }
            }
        }
    }
}

impl Read for Stream {
    fn poll_read(
        self: Pin<&mut Self>,
        cx: &mut Context<'_>,
        buf: ReadBufCursor<'_>,
    ) -> Poll<io::Result<()>> {
        match self.get_mut() {
            Stream::Plain(io, _) => Pin::new(io).poll_read(cx, buf),
            Stream::Tls(io, _) => Pin::new(&mut **io).poll_read(cx, buf),
        }
    }
}

impl Write for Stream {
    fn poll_write(
        self: Pin<&mut Self>,
        cx: &mut Context<'_>,
        buf: &[u8],
    ) -> Poll<io::Result<usize>> {
        match self.get_mut() {
            Stream::Plain(io, _) => Pin::new(io).poll_write(cx, buf),
            Stream::Tls(io, _) => Pin::new(&mut **io).poll_write(cx, buf),
        }
    }

    fn poll_flush(self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<io::Result<()>> {
        match self.get_mut() {
            Stream::Plain(io, _) => Pin::new(io).poll_flush(cx),
            Stream::Tls(io, _) => Pin::new(&mut **io).poll_flush(cx),
        }
    }

    fn poll_shutdown(self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<io::Result<()>> {
        match self.get_mut() {
            Stream::Plain(io, _) => Pin::new(io).poll_shutdown(cx),
            Stream::Tls(io, _) => Pin::new(&mut **io).poll_shutdown(cx),
        }
    }

    fn is_write_vectored(&self) -> bool {
        match self {
            Stream::Plain(io, _) => io.is_write_vectored(),
            Stream::Tls(io, _) => io.is_write_vectored(),
        }
    }

    fn poll_write_vectored(
        self: Pin<&mut Self>,
        cx: &mut Context<'_>,
        bufs: &[io::IoSlice<'_>],
    ) -> Poll<io::Result<usize>> {
        match self.get_mut() {
            Stream::Plain(io, _) => Pin::new(io).poll_write_vectored(cx, bufs),
            Stream::Tls(io, _) => Pin::new(&mut **io).poll_write_vectored(cx, bufs),
        }
    }
}
