//! Search providers: one small trait and four implementations. SearXNG (JSON API, self-hostable:
//! the one to recommend), Brave Search API, Tavily, and arXiv's query API (Atom) for papers.
//! Providers run through the fetcher's politeness and retry machinery; their endpoints are the
//! user's configuration, so the SSRF guard and robots.txt do not apply to them (a self-hosted
//! SearXNG on localhost is the common case). API keys come from the environment and are never
//! printed.

use super::error::FetchError;
use super::fetch::Fetcher;
use async_trait::async_trait;
use std::time::{Duration, Instant};
use url::Url;

/// One search result.
#[derive(Debug, Clone, PartialEq, serde::Serialize, serde::Deserialize)]
pub struct SearchResult {
    pub url: String,
    pub title: String,
    pub snippet: String,
}

#[derive(Debug, Clone, PartialEq, thiserror::Error)]
pub enum SearchError {
    #[error("{provider}: {detail}")]
    Failed { provider: String, detail: String },
    #[error("{0}")]
    Config(String),
}

#[async_trait]
pub trait SearchProvider: Send + Sync {
    /// A short name for messages, e.g. `searxng (http://127.0.0.1:8888)`; never contains a key.
    fn name(&self) -> String;
    async fn search(
        &self,
        fetcher: &Fetcher,
        query: &str,
        limit: usize,
    ) -> Result<Vec<SearchResult>, SearchError>;
}

pub const BRAVE_KEY_VAR: &str = "BRAVE_API_KEY";
pub const TAVILY_KEY_VAR: &str = "TAVILY_API_KEY";
const BRAVE_ENDPOINT: &str = "https://api.search.brave.com/res/v1/web/search";
const TAVILY_ENDPOINT: &str = "https://api.tavily.com/search";
const ARXIV_ENDPOINT: &str = "https://export.arxiv.org/api/query";

/// Build a provider from `NAME[=URL]`: `searxng=URL`, `brave[=URL]`, `tavily[=URL]`,
/// `arxiv[=URL]`. Keys are read through `env` (BRAVE_API_KEY, TAVILY_API_KEY).
pub fn provider_from_spec(
    spec: &str,
    env: &dyn Fn(&str) -> Option<String>,
) -> Result<Box<dyn SearchProvider>, SearchError> {
    let (name, url) = match spec.split_once('=') {
        Some((n, u)) => (n.trim().to_ascii_lowercase(), Some(u.trim())),
        None => (spec.trim().to_ascii_lowercase(), None),
    };
    let parse = |u: &str| -> Result<Url, SearchError> {
        let url =
            Url::parse(u).map_err(|e| SearchError::Config(format!("--search {name}={u}: {e}")))?;
        if !matches!(url.scheme(), "http" | "https") {
            return Err(SearchError::Config(format!(
                "--search {name}={u}: the endpoint must be an http or https URL"
            )));
        }
        Ok(url)
    };
    let key = |var: &str| -> Result<String, SearchError> {
        env(var)
            .map(|k| k.trim().to_string())
            .filter(|k| !k.is_empty())
            .ok_or_else(|| {
                SearchError::Config(format!(
                    "--search {name} needs an API key in the environment variable {var}"
                ))
            })
    };
    Ok(match name.as_str() {
        "searxng" => {
            let Some(u) = url else {
                return Err(SearchError::Config(
                    "--search searxng needs the instance's URL: --search searxng=http://127.0.0.1:8888"
                        .into(),
                ));
            };
            Box::new(Searxng { base: parse(u)? })
        }
        "brave" => Box::new(Brave {
            endpoint: parse(url.unwrap_or(BRAVE_ENDPOINT))?,
            key: key(BRAVE_KEY_VAR)?,
        }),
        "tavily" => Box::new(Tavily {
            endpoint: parse(url.unwrap_or(TAVILY_ENDPOINT))?,
            key: key(TAVILY_KEY_VAR)?,
        }),
        "arxiv" => Box::new(Arxiv {
            endpoint: parse(url.unwrap_or(ARXIV_ENDPOINT))?,
            last: tokio::sync::Mutex::new(None),
        }),
        other => {
            return Err(SearchError::Config(format!(
                "unknown search provider {other:?}: use searxng=URL, brave, tavily or arxiv"
            )))
        }
    })
}

