//! Token usage, read from responses as they pass through, without holding them back.
//!
//! Where providers report it:
//! - non-streamed JSON: a top-level `usage` object: OpenAI chat/completions/embeddings
//!   `{prompt_tokens, completion_tokens}`, OpenAI responses and Anthropic
//!   `{input_tokens, output_tokens}` (Anthropic adds `cache_creation_input_tokens` and
//!   `cache_read_input_tokens`, counted as input);
//! - OpenAI SSE: the last chunk's `usage` (present when `stream_options.include_usage`
//!   is set, which the router adds); responses API: `response.completed` carries
//!   `response.usage`;
//! - Anthropic SSE: `message_start` carries `message.usage` (input), each
//!   `message_delta` carries the cumulative `usage.output_tokens`.
//!
//! The scanners copy bytes aside only as much as they need: the SSE scanner keeps the
//! current line, the JSON scanner keeps the body up to a bound and then only its tail
//! (usage comes last in every provider's JSON).

use memchr::memmem;
use serde_json::Value;

use crate::limits::{JSON_USAGE_FULL_BYTES, JSON_USAGE_TAIL_BYTES, SSE_MAX_LINE_BYTES};

/// Token counts of one request, as far as the provider reported them.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct Usage {
    /// Prompt/input tokens (including cached input).
    pub input: Option<u64>,
    /// Completion/output tokens.
    pub output: Option<u64>,
}

impl Usage {
    /// Input plus output (0 when unknown), what `max_tokens_per_hour` counts.
    pub fn total(&self) -> u64 {
        self.input
            .unwrap_or(0)
            .saturating_add(self.output.unwrap_or(0))
    }

    /// Overwrites the fields `other` knows (later events refine earlier ones).
    fn merge(&mut self, other: Usage) {
        if other.input.is_some() {
            self.input = other.input;
        }
        if other.output.is_some() {
            self.output = other.output;
        }
    }
}

/// Reads a usage object in any of the known shapes.
fn usage_object(usage: &Value) -> Option<Usage> {
    let obj = usage.as_object()?;
    let field = |name: &str| obj.get(name).and_then(Value::as_u64);
    let input = match (field("input_tokens"), field("prompt_tokens")) {
        (Some(n), _) => Some(
            n.saturating_add(field("cache_creation_input_tokens").unwrap_or(0))
                .saturating_add(field("cache_read_input_tokens").unwrap_or(0)),
        ),
        (None, p) => p,
    };
    let output = field("output_tokens").or_else(|| field("completion_tokens"));
    (input.is_some() || output.is_some()).then_some(Usage { input, output })
}

/// Finds usage in one JSON document (a whole response or one SSE event).
pub fn usage_in(value: &Value) -> Option<Usage> {
    value
        .get("usage")
        .and_then(usage_object)
        .or_else(|| value.get("message")?.get("usage").and_then(usage_object))
        .or_else(|| value.get("response")?.get("usage").and_then(usage_object))
}

/// Follows a `text/event-stream` body line by line.
#[derive(Debug, Default)]
pub struct SseUsageScanner {
    line: Vec<u8>,
    /// The current line outgrew [`SSE_MAX_LINE_BYTES`]: skip to its end.
    skipping: bool,
    usage: Usage,
}

impl SseUsageScanner {
    /// Feeds the next chunk of the stream, in any split.
    pub fn feed(&mut self, mut chunk: &[u8]) {
        while let Some(end) = memchr::memchr(b'\n', chunk) {
            if !self.skipping {
                self.line.extend_from_slice(&chunk[..end]);
                self.finish_line();
            }
            self.line.clear();
            self.skipping = false;
            chunk = &chunk[end + 1..];
        }
        if !self.skipping {
            self.line.extend_from_slice(chunk);
            if self.line.len() > SSE_MAX_LINE_BYTES {
                self.line.clear();
                self.skipping = true;
            }
        }
    }

    fn finish_line(&mut self) {
        let line = self.line.strip_suffix(b"\r").unwrap_or(&self.line);
        let Some(data) = line.strip_prefix(b"data:") else {
            return;
        };
        // Only events that mention usage are worth parsing.
        if memmem::find(data, b"\"usage\"").is_none() {
            return;
        }
        if let Ok(value) = serde_json::from_slice::<Value>(data.trim_ascii())
            && let Some(found) = usage_in(&value)
        {
            self.usage.merge(found);
        }
    }

    /// The usage seen so far (complete once the stream ended).
    pub fn usage(&self) -> Usage {
        self.usage
    }
}

/// Follows a JSON body; parses usage once it has ended.
#[derive(Debug, Default)]
pub struct JsonUsageScanner {
    buf: Vec<u8>,
    /// Only the tail is kept (the body outgrew [`JSON_USAGE_FULL_BYTES`]).
    truncated: bool,
}

