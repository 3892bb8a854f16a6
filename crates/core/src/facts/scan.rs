//! One pass over a request body: validated, its `model` and `stream`
//! read, and its canonical form digested, in scratch buffers reused on
//! each thread.

use std::cell::RefCell;

use super::key::body_digest;
use super::Opaque;
use crate::api::ApiKind;
use crate::facts::BodyDigest;
use crate::json::canonical::{write_canonical, CanonicalBuffers};
use crate::json::scan::{scan, Node, NodeKind, ScanError};

/// Scratch buffers reused by every scan on a thread.
pub(super) struct Scratch {
    nodes: Vec<Node>,
    canonical: CanonicalBuffers,
}

impl Default for Scratch {
    fn default() -> Self {
        Scratch::new()
    }
}

impl Scratch {
    pub(super) const fn new() -> Self {
        Scratch {
            nodes: Vec::new(),
            canonical: CanonicalBuffers::new(),
        }
    }
}

thread_local! {
    pub(super) static SCRATCH: RefCell<Scratch> = const { RefCell::new(Scratch::new()) };
}

/// Scratch buffers larger than this are released after use.
const SCRATCH_KEEP_BYTES: usize = 1 << 20;

pub(super) struct ScannedBody {
    pub model: Option<String>,
    pub stream: bool,
    pub digest: BodyDigest,
}

pub(super) fn scan_body(
    body: &[u8],
    kind: ApiKind,
    scratch: &mut Scratch,
) -> Result<ScannedBody, Opaque> {
    let result = scan_into(body, kind, scratch);
    if scratch.nodes.capacity() * std::mem::size_of::<Node>() > SCRATCH_KEEP_BYTES {
        scratch.nodes = Vec::new();
    }
    if scratch.canonical.capacity_bytes() > SCRATCH_KEEP_BYTES {
        scratch.canonical = CanonicalBuffers::new();
    }
    result
}

fn scan_into(body: &[u8], kind: ApiKind, scratch: &mut Scratch) -> Result<ScannedBody, Opaque> {
    scan(body, &mut scratch.nodes).map_err(|error| match error {
        ScanError::TooDeep => Opaque::TooDeep,
        ScanError::Syntax | ScanError::TooLarge => Opaque::NotJson,
    })?;
    let nodes = &scratch.nodes;
    if nodes[0].kind != NodeKind::Object {
        return Err(Opaque::NotObject);
    }
    write_canonical(body, nodes, kind.key_exclusions(), &mut scratch.canonical);
    let digest = body_digest(&scratch.canonical.out);
    let mut model = None;
    let mut stream = false;
    let mut child = 1;
    while child < nodes[0].next {
        let key = nodes[child as usize];
        let value = nodes[key.next as usize];
        match &body[key.span()] {
            b"\"model\"" if value.kind == NodeKind::String => {
                model = string_value(body, &value);
            }
            b"\"stream\"" => stream = &body[value.span()] == b"true",
            _ => {}
        }
        child = value.next;
    }
    Ok(ScannedBody {
        model,
        stream,
        digest,
    })
}

/// The text of a scanned string node.
fn string_value(body: &[u8], node: &Node) -> Option<String> {
    let raw = &body[node.span()];
    if node.escaped {
        return serde_json::from_slice(raw).ok();
    }
    let inner = &raw[1..raw.len() - 1];
    std::str::from_utf8(inner).ok().map(str::to_owned)
}
