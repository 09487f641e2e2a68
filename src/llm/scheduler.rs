//! Keeps a provider inside its limits and retries what is worth retrying.
//!
//! Every HTTP attempt passes one gate: a concurrency limit, a requests-per-minute and a
//! tokens-per-minute token bucket, and a shared pause. Rules:
//! - Transient errors (5xx, timeouts, connection failures, 429) are retried with exponential
//!   backoff and jitter, at most `max_attempts` HTTP attempts per logical call; permanent errors
//!   and budget refusals are never retried.
//! - A Retry-After always wins over the computed backoff. A 429 pauses *every* call (new ones
//!   too) until its Retry-After has passed, so a burst of 429s makes the calls wait together
//!   instead of retrying together.
//! - A 429 also halves the concurrency limit and the request/token rates (once per burst: 429s
//!   arriving during an active pause belong to the same burst). After `cooldown` without a 429,
//!   each success raises them again step by step (AIMD).
//! - A Retry-After longer than `max_retry_after` (a spent daily quota) is not waited out: the
//!   call fails at once with the rate-limit error (transient: the vote is unverified).

use super::ledger::{Budget, Ledger, LedgerEntry, PriceTable};
use super::tokens;
use super::{Completion, CompletionModel, CompletionRequest, LlmError, ServerLimits, Usage};
use async_trait::async_trait;
use serde::{Deserialize, Serialize};
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Arc, Mutex, MutexGuard};
use std::time::{Duration, Instant};
use tokio::sync::Notify;

/// Limits and delays. Every delay is configurable so tests run in milliseconds.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct SchedulerConfig {
    /// Most HTTP requests in flight at once.
    pub max_concurrency: usize,
    pub requests_per_minute: Option<u32>,
    /// Counted on estimates: prompt estimate + max_tokens (as OpenAI admits requests); the
    /// unused part is refunded when the provider reports usage.
    pub tokens_per_minute: Option<u64>,
    /// How much of a minute's allowance may go out at once (bucket size). Short bursts suit
    /// providers that enforce per-minute limits over shorter windows.
    pub burst: Duration,
    /// Ceiling on one HTTP attempt; past it the attempt counts as a transient failure.
    pub call_timeout: Duration,
    /// HTTP attempts per logical call, first one included.
    pub max_attempts: u32,
    /// Backoff before the first retry; doubles each retry up to `max_backoff`.
    pub min_backoff: Duration,
    pub max_backoff: Duration,
    /// Longest Retry-After waited out; a longer one fails the call at once.
    pub max_retry_after: Duration,
    /// How long after the last 429 the reduced limits stay before they recover.
    pub cooldown: Duration,
}

impl Default for SchedulerConfig {
    fn default() -> Self {
        SchedulerConfig {
            max_concurrency: 4,
            requests_per_minute: None,
            tokens_per_minute: None,
            burst: Duration::from_secs(10),
            call_timeout: Duration::from_secs(120),
            max_attempts: 4,
            min_backoff: Duration::from_millis(500),
            max_backoff: Duration::from_secs(30),
            max_retry_after: Duration::from_secs(120),
            cooldown: Duration::from_secs(30),
        }
    }
}

/// Counters since the scheduler was made.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct SchedulerStats {
    /// Logical calls (`complete` invocations).
    pub calls: u64,
    /// HTTP attempts sent.
    pub attempts: u64,
    /// Attempts that were retries of an earlier one.
    pub retries: u64,
    /// Attempts answered with 429.
    pub rate_limited: u64,
    /// Attempts that ran past `call_timeout`.
    pub timeouts: u64,
    pub succeeded: u64,
    pub failed: u64,
    /// Calls the budget refused (never sent).
    pub budget_refused: u64,
    /// Times a 429 burst halved the limits.
    pub slowdowns: u64,
}

#[derive(Default)]
struct Counters {
    calls: AtomicU64,
    attempts: AtomicU64,
    retries: AtomicU64,
    rate_limited: AtomicU64,
    timeouts: AtomicU64,
    succeeded: AtomicU64,
    failed: AtomicU64,
    budget_refused: AtomicU64,
    slowdowns: AtomicU64,
}

fn bump(c: &AtomicU64) {
    c.fetch_add(1, Ordering::Relaxed);
}

