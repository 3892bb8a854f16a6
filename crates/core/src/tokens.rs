//! Estimating a text's length in tokens, for every layer that needs one
//! (the prefix layer's minimums, the batch layer's usage shares), so that
//! they agree.

/// Counts (or estimates) the tokens of a piece of prompt text.
pub trait TokenEstimator: Send + Sync + 'static {
    /// Tokens in `text`.
    fn tokens(&self, text: &str) -> u64;

    /// The most tokens any text of `bytes` bytes can count as: a bound,
    /// so that a request too short to reach a provider's minimum is known
    /// without reading it. The default, one token per byte, holds for
    /// every byte-pair tokenizer (a token is at least one byte).
    fn most_tokens(&self, bytes: usize) -> u64 {
        bytes as u64
    }
}

/// The default estimate: one token per four bytes of UTF-8, rounded up.
///
/// OpenAI's and Anthropic's tokenizers average close to four characters
/// per token on English prose and JSON; code and non-Latin scripts take
/// more tokens per byte, so the estimate errs towards too few tokens, and
/// the layer then skips a breakpoint rather than placing one the provider
/// would ignore. Plug an exact tokenizer in through [`TokenEstimator`] when
/// the margin matters.
#[derive(Clone, Copy, Debug, Default)]
pub struct BytesPerToken;

/// Bytes per token of [`BytesPerToken`].
pub const BYTES_PER_TOKEN: usize = 4;

impl TokenEstimator for BytesPerToken {
    fn tokens(&self, text: &str) -> u64 {
        text.len().div_ceil(BYTES_PER_TOKEN) as u64
    }

    /// Half the bytes: the pieces of a prompt each round up, and the JSON
    /// around them (quotes, commas, names) takes bytes that count for
    /// none, so a body's pieces together never estimate above a token per
    /// two bytes of the body.
    fn most_tokens(&self, bytes: usize) -> u64 {
        bytes.div_ceil(2) as u64
    }
}

impl<F> TokenEstimator for F
where
    F: Fn(&str) -> u64 + Send + Sync + 'static,
{
    fn tokens(&self, text: &str) -> u64 {
        self(text)
    }
}