fn failed(provider: &str, e: impl std::fmt::Display) -> SearchError {
    SearchError::Failed {
        provider: provider.to_string(),
        detail: e.to_string(),
    }
}

fn origin(url: &Url) -> String {
    url.origin().ascii_serialization()
}

/// A SearXNG instance's JSON API (`/search?format=json`; the instance must list `json` under
/// `search.formats` in its settings.yml).
pub struct Searxng {
    pub base: Url,
}

impl Searxng {
    fn search_url(&self, query: &str) -> Url {
        let mut url = self.base.clone();
        if !url.path().trim_end_matches('/').ends_with("/search") {
            let path = format!("{}/search", url.path().trim_end_matches('/'));
            url.set_path(&path);
        }
        url.query_pairs_mut()
            .append_pair("q", query)
            .append_pair("format", "json");
        url
    }
}

#[async_trait]
impl SearchProvider for Searxng {
    fn name(&self) -> String {
        format!("searxng ({})", origin(&self.base))
    }

    async fn search(
        &self,
        fetcher: &Fetcher,
        query: &str,
        limit: usize,
    ) -> Result<Vec<SearchResult>, SearchError> {
        let url = self.search_url(query);
        let accept = |b: reqwest::RequestBuilder| b.header("Accept", "application/json");
        let body = fetcher
            .api(&url, reqwest::Method::GET, &accept)
            .await
            .map_err(|e| match e {
                FetchError::Status { status: 403, .. } => failed(
                    &self.name(),
                    "HTTP 403: enable the json format in the instance's settings.yml \
                     (search.formats)",
                ),
                e => failed(&self.name(), e),
            })?;
        parse_results(&body, &["results"], "content", limit).map_err(|e| failed(&self.name(), e))
    }
}

/// Brave Search API (`X-Subscription-Token` from BRAVE_API_KEY).
pub struct Brave {
    pub endpoint: Url,
    key: String,
}

#[async_trait]
impl SearchProvider for Brave {
    fn name(&self) -> String {
        format!("brave ({})", origin(&self.endpoint))
    }

    async fn search(
        &self,
        fetcher: &Fetcher,
        query: &str,
        limit: usize,
    ) -> Result<Vec<SearchResult>, SearchError> {
        let mut url = self.endpoint.clone();
        url.query_pairs_mut()
            .append_pair("q", query)
            .append_pair("count", &limit.clamp(1, 20).to_string());
        let key = self.key.clone();
        let auth = move |b: reqwest::RequestBuilder| {
            b.header("Accept", "application/json")
                .header("X-Subscription-Token", key.clone())
        };
        let body = fetcher
            .api(&url, reqwest::Method::GET, &auth)
            .await
            .map_err(|e| failed(&self.name(), e))?;
        parse_results(&body, &["web", "results"], "description", limit)
            .map_err(|e| failed(&self.name(), e))
    }
}

/// Tavily search API (Bearer key from TAVILY_API_KEY).
pub struct Tavily {
    pub endpoint: Url,
    key: String,
}

#[async_trait]
impl SearchProvider for Tavily {
    fn name(&self) -> String {
        format!("tavily ({})", origin(&self.endpoint))
    }

    async fn search(
        &self,
        fetcher: &Fetcher,
        query: &str,
        limit: usize,
    ) -> Result<Vec<SearchResult>, SearchError> {
        let payload = serde_json::json!({
            "query": query,
            "max_results": limit.clamp(1, 20),
            "search_depth": "basic",
        })
        .to_string();
        let key = self.key.clone();
        let post = move |b: reqwest::RequestBuilder| {
            b.header("Accept", "application/json")
                .header("Content-Type", "application/json")
                .header("Authorization", format!("Bearer {key}"))
                .body(payload.clone())
        };
        let body = fetcher
            .api(&self.endpoint, reqwest::Method::POST, &post)
            .await
            .map_err(|e| failed(&self.name(), e))?;
        parse_results(&body, &["results"], "content", limit).map_err(|e| failed(&self.name(), e))
    }
}

