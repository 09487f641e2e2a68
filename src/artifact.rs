//! The typed artifacts that flow between pipeline stages:
//! question -> [`Plan`] -> [`Document`]/[`Passage`] -> [`Evidence`] -> [`Claim`] -> [`Vote`] ->
//! [`Verdict`] -> [`Report`]. Every artifact is serde-serializable so a stage can be tested alone,
//! journaled, resumed and replayed.

use serde::{Deserialize, Serialize};

/// One source document as stored in the index. `text` is the exact text that passage spans and
/// citation spans index into; `hash` is the blake3 of that text.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Document {
    /// Stable identity: the canonical path (or URL) of the source.
    pub id: String,
    /// Where a reader finds it: a file path or a URL.
    pub location: String,
    /// Canonical root of the corpus the document came from (used to scope retrieval).
    pub corpus: String,
    pub title: String,
    pub format: Format,
    /// blake3 hex of `text`.
    pub hash: String,
    /// blake3 hex of the raw bytes read, so an unchanged file is recognised before extraction.
    pub raw_hash: String,
    pub text: String,
    pub passages: Vec<Passage>,
    /// When a web page was fetched (RFC 3339); None for local files.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub fetched: Option<String>,
    /// The file's metadata when it was read (None for what is not a file on disk).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub file: Option<FileMeta>,
}

/// What a warm run compares to decide that a file is unchanged without reading it, as git's
/// index does: an edit that keeps all three is caught only by re-hashing (`--rehash`).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
pub struct FileMeta {
    pub size: u64,
    /// Modification time in nanoseconds since the Unix epoch.
    pub mtime_ns: i64,
    /// 0 where the platform has no inode numbers.
    pub inode: u64,
}

impl FileMeta {
    pub fn of(m: &std::fs::Metadata) -> FileMeta {
        let mtime_ns = m.modified().ok().map_or(0, nanos);
        #[cfg(unix)]
        let inode = std::os::unix::fs::MetadataExt::ino(m);
        #[cfg(not(unix))]
        let inode = 0;
        FileMeta {
            size: m.len(),
            mtime_ns,
            inode,
        }
    }

    /// The clock, on the scale of `mtime_ns`.
    pub fn now_ns() -> i64 {
        nanos(std::time::SystemTime::now())
    }
}

fn nanos(t: std::time::SystemTime) -> i64 {
    match t.duration_since(std::time::UNIX_EPOCH) {
        Ok(d) => i64::try_from(d.as_nanos()).unwrap_or(i64::MAX),
        Err(e) => i64::try_from(e.duration().as_nanos()).map_or(i64::MIN, |n| -n),
    }
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum Format {
    Html,
    Markdown,
    Text,
    /// Text extracted from a PDF; passages carry page numbers.
    Pdf,
}

/// A paragraph-sized span of a document's text.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Passage {
    pub doc_id: String,
    /// Position of the passage within its document (0-based).
    pub ordinal: u32,
    /// Headings enclosing the passage, outermost first.
    pub heading_path: Vec<String>,
    /// Byte offsets into `Document::text`; `text == document.text[start..end]`.
    pub start: usize,
    pub end: usize,
    pub text: String,
    /// Page number (from 1) for paginated sources such as PDFs.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub page: Option<u32>,
}

impl Passage {
    pub fn key(&self) -> String {
        format!("{}#{}", self.doc_id, self.ordinal)
    }

    /// Whether the cited span lies within this passage.
    pub fn holds(&self, c: &Citation) -> bool {
        c.doc_id == self.doc_id && self.start <= c.start && c.end <= self.start + self.text.len()
    }
}

/// A passage as retrieved from the index, with the document facts a citation needs.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Hit {
    pub passage: Passage,
    pub location: String,
    pub title: String,
    pub doc_hash: String,
    pub score: f32,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub fetched: Option<String>,
}

/// Sub-queries a plan has at least (a planner proposing fewer is asked again or filled in).
pub const MIN_SUB_QUERIES: usize = 3;
/// Sub-queries a plan has at most.
pub const MAX_SUB_QUERIES: usize = 8;

