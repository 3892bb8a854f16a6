//! Answers obtained by other means (the OpenAI Batch API) put in the cache
//! under the key their request would have had if sent directly, by the
//! same rules as an answer the layer recorded: 2xx, complete JSON, not
//! `no-store`, a plain (not streamed) request, the configured TTL.

use std::sync::Arc;
use std::time::SystemTime;

use bytes::Bytes;
use llm_layers_core::answer_store::{AnswerStore, StoreAnswerFuture};
use llm_layers_core::completeness::{check_plain_body, declared_length, Incomplete};
use llm_layers_core::RequestFacts;

use crate::controls::CacheControls;
use crate::entry::{CachedBody, CachedResponse};
use crate::headers::{storable, upstream_directives};
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
            let directives = upstream_directives(answer.headers());
            let refusal = if !answer.status().is_success() {
                Some(Incomplete::Status)
            } else if directives.forbids {
                Some(Incomplete::Forbidden)
            } else {
                check_plain_body(answer.body(), declared_length(answer.headers())).err()
            };
            if let Some(reason) = refusal {
                shared.counters.not_stored(reason);
                return Ok(false);
            }
            let entry = CachedResponse {
                status: answer.status(),
                headers: storable(answer.headers()),
                body: CachedBody::Whole(answer.body().clone()),
                stored_at: SystemTime::now(),
                ttl: shared
                    .config
                    .entry_ttl(facts.model(), None, directives.max_age),
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
