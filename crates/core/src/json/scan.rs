//! A validating JSON scanner that builds a flat token tree without
//! allocating per string.
//!
//! The canonical key has to be derived for every request on the hot path, and
//! parsing the body into a `serde_json::Value` costs ten times a blake3 pass
//! over the same bytes. This scanner checks the body against RFC 8259 (the
//! same grammar `serde_json` accepts, including its nesting limit of 128) and
//! records every value as a [`Node`] with its byte span, so the canonical
//! writer can sort object members and copy strings verbatim.

use std::ops::Range;

/// Nesting limit, equal to `serde_json`'s recursion limit.
pub(crate) const MAX_DEPTH: usize = 128;

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

/// Why a body is not valid JSON.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(crate) enum ScanError {
    Syntax,
    TooDeep,
    TooLarge,
}

/// Scans `input` into `nodes` (cleared first). The root is `nodes[0]`.
pub(crate) fn scan(input: &[u8], nodes: &mut Vec<Node>) -> Result<(), ScanError> {
    nodes.clear();
    if input.len() >= u32::MAX as usize {
        return Err(ScanError::TooLarge);
    }
    if std::str::from_utf8(input).is_err() {
        return Err(ScanError::Syntax);
    }
    let mut scanner = Scanner {
        input,
        pos: 0,
        nodes,
    };
    scanner.skip_ws();
    scanner.value(0)?;
    scanner.skip_ws();
    if scanner.pos != input.len() {
        return Err(ScanError::Syntax);
    }
    Ok(())
}

struct Scanner<'a, 'n> {
    input: &'a [u8],
    pos: usize,
    nodes: &'n mut Vec<Node>,
}

impl Scanner<'_, '_> {
    fn peek(&self) -> Option<u8> {
        self.input.get(self.pos).copied()
    }

    fn skip_ws(&mut self) {
        while let Some(b' ' | b'\t' | b'\n' | b'\r') = self.peek() {
            self.pos += 1;
        }
    }

    fn push(&mut self, kind: NodeKind, start: usize) -> usize {
        let index = self.nodes.len();
        self.nodes.push(Node {
            kind,
            start: start as u32,
            end: start as u32,
            next: 0,
            escaped: false,
        });
        index
    }

    fn finish(&mut self, index: usize) {
        let next = self.nodes.len() as u32;
        let end = self.pos as u32;
        let node = &mut self.nodes[index];
        node.end = end;
        node.next = next;
    }

    fn value(&mut self, depth: usize) -> Result<(), ScanError> {
        match self.peek() {
            Some(b'{') => self.object(depth + 1),
            Some(b'[') => self.array(depth + 1),
            Some(b'"') => self.string(),
            Some(b't') => self.literal(b"true"),
            Some(b'f') => self.literal(b"false"),
            Some(b'n') => self.literal(b"null"),
            Some(b'-' | b'0'..=b'9') => self.number(),
            _ => Err(ScanError::Syntax),
        }
    }

    fn object(&mut self, depth: usize) -> Result<(), ScanError> {
        if depth > MAX_DEPTH {
            return Err(ScanError::TooDeep);
        }
        let index = self.push(NodeKind::Object, self.pos);
        self.pos += 1;
        self.skip_ws();
        if self.peek() == Some(b'}') {
            self.pos += 1;
            self.finish(index);
            return Ok(());
        }
        loop {
            if self.peek() != Some(b'"') {
                return Err(ScanError::Syntax);
            }
            self.string()?;
            self.skip_ws();
            if self.peek() != Some(b':') {
                return Err(ScanError::Syntax);
            }
            self.pos += 1;
            self.skip_ws();
            self.value(depth)?;
            self.skip_ws();
            match self.peek() {
                Some(b',') => {
                    self.pos += 1;
                    self.skip_ws();
                }
                Some(b'}') => {
                    self.pos += 1;
                    self.finish(index);
                    return Ok(());
                }
                _ => return Err(ScanError::Syntax),
            }
        }
    }

    fn array(&mut self, depth: usize) -> Result<(), ScanError> {
        if depth > MAX_DEPTH {
            return Err(ScanError::TooDeep);
        }
        let index = self.push(NodeKind::Array, self.pos);
        self.pos += 1;
        self.skip_ws();
        if self.peek() == Some(b']') {
            self.pos += 1;
            self.finish(index);
            return Ok(());
        }
        loop {
            self.value(depth)?;
            self.skip_ws();
            match self.peek() {
                Some(b',') => {
                    self.pos += 1;
                    self.skip_ws();
                }
                Some(b']') => {
                    self.pos += 1;
                    self.finish(index);
                    return Ok(());
                }
                _ => return Err(ScanError::Syntax),
            }
        }
    }

    fn string(&mut self) -> Result<(), ScanError> {
        let index = self.push(NodeKind::String, self.pos);
        self.pos += 1;
        let mut escaped = false;
        loop {
            let rest = &self.input[self.pos..];
            let Some(offset) = memchr::memchr2(b'"', b'\\', rest) else {
                return Err(ScanError::Syntax);
            };
            if has_control_byte(&rest[..offset]) {
                return Err(ScanError::Syntax);
            }
            self.pos += offset;
            if self.input[self.pos] == b'"' {
                self.pos += 1;
                self.finish(index);
                self.nodes[index].escaped = escaped;
                return Ok(());
            }
            escaped = true;
            self.escape()?;
        }
    }

