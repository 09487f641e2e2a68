//! OpenAI-compatible Chat Completions (`POST {base_url}/chat/completions`): OpenAI, llama.cpp's
//! `llama-server`, vLLM, and the many proxies that speak the same API.

use super::http::{client, post_json, redact};
use super::{Completion, CompletionModel, CompletionRequest, LlmError, Usage};
use async_trait::async_trait;
use serde_json::{json, Value};
use std::time::Duration;

/// A Chat Completions endpoint. The API key travels only in the `Authorization` header; `Debug`
/// and every error redact it.
#[derive(Clone)]
pub struct OpenAiCompatible {
    base_url: String,
    api_key: Option<String>,
    name: String,
    max_completion_tokens: bool,
    client: reqwest::Client,
}

impl std::fmt::Debug for OpenAiCompatible {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("OpenAiCompatible")
            .field("name", &self.name)
            .field("base_url", &self.base_url)
            .field("api_key", &self.api_key.as_ref().map(|_| "[redacted]"))
            .field("max_completion_tokens", &self.max_completion_tokens)
            .finish()
    }
}

impl OpenAiCompatible {
    /// `base_url` is the API root, e.g. `http://127.0.0.1:8080/v1` or `https://api.openai.com/v1`;
    /// `name` is the provider's name in logs and the ledger ("openai", "llama.cpp"...). A local
    /// server needs no key.
    pub fn new(
        base_url: impl Into<String>,
        api_key: Option<String>,
        name: impl Into<String>,
    ) -> OpenAiCompatible {
        OpenAiCompatible {
            base_url: base_url.into().trim_end_matches('/').to_string(),
            api_key: api_key.filter(|k| !k.is_empty()),
            name: name.into(),
            max_completion_tokens: false,
            client: client(Duration::from_secs(600)),
        }
    }

    /// Sends the limit as `max_completion_tokens` instead of `max_tokens` (OpenAI's reasoning
    /// models refuse the older name; local servers only know the older one).
    pub fn with_max_completion_tokens(mut self, yes: bool) -> OpenAiCompatible {
        self.max_completion_tokens = yes;
        self
    }

    /// A hard ceiling on one HTTP exchange, independent of the scheduler's per-call timeout.
    pub fn with_http_timeout(mut self, timeout: Duration) -> OpenAiCompatible {
        self.client = client(timeout);
        self
    }

    pub fn base_url(&self) -> &str {
        &self.base_url
    }

    /// The request body, exactly as sent (system first, byte-identical across calls, so servers
    /// with a prefix cache reuse it).
    pub fn body(&self, req: &CompletionRequest) -> Value {
        let mut body = json!({
            "model": req.model,
            "messages": [
                {"role": "system", "content": req.system},
                {"role": "user", "content": req.user},
            ],
            "temperature": req.temperature,
        });
        let limit = if self.max_completion_tokens {
            "max_completion_tokens"
        } else {
            "max_tokens"
        };
        body[limit] = json!(req.max_tokens);
        if let Some(schema) = &req.json_schema {
            body["response_format"] = json!({
                "type": "json_schema",
                "json_schema": {"name": "reply", "schema": schema, "strict": true},
            });
        }
        body
    }

    fn parse(&self, v: &Value, latency: Duration) -> Result<Completion, LlmError> {
        let secret = self.api_key.as_deref();
        if let Some(err) = v.get("error").filter(|e| !e.is_null()) {
            // Some proxies answer 200 with an error object (an upstream failure): retry it.
            return Err(LlmError::Transient {
                provider: self.name.clone(),
                detail: redact(&format!("error in a 200 reply: {err}"), secret),
            });
        }
        let choice = v.pointer("/choices/0").ok_or_else(|| LlmError::Transient {
            provider: self.name.clone(),
            detail: "reply has no choices".to_string(),
        })?;
        let message = choice.get("message");
        let text = message
            .and_then(|m| m.get("content"))
            .and_then(Value::as_str)
            .unwrap_or("")
            .to_string();
        if text.is_empty() {
            if let Some(refusal) = message
                .and_then(|m| m.get("refusal"))
                .and_then(Value::as_str)
            {
                return Err(LlmError::Permanent {
                    provider: self.name.clone(),
                    detail: redact(&format!("the model refused: {refusal}"), secret),
                });
            }
        }
        let truncated = choice.get("finish_reason").and_then(Value::as_str) == Some("length");
        Ok(Completion {
            text,
            usage: usage(v.get("usage")),
            truncated,
            latency,
        })
    }
}

