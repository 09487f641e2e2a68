//! Offline writer: the kept claims themselves, grouped by the part of the question they answer,
//! most direct first. Each sentence is a claim's own words, so it never states more than its
//! citation.

use crate::artifact::{Answer, Plan, Reviewed, Section};
use crate::engine::{RoleError, Writer};
use crate::verifier::Verifier;
use async_trait::async_trait;
use std::sync::Arc;

/// With the verifier, the answer's parts are matched to claims by meaning as well as words.
#[derive(Default)]
pub struct OfflineWriter {
    pub verifier: Option<Arc<Verifier>>,
}

#[async_trait]
impl Writer for OfflineWriter {
    async fn write(
        &self,
        question: &str,
        _plan: &Plan,
        kept: &[Reviewed],
    ) -> Result<Vec<Section>, RoleError> {
        Ok(
            super::answer::groups(question, kept, self.verifier.as_deref())
                .into_iter()
                .map(|(heading, claims)| Section {
                    sub_query: claims.first().map_or(0, |r| r.claim.sub_query),
                    heading,
                    sentences: super::answer::lines(&claims),
                })
                .collect(),
        )
    }

    async fn answer(&self, question: &str, kept: &[Reviewed]) -> Result<Answer, RoleError> {
        Ok(super::compose_with(
            question,
            kept,
            self.verifier.as_deref(),
        ))
    }
}
