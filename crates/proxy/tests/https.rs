//! The proxy over HTTPS: a self-signed certificate, HTTP/2 chosen through
//! ALPN (HTTP/1.1 still served), and a client that never finishes its
//! handshake holding nobody up.

use std::path::PathBuf;
use std::sync::Arc;
use std::time::Duration;

use bytes::Bytes;
use http_body_util::{BodyExt, Full};
use hyper_util::client::legacy::Client;
use hyper_util::rt::TokioExecutor;
use llm_layers_mock::{MockConfig, MockServer};
use llm_layers_proxy::{start, ProxyConfig, RunningProxy};

/// A certificate for 127.0.0.1 written to PEM files; its DER for clients.
struct Certificate {
    dir: PathBuf,
    der: rustls::pki_types::CertificateDer<'static>,
}

impl Certificate {
    fn new() -> Certificate {
        let certified =
            rcgen::generate_simple_self_signed(vec!["127.0.0.1".into(), "localhost".into()])
                .unwrap();
        let dir = std::env::temp_dir().join(format!(
            "llm-layers-proxy-tls-{}-{}",
            std::process::id(),
            unique_suffix()
        ));
        std::fs::create_dir_all(&dir).unwrap();
        std::fs::write(dir.join("cert.pem"), certified.cert.pem()).unwrap();
        std::fs::write(dir.join("key.pem"), certified.key_pair.serialize_pem()).unwrap();
        Certificate {
            dir,
            der: certified.cert.der().clone(),
        }
    }
}

impl Drop for Certificate {
    fn drop(&mut self) {
        let _ = std::fs::remove_dir_all(&self.dir);
    }
}

fn unique_suffix() -> u128 {
    std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .unwrap()
        .as_nanos()
}

async fn https_proxy(mock: &MockServer, certificate: &Certificate) -> RunningProxy {
    start(
        ProxyConfig::default()
            .listen("127.0.0.1:0".parse().unwrap())
            .upstream(mock.base_url())
            .tls_cert(Some(certificate.dir.join("cert.pem")))
            .tls_key(Some(certificate.dir.join("key.pem"))),
    )
    .await
    .unwrap()
}

type HttpsClient = Client<
    hyper_rustls::HttpsConnector<hyper_util::client::legacy::connect::HttpConnector>,
    Full<Bytes>,
>;

/// A client trusting `certificate`, offering HTTP/2 (and HTTP/1.1) or
/// HTTP/1.1 alone.
fn client(certificate: &Certificate, http2: bool) -> HttpsClient {
    let mut roots = rustls::RootCertStore::empty();
    roots.add(certificate.der.clone()).unwrap();
    let provider = Arc::new(rustls::crypto::ring::default_provider());
    let config = rustls::ClientConfig::builder_with_provider(provider)
        .with_safe_default_protocol_versions()
        .unwrap()
        .with_root_certificates(roots)
        .with_no_client_auth();
    let builder = hyper_rustls::HttpsConnectorBuilder::new()
        .with_tls_config(config)
        .https_only();
    let connector = if http2 {
        builder.enable_http1().enable_http2().build()
    } else {
        builder.enable_http1().build()
    };
    Client::builder(TokioExecutor::new()).build(connector)
}

async fn chat(client: &HttpsClient, proxy: &RunningProxy) -> (http::Version, String, Bytes) {
    let body = r#"{"model":"gpt-4o-mini","messages":[{"role":"user","content":"over tls"}]}"#;
    let request = http::Request::post(format!("{}/v1/chat/completions", proxy.url()))
        .header("authorization", "Bearer sk-tls")
        .body(Full::new(Bytes::from_static(body.as_bytes())))
        .unwrap();
    let response = client.request(request).await.unwrap();
    assert_eq!(response.status(), 200);
    let version = response.version();
    let outcome = response.headers()["x-llm-cache"]
        .to_str()
        .unwrap()
        .to_owned();
    (
        version,
        outcome,
        response.into_body().collect().await.unwrap().to_bytes(),
    )
}

#[tokio::test]
async fn https_serves_http2_through_alpn_and_http1_too() {
    let mock = MockServer::start(MockConfig::default()).await.unwrap();
    let certificate = Certificate::new();
    let proxy = https_proxy(&mock, &certificate).await;
    assert!(proxy.url().starts_with("https://"));
    let (version, outcome, first) = chat(&client(&certificate, true), &proxy).await;
    assert_eq!((version, outcome.as_str()), (http::Version::HTTP_2, "MISS"));
    let (version, outcome, second) = chat(&client(&certificate, false), &proxy).await;
    assert_eq!((version, outcome.as_str()), (http::Version::HTTP_11, "HIT"));
    assert_eq!(first, second);
    proxy.shutdown().await.unwrap();
}

#[tokio::test]
async fn a_client_stuck_before_its_handshake_holds_nobody_up() {
    let mock = MockServer::start(MockConfig::default()).await.unwrap();
    let certificate = Certificate::new();
    let proxy = https_proxy(&mock, &certificate).await;
    // Connected, silent: no ClientHello ever comes.
    let _silent = tokio::net::TcpStream::connect(proxy.addr()).await.unwrap();
    let answered = tokio::time::timeout(
        Duration::from_secs(5),
        chat(&client(&certificate, true), &proxy),
    )
    .await;
    assert!(answered.is_ok(), "the next client was served meanwhile");
    // Plain HTTP to the HTTPS port gets no answer, and no crash.
    let plain = Client::builder(TokioExecutor::new()).build_http::<Full<Bytes>>();
    let url = format!("http://{}/healthz", proxy.addr());
    let refused = plain.get(url.parse().unwrap()).await;
    assert!(refused.is_err());
    let (_, outcome, _) = chat(&client(&certificate, true), &proxy).await;
    assert_eq!(outcome, "HIT");
    proxy.shutdown().await.unwrap();
}
