//! Opening a connection: TCP through hyper-util's `HttpConnector`, then TLS
//! through rustls (ring provider) for `https` URIs, each step timed, each
//! failure typed, each connection given an identity for the pool statistics.
//!
//! (hyper-rustls would do the TLS step too, but it reports neither the TLS
//! handshake time apart from the TCP connect nor a typed TLS failure, and
//! both are what this crate is for; the handshake itself is tokio-rustls.)

use std::io;
use std::pin::Pin;
use std::sync::Arc;
use std::task::{ready, Context, Poll};
use std::time::{Duration, Instant};

use http::Uri;
use hyper_util::client::legacy::connect::HttpConnector;
use hyper_util::rt::TokioIo;
use rustls::pki_types::ServerName;
use tokio::io::{AsyncRead, AsyncWrite, ReadBuf};
use tokio::net::TcpStream;
use tokio_rustls::client::TlsStream;
use tokio_rustls::TlsConnector;
use tower::Service;

use crate::error::ConnectError;
use crate::h2_settings::{FrameScanner, PeerSettings};
use crate::stats::{ConnectionMeta, PoolStats};

/// Opens connections for the pool.
#[derive(Clone)]
pub(crate) struct Connect {
    pub http: HttpConnector,
    pub tls: TlsConnector,
    pub handshake_timeout: Duration,
    pub http2_only: bool,
    pub stats: Arc<PoolStats>,
}

/// A connection just opened: its bytes, its identity, and its protocol.
pub(crate) struct Dialed {
    pub io: TokioIo<Stream>,
    pub meta: ConnectionMeta,
    /// The server's settings, read as they arrive; `Some` on HTTP/2.
    pub peer: Option<Arc<PeerSettings>>,
}

impl Connect {
    /// Opens a connection to `uri`'s host: TCP, then TLS for `https`.
    /// HTTP/2 when ALPN chose it, or always with `http2_only`.
    pub async fn dial(&self, uri: &Uri) -> Result<Dialed, ConnectError> {
        let host = uri
            .host()
            .ok_or_else(|| ConnectError::InvalidUri(uri.to_string()))?
            .trim_start_matches('[')
            .trim_end_matches(']')
            .to_owned();
        let https = uri.scheme() == Some(&http::uri::Scheme::HTTPS);
        let started = Instant::now();
        let tcp = self
            .http
            .clone()
            .call(uri.clone())
            .await
            .map_err(|error| ConnectError::Tcp(error.into()))?
            .into_inner();
        let tcp_time = started.elapsed();
        if !https {
            let meta = self.stats.opened(&host, tcp_time, None, self.http2_only);
            return Ok(Stream::dialed(Transport::Plain(tcp), meta));
        }
        let name = ServerName::try_from(host.clone())
            .map_err(|_| ConnectError::InvalidUri(host.clone()))?;
        let started = Instant::now();
        let tls = tokio::time::timeout(self.handshake_timeout, self.tls.connect(name, tcp))
            .await
            .map_err(|_| ConnectError::Timeout("TLS handshake"))?
            .map_err(ConnectError::Tls)?;
        let tls_time = started.elapsed();
        let http2 = self.http2_only || tls.get_ref().1.alpn_protocol() == Some(b"h2");
        let meta = self.stats.opened(&host, tcp_time, Some(tls_time), http2);
        Ok(Stream::dialed(Transport::Tls(Box::new(tls)), meta))
    }
}

/// A plain or TLS connection.
enum Transport {
    Plain(TcpStream),
    // Boxed: a TLS session is a kilobyte, a TCP stream a few words.
    Tls(Box<TlsStream<TcpStream>>),
}

/// A connection's bytes; on HTTP/2 the server's frames are scanned for
/// its settings on the way in (see [`crate::h2_settings`]).
pub(crate) struct Stream {
    transport: Transport,
    settings: Option<(FrameScanner, Arc<PeerSettings>)>,
}

impl Stream {
    fn dialed(transport: Transport, meta: ConnectionMeta) -> Dialed {
        let peer = meta.http2.then(|| Arc::new(PeerSettings::default()));
        let stream = Stream {
            transport,
            settings: peer.clone().map(|peer| (FrameScanner::default(), peer)),
        };
        Dialed {
            io: TokioIo::new(stream),
            meta,
            peer,
        }
    }
}

impl AsyncRead for Stream {
    fn poll_read(
        self: Pin<&mut Self>,
        cx: &mut Context<'_>,
        buf: &mut ReadBuf<'_>,
    ) -> Poll<io::Result<()>> {
        let this = self.get_mut();
        let before = buf.filled().len();
        match &mut this.transport {
            Transport::Plain(io) => ready!(Pin::new(io).poll_read(cx, buf))?,
            Transport::Tls(io) => ready!(Pin::new(&mut **io).poll_read(cx, buf))?,
        }
        if let Some((scanner, peer)) = &mut this.settings {
            peer.read(scanner, &buf.filled()[before..]);
        }
        Poll::Ready(Ok(()))
    }
}

impl AsyncWrite for Stream {
    fn poll_write(
        self: Pin<&mut Self>,
        cx: &mut Context<'_>,
        buf: &[u8],
    ) -> Poll<io::Result<usize>> {
        match &mut self.get_mut().transport {
            Transport::Plain(io) => Pin::new(io).poll_write(cx, buf),
            Transport::Tls(io) => Pin::new(&mut **io).poll_write(cx, buf),
        }
    }

    fn poll_flush(self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<io::Result<()>> {
        match &mut self.get_mut().transport {
            Transport::Plain(io) => Pin::new(io).poll_flush(cx),
            Transport::Tls(io) => Pin::new(&mut **io).poll_flush(cx),
        }
    }

    fn poll_shutdown(self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<io::Result<()>> {
        match &mut self.get_mut().transport {
            Transport::Plain(io) => Pin::new(io).poll_shutdown(cx),
            Transport::Tls(io) => Pin::new(&mut **io).poll_shutdown(cx),
        }
    }

    fn is_write_vectored(&self) -> bool {
        match &self.transport {
            Transport::Plain(io) => io.is_write_vectored(),
            Transport::Tls(io) => io.is_write_vectored(),
        }
    }

    fn poll_write_vectored(
        self: Pin<&mut Self>,
        cx: &mut Context<'_>,
        bufs: &[io::IoSlice<'_>],
    ) -> Poll<io::Result<usize>> {
        match &mut self.get_mut().transport {
            Transport::Plain(io) => Pin::new(io).poll_write_vectored(cx, bufs),
            Transport::Tls(io) => Pin::new(&mut **io).poll_write_vectored(cx, bufs),
        }
    }
}
