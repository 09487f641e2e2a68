//! Stage 2: gather. One agent per (sub-query, source), all running concurrently, each under its
//! own budget (passages and deadline). Results are merged and deduplicated by passage.

use crate::artifact::{Evidence, Hit, Skipped, SubQuery};
use crate::index::SearchRequest;
use crate::progress::Progress;
use crate::retrieval::{Meaning, Retriever};
use async_trait::async_trait;
use std::collections::HashMap;
use std::sync::Arc;
use std::time::Duration;

/// What one agent may spend.
#[derive(Debug, Clone, Copy)]
pub struct AgentBudget {
    pub max_passages: usize,
    pub deadline: Duration,
}

impl Default for AgentBudget {
    fn default() -> Self {
        AgentBudget {
            max_passages: 24,
            deadline: Duration::from_secs(30),
        }
    }
}

#[derive(Debug, Clone, thiserror::Error)]
pub enum SourceError {
    #[error("{source_name}: {detail}")]
    Failed { source_name: String, detail: String },
}

/// A place passages come from: a local corpus now, the web and feeds behind the same trait.
#[async_trait]
pub trait Source: Send + Sync {
    fn name(&self) -> String;
    async fn gather(
        &self,
        sub_query: &SubQuery,
        budget: AgentBudget,
    ) -> Result<Vec<Hit>, SourceError>;
    /// What this source could not use (pages it failed to fetch...), asked once all its
    /// agents are done.
    fn take_skipped(&self) -> Vec<Skipped> {
        Vec::new()
    }
    /// Documents this source indexed during the run, and found unchanged (cache hits).
    fn documents(&self) -> (usize, usize) {
        (0, 0)
    }
    /// The ids of the documents this source brought into the run (fetched or found unchanged),
    /// asked once all its agents are done: reviewers search them besides the corpora.
    fn brought(&self) -> Vec<String> {
        Vec::new()
    }
    /// Whether a search here goes out to the network (the web), rather than reading what is
    /// stored: a later round asks such a source only what stored evidence could not settle.
    fn reaches_out(&self) -> bool {
        false
    }
}

/// The indexed local corpora of this run.
pub struct CorpusSource {
    pub retriever: Retriever,
    /// Reads a larger lexical pool by meaning, when the engine has a model for it.
    pub meaning: Option<Arc<dyn Meaning>>,
}

/// How many lexical candidates per passage kept the meaning model reads: enough to reach a
/// passage that shares few words with the question (`add_note()` ranks near 100th for "attach
/// extra context to an exception"), few enough that a run stays within a minute on 2 cores.
const POOL_FACTOR: usize = 4;

#[async_trait]
impl Source for CorpusSource {
    fn name(&self) -> String {
        "corpus".into()
    }

    async fn gather(
        &self,
        sub_query: &SubQuery,
        budget: AgentBudget,
    ) -> Result<Vec<Hit>, SourceError> {
        let retriever = self.retriever.clone();
        let keep = budget.max_passages;
        let meaning = self.meaning.clone();
        let req = SearchRequest {
            text: sub_query.query.clone(),
            phrases: quoted_phrases(&sub_query.query),
            limit: if meaning.is_some() {
                keep * POOL_FACTOR
            } else {
                keep
            },
            ..Default::default()
        };
        // A part reads best as the words it was asked in; the other angles are searches.
        let asked = match sub_query.angle {
            crate::artifact::Angle::Part => sub_query.label.clone(),
            _ => sub_query.query.clone(),
        };
        let fail = |detail: String| SourceError::Failed {
            source_name: "corpus".into(),
            detail,
        };
        // The question's own wording matches lists by chance; a focused search (a part, an
        // angle, a follow-up) asks for what a list it finds is about.
        let focused = sub_query.angle != crate::artifact::Angle::Question;
        // Reading by meaning may take three quarters of the agent's time; past that the words'
        // order stands, so a busy machine costs the rerank, never the agent's passages.
        let until = std::time::Instant::now() + budget.deadline * 3 / 4;
        tokio::task::spawn_blocking(move || {
            let mut hits = retriever.search(req.clone())?;
            if let Some(m) = meaning {
                let texts: Vec<String> = hits.iter().map(passage_for_meaning).collect();
                let refs: Vec<&str> = texts.iter().map(String::as_str).collect();
                hits = match m.closeness(&asked, &refs, until) {
                    Some(sims) => by_meaning(hits, &sims, keep),
                    None => hits.into_iter().take(keep).collect(),
                };
            }
            if focused {
                with_continuations(&retriever, &req, hits)
            } else {
                Ok(hits)
            }
        })
        .await
        .map_err(|e| fail(e.to_string()))?
        .map_err(|e| fail(e.to_string()))
    }
}

