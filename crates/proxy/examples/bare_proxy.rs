//! The bare pass-through proxy (hyper server, pooled hyper-util client, no
//! layers) as a process of its own, for `scripts/bench-vs-nginx.sh`.
//!
//! ```text
//! cargo run --release -p llm-layers-proxy --example bare_proxy -- 127.0.0.1:8090 http://127.0.0.1:8081
//! ```

#[path = "support/bare_proxy.rs"]
mod bare;

#[tokio::main]
async fn main() {
    let mut args = std::env::args().skip(1);
    let (Some(listen), Some(upstream)) = (args.next(), args.next()) else {
        eprintln!("usage: bare_proxy LISTEN_ADDRESS UPSTREAM_URL");
        std::process::exit(2);
    };
    let url = bare::bare_proxy(&listen, upstream, 64).await;
    println!("bare proxy listening on {url}");
    let _ = tokio::signal::ctrl_c().await;
}
