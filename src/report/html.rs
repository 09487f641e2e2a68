//! The HTML page of a report: its Markdown rendered by comrak, plus what a reader of a page
//! expects: a table of contents, verdicts as coloured badges, each source's location as a link
//! to its file or URL, and quotes that keep their lines and indentation.
//!
//! Everything the report says that came from a source (titles, quotes, claims, locations) is
//! data: it reaches the page as escaped text only. The raw HTML let through is the sources'
//! `<span id="src-N">` anchors and what this module writes itself, and the only links are
//! in-page ones and http(s) or file URLs.

use super::markdown::is_source_anchor;
use crate::text::squash_whitespace;
use comrak::nodes::{AstNode, NodeLink, NodeValue};
use comrak::Arena;
use std::path::Path;

type Node<'a> = &'a AstNode<'a>;

/// Headings get ids `sec-<slug>`: never one of the sources' `src-N` anchors, whatever a
/// heading (a disputed claim's text, say) reads.
const HEADING_ID_PREFIX: &str = "sec-";

/// A standalone HTML page of the Markdown report `md`. A source location that is a relative
/// path (the bundled sample corpus) is linked when that file is under the working directory.
pub fn render_html(md: &str, title: &str) -> String {
    let cwd = std::env::current_dir().ok();
    page(md, title, cwd.as_deref())
}

/// [`render_html`] with relative source locations resolved against `base`.
fn page(md: &str, title: &str, base: Option<&Path>) -> String {
    let mut options = comrak::Options::default();
    options.extension.table = true;
    options.extension.autolink = true;
    options.extension.header_id_prefix = Some(HEADING_ID_PREFIX.into());
    options.extension.header_id_prefix_in_href = true;
    // Raw HTML is let through only after `disarm` has turned every raw node that is not a
    // source anchor into text; the badges and contents below are raw nodes written here.
    options.render.r#unsafe = true;
    let arena = Arena::new();
    let root = comrak::parse_document(&arena, md, &options);
    disarm(&arena, root);
    merge_text(root);
    unlink_other_schemes(root);
    link_locations(&arena, root, base);
    add_badges(&arena, root);
    add_contents(&arena, root);
    let mut body = String::new();
    // Writing into a String cannot fail.
    let _ = comrak::format_html(root, &options, &mut body);
    let title = html_escape(title);
    format!(
        "<!DOCTYPE html>\n<html lang=\"en\">\n<head>\n<meta charset=\"utf-8\">\n\
<meta name=\"viewport\" content=\"width=device-width, initial-scale=1\">\n<title>{title}</title>\n\
<style>{STYLE}</style>\n</head>\n<body>\n{body}</body>\n</html>\n"
    )
}

const STYLE: &str = "body{max-width:50rem;margin:2rem auto;padding:0 1rem;font:16px/1.55 system-ui,sans-serif;color:#222}\
blockquote{margin:.3rem 0 .8rem;padding-left:.8rem;border-left:3px solid #ccc;color:#444}\
blockquote p{white-space:pre-wrap;tab-size:8}\
code{font-size:.9em}h2{border-bottom:1px solid #ddd;padding-bottom:.2rem}\
a.anchor{margin-left:.3em;color:#999;text-decoration:none}a.anchor::before{content:\"#\";visibility:hidden}\
h2:hover a.anchor::before,h3:hover a.anchor::before{visibility:visible}\
nav.toc{border:1px solid #ddd;border-radius:4px;background:#fafafa;padding:.4rem 1rem;margin:1rem 0 1.5rem}\
nav.toc>p{margin:.2rem 0;font-weight:600}nav.toc ul{margin:.2rem 0;padding-left:1.2rem}\
.badge{display:inline-block;padding:0 .5em;border:1px solid;border-radius:.8em;font-size:.78em;\
font-weight:600;line-height:1.5;vertical-align:.1em;white-space:nowrap}\
.badge-kept{background:#e6f4ea;color:#1e6b34;border-color:#a8d5b5}\
.badge-disputed{background:#fff4e0;color:#8a5300;border-color:#efc684}\
.badge-refuted{background:#fdeaea;color:#a01e1e;border-color:#efb0b0}\
.badge-dropped{background:#f1f1f1;color:#555;border-color:#ccc}\
.badge-unverified{background:#eaf1fb;color:#2b5591;border-color:#b3c9ea}\
.badge-none{opacity:.55}";

fn node<'a>(arena: &'a Arena<'a>, value: NodeValue) -> Node<'a> {
    arena.alloc(AstNode::from(value))
}

fn text<'a>(arena: &'a Arena<'a>, s: &str) -> Node<'a> {
    node(arena, NodeValue::Text(s.to_string().into()))
}