/// The research plan: sub-queries ("angles") that gathering agents pursue.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Plan {
    pub question: String,
    pub sub_queries: Vec<SubQuery>,
    /// What the question is about ("WAL", "SQLite", "mode"): the words a claim must hold, by
    /// their weight in the searched corpora, to be a finding (see `relevance`). Empty: any
    /// kept claim is.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub subject: Vec<String>,
}

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct SubQuery {
    pub id: usize,
    pub angle: Angle,
    /// A human-readable heading for the report.
    pub label: String,
    /// The retrieval query text.
    pub query: String,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum Angle {
    /// The question as asked.
    Question,
    /// One part of a question that asks several things.
    Part,
    Definition,
    Mechanism,
    Limits,
    Numbers,
    /// A later round's search: what an earlier round left unanswered, disputed or one hop away.
    #[serde(rename = "follow-up")]
    FollowUp,
}

/// Passages gathered for one sub-query by one source agent.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Evidence {
    pub sub_query: usize,
    pub hit: Hit,
    /// Other sub-queries whose searches found the same passage (it is gathered once, for the
    /// search that ranked it highest).
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub also: Vec<usize>,
}

impl Evidence {
    pub fn new(sub_query: usize, hit: Hit) -> Evidence {
        Evidence {
            sub_query,
            hit,
            also: Vec::new(),
        }
    }

    /// Whether this sub-query's search found the passage.
    pub fn found_by(&self, sub_query: usize) -> bool {
        self.sub_query == sub_query || self.also.contains(&sub_query)
    }
}

/// A verbatim quote pinned to its source: `quote == document.text[start..end]` and the document's
/// text hashes to `doc_hash`. Checked before any report is written.
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
pub struct Citation {
    pub doc_id: String,
    pub location: String,
    pub title: String,
    pub doc_hash: String,
    pub start: usize,
    pub end: usize,
    pub quote: String,
    /// Heading path of the passage the quote sits in.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub heading_path: Vec<String>,
    /// The passage (its ordinal in the document) the quote sits in.
    #[serde(default)]
    pub passage: u32,
    /// Page number for paginated sources such as PDFs.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub page: Option<u32>,
    /// Fetch time for web sources (RFC 3339).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub fetched: Option<String>,
    /// The lead-in of the list the quote is an item of ("But there are also disadvantages:"):
    /// what the item is, which its own words may not say.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub lead_in: Option<String>,
}

impl Citation {
    /// The citation of `hit.passage.text[start..end]` (offsets relative to the passage).
    pub fn from_hit(hit: &Hit, start: usize, end: usize) -> Citation {
        Citation {
            doc_id: hit.passage.doc_id.clone(),
            location: hit.location.clone(),
            title: hit.title.clone(),
            doc_hash: hit.doc_hash.clone(),
            start: hit.passage.start + start,
            end: hit.passage.start + end,
            quote: hit.passage.text[start..end].to_string(),
            heading_path: hit.passage.heading_path.clone(),
            passage: hit.passage.ordinal,
            page: hit.passage.page,
            fetched: hit.fetched.clone(),
            lead_in: None,
        }
    }
}

/// A candidate statement drawn from the gathered passages.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Claim {
    pub id: String,
    /// The statement, whitespace-normalised.
    pub text: String,
    /// The sub-query whose evidence produced it.
    pub sub_query: usize,
    /// Relevance to the question (higher is better).
    pub score: f32,
    /// Every source that states it; the first is its origin.
    pub citations: Vec<Citation>,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum Stance {
    Support,
    Refute,
    Abstain,
    /// The reviewer failed (timeout, rate limit, unparseable output): the vote is unverified,
    /// never a refutation.
    Error,
}

/// One reviewer's judgement of one claim.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Vote {
    pub claim_id: String,
    pub reviewer: String,
    pub skeptic: bool,
    pub stance: Stance,
    /// 0.0..=1.0
    pub confidence: f32,
    /// The passage the reviewer relied on, when it found one.
    pub evidence: Option<Citation>,
    /// Whether the evidence comes from a document other than the claim's origin.
    pub corroborating: bool,
    /// A short reason (what matched, what conflicted, or what failed).
    pub note: String,
    /// Cast by the local verifier's first pass, which settled the claim before any model
    /// reviewer was asked (`--first-pass`).
    #[serde(default, skip_serializing_if = "std::ops::Not::not")]
    pub first_pass: bool,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum Status {
    /// Supported by a quorum: reported as a finding.
    Kept,
    /// Evidence on both sides: shown with both sides.
    Disputed,
    /// Weak support or refuted: listed in the appendix with the reason.
    Dropped,
    /// Too many votes failed to decide: never counted as refuted.
    Unverified,
}

impl Status {
    pub fn word(self) -> &'static str {
        match self {
            Status::Kept => "kept",
            Status::Disputed => "disputed",
            Status::Dropped => "dropped",
            Status::Unverified => "unverified",
        }
    }
}

/// The panel's decision on one claim.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Verdict {
    pub claim_id: String,
    pub status: Status,
    pub support: usize,
    pub refute: usize,
    pub abstain: usize,
    pub errors: usize,
    /// Distinct documents whose passages supported the claim.
    pub supporting_docs: usize,
    pub reason: String,
}

