//! `research check-plan` as a user runs it, on a real plan against real corpora: Debian's
//! PostgreSQL and SQLite manuals (apt-get install postgresql-doc-15 sqlite3-doc, as .ci/run
//! does). The plan makes three wrong assumptions the manuals contradict (PostgreSQL's default
//! connection limit, SQLite's default attached-database limit, SQLite's JSON functions needing
//! a compile-time option) and one right one; every quote in the report must be found verbatim
//! in the manual file it cites, and every plan quote at its line of the plan.
//!
//! With `--web` and no corpus, the same manual is served over loopback by the fault-injection
//! web server of tests/web.rs behind a SearXNG-compatible endpoint: the report cites the pages'
//! URLs, and without `--allow-private` no page is fetched.

#[path = "support/scripted_model.rs"]
mod scripted_model;
#[path = "support/webserver.rs"]
mod webserver;

use research::index::Store;
use research::ingest::{self, format_for_path};
use research::quote::quote_matches;
use serde_json::Value;
use std::fs;
use std::path::{Path, PathBuf};
use std::process::{Command, Output};
use std::time::{Duration, Instant};

const PG: &str = "/usr/share/doc/postgresql-doc-15/html";
const SQLITE: &str = "/usr/share/doc/sqlite3";

const PLAN: &str = "# Metrics ingest service: design

The ingest service stores metrics for many tenants.

## Storage

- PostgreSQL accepts 1,000 concurrent connections out of the box, so every ingest worker keeps
  its own connection.
- The PostgreSQL server listens on TCP port 5432 by default.
- One SQLite connection can attach 50 databases by default, so each tenant's file is attached
  to the reporting connection.
- SQLite's JSON functions need the `-DSQLITE_ENABLE_JSON1` compile-time option, so we ship our
  own SQLite build.

## Open questions

- Do we need a connection pooler?

```sh
psql -c 'SHOW max_connections'
```
";

fn manuals() -> (PathBuf, PathBuf) {
    for (p, pkg) in [(PG, "postgresql-doc-15"), (SQLITE, "sqlite3-doc")] {
        assert!(
            Path::new(p).is_dir(),
            "{p} is missing: install it with `apt-get install {pkg}` (.ci/run does)"
        );
    }
    (PathBuf::from(PG), PathBuf::from(SQLITE))
}

fn research(cwd: &Path, args: &[&str]) -> Output {
    Command::new(env!("CARGO_BIN_EXE_research"))
        .args(args)
        .current_dir(cwd)
        .env_remove("RESEARCH_INDEX")
        .output()
        .expect("the research binary runs")
}

fn describe(out: &Output) -> String {
    format!(
        "status {:?}\n--- stdout ---\n{}\n--- stderr ---\n{}",
        out.status,
        String::from_utf8_lossy(&out.stdout),
        String::from_utf8_lossy(&out.stderr)
    )
}

/// One line `research: error: ...` on stderr, a non-zero exit that is not a panic.
fn one_line_error(out: &Output) -> String {
    let stderr = String::from_utf8_lossy(&out.stderr).into_owned();
    assert!(!out.status.success(), "{}", describe(out));
    assert!(
        matches!(out.status.code(), Some(c) if c != 101),
        "{}",
        describe(out)
    );
    let lines: Vec<&str> = stderr.lines().filter(|l| !l.trim().is_empty()).collect();
    assert_eq!(lines.len(), 1, "{}", describe(out));
    lines[0]
        .strip_prefix("research: error: ")
        .unwrap_or_else(|| panic!("{}", describe(out)))
        .to_string()
}

/// The report path printed on stdout (its only line).
fn report_path(out: &Output, cwd: &Path) -> PathBuf {
    assert!(out.status.success(), "{}", describe(out));
    let stdout = String::from_utf8_lossy(&out.stdout);
    let lines: Vec<&str> = stdout.lines().collect();
    assert_eq!(lines.len(), 1, "{}", describe(out));
    let p = cwd.join(lines[0]);
    assert!(p.is_file(), "{}", describe(out));
    p
}

