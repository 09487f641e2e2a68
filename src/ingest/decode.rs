//! Turning raw bytes into text: binary detection, charset detection, decoding, line endings.

use encoding_rs::{Encoding, UTF_16BE, UTF_16LE, UTF_8, WINDOWS_1252};

use crate::artifact::Format;

/// How much of the file is sniffed for binary content.
const BINARY_SNIFF_BYTES: usize = 8 * 1024;
/// How much of an HTML file is searched for a `<meta>` charset (as browsers do).
const META_SNIFF_BYTES: usize = 1024;

pub(crate) const BINARY_REASON: &str = "binary file";

/// Decodes `bytes` to text with `\n` line endings, or explains why it is not text.
pub(crate) fn decode(
    bytes: &[u8],
    format: Format,
    content_type_charset: Option<&str>,
) -> Result<String, String> {
    let bom = Encoding::for_bom(bytes);
    let is_utf16 = bom.is_some_and(|(enc, _)| enc == UTF_16LE || enc == UTF_16BE);
    // UTF-16 text is full of NUL bytes, so only its BOM can vouch for it.
    if !is_utf16 && looks_binary(bytes) {
        return Err(BINARY_REASON.to_string());
    }

    let decoded = if let Some((encoding, bom_len)) = bom {
        decode_with(encoding, &bytes[bom_len..])?
    } else if let Ok(text) = std::str::from_utf8(bytes) {
        text.to_string()
    } else {
        let declared = content_type_charset.and_then(encoding_for_label);
        let sniffed = || {
            if format == Format::Html {
                sniff_html_charset(&bytes[..bytes.len().min(META_SNIFF_BYTES)])
            } else {
                None
            }
        };
        let candidates: Vec<&'static Encoding> = [declared, sniffed(), Some(guess(bytes))]
            .into_iter()
            .flatten()
            .collect();
        // Mostly undecodable text is refused as before. A few undecodable bytes in readable
        // text mean the declaration is wrong (a Latin-1 page served as UTF-8): an encoding at
        // hand that reads every byte is taken instead of quoting U+FFFD.
        let first = decode_with(candidates[0], bytes)?;
        let clean = |e: &'static Encoding| {
            e.decode_without_bom_handling_and_without_replacement(bytes)
                .is_some()
        };
        if clean(candidates[0]) {
            first
        } else {
            match candidates[1..].iter().copied().find(|e| clean(e)) {
                Some(e) => decode_with(e, bytes)?,
                None => first,
            }
        }
    };
    Ok(normalize_newlines(decoded))
}

/// A NUL byte, or more than 10% control characters, in the first 8 KiB.
fn looks_binary(bytes: &[u8]) -> bool {
    let sample = &bytes[..bytes.len().min(BINARY_SNIFF_BYTES)];
    if sample.contains(&0) {
        return true;
    }
    let controls = sample
        .iter()
        .filter(|&&b| (b < 0x20 && !matches!(b, b'\t' | b'\n' | b'\r' | 0x0c)) || b == 0x7f)
        .count();
    controls * 10 > sample.len()
}

/// Decodes with replacement characters, refusing text that is mostly replacements (the
/// encoding was evidently wrong, and such text is useless to quote).
fn decode_with(encoding: &'static Encoding, bytes: &[u8]) -> Result<String, String> {
    let (text, had_errors) = encoding.decode_without_bom_handling(bytes);
    if had_errors {
        let total = text.chars().count();
        let replaced = text.chars().filter(|&c| c == '\u{FFFD}').count();
        if replaced * 4 > total {
            return Err(format!(
                "undecodable text ({replaced} of {total} characters invalid as {})",
                encoding.name()
            ));
        }
    }
    Ok(text.into_owned())
}

/// Resolves a charset label; accepts a whole Content-Type value too (`text/html; charset=x`).
fn encoding_for_label(label: &str) -> Option<&'static Encoding> {
    let lower = label.to_ascii_lowercase();
    let value = match lower.find("charset=") {
        Some(i) => &lower[i + "charset=".len()..],
        None => lower.as_str(),
    };
    let value = value
        .trim_matches(|c: char| c.is_whitespace() || c == '"' || c == '\'')
        .split(|c: char| c == ';' || c == '"' || c == '\'' || c.is_whitespace())
        .next()
        .unwrap_or_default();
    Encoding::for_label(value.as_bytes())
}

