//! Bodies scanned lately, so that a repeated request (the cache-hit case)
//! skips the scan, the canonical writer and the blake3 pass over its body:
//! about three quarters of its facts' cost.
//!
//! A body is found again only when its bytes, its API and its credential
//! fingerprint are all equal to a remembered one's, compared in full: what
//! comes back is exactly what scanning would give. The table is direct
//! mapped (a seeded hash picks one slot; a newer body takes the slot
//! over), so it never grows past its slots, bodies over
//! [`MAX_REMEMBERED_BYTES`] are not remembered, and a flood of distinct
//! bodies costs only misses. The credential is part of the match so that
//! one tenant's timing cannot tell whether another sent the same body.

use std::hash::{BuildHasher, Hasher};
use std::sync::{Arc, LazyLock, Mutex, OnceLock};

use super::key::{BodyDigest, CanonicalKey, CredentialFingerprint};
use super::scan::ScannedBody;
use super::Opaque;
use crate::api::ApiKind;

/// Slots in the process-wide table.
const SLOTS: usize = 256;

/// Larger bodies are scanned every time (and never held here): at most
/// `SLOTS` × this many bytes are kept, 4 MiB.
pub(super) const MAX_REMEMBERED_BYTES: usize = 16 * 1024;

/// One remembered scan.
struct Remembered {
    kind: ApiKind,
    credential: Option<CredentialFingerprint>,
    body: Box<[u8]>,
    model: Option<String>,
    stream: bool,
    digest: BodyDigest,
    /// The first key made with this body, and what else it was made of.
    key: OnceLock<MadeKey>,
}

/// A canonical key and the parts of the request it was made of besides
/// the body and the credential (which a remembered scan matched already).
struct MadeKey {
    method: http::Method,
    target: String,
    variant: Option<[u8; 32]>,
    key: CanonicalKey,
}

/// The remembered scan a request's body matched (or was remembered as):
/// a repeated request with the same method, target and answer headers
/// gets the key made the first time instead of deriving it again.
pub(super) struct KeyMemo(Option<Arc<Remembered>>);

impl KeyMemo {
    /// The key of a request with these parts: the remembered one when they
    /// are all equal, else `derive`'s (remembered if none is yet).
    pub(super) fn key(
        &self,
        method: &http::Method,
        target: &str,
        variant: Option<&[u8; 32]>,
        derive: impl FnOnce() -> CanonicalKey,
    ) -> CanonicalKey {
        let Some(remembered) = &self.0 else {
            return derive();
        };
        if let Some(made) = remembered.key.get() {
            if made.method == *method && made.target == target && made.variant.as_ref() == variant {
                return made.key;
            }
            return derive();
        }
        let key = derive();
        let _ = remembered.key.set(MadeKey {
            method: method.clone(),
            target: target.to_owned(),
            variant: variant.copied(),
            key,
        });
        key
    }
}

/// A direct-mapped table of remembered scans.
pub(super) struct Memo {
    seed: foldhash::quality::RandomState,
    slots: Box<[Mutex<Option<Arc<Remembered>>>]>,
}

static MEMO: LazyLock<Memo> = LazyLock::new(|| Memo::new(SLOTS));

/// The scan of `body` as `kind` for `credential`: remembered, or worked
/// out by `scan` (and remembered when it succeeds); with the keys made
/// with it.
pub(super) fn scanned(
    kind: ApiKind,
    credential: Option<&CredentialFingerprint>,
    body: &[u8],
    scan: impl FnOnce() -> Result<ScannedBody, Opaque>,
) -> (Result<ScannedBody, Opaque>, KeyMemo) {
    MEMO.scanned(kind, credential, body, scan)
}

impl Memo {
    pub(super) fn new(slots: usize) -> Memo {
        Memo {
            seed: foldhash::quality::RandomState::default(),
            slots: (0..slots.max(1)).map(|_| Mutex::new(None)).collect(),
        }
    }

