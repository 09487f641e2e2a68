//! Feeds into items: RSS 2.0, RSS 1.0, Atom (and arXiv's Atom) parsed by feed-rs, each entry
//! reduced to what the digest needs, with a stable key (its canonical link, or `arxiv:<id>`
//! without the version for arXiv papers) and a content hash (title and summary, whitespace
//! normalised) for deduplication. Feed text is data: it is stored, cited and judged, never
//! followed.

use super::config::Feed;
use chrono::{DateTime, Utc};
use serde::{Deserialize, Serialize};

/// One entry of a feed.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct FeedItem {
    /// The feed it came from (its configured name).
    pub feed: String,
    /// Identity across feeds and runs.
    pub key: String,
    pub entry_id: String,
    /// The entry's page.
    pub link: Option<String>,
    /// What to fetch as the article: the PDF of an arXiv paper, else the entry's page.
    pub article: Option<String>,
    pub title: String,
    /// The summary (or content) as plain text.
    pub summary: String,
    pub authors: Vec<String>,
    pub categories: Vec<String>,
    pub published: Option<DateTime<Utc>>,
    pub updated: Option<DateTime<Utc>>,
    /// blake3 of the normalised title and summary.
    pub content_hash: String,
}

impl FeedItem {
    /// The latest date the feed gives for it.
    pub fn date(&self) -> Option<DateTime<Utc>> {
        match (self.published, self.updated) {
            (Some(p), Some(u)) => Some(p.max(u)),
            (p, u) => p.or(u),
        }
    }
}

/// A parsed feed: its format and entries (at most the feed's cap), and how many entries were
/// left out by the cap.
#[derive(Debug, Clone, PartialEq)]
pub struct Parsed {
    pub format: String,
    pub items: Vec<FeedItem>,
    pub over_cap: usize,
}

/// Parse a feed's bytes. `Err` says why it is not a feed.
pub fn parse(bytes: &[u8], feed: &Feed, base: Option<&str>) -> Result<Parsed, String> {
    if bytes.iter().all(u8::is_ascii_whitespace) {
        return Err("not a feed: the document is empty".into());
    }
    let parser = feed_rs::parser::Builder::new()
        .base_uri(base)
        .id_generator(|links, title, _| {
            // No id in the entry: its first link, else its title, stands for it (stable, unlike
            // a random UUID).
            match links.first() {
                Some(l) => l.href.clone(),
                None => format!(
                    "title:{}",
                    blake3::hash(
                        title
                            .as_ref()
                            .map(|t| t.content.as_str())
                            .unwrap_or("")
                            .as_bytes()
                    )
                    .to_hex()
                ),
            }
        })
        .build();
    let parsed = parser.parse(bytes).map_err(|e| {
        format!(
            "not a feed: {}",
            crate::text::squash_whitespace(&e.to_string())
        )
    })?;
    let format = match parsed.feed_type {
        feed_rs::model::FeedType::Atom => "Atom",
        feed_rs::model::FeedType::RSS0 => "RSS 0.9",
        feed_rs::model::FeedType::RSS1 => "RSS 1.0",
        feed_rs::model::FeedType::RSS2 => "RSS 2.0",
        feed_rs::model::FeedType::JSON => "JSON Feed",
    }
    .to_string();
    let total = parsed.entries.len();
    let items: Vec<FeedItem> = parsed
        .entries
        .into_iter()
        .take(feed.max_items)
        .map(|e| item(e, feed))
        .filter(|i| !i.title.is_empty() || !i.summary.is_empty())
        .collect();
    Ok(Parsed {
        format,
        over_cap: total.saturating_sub(feed.max_items),
        items,
    })
}

fn text_of(t: &feed_rs::model::Text) -> String {
    if t.content_type.to_string().contains("html") {
        html_text(&t.content)
    } else {
        crate::text::squash_whitespace(&t.content)
    }
}

/// Plain text of an HTML fragment (markup is data, not followed).
fn html_text(html: &str) -> String {
    if !html.contains('<') && !html.contains('&') {
        return crate::text::squash_whitespace(html);
    }
    let fragment = scraper::Html::parse_fragment(html);
    let parts: Vec<&str> = fragment.root_element().text().collect();
    crate::text::squash_whitespace(&parts.join(" "))
}

