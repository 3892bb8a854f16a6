//! The server's HTTP/2 `SETTINGS_MAX_CONCURRENT_STREAMS`, read off the
//! bytes of a connection as they arrive.
//!
//! hyper keeps the peer's settings to itself, and queues a request behind
//! the limit instead of saying it was reached. The pool needs the figure to
//! open another connection instead, so the connection's reads go through a
//! [`FrameScanner`], which walks the frame headers (9 bytes each, RFC 9113
//! §4.1), skips every payload but a SETTINGS frame's, and reports each
//! setting. It never changes or holds back a byte, and costs one header
//! parse per frame.

use std::sync::atomic::{AtomicBool, AtomicU32, Ordering};

use tokio::sync::Notify;

/// Frame type of SETTINGS (RFC 9113 §6.5).
const SETTINGS: u8 = 0x4;
/// The ACK flag of a SETTINGS frame: it carries no settings.
const ACK: u8 = 0x1;
/// `SETTINGS_MAX_CONCURRENT_STREAMS`.
pub const MAX_CONCURRENT_STREAMS: u16 = 0x3;

/// Where the scanner is in the byte stream.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
enum State {
    /// Reading a frame header; `have` of its 9 bytes so far.
    Header { have: u8 },
    /// Skipping `remaining` payload bytes of a frame of another type.
    Skip { remaining: u32 },
    /// Reading a SETTINGS payload: `remaining` bytes left, `have` bytes of
    /// the current 6-byte setting so far.
    Settings { remaining: u32, have: u8 },
}

/// Walks the frames of one direction of an HTTP/2 connection.
#[derive(Clone, Debug)]
pub struct FrameScanner {
    state: State,
    header: [u8; 9],
    setting: [u8; 6],
}

impl Default for FrameScanner {
    fn default() -> Self {
        FrameScanner {
            state: State::Header { have: 0 },
            header: [0; 9],
            setting: [0; 6],
        }
    }
}

impl FrameScanner {
    /// Reads the next bytes of the stream, calling `on_setting(id, value)`
    /// for each setting of each SETTINGS frame, in order; and
    /// `on_settings_end()` at the end of each SETTINGS frame (not an ACK).
    pub fn feed(
        &mut self,
        mut bytes: &[u8],
        mut on_setting: impl FnMut(u16, u32),
        mut on_settings_end: impl FnMut(),
    ) {
        while !bytes.is_empty() {
            match self.state {
                State::Header { have } => {
                    let have = usize::from(have);
                    let take = (9 - have).min(bytes.len());
                    self.header[have..have + take].copy_from_slice(&bytes[..take]);
                    bytes = &bytes[take..];
                    if have + take < 9 {
                        self.state = State::Header {
                            have: (have + take) as u8,
                        };
                        continue;
                    }
                    let length =
                        u32::from_be_bytes([0, self.header[0], self.header[1], self.header[2]]);
                    let (kind, flags) = (self.header[3], self.header[4]);
                    self.state = if kind == SETTINGS && flags & ACK == 0 {
                        if length == 0 {
                            on_settings_end();
                            State::Header { have: 0 }
                        } else {
                            State::Settings {
                                remaining: length,
                                have: 0,
                            }
                        }
                    } else if length == 0 {
                        State::Header { have: 0 }
                    } else {
                        State::Skip { remaining: length }
                    };
                }
                State::Skip { remaining } => {
                    let take = (remaining as usize).min(bytes.len());
                    bytes = &bytes[take..];
                    let remaining = remaining - take as u32;
                    self.state = if remaining == 0 {
                        State::Header { have: 0 }
                    } else {
                        State::Skip { remaining }
                    };
                }
                State::Settings { remaining, have } => {
                    let have = usize::from(have);
                    let take = (6 - have).min(bytes.len()).min(remaining as usize);
                    self.setting[have..have + take].copy_from_slice(&bytes[..take]);
                    bytes = &bytes[take..];
                    let remaining = remaining - take as u32;
                    let have = have + take;
                    if have == 6 {
                        let id = u16::from_be_bytes([self.setting[0], self.setting[1]]);
                        let value = u32::from_be_bytes([
                            self.setting[2],
                            self.setting[3],
                            self.setting[4],
                            self.setting[5],
                        ]);
                        on_setting(id, value);
                    }
                    self.state = if remaining == 0 {
                        // A payload that is not a whole number of settings is
                        // a protocol error hyper will report; its tail is
                        // ignored here.
                        on_settings_end();
                        State::Header { have: 0 }
                    } else {
                        State::Settings {
                            remaining,
                            have: (have % 6) as u8,
                        }
                    };
                }
            }
        }
    }
}

/// What the pool learns of a connection's peer settings: the stream limit,
/// and whether the first SETTINGS frame has arrived.
#[derive(Debug)]
pub struct PeerSettings {
    max_streams: AtomicU32,
    seen: AtomicBool,
    arrived: Notify,
}

impl Default for PeerSettings {
    fn default() -> Self {
        PeerSettings {
            // Unlimited until the server says otherwise (RFC 9113 §6.5.2).
            max_streams: AtomicU32::new(u32::MAX),
            seen: AtomicBool::new(false),
            arrived: Notify::new(),
        }
    }
}

