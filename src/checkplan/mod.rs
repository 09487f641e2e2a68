//! `research check-plan`: a design plan cross-checked from several angles.
//!
//! The plan (Markdown) is read for what it asserts or assumes ([`items`]): every statement
//! becomes a claim with no corpus citation (like `research verify` claims) that keeps its plan
//! line and verbatim span. For each angle ([`angles`]: security, performance, cost...) a panel
//! of reviewers looks for evidence in the corpora (and the web when enabled) and votes; the
//! policy's verdict gives confirmed (supported), contradicted (refuted or disputed) or
//! unverifiable. The offline engine steers each reviewer's retrieval with the angle's keywords;
//! the angle's checks find the open risks it raises. Every quote is checked against the stored
//! text, and every plan quote against the plan file, right before the report is written.

pub mod angles;
pub mod items;

pub use angles::Angle;
pub use items::{ItemKind, PlanItem};

use crate::artifact::{Citation, Claim, Judgement, Reviewed, Skipped, Stance, SubQuery};
use crate::engine::{Engine, Purpose, Retriever, ReviewTask};
use crate::gather::{self, AgentBudget, Source};
use crate::index::{IndexError, SearchBackend, SearchRequest};
use crate::ingest::IngestOptions;
use crate::journal::{Key, RunJournal};
use crate::pipeline::{self, stage, Corpora, RunError};
use crate::progress::Progress;
use crate::quote::QuoteChecker;
use crate::report::{self, esc, ReportError, Written};
use crate::review::{self, Policy, PolicyError};
use crate::text;
use serde::{Deserialize, Serialize};
use std::collections::{HashMap, HashSet};
use std::fmt::Write as _;
use std::path::{Path, PathBuf};
use std::sync::Arc;
use std::time::Instant;

#[derive(Debug, thiserror::Error)]
pub enum CheckError {
    #[error("cannot read the plan {path}")]
    Read {
        path: String,
        source: std::io::Error,
    },
    #[error(
        "the plan {0} states nothing to check (no sentence outside headings, code and tables)"
    )]
    NoItems(String),
    #[error("{0} is not a text file: check-plan reads a Markdown or text plan")]
    NotText(String),
    #[error("the plan {0} changed while it was being checked; run the check again")]
    PlanChanged(String),
    #[error(transparent)]
    Angle(#[from] angles::AngleError),
    #[error(transparent)]
    Run(#[from] RunError),
    #[error(transparent)]
    Index(#[from] IndexError),
    #[error(transparent)]
    Report(#[from] ReportError),
    #[error(transparent)]
    Policy(#[from] PolicyError),
}

/// Everything one check needs besides the engine.
#[derive(Debug, Clone)]
pub struct CheckConfig {
    pub plan: PathBuf,
    pub corpora: Corpora,
    pub out_dir: PathBuf,
    pub policy: Policy,
    pub ingest: IngestOptions,
    pub angles: Vec<Angle>,
    /// Statements checked at most.
    pub max_items: usize,
    /// Budget of each web agent (one per statement) when the web is on.
    pub budget: AgentBudget,
    /// The run's journal: stages (the corpora, the web, each angle, the report) already
    /// journaled are read back, new ones recorded.
    pub journal: Option<Arc<RunJournal>>,
}

/// What an angle's panel made of one statement.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum Outcome {
    /// Evidence contradicts it and none supports it.
    Contradicted,
    /// Evidence on both sides.
    Disputed,
    /// Nothing decisive found (or too many votes failed): neither confirmed nor contradicted.
    Unverifiable,
    /// A quorum of reviewers found it stated.
    Confirmed,
}

impl Outcome {
    /// check-plan's words for the verdict's [`Judgement`].
    pub fn of(r: &Reviewed) -> Outcome {
        match r.verdict.judgement() {
            Judgement::Supported => Outcome::Confirmed,
            Judgement::Disputed => Outcome::Disputed,
            Judgement::Refuted => Outcome::Contradicted,
            Judgement::Insufficient => Outcome::Unverifiable,
        }
    }

    pub fn label(self) -> &'static str {
        match self {
            Outcome::Contradicted => "contradicted",
            Outcome::Disputed => "disputed",
            Outcome::Unverifiable => "unverifiable",
            Outcome::Confirmed => "confirmed",
        }
    }
}

/// One statement as one angle's panel judged it.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct ItemCheck {
    pub item: String,
    pub outcome: Outcome,
    pub reviewed: Reviewed,
}

/// A risk an angle raised: a passage of the corpora that answers one of the angle's checks
/// about the plan's subjects.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Risk {
    /// The angle's check it answers.
    pub check: String,
    pub citation: Citation,
}

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct AngleResult {
    pub name: String,
    pub title: String,
    pub keywords: Vec<String>,
    /// `built-in` or the angle file's path.
    pub origin: String,
    pub hash: String,
    pub checks: Vec<ItemCheck>,
    pub risks: Vec<Risk>,
}

