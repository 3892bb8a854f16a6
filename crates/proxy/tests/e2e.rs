//! The proxy end to end: a real server on loopback in front of the mock
//! provider, driven by a plain HTTP client.

use std::time::Duration;

use bytes::Bytes;
use http_body_util::Full;
use hyper_util::client::legacy::Client;
use hyper_util::rt::TokioExecutor;
use llm_layers_mock::{MockConfig, MockServer};
use llm_layers_proxy::{start, ProxyConfig, RunningProxy};

mod common;
use common::Answer;

async fn send(url: &str, method: &str, headers: &[(&str, &str)], body: &str) -> Answer {
    common::request(false, method, url, headers, body.to_owned())
        .await
        .unwrap()
}

/// The same request straight to the mock and through the proxy.
async fn direct_and_proxied(
    mock: &MockServer,
    proxy: &RunningProxy,
    (mock_path, proxy_path): (&str, &str),
    headers: &[(&str, &str)],
    body: &str,
) -> (Answer, Answer) {
    let direct = send(
        &format!("{}{mock_path}", mock.base_url()),
        "POST",
        headers,
        body,
    )
    .await;
    let proxied = send(
        &format!("{}{proxy_path}", proxy.url()),
        "POST",
        headers,
        body,
    )
    .await;
    (direct, proxied)
}

async fn proxy_for(mock: &MockServer, config: ProxyConfig) -> RunningProxy {
    start(
        config
            .listen("127.0.0.1:0".parse().unwrap())
            .upstream(mock.base_url().to_owned())
            .admin_token(Some("admin-secret".into())),
    )
    .await
    .unwrap()
}

/// A default mock and a proxy in front of it.
async fn mock_and_proxy(config: ProxyConfig) -> (MockServer, RunningProxy) {
    let mock = MockServer::start(MockConfig::default()).await.unwrap();
    let proxy = proxy_for(&mock, config).await;
    (mock, proxy)
}

const CHAT: &str = r#"{"model":"gpt-4o","messages":[{"role":"user","content":"hello proxy"}]}"#;
const CHAT_STREAM: &str = r#"{"model":"gpt-4o","stream":true,"stream_options":{"include_usage":true},"messages":[{"role":"user","content":"hello stream"}]}"#;
const MESSAGES: &str = r#"{"model":"claude-sonnet-4-5","max_tokens":64,"messages":[{"role":"user","content":"hello proxy"}]}"#;
const MESSAGES_STREAM: &str = r#"{"model":"claude-sonnet-4-5","max_tokens":64,"stream":true,"messages":[{"role":"user","content":"hello stream"}]}"#;

#[tokio::test]
async fn openai_and_anthropic_calls_pass_through_byte_for_byte() {
    let (mock, proxy) = mock_and_proxy(ProxyConfig::default()).await;
    for (proxy_path, mock_path, body) in [
        ("/v1/chat/completions", "/v1/chat/completions", CHAT),
        ("/v1/chat/completions", "/v1/chat/completions", CHAT_STREAM),
        ("/anthropic/v1/messages", "/v1/messages", MESSAGES),
        ("/anthropic/v1/messages", "/v1/messages", MESSAGES_STREAM),
    ] {
        let headers = [("authorization", "Bearer sk-a"), ("x-api-key", "sk-a")];
        let (direct, proxied) =
            direct_and_proxied(&mock, &proxy, (mock_path, proxy_path), &headers, body).await;
        assert_eq!(proxied.status, 200);
        assert_eq!(proxied.body, direct.body, "{proxy_path} {body}");
        assert_eq!(
            proxied.headers["content-type"],
            direct.headers["content-type"]
        );
        assert_eq!(proxied.headers["x-llm-cache"], "MISS");
        let upstream = mock.recent_requests().pop().unwrap();
        assert_eq!(upstream.path, mock_path, "the path is forwarded as it came");
        assert_eq!(upstream.body, body.as_bytes());
    }
    proxy.shutdown().await.unwrap();
}

#[tokio::test]
async fn repeats_are_hits_and_keys_never_share() {
    let (mock, proxy) = mock_and_proxy(ProxyConfig::default()).await;
    let url = format!("{}/v1/chat/completions", proxy.url());
    let outcome = |answer: &Answer| answer.headers["x-llm-cache"].to_str().unwrap().to_owned();
    let mut answers = Vec::new();
    for key in ["Bearer sk-one", "Bearer sk-one", "Bearer sk-two"] {
        answers.push(send(&url, "POST", &[("authorization", key)], CHAT_STREAM).await);
    }
    let [first, again, other] = <[Answer; 3]>::try_from(answers).ok().unwrap();
    assert_eq!(
        [outcome(&first), outcome(&again), outcome(&other)],
        ["MISS", "HIT", "MISS"]
    );
    assert_eq!(
        again.body, first.body,
        "the hit replays the stream byte for byte"
    );
    assert!(first.body.ends_with(b"data: [DONE]\n\n"));
    assert_eq!(mock.stats().requests_total, 2, "only the hit stayed home");
    proxy.shutdown().await.unwrap();
}

