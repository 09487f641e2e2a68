//! The model-backed roles. Each builds its prompt from the role file, asks for JSON, validates
//! what comes back, and turns it into the pipeline's artifacts. Bad output never panics and is
//! never silently dropped: a planner or extractor that fails falls back to the offline engine
//! (said in the report's notes); a reviewer that fails casts error votes (unverified).

use super::caller::Caller;
use crate::artifact::{
    Angle, Citation, Claim, Evidence, Hit, Plan, Reviewed, Section, Sentence, Stance, SubQuery,
    Vote,
};
use crate::engine::offline::{self, Formulation, OfflineReviewer};
use crate::engine::{Extractor, Planner, Retriever, Reviewer, RoleError, Writer};
use crate::llm::LlmError;
use crate::text;
use async_trait::async_trait;
use serde::{Deserialize, Serialize};
use serde_json::json;
use std::collections::{BTreeMap, HashMap};
use std::sync::Arc;

/// How reviewers spend calls.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Voting {
    /// Many claims per call, stable prompt prefix first: cheap and cacheable.
    Batched,
    /// One call per claim per reviewer, data first, as common fan-out workflows do (the baseline
    /// the benchmark compares against).
    Naive,
}

// ---------------------------------------------------------------- planner

#[derive(Deserialize)]
struct PlanReply {
    sub_queries: Vec<PlanItem>,
}

#[derive(Deserialize)]
struct PlanItem {
    #[serde(default)]
    angle: String,
    #[serde(default)]
    label: String,
    query: String,
}

pub struct LlmPlanner {
    pub caller: Arc<Caller>,
    pub model: String,
}

fn plan_schema() -> serde_json::Value {
    json!({"type": "object", "required": ["sub_queries"], "properties": {"sub_queries": {
        "type": "array", "minItems": 3, "maxItems": 8, "items": {"type": "object",
        "required": ["angle", "label", "query"], "properties": {
            "angle": {"type": "string", "enum": ["question", "part", "definition", "mechanism", "limits", "numbers"]},
            "label": {"type": "string", "maxLength": 80}, "query": {"type": "string", "maxLength": 200}}}}}})
}

fn angle(s: &str) -> Angle {
    match s {
        "part" => Angle::Part,
        "definition" => Angle::Definition,
        "mechanism" => Angle::Mechanism,
        "limits" => Angle::Limits,
        "numbers" => Angle::Numbers,
        _ => Angle::Question,
    }
}

#[async_trait]
impl Planner for LlmPlanner {
    async fn plan(&self, question: &str) -> Result<Plan, RoleError> {
        let fallback = offline::offline_plan(question);
        let rendered = self
            .caller
            .prompts()
            .get("planner")
            .render(&json!({"question": question}))
            .map_err(|e| RoleError::Permanent(e.to_string()))?;
        match self
            .caller
            .call_json::<PlanReply>("planner", &self.model, &rendered, &plan_schema(), 600)
            .await
        {
            Ok(reply) => {
                // The question itself always leads, so a weak plan still searches what was asked.
                let mut subs = vec![fallback.sub_queries[0].clone()];
                for item in reply.sub_queries {
                    let query = text::squash_whitespace(&item.query);
                    if text::content_stems(&query).is_empty() || subs.iter().any(|s| s.query == query) {
                        continue;
                    }
                    let label = text::squash_whitespace(&item.label);
                    subs.push(SubQuery {
                        id: subs.len(),
                        angle: angle(&item.angle),
                        label: if label.is_empty() { query.clone() } else { label },
                        query,
                    });
                }
                if subs.len() < crate::plan::MIN_SUB_QUERIES {
                    self.caller.note("the planner's reply had too few usable sub-queries: the offline plan was used".into());
                    return Ok(fallback);
                }
                subs.truncate(crate::plan::MAX_SUB_QUERIES);
                Ok(Plan { question: fallback.question, sub_queries: subs })
            }
            Err(e) => {
                self.caller.note(format!("planner failed ({e}): the offline plan was used"));
                Ok(fallback)
            }
        }
    }
}

// ---------------------------------------------------------------- extractor

#[derive(Deserialize)]
struct ClaimsReply {
    claims: Vec<ClaimItem>,
}

#[derive(Deserialize)]
struct ClaimItem {
    #[serde(default)]
    claim: String,
    #[serde(default)]
    quote: String,
    #[serde(default)]
    source: String,
}