/// arXiv's query API (Atom). Results point at the paper's PDF, so citations carry page numbers.
/// arXiv asks for at most one API call every 3 seconds; calls are spaced accordingly.
pub struct Arxiv {
    pub endpoint: Url,
    last: tokio::sync::Mutex<Option<Instant>>,
}

const ARXIV_SPACING: Duration = Duration::from_secs(3);

#[async_trait]
impl SearchProvider for Arxiv {
    fn name(&self) -> String {
        format!("arxiv ({})", origin(&self.endpoint))
    }

    async fn search(
        &self,
        fetcher: &Fetcher,
        query: &str,
        limit: usize,
    ) -> Result<Vec<SearchResult>, SearchError> {
        let terms = arxiv_query(query);
        if terms.is_empty() {
            return Ok(Vec::new());
        }
        let mut url = self.endpoint.clone();
        url.query_pairs_mut()
            .append_pair("search_query", &terms)
            .append_pair("start", "0")
            .append_pair("max_results", &limit.clamp(1, 50).to_string())
            .append_pair("sortBy", "relevance");
        let body = {
            let mut last = self.last.lock().await;
            if let Some(t) = *last {
                let wait = ARXIV_SPACING.saturating_sub(t.elapsed());
                tokio::time::sleep(wait).await;
            }
            let noop = |b: reqwest::RequestBuilder| b;
            let r = fetcher.api(&url, reqwest::Method::GET, &noop).await;
            *last = Some(Instant::now());
            r.map_err(|e| failed(&self.name(), e))?
        };
        parse_atom(&body, limit).map_err(|e| failed(&self.name(), e))
    }
}

/// `all:w1 AND all:w2 ...` from the query's significant words (at most six).
fn arxiv_query(query: &str) -> String {
    const STOP: &[&str] = &[
        "the",
        "and",
        "for",
        "how",
        "what",
        "why",
        "does",
        "are",
        "is",
        "with",
        "from",
        "that",
        "this",
        "which",
        "when",
        "where",
        "who",
        "into",
        "its",
        "can",
        "should",
        "about",
        "their",
        "there",
        "than",
        "then",
        "them",
        "they",
        "was",
        "were",
        "been",
        "being",
        "have",
        "has",
        "had",
        "not",
        "but",
        "you",
        "your",
        "our",
        "work",
        "works",
        "definition",
        "limits",
        "mechanism",
    ];
    query
        .split(|c: char| !c.is_alphanumeric() && c != '-')
        .filter(|w| w.chars().count() >= 3)
        .map(str::to_lowercase)
        .filter(|w| !STOP.contains(&w.as_str()))
        .take(6)
        .map(|w| format!("all:{w}"))
        .collect::<Vec<_>>()
        .join(" AND ")
}

/// Results from a JSON answer: the array at `path`, each with `url`, `title` and `snippet_key`.
pub fn parse_results(
    body: &[u8],
    path: &[&str],
    snippet_key: &str,
    limit: usize,
) -> Result<Vec<SearchResult>, String> {
    let v: serde_json::Value =
        serde_json::from_slice(body).map_err(|e| format!("the answer is not JSON ({e})"))?;
    let mut cur = &v;
    for p in path {
        cur = match cur.get(p) {
            Some(x) => x,
            // No results section at all (Brave omits `web` when nothing matched).
            None => return Ok(Vec::new()),
        };
    }
    let items = cur
        .as_array()
        .ok_or_else(|| format!("`{}` is not a list", path.join(".")))?;
    let s = |item: &serde_json::Value, k: &str| {
        item.get(k)
            .and_then(|x| x.as_str())
            .unwrap_or_default()
            .to_string()
    };
    Ok(items
        .iter()
        .map(|item| SearchResult {
            url: s(item, "url"),
            title: s(item, "title"),
            snippet: s(item, snippet_key),
        })
        .filter(|r| !r.url.is_empty())
        .take(limit)
        .collect())
}

