//! The roles an engine plays (planner, extractor, reviewer, writer). The pipeline drives these
//! traits and never knows which engine stands behind them.

pub mod llm;
pub mod offline;

use crate::artifact::{Claim, Evidence, Hit, Plan, Reviewed, Section, Vote};
use crate::index::{IndexError, SearchRequest, Store};
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
    /// One vote per claim, in order. A reviewer that fails returns `Stance::Error` votes
    /// (unverified), never refutations.
    async fn review(&self, question: &str, claims: &[Claim], evidence: &Retriever) -> Vec<Vote>;
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

/// Spend and estimates of an engine that pays for calls.
pub trait Accounting: Send + Sync {
    /// What a run over this plan is expected to cost, given the gathered passages.
    fn estimate(
        &self,
        plan: &Plan,
        passages: usize,
        claims: usize,
        reviewers: usize,
    ) -> crate::artifact::Estimate;
    fn spend(&self) -> crate::artifact::Spend;
    /// Tokens and dollars spent so far, by the calls made for `role` (a reviewer's name,
    /// "extractor"...) or by all calls: live progress asks this several times a second, so it
    /// must stay cheap (unlike [`Accounting::spend`]).
    fn spent(&self, role: Option<&str>) -> (u64, f64);
}

/// Read access to the evidence store, scoped to the corpora of one run. Cheap to clone.
#[derive(Clone)]
pub struct Retriever {
    store: Arc<Store>,
    corpora: Vec<String>,
    documents: Arc<[String]>,
}

impl Retriever {
    pub fn new(store: Arc<Store>, corpora: Vec<String>) -> Retriever {
        Retriever {
            store,
            corpora,
            documents: Arc::from([]),
        }
    }

    /// The same scope, and these documents besides (the web pages this run fetched: not every
    /// page an earlier run left in the store).
    pub fn with_documents(mut self, documents: Vec<String>) -> Retriever {
        self.documents = documents.into();
        self
    }

    pub fn search(&self, mut req: SearchRequest) -> Result<Vec<Hit>, IndexError> {
        // A run with nothing in scope finds nothing (not everything in the store).
        if self.corpora.is_empty() && self.documents.is_empty() {
            return Ok(Vec::new());
        }
        req.corpora = self.corpora.clone();
        req.documents = self.documents.to_vec();
        self.store.search(&req)
    }

    /// How rare a stem is in this retriever's scope.
    pub fn idf(&self, stem: &str) -> f32 {
        self.store.idf_in(stem, &self.corpora, &self.documents)
    }

    pub fn store(&self) -> &Arc<Store> {
        &self.store
    }
}
