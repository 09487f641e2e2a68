//! What every model call cost: one entry per logical call (retries included), running totals,
//! prices from configuration, and a hard budget.
//!
//! # The budget rule
//! A call is dispatched only if
//! `tokens used + tokens reserved by calls in flight + this call's estimate <= max_tokens`
//! (and the same in dollars). The estimate is the worst case: the prompt estimate (see
//! [`super::tokens`]) plus the whole `max_tokens`, priced at the dearer of the input and
//! cache-write prices. Check and reservation happen under one lock ([`Budget::try_reserve`]),
//! so concurrent calls cannot jointly pass the cap. What the provider then reports replaces the
//! reservation. Output never exceeds `max_tokens`, so the cap holds up to the estimator's error on
//! the prompt (cl100k against the provider's own tokenizer). A model missing from the price table
//! costs 0 (flagged in [`Totals::unpriced_calls`]), so only a token cap bounds it.

use super::{LlmError, Usage};
use serde::{Deserialize, Serialize};
use std::collections::{BTreeMap, BTreeSet};
use std::sync::{Arc, Mutex, MutexGuard};
use std::time::{Duration, Instant};

/// One logical call: a completion after all its retries, or the error that ended it.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct LedgerEntry {
    pub role: String,
    pub model: String,
    pub provider: String,
    pub usage: Usage,
    /// Wall time of the logical call, waits and retries included.
    pub latency_ms: u64,
    pub cost_usd: f64,
    pub ok: bool,
    pub error: Option<String>,
    /// HTTP attempts made (1 when the first succeeded).
    #[serde(default)]
    pub attempts: u32,
    /// False when the model is missing from the price table (cost_usd is then 0).
    #[serde(default)]
    pub priced: bool,
}

/// USD per million tokens of each kind. Cache prices default to the input price when absent.
#[derive(Debug, Clone, Copy, Default, PartialEq, Serialize, Deserialize)]
pub struct Price {
    pub input: f64,
    pub output: f64,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub cache_read: Option<f64>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub cache_write: Option<f64>,
}

impl Price {
    pub fn cost(&self, usage: &Usage) -> f64 {
        (usage.input_uncached as f64 * self.input
            + usage.cache_read as f64 * self.cache_read.unwrap_or(self.input)
            + usage.cache_write as f64 * self.cache_write.unwrap_or(self.input)
            + usage.output as f64 * self.output)
            / 1e6
    }

    /// Worst-case cost of a call before it is made: every prompt token at the dearer of the
    /// input and cache-write prices, and the whole output allowance.
    pub fn worst_case(&self, prompt_tokens: u64, max_output: u64) -> f64 {
        let input = self.input.max(self.cache_write.unwrap_or(self.input));
        (prompt_tokens as f64 * input + max_output as f64 * self.output) / 1e6
    }
}

/// Prices by model name, e.g. from a config file:
/// `{"claude-sonnet-4-5": {"input": 3, "cache_read": 0.3, "cache_write": 3.75, "output": 15}}`.
/// A model matches its exact name, else the longest name that prefixes it (so
/// `claude-sonnet-4-5` also prices `claude-sonnet-4-5-20250929`).
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
#[serde(transparent)]
pub struct PriceTable {
    pub models: BTreeMap<String, Price>,
}

impl PriceTable {
    pub fn new() -> PriceTable {
        PriceTable::default()
    }

    pub fn with(mut self, model: impl Into<String>, price: Price) -> PriceTable {
        self.models.insert(model.into(), price);
        self
    }

    pub fn get(&self, model: &str) -> Option<&Price> {
        self.models.get(model).or_else(|| {
            self.models
                .iter()
                .filter(|(name, _)| model.starts_with(name.as_str()))
                .max_by_key(|(name, _)| name.len())
                .map(|(_, p)| p)
        })
    }