/// Finds `<meta charset=..>`, `<meta http-equiv content="..; charset=..">` or an XML
/// declaration's `encoding=".."`.
fn sniff_html_charset(head: &[u8]) -> Option<&'static Encoding> {
    let lower: Vec<u8> = head.to_ascii_lowercase();
    let mut from = 0;
    while let Some(offset) = find(&lower[from..], b"<meta") {
        let tag_start = from + offset;
        let tag_end = find(&lower[tag_start..], b">").map_or(lower.len(), |e| tag_start + e);
        let tag = &lower[tag_start..tag_end];
        if let Some(pos) = find(tag, b"charset") {
            if let Some(encoding) =
                attribute_value(&tag[pos + b"charset".len()..]).and_then(Encoding::for_label)
            {
                return Some(html_meta_encoding(encoding));
            }
        }
        from = tag_end;
    }
    if lower.starts_with(b"<?xml") {
        let decl_end = find(&lower, b"?>").unwrap_or(lower.len());
        let decl = &lower[..decl_end];
        if let Some(pos) = find(decl, b"encoding") {
            return attribute_value(&decl[pos + b"encoding".len()..]).and_then(Encoding::for_label);
        }
    }
    None
}

/// A meta tag read as ASCII cannot truthfully declare UTF-16; the HTML standard maps that
/// (and x-user-defined) to an ASCII-compatible encoding.
fn html_meta_encoding(encoding: &'static Encoding) -> &'static Encoding {
    if encoding == UTF_16LE || encoding == UTF_16BE {
        UTF_8
    } else if encoding.name() == "x-user-defined" {
        WINDOWS_1252
    } else {
        encoding
    }
}

/// Reads `= value`, `="value"` or `='value'` after an attribute name.
fn attribute_value(rest: &[u8]) -> Option<&[u8]> {
    let rest = trim_ascii_start(rest);
    let rest = trim_ascii_start(rest.strip_prefix(b"=")?);
    let rest = rest
        .strip_prefix(b"\"")
        .or_else(|| rest.strip_prefix(b"'"))
        .unwrap_or(rest);
    let end = rest
        .iter()
        .position(|&b| matches!(b, b'"' | b'\'' | b';' | b'>' | b'/') || b.is_ascii_whitespace())
        .unwrap_or(rest.len());
    (end > 0).then(|| &rest[..end])
}

fn trim_ascii_start(bytes: &[u8]) -> &[u8] {
    let start = bytes
        .iter()
        .position(|b| !b.is_ascii_whitespace())
        .unwrap_or(bytes.len());
    &bytes[start..]
}

fn find(haystack: &[u8], needle: &[u8]) -> Option<usize> {
    haystack.windows(needle.len()).position(|w| w == needle)
}

fn guess(bytes: &[u8]) -> &'static Encoding {
    let mut detector = chardetng::EncodingDetector::new(chardetng::Iso2022JpDetection::Deny);
    detector.feed(bytes, true);
    detector.guess(None, chardetng::Utf8Detection::Allow)
}

