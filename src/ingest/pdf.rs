//! PDF text with page numbers (lopdf, pure Rust). Each page's text becomes its own merge group,
//! so no passage spans two pages, and every passage carries the page it is on. A PDF with no
//! extractable text (scanned images, unsupported fonts), an encrypted one or a broken one is
//! reported with that reason, never as an empty document. The parser runs under `catch_unwind`:
//! a hostile file cannot take the run down.

use super::passages::{build_passages, Extracted, Paragraph};
use crate::artifact::{Document, Format};

/// Decompressed content allowed per page (a bomb guard inside the PDF).
const MAX_PAGE_CONTENT: usize = 64 * 1024 * 1024;
/// At most this many pages are read.
const MAX_PAGES: usize = 2_000;

/// The document text, its paragraphs, and `(start, end, page)` of every page's text.
pub(crate) struct PdfText {
    pub extracted: Extracted,
    pub pages: Vec<(usize, usize, u32)>,
}

pub(crate) fn extract(bytes: &[u8]) -> Result<PdfText, String> {
    quiet_panics_in_parser();
    PARSING.with(|p| p.set(true));
    let result = std::panic::catch_unwind(std::panic::AssertUnwindSafe(|| extract_inner(bytes)));
    PARSING.with(|p| p.set(false));
    match result {
        Ok(r) => r,
        Err(_) => Err("the PDF parser failed on this file".to_string()),
    }
}

thread_local! {
    /// Set while this thread is inside the PDF parser.
    static PARSING: std::cell::Cell<bool> = const { std::cell::Cell::new(false) };
}

/// A panic inside the parser is caught and becomes the file's skip reason; the default hook
/// would still print it, breaking the one-line-error promise, so it is kept quiet there (and
/// only there).
fn quiet_panics_in_parser() {
    static HOOK: std::sync::Once = std::sync::Once::new();
    HOOK.call_once(|| {
        let previous = std::panic::take_hook();
        std::panic::set_hook(Box::new(move |info| {
            if !PARSING.with(|p| p.get()) {
                previous(info);
            }
        }));
    });
}

fn extract_inner(bytes: &[u8]) -> Result<PdfText, String> {
    if !bytes.starts_with(b"%PDF-") {
        return Err("not a PDF (no %PDF- header)".to_string());
    }
    let doc = lopdf::Document::load_mem(bytes).map_err(|e| {
        format!(
            "unreadable ({})",
            crate::text::squash_whitespace(&e.to_string())
        )
    })?;
    let encrypted = doc.is_encrypted();
    let mut out = PdfText {
        extracted: Extracted::default(),
        pages: Vec::new(),
    };
    let numbers: Vec<u32> = doc.get_pages().keys().copied().take(MAX_PAGES).collect();
    for n in numbers {
        let Ok(raw) = doc.extract_text_with_limit(&[n], MAX_PAGE_CONTENT) else {
            continue;
        };
        let page_text = clean_page(&raw);
        if page_text.trim().is_empty() {
            continue;
        }
        let text = &mut out.extracted.text;
        if !text.is_empty() {
            text.push_str("\n\n");
        }
        let page_start = text.len();
        let group = out.extracted.new_group(Vec::new());
        let mut offset = page_start;
        for para in page_text.split("\n\n") {
            let start = offset;
            let end = start + para.len();
            if !para.trim().is_empty() {
                out.extracted
                    .paragraphs
                    .push(Paragraph { start, end, group });
            }
            offset = end + 2;
        }
        out.extracted.text.push_str(&page_text);
        out.pages.push((page_start, out.extracted.text.len(), n));
    }
    let letters = out
        .extracted
        .text
        .chars()
        .filter(|c| c.is_alphanumeric())
        .count();
    if letters < 20 {
        return Err(if encrypted {
            "encrypted, no text could be extracted".to_string()
        } else {
            "no extractable text (scanned images or unsupported fonts)".to_string()
        });
    }
    out.extracted.title = title(&doc);
    Ok(out)
}

/// One page's text: spaces collapsed within lines, blank-line runs collapsed, control
/// characters dropped. A line ending a sentence followed by a line starting a new one is kept as
/// a line; blank lines separate paragraphs.
fn clean_page(raw: &str) -> String {
    let mut lines: Vec<String> = Vec::new();
    for line in raw.lines() {
        let squeezed: String = line
            .chars()
            .filter(|c| !c.is_control() || *c == '\t')
            .collect::<String>()
            .split_whitespace()
            .collect::<Vec<_>>()
            .join(" ");
        if squeezed.is_empty() {
            if lines.last().is_some_and(|l| !l.is_empty()) {
                lines.push(String::new());
            }
        } else {
            lines.push(squeezed);
        }
    }
    while lines.last().is_some_and(String::is_empty) {
        lines.pop();
    }
    lines.join("\n")
}

fn title(doc: &lopdf::Document) -> Option<String> {
    let info = doc.trailer.get_deref(b"Info", doc).ok()?.as_dict().ok()?;
    let t = info.get_deref(b"Title", doc).ok()?;
    let s = lopdf::decode_text_string(t).ok()?;
    let s = crate::text::squash_whitespace(&s);
    (!s.is_empty()).then_some(s)
}

