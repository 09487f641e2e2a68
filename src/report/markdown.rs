//! The Markdown report: rendering, and the parse-back check that proves every citation link
//! resolves to a source entry and every quote survived escaping intact.

use crate::artifact::{Citation, Report, Reviewed, Stance, Status, Vote};
use crate::text::squash_whitespace;
use comrak::nodes::NodeValue;
use std::collections::{HashMap, HashSet};
use std::fmt::Write;

/// Numbers citations in order of first appearance; one number per (document, span).
#[derive(Default)]
pub struct CitationIndex {
    numbers: HashMap<(String, usize, usize), usize>,
    pub sources: Vec<Citation>,
}

impl CitationIndex {
    pub fn number(&mut self, c: &Citation) -> usize {
        let key = (c.doc_id.clone(), c.start, c.end);
        if let Some(n) = self.numbers.get(&key) {
            return *n;
        }
        self.sources.push(c.clone());
        let n = self.sources.len();
        self.numbers.insert(key, n);
        n
    }

    fn refs(&mut self, cites: &[&Citation]) -> String {
        let mut nums: Vec<usize> = cites.iter().map(|c| self.number(c)).collect();
        nums.dedup();
        nums.iter()
            .map(|n| format!("[\\[{n}\\]](#src-{n})"))
            .collect::<Vec<_>>()
            .join("")
    }
}

/// Escape text for a CommonMark inline context; newlines become spaces.
pub fn esc(text: &str) -> String {
    escape_inline(&squash_whitespace(text))
}

/// Backslash-escape every character that could start inline markup; whitespace is kept.
fn escape_inline(text: &str) -> String {
    let mut out = String::with_capacity(text.len() + 8);
    for c in text.chars() {
        if matches!(
            c,
            '\\' | '`' | '*' | '_' | '[' | ']' | '<' | '>' | '&' | '~' | '|'
        ) {
            out.push('\\');
        }
        out.push(c);
    }
    out
}

/// A source's quote as the lines of its block quote, each after `prefix`, in curly quotes.
/// Prose reads as one line (its line breaks are only where the source wrapped it), but a quote
/// whose lines are indented (code, a manual's layout) keeps its lines and their leading
/// whitespace: CommonMark drops a line's leading spaces, so the first is written as `&#32;`.
fn quote_block(prefix: &str, quote: &str) -> String {
    let lines: Vec<&str> = quote.lines().map(str::trim_end).collect();
    let indented = lines
        .iter()
        .skip(1)
        .any(|l| l.starts_with([' ', '\t']) && !l.trim().is_empty());
    if !indented {
        return format!("{prefix}“{}”", esc(quote));
    }
    let mut out = String::new();
    for (i, line) in lines.iter().enumerate() {
        let body = line.trim_start();
        let lead = &line[..line.len() - body.len()];
        let text = if i == 0 {
            escape_inline(body)
        } else if let Some(first) = lead.chars().next() {
            let entity = if first == '\t' { "&#9;" } else { "&#32;" };
            format!(
                "{entity}{}{}",
                &lead[first.len_utf8()..],
                escape_inline(body)
            )
        } else if body.is_empty() {
            "&#32;".to_string()
        } else {
            escape_line_start(&escape_inline(body))
        };
        let open = if i == 0 { "“" } else { "" };
        let close = if i + 1 == lines.len() { "”" } else { "" };
        let _ = writeln!(out, "{prefix}{open}{text}{close}");
    }
    out.truncate(out.trim_end_matches('\n').len());
    out
}

/// An unindented line inside a paragraph that could start a block of its own (a heading, a
/// list item, a setext underline, a thematic break) is made plain text.
fn escape_line_start(line: &str) -> String {
    if line.starts_with(['#', '-', '+', '=']) {
        return format!("\\{line}");
    }
    let digits = line.len() - line.trim_start_matches(|c: char| c.is_ascii_digit()).len();
    match line[digits..].chars().next() {
        Some('.' | ')') if digits > 0 => format!("{}\\{}", &line[..digits], &line[digits..]),
        _ => line.to_string(),
    }
}

