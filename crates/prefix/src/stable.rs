//! Stable serialisation: object keys sorted recursively, so the same tool
//! definitions and schemas always serialise to the same bytes whatever
//! order the client wrote them in. Arrays keep their order (it can mean
//! something); only member order, which never does in JSON, changes.

use serde_json::Value;

/// Sorts the keys of every object in `value`; true if any order changed.
pub fn sort_keys(value: &mut Value) -> bool {
    match value {
        Value::Object(map) => {
            let mut changed = !map.keys().is_sorted();
            if changed {
                map.sort_keys();
            }
            for member in map.values_mut() {
                changed |= sort_keys(member);
            }
            changed
        }
        Value::Array(items) => items
            .iter_mut()
            .fold(false, |changed, item| sort_keys(item) | changed),
        _ => false,
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use proptest::prelude::*;
    use serde_json::json;

    #[test]
    fn nested_schemas_come_out_in_one_order() {
        let mut a = json!({"type":"function","function":{"parameters":{"type":"object","properties":{"b":{"type":"string"},"a":{"type":"integer"}}},"name":"f"}});
        let mut b = json!({"function":{"name":"f","parameters":{"properties":{"a":{"type":"integer"},"b":{"type":"string"}},"type":"object"}},"type":"function"});
        assert!(sort_keys(&mut a));
        sort_keys(&mut b);
        assert_eq!(
            serde_json::to_string(&a).unwrap(),
            serde_json::to_string(&b).unwrap()
        );
        assert!(!sort_keys(&mut a), "sorting twice changes nothing");
    }

    fn json_value() -> impl Strategy<Value = Value> {
        let leaf = prop_oneof![
            Just(Value::Null),
            any::<bool>().prop_map(Value::Bool),
            any::<i64>().prop_map(Value::from),
            "[a-z]{0,6}".prop_map(Value::from),
        ];
        leaf.prop_recursive(4, 48, 6, |inner| {
            prop_oneof![
                prop::collection::vec(inner.clone(), 0..6).prop_map(Value::Array),
                prop::collection::vec(("[a-z]{1,4}", inner), 0..6)
                    .prop_map(|members| Value::Object(members.into_iter().collect())),
            ]
        })
    }

    proptest! {
        /// Sorting keeps the value (as JSON compares it) and makes the
        /// bytes independent of the member order the client used.
        #[test]
        fn sorting_keeps_the_value_and_fixes_the_bytes(value in json_value()) {
            let mut reversed = reverse_members(value.clone());
            let mut sorted = value.clone();
            sort_keys(&mut sorted);
            sort_keys(&mut reversed);
            prop_assert_eq!(&sorted, &value);
            prop_assert_eq!(serde_json::to_vec(&sorted).unwrap(), serde_json::to_vec(&reversed).unwrap());
        }
    }

    fn reverse_members(value: Value) -> Value {
        match value {
            Value::Object(map) => Value::Object(
                map.into_iter()
                    .rev()
                    .map(|(k, v)| (k, reverse_members(v)))
                    .collect(),
            ),
            Value::Array(items) => Value::Array(items.into_iter().map(reverse_members).collect()),
            other => other,
        }
    }
}
