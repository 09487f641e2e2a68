//! `research --engine llm` end to end against a scripted model server on loopback that speaks
//! the OpenAI Chat Completions API: deterministic replies built from the prompt it receives, and
//! scripted failures. The server counts every request.

#[path = "support/bundled_audit.rs"]
mod bundled_audit;
#[path = "support/scripted_model.rs"]
mod scripted_model;

use bundled_audit::assert_quotes_verbatim;
use scripted_model::{serve, Mode, Server, SLOTS};
use serde_json::Value;
use std::path::PathBuf;
use std::process::Command;
use std::sync::atomic::Ordering;

struct Run {
    status: std::process::ExitStatus,
    stdout: String,
    stderr: String,
    tmp: tempfile::TempDir,
}

fn research(server: &Server, extra: &[&str]) -> Run {
    research_with(
        server,
        "max_attempts = 2\ntimeout_secs = 10\ncontext_window = 8192\n\n[prices.scripted]\ninput = 1.0\noutput = 2.0\n",
        extra,
    )
}

/// A run whose research.toml gives the scripted server with these settings after its URL.
fn research_with(server: &Server, settings: &str, extra: &[&str]) -> Run {
    let tmp = tempfile::tempdir().unwrap();
    let config = tmp.path().join("research.toml");
    std::fs::write(
        &config,
        format!(
            "[providers.default]\nkind = \"openai\"\nbase_url = \"{}\"\n{settings}",
            server.url
        ),
    )
    .unwrap();
    let out = Command::new(env!("CARGO_BIN_EXE_research"))
        .args([
            "How should lithium-ion batteries be charged and stored to last as long as possible?",
            "--engine",
            "llm",
            "--model",
            "scripted",
            "--quiet",
        ])
        .arg("--config")
        .arg(&config)
        .arg("--index")
        .arg(tmp.path().join("index"))
        .arg("--out")
        .arg(tmp.path().join("reports"))
        .args(extra)
        .env_remove("OPENAI_API_KEY")
        .env_remove("RESEARCH_MODEL")
        .env_remove("RESEARCH_BASE_URL")
        .env_remove("RESEARCH_INDEX")
        .output()
        .unwrap();
    Run {
        status: out.status,
        stdout: String::from_utf8_lossy(&out.stdout).into_owned(),
        stderr: String::from_utf8_lossy(&out.stderr).into_owned(),
        tmp,
    }
}

fn audit(run: &Run) -> Value {
    assert!(run.status.success(), "stderr: {}", run.stderr);
    let md = PathBuf::from(run.stdout.trim());
    assert!(md.exists(), "{}", run.stdout);
    serde_json::from_str(&std::fs::read_to_string(md.with_extension("json")).unwrap()).unwrap()
}

#[test]
fn llm_run_writes_a_cited_report_and_drops_invented_quotes() {
    let server = serve(Mode::Good);
    let run = research(&server, &[]);
    let a = audit(&run);
    assert!(assert_quotes_verbatim(&a) > 5);
    assert_eq!(a["engine"], "llm");
    let kept = a["stats"]["kept"].as_u64().unwrap();
    assert!(kept > 0, "{}", a["stats"]);
    // The extractor invented a quote in every batch: none of those is cited, and all are counted.
    assert!(
        a["stats"]["quotes_failed"].as_u64().unwrap() >= 1,
        "{}",
        a["stats"]
    );
    let md = std::fs::read_to_string(run.stdout.trim()).unwrap();
    assert!(!md.contains("love the sun"));
    // The ledger saw every call the server answered, and priced them.
    let spend = &a["spend"];
    assert_eq!(
        spend["calls"].as_u64().unwrap() as usize,
        server.script.requests.load(Ordering::SeqCst)
    );
    assert!(spend["cost_usd"].as_f64().unwrap() > 0.0);
    assert!(md.contains("Model calls:"));
    // Prompt hashes are in the audit, the follow-up planner's among them.
    assert_eq!(a["prompts"].as_object().unwrap().len(), 6);
    assert!(a["prompts"].get("follow-up").is_some());
    assert!(a["prompts"].get("answer").is_some());
}