/// The citations a finding rests on: the claim's own sources, then other documents that
/// reviewers found stating it.
fn finding_citations(r: &Reviewed) -> Vec<&Citation> {
    let mut out: Vec<&Citation> = r.claim.citations.iter().collect();
    for v in &r.votes {
        if v.stance == Stance::Support && v.corroborating {
            if let Some(e) = &v.evidence {
                if !out.iter().any(|c| c.doc_id == e.doc_id) {
                    out.push(e);
                }
            }
        }
    }
    out
}

/// A vote and the evidence it relied on, as a list item at `indent`:
/// `- **Against** (skeptic-1, confidence 0.72): why. “quote” [n]`. Without a note the reason is
/// left out (`- **For** (reviewer-2, confidence 0.90): “quote” [n]`).
pub fn vote_item(
    indent: &str,
    label: &str,
    vote: &Vote,
    evidence: &Citation,
    refs: &str,
    note: bool,
) -> String {
    let why = if note {
        format!("{}. ", esc(&vote.note))
    } else {
        String::new()
    };
    format!(
        "{indent}- **{label}** ({}, confidence {:.2}): {why}“{}” {refs}",
        esc(&vote.reviewer),
        vote.confidence,
        esc(&evidence.quote)
    )
}

/// The Markdown text and the numbered sources it cites (source `n` is `sources[n - 1]`).
/// A written sentence and the numbered citations of the claims it rests on.
fn cited_sentence(
    sentence: &crate::artifact::Sentence,
    by_id: &HashMap<&str, &Reviewed>,
    idx: &mut CitationIndex,
) -> String {
    let cites: Vec<&Citation> = sentence
        .claim_ids
        .iter()
        .filter_map(|id| by_id.get(id.as_str()))
        .flat_map(|r| finding_citations(r))
        .collect();
    format!("{} {}", esc(&sentence.text), idx.refs(&cites))
}

/// "## Answer": each part of the question, its sentences as one cited paragraph (or a plain
/// statement that the sources do not answer it), then the key facts.
fn render_answer(
    md: &mut String,
    report: &Report,
    by_id: &HashMap<&str, &Reviewed>,
    idx: &mut CitationIndex,
) {
    let a = &report.answer;
    if a.parts.is_empty() {
        return;
    }
    md.push_str("## Answer\n\n");
    let cited = |sentence: &crate::artifact::Sentence, idx: &mut CitationIndex| {
        cited_sentence(sentence, by_id, idx)
    };
    let several = a.parts.len() > 1;
    for p in &a.parts {
        if several {
            let part = p.part.trim().trim_end_matches('?');
            let mut chars = part.chars();
            let part: String = chars
                .next()
                .map(|c| c.to_uppercase().chain(chars).collect())
                .unwrap_or_default();
            let _ = writeln!(md, "**{}?**\n", esc(&part));
        }
        if p.sentences.is_empty() {
            md.push_str("The sources found do not answer this part.\n\n");
            continue;
        }
        let said: Vec<String> = p.sentences.iter().map(|s| cited(s, idx)).collect();
        let _ = writeln!(md, "{}\n", said.join(" "));
    }
    if !a.key_facts.is_empty() {
        md.push_str("Key facts:\n\n");
        for f in &a.key_facts {
            let _ = writeln!(md, "- {}", cited(f, idx));
        }
        md.push('\n');
    }
}

