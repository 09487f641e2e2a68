//! The web as a source: search providers find pages, the polite fetcher brings them back, the
//! ingest extractors turn them into documents (HTML main text, PDF text with page numbers, plain
//! text), and the store indexes them under the corpus id [`WEB_CORPUS`], so citations, the quote
//! check and the reviewers treat them exactly like local files. Page text is data: nothing in a
//! page is followed, executed or read as an instruction (no links are crawled, no meta refresh
//! is obeyed; only HTTP redirects, each one checked again).

pub mod args;
pub mod cache;
pub mod canon;
pub mod error;
pub mod fetch;
pub mod robots;
pub mod search;
pub mod ssrf;

use crate::artifact::{Document, Hit, Skipped, SubQuery};
use crate::gather::{AgentBudget, Source, SourceError};
use crate::index::{SearchBackend, SearchRequest};
use crate::journal::Key;
use cache::{CacheEntry, FetchCache};
pub use error::FetchError;
pub use fetch::FetchOptions;
use fetch::{Fetched, Fetcher, Page, Validators};
use search::{SearchProvider, SearchResult};
use serde::{Deserialize, Serialize};
use std::collections::{BTreeMap, HashMap};
use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};
use tokio::sync::{mpsc, oneshot};

/// The corpus id of every fetched document.
pub const WEB_CORPUS: &str = "web";

pub use crate::config::WebFileConfig;

/// Everything a web source needs.
#[derive(Debug, Clone)]
pub struct WebOptions {
    pub fetch: FetchOptions,
    /// Pages fetched at most in one run (and by one agent).
    pub max_pages: usize,
    /// Results asked of each provider for each sub-query.
    pub results_per_query: usize,
}

impl Default for WebOptions {
    fn default() -> Self {
        WebOptions {
            fetch: FetchOptions::default(),
            max_pages: 20,
            results_per_query: 20,
        }
    }
}

/// Counters of one run's web work.
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
pub struct WebStats {
    pub searches: usize,
    pub pages_indexed: usize,
    /// Pages confirmed current by the cache (304, or the same body again).
    pub pages_unchanged: usize,
    pub pages_failed: usize,
    pub requests: usize,
}

type PageResult = Result<String, FetchError>;
type PageSlot = tokio::sync::watch::Receiver<Option<PageResult>>;
type IndexJob = (Document, oneshot::Sender<Result<(), String>>);

struct Inner {
    /// The run's journal: searches and pages a resumed run already completed are not redone.
    journal: Option<Arc<crate::journal::RunJournal>>,
    fetcher: Fetcher,
    providers: Vec<Box<dyn SearchProvider>>,
    store: Arc<dyn SearchBackend>,
    cache: FetchCache,
    opts: WebOptions,
    /// One fetch per canonical URL per run, whichever agent asks first.
    pages: Mutex<HashMap<String, (String, PageSlot)>>,
    pages_claimed: AtomicUsize,
    /// Search results left unfetched because the page budget was spent.
    over_budget: Mutex<std::collections::HashSet<String>>,
    indexer: mpsc::UnboundedSender<IndexJob>,
    /// Location -> (kind, reason).
    skipped: Mutex<BTreeMap<String, (&'static str, String)>>,
    searches: AtomicUsize,
    indexed: AtomicUsize,
    unchanged: AtomicUsize,
    /// Documents this run's agents got (fetched, or unchanged since the cache had them).
    brought: Mutex<std::collections::BTreeSet<String>>,
}

/// The web as a [`Source`]: each agent searches its sub-query, fetches the results (once per
/// run, politely), indexes them and returns the best passages among its own pages.
#[derive(Clone)]
pub struct WebSource {
    inner: Arc<Inner>,
}

impl WebSource {
    /// Must be called inside a Tokio runtime (it starts the indexing task).
    pub fn new(
        opts: WebOptions,
        providers: Vec<Box<dyn SearchProvider>>,
        store: Arc<dyn SearchBackend>,
    ) -> Result<WebSource, WebSetupError> {
        if providers.is_empty() {
            return Err(WebSetupError(
                "the web needs a search provider: --search searxng=URL (recommended), brave, \
                 tavily or arxiv"
                    .into(),
            ));
        }
        let cache = FetchCache::open(store.dir()).map_err(|e| WebSetupError(e.to_string()))?;
        let fetcher = Fetcher::new(opts.fetch.clone()).map_err(|e| WebSetupError(e.to_string()))?;
        let (tx, rx) = mpsc::unbounded_channel();
        tokio::spawn(index_loop(Arc::clone(&store), rx));
        Ok(WebSource {
            inner: Arc::new(Inner {
                journal: None,
                fetcher,
                providers,
                store,
                cache,
                opts,
                pages: Mutex::new(HashMap::new()),
                pages_claimed: AtomicUsize::new(0),
                over_budget: Mutex::new(std::collections::HashSet::new()),
                indexer: tx,
                skipped: Mutex::new(BTreeMap::new()),
                searches: AtomicUsize::new(0),
                indexed: AtomicUsize::new(0),
                unchanged: AtomicUsize::new(0),
                brought: Mutex::default(),
            }),
        })
    }

