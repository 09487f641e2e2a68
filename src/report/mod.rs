//! Stage 5: the report. Every citation is checked against the stored source once more right
//! before writing (a claim left without a good citation is not reported as a finding); the
//! Markdown is parsed back to prove every quote and citation survived rendering; then the
//! Markdown, HTML and JSON audit are written beside each other, never over an existing file.

mod html;
mod markdown;

pub use html::render_html;

pub use markdown::{
    check_markdown, esc, render_markdown, render_skipped, render_sources, vote_item, CitationIndex,
};

use crate::artifact::{Report, Status};
use crate::index::{IndexError, SearchBackend};
use crate::quote::QuoteChecker;
use std::io::Write;
use std::path::{Path, PathBuf};

#[derive(Debug, thiserror::Error)]
pub enum ReportError {
    #[error("cannot create the report folder {dir}")]
    CreateDir {
        dir: PathBuf,
        source: std::io::Error,
    },
    #[error("cannot write {path}")]
    Write {
        path: PathBuf,
        source: std::io::Error,
    },
    #[error("the rendered report failed its own check ({0}); nothing was written")]
    Malformed(String),
    /// Another writer put a different file under one of the set's names.
    #[error("{} appeared while the report was being written; it was left as it is", .0.display())]
    Taken(PathBuf),
    #[error(transparent)]
    Index(#[from] IndexError),
}

/// Re-check every citation against the stored text. Failing citations are removed; a kept or
/// disputed claim left without one is dropped; failing vote evidence is not shown.
pub fn recheck_quotes(report: &mut Report, store: &dyn SearchBackend) -> Result<usize, IndexError> {
    let mut checker = QuoteChecker::new(store);
    let mut failed = 0;
    for r in &mut report.reviewed {
        failed += usize::from(checker.recheck_reviewed(r)?);
    }
    let kept: std::collections::HashSet<&str> = report
        .reviewed
        .iter()
        .filter(|r| r.verdict.status == Status::Kept)
        .map(|r| r.claim.id.as_str())
        .collect();
    let rests_on_kept = |sent: &crate::artifact::Sentence| {
        !sent.claim_ids.is_empty() && sent.claim_ids.iter().all(|id| kept.contains(id.as_str()))
    };
    for s in &mut report.sections {
        s.sentences.retain(rests_on_kept);
    }
    report.sections.retain(|s| !s.sentences.is_empty());
    // A part left without its sentences says it is unanswered; it is never padded.
    for p in &mut report.answer.parts {
        p.sentences.retain(rests_on_kept);
    }
    report.answer.key_facts.retain(rests_on_kept);
    report.stats.quotes_failed += failed;
    recount(report);
    Ok(failed)
}

/// Bring the status counters in line with the verdicts.
pub fn recount(report: &mut Report) {
    let count = |s: Status| {
        report
            .reviewed
            .iter()
            .filter(|r| r.verdict.status == s)
            .count()
    };
    report.stats.kept = count(Status::Kept);
    report.stats.disputed = count(Status::Disputed);
    report.stats.dropped = count(Status::Dropped);
    report.stats.unverified = count(Status::Unverified);
}

/// Paths of one written report.
#[derive(Debug, Clone, PartialEq)]
pub struct Written {
    pub markdown: PathBuf,
    pub html: PathBuf,
    pub audit: PathBuf,
}

/// One report rendered and self-checked, before anything is written: what a journaled run
/// records, so a resumed run writes the very same bytes under the very same name.
#[derive(Debug, Clone, PartialEq, serde::Serialize, serde::Deserialize)]
pub struct Rendered {
    /// The file name without extension; `-2`, `-3`... when the plain name was taken.
    pub base: String,
    pub markdown: String,
    pub html: String,
    pub audit: String,
}

impl Rendered {
    /// The set's files in the order they are put in place: the Markdown, the file a user
    /// opens, comes last, so a set whose Markdown is there is whole.
    fn files<'a>(&'a self, out_dir: &Path) -> [(PathBuf, &'a str); 3] {
        [
            (out_dir.join(format!("{}.json", self.base)), &self.audit),
            (out_dir.join(format!("{}.html", self.base)), &self.html),
            (out_dir.join(format!("{}.md", self.base)), &self.markdown),
        ]
    }

    fn written(&self, out_dir: &Path) -> Written {
        Written {
            markdown: out_dir.join(format!("{}.md", self.base)),
            html: out_dir.join(format!("{}.html", self.base)),
            audit: out_dir.join(format!("{}.json", self.base)),
        }
    }
}

/// Render a question report and check the Markdown against the sources it cites.
pub fn render(report: &Report, out_dir: &Path, stem: &str) -> Result<Rendered, ReportError> {
    let (md, sources) = render_markdown(report);
    let audit = serde_json::to_string_pretty(report)
        .map_err(|e| ReportError::Malformed(format!("audit does not serialise: {e}")))?;
    render_checked(md, &sources, &report.title, audit, out_dir, stem)
}

/// [`render`] for any report already rendered to Markdown: `md` is parsed back and checked
/// against the `sources` it cites, the HTML page is made, and the first base name free under
/// `out_dir` (no `.md`, `.html` or `.json` of that name) is chosen.
pub fn render_checked(
    md: String,
    sources: &[crate::artifact::Citation],
    title: &str,
    audit: String,
    out_dir: &Path,
    stem: &str,
) -> Result<Rendered, ReportError> {
    check_markdown(&md, sources).map_err(ReportError::Malformed)?;
    let html = render_html(&md, title);
    Ok(Rendered {
        base: free_base(out_dir, stem),
        markdown: md,
        html,
        audit,
    })
}

/// The first of `stem`, `stem-2`, `stem-3`... with none of the set's files under `out_dir`.
fn free_base(out_dir: &Path, stem: &str) -> String {
    (1..)
        .map(|n| {
            if n == 1 {
                stem.to_string()
            } else {
                format!("{stem}-{n}")
            }
        })
        .find(|base| {
            ["md", "html", "json"]
                .iter()
                .all(|ext| !out_dir.join(format!("{base}.{ext}")).exists())
        })
        .expect("an unbounded counter always finds a free name")
}

/// Render, self-check and write `<stem>.md`, `.html` and `.json` under `out_dir` (see
/// [`write_set`]); nothing is overwritten.
pub fn write(report: &Report, out_dir: &Path, stem: &str) -> Result<Written, ReportError> {
    let rendered = render(report, out_dir, stem)?;
    write_fresh(rendered, out_dir, stem)
}

/// [`write`] for a report rendered by the caller (see [`render_checked`]).
pub fn write_rendered(
    md: &str,
    sources: &[crate::artifact::Citation],
    title: &str,
    audit: &str,
    out_dir: &Path,
    stem: &str,
) -> Result<Written, ReportError> {
    let rendered = render_checked(md.into(), sources, title, audit.into(), out_dir, stem)?;
    write_fresh(rendered, out_dir, stem)
}

/// Write a set, moving on to the next free name when another writer took this one meanwhile.
fn write_fresh(mut rendered: Rendered, out_dir: &Path, stem: &str) -> Result<Written, ReportError> {
    loop {
        match write_set(&rendered, out_dir, &mut |_| {}) {
            Err(ReportError::Taken(_)) => rendered.base = free_base(out_dir, stem),
            other => return other,
        }
    }
}

/// Put a rendered set in place under `out_dir`, all of it or none of it. Every file is first
/// written and synced under a hidden temporary name in the same folder; only when all three are
/// on disk is each linked to its real name, which fails rather than replace a file. So a full
/// disk or a kill while writing never leaves a truncated file under a report's name. A file
/// already there with exactly the set's bytes counts as written: a resumed run finishing the
/// set it began. `placed` hears of each file as it appears.
pub fn write_set(
    rendered: &Rendered,
    out_dir: &Path,
    placed: &mut dyn FnMut(&Path),
) -> Result<Written, ReportError> {
    std::fs::create_dir_all(out_dir).map_err(|source| ReportError::CreateDir {
        dir: out_dir.to_path_buf(),
        source,
    })?;
    let files = rendered.files(out_dir);
    let mut pending = Vec::with_capacity(files.len());
    for (path, body) in &files {
        match std::fs::read(path) {
            Ok(there) if there == body.as_bytes() => continue,
            Ok(_) => return Err(ReportError::Taken(path.clone())),
            Err(e) if e.kind() == std::io::ErrorKind::NotFound => {}
            Err(source) => {
                return Err(ReportError::Write {
                    path: path.clone(),
                    source,
                })
            }
        }
        let temp = temp_name(path);
        if let Err(source) = write_synced(&temp, body.as_bytes()) {
            let _ = std::fs::remove_file(&temp);
            for (_, t) in &pending {
                let _ = std::fs::remove_file(t);
            }
            return Err(ReportError::Write {
                path: path.clone(),
                source,
            });
        }
        pending.push((path.clone(), temp));
    }
    for (path, temp) in &pending {
        // link(2) never replaces: a name taken since the check above stays as it was.
        let linked = std::fs::hard_link(temp, path);
        let _ = std::fs::remove_file(temp);
        match linked {
            Ok(()) => placed(path),
            Err(e) if e.kind() == std::io::ErrorKind::AlreadyExists => {
                for (_, t) in &pending {
                    let _ = std::fs::remove_file(t);
                }
                return Err(ReportError::Taken(path.clone()));
            }
            Err(source) => {
                for (_, t) in &pending {
                    let _ = std::fs::remove_file(t);
                }
                return Err(ReportError::Write {
                    path: path.clone(),
                    source,
                });
            }
        }
    }
    remove_stale_temps(&files);
    // The new names themselves survive a power cut only once the folder is synced.
    if let Ok(dir) = std::fs::File::open(out_dir) {
        let _ = dir.sync_all();
    }
    Ok(rendered.written(out_dir))
}

/// Write `body` to `path`, which must not exist, all of it or none of it: under a temporary
/// name first, then linked into place.
pub fn write_new(path: &Path, body: &[u8]) -> std::io::Result<()> {
    let temp = temp_name(path);
    let result = write_synced(&temp, body).and_then(|()| std::fs::hard_link(&temp, path));
    let _ = std::fs::remove_file(&temp);
    result
}

/// `.<name>.<pid>.partial` beside `path`: hidden, never a report's own name, and not shared
/// with another process writing the same set.
fn temp_name(path: &Path) -> PathBuf {
    let name = path
        .file_name()
        .map(|n| n.to_string_lossy().into_owned())
        .unwrap_or_default();
    path.with_file_name(format!(".{name}.{}.partial", std::process::id()))
}

/// Temporary files of this set left by a writer killed between its links (any pid): the set is
/// whole now, so they are only litter.
fn remove_stale_temps(files: &[(PathBuf, &str)]) {
    for (path, _) in files {
        let (Some(dir), Some(name)) = (path.parent(), path.file_name()) else {
            continue;
        };
        let prefix = format!(".{}.", name.to_string_lossy());
        let Ok(entries) = std::fs::read_dir(dir) else {
            continue;
        };
        for e in entries.flatten() {
            let n = e.file_name().to_string_lossy().into_owned();
            let stale = n
                .strip_prefix(&prefix)
                .and_then(|r| r.strip_suffix(".partial"));
            if stale.is_some_and(|pid| !pid.is_empty() && pid.bytes().all(|b| b.is_ascii_digit())) {
                let _ = std::fs::remove_file(e.path());
            }
        }
    }
}

fn write_synced(path: &Path, body: &[u8]) -> std::io::Result<()> {
    let mut f = std::fs::File::create(path)?;
    f.write_all(body)?;
    f.sync_all()
}

/// `<date>-<slug>` for a question.
pub fn file_stem(question: &str, date: &str) -> String {
    format!("{date}-{}", crate::text::slug(question, 60))
}

#[cfg(test)]
mod tests {
    use super::*;