/// What the meaning model reads of a passage: the name its section gives it (a reference
/// entry's `add_note(note)`) before the opening of its text, which says what the passage is
/// about; reading no further keeps a run's reading within seconds on 2 cores.
fn passage_for_meaning(hit: &Hit) -> String {
    let text = &hit.passage.text;
    let mut end = text.len().min(MEANING_CHARS);
    while !text.is_char_boundary(end) {
        end -= 1;
    }
    match hit.passage.heading_path.last() {
        Some(h) => format!("{h}: {}", &text[..end]),
        None => text[..end].to_string(),
    }
}

/// Characters of a passage's text the meaning model reads (about 60 word pieces).
const MEANING_CHARS: usize = 280;

/// `keep` of the lexical pool `hits` (best first), taken in turn from the lexical order and
/// from the order of `sims` (closeness in meaning): the words' best stay, and what says the
/// same in other words joins them.
fn by_meaning(hits: Vec<Hit>, sims: &[f32], keep: usize) -> Vec<Hit> {
    let mut semantic: Vec<usize> = (0..hits.len()).collect();
    semantic.sort_by(|&a, &b| {
        let (x, y) = (sims.get(a).copied(), sims.get(b).copied());
        y.unwrap_or(f32::MIN)
            .total_cmp(&x.unwrap_or(f32::MIN))
            .then(a.cmp(&b))
    });
    let mut chosen = vec![false; hits.len()];
    let mut order = Vec::new();
    let (mut lexical, mut meant) = (0..hits.len(), semantic.into_iter());
    while order.len() < keep.min(hits.len()) {
        for next in [lexical.next(), meant.next()].into_iter().flatten() {
            if !chosen[next] && order.len() < keep {
                chosen[next] = true;
                order.push(next);
            }
        }
    }
    let mut slots: Vec<Option<Hit>> = hits.into_iter().map(Some).collect();
    order.into_iter().filter_map(|i| slots[i].take()).collect()
}

/// The hits, and after them the next passage of a hit's section when the hit ends in a list
/// about what was searched ("But there are also disadvantages:") that a passage boundary may
/// have cut: the items past the
/// boundary are the rest of the answer the hit began, though they need not repeat the query's
/// words to rank on their own.
fn with_continuations(
    retriever: &Retriever,
    req: &SearchRequest,
    hits: Vec<Hit>,
) -> Result<Vec<Hit>, crate::index::IndexError> {
    // The search's distinctive words: those at least as rare as its median word ("disadvantag"
    // in "WAL SQLite mode: disadvantages", not "sqlite" in a corpus of SQLite's pages).
    let mut asked: Vec<(String, f32)> = crate::text::content_stems(&req.text)
        .into_iter()
        .map(|s| {
            let idf = retriever.idf(&s);
            (s, idf)
        })
        .collect();
    asked.sort_by(|a, b| b.1.total_cmp(&a.1));
    asked.truncate(asked.len().div_ceil(2));
    let mut out = hits.clone();
    for h in &hits {
        // Only a list about what was searched ("disadvantages:" for a search after them).
        let about_query = crate::text::last_lead_in(&h.passage.text).is_some_and(|lead| {
            crate::text::content_stems(lead)
                .iter()
                .any(|s| asked.iter().any(|(a, _)| a == s))
        });
        if !about_query {
            continue;
        }
        let same_doc = SearchRequest {
            text: req.text.clone(),
            doc_ids: vec![h.passage.doc_id.clone()],
            limit: SAME_DOC_PASSAGES,
            ..Default::default()
        };
        let next = retriever.search(same_doc)?.into_iter().find(|n| {
            n.passage.ordinal == h.passage.ordinal + 1
                && n.passage.heading_path == h.passage.heading_path
        });
        if let Some(n) = next {
            if !out.iter().any(|k| k.passage.key() == n.passage.key()) {
                out.push(n);
            }
        }
    }
    Ok(out)
}

