//! Cutting extracted text into paragraph-sized passages whose spans index into the document text.
//!
//! The invariant every caller relies on: `passage.text == text[passage.start..passage.end]`.
//! Every span handled here is kept on char boundaries and only ever narrowed by trimming.

use crate::artifact::Passage;

/// Paragraphs shorter than this are merged with the following ones in the same group.
pub(crate) const MIN_PASSAGE_BYTES: usize = 200;
/// Passages longer than this are split at sentence ends.
pub(crate) const MAX_PASSAGE_BYTES: usize = 2_000;
/// Where a long passage is preferably cut.
pub(crate) const TARGET_SPLIT_BYTES: usize = 1_200;

/// A paragraph found by an extractor: a byte span of the document text.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) struct Paragraph {
    pub start: usize,
    pub end: usize,
    /// Index into [`Extracted::groups`]. Paragraphs merge only within one group, so a heading,
    /// a code fence or anything else excluded from passages starts a new group.
    pub group: usize,
}

/// What a format-specific extractor produces.
#[derive(Debug, Clone, Default, PartialEq)]
pub(crate) struct Extracted {
    pub text: String,
    /// `None` when the source names no title; the caller then uses the file stem.
    pub title: Option<String>,
    pub paragraphs: Vec<Paragraph>,
    /// Heading path of each group, outermost first.
    pub groups: Vec<Vec<String>>,
    /// Characters of the text that were link text (an HTML `<a>`'s content).
    pub link_chars: usize,
}

/// A page of links is navigation (a keyword index, a site map, a table of contents): its
/// entries are the titles of other pages, and a search that finds "network filesystem use"
/// there finds no statement about anything.
const NAVIGATION_LINK_SHARE: f32 = 0.4;
/// ... when nearly all its text is fragments (short, with no sentence punctuation) ...
const NAVIGATION_FRAGMENT_SHARE: f32 = 0.8;
/// ... in a list this long (a short page of links can be a chapter's front page).
const NAVIGATION_ENTRIES: usize = 30;
/// A paragraph at least this long reads as prose whatever its punctuation.
const FRAGMENT_CHARS: usize = 100;

impl Extracted {
    /// Whether the page is a page of links (see [`NAVIGATION_LINK_SHARE`]).
    pub(crate) fn is_navigation(&self) -> bool {
        let texts: Vec<&str> = self
            .paragraphs
            .iter()
            .filter_map(|p| self.text.get(p.start..p.end))
            .collect();
        let chars: usize = texts.iter().map(|t| t.len()).sum();
        if texts.len() < NAVIGATION_ENTRIES || chars == 0 {
            return false;
        }
        let fragments: usize = texts
            .iter()
            .filter(|t| is_fragment(t))
            .map(|t| t.len())
            .sum();
        self.link_chars as f32 >= NAVIGATION_LINK_SHARE * chars as f32
            && fragments as f32 >= NAVIGATION_FRAGMENT_SHARE * chars as f32
    }

    /// Starts a new merge group under `heading_path` and returns its index.
    pub(crate) fn new_group(&mut self, heading_path: Vec<String>) -> usize {
        self.groups.push(heading_path);
        self.groups.len() - 1
    }
}

/// A short paragraph that ends no sentence: an entry of a list, a title.
fn is_fragment(text: &str) -> bool {
    let t = text.trim();
    let ends_sentence = t.ends_with(['.', '!', '?'])
        || t.as_bytes().windows(2).any(|w| {
            matches!(w[0], b'.' | b'!' | b'?' | b':' | b';') && w[1].is_ascii_whitespace()
        });
    t.len() < FRAGMENT_CHARS && !ends_sentence
}

/// Builds the passages of one document from its paragraphs.
pub(crate) fn build_passages(doc_id: &str, extracted: &Extracted) -> Vec<Passage> {
    let text = extracted.text.as_str();
    let trimmed: Vec<Paragraph> = extracted
        .paragraphs
        .iter()
        .filter_map(|p| {
            let (start, end) = trim_span(text, p.start, p.end)?;
            Some(Paragraph { start, end, ..*p })
        })
        .collect();

    let mut spans: Vec<(usize, usize, usize)> = Vec::new();
    let mut i = 0;
    while i < trimmed.len() {
        let first = trimmed[i];
        let mut end = first.end;
        i += 1;
        while end - first.start < MIN_PASSAGE_BYTES
            && i < trimmed.len()
            && trimmed[i].group == first.group
        {
            // A label ("max_connections (integer)", a term before its definition) opens the
            // next passage rather than closing this one, so it stays with what it introduces.
            let next_follows = trimmed.get(i + 1).is_some_and(|n| n.group == first.group);
            if next_follows && is_label(&text[trimmed[i].start..trimmed[i].end]) {
                break;
            }
            end = trimmed[i].end;
            i += 1;
        }
        split_long(text, first.start, end, first.group, &mut spans);
    }

    spans
        .into_iter()
        .enumerate()
        .map(|(ordinal, (start, end, group))| Passage {
            doc_id: doc_id.to_string(),
            ordinal: u32::try_from(ordinal).unwrap_or(u32::MAX),
            heading_path: extracted.groups.get(group).cloned().unwrap_or_default(),
            start,
            end,
            text: text[start..end].to_string(),
            page: None,
        })
        .collect()
}

