//! Memory bound of the in-memory cache store: 100,000 distinct 4 KiB
//! entries into a store bounded at 64 MiB. Prints resident memory before
//! and after, and what the store says it holds.
//!
//! `cargo run --release --example cache_memory`
//!
//! With `footprint [N]`: N entries (default 16,000) into a store too large
//! to evict any, and the resident bytes each costs against what the store
//! counts for it (`CachedResponse::size`, which the bound is enforced on).

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

/// An entry of about 4 KiB, its body starting with `i`.
fn entry(i: u64) -> CachedResponse {
    let mut body = vec![b'x'; 4096];
    body[..8].copy_from_slice(&i.to_le_bytes());
    CachedResponse {
        status: http::StatusCode::OK,
        headers: vec![(
            http::header::CONTENT_TYPE,
            http::HeaderValue::from_static("application/json"),
        )],
        body: CachedBody::Whole(Bytes::from(body)),
        stored_at: SystemTime::now(),
        ttl: Duration::from_secs(3600),
        usage: Default::default(),
    }
}

/// `count` entries put into `store` under distinct keys.
async fn fill(store: &MemoryStore, count: u64) {
    for i in 0..count {
        let mut key = [0u8; 32];
        key[..8].copy_from_slice(&i.to_le_bytes());
        // A full store's admission policy may refuse an entry: that is
        // the bound at work, counted in the store's statistics.
        let _ = store
            .put(CanonicalKey::from_bytes(key), Arc::new(entry(i)))
            .await;
    }
}

/// Resident bytes per entry against the bytes the store counts.
fn footprint(runtime: &tokio::runtime::Runtime, count: u64) {
    let store = MemoryStore::new(
        MemoryBounds::default()
            .max_bytes(1 << 40)
            .max_entries(u64::MAX),
    );
    let before = resident_mib();
    runtime.block_on(fill(&store, count));
    store.run_pending_tasks();
    let resident = (resident_mib() - before) * 1024.0 * 1024.0 / count as f64;
    let stats = store.stats();
    println!(
        "{count} entries: {resident:.0} B resident per entry, {} B counted per entry",
        stats.bytes / stats.entries.max(1)
    );
}

fn main() {
    let runtime = tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
        .expect("runtime");
    let mut args = std::env::args().skip(1);
    if args.next().as_deref() == Some("footprint") {
        let count = args
            .next()
            .map_or(16_000, |n| n.parse().expect("N is a count"));
        return footprint(&runtime, count);
    }
    let bound = 64u64 << 20;
    let store = MemoryStore::new(
        MemoryBounds::default()
            .max_bytes(bound)
            .max_entries(1_000_000),
    );
    let before = resident_mib();
    runtime.block_on(fill(&store, 100_000));
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