/// Passages of one document searched for a continuation (a long page's sections).
const SAME_DOC_PASSAGES: usize = 64;

/// Phrases the user put in quotes.
fn quoted_phrases(q: &str) -> Vec<String> {
    q.split('"')
        .skip(1)
        .step_by(2)
        .filter(|p| p.split_whitespace().count() >= 2)
        .map(str::to_string)
        .collect()
}

/// How gathering went, for the report and progress.
#[derive(Debug, Clone, Default, PartialEq, serde::Serialize, serde::Deserialize)]
pub struct GatherOutcome {
    pub evidence: Vec<Evidence>,
    pub agents: usize,
    pub failures: Vec<String>,
    /// Sources' items that could not be used (e.g. web pages that failed to fetch).
    #[serde(default)]
    pub skipped: Vec<Skipped>,
    /// Documents sources indexed during the run (the web's pages), and found unchanged.
    #[serde(default)]
    pub documents_indexed: usize,
    #[serde(default)]
    pub documents_unchanged: usize,
    /// Ids of the documents the sources brought into the run (sorted).
    #[serde(default)]
    pub brought: Vec<String>,
}

/// Run every (sub-query, source) agent concurrently and merge their passages. A passage found by
/// several agents is kept once, under the sub-query that ranked it highest.
pub async fn gather(
    sub_queries: &[SubQuery],
    sources: &[Arc<dyn Source>],
    budget: AgentBudget,
    progress: &Progress,
) -> GatherOutcome {
    gather_where(sub_queries, sources, budget, progress, |_, _| true).await
}

