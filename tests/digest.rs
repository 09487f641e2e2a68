//! `research digest` as cron runs it, against feeds served on loopback
//! (tests/support/feedserver.rs): Atom, RSS 2.0, RSS 1.0, an arXiv-shaped API answer and broken
//! feeds; the articles and PDFs they link to. Two digests in a row (the second with only new
//! items, and what changed), a digest killed midway and resumed, the lock, exit codes and the
//! log. Every test runs the real binary with its own index, output folder and log.

#[path = "support/feedserver.rs"]
mod feedserver;
#[path = "support/scripted_model.rs"]
mod scripted_model;

use feedserver::{article, arxiv, atom, rss1, rss2, FeedServer};
use research::index::Store;
use research::quote::QuoteChecker;
use serde_json::Value;
use std::fs;
use std::path::{Path, PathBuf};
use std::process::{Command, Output, Stdio};
use std::time::{Duration, Instant};

/// `research digest` in `cwd` with `args`, and defaults for the flags `args` does not give.
fn command(cwd: &Path, args: &[&str]) -> Command {
    let mut c = Command::new(env!("CARGO_BIN_EXE_research"));
    c.arg("digest").args(args);
    for (flag, value) in [
        ("--feeds", "feeds.toml"),
        ("--index", "index"),
        ("--out", "reports"),
        ("--log", "digest.log"),
        ("--host-delay", "0"),
        ("--fetch-timeout", "10"),
    ] {
        if !args.contains(&flag) {
            c.args([flag, value]);
        }
    }
    c.arg("--allow-private")
        .current_dir(cwd)
        .env_remove("RESEARCH_INDEX");
    c
}

/// `research runs` over the test's index.
fn runs(cwd: &Path) -> String {
    let out = Command::new(env!("CARGO_BIN_EXE_research"))
        .args(["runs", "--index", "index"])
        .current_dir(cwd)
        .output()
        .unwrap();
    String::from_utf8_lossy(&out.stdout).into_owned()
}

/// Run a digest to the end (in a blocking thread: the feed server lives on this runtime).
async fn digest(cwd: &Path, args: &[&str]) -> Output {
    let mut c = command(cwd, args);
    tokio::task::spawn_blocking(move || c.output().expect("the research binary runs"))
        .await
        .unwrap()
}

fn describe(out: &Output) -> String {
    format!(
        "status {:?}\n--- stdout ---\n{}\n--- stderr ---\n{}",
        out.status,
        String::from_utf8_lossy(&out.stdout),
        String::from_utf8_lossy(&out.stderr)
    )
}

/// The digest written: its path (stdout's only line), Markdown and audit.
fn written(out: &Output, cwd: &Path) -> (PathBuf, String, Value) {
    assert!(out.status.success(), "{}", describe(out));
    assert!(
        !String::from_utf8_lossy(&out.stderr).contains("panicked"),
        "{}",
        describe(out)
    );
    let stdout = String::from_utf8_lossy(&out.stdout).into_owned();
    let lines: Vec<&str> = stdout.lines().collect();
    assert_eq!(
        lines.len(),
        1,
        "stdout carries only the path: {}",
        describe(out)
    );
    let path = cwd.join(lines[0]);
    let md = fs::read_to_string(&path).unwrap();
    let audit: Value =
        serde_json::from_str(&fs::read_to_string(path.with_extension("json")).unwrap()).unwrap();
    assert!(path.with_extension("html").is_file());
    (path, md, audit)
}

/// One `research: error:` line on stderr; the exit code.
fn one_line_error(out: &Output) -> (i32, String) {
    let stderr = String::from_utf8_lossy(&out.stderr).into_owned();
    let lines: Vec<&str> = stderr.lines().filter(|l| !l.trim().is_empty()).collect();
    assert_eq!(lines.len(), 1, "{}", describe(out));
    let msg = lines[0]
        .strip_prefix("research: error: ")
        .unwrap_or_else(|| panic!("{}", describe(out)))
        .to_string();
    (out.status.code().expect("an exit code, not a signal"), msg)
}

fn item_titles(audit: &Value) -> Vec<String> {
    audit["items"]
        .as_array()
        .unwrap()
        .iter()
        .map(|i| i["record"]["item"]["title"].as_str().unwrap().to_string())
        .collect()
}