/// Every quote the audit shows (evidence of votes, risks), re-read from the manual file.
fn assert_quotes_verbatim(audit: &Value) -> usize {
    let mut n = 0;
    for angle in audit["angles"].as_array().unwrap() {
        let mut cites: Vec<&Value> = angle["risks"]
            .as_array()
            .unwrap()
            .iter()
            .map(|r| &r["citation"])
            .collect();
        for c in angle["checks"].as_array().unwrap() {
            for v in c["reviewed"]["votes"].as_array().unwrap() {
                if !v["evidence"].is_null() {
                    cites.push(&v["evidence"]);
                }
            }
        }
        for c in cites {
            let doc_id = c["doc_id"].as_str().unwrap();
            let path = Path::new(doc_id);
            let doc = ingest::document_from_bytes(
                doc_id,
                doc_id,
                "",
                format_for_path(path).unwrap(),
                &fs::read(path).unwrap(),
                None,
            )
            .unwrap();
            assert_eq!(doc.hash, c["doc_hash"].as_str().unwrap(), "{doc_id}");
            let (s, e) = (
                c["start"].as_u64().unwrap() as usize,
                c["end"].as_u64().unwrap() as usize,
            );
            assert_eq!(doc.text.get(s..e), c["quote"].as_str(), "{doc_id}");
            n += 1;
        }
    }
    n
}

/// (outcome, refuting quotes with their files) of the statement on `line`, across angles.
fn statement(audit: &Value, line: u64) -> (String, Vec<(String, String)>) {
    let item = audit["items"]
        .as_array()
        .unwrap()
        .iter()
        .find(|i| i["line"] == line)
        .unwrap_or_else(|| panic!("no statement on line {line}: {:#}", audit["items"]));
    let id = item["id"].as_str().unwrap();
    let mut outcomes = Vec::new();
    let mut against = Vec::new();
    for angle in audit["angles"].as_array().unwrap() {
        for c in angle["checks"].as_array().unwrap() {
            if c["item"] != id {
                continue;
            }
            outcomes.push(c["outcome"].as_str().unwrap().to_string());
            for v in c["reviewed"]["votes"].as_array().unwrap() {
                if v["stance"] == "refute" && !v["evidence"].is_null() {
                    against.push((
                        v["evidence"]["quote"].as_str().unwrap().to_string(),
                        v["evidence"]["location"].as_str().unwrap().to_string(),
                    ));
                }
            }
        }
    }
    let overall = ["contradicted", "disputed", "confirmed"]
        .iter()
        .find(|o| outcomes.iter().any(|x| x == *o))
        .map(|o| o.to_string())
        .unwrap_or_else(|| "unverifiable".into());
    (overall, against)
}

