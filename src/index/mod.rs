//! The evidence store: a tantivy index on disk holding every document's exact text (so quotes
//! can be checked) and its passages (so agents can retrieve them). Persistent and incremental:
//! a file whose metadata (or, on a re-hash, raw bytes) are the same as last time is not read,
//! extracted or indexed again. Beside it, the manifest (`manifest.rs`) keeps what a warm run
//! and a scoped search need without opening stored text.

mod manifest;

pub use manifest::{Known, PassageStats};

use crate::artifact::{Document, FileMeta, Hit, Passage};
use crate::text;
use manifest::{Changes, Manifest, Row, Scored, TermDeltas};
use std::collections::{HashMap, HashSet};
use std::path::{Path, PathBuf};
use std::sync::Mutex;
use std::time::Duration;
use tantivy::collector::{Count, DocSetCollector, TopDocs};

/// Hits collected past a search's limit, so ties at the cut are decided by passage ids.
const TIE_MARGIN: usize = 16;
/// How many passages tied at the cut are read at most to order them by id (beyond this, a tie
/// this wide is broken by the index's own order).
const MAX_TIE_WIDTH: usize = 4096;
use tantivy::directory::MmapDirectory;
use tantivy::query::{
    Bm25StatisticsProvider, BooleanQuery, BoostQuery, Occur, PhraseQuery, Query, TermQuery,
};
use tantivy::schema::{
    Field, IndexRecordOption, Schema, TextFieldIndexing, TextOptions, Value, STORED, STRING,
};
use tantivy::tokenizer::{Token, TokenStream, Tokenizer};
use tantivy::{Index, IndexReader, ReloadPolicy, Searcher, TantivyDocument, Term};

const TOKENIZER: &str = "research_stem";
/// Longer tokens are not indexed.
const MAX_TOKEN_BYTES: usize = 64;
const KIND_DOC: &str = "doc";
const KIND_PASSAGE: &str = "passage";

#[derive(Debug, thiserror::Error)]
pub enum IndexError {
    #[error("cannot create the index folder {dir}")]
    Create {
        dir: PathBuf,
        source: std::io::Error,
    },
    #[error("{dir} is not a research index (it holds other files); choose an empty or new folder with --index")]
    NotAnIndex { dir: PathBuf },
    #[error("the index at {dir} is unreadable ({detail}); move it aside or delete it to rebuild, or pass --index with another folder")]
    Corrupt { dir: PathBuf, detail: String },
    #[error("another research process is writing to the index at {dir}; wait for it to finish or pass --index with another folder")]
    Locked { dir: PathBuf },
    #[error("index error in {dir}: {detail}")]
    Tantivy { dir: PathBuf, detail: String },
    #[error("the index manifest {path} is unusable ({detail}); delete it and it is rebuilt from the index")]
    Manifest { path: PathBuf, detail: String },
}

#[derive(Clone, Copy)]
struct Fields {
    kind: Field,
    doc_id: Field,
    corpus: Field,
    location: Field,
    title: Field,
    heading: Field,
    body: Field,
    text: Field,
    hash: Field,
    raw_hash: Field,
    format: Field,
    ordinal: Field,
    start: Field,
    end: Field,
    page: Field,
    fetched: Field,
}

fn schema() -> (Schema, Fields) {
    let mut b = Schema::builder();
    let stemmed = TextOptions::default().set_indexing_options(
        TextFieldIndexing::default()
            .set_tokenizer(TOKENIZER)
            .set_index_option(IndexRecordOption::WithFreqsAndPositions),
    );
    let stemmed_stored = stemmed.clone().set_stored();
    let fields = Fields {
        kind: b.add_text_field("kind", STRING | STORED),
        doc_id: b.add_text_field("doc_id", STRING | STORED),
        corpus: b.add_text_field("corpus", STRING | STORED),
        location: b.add_text_field("location", STORED),
        title: b.add_text_field("title", stemmed_stored.clone()),
        heading: b.add_text_field("heading", stemmed_stored.clone()),
        body: b.add_text_field("body", stemmed_stored),
        text: b.add_text_field("text", STORED),
        hash: b.add_text_field("hash", STRING | STORED),
        raw_hash: b.add_text_field("raw_hash", STORED),
        format: b.add_text_field("format", STORED),
        ordinal: b.add_u64_field("ordinal", STORED),
        start: b.add_u64_field("start", STORED),
        end: b.add_u64_field("end", STORED),
        page: b.add_u64_field("page", STORED),
        fetched: b.add_text_field("fetched", STORED),
    };
    (b.build(), fields)
}

/// Tokenizes exactly as [`text::tokens`] + [`text::stem`], so the offline engine's terms and
/// the index's terms agree (identifiers like `seq_page_cost` and numbers like `4.0` stay whole).
#[derive(Clone, Default)]
struct StemTokenizer {
    tokens: Vec<Token>,
}

struct StemTokenStream<'a> {
    tokens: &'a [Token],
    next: usize,
}

impl Tokenizer for StemTokenizer {
    type TokenStream<'a> = StemTokenStream<'a>;
    fn token_stream<'a>(&'a mut self, input: &'a str) -> StemTokenStream<'a> {
        self.tokens.clear();
        for (position, t) in indexed(input) {
            self.tokens.push(Token {
                offset_from: t.start,
                offset_to: t.start + t.text.len(),
                position,
                text: text::stem(t.text),
                position_length: 1,
            });
        }
        StemTokenStream {
            tokens: &self.tokens,
            next: 0,
        }
    }
}

impl TokenStream for StemTokenStream<'_> {
    fn advance(&mut self) -> bool {
        self.next += 1;
        self.next <= self.tokens.len()
    }
    fn token(&self) -> &Token {
        &self.tokens[self.next - 1]
    }
    fn token_mut(&mut self) -> &mut Token {
        unreachable!("the stream hands out shared tokens only")
    }
}

/// The tokens the index keeps of a value, with their positions. Very long tokens (base64,
/// hashes) only bloat the term dictionary, so they are left out (their positions stay taken).
fn indexed(input: &str) -> impl Iterator<Item = (usize, text::Token<'_>)> {
    text::tokens(input)
        .into_iter()
        .enumerate()
        .filter(|(_, t)| t.text.len() <= MAX_TOKEN_BYTES)
}

/// Count each distinct indexed term of `value` once into `deltas` under `field`, `times` times.
fn count_terms(
    deltas: &mut HashMap<(Scored, String), i64>,
    field: Scored,
    value: &str,
    times: i64,
) {
    let distinct: HashSet<String> = indexed(value).map(|(_, t)| text::stem(t.text)).collect();
    for term in distinct {
        *deltas.entry((field, term)).or_default() += times;
    }
}

/// One passage's terms into the scoped document frequencies: +1 added, -1 removed. The title
/// is counted per document by the caller (the same for every passage).
fn count_passage(
    deltas: &mut HashMap<(Scored, String), i64>,
    heading: &str,
    body: &str,
    sign: i64,
) {
    count_terms(deltas, Scored::Body, body, sign);
    count_terms(deltas, Scored::Heading, heading, sign);
}

/// What retrieval asks of the store.
#[derive(Debug, Clone, Default)]
pub struct SearchRequest {
    /// Free text; its content stems become the query's terms.
    pub text: String,
    /// Multi-word phrases that score extra when they occur verbatim (stemmed).
    pub phrases: Vec<String>,
    /// Terms every hit must contain (stems), e.g. the subject a skeptic checks.
    pub required: Vec<String>,
    /// Restrict to these corpora (canonical roots) and `documents`; both empty means all.
    pub corpora: Vec<String>,
    /// Documents searched besides the corpora (the web pages one run fetched).
    pub documents: Vec<String>,
    pub limit: usize,
    /// Restrict to these documents (ids); empty means all.
    pub doc_ids: Vec<String>,
}

/// A stored document's exact text and identity, for quote checks.
#[derive(Debug, Clone, PartialEq)]
pub struct StoredDoc {
    pub location: String,
    pub title: String,
    pub hash: String,
    pub text: String,
}

#[derive(Debug, Clone, PartialEq, serde::Serialize)]
pub struct IndexStats {
    pub dir: PathBuf,
    pub documents: u64,
    pub passages: u64,
    pub corpora: Vec<(String, u64)>,
    pub bytes_on_disk: u64,
}

pub struct Store {
    dir: PathBuf,
    index: Index,
    reader: IndexReader,
    f: Fields,
    manifest: Manifest,
    /// Held by this process's writing session: another one (a concurrent call of the same
    /// server) waits for it to commit, however long its ingest takes, instead of failing on
    /// tantivy's lock.
    writing: Mutex<()>,
    /// Statistics of scoped searches for the current searcher generation: (generation, values).
    scoped_freqs: Mutex<(u64, HashMap<String, u64>)>,
}

