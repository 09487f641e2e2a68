//! The LLM engine's one door to models: every role's call goes through here, to the scheduler of
//! the model's provider (rate limits, retries, budget, ledger), with JSON parsing and one repair.

use super::prompts::{Prompts, Rendered};
use crate::artifact::{Estimate, Plan, Spend};
use crate::config::{Config, ProviderKind};
use crate::engine::{Accounting, Notes};
use crate::journal::RunJournal;
use crate::llm::{
    complete_json, tokens, Anthropic, Budget, CompletionModel, CompletionRequest, Ledger, LlmError,
    OpenAiCompatible, PriceTable, Scheduler, SchedulerConfig, ServerLimits,
};
use crate::llm::{Completion, LedgerEntry};
use async_trait::async_trait;
use serde::de::DeserializeOwned;
use std::collections::BTreeMap;
use std::sync::Arc;
use std::time::Duration;

pub struct Caller {
    schedulers: BTreeMap<String, Arc<dyn CompletionModel>>,
    /// What a provider's server says it holds (context per request, slots), asked once.
    learned: BTreeMap<String, tokio::sync::OnceCell<Option<ServerLimits>>>,
    config: Config,
    prompts: Prompts,
    ledger: Ledger,
    budget: Budget,
    prices: PriceTable,
    notes: Notes,
}

impl Caller {
    /// One scheduler per configured provider, all sharing one ledger and one budget; with a
    /// run journal, calls the run already completed are answered from it.
    pub fn new(
        config: Config,
        prompts: Prompts,
        notes: Notes,
        journal: Option<Arc<RunJournal>>,
    ) -> Caller {
        let ledger = Ledger::new();
        let budget = Budget::new(config.budget.tokens, config.budget.usd)
            .with_seconds(config.budget.seconds);
        let prices = config.price_table();
        let schedulers = config
            .providers
            .iter()
            .map(|(name, p)| {
                let base = p.base_url.clone().unwrap_or_default();
                let timeout = Duration::from_secs(p.timeout_secs.max(1));
                // The scheduler decides when an attempt has taken too long (its timeout grows
                // with a slow server's measured pace); the HTTP client only stops one that
                // hangs far past that.
                let http_timeout = timeout * 10;
                let model: Arc<dyn CompletionModel> = match p.kind {
                    ProviderKind::Openai => Arc::new(
                        OpenAiCompatible::new(base, p.api_key.clone(), name.clone())
                            .with_http_timeout(http_timeout),
                    ),
                    ProviderKind::Anthropic => Arc::new(
                        Anthropic::new(p.api_key.clone().unwrap_or_default())
                            .with_base_url(base)
                            .with_http_timeout(http_timeout),
                    ),
                };
                let cfg = SchedulerConfig {
                    max_concurrency: p.max_concurrency,
                    requests_per_minute: p.requests_per_minute,
                    tokens_per_minute: p.tokens_per_minute.map(u64::from),
                    call_timeout: timeout,
                    max_attempts: p.max_attempts,
                    ..SchedulerConfig::default()
                };
                let scheduler: Arc<dyn CompletionModel> = Arc::new(
                    Scheduler::new(model, cfg)
                        .with_ledger(ledger.clone(), prices.clone())
                        .with_budget(budget),
                );
                let model = match &journal {
                    Some(j) => Arc::new(JournaledModel {
                        inner: scheduler,
                        journal: Arc::clone(j),
                    }) as Arc<dyn CompletionModel>,
                    None => scheduler,
                };
                let model: Arc<dyn CompletionModel> = Arc::new(SingleFlight {
                    inner: model,
                    flights: Default::default(),
                });
                (name.clone(), model)
            })
            .collect();
        if let Some(j) = &journal {
            restore_ledger(j, &ledger, &prices);
        }
        let learned = config
            .providers
            .keys()
            .map(|name| (name.clone(), tokio::sync::OnceCell::new()))
            .collect();
        Caller {
            schedulers,
            learned,
            config,
            prompts,
            ledger,
            budget,
            prices,
            notes,
        }
    }

    pub fn prompts(&self) -> &Prompts {
        &self.prompts
    }

    pub fn note(&self, note: String) {
        self.notes.push(note);
    }

