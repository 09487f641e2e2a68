//! The HTML page of a report as a reader opens it: a report is written by the real binary over
//! the bundled sample corpus, then opened in Debian's chromium, headless. In the DOM the browser
//! rendered, every citation lands on its source, every entry of the contents lands on a
//! heading, verdicts show as badges and each source links to its file; a screenshot of the page
//! is a real PNG.

use scraper::{Html, Selector};
use std::collections::HashMap;
use std::fs;
use std::path::{Path, PathBuf};
use std::process::{Command, Output, Stdio};
use std::time::{Duration, Instant};

const CHROMIUM: &str = "/usr/bin/chromium";
const QUESTION: &str =
    "How should lithium-ion batteries be charged and stored to last as long as possible?";

fn copy_dir(from: &Path, to: &Path) {
    fs::create_dir_all(to).unwrap();
    for e in fs::read_dir(from).unwrap() {
        let e = e.unwrap();
        let target = to.join(e.file_name());
        if e.file_type().unwrap().is_dir() {
            copy_dir(&e.path(), &target);
        } else {
            fs::copy(e.path(), &target).unwrap();
        }
    }
}

/// Run chromium headless on `page` with `args`, in a fresh profile, with no network of its
/// own; killed after two minutes.
fn chromium(page: &Path, args: &[&str]) -> Output {
    let profile = tempfile::tempdir().unwrap();
    let url = url::Url::from_file_path(page).unwrap();
    let mut child = Command::new(CHROMIUM)
        .args([
            "--headless",
            "--no-sandbox",
            "--disable-gpu",
            "--disable-quic",
            "--no-first-run",
            "--disable-background-networking",
            "--disable-component-update",
            "--disable-sync",
        ])
        .arg(format!("--user-data-dir={}", profile.path().display()))
        .args(args)
        .arg(url.as_str())
        .stdin(Stdio::null())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .unwrap_or_else(|e| panic!("{CHROMIUM} does not start: {e}"));
    // The pipes are drained on threads so a full pipe never stalls the browser.
    let mut stdout = child.stdout.take().unwrap();
    let mut stderr = child.stderr.take().unwrap();
    let out = std::thread::spawn(move || {
        let mut b = Vec::new();
        std::io::Read::read_to_end(&mut stdout, &mut b).map(|_| b)
    });
    let err = std::thread::spawn(move || {
        let mut b = Vec::new();
        std::io::Read::read_to_end(&mut stderr, &mut b).map(|_| b)
    });
    let deadline = Instant::now() + Duration::from_secs(120);
    let status = loop {
        if let Some(status) = child.try_wait().unwrap() {
            break status;
        }
        if Instant::now() > deadline {
            let _ = child.kill();
            let _ = child.wait();
            panic!("chromium did not finish with {} in 120 s", page.display());
        }
        std::thread::sleep(Duration::from_millis(100));
    };
    Output {
        status,
        stdout: out.join().unwrap().unwrap(),
        stderr: err.join().unwrap().unwrap(),
    }
}

fn select<'a>(dom: &'a Html, css: &str) -> Vec<scraper::ElementRef<'a>> {
    dom.select(&Selector::parse(css).unwrap()).collect()
}