/// Memory each indexing thread of the one tantivy writer may use for documents not yet flushed,
/// whatever the corpus's size: when it is full, tantivy writes a segment and starts again. A
/// smaller heap makes more segments, and merging them costs more memory than it saves.
const WRITER_HEAP_PER_THREAD: usize = 24_000_000;
/// Indexing threads of the writer at most (extraction runs on rayon's threads beside them).
const WRITER_THREADS_MAX: usize = 4;
/// Documents indexed between two commits: a long ingest keeps what it did if it is stopped,
/// and the manifest changes held for the next commit stay small. Each commit also starts
/// merges, so not much more often than this.
const COMMIT_EVERY: usize = 5_000;

impl Store {
    /// Open the index in `dir`, creating it (and the folder) when absent.
    pub fn open(dir: &Path) -> Result<Store, IndexError> {
        std::fs::create_dir_all(dir).map_err(|source| IndexError::Create {
            dir: dir.to_path_buf(),
            source,
        })?;
        let has_meta = dir.join("meta.json").exists();
        // Files another research process may be creating right now (index, journal, caches,
        // locks) are ours; anything else means the folder is someone else's.
        let has_other_files = std::fs::read_dir(dir)
            .map_err(|source| IndexError::Create {
                dir: dir.to_path_buf(),
                source,
            })?
            .filter_map(Result::ok)
            .any(|e| !is_our_file(&e.file_name().to_string_lossy()));
        if !has_meta && has_other_files {
            return Err(IndexError::NotAnIndex {
                dir: dir.to_path_buf(),
            });
        }
        let corrupt = |e: &dyn std::fmt::Display| IndexError::Corrupt {
            dir: dir.to_path_buf(),
            detail: one_line(e),
        };
        let (schema, f) = schema();
        // Two runs started at once on a new folder must not both create the index: the second
        // waits here and then opens what the first made.
        let creating = lock_creation(dir)?;
        let mmap = MmapDirectory::open(dir).map_err(|e| corrupt(&e))?;
        let index = Index::open_or_create(mmap, schema).map_err(|e| corrupt(&e))?;
        drop(creating);
        index
            .tokenizers()
            .register(TOKENIZER, StemTokenizer::default());
        let reader = index
            .reader_builder()
            .reload_policy(ReloadPolicy::Manual)
            .try_into()
            .map_err(|e: tantivy::TantivyError| corrupt(&e))?;
        let manifest = Manifest::open(dir).map_err(|e| IndexError::Manifest {
            path: dir.join(manifest::FILE),
            detail: one_line(&e),
        })?;
        let store = Store {
            dir: dir.to_path_buf(),
            index,
            reader,
            f,
            manifest,
            writing: Mutex::new(()),
            scoped_freqs: Mutex::new((u64::MAX, HashMap::new())),
        };
        // Touch every segment's store once so a damaged index fails here, with advice, and not
        // halfway through a run; then bring the manifest level with the index.
        store.check_segments().map_err(|e| corrupt(&e))?;
        store.reconcile().map_err(|e| match e {
            IndexError::Tantivy { detail, .. } => corrupt(&detail),
            other => other,
        })?;
        Ok(store)
    }

    fn check_segments(&self) -> tantivy::Result<()> {
        let searcher = self.reader.searcher();
        for segment in searcher.segment_readers() {
            let store = segment.get_store_reader(1)?;
            if let Some(doc) = (0..segment.max_doc()).find(|d| !segment.is_deleted(*d)) {
                store.get::<TantivyDocument>(doc)?;
            }
        }
        Ok(())
    }

    fn manifest_err(&self, e: rusqlite::Error) -> IndexError {
        IndexError::Manifest {
            path: self.dir.join(manifest::FILE),
            detail: one_line(&e),
        }
    }

    /// The opstamp of the index's last commit.
    fn opstamp(&self) -> Result<u64, IndexError> {
        Ok(self.index.load_metas().map_err(|e| self.err(e))?.opstamp)
    }

    /// Rebuild the manifest from the index when it does not match the index's last commit: an
    /// index made before the manifest existed, or a process stopped between the two commits.
    /// Rebuilt rows carry no file metadata, so their files are read (once) on the next run.
    fn reconcile(&self) -> Result<(), IndexError> {
        let opstamp = self.opstamp()?;
        if self.manifest.opstamp().map_err(|e| self.manifest_err(e))? == Some(opstamp) {
            return Ok(());
        }
        let (opstamp, searcher) = self.snapshot()?;
        let mut rows: HashMap<String, Row> = HashMap::new();
        let mut terms = TermDeltas::new();
        for segment in searcher.segment_readers() {
            let store = segment.get_store_reader(8).map_err(|e| self.err(e))?;
            let norms = [self.f.body, self.f.heading, self.f.title]
                .map(|f| segment.get_fieldnorms_reader(f));
            let [body, heading, title] = norms;
            let (body, heading, title) = (
                body.map_err(|e| self.err(e))?,
                heading.map_err(|e| self.err(e))?,
                title.map_err(|e| self.err(e))?,
            );
            for doc in (0..segment.max_doc()).filter(|d| !segment.is_deleted(*d)) {
                let d: TantivyDocument = store.get(doc).map_err(|e| self.err(e))?;
                let id = self.str(&d, self.f.doc_id);
                let entry = rows.entry(id.clone()).or_insert_with(|| Row {
                    doc_id: id,
                    known: Known {
                        raw_hash: String::new(),
                        corpus: String::new(),
                        file: None,
                    },
                    stats: PassageStats::default(),
                });
                entry.known.corpus = self.str(&d, self.f.corpus);
                if self.str(&d, self.f.kind) == KIND_DOC {
                    entry.known.raw_hash = self.str(&d, self.f.raw_hash);
                } else {
                    entry.stats.passages += 1;
                    entry.stats.body += u64::from(body.fieldnorm(doc));
                    entry.stats.heading += u64::from(heading.fieldnorm(doc));
                    entry.stats.title += u64::from(title.fieldnorm(doc));
                    let deltas = terms.entry(entry.known.corpus.clone()).or_default();
                    self.count_stored(deltas, &d, 1);
                }
            }
        }
        self.manifest
            .replace_all(rows.into_values().collect(), terms, opstamp)
            .map_err(|e| self.manifest_err(e))
    }

    /// A stored passage's terms into `deltas` (`sign` +1 or -1), title included.
    fn count_stored(
        &self,
        deltas: &mut HashMap<(Scored, String), i64>,
        d: &TantivyDocument,
        sign: i64,
    ) {
        let [heading, body, title] =
            [self.f.heading, self.f.body, self.f.title].map(|f| self.str(d, f));
        count_passage(deltas, &heading, &body, sign);
        count_terms(deltas, Scored::Title, &title, sign);
    }

    /// One document's records of one kind (its document record, or its passages).
    fn records_of(&self, doc_id: &str, kind: &str) -> BooleanQuery {
        let term = |field: Field, value: &str| -> (Occur, Box<dyn Query>) {
            (
                Occur::Must,
                Box::new(TermQuery::new(
                    Term::from_field_text(field, value),
                    IndexRecordOption::Basic,
                )),
            )
        };
        BooleanQuery::new(vec![term(self.f.doc_id, doc_id), term(self.f.kind, kind)])
    }

    /// The committed passages of one document.
    fn stored_passages(&self, doc_id: &str) -> Result<Vec<TantivyDocument>, IndexError> {
        let searcher = self.reader.searcher();
        let found = searcher
            .search(&self.records_of(doc_id, KIND_PASSAGE), &DocSetCollector)
            .map_err(|e| self.err(e))?;
        found
            .into_iter()
            .map(|addr| searcher.doc(addr).map_err(|e| self.err(e)))
            .collect()
    }

    /// A searcher and the opstamp of exactly the commit it sees: another process may commit
    /// between reading the index's metadata and reloading the reader, so the two are read
    /// until they agree on the segments.
    fn snapshot(&self) -> Result<(u64, Searcher), IndexError> {
        // A writer commits a few times a second at most: if they still differ after this many
        // tries, something else keeps them apart, and the last reading is the best there is.
        const TRIES: usize = 100;
        let mut attempt = 0;
        loop {
            attempt += 1;
            let metas = self.index.load_metas().map_err(|e| self.err(e))?;
            self.reader.reload().map_err(|e| self.err(e))?;
            let searcher = self.reader.searcher();
            let mut seen: Vec<_> = searcher
                .segment_readers()
                .iter()
                .map(|r| r.segment_id())
                .collect();
            let mut meant: Vec<_> = metas.segments.iter().map(|m| m.id()).collect();
            seen.sort();
            meant.sort();
            if seen == meant || attempt >= TRIES {
                return Ok((metas.opstamp, searcher));
            }
            std::thread::sleep(Duration::from_millis(20));
        }
    }

    pub fn dir(&self) -> &Path {
        &self.dir
    }

