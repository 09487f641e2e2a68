//! Durable runs: a run killed (SIGKILL) after any journal event resumes to the same report
//! without repeating finished work or model calls; a damaged journal is a clear error; runs at
//! once do not disturb each other; a full disk ends with a clear error and a sound journal.

#[path = "support/scripted_model.rs"]
mod scripted_model;

use scripted_model::{serve, Mode};
use std::os::unix::process::ExitStatusExt;
use std::path::{Path, PathBuf};
use std::process::{Command, Output};
use std::sync::atomic::Ordering;

const QUESTION: &str =
    "How should lithium-ion batteries be charged and stored to last as long as possible?";

fn research(index: &Path, args: &[&str], env: &[(&str, String)]) -> Output {
    let mut cmd = Command::new(env!("CARGO_BIN_EXE_research"));
    cmd.args(args).arg("--index").arg(index).arg("--quiet");
    cmd.env_remove("RESEARCH_INDEX")
        .env_remove("OPENAI_API_KEY")
        .env_remove("RESEARCH_MODEL");
    for (k, v) in env {
        cmd.env(k, v);
    }
    cmd.output().unwrap()
}

fn stdout(o: &Output) -> String {
    String::from_utf8_lossy(&o.stdout).trim().to_string()
}

fn stderr(o: &Output) -> String {
    String::from_utf8_lossy(&o.stderr).to_string()
}

/// The report without what differs between any two runs: creation time and elapsed time.
fn masked(path: &str) -> String {
    std::fs::read_to_string(path)
        .unwrap()
        .lines()
        .filter(|l| !l.contains(" UTC ·") && !l.ends_with(" ms."))
        .collect::<Vec<_>>()
        .join("\n")
}

/// The id of the newest run in an index's journal.
fn newest_run(index: &Path) -> String {
    let out = research(index, &["runs"], &[]);
    assert!(out.status.success(), "{}", stderr(&out));
    stdout(&out)
        .lines()
        .nth(1)
        .unwrap()
        .split_whitespace()
        .next()
        .unwrap()
        .to_string()
}

/// An uninterrupted run of the question, its report under `dir/ref`.
fn reference_run(dir: &Path, index: &Path) -> Output {
    let out = research(
        index,
        &[QUESTION, "--out", dir.join("ref").to_str().unwrap()],
        &[],
    );
    assert!(out.status.success(), "{}", stderr(&out));
    out
}

#[test]
fn a_run_killed_after_any_journal_event_resumes_to_the_same_report() {
    let tmp = tempfile::tempdir().unwrap();
    let index = tmp.path().join("index");
    let reference = reference_run(tmp.path(), &index);
    let expected = masked(&stdout(&reference));
    // prepared, plan, gather, claims, five reviewers' votes; the second round's follow-ups,
    // gather, claims and five votes; answer, sections: every stage boundary before the report
    // (whose writing the next test kills).
    for n in 1..=19u32 {
        let out_dir = tmp.path().join(format!("out{n}"));
        let killed = research(
            &index,
            &[QUESTION, "--out", out_dir.to_str().unwrap()],
            &[("RESEARCH_TEST_KILL_AFTER_EVENTS", n.to_string())],
        );
        assert_eq!(
            killed.status.signal(),
            Some(9),
            "event {n}: {}",
            stderr(&killed)
        );
        assert!(
            !out_dir.exists() || std::fs::read_dir(&out_dir).unwrap().next().is_none(),
            "no report before the end"
        );
        let id = newest_run(&index);
        let resumed = research(&index, &["resume", &id], &[]);
        assert!(resumed.status.success(), "event {n}: {}", stderr(&resumed));
        assert_eq!(
            masked(&stdout(&resumed)),
            expected,
            "report after a kill at event {n} differs"
        );
        // Resuming a finished run only points at its report.
        let again = research(&index, &["resume", &id], &[]);
        assert_eq!(stdout(&again), stdout(&resumed));
    }
}

