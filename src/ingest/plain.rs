//! Plain text: paragraphs are blank-line-separated blocks; no headings.

use super::passages::{Extracted, Paragraph};

/// Longest first line accepted as a title; a longer one is prose, not a title.
const MAX_TITLE_CHARS: usize = 120;

pub(crate) fn extract(text: &str) -> Extracted {
    let mut out = Extracted {
        text: text.to_string(),
        ..Extracted::default()
    };
    let group = out.new_group(Vec::new());
    let mut offset = 0;
    let mut paragraph: Option<(usize, usize)> = None;
    for line in text.split_inclusive('\n') {
        let start = offset;
        offset += line.len();
        if line.trim().is_empty() {
            if let Some((start, end)) = paragraph.take() {
                out.paragraphs.push(Paragraph { start, end, group });
            }
        } else {
            let end = start + line.trim_end_matches('\n').len();
            paragraph = Some((paragraph.map_or(start, |(s, _)| s), end));
        }
    }
    if let Some((start, end)) = paragraph {
        out.paragraphs.push(Paragraph { start, end, group });
    }
    out.title = text
        .lines()
        .find(|l| !l.trim().is_empty())
        .and_then(title_from_first_line);
    out
}

/// The first line as a title when it is short enough to be one.
pub(crate) fn title_from_first_line(line: &str) -> Option<String> {
    let line = line.trim();
    (!line.is_empty() && line.chars().count() < MAX_TITLE_CHARS).then(|| line.to_string())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn blank_lines_separate_paragraphs() {
        let text = "\n  Title line\nsame para\n \t\nsecond\n\n\nthird";
        let extracted = extract(text);
        let paras: Vec<&str> = extracted
            .paragraphs
            .iter()
            .map(|p| &text[p.start..p.end])
            .collect();
        assert_eq!(paras, vec!["  Title line\nsame para", "second", "third"]);
        assert_eq!(extracted.title.as_deref(), Some("Title line"));
    }

    #[test]
    fn long_first_line_is_no_title() {
        assert_eq!(extract(&"word ".repeat(40)).title, None);
        assert_eq!(extract("").title, None);
        assert!(extract("").paragraphs.is_empty());
    }
}
