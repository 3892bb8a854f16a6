//! Gemini through the proxy: `/gemini/...` forwarded to the Gemini
//! upstream without the prefix, streamed (`alt=sse`) and plain answers
//! cached per key (`x-goog-api-key` or `key=`), usage counted, and the key
//! in the query never shown in `/metrics` or `/stats`.

use bytes::Bytes;
use llm_layers_mock::{MockConfig, MockServer};
use llm_layers_proxy::{start, ProxyConfig, RunningProxy};

mod common;

const STREAM: &str = "/gemini/v1beta/models/gemini-2.5-flash:streamGenerateContent?alt=sse";

async fn proxy(mock: &MockServer) -> RunningProxy {
    start(
        ProxyConfig::default()
            .listen("127.0.0.1:0".parse().unwrap())
            .upstream("http://127.0.0.1:9".into())
            .gemini_upstream(Some(mock.base_url()))
            .admin_token(Some("admin".into())),
    )
    .await
    .unwrap()
}

fn body(text: &str) -> Bytes {
    Bytes::from(
        serde_json::json!({
            "systemInstruction": {"parts": [{"text": "You are terse."}]},
            "contents": [{"role": "user", "parts": [{"text": text}]}]
        })
        .to_string(),
    )
}

async fn post(
    proxy: &RunningProxy,
    path: &str,
    headers: &[(&str, &str)],
    text: &str,
) -> common::Answer {
    let url = format!("{}{path}", proxy.url());
    common::request(false, "POST", &url, headers, body(text))
        .await
        .unwrap()
}

async fn get(proxy: &RunningProxy, path: &str) -> String {
    let url = format!("{}{path}", proxy.url());
    let answer = common::request(false, "GET", &url, &[("authorization", "Bearer admin")], "")
        .await
        .unwrap();
    String::from_utf8(answer.body.to_vec()).unwrap()
}

#[tokio::test]
async fn gemini_streams_are_forwarded_cached_and_counted() {
    let mock = MockServer::start(MockConfig::default()).await.unwrap();
    let proxy = proxy(&mock).await;
    let key = [("x-goog-api-key", "AIza-header-key")];
    let first = post(&proxy, STREAM, &key, "hello").await;
    assert_eq!(first.status, 200);
    assert_eq!(first.headers["x-llm-cache"], "MISS");
    assert!(String::from_utf8_lossy(&first.body).contains("\"finishReason\":\"STOP\""));
    let second = post(&proxy, STREAM, &key, "hello").await;
    assert_eq!(second.headers["x-llm-cache"], "HIT");
    assert_eq!(second.body, first.body, "replayed byte for byte");
    assert_eq!(
        mock.recent_requests()[0].path,
        "/v1beta/models/gemini-2.5-flash:streamGenerateContent?alt=sse",
        "forwarded without the prefix"
    );
    let plain = "/gemini/v1beta/models/gemini-2.5-flash:generateContent";
    assert_eq!(
        post(&proxy, plain, &key, "hello").await.headers["x-llm-cache"],
        "MISS"
    );
    let stats: serde_json::Value = serde_json::from_str(&get(&proxy, "/stats").await).unwrap();
    let model = &stats["calls"]["by_model"]["gemini-2.5-flash"];
    assert_eq!(model["calls"], 3, "{stats}");
    assert!(model["tokens"].as_u64().unwrap() > 0, "{stats}");
    proxy.shutdown().await.unwrap();
}

#[tokio::test]
async fn a_key_in_the_query_partitions_the_cache_and_never_shows() {
    let mock = MockServer::start(MockConfig::default()).await.unwrap();
    let proxy = proxy(&mock).await;
    let with_key = |key: &str| format!("{STREAM}&key={key}");
    let secret = "AIza-query-secret-0123456789";
    assert_eq!(
        post(&proxy, &with_key(secret), &[], "q").await.headers["x-llm-cache"],
        "MISS"
    );
    assert_eq!(
        post(&proxy, &with_key(secret), &[], "q").await.headers["x-llm-cache"],
        "HIT"
    );
    let other = post(&proxy, &with_key("AIza-someone-else"), &[], "q").await;
    assert_eq!(
        other.headers["x-llm-cache"], "MISS",
        "another key never reads it"
    );
    assert_eq!(mock.stats().requests_total, 2);
    for page in ["/metrics", "/stats"] {
        let text = get(&proxy, page).await;
        assert!(!text.contains(secret), "{page} shows the key");
        assert!(!text.contains("AIza"), "{page} shows a key");
    }
    proxy.shutdown().await.unwrap();
}
