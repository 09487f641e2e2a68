//! The web, over real HTTP on loopback: a fault-injection server (tests/support/webserver.rs)
//! serves Debian's PostgreSQL manual pages, a PDF, a robots.txt, a SearXNG-compatible search
//! endpoint and every fault a fetcher meets. The fetcher must not panic, must name every
//! failure, must stay polite, must refuse private and metadata addresses, and must revalidate
//! from its cache on a second run. End to end, `research "q" --web` cites URLs whose quotes pass
//! the check against the stored text.
//!
//! Needs postgresql-doc-15 (the manual pages), as tests/manuals.rs does.

#[path = "support/webserver.rs"]
mod webserver;

use research::artifact::SubQuery;
use research::gather::{AgentBudget, Source};
use research::index::{SearchBackend, SearchRequest, Store};
use research::quote::quote_matches;
use research::web::fetch::FetchOptions;
use research::web::search::provider_from_spec;
use research::web::{WebOptions, WebSource};
use std::collections::{HashMap, HashSet};
use std::path::Path;
use std::process::Command;
use std::sync::Arc;
use std::time::{Duration, Instant};
use webserver::{Server, FAULTS, PAGES};

fn manual_present() {
    assert!(
        Path::new(webserver::MANUAL).join(PAGES[0]).exists(),
        "the web tests serve Debian's PostgreSQL manual: apt-get install postgresql-doc-15"
    );
}

/// Short timeouts and pauses so every fault resolves in seconds.
fn fast(allow_private: bool) -> FetchOptions {
    FetchOptions {
        allow_private,
        timeout: Duration::from_secs(5),
        connect_timeout: Duration::from_secs(5),
        backoff: Duration::from_millis(100),
        max_retry_after: Duration::from_secs(3),
        host_concurrency: 4,
        host_interval: Duration::ZERO,
        ..FetchOptions::default()
    }
}

fn web_source(server: &Server, store: Arc<dyn SearchBackend>, fetch: FetchOptions) -> WebSource {
    let spec = format!("searxng={}", server.base());
    let provider = provider_from_spec(&spec, &|_| None).unwrap();
    let opts = WebOptions {
        fetch,
        max_pages: 100,
        results_per_query: 100,
    };
    WebSource::new(opts, vec![provider], store).unwrap()
}