/// Every raw HTML node that is not a source anchor becomes text, so it shows escaped. The
/// Markdown holds none (every text from a source is escaped), so any would be a rendering bug.
fn disarm<'a>(arena: &'a Arena<'a>, root: Node<'a>) {
    for n in root.descendants().collect::<Vec<_>>() {
        let literal = match &n.data().value {
            NodeValue::HtmlInline(h) if h == "</span>" || is_source_anchor(h) => continue,
            NodeValue::HtmlInline(h) => h.clone(),
            NodeValue::HtmlBlock(b) => b.literal.trim_end().to_string(),
            _ => continue,
        };
        let block = matches!(n.data().value, NodeValue::HtmlBlock(_));
        if block {
            n.data_mut().value = NodeValue::Paragraph;
            n.append(text(arena, &literal));
        } else {
            n.data_mut().value = NodeValue::Text(literal.into());
        }
    }
}

/// Adjacent text nodes (comrak splits text at escapes and at characters that might start
/// markup) become one, so the rules below see a sentence as it reads.
fn merge_text<'a>(root: Node<'a>) {
    for n in root.descendants().collect::<Vec<_>>() {
        if n.parent().is_none() && !n.same_node(root) {
            continue; // merged into its predecessor already
        }
        let Some(mut merged) = text_of(n) else {
            continue;
        };
        let mut next = n.next_sibling();
        let mut joined = false;
        while let Some(m) = next {
            let Some(t) = text_of(m) else { break };
            merged.push_str(&t);
            next = m.next_sibling();
            m.detach();
            joined = true;
        }
        if joined {
            n.data_mut().value = NodeValue::Text(merged.into());
        }
    }
}

/// The scheme of a URL, when `s` has one (`javascript:...`, `https://...`).
fn scheme(s: &str) -> Option<&str> {
    let (scheme, _) = s.split_once(':')?;
    let mut chars = scheme.chars();
    let first = chars.next()?;
    (first.is_ascii_alphabetic()
        && chars.all(|c| c.is_ascii_alphanumeric() || matches!(c, '+' | '-' | '.')))
    .then_some(scheme)
}

/// An http(s) URL as the page links it, or None.
fn web_url(s: &str) -> Option<String> {
    let url = url::Url::parse(s).ok()?;
    (matches!(url.scheme(), "http" | "https") && url.host().is_some()).then(|| url.to_string())
}

/// Links other than in-page ones and http(s) (an autolinked `mailto:`, say) become plain text.
fn unlink_other_schemes<'a>(root: Node<'a>) {
    for n in root.descendants().collect::<Vec<_>>() {
        let keep = match &n.data().value {
            NodeValue::Link(l) => l.url.starts_with('#') || web_url(&l.url).is_some(),
            _ => continue,
        };
        if !keep {
            for child in n.children().collect::<Vec<_>>() {
                n.insert_before(child);
            }
            n.detach();
        }
    }
}

/// Where a source's location links: a web source to its URL, a local file to its `file://`
/// URL (a PDF's to the page quoted). A location with any other scheme is not linked, and a
/// relative path only when the file is there under `base`.
fn location_url(location: &str, page: Option<u32>, base: Option<&Path>) -> Option<String> {
    let location = location.trim();
    let url = match scheme(location) {
        Some(s) if s.eq_ignore_ascii_case("file") => url::Url::parse(location)
            .ok()
            .filter(|u| u.scheme() == "file")?,
        Some(s) if s.eq_ignore_ascii_case("http") || s.eq_ignore_ascii_case("https") => {
            url::Url::parse(web_url(location)?.as_str()).ok()?
        }
        Some(_) => return None,
        None => {
            let path = Path::new(location);
            let path = if path.is_absolute() {
                path.to_path_buf()
            } else {
                Some(base?.join(path)).filter(|p| p.is_file())?
            };
            // Only an absolute path makes a file URL.
            url::Url::from_file_path(&path).ok()?
        }
    };
    // PDF viewers open a `#page=N` link at that page.
    let is_pdf = url.path().to_ascii_lowercase().ends_with(".pdf") && url.fragment().is_none();
    Some(match page {
        Some(p) if is_pdf => format!("{url}#page={p}"),
        _ => url.to_string(),
    })
}

/// In each source entry (a paragraph opening with its `src-N` anchor) the location, the first
/// code span, becomes a link to the file or page.
fn link_locations<'a>(arena: &'a Arena<'a>, root: Node<'a>, base: Option<&Path>) {
    let anchors: Vec<Node<'a>> = root
        .descendants()
        .filter(|n| matches!(&n.data().value, NodeValue::HtmlInline(h) if is_source_anchor(h)))
        .collect();
    for anchor in anchors {
        let Some(code) = anchor
            .following_siblings()
            .find(|n| matches!(n.data().value, NodeValue::Code(_)))
        else {
            continue;
        };
        let location = match &code.data().value {
            NodeValue::Code(c) => c.literal.clone(),
            _ => continue,
        };
        // " · page 12" follows the location of a PDF source.
        let page = code.next_sibling().and_then(|n| match &n.data().value {
            NodeValue::Text(t) => {
                let rest = t.strip_prefix(" · page ")?;
                let digits: String = rest.chars().take_while(|c| c.is_ascii_digit()).collect();
                digits.parse().ok()
            }
            _ => None,
        });
        let Some(url) = location_url(&location, page, base) else {
            continue;
        };
        let link = node(
            arena,
            NodeValue::Link(Box::new(NodeLink {
                url,
                title: String::new(),
            })),
        );
        code.insert_before(link);
        link.append(code);
    }
}