#[test]
fn wrong_assumptions_of_a_plan_are_contradicted_with_the_manuals_quotes() {
    let (pg, sqlite) = manuals();
    let tmp = tempfile::tempdir().unwrap();
    let cwd = tmp.path();
    fs::write(cwd.join("design.md"), PLAN).unwrap();
    let args = [
        "check-plan",
        "design.md",
        "--corpus",
        pg.to_str().unwrap(),
        "--corpus",
        sqlite.to_str().unwrap(),
        "--index",
        "index",
        "--out",
        "reports",
        "--angles",
        "correctness,performance,security",
    ];
    let started = Instant::now();
    let out = research(cwd, &args);
    let md_path = report_path(&out, cwd);
    assert!(
        started.elapsed().as_secs() < 300,
        "took {:?}",
        started.elapsed()
    );
    let name = md_path.file_name().unwrap().to_string_lossy().into_owned();
    assert!(
        name.starts_with("check-design-") && name.ends_with(".md"),
        "{name}"
    );
    let audit: Value =
        serde_json::from_str(&fs::read_to_string(md_path.with_extension("json")).unwrap()).unwrap();
    assert!(md_path.with_extension("html").is_file());

    // The plan quotes: verbatim at their span and on their line.
    for it in audit["items"].as_array().unwrap() {
        let (s, e) = (
            it["start"].as_u64().unwrap() as usize,
            it["end"].as_u64().unwrap() as usize,
        );
        assert_eq!(PLAN.get(s..e), it["quote"].as_str(), "{it}");
        let line = PLAN
            .lines()
            .nth(it["line"].as_u64().unwrap() as usize - 1)
            .unwrap();
        let first = it["quote"].as_str().unwrap().lines().next().unwrap();
        assert!(line.contains(first), "{it}");
    }
    let texts: Vec<&str> = audit["items"]
        .as_array()
        .unwrap()
        .iter()
        .map(|i| i["text"].as_str().unwrap())
        .collect();
    assert!(
        !texts
            .iter()
            .any(|t| t.contains("pooler") || t.contains("SHOW")),
        "questions and code are not statements: {texts:?}"
    );

    // Each wrong assumption: contradicted, with the manual's sentence from the right page.
    for (line, quote, page) in [
        (
            7,
            "The default is typically 100 connections",
            "runtime-config-connection.html",
        ),
        (10, "is set to 10 by default", "limits.html"),
        (12, "built into SQLite by default", "json1.html"),
    ] {
        let (outcome, against) = statement(&audit, line);
        assert_eq!(outcome, "contradicted", "line {line}: {against:?}");
        assert!(
            against
                .iter()
                .any(|(q, loc)| q.contains(quote) && loc.ends_with(page)),
            "line {line}: no contradicting quote with {quote:?} from {page}: {against:?}"
        );
    }
    // The right one is confirmed, by the manual's sentence.
    let (outcome, against) = statement(&audit, 9);
    assert_eq!(outcome, "confirmed", "{against:?}");

    let md = fs::read_to_string(&md_path).unwrap();
    for needle in [
        "**Line 7:** “PostgreSQL accepts 1,000 concurrent connections out of the box” — contradicted",
        "“The default is typically 100 connections",
        "## Sources",
    ] {
        assert!(md.contains(needle), "{needle:?} missing from\n{md}");
    }
    // Contradicted first, then disputed, unverifiable, confirmed, then the risks.
    let order: Vec<usize> = [
        "## Contradicted",
        "## Disputed",
        "## Unverifiable",
        "## Confirmed",
        "## Open risks",
        "## Sources",
    ]
    .iter()
    .map(|h| {
        md.find(h)
            .unwrap_or_else(|| panic!("{h} missing from\n{md}"))
    })
    .collect();
    assert!(order.windows(2).all(|w| w[0] < w[1]), "{order:?}");
    // Each statement once, under the section of its outcome across angles (a disputed one never
    // under Contradicted); the angles named only where they disagree.
    let sections = ["contradicted", "disputed", "unverifiable", "confirmed"];
    for it in audit["items"].as_array().unwrap() {
        let line = it["line"].as_u64().unwrap();
        let quote = format!("Line {line}:");
        let findings = &md[order[0]..order[4]];
        assert_eq!(findings.matches(&quote).count(), 1, "{quote}: {md}");
        let (outcome, _) = statement(&audit, line);
        let at = order[0] + findings.find(&quote).unwrap();
        let k = sections.iter().position(|s| *s == outcome).unwrap();
        assert!(
            order[k] < at && at < order[k + 1],
            "{quote} not under {outcome}: {md}"
        );
        let entry = md[at..].lines().next().unwrap();
        let outcomes: Vec<String> = audit["angles"]
            .as_array()
            .unwrap()
            .iter()
            .flat_map(|a| a["checks"].as_array().unwrap().iter())
            .filter(|c| c["item"] == it["id"])
            .map(|c| c["outcome"].as_str().unwrap().to_string())
            .collect();
        let agree = outcomes.iter().all(|o| *o == outcomes[0]);
        assert_eq!(entry.contains("By angle:"), !agree, "{entry}");
    }
    // The plan says nothing of passwords: no risk the security angle raises is about them.
    for angle in audit["angles"].as_array().unwrap() {
        for r in angle["risks"].as_array().unwrap() {
            let quote = r["citation"]["quote"].as_str().unwrap().to_lowercase();
            assert!(!quote.contains("password"), "{quote}");
        }
    }
    assert!(assert_quotes_verbatim(&audit) >= 10);

    // Again: a second report beside the first, which is left as it was.
    let first = fs::read(&md_path).unwrap();
    let again = research(cwd, &args);
    let second = report_path(&again, cwd);
    assert_ne!(second, md_path);
    assert_eq!(fs::read(&md_path).unwrap(), first);
}