/// A PDF as a document whose passages carry page numbers.
pub(crate) fn document(
    id: &str,
    location: &str,
    corpus: &str,
    bytes: &[u8],
    raw_hash: String,
) -> Result<Document, String> {
    let pdf = extract(bytes)?;
    let mut passages = build_passages(id, &pdf.extracted);
    if passages.is_empty() {
        return Err("empty after extraction".to_string());
    }
    for p in &mut passages {
        p.page = pdf
            .pages
            .iter()
            .find(|(s, e, _)| p.start >= *s && p.start < *e)
            .map(|(_, _, n)| *n);
    }
    let title = pdf
        .extracted
        .title
        .clone()
        .unwrap_or_else(|| super::file_stem(location));
    Ok(Document {
        id: id.to_string(),
        location: location.to_string(),
        corpus: corpus.to_string(),
        title,
        format: Format::Pdf,
        hash: blake3::hash(pdf.extracted.text.as_bytes())
            .to_hex()
            .to_string(),
        raw_hash,
        text: pdf.extracted.text,
        passages,
        fetched: None,
        file: None,
    })
}

/// A small PDF with the given text on each page (Helvetica, one text line per entry), for tests
/// and benchmarks that need a PDF whose exact words are known.
pub fn make_pdf(pages: &[Vec<&str>]) -> Vec<u8> {
    use lopdf::content::{Content, Operation};
    use lopdf::{dictionary, Object, Stream};
    let mut doc = lopdf::Document::with_version("1.5");
    let pages_id = doc.new_object_id();
    let font_id = doc.add_object(dictionary! {
        "Type" => "Font",
        "Subtype" => "Type1",
        "BaseFont" => "Helvetica",
    });
    let resources_id = doc.add_object(dictionary! {
        "Font" => dictionary! { "F1" => font_id },
    });
    let mut kids: Vec<Object> = Vec::new();
    for lines in pages {
        let mut ops = vec![
            Operation::new("BT", vec![]),
            Operation::new("Tf", vec!["F1".into(), 11.into()]),
            Operation::new("TL", vec![14.into()]),
            Operation::new("Td", vec![50.into(), 780.into()]),
        ];
        for line in lines {
            ops.push(Operation::new("Tj", vec![Object::string_literal(*line)]));
            ops.push(Operation::new("T*", vec![]));
        }
        ops.push(Operation::new("ET", vec![]));
        let content = Content { operations: ops };
        let content_id = doc.add_object(Stream::new(
            dictionary! {},
            content.encode().unwrap_or_default(),
        ));
        let page_id = doc.add_object(dictionary! {
            "Type" => "Page",
            "Parent" => pages_id,
            "Contents" => content_id,
        });
        kids.push(page_id.into());
    }
    let count = kids.len() as i64;
    doc.objects.insert(
        pages_id,
        Object::Dictionary(dictionary! {
            "Type" => "Pages",
            "Kids" => kids,
            "Count" => count,
            "Resources" => resources_id,
            "MediaBox" => vec![0.into(), 0.into(), 595.into(), 842.into()],
        }),
    );
    let catalog_id = doc.add_object(dictionary! {
        "Type" => "Catalog",
        "Pages" => pages_id,
    });
    doc.trailer.set("Root", catalog_id);
    let mut out = Vec::new();
    let _ = doc.save_to(&mut out);
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn pages_become_page_numbered_passages() {
        let pdf = make_pdf(&[
            vec![
                "Lithium plating happens when cells are charged below freezing.",
                "Charge slowly when the cell is cold.",
            ],
            vec!["The second page says storage at 40 percent charge slows ageing."],
        ]);
        let doc = document("u", "https://x.org/paper.pdf", "web", &pdf, "r".into()).unwrap();
        assert_eq!(doc.format, Format::Pdf);
        assert_eq!(doc.title, "paper");
        assert!(doc.passages.len() >= 2, "{:#?}", doc.passages);
        for p in &doc.passages {
            assert_eq!(&doc.text[p.start..p.end], p.text);
        }
        let first = doc
            .passages
            .iter()
            .find(|p| p.text.contains("Lithium plating"))
            .unwrap();
        assert_eq!(first.page, Some(1));
        let second = doc
            .passages
            .iter()
            .find(|p| p.text.contains("40 percent"))
            .unwrap();
        assert_eq!(second.page, Some(2));
    }

    #[test]
    fn broken_and_empty_pdfs_are_named() {
        let err = crate::ingest::document_from_bytes(
            "u",
            "x.pdf",
            "web",
            crate::artifact::Format::Pdf,
            b"%PDF-1.4 garbage",
            None,
        )
        .unwrap_err();
        assert_eq!(err.kind(), "pdf");
        assert!(err.to_string().starts_with("pdf: "), "{err}");
        let err = document("u", "x.pdf", "web", b"<html>", "r".into()).unwrap_err();
        assert!(err.contains("not a PDF"), "{err}");
        let blank = make_pdf(&[vec![]]);
        let err = document("u", "x.pdf", "web", &blank, "r".into()).unwrap_err();
        assert!(err.contains("no extractable text"), "{err}");
    }

    #[test]
    fn a_real_pdf_from_this_machine_extracts_when_present() {
        // libtasn1-doc and shared-mime-info ship real PDFs on Debian; skip quietly elsewhere.
        for path in [
            "/usr/share/doc/libtasn1-doc/libtasn1.pdf",
            "/usr/share/doc/shared-mime-info/shared-mime-info-spec.pdf",
        ] {
            let Ok(bytes) = std::fs::read(path) else {
                continue;
            };
            let doc = document(path, path, "c", &bytes, "r".into()).unwrap();
            assert!(doc.passages.len() > 5, "{path}");
            assert!(doc.passages.iter().all(|p| p.page.is_some()));
            let last = doc.passages.last().unwrap().page.unwrap();
            assert!(last > 1, "{path}: all text on page 1?");
        }
    }
}
