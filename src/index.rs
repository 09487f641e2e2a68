//! The evidence store: a tantivy index on disk holding every document's exact text (so quotes
//! can be checked) and its passages (so agents can retrieve them). Persistent and incremental:
//! a document whose raw bytes hash the same as last time is not extracted or indexed again.

use crate::artifact::{Document, Hit, Passage};
use crate::text;
use std::collections::HashMap;
use std::path::{Path, PathBuf};
use std::sync::Mutex;
use std::time::Duration;
use tantivy::collector::{Count, TopDocs};

/// Hits collected past a search's limit, so ties at the cut are decided by passage ids.
const TIE_MARGIN: usize = 16;
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
        for (position, t) in text::tokens(input).into_iter().enumerate() {
            // Very long tokens (base64, hashes) only bloat the term dictionary.
            if t.text.len() > 64 {
                continue;
            }
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

/// What the index remembers of a document without loading its text.
#[derive(Debug, Clone, PartialEq)]
pub struct Known {
    pub raw_hash: String,
    pub corpus: String,
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
    /// Statistics of scoped searches for the current searcher generation: (generation, values).
    scoped_freqs: Mutex<(u64, HashMap<String, u64>)>,
}

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
        let store = Store {
            dir: dir.to_path_buf(),
            index,
            reader,
            f,
            scoped_freqs: Mutex::new((u64::MAX, HashMap::new())),
        };
        // Touch every segment's store once so a damaged index fails here, with advice, and not
        // halfway through a run.
        store.known_documents().map_err(|e| match e {
            IndexError::Tantivy { detail, .. } => corrupt(&detail),
            other => other,
        })?;
        Ok(store)
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

    fn doc_records(&self) -> Result<Vec<TantivyDocument>, IndexError> {
        let searcher = self.reader.searcher();
        let q = TermQuery::new(
            Term::from_field_text(self.f.kind, KIND_DOC),
            IndexRecordOption::Basic,
        );
        let n = searcher.search(&q, &Count).map_err(|e| self.err(e))?;
        if n == 0 {
            return Ok(Vec::new());
        }
        let top = searcher
            .search(&q, &TopDocs::with_limit(n).order_by_score())
            .map_err(|e| self.err(e))?;
        top.into_iter()
            .map(|(_, addr)| searcher.doc(addr).map_err(|e| self.err(e)))
            .collect()
    }

    /// Every stored document: id -> what incremental indexing needs to know of it.
    pub fn known_documents(&self) -> Result<HashMap<String, Known>, IndexError> {
        Ok(self
            .doc_records()?
            .iter()
            .map(|d| {
                (
                    self.str(d, self.f.doc_id),
                    Known {
                        raw_hash: self.str(d, self.f.raw_hash),
                        corpus: self.str(d, self.f.corpus),
                    },
                )
            })
            .collect())
    }

    /// Remove documents (and their passages), e.g. files deleted from a corpus.
    pub fn remove(&self, doc_ids: &[String]) -> Result<(), IndexError> {
        if doc_ids.is_empty() {
            return Ok(());
        }
        let mut writer = self.writer()?;
        for id in doc_ids {
            writer.delete_term(Term::from_field_text(self.f.doc_id, id));
        }
        writer.commit().map_err(|e| self.err(e))?;
        self.reader.reload().map_err(|e| self.err(e))
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
        let mut writer = self.writer()?;
        for d in docs {
            writer.delete_term(Term::from_field_text(self.f.doc_id, &d.id));
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
            writer.add_document(rec).map_err(|e| self.err(e))?;
            for p in &d.passages {
                let mut rec = TantivyDocument::default();
                rec.add_text(self.f.kind, KIND_PASSAGE);
                rec.add_text(self.f.doc_id, &d.id);
                rec.add_text(self.f.corpus, &d.corpus);
                rec.add_text(self.f.location, &d.location);
                rec.add_text(self.f.title, &d.title);
                rec.add_text(self.f.heading, p.heading_path.join(" \u{203a} "));
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
                writer.add_document(rec).map_err(|e| self.err(e))?;
            }
        }
        writer.commit().map_err(|e| self.err(e))?;
        self.reader.reload().map_err(|e| self.err(e))?;
        Ok(docs.len())
    }

    fn writer(&self) -> Result<tantivy::IndexWriter, IndexError> {
        // Another process may hold the writer lock briefly; wait a little before giving up.
        let mut attempts = 0;
        loop {
            match self.index.writer::<TantivyDocument>(128_000_000) {
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
        let collector = TopDocs::with_limit(req.limit + TIE_MARGIN).order_by_score();
        let top = if scope.is_everything() {
            searcher.search(&query, &collector)
        } else {
            // Rank with the statistics of the searched corpora alone: what a question over one
            // corpus finds must not change when other corpora share the index.
            let stats = ScopedStats::new(self, &searcher, scope).map_err(|e| self.err(e))?;
            searcher.search_with_statistics_provider(&query, &collector, &stats)
        }
        .map_err(|e| self.err(e))?;
        // Scores summed over differently laid out segments can differ in their last bits:
        // compared at a thousandth, they tie, and ties go by passage id.
        let steady = |score: f32| (score * 1000.0).round() / 1000.0;
        let cut = top
            .get(req.limit - 1)
            .map(|(score, _)| steady(*score))
            .unwrap_or(f32::MIN);
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
        let q = BooleanQuery::new(vec![
            (
                Occur::Must,
                Box::new(TermQuery::new(
                    Term::from_field_text(self.f.doc_id, doc_id),
                    IndexRecordOption::Basic,
                )) as Box<dyn Query>,
            ),
            (
                Occur::Must,
                Box::new(TermQuery::new(
                    Term::from_field_text(self.f.kind, KIND_DOC),
                    IndexRecordOption::Basic,
                )),
            ),
        ]);
        let top = searcher
            .search(&q, &TopDocs::with_limit(1).order_by_score())
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
                Ok(stats) => (stats.docs, stats.doc_freq(&term).unwrap_or(0)),
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

    /// Passages of the scope holding `term` (or all of them).
    fn scoped_count(
        &self,
        searcher: &Searcher,
        scope: Scope,
        term: Option<&Term>,
    ) -> tantivy::Result<u64> {
        let key = format!(
            "docs\u{0}{}\u{0}{:?}",
            scope.key(),
            term.map(|t| (t.field(), t.serialized_value_bytes().to_vec()))
        );
        self.cached(searcher, key, |_| {
            let scope = self.scope_query(&scope);
            let n = match term {
                None => searcher.search(scope.as_ref(), &Count)?,
                Some(term) => searcher.search(
                    &BooleanQuery::new(vec![
                        (Occur::Must, scope),
                        (
                            Occur::Must,
                            Box::new(TermQuery::new(term.clone(), IndexRecordOption::Basic)),
                        ),
                    ]),
                    &Count,
                )?,
            };
            Ok(n as u64)
        })
    }

    /// Tokens in `field` over the passages of the scope (from the stored field lengths).
    fn scoped_tokens(
        &self,
        searcher: &Searcher,
        scope: Scope,
        field: Field,
    ) -> tantivy::Result<u64> {
        let scope_key = scope.key();
        let key = |f: Field| format!("tokens\u{0}{scope_key}\u{0}{f:?}");
        self.cached(searcher, key(field), |cache| {
            // One pass over the scope's passages gives every scored field's total.
            let fields = [self.f.body, self.f.heading, self.f.title];
            let found = searcher.search(
                self.scope_query(&scope).as_ref(),
                &tantivy::collector::DocSetCollector,
            )?;
            let mut norms = HashMap::new();
            let mut totals = [0u64; 3];
            for addr in found {
                if let std::collections::hash_map::Entry::Vacant(e) = norms.entry(addr.segment_ord)
                {
                    let segment = searcher.segment_reader(addr.segment_ord);
                    e.insert(
                        fields
                            .iter()
                            .map(|f| segment.get_fieldnorms_reader(*f))
                            .collect::<tantivy::Result<Vec<_>>>()?,
                    );
                }
                for (total, reader) in totals.iter_mut().zip(&norms[&addr.segment_ord]) {
                    *total += u64::from(reader.fieldnorm(addr.doc_id));
                }
            }
            for (f, total) in fields.iter().zip(totals) {
                cache.insert(key(*f), total);
            }
            Ok(cache.get(&key(field)).copied().unwrap_or_default())
        })
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
        let mut corpora: HashMap<String, u64> = HashMap::new();
        for d in self.doc_records()? {
            *corpora.entry(self.str(&d, self.f.corpus)).or_default() += 1;
        }
        let mut corpora: Vec<(String, u64)> = corpora.into_iter().collect();
        corpora.sort();
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
    docs: u64,
}

impl<'a> ScopedStats<'a> {
    fn new(
        store: &'a Store,
        searcher: &'a Searcher,
        scope: Scope<'a>,
    ) -> tantivy::Result<ScopedStats<'a>> {
        let docs = store.scoped_count(searcher, scope, None)?;
        Ok(ScopedStats {
            store,
            searcher,
            scope,
            docs,
        })
    }
}

impl Bm25StatisticsProvider for ScopedStats<'_> {
    fn total_num_tokens(&self, field: Field) -> tantivy::Result<u64> {
        self.store.scoped_tokens(self.searcher, self.scope, field)
    }

    fn total_num_docs(&self) -> tantivy::Result<u64> {
        Ok(self.docs)
    }

    fn doc_freq(&self, term: &Term) -> tantivy::Result<u64> {
        self.store
            .scoped_count(self.searcher, self.scope, Some(term))
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
        || ["runs.sqlite", "fetch-cache.sqlite", "digest"]
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
        }
    }

    #[test]
    fn passages_that_tie_come_back_the_same_whatever_order_they_were_indexed_in() {
        // Same title shape and the same words: every passage scores the same.
        let docs: Vec<Document> = (0..12)
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
}
