//! OpenAI-compatible Chat Completions (`POST {base_url}/chat/completions`): OpenAI, llama.cpp's
//! `llama-server`, vLLM, and the many proxies that speak the same API.

use super::http::{client, post_json, redact};
use super::{Completion, CompletionModel, CompletionRequest, LlmError, ServerLimits, Usage};
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

    /// Local servers say what they hold: llama.cpp in `/props` (or, in older builds, `/slots`),
    /// Ollama in `/api/show` and `/api/ps`. Hosted APIs answer neither, and keep the
    /// configured window.
    async fn server_limits(&self, model: &str) -> Option<ServerLimits> {
        let root = self.base_url.strip_suffix("/v1").unwrap_or(&self.base_url);
        let probe = Probe {
            client: reqwest::Client::builder()
                .timeout(Duration::from_secs(3))
                .build()
                .ok()?,
            key: self.api_key.as_deref(),
        };
        if let Some(props) = probe.get(&format!("{root}/props")).await {
            if props.get("default_generation_settings").is_some() {
                let mut limits = llama_props(&props);
                if limits.context.is_none() || limits.slots.is_none() {
                    if let Some(slots) = probe.get(&format!("{root}/slots")).await {
                        let from_slots = llama_slots(&slots);
                        limits.context = limits.context.or(from_slots.context);
                        limits.slots = limits.slots.or(from_slots.slots);
                        limits.source = from_slots.source;
                    }
                }
                return Some(limits);
            }
        }
        let show = probe
            .post(&format!("{root}/api/show"), &json!({ "model": model }))
            .await?;
        let running = probe.get(&format!("{root}/api/ps")).await;
        Some(ollama_limits(model, &show, running.as_ref()))
    }
}

/// Short GETs and POSTs to a server's own endpoints; any failure is "no answer".
struct Probe<'a> {
    client: reqwest::Client,
    key: Option<&'a str>,
}

impl Probe<'_> {
    async fn get(&self, url: &str) -> Option<Value> {
        self.send(self.client.get(url)).await
    }

    async fn post(&self, url: &str, body: &Value) -> Option<Value> {
        self.send(self.client.post(url).json(body)).await
    }

    async fn send(&self, mut request: reqwest::RequestBuilder) -> Option<Value> {
        if let Some(key) = self.key {
            request = request.bearer_auth(key);
        }
        let reply = request.send().await.ok()?;
        if !reply.status().is_success() {
            return None;
        }
        reply.json().await.ok()
    }
}

/// Fewer tokens than this is not a context a server would run a chat model with: a broken
/// report, ignored.
const MIN_CONTEXT: u64 = 256;

fn context_of(v: Option<&Value>) -> Option<usize> {
    v.and_then(Value::as_u64)
        .filter(|&n| n >= MIN_CONTEXT)
        .map(|n| n as usize)
}

/// llama.cpp's `/props`: `default_generation_settings.n_ctx` is one slot's context (the
/// server's `-c` shared by its `--parallel` slots), `total_slots` the slots.
fn llama_props(props: &Value) -> ServerLimits {
    ServerLimits {
        context: context_of(props.pointer("/default_generation_settings/n_ctx")),
        slots: props
            .get("total_slots")
            .and_then(Value::as_u64)
            .filter(|&n| n >= 1)
            .map(|n| n as usize),
        source: "/props".into(),
        why: None,
    }
}

/// llama.cpp's `/slots`: one entry per slot, each with its `n_ctx`.
fn llama_slots(slots: &Value) -> ServerLimits {
    let list = slots.as_array().map(Vec::as_slice).unwrap_or_default();
    ServerLimits {
        context: list.iter().filter_map(|s| context_of(s.get("n_ctx"))).min(),
        slots: (!list.is_empty()).then_some(list.len()),
        source: "/slots".into(),
        why: None,
    }
}

/// The context Ollama gives a model whose Modelfile sets no `num_ctx` (and whose server has no
/// `OLLAMA_CONTEXT_LENGTH`): the smallest default Ollama has shipped. Its OpenAI-compatible
/// route cannot ask for more, and a longer prompt is cut without an error.
pub const OLLAMA_DEFAULT_CONTEXT: usize = 2048;

