//! Stage 1: question -> plan. The engine's planner proposes; this stage enforces the shape every
//! later stage relies on (3 to 8 sub-queries, ids 0..n, no empty queries).

use crate::artifact::Plan;
use crate::engine::{Planner, RoleError};

pub use crate::artifact::{MAX_SUB_QUERIES, MIN_SUB_QUERIES};

#[derive(Debug, thiserror::Error)]
pub enum PlanError {
    #[error(
        "the question is empty: ask something, e.g. research \"How do replication slots work?\""
    )]
    EmptyQuestion,
    #[error("planning failed: {0}")]
    Role(#[from] RoleError),
    #[error("the planner returned no usable sub-queries")]
    Empty,
}

pub async fn plan(planner: &dyn Planner, question: &str) -> Result<Plan, PlanError> {
    let question = question.trim();
    if question.is_empty() {
        return Err(PlanError::EmptyQuestion);
    }
    let mut plan = planner.plan(question).await?;
    plan.sub_queries.retain(|s| !s.query.trim().is_empty());
    plan.sub_queries.truncate(MAX_SUB_QUERIES);
    if plan.sub_queries.is_empty() {
        return Err(PlanError::Empty);
    }
    for (i, s) in plan.sub_queries.iter_mut().enumerate() {
        s.id = i;
    }
    Ok(plan)
}