/// What a verdict says of its claim when a claim is checked rather than researched (`verify`,
/// `check-plan`, `eval`): one rule, which each command words its own way.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Judgement {
    /// Kept: a quorum found it stated.
    Supported,
    /// Evidence on both sides.
    Disputed,
    /// Dropped with refutations and no support.
    Refuted,
    /// Nothing decisive, or too many votes failed: never a refutation.
    Insufficient,
}

impl Judgement {
    /// The word `research verify` and `research eval` print.
    pub fn label(self) -> &'static str {
        match self {
            Judgement::Supported => "supported",
            Judgement::Disputed => "disputed",
            Judgement::Refuted => "refuted",
            Judgement::Insufficient => "insufficient",
        }
    }
}

impl Verdict {
    pub fn judgement(&self) -> Judgement {
        match self.status {
            Status::Kept => Judgement::Supported,
            Status::Disputed => Judgement::Disputed,
            Status::Dropped if self.refute > 0 && self.support == 0 => Judgement::Refuted,
            Status::Dropped | Status::Unverified => Judgement::Insufficient,
        }
    }
}

/// A claim with its votes and verdict.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Reviewed {
    pub claim: Claim,
    pub votes: Vec<Vote>,
    pub verdict: Verdict,
}

/// One sentence of the written report and the claims it rests on.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Sentence {
    pub text: String,
    pub claim_ids: Vec<String>,
}

/// The report's opening: the question answered part by part from the kept claims, then the
/// key facts. Every sentence rests on kept claims and carries their citations.
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
pub struct Answer {
    pub parts: Vec<AnswerPart>,
    /// Numbers, defaults, versions and limits among the kept claims not already in a part.
    #[serde(default)]
    pub key_facts: Vec<Sentence>,
}

/// One part of the question and what the sources say to it.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct AnswerPart {
    /// The part as the question puts it (the whole question when it asks one thing).
    pub part: String,
    /// Empty when no kept claim answers it: the report says so plainly.
    pub sentences: Vec<Sentence>,
}

/// A section of findings for one angle of the plan.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Section {
    pub sub_query: usize,
    pub heading: String,
    pub sentences: Vec<Sentence>,
}

/// A source that could not be used: where, the kind of failure (a stable slug such as
/// `unsupported-type` or `timeout` that reports count and group by), and the reason as a reader
/// sees it.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(from = "SkippedWire")]
pub struct Skipped {
    pub location: String,
    pub kind: String,
    pub reason: String,
}

impl Skipped {
    pub fn new(location: impl Into<String>, kind: &str, reason: impl Into<String>) -> Skipped {
        Skipped {
            location: location.into(),
            kind: kind.to_string(),
            reason: reason.into(),
        }
    }
}

/// A [`Skipped`] as stored; journals written before the kind was recorded carry it as the
/// reason's `kind: ` prefix, when they carry it at all.
#[derive(Deserialize)]
struct SkippedWire {
    location: String,
    #[serde(default)]
    kind: Option<String>,
    reason: String,
}

impl Skipped {
    /// A skip recorded before its kind was: the kind is the reason's `kind: ` prefix, if any.
    pub fn from_reason(location: impl Into<String>, reason: String) -> Skipped {
        let kind = match reason.split_once(": ") {
            Some((k, _))
                if !k.is_empty()
                    && k.len() <= 24
                    && k.chars().all(|c| c.is_ascii_lowercase() || c == '-') =>
            {
                k.to_string()
            }
            _ => "other".to_string(),
        };
        Skipped::new(location, &kind, reason)
    }
}

impl From<SkippedWire> for Skipped {
    fn from(w: SkippedWire) -> Skipped {
        match w.kind {
            Some(kind) => Skipped::new(w.location, &kind, w.reason),
            None => Skipped::from_reason(w.location, w.reason),
        }
    }
}

/// Counters a reader needs to judge the run.
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
pub struct RunStats {
    pub documents: usize,
    pub documents_indexed: usize,
    pub documents_unchanged: usize,
    pub passages_gathered: usize,
    pub claims_considered: usize,
    /// Claims whose quote was not found at its span in the stored source: never cited.
    pub quotes_failed: usize,
    pub kept: usize,
    pub disputed: usize,
    pub dropped: usize,
    pub unverified: usize,
    pub elapsed_ms: u64,
    /// No corpus was named: the sample corpus compiled into the binary was searched.
    #[serde(default, skip_serializing_if = "std::ops::Not::not")]
    pub sample_corpus: bool,
}

