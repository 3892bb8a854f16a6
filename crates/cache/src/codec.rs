//! The byte format of a stored entry, for stores that keep bytes (disk,
//! Redis). Little-endian, versioned, every length checked on the way back:
//! bytes that do not decode are treated as a missing entry, never trusted.
//!
//! ```text
//! "LLC1" | seq u64 | status u16 | stored_at secs u64, nanos u32 | ttl ms u64
//! | header count u32, then name len u16, name, value len u32, value
//! | body kind u8: 0 = whole (len u64, bytes) | 1 = chunks (count u32, then
//!   offset µs u64, len u32, bytes)
//! ```

use std::time::{Duration, SystemTime, UNIX_EPOCH};

use bytes::Bytes;
use http::{HeaderName, HeaderValue, StatusCode};

use crate::entry::{CachedBody, CachedResponse, TimedChunk};

const MAGIC: &[u8; 4] = b"LLC1";

/// Bytes that are not an entry this version wrote.
#[derive(Debug, PartialEq, Eq, thiserror::Error)]
#[error("stored entry does not decode")]
pub struct DecodeError;

/// Encodes an entry with the store's sequence number.
pub fn encode(entry: &CachedResponse, seq: u64) -> Vec<u8> {
    let mut out = Vec::with_capacity(entry.size() + 64);
    out.extend_from_slice(MAGIC);
    out.extend_from_slice(&seq.to_le_bytes());
    out.extend_from_slice(&entry.status.as_u16().to_le_bytes());
    let since_epoch = entry
        .stored_at
        .duration_since(UNIX_EPOCH)
        .unwrap_or_default();
    out.extend_from_slice(&since_epoch.as_secs().to_le_bytes());
    out.extend_from_slice(&since_epoch.subsec_nanos().to_le_bytes());
    out.extend_from_slice(&(entry.ttl.as_millis() as u64).to_le_bytes());
    out.extend_from_slice(&(entry.headers.len() as u32).to_le_bytes());
    for (name, value) in &entry.headers {
        out.extend_from_slice(&(name.as_str().len() as u16).to_le_bytes());
        out.extend_from_slice(name.as_str().as_bytes());
        out.extend_from_slice(&(value.len() as u32).to_le_bytes());
        out.extend_from_slice(value.as_bytes());
    }
    match &entry.body {
        CachedBody::Whole(bytes) => {
            out.push(0);
            out.extend_from_slice(&(bytes.len() as u64).to_le_bytes());
            out.extend_from_slice(bytes);
        }
        CachedBody::Chunks(chunks) => {
            out.push(1);
            out.extend_from_slice(&(chunks.len() as u32).to_le_bytes());
            for chunk in chunks {
                out.extend_from_slice(&(chunk.offset.as_micros() as u64).to_le_bytes());
                out.extend_from_slice(&(chunk.bytes.len() as u32).to_le_bytes());
                out.extend_from_slice(&chunk.bytes);
            }
        }
    }
    out
}

/// Decodes an entry and its sequence number.
pub fn decode(bytes: &[u8]) -> Result<(CachedResponse, u64), DecodeError> {
    let mut reader = Reader { bytes };
    if reader.take(4)? != MAGIC {
        return Err(DecodeError);
    }
    let seq = reader.u64()?;
    let status = StatusCode::from_u16(reader.u16()?).map_err(|_| DecodeError)?;
    let secs = reader.u64()?;
    let nanos = reader.u32()?;
    let stored_at = UNIX_EPOCH
        .checked_add(Duration::new(secs, nanos.min(999_999_999)))
        .ok_or(DecodeError)?;
    let ttl = Duration::from_millis(reader.u64()?);
    let header_count = reader.u32()? as usize;
    let mut headers = Vec::with_capacity(header_count.min(256));
    for _ in 0..header_count {
        let name_len = reader.u16()? as usize;
        let name = HeaderName::from_bytes(reader.take(name_len)?).map_err(|_| DecodeError)?;
        let value_len = reader.u32()? as usize;
        let value = HeaderValue::from_bytes(reader.take(value_len)?).map_err(|_| DecodeError)?;
        headers.push((name, value));
    }
    let body = match reader.u8()? {
        0 => {
            let len = usize::try_from(reader.u64()?).map_err(|_| DecodeError)?;
            CachedBody::Whole(Bytes::copy_from_slice(reader.take(len)?))
        }
        1 => {
            let count = reader.u32()? as usize;
            let mut chunks = Vec::with_capacity(count.min(4096));
            for _ in 0..count {
                let offset = Duration::from_micros(reader.u64()?);
                let len = reader.u32()? as usize;
                chunks.push(TimedChunk {
                    offset,
                    bytes: Bytes::copy_from_slice(reader.take(len)?),
                });
            }
            CachedBody::Chunks(chunks)
        }
        _ => return Err(DecodeError),
    };
    if !reader.bytes.is_empty() {
        return Err(DecodeError);
    }
    let entry = CachedResponse {
        status,
        headers,
        body,
        stored_at: stored_at.min(SystemTime::now()),
        ttl,
        usage: Default::default(),
    };
    Ok((entry, seq))
}