#[tokio::test]
async fn metrics_list_the_documented_names_after_traffic() {
    let (_mock, proxy) = mock_and_proxy(ProxyConfig::default()).await;
    let url = format!("{}/v1/chat/completions", proxy.url());
    send(
        &url,
        "POST",
        &[("authorization", "Bearer sk-m")],
        CHAT_STREAM,
    )
    .await;
    send(
        &url,
        "POST",
        &[("authorization", "Bearer sk-m")],
        CHAT_STREAM,
    )
    .await;
    // A prompt long enough for a provider's cache, to be tracked per prefix.
    let rules = "Answer from the handbook. ".repeat(120);
    let long = serde_json::json!({"model": "gpt-4o", "messages": [
        {"role": "system", "content": rules}, {"role": "user", "content": "hi"}]});
    send(
        &url,
        "POST",
        &[("authorization", "Bearer sk-m")],
        &long.to_string(),
    )
    .await;
    // The per-prefix series need the admin token (see tests/admin.rs).
    let scrape = send(
        &format!("{}/metrics", proxy.url()),
        "GET",
        &[("authorization", "Bearer admin-secret")],
        "",
    )
    .await;
    let text = String::from_utf8(scrape.body.to_vec()).unwrap();
    use llm_layers::metrics::names;
    for name in [
        names::REQUESTS,
        names::DURATION,
        names::TIME_TO_FIRST_CHUNK,
        names::TOKENS,
        names::TOKENS_SAVED,
        names::IN_FLIGHT,
        llm_layers::cache::names::LOOKUPS,
        llm_layers::prefix::stats::names::REQUESTS,
        llm_layers::connector::names::CONNECTIONS_OPENED,
    ] {
        assert!(text.contains(name), "{name} missing from /metrics");
    }
    assert!(
        text.contains("llm_request_duration_seconds_bucket"),
        "latency is exported as a histogram with buckets"
    );
    assert!(!text.contains("sk-m"), "no credential in metrics");
    let stats = send(&format!("{}/stats", proxy.url()), "GET", &[], "").await;
    let stats: serde_json::Value = serde_json::from_slice(&stats.body).unwrap();
    assert!(stats["calls"]["total_calls"].as_u64().unwrap() >= 2);
    assert!(stats["cache"]["hits"].as_u64().unwrap() >= 1);
    assert!(stats["pool"]["opened"].as_u64().unwrap() >= 1);
    proxy.shutdown().await.unwrap();
}

#[tokio::test]
async fn admin_routes_need_the_admin_token() {
    let (_mock, proxy) = mock_and_proxy(ProxyConfig::default()).await;
    let url = format!("{}/v1/chat/completions", proxy.url());
    send(&url, "POST", &[("authorization", "Bearer sk-x")], CHAT).await;
    let clear = format!("{}/admin/cache/clear", proxy.url());
    let stats = format!("{}/admin/cache/stats", proxy.url());
    for headers in [
        &[][..],
        &[("authorization", "Bearer wrong")][..],
        &[("authorization", "admin-secret")][..],
    ] {
        assert_eq!(send(&clear, "POST", headers, "").await.status, 401);
        assert_eq!(send(&stats, "GET", headers, "").await.status, 401);
    }
    let good = [("authorization", "Bearer admin-secret")];
    let stats_answer = send(&stats, "GET", &good, "").await;
    assert_eq!(stats_answer.status, 200);
    let cleared = send(&clear, "POST", &good, "").await;
    assert_eq!(cleared.status, 200);
    let cleared: serde_json::Value = serde_json::from_slice(&cleared.body).unwrap();
    assert_eq!(cleared["removed"], 1);
    let after = send(&url, "POST", &[("authorization", "Bearer sk-x")], CHAT).await;
    assert_eq!(
        after.headers["x-llm-cache"], "MISS",
        "the cleared entry is gone"
    );
    assert_eq!(
        send(&format!("{}/healthz", proxy.url()), "GET", &[], "")
            .await
            .status,
        200
    );
    proxy.shutdown().await.unwrap();
}

