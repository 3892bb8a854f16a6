//! The request target as it enters the key (authority, path, query
//! without the `key` credential), the credential partition and the
//! answer-shaping headers.

use http::request::Parts;

use super::key::{answer_variant, credential_fingerprint, split_query_credential};
use super::CredentialFingerprint;

/// The request target as it enters the key, and the credential.
pub(super) struct Target {
    pub text: String,
    pub credential: Option<CredentialFingerprint>,
    pub variant: Option<[u8; 32]>,
}

impl Target {
    pub(super) fn of(parts: &Parts) -> Target {
        let authority = parts
            .uri
            .authority()
            .map(|authority| authority.as_str())
            .or_else(|| {
                parts
                    .headers
                    .get(http::header::HOST)
                    .and_then(|host| host.to_str().ok())
            })
            .unwrap_or_default();
        let (query, query_key) = match parts.uri.query() {
            Some(query) => split_query_credential(query),
            None => (String::new(), None),
        };
        let credential = credential_fingerprint(&parts.headers, query_key);
        let path = parts.uri.path();
        // One allocation, of the final size.
        let mut text = String::with_capacity(authority.len() + path.len() + 1 + query.len());
        text.push_str(authority);
        text.make_ascii_lowercase();
        text.push_str(path);
        if !query.is_empty() {
            text.push('?');
            text.push_str(&query);
        }
        Target {
            text,
            credential,
            variant: answer_variant(&parts.headers),
        }
    }
}