struct Reader<'a> {
    bytes: &'a [u8],
}

impl<'a> Reader<'a> {
    fn take(&mut self, count: usize) -> Result<&'a [u8], DecodeError> {
        if count > self.bytes.len() {
            return Err(DecodeError);
        }
        let (head, rest) = self.bytes.split_at(count);
        self.bytes = rest;
        Ok(head)
    }

    fn array<const N: usize>(&mut self) -> Result<[u8; N], DecodeError> {
        self.take(N)?.try_into().map_err(|_| DecodeError)
    }

    fn u8(&mut self) -> Result<u8, DecodeError> {
        Ok(self.array::<1>()?[0])
    }

    fn u16(&mut self) -> Result<u16, DecodeError> {
        Ok(u16::from_le_bytes(self.array()?))
    }

    fn u32(&mut self) -> Result<u32, DecodeError> {
        Ok(u32::from_le_bytes(self.array()?))
    }

    fn u64(&mut self) -> Result<u64, DecodeError> {
        Ok(u64::from_le_bytes(self.array()?))
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use proptest::prelude::*;

    fn entry(body: CachedBody, headers: Vec<(HeaderName, HeaderValue)>) -> CachedResponse {
        CachedResponse {
            status: StatusCode::OK,
            headers,
            body,
            stored_at: UNIX_EPOCH + Duration::new(1_700_000_000, 123_000_000),
            ttl: Duration::from_secs(3600),
            usage: Default::default(),
        }
    }

    fn same(a: &CachedResponse, b: &CachedResponse) -> bool {
        let bodies = match (&a.body, &b.body) {
            (CachedBody::Whole(x), CachedBody::Whole(y)) => x == y,
            (CachedBody::Chunks(x), CachedBody::Chunks(y)) => x == y,
            _ => false,
        };
        bodies
            && a.status == b.status
            && a.headers == b.headers
            && a.stored_at == b.stored_at
            && a.ttl == b.ttl
    }

    proptest! {
        #[test]
        fn entries_round_trip(
            chunks in proptest::collection::vec((0u64..10_000_000, proptest::collection::vec(any::<u8>(), 0..64)), 0..8),
            whole in any::<bool>(),
            value in "[ -~]{0,20}",
            seq in any::<u64>(),
        ) {
            let body = if whole {
                CachedBody::Whole(Bytes::from(chunks.iter().flat_map(|(_, b)| b.clone()).collect::<Vec<u8>>()))
            } else {
                CachedBody::Chunks(chunks.iter().map(|(offset, bytes)| TimedChunk {
                    offset: Duration::from_micros(*offset),
                    bytes: Bytes::from(bytes.clone()),
                }).collect())
            };
            let headers = vec![(HeaderName::from_static("content-type"), HeaderValue::from_str(&value).unwrap())];
            let original = entry(body, headers);
            let (decoded, decoded_seq) = decode(&encode(&original, seq)).unwrap();
            prop_assert!(same(&original, &decoded));
            prop_assert_eq!(decoded_seq, seq);
        }

        #[test]
        fn arbitrary_bytes_never_panic(bytes in proptest::collection::vec(any::<u8>(), 0..256)) {
            let _ = decode(&bytes);
            let mut framed = MAGIC.to_vec();
            framed.extend_from_slice(&bytes);
            let _ = decode(&framed);
        }

        #[test]
        fn truncated_entries_do_not_decode(cut in 0usize..200) {
            let original = entry(CachedBody::Whole(Bytes::from_static(b"{\"a\":1}")), vec![]);
            let bytes = encode(&original, 7);
            prop_assume!(cut < bytes.len());
            prop_assert_eq!(decode(&bytes[..cut]).err(), Some(DecodeError));
        }
    }
}
