//! Tokens per kept claim and the share of reviewer prompt tokens in byte-identical prefixes, for
//! batched voting against the `--voting naive` baseline (one call per claim per reviewer with the
//! whole run's evidence, data first), side by side on the same corpus and question, in one pass
//! (`--depth 1`); then the default two rounds against one pass, batched; then batched with the
//! local verifier's first pass (`--first-pass`, when the verifier is installed) against without.
//! Measured by the scripted model server's own counters on loopback.
//! `cargo bench --bench llm_tokens`.

#[path = "../tests/support/scripted_model.rs"]
mod scripted_model;

use scripted_model::{serve, Mode};
use std::process::Command;
use std::sync::atomic::Ordering;

const QUESTION: &str =
    "How should lithium-ion batteries be charged and stored to last as long as possible?";

struct Figures {
    kept: u64,
    /// Claims the local first pass settled.
    settled_locally: usize,
    statuses: String,
    reviewer_calls: usize,
    reviewer_tokens: usize,
    all_tokens: usize,
    prefix_share: f64,
}

fn run(voting: &str, depth: &str, extra: &[&str]) -> Figures {
    let server = serve(Mode::Good);
    let tmp = tempfile::tempdir().expect("temp dir");
    let config = tmp.path().join("research.toml");
    std::fs::write(
        &config,
        format!(
            "[providers.default]\nkind = \"openai\"\nbase_url = \"{}\"\ncontext_window = 8192\n",
            server.url
        ),
    )
    .expect("config");
    let out = Command::new(env!("CARGO_BIN_EXE_research"))
        .args([
            QUESTION, "--engine", "llm", "--model", "scripted", "--quiet", "--voting", voting,
            "--depth", depth,
        ])
        .args(extra)
        .arg("--config")
        .arg(&config)
        .arg("--index")
        .arg(tmp.path().join("index"))
        .arg("--out")
        .arg(tmp.path().join("reports"))
        .output()
        .expect("run research");
    if !out.status.success() {
        eprintln!("research failed: {}", String::from_utf8_lossy(&out.stderr));
        std::process::exit(1);
    }
    let md = String::from_utf8_lossy(&out.stdout).trim().to_string();
    let audit: serde_json::Value = serde_json::from_str(
        &std::fs::read_to_string(std::path::Path::new(&md).with_extension("json")).expect("audit"),
    )
    .expect("audit json");
    let s = &server.script;
    let settled_locally = audit["reviewed"]
        .as_array()
        .map(|r| {
            r.iter()
                .filter(|r| {
                    r["votes"]
                        .as_array()
                        .is_some_and(|v| !v.is_empty() && v.iter().all(|v| v["first_pass"] == true))
                })
                .count()
        })
        .unwrap_or(0);
    Figures {
        kept: audit["stats"]["kept"].as_u64().unwrap_or(0),
        settled_locally,
        statuses: format!(
            "{} kept, {} disputed, {} dropped, {} unverified",
            audit["stats"]["kept"],
            audit["stats"]["disputed"],
            audit["stats"]["dropped"],
            audit["stats"]["unverified"]
        ),
        reviewer_calls: s.reviewer_requests.load(Ordering::SeqCst),
        reviewer_tokens: s.reviewer_prompt_tokens.load(Ordering::SeqCst),
        all_tokens: s.prompt_tokens.load(Ordering::SeqCst),
        prefix_share: s.reviewer_prefix_share(),
    }
}

fn main() {
    let batched = run("batched", "1", &[]);
    let naive = run("naive", "1", &[]);
    let deep = run("batched", "2", &[]);
    let per = |tokens: usize, kept: u64| tokens as f64 / kept.max(1) as f64;
    println!("question: {QUESTION}");
    println!("corpus: the bundled sample corpus; 5 reviewers; scripted model on 127.0.0.1 (prompt tokens = bytes/4)");
    println!(
        "{:<10} {:>6} {:>15} {:>22} {:>22} {:>16}",
        "voting",
        "kept",
        "reviewer calls",
        "reviewer tok/kept",
        "all prompt tok/kept",
        "prefix share"
    );
    for (name, f) in [("naive", &naive), ("batched", &batched)] {
        println!(
            "{:<10} {:>6} {:>15} {:>22.0} {:>22.0} {:>15.1}%",
            name,
            f.kept,
            f.reviewer_calls,
            per(f.reviewer_tokens, f.kept),
            per(f.all_tokens, f.kept),
            100.0 * f.prefix_share
        );
    }
    println!("naive: {}; batched: {}", naive.statuses, batched.statuses);
    println!(
        "batched, --depth 2: {} kept ({}), {} reviewer calls, {:.0} prompt tok/kept in all",
        deep.kept,
        deep.statuses,
        deep.reviewer_calls,
        per(deep.all_tokens, deep.kept)
    );
    let deeper = per(deep.all_tokens, deep.kept) / per(batched.all_tokens, batched.kept);
    println!(
        "depth 2 / depth 1 prompt tokens per kept claim: {deeper:.2}x (target <= 1.5x: {})",
        if deeper <= 1.5 { "met" } else { "NOT met" }
    );
    let ratio = per(batched.reviewer_tokens, batched.kept) / per(naive.reviewer_tokens, naive.kept);
    println!(
        "batched / naive reviewer tokens per kept claim: {ratio:.3}x (target <= 0.2x: {})",
        if ratio <= 0.2 { "met" } else { "NOT met" }
    );
    println!(
        "batched reviewer prompt tokens in shared prefixes: {:.1}% (target >= 80%: {})",
        100.0 * batched.prefix_share,
        if batched.prefix_share >= 0.8 {
            "met"
        } else {
            "NOT met"
        }
    );
    if research::verifier::Verifier::shared().is_err() {
        println!(
            "--first-pass: not measured, the verifier is not installed (research models install)"
        );
        return;
    }
    let first = run("batched", "1", &["--first-pass"]);
    println!(
        "batched with --first-pass: {} kept ({}), {} settled by the verifier, {} reviewer calls, {:.0} reviewer tok/kept",
        first.kept,
        first.statuses,
        first.settled_locally,
        first.reviewer_calls,
        per(first.reviewer_tokens, first.kept)
    );
    println!(
        "--first-pass / without, reviewer tokens per kept claim: {:.2}x",
        per(first.reviewer_tokens, first.kept) / per(batched.reviewer_tokens, batched.kept)
    );
}