/// The plan file as checked.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct PlanSource {
    pub path: String,
    pub title: String,
    /// blake3 of the plan's bytes.
    pub hash: String,
    pub lines: usize,
}

#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
pub struct CheckStats {
    pub documents: usize,
    pub documents_indexed: usize,
    pub documents_unchanged: usize,
    pub items: usize,
    /// Statements by their outcome across angles (contradicted wins over disputed, disputed
    /// over confirmed, confirmed over unverifiable).
    pub contradicted: usize,
    pub disputed: usize,
    pub unverifiable: usize,
    pub confirmed: usize,
    pub risks: usize,
    /// Evidence quotes that failed the check against the stored text (never shown).
    pub quotes_failed: usize,
    pub elapsed_ms: u64,
}

/// Everything the report files are made from (the `.json` audit is this, serialised).
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct CheckReport {
    pub title: String,
    pub plan: PlanSource,
    pub engine: String,
    pub created: String,
    pub items: Vec<PlanItem>,
    pub angles: Vec<AngleResult>,
    pub policy: Policy,
    pub skipped: Vec<Skipped>,
    pub stats: CheckStats,
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub notes: Vec<String>,
}

impl CheckReport {
    /// A statement's outcome across angles: contradicted if any angle contradicted it, then
    /// disputed, then confirmed, else unverifiable.
    pub fn overall(&self, item: &str) -> Outcome {
        let outcomes: Vec<Outcome> = self
            .angles
            .iter()
            .flat_map(|a| a.checks.iter())
            .filter(|c| c.item == item)
            .map(|c| c.outcome)
            .collect();
        for o in [Outcome::Contradicted, Outcome::Disputed, Outcome::Confirmed] {
            if outcomes.contains(&o) {
                return o;
            }
        }
        Outcome::Unverifiable
    }
}

/// Read the plan: its text (lossily decoded) and blake3 of its bytes.
fn read_plan(path: &Path) -> Result<(String, String), CheckError> {
    let bytes = std::fs::read(path).map_err(|source| CheckError::Read {
        path: path.display().to_string(),
        source,
    })?;
    let hash = blake3::hash(&bytes).to_hex().to_string();
    let text = String::from_utf8_lossy(&bytes).into_owned();
    if !is_text(&bytes, &text) {
        return Err(CheckError::NotText(path.display().to_string()));
    }
    Ok((text, hash))
}

/// A plan is text: no NUL byte, and if it is not UTF-8, few undecodable bytes (a Latin-1 plan
/// with accents passes; random or binary bytes do not).
fn is_text(bytes: &[u8], lossy: &str) -> bool {
    if bytes.contains(&0) {
        return false;
    }
    if std::str::from_utf8(bytes).is_ok() {
        return true;
    }
    let bad = lossy.chars().filter(|&c| c == '\u{fffd}').count();
    bad * 20 <= lossy.chars().count()
}