    fn err(&self, e: impl std::fmt::Display) -> IndexError {
        IndexError::Tantivy {
            dir: self.dir.clone(),
            detail: one_line(&e),
        }
    }

    /// Every stored document: id -> what incremental indexing needs to know of it.
    pub fn known_documents(&self) -> Result<HashMap<String, Known>, IndexError> {
        self.manifest.all().map_err(|e| self.manifest_err(e))
    }

    /// The documents stored under these corpora (a warm run reads only its own corpora's rows).
    pub fn known_in(&self, corpora: &[String]) -> Result<HashMap<String, Known>, IndexError> {
        self.manifest
            .known_in(corpora)
            .map_err(|e| self.manifest_err(e))
    }

    /// Files read again whose content had not changed: remember their new metadata, so the
    /// next run trusts them without reading them.
    pub fn touch(&self, touched: Vec<(String, FileMeta)>) -> Result<(), IndexError> {
        if touched.is_empty() {
            return Ok(());
        }
        self.manifest
            .touch(touched)
            .map_err(|e| self.manifest_err(e))
    }

    /// One stored document, whichever corpus holds it.
    pub fn known(&self, doc_id: &str) -> Result<Option<Known>, IndexError> {
        self.manifest
            .known(doc_id)
            .map_err(|e| self.manifest_err(e))
    }

    /// Remove documents (and their passages), e.g. files deleted from a corpus.
    pub fn remove(&self, doc_ids: &[String]) -> Result<(), IndexError> {
        if doc_ids.is_empty() {
            return Ok(());
        }
        let mut indexer = self.indexer()?;
        for id in doc_ids {
            indexer.remove(id)?;
        }
        indexer.commit().map(|_| ())
    }

    fn str(&self, d: &TantivyDocument, field: Field) -> String {
        d.get_first(field)
            .and_then(|v| v.as_str())
            .unwrap_or_default()
            .to_string()
    }

    fn u64(&self, d: &TantivyDocument, field: Field) -> u64 {
        d.get_first(field).and_then(|v| v.as_u64()).unwrap_or(0)
    }

    /// Store documents, replacing any earlier version of each. Returns how many were written.
    pub fn add(&self, docs: &[Document]) -> Result<usize, IndexError> {
        if docs.is_empty() {
            return Ok(0);
        }
        let mut indexer = self.indexer()?;
        for d in docs {
            indexer.add(d)?;
        }
        indexer.commit()
    }

