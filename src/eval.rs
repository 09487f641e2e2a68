//! `research eval`: our own quality figures on labelled sets (formats in the shared eval README).
//! Question sets score reports (nugget recall, questions with every nugget, forbidden hits,
//! citation precision); verdict sets score the panel (confusion matrix, macro-F1, balanced
//! accuracy, precision of what it keeps).

use crate::artifact::{Citation, Report, Stance, Status};
use crate::engine::Engine;
use crate::index::SearchBackend;
use crate::ingest::{self, format_for_path};
use crate::pipeline::{self, Corpora, RunConfig};
use crate::progress::Progress;
use crate::verify::{self, ClaimInput};
use serde::{Deserialize, Serialize};
use std::collections::{BTreeMap, HashMap};
use std::fmt::Write;
use std::path::{Path, PathBuf};
use std::sync::Arc;
use std::time::Instant;

#[derive(Debug, thiserror::Error)]
pub enum EvalError {
    #[error("cannot read {path}: {detail}")]
    Read { path: PathBuf, detail: String },
    #[error("{path} is not a question set: {detail}")]
    BadQuestions { path: PathBuf, detail: String },
    #[error("question {id}: bad regex {pattern:?}: {detail}")]
    BadRegex {
        id: String,
        pattern: String,
        detail: String,
    },
    #[error("question {id} names corpus {key:?}, which the set's \"corpus\" map lacks")]
    UnknownCorpus { id: String, key: String },
    #[error("{path}:{line}: bad labelled claim: {detail}")]
    BadClaim {
        path: PathBuf,
        line: usize,
        detail: String,
    },
    #[error("{path} is not a claims file: {detail}")]
    BadClaimFile { path: PathBuf, detail: String },
    #[error(transparent)]
    Run(#[from] pipeline::RunError),
}

#[derive(Debug, Deserialize)]
struct QuestionSet {
    corpus: HashMap<String, String>,
    questions: Vec<Question>,
}

#[derive(Debug, Deserialize)]
struct Question {
    id: String,
    corpus: String,
    #[serde(default, rename = "type")]
    kind: String,
    question: String,
    nuggets: Vec<Nugget>,
    #[serde(default)]
    forbidden: Vec<String>,
}

#[derive(Debug, Deserialize)]
struct Nugget {
    #[serde(default)]
    fact: String,
    any: Vec<String>,
}

/// Figures for one question.
#[derive(Debug, Clone, Serialize)]
pub struct QuestionScore {
    pub id: String,
    pub kind: String,
    pub nuggets: usize,
    pub found: usize,
    pub missed: Vec<String>,
    pub forbidden_hits: usize,
    pub citations: usize,
    pub citations_verified: usize,
    pub kept: usize,
    /// Disputed claims a later round voted on again and settled (kept or dropped).
    pub settled: usize,
    pub seconds: f64,
}

#[derive(Debug, Clone, Serialize)]
pub struct QuestionSetScore {
    pub questions: Vec<QuestionScore>,
    pub nugget_recall: f64,
    pub all_nuggets: usize,
    pub forbidden_hits: usize,
    pub citation_precision: f64,
    pub mean_seconds: f64,
}

fn read(path: &Path) -> Result<String, EvalError> {
    std::fs::read_to_string(path).map_err(|e| EvalError::Read {
        path: path.to_path_buf(),
        detail: e.to_string(),
    })
}

fn regex(id: &str, pattern: &str) -> Result<regex::Regex, EvalError> {
    regex::RegexBuilder::new(pattern)
        .case_insensitive(true)
        .build()
        .map_err(|e| EvalError::BadRegex {
            id: id.into(),
            pattern: pattern.into(),
            detail: e.to_string(),
        })
}

/// The part of a report that states things: findings, disputes and the quoted sources. The
/// title, the question and the plan repeat the question's own words, and the appendix lists
/// what was rejected, so none of them may earn a nugget.
pub fn scored_text(markdown: &str) -> String {
    let mut out = String::new();
    let mut keep = false;
    for line in markdown.lines() {
        if let Some(h) = line.strip_prefix("## ") {
            keep = matches!(h.trim(), "Findings" | "Disputed" | "Sources");
            continue;
        }
        if keep {
            out.push_str(line);
            out.push('\n');
        }
    }
    // Undo Markdown escapes so regexes see the plain words.
    out.replace('\\', "")
}

/// Every citation the report shows.
fn shown_citations(report: &Report) -> Vec<&Citation> {
    let mut out = Vec::new();
    for r in &report.reviewed {
        match r.verdict.status {
            Status::Kept | Status::Disputed => out.extend(r.claim.citations.iter()),
            _ => {}
        }
        if r.verdict.status == Status::Disputed {
            out.extend(
                r.votes
                    .iter()
                    .filter(|v| v.stance == Stance::Refute)
                    .filter_map(|v| v.evidence.as_ref()),
            );
        }
    }
    out
}

/// Check a cited quote against the source file itself, read and extracted afresh (not the
/// index's copy), so the figure measures what a reader of the file would find.
fn verified_in_source(c: &Citation, cache: &mut HashMap<String, Option<String>>) -> bool {
    let text = cache.entry(c.doc_id.clone()).or_insert_with(|| {
        let path = Path::new(&c.doc_id);
        let bytes = std::fs::read(path).ok()?;
        let format = format_for_path(path)?;
        ingest::document_from_bytes(&c.doc_id, &c.location, "", format, &bytes, None)
            .ok()
            .map(|d| d.text)
    });
    text.as_deref()
        .is_some_and(|t| t.get(c.start..c.end) == Some(c.quote.as_str()))
}

pub async fn eval_questions(
    set_path: &Path,
    docs_root: &Path,
    base: &RunConfig,
    engine: &Engine,
    store: Arc<dyn SearchBackend>,
    limit: Option<usize>,
    progress: &Progress,
) -> Result<QuestionSetScore, EvalError> {
    let set: QuestionSet =
        serde_json::from_str(&read(set_path)?).map_err(|e| EvalError::BadQuestions {
            path: set_path.to_path_buf(),
            detail: e.to_string(),
        })?;
    let mut scores = Vec::new();
    let mut file_cache = HashMap::new();
    for q in set.questions.iter().take(limit.unwrap_or(usize::MAX)) {
        let rel = set
            .corpus
            .get(&q.corpus)
            .ok_or_else(|| EvalError::UnknownCorpus {
                id: q.id.clone(),
                key: q.corpus.clone(),
            })?;
        let nuggets: Vec<Vec<regex::Regex>> = q
            .nuggets
            .iter()
            .map(|n| n.any.iter().map(|p| regex(&q.id, p)).collect())
            .collect::<Result<_, _>>()?;
        let forbidden: Vec<regex::Regex> = q
            .forbidden
            .iter()
            .map(|p| regex(&q.id, p))
            .collect::<Result<_, _>>()?;
        let cfg = RunConfig {
            question: q.question.clone(),
            corpora: Corpora::Paths(vec![docs_root.join(rel)]),
            ..base.clone()
        };
        let started = Instant::now();
        let report = pipeline::research(&cfg, engine, Arc::clone(&store), progress).await?;
        let seconds = started.elapsed().as_secs_f64();
        let (md, _) = crate::report::render_markdown(&report);
        let text = scored_text(&md);
        let mut missed = Vec::new();
        let mut found = 0;
        for (n, res) in q.nuggets.iter().zip(&nuggets) {
            if res.iter().any(|r| r.is_match(&text)) {
                found += 1;
            } else {
                missed.push(if n.fact.is_empty() {
                    n.any.join(" | ")
                } else {
                    n.fact.clone()
                });
            }
        }
        let cites = shown_citations(&report);
        let verified = cites
            .iter()
            .filter(|c| verified_in_source(c, &mut file_cache))
            .count();
        let score = QuestionScore {
            id: q.id.clone(),
            kind: q.kind.clone(),
            nuggets: q.nuggets.len(),
            found,
            missed,
            forbidden_hits: forbidden.iter().filter(|r| r.is_match(&text)).count(),
            citations: cites.len(),
            citations_verified: verified,
            kept: report.stats.kept,
            settled: report
                .trail
                .iter()
                .flat_map(|r| &r.revoted)
                .filter(|r| r.before != r.after)
                .count(),
            seconds,
        };
        progress.note(&format!(
            "{}: {}/{} nuggets, {} forbidden, {}/{} citations verified, {:.2}s",
            score.id,
            score.found,
            score.nuggets,
            score.forbidden_hits,
            verified,
            cites.len(),
            seconds
        ));
        scores.push(score);
    }
    let total_nuggets: usize = scores.iter().map(|s| s.nuggets).sum();
    let found: usize = scores.iter().map(|s| s.found).sum();
    let cites: usize = scores.iter().map(|s| s.citations).sum();
    let verified: usize = scores.iter().map(|s| s.citations_verified).sum();
    Ok(QuestionSetScore {
        nugget_recall: ratio(found, total_nuggets),
        all_nuggets: scores.iter().filter(|s| s.found == s.nuggets).count(),
        forbidden_hits: scores.iter().map(|s| s.forbidden_hits).sum(),
        citation_precision: ratio(verified, cites),
        mean_seconds: scores.iter().map(|s| s.seconds).sum::<f64>() / scores.len().max(1) as f64,
        questions: scores,
    })
}

fn ratio(a: usize, b: usize) -> f64 {
    if b == 0 {
        0.0
    } else {
        a as f64 / b as f64
    }
}

pub const LABELS: [&str; 4] = ["supported", "refuted", "insufficient", "disputed"];

#[derive(Debug, Deserialize)]
struct LabelledClaim {
    id: String,
    claim: String,
    label: String,
}

/// Figures for a verdict set.
#[derive(Debug, Clone, Serialize)]
pub struct VerdictScore {
    pub claims: usize,
    /// confusion[gold][predicted], in [`LABELS`] order.
    pub confusion: [[usize; 4]; 4],
    pub per_label_f1: BTreeMap<String, f64>,
    pub macro_f1: f64,
    pub balanced_accuracy: f64,
    pub accuracy: f64,
    /// Of the claims the panel keeps (verdict supported), the share labelled supported.
    pub kept_precision: f64,
    pub kept: usize,
    /// Claims labelled supported that the panel refuted or disputed (should be none).
    pub supported_refuted_or_disputed: usize,
    pub seconds_per_claim: f64,
}

impl VerdictScore {
    pub fn from_pairs(pairs: &[(usize, usize)], seconds: f64) -> VerdictScore {
        let mut confusion = [[0usize; 4]; 4];
        for &(g, p) in pairs {
            confusion[g][p] += 1;
        }
        let mut f1s = BTreeMap::new();
        let mut recalls = Vec::new();
        for (i, label) in LABELS.iter().enumerate() {
            let tp = confusion[i][i];
            let gold: usize = confusion[i].iter().sum();
            let predicted: usize = confusion.iter().map(|row| row[i]).sum();
            let precision = ratio(tp, predicted);
            let recall = ratio(tp, gold);
            let f1 = if precision + recall > 0.0 {
                2.0 * precision * recall / (precision + recall)
            } else {
                0.0
            };
            f1s.insert(label.to_string(), f1);
            if gold > 0 {
                recalls.push(recall);
            }
        }
        let kept: usize = confusion.iter().map(|row| row[0]).sum();
        let correct: usize = (0..4).map(|i| confusion[i][i]).sum();
        VerdictScore {
            claims: pairs.len(),
            confusion,
            macro_f1: f1s.values().sum::<f64>() / 4.0,
            per_label_f1: f1s,
            balanced_accuracy: recalls.iter().sum::<f64>() / recalls.len().max(1) as f64,
            accuracy: ratio(correct, pairs.len()),
            kept_precision: ratio(confusion[0][0], kept),
            kept,
            supported_refuted_or_disputed: confusion[0][1] + confusion[0][3],
            seconds_per_claim: seconds / pairs.len().max(1) as f64,
        }
    }
}

/// A retriever over one corpus folder, indexed (or found unchanged) first.
fn retriever_over(
    store: &Arc<dyn SearchBackend>,
    dir: &Path,
    base: &RunConfig,
    progress: &Progress,
) -> Result<crate::engine::Retriever, EvalError> {
    let corpora = Corpora::Paths(vec![dir.to_path_buf()]);
    let prepared = tokio::task::block_in_place(|| {
        pipeline::prepare(store.as_ref(), &corpora, &base.ingest, progress)
    })?;
    Ok(crate::engine::Retriever::new(
        Arc::clone(store),
        prepared.scope,
    ))
}

/// A claims file over named corpora (the docs-claims format): `{"corpus": {KEY: "rel/path"},
/// "claims": [{"id", "corpus": KEY, "claim", "label", ...}]}`, corpus paths relative to
/// `docs_root`. Each claim is judged against its own corpus only.
#[derive(Debug, Deserialize)]
struct ClaimFile {
    corpus: HashMap<String, String>,
    claims: Vec<FileClaim>,
}

#[derive(Debug, Deserialize)]
struct FileClaim {
    id: String,
    corpus: String,
    claim: String,
    label: String,
}

pub async fn eval_claim_file(
    path: &Path,
    docs_root: &Path,
    base: &RunConfig,
    engine: &Engine,
    store: Arc<dyn SearchBackend>,
    limit: Option<usize>,
    progress: &Progress,
) -> Result<VerdictScore, EvalError> {
    let text = read(path)?;
    let set: ClaimFile = serde_json::from_str(&text).map_err(|e| EvalError::BadClaimFile {
        path: path.to_path_buf(),
        detail: e.to_string(),
    })?;
    let mut claims = set.claims;
    if let Some(n) = limit {
        claims.truncate(n);
    }
    let mut gold = Vec::new();
    for c in &claims {
        gold.push(LABELS.iter().position(|l| *l == c.label).ok_or_else(|| {
            EvalError::BadClaimFile {
                path: path.to_path_buf(),
                detail: format!("claim {}: unknown label {:?}", c.id, c.label),
            }
        })?);
        if !set.corpus.contains_key(&c.corpus) {
            return Err(EvalError::UnknownCorpus {
                id: c.id.clone(),
                key: c.corpus.clone(),
            });
        }
    }
    let mut keys: Vec<&String> = claims.iter().map(|c| &c.corpus).collect();
    keys.sort();
    keys.dedup();
    let mut predicted = vec![2usize; claims.len()];
    let started = Instant::now();
    for key in keys {
        let dir = docs_root.join(&set.corpus[key]);
        let retriever = retriever_over(&store, &dir, base, progress)?;
        let idx: Vec<usize> = (0..claims.len())
            .filter(|&i| &claims[i].corpus == key)
            .collect();
        let inputs: Vec<ClaimInput> = idx
            .iter()
            .map(|&i| ClaimInput {
                id: claims[i].id.clone(),
                claim: claims[i].claim.clone(),
            })
            .collect();
        let stage = progress.stage(&format!(
            "panel voting on {} claims over {key}",
            inputs.len()
        ));
        let results = verify::verify(&inputs, engine, &base.policy, &retriever).await;
        stage.done(format!("{} verdicts", results.len()));
        for (&i, r) in idx.iter().zip(&results) {
            predicted[i] = LABELS.iter().position(|l| *l == r.verdict).unwrap_or(2);
        }
    }
    let seconds = started.elapsed().as_secs_f64();
    let pairs: Vec<(usize, usize)> = gold.into_iter().zip(predicted).collect();
    Ok(VerdictScore::from_pairs(&pairs, seconds))
}

pub async fn eval_claims(
    dir: &Path,
    base: &RunConfig,
    engine: &Engine,
    store: Arc<dyn SearchBackend>,
    limit: Option<usize>,
    progress: &Progress,
) -> Result<VerdictScore, EvalError> {
    let path = dir.join("claims.jsonl");
    let text = read(&path)?;
    let mut labelled = Vec::new();
    for (i, line) in text.lines().enumerate() {
        if line.trim().is_empty() {
            continue;
        }
        let c: LabelledClaim = serde_json::from_str(line).map_err(|e| EvalError::BadClaim {
            path: path.clone(),
            line: i + 1,
            detail: e.to_string(),
        })?;
        let gold =
            LABELS
                .iter()
                .position(|l| *l == c.label)
                .ok_or_else(|| EvalError::BadClaim {
                    path: path.clone(),
                    line: i + 1,
                    detail: format!("unknown label {:?}", c.label),
                })?;
        labelled.push((c, gold));
        if limit.is_some_and(|n| labelled.len() >= n) {
            break;
        }
    }
    let retriever = retriever_over(&store, &dir.join("corpus"), base, progress)?;
    let inputs: Vec<ClaimInput> = labelled
        .iter()
        .map(|(c, _)| ClaimInput {
            id: c.id.clone(),
            claim: c.claim.clone(),
        })
        .collect();
    let stage = progress.stage(&format!("panel voting on {} labelled claims", inputs.len()));
    let started = Instant::now();
    let results = verify::verify(&inputs, engine, &base.policy, &retriever).await;
    let seconds = started.elapsed().as_secs_f64();
    stage.done(format!("{} verdicts in {seconds:.1}s", results.len()));
    let pairs: Vec<(usize, usize)> = results
        .iter()
        .zip(&labelled)
        .map(|(r, (_, gold))| {
            let p = LABELS.iter().position(|l| *l == r.verdict).unwrap_or(2);
            (*gold, p)
        })
        .collect();
    Ok(VerdictScore::from_pairs(&pairs, seconds))
}

pub fn format_questions(s: &QuestionSetScore) -> String {
    let mut out = String::new();
    let _ = writeln!(
        out,
        "{:<10} {:<11} {:>8} {:>10} {:>10} {:>6} {:>8}",
        "question", "type", "nuggets", "forbidden", "citations", "kept", "seconds"
    );
    for q in &s.questions {
        let _ = writeln!(
            out,
            "{:<10} {:<11} {:>8} {:>10} {:>10} {:>6} {:>8.2}",
            q.id,
            q.kind,
            format!("{}/{}", q.found, q.nuggets),
            q.forbidden_hits,
            format!("{}/{}", q.citations_verified, q.citations),
            q.kept,
            q.seconds
        );
    }
    let total: usize = s.questions.iter().map(|q| q.nuggets).sum();
    let found: usize = s.questions.iter().map(|q| q.found).sum();
    let _ = writeln!(
        out,
        "nugget recall:        {:.3} ({found}/{total})",
        s.nugget_recall
    );
    let _ = writeln!(
        out,
        "all-nuggets questions: {}/{}",
        s.all_nuggets,
        s.questions.len()
    );
    let _ = writeln!(out, "forbidden hits:       {}", s.forbidden_hits);
    let _ = writeln!(out, "citation precision:   {:.3}", s.citation_precision);
    let _ = writeln!(
        out,
        "disputes settled:     {}",
        s.questions.iter().map(|q| q.settled).sum::<usize>()
    );
    let _ = writeln!(out, "seconds per question: {:.2}", s.mean_seconds);
    out
}

pub fn format_verdicts(s: &VerdictScore) -> String {
    let mut out = String::new();
    let _ = writeln!(
        out,
        "confusion matrix (rows: gold, columns: predicted), {} claims",
        s.claims
    );
    let _ = writeln!(
        out,
        "{:<13} {:>10} {:>8} {:>13} {:>9}",
        "", LABELS[0], LABELS[1], LABELS[2], LABELS[3]
    );
    for (i, row) in s.confusion.iter().enumerate() {
        let _ = writeln!(
            out,
            "{:<13} {:>10} {:>8} {:>13} {:>9}",
            LABELS[i], row[0], row[1], row[2], row[3]
        );
    }
    for (label, f1) in &s.per_label_f1 {
        let _ = writeln!(out, "F1 {label:<13} {f1:.3}");
    }
    let _ = writeln!(out, "macro-F1:          {:.3}", s.macro_f1);
    let _ = writeln!(out, "balanced accuracy: {:.3}", s.balanced_accuracy);
    let _ = writeln!(out, "accuracy:          {:.3}", s.accuracy);
    let _ = writeln!(
        out,
        "kept precision:    {:.3} ({} kept)",
        s.kept_precision, s.kept
    );
    let _ = writeln!(
        out,
        "supported claims refuted or disputed: {}",
        s.supported_refuted_or_disputed
    );
    let _ = writeln!(out, "seconds per claim: {:.4}", s.seconds_per_claim);
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn verdict_figures_match_hand_counts() {
        // gold supported x3 (2 right), refuted x1 (right), insufficient x2 (1 right).
        let pairs = [(0, 0), (0, 0), (0, 2), (1, 1), (2, 2), (2, 0)];
        let s = VerdictScore::from_pairs(&pairs, 1.2);
        assert_eq!(s.confusion[0], [2, 0, 1, 0]);
        assert_eq!(s.kept, 3);
        assert!((s.kept_precision - 2.0 / 3.0).abs() < 1e-9);
        // recalls: supported 2/3, refuted 1, insufficient 1/2 (disputed absent from gold).
        assert!((s.balanced_accuracy - (2.0 / 3.0 + 1.0 + 0.5) / 3.0).abs() < 1e-9);
        // F1: supported p=2/3 r=2/3; refuted 1; insufficient p=1/2 r=1/2; disputed 0.
        assert!((s.macro_f1 - (2.0 / 3.0 + 1.0 + 0.5 + 0.0) / 4.0).abs() < 1e-9);
    }

    #[test]
    fn scored_text_skips_question_plan_and_appendix() {
        let md = "# tablespace?\n\n**Question:** tablespace\n\n## Plan\n\n1. tablespace\n\n## Findings\n\n- Costs are 4\\.0 here.\n\n## Appendix: dropped claims\n\n- tablespace dropped\n";
        let t = scored_text(md);
        assert!(t.contains("4.0"));
        assert!(!t.contains("tablespace"));
    }
}