#[test]
fn the_answer_is_the_writer_s_prose_and_only_its_grounded_sentences_are_printed() {
    let server = serve(Mode::Good);
    let run = research(&server, &[]);
    let a = audit(&run);
    let kept: Vec<&str> = a["reviewed"]
        .as_array()
        .unwrap()
        .iter()
        .filter(|r| r["verdict"]["status"] == "kept")
        .map(|r| r["claim"]["id"].as_str().unwrap())
        .collect();
    let sentences: Vec<&Value> = a["answer"]["parts"]
        .as_array()
        .unwrap()
        .iter()
        .flat_map(|p| p["sentences"].as_array().unwrap())
        .collect();
    // The model's own sentence is there, resting on kept claims only.
    let written: Vec<&&Value> = sentences
        .iter()
        .filter(|s| s["text"].as_str().unwrap().starts_with("In short: "))
        .collect();
    assert!(!written.is_empty(), "{}", a["answer"]);
    for s in &sentences {
        let ids = s["claim_ids"].as_array().unwrap();
        assert!(!ids.is_empty(), "{s}");
        assert!(
            ids.iter().all(|id| kept.contains(&id.as_str().unwrap())),
            "{s}"
        );
    }
    // A number no claim holds, or a claim never given, is deleted, and the report says so.
    let md = std::fs::read_to_string(run.stdout.trim()).unwrap();
    let answer = md
        .split("## Answer")
        .nth(1)
        .unwrap()
        .split("\n## ")
        .next()
        .unwrap();
    assert!(answer.contains("In short: "), "{answer}");
    assert!(!md.contains("97 years"));
    assert!(!md.contains("Nothing cited here is true"));
    assert!(
        notes_mention(&a, "sentences of the written answer were deleted"),
        "{}",
        a["notes"]
    );
    // A key fact the prose already cites is not listed again.
    let cited: Vec<&Value> = written
        .iter()
        .flat_map(|s| s["claim_ids"].as_array().unwrap())
        .collect();
    for f in a["answer"]["key_facts"].as_array().unwrap() {
        assert!(
            !f["claim_ids"]
                .as_array()
                .unwrap()
                .iter()
                .any(|id| cited.contains(&id)),
            "{f}"
        );
    }
}

#[test]
fn failed_reviewer_calls_leave_claims_unverified_never_refuted() {
    let server = serve(Mode::ReviewersFail);
    let run = research(&server, &[]);
    let a = audit(&run);
    let reviewed = a["reviewed"].as_array().unwrap();
    assert!(!reviewed.is_empty());
    for r in reviewed {
        assert_eq!(r["verdict"]["status"], "unverified", "{}", r["verdict"]);
        assert_eq!(r["verdict"]["refute"], 0);
    }
    let md = std::fs::read_to_string(run.stdout.trim()).unwrap();
    assert!(md.contains("## Left unverified"));
    // Retries are bounded: 5 reviewers x their batches x 2 attempts, no storm.
    let reviewer_calls = server.script.reviewer_requests.load(Ordering::SeqCst);
    let batches: usize = 5 * reviewed.len().div_ceil(12);
    assert!(
        reviewer_calls <= batches * 2,
        "{reviewer_calls} reviewer requests for {batches} batches"
    );
}

#[test]
fn garbage_replies_fall_back_and_still_give_a_checked_report() {
    let server = serve(Mode::Garbage);
    let run = research(&server, &[]);
    let a = audit(&run);
    assert_quotes_verbatim(&a);
    let notes: Vec<&str> = a["notes"]
        .as_array()
        .unwrap()
        .iter()
        .filter_map(Value::as_str)
        .collect();
    assert!(
        notes.iter().any(|n| n.contains("planner failed")),
        "{notes:?}"
    );
    // Votes that could not be parsed are errors (unverified), never refutations.
    for r in a["reviewed"].as_array().unwrap() {
        assert_eq!(r["verdict"]["refute"], 0);
    }
}

/// Every token the audit's spend charged: input (uncached, cache read and written) and output.
fn tokens_charged(spend: &Value) -> u64 {
    ["input_uncached", "cache_read", "cache_write", "output"]
        .iter()
        .map(|k| spend[*k].as_u64().unwrap())
        .sum()
}

#[test]
fn token_budget_is_a_hard_cap_with_a_partial_report() {
    let server = serve(Mode::Good);
    let run = research(&server, &["--budget-tokens", "12000"]);
    let a = audit(&run);
    let spend = &a["spend"];
    let used = tokens_charged(spend);
    assert!(used <= 12000, "{used} tokens used");
    assert_eq!(spend["exhausted"], true);
    let md = std::fs::read_to_string(run.stdout.trim()).unwrap();
    assert!(md.contains("The budget ran out"));
    assert!(a["stats"]["unverified"].as_u64().unwrap() > 0);
}

