//! An offline reviewer: retrieves its own evidence from the index with its own query
//! formulation, then judges the claim against the retrieved sentences: lexically, or with the
//! verifier model's probabilities beside the lexical cues when it has one.

use super::extractor::{leans_on_previous, states_something};
use super::judge::{
    can_state, dates_a_change, is_current, judge_in_context, ClaimTerms, Judgement,
    SUBJECT_COVERAGE, SUPPORT_COVERAGE,
};
use crate::artifact::Hit;
use crate::artifact::{Citation, Claim, Stance, Vote};
use crate::engine::{ReviewTask, Reviewer};
use crate::index::SearchRequest;
pub use crate::retrieval::Formulation;
use crate::retrieval::Retriever;
use crate::text;
use crate::verifier::{cosine, ModelError, Nli, Verifier};
use async_trait::async_trait;
use std::sync::Arc;

/// A passage this short describes one thing: a definition's description, a short section.
const ONE_THING_CHARS: usize = 400;

/// Why a vote refutes a claim that held only before a change the evidence dates.
const HELD_BEFORE: &str = "the evidence says this held only before a change";

/// A refutation alone (no support found) needs this confidence from a regular reviewer.
const REFUTE_ALONE: f32 = 0.6;

#[derive(Debug, Clone)]
pub struct OfflineReviewer {
    name: String,
    formulation: Formulation,
    /// Passages retrieved per claim.
    pub depth: usize,
    /// Extra query words that steer a second retrieval toward one concern (an angle of
    /// `research check-plan`: security, performance...). The first retrieval is left as it is.
    steer: Vec<String>,
    /// The local verifier model; without it the reviewer judges lexically.
    verifier: Option<Arc<Verifier>>,
}

impl OfflineReviewer {
    pub fn new(name: String, formulation: Formulation) -> OfflineReviewer {
        let depth = if formulation == Formulation::Skeptic {
            16
        } else {
            8
        };
        OfflineReviewer {
            name,
            formulation,
            depth,
            steer: Vec::new(),
            verifier: None,
        }
    }

    /// The same reviewer, voting from the verifier's probabilities.
    pub fn with_verifier(mut self, verifier: Option<Arc<Verifier>>) -> OfflineReviewer {
        self.verifier = verifier;
        self
    }

    fn request(&self, question: &str, claim: &Claim, retriever: &Retriever) -> SearchRequest {
        self.formulation
            .query(question, &claim.text, self.depth, retriever)
    }

    fn judge(&self, question: &str, asked: &Asked, claim: &Claim, retriever: &Retriever) -> Vote {
        let terms = ClaimTerms::new(&claim.text, &|s| retriever.idf(s));
        let mut vote = Vote {
            claim_id: claim.id.clone(),
            reviewer: self.name.clone(),
            skeptic: self.is_skeptic(),
            stance: Stance::Abstain,
            confidence: 0.0,
            evidence: None,
            corroborating: false,
            note: "no passage states or contradicts the claim".into(),
            first_pass: false,
        };
        let request = self.request(question, claim, retriever);
        let mut hits = match retriever.search(request.clone()) {
            Ok(h) => h,
            Err(e) => {
                vote.stance = Stance::Error;
                vote.note = format!("retrieval failed: {e}");
                return vote;
            }
        };
        if !self.steer.is_empty() {
            let steered = SearchRequest {
                text: format!("{} {}", request.text, self.steer.join(" ")),
                limit: (self.depth / 2).max(2),
                ..request
            };
            match retriever.search(steered) {
                Ok(more) => {
                    for h in more {
                        if !hits.iter().any(|k| k.passage.key() == h.passage.key()) {
                            hits.push(h);
                        }
                    }
                }
                Err(e) => {
                    vote.stance = Stance::Error;
                    vote.note = format!("retrieval failed: {e}");
                    return vote;
                }
            }
        }
        // A reference page's term ("autovacuum_max_workers (integer)") is a passage of its own;
        // what it says of the term is the description under it, read with it.
        let mut described = Vec::new();
        for h in &hits {
            let label = h.passage.text.trim();
            let Some(term) = (label.len() <= LABEL_CHARS && !label.contains('.'))
                .then(|| defined_term(label))
                .flatten()
            else {
                continue;
            };
            let request = SearchRequest {
                text: term,
                doc_ids: vec![h.passage.doc_id.clone()],
                limit: 3,
                ..Default::default()
            };
            for d in retriever.search(request).unwrap_or_default() {
                let under = d.passage.heading_path.last().map(|l| l.trim()) == Some(label);
                if under
                    && !hits
                        .iter()
                        .chain(&described)
                        .any(|k: &Hit| k.passage.key() == d.passage.key())
                {
                    described.push(d);
                }
            }
        }
        hits.extend(described);
        let leads = retriever.leads(&claim.id);
        if !leads.is_empty() {
            // A split vote is cast again on what the dispute's own search found, the passages
            // about the claim's subject, beside the claim's own passage: a conflict that
            // search does not find again was read in a passage about something else.
            hits.retain(|h| claim.citations.iter().any(|c| h.passage.holds(c)));
        }
        for h in leads {
            if !hits.iter().any(|k| k.passage.key() == h.passage.key()) {
                hits.push(h.clone());
            }
        }
        let origin_docs: Vec<&str> = claim.citations.iter().map(|c| c.doc_id.as_str()).collect();
        let candidates = candidates(claim, &hits);
        let weighed = match &self.verifier {
            Some(v) => {
                let parts = parts_of(&claim.text, &|s| retriever.idf(s));
                let claim = Claimed {
                    claim,
                    terms: &terms,
                    parts: &parts,
                };
                weigh_with_model(v, &claim, &candidates, &hits, self.is_skeptic())
            }
            None => Ok(weigh_lexically(&terms, &candidates, &hits)),
        };
        let (best_support, best_conflict) = match weighed {
            Ok(w) => w,
            // A verifier that fails leaves the vote unverified, never a refutation.
            Err(e) => {
                vote.stance = Stance::Error;
                vote.note = e.to_string();
                return vote;
            }
        };
        if conflict_wins(&best_conflict, &best_support, self.is_skeptic()) {
            if let Some((confidence, cite, why, _)) = best_conflict {
                vote.stance = Stance::Refute;
                vote.confidence = confidence.clamp(0.0, 1.0);
                vote.corroborating = !origin_docs.contains(&cite.doc_id.as_str());
                vote.evidence = Some(cite);
                vote.note = why;
                return vote;
            }
        }
        // The claim's own source sentence always "states" it; as support for an answer it
        // counts only when the claim is about what was asked.
        if let Some((_, _, false)) = &best_support {
            // A short passage describes one thing (a parameter, a method): the claim is about
            // what its passage is about.
            let passage = hits
                .iter()
                .map(|h| &h.passage)
                .find(|p| claim.citations.iter().any(|c| p.holds(c)))
                .filter(|p| p.text.len() <= ONE_THING_CHARS)
                .map(|p| p.text.as_str());
            if let (false, Err(held)) = (self.is_skeptic(), asked.bears_on(claim, passage)) {
                vote.note = format!(
                    "only the claim's own source states it, and it holds {held}: not about what \
                     was asked"
                );
                return vote;
            }
        }
        if let Some((confidence, cite, corroborating)) = best_support {
            vote.stance = Stance::Support;
            vote.confidence = confidence.clamp(0.0, 1.0);
            vote.corroborating = corroborating;
            vote.note = if corroborating {
                "stated by another source".into()
            } else {
                "stated by the claim's own source".into()
            };
            vote.evidence = Some(cite);
        }
        vote
    }
}

