//! Deep research: the rounds after the first. Each looks at what the run has (kept claims,
//! split votes, the plan's parts), asks the planner what to search next (gaps, bridges,
//! disputes), gathers only what is new, extracts and votes on it, and votes again on the
//! disputed claims its searches found evidence for. A round that adds no kept claim and settles
//! nothing ends the research; so do `depth`, a stop request and the budget.
//!
//! Every step is a journaled stage keyed by its round, so a killed run resumes in the round it
//! was in without repeating searches, fetches or model calls of finished ones.

use super::{stage, RunConfig, RunError};
use crate::artifact::{
    Angle, Claim, Evidence, FollowUp, Hit, Lead, Plan, Reviewed, Revote, Round, RoundSearch,
    Stance, Status, SubQuery,
};
use crate::claims;
use crate::engine::{Engine, Purpose, ReviewTask};
use crate::gather::{self, Source};
use crate::index::SearchBackend;
use crate::journal::{Key, RunJournal};
use crate::progress::Progress;
use crate::retrieval::Retriever;
use crate::review;
use crate::text;
use std::collections::{HashMap, HashSet};
use std::sync::Arc;

/// How deep a run goes.
#[derive(Debug, Clone, Copy, PartialEq, Eq, serde::Serialize, serde::Deserialize)]
pub struct Depth {
    /// Rounds in all, the first included: 1 is a single pass.
    pub rounds: usize,
    /// Follow-up searches per round at most.
    pub breadth: usize,
}

impl Default for Depth {
    fn default() -> Depth {
        Depth {
            rounds: 2,
            breadth: 4,
        }
    }
}

/// What the first round left: the plan, every reviewed claim, the passages seen, the documents
/// sources brought in, and the retrieval scope.
pub struct State {
    pub plan: Plan,
    pub reviewed: Vec<Reviewed>,
    pub seen: HashSet<String>,
    pub brought: Vec<String>,
    pub trail: Vec<Round>,
    /// Passages and claims the later rounds added, for the run's figures.
    pub passages: usize,
    pub claims_considered: usize,
    pub quotes_failed: usize,
}

impl State {
    /// Takes in what a gather brought: its documents join the reviewers' scope, and its
    /// passages no earlier search found are counted and returned.
    fn take_in(&mut self, gathered: &gather::GatherOutcome) -> Vec<Evidence> {
        let fresh: Vec<Evidence> = gathered
            .evidence
            .iter()
            .filter(|e| !self.seen.contains(&e.hit.passage.key()))
            .cloned()
            .collect();
        self.passages += fresh.len();
        self.seen.extend(fresh.iter().map(|e| e.hit.passage.key()));
        for d in &gathered.brought {
            if !self.brought.contains(d) {
                self.brought.push(d.clone());
            }
        }
        fresh
    }
}

