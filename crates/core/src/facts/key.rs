//! The canonical request key and the credential fingerprint.
//!
//! The key is blake3 over, in this order and each length-prefixed: the
//! method, the target (authority + path + query, the `key` query parameter
//! left out), the credential fingerprint (or a marker for none), and the
//! digest of the canonical JSON body (object keys sorted, whitespace dropped). The body
//! digest is the only costly part and is computed once per request; keys
//! with another partition or a namespace are derived from it cheaply.
//!
//! The key's first byte is [`KEY_FORMAT_VERSION`] (the other 31 are the
//! digest's), and the version is in every derivation context too: a key
//! made by another format never equals one made by this one, so a store
//! written by an older release answers its requests with misses, and its
//! old entries age out.

use std::fmt;

use http::HeaderMap;

/// The version of the key's format, its first byte. Format 1 (releases
/// before 2026-12) had no version byte.
pub const KEY_FORMAT_VERSION: u8 = 2;

const KEY_CONTEXT: &str = "llm-layers 2026-12 canonical request key v2";
const CREDENTIAL_CONTEXT: &str = "llm-layers 2026-12 credential fingerprint v2";
const BODY_CONTEXT: &str = "llm-layers 2026-12 canonical body v2";

/// Headers that carry provider credentials, in the order they are hashed.
pub const CREDENTIAL_HEADERS: [http::HeaderName; 4] = [
    http::header::AUTHORIZATION,
    http::HeaderName::from_static("x-api-key"),
    http::HeaderName::from_static("api-key"),
    http::HeaderName::from_static("x-goog-api-key"),
];

/// Headers naming the account a request is billed to and answered for
/// (OpenAI's organization and project): they join the credential
/// partition, so two projects under one key never share answers.
pub const OWNER_HEADERS: [http::HeaderName; 2] = [
    http::HeaderName::from_static("openai-organization"),
    http::HeaderName::from_static("openai-project"),
];

/// Headers that change the answer to the same body (Anthropic's API
/// version and beta features): they join the key, in this order, when
/// present. A request carrying none has the key it always had.
pub const ANSWER_HEADERS: [http::HeaderName; 2] = [
    http::HeaderName::from_static("anthropic-version"),
    http::HeaderName::from_static("anthropic-beta"),
];

/// The query parameter Gemini accepts an API key in.
pub const CREDENTIAL_QUERY_PARAM: &str = "key";

macro_rules! digest_type {
    ($(#[$doc:meta])* $name:ident) => {
        $(#[$doc])*
        #[derive(Clone, Copy, PartialEq, Eq, PartialOrd, Ord)]
        pub struct $name([u8; 32]);

        /// The bytes are already a uniform hash: eight of them are plenty
        /// for a hash table (equality still compares all 32).
        impl std::hash::Hash for $name {
            fn hash<H: std::hash::Hasher>(&self, state: &mut H) {
                let mut prefix = [0u8; 8];
                prefix.copy_from_slice(&self.0[..8]);
                state.write_u64(u64::from_le_bytes(prefix));
            }
        }

        impl $name {
            /// The full 32 bytes.
            pub fn as_bytes(&self) -> &[u8; 32] {
                &self.0
            }

            /// Wraps 32 bytes (e.g. read back from a store).
            pub fn from_bytes(bytes: [u8; 32]) -> Self {
                Self(bytes)
            }

            /// Lower-case hex of all 32 bytes.
            pub fn to_hex(&self) -> String {
                blake3::Hash::from_bytes(self.0).to_hex().to_string()
            }
        }

        impl fmt::Debug for $name {
            fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
                write!(f, concat!(stringify!($name), "({}…)"), &self.to_hex()[..12])
            }
        }

        impl fmt::Display for $name {
            fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
                f.write_str(&self.to_hex())
            }
        }
    };
}

digest_type! {
    /// The 32-byte canonical key of a request. Two requests share it only when
    /// method, target, credential and canonical body are all equal.
    CanonicalKey
}

digest_type! {
    /// blake3 of a request's credential headers. The raw credential is never
    /// kept; this fingerprint cannot be turned back into it.
    CredentialFingerprint
}

digest_type! {
    /// blake3 of the canonical JSON body alone.
    BodyDigest
}

impl CanonicalKey {
    /// A key for a separate namespace (application, tenant): the same request
    /// in two namespaces gets two keys.
    pub fn in_namespace(&self, namespace: &str) -> CanonicalKey {
        let digest = hash_fields(&KEY_HASHER, |hasher| {
            hasher.update(b"namespace");
            hasher.update(&self.0);
            update_field(hasher, namespace.as_bytes());
        });
        CanonicalKey::versioned(digest)
    }

    /// The format the key was made by (its first byte; see
    /// [`KEY_FORMAT_VERSION`]).
    pub fn format_version(&self) -> u8 {
        self.0[0]
    }

    fn versioned(digest: blake3::Hash) -> CanonicalKey {
        let mut key = *digest.as_bytes();
        key[0] = KEY_FORMAT_VERSION;
        CanonicalKey(key)
    }
}

