//! `research verify`: the reviewer panel on claims given by the user rather than extracted.

use crate::artifact::{Claim, Vote};
use crate::engine::{Engine, Purpose, Retriever, ReviewTask};
use crate::journal::{Key, RunJournal};
use crate::pipeline::{stage, RunError};
use crate::review::{self, Policy};
use serde::{Deserialize, Serialize};
use std::path::Path;

/// One input line of a claims file: `{"id": "...", "claim": "..."}` (other fields ignored).
#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct ClaimInput {
    pub id: String,
    pub claim: String,
}

/// One output line: the verdict and every vote behind it.
#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct VerifyResult {
    pub id: String,
    pub claim: String,
    /// supported | refuted | insufficient | disputed
    pub verdict: String,
    pub support: usize,
    pub refute: usize,
    pub abstain: usize,
    /// Votes that failed (never counted as refutations).
    pub unverified: usize,
    pub supporting_docs: usize,
    pub reason: String,
    pub votes: Vec<Vote>,
}

#[derive(Debug, thiserror::Error)]
pub enum VerifyError {
    #[error("cannot read {path}")]
    Read {
        path: String,
        source: std::io::Error,
    },
    #[error("{path}:{line}: not a claim line ({detail}); expected {{\"id\": \"...\", \"claim\": \"...\"}}")]
    BadLine {
        path: String,
        line: usize,
        detail: String,
    },
    #[error("{0} holds no claims")]
    Empty(String),
    #[error("the claim is empty: give the statement to check, e.g. research verify \"WAL is written before data pages\"")]
    EmptyClaim,
}

/// Read a JSONL claims file; blank lines are allowed, a malformed line is an error naming it.
pub fn read_claims(path: &Path) -> Result<Vec<ClaimInput>, VerifyError> {
    let shown = path.display().to_string();
    let text = std::fs::read(path).map_err(|source| VerifyError::Read {
        path: shown.clone(),
        source,
    })?;
    let text = String::from_utf8_lossy(&text);
    let mut out = Vec::new();
    for (i, line) in text.lines().enumerate() {
        if line.trim().is_empty() {
            continue;
        }
        let c: ClaimInput = serde_json::from_str(line).map_err(|e| VerifyError::BadLine {
            path: shown.clone(),
            line: i + 1,
            detail: e.to_string(),
        })?;
        if c.claim.trim().is_empty() {
            return Err(VerifyError::BadLine {
                path: shown.clone(),
                line: i + 1,
                detail: "empty claim".into(),
            });
        }
        out.push(c);
    }
    if out.is_empty() {
        return Err(VerifyError::Empty(shown));
    }
    Ok(out)
}

/// Claims the panel reviews in one step: one batched call per reviewer on a model, and the
/// unit a killed run resumes from.
pub const CLAIMS_PER_STEP: usize = 4;

/// [`verify`] step by step through the run journal: each step's verdicts are handed to `emit`
/// as soon as the panel has judged them, and journaled; a resumed run hands over the steps it
/// had finished from the journal (no vote is cast again) and carries on with the next claim.
/// The claims themselves are journaled, so a resumed run checks what the first one was given.
pub async fn verify_journaled(
    inputs: Vec<ClaimInput>,
    engine: &Engine,
    policy: &Policy,
    retriever: &Retriever,
    journal: Option<&RunJournal>,
    emit: &mut (dyn FnMut(&VerifyResult) + Send),
) -> Result<(), RunError> {
    let inputs: Vec<ClaimInput> = stage(journal, Key::Inputs, || async { Ok(inputs) }).await?;
    for (n, step) in inputs.chunks(CLAIMS_PER_STEP).enumerate() {
        let results: Vec<VerifyResult> = stage(journal, Key::Verdicts(n), || async {
            Ok(verify(step, engine, policy, retriever).await)
        })
        .await?;
        for r in &results {
            emit(r);
        }
    }
    Ok(())
}

/// Run the panel on each claim.
pub async fn verify(
    inputs: &[ClaimInput],
    engine: &Engine,
    policy: &Policy,
    retriever: &Retriever,
) -> Vec<VerifyResult> {
    let claims: Vec<Claim> = inputs
        .iter()
        .map(|c| Claim {
            id: c.id.clone(),
            text: crate::text::squash_whitespace(&c.claim),
            sub_query: 0,
            score: 0.0,
            citations: Vec::new(),
        })
        .collect();
    let task = ReviewTask::new(Purpose::Claims, claims, retriever.clone());
    let reviewed = review::review(&engine.reviewers, policy, &task).await;
    reviewed
        .into_iter()
        .map(|r| VerifyResult {
            id: r.claim.id.clone(),
            claim: r.claim.text.clone(),
            verdict: r.verdict.judgement().label().to_string(),
            support: r.verdict.support,
            refute: r.verdict.refute,
            abstain: r.verdict.abstain,
            unverified: r.verdict.errors,
            supporting_docs: r.verdict.supporting_docs,
            reason: r.verdict.reason,
            votes: r.votes,
        })
        .collect()
}
