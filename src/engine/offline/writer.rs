//! Offline writer: the kept claims themselves, grouped by the angle that found them, best first.
//! Each sentence is a claim's own words, so it never states more than its citation.

use crate::artifact::{Answer, Plan, Reviewed, Section, Sentence};
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
        _question: &str,
        plan: &Plan,
        kept: &[Reviewed],
    ) -> Result<Vec<Section>, RoleError> {
        Ok(plan
            .sub_queries
            .iter()
            .filter_map(|sq| {
                let mut items: Vec<&Reviewed> =
                    kept.iter().filter(|r| r.claim.sub_query == sq.id).collect();
                items.sort_by(|a, b| b.claim.score.total_cmp(&a.claim.score));
                (!items.is_empty()).then(|| Section {
                    sub_query: sq.id,
                    heading: sq.label.clone(),
                    sentences: items
                        .iter()
                        .map(|r| Sentence {
                            text: r.claim.text.clone(),
                            claim_ids: vec![r.claim.id.clone()],
                        })
                        .collect(),
                })
            })
            .collect())
    }

    async fn answer(&self, question: &str, kept: &[Reviewed]) -> Result<Answer, RoleError> {
        Ok(super::compose_with(
            question,
            kept,
            self.verifier.as_deref(),
        ))
    }
}