/// "## Kept, answering no part of the question": claims the panel kept that no section of the
/// findings holds, those on the question's subject first (most relevant first), then those on
/// other subjects, each with its citations: nothing kept is hidden, and none poses as an
/// answer.
fn render_kept_apart(
    md: &mut String,
    report: &Report,
    by_id: &HashMap<&str, &Reviewed>,
    idx: &mut CitationIndex,
) {
    let kept = |id: &String| {
        by_id
            .get(id.as_str())
            .copied()
            .filter(|r| r.verdict.status == Status::Kept)
    };
    let aside: Vec<&Reviewed> = report.aside.iter().filter_map(kept).collect();
    // What the findings or the Answer state answers a part (a writer's Answer may cite a claim
    // its sections leave out).
    let answer = &report.answer;
    let placed: HashSet<&str> = report
        .sections
        .iter()
        .flat_map(|s| &s.sentences)
        .chain(answer.parts.iter().flat_map(|p| &p.sentences))
        .chain(&answer.key_facts)
        .flat_map(|x| x.claim_ids.iter())
        .map(String::as_str)
        .collect();
    let mut unplaced: Vec<&Reviewed> = report
        .reviewed
        .iter()
        .filter(|r| r.verdict.status == Status::Kept)
        .filter(|r| !placed.contains(r.claim.id.as_str()) && !report.aside.contains(&r.claim.id))
        .collect();
    // The most relevant first; ties in the order of their sources, not of gathering (which
    // runs concurrently), so a report reads the same every run.
    let at = |r: &Reviewed| {
        r.claim
            .citations
            .first()
            .map(|c| (c.doc_id.clone(), c.start))
    };
    unplaced.sort_by(|a, b| {
        b.claim
            .score
            .total_cmp(&a.claim.score)
            .then_with(|| at(a).cmp(&at(b)))
    });
    if aside.is_empty() && unplaced.is_empty() {
        return;
    }
    md.push_str(
        "## Kept, answering no part of the question\n\nThe panel kept these, but none of them \
         answers a part of the question; they are not findings.\n\n",
    );
    let subject = esc(&report.plan.subject.join(", "));
    for (heading, claims) in [
        (format!("On the question's subject ({subject})"), unplaced),
        ("On other subjects".to_string(), aside),
    ] {
        if claims.is_empty() {
            continue;
        }
        let _ = writeln!(md, "### {heading}\n");
        for r in claims {
            let own: Vec<&Citation> = r.claim.citations.iter().collect();
            let heading = own.first().and_then(|c| c.heading_path.last());
            let printed = crate::text::under_entry(&r.claim.text, heading.map(String::as_str));
            let _ = writeln!(md, "- {} {}", esc(&printed), idx.refs(&own));
        }
        md.push('\n');
    }
}