/// Run rounds 2..=depth over `state`. Returns when a round adds nothing, at the depth, or when
/// the run is stopped; a budget that runs out leaves the rounds finished (the calls it refused
/// are unverified votes, never refutations).
#[allow(clippy::too_many_arguments)]
pub async fn deepen(
    cfg: &RunConfig,
    engine: &Engine,
    store: &Arc<dyn SearchBackend>,
    scope: &[String],
    sources: &[Arc<dyn Source>],
    mut state: State,
    progress: &Progress,
) -> Result<State, RunError> {
    let journal = cfg.journal.as_deref();
    // Whether the last panel cast any vote: one whose every vote failed (a server down, a key
    // refused, the budget spent) would fail again, and another round would only pay for that.
    let mut last_panel_voted = state
        .reviewed
        .iter()
        .any(|r| r.votes.iter().any(|v| v.stance != Stance::Error));
    for round in 2..=cfg.depth.rounds {
        if stopped(journal) {
            break;
        }
        if !last_panel_voted {
            progress.note(&format!(
                "round {round} not started: every vote of the last round failed"
            ));
            break;
        }
        let asked: Vec<String> = state
            .plan
            .sub_queries
            .iter()
            .map(|s| s.query.clone())
            .collect();
        let follow_ups = stage(journal, Key::Round(round, "follow-ups".into()), || async {
            Ok(
                match engine
                    .planner
                    .follow_ups(&state.plan, &state.reviewed, &asked, cfg.depth.breadth)
                    .await
                {
                    Ok(f) => f,
                    Err(e) => {
                        progress.note(&format!("round {round}: the planner failed ({e})"));
                        Vec::new()
                    }
                },
            )
        })
        .await?;
        if follow_ups.is_empty() {
            progress.note(&format!(
                "round {round}: nothing left to follow up; research ends"
            ));
            break;
        }
        let spinner = progress.stage(&format!(
            "round {round}: {} follow-up searches",
            follow_ups.len()
        ));
        let first_id = state.plan.sub_queries.len();
        let subs: Vec<SubQuery> = follow_ups
            .iter()
            .enumerate()
            .map(|(i, f)| SubQuery {
                id: first_id + i,
                angle: Angle::FollowUp,
                label: label(f.lead, &f.query),
                query: f.query.clone(),
            })
            .collect();
        // A dispute's search is for evidence that settles the claim, read by the re-vote below:
        // what it finds is the other side of a split, not a finding of its own. It reads stored
        // evidence first; the web is asked only for the claims that stay split after that.
        let dispute_searches: HashSet<usize> = subs
            .iter()
            .zip(&follow_ups)
            .filter(|(_, f)| f.lead == Lead::Dispute)
            .map(|(sub, _)| sub.id)
            .collect();
        let gathered = stage(journal, Key::Round(round, "gather".into()), || async {
            Ok(
                gather::gather_where(&subs, sources, cfg.budget, progress, |sq, source| {
                    !(dispute_searches.contains(&sq.id) && source.reaches_out())
                })
                .await,
            )
        })
        .await?;
        let fresh = state.take_in(&gathered);
        state.plan.sub_queries.extend(subs.iter().cloned());

        let extracted = stage(journal, Key::Round(round, "claims".into()), || async {
            Ok(claims::extract(
                engine.extractor.as_ref(),
                store.as_ref(),
                &state.plan.question,
                &state.plan,
                // Passages an earlier round saw are read again under this round's searches: a
                // sentence the question's wording passed over may answer a follow-up. Claims
                // already made from them are dropped below.
                &gathered.evidence,
            )
            .await?)
        })
        .await?;
        state.claims_considered += extracted.claims.len() + extracted.quotes_failed;
        state.quotes_failed += extracted.quotes_failed;
        let found: Vec<Claim> = extracted
            .claims
            .into_iter()
            .filter(|c| !dispute_searches.contains(&c.sub_query))
            .collect();
        let new_claims = novel(&state.reviewed, found, round);

        // A disputed claim is voted on again when its targeted search found passages.
        let leads = dispute_leads(subs.iter().zip(&follow_ups), &gathered.evidence);
        let revote: Vec<Claim> = state
            .reviewed
            .iter()
            .filter(|r| r.verdict.status == Status::Disputed && leads.contains_key(&r.claim.id))
            .map(|r| r.claim.clone())
            .collect();
        let mut to_review = new_claims.clone();
        to_review.extend(revote.iter().cloned());
        let retriever = Retriever::new(Arc::clone(store), scope.to_vec())
            .with_documents(state.brought.clone())
            .with_leads(leads);
        let task = ReviewTask::new(
            Purpose::FollowUp {
                question: state.plan.question.clone(),
                leads: follow_ups.iter().map(|f| f.query.clone()).collect(),
            },
            to_review,
            retriever,
        );
        let voted = if task.claims.is_empty() {
            Vec::new()
        } else {
            review::review_journaled(
                &engine.reviewers,
                &cfg.policy,
                &task,
                review::Ballot::round(round),
                journal,
                progress,
            )
            .await?
        };
        if stopped(journal) {
            // The round's votes are journaled; a resume finishes it.
            break;
        }

        let voted_any = voted.is_empty()
            || voted
                .iter()
                .any(|r| r.votes.iter().any(|v| v.stance != Stance::Error));
        let mut revoted = Vec::new();
        let mut added_kept = 0;
        let mut searches: Vec<RoundSearch> = follow_ups
            .iter()
            .zip(&subs)
            .map(|(f, sub)| RoundSearch {
                follow_up: f.clone(),
                new_passages: fresh.iter().filter(|e| e.sub_query == sub.id).count(),
                new_claims: 0,
                kept: 0,
            })
            .collect();
        for r in voted {
            match state
                .reviewed
                .iter_mut()
                .find(|old| old.claim.id == r.claim.id)
            {
                Some(old) => {
                    added_kept += usize::from(replace_vote(old, r, round, false, &mut revoted));
                }
                None => {
                    let kept = r.verdict.status == Status::Kept;
                    // Made again and still not kept: the earlier verdict stands alone.
                    let again = state
                        .reviewed
                        .iter()
                        .any(|old| may_be_made_again(old) && same_quote(&old.claim, &r.claim));
                    if again {
                        if !kept {
                            continue;
                        }
                        state.reviewed.retain(|old| {
                            !(may_be_made_again(old) && same_quote(&old.claim, &r.claim))
                        });
                    }
                    if let Some(s) = searches
                        .iter_mut()
                        .zip(&subs)
                        .find(|(_, sub)| sub.id == r.claim.sub_query)
                        .map(|(s, _)| s)
                    {
                        s.new_claims += 1;
                        s.kept += usize::from(kept);
                    }
                    added_kept += usize::from(kept);
                    state.reviewed.push(r);
                }
            }
        }
        // Claims still split after the stored evidence was read: the web, when the run has it,
        // is searched for them, and they are voted on once more with what it brings.
        let still_split: Vec<(&SubQuery, &FollowUp)> = subs
            .iter()
            .zip(&follow_ups)
            .filter(|(_, f)| {
                f.lead == Lead::Dispute
                    && f.claim_id.as_ref().is_some_and(|id| {
                        state
                            .reviewed
                            .iter()
                            .any(|r| &r.claim.id == id && r.verdict.status == Status::Disputed)
                    })
            })
            .collect();
        if voted_any && !still_split.is_empty() && sources.iter().any(|s| s.reaches_out()) {
            let web_subs: Vec<SubQuery> =
                still_split.iter().map(|(sub, _)| (*sub).clone()).collect();
            let web = stage(journal, Key::Round(round, "web-gather".into()), || async {
                Ok(
                    gather::gather_where(&web_subs, sources, cfg.budget, progress, |_, source| {
                        source.reaches_out()
                    })
                    .await,
                )
            })
            .await?;
            let new_here = state.take_in(&web);
            for (s, sub) in searches.iter_mut().zip(&subs) {
                s.new_passages += new_here.iter().filter(|e| e.sub_query == sub.id).count();
            }
            let web_leads = dispute_leads(still_split.iter().copied(), &web.evidence);
            let again: Vec<Claim> = state
                .reviewed
                .iter()
                .filter(|r| web_leads.contains_key(&r.claim.id))
                .map(|r| r.claim.clone())
                .collect();
            if !again.is_empty() {
                let task = ReviewTask::new(
                    Purpose::FollowUp {
                        question: state.plan.question.clone(),
                        leads: follow_ups.iter().map(|f| f.query.clone()).collect(),
                    },
                    again,
                    Retriever::new(Arc::clone(store), scope.to_vec())
                        .with_documents(state.brought.clone())
                        .with_leads(web_leads),
                );
                let voted = review::review_journaled(
                    &engine.reviewers,
                    &cfg.policy,
                    &task,
                    review::Ballot { round, web: true },
                    journal,
                    progress,
                )
                .await?;
                for r in voted {
                    if let Some(old) = state
                        .reviewed
                        .iter_mut()
                        .find(|old| old.claim.id == r.claim.id)
                    {
                        added_kept += usize::from(replace_vote(old, r, round, true, &mut revoted));
                    }
                }
            }
        }
        last_panel_voted = voted_any;
        let settled = revoted.iter().filter(|r| r.before != r.after).count();
        spinner.done(format!(
            "round {round}: {} new passages, {} new claims, {added_kept} newly kept, {settled} disputes settled",
            fresh.len(),
            new_claims.len()
        ));
        state.trail.push(Round {
            number: round,
            searches,
            revoted,
        });
        if added_kept == 0 && settled == 0 {
            progress.note(&format!(
                "round {round} added no kept claim and settled no dispute; research ends"
            ));
            break;
        }
    }
    Ok(state)
}