    pub(super) fn scanned(
        &self,
        kind: ApiKind,
        credential: Option<&CredentialFingerprint>,
        body: &[u8],
        scan: impl FnOnce() -> Result<ScannedBody, Opaque>,
    ) -> (Result<ScannedBody, Opaque>, KeyMemo) {
        if body.len() > MAX_REMEMBERED_BYTES {
            return (scan(), KeyMemo(None));
        }
        let slot = &self.slots[self.slot_of(body) % self.slots.len()];
        let remembered = lock(slot).clone();
        if let Some(remembered) = remembered.filter(|remembered| {
            remembered.kind == kind
                && remembered.credential.as_ref() == credential
                && *remembered.body == *body
        }) {
            let scanned = ScannedBody {
                model: remembered.model.clone(),
                stream: remembered.stream,
                digest: remembered.digest,
            };
            return (Ok(scanned), KeyMemo(Some(remembered)));
        }
        let scanned = match scan() {
            Ok(scanned) => scanned,
            Err(reason) => return (Err(reason), KeyMemo(None)),
        };
        let remembered = Arc::new(Remembered {
            kind,
            credential: credential.copied(),
            body: body.into(),
            model: scanned.model.clone(),
            stream: scanned.stream,
            digest: scanned.digest,
            key: OnceLock::new(),
        });
        *lock(slot) = Some(remembered.clone());
        (Ok(scanned), KeyMemo(Some(remembered)))
    }

    fn slot_of(&self, body: &[u8]) -> usize {
        let mut hasher = self.seed.build_hasher();
        hasher.write(body);
        hasher.finish() as usize
    }
}

fn lock<T>(mutex: &Mutex<T>) -> std::sync::MutexGuard<'_, T> {
    mutex
        .lock()
        .unwrap_or_else(|poisoned| poisoned.into_inner())
}

#[cfg(test)]
mod tests {
    use std::cell::Cell;

    use proptest::strategy::Strategy as _;

    use super::*;
    use crate::facts::scan::{scan_body, Scratch};

    /// Scans `body` through `memo`, counting the scans actually made.
    fn through(
        memo: &Memo,
        kind: ApiKind,
        credential: Option<&CredentialFingerprint>,
        body: &[u8],
        scans: &Cell<usize>,
    ) -> Result<ScannedBody, Opaque> {
        memo.scanned(kind, credential, body, || {
            scans.set(scans.get() + 1);
            scan_body(body, kind, &mut Scratch::new())
        })
        .0
    }

    fn fingerprint(authorization: &str) -> CredentialFingerprint {
        let mut headers = http::HeaderMap::new();
        headers.insert("authorization", authorization.parse().unwrap());
        crate::facts::key::credential_fingerprint(&headers, None).unwrap()
    }

    fn direct(kind: ApiKind, body: &[u8]) -> Result<ScannedBody, Opaque> {
        scan_body(body, kind, &mut Scratch::new())
    }

    fn same(left: &Result<ScannedBody, Opaque>, right: &Result<ScannedBody, Opaque>) -> bool {
        match (left, right) {
            (Ok(left), Ok(right)) => {
                left.model == right.model
                    && left.stream == right.stream
                    && left.digest == right.digest
            }
            (Err(left), Err(right)) => left == right,
            _ => false,
        }
    }

    const A: &[u8] = br#"{"model":"gpt-4o","messages":[{"role":"user","content":"a"}]}"#;
    const B: &[u8] = br#"{"model":"gpt-4o-mini","stream":true,"messages":[]}"#;

    #[test]
    fn a_key_is_made_again_unless_method_target_and_variant_are_all_equal() {
        let memo = Memo::new(SLOTS);
        let made = Cell::new(0u8);
        let key_of = |method: &http::Method, target: &str, variant: Option<&[u8; 32]>| {
            let (_, keys) = memo.scanned(ApiKind::OpenAiChat, None, A, || {
                direct(ApiKind::OpenAiChat, A)
            });
            keys.key(method, target, variant, || {
                made.set(made.get() + 1);
                CanonicalKey::from_bytes([made.get(); 32])
            })
        };
        let post = http::Method::POST;
        let first = key_of(&post, "h/v1/chat/completions", None);
        assert_eq!(key_of(&post, "h/v1/chat/completions", None), first);
        assert_eq!(made.get(), 1, "the repeat's key is the first one's");
        for (method, target, variant) in [
            (http::Method::PUT, "h/v1/chat/completions", None),
            (post.clone(), "h/v1/chat/completions?x=1", None),
            (post.clone(), "h/v1/chat/completions", Some(&[7u8; 32])),
        ] {
            assert_ne!(key_of(&method, target, variant), first);
        }
        assert_eq!(made.get(), 4, "each other request made its own");
        assert_eq!(key_of(&post, "h/v1/chat/completions", None), first);
        assert_eq!(made.get(), 4);
    }