/// The badge class of a verdict word as the reports write it.
fn verdict_class(label: &str) -> Option<&'static str> {
    let word = label
        .trim_start_matches(|c: char| c.is_ascii_digit() || c == ' ')
        .split(" by ")
        .next()
        .unwrap_or("");
    Some(match word {
        "kept" | "supported" | "confirmed" => "kept",
        "disputed" => "disputed",
        "refuted" | "contradicted" => "refuted",
        "dropped" | "not confirmed" => "dropped",
        "unverified" | "unverifiable" | "insufficient" => "unverified",
        _ => return None,
    })
}

fn badge_html(label: &str) -> Option<String> {
    let class = verdict_class(label)?;
    // A count of none ("0 dropped") is shown faded.
    let none = if label.starts_with("0 ") {
        " badge-none"
    } else {
        ""
    };
    Some(format!(
        "<span class=\"badge badge-{class}{none}\">{}</span>",
        html_escape(label)
    ))
}

fn badge<'a>(arena: &'a Arena<'a>, label: &str) -> Option<Node<'a>> {
    Some(node(arena, NodeValue::HtmlInline(badge_html(label)?)))
}

/// Put `pieces` in place of `n`: text as text, verdicts as badges.
fn splice<'a>(arena: &'a Arena<'a>, n: Node<'a>, pieces: &[Piece<'_>]) {
    for p in pieces {
        let new = match p {
            Piece::Text(s) => text(arena, s),
            Piece::Badge(s) => badge(arena, s).unwrap_or_else(|| text(arena, s)),
        };
        n.insert_before(new);
    }
    n.detach();
}

enum Piece<'s> {
    Text(&'s str),
    Badge(&'s str),
}

/// A run of counts as the reports write them, `25 kept, 5 disputed, 0 dropped`: each `N word`
/// a badge, the commas and the closing punctuation text.
fn count_pieces(run: &str) -> Vec<Piece<'_>> {
    let mut out = Vec::new();
    for (i, seg) in run.split(", ").enumerate() {
        if i > 0 {
            out.push(Piece::Text(", "));
        }
        let body = seg.trim_end_matches(['.', ';']);
        out.push(Piece::Badge(body));
        if body.len() < seg.len() {
            out.push(Piece::Text(&seg[body.len()..]));
        }
    }
    out
}

/// Where the counts of the status line begin in `text`, when it ends with them:
/// `... reviewers: 25 kept, 5 disputed, 0 dropped, 0 unverified.`
fn status_counts(text: &str) -> Option<usize> {
    const WORDS: [&str; 4] = ["kept", "disputed", "dropped", "unverified"];
    let mut rest = text.strip_suffix('.')?;
    for (i, word) in WORDS.iter().rev().enumerate() {
        let head = rest.strip_suffix(word)?.strip_suffix(' ')?;
        let number = head.trim_end_matches(|c: char| c.is_ascii_digit());
        if number.len() == head.len() {
            return None;
        }
        rest = number;
        if i + 1 < WORDS.len() {
            rest = rest.strip_suffix(", ")?;
        }
    }
    Some(rest.len())
}

fn text_of<'a>(n: Node<'a>) -> Option<String> {
    match &n.data().value {
        NodeValue::Text(t) => Some(t.to_string()),
        _ => None,
    }
}