/// Ollama: the Modelfile's `num_ctx` (in `/api/show`'s `parameters`), else the context the
/// loaded model runs with (`/api/ps`), else Ollama's default; never more than the model was
/// trained for (`model_info`'s `<arch>.context_length`).
fn ollama_limits(model: &str, show: &Value, running: Option<&Value>) -> ServerLimits {
    let num_ctx = show
        .get("parameters")
        .and_then(Value::as_str)
        .unwrap_or("")
        .lines()
        .filter_map(|l| l.trim().strip_prefix("num_ctx"))
        .find_map(|n| n.trim().parse::<u64>().ok())
        .filter(|&n| n >= MIN_CONTEXT)
        .map(|n| n as usize);
    let loaded = running
        .and_then(|ps| ps.get("models"))
        .and_then(Value::as_array)
        .and_then(|models| {
            models.iter().find(|m| {
                [m.get("name"), m.get("model")]
                    .into_iter()
                    .flatten()
                    .any(|n| n.as_str() == Some(model))
            })
        })
        .and_then(|m| context_of(m.get("context_length")));
    let trained = show
        .get("model_info")
        .and_then(Value::as_object)
        .and_then(|info| {
            info.iter()
                .find(|(k, _)| k.ends_with(".context_length"))
                .and_then(|(_, v)| context_of(Some(v)))
        });
    let (context, why) = match (num_ctx, loaded) {
        (Some(n), _) => (n, format!("its Modelfile sets num_ctx {n}")),
        (None, Some(n)) => (n, format!("the loaded model runs with {n} (/api/ps)")),
        (None, None) => (
            OLLAMA_DEFAULT_CONTEXT,
            format!(
                "no num_ctx is set, so Ollama's default applies and longer prompts are cut; set num_ctx in a Modelfile to give {model} more"
            ),
        ),
    };
    ServerLimits {
        context: Some(trained.map_or(context, |t| t.min(context))),
        slots: None,
        source: "/api/show".into(),
        why: Some(why),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn llama_cpp_reports_its_slot_context_and_slots() {
        let props = json!({"default_generation_settings": {"n_ctx": 2048}, "total_slots": 4});
        let l = llama_props(&props);
        assert_eq!((l.context, l.slots), (Some(2048), Some(4)));
        // Older builds: nothing in /props, the slots list says it.
        let l = llama_props(&json!({"default_generation_settings": {}}));
        assert_eq!((l.context, l.slots), (None, None));
        let slots = json!([{"id": 0, "n_ctx": 1024}, {"id": 1, "n_ctx": 1024}]);
        let l = llama_slots(&slots);
        assert_eq!((l.context, l.slots), (Some(1024), Some(2)));
        // Nonsense is no answer.
        assert_eq!(
            llama_props(&json!({"default_generation_settings": {"n_ctx": 3}})).context,
            None
        );
    }

    #[test]
    fn ollama_runs_a_model_with_num_ctx_or_its_default_never_past_the_trained_context() {
        let info = json!({"gemma3.context_length": 32768});
        let set = json!({"parameters": "temperature 1\nnum_ctx 8192", "model_info": info});
        assert_eq!(ollama_limits("g", &set, None).context, Some(8192));
        let unset = json!({"parameters": "temperature 1", "model_info": info});
        let l = ollama_limits("g", &unset, None);
        assert_eq!(l.context, Some(OLLAMA_DEFAULT_CONTEXT));
        assert!(l.why.unwrap().contains("num_ctx"));
        // A loaded model says what it runs with (OLLAMA_CONTEXT_LENGTH on the server).
        let ps = json!({"models": [{"name": "other", "context_length": 4096}, {"name": "g", "context_length": 16384}]});
        assert_eq!(ollama_limits("g", &unset, Some(&ps)).context, Some(16384));
        // Never more than the model was trained for.
        let small =
            json!({"parameters": "num_ctx 65536", "model_info": {"llama.context_length": 8192}});
        assert_eq!(ollama_limits("g", &small, None).context, Some(8192));
    }

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