#[test]
fn a_user_angle_file_adds_an_angle() {
    let (pg, _) = manuals();
    let tmp = tempfile::tempdir().unwrap();
    let cwd = tmp.path();
    fs::write(
        cwd.join("plan.md"),
        "# Plan\n\n- The PostgreSQL server listens on TCP port 5432 by default.\n",
    )
    .unwrap();
    fs::create_dir(cwd.join("angles")).unwrap();
    fs::write(
        cwd.join("angles/network.md"),
        "+++\ntitle = \"Networking\"\nkeywords = [\"port\", \"listen\", \"socket\"]\nchecks = [\"server listens on TCP port address\"]\n+++\nReview the plan's network assumptions.\n",
    )
    .unwrap();
    let out = research(
        cwd,
        &[
            "check-plan",
            "plan.md",
            "--corpus",
            pg.to_str().unwrap(),
            "--angles-dir",
            "angles",
            "--angles",
            "network",
            "--index",
            "index",
            "--out",
            "reports",
        ],
    );
    let md = fs::read_to_string(report_path(&out, cwd)).unwrap();
    assert!(md.contains("- Angle network: `angles/network.md`"), "{md}");
    assert!(!md.contains("- Angle security:"), "{md}");
    assert!(
        md.contains(
            "| 3 | The PostgreSQL server listens on TCP port 5432 by default. | confirmed |"
        ),
        "{md}"
    );
}

#[test]
fn a_killed_check_resumes_at_the_angle_it_was_on() {
    use std::os::unix::process::ExitStatusExt;
    let (_, sqlite) = manuals();
    let tmp = tempfile::tempdir().unwrap();
    let cwd = tmp.path();
    fs::write(cwd.join("plan.md"), PLAN).unwrap();
    let args = |index: &str, out: &str| -> Vec<String> {
        [
            "check-plan",
            "plan.md",
            "--corpus",
            sqlite.to_str().unwrap(),
            "--angles",
            "correctness,performance,operability",
            "--index",
            index,
            "--out",
            out,
        ]
        .map(String::from)
        .to_vec()
    };
    let run = |args: Vec<String>, kill: Option<&str>| -> Output {
        let mut c = Command::new(env!("CARGO_BIN_EXE_research"));
        c.args(args).current_dir(cwd).env_remove("RESEARCH_INDEX");
        if let Some(k) = kill {
            c.env("RESEARCH_TEST_KILL_AFTER_EVENTS", k);
        }
        c.output().unwrap()
    };
    let reference = run(args("index", "ref"), None);
    let reference_md = fs::read_to_string(report_path(&reference, cwd)).unwrap();
    // Killed once two of the three angles are journaled.
    let killed = run(args("index", "out"), Some("angle/:2"));
    assert_eq!(killed.status.signal(), Some(9), "{}", describe(&killed));
    assert!(!cwd.join("out").exists(), "no report from the killed check");
    let runs = research(cwd, &["runs", "--index", "index"]);
    let runs = String::from_utf8_lossy(&runs.stdout).into_owned();
    let line = runs.lines().nth(1).unwrap();
    assert!(
        line.contains(" check-plan ") && line.contains(" running "),
        "{runs}"
    );
    let id = line.split_whitespace().next().unwrap();
    let show = research(cwd, &["runs", "show", id, "--index", "index"]);
    let show = String::from_utf8_lossy(&show.stdout).into_owned();
    assert_eq!(show.matches("angle/").count(), 2, "{show}");
    // Resumed from another folder: the journal kept the plan, corpus and output as absolute
    // paths.
    let elsewhere = tempfile::tempdir().unwrap();
    let index = cwd.join("index");
    let resumed = research(
        elsewhere.path(),
        &["resume", id, "--index", index.to_str().unwrap()],
    );
    let resumed_md = fs::read_to_string(report_path(&resumed, cwd)).unwrap();
    assert!(
        cwd.join("out").is_dir() && fs::read_dir(elsewhere.path()).unwrap().next().is_none(),
        "the report went where the check was started"
    );
    // The same report, but for when it was made (and the plan's path, now absolute).
    let timeless = |md: &str| -> String {
        md.lines()
            .filter(|l| !l.contains(" UTC") && !l.contains(" ms") && !l.starts_with("**Plan:**"))
            .collect::<Vec<_>>()
            .join("\n")
    };
    assert_eq!(timeless(&resumed_md), timeless(&reference_md));
    let show = research(cwd, &["runs", "show", id, "--index", "index"]);
    let show = String::from_utf8_lossy(&show.stdout).into_owned();
    assert_eq!(
        show.matches("angle/").count(),
        3,
        "each angle checked once: {show}"
    );
    assert!(show.contains("status:    done"), "{show}");
}

