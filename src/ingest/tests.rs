//! End-to-end tests of the ingest stage: real documentation folders and edge-case files.

use std::fs;
use std::path::{Path, PathBuf};

use super::*;

const POSTGRES_DOCS: &str = "/usr/share/doc/postgresql-doc-15/html";
const SQLITE_DOCS: &str = "/usr/share/doc/sqlite3";
const FUNCTOOLS_PAGE: &str = "/usr/share/doc/python3.11/html/library/functools.html";

fn nothing_known(_: &str) -> Option<Prior> {
    None
}

fn ingest_dir(dir: &Path) -> Result<Ingested, IngestError> {
    let files = discover(&[dir.to_path_buf()])?;
    ingest_files(&files, &IngestOptions::default(), &nothing_known)
}

/// The product's core promise, checked on every passage.
fn assert_spans(document: &Document) {
    assert_eq!(
        document.hash,
        blake3::hash(document.text.as_bytes()).to_hex().to_string()
    );
    for (i, passage) in document.passages.iter().enumerate() {
        assert_eq!(
            document.text.get(passage.start..passage.end),
            Some(passage.text.as_str()),
            "span of passage {i} in {}",
            document.id
        );
        assert_eq!(passage.ordinal as usize, i);
        assert_eq!(passage.doc_id, document.id);
        assert!(!passage.text.trim().is_empty());
        assert_eq!(passage.text, passage.text.trim());
    }
}

fn required_dir(path: &str, package: &str) -> PathBuf {
    let dir = PathBuf::from(path);
    assert!(
        dir.is_dir(),
        "{path} is missing: install the {package} package (apt-get install {package}) \
         so this test can check real pages"
    );
    dir
}

fn write(dir: &Path, name: &str, bytes: &[u8]) -> PathBuf {
    let path = dir.join(name);
    fs::write(&path, bytes).unwrap();
    path
}

#[test]
fn every_postgres_page_keeps_the_span_invariant() {
    let dir = required_dir(POSTGRES_DOCS, "postgresql-doc-15");
    let ingested = ingest_dir(&dir).unwrap();
    let html_pages = fs::read_dir(&dir)
        .unwrap()
        .filter(|e| {
            let path = e.as_ref().unwrap().path();
            path.extension().is_some_and(|x| x == "html")
        })
        .count();
    assert!(
        html_pages > 1000,
        "expected the full manual, found {html_pages}"
    );
    // The book's index is a page of links to the other pages: navigation, not content.
    let navigation: Vec<&str> = ingested
        .skipped
        .iter()
        .filter(|s| s.kind == "navigation")
        .map(|s| s.location.as_str())
        .collect();
    assert_eq!(
        navigation,
        [dir.join("bookindex.html").to_string_lossy()],
        "{:?}",
        ingested.skipped
    );
    assert_eq!(
        ingested.documents.len(),
        html_pages - 1,
        "{:?}",
        ingested.skipped
    );
    for document in &ingested.documents {
        assert_eq!(document.format, Format::Html);
        assert!(!document.passages.is_empty(), "{}", document.id);
        assert!(
            !document.text.contains("Prev | Up"),
            "navheader kept in {}",
            document.id
        );
        assert_spans(document);
    }
    for skipped in ingested.skipped.iter().filter(|s| s.kind != "navigation") {
        assert!(
            skipped.reason.starts_with("unsupported file type"),
            "{skipped:?}"
        );
    }

    let select = ingested
        .documents
        .iter()
        .find(|d| d.id.ends_with("/sql-select.html"))
        .unwrap();
    assert_eq!(select.title, "SELECT");
    assert!(
        select.text.starts_with("SELECT\n\nSELECT, TABLE, WITH"),
        "navheader kept"
    );
    let synopsis = select
        .passages
        .iter()
        .find(|p| p.text.contains("[ WITH [ RECURSIVE ]"))
        .unwrap();
    // Both are <h2> on a reference page, so "Synopsis" replaces "SELECT".
    assert_eq!(synopsis.heading_path, vec!["Synopsis"]);
    assert!(
        synopsis.text.contains("\nSELECT [ ALL | DISTINCT"),
        "<pre> keeps lines"
    );
}

