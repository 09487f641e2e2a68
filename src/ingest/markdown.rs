//! Markdown: the file text is kept as is (so spans point into the file); a line scanner finds
//! paragraphs, headings, code fences and front matter.

use super::html::collapse_whitespace;
use super::passages::{Extracted, Paragraph};
use super::plain::title_from_first_line;

pub(crate) fn extract(text: &str) -> Extracted {
    let mut out = Extracted {
        text: text.to_string(),
        ..Extracted::default()
    };
    let mut group = out.new_group(Vec::new());
    let mut heading_stack: Vec<(u8, String)> = Vec::new();
    let mut first_h1: Option<String> = None;
    let mut front_matter_title: Option<String> = None;
    let mut first_line: Option<String> = None;
    let mut fence: Option<Fence> = None;
    // Start and end of the paragraph being built.
    let mut paragraph: Option<(usize, usize)> = None;

    let lines = lines_with_offsets(text);
    let mut index = 0;
    if let Some(end) = front_matter_end(&lines) {
        front_matter_title = lines[1..end]
            .iter()
            .find_map(|(_, line)| front_matter_value(line, "title"));
        index = end + 1;
    }

    // Closes the paragraph being built: a heading or barrier follows it.
    let flush = |paragraph: &mut Option<(usize, usize)>, out: &mut Extracted, group: usize| {
        if let Some((start, end)) = paragraph.take() {
            out.paragraphs.push(Paragraph { start, end, group });
        }
    };

    while let Some(&(offset, line)) = lines.get(index) {
        index += 1;
        let line_end = offset + line.len();
        if let Some(open) = fence {
            if open.is_closed_by(line) {
                fence = None;
            }
            continue;
        }
        if let Some(open) = Fence::open(line) {
            flush(&mut paragraph, &mut out, group);
            fence = Some(open);
            // Paragraphs on either side of the code must not merge across it.
            group = out.new_group(out.groups[group].clone());
            continue;
        }
        if line.trim().is_empty() {
            flush(&mut paragraph, &mut out, group);
            continue;
        }
        let heading = if let Some(heading) = atx_heading(line) {
            flush(&mut paragraph, &mut out, group);
            Some(heading)
        } else if let Some(level) = paragraph.and_then(|_| setext_level(line)) {
            // The paragraph so far is the heading's text, not a passage.
            paragraph
                .take()
                .map(|(start, end)| (level, collapse_whitespace(&text[start..end])))
        } else if is_thematic_break(line) {
            flush(&mut paragraph, &mut out, group);
            group = out.new_group(out.groups[group].clone());
            continue;
        } else {
            None
        };
        if let Some((level, title)) = heading {
            if title.is_empty() {
                continue;
            }
            if level == 1 && first_h1.is_none() {
                first_h1 = Some(title.clone());
            }
            while heading_stack.last().is_some_and(|(open, _)| *open >= level) {
                heading_stack.pop();
            }
            heading_stack.push((level, title));
            group = out.new_group(heading_stack.iter().map(|(_, t)| t.clone()).collect());
            continue;
        }
        if first_line.is_none() {
            first_line = Some(line.trim().to_string());
        }
        paragraph = Some(match paragraph {
            Some((start, _)) => (start, line_end),
            None => (offset, line_end),
        });
    }
    flush(&mut paragraph, &mut out, group);

    out.title = first_h1
        .or(front_matter_title)
        .or_else(|| first_line.as_deref().and_then(title_from_first_line));
    out
}

/// Each line (without its `\n`) with the byte offset where it starts.
fn lines_with_offsets(text: &str) -> Vec<(usize, &str)> {
    let mut offset = 0;
    text.split_inclusive('\n')
        .map(|line| {
            let start = offset;
            offset += line.len();
            (start, line.strip_suffix('\n').unwrap_or(line))
        })
        .collect()
}

/// Index of the line closing YAML front matter that opens on line 1.
fn front_matter_end(lines: &[(usize, &str)]) -> Option<usize> {
    if lines.first()?.1.trim_end() != "---" {
        return None;
    }
    lines
        .iter()
        .enumerate()
        .skip(1)
        .find(|(_, (_, line))| matches!(line.trim_end(), "---" | "..."))
        .map(|(i, _)| i)
}

fn front_matter_value(line: &str, key: &str) -> Option<String> {
    let value = line
        .strip_prefix(key)?
        .trim_start()
        .strip_prefix(':')?
        .trim();
    let value = value
        .strip_prefix('"')
        .and_then(|v| v.strip_suffix('"'))
        .or_else(|| value.strip_prefix('\'').and_then(|v| v.strip_suffix('\'')))
        .unwrap_or(value)
        .trim();
    (!value.is_empty()).then(|| value.to_string())
}

/// Up to three spaces of indentation, as CommonMark allows before block markers.
fn strip_indent(line: &str) -> Option<&str> {
    let rest = line.trim_start_matches(' ');
    (line.len() - rest.len() <= 3).then_some(rest)
}

fn atx_heading(line: &str) -> Option<(u8, String)> {
    let rest = strip_indent(line)?;
    let hashes = rest.len() - rest.trim_start_matches('#').len();
    if !(1..=6).contains(&hashes) {
        return None;
    }
    let after = &rest[hashes..];
    if !(after.is_empty() || after.starts_with([' ', '\t'])) {
        return None;
    }
    let content = after.trim();
    // An optional closing sequence of '#' must be preceded by a space.
    let without_closing = content.trim_end_matches('#');
    let content = if without_closing.is_empty() || without_closing.ends_with([' ', '\t']) {
        without_closing
    } else {
        content
    };
    let level = u8::try_from(hashes).ok()?;
    Some((level, collapse_whitespace(content)))
}