pub fn render_markdown(report: &Report) -> (String, Vec<Citation>) {
    let mut md = String::new();
    let mut idx = CitationIndex::default();
    let by_id: HashMap<&str, &Reviewed> = report
        .reviewed
        .iter()
        .map(|r| (r.claim.id.as_str(), r))
        .collect();
    let s = &report.stats;
    let _ = writeln!(md, "# {}\n", esc(&report.title));
    let _ = writeln!(md, "**Question:** {}\n", esc(&report.question));
    let _ = writeln!(
        md,
        "Engine: {} · {} · {} documents searched{} · {} claims reviewed by {} reviewers: \
         {} kept, {} disputed, {} dropped, {} unverified.\n",
        report.engine,
        report.created,
        s.documents,
        if s.sample_corpus {
            " (the bundled sample corpus: no --corpus was given)"
        } else {
            ""
        },
        report.reviewed.len(),
        report.policy.reviewers,
        s.kept,
        s.disputed,
        s.dropped,
        s.unverified
    );
    if s.unverified > 0 || report.spend.as_ref().is_some_and(|sp| sp.exhausted) {
        let _ = writeln!(
            md,
            "**Partial report:** {} claims could not be verified; they are listed under \
             \"Left unverified\" and none of them is stated as a finding.\n",
            s.unverified
        );
    }

    render_answer(&mut md, report, &by_id, &mut idx);

    md.push_str("## Plan\n\n");
    for sq in &report.plan.sub_queries {
        let _ = writeln!(
            md,
            "{}. **{}**: {}",
            sq.id + 1,
            esc(&sq.label),
            esc(&sq.query)
        );
    }
    md.push('\n');

    md.push_str("## Findings\n\n");
    if report.sections.is_empty() {
        md.push_str("No claim gathered a quorum of supporting votes. See the appendix for what was considered.\n\n");
    }
    for section in &report.sections {
        let _ = writeln!(md, "### {}\n", esc(&section.heading));
        for sentence in &section.sentences {
            let _ = writeln!(md, "- {}", cited_sentence(sentence, &by_id, &mut idx));
        }
        md.push('\n');
    }

    let disputed: Vec<&Reviewed> = report
        .reviewed
        .iter()
        .filter(|r| r.verdict.status == Status::Disputed)
        .collect();
    if !disputed.is_empty() {
        md.push_str("## Disputed\n\nThe sources disagree on these; neither side is stated as a finding.\n\n");
        for r in disputed {
            let own: Vec<&Citation> = r.claim.citations.iter().collect();
            let _ = writeln!(md, "### {} {}\n", esc(&r.claim.text), idx.refs(&own));
            let _ = writeln!(
                md,
                "- **For:** {} of {} reviewers found support.",
                r.verdict.support,
                r.votes.len()
            );
            let mut shown = Vec::new();
            for v in r.votes.iter().filter(|v| v.stance == Stance::Refute) {
                let Some(e) = &v.evidence else { continue };
                if shown.contains(&(&e.doc_id, e.start)) {
                    continue;
                }
                shown.push((&e.doc_id, e.start));
                let refs = idx.refs(&[e]);
                let _ = writeln!(md, "{}", vote_item("", "Against", v, e, &refs, true));
            }
            md.push('\n');
        }
    }

    render_kept_apart(&mut md, report, &by_id, &mut idx);

    render_sources(&mut md, &idx.sources);

    let unverified: Vec<&Reviewed> = report
        .reviewed
        .iter()
        .filter(|r| r.verdict.status == Status::Unverified)
        .collect();
    if !unverified.is_empty() {
        md.push_str("## Left unverified\n\nThe panel could not vote on these (failed or skipped votes); they are neither confirmed nor refuted.\n\n");
        for r in unverified {
            let _ = writeln!(md, "- {} — {}", esc(&r.claim.text), esc(&r.verdict.reason));
        }
        md.push('\n');
    }

    render_trail(&mut md, report);

    let dropped: Vec<&Reviewed> = report
        .reviewed
        .iter()
        .filter(|r| r.verdict.status == Status::Dropped)
        .collect();
    md.push_str("## Appendix: dropped claims\n\n");
    if dropped.is_empty() {
        md.push_str("None.\n\n");
    }
    for r in dropped {
        let origin = r
            .claim
            .citations
            .first()
            .map(|c| format!(" (from `{}`)", c.location.replace('`', "'")))
            .unwrap_or_default();
        let _ = writeln!(
            md,
            "- {} — {}{origin}",
            esc(&r.claim.text),
            esc(&r.verdict.reason)
        );
    }
    md.push('\n');

    render_skipped(&mut md, &report.skipped);

    md.push_str("## About this report\n\n");
    let p = &report.policy;
    let _ = writeln!(
        md,
        "- Voting policy: {} reviewers (at least one skeptic), quorum {}, min sources {}, \
         a refutation at confidence {:.2} or more disputes a claim.",
        p.reviewers, p.quorum, p.min_sources, p.dispute_confidence
    );
    let _ = writeln!(
        md,
        "- Every quote above was checked against the stored text of its source at the byte span shown before this report was written; {} claims failed that check and are not cited.",
        s.quotes_failed
    );
    let _ = writeln!(
        md,
        "- {} passages gathered; {} documents indexed this run, {} unchanged; {} ms.",
        s.passages_gathered, s.documents_indexed, s.documents_unchanged, s.elapsed_ms
    );
    if let Some(sp) = &report.spend {
        let _ = writeln!(
            md,
            "- Model calls: {} ({} failed); tokens: {} input ({} from cache, {} written to cache) and {} output; cost ${:.4}{}.",
            sp.calls,
            sp.failed_calls,
            sp.input_uncached + sp.cache_read + sp.cache_write,
            sp.cache_read,
            sp.cache_write,
            sp.output,
            sp.cost_usd,
            {
                let caps: Vec<String> = [
                    sp.budget_tokens.map(|t| format!("{t} tokens")),
                    sp.budget_usd.map(|u| format!("${u:.2}")),
                    sp.budget_seconds.map(|s| format!("{s} s of wall time")),
                ]
                .into_iter()
                .flatten()
                .collect();
                if caps.is_empty() {
                    String::new()
                } else {
                    format!(" (budget: {})", caps.join(", "))
                }
            }
        );
        if sp.estimated_calls > 0 {
            let _ = writeln!(
                md,
                "- Token figures of {} of these calls are our estimate: the provider reported no usable usage for them.",
                sp.estimated_calls
            );
        }
        if sp.exhausted {
            let _ = writeln!(
                md,
                "- **The budget ran out**: dispatching stopped, and what was not reviewed is listed under \"Left unverified\"."
            );
        }
    }
    for note in &report.notes {
        let _ = writeln!(md, "- Note: {}", esc(note));
    }
    if !report.skipped.is_empty() {
        let files: Vec<String> = report
            .skipped
            .iter()
            .filter(|sk| is_local_file(&sk.location))
            .map(|sk| {
                let name = std::path::Path::new(&sk.location)
                    .file_name()
                    .map(|n| n.to_string_lossy().into_owned())
                    .unwrap_or_else(|| sk.location.clone());
                format!("`{}`", name.replace('`', "'"))
            })
            .collect();
        let others = report.skipped.len() - files.len();
        if !files.is_empty() {
            let shown: Vec<&str> = files.iter().take(50).map(String::as_str).collect();
            let more = if files.len() > 50 {
                format!(" and {} more", files.len() - 50)
            } else {
                String::new()
            };
            let _ = writeln!(
                md,
                "- {} files skipped: {}{more} (reasons under Sources not used).",
                files.len(),
                shown.join(", ")
            );
        }
        if others > 0 {
            let _ = writeln!(
                md,
                "- {others} other sources not used (web pages, searches, agents; reasons under Sources not used)."
            );
        }
    }
    (md, idx.sources)
}