    /// Journal this run's searches and fetched pages, so a resumed run does not send them again.
    /// Call before the source is shared (it is a no-op afterwards).
    pub fn with_journal(mut self, journal: Arc<crate::journal::RunJournal>) -> WebSource {
        if let Some(inner) = Arc::get_mut(&mut self.inner) {
            inner.journal = Some(journal);
        }
        self
    }

    pub fn stats(&self) -> WebStats {
        let i = &self.inner;
        WebStats {
            searches: i.searches.load(Ordering::Relaxed),
            pages_indexed: i.indexed.load(Ordering::Relaxed),
            pages_unchanged: i.unchanged.load(Ordering::Relaxed),
            pages_failed: i.skipped.lock().map(|s| s.len()).unwrap_or(0),
            requests: i.fetcher.requests_sent(),
        }
    }

    /// Pages (and search providers) that could not be used, with the reason: `kind: detail`.
    /// A page still being fetched when asked counts as missed by the agents' deadline.
    pub fn skipped(&self) -> Vec<Skipped> {
        let mut all = self
            .inner
            .skipped
            .lock()
            .map(|s| s.clone())
            .unwrap_or_default();
        if let Ok(pages) = self.inner.pages.lock() {
            for (url, rx) in pages.values() {
                if rx.borrow().is_none() {
                    all.entry(url.clone()).or_insert_with(|| {
                        (FetchError::Deadline.kind(), FetchError::Deadline.reason())
                    });
                }
            }
        }
        let mut out: Vec<Skipped> = all
            .into_iter()
            .map(|(location, (kind, reason))| Skipped::new(location, kind, reason))
            .collect();
        let over = self.inner.over_budget.lock().map(|s| s.len()).unwrap_or(0);
        if over > 0 {
            out.push(Skipped::new(
                "web",
                "page-budget",
                format!(
                    "page-budget: {over} search results not fetched, the run's page budget \
                     ({} pages, --max-pages) was spent",
                    self.inner.opts.max_pages
                ),
            ));
        }
        out
    }

    /// Fetch, extract and index one URL now (outside any agent); the document id on success.
    pub async fn fetch_one(&self, url: &str) -> Result<String, FetchError> {
        Inner::page(&self.inner, url, None).await
    }

    /// Search every provider for one query; results deduplicated by canonical URL, providers
    /// interleaved. Failures of single providers are noted; all failing is an error.
    async fn search(&self, query: &str) -> Result<Vec<SearchResult>, String> {
        let names: Vec<String> = self.inner.providers.iter().map(|p| p.name()).collect();
        let key = Key::Search(Key::digest(&format!("{}\n{query}", names.join(","))));
        if let Some(done) = self
            .inner
            .journal
            .as_ref()
            .and_then(|j| j.artifact::<Vec<SearchResult>>(&key).ok().flatten())
        {
            return Ok(done);
        }
        let results = self.search_now(query).await?;
        if let Some(j) = &self.inner.journal {
            // Not journaling only means a resumed run searches again.
            let _ = j.record(&key, &results);
        }
        Ok(results)
    }

