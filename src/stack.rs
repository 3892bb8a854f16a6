//! `LlmStack`: the layers composed in their documented order, each one
//! optional, over the pooled connector or any other inner service.
//!
//! The order, outermost first (as in the design notes):
//!
//! 1. **Stream usage**: asks streamed OpenAI chat calls for their usage
//!    (`stream_options.include_usage`) and takes it back out of the
//!    answer, so the caller gets the stream it asked for and the layers
//!    below see every call's tokens.
//! 2. **Metrics**: sees every call, hits included, and times it as the
//!    caller does.
//! 3. **Cache**: answers repeats before anything below runs; keys the
//!    request as the caller wrote it.
//! 4. **Prompt prefix**: repairs the request for the provider's prompt
//!    cache; only misses reach it.
//! 5. **Embeddings batching**: concurrent embeddings requests for the same
//!    model, key and parameters within a short window go upstream as one;
//!    each caller gets its own vectors and share of usage.
//! 6. **Retry**: another attempt when the provider says to or the
//!    connection failed, resending exactly the bytes the layers above
//!    prepared; the cache above sees only the final answer.
//! 7. **Rate-limit awareness**: a key and model whose provider quota is
//!    spent wait for its reset (bounded) or get a 429 at once, instead of
//!    being sent into a certain 429.
//! 8. **Circuit breaker**: one per upstream origin and model; while open,
//!    answers at once in the provider's error shape, and the retry above
//!    does not retry that answer.
//! 9. **Upstream timeouts**: time to the head, idle time between chunks,
//!    total duration (always on; [`UpstreamTimeouts`] sets or turns them
//!    off), each answered in the provider's error shape.
//! 10. **Connector**: the pooled HTTP/1.1 + HTTP/2 TLS client.
//!
//! The request's facts are worked out once, at the top, with the stack's
//! one buffering limit ([`LlmStack::with_max_request_bytes`]), and travel
//! in the request extensions, so the body is buffered and parsed once
//! whichever layers are on. The layers
//! chosen are composed as one static type (no box between them: a call
//! clones no boxed service and allocates no future per layer), and the
//! whole is boxed once, so that any combination of layers has the same
//! type: [`StackService`], which takes and returns [`StackBody`].
//!
//! ```
//! use http_body_util::BodyExt;
//! use llm_layers::stack::LlmStack;
//! use llm_layers_mock::{MockConfig, MockServer};
//! use tower::ServiceExt;
//!
//! # tokio::runtime::Runtime::new().unwrap().block_on(async {
//! let mock = MockServer::start(MockConfig::default()).await.unwrap();
//! let stack = LlmStack::new();
//! let client = stack.clone().over_connector().unwrap();
//! for expected in ["MISS", "HIT"] {
//!     let body = r#"{"model":"gpt-4o","messages":[{"role":"user","content":"hi"}]}"#;
//!     let request = http::Request::post(format!("{}/v1/chat/completions", mock.base_url()))
//!         .header("authorization", "Bearer sk-doc")
//!         .body(llm_layers::stack::full_body(body))
//!         .unwrap();
//!     let response = client.clone().oneshot(request).await.unwrap();
//!     assert_eq!(response.headers()["x-llm-cache"], expected);
//!     response.into_body().collect().await.unwrap();
//! }
//! assert_eq!(stack.metrics().unwrap().stats().snapshot().total_calls, 2);
//! # });
//! ```

use bytes::Bytes;
use http::{Request, Response};
use http_body::Body;
use http_body_util::combinators::UnsyncBoxBody;
use http_body_util::BodyExt;
#[cfg(feature = "batch")]
use llm_layers_batch::{BatchConfig, EmbeddingsBatchLayer};
#[cfg(feature = "cache")]
use llm_layers_cache::{CacheConfig, CacheLayer};
#[cfg(feature = "connector")]
use llm_layers_connector::{BuildError, HyperConnector};
#[cfg(feature = "metrics")]
use llm_layers_metrics::{MetricsConfig, MetricsLayer, StreamUsageLayer};
#[cfg(feature = "prefix")]
use llm_layers_prefix::{PrefixConfig, PromptPrefixLayer};
#[cfg(feature = "resilience")]
use llm_layers_resilience::{
    BreakerPolicy, CircuitBreakerLayer, RateLimitLayer, RateLimitPolicy, RetryLayer, RetryPolicy,
    UpstreamTimeoutLayer, UpstreamTimeouts,
};
use tower::util::BoxCloneSyncService;
#[cfg(any(feature = "cache", feature = "metrics", feature = "prefix"))]
use tower::ServiceBuilder;
use tower::{BoxError, Service, ServiceExt};