    /// A writing session: documents go to the one tantivy writer as they come (its heap is
    /// fixed, so memory does not grow with the corpus), with a commit every [`COMMIT_EVERY`]
    /// documents and one at [`Indexer::commit`]. Dropped without committing, the changes since
    /// the last commit are discarded.
    pub fn indexer(&self) -> Result<Indexer<'_>, IndexError> {
        let writing = self.writing.lock().unwrap_or_else(|p| p.into_inner());
        let writer = self.writer()?;
        // Replacing a document reads its stored passages to take their terms out of the
        // counts: see what other processes committed, including one whose writer this session
        // waited for (read before the wait, a document it added under another corpus kept its
        // counts there for good).
        self.reader.reload().map_err(|e| self.err(e))?;
        Ok(Indexer {
            store: self,
            writer,
            _writing: writing,
            changes: Changes::default(),
            pending: HashSet::new(),
            added: 0,
            since_commit: 0,
        })
    }

    fn record(&self, d: &Document) -> TantivyDocument {
        let mut rec = TantivyDocument::default();
        rec.add_text(self.f.kind, KIND_DOC);
        rec.add_text(self.f.doc_id, &d.id);
        rec.add_text(self.f.corpus, &d.corpus);
        rec.add_text(self.f.location, &d.location);
        rec.add_text(self.f.title, &d.title);
        rec.add_text(self.f.text, &d.text);
        rec.add_text(self.f.hash, &d.hash);
        rec.add_text(self.f.raw_hash, &d.raw_hash);
        rec.add_text(
            self.f.format,
            serde_json::to_string(&d.format).unwrap_or_default(),
        );
        if let Some(f) = &d.fetched {
            rec.add_text(self.f.fetched, f);
        }
        rec
    }

    fn passage_record(&self, d: &Document, p: &Passage, heading: &str) -> TantivyDocument {
        let mut rec = TantivyDocument::default();
        rec.add_text(self.f.kind, KIND_PASSAGE);
        rec.add_text(self.f.doc_id, &d.id);
        rec.add_text(self.f.corpus, &d.corpus);
        rec.add_text(self.f.location, &d.location);
        rec.add_text(self.f.title, &d.title);
        rec.add_text(self.f.heading, heading);
        rec.add_text(self.f.body, &p.text);
        rec.add_text(self.f.hash, &d.hash);
        rec.add_u64(self.f.ordinal, u64::from(p.ordinal));
        rec.add_u64(self.f.start, p.start as u64);
        rec.add_u64(self.f.end, p.end as u64);
        if let Some(page) = p.page {
            rec.add_u64(self.f.page, u64::from(page));
        }
        if let Some(f) = &d.fetched {
            rec.add_text(self.f.fetched, f);
        }
        rec
    }

    fn writer(&self) -> Result<tantivy::IndexWriter, IndexError> {
        // Half the cores index; the other half extract (rayon).
        let threads = std::thread::available_parallelism()
            .map_or(1, |n| n.get())
            .div_euclid(2)
            .clamp(1, WRITER_THREADS_MAX);
        // Another process may hold the writer lock briefly; wait a little before giving up.
        let mut attempts = 0;
        loop {
            match self.index.writer_with_num_threads::<TantivyDocument>(
                threads,
                threads * WRITER_HEAP_PER_THREAD,
            ) {
                Ok(w) => return Ok(w),
                Err(tantivy::TantivyError::LockFailure(..)) if attempts < 120 => {
                    attempts += 1;
                    std::thread::sleep(Duration::from_millis(250));
                }
                Err(tantivy::TantivyError::LockFailure(..)) => {
                    return Err(IndexError::Locked {
                        dir: self.dir.clone(),
                    })
                }
                Err(e) => return Err(self.err(e)),
            }
        }
    }

    /// Pick up commits made by other processes.
    pub fn refresh(&self) -> Result<(), IndexError> {
        self.reader.reload().map_err(|e| self.err(e))
    }

    fn stems_of(text: &str) -> Vec<String> {
        text::content_stems(text)
    }

    /// Passages ranked by BM25 over body, headings and title.
    pub fn search(&self, req: &SearchRequest) -> Result<Vec<Hit>, IndexError> {
        if req.limit == 0 {
            return Ok(Vec::new());
        }
        let stems = Self::stems_of(&req.text);
        let mut should: Vec<(Occur, Box<dyn Query>)> = Vec::new();
        for s in &stems {
            for (field, boost) in [
                (self.f.body, 1.0),
                (self.f.heading, 0.6),
                (self.f.title, 0.4),
            ] {
                let q = TermQuery::new(
                    Term::from_field_text(field, s),
                    IndexRecordOption::WithFreqs,
                );
                should.push((Occur::Should, Box::new(BoostQuery::new(Box::new(q), boost))));
            }
        }
        for phrase in &req.phrases {
            let terms: Vec<Term> = text::tokens(phrase)
                .iter()
                .map(|t| Term::from_field_text(self.f.body, &text::stem(t.text)))
                .collect();
            if terms.len() >= 2 {
                let q = PhraseQuery::new(terms);
                should.push((Occur::Should, Box::new(BoostQuery::new(Box::new(q), 2.0))));
            }
        }
        if should.is_empty() {
            return Ok(Vec::new());
        }
        let mut clauses: Vec<(Occur, Box<dyn Query>)> = vec![
            (Occur::Must, Box::new(BooleanQuery::new(should))),
            (
                Occur::Must,
                Box::new(TermQuery::new(
                    Term::from_field_text(self.f.kind, KIND_PASSAGE),
                    IndexRecordOption::Basic,
                )),
            ),
        ];
        for r in &req.required {
            let alternatives: Vec<(Occur, Box<dyn Query>)> = [self.f.body, self.f.heading]
                .into_iter()
                .map(|field| {
                    let q: Box<dyn Query> = Box::new(TermQuery::new(
                        Term::from_field_text(field, r),
                        IndexRecordOption::Basic,
                    ));
                    (Occur::Should, q)
                })
                .collect();
            clauses.push((Occur::Must, Box::new(BooleanQuery::new(alternatives))));
        }
        let scope = Scope {
            corpora: &req.corpora,
            documents: &req.documents,
        };
        if !scope.is_everything() {
            clauses.push((Occur::Must, self.scope_query(&scope)));
        }
        if !req.doc_ids.is_empty() {
            let any: Vec<(Occur, Box<dyn Query>)> = req
                .doc_ids
                .iter()
                .map(|id| {
                    let q: Box<dyn Query> = Box::new(TermQuery::new(
                        Term::from_field_text(self.f.doc_id, id),
                        IndexRecordOption::Basic,
                    ));
                    (Occur::Should, q)
                })
                .collect();
            clauses.push((Occur::Must, Box::new(BooleanQuery::new(any))));
        }
        let query = BooleanQuery::new(clauses);
        let searcher = self.reader.searcher();
        // A few more than asked: passages that tie at the cut are then ordered by their own ids,
        // not by where the index happened to put them, so two fresh indexes of one corpus
        // (ingested in parallel, in any order) return the same hits and a model is sent the
        // same prompt (its cache hits).
        let stats = if scope.is_everything() {
            None
        } else {
            // Rank with the statistics of the searched corpora alone: what a question over one
            // corpus finds must not change when other corpora share the index.
            Some(ScopedStats::new(self, &searcher, scope)?)
        };
        // Scores summed over differently laid out segments can differ in their last bits:
        // compared at a thousandth, they tie, and ties go by passage id.
        let steady = |score: f32| (score * 1000.0).round() / 1000.0;
        let mut want = req.limit + TIE_MARGIN;
        let (top, cut) = loop {
            let collector = TopDocs::with_limit(want).order_by_score();
            let top = match &stats {
                None => searcher.search(&query, &collector),
                Some(stats) => searcher.search_with_statistics_provider(&query, &collector, stats),
            }
            .map_err(|e| self.err(e))?;
            let cut = top
                .get(req.limit - 1)
                .map(|(score, _)| steady(*score))
                .unwrap_or(f32::MIN);
            // Every passage tied at the cut must be in hand before ties go by id: a sentence
            // many pages share (a footer) can tie hundreds of times. Widen until the tie ends.
            let tie_runs_past =
                top.len() == want && top.last().is_some_and(|(s, _)| steady(*s) >= cut);
            if !tie_runs_past || want >= req.limit + MAX_TIE_WIDTH {
                break (top, cut);
            }
            want = (want * 4).min(req.limit + MAX_TIE_WIDTH);
        };
        let mut hits = Vec::with_capacity(top.len());
        for (score, addr) in top
            .into_iter()
            .map(|(score, addr)| (steady(score), addr))
            .filter(|(score, _)| *score >= cut)
        {
            let d: TantivyDocument = searcher.doc(addr).map_err(|e| self.err(e))?;
            let heading = self.str(&d, self.f.heading);
            hits.push(Hit {
                passage: Passage {
                    doc_id: self.str(&d, self.f.doc_id),
                    ordinal: self.u64(&d, self.f.ordinal) as u32,
                    heading_path: if heading.is_empty() {
                        Vec::new()
                    } else {
                        heading.split(" \u{203a} ").map(str::to_string).collect()
                    },
                    start: self.u64(&d, self.f.start) as usize,
                    end: self.u64(&d, self.f.end) as usize,
                    text: self.str(&d, self.f.body),
                    page: d
                        .get_first(self.f.page)
                        .and_then(|v| v.as_u64())
                        .map(|p| p as u32),
                },
                location: self.str(&d, self.f.location),
                title: self.str(&d, self.f.title),
                doc_hash: self.str(&d, self.f.hash),
                score,
                fetched: d
                    .get_first(self.f.fetched)
                    .and_then(|v| v.as_str())
                    .map(str::to_string),
            });
        }
        hits.sort_by(|a, b| {
            b.score
                .total_cmp(&a.score)
                .then_with(|| a.passage.doc_id.cmp(&b.passage.doc_id))
                .then_with(|| a.passage.ordinal.cmp(&b.passage.ordinal))
        });
        hits.truncate(req.limit);
        Ok(hits)
    }

    /// The stored text of one document.
    pub fn document(&self, doc_id: &str) -> Result<Option<StoredDoc>, IndexError> {
        let searcher = self.reader.searcher();
        let top = searcher
            .search(
                &self.records_of(doc_id, KIND_DOC),
                &TopDocs::with_limit(1).order_by_score(),
            )
            .map_err(|e| self.err(e))?;
        let Some((_, addr)) = top.into_iter().next() else {
            return Ok(None);
        };
        let d: TantivyDocument = searcher.doc(addr).map_err(|e| self.err(e))?;
        Ok(Some(StoredDoc {
            location: self.str(&d, self.f.location),
            title: self.str(&d, self.f.title),
            hash: self.str(&d, self.f.hash),
            text: self.str(&d, self.f.text),
        }))
    }

    /// Inverse document frequency of a stem over passages (smoothed, BM25-style).
    pub fn idf(&self, stem: &str) -> f32 {
        self.idf_in(stem, &[], &[])
    }

    /// How rare a stem is among the passages of `corpora` and `documents` (of the whole index
    /// when both are empty).
    pub fn idf_in(&self, stem: &str, corpora: &[String], documents: &[String]) -> f32 {
        let searcher = self.reader.searcher();
        let term = Term::from_field_text(self.f.body, stem);
        let scope = Scope { corpora, documents };
        let (n, df) = if scope.is_everything() {
            (searcher.num_docs(), searcher.doc_freq(&term).unwrap_or(0))
        } else {
            match ScopedStats::new(self, &searcher, scope) {
                Ok(stats) => (stats.totals.passages, stats.doc_freq(&term).unwrap_or(0)),
                Err(_) => (searcher.num_docs(), searcher.doc_freq(&term).unwrap_or(0)),
            }
        };
        let (n, df) = (n as f32, df as f32);
        ((n - df + 0.5) / (df + 0.5) + 1.0).ln().max(0.01)
    }

    /// Passages of any of the scope's corpora or documents.
    fn scope_query(&self, scope: &Scope) -> Box<dyn Query> {
        let term = |field: Field, value: &str| -> (Occur, Box<dyn Query>) {
            (
                Occur::Should,
                Box::new(TermQuery::new(
                    Term::from_field_text(field, value),
                    IndexRecordOption::Basic,
                )),
            )
        };
        let any: Vec<(Occur, Box<dyn Query>)> = scope
            .corpora
            .iter()
            .map(|c| term(self.f.corpus, c))
            .chain(scope.documents.iter().map(|d| term(self.f.doc_id, d)))
            .collect();
        Box::new(BooleanQuery::new(vec![
            (
                Occur::Must,
                Box::new(BooleanQuery::new(any)) as Box<dyn Query>,
            ),
            (
                Occur::Must,
                Box::new(TermQuery::new(
                    Term::from_field_text(self.f.kind, KIND_PASSAGE),
                    IndexRecordOption::Basic,
                )),
            ),
        ]))
    }

    /// Passages of the scope holding `term`. The corpora's counts are kept in the manifest
    /// (a lookup per corpus, whatever the index's size); documents searched besides them (a
    /// run's web pages, none of them in the corpora: see [`Store::outside_corpora`]) are few,
    /// and counted in the index.
    fn scoped_doc_freq(
        &self,
        searcher: &Searcher,
        scope: Scope,
        term: &Term,
    ) -> tantivy::Result<u64> {
        let field = term.field();
        let scored = if field == self.f.body {
            Scored::Body
        } else if field == self.f.heading {
            Scored::Heading
        } else if field == self.f.title {
            Scored::Title
        } else {
            return self.scoped_count(searcher, scope, term);
        };
        let value = term.value();
        let Some(text) = value.as_str() else {
            return self.scoped_count(searcher, scope, term);
        };
        let in_corpora = self
            .manifest
            .doc_freq(scope.corpora, scored, text)
            .map_err(|e| tantivy::TantivyError::InternalError(one_line(&e)))?;
        if scope.documents.is_empty() {
            return Ok(in_corpora);
        }
        let besides = Scope {
            corpora: &[],
            documents: scope.documents,
        };
        Ok(in_corpora + self.scoped_count(searcher, besides, term)?)
    }

    /// The scope's documents that none of its corpora holds (those are counted with their
    /// corpus): what [`Store::scoped_doc_freq`] counts in the index. Read once per search, not
    /// once per term.
    fn outside_corpora(&self, scope: Scope) -> Vec<String> {
        scope
            .documents
            .iter()
            .filter(|d| {
                !matches!(self.manifest.known(d), Ok(Some(k)) if scope.corpora.contains(&k.corpus))
            })
            .cloned()
            .collect()
    }

    /// Passages of the scope holding `term`: an intersection of the term's postings with the
    /// scope's, so its cost follows the rarer of the two.
    fn scoped_count(&self, searcher: &Searcher, scope: Scope, term: &Term) -> tantivy::Result<u64> {
        let key = format!(
            "docs\u{0}{}\u{0}{:?}\u{0}{:?}",
            scope.key(),
            term.field(),
            term.serialized_value_bytes()
        );
        self.cached(searcher, key, |_| {
            let n = searcher.search(
                &BooleanQuery::new(vec![
                    (Occur::Must, self.scope_query(&scope)),
                    (
                        Occur::Must,
                        Box::new(TermQuery::new(term.clone(), IndexRecordOption::Basic)),
                    ),
                ]),
                &Count,
            )?;
            Ok(n as u64)
        })
    }

    /// Passages of a scope and their tokens per scored field, from the manifest's per-corpus
    /// sums (kept as documents come and go), not from a scan of the scope's passages.
    fn scope_stats(&self, scope: Scope) -> Result<PassageStats, IndexError> {
        self.manifest
            .stats_of(scope.corpora, scope.documents)
            .map_err(|e| self.manifest_err(e))
    }

    /// A scoped statistic, computed once per searcher generation: a run's agents ask the same
    /// ones many times, side by side, and any commit changes them. Computed under the lock, so
    /// agents asking at once wait for one computation instead of each making its own; the
    /// computation may cache other statistics it finds on the way.
    fn cached(
        &self,
        searcher: &Searcher,
        key: String,
        compute: impl FnOnce(&mut HashMap<String, u64>) -> tantivy::Result<u64>,
    ) -> tantivy::Result<u64> {
        let generation = searcher.generation().generation_id();
        let mut cache = self.scoped_freqs.lock().unwrap_or_else(|p| p.into_inner());
        if cache.0 != generation {
            *cache = (generation, HashMap::new());
        }
        if let Some(n) = cache.1.get(&key) {
            return Ok(*n);
        }
        let n = compute(&mut cache.1)?;
        cache.1.insert(key, n);
        Ok(n)
    }

    pub fn stats(&self) -> Result<IndexStats, IndexError> {
        let searcher = self.reader.searcher();
        let count = |kind: &str| {
            searcher
                .search(
                    &TermQuery::new(
                        Term::from_field_text(self.f.kind, kind),
                        IndexRecordOption::Basic,
                    ),
                    &Count,
                )
                .map_err(|e| self.err(e))
        };
        let documents = count(KIND_DOC)? as u64;
        let passages = count(KIND_PASSAGE)? as u64;
        let corpora = self.manifest.corpora().map_err(|e| self.manifest_err(e))?;
        let bytes_on_disk = std::fs::read_dir(&self.dir)
            .map(|rd| {
                rd.filter_map(Result::ok)
                    .filter_map(|e| e.metadata().ok())
                    .map(|m| m.len())
                    .sum()
            })
            .unwrap_or(0);
        Ok(IndexStats {
            dir: self.dir.clone(),
            documents,
            passages,
            corpora,
            bytes_on_disk,
        })
    }
}