#[test]
fn every_sqlite_page_keeps_the_span_invariant() {
    let dir = required_dir(SQLITE_DOCS, "sqlite3-doc");
    let ingested = ingest_dir(&dir).unwrap();
    let html: Vec<&Document> = ingested
        .documents
        .iter()
        .filter(|d| d.format == Format::Html)
        .collect();
    assert!(html.len() > 100, "found {} pages", html.len());
    for document in &ingested.documents {
        assert_spans(document);
    }
    let select = html
        .iter()
        .find(|d| d.id.ends_with("/sqlite3/lang_select.html"))
        .unwrap();
    assert_eq!(select.title, "SELECT");
    for boilerplate in [
        "Choose any three",
        "Search Changelog",
        "toggle_div",
        "Table Of Contents",
    ] {
        assert!(!select.text.contains(boilerplate), "{boilerplate:?} kept");
    }
}

#[test]
fn sphinx_headings_lose_their_pilcrows() {
    assert!(
        Path::new(FUNCTOOLS_PAGE).is_file(),
        "{FUNCTOOLS_PAGE} is missing: install python3.11-doc"
    );
    let files = discover(&[PathBuf::from(FUNCTOOLS_PAGE)]).unwrap();
    let ingested = ingest_files(&files, &IngestOptions::default(), &nothing_known).unwrap();
    let document = &ingested.documents[0];
    assert_spans(document);
    assert!(!document.text.contains('¶'));
    assert!(!document.text.contains("Previous topic"), "sidebar kept");
    let lru = document
        .passages
        .iter()
        .find(|p| p.text.contains("lru_cache"))
        .unwrap();
    assert!(
        lru.heading_path.iter().any(|h| h.contains("functools")),
        "{:?}",
        lru.heading_path
    );
    for passage in &document.passages {
        for heading in &passage.heading_path {
            assert_eq!(heading, heading.trim());
            assert!(
                !heading.contains('¶') && !heading.contains("  "),
                "{heading:?}"
            );
        }
    }
}

#[test]
fn small_html_drops_chrome_and_decodes_entities() {
    let html = b"<html><head><title>Doc</title><style>.x{}</style></head><body>\
        <nav>Menu items</nav><script>alert('x')</script>\
        <h1>Heading</h1><p>Tom &amp; Jerry &lt;3 &eacute;t&eacute;</p></body></html>";
    let document = document_from_bytes("mem:1", "mem:1", "mem", Format::Html, html, None).unwrap();
    assert_spans(&document);
    assert_eq!(document.title, "Doc");
    assert_eq!(document.text, "Heading\n\nTom & Jerry <3 été");
    assert_eq!(document.passages[0].heading_path, vec!["Heading"]);
}

#[test]
fn latin1_html_with_meta_charset_decodes() {
    let dir = tempfile::tempdir().unwrap();
    write(
        dir.path(),
        "latin1.html",
        b"<html><head><meta charset=\"ISO-8859-1\"><title>Caf\xe9</title></head>\
          <body><p>Un caf\xe9 cr\xe8me.</p></body></html>",
    );
    let ingested = ingest_dir(dir.path()).unwrap();
    let document = &ingested.documents[0];
    assert_eq!(document.title, "Café");
    assert!(document.text.contains("café crème"));
}

#[test]
fn invalid_utf8_does_not_panic() {
    let bytes = b"Some text \xff\xfe then \xc3\x28 broken \xe2\x82 bytes.";
    for format in [Format::Text, Format::Markdown, Format::Html] {
        let document = document_from_bytes("x", "x", "c", format, bytes, None).unwrap();
        assert_spans(&document);
        assert!(document.text.contains("then"));
    }
}