/// Verdicts shown as badges, where the reports write them (the page's Markdown stays as it is):
///
/// - the status line's counts (`25 kept, 5 disputed, 0 dropped, 0 unverified.`);
/// - each claim under "Disputed", "Left unverified" and "Appendix: dropped claims";
/// - the research trail's outcomes (`still disputed`, `settled: kept (was disputed)`);
/// - a digest claim's label after its citation (`— supported by 4 of 5 reviewers.`,
///   `— **disputed**.`);
/// - a plan check's status line (`**1 contradicted**, 2 disputed, ...`) and outcome column.
///
/// Only text the report writes itself is matched, by where it stands: a claim or quote from a
/// source never follows a citation link, never ends a trail item after its quoted claim, and
/// never fills a table's outcome cell.
fn add_badges<'a>(arena: &'a Arena<'a>, root: Node<'a>) {
    let mut section = String::new();
    for n in root.children().collect::<Vec<_>>() {
        let value = n.data().value.clone();
        match value {
            NodeValue::Heading(h) if h.level == 2 => section = n.collect_text(),
            NodeValue::Heading(h) if h.level == 3 && section == "Disputed" => {
                // The space is part of the raw node: a heading's id is made of its text.
                if let Some(b) = badge_html("disputed") {
                    n.append(node(arena, NodeValue::HtmlInline(format!(" {b}"))));
                }
            }
            NodeValue::List(_) => {
                let lead = match section.as_str() {
                    "Left unverified" => Some("unverified"),
                    "Appendix: dropped claims" => Some("dropped"),
                    _ => None,
                };
                for item in n.children() {
                    let Some(para) = item.first_child() else {
                        continue;
                    };
                    if let Some(b) = lead.and_then(|w| badge(arena, w)) {
                        para.prepend(text(arena, " "));
                        para.prepend(b);
                    } else if section == "Research trail" {
                        trail_outcome(arena, para);
                    }
                }
            }
            NodeValue::Paragraph => {
                plan_check_counts(arena, n);
                if let Some(last) = n.last_child() {
                    if let Some(t) = text_of(last) {
                        if let Some(at) = status_counts(&t) {
                            let mut pieces = vec![Piece::Text(&t[..at])];
                            pieces.extend(count_pieces(&t[at..]));
                            splice(arena, last, &pieces);
                        }
                    }
                }
            }
            NodeValue::Table(_) => outcome_column(arena, n),
            _ => {}
        }
    }
    let paragraphs: Vec<Node<'a>> = root
        .descendants()
        .filter(|n| matches!(n.data().value, NodeValue::Paragraph))
        .collect();
    for p in paragraphs {
        digest_label(arena, p);
    }
}

/// `...: still disputed` or `...: settled: kept (was disputed)` ending a trail item.
fn trail_outcome<'a>(arena: &'a Arena<'a>, para: Node<'a>) {
    let Some(last) = para.last_child() else {
        return;
    };
    let Some(t) = text_of(last) else { return };
    let word = |w: &str| {
        ["kept", "disputed", "dropped", "unverified"]
            .contains(&w)
            .then_some(())
    };
    // The outcome ends the item, after the claim in straight quotes; the claim may hold
    // anything, so the outcome is looked for from the end.
    if !t.ends_with(')') {
        let Some(at) = t.rfind("\": still ") else {
            return;
        };
        let w = &t[at + 9..];
        if word(w).is_some() {
            splice(arena, last, &[Piece::Text(&t[..at + 9]), Piece::Badge(w)]);
        }
    } else if let Some(at) = t.rfind("\": settled: ") {
        let at = at + 1;
        let rest = &t[at + 11..];
        let Some((now, was)) = rest.strip_suffix(')').and_then(|r| r.split_once(" (was ")) else {
            return;
        };
        if word(now).is_some() && word(was).is_some() {
            splice(
                arena,
                last,
                &[
                    Piece::Text(&t[..at + 11]),
                    Piece::Badge(now),
                    Piece::Text(" (was "),
                    Piece::Badge(was),
                    Piece::Text(")"),
                ],
            );
        }
    }
}

/// A plan check's status line, `Engine: ... **1 contradicted**, 2 disputed, 0 unverifiable,
/// 4 confirmed; 0 open risks.`: the bold count and the counts after it.
fn plan_check_counts<'a>(arena: &'a Arena<'a>, para: Node<'a>) {
    let is_status = para
        .first_child()
        .and_then(text_of)
        .is_some_and(|t| t.starts_with("Engine: "));
    let Some(strong) = para
        .children()
        .filter(|_| is_status)
        .find(|n| matches!(n.data().value, NodeValue::Strong))
    else {
        return;
    };
    let label = strong.collect_text();
    if label
        .strip_suffix(" contradicted")
        .is_none_or(|n| !is_count(n))
    {
        return;
    }
    let next = strong.next_sibling();
    splice(arena, strong, &[Piece::Badge(&label)]);
    let Some(t) = next.and_then(text_of) else {
        return;
    };
    let Some(run) = t.strip_prefix(", ") else {
        return;
    };
    let (counts, rest) = run.split_at(run.find(';').unwrap_or(run.len()));
    let all_counts = counts.split(", ").all(|seg| {
        verdict_class(seg).is_some() && seg.split_once(' ').is_some_and(|(n, _)| is_count(n))
    });
    if let (true, Some(next)) = (all_counts, next) {
        let mut pieces = vec![Piece::Text(", ")];
        pieces.extend(count_pieces(counts));
        pieces.push(Piece::Text(rest));
        splice(arena, next, &pieces);
    }
}

fn is_count(s: &str) -> bool {
    !s.is_empty() && s.bytes().all(|b| b.is_ascii_digit())
}

fn is_citation(n: Node<'_>) -> bool {
    matches!(&n.data().value, NodeValue::Link(l) if l.url.starts_with("#src-"))
}