    async fn search_now(&self, query: &str) -> Result<Vec<SearchResult>, String> {
        let inner = &self.inner;
        let limit = inner.opts.results_per_query.max(1);
        let mut lists = Vec::new();
        let mut errors = Vec::new();
        let calls = inner
            .providers
            .iter()
            .map(|p| p.search(&inner.fetcher, query, limit));
        for (p, r) in inner
            .providers
            .iter()
            .zip(futures_util::future::join_all(calls).await)
        {
            inner.searches.fetch_add(1, Ordering::Relaxed);
            match r {
                Ok(list) => lists.push(list),
                Err(e) => {
                    inner.note_skipped(
                        &format!("search: {}", p.name()),
                        "search",
                        &format!("search: {e}"),
                    );
                    errors.push(e.to_string());
                }
            }
        }
        if lists.is_empty() && !errors.is_empty() {
            return Err(errors.join("; "));
        }
        let mut merged = Vec::new();
        let longest = lists.iter().map(Vec::len).max().unwrap_or(0);
        for i in 0..longest {
            for list in &lists {
                if let Some(r) = list.get(i) {
                    merged.push(r.clone());
                }
            }
        }
        Ok(canon::dedup(merged, |r| r.url.as_str()))
    }
}

#[derive(Debug, Clone, thiserror::Error)]
#[error("{0}")]
pub struct WebSetupError(pub String);

/// Batches documents from all agents into few commits: whatever is queued when the store is
/// free goes in one `add`.
async fn index_loop(store: Arc<dyn SearchBackend>, mut rx: mpsc::UnboundedReceiver<IndexJob>) {
    while let Some(first) = rx.recv().await {
        let mut batch = vec![first];
        while let Ok(more) = rx.try_recv() {
            batch.push(more);
        }
        let (docs, acks): (Vec<Document>, Vec<_>) = batch.into_iter().unzip();
        let store = Arc::clone(&store);
        let result = tokio::task::spawn_blocking(move || store.add(&docs))
            .await
            .map_err(|e| e.to_string())
            .and_then(|r| r.map(|_| ()).map_err(|e| e.to_string()));
        for ack in acks {
            let _ = ack.send(result.clone());
        }
    }
}

impl Inner {
    fn note_skipped(&self, location: &str, kind: &'static str, reason: &str) {
        if let Ok(mut s) = self.skipped.lock() {
            s.entry(location.to_string())
                .or_insert_with(|| (kind, reason.to_string()));
        }
    }

    /// Fetch + extract + index one URL, once per run (a task of its own, so an agent that
    /// stops waiting does not cancel it for the others); the document id.
    async fn page(self: &Arc<Self>, url: &str, deadline: Option<Instant>) -> PageResult {
        let key = canon::canonical_string(url);
        let mut rx = {
            let mut pages = self.pages.lock().unwrap_or_else(|p| p.into_inner());
            match pages.get(&key) {
                Some((_, rx)) => rx.clone(),
                None => {
                    if self.pages_claimed.load(Ordering::SeqCst) >= self.opts.max_pages {
                        if let Ok(mut over) = self.over_budget.lock() {
                            over.insert(key);
                        }
                        return Err(FetchError::PageBudget(self.opts.max_pages));
                    }
                    self.pages_claimed.fetch_add(1, Ordering::SeqCst);
                    let (tx, rx) = tokio::sync::watch::channel(None);
                    pages.insert(key.clone(), (url.to_string(), rx.clone()));
                    let me = Arc::clone(self);
                    let (url, key) = (url.to_string(), key.clone());
                    tokio::spawn(async move {
                        let result = me.fetch_and_index(&url, &key).await;
                        if let Err(e) = &result {
                            me.note_skipped(&url, e.kind(), &e.reason());
                        }
                        let _ = tx.send(Some(result));
                    });
                    rx
                }
            }
        };
        let wait = async {
            match rx.wait_for(Option::is_some).await {
                Ok(v) => v.clone().unwrap_or(Err(FetchError::Deadline)),
                Err(_) => Err(FetchError::Index("the fetch task stopped".into())),
            }
        };
        match deadline {
            None => wait.await,
            // The fetch goes on for the other agents; this one stops waiting.
            Some(d) => tokio::time::timeout_at(d.into(), wait)
                .await
                .unwrap_or(Err(FetchError::Deadline)),
        }
    }

