//! A cheap first pass before a paid panel: local reviewers (the offline panel voting with the
//! verifier model) vote on every claim first, and a claim they all support, with the support
//! the policy keeps, is settled there. Only the other claims go to the model reviewers, so a
//! run pays for the claims the local model is unsure of, disputes or rejects. A local
//! refutation never settles anything: the paid panel reads every claim the verifier doubts.

use crate::artifact::{Claim, Stance, Status, Vote};
use crate::engine::{ReviewTask, Reviewer};
use crate::review::Policy;
use async_trait::async_trait;
use std::collections::HashMap;
use std::sync::Arc;

/// What the local panel made of one task's claims.
struct Outcome {
    /// Per local reviewer, its votes in claim order.
    local: Vec<Vec<Vote>>,
    /// Per claim: whether the local panel settled it.
    settled: Vec<bool>,
    /// The claims left for the model reviewers, as a task of their own (shared by the panel,
    /// so its evidence is gathered once); `None` when every claim was settled.
    rest: Option<Arc<ReviewTask>>,
}

/// The local panel and what it settled, per task (a run reviews a task per round).
pub struct FirstPass {
    local: Vec<Box<dyn Reviewer>>,
    policy: Policy,
    outcomes: tokio::sync::Mutex<HashMap<String, Arc<Outcome>>>,
}

impl FirstPass {
    pub fn new(local: Vec<Box<dyn Reviewer>>, policy: Policy) -> Arc<FirstPass> {
        Arc::new(FirstPass {
            local,
            policy,
            outcomes: Default::default(),
        })
    }

    /// Wrap each model reviewer: it votes only on the claims the first pass left open.
    pub fn before(self: &Arc<Self>, panel: Vec<Box<dyn Reviewer>>) -> Vec<Box<dyn Reviewer>> {
        panel
            .into_iter()
            .enumerate()
            .map(|(index, inner)| {
                Box::new(Settling {
                    first: Arc::clone(self),
                    index,
                    inner,
                }) as Box<dyn Reviewer>
            })
            .collect()
    }

    /// The local panel's votes on the task, cast once whichever model reviewer asks first.
    async fn outcome(&self, task: &ReviewTask) -> Arc<Outcome> {
        let key = task_key(task);
        let mut outcomes = self.outcomes.lock().await;
        if let Some(o) = outcomes.get(&key) {
            return Arc::clone(o);
        }
        let local: Vec<Vec<Vote>> =
            futures_util::future::join_all(self.local.iter().map(|r| r.review(task))).await;
        let settled: Vec<bool> = task
            .claims
            .iter()
            .enumerate()
            .map(|(i, claim)| {
                let votes: Vec<Vote> = local.iter().filter_map(|b| b.get(i).cloned()).collect();
                settles(&self.policy, claim, &votes, self.local.len())
            })
            .collect();
        let open: Vec<Claim> = task
            .claims
            .iter()
            .zip(&settled)
            .filter(|(_, s)| !**s)
            .map(|(c, _)| c.clone())
            .collect();
        let rest = (!open.is_empty()).then(|| {
            Arc::new(ReviewTask::new(
                task.purpose.clone(),
                open,
                task.evidence.clone(),
            ))
        });
        let o = Arc::new(Outcome {
            local,
            settled,
            rest,
        });
        outcomes.insert(key, Arc::clone(&o));
        o
    }
}

/// Every local reviewer voted support with checked evidence, and the policy keeps the claim on
/// those votes alone.
fn settles(policy: &Policy, claim: &Claim, votes: &[Vote], panel: usize) -> bool {
    votes.len() == panel
        && !votes.is_empty()
        && votes
            .iter()
            .all(|v| v.claim_id == claim.id && v.stance == Stance::Support && v.evidence.is_some())
        && policy.aggregate(&claim.id, votes).status == Status::Kept
}

fn task_key(task: &ReviewTask) -> String {
    let mut key = task.purpose.describe();
    for c in &task.claims {
        key.push('\n');
        key.push_str(&c.id);
        key.push('\t');
        key.push_str(&c.text);
    }
    key
}

/// A model reviewer behind the first pass.
struct Settling {
    first: Arc<FirstPass>,
    index: usize,
    inner: Box<dyn Reviewer>,
}

#[async_trait]
impl Reviewer for Settling {
    fn name(&self) -> &str {
        self.inner.name()
    }

    fn is_skeptic(&self) -> bool {
        self.inner.is_skeptic()
    }

    async fn review(&self, task: &ReviewTask) -> Vec<Vote> {
        let outcome = self.first.outcome(task).await;
        let mut asked = match &outcome.rest {
            Some(rest) => self.inner.review(rest).await.into_iter(),
            None => Vec::new().into_iter(),
        };
        // This member's place on the local panel stands in for it on a settled claim.
        let local = &outcome.local[self.index % outcome.local.len().max(1)];
        task.claims
            .iter()
            .enumerate()
            .map(|(i, claim)| {
                if outcome.settled[i] {
                    let mut v = local[i].clone();
                    v.first_pass = true;
                    v.note = format!("settled by the local verifier: {}", v.note);
                    v
                } else {
                    asked
                        .next()
                        .unwrap_or_else(|| super::missing_vote(claim, self))
                }
            })
            .collect()
    }
}
