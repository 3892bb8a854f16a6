//! Where a request goes: the OpenAI-compatible upstream, or the Anthropic
//! or Gemini upstream for paths under their prefixes (stripped), each a
//! base URL the request's path is appended to. The path and
//! query are forwarded as they came; hop-by-hop headers and
//! `Accept-Encoding` are not; a server-held key is added only when the
//! client sent no credential.

use http::header::{self, HeaderMap, HeaderName, HeaderValue};
use http::uri::{Authority, PathAndQuery, Scheme, Uri};

use crate::config::{ConfigError, ProxyConfig};

/// An upstream's base URL: scheme, authority, and an optional base path
/// and query (Azure OpenAI deployments, corporate gateways, servers that
/// serve several providers under prefixes). A request's path is appended
/// to the base path, and its query to the base query.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct BaseUrl {
    scheme: Scheme,
    authority: Authority,
    /// Without a trailing `/`; empty for a bare origin.
    path: String,
    query: Option<String>,
}

impl BaseUrl {
    /// Parses `https://host[:port][/base/path][?query]`.
    pub fn parse(text: &str) -> Result<BaseUrl, ConfigError> {
        let invalid = || ConfigError::Upstream(text.to_owned());
        let uri: Uri = text.parse().map_err(|_| invalid())?;
        match (uri.scheme(), uri.authority()) {
            (Some(scheme), Some(authority))
                if *scheme == Scheme::HTTP || *scheme == Scheme::HTTPS =>
            {
                Ok(BaseUrl {
                    scheme: scheme.clone(),
                    authority: authority.clone(),
                    path: uri.path().trim_end_matches('/').to_owned(),
                    query: uri.query().filter(|q| !q.is_empty()).map(str::to_owned),
                })
            }
            _ => Err(invalid()),
        }
    }

    /// The URI of a request's path and query under this base.
    fn uri(&self, request: PathAndQuery) -> Uri {
        let path_and_query = match (self.path.is_empty(), &self.query, request.query()) {
            (true, None, _) => request,
            (_, base_query, request_query) => {
                let mut joined = format!("{}{}", self.path, request.path());
                let queries: Vec<&str> = base_query
                    .iter()
                    .map(String::as_str)
                    .chain(request_query)
                    .collect();
                if !queries.is_empty() {
                    joined.push('?');
                    joined.push_str(&queries.join("&"));
                }
                // Both halves were valid on their own: so is the whole.
                PathAndQuery::try_from(joined).unwrap_or(request)
            }
        };
        Uri::builder()
            .scheme(self.scheme.clone())
            .authority(self.authority.clone())
            .path_and_query(path_and_query)
            .build()
            .expect("scheme, authority and path are each valid")
    }
}

/// Which provider a request is for.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Upstream {
    /// OpenAI-compatible (the default route).
    OpenAi,
    /// Anthropic (under the Anthropic prefix).
    Anthropic,
    /// Gemini (under the Gemini prefix).
    Gemini,
}

/// A provider routed by a path prefix, which is stripped.
#[derive(Clone, Debug)]
struct Prefixed {
    upstream: Upstream,
    prefix: String,
    base: BaseUrl,
    /// A server-held key, and the header it goes in.
    key: Option<(HeaderName, HeaderValue)>,
}

/// The routing table.
#[derive(Clone, Debug)]
pub struct Routes {
    openai: BaseUrl,
    openai_key: Option<HeaderValue>,
    prefixed: [Prefixed; 2],
}

/// Headers that describe one connection, not the request.
static HOP_BY_HOP: [HeaderName; 9] = [
    header::CONNECTION,
    HeaderName::from_static("keep-alive"),
    HeaderName::from_static("proxy-connection"),
    header::PROXY_AUTHENTICATE,
    header::PROXY_AUTHORIZATION,
    header::TE,
    header::TRAILER,
    header::UPGRADE,
    header::TRANSFER_ENCODING,
];

/// Headers that carry a provider credential (the core's list).
pub use llm_layers::core::facts::CREDENTIAL_HEADERS;

impl Routes {
    /// The routes of a configuration; server-held keys are read from their
    /// environment variables now.
    pub fn new(config: &ProxyConfig) -> Result<Routes, ConfigError> {
        let key = |name: &Option<String>, bearer: bool| {
            let value = std::env::var(name.as_ref()?).ok()?;
            let value = if bearer {
                format!("Bearer {value}")
            } else {
                value
            };
            let mut value = HeaderValue::from_str(&value).ok()?;
            value.set_sensitive(true);
            Some(value)
        };
        let prefix = |name: &str, prefix: &str| {
            if !prefix.is_empty() && (!prefix.starts_with('/') || prefix.contains(['?', '#'])) {
                return Err(ConfigError::Parse(format!(
                    "{name} {prefix:?} must be a path such as \"/anthropic\""
                )));
            }
            Ok(prefix.trim_end_matches('/').to_owned())
        };
        Ok(Routes {
            openai: BaseUrl::parse(&config.upstream)?,
            openai_key: key(&config.openai_key_env, true),
            prefixed: [
                Prefixed {
                    upstream: Upstream::Anthropic,
                    prefix: prefix("anthropic_prefix", &config.anthropic_prefix)?,
                    base: BaseUrl::parse(config.anthropic_origin())?,
                    key: key(&config.anthropic_key_env, false)
                        .map(|value| (HeaderName::from_static("x-api-key"), value)),
                },
                Prefixed {
                    upstream: Upstream::Gemini,
                    prefix: prefix("gemini_prefix", &config.gemini_prefix)?,
                    base: BaseUrl::parse(config.gemini_origin())?,
                    key: key(&config.gemini_key_env, false)
                        .map(|value| (HeaderName::from_static("x-goog-api-key"), value)),
                },
            ],
        })
    }