/// Whether a reviewer refutes: the skeptic on any conflict it found; the others on a dated
/// change, on a conflict with nothing stating the claim, or on a denial both the words and the
/// model read that outweighs a statement found in another source than the claim's own ("At
/// this time SQLite supports only FOR EACH ROW triggers, not FOR EACH STATEMENT triggers"
/// against a sentence on what FOR EACH ROW does).
fn conflict_wins(conflict: &Conflict, support: &Support, skeptic: bool) -> bool {
    match (conflict, support) {
        (Some(_), _) if skeptic => true,
        (Some(c), _) if c.2.starts_with(HELD_BEFORE) => c.0 >= REFUTE_ALONE,
        (Some(c), None) => c.0 >= REFUTE_ALONE,
        // Against the claim's own source it is two sources disagreeing: a dispute to show,
        // not a refutation ("Storing lithium-ion batteries in the freezer does not extend
        // their life" against a column saying it does).
        (Some(c), Some(s)) if c.3 && s.2 => c.0 >= REFUTE_ALONE && c.0 > s.0,
        _ => false,
    }
}

/// A sentence of a retrieved passage, with what judging it needs.
struct Candidate {
    cite: Citation,
    /// Which hit and which sentence of it.
    hit: usize,
    span: usize,
    /// Stems of its heading and of the sentences that introduce it.
    context: Vec<String>,
    /// The label that opens its passage ("max_connections (integer)"), when it is not the
    /// sentence itself: the model reads the sentence under it.
    label: Option<String>,
    /// The claim's own source sentence.
    is_origin: bool,
    /// From a document other than the claim's origin.
    corroborating: bool,
    /// The term its passage describes ("max_connections" under "max_connections (integer)"),
    /// when the claim names it: the description speaks of it even where the sentence does not
    /// ("The default is typically 100 connections").
    term: Option<String>,
    /// Its passage describes another term of a reference page than the claim's own
    /// ("vacuum_failsafe_age (integer)" beside "vacuum_freeze_table_age (integer)").
    other_term: bool,
}

impl Candidate {
    /// What is judged: the sentence, under the term its passage describes when the claim names
    /// it. The quote cited stays the sentence itself.
    fn reading(&self) -> std::borrow::Cow<'_, str> {
        match &self.term {
            Some(t) => format!("{t}: {}", self.cite.quote).into(),
            None => self.cite.quote.as_str().into(),
        }
    }

    /// Whether this sentence may refute the claim: not the claim's own, and about its subject.
    fn can_refute(&self) -> bool {
        !self.is_origin && !self.other_term
    }
}

/// The term a reference page's entry describes, lowercased (see [`text::entry_term`]).
fn defined_term(heading: &str) -> Option<String> {
    text::entry_term(heading).map(|t| t.to_lowercase())
}

/// The identifier a passage's label names, when the passage opens with one: a definition
/// list's term inside a section ("SQLITE_DEFAULT_MEMSTATUS=<1 or 0>") heads its description
/// as a heading would.
fn label_term(passage: &str) -> Option<String> {
    let &(a, b) = text::sentences(passage).first()?;
    let label = passage[a..b].trim();
    if label.len() > LABEL_CHARS || label.ends_with('.') {
        return None;
    }
    defined_term(label).filter(|t| t.contains('_'))
}

/// A label is a short first sentence without a verb-like stop: a definition term, a heading.
const LABEL_CHARS: usize = 90;

fn candidates(claim: &Claim, hits: &[Hit]) -> Vec<Candidate> {
    let origin_docs: Vec<&str> = claim.citations.iter().map(|c| c.doc_id.as_str()).collect();
    // The term the claim's own entry describes: its heading's, or its passage's label's
    // ("SQLITE_DEFAULT_PAGE_SIZE=<bytes>" above "The default value is 4096.").
    let claim_term = claim
        .citations
        .first()
        .and_then(|c| c.heading_path.last())
        .and_then(|h| defined_term(h))
        .or_else(|| {
            hits.iter()
                .find(|h| claim.citations.iter().any(|c| h.passage.holds(c)))
                .and_then(|h| label_term(&h.passage.text))
        });
    let mut out = Vec::new();
    for (h, hit) in hits.iter().enumerate() {
        let mut spans = text::sentences(&hit.passage.text);
        // A claim quoting two sentences ("Enable default logging of checkpoints. This changes
        // the default of log_checkpoints to on.") is read as its source wrote it, in one piece.
        for c in &claim.citations {
            let p = &hit.passage;
            if !p.holds(c) {
                continue;
            }
            let (a, b) = (c.start - p.start, c.end - p.start);
            if spans.iter().any(|&(x, y)| (x, y) == (a, b)) {
                continue;
            }
            let first = spans.iter().position(|&(x, y)| x <= a && a < y);
            spans.retain(|&(x, y)| !(a <= x && y <= b));
            if let Some(at) = first {
                spans.insert(at.min(spans.len()), (a, b));
            }
        }
        let mut heading: Vec<String> = hit
            .passage
            .heading_path
            .last()
            .map(|h| text::content_stems(h))
            .unwrap_or_default();
        // The releases its headings name ("What's New In Python 3.11", "Release 15") scope
        // every sentence under them.
        for h in &hit.passage.heading_path {
            for q in text::quantities(h).into_iter().filter(|q| q.version) {
                if !heading.contains(&q.raw) {
                    heading.push(q.raw);
                }
            }
        }
        let passage_term = hit
            .passage
            .heading_path
            .last()
            .and_then(|h| defined_term(h))
            .or_else(|| label_term(&hit.passage.text));
        let named_term = passage_term.clone().filter(|t| {
            text::tokens(&claim.text)
                .iter()
                .any(|w| w.text.eq_ignore_ascii_case(t))
        });
        let label = spans.first().and_then(|&(a, b)| {
            let t = hit.passage.text[a..b].trim();
            (t.len() <= LABEL_CHARS && !t.ends_with('.')).then(|| t.to_string())
        });
        for (i, &(s, e)) in spans.iter().enumerate() {
            let cite = Citation::from_hit(hit, s, e);
            // The sentence's context: its heading, the passage's opening sentence (often the
            // term it describes) and the sentence just before it.
            let mut context = heading.clone();
            for j in [0, i.saturating_sub(1)] {
                if j < i {
                    let (a, b) = spans[j];
                    context.extend(text::content_stems(&hit.passage.text[a..b]));
                }
            }
            let is_origin = claim
                .citations
                .iter()
                .any(|c| c.doc_id == cite.doc_id && c.start < cite.end && cite.start < c.end);
            // A keyword list's entry or a cross-reference states nothing to vote on.
            if !is_origin && !states_something(&cite.quote) {
                continue;
            }
            let corroborating = !origin_docs.contains(&cite.doc_id.as_str());
            out.push(Candidate {
                cite,
                hit: h,
                span: i,
                context,
                label: if i > 0 { label.clone() } else { None },
                term: named_term.clone(),
                is_origin,
                corroborating,
                other_term: matches!(
                    (&claim_term, &passage_term),
                    (Some(a), Some(b)) if a != b
                ),
            });
        }
    }
    out
}

