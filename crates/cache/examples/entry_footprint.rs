//! What a stored entry costs in memory, against what the store counts for
//! it (`CachedResponse::size`, which the byte bound is enforced on): N
//! answers of about 4 KB with two headers put in a memory store, and the
//! process's resident set size before and after.
//!
//! ```text
//! cargo run --release -p llm-layers-cache --example entry_footprint [-- N]
//! ```

use bytes::Bytes;
use llm_layers_cache::{CacheStore, CachedBody, CachedResponse, MemoryBounds, MemoryStore};
use llm_layers_core::CanonicalKey;
use std::sync::Arc;
use std::time::{Duration, SystemTime};

/// The resident set size, KiB.
fn rss_kib() -> u64 {
    let s = std::fs::read_to_string("/proc/self/status").unwrap();
    s.lines()
        .find(|l| l.starts_with("VmRSS:"))
        .unwrap()
        .split_whitespace()
        .nth(1)
        .unwrap()
        .parse()
        .unwrap()
}

#[tokio::main(flavor = "current_thread")]
async fn main() {
    let n: usize = std::env::args()
        .nth(1)
        .map(|a| a.parse().unwrap())
        .unwrap_or(15000);
    let store = MemoryStore::new(
        MemoryBounds::default()
            .max_bytes(1 << 30)
            .max_entries(1_000_000),
    );
    let before = rss_kib();
    for i in 0..n {
        let mut key = [0u8; 32];
        key[..8].copy_from_slice(&(i as u64).to_le_bytes());
        key[8] = 7;
        let entry = CachedResponse {
            status: http::StatusCode::OK,
            headers: vec![
                (
                    http::header::CONTENT_TYPE,
                    http::HeaderValue::from_static("application/json"),
                ),
                (
                    http::HeaderName::from_static("x-request-id"),
                    http::HeaderValue::from_str(&format!("req-{i:020}")).unwrap(),
                ),
            ],
            body: CachedBody::Whole(Bytes::from(vec![b'x'; 4027])),
            stored_at: SystemTime::now(),
            ttl: Duration::from_secs(3600),
            usage: Default::default(),
        };
        store
            .put(CanonicalKey::from_bytes(key), Arc::new(entry))
            .await
            .unwrap();
    }
    let after = rss_kib();
    let stats = store.stats();
    println!(
        "{n} entries: RSS +{} KiB, {} B per entry; counted {} B per entry",
        after - before,
        (after - before) * 1024 / n as u64,
        stats.bytes / stats.entries.max(1)
    );
}