#[test]
fn bad_input_is_one_clear_line() {
    let (pg, _) = manuals();
    let tmp = tempfile::tempdir().unwrap();
    let cwd = tmp.path();
    fs::write(
        cwd.join("empty.md"),
        "# Only a title\n\n```\ncode that is long enough\n```\n",
    )
    .unwrap();
    fs::write(
        cwd.join("plan.md"),
        "The server listens on port 5432 by default.\n",
    )
    .unwrap();
    fs::create_dir(cwd.join("bad-angles")).unwrap();
    fs::write(cwd.join("bad-angles/broken.md"), "no front matter here\n").unwrap();
    // 20 KB of noise: not a plan, and not to be "checked" as 40 garbled statements.
    let mut x: u32 = 2463534242;
    let noise: Vec<u8> = (0..20_000)
        .map(|_| {
            x ^= x << 13;
            x ^= x >> 17;
            x ^= x << 5;
            (x >> 24) as u8
        })
        .collect();
    fs::write(cwd.join("noise.md"), noise).unwrap();
    let pg = pg.to_str().unwrap();
    let cases: &[(&[&str], &str)] = &[
        (&["check-plan", "missing.md", "--corpus", pg], "missing.md"),
        (
            &["check-plan", "empty.md", "--corpus", pg],
            "nothing to check",
        ),
        (&["check-plan", "plan.md"], "--corpus"),
        (
            &["check-plan", "noise.md", "--corpus", pg],
            "noise.md is not a text file",
        ),
        (
            &[
                "check-plan",
                "plan.md",
                "--corpus",
                pg,
                "--angles",
                "astrology",
            ],
            "unknown angle",
        ),
        (
            &[
                "check-plan",
                "plan.md",
                "--corpus",
                pg,
                "--angles-dir",
                "bad-angles",
            ],
            "broken.md",
        ),
        (
            &[
                "check-plan",
                "plan.md",
                "--corpus",
                pg,
                "--angles-dir",
                "nowhere",
            ],
            "nowhere",
        ),
        (
            &["check-plan", "plan.md", "--corpus", "no-such-corpus"],
            "no-such-corpus",
        ),
    ];
    for (args, needle) in cases {
        let mut all: Vec<&str> = args.to_vec();
        all.extend(["--index", "index", "--out", "reports"]);
        let out = research(cwd, &all);
        let msg = one_line_error(&out);
        assert!(msg.contains(needle), "{args:?}: {msg}");
    }
    assert!(!cwd.join("reports").exists(), "no report for bad input");
}

#[test]
fn a_model_backed_panel_is_given_each_angle_s_prompt() {
    let (pg, _) = manuals();
    let server = scripted_model::serve(scripted_model::Mode::Good);
    let tmp = tempfile::tempdir().unwrap();
    let cwd = tmp.path();
    fs::write(
        cwd.join("plan.md"),
        "# Plan\n\n- The PostgreSQL server listens on TCP port 5432 by default.\n",
    )
    .unwrap();
    fs::create_dir(cwd.join("angles")).unwrap();
    fs::write(
        cwd.join("angles/network.md"),
        "+++\ntitle = \"Networking\"\nkeywords = [\"port\", \"listen\"]\nchecks = [\"server listens on TCP port\"]\n+++\nLook for firewall and port exposure assumptions.\n",
    )
    .unwrap();
    fs::write(
        cwd.join("research.toml"),
        format!(
            "[providers.default]\nkind = \"openai\"\nbase_url = \"{}\"\n",
            server.url
        ),
    )
    .unwrap();
    let out = research(
        cwd,
        &[
            "check-plan",
            "plan.md",
            "--corpus",
            pg.to_str().unwrap(),
            "--angles-dir",
            "angles",
            "--angles",
            "network",
            "--engine",
            "llm",
            "--model",
            "scripted",
            "--config",
            "research.toml",
            "--index",
            "index",
            "--out",
            "reports",
        ],
    );
    let md = fs::read_to_string(report_path(&out, cwd)).unwrap();
    assert!(md.contains("- Angle network: `angles/network.md`"), "{md}");
    let prompts = server.script.prompts.lock().unwrap();
    let reviewer_prompts: Vec<&String> = prompts.iter().filter(|p| p.contains("Claims:")).collect();
    assert!(
        !reviewer_prompts.is_empty(),
        "no reviewer call reached the model"
    );
    for p in reviewer_prompts {
        assert!(
            p.contains("Look for firewall and port exposure assumptions."),
            "{p}"
        );
    }
}