/// Check the plan and build the report in memory (no file written).
pub async fn check(
    cfg: &CheckConfig,
    engine: &Engine,
    store: Arc<dyn SearchBackend>,
    progress: &Progress,
    extra: &[Arc<dyn Source>],
) -> Result<CheckReport, CheckError> {
    let started = Instant::now();
    cfg.policy.validate()?;
    let shown = cfg.plan.display().to_string();
    let (plan_text, plan_hash) = read_plan(&cfg.plan)?;
    let items = items::extract(&plan_text, cfg.max_items.max(1));
    if items.is_empty() {
        return Err(CheckError::NoItems(shown));
    }
    if cfg.angles.is_empty() {
        return Err(angles::AngleError::Empty.into());
    }
    if cfg.corpora == Corpora::None && extra.is_empty() {
        return Err(RunError::from(crate::ingest::IngestError::NoDocuments(PathBuf::new())).into());
    }
    let journal = cfg.journal.as_deref();
    let prepared: pipeline::Prepared = stage(journal, Key::Prepared, || async {
        tokio::task::block_in_place(|| {
            pipeline::prepare(store.as_ref(), &cfg.corpora, &cfg.ingest, progress)
        })
    })
    .await?;
    let scope = prepared.scope.clone();
    let mut skipped = prepared.skipped.clone();
    let (mut web_indexed, mut web_unchanged) = (0, 0);
    let mut brought = Vec::new();
    if !extra.is_empty() {
        // One web agent per statement: what it finds is indexed, and the reviewers search it.
        let spinner = progress.stage(&format!("searching the web for {} statements", items.len()));
        let subs: Vec<SubQuery> = items
            .iter()
            .enumerate()
            .map(|(i, it)| SubQuery {
                id: i,
                angle: crate::artifact::Angle::Question,
                label: format!("line {}", it.line),
                query: it.text.clone(),
            })
            .collect();
        let gathered: gather::GatherOutcome = stage(journal, Key::Gather, || async {
            Ok(gather::gather(&subs, extra, cfg.budget, progress).await)
        })
        .await?;
        web_indexed = gathered.documents_indexed;
        web_unchanged = gathered.documents_unchanged;
        skipped.extend(gathered.skipped.iter().cloned());
        skipped.extend(
            gathered
                .failures
                .iter()
                .map(|f| Skipped::new("gather", "agent", f.clone())),
        );
        brought = gathered.brought.clone();
        spinner.done(format!(
            "{web_indexed} web pages indexed, {web_unchanged} unchanged"
        ));
    }
    // The corpora, and the web pages this check brought in (not pages an earlier run stored).
    let retriever = Retriever::new(Arc::clone(&store), scope).with_documents(brought);
    let claims: Vec<Claim> = items
        .iter()
        .map(|it| Claim {
            id: it.id.clone(),
            text: it.text.clone(),
            sub_query: 0,
            score: 0.0,
            citations: Vec::new(),
        })
        .collect();
    let subjects = subjects(&items);
    let touched = touched_terms(&items);
    let notes = engine.notes.all();
    let mut results = Vec::new();
    for angle in &cfg.angles {
        let spinner = progress.stage(&format!(
            "{}: {} reviewers on {} statements",
            angle.title,
            cfg.policy.reviewers,
            claims.len()
        ));
        // Keyed by the plan's and the angle's digests: a plan or an angle edited before a
        // resume is checked afresh.
        let key = Key::Angle(format!(
            "{}/{}",
            angle.name,
            &blake3::hash(format!("{plan_hash}{}", angle.hash).as_bytes()).to_hex()[..16]
        ));
        let result: AngleResult = stage(journal, key, || async {
            // The angle reaches every reviewer as the purpose of its review: a model reads its
            // prompt, the offline panel steers a second retrieval with its keywords.
            let task = ReviewTask::new(
                Purpose::Angle {
                    title: angle.title.clone(),
                    keywords: angle.keywords.clone(),
                    prompt: angle.prompt.clone(),
                },
                claims.clone(),
                retriever.clone(),
            );
            let reviewed = review::review(&engine.reviewers, &cfg.policy, &task).await;
            let checks: Vec<ItemCheck> = reviewed
                .into_iter()
                .map(|r| ItemCheck {
                    item: r.claim.id.clone(),
                    outcome: Outcome::of(&r),
                    reviewed: r,
                })
                .collect();
            let retriever = retriever.clone();
            let (a, s, touched) = (angle.clone(), subjects.clone(), touched.clone());
            let risks =
                tokio::task::spawn_blocking(move || find_risks(&a, &s, &touched, &retriever))
                    .await
                    .unwrap_or_default();
            Ok(AngleResult {
                name: angle.name.clone(),
                title: angle.title.clone(),
                keywords: angle.keywords.clone(),
                origin: angle.origin.clone(),
                hash: angle.hash.clone(),
                checks,
                risks,
            })
        })
        .await?;
        let contradicted = result
            .checks
            .iter()
            .filter(|c| matches!(c.outcome, Outcome::Contradicted | Outcome::Disputed))
            .count();
        spinner.done(format!(
            "{}: {contradicted} contradicted, {} risks",
            angle.title,
            result.risks.len()
        ));
        results.push(result);
    }
    let file_name = cfg
        .plan
        .file_name()
        .map(|n| n.to_string_lossy().into_owned())
        .unwrap_or_else(|| shown.clone());
    let title = plan_text
        .lines()
        .find_map(|l| l.trim().strip_prefix("# ").map(|t| t.trim().to_string()))
        .filter(|t| !t.is_empty())
        .unwrap_or_else(|| file_name.clone());
    let mut report = CheckReport {
        title: format!("Plan check: {title}"),
        plan: PlanSource {
            path: shown,
            title,
            hash: plan_hash,
            lines: plan_text.lines().count(),
        },
        engine: engine.name.clone(),
        created: chrono::Utc::now().format("%Y-%m-%d %H:%M UTC").to_string(),
        items,
        angles: results,
        policy: cfg.policy.clone(),
        skipped,
        stats: CheckStats {
            documents: prepared.documents + web_indexed + web_unchanged,
            documents_indexed: prepared.indexed + web_indexed,
            documents_unchanged: prepared.unchanged + web_unchanged,
            ..CheckStats::default()
        },
        notes,
    };
    recheck(&mut report, store.as_ref())?;
    report.stats.elapsed_ms = started.elapsed().as_millis() as u64;
    Ok(report)
}