/// Derives the key from its parts; `credential` is `None` for a request sent
/// without credentials, or for a key shared across credentials; `variant`
/// is the digest of the [`ANSWER_HEADERS`] a request carries (see
/// [`answer_variant`]), `None` when it carries none.
pub fn derive_key(
    method: &str,
    target: &str,
    credential: Option<&CredentialFingerprint>,
    body: &BodyDigest,
    variant: Option<&[u8; 32]>,
) -> CanonicalKey {
    let digest = hash_fields(&KEY_HASHER, |hasher| {
        update_field(hasher, method.as_bytes());
        update_field(hasher, target.as_bytes());
        match credential {
            Some(fingerprint) => {
                hasher.update(&[1]);
                hasher.update(&fingerprint.0);
            }
            None => {
                hasher.update(&[0]);
            }
        }
        hasher.update(&body.0);
        if let Some(variant) = variant {
            hasher.update(b"variant");
            hasher.update(variant);
        }
    });
    CanonicalKey::versioned(digest)
}

/// The digest of the [`ANSWER_HEADERS`] present (names and values, in
/// order); `None` when there are none.
pub fn answer_variant(headers: &HeaderMap) -> Option<[u8; 32]> {
    // Most requests carry none: no hasher is set up for them.
    if !ANSWER_HEADERS.iter().any(|name| headers.contains_key(name)) {
        return None;
    }
    let mut found = false;
    let digest = hash_fields(&KEY_HASHER, |hasher| {
        found = update_headers(hasher, &ANSWER_HEADERS, headers);
    });
    found.then(|| *digest.as_bytes())
}

/// Digest of a canonical body (as written by the canonical writer).
pub(crate) fn body_digest(canonical_body: &[u8]) -> BodyDigest {
    let mut hasher = BODY_HASHER.clone();
    hasher.update(canonical_body);
    BodyDigest(*hasher.finalize().as_bytes())
}

/// Fingerprints the credentials a request carries: every credential header
/// present (see [`CREDENTIAL_HEADERS`]), the `key` query parameter, and the
/// [`OWNER_HEADERS`]. `None` when the request carries none.
pub fn credential_fingerprint(
    headers: &HeaderMap,
    query_key: Option<&str>,
) -> Option<CredentialFingerprint> {
    let mut found = false;
    let digest = hash_fields(&CREDENTIAL_HASHER, |hasher| {
        found |= update_headers(hasher, &CREDENTIAL_HEADERS, headers);
        if let Some(key) = query_key {
            found = true;
            update_field(hasher, CREDENTIAL_QUERY_PARAM.as_bytes());
            update_field(hasher, key.as_bytes());
        }
        found |= update_headers(hasher, &OWNER_HEADERS, headers);
    });
    found.then(|| CredentialFingerprint(*digest.as_bytes()))
}

/// Splits the `key` credential parameter out of a query string: returns the
/// query without it and the key's raw value.
pub(crate) fn split_query_credential(query: &str) -> (String, Option<&str>) {
    let mut kept = String::with_capacity(query.len());
    let mut credential = None;
    for pair in query.split('&') {
        if let Some(value) = pair.strip_prefix("key=") {
            credential = Some(value);
            continue;
        }
        if !kept.is_empty() {
            kept.push('&');
        }
        kept.push_str(pair);
    }
    (kept, credential)
}

/// Hashers with their derive-key context already absorbed: a clone is a
/// copy, where setting one up again costs a blake3 compression per call.
static KEY_HASHER: std::sync::LazyLock<blake3::Hasher> =
    std::sync::LazyLock::new(|| blake3::Hasher::new_derive_key(KEY_CONTEXT));
static BODY_HASHER: std::sync::LazyLock<blake3::Hasher> =
    std::sync::LazyLock::new(|| blake3::Hasher::new_derive_key(BODY_CONTEXT));
static CREDENTIAL_HASHER: std::sync::LazyLock<blake3::Hasher> =
    std::sync::LazyLock::new(|| blake3::Hasher::new_derive_key(CREDENTIAL_CONTEXT));

/// Hashes each of `names` present in `headers` (name and value, every
/// value in order); whether any was.
fn update_headers(
    hasher: &mut Fields<'_>,
    names: &[http::HeaderName],
    headers: &HeaderMap,
) -> bool {
    let mut found = false;
    let mut hash = |name: &http::HeaderName, value: &http::HeaderValue| {
        found = true;
        update_field(hasher, name.as_str().as_bytes());
        update_field(hasher, value.as_bytes());
    };
    if headers.len() <= FEW_HEADERS {
        // A request's few headers compared by name (cheap: most names are
        // well-known and compare as tags) cost less than a hash lookup per
        // name; the values of a name come in the same order either way.
        for name in names {
            for (present, value) in headers {
                if present == name {
                    hash(name, value);
                }
            }
        }
    } else {
        for name in names {
            for value in headers.get_all(name) {
                hash(name, value);
            }
        }
    }
    found
}

/// Up to this many headers, [`update_headers`] scans them instead of
/// looking each name up.
const FEW_HEADERS: usize = 16;

