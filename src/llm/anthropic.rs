//! Anthropic Messages API (`POST {base_url}/messages`). The system prompt is one text block
//! marked `cache_control: ephemeral`, so the stable prefix (role, rules, output schema) is read
//! from Anthropic's prompt cache on every call after the first.

use super::http::{client, post_json, redact};
use super::{Completion, CompletionModel, CompletionRequest, LlmError, Usage};
use async_trait::async_trait;
use serde_json::{json, Value};
use std::time::Duration;

pub const DEFAULT_BASE_URL: &str = "https://api.anthropic.com/v1";
pub const DEFAULT_VERSION: &str = "2023-06-01";

/// The Messages API. The key travels only in the `x-api-key` header; `Debug` and every error
/// redact it.
#[derive(Clone)]
pub struct Anthropic {
    base_url: String,
    api_key: String,
    version: String,
    name: String,
    client: reqwest::Client,
}

impl std::fmt::Debug for Anthropic {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Anthropic")
            .field("name", &self.name)
            .field("base_url", &self.base_url)
            .field("api_key", &"[redacted]")
            .field("version", &self.version)
            .finish()
    }
}

impl Anthropic {
    pub fn new(api_key: impl Into<String>) -> Anthropic {
        Anthropic {
            base_url: DEFAULT_BASE_URL.to_string(),
            api_key: api_key.into(),
            version: DEFAULT_VERSION.to_string(),
            name: "anthropic".to_string(),
            client: client(Duration::from_secs(600)),
        }
    }

    /// Another API root (a proxy, or a test server), e.g. `http://127.0.0.1:9000/v1`.
    pub fn with_base_url(mut self, base_url: impl Into<String>) -> Anthropic {
        self.base_url = base_url.into().trim_end_matches('/').to_string();
        self
    }

    /// The `anthropic-version` header.
    pub fn with_version(mut self, version: impl Into<String>) -> Anthropic {
        self.version = version.into();
        self
    }

    /// A hard ceiling on one HTTP exchange, independent of the scheduler's per-call timeout.
    pub fn with_http_timeout(mut self, timeout: Duration) -> Anthropic {
        self.client = client(timeout);
        self
    }

    pub fn base_url(&self) -> &str {
        &self.base_url
    }

    /// The system text: the request's system prompt, then (when a schema is set) the schema.
    /// Both are stable across calls, so the cached prefix covers the schema too. The Messages
    /// API has no schema-constrained decoding, so the reply is parsed as text.
    pub fn system_text(req: &CompletionRequest) -> String {
        match &req.json_schema {
            None => req.system.clone(),
            Some(schema) => format!(
                "{}\n\nReply with one JSON value that follows this JSON schema, and nothing \
                 else (no prose, no Markdown fences):\n{}",
                req.system, schema
            ),
        }
    }

    /// The request body, exactly as sent.
    pub fn body(&self, req: &CompletionRequest) -> Value {
        json!({
            "model": req.model,
            "max_tokens": req.max_tokens,
            "temperature": req.temperature,
            "system": [{
                "type": "text",
                "text": Self::system_text(req),
                "cache_control": {"type": "ephemeral"},
            }],
            "messages": [{"role": "user", "content": req.user}],
        })
    }

    fn parse(&self, v: &Value, latency: Duration) -> Result<Completion, LlmError> {
        if v.get("type").and_then(Value::as_str) == Some("error") {
            return Err(LlmError::Transient {
                provider: self.name.clone(),
                detail: redact(
                    &format!("error in a 200 reply: {}", v["error"]),
                    Some(&self.api_key),
                ),
            });
        }
        let blocks =
            v.get("content")
                .and_then(Value::as_array)
                .ok_or_else(|| LlmError::Transient {
                    provider: self.name.clone(),
                    detail: "reply has no content".to_string(),
                })?;
        // Text blocks only: thinking blocks are the model's scratchpad, not its answer.
        let text: String = blocks
            .iter()
            .filter(|b| b.get("type").and_then(Value::as_str) == Some("text"))
            .filter_map(|b| b.get("text").and_then(Value::as_str))
            .collect();
        let stop = v.get("stop_reason").and_then(Value::as_str);
        Ok(Completion {
            text,
            usage: usage(v.get("usage")),
            truncated: stop == Some("max_tokens"),
            latency,
        })
    }
}

fn count(u: &Value, key: &str) -> u64 {
    u.get(key).and_then(Value::as_u64).unwrap_or(0)
}

/// Anthropic reports the three kinds of input separately (`input_tokens` excludes the cached
/// ones), so they map one to one.
fn usage(u: Option<&Value>) -> Usage {
    let Some(u) = u.filter(|u| u.is_object()) else {
        return Usage::missing();
    };
    Usage {
        input_uncached: count(u, "input_tokens"),
        cache_read: count(u, "cache_read_input_tokens"),
        cache_write: count(u, "cache_creation_input_tokens"),
        output: count(u, "output_tokens"),
        estimated: false,
    }
}

#[async_trait]
impl CompletionModel for Anthropic {
    fn provider(&self) -> &str {
        &self.name
    }

    async fn complete(&self, req: &CompletionRequest) -> Result<Completion, LlmError> {
        let request = self
            .client
            .post(format!("{}/messages", self.base_url))
            .header("x-api-key", &self.api_key)
            .header("anthropic-version", &self.version);
        let (v, latency) =
            post_json(&self.name, request, &self.body(req), Some(&self.api_key)).await?;
        self.parse(&v, latency)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn body_caches_the_system_block_with_the_schema() {
        let p = Anthropic::new("k").with_base_url("http://x/v1/");
        assert_eq!(p.base_url(), "http://x/v1");
        let req = CompletionRequest {
            role: "planner".into(),
            model: "claude".into(),
            system: "rules".into(),
            user: "question".into(),
            max_tokens: 10,
            temperature: 0.0,
            json_schema: Some(json!({"type": "object"})),
        };
        let b = p.body(&req);
        assert_eq!(b["system"][0]["cache_control"]["type"], "ephemeral");
        let text = b["system"][0]["text"].as_str().unwrap();
        assert!(text.starts_with("rules") && text.contains(r#"{"type":"object"}"#));
        assert_eq!(b["messages"][0]["content"], "question");
    }

    #[test]
    fn usage_and_truncation() {
        let p = Anthropic::new("k");
        let c = p
            .parse(
                &json!({
                    "content": [{"type": "thinking", "thinking": "hmm"}, {"type": "text", "text": "{}"}],
                    "stop_reason": "max_tokens",
                    "usage": {"input_tokens": 5, "cache_read_input_tokens": 100,
                              "cache_creation_input_tokens": 0, "output_tokens": 9}
                }),
                Duration::ZERO,
            )
            .unwrap();
        assert_eq!(c.text, "{}");
        assert!(c.truncated);
        assert_eq!(c.usage.cache_read, 100);
        assert_eq!(c.usage.input_total(), 105);
    }

    #[test]
    fn debug_redacts_key() {
        let d = format!("{:?}", Anthropic::new("sk-ant-secret"));
        assert!(!d.contains("sk-ant-secret"));
    }
}