    fn set(base: &str) -> Rendered {
        Rendered {
            base: base.into(),
            markdown: "# Report\n".into(),
            html: "<h1>Report</h1>\n".into(),
            audit: "{}\n".into(),
        }
    }

    fn names(dir: &Path) -> Vec<String> {
        let mut v: Vec<String> = std::fs::read_dir(dir)
            .unwrap()
            .map(|e| e.unwrap().file_name().to_string_lossy().into_owned())
            .collect();
        v.sort();
        v
    }

    #[test]
    fn a_write_that_fails_midway_leaves_nothing_under_the_report_names() {
        let dir = tempfile::tempdir().unwrap();
        let r = set("r");
        // The HTML's temporary file cannot be created (a folder holds its name), as when the
        // disk fills after the audit was written.
        let blocker = temp_name(&dir.path().join("r.html"));
        std::fs::create_dir(&blocker).unwrap();
        let err = write_set(&r, dir.path(), &mut |_| {}).unwrap_err();
        assert!(matches!(err, ReportError::Write { .. }), "{err}");
        std::fs::remove_dir(&blocker).unwrap();
        assert!(names(dir.path()).is_empty(), "{:?}", names(dir.path()));
    }

    #[test]
    fn a_set_begun_before_a_kill_is_finished_under_the_same_name() {
        let dir = tempfile::tempdir().unwrap();
        let r = set("r");
        let mut seen = Vec::new();
        write_set(&r, dir.path(), &mut |p| seen.push(p.to_path_buf())).unwrap();
        assert_eq!(
            seen.last().unwrap(),
            &dir.path().join("r.md"),
            "Markdown last"
        );
        // A kill after the audit and the HTML were in place.
        std::fs::remove_file(dir.path().join("r.md")).unwrap();
        let w = write_set(&r, dir.path(), &mut |_| {}).unwrap();
        assert_eq!(w.markdown, dir.path().join("r.md"));
        assert_eq!(names(dir.path()), ["r.html", "r.json", "r.md"]);
        assert_eq!(std::fs::read_to_string(&w.markdown).unwrap(), r.markdown);
    }