/// Entries of an arXiv Atom feed: title, summary, and the PDF link (or the entry id).
pub fn parse_atom(body: &[u8], limit: usize) -> Result<Vec<SearchResult>, String> {
    use quick_xml::events::Event;
    let mut reader = quick_xml::Reader::from_reader(body);
    let mut buf = Vec::new();
    let mut out = Vec::new();
    let mut in_entry = false;
    let mut field: Option<&'static str> = None;
    let (mut id, mut title, mut summary, mut pdf) =
        (String::new(), String::new(), String::new(), None::<String>);
    loop {
        let event = reader
            .read_event_into(&mut buf)
            .map_err(|e| format!("the Atom feed does not parse ({e})"))?;
        match event {
            Event::Start(e) | Event::Empty(e) => {
                let local = e.local_name();
                match local.as_ref() {
                    b"entry" => {
                        in_entry = true;
                        id.clear();
                        title.clear();
                        summary.clear();
                        pdf = None;
                    }
                    b"id" if in_entry => field = Some("id"),
                    b"title" if in_entry => field = Some("title"),
                    b"summary" if in_entry => field = Some("summary"),
                    b"link" if in_entry => {
                        let mut href = None;
                        let mut is_pdf = false;
                        for a in e.attributes().flatten() {
                            let value = a.unescape_value().unwrap_or_default().into_owned();
                            match a.key.local_name().as_ref() {
                                b"href" => href = Some(value),
                                b"title" if value == "pdf" => is_pdf = true,
                                b"type" if value == "application/pdf" => is_pdf = true,
                                _ => {}
                            }
                        }
                        if is_pdf {
                            pdf = href;
                        }
                    }
                    _ => {}
                }
            }
            Event::Text(t) => {
                if let (Some(f), Ok(text)) = (field, t.decode()) {
                    push_field(f, &text, &mut id, &mut title, &mut summary);
                }
            }
            Event::CData(t) => {
                if let Some(f) = field {
                    let text = String::from_utf8_lossy(&t).into_owned();
                    push_field(f, &text, &mut id, &mut title, &mut summary);
                }
            }
            Event::GeneralRef(r) => {
                if let Some(f) = field {
                    let c = match r.resolve_char_ref() {
                        Ok(Some(c)) => Some(c),
                        _ => match r.decode().ok().as_deref() {
                            Some("amp") => Some('&'),
                            Some("lt") => Some('<'),
                            Some("gt") => Some('>'),
                            Some("quot") => Some('"'),
                            Some("apos") => Some('\''),
                            _ => None,
                        },
                    };
                    if let Some(c) = c {
                        push_field(
                            f,
                            c.encode_utf8(&mut [0; 4]),
                            &mut id,
                            &mut title,
                            &mut summary,
                        );
                    }
                }
            }
            Event::End(e) => {
                let local = e.local_name();
                match local.as_ref() {
                    b"entry" => {
                        in_entry = false;
                        let url = pdf.take().unwrap_or_else(|| id.trim().to_string());
                        if !url.is_empty() {
                            out.push(SearchResult {
                                url: url.replacen("http://arxiv.org/", "https://arxiv.org/", 1),
                                title: crate::text::squash_whitespace(&title),
                                snippet: crate::text::squash_whitespace(&summary),
                            });
                        }
                        if out.len() >= limit {
                            break;
                        }
                    }
                    b"id" | b"title" | b"summary" => field = None,
                    _ => {}
                }
            }
            Event::Eof => break,
            _ => {}
        }
        buf.clear();
    }
    Ok(out)
}