#[test]
fn a_run_killed_while_writing_its_report_finishes_the_same_set() {
    let tmp = tempfile::tempdir().unwrap();
    let index = tmp.path().join("index");
    let reference = reference_run(tmp.path(), &index);
    let expected = masked(&stdout(&reference));
    let name = |p: &str| Path::new(p).file_name().unwrap().to_owned();
    // After the rendered set is journaled (1), after its audit (2), its HTML (3) and its
    // Markdown (4) are in place.
    for (n, key) in [
        (1, "report:1"),
        (2, "report-file/:1"),
        (3, "report-file/:2"),
        (4, "report-file/:3"),
    ] {
        let out_dir = tmp.path().join(format!("out{n}"));
        let killed = research(
            &index,
            &[QUESTION, "--out", out_dir.to_str().unwrap()],
            &[("RESEARCH_TEST_KILL_AFTER_EVENTS", key.to_string())],
        );
        assert_eq!(
            killed.status.signal(),
            Some(9),
            "{key}: {}",
            stderr(&killed)
        );
        let listed = |dir: &Path| -> Vec<String> {
            let mut v: Vec<String> = std::fs::read_dir(dir)
                .map(|d| {
                    d.map(|e| e.unwrap().file_name().to_string_lossy().into_owned())
                        .collect()
                })
                .unwrap_or_default();
            v.sort();
            v
        };
        let id = newest_run(&index);
        let resumed = research(&index, &["resume", &id], &[]);
        assert!(resumed.status.success(), "{key}: {}", stderr(&resumed));
        let md = stdout(&resumed);
        assert_eq!(masked(&md), expected, "{key}: the report differs");
        assert_eq!(name(&md), name(&stdout(&reference)), "{key}: a new name");
        let files = listed(&out_dir);
        // One whole set, nothing beside it: no `-2` set, no temporary file left behind.
        assert_eq!(files.len(), 3, "{key}: {files:?}");
        let audit = Path::new(&md).with_extension("json");
        let parsed: serde_json::Value =
            serde_json::from_str(&std::fs::read_to_string(&audit).unwrap()).unwrap();
        assert!(parsed["reviewed"].is_array(), "{key}: the audit is whole");
    }
}

#[test]
fn a_killed_llm_run_never_pays_for_a_completed_call_twice() {
    let tmp = tempfile::tempdir().unwrap();
    let reference_server = serve(Mode::Good);
    let config = |url: &str, name: &str| {
        let p = tmp.path().join(name);
        std::fs::write(&p, format!("[providers.default]\nkind = \"openai\"\nbase_url = \"{url}\"\nmax_concurrency = 1\nmax_attempts = 2\n")).unwrap();
        p
    };
    let args = |cfg: &PathBuf, out: &str| -> Vec<String> {
        vec![
            QUESTION.into(),
            "--engine".into(),
            "llm".into(),
            "--model".into(),
            "scripted".into(),
            "--config".into(),
            cfg.display().to_string(),
            "--out".into(),
            tmp.path().join(out).display().to_string(),
        ]
    };
    let cfg = config(&reference_server.url, "ref.toml");
    let a = args(&cfg, "ref");
    let reference = research(
        &tmp.path().join("ref-index"),
        &a.iter().map(String::as_str).collect::<Vec<_>>(),
        &[],
    );
    assert!(reference.status.success(), "{}", stderr(&reference));
    let calls = reference_server.script.requests.load(Ordering::SeqCst);
    assert!(calls >= 5);
    for n in [2u32, 4, 6, 8] {
        let server = serve(Mode::Good);
        let cfg = config(&server.url, &format!("run{n}.toml"));
        let index = tmp.path().join(format!("index{n}"));
        let a = args(&cfg, &format!("out{n}"));
        let killed = research(
            &index,
            &a.iter().map(String::as_str).collect::<Vec<_>>(),
            &[("RESEARCH_TEST_KILL_AFTER_EVENTS", n.to_string())],
        );
        assert_eq!(
            killed.status.signal(),
            Some(9),
            "event {n}: {}",
            stderr(&killed)
        );
        let before = server.script.requests.load(Ordering::SeqCst);
        let resumed = research(&index, &["resume", &newest_run(&index)], &[]);
        assert!(resumed.status.success(), "{}", stderr(&resumed));
        let total = server.script.requests.load(Ordering::SeqCst);
        // One call a time: at most the one in flight at the kill is sent again.
        assert!(
            total <= calls + 1,
            "event {n}: {before} before the kill, {total} in all, {calls} uninterrupted"
        );
        assert_eq!(
            masked(&stdout(&resumed)),
            masked(&stdout(&reference)),
            "event {n}"
        );
    }
}