fn count(v: Option<&Value>) -> u64 {
    v.and_then(Value::as_u64).unwrap_or(0)
}

/// OpenAI usage: `prompt_tokens` includes the cached ones (`prompt_tokens_details.cached_tokens`).
/// llama.cpp builds without the details report `timings.cache_n` instead.
fn usage(u: Option<&Value>) -> Usage {
    let Some(u) = u.filter(|u| u.is_object()) else {
        return Usage::missing();
    };
    let prompt = count(u.get("prompt_tokens"));
    let cached = u
        .pointer("/prompt_tokens_details/cached_tokens")
        .or_else(|| u.pointer("/timings/cache_n"))
        .and_then(Value::as_u64)
        .unwrap_or(0)
        .min(prompt);
    Usage {
        input_uncached: prompt - cached,
        cache_read: cached,
        cache_write: 0,
        output: count(u.get("completion_tokens")),
        estimated: false,
    }
}

#[async_trait]
impl CompletionModel for OpenAiCompatible {
    fn provider(&self) -> &str {
        &self.name
    }

    async fn complete(&self, req: &CompletionRequest) -> Result<Completion, LlmError> {
        let secret = self.api_key.as_deref();
        let mut request = self
            .client
            .post(format!("{}/chat/completions", self.base_url));
        if let Some(key) = secret {
            request = request.bearer_auth(key);
        }
        let (v, latency) = post_json(&self.name, request, &self.body(req), secret).await?;
        self.parse(&v, latency)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn req() -> CompletionRequest {
        CompletionRequest {
            role: "reviewer-1".into(),
            model: "m".into(),
            system: "sys".into(),
            user: "user".into(),
            max_tokens: 64,
            temperature: 0.0,
            json_schema: Some(json!({"type": "object"})),
        }
    }

    #[test]
    fn body_has_messages_limit_and_schema() {
        let p = OpenAiCompatible::new("http://x/v1/", None, "llama.cpp");
        assert_eq!(p.base_url(), "http://x/v1");
        let b = p.body(&req());
        assert_eq!(b["messages"][0]["role"], "system");
        assert_eq!(b["messages"][1]["content"], "user");
        assert_eq!(b["max_tokens"], 64);
        assert_eq!(b["response_format"]["json_schema"]["strict"], true);
        let b = p.with_max_completion_tokens(true).body(&req());
        assert_eq!(b["max_completion_tokens"], 64);
        assert!(b.get("max_tokens").is_none());
    }

    #[test]
    fn usage_splits_cached_tokens() {
        let u = usage(Some(&json!({
            "prompt_tokens": 100, "completion_tokens": 7,
            "prompt_tokens_details": {"cached_tokens": 60}
        })));
        assert_eq!(
            u,
            Usage {
                input_uncached: 40,
                cache_read: 60,
                cache_write: 0,
                output: 7,
                estimated: false,
            }
        );
        assert_eq!(usage(None), Usage::missing());
    }

    #[test]
    fn debug_redacts_key() {
        let p = OpenAiCompatible::new("http://x/v1", Some("sk-secret-123".into()), "openai");
        let d = format!("{p:?}");
        assert!(!d.contains("sk-secret-123"), "{d}");
        assert!(d.contains("[redacted]"));
    }
}
