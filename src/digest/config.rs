//! The feed configuration of `research digest` (TOML, e.g. `corpora/feeds.toml`):
//!
//! ```toml
//! [[feed]]
//! name = "PostgreSQL news"              # unique; named in the digest and the log
//! url = "https://www.postgresql.org/news.rss"   # RSS 2.0, RSS 1.0 or Atom
//! topics = ["databases"]
//!
//! [[feed]]
//! name = "Local notes"
//! path = "notes.xml"                     # a local feed file, relative to this file
//!
//! [[feed]]
//! name = "arXiv: retrieval"
//! arxiv = "cat:cs.IR AND ti:retrieval"   # an arXiv API query, newest first
//! topics = ["retrieval"]
//! max_items = 20
//!
//! [topics.retrieval]
//! keywords = ["retrieval", "ranking", "search"]   # items matching these join the topic too
//!
//! [arxiv]
//! endpoint = "https://export.arxiv.org/api/query"   # default
//! ```

use serde::Deserialize;
use std::collections::BTreeMap;
use std::path::{Path, PathBuf};
use url::Url;

pub const ARXIV_ENDPOINT: &str = "https://export.arxiv.org/api/query";

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
struct File {
    #[serde(default, rename = "feed")]
    feeds: Vec<FeedEntry>,
    #[serde(default)]
    topics: BTreeMap<String, TopicEntry>,
    #[serde(default)]
    arxiv: ArxivEntry,
}

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
struct FeedEntry {
    name: String,
    url: Option<String>,
    path: Option<PathBuf>,
    arxiv: Option<String>,
    #[serde(default)]
    topics: Vec<String>,
    max_items: Option<usize>,
}

#[derive(Debug, Default, Deserialize)]
#[serde(deny_unknown_fields)]
struct TopicEntry {
    title: Option<String>,
    #[serde(default)]
    keywords: Vec<String>,
}

#[derive(Debug, Default, Deserialize)]
#[serde(deny_unknown_fields)]
struct ArxivEntry {
    endpoint: Option<String>,
}

/// Where a feed's bytes come from.
#[derive(Debug, Clone, PartialEq)]
pub enum FeedSource {
    Url(Url),
    Path(PathBuf),
    /// An arXiv API query and the URL it becomes.
    Arxiv {
        query: String,
        url: Url,
    },
}

#[derive(Debug, Clone, PartialEq)]
pub struct Feed {
    pub name: String,
    pub source: FeedSource,
    pub topics: Vec<String>,
    /// Entries read at most (the newest first, as the feed lists them).
    pub max_items: usize,
}

impl Feed {
    /// Where it is read from, for messages.
    pub fn location(&self) -> String {
        match &self.source {
            FeedSource::Url(u) | FeedSource::Arxiv { url: u, .. } => u.to_string(),
            FeedSource::Path(p) => p.display().to_string(),
        }
    }

    pub fn is_arxiv(&self) -> bool {
        matches!(self.source, FeedSource::Arxiv { .. })
    }
}

#[derive(Debug, Clone, PartialEq)]
pub struct Topic {
    pub name: String,
    pub title: String,
    pub keywords: Vec<String>,
}

#[derive(Debug, Clone, PartialEq)]
pub struct FeedsConfig {
    pub path: PathBuf,
    pub feeds: Vec<Feed>,
    pub topics: Vec<Topic>,
}

#[derive(Debug, thiserror::Error, PartialEq)]
pub enum ConfigError {
    #[error("cannot read the feed configuration {path}: {detail}")]
    Read { path: String, detail: String },
    #[error("the feed configuration {path} is not valid TOML: {detail}")]
    Toml { path: String, detail: String },
    #[error("the feed configuration {path}: {detail}")]
    Invalid { path: String, detail: String },
}

impl FeedsConfig {
    /// Read and check a feed configuration; `max_items` is the default cap per feed.
    pub fn load(path: &Path, max_items: usize) -> Result<FeedsConfig, ConfigError> {
        let shown = path.display().to_string();
        let text = std::fs::read_to_string(path).map_err(|e| ConfigError::Read {
            path: shown.clone(),
            detail: e.to_string(),
        })?;
        let base = path.parent().unwrap_or(Path::new("."));
        Self::parse(&text, &shown, base, max_items)
    }

