//! The proxy against careless and hostile peers: clients that send half a
//! head or half a body, sit idle, open too many connections or send more
//! than the proxy can hold; upstreams that never answer; a SIGTERM during
//! a stream that never ends.

use std::time::Duration;

use bytes::Bytes;
use http_body_util::{BodyExt, Full};
use hyper_util::client::legacy::Client;
use hyper_util::rt::TokioExecutor;
use llm_layers_mock::raw::{chunk, head, RawUpstream, Step};
use llm_layers_mock::testing::eventually;
use llm_layers_mock::{MockConfig, MockServer};
use llm_layers_proxy::{start, ProxyConfig, RunningProxy};
use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::TcpStream;

const CHAT: &str = r#"{"model":"gpt-4o","messages":[{"role":"user","content":"hello"}]}"#;

async fn proxy(upstream: String, config: ProxyConfig) -> RunningProxy {
    start(
        config
            .listen("127.0.0.1:0".parse().unwrap())
            .upstream(upstream),
    )
    .await
    .unwrap()
}

/// Reads until the peer closes; what it sent. Bounded: a peer that never
/// closes fails the test instead of hanging it.
async fn read_until_closed(stream: &mut TcpStream) -> Vec<u8> {
    let mut seen = Vec::new();
    let read = tokio::time::timeout(Duration::from_secs(30), async {
        let mut buffer = [0u8; 4096];
        loop {
            match stream.read(&mut buffer).await {
                Ok(0) | Err(_) => return,
                Ok(read) => seen.extend_from_slice(&buffer[..read]),
            }
        }
    })
    .await;
    assert!(read.is_ok(), "the proxy kept the connection open");
    seen
}

mod common;

async fn post(
    http2: bool,
    url: &str,
    headers: &[(&str, &str)],
    body: Full<Bytes>,
) -> Result<(u16, http::HeaderMap, Bytes), String> {
    let body = body.collect().await.unwrap().to_bytes();
    let answer = common::request(http2, "POST", url, headers, body).await?;
    Ok((answer.status, answer.headers, answer.body))
}

/// The mock, and the proxy in front of it with `config`.
async fn mock_and_proxy(config: ProxyConfig) -> (MockServer, RunningProxy) {
    let mock = MockServer::start(MockConfig::default()).await.unwrap();
    let proxy = proxy(mock.base_url().to_owned(), config).await;
    (mock, proxy)
}

#[tokio::test]
async fn a_client_sending_half_a_head_is_disconnected() {
    let (mock, proxy) =
        mock_and_proxy(ProxyConfig::default().client_header_timeout(Duration::from_millis(300)))
            .await;
    let mut stream = TcpStream::connect(proxy.addr()).await.unwrap();
    stream
        .write_all(b"POST /v1/chat/completions HTTP/1.1\r\nhost: x\r\n")
        .await
        .unwrap();
    read_until_closed(&mut stream).await;
    assert_eq!(mock.stats().requests_total, 0);
    proxy.shutdown().await.unwrap();
}

/// Reads one answer (a declared length or chunks) off a keep-alive
/// connection; its status line.
async fn read_one_answer(stream: &mut TcpStream) -> String {
    let mut seen = Vec::new();
    let mut buffer = [0u8; 4096];
    loop {
        if let Some(end) = seen.windows(4).position(|w| w == b"\r\n\r\n") {
            let head = String::from_utf8_lossy(&seen[..end]).to_ascii_lowercase();
            let whole = match head
                .lines()
                .find_map(|line| line.strip_prefix("content-length: "))
            {
                Some(length) => seen.len() >= end + 4 + length.trim().parse::<usize>().unwrap(),
                None => seen.ends_with(b"\r\n0\r\n\r\n"),
            };
            if whole {
                return head.lines().next().unwrap().to_owned();
            }
        }
        let read = stream.read(&mut buffer).await.unwrap();
        assert!(read > 0, "closed mid-answer");
        seen.extend_from_slice(&buffer[..read]);
    }
}

