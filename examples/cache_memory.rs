//! Memory bound of the in-memory cache store: 100,000 distinct 4 KiB
//! entries into a store bounded at 64 MiB. Prints resident memory before
//! and after, and what the store says it holds.
//!
//! `cargo run --release --example cache_memory`

use std::sync::Arc;
use std::time::{Duration, SystemTime};

use bytes::Bytes;
use llm_layers::cache::{CacheStore, CachedBody, CachedResponse, MemoryBounds, MemoryStore};
use llm_layers::core::CanonicalKey;

/// Resident set size in MiB (Linux).
fn resident_mib() -> f64 {
    let statm = std::fs::read_to_string("/proc/self/statm").unwrap_or_default();
    let pages: f64 = statm
        .split_whitespace()
        .nth(1)
        .and_then(|p| p.parse().ok())
        .unwrap_or(0.0);
    pages * 4096.0 / (1024.0 * 1024.0)
}

fn main() {
    let runtime = tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
        .expect("runtime");
    let bound = 64u64 << 20;
    let store = MemoryStore::new(
        MemoryBounds::default()
            .max_bytes(bound)
            .max_entries(1_000_000),
    );
    let before = resident_mib();
    runtime.block_on(async {
        for i in 0..100_000u64 {
            let mut key = [0u8; 32];
            key[..8].copy_from_slice(&i.to_le_bytes());
            let mut body = vec![b'x'; 4096];
            body[..8].copy_from_slice(&i.to_le_bytes());
            let entry = CachedResponse {
                status: http::StatusCode::OK,
                headers: vec![(
                    http::header::CONTENT_TYPE,
                    http::HeaderValue::from_static("application/json"),
                )],
                body: CachedBody::Whole(Bytes::from(body)),
                stored_at: SystemTime::now(),
                ttl: Duration::from_secs(3600),
                usage: Default::default(),
            };
            store
                .put(CanonicalKey::from_bytes(key), Arc::new(entry))
                .await
                .expect("memory store");
        }
    });
    store.run_pending_tasks();
    let stats = store.stats();
    let after = resident_mib();
    println!("entries inserted:   100000 x 4 KiB (390.6 MiB in all)");
    println!(
        "store bound:        {:.1} MiB",
        bound as f64 / (1024.0 * 1024.0)
    );
    println!(
        "store holds:        {} entries, {:.1} MiB",
        stats.entries,
        stats.bytes as f64 / (1024.0 * 1024.0)
    );
    println!("evicted for size:   {}", stats.evicted_size);
    println!("resident before:    {before:.1} MiB");
    println!(
        "resident after:     {after:.1} MiB (+{:.1} MiB)",
        after - before
    );
    assert!(stats.bytes <= bound, "the store stayed within its bound");
}
