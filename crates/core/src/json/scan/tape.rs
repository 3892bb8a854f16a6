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

/// Finds, while the scan validates, where the value of the first member of
/// the top-level object with one raw key (quotes included) starts.
pub(crate) struct MemberTape<'a> {
    input: &'a [u8],
    key: &'a [u8],
    /// Nodes open around the next one (0: the next is the root).
    depth: u32,
    /// Children of the root opened so far (keys and values alternate).
    children: u32,
    root_is_object: bool,
    /// A key of the root's is open: where it started.
    open_key: Option<usize>,
    /// The last key of the root's that closed is `key`.
    matched: bool,
    /// A key of the root's holds an escape (it may spell `key` otherwise),
    /// or `key` comes twice (which readers settle differently).
    unsure: bool,
    found: Option<usize>,
}

/// Where a [`MemberTape`] found the member.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(crate) enum Member {
    /// Its value starts here.
    At(usize),
    /// The root is an object without the member.
    Absent,
    /// The root is not an object, a key holds an escape, or the member
    /// comes twice.
    Unsure,
}

impl<'a> MemberTape<'a> {
    pub fn new(input: &'a [u8], key: &'a [u8]) -> Self {
        MemberTape {
            input,
            key,
            depth: 0,
            children: 0,
            root_is_object: false,
            open_key: None,
            matched: false,
            unsure: false,
            found: None,
        }
    }

    /// What the scan found (meaningful once it has validated the document).
    pub fn member(&self) -> Member {
        match self.found {
            _ if self.unsure || !self.root_is_object => Member::Unsure,
            Some(at) => Member::At(at),
            None => Member::Absent,
        }
    }
}

impl Tape for MemberTape<'_> {
    fn open(&mut self, kind: NodeKind, start: usize) -> usize {
        match self.depth {
            0 => self.root_is_object = kind == NodeKind::Object,
            1 if self.root_is_object => {
                if self.children.is_multiple_of(2) {
                    self.open_key = Some(start);
                } else if self.matched && self.found.is_none() {
                    self.found = Some(start);
                }
                self.children += 1;
            }
            _ => {}
        }
        self.depth += 1;
        0
    }

    fn close(&mut self, _: usize, end: usize, escaped: bool) {
        self.depth -= 1;
        if self.depth == 1 {
            if let Some(start) = self.open_key.take() {
                self.matched = !escaped && self.input.get(start..end) == Some(self.key);
                self.unsure |= escaped || (self.matched && self.found.is_some());
            }
        }
    }
}