/// A short paragraph without a sentence end: a term, a label or a caption.
fn is_label(paragraph: &str) -> bool {
    let p = paragraph.trim();
    !p.is_empty() && p.len() <= 80 && !p.contains('\n') && !p.ends_with(['.', '!', '?', ';', ','])
}

/// Narrows `start..end` to exclude surrounding whitespace; `None` when nothing is left.
pub(crate) fn trim_span(text: &str, start: usize, end: usize) -> Option<(usize, usize)> {
    let slice = text.get(start..end)?;
    let without_leading = slice.trim_start();
    let new_start = start + (slice.len() - without_leading.len());
    let new_end = new_start + without_leading.trim_end().len();
    (new_end > new_start).then_some((new_start, new_end))
}

/// Pushes `start..end` as one or more trimmed spans no longer than [`MAX_PASSAGE_BYTES`]
/// (except where no cut point exists at all).
fn split_long(
    text: &str,
    start: usize,
    end: usize,
    group: usize,
    out: &mut Vec<(usize, usize, usize)>,
) {
    let mut piece_start = start;
    while end - piece_start > MAX_PASSAGE_BYTES {
        let cut = find_cut(text, piece_start, end);
        if let Some((s, e)) = trim_span(text, piece_start, cut) {
            out.push((s, e, group));
        }
        piece_start = cut;
    }
    if let Some((s, e)) = trim_span(text, piece_start, end) {
        out.push((s, e, group));
    }
}

/// Chooses where to cut a long span: the sentence end nearest [`TARGET_SPLIT_BYTES`], else the
/// whitespace nearest it, else the char boundary at it. Always `start < cut < end`.
fn find_cut(text: &str, start: usize, end: usize) -> usize {
    let target = start + TARGET_SPLIT_BYTES;
    // A window keeps both pieces reasonably sized: neither tiny nor over the maximum.
    let low = start + TARGET_SPLIT_BYTES / 2;
    let high = (start + MAX_PASSAGE_BYTES).min(end - 1);
    let bytes = text.as_bytes();

    let mut best_sentence: Option<usize> = None;
    let mut best_space: Option<usize> = None;
    let closer = |candidate: usize, best: Option<usize>| {
        best.is_none_or(|b| candidate.abs_diff(target) < b.abs_diff(target))
    };
    for i in low..high {
        let byte = bytes[i];
        if matches!(byte, b' ' | b'\n' | b'\t') && closer(i, best_space) {
            best_space = Some(i);
        }
        if matches!(byte, b'.' | b'?' | b'!')
            && matches!(bytes.get(i + 1), Some(b' ' | b'\n'))
            && text
                .get(i + 2..)
                .and_then(|rest| rest.chars().next())
                .is_some_and(|c| c.is_uppercase() || c.is_ascii_digit())
            && closer(i + 1, best_sentence)
        {
            best_sentence = Some(i + 1);
        }
    }
    let cut = best_sentence
        .or(best_space)
        .unwrap_or_else(|| floor_char_boundary(text, target.min(end - 1)));
    if cut > start {
        cut
    } else {
        // Only reachable for pathological spans; moving forward guarantees progress.
        ceil_char_boundary(text, start + 1).min(end)
    }
}

/// Largest char boundary `<= index` (kept local: `str::floor_char_boundary` needs Rust 1.91).
pub(crate) fn floor_char_boundary(text: &str, index: usize) -> usize {
    let mut i = index.min(text.len());
    while !text.is_char_boundary(i) {
        i -= 1;
    }
    i
}

/// Smallest char boundary `>= index`.
pub(crate) fn ceil_char_boundary(text: &str, index: usize) -> usize {
    let mut i = index.min(text.len());
    while !text.is_char_boundary(i) {
        i += 1;
    }
    i
}

