//! The canonical form of a JSON body: object members sorted by key
//! (recursively), insignificant whitespace dropped, every string and number
//! kept exactly as it was written.
//!
//! Keys are sorted here, by their bytes, whatever `serde_json` features other
//! crates switch on: the canonical form never goes through a `serde_json`
//! map. Equal bodies written with other key orders or whitespace give the
//! same bytes; any changed value gives different bytes. A value written with
//! a different escape (`"\u0061"` against `"a"`) or number spelling (`1.0`
//! against `1`) gives different bytes too: such requests get different keys,
//! which costs a cache miss and can never serve a wrong answer.

use crate::json::scan::{Node, NodeKind};

/// Writes the canonical form of the scanned document rooted at `nodes[0]`
/// into `buffers.out`, leaving out the top-level object members whose raw key (with
/// its quotes) is in `excluded`.
pub(crate) fn write_canonical(
    input: &[u8],
    nodes: &[Node],
    excluded: &[&str],
    buffers: &mut CanonicalBuffers,
) {
    buffers.out.clear();
    buffers.members.clear();
    if nodes.is_empty() {
        return;
    }
    let mut writer = Writer {
        input,
        nodes,
        out: &mut buffers.out,
        members: &mut buffers.members,
    };
    writer.write(0, excluded);
}

/// The canonical bytes, and room for sorting object members, reused from
/// one request to the next (no allocation once they have grown).
pub(crate) struct CanonicalBuffers {
    /// The canonical form written last.
    pub out: Vec<u8>,
    /// (key node, value node) pairs of the objects being written: each
    /// object sorts its own members at the end, and removes them when done.
    members: Vec<(u32, u32)>,
}

impl CanonicalBuffers {
    /// Empty buffers (no allocation).
    pub const fn new() -> Self {
        CanonicalBuffers {
            out: Vec::new(),
            members: Vec::new(),
        }
    }

    /// Bytes held by the buffers.
    pub fn capacity_bytes(&self) -> usize {
        self.out.capacity() + self.members.capacity() * std::mem::size_of::<(u32, u32)>()
    }
}

struct Writer<'a> {
    input: &'a [u8],
    nodes: &'a [Node],
    out: &'a mut Vec<u8>,
    members: &'a mut Vec<(u32, u32)>,
}

impl Writer<'_> {
    fn raw(&self, index: u32) -> &[u8] {
        &self.input[self.nodes[index as usize].span()]
    }

    fn write(&mut self, index: u32, excluded: &[&str]) {
        let node = self.nodes[index as usize];
        match node.kind {
            NodeKind::String | NodeKind::Scalar => {
                self.out.extend_from_slice(&self.input[node.span()]);
            }
            NodeKind::Array => {
                self.out.push(b'[');
                let mut child = index + 1;
                let mut first = true;
                while child < node.next {
                    if !first {
                        self.out.push(b',');
                    }
                    first = false;
                    self.write(child, &[]);
                    child = self.nodes[child as usize].next;
                }
                self.out.push(b']');
            }
            NodeKind::Object => self.write_object(index, node, excluded),
        }
    }

    fn write_object(&mut self, index: u32, node: Node, excluded: &[&str]) {
        // This object's (key node, value node) pairs, in written order, go
        // after those of the objects around it.
        let start = self.members.len();
        let mut child = index + 1;
        while child < node.next {
            let key = child;
            let value = self.nodes[key as usize].next;
            child = self.nodes[value as usize].next;
            if !excluded.is_empty() && is_excluded(self.raw(key), excluded) {
                continue;
            }
            self.members.push((key, value));
        }
        let input = self.input;
        let nodes = self.nodes;
        // Stable, so duplicate keys keep their written order.
        self.members[start..].sort_by(|a, b| {
            input[nodes[a.0 as usize].span()].cmp(&input[nodes[b.0 as usize].span()])
        });
        let end = self.members.len();
        self.out.push(b'{');
        for position in start..end {
            // Nested objects push (and remove) their members past `end`.
            let (key, value) = self.members[position];
            if position > start {
                self.out.push(b',');
            }
            self.out
                .extend_from_slice(&input[nodes[key as usize].span()]);
            self.out.push(b':');
            self.write(value, &[]);
        }
        self.members.truncate(start);
        self.out.push(b'}');
    }
}

fn is_excluded(raw_key: &[u8], excluded: &[&str]) -> bool {
    let Some(name) = raw_key
        .strip_prefix(b"\"")
        .and_then(|key| key.strip_suffix(b"\""))
    else {
        return false;
    };
    excluded
        .iter()
        .any(|candidate| candidate.as_bytes() == name)
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::json::scan::scan;

    fn canonical(text: &str, excluded: &[&str]) -> String {
        let mut nodes = Vec::new();
        scan(text.as_bytes(), &mut nodes).unwrap();
        let mut buffers = CanonicalBuffers::new();
        write_canonical(text.as_bytes(), &nodes, excluded, &mut buffers);
        String::from_utf8(buffers.out).unwrap()
    }

    #[test]
    fn sorts_keys_recursively_and_drops_whitespace() {
        assert_eq!(
            canonical(r#" { "b" : [ {"z":1, "a":2} ], "a" : "x y" } "#, &[]),
            r#"{"a":"x y","b":[{"a":2,"z":1}]}"#
        );
    }

    #[test]
    fn nested_objects_between_members_sort_on_their_own() {
        assert_eq!(
            canonical(
                r#"{"b":{"y":1,"x":2},"a":0,"c":{"k":{"z":1,"m":[{"q":1,"p":2}]}},"0":1}"#,
                &[]
            ),
            r#"{"0":1,"a":0,"b":{"x":2,"y":1},"c":{"k":{"m":[{"p":2,"q":1}],"z":1}}}"#
        );
    }

    #[test]
    fn canonical_form_is_valid_json_equal_to_the_input() {
        let text =
            r#"{"model":"m","messages":[{"role":"user","content":"hi\n\"there\""}],"n":1.50}"#;
        let out = canonical(text, &[]);
        let a: serde_json::Value = serde_json::from_str(text).unwrap();
        let b: serde_json::Value = serde_json::from_str(&out).unwrap();
        assert_eq!(a, b);
    }

    #[test]
    fn exclusions_apply_to_top_level_members_only() {
        assert_eq!(
            canonical(r#"{"user":"u1","a":{"user":"kept"}}"#, &["user"]),
            r#"{"a":{"user":"kept"}}"#
        );
    }
}