    #[test]
    fn a_different_file_under_the_name_is_left_alone_and_a_new_name_chosen() {
        let dir = tempfile::tempdir().unwrap();
        std::fs::write(dir.path().join("r.json"), "the user's own file").unwrap();
        let r = set("r");
        assert!(matches!(
            write_set(&r, dir.path(), &mut |_| {}),
            Err(ReportError::Taken(_))
        ));
        let w = write_fresh(r, dir.path(), "r").unwrap();
        assert_eq!(w.markdown, dir.path().join("r-2.md"));
        assert_eq!(
            std::fs::read_to_string(dir.path().join("r.json")).unwrap(),
            "the user's own file"
        );
        assert_eq!(
            names(dir.path()),
            ["r-2.html", "r-2.json", "r-2.md", "r.json"]
        );
    }

    #[test]
    fn write_new_never_replaces_a_file() {
        let dir = tempfile::tempdir().unwrap();
        let p = dir.path().join("out.json");
        write_new(&p, b"first").unwrap();
        let e = write_new(&p, b"second").unwrap_err();
        assert_eq!(e.kind(), std::io::ErrorKind::AlreadyExists);
        assert_eq!(std::fs::read(&p).unwrap(), b"first");
        assert_eq!(names(dir.path()), ["out.json"]);
    }
}