/// What a model-backed run spent, from the token ledger.
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
pub struct Spend {
    pub calls: u64,
    pub failed_calls: u64,
    pub input_uncached: u64,
    pub cache_read: u64,
    pub cache_write: u64,
    pub output: u64,
    pub cost_usd: f64,
    pub budget_tokens: Option<u64>,
    pub budget_usd: Option<f64>,
    /// The wall-time limit on model calls, in seconds.
    #[serde(default)]
    pub budget_seconds: Option<u64>,
    /// The budget stopped dispatching: what was left is unverified.
    pub exhausted: bool,
    /// Calls whose token counts are estimated (the provider reported none, or implausible ones).
    #[serde(default)]
    pub estimated_calls: u64,
    /// One entry per call (role, model, tokens, latency, cost).
    #[serde(default)]
    pub entries: Vec<serde_json::Value>,
}

/// What a run is expected to cost, printed before anything is dispatched.
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
pub struct Estimate {
    pub calls: u64,
    pub input_tokens: u64,
    pub output_tokens: u64,
    pub cost_usd: f64,
}

/// Everything a report file is made from.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Report {
    pub title: String,
    pub question: String,
    pub engine: String,
    pub created: String,
    pub plan: Plan,
    /// The direct answer, first thing a reader sees.
    #[serde(default)]
    pub answer: Answer,
    pub sections: Vec<Section>,
    pub reviewed: Vec<Reviewed>,
    pub policy: crate::policy::Policy,
    pub skipped: Vec<Skipped>,
    pub stats: RunStats,
    /// What the engine had to say about its own run (fallbacks, deleted sentences...).
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub notes: Vec<String>,
    /// Token and money spend of a model-backed run.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub spend: Option<Spend>,
    /// role -> blake3 of the prompt template used.
    #[serde(default, skip_serializing_if = "std::collections::BTreeMap::is_empty")]
    pub prompts: std::collections::BTreeMap<String, String>,
    /// The rounds after the first: what each searched, why, and what it found.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub trail: Vec<Round>,
    /// Ids of kept claims on another subject than the question's (see `relevance`): listed
    /// apart, not as findings.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub aside: Vec<String>,
}

/// Why a later round searches something.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum Lead {
    /// A part of the question with no kept claim yet.
    Gap,
    /// A name or term a kept claim introduced, searched with what the question still asks.
    Bridge,
    /// A claim the panel split on: evidence that settles it.
    Dispute,
}

impl Lead {
    pub fn word(self) -> &'static str {
        match self {
            Lead::Gap => "gap",
            Lead::Bridge => "bridge",
            Lead::Dispute => "dispute",
        }
    }
}

/// One search a later round runs.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct FollowUp {
    pub lead: Lead,
    /// The retrieval query.
    pub query: String,
    /// What prompted it, for the research trail ("no kept claim answers: ...").
    pub reason: String,
    /// The disputed claim it tries to settle, or the kept claim a bridge came from.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub claim_id: Option<String>,
}

/// One round after the first, as the research trail shows it.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Round {
    /// 2 for the first follow-up round.
    pub number: usize,
    pub searches: Vec<RoundSearch>,
    /// Disputed claims voted on again, and how each came out.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub revoted: Vec<Revote>,
}

/// One follow-up search and what it added.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct RoundSearch {
    pub follow_up: FollowUp,
    /// Passages not seen in an earlier round.
    pub new_passages: usize,
    /// New claims extracted from them, and how many of those were kept.
    pub new_claims: usize,
    pub kept: usize,
}

/// A disputed claim voted on again with a round's new evidence.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Revote {
    pub claim_id: String,
    pub before: Status,
    pub after: Status,
    /// Voted on again with what a web search found, after stored evidence left it split.
    #[serde(default)]
    pub web: bool,
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_skip_keeps_its_kind_and_older_journals_still_read() {
        let s = Skipped::new(
            "/d/a.png",
            "unsupported-type",
            "unsupported file type: .png",
        );
        let back: Skipped = serde_json::from_str(&serde_json::to_string(&s).unwrap()).unwrap();
        assert_eq!(back, s);
        // Written before the kind was a field: it was the reason's prefix, or absent.
        let old: Skipped =
            serde_json::from_str(r#"{"location":"http://x.test/","reason":"timeout: no answer"}"#)
                .unwrap();
        assert_eq!(old.kind, "timeout");
        let old: Skipped =
            serde_json::from_str(r#"{"location":"/d/a","reason":"not a regular file"}"#).unwrap();
        assert_eq!(old.kind, "other");
    }
}