/// Every claim citation and vote evidence of the audit is found at its span in the stored text.
fn assert_quotes_check(cwd: &Path, audit: &Value) -> usize {
    let store = Store::open(&cwd.join("index")).unwrap();
    let mut checker = QuoteChecker::new(&store);
    let mut n = 0;
    for item in audit["items"].as_array().unwrap() {
        for r in item["reviewed"].as_array().unwrap() {
            let mut cites: Vec<Value> = r["claim"]["citations"].as_array().unwrap().clone();
            for v in r["votes"].as_array().unwrap() {
                if !v["evidence"].is_null() {
                    cites.push(v["evidence"].clone());
                }
            }
            for c in cites {
                let c: research::artifact::Citation = serde_json::from_value(c).unwrap();
                assert!(checker.check(&c).unwrap(), "quote fails: {c:?}");
                n += 1;
            }
        }
    }
    n
}

const AURORA_40: &str =
    "The Aurora index answers range queries in 40 milliseconds on the standard benchmark.";
const AURORA_90: &str = "On the corrected standard benchmark the Aurora index answers range queries in 90 milliseconds.";

/// Feeds of the first day: four formats, one item in two feeds, a broken feed, a missing one.
fn day_one(s: &FeedServer) {
    let st = &s.state;
    st.set(
        "/atom.xml",
        "application/atom+xml",
        atom(&[
            (
                "urn:aurora",
                "Aurora index benchmark",
                &s.url("/articles/aurora.html"),
                AURORA_40,
                "2026-11-19T10:00:00Z",
            ),
            (
                "urn:wal",
                "Write-ahead logging explained",
                &s.url("/articles/wal.html"),
                "Write-ahead logging records every change in a log before the data pages are written.",
                "2026-11-18T10:00:00Z",
            ),
        ]),
    );
    st.set(
        "/rss2.xml",
        "application/rss+xml",
        rss2(&[
            (
                "Vacuum tuning notes",
                &s.url("/articles/vacuum.html"),
                "Autovacuum workers reclaim dead tuples so that tables do not bloat over time.",
                "Wed, 18 Nov 2026 09:00:00 GMT",
            ),
            // The same item as in the Atom feed: digested once.
            (
                "Write-ahead logging explained",
                &s.url("/articles/wal.html"),
                "Write-ahead logging records every change in a log before the data pages are written.",
                "Wed, 18 Nov 2026 10:00:00 GMT",
            ),
        ]),
    );
    st.set(
        "/rss1.xml",
        "application/rdf+xml",
        rss1(&[(
            "Bloom filters in ranking",
            &s.url("/articles/bloom.html"),
            "Bloom filters let a ranking service skip documents that cannot match the query terms.",
            "2026-11-17T08:00:00Z",
        )]),
    );
    st.set(
        "/api/query",
        "application/atom+xml",
        arxiv(&[(
            "2611.00001",
            1,
            "Learned sparse retrieval at scale",
            "Learned sparse retrieval models expand queries with weighted terms and rank documents with an inverted index.",
            &s.url("/papers/2611.00001v1.pdf"),
        )]),
    );
    st.set(
        "/broken.xml",
        "application/rss+xml",
        "<rss version=\"2.0\"><channel><title>half",
    );
    for (name, title, text) in [
        ("aurora", "Aurora index benchmark", AURORA_40),
        ("wal", "Write-ahead logging explained", "Write-ahead logging records every change in a log before the data pages are written. The log lets the database recover after a crash by replaying the changes."),
        ("vacuum", "Vacuum tuning notes", "Autovacuum workers reclaim dead tuples so that tables do not bloat over time. Each worker processes one table at a time."),
        ("bloom", "Bloom filters in ranking", "Bloom filters let a ranking service skip documents that cannot match the query terms. A false positive only costs one extra document check."),
    ] {
        st.set(
            &format!("/articles/{name}.html"),
            "text/html; charset=utf-8",
            article(title, &[text]),
        );
    }
    st.set(
        "/papers/2611.00001v1.pdf",
        "application/pdf",
        research::ingest::pdf::make_pdf(&[
            vec!["Learned sparse retrieval at scale."],
            vec!["Learned sparse retrieval models expand queries with weighted terms and rank documents with an inverted index."],
        ]),
    );
}

