//! Stage 3: claims. The engine's extractor proposes claims from the gathered passages; this stage
//! checks every quote against the stored source (a claim whose quote is not found verbatim at its
//! span loses that citation, and with none left it is not a claim) and numbers what remains.

use crate::artifact::{Claim, Evidence, Plan};
use crate::engine::{Extractor, RoleError};
use crate::index::{IndexError, SearchBackend};
use crate::quote::QuoteChecker;

#[derive(Debug, thiserror::Error)]
pub enum ClaimsError {
    #[error("claim extraction failed: {0}")]
    Role(#[from] RoleError),
    #[error(transparent)]
    Index(#[from] IndexError),
}

#[derive(Debug, Clone, Default, PartialEq, serde::Serialize, serde::Deserialize)]
pub struct ClaimsOutcome {
    pub claims: Vec<Claim>,
    /// Claims dropped because none of their quotes was found in the stored source.
    pub quotes_failed: usize,
}

pub async fn extract(
    extractor: &dyn Extractor,
    store: &dyn SearchBackend,
    question: &str,
    plan: &Plan,
    evidence: &[Evidence],
) -> Result<ClaimsOutcome, ClaimsError> {
    let proposed = extractor.extract(question, plan, evidence).await?;
    let mut checker = QuoteChecker::new(store);
    let mut out = ClaimsOutcome::default();
    for mut claim in proposed {
        checker.retain(&mut claim.citations)?;
        if claim.citations.is_empty() {
            out.quotes_failed += 1;
            continue;
        }
        if claim.sub_query >= plan.sub_queries.len() {
            claim.sub_query = 0;
        }
        out.claims.push(claim);
    }
    // Ids are the pipeline's, not the engine's: unique and in order.
    for (i, c) in out.claims.iter_mut().enumerate() {
        c.id = format!("c{}", i + 1);
    }
    Ok(out)
}