/// An attempt's timeout grows with the server's measured pace up to this many times the
/// configured one.
const ADAPTIVE_CAP: u32 = 10;

/// A token bucket refilled continuously at `per_sec * factor`.
#[derive(Debug)]
struct Bucket {
    capacity: f64,
    level: f64,
    per_sec: f64,
    last: Instant,
}

impl Bucket {
    fn new(per_minute: f64, burst: Duration, now: Instant) -> Bucket {
        let per_sec = per_minute / 60.0;
        let capacity = (per_sec * burst.as_secs_f64()).max(1.0);
        Bucket {
            capacity,
            level: capacity,
            per_sec,
            last: now,
        }
    }

    fn refill(&mut self, now: Instant, factor: f64) {
        let dt = now.saturating_duration_since(self.last).as_secs_f64();
        self.level = (self.level + dt * self.per_sec * factor).min(self.capacity);
        self.last = now;
    }

    /// Time until `amount` can be taken. An amount above the capacity needs a full bucket and
    /// then leaves a debt, so one huge request is slow rather than impossible.
    fn wait_for(&self, amount: f64, factor: f64) -> Duration {
        let need = amount.min(self.capacity) - self.level;
        if need <= 0.0 {
            Duration::ZERO
        } else {
            Duration::from_secs_f64(need / (self.per_sec * factor).max(1e-9))
        }
    }
}

struct Gate {
    in_flight: usize,
    /// Current concurrency limit, 1..=ceiling.
    limit: usize,
    /// The most requests at once: max_concurrency, or fewer when the server has fewer slots.
    ceiling: usize,
    /// Rate multiplier in (0, 1], lowered by 429s.
    factor: f64,
    paused_until: Option<Instant>,
    last_429: Option<Instant>,
    requests: Option<Bucket>,
    tokens: Option<Bucket>,
}

struct Shared {
    gate: Mutex<Gate>,
    notify: Notify,
}

impl Shared {
    fn lock(&self) -> MutexGuard<'_, Gate> {
        self.gate.lock().unwrap_or_else(|p| p.into_inner())
    }
}

/// One admitted HTTP attempt; frees its concurrency slot on drop.
struct Slot<'a> {
    shared: &'a Shared,
}

impl Drop for Slot<'_> {
    fn drop(&mut self) {
        self.shared.lock().in_flight -= 1;
        self.shared.notify.notify_waiters();
    }
}

/// A rate-limited, retrying front for one provider. Implements [`CompletionModel`] itself, so
/// roles use it like any provider. Records one ledger entry per logical call.
pub struct Scheduler {
    inner: Arc<dyn CompletionModel>,
    cfg: SchedulerConfig,
    shared: Shared,
    /// Seconds per token the server has taken so far (prompt and reply), smoothed: what an
    /// attempt's timeout grows with, so a slow local model is waited for rather than timed out.
    pace: std::sync::Mutex<Option<f64>>,
    counters: Counters,
    ledger: Ledger,
    prices: PriceTable,
    budget: Budget,
}

impl std::fmt::Debug for Scheduler {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Scheduler")
            .field("provider", &self.inner.provider())
            .field("cfg", &self.cfg)
            .field("stats", &self.stats())
            .finish()
    }
}

impl Scheduler {
    pub fn new(inner: Arc<dyn CompletionModel>, cfg: SchedulerConfig) -> Scheduler {
        let now = Instant::now();
        let mut cfg = cfg;
        cfg.max_concurrency = cfg.max_concurrency.max(1);
        cfg.max_attempts = cfg.max_attempts.max(1);
        let gate = Gate {
            in_flight: 0,
            limit: cfg.max_concurrency,
            ceiling: cfg.max_concurrency,
            factor: 1.0,
            paused_until: None,
            last_429: None,
            requests: cfg
                .requests_per_minute
                .map(|r| Bucket::new(f64::from(r.max(1)), cfg.burst, now)),
            tokens: cfg
                .tokens_per_minute
                .map(|t| Bucket::new(t.max(1) as f64, cfg.burst, now)),
        };
        Scheduler {
            inner,
            cfg,
            shared: Shared {
                gate: Mutex::new(gate),
                notify: Notify::new(),
            },
            counters: Counters::default(),
            pace: std::sync::Mutex::new(None),
            ledger: Ledger::new(),
            prices: PriceTable::new(),
            budget: Budget::unlimited(),
        }
    }