#[tokio::test]
async fn malformed_bodies_and_their_errors_pass_unchanged() {
    let (mock, proxy) = mock_and_proxy(ProxyConfig::default()).await;
    let body = r#"{"model":"gpt-4o","messages":[{"role":"user","content":"x"}"#;
    let headers = [("authorization", "Bearer sk-bad")];
    let path = "/v1/chat/completions";
    let (direct, proxied) = direct_and_proxied(&mock, &proxy, (path, path), &headers, body).await;
    assert_eq!(mock.recent_requests().pop().unwrap().body, body.as_bytes());
    assert_eq!(proxied.status, direct.status);
    assert!(proxied.status >= 400);
    assert_eq!(proxied.body, direct.body);
    proxy.shutdown().await.unwrap();
}

async fn proxy_with_a_1_kib_limit() -> (MockServer, RunningProxy) {
    mock_and_proxy(ProxyConfig::default().max_request_bytes(1024)).await
}

/// A chat request with `length` bytes of message text.
fn chat_of(length: usize) -> String {
    format!(
        r#"{{"model":"gpt-4o","messages":[{{"role":"user","content":"{}"}}]}}"#,
        "x".repeat(length)
    )
}

#[tokio::test]
async fn oversized_bodies_are_refused_with_413() {
    let (mock, proxy) = proxy_with_a_1_kib_limit().await;
    let big = chat_of(4096);
    let answer = send(
        &format!("{}/v1/chat/completions", proxy.url()),
        "POST",
        &[],
        &big,
    )
    .await;
    assert_eq!(answer.status, 413);
    assert_eq!(mock.stats().requests_total, 0);
    proxy.shutdown().await.unwrap();
}

#[tokio::test]
async fn an_oversized_body_without_a_length_is_refused_with_413_too() {
    use tokio::io::{AsyncReadExt, AsyncWriteExt};
    let (mock, proxy) = proxy_with_a_1_kib_limit().await;
    let big = chat_of(4096);
    // Chunked: the size is only found out while the body is read.
    let mut stream = tokio::net::TcpStream::connect(proxy.addr()).await.unwrap();
    let head = "POST /v1/chat/completions HTTP/1.1\r\nhost: proxy\r\nauthorization: Bearer sk-a\r\ncontent-type: application/json\r\ntransfer-encoding: chunked\r\nconnection: close\r\n\r\n";
    stream.write_all(head.as_bytes()).await.unwrap();
    for piece in big.as_bytes().chunks(512) {
        let chunk = format!(
            "{:x}\r\n{}\r\n",
            piece.len(),
            std::str::from_utf8(piece).unwrap()
        );
        stream.write_all(chunk.as_bytes()).await.unwrap();
    }
    stream.write_all(b"0\r\n\r\n").await.unwrap();
    let mut answer = String::new();
    stream.read_to_string(&mut answer).await.unwrap();
    assert!(answer.starts_with("HTTP/1.1 413"), "{answer}");
    assert!(answer.contains("request_too_large"), "{answer}");
    assert_eq!(
        mock.stats().requests_total,
        0,
        "nothing reached the upstream"
    );
    proxy.shutdown().await.unwrap();
}

#[tokio::test]
async fn shutdown_lets_an_inflight_stream_finish() {
    let mock = MockServer::start(MockConfig::default().chunk_delay(Duration::from_millis(20)))
        .await
        .unwrap();
    let proxy = proxy_for(&mock, ProxyConfig::default()).await;
    let url = format!("{}/v1/chat/completions", proxy.url());
    let stream = tokio::spawn(async move {
        send(
            &url,
            "POST",
            &[("authorization", "Bearer sk-s")],
            CHAT_STREAM,
        )
        .await
    });
    tokio::time::sleep(Duration::from_millis(60)).await;
    let stopping = tokio::spawn(proxy.shutdown());
    let answer = stream.await.unwrap();
    assert_eq!(answer.status, 200);
    assert!(
        answer.body.ends_with(b"data: [DONE]\n\n"),
        "the stream finished"
    );
    stopping.await.unwrap().unwrap();
}

/// A stand-in upstream that answers with the headers it received.
async fn header_echo() -> String {
    use axum::routing::any;
    let app = axum::Router::new().fallback(any(|headers: http::HeaderMap| async move {
        let seen: serde_json::Map<String, serde_json::Value> = headers
            .iter()
            .map(|(name, value)| (name.to_string(), value.to_str().unwrap_or("").into()))
            .collect();
        axum::Json(serde_json::Value::Object(seen))
    }));
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let url = format!("http://{}", listener.local_addr().unwrap());
    tokio::spawn(async move { axum::serve(listener, app).await });
    url
}