type Support = Option<(f32, Citation, bool)>;
/// The strongest conflict: its confidence, quote and why, and whether the words and the model
/// both read it (the words show the conflict and the model reads contradiction, p >= 0.5 and
/// above entailment).
type Conflict = Option<(f32, Citation, String, bool)>;

/// The sentence of the same passage that states what holds since a change, for an outdated
/// claim; else the outdating sentence itself.
fn outdated(terms: &ClaimTerms, hit: &Hit, c: &Candidate) -> (Citation, String) {
    // A sentence that dates the change itself says since when.
    if dates_a_change(&c.cite.quote) {
        return (c.cite.clone(), format!("{HELD_BEFORE}, and since when"));
    }
    let spans = text::sentences(&hit.passage.text);
    let current = spans
        .iter()
        .enumerate()
        .filter(|&(j, &(a, b))| {
            j != c.span
                && is_current(&hit.passage.text[a..b])
                && terms.coverage(&text::content_stems(&hit.passage.text[a..b])) >= 0.3
        })
        .max_by(|x, y| {
            let cov = |&(a, b): &(usize, usize)| {
                terms.coverage(&text::content_stems(&hit.passage.text[a..b]))
            };
            cov(x.1).total_cmp(&cov(y.1)).then(y.0.cmp(&x.0))
        })
        .map(|(_, &(a, b))| Citation::from_hit(hit, a, b));
    let why = if current.is_some() {
        format!("{HELD_BEFORE}, and what holds since")
    } else {
        HELD_BEFORE.to_string()
    };
    (current.unwrap_or_else(|| c.cite.clone()), why)
}

/// How much more a contradicting sentence that dates a change weighs: of two sentences giving
/// the same other value, the reader is shown the one that says since when.
const DATED_BONUS: f32 = 0.05;

/// A sentence that states the claim, in a passage whose later sentence dates a change to
/// another value ("Changed in version 3.0: The default protocol is 3." then "Changed in version
/// 3.8: The default protocol is 4."): the claim held only before that change. The later
/// sentence, its confidence and why.
fn superseded(
    terms: &ClaimTerms,
    candidates: &[Candidate],
    c: &Candidate,
) -> Option<(f32, Citation, String)> {
    candidates
        .iter()
        .filter(|o| o.hit == c.hit && o.span > c.span && !o.is_origin)
        .filter(|o| dates_a_change(&o.cite.quote))
        .find_map(
            |o| match judge_in_context(terms, &o.reading(), &o.context) {
                Judgement::Contradicts { confidence, .. } | Judgement::Outdated { confidence } => {
                    Some((
                        (confidence + DATED_BONUS).min(1.0),
                        o.cite.clone(),
                        format!("{HELD_BEFORE}, and since when"),
                    ))
                }
                _ => None,
            },
        )
}

/// The sentence of the conflict's passage that dates the change to the value the conflict
/// gives ("Changed in version 3.8: The default protocol is 4." beside "Currently the default
/// protocol is 4"): the quote that says since when, cited in its place.
fn since_when(terms: &ClaimTerms, hits: &[Hit], cite: &Citation) -> Option<Citation> {
    let claimed: Vec<f64> = terms.quantities.iter().map(|q| q.value).collect();
    let given: Vec<f64> = text::quantities(&cite.quote)
        .iter()
        .filter(|q| !q.version && !q.denied && !q.bound)
        .map(|q| q.value)
        .filter(|v| !claimed.iter().any(|c| (c - v).abs() < 1e-9))
        .collect();
    if given.is_empty() || dates_a_change(&cite.quote) {
        return None;
    }
    let words: Vec<&String> = terms.words.iter().map(|(w, _)| w).collect();
    // The conflict's section: a manual's "Changed in version" notes may be a passage of their
    // own under the same heading.
    let section = hits
        .iter()
        .filter(|h| h.passage.doc_id == cite.doc_id && h.passage.heading_path == cite.heading_path);
    section
        .flat_map(|hit| {
            text::sentences(&hit.passage.text)
                .into_iter()
                .map(move |span| (hit, span))
        })
        .filter(|&(hit, (a, b))| {
            hit.passage.start + a != cite.start || hit.passage.start + b != cite.end
        })
        .find(|&(hit, (a, b))| {
            let s = &hit.passage.text[a..b];
            let shares = text::content_stems(s)
                .iter()
                .filter(|w| words.contains(w))
                .count();
            shares >= 2
                && super::judge::change(s).is_some_and(|ch| {
                    ch.when
                        && ch
                            .new
                            .iter()
                            .any(|n| given.iter().any(|g| (g - n).abs() < 1e-9))
                })
        })
        .map(|(hit, (a, b))| Citation::from_hit(hit, a, b))
}

/// A contradicting sentence, or the sentence of its passage that dates the change to the value
/// it gives, weighed [`DATED_BONUS`] more: the reader is shown since when.
fn dated(terms: &ClaimTerms, hits: &[Hit], cite: &Citation, confidence: f32) -> (f32, Citation) {
    if dates_a_change(&cite.quote) {
        return ((confidence + DATED_BONUS).min(1.0), cite.clone());
    }
    match since_when(terms, hits, cite) {
        Some(c) => ((confidence + DATED_BONUS).min(1.0), c),
        None => (confidence, cite.clone()),
    }
}

