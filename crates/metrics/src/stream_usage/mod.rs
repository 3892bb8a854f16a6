//! Usage of every streamed OpenAI chat call. Its streams report no usage
//! unless the request sets `stream_options.include_usage`, so without it a
//! streamed call's tokens and cost are invisible. [`StreamUsageLayer`]
//! sets it when the caller did not, and takes out of the answer what it
//! added (the usage chunk before `[DONE]`, and the `"usage":null` member
//! of the other chunks), so the caller sees the stream it asked for while
//! the layers below it (metrics, cache) see the usage.
//!
//! Put it outermost, above the metrics layer. Requests that set the option
//! themselves, other APIs and plain calls pass untouched.
//!
//! ```
//! use bytes::Bytes;
//! use http_body_util::{BodyExt, Full};
//! use llm_layers_metrics::{MetricsConfig, MetricsLayer, StreamUsageLayer};
//! use llm_layers_mock::{MockConfig, MockServer};
//! use tower::{ServiceBuilder, ServiceExt};
//!
//! # tokio::runtime::Runtime::new().unwrap().block_on(async {
//! let mock = MockServer::start(MockConfig::default()).await.unwrap();
//! let metrics = MetricsLayer::new(MetricsConfig::default());
//! let client = ServiceBuilder::new()
//!     .layer(StreamUsageLayer::default())
//!     .layer(metrics.clone())
//!     .service(llm_layers_connector::HyperConnector::builder().build().unwrap());
//! let body = r#"{"model":"gpt-4o","stream":true,"messages":[{"role":"user","content":"hi"}]}"#;
//! let request = http::Request::post(format!("{}/v1/chat/completions", mock.base_url()))
//!     .body(Full::new(Bytes::from_static(body.as_bytes())))
//!     .unwrap();
//! let stream = client.oneshot(request).await.unwrap().into_body().collect().await.unwrap().to_bytes();
//! assert!(!String::from_utf8_lossy(&stream).contains("usage"), "the stream the caller asked for");
//! assert!(metrics.stats().snapshot().by_model["gpt-4o"].tokens > 0, "and its tokens counted");
//! # });
//! ```

mod filter;

use std::future::Future;
use std::pin::Pin;
use std::task::{Context, Poll};

use bytes::{Buf, Bytes};
use http::{header, HeaderValue, Request, Response};
use http_body::Body;
use llm_layers_core::body::ReplayBody;
use llm_layers_core::facts::{with_facts, FactsFuture};
use llm_layers_core::{ApiKind, RequestFacts};
use serde_json::{Map, Value};
use tower::{Layer, Service};

#[doc(hidden)]
pub use filter::filter_events;
pub use filter::StreamUsageBody;

/// Adds `stream_options.include_usage` to streamed OpenAI chat requests
/// that lack it, and takes the usage back out of their answers.
#[derive(Clone, Copy, Debug)]
pub struct StreamUsageLayer {
    max_request_bytes: usize,
}

impl Default for StreamUsageLayer {
    fn default() -> Self {
        StreamUsageLayer {
            max_request_bytes: 32 << 20,
        }
    }
}

impl StreamUsageLayer {
    /// Largest request body buffered to read it when no earlier layer did
    /// (default 32 MiB; inside an `LlmStack` the stack's limit applies).
    #[must_use]
    pub fn max_request_bytes(mut self, limit: usize) -> Self {
        self.max_request_bytes = limit;
        self
    }
}

impl<S> Layer<S> for StreamUsageLayer {
    type Service = StreamUsage<S>;

    fn layer(&self, inner: S) -> StreamUsage<S> {
        StreamUsage {
            inner,
            limit: self.max_request_bytes,
        }
    }
}

/// The service of [`StreamUsageLayer`].
#[derive(Clone, Debug)]
pub struct StreamUsage<S> {
    inner: S,
    limit: usize,
}

/// The response future of [`StreamUsage`].
pub type StreamUsageFuture<B, E> =
    Pin<Box<dyn Future<Output = Result<Response<StreamUsageBody<B>>, E>> + Send>>;