#[test]
fn a_killed_verify_run_streams_then_resumes_at_the_next_claim_without_paying_twice() {
    let tmp = tempfile::tempdir().unwrap();
    let claims = tmp.path().join("claims.jsonl");
    let lines: Vec<String> = [
        "Heat speeds up battery ageing.",
        "Lithium-ion cells should be stored partly charged.",
        "Batteries love the sun.",
        "Charging to 100 percent every night is best.",
        "Cold slows the chemistry of a cell.",
        "Partial charges are fine for lithium-ion cells.",
        "Deep discharges wear cells faster.",
        "Storage at full charge ages a battery.",
    ]
    .iter()
    .cycle()
    .take(10)
    .enumerate()
    .map(|(i, c)| serde_json::json!({"id": format!("v{i}"), "claim": c}).to_string())
    .collect();
    std::fs::write(&claims, lines.join("\n")).unwrap();
    let run = |server_url: &str, index: &Path, kill: Option<&str>| -> Output {
        let cfg = index.with_extension("toml");
        std::fs::write(&cfg, format!("[providers.default]\nkind = \"openai\"\nbase_url = \"{server_url}\"\nmax_concurrency = 1\nmax_attempts = 2\n")).unwrap();
        let args = [
            "verify",
            "--claims",
            claims.to_str().unwrap(),
            "--engine",
            "llm",
            "--model",
            "scripted",
            "--config",
            cfg.to_str().unwrap(),
        ];
        let env: Vec<(&str, String)> = kill
            .map(|k| vec![("RESEARCH_TEST_KILL_AFTER_EVENTS", k.to_string())])
            .unwrap_or_default();
        research(index, &args, &env)
    };
    let reference_server = serve(Mode::Good);
    let reference = run(&reference_server.url, &tmp.path().join("ref"), None);
    assert!(reference.status.success(), "{}", stderr(&reference));
    let expected: Vec<String> = stdout(&reference).lines().map(String::from).collect();
    assert_eq!(expected.len(), 10, "{expected:?}");
    let calls = reference_server.script.requests.load(Ordering::SeqCst);

    let server = serve(Mode::Good);
    let index = tmp.path().join("index");
    // Killed once the second step's verdicts are journaled (before they are printed).
    let killed = run(&server.url, &index, Some("verdicts/:2"));
    assert_eq!(killed.status.signal(), Some(9), "{}", stderr(&killed));
    // Those verdicts were already printed: they stream, not wait for the end.
    let streamed: Vec<String> = stdout(&killed).lines().map(String::from).collect();
    assert_eq!(
        streamed,
        expected[..4],
        "the first step's verdicts, as they came"
    );
    let before = server.script.requests.load(Ordering::SeqCst);

    let runs = stdout(&research(&index, &["runs"], &[]));
    assert!(runs.lines().nth(1).unwrap().contains(" verify "), "{runs}");
    let resumed = research(&index, &["resume", &newest_run(&index)], &[]);
    assert!(resumed.status.success(), "{}", stderr(&resumed));
    let all: Vec<String> = stdout(&resumed).lines().map(String::from).collect();
    assert_eq!(
        all, expected,
        "every verdict, the first eight from the journal"
    );
    // No claim of a finished step was voted on again; the last step was.
    assert!(before < calls, "{before} calls before the kill of {calls}");
    let total = server.script.requests.load(Ordering::SeqCst);
    assert_eq!(
        total, calls,
        "{before} before the kill, {total} in all, {calls} uninterrupted"
    );
    let runs = stdout(&research(&index, &["runs"], &[]));
    assert!(runs.lines().nth(1).unwrap().contains(" done "), "{runs}");
}

#[test]
fn a_run_journaled_under_other_flags_still_resumes() {
    let tmp = tempfile::tempdir().unwrap();
    let index = tmp.path().join("index");
    let reference = reference_run(tmp.path(), &index);
    let killed = research(
        &index,
        &[QUESTION, "--out", tmp.path().join("out").to_str().unwrap()],
        &[("RESEARCH_TEST_KILL_AFTER_EVENTS", "plan:1".into())],
    );
    assert_eq!(killed.status.signal(), Some(9), "{}", stderr(&killed));
    let id = newest_run(&index);
    // What a build with other flags wrote: a setting this build does not know, and one it
    // knows missing (it takes its default).
    let db = rusqlite::Connection::open(index.join("runs.sqlite")).unwrap();
    let settings: String = db
        .query_row("SELECT args FROM runs WHERE id = ?1", [&id], |r| r.get(0))
        .unwrap();
    let mut v: serde_json::Value = serde_json::from_str(&settings).unwrap();
    assert_eq!(v["kind"], "question", "{v}");
    assert_eq!(v["panel"]["max_claims"], 40, "{v}");
    v["panel"].as_object_mut().unwrap().remove("max_claims");
    v["retired_setting"] = serde_json::json!(true);
    db.execute(
        "UPDATE runs SET args = ?2 WHERE id = ?1",
        [&id, &v.to_string()],
    )
    .unwrap();
    drop(db);
    let resumed = research(&index, &["resume", &id], &[]);
    assert!(resumed.status.success(), "{}", stderr(&resumed));
    assert_eq!(masked(&stdout(&resumed)), masked(&stdout(&reference)));
}

