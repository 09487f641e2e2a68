//! Main-text extraction from HTML: boilerplate dropped, headings kept as lines that build the
//! heading path, block elements turned into blank-line-separated paragraphs.

use scraper::{ElementRef, Html, Node};

use super::passages::{Extracted, Paragraph};

/// Elements that never hold main text.
const DROPPED_TAGS: &[&str] = &[
    "script", "style", "noscript", "template", "nav", "header", "footer", "aside", "form",
    "button", "svg", "iframe", "select", "textarea", "canvas", "object", "embed", "head",
];

/// ARIA roles of page chrome.
const DROPPED_ROLES: &[&str] = &[
    "navigation",
    "banner",
    "contentinfo",
    "search",
    "complementary",
    "menu",
    "menubar",
];

/// Class or id words marking boilerplate (matched as whole tokens, `word-…`/`word_…` prefixes
/// and `…-word`/`…_word` suffixes).
const BOILERPLATE_WORDS: &[&str] = &[
    "navheader",
    "navfooter",
    "sphinxsidebar",
    "related",
    "footer",
    "header",
    "nav",
    "navbar",
    "navigation",
    "menu",
    "breadcrumb",
    "breadcrumbs",
    "sidebar",
    "toc",
    "cookie",
    "cookies",
    "newsletter",
    "subscribe",
    "tagline",
];

/// Class-token prefixes that describe a state, not a region: `has-sidebar` is a page layout, and
/// dropping it would drop the whole page.
const STATE_PREFIXES: &[&str] = &["has-", "has_", "with-", "with_", "no-", "no_", "is-", "is_"];

/// Elements whose start and end separate paragraphs.
const BLOCK_TAGS: &[&str] = &[
    "address",
    "article",
    "blockquote",
    "body",
    "caption",
    "center",
    "dd",
    "details",
    "dialog",
    "dir",
    "div",
    "dl",
    "dt",
    "fieldset",
    "figcaption",
    "figure",
    "hgroup",
    "hr",
    "html",
    "legend",
    "li",
    "main",
    "menu",
    "ol",
    "p",
    "pre",
    "section",
    "summary",
    "table",
    "tbody",
    "tfoot",
    "thead",
    "tr",
    "ul",
];

/// Fewer non-whitespace characters than this in the paragraphs means the extraction probably
/// dropped the content itself, and a less selective pass is tried.
const NEARLY_EMPTY_CHARS: usize = 100;
/// ... and fewer than a tenth of what the least selective pass finds.
const NEARLY_EMPTY_RATIO: usize = 10;

/// Extracts the main text of an HTML document.
pub(crate) fn extract(source: &str) -> Extracted {
    let document = Html::parse_document(source);
    let root = document.root_element();
    let body = root
        .child_elements()
        .find(|e| e.value().name() == "body")
        .unwrap_or(root);
    let main = find_main(body);

    // Most selective first; each later pass keeps more of the page. A pass is rejected only
    // when it is nearly empty both absolutely and next to the least selective pass: the
    // signature of a rule that dropped the content itself (a chapter page that is all table
    // of contents, a layout class that looks like boilerplate).
    let mut passes = vec![(main, ClassRule::All)];
    if main != body {
        passes.push((body, ClassRule::All));
    }
    passes.push((body, ClassRule::KeepToc));
    // Computed only for nearly empty pages, so most pages are walked once.
    let mut unselective: Option<(Extracted, usize)> = None;
    let mut chosen = None;
    for (scope, rule) in passes {
        let extracted = Walker::new(rule, scope).run();
        let chars = paragraph_chars(&extracted);
        if chars >= NEARLY_EMPTY_CHARS {
            chosen = Some(extracted);
            break;
        }
        let (_, unselective_chars) = unselective.get_or_insert_with(|| {
            let all = Walker::new(ClassRule::Off, body).run();
            let chars = paragraph_chars(&all);
            (all, chars)
        });
        if chars * NEARLY_EMPTY_RATIO >= *unselective_chars {
            chosen = Some(extracted);
            break;
        }
    }
    let mut extracted = match (chosen, unselective) {
        (Some(extracted), _) => extracted,
        (None, Some((all, _))) => all,
        (None, None) => Walker::new(ClassRule::Off, body).run(),
    };
    if let Some(title) = find_title(&document) {
        extracted.title = Some(title);
    }
    extracted
}