fn update_field(hasher: &mut Fields<'_>, bytes: &[u8]) {
    hasher.update(&(bytes.len() as u64).to_le_bytes());
    hasher.update(bytes);
}

/// Short fields gathered in a small buffer, so that they reach blake3 in
/// one `update` instead of two per field (the digest is the same: blake3
/// does not see how its input was split).
struct Fields<'h> {
    hasher: &'h mut blake3::Hasher,
    buffer: [u8; 256],
    used: usize,
}

impl Fields<'_> {
    fn update(&mut self, bytes: &[u8]) {
        if self.used + bytes.len() > self.buffer.len() {
            self.flush();
            if bytes.len() > self.buffer.len() {
                self.hasher.update(bytes);
                return;
            }
        }
        self.buffer[self.used..self.used + bytes.len()].copy_from_slice(bytes);
        self.used += bytes.len();
    }

    fn flush(&mut self) {
        self.hasher.update(&self.buffer[..self.used]);
        self.used = 0;
    }
}

/// The digest of the fields `write` feeds, from a copy of `template`.
fn hash_fields(template: &blake3::Hasher, write: impl FnOnce(&mut Fields<'_>)) -> blake3::Hash {
    let mut hasher = template.clone();
    let mut fields = Fields {
        hasher: &mut hasher,
        buffer: [0; 256],
        used: 0,
    };
    write(&mut fields);
    fields.flush();
    hasher.finalize()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn few_and_many_headers_give_the_same_fingerprint() {
        let mut few = HeaderMap::new();
        few.append("x-api-key", "key-1".parse().unwrap());
        few.append("x-api-key", "key-2".parse().unwrap());
        few.insert("openai-project", "proj".parse().unwrap());
        few.insert("authorization", "Bearer sk-a".parse().unwrap());
        let mut many = few.clone();
        for i in 0..FEW_HEADERS {
            many.insert(
                http::HeaderName::try_from(format!("x-other-{i}")).unwrap(),
                "v".parse().unwrap(),
            );
        }
        assert!(few.len() <= FEW_HEADERS && many.len() > FEW_HEADERS);
        assert_eq!(
            credential_fingerprint(&few, None),
            credential_fingerprint(&many, None)
        );
        // The order of a name's values counts, on both paths.
        let mut swapped = HeaderMap::new();
        swapped.append("x-api-key", "key-2".parse().unwrap());
        swapped.append("x-api-key", "key-1".parse().unwrap());
        swapped.insert("openai-project", "proj".parse().unwrap());
        swapped.insert("authorization", "Bearer sk-a".parse().unwrap());
        assert_ne!(
            credential_fingerprint(&few, None),
            credential_fingerprint(&swapped, None)
        );
    }

    #[test]
    fn fingerprint_depends_on_the_value_and_never_shows_it() {
        let mut a = HeaderMap::new();
        a.insert("authorization", "Bearer sk-secret-a".parse().unwrap());
        let mut b = HeaderMap::new();
        b.insert("authorization", "Bearer sk-secret-b".parse().unwrap());
        let fa = credential_fingerprint(&a, None).unwrap();
        let fb = credential_fingerprint(&b, None).unwrap();
        assert_ne!(fa, fb);
        assert_eq!(fa, credential_fingerprint(&a, None).unwrap());
        assert!(!format!("{fa:?} {fa}").contains("secret"));
        assert_eq!(credential_fingerprint(&HeaderMap::new(), None), None);
    }

    #[test]
    fn the_same_value_in_another_header_is_another_credential() {
        let mut a = HeaderMap::new();
        a.insert("x-api-key", "k".parse().unwrap());
        let mut b = HeaderMap::new();
        b.insert("api-key", "k".parse().unwrap());
        assert_ne!(
            credential_fingerprint(&a, None),
            credential_fingerprint(&b, None)
        );
    }

    #[test]
    fn query_key_is_split_out() {
        assert_eq!(
            split_query_credential("alt=sse&key=abc&x=1"),
            ("alt=sse&x=1".to_owned(), Some("abc"))
        );
        assert_eq!(
            split_query_credential("alt=sse"),
            ("alt=sse".to_owned(), None)
        );
    }

    #[test]
    fn buffered_fields_hash_as_the_bytes_fed_directly() {
        // Short fields, a field that overflows the buffer, one larger than it.
        let fields: [&[u8]; 5] = [b"POST", &[b'a'; 200], &[b'b'; 100], &[b'c'; 700], b"end"];
        let buffered = hash_fields(&KEY_HASHER, |hasher| {
            fields.iter().for_each(|field| hasher.update(field))
        });
        let mut direct = KEY_HASHER.clone();
        fields.iter().for_each(|field| {
            direct.update(field);
        });
        assert_eq!(buffered, direct.finalize());
    }

    #[test]
    fn namespaces_separate_keys() {
        let body = body_digest(b"{}");
        let key = derive_key("POST", "h/p", None, &body, None);
        assert_ne!(key.in_namespace("a"), key.in_namespace("b"));
        assert_ne!(key.in_namespace("a"), key);
    }
}
