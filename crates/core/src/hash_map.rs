//! The hash map the layers' per-request tables use: std's, with foldhash
//! (seeded per map, as std's SipHash is) in place of SipHash, which cost
//! a few hundred instructions per lookup on every request's path.
//!
//! ```
//! let mut hosts: llm_layers_core::hash_map::HashMap<&str, u32> = Default::default();
//! hosts.insert("api.openai.com", 1);
//! assert_eq!(hosts.get("api.openai.com"), Some(&1));
//! ```

/// std's `HashMap` with foldhash's seeded hasher. Build it with
/// `Default::default()`.
pub type HashMap<K, V> = std::collections::HashMap<K, V, foldhash::quality::RandomState>;