    /// The upstream and the URI a request goes to.
    pub fn target(&self, uri: &Uri) -> (Upstream, Uri) {
        let path_and_query = uri
            .path_and_query()
            .cloned()
            .unwrap_or_else(|| PathAndQuery::from_static("/"));
        for route in &self.prefixed {
            let rest = (!route.prefix.is_empty())
                .then(|| path_and_query.as_str().strip_prefix(&route.prefix))
                .flatten()
                .filter(|rest| rest.starts_with('/') || rest.starts_with('?'));
            if let Some(rest) = rest.and_then(|rest| PathAndQuery::try_from(rest).ok()) {
                return (route.upstream, route.base.uri(rest));
            }
        }
        (Upstream::OpenAi, self.openai.uri(path_and_query))
    }

    /// Prepares the client's headers for the upstream. `Accept-Encoding` is
    /// dropped: the layers read usage from the body and the cache replays
    /// it to any client, so the upstream answers uncompressed.
    pub fn outgoing_headers(&self, upstream: Upstream, uri: &Uri, headers: &mut HeaderMap) {
        remove_where(headers, |name| {
            name == header::HOST || name == header::ACCEPT_ENCODING || is_hop_by_hop(name)
        });
        // Credentials are marked sensitive: they show as `Sensitive` in any
        // debug output of these headers, and HTTP/2 never indexes them.
        let mut has_credential = false;
        for name in &CREDENTIAL_HEADERS {
            if let http::header::Entry::Occupied(mut entry) = headers.entry(name) {
                has_credential = true;
                for value in entry.iter_mut() {
                    value.set_sensitive(true);
                }
            }
        }
        // Gemini also takes its key in the query (`key=`).
        let query_key = uri
            .query()
            .is_some_and(|query| query.split('&').any(|pair| pair.starts_with("key=")));
        if has_credential || query_key {
            return;
        }
        if let Some((name, key)) = self.server_key(upstream) {
            headers.insert(name, key);
        }
    }

    /// The server-held key of an upstream, and the header it goes in.
    pub fn server_key(&self, upstream: Upstream) -> Option<(HeaderName, HeaderValue)> {
        match upstream {
            Upstream::OpenAi => self
                .openai_key
                .clone()
                .map(|key| (header::AUTHORIZATION, key)),
            _ => self
                .prefixed
                .iter()
                .find(|route| route.upstream == upstream)
                .and_then(|route| route.key.clone()),
        }
    }
}

/// Removes hop-by-hop headers, those the `Connection` header names included.
pub fn strip_hop_by_hop(headers: &mut HeaderMap) {
    remove_where(headers, is_hop_by_hop);
}

fn is_hop_by_hop(name: &HeaderName) -> bool {
    HOP_BY_HOP.contains(name)
}

/// Removes the headers `unwanted` names, and those the `Connection` header
/// lists. A request rarely carries any: the names are checked in one pass
/// over the headers, and only those present are removed.
fn remove_where(headers: &mut HeaderMap, unwanted: impl Fn(&HeaderName) -> bool) {
    if !headers.keys().any(&unwanted) {
        return;
    }
    // Names the `Connection` header lists are hop-by-hop too (the usual
    // `keep-alive` or `close` names none, and costs no allocation).
    let listed: Vec<HeaderName> = headers
        .get_all(header::CONNECTION)
        .iter()
        .filter(|value| !is_plain_connection_option(value))
        .filter_map(|value| value.to_str().ok())
        .flat_map(|value| value.split(','))
        .filter_map(|name| HeaderName::from_bytes(name.trim().as_bytes()).ok())
        .collect();
    for name in listed {
        headers.remove(name);
    }
    let present: Vec<HeaderName> = headers
        .keys()
        .filter(|name| unwanted(name))
        .cloned()
        .collect();
    for name in present {
        headers.remove(name);
    }
}

/// `keep-alive` or `close`: options that name no other header to drop.
fn is_plain_connection_option(value: &HeaderValue) -> bool {
    let value = value.as_bytes();
    value.eq_ignore_ascii_case(b"keep-alive") || value.eq_ignore_ascii_case(b"close")
}

#[cfg(test)]
mod tests {
    use super::*;

    fn routes() -> Routes {
        Routes::new(&ProxyConfig {
            upstream: "http://127.0.0.1:9000".into(),
            anthropic_upstream: Some("https://anthropic.example".into()),
            ..ProxyConfig::default()
        })
        .unwrap()
    }

