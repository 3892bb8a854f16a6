//! The work a miss through the default stack cannot skip, however its
//! layers are arranged, each part in a function of its own so that
//! callgrind can count it alone (`scripts/callgrind-vs-bare.sh floor`
//! runs this and prints instructions per call):
//!
//! - `floor_request_facts`: the request's facts, among them the canonical
//!   key (the validating scan, the canonical form, blake3 over it, the
//!   target and credential fingerprint) that the cache, the metrics and
//!   the prefix layers read;
//! - `floor_canonical_digest`: of which blake3 over the canonical body
//!   alone;
//! - `floor_answer_check`: the answer's check before it is stored (whole,
//!   valid JSON of its declared length) and its token counts, in one pass.
//!
//! ```text
//! cargo run --release -p llm-layers-core --example miss_floor -- \
//!     TEMPLATE ANSWER ITERATIONS
//! ```
//!
//! TEMPLATE is a chat body with one `%s`, which gets a new text on every
//! iteration (every request is a miss); ANSWER is the upstream's answer.

use bytes::Bytes;
use llm_layers_core::completeness::check_plain_answer;
use llm_layers_core::{ApiKind, CanonicalKey, RequestFacts};

fn main() {
    let args: Vec<String> = std::env::args().collect();
    let [_, template, answer, iterations] = args.as_slice() else {
        eprintln!("usage: miss_floor TEMPLATE ANSWER ITERATIONS");
        std::process::exit(2);
    };
    let template = std::fs::read_to_string(template).expect("the template is readable");
    let answer = std::fs::read(answer).expect("the answer is readable");
    let iterations: usize = iterations.parse().expect("ITERATIONS is a number");
    let (before, after) = template.split_once("%s").expect("the template has one %s");
    let request = http::Request::post("http://127.0.0.1:8080/v1/chat/completions")
        .header("authorization", "Bearer sk-floor")
        .header("content-type", "application/json")
        .body(())
        .expect("a valid request head");
    let (parts, ()) = request.into_parts();

    let mut input_tokens = 0;
    let mut key_bytes = 0u8;
    for iteration in 0..iterations {
        let body = Bytes::from(format!("{before}floor-{iteration}{after}"));
        let (_facts, key) = floor_request_facts(&parts, body.clone());
        key_bytes ^= key.map_or(0, |key| key.as_bytes()[1]);
        key_bytes ^= floor_canonical_digest(&body)[1];
        input_tokens += floor_answer_check(&answer).map_or(0, |usage| usage.input_tokens);
    }
    // Printed, so that nothing above is optimised away.
    println!("{iterations} iterations; {input_tokens} input tokens; {key_bytes}");
}

#[inline(never)]
fn floor_request_facts(
    parts: &http::request::Parts,
    body: Bytes,
) -> (RequestFacts, Option<CanonicalKey>) {
    let facts = RequestFacts::from_parts(parts, body);
    let key = facts.canonical_key();
    (facts, key)
}

/// blake3 over as many bytes as the canonical body has (the body less its
/// whitespace; the template's has none between tokens).
#[inline(never)]
fn floor_canonical_digest(body: &[u8]) -> [u8; 32] {
    static HASHER: std::sync::LazyLock<blake3::Hasher> =
        std::sync::LazyLock::new(|| blake3::Hasher::new_derive_key("llm-layers miss floor"));
    *HASHER.clone().update(body).finalize().as_bytes()
}

#[inline(never)]
fn floor_answer_check(answer: &[u8]) -> Option<llm_layers_core::Usage> {
    check_plain_answer(answer, Some(answer.len() as u64), ApiKind::OpenAiChat)
        .expect("the answer is whole")
}