/// Check the plan and write `check-<plan>-<date>.md` (+ `.html`, `.json`) under `out_dir`.
pub async fn run(
    cfg: &CheckConfig,
    engine: &Engine,
    store: Arc<dyn SearchBackend>,
    progress: &Progress,
    extra: &[Arc<dyn Source>],
) -> Result<(CheckReport, Written), CheckError> {
    let report = check(cfg, engine, store, progress, extra).await?;
    // The plan quotes are checked against the plan file as it is now.
    let (now, hash) = read_plan(&cfg.plan)?;
    if hash != report.plan.hash
        || report
            .items
            .iter()
            .any(|it| now.get(it.start..it.end) != Some(it.quote.as_str()))
    {
        return Err(CheckError::PlanChanged(report.plan.path.clone()));
    }
    let (md, sources) = render(&report);
    let audit = serde_json::to_string_pretty(&report)
        .map_err(|e| ReportError::Malformed(format!("audit does not serialise: {e}")))?;
    let stem = format!(
        "check-{}-{}",
        text::slug(
            &cfg.plan
                .file_stem()
                .map(|s| s.to_string_lossy().into_owned())
                .unwrap_or_else(|| "plan".into()),
            50
        ),
        chrono::Utc::now().format("%Y-%m-%d")
    );
    let written = pipeline::write_rendered_report(
        cfg.journal.as_deref(),
        &cfg.out_dir,
        &md,
        &sources,
        &report.title,
        &audit,
        &stem,
    )
    .await?;
    Ok((report, written))
}