/// The search backend every stage works through. [`Store`] (tantivy on this machine) is the
/// one implementation; README ("An index too big for one machine") says how a cluster would
/// stand behind the same calls. What the quote check needs of any backend: a document's exact
/// stored text ([`SearchBackend::document`]) and hits whose byte spans index into that text.
pub trait SearchBackend: Send + Sync {
    /// The folder of the state kept beside the index (run journal, fetch cache, digest state).
    fn dir(&self) -> &Path;
    /// Passages ranked by BM25, with the statistics of the searched corpora alone.
    fn search(&self, req: &SearchRequest) -> Result<Vec<Hit>, IndexError>;
    /// A document's exact stored text, for quote checks.
    fn document(&self, doc_id: &str) -> Result<Option<StoredDoc>, IndexError>;
    /// How rare a stem is among the passages of `corpora` and `documents` (all when empty).
    fn idf_in(&self, stem: &str, corpora: &[String], documents: &[String]) -> f32;
    fn idf(&self, stem: &str) -> f32 {
        self.idf_in(stem, &[], &[])
    }
    /// Every stored document: id -> what incremental indexing needs to know of it.
    fn known_documents(&self) -> Result<HashMap<String, Known>, IndexError>;
    /// The documents stored under these corpora.
    fn known_in(&self, corpora: &[String]) -> Result<HashMap<String, Known>, IndexError>;
    /// Remember new metadata of files read again and found unchanged.
    fn touch(&self, touched: Vec<(String, FileMeta)>) -> Result<(), IndexError>;
    /// A writing session; see [`Store::indexer`].
    fn writer_session(&self) -> Result<Box<dyn DocumentWriter + '_>, IndexError>;
    /// Store documents, replacing earlier versions. Returns how many were written.
    fn add(&self, docs: &[Document]) -> Result<usize, IndexError> {
        if docs.is_empty() {
            return Ok(0);
        }
        let mut w = self.writer_session()?;
        for d in docs {
            w.add(d)?;
        }
        w.commit()
    }
    /// Remove documents and their passages.
    fn remove(&self, doc_ids: &[String]) -> Result<(), IndexError> {
        if doc_ids.is_empty() {
            return Ok(());
        }
        let mut w = self.writer_session()?;
        for id in doc_ids {
            w.remove(id)?;
        }
        w.commit().map(|_| ())
    }
    /// Pick up commits made by other processes.
    fn refresh(&self) -> Result<(), IndexError>;
    fn stats(&self) -> Result<IndexStats, IndexError>;
}

/// A backend's writing session: documents in as they come, visible after `commit`.
pub trait DocumentWriter {
    fn add(&mut self, d: &Document) -> Result<(), IndexError>;
    fn remove(&mut self, doc_id: &str) -> Result<(), IndexError>;
    /// Returns how many documents were added.
    fn commit(self: Box<Self>) -> Result<usize, IndexError>;
}

impl SearchBackend for Store {
    fn dir(&self) -> &Path {
        Store::dir(self)
    }
    fn search(&self, req: &SearchRequest) -> Result<Vec<Hit>, IndexError> {
        Store::search(self, req)
    }
    fn document(&self, doc_id: &str) -> Result<Option<StoredDoc>, IndexError> {
        Store::document(self, doc_id)
    }
    fn idf_in(&self, stem: &str, corpora: &[String], documents: &[String]) -> f32 {
        Store::idf_in(self, stem, corpora, documents)
    }
    fn known_documents(&self) -> Result<HashMap<String, Known>, IndexError> {
        Store::known_documents(self)
    }
    fn known_in(&self, corpora: &[String]) -> Result<HashMap<String, Known>, IndexError> {
        Store::known_in(self, corpora)
    }
    fn touch(&self, touched: Vec<(String, FileMeta)>) -> Result<(), IndexError> {
        Store::touch(self, touched)
    }
    fn writer_session(&self) -> Result<Box<dyn DocumentWriter + '_>, IndexError> {
        Ok(Box::new(self.indexer()?))
    }
    fn refresh(&self) -> Result<(), IndexError> {
        Store::refresh(self)
    }
    fn stats(&self) -> Result<IndexStats, IndexError> {
        Store::stats(self)
    }
}

impl DocumentWriter for Indexer<'_> {
    fn add(&mut self, d: &Document) -> Result<(), IndexError> {
        Indexer::add(self, d)
    }
    fn remove(&mut self, doc_id: &str) -> Result<(), IndexError> {
        Indexer::remove(self, doc_id)
    }
    fn commit(self: Box<Self>) -> Result<usize, IndexError> {
        Indexer::commit(*self)
    }
}

/// See [`Store::indexer`].
pub struct Indexer<'a> {
    store: &'a Store,
    writer: tantivy::IndexWriter,
    /// Dropped after the writer (fields drop in order), so the next session finds it free.
    _writing: std::sync::MutexGuard<'a, ()>,
    changes: Changes,
    /// Documents added since the last commit (the manifest does not know them yet).
    pending: HashSet<String>,
    added: usize,
    since_commit: usize,
}

