//! What a design plan asserts or assumes: every declarative sentence of its prose and lists
//! (headings, code blocks, tables, front matter and questions left out), pinned to its line
//! and byte span in the plan file, with the consequence the plan draws from it cut off ("...,
//! so every worker keeps its own connection": the assumption is what comes before "so").

use crate::text;
use serde::{Deserialize, Serialize};

/// What kind of statement an item is (for the reader; every kind is checked the same way).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum ItemKind {
    /// A number: a limit, a size, a count.
    Number,
    /// A version of something.
    Version,
    /// A default or built-in behaviour.
    Default,
    /// Something the design depends on or requires.
    Dependency,
    /// What a component handles, supports or can do.
    Capability,
    /// Any other statement of fact.
    Fact,
}

/// One statement of the plan.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct PlanItem {
    /// `p1`, `p2`... in plan order.
    pub id: String,
    /// 1-based line of the plan where the statement starts.
    pub line: usize,
    /// The statement as checked (Markdown emphasis and code marks removed, whitespace squashed).
    pub text: String,
    /// The statement verbatim: `plan_text[start..end]`.
    pub quote: String,
    pub start: usize,
    pub end: usize,
    /// Headings above it, outermost first.
    pub section: Vec<String>,
    pub kind: ItemKind,
}

/// Statements of a Markdown plan, at most `max` of them.
pub fn extract(plan: &str, max: usize) -> Vec<PlanItem> {
    let mut items = Vec::new();
    let mut section: Vec<(usize, String)> = Vec::new();
    let mut fence: Option<String> = None;
    let mut offset = 0;
    let mut in_front_matter = false;
    // The open paragraph: (start byte, end byte, first line).
    let mut para: Option<(usize, usize, usize)> = None;
    let flush = |para: &mut Option<(usize, usize, usize)>,
                 items: &mut Vec<PlanItem>,
                 section: &[(usize, String)]| {
        if let Some((s, e, line)) = para.take() {
            statements(plan, s, e, line, section, items);
        }
    };
    for (n, raw_line) in plan.split_inclusive('\n').enumerate() {
        let line_no = n + 1;
        let line_start = offset;
        offset += raw_line.len();
        let line = raw_line.trim_end_matches(['\n', '\r']);
        let trimmed = line.trim_start();
        if n == 0 && (trimmed == "---" || trimmed == "+++") {
            in_front_matter = true;
            continue;
        }
        if in_front_matter {
            if trimmed == "---" || trimmed == "+++" {
                in_front_matter = false;
            }
            continue;
        }
        if let Some(f) = &fence {
            if trimmed.starts_with(f.as_str()) {
                fence = None;
            }
            continue;
        }
        if trimmed.starts_with("```") || trimmed.starts_with("~~~") {
            flush(&mut para, &mut items, &section);
            fence = Some(trimmed[..3].to_string());
            continue;
        }
        if trimmed.is_empty()
            || trimmed.starts_with('|')
            || trimmed.starts_with("<!--")
            || line.starts_with("    ") && para.is_none()
        {
            flush(&mut para, &mut items, &section);
            continue;
        }
        if let Some(heading) = heading(trimmed) {
            flush(&mut para, &mut items, &section);
            let level = trimmed.chars().take_while(|c| *c == '#').count();
            section.retain(|(l, _)| *l < level);
            section.push((level, heading));
            continue;
        }
        let marker = list_marker(line);
        if marker > 0 || trimmed.starts_with('>') {
            // Each list item or quoted line starts a statement group of its own.
            flush(&mut para, &mut items, &section);
            let content = line_start + marker.max(quote_marker(line));
            if content < line_start + line.len() {
                para = Some((content, line_start + line.len(), line_no));
            }
            continue;
        }
        match &mut para {
            Some((_, end, _)) => *end = line_start + line.len(),
            None => {
                let lead = line.len() - trimmed.len();
                para = Some((line_start + lead, line_start + line.len(), line_no));
            }
        }
    }
    flush(&mut para, &mut items, &section);
    items.truncate(max);
    for (i, it) in items.iter_mut().enumerate() {
        it.id = format!("p{}", i + 1);
    }
    items
}