/// Re-check every evidence and risk quote against the stored text. Failing evidence is not
/// shown; a statement left without the evidence its outcome rests on becomes unverifiable; a
/// failing risk is dropped. Then the counters are made.
pub fn recheck(report: &mut CheckReport, store: &dyn SearchBackend) -> Result<(), IndexError> {
    let mut checker = QuoteChecker::new(store);
    let mut failed = 0;
    for angle in &mut report.angles {
        for c in &mut angle.checks {
            failed += checker.recheck_votes(&mut c.reviewed.votes)?;
            let shown = |stance: Stance| {
                c.reviewed
                    .votes
                    .iter()
                    .any(|v| v.stance == stance && v.evidence.is_some())
            };
            let rests_on = match c.outcome {
                Outcome::Contradicted | Outcome::Disputed => shown(Stance::Refute),
                Outcome::Confirmed => shown(Stance::Support),
                Outcome::Unverifiable => true,
            };
            if !rests_on {
                c.outcome = Outcome::Unverifiable;
                c.reviewed.verdict.reason =
                    "its evidence quote was not found in the stored source".into();
            }
        }
        let before = angle.risks.len();
        let mut kept = Vec::with_capacity(before);
        for r in angle.risks.drain(..) {
            if checker.check(&r.citation)? {
                kept.push(r);
            }
        }
        failed += before - kept.len();
        angle.risks = kept;
    }
    let mut s = CheckStats {
        items: report.items.len(),
        risks: report.angles.iter().map(|a| a.risks.len()).sum(),
        quotes_failed: report.stats.quotes_failed + failed,
        ..report.stats.clone()
    };
    s.contradicted = 0;
    s.disputed = 0;
    s.unverifiable = 0;
    s.confirmed = 0;
    for it in &report.items {
        match report.overall(&it.id) {
            Outcome::Contradicted => s.contradicted += 1,
            Outcome::Disputed => s.disputed += 1,
            Outcome::Unverifiable => s.unverifiable += 1,
            Outcome::Confirmed => s.confirmed += 1,
        }
    }
    report.stats = s;
    Ok(())
}

/// What the plan is about: names it repeats (capitalised words past a sentence's start,
/// identifiers, acronyms), most frequent first.
pub fn subjects(items: &[PlanItem]) -> Vec<String> {
    let mut count: HashMap<String, (usize, usize)> = HashMap::new();
    for (n, it) in items.iter().enumerate() {
        for (i, t) in text::tokens(&it.text).iter().enumerate() {
            let w = t.text;
            let lower = w.to_lowercase();
            if text::is_stopword(&lower)
                || w.len() < 3
                || w.starts_with(|c: char| c.is_ascii_digit())
            {
                continue;
            }
            let name = w.contains('_')
                || (i > 0 && w.starts_with(char::is_uppercase))
                || (w.len() >= 3
                    && w.chars()
                        .all(|c| c.is_ascii_uppercase() || c.is_ascii_digit()))
                || w.chars().skip(1).any(char::is_uppercase);
            if name {
                let key = lower.trim_end_matches("'s").to_string();
                let e = count.entry(key).or_insert((0, n));
                e.0 += 1;
            }
        }
    }
    let mut ranked: Vec<(String, usize, usize)> = count
        .into_iter()
        .map(|(k, (c, first))| (k, c, first))
        .collect();
    ranked.sort_by(|a, b| b.1.cmp(&a.1).then(a.2.cmp(&b.2)).then(a.0.cmp(&b.0)));
    ranked.into_iter().take(6).map(|(k, _, _)| k).collect()
}

/// Each statement's content stems, value words ("default", "maximum") left out: what a risk
/// must speak of to touch the plan.
fn touched_terms(items: &[PlanItem]) -> Vec<Vec<String>> {
    let value_words: Vec<String> = text::VALUE_WORDS.iter().map(|w| text::stem(w)).collect();
    items
        .iter()
        .map(|it| {
            text::content_stems(&it.text)
                .into_iter()
                .filter(|s| {
                    !value_words.contains(s) && !s.starts_with(|c: char| c.is_ascii_digit())
                })
                .collect()
        })
        .collect()
}

/// Whether a risk sentence touches what the plan states: it shares two words with one of its
/// statements, one of them among the rarer half of the plan's words in the searched corpora
/// (naming the same product is not enough: "PostgreSQL" and "database" would let every warning
/// of the manual in).
fn touches(sentence_stems: &[String], statements: &[Vec<String>], rare: &HashSet<&str>) -> bool {
    statements.iter().any(|st| {
        let shared: Vec<&String> = st.iter().filter(|s| sentence_stems.contains(s)).collect();
        shared.len() >= 2 && shared.iter().any(|s| rare.contains(s.as_str()))
    })
}

/// Words of a sentence that say it warns of something.
const RISK_MARKERS: &[&str] = &[
    "warning",
    "caution",
    "must ",
    "should ",
    "never",
    "risk",
    "danger",
    "insecure",
    "vulnerab",
    "attack",
    "not recommended",
    "server start",
    "restart",
    "limit",
    "cannot",
    "slow",
    "expensive",
    "overhead",
    "lock",
    "downtime",
    "lost",
    "loss",
    "corrupt",
    "exceed",
    "fail",
    "deprecated",
    "no-op",
    "trust",
    "unencrypted",
    "plain text",
    "plaintext",
    "only",
];

