//! The Batch API's files: the input (one request a line, each with a
//! `custom_id`) and the output (one answer a line), and the multipart body
//! that uploads the input. Pure: no I/O.

use bytes::Bytes;
use serde::Deserialize;
use serde_json::{json, Value};

/// The `custom_id` of request `index`.
pub(crate) fn custom_id(index: usize) -> String {
    format!("req-{index}")
}

/// The index a `custom_id` of ours names.
fn index_of(custom_id: &str) -> Option<usize> {
    custom_id.strip_prefix("req-")?.parse().ok()
}

/// The input file: a line per request.
pub(crate) fn input_file(endpoint: &str, bodies: &[Value]) -> Vec<u8> {
    let mut file = Vec::new();
    for (index, body) in bodies.iter().enumerate() {
        let line =
            json!({"custom_id": custom_id(index), "method": "POST", "url": endpoint, "body": body});
        file.extend_from_slice(line.to_string().as_bytes());
        file.push(b'\n');
    }
    file
}

#[derive(Deserialize)]
struct OutputLine {
    custom_id: Option<String>,
    response: Option<OutputResponse>,
}

#[derive(Deserialize)]
struct OutputResponse {
    status_code: u16,
    body: Value,
}

/// One answered request of the output file.
#[derive(Debug, PartialEq)]
pub struct Answered {
    /// The request's position in the job.
    pub index: usize,
    /// The status the provider answered it with.
    pub status: u16,
    /// The answer's body.
    pub body: Bytes,
}

/// The answers in an output file, for requests `0..count`; lines that are
/// not ours, not answers, or out of range are skipped.
pub fn output_answers(file: &[u8], count: usize) -> Vec<Answered> {
    file.split(|&b| b == b'\n')
        .filter_map(|line| serde_json::from_slice::<OutputLine>(line).ok())
        .filter_map(|line| {
            let index = index_of(line.custom_id.as_deref()?)?;
            let response = line.response?;
            let body = serde_json::to_vec(&response.body).ok()?;
            (index < count).then(|| Answered {
                index,
                status: response.status_code,
                body: Bytes::from(body),
            })
        })
        .collect()
}

/// A `multipart/form-data` body uploading `file` for `purpose=batch`, and
/// its content type.
pub(crate) fn multipart(file: &[u8]) -> (String, Bytes) {
    let boundary = format!("llm-layers-{:032x}", random());
    let mut body = Vec::with_capacity(file.len() + 300);
    body.extend_from_slice(
        format!(
            "--{boundary}\r\nContent-Disposition: form-data; name=\"purpose\"\r\n\r\nbatch\r\n\
             --{boundary}\r\nContent-Disposition: form-data; name=\"file\"; filename=\"batch.jsonl\"\r\n\
             Content-Type: application/jsonl\r\n\r\n"
        )
        .as_bytes(),
    );
    body.extend_from_slice(file);
    body.extend_from_slice(format!("\r\n--{boundary}--\r\n").as_bytes());
    (
        format!("multipart/form-data; boundary={boundary}"),
        Bytes::from(body),
    )
}

/// A boundary no JSONL line contains: 128 bits from the clock and a counter,
/// hashed.
fn random() -> u128 {
    use std::sync::atomic::{AtomicU64, Ordering};
    static COUNTER: AtomicU64 = AtomicU64::new(0);
    let seed = format!(
        "{:?}{}",
        std::time::SystemTime::now(),
        COUNTER.fetch_add(1, Ordering::Relaxed)
    );
    let hash = blake3::hash(seed.as_bytes());
    u128::from_le_bytes(hash.as_bytes()[..16].try_into().unwrap_or([0; 16]))
}

#[cfg(test)]
mod tests {
    use super::*;
    use proptest::prelude::*;

    #[test]
    fn input_lines_name_each_request_and_outputs_map_back() {
        let file = input_file("/v1/chat/completions", &[json!({"a": 1}), json!({"b": 2})]);
        let lines: Vec<Value> = file
            .split(|&b| b == b'\n')
            .filter(|l| !l.is_empty())
            .map(|l| serde_json::from_slice(l).unwrap())
            .collect();
        assert_eq!(lines[1]["custom_id"], "req-1");
        assert_eq!(lines[1]["url"], "/v1/chat/completions");
        assert_eq!(lines[1]["body"], json!({"b": 2}));
        let output = concat!(
            r#"{"custom_id":"req-1","response":{"status_code":200,"body":{"ok":true}},"error":null}"#,
            "\n",
            r#"{"custom_id":"req-0","response":{"status_code":400,"body":{"error":{}}},"error":null}"#,
            "\n",
            r#"{"custom_id":"req-9","response":{"status_code":200,"body":{}}}"#,
            "\n",
            r#"{"custom_id":"other","response":{"status_code":200,"body":{}}}"#,
            "\n",
            r#"{"custom_id":"req-0","response":null,"error":{"code":"x"}}"#,
            "\n",
            "not json\n"
        );
        let answers = output_answers(output.as_bytes(), 2);
        assert_eq!(
            answers,
            vec![
                Answered {
                    index: 1,
                    status: 200,
                    body: Bytes::from_static(br#"{"ok":true}"#)
                },
                Answered {
                    index: 0,
                    status: 400,
                    body: Bytes::from_static(br#"{"error":{}}"#)
                },
            ]
        );
    }

    #[test]
    fn the_multipart_body_carries_the_purpose_and_the_file() {
        let (content_type, body) = multipart(b"{\"x\":1}\n");
        let boundary = content_type
            .strip_prefix("multipart/form-data; boundary=")
            .unwrap();
        let text = String::from_utf8(body.to_vec()).unwrap();
        assert!(text.starts_with(&format!("--{boundary}\r\n")));
        assert!(text.contains("name=\"purpose\"\r\n\r\nbatch\r\n"));
        assert!(text.contains("filename=\"batch.jsonl\""));
        assert!(text.ends_with(&format!("\r\n--{boundary}--\r\n")));
    }

    proptest! {
        #[test]
        fn arbitrary_output_files_never_panic(bytes in proptest::collection::vec(any::<u8>(), 0..512), count in 0usize..8) {
            for answer in output_answers(&bytes, count) {
                prop_assert!(answer.index < count);
            }
        }
    }
}