/// Why a conflict refutes, once [`dated`] has chosen its quote: see [`ClaimTerms::outdated_by`].
fn why_dated(terms: &ClaimTerms, cite: &Citation, why: String) -> String {
    if terms.outdated_by(&cite.quote) {
        format!("{HELD_BEFORE}, and since when: {why}")
    } else {
        why
    }
}

/// The lexical judge over every candidate sentence: the best support and the best conflict.
fn weigh_lexically(
    terms: &ClaimTerms,
    candidates: &[Candidate],
    hits: &[Hit],
) -> (Support, Conflict) {
    let mut best_support: Support = None;
    let mut best_conflict: Conflict = None;
    for c in candidates {
        match judge_in_context(terms, &c.reading(), &c.context) {
            Judgement::Supports { .. } if superseded(terms, candidates, c).is_some() => {
                let Some(later) = superseded(terms, candidates, c) else {
                    continue;
                };
                if best_conflict.as_ref().is_none_or(|b| later.0 > b.0) {
                    best_conflict = Some((later.0, later.1, later.2, false));
                }
            }
            Judgement::Supports { confidence } => {
                // Independent documents weigh more than the claim's own source.
                let weight = if c.corroborating { 1.0 } else { 0.9 };
                let conf = confidence * weight;
                if best_support.as_ref().is_none_or(|b| conf > b.0) {
                    best_support = Some((conf, c.cite.clone(), c.corroborating));
                }
            }
            Judgement::Contradicts { confidence, why } if c.can_refute() => {
                let (confidence, cite) = dated(terms, hits, &c.cite, confidence);
                if best_conflict.as_ref().is_none_or(|b| confidence > b.0) {
                    let why = why_dated(terms, &cite, why);
                    best_conflict = Some((confidence, cite, why, false));
                }
            }
            // The passage says the claim held only before a change: cite the sentence of the
            // same passage that gives the state since then, when there is one.
            Judgement::Outdated { confidence }
                if c.can_refute() && best_conflict.as_ref().is_none_or(|b| confidence > b.0) =>
            {
                let (cite, why) = outdated(terms, &hits[c.hit], c);
                best_conflict = Some((confidence, cite, why, false));
            }
            _ => {}
        }
    }
    (best_support, best_conflict)
}

/// Sentences the model reads per claim: the closest by words and meaning.
const MODEL_READS: usize = 6;
const SKEPTIC_READS: usize = 10;
/// Probability the model must give to entailment (or contradiction), above the other.
const ENTAILS: f32 = 0.5;
/// A contradiction the words do not show needs the model to be this sure.
const STRONG: f32 = 0.9;
/// Entailment the model must lean to (above contradiction) when the words state the claim.
const LEANS: f32 = 0.3;

