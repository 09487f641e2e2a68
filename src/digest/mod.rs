//! `research digest`: a literature digest of what feeds published since the last digest.
//!
//! Feeds ([`config`]: RSS 2.0, RSS 1.0, Atom URLs or local files, and arXiv queries) are read,
//! their entries ([`feeds`]) deduplicated across feeds (by canonical link) and by content hash,
//! and compared with the digest's [`state`]: an item already in an earlier digest is skipped,
//! one whose content changed comes back as updated. Each new item is indexed (title and
//! summary), the article or PDF it links to is fetched through the hardened web fetcher
//! (robots.txt, the SSRF guard, size caps) and indexed too, its key claims are extracted with
//! their verbatim quotes, and the item is committed to the state at once: a digest killed
//! midway, run again, resumes its run without fetching finished items again. Then the panel
//! votes on every claim, the previous digest's kept claims are reviewed again against the new
//! items (what is contradicted now), and `digest-<date>.md` (+ `.html`, `.json`) is written.
//!
//! Made for cron and systemd: an exclusive lock (`digest.lock` in the index folder) so two
//! digests never overlap, a log file, and exit codes: 0 written, 1 error, 2 usage, 3 nothing new
//! (no digest written), 75 (EX_TEMPFAIL) when another digest holds the lock or no feed could be
//! read at all.

pub mod config;
pub mod feeds;
pub mod state;

pub use config::{ConfigError, Feed, FeedSource, FeedsConfig, Topic};
pub use feeds::FeedItem;
pub use state::{Entry, ItemRecord, State, StateError};

use crate::artifact::{
    Angle as PlanAngle, Citation, Claim, Evidence, Format, Plan, Reviewed, Skipped, Stance, Status,
    SubQuery,
};
use crate::claims;
use crate::engine::{Engine, Extractor, Purpose, Retriever, ReviewTask};
use crate::index::{IndexError, SearchBackend, SearchRequest};
use crate::ingest::IngestOptions;
use crate::journal::RunJournal;
use crate::pipeline::{self, Corpora, RunError};
use crate::progress::Progress;
use crate::quote::QuoteChecker;
use crate::report::{self, esc, ReportError, Written};
use crate::review::{self, Policy, PolicyError};
use crate::text;
use crate::web::fetch::{FetchOptions, Fetcher};
use crate::web::search::{SearchError, SearchProvider, SearchResult};
use crate::web::{WebOptions, WebSetupError, WebSource, WEB_CORPUS};
use chrono::{DateTime, NaiveDate, Utc};
use serde::{Deserialize, Serialize};
use std::collections::{BTreeMap, BTreeSet, HashMap, HashSet};
use std::fmt::Write as _;
use std::io::Write as _;
use std::path::{Path, PathBuf};
use std::sync::Arc;
use std::time::{Duration, Instant};

/// The corpus id of feed items in the index.
pub const FEEDS_CORPUS: &str = "feeds";
/// The lock file in the index folder.
pub const LOCK_FILE: &str = "digest.lock";
/// Exit code of a digest that could not run now but may later (EX_TEMPFAIL).
pub const EXIT_TEMPFAIL: u8 = 75;
/// Exit code of a digest that found nothing new: no digest is written, and the run is not
/// counted as a digest.
pub const EXIT_NOTHING_NEW: u8 = 3;
/// Largest local feed file read.
const MAX_FEED_FILE: u64 = 20 * 1024 * 1024;

/// Which items count as new.
#[derive(Debug, Clone, Copy, PartialEq, Default, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum Since {
    #[default]
    /// Items no earlier digest recorded.
    Last,
    /// Items published or updated at or after this time (and not already recorded unchanged).
    Date(DateTime<Utc>),
}

/// `last`, a date (`2026-11-01`) or a time (RFC 3339).
pub fn parse_since(s: &str) -> Result<Since, String> {
    let s = s.trim();
    if s.eq_ignore_ascii_case("last") {
        return Ok(Since::Last);
    }
    if let Ok(d) = NaiveDate::parse_from_str(s, "%Y-%m-%d") {
        if let Some(t) = d.and_hms_opt(0, 0, 0) {
            return Ok(Since::Date(t.and_utc()));
        }
    }
    if let Ok(t) = DateTime::parse_from_rfc3339(s) {
        return Ok(Since::Date(t.with_timezone(&Utc)));
    }
    Err(format!(
        "{s:?} is neither `last` nor a date like 2026-11-01 (or 2026-11-01T06:00:00Z)"
    ))
}