    /// The cost of a call, or None when the model has no price.
    pub fn cost(&self, model: &str, usage: &Usage) -> Option<f64> {
        self.get(model).map(|p| p.cost(usage))
    }
}

/// Running totals over the ledger's entries.
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
pub struct Totals {
    pub calls: u64,
    pub ok_calls: u64,
    pub failed_calls: u64,
    /// Calls refused by the budget (never sent; not entries).
    pub refused_calls: u64,
    pub attempts: u64,
    pub input_uncached: u64,
    pub cache_read: u64,
    pub cache_write: u64,
    pub output: u64,
    pub total_tokens: u64,
    /// Calls whose token counts are our estimate (the provider reported no usable usage).
    #[serde(default)]
    pub estimated_calls: u64,
    pub cost_usd: f64,
    pub unpriced_calls: u64,
    pub unpriced_models: BTreeSet<String>,
}

#[derive(Debug, Default)]
struct Inner {
    entries: Vec<LedgerEntry>,
    totals: Totals,
    reserved_tokens: u64,
    reserved_usd: f64,
}

impl Inner {
    fn push(&mut self, entry: LedgerEntry) {
        let t = &mut self.totals;
        t.calls += 1;
        if entry.ok {
            t.ok_calls += 1;
        } else {
            t.failed_calls += 1;
        }
        t.attempts += u64::from(entry.attempts);
        // Saturating: a provider's absurd report must not wrap the run's totals around.
        let u = &entry.usage;
        t.input_uncached = t.input_uncached.saturating_add(u.input_uncached);
        t.cache_read = t.cache_read.saturating_add(u.cache_read);
        t.cache_write = t.cache_write.saturating_add(u.cache_write);
        t.output = t.output.saturating_add(u.output);
        t.total_tokens = t
            .total_tokens
            .saturating_add(u.input_total().saturating_add(u.output));
        if u.estimated {
            t.estimated_calls += 1;
        }
        if entry.cost_usd.is_finite() {
            t.cost_usd += entry.cost_usd;
        }
        if !entry.priced {
            t.unpriced_calls += 1;
            t.unpriced_models.insert(entry.model.clone());
        }
        self.entries.push(entry);
    }
}

/// The run's ledger. Cheap to clone; clones share the same entries.
#[derive(Debug, Clone, Default)]
pub struct Ledger {
    inner: Arc<Mutex<Inner>>,
}

impl Ledger {
    pub fn new() -> Ledger {
        Ledger::default()
    }

    fn lock(&self) -> MutexGuard<'_, Inner> {
        // A panic elsewhere while holding the lock leaves plain counters: still usable.
        self.inner.lock().unwrap_or_else(|p| p.into_inner())
    }

    pub fn record(&self, entry: LedgerEntry) {
        self.lock().push(entry);
    }

    pub fn entries(&self) -> Vec<LedgerEntry> {
        self.lock().entries.clone()
    }

    pub fn totals(&self) -> Totals {
        self.lock().totals.clone()
    }

    /// Tokens (prompt and output) and dollars of the calls made for `role`, or of all calls.
    pub fn spent(&self, role: Option<&str>) -> (u64, f64) {
        let g = self.lock();
        match role {
            None => (g.totals.total_tokens, g.totals.cost_usd),
            Some(role) => {
                g.entries
                    .iter()
                    .filter(|e| e.role == role)
                    .fold((0, 0.0), |(t, c), e| {
                        let cost = if e.cost_usd.is_finite() {
                            e.cost_usd
                        } else {
                            0.0
                        };
                        (t + e.usage.input_total() + e.usage.output, c + cost)
                    })
            }
        }
    }

    /// Counts a call the budget stopped after it was dispatched (its wall time ran out), as
    /// [`Budget::try_reserve`] counts one it refused.
    pub fn note_refused(&self) {
        self.lock().totals.refused_calls += 1;
    }

    /// Tokens and dollars reserved by calls in flight.
    pub fn reserved(&self) -> (u64, f64) {
        let g = self.lock();
        (g.reserved_tokens, g.reserved_usd)
    }

    pub fn len(&self) -> usize {
        self.lock().entries.len()
    }

    pub fn is_empty(&self) -> bool {
        self.len() == 0
    }
}

