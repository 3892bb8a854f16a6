//! An incremental Server-Sent Events parser.
//!
//! Follows the WHATWG event-stream rules: lines end with LF, CRLF or CR (a
//! CRLF split across two chunks counts once), `data:` lines of one event are
//! joined with `\n`, lines starting with `:` are comments, an event is
//! dispatched at a blank line and only if it has data, an unfinished event at
//! the end of the stream is dropped. Chunks may split the stream at any byte.
//! Memory is bounded: an event larger than the limit is skipped and counted.
//!
//! ```
//! use llm_layers_core::sse::SseParser;
//!
//! let mut parser = SseParser::new();
//! let mut events = Vec::new();
//! parser.feed(b"event: message_start\r\ndata: {\"a\"", |e| events.push(e.clone()));
//! parser.feed(b":1}\r\n\r\ndata: [DONE]\n\n", |e| events.push(e.clone()));
//! assert_eq!(events[0].event.as_deref(), Some("message_start"));
//! assert_eq!(events[0].data, "{\"a\":1}");
//! assert!(events[1].is_done());
//! ```

/// One dispatched event.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct SseEvent {
    /// The `event:` name, if the event had one.
    pub event: Option<String>,
    /// The `data:` lines joined with `\n`.
    pub data: String,
    /// The last `id:` seen, if any.
    pub id: Option<String>,
}

impl SseEvent {
    /// OpenAI's end-of-stream marker, `data: [DONE]`.
    pub fn is_done(&self) -> bool {
        self.data == "[DONE]"
    }
}

/// Default limit on one event's size: 16 MiB.
pub const DEFAULT_MAX_EVENT_BYTES: usize = 16 << 20;

/// The parser's state between chunks.
///
/// Events are handed to the callback by reference and their buffers are
/// reused for the next event, so parsing allocates nothing per event once
/// warm; clone an event to keep it.
#[derive(Debug)]
pub struct SseParser {
    /// A line not yet terminated.
    line: Vec<u8>,
    /// The event being assembled (`data` without its final newline).
    current: SseEvent,
    has_data: bool,
    /// The previous chunk ended in CR: a leading LF belongs to that line end.
    after_cr: bool,
    /// The current event went over the limit and is being skipped.
    skipping: bool,
    /// The line being read is part of a skipped event: drop it at its end.
    discarding_line: bool,
    max_event_bytes: usize,
    oversized_events: u64,
}

impl Default for SseParser {
    fn default() -> Self {
        Self::new()
    }
}

impl SseParser {
    /// A parser with the default event size limit.
    pub fn new() -> Self {
        Self::with_max_event_bytes(DEFAULT_MAX_EVENT_BYTES)
    }

    /// A parser that skips events larger than `max_event_bytes`.
    pub fn with_max_event_bytes(max_event_bytes: usize) -> Self {
        SseParser {
            line: Vec::new(),
            current: SseEvent::default(),
            has_data: false,
            after_cr: false,
            skipping: false,
            discarding_line: false,
            max_event_bytes,
            oversized_events: 0,
        }
    }

    /// How many events were skipped for being over the limit.
    pub fn oversized_events(&self) -> u64 {
        self.oversized_events
    }

    /// Feeds the next chunk of the stream, calling `on_event` for each event
    /// completed by it.
    pub fn feed(&mut self, mut chunk: &[u8], mut on_event: impl FnMut(&SseEvent)) {
        // An empty chunk must not forget a CR that ended the previous one.
        if chunk.is_empty() {
            return;
        }
        if self.after_cr {
            self.after_cr = false;
            if let Some(rest) = chunk.strip_prefix(b"\n") {
                chunk = rest;
            }
        }
        while !chunk.is_empty() {
            let Some(end) = memchr::memchr2(b'\n', b'\r', chunk) else {
                self.buffer_partial_line(chunk);
                return;
            };
            let terminator = chunk[end];
            let mut next = end + 1;
            if terminator == b'\r' {
                match chunk.get(next) {
                    Some(b'\n') => next += 1,
                    Some(_) => {}
                    None => self.after_cr = true,
                }
            }
            if self.discarding_line {
                self.discarding_line = false;
            } else if self.line.is_empty() {
                self.process_line(&chunk[..end], &mut on_event);
            } else {
                self.buffer_partial_line(&chunk[..end]);
                if self.discarding_line {
                    self.discarding_line = false;
                } else {
                    let line = std::mem::take(&mut self.line);
                    self.process_line(&line, &mut on_event);
                    self.line = line;
                    self.line.clear();
                }
            }
            chunk = &chunk[next..];
        }
    }

    /// Ends the stream. An event without its closing blank line is dropped,
    /// as the standard says; returns whether one was.
    pub fn finish(&mut self) -> bool {
        let unfinished = self.has_data || !self.line.is_empty();
        self.reset_event();
        self.line.clear();
        self.discarding_line = false;
        self.after_cr = false;
        unfinished
    }