mod facts;
#[cfg(any(
    feature = "cache",
    feature = "metrics",
    feature = "prefix",
    feature = "resilience",
    feature = "batch"
))]
mod optional;
mod rebox;
use facts::FactsFirst;
#[cfg(any(
    feature = "cache",
    feature = "metrics",
    feature = "prefix",
    feature = "resilience",
    feature = "batch"
))]
use optional::optional;
use rebox::Rebox;

/// The body type of a built stack, requests and responses alike.
pub type StackBody = UnsyncBoxBody<Bytes, BoxError>;

/// A built stack: clone it freely, every clone shares the layers' state.
pub type StackService = BoxCloneSyncService<Request<StackBody>, Response<StackBody>, BoxError>;

/// The layers to compose; see the module documentation for the order.
#[derive(Clone)]
pub struct LlmStack {
    #[cfg(feature = "metrics")]
    stream_usage: Option<StreamUsageLayer>,
    #[cfg(feature = "metrics")]
    metrics: Option<MetricsLayer>,
    #[cfg(feature = "cache")]
    cache: Option<CacheLayer>,
    #[cfg(feature = "prefix")]
    prefix: Option<PromptPrefixLayer>,
    #[cfg(feature = "batch")]
    batch: Option<EmbeddingsBatchLayer>,
    #[cfg(feature = "resilience")]
    retry: Option<RetryLayer>,
    #[cfg(feature = "resilience")]
    rate_limit: Option<RateLimitLayer>,
    #[cfg(feature = "resilience")]
    breaker: Option<CircuitBreakerLayer>,
    #[cfg(feature = "resilience")]
    timeouts: UpstreamTimeouts,
    max_request_bytes: usize,
}

/// The stack's request-buffering limit by default: 32 MiB.
pub const DEFAULT_MAX_REQUEST_BYTES: usize = 32 << 20;

impl Default for LlmStack {
    fn default() -> Self {
        LlmStack::new()
    }
}

impl LlmStack {
    /// Every layer on, with its defaults.
    pub fn new() -> Self {
        LlmStack {
            #[cfg(feature = "metrics")]
            stream_usage: Some(StreamUsageLayer::default()),
            #[cfg(feature = "metrics")]
            metrics: Some(MetricsLayer::new(MetricsConfig::default())),
            #[cfg(feature = "cache")]
            cache: Some(CacheLayer::new(CacheConfig::default())),
            #[cfg(feature = "prefix")]
            prefix: Some(PromptPrefixLayer::new(PrefixConfig::default())),
            #[cfg(feature = "batch")]
            batch: Some(EmbeddingsBatchLayer::new(BatchConfig::default())),
            #[cfg(feature = "resilience")]
            retry: Some(RetryLayer::new(RetryPolicy::default())),
            #[cfg(feature = "resilience")]
            rate_limit: Some(RateLimitLayer::new(RateLimitPolicy::default())),
            #[cfg(feature = "resilience")]
            breaker: Some(CircuitBreakerLayer::new(BreakerPolicy::default())),
            #[cfg(feature = "resilience")]
            timeouts: UpstreamTimeouts::default(),
            max_request_bytes: DEFAULT_MAX_REQUEST_BYTES,
        }
    }

    /// No layer at all: the inner service alone (no timeouts either).
    pub fn bare() -> Self {
        LlmStack {
            #[cfg(feature = "metrics")]
            stream_usage: None,
            #[cfg(feature = "metrics")]
            metrics: None,
            #[cfg(feature = "cache")]
            cache: None,
            #[cfg(feature = "prefix")]
            prefix: None,
            #[cfg(feature = "batch")]
            batch: None,
            #[cfg(feature = "resilience")]
            retry: None,
            #[cfg(feature = "resilience")]
            rate_limit: None,
            #[cfg(feature = "resilience")]
            breaker: None,
            #[cfg(feature = "resilience")]
            timeouts: UpstreamTimeouts::none(),
            max_request_bytes: DEFAULT_MAX_REQUEST_BYTES,
        }
    }

    #[cfg(feature = "resilience")]
    /// Uses these upstream timeouts ([`UpstreamTimeouts::none`] for none).
    pub fn with_timeouts(mut self, timeouts: UpstreamTimeouts) -> Self {
        self.timeouts = timeouts;
        self
    }

    /// The one request-buffering limit of the whole stack: a request body
    /// is buffered once, at the top, up to this many bytes (default 32
    /// MiB); a larger one passes through every layer untouched. The
    /// layers' own `max_request_bytes` apply only to a layer used alone.
    pub fn with_max_request_bytes(mut self, limit: usize) -> Self {
        self.max_request_bytes = limit;
        self
    }

    #[cfg(feature = "resilience")]
    /// The upstream timeouts applied.
    pub fn timeouts(&self) -> UpstreamTimeouts {
        self.timeouts
    }

