//! `research eval` on the shared evaluation sets beside the repo (../shared/eval).

use research::engine::offline;
use research::eval::{self, LABELS};
use research::gather::AgentBudget;
use research::index::{SearchBackend, Store};
use research::ingest::IngestOptions;
use research::pipeline::{Corpora, Depth, RunConfig};
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
        depth: Depth {
            rounds: 1,
            ..Depth::default()
        },
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

/// A multi-hop question (HotpotQA's first): the film's page names the actress, and only her own
/// page says what position she held. One pass stops at the film; the second round follows the
/// name the first round kept, and its report answers, with the trail saying why it searched.
#[test]
fn a_second_round_follows_the_name_the_first_round_found() {
    let tmp = tempfile::tempdir().unwrap();
    let corpus = shared_eval().join("hotpot/corpus");
    let question = "What government position was held by the woman who portrayed Corliss Archer in the film Kiss and Tell?";
    let run = |depth: &str| {
        let out = tmp.path().join(format!("depth{depth}"));
        let o = std::process::Command::new(env!("CARGO_BIN_EXE_research"))
            .args([question, "--depth", depth, "--quiet"])
            .arg("--corpus")
            .arg(&corpus)
            .arg("--index")
            .arg(tmp.path().join("index"))
            .arg("--out")
            .arg(&out)
            .env_remove("RESEARCH_INDEX")
            .output()
            .unwrap();
        assert!(o.status.success(), "{}", String::from_utf8_lossy(&o.stderr));
        let md = PathBuf::from(String::from_utf8_lossy(&o.stdout).trim());
        let json: serde_json::Value =
            serde_json::from_str(&std::fs::read_to_string(md.with_extension("json")).unwrap())
                .unwrap();
        (std::fs::read_to_string(md).unwrap(), json)
    };
    let (single, single_json) = run("1");
    assert!(!single.contains("Chief of Protocol"));
    assert!(!single.contains("## Research trail"));
    assert!(single_json.get("trail").is_none());
    let (deep, deep_json) = run("2");
    assert!(deep.contains("Chief of Protocol"), "{deep}");
    assert!(deep.contains("## Research trail"));
    let searches = deep_json["trail"][0]["searches"].as_array().unwrap();
    let bridge = searches
        .iter()
        .find(|s| s["follow_up"]["lead"] == "bridge")
        .expect("a bridge search");
    assert!(
        bridge["follow_up"]["query"]
            .as_str()
            .unwrap()
            .contains("Shirley Temple"),
        "{bridge}"
    );
    // The answer is a kept claim quoted from her own page.
    let answer = deep_json["reviewed"]
        .as_array()
        .unwrap()
        .iter()
        .find(|r| {
            r["claim"]["text"]
                .as_str()
                .unwrap()
                .contains("Chief of Protocol")
        })
        .expect("the answer is a claim");
    assert_eq!(answer["verdict"]["status"], "kept");
    assert!(answer["claim"]["citations"][0]["location"]
        .as_str()
        .unwrap()
        .ends_with("Shirley-Temple.md"));
}