#[test]
fn replay_reaggregates_without_any_call() {
    let tmp = tempfile::tempdir().unwrap();
    let server = serve(Mode::Good);
    let cfg = tmp.path().join("r.toml");
    std::fs::write(
        &cfg,
        format!(
            "[providers.default]\nkind = \"openai\"\nbase_url = \"{}\"\n",
            server.url
        ),
    )
    .unwrap();
    let index = tmp.path().join("index");
    let out = research(
        &index,
        &[
            QUESTION,
            "--engine",
            "llm",
            "--model",
            "scripted",
            "--config",
            cfg.to_str().unwrap(),
            "--out",
            tmp.path().join("a").to_str().unwrap(),
        ],
        &[],
    );
    assert!(out.status.success(), "{}", stderr(&out));
    let sent = server.script.requests.load(Ordering::SeqCst);
    let id = newest_run(&index);
    let replay = research(
        &index,
        &[
            "replay",
            &id,
            "--quorum",
            "5",
            "--out",
            tmp.path().join("b").to_str().unwrap(),
        ],
        &[],
    );
    assert!(replay.status.success(), "{}", stderr(&replay));
    assert_eq!(
        server.script.requests.load(Ordering::SeqCst),
        sent,
        "replay made a call"
    );
    let audit: serde_json::Value = serde_json::from_str(
        &std::fs::read_to_string(Path::new(&stdout(&replay)).with_extension("json")).unwrap(),
    )
    .unwrap();
    assert_eq!(audit["policy"]["quorum"], 5);
}

#[test]
fn a_damaged_journal_is_a_clear_error_with_a_way_out() {
    let tmp = tempfile::tempdir().unwrap();
    let index = tmp.path().join("index");
    let ok = research(
        &index,
        &[QUESTION, "--out", tmp.path().join("a").to_str().unwrap()],
        &[],
    );
    assert!(ok.status.success());
    let journal = index.join("runs.sqlite");
    for damage in ["garbage", "truncate"] {
        let bytes = std::fs::read(&journal).unwrap();
        let damaged: Vec<u8> = if damage == "garbage" {
            b"not a database at all, just some bytes".repeat(200)
        } else {
            bytes[..bytes.len() / 3].to_vec()
        };
        std::fs::write(&journal, &damaged).unwrap();
        let _ = std::fs::remove_file(index.join("runs.sqlite-wal"));
        let _ = std::fs::remove_file(index.join("runs.sqlite-shm"));
        let out = research(
            &index,
            &[QUESTION, "--out", tmp.path().join("b").to_str().unwrap()],
            &[],
        );
        let err = stderr(&out);
        assert!(
            !out.status.success(),
            "{damage}: a damaged journal was used"
        );
        assert_eq!(err.trim().lines().count(), 1, "{err}");
        assert!(err.contains("move it aside"), "{damage}: {err}");
        assert_eq!(
            std::fs::read(&journal).unwrap(),
            damaged,
            "the damaged file was changed"
        );
        // The way out works: with the journal moved aside, runs start over.
        std::fs::rename(&journal, tmp.path().join(format!("journal-{damage}"))).unwrap();
        let again = research(
            &index,
            &[
                QUESTION,
                "--out",
                tmp.path().join(format!("c-{damage}")).to_str().unwrap(),
            ],
            &[],
        );
        assert!(again.status.success(), "{}", stderr(&again));
    }
}

#[test]
fn two_runs_at_once_do_not_disturb_each_other() {
    let tmp = tempfile::tempdir().unwrap();
    let index = tmp.path().join("index");
    let spawn = |out: &str| {
        Command::new(env!("CARGO_BIN_EXE_research"))
            .args([
                QUESTION,
                "--quiet",
                "--out",
                tmp.path().join(out).to_str().unwrap(),
            ])
            .arg("--index")
            .arg(&index)
            .env_remove("RESEARCH_INDEX")
            .stdout(std::process::Stdio::null())
            .spawn()
            .unwrap()
    };
    let (mut a, mut b) = (spawn("a"), spawn("b"));
    assert!(a.wait().unwrap().success());
    assert!(b.wait().unwrap().success());
    let runs = stdout(&research(&index, &["runs"], &[]));
    assert_eq!(
        runs.lines().filter(|l| l.contains(" done ")).count(),
        2,
        "{runs}"
    );
    for out in ["a", "b"] {
        assert_eq!(std::fs::read_dir(tmp.path().join(out)).unwrap().count(), 3);
    }
}