    fn provider_of<'a>(&self, model_spec: &'a str) -> Option<(&'a str, &'a str)> {
        self.config.split_model(model_spec).ok()
    }

    /// The tokens a prompt and its reply may take: the configured window, or less when the
    /// server said its context is smaller (see [`Caller::learn_context`]).
    pub fn context_window(&self, model_spec: &str) -> usize {
        let Some((provider, _)) = self.provider_of(model_spec) else {
            return 8192;
        };
        let configured = self
            .config
            .providers
            .get(provider)
            .map(|p| p.context_window as usize)
            .unwrap_or(8192);
        let learned = self
            .learned
            .get(provider)
            .and_then(|c| c.get())
            .and_then(|l| l.as_ref())
            .and_then(|l| l.context);
        learned.map_or(configured, |l| l.min(configured))
    }

    /// Ask the model's server, once per provider, what it holds: a local server reports the
    /// tokens one request may take (llama.cpp's slot, the context Ollama runs the model with),
    /// which is what a prompt must fit, and its slots, which cap the requests sent at once. A
    /// server that does not answer keeps the configured window.
    pub async fn learn_context(&self, model_spec: &str) {
        let Some((provider, model)) = self.provider_of(model_spec) else {
            return;
        };
        let (Some(cell), Some(p), Some(scheduler)) = (
            self.learned.get(provider),
            self.config.providers.get(provider),
            self.schedulers.get(provider),
        ) else {
            return;
        };
        let limits = cell.get_or_init(|| scheduler.server_limits(model)).await;
        let Some(limits) = limits else {
            return;
        };
        if let Some(n) = limits.context.filter(|&n| n < p.context_window as usize) {
            let why = limits
                .why
                .as_deref()
                .map(|w| format!(" ({w})"))
                .unwrap_or_default();
            self.note(format!(
                "the {provider} server holds {n} tokens per request (its {}){why}, fewer than the configured context_window {}: prompts were sized to it",
                limits.source, p.context_window
            ));
        }
        if let Some(slots) = limits.slots.filter(|&s| s < p.max_concurrency) {
            self.note(format!(
                "the {provider} server works on {slots} requests at once (its {}), fewer than the configured max_concurrency {}: no more were sent at once",
                limits.source, p.max_concurrency
            ));
        }
    }

    pub fn estimate_tokens(&self, text: &str) -> usize {
        tokens::estimate_tokens(text) as usize
    }

    /// One structured call: the stable prompt as system, the data as user, JSON back (one
    /// repair request when the reply does not parse). Failures are typed; callers decide what
    /// an unusable reply means for their items (never a refutation).
    pub async fn call_json<T: DeserializeOwned + Send>(
        &self,
        role: &str,
        model_spec: &str,
        prompt: &Rendered,
        schema: &serde_json::Value,
        max_tokens: u32,
    ) -> Result<T, LlmError> {
        let Some((provider, model)) = self.provider_of(model_spec) else {
            return Err(LlmError::Permanent {
                provider: "config".into(),
                detail: format!("model {model_spec:?} names no configured provider"),
            });
        };
        let Some(scheduler) = self.schedulers.get(provider) else {
            return Err(LlmError::Permanent {
                provider: provider.into(),
                detail: "provider not configured".into(),
            });
        };
        let supports_schema = self
            .config
            .providers
            .get(provider)
            .is_some_and(|p| p.json_schema);
        let req = CompletionRequest {
            role: role.into(),
            model: model.into(),
            system: prompt.system.clone(),
            user: prompt.user.clone(),
            max_tokens,
            temperature: 0.0,
            json_schema: supports_schema.then(|| schema.clone()),
        };
        complete_json::<T>(scheduler.as_ref(), &req, 1)
            .await
            .map(|(value, _)| value)
    }

    fn price_of(&self, model_spec: &str, input: u64, output: u64) -> f64 {
        let model = self
            .provider_of(model_spec)
            .map(|(_, m)| m)
            .unwrap_or(model_spec);
        self.prices
            .get(model)
            .map(|p| p.worst_case(input, output))
            .unwrap_or(0.0)
    }
}

/// Tokens a passage takes in a prompt, on average (the estimate runs before any text is chosen).
const PASSAGE_TOKENS: u64 = 220;