    #[cfg(feature = "metrics")]
    /// Uses this metrics layer, or none.
    pub fn with_metrics(mut self, layer: impl Into<Option<MetricsLayer>>) -> Self {
        self.metrics = layer.into();
        self
    }

    #[cfg(feature = "metrics")]
    /// Asks streamed OpenAI chat calls for their usage (and takes it back
    /// out of the answer), or not.
    pub fn with_stream_usage(mut self, layer: impl Into<Option<StreamUsageLayer>>) -> Self {
        self.stream_usage = layer.into();
        self
    }

    #[cfg(feature = "cache")]
    /// Uses this cache layer, or none.
    pub fn with_cache(mut self, layer: impl Into<Option<CacheLayer>>) -> Self {
        self.cache = layer.into();
        self
    }

    #[cfg(feature = "prefix")]
    /// Uses this prompt-prefix layer, or none.
    pub fn with_prefix(mut self, layer: impl Into<Option<PromptPrefixLayer>>) -> Self {
        self.prefix = layer.into();
        self
    }

    #[cfg(feature = "batch")]
    /// Uses this embeddings batch layer, or none.
    pub fn with_batch(mut self, layer: impl Into<Option<EmbeddingsBatchLayer>>) -> Self {
        self.batch = layer.into();
        self
    }

    #[cfg(feature = "batch")]
    /// The embeddings batch layer, for its statistics.
    pub fn batch(&self) -> Option<&EmbeddingsBatchLayer> {
        self.batch.as_ref()
    }

    #[cfg(feature = "resilience")]
    /// Uses this retry layer, or none.
    pub fn with_retry(mut self, layer: impl Into<Option<RetryLayer>>) -> Self {
        self.retry = layer.into();
        self
    }

    #[cfg(feature = "resilience")]
    /// The retry layer, for its policy.
    pub fn retry(&self) -> Option<&RetryLayer> {
        self.retry.as_ref()
    }

    #[cfg(feature = "resilience")]
    /// Uses this rate-limit awareness layer, or none.
    pub fn with_rate_limit(mut self, layer: impl Into<Option<RateLimitLayer>>) -> Self {
        self.rate_limit = layer.into();
        self
    }

    #[cfg(feature = "resilience")]
    /// The rate-limit awareness layer.
    pub fn rate_limit(&self) -> Option<&RateLimitLayer> {
        self.rate_limit.as_ref()
    }

    #[cfg(feature = "resilience")]
    /// Uses this circuit breaker layer, or none.
    pub fn with_breaker(mut self, layer: impl Into<Option<CircuitBreakerLayer>>) -> Self {
        self.breaker = layer.into();
        self
    }

    #[cfg(feature = "resilience")]
    /// The circuit breaker layer, for its breakers' states.
    pub fn breaker(&self) -> Option<&CircuitBreakerLayer> {
        self.breaker.as_ref()
    }

    #[cfg(feature = "metrics")]
    /// The metrics layer, for its stats.
    pub fn metrics(&self) -> Option<&MetricsLayer> {
        self.metrics.as_ref()
    }

    #[cfg(feature = "cache")]
    /// The cache layer, for its stats and admin operations.
    pub fn cache(&self) -> Option<&CacheLayer> {
        self.cache.as_ref()
    }

    #[cfg(feature = "prefix")]
    /// The prompt-prefix layer, for its stats.
    pub fn prefix(&self) -> Option<&PromptPrefixLayer> {
        self.prefix.as_ref()
    }

    #[cfg(feature = "connector")]
    /// The stack over a [`HyperConnector`] with its defaults.
    pub fn over_connector(self) -> Result<StackService, BuildError> {
        Ok(self.service(HyperConnector::builder().build()?))
    }

    /// The stack over `inner` (a connector, a test double, another client).
    pub fn service<S, ResBody>(self, inner: S) -> StackService
    where
        S: Service<Request<StackBody>, Response = Response<ResBody>>
            + Clone
            + Send
            + Sync
            + 'static,
        S::Error: Into<BoxError>,
        S::Future: Send + 'static,
        ResBody: Body<Data = Bytes> + Send + Unpin + 'static,
        ResBody::Error: Into<BoxError>,
    {
        let into_box: fn(S::Error) -> BoxError = Into::into;
        let inner = inner.map_err(into_box);
        #[cfg(feature = "resilience")]
        let inner = tower::Layer::layer(&UpstreamTimeoutLayer::new(self.timeouts), inner);
        let inner = Rebox(inner);
        #[cfg(feature = "resilience")]
        let inner = optional(self.breaker.as_ref(), inner);
        #[cfg(feature = "resilience")]
        let inner = optional(self.rate_limit.as_ref(), inner);
        #[cfg(feature = "resilience")]
        let inner = optional(self.retry.as_ref(), inner);
        #[cfg(feature = "batch")]
        let inner = optional(self.batch.as_ref(), inner);
        // One static type whichever layers are on: each optional layer
        // is its service or nothing, in the documented order.
        #[cfg(feature = "prefix")]
        let inner = optional(self.prefix.as_ref(), inner);
        #[cfg(feature = "cache")]
        let inner = optional(self.cache.as_ref(), inner);
        #[cfg(feature = "metrics")]
        let inner = optional(self.metrics.as_ref(), inner);
        #[cfg(feature = "metrics")]
        let inner = optional(self.stream_usage.as_ref(), inner);
        boxed(FactsFirst {
            inner,
            limit: self.max_request_bytes,
        })
    }
}