/// The verifier's judgement: it reads the claim beside the closest sentences (each under its
/// passage's label) and gives entailment and contradiction probabilities. A contradiction
/// counts only from a sentence about the same subject that is not the claim's own text; a
/// sentence saying the claim held only before a change counts as a conflict whatever the model
/// reads (that is a rule about versions, not about meaning).
fn weigh_with_model(
    verifier: &Verifier,
    claimed: &Claimed,
    candidates: &[Candidate],
    hits: &[Hit],
    skeptic: bool,
) -> Result<(Support, Conflict), ModelError> {
    let (claim, terms) = (claimed.claim, claimed.terms);
    if candidates.is_empty() {
        return Ok((None, None));
    }
    let claim_text = text::squash_whitespace(&claim.text);
    // Words first (cheap), then meaning over the closest by words.
    let stems: Vec<Vec<String>> = candidates
        .iter()
        .map(|c| text::content_stems(&c.cite.quote))
        .collect();
    let coverage: Vec<f32> = candidates
        .iter()
        .zip(&stems)
        .map(|(c, s)| terms.coverage_in(s, &c.context))
        .collect();
    let mut order: Vec<usize> = (0..candidates.len()).collect();
    order.sort_by(|&a, &b| coverage[b].total_cmp(&coverage[a]).then(a.cmp(&b)));
    let reads = if skeptic { SKEPTIC_READS } else { MODEL_READS };
    order.truncate(reads * 2);
    let mut texts: Vec<&str> = vec![claim_text.as_str()];
    texts.extend(order.iter().map(|&i| candidates[i].cite.quote.as_str()));
    let emb = verifier.embed(&texts)?;
    let mut cos = vec![0.0f32; candidates.len()];
    for (k, &i) in order.iter().enumerate() {
        cos[i] = cosine(&emb[0], &emb[k + 1]);
    }
    let rank = |i: usize| coverage[i] + cos[i];
    order.sort_by(|&a, &b| rank(b).total_cmp(&rank(a)).then(a.cmp(&b)));
    order.truncate(reads);
    let evidence: Vec<String> = order
        .iter()
        .map(|&i| {
            let c = &candidates[i];
            let quote = text::squash_whitespace(&c.reading());
            match &c.label {
                Some(l) => format!("{} {quote}", text::squash_whitespace(l)),
                None => quote,
            }
        })
        .collect();
    // A sentence holding less than the claim's subject can give no vote whatever the model
    // reads (every rule below asks for that much, or for the claim's own text): the model
    // reads only the others.
    let same_text = |q: &str| text::squash_whitespace(q).eq_ignore_ascii_case(&claim_text);
    let lexical: Vec<Judgement> = order
        .iter()
        .map(|&i| judge_in_context(terms, &candidates[i].reading(), &candidates[i].context))
        .collect();
    let matters: Vec<bool> = order
        .iter()
        .zip(&lexical)
        .map(|(&i, j)| {
            coverage[i] >= SUBJECT_COVERAGE
                || same_text(&candidates[i].cite.quote)
                || *j != Judgement::Unrelated
        })
        .collect();
    let pairs: Vec<(&str, &str)> = evidence
        .iter()
        .zip(&matters)
        .filter(|(_, m)| **m)
        .map(|(e, _)| (claim_text.as_str(), e.as_str()))
        .collect();
    let mut read = verifier.nli(&pairs)?.into_iter();
    let probs: Vec<Option<Nli>> = matters
        .iter()
        .map(|m| if *m { read.next() } else { None })
        .collect();
    let mut best_support: Support = None;
    let mut best_conflict: Conflict = None;
    // The claim's subject: its two rarest words in the searched corpora. One is not enough:
    // "scheduled" can be rarer than "distutils", and "The function has been deprecated ...
    // and the removal was initially scheduled for Python 3.10" is about another function.
    let subject: Vec<&String> = {
        let mut words: Vec<&(String, f32)> = terms.words.iter().collect();
        words.sort_by(|a, b| b.1.total_cmp(&a.1).then_with(|| a.0.cmp(&b.0)));
        words.into_iter().take(2).map(|(s, _)| s).collect()
    };
    let evidence_of = |c: &Candidate| match &c.label {
        Some(l) => format!("{l} {}", c.cite.quote),
        None => c.cite.quote.clone(),
    };
    for ((&i, p), lexical) in order.iter().zip(&probs).zip(lexical) {
        // Unread: it could give no vote.
        let Some(p) = p else {
            continue;
        };
        let c = &candidates[i];
        // An earlier version's change is the history a later one ends (a rule about versions).
        if terms.ends_history_of(&c.cite.quote) {
            continue;
        }
        if let Judgement::Outdated { confidence } = lexical {
            if c.can_refute() && best_conflict.as_ref().is_none_or(|b| confidence > b.0) {
                let (cite, why) = outdated(terms, &hits[c.hit], c);
                best_conflict = Some((confidence, cite, why, false));
            }
            continue;
        }
        let identical = same_text(&c.cite.quote);
        let lexical_support = matches!(lexical, Judgement::Supports { .. });
        // What held only before a dated change states the claim no more, whatever the model
        // reads (a rule about versions, not about meaning).
        if !identical && (lexical_support || p.entail >= LEANS) {
            if let Some(later) = superseded(terms, candidates, c) {
                if best_conflict.as_ref().is_none_or(|b| later.0 > b.0) {
                    best_conflict = Some((later.0, later.1, later.2, false));
                }
                continue;
            }
        }
        let numbers_stated = terms.numbers_stated(&evidence_of(c), &c.context);
        let about_subject = subject
            .iter()
            .all(|s| stems[i].contains(s) || c.context.contains(s));
        // What the model alone refutes must name the claim's subject in its own words (or its
        // entry's term and label): "it is possible to override them ... on a per-table basis"
        // under "The Autovacuum Daemon" says nothing of temporary tables.
        let names_subject = || {
            let own = match &c.label {
                Some(l) => format!("{l} {}", c.reading()),
                None => c.reading().into_owned(),
            };
            let own = text::content_stems(&own);
            subject.iter().all(|s| own.contains(s))
        };
        // Support: the model reads entailment of a sentence about the claim's subject; or the
        // words state the claim and the model does not object strongly, or leans to entailment
        // where the lexical judge alone would not say so; the claim's own text always.
        let entails = p.entail >= ENTAILS
            && p.entail > p.contradict
            && numbers_stated
            && coverage[i] >= SUBJECT_COVERAGE;
        let leans = p.entail >= LEANS
            && p.entail > p.contradict
            && numbers_stated
            && coverage[i] >= SUPPORT_COVERAGE;
        // What the words cannot state (a short claim's missing word, the other polarity or
        // state), the model's reading does not state either.
        let stateable = can_state(terms, &c.reading(), &c.context);
        if identical
            || (stateable && (entails || leans))
            || (lexical_support && p.contradict < STRONG)
        {
            let weight = if c.corroborating { 1.0 } else { 0.9 };
            let conf = if identical {
                1.0
            } else {
                p.entail.max(match lexical {
                    Judgement::Supports { confidence } => confidence * (1.0 - p.contradict),
                    _ => 0.0,
                })
            } * weight;
            if best_support.as_ref().is_none_or(|b| conf > b.0) {
                best_support = Some((conf, c.cite.clone(), c.corroborating));
            }
            continue;
        }
        // Contradiction, from a sentence about the same subject that is not the claim's own:
        // a conflict the words show (opposite polarity, another value for the same quantity)
        // stands unless the model reads entailment (checked above); the model alone must be sure.
        // The model alone refutes only from a sentence about the claim's subject (its rarest
        // word, there or in the sentence's context) that holds much of the claim: a sentence
        // merely close in meaning may speak of something else ("the function" for distutils).
        let same_subject = about_subject && coverage[i] >= SUBJECT_COVERAGE;
        let (conf, why, agreed) = match &lexical {
            Judgement::Contradicts { confidence, why } => (
                confidence.max(p.contradict),
                format!(
                    "{why} (the verifier: contradiction p = {:.2})",
                    p.contradict
                ),
                p.contradict >= ENTAILS && p.contradict > p.entail,
            ),
            // "This is especially true of network filesystems": what "this" is, the model
            // does not see; it cannot refute alone.
            _ if p.contradict >= STRONG
                && p.contradict > p.entail
                && same_subject
                && !refers_back(&c.cite.quote)
                // "If the callback returns non-zero, ..." is another case than "If the busy
                // callback returns 0, ...": what holds in one says nothing of the other.
                && !terms.another_case(&c.cite.quote)
                && names_subject() =>
            {
                (
                    p.contradict,
                    format!(
                        "the verifier reads a contradiction (p = {:.2})",
                        p.contradict
                    ),
                    false,
                )
            }
            _ => continue,
        };
        let (conf, cite) = dated(terms, hits, &c.cite, conf);
        if c.can_refute() && best_conflict.as_ref().is_none_or(|b| conf > b.0) {
            let why = why_dated(terms, &cite, why);
            best_conflict = Some((conf, cite, why, agreed));
        }
    }
    // The model reads a compound claim as neutral where it reads each of its parts as stated
    // ("... is not intended for production use and only performs basic security checks"
    // beside "http.server is not recommended for production. It only implements basic
    // security checks."): with nothing found against it, it is stated when each part is.
    if best_support.is_none() && best_conflict.is_none() && claimed.parts.len() > 1 {
        let read: Vec<(usize, &str)> = order
            .iter()
            .zip(&evidence)
            .map(|(&i, e)| (i, e.as_str()))
            .collect();
        best_support = parts_stated(verifier, claimed.parts, candidates, &stems, &read)?;
    }
    Ok((best_support, best_conflict))
}

/// A claim to weigh: its terms, and the parts a compound claim joins (none when it joins
/// none).
struct Claimed<'a> {
    claim: &'a Claim,
    terms: &'a ClaimTerms,
    parts: &'a [Part],
}

/// One statement of a compound claim.
struct Part {
    text: String,
    terms: ClaimTerms,
}

/// The statements a compound claim joins, each with its terms; none for a simple claim.
fn parts_of(claim: &str, idf: &dyn Fn(&str) -> f32) -> Vec<Part> {
    match text::conjuncts(claim) {
        p if p.len() > 1 => p
            .into_iter()
            .map(|t| Part {
                text: text::squash_whitespace(t),
                terms: ClaimTerms::new(t, idf),
            })
            .collect(),
        _ => Vec::new(),
    }
}

