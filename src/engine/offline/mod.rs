//! The offline engine: no network. Deterministic retrieval, and votes from the local verifier
//! model (falling back to lexical judging when it is not installed), so the same corpus and
//! question give the same report. One exception: with the verifier, a search whose reading by
//! meaning runs out of time keeps the words' order, so a machine too busy to finish it in time
//! may gather other passages.

mod answer;
mod extractor;
pub mod followup;
mod judge;
mod planner;
mod reviewer;
mod writer;

pub use answer::{candidates as answer_candidates, compose as compose_answer, compose_with};
pub use extractor::OfflineExtractor;
pub use judge::{judge_sentence, Judgement};
pub use planner::{plan as offline_plan, OfflinePlanner};
pub use reviewer::{Formulation, OfflineReviewer};
pub use writer::OfflineWriter;

use super::Engine;
use std::sync::Arc;

/// The offline engine with a panel of `reviewers` (at least 3, the last of every four a
/// skeptic, and always at least one), voting with the installed verifier model when `verifier`
/// asks for it.
pub fn engine(reviewers: usize, max_claims: usize, verifier: bool) -> Engine {
    let notes = super::Notes::default();
    let mut model = None;
    if verifier {
        match crate::verifier::Verifier::shared() {
            Ok(v) => model = Some(v),
            Err(e) => notes.push(format!(
                "reviewers judged lexically, without the verifier model: {e}"
            )),
        }
    }
    Engine {
        name: "offline".into(),
        planner: Box::new(OfflinePlanner),
        extractor: Box::new(OfflineExtractor {
            max_claims,
            verifier: model.clone(),
            ..OfflineExtractor::default()
        }),
        reviewers: panel(reviewers, verifier)
            .into_iter()
            .map(|r| Box::new(r) as Box<dyn super::Reviewer>)
            .collect(),
        meaning: model.clone().map(|v| {
            Arc::new(ByMeaning(v, Default::default())) as Arc<dyn crate::retrieval::Meaning>
        }),
        writer: Box::new(OfflineWriter { verifier: model }),
        notes,
        accounting: None,
        prompt_hashes: Default::default(),
    }
}

/// The verifier's base model as a bi-encoder: cosine of sentence embeddings.
struct ByMeaning(Arc<crate::verifier::Verifier>, std::sync::Mutex<()>);

impl crate::retrieval::Meaning for ByMeaning {
    fn closeness(
        &self,
        query: &str,
        texts: &[&str],
        until: std::time::Instant,
    ) -> Option<Vec<f32>> {
        let q = self.0.embed(&[query]).ok()?.pop()?;
        let mut out = Vec::with_capacity(texts.len());
        // In chunks, so a busy machine gives up at `until` rather than overrun the agent.
        for chunk in texts.chunks(16) {
            if std::time::Instant::now() >= until {
                return None;
            }
            let rows = {
                // One reader at a time: concurrent agents on 2 cores only thrash.
                let _turn = self.1.lock().unwrap_or_else(|e| e.into_inner());
                self.0.embed(chunk).ok()?
            };
            out.extend(rows.iter().map(|r| crate::verifier::cosine(&q, r)));
        }
        Some(out)
    }
}

/// The reviewer line-up: regular reviewers cycle through query formulations; skeptics close it.
/// With `verifier`, they vote from the installed verifier model when it loads.
pub fn panel(n: usize, verifier: bool) -> Vec<OfflineReviewer> {
    let verifier = verifier
        .then(crate::verifier::Verifier::shared)
        .and_then(Result::ok);
    let n = n.max(3);
    let skeptics = (n / 4).max(1);
    let regular = [
        Formulation::Literal,
        Formulation::Focused,
        Formulation::Phrases,
        Formulation::InContext,
    ];
    let mut out: Vec<OfflineReviewer> = (0..n - skeptics)
        .map(|i| OfflineReviewer::new(format!("reviewer-{}", i + 1), regular[i % regular.len()]))
        .collect();
    out.extend(
        (0..skeptics)
            .map(|i| OfflineReviewer::new(format!("skeptic-{}", i + 1), Formulation::Skeptic)),
    );
    out.into_iter()
        .map(|r| r.with_verifier(verifier.clone()))
        .collect()
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::retrieval::Meaning;
    use std::time::{Duration, Instant};

    #[test]
    fn reading_by_meaning_finds_what_shares_few_words_and_gives_up_at_its_deadline() {
        let v = crate::verifier::Verifier::shared()
            .unwrap_or_else(|e| panic!("this test needs the installed verifier: {e}"));
        let m = ByMeaning(v, Default::default());
        let asked = "How can an except block attach extra context to an exception it caught?";
        let texts = [
            "add_note(note): Add the string note to the exception's notes which appear in the \
             standard traceback after the exception string.",
            "autovacuum_naptime (integer): Specifies the minimum delay between autovacuum runs \
             on any given database.",
        ];
        let far = Instant::now() + Duration::from_secs(600);
        let sims = m.closeness(asked, &texts, far).expect("the model answers");
        assert_eq!(sims.len(), 2);
        assert!(sims[0] > sims[1], "{sims:?}");
        // Out of time before it starts: no order by meaning, so the words' order stands.
        assert_eq!(m.closeness(asked, &texts, Instant::now()), None);
    }
}