fn store(dir: &Path) -> Arc<dyn SearchBackend> {
    Arc::new(Store::open(dir).unwrap())
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn every_fault_is_a_named_failure_and_nothing_panics() {
    let server = webserver::start().await;
    let dir = tempfile::tempdir().unwrap();
    // A short timeout so /slow (a body that trickles for 10 s) gives up quickly.
    let opts = FetchOptions {
        timeout: Duration::from_secs(2),
        ..fast(true)
    };
    let web = web_source(&server, store(dir.path()), opts);
    let started = Instant::now();
    let mut tasks = tokio::task::JoinSet::new();
    for (path, kind) in FAULTS {
        let (web, url) = (web.clone(), server.url(path));
        tasks.spawn(async move { (url.clone(), *kind, web.fetch_one(&url).await) });
    }
    let mut seen = 0;
    while let Some(joined) = tasks.join_next().await {
        let (url, kind, result) = joined.expect("no fetch task panics");
        let err = result.expect_err(&format!("{url} must fail"));
        assert_eq!(err.kind(), kind, "{url}: {err}");
        assert!(err.reason().starts_with(&format!("{kind}: ")), "{url}");
        seen += 1;
    }
    assert_eq!(seen, FAULTS.len());
    // Every failure is recorded for the report, once per URL.
    let skipped = web.skipped();
    for (path, kind) in FAULTS {
        let url = server.url(path);
        let s = skipped
            .iter()
            .find(|s| s.location == url)
            .unwrap_or_else(|| panic!("{url} not in {skipped:#?}"));
        assert!(s.reason.starts_with(kind), "{url}: {}", s.reason);
    }
    let st = &server.state;
    webserver::settled(st).await;
    // robots.txt was read once for the host, and the disallowed path never requested.
    assert_eq!(st.count(|r| r.path == "/robots.txt"), 1);
    assert_eq!(st.count(|r| r.path.starts_with("/private/")), 0);
    // Retries are bounded: 3 attempts for the persistent 429 and 500, none for a 4xx-like fault.
    assert_eq!(st.count(|r| r.path == "/429"), 3);
    assert_eq!(st.count(|r| r.path == "/500"), 3);
    assert_eq!(st.count(|r| r.path == "/huge-declared"), 1);
    assert_eq!(st.count(|r| r.path == "/huge"), 1);
    assert_eq!(st.count(|r| r.path == "/bomb"), 1);
    // Loops stop at the first repeat.
    assert_eq!(st.count(|r| r.path == "/loop-a"), 1);
    assert_eq!(st.count(|r| r.path == "/loop-b"), 1);
    // The redirect to the metadata address was refused before any connection (only the
    // redirecting request reached the server).
    assert_eq!(st.count(|r| r.path == "/redirect-private"), 1);
    assert!(st
        .requests
        .lock()
        .unwrap()
        .iter()
        .all(|r| r.user_agent.starts_with("research/")));
    assert!(
        started.elapsed() < Duration::from_secs(60),
        "{:?}",
        started.elapsed()
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_ssrf_guard_refuses_private_and_metadata_addresses() {
    let server = webserver::start().await;
    let dir = tempfile::tempdir().unwrap();
    let strict = web_source(&server, store(dir.path()), fast(false));
    for url in [
        server.url("/pages/warm-standby.html"),
        format!("http://localhost:{}/pages/warm-standby.html", server.port),
        format!("http://[::1]:{}/", server.port),
        "http://169.254.169.254/latest/meta-data/".to_string(),
        "http://[fe80::1]/".to_string(),
        "http://0.0.0.0/".to_string(),
    ] {
        let err = strict.fetch_one(&url).await.unwrap_err();
        assert_eq!(err.kind(), "private-address", "{url}: {err}");
    }
    assert_eq!(server.state.total(), 0, "no request reached the server");

    // --allow-private opens loopback, never the metadata range, after a redirect too.
    let open = web_source(&server, store(dir.path()), fast(true));
    assert!(open
        .fetch_one(&server.url("/pages/warm-standby.html"))
        .await
        .is_ok());
    let err = open
        .fetch_one(&server.url("/redirect-private"))
        .await
        .unwrap_err();
    assert_eq!(err.kind(), "private-address");
    assert!(err.to_string().contains("169.254.169.254"), "{err}");
    let err = open
        .fetch_one("http://169.254.169.254/latest/meta-data/")
        .await
        .unwrap_err();
    assert_eq!(err.kind(), "private-address");
    let err = open.fetch_one("file:///etc/passwd").await.unwrap_err();
    assert_eq!(err.kind(), "bad-url");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_configured_endpoint_is_trusted_but_not_where_it_redirects() {
    use research::web::fetch::Fetcher;
    let server = webserver::start().await;
    let fetcher = Fetcher::new(fast(false)).unwrap();
    let get = |path: String| {
        let fetcher = &fetcher;
        async move {
            let url = url::Url::parse(&path).unwrap();
            let noop = |b: reqwest::RequestBuilder| b;
            fetcher.api(&url, reqwest::Method::GET, &noop).await
        }
    };
    // The user named this loopback endpoint (a self-hosted SearXNG, a feed): it is reached,
    // and so is a redirect within it, without --allow-private.
    let found = get(server.url("/search?q=replication&format=json"))
        .await
        .unwrap();
    assert!(!found.is_empty());
    assert!(get(server.url("/redirect-ok")).await.is_ok());
    // Sent on elsewhere, the guard is back: the metadata address and other loopback origins.
    let err = get(server.url("/redirect-private")).await.unwrap_err();
    assert_eq!(err.kind(), "private-address", "{err}");
    assert!(err.to_string().contains("169.254.169.254"), "{err}");
    // The server may log a request after answering it: count from a quiet server.
    webserver::settled(&server.state).await;
    let before = server.state.total();
    let elsewhere = format!(
        "http://localhost:{}/redirect-to?{}",
        server.port,
        server.url("/pages/warm-standby.html")
    );
    let err = get(elsewhere).await.unwrap_err();
    assert_eq!(err.kind(), "private-address", "{err}");
    webserver::settled(&server.state).await;
    assert_eq!(
        server.state.total(),
        before + 1,
        "only the redirect was asked"
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn politeness_per_host_holds() {
    manual_present();
    let server = webserver::start().await;
    let dir = tempfile::tempdir().unwrap();
    let opts = FetchOptions {
        host_concurrency: 2,
        host_interval: Duration::from_millis(200),
        ..fast(true)
    };
    let web = web_source(&server, store(dir.path()), opts);
    let mut urls: Vec<String> = PAGES
        .iter()
        .map(|p| server.url(&format!("/pages/{p}")))
        .collect();
    urls.push(server.url("/paper.pdf"));
    urls.push(server.url("/inject.html"));
    let mut tasks = tokio::task::JoinSet::new();
    for url in &urls {
        let (web, url) = (web.clone(), url.clone());
        tasks.spawn(async move { web.fetch_one(&url).await });
    }
    while let Some(r) = tasks.join_next().await {
        r.unwrap().unwrap();
    }
    let st = &server.state;
    webserver::settled(st).await;
    let per_host = st.by_host();
    assert_eq!(per_host.len(), 1, "{per_host:?}");
    // robots.txt once, then one request per page: nothing fetched twice.
    assert_eq!(st.total(), urls.len() + 1, "{per_host:?}");
    assert!(st.max_in_flight.load(std::sync::atomic::Ordering::SeqCst) <= 2);
    let mut starts: Vec<Instant> = st.requests.lock().unwrap().iter().map(|r| r.at).collect();
    starts.sort();
    // Arrival times carry the server's own scheduling jitter: every gap must be well above
    // zero, and together they must add up to the interval.
    for pair in starts.windows(2) {
        let gap = pair[1] - pair[0];
        assert!(
            gap >= Duration::from_millis(120),
            "two requests to one host {gap:?} apart"
        );
    }
    let span = *starts.last().unwrap() - starts[0];
    assert!(
        span >= Duration::from_millis(180) * (starts.len() as u32 - 1),
        "{} requests within {span:?}",
        starts.len()
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn retry_after_is_honoured_and_the_retry_succeeds() {
    manual_present();
    let server = webserver::start().await;
    let dir = tempfile::tempdir().unwrap();
    let web = web_source(&server, store(dir.path()), fast(true));
    let started = Instant::now();
    let id = web.fetch_one(&server.url("/429-once")).await.unwrap();
    assert!(id.ends_with("/429-once"), "{id}");
    assert!(started.elapsed() >= Duration::from_millis(950));
    let st = &server.state;
    webserver::settled(st).await;
    let times: Vec<Instant> = st
        .requests
        .lock()
        .unwrap()
        .iter()
        .filter(|r| r.path == "/429-once")
        .map(|r| r.at)
        .collect();
    assert_eq!(times.len(), 2);
    assert!(times[1] - times[0] >= Duration::from_millis(950));
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_second_run_revalidates_from_the_cache() {
    manual_present();
    let server = webserver::start().await;
    let dir = tempfile::tempdir().unwrap();
    let urls: Vec<String> = [
        "/pages/warm-standby.html",
        "/pages/wal-configuration.html",
        "/paper.pdf",
    ]
    .iter()
    .map(|p| server.url(p))
    .chain([server.url("/redirect-ok")])
    .collect();
    let first = web_source(&server, store(dir.path()), fast(true));
    let mut ids = Vec::new();
    for u in &urls {
        ids.push(first.fetch_one(u).await.unwrap());
    }
    // The redirect is cited by where it led.
    assert!(
        ids[3].ends_with("/pages/logical-replication.html"),
        "{}",
        ids[3]
    );
    assert_eq!(first.stats().pages_indexed, 4);
    drop(first);
    let full = |st: &webserver::State| st.count(|r| r.status == 200 && r.path != "/robots.txt");
    assert_eq!(full(&server.state), 4);

    server.state.reset();
    let second = web_source(&server, store(dir.path()), fast(true));
    for (u, id) in urls.iter().zip(&ids) {
        assert_eq!(&second.fetch_one(u).await.unwrap(), id);
    }
    let st = &server.state;
    webserver::settled(st).await;
    assert_eq!(full(st), 0, "nothing downloaded again: {:?}", st.by_host());
    assert_eq!(st.count(|r| r.status == 304), 4);
    let stats = second.stats();
    assert_eq!((stats.pages_indexed, stats.pages_unchanged), (0, 4));
    assert!(dir.path().join("fetch-cache.sqlite").exists());
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn pdf_passages_carry_page_numbers() {
    let server = webserver::start().await;
    let dir = tempfile::tempdir().unwrap();
    let store = store(dir.path());
    let web = web_source(&server, Arc::clone(&store), fast(true));
    let id = web.fetch_one(&server.url("/paper.pdf")).await.unwrap();
    let hits = store
        .search(&SearchRequest {
            text: "replication slot retains WAL segments".into(),
            doc_ids: vec![id.clone()],
            limit: 5,
            ..Default::default()
        })
        .unwrap();
    assert!(!hits.is_empty());
    let best = &hits[0];
    assert_eq!(best.passage.page, Some(2), "{best:#?}");
    assert!(best.fetched.is_some());
    let stored = store.document(&id).unwrap().unwrap();
    assert_eq!(
        &stored.text[best.passage.start..best.passage.end],
        best.passage.text
    );
    // A real PDF from this machine, when it is there (libtasn1-doc).
    if Path::new("/usr/share/doc/libtasn1-doc/libtasn1.pdf").exists() {
        let id = web.fetch_one(&server.url("/real.pdf")).await.unwrap();
        let hits = store
            .search(&SearchRequest {
                text: "ASN.1 structure definitions".into(),
                doc_ids: vec![id],
                limit: 5,
                ..Default::default()
            })
            .unwrap();
        assert!(hits.iter().all(|h| h.passage.page.is_some()));
        assert!(!hits.is_empty());
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_web_agent_returns_only_its_own_pages() {
    manual_present();
    let server = webserver::start().await;
    *server.state.results.lock().unwrap() = vec![
        "/pages/warm-standby.html".into(),
        "/500".into(),
        "/paper.pdf".into(),
    ];
    let dir = tempfile::tempdir().unwrap();
    let store = store(dir.path());
    // Something else in the store that also matches: never returned by the web agent.
    let local = research::ingest::document_from_bytes(
        "/local/notes.txt",
        "/local/notes.txt",
        "/local",
        research::artifact::Format::Text,
        b"Replication slots retain WAL on the primary until standbys receive it.",
        None,
    )
    .unwrap();
    store.add(&[local]).unwrap();
    let web = web_source(&server, Arc::clone(&store), fast(true));
    let sq = SubQuery {
        id: 0,
        angle: research::artifact::Angle::Question,
        label: "q".into(),
        query: "replication slot retain WAL standby".into(),
    };
    let budget = AgentBudget {
        max_passages: 10,
        deadline: Duration::from_secs(20),
    };
    let hits = web.gather(&sq, budget).await.unwrap();
    assert!(!hits.is_empty());
    let docs: HashSet<&str> = hits.iter().map(|h| h.passage.doc_id.as_str()).collect();
    assert!(
        docs.iter().all(|d| d.starts_with("http://127.0.0.1:")),
        "{docs:?}"
    );
    assert!(hits.iter().all(|h| h.fetched.is_some()));
    // What the reviewers of the run may search besides the corpora: exactly these pages.
    let brought: HashSet<String> = web.brought().into_iter().collect();
    assert!(docs.iter().all(|d| brought.contains(*d)), "{brought:?}");
    assert!(brought.iter().all(|d| d.starts_with("http://127.0.0.1:")));
    let skipped = web.take_skipped();
    assert_eq!(skipped.len(), 1, "{skipped:?}");
    assert!(skipped[0].reason.starts_with("server-error"));
}

// ---------------------------------------------------------------------------------------------
// End to end, through the binary.

struct Run {
    md: String,
    audit: serde_json::Value,
    stderr: String,
}

fn research_cmd(args: &[String], config_home: &Path) -> std::process::Output {
    Command::new(env!("CARGO_BIN_EXE_research"))
        .args(args)
        .env_remove("RESEARCH_INDEX")
        .env_remove("BRAVE_API_KEY")
        .env_remove("TAVILY_API_KEY")
        .env("XDG_CONFIG_HOME", config_home)
        .output()
        .expect("the binary runs")
}

async fn run_binary(args: Vec<String>, config_home: &Path) -> Run {
    let home = config_home.to_path_buf();
    let out = tokio::task::spawn_blocking(move || research_cmd(&args, &home))
        .await
        .unwrap();
    let stderr = String::from_utf8_lossy(&out.stderr).into_owned();
    assert!(out.status.success(), "research failed: {stderr}");
    assert!(!stderr.contains("panicked"), "{stderr}");
    let path = String::from_utf8_lossy(&out.stdout).trim().to_string();
    let md = std::fs::read_to_string(&path).unwrap();
    let audit: serde_json::Value = serde_json::from_str(
        &std::fs::read_to_string(Path::new(&path).with_extension("json")).unwrap(),
    )
    .unwrap();
    Run { md, audit, stderr }
}

fn web_args(server: &Server, index: &Path, out: &Path) -> Vec<String> {
    [
        "How do replication slots work in PostgreSQL streaming replication?",
        "--web",
        "--search",
        &format!("searxng={}", server.base()),
        "--allow-private",
        "--index",
        &index.display().to_string(),
        "--out",
        &out.display().to_string(),
        "--max-pages",
        "40",
        "--fetch-timeout",
        "2",
        "--host-delay",
        "20",
        "--host-concurrency",
        "4",
        "--agent-deadline",
        "90",
        "--quiet",
    ]
    .iter()
    .map(|s| s.to_string())
    .collect()
}

fn section<'a>(md: &'a str, heading: &str) -> &'a str {
    let start = md
        .find(heading)
        .unwrap_or_else(|| panic!("no {heading} in:\n{md}"));
    let rest = &md[start..];
    match rest[3..].find("\n## ") {
        Some(end) => &rest[..end + 3],
        None => rest,
    }
}

/// Every citation in the audit passes the quote check against the stored text.
fn check_citations(audit: &serde_json::Value, index: &Path) -> usize {
    let store = Store::open(index).unwrap();
    let mut web = 0;
    for r in audit["reviewed"].as_array().unwrap() {
        if r["verdict"]["status"] != "kept" && r["verdict"]["status"] != "disputed" {
            continue;
        }
        for c in r["claim"]["citations"].as_array().unwrap() {
            let c: research::artifact::Citation = serde_json::from_value(c.clone()).unwrap();
            let doc = store
                .document(&c.doc_id)
                .unwrap()
                .expect("cited doc stored");
            assert!(quote_matches(&doc, &c), "{c:#?}");
            if c.location.starts_with("http://127.0.0.1:") {
                assert!(c.fetched.is_some(), "{c:#?}");
                web += 1;
            }
        }
    }
    web
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn end_to_end_web_report_cites_urls_lists_faults_and_hits_the_cache() {
    manual_present();
    let server = webserver::start().await;
    let index = tempfile::tempdir().unwrap();
    let out = tempfile::tempdir().unwrap();
    let home = tempfile::tempdir().unwrap();
    let args = web_args(&server, index.path(), out.path());

    let run = run_binary(args.clone(), home.path()).await;
    let cited = check_citations(&run.audit, index.path());
    assert!(cited > 0, "no web citation:\n{}", run.md);
    // Sources entries show the URL, the fetch date and the hash.
    let sources = section(&run.md, "## Sources\n");
    assert!(
        sources.contains(&format!("`{}/", server.base())),
        "{sources}"
    );
    assert!(sources.contains(" · fetched "), "{sources}");

    // Every fault is a counted, named entry of "Sources not used".
    let unused = section(&run.md, "## Sources not used");
    for (path, kind) in FAULTS {
        let line = unused
            .lines()
            .find(|l| l.starts_with(&format!("- `{}`", server.url(path))))
            .unwrap_or_else(|| panic!("{path} not listed:\n{unused}"));
        assert!(line.contains(&format!(": {kind}: ")), "{line}");
    }
    let skipped = run.audit["skipped"].as_array().unwrap();
    let web_skipped = skipped
        .iter()
        .filter(|s| s["location"].as_str().unwrap().starts_with("http"))
        .count();
    assert_eq!(web_skipped, FAULTS.len(), "{skipped:#?}");
    assert!(unused.contains(&format!("{} sources could not be used", skipped.len())));
    assert!(
        unused.contains("timeout 1") && unused.contains("robots-disallowed 1"),
        "{unused}"
    );
    assert!(run.audit["stats"]["documents"].as_u64().unwrap() >= PAGES.len() as u64);

    // Politeness and caps, counted at the server.
    let st = &server.state;
    webserver::settled(st).await;
    assert_eq!(st.by_host().len(), 1);
    assert!(st.max_in_flight.load(std::sync::atomic::Ordering::SeqCst) <= 4);
    assert_eq!(st.count(|r| r.path == "/robots.txt"), 1);
    assert_eq!(st.count(|r| r.path.starts_with("/private/")), 0);
    let page_gets = |st: &webserver::State, status: u16| {
        st.count(|r| r.path.starts_with("/pages/") && r.status == status)
    };
    // Each page downloaded once although every agent's search returned it (/redirect-ok leads
    // to one of them under another URL, so that one comes twice).
    let page_fetches = PAGES.len() + 1;
    webserver::settled(st).await;
    assert_eq!(page_gets(st, 200), page_fetches);
    assert!(st.count(|r| r.path.starts_with("/search")) >= 3);
    // A dispute's search reads stored evidence first: the web is asked for it only when the
    // claim stayed split, and then the trail says it was voted on again with what it found.
    let searched: Vec<String> = st
        .requests
        .lock()
        .unwrap()
        .iter()
        .filter(|r| r.path.starts_with("/search"))
        .filter_map(|r| {
            let url = reqwest::Url::parse(&format!("http://x{}", r.path)).ok()?;
            let q = url.query_pairs().find(|(k, _)| k == "q")?.1.into_owned();
            Some(q)
        })
        .collect();
    let mut disputes = 0;
    for round in run.audit["trail"].as_array().unwrap() {
        for s in round["searches"].as_array().unwrap() {
            let f = &s["follow_up"];
            if f["lead"] != "dispute" {
                continue;
            }
            disputes += 1;
            let revote = round["revoted"]
                .as_array()
                .unwrap()
                .iter()
                .find(|r| r["claim_id"] == f["claim_id"]);
            let asked_web = searched.iter().any(|q| q == f["query"].as_str().unwrap());
            // This server answers every search with pages, so a web search for a dispute always
            // brings evidence for a second vote.
            let voted_on_web = revote.is_some_and(|r| r["web"] == true);
            assert_eq!(
                asked_web, voted_on_web,
                "the web was searched for a dispute without a vote on what it found: {f} {revote:?}"
            );
            if asked_web {
                assert_eq!(revote.unwrap()["before"], "disputed");
                assert!(run.md.contains("on stored evidence, then on a web search"));
            }
        }
    }
    // The panel splits where the sources disagree (the served blog against the manual).
    assert!(
        disputes >= 1,
        "no dispute followed up: {}\n{}",
        run.audit["trail"],
        run.md
    );

    // A second run revalidates instead of downloading again.
    st.reset();
    let again = run_binary(args, home.path()).await;
    webserver::settled(st).await;
    assert_eq!(
        page_gets(st, 200),
        0,
        "downloaded again: {:?}",
        st.by_host()
    );
    assert_eq!(page_gets(st, 304), page_fetches);
    assert_eq!(st.count(|r| r.path == "/paper.pdf" && r.status == 304), 1);
    assert!(check_citations(&again.audit, index.path()) > 0);
    assert!(
        again.audit["stats"]["documents_unchanged"]
            .as_u64()
            .unwrap()
            >= PAGES.len() as u64
    );
    assert!(!again.stderr.contains("panicked"));
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_corpus_only_run_never_touches_the_network() {
    let server = webserver::start().await;
    let index = tempfile::tempdir().unwrap();
    let out = tempfile::tempdir().unwrap();
    let home = tempfile::tempdir().unwrap();
    let args: Vec<String> = [
        "How should lithium-ion batteries be stored?",
        "--sources",
        "corpus",
        "--search",
        &format!("searxng={}", server.base()),
        "--allow-private",
        "--index",
        &index.path().display().to_string(),
        "--out",
        &out.path().display().to_string(),
        "--quiet",
    ]
    .iter()
    .map(|s| s.to_string())
    .collect();
    let run = run_binary(args, home.path()).await;
    assert!(run.md.contains("## Findings"));
    assert_eq!(server.state.total(), 0, "a corpus-only run made requests");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn bad_web_input_is_one_clear_error_line() {
    let home = tempfile::tempdir().unwrap();
    let index = tempfile::tempdir().unwrap();
    for (args, expected) in [
        (vec!["q", "--web"], "search provider"),
        (
            vec!["q", "--web", "--search", "bing"],
            "unknown search provider",
        ),
        (vec!["q", "--search", "brave"], "BRAVE_API_KEY"),
        (vec!["q", "--search", "searxng=ftp://x"], "http or https"),
        (
            vec!["q", "--sources", "web", "--corpus", "/tmp"],
            "--corpus",
        ),
        (vec!["q", "--sources", "ftp"], "invalid value"),
    ] {
        let mut a: Vec<String> = args.iter().map(|s| s.to_string()).collect();
        a.extend(["--index".into(), index.path().display().to_string()]);
        let out = research_cmd(&a, home.path());
        let stderr = String::from_utf8_lossy(&out.stderr);
        assert!(!out.status.success(), "{args:?} succeeded");
        assert_eq!(stderr.trim().lines().count(), 1, "{args:?}: {stderr}");
        assert!(stderr.contains(expected), "{args:?}: {stderr}");
        assert!(!stderr.contains("panicked"));
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn instructions_inside_a_page_change_nothing() {
    manual_present();
    let mut verdicts: Vec<HashMap<String, (String, u64, u64)>> = Vec::new();
    for inject in [false, true] {
        let server = webserver::start().await;
        server
            .state
            .inject
            .store(inject, std::sync::atomic::Ordering::SeqCst);
        *server.state.results.lock().unwrap() = vec![
            "/inject.html".into(),
            "/pages/warm-standby.html".into(),
            "/pages/runtime-config-replication.html".into(),
        ];
        let index = tempfile::tempdir().unwrap();
        let out = tempfile::tempdir().unwrap();
        let home = tempfile::tempdir().unwrap();
        let run = run_binary(web_args(&server, index.path(), out.path()), home.path()).await;
        check_citations(&run.audit, index.path());
        let mut by_claim = HashMap::new();
        for r in run.audit["reviewed"].as_array().unwrap() {
            let text = r["claim"]["text"].as_str().unwrap().to_string();
            let v = &r["verdict"];
            by_claim.insert(
                text,
                (
                    v["status"].as_str().unwrap().to_string(),
                    v["support"].as_u64().unwrap(),
                    v["refute"].as_u64().unwrap(),
                ),
            );
            // No reviewer leaned on the planted sentence to refute anything.
            for vote in r["votes"].as_array().unwrap() {
                let quote = vote["evidence"]["quote"].as_str().unwrap_or_default();
                assert!(
                    !(vote["stance"] == "refute" && quote.contains("Ignore previous")),
                    "{vote:#}"
                );
            }
        }
        verdicts.push(by_claim);
    }
    let (clean, injected) = (&verdicts[0], &verdicts[1]);
    assert!(!clean.is_empty());
    let mut common = 0;
    for (claim, verdict) in clean {
        if let Some(other) = injected.get(claim) {
            assert_eq!(verdict, other, "{claim}");
            common += 1;
        }
    }
    assert!(
        common * 10 >= clean.len() * 8,
        "{common} of {}",
        clean.len()
    );
    let refuted = |m: &HashMap<String, (String, u64, u64)>| m.values().filter(|v| v.2 > 0).count();
    assert!(refuted(injected) <= refuted(clean) + 1);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_page_budget_caps_a_run() {
    manual_present();
    let server = webserver::start().await;
    *server.state.results.lock().unwrap() = PAGES.iter().map(|p| format!("/pages/{p}")).collect();
    let dir = tempfile::tempdir().unwrap();
    let spec = format!("searxng={}", server.base());
    let opts = WebOptions {
        fetch: fast(true),
        max_pages: 2,
        results_per_query: 50,
    };
    let web = WebSource::new(
        opts,
        vec![provider_from_spec(&spec, &|_| None).unwrap()],
        store(dir.path()),
    )
    .unwrap();
    let budget = AgentBudget {
        max_passages: 10,
        deadline: Duration::from_secs(20),
    };
    for id in 0..3 {
        let sq = SubQuery {
            id,
            angle: research::artifact::Angle::Question,
            label: "q".into(),
            query: "replication slots".into(),
        };
        web.gather(&sq, budget).await.unwrap();
    }
    let st = &server.state;
    webserver::settled(st).await;
    assert_eq!(st.count(|r| r.path.starts_with("/pages/")), 2);
    assert_eq!(st.count(|r| r.path.starts_with("/search")), 3);
    let skipped = web.take_skipped();
    assert_eq!(skipped.len(), 1, "{skipped:?}");
    assert_eq!(skipped[0].location, "web");
    assert!(
        skipped[0].reason.starts_with(&format!(
            "page-budget: {} search results not fetched",
            PAGES.len() - 2
        )),
        "{}",
        skipped[0].reason
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn charsets_come_from_the_header_or_the_meta_tag() {
    let server = webserver::start().await;
    let dir = tempfile::tempdir().unwrap();
    let store = store(dir.path());
    let web = web_source(&server, Arc::clone(&store), fast(true));
    let id = web.fetch_one(&server.url("/latin1.html")).await.unwrap();
    let doc = store.document(&id).unwrap().unwrap();
    assert!(
        doc.text.contains("Le café crème est servi chaud"),
        "{}",
        doc.text
    );
    assert_eq!(doc.title, "Café");
    let id = web
        .fetch_one(&server.url("/meta-charset.html"))
        .await
        .unwrap();
    let doc = store.document(&id).unwrap().unwrap();
    assert!(
        doc.text.contains("“Smart quotes” and an en dash – survive"),
        "{}",
        doc.text
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_killed_web_run_resumes_without_fetching_finished_pages_again() {
    use std::os::unix::process::ExitStatusExt;
    manual_present();
    let server = webserver::start().await;
    *server.state.results.lock().unwrap() = PAGES.iter().map(|p| format!("/pages/{p}")).collect();
    let index = tempfile::tempdir().unwrap();
    let out = tempfile::tempdir().unwrap();
    let home = tempfile::tempdir().unwrap();
    let args = web_args(&server, index.path(), out.path());
    let page_requests = |s: &Server| s.state.count(|r| r.path.starts_with("/pages/"));
    let search_requests = |s: &Server| s.state.count(|r| r.path.starts_with("/search"));

    // Killed right after the run journaled its second fetched page.
    let killed = {
        let (args, home) = (args.clone(), home.path().to_path_buf());
        tokio::task::spawn_blocking(move || {
            Command::new(env!("CARGO_BIN_EXE_research"))
                .args(&args)
                .env_remove("RESEARCH_INDEX")
                .env("XDG_CONFIG_HOME", &home)
                .env("RESEARCH_TEST_KILL_AFTER_EVENTS", "page/:2")
                .output()
                .unwrap()
        })
        .await
        .unwrap()
    };
    assert_eq!(
        killed.status.signal(),
        Some(9),
        "{}",
        String::from_utf8_lossy(&killed.stderr)
    );
    let pages_before = page_requests(&server);
    let searches_before = search_requests(&server);
    assert!(pages_before > 0, "the kill came before any page");

    let runs = research_cmd(
        &[
            "runs".into(),
            "--index".into(),
            index.path().display().to_string(),
        ],
        home.path(),
    );
    let id = String::from_utf8_lossy(&runs.stdout)
        .lines()
        .nth(1)
        .unwrap()
        .split_whitespace()
        .next()
        .unwrap()
        .to_string();
    // Pages the killed run journaled as fetched and indexed.
    let show = research_cmd(
        &[
            "runs".into(),
            "show".into(),
            id.clone(),
            "--index".into(),
            index.path().display().to_string(),
        ],
        home.path(),
    );
    let journaled = String::from_utf8_lossy(&show.stdout)
        .lines()
        .filter(|l| l.contains(". page/"))
        .count();
    assert!(journaled > 0, "no page journaled before the kill");
    let resumed = run_binary(
        vec![
            "resume".into(),
            id,
            "--index".into(),
            index.path().display().to_string(),
        ],
        home.path(),
    )
    .await;
    assert!(
        check_citations(&resumed.audit, index.path()) > 0,
        "{}",
        resumed.md
    );

    // The resumed run requests only pages the killed run had not finished: none of the
    // journaled ones again (not even to revalidate).
    let after = page_requests(&server) - pages_before;
    assert!(
        after <= PAGES.len() - journaled,
        "{after} page requests after the kill; {journaled} of {} pages were journaled",
        PAGES.len()
    );
    let searches = search_requests(&server);
    let sub_queries = resumed.audit["plan"]["sub_queries"]
        .as_array()
        .unwrap()
        .len();
    assert!(
        searches <= sub_queries + 1,
        "{searches} searches for {sub_queries} sub-queries ({searches_before} before the kill)"
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn pages_an_earlier_run_stored_are_not_evidence_for_a_run_that_did_not_fetch_them() {
    manual_present();
    let server = webserver::start().await;
    let index = tempfile::tempdir().unwrap();
    let out = tempfile::tempdir().unwrap();
    let home = tempfile::tempdir().unwrap();
    let first = run_binary(web_args(&server, index.path(), out.path()), home.path()).await;
    assert!(
        check_citations(&first.audit, index.path()) > 0,
        "{}",
        first.md
    );
    // The same question on the same store, without --allow-private: every loopback page is
    // refused now, and the pages the first run left in the store must not be cited either.
    let strict: Vec<String> = web_args(&server, index.path(), out.path())
        .into_iter()
        .filter(|a| a != "--allow-private")
        .collect();
    let second = run_binary(strict, home.path()).await;
    let cited: Vec<String> = second.audit["reviewed"]
        .as_array()
        .unwrap()
        .iter()
        .flat_map(|r| {
            let claim = r["claim"]["citations"].as_array().unwrap().iter();
            let votes = r["votes"].as_array().unwrap().iter();
            claim
                .chain(votes.filter_map(|v| v.get("evidence")))
                .filter_map(|c| c["location"].as_str().map(str::to_string))
                .collect::<Vec<_>>()
        })
        .collect();
    assert!(
        cited.iter().all(|l| !l.starts_with("http")),
        "a page this run refused is cited: {cited:?}\n{}",
        second.md
    );
    let unused = section(&second.md, "## Sources not used");
    assert!(unused.contains("private-address"), "{unused}");
}