/// [`gather`] with only the (sub-query, source) agents `ask` allows.
pub async fn gather_where(
    sub_queries: &[SubQuery],
    sources: &[Arc<dyn Source>],
    budget: AgentBudget,
    progress: &Progress,
    ask: impl Fn(&SubQuery, &dyn Source) -> bool,
) -> GatherOutcome {
    let mut tasks = tokio::task::JoinSet::new();
    let pairs: Vec<(&SubQuery, &Arc<dyn Source>)> = sub_queries
        .iter()
        .flat_map(|sq| sources.iter().map(move |s| (sq, s)))
        .filter(|(sq, s)| ask(sq, s.as_ref()))
        .collect();
    progress.expect(pairs.len());
    for (sq, source) in pairs {
        let (sq, source) = (sq.clone(), Arc::clone(source));
        let name = source.name();
        let agent = progress.agent("gather", &format!("{name}: {}", sq.query));
        tasks.spawn(async move {
            let result = tokio::time::timeout(budget.deadline, source.gather(&sq, budget)).await;
            let result = match result {
                Ok(r) => r.map_err(|e| e.to_string()),
                Err(_) => Err(format!("{name}: deadline of {:?} passed", budget.deadline)),
            };
            agent.done(&match &result {
                Ok(hits) => format!("{} passages", hits.len()),
                Err(e) => format!("failed: {e}"),
            });
            (sq.id, result)
        });
    }
    let mut outcome = GatherOutcome::default();
    let mut results: Vec<(usize, Vec<Hit>)> = Vec::new();
    while let Some(joined) = tasks.join_next().await {
        outcome.agents += 1;
        match joined {
            Ok((id, Ok(hits))) => results.push((id, hits)),
            Ok((id, Err(e))) => outcome.failures.push(format!("sub-query {}: {e}", id + 1)),
            Err(e) => outcome.failures.push(format!("agent crashed: {e}")),
        }
    }
    // Agents finish in any order; sort so the merge (and so the report) is deterministic.
    results.sort_by_key(|(id, _)| *id);
    let mut best: HashMap<String, (usize, usize, f32)> = HashMap::new();
    let mut order: Vec<Evidence> = Vec::new();
    for (id, hits) in results {
        let top = hits.first().map(|h| h.score).unwrap_or(1.0).max(1e-6);
        for hit in hits {
            let key = hit.passage.key();
            let relative = hit.score / top;
            match best.get_mut(&key) {
                Some(entry) => {
                    let e = &mut order[entry.1];
                    let other = if relative > entry.2 {
                        entry.2 = relative;
                        std::mem::replace(&mut e.sub_query, id)
                    } else {
                        id
                    };
                    if other != e.sub_query && !e.also.contains(&other) {
                        e.also.push(other);
                    }
                }
                None => {
                    best.insert(key, (id, order.len(), relative));
                    order.push(Evidence::new(id, hit));
                }
            }
        }
    }
    outcome.evidence = order;
    for source in sources {
        outcome.skipped.extend(source.take_skipped());
        let (indexed, unchanged) = source.documents();
        outcome.documents_indexed += indexed;
        outcome.documents_unchanged += unchanged;
        outcome.brought.extend(source.brought());
    }
    outcome.brought.sort();
    outcome.brought.dedup();
    outcome
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::artifact::{Angle, Passage};

    struct Fixed(Vec<(&'static str, f32)>, Duration);

    #[async_trait]
    impl Source for Fixed {
        fn name(&self) -> String {
            "fixed".into()
        }
        async fn gather(
            &self,
            sq: &SubQuery,
            budget: AgentBudget,
        ) -> Result<Vec<Hit>, SourceError> {
            tokio::time::sleep(self.1).await;
            Ok(self
                .0
                .iter()
                .take(budget.max_passages)
                .map(|(doc, score)| hit(doc, format!("{doc} for {}", sq.query), *score))
                .collect())
        }
    }

    fn sq(id: usize) -> SubQuery {
        SubQuery {
            id,
            angle: Angle::Question,
            label: format!("s{id}"),
            query: format!("q{id}"),
        }
    }

    fn hit(doc: &str, text: String, score: f32) -> Hit {
        Hit {
            passage: Passage {
                doc_id: doc.to_string(),
                ordinal: 0,
                heading_path: vec![],
                start: 0,
                end: 1,
                text,
                page: None,
            },
            location: doc.to_string(),
            title: doc.to_string(),
            doc_hash: "h".into(),
            score,
            fetched: None,
        }
    }

    #[test]
    fn the_meaning_model_brings_in_what_the_words_ranked_low() {
        let pool: Vec<Hit> = ["a", "b", "c", "d", "e", "f"]
            .into_iter()
            .map(|d| hit(d, d.to_string(), 1.0))
            .collect();
        // "f" is last by its words and closest in meaning; "b" is the words' second best.
        let sims = [0.1, 0.2, 0.3, 0.0, 0.5, 0.9];
        let kept: Vec<String> = by_meaning(pool, &sims, 4)
            .into_iter()
            .map(|h| h.passage.doc_id)
            .collect();
        assert_eq!(kept, ["a", "f", "b", "e"]);
        // Without a model's answer for a text, it ranks last by meaning, not first.
        let pool: Vec<Hit> = ["a", "b", "c"]
            .into_iter()
            .map(|d| hit(d, d.to_string(), 1.0))
            .collect();
        let kept = by_meaning(pool, &[0.1], 2);
        assert_eq!(kept.len(), 2);
        assert_eq!(kept[1].passage.doc_id, "b");
    }

    #[tokio::test]
    async fn merges_duplicates_and_enforces_budgets() {
        let fast: Arc<dyn Source> = Arc::new(Fixed(
            vec![("a", 2.0), ("b", 1.0), ("c", 0.5)],
            Duration::ZERO,
        ));
        let slow: Arc<dyn Source> = Arc::new(Fixed(vec![("z", 1.0)], Duration::from_secs(5)));
        let budget = AgentBudget {
            max_passages: 2,
            deadline: Duration::from_millis(200),
        };
        let out = gather(&[sq(0), sq(1)], &[fast, slow], budget, &Progress::hidden()).await;
        assert_eq!(out.agents, 4);
        assert_eq!(out.failures.len(), 2, "{:?}", out.failures);
        let docs: Vec<&str> = out
            .evidence
            .iter()
            .map(|e| e.hit.passage.doc_id.as_str())
            .collect();
        assert_eq!(docs, ["a", "b"]);
        // Gathered once, each passage still says that both searches found it (a dispute's
        // search reads all it found, also what another search of the round found first).
        for e in &out.evidence {
            assert!(e.found_by(0) && e.found_by(1), "{e:?}");
        }
    }
}
