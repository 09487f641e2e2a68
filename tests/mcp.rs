//! `research mcp` driven by a real MCP client: the official Python SDK (`pip install mcp`,
//! which .ci/run installs) runs tests/mcp_client.py against the built binary over stdio. The
//! script lists the tools, calls each on the bundled corpus and on Debian's SQLite manual, reads
//! the reports as resources, cancels a long research call midway and resumes it, and checks the
//! refusals (paths outside the served corpora, the web, private addresses) and that keys never
//! come back.

use std::path::Path;
use std::process::Command;

const SQLITE_DOCS: &str = "/usr/share/doc/sqlite3";

fn python() -> &'static str {
    if Command::new("python3").arg("--version").output().is_ok() {
        "python3"
    } else {
        "python"
    }
}

#[test]
fn an_mcp_client_lists_calls_cancels_resumes_and_is_refused_outside_the_corpora() {
    let has_sdk = Command::new(python())
        .args(["-c", "import mcp.client.stdio"])
        .output()
        .is_ok_and(|o| o.status.success());
    if !has_sdk {
        eprintln!(
            "skipped: the MCP Python SDK is not installed here (pip install 'mcp==2.3.0'; .ci/run installs it)"
        );
        return;
    }
    assert!(
        Path::new(SQLITE_DOCS).is_dir(),
        "{SQLITE_DOCS} is missing: install it with `apt-get install sqlite3-doc` (.ci/run does)"
    );
    let work = tempfile::tempdir().unwrap();
    let script = Path::new(env!("CARGO_MANIFEST_DIR")).join("tests/mcp_client.py");
    let out = Command::new(python())
        .arg(&script)
        .arg(env!("CARGO_BIN_EXE_research"))
        .arg(work.path())
        .arg(SQLITE_DOCS)
        // The server's own index and reports live in the temp folder; nothing of the user's.
        .env_remove("RESEARCH_INDEX")
        .current_dir(work.path())
        .output()
        .unwrap();
    let stdout = String::from_utf8_lossy(&out.stdout);
    let stderr = String::from_utf8_lossy(&out.stderr);
    println!("{stdout}");
    assert!(
        out.status.success() && stdout.contains("all MCP checks passed"),
        "the MCP client failed:\n{stdout}\n{stderr}"
    );
    // Everything the server wrote is inside the temp folder it was given.
    assert!(work.path().join("index/runs.sqlite").is_file());
    assert!(std::fs::read_dir(work.path().join("reports"))
        .unwrap()
        .any(|e| e.unwrap().file_name().to_string_lossy().ends_with(".md")));
}