impl<S, B, ResBody> Service<Request<B>> for StreamUsage<S>
where
    S: Service<Request<ReplayBody<B>>, Response = Response<ResBody>> + Clone + Send + 'static,
    S::Future: Send + 'static,
    S::Error: Send + 'static,
    B: Body + Send + Unpin + 'static,
    B::Data: Buf + Send,
    B::Error: Send,
    ResBody: Body<Data = Bytes> + Send + 'static,
{
    type Response = Response<StreamUsageBody<ResBody>>;
    type Error = S::Error;
    type Future = StreamUsageFuture<ResBody, S::Error>;

    fn poll_ready(&mut self, cx: &mut Context<'_>) -> Poll<Result<(), S::Error>> {
        self.inner.poll_ready(cx)
    }

    fn call(&mut self, request: Request<B>) -> Self::Future {
        match with_facts(request, self.limit) {
            // The facts are known (inside an `LlmStack`, always): the ready
            // service is called now.
            FactsFuture::Ready(Some(mut request)) => {
                let added = include_usage(&mut request);
                let response = self.inner.call(request);
                Box::pin(async move {
                    Ok(response
                        .await?
                        .map(|body| StreamUsageBody::new(body, added)))
                })
            }
            facts => {
                // The ready service goes into the future; a clone stays.
                let clone = self.inner.clone();
                let mut inner = std::mem::replace(&mut self.inner, clone);
                Box::pin(async move {
                    let mut request = facts.await;
                    let added = include_usage(&mut request);
                    let response = inner.call(request).await?;
                    Ok(response.map(|body| StreamUsageBody::new(body, added)))
                })
            }
        }
    }
}

/// The member spliced into a body that has no `stream_options`.
const INCLUDE_USAGE: &[u8] = b"\"stream_options\":{\"include_usage\":true},";

/// The body with `stream_options.include_usage` set; `None` when the caller
/// asked for usage already, or `stream_options` is not an object (the
/// upstream will say so, untouched).
fn with_include_usage(body: Option<&Value>) -> Option<Vec<u8>> {
    let Some(Value::Object(body)) = body else {
        return None;
    };
    let options = body.get("stream_options");
    if options.and_then(|options| options.get("include_usage")) == Some(&Value::Bool(true)) {
        return None;
    }
    let mut body: Map<String, Value> = body.clone();
    let options = body
        .entry("stream_options")
        .or_insert_with(|| Value::Object(Map::new()));
    let Value::Object(options) = options else {
        return None;
    };
    options.insert("include_usage".into(), Value::Bool(true));
    serde_json::to_vec(&body).ok()
}

/// Sets `stream_options.include_usage` on a streamed chat request that
/// lacks it; whether it did (the facts then describe the new body).
fn include_usage<B: Body>(request: &mut Request<ReplayBody<B>>) -> bool {
    let Some(facts) = RequestFacts::from_extensions(request.extensions()) else {
        return false;
    };
    if facts.kind() != ApiKind::OpenAiChat || !facts.stream() || !facts.is_understood() {
        return false;
    }
    let sent = facts.body();
    let bytes = match memchr::memmem::find(sent, b"\"stream_options\"") {
        // The usual case: no options at all. The member goes first, spliced
        // in without parsing the body (it has members: `stream` at least).
        None => {
            let Some(open) = sent.iter().position(|&b| b == b'{') else {
                return false;
            };
            let mut spliced = Vec::with_capacity(sent.len() + INCLUDE_USAGE.len());
            spliced.extend_from_slice(&sent[..=open]);
            spliced.extend_from_slice(INCLUDE_USAGE);
            spliced.extend_from_slice(&sent[open + 1..]);
            spliced
        }
        // Options given (or the name in a string): the parsed body decides.
        Some(_) => match with_include_usage(facts.json()) {
            Some(bytes) => bytes,
            None => return false,
        },
    };
    let bytes = Bytes::from(bytes);
    let facts = facts.rewritten(bytes.clone());
    facts.insert_into(request.extensions_mut());
    if request.headers().contains_key(header::CONTENT_LENGTH) {
        request
            .headers_mut()
            .insert(header::CONTENT_LENGTH, HeaderValue::from(bytes.len()));
    }
    *request.body_mut() = ReplayBody::complete(bytes, None);
    true
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    #[test]
    fn given_options_keep_theirs_and_gain_the_usage() {
        let with = |body: Value| {
            with_include_usage(Some(&body)).map(|b| serde_json::from_slice::<Value>(&b).unwrap())
        };
        let sent = with(json!({"stream": true, "stream_options": {"other": 1}})).unwrap();
        assert_eq!(
            sent["stream_options"],
            json!({"other": 1, "include_usage": true})
        );
        assert_eq!(
            with(json!({"stream_options": {"include_usage": true}})),
            None,
            "asked already"
        );
        assert_eq!(
            with(json!({"stream_options": "odd"})),
            None,
            "not an object: untouched"
        );
        let spliced: Value = serde_json::from_slice(
            &[
                &b"{"[..],
                INCLUDE_USAGE,
                &br#""model":"m","stream":true}"#[..],
            ]
            .concat(),
        )
        .unwrap();
        assert_eq!(spliced["stream_options"]["include_usage"], true);
    }
}
