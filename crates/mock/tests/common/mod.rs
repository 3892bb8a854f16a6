//! A plain hyper client for talking to the mock in tests.
#![allow(dead_code)]

use std::sync::Arc;

use bytes::Bytes;
use http::{HeaderMap, Request, StatusCode};
use http_body_util::{BodyExt, Full};
use hyper_util::client::legacy::connect::HttpConnector;
use hyper_util::client::legacy::Client;
use hyper_util::rt::TokioExecutor;
use llm_layers_mock::MockServer;

pub type HttpClient = Client<HttpConnector, Full<Bytes>>;

pub fn http1() -> HttpClient {
    Client::builder(TokioExecutor::new()).build_http()
}

pub fn http2() -> HttpClient {
    Client::builder(TokioExecutor::new())
        .http2_only(true)
        .build_http()
}

pub type HttpsClient = Client<hyper_rustls::HttpsConnector<HttpConnector>, Full<Bytes>>;

/// A client that trusts only the mock's self-signed certificate.
pub fn https(server: &MockServer) -> HttpsClient {
    let mut roots = rustls::RootCertStore::empty();
    roots
        .add(server.certificate_der().expect("tls server").clone())
        .unwrap();
    https_with_roots(roots)
}

pub fn https_with_roots(roots: rustls::RootCertStore) -> HttpsClient {
    let provider = Arc::new(rustls::crypto::ring::default_provider());
    let tls = rustls::ClientConfig::builder_with_provider(provider)
        .with_safe_default_protocol_versions()
        .unwrap()
        .with_root_certificates(roots)
        .with_no_client_auth();
    let connector = hyper_rustls::HttpsConnectorBuilder::new()
        .with_tls_config(tls)
        .https_only()
        .enable_http1()
        .enable_http2()
        .build();
    Client::builder(TokioExecutor::new()).build(connector)
}

pub struct Reply {
    pub status: StatusCode,
    pub headers: HeaderMap,
    pub body: Bytes,
    pub version: http::Version,
}

impl Reply {
    pub fn json(&self) -> serde_json::Value {
        serde_json::from_slice(&self.body).expect("JSON body")
    }
}

pub fn request(url: &str, headers: &[(&str, &str)], body: &str) -> Request<Full<Bytes>> {
    let mut builder = Request::post(url).header("content-type", "application/json");
    for (name, value) in headers {
        builder = builder.header(*name, *value);
    }
    builder
        .body(Full::new(Bytes::from(body.to_owned())))
        .unwrap()
}

pub async fn send<C>(client: &Client<C, Full<Bytes>>, request: Request<Full<Bytes>>) -> Reply
where
    C: hyper_util::client::legacy::connect::Connect + Clone + Send + Sync + 'static,
{
    let response = client.request(request).await.expect("response");
    let status = response.status();
    let version = response.version();
    let headers = response.headers().clone();
    let body = response
        .into_body()
        .collect()
        .await
        .expect("body")
        .to_bytes();
    Reply {
        status,
        headers,
        body,
        version,
    }
}

pub async fn post(
    client: &HttpClient,
    server: &MockServer,
    path: &str,
    headers: &[(&str, &str)],
    body: &str,
) -> Reply {
    let url = format!("{}{path}", server.base_url());
    send(client, request(&url, headers, body)).await
}

/// POSTs a chat completion with this system and user text.
pub async fn chat(
    client: &HttpClient,
    server: &MockServer,
    system: &str,
    user: &str,
    stream: bool,
) -> Reply {
    post(
        client,
        server,
        "/v1/chat/completions",
        &[],
        &chat_body(system, user, stream),
    )
    .await
}

/// A system prompt of about `tokens` emulated tokens (4 bytes each).
pub fn long_text(tokens: usize) -> String {
    "Follow the workflow rules. ".repeat(tokens * 4 / 27 + 1)
}

pub fn chat_body(system: &str, user: &str, stream: bool) -> String {
    serde_json::json!({
        "model": "gpt-4o",
        "stream": stream,
        "stream_options": if stream { serde_json::json!({"include_usage": true}) } else { serde_json::Value::Null },
        "messages": [
            {"role": "system", "content": system},
            {"role": "user", "content": user}
        ]
    })
    .to_string()
}