    /// [`Inner::fetch_now`] through the run journal: a page this run already fetched and
    /// indexed is its document id again, with no request.
    async fn fetch_and_index(&self, url: &str, key: &str) -> PageResult {
        let jkey = Key::Page(Key::digest(key));
        if let Some(done) = self
            .journal
            .as_ref()
            .and_then(|j| j.artifact::<String>(&jkey).ok().flatten())
        {
            return Ok(done);
        }
        let id = self.fetch_now(url, key).await?;
        if let Some(j) = &self.journal {
            // Recorded after the page is committed to the index, so the id always resolves.
            let _ = j.record(&jkey, &id);
        }
        Ok(id)
    }

    async fn fetch_now(&self, url: &str, key: &str) -> PageResult {
        let parsed = canon::canonical(url).map_err(FetchError::BadUrl)?;
        // Fetch the URL as given (minus its fragment): canonical forms are for identity only.
        let mut target =
            url::Url::parse(url.trim()).map_err(|e| FetchError::BadUrl(e.to_string()))?;
        target.set_fragment(None);
        drop(parsed);
        let cached = self.cache.get(key).ok().flatten();
        // Revalidate only when the stored copy is still in the index, unchanged.
        let usable = match &cached {
            Some(c) => {
                let store = Arc::clone(&self.store);
                let id = c.doc_id.clone();
                let hash = c.doc_hash.clone();
                tokio::task::spawn_blocking(move || {
                    store
                        .document(&id)
                        .ok()
                        .flatten()
                        .is_some_and(|d| d.hash == hash)
                })
                .await
                .unwrap_or(false)
            }
            None => false,
        };
        let cached = cached.filter(|_| usable);
        let validators = cached.as_ref().and_then(|c| {
            (c.etag.is_some() || c.last_modified.is_some()).then(|| Validators {
                url: c.final_url.clone(),
                etag: c.etag.clone(),
                last_modified: c.last_modified.clone(),
            })
        });
        let now = chrono::Utc::now().to_rfc3339_opts(chrono::SecondsFormat::Secs, true);
        match self
            .fetcher
            .fetch_page(&target, validators.as_ref())
            .await?
        {
            Fetched::NotModified { .. } => {
                let c = cached.ok_or(FetchError::Unexpected304)?;
                let _ = self.cache.revalidated(key, &now);
                self.unchanged.fetch_add(1, Ordering::Relaxed);
                Ok(c.doc_id)
            }
            Fetched::Page(page) => {
                let raw_hash = crate::ingest::raw_hash(&page.body);
                if let Some(c) = cached.as_ref().filter(|c| c.raw_hash == raw_hash) {
                    // Same bytes as the stored copy: keep it, refresh the validators.
                    let mut entry = c.clone();
                    entry.etag = page.etag.clone();
                    entry.last_modified = page.last_modified.clone();
                    let _ = self.cache.put(&entry);
                    self.unchanged.fetch_add(1, Ordering::Relaxed);
                    return Ok(c.doc_id.clone());
                }
                let doc = extract(page.clone(), now.clone(), raw_hash.clone()).await?;
                let (doc_id, doc_hash) = (doc.id.clone(), doc.hash.clone());
                let (ack_tx, ack_rx) = oneshot::channel();
                self.indexer
                    .send((doc, ack_tx))
                    .map_err(|_| FetchError::Index("the indexer stopped".into()))?;
                ack_rx
                    .await
                    .map_err(|_| FetchError::Index("the indexer stopped".into()))?
                    .map_err(FetchError::Index)?;
                let _ = self.cache.put(&CacheEntry {
                    url: key.to_string(),
                    final_url: page.final_url.to_string(),
                    fetched: now,
                    etag: page.etag,
                    last_modified: page.last_modified,
                    raw_hash,
                    doc_id: doc_id.clone(),
                    doc_hash,
                    content_type: page.content_type,
                });
                self.indexed.fetch_add(1, Ordering::Relaxed);
                Ok(doc_id)
            }
        }
    }
}

/// Page -> document, off the async threads. Id: the canonical final URL; location: the final
/// URL as fetched; corpus: `web`.
async fn extract(page: Page, fetched: String, raw_hash: String) -> Result<Document, FetchError> {
    tokio::task::spawn_blocking(move || {
        let kind = page
            .kind
            .ok_or_else(|| FetchError::ContentType("(unknown)".into()))?;
        let location = page.final_url.to_string();
        let id = canon::canonical_string(&location);
        let result = std::panic::catch_unwind(std::panic::AssertUnwindSafe(|| {
            crate::ingest::document_from_bytes(
                &id,
                &location,
                WEB_CORPUS,
                kind.format(),
                &page.body,
                page.content_type.as_deref(),
            )
        }))
        .map_err(|_| FetchError::Undecodable("undecodable: the extractor failed".into()))?;
        let mut doc = result.map_err(|why| match why {
            crate::ingest::Unusable::Pdf(detail) => FetchError::Pdf(detail),
            other => FetchError::Undecodable(other.to_string()),
        })?;
        doc.raw_hash = raw_hash;
        doc.fetched = Some(fetched);
        Ok(doc)
    })
    .await
    .map_err(|e| FetchError::Undecodable(format!("the extractor failed: {e}")))?
}

#[async_trait::async_trait]
impl Source for WebSource {
    fn name(&self) -> String {
        "web".into()
    }

