//! How the cache layer behaves, with the defaults documented.

use std::time::Duration;

use crate::mode::CacheMode;

/// Settings of a [`crate::CacheLayer`].
#[derive(Clone, Debug)]
#[non_exhaustive]
pub struct CacheConfig {
    /// The mode when a request does not choose one. Default `On`.
    pub mode: CacheMode,
    /// How long entries stay fresh. Default 1 hour.
    pub default_ttl: Duration,
    /// TTLs by model: an exact name, or a prefix ending in `*` (`gpt-4*`).
    /// The first match wins. Default none.
    pub model_ttls: Vec<(String, Duration)>,
    /// The longest TTL a request may ask for (`x-llm-cache-ttl` or the
    /// [`crate::CacheControls`] extension); longer asks are cut to it.
    /// Default `None`: the TTL configured for the request's model.
    pub max_request_ttl: Option<Duration>,
    /// Largest single entry; larger answers are not stored. Default 8 MiB.
    pub max_entry_bytes: usize,
    /// Largest request body buffered to work out the key when no earlier
    /// layer did. Default 32 MiB. Applies to the layer used alone: in an
    /// `LlmStack`, the stack's one limit applies instead.
    pub max_request_bytes: usize,
    /// Share answers across credentials. **Off by default**: then one API
    /// key can never read another's answers. Turn it on only when every
    /// caller may see every other caller's answers.
    pub share_across_credentials: bool,
    /// Separates applications sharing a store. Default none.
    pub namespace: Option<String>,
    /// Replay streamed hits at the pace they were recorded instead of at
    /// once (for demos and clients that expect token timing); needs a Tokio
    /// runtime with its timer enabled. Default false.
    pub paced_replay: bool,
}

impl Default for CacheConfig {
    fn default() -> Self {
        CacheConfig {
            mode: CacheMode::On,
            default_ttl: Duration::from_secs(3600),
            model_ttls: Vec::new(),
            max_request_ttl: None,
            max_entry_bytes: 8 << 20,
            max_request_bytes: 32 << 20,
            share_across_credentials: false,
            namespace: None,
            paced_replay: false,
        }
    }
}

llm_layers_core::config_setters!(CacheConfig {
    mode: CacheMode,
    default_ttl: Duration,
    model_ttls: Vec<(String, Duration)>,
    max_request_ttl: Option<Duration>,
    max_entry_bytes: usize,
    max_request_bytes: usize,
    share_across_credentials: bool,
    namespace: Option<String>,
    paced_replay: bool,
});

impl CacheConfig {
    /// The TTL for a model.
    pub fn ttl_for(&self, model: Option<&str>) -> Duration {
        let Some(model) = model else {
            return self.default_ttl;
        };
        self.model_ttls
            .iter()
            .find(|(pattern, _)| match pattern.strip_suffix('*') {
                Some(prefix) => model.starts_with(prefix),
                None => model == pattern,
            })
            .map_or(self.default_ttl, |(_, ttl)| *ttl)
    }
}

impl CacheConfig {
    /// How long an answer is kept: the request's TTL if it asked for one
    /// (at most [`CacheConfig::max_request_ttl`]), else the model's, and
    /// never longer than the upstream's own `max-age`.
    pub fn entry_ttl(
        &self,
        model: Option<&str>,
        requested: Option<Duration>,
        upstream_max_age: Option<Duration>,
    ) -> Duration {
        let configured = self.ttl_for(model);
        let ttl = match requested {
            Some(requested) => requested.min(self.max_request_ttl.unwrap_or(configured)),
            None => configured,
        };
        upstream_max_age.map_or(ttl, |max_age| ttl.min(max_age))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn requested_ttls_are_capped_and_the_upstream_max_age_caps_all() {
        let config = CacheConfig::default();
        let hour = Duration::from_secs(3600);
        let asked = Duration::from_secs(u64::MAX);
        assert_eq!(config.entry_ttl(None, Some(asked), None), hour);
        assert_eq!(
            config.entry_ttl(None, Some(Duration::from_secs(5)), None),
            Duration::from_secs(5)
        );
        let capped = CacheConfig {
            max_request_ttl: Some(2 * hour),
            ..CacheConfig::default()
        };
        assert_eq!(capped.entry_ttl(None, Some(asked), None), 2 * hour);
        assert_eq!(
            capped.entry_ttl(None, Some(asked), Some(Duration::from_secs(60))),
            Duration::from_secs(60)
        );
        assert_eq!(
            config.entry_ttl(None, None, Some(Duration::from_secs(60))),
            Duration::from_secs(60)
        );
    }

    #[test]
    fn model_ttls_match_exactly_or_by_prefix() {
        let config = CacheConfig {
            model_ttls: vec![
                ("gpt-4o-mini".into(), Duration::from_secs(60)),
                ("gpt-4*".into(), Duration::from_secs(7200)),
            ],
            ..CacheConfig::default()
        };
        assert_eq!(config.ttl_for(Some("gpt-4o-mini")), Duration::from_secs(60));
        assert_eq!(config.ttl_for(Some("gpt-4o")), Duration::from_secs(7200));
        assert_eq!(config.ttl_for(Some("claude-3")), Duration::from_secs(3600));
        assert_eq!(config.ttl_for(None), Duration::from_secs(3600));
    }
}
