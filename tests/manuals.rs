//! The pipeline on corpora nobody here wrote: Debian's PostgreSQL, SQLite and Python manuals
//! (apt-get install postgresql-doc-15 sqlite3-doc python3.11-doc). Every quote the audit holds
//! must be found verbatim in the source file, read and extracted afresh.

use research::artifact::{Citation, Report, Status};
use research::engine::offline;
use research::gather::AgentBudget;
use research::index::{SearchBackend, Store};
use research::ingest::{self, format_for_path, IngestOptions};
use research::pipeline::{self, Corpora, Depth, RunConfig};
use research::progress::Progress;
use research::review::Policy;
use std::path::{Path, PathBuf};
use std::sync::Arc;

fn manual(path: &str, package: &str) -> PathBuf {
    let p = PathBuf::from(path);
    assert!(
        p.is_dir(),
        "{path} is missing: install it with `apt-get install {package}` (.ci/run does)"
    );
    p
}

fn config(question: &str, corpus: PathBuf, out: &Path) -> RunConfig {
    RunConfig {
        question: question.into(),
        corpora: Corpora::Paths(vec![corpus]),
        out_dir: out.to_path_buf(),
        policy: Policy::default(),
        budget: AgentBudget::default(),
        ingest: IngestOptions::default(),
        max_claims: 40,
        journal: None,
        depth: Depth {
            rounds: 1,
            ..Depth::default()
        },
    }
}

/// Every citation shown or audited: claims' sources and votes' evidence.
fn all_citations(report: &Report) -> Vec<&Citation> {
    let mut out = Vec::new();
    for r in &report.reviewed {
        out.extend(r.claim.citations.iter());
        out.extend(r.votes.iter().filter_map(|v| v.evidence.as_ref()));
    }
    out
}

fn assert_quotes_verbatim_in_source(report: &Report) {
    let cites = all_citations(report);
    assert!(
        cites.len() >= 10,
        "too few citations to mean anything: {}",
        cites.len()
    );
    for c in cites {
        let path = Path::new(&c.doc_id);
        let bytes = std::fs::read(path).unwrap();
        let doc = ingest::document_from_bytes(
            &c.doc_id,
            &c.location,
            "",
            format_for_path(path).unwrap(),
            &bytes,
            None,
        )
        .unwrap();
        assert_eq!(doc.hash, c.doc_hash, "{} changed hash", c.location);
        assert_eq!(
            doc.text.get(c.start..c.end),
            Some(c.quote.as_str()),
            "quote not at its span in {}",
            c.location
        );
    }
}

async fn run_on(question: &str, corpus: PathBuf) -> (Report, tempfile::TempDir) {
    let tmp = tempfile::tempdir().unwrap();
    let store: Arc<dyn SearchBackend> = Arc::new(Store::open(&tmp.path().join("index")).unwrap());
    let cfg = config(question, corpus, &tmp.path().join("reports"));
    let outcome = pipeline::run(
        &cfg,
        &offline::engine(5, 40, false),
        store,
        &Progress::hidden(),
    )
    .await
    .unwrap();
    // The audit on disk is the report we were handed.
    let audit: Report =
        serde_json::from_str(&std::fs::read_to_string(&outcome.written.audit).unwrap()).unwrap();
    assert_eq!(audit, outcome.report);
    assert!(outcome.written.markdown.exists() && outcome.written.html.exists());
    (audit, tmp)
}

#[tokio::test(flavor = "multi_thread")]
async fn postgresql_manual_report_quotes_are_verbatim() {
    let dir = manual("/usr/share/doc/postgresql-doc-15/html", "postgresql-doc-15");
    let (report, tmp) = run_on(
        "How do replication slots work in PostgreSQL streaming replication?",
        dir,
    )
    .await;
    assert!(report.stats.documents > 1000, "{:?}", report.stats);
    assert!(report.stats.kept >= 5, "{:?}", report.stats);
    assert_quotes_verbatim_in_source(&report);
    let md = std::fs::read_dir(tmp.path().join("reports"))
        .unwrap()
        .filter_map(Result::ok)
        .find(|e| e.path().extension().is_some_and(|x| x == "md"))
        .map(|e| std::fs::read_to_string(e.path()).unwrap())
        .unwrap();
    assert!(md.to_lowercase().contains("replication slot"));
    // Every kept claim appears under Findings with a citation link.
    for r in report
        .reviewed
        .iter()
        .filter(|r| r.verdict.status == Status::Kept)
    {
        assert!(!r.claim.citations.is_empty());
    }
}