#[test]
fn a_report_page_works_in_a_real_browser() {
    assert!(
        Path::new(CHROMIUM).is_file(),
        "{CHROMIUM} is missing: this test opens the report in Debian's chromium. Install it with \
         `apt-get install -y --no-install-recommends chromium` (.ci/run installs it)"
    );
    // The run's working folder holds the sample corpus's files, as a checkout of this repository
    // does, so the sources (located as `corpora/batteries/...`) link to files.
    let root = tempfile::tempdir().unwrap();
    let corpus = root.path().join("corpora/batteries");
    copy_dir(
        &Path::new(env!("CARGO_MANIFEST_DIR")).join("corpora/batteries"),
        &corpus,
    );
    let out_dir = root.path().join("out");
    let index = root.path().join("index");
    let run = Command::new(env!("CARGO_BIN_EXE_research"))
        .args([QUESTION, "--out"])
        .arg(&out_dir)
        .arg("--index")
        .arg(&index)
        .current_dir(root.path())
        .env_remove("RESEARCH_INDEX")
        .output()
        .unwrap();
    let stdout = String::from_utf8_lossy(&run.stdout);
    assert!(
        run.status.success(),
        "{}\n{}",
        stdout,
        String::from_utf8_lossy(&run.stderr)
    );
    let md = PathBuf::from(stdout.trim());
    let page = md.with_extension("html");
    assert!(page.is_file(), "no {}", page.display());

    let dumped = chromium(&page, &["--dump-dom"]);
    let dom_text = String::from_utf8_lossy(&dumped.stdout).into_owned();
    assert!(
        dumped.status.success() && dom_text.contains("</html>"),
        "chromium dumped no DOM: {}",
        String::from_utf8_lossy(&dumped.stderr)
    );
    let dom = Html::parse_document(&dom_text);

    let mut ids: HashMap<String, Vec<String>> = HashMap::new();
    for el in select(&dom, "[id]") {
        let id = el.value().attr("id").unwrap().to_string();
        ids.entry(id)
            .or_default()
            .push(el.value().name().to_string());
    }
    let target = |href: &str| -> &Vec<String> {
        let id = href.strip_prefix('#').expect("an in-page link");
        let found = ids
            .get(id)
            .unwrap_or_else(|| panic!("{href} lands on nothing in the rendered page"));
        assert_eq!(found.len(), 1, "{href} is the id of {found:?}");
        found
    };

    // Every citation lands on its source's entry.
    let citations = select(&dom, "a[href^='#src-']");
    assert!(!citations.is_empty(), "no citation link in the page");
    for a in &citations {
        target(a.value().attr("href").unwrap());
    }
    // Each source is an entry of one list, with its quote inside it.
    let entries = select(&dom, "span[id^='src-']");
    let quote = Selector::parse("blockquote").unwrap();
    for span in &entries {
        let id = span.value().attr("id").unwrap();
        let entry = span
            .ancestors()
            .filter_map(scraper::ElementRef::wrap)
            .find(|e| e.value().name() == "li")
            .unwrap_or_else(|| panic!("source {id} is not a list entry"));
        assert!(
            entry.select(&quote).next().is_some(),
            "source {id}'s quote is not in its entry"
        );
    }
    assert_eq!(
        select(&dom, "ol > li > p > span[id^='src-']").len(),
        entries.len()
    );
    println!(
        "{} citation links land on {} source entries",
        citations.len(),
        entries.len()
    );

    // The contents list every section and land on its heading.
    let toc = select(&dom, "nav.toc a");
    let toc_hrefs: Vec<&str> = toc
        .iter()
        .map(|a| a.value().attr("href").unwrap())
        .collect();
    for href in &toc_hrefs {
        let tag = &target(href)[0];
        assert!(tag == "h2" || tag == "h3", "{href} lands on a <{tag}>");
    }
    for h2 in select(&dom, "h2") {
        let id = h2.value().attr("id").expect("a section heading has an id");
        assert!(
            toc_hrefs.contains(&format!("#{id}").as_str()),
            "section {id} is not in the contents"
        );
    }
    println!("{} contents links land on headings", toc.len());

    // Verdicts show as badges: the sample corpus disagrees with itself, so some are disputed.
    let badges = select(&dom, "span.badge");
    let classes: Vec<&str> = badges
        .iter()
        .filter_map(|b| b.value().attr("class"))
        .collect();
    assert!(
        classes.iter().any(|c| c.contains("badge-kept")),
        "{classes:?}"
    );
    assert!(
        classes.iter().any(|c| c.contains("badge-disputed")),
        "{classes:?}"
    );
    println!("{} verdict badges", badges.len());

    // Each source links to its file, which is there; no link goes anywhere else.
    let mut file_links = 0;
    for a in select(&dom, "a[href]") {
        let href = a.value().attr("href").unwrap();
        if href.starts_with('#') || href.starts_with("http://") || href.starts_with("https://") {
            continue;
        }
        let url = url::Url::parse(href).unwrap_or_else(|e| panic!("{href}: {e}"));
        assert_eq!(url.scheme(), "file", "{href}");
        let file = url.to_file_path().unwrap();
        assert!(file.is_file(), "{href} is no file");
        assert!(file.starts_with(&corpus), "{href} is not a corpus file");
        file_links += 1;
    }
    assert_eq!(
        file_links,
        entries.len(),
        "every source entry links to its file"
    );

    // A screenshot of the page as a reader sees it.
    let shot = root.path().join("page.png");
    let taken = chromium(
        &page,
        &[
            &format!("--screenshot={}", shot.display()),
            "--window-size=1200,2000",
            "--hide-scrollbars",
        ],
    );
    let png = fs::read(&shot).unwrap_or_else(|e| {
        panic!(
            "no screenshot ({e}): {}",
            String::from_utf8_lossy(&taken.stderr)
        )
    });
    assert!(
        png.starts_with(b"\x89PNG\r\n\x1a\n") && &png[12..16] == b"IHDR",
        "not a PNG"
    );
    let width = u32::from_be_bytes(png[16..20].try_into().unwrap());
    let height = u32::from_be_bytes(png[20..24].try_into().unwrap());
    assert_eq!((width, height), (1200, 2000));
    // A blank page of that size compresses to a few KB; a rendered report does not.
    assert!(png.len() > 30_000, "the screenshot is {} bytes", png.len());
    println!("screenshot {width}x{height}, {} bytes", png.len());
}