/// A skipped entry that is a local file (not a URL, a search provider or an agent).
fn is_local_file(location: &str) -> bool {
    !(location.starts_with("http://")
        || location.starts_with("https://")
        || location.starts_with("search: ")
        || matches!(location, "gather" | "web"))
}

/// `## Sources`: one numbered entry per cited source (title, heading path, location, page or
/// fetch time, hash prefix, byte span, the verbatim quote); entry `n` is `sources[n - 1]`.
/// "## Research trail": per round after the first, what was searched and why, and what each
/// search added; the disputes voted on again and how they came out.
fn render_trail(md: &mut String, report: &Report) {
    if report.trail.is_empty() {
        return;
    }
    md.push_str("## Research trail\n\n");
    md.push_str("Round 1 searched the plan above. Later rounds followed up what it left open:\n\n");
    for round in &report.trail {
        let _ = writeln!(md, "**Round {}**\n", round.number);
        for s in &round.searches {
            let f = &s.follow_up;
            let _ = writeln!(
                md,
                "- {} `{}`: {}. Found {} new passages, {} new claims, {} kept.",
                f.lead.word(),
                f.query.replace('`', "'"),
                esc(&f.reason),
                s.new_passages,
                s.new_claims,
                s.kept
            );
        }
        for r in &round.revoted {
            let claim = report
                .reviewed
                .iter()
                .find(|x| x.claim.id == r.claim_id)
                .map(|x| x.claim.text.as_str())
                .unwrap_or(r.claim_id.as_str());
            let outcome = if r.before == r.after {
                format!("still {}", r.after.word())
            } else {
                format!("settled: {} (was {})", r.after.word(), r.before.word())
            };
            let on = if r.web {
                " on stored evidence, then on a web search"
            } else {
                ""
            };
            let _ = writeln!(md, "- voted again{on} on \"{}\": {outcome}", esc(claim));
        }
        md.push('\n');
    }
}

