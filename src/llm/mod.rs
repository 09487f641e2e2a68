//! Model providers behind one small trait, as rig's `CompletionModel` does: the LLM engine's
//! roles ask for completions; providers (OpenAI-compatible Chat Completions, Anthropic Messages)
//! turn them into HTTP; the scheduler keeps every provider inside its rate limits; the ledger
//! records what each call cost.

pub mod anthropic;
mod http;
pub mod json;
pub mod ledger;
pub mod openai;
pub mod scheduler;
pub mod tokens;

pub use anthropic::Anthropic;
pub use http::parse_retry_after;
pub use json::{
    clamp01, complete_json, complete_json_validated, parse_json, unit_interval, ParseError,
};
pub use ledger::{Budget, Ledger, LedgerEntry, Price, PriceTable, Reservation, Totals};
pub use openai::OpenAiCompatible;
pub use scheduler::{Scheduler, SchedulerConfig, SchedulerStats};

use async_trait::async_trait;
use serde::{Deserialize, Serialize};
use std::time::Duration;

/// One completion request. The prompt is split into a stable prefix (role, rules, output schema:
/// byte-identical across calls so providers can cache it) and a variable suffix (passages,
/// claims). Providers must send the prefix first and unchanged.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct CompletionRequest {
    /// The pipeline role making the call (planner, extractor, reviewer-1, writer...), for the ledger.
    pub role: String,
    pub model: String,
    /// Stable part: sent as the system prompt (Anthropic: with `cache_control`).
    pub system: String,
    /// Variable part: sent as the user message.
    pub user: String,
    pub max_tokens: u32,
    pub temperature: f32,
    /// A JSON schema the reply must follow, where the server supports it
    /// (`response_format: {type: json_schema}` on OpenAI-compatible servers).
    pub json_schema: Option<serde_json::Value>,
}

impl CompletionRequest {
    /// What the provider receives, hashed: everything but `role`, which is ours. Two roles
    /// sending the same bytes make the same request.
    pub fn wire_key(&self) -> String {
        let wire = serde_json::json!([
            self.model,
            self.system,
            self.user,
            self.max_tokens,
            self.temperature,
            self.json_schema
        ]);
        blake3::hash(wire.to_string().as_bytes())
            .to_hex()
            .to_string()
    }
}

/// Token counts of one call as the provider reported them, or as we estimated them when the
/// provider reported none (or nonsense).
#[derive(Debug, Clone, Copy, Default, PartialEq, Serialize, Deserialize)]
pub struct Usage {
    /// Prompt tokens neither read from nor written to a cache.
    pub input_uncached: u64,
    pub cache_read: u64,
    pub cache_write: u64,
    pub output: u64,
    /// The counts are our own estimate (the provider's usage was missing or implausible).
    #[serde(default, skip_serializing_if = "std::ops::Not::not")]
    pub estimated: bool,
}

/// No single call reads or writes this many tokens: a larger count is a broken report.
pub const PLAUSIBLE_TOKENS: u64 = 100_000_000;

impl Usage {
    pub fn input_total(&self) -> u64 {
        self.input_uncached
            .saturating_add(self.cache_read)
            .saturating_add(self.cache_write)
    }

    /// What a provider that sent no usage object reports: nothing, to be estimated.
    pub fn missing() -> Usage {
        Usage {
            estimated: true,
            ..Usage::default()
        }
    }

    /// These counts, or, when the provider reported none or implausible ones, our estimate of
    /// the request and reply (the tokenizer the budget estimates with), marked as estimated.
    pub fn or_estimate(self, req: &CompletionRequest, reply: &str) -> Usage {
        let implausible = [
            self.input_uncached,
            self.cache_read,
            self.cache_write,
            self.output,
        ]
        .iter()
        .any(|&n| n > PLAUSIBLE_TOKENS);
        let unreported = self.estimated && self.input_total() == 0 && self.output == 0;
        if !implausible && !unreported {
            return self;
        }
        Usage {
            input_uncached: tokens::estimate_prompt_tokens(req),
            cache_read: 0,
            cache_write: 0,
            output: tokens::estimate_tokens(reply),
            estimated: true,
        }
    }
}

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Completion {
    pub text: String,
    pub usage: Usage,
    /// Whether the reply was cut off (max_tokens reached).
    pub truncated: bool,
    pub latency: Duration,
}