const WEB_PLAN: &str = "# Connection handling

- PostgreSQL accepts 1,000 concurrent connections out of the box, so every ingest worker keeps
  its own connection.
- The PostgreSQL server listens on TCP port 5432 by default.
- A standby server answers read-only queries while it replays WAL.
";

/// The manual pages the search endpoint returns for every query: enough of the manual for the
/// offline engine's term weights to be those of a real corpus (with three pages the connection
/// limit's sentence is not found), plus a missing page and a robots.txt-disallowed one.
const WEB_RESULTS: &[&str] = &[
    "/manual/runtime-config-connection.html",
    "/manual/runtime-config-resource.html",
    "/manual/runtime-config-wal.html",
    "/manual/runtime-config-logging.html",
    "/manual/app-postgres.html",
    "/manual/libpq-connect.html",
    "/pages/warm-standby.html",
    "/pages/runtime-config-replication.html",
    "/pages/logical-replication.html",
    "/pages/wal-configuration.html",
    "/pages/protocol-replication.html",
    "/manual/no-such-page.html",
    "/private/secret.html",
];

/// Pages of [`WEB_RESULTS`] the server answers with a manual page.
fn served_pages() -> Vec<&'static str> {
    WEB_RESULTS
        .iter()
        .copied()
        .filter(|p| {
            (p.starts_with("/manual/") || p.starts_with("/pages/")) && !p.contains("no-such")
        })
        .collect()
}

/// `research` in `cwd`, off the runtime's threads (the web server runs on them), with an empty
/// config folder so no user research.toml (its [web] table: allow_private...) applies.
async fn research_web(cwd: &Path, args: Vec<String>) -> Output {
    let cwd = cwd.to_path_buf();
    tokio::task::spawn_blocking(move || {
        let config = cwd.join("config");
        fs::create_dir_all(&config).unwrap();
        Command::new(env!("CARGO_BIN_EXE_research"))
            .args(&args)
            .current_dir(&cwd)
            .env_remove("RESEARCH_INDEX")
            .env("XDG_CONFIG_HOME", &config)
            .output()
            .expect("the research binary runs")
    })
    .await
    .unwrap()
}

/// Every citation the audit shows (evidence of votes, risks).
fn all_citations(audit: &Value) -> Vec<&Value> {
    let mut cites = Vec::new();
    for angle in audit["angles"].as_array().unwrap() {
        for r in angle["risks"].as_array().unwrap() {
            cites.push(&r["citation"]);
        }
        for c in angle["checks"].as_array().unwrap() {
            for v in c["reviewed"]["votes"].as_array().unwrap() {
                if !v["evidence"].is_null() {
                    cites.push(&v["evidence"]);
                }
            }
        }
    }
    cites
}