/// The element holding the main content when the page marks one: `<main>`, `[role=main]`, a
/// single `<article>`, or Sphinx's `div.body`; else `body`.
fn find_main(body: ElementRef<'_>) -> ElementRef<'_> {
    let mut articles = Vec::new();
    let mut sphinx_body = None;
    for element in body.descendent_elements() {
        let value = element.value();
        let name = value.name();
        if name == "main" || value.attr("role") == Some("main") {
            return element;
        }
        if name == "article" {
            articles.push(element);
        } else if sphinx_body.is_none() && name == "div" && value.classes().any(|c| c == "body") {
            sphinx_body = Some(element);
        }
    }
    match articles.as_slice() {
        [only] => *only,
        _ => sphinx_body.unwrap_or(body),
    }
}

fn find_title(document: &Html) -> Option<String> {
    let head = document
        .root_element()
        .child_elements()
        .find(|e| e.value().name() == "head")?;
    let title = head
        .descendent_elements()
        .find(|e| e.value().name() == "title")?;
    let text = collapse_whitespace(&title.text().collect::<String>());
    (!text.is_empty()).then_some(text)
}

fn paragraph_chars(extracted: &Extracted) -> usize {
    extracted
        .paragraphs
        .iter()
        .filter_map(|p| extracted.text.get(p.start..p.end))
        .map(|t| t.chars().filter(|c| !c.is_whitespace()).count())
        .sum()
}

pub(crate) fn collapse_whitespace(text: &str) -> String {
    text.split_whitespace().collect::<Vec<_>>().join(" ")
}

/// How far class and id names are trusted to mark boilerplate.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum ClassRule {
    All,
    /// A table of contents can be all a page has (a chapter's front page).
    KeepToc,
    Off,
}