/// The budget holds when the provider reports no usage, or absurd usage: our estimate is
/// charged instead, the totals do not wrap, and the report says which figures are estimated.
#[test]
fn the_budget_holds_when_usage_is_missing_or_absurd() {
    for mode in [Mode::NoUsage, Mode::AbsurdUsage] {
        let server = serve(mode);
        let run = research(&server, &["--budget-tokens", "8000"]);
        let a = audit(&run);
        let spend = &a["spend"];
        let used = tokens_charged(spend);
        assert!(used <= 8000, "{used} tokens charged");
        // What the server really received stays near the cap (its count is bytes / 4).
        let sent = server.script.prompt_tokens.load(Ordering::SeqCst);
        assert!(
            sent <= 10_000,
            "{sent} prompt tokens sent under an 8000-token budget"
        );
        assert_eq!(spend["exhausted"], true, "{spend}");
        assert!(spend["estimated_calls"].as_u64().unwrap() > 0, "{spend}");
        let md = std::fs::read_to_string(run.stdout.trim()).unwrap();
        assert!(md.contains("are our estimate"), "{md}");
        assert!(md.contains("The budget ran out"));
    }
}

#[test]
fn dry_run_dispatches_nothing() {
    let server = serve(Mode::Good);
    let run = research(&server, &["--dry-run"]);
    assert!(run.status.success(), "{}", run.stderr);
    assert!(run.stdout.starts_with("estimate:"), "{}", run.stdout);
    assert_eq!(server.script.requests.load(Ordering::SeqCst), 0);
    assert!(!run.tmp.path().join("reports").exists());
}

#[test]
fn source_text_stays_inside_its_quotation() {
    let server = serve(Mode::Good);
    let _ = audit(&research(&server, &[]));
    for prompt in server.script.prompts.lock().unwrap().iter() {
        assert_eq!(
            prompt.matches("<source id=").count(),
            prompt.matches("</source>").count()
        );
    }
}

#[test]
fn the_estimate_comes_before_the_first_model_call() {
    let server = serve(Mode::Good);
    let run = research(&server, &["--progress", "json"]);
    assert!(run.status.success(), "{}", run.stderr);
    let estimate = run
        .stderr
        .find("estimate: ")
        .expect("an estimate was printed");
    let first_call = run
        .stderr
        .find("\"key\":\"call\"")
        .expect("a call was journaled");
    assert!(estimate < first_call, "{}", run.stderr);
}

#[test]
fn json_progress_counts_each_reviewer_s_tokens_and_the_run_s_totals() {
    let server = serve(Mode::Good);
    let run = research(&server, &["--progress", "json"]);
    let a = audit(&run);
    let events: Vec<Value> = run
        .stderr
        .lines()
        .filter_map(|l| serde_json::from_str(l).ok())
        .collect();
    let entries = a["spend"]["entries"].as_array().unwrap();
    let reviewers: Vec<&Value> = events
        .iter()
        .filter(|e| e["event"] == "agent" && e["role"] != "gather" && e["state"] != "working")
        .collect();
    // The panel sits once, and again in each later round that had claims to vote on.
    let panels = 1 + a["trail"].as_array().map_or(0, |rounds| {
        rounds
            .iter()
            .filter(|r| {
                r["searches"]
                    .as_array()
                    .unwrap()
                    .iter()
                    .any(|s| s["new_claims"].as_u64().unwrap() > 0)
                    || r["revoted"].as_array().is_some_and(|v| !v.is_empty())
            })
            .count()
    });
    assert_eq!(
        reviewers.len(),
        panels * a["policy"]["reviewers"].as_u64().unwrap() as usize
    );
    for (i, r) in reviewers.iter().enumerate() {
        // What the agent's last line said it spent is what the ledger holds for that reviewer.
        let role = r["role"].as_str().unwrap();
        if reviewers[i + 1..].iter().any(|later| later["role"] == role) {
            continue;
        }
        let ledger: u64 = entries
            .iter()
            .filter(|e| e["role"] == role)
            .map(|e| {
                ["input_uncached", "cache_read", "cache_write", "output"]
                    .iter()
                    .map(|k| e["usage"][k].as_u64().unwrap_or(0))
                    .sum::<u64>()
            })
            .sum();
        assert!(ledger > 0, "{role} made no call");
        assert_eq!(r["tokens"].as_u64(), Some(ledger), "{r}");
    }
    let last = events
        .iter()
        .rfind(|e| e["event"] == "totals")
        .expect("a totals event");
    assert_eq!(last["tasks_done"], last["tasks_total"]);
    let spent = ["input_uncached", "cache_read", "cache_write", "output"]
        .iter()
        .map(|k| a["spend"][k].as_u64().unwrap())
        .sum::<u64>();
    // The writer's call comes after the last agent: the totals then are at most the run's.
    let shown = last["tokens"].as_u64().unwrap();
    assert!(shown > 0 && shown <= spent, "{shown} of {spent}");
}

