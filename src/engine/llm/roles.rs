//! The model-backed roles. Each builds its prompt from the role file, asks for JSON, validates
//! what comes back, and turns it into the pipeline's artifacts. Bad output never panics and is
//! never silently dropped: a planner or extractor that fails falls back to the offline engine
//! (said in the report's notes); a reviewer that fails casts error votes (unverified).

use super::caller::Caller;
use crate::artifact::{
    Angle, Answer, AnswerPart, Citation, Claim, Evidence, FollowUp, Hit, Lead, Plan, Reviewed,
    Section, Sentence, Stance, Status, SubQuery, Vote,
};
use crate::engine::offline;
use crate::engine::{Extractor, Planner, Retriever, ReviewTask, Reviewer, RoleError, Writer};
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
                    if text::content_stems(&query).is_empty()
                        || subs.iter().any(|s| s.query == query)
                    {
                        continue;
                    }
                    let label = text::squash_whitespace(&item.label);
                    subs.push(SubQuery {
                        id: subs.len(),
                        angle: angle(&item.angle),
                        label: if label.is_empty() {
                            query.clone()
                        } else {
                            label
                        },
                        query,
                    });
                }
                if subs.len() < crate::artifact::MIN_SUB_QUERIES {
                    self.caller.note("the planner's reply had too few usable sub-queries: the offline plan was used".into());
                    return Ok(fallback);
                }
                subs.truncate(crate::artifact::MAX_SUB_QUERIES);
                Ok(Plan {
                    question: fallback.question,
                    sub_queries: subs,
                    subject: fallback.subject,
                })
            }
            Err(e) => {
                self.caller
                    .note(format!("planner failed ({e}): the offline plan was used"));
                Ok(fallback)
            }
        }
    }

    /// The model proposes the next round from a compact summary of what is known; a failed or
    /// unusable reply falls back to the rules over the kept claims.
    async fn follow_ups(
        &self,
        plan: &Plan,
        reviewed: &[Reviewed],
        asked: &[String],
        breadth: usize,
    ) -> Result<Vec<FollowUp>, RoleError> {
        match self
            .proposed_follow_ups(plan, reviewed, asked, breadth)
            .await
        {
            Ok(f) => Ok(f),
            Err(e) => {
                self.caller.note(format!(
                    "the follow-up planner failed ({e}): the next round's searches came from the rules"
                ));
                Ok(offline::followup::follow_ups(
                    plan, reviewed, asked, breadth,
                ))
            }
        }
    }
}

/// What a follow-up planner is shown of the run: a compact summary (the best kept claims and
/// the disputed ones, each shortened), so a round's cost does not grow with what is known.
const FOLLOW_UP_KEPT: usize = 12;
const FOLLOW_UP_DISPUTED: usize = 5;
const FOLLOW_UP_CLAIM_CHARS: usize = 240;
const FOLLOW_UP_ASKED: usize = 16;

#[derive(Deserialize)]
struct FollowUpReply {
    #[serde(default)]
    follow_ups: Vec<FollowUpItem>,
}

#[derive(Deserialize)]
struct FollowUpItem {
    #[serde(default)]
    lead: String,
    query: String,
    #[serde(default)]
    reason: String,
    #[serde(default)]
    claim: String,
}

fn follow_up_schema(breadth: usize) -> serde_json::Value {
    json!({"type": "object", "required": ["follow_ups"], "properties": {"follow_ups": {
        "type": "array", "maxItems": breadth, "items": {"type": "object",
        "required": ["lead", "query", "reason", "claim"], "properties": {
            "lead": {"type": "string", "enum": ["gap", "bridge", "dispute"]},
            "query": {"type": "string", "maxLength": 160},
            "reason": {"type": "string", "maxLength": 160},
            "claim": {"type": "string", "maxLength": 16}}}}}})
}

fn shorten(s: &str, max: usize) -> String {
    if s.len() <= max {
        return s.to_string();
    }
    let mut end = max;
    while !s.is_char_boundary(end) {
        end -= 1;
    }
    format!("{}...", &s[..end])
}