#[tokio::test(flavor = "multi_thread")]
async fn sqlite_and_python_manuals_report_quotes_are_verbatim() {
    let sqlite = manual("/usr/share/doc/sqlite3", "sqlite3-doc");
    let (report, _t) = run_on(
        "How many databases can one SQLite connection attach at the same time?",
        sqlite,
    )
    .await;
    assert_quotes_verbatim_in_source(&report);
    let python = manual("/usr/share/doc/python3.11/html/library", "python3.11-doc");
    let (report, _t) = run_on(
        "What problems can functools.lru_cache cause on instance methods?",
        python,
    )
    .await;
    assert_quotes_verbatim_in_source(&report);
}

#[tokio::test(flavor = "multi_thread")]
async fn second_run_reuses_the_index() {
    let dir = manual("/usr/share/doc/sqlite3", "sqlite3-doc");
    let tmp = tempfile::tempdir().unwrap();
    let store: Arc<dyn SearchBackend> = Arc::new(Store::open(&tmp.path().join("index")).unwrap());
    let opts = IngestOptions::default();
    let corpora = Corpora::Paths(vec![dir]);
    let first = pipeline::prepare(store.as_ref(), &corpora, &opts, &Progress::hidden()).unwrap();
    assert!(first.indexed > 50);
    let second = pipeline::prepare(store.as_ref(), &corpora, &opts, &Progress::hidden()).unwrap();
    assert_eq!(second.indexed, 0);
    assert_eq!(second.unchanged, first.indexed);
    assert_eq!(store.stats().unwrap().documents as usize, first.indexed);
}

/// A corpus of a few of a manual's pages, copied into a folder of its own.
fn pages(dir: &str, package: &str, names: &[&str]) -> tempfile::TempDir {
    let src = manual(dir, package);
    let tmp = tempfile::tempdir().unwrap();
    for n in names {
        std::fs::copy(src.join(n), tmp.path().join(n)).unwrap();
    }
    tmp
}

#[tokio::test(flavor = "multi_thread")]
async fn a_release_note_saying_this_changes_the_default_is_kept_with_what_it_changes() {
    let corpus = pages(
        "/usr/share/doc/postgresql-doc-15/html",
        "postgresql-doc-15",
        &[
            "release-15.html",
            "runtime-config-logging.html",
            "wal-configuration.html",
        ],
    );
    let (report, _t) = run_on(
        "Does a PostgreSQL 15 server log checkpoints by default?",
        corpus.path().to_path_buf(),
    )
    .await;
    assert_quotes_verbatim_in_source(&report);
    // "This changes the default of log_checkpoints to on ..." says what it changes only with
    // the release note's sentence before it, and is quoted and voted on with it.
    let kept = report
        .reviewed
        .iter()
        .filter(|r| r.verdict.status == Status::Kept)
        .find(|r| {
            r.claim
                .text
                .contains("This changes the default of log_checkpoints to on")
        })
        .unwrap_or_else(|| {
            let all: Vec<_> = report
                .reviewed
                .iter()
                .map(|r| (&r.claim.text, r.verdict.status))
                .collect();
            panic!("not kept: {all:#?}")
        });
    assert!(
        kept.claim
            .text
            .starts_with("Enable default logging of checkpoints"),
        "{}",
        kept.claim.text
    );
}

#[tokio::test(flavor = "multi_thread")]
async fn a_list_of_disadvantages_cut_by_a_passage_boundary_is_read_to_its_end() {
    let corpus = pages(
        "/usr/share/doc/sqlite3",
        "sqlite3-doc",
        &["wal.html", "pragma.html", "lang_attach.html", "limits.html"],
    );
    let (report, _t) = run_on(
        "When should I use WAL mode in SQLite and what are its limitations?",
        corpus.path().to_path_buf(),
    )
    .await;
    assert_quotes_verbatim_in_source(&report);
    // wal.html's "But there are also disadvantages:" opens a list whose items run past the
    // passage: the network filesystem item is one of them, though it does not say
    // "disadvantage" itself.
    let found = report.reviewed.iter().any(|r| {
        r.verdict.status == Status::Kept
            && r.claim
                .text
                .contains("WAL does not work over a network filesystem")
    });
    let all: Vec<_> = report
        .reviewed
        .iter()
        .map(|r| (&r.claim.text, r.verdict.status))
        .collect();
    assert!(found, "{all:#?}");
}