impl Indexer<'_> {
    /// Store a document, replacing any earlier version of it.
    pub fn add(&mut self, d: &Document) -> Result<(), IndexError> {
        let s = self.store;
        // Tantivy holds each delete as a query with its own scoring cache until the commit
        // (about 1 KiB apiece): a cold ingest of a big corpus would hold one per document. So
        // only a document the index may already hold is deleted first.
        self.forget(&d.id)?;
        self.pending.insert(d.id.clone());
        self.writer
            .add_document(s.record(d))
            .map_err(|e| s.err(e))?;
        let title = field_norm(&d.title);
        let mut stats = PassageStats::default();
        let deltas = self.changes.terms.entry(d.corpus.clone()).or_default();
        count_terms(deltas, Scored::Title, &d.title, d.passages.len() as i64);
        for p in &d.passages {
            let heading = p.heading_path.join(" \u{203a} ");
            count_passage(deltas, &heading, &p.text, 1);
            stats.passages += 1;
            stats.body += field_norm(&p.text);
            stats.heading += field_norm(&heading);
            stats.title += title;
            self.writer
                .add_document(s.passage_record(d, p, &heading))
                .map_err(|e| s.err(e))?;
        }
        self.changes.upserts.push(Row {
            doc_id: d.id.clone(),
            known: Known {
                raw_hash: d.raw_hash.clone(),
                corpus: d.corpus.clone(),
                file: d.file,
            },
            stats,
        });
        self.added += 1;
        self.since_commit += 1;
        if self.since_commit >= COMMIT_EVERY {
            self.flush()?;
        }
        Ok(())
    }

    /// Forget a document and its passages.
    pub fn remove(&mut self, doc_id: &str) -> Result<(), IndexError> {
        self.forget(doc_id)?;
        self.changes.deletes.push(doc_id.to_string());
        Ok(())
    }

    /// Delete a document the index may hold, and take its passages' terms out of the scoped
    /// document frequencies. One added since the last commit is committed first, so its
    /// passages can be read back (a document added twice in one session: rare).
    fn forget(&mut self, doc_id: &str) -> Result<(), IndexError> {
        let s = self.store;
        if self.pending.contains(doc_id) {
            self.flush()?;
            s.reader.reload().map_err(|e| s.err(e))?;
        }
        if s.manifest
            .known(doc_id)
            .map_err(|e| s.manifest_err(e))?
            .is_none()
        {
            return Ok(());
        }
        for old in s.stored_passages(doc_id)? {
            let corpus = s.str(&old, s.f.corpus);
            s.count_stored(self.changes.terms.entry(corpus).or_default(), &old, -1);
        }
        self.writer
            .delete_term(Term::from_field_text(s.f.doc_id, doc_id));
        Ok(())
    }

    /// Commit the tantivy writer, then the manifest with the opstamp it reached.
    fn flush(&mut self) -> Result<(), IndexError> {
        let s = self.store;
        let opstamp = self.writer.commit().map_err(|e| s.err(e))?;
        s.manifest
            .apply(&std::mem::take(&mut self.changes), opstamp)
            .map_err(|e| s.manifest_err(e))?;
        self.pending.clear();
        self.since_commit = 0;
        Ok(())
    }

    /// Commit what is left and make it searchable. Returns how many documents were added.
    pub fn commit(mut self) -> Result<usize, IndexError> {
        if !self.changes.is_empty() || self.since_commit > 0 {
            self.flush()?;
        }
        self.store.reader.reload().map_err(|e| self.store.err(e))?;
        Ok(self.added)
    }
}

/// A field's token count as tantivy stores it in its field norms: [`StemTokenizer`]'s tokens,
/// on tantivy's one-byte scale (exact up to 40, then rounded), so statistics summed here equal
/// those summed from the index.
fn field_norm(value: &str) -> u64 {
    let n = indexed(value).count();
    let n = u32::try_from(n).unwrap_or(u32::MAX);
    let id = tantivy::fieldnorm::FieldNormReader::fieldnorm_to_id(n);
    u64::from(tantivy::fieldnorm::FieldNormReader::id_to_fieldnorm(id))
}

/// What a search covers: passages of these corpora and of these documents.
#[derive(Clone, Copy)]
struct Scope<'a> {
    corpora: &'a [String],
    documents: &'a [String],
}

impl Scope<'_> {
    fn is_everything(&self) -> bool {
        self.corpora.is_empty() && self.documents.is_empty()
    }

    fn key(&self) -> String {
        let mut h = blake3::Hasher::new();
        for part in self
            .corpora
            .iter()
            .chain([&String::new()])
            .chain(self.documents)
        {
            h.update(part.as_bytes());
            h.update(&[0]);
        }
        h.finalize().to_hex().to_string()
    }
}

/// BM25 statistics of the passages of a scope.
struct ScopedStats<'a> {
    store: &'a Store,
    searcher: &'a Searcher,
    scope: Scope<'a>,
    /// The scope's documents outside its corpora.
    outside: Vec<String>,
    totals: PassageStats,
}

impl<'a> ScopedStats<'a> {
    fn new(
        store: &'a Store,
        searcher: &'a Searcher,
        scope: Scope<'a>,
    ) -> Result<ScopedStats<'a>, IndexError> {
        Ok(ScopedStats {
            store,
            searcher,
            scope,
            outside: store.outside_corpora(scope),
            totals: store.scope_stats(scope)?,
        })
    }
}

impl Bm25StatisticsProvider for ScopedStats<'_> {
    fn total_num_tokens(&self, field: Field) -> tantivy::Result<u64> {
        let f = &self.store.f;
        Ok(if field == f.body {
            self.totals.body
        } else if field == f.heading {
            self.totals.heading
        } else if field == f.title {
            self.totals.title
        } else {
            0
        })
    }

    fn total_num_docs(&self) -> tantivy::Result<u64> {
        Ok(self.totals.passages)
    }

    fn doc_freq(&self, term: &Term) -> tantivy::Result<u64> {
        // Never more than the passages counted: tantivy asserts it, and a statistic a little
        // off must not stop a search.
        let scope = Scope {
            corpora: self.scope.corpora,
            documents: &self.outside,
        };
        let df = self.store.scoped_doc_freq(self.searcher, scope, term)?;
        Ok(df.min(self.totals.passages))
    }
}

/// Held while the index is created or opened; the lock is released when the file is dropped.
fn lock_creation(dir: &Path) -> Result<std::fs::File, IndexError> {
    use fs4::fs_std::FileExt;
    let failed = |source| IndexError::Create {
        dir: dir.to_path_buf(),
        source,
    };
    let file = std::fs::OpenOptions::new()
        .read(true)
        .write(true)
        .create(true)
        .truncate(false)
        .open(dir.join(OPEN_LOCK))
        .map_err(failed)?;
    FileExt::lock_exclusive(&file).map_err(failed)?;
    Ok(file)
}

const OPEN_LOCK: &str = ".research-open.lock";

/// Names the index folder may hold: tantivy's files (meta, locks, `<uuid>.<ext>` segments, the
/// `.tmp*` files its atomic writes go through), our open lock and the stores kept beside the
/// index (run journal, fetch cache, digest state and lock).
fn is_our_file(name: &str) -> bool {
    let segment = name
        .split_once('.')
        .is_some_and(|(stem, _)| stem.len() == 32 && stem.bytes().all(|b| b.is_ascii_hexdigit()));
    segment
        || name.starts_with(".tantivy")
        || name.starts_with(".managed")
        || name.starts_with(".tmp")
        || name == OPEN_LOCK
        || name == "meta.json"
        || [
            "runs.sqlite",
            "fetch-cache.sqlite",
            "digest",
            manifest::FILE,
        ]
        .iter()
        .any(|p| name.starts_with(p))
}