#[test]
fn unusable_files_are_skipped_with_reasons() {
    let dir = tempfile::tempdir().unwrap();
    let root = dir.path();
    write(root, "good.txt", b"A perfectly good text file.");
    write(root, "image.png", b"\x89PNG\r\n\x1a\n\0\0\0\rIHDR");
    write(root, "binary.txt", b"\x89PNG\r\n\x1a\n\0\0\0\rIHDR\0\0\0\0");
    write(
        root,
        "empty.html",
        b"<html><body><script>x()</script></body></html>",
    );
    // Sparse: 200 MB by metadata, no data written, so the test is cheap.
    fs::File::create(root.join("huge.txt"))
        .unwrap()
        .set_len(200_000_000)
        .unwrap();
    // Tests run as root, where chmod 000 does not stop reading. A dangling symlink genuinely
    // fails to open, and a socket is not a regular file (reading a FIFO would block).
    std::os::unix::fs::symlink(root.join("gone.txt"), root.join("dangling.txt")).unwrap();
    std::os::unix::fs::symlink(root.join("gone.txt"), root.join(".hidden-dangling")).unwrap();
    let _socket = std::os::unix::net::UnixListener::bind(root.join("socket.txt")).unwrap();

    let ingested = ingest_dir(root).unwrap();
    assert_eq!(ingested.documents.len(), 1);
    assert!(ingested.documents[0].id.ends_with("/good.txt"));
    let reason = |name: &str| {
        ingested
            .skipped
            .iter()
            .find(|s| s.location.ends_with(name))
            .map(|s| s.reason.clone())
            .unwrap_or_else(|| panic!("{name} not skipped: {:?}", ingested.skipped))
    };
    assert_eq!(reason("/image.png"), "unsupported file type: .png");
    assert_eq!(reason("/binary.txt"), "binary file");
    assert_eq!(reason("/empty.html"), "empty after extraction");
    assert_eq!(
        reason("/huge.txt"),
        "larger than max_file_bytes (200000000 > 67108864 bytes)"
    );
    assert!(reason("/dangling.txt").starts_with("unreadable:"));
    assert_eq!(reason("/socket.txt"), "not a regular file");
    assert_eq!(ingested.skipped.len(), 6);
}

#[test]
fn missing_root_is_not_found() {
    let dir = tempfile::tempdir().unwrap();
    let missing = dir.path().join("nope");
    match discover(std::slice::from_ref(&missing)) {
        Err(IngestError::NotFound(path)) => assert_eq!(path, missing),
        other => panic!("expected NotFound, got {other:?}"),
    }
}

#[test]
fn folder_without_usable_files_is_no_documents() {
    let dir = tempfile::tempdir().unwrap();
    write(dir.path(), "only.png", b"\x89PNG\r\n\x1a\n\0\0");
    match ingest_dir(dir.path()) {
        Err(IngestError::NoDocuments(root)) => {
            assert_eq!(root, fs::canonicalize(dir.path()).unwrap());
        }
        other => panic!("expected NoDocuments, got {other:?}"),
    }
    let empty: &[SourceFile] = &[];
    assert!(matches!(
        ingest_files(empty, &IngestOptions::default(), &nothing_known),
        Err(IngestError::NoDocuments(_))
    ));
}

#[test]
fn unchanged_files_are_counted_not_extracted() {
    let dir = tempfile::tempdir().unwrap();
    write(dir.path(), "a.txt", b"First file.");
    let b = write(dir.path(), "b.md", b"# B\n\nSecond file.");
    let files = discover(&[dir.path().to_path_buf()]).unwrap();
    let b_id = fs::canonicalize(&b).unwrap().to_string_lossy().into_owned();
    let b_hash = raw_hash(b"# B\n\nSecond file.");
    let asked = std::sync::Mutex::new(Vec::new());
    // Known by its hash only (no metadata): read, found the same, not extracted.
    let prior = |id: &str| {
        asked.lock().unwrap().push(id.to_string());
        (id == b_id).then(|| Prior {
            raw_hash: b_hash.clone(),
            file: None,
        })
    };
    let ingested = ingest_files(&files, &IngestOptions::default(), &prior).unwrap();
    assert_eq!(ingested.unchanged, 1);
    assert_eq!(ingested.read, 2);
    assert_eq!(ingested.documents.len(), 1);
    assert!(ingested.documents[0].id.ends_with("/a.txt"));
    assert_eq!(asked.lock().unwrap().len(), 2);

    // Known with the metadata they have now: not even read. Everything unchanged is not an
    // error: the index is simply up to date.
    let meta = |id: &str| FileMeta::of(&fs::metadata(id).unwrap());
    let same = |id: &str| {
        Some(Prior {
            raw_hash: raw_hash(b"other bytes, once"),
            file: Some(meta(id)),
        })
    };
    let all = ingest_files(&files, &IngestOptions::default(), &same).unwrap();
    assert_eq!((all.unchanged, all.read, all.documents.len()), (2, 0, 0));
    // Indexed by an earlier extraction (its hash is the bytes' alone): the metadata does not
    // vouch for passages this extraction would make otherwise, so both are made again.
    let earlier = |id: &str| {
        Some(Prior {
            raw_hash: blake3::hash(&fs::read(id).unwrap()).to_hex().to_string(),
            file: Some(meta(id)),
        })
    };
    let all = ingest_files(&files, &IngestOptions::default(), &earlier).unwrap();
    assert_eq!((all.unchanged, all.read, all.documents.len()), (0, 2, 2));
    // A re-hash reads them and finds the content changed.
    let rehash = IngestOptions {
        rehash: true,
        ..IngestOptions::default()
    };
    let all = ingest_files(&files, &rehash, &same).unwrap();
    assert_eq!((all.unchanged, all.read, all.documents.len()), (0, 2, 2));
}

