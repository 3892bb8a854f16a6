//! Somewhere whole answers can be put under the key their request would
//! have: what the response cache offers layers that obtain answers by
//! other means (the Batch API filler), without those layers depending on
//! the cache.

use std::future::Future;
use std::pin::Pin;

use bytes::Bytes;

use crate::RequestFacts;

/// The future [`AnswerStore::store_answer`] returns.
pub type StoreAnswerFuture<'a> = Pin<
    Box<dyn Future<Output = Result<bool, Box<dyn std::error::Error + Send + Sync>>> + Send + 'a>,
>;

/// Keeps a complete answer for the request `facts` describe, as if that
/// request had been sent and answered.
pub trait AnswerStore: Send + Sync + 'static {
    /// Stores `answer` (status, headers and whole body) for the request;
    /// `Ok(false)` when it may not be stored (not 2xx, incomplete, the
    /// request not cacheable).
    fn store_answer<'a>(
        &'a self,
        facts: &'a RequestFacts,
        answer: http::Response<Bytes>,
    ) -> StoreAnswerFuture<'a>;
}