    /// Records into `ledger` (shared with other schedulers, e.g. one per model), pricing calls
    /// with `prices`.
    pub fn with_ledger(mut self, ledger: Ledger, prices: PriceTable) -> Scheduler {
        self.ledger = ledger;
        self.prices = prices;
        self
    }

    /// Refuses calls that would pass the budget (see [`super::ledger`] for the rule).
    pub fn with_budget(mut self, budget: Budget) -> Scheduler {
        self.budget = budget;
        self
    }

    pub fn ledger(&self) -> &Ledger {
        &self.ledger
    }

    pub fn config(&self) -> &SchedulerConfig {
        &self.cfg
    }

    pub fn stats(&self) -> SchedulerStats {
        let c = &self.counters;
        let g = |a: &AtomicU64| a.load(Ordering::Relaxed);
        SchedulerStats {
            calls: g(&c.calls),
            attempts: g(&c.attempts),
            retries: g(&c.retries),
            rate_limited: g(&c.rate_limited),
            timeouts: g(&c.timeouts),
            succeeded: g(&c.succeeded),
            failed: g(&c.failed),
            budget_refused: g(&c.budget_refused),
            slowdowns: g(&c.slowdowns),
        }
    }

    /// The concurrency limit in force now (lowered after 429s).
    pub fn current_concurrency(&self) -> usize {
        self.shared.lock().limit
    }

    /// Never more than `n` requests at once from now on: a server with `n` slots only queues
    /// the rest, and a queued request's timeout runs while it waits.
    pub fn cap_concurrency(&self, n: usize) {
        let mut g = self.shared.lock();
        g.ceiling = n.clamp(1, self.cfg.max_concurrency);
        g.limit = g.limit.min(g.ceiling);
    }