impl LlmPlanner {
    /// The model's follow-ups, checked: known leads only, no search run before, a dispute only
    /// for a claim that is disputed. An error when the reply is unusable.
    async fn proposed_follow_ups(
        &self,
        plan: &Plan,
        reviewed: &[Reviewed],
        asked: &[String],
        breadth: usize,
    ) -> Result<Vec<FollowUp>, String> {
        let by_status = |status: Status, n: usize| -> Vec<serde_json::Value> {
            let mut claims: Vec<&Reviewed> = reviewed
                .iter()
                .filter(|r| r.verdict.status == status)
                .collect();
            claims.sort_by(|a, b| {
                b.claim
                    .score
                    .total_cmp(&a.claim.score)
                    .then_with(|| a.claim.id.cmp(&b.claim.id))
            });
            claims
                .iter()
                .take(n)
                .map(|r| json!({"id": r.claim.id, "text": shorten(&r.claim.text, FOLLOW_UP_CLAIM_CHARS)}))
                .collect()
        };
        let recent: Vec<&String> = asked.iter().rev().take(FOLLOW_UP_ASKED).rev().collect();
        let rendered = self
            .caller
            .prompts()
            .get("follow-up")
            .render(&json!({
                "question": plan.question,
                "breadth": breadth,
                "kept": by_status(Status::Kept, FOLLOW_UP_KEPT),
                "disputed": by_status(Status::Disputed, FOLLOW_UP_DISPUTED),
                "asked": recent,
            }))
            .map_err(|e| e.to_string())?;
        let reply = self
            .caller
            .call_json::<FollowUpReply>(
                "follow-up",
                &self.model,
                &rendered,
                &follow_up_schema(breadth),
                500,
            )
            .await
            .map_err(|e| e.to_string())?;
        let mut seen: Vec<String> = asked.iter().map(|q| q.to_lowercase()).collect();
        let mut out = Vec::new();
        for item in reply.follow_ups {
            let query = text::squash_whitespace(&item.query);
            if text::content_stems(&query).is_empty() || seen.contains(&query.to_lowercase()) {
                continue;
            }
            let claim = item.claim.trim().to_string();
            let disputed = reviewed
                .iter()
                .any(|r| r.claim.id == claim && r.verdict.status == Status::Disputed);
            let lead = match item.lead.as_str() {
                "dispute" if disputed => Lead::Dispute,
                "bridge" => Lead::Bridge,
                _ => Lead::Gap,
            };
            seen.push(query.to_lowercase());
            out.push(FollowUp {
                lead,
                query,
                reason: shorten(&text::squash_whitespace(&item.reason), 160),
                claim_id: (lead == Lead::Dispute).then_some(claim),
            });
            if out.len() >= breadth {
                break;
            }
        }
        Ok(out)
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
    async fn extract(
        &self,
        question: &str,
        plan: &Plan,
        evidence: &[Evidence],
    ) -> Result<Vec<Claim>, RoleError> {
        self.caller.learn_context(&self.model).await;
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
                .render(
                    &json!({"question": question, "passages": passages, "max_claims": per_batch}),
                )
                .map_err(|e| RoleError::Permanent(e.to_string()))?;
            let reply = self
                .caller
                .call_json::<ClaimsReply>(
                    "extractor",
                    &self.model,
                    &rendered,
                    &claims_schema(per_batch),
                    1200,
                )
                .await;
            match reply {
                Ok(reply) => {
                    let mut verifiable = 0;
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
                        let Some(ev) = index.map(|n| &batch[n]) else {
                            continue;
                        };
                        let citation = match find_quote(&ev.hit.passage.text, &item.quote) {
                            Some((s, e)) => {
                                verifiable += 1;
                                Citation::from_hit(&ev.hit, s, e)
                            }
                            // Kept with an impossible span: the quote check counts and drops it.
                            None => Citation {
                                quote: item.quote.clone(),
                                start: 0,
                                end: 0,
                                ..Citation::from_hit(&ev.hit, 0, 0)
                            },
                        };
                        let claim_text = if text.is_empty() {
                            text::squash_whitespace(&citation.quote)
                        } else {
                            text
                        };
                        claims.push(Claim {
                            id: String::new(),
                            text: claim_text,
                            sub_query: ev.sub_query,
                            score: ev.hit.score,
                            citations: vec![citation],
                        });
                    }
                    // A reply with no quote found in its passages gives the panel nothing to
                    // check: the offline extractor's verbatim sentences stand in for it.
                    if verifiable == 0 {
                        fallback_batches += 1;
                        claims.extend(offline_extractor.extract_sync(question, plan, batch));
                        self.caller.note("the extractor's reply quoted nothing found in its passages: offline extraction was used for that batch".into());
                    }
                }
                Err(e) => {
                    fallback_batches += 1;
                    claims.extend(offline_extractor.extract_sync(question, plan, batch));
                    if fallback_batches == 1 {
                        self.caller.note(format!(
                            "extractor failed ({e}): offline extraction was used for that batch"
                        ));
                    }
                }
            }
        }
        if fallback_batches > 1 {
            self.caller.note(format!(
                "offline extraction was used for {fallback_batches} batches in all"
            ));
        }
        // Invented quotes do not take the place of real ones: the cap applies to claims whose
        // quote was found; the rest go on to be counted (and dropped) by the quote check.
        let (mut found, invented): (Vec<Claim>, Vec<Claim>) = claims
            .into_iter()
            .partition(|c| c.citations.iter().any(|x| x.end > x.start));
        found.sort_by(|a, b| b.score.total_cmp(&a.score));
        found.truncate(self.max_claims);
        found.extend(invented);
        Ok(found)
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

/// One vote per claim; a claim id can only be one the pack holds (a constrained decoder then
/// cannot name a claim that is not there).
fn votes_schema(ids: &[&str]) -> serde_json::Value {
    let n = ids.len();
    json!({"type": "object", "required": ["votes"], "properties": {"votes": {"type": "array",
        "minItems": n, "maxItems": n, "items": {"type": "object",
        "required": ["claim", "stance", "confidence", "evidence", "quote"], "properties": {
            "claim": {"type": "string", "enum": ids},
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
    pub voting: Voting,
    /// The part of a claim this reviewer tests first: reviewers of one model differ by design
    /// (an independent panel, not one answer bought several times), while the long shared
    /// prefix of their prompts stays cacheable.
    pub focus: &'static str,
}

/// What each regular reviewer tests first, in panel order.
const FOCUS: [&str; 4] = [
    "Test first the claim's numbers, values and units against the passages.",
    "Test first the claim's scope: the conditions, versions and exceptions the passages attach to it.",
    "Test first the claim's wording: its subject, its polarity (not, never, only) and anything it adds to the passage.",
    "Test first whether a passage states the claim itself, not a neighbouring fact about the same subject.",
];

/// Passages per claim in a batched prompt.
const EVIDENCE_PER_CLAIM: usize = 4;
/// Claims per batched call at most (fewer when the context window says so).
const CLAIMS_PER_CALL: usize = 12;

/// The evidence of one call: passages (each once) and, per claim, which of them bear on it.
struct Pack {
    evidence: Vec<Hit>,
    claims: Vec<(Claim, Vec<usize>)>,
}

impl Pack {
    /// Smaller packs: the claims in two halves, or one claim with the better half of its
    /// passages; `None` when one claim with one passage is all there is.
    fn halves(&self) -> Option<Vec<Pack>> {
        let items: Vec<(Claim, Vec<Hit>)> = self
            .claims
            .iter()
            .map(|(c, ids)| {
                let hits = ids.iter().filter_map(|&i| self.evidence.get(i).cloned());
                (c.clone(), hits.collect())
            })
            .collect();
        if items.len() > 1 {
            let (a, b) = items.split_at(items.len() / 2);
            let refs = |x: &[(Claim, Vec<Hit>)]| Pack::build(&x.iter().collect::<Vec<_>>());
            return Some(vec![refs(a), refs(b)]);
        }
        let (claim, hits) = items.into_iter().next()?;
        if hits.len() < 2 {
            return None;
        }
        // One claim: its first passages (the best ranked) alone; the rest is not sent.
        let keep = hits[..hits.len() / 2].to_vec();
        Some(vec![Pack::build(&[&(claim, keep)])])
    }

    fn build(items: &[&(Claim, Vec<Hit>)]) -> Pack {
        let mut evidence: Vec<Hit> = Vec::new();
        let mut claims = Vec::new();
        for (claim, hits) in items.iter().map(|x| (&x.0, &x.1)) {
            let mut ids = Vec::new();
            for h in hits {
                let key = h.passage.key();
                let at = match evidence.iter().position(|e| e.passage.key() == key) {
                    Some(i) => i,
                    None => {
                        evidence.push(h.clone());
                        evidence.len() - 1
                    }
                };
                ids.push(at);
            }
            claims.push((claim.clone(), ids));
        }
        Pack { evidence, claims }
    }
}

/// Evidence for every claim, shared by the whole panel: each regular and skeptic query
/// formulation retrieves for the claim, and the ranks are fused (reciprocal rank fusion). One
/// evidence pack for all reviewers keeps their prompts byte-identical up to their duty line, so
/// a provider's prefix cache serves four of five calls.
pub fn panel_evidence(
    question: &str,
    claims: &[Claim],
    retriever: &Retriever,
    per_claim: usize,
) -> Vec<(Claim, Vec<Hit>)> {
    claims
        .iter()
        .map(|claim| {
            (
                claim.clone(),
                crate::retrieval::fused(question, claim, retriever, per_claim),
            )
        })
        .collect()
}

impl LlmReviewer {
    pub fn new(
        caller: Arc<Caller>,
        index: usize,
        skeptic: bool,
        model: String,
        voting: Voting,
    ) -> LlmReviewer {
        let name = if skeptic {
            format!("skeptic-{}", index + 1)
        } else {
            format!("reviewer-{}", index + 1)
        };
        LlmReviewer {
            caller,
            name,
            model,
            skeptic,
            voting,
            focus: if skeptic {
                ""
            } else {
                FOCUS[index % FOCUS.len()]
            },
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
            first_pass: false,
        }
    }

    fn render(&self, pack: &Pack, purpose: &str) -> Result<super::prompts::Rendered, String> {
        let evidence: Vec<serde_json::Value> = pack
            .evidence
            .iter()
            .enumerate()
            .map(|(i, h)| json!({"id": format!("E{}", i + 1), "title": h.title, "text": super::prompts::as_data(&h.passage.text)}))
            .collect();
        let claims: Vec<serde_json::Value> = pack
            .claims
            .iter()
            .map(|(c, ids)| json!({"id": c.id, "text": c.text, "evidence": ids.iter().map(|i| format!("E{}", i + 1)).collect::<Vec<_>>()}))
            .collect();
        let mut r = self
            .caller
            .prompts()
            .get("reviewer")
            .render(&json!({"skeptic": self.skeptic, "focus": self.focus, "evidence": evidence, "claims": claims, "purpose": purpose}))
            .map_err(|e| e.to_string())?;
        if self.voting == Voting::Naive {
            // The fan-out baseline sends its data first and its rules after.
            r = super::prompts::Rendered {
                system: String::new(),
                user: format!("{}\n\n{}", r.user, r.system),
            };
        }
        Ok(r)
    }

    fn tokens(&self, pack: &Pack, purpose: &str) -> usize {
        match self.render(pack, purpose) {
            Ok(r) => {
                self.caller.estimate_tokens(&r.system)
                    + self.caller.estimate_tokens(&r.user)
                    + reply_tokens(pack.claims.len()) as usize
            }
            Err(_) => usize::MAX,
        }
    }

    /// Batched: consecutive claims while the prompt fits the window (never cut: the batch is
    /// split instead). Naive: one claim a call, with the whole run's evidence as context, as far
    /// as the window allows.
    fn packs(&self, items: &[(Claim, Vec<Hit>)], purpose: &str) -> Vec<Pack> {
        let window = self.caller.context_window(&self.model);
        let mut out = Vec::new();
        if self.voting == Voting::Naive {
            let all: Vec<Hit> = Pack::build(&items.iter().collect::<Vec<_>>()).evidence;
            for item in items {
                let mut pack = Pack::build(&[item]);
                for h in &all {
                    if pack
                        .evidence
                        .iter()
                        .any(|e| e.passage.key() == h.passage.key())
                    {
                        continue;
                    }
                    pack.evidence.push(h.clone());
                    if self.tokens(&pack, purpose) > window {
                        pack.evidence.pop();
                        break;
                    }
                }
                out.push(pack);
            }
            return out;
        }
        let mut current: Vec<&(Claim, Vec<Hit>)> = Vec::new();
        for item in items {
            current.push(item);
            let too_big = current.len() > CLAIMS_PER_CALL
                || self.tokens(&Pack::build(&current), purpose) > window;
            if too_big && current.len() > 1 {
                current.pop();
                out.push(Pack::build(&current));
                current = vec![item];
            }
        }
        if !current.is_empty() {
            out.push(Pack::build(&current));
        }
        out
    }

    /// Votes on a pack's claims. When the model says the prompt does not fit its context, the
    /// pack is split in two (a single claim keeps half its passages) and each half is sent: a
    /// request is never repeated unchanged.
    async fn review_pack(&self, pack: Pack, purpose: &str) -> Vec<Vote> {
        let mut votes = Vec::new();
        let mut queue = vec![pack];
        while let Some(pack) = queue.pop() {
            match self.try_pack(&pack, purpose).await {
                Ok(v) => votes.extend(v),
                Err(e) => {
                    match pack.halves() {
                        Some(smaller) => {
                            self.caller.note(
                            "reviewer batches were split where the model's context was exceeded"
                                .into(),
                        );
                            // Popped in claim order: the first half next.
                            queue.extend(smaller.into_iter().rev());
                        }
                        None => votes.extend(pack.claims.iter().map(|(c, _)| {
                            self.vote(c, Stance::Error, format!("vote failed: {e}"))
                        })),
                    }
                }
            }
        }
        votes
    }

    /// One request for a pack: its votes, or that the prompt does not fit the context.
    async fn try_pack(&self, pack: &Pack, purpose: &str) -> Result<Vec<Vote>, LlmError> {
        let claims: Vec<&Claim> = pack.claims.iter().map(|(c, _)| c).collect();
        let rendered = match self.render(pack, purpose) {
            Ok(r) => r,
            Err(e) => {
                return Ok(claims
                    .iter()
                    .map(|c| self.vote(c, Stance::Error, format!("prompt failed: {e}")))
                    .collect())
            }
        };
        let reply = self
            .caller
            .call_json::<VotesReply>(
                &self.name,
                &self.model,
                &rendered,
                &votes_schema(&claims.iter().map(|c| c.id.as_str()).collect::<Vec<_>>()),
                reply_tokens(claims.len()),
            )
            .await;
        let reply = match reply {
            Ok(r) => r,
            Err(e @ LlmError::ContextExceeded { .. }) => return Err(e),
            Err(e) => {
                let note = match &e {
                    LlmError::Budget(_) => format!("not reviewed: {e}"),
                    _ => format!("vote failed: {e}"),
                };
                return Ok(claims
                    .iter()
                    .map(|c| self.vote(c, Stance::Error, note.clone()))
                    .collect());
            }
        };
        let mut items = votes_by_claim(&claims, reply.votes);
        Ok(claims
            .iter()
            .zip(items.iter_mut())
            .map(|(c, item)| match item.take() {
                None => self.vote(
                    c,
                    Stance::Error,
                    "the reply had no vote for this claim".into(),
                ),
                Some(v) => self.to_vote(c, &pack.evidence, v),
            })
            .collect())
    }

    fn to_vote(&self, claim: &Claim, evidence: &[Hit], v: VoteItem) -> Vote {
        let stance = match v.stance.trim().to_lowercase().as_str() {
            "support" | "supports" | "supported" => Stance::Support,
            "refute" | "refutes" | "refuted" | "contradict" | "contradicts" => Stance::Refute,
            "abstain" | "insufficient" | "unsure" => Stance::Abstain,
            other => return self.vote(claim, Stance::Error, format!("unknown stance {other:?}")),
        };
        let mut vote = self.vote(claim, stance, String::new());
        vote.confidence = confidence(&v.confidence);
        if stance == Stance::Abstain {
            vote.note = "no decisive evidence".into();
            return vote;
        }
        // Support or refutation must point at a quote that really is in the evidence it names.
        let hit = v
            .evidence
            .trim()
            .trim_start_matches(['E', 'e'])
            .parse::<usize>()
            .ok()
            .and_then(|n| n.checked_sub(1))
            .and_then(|n| evidence.get(n));
        let found = hit.and_then(|h| {
            find_quote(&h.passage.text, &v.quote).map(|(s, e)| Citation::from_hit(h, s, e))
        });
        match found {
            Some(cite) => {
                let origin: Vec<&str> = claim.citations.iter().map(|c| c.doc_id.as_str()).collect();
                vote.corroborating = !origin.contains(&cite.doc_id.as_str());
                vote.note = if stance == Stance::Support {
                    "the evidence states the claim".into()
                } else {
                    "the evidence contradicts the claim".into()
                };
                vote.evidence = Some(cite);
            }
            None => {
                vote.stance = Stance::Abstain;
                vote.confidence = 0.0;
                vote.note = format!(
                    "the reviewer's {} quote is not in the evidence it named, so the vote counts as an abstention",
                    if stance == Stance::Support { "supporting" } else { "refuting" }
                );
            }
        }
        vote
    }
}

/// The reply's votes laid against the claims, one each. A vote naming a claim of the pack goes
/// to it; a vote naming none, or a claim already voted on (small models copy the prompt's
/// example id), is taken as the vote for the claim at its position, since the prompt asks for
/// the claims in order. A claim left with no vote stays `None`.
fn votes_by_claim(claims: &[&Claim], votes: Vec<VoteItem>) -> Vec<Option<VoteItem>> {
    let mut out: Vec<Option<VoteItem>> = claims.iter().map(|_| None).collect();
    let mut unplaced = Vec::new();
    for (i, v) in votes.into_iter().enumerate() {
        match claims.iter().position(|c| c.id == v.claim.trim()) {
            Some(at) if out[at].is_none() => out[at] = Some(v),
            _ => unplaced.push((i, v)),
        }
    }
    for (i, v) in unplaced {
        if let Some(slot @ None) = out.get_mut(i) {
            *slot = Some(v);
        }
    }
    out
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

    async fn review(&self, task: &ReviewTask) -> Vec<Vote> {
        let claims = &task.claims;
        self.caller.learn_context(&self.model).await;
        // One evidence pack for the whole panel, retrieved once.
        let gathered = task
            .shared_evidence(|purpose, claims, retriever| {
                // The purpose as a whole (an angle's words too) steers what is retrieved.
                panel_evidence(&purpose.describe(), claims, retriever, EVIDENCE_PER_CLAIM)
            })
            .await;
        let Some(items) = gathered else {
            return claims
                .iter()
                .map(|c| self.vote(c, Stance::Error, "evidence retrieval crashed".into()))
                .collect();
        };
        let purpose = task.purpose.describe();
        let mut votes: BTreeMap<String, Vote> = BTreeMap::new();
        for pack in self.packs(&items, &purpose) {
            for v in self.review_pack(pack, &purpose).await {
                votes.insert(v.claim_id.clone(), v);
            }
        }
        claims
            .iter()
            .map(|c| {
                votes
                    .remove(&c.id)
                    .unwrap_or_else(|| self.vote(c, Stance::Error, "not reviewed".into()))
            })
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

#[derive(Deserialize)]
struct AnswerReply {
    parts: Vec<AnswerReplyPart>,
}

#[derive(Deserialize)]
struct AnswerReplyPart {
    #[serde(default)]
    part: String,
    #[serde(default)]
    sentences: Vec<WriterSentence>,
}

fn answer_schema() -> serde_json::Value {
    json!({"type": "object", "required": ["parts"], "properties": {"parts": {"type": "array",
        "items": {"type": "object", "required": ["part", "sentences"], "properties": {
            "part": {"type": "string", "maxLength": 300}, "sentences": {"type": "array", "items": {
                "type": "object", "required": ["text", "claims"], "properties": {
                    "text": {"type": "string", "maxLength": 600},
                    "claims": {"type": "array", "items": {"type": "string", "maxLength": 12}}}}}}}}}})
}

/// Claims offered to the answer's writer per part of the question: enough to choose from, few
/// enough that the call stays small however many claims the run kept.
const ANSWER_CANDIDATES: usize = 6;

/// A written sentence as the report may print it: only the ids of claims it may cite, and only
/// if it is grounded in them; `None` when it must be deleted.
fn grounded_sentence(s: WriterSentence, by_id: &HashMap<&str, &Claim>) -> Option<Sentence> {
    let ids: Vec<String> = s
        .claims
        .iter()
        .map(|c| c.trim().to_string())
        .filter(|c| by_id.contains_key(c.as_str()))
        .collect();
    let cited: Vec<&Claim> = ids
        .iter()
        .filter_map(|id| by_id.get(id.as_str()).copied())
        .collect();
    let text = text::squash_whitespace(&s.text);
    sentence_is_grounded(&text, &cited).then_some(Sentence {
        text,
        claim_ids: ids,
    })
}

/// Whether a written sentence may stand: it cites at least one known claim and states no number
/// its cited claims do not contain.
pub fn sentence_is_grounded(sentence: &str, cited: &[&Claim]) -> bool {
    if cited.is_empty() || sentence.trim().is_empty() {
        return false;
    }
    let allowed: Vec<f64> = cited
        .iter()
        .flat_map(|c| text::numbers(&c.text))
        .map(|n| n.value)
        .collect();
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
    async fn write(
        &self,
        question: &str,
        plan: &Plan,
        kept: &[Reviewed],
    ) -> Result<Vec<Section>, RoleError> {
        let fallback = offline::OfflineWriter::default()
            .write(question, plan, kept)
            .await?;
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
        let reply = match self
            .caller
            .call_json::<WriterReply>("writer", &self.model, &rendered, &writer_schema(), 2000)
            .await
        {
            Ok(r) => r,
            Err(e) => {
                self.caller.note(format!(
                    "writer failed ({e}): findings are listed as the claims' own sentences"
                ));
                return Ok(fallback);
            }
        };
        let by_id: HashMap<&str, &Claim> = kept
            .iter()
            .map(|r| (r.claim.id.as_str(), &r.claim))
            .collect();
        let mut dropped = 0;
        let mut out = Vec::new();
        for (i, ws) in reply.sections.into_iter().enumerate() {
            let Some(base) = fallback
                .iter()
                .find(|s| s.heading == ws.heading.trim())
                .or_else(|| fallback.get(i))
            else {
                continue;
            };
            let mut sentences = Vec::new();
            for s in ws.sentences {
                match grounded_sentence(s, &by_id) {
                    Some(s) => sentences.push(s),
                    None => dropped += 1,
                }
            }
            if !sentences.is_empty() {
                out.push(Section {
                    sub_query: base.sub_query,
                    heading: base.heading.clone(),
                    sentences,
                });
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

    /// Prose for each part of the question from the claims that answer it. A sentence that
    /// cites no kept claim, or states a number its claims do not hold, is not printed; a part
    /// left with no sentence is answered by its claims' own words, and the key facts are the
    /// extractive ones the prose did not already cite.
    async fn answer(&self, question: &str, kept: &[Reviewed]) -> Result<Answer, RoleError> {
        let base = offline::compose_answer(question, kept);
        let candidates = offline::answer_candidates(question, kept, ANSWER_CANDIDATES);
        if candidates.iter().all(|(_, claims)| claims.is_empty()) {
            return Ok(base);
        }
        let parts: Vec<serde_json::Value> = candidates
            .iter()
            .map(|(part, claims)| {
                let claims: Vec<serde_json::Value> = claims
                    .iter()
                    .map(|r| json!({"id": r.claim.id, "text": r.claim.text}))
                    .collect();
                json!({"part": part, "claims": claims})
            })
            .collect();
        let rendered = self
            .caller
            .prompts()
            .get("answer")
            .render(&json!({"question": question, "parts": parts}))
            .map_err(|e| RoleError::Permanent(e.to_string()))?;
        let reply = match self
            .caller
            .call_json::<AnswerReply>("writer", &self.model, &rendered, &answer_schema(), 1500)
            .await
        {
            Ok(r) => r,
            Err(e) => {
                self.caller.note(format!(
                    "the answer's writer failed ({e}): the answer is in the claims' own words"
                ));
                return Ok(base);
            }
        };
        let by_id: HashMap<&str, &Claim> = kept
            .iter()
            .map(|r| (r.claim.id.as_str(), &r.claim))
            .collect();
        let mut written: Vec<Option<Vec<Sentence>>> = vec![None; base.parts.len()];
        let mut dropped = 0;
        for (i, wp) in reply.parts.into_iter().enumerate() {
            // By the part's words; a model that rephrased the part is taken in order.
            let Some(at) = base
                .parts
                .iter()
                .position(|p| p.part == wp.part.trim())
                .or((i < base.parts.len()).then_some(i))
            else {
                continue;
            };
            let mut sentences = Vec::new();
            for s in wp.sentences {
                match grounded_sentence(s, &by_id) {
                    Some(s) => sentences.push(s),
                    None => dropped += 1,
                }
            }
            if !sentences.is_empty() && written[at].is_none() {
                written[at] = Some(sentences);
            }
        }
        if dropped > 0 {
            self.caller.note(format!("{dropped} sentences of the written answer were deleted: they cited no kept claim or stated a number their claims do not contain"));
        }
        let mut out = Answer::default();
        for (part, prose) in base.parts.into_iter().zip(written) {
            out.parts.push(AnswerPart {
                sentences: prose.unwrap_or(part.sentences),
                part: part.part,
            });
        }
        let cited: Vec<&String> = out
            .parts
            .iter()
            .flat_map(|p| p.sentences.iter().flat_map(|s| &s.claim_ids))
            .collect();
        out.key_facts = base
            .key_facts
            .into_iter()
            .filter(|f| !f.claim_ids.iter().any(|id| cited.contains(&id)))
            .collect();
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
        let c = Claim {
            id: "c1".into(),
            text: "random_page_cost defaults to 4.0.".into(),
            sub_query: 0,
            score: 1.0,
            citations: vec![],
        };
        assert!(sentence_is_grounded(
            "The planner assumes 4.0 for random pages.",
            &[&c]
        ));
        assert!(!sentence_is_grounded(
            "The planner assumes 2.0 for random pages.",
            &[&c]
        ));
        assert!(!sentence_is_grounded("Random pages cost more.", &[]));
    }

    #[test]
    fn a_vote_under_a_copied_or_repeated_claim_id_goes_to_the_claim_at_its_place() {
        let claim = |id: &str| Claim {
            id: id.into(),
            text: format!("claim {id}"),
            sub_query: 0,
            score: 1.0,
            citations: vec![],
        };
        let (c3, c4, c5) = (claim("c3"), claim("c4"), claim("c5"));
        let vote = |id: &str, stance: &str| VoteItem {
            claim: id.into(),
            stance: stance.into(),
            confidence: json!(0.5),
            evidence: String::new(),
            quote: String::new(),
        };
        // The model copied the example's "c1", then named c5 twice.
        let placed = votes_by_claim(
            &[&c3, &c4, &c5],
            vec![
                vote("c1", "support"),
                vote("c5", "refute"),
                vote("c5", "abstain"),
            ],
        );
        let stances: Vec<Option<&str>> = placed
            .iter()
            .map(|v| v.as_ref().map(|v| v.stance.as_str()))
            .collect();
        // c5 keeps the vote that named it; the others fill their own places in order.
        assert_eq!(stances, [Some("support"), None, Some("refute")]);
        // A reply with fewer votes than claims leaves the rest unvoted, never guessed.
        let short = votes_by_claim(&[&c3, &c4], vec![vote("c4", "support")]);
        assert!(short[0].is_none() && short[1].is_some());
    }
}