#[test]
fn reviewers_of_one_model_differ_by_design_and_no_request_is_sent_twice() {
    let server = serve(Mode::Good);
    let run = research(&server, &[]);
    audit(&run);
    let prompts = server.script.reviewer_prompts.lock().unwrap().clone();
    assert!(prompts.len() >= 5, "{} reviewer calls", prompts.len());
    let distinct: std::collections::HashSet<&String> = prompts.iter().collect();
    assert_eq!(
        distinct.len(),
        prompts.len(),
        "a reviewer request was sent twice"
    );
    // Each regular reviewer tests one part of a claim first; the skeptic hunts contradictions.
    for duty in [
        "numbers, values and units",
        "conditions, versions and exceptions",
        "its polarity",
        "neighbouring fact",
        "the panel's skeptic",
    ] {
        assert!(
            prompts.iter().any(|p| p.contains(duty)),
            "no reviewer told: {duty}"
        );
    }
    // What differs comes last: most of every prompt is a prefix another call shares.
    let share = server.script.reviewer_prefix_share();
    assert!(share > 0.9, "shared prefix {share:.3}");
}

#[test]
fn a_context_exceeded_reply_splits_the_batch_and_never_repeats_a_request() {
    let server = serve(Mode::SmallContext);
    let run = research(&server, &[]);
    let a = audit(&run);
    let votes = bundled_audit::votes(&a);
    assert!(!votes.is_empty());
    let failed = votes.iter().filter(|v| v["stance"] == "error").count();
    assert_eq!(failed, 0, "every vote cast once the batches fit");
    let prompts = server.script.reviewer_prompts.lock().unwrap().clone();
    let distinct: std::collections::HashSet<&String> = prompts.iter().collect();
    assert_eq!(
        distinct.len(),
        prompts.len(),
        "a request was sent again unchanged"
    );
    assert!(
        a["notes"]
            .as_array()
            .unwrap()
            .iter()
            .any(|n| n.as_str().unwrap().contains("split")),
        "{}",
        a["notes"]
    );
}

#[test]
fn two_fresh_runs_send_byte_identical_requests() {
    // What a provider's prompt cache needs: the same question over the same corpus asks the
    // same bytes, run after run (fresh index each time, ingested in parallel).
    let bodies = || {
        let server = serve(Mode::Good);
        audit(&research(&server, &[]));
        let mut p = server.script.prompts.lock().unwrap().clone();
        p.sort();
        p
    };
    let (first, second) = (bodies(), bodies());
    assert!(!first.is_empty());
    let differing = first.iter().filter(|p| !second.contains(p)).count();
    assert_eq!(
        differing,
        0,
        "{differing} of {} requests differ",
        first.len()
    );
}

#[test]
fn a_llama_cpp_slot_context_is_learned_and_prompts_fit_it_first_time() {
    let server = serve(Mode::SlotContext);
    // research.toml says 8,192 tokens; the server's /props says 1,500 per slot.
    let run = research(&server, &[]);
    let a = audit(&run);
    let entries = a["spend"]["entries"].as_array().unwrap();
    let panel: Vec<&Value> = entries
        .iter()
        .filter(|e| {
            let role = e["role"].as_str().unwrap_or("");
            role.starts_with("reviewer") || role.starts_with("skeptic")
        })
        .collect();
    assert!(!panel.is_empty());
    let refused: Vec<&&Value> = panel.iter().filter(|e| e["ok"] == false).collect();
    assert!(refused.is_empty(), "panel calls refused: {refused:?}");
    assert!(
        a["notes"]
            .as_array()
            .unwrap()
            .iter()
            .any(|n| n.as_str().unwrap().contains("/props")),
        "{}",
        a["notes"]
    );
    let votes = bundled_audit::votes(&a);
    assert!(!votes.is_empty());
    assert!(votes.iter().filter(|v| v["stance"] == "error").count() == 0);
}