/// The queries the search endpoint received, decoded.
fn search_queries(st: &webserver::State) -> Vec<String> {
    st.requests
        .lock()
        .unwrap()
        .iter()
        .filter(|r| r.path.starts_with("/search?"))
        .map(|r| {
            url::Url::parse(&format!("http://h{}", r.path))
                .unwrap()
                .query_pairs()
                .find(|(k, _)| k == "q")
                .map(|(_, v)| v.into_owned())
                .unwrap_or_default()
        })
        .collect()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_plan_is_checked_against_web_pages_over_loopback_only_with_allow_private() {
    assert!(
        Path::new(webserver::MANUAL).is_dir(),
        "the server serves Debian's PostgreSQL manual: apt-get install postgresql-doc-15"
    );
    let server = webserver::start().await;
    *server.state.results.lock().unwrap() = WEB_RESULTS.iter().map(|p| p.to_string()).collect();
    let tmp = tempfile::tempdir().unwrap();
    let cwd = tmp.path();
    fs::write(cwd.join("plan.md"), WEB_PLAN).unwrap();
    let args = |index: &str, allow_private: bool| -> Vec<String> {
        let mut a: Vec<String> = [
            "check-plan",
            "plan.md",
            "--web",
            "--search",
            &format!("searxng={}", server.base()),
            "--index",
            index,
            "--out",
            "reports",
            "--host-delay",
            "20",
            "--fetch-timeout",
            "10",
        ]
        .iter()
        .map(|s| s.to_string())
        .collect();
        if allow_private {
            a.push("--allow-private".into());
        }
        a
    };
    let st = &server.state;

    // --allow-private: the pages are fetched, indexed and cited.
    let started = Instant::now();
    let out = research_web(cwd, args("index", true)).await;
    assert!(
        !String::from_utf8_lossy(&out.stderr).contains("panicked"),
        "{}",
        describe(&out)
    );
    let md_path = report_path(&out, cwd);
    assert!(
        started.elapsed() < Duration::from_secs(120),
        "took {:?}",
        started.elapsed()
    );
    assert!(md_path.with_extension("html").is_file());
    let audit: Value =
        serde_json::from_str(&fs::read_to_string(md_path.with_extension("json")).unwrap()).unwrap();
    let md = fs::read_to_string(&md_path).unwrap();
    webserver::settled(st).await;

    // Each statement was searched for, and each page fetched once although every search
    // returned it; the disallowed page never.
    let statements: Vec<&str> = audit["items"]
        .as_array()
        .unwrap()
        .iter()
        .map(|i| i["text"].as_str().unwrap())
        .collect();
    assert_eq!(statements.len(), 3, "{statements:?}");
    let queries = search_queries(st);
    for s in &statements {
        assert!(
            queries.iter().any(|q| q == s),
            "{s:?} not searched: {queries:?}"
        );
    }
    for page in served_pages() {
        assert_eq!(
            st.count(|r| r.path == page && r.status == 200),
            1,
            "{page}: {:#?}",
            st.requests.lock().unwrap()
        );
    }
    assert_eq!(st.count(|r| r.path == "/manual/no-such-page.html"), 1);
    assert_eq!(st.count(|r| r.path == "/robots.txt"), 1);
    assert_eq!(st.count(|r| r.path.starts_with("/private/")), 0);
    assert!(
        audit["stats"]["documents"].as_u64().unwrap() >= served_pages().len() as u64,
        "{}",
        audit["stats"]
    );

    // Every quote is from a page the server served: verbatim at its span of the text extracted
    // from the bytes served (the manual file) and of the stored text. No other source exists.
    let store = Store::open(&cwd.join("index")).unwrap();
    let cites = all_citations(&audit);
    assert!(cites.len() >= 5, "{md}");
    for c in &cites {
        let location = c["location"].as_str().unwrap();
        let path = location
            .strip_prefix(&server.base())
            .unwrap_or_else(|| panic!("cites {location}, not the loopback server"));
        assert!(served_pages().contains(&path), "{location}");
        assert!(c["fetched"].is_string(), "{c:#}");
        let name = path.rsplit('/').next().unwrap();
        let served = fs::read(Path::new(webserver::MANUAL).join(name)).unwrap();
        let doc = ingest::document_from_bytes(
            c["doc_id"].as_str().unwrap(),
            location,
            "web",
            format_for_path(Path::new(name)).unwrap(),
            &served,
            Some("text/html; charset=UTF-8"),
        )
        .unwrap();
        assert_eq!(doc.hash, c["doc_hash"].as_str().unwrap(), "{location}");
        let (s, e) = (
            c["start"].as_u64().unwrap() as usize,
            c["end"].as_u64().unwrap() as usize,
        );
        assert_eq!(doc.text.get(s..e), c["quote"].as_str(), "{location}");
        let citation: research::artifact::Citation = serde_json::from_value((*c).clone()).unwrap();
        let stored = store
            .document(&citation.doc_id)
            .unwrap()
            .expect("cited page stored");
        assert!(quote_matches(&stored, &citation), "{citation:#?}");
    }

    // The wrong assumption is contradicted and the right one confirmed, by the manual's
    // sentences from the page that states them.
    let connection_page = server.url("/manual/runtime-config-connection.html");
    let (outcome, against) = statement(&audit, 3);
    assert_eq!(outcome, "contradicted", "{against:?}\n{md}");
    assert!(
        against.iter().any(|(q, loc)| {
            q.contains("The default is typically 100 connections") && *loc == connection_page
        }),
        "{against:?}"
    );
    let (outcome, _) = statement(&audit, 5);
    assert_eq!(outcome, "confirmed", "{md}");
    let support: Vec<&Value> = audit["angles"][0]["checks"]
        .as_array()
        .unwrap()
        .iter()
        .find(|c| c["item"] == audit["items"][1]["id"])
        .unwrap()["reviewed"]["votes"]
        .as_array()
        .unwrap()
        .iter()
        .filter(|v| v["stance"] == "support")
        .map(|v| &v["evidence"])
        .collect();
    assert!(
        support
            .iter()
            .any(|e| e["location"] == connection_page.as_str()
                && e["quote"].as_str().unwrap().contains("5432 by default")),
        "{support:#?}"
    );
    for needle in [
        "**Line 3:** “PostgreSQL accepts 1,000 concurrent connections out of the box” — contradicted",
        "“The default is typically 100 connections",
        &format!("`{connection_page}` · fetched "),
        &format!("- `{}`: http-error: ", server.url("/manual/no-such-page.html")),
        &format!("- `{}`: robots-disallowed: ", server.url("/private/secret.html")),
    ] {
        assert!(md.contains(needle), "{needle:?} missing from\n{md}");
    }

    // Without --allow-private (a fresh index): the search endpoint, the user's own setting, is
    // asked, but no page of the loopback host is requested, robots.txt included. The report
    // says why each result went unused, cites nothing and confirms nothing.
    st.reset();
    let out = research_web(cwd, args("index-strict", false)).await;
    let strict_path = report_path(&out, cwd);
    assert_ne!(strict_path, md_path);
    webserver::settled(st).await;
    assert_eq!(search_queries(st).len(), statements.len());
    assert_eq!(
        st.count(|r| !r.path.starts_with("/search?")),
        0,
        "fetched without --allow-private: {:#?}",
        st.requests.lock().unwrap()
    );
    let strict: Value =
        serde_json::from_str(&fs::read_to_string(strict_path.with_extension("json")).unwrap())
            .unwrap();
    let strict_md = fs::read_to_string(&strict_path).unwrap();
    assert!(all_citations(&strict).is_empty(), "{strict_md}");
    for line in [3, 5, 6] {
        assert_eq!(statement(&strict, line).0, "unverifiable", "{strict_md}");
    }
    assert_eq!(strict["stats"]["documents"], 0, "{}", strict["stats"]);
    for page in served_pages() {
        let entry = format!(
            "- `{}`: private-address: refused by the SSRF guard: 127.0.0.1 is a loopback address",
            server.url(page)
        );
        assert!(
            strict_md.contains(&entry),
            "{entry:?} missing from\n{strict_md}"
        );
    }
}

#[test]
fn a_statement_true_only_before_a_version_change_is_contradicted_by_the_dated_change() {
    let (_, sqlite) = manuals();
    let python = Path::new("/usr/share/doc/python3.11/html/library");
    assert!(
        python.is_dir(),
        "{} is missing: apt-get install python3.11-doc (.ci/run does)",
        python.display()
    );
    let tmp = tempfile::tempdir().unwrap();
    let cwd = tmp.path();
    fs::write(
        cwd.join("plan.md"),
        "# Snapshots\n\n- New SQLite databases get a page size of 1024 bytes by default.\n\
         - Python's pickle module writes protocol 3 by default.\n",
    )
    .unwrap();
    let out = research(
        cwd,
        &[
            "check-plan",
            "plan.md",
            "--corpus",
            sqlite.to_str().unwrap(),
            "--corpus",
            python.to_str().unwrap(),
            "--angles",
            "correctness",
            "--index",
            "index",
            "--out",
            "reports",
        ],
    );
    let md_path = report_path(&out, cwd);
    let audit: Value =
        serde_json::from_str(&fs::read_to_string(md_path.with_extension("json")).unwrap()).unwrap();
    let md = fs::read_to_string(&md_path).unwrap();
    // Each is contradicted (the manuals' sentences of the old value do not support it), and the
    // quote shown says since when the value changed.
    for (line, since, value) in [(3, "3.12.0", "4096"), (4, "Changed in version 3.8", "4")] {
        let (outcome, against) = statement(&audit, line);
        assert_eq!(outcome, "contradicted", "line {line}: {against:?}\n{md}");
        let entry = &md[md.find(&format!("**Line {line}:**")).unwrap()..];
        let shown = entry.lines().nth(1).unwrap();
        assert!(
            shown.contains("**Against**") && shown.contains(since) && shown.contains(value),
            "line {line}: {shown}\n{md}"
        );
    }
    assert!(assert_quotes_verbatim(&audit) >= 2);
}
