//! Splitting a batched answer among its members: each gets its own
//! vectors, in its own order, with its own `index` values, and its share
//! of `usage` (apportioned by estimated tokens, the shares adding up to the
//! upstream's figures exactly). Pure: no I/O.

use bytes::Bytes;
use serde_json::{Map, Value};

/// One member's place in the batch: how many inputs, and their weight.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Share {
    /// Inputs the member sent.
    pub inputs: usize,
    /// Their estimated tokens.
    pub weight: u64,
}

/// Each member's answer body, in member order; `None` when the answer is
/// not an embeddings list holding exactly one item per input.
pub fn split(answer: &[u8], shares: &[Share]) -> Option<Vec<Bytes>> {
    let mut top: Map<String, Value> = serde_json::from_slice(answer).ok()?;
    let Value::Array(mut data) = top.remove("data")? else {
        return None;
    };
    let total: usize = shares.iter().map(|share| share.inputs).sum();
    if data.len() != total {
        return None;
    }
    data.sort_by_key(|item| {
        item.get("index")
            .and_then(Value::as_u64)
            .unwrap_or(u64::MAX)
    });
    let in_order = data
        .iter()
        .enumerate()
        .all(|(i, item)| item.get("index").and_then(Value::as_u64) == Some(i as u64));
    if !in_order {
        return None;
    }
    let usage = top.remove("usage");
    let weights: Vec<u64> = shares.iter().map(|share| share.weight).collect();
    let usages = usage.as_ref().map(|usage| split_usage(usage, &weights));
    let mut items = data.into_iter();
    let mut bodies = Vec::with_capacity(shares.len());
    for (member, share) in shares.iter().enumerate() {
        let mut own = top.clone();
        let vectors: Vec<Value> = items
            .by_ref()
            .take(share.inputs)
            .enumerate()
            .map(|(index, mut item)| {
                item["index"] = Value::from(index);
                item
            })
            .collect();
        own.insert("data".into(), Value::Array(vectors));
        if let Some(usages) = &usages {
            own.insert("usage".into(), usages[member].clone());
        }
        bodies.push(Bytes::from(serde_json::to_vec(&own).ok()?));
    }
    Some(bodies)
}

/// Every whole-number member of `usage` apportioned by `weights`; other
/// members copied as they are.
fn split_usage(usage: &Value, weights: &[u64]) -> Vec<Value> {
    let mut shares = vec![usage.clone(); weights.len()];
    let Some(fields) = usage.as_object() else {
        return shares;
    };
    for (name, value) in fields {
        let Some(total) = value.as_u64() else {
            continue;
        };
        for (share, part) in shares.iter_mut().zip(apportion(total, weights)) {
            share[name.as_str()] = Value::from(part);
        }
    }
    shares
}

/// `total` split in proportion to `weights` (equally when they are all
/// zero), by largest remainders: whole numbers that add up to `total`.
pub(crate) fn apportion(total: u64, weights: &[u64]) -> Vec<u64> {
    if weights.is_empty() {
        return Vec::new();
    }
    let all_zero = weights.iter().all(|&w| w == 0);
    let weights: Vec<u128> = weights
        .iter()
        .map(|&w| if all_zero { 1 } else { u128::from(w) })
        .collect();
    let sum: u128 = weights.iter().sum();
    let total = u128::from(total);
    let mut parts: Vec<u128> = weights.iter().map(|w| total * w / sum).collect();
    let mut remainders: Vec<(u128, usize)> = weights
        .iter()
        .enumerate()
        .map(|(i, w)| (total * w % sum, i))
        .collect();
    // Largest remainder first; ties to the earlier member.
    remainders.sort_by(|a, b| b.0.cmp(&a.0).then(a.1.cmp(&b.1)));
    let left = total - parts.iter().sum::<u128>();
    for &(_, i) in remainders.iter().take(left as usize) {
        parts[i] += 1;
    }
    parts.into_iter().map(|part| part as u64).collect()
}

#[cfg(test)]
mod tests {
    use super::*;
    use proptest::prelude::*;
    use serde_json::json;

    #[test]
    fn members_get_their_own_vectors_indexes_and_usage() {
        let answer = json!({
            "object": "list",
            "model": "text-embedding-3-small",
            "data": [
                {"object": "embedding", "index": 2, "embedding": [0.3]},
                {"object": "embedding", "index": 0, "embedding": [0.1]},
                {"object": "embedding", "index": 1, "embedding": [0.2]}
            ],
            "usage": {"prompt_tokens": 10, "total_tokens": 10}
        });
        let shares = [
            Share {
                inputs: 1,
                weight: 3,
            },
            Share {
                inputs: 2,
                weight: 2,
            },
        ];
        let bodies = split(answer.to_string().as_bytes(), &shares).unwrap();
        let first: Value = serde_json::from_slice(&bodies[0]).unwrap();
        let second: Value = serde_json::from_slice(&bodies[1]).unwrap();
        assert_eq!(
            first["data"],
            json!([{"object": "embedding", "index": 0, "embedding": [0.1]}])
        );
        assert_eq!(second["data"][0]["embedding"], json!([0.2]));
        assert_eq!(
            second["data"][1],
            json!({"object": "embedding", "index": 1, "embedding": [0.3]})
        );
        assert_eq!(
            first["usage"],
            json!({"prompt_tokens": 6, "total_tokens": 6})
        );
        assert_eq!(
            second["usage"],
            json!({"prompt_tokens": 4, "total_tokens": 4})
        );
        assert_eq!(first["model"], "text-embedding-3-small");
    }

    #[test]
    fn answers_that_do_not_fit_the_batch_are_refused() {
        let shares = [
            Share {
                inputs: 1,
                weight: 1,
            },
            Share {
                inputs: 1,
                weight: 1,
            },
        ];
        for answer in [
            json!({"data": [{"index": 0}]}),
            json!({"data": [{"index": 0}, {"index": 0}]}),
            json!({"data": [{"index": 0}, {"index": 5}]}),
            json!({"data": "no"}),
            json!({"error": {"message": "bad"}}),
        ] {
            assert!(
                split(answer.to_string().as_bytes(), &shares).is_none(),
                "{answer}"
            );
        }
        assert!(split(b"not json", &shares).is_none());
    }

    proptest! {
        #[test]
        fn shares_add_up_and_follow_the_weights(total in 0u64..1_000_000, weights in proptest::collection::vec(0u64..10_000, 1..64)) {
            let parts = apportion(total, &weights);
            prop_assert_eq!(parts.len(), weights.len());
            prop_assert_eq!(parts.iter().sum::<u64>(), total);
            let sum: u64 = weights.iter().sum();
            if sum > 0 {
                for (part, weight) in parts.iter().zip(&weights) {
                    let exact = total as f64 * *weight as f64 / sum as f64;
                    prop_assert!((*part as f64 - exact).abs() < 1.0 + 1e-9, "{part} vs {exact}");
                }
            }
        }

        #[test]
        fn arbitrary_answers_never_panic(bytes in proptest::collection::vec(any::<u8>(), 0..256), inputs in 1usize..4) {
            let shares = vec![Share { inputs, weight: 1 }; 2];
            let _ = split(&bytes, &shares);
        }
    }
}
