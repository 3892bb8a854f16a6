//! Estimating a prompt's length in tokens, to know whether a prefix reaches
//! a provider's minimum cacheable length.

pub use llm_layers_core::tokens::{BytesPerToken, TokenEstimator, BYTES_PER_TOKEN};

/// Exact token counts with OpenAI's BPE tables (feature `tiktoken`).
///
/// ```
/// use llm_layers_prefix::{PrefixConfig, TiktokenEstimator, TokenEstimator};
///
/// let exact = TiktokenEstimator::o200k().unwrap();
/// assert_eq!(exact.tokens("Hello world"), 2);
/// let config = PrefixConfig::default().estimator(std::sync::Arc::new(exact));
/// # drop(config);
/// ```
#[cfg(feature = "tiktoken")]
pub struct TiktokenEstimator {
    bpe: tiktoken_rs::CoreBPE,
}

#[cfg(feature = "tiktoken")]
impl TiktokenEstimator {
    /// `o200k_base`: GPT-4o, GPT-4.1, o-series and later models.
    pub fn o200k() -> Result<Self, TokenizerError> {
        tiktoken_rs::o200k_base()
            .map(|bpe| TiktokenEstimator { bpe })
            .map_err(|error| TokenizerError(error.to_string()))
    }

    /// `cl100k_base`: GPT-4 and GPT-3.5 models.
    pub fn cl100k() -> Result<Self, TokenizerError> {
        tiktoken_rs::cl100k_base()
            .map(|bpe| TiktokenEstimator { bpe })
            .map_err(|error| TokenizerError(error.to_string()))
    }
}

#[cfg(feature = "tiktoken")]
impl TokenEstimator for TiktokenEstimator {
    fn tokens(&self, text: &str) -> u64 {
        self.bpe.encode_ordinary(text).len() as u64
    }
}

/// The tokenizer's tables could not be loaded.
#[cfg(feature = "tiktoken")]
#[derive(Debug)]
pub struct TokenizerError(String);

#[cfg(feature = "tiktoken")]
impl std::fmt::Display for TokenizerError {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "tokenizer tables could not be loaded: {}", self.0)
    }
}

#[cfg(feature = "tiktoken")]
impl std::error::Error for TokenizerError {}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn four_bytes_per_token_rounded_up() {
        assert_eq!(BytesPerToken.tokens(""), 0);
        assert_eq!(BytesPerToken.tokens("abcd"), 1);
        assert_eq!(BytesPerToken.tokens("abcde"), 2);
        let words = |text: &str| text.split_whitespace().count() as u64;
        assert_eq!(words.tokens("one two three"), 3);
    }

    /// The default estimate stays within 35% of the exact count on prose
    /// and JSON schemas like the ones it sizes.
    #[cfg(feature = "tiktoken")]
    #[test]
    fn the_default_estimate_is_close_to_the_exact_count() {
        let exact = TiktokenEstimator::o200k().unwrap();
        let prose = "Step 3: validate the invoice using the matching tool, then write the outcome to the log.\n".repeat(40);
        let schema = r#"{"type":"object","properties":{"order_id":{"type":"string","description":"The order id."}},"required":["order_id"]}"#.repeat(20);
        for text in [prose.as_str(), schema.as_str()] {
            let (estimate, exact) = (BytesPerToken.tokens(text) as f64, exact.tokens(text) as f64);
            assert!(
                (estimate / exact - 1.0).abs() < 0.35,
                "{estimate} vs {exact}"
            );
        }
    }
}
