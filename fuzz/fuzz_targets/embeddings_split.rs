//! Splitting a batched embeddings answer among its members, on arbitrary
//! answers and shares: never panics, and a split it accepts gives each
//! member exactly its inputs' vectors, indexed from 0, and usage shares
//! that add up to the answer's totals.
#![no_main]

use libfuzzer_sys::fuzz_target;
use llm_layers_batch::__fuzz::{split, Share};
use serde_json::Value;

// Input: a byte with the member count (mod 8), then per member a byte of
// inputs (mod 8) and a byte of weight, then the answer.
fuzz_target!(|data: &[u8]| {
    let Some((&count, rest)) = data.split_first() else {
        return;
    };
    let count = count as usize % 8;
    if rest.len() < count * 2 {
        return;
    }
    let (head, answer) = rest.split_at(count * 2);
    let shares: Vec<Share> = head
        .chunks_exact(2)
        .map(|pair| Share {
            inputs: pair[0] as usize % 8,
            weight: pair[1] as u64,
        })
        .collect();
    let Some(bodies) = split(answer, &shares) else {
        return;
    };
    assert_eq!(bodies.len(), shares.len());
    let whole: Value = serde_json::from_slice(answer).expect("accepted: JSON");
    let mut sums = std::collections::BTreeMap::<String, u64>::new();
    for (share, body) in shares.iter().zip(&bodies) {
        let own: Value = serde_json::from_slice(body).expect("a member's body is JSON");
        let data = own["data"].as_array().expect("a data list");
        assert_eq!(data.len(), share.inputs);
        for (index, item) in data.iter().enumerate() {
            assert_eq!(item["index"].as_u64(), Some(index as u64));
        }
        if let Some(usage) = own.get("usage").and_then(Value::as_object) {
            for (name, value) in usage {
                if let Some(n) = value.as_u64() {
                    *sums.entry(name.clone()).or_default() += n;
                }
            }
        }
    }
    if let Some(usage) = whole.get("usage").and_then(Value::as_object) {
        for (name, value) in usage {
            if let (Some(total), false) = (value.as_u64(), shares.is_empty()) {
                assert_eq!(sums.get(name).copied().unwrap_or(0), total, "{name}");
            }
        }
    }
});