/// Every panel call of a run succeeded and cast its votes.
fn assert_panel_voted(a: &Value) {
    let entries = a["spend"]["entries"].as_array().unwrap();
    let refused: Vec<&Value> = entries.iter().filter(|e| e["ok"] == false).collect();
    assert!(refused.is_empty(), "calls refused: {refused:?}");
    let votes = bundled_audit::votes(a);
    assert!(!votes.is_empty());
    assert_eq!(votes.iter().filter(|v| v["stance"] == "error").count(), 0);
}

fn notes_mention(a: &Value, what: &str) -> bool {
    a["notes"]
        .as_array()
        .unwrap()
        .iter()
        .any(|n| n.as_str().unwrap().contains(what))
}

#[test]
fn an_older_llama_cpp_is_read_from_its_slots_and_never_sent_more_requests_than_it_has_slots() {
    let server = serve(Mode::SlotsOnly);
    // research.toml allows 4 requests at once and 8,192 tokens; the server has 2 slots of 1,500.
    let run = research_with(
        &server,
        "max_attempts = 2\ntimeout_secs = 10\ncontext_window = 8192\nmax_concurrency = 4\n",
        &[],
    );
    let a = audit(&run);
    assert_panel_voted(&a);
    let most = server.script.max_in_flight.load(Ordering::SeqCst);
    assert!(
        most <= SLOTS,
        "{most} requests were in flight at once on a server with {SLOTS} slots"
    );
    assert!(notes_mention(&a, "/slots"), "{}", a["notes"]);
}

#[test]
fn an_ollama_model_without_num_ctx_gets_prompts_that_fit_its_default_context() {
    let server = serve(Mode::Ollama);
    // research.toml says 8,192 tokens; Ollama runs the model with its default context and would
    // cut longer prompts without saying so.
    let run = research(&server, &[]);
    let a = audit(&run);
    assert_panel_voted(&a);
    let cut = server.script.truncated.load(Ordering::SeqCst);
    assert_eq!(cut, 0, "{cut} prompts were longer than Ollama's context");
    assert!(notes_mention(&a, "num_ctx"), "{}", a["notes"]);
}

#[test]
fn a_slow_local_model_is_waited_for_at_its_measured_pace() {
    let server = serve(Mode::TokenPaced);
    // A one-second timeout: long prompts take longer than that on this server.
    let run = research_with(
        &server,
        "max_attempts = 2\ntimeout_secs = 1\ncontext_window = 8192\n",
        &[],
    );
    let a = audit(&run);
    // Some prompts took longer than the configured second, and none failed for it.
    let slowest = a["spend"]["entries"]
        .as_array()
        .unwrap()
        .iter()
        .filter_map(|e| e["latency_ms"].as_u64())
        .max()
        .unwrap();
    assert!(
        slowest > 1000,
        "no call outlasted the configured timeout: {slowest} ms"
    );
    let failed: Vec<&Value> = a["spend"]["entries"]
        .as_array()
        .unwrap()
        .iter()
        .filter(|e| e["ok"] == false)
        .collect();
    assert!(failed.is_empty(), "calls failed: {failed:?}");
}

#[test]
fn a_wall_time_budget_ends_a_slow_run_with_a_partial_report() {
    let server = serve(Mode::TokenPaced);
    // Every call of this server takes a second or more; two seconds cannot hold the run.
    let run = research_with(
        &server,
        "max_attempts = 2\ntimeout_secs = 10\ncontext_window = 8192\n",
        &["--budget-seconds", "2"],
    );
    let a = audit(&run);
    let spend = &a["spend"];
    assert_eq!(spend["budget_seconds"], 2, "{spend}");
    assert_eq!(spend["exhausted"], true, "{spend}");
    // What the budget stopped is unverified, never refuted.
    let votes = bundled_audit::votes(&a);
    assert!(votes.iter().any(|v| v["stance"] == "error"), "{votes:?}");
    assert!(votes
        .iter()
        .all(|v| v["stance"] != "refute" || !v["evidence"].is_null()));
    let md = std::fs::read_to_string(run.stdout.trim()).unwrap();
    assert!(md.contains("2 s of wall time"), "{md}");
    assert!(md.contains("The budget ran out"), "{md}");
}

