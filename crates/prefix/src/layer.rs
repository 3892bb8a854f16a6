//! The layer: builds [`PromptPrefix`] services sharing one configuration
//! and one set of statistics.

use std::sync::Arc;

use tower::Layer;

use crate::config::PrefixConfig;
use crate::rewrite::Rewriter;
use crate::service::PromptPrefix;
use crate::stats::PrefixStats;

/// Rewrites LLM requests so their static part forms a byte-stable prefix,
/// and measures what the provider's prompt cache gave back. See the crate
/// documentation.
#[derive(Clone)]
pub struct PromptPrefixLayer {
    pub(crate) rewriter: Arc<Rewriter>,
    pub(crate) stats: PrefixStats,
}

impl PromptPrefixLayer {
    /// A layer with this configuration.
    pub fn new(config: PrefixConfig) -> Self {
        let stats = PrefixStats::new(config.max_tracked_prefixes);
        PromptPrefixLayer {
            rewriter: Arc::new(Rewriter::new(config)),
            stats,
        }
    }

    /// The statistics of every service this layer built.
    pub fn stats(&self) -> PrefixStats {
        self.stats.clone()
    }
}

impl Default for PromptPrefixLayer {
    fn default() -> Self {
        PromptPrefixLayer::new(PrefixConfig::default())
    }
}

impl<S> Layer<S> for PromptPrefixLayer {
    type Service = PromptPrefix<S>;

    fn layer(&self, inner: S) -> PromptPrefix<S> {
        PromptPrefix {
            inner,
            rewriter: self.rewriter.clone(),
            stats: self.stats.clone(),
        }
    }
}