pub fn render_sources(md: &mut String, sources: &[Citation]) {
    md.push_str("## Sources\n\n");
    if sources.is_empty() {
        md.push_str("No source is cited.\n\n");
    }
    for (i, c) in sources.iter().enumerate() {
        let n = i + 1;
        // The outermost heading is usually the title again.
        let path: Vec<&String> = c
            .heading_path
            .iter()
            .skip_while(|h| h.trim() == c.title.trim())
            .collect();
        let heading = if path.is_empty() {
            String::new()
        } else {
            let joined: Vec<&str> = path.iter().map(|h| h.as_str()).collect();
            format!(" › {}", esc(&joined.join(" › ")))
        };
        // Web sources: when the page was fetched; PDFs: the page the quote is on.
        let mut place = String::new();
        if let Some(page) = c.page {
            let _ = write!(place, " · page {page}");
        }
        if let Some(fetched) = &c.fetched {
            let _ = write!(place, " · fetched {}", esc(fetched));
        }
        // The quote is indented as far as the entry's text ("10. " is wider than "9. "), or it
        // would not belong to the entry and would end the list.
        let marker = format!("{n}. ");
        let indent = " ".repeat(marker.len());
        let _ = writeln!(
            md,
            "{marker}<span id=\"src-{n}\"></span>**{}**{heading} · `{}`{place} · blake3 `{}` · bytes {}–{}\n\n{}\n",
            esc(&c.title),
            c.location.replace('`', "'"),
            &c.doc_hash[..c.doc_hash.len().min(16)],
            c.start,
            c.end,
            quote_block(&format!("{indent}> "), &c.quote)
        );
    }
}

/// `## Sources not used`: every file, page, search or agent that could not be used, counted by
/// the kind of failure and listed with reasons.
pub fn render_skipped(md: &mut String, skipped: &[crate::artifact::Skipped]) {
    if skipped.is_empty() {
        return;
    }
    md.push_str("## Sources not used\n\n");
    let mut kinds: std::collections::BTreeMap<&str, usize> = std::collections::BTreeMap::new();
    for sk in skipped {
        *kinds.entry(sk.kind.as_str()).or_default() += 1;
    }
    let counts: Vec<String> = kinds.iter().map(|(k, n)| format!("{k} {n}")).collect();
    let _ = writeln!(
        md,
        "{} sources could not be used ({}). None of them is cited, and none counts for or \
         against any claim.\n",
        skipped.len(),
        counts.join(", ")
    );
    // Many local files (a documentation tree's images and stylesheets) read as counts by type;
    // web pages, searches and agents stay one line each, as do a few files.
    let (files, rest): (Vec<_>, Vec<_>) =
        skipped.iter().partition(|sk| is_local_file(&sk.location));
    let (grouped, listed): (Vec<_>, Vec<_>) = if files.len() > FILES_LISTED {
        (files, rest)
    } else {
        (Vec::new(), skipped.iter().collect())
    };
    let mut groups: std::collections::BTreeMap<(String, String), Vec<&crate::artifact::Skipped>> =
        std::collections::BTreeMap::new();
    for sk in grouped {
        let ext = std::path::Path::new(&sk.location)
            .extension()
            .map(|e| format!(".{}", e.to_string_lossy().to_lowercase()))
            .unwrap_or_else(|| "no extension".into());
        groups.entry((sk.kind.clone(), ext)).or_default().push(sk);
    }
    let mut groups: Vec<_> = groups.into_iter().collect();
    groups.sort_by(|a, b| b.1.len().cmp(&a.1.len()).then_with(|| a.0.cmp(&b.0)));
    for ((_, ext), members) in &groups {
        let examples: Vec<String> = members
            .iter()
            .take(3)
            .map(|sk| format!("`{}`", sk.location.replace('`', "'")))
            .collect();
        let _ = writeln!(
            md,
            "- {} {ext} file{}: {} (e.g. {})",
            members.len(),
            if members.len() == 1 { "" } else { "s" },
            esc(&members[0].reason),
            examples.join(", ")
        );
    }
    for sk in listed.iter().take(200) {
        let _ = writeln!(
            md,
            "- `{}`: {}",
            sk.location.replace('`', "'"),
            esc(&sk.reason)
        );
    }
    if listed.len() > 200 {
        let _ = writeln!(md, "- and {} more (see the JSON audit)", listed.len() - 200);
    }
    if !groups.is_empty() {
        md.push_str("\nEvery skipped file is named, with its reason, in the JSON audit.\n");
    }
    md.push('\n');
}