fn setext_level(line: &str) -> Option<u8> {
    let rest = strip_indent(line)?.trim_end();
    if !rest.is_empty() && rest.bytes().all(|b| b == b'=') {
        Some(1)
    } else if !rest.is_empty() && rest.bytes().all(|b| b == b'-') {
        Some(2)
    } else {
        None
    }
}

fn is_thematic_break(line: &str) -> bool {
    let Some(rest) = strip_indent(line) else {
        return false;
    };
    let marks: Vec<char> = rest.chars().filter(|c| !c.is_whitespace()).collect();
    marks.len() >= 3 && matches!(marks[0], '*' | '-' | '_') && marks.iter().all(|&c| c == marks[0])
}

#[derive(Debug, Clone, Copy)]
struct Fence {
    mark: u8,
    len: usize,
}

impl Fence {
    /// Any indentation is accepted: fences nested in list items are indented further, and code
    /// leaking into passages is worse than the rare indented line that starts with ```.
    fn open(line: &str) -> Option<Fence> {
        let rest = line.trim_start();
        let mark = *rest.as_bytes().first()?;
        if mark != b'`' && mark != b'~' {
            return None;
        }
        let len = rest.bytes().take_while(|&b| b == mark).count();
        // A backtick fence's info string cannot hold backticks (that is inline code).
        if len < 3 || (mark == b'`' && rest[len..].contains('`')) {
            return None;
        }
        Some(Fence { mark, len })
    }

    fn is_closed_by(self, line: &str) -> bool {
        let rest = line.trim();
        let len = rest.bytes().take_while(|&b| b == self.mark).count();
        len >= self.len && len == rest.len()
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::ingest::passages::build_passages;

    fn paragraphs(extracted: &Extracted) -> Vec<(&str, Vec<String>)> {
        extracted
            .paragraphs
            .iter()
            .map(|p| {
                (
                    &extracted.text[p.start..p.end],
                    extracted.groups[p.group].clone(),
                )
            })
            .collect()
    }

    #[test]
    fn headings_fences_and_front_matter() {
        let text = "---\ntitle: \"From Front Matter\"\ntags: [a]\n---\n\
            Intro line one\nline two\n\n\
            # Guide #\n\nUnder guide.\n\n\
            ## Install\n\n```sh\ncargo install secret-code\n```\n\nAfter fence.\n\n\
            ~~~~\nmore secret\n~~~\nstill secret\n~~~~\n\n\
            Setext Title\n------------\n\nUnder setext.\n\n\
            ***\n\nAfter break.\n";
        let extracted = extract(text);
        assert_eq!(extracted.text, text, "markdown text is kept verbatim");
        assert_eq!(extracted.title.as_deref(), Some("Guide"));
        let guide = || vec!["Guide".to_string()];
        let mut install = guide();
        install.push("Install".into());
        let mut setext = guide();
        setext.push("Setext Title".into());
        assert_eq!(
            paragraphs(&extracted),
            vec![
                ("Intro line one\nline two", vec![]),
                ("Under guide.", guide()),
                ("After fence.", install.clone()),
                ("Under setext.", setext.clone()),
                ("After break.", setext),
            ]
        );
        let passages = build_passages("d", &extracted);
        for p in &passages {
            assert_eq!(p.text, text[p.start..p.end]);
            assert!(!p.text.contains("secret"), "code fence in passage: {p:?}");
            assert!(
                !p.text.contains("---"),
                "front matter or underline in passage"
            );
            assert!(!p.text.contains('#'), "heading in passage: {p:?}");
        }
    }

    #[test]
    fn titles_fall_back_to_front_matter_then_first_line() {
        assert_eq!(
            extract("---\ntitle: Matter\n---\n## Sub\ntext\n")
                .title
                .as_deref(),
            Some("Matter")
        );
        assert_eq!(
            extract("\n\nFirst line\n\nrest").title.as_deref(),
            Some("First line")
        );
        assert_eq!(extract("").title, None);
        assert_eq!(extract(&"x".repeat(500)).title, None);
    }

    #[test]
    fn unclosed_fence_and_front_matter_do_not_panic() {
        let extracted = extract("---\nnot closed\n\nparagraph");
        assert_eq!(
            paragraphs(&extracted).len(),
            2,
            "a lone --- line is a break"
        );
        let extracted = extract("text\n```\ncode to the end");
        assert_eq!(paragraphs(&extracted), vec![("text", vec![])]);
        for junk in [
            "#",
            "#\n#",
            "```",
            "-\n-",
            "\u{feff}# é\n===",
            "~~~\n~~~~\n",
        ] {
            let extracted = extract(junk);
            for p in &extracted.paragraphs {
                assert!(extracted.text.get(p.start..p.end).is_some());
            }
        }
    }

    #[test]
    fn atx_heading_rules() {
        assert_eq!(atx_heading("## A b ##"), Some((2, "A b".into())));
        assert_eq!(atx_heading("# C#"), Some((1, "C#".into())));
        assert_eq!(atx_heading("#hashtag"), None);
        assert_eq!(atx_heading("####### seven"), None);
        assert_eq!(atx_heading("    # indented code"), None);
    }
}