    fn buffer_partial_line(&mut self, bytes: &[u8]) {
        if self.discarding_line {
            return;
        }
        if self.line.len() + self.current.data.len() + bytes.len() > self.max_event_bytes {
            if !self.skipping {
                self.start_skipping();
            }
            self.line.clear();
            self.discarding_line = true;
            return;
        }
        self.line.extend_from_slice(bytes);
    }

    fn start_skipping(&mut self) {
        self.skipping = true;
        self.oversized_events += 1;
        self.line = Vec::new();
        self.current.data = String::new();
        self.has_data = false;
    }

    fn process_line(&mut self, line: &[u8], on_event: &mut impl FnMut(&SseEvent)) {
        if line.is_empty() {
            self.dispatch(on_event);
            return;
        }
        if self.skipping || line[0] == b':' {
            return;
        }
        let (field, value) = match memchr::memchr(b':', line) {
            Some(colon) => {
                let value = &line[colon + 1..];
                (&line[..colon], value.strip_prefix(b" ").unwrap_or(value))
            }
            None => (line, &b""[..]),
        };
        match field {
            b"data" => {
                if self.current.data.len() + value.len() + 1 > self.max_event_bytes {
                    self.start_skipping();
                    return;
                }
                if self.has_data {
                    self.current.data.push('\n');
                }
                match std::str::from_utf8(value) {
                    Ok(text) => self.current.data.push_str(text),
                    Err(_) => self.current.data.push_str(&String::from_utf8_lossy(value)),
                }
                self.has_data = true;
            }
            b"event" => self.current.event = Some(lossy(value)),
            b"id" if !value.contains(&0) => self.current.id = Some(lossy(value)),
            _ => {}
        }
    }

    fn dispatch(&mut self, on_event: &mut impl FnMut(&SseEvent)) {
        if self.skipping {
            self.skipping = false;
            self.reset_event();
            return;
        }
        if self.has_data {
            on_event(&self.current);
        }
        self.reset_event();
    }

    /// Clears the event for the next one; the last event id persists, as
    /// the standard says.
    fn reset_event(&mut self) {
        self.current.event = None;
        self.current.data.clear();
        self.has_data = false;
        self.skipping = false;
    }
}

fn lossy(bytes: &[u8]) -> String {
    String::from_utf8_lossy(bytes).into_owned()
}

#[cfg(test)]
mod tests {
    use super::*;

    fn parse_all(chunks: &[&[u8]]) -> Vec<SseEvent> {
        let mut parser = SseParser::new();
        let mut events = Vec::new();
        for chunk in chunks {
            parser.feed(chunk, |event| events.push(event.clone()));
        }
        events
    }

    #[test]
    fn multi_line_data_comments_and_names() {
        let events =
            parse_all(&[b": keep-alive\nevent: delta\ndata: a\ndata:b\nid: 7\n\ndata: [DONE]\n\n"]);
        assert_eq!(
            events,
            vec![
                SseEvent {
                    event: Some("delta".into()),
                    data: "a\nb".into(),
                    id: Some("7".into())
                },
                SseEvent {
                    event: None,
                    data: "[DONE]".into(),
                    id: Some("7".into())
                },
            ]
        );
        assert!(events[1].is_done());
    }

    #[test]
    fn crlf_split_between_chunks_counts_once() {
        let events = parse_all(&[b"data: x\r", b"\n\r", b"\ndata: y\r\r"]);
        assert_eq!(events.len(), 2);
        assert_eq!(events[0].data, "x");
        assert_eq!(events[1].data, "y");
    }

    #[test]
    fn an_empty_chunk_between_cr_and_lf_changes_nothing() {
        let events = parse_all(&[b"data: a\r", b"", b"\ndata: b\r\n\r\n"]);
        assert_eq!(events.len(), 1);
        assert_eq!(events[0].data, "a\nb");
    }

    #[test]
    fn events_without_data_are_not_dispatched() {
        assert!(parse_all(&[b"event: ping\n\n"]).is_empty());
        let events = parse_all(&[b"event: ping\n\ndata: x\n\n"]);
        assert_eq!(events[0].event, None);
    }

    #[test]
    fn unfinished_event_is_dropped_at_the_end() {
        let mut parser = SseParser::new();
        let mut count = 0;
        parser.feed(b"data: partial", |_| count += 1);
        assert!(parser.finish());
        assert_eq!(count, 0);
    }

    #[test]
    fn oversized_events_are_skipped_and_the_stream_recovers() {
        let mut parser = SseParser::with_max_event_bytes(16);
        let mut events = Vec::new();
        parser.feed(b"data: 0123456789", |e| events.push(e.clone()));
        parser.feed(b"0123456789\ndata: more\n\n", |e| events.push(e.clone()));
        parser.feed(b"data: ok\n\n", |e| events.push(e.clone()));
        assert_eq!(parser.oversized_events(), 1);
        assert_eq!(events.len(), 1);
        assert_eq!(events[0].data, "ok");
    }
}