fn one_line(e: &dyn std::fmt::Display) -> String {
    text::squash_whitespace(&e.to_string())
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::artifact::Format;

    fn doc(id: &str, raw: &str, paragraphs: &[&str]) -> Document {
        let text = paragraphs.join("\n\n");
        let mut passages = Vec::new();
        let mut start = 0;
        for (i, p) in paragraphs.iter().enumerate() {
            passages.push(Passage {
                doc_id: id.into(),
                ordinal: i as u32,
                heading_path: vec!["Top".into()],
                start,
                end: start + p.len(),
                text: p.to_string(),
                page: None,
            });
            start += p.len() + 2;
        }
        Document {
            id: id.into(),
            location: id.into(),
            corpus: "/c".into(),
            title: format!("Title of {id}"),
            format: Format::Text,
            hash: blake3::hash(text.as_bytes()).to_hex().to_string(),
            raw_hash: raw.into(),
            text,
            passages,
            fetched: None,
            file: None,
        }
    }

    #[test]
    fn passages_that_tie_come_back_the_same_whatever_order_they_were_indexed_in() {
        // Same title shape and the same words: every passage scores the same. More of them tie
        // than a search reads past its limit, as a footer shared by a whole manual does.
        let docs: Vec<Document> = (0..60)
            .map(|i| {
                doc(
                    &format!("d{i:02}"),
                    &format!("r{i}"),
                    &["This page was last modified on a date."],
                )
            })
            .collect();
        let search = |order: Vec<Document>| {
            let dir = tempfile::tempdir().unwrap();
            let store = Store::open(dir.path()).unwrap();
            // One commit per document: segments laid out in this order.
            for d in order {
                store.add(&[d]).unwrap();
            }
            let hits = store
                .search(&SearchRequest {
                    text: "page last modified".into(),
                    limit: 5,
                    ..Default::default()
                })
                .unwrap();
            hits.into_iter()
                .map(|h| h.passage.doc_id)
                .collect::<Vec<_>>()
        };
        let forward = search(docs.clone());
        let backward = search(docs.into_iter().rev().collect());
        assert_eq!(forward, ["d00", "d01", "d02", "d03", "d04"]);
        assert_eq!(forward, backward);
    }

    #[test]
    fn stores_searches_and_reads_back_exact_text() {
        let dir = tempfile::tempdir().unwrap();
        let store = Store::open(dir.path()).unwrap();
        store
            .add(&[
                doc(
                    "a",
                    "r1",
                    &["The seq_page_cost default is 1.0.", "Unrelated words."],
                ),
                doc("b", "r2", &["Replication slots retain WAL segments."]),
            ])
            .unwrap();
        let hits = store
            .search(&SearchRequest {
                text: "seq_page_cost default".into(),
                limit: 5,
                ..Default::default()
            })
            .unwrap();
        assert_eq!(hits[0].passage.doc_id, "a");
        let stored = store.document("a").unwrap().unwrap();
        let p = &hits[0].passage;
        assert_eq!(&stored.text[p.start..p.end], p.text);
        assert_eq!(stored.hash, hits[0].doc_hash);
        assert_eq!(store.known_documents().unwrap()["b"].raw_hash, "r2");
    }

    #[test]
    fn replacing_a_document_leaves_one_version() {
        let dir = tempfile::tempdir().unwrap();
        let store = Store::open(dir.path()).unwrap();
        store
            .add(&[doc("a", "r1", &["old text about slots"])])
            .unwrap();
        store
            .add(&[doc("a", "r2", &["new text about slots"])])
            .unwrap();
        let stats = store.stats().unwrap();
        assert_eq!((stats.documents, stats.passages), (1, 1));
        let hits = store
            .search(&SearchRequest {
                text: "slots".into(),
                limit: 5,
                ..Default::default()
            })
            .unwrap();
        assert_eq!(hits.len(), 1);
        assert!(hits[0].passage.text.starts_with("new"));
    }

    #[test]
    fn reopens_persisted_index() {
        let dir = tempfile::tempdir().unwrap();
        Store::open(dir.path())
            .unwrap()
            .add(&[doc("a", "r1", &["persisted passage"])])
            .unwrap();
        let again = Store::open(dir.path()).unwrap();
        assert_eq!(again.stats().unwrap().documents, 1);
    }

    #[test]
    fn openers_racing_on_a_new_folder_all_get_the_same_index() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("index");
        let opened: Vec<_> = std::thread::scope(|s| {
            let handles: Vec<_> = (0..8)
                .map(|_| s.spawn(|| Store::open(&path).map(|_| ())))
                .collect();
            handles.into_iter().map(|h| h.join().unwrap()).collect()
        });
        for result in opened {
            result.unwrap();
        }
        Store::open(&path)
            .unwrap()
            .add(&[doc("a", "r1", &["one index for all"])])
            .unwrap();
        assert_eq!(Store::open(&path).unwrap().stats().unwrap().documents, 1);
    }

    #[test]
    fn refuses_a_folder_of_other_files_and_reports_corruption() {
        let dir = tempfile::tempdir().unwrap();
        std::fs::write(dir.path().join("notes.txt"), "mine").unwrap();
        assert!(matches!(
            Store::open(dir.path()),
            Err(IndexError::NotAnIndex { .. })
        ));
        assert_eq!(
            std::fs::read_to_string(dir.path().join("notes.txt")).unwrap(),
            "mine"
        );

        let dir = tempfile::tempdir().unwrap();
        std::fs::write(dir.path().join("meta.json"), "{not json").unwrap();
        let err = Store::open(dir.path()).err().unwrap();
        assert!(matches!(err, IndexError::Corrupt { .. }), "{err}");
    }

    #[test]
    fn corpus_filter_and_required_terms_scope_results() {
        let dir = tempfile::tempdir().unwrap();
        let store = Store::open(dir.path()).unwrap();
        let mut other = doc("b", "r2", &["slots in another corpus"]);
        other.corpus = "/other".into();
        store
            .add(&[doc("a", "r1", &["slots here", "slots and wal here"]), other])
            .unwrap();
        let hits = store
            .search(&SearchRequest {
                text: "slots".into(),
                corpora: vec!["/c".into()],
                limit: 10,
                ..Default::default()
            })
            .unwrap();
        assert!(hits.iter().all(|h| h.passage.doc_id == "a"));
        let hits = store
            .search(&SearchRequest {
                text: "slots".into(),
                required: vec!["wal".into()],
                limit: 10,
                ..Default::default()
            })
            .unwrap();
        assert_eq!(hits.len(), 1);
    }

    #[test]
    fn what_a_corpus_finds_does_not_depend_on_other_corpora_in_the_index() {
        let ours = [
            doc(
                "a",
                "r1",
                &["a replication slot retains wal", "wal is written first"],
            ),
            doc(
                "b",
                "r2",
                &["the slot has a name", "replication needs a standby"],
            ),
        ];
        let req = SearchRequest {
            text: "replication slot wal name".into(),
            corpora: vec!["/c".into()],
            limit: 10,
            ..Default::default()
        };
        let ranked = |store: &Store| -> Vec<(String, u32, String)> {
            store
                .search(&req)
                .unwrap()
                .into_iter()
                .map(|h| {
                    (
                        h.passage.doc_id,
                        h.passage.ordinal,
                        format!("{:.5}", h.score),
                    )
                })
                .collect()
        };
        let alone = tempfile::tempdir().unwrap();
        let alone = Store::open(alone.path()).unwrap();
        alone.add(&ours).unwrap();
        let shared = tempfile::tempdir().unwrap();
        let shared = Store::open(shared.path()).unwrap();
        // Another corpus where "slot" is everywhere and "name" nowhere.
        let theirs: Vec<Document> = (0..20)
            .map(|i| {
                let mut d = doc(&format!("x{i}"), "r", &["slot slot slot machine", "wal"]);
                d.corpus = "/other".into();
                d
            })
            .collect();
        shared.add(&theirs).unwrap();
        shared.add(&ours).unwrap();
        assert_eq!(ranked(&alone), ranked(&shared));
        let idf = |s: &Store| s.idf_in("slot", &["/c".to_string()], &[]);
        assert_eq!(idf(&alone), idf(&shared));
    }

    /// The scoped statistics as the index itself counts them: a scan of the scope's passages
    /// and their field norms (what every search did before the manifest kept them).
    fn scanned(store: &Store, corpora: &[String]) -> PassageStats {
        let searcher = store.reader.searcher();
        let scope = Scope {
            corpora,
            documents: &[],
        };
        let found = searcher
            .search(
                store.scope_query(&scope).as_ref(),
                &tantivy::collector::DocSetCollector,
            )
            .unwrap();
        let mut s = PassageStats::default();
        for addr in found {
            let segment = searcher.segment_reader(addr.segment_ord);
            let norm = |f: Field| {
                u64::from(
                    segment
                        .get_fieldnorms_reader(f)
                        .unwrap()
                        .fieldnorm(addr.doc_id),
                )
            };
            s.passages += 1;
            s.body += norm(store.f.body);
            s.heading += norm(store.f.heading);
            s.title += norm(store.f.title);
        }
        s
    }

    /// Every term of the scope's passages, with its scoped document frequency as the manifest
    /// keeps it and as the index counts it (an intersection of postings, what searches did
    /// before the manifest kept them).
    fn frequencies(store: &Store, corpora: &[String]) -> Vec<(String, u64, u64)> {
        let searcher = store.reader.searcher();
        let scope = Scope {
            corpora,
            documents: &[],
        };
        let mut terms = std::collections::BTreeSet::new();
        let found = searcher
            .search(store.scope_query(&scope).as_ref(), &DocSetCollector)
            .unwrap();
        for addr in found {
            let d: TantivyDocument = searcher.doc(addr).unwrap();
            for f in [store.f.body, store.f.heading, store.f.title] {
                for (_, t) in indexed(&store.str(&d, f)) {
                    terms.insert((f, text::stem(t.text)));
                }
            }
        }
        // A term the scope no longer holds (it was in a removed document) must count 0 too.
        terms.insert((store.f.body, "word".into()));
        terms
            .into_iter()
            .map(|(f, t)| {
                let term = Term::from_field_text(f, &t);
                (
                    format!("{f:?}:{t}"),
                    store.scoped_doc_freq(&searcher, scope, &term).unwrap(),
                    store.scoped_count(&searcher, scope, &term).unwrap(),
                )
            })
            .collect()
    }

    fn assert_frequencies_kept(store: &Store, corpora: &[String]) {
        let all = frequencies(store, corpora);
        assert!(all.len() > 3, "{all:?}");
        for (term, kept, counted) in all {
            assert_eq!(kept, counted, "{term}");
        }
    }

    fn varied_docs() -> Vec<Document> {
        let long = "word ".repeat(300);
        let token = "x".repeat(80);
        let mut docs = vec![
            doc(
                "a",
                "r1",
                &["short", &long, &format!("{token} beside a long token")],
            ),
            doc("b", "r2", &["Replication slots retain WAL segments."]),
        ];
        docs[0].passages[1].heading_path = vec!["Part".into(), "Chapter two".into()];
        docs[1].passages[0].heading_path = Vec::new();
        docs[1].title = "A much longer title of many words, more than forty of them: ".repeat(3);
        let mut other = doc("c", "r3", &["in another corpus"]);
        other.corpus = "/other".into();
        docs.push(other);
        docs
    }

    #[test]
    fn scoped_statistics_kept_as_documents_come_and_go_equal_a_scan_of_the_index() {
        let dir = tempfile::tempdir().unwrap();
        let store = Store::open(dir.path()).unwrap();
        store.add(&varied_docs()).unwrap();
        let c = ["/c".to_string()];
        let kept = store.scope_stats(Scope {
            corpora: &c,
            documents: &[],
        });
        assert_eq!(kept.unwrap(), scanned(&store, &c));
        assert_eq!(scanned(&store, &c).passages, 4);
        assert_frequencies_kept(&store, &c);
        let word = |store: &Store| {
            let searcher = store.reader.searcher();
            let scope = Scope {
                corpora: &c,
                documents: &[],
            };
            store
                .scoped_doc_freq(
                    &searcher,
                    scope,
                    &Term::from_field_text(store.f.body, "word"),
                )
                .unwrap()
        };
        assert_eq!(word(&store), 1);
        // Replaced and removed documents leave the sums too.
        store.add(&[doc("b", "r9", &["one", "two"])]).unwrap();
        store.remove(&["a".to_string()]).unwrap();
        let kept = store.scope_stats(Scope {
            corpora: &c,
            documents: &[],
        });
        assert_eq!(kept.unwrap(), scanned(&store, &c));
        assert_eq!(scanned(&store, &c).passages, 2);
        assert_frequencies_kept(&store, &c);
        assert_eq!(word(&store), 0);
        // A document replaced twice before one commit, and moved to another corpus.
        let mut indexer = store.indexer().unwrap();
        indexer
            .add(&doc("d", "r1", &["first words", "more words"]))
            .unwrap();
        indexer.add(&doc("d", "r2", &["second words"])).unwrap();
        let mut moved = doc("b", "r10", &["elsewhere now"]);
        moved.corpus = "/other".into();
        indexer.add(&moved).unwrap();
        indexer.commit().unwrap();
        assert_frequencies_kept(&store, &c);
        assert_frequencies_kept(&store, &["/other".to_string()]);
        // A scope of a corpus and a document of another one counts both, each once.
        let both = store
            .scope_stats(Scope {
                corpora: &c,
                documents: &["c".to_string(), "b".to_string()],
            })
            .unwrap();
        assert_eq!(both.passages, 3);
        // And each term's passages the same way: documents of other corpora (c, b) counted in
        // the index, one inside /c (d) with its corpus, not twice.
        let searcher = store.reader.searcher();
        let docs = ["c".to_string(), "b".to_string(), "d".to_string()];
        let scope = Scope {
            corpora: &c,
            documents: &docs,
        };
        let stats = ScopedStats::new(&store, &searcher, scope).unwrap();
        for t in ["corpus", "elsewhere", "second", "word"] {
            let term = Term::from_field_text(store.f.body, t);
            assert_eq!(
                stats.doc_freq(&term).unwrap(),
                store.scoped_count(&searcher, scope, &term).unwrap(),
                "{t}"
            );
        }
    }

    #[test]
    fn an_index_from_before_the_manifest_opens_and_gets_one() {
        let dir = tempfile::tempdir().unwrap();
        let mut docs = varied_docs();
        docs[1].file = Some(FileMeta {
            size: 10,
            mtime_ns: 1,
            inode: 2,
        });
        Store::open(dir.path()).unwrap().add(&docs).unwrap();
        let expected = {
            let store = Store::open(dir.path()).unwrap();
            (store.stats().unwrap(), scanned(&store, &["/c".to_string()]))
        };
        // An index as earlier versions left it: no manifest beside it.
        for f in std::fs::read_dir(dir.path()).unwrap() {
            let f = f.unwrap();
            if f.file_name().to_string_lossy().starts_with(manifest::FILE) {
                std::fs::remove_file(f.path()).unwrap();
            }
        }
        let store = Store::open(dir.path()).unwrap();
        let mut stats = store.stats().unwrap();
        stats.bytes_on_disk = expected.0.bytes_on_disk;
        assert_eq!(stats, expected.0);
        let c = ["/c".to_string()];
        let kept = store.scope_stats(Scope {
            corpora: &c,
            documents: &[],
        });
        assert_eq!(kept.unwrap(), expected.1);
        assert_frequencies_kept(&store, &c);
        let known = store.known_documents().unwrap();
        assert_eq!(known["b"].raw_hash, "r2");
        assert_eq!(known["c"].corpus, "/other");
        // What it cannot know, its files are read to learn again.
        assert_eq!(known["b"].file, None);
    }

    #[test]
    fn a_commit_another_process_rebuilt_from_is_not_counted_twice() {
        let dir = tempfile::tempdir().unwrap();
        let a = Store::open(dir.path()).unwrap();
        a.add(&[doc("a", "r1", &["first words"])]).unwrap();
        let mut indexer = a.indexer().unwrap();
        indexer.add(&doc("b", "r2", &["second words"])).unwrap();
        // The index's commit lands; before the manifest's does, another process opens the
        // index and rebuilds the manifest from it.
        let opstamp = indexer.writer.commit().unwrap();
        let b = Store::open(dir.path()).unwrap();
        a.manifest
            .apply(&std::mem::take(&mut indexer.changes), opstamp)
            .unwrap();
        drop(indexer);
        let c = ["/c".to_string()];
        assert_frequencies_kept(&b, &c);
        let searcher = b.reader.searcher();
        let scope = Scope {
            corpora: &c,
            documents: &[],
        };
        let words = Term::from_field_text(b.f.body, "word");
        assert_eq!(b.scoped_doc_freq(&searcher, scope, &words).unwrap(), 2);
    }

    #[test]
    fn a_session_that_waited_for_another_writer_counts_what_that_one_committed() {
        let dir = tempfile::tempdir().unwrap();
        let a = Store::open(dir.path()).unwrap();
        let b = Store::open(dir.path()).unwrap();
        // Two runs over nested folders: one labels the document with the inner folder and
        // holds the writer; the other waits for it, then labels the same document with the
        // outer folder.
        let inner = ["/c/html".to_string()];
        let outer = ["/c".to_string()];
        let mut first = a.indexer().unwrap();
        let mut d = doc("p", "r1", &["merge words"]);
        d.corpus = inner[0].clone();
        first.add(&d).unwrap();
        std::thread::scope(|s| {
            let waiting = s.spawn(|| {
                let mut second = b.indexer().unwrap();
                let mut d = doc("p", "r1", &["merge words"]);
                d.corpus = outer[0].clone();
                second.add(&d).unwrap();
                second.commit().unwrap();
            });
            std::thread::sleep(Duration::from_millis(300));
            first.commit().unwrap();
            waiting.join().unwrap();
        });
        b.refresh().unwrap();
        // The inner folder's counts lost the document with its label: no term of it is left
        // to weigh that folder's searches, and the outer folder's are those of a scan.
        let searcher = b.reader.searcher();
        let merge = Term::from_field_text(b.f.body, &text::stem("merge"));
        let freq = |c: &[String]| {
            let scope = Scope {
                corpora: c,
                documents: &[],
            };
            b.scoped_doc_freq(&searcher, scope, &merge).unwrap()
        };
        assert_eq!((freq(&inner), freq(&outer)), (0, 1));
        assert_frequencies_kept(&b, &outer);
    }

    #[test]
    fn term_counts_kept_before_the_writer_wait_fix_are_rebuilt_once() {
        let dir = tempfile::tempdir().unwrap();
        Store::open(dir.path())
            .unwrap()
            .add(&varied_docs())
            .unwrap();
        // A manifest as builds before the fix could leave it: counts doubled, the old marker.
        let conn = rusqlite::Connection::open(dir.path().join(manifest::FILE)).unwrap();
        conn.execute_batch(
            "UPDATE terms SET passages = passages * 2;
             DELETE FROM state WHERE key = 'terms-2';
             INSERT INTO state VALUES ('terms', 1);",
        )
        .unwrap();
        drop(conn);
        let store = Store::open(dir.path()).unwrap();
        assert_frequencies_kept(&store, &["/c".to_string()]);
        assert_frequencies_kept(&store, &["/other".to_string()]);
    }

    #[test]
    fn a_manifest_behind_the_index_is_rebuilt_when_the_index_opens() {
        let dir = tempfile::tempdir().unwrap();
        let store = Store::open(dir.path()).unwrap();
        store.add(&[doc("a", "r1", &["first"])]).unwrap();
        // A commit of the index whose manifest commit never happened (a stopped process).
        let mut writer = store.writer().unwrap();
        writer
            .add_document(store.record(&doc("z", "r2", &["late"])))
            .unwrap();
        writer.commit().unwrap();
        drop(writer);
        drop(store);
        let store = Store::open(dir.path()).unwrap();
        let known = store.known_documents().unwrap();
        assert_eq!(known.len(), 2, "{known:?}");
        assert_eq!(known["z"].raw_hash, "r2");
    }
}