    /// Waits until an attempt estimated at `tokens` may go out, then takes its slot.
    async fn admit(&self, tokens: u64) -> Slot<'_> {
        loop {
            let notified = self.shared.notify.notified();
            tokio::pin!(notified);
            // Registered before the check, so a slot freed in between still wakes us.
            notified.as_mut().enable();
            let wait = {
                let mut g = self.shared.lock();
                let now = Instant::now();
                match g.paused_until {
                    Some(until) if until > now => Some(until - now),
                    _ if g.in_flight >= g.limit => None,
                    _ => {
                        let factor = g.factor;
                        let mut wait = Duration::ZERO;
                        if let Some(b) = g.requests.as_mut() {
                            b.refill(now, factor);
                            wait = wait.max(b.wait_for(1.0, factor));
                        }
                        if let Some(b) = g.tokens.as_mut() {
                            b.refill(now, factor);
                            wait = wait.max(b.wait_for(tokens as f64, factor));
                        }
                        if wait.is_zero() {
                            if let Some(b) = g.requests.as_mut() {
                                b.level -= 1.0;
                            }
                            if let Some(b) = g.tokens.as_mut() {
                                b.level -= tokens as f64;
                            }
                            g.in_flight += 1;
                            return Slot {
                                shared: &self.shared,
                            };
                        }
                        Some(wait)
                    }
                }
            };
            match wait {
                // A pause or an empty bucket: time alone fixes it. The small floor avoids a
                // busy loop on sub-microsecond waits.
                Some(d) => tokio::time::sleep(d.max(Duration::from_micros(100))).await,
                None => notified.await,
            }
        }
    }

    /// A 429: pause everyone until `pause` has passed; halve the limits once per burst.
    fn on_rate_limited(&self, pause: Duration) {
        let mut g = self.shared.lock();
        let now = Instant::now();
        let in_burst = g.paused_until.is_some_and(|u| u > now);
        if !in_burst {
            g.limit = (g.limit / 2).max(1);
            g.factor = (g.factor * 0.5).max(0.05);
            bump(&self.counters.slowdowns);
        }
        let until = now + pause;
        if g.paused_until.is_none_or(|u| u < until) {
            g.paused_until = Some(until);
        }
        g.last_429 = Some(now);
    }

    /// A success: refund the unused token estimate; after the cooldown, recover a step.
    fn on_success(&self, estimated: u64, usage: &Usage) {
        let mut g = self.shared.lock();
        let used = usage.input_total() + usage.output;
        if let Some(b) = g.tokens.as_mut() {
            if used > 0 && used < estimated {
                b.level = (b.level + (estimated - used) as f64).min(b.capacity);
            }
        }
        let cooled = g.last_429.is_none_or(|t| t.elapsed() >= self.cfg.cooldown);
        if cooled && (g.limit < g.ceiling || g.factor < 1.0) {
            g.limit = (g.limit + 1).min(g.ceiling);
            g.factor = (g.factor * 1.5).min(1.0);
            drop(g);
            self.shared.notify.notify_waiters();
        }
    }

    /// How long an attempt of `tokens` (prompt estimate and reply ceiling) may take: the
    /// configured timeout, or three times what the server's pace so far says it needs, up to
    /// ten times the configured timeout.
    fn attempt_timeout(&self, tokens: u64) -> Duration {
        let base = self.cfg.call_timeout;
        let pace = *self.pace.lock().unwrap_or_else(|p| p.into_inner());
        match pace {
            Some(secs_per_token) => {
                let needed = Duration::from_secs_f64(secs_per_token * tokens as f64 * 3.0);
                needed.clamp(base, base * ADAPTIVE_CAP)
            }
            None => base,
        }
    }

    /// The wall-time budget ran out for a call already dispatched: counted as refused, as the
    /// budget counts a call it stops before dispatch.
    fn out_of_time(&self) -> LlmError {
        self.ledger.note_refused();
        bump(&self.counters.budget_refused);
        self.budget.out_of_time()
    }

    /// A timed-out attempt is a measurement too: the server needs more than `waited` for
    /// `tokens`, so the pace is at least that (the retry then waits three times as long, instead
    /// of timing out again at the same mark as a slow server's every call would).
    fn learn_from_timeout(&self, tokens: u64, waited: Duration) {
        let floor = waited.as_secs_f64() / tokens.max(1) as f64;
        let mut pace = self.pace.lock().unwrap_or_else(|p| p.into_inner());
        *pace = Some(pace.map_or(floor, |p| p.max(floor)));
    }

    /// Fold one reply's seconds per token into the pace (the slowest recent calls weigh most:
    /// a timeout costs more than a wait).
    fn learn_pace(&self, estimate: u64, c: &Completion) {
        let used = c.usage.input_total() + c.usage.output;
        let tokens = if used > 0 { used } else { estimate }.max(1);
        let sample = c.latency.as_secs_f64() / tokens as f64;
        let mut pace = self.pace.lock().unwrap_or_else(|p| p.into_inner());
        *pace = Some(match *pace {
            Some(p) if sample < p => 0.8 * p + 0.2 * sample,
            _ => sample,
        });
    }

    /// Exponential backoff with jitter: uniform in [b/2, b] for b = min_backoff * 2^retry.
    fn backoff(&self, retry: u32) -> Duration {
        let base = self
            .cfg
            .min_backoff
            .saturating_mul(1u32 << retry.min(20))
            .min(self.cfg.max_backoff);
        let ms = base.as_millis() as u64;
        Duration::from_millis(ms / 2 + fastrand::u64(0..=ms - ms / 2))
    }

    fn record(
        &self,
        req: &CompletionRequest,
        result: &Result<Completion, LlmError>,
        attempts: u32,
        started: Instant,
    ) -> LedgerEntry {
        let usage = result
            .as_ref()
            .map(|c| c.usage.or_estimate(req, &c.text))
            .unwrap_or_default();
        let cost = self.prices.cost(&req.model, &usage);
        LedgerEntry {
            role: req.role.clone(),
            model: req.model.clone(),
            provider: self.inner.provider().to_string(),
            usage,
            latency_ms: started.elapsed().as_millis() as u64,
            cost_usd: cost.unwrap_or(0.0),
            ok: result.is_ok(),
            error: result.as_ref().err().map(|e| e.to_string()),
            attempts,
            priced: cost.is_some(),
        }
    }

    /// The worst-case tokens and dollars of `req`, as the budget sees them (for a caller that
    /// wants to check [`Budget::check`] itself before building more requests).
    pub fn estimate(&self, req: &CompletionRequest) -> (u64, f64) {
        let prompt = tokens::estimate_prompt_tokens(req);
        let usd = self
            .prices
            .get(&req.model)
            .map(|p| p.worst_case(prompt, u64::from(req.max_tokens)))
            .unwrap_or(0.0);
        (prompt + u64::from(req.max_tokens), usd)
    }

    async fn run(&self, req: &CompletionRequest) -> Result<Completion, LlmError> {
        bump(&self.counters.calls);
        let started = Instant::now();
        let (estimate, est_usd) = self.estimate(req);
        let reservation = match self.budget.try_reserve(&self.ledger, estimate, est_usd) {
            Ok(r) => r,
            Err(e) => {
                bump(&self.counters.budget_refused);
                return Err(e);
            }
        };
        let mut attempt: u32 = 0;
        let result = loop {
            attempt += 1;
            if attempt > 1 {
                bump(&self.counters.retries);
            }
            let slot = self.admit(estimate).await;
            bump(&self.counters.attempts);
            let timeout = self.attempt_timeout(estimate);
            // The run's wall-time budget cuts an attempt that would outlast it: that is the
            // budget running out (a partial report), not the server failing.
            let left = self.budget.remaining();
            let cut_by_budget = left.is_some_and(|l| l < timeout);
            let timeout = left.map_or(timeout, |l| l.min(timeout));
            let outcome = match tokio::time::timeout(timeout, self.inner.complete(req)).await {
                Ok(r) => r,
                Err(_) if cut_by_budget => {
                    drop(slot);
                    break Err(self.out_of_time());
                }
                Err(_) => {
                    bump(&self.counters.timeouts);
                    self.learn_from_timeout(estimate, timeout);
                    Err(LlmError::Transient {
                        provider: self.inner.provider().to_string(),
                        detail: format!("no reply within {} ms", timeout.as_millis()),
                    })
                }
            };
            let err = match outcome {
                Ok(c) => {
                    drop(slot);
                    self.on_success(estimate, &c.usage);
                    self.learn_pace(estimate, &c);
                    break Ok(c);
                }
                Err(e) => e,
            };
            let last = attempt >= self.cfg.max_attempts;
            let delay = match &err {
                LlmError::RateLimited { retry_after, .. } => {
                    bump(&self.counters.rate_limited);
                    match retry_after {
                        Some(ra) if *ra > self.cfg.max_retry_after => {
                            drop(slot);
                            break Err(err);
                        }
                        // The server's word wins; the jitter on top spreads the retries.
                        Some(ra) => {
                            *ra + Duration::from_millis(fastrand::u64(
                                0..=self.cfg.min_backoff.as_millis() as u64 / 4,
                            ))
                        }
                        None => self.backoff(attempt - 1),
                    }
                }
                e if e.is_transient() => self.backoff(attempt - 1),
                _ => {
                    drop(slot);
                    break Err(err);
                }
            };
            if matches!(err, LlmError::RateLimited { .. }) {
                // Before the slot is freed, so no waiter slips out ahead of the pause.
                self.on_rate_limited(delay);
            }
            drop(slot);
            if last {
                break Err(match err {
                    LlmError::Transient { provider, detail } => LlmError::Transient {
                        provider,
                        detail: format!("{detail} (after {attempt} attempts)"),
                    },
                    other => other,
                });
            }
            if self.budget.remaining().is_some_and(|l| l <= delay) {
                break Err(self.out_of_time());
            }
            tokio::time::sleep(delay).await;
        };
        bump(if result.is_ok() {
            &self.counters.succeeded
        } else {
            &self.counters.failed
        });
        reservation.commit(self.record(req, &result, attempt, started));
        result
    }
}