    #[test]
    fn a_repeated_body_is_scanned_once_and_gives_the_same_facts() {
        let memo = Memo::new(SLOTS);
        let scans = Cell::new(0);
        let first = through(&memo, ApiKind::OpenAiChat, None, A, &scans);
        let again = through(&memo, ApiKind::OpenAiChat, None, A, &scans);
        assert_eq!(scans.get(), 1);
        assert!(same(&first, &again));
        assert!(same(&again, &direct(ApiKind::OpenAiChat, A)));
    }

    #[test]
    fn bodies_sharing_a_slot_take_it_over_and_stay_right() {
        let memo = Memo::new(1);
        let scans = Cell::new(0);
        for body in [A, B, A, A, B] {
            let got = through(&memo, ApiKind::OpenAiChat, None, body, &scans);
            assert!(same(&got, &direct(ApiKind::OpenAiChat, body)));
        }
        assert_eq!(
            scans.get(),
            4,
            "A, B, A scanned; A again remembered; B scanned"
        );
    }

    #[test]
    fn another_credential_or_api_is_scanned_anew() {
        let memo = Memo::new(SLOTS);
        let scans = Cell::new(0);
        let owner = fingerprint("Bearer sk-owner");
        let other = fingerprint("Bearer sk-other");
        through(&memo, ApiKind::OpenAiChat, Some(&owner), A, &scans).unwrap();
        through(&memo, ApiKind::OpenAiChat, Some(&other), A, &scans).unwrap();
        through(&memo, ApiKind::OpenAiChat, None, A, &scans).unwrap();
        through(&memo, ApiKind::OpenAiResponses, None, A, &scans).unwrap();
        assert_eq!(scans.get(), 4);
    }

    #[test]
    fn bad_and_large_bodies_are_not_remembered() {
        let memo = Memo::new(SLOTS);
        let scans = Cell::new(0);
        for _ in 0..2 {
            let bad = through(&memo, ApiKind::OpenAiChat, None, b"{not json", &scans);
            assert_eq!(bad.err(), Some(Opaque::NotJson));
        }
        let large = format!(
            r#"{{"model":"m","messages":[{{"role":"user","content":"{}"}}]}}"#,
            "x".repeat(MAX_REMEMBERED_BYTES)
        );
        for _ in 0..2 {
            through(&memo, ApiKind::OpenAiChat, None, large.as_bytes(), &scans).unwrap();
        }
        assert_eq!(scans.get(), 4);
    }

    proptest::proptest! {
        /// Whatever the bodies and however they collide in a small table,
        /// what comes out is what a scan gives.
        #[test]
        fn remembered_scans_equal_fresh_ones(
            bodies in proptest::collection::vec(
                proptest::prop_oneof![
                    proptest::strategy::Just(A.to_vec()),
                    proptest::strategy::Just(B.to_vec()),
                    "[ -~]{0,40}".prop_map(|text| format!(r#"{{"model":"m","x":"{text}"}}"#).into_bytes()),
                    proptest::collection::vec(proptest::num::u8::ANY, 0..40),
                ],
                1..40,
            )
        ) {
            let memo = Memo::new(3);
            let scans = Cell::new(0);
            for body in &bodies {
                let got = through(&memo, ApiKind::OpenAiChat, None, body, &scans);
                proptest::prop_assert!(same(&got, &direct(ApiKind::OpenAiChat, body)));
            }
        }
    }
}