impl Accounting for Caller {
    fn estimate(&self, plan: &Plan, passages: usize, claims: usize, reviewers: usize) -> Estimate {
        let roles = &self.config.roles;
        let mut e = Estimate::default();
        let mut add = |spec: &str, calls: u64, input: u64, output: u64| {
            e.calls += calls;
            e.input_tokens += input;
            e.output_tokens += output;
            e.cost_usd += self.price_of(spec, input, output);
        };
        let planner = roles.planner.as_deref().unwrap_or_default();
        add(
            planner,
            1,
            500 + self.estimate_tokens(&plan.question) as u64,
            600,
        );
        let extractor = roles.extractor.as_deref().unwrap_or_default();
        let window = self.context_window(extractor).saturating_sub(2100).max(500) as u64;
        let ext_tokens = passages as u64 * PASSAGE_TOKENS;
        let ext_calls = ext_tokens.div_ceil(window).max(1);
        add(
            extractor,
            ext_calls,
            ext_tokens + 600 * ext_calls,
            1200 * ext_calls,
        );
        for i in 0..reviewers {
            let spec = roles
                .reviewers
                .get(i % roles.reviewers.len().max(1))
                .map(String::as_str)
                .unwrap_or_default();
            let window = self.context_window(spec).saturating_sub(1000).max(500) as u64;
            let tokens = claims as u64 * (4 * PASSAGE_TOKENS + 40);
            let calls = tokens
                .div_ceil(window)
                .max((claims as u64).div_ceil(12))
                .max(1);
            add(spec, calls, tokens + 500 * calls, 120 * claims as u64);
        }
        let writer = roles.writer.as_deref().unwrap_or_default();
        add(writer, 1, 400 + 40 * claims as u64, 2000);
        e
    }

    fn spent(&self, role: Option<&str>) -> (u64, f64) {
        self.ledger.spent(role)
    }

    fn spend(&self) -> Spend {
        let t = self.ledger.totals();
        Spend {
            calls: t.calls,
            failed_calls: t.failed_calls,
            input_uncached: t.input_uncached,
            cache_read: t.cache_read,
            cache_write: t.cache_write,
            output: t.output,
            cost_usd: t.cost_usd,
            budget_tokens: self.budget.max_tokens,
            budget_usd: self.budget.max_usd,
            budget_seconds: self.budget.max_seconds,
            exhausted: t.refused_calls > 0,
            estimated_calls: t.estimated_calls,
            entries: self
                .ledger
                .entries()
                .into_iter()
                .filter_map(|e| serde_json::to_value(e).ok())
                .collect(),
        }
    }
}

/// Sends each distinct request once per run: an identical request (same bytes on the wire,
/// whichever role asks) waits for the first one's reply instead of being paid for again, and a
/// request that failed is not sent unchanged again (its error is the answer).
struct SingleFlight {
    inner: Arc<dyn CompletionModel>,
    flights: std::sync::Mutex<std::collections::HashMap<String, Arc<Flight>>>,
}

/// One distinct request's reply, shared by everyone who sends those bytes.
type Flight = tokio::sync::OnceCell<Result<Completion, LlmError>>;

#[async_trait]
impl CompletionModel for SingleFlight {
    fn provider(&self) -> &str {
        self.inner.provider()
    }

    async fn server_limits(&self, model: &str) -> Option<ServerLimits> {
        self.inner.server_limits(model).await
    }

    async fn complete(&self, req: &CompletionRequest) -> Result<Completion, LlmError> {
        let flight = {
            let mut flights = self.flights.lock().unwrap_or_else(|p| p.into_inner());
            Arc::clone(flights.entry(req.wire_key()).or_default())
        };
        flight
            .get_or_init(|| self.inner.complete(req))
            .await
            .clone()
    }
}

/// Answers calls this run already completed from its journal, sends the rest, and journals each
/// reply as it arrives.
struct JournaledModel {
    inner: Arc<dyn CompletionModel>,
    journal: Arc<RunJournal>,
}

/// A completed call as journaled.
#[derive(serde::Serialize, serde::Deserialize)]
struct JournaledCall {
    role: String,
    model: String,
    provider: String,
    completion: Completion,
}

