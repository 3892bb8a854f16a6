//! Which provider API a request speaks, recognised from its method and path.

use http::Method;
use serde::Serialize;

/// The provider behind an API.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, Serialize)]
#[serde(rename_all = "snake_case")]
pub enum Provider {
    /// OpenAI and OpenAI-compatible servers.
    OpenAi,
    /// Anthropic's Messages API.
    Anthropic,
    /// Google's Gemini API (AI Studio or Vertex paths).
    Gemini,
    /// Not a recognised LLM API.
    Unknown,
}

impl Provider {
    /// A short, stable name for labels and logs.
    pub fn as_str(self) -> &'static str {
        match self {
            Provider::OpenAi => "openai",
            Provider::Anthropic => "anthropic",
            Provider::Gemini => "gemini",
            Provider::Unknown => "unknown",
        }
    }
}

/// The API a request calls.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, Serialize)]
#[serde(rename_all = "snake_case")]
pub enum ApiKind {
    /// `POST …/chat/completions`
    OpenAiChat,
    /// `POST …/completions` (legacy text completions)
    OpenAiCompletions,
    /// `POST …/responses`
    OpenAiResponses,
    /// `POST …/embeddings`
    OpenAiEmbeddings,
    /// `POST …/v1/messages`
    AnthropicMessages,
    /// `POST …/models/{model}:generateContent` or `:streamGenerateContent`
    GeminiGenerateContent,
    /// Anything else, including a known path whose body is not a JSON object.
    Unknown,
}

impl ApiKind {
    /// The API a request calls, from its method and path alone (the body
    /// may still make it [`ApiKind::Unknown`]; see [`crate::RequestFacts`]).
    pub fn of_request(method: &Method, path: &str) -> ApiKind {
        route(method, path).kind
    }

    /// The provider that defines this API.
    pub fn provider(self) -> Provider {
        match self {
            ApiKind::OpenAiChat
            | ApiKind::OpenAiCompletions
            | ApiKind::OpenAiResponses
            | ApiKind::OpenAiEmbeddings => Provider::OpenAi,
            ApiKind::AnthropicMessages => Provider::Anthropic,
            ApiKind::GeminiGenerateContent => Provider::Gemini,
            ApiKind::Unknown => Provider::Unknown,
        }
    }

    /// A short, stable name for labels and logs.
    pub fn as_str(self) -> &'static str {
        match self {
            ApiKind::OpenAiChat => "chat_completions",
            ApiKind::OpenAiCompletions => "completions",
            ApiKind::OpenAiResponses => "responses",
            ApiKind::OpenAiEmbeddings => "embeddings",
            ApiKind::AnthropicMessages => "messages",
            ApiKind::GeminiGenerateContent => "generate_content",
            ApiKind::Unknown => "unknown",
        }
    }

    /// Top-level body fields that never change what the provider answers and
    /// so stay out of the canonical key. Every other field, known or not,
    /// enters the key.
    ///
    /// - OpenAI chat, completions, embeddings: `user`, `safety_identifier`
    ///   (abuse-monitoring ids), `metadata` (stored-completion tags),
    ///   `prompt_cache_key`, `prompt_cache_retention` (provider prompt-cache
    ///   routing only). None of them is echoed in the response.
    /// - OpenAI responses: nothing, because the Responses API echoes its
    ///   request parameters (`user`, `metadata`, `prompt_cache_key`, …) in the
    ///   response object, so they do change the answer's bytes.
    /// - Anthropic messages: `metadata` (only `user_id`, never echoed).
    /// - Gemini: nothing.
    pub fn key_exclusions(self) -> &'static [&'static str] {
        const OPENAI: &[&str] = &[
            "metadata",
            "prompt_cache_key",
            "prompt_cache_retention",
            "safety_identifier",
            "user",
        ];
        match self {
            ApiKind::OpenAiChat | ApiKind::OpenAiCompletions | ApiKind::OpenAiEmbeddings => OPENAI,
            ApiKind::AnthropicMessages => &["metadata"],
            ApiKind::OpenAiResponses | ApiKind::GeminiGenerateContent | ApiKind::Unknown => &[],
        }
    }
}

/// What the method and path alone say about a request.
#[derive(Clone, Debug, PartialEq, Eq)]
pub(crate) struct Route {
    pub kind: ApiKind,
    /// The model named in the path (Gemini).
    pub path_model: Option<String>,
    /// Streaming chosen by the path (Gemini's `streamGenerateContent`).
    pub path_stream: bool,
}

