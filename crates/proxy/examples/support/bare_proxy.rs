//! The bare pass-through proxy the benchmarks compare the full proxy with:
//! hyper's server and hyper-util's pooled client, no layers. Shared by the
//! `load_test` and `bare_proxy` examples.

use std::convert::Infallible;

use hyper::body::Incoming;
use hyper_util::client::legacy::Client;
use hyper_util::rt::{TokioExecutor, TokioIo};

/// A bare pass-through proxy listening on `address` (port 0: any free
/// port); returns its URL.
pub async fn bare_proxy(address: &str, upstream: String, concurrency: usize) -> String {
    let listener = tokio::net::TcpListener::bind(address).await.expect("bind");
    let url = format!("http://{}", listener.local_addr().expect("an address"));
    let client = Client::builder(TokioExecutor::new())
        .pool_max_idle_per_host(concurrency * 2)
        .build_http::<Incoming>();
    tokio::spawn(async move {
        loop {
            let Ok((stream, _)) = listener.accept().await else {
                continue;
            };
            let _ = stream.set_nodelay(true);
            let (client, upstream) = (client.clone(), upstream.clone());
            tokio::spawn(async move {
                let service =
                    hyper::service::service_fn(move |request: http::Request<Incoming>| {
                        let (client, upstream) = (client.clone(), upstream.clone());
                        async move {
                            let (mut parts, body) = request.into_parts();
                            let path = parts.uri.path_and_query().map_or("/", |p| p.as_str());
                            parts.uri = format!("{upstream}{path}").parse().expect("a valid URI");
                            parts.headers.remove(http::header::HOST);
                            let response = client
                                .request(http::Request::from_parts(parts, body))
                                .await
                                .expect("the upstream answers");
                            Ok::<_, Infallible>(response)
                        }
                    });
                let _ = hyper_util::server::conn::auto::Builder::new(TokioExecutor::new())
                    .serve_connection(TokioIo::new(stream), service)
                    .await;
            });
        }
    });
    url
}
