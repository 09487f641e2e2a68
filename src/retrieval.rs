//! Retrieval for reviewers, beside the index: the run's search scope ([`Retriever`]), the query
//! formulations a reviewer can search a claim with ([`Formulation`]), and the fusion of their
//! rankings into one evidence list ([`fused`]). Every engine uses it: an offline reviewer
//! searches with its own formulation; an LLM panel shares the fused list.

use crate::artifact::{Claim, Hit};
use crate::index::{IndexError, SearchBackend, SearchRequest};
use crate::text;
use std::collections::HashMap;
use std::sync::Arc;

/// Closeness in meaning of passages to a query: what a sentence-embedding model adds to BM25's
/// word matching ("attach extra context to an exception" and `add_note()` share few words).
pub trait Meaning: Send + Sync {
    /// One similarity per text, in order (higher is closer); `None` when the model failed or
    /// could not finish by `until`, and the lexical order stands.
    fn closeness(&self, query: &str, texts: &[&str], until: std::time::Instant)
        -> Option<Vec<f32>>;
}

/// Read access to the evidence store, scoped to the corpora of one run. Cheap to clone.
#[derive(Clone)]
pub struct Retriever {
    store: Arc<dyn SearchBackend>,
    corpora: Vec<String>,
    documents: Arc<[String]>,
    /// Passages a later round's targeted search found for a claim (by id), read beside the
    /// reviewer's own search: the new evidence a split vote is cast again on.
    leads: Arc<HashMap<String, Vec<Hit>>>,
}

impl Retriever {
    pub fn new(store: Arc<dyn SearchBackend>, corpora: Vec<String>) -> Retriever {
        Retriever {
            store,
            corpora,
            documents: Arc::from([]),
            leads: Arc::default(),
        }
    }

    /// The same scope, with passages found for particular claims (by claim id).
    pub fn with_leads(mut self, leads: HashMap<String, Vec<Hit>>) -> Retriever {
        self.leads = Arc::new(leads);
        self
    }

    /// Passages a targeted search found for this claim, if any.
    pub fn leads(&self, claim_id: &str) -> &[Hit] {
        self.leads.get(claim_id).map(Vec::as_slice).unwrap_or(&[])
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

    pub fn store(&self) -> &Arc<dyn SearchBackend> {
        &self.store
    }
}

/// How a reviewer turns a claim into a query; different formulations find different evidence.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Formulation {
    /// Every content word of the claim.
    Literal,
    /// Only the claim's rarest words.
    Focused,
    /// The claim's adjacent word pairs as phrases.
    Phrases,
    /// The claim together with the question.
    InContext,
    /// The claim's subject without its numbers or negations, hunting for contradictions.
    Skeptic,
}

impl Formulation {
    pub const ALL: [Formulation; 5] = [
        Formulation::Literal,
        Formulation::Focused,
        Formulation::Phrases,
        Formulation::InContext,
        Formulation::Skeptic,
    ];

    /// The query for `claim` (asked under `question`, which may be empty), `limit` passages.
    pub fn query(
        self,
        question: &str,
        claim: &str,
        limit: usize,
        retriever: &Retriever,
    ) -> SearchRequest {
        let mut req = SearchRequest {
            limit,
            ..Default::default()
        };
        // "out of the box" searches as "by default", as the judges read it.
        let claim_text = text::plain_phrases(claim).into_owned();
        let numbers = text::numbers(&claim_text);
        // The claim's content words without its numbers, with their rarity in the scope.
        let words = || -> Vec<(String, f32)> {
            text::content_stems(&claim_text)
                .into_iter()
                .filter(|s| !numbers.iter().any(|n| text::stem(&n.raw) == *s))
                .map(|s| {
                    let w = retriever.idf(&s);
                    (s, w)
                })
                .collect()
        };
        match self {
            Formulation::Literal => req.text = claim_text,
            Formulation::Focused => {
                let mut words = words();
                words.sort_by(|a, b| b.1.total_cmp(&a.1).then_with(|| a.0.cmp(&b.0)));
                req.text = words
                    .iter()
                    .take(4)
                    .map(|(s, _)| s.as_str())
                    .collect::<Vec<_>>()
                    .join(" ");
                // Stems are valid query words: the index tokenizer stems them to themselves.
                for n in &numbers {
                    req.text.push(' ');
                    req.text.push_str(&n.raw);
                }
            }
            Formulation::Phrases => {
                let words: Vec<&str> = text::tokens(&claim_text)
                    .into_iter()
                    .map(|t| t.text)
                    .filter(|w| !text::is_stopword(&w.to_lowercase()))
                    .collect();
                req.phrases = words.windows(2).map(|w| w.join(" ")).collect();
                req.text = claim_text;
            }
            Formulation::InContext => req.text = format!("{claim_text} {question}"),
            Formulation::Skeptic => {
                req.text = words()
                    .iter()
                    .map(|(s, _)| s.as_str())
                    .collect::<Vec<_>>()
                    .join(" ");
            }
        }
        req
    }
}

/// Passages for a claim from every formulation, their rankings fused (reciprocal rank fusion,
/// ties broken by passage), best `limit` first. Evidence a whole panel can share.
pub fn fused(question: &str, claim: &Claim, retriever: &Retriever, limit: usize) -> Vec<Hit> {
    let mut fused: Vec<(f32, Hit)> = Vec::new();
    for formulation in Formulation::ALL {
        let depth = if formulation == Formulation::Skeptic {
            16
        } else {
            8
        };
        let hits = retriever
            .search(formulation.query(question, &claim.text, depth, retriever))
            .unwrap_or_default();
        for (rank, hit) in hits.into_iter().enumerate() {
            let score = 1.0 / (60.0 + rank as f32);
            match fused
                .iter_mut()
                .find(|(_, h)| h.passage.key() == hit.passage.key())
            {
                Some(entry) => entry.0 += score,
                None => fused.push((score, hit)),
            }
        }
    }
    // A targeted search's passages rank as one formulation's list does.
    for (rank, hit) in retriever.leads(&claim.id).iter().enumerate() {
        let score = 1.0 / (60.0 + rank as f32);
        match fused
            .iter_mut()
            .find(|(_, h)| h.passage.key() == hit.passage.key())
        {
            Some(entry) => entry.0 += score,
            None => fused.push((score, hit.clone())),
        }
    }
    fused.sort_by(|a, b| {
        b.0.total_cmp(&a.0)
            .then_with(|| a.1.passage.key().cmp(&b.1.passage.key()))
    });
    fused.into_iter().take(limit).map(|(_, h)| h).collect()
}
