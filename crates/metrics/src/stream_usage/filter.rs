//! Taking the usage the layer asked for back out of a chat stream, event
//! by event as the stream passes: the usage-only chunk (`"choices":[]`
//! with a usage object) is dropped, and the `"usage":null` member every
//! other chunk carries is removed. Pure but for the body plumbing.

use std::pin::Pin;
use std::task::{Context, Poll};

use bytes::{Bytes, BytesMut};
use http_body::{Body, Frame, SizeHint};
use memchr::memmem;
use pin_project_lite::pin_project;

/// An event not ended within this many bytes is passed on as it is.
const MAX_EVENT_BYTES: usize = 1 << 20;

pin_project! {
    /// The body of a [`super::StreamUsage`] answer: the upstream's, with
    /// the added usage taken out when the layer added it.
    pub struct StreamUsageBody<B> {
        #[pin]
        inner: B,
        filtering: bool,
        pending: BytesMut,
    }
}

impl<B> StreamUsageBody<B> {
    pub(crate) fn new(inner: B, filtering: bool) -> Self {
        StreamUsageBody {
            inner,
            filtering,
            pending: BytesMut::new(),
        }
    }
}

impl<B: Body<Data = Bytes>> Body for StreamUsageBody<B> {
    type Data = Bytes;
    type Error = B::Error;

    fn poll_frame(
        self: Pin<&mut Self>,
        cx: &mut Context<'_>,
    ) -> Poll<Option<Result<Frame<Bytes>, B::Error>>> {
        let mut this = self.project();
        if !*this.filtering {
            return this.inner.poll_frame(cx);
        }
        loop {
            match this.inner.as_mut().poll_frame(cx) {
                Poll::Ready(Some(Ok(frame))) => {
                    let frame = match frame.into_data() {
                        Ok(data) => data,
                        Err(frame) => return Poll::Ready(Some(Ok(frame))),
                    };
                    this.pending.extend_from_slice(&frame);
                    let out = take_events(this.pending);
                    if !out.is_empty() {
                        return Poll::Ready(Some(Ok(Frame::data(out))));
                    }
                }
                Poll::Ready(None) => {
                    // What never ended as an event goes on as it came.
                    let rest = std::mem::take(this.pending).freeze();
                    *this.filtering = false;
                    return match rest.is_empty() {
                        true => Poll::Ready(None),
                        false => Poll::Ready(Some(Ok(Frame::data(rest)))),
                    };
                }
                other => return other,
            }
        }
    }

    fn is_end_stream(&self) -> bool {
        self.inner.is_end_stream() && self.pending.is_empty()
    }

    fn size_hint(&self) -> SizeHint {
        match self.filtering {
            true => SizeHint::default(),
            false => self.inner.size_hint(),
        }
    }
}

/// The complete events at the front of `pending`, filtered; the rest
/// stays. An overlong unfinished event is let through as it is.
fn take_events(pending: &mut BytesMut) -> Bytes {
    let Some(end) = memmem::rfind(pending, b"\n\n").map(|at| at + 2) else {
        if pending.len() > MAX_EVENT_BYTES {
            return pending.split().freeze();
        }
        return Bytes::new();
    };
    let complete = pending.split_to(end).freeze();
    filter_events(&complete)
}

/// Events (each ending in `\n\n`) without the added usage.
pub fn filter_events(events: &[u8]) -> Bytes {
    let mut out = Vec::with_capacity(events.len());
    for event in events.split_inclusive_events() {
        if is_usage_chunk(event) {
            continue;
        }
        out.extend_from_slice(&without_null_usage(event));
    }
    Bytes::from(out)
}

trait SplitEvents {
    fn split_inclusive_events(&self) -> Vec<&[u8]>;
}