#[test]
fn a_full_disk_ends_with_a_clear_error_and_a_sound_journal() {
    let tmp = tempfile::tempdir().unwrap();
    let index = tmp.path().join("index");
    // A first, small run creates the journal and the index; the second may write little.
    let ok = research(
        &index,
        &[QUESTION, "--out", tmp.path().join("a").to_str().unwrap()],
        &[],
    );
    assert!(ok.status.success());
    let big = tmp.path().join("big");
    std::fs::create_dir(&big).unwrap();
    for i in 0..40 {
        std::fs::write(
            big.join(format!("doc{i}.txt")),
            format!("Document {i} says lithium cells age faster when hot. ").repeat(4000),
        )
        .unwrap();
    }
    // ulimit -f: no file may grow past 256 KiB, as on a nearly full disk.
    let out = Command::new("bash")
        .arg("-c")
        .arg(
            "ulimit -f 256; exec \"$0\" \"$1\" --corpus \"$2\" --index \"$3\" --out \"$4\" --quiet",
        )
        .arg(env!("CARGO_BIN_EXE_research"))
        .arg(QUESTION)
        .arg(&big)
        .arg(&index)
        .arg(tmp.path().join("b"))
        .env_remove("RESEARCH_INDEX")
        .output()
        .unwrap();
    let err = stderr(&out);
    assert!(!out.status.success(), "the run could not have fitted");
    assert_eq!(out.status.signal(), None, "killed by a signal: {err}");
    assert_eq!(err.trim().lines().count(), 1, "{err}");
    assert!(err.starts_with("research: error:"), "{err}");
    // The journal still opens and lists both runs.
    let runs = research(&index, &["runs"], &[]);
    assert!(runs.status.success(), "{}", stderr(&runs));
    assert!(stdout(&runs).lines().count() >= 3, "{}", stdout(&runs));
}

#[test]
fn ctrl_c_stops_cleanly_and_the_run_resumes() {
    use std::io::{BufRead, BufReader};
    let tmp = tempfile::tempdir().unwrap();
    let server = serve(Mode::Slow);
    let cfg = tmp.path().join("slow.toml");
    std::fs::write(
        &cfg,
        format!(
            "[providers.default]\nkind = \"openai\"\nbase_url = \"{}\"\nmax_concurrency = 1\n",
            server.url
        ),
    )
    .unwrap();
    let index = tmp.path().join("index");
    let mut child = Command::new(env!("CARGO_BIN_EXE_research"))
        .args([
            QUESTION,
            "--engine",
            "llm",
            "--model",
            "scripted",
            "--progress",
            "json",
            "--config",
            cfg.to_str().unwrap(),
        ])
        .arg("--index")
        .arg(&index)
        .arg("--out")
        .arg(tmp.path().join("out"))
        .env_remove("RESEARCH_INDEX")
        .stderr(std::process::Stdio::piped())
        .stdout(std::process::Stdio::piped())
        .spawn()
        .unwrap();
    // Once the first model call is journaled, press Ctrl-C (SIGINT) once.
    let mut lines = BufReader::new(child.stderr.take().unwrap()).lines();
    let mut seen = Vec::new();
    for line in lines.by_ref() {
        let line = line.unwrap();
        seen.push(line.clone());
        if line.contains("\"event\":\"journal\"") && line.contains("\"key\":\"call\"") {
            // SAFETY: sending a signal to our own child has no memory-safety preconditions.
            unsafe {
                libc::kill(child.id() as i32, libc::SIGINT);
            }
            break;
        }
    }
    let rest: Vec<String> = lines.map_while(Result::ok).collect();
    let status = child.wait().unwrap();
    assert_eq!(status.code(), Some(130), "{seen:?} {rest:?}");
    let last = rest.last().cloned().unwrap_or_default();
    assert!(last.contains("research resume "), "{rest:?}");
    let runs = stdout(&research(&index, &["runs"], &[]));
    assert!(runs.lines().nth(1).unwrap().contains(" stopped "), "{runs}");
    let sent = server.script.requests.load(Ordering::SeqCst);
    // Nothing was dispatched after the stop beyond the call in flight.
    assert!(sent <= 2, "{sent} calls before the stop took effect");
    let resumed = research(&index, &["resume", &newest_run(&index)], &[]);
    assert!(resumed.status.success(), "{}", stderr(&resumed));
    assert!(Path::new(&stdout(&resumed)).exists());
}