impl JsonUsageScanner {
    /// Feeds the next chunk.
    pub fn feed(&mut self, chunk: &[u8]) {
        self.buf.extend_from_slice(chunk);
        let limit = if self.truncated {
            JSON_USAGE_TAIL_BYTES
        } else {
            JSON_USAGE_FULL_BYTES
        };
        if self.buf.len() > limit {
            let cut = self.buf.len() - JSON_USAGE_TAIL_BYTES;
            self.buf.drain(..cut);
            self.truncated = true;
        }
    }

    /// The usage in the body, once complete.
    pub fn usage(&self) -> Usage {
        if !self.truncated
            && let Ok(value) = serde_json::from_slice::<Value>(&self.buf)
        {
            return usage_in(&value).unwrap_or_default();
        }
        // A huge body (embeddings of many inputs): parse the last `"usage":` object.
        let Some(at) = memmem::rfind(&self.buf, b"\"usage\"") else {
            return Usage::default();
        };
        let rest = &self.buf[at..];
        let Some(open) = memchr::memchr(b'{', rest) else {
            return Usage::default();
        };
        let mut stream = serde_json::Deserializer::from_slice(&rest[open..]).into_iter::<Value>();
        match stream.next() {
            Some(Ok(value)) => usage_object(&value).unwrap_or_default(),
            _ => Usage::default(),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn sse(scanner: &mut SseUsageScanner, text: &str, split: usize) {
        for chunk in text.as_bytes().chunks(split) {
            scanner.feed(chunk);
        }
    }

    #[test]
    fn openai_stream_final_usage_chunk() {
        let text = "data: {\"choices\":[{\"delta\":{\"content\":\"hi\"}}],\"usage\":null}\n\n\
                    data: {\"choices\":[],\"usage\":{\"prompt_tokens\":11,\"completion_tokens\":7}}\n\n\
                    data: [DONE]\n\n";
        for split in [1, 3, 17, 4096] {
            let mut s = SseUsageScanner::default();
            sse(&mut s, text, split);
            assert_eq!(
                s.usage(),
                Usage {
                    input: Some(11),
                    output: Some(7)
                },
                "split {split}"
            );
        }
    }

    #[test]
    fn anthropic_stream_start_and_cumulative_deltas() {
        let text = "event: message_start\r\ndata: {\"type\":\"message_start\",\"message\":{\"usage\":{\"input_tokens\":25,\"cache_read_input_tokens\":5,\"output_tokens\":1}}}\r\n\r\n\
                    event: content_block_delta\r\ndata: {\"type\":\"content_block_delta\",\"delta\":{\"text\":\"usage\"}}\r\n\r\n\
                    event: message_delta\r\ndata: {\"type\":\"message_delta\",\"usage\":{\"output_tokens\":15}}\r\n\r\n\
                    event: message_delta\r\ndata: {\"type\":\"message_delta\",\"usage\":{\"output_tokens\":42}}\r\n\r\n";
        let mut s = SseUsageScanner::default();
        sse(&mut s, text, 5);
        assert_eq!(
            s.usage(),
            Usage {
                input: Some(30),
                output: Some(42)
            }
        );
    }

    #[test]
    fn responses_api_completed_event() {
        let text = "event: response.completed\ndata: {\"type\":\"response.completed\",\"response\":{\"usage\":{\"input_tokens\":3,\"output_tokens\":4}}}\n\n";
        let mut s = SseUsageScanner::default();
        sse(&mut s, text, 7);
        assert_eq!(s.usage().total(), 7);
    }

    #[test]
    fn oversized_lines_are_skipped_not_buffered() {
        let mut s = SseUsageScanner::default();
        s.feed(b"data: ");
        s.feed(&vec![b'x'; SSE_MAX_LINE_BYTES + 10]);
        assert!(s.line.len() <= SSE_MAX_LINE_BYTES);
        s.feed(b"\ndata: {\"usage\":{\"prompt_tokens\":1,\"completion_tokens\":2}}\n");
        assert_eq!(s.usage().total(), 3);
    }

    #[test]
    fn json_bodies_small_and_huge() {
        let mut s = JsonUsageScanner::default();
        s.feed(
            br#"{"id":"x","usage":{"prompt_tokens":9,"completion_tokens":1,"total_tokens":10}}"#,
        );
        assert_eq!(s.usage().total(), 10);

        let mut s = JsonUsageScanner::default();
        s.feed(br#"{"data":[{"embedding":["#);
        for _ in 0..(JSON_USAGE_FULL_BYTES / 8 + 10) {
            s.feed(b"0.12345,");
        }
        s.feed(br#"0.1]}],"usage":{"prompt_tokens":1234,"total_tokens":1234}}"#);
        assert!(s.truncated);
        assert!(s.buf.len() <= JSON_USAGE_FULL_BYTES);
        assert_eq!(
            s.usage(),
            Usage {
                input: Some(1234),
                output: None
            }
        );
    }
}