    /// [`Self::load`] on text already read; local feed paths are relative to `base`.
    pub fn parse(
        text: &str,
        shown: &str,
        base: &Path,
        max_items: usize,
    ) -> Result<FeedsConfig, ConfigError> {
        let file: File = toml::from_str(text).map_err(|e| ConfigError::Toml {
            path: shown.to_string(),
            detail: crate::text::squash_whitespace(&e.to_string()),
        })?;
        let invalid = |detail: String| ConfigError::Invalid {
            path: shown.to_string(),
            detail,
        };
        if file.feeds.is_empty() {
            return Err(invalid(
                "it lists no feed; add [[feed]] tables with a name and a url, path or arxiv query"
                    .into(),
            ));
        }
        let endpoint = file.arxiv.endpoint.as_deref().unwrap_or(ARXIV_ENDPOINT);
        let endpoint = http_url(endpoint)
            .map_err(|e| invalid(format!("[arxiv] endpoint {endpoint:?}: {e}")))?;
        let mut feeds: Vec<Feed> = Vec::new();
        for f in file.feeds {
            let name = f.name.trim().to_string();
            if name.is_empty() {
                return Err(invalid("a [[feed]] has an empty name".into()));
            }
            if feeds.iter().any(|g| g.name == name) {
                return Err(invalid(format!("two feeds are named {name:?}")));
            }
            let given = [f.url.is_some(), f.path.is_some(), f.arxiv.is_some()]
                .iter()
                .filter(|x| **x)
                .count();
            if given != 1 {
                return Err(invalid(format!(
                    "feed {name:?} needs exactly one of url, path or arxiv"
                )));
            }
            let cap = f.max_items.unwrap_or(max_items).max(1);
            let source = if let Some(u) = f.url {
                FeedSource::Url(http_url(&u).map_err(|e| invalid(format!("feed {name:?}: {e}")))?)
            } else if let Some(p) = f.path {
                FeedSource::Path(if p.is_absolute() { p } else { base.join(p) })
            } else {
                let query = f.arxiv.unwrap_or_default().trim().to_string();
                if query.is_empty() {
                    return Err(invalid(format!("feed {name:?}: the arxiv query is empty")));
                }
                let mut url = endpoint.clone();
                url.query_pairs_mut()
                    .append_pair("search_query", &query)
                    .append_pair("start", "0")
                    .append_pair("max_results", &cap.min(200).to_string())
                    .append_pair("sortBy", "submittedDate")
                    .append_pair("sortOrder", "descending");
                FeedSource::Arxiv { query, url }
            };
            feeds.push(Feed {
                name,
                source,
                topics: f.topics.iter().map(|t| t.trim().to_string()).collect(),
                max_items: cap,
            });
        }
        let topics = file
            .topics
            .into_iter()
            .map(|(name, t)| Topic {
                title: t.title.unwrap_or_else(|| name.clone()),
                keywords: t.keywords,
                name,
            })
            .collect();
        Ok(FeedsConfig {
            path: PathBuf::from(shown),
            feeds,
            topics,
        })
    }
}

fn http_url(u: &str) -> Result<Url, String> {
    let url = Url::parse(u.trim()).map_err(|e| format!("{u:?} is not a URL ({e})"))?;
    if !matches!(url.scheme(), "http" | "https") {
        return Err(format!("{u:?} is not an http or https URL"));
    }
    Ok(url)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn feeds_topics_and_arxiv_queries() {
        let text = r#"
[[feed]]
name = "News"
url = "http://127.0.0.1:9/news.rss"
topics = ["db"]

[[feed]]
name = "Local"
path = "local.xml"

[[feed]]
name = "Papers"
arxiv = "cat:cs.IR AND ti:retrieval"
max_items = 5

[topics.db]
keywords = ["postgres"]

[arxiv]
endpoint = "http://127.0.0.1:9/api/query"
"#;
        let c = FeedsConfig::parse(text, "f.toml", Path::new("/etc/x"), 50).unwrap();
        assert_eq!(c.feeds.len(), 3);
        assert_eq!(c.feeds[0].max_items, 50);
        assert_eq!(
            c.feeds[1].source,
            FeedSource::Path(PathBuf::from("/etc/x/local.xml"))
        );
        let FeedSource::Arxiv { url, .. } = &c.feeds[2].source else {
            panic!("arxiv")
        };
        let s = url.to_string();
        assert!(
            s.starts_with(
                "http://127.0.0.1:9/api/query?search_query=cat%3Acs.IR+AND+ti%3Aretrieval"
            ),
            "{s}"
        );
        assert!(s.contains("max_results=5"), "{s}");
        assert_eq!(c.topics[0].keywords, vec!["postgres".to_string()]);
    }

    #[test]
    fn bad_configurations_are_named() {
        for (text, needle) in [
            ("", "no feed"),
            ("[[feed]]\nname = \"a\"\n", "exactly one"),
            ("[[feed]]\nname = \"a\"\nurl = \"ftp://x\"\n", "http"),
            (
                "[[feed]]\nname = \"a\"\nurl = \"http://x\"\n[[feed]]\nname = \"a\"\npath = \"y\"\n",
                "two feeds",
            ),
            ("[[feed]]\nname = \"a\"\nurl = \"http://x\"\ncolour = 1\n", "TOML"),
            ("[[feed]\n", "TOML"),
        ] {
            let err = FeedsConfig::parse(text, "f.toml", Path::new("."), 10)
                .unwrap_err()
                .to_string();
            assert!(err.contains("f.toml") && err.contains(needle), "{text:?}: {err}");
        }
    }
}