/// Put a resumed run's completed calls back in the ledger, so its spend and budget count them
/// once whether or not a later stage asks for them again.
fn restore_ledger(journal: &RunJournal, ledger: &Ledger, prices: &PriceTable) {
    for body in journal.calls() {
        let Ok(call) = serde_json::from_str::<JournaledCall>(&body) else {
            continue;
        };
        let cost = prices.cost(&call.model, &call.completion.usage);
        ledger.record(LedgerEntry {
            role: call.role,
            model: call.model,
            provider: call.provider,
            usage: call.completion.usage,
            latency_ms: call.completion.latency.as_millis() as u64,
            cost_usd: cost.unwrap_or(0.0),
            ok: true,
            error: None,
            attempts: 0,
            priced: cost.is_some(),
        });
    }
}

#[async_trait]
impl CompletionModel for JournaledModel {
    fn provider(&self) -> &str {
        self.inner.provider()
    }

    async fn server_limits(&self, model: &str) -> Option<ServerLimits> {
        self.inner.server_limits(model).await
    }

    async fn complete(&self, req: &CompletionRequest) -> Result<Completion, LlmError> {
        let key = req.wire_key();
        // Journals of earlier builds keyed a call by the whole request, its role included.
        let legacy = blake3::hash(serde_json::to_string(req).unwrap_or_default().as_bytes())
            .to_hex()
            .to_string();
        // Calls this run completed before are in the ledger already (see `Caller::new`).
        if let Some(done) = [&key, &legacy]
            .into_iter()
            .find_map(|k| self.journal.call(k))
            .and_then(|b| serde_json::from_str::<JournaledCall>(&b).ok())
        {
            return Ok(done.completion);
        }
        let refuse = |detail: &str| LlmError::Permanent {
            provider: self.inner.provider().to_string(),
            detail: detail.into(),
        };
        if self.journal.is_replay() {
            return Err(refuse(
                "replay makes no model calls and this one is not in the journal",
            ));
        }
        if self.journal.interrupted() {
            return Err(refuse("stopped by the user"));
        }
        let mut done = self.inner.complete(req).await?;
        // The journal keeps the counts the budget charged, estimated when the provider gave none,
        // so a resumed run's ledger counts the same.
        done.usage = done.usage.or_estimate(req, &done.text);
        let call = JournaledCall {
            role: req.role.clone(),
            model: req.model.clone(),
            provider: self.inner.provider().to_string(),
            completion: done.clone(),
        };
        if let Ok(body) = serde_json::to_string(&call) {
            // Not journaling only means the call would be paid again after a crash.
            let _ = self.journal.record_call(&key, &body);
        }
        Ok(done)
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::sync::atomic::{AtomicUsize, Ordering};

    /// Answers after a pause, counting what reaches it.
    struct Counting(AtomicUsize);

    #[async_trait]
    impl CompletionModel for Counting {
        fn provider(&self) -> &str {
            "counting"
        }
        async fn complete(&self, req: &CompletionRequest) -> Result<Completion, LlmError> {
            self.0.fetch_add(1, Ordering::SeqCst);
            tokio::time::sleep(Duration::from_millis(30)).await;
            Ok(Completion {
                text: req.user.clone(),
                usage: Default::default(),
                truncated: false,
                latency: Duration::ZERO,
            })
        }
    }

    fn request(role: &str, user: &str) -> CompletionRequest {
        CompletionRequest {
            role: role.into(),
            model: "m".into(),
            system: "rules".into(),
            user: user.into(),
            max_tokens: 10,
            temperature: 0.0,
            json_schema: None,
        }
    }

    #[tokio::test]
    async fn an_identical_request_is_sent_once_whichever_role_asks() {
        let inner = Arc::new(Counting(AtomicUsize::new(0)));
        let flight = SingleFlight {
            inner: Arc::clone(&inner) as Arc<dyn CompletionModel>,
            flights: Default::default(),
        };
        let (a, b, c) = (
            request("reviewer-1", "same"),
            request("reviewer-2", "same"),
            request("reviewer-3", "other"),
        );
        let (ra, rb, rc) = tokio::join!(
            flight.complete(&a),
            flight.complete(&b),
            flight.complete(&c)
        );
        assert_eq!(inner.0.load(Ordering::SeqCst), 2, "same bytes, one request");
        assert_eq!(ra.unwrap().text, "same");
        assert_eq!(rb.unwrap().text, "same");
        assert_eq!(rc.unwrap().text, "other");
        // Later in the run, too.
        flight.complete(&request("writer", "same")).await.unwrap();
        assert_eq!(inner.0.load(Ordering::SeqCst), 2);
    }
}