fn claims_schema(max: usize) -> serde_json::Value {
    json!({"type": "object", "required": ["claims"], "properties": {"claims": {"type": "array",
        "maxItems": max, "items": {"type": "object", "required": ["claim", "quote", "source"],
        "properties": {"claim": {"type": "string", "maxLength": 400}, "quote": {"type": "string", "maxLength": 600},
        "source": {"type": "string", "maxLength": 8}}}}}})
}

#[derive(Serialize)]
struct PromptPassage<'a> {
    id: String,
    title: &'a str,
    text: String,
}

/// Find a model's quote in a passage: exactly, or with whitespace differences only (then the
/// span is the passage's own text, so the citation still quotes the source verbatim).
pub fn find_quote(passage: &str, quote: &str) -> Option<(usize, usize)> {
    let quote = quote.trim().trim_matches('"').trim();
    if quote.is_empty() {
        return None;
    }
    if let Some(i) = passage.find(quote) {
        return Some((i, i + quote.len()));
    }
    let words: Vec<&str> = quote.split_whitespace().collect();
    let first = *words.first()?;
    let mut from = 0;
    while let Some(rel) = passage[from..].find(first) {
        let start = from + rel;
        let mut pos = start;
        let mut ok = true;
        for (i, w) in words.iter().enumerate() {
            if i > 0 {
                let rest = &passage[pos..];
                let trimmed = rest.trim_start();
                if trimmed.len() == rest.len() {
                    ok = false;
                    break;
                }
                pos += rest.len() - trimmed.len();
            }
            if passage[pos..].starts_with(w) {
                pos += w.len();
            } else {
                ok = false;
                break;
            }
        }
        if ok {
            return Some((start, pos));
        }
        from = start + first.len();
    }
    None
}

pub struct LlmExtractor {
    pub caller: Arc<Caller>,
    pub model: String,
    pub max_claims: usize,
}

impl LlmExtractor {
    /// Batches of evidence that fit the model's context with room for the reply.
    fn batches<'a>(&self, question: &str, evidence: &'a [Evidence]) -> Vec<&'a [Evidence]> {
        let budget = self.caller.context_window(&self.model).saturating_sub(1500);
        let mut out = Vec::new();
        let mut start = 0;
        let mut used = self.caller.estimate_tokens(question) + 600;
        for (i, ev) in evidence.iter().enumerate() {
            let t = self.caller.estimate_tokens(&ev.hit.passage.text) + 20;
            if i > start && used + t > budget {
                out.push(&evidence[start..i]);
                start = i;
                used = self.caller.estimate_tokens(question) + 600;
            }
            used += t;
        }
        if start < evidence.len() {
            out.push(&evidence[start..]);
        }
        out
    }
}

#[async_trait]
impl Extractor for LlmExtractor {
    async fn extract(&self, question: &str, plan: &Plan, evidence: &[Evidence]) -> Result<Vec<Claim>, RoleError> {
        let per_batch = 8;
        let mut claims = Vec::new();
        let mut fallback_batches = 0;
        let offline_extractor = offline::OfflineExtractor::default();
        for batch in self.batches(question, evidence) {
            let passages: Vec<PromptPassage> = batch
                .iter()
                .enumerate()
                .map(|(i, ev)| PromptPassage {
                    id: format!("S{}", i + 1),
                    title: &ev.hit.title,
                    text: super::prompts::as_data(&ev.hit.passage.text),
                })
                .collect();
            let rendered = self
                .caller
                .prompts()
                .get("extractor")
                .render(&json!({"question": question, "passages": passages, "max_claims": per_batch}))
                .map_err(|e| RoleError::Permanent(e.to_string()))?;
            let reply = self
                .caller
                .call_json::<ClaimsReply>("extractor", &self.model, &rendered, &claims_schema(per_batch), 1200)
                .await;
            match reply {
                Ok(reply) => {
                    for item in reply.claims.into_iter().take(per_batch) {
                        let index = item
                            .source
                            .trim()
                            .trim_start_matches(['S', 's'])
                            .parse::<usize>()
                            .ok()
                            .and_then(|n| n.checked_sub(1))
                            .filter(|&n| n < batch.len());
                        let text = text::squash_whitespace(&item.claim);
                        let Some(ev) = index.map(|n| &batch[n]) else { continue };
                        let citation = match find_quote(&ev.hit.passage.text, &item.quote) {
                            Some((s, e)) => Citation::from_hit(&ev.hit, s, e),
                            // Kept with an impossible span: the quote check counts and drops it.
                            None => Citation { quote: item.quote.clone(), start: 0, end: 0, ..Citation::from_hit(&ev.hit, 0, 0) },
                        };
                        let claim_text = if text.is_empty() { text::squash_whitespace(&citation.quote) } else { text };
                        claims.push(Claim {
                            id: String::new(),
                            text: claim_text,
                            sub_query: ev.sub_query,
                            score: ev.hit.score,
                            citations: vec![citation],
                        });
                    }
                }
                Err(e) => {
                    fallback_batches += 1;
                    let owned: Vec<Evidence> = batch.to_vec();
                    claims.extend(offline_extractor.extract_sync(question, plan, &owned));
                    if fallback_batches == 1 {
                        self.caller.note(format!("extractor failed ({e}): offline extraction was used for that batch"));
                    }
                }
            }
        }
        if fallback_batches > 1 {
            self.caller.note(format!("offline extraction was used for {fallback_batches} batches in all"));
        }
        claims.sort_by(|a, b| b.score.total_cmp(&a.score));
        claims.truncate(self.max_claims);
        Ok(claims)
    }
}