/// The risks an angle raises: for each of its checks, the passages about the plan's subjects
/// that answer it, keeping sentences that warn (must, cannot, limit, restart...) and touch what
/// the plan states. At most three.
fn find_risks(
    angle: &Angle,
    subjects: &[String],
    statements: &[Vec<String>],
    retriever: &Retriever,
) -> Vec<Risk> {
    let subject_stems: Vec<String> = subjects.iter().map(|s| text::stem(s)).collect();
    let angle_stems: HashSet<String> = angle
        .keywords
        .iter()
        .flat_map(|k| text::content_stems(k))
        .collect();
    let mut weighed: Vec<(f32, &str)> = statements
        .iter()
        .flatten()
        .map(|s| (retriever.idf(s), s.as_str()))
        .collect();
    weighed.sort_by(|a, b| b.0.total_cmp(&a.0).then(a.1.cmp(b.1)));
    weighed.dedup_by(|a, b| a.1 == b.1);
    let rare: HashSet<&str> = weighed
        .iter()
        .take(weighed.len().div_ceil(2))
        .map(|(_, s)| *s)
        .collect();
    let mut found: Vec<(f32, Risk)> = Vec::new();
    for check in &angle.checks {
        let check_stems: HashSet<String> = text::content_stems(check).into_iter().collect();
        let req = SearchRequest {
            text: format!("{check} {}", subjects.join(" ")),
            limit: 6,
            ..Default::default()
        };
        let Ok(hits) = retriever.search(req) else {
            continue;
        };
        for (rank, hit) in hits.iter().enumerate() {
            let location = hit.location.to_lowercase();
            let passage_stems = text::content_stems(&hit.passage.text);
            let about_subject = subject_stems.iter().zip(subjects).any(|(s, raw)| {
                passage_stems.contains(s) || (raw.len() >= 4 && location.contains(raw.as_str()))
            });
            if !about_subject {
                continue;
            }
            for (s, e) in text::sentences(&hit.passage.text) {
                let sentence = &hit.passage.text[s..e];
                let words = sentence.split_whitespace().count();
                if !(6..=80).contains(&words) {
                    continue;
                }
                let lower = sentence.to_lowercase();
                if !RISK_MARKERS.iter().any(|m| lower.contains(m)) {
                    continue;
                }
                let stems = text::content_stems(sentence);
                if !touches(&stems, statements, &rare) {
                    continue;
                }
                let on_check = stems.iter().filter(|s| check_stems.contains(*s)).count();
                let on_angle = stems.iter().filter(|s| angle_stems.contains(*s)).count();
                if on_check < 2 {
                    continue;
                }
                let score = on_check as f32 + 0.5 * on_angle as f32 - 0.1 * rank as f32;
                found.push((
                    score,
                    Risk {
                        check: check.clone(),
                        citation: Citation::from_hit(hit, s, e),
                    },
                ));
            }
        }
    }
    found.sort_by(|a, b| {
        b.0.total_cmp(&a.0)
            .then_with(|| a.1.citation.doc_id.cmp(&b.1.citation.doc_id))
            .then_with(|| a.1.citation.start.cmp(&b.1.citation.start))
    });
    let mut out: Vec<Risk> = Vec::new();
    for (_, r) in found {
        if out.iter().any(|o| {
            (o.citation.doc_id == r.citation.doc_id && o.citation.start == r.citation.start)
                || text::squash_whitespace(&o.citation.quote)
                    == text::squash_whitespace(&r.citation.quote)
        }) {
            continue;
        }
        out.push(r);
        if out.len() >= 3 {
            break;
        }
    }
    out
}

