//! An upstream that misbehaves exactly as a test says: it reads each
//! request (head and `Content-Length` body), then writes a scripted answer
//! byte for byte (pauses, a stall, or a close included), over plain TCP on
//! 127.0.0.1. For faults a well-formed server cannot make: a stream that
//! ends without its end marker, a body shorter than its `Content-Length`,
//! a head that never comes.
//!
//! ```
//! use llm_layers_mock::raw::{RawUpstream, Step};
//!
//! # tokio::runtime::Runtime::new().unwrap().block_on(async {
//! let upstream = RawUpstream::start(vec![
//!     Step::write("HTTP/1.1 200 OK\r\ncontent-type: application/json\r\nconnection: close\r\n\r\n"),
//!     Step::write("{\"cut"),
//!     Step::Close,
//! ])
//! .await
//! .unwrap();
//! assert!(upstream.base_url().starts_with("http://127.0.0.1:"));
//! assert_eq!(upstream.requests(), 0);
//! # });
//! ```

use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::Arc;
use std::time::Duration;

use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::{TcpListener, TcpStream};
use tokio::sync::Notify;

/// One step of the scripted answer.
#[derive(Clone, Debug)]
pub enum Step {
    /// Write these bytes (and flush).
    Write(Vec<u8>),
    /// Wait this long.
    Pause(Duration),
    /// Write nothing more and keep the connection open until the test
    /// ends or [`RawUpstream::release`] is called.
    Stall,
    /// Close the connection.
    Close,
}

impl Step {
    /// A [`Step::Write`] of text.
    pub fn write(text: impl AsRef<[u8]>) -> Step {
        Step::Write(text.as_ref().to_vec())
    }
}

/// A running scripted upstream; stops when dropped.
pub struct RawUpstream {
    addr: std::net::SocketAddr,
    shared: Arc<Shared>,
    task: tokio::task::JoinHandle<()>,
}

#[derive(Default)]
struct Shared {
    requests: AtomicUsize,
    closed: AtomicUsize,
    release: Notify,
}

impl RawUpstream {
    /// Listens on 127.0.0.1 and answers every request with `script`. When
    /// the script ends without [`Step::Close`], the connection stays open
    /// for the next request (keep-alive).
    pub async fn start(script: Vec<Step>) -> std::io::Result<RawUpstream> {
        let listener = TcpListener::bind(("127.0.0.1", 0)).await?;
        let addr = listener.local_addr()?;
        let shared = Arc::new(Shared::default());
        let script = Arc::new(script);
        let task = tokio::spawn({
            let shared = shared.clone();
            async move {
                while let Ok((stream, _)) = listener.accept().await {
                    tokio::spawn(serve(stream, script.clone(), shared.clone()));
                }
            }
        });
        Ok(RawUpstream { addr, shared, task })
    }

    /// `http://127.0.0.1:port`.
    pub fn base_url(&self) -> String {
        format!("http://{}", self.addr)
    }

    /// Requests read so far.
    pub fn requests(&self) -> usize {
        self.shared.requests.load(Ordering::SeqCst)
    }

    /// Connections that ended (closed by the script or by the peer).
    pub fn connections_closed(&self) -> usize {
        self.shared.closed.load(Ordering::SeqCst)
    }

    /// Lets every stalled connection go on with its script.
    pub fn release(&self) {
        self.shared.release.notify_waiters();
    }
}

impl Drop for RawUpstream {
    fn drop(&mut self) {
        self.task.abort();
    }
}

async fn serve(mut stream: TcpStream, script: Arc<Vec<Step>>, shared: Arc<Shared>) {
    let mut buffer = Vec::new();
    'requests: while read_request(&mut stream, &mut buffer).await {
        shared.requests.fetch_add(1, Ordering::SeqCst);
        for step in script.iter() {
            match step {
                Step::Write(bytes) => {
                    if stream.write_all(bytes).await.is_err() || stream.flush().await.is_err() {
                        break 'requests;
                    }
                }
                Step::Pause(pause) => tokio::time::sleep(*pause).await,
                Step::Stall => {
                    // Until released, or until the peer goes away.
                    let mut probe = [0u8; 1];
                    tokio::select! {
                        _ = shared.release.notified() => {}
                        _ = stream.read(&mut probe) => break 'requests,
                    }
                }
                Step::Close => break 'requests,
            }
        }
    }
    let _ = stream.shutdown().await;
    shared.closed.fetch_add(1, Ordering::SeqCst);
}

/// Reads one request's head and `Content-Length` body; false at the
/// connection's end.
async fn read_request(stream: &mut TcpStream, buffer: &mut Vec<u8>) -> bool {
    let mut chunk = [0u8; 8192];
    loop {
        if let Some(end) = find(buffer, b"\r\n\r\n") {
            let head = String::from_utf8_lossy(&buffer[..end]).to_ascii_lowercase();
            let length = head
                .lines()
                .find_map(|line| line.strip_prefix("content-length:"))
                .and_then(|value| value.trim().parse::<usize>().ok())
                .unwrap_or(0);
            let total = end + 4 + length;
            while buffer.len() < total {
                match stream.read(&mut chunk).await {
                    Ok(0) | Err(_) => return false,
                    Ok(read) => buffer.extend_from_slice(&chunk[..read]),
                }
            }
            buffer.drain(..total);
            return true;
        }
        match stream.read(&mut chunk).await {
            Ok(0) | Err(_) => return false,
            Ok(read) => buffer.extend_from_slice(&chunk[..read]),
        }
    }
}

fn find(haystack: &[u8], needle: &[u8]) -> Option<usize> {
    haystack
        .windows(needle.len())
        .position(|window| window == needle)
}

/// A raw HTTP/1.1 head: status line, `headers`, and the blank line.
pub fn head(status: u16, headers: &[(&str, &str)]) -> String {
    let mut text = format!("HTTP/1.1 {status} X\r\n");
    for (name, value) in headers {
        text.push_str(&format!("{name}: {value}\r\n"));
    }
    text.push_str("\r\n");
    text
}

/// One HTTP/1.1 chunk of chunked transfer coding.
pub fn chunk(data: impl AsRef<[u8]>) -> Vec<u8> {
    let data = data.as_ref();
    let mut framed = format!("{:x}\r\n", data.len()).into_bytes();
    framed.extend_from_slice(data);
    framed.extend_from_slice(b"\r\n");
    framed
}

/// The end of a chunked body.
pub const LAST_CHUNK: &str = "0\r\n\r\n";
