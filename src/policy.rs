//! The voting policy: plain data every stage may carry (the report states it, the journal
//! keeps it). How votes become a verdict under it is the review stage's business.

use serde::{Deserialize, Serialize};

/// The voting policy (documented in README.md under "Voting policy").
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Policy {
    /// Panel size (at least 3; at least one skeptic).
    pub reviewers: usize,
    /// Support votes needed to keep a claim.
    pub quorum: usize,
    /// Distinct documents that must support a kept claim.
    pub min_sources: usize,
    /// A refutation at or above this confidence makes a supported claim disputed.
    pub dispute_confidence: f32,
}

impl Default for Policy {
    fn default() -> Self {
        Policy {
            reviewers: 5,
            quorum: 3,
            min_sources: 1,
            dispute_confidence: 0.5,
        }
    }
}

#[derive(Debug, thiserror::Error, PartialEq)]
pub enum PolicyError {
    #[error(
        "--reviewers must be at least 3 (got {0}): a panel needs independent votes and a skeptic"
    )]
    TooFewReviewers(usize),
    #[error("--quorum must be between 1 and the number of reviewers ({reviewers}), got {quorum}")]
    BadQuorum { quorum: usize, reviewers: usize },
    #[error("--min-sources must be at least 1")]
    BadMinSources,
}

impl Policy {
    pub fn validate(&self) -> Result<(), PolicyError> {
        if self.reviewers < 3 {
            return Err(PolicyError::TooFewReviewers(self.reviewers));
        }
        if self.quorum == 0 || self.quorum > self.reviewers {
            return Err(PolicyError::BadQuorum {
                quorum: self.quorum,
                reviewers: self.reviewers,
            });
        }
        if self.min_sources == 0 {
            return Err(PolicyError::BadMinSources);
        }
        Ok(())
    }
}