/// The statement's outcome by angle, when the angles disagree ("Security: contradicted;
/// Correctness, Performance: unverifiable"); None when they agree.
fn by_angle(report: &CheckReport, item: &str) -> Option<String> {
    let mut groups: Vec<(Outcome, Vec<&str>)> = Vec::new();
    for a in &report.angles {
        for c in a.checks.iter().filter(|c| c.item == item) {
            match groups.iter_mut().find(|(o, _)| *o == c.outcome) {
                Some((_, names)) => names.push(&a.title),
                None => groups.push((c.outcome, vec![&a.title])),
            }
        }
    }
    if groups.len() < 2 {
        return None;
    }
    groups.sort_by_key(|(o, _)| *o);
    Some(
        groups
            .iter()
            .map(|(o, names)| format!("{}: {}", names.join(", "), o.label()))
            .collect::<Vec<_>>()
            .join("; "),
    )
}

/// Numbers citations in order of first appearance, as the main report does.
struct Cites {
    index: report::CitationIndex,
}

impl Cites {
    fn refs(&mut self, cites: &[&Citation]) -> String {
        let mut nums: Vec<usize> = cites.iter().map(|c| self.index.number(c)).collect();
        nums.dedup();
        nums.iter()
            .map(|n| format!("[\\[{n}\\]](#src-{n})"))
            .collect::<Vec<_>>()
            .join("")
    }
}