impl PeerSettings {
    /// The server's current limit on concurrent streams.
    pub fn max_streams(&self) -> u32 {
        self.max_streams.load(Ordering::Acquire)
    }

    /// Waits for the server's first SETTINGS frame.
    pub async fn arrived(&self) {
        let notified = self.arrived.notified();
        if self.seen.load(Ordering::Acquire) {
            return;
        }
        notified.await;
    }

    /// Feeds bytes read from the server through `scanner`.
    pub fn read(&self, scanner: &mut FrameScanner, bytes: &[u8]) {
        scanner.feed(
            bytes,
            |id, value| {
                if id == MAX_CONCURRENT_STREAMS {
                    self.max_streams.store(value, Ordering::Release);
                }
            },
            || {
                if !self.seen.swap(true, Ordering::AcqRel) {
                    self.arrived.notify_waiters();
                }
            },
        );
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use proptest::prelude::*;

    fn frame(kind: u8, flags: u8, payload: &[u8]) -> Vec<u8> {
        let length = (payload.len() as u32).to_be_bytes();
        let mut bytes = vec![length[1], length[2], length[3], kind, flags, 0, 0, 0, 0];
        bytes.extend_from_slice(payload);
        bytes
    }

    fn settings(pairs: &[(u16, u32)]) -> Vec<u8> {
        let payload: Vec<u8> = pairs
            .iter()
            .flat_map(|(id, value)| {
                let mut six = id.to_be_bytes().to_vec();
                six.extend_from_slice(&value.to_be_bytes());
                six
            })
            .collect();
        frame(SETTINGS, 0, &payload)
    }

    /// Every setting seen, and how many SETTINGS frames ended.
    fn scan(chunks: &[&[u8]]) -> (Vec<(u16, u32)>, usize) {
        let mut scanner = FrameScanner::default();
        let (mut seen, mut ends) = (Vec::new(), 0);
        for chunk in chunks {
            scanner.feed(chunk, |id, value| seen.push((id, value)), || ends += 1);
        }
        (seen, ends)
    }

    #[test]
    fn settings_among_other_frames_are_read_and_acks_skipped() {
        let mut stream = settings(&[(0x1, 4096), (MAX_CONCURRENT_STREAMS, 2)]);
        stream.extend(frame(SETTINGS, ACK, &[]));
        stream.extend(frame(0x0, 0x1, b"data that looks like \x00\x00\x06\x04"));
        stream.extend(frame(0x6, 0, &[0; 8]));
        stream.extend(settings(&[(MAX_CONCURRENT_STREAMS, 7)]));
        let (seen, ends) = scan(&[&stream]);
        assert_eq!(
            seen,
            [
                (0x1, 4096),
                (MAX_CONCURRENT_STREAMS, 2),
                (MAX_CONCURRENT_STREAMS, 7)
            ]
        );
        assert_eq!(ends, 2);
    }

    #[test]
    fn an_empty_settings_frame_ends_at_once() {
        assert_eq!(scan(&[&settings(&[])]), (vec![], 1));
    }

    #[test]
    fn peer_settings_take_the_latest_limit() {
        let peer = PeerSettings::default();
        assert_eq!(peer.max_streams(), u32::MAX);
        let mut scanner = FrameScanner::default();
        peer.read(&mut scanner, &settings(&[(MAX_CONCURRENT_STREAMS, 3)]));
        assert_eq!(peer.max_streams(), 3);
        peer.read(&mut scanner, &settings(&[(MAX_CONCURRENT_STREAMS, 100)]));
        assert_eq!(peer.max_streams(), 100);
    }

    proptest! {
        /// However the stream is cut into reads, the same settings are seen.
        #[test]
        fn any_chunking_reads_the_same_settings(
            frames in prop::collection::vec(
                prop_oneof![
                    prop::collection::vec((any::<u16>(), any::<u32>()), 0..4)
                        .prop_map(|pairs| settings(&pairs)),
                    (0u8..10, any::<u8>(), prop::collection::vec(any::<u8>(), 0..40))
                        .prop_filter("not a settings frame", |(kind, _, _)| *kind != SETTINGS)
                        .prop_map(|(kind, flags, payload)| frame(kind, flags, &payload)),
                ],
                0..8,
            ),
            cuts in prop::collection::vec(any::<prop::sample::Index>(), 0..12),
        ) {
            let stream: Vec<u8> = frames.concat();
            let whole = scan(&[&stream]);
            let mut points: Vec<usize> = cuts.iter().map(|cut| cut.index(stream.len() + 1)).collect();
            points.sort_unstable();
            let mut chunks = Vec::new();
            let mut start = 0;
            for point in points {
                chunks.push(&stream[start..point]);
                start = point;
            }
            chunks.push(&stream[start..]);
            prop_assert_eq!(scan(&chunks), whole);
        }

        /// Arbitrary bytes never panic the scanner.
        #[test]
        fn arbitrary_bytes_are_scanned_without_panicking(bytes in prop::collection::vec(any::<u8>(), 0..512)) {
            let _ = scan(&[&bytes]);
        }
    }
}