// ---------------------------------------------------------------- reviewer

#[derive(Deserialize)]
struct VotesReply {
    votes: Vec<VoteItem>,
}

#[derive(Deserialize)]
struct VoteItem {
    #[serde(default)]
    claim: String,
    #[serde(default)]
    stance: String,
    #[serde(default)]
    confidence: serde_json::Value,
    #[serde(default)]
    evidence: String,
    #[serde(default)]
    quote: String,
}

fn votes_schema(n: usize) -> serde_json::Value {
    json!({"type": "object", "required": ["votes"], "properties": {"votes": {"type": "array",
        "minItems": n, "maxItems": n, "items": {"type": "object",
        "required": ["claim", "stance", "confidence", "evidence", "quote"], "properties": {
            "claim": {"type": "string", "maxLength": 12},
            "stance": {"type": "string", "enum": ["support", "refute", "abstain"]},
            "confidence": {"type": "number", "minimum": 0, "maximum": 1},
            "evidence": {"type": "string", "maxLength": 8}, "quote": {"type": "string", "maxLength": 600}}}}}})
}

/// A confidence from a model: any JSON number (or numeric string) clamped to 0..=1; absurd or
/// missing values count as 0.5.
pub fn confidence(v: &serde_json::Value) -> f32 {
    let x = match v {
        serde_json::Value::Number(n) => n.as_f64(),
        serde_json::Value::String(s) => s.trim().parse::<f64>().ok(),
        _ => None,
    };
    match x {
        Some(x) if x.is_finite() && (0.0..=1.0).contains(&x) => x as f32,
        Some(x) if x.is_finite() && (1.0..=100.0).contains(&x) => (x / 100.0) as f32,
        _ => 0.5,
    }
}

pub struct LlmReviewer {
    pub caller: Arc<Caller>,
    pub name: String,
    pub model: String,
    pub skeptic: bool,
    /// Each reviewer keeps its own view of the evidence (its own query formulation).
    pub retrieval: OfflineReviewer,
    pub voting: Voting,
    pub evidence_per_claim: usize,
}

struct ClaimEvidence {
    claim: Claim,
    hits: Vec<Hit>,
}

impl LlmReviewer {
    pub fn new(caller: Arc<Caller>, index: usize, skeptic: bool, model: String, voting: Voting) -> LlmReviewer {
        let formulations = [Formulation::Literal, Formulation::Focused, Formulation::Phrases, Formulation::InContext];
        let (name, formulation) = if skeptic {
            (format!("skeptic-{}", index + 1), Formulation::Skeptic)
        } else {
            (format!("reviewer-{}", index + 1), formulations[index % formulations.len()])
        };
        LlmReviewer {
            caller,
            retrieval: OfflineReviewer::new(name.clone(), formulation),
            name,
            model,
            skeptic,
            voting,
            evidence_per_claim: if voting == Voting::Naive { 8 } else { 4 },
        }
    }

    fn vote(&self, claim: &Claim, stance: Stance, note: String) -> Vote {
        Vote {
            claim_id: claim.id.clone(),
            reviewer: self.name.clone(),
            skeptic: self.skeptic,
            stance,
            confidence: 0.0,
            evidence: None,
            corroborating: false,
            note,
        }
    }

