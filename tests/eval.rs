//! `research eval` on the shared evaluation sets beside the repo (../shared/eval).

use research::engine::offline;
use research::eval::{self, LABELS};
use research::gather::AgentBudget;
use research::index::{SearchBackend, Store};
use research::ingest::IngestOptions;
use research::pipeline::{Corpora, RunConfig};
use research::progress::Progress;
use research::review::Policy;
use std::path::PathBuf;
use std::sync::Arc;

fn shared_eval() -> PathBuf {
    let p = PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("../shared/eval");
    assert!(
        p.is_dir(),
        "{} is missing: CI clones the repo with shared/ beside it",
        p.display()
    );
    p
}

fn base() -> RunConfig {
    RunConfig {
        question: String::new(),
        corpora: Corpora::Bundled,
        out_dir: PathBuf::from("unused"),
        policy: Policy::default(),
        budget: AgentBudget::default(),
        ingest: IngestOptions::default(),
        max_claims: 40,
        journal: None,
    }
}

#[tokio::test(flavor = "multi_thread")]
async fn verdict_set_scores_every_claim() {
    let tmp = tempfile::tempdir().unwrap();
    let store: Arc<dyn SearchBackend> = Arc::new(Store::open(tmp.path()).unwrap());
    let s = eval::eval_claims(
        &shared_eval().join("climate-fever"),
        &base(),
        &offline::engine(5, 40, false),
        store,
        Some(60),
        &Progress::hidden(),
    )
    .await
    .unwrap();
    assert_eq!(s.claims, 60);
    let total: usize = s.confusion.iter().flatten().sum();
    assert_eq!(total, 60);
    assert_eq!(s.per_label_f1.len(), LABELS.len());
    assert!((0.0..=1.0).contains(&s.macro_f1) && (0.0..=1.0).contains(&s.balanced_accuracy));
}

#[tokio::test(flavor = "multi_thread")]
async fn question_set_cites_only_verifiable_quotes() {
    let tmp = tempfile::tempdir().unwrap();
    let store: Arc<dyn SearchBackend> = Arc::new(Store::open(tmp.path()).unwrap());
    let hotpot = shared_eval().join("hotpot");
    let s = eval::eval_questions(
        &hotpot.join("questions.json"),
        &hotpot,
        &base(),
        &offline::engine(5, 40, false),
        store,
        Some(5),
        &Progress::hidden(),
    )
    .await
    .unwrap();
    assert_eq!(s.questions.len(), 5);
    assert!(s.questions.iter().map(|q| q.citations).sum::<usize>() > 0);
    // Citation precision is measured against the files themselves: it must be perfect.
    assert_eq!(s.citation_precision, 1.0, "{:?}", s.questions);
}