    #[test]
    fn paths_are_forwarded_as_they_came() {
        let (upstream, uri) = routes().target(&"/v1/chat/completions?x=1".parse().unwrap());
        assert_eq!(upstream, Upstream::OpenAi);
        assert_eq!(uri, "http://127.0.0.1:9000/v1/chat/completions?x=1");
        let (upstream, uri) = routes().target(&"/anthropic/v1/messages".parse().unwrap());
        assert_eq!(upstream, Upstream::Anthropic);
        assert_eq!(uri, "https://anthropic.example/v1/messages");
        let (upstream, _) = routes().target(&"/anthropicx/v1/messages".parse().unwrap());
        assert_eq!(
            upstream,
            Upstream::OpenAi,
            "only the whole segment is the prefix"
        );
    }

    #[test]
    fn the_anthropic_prefix_must_be_a_path() {
        let config = |prefix: &str| ProxyConfig {
            anthropic_prefix: prefix.into(),
            ..ProxyConfig::default()
        };
        assert!(Routes::new(&config("anthropic")).is_err());
        assert!(Routes::new(&config("/claude")).is_ok());
        let routes = Routes::new(&config("/claude/")).unwrap();
        let (upstream, uri) = routes.target(&"/claude/v1/messages".parse().unwrap());
        assert_eq!(upstream, Upstream::Anthropic);
        assert_eq!(uri.path(), "/v1/messages");
    }

    #[test]
    fn base_urls_take_a_path_and_a_query_and_refuse_other_schemes() {
        assert!(BaseUrl::parse("https://api.openai.com").is_ok());
        assert!(BaseUrl::parse("https://api.openai.com/").is_ok());
        assert!(BaseUrl::parse("ftp://x").is_err());
        assert!(BaseUrl::parse("api.openai.com").is_err());
        let request = |text: &'static str| PathAndQuery::from_static(text);
        let gateway = BaseUrl::parse("http://gateway:8000/anthropic/").unwrap();
        assert_eq!(
            gateway.uri(request("/v1/messages?beta=true")),
            "http://gateway:8000/anthropic/v1/messages?beta=true"
        );
        let azure = BaseUrl::parse(
            "https://r.openai.azure.com/openai/deployments/gpt4o?api-version=2024-10-21",
        )
        .unwrap();
        assert_eq!(
            azure.uri(request("/chat/completions")),
            "https://r.openai.azure.com/openai/deployments/gpt4o/chat/completions?api-version=2024-10-21"
        );
        assert_eq!(
            azure.uri(request("/embeddings?x=1")),
            "https://r.openai.azure.com/openai/deployments/gpt4o/embeddings?api-version=2024-10-21&x=1"
        );
        let bare = BaseUrl::parse("http://127.0.0.1:9").unwrap();
        assert_eq!(bare.uri(request("/v1/x?y")), "http://127.0.0.1:9/v1/x?y");
    }

    #[test]
    fn hop_by_hop_headers_stay_behind() {
        let mut headers = HeaderMap::new();
        headers.insert("connection", "keep-alive, x-trace".parse().unwrap());
        headers.insert("x-trace", "1".parse().unwrap());
        headers.insert("host", "proxy:8080".parse().unwrap());
        headers.insert("accept-encoding", "gzip, br".parse().unwrap());
        headers.insert("authorization", "Bearer sk-client".parse().unwrap());
        let uri = "/v1/chat/completions".parse().unwrap();
        routes().outgoing_headers(Upstream::OpenAi, &uri, &mut headers);
        assert_eq!(headers.len(), 1);
        assert_eq!(headers["authorization"], "Bearer sk-client");
    }

    #[test]
    fn gemini_routes_under_its_prefix_and_gets_a_server_key_only_without_one() {
        std::env::set_var("LLM_PROXY_UNIT_GEMINI_KEY", "AIza-server");
        let routes = Routes::new(&ProxyConfig {
            gemini_upstream: Some("https://gemini.example/base".into()),
            gemini_key_env: Some("LLM_PROXY_UNIT_GEMINI_KEY".into()),
            ..ProxyConfig::default()
        })
        .unwrap();
        let path = "/gemini/v1beta/models/gemini-2.5-flash:generateContent";
        let (upstream, uri) = routes.target(&path.parse().unwrap());
        assert_eq!(upstream, Upstream::Gemini);
        assert_eq!(
            uri,
            "https://gemini.example/base/v1beta/models/gemini-2.5-flash:generateContent"
        );
        let mut headers = HeaderMap::new();
        routes.outgoing_headers(upstream, &uri, &mut headers);
        assert_eq!(headers["x-goog-api-key"], "AIza-server");
        let with_key: Uri = format!("{uri}?key=AIza-client").parse().unwrap();
        let mut headers = HeaderMap::new();
        routes.outgoing_headers(upstream, &with_key, &mut headers);
        assert!(headers.is_empty(), "the client's own key= wins");
        std::env::remove_var("LLM_PROXY_UNIT_GEMINI_KEY");
    }
}
