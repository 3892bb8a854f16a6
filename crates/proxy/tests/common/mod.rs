//! What the proxy's test files share: a plain HTTP client over HTTP/1.1
//! or HTTP/2, and the proxy binary started as a child process.
#![allow(dead_code)]

use std::io::{BufRead, BufReader};
use std::process::{Child, Command, Stdio};

use bytes::Bytes;
use http_body_util::{BodyExt, Full};
use hyper_util::client::legacy::Client;
use hyper_util::rt::TokioExecutor;

/// An answer, read whole.
pub struct Answer {
    pub status: u16,
    pub headers: http::HeaderMap,
    pub body: Bytes,
}

/// Sends one request on a new client (HTTP/2 with prior knowledge when
/// `http2`); the answer read whole, or what failed.
pub async fn request(
    http2: bool,
    method: &str,
    url: &str,
    headers: &[(&str, &str)],
    body: impl Into<Bytes>,
) -> Result<Answer, String> {
    let mut builder = Client::builder(TokioExecutor::new());
    builder.http2_only(http2);
    let client = builder.build_http::<Full<Bytes>>();
    let mut request = http::Request::builder().method(method).uri(url);
    for (name, value) in headers {
        request = request.header(*name, *value);
    }
    let request = request.body(Full::new(body.into())).unwrap();
    let response = client
        .request(request)
        .await
        .map_err(|error| format!("{error:?}"))?;
    let (parts, body) = response.into_parts();
    let body = body
        .collect()
        .await
        .map_err(|error| error.to_string())?
        .to_bytes();
    Ok(Answer {
        status: parts.status.as_u16(),
        headers: parts.headers,
        body,
    })
}

/// The proxy with its default configuration in front of `mock`, on a
/// free loopback port.
pub async fn proxy_before(mock: &llm_layers_mock::MockServer) -> llm_layers_proxy::RunningProxy {
    llm_layers_proxy::start(
        llm_layers_proxy::ProxyConfig::default()
            .listen("127.0.0.1:0".parse().unwrap())
            .upstream(mock.base_url().to_owned()),
    )
    .await
    .expect("the proxy starts")
}

/// `GET {base}/stats`, as JSON.
pub async fn stats(base: &str) -> serde_json::Value {
    let answer = request(false, "GET", &format!("{base}/stats"), &[], "")
        .await
        .expect("the proxy answers /stats");
    serde_json::from_slice(&answer.body).expect("/stats is JSON")
}

/// Starts the proxy binary with `args` and waits for the address it
/// prints; the child and its base URL.
pub fn spawn_binary(args: &[&str]) -> (Child, String) {
    let mut child = Command::new(env!("CARGO_BIN_EXE_llm-layers-proxy"))
        .args(args)
        .stdout(Stdio::piped())
        .stderr(Stdio::null())
        .spawn()
        .unwrap();
    let mut lines = BufReader::new(child.stdout.take().unwrap()).lines();
    let url = lines
        .by_ref()
        .map(Result::unwrap)
        .find_map(|line| {
            line.strip_prefix("llm-layers-proxy listening on ")
                .map(str::to_owned)
        })
        .expect("the proxy prints its address");
    (child, url)
}

/// Sends SIGTERM to `child`.
pub fn terminate(child: &Child) {
    let pid = child.id().to_string();
    assert!(Command::new("kill")
        .args(["-TERM", &pid])
        .status()
        .unwrap()
        .success());
}