/// The Markdown report and the numbered sources it cites.
pub fn render(report: &CheckReport) -> (String, Vec<Citation>) {
    let mut md = String::new();
    let mut cites = Cites {
        index: report::CitationIndex::default(),
    };
    let s = &report.stats;
    let _ = writeln!(md, "# {}\n", esc(&report.title));
    let _ = writeln!(
        md,
        "**Plan:** `{}` · {} lines · blake3 `{}`\n",
        report.plan.path.replace('`', "'"),
        report.plan.lines,
        &report.plan.hash[..report.plan.hash.len().min(16)]
    );
    let angle_names: Vec<&str> = report.angles.iter().map(|a| a.title.as_str()).collect();
    let _ = writeln!(
        md,
        "Engine: {} · {} · {} documents searched · {} statements checked from {} angles ({}), \
         {} reviewers each: **{} contradicted**, {} disputed, {} unverifiable, {} confirmed; {} open risks.\n",
        report.engine,
        report.created,
        s.documents,
        s.items,
        report.angles.len(),
        esc(&angle_names.join(", ")),
        report.policy.reviewers,
        s.contradicted,
        s.disputed,
        s.unverifiable,
        s.confirmed,
        s.risks
    );
    md.push_str("## Summary\n\n");
    md.push_str("| line | statement | outcome |\n|---:|---|---|\n");
    for it in &report.items {
        let by_angle = by_angle(report, &it.id);
        let _ = writeln!(
            md,
            "| {} | {} | {}{} |",
            it.line,
            esc(&it.text),
            report.overall(&it.id).label(),
            by_angle
                .map(|b| format!(" ({})", esc(&b)))
                .unwrap_or_default()
        );
    }
    md.push('\n');

    // Each statement once, under its outcome across angles: a disputed one is never listed as
    // contradicted, and the angles are named only where they disagree.
    for (outcome, heading) in [
        (Outcome::Contradicted, "Contradicted"),
        (Outcome::Disputed, "Disputed"),
        (Outcome::Unverifiable, "Unverifiable"),
        (Outcome::Confirmed, "Confirmed"),
    ] {
        let _ = writeln!(md, "## {heading}\n");
        let items: Vec<&PlanItem> = report
            .items
            .iter()
            .filter(|it| report.overall(&it.id) == outcome)
            .collect();
        if items.is_empty() {
            md.push_str("None.\n\n");
            continue;
        }
        for it in items {
            // The checks that gave the statement this outcome, in angle order.
            let checks: Vec<&ItemCheck> = report
                .angles
                .iter()
                .flat_map(|a| a.checks.iter())
                .filter(|c| c.item == it.id && c.outcome == outcome)
                .collect();
            let reason = checks
                .first()
                .map(|c| esc(&c.reviewed.verdict.reason))
                .unwrap_or_default();
            let angles = by_angle(report, &it.id)
                .map(|b| format!(" By angle: {}.", esc(&b)))
                .unwrap_or_default();
            let votes = |stance: Stance| -> Vec<(&crate::artifact::Vote, &Citation)> {
                let mut seen: Vec<(&str, usize)> = Vec::new();
                let mut out = Vec::new();
                for v in checks
                    .iter()
                    .flat_map(|c| c.reviewed.votes.iter())
                    .filter(|v| v.stance == stance)
                {
                    let Some(e) = &v.evidence else { continue };
                    if seen.contains(&(e.doc_id.as_str(), e.start)) {
                        continue;
                    }
                    seen.push((e.doc_id.as_str(), e.start));
                    out.push((v, e));
                }
                out
            };
            match outcome {
                Outcome::Contradicted | Outcome::Disputed => {
                    let _ = writeln!(
                        md,
                        "- **Line {}:** “{}” — {}: {reason}.{angles}",
                        it.line,
                        esc(&it.quote),
                        outcome.label()
                    );
                    for (v, e) in votes(Stance::Refute).into_iter().take(3) {
                        let refs = cites.refs(&[e]);
                        let _ = writeln!(
                            md,
                            "{}",
                            report::vote_item("  ", "Against", v, e, &refs, true)
                        );
                    }
                    if outcome == Outcome::Disputed {
                        if let Some((v, e)) = votes(Stance::Support).into_iter().next() {
                            let refs = cites.refs(&[e]);
                            let _ = writeln!(
                                md,
                                "{}",
                                report::vote_item("  ", "For", v, e, &refs, false)
                            );
                        }
                    }
                }
                Outcome::Unverifiable => {
                    let _ = writeln!(
                        md,
                        "- Line {}: “{}” — {reason}.{angles}",
                        it.line,
                        esc(&it.quote)
                    );
                }
                Outcome::Confirmed => {
                    let support = votes(Stance::Support);
                    let (quote, refs) = match support.first() {
                        Some((_, e)) => (format!(" “{}”", esc(&e.quote)), cites.refs(&[*e])),
                        None => (String::new(), String::new()),
                    };
                    let _ = writeln!(
                        md,
                        "- Line {}: “{}” — {reason}.{quote} {refs}{angles}",
                        it.line,
                        esc(&it.quote)
                    );
                }
            }
        }
        md.push('\n');
    }

    md.push_str("## Open risks\n\n");
    if report.angles.iter().all(|a| a.risks.is_empty()) {
        md.push_str("None found in the sources about what the plan states.\n\n");
    }
    for angle in report.angles.iter().filter(|a| !a.risks.is_empty()) {
        let _ = writeln!(md, "### {}\n", esc(&angle.title));
        for r in &angle.risks {
            let _ = writeln!(
                md,
                "- On “{}”: “{}” {}",
                esc(&r.check),
                esc(&r.citation.quote),
                cites.refs(&[&r.citation])
            );
        }
        md.push('\n');
    }

    report::render_sources(&mut md, &cites.index.sources);
    report::render_skipped(&mut md, &report.skipped);

    md.push_str("## About this check\n\n");
    let p = &report.policy;
    let _ = writeln!(
        md,
        "- Each statement of the plan was put to a panel of {} reviewers (at least one a skeptic) \
         per angle; quorum {}, a refutation at confidence {:.2} or more counts. Contradicted: \
         reviewers found contradicting evidence and none found support; disputed: both; \
         confirmed: a quorum found it stated; anything else is unverifiable (a failed vote is \
         never a contradiction).",
        p.reviewers, p.quorum, p.dispute_confidence
    );
    let _ = writeln!(
        md,
        "- Every quote above was checked against the stored text of its source at the byte span \
         shown before this report was written ({} failed and are not shown); every plan quote \
         was checked against the plan file at its line.",
        s.quotes_failed
    );
    let _ = writeln!(
        md,
        "- {} documents indexed this run, {} unchanged; {} ms.",
        s.documents_indexed, s.documents_unchanged, s.elapsed_ms
    );
    for a in &report.angles {
        let _ = writeln!(
            md,
            "- Angle {}: `{}` (blake3 `{}`).",
            esc(&a.name),
            a.origin.replace('`', "'"),
            &a.hash[..a.hash.len().min(16)]
        );
    }
    for note in &report.notes {
        let _ = writeln!(md, "- Note: {}", esc(note));
    }
    (md, cites.index.sources)
}