/// `## Heading` -> its text (ATX headings only).
fn heading(trimmed: &str) -> Option<String> {
    let level = trimmed.chars().take_while(|c| *c == '#').count();
    if !(1..=6).contains(&level) {
        return None;
    }
    let rest = &trimmed[level..];
    if !rest.is_empty() && !rest.starts_with(' ') {
        return None;
    }
    Some(rest.trim().trim_end_matches('#').trim().to_string())
}

/// Bytes of a list marker ("- ", "* ", "+ ", "1. ", "2) ", with a task box "[ ] ") at the start
/// of `line`, leading spaces included; 0 when there is none.
fn list_marker(line: &str) -> usize {
    let lead = line.len() - line.trim_start().len();
    let rest = &line[lead..];
    let after = if rest.starts_with("- ") || rest.starts_with("* ") || rest.starts_with("+ ") {
        2
    } else {
        let digits = rest.chars().take_while(char::is_ascii_digit).count();
        if digits > 0
            && digits < 4
            && (rest[digits..].starts_with(". ") || rest[digits..].starts_with(") "))
        {
            digits + 2
        } else {
            return 0;
        }
    };
    let mut n = lead + after;
    let tail = &line[n..];
    for task in ["[ ] ", "[x] ", "[X] "] {
        if tail.starts_with(task) {
            n += task.len();
        }
    }
    n + (line[n..].len() - line[n..].trim_start().len())
}

/// Bytes of a block-quote marker ("> ") at the start of `line`, leading spaces included.
fn quote_marker(line: &str) -> usize {
    let lead = line.len() - line.trim_start().len();
    let mut n = lead;
    while line[n..].starts_with('>') {
        n += 1;
        n += line[n..].len() - line[n..].trim_start().len();
    }
    if n == lead {
        0
    } else {
        n
    }
}

/// The statements of one paragraph `plan[start..end]` that begins on line `line`.
fn statements(
    plan: &str,
    start: usize,
    end: usize,
    line: usize,
    section: &[(usize, String)],
    items: &mut Vec<PlanItem>,
) {
    let para = &plan[start..end];
    for (s, e) in text::sentences(para) {
        let sentence = &para[s..e];
        // The assumption is what comes before the consequence the plan draws from it.
        let lower = sentence.to_lowercase();
        let cut = text::CONSEQUENCE
            .iter()
            .filter_map(|m| lower.find(m))
            .min()
            .unwrap_or(sentence.len());
        let Some((qs, qe)) = text::trim_span(para, s, s + cut) else {
            continue;
        };
        let mut quote = &para[qs..qe];
        let trailing = quote.trim_end_matches([',', ';', ':', '—', '-', ' ']);
        let qe = qs + trailing.len();
        quote = &para[qs..qe];
        let clean = clean(quote);
        if !is_statement(&clean) {
            continue;
        }
        items.push(PlanItem {
            id: String::new(),
            line: line + plan[start..start + qs].matches('\n').count(),
            kind: kind(&clean),
            text: clean,
            quote: quote.to_string(),
            start: start + qs,
            end: start + qe,
            section: section.iter().map(|(_, h)| h.clone()).collect(),
        });
    }
}

/// The statement without Markdown marks: `**`, `__`, backticks, `[text](url)` -> text.
fn clean(quote: &str) -> String {
    let mut out = String::with_capacity(quote.len());
    let mut chars = quote.chars().peekable();
    while let Some(c) = chars.next() {
        match c {
            '*' | '`' => {}
            '_' if chars.peek() == Some(&'_') => {
                chars.next();
            }
            '[' => {
                let mut label = String::new();
                let mut closed = false;
                for d in chars.by_ref() {
                    if d == ']' {
                        closed = true;
                        break;
                    }
                    label.push(d);
                }
                out.push_str(&label);
                if closed && chars.peek() == Some(&'(') {
                    for d in chars.by_ref() {
                        if d == ')' {
                            break;
                        }
                    }
                }
            }
            _ => out.push(c),
        }
    }
    text::squash_whitespace(&out)
}