/// A digest claim's label after its citation: ` — supported by 4 of 5 reviewers.`,
/// ` — **disputed**.`, ` — **contradicted**.`, ` — not confirmed.` or ` — unverified.`.
fn digest_label<'a>(arena: &'a Arena<'a>, para: Node<'a>) {
    let Some(last) = para.last_child() else {
        return;
    };
    let Some(t) = text_of(last) else { return };
    let before = last.previous_sibling();
    if before.is_some_and(is_citation) {
        let Some(label) = t.strip_prefix(" — ").and_then(|r| r.strip_suffix('.')) else {
            return;
        };
        let supported = label
            .strip_prefix("supported by ")
            .and_then(|r| r.strip_suffix(" reviewers"))
            .and_then(|r| r.split_once(" of "))
            .is_some_and(|(a, b)| is_count(a) && is_count(b));
        if supported || matches!(label, "not confirmed" | "unverified") {
            splice(
                arena,
                last,
                &[Piece::Text(" — "), Piece::Badge(label), Piece::Text(".")],
            );
        }
        return;
    }
    // The bold labels: " — " after the citation, then the bold word, then ".".
    let Some(strong) = before.filter(|n| matches!(n.data().value, NodeValue::Strong)) else {
        return;
    };
    let dash = strong.previous_sibling();
    let cited = dash
        .and_then(|d| d.previous_sibling())
        .is_some_and(is_citation);
    let label = strong.collect_text();
    if t == "."
        && cited
        && dash.and_then(text_of).as_deref() == Some(" — ")
        && matches!(label.as_str(), "disputed" | "contradicted")
    {
        splice(arena, strong, &[Piece::Badge(&label)]);
    }
}

/// A table whose last column is headed "outcome" (a plan check's summary): each outcome cell
/// becomes its badge.
fn outcome_column<'a>(arena: &'a Arena<'a>, table: Node<'a>) {
    let mut rows = table.children();
    let headed = rows
        .next()
        .and_then(|r| r.last_child())
        .is_some_and(|c| c.collect_text().trim() == "outcome");
    if !headed {
        return;
    }
    for row in rows {
        let Some(cell) = row.last_child() else {
            continue;
        };
        let label = cell.collect_text();
        let label = label.trim();
        if let (Some(_), Some(b)) = (verdict_class(label), badge(arena, label)) {
            for c in cell.children().collect::<Vec<_>>() {
                c.detach();
            }
            cell.append(b);
        }
    }
}

/// A heading's words without its citation numbers, for the table of contents.
fn plain_text(n: Node<'_>, out: &mut String) {
    match &n.data().value {
        NodeValue::Text(t) => out.push_str(t),
        NodeValue::Code(c) => out.push_str(&c.literal),
        NodeValue::SoftBreak | NodeValue::LineBreak => out.push(' '),
        NodeValue::Link(l) if l.url.starts_with("#src-") => {}
        _ => {
            for c in n.children() {
                plain_text(c, out);
            }
        }
    }
}

/// A table of contents of the second- and third-level headings, after the title. The ids are
/// those comrak gives the headings: the same slugs, made unique in the same document order.
fn add_contents<'a>(arena: &'a Arena<'a>, root: Node<'a>) {
    let mut anchorizer = comrak::Anchorizer::new();
    let mut entries: Vec<(u8, String, String)> = Vec::new();
    for n in root.descendants() {
        let level = match &n.data().value {
            NodeValue::Heading(h) => h.level,
            _ => continue,
        };
        let id = anchorizer.anchorize(&n.collect_text());
        if level == 2 || level == 3 {
            let mut words = String::new();
            plain_text(n, &mut words);
            entries.push((level, id, squash_whitespace(&words)));
        }
    }
    if entries.is_empty() {
        return;
    }
    let mut toc =
        String::from("<nav class=\"toc\" aria-label=\"Contents\">\n<p>Contents</p>\n<ul>\n");
    // A third-level heading nests under the second-level one before it (if any).
    let (mut in_top, mut in_sub) = (false, false);
    for (level, id, words) in &entries {
        let link = format!(
            "<li><a href=\"#{HEADING_ID_PREFIX}{}\">{}</a>",
            html_escape(id),
            html_escape(words)
        );
        if *level == 3 && in_top {
            if !in_sub {
                toc.push_str("<ul>\n");
                in_sub = true;
            }
            toc.push_str(&link);
            toc.push_str("</li>\n");
            continue;
        }
        if in_sub {
            toc.push_str("</ul>");
            in_sub = false;
        }
        if in_top {
            toc.push_str("</li>\n");
        }
        toc.push_str(&link);
        in_top = true;
    }
    if in_sub {
        toc.push_str("</ul>");
    }
    if in_top {
        toc.push_str("</li>\n");
    }
    toc.push_str("</ul>\n</nav>\n");
    let nav = node(
        arena,
        NodeValue::HtmlBlock(comrak::nodes::NodeHtmlBlock {
            block_type: 0,
            literal: toc,
        }),
    );
    match root.first_child() {
        Some(first) if matches!(&first.data().value, NodeValue::Heading(h) if h.level == 1) => {
            first.insert_after(nav)
        }
        _ => root.prepend(nav),
    }
}