#[derive(Debug, thiserror::Error)]
pub enum DigestError {
    #[error(transparent)]
    Config(#[from] ConfigError),
    #[error("another digest is running (lock {path} held{holder}); try again later")]
    Locked { path: String, holder: String },
    #[error("cannot take the digest lock {path}: {detail}")]
    Lock { path: String, detail: String },
    #[error("no feed could be read ({count} failed; first: {first}); nothing was written, try again later")]
    AllFeedsFailed { count: usize, first: String },
    #[error(
        "nothing new since the previous digest ({seen} items seen{skipped}); no digest written"
    )]
    NothingNew { seen: usize, skipped: String },
    #[error("cannot write the log {path}: {detail}")]
    Log { path: String, detail: String },
    #[error(transparent)]
    State(#[from] StateError),
    #[error(transparent)]
    Run(#[from] RunError),
    #[error(transparent)]
    Index(#[from] IndexError),
    #[error(transparent)]
    Report(#[from] ReportError),
    #[error(transparent)]
    Policy(#[from] PolicyError),
    #[error("{0}")]
    Web(#[from] WebSetupError),
}

impl DigestError {
    /// Worth trying again later without changing anything (cron and systemd: exit 75).
    pub fn is_temporary(&self) -> bool {
        matches!(
            self,
            DigestError::Locked { .. } | DigestError::AllFeedsFailed { .. }
        )
    }
}

/// The exclusive lock of one digest; released when dropped (or when the process dies).
pub struct DigestLock {
    _file: std::fs::File,
    pub path: PathBuf,
}

/// Take `digest.lock` in `dir`, or say who holds it.
pub fn lock(dir: &Path) -> Result<DigestLock, DigestError> {
    use fs4::fs_std::FileExt;
    let path = dir.join(LOCK_FILE);
    let shown = path.display().to_string();
    let file = std::fs::OpenOptions::new()
        .read(true)
        .write(true)
        .create(true)
        .truncate(false)
        .open(&path)
        .map_err(|e| DigestError::Lock {
            path: shown.clone(),
            detail: e.to_string(),
        })?;
    let busy = |file: &std::fs::File| {
        let holder = std::fs::read_to_string(&path)
            .ok()
            .map(|s| s.trim().to_string())
            .filter(|s| !s.is_empty() && s.chars().all(|c| c.is_ascii_digit()))
            .map(|pid| format!(" by process {pid}"))
            .unwrap_or_default();
        let _ = file;
        DigestError::Locked {
            path: shown.clone(),
            holder,
        }
    };
    match FileExt::try_lock_exclusive(&file) {
        Ok(true) => {}
        Ok(false) => return Err(busy(&file)),
        Err(e) if e.kind() == std::io::ErrorKind::WouldBlock => return Err(busy(&file)),
        Err(e) => {
            return Err(DigestError::Lock {
                path: shown,
                detail: e.to_string(),
            })
        }
    }
    // Who holds it, for the message a second digest prints.
    let _ = file.set_len(0);
    let _ = (&file).write_all(std::process::id().to_string().as_bytes());
    let _ = file.sync_all();
    Ok(DigestLock { _file: file, path })
}

/// The digest's log: one line per run and per feed error, appended, never on stdout.
#[derive(Debug, Clone)]
pub struct Log {
    pub path: PathBuf,
}

impl Log {
    /// Open (create) the log; an unwritable log is an error before anything is done.
    pub fn open(path: &Path) -> Result<Log, DigestError> {
        let err = |e: std::io::Error| DigestError::Log {
            path: path.display().to_string(),
            detail: e.to_string(),
        };
        if let Some(parent) = path.parent().filter(|p| !p.as_os_str().is_empty()) {
            std::fs::create_dir_all(parent).map_err(err)?;
        }
        std::fs::OpenOptions::new()
            .create(true)
            .append(true)
            .open(path)
            .map_err(err)?;
        Ok(Log {
            path: path.to_path_buf(),
        })
    }

    /// Append one line (newlines in `message` are flattened). A failed write is ignored: the
    /// log never stops a digest.
    pub fn line(&self, message: &str) {
        let line = format!(
            "{} digest[{}] {}\n",
            Utc::now().to_rfc3339_opts(chrono::SecondsFormat::Secs, true),
            std::process::id(),
            text::squash_whitespace(message)
        );
        if let Ok(mut f) = std::fs::OpenOptions::new()
            .create(true)
            .append(true)
            .open(&self.path)
        {
            let _ = f.write_all(line.as_bytes());
        }
    }
}

/// Everything one digest needs besides the engine.
#[derive(Debug, Clone)]
pub struct DigestConfig {
    pub feeds: FeedsConfig,
    pub since: Since,
    pub out_dir: PathBuf,
    pub policy: Policy,
    /// Local corpora whose passages may also confirm or contradict claims.
    pub corpora: Corpora,
    pub ingest: IngestOptions,
    /// Fetch the article (or PDF) each item links to.
    pub fetch_articles: bool,
    pub fetch: FetchOptions,
    /// Articles fetched at most in one digest.
    pub max_articles: usize,
    /// Key claims taken from each item.
    pub claims_per_item: usize,
    /// The run's journal: a stop request ends the digest between two items (the items
    /// recorded so far are not fetched again), and the report set is written through it.
    pub journal: Option<Arc<RunJournal>>,
}

/// A feed as this digest read it.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct FeedStatus {
    pub name: String,
    pub location: String,
    /// RSS 2.0, RSS 1.0, Atom...
    pub format: Option<String>,
    pub items: usize,
    /// Why it could not be read.
    pub error: Option<String>,
}

/// One item of the digest with the panel's verdicts on its claims.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct DigestItem {
    pub record: ItemRecord,
    pub entry: Entry,
    pub reviewed: Vec<Reviewed>,
}

/// A claim of an earlier digest that a newer item contradicts.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Contradiction {
    pub item_title: String,
    pub reviewed: Reviewed,
}

#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
pub struct Changes {
    /// The previous digest: its run and when it started.
    pub previous: Option<(i64, String)>,
    pub new_topics: Vec<String>,
    /// Keys of items that came back with new content.
    pub updated: Vec<String>,
    pub contradicted: Vec<Contradiction>,
}

#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
pub struct DigestCounts {
    /// Entries read from the feeds this time.
    pub seen: usize,
    pub new: usize,
    pub updated: usize,
    /// Items this run had already recorded before it was interrupted.
    pub resumed: usize,
    /// Entries not digested, by reason.
    pub skipped: BTreeMap<String, usize>,
    pub feeds: usize,
    pub feed_errors: usize,
    pub articles_fetched: usize,
    pub articles_not_fetched: usize,
    pub claims: usize,
    pub kept: usize,
    /// Kept claims no source but their own sentence states.
    #[serde(default)]
    pub single_source: usize,
    pub disputed: usize,
    pub dropped: usize,
    pub unverified: usize,
    pub quotes_failed: usize,
    pub elapsed_ms: u64,
}

/// Everything the digest files are made from (the `.json` audit is this, serialised).
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct DigestReport {
    pub title: String,
    pub created: String,
    pub engine: String,
    pub run: i64,
    /// When the run was started before, if it is a resumed run.
    pub resumed_from: Option<String>,
    /// What "new" meant: the previous digest, or a date.
    pub since: String,
    pub feeds: Vec<FeedStatus>,
    /// Topic name -> (title, keys of its items in digest order).
    pub topics: Vec<(String, String, Vec<String>)>,
    pub items: Vec<DigestItem>,
    pub changes: Changes,
    pub counts: DigestCounts,
    pub policy: Policy,
    /// Articles that could not be fetched, with the reason.
    pub skipped: Vec<Skipped>,
}

pub struct DigestOutcome {
    pub report: DigestReport,
    pub written: Written,
}

/// A search provider that finds nothing: the digest's web source only fetches the links it is
/// given.
struct NoSearch;

#[async_trait::async_trait]
impl SearchProvider for NoSearch {
    fn name(&self) -> String {
        "none".into()
    }
    async fn search(
        &self,
        _fetcher: &Fetcher,
        _query: &str,
        _limit: usize,
    ) -> Result<Vec<SearchResult>, SearchError> {
        Ok(Vec::new())
    }
}

/// Read one feed: a URL through the fetcher (the feed URL is the user's configuration, like a
/// search endpoint), a local file, or an arXiv query.
async fn read_feed(feed: &Feed, fetcher: &Fetcher) -> Result<feeds::Parsed, String> {
    let (bytes, base) = match &feed.source {
        FeedSource::Url(url) | FeedSource::Arxiv { url, .. } => {
            let noop = |b: reqwest::RequestBuilder| b;
            let body = fetcher
                .api(url, reqwest::Method::GET, &noop)
                .await
                .map_err(|e| e.reason())?;
            (body, Some(url.to_string()))
        }
        FeedSource::Path(path) => {
            let meta = std::fs::metadata(path).map_err(|e| format!("unreadable: {e}"))?;
            if meta.len() > MAX_FEED_FILE {
                return Err(format!(
                    "too-large: {} bytes, more than the {MAX_FEED_FILE}-byte cap",
                    meta.len()
                ));
            }
            (
                std::fs::read(path).map_err(|e| format!("unreadable: {e}"))?,
                None,
            )
        }
    };
    let feed = feed.clone();
    tokio::task::spawn_blocking(move || feeds::parse(&bytes, &feed, base.as_deref()))
        .await
        .map_err(|e| format!("not a feed: the parser failed ({e})"))?
}

/// Read every feed: ordinary feeds side by side, arXiv queries one after another 3 s apart (as
/// arXiv asks of API users).
async fn read_feeds(
    list: &[Feed],
    fetcher: &Fetcher,
) -> Vec<(Feed, Result<feeds::Parsed, String>)> {
    let mut out: Vec<Option<Result<feeds::Parsed, String>>> = vec![None; list.len()];
    let plain: Vec<usize> = (0..list.len()).filter(|i| !list[*i].is_arxiv()).collect();
    let results = join_all(
        plain
            .iter()
            .map(|&i| read_feed(&list[i], fetcher))
            .collect(),
    )
    .await;
    for (i, r) in plain.into_iter().zip(results) {
        out[i] = Some(r);
    }
    let mut first = true;
    for (i, f) in list.iter().enumerate().filter(|(_, f)| f.is_arxiv()) {
        if !first {
            tokio::time::sleep(Duration::from_secs(3)).await;
        }
        first = false;
        out[i] = Some(read_feed(f, fetcher).await);
    }
    list.iter()
        .cloned()
        .zip(
            out.into_iter()
                .map(|r| r.unwrap_or_else(|| Err("not read".into()))),
        )
        .collect()
}

/// Await futures side by side, results in order.
async fn join_all<F: std::future::Future>(futs: Vec<F>) -> Vec<F::Output> {
    let mut pinned: Vec<std::pin::Pin<Box<F>>> = futs.into_iter().map(Box::pin).collect();
    let mut done: Vec<Option<F::Output>> = (0..pinned.len()).map(|_| None).collect();
    std::future::poll_fn(|cx| {
        let mut pending = false;
        for (i, f) in pinned.iter_mut().enumerate() {
            if done[i].is_none() {
                match f.as_mut().poll(cx) {
                    std::task::Poll::Ready(v) => done[i] = Some(v),
                    std::task::Poll::Pending => pending = true,
                }
            }
        }
        if pending {
            std::task::Poll::Pending
        } else {
            std::task::Poll::Ready(())
        }
    })
    .await;
    done.into_iter().flatten().collect()
}

/// The topics an item belongs to: its feed's, and every topic one of whose keywords (all its
/// words) the item's title, summary or categories contain.
pub fn topics_of(item: &FeedItem, feed_topics: &[String], topics: &[Topic]) -> Vec<String> {
    let mut out: Vec<String> = feed_topics.to_vec();
    let haystack = format!(
        "{} {} {}",
        item.title,
        item.summary,
        item.categories.join(" ")
    );
    let stems: HashSet<String> = text::content_stems(&haystack).into_iter().collect();
    for t in topics {
        let hit = t.keywords.iter().any(|k| {
            let ks = text::content_stems(k);
            !ks.is_empty() && ks.iter().all(|s| stems.contains(s))
        });
        if hit && !out.contains(&t.name) {
            out.push(t.name.clone());
        }
    }
    out
}

/// The item's own document: title, then summary, then authors and categories (plain text).
fn item_document(item: &FeedItem) -> Result<crate::artifact::Document, crate::ingest::Unusable> {
    let mut body = format!("{}\n\n{}\n", item.title.trim(), item.summary.trim());
    if !item.authors.is_empty() {
        let _ = write!(body, "\nAuthors: {}\n", item.authors.join(", "));
    }
    let id = format!("feed:{}", item.key);
    let location = item.link.clone().unwrap_or_else(|| id.clone());
    let mut doc = crate::ingest::document_from_bytes(
        &id,
        &location,
        FEEDS_CORPUS,
        Format::Text,
        body.as_bytes(),
        None,
    )?;
    if !item.title.trim().is_empty() {
        doc.title = item.title.trim().to_string();
    }
    // Read from the feed, not fetched from its link: only a fetched article says "fetched".
    doc.fetched = None;
    Ok(doc)
}

/// Key claims of an item, from the engine's extractor: statements of its summary and article
/// that speak of what its title and summary speak of, each with a quote checked against the
/// stored text. At most `n`, best first.
async fn item_claims(
    extractor: &dyn Extractor,
    item: &FeedItem,
    doc_ids: &[String],
    store: &Arc<dyn SearchBackend>,
    n: usize,
) -> Vec<Claim> {
    let summary_words: Vec<&str> = item.summary.split_whitespace().take(40).collect();
    let question = format!("{} {}", item.title, summary_words.join(" "));
    let request = SearchRequest {
        text: question.clone(),
        doc_ids: doc_ids.to_vec(),
        limit: 24,
        ..Default::default()
    };
    let searched = Arc::clone(store);
    let hits = tokio::task::spawn_blocking(move || searched.search(&request).unwrap_or_default())
        .await
        .unwrap_or_default();
    let plan = Plan {
        subject: Vec::new(),
        question: question.clone(),
        sub_queries: vec![SubQuery {
            id: 0,
            angle: PlanAngle::Question,
            label: item.title.clone(),
            query: question.clone(),
        }],
    };
    let evidence: Vec<Evidence> = hits.into_iter().map(|hit| Evidence::new(0, hit)).collect();
    // An item the extractor fails on has no key claims; the digest still lists it.
    let extracted = claims::extract(extractor, store.as_ref(), &question, &plan, &evidence)
        .await
        .unwrap_or_default();
    let tag = &blake3::hash(item.key.as_bytes()).to_hex()[..8];
    // A title (the item's, or its article's) names what the item is about; it claims nothing.
    let plain = |s: &str| {
        text::squash_whitespace(s)
            .trim_end_matches(['.', ':', '!'])
            .to_lowercase()
    };
    let is_title = |c: &Claim| {
        let said = plain(&c.text);
        said == plain(&item.title)
            || c.citations.iter().any(|q| {
                plain(&q.quote) == plain(&q.title)
                    || q.heading_path.last().is_some_and(|h| plain(h) == said)
            })
    };
    extracted
        .claims
        .into_iter()
        .filter(|c| !is_title(c))
        .take(n.max(1))
        .enumerate()
        .map(|(i, mut c)| {
            c.id = format!("{tag}-c{}", i + 1);
            c
        })
        .collect()
}

/// Run a digest: read feeds, record new items one by one, vote, compare with the previous
/// digest, write the report. The caller holds the lock ([`lock`], taken before it journals the
/// run, so that a digest finding another one running leaves no run behind).
pub async fn run(
    cfg: &DigestConfig,
    engine: &Engine,
    store: Arc<dyn SearchBackend>,
    progress: &Progress,
    log: &Log,
    _held: &DigestLock,
) -> Result<DigestOutcome, DigestError> {
    let result = run_locked(cfg, engine, store, progress, log).await;
    match &result {
        Ok(o) => log.line(&format!(
            "run {} done: {} feeds ({} failed), {} items seen, {} new, {} updated, {} skipped, {} claims; wrote {}",
            o.report.run,
            o.report.counts.feeds,
            o.report.counts.feed_errors,
            o.report.counts.seen,
            o.report.counts.new,
            o.report.counts.updated,
            o.report.counts.skipped.values().sum::<usize>(),
            o.report.counts.claims,
            o.written.markdown.display()
        )),
        Err(e) => log.line(&format!(
            "{}: {e}",
            if e.is_temporary() {
                "not run (temporary)"
            } else if matches!(e, DigestError::NothingNew { .. }) {
                "done"
            } else {
                "failed"
            }
        )),
    }
    result
}

async fn run_locked(
    cfg: &DigestConfig,
    engine: &Engine,
    store: Arc<dyn SearchBackend>,
    progress: &Progress,
    log: &Log,
) -> Result<DigestOutcome, DigestError> {
    let started = Instant::now();
    cfg.policy.validate()?;
    let mut state = State::open(store.dir())?;
    let now = || Utc::now().to_rfc3339_opts(chrono::SecondsFormat::Secs, true);
    let (run, resumed_from) = match state.unfinished_run()? {
        Some(r) => (r.id, Some(r.started)),
        None => (state.start_run(&now())?, None),
    };
    let since_text = match cfg.since {
        Since::Last => "items not in an earlier digest".to_string(),
        Since::Date(d) => format!(
            "items published or updated since {}",
            d.format("%Y-%m-%d %H:%M UTC")
        ),
    };
    log.line(&format!(
        "run {run} {}: {} feeds from {}, {since_text}",
        match &resumed_from {
            Some(s) => format!("resumed (started {s})"),
            None => "started".to_string(),
        },
        cfg.feeds.feeds.len(),
        cfg.feeds.path.display()
    ));

    let prepared = if cfg.corpora == Corpora::None {
        pipeline::Prepared::default()
    } else {
        tokio::task::block_in_place(|| {
            pipeline::prepare(store.as_ref(), &cfg.corpora, &cfg.ingest, progress)
        })?
    };

    let stage = progress.stage(&format!("reading {} feeds", cfg.feeds.feeds.len()));
    let fetcher = Fetcher::new(cfg.fetch.clone()).map_err(|e| WebSetupError(e.to_string()))?;
    let read = read_feeds(&cfg.feeds.feeds, &fetcher).await;
    let mut counts = DigestCounts {
        feeds: read.len(),
        ..DigestCounts::default()
    };
    let mut statuses = Vec::new();
    let mut first_error = None;
    for (feed, r) in &read {
        match r {
            Ok(p) => statuses.push(FeedStatus {
                name: feed.name.clone(),
                location: feed.location(),
                format: Some(p.format.clone()),
                items: p.items.len(),
                error: None,
            }),
            Err(e) => {
                counts.feed_errors += 1;
                log.line(&format!(
                    "run {run}: feed {:?} ({}) failed: {e}",
                    feed.name,
                    feed.location()
                ));
                first_error.get_or_insert_with(|| format!("{}: {e}", feed.name));
                statuses.push(FeedStatus {
                    name: feed.name.clone(),
                    location: feed.location(),
                    format: None,
                    items: 0,
                    error: Some(e.clone()),
                });
            }
        }
    }
    stage.done(format!(
        "{} feeds read, {} failed",
        read.len() - counts.feed_errors,
        counts.feed_errors
    ));
    if counts.feed_errors == read.len() {
        state.drop_run_if_empty(run)?;
        return Err(DigestError::AllFeedsFailed {
            count: counts.feed_errors,
            first: first_error.unwrap_or_default(),
        });
    }

    // Which entries are new, updated, or skipped (and why).
    let mut skipped_by: BTreeMap<String, usize> = BTreeMap::new();
    let mut skip = |reason: &str| *skipped_by.entry(reason.to_string()).or_default() += 1;
    let mut keys = HashSet::new();
    let mut hashes = HashSet::new();
    let mut todo: Vec<(FeedItem, Vec<String>, Entry)> = Vec::new();
    let mut seen = 0;
    let mut resumed = 0;
    for (feed, r) in &read {
        let Ok(parsed) = r else { continue };
        for _ in 0..parsed.over_cap {
            skip("beyond the feed's max_items");
        }
        for item in &parsed.items {
            seen += 1;
            if !keys.insert(item.key.clone()) {
                skip("duplicate: the same item in another feed");
                continue;
            }
            if !hashes.insert(item.content_hash.clone()) {
                skip("duplicate: the same title and summary as another item");
                continue;
            }
            if state.in_run(run, &item.key)? {
                resumed += 1;
                continue;
            }
            let entry = match state.item(&item.key)? {
                Some((hash, _)) if hash == item.content_hash => {
                    skip("already in an earlier digest");
                    continue;
                }
                Some(_) => Entry::Updated,
                None => {
                    if state.key_of_hash(&item.content_hash)?.is_some() {
                        skip("duplicate: the same title and summary as an earlier item");
                        continue;
                    }
                    Entry::New
                }
            };
            if let (Since::Date(d), Some(t)) = (cfg.since, item.date()) {
                if t < d {
                    skip("older than --since");
                    continue;
                }
            }
            let topics = topics_of(item, &feed.topics, &cfg.feeds.topics);
            todo.push((item.clone(), topics, entry));
        }
    }
    counts.seen = seen;

    // Each item: index it, fetch its article, take its claims, commit it.
    let web = if cfg.fetch_articles && todo.iter().any(|(i, _, _)| i.article.is_some()) {
        Some(WebSource::new(
            WebOptions {
                fetch: cfg.fetch.clone(),
                max_pages: cfg.max_articles.max(1),
                results_per_query: 1,
            },
            vec![Box::new(NoSearch)],
            Arc::clone(&store),
        )?)
    } else {
        None
    };
    let stage = progress.stage(&format!("{} new or updated items", todo.len()));
    for (n, (item, topics, entry)) in todo.into_iter().enumerate() {
        if let Some(j) = cfg.journal.as_deref().filter(|j| j.interrupted()) {
            return Err(RunError::Interrupted(j.id.clone()).into());
        }
        stage.set(format!("item {} of the digest: {}", n + 1, item.title));
        let doc = match item_document(&item) {
            Ok(d) => d,
            Err(reason) => {
                skip(&format!("unusable entry: {reason}"));
                continue;
            }
        };
        let doc_id = doc.id.clone();
        {
            let store = Arc::clone(&store);
            tokio::task::spawn_blocking(move || store.add(&[doc]))
                .await
                .map_err(|e| IndexError::Tantivy {
                    dir: PathBuf::new(),
                    detail: e.to_string(),
                })??;
        }
        let (article_doc, article_skipped) = match (&web, &item.article) {
            (Some(web), Some(url)) => match web.fetch_one(url).await {
                Ok(id) => (Some(id), None),
                Err(e) => (None, Some(Skipped::new(url.as_str(), e.kind(), e.reason()))),
            },
            (None, Some(url)) => (
                None,
                Some(Skipped::new(
                    url.as_str(),
                    "not-fetched",
                    "not-fetched: --no-fetch",
                )),
            ),
            (_, None) => (None, None),
        };
        let mut doc_ids = vec![doc_id.clone()];
        doc_ids.extend(article_doc.clone());
        let claims = item_claims(
            engine.extractor.as_ref(),
            &item,
            &doc_ids,
            &store,
            cfg.claims_per_item,
        )
        .await;
        let record = ItemRecord {
            item,
            topics,
            doc_id,
            article_doc,
            article_skipped,
            claims,
        };
        state.record(run, &record, entry)?;
    }
    counts.skipped = skipped_by;

    let items = state.run_items(run)?;
    // An empty digest tells the reader nothing: none is written, and the run is not counted
    // (the next digest still compares with the last one written).
    if items.is_empty() {
        state.drop_run_if_empty(run)?;
        let skipped = if counts.skipped.is_empty() {
            String::new()
        } else {
            format!(
                ", skipped: {}",
                counts
                    .skipped
                    .iter()
                    .map(|(k, n)| format!("{k}: {n}"))
                    .collect::<Vec<_>>()
                    .join("; ")
            )
        };
        return Err(DigestError::NothingNew { seen, skipped });
    }
    counts.resumed = resumed;
    counts.new = items.iter().filter(|(_, e)| *e == Entry::New).count();
    counts.updated = items.iter().filter(|(_, e)| *e == Entry::Updated).count();
    stage.done(format!(
        "{} items recorded ({} new, {} updated)",
        items.len(),
        counts.new,
        counts.updated
    ));

    // The panel votes on every claim of the run.
    let mut scope = vec![FEEDS_CORPUS.to_string(), WEB_CORPUS.to_string()];
    scope.extend(prepared.scope.iter().cloned());
    let retriever = Retriever::new(Arc::clone(&store), scope);
    let claims: Vec<Claim> = items
        .iter()
        .flat_map(|(r, _)| r.claims.iter().cloned())
        .collect();
    let stage = progress.stage(&format!(
        "{} reviewers voting on {} claims",
        engine.reviewers.len(),
        claims.len()
    ));
    let task = ReviewTask::new(Purpose::Claims, claims.clone(), retriever.clone());
    let reviewed = review::review(&engine.reviewers, &cfg.policy, &task).await;
    let by_claim: HashMap<&str, &str> = items
        .iter()
        .flat_map(|(r, _)| {
            r.claims
                .iter()
                .map(move |c| (c.id.as_str(), r.item.key.as_str()))
        })
        .collect();
    let keyed: Vec<(String, Reviewed)> = reviewed
        .iter()
        .map(|r| {
            (
                by_claim
                    .get(r.claim.id.as_str())
                    .map(|k| k.to_string())
                    .unwrap_or_default(),
                r.clone(),
            )
        })
        .collect();
    state.set_verdicts(run, &keyed)?;
    stage.done(format!("{} claims reviewed", reviewed.len()));

    // What changed since the previous digest.
    let mut changes = Changes::default();
    if let Some(prev) = state.previous_run(run)? {
        changes.previous = Some((prev.id, prev.started.clone()));
        // New means in no earlier digest, not just the previous one.
        let mut before: BTreeSet<String> = BTreeSet::new();
        for earlier in state.earlier_runs(run)? {
            before.extend(
                state
                    .run_items(earlier)?
                    .into_iter()
                    .flat_map(|(r, _)| r.topics),
            );
        }
        let now_topics: BTreeSet<String> = items
            .iter()
            .flat_map(|(r, _)| r.topics.iter().cloned())
            .collect();
        changes.new_topics = now_topics.difference(&before).cloned().collect();
        let new_docs: HashSet<String> = items
            .iter()
            .flat_map(|(r, _)| std::iter::once(r.doc_id.clone()).chain(r.article_doc.clone()))
            .collect();
        let prev_kept: Vec<(String, Reviewed)> = state
            .verdicts(prev.id)?
            .into_iter()
            .filter(|(_, r)| r.verdict.status == Status::Kept)
            .collect();
        if !prev_kept.is_empty() {
            let titles: HashMap<String, String> = state
                .run_items(prev.id)?
                .into_iter()
                .map(|(r, _)| (r.item.key.clone(), r.item.title.clone()))
                .collect();
            let old_claims: Vec<Claim> = prev_kept.iter().map(|(_, r)| r.claim.clone()).collect();
            let again = review::review(
                &engine.reviewers,
                &cfg.policy,
                &ReviewTask::new(Purpose::Claims, old_claims.clone(), retriever.clone()),
            )
            .await;
            for ((key, _), r) in prev_kept.iter().zip(again) {
                let against_new = r.votes.iter().any(|v| {
                    v.stance == Stance::Refute
                        && v.confidence >= cfg.policy.dispute_confidence
                        && v.evidence
                            .as_ref()
                            .is_some_and(|e| new_docs.contains(&e.doc_id))
                });
                if against_new {
                    changes.contradicted.push(Contradiction {
                        item_title: titles.get(key).cloned().unwrap_or_default(),
                        reviewed: r,
                    });
                }
            }
        }
    }
    changes.updated = items
        .iter()
        .filter(|(_, e)| *e == Entry::Updated)
        .map(|(r, _)| r.item.key.clone())
        .collect();

    // Topics in configuration order, then any others, then items with none.
    let mut topic_list: Vec<(String, String, Vec<String>)> = cfg
        .feeds
        .topics
        .iter()
        .map(|t| (t.name.clone(), t.title.clone(), Vec::new()))
        .collect();
    let mut other = Vec::new();
    for (r, _) in &items {
        if r.topics.is_empty() {
            other.push(r.item.key.clone());
        }
        for t in &r.topics {
            match topic_list.iter_mut().find(|(n, _, _)| n == t) {
                Some(entry) => entry.2.push(r.item.key.clone()),
                None => topic_list.push((t.clone(), t.clone(), vec![r.item.key.clone()])),
            }
        }
    }
    topic_list.retain(|(_, _, keys)| !keys.is_empty());
    if !other.is_empty() {
        topic_list.push((String::new(), "Other items".into(), other));
    }

    let mut by_item: HashMap<String, Vec<Reviewed>> = HashMap::new();
    for (key, r) in keyed {
        by_item.entry(key).or_default().push(r);
    }
    let skipped: Vec<Skipped> = items
        .iter()
        .filter_map(|(r, _)| {
            r.article_skipped.as_ref().map(|s| Skipped {
                location: r.item.article.clone().unwrap_or_default(),
                ..s.clone()
            })
        })
        .collect();
    counts.articles_fetched = items
        .iter()
        .filter(|(r, _)| r.article_doc.is_some())
        .count();
    counts.articles_not_fetched = skipped.len();
    let date = Utc::now();
    let mut report = DigestReport {
        title: format!("Literature digest, {}", date.format("%Y-%m-%d")),
        created: date.format("%Y-%m-%d %H:%M UTC").to_string(),
        engine: engine.name.clone(),
        run,
        resumed_from,
        since: since_text,
        feeds: statuses,
        topics: topic_list,
        items: items
            .into_iter()
            .map(|(record, entry)| DigestItem {
                reviewed: by_item.remove(&record.item.key).unwrap_or_default(),
                record,
                entry,
            })
            .collect(),
        changes,
        counts,
        policy: cfg.policy.clone(),
        skipped,
    };
    recheck(&mut report, store.as_ref())?;
    report.counts.elapsed_ms = started.elapsed().as_millis() as u64;
    let (md, sources) = render(&report);
    let audit = serde_json::to_string_pretty(&report)
        .map_err(|e| ReportError::Malformed(format!("audit does not serialise: {e}")))?;
    let stem = format!("digest-{}", date.format("%Y-%m-%d"));
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
    state.finish_run(run, &now(), &written.markdown.display().to_string())?;
    Ok(DigestOutcome { report, written })
}

/// Re-check every quote against the stored text: failing claim citations and vote evidence are
/// removed (a claim left without its quote is not shown as a finding), then the counters.
pub fn recheck(report: &mut DigestReport, store: &dyn SearchBackend) -> Result<(), IndexError> {
    let mut checker = QuoteChecker::new(store);
    let mut failed = 0;
    let mut all: Vec<&mut Reviewed> = report
        .items
        .iter_mut()
        .flat_map(|i| i.reviewed.iter_mut())
        .collect();
    all.extend(
        report
            .changes
            .contradicted
            .iter_mut()
            .map(|c| &mut c.reviewed),
    );
    for r in all {
        failed += usize::from(checker.recheck_reviewed(r)?);
    }
    let c = &mut report.counts;
    c.quotes_failed += failed;
    let statuses: Vec<Status> = report
        .items
        .iter()
        .flat_map(|i| i.reviewed.iter().map(|r| r.verdict.status))
        .collect();
    c.claims = statuses.len();
    c.kept = statuses.iter().filter(|s| **s == Status::Kept).count();
    c.single_source = report
        .items
        .iter()
        .flat_map(|i| i.reviewed.iter())
        .filter(|r| r.verdict.status == Status::Kept && single_source(r))
        .count();
    c.disputed = statuses.iter().filter(|s| **s == Status::Disputed).count();
    c.dropped = statuses.iter().filter(|s| **s == Status::Dropped).count();
    c.unverified = statuses
        .iter()
        .filter(|s| **s == Status::Unverified)
        .count();
    Ok(())
}

/// A claim no source but its own sentence states: every supporting vote cites the claim's own
/// document.
pub fn single_source(r: &Reviewed) -> bool {
    !r.votes
        .iter()
        .any(|v| v.stance == Stance::Support && v.corroborating && v.evidence.is_some())
}

fn cite(index: &mut report::CitationIndex, cites: &[&Citation]) -> String {
    let mut nums: Vec<usize> = cites.iter().map(|c| index.number(c)).collect();
    nums.dedup();
    nums.iter()
        .map(|n| format!("[\\[{n}\\]](#src-{n})"))
        .collect::<Vec<_>>()
        .join("")
}

/// A link for an http(s) URL, else the URL as code (feed links are data).
fn link(title: &str, url: Option<&str>) -> String {
    match url {
        Some(u)
            if (u.starts_with("http://") || u.starts_with("https://"))
                && !u.contains(['(', ')', ' ', '<', '>']) =>
        {
            format!("[{}]({u})", esc(title))
        }
        _ => esc(title),
    }
}

/// The Markdown digest and the numbered sources it cites.
pub fn render(report: &DigestReport) -> (String, Vec<Citation>) {
    let mut md = String::new();
    let mut idx = report::CitationIndex::default();
    let c = &report.counts;
    let _ = writeln!(md, "# {}\n", esc(&report.title));
    let skipped_total: usize = c.skipped.values().sum();
    let skipped_detail = if c.skipped.is_empty() {
        String::new()
    } else {
        format!(
            " ({})",
            c.skipped
                .iter()
                .map(|(k, n)| format!("{}: {n}", esc(k)))
                .collect::<Vec<_>>()
                .join("; ")
        )
    };
    let _ = writeln!(
        md,
        "**{} items seen, {} new, {} updated, {} skipped**{skipped_detail} · {} feeds ({} failed) · \
         articles fetched {}, not fetched {} · {} claims reviewed by {} reviewers: {} kept ({} \
         single-source), {} disputed, {} dropped, {} unverified.\n",
        c.seen,
        c.new,
        c.updated,
        skipped_total,
        c.feeds,
        c.feed_errors,
        c.articles_fetched,
        c.articles_not_fetched,
        c.claims,
        report.policy.reviewers,
        c.kept,
        c.single_source,
        c.disputed,
        c.dropped,
        c.unverified
    );
    let _ = writeln!(
        md,
        "New means: {}. Engine: {} · {}{}.\n",
        esc(&report.since),
        report.engine,
        report.created,
        match &report.resumed_from {
            Some(s) => format!(
                " · resumed run {} (started {}; {} items it had recorded were not fetched again)",
                report.run,
                esc(s),
                c.resumed
            ),
            None => String::new(),
        }
    );

    md.push_str("## What changed since the previous digest\n\n");
    let ch = &report.changes;
    match &ch.previous {
        None => md.push_str("This is the first digest.\n\n"),
        Some((_, started)) => {
            let _ = writeln!(md, "Previous digest: {}.\n", esc(started));
            let _ = writeln!(
                md,
                "- New topics: {}.",
                if ch.new_topics.is_empty() {
                    "none".to_string()
                } else {
                    esc(&ch.new_topics.join(", "))
                }
            );
            let titles: HashMap<&str, &str> = report
                .items
                .iter()
                .map(|i| (i.record.item.key.as_str(), i.record.item.title.as_str()))
                .collect();
            let updated: Vec<String> = ch
                .updated
                .iter()
                .map(|k| esc(titles.get(k.as_str()).copied().unwrap_or(k)))
                .collect();
            let _ = writeln!(
                md,
                "- Items updated: {}.",
                if updated.is_empty() {
                    "none".to_string()
                } else {
                    updated.join("; ")
                }
            );
            if ch.contradicted.is_empty() {
                md.push_str("- Claims now contradicted by newer items: none.\n");
            } else {
                md.push_str("- Claims now contradicted by newer items:\n");
                for x in &ch.contradicted {
                    let own: Vec<&Citation> = x.reviewed.claim.citations.iter().collect();
                    let _ = writeln!(
                        md,
                        "  - “{}” (from {}) {}",
                        esc(&x.reviewed.claim.text),
                        esc(&x.item_title),
                        cite(&mut idx, &own)
                    );
                    let mut shown = Vec::new();
                    for v in x
                        .reviewed
                        .votes
                        .iter()
                        .filter(|v| v.stance == Stance::Refute)
                    {
                        let Some(e) = &v.evidence else { continue };
                        if shown.contains(&(&e.doc_id, e.start)) {
                            continue;
                        }
                        shown.push((&e.doc_id, e.start));
                        let refs = cite(&mut idx, &[e]);
                        let _ = writeln!(
                            md,
                            "{}",
                            report::vote_item("    ", "Against", v, e, &refs, true)
                        );
                    }
                }
            }
            md.push('\n');
        }
    }

    let by_key: HashMap<&str, &DigestItem> = report
        .items
        .iter()
        .map(|i| (i.record.item.key.as_str(), i))
        .collect();
    if report.items.is_empty() {
        md.push_str("## No new items\n\nNothing new since the previous digest.\n\n");
    }
    for (_, title, keys) in &report.topics {
        let _ = writeln!(md, "## {}\n", esc(title));
        for key in keys {
            let Some(it) = by_key.get(key.as_str()) else {
                continue;
            };
            let item = &it.record.item;
            let date = item
                .date()
                .map(|d| format!(" · {}", d.format("%Y-%m-%d")))
                .unwrap_or_default();
            let _ = writeln!(
                md,
                "### {}\n",
                link(
                    if item.title.is_empty() {
                        "(untitled)"
                    } else {
                        &item.title
                    },
                    item.link.as_deref()
                )
            );
            let authors = if item.authors.is_empty() {
                String::new()
            } else {
                format!(" · {}", esc(&item.authors.join(", ")))
            };
            let _ = writeln!(
                md,
                "{}{}{date}{authors}\n",
                esc(&item.feed),
                if it.entry == Entry::Updated {
                    " · **updated**"
                } else {
                    ""
                }
            );
            if let Some(Skipped { reason, .. }) = &it.record.article_skipped {
                let _ = writeln!(
                    md,
                    "The article was not fetched ({}); its claims come from the feed's summary.\n",
                    esc(reason)
                );
            }
            if it.reviewed.is_empty() {
                md.push_str("No claim could be taken from it.\n\n");
                continue;
            }
            for r in &it.reviewed {
                let own: Vec<&Citation> = r.claim.citations.iter().collect();
                if own.is_empty() {
                    continue;
                }
                let label = match r.verdict.status {
                    Status::Kept if single_source(r) => {
                        "single-source: only its own sentence states it".to_string()
                    }
                    Status::Kept => format!(
                        "supported by {} of {} reviewers",
                        r.verdict.support,
                        r.votes.len()
                    ),
                    Status::Disputed => "**disputed**".to_string(),
                    Status::Dropped if r.verdict.refute > 0 => "**contradicted**".to_string(),
                    Status::Dropped => "not confirmed".to_string(),
                    Status::Unverified => "unverified".to_string(),
                };
                let mut cites = own.clone();
                for v in &r.votes {
                    if v.stance == Stance::Support && v.corroborating {
                        if let Some(e) = &v.evidence {
                            if !cites.iter().any(|c| c.doc_id == e.doc_id) {
                                cites.push(e);
                            }
                        }
                    }
                }
                let _ = writeln!(
                    md,
                    "- {} {} — {label}.",
                    esc(&r.claim.text),
                    cite(&mut idx, &cites)
                );
                if matches!(r.verdict.status, Status::Disputed | Status::Dropped) {
                    if let Some((v, e)) = r
                        .votes
                        .iter()
                        .filter(|v| v.stance == Stance::Refute)
                        .find_map(|v| v.evidence.as_ref().map(|e| (v, e)))
                    {
                        let refs = cite(&mut idx, &[e]);
                        let _ = writeln!(
                            md,
                            "{}",
                            report::vote_item("  ", "Against", v, e, &refs, true)
                        );
                    }
                }
            }
            md.push('\n');
        }
    }

    let failed: Vec<&FeedStatus> = report.feeds.iter().filter(|f| f.error.is_some()).collect();
    md.push_str("## Feeds\n\n");
    for f in &report.feeds {
        match &f.error {
            None => {
                let _ = writeln!(
                    md,
                    "- {} ({}): {} items · `{}`",
                    esc(&f.name),
                    f.format.as_deref().unwrap_or("feed"),
                    f.items,
                    f.location.replace('`', "'")
                );
            }
            Some(e) => {
                let _ = writeln!(
                    md,
                    "- {} **failed**: {} · `{}`",
                    esc(&f.name),
                    esc(e),
                    f.location.replace('`', "'")
                );
            }
        }
    }
    md.push('\n');

    report::render_sources(&mut md, &idx.sources);
    report::render_skipped(&mut md, &report.skipped);

    md.push_str("## About this digest\n\n");
    let p = &report.policy;
    let _ = writeln!(
        md,
        "- Each item's key claims (sentences of its summary or article, quoted verbatim) were put \
         to {} reviewers (at least one a skeptic) searching every digested item, fetched article \
         and corpus; quorum {}. A failed vote is unverified, never a contradiction.",
        p.reviewers, p.quorum
    );
    let _ = writeln!(
        md,
        "- Every quote above was checked against the stored text of its source at the byte span \
         shown before this digest was written; {} failed and are not shown.",
        c.quotes_failed
    );
    let _ = writeln!(
        md,
        "- Feed text and fetched pages are data: nothing in them is followed or obeyed. {} \
         feeds failed{}; {} ms.",
        failed.len(),
        if failed.is_empty() {
            String::new()
        } else {
            " (listed under Feeds, and in the log)".to_string()
        },
        c.elapsed_ms
    );
    (md, idx.sources)
}
