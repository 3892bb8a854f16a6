//! What the layer did to a request, for the caller and outer layers.

use std::fmt;

/// A digest of a request's static prefix (tools, schemas, static system
/// text): requests with the same fingerprint can share a provider cache entry.
#[derive(Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub struct PrefixFingerprint(pub(crate) [u8; 8]);

impl fmt::Display for PrefixFingerprint {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        self.0.iter().try_for_each(|byte| write!(f, "{byte:02x}"))
    }
}

impl fmt::Debug for PrefixFingerprint {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "PrefixFingerprint({self})")
    }
}

/// The rewrites applied to one request.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct Rewrites {
    /// Keys of tools or schemas were put in stable order.
    pub sorted_keys: bool,
    /// Tools were sorted by name.
    pub reordered_tools: bool,
    /// Volatile pieces moved behind the static prefix.
    pub moved_volatile: usize,
    /// Anthropic `cache_control` breakpoints placed.
    pub breakpoints_added: usize,
    /// OpenAI `prompt_cache_key` set.
    pub prompt_cache_key: bool,
}

impl Rewrites {
    /// Whether the body changed.
    pub fn any(&self) -> bool {
        self.sorted_keys
            || self.reordered_tools
            || self.moved_volatile > 0
            || self.breakpoints_added > 0
            || self.prompt_cache_key
    }
}

/// The layer's account of one request; in the request extensions on the
/// way to the upstream and in the response extensions on the way back.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct PrefixReport {
    /// The static prefix's fingerprint.
    pub fingerprint: PrefixFingerprint,
    /// Estimated tokens of the static prefix.
    pub estimated_prefix_tokens: u64,
    /// The provider's minimum cacheable prefix for this model.
    pub minimum_tokens: u64,
    /// What was rewritten.
    pub rewrites: Rewrites,
}

impl PrefixReport {
    /// The static prefix is too short for the provider to cache.
    pub fn below_minimum(&self) -> bool {
        self.estimated_prefix_tokens < self.minimum_tokens
    }
}

/// Static content named by the application (a request extension): in
/// system prompts, everything outside these passages is treated as
/// volatile and moved behind them. For library authors who know which
/// part of their prompt is fixed.
///
/// ```
/// use llm_layers_prefix::StaticContent;
///
/// let mut request = http::Request::post("/v1/chat/completions").body(()).unwrap();
/// request
///     .extensions_mut()
///     .insert(StaticContent::new(["You are a careful agent. Follow the workflow."]));
/// ```
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct StaticContent(pub Vec<String>);

impl StaticContent {
    /// These passages are static.
    pub fn new<I, S>(passages: I) -> Self
    where
        I: IntoIterator<Item = S>,
        S: Into<String>,
    {
        StaticContent(passages.into_iter().map(Into::into).collect())
    }
}