/// A service with boxed bodies and errors.
fn boxed<S, ResBody>(inner: S) -> StackService
where
    S: Service<Request<StackBody>, Response = Response<ResBody>> + Clone + Send + Sync + 'static,
    S::Error: Into<BoxError>,
    S::Future: Send + 'static,
    ResBody: Body<Data = Bytes> + Send + 'static,
    ResBody::Error: Into<BoxError>,
{
    BoxCloneSyncService::new(
        inner
            .map_response(|response: Response<ResBody>| response.map(box_body))
            .map_err(Into::into),
    )
}

/// Any body as a [`StackBody`].
pub fn box_body<B>(body: B) -> StackBody
where
    B: Body<Data = Bytes> + Send + 'static,
    B::Error: Into<BoxError>,
{
    body.map_err(Into::into).boxed_unsync()
}

/// A complete body as a [`StackBody`].
pub fn full_body(bytes: impl Into<Bytes>) -> StackBody {
    box_body(http_body_util::Full::new(bytes.into()))
}

/// Adds the llm-layers to a `tower::ServiceBuilder`, for composing by hand
/// (keep the order of the module documentation).
///
/// ```
/// use llm_layers::cache::CacheConfig;
/// use llm_layers::metrics::MetricsConfig;
/// use llm_layers::prefix::PrefixConfig;
/// use llm_layers::stack::LlmServiceBuilderExt;
/// use tower::ServiceBuilder;
///
/// let builder = ServiceBuilder::new()
///     .llm_metrics(MetricsConfig::default())
///     .llm_cache(CacheConfig::default())
///     .llm_prompt_prefix(PrefixConfig::default());
/// let client = builder.service(llm_layers::connector::HyperConnector::builder().build().unwrap());
/// // client: a tower::Service for any request body the layers accept, e.g.
/// let request = http::Request::post("https://api.openai.com/v1/chat/completions")
///     .body(http_body_util::Full::new(bytes::Bytes::from_static(b"{}")))
///     .unwrap();
/// let _response_future = tower::ServiceExt::oneshot(client, request);
/// ```
pub trait LlmServiceBuilderExt<L> {
    /// Adds a [`MetricsLayer`].
    #[cfg(feature = "metrics")]
    fn llm_metrics(
        self,
        config: MetricsConfig,
    ) -> ServiceBuilder<tower::layer::util::Stack<MetricsLayer, L>>;
    /// Adds a [`CacheLayer`] with the memory store.
    #[cfg(feature = "cache")]
    fn llm_cache(
        self,
        config: CacheConfig,
    ) -> ServiceBuilder<tower::layer::util::Stack<CacheLayer, L>>;
    /// Adds a [`PromptPrefixLayer`].
    #[cfg(feature = "prefix")]
    fn llm_prompt_prefix(
        self,
        config: PrefixConfig,
    ) -> ServiceBuilder<tower::layer::util::Stack<PromptPrefixLayer, L>>;
}

#[cfg(any(feature = "cache", feature = "metrics", feature = "prefix"))]
impl<L> LlmServiceBuilderExt<L> for ServiceBuilder<L> {
    #[cfg(feature = "metrics")]
    fn llm_metrics(
        self,
        config: MetricsConfig,
    ) -> ServiceBuilder<tower::layer::util::Stack<MetricsLayer, L>> {
        self.layer(MetricsLayer::new(config))
    }

    #[cfg(feature = "cache")]
    fn llm_cache(
        self,
        config: CacheConfig,
    ) -> ServiceBuilder<tower::layer::util::Stack<CacheLayer, L>> {
        self.layer(CacheLayer::new(config))
    }

    #[cfg(feature = "prefix")]
    fn llm_prompt_prefix(
        self,
        config: PrefixConfig,
    ) -> ServiceBuilder<tower::layer::util::Stack<PromptPrefixLayer, L>> {
        self.layer(PromptPrefixLayer::new(config))
    }
}
