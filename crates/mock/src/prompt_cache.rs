//! Emulated provider prompt caches, so that the effect of prompt layout on
//! billing can be measured.
//!
//! Entries are partitioned by credential and model, as providers partition
//! by organisation and model.
//!
//! # OpenAI rule
//! Prompts of at least 1024 tokens are cached in blocks of 128 tokens
//! (512 bytes of rendered prompt). A request's cached tokens are the
//! blocks of its longest prefix that a recent request (within the TTL) also
//! had, counted only from 1024 tokens up, in 128-token steps. Every request
//! of 1024 tokens or more stores its blocks and refreshes their TTL.
//!
//! # Gemini rule (implicit caching)
//! The OpenAI rule's prefix blocks, per credential and model, from the
//! model's minimum up ([`gemini_min_tokens`]): `cachedContentTokenCount`.
//!
//! # Anthropic rule
//! Only `cache_control` breakpoints are cached (at most 4 per request). The
//! latest breakpoint whose prefix is cached is read
//! (`cache_read_input_tokens`, refreshing it); every later breakpoint whose
//! prefix reaches the model's minimum ([`anthropic_min_tokens`]) is
//! written, and the tokens between the read point and the last written
//! breakpoint are `cache_creation_input_tokens`.

use std::collections::HashMap;
use std::sync::Mutex;
use std::time::{Duration, Instant};

use crate::render::{tokens_for_bytes, Rendered, BYTES_PER_TOKEN};

/// OpenAI's minimum cacheable prompt, in tokens.
pub const OPENAI_MIN_TOKENS: u64 = 1024;
/// OpenAI's cache granularity, in tokens.
pub const OPENAI_BLOCK_TOKENS: u64 = 128;
/// At most this many entries are kept; the expired go first, then all.
const MAX_ENTRIES: usize = 200_000;

/// The outcome of one lookup.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct CacheUsage {
    /// Prompt tokens read from the cache.
    pub read: u64,
    /// Prompt tokens written to the cache (Anthropic).
    pub written: u64,
}

/// The emulated caches of one mock server.
#[derive(Debug, Default)]
pub struct PromptCache {
    entries: Mutex<HashMap<[u8; 32], Instant>>,
}

impl PromptCache {
    /// Forgets everything.
    pub fn clear(&self) {
        self.lock().clear();
    }

    /// Number of live entries.
    pub fn len(&self) -> usize {
        self.lock().len()
    }

    /// True when no entry is stored.
    pub fn is_empty(&self) -> bool {
        self.len() == 0
    }

    fn lock(&self) -> std::sync::MutexGuard<'_, HashMap<[u8; 32], Instant>> {
        self.entries
            .lock()
            .unwrap_or_else(|poisoned| poisoned.into_inner())
    }

    /// Applies the OpenAI rule to a rendered prompt.
    pub fn openai(&self, partition: &str, prompt: &Rendered, ttl: Duration) -> CacheUsage {
        self.prefix_blocks("openai", partition, prompt, ttl, OPENAI_MIN_TOKENS)
    }

    /// Applies the Gemini rule (implicit caching) to a rendered prompt.
    pub fn gemini(
        &self,
        partition: &str,
        model: &str,
        prompt: &Rendered,
        ttl: Duration,
    ) -> CacheUsage {
        let scope = format!("{partition}/{model}");
        self.prefix_blocks("gemini", &scope, prompt, ttl, gemini_min_tokens(model))
    }

    /// Prefix matching in 128-token blocks, from `minimum` tokens up.
    fn prefix_blocks(
        &self,
        provider: &str,
        partition: &str,
        prompt: &Rendered,
        ttl: Duration,
        minimum: u64,
    ) -> CacheUsage {
        let tokens = prompt.tokens();
        if tokens < minimum {
            return CacheUsage::default();
        }
        let block_bytes = OPENAI_BLOCK_TOKENS as usize * BYTES_PER_TOKEN;
        let mut chain = blake3::Hasher::new();
        chain.update(provider.as_bytes());
        chain.update(partition.as_bytes());
        let mut hashes = Vec::new();
        for block in prompt.text.as_bytes().chunks_exact(block_bytes) {
            chain.update(block);
            hashes.push(*chain.finalize().as_bytes());
        }
        let now = Instant::now();
        let mut entries = self.lock();
        let matched = hashes
            .iter()
            .take_while(|hash| entries.get(*hash).is_some_and(|expiry| *expiry > now))
            .count() as u64;
        let cached = matched * OPENAI_BLOCK_TOKENS;
        make_room(&mut entries, hashes.len(), now);
        for hash in hashes {
            entries.insert(hash, now + ttl);
        }
        CacheUsage {
            read: if cached >= minimum { cached } else { 0 },
            written: 0,
        }
    }

    /// Applies the Anthropic rule to a rendered prompt.
    pub fn anthropic(&self, partition: &str, model: &str, prompt: &Rendered) -> CacheUsage {
        let minimum = anthropic_min_tokens(model);
        let hashes: Vec<[u8; 32]> = prompt
            .breakpoints
            .iter()
            .map(|breakpoint| {
                let mut hasher = blake3::Hasher::new();
                hasher.update(b"anthropic");
                hasher.update(partition.as_bytes());
                hasher.update(model.as_bytes());
                hasher.update(&prompt.text.as_bytes()[..breakpoint.end]);
                *hasher.finalize().as_bytes()
            })
            .collect();
        let now = Instant::now();
        let mut entries = self.lock();
        let hit = (0..hashes.len())
            .rev()
            .find(|&i| entries.get(&hashes[i]).is_some_and(|expiry| *expiry > now));
        let mut usage = CacheUsage::default();
        if let Some(i) = hit {
            usage.read = tokens_for_bytes(prompt.breakpoints[i].end);
            entries.insert(hashes[i], now + prompt.breakpoints[i].ttl);
        }
        let first_write = hit.map_or(0, |i| i + 1);
        make_room(&mut entries, hashes.len(), now);
        let mut written_to = usage.read;
        let later = hashes.iter().zip(&prompt.breakpoints).skip(first_write);
        for (hash, breakpoint) in later {
            let tokens = tokens_for_bytes(breakpoint.end);
            if tokens >= minimum {
                entries.insert(*hash, now + breakpoint.ttl);
                written_to = written_to.max(tokens);
            }
        }
        usage.written = written_to - usage.read;
        usage
    }
}