#[test]
fn extracted_documents_carry_the_metadata_they_were_read_with() {
    let dir = tempfile::tempdir().unwrap();
    let a = write(dir.path(), "a.txt", b"Old enough to be trusted.");
    let t = std::time::UNIX_EPOCH + std::time::Duration::from_secs(1_600_000_000);
    fs::File::options()
        .write(true)
        .open(&a)
        .unwrap()
        .set_modified(t)
        .unwrap();
    write(dir.path(), "b.txt", b"Written just now.");
    let ingested = ingest_dir(dir.path()).unwrap();
    let a_meta = FileMeta::of(&fs::metadata(&a).unwrap());
    assert_eq!(ingested.documents[0].file, Some(a_meta));
    assert_eq!(a_meta.mtime_ns, 1_600_000_000_000_000_000);
    // Modified within the racy window: not trusted, so the next run reads it.
    assert_eq!(ingested.documents[1].file, None);
}

#[test]
fn markdown_code_fences_are_not_passages() {
    let dir = tempfile::tempdir().unwrap();
    let text = "# Setup\n\nRun the installer.\n\n```bash\nrm -rf /tmp/secret\n```\n\nDone.\n";
    write(dir.path(), "guide.md", text.as_bytes());
    let ingested = ingest_dir(dir.path()).unwrap();
    let document = &ingested.documents[0];
    assert_eq!(document.text, text);
    assert_eq!(document.title, "Setup");
    assert_spans(document);
    let texts: Vec<&str> = document.passages.iter().map(|p| p.text.as_str()).collect();
    assert_eq!(texts, vec!["Run the installer.", "Done."]);
}

#[test]
fn ingest_is_deterministic() {
    let dir = tempfile::tempdir().unwrap();
    let long = "Sentence number one is here. Another One follows it. ".repeat(80);
    write(dir.path(), "long.txt", long.as_bytes());
    write(
        dir.path(),
        "page.html",
        b"<h1>A</h1><p>one</p><h2>B</h2><p>two</p>",
    );
    write(dir.path(), "notes.md", b"# N\n\ntext\n");
    let first = ingest_dir(dir.path()).unwrap();
    let second = ingest_dir(dir.path()).unwrap();
    assert_eq!(first, second);
    let ids: Vec<&str> = first.documents.iter().map(|d| d.id.as_str()).collect();
    let mut sorted = ids.clone();
    sorted.sort();
    assert_eq!(ids, sorted);
    let long_doc = &first.documents[0];
    assert!(long_doc.passages.len() > 1);
    assert_spans(long_doc);
}

#[test]
fn discovery_skips_hidden_entries_and_sorts() {
    let dir = tempfile::tempdir().unwrap();
    let root = dir.path();
    fs::create_dir_all(root.join(".git/objects")).unwrap();
    fs::create_dir_all(root.join("sub")).unwrap();
    write(root, ".hidden.txt", b"secret");
    write(&root.join(".git"), "config", b"secret");
    write(&root.join("sub"), "b.txt", b"b");
    write(root, "a.txt", b"a");
    write(root, "c", b"c");
    let files = discover(&[root.to_path_buf(), root.join("a.txt")]).unwrap();
    let canonical = fs::canonicalize(root).unwrap();
    let names: Vec<PathBuf> = files
        .iter()
        .map(|f| f.path.strip_prefix(&canonical).unwrap().to_path_buf())
        .collect();
    assert_eq!(
        names,
        vec![PathBuf::from("a.txt"), "c".into(), "sub/b.txt".into()]
    );
    assert!(files
        .iter()
        .all(|f| f.corpus == canonical.to_string_lossy()));
    assert_eq!(files[0].len, 1);

    // A single file is its own corpus.
    let single = discover(&[root.join("sub/b.txt")]).unwrap();
    assert_eq!(single.len(), 1);
    assert_eq!(single[0].corpus, single[0].path.to_string_lossy());
}

