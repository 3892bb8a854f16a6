//! `llm-layers-proxy --listen 127.0.0.1:8080 --upstream https://api.openai.com`
//! (see `--help`).

use clap::Parser;
use llm_layers_proxy::cli::Args;
use tracing_subscriber::EnvFilter;

#[tokio::main]
async fn main() -> std::process::ExitCode {
    tracing_subscriber::fmt()
        .with_env_filter(
            EnvFilter::try_from_default_env().unwrap_or_else(|_| EnvFilter::new("info")),
        )
        .with_writer(std::io::stderr)
        .init();
    let config = match Args::parse().into_config() {
        Ok(config) => config,
        Err(error) => {
            eprintln!("llm-layers-proxy: {error}");
            return std::process::ExitCode::from(2);
        }
    };
    let proxy = match llm_layers_proxy::start(config).await {
        Ok(proxy) => proxy,
        Err(error) => {
            eprintln!("llm-layers-proxy: {error}");
            return std::process::ExitCode::FAILURE;
        }
    };
    if let Some(mock) = proxy.mock() {
        println!("mock upstream on {}", mock.base_url());
    }
    println!("llm-layers-proxy listening on {}", proxy.url());
    match proxy.run_until(shutdown_signal()).await {
        Ok(()) => std::process::ExitCode::SUCCESS,
        Err(error) => {
            eprintln!("llm-layers-proxy: {error}");
            std::process::ExitCode::FAILURE
        }
    }
}

/// SIGINT or SIGTERM.
async fn shutdown_signal() {
    let interrupt = async {
        let _ = tokio::signal::ctrl_c().await;
    };
    #[cfg(unix)]
    let terminate = async {
        match tokio::signal::unix::signal(tokio::signal::unix::SignalKind::terminate()) {
            Ok(mut signal) => {
                signal.recv().await;
            }
            Err(_) => std::future::pending().await,
        }
    };
    #[cfg(not(unix))]
    let terminate = std::future::pending::<()>();
    tokio::select! {
        () = interrupt => {}
        () = terminate => {}
    }
    tracing::info!("shutting down: finishing in-flight requests");
}