    fn render(&self, items: &[&ClaimEvidence]) -> Result<super::prompts::Rendered, String> {
        let claims: Vec<serde_json::Value> = items
            .iter()
            .enumerate()
            .map(|(ci, it)| {
                let evidence: Vec<serde_json::Value> = it
                    .hits
                    .iter()
                    .enumerate()
                    .map(|(ei, h)| json!({"id": evidence_id(ci, ei), "title": h.title, "text": super::prompts::as_data(&h.passage.text)}))
                    .collect();
                json!({"id": it.claim.id, "text": it.claim.text, "evidence": evidence})
            })
            .collect();
        let role = if self.skeptic { "skeptic" } else { "reviewer" };
        let mut r = self.caller.prompts().get(role).render(&json!({"claims": claims})).map_err(|e| e.to_string())?;
        if self.voting == Voting::Naive {
            // The fan-out baseline sends its data first and rules after, so no two prompts share
            // a prefix beyond a few tokens.
            r = super::prompts::Rendered { system: String::new(), user: format!("{}\n\n{}", r.user, r.system) };
        }
        Ok(r)
    }

    /// Split claims into batches whose prompts fit the context window with room for the reply;
    /// a claim whose evidence alone does not fit loses its lowest-ranked passages (noted).
    fn batches<'a>(&self, items: &'a [ClaimEvidence]) -> Vec<Vec<&'a ClaimEvidence>> {
        let window = self.caller.context_window(&self.model);
        let fits = |batch: &[&ClaimEvidence]| -> bool {
            match self.render(batch) {
                Ok(r) => {
                    let prompt = self.caller.estimate_tokens(&r.system) + self.caller.estimate_tokens(&r.user);
                    prompt + reply_tokens(batch.len()) as usize <= window
                }
                Err(_) => false,
            }
        };
        let limit = if self.voting == Voting::Naive { 1 } else { 12 };
        let mut out: Vec<Vec<&ClaimEvidence>> = Vec::new();
        let mut current: Vec<&ClaimEvidence> = Vec::new();
        for it in items {
            current.push(it);
            if current.len() > limit || (current.len() > 1 && !fits(&current)) {
                current.pop();
                out.push(std::mem::take(&mut current));
                current.push(it);
            }
        }
        if !current.is_empty() {
            out.push(current);
        }
        out
    }

    async fn review_batch(&self, batch: &[&ClaimEvidence]) -> Vec<Vote> {
        let rendered = match self.render(batch) {
            Ok(r) => r,
            Err(e) => return batch.iter().map(|it| self.vote(&it.claim, Stance::Error, format!("prompt failed: {e}"))).collect(),
        };
        let reply = self
            .caller
            .call_json::<VotesReply>(&self.name, &self.model, &rendered, &votes_schema(batch.len()), reply_tokens(batch.len()))
            .await;
        let reply = match reply {
            Ok(r) => r,
            Err(e) => {
                let note = match &e {
                    LlmError::Budget(_) => format!("not reviewed: {e}"),
                    _ => format!("vote failed: {e}"),
                };
                return batch.iter().map(|it| self.vote(&it.claim, Stance::Error, note.clone())).collect();
            }
        };
        let mut by_claim: HashMap<String, VoteItem> = HashMap::new();
        for (i, v) in reply.votes.into_iter().enumerate() {
            // A vote that names no claim is taken in order.
            let key = if v.claim.trim().is_empty() { batch.get(i).map(|b| b.claim.id.clone()).unwrap_or_default() } else { v.claim.trim().to_string() };
            by_claim.entry(key).or_insert(v);
        }
        batch
            .iter()
            .enumerate()
            .map(|(ci, it)| match by_claim.remove(&it.claim.id) {
                None => self.vote(&it.claim, Stance::Error, "the reply had no vote for this claim".into()),
                Some(v) => self.to_vote(ci, it, v),
            })
            .collect()
    }

    fn to_vote(&self, ci: usize, it: &ClaimEvidence, v: VoteItem) -> Vote {
        let stance = match v.stance.trim().to_lowercase().as_str() {
            "support" | "supports" | "supported" => Stance::Support,
            "refute" | "refutes" | "refuted" | "contradict" | "contradicts" => Stance::Refute,
            "abstain" | "insufficient" | "unsure" => Stance::Abstain,
            other => return self.vote(&it.claim, Stance::Error, format!("unknown stance {other:?}")),
        };
        let mut vote = self.vote(&it.claim, stance, String::new());
        vote.confidence = confidence(&v.confidence);
        if stance == Stance::Abstain {
            vote.note = "no decisive evidence".into();
            return vote;
        }
        // Support or refutation must point at a quote that really is in the evidence.
        let hit = it.hits.iter().enumerate().find(|(ei, _)| evidence_id(ci, *ei) == v.evidence.trim()).map(|(_, h)| h);
        let found = hit.and_then(|h| find_quote(&h.passage.text, &v.quote).map(|(s, e)| Citation::from_hit(h, s, e)));
        match found {
            Some(cite) => {
                let origin: Vec<&str> = it.claim.citations.iter().map(|c| c.doc_id.as_str()).collect();
                vote.corroborating = !origin.contains(&cite.doc_id.as_str());
                vote.note = if stance == Stance::Support { "the evidence states the claim".into() } else { "the evidence contradicts the claim".into() };
                vote.evidence = Some(cite);
            }
            None => {
                vote.stance = Stance::Abstain;
                vote.confidence = 0.0;
                vote.note = format!("the reviewer's {} quote is not in the evidence it named, so the vote counts as an abstention", if stance == Stance::Support { "supporting" } else { "refuting" });
            }
        }
        vote
    }
}