    /// Validates one escape sequence at `pos` (which holds the backslash).
    fn escape(&mut self) -> Result<(), ScanError> {
        self.pos += 1;
        match self.peek() {
            Some(b'"' | b'\\' | b'/' | b'b' | b'f' | b'n' | b'r' | b't') => {
                self.pos += 1;
                Ok(())
            }
            Some(b'u') => {
                self.pos += 1;
                let unit = self.hex4()?;
                if (0xDC00..0xE000).contains(&unit) {
                    return Err(ScanError::Syntax);
                }
                if (0xD800..0xDC00).contains(&unit) {
                    if self.input.get(self.pos..self.pos + 2) != Some(b"\\u") {
                        return Err(ScanError::Syntax);
                    }
                    self.pos += 2;
                    let low = self.hex4()?;
                    if !(0xDC00..0xE000).contains(&low) {
                        return Err(ScanError::Syntax);
                    }
                }
                Ok(())
            }
            _ => Err(ScanError::Syntax),
        }
    }

    fn hex4(&mut self) -> Result<u32, ScanError> {
        let digits = self
            .input
            .get(self.pos..self.pos + 4)
            .ok_or(ScanError::Syntax)?;
        let mut value = 0u32;
        for &digit in digits {
            let nibble = (digit as char).to_digit(16).ok_or(ScanError::Syntax)?;
            value = value * 16 + nibble;
        }
        self.pos += 4;
        Ok(value)
    }

    fn literal(&mut self, word: &[u8]) -> Result<(), ScanError> {
        if self.input.get(self.pos..self.pos + word.len()) != Some(word) {
            return Err(ScanError::Syntax);
        }
        let index = self.push(NodeKind::Scalar, self.pos);
        self.pos += word.len();
        self.finish(index);
        Ok(())
    }

    fn number(&mut self) -> Result<(), ScanError> {
        let index = self.push(NodeKind::Scalar, self.pos);
        self.pos += number_length(&self.input[self.pos..]).ok_or(ScanError::Syntax)?;
        self.finish(index);
        Ok(())
    }
}

/// The length of the JSON number at the start of `bytes`:
/// `-?(0|[1-9][0-9]*)(\.[0-9]+)?([eE][+-]?[0-9]+)?`.
pub(crate) fn number_length(bytes: &[u8]) -> Option<usize> {
    let digits = |from: usize| {
        bytes[from..]
            .iter()
            .take_while(|b| b.is_ascii_digit())
            .count()
    };
    let mut pos = usize::from(bytes.first() == Some(&b'-'));
    match bytes.get(pos)? {
        b'0' => pos += 1,
        b'1'..=b'9' => pos += digits(pos),
        _ => return None,
    }
    if bytes.get(pos) == Some(&b'.') {
        let count = digits(pos + 1);
        if count == 0 {
            return None;
        }
        pos += 1 + count;
    }
    if let Some(b'e' | b'E') = bytes.get(pos) {
        pos += 1;
        if let Some(b'+' | b'-') = bytes.get(pos) {
            pos += 1;
        }
        let count = digits(pos);
        if count == 0 {
            return None;
        }
        pos += count;
    }
    Some(pos)
}

/// True when `bytes` holds a byte below 0x20, which JSON strings must escape.
/// Written as a fold so that it vectorises.
fn has_control_byte(bytes: &[u8]) -> bool {
    bytes.iter().fold(false, |found, &b| found | (b < 0x20))
}

#[cfg(test)]
mod tests {
    use super::*;

    fn valid(text: &str) -> bool {
        scan(text.as_bytes(), &mut Vec::new()).is_ok()
    }

    #[test]
    fn accepts_what_serde_json_accepts() {
        for text in [
            r#"{}"#,
            r#"[]"#,
            r#" {"a": [1, -2.5e+3, true, false, null, "x\"y\\z\u00e9\ud83d\ude00"]} "#,
            r#""plain""#,
            r#"0"#,
            r#"-0.0E-1"#,
            "{\"k\":\"caf\u{e9}\"}",
        ] {
            assert!(valid(text), "{text}");
            assert!(serde_json::from_str::<serde_json::Value>(text).is_ok());
        }
    }

    #[test]
    fn rejects_what_serde_json_rejects() {
        for text in [
            "",
            "{",
            r#"{"a" 1}"#,
            r#"{"a":1,}"#,
            r#"[1,]"#,
            r#"01"#,
            r#"1."#,
            r#"-"#,
            r#"{"a":1} x"#,
            "\"tab\there\"",
            r#""\x""#,
            r#""\ud800""#,
            r#""\udc00""#,
            r#""\u12""#,
            r#"tru"#,
            r#"{'a':1}"#,
        ] {
            assert!(!valid(text), "{text}");
            assert!(serde_json::from_str::<serde_json::Value>(text).is_err());
        }
        assert!(scan(b"\"\xff\"", &mut Vec::new()).is_err());
    }

    #[test]
    fn nesting_beyond_the_limit_is_rejected_not_overflowed() {
        let deep = "[".repeat(MAX_DEPTH + 1) + &"]".repeat(MAX_DEPTH + 1);
        assert_eq!(
            scan(deep.as_bytes(), &mut Vec::new()),
            Err(ScanError::TooDeep)
        );
        let ok = "[".repeat(MAX_DEPTH) + &"]".repeat(MAX_DEPTH);
        assert!(valid(&ok));
    }

    #[test]
    fn nodes_describe_the_tree() {
        let text = br#"{"a":[1,"b"],"c":{}}"#;
        let mut nodes = Vec::new();
        scan(text, &mut nodes).unwrap();
        let kinds: Vec<NodeKind> = nodes.iter().map(|n| n.kind).collect();
        use NodeKind::*;
        assert_eq!(
            kinds,
            [Object, String, Array, Scalar, String, String, Object]
        );
        assert_eq!(nodes[0].next as usize, nodes.len());
        assert_eq!(nodes[2].next, 5);
        assert_eq!(&text[nodes[4].span()], br#""b""#);
    }
}