pub(super) fn html_escape(s: &str) -> String {
    s.replace('&', "&amp;")
        .replace('<', "&lt;")
        .replace('>', "&gt;")
        .replace('"', "&quot;")
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::artifact::Citation;
    use crate::report::{check_markdown, render_sources};

    fn source(location: &str, quote: &str) -> Citation {
        Citation {
            doc_id: location.into(),
            location: location.into(),
            title: "Guide".into(),
            doc_hash: "0123456789abcdef0123".into(),
            start: 0,
            end: quote.len(),
            quote: quote.into(),
            heading_path: Vec::new(),
            passage: 0,
            page: None,
            fetched: None,
            lead_in: None,
        }
    }

    /// The Sources section of `sources`, checked as a report is, and its page.
    fn sources_page(sources: &[Citation], base: Option<&Path>) -> String {
        let mut md = String::from("# R\n\n");
        for n in 1..=sources.len() {
            md.push_str(&format!("- Cited. [\\[{n}\\]](#src-{n})\n"));
        }
        md.push('\n');
        render_sources(&mut md, sources);
        check_markdown(&md, sources).unwrap();
        page(&md, "R", base)
    }

    /// The `href` of the link around `text`, when `text` is a link's whole content.
    fn href_of<'h>(html: &'h str, text: &str) -> Option<&'h str> {
        let at = html.find(&format!("\">{text}</a>"))?;
        let start = html[..at].rfind("href=\"")? + 6;
        Some(&html[start..at])
    }

    #[test]
    fn citation_links_land_on_their_source_and_other_raw_html_shows_as_text() {
        let md = "# R\n\n- Heat ages cells. [\\[1\\]](#src-1)\n\n## Sources\n\n1. <span id=\"src-1\"></span>**Guide** · `a.md`\n\n   > “Heat ages cells \\<script\\>.”\n";
        let html = page(md, "R", None);
        assert!(html.contains("href=\"#src-1\""), "{html}");
        assert!(html.contains("<span id=\"src-1\"></span>"), "{html}");
        assert!(
            html.contains("&lt;script&gt;"),
            "escaped text stays text: {html}"
        );
        // Raw HTML that is not one of our anchors (a rendering bug) is shown, escaped, and the
        // anchors still land.
        let hostile = format!("{md}\n<img src=x onerror=alert(1)>\n\nText <b onclick=x>bold</b>\n");
        let html = page(&hostile, "R", None);
        assert!(!html.contains("<img"), "{html}");
        assert!(!html.contains("<b "), "{html}");
        assert!(
            html.contains("&lt;img src=x onerror=alert(1)&gt;"),
            "{html}"
        );
        assert!(html.contains("<span id=\"src-1\"></span>"), "{html}");
    }

    #[test]
    fn source_locations_link_to_their_file_or_page_and_nothing_else_does() {
        let dir = tempfile::tempdir().unwrap();
        std::fs::create_dir(dir.path().join("notes")).unwrap();
        std::fs::write(dir.path().join("notes/care.md"), "Heat ages cells.").unwrap();
        let mut pdf = source("/srv/docs/Owner's Manual.PDF", "Heat ages cells.");
        pdf.page = Some(12);
        let mut web_pdf = source("https://example.test/care.pdf", "Heat ages cells.");
        web_pdf.page = Some(3);
        let sources = [
            source("/srv/docs/a b/<x>&\"y\".md", "Heat ages cells."),
            source("https://example.test/care?a=1&b=\"2\"", "Heat ages cells."),
            source("javascript:alert(1)", "Heat ages cells."),
            source("JavaScript:alert(1)//a.md", "Heat ages cells."),
            source(
                "data:text/html,<script>alert(1)</script>",
                "Heat ages cells.",
            ),
            source("notes/care.md", "Heat ages cells."),
            source("notes/gone.md", "Heat ages cells."),
            pdf,
            web_pdf,
        ];
        let html = sources_page(&sources, Some(dir.path()));
        assert_eq!(
            href_of(
                &html,
                "<code>/srv/docs/a b/&lt;x&gt;&amp;&quot;y&quot;.md</code>"
            ),
            Some("file:///srv/docs/a%20b/%3Cx%3E&amp;%22y%22.md"),
            "{html}"
        );
        assert_eq!(
            href_of(
                &html,
                "<code>https://example.test/care?a=1&amp;b=&quot;2&quot;</code>"
            ),
            Some("https://example.test/care?a=1&amp;b=%222%22"),
            "{html}"
        );
        let local = url::Url::from_file_path(dir.path().join("notes/care.md")).unwrap();
        assert_eq!(
            href_of(&html, "<code>notes/care.md</code>"),
            Some(local.as_str()),
            "a relative location links when the file is there: {html}"
        );
        assert_eq!(
            href_of(&html, "<code>/srv/docs/Owner's Manual.PDF</code>"),
            Some("file:///srv/docs/Owner&#x27;s%20Manual.PDF#page=12"),
            "{html}"
        );
        assert_eq!(
            href_of(&html, "<code>https://example.test/care.pdf</code>"),
            Some("https://example.test/care.pdf#page=3"),
            "{html}"
        );
        for shown in [
            "<code>javascript:alert(1)</code>",
            "<code>JavaScript:alert(1)//a.md</code>",
            "<code>data:text/html,&lt;script&gt;alert(1)&lt;/script&gt;</code>",
            "<code>notes/gone.md</code>",
        ] {
            assert!(html.contains(shown), "{shown} is shown: {html}");
            assert_eq!(href_of(&html, shown), None, "{shown} is no link: {html}");
        }
        assert!(!html.to_lowercase().contains("href=\"javascript"), "{html}");
        assert!(!html.contains("href=\"data"), "{html}");
        assert!(!html.contains("<script"), "{html}");
        // Autolinked text from a source: web addresses link, nothing else does.
        let html = page(
            "# R\n\nSee https://example.test/x and mail a@b.example.\n",
            "R",
            None,
        );
        assert!(html.contains("href=\"https://example.test/x\""), "{html}");
        assert!(!html.contains("mailto:"), "{html}");
    }

    #[test]
    fn verdicts_show_as_badges_where_the_report_gives_them_and_not_in_source_text() {
        let md = "# R\n\n\
**Question:** Q?\n\n\
Engine: offline · 30 claims reviewed by 5 reviewers: 25 kept, 5 disputed, 0 dropped, 1 unverified.\n\n\
## Findings\n\n\
### Storage\n\n\
- Cells are disputed by nobody. [\\[1\\]](#src-1)\n\n\
## Disputed\n\n\
The sources disagree on these; neither side is stated as a finding.\n\n\
### Store cells at 10 degrees. [\\[1\\]](#src-1)\n\n\
- **For:** 4 of 5 reviewers found support.\n\n\
## Sources\n\n\
1. <span id=\"src-1\"></span>**Guide** · `a.md` · blake3 `0123` · bytes 0–9\n\n   \
> “Tally: 2 kept, 1 disputed, 0 dropped, 0 unverified.”\n\n\
## Left unverified\n\n\
- Cells like cold — every vote failed\n\n\
## Research trail\n\n\
**Round 2**\n\n\
- voted again on \"Store cells at 10 degrees.\": still disputed\n\
- voted again on \"Heat ages: still kept\": settled: kept (was disputed)\n\n\
## Appendix: dropped claims\n\n\
- Cells are immortal — no support (from `a.md`)\n";
        let html = page(md, "R", None);
        let badge = |class: &str, label: &str| {
            format!("<span class=\"badge badge-{class}\">{label}</span>")
        };
        for want in [
            format!("reviewers: {}, ", badge("kept", "25 kept")),
            badge("disputed", "5 disputed"),
            "<span class=\"badge badge-dropped badge-none\">0 dropped</span>".to_string(),
            format!("{}.</p>", badge("unverified", "1 unverified")),
            format!("</a> {}<a href=\"#sec-", badge("disputed", "disputed")),
            format!("<li>{} Cells like cold", badge("unverified", "unverified")),
            format!("<li>{} Cells are immortal", badge("dropped", "dropped")),
            format!(
                "10 degrees.&quot;: still {}</li>",
                badge("disputed", "disputed")
            ),
            format!(
                "settled: {} (was {})</li>",
                badge("kept", "kept"),
                badge("disputed", "disputed")
            ),
        ] {
            assert!(html.contains(&want), "missing {want}: {html}");
        }
        assert_eq!(html.matches("class=\"badge ").count(), 10, "{html}");
        // Source text that reads like a verdict stays text.
        assert!(html.contains("Tally: 2 kept, 1 disputed, 0 dropped, 0 unverified."));
        assert!(html.contains("Cells are disputed by nobody."));
        assert!(html.contains("&quot;Heat ages: still kept&quot;"), "{html}");
        assert!(html.contains(".badge-disputed{"), "the page styles badges");
    }

    #[test]
    fn digest_and_plan_check_verdicts_show_as_badges() {
        let md = "# D\n\n\
## Batteries\n\n\
### Item\n\n\
- Heat ages cells. [\\[1\\]](#src-1) — supported by 4 of 5 reviewers.\n\
- Cold ages cells. [\\[1\\]](#src-1) — **disputed**.\n\
- Cells are immortal. [\\[1\\]](#src-1) — not confirmed.\n\
- Cells sing — not confirmed.\n\
- **disputed**: a plan's label, not a verdict\n\n\
Engine: offline · 3 statements checked, 5 reviewers each: **1 contradicted**, 2 disputed, 0 unverifiable, 4 confirmed; 0 open risks.\n\n\
| line | statement | outcome |\n|---:|---|---|\n| 3 | Keep it at disputed | confirmed |\n| 4 | confirmed | contradicted |\n\n\
## Sources\n\n\
1. <span id=\"src-1\"></span>**Guide** · `a.md`\n";
        let html = page(md, "D", None);
        for want in [
            "— <span class=\"badge badge-kept\">supported by 4 of 5 reviewers</span>.",
            "— <span class=\"badge badge-disputed\">disputed</span>.",
            "— <span class=\"badge badge-dropped\">not confirmed</span>.",
            "<span class=\"badge badge-refuted\">1 contradicted</span>, <span class=\"badge badge-disputed\">2 disputed</span>, ",
            "<span class=\"badge badge-unverified badge-none\">0 unverifiable</span>",
            "<span class=\"badge badge-kept\">4 confirmed</span>; 0 open risks.",
            "<td>Keep it at disputed</td>\n<td><span class=\"badge badge-kept\">confirmed</span></td>",
            "<td>confirmed</td>\n<td><span class=\"badge badge-refuted\">contradicted</span></td>",
        ] {
            assert!(html.contains(want), "missing {want}: {html}");
        }
        assert!(
            html.contains("Cells sing — not confirmed."),
            "no citation before it, so not the report's label: {html}"
        );
        assert!(
            html.contains("<strong>disputed</strong>: a plan's label"),
            "{html}"
        );
        assert_eq!(html.matches("class=\"badge ").count(), 9, "{html}");
    }

    #[test]
    fn every_source_entry_holds_its_quote_past_the_ninth() {
        let sources: Vec<Citation> = (1..=11)
            .map(|i| source(&format!("/d/{i}.md"), &format!("Quote number {i}.")))
            .collect();
        let html = sources_page(&sources, None);
        let list = &html[html.find("<ol>").unwrap()..];
        assert_eq!(list.matches("<ol").count(), 1, "one list: {html}");
        for entry in list.split("<li>").skip(1) {
            let n = &entry[entry.find("src-").unwrap() + 4..entry.find("\"></span>").unwrap()];
            assert!(
                entry.contains(&format!(
                    "<blockquote>\n<p>“Quote number {n}.”</p>\n</blockquote>\n</li>"
                )),
                "source {n}'s quote is in its entry: {html}"
            );
        }
    }

    #[test]
    fn the_contents_link_every_section_heading() {
        let md = "# Title\n\nIntro.\n\n## Answer\n\nA.\n\n## Findings\n\n### Storage & <heat>\n\n- x\n\n### Storage & <heat>\n\n- y\n\n## Disputed\n\n### Src 1 [\\[1\\]](#src-1)\n\n## Sources\n\n1. <span id=\"src-1\"></span>**G** · `a.md`\n";
        let html = page(md, "Title", None);
        let nav = &html[html.find("<nav class=\"toc\"").unwrap()..html.find("</nav>").unwrap()];
        assert!(
            html.find("</h1>").unwrap() < html.find("<nav").unwrap(),
            "after the title"
        );
        let hrefs: Vec<&str> = nav
            .split("href=\"#")
            .skip(1)
            .map(|s| &s[..s.find('"').unwrap()])
            .collect();
        assert_eq!(
            hrefs,
            [
                "sec-answer",
                "sec-findings",
                "sec-storage--heat",
                "sec-storage--heat-1",
                "sec-disputed",
                "sec-src-1-1",
                "sec-sources"
            ],
            "{nav}"
        );
        for id in &hrefs {
            let at = html
                .find(&format!(" id=\"{id}\""))
                .unwrap_or_else(|| panic!("no element with id {id}: {html}"));
            assert!(
                html[..at].ends_with("<h2") || html[..at].ends_with("<h3"),
                "{id} is not a heading: {html}"
            );
        }
        assert!(nav.contains(">Storage &amp; &lt;heat&gt;</a>"), "{nav}");
        assert!(nav.contains(">Src 1</a>"), "without its citation: {nav}");
        assert!(
            nav.contains("Findings</a><ul>\n<li><a href=\"#sec-storage--heat\">"),
            "third-level headings nest under theirs: {nav}"
        );
        assert!(!nav.contains("Title"), "{nav}");
    }

    #[test]
    fn an_indented_quote_keeps_its_lines_and_indentation() {
        let quote = "Set it in postgresql.conf:\n    max_connections = 100\n\tshared_buffers = 128MB\n# a comment, not a heading\n- not a list\n1. not a list either";
        let prose = "Heat ages cells\nfaster than cold.";
        let html = sources_page(&[source("/d/a.md", quote), source("/d/b.md", prose)], None);
        assert!(
            html.contains("<p>“Set it in postgresql.conf:\n    max_connections = 100\n\tshared_buffers = 128MB\n# a comment, not a heading\n- not a list\n1. not a list either”</p>"),
            "{html}"
        );
        assert!(
            html.contains("<p>“Heat ages cells faster than cold.”</p>"),
            "{html}"
        );
        assert!(!html.contains("<h1>#"), "{html}");
        assert!(
            html.contains("blockquote p{white-space:pre-wrap"),
            "the page shows a quote's whitespace as it is: {html}"
        );
    }
}