fn evidence_id(claim_index: usize, evidence_index: usize) -> String {
    format!("E{}.{}", claim_index + 1, evidence_index + 1)
}

fn reply_tokens(claims: usize) -> u32 {
    (120 * claims as u32).clamp(200, 4000)
}

#[async_trait]
impl Reviewer for LlmReviewer {
    fn name(&self) -> &str {
        &self.name
    }

    fn is_skeptic(&self) -> bool {
        self.skeptic
    }

    async fn review(&self, question: &str, claims: &[Claim], evidence: &Retriever) -> Vec<Vote> {
        let (q, owned, retriever, depth) = (question.to_string(), claims.to_vec(), evidence.clone(), self.evidence_per_claim);
        let retrieval = self.retrieval.clone();
        let gathered = tokio::task::spawn_blocking(move || {
            owned
                .into_iter()
                .map(|claim| {
                    let hits = retrieval.evidence(&q, &claim, &retriever).map(|mut h| {
                        h.truncate(depth);
                        h
                    });
                    (claim, hits)
                })
                .collect::<Vec<_>>()
        })
        .await;
        let Ok(gathered) = gathered else {
            return claims.iter().map(|c| self.vote(c, Stance::Error, "evidence retrieval crashed".into())).collect();
        };
        let mut votes: BTreeMap<String, Vote> = BTreeMap::new();
        let mut items = Vec::new();
        for (claim, hits) in gathered {
            match hits {
                Ok(hits) => items.push(ClaimEvidence { claim, hits }),
                Err(e) => {
                    votes.insert(claim.id.clone(), self.vote(&claim, Stance::Error, format!("retrieval failed: {e}")));
                }
            }
        }
        for batch in self.batches(&items) {
            for v in self.review_batch(&batch).await {
                votes.insert(v.claim_id.clone(), v);
            }
        }
        claims
            .iter()
            .map(|c| votes.remove(&c.id).unwrap_or_else(|| self.vote(c, Stance::Error, "not reviewed".into())))
            .collect()
    }
}

// ---------------------------------------------------------------- writer

#[derive(Deserialize)]
struct WriterReply {
    sections: Vec<WriterSection>,
}

#[derive(Deserialize)]
struct WriterSection {
    #[serde(default)]
    heading: String,
    #[serde(default)]
    sentences: Vec<WriterSentence>,
}

#[derive(Deserialize)]
struct WriterSentence {
    #[serde(default)]
    text: String,
    #[serde(default)]
    claims: Vec<String>,
}

fn writer_schema() -> serde_json::Value {
    json!({"type": "object", "required": ["sections"], "properties": {"sections": {"type": "array",
        "items": {"type": "object", "required": ["heading", "sentences"], "properties": {
            "heading": {"type": "string", "maxLength": 120}, "sentences": {"type": "array", "items": {
                "type": "object", "required": ["text", "claims"], "properties": {
                    "text": {"type": "string", "maxLength": 600},
                    "claims": {"type": "array", "items": {"type": "string", "maxLength": 12}}}}}}}}}})
}

/// Whether a written sentence may stand: it cites at least one known claim and states no number
/// its cited claims do not contain.
pub fn sentence_is_grounded(sentence: &str, cited: &[&Claim]) -> bool {
    if cited.is_empty() || sentence.trim().is_empty() {
        return false;
    }
    let allowed: Vec<f64> = cited.iter().flat_map(|c| text::numbers(&c.text)).map(|n| n.value).collect();
    text::numbers(sentence)
        .iter()
        .all(|n| allowed.iter().any(|a| (a - n.value).abs() < 1e-9))
}