/// Skipped local files listed one by one at most; past that they are counted by type.
const FILES_LISTED: usize = 20;

/// Whether raw HTML is the opening tag of a source's anchor, `<span id="src-N">`: the only
/// raw HTML a report writes.
pub(super) fn is_source_anchor(html: &str) -> bool {
    html.strip_prefix("<span id=\"src-")
        .and_then(|r| r.strip_suffix("\">"))
        .is_some_and(|n| !n.is_empty() && n.bytes().all(|b| b.is_ascii_digit()))
}

/// Parse the Markdown back and check it: every citation link points at an existing source
/// entry, every source entry is present once, and every cited quote reads back verbatim
/// (whitespace-normalised) from the parsed text.
pub fn check_markdown(md: &str, sources: &[Citation]) -> Result<(), String> {
    let arena = comrak::Arena::new();
    let root = comrak::parse_document(&arena, md, &comrak::Options::default());
    let mut text = String::new();
    let mut links = Vec::new();
    let mut anchors = Vec::new();
    for node in root.descendants() {
        match &node.data().value {
            NodeValue::Text(t) => text.push_str(t),
            NodeValue::Code(c) => text.push_str(&c.literal),
            NodeValue::SoftBreak | NodeValue::LineBreak => text.push(' '),
            NodeValue::Paragraph | NodeValue::Item(_) | NodeValue::Heading(_) => text.push('\n'),
            NodeValue::Link(l) => links.push(l.url.clone()),
            NodeValue::HtmlInline(h) => anchors.push(h.clone()),
            _ => {}
        }
    }
    let n_sources = sources.len();
    for i in 0..n_sources {
        let anchor = format!("<span id=\"src-{}\">", i + 1);
        if anchors.iter().filter(|a| a.starts_with(&anchor)).count() != 1 {
            return Err(format!("source {} has no single entry", i + 1));
        }
    }
    for url in &links {
        let Some(n) = url.strip_prefix("#src-") else {
            continue;
        };
        match n.parse::<usize>() {
            Ok(n) if (1..=n_sources).contains(&n) => {}
            _ => return Err(format!("citation {url} points at no source")),
        }
    }
    let flat = squash_whitespace(&text);
    for c in sources {
        let quote = format!("“{}”", squash_whitespace(&c.quote));
        if !flat.contains(&quote) {
            return Err(format!(
                "the quote from {} does not read back verbatim",
                c.location
            ));
        }
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::artifact::Skipped;

    fn skipped(location: &str, reason: &str) -> Skipped {
        let kind = if reason.starts_with("unsupported") {
            "unsupported-type"
        } else {
            "timeout"
        };
        Skipped::new(location, kind, reason)
    }

    #[test]
    fn an_indented_quote_keeps_its_lines_and_prose_reads_as_one_line() {
        assert_eq!(
            quote_block("   > ", "Heat ages\ncells *fast*."),
            "   > “Heat ages cells \\*fast\\*.”"
        );
        let quote =
            "Example:\n    x  =  1 <b>\n\ty = 2\n\n# not a heading\n- nor an item\n12) nor this";
        assert_eq!(
            quote_block("   > ", quote),
            "   > “Example:\n   > &#32;   x  =  1 \\<b\\>\n   > &#9;y = 2\n   > &#32;\n   > \\# not a heading\n   > \\- nor an item\n   > 12\\) nor this”"
        );
        // It parses back as one quote, every word of it text.
        let md = format!(
            "1. <span id=\"src-1\"></span>**T**\n\n{}\n",
            quote_block("   > ", quote)
        );
        let arena = comrak::Arena::new();
        let root = comrak::parse_document(&arena, &md, &comrak::Options::default());
        let count = |kind: fn(&NodeValue) -> bool| {
            root.descendants().filter(|n| kind(&n.data().value)).count()
        };
        assert_eq!(count(|v| matches!(v, NodeValue::BlockQuote)), 1, "{md}");
        assert_eq!(count(|v| matches!(v, NodeValue::Paragraph)), 2, "{md}");
        assert_eq!(count(|v| matches!(v, NodeValue::List(_))), 1, "{md}");
        assert_eq!(count(|v| matches!(v, NodeValue::Heading(_))), 0, "{md}");
        // The source's anchor and its closing tag, nothing of the quote.
        assert_eq!(count(|v| matches!(v, NodeValue::HtmlInline(_))), 2, "{md}");
        let c = Citation {
            doc_id: "d".into(),
            location: "d".into(),
            title: "T".into(),
            doc_hash: "h".into(),
            start: 0,
            end: quote.len(),
            quote: quote.into(),
            heading_path: Vec::new(),
            passage: 0,
            page: None,
            fetched: None,
            lead_in: None,
        };
        let mut md = String::new();
        render_sources(&mut md, std::slice::from_ref(&c));
        check_markdown(&md, &[c]).unwrap();
    }

    #[test]
    fn many_skipped_files_read_as_counts_by_type_and_web_pages_one_by_one() {
        let mut all: Vec<Skipped> = (0..20)
            .map(|i| {
                skipped(
                    &format!("/docs/_images/f{i}.png"),
                    "unsupported file type: .png",
                )
            })
            .collect();
        all.extend((0..5).map(|i| {
            skipped(
                &format!("/docs/_static/s{i}.css"),
                "unsupported file type: .css",
            )
        }));
        all.push(skipped("/docs/objects.inv", "unsupported file type: .inv"));
        all.push(skipped(
            "http://example.test/a",
            "timeout: no answer in 10 s",
        ));
        let mut md = String::new();
        render_skipped(&mut md, &all);
        assert!(
            md.starts_with(
                "## Sources not used\n\n27 sources could not be used (timeout 1, unsupported-type 26)"
            ),
            "{md}"
        );
        assert!(
            md.contains(
                "- 20 .png files: unsupported file type: .png (e.g. `/docs/_images/f0.png`"
            ),
            "{md}"
        );
        assert!(md.contains("- 5 .css files:"), "{md}");
        assert!(md.contains("- 1 .inv file:"), "{md}");
        assert!(
            md.contains("- `http://example.test/a`: timeout: no answer in 10 s"),
            "{md}"
        );
        assert!(!md.contains("f19.png"), "not every file is listed: {md}");
        // A few files are still named one by one.
        let mut md = String::new();
        render_skipped(&mut md, &all[18..]);
        assert!(
            md.contains("- `/docs/_images/f19.png`: unsupported"),
            "{md}"
        );
    }
}