#[test]
fn symlinks_resolve_to_canonical_paths() {
    let dir = tempfile::tempdir().unwrap();
    let root = dir.path();
    fs::create_dir_all(root.join("real")).unwrap();
    write(&root.join("real"), "doc.txt", b"text");
    std::os::unix::fs::symlink(root.join("real"), root.join("linked")).unwrap();
    std::os::unix::fs::symlink(root, root.join("real/loop")).unwrap();
    let files = discover(&[root.to_path_buf()]).unwrap();
    let canonical = fs::canonicalize(root.join("real/doc.txt")).unwrap();
    assert_eq!(files.len(), 1, "{files:?}");
    assert_eq!(files[0].path, canonical);
}

#[test]
fn formats_come_from_extensions() {
    assert_eq!(format_for_path(Path::new("a/b.HTML")), Some(Format::Html));
    assert_eq!(format_for_path(Path::new("b.xhtml")), Some(Format::Html));
    assert_eq!(
        format_for_path(Path::new("b.markdown")),
        Some(Format::Markdown)
    );
    assert_eq!(format_for_path(Path::new("README")), Some(Format::Text));
    assert_eq!(format_for_path(Path::new("notes.rst")), Some(Format::Text));
    assert_eq!(format_for_path(Path::new("x.PDF")), Some(Format::Pdf));
    assert_eq!(format_for_path(Path::new("x.css")), None);
}

#[test]
fn titles_fall_back_to_the_file_stem() {
    let long_line = "word ".repeat(40);
    let document = document_from_bytes(
        "https://example.org/path/page.txt",
        "https://example.org/path/page.txt",
        "web",
        Format::Text,
        long_line.as_bytes(),
        None,
    )
    .unwrap();
    assert_eq!(document.title, "page");
    let html =
        document_from_bytes("x", "dir/file.html", "c", Format::Html, b"<p>t</p>", None).unwrap();
    assert_eq!(html.title, "file");
}

#[test]
fn garbage_never_panics() {
    let inputs: Vec<Vec<u8>> = vec![
        Vec::new(),
        vec![0xFF, 0xFE],
        vec![0xFE, 0xFF, 0xD8],
        vec![0xEF, 0xBB, 0xBF],
        b"\r\r\n\r".to_vec(),
        (0u8..=255).collect(),
        (0..10_000).map(|i| (i % 251) as u8 | 0x80).collect(),
        "é".repeat(3000).into_bytes(),
    ];
    for bytes in &inputs {
        for format in [Format::Html, Format::Markdown, Format::Text] {
            if let Ok(document) = document_from_bytes("g", "g", "c", format, bytes, Some("utf-8")) {
                assert_spans(&document);
            }
        }
    }
}

#[test]
fn a_sphinx_builds_copies_of_its_pages_are_not_indexed_twice() {
    let dir = tempfile::tempdir().unwrap();
    let root = dir.path();
    for sub in [
        "docs/library",
        "docs/_sources/library",
        "docs/_static",
        "notes/_sources",
    ] {
        fs::create_dir_all(root.join(sub)).unwrap();
    }
    let html = b"<html><head><title>Errors</title></head><body><p>Use add_note() to attach context to an exception.</p></body></html>";
    write(root, "docs/searchindex.js", b"Search.setIndex({})");
    write(root, "docs/library/errors.html", html);
    write(
        root,
        "docs/_sources/library/errors.rst.txt",
        b"Use :meth:`add_note` to attach context to an exception.",
    );
    write(
        root,
        "docs/_static/notes.txt",
        b"Bundled text of the theme.",
    );
    // Without Sphinx's mark beside it, a folder of that name is an ordinary folder.
    write(
        root,
        "notes/_sources/plan.txt",
        b"The plan is to ship in May.",
    );

    let ingested = ingest_dir(root).unwrap();
    let mut kept: Vec<&str> = ingested
        .documents
        .iter()
        .map(|d| d.id.strip_prefix(root.to_str().unwrap()).unwrap())
        .collect();
    kept.sort();
    assert_eq!(
        kept,
        ["/docs/library/errors.html", "/notes/_sources/plan.txt"]
    );
    let kind = |name: &str| {
        ingested
            .skipped
            .iter()
            .find(|s| s.location.ends_with(name))
            .map(|s| s.kind.clone())
            .unwrap_or_else(|| panic!("{name} not skipped: {:?}", ingested.skipped))
    };
    assert_eq!(kind("/errors.rst.txt"), "duplicate");
    assert_eq!(kind("/_static/notes.txt"), "build-file");
}
