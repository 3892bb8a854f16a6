//! The layer: builds [`PromptPrefix`] services sharing one configuration
//! and one set of statistics.

use std::sync::Arc;

use tower::Layer;

use crate::config::PrefixConfig;
use crate::report::StaticContent;
use crate::rewrite::{Rewriter, Rewritten};
use crate::service::PromptPrefix;
use crate::stats::PrefixStats;
use llm_layers_core::RequestFacts;

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
        let stats = PrefixStats::new(config.max_tracked_prefixes, config.cache_ratio_alert);
        PromptPrefixLayer {
            rewriter: Arc::new(Rewriter::new(config)),
            stats,
        }
    }

    /// The rewrite this layer would apply to a request, without sending it
    /// (or counting it): `None` when the layer does not handle the request.
    ///
    /// ```
    /// use bytes::Bytes;
    /// use llm_layers_core::RequestFacts;
    /// use llm_layers_prefix::PromptPrefixLayer;
    ///
    /// let (parts, ()) = http::Request::post("/v1/chat/completions").body(()).unwrap().into_parts();
    /// let body = Bytes::from_static(br#"{"model":"gpt-4o","messages":[{"role":"system","content":"<dynamic>Hi ann.</dynamic>Rules."}]}"#);
    /// let rewritten = PromptPrefixLayer::default()
    ///     .rewrite(&RequestFacts::from_parts(&parts, body), None)
    ///     .unwrap();
    /// assert_eq!(rewritten.report.rewrites.moved_volatile, 1);
    /// ```
    pub fn rewrite(
        &self,
        facts: &RequestFacts,
        statics: Option<&StaticContent>,
    ) -> Option<Rewritten> {
        let statics = statics.map_or(&[][..], |content| content.0.as_slice());
        self.rewriter.rewrite(facts, statics)
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