/// Why a call failed. Retries decide on `is_transient`.
#[derive(Debug, Clone, PartialEq, thiserror::Error)]
pub enum LlmError {
    /// Rate limited; `retry_after` from the Retry-After header when given.
    #[error("rate limited by {provider} (HTTP 429)")]
    RateLimited {
        provider: String,
        retry_after: Option<Duration>,
    },
    /// 5xx, connection reset, timeout: worth retrying.
    #[error("{provider} failed: {detail} (transient)")]
    Transient { provider: String, detail: String },
    /// 4xx other than 429, bad configuration, unusable reply: retrying will not help.
    #[error("{provider} refused the request: {detail}")]
    Permanent { provider: String, detail: String },
    /// The call would pass the run's token or money budget: it was not sent.
    #[error("budget exhausted: {0}")]
    Budget(String),
    /// The prompt does not fit the model's context (llama.cpp answers so with HTTP 500 when its
    /// parallel slots share a KV cache). Sending it again unchanged cannot help: the caller
    /// makes it smaller.
    #[error("{provider}: the prompt does not fit the model's context ({detail})")]
    ContextExceeded { provider: String, detail: String },
}

impl LlmError {
    pub fn is_transient(&self) -> bool {
        matches!(
            self,
            LlmError::RateLimited { .. } | LlmError::Transient { .. }
        )
    }
}

/// A model provider. Implementations do one HTTP call per `complete` (no retries: the scheduler
/// retries), and report usage exactly as the server did.
#[async_trait]
pub trait CompletionModel: Send + Sync {
    /// A short name for logs and the ledger ("openai", "anthropic", "llama.cpp"...).
    fn provider(&self) -> &str;
    async fn complete(&self, req: &CompletionRequest) -> Result<Completion, LlmError>;
    /// What the server says it can take for `model`, where it says anything (a local server
    /// does; hosted APIs do not, and their limits come from the configuration).
    async fn server_limits(&self, _model: &str) -> Option<ServerLimits> {
        None
    }
}

/// A model server's capacity, as it reports it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ServerLimits {
    /// Tokens one request may hold (prompt and reply): llama.cpp's slot context, the context
    /// Ollama runs the model with.
    pub context: Option<usize>,
    /// Requests the server works on at once (llama.cpp's parallel slots); more only queue.
    pub slots: Option<usize>,
    /// Where the figures come from, for the report's note ("/props", "/slots", "/api/show").
    pub source: String,
    /// Why the context is what it is, when it is not what the model was trained for.
    pub why: Option<String>,
}

#[cfg(test)]
mod tests {
    use super::*;

    fn request() -> CompletionRequest {
        CompletionRequest {
            role: "reviewer-1".into(),
            model: "m".into(),
            system: "You review claims against evidence.".into(),
            user: "Claim: WAL does not work over a network filesystem.".into(),
            max_tokens: 64,
            temperature: 0.0,
            json_schema: None,
        }
    }

    #[test]
    fn a_call_without_usage_is_charged_our_estimate_and_says_so() {
        let u = Usage::missing().or_estimate(&request(), "{\"votes\": []}");
        assert!(u.estimated);
        assert!(u.input_uncached >= tokens::estimate_prompt_tokens(&request()));
        assert!(u.output > 0);
        // Reported counts are kept as they are.
        let reported = Usage {
            input_uncached: 12,
            output: 3,
            ..Usage::default()
        };
        assert_eq!(reported.or_estimate(&request(), "x"), reported);
    }

    #[test]
    fn an_implausible_usage_report_is_replaced_by_the_estimate() {
        let absurd = Usage {
            input_uncached: u64::MAX - 7,
            ..Usage::default()
        };
        let u = absurd.or_estimate(&request(), "ok");
        assert!(u.estimated);
        assert!(u.input_uncached < 1_000, "{u:?}");
        assert_eq!(absurd.input_total(), u64::MAX - 7);
    }
}