/// Passages each disputed claim's own search found, by claim id.
fn dispute_leads<'a>(
    searches: impl Iterator<Item = (&'a SubQuery, &'a FollowUp)>,
    evidence: &[Evidence],
) -> HashMap<String, Vec<Hit>> {
    let mut leads: HashMap<String, Vec<Hit>> = HashMap::new();
    for (sub, f) in searches {
        let (Lead::Dispute, Some(id)) = (f.lead, &f.claim_id) else {
            continue;
        };
        let hits: Vec<Hit> = evidence
            .iter()
            .filter(|e| e.found_by(sub.id))
            .map(|e| e.hit.clone())
            .collect();
        if !hits.is_empty() {
            leads.entry(id.clone()).or_default().extend(hits);
        }
    }
    leads
}

/// Puts a claim's new vote in place of its old one, noting the change in `revoted` (a claim voted
/// twice in a round, on stored then on web evidence, keeps one entry from its state before the
/// round). Returns whether the claim is newly kept.
fn replace_vote(
    old: &mut Reviewed,
    mut new: Reviewed,
    round: usize,
    web: bool,
    revoted: &mut Vec<Revote>,
) -> bool {
    let before = old.verdict.status;
    let after = new.verdict.status;
    let evidence = if web {
        "new web evidence"
    } else {
        "new evidence"
    };
    new.verdict.reason = if before == after {
        format!(
            "{}; voted again in round {round} on {evidence}, still {}",
            new.verdict.reason,
            after.word()
        )
    } else {
        format!(
            "{}; settled in round {round} by {evidence} (was {})",
            new.verdict.reason,
            before.word()
        )
    };
    match revoted.iter_mut().find(|r| r.claim_id == new.claim.id) {
        Some(r) => {
            r.after = after;
            r.web |= web;
        }
        None => revoted.push(Revote {
            claim_id: new.claim.id.clone(),
            before,
            after,
            web,
        }),
    }
    *old = new;
    // The round's new evidence decides the claim now, either way.
    before != after && after == Status::Kept
}

