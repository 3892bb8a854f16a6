//! Answers obtained by other means (the OpenAI Batch API) put in the cache
//! under the key their request would have had if sent directly, by the
//! same rules as an answer the layer recorded: 2xx, complete JSON, not
//! `no-store`, a plain (not streamed) request, the configured TTL.

use std::sync::Arc;

use bytes::Bytes;
use llm_layers_core::answer_store::{AnswerStore, StoreAnswerFuture};
use llm_layers_core::completeness::check_plain_body;
use llm_layers_core::RequestFacts;

use crate::controls::CacheControls;
use crate::entry::{CachedBody, CachedResponse};
use crate::layer::CacheLayer;
use crate::plan::plan;

impl AnswerStore for CacheLayer {
    fn store_answer<'a>(
        &'a self,
        facts: &'a RequestFacts,
        answer: http::Response<Bytes>,
    ) -> StoreAnswerFuture<'a> {
        Box::pin(async move {
            let shared = self.shared();
            let plan = plan(&shared.config, &CacheControls::default(), Some(facts));
            let Some(plan) = plan.filter(|plan| plan.write && !facts.stream()) else {
                return Ok(false);
            };
            // The rules of an answer the layer recorded: 2xx, not
            // `no-store`, the TTL; then a whole body of its length.
            let (parts, body) = answer.into_parts();
            let mut head = http::Response::from_parts(parts, ());
            let pending = match shared.storing(facts, plan.key, None, &mut head) {
                Ok(storing) => storing.into_pending(),
                Err(reason) => {
                    shared.counters.not_stored(reason);
                    return Ok(false);
                }
            };
            if let Err(reason) = check_plain_body(&body, pending.declared_length) {
                shared.counters.not_stored(reason);
                return Ok(false);
            }
            let entry = CachedResponse {
                body: CachedBody::Whole(body),
                ..pending.entry
            };
            let put = shared.store.put(plan.key, Arc::new(entry)).await;
            shared.counters.put_answered(&put);
            match put {
                Ok(()) => Ok(true),
                Err(error) if error.is_refused() => Ok(false),
                Err(error) => Err(error.into()),
            }
        })
    }
}