#[test]
fn a_later_round_is_planned_by_the_model_from_a_compact_summary() {
    let server = serve(Mode::Good);
    let run = research(&server, &["--depth", "2"]);
    let a = audit(&run);
    let entries = a["spend"]["entries"].as_array().unwrap();
    assert!(
        entries
            .iter()
            .any(|e| e["role"] == "follow-up" && e["ok"] == true),
        "no follow-up planner call: {entries:?}"
    );
    // The model's search is the round's, and the trail says so.
    let search = &a["trail"][0]["searches"][0];
    assert_eq!(search["follow_up"]["lead"], "bridge", "{}", a["trail"]);
    assert!(search["follow_up"]["query"]
        .as_str()
        .unwrap()
        .ends_with("lifespan"));
    // What the planner is shown is a summary, not the run's evidence: it stays small however
    // much the first round found.
    let prompts = server.script.prompts.lock().unwrap();
    let summary = prompts
        .iter()
        .find(|p| p.contains("Searches already run:"))
        .unwrap();
    assert!(!summary.contains("<source"), "passages were sent");
    assert!(
        summary.len() < 12 * 260 + 16 * 220 + 600,
        "{} bytes",
        summary.len()
    );
    // One pass makes no such call.
    let single = serve(Mode::Good);
    let a1 = audit(&research(&single, &["--depth", "1"]));
    assert!(a1["spend"]["entries"]
        .as_array()
        .unwrap()
        .iter()
        .all(|e| e["role"] != "follow-up"));
    assert!(a1.get("trail").is_none());
}

/// `--first-pass`: the local verifier votes first; a claim its whole panel supports is settled
/// without a model call, the audit marks those votes, and only the other claims reach the model
/// reviewers. Needs the installed verifier (.ci/run installs it).
#[test]
fn the_verifier_s_first_pass_settles_what_it_is_sure_of_and_the_models_review_the_rest() {
    let plain_server = serve(Mode::Good);
    let plain = audit(&research(&plain_server, &["--depth", "1"]));
    let server = serve(Mode::Good);
    let run = research(&server, &["--depth", "1", "--first-pass"]);
    assert!(
        run.status.success(),
        "this test needs the installed verifier (research models install): {}",
        run.stderr
    );
    let a = audit(&run);
    assert_quotes_verbatim(&a);
    let reviewed = a["reviewed"].as_array().unwrap();
    let settled: Vec<&Value> = reviewed
        .iter()
        .filter(|r| {
            let votes = r["votes"].as_array().unwrap();
            !votes.is_empty() && votes.iter().all(|v| v["first_pass"] == true)
        })
        .collect();
    assert!(!settled.is_empty(), "the verifier settled nothing");
    let prompts = server.script.reviewer_prompts.lock().unwrap().join("\n");
    for r in &settled {
        // Settled locally: kept on supporting votes with checked evidence, said so, and never
        // sent to a model reviewer.
        assert_eq!(r["verdict"]["status"], "kept", "{r}");
        assert!(r["verdict"]["reason"]
            .as_str()
            .unwrap()
            .contains("settled by the local verifier"));
        for v in r["votes"].as_array().unwrap() {
            assert_eq!(v["stance"], "support");
            assert!(!v["evidence"].is_null());
        }
        // As a claim to judge ("Claim c3: TEXT (look first at: ...)"); its sentence may still
        // be read as another claim's evidence.
        let text = r["claim"]["text"].as_str().unwrap();
        assert!(
            !prompts.contains(&format!(": {text} (look first at")),
            "sent to the models: {text}"
        );
    }
    // A claim the verifier did not settle was reviewed by the models, with no vote of the
    // first pass among its votes.
    for r in reviewed.iter().filter(|r| !settled.contains(r)) {
        assert!(r["votes"]
            .as_array()
            .unwrap()
            .iter()
            .all(|v| v["first_pass"].is_null()));
    }
    let tokens = |s: &scripted_model::Script| s.reviewer_prompt_tokens.load(Ordering::SeqCst);
    assert!(
        tokens(&server.script) < tokens(&plain_server.script),
        "{} reviewer tokens with the first pass, {} without",
        tokens(&server.script),
        tokens(&plain_server.script)
    );
    assert!(plain["stats"]["kept"].as_u64().unwrap() > 0);
}