#[async_trait]
impl CompletionModel for Scheduler {
    fn provider(&self) -> &str {
        self.inner.provider()
    }

    async fn complete(&self, req: &CompletionRequest) -> Result<Completion, LlmError> {
        self.run(req).await
    }

    /// The provider's answer, and its slots become this scheduler's concurrency ceiling.
    async fn server_limits(&self, model: &str) -> Option<ServerLimits> {
        let limits = self.inner.server_limits(model).await?;
        if let Some(slots) = limits.slots {
            self.cap_concurrency(slots);
        }
        Some(limits)
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::sync::atomic::AtomicUsize;

    /// Fails with the scripted errors in order, then succeeds.
    struct Scripted {
        errors: Mutex<Vec<LlmError>>,
        calls: AtomicUsize,
    }

    #[async_trait]
    impl CompletionModel for Scripted {
        fn provider(&self) -> &str {
            "scripted"
        }
        async fn complete(&self, _req: &CompletionRequest) -> Result<Completion, LlmError> {
            self.calls.fetch_add(1, Ordering::SeqCst);
            let next = {
                let mut e = self.errors.lock().unwrap();
                if e.is_empty() {
                    None
                } else {
                    Some(e.remove(0))
                }
            };
            match next {
                Some(e) => Err(e),
                None => Ok(Completion {
                    text: "{}".into(),
                    usage: Usage {
                        input_uncached: 3,
                        output: 2,
                        ..Default::default()
                    },
                    truncated: false,
                    latency: Duration::ZERO,
                }),
            }
        }
    }

    fn req() -> CompletionRequest {
        CompletionRequest {
            role: "t".into(),
            model: "m".into(),
            system: "s".into(),
            user: "u".into(),
            max_tokens: 8,
            temperature: 0.0,
            json_schema: None,
        }
    }

    fn fast() -> SchedulerConfig {
        SchedulerConfig {
            min_backoff: Duration::from_millis(1),
            max_backoff: Duration::from_millis(4),
            cooldown: Duration::from_millis(50),
            ..SchedulerConfig::default()
        }
    }

    fn transient() -> LlmError {
        LlmError::Transient {
            provider: "p".into(),
            detail: "500".into(),
        }
    }

    #[tokio::test]
    async fn retries_transient_then_succeeds_and_records_once() {
        let m = Arc::new(Scripted {
            errors: Mutex::new(vec![transient(), transient()]),
            calls: AtomicUsize::new(0),
        });
        let s = Scheduler::new(m.clone(), fast());
        assert!(s.complete(&req()).await.is_ok());
        assert_eq!(m.calls.load(Ordering::SeqCst), 3);
        let st = s.stats();
        assert_eq!((st.attempts, st.retries, st.succeeded), (3, 2, 1));
        let e = s.ledger().entries();
        assert_eq!(e.len(), 1);
        assert_eq!(e[0].attempts, 3);
        assert!(e[0].ok && !e[0].priced);
    }

    #[tokio::test]
    async fn gives_up_after_max_attempts_and_never_retries_permanent() {
        let m = Arc::new(Scripted {
            errors: Mutex::new(vec![transient(); 10]),
            calls: AtomicUsize::new(0),
        });
        let s = Scheduler::new(m.clone(), fast());
        let e = s.complete(&req()).await.unwrap_err();
        assert!(
            e.is_transient() && e.to_string().contains("after 4 attempts"),
            "{e}"
        );
        assert_eq!(m.calls.load(Ordering::SeqCst), 4);

        let m = Arc::new(Scripted {
            errors: Mutex::new(vec![LlmError::Permanent {
                provider: "p".into(),
                detail: "400".into(),
            }]),
            calls: AtomicUsize::new(0),
        });
        let s = Scheduler::new(m.clone(), fast());
        assert!(!s.complete(&req()).await.unwrap_err().is_transient());
        assert_eq!(m.calls.load(Ordering::SeqCst), 1);
    }

    #[tokio::test]
    async fn a_429_halves_concurrency_and_recovers_after_cooldown() {
        let m = Arc::new(Scripted {
            errors: Mutex::new(vec![LlmError::RateLimited {
                provider: "p".into(),
                retry_after: Some(Duration::from_millis(20)),
            }]),
            calls: AtomicUsize::new(0),
        });
        let s = Scheduler::new(m, fast());
        let start = Instant::now();
        assert!(s.complete(&req()).await.is_ok());
        assert!(start.elapsed() >= Duration::from_millis(20));
        assert_eq!(s.current_concurrency(), 2);
        tokio::time::sleep(Duration::from_millis(60)).await;
        for _ in 0..3 {
            s.complete(&req()).await.unwrap();
        }
        assert_eq!(s.current_concurrency(), 4);
    }

    #[tokio::test]
    async fn a_server_s_slots_cap_concurrency_and_recovery_never_passes_them() {
        let m = Arc::new(Scripted {
            errors: Mutex::new(vec![LlmError::RateLimited {
                provider: "p".into(),
                retry_after: Some(Duration::from_millis(20)),
            }]),
            calls: AtomicUsize::new(0),
        });
        let s = Scheduler::new(m, fast());
        s.cap_concurrency(3);
        assert_eq!(s.current_concurrency(), 3);
        s.complete(&req()).await.unwrap();
        assert_eq!(s.current_concurrency(), 1);
        tokio::time::sleep(Duration::from_millis(60)).await;
        for _ in 0..4 {
            s.complete(&req()).await.unwrap();
        }
        assert_eq!(s.current_concurrency(), 3);
    }

    #[tokio::test]
    async fn retry_after_past_the_ceiling_fails_at_once() {
        let m = Arc::new(Scripted {
            errors: Mutex::new(vec![LlmError::RateLimited {
                provider: "p".into(),
                retry_after: Some(Duration::from_secs(3600)),
            }]),
            calls: AtomicUsize::new(0),
        });
        let s = Scheduler::new(m.clone(), fast());
        let e = s.complete(&req()).await.unwrap_err();
        assert!(matches!(e, LlmError::RateLimited { .. }));
        assert_eq!(m.calls.load(Ordering::SeqCst), 1);
    }

    /// Answers every call after `delay`.
    struct Slow {
        delay: Duration,
        calls: AtomicUsize,
    }

    #[async_trait]
    impl CompletionModel for Slow {
        fn provider(&self) -> &str {
            "slow"
        }
        async fn complete(&self, _req: &CompletionRequest) -> Result<Completion, LlmError> {
            self.calls.fetch_add(1, Ordering::SeqCst);
            tokio::time::sleep(self.delay).await;
            Ok(Completion {
                text: "{}".into(),
                usage: Usage::default(),
                truncated: false,
                latency: self.delay,
            })
        }
    }

    #[tokio::test]
    async fn a_server_slower_than_the_timeout_is_waited_for_on_the_retry() {
        // The first call of a run has no pace to go by: it times out, and the retry waits
        // three times as long instead of timing out at the same mark.
        let m = Arc::new(Slow {
            delay: Duration::from_millis(150),
            calls: AtomicUsize::new(0),
        });
        let cfg = SchedulerConfig {
            call_timeout: Duration::from_millis(100),
            max_attempts: 2,
            ..fast()
        };
        let s = Scheduler::new(m.clone(), cfg);
        assert!(s.complete(&req()).await.is_ok());
        assert_eq!(m.calls.load(Ordering::SeqCst), 2);
        assert_eq!(s.stats().timeouts, 1);
        // The next call goes by the pace learned: no timeout at all.
        assert!(s.complete(&req()).await.is_ok());
        assert_eq!(s.stats().timeouts, 1);
    }

    #[tokio::test]
    async fn the_wall_time_budget_cuts_a_call_and_refuses_the_next() {
        let m = Arc::new(Slow {
            delay: Duration::from_secs(30),
            calls: AtomicUsize::new(0),
        });
        let cfg = SchedulerConfig {
            call_timeout: Duration::from_secs(60),
            ..fast()
        };
        let ledger = Ledger::new();
        let s = Scheduler::new(m.clone(), cfg)
            .with_ledger(ledger.clone(), PriceTable::default())
            .with_budget(Budget::unlimited().with_seconds(Some(1)));
        let start = Instant::now();
        let e = s.complete(&req()).await.unwrap_err();
        assert!(matches!(e, LlmError::Budget(_)), "{e}");
        assert!(start.elapsed() < Duration::from_secs(10));
        // Spent: the next call is refused before it is sent.
        assert!(matches!(
            s.complete(&req()).await.unwrap_err(),
            LlmError::Budget(_)
        ));
        assert_eq!(m.calls.load(Ordering::SeqCst), 1);
        assert_eq!(ledger.totals().refused_calls, 2);
    }

    #[test]
    fn bucket_waits_and_allows_oversized_requests() {
        let now = Instant::now();
        let mut b = Bucket::new(60.0, Duration::from_secs(2), now);
        assert_eq!(b.capacity, 2.0);
        assert!(b.wait_for(2.0, 1.0).is_zero());
        b.level -= 2.0;
        assert_eq!(b.wait_for(1.0, 1.0), Duration::from_secs(1));
        assert_eq!(b.wait_for(1.0, 0.5), Duration::from_secs(2));
        // 10 tokens with capacity 2: needs a full bucket only.
        assert_eq!(b.wait_for(10.0, 1.0), Duration::from_secs(2));
        b.refill(now + Duration::from_secs(5), 1.0);
        assert_eq!(b.level, 2.0);
    }
}