/// The smallest prompt Gemini's implicit caching serves (its
/// documentation, late 2026): 4096 tokens for the Pro models, 1024 for
/// the others (Flash, Flash-Lite).
pub fn gemini_min_tokens(model: &str) -> u64 {
    if model.contains("pro") {
        4096
    } else {
        1024
    }
}

/// The smallest prefix Anthropic caches for a model (its documentation,
/// late 2026): 4096 tokens for Claude Opus 4.5 / 4.6 and Haiku 4.5, 2048 for
/// Sonnet 4.6 and the Haiku 3 family, 1024 for the others.
pub fn anthropic_min_tokens(model: &str) -> u64 {
    const LONGEST: [&str; 3] = ["opus-4-5", "opus-4-6", "haiku-4-5"];
    const LONGER: [&str; 3] = ["sonnet-4-6", "3-5-haiku", "3-haiku"];
    if LONGEST.iter().any(|name| model.contains(name)) {
        4096
    } else if LONGER.iter().any(|name| model.contains(name)) {
        2048
    } else {
        1024
    }
}

fn make_room(entries: &mut HashMap<[u8; 32], Instant>, adding: usize, now: Instant) {
    if entries.len() + adding <= MAX_ENTRIES {
        return;
    }
    entries.retain(|_, expiry| *expiry > now);
    if entries.len() + adding > MAX_ENTRIES {
        entries.clear();
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::render::Breakpoint;

    fn prompt(text: &str) -> Rendered {
        Rendered {
            text: text.to_owned(),
            breakpoints: Vec::new(),
        }
    }

    const TTL: Duration = Duration::from_secs(60);

    #[test]
    fn openai_caches_shared_prefixes_in_blocks_from_1024_tokens() {
        let cache = PromptCache::default();
        let stable = "s".repeat(1200 * 4);
        let first = prompt(&(stable.clone() + "task one"));
        assert_eq!(cache.openai("k", &first, TTL).read, 0);
        let second = prompt(&(stable.clone() + "task two, longer"));
        // 1200 stable tokens: 9 whole blocks of 128 = 1152.
        assert_eq!(cache.openai("k", &second, TTL).read, 1152);
        assert_eq!(cache.openai("other-key", &second, TTL).read, 0);
    }

    #[test]
    fn openai_ignores_short_prompts_and_changed_starts() {
        let cache = PromptCache::default();
        let short = prompt(&"s".repeat(1000 * 4));
        cache.openai("k", &short, TTL);
        assert_eq!(cache.openai("k", &short, TTL).read, 0);
        let long = "s".repeat(2000 * 4);
        cache.openai("k", &prompt(&("12:00 ".to_owned() + &long)), TTL);
        assert_eq!(
            cache
                .openai("k", &prompt(&("12:01 ".to_owned() + &long)), TTL)
                .read,
            0
        );
    }

    #[test]
    fn openai_entries_expire() {
        let cache = PromptCache::default();
        let long = prompt(&"s".repeat(2048 * 4));
        cache.openai("k", &long, Duration::ZERO);
        assert_eq!(cache.openai("k", &long, TTL).read, 0);
    }

    #[test]
    fn anthropic_writes_then_reads_breakpoints() {
        let cache = PromptCache::default();
        let mut p = prompt(&"s".repeat(3000 * 4));
        p.breakpoints.push(Breakpoint {
            end: 1500 * 4,
            ttl: TTL,
        });
        p.breakpoints.push(Breakpoint {
            end: 2500 * 4,
            ttl: TTL,
        });
        let first = cache.anthropic("k", "claude-sonnet-4-5", &p);
        assert_eq!(
            first,
            CacheUsage {
                read: 0,
                written: 2500
            }
        );
        let second = cache.anthropic("k", "claude-sonnet-4-5", &p);
        assert_eq!(
            second,
            CacheUsage {
                read: 2500,
                written: 0
            }
        );
    }

    #[test]
    fn anthropic_skips_breakpoints_below_the_minimum() {
        let cache = PromptCache::default();
        let mut p = prompt(&"s".repeat(3000 * 4));
        p.breakpoints.push(Breakpoint {
            end: 1500 * 4,
            ttl: TTL,
        });
        assert_eq!(
            cache.anthropic("k", "claude-haiku-4-5", &p),
            CacheUsage::default()
        );
        assert_eq!(
            cache.anthropic("k", "claude-haiku-4-5", &p),
            CacheUsage::default()
        );
        let none = prompt(&"s".repeat(3000 * 4));
        assert_eq!(
            cache.anthropic("k", "claude-sonnet-4-5", &none),
            CacheUsage::default()
        );
    }
}
