//! The pipeline: question -> plan -> gather -> index -> claims -> review -> report, driving
//! whichever engine it is given through the role traits.

use crate::artifact::{Plan, Report, RunStats, Skipped, Status};
use crate::bundled;
use crate::claims::{self, ClaimsError};
use crate::engine::{Engine, Purpose, Retriever, ReviewTask};
use crate::gather::{self, AgentBudget, CorpusSource, Source};
use crate::index::{DocumentWriter, IndexError, Known, SearchBackend};
use crate::ingest::{self, IngestError, IngestOptions, Outcome, Prior};
use crate::journal::{JournalError, Key, RunJournal};
use crate::plan::{self, PlanError};
use crate::progress::{self, Progress};
use crate::report::{self, ReportError, Written};
use crate::review::{self, Policy, PolicyError};
use std::collections::{HashMap, HashSet};
use std::path::PathBuf;
use std::sync::Arc;
use std::time::Instant;

mod rounds;
pub use rounds::Depth;

#[derive(Debug, thiserror::Error)]
pub enum RunError {
    #[error(transparent)]
    Plan(#[from] PlanError),
    #[error(transparent)]
    Ingest(#[from] IngestError),
    #[error(transparent)]
    Index(#[from] IndexError),
    #[error(transparent)]
    Claims(#[from] ClaimsError),
    #[error(transparent)]
    Report(#[from] ReportError),
    #[error(transparent)]
    Policy(#[from] PolicyError),
    #[error(transparent)]
    Journal(#[from] JournalError),
    #[error("stopped by the user; continue with: research resume {0}")]
    Interrupted(String),
}

/// Run one stage through the journal: a stage this run already finished is read back, a new one
/// is recorded when it completes. Between stages a stop request ends the run cleanly. Every
/// journaled command steps through here.
pub async fn stage<T, F, Fut>(
    journal: Option<&RunJournal>,
    key: Key,
    work: F,
) -> Result<T, RunError>
where
    T: serde::Serialize + serde::de::DeserializeOwned,
    F: FnOnce() -> Fut,
    Fut: std::future::Future<Output = Result<T, RunError>>,
{
    if let Some(j) = journal {
        if j.interrupted() {
            return Err(RunError::Interrupted(j.id.clone()));
        }
        if let Some(done) = j.artifact::<T>(&key)? {
            return Ok(done);
        }
    }
    let value = work().await?;
    if let Some(j) = journal {
        if j.interrupted() {
            return Err(RunError::Interrupted(j.id.clone()));
        }
        j.record(&key, &value)?;
    }
    Ok(value)
}

/// Where evidence comes from in one run.
#[derive(Debug, Clone, PartialEq)]
pub enum Corpora {
    /// The sample corpus compiled into the binary.
    Bundled,
    /// Folders and files on disk.
    Paths(Vec<PathBuf>),
    /// No local corpus: the run's evidence comes from other sources only (the web).
    None,
}

/// The corpora of a run, indexed and ready to search.
#[derive(Debug, Clone, Default, serde::Serialize, serde::Deserialize)]
pub struct Prepared {
    /// Corpus ids to scope retrieval to.
    pub scope: Vec<String>,
    pub documents: usize,
    pub indexed: usize,
    pub unchanged: usize,
    pub removed: usize,
    /// Files whose bytes were read (the others were trusted by their metadata or skipped).
    #[serde(default)]
    pub read: usize,
    pub skipped: Vec<Skipped>,
}

/// Files whose new metadata is written to the manifest at once.
const TOUCHED_BATCH: usize = 5_000;

/// Bring the index up to date with the corpora: new and changed files are extracted and indexed
/// as they come (nothing holds every document at once), files whose metadata has not changed
/// are not read (all are with `opts.rehash`), files gone from a corpus are removed. The index's
/// writer is taken only when something changed, so a warm run waits for no other writer.
pub fn prepare(
    store: &dyn SearchBackend,
    corpora: &Corpora,
    opts: &IngestOptions,
    progress: &Progress,
) -> Result<Prepared, RunError> {
    if *corpora == Corpora::None {
        return Ok(Prepared::default());
    }
    let stage = progress.stage("reading corpora");
    let mut out = Prepared::default();
    let mut indexer: Option<Box<dyn DocumentWriter + '_>> = None;
    let (known, present, scope): (HashMap<String, Known>, HashSet<String>, Vec<String>) =
        match corpora {
            Corpora::None => (HashMap::new(), HashSet::new(), Vec::new()),
            Corpora::Bundled => {
                let scope = vec![bundled::CORPUS_ID.to_string()];
                let known = store.known_in(&scope)?;
                let mut present = HashSet::new();
                for (id, bytes) in bundled::files() {
                    present.insert(id.clone());
                    let raw = crate::ingest::raw_hash(bytes);
                    if known.get(&id).is_some_and(|k| k.raw_hash == raw) {
                        out.unchanged += 1;
                        continue;
                    }
                    match bundled::document(&id, bytes) {
                        Ok(d) => {
                            open_indexer(store, &mut indexer)?.add(&d)?;
                            out.indexed += 1;
                        }
                        Err(why) => out.skipped.push(why.skipped(id)),
                    }
                }
                (known, present, scope)
            }
            Corpora::Paths(paths) => {
                let files = ingest::discover(paths)?;
                let present: HashSet<String> = files
                    .iter()
                    .map(|f| f.path.to_string_lossy().into_owned())
                    .collect();
                let mut scope: Vec<String> = files.iter().map(|f| f.corpus.clone()).collect();
                scope.sort();
                scope.dedup();
                if scope.is_empty() {
                    // discover() found no files at all: say which folder was empty.
                    let shown = paths.first().cloned().unwrap_or_default();
                    return Err(IngestError::NoDocuments(shown).into());
                }
                // Only this run's corpora are looked up: a warm run's cost follows its own
                // corpora, not the index's size. A file stored under another corpus (a folder
                // around it or inside it, named by an earlier run) is unknown here, so it is
                // stored again under this one: retrieval is scoped by corpus.
                let known = store.known_in(&scope)?;
                let corpus_of: HashMap<&str, &str> = files
                    .iter()
                    .map(|f| (f.path.to_str().unwrap_or_default(), f.corpus.as_str()))
                    .collect();
                let prior = |id: &str| {
                    known
                        .get(id)
                        .filter(|k| corpus_of.get(id).is_none_or(|c| *c == k.corpus))
                        .map(|k| Prior {
                            raw_hash: k.raw_hash.clone(),
                            file: k.file,
                        })
                };
                let mut touched = Vec::new();
                let started = std::time::Instant::now();
                let mut seen = 0usize;
                ingest::ingest_each(&files, opts, &prior, |outcome| -> Result<(), RunError> {
                    seen += 1;
                    if seen.is_multiple_of(200) {
                        stage.set(format!(
                            "read {}; {} indexed",
                            progress::share_and_eta(seen, files.len(), started.elapsed(), "files"),
                            out.indexed
                        ));
                    }
                    match outcome {
                        Outcome::Document(d) => {
                            open_indexer(store, &mut indexer)?.add(&d)?;
                            out.indexed += 1;
                            out.read += 1;
                        }
                        Outcome::Unchanged {
                            id,
                            read,
                            touched: t,
                        } => {
                            out.unchanged += 1;
                            out.read += usize::from(read);
                            if let Some(m) = t {
                                touched.push((id, m));
                                if touched.len() >= TOUCHED_BATCH {
                                    store.touch(std::mem::take(&mut touched))?;
                                }
                            }
                        }
                        Outcome::Skipped(s) => {
                            // Indexed once, unusable now (a Sphinx copy, grown too large):
                            // what the index holds of it would be stale.
                            if known.contains_key(&s.location) {
                                open_indexer(store, &mut indexer)?.remove(&s.location)?;
                                out.removed += 1;
                            }
                            out.skipped.push(s);
                        }
                    }
                    Ok(())
                })?;
                store.touch(touched)?;
                // Files finish in any order; a report lists what was skipped in path order.
                out.skipped.sort_by(|a, b| {
                    std::path::Path::new(&a.location).cmp(std::path::Path::new(&b.location))
                });
                if out.indexed == 0 && out.unchanged == 0 {
                    // Nothing committed: the writer (if any) is dropped with nothing in it.
                    return Err(IngestError::NoDocuments(ingest::root_of(&files)).into());
                }
                (known, present, scope)
            }
        };
    let gone: Vec<&String> = known
        .iter()
        .filter(|(id, k)| scope.contains(&k.corpus) && !present.contains(*id))
        .map(|(id, _)| id)
        .collect();
    for id in &gone {
        open_indexer(store, &mut indexer)?.remove(id)?;
    }
    out.removed += gone.len();
    if let Some(indexer) = indexer {
        stage.set(format!("committing {} documents", out.indexed));
        indexer.commit()?;
    }
    out.documents = out.indexed + out.unchanged;
    out.scope = scope;
    stage.done(format!(
        "{} documents ready ({} indexed, {} unchanged, {} skipped)",
        out.documents,
        out.indexed,
        out.unchanged,
        out.skipped.len()
    ));
    Ok(out)
}

/// What `research index verify` found.
#[derive(Debug, Clone, Default, PartialEq)]
pub struct Verified {
    pub checked: usize,
    /// Files whose bytes no longer hash as when they were indexed (sorted).
    pub changed: Vec<String>,
    /// Files indexed but gone (sorted).
    pub missing: Vec<String>,
}

/// Re-hash every indexed file (documents whose id is a path on disk) and compare with the hash
/// it was indexed with, whatever its metadata says: finds the edits a warm run trusts away.
/// Reads one file at a time per thread and changes nothing.
pub fn verify_files(store: &dyn SearchBackend) -> Result<Verified, RunError> {
    use rayon::prelude::*;
    let known = store.known_documents()?;
    let files: Vec<(&String, &Known)> = known
        .iter()
        .filter(|(id, _)| std::path::Path::new(id.as_str()).is_absolute())
        .collect();
    enum Check {
        Same,
        Changed(String),
        Missing(String),
    }
    let checks: Vec<Check> = files
        .par_iter()
        .map(|(id, k)| match std::fs::read(id.as_str()) {
            Ok(bytes) if crate::ingest::raw_hash(&bytes) == k.raw_hash => Check::Same,
            Ok(_) => Check::Changed((*id).clone()),
            Err(e) if e.kind() == std::io::ErrorKind::NotFound => Check::Missing((*id).clone()),
            // Unreadable now: it cannot be what was indexed either.
            Err(_) => Check::Changed((*id).clone()),
        })
        .collect();
    let mut v = Verified {
        checked: files.len(),
        ..Verified::default()
    };
    for c in checks {
        match c {
            Check::Same => {}
            Check::Changed(p) => v.changed.push(p),
            Check::Missing(p) => v.missing.push(p),
        }
    }
    v.changed.sort();
    v.missing.sort();
    Ok(v)
}

/// The run's one writing session, opened at its first change.
fn open_indexer<'a, 'b>(
    store: &'a dyn SearchBackend,
    slot: &'b mut Option<Box<dyn DocumentWriter + 'a>>,
) -> Result<&'b mut (dyn DocumentWriter + 'a), IndexError> {
    if slot.is_none() {
        *slot = Some(store.writer_session()?);
    }
    Ok(slot.as_deref_mut().expect("opened above"))
}

/// Everything one run needs besides the engine.
#[derive(Debug, Clone)]
pub struct RunConfig {
    pub question: String,
    pub corpora: Corpora,
    pub out_dir: PathBuf,
    pub policy: Policy,
    pub budget: AgentBudget,
    pub ingest: IngestOptions,
    /// Claims extracted at most (a model-backed extractor is capped here too).
    pub max_claims: usize,
    /// The run's journal: stages already journaled are answered from it, new ones recorded.
    pub journal: Option<Arc<RunJournal>>,
    /// Rounds and follow-up searches per round.
    pub depth: Depth,
}

pub struct RunOutcome {
    pub report: Report,
    pub written: Written,
}

/// What a run would cost, computed without any model call: the offline plan stands in for the
/// planner's, and gathering is local. Engines without accounting cost nothing.
pub async fn estimate(
    cfg: &RunConfig,
    engine: &Engine,
    store: Arc<dyn SearchBackend>,
    progress: &Progress,
) -> Result<Option<crate::artifact::Estimate>, RunError> {
    let Some(accounting) = engine.accounting.clone() else {
        return Ok(None);
    };
    if cfg.question.trim().is_empty() {
        return Err(PlanError::EmptyQuestion.into());
    }
    let prepared = tokio::task::block_in_place(|| {
        prepare(store.as_ref(), &cfg.corpora, &cfg.ingest, progress)
    })?;
    Ok(Some(
        estimate_prepared(cfg, engine, accounting.as_ref(), store, &prepared).await,
    ))
}

/// The estimate once the corpora are prepared (the run itself asks for it before its first
/// paid call, without preparing twice).
async fn estimate_prepared(
    cfg: &RunConfig,
    engine: &Engine,
    accounting: &dyn crate::engine::Accounting,
    store: Arc<dyn SearchBackend>,
    prepared: &Prepared,
) -> crate::artifact::Estimate {
    let plan = crate::engine::rough_plan(&cfg.question);
    // A web-only run has no corpus to gather from (an empty scope would mean every corpus).
    let sources: Vec<Arc<dyn Source>> = if cfg.corpora == Corpora::None {
        Vec::new()
    } else {
        vec![Arc::new(CorpusSource {
            retriever: Retriever::new(store, prepared.scope.clone()),
            meaning: None,
        })]
    };
    let gathered =
        gather::gather(&plan.sub_queries, &sources, cfg.budget, &Progress::hidden()).await;
    accounting.estimate(
        &plan,
        gathered.evidence.len(),
        cfg.max_claims,
        engine.reviewers.len(),
    )
}

/// Build the report in memory (no file written).
pub async fn research(
    cfg: &RunConfig,
    engine: &Engine,
    store: Arc<dyn SearchBackend>,
    progress: &Progress,
) -> Result<Report, RunError> {
    research_with(cfg, engine, store, progress, &[]).await
}

/// [`research`] with sources beside the local corpora (the web): their agents gather too, and
/// what they store is in the reviewers' retrieval scope.
pub async fn research_with(
    cfg: &RunConfig,
    engine: &Engine,
    store: Arc<dyn SearchBackend>,
    progress: &Progress,
    extra: &[Arc<dyn Source>],
) -> Result<Report, RunError> {
    let started = Instant::now();
    if cfg.corpora == Corpora::None && extra.is_empty() {
        return Err(IngestError::NoDocuments(PathBuf::new()).into());
    }
    cfg.policy.validate()?;
    if cfg.question.trim().is_empty() {
        return Err(PlanError::EmptyQuestion.into());
    }
    let journal = cfg.journal.as_deref();
    let prepared: Prepared = stage(journal, Key::Prepared, || async {
        tokio::task::block_in_place(|| prepare(store.as_ref(), &cfg.corpora, &cfg.ingest, progress))
    })
    .await?;
    // Before the first paid call: what the run is expected to cost.
    if let Some(accounting) = engine.accounting.clone() {
        progress.meter(Arc::clone(&accounting));
        let e = estimate_prepared(
            cfg,
            engine,
            accounting.as_ref(),
            Arc::clone(&store),
            &prepared,
        )
        .await;
        progress.note(&format!(
            "estimate: {} calls, {} input + {} output tokens, ${:.4}",
            e.calls, e.input_tokens, e.output_tokens, e.cost_usd
        ));
    }
    let corpus_retriever = Retriever::new(Arc::clone(&store), prepared.scope.clone());

    let spinner = progress.stage("planning");
    let plan: Plan = stage(journal, Key::Plan, || async {
        Ok(plan::plan(engine.planner.as_ref(), &cfg.question).await?)
    })
    .await?;
    spinner.done(format!("plan: {} sub-queries", plan.sub_queries.len()));

    let spinner = progress.stage("gathering");
    let mut sources: Vec<Arc<dyn Source>> = Vec::new();
    if cfg.corpora != Corpora::None {
        sources.push(Arc::new(CorpusSource {
            retriever: corpus_retriever,
            meaning: engine.meaning.clone(),
        }));
    }
    sources.extend(extra.iter().cloned());
    let gathered: gather::GatherOutcome = stage(journal, Key::Gather, || async {
        Ok(gather::gather(&plan.sub_queries, &sources, cfg.budget, progress).await)
    })
    .await?;
    spinner.done(format!(
        "{} passages from {} agents{}",
        gathered.evidence.len(),
        gathered.agents,
        if gathered.failures.is_empty() {
            String::new()
        } else {
            format!(" ({} failed)", gathered.failures.len())
        }
    ));

    // Reviewers search the corpora and what the other sources brought into this run (not
    // pages an earlier run stored).
    let retriever = Retriever::new(Arc::clone(&store), prepared.scope.clone())
        .with_documents(gathered.brought.clone());

    let spinner = progress.stage("extracting claims");
    let extracted: claims::ClaimsOutcome = stage(journal, Key::Claims, || async {
        Ok(claims::extract(
            engine.extractor.as_ref(),
            store.as_ref(),
            &plan.question,
            &plan,
            &gathered.evidence,
        )
        .await?)
    })
    .await?;
    spinner.done(format!("{} claims", extracted.claims.len()));

    let spinner = progress.stage(&format!(
        "{} reviewers voting on {} claims",
        engine.reviewers.len(),
        extracted.claims.len()
    ));
    let task = ReviewTask::new(
        Purpose::Question(plan.question.clone()),
        extracted.claims.clone(),
        retriever,
    );
    let reviewed = review::review_journaled(
        &engine.reviewers,
        &cfg.policy,
        &task,
        review::Ballot::round(1),
        journal,
        progress,
    )
    .await?;
    if let Some(j) = journal.filter(|j| j.interrupted()) {
        return Err(RunError::Interrupted(j.id.clone()));
    }
    spinner.done(format!(
        "{} kept of {}",
        reviewed
            .iter()
            .filter(|r| r.verdict.status == Status::Kept)
            .count(),
        reviewed.len()
    ));

    let deeper = rounds::deepen(
        cfg,
        engine,
        &store,
        &prepared.scope,
        &sources,
        rounds::State {
            seen: gathered
                .evidence
                .iter()
                .map(|e| e.hit.passage.key())
                .collect(),
            brought: gathered.brought.clone(),
            plan,
            reviewed,
            trail: Vec::new(),
            passages: 0,
            claims_considered: 0,
            quotes_failed: 0,
        },
        progress,
    )
    .await?;
    if let Some(j) = journal.filter(|j| j.interrupted()) {
        return Err(RunError::Interrupted(j.id.clone()));
    }
    let (plan, reviewed) = (deeper.plan, deeper.reviewed);
    let kept: Vec<_> = reviewed
        .iter()
        .filter(|r| r.verdict.status == Status::Kept)
        .cloned()
        .collect();

    // Findings are the kept claims about what the question is about; the rest are listed
    // apart. Rarity is read where the reviewers searched.
    let searched = Retriever::new(Arc::clone(&store), prepared.scope.clone())
        .with_documents(gathered.brought.clone());
    let (kept, aside) =
        crate::relevance::Subject::new(&plan.question, &plan.subject, |s| searched.idf(s))
            .split(&kept);
    // Keyed by the kept claims, so a replay under another policy writes afresh.
    let kept_ids: Vec<&str> = kept.iter().map(|r| r.claim.id.as_str()).collect();
    let kept_digest = Key::digest(&kept_ids.join(","));
    let answer: crate::artifact::Answer =
        stage(journal, Key::Answer(kept_digest.clone()), || async {
            Ok(match engine.writer.answer(&plan.question, &kept).await {
                Ok(a) => a,
                Err(e) => {
                    progress.note(&format!("writer failed on the answer ({e}); findings only"));
                    crate::artifact::Answer::default()
                }
            })
        })
        .await?;
    let key = Key::Sections(kept_digest);
    let sections: Vec<crate::artifact::Section> = stage(journal, key, || async {
        Ok(
            match engine.writer.write(&plan.question, &plan, &kept).await {
                Ok(s) => s,
                Err(e) => {
                    progress.note(&format!(
                        "writer failed ({e}); findings listed without prose"
                    ));
                    Vec::new()
                }
            },
        )
    })
    .await?;
    let mut skipped = prepared.skipped;
    skipped.extend(gathered.skipped.iter().cloned());
    skipped.extend(
        gathered
            .failures
            .iter()
            .map(|f| Skipped::new("gather", "agent", f.clone())),
    );
    let mut report = Report {
        title: title(&plan.question),
        question: plan.question.clone(),
        engine: engine.name.clone(),
        created: chrono::Utc::now().format("%Y-%m-%d %H:%M UTC").to_string(),
        plan,
        answer,
        sections,
        reviewed,
        policy: cfg.policy.clone(),
        skipped,
        stats: RunStats {
            documents: prepared.documents
                + gathered.documents_indexed
                + gathered.documents_unchanged,
            documents_indexed: prepared.indexed + gathered.documents_indexed,
            documents_unchanged: prepared.unchanged + gathered.documents_unchanged,
            passages_gathered: gathered.evidence.len() + deeper.passages,
            claims_considered: extracted.claims.len()
                + extracted.quotes_failed
                + deeper.claims_considered,
            quotes_failed: extracted.quotes_failed + deeper.quotes_failed,
            sample_corpus: cfg.corpora == Corpora::Bundled,
            ..RunStats::default()
        },
        notes: engine.notes.all(),
        spend: engine.accounting.as_ref().map(|a| a.spend()),
        prompts: engine.prompt_hashes.clone(),
        trail: deeper.trail,
        aside: aside.iter().map(|r| r.claim.id.clone()).collect(),
    };
    report::recheck_quotes(&mut report, store.as_ref())?;
    report.stats.elapsed_ms = started.elapsed().as_millis() as u64;
    Ok(report)
}

/// Run the pipeline and write the report files.
pub async fn run(
    cfg: &RunConfig,
    engine: &Engine,
    store: Arc<dyn SearchBackend>,
    progress: &Progress,
) -> Result<RunOutcome, RunError> {
    run_with(cfg, engine, store, progress, &[]).await
}

/// [`run`] with sources beside the local corpora (see [`research_with`]).
pub async fn run_with(
    cfg: &RunConfig,
    engine: &Engine,
    store: Arc<dyn SearchBackend>,
    progress: &Progress,
    extra: &[Arc<dyn Source>],
) -> Result<RunOutcome, RunError> {
    let report = research_with(cfg, engine, store, progress, extra).await?;
    let written = finish(&report, &cfg.out_dir, cfg.journal.as_deref()).await?;
    Ok(RunOutcome { report, written })
}

/// Write the question report's set (see [`write_report`]).
async fn finish(
    report: &Report,
    out_dir: &std::path::Path,
    journal: Option<&RunJournal>,
) -> Result<Written, RunError> {
    let stem = report::file_stem(
        &report.question,
        &chrono::Utc::now().format("%Y-%m-%d").to_string(),
    );
    write_report(journal, out_dir, &|| report::render(report, out_dir, &stem)).await
}

/// [`write_report`] for a report its command rendered to Markdown itself (check-plan, digest):
/// `md` is checked against the `sources` it cites, the HTML made, the set written.
#[allow(clippy::too_many_arguments)]
pub async fn write_rendered_report(
    journal: Option<&RunJournal>,
    out_dir: &std::path::Path,
    md: &str,
    sources: &[crate::artifact::Citation],
    title: &str,
    audit: &str,
    stem: &str,
) -> Result<Written, RunError> {
    write_report(journal, out_dir, &|| {
        report::render_checked(md.into(), sources, title, audit.into(), out_dir, stem)
    })
    .await
}

/// The one way every command writes its report set. `render` renders and self-checks it under
/// the first free name; the rendered set and that name are journaled before any file appears,
/// and each file as it is put in place, so a run killed while writing resumes to the same name
/// with the same bytes, finishing the set instead of starting a `-2` beside it.
pub async fn write_report(
    journal: Option<&RunJournal>,
    out_dir: &std::path::Path,
    render: &(dyn Fn() -> Result<report::Rendered, ReportError> + Sync),
) -> Result<Written, RunError> {
    // A replay writes a new report of its own: the journaled set is the original run's.
    let journal = journal.filter(|j| !j.is_replay());
    let mut rendered: report::Rendered =
        stage(journal, Key::Report, || async { Ok(render()?) }).await?;
    loop {
        let mut placed = |p: &std::path::Path| {
            if let Some(j) = journal {
                let name = p.file_name().unwrap_or_default().to_string_lossy();
                // Bookkeeping for the kill harness and `research runs show`; the files are
                // the truth.
                let _ = j.record(&Key::ReportFile(name.into_owned()), &true);
            }
        };
        match report::write_set(&rendered, out_dir, &mut placed) {
            // Someone else's file took the name since: rendered again under the next free one
            // (a report's own links do not name its file, so only the name changes).
            Err(ReportError::Taken(_)) => rendered = render()?,
            other => return Ok(other?),
        }
    }
}

fn title(question: &str) -> String {
    let q = question.trim().trim_end_matches('?');
    if q.chars().count() <= 100 {
        return q.to_string();
    }
    let cut: String = q.chars().take(100).collect();
    match cut.rfind(' ') {
        Some(i) => format!("{}…", &cut[..i]),
        None => format!("{cut}…"),
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::index::{SearchRequest, Store};

    #[test]
    fn a_folder_named_after_a_folder_inside_it_finds_the_inner_files() {
        let dir = tempfile::tempdir().unwrap();
        let root = dir.path().join("docs");
        std::fs::create_dir_all(root.join("sqlite")).unwrap();
        std::fs::write(
            root.join("sqlite/wal.md"),
            "# WAL\n\nCheckpoints move pages from the write-ahead log into the database.\n",
        )
        .unwrap();
        std::fs::write(root.join("other.md"), "# Other\n\nNothing about logs.\n").unwrap();
        let store = Store::open(&dir.path().join("index")).unwrap();
        let opts = IngestOptions::default();
        let hidden = Progress::hidden();
        let inner = prepare(
            &store,
            &Corpora::Paths(vec![root.join("sqlite")]),
            &opts,
            &hidden,
        );
        assert_eq!(inner.unwrap().indexed, 1);
        let outer = prepare(&store, &Corpora::Paths(vec![root.clone()]), &opts, &hidden).unwrap();
        let finds_wal = |scope: Vec<String>| {
            store
                .search(&SearchRequest {
                    text: "checkpoints write-ahead log".into(),
                    corpora: scope,
                    limit: 5,
                    ..SearchRequest::default()
                })
                .unwrap()
                .iter()
                .any(|h| h.location.ends_with("wal.md"))
        };
        assert!(finds_wal(outer.scope), "the outer folder finds it");
        let inner = prepare(
            &store,
            &Corpora::Paths(vec![root.join("sqlite")]),
            &opts,
            &hidden,
        );
        assert!(finds_wal(inner.unwrap().scope), "and the inner one again");
    }

    /// Sets a file's modification time to `secs` after the epoch (well in the past, so the
    /// metadata is trusted).
    fn set_mtime(path: &std::path::Path, secs: u64) {
        let t = std::time::UNIX_EPOCH + std::time::Duration::from_secs(secs);
        std::fs::File::options()
            .write(true)
            .open(path)
            .unwrap()
            .set_modified(t)
            .unwrap();
    }

    struct Warm {
        _dir: tempfile::TempDir,
        root: PathBuf,
        store: Store,
    }

    impl Warm {
        /// Three files, indexed once.
        fn new() -> Warm {
            let dir = tempfile::tempdir().unwrap();
            let root = dir.path().join("docs");
            std::fs::create_dir_all(&root).unwrap();
            for (name, body) in [
                ("a.md", "# A\n\nCheckpoints flush dirty pages to disk.\n"),
                ("b.md", "# B\n\nReplication slots retain write-ahead log.\n"),
                ("c.md", "# C\n\nVacuum reclaims storage of dead tuples.\n"),
            ] {
                std::fs::write(root.join(name), body).unwrap();
                set_mtime(&root.join(name), 1_600_000_000);
            }
            let store = Store::open(&dir.path().join("index")).unwrap();
            let w = Warm {
                _dir: dir,
                root,
                store,
            };
            let first = w.prepare(false);
            assert_eq!((first.indexed, first.read), (3, 3));
            w
        }

        fn prepare(&self, rehash: bool) -> Prepared {
            let opts = IngestOptions {
                rehash,
                ..IngestOptions::default()
            };
            prepare(
                &self.store,
                &Corpora::Paths(vec![self.root.clone()]),
                &opts,
                &Progress::hidden(),
            )
            .unwrap()
        }

        fn finds(&self, text: &str) -> bool {
            !self
                .store
                .search(&SearchRequest {
                    text: text.into(),
                    limit: 5,
                    ..SearchRequest::default()
                })
                .unwrap()
                .is_empty()
        }
    }

    #[test]
    fn a_warm_run_reads_no_unchanged_file() {
        let w = Warm::new();
        let again = w.prepare(false);
        assert_eq!((again.read, again.indexed, again.unchanged), (0, 0, 3));
        // The same with the index opened afresh: the metadata is on disk.
        let store = Store::open(w.store.dir()).unwrap();
        let known = store.known_documents().unwrap();
        assert!(known.values().all(|k| k.file.is_some()), "{known:?}");
    }

    #[test]
    fn a_touched_file_is_read_again_and_then_trusted() {
        let w = Warm::new();
        set_mtime(&w.root.join("b.md"), 1_700_000_000);
        let touched = w.prepare(false);
        // Read, found the same, not indexed again.
        assert_eq!(
            (touched.read, touched.indexed, touched.unchanged),
            (1, 0, 3)
        );
        let after = w.prepare(false);
        assert_eq!(after.read, 0, "its new metadata was remembered");
    }

    #[test]
    fn an_edited_file_is_indexed_again() {
        let w = Warm::new();
        std::fs::write(
            w.root.join("c.md"),
            "# C\n\nAutovacuum launches workers for busy tables.\n",
        )
        .unwrap();
        set_mtime(&w.root.join("c.md"), 1_700_000_000);
        let p = w.prepare(false);
        assert_eq!((p.read, p.indexed, p.unchanged), (1, 1, 2));
        assert!(w.finds("autovacuum workers"));
        assert!(!w.finds("dead tuples"));
    }

    #[test]
    fn a_deleted_file_leaves_the_index() {
        let w = Warm::new();
        std::fs::remove_file(w.root.join("a.md")).unwrap();
        let p = w.prepare(false);
        assert_eq!((p.removed, p.documents, p.read), (1, 2, 0));
        assert!(!w.finds("checkpoints dirty pages"));
        let known = w.store.known_documents().unwrap();
        assert!(known.keys().all(|id| !id.ends_with("a.md")), "{known:?}");
        assert_eq!(w.store.stats().unwrap().corpora[0].1, 2);
    }

    #[test]
    fn a_file_that_became_unusable_leaves_the_index() {
        let w = Warm::new();
        // Grown past the size limit: the version indexed earlier would be stale.
        let big = format!("# C\n\n{}\n", "Vacuum reclaims storage. ".repeat(100));
        std::fs::write(w.root.join("c.md"), big).unwrap();
        let opts = IngestOptions {
            max_file_bytes: 1_000,
            ..IngestOptions::default()
        };
        let p = prepare(
            &w.store,
            &Corpora::Paths(vec![w.root.clone()]),
            &opts,
            &Progress::hidden(),
        )
        .unwrap();
        assert_eq!((p.removed, p.documents, p.skipped.len()), (1, 2, 1));
        assert!(!w.finds("dead tuples"));
        assert_eq!(w.store.stats().unwrap().corpora[0].1, 2);
    }

    #[test]
    fn rehash_catches_an_edit_that_kept_size_and_mtime() {
        let w = Warm::new();
        let path = w.root.join("b.md");
        let before = std::fs::metadata(&path).unwrap();
        // Same length, same mtime, same inode (written in place): the metadata cannot tell.
        std::fs::write(&path, "# B\n\nReplication slots retain archived segment\n").unwrap();
        assert_eq!(std::fs::metadata(&path).unwrap().len(), before.len());
        set_mtime(&path, 1_600_000_000);
        let trusted = w.prepare(false);
        assert_eq!((trusted.read, trusted.indexed), (0, 0));
        assert!(
            !w.finds("archived segment"),
            "a warm run trusts the metadata"
        );
        let v = verify_files(&w.store).unwrap();
        assert_eq!(v.checked, 3);
        assert_eq!(v.changed.len(), 1);
        assert!(v.changed[0].ends_with("b.md"), "{v:?}");
        let rehashed = w.prepare(true);
        assert_eq!(
            (rehashed.read, rehashed.indexed, rehashed.unchanged),
            (3, 1, 2)
        );
        assert!(w.finds("archived segment"));
        assert_eq!(
            verify_files(&w.store).unwrap().changed,
            Vec::<String>::new()
        );
    }

    #[test]
    fn a_file_modified_just_now_is_read_again_next_time() {
        let w = Warm::new();
        // Its mtime is now: an edit within the same tick could keep size and mtime.
        std::fs::write(w.root.join("a.md"), "# A\n\nCheckpoints spread writes.\n").unwrap();
        assert_eq!(w.prepare(false).indexed, 1);
        let next = w.prepare(false);
        assert_eq!((next.read, next.indexed), (1, 0));
    }
}