#[cfg(test)]
mod tests {
    use super::*;

    fn extracted(text: &str, paras: &[(usize, usize, usize)], groups: usize) -> Extracted {
        Extracted {
            text: text.to_string(),
            title: None,
            paragraphs: paras
                .iter()
                .map(|&(start, end, group)| Paragraph { start, end, group })
                .collect(),
            groups: (0..groups).map(|g| vec![format!("H{g}")]).collect(),
            link_chars: 0,
        }
    }

    fn assert_spans(text: &str, passages: &[Passage]) {
        for (i, p) in passages.iter().enumerate() {
            assert_eq!(p.text, text[p.start..p.end], "span of passage {i}");
            assert_eq!(p.ordinal as usize, i);
            assert_eq!(p.text, p.text.trim());
            assert!(!p.text.is_empty());
        }
    }

    #[test]
    fn short_paragraphs_merge_within_a_group_only() {
        let a = "a".repeat(50);
        let b = "b".repeat(180);
        let c = "c".repeat(50);
        let text = format!("{a}\n\n{b}\n\n{c}");
        let b_start = a.len() + 2;
        let c_start = b_start + b.len() + 2;
        let ex = extracted(
            &text,
            &[
                (0, a.len(), 0),
                (b_start, b_start + b.len(), 0),
                (c_start, text.len(), 1),
            ],
            2,
        );
        let passages = build_passages("d", &ex);
        assert_spans(&text, &passages);
        assert_eq!(passages.len(), 2);
        assert_eq!(passages[0].text, format!("{a}\n\n{b}"));
        assert_eq!(passages[0].heading_path, vec!["H0".to_string()]);
        assert_eq!(passages[1].text, c);
        assert_eq!(passages[1].heading_path, vec!["H1".to_string()]);
    }

    #[test]
    fn a_label_opens_the_passage_it_introduces() {
        let first = format!(
            "port (integer)\n\nThe TCP port the server listens on. {}",
            "x ".repeat(60)
        );
        let label = "max_connections (integer)";
        let def = "Determines the maximum number of concurrent connections. The default is 100.";
        let text = format!("{first}\n\n{label}\n\n{def}");
        let l = first.len() + 2;
        let d = l + label.len() + 2;
        let ex = extracted(
            &text,
            &[
                (0, 14, 0),
                (16, first.len(), 0),
                (l, l + label.len(), 0),
                (d, text.len(), 0),
            ],
            1,
        );
        let passages = build_passages("d", &ex);
        assert_spans(&text, &passages);
        assert_eq!(passages.len(), 2, "{passages:?}");
        assert!(passages[1].text.starts_with(label), "{passages:?}");
        assert!(!passages[0].text.contains(label));
    }

    #[test]
    fn passages_are_trimmed_and_empty_ones_dropped() {
        let text = "   \n\n  hello world  \n";
        let ex = extracted(text, &[(0, 3, 0), (5, text.len(), 0)], 1);
        let passages = build_passages("d", &ex);
        assert_spans(text, &passages);
        assert_eq!(passages.len(), 1);
        assert_eq!(passages[0].text, "hello world");
    }

    #[test]
    fn long_paragraphs_split_at_sentence_ends() {
        let sentence = "Über café sentences end here and continue for a while. ";
        let text = sentence.repeat(120);
        let ex = extracted(&text, &[(0, text.len(), 0)], 1);
        let passages = build_passages("d", &ex);
        assert_spans(&text, &passages);
        assert!(passages.len() > 2);
        for p in &passages {
            assert!(p.text.len() <= MAX_PASSAGE_BYTES, "{}", p.text.len());
            assert!(p.text.ends_with('.'), "cut at a sentence end: {:?}", p.text);
        }
    }

    #[test]
    fn long_text_without_spaces_is_cut_on_char_boundaries() {
        let text = "é".repeat(5_000);
        let ex = extracted(&text, &[(0, text.len(), 0)], 1);
        let passages = build_passages("d", &ex);
        assert_spans(&text, &passages);
        assert_eq!(
            passages.iter().map(|p| p.text.len()).sum::<usize>(),
            text.len()
        );
    }

    #[test]
    fn out_of_range_paragraphs_are_ignored_not_panicking() {
        let text = "é text";
        let ex = extracted(text, &[(1, 3, 0), (0, 99, 0), (0, text.len(), 0)], 1);
        let passages = build_passages("d", &ex);
        assert_spans(text, &passages);
        assert_eq!(passages.len(), 1);
    }
}