/// Support for a compound claim when each of its parts is stated by a sentence the reviewer
/// read: one holding the part's numbers and half its weighted words, that the words could
/// state it from, and that the model reads as entailing it (p >= 0.5, above contradiction).
/// The vote cites the sentence stating the first part; its confidence is the weakest part's.
fn parts_stated(
    verifier: &Verifier,
    parts: &[Part],
    candidates: &[Candidate],
    stems: &[Vec<String>],
    read: &[(usize, &str)],
) -> Result<Support, ModelError> {
    let mut asked: Vec<(usize, usize)> = Vec::new();
    for (p, part) in parts.iter().enumerate() {
        for (k, &(i, evidence)) in read.iter().enumerate() {
            let c = &candidates[i];
            if part.terms.numbers_stated(evidence, &c.context)
                && part.terms.coverage_in(&stems[i], &c.context) >= SUBJECT_COVERAGE
                && can_state(&part.terms, &c.reading(), &c.context)
            {
                asked.push((p, k));
            }
        }
    }
    let pairs: Vec<(&str, &str)> = asked
        .iter()
        .map(|&(p, k)| (parts[p].text.as_str(), read[k].1))
        .collect();
    let probs = verifier.nli(&pairs)?;
    let mut best: Vec<Option<(f32, usize)>> = vec![None; parts.len()];
    for (&(p, k), n) in asked.iter().zip(&probs) {
        if n.entail >= ENTAILS
            && n.entail > n.contradict
            && best[p].is_none_or(|(e, _)| n.entail > e)
        {
            best[p] = Some((n.entail, read[k].0));
        }
    }
    let Some(found) = best.into_iter().collect::<Option<Vec<(f32, usize)>>>() else {
        return Ok(None);
    };
    let cite = &candidates[found[0].1];
    let weakest = found.iter().map(|f| f.0).fold(1.0f32, f32::min);
    let weight = if cite.corroborating { 1.0 } else { 0.9 };
    Ok(Some((
        weakest * weight,
        cite.cite.clone(),
        cite.corroborating,
    )))
}

/// Whether a sentence's subject or reason is in the sentence before it: "This is especially
/// true of network filesystems", "For this reason, appropriate vacuum and analyze operations
/// should be performed via session SQL commands". What "this" is, the model does not see.
fn refers_back(sentence: &str) -> bool {
    leans_on_previous(sentence, false)
        || text::tokens(sentence)
            .iter()
            .take(3)
            .any(|t| matches!(t.text.to_lowercase().as_str(), "this" | "these" | "those"))
}

/// The question's words, weighed once per review, for [`Asked::bears_on`].
pub struct Asked {
    words: Vec<(String, f32)>,
    /// Rarity a shared word needs: above the commonest quarter of the question's words, and
    /// never its commonest word alone.
    cut: f32,
}

impl Asked {
    pub fn new(question: &str, retriever: &Retriever) -> Asked {
        let words = ClaimTerms::new(question, &|s| retriever.idf(s)).words;
        let mut rarity: Vec<f32> = words.iter().map(|(_, w)| *w).collect();
        rarity.sort_by(f32::total_cmp);
        let cut = rarity
            .get(
                (rarity.len() / 4)
                    .max(1)
                    .min(rarity.len().saturating_sub(1)),
            )
            .copied()
            .unwrap_or_default();
        Asked { words, cut }
    }

    /// Whether a claim is about what was asked: the claim (or the short `passage` it is quoted
    /// from, which describes one thing), or a heading or title of the sections it comes from,
    /// holds one of the question's distinctive words (by rarity in the
    /// searched corpora). A question's commonest words ("PostgreSQL" in the PostgreSQL manual)
    /// say nothing about a sentence. Always so when there is no question. `Err` names the words
    /// the claim does hold.
    pub fn bears_on(&self, claim: &Claim, passage: Option<&str>) -> Result<(), String> {
        if self.words.is_empty() {
            return Ok(());
        }
        let mut held: Vec<String> = text::content_stems(passage.unwrap_or(&claim.text));
        for c in &claim.citations {
            for h in c.heading_path.iter().chain(std::iter::once(&c.title)) {
                held.extend(text::content_stems(h));
            }
        }
        let shared: Vec<&(String, f32)> = self
            .words
            .iter()
            .filter(|(s, _)| held.contains(s))
            .collect();
        if shared.iter().any(|(_, w)| *w >= self.cut) {
            return Ok(());
        }
        Err(if shared.is_empty() {
            "none of the question's words".to_string()
        } else {
            let words: Vec<&str> = shared.iter().map(|(s, _)| s.as_str()).collect();
            format!("only the question's common words ({})", words.join(", "))
        })
    }
}

#[async_trait]
impl Reviewer for OfflineReviewer {
    fn name(&self) -> &str {
        &self.name
    }

    fn is_skeptic(&self) -> bool {
        self.formulation == Formulation::Skeptic
    }