#[tokio::test]
async fn a_client_that_stalls_mid_head_after_several_requests_is_disconnected() {
    // The head timer is reused from one request to the next on a
    // connection: after several heads, a stalled one still ends it.
    let (mock, proxy) =
        mock_and_proxy(ProxyConfig::default().client_header_timeout(Duration::from_millis(300)))
            .await;
    let mut stream = TcpStream::connect(proxy.addr()).await.unwrap();
    for turn in 0..3 {
        let body = CHAT.replace("hello", &format!("hello {turn}"));
        let request = chat_request("sk-stall", &body);
        stream.write_all(request.as_bytes()).await.unwrap();
        assert_eq!(read_one_answer(&mut stream).await, "http/1.1 200 ok");
        // Waits between requests shorter than the head timeout, each.
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
    stream
        .write_all(b"POST /v1/chat/completions HTTP/1.1\r\nhost: x\r\n")
        .await
        .unwrap();
    assert!(read_until_closed(&mut stream).await.is_empty());
    assert_eq!(mock.stats().requests_total, 3);
    proxy.shutdown().await.unwrap();
}

#[tokio::test]
async fn a_client_sending_half_a_body_gets_408() {
    let (mock, proxy) =
        mock_and_proxy(ProxyConfig::default().client_body_timeout(Duration::from_millis(300)))
            .await;
    let mut stream = TcpStream::connect(proxy.addr()).await.unwrap();
    stream
        .write_all(b"POST /v1/chat/completions HTTP/1.1\r\nhost: x\r\ncontent-length: 100\r\n\r\n{\"model\":")
        .await
        .unwrap();
    let answer = String::from_utf8_lossy(&read_until_closed(&mut stream).await).into_owned();
    assert!(answer.starts_with("HTTP/1.1 408"), "{answer}");
    assert!(answer.contains("request_timeout"), "{answer}");
    assert_eq!(mock.stats().requests_total, 0);
    proxy.shutdown().await.unwrap();
}

#[tokio::test]
async fn an_idle_connection_is_closed_after_the_keep_alive_timeout() {
    let (_mock, proxy) =
        mock_and_proxy(ProxyConfig::default().keep_alive_timeout(Duration::from_millis(300))).await;
    // Never a byte.
    let mut silent = TcpStream::connect(proxy.addr()).await.unwrap();
    read_until_closed(&mut silent).await;
    // One request, then silence.
    let mut used = TcpStream::connect(proxy.addr()).await.unwrap();
    let request = chat_request("sk-idle", CHAT);
    used.write_all(request.as_bytes()).await.unwrap();
    let answer = String::from_utf8_lossy(&read_until_closed(&mut used).await).into_owned();
    assert!(answer.starts_with("HTTP/1.1 200"), "{answer}");
    proxy.shutdown().await.unwrap();
}

/// A chat completion request with `key` and `body`, as raw HTTP/1.1.
fn chat_request(key: &str, body: &str) -> String {
    format!(
        "POST /v1/chat/completions HTTP/1.1\r\nhost: x\r\nauthorization: Bearer {key}\r\ncontent-length: {}\r\n\r\n{body}",
        body.len()
    )
}

/// A keep-alive request on `stream`: its answer's status line.
async fn request_on(stream: &mut TcpStream, key: &str) -> String {
    let request = chat_request(key, CHAT);
    stream.write_all(request.as_bytes()).await.unwrap();
    read_one_answer(stream).await
}

#[tokio::test]
async fn connections_past_the_limit_wait_while_every_one_is_busy() {
    let answer = r#"{"id":"x","choices":[]}"#;
    let upstream = RawUpstream::start(vec![
        Step::Stall,
        Step::write(head(
            200,
            &[
                ("content-type", "application/json"),
                ("content-length", &answer.len().to_string()),
            ],
        )),
        Step::write(answer),
    ])
    .await
    .unwrap();
    let proxy = proxy(
        upstream.base_url(),
        ProxyConfig::default().max_connections(2),
    )
    .await;
    // Two connections, each with a request held by the upstream.
    // (Two credentials: one would make them one call, single flight.)
    let mut busy = Vec::new();
    for caller in 0..2 {
        let mut stream = TcpStream::connect(proxy.addr()).await.unwrap();
        let request = chat_request(&format!("sk-limit-{caller}"), CHAT);
        stream.write_all(request.as_bytes()).await.unwrap();
        busy.push(stream);
    }
    assert!(
        eventually(|| upstream.requests() == 2).await,
        "both requests upstream"
    );
    let url = format!("{}/v1/chat/completions", proxy.url());
    let third = tokio::spawn(async move {
        post(
            false,
            &url,
            &[("authorization", "Bearer sk-limit-3")],
            Full::new(Bytes::from_static(CHAT.as_bytes())),
        )
        .await
    });
    // While both are busy, the third is not served.
    tokio::time::sleep(Duration::from_millis(500)).await;
    assert!(!third.is_finished(), "served past the connection limit");
    assert_eq!(upstream.requests(), 2);
    // Both answered: one of them, now idle, makes room for the third.
    upstream.release();
    for stream in &mut busy {
        assert!(read_one_answer(stream).await.starts_with("http/1.1 200"));
    }
    assert!(
        eventually(|| upstream.requests() == 3).await,
        "the third request upstream"
    );
    upstream.release();
    let (status, _, _) = third.await.unwrap().unwrap();
    assert_eq!(status, 200, "served once a connection was idle");
    proxy.shutdown().await.unwrap();
}

#[tokio::test]
async fn a_connection_idle_the_longest_makes_room_past_the_limit() {
    // Clients' pools keep idle connections open; with the places all
    // taken, a new client must not wait for the keep-alive timeout.
    let (mock, proxy) = mock_and_proxy(
        ProxyConfig::default()
            .max_connections(2)
            .keep_alive_timeout(Duration::from_secs(600))
            .client_header_timeout(Duration::from_secs(600)),
    )
    .await;
    let mut oldest = TcpStream::connect(proxy.addr()).await.unwrap();
    assert_eq!(request_on(&mut oldest, "sk-one").await, "http/1.1 200 ok");
    let mut newer = TcpStream::connect(proxy.addr()).await.unwrap();
    assert_eq!(request_on(&mut newer, "sk-two").await, "http/1.1 200 ok");

    let url = format!("{}/v1/chat/completions", proxy.url());
    let third = tokio::time::timeout(
        Duration::from_secs(30),
        post(
            false,
            &url,
            &[("authorization", "Bearer sk-three")],
            Full::new(Bytes::from_static(CHAT.as_bytes())),
        ),
    )
    .await
    .expect("the new connection waited for the keep-alive timeout");
    assert_eq!(third.unwrap().0, 200);
    // The connection idle the longest was closed, the other kept.
    assert!(read_until_closed(&mut oldest).await.is_empty());
    assert_eq!(request_on(&mut newer, "sk-four").await, "http/1.1 200 ok");
    assert_eq!(mock.stats().requests_total, 4);
    proxy.shutdown().await.unwrap();
}

#[tokio::test]
async fn an_upstream_that_never_answers_gets_a_504_in_time() {
    let upstream = RawUpstream::start(vec![Step::Stall]).await.unwrap();
    let proxy = proxy(
        upstream.base_url(),
        ProxyConfig::default().first_byte_timeout(Duration::from_millis(300)),
    )
    .await;
    for path in ["/v1/chat/completions", "/anthropic/v1/messages"] {
        let (status, _, body) = post(
            false,
            &format!("{}{path}", proxy.url()),
            &[("authorization", "Bearer sk-stall")],
            Full::new(Bytes::from_static(CHAT.as_bytes())),
        )
        .await
        .unwrap();
        assert_eq!(status, 504, "{path}");
        let error: serde_json::Value = serde_json::from_slice(&body).unwrap();
        assert_eq!(error["error"]["type"], "timeout_error", "{path}");
    }
    proxy.shutdown().await.unwrap();
}

/// Posts `body` to `url` until the answer has `status` (a bounded number
/// of tries); that answer's headers.
async fn post_until(url: &str, body: &str, status: u16) -> Option<http::HeaderMap> {
    for _ in 0..200 {
        let (seen, headers, _) = post(
            false,
            url,
            &[("authorization", "Bearer sk-budget")],
            Full::new(Bytes::from(body.to_owned())),
        )
        .await
        .unwrap();
        if seen == status {
            return Some(headers);
        }
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
    None
}

#[tokio::test]
async fn bodies_past_the_shared_budget_get_503_with_retry_after() {
    let (_mock, proxy) =
        mock_and_proxy(ProxyConfig::default().max_buffered_request_bytes(1000)).await;
    // A slow client holds 800 bytes of the budget.
    let mut slow = TcpStream::connect(proxy.addr()).await.unwrap();
    slow.write_all(
        b"POST /v1/chat/completions HTTP/1.1\r\nhost: x\r\ncontent-length: 800\r\n\r\n{",
    )
    .await
    .unwrap();
    let url = format!("{}/v1/chat/completions", proxy.url());
    let padded = format!(
        r#"{{"model":"gpt-4o","messages":[{{"role":"user","content":"{}"}}]}}"#,
        "x".repeat(400)
    );
    // The slow client's head may not have been read at first.
    let headers = post_until(&url, &padded, 503)
        .await
        .expect("a body past the budget was refused");
    assert_eq!(headers["retry-after"], "1");
    drop(slow);
    assert!(
        post_until(&url, &padded, 200).await.is_some(),
        "the budget came back once the slow client left"
    );
    proxy.shutdown().await.unwrap();
}

#[tokio::test]
async fn a_body_over_the_limit_gets_413_over_http2_as_over_http1() {
    let (mock, proxy) = mock_and_proxy(ProxyConfig::default().max_request_bytes(1024)).await;
    let url = format!("{}/v1/chat/completions", proxy.url());
    let big = Bytes::from(vec![b'x'; 4 << 20]);
    for http2 in [false, true] {
        let answer = post(http2, &url, &[], Full::new(big.clone())).await;
        let (status, _, body) = answer.unwrap_or_else(|error| panic!("http2={http2}: {error}"));
        assert_eq!(status, 413, "http2={http2}");
        let error: serde_json::Value = serde_json::from_slice(&body).unwrap();
        assert_eq!(error["error"]["type"], "request_too_large");
    }
    assert_eq!(mock.stats().requests_total, 0);
    proxy.shutdown().await.unwrap();
}

#[test]
fn sigterm_during_an_endless_stream_exits_after_the_grace_period() {
    let runtime = tokio::runtime::Runtime::new().unwrap();
    let upstream = runtime
        .block_on(RawUpstream::start(vec![
            Step::write(head(
                200,
                &[
                    ("content-type", "text/event-stream"),
                    ("transfer-encoding", "chunked"),
                ],
            )),
            Step::Write(chunk("data: {\"choices\":[]}\n\n")),
            Step::Stall,
        ]))
        .unwrap();
    let upstream_url = upstream.base_url();
    let (mut child, url) = common::spawn_binary(&[
        "--listen",
        "127.0.0.1:0",
        "--upstream",
        &upstream_url,
        "--stream-idle-timeout",
        "1h",
        "--shutdown-grace",
        "1s",
    ]);
    let stream =
        r#"{"model":"gpt-4o","stream":true,"messages":[{"role":"user","content":"forever"}]}"#;
    let response = runtime.block_on(async {
        let client = Client::builder(TokioExecutor::new()).build_http::<Full<Bytes>>();
        let request = http::Request::post(format!("{url}/v1/chat/completions"))
            .header("authorization", "Bearer sk-term")
            .body(Full::new(Bytes::from_static(stream.as_bytes())))
            .unwrap();
        let mut response = client.request(request).await.unwrap();
        let first = response.body_mut().frame().await.unwrap().unwrap();
        assert!(first.is_data());
        response
    });
    common::terminate(&child);
    let mut exited = None;
    for _ in 0..300 {
        if let Some(status) = child.try_wait().unwrap() {
            exited = Some(status);
            break;
        }
        std::thread::sleep(Duration::from_millis(100));
    }
    let Some(status) = exited else {
        let _ = child.kill();
        panic!("the proxy was still running 30 s after SIGTERM");
    };
    assert!(status.success(), "{status}");
    drop(response);
}

/// A body of `left` chunks of 64 KiB whose length is not declared.
struct Undeclared {
    left: usize,
}

impl http_body::Body for Undeclared {
    type Data = Bytes;
    type Error = std::convert::Infallible;

    fn poll_frame(
        mut self: std::pin::Pin<&mut Self>,
        _cx: &mut std::task::Context<'_>,
    ) -> std::task::Poll<Option<Result<http_body::Frame<Bytes>, Self::Error>>> {
        if self.left == 0 {
            return std::task::Poll::Ready(None);
        }
        self.left -= 1;
        let chunk = Bytes::from(vec![b'x'; 64 << 10]);
        std::task::Poll::Ready(Some(Ok(http_body::Frame::data(chunk))))
    }
}

#[tokio::test]
async fn an_undeclared_body_over_the_limit_gets_413_over_http2_as_over_http1() {
    let (mock, proxy) = mock_and_proxy(ProxyConfig::default().max_request_bytes(100 << 10)).await;
    for http2 in [false, true] {
        let mut builder = Client::builder(TokioExecutor::new());
        builder.http2_only(http2);
        let client = builder.build_http::<Undeclared>();
        let request = http::Request::post(format!("{}/v1/chat/completions", proxy.url()))
            .body(Undeclared { left: 64 })
            .unwrap();
        let response = client.request(request).await;
        let response = response.unwrap_or_else(|error| panic!("http2={http2}: {error:?}"));
        assert_eq!(response.status(), 413, "http2={http2}");
    }
    assert_eq!(mock.stats().requests_total, 0);
    proxy.shutdown().await.unwrap();
}
