//! The web fetcher's speed and memory, on the loopback fault-injection server of the web tests
//! (tests/support/webserver.rs), serving Debian's PostgreSQL 15 manual.
//!
//! `cargo bench --bench web` prints:
//! - pages/second fetched + extracted + indexed, in process, for `RESEARCH_BENCH_PAGES` (default
//!   300) manual pages with politeness pauses off (host delay 0, 8 requests in flight per host;
//!   the default 500 ms host delay would make this a measure of the delay), then the same pages
//!   again, revalidated from the fetch cache (304s);
//! - the peak RSS of the release binary running `research "q" --web` against the server, once
//!   with the real pages only and once with the 50 MB bodies (declared and undeclared) and the
//!   gzip bomb among the search results, measured per child with `wait4`.

#[path = "../tests/support/webserver.rs"]
mod webserver;

use research::index::{SearchBackend, Store};
use research::web::fetch::FetchOptions;
use research::web::search::provider_from_spec;
use research::web::{WebOptions, WebSource};
use std::path::Path;
use std::sync::Arc;
use std::time::{Duration, Instant};

const QUESTION: &str = "How do replication slots work in PostgreSQL streaming replication?";

fn main() {
    if !Path::new(webserver::MANUAL).exists() {
        eprintln!("web bench: needs postgresql-doc-15 (apt-get install postgresql-doc-15)");
        std::process::exit(1);
    }
    let rt = tokio::runtime::Builder::new_multi_thread()
        .enable_all()
        .build()
        .unwrap();
    rt.block_on(run());
}

async fn run() {
    let n: usize = std::env::var("RESEARCH_BENCH_PAGES")
        .ok()
        .and_then(|v| v.parse().ok())
        .unwrap_or(300);
    let mut names: Vec<String> = std::fs::read_dir(webserver::MANUAL)
        .unwrap()
        .filter_map(|e| e.ok())
        .map(|e| e.file_name().to_string_lossy().into_owned())
        .filter(|n| n.ends_with(".html"))
        .collect();
    names.sort();
    names.truncate(n);
    let server = webserver::start().await;
    // The test server's robots.txt asks for a 50 ms Crawl-delay, which would cap this at 20
    // pages/s: the benchmark measures the machinery, so it serves one without.
    *server.state.robots.lock().unwrap() = "User-agent: *\nDisallow: /private/\n".into();
    let urls: Vec<String> = names
        .iter()
        .map(|p| server.url(&format!("/manual/{p}")))
        .collect();
    let bytes: u64 = names
        .iter()
        .filter_map(|p| std::fs::metadata(Path::new(webserver::MANUAL).join(p)).ok())
        .map(|m| m.len())
        .sum();

    let dir = tempfile::tempdir().unwrap();
    let store: Arc<dyn SearchBackend> = Arc::new(Store::open(dir.path()).unwrap());
    let opts = || WebOptions {
        fetch: FetchOptions {
            allow_private: true,
            host_concurrency: 8,
            host_interval: Duration::ZERO,
            ..FetchOptions::default()
        },
        max_pages: 100_000,
        results_per_query: 50,
    };
    let provider = || provider_from_spec(&format!("searxng={}", server.base()), &|_| None).unwrap();

    for pass in ["first fetch", "revalidated (304)"] {
        let web = WebSource::new(opts(), vec![provider()], Arc::clone(&store)).unwrap();
        server.state.reset();
        let started = Instant::now();
        let mut tasks = tokio::task::JoinSet::new();
        for u in &urls {
            let (web, u) = (web.clone(), u.clone());
            tasks.spawn(async move { web.fetch_one(&u).await });
        }
        let mut ok = 0;
        let mut failed = 0;
        while let Some(r) = tasks.join_next().await {
            match r.unwrap() {
                Ok(_) => ok += 1,
                Err(_) => failed += 1,
            }
        }
        let secs = started.elapsed().as_secs_f64();
        let s = web.stats();
        println!(
            "web {pass}: {ok} pages ({:.1} MB of HTML) in {secs:.2} s = {:.1} pages/s \
             ({} indexed, {} unchanged, {failed} failed, {} requests, max {} in flight)",
            bytes as f64 / 1e6,
            ok as f64 / secs,
            s.pages_indexed,
            s.pages_unchanged,
            server.state.total(),
            server
                .state
                .max_in_flight
                .load(std::sync::atomic::Ordering::SeqCst),
        );
    }

    // Peak memory of the binary, without and with the 50 MB bodies and the bomb.
    let pages_only: Vec<String> = webserver::PAGES
        .iter()
        .map(|p| format!("/pages/{p}"))
        .chain(["/paper.pdf".to_string()])
        .collect();
    for (label, results) in [
        ("pages only", pages_only.clone()),
        ("pages + 50 MB bodies + gzip bomb", {
            let mut r = pages_only.clone();
            r.extend(["/huge", "/huge-declared", "/bomb"].map(String::from));
            r
        }),
    ] {
        *server.state.results.lock().unwrap() = results;
        server.state.reset();
        let base = server.base();
        let (secs, rss_kib, ok) = tokio::task::spawn_blocking(move || child_peak(&base))
            .await
            .unwrap();
        let big = server
            .state
            .count(|r| matches!(r.path.as_str(), "/huge" | "/huge-declared" | "/bomb"));
        println!(
            "binary --web ({label}): {secs:.2} s, peak RSS {:.1} MiB, {} requests ({big} for the \
             50 MB bodies and the bomb){}",
            rss_kib as f64 / 1024.0,
            server.state.total(),
            if ok { "" } else { " (FAILED)" }
        );
    }
}

/// Run the release binary once; wall seconds and peak RSS (KiB) from wait4.
// The child is reaped by wait4, which std cannot see.
#[allow(clippy::zombie_processes)]
fn child_peak(base: &str) -> (f64, u64, bool) {
    let index = tempfile::tempdir().unwrap();
    let out = tempfile::tempdir().unwrap();
    let home = tempfile::tempdir().unwrap();
    let started = Instant::now();
    let child = std::process::Command::new(env!("CARGO_BIN_EXE_research"))
        .args([
            QUESTION,
            "--web",
            "--search",
            &format!("searxng={base}"),
            "--allow-private",
            "--host-delay",
            "0",
            "--quiet",
            "--index",
        ])
        .arg(index.path())
        .arg("--out")
        .arg(out.path())
        .env_remove("RESEARCH_INDEX")
        .env("XDG_CONFIG_HOME", home.path())
        .stdout(std::process::Stdio::null())
        .stderr(std::process::Stdio::null())
        .spawn()
        .unwrap();
    let pid = child.id() as libc::pid_t;
    let mut status = 0;
    // SAFETY: an all-zero rusage is valid, and wait4 fills it for our own child.
    let mut usage: libc::rusage = unsafe { std::mem::zeroed() };
    // SAFETY: pid is our child, status and usage point at live locals.
    let waited = unsafe { libc::wait4(pid, &mut status, 0, &mut usage) };
    let ok = waited == pid && libc::WIFEXITED(status) && libc::WEXITSTATUS(status) == 0;
    (started.elapsed().as_secs_f64(), usage.ru_maxrss as u64, ok)
}
