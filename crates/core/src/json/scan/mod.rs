//! A validating JSON scanner that builds a flat token tree without
//! allocating per string: the one JSON reader of the crate.
//!
//! The canonical key has to be derived for every request on the hot path, and
//! parsing the body into a `serde_json::Value` costs ten times a blake3 pass
//! over the same bytes. This scanner checks the body against RFC 8259 (the
//! same grammar `serde_json` accepts, including its nesting limit of 128) and
//! records every value on a [`Tape`]: as a [`Node`] with its byte span, so
//! the canonical writer can sort object members and copy strings verbatim
//! and the usage reader can pick its counts; or nowhere, to validate.

mod tape;
#[cfg(test)]
mod tests;

use tape::MemberTape;
pub(crate) use tape::{Member, NoTape, Node, NodeKind, Tape};

/// Nesting limit, equal to `serde_json`'s recursion limit.
pub(crate) const MAX_DEPTH: usize = 128;

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
    whole_document(input, nodes)
}

/// Whether `input` is one JSON document (serde_json would parse it).
pub(crate) fn is_valid(input: &[u8]) -> bool {
    whole_document(input, &mut NoTape).is_ok()
}

/// Whether `input` is one JSON document, and if so where the value of its
/// top-level member with the raw key `key` (quotes included) starts: one
/// reading for a check and a lookup.
pub(crate) fn valid_with_member(input: &[u8], key: &[u8]) -> Option<Member> {
    let mut tape = MemberTape::new(input, key);
    whole_document(input, &mut tape).ok()?;
    Some(tape.member())
}

/// Scans the one value at the start of `input` (after whitespace), which
/// may go on after it, into `tape`; returns where the value ends.
pub(crate) fn value_prefix(input: &[u8], tape: &mut impl Tape) -> Result<usize, ScanError> {
    first_value(input, tape)
}

fn whole_document(input: &[u8], tape: &mut impl Tape) -> Result<(), ScanError> {
    let end = first_value(input, tape)?;
    let trailing = &input[end..];
    if !trailing
        .iter()
        .all(|b| matches!(b, b' ' | b'\t' | b'\n' | b'\r'))
    {
        return Err(ScanError::Syntax);
    }
    Ok(())
}

/// Scans the value after any leading whitespace; where it ends.
fn first_value(input: &[u8], tape: &mut impl Tape) -> Result<usize, ScanError> {
    if input.len() >= u32::MAX as usize {
        return Err(ScanError::TooLarge);
    }
    let mut scanner = Scanner {
        input,
        pos: 0,
        tape,
    };
    scanner.skip_ws();
    scanner.value(0)?;
    Ok(scanner.pos)
}

struct Scanner<'a, 't, T> {
    input: &'a [u8],
    pos: usize,
    tape: &'t mut T,
}

impl<T: Tape> Scanner<'_, '_, T> {
    fn peek(&self) -> Option<u8> {
        self.input.get(self.pos).copied()
    }

    fn skip_ws(&mut self) {
        while let Some(b' ' | b'\t' | b'\n' | b'\r') = self.peek() {
            self.pos += 1;
        }
    }

    fn push(&mut self, kind: NodeKind, start: usize) -> usize {
        self.tape.open(kind, start)
    }

    fn finish(&mut self, index: usize) {
        self.tape.close(index, self.pos, false);
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
        self.container(NodeKind::Object, b'}', depth, |scanner| {
            if scanner.peek() != Some(b'"') {
                return Err(ScanError::Syntax);
            }
            scanner.string()?;
            scanner.skip_ws();
            if scanner.peek() != Some(b':') {
                return Err(ScanError::Syntax);
            }
            scanner.pos += 1;
            scanner.skip_ws();
            scanner.value(depth)
        })
    }

    fn array(&mut self, depth: usize) -> Result<(), ScanError> {
        self.container(NodeKind::Array, b']', depth, |scanner| scanner.value(depth))
    }