fn stopped(journal: Option<&RunJournal>) -> bool {
    journal.is_some_and(|j| j.interrupted())
}

/// A round's claims that no earlier claim already states (the same quote, or nearly the same
/// words, as the extractor merges near-duplicates), with ids of their own round.
fn novel(earlier: &[Reviewed], claims: Vec<Claim>, round: usize) -> Vec<Claim> {
    // A claim dropped only for want of support (nobody refuted it) is made again when a
    // follow-up search finds it: the lead may be what it was missing ("add_note" for a
    // sentence about notes).
    let earlier: Vec<&Reviewed> = earlier.iter().filter(|r| !may_be_made_again(r)).collect();
    let mut known: Vec<Vec<String>> = earlier
        .iter()
        .map(|r| text::content_stems(&r.claim.text))
        .collect();
    let mut quotes: HashSet<(String, usize)> = earlier
        .iter()
        .flat_map(|r| r.claim.citations.iter())
        .map(|c| (c.doc_id.clone(), c.start))
        .collect();
    let mut out = Vec::new();
    for mut c in claims {
        let words = text::content_stems(&c.text);
        let quoted = c
            .citations
            .iter()
            .any(|q| quotes.contains(&(q.doc_id.clone(), q.start)));
        if quoted || known.iter().any(|k| text::jaccard(k, &words) >= 0.8) {
            continue;
        }
        quotes.extend(c.citations.iter().map(|q| (q.doc_id.clone(), q.start)));
        known.push(words);
        c.id = format!("r{round}c{}", out.len() + 1);
        out.push(c);
    }
    out
}

/// A claim a later round may make again: dropped, with no reviewer refuting it.
fn may_be_made_again(r: &Reviewed) -> bool {
    r.verdict.status == Status::Dropped && r.verdict.refute == 0
}

/// Whether two claims quote the same place.
fn same_quote(a: &Claim, b: &Claim) -> bool {
    a.citations.iter().any(|x| {
        b.citations
            .iter()
            .any(|y| x.doc_id == y.doc_id && x.start == y.start)
    })
}

fn label(lead: Lead, query: &str) -> String {
    let what = match lead {
        Lead::Gap => "Still open",
        Lead::Bridge => "Following",
        Lead::Dispute => "Settling",
    };
    format!("{what}: {query}")
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::artifact::{Citation, Verdict};

    fn claim(id: &str, text: &str, start: usize) -> Claim {
        Claim {
            id: id.into(),
            text: text.into(),
            sub_query: 0,
            score: 1.0,
            citations: vec![Citation {
                doc_id: "exceptions.html".into(),
                start,
                end: start + text.len(),
                quote: text.into(),
                ..Default::default()
            }],
        }
    }

    fn reviewed(c: Claim, status: Status, refute: usize) -> Reviewed {
        Reviewed {
            verdict: Verdict {
                claim_id: c.id.clone(),
                status,
                support: 1,
                refute,
                abstain: 4,
                errors: 0,
                supporting_docs: 1,
                reason: String::new(),
            },
            claim: c,
            votes: Vec::new(),
        }
    }

    #[test]
    fn a_claim_dropped_for_want_of_support_is_made_again_and_a_refuted_or_kept_one_is_not() {
        let weak = "A TypeError is raised if note is not a string.";
        let refuted = "Notes are stored in the __notes__ tuple.";
        let kept = "Add the string note to the exception's notes.";
        let earlier = vec![
            reviewed(claim("c1", weak, 10), Status::Dropped, 0),
            reviewed(claim("c2", refuted, 100), Status::Dropped, 1),
            reviewed(claim("c3", kept, 200), Status::Kept, 0),
        ];
        let again = novel(
            &earlier,
            vec![
                claim("x1", weak, 10),
                claim("x2", refuted, 100),
                claim("x3", kept, 200),
            ],
            2,
        );
        let texts: Vec<&str> = again.iter().map(|c| c.text.as_str()).collect();
        assert_eq!(texts, [weak]);
        assert_eq!(again[0].id, "r2c1");
    }
}