/// Caps for one run. `None` means no cap.
#[derive(Debug, Clone, Copy, Default, PartialEq, Serialize, Deserialize)]
pub struct Budget {
    pub max_tokens: Option<u64>,
    pub max_usd: Option<f64>,
    /// Wall time for the process's model calls, counted from [`Budget::started`]: no call is
    /// dispatched past it, and an attempt in flight is cut when it comes.
    #[serde(default)]
    pub max_seconds: Option<u64>,
    /// When `max_seconds` runs out (set by [`Budget::started`]; a budget is not journaled with
    /// it: a resumed run gets its wall time afresh).
    #[serde(skip)]
    deadline: Option<Instant>,
}

impl Budget {
    pub fn unlimited() -> Budget {
        Budget::default()
    }

    /// Caps on tokens and dollars; no wall-time limit.
    pub fn new(max_tokens: Option<u64>, max_usd: Option<f64>) -> Budget {
        Budget {
            max_tokens,
            max_usd,
            ..Budget::default()
        }
    }

    /// This budget with a wall-time limit of `seconds` starting now.
    pub fn with_seconds(mut self, seconds: Option<u64>) -> Budget {
        self.max_seconds = seconds;
        self.started()
    }

    /// Starts the wall-time clock now (a no-op without `max_seconds`).
    pub fn started(mut self) -> Budget {
        self.deadline = self
            .max_seconds
            .map(|s| Instant::now() + Duration::from_secs(s));
        self
    }

    /// Wall time left before the deadline, or `None` without one.
    pub fn remaining(&self) -> Option<Duration> {
        self.deadline
            .map(|d| d.saturating_duration_since(Instant::now()))
    }

    /// The refusal a call meets once the wall time is spent.
    pub fn out_of_time(&self) -> LlmError {
        LlmError::Budget(format!(
            "the wall-time budget of {} s is spent",
            self.max_seconds.unwrap_or(0)
        ))
    }

    pub fn is_unlimited(&self) -> bool {
        self.max_tokens.is_none() && self.max_usd.is_none() && self.max_seconds.is_none()
    }

    fn check_locked(&self, g: &Inner, tokens: u64, usd: f64) -> Result<(), LlmError> {
        if self.remaining().is_some_and(|r| r.is_zero()) {
            return Err(self.out_of_time());
        }
        if let Some(max) = self.max_tokens {
            let committed = g.totals.total_tokens + g.reserved_tokens;
            if committed.saturating_add(tokens) > max {
                return Err(LlmError::Budget(format!(
                    "{committed} tokens used or in flight + {tokens} estimated for this call \
                     would pass the cap of {max}"
                )));
            }
        }
        if let Some(max) = self.max_usd {
            let committed = g.totals.cost_usd + g.reserved_usd;
            // A NaN estimate must refuse, not slip past the comparison.
            let total = committed + usd;
            if total.is_nan() || total > max {
                return Err(LlmError::Budget(format!(
                    "${committed:.4} used or in flight + ${usd:.4} estimated for this call \
                     would pass the cap of ${max:.4}"
                )));
            }
        }
        Ok(())
    }

    /// Whether a call estimated at `estimated_tokens` / `estimated_usd` (worst case) may be
    /// dispatched now. Read-only: concurrent callers should use [`Budget::try_reserve`].
    pub fn check(
        &self,
        ledger: &Ledger,
        estimated_tokens: u64,
        estimated_usd: f64,
    ) -> Result<(), LlmError> {
        self.check_locked(&ledger.lock(), estimated_tokens, estimated_usd)
    }