/// SQLite's pragma.html heads each pragma with a hidden `<h>` element: each pragma's text is a
/// section under its name, so "the database file remains the same size" is found, and quoted,
/// as auto_vacuum's, not in a run of the whole page's entries.
#[test]
fn each_sqlite_pragma_is_a_section_under_its_name() {
    let path = manual("/usr/share/doc/sqlite3", "sqlite3-doc").join("pragma.html");
    let bytes = std::fs::read(&path).unwrap();
    let id = path.to_string_lossy();
    let doc = ingest::document_from_bytes(
        &id,
        &id,
        "sqlite",
        format_for_path(&path).unwrap(),
        &bytes,
        None,
    )
    .unwrap();
    let under = |text: &str| {
        doc.passages
            .iter()
            .find(|p| p.text.contains(text))
            .map(|p| p.heading_path.last().cloned().unwrap_or_default())
            .unwrap_or_else(|| panic!("{text:?} is in no passage"))
    };
    assert_eq!(
        under("the database file remains the same size"),
        "PRAGMA auto_vacuum"
    );
    assert_eq!(
        under("auto-vacuum can actually make fragmentation worse"),
        "PRAGMA auto_vacuum"
    );
    assert_eq!(
        under("causes up to N pages to be removed"),
        "PRAGMA incremental_vacuum"
    );
    // One pragma's passages never carry the next one's text.
    let mixed = doc.passages.iter().any(|p| {
        p.text.contains("the database file remains the same size")
            && p.text.contains("incremental_vacuum pragma causes")
    });
    assert!(!mixed);
}

/// A report's findings are about what the question is about; what the panel kept on another
/// subject (shared-cache mode, printf's precision, VFSes for a question about WAL mode) is
/// listed apart, cited, and not offered as an answer.
#[tokio::test(flavor = "multi_thread")]
async fn claims_on_another_subject_are_listed_apart_not_as_findings() {
    let dir = manual("/usr/share/doc/sqlite3", "sqlite3-doc");
    let (report, tmp) = run_on(
        "When should I use WAL mode in SQLite and what are its limitations?",
        dir,
    )
    .await;
    let by_id = |id: &str| report.reviewed.iter().find(|r| r.claim.id == id).unwrap();
    // WAL, in the sentence or where it stands (wal.html is "Write-Ahead Logging").
    let on_wal = |id: &str| {
        let r = by_id(id);
        let mut said = r.claim.text.clone();
        for c in &r.claim.citations {
            said.push(' ');
            said.push_str(&c.title);
            said.push(' ');
            said.push_str(&c.heading_path.join(" "));
        }
        said.contains("WAL") || said.contains("Write-Ahead Logging")
    };
    let findings: Vec<&str> = report
        .sections
        .iter()
        .flat_map(|s| s.sentences.iter().flat_map(|x| x.claim_ids.iter()))
        .map(String::as_str)
        .chain(
            report
                .answer
                .parts
                .iter()
                .flat_map(|p| p.sentences.iter().flat_map(|x| x.claim_ids.iter()))
                .map(String::as_str),
        )
        .collect();
    assert!(findings.len() >= 5, "{findings:?}");
    for id in &findings {
        assert!(
            on_wal(id),
            "a finding not about WAL: {}",
            by_id(id).claim.text
        );
    }
    assert!(
        findings
            .iter()
            .any(|id| by_id(id).claim.text.contains("network filesystem")),
        "the network-filesystem limitation is a finding"
    );
    // What was kept on other subjects is still shown, cited, under its own heading.
    assert!(!report.aside.is_empty());
    let md = std::fs::read_dir(tmp.path().join("reports"))
        .unwrap()
        .filter_map(Result::ok)
        .find(|e| e.path().extension().is_some_and(|x| x == "md"))
        .map(|e| std::fs::read_to_string(e.path()).unwrap())
        .unwrap();
    let apart = md
        .split("### On other subjects")
        .nth(1)
        .and_then(|rest| rest.split("\n## ").next())
        .expect("the section of claims on other subjects");
    for id in &report.aside {
        assert!(
            !on_wal(id),
            "set apart though about WAL: {}",
            by_id(id).claim.text
        );
        let first_words: String = by_id(id).claim.text.chars().take(20).collect();
        let first_words = first_words.replace('_', "\\_");
        assert!(
            apart.contains(&first_words),
            "{first_words} not listed apart"
        );
    }
    assert!(apart.contains("](#src-"));
    // What is kept on the subject but answers no part is listed too, before those on other
    // subjects: nothing kept is hidden, and none of it is a finding.
    let on_subject = md
        .split("### On the question's subject")
        .nth(1)
        .and_then(|rest| rest.split("\n## ").next())
        .unwrap_or("");
    for r in report
        .reviewed
        .iter()
        .filter(|r| r.verdict.status == Status::Kept)
        .filter(|r| !findings.contains(&r.claim.id.as_str()) && !report.aside.contains(&r.claim.id))
    {
        let first_words: String = r.claim.text.chars().take(20).collect();
        let first_words = first_words.replace('_', "\\_");
        assert!(
            on_subject.contains(&first_words),
            "{first_words} not listed"
        );
    }
}