enum Step<'a> {
    Enter(ElementRef<'a>),
    Text(&'a str),
    Exit(ElementRef<'a>),
}

/// One pass over the DOM (iterative, so deeply nested markup cannot overflow the stack).
struct Walker<'a> {
    scope: ElementRef<'a>,
    class_rule: ClassRule,
    out: Extracted,
    group: usize,
    heading_stack: Vec<(u8, String)>,
    /// Level of the last `<h1>`..`<h6>` read: an `<h>` heading sits one below it.
    numbered_level: u8,
    first_h1: Option<String>,
    /// Inline text of the paragraph being built.
    buf: String,
    pending_space: bool,
    /// Set on entering a table cell: the next text is preceded by a cell separator.
    pending_cell: bool,
    pre_depth: usize,
    /// Level of the heading being captured.
    heading: Option<u8>,
    /// Depth inside `<main>`/`<article>`, where a `<header>` is the article's own title.
    content_depth: usize,
    /// The terms of the definition-list entry being read (`<dt>`s before their `<dd>`).
    terms: Vec<String>,
    /// Per open `<dd>` headed by its terms: the group to return to when it closes.
    described: Vec<Option<usize>>,
    /// Depth inside `<a>` elements linking within the site: their text is link text.
    anchor_depth: usize,
}

impl<'a> Walker<'a> {
    fn new(class_rule: ClassRule, scope: ElementRef<'a>) -> Self {
        let mut out = Extracted::default();
        let group = out.new_group(Vec::new());
        Walker {
            scope,
            class_rule,
            out,
            group,
            heading_stack: Vec::new(),
            numbered_level: 0,
            first_h1: None,
            buf: String::new(),
            pending_space: false,
            pending_cell: false,
            pre_depth: 0,
            heading: None,
            content_depth: 0,
            terms: Vec::new(),
            described: Vec::new(),
            anchor_depth: 0,
        }
    }

    fn run(mut self) -> Extracted {
        let mut stack = vec![Step::Enter(self.scope)];
        while let Some(step) = stack.pop() {
            match step {
                Step::Text(text) => self.push_text(text),
                Step::Exit(element) => self.close(element),
                Step::Enter(element) => {
                    if self.is_dropped(element) {
                        continue;
                    }
                    self.open(element);
                    stack.push(Step::Exit(element));
                    for child in element.children().rev() {
                        match child.value() {
                            Node::Text(text) => stack.push(Step::Text(text)),
                            Node::Element(_) => {
                                if let Some(child) = ElementRef::wrap(child) {
                                    stack.push(Step::Enter(child));
                                }
                            }
                            _ => {}
                        }
                    }
                }
            }
        }
        self.flush();
        if let Some(h1) = self.first_h1.take() {
            self.out.title = Some(h1);
        }
        self.out
    }

    fn is_dropped(&self, element: ElementRef<'a>) -> bool {
        let value = element.value();
        let name = value.name();
        if name == "header" && self.content_depth > 0 {
            return false;
        }
        if DROPPED_TAGS.contains(&name) || value.attr("hidden").is_some() {
            return true;
        }
        if value
            .attr("role")
            .is_some_and(|r| DROPPED_ROLES.contains(&r))
        {
            return true;
        }
        // Sphinx "¶" permalinks would otherwise end up in headings and signatures.
        if value.classes().any(|c| c == "headerlink") {
            return true;
        }
        if self.class_rule == ClassRule::Off
            || element == self.scope
            || matches!(name, "html" | "body" | "main" | "article")
        {
            return false;
        }
        let keep_toc = self.class_rule == ClassRule::KeepToc;
        value.classes().any(|c| is_boilerplate_token(c, keep_toc))
            || value
                .id()
                .is_some_and(|id| is_boilerplate_token(id, keep_toc))
    }

    /// A heading's level: `<h1>`..`<h6>` say theirs. SQLite's reference pages head each entry
    /// with an `<h>` element (hidden, for their search: `<h _id=pragma_auto_vacuum>PRAGMA
    /// auto_vacuum</h>`); read as a heading one below the last numbered one, each entry's text
    /// is its own section under its name instead of a run of the whole page's entries.
    fn level_of(&self, name: &str) -> Option<u8> {
        heading_level(name).or_else(|| (name == "h").then_some((self.numbered_level + 1).min(6)))
    }

    fn open(&mut self, element: ElementRef<'a>) {
        let name = element.value().name();
        if let Some(level) = self.level_of(name) {
            if self.heading.is_none() && self.pre_depth == 0 {
                self.flush();
                self.heading = Some(level);
            }
            return;
        }
        match name {
            "main" | "article" => self.content_depth += 1,
            "a" if links_within_site(element) => self.anchor_depth += 1,
            "br" => {
                if self.pre_depth > 0 {
                    self.buf.push('\n');
                } else if self.heading.is_some() {
                    self.pending_space = true;
                } else if !self.buf.is_empty() && !self.buf.ends_with('\n') {
                    self.buf.push('\n');
                    self.pending_space = false;
                }
            }
            "td" | "th" if !self.buf.is_empty() && self.heading.is_none() => {
                self.pending_cell = true;
            }
            "img" => {
                // An image stands for a word break, never for text of its own.
                self.pending_space = true;
            }
            _ => {}
        }
        if name == "pre" {
            if self.pre_depth == 0 {
                self.flush();
            }
            self.pre_depth += 1;
        } else if BLOCK_TAGS.contains(&name) {
            self.flush();
        }
        if name == "dd" {
            if self.heading.is_none() {
                self.describe();
            } else {
                // Closing it pops an entry: keep the stack in step.
                self.described.push(None);
            }
        }
    }

    /// A definition's description reads under its term, as under a heading: the description
    /// of `max_connections (integer)` is found, and judged, with the parameter's name.
    fn describe(&mut self) {
        let terms = std::mem::take(&mut self.terms);
        if terms.is_empty() {
            self.described.push(None);
            return;
        }
        let mut path: Vec<String> = self.out.groups[self.group].clone();
        path.push(terms.join(", "));
        self.described.push(Some(self.group));
        self.group = self.out.new_group(path);
    }

    fn close(&mut self, element: ElementRef<'a>) {
        let name = element.value().name();
        if let Some(level) = self.level_of(name) {
            if self.heading == Some(level) {
                if heading_level(name).is_some() {
                    self.numbered_level = level;
                }
                self.finish_heading(level);
            }
            return;
        }
        match name {
            "main" | "article" => self.content_depth = self.content_depth.saturating_sub(1),
            "a" if links_within_site(element) => {
                self.anchor_depth = self.anchor_depth.saturating_sub(1)
            }
            "pre" => {
                self.pre_depth = self.pre_depth.saturating_sub(1);
                if self.pre_depth == 0 {
                    self.flush();
                }
            }
            "td" | "th" => self.pending_space = true,
            "dt" => {
                let before = self.out.paragraphs.len();
                self.flush();
                if let Some(p) = self.out.paragraphs.get(before) {
                    let term = collapse_whitespace(&self.out.text[p.start..p.end]);
                    self.terms.push(term);
                }
            }
            "dd" => {
                self.flush();
                if let Some(Some(group)) = self.described.pop() {
                    self.group = group;
                }
            }
            "dl" => {
                self.flush();
                // A term with no description of its own heads nothing after its list.
                self.terms.clear();
            }
            _ if BLOCK_TAGS.contains(&name) => self.flush(),
            _ => {}
        }
    }

    fn push_text(&mut self, text: &str) {
        if self.pre_depth > 0 && self.heading.is_none() {
            self.buf.push_str(text);
            return;
        }
        for c in text.chars() {
            if c.is_whitespace() {
                self.pending_space = true;
                continue;
            }
            if !self.buf.is_empty() && !self.buf.ends_with('\n') {
                if self.pending_cell {
                    self.buf.push_str(" | ");
                } else if self.pending_space {
                    self.buf.push(' ');
                }
            }
            self.pending_cell = false;
            self.pending_space = false;
            self.buf.push(c);
            if self.anchor_depth > 0 {
                self.out.link_chars += c.len_utf8();
            }
        }
    }

    /// Ends the paragraph being built (not while a heading is being captured: a block inside a
    /// heading belongs to the heading).
    fn flush(&mut self) {
        if self.heading.is_some() {
            return;
        }
        let text = std::mem::take(&mut self.buf);
        self.pending_space = false;
        self.pending_cell = false;
        if let Some((start, end)) = self.emit(trim_blank_lines(&text)) {
            self.out.paragraphs.push(Paragraph {
                start,
                end,
                group: self.group,
            });
        }
    }

    fn finish_heading(&mut self, level: u8) {
        self.heading = None;
        let raw = std::mem::take(&mut self.buf);
        self.pending_space = false;
        self.pending_cell = false;
        let text = collapse_whitespace(&raw.replace('¶', ""));
        if text.is_empty() {
            return;
        }
        self.emit(&text);
        if level == 1 && self.first_h1.is_none() {
            self.first_h1 = Some(text.clone());
        }
        while self
            .heading_stack
            .last()
            .is_some_and(|(open_level, _)| *open_level >= level)
        {
            self.heading_stack.pop();
        }
        self.heading_stack.push((level, text));
        let path = self.heading_stack.iter().map(|(_, t)| t.clone()).collect();
        self.group = self.out.new_group(path);
    }

    /// Appends a block to the text, separated by a blank line; returns its span.
    fn emit(&mut self, block: &str) -> Option<(usize, usize)> {
        if block.trim().is_empty() {
            return None;
        }
        if !self.out.text.is_empty() {
            self.out.text.push_str("\n\n");
        }
        let start = self.out.text.len();
        self.out.text.push_str(block);
        Some((start, self.out.text.len()))
    }
}

/// A link to another page of the same site; a page of links elsewhere (a list of acronyms,
/// each linked to its definition on another site) is still a glossary.
fn links_within_site(element: ElementRef<'_>) -> bool {
    element
        .value()
        .attr("href")
        .is_some_and(|h| !h.contains("://") && !h.starts_with("//") && !h.starts_with("mailto:"))
}

fn heading_level(name: &str) -> Option<u8> {
    match name {
        "h1" => Some(1),
        "h2" => Some(2),
        "h3" => Some(3),
        "h4" => Some(4),
        "h5" => Some(5),
        "h6" => Some(6),
        _ => None,
    }
}

/// Drops leading blank lines and trailing whitespace, keeping the first line's indentation.
fn trim_blank_lines(text: &str) -> &str {
    let trimmed_end = text.trim_end();
    let first_content = trimmed_end
        .find(|c: char| !c.is_whitespace())
        .unwrap_or(trimmed_end.len());
    let line_start = trimmed_end[..first_content]
        .rfind('\n')
        .map_or(0, |newline| newline + 1);
    &trimmed_end[line_start..]
}

fn is_boilerplate_token(token: &str, keep_toc: bool) -> bool {
    let token = token.to_ascii_lowercase();
    if STATE_PREFIXES.iter().any(|p| token.starts_with(p)) {
        return false;
    }
    BOILERPLATE_WORDS.iter().any(|&word| {
        if keep_toc && word == "toc" {
            return false;
        }
        token == word
            || token
                .strip_prefix(word)
                .is_some_and(|rest| rest.starts_with(['-', '_']))
            || token
                .strip_suffix(word)
                .is_some_and(|rest| rest.ends_with(['-', '_']))
    })
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::ingest::passages::build_passages;

    fn paragraphs(extracted: &Extracted) -> Vec<&str> {
        extracted
            .paragraphs
            .iter()
            .map(|p| &extracted.text[p.start..p.end])
            .collect()
    }

    #[test]
    fn a_page_of_links_is_navigation_and_a_reference_page_is_not() {
        // SQLite's keyword_index.html: every entry a link to the page that discusses it.
        let entries: String = (0..40)
            .map(|i| format!("<li><a href=\"p{i}.html\">network filesystem use {i}</a></li>"))
            .collect();
        let index = format!("<html><body><h1>Keyword Index</h1><ul>{entries}</ul></body></html>");
        assert!(extract(&index).is_navigation());
        // PostgreSQL's bookindex.html: the term is plain text, the places are links.
        let entries: String = (0..40)
            .map(|i| format!("<dt>autovacuum {i}</dt><dd><a href=\"r{i}.html\">configuration parameters</a></dd>"))
            .collect();
        let index = format!("<html><body><h1>Index</h1><dl>{entries}</dl></body></html>");
        assert!(extract(&index).is_navigation());
        // A reference page of short terms, each with a description that states something,
        // some of them linking elsewhere.
        let entries: String = (0..40)
            .map(|i| {
                format!(
                    "<dt><a href=\"#p{i}\">param_{i}</a> (integer)</dt><dd><p>Sets the limit \
                     number {i}. The default is {i} (see <a href=\"x.html\">Limits</a>).</p></dd>"
                )
            })
            .collect();
        let reference = format!("<html><body><h1>Settings</h1><dl>{entries}</dl></body></html>");
        assert!(!extract(&reference).is_navigation());
        // A short chapter page that lists its sections is still read.
        let toc: String = (0..10)
            .map(|i| format!("<li><a href=\"s{i}.html\">Section {i}</a></li>"))
            .collect();
        let chapter = format!("<html><body><h1>Chapter</h1><ul>{toc}</ul></body></html>");
        assert!(!extract(&chapter).is_navigation());
    }

    #[test]
    fn a_definitions_description_reads_under_its_term() {
        let html = r#"<html><body><h2>Connection Settings</h2>
            <dl class="variablelist">
            <dt id="GUC-MAX-CONNECTIONS"><span class="term"><code class="varname">max_connections</code>
              (<code class="type">integer</code>)</span></dt>
            <dd><p>Determines the maximum number of concurrent connections.</p>
              <p>The default is typically 100 connections.</p></dd>
            <dt>port (integer)</dt><dt>listen_port</dt>
            <dd><p>The TCP port the server listens on.</p></dd>
            </dl>
            <p>After the list.</p></body></html>"#;
        let extracted = extract(html);
        let passages = build_passages("doc", &extracted);
        let under = |text: &str| heading_of(&passages, text);
        assert_eq!(
            under("maximum number of concurrent"),
            ["Connection Settings", "max_connections (integer)"]
        );
        assert_eq!(
            under("typically 100"),
            ["Connection Settings", "max_connections (integer)"]
        );
        assert_eq!(
            under("TCP port"),
            ["Connection Settings", "port (integer), listen_port"]
        );
        assert_eq!(under("After the list"), ["Connection Settings"]);
    }

    /// The heading path of the passage holding `text`.
    fn heading_of(passages: &[crate::artifact::Passage], text: &str) -> Vec<String> {
        passages
            .iter()
            .find(|p| p.text.contains(text))
            .map(|p| p.heading_path.clone())
            .unwrap_or_else(|| panic!("{text} not found: {passages:?}"))
    }

    #[test]
    fn a_reference_page_s_h_elements_head_their_entries() {
        // As SQLite's pragma.html heads each pragma.
        let html = r#"<html><body><h1>PRAGMA Statements</h1><h2>List Of PRAGMAs</h2>
            <a name="pragma_auto_vacuum"></a>
            <h _id=pragma_auto_vacuum style="display:none"> PRAGMA auto_vacuum</h><hr>
            <p>When auto-vacuum is disabled and data is deleted, the file keeps its size.</p>
            <a name="pragma_cache_size"></a>
            <h _id=pragma_cache_size style="display:none"> PRAGMA cache_size</h><hr>
            <p>Query or change the suggested maximum number of database disk pages.</p>
            <h2>Notes</h2><p>After the list.</p></body></html>"#;
        let passages = build_passages("doc", &extract(html));
        let under = |text: &str| heading_of(&passages, text);
        assert_eq!(
            under("keeps its size"),
            ["PRAGMA Statements", "List Of PRAGMAs", "PRAGMA auto_vacuum"]
        );
        // The next entry is a sibling, not a child, of the one before.
        assert_eq!(
            under("suggested maximum"),
            ["PRAGMA Statements", "List Of PRAGMAs", "PRAGMA cache_size"]
        );
        assert_eq!(under("After the list"), ["PRAGMA Statements", "Notes"]);
    }

    #[test]
    fn drops_boilerplate_and_decodes_entities() {
        let html = r#"<!DOCTYPE html><html><head><title>  The
            Title </title><style>p { color: red }</style></head><body>
            <nav><a href="/">Home</a> <a href="/about">About</a></nav>
            <div class="navheader">Prev Next</div>
            <script>var secret = "script text";</script>
            <div id="cookie-banner">We use cookies</div>
            <h1>Fish &amp; Chips</h1>
            <p>Caf&eacute; &lt;menu&gt;   with
               <b>bold</b>&nbsp;text &#x2014; fine.</p>
            <ul><li>first item</li><li>second <em>item</em></li></ul>
            <pre>  let x = 1;
    let y = 2;</pre>
            <table><tr><th>Name</th><th>Value</th></tr><tr><td>a</td><td></td><td>1</td></tr></table>
            <footer>Copyright</footer>
            </body></html>"#;
        let extracted = extract(html);
        let text = &extracted.text;
        for gone in [
            "Home",
            "Prev",
            "script text",
            "color",
            "cookies",
            "Copyright",
        ] {
            assert!(!text.contains(gone), "{gone:?} left in {text:?}");
        }
        assert_eq!(extracted.title.as_deref(), Some("The Title"));
        assert_eq!(
            paragraphs(&extracted),
            vec![
                "Café <menu> with bold text \u{2014} fine.",
                "first item",
                "second item",
                "  let x = 1;\n    let y = 2;",
                "Name | Value",
                "a | 1",
            ]
        );
        assert!(text.starts_with("Fish & Chips\n\nCafé"), "{text:?}");
        let passages = build_passages("d", &extracted);
        assert!(passages
            .iter()
            .all(|p| p.heading_path == vec!["Fish & Chips".to_string()]));
    }

    #[test]
    fn heading_paths_nest_and_drop_pilcrows() {
        let html = r##"<body><div class="body" role="main">
            <h1>Top<a class="headerlink" href="#top">¶</a></h1><p>intro</p>
            <h2>  Second
               level ¶</h2><p>under second</p>
            <h3>Third</h3><p>under third</p>
            <h2>Sibling</h2><p>under sibling</p></div>
            <div class="sphinxsidebar"><h3>Navigation</h3><p>side</p></div></body>"##;
        let extracted = extract(html);
        let path_of = |needle: &str| {
            let p = extracted
                .paragraphs
                .iter()
                .find(|p| &extracted.text[p.start..p.end] == needle)
                .unwrap();
            extracted.groups[p.group].clone()
        };
        assert_eq!(path_of("intro"), vec!["Top"]);
        assert_eq!(path_of("under second"), vec!["Top", "Second level"]);
        assert_eq!(path_of("under third"), vec!["Top", "Second level", "Third"]);
        assert_eq!(path_of("under sibling"), vec!["Top", "Sibling"]);
        assert!(!extracted.text.contains("side"));
        assert!(!extracted.text.contains('¶'));
        // No <title>: the first h1 names the page.
        assert_eq!(extracted.title.as_deref(), Some("Top"));
    }

    #[test]
    fn main_element_is_preferred() {
        let html = "<body><div>outside text</div><main><p>inside text</p></main></body>";
        let extracted = extract(html);
        assert!(!extracted.text.contains("outside"));
        assert!(extracted.text.contains("inside text"));
    }

    #[test]
    fn class_rule_never_drops_everything() {
        let content = "Real content that matters. ".repeat(10);
        let html = format!(
            "<body><div class=\"sidebar-layout\"><p>{content}</p></div>\
             <div class=\"has-sidebar\"><p>kept too</p></div></body>"
        );
        let extracted = extract(&html);
        assert!(
            extracted.text.contains("Real content"),
            "{:?}",
            extracted.text
        );
        assert!(extracted.text.contains("kept too"));
    }

    #[test]
    fn article_header_keeps_its_heading() {
        let html = "<body><header>Site</header><article><header><h1>Post</h1></header>\
                    <p>Body.</p></article></body>";
        let extracted = extract(html);
        assert_eq!(paragraphs(&extracted), vec!["Body."]);
        assert!(extracted.text.starts_with("Post\n\nBody."));
        assert!(!extracted.text.contains("Site"));
    }

    #[test]
    fn deep_nesting_and_garbage_do_not_panic() {
        // html5ever's tree builder is quadratic in nesting depth, so the depth is modest; the
        // walker itself is iterative and linear.
        let deep = "<div>".repeat(3_000) + "deep text" + &"</div>".repeat(3_000);
        assert!(extract(&deep).text.contains("deep text"));
        for junk in [
            "",
            "<",
            "<<>>",
            "</p></p>",
            "<pre>",
            "<h1>",
            "\u{0}\u{feff}<td>x",
        ] {
            let extracted = extract(junk);
            for p in &extracted.paragraphs {
                assert!(extracted.text.get(p.start..p.end).is_some());
            }
        }
    }

    #[test]
    fn boilerplate_tokens() {
        for yes in [
            "nav",
            "navheader",
            "nav-main",
            "main-nav",
            "fancy_toc",
            "toc_sub",
            "Footer",
        ] {
            assert!(is_boilerplate_token(yes, false), "{yes}");
        }
        for no in [
            "navigate",
            "headerlink",
            "body",
            "tocs",
            "has-sidebar",
            "no-toc",
            "content",
        ] {
            assert!(!is_boilerplate_token(no, false), "{no}");
        }
        assert!(!is_boilerplate_token("toc", true));
        assert!(is_boilerplate_token("navheader", true));
    }

    #[test]
    fn trim_blank_lines_keeps_indentation() {
        assert_eq!(
            trim_blank_lines("\n  \n   code\n  more  \n\n"),
            "   code\n  more"
        );
        assert_eq!(trim_blank_lines(" \n "), "");
    }
}