/// Recognises the API from the method and the path (without the query).
///
/// Paths are matched by their ending, so proxies' and gateways' prefixes
/// (`/openai/v1/chat/completions`, `/anthropic/v1/messages`, Azure's
/// `/openai/deployments/{d}/chat/completions`) are recognised too.
pub(crate) fn route(method: &Method, path: &str) -> Route {
    let unknown = Route {
        kind: ApiKind::Unknown,
        path_model: None,
        path_stream: false,
    };
    if method != Method::POST {
        return unknown;
    }
    let path = path.trim_end_matches('/');
    let kind = if path.ends_with("/chat/completions") {
        ApiKind::OpenAiChat
    } else if path.ends_with("/completions") {
        ApiKind::OpenAiCompletions
    } else if path.ends_with("/responses") {
        ApiKind::OpenAiResponses
    } else if path.ends_with("/embeddings") {
        ApiKind::OpenAiEmbeddings
    } else if path.ends_with("/v1/messages") {
        ApiKind::AnthropicMessages
    } else {
        return gemini_route(path).unwrap_or(unknown);
    };
    Route {
        kind,
        path_model: azure_deployment(path),
        path_stream: false,
    }
}

/// Azure OpenAI's `…/openai/deployments/{deployment}/…`: the deployment
/// names the model (its requests usually carry no `model` member).
fn azure_deployment(path: &str) -> Option<String> {
    use memchr::memmem::Finder;
    // Built once: `split_once` would set up a searcher on every request.
    static DEPLOYMENTS: std::sync::LazyLock<Finder<'static>> =
        std::sync::LazyLock::new(|| Finder::new("/openai/deployments/"));
    let at = DEPLOYMENTS.find(path.as_bytes())?;
    let rest = &path[at + "/openai/deployments/".len()..];
    let deployment = rest.split('/').next()?;
    (!deployment.is_empty()).then(|| deployment.to_owned())
}

/// `…/models/{model}:generateContent` and `…/models/{model}:streamGenerateContent`.
fn gemini_route(path: &str) -> Option<Route> {
    let (parent, last) = path.rsplit_once('/')?;
    if !parent.ends_with("/models") && parent != "models" {
        return None;
    }
    let (model, method) = last.rsplit_once(':')?;
    let path_stream = match method {
        "generateContent" => false,
        "streamGenerateContent" => true,
        _ => return None,
    };
    if model.is_empty() {
        return None;
    }
    Some(Route {
        kind: ApiKind::GeminiGenerateContent,
        path_model: Some(model.to_owned()),
        path_stream,
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn recognises_provider_paths() {
        let post = Method::POST;
        assert_eq!(
            route(&post, "/v1/chat/completions").kind,
            ApiKind::OpenAiChat
        );
        let azure = route(&post, "/openai/deployments/gpt4/chat/completions");
        assert_eq!(azure.kind, ApiKind::OpenAiChat);
        assert_eq!(azure.path_model.as_deref(), Some("gpt4"));
        assert_eq!(route(&post, "/v1/chat/completions").path_model, None);
        assert_eq!(
            route(&post, "/v1/completions").kind,
            ApiKind::OpenAiCompletions
        );
        assert_eq!(route(&post, "/v1/responses").kind, ApiKind::OpenAiResponses);
        assert_eq!(
            route(&post, "/v1/embeddings").kind,
            ApiKind::OpenAiEmbeddings
        );
        assert_eq!(
            route(&post, "/v1/messages").kind,
            ApiKind::AnthropicMessages
        );
        assert_eq!(
            route(&post, "/anthropic/v1/messages").kind,
            ApiKind::AnthropicMessages
        );
        let gemini = route(
            &post,
            "/v1beta/models/gemini-2.0-flash:streamGenerateContent",
        );
        assert_eq!(gemini.kind, ApiKind::GeminiGenerateContent);
        assert_eq!(gemini.path_model.as_deref(), Some("gemini-2.0-flash"));
        assert!(gemini.path_stream);
    }

    #[test]
    fn other_methods_and_paths_are_unknown() {
        assert_eq!(
            route(&Method::GET, "/v1/chat/completions").kind,
            ApiKind::Unknown
        );
        for path in [
            "/",
            "/v1/models",
            "/v1/messages/count_tokens",
            "/v1/threads/t1/messages",
            "/v1beta/models/:generateContent",
            "/v1beta/models/x:countTokens",
            "/v1/responses/resp_1/cancel",
        ] {
            assert_eq!(route(&Method::POST, path).kind, ApiKind::Unknown, "{path}");
        }
    }
}