    fn reaches_out(&self) -> bool {
        true
    }

    fn take_skipped(&self) -> Vec<Skipped> {
        self.skipped()
    }

    fn documents(&self) -> (usize, usize) {
        let s = self.stats();
        (s.pages_indexed, s.pages_unchanged)
    }

    fn brought(&self) -> Vec<String> {
        let brought = self.inner.brought.lock().unwrap_or_else(|p| p.into_inner());
        brought.iter().cloned().collect()
    }

    async fn gather(
        &self,
        sub_query: &SubQuery,
        budget: AgentBudget,
    ) -> Result<Vec<Hit>, SourceError> {
        let started = Instant::now();
        // Leave a margin to search the store and hand results back before the agent's deadline.
        let margin =
            (budget.deadline / 10).clamp(Duration::from_millis(200), Duration::from_secs(3));
        let deadline = started + budget.deadline.saturating_sub(margin);
        let fail = |detail: String| SourceError::Failed {
            source_name: "web".into(),
            detail,
        };
        let results = tokio::time::timeout_at(deadline.into(), self.search(&sub_query.query))
            .await
            .map_err(|_| fail("search did not answer before the agent's deadline".into()))?
            .map_err(fail)?;
        // Every result is offered; past the run's page budget, results are only counted.
        let mut tasks = tokio::task::JoinSet::new();
        for r in results {
            let inner = Arc::clone(&self.inner);
            tasks.spawn(async move {
                let out = Inner::page(&inner, &r.url, Some(deadline)).await;
                (r.url, out)
            });
        }
        let mut doc_ids = Vec::new();
        while let Some(joined) = tasks.join_next().await {
            match joined {
                Ok((_, Ok(id))) => doc_ids.push(id),
                Ok(_) => {}
                Err(e) => return Err(fail(format!("a fetch task failed: {e}"))),
            }
        }
        if doc_ids.is_empty() {
            return Ok(Vec::new());
        }
        doc_ids.sort();
        doc_ids.dedup();
        self.inner
            .brought
            .lock()
            .unwrap_or_else(|p| p.into_inner())
            .extend(doc_ids.iter().cloned());
        let store = Arc::clone(&self.inner.store);
        let req = SearchRequest {
            text: sub_query.query.clone(),
            corpora: vec![WEB_CORPUS.to_string()],
            doc_ids,
            limit: budget.max_passages,
            ..Default::default()
        };
        tokio::task::spawn_blocking(move || store.search(&req))
            .await
            .map_err(|e| fail(e.to_string()))?
            .map_err(|e| fail(e.to_string()))
    }
}