fn feeds_toml(s: &FeedServer) -> String {
    format!(
        r#"[[feed]]
name = "Atom news"
url = "{atom}"
topics = ["databases"]

[[feed]]
name = "RSS two"
url = "{rss2}"
topics = ["databases"]

[[feed]]
name = "RSS one"
url = "{rss1}"

[[feed]]
name = "Papers"
arxiv = "cat:cs.IR AND ti:retrieval"
topics = ["retrieval"]

[[feed]]
name = "Broken"
url = "{broken}"

[[feed]]
name = "Gone"
url = "{gone}"

[topics.databases]
keywords = ["write-ahead logging", "vacuum"]

[topics.retrieval]
title = "Search and retrieval"
keywords = ["ranking", "retrieval"]

[arxiv]
endpoint = "{api}"
"#,
        atom = s.url("/atom.xml"),
        rss2 = s.url("/rss2.xml"),
        rss1 = s.url("/rss1.xml"),
        broken = s.url("/broken.xml"),
        gone = s.url("/gone.xml"),
        api = s.url("/api/query"),
    )
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn two_digests_in_a_row_the_second_with_only_new_items() {
    let server = feedserver::start().await;
    day_one(&server);
    let tmp = tempfile::tempdir().unwrap();
    let cwd = tmp.path();
    fs::write(cwd.join("feeds.toml"), feeds_toml(&server)).unwrap();

    let started = Instant::now();
    let out = digest(cwd, &[]).await;
    let (path1, md, audit) = written(&out, cwd);
    assert!(started.elapsed() < Duration::from_secs(120));
    let name = path1.file_name().unwrap().to_string_lossy().into_owned();
    assert!(
        name.starts_with("digest-") && name.ends_with(".md"),
        "{name}"
    );

    // All four formats, the duplicate once, both broken feeds named, the digest still written.
    let titles = item_titles(&audit);
    for t in [
        "Aurora index benchmark",
        "Write-ahead logging explained",
        "Vacuum tuning notes",
        "Bloom filters in ranking",
        "Learned sparse retrieval at scale",
    ] {
        assert_eq!(
            titles.iter().filter(|x| *x == t).count(),
            1,
            "{t}: {titles:?}"
        );
    }
    let formats: Vec<&str> = audit["feeds"]
        .as_array()
        .unwrap()
        .iter()
        .filter_map(|f| f["format"].as_str())
        .collect();
    for f in ["Atom", "RSS 2.0", "RSS 1.0"] {
        assert!(formats.contains(&f), "{formats:?}");
    }
    let c = &audit["counts"];
    assert_eq!(c["feed_errors"], 2, "{c}");
    assert_eq!(c["new"], 5, "{c}");
    assert_eq!(c["seen"], 6, "{c}");
    assert_eq!(
        c["skipped"]["duplicate: the same item in another feed"], 1,
        "{c}"
    );
    assert!(md.contains("Broken **failed**: not a feed"), "{md}");
    assert!(md.contains("Gone **failed**: http-error"), "{md}");
    let log = fs::read_to_string(cwd.join("digest.log")).unwrap();
    assert!(
        log.contains("feed \"Broken\"") && log.contains("feed \"Gone\""),
        "{log}"
    );
    assert!(log.contains("done:"), "{log}");
    // Grouped by topic: configured topics, keyword matches, and the rest.
    assert!(md.contains("## databases"), "{md}");
    assert!(md.contains("## Search and retrieval"), "{md}");
    let retrieval = &md[md.find("## Search and retrieval").unwrap()..];
    assert!(
        retrieval.contains("Bloom filters in ranking"),
        "keyword topic: {md}"
    );
    // Articles and the PDF were fetched; key claims are cited and voted on.
    assert_eq!(c["articles_fetched"], 5, "{c}");
    assert_eq!(server.state.hits("/papers/2611.00001v1.pdf"), 1);
    assert!(md.contains("This is the first digest."), "{md}");
    assert!(md.contains(AURORA_40), "{md}");
    assert!(assert_quotes_check(cwd, &audit) >= 5);
    let articles_after_one = server.state.hits_under("/articles/");

    // Day two: one new item contradicts a claim of day one; one item is updated.
    let st = &server.state;
    st.set(
        "/atom.xml",
        "application/atom+xml",
        atom(&[
            (
                "urn:aurora-fix",
                "Aurora benchmark corrected",
                &server.url("/articles/aurora-fix.html"),
                AURORA_90,
                "2026-11-21T10:00:00Z",
            ),
            (
                "urn:aurora",
                "Aurora index benchmark",
                &server.url("/articles/aurora.html"),
                AURORA_40,
                "2026-11-19T10:00:00Z",
            ),
            (
                "urn:wal",
                "Write-ahead logging explained",
                &server.url("/articles/wal.html"),
                "Write-ahead logging records every change in a log before the data pages are written. It is also how replicas follow the primary.",
                "2026-11-21T11:00:00Z",
            ),
        ]),
    );
    st.set(
        "/articles/aurora-fix.html",
        "text/html",
        article("Aurora benchmark corrected", &[AURORA_90]),
    );
    let out = digest(cwd, &[]).await;
    let (path2, md2, audit2) = written(&out, cwd);
    assert_ne!(path1, path2, "the first digest is never overwritten");
    let c2 = &audit2["counts"];
    assert_eq!(c2["new"], 1, "{c2}");
    assert_eq!(c2["updated"], 1, "{c2}");
    assert_eq!(c2["skipped"]["already in an earlier digest"], 4, "{c2}");
    let titles2 = item_titles(&audit2);
    assert_eq!(
        titles2,
        vec![
            "Aurora benchmark corrected",
            "Write-ahead logging explained"
        ],
        "only new and updated items"
    );
    // Only the new and the updated item's articles were fetched again.
    assert_eq!(
        server.state.hits_under("/articles/") - articles_after_one,
        2
    );
    assert_eq!(server.state.hits("/papers/2611.00001v1.pdf"), 1);
    // What changed: the updated item, and day one's claim now contradicted, with the quote.
    let changed = &md2[md2.find("## What changed").unwrap()..];
    assert!(
        changed.contains("Items updated: Write-ahead logging explained"),
        "{changed}"
    );
    assert!(
        changed.contains("Claims now contradicted by newer items:"),
        "{changed}"
    );
    assert!(
        changed.contains(AURORA_40) && changed.contains(AURORA_90),
        "{changed}"
    );
    assert!(assert_quotes_check(cwd, &audit2) >= 2);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn with_a_model_the_digest_extracts_its_key_claims_with_the_model() {
    use std::sync::atomic::Ordering;
    let server = feedserver::start().await;
    day_one(&server);
    let tmp = tempfile::tempdir().unwrap();
    let cwd = tmp.path();
    fs::write(cwd.join("feeds.toml"), feeds_toml(&server)).unwrap();
    // The model server keeps a runtime of its own: started and dropped off this one.
    let model = tokio::task::spawn_blocking(|| scripted_model::serve(scripted_model::Mode::Good))
        .await
        .unwrap();
    fs::write(
        cwd.join("model.toml"),
        format!(
            "[providers.default]\nkind = \"openai\"\nbase_url = \"{}\"\n",
            model.url
        ),
    )
    .unwrap();
    let out = digest(
        cwd,
        &[
            "--engine",
            "llm",
            "--model",
            "scripted",
            "--config",
            "model.toml",
        ],
    )
    .await;
    let (_, _, audit) = written(&out, cwd);
    let requests = model.script.requests.load(Ordering::SeqCst);
    let reviewer = model.script.reviewer_requests.load(Ordering::SeqCst);
    // Besides the panel's calls, the extractor's: a digest has no planner and no writer.
    assert!(reviewer > 0, "the panel voted with the model");
    assert!(
        requests > reviewer,
        "no extractor call: {requests} requests, {reviewer} of the panel"
    );
    // The model's claims carry quotes that pass the check; its invented one is not among them.
    assert!(assert_quotes_check(cwd, &audit) > 0);
    assert!(!audit.to_string().contains("Batteries love the sun"));
    tokio::task::spawn_blocking(move || drop(model))
        .await
        .unwrap();
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_killed_digest_resumes_without_fetching_finished_items_again() {
    let server = feedserver::start().await;
    let n = 8;
    let entries: Vec<(String, String, String, String)> = (1..=n)
        .map(|i| {
            (
                format!("Storage engine note {i}"),
                server.url(&format!("/articles/note-{i}.html")),
                format!("Storage engine note {i} says that compaction merges {i} sorted runs into one file."),
                format!("Wed, 1{i} Nov 2026 09:00:00 GMT"),
            )
        })
        .collect();
    let refs: Vec<(&str, &str, &str, &str)> = entries
        .iter()
        .map(|(a, b, c, d)| (a.as_str(), b.as_str(), c.as_str(), d.as_str()))
        .collect();
    server
        .state
        .set("/rss2.xml", "application/rss+xml", rss2(&refs));
    for (i, (title, _, text, _)) in entries.iter().enumerate() {
        server.state.set(
            &format!("/articles/note-{}.html", i + 1),
            "text/html",
            article(title, &[text]),
        );
    }
    *server.state.article_delay_ms.lock().unwrap() = 400;
    let tmp = tempfile::tempdir().unwrap();
    let cwd = tmp.path();
    fs::write(
        cwd.join("feeds.toml"),
        format!(
            "[[feed]]\nname = \"Notes\"\nurl = \"{}\"\n",
            server.url("/rss2.xml")
        ),
    )
    .unwrap();

    let mut child = command(cwd, &[])
        .stdout(Stdio::null())
        .stderr(Stdio::null())
        .spawn()
        .unwrap();
    // Kill it (SIGKILL: no cleanup at all) once three articles were served.
    let deadline = Instant::now() + Duration::from_secs(60);
    while server.state.hits_under("/articles/") < 3 {
        assert!(
            Instant::now() < deadline,
            "the digest never fetched three articles"
        );
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
    tokio::time::sleep(Duration::from_millis(300)).await;
    unsafe {
        libc::kill(child.id() as i32, libc::SIGKILL);
    }
    let status = tokio::task::spawn_blocking(move || child.wait().unwrap())
        .await
        .unwrap();
    assert!(!status.success());
    let before = server.state.hits_under("/articles/");
    assert!(before < n, "killed too late: {before} articles already");
    assert!(
        !cwd.join("reports").exists(),
        "no digest from the killed run"
    );

    *server.state.article_delay_ms.lock().unwrap() = 0;
    // The killed digest is a run like any other: listed, and resumed by its id.
    let research = |args: Vec<String>| {
        let mut c = Command::new(env!("CARGO_BIN_EXE_research"));
        c.args(args)
            .args(["--index", "index"])
            .current_dir(cwd)
            .env_remove("RESEARCH_INDEX");
        tokio::task::spawn_blocking(move || c.output().unwrap())
    };
    let runs = research(vec!["runs".into()]).await.unwrap();
    let runs = String::from_utf8_lossy(&runs.stdout).into_owned();
    let line = runs.lines().nth(1).unwrap_or_default();
    assert!(
        line.contains(" digest ") && line.contains(" running "),
        "{runs}"
    );
    let id = line.split_whitespace().next().unwrap().to_string();
    let out = research(vec!["resume".into(), id]).await.unwrap();
    let (_, md, audit) = written(&out, cwd);
    assert_eq!(item_titles(&audit).len(), n, "{md}");
    let resumed = audit["counts"]["resumed"].as_u64().unwrap() as usize;
    assert!(resumed >= 2, "items the killed run recorded: {resumed}");
    assert!(md.contains("resumed run"), "{md}");
    // Finished items were not fetched again: only the one in flight when it was killed.
    let total = server.state.hits_under("/articles/");
    assert!(total <= n + 1, "{total} article requests for {n} items");
    for i in 1..=n {
        let hits = server.state.hits(&format!("/articles/note-{i}.html"));
        assert!((1..=2).contains(&hits), "note {i}: {hits}");
    }
    let log = fs::read_to_string(cwd.join("digest.log")).unwrap();
    assert!(log.contains("resumed"), "{log}");

    // And a third digest finds nothing new: no empty digest, exit 3, one line on stderr.
    let before = fs::read_dir(cwd.join("reports")).unwrap().count();
    let out = digest(cwd, &[]).await;
    assert_nothing_new(&out);
    assert_eq!(fs::read_dir(cwd.join("reports")).unwrap().count(), before);
}

/// Exit 3, nothing on stdout, one line on stderr saying nothing new was written.
fn assert_nothing_new(out: &Output) {
    assert_eq!(out.status.code(), Some(3), "{}", describe(out));
    assert!(out.stdout.is_empty(), "{}", describe(out));
    let stderr = String::from_utf8_lossy(&out.stderr).into_owned();
    let lines: Vec<&str> = stderr.lines().filter(|l| !l.trim().is_empty()).collect();
    assert_eq!(lines.len(), 1, "{}", describe(out));
    assert!(
        lines[0].starts_with("research: nothing new") && lines[0].contains("no digest written"),
        "{}",
        describe(out)
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_second_digest_while_one_runs_exits_75_and_bad_input_is_one_line() {
    let server = feedserver::start().await;
    server.state.set(
        "/rss2.xml",
        "application/rss+xml",
        rss2(&[(
            "Old note about indexes",
            "http://127.0.0.1:9/old.html",
            "An old note says that a covering index avoids visiting the table at all.",
            "Mon, 02 Jan 2023 09:00:00 GMT",
        )]),
    );
    let tmp = tempfile::tempdir().unwrap();
    let cwd = tmp.path();
    fs::write(
        cwd.join("feeds.toml"),
        format!(
            "[[feed]]\nname = \"Notes\"\nurl = \"{}\"\n",
            server.url("/rss2.xml")
        ),
    )
    .unwrap();

    // Another digest holds the lock: exit 75 (EX_TEMPFAIL), one line, nothing written.
    let store = Store::open(&cwd.join("index")).unwrap();
    let held = research::digest::lock(store.dir()).unwrap();
    let runs_before = runs(cwd);
    let out = digest(cwd, &[]).await;
    let (code, msg) = one_line_error(&out);
    assert_eq!(code, 75, "{msg}");
    assert!(msg.contains("another digest is running"), "{msg}");
    assert!(
        msg.contains(&format!("process {}", std::process::id())),
        "{msg}"
    );
    assert!(!cwd.join("reports").exists());
    // A cron attempt that found the lock held is not a run: nothing to resume or list as failed.
    assert_eq!(runs(cwd), runs_before, "a locked-out attempt was journaled");
    drop(held);
    drop(store);

    // --since a date: the old item is skipped as older, so nothing is new and nothing written.
    let out = digest(cwd, &["--since", "2026-01-01", "--no-fetch"]).await;
    assert_nothing_new(&out);
    assert!(
        String::from_utf8_lossy(&out.stderr).contains("older than --since: 1"),
        "{}",
        describe(&out)
    );
    assert!(!cwd.join("reports").exists());

    // Every feed failing: exit 75, nothing written, the failure in the log.
    fs::write(
        cwd.join("down.toml"),
        format!(
            "[[feed]]\nname = \"Down\"\nurl = \"{}\"\n",
            server.url("/nothing.xml")
        ),
    )
    .unwrap();
    let out = digest(cwd, &["--feeds", "down.toml", "--out", "down-reports"]).await;
    let (code, msg) = one_line_error(&out);
    assert_eq!(code, 75, "{msg}");
    assert!(msg.contains("no feed could be read"), "{msg}");
    assert!(!cwd.join("down-reports").exists());
    let log = fs::read_to_string(cwd.join("digest.log")).unwrap();
    assert!(log.contains("not run (temporary)"), "{log}");

    // Bad input: one line, exit 1 (or 2 for usage), never a panic.
    fs::write(cwd.join("bad.toml"), "[[feed]\n").unwrap();
    fs::write(cwd.join("empty.toml"), "").unwrap();
    for (args, code, needle) in [
        (vec!["--feeds", "missing.toml"], 1, "missing.toml"),
        (vec!["--feeds", "bad.toml"], 1, "not valid TOML"),
        (vec!["--feeds", "empty.toml"], 1, "no feed"),
        (vec!["--since", "yesterday-ish"], 2, "yesterday-ish"),
        (
            vec!["--log", "/proc/no/such/dir/x.log"],
            1,
            "cannot write the log",
        ),
    ] {
        let out = digest(cwd, &args).await;
        let (got, msg) = one_line_error(&out);
        assert_eq!(got, code, "{args:?}: {msg}");
        assert!(msg.contains(needle), "{args:?}: {msg}");
    }
}

/// An RSS 2.0 file of (title, link, summary, date) items.
fn rss_file(path: &Path, items: &[(&str, &str, &str, &str)]) {
    fs::write(path, rss2(items)).unwrap();
}

/// The bullet lines (claims) of a digest's item sections.
fn claim_lines(md: &str) -> Vec<&str> {
    let end = md.find("## Feeds").unwrap_or(md.len());
    md[..end].lines().filter(|l| l.starts_with("- ")).collect()
}

const SCALE_02: &str = "The default autovacuum scale factor is 0.2, so a table is vacuumed after a fifth of its rows change.";
const SCALE_01: &str = "The default scale factor is 0.1, not 0.2.";

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_digest_as_a_reader_sees_it_from_one_day_to_the_next() {
    let tmp = tempfile::tempdir().unwrap();
    let cwd = tmp.path();
    fs::write(
        cwd.join("feeds.toml"),
        "[[feed]]\nname = \"DB notes\"\npath = \"notes.xml\"\n\n\
         [topics.vacuum]\nkeywords = [\"autovacuum\"]\n\n\
         [topics.sqlite]\nkeywords = [\"sqlite\"]\n",
    )
    .unwrap();
    let feed = cwd.join("notes.xml");
    // Links to a port nothing listens on: no article can be fetched.
    let autovacuum = (
        "Autovacuum tuning for large tables",
        "http://127.0.0.1:9/autovacuum.html",
        SCALE_02,
        "Mon, 16 Nov 2026 09:00:00 GMT",
    );
    let wal = (
        "WAL mode in SQLite",
        "http://127.0.0.1:9/wal.html",
        "In SQLite's WAL mode readers do not block writers. Checkpoints move pages from the WAL file back into the database.",
        "Mon, 16 Nov 2026 10:00:00 GMT",
    );
    rss_file(&feed, &[autovacuum, wal]);
    let out = digest(cwd, &[]).await;
    let (_, md, audit) = written(&out, cwd);
    let claims = claim_lines(&md);
    assert!(claims.iter().any(|l| l.contains(SCALE_02)), "{md}");
    // Titles are not claims.
    for t in [autovacuum.0, wal.0] {
        assert!(!claims.iter().any(|l| l.contains(t)), "{t}: {md}");
    }
    // Nothing was fetched, and nothing says so.
    assert_eq!(audit["counts"]["articles_fetched"], 0);
    assert!(!md.contains("· fetched "), "{md}");
    // Only its own sentence states each claim: single-source, not "supported by 5 of 5".
    assert!(!md.contains("supported by"), "{md}");
    assert!(
        claims
            .iter()
            .filter(|l| l.contains("single-source"))
            .count()
            >= 2,
        "{md}"
    );
    assert_eq!(
        audit["counts"]["single_source"], audit["counts"]["kept"],
        "{}",
        audit["counts"]
    );

    // Day two: a newer item says the earlier post's default is wrong; only the vacuum topic.
    let correction = (
        "Autovacuum defaults revisited",
        "http://127.0.0.1:9/autovacuum-2.html",
        "The default scale factor is 0.1, not 0.2. Tables with many updates should lower it further.",
        "Mon, 23 Nov 2026 09:00:00 GMT",
    );
    rss_file(&feed, &[correction, autovacuum, wal]);
    let out = digest(cwd, &[]).await;
    let (_, md2, _) = written(&out, cwd);
    let changed = &md2[md2.find("## What changed").unwrap()..];
    let changed = &changed[..changed[3..].find("\n## ").map_or(changed.len(), |i| i + 3)];
    assert!(
        changed.contains("Claims now contradicted by newer items:")
            && changed.contains(SCALE_02)
            && changed.contains(SCALE_01),
        "{changed}"
    );

    // Day three: an SQLite item again. The topic was in the first digest, so it is not new.
    let checkpoint = (
        "Checkpoint starvation in SQLite",
        "http://127.0.0.1:9/checkpoint.html",
        "A checkpoint cannot complete while a reader still uses an old snapshot of the WAL file.",
        "Mon, 30 Nov 2026 09:00:00 GMT",
    );
    rss_file(&feed, &[checkpoint, correction, autovacuum, wal]);
    let out = digest(cwd, &[]).await;
    let (_, md3, audit3) = written(&out, cwd);
    assert_eq!(item_titles(&audit3), vec![checkpoint.0]);
    assert!(md3.contains("- New topics: none."), "{md3}");

    // Day four: nothing new. No empty digest, exit 3, and the next digest still compares with
    // the last one written.
    let before = fs::read_dir(cwd.join("reports")).unwrap().count();
    let out = digest(cwd, &[]).await;
    assert_nothing_new(&out);
    assert_eq!(fs::read_dir(cwd.join("reports")).unwrap().count(), before);
    let log = fs::read_to_string(cwd.join("digest.log")).unwrap();
    assert!(log.contains("nothing new"), "{log}");
}