/// A sentence that asserts something: enough words, not a question, not a to-do or a label.
fn is_statement(s: &str) -> bool {
    let words = s.split_whitespace().count();
    if !(4..=80).contains(&words) || s.ends_with('?') {
        return false;
    }
    let lower = s.to_lowercase();
    if ["todo", "tbd", "open question", "question:", "fixme"]
        .iter()
        .any(|p| lower.starts_with(p))
    {
        return false;
    }
    let content = text::content_stems(s);
    content.len() >= 3
}

fn kind(s: &str) -> ItemKind {
    let lower = s.to_lowercase();
    let has = |words: &[&str]| words.iter().any(|w| lower.contains(w));
    if has(&["version", " v1", " v2", " v3"])
        || text::tokens(s).iter().any(|t| {
            t.text.matches('.').count() >= 2 && t.text.starts_with(|c: char| c.is_ascii_digit())
        })
    {
        ItemKind::Version
    } else if has(&[
        "default",
        "out of the box",
        "built in",
        "built-in",
        "by design",
    ]) {
        ItemKind::Default
    } else if !text::numbers(s).is_empty() {
        ItemKind::Number
    } else if has(&[
        "depends on",
        "requires",
        "require ",
        "needs ",
        "need ",
        "relies on",
        "built on",
        "uses ",
        "compile",
    ]) {
        ItemKind::Dependency
    } else if has(&[
        "handles", "supports", "can ", "scales", "accepts", "provides", "allows",
    ]) {
        ItemKind::Capability
    } else {
        ItemKind::Fact
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    const PLAN: &str = "---\nauthor: me\n---\n# Ingest service\n\nThe service stores events in **PostgreSQL** 15.\nEach worker\nholds one connection.\n\n## Storage\n\n- PostgreSQL accepts 1,000 connections out of the box, so every worker keeps its own.\n- [ ] Should we shard?\n* One SQLite connection can attach 50 databases by default.\n\n```sql\nSELECT 1 FROM dual WHERE x = 'A statement inside code is not checked.';\n```\n\n| a | b |\n|---|---|\n| The table row is not a statement | x |\n\n> SQLite's JSON functions need the `-DSQLITE_ENABLE_JSON1` compile-time option.\n\nTODO: benchmark the ingest path end to end.\n";

    #[test]
    fn statements_carry_lines_spans_and_sections() {
        let items = extract(PLAN, 100);
        let texts: Vec<&str> = items.iter().map(|i| i.text.as_str()).collect();
        assert_eq!(
            texts,
            vec![
                "The service stores events in PostgreSQL 15.",
                "Each worker holds one connection.",
                "PostgreSQL accepts 1,000 connections out of the box",
                "One SQLite connection can attach 50 databases by default.",
                "SQLite's JSON functions need the -DSQLITE_ENABLE_JSON1 compile-time option.",
            ]
        );
        for it in &items {
            assert_eq!(&PLAN[it.start..it.end], it.quote);
            let line = PLAN.lines().nth(it.line - 1).unwrap();
            assert!(
                line.contains(it.quote.lines().next().unwrap()),
                "{} not on line {}",
                it.quote,
                it.line
            );
        }
        assert_eq!(items[2].line, 12);
        assert_eq!(items[2].section, vec!["Ingest service", "Storage"]);
        assert_eq!(items[0].section, vec!["Ingest service"]);
        assert_eq!(items[2].kind, ItemKind::Default);
        assert_eq!(items[4].kind, ItemKind::Dependency);
        assert_eq!(items[4].id, "p5");
        assert_eq!(extract(PLAN, 2).len(), 2);
    }

    #[test]
    fn nothing_to_check_in_headings_code_or_questions() {
        assert!(extract("# Title\n\n```\ncode here is long enough\n```\n", 10).is_empty());
        assert!(extract("Do we need a cache for this?\n", 10).is_empty());
        assert!(extract("", 10).is_empty());
    }
}