    /// Checks and reserves the estimate atomically. The reservation counts against the cap
    /// until it is committed with the real entry or dropped. A refusal is counted in
    /// [`Totals::refused_calls`].
    pub fn try_reserve(
        &self,
        ledger: &Ledger,
        estimated_tokens: u64,
        estimated_usd: f64,
    ) -> Result<Reservation, LlmError> {
        let mut g = ledger.lock();
        if let Err(e) = self.check_locked(&g, estimated_tokens, estimated_usd) {
            g.totals.refused_calls += 1;
            return Err(e);
        }
        let usd = if estimated_usd.is_finite() {
            estimated_usd.max(0.0)
        } else {
            0.0
        };
        g.reserved_tokens += estimated_tokens;
        g.reserved_usd += usd;
        Ok(Reservation {
            ledger: ledger.clone(),
            tokens: estimated_tokens,
            usd,
            active: true,
        })
    }
}

/// Budget held for a call in flight. Commit it with the call's entry; dropping it releases it.
#[derive(Debug)]
pub struct Reservation {
    ledger: Ledger,
    tokens: u64,
    usd: f64,
    active: bool,
}

impl Reservation {
    fn release(&mut self, g: &mut Inner) {
        if self.active {
            g.reserved_tokens = g.reserved_tokens.saturating_sub(self.tokens);
            g.reserved_usd = (g.reserved_usd - self.usd).max(0.0);
            self.active = false;
        }
    }

    /// Replaces the reservation by the call's real entry, in one step (no window where the
    /// call counts neither as reserved nor as spent).
    pub fn commit(mut self, entry: LedgerEntry) {
        let ledger = self.ledger.clone();
        let mut g = ledger.lock();
        self.release(&mut g);
        g.push(entry);
    }
}