    async fn review(&self, task: &ReviewTask) -> Vec<Vote> {
        let mut me = self.clone();
        me.steer = task.purpose.steer().to_vec();
        let claims = &task.claims;
        let (question, about, owned, retriever) = (
            task.purpose.question().to_string(),
            task.purpose.asked(),
            claims.clone(),
            task.evidence.clone(),
        );
        let result = tokio::task::spawn_blocking(move || {
            let asked = Asked::new(&about, &retriever);
            owned
                .iter()
                .map(|c| me.judge(&question, &asked, c, &retriever))
                .collect::<Vec<_>>()
        })
        .await;
        match result {
            Ok(votes) => votes,
            // A crashed reviewer leaves its votes unverified, never refuted.
            Err(e) => claims
                .iter()
                .map(|c| Vote {
                    claim_id: c.id.clone(),
                    reviewer: self.name.clone(),
                    skeptic: self.is_skeptic(),
                    stance: Stance::Error,
                    confidence: 0.0,
                    evidence: None,
                    corroborating: false,
                    note: format!("reviewer failed: {e}"),
                    first_pass: false,
                })
                .collect(),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_reference_entry_names_its_term_and_other_headings_name_none() {
        assert_eq!(
            defined_term("vacuum_freeze_table_age (integer)").as_deref(),
            Some("vacuum_freeze_table_age")
        );
        assert_eq!(
            defined_term("autovacuum_enabled, toast.autovacuum_enabled (boolean)").as_deref(),
            Some("autovacuum_enabled")
        );
        assert_eq!(
            defined_term("autovacuum (boolean)").as_deref(),
            Some("autovacuum")
        );
        assert_eq!(defined_term("add_note(note)").as_deref(), Some("add_note"));
        assert_eq!(defined_term("25.1.6. The Autovacuum Daemon"), None);
        assert_eq!(defined_term("PEP 654: Exception Groups and except*"), None);
    }

    fn hit(term: &str, text: &str) -> Hit {
        Hit {
            passage: crate::artifact::Passage {
                doc_id: "runtime-config-client.html".into(),
                ordinal: 0,
                heading_path: vec!["20.11.1. Statement Behavior".into(), term.into()],
                start: 0,
                end: text.len(),
                text: text.into(),
                page: None,
            },
            location: "runtime-config-client.html".into(),
            title: "Client Connection Defaults".into(),
            doc_hash: "h".into(),
            score: 1.0,
            fetched: None,
        }
    }

    /// A claim quoting the whole of a passage.
    fn claim_quoting(own: &Hit) -> Claim {
        Claim {
            id: "c1".into(),
            text: own.passage.text.clone(),
            sub_query: 0,
            score: 1.0,
            citations: vec![Citation::from_hit(own, 0, own.passage.text.len())],
        }
    }

    #[test]
    fn another_entry_s_value_under_the_same_heading_refutes_nothing() {
        // compile.html lists its options as labelled entries under one heading.
        let mut own = hit(
            "4. Options To Set Default Parameter Values",
            "SQLITE_DEFAULT_PAGE_SIZE=<bytes>\n\nThis macro is used to set the default page-size \
             used when a database is created. The default value is 4096.",
        );
        own.passage.doc_id = "compile.html".into();
        let mut other = hit(
            "4. Options To Set Default Parameter Values",
            "SQLITE_DEFAULT_MEMSTATUS=<1 or 0>\n\nThis macro is used to determine whether or \
             not the features are enabled by default. The default value is 1.",
        );
        other.passage.doc_id = "compile.html".into();
        other.passage.ordinal = 1;
        let start = own.passage.text.find("The default value is 4096.").unwrap();
        let claim = Claim {
            id: "c1".into(),
            text: "The default value is 4096.".into(),
            sub_query: 0,
            score: 1.0,
            citations: vec![Citation::from_hit(&own, start, own.passage.text.len())],
        };
        let terms = ClaimTerms::new(&claim.text, &|_| 1.0);
        let hits = vec![own, other];
        let (_, conflict) = weigh_lexically(&terms, &candidates(&claim, &hits), &hits);
        assert!(conflict.is_none(), "{conflict:?}");
        assert_eq!(
            label_term("SQLITE_DEFAULT_MEMSTATUS=<1 or 0>\n\nThis macro ...").as_deref(),
            Some("sqlite_default_memstatus")
        );
    }

    #[test]
    fn a_value_a_dated_change_replaced_held_only_before_it() {
        let claim_text = "The default page size for new databases is 1024 bytes.";
        let own = hit("Page Size", claim_text);
        let mut later = hit(
            "Page Size",
            "Currently the default page size for new databases is 4096 bytes. So, beginning \
             with SQLite version 3.12.0 the default page size for new database files has been \
             increased to 4096 bytes.",
        );
        later.passage.doc_id = "pgszchng2016.html".into();
        let claim = claim_quoting(&own);
        let terms = ClaimTerms::new(&claim.text, &|_| 1.0);
        let hits = vec![own, later];
        let (support, conflict) = weigh_lexically(&terms, &candidates(&claim, &hits), &hits);
        assert!(support.is_some(), "its own sentence states it");
        let (_, cite, why, _) = conflict.unwrap();
        // The quote that says since when, and the reason every reviewer refutes on.
        assert!(
            cite.quote.contains("beginning with SQLite version 3.12.0"),
            "{cite:?}"
        );
        assert!(why.starts_with(HELD_BEFORE), "{why}");
    }

    #[test]
    fn a_sentence_under_another_term_of_a_reference_page_cannot_refute() {
        let claim_text = "Users can set this value anywhere from zero to two billion.";
        let own = hit("vacuum_freeze_table_age (integer)", claim_text);
        let other = hit(
            "vacuum_failsafe_age (integer)",
            "Users can set this value anywhere from zero to 2.1 billion.",
        );
        let claim = claim_quoting(&own);
        let terms = ClaimTerms::new(&claim.text, &|_| 1.0);
        let hits = vec![own, other];
        let (_, conflict) = weigh_lexically(&terms, &candidates(&claim, &hits), &hits);
        assert!(conflict.is_none(), "{conflict:?}");
        // Under the same term the other value is a conflict.
        let mut same = hits.clone();
        same[1].passage.heading_path[1] = "vacuum_freeze_table_age (integer)".into();
        same[1].passage.doc_id = "other.html".into();
        let (_, conflict) = weigh_lexically(&terms, &candidates(&claim, &same), &same);
        assert!(conflict.is_some());
    }

    fn page(doc: &str, headings: &[&str], text: &str) -> Hit {
        let mut h = hit("x", text);
        h.passage.doc_id = doc.into();
        h.passage.heading_path = headings.iter().map(|s| s.to_string()).collect();
        h
    }

    /// A claim checked as `research verify` checks it: no source of its own.
    fn free_claim(text: &str) -> Claim {
        Claim {
            id: "c1".into(),
            text: text.into(),
            sub_query: 0,
            score: 1.0,
            citations: Vec::new(),
        }
    }

    #[test]
    fn a_release_named_by_the_page_s_heading_is_stated_by_its_sentences() {
        let claim = free_claim("The asynchat module is deprecated in Python 3.11.");
        let terms = ClaimTerms::new(&claim.text, &|_| 1.0);
        let sentence = "The asynchat module is deprecated.";
        let under = |release: &str| {
            let hits = vec![page(
                "whatsnew.html",
                &[&format!("What’s New In Python {release}"), "Deprecated"],
                sentence,
            )];
            weigh_lexically(&terms, &candidates(&claim, &hits), &hits).0
        };
        assert!(
            under("3.11").is_some(),
            "stated under its release's heading"
        );
        assert!(
            under("3.10").is_none(),
            "another release's page does not state it"
        );
    }

    fn verifier() -> Arc<Verifier> {
        Verifier::shared().unwrap_or_else(|e| panic!("this test needs the installed verifier: {e}"))
    }

    /// The conflict a reviewer finds with the model for a free claim whose named words are rarer
    /// than the rest (rarest first), in one passage.
    fn model_conflict(claim: &str, rare: &[&str], hit: Hit, skeptic: bool) -> Conflict {
        let claim = free_claim(claim);
        let rare: Vec<String> = rare.iter().map(|w| text::stem(w)).collect();
        let idf = |s: &str| match rare.iter().position(|r| r == s) {
            Some(i) => 6.0 - i as f32,
            None => 1.0,
        };
        let terms = ClaimTerms::new(&claim.text, &idf);
        let hits = vec![hit];
        let parts = parts_of(&claim.text, &idf);
        let claimed = Claimed {
            claim: &claim,
            terms: &terms,
            parts: &parts,
        };
        weigh_with_model(
            &verifier(),
            &claimed,
            &candidates(&claim, &hits),
            &hits,
            skeptic,
        )
        .unwrap()
        .1
    }

    #[test]
    fn the_model_alone_refutes_only_a_sentence_naming_the_claim_s_subject() {
        // "scheduled" is rarer than "distutils" here, as it can be in a real manual.
        let hit = page(
            "whatsnew.html",
            &["What’s New In Python 3.11", "Removed"],
            "Removed the @asyncio.coroutine() decorator enabling legacy generator-based \
             coroutines to be compatible with async / await code. The function has been \
             deprecated since Python 3.8 and the removal was initially scheduled for Python 3.10.",
        );
        for skeptic in [false, true] {
            let conflict = model_conflict(
                "distutils is deprecated in Python 3.11 and is scheduled to be removed in Python \
                 3.12.",
                &["scheduled", "distutils"],
                hit.clone(),
                skeptic,
            );
            assert!(conflict.is_none(), "{conflict:?}");
        }
    }

    #[test]
    fn a_compound_claim_is_stated_when_each_of_its_parts_is() {
        let claim = free_claim(
            "The standard library's http.server is not intended for production use and only \
             performs basic security checks.",
        );
        // Common words weigh little, as a real corpus's idf has it.
        let common: Vec<String> = ["standard", "library", "intended", "use", "performs"]
            .iter()
            .map(|w| text::stem(w))
            .collect();
        let idf = |s: &str| {
            if common.iter().any(|c| c == s) {
                1.0
            } else {
                4.0
            }
        };
        let terms = ClaimTerms::new(&claim.text, &idf);
        let hits = vec![page(
            "http.server.html",
            &["http.server — HTTP servers"],
            "http.server is not recommended for production. It only implements basic security \
             checks.",
        )];
        let weigh = |parts: &[Part]| {
            let claimed = Claimed {
                claim: &claim,
                terms: &terms,
                parts,
            };
            weigh_with_model(
                &verifier(),
                &claimed,
                &candidates(&claim, &hits),
                &hits,
                false,
            )
            .unwrap()
        };
        // Read whole, the model calls the pair neutral: no vote.
        let (support, conflict) = weigh(&[]);
        assert!(support.is_none() && conflict.is_none(), "{support:?}");
        // Each part is stated by one of the two sentences.
        let (support, conflict) = weigh(&parts_of(&claim.text, &idf));
        assert!(conflict.is_none(), "{conflict:?}");
        let (confidence, cite, _) = support.expect("both parts are stated");
        assert_eq!(cite.quote, "http.server is not recommended for production.");
        assert!(confidence >= ENTAILS * 0.9, "{confidence}");
        // A part no sentence states leaves the claim unstated.
        let claim = free_claim(
            "The standard library's http.server is not intended for production use and only \
             serves files over HTTPS.",
        );
        let terms = ClaimTerms::new(&claim.text, &idf);
        let claimed = Claimed {
            claim: &claim,
            terms: &terms,
            parts: &parts_of(&claim.text, &idf),
        };
        let (support, _) = weigh_with_model(
            &verifier(),
            &claimed,
            &candidates(&claim, &hits),
            &hits,
            false,
        )
        .unwrap();
        assert!(support.is_none(), "{support:?}");
    }

    #[test]
    fn a_denial_the_words_and_the_model_read_outweighs_a_weaker_statement() {
        let v = verifier();
        let claim =
            free_claim("SQLite supports both FOR EACH ROW and FOR EACH STATEMENT triggers.");
        let terms = ClaimTerms::new(&claim.text, &|_| 1.0);
        let hits = vec![page(
            "lang_createtrigger.html",
            &["CREATE TRIGGER", "2. Description"],
            "At this time SQLite supports only FOR EACH ROW triggers, not FOR EACH STATEMENT \
             triggers. Hence explicitly specifying FOR EACH ROW is optional. FOR EACH ROW \
             implies that the SQL statements specified in the trigger may be executed \
             (depending on the WHEN clause) for each database row being inserted, updated or \
             deleted by the statement causing the trigger to fire.",
        )];
        let claimed = Claimed {
            claim: &claim,
            terms: &terms,
            parts: &[],
        };
        let (support, conflict) =
            weigh_with_model(&v, &claimed, &candidates(&claim, &hits), &hits, false).unwrap();
        let c = conflict.as_ref().expect("the denial is read as a conflict");
        assert!(
            c.1.quote.starts_with("At this time SQLite supports only"),
            "{c:?}"
        );
        assert!(c.3, "the words and the model both read it: {c:?}");
        assert!(
            support.is_some(),
            "the sentence on FOR EACH ROW reads as support"
        );
        assert!(
            conflict_wins(&conflict, &support, false),
            "{support:?} {conflict:?}"
        );
        // A conflict the model alone reads never outweighs a statement of the claim.
        let weak = Some((c.0, c.1.clone(), c.2.clone(), false));
        let stated = Some((c.0 / 2.0, c.1.clone(), true));
        assert!(!conflict_wins(&weak, &stated, false));
        // Nor does any against the claim's own source: two sources disagree, a dispute to show.
        let own = Some((c.0 / 2.0, c.1.clone(), false));
        assert!(!conflict_wins(&conflict, &own, false));
        assert!(
            conflict_wins(&conflict, &own, true),
            "the skeptic still refutes"
        );
    }

    #[test]
    fn the_model_alone_does_not_refute_from_a_sentence_whose_reason_is_the_one_before() {
        let conflict = model_conflict(
            "Temporary tables cannot be accessed by autovacuum.",
            &["temporary", "autovacuum"],
            page(
                "maintenance.html",
                &["25.1.6. The Autovacuum Daemon"],
                "The autovacuum daemon cannot access and therefore cannot vacuum or analyze \
                 temporary tables. For this reason, appropriate vacuum and analyze operations \
                 should be performed via session SQL commands.",
            ),
            true,
        );
        assert!(conflict.is_none(), "{conflict:?}");
        assert!(refers_back(
            "For this reason, appropriate vacuum ... should be performed."
        ));
        assert!(!refers_back("Note that the default is 0."));
    }

    #[test]
    fn the_model_alone_does_not_refute_from_another_case() {
        let conflict = model_conflict(
            "If the busy callback returns 0, then no additional attempts are made to access the \
             database and SQLITE_BUSY is returned to the application.",
            &["callback", "attempts"],
            page(
                "c3ref/busy_handler.html",
                &["Register A Callback To Handle SQLITE_BUSY Errors"],
                "If the callback returns non-zero, then another attempt is made to access the \
                 database and the cycle repeats.",
            ),
            true,
        );
        assert!(conflict.is_none(), "{conflict:?}");
    }
}