fn push_field(f: &str, text: &str, id: &mut String, title: &mut String, summary: &mut String) {
    match f {
        "id" => id.push_str(text),
        "title" => title.push_str(text),
        _ => summary.push_str(text),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn no_env(_: &str) -> Option<String> {
        None
    }

    #[test]
    fn specs_build_providers_and_explain_mistakes() {
        let p = provider_from_spec("searxng=http://127.0.0.1:8888", &no_env).unwrap();
        assert_eq!(p.name(), "searxng (http://127.0.0.1:8888)");
        let err = provider_from_spec("searxng", &no_env).err().unwrap();
        assert!(err.to_string().contains("needs the instance's URL"));
        let err = provider_from_spec("brave", &no_env).err().unwrap();
        assert!(err.to_string().contains(BRAVE_KEY_VAR), "{err}");
        let env = |v: &str| (v == TAVILY_KEY_VAR).then(|| "tvly-SECRET".to_string());
        let p = provider_from_spec("tavily", &env).unwrap();
        assert!(!p.name().contains("SECRET"));
        assert!(provider_from_spec("arxiv", &no_env).is_ok());
        assert!(provider_from_spec("bing", &no_env).is_err());
        assert!(provider_from_spec("searxng=file:///etc", &no_env).is_err());
    }

    #[test]
    fn searxng_url_and_results() {
        let s = Searxng {
            base: Url::parse("http://h:1/searx/").unwrap(),
        };
        assert_eq!(
            s.search_url("a b").as_str(),
            "http://h:1/searx/search?q=a+b&format=json"
        );
        let body = br#"{"query":"q","results":[
            {"url":"https://a.org/1","title":"A","content":"first"},
            {"title":"no url"},
            {"url":"https://b.org/2","title":"B","content":"second"}]}"#;
        let r = parse_results(body, &["results"], "content", 10).unwrap();
        assert_eq!(r.len(), 2);
        assert_eq!(r[1].snippet, "second");
        assert!(parse_results(b"<html>", &["results"], "content", 10).is_err());
        let brave =
            br#"{"web":{"results":[{"url":"https://c.org","title":"C","description":"d"}]}}"#;
        let r = parse_results(brave, &["web", "results"], "description", 10).unwrap();
        assert_eq!(r[0].snippet, "d");
        assert!(parse_results(b"{}", &["web", "results"], "description", 10)
            .unwrap()
            .is_empty());
    }

    #[test]
    fn arxiv_atom_entries_point_at_pdfs() {
        let atom = br#"<?xml version="1.0" encoding="UTF-8"?>
<feed xmlns="http://www.w3.org/2005/Atom">
  <title>ArXiv Query</title>
  <entry>
    <id>http://arxiv.org/abs/2101.00001v1</id>
    <title>Solid-state &amp; lithium
      batteries</title>
    <summary>We study degradation.</summary>
    <link href="http://arxiv.org/abs/2101.00001v1" rel="alternate" type="text/html"/>
    <link title="pdf" href="http://arxiv.org/pdf/2101.00001v1" rel="related" type="application/pdf"/>
  </entry>
  <entry>
    <id>http://arxiv.org/abs/2101.00002v2</id>
    <title>Second</title>
    <summary>No pdf link.</summary>
  </entry>
</feed>"#;
        let r = parse_atom(atom, 10).unwrap();
        assert_eq!(r.len(), 2);
        assert_eq!(r[0].url, "https://arxiv.org/pdf/2101.00001v1");
        assert_eq!(r[0].title, "Solid-state & lithium batteries");
        assert_eq!(r[1].url, "https://arxiv.org/abs/2101.00002v2");
        assert_eq!(parse_atom(atom, 1).unwrap().len(), 1);
        assert!(parse_atom(b"<feed><entry><id>x</entry>", 5).is_err());
    }

    #[test]
    fn arxiv_query_keeps_significant_words() {
        assert_eq!(
            arxiv_query("How does lithium-ion battery degradation work?"),
            "all:lithium-ion AND all:battery AND all:degradation"
        );
        assert_eq!(arxiv_query("?"), "");
    }
}