impl Drop for Reservation {
    fn drop(&mut self) {
        if self.active {
            let ledger = self.ledger.clone();
            let mut g = ledger.lock();
            self.release(&mut g);
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn entry(model: &str, usage: Usage, cost: f64) -> LedgerEntry {
        LedgerEntry {
            role: "reviewer-1".into(),
            model: model.into(),
            provider: "p".into(),
            usage,
            latency_ms: 5,
            cost_usd: cost,
            ok: true,
            error: None,
            attempts: 1,
            priced: cost > 0.0,
        }
    }

    #[test]
    fn prices_from_config_and_prefix_match() {
        let t: PriceTable = serde_json::from_str(
            r#"{"claude-sonnet-4-5": {"input": 3, "cache_read": 0.3, "cache_write": 3.75, "output": 15},
                "gpt-4o-mini": {"input": 0.15, "output": 0.6}}"#,
        )
        .unwrap();
        let u = Usage {
            input_uncached: 1_000_000,
            cache_read: 1_000_000,
            cache_write: 1_000_000,
            output: 1_000_000,
            ..Usage::default()
        };
        let c = t.cost("claude-sonnet-4-5-20250929", &u).unwrap();
        assert!((c - (3.0 + 0.3 + 3.75 + 15.0)).abs() < 1e-9);
        // Cache prices default to the input price.
        let c = t.cost("gpt-4o-mini", &u).unwrap();
        assert!((c - (0.15 * 3.0 + 0.6)).abs() < 1e-9);
        assert_eq!(t.cost("unknown", &u), None);
        let back: PriceTable = serde_json::from_str(&serde_json::to_string(&t).unwrap()).unwrap();
        assert_eq!(back, t);
    }

    #[test]
    fn absurd_usage_reports_saturate_instead_of_wrapping() {
        let l = Ledger::new();
        let huge = Usage {
            input_uncached: u64::MAX - 3,
            output: u64::MAX,
            ..Usage::default()
        };
        l.record(entry("m", huge, 0.0));
        l.record(entry("m", huge, 0.0));
        let t = l.totals();
        assert_eq!(t.input_uncached, u64::MAX);
        assert_eq!(t.output, u64::MAX);
        assert_eq!(t.total_tokens, u64::MAX);
    }

    #[test]
    fn totals_add_up_and_serialize() {
        let l = Ledger::new();
        let u = Usage {
            input_uncached: 10,
            cache_read: 20,
            cache_write: 0,
            output: 5,
            ..Usage::default()
        };
        l.record(entry("a", u, 0.5));
        l.record(LedgerEntry {
            ok: false,
            error: Some("x".into()),
            ..entry("b", Usage::default(), 0.0)
        });
        let t = l.totals();
        assert_eq!((t.calls, t.ok_calls, t.failed_calls), (2, 1, 1));
        assert_eq!(t.total_tokens, 35);
        assert_eq!(t.unpriced_calls, 1);
        assert!(t.unpriced_models.contains("b"));
        assert!(serde_json::to_string(&t)
            .unwrap()
            .contains("\"cost_usd\":0.5"));
        let json = serde_json::to_string(&l.entries()).unwrap();
        let back: Vec<LedgerEntry> = serde_json::from_str(&json).unwrap();
        assert_eq!(back, l.entries());
    }

    #[test]
    fn budget_is_a_hard_cap_with_reservations() {
        let l = Ledger::new();
        let b = Budget::new(Some(100), None);
        let r1 = b.try_reserve(&l, 60, 0.0).unwrap();
        // 60 in flight + 50 would pass 100.
        assert!(matches!(
            b.try_reserve(&l, 50, 0.0),
            Err(LlmError::Budget(_))
        ));
        assert!(b.check(&l, 40, 0.0).is_ok());
        r1.commit(entry(
            "m",
            Usage {
                input_uncached: 20,
                output: 10,
                ..Default::default()
            },
            0.0,
        ));
        assert_eq!(l.reserved().0, 0);
        // 30 spent: 70 more fit, 71 do not.
        assert!(b.check(&l, 70, 0.0).is_ok());
        assert!(b.check(&l, 71, 0.0).is_err());
        {
            let _dropped = b.try_reserve(&l, 70, 0.0).unwrap();
            assert!(b.check(&l, 1, 0.0).is_err());
        }
        assert!(b.check(&l, 70, 0.0).is_ok());
        assert_eq!(l.totals().refused_calls, 1);

        let usd = Budget::new(None, Some(1.0));
        assert!(usd.check(&l, 0, 0.99).is_ok());
        assert!(usd.check(&l, 0, 1.01).is_err());
        assert!(usd.check(&l, 0, f64::NAN).is_err());
        assert!(Budget::unlimited().check(&l, u64::MAX, 1e300).is_ok());
    }

    #[test]
    fn a_spent_wall_time_refuses_every_call() {
        let l = Ledger::new();
        let b = Budget::unlimited().with_seconds(Some(0));
        assert!(!b.is_unlimited());
        let refused = b.try_reserve(&l, 1, 0.0).unwrap_err();
        assert!(refused.to_string().contains("wall-time"), "{refused}");
        assert_eq!(l.totals().refused_calls, 1);
        // A minute's budget leaves time for a call, and says how much.
        let b = Budget::unlimited().with_seconds(Some(60));
        assert!(b.try_reserve(&l, 1, 0.0).is_ok());
        assert!(b.remaining().unwrap() > Duration::from_secs(50));
        // Read back from an audit, a budget has its limit but no running clock.
        let back: Budget = serde_json::from_str(&serde_json::to_string(&b).unwrap()).unwrap();
        assert_eq!((back.max_seconds, back.remaining()), (Some(60), None));
    }

    #[test]
    fn worst_case_uses_dearer_input() {
        let p = Price {
            input: 3.0,
            output: 15.0,
            cache_read: Some(0.3),
            cache_write: Some(3.75),
        };
        assert!((p.worst_case(1_000_000, 1_000_000) - 18.75).abs() < 1e-9);
    }
}
