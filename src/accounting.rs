//! What a run costs: the estimate before the first paid call and the spend so far. Below the
//! engines and progress alike, so the live meter can read it without knowing any engine.

use crate::artifact::Plan;

/// Spend and estimates of an engine that pays for calls.
pub trait Accounting: Send + Sync {
    /// What a run over this plan is expected to cost, given the gathered passages.
    fn estimate(
        &self,
        plan: &Plan,
        passages: usize,
        claims: usize,
        reviewers: usize,
    ) -> crate::artifact::Estimate;
    fn spend(&self) -> crate::artifact::Spend;
    /// Tokens and dollars spent so far, by the calls made for `role` (a reviewer's name,
    /// "extractor"...) or by all calls: live progress asks this several times a second, so it
    /// must stay cheap (unlike [`Accounting::spend`]).
    fn spent(&self, role: Option<&str>) -> (u64, f64);
}
