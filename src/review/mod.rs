//! Stage 4: review. Every reviewer of the panel votes on every claim independently (concurrently,
//! each with its own retrieval); the policy turns the votes into kept / disputed / dropped /
//! unverified. A failed vote is unverified: it is never counted as a refutation.

use crate::artifact::{Claim, Reviewed, Stance, Status, Verdict, Vote};
use crate::engine::{ReviewTask, Reviewer};
use crate::journal::Key;
use std::collections::HashSet;

mod first_pass;
pub use first_pass::FirstPass;

pub use crate::policy::{Policy, PolicyError};

impl Policy {
    /// Turn one claim's votes into a verdict.
    pub fn aggregate(&self, claim_id: &str, votes: &[Vote]) -> Verdict {
        let count = |s: Stance| votes.iter().filter(|v| v.stance == s).count();
        let support = count(Stance::Support);
        let refute = votes
            .iter()
            .filter(|v| v.stance == Stance::Refute && v.confidence >= self.dispute_confidence)
            .count();
        let weak_refute = count(Stance::Refute) - refute;
        let abstain = count(Stance::Abstain) + weak_refute;
        let errors = count(Stance::Error);
        let supporting_docs = votes
            .iter()
            .filter(|v| v.stance == Stance::Support)
            .filter_map(|v| v.evidence.as_ref().map(|e| e.doc_id.as_str()))
            .collect::<HashSet<_>>()
            .len();
        let valid = votes.len() - errors;
        let (status, reason) = if valid < self.quorum {
            (
                Status::Unverified,
                format!(
                    "only {valid} of {} reviewers could vote (quorum {}); {errors} failed",
                    votes.len(),
                    self.quorum
                ),
            )
        } else if refute > 0 && support > 0 {
            (
                Status::Disputed,
                format!("{support} reviewers found support, {refute} found contradicting evidence"),
            )
        } else if refute > 0 {
            (
                Status::Dropped,
                format!(
                    "refuted: {refute} reviewers found contradicting evidence, none found support"
                ),
            )
        } else if support >= self.quorum && supporting_docs >= self.min_sources {
            (
                Status::Kept,
                format!(
                    "{support} of {} reviewers found support in {supporting_docs} document(s)",
                    votes.len()
                ),
            )
        } else if support >= self.quorum {
            (
                Status::Dropped,
                format!(
                    "supported by {supporting_docs} document(s), fewer than --min-sources {}",
                    self.min_sources
                ),
            )
        } else {
            (
                Status::Dropped,
                format!(
                    "weak support: {support} of {} reviewers found support (quorum {})",
                    votes.len(),
                    self.quorum
                ),
            )
        };
        Verdict {
            claim_id: claim_id.to_string(),
            status,
            support,
            refute,
            abstain,
            errors,
            supporting_docs,
            reason,
        }
    }
}

/// Run the whole panel over the task's claims and aggregate.
pub async fn review(
    reviewers: &[Box<dyn Reviewer>],
    policy: &Policy,
    task: &ReviewTask,
) -> Vec<Reviewed> {
    let ballots = futures_join_all(reviewers, task, None).await;
    aggregate_ballots(reviewers, policy, &task.claims, ballots)
}

/// [`review`] through a run journal: a reviewer whose votes this run already recorded is not
/// asked again; each reviewer's votes are recorded as soon as it finishes.
pub async fn review_journaled(
    reviewers: &[Box<dyn Reviewer>],
    policy: &Policy,
    task: &ReviewTask,
    ballot: Ballot,
    journal: Option<&crate::journal::RunJournal>,
    progress: &crate::progress::Progress,
) -> Result<Vec<Reviewed>, crate::journal::JournalError> {
    let mut done: Vec<Option<Vec<Vote>>> = Vec::with_capacity(reviewers.len());
    for r in reviewers {
        done.push(match journal {
            Some(j) => j.artifact::<Vec<Vote>>(&votes_key(r.name(), ballot))?,
            None => None,
        });
    }
    let ballots = futures_join_all(reviewers, task, Some((&done, journal, progress, ballot))).await;
    Ok(aggregate_ballots(reviewers, policy, &task.claims, ballots))
}