/// `\r\n` and lone `\r` become `\n`.
fn normalize_newlines(text: String) -> String {
    if !text.contains('\r') {
        return text;
    }
    let mut out = String::with_capacity(text.len());
    let mut chars = text.chars().peekable();
    while let Some(c) = chars.next() {
        if c == '\r' {
            if chars.peek() == Some(&'\n') {
                chars.next();
            }
            out.push('\n');
        } else {
            out.push(c);
        }
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_latin1_page_served_as_utf8_is_read_as_latin1() {
        let page = b"<html><body><p>Mon r\xe9sum\xe9, na\xefve caf\xe9 au lait, tr\xe8s bien.</p></body></html>";
        let text = decode(page, Format::Html, Some("text/html; charset=utf-8")).unwrap();
        assert!(text.contains("résumé"), "{text}");
        assert!(!text.contains('\u{FFFD}'), "{text}");
        // A declaration that fits is still honoured.
        let text = decode(page, Format::Html, Some("text/html; charset=iso-8859-1")).unwrap();
        assert!(text.contains("naïve"), "{text}");
    }

    #[test]
    fn utf8_passes_through_and_line_endings_normalise() {
        let text = decode("a\r\nb\rc\n".as_bytes(), Format::Text, None).unwrap();
        assert_eq!(text, "a\nb\nc\n");
    }

    #[test]
    fn boms_are_honoured_and_stripped() {
        let mut utf8 = vec![0xEF, 0xBB, 0xBF];
        utf8.extend_from_slice("café".as_bytes());
        assert_eq!(decode(&utf8, Format::Text, None).unwrap(), "café");

        let mut le = vec![0xFF, 0xFE];
        le.extend("café\r\n".encode_utf16().flat_map(u16::to_le_bytes));
        assert_eq!(decode(&le, Format::Text, None).unwrap(), "café\n");

        let mut be = vec![0xFE, 0xFF];
        be.extend("café".encode_utf16().flat_map(u16::to_be_bytes));
        assert_eq!(decode(&be, Format::Text, None).unwrap(), "café");
    }

    #[test]
    fn invalid_utf8_decodes_without_panic() {
        let bytes = b"valid start \xff\xfe\xc3 broken \x80 bytes, then more text here";
        let text = decode(bytes, Format::Text, None).unwrap();
        assert!(text.starts_with("valid start"));
        assert!(text.ends_with("more text here"));
        // Truncated multi-byte sequences at the very end too.
        assert!(decode(b"caf\xc3", Format::Markdown, None).is_ok());
    }

    #[test]
    fn latin1_meta_charset_is_used() {
        let html = b"<html><head><meta charset=\"iso-8859-1\"><title>x</title></head>\
                     <body><p>caf\xe9</p></body></html>";
        assert!(decode(html, Format::Html, None).unwrap().contains("café"));
        let http_equiv = b"<meta http-equiv=\"Content-Type\" content=\"text/html; \
                           charset=windows-1252\"><p>\x93quoted\x94 caf\xe9</p>";
        let text = decode(http_equiv, Format::Html, None).unwrap();
        assert!(text.contains("\u{201c}quoted\u{201d} café"), "{text}");
    }

    #[test]
    fn declared_charset_beats_guessing() {
        // 0xE9 is "é" in Latin-1 but "й" in windows-1251.
        let bytes = b"caf\xe9 au lait";
        let text = decode(
            bytes,
            Format::Text,
            Some("text/plain; charset=windows-1251"),
        )
        .unwrap();
        assert_eq!(text, "caf\u{439} au lait");
        let text = decode(bytes, Format::Text, Some("ISO-8859-1")).unwrap();
        assert_eq!(text, "café au lait");
    }

    #[test]
    fn binary_is_detected() {
        let png = b"\x89PNG\r\n\x1a\n\0\0\0\rIHDR\0\0\0\x10";
        assert_eq!(
            decode(png, Format::Text, None),
            Err(BINARY_REASON.to_string())
        );
        let controls: Vec<u8> = (0..100u8)
            .map(|i| if i % 5 == 0 { 0x01 } else { b'a' })
            .collect();
        assert_eq!(
            decode(&controls, Format::Text, None),
            Err(BINARY_REASON.to_string())
        );
        // Form feeds and tabs are normal in text files.
        assert!(decode(b"page one\x0c\tpage two", Format::Text, None).is_ok());
    }

    #[test]
    fn charset_sniffing_handles_odd_markup() {
        assert_eq!(sniff_html_charset(b"<meta charset=>"), None);
        assert_eq!(
            sniff_html_charset(b"<META CHARSET='Latin1'>"),
            Some(WINDOWS_1252)
        );
        assert_eq!(sniff_html_charset(b"<meta charset=utf-16>"), Some(UTF_8));
        assert_eq!(
            sniff_html_charset(b"<?xml version=\"1.0\" encoding=\"ISO-8859-2\"?><p>"),
            Encoding::for_label(b"iso-8859-2")
        );
        assert_eq!(sniff_html_charset(b"<meta"), None);
        assert_eq!(encoding_for_label("nonsense"), None);
    }
}
