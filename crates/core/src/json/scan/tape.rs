//! What a scan records: nothing (validation only), or a flat tree of
//! [`Node`]s with their byte spans.

use std::ops::Range;

/// What a node is.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(crate) enum NodeKind {
    Object,
    Array,
    /// A string (a value or an object key); the span includes the quotes.
    String,
    /// A number, `true`, `false` or `null`: copied verbatim.
    Scalar,
}

/// One value of the document. Containers are followed by their children;
/// object children alternate key, value.
#[derive(Clone, Copy, Debug)]
pub(crate) struct Node {
    pub kind: NodeKind,
    pub start: u32,
    pub end: u32,
    /// Index of the first node after this node's subtree.
    pub next: u32,
    /// Whether a string contains an escape sequence.
    pub escaped: bool,
}

impl Node {
    pub fn span(&self) -> Range<usize> {
        self.start as usize..self.end as usize
    }
}

/// Where the scanner records the values it meets.
pub(crate) trait Tape {
    /// A value of `kind` starts at `start`; returns its index.
    fn open(&mut self, kind: NodeKind, start: usize) -> usize;
    /// The value at `index` ends before `end`.
    fn close(&mut self, index: usize, end: usize, escaped: bool);
}

/// Records nothing: the scan only validates.
pub(crate) struct NoTape;

impl Tape for NoTape {
    fn open(&mut self, _: NodeKind, _: usize) -> usize {
        0
    }

    fn close(&mut self, _: usize, _: usize, _: bool) {}
}

impl Tape for Vec<Node> {
    fn open(&mut self, kind: NodeKind, start: usize) -> usize {
        let index = self.len();
        self.push(Node {
            kind,
            start: start as u32,
            end: start as u32,
            next: 0,
            escaped: false,
        });
        index
    }

    fn close(&mut self, index: usize, end: usize, escaped: bool) {
        let next = self.len() as u32;
        let node = &mut self[index];
        node.end = end as u32;
        node.next = next;
        node.escaped = escaped;
    }
}