fn aggregate_ballots(
    reviewers: &[Box<dyn Reviewer>],
    policy: &Policy,
    claims: &[Claim],
    ballots: Vec<Vec<Vote>>,
) -> Vec<Reviewed> {
    claims
        .iter()
        .enumerate()
        .map(|(i, claim)| {
            let votes: Vec<Vote> = ballots
                .iter()
                .zip(reviewers)
                .map(|(ballot, reviewer)| match ballot.get(i) {
                    Some(v) if v.claim_id == claim.id => v.clone(),
                    // A reviewer that skipped or misnumbered a claim has not voted on it.
                    _ => missing_vote(claim, reviewer.as_ref()),
                })
                .collect();
            let mut verdict = policy.aggregate(&claim.id, &votes);
            if !votes.is_empty() && votes.iter().all(|v| v.first_pass) {
                verdict
                    .reason
                    .push_str("; settled by the local verifier, no model reviewer was asked");
            }
            Reviewed {
                claim: claim.clone(),
                votes,
                verdict,
            }
        })
        .collect()
}

/// The vote of a reviewer that returned none for the claim: unverified, never a refutation.
fn missing_vote(claim: &Claim, reviewer: &dyn Reviewer) -> Vote {
    Vote {
        claim_id: claim.id.clone(),
        reviewer: reviewer.name().to_string(),
        skeptic: reviewer.is_skeptic(),
        stance: Stance::Error,
        confidence: 0.0,
        evidence: None,
        corroborating: false,
        note: "no vote returned for this claim".into(),
        first_pass: false,
    }
}

type Journaled<'a> = (
    &'a [Option<Vec<Vote>>],
    Option<&'a crate::journal::RunJournal>,
    &'a crate::progress::Progress,
    Ballot,
);

/// Which vote of a run a panel casts: a round's, or its second one on web evidence for the
/// claims still split after the stored evidence was read.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Ballot {
    pub round: usize,
    pub web: bool,
}

impl Ballot {
    pub fn round(round: usize) -> Ballot {
        Ballot { round, web: false }
    }
}

/// A reviewer's votes of one ballot: the first round keeps the key journals always had.
fn votes_key(reviewer: &str, ballot: Ballot) -> Key {
    match ballot {
        Ballot { web: true, round } => Key::Round(round, format!("web-votes/{reviewer}")),
        Ballot { round, .. } if round <= 1 => Key::Votes(reviewer.to_string()),
        Ballot { round, .. } => Key::Round(round, format!("votes/{reviewer}")),
    }
}