    /// An object or array at `pos`: its opening byte, then `element`s
    /// separated by commas up to `close`; recorded as one node.
    fn container(
        &mut self,
        kind: NodeKind,
        close: u8,
        depth: usize,
        mut element: impl FnMut(&mut Self) -> Result<(), ScanError>,
    ) -> Result<(), ScanError> {
        if depth > MAX_DEPTH {
            return Err(ScanError::TooDeep);
        }
        let index = self.push(kind, self.pos);
        self.pos += 1;
        self.skip_ws();
        if self.peek() == Some(close) {
            self.pos += 1;
            self.finish(index);
            return Ok(());
        }
        loop {
            element(self)?;
            self.skip_ws();
            match self.peek() {
                Some(b',') => {
                    self.pos += 1;
                    self.skip_ws();
                }
                Some(byte) if byte == close => {
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
        // Most strings (keys, roles, ids) are short and plain: looked at a
        // word at a time, which costs less than setting up a vector search.
        let plain = plain_run(&self.input[self.pos..]);
        self.pos += plain;
        if self.peek() == Some(b'"') {
            self.pos += 1;
            self.tape.close(index, self.pos, false);
            return Ok(());
        }
        loop {
            let rest = &self.input[self.pos..];
            let Some(offset) = memchr::memchr2(b'"', b'\\', rest) else {
                return Err(ScanError::Syntax);
            };
            // Bytes over 0x7f are valid only inside strings, and a UTF-8
            // sequence never holds a quote or a backslash: checking each run
            // between them checks the whole document's encoding.
            let run = &rest[..offset];
            let (control, high) = unusual_bytes(run);
            if control || (high && std::str::from_utf8(run).is_err()) {
                return Err(ScanError::Syntax);
            }
            self.pos += offset;
            if self.input[self.pos] == b'"' {
                self.pos += 1;
                self.tape.close(index, self.pos, escaped);
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

/// At most this many bytes of a string are looked at a word at a time; a
/// longer one goes on with a vector search.
const SHORT_STRING: usize = 32;

/// The length of the run at the start of `bytes` (at most
/// [`SHORT_STRING`]) of bytes a string holds as they are: not the quote,
/// not the backslash, not a control (which must be escaped), not over 0x7f
/// (checked as UTF-8 by the general path).
pub(crate) fn plain_run(bytes: &[u8]) -> usize {
    const ONES: u64 = u64::from_le_bytes([0x01; 8]);
    const HIGH_BITS: u64 = u64::from_le_bytes([0x80; 8]);
    let mut at = 0;
    while at < SHORT_STRING {
        let Some(word) = bytes.get(at..at + 8) else {
            break;
        };
        let word = u64::from_le_bytes(word.try_into().expect("eight bytes"));
        // A byte's high bit is set where it is zero after the xor (the
        // quote, the backslash) or below 0x20, or where the byte has it
        // set itself. A borrow can only mark bytes after the first
        // such byte, so the lowest mark is exact.
        let quote = word ^ (ONES * u64::from(b'"'));
        let backslash = word ^ (ONES * u64::from(b'\\'));
        let marks = ((quote.wrapping_sub(ONES) & !quote)
            | (backslash.wrapping_sub(ONES) & !backslash)
            | (word.wrapping_sub(ONES * 0x20) & !word)
            | word)
            & HIGH_BITS;
        if marks != 0 {
            return at + (marks.trailing_zeros() / 8) as usize;
        }
        at += 8;
    }
    if at >= SHORT_STRING {
        return at;
    }
    // Fewer than eight bytes left in the document.
    at + bytes[at..]
        .iter()
        .take_while(|&&byte| !ENDS_PLAIN_RUN[usize::from(byte)])
        .count()
}

/// Bytes a plain run of string bytes stops at: the quote, the backslash,
/// controls (which must be escaped) and bytes over 0x7f (checked as UTF-8
/// by the general path).
static ENDS_PLAIN_RUN: [bool; 256] = {
    let mut ends = [false; 256];
    let mut byte = 0;
    while byte < 256 {
        ends[byte] = byte < 0x20 || byte == b'"' as usize || byte == b'\\' as usize || byte > 0x7f;
        byte += 1;
    }
    ends
};

/// Whether `bytes` holds a byte below 0x20 (which JSON strings must
/// escape), and one over 0x7f (the start or rest of a UTF-8 sequence), in
/// one pass written as a fold so that it vectorises.
fn unusual_bytes(bytes: &[u8]) -> (bool, bool) {
    bytes.iter().fold((false, false), |(control, high), &b| {
        (control | (b < 0x20), high | (b > 0x7f))
    })
}
