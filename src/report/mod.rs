//! Stage 5: the report. Every citation is checked against the stored source once more right
//! before writing (a claim left without a good citation is not reported as a finding); the
//! Markdown is parsed back to prove every quote and citation survived rendering; then the
//! Markdown, HTML and JSON audit are written beside each other, never over an existing file.

mod markdown;

pub use markdown::{
    check_markdown, esc, render_markdown, render_skipped, render_sources, vote_item, CitationIndex,
};

use crate::artifact::{Report, Status};
use crate::index::{IndexError, Store};
use crate::quote::QuoteChecker;
use std::fs::OpenOptions;
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
    #[error(transparent)]
    Index(#[from] IndexError),
}

/// Re-check every citation against the stored text. Failing citations are removed; a kept or
/// disputed claim left without one is dropped; failing vote evidence is not shown.
pub fn recheck_quotes(report: &mut Report, store: &Store) -> Result<usize, IndexError> {
    let mut checker = QuoteChecker::new(store);
    let mut failed = 0;
    for r in &mut report.reviewed {
        let before = r.claim.citations.len();
        let mut good = Vec::with_capacity(before);
        for c in r.claim.citations.drain(..) {
            if checker.check(&c)? {
                good.push(c);
            }
        }
        r.claim.citations = good;
        if r.claim.citations.is_empty() && r.verdict.status != Status::Dropped {
            r.verdict.status = Status::Dropped;
            r.verdict.reason = "its quote was not found in the stored source".into();
            failed += 1;
        }
        for v in &mut r.votes {
            if let Some(e) = &v.evidence {
                if !checker.check(e)? {
                    v.evidence = None;
                    v.note
                        .push_str(" (evidence quote failed the check and is not shown)");
                }
            }
        }
    }
    let kept: std::collections::HashSet<&str> = report
        .reviewed
        .iter()
        .filter(|r| r.verdict.status == Status::Kept)
        .map(|r| r.claim.id.as_str())
        .collect();
    for s in &mut report.sections {
        s.sentences.retain(|sent| {
            !sent.claim_ids.is_empty() && sent.claim_ids.iter().all(|id| kept.contains(id.as_str()))
        });
    }
    report.sections.retain(|s| !s.sentences.is_empty());
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

/// Render, self-check and write `<stem>.md`, `.html` and `.json` under `out_dir`. When a report
/// of that name exists, `-2`, `-3`... is appended: nothing is overwritten.
pub fn write(report: &Report, out_dir: &Path, stem: &str) -> Result<Written, ReportError> {
    let (md, sources) = render_markdown(report);
    let audit = serde_json::to_string_pretty(report)
        .map_err(|e| ReportError::Malformed(format!("audit does not serialise: {e}")))?;
    write_rendered(&md, &sources, &report.title, &audit, out_dir, stem)
}

/// [`write`] for any report already rendered: `md` is parsed back and checked against the
/// `sources` it cites, then `<stem>.md`, `.html` (titled `title`) and `.json` (`audit`) are
/// written under `out_dir`, never over an existing file.
pub fn write_rendered(
    md: &str,
    sources: &[crate::artifact::Citation],
    title: &str,
    audit: &str,
    out_dir: &Path,
    stem: &str,
) -> Result<Written, ReportError> {
    check_markdown(md, sources).map_err(ReportError::Malformed)?;
    let html = render_html(md, title);
    std::fs::create_dir_all(out_dir).map_err(|source| ReportError::CreateDir {
        dir: out_dir.to_path_buf(),
        source,
    })?;
    for n in 1.. {
        let base = if n == 1 {
            stem.to_string()
        } else {
            format!("{stem}-{n}")
        };
        let paths = Written {
            markdown: out_dir.join(format!("{base}.md")),
            html: out_dir.join(format!("{base}.html")),
            audit: out_dir.join(format!("{base}.json")),
        };
        if [&paths.markdown, &paths.html, &paths.audit]
            .iter()
            .any(|p| p.exists())
        {
            continue;
        }
        // create_new: a file that appeared since the check above is still never overwritten.
        match create_new(&paths.markdown, md.as_bytes()) {
            Ok(()) => {}
            Err(e) if e.kind() == std::io::ErrorKind::AlreadyExists => continue,
            Err(source) => {
                return Err(ReportError::Write {
                    path: paths.markdown,
                    source,
                })
            }
        }
        for (path, body) in [
            (&paths.html, html.as_bytes()),
            (&paths.audit, audit.as_bytes()),
        ] {
            create_new(path, body).map_err(|source| ReportError::Write {
                path: path.clone(),
                source,
            })?;
        }
        return Ok(paths);
    }
    unreachable!("an unbounded counter always finds a free name")
}

fn create_new(path: &Path, body: &[u8]) -> std::io::Result<()> {
    let mut f = OpenOptions::new().write(true).create_new(true).open(path)?;
    f.write_all(body)?;
    f.sync_all()
}

/// A standalone HTML page of the Markdown report.
pub fn render_html(md: &str, title: &str) -> String {
    let mut options = comrak::Options::default();
    options.extension.table = true;
    options.extension.autolink = true;
    let body = comrak::markdown_to_html(md, &options);
    let title = html_escape(title);
    format!(
        "<!DOCTYPE html>\n<html lang=\"en\">\n<head>\n<meta charset=\"utf-8\">\n<title>{title}</title>\n\
<style>body{{max-width:50rem;margin:2rem auto;padding:0 1rem;font:16px/1.55 system-ui,sans-serif;color:#222}}\
blockquote{{margin:.3rem 0 .8rem;padding-left:.8rem;border-left:3px solid #ccc;color:#444}}\
code{{font-size:.9em}}h2{{border-bottom:1px solid #ddd;padding-bottom:.2rem}}</style>\n</head>\n<body>\n{body}</body>\n</html>\n"
    )
}

fn html_escape(s: &str) -> String {
    s.replace('&', "&amp;")
        .replace('<', "&lt;")
        .replace('>', "&gt;")
        .replace('"', "&quot;")
}

/// `<date>-<slug>` for a question.
pub fn file_stem(question: &str, date: &str) -> String {
    format!("{date}-{}", crate::text::slug(question, 60))
}