async fn futures_join_all(
    reviewers: &[Box<dyn Reviewer>],
    task: &ReviewTask,
    journaled: Option<Journaled<'_>>,
) -> Vec<Vec<Vote>> {
    let claims = &task.claims;
    if let Some((done, _, progress, _)) = journaled {
        let to_run = (0..reviewers.len())
            .filter(|i| done.get(*i).is_none_or(Option::is_none))
            .count();
        progress.expect(to_run);
    }
    // Reviewers are independent: run them side by side, collect in panel order.
    let futures = reviewers.iter().enumerate().map(|(i, r)| async move {
        if let Some(votes) = journaled.and_then(|(done, _, _, _)| done.get(i).cloned().flatten()) {
            return votes;
        }
        let agent =
            journaled.map(|(_, _, p, _)| p.agent(r.name(), &format!("{} claims", claims.len())));
        let started = (chrono::Utc::now(), std::time::Instant::now());
        let votes = r.review(task).await;
        let failed = votes.iter().filter(|v| v.stance == Stance::Error).count();
        let status = format!("voted ({failed} failed)");
        if let Some(agent) = agent {
            agent.done(&status);
        }
        if let Some(j) = journaled.and_then(|(_, j, _, _)| j) {
            let input: Vec<&str> = claims.iter().map(|c| c.text.as_str()).collect();
            j.task(
                r.name(),
                &input.join("\n"),
                &status,
                started.0,
                started.1.elapsed().as_secs_f64(),
            );
        }
        if let Some((_, Some(j), _, ballot)) = journaled {
            // A failure to journal only costs a repeat after a crash; the votes stand.
            let _ = j.record(&votes_key(r.name(), ballot), &votes);
        }
        votes
    });
    futures_util::future::join_all(futures).await
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::artifact::Citation;

    fn vote(stance: Stance, confidence: f32, doc: &str) -> Vote {
        Vote {
            claim_id: "c1".into(),
            reviewer: "r".into(),
            skeptic: false,
            stance,
            confidence,
            evidence: Some(Citation {
                doc_id: doc.into(),
                location: doc.into(),
                title: doc.into(),
                doc_hash: "h".into(),
                start: 0,
                end: 1,
                quote: "x".into(),
                heading_path: vec![],
                passage: 0,
                page: None,
                fetched: None,
                lead_in: None,
            }),
            corroborating: true,
            note: String::new(),
            first_pass: false,
        }
    }

    use Stance::*;

    #[test]
    fn failed_votes_are_unverified_never_refuted() {
        let p = Policy::default();
        let votes = vec![
            vote(Error, 0.0, "a"),
            vote(Error, 0.0, "a"),
            vote(Error, 0.0, "a"),
            vote(Support, 0.9, "a"),
            vote(Abstain, 0.0, "a"),
        ];
        let v = p.aggregate("c1", &votes);
        assert_eq!(v.status, Status::Unverified);
        assert_eq!(v.refute, 0);
        assert_eq!(v.judgement().label(), "insufficient");
        let all_failed: Vec<Vote> = (0..5).map(|_| vote(Error, 0.0, "a")).collect();
        assert_ne!(
            p.aggregate("c1", &all_failed).judgement().label(),
            "refuted"
        );
    }

    #[test]
    fn quorum_min_sources_and_disputes() {
        let p = Policy::default();
        let kept = p.aggregate(
            "c1",
            &[
                vote(Support, 0.9, "a"),
                vote(Support, 0.8, "b"),
                vote(Support, 0.8, "a"),
                vote(Abstain, 0.0, "a"),
                vote(Abstain, 0.0, "a"),
            ],
        );
        assert_eq!((kept.status, kept.supporting_docs), (Status::Kept, 2));
        let weak = p.aggregate(
            "c1",
            &[
                vote(Support, 0.9, "a"),
                vote(Support, 0.8, "b"),
                vote(Abstain, 0.0, "a"),
                vote(Abstain, 0.0, "a"),
                vote(Abstain, 0.0, "a"),
            ],
        );
        assert_eq!(weak.status, Status::Dropped);
        let disputed = p.aggregate(
            "c1",
            &[
                vote(Support, 0.9, "a"),
                vote(Support, 0.8, "b"),
                vote(Support, 0.8, "a"),
                vote(Abstain, 0.0, "a"),
                vote(Refute, 0.7, "c"),
            ],
        );
        assert_eq!(disputed.status, Status::Disputed);
        // A refutation below the dispute threshold does not dispute a supported claim.
        let faint = p.aggregate(
            "c1",
            &[
                vote(Support, 0.9, "a"),
                vote(Support, 0.8, "b"),
                vote(Support, 0.8, "a"),
                vote(Abstain, 0.0, "a"),
                vote(Refute, 0.3, "c"),
            ],
        );
        assert_eq!(faint.status, Status::Kept);
        let strict = Policy {
            min_sources: 3,
            ..Policy::default()
        };
        assert_eq!(
            strict
                .aggregate(
                    "c1",
                    &[
                        vote(Support, 0.9, "a"),
                        vote(Support, 0.8, "b"),
                        vote(Support, 0.8, "a")
                    ]
                )
                .status,
            Status::Dropped
        );
        let refuted = p.aggregate(
            "c1",
            &[
                vote(Refute, 0.9, "a"),
                vote(Refute, 0.8, "b"),
                vote(Abstain, 0.0, "a"),
            ],
        );
        assert_eq!(refuted.judgement().label(), "refuted");
    }

    #[test]
    fn policy_validation() {
        assert!(Policy::default().validate().is_ok());
        assert_eq!(
            Policy {
                reviewers: 2,
                quorum: 1,
                ..Policy::default()
            }
            .validate(),
            Err(PolicyError::TooFewReviewers(2))
        );
        assert!(Policy {
            quorum: 6,
            ..Policy::default()
        }
        .validate()
        .is_err());
        assert!(Policy {
            min_sources: 0,
            ..Policy::default()
        }
        .validate()
        .is_err());
    }
}
