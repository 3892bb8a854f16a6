//! `llm-layers-proxy --listen 127.0.0.1:8080 --upstream https://api.openai.com`
//! (see `--help`).

use clap::Parser;

/// jemalloc instead of the system allocator: a cache under steady churn
/// (answers stored and evicted all the time) leaves glibc's arenas holding
/// far more than the cache's bound (BENCHMARKS.md, "memory").
#[global_allocator]
static ALLOCATOR: tikv_jemallocator::Jemalloc = tikv_jemallocator::Jemalloc;

/// jemalloc's options: a background thread gives freed pages back to the
/// system after a second, instead of at some later allocation; one arena,
/// so that an evicted entry's space serves the next one whichever thread
/// stores it (less fragmentation under churn; the thread caches take the
/// contention).
#[allow(non_upper_case_globals)]
#[export_name = "_rjem_malloc_conf"]
pub static _rjem_malloc_conf: &[u8] =
    b"background_thread:true,narenas:1,dirty_decay_ms:1000,muzzy_decay_ms:0\0";
use llm_layers_proxy::cli::Args;
use tracing_subscriber::EnvFilter;

fn main() -> std::process::ExitCode {
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
    // The runtime is built from the configuration (its worker threads).
    let mut runtime = tokio::runtime::Builder::new_multi_thread();
    runtime.enable_all();
    if let Some(threads) = config.worker_threads {
        runtime.worker_threads(threads);
    }
    match runtime.build() {
        Ok(runtime) => runtime.block_on(run(config)),
        Err(error) => {
            eprintln!("llm-layers-proxy: no runtime: {error}");
            std::process::ExitCode::FAILURE
        }
    }
}

async fn run(config: llm_layers_proxy::ProxyConfig) -> std::process::ExitCode {
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
