//! Where entries and locks live in Redis.
//!
//! ```text
//! {key_prefix}:{namespace}:entry:{<key hex>}   the encoded entry, PX = its TTL left
//! {key_prefix}:{namespace}:lock:{<key hex>}    a leader's token, PX = the lease
//! ```
//!
//! The canonical key already separates credentials (their fingerprint is
//! hashed into it) and per-request namespaces. The braces make an entry and
//! its lock one hash slot, as Redis Cluster requires of a script's keys.

use llm_layers_core::CanonicalKey;

/// The key names of one store.
#[derive(Clone, Debug)]
pub(crate) struct KeyLayout {
    base: String,
}

impl KeyLayout {
    pub fn new(key_prefix: &str, namespace: &str) -> KeyLayout {
        KeyLayout {
            base: format!("{key_prefix}:{namespace}:"),
        }
    }

    pub fn entry(&self, key: &CanonicalKey) -> String {
        format!("{}entry:{{{}}}", self.base, key.to_hex())
    }

    pub fn lock(&self, key: &CanonicalKey) -> String {
        format!("{}lock:{{{}}}", self.base, key.to_hex())
    }

    /// A `SCAN MATCH` pattern for every entry of the namespace (glob
    /// characters in the prefix or namespace taken literally).
    pub fn all_entries(&self) -> String {
        let mut pattern = String::with_capacity(self.base.len() + 8);
        for character in self.base.chars() {
            if matches!(character, '*' | '?' | '[' | ']' | '\\') {
                pattern.push('\\');
            }
            pattern.push(character);
        }
        pattern.push_str("entry:*");
        pattern
    }
}

/// The check number an entry is written with: the key's first eight
/// bytes. A value read back under another key (copied, renamed, or
/// written by a buggy client) does not carry it, and is not served.
pub(crate) fn check_number(key: &CanonicalKey) -> u64 {
    let mut first = [0u8; 8];
    first.copy_from_slice(&key.as_bytes()[..8]);
    u64::from_le_bytes(first)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn entries_and_locks_share_a_slot_and_the_pattern_escapes_globs() {
        let layout = KeyLayout::new("llm", "team*a");
        let key = CanonicalKey::from_bytes([7; 32]);
        let hex = key.to_hex();
        assert_eq!(layout.entry(&key), format!("llm:team*a:entry:{{{hex}}}"));
        assert_eq!(layout.lock(&key), format!("llm:team*a:lock:{{{hex}}}"));
        assert_eq!(layout.all_entries(), "llm:team\\*a:entry:*");
    }
}