#[tokio::test]
async fn a_server_held_key_is_added_only_when_the_client_sends_none_and_bodies_come_uncompressed() {
    let upstream = header_echo().await;
    std::env::set_var("LLM_PROXY_TEST_OPENAI_KEY", "sk-server");
    let proxy = start(
        ProxyConfig::default()
            .listen("127.0.0.1:0".parse().unwrap())
            .upstream(upstream)
            .openai_key_env(Some("LLM_PROXY_TEST_OPENAI_KEY".into())),
    )
    .await
    .unwrap();
    let url = format!("{}/v1/embeddings", proxy.url());
    let seen =
        |answer: Answer| -> serde_json::Value { serde_json::from_slice(&answer.body).unwrap() };
    let body = r#"{"model":"e","input":"x"}"#;
    let without = seen(send(&url, "POST", &[("connection", "close")], body).await);
    assert_eq!(without["authorization"], "Bearer sk-server");
    assert!(
        without.get("connection").is_none(),
        "hop-by-hop headers stay behind"
    );
    let with = seen(send(&url, "POST", &[("authorization", "Bearer sk-client")], body).await);
    assert_eq!(with["authorization"], "Bearer sk-client");
    proxy.shutdown().await.unwrap();
}

#[test]
fn the_binary_prints_its_address_serves_and_stops_on_sigterm() {
    let (mut child, url) =
        common::spawn_binary(&["--mock", "--listen", "127.0.0.1:0", "--admin-token", "t"]);
    let runtime = tokio::runtime::Runtime::new().unwrap();
    let answer = runtime.block_on(send(
        &format!("{url}/v1/chat/completions"),
        "POST",
        &[("authorization", "Bearer sk-bin")],
        CHAT,
    ));
    assert_eq!(answer.status, 200);
    common::terminate(&child);
    let status = child.wait().unwrap();
    assert!(status.success(), "graceful exit: {status}");
}

#[tokio::test]
async fn streams_reach_the_client_as_they_arrive() {
    use http_body_util::BodyExt as _;
    // 100 ms between chunks: the whole answer takes well over a second.
    let mock = MockServer::start(MockConfig::default().chunk_delay(Duration::from_millis(100)))
        .await
        .unwrap();
    let proxy = proxy_for(&mock, ProxyConfig::default()).await;
    let client = Client::builder(TokioExecutor::new()).build_http::<Full<Bytes>>();
    let request = http::Request::post(format!("{}/v1/chat/completions", proxy.url()))
        .header("authorization", "Bearer sk-live")
        .body(Full::new(Bytes::from_static(CHAT_STREAM.as_bytes())))
        .unwrap();
    let started = std::time::Instant::now();
    let mut body = client.request(request).await.unwrap().into_body();
    let first = body.frame().await.unwrap().unwrap();
    let first_at = started.elapsed();
    assert!(first
        .data_ref()
        .is_some_and(|data| data.starts_with(b"data: ")));
    while body.frame().await.is_some() {}
    let end_at = started.elapsed();
    assert!(
        first_at + Duration::from_millis(500) < end_at,
        "first chunk after {first_at:?}, end after {end_at:?}: the proxy did not wait for the end"
    );
    proxy.shutdown().await.unwrap();
}

#[tokio::test]
async fn the_disk_store_keeps_answers_across_restarts() {
    let mock = MockServer::start(MockConfig::default()).await.unwrap();
    let dir = std::env::temp_dir().join(format!("llm-proxy-disk-{}", std::process::id()));
    std::fs::create_dir_all(&dir).unwrap();
    let mut config = ProxyConfig::default();
    config.cache.store = llm_layers_proxy::config::StoreKind::Disk;
    config.cache.path = dir.join("cache.redb");
    let mut outcomes = Vec::new();
    for _ in 0..2 {
        let proxy = proxy_for(&mock, config.clone()).await;
        let url = format!("{}/v1/chat/completions", proxy.url());
        let answer = send(&url, "POST", &[("authorization", "Bearer sk-disk")], CHAT).await;
        outcomes.push(answer.headers["x-llm-cache"].to_str().unwrap().to_owned());
        proxy.shutdown().await.unwrap();
    }
    assert_eq!(
        outcomes,
        ["MISS", "HIT"],
        "the second proxy found the first one's answer"
    );
    assert_eq!(mock.stats().requests_total, 1);
    let _ = std::fs::remove_dir_all(&dir);
}
