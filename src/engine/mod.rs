//! The roles an engine plays (planner, extractor, reviewer, writer). The pipeline drives these
//! traits and never knows which engine stands behind them.

pub mod llm;
pub mod offline;

use crate::artifact::{Answer, Claim, Evidence, FollowUp, Hit, Plan, Reviewed, Section, Vote};
use crate::index::IndexError;
use async_trait::async_trait;
use std::sync::Arc;

/// Why a role could not do its work. A retry decides on `is_transient`.
#[derive(Debug, Clone, thiserror::Error)]
pub enum RoleError {
    /// Worth retrying: a timeout, a rate limit, a server hiccup.
    #[error("{0} (transient)")]
    Transient(String),
    /// Retrying will not help: bad configuration, a refused request, unusable output.
    #[error("{0}")]
    Permanent(String),
}

impl RoleError {
    pub fn is_transient(&self) -> bool {
        matches!(self, RoleError::Transient(_))
    }
}

impl From<IndexError> for RoleError {
    fn from(e: IndexError) -> Self {
        RoleError::Permanent(e.to_string())
    }
}

#[async_trait]
pub trait Planner: Send + Sync {
    async fn plan(&self, question: &str) -> Result<Plan, RoleError>;

    /// What the next round searches, at most `breadth`, none of the queries already `asked`:
    /// parts no kept claim answers, names kept claims introduced, claims the panel split on.
    /// Unless a planner proposes its own, the rules over the kept claims decide.
    async fn follow_ups(
        &self,
        plan: &Plan,
        reviewed: &[Reviewed],
        asked: &[String],
        breadth: usize,
    ) -> Result<Vec<FollowUp>, RoleError> {
        Ok(offline::followup::follow_ups(
            plan, reviewed, asked, breadth,
        ))
    }
}

#[async_trait]
pub trait Extractor: Send + Sync {
    /// Candidate claims, each carrying a verbatim quote from one of the evidence passages.
    async fn extract(
        &self,
        question: &str,
        plan: &Plan,
        evidence: &[Evidence],
    ) -> Result<Vec<Claim>, RoleError>;
}

#[async_trait]
pub trait Reviewer: Send + Sync {
    fn name(&self) -> &str;
    /// A skeptic hunts for contradicting evidence rather than confirming.
    fn is_skeptic(&self) -> bool;
    /// One vote per claim of the task, in order. A reviewer that fails returns `Stance::Error`
    /// votes (unverified), never refutations.
    async fn review(&self, task: &ReviewTask) -> Vec<Vote>;
}

/// A plan made without any model call: what a cost estimate assumes the planner will propose
/// (the same shape: the question, its parts, its angles).
pub fn rough_plan(question: &str) -> Plan {
    offline::offline_plan(question)
}

/// Why a panel reviews its claims: what a reviewer may read around them.
#[derive(Debug, Clone, Default, PartialEq)]
pub enum Purpose {
    /// Claims gathered to answer a research question.
    Question(String),
    /// Claims a later round gathered for the question by following up leads (a name an earlier
    /// claim introduced, a part still open, a dispute): a claim may bear on a lead.
    FollowUp {
        question: String,
        leads: Vec<String>,
    },
    /// Statements of a design plan, checked from one angle (`research check-plan`).
    Angle {
        title: String,
        keywords: Vec<String>,
        prompt: String,
    },
    /// Claims given on their own (`research verify`, `digest`, `eval`): nothing around them.
    #[default]
    Claims,
}

impl Purpose {
    /// The research question, when there is one: retrieval may read it beside a claim.
    pub fn question(&self) -> &str {
        match self {
            Purpose::Question(q) => q,
            Purpose::FollowUp { question, .. } => question,
            _ => "",
        }
    }

    /// What a claim must be about to answer this purpose: the question, and a later round's
    /// leads beside it.
    pub fn asked(&self) -> String {
        match self {
            Purpose::FollowUp { question, leads } => format!("{question} {}", leads.join(" ")),
            other => other.question().to_string(),
        }
    }

    /// Words that steer a second retrieval toward the angle's concern.
    pub fn steer(&self) -> &[String] {
        match self {
            Purpose::Angle { keywords, .. } => keywords,
            _ => &[],
        }
    }

    /// The purpose in a sentence, for a model's prompt.
    pub fn describe(&self) -> String {
        match self {
            Purpose::Question(q) => q.clone(),
            Purpose::FollowUp { question, leads } => {
                format!("{question} (following up: {})", leads.join("; "))
            }
            Purpose::Angle {
                title,
                keywords,
                prompt,
            } => format!(
                "checking a design plan from the {title} angle ({}). {}",
                keywords.join(", "),
                crate::text::squash_whitespace(prompt)
            ),
            Purpose::Claims => String::new(),
        }
    }
}

/// Evidence per claim, fused across query formulations: what a panel of one model shares.
pub type PanelEvidence = Vec<(Claim, Vec<Hit>)>;

/// One panel's work: the claims, the evidence store they are checked against, and why. Built
/// once per panel; its reviewers read it side by side.
pub struct ReviewTask {
    pub purpose: Purpose,
    pub claims: Vec<Claim>,
    pub evidence: Retriever,
    /// Built by the first reviewer that asks, shared by the rest of the panel.
    shared: tokio::sync::OnceCell<Option<Arc<PanelEvidence>>>,
}