fn item(e: feed_rs::model::Entry, feed: &Feed) -> FeedItem {
    let title = e.title.as_ref().map(text_of).unwrap_or_default();
    let summary = e
        .summary
        .as_ref()
        .map(text_of)
        .filter(|s| !s.is_empty())
        .or_else(|| {
            e.content
                .as_ref()
                .and_then(|c| c.body.as_ref())
                .map(|b| html_text(b))
        })
        .unwrap_or_default();
    let is_pdf = |l: &&feed_rs::model::Link| {
        l.media_type.as_deref() == Some("application/pdf") || l.title.as_deref() == Some("pdf")
    };
    let page = e
        .links
        .iter()
        .find(|l| l.rel.as_deref().is_none_or(|r| r == "alternate") && !is_pdf(l))
        .or_else(|| e.links.iter().find(|l| !is_pdf(l)))
        .map(|l| l.href.trim().to_string())
        .filter(|h| !h.is_empty());
    let pdf = e
        .links
        .iter()
        .find(is_pdf)
        .map(|l| l.href.trim().to_string());
    let arxiv_id = arxiv_id(&e.id).or_else(|| page.as_deref().and_then(arxiv_id));
    let key = match (&arxiv_id, &page) {
        (Some(id), _) => format!("arxiv:{id}"),
        (None, Some(link)) => crate::web::canon::canonical_string(link),
        (None, None) => format!("id:{}:{}", feed.name, e.id),
    };
    let article = if arxiv_id.is_some() || feed.is_arxiv() {
        pdf.clone().or_else(|| page.clone())
    } else {
        page.clone().or_else(|| pdf.clone())
    };
    let normalised = format!(
        "{}\n{}",
        crate::text::squash_whitespace(&title),
        crate::text::squash_whitespace(&summary)
    );
    FeedItem {
        feed: feed.name.clone(),
        key,
        entry_id: e.id.clone(),
        link: page.or(pdf),
        article,
        title,
        summary,
        authors: e
            .authors
            .iter()
            .filter_map(|p| p.name.as_deref().map(|n| n.trim().to_string()))
            .filter(|n| !n.is_empty())
            .collect(),
        categories: e
            .categories
            .iter()
            .map(|c| c.label.clone().unwrap_or_else(|| c.term.clone()))
            .collect(),
        published: e.published,
        updated: e.updated,
        content_hash: blake3::hash(normalised.as_bytes()).to_hex().to_string(),
    }
}

/// `2401.01234` from `http://arxiv.org/abs/2401.01234v2` (old-style ids like `cs/0112017`
/// too); the version is dropped so a new version is the same paper, updated.
fn arxiv_id(s: &str) -> Option<String> {
    let lower = s.to_lowercase();
    let at = lower.find("arxiv.org/abs/")? + "arxiv.org/abs/".len();
    let id = s[at..].trim_end_matches('/');
    let id = match id.rfind('v') {
        Some(v) if v > 0 && id[v + 1..].chars().all(|c| c.is_ascii_digit()) && v + 1 < id.len() => {
            &id[..v]
        }
        _ => id,
    };
    (!id.is_empty()).then(|| id.to_string())
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::digest::config::FeedSource;

    fn feed(name: &str) -> Feed {
        Feed {
            name: name.into(),
            source: FeedSource::Path("x".into()),
            topics: vec![],
            max_items: 10,
        }
    }

    #[test]
    fn arxiv_ids_drop_their_version() {
        assert_eq!(
            arxiv_id("http://arxiv.org/abs/2401.01234v2").as_deref(),
            Some("2401.01234")
        );
        assert_eq!(
            arxiv_id("https://arxiv.org/abs/cs/0112017v1").as_deref(),
            Some("cs/0112017")
        );
        assert_eq!(arxiv_id("https://example.org/a"), None);
    }

    #[test]
    fn rss2_items_get_text_summaries_and_canonical_keys() {
        let xml = br#"<?xml version="1.0"?><rss version="2.0"><channel><title>t</title>
<item><title>Fast joins</title><link>https://Example.org/a?utm_source=x#top</link>
<description>&lt;p&gt;Hash joins &lt;b&gt;win&lt;/b&gt; on large inputs.&lt;/p&gt;</description>
<pubDate>Tue, 10 Nov 2026 10:00:00 GMT</pubDate></item></channel></rss>"#;
        let p = parse(xml, &feed("f"), None).unwrap();
        assert_eq!(p.format, "RSS 2.0");
        let it = &p.items[0];
        assert_eq!(it.title, "Fast joins");
        assert_eq!(it.summary, "Hash joins win on large inputs.");
        assert_eq!(it.key, "https://example.org/a");
        assert!(it.published.is_some());
    }

    #[test]
    fn malformed_and_empty_documents_are_not_feeds() {
        for bytes in [
            &b""[..],
            b"   ",
            b"<html><body>hi</body></html>",
            b"<rss><channel><item>",
        ] {
            let err = parse(bytes, &feed("f"), None).unwrap_err();
            assert!(err.starts_with("not a feed"), "{err}");
        }
    }
}