pub struct LlmWriter {
    pub caller: Arc<Caller>,
    pub model: String,
}

#[async_trait]
impl Writer for LlmWriter {
    async fn write(&self, question: &str, plan: &Plan, kept: &[Reviewed]) -> Result<Vec<Section>, RoleError> {
        let fallback = offline::OfflineWriter.write(question, plan, kept).await?;
        if kept.is_empty() {
            return Ok(fallback);
        }
        let sections: Vec<serde_json::Value> = fallback
            .iter()
            .map(|s| {
                let claims: Vec<serde_json::Value> = s
                    .sentences
                    .iter()
                    .flat_map(|x| x.claim_ids.iter())
                    .filter_map(|id| kept.iter().find(|r| &r.claim.id == id))
                    .map(|r| json!({"id": r.claim.id, "text": r.claim.text}))
                    .collect();
                json!({"heading": s.heading, "claims": claims})
            })
            .collect();
        let rendered = self
            .caller
            .prompts()
            .get("writer")
            .render(&json!({"question": question, "sections": sections}))
            .map_err(|e| RoleError::Permanent(e.to_string()))?;
        let reply = match self.caller.call_json::<WriterReply>("writer", &self.model, &rendered, &writer_schema(), 2000).await {
            Ok(r) => r,
            Err(e) => {
                self.caller.note(format!("writer failed ({e}): findings are listed as the claims' own sentences"));
                return Ok(fallback);
            }
        };
        let by_id: HashMap<&str, &Claim> = kept.iter().map(|r| (r.claim.id.as_str(), &r.claim)).collect();
        let mut dropped = 0;
        let mut out = Vec::new();
        for (i, ws) in reply.sections.into_iter().enumerate() {
            let Some(base) = fallback.iter().find(|s| s.heading == ws.heading.trim()).or_else(|| fallback.get(i)) else { continue };
            let mut sentences = Vec::new();
            for s in ws.sentences {
                let ids: Vec<String> = s.claims.iter().map(|c| c.trim().to_string()).filter(|c| by_id.contains_key(c.as_str())).collect();
                let cited: Vec<&Claim> = ids.iter().filter_map(|id| by_id.get(id.as_str()).copied()).collect();
                let textv = text::squash_whitespace(&s.text);
                if sentence_is_grounded(&textv, &cited) {
                    sentences.push(Sentence { text: textv, claim_ids: ids });
                } else {
                    dropped += 1;
                }
            }
            if !sentences.is_empty() {
                out.push(Section { sub_query: base.sub_query, heading: base.heading.clone(), sentences });
            }
        }
        if dropped > 0 {
            self.caller.note(format!("{dropped} written sentences were deleted: they cited no claim or stated a number their claims do not contain"));
        }
        if out.is_empty() {
            self.caller.note("the writer's reply had no usable sentence: findings are listed as the claims' own sentences".into());
            return Ok(fallback);
        }
        Ok(out)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn quotes_are_found_exactly_or_across_whitespace_only() {
        let p = "The default is 4.0.  It applies\nto every table.";
        assert_eq!(find_quote(p, "The default is 4.0."), Some((0, 19)));
        let (s, e) = find_quote(p, "It applies to every table.").unwrap();
        assert_eq!(&p[s..e], "It applies\nto every table.");
        assert_eq!(find_quote(p, "It applies to every index."), None);
        assert_eq!(find_quote(p, ""), None);
    }

    #[test]
    fn absurd_confidences_are_clamped_not_trusted() {
        assert_eq!(confidence(&json!(0.7)), 0.7);
        assert_eq!(confidence(&json!(80)), 0.8);
        assert_eq!(confidence(&json!(4096.15e45)), 0.5);
        assert_eq!(confidence(&json!("0.25")), 0.25);
        assert_eq!(confidence(&json!(null)), 0.5);
        assert_eq!(confidence(&json!(-3)), 0.5);
    }

    #[test]
    fn writer_sentences_need_claims_and_their_numbers() {
        let c = Claim { id: "c1".into(), text: "random_page_cost defaults to 4.0.".into(), sub_query: 0, score: 1.0, citations: vec![] };
        assert!(sentence_is_grounded("The planner assumes 4.0 for random pages.", &[&c]));
        assert!(!sentence_is_grounded("The planner assumes 2.0 for random pages.", &[&c]));
        assert!(!sentence_is_grounded("Random pages cost more.", &[]));
    }
}