impl SplitEvents for [u8] {
    /// Each event with its `\n\n`.
    fn split_inclusive_events(&self) -> Vec<&[u8]> {
        let mut events = Vec::new();
        let mut start = 0;
        for at in memmem::find_iter(self, b"\n\n") {
            if at + 2 > start {
                events.push(&self[start..at + 2]);
                start = at + 2;
            }
        }
        if start < self.len() {
            events.push(&self[start..]);
        }
        events
    }
}

/// The chunk the option adds: `"choices":[]` and a usage object.
fn is_usage_chunk(event: &[u8]) -> bool {
    let Some(data) = data_of(event) else {
        return false;
    };
    let Ok(serde_json::Value::Object(chunk)) = serde_json::from_slice::<serde_json::Value>(data)
    else {
        return false;
    };
    chunk
        .get("choices")
        .and_then(|c| c.as_array())
        .is_some_and(Vec::is_empty)
        && chunk.get("usage").is_some_and(serde_json::Value::is_object)
}

/// The JSON of a one-line `data:` event.
fn data_of(event: &[u8]) -> Option<&[u8]> {
    let line = event.strip_suffix(b"\n\n")?;
    let data = line.strip_prefix(b"data:")?;
    let data = data.strip_prefix(b" ").unwrap_or(data);
    (!data.contains(&b'\n')).then_some(data)
}

/// The event with its `"usage":null` member taken out. The member's quotes
/// are unescaped, so it cannot sit inside a JSON string.
fn without_null_usage(event: &[u8]) -> std::borrow::Cow<'_, [u8]> {
    for pattern in [&b",\"usage\":null"[..], b"\"usage\":null,"] {
        if let Some(at) = memmem::find(event, pattern) {
            let mut out = event.to_vec();
            out.drain(at..at + pattern.len());
            return out.into();
        }
    }
    event.into()
}

#[cfg(test)]
mod tests {
    use super::*;
    use proptest::prelude::*;

    const WITH: &str = concat!(
        "data: {\"id\":\"c\",\"choices\":[{\"index\":0,\"delta\":{\"content\":\"Hi\"}}],\"usage\":null}\n\n",
        "data: {\"id\":\"c\",\"choices\":[{\"index\":0,\"delta\":{},\"finish_reason\":\"stop\"}],\"usage\":null}\n\n",
        "data: {\"id\":\"c\",\"choices\":[],\"usage\":{\"prompt_tokens\":5,\"completion_tokens\":1}}\n\n",
        "data: [DONE]\n\n"
    );
    const WITHOUT: &str = concat!(
        "data: {\"id\":\"c\",\"choices\":[{\"index\":0,\"delta\":{\"content\":\"Hi\"}}]}\n\n",
        "data: {\"id\":\"c\",\"choices\":[{\"index\":0,\"delta\":{},\"finish_reason\":\"stop\"}]}\n\n",
        "data: [DONE]\n\n"
    );

    #[test]
    fn the_added_usage_is_taken_out() {
        assert_eq!(&filter_events(WITH.as_bytes())[..], WITHOUT.as_bytes());
    }

    #[test]
    fn a_string_that_mentions_usage_is_kept() {
        let event = "data: {\"choices\":[{\"delta\":{\"content\":\"\\\"usage\\\":null\"}}]}\n\n";
        assert_eq!(&filter_events(event.as_bytes())[..], event.as_bytes());
    }

    proptest! {
        #[test]
        fn any_chunking_gives_the_same_stream(cuts in proptest::collection::vec(0usize..400, 0..12)) {
            let bytes = WITH.as_bytes();
            let mut cuts: Vec<usize> = cuts.into_iter().map(|c| c % (bytes.len() + 1)).collect();
            cuts.sort_unstable();
            let mut pending = BytesMut::new();
            let mut out = Vec::new();
            let mut at = 0;
            for cut in cuts.into_iter().chain([bytes.len()]) {
                pending.extend_from_slice(&bytes[at..cut]);
                at = cut;
                out.extend_from_slice(&take_events(&mut pending));
            }
            out.extend_from_slice(&pending);
            prop_assert_eq!(out, WITHOUT.as_bytes().to_vec());
        }
    }
}