impl ReviewTask {
    pub fn new(purpose: Purpose, claims: Vec<Claim>, evidence: Retriever) -> ReviewTask {
        ReviewTask {
            purpose,
            claims,
            evidence,
            shared: tokio::sync::OnceCell::new(),
        }
    }

    /// The panel's shared evidence, built once (off the async threads) by `build`; `None`
    /// when building it crashed.
    pub async fn shared_evidence(
        &self,
        build: fn(&Purpose, &[Claim], &Retriever) -> PanelEvidence,
    ) -> Option<Arc<PanelEvidence>> {
        self.shared
            .get_or_init(|| async {
                let (p, c, r) = (
                    self.purpose.clone(),
                    self.claims.clone(),
                    self.evidence.clone(),
                );
                tokio::task::spawn_blocking(move || build(&p, &c, &r))
                    .await
                    .ok()
                    .map(Arc::new)
            })
            .await
            .clone()
    }
}

#[async_trait]
pub trait Writer: Send + Sync {
    /// Prose for the kept claims; every sentence names the claims it rests on.
    async fn write(
        &self,
        question: &str,
        plan: &Plan,
        kept: &[Reviewed],
    ) -> Result<Vec<Section>, RoleError>;

    /// The answer the report opens with: each part of the question answered from the kept
    /// claims, then the key facts. Unless a writer composes its own, the kept claims that speak
    /// to each part are chosen and ordered, in their own words.
    async fn answer(&self, question: &str, kept: &[Reviewed]) -> Result<Answer, RoleError> {
        Ok(offline::compose_answer(question, kept))
    }
}

/// An engine: one implementation of every role.
pub struct Engine {
    pub name: String,
    pub planner: Box<dyn Planner>,
    pub extractor: Box<dyn Extractor>,
    pub reviewers: Vec<Box<dyn Reviewer>>,
    pub writer: Box<dyn Writer>,
    /// Things the engine says about its own run, for the report.
    pub notes: Notes,
    /// Cost accounting, for engines that spend tokens.
    pub accounting: Option<Arc<dyn Accounting>>,
    /// role -> prompt template hash, for the audit.
    pub prompt_hashes: std::collections::BTreeMap<String, String>,
    /// Orders gathered candidates by meaning besides their words, when the engine has a model
    /// for it.
    pub meaning: Option<Arc<dyn crate::retrieval::Meaning>>,
}

/// A shared list of notes.
#[derive(Clone, Default)]
pub struct Notes(Arc<std::sync::Mutex<Vec<String>>>);

impl Notes {
    pub fn push(&self, note: String) {
        if let Ok(mut v) = self.0.lock() {
            if !v.contains(&note) {
                v.push(note);
            }
        }
    }

    pub fn all(&self) -> Vec<String> {
        self.0.lock().map(|v| v.clone()).unwrap_or_default()
    }
}

pub use crate::accounting::Accounting;

pub use crate::retrieval::Retriever;

#[cfg(test)]
mod tests {
    use super::*;
    use crate::index::Store;
    use std::sync::atomic::{AtomicUsize, Ordering};

    static BUILT: AtomicUsize = AtomicUsize::new(0);

    fn build(_: &Purpose, claims: &[Claim], _: &Retriever) -> PanelEvidence {
        BUILT.fetch_add(1, Ordering::SeqCst);
        std::thread::sleep(std::time::Duration::from_millis(50));
        claims.iter().map(|c| (c.clone(), Vec::new())).collect()
    }

    #[tokio::test(flavor = "multi_thread", worker_threads = 2)]
    async fn a_panel_builds_its_shared_evidence_once() {
        let dir = tempfile::tempdir().unwrap();
        let store = Arc::new(Store::open(dir.path()).unwrap());
        let claim = Claim {
            id: "c1".into(),
            text: "Heat ages cells.".into(),
            sub_query: 0,
            score: 0.0,
            citations: Vec::new(),
        };
        let task = ReviewTask::new(
            Purpose::Claims,
            vec![claim],
            Retriever::new(store, Vec::new()),
        );
        // Five reviewers ask at once.
        let got = futures_util::future::join_all((0..5).map(|_| task.shared_evidence(build))).await;
        assert_eq!(BUILT.load(Ordering::SeqCst), 1);
        assert!(got.iter().all(|e| e.as_ref().is_some_and(|e| e.len() == 1)));
    }

    #[test]
    fn an_angle_reaches_reviewers_as_words_to_steer_by_and_a_purpose_to_read() {
        let angle = Purpose::Angle {
            title: "Security".into(),
            keywords: vec!["tls".into(), "auth".into()],
            prompt: "Look for\n  weak   defaults.".into(),
        };
        assert_eq!(angle.question(), "");
        assert_eq!(angle.steer(), ["tls", "auth"]);
        assert_eq!(
            angle.describe(),
            "checking a design plan from the Security angle (tls, auth). Look for weak defaults."
        );
        let q = Purpose::Question("Why?".into());
        assert_eq!((q.question(), q.steer().len()), ("Why?", 0));
        assert_eq!(Purpose::Claims.describe(), "");
    }
}
