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

/// Token counts of one call as the provider reported them.
#[derive(Debug, Clone, Copy, Default, PartialEq, Serialize, Deserialize)]
pub struct Usage {
    /// Prompt tokens neither read from nor written to a cache.
    pub input_uncached: u64,
    pub cache_read: u64,
    pub cache_write: u64,
    pub output: u64,
}

impl Usage {
    pub fn input_total(&self) -> u64 {
        self.input_uncached + self.cache_read + self.cache_write
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
}
