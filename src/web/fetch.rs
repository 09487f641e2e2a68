//! The polite, hardened fetcher.
//!
//! - robots.txt obeyed per origin, its Crawl-delay honoured;
//! - per-host concurrency and a minimum pause between requests to one host, a global
//!   concurrency cap;
//! - connect and total timeouts; bounded retries with exponential backoff on timeouts, resets,
//!   429 and 5xx, honouring Retry-After (seconds or HTTP-date), which also holds back every other
//!   request to that host;
//! - redirects followed by hand (at most `max_redirects`, loops detected), each hop checked by
//!   the SSRF guard and robots.txt again;
//! - bodies streamed under a size cap (aborted past it), decompressed here under the same cap
//!   (a decompression bomb stops at the cap), content-type dispatched before the body is read;
//! - a User-Agent naming the tool and its version.

use super::error::{parse_retry_after, FetchError};
use super::robots::{self, RobotsRules};
use super::ssrf;
use reqwest::header::{self, HeaderMap};
use std::collections::{HashMap, HashSet};
use std::io::Read;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant, SystemTime};
use tokio::sync::{OnceCell, Semaphore, SemaphorePermit};
use url::Url;

/// Everything the fetcher may spend and must respect.
#[derive(Debug, Clone)]
pub struct FetchOptions {
    /// Let fetches reach loopback and private networks (never link-local or metadata).
    pub allow_private: bool,
    /// Total time for one request, body included.
    pub timeout: Duration,
    pub connect_timeout: Duration,
    /// Largest body read (and largest decompressed body) for one page.
    pub max_body_bytes: u64,
    pub max_redirects: usize,
    /// Extra attempts after the first on transient failures.
    pub retries: u32,
    /// First backoff pause; doubled each attempt, with jitter.
    pub backoff: Duration,
    /// Longest Retry-After we wait for; a longer one fails the page at once.
    pub max_retry_after: Duration,
    /// Requests in flight to one host.
    pub host_concurrency: usize,
    /// Minimum pause between the starts of two requests to one host (raised by Crawl-delay).
    pub host_interval: Duration,
    /// Requests in flight overall.
    pub global_concurrency: usize,
    /// Longest Crawl-delay we accept; a site asking for more is skipped.
    pub max_crawl_delay: Duration,
    pub user_agent: String,
}

impl Default for FetchOptions {
    fn default() -> Self {
        FetchOptions {
            allow_private: false,
            timeout: Duration::from_secs(20),
            connect_timeout: Duration::from_secs(10),
            max_body_bytes: 20 * 1024 * 1024,
            max_redirects: 5,
            retries: 2,
            backoff: Duration::from_millis(500),
            max_retry_after: Duration::from_secs(30),
            host_concurrency: 2,
            host_interval: Duration::from_millis(500),
            global_concurrency: 16,
            max_crawl_delay: Duration::from_secs(30),
            user_agent: user_agent(),
        }
    }
}

/// `research/<version> (+robots.txt obeyed; deep-research CLI)`.
pub fn user_agent() -> String {
    format!(
        "{}/{} (deep-research CLI; obeys robots.txt)",
        robots::AGENT_TOKEN,
        env!("CARGO_PKG_VERSION")
    )
}

/// What a body is, decided from Content-Type (or, when that says nothing, the first bytes).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum ContentKind {
    Html,
    Pdf,
    Text,
    Markdown,
}

impl ContentKind {
    pub fn format(self) -> crate::artifact::Format {
        use crate::artifact::Format;
        match self {
            ContentKind::Html => Format::Html,
            ContentKind::Pdf => Format::Pdf,
            ContentKind::Text => Format::Text,
            ContentKind::Markdown => Format::Markdown,
        }
    }
}

/// Validators of a cached copy, sent as If-None-Match / If-Modified-Since to `url`.
#[derive(Debug, Clone, Default, PartialEq)]
pub struct Validators {
    pub url: String,
    pub etag: Option<String>,
    pub last_modified: Option<String>,
}

/// A fetched body.
#[derive(Debug, Clone)]
pub struct Page {
    pub status: u16,
    pub final_url: Url,
    /// None for robots.txt and API answers.
    pub kind: Option<ContentKind>,
    /// The Content-Type header as sent (charset hint for decoding).
    pub content_type: Option<String>,
    /// Decompressed body.
    pub body: Vec<u8>,
    pub etag: Option<String>,
    pub last_modified: Option<String>,
}

#[derive(Debug)]
pub enum Fetched {
    Page(Page),
    /// The cached copy is current (304 to our validators).
    NotModified {
        final_url: Url,
    },
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Purpose {
    /// A page to extract: robots.txt and the SSRF guard apply, only 2xx is a success.
    Page,
    /// robots.txt itself: the guard applies, any final status is an answer.
    Robots,
    /// A search API or feed the user configured: trusted endpoint, no robots.txt, 2xx only.
    Api,
    /// Where such an endpoint redirected to another origin: the user trusted the endpoint, not
    /// wherever it sends us, so the SSRF guard applies again; still no robots.txt, 2xx only.
    ApiElsewhere,
}

enum Hop {
    Redirect(Url, u16),
    NotModified,
    Done(Page),
}

struct Host {
    slots: Semaphore,
    /// Earliest start of the next request.
    next: Mutex<Instant>,
    /// Crawl-delay once robots.txt is read.
    crawl_delay: Mutex<Option<Duration>>,
    robots: OnceCell<Arc<RobotsRules>>,
}

/// A request body builder for API calls.
pub type Decorate<'a> = &'a (dyn Fn(reqwest::RequestBuilder) -> reqwest::RequestBuilder + Sync);

pub struct Fetcher {
    opts: FetchOptions,
    /// Pages: guarded resolver, no proxy, no automatic redirects or decompression.
    client: reqwest::Client,
    /// Search APIs the user configured: the system resolver, still no automatic redirects.
    api_client: reqwest::Client,
    hosts: Mutex<HashMap<String, Arc<Host>>>,
    global: Semaphore,
    requests: AtomicUsize,
}

impl Fetcher {
    pub fn new(opts: FetchOptions) -> Result<Fetcher, FetchError> {
        let build = |guarded: bool| {
            let mut b = reqwest::Client::builder()
                .user_agent(opts.user_agent.clone())
                .redirect(reqwest::redirect::Policy::none())
                .no_proxy()
                .timeout(opts.timeout)
                .connect_timeout(opts.connect_timeout.min(opts.timeout))
                .pool_max_idle_per_host(opts.host_concurrency.max(1));
            if guarded {
                b = b.dns_resolver(ssrf::GuardedResolver {
                    allow_private: opts.allow_private,
                });
            }
            b.build()
                .map_err(|e| FetchError::Network(format!("cannot build the HTTP client: {e}")))
        };
        Ok(Fetcher {
            client: build(true)?,
            api_client: build(false)?,
            global: Semaphore::new(opts.global_concurrency.max(1)),
            opts,
            hosts: Mutex::new(HashMap::new()),
            requests: AtomicUsize::new(0),
        })
    }

    pub fn options(&self) -> &FetchOptions {
        &self.opts
    }

    /// HTTP requests sent so far (robots.txt, pages, retries and API calls).
    pub fn requests_sent(&self) -> usize {
        self.requests.load(Ordering::Relaxed)
    }

    /// Fetch a page to extract, revalidating when `validators` are given.
    pub async fn fetch_page(
        &self,
        url: &Url,
        validators: Option<&Validators>,
    ) -> Result<Fetched, FetchError> {
        let noop = |b: reqwest::RequestBuilder| b;
        self.fetch(url, Purpose::Page, reqwest::Method::GET, validators, &noop)
            .await
    }

    /// Call a search API (GET or POST as `decorate` builds it); the body of a 2xx answer.
    pub async fn api(
        &self,
        url: &Url,
        method: reqwest::Method,
        decorate: Decorate<'_>,
    ) -> Result<Vec<u8>, FetchError> {
        match self
            .fetch(url, Purpose::Api, method, None, decorate)
            .await?
        {
            Fetched::Page(p) => Ok(p.body),
            Fetched::NotModified { .. } => Err(FetchError::Unexpected304),
        }
    }

    async fn fetch(
        &self,
        start: &Url,
        mut purpose: Purpose,
        mut method: reqwest::Method,
        validators: Option<&Validators>,
        decorate: Decorate<'_>,
    ) -> Result<Fetched, FetchError> {
        let mut url = start.clone();
        url.set_fragment(None);
        let mut visited: HashSet<String> = HashSet::from([url.to_string()]);
        for _ in 0..=self.opts.max_redirects {
            if !matches!(url.scheme(), "http" | "https") {
                return Err(FetchError::Scheme(url.scheme().to_string()));
            }
            let host = url
                .host()
                .ok_or_else(|| FetchError::BadUrl(format!("{url}: no host")))?;
            if purpose != Purpose::Api {
                ssrf::check_host(&host, self.opts.allow_private)
                    .map_err(|r| FetchError::PrivateAddress(r.to_string()))?;
            }
            if purpose == Purpose::Page {
                let rules = self.robots(&url).await;
                rules.check(&url)?;
                if let Some(asked) = rules.crawl_delay() {
                    if asked > self.opts.max_crawl_delay {
                        return Err(FetchError::CrawlDelay {
                            asked: asked.as_secs_f64(),
                            limit: self.opts.max_crawl_delay.as_secs_f64(),
                        });
                    }
                }
            }
            let cond = validators.filter(|v| v.url == url.as_str());
            match self
                .with_retries(&url, purpose, &method, cond, decorate)
                .await?
            {
                Hop::Redirect(next, status) => {
                    if status == 303 || (status != 307 && status != 308) {
                        method = reqwest::Method::GET;
                    }
                    if !visited.insert(next.to_string()) {
                        return Err(FetchError::RedirectLoop(next.to_string()));
                    }
                    if purpose == Purpose::Api && next.origin() != start.origin() {
                        purpose = Purpose::ApiElsewhere;
                    }
                    url = next;
                }
                Hop::NotModified if cond.is_some() => {
                    return Ok(Fetched::NotModified { final_url: url })
                }
                Hop::NotModified => return Err(FetchError::Unexpected304),
                Hop::Done(page) => return Ok(Fetched::Page(page)),
            }
        }
        Err(FetchError::TooManyRedirects(self.opts.max_redirects))
    }

    /// Fetching robots.txt goes through `fetch`, which asks for robots.txt: the recursion is
    /// boxed here, behind a named `Send` future type.
    fn fetch_robots_txt<'a>(
        &'a self,
        url: &'a Url,
        method: reqwest::Method,
        decorate: Decorate<'a>,
    ) -> std::pin::Pin<Box<dyn std::future::Future<Output = Result<Fetched, FetchError>> + Send + 'a>>
    {
        Box::pin(self.fetch(url, Purpose::Robots, method, None, decorate))
    }

    /// The robots.txt rules of `url`'s origin, fetched once per run.
    async fn robots(&self, url: &Url) -> Arc<RobotsRules> {
        let host = self.host(url);
        let rules = host
            .robots
            .get_or_init(|| async {
                let Some(robots_url) = robots::robots_url(url) else {
                    return Arc::new(RobotsRules::AllowAll);
                };
                let noop = |b: reqwest::RequestBuilder| b;
                let get = reqwest::Method::GET;
                let fetched = self.fetch_robots_txt(&robots_url, get, &noop).await;
                let rules = match fetched {
                    Ok(Fetched::Page(p)) => RobotsRules::from_response(p.status, &p.body),
                    Ok(Fetched::NotModified { .. }) => RobotsRules::AllowAll,
                    Err(FetchError::GaveUp { error, .. }) => match *error {
                        FetchError::Status { status, .. } => {
                            RobotsRules::from_response(status, b"")
                        }
                        other => RobotsRules::unreachable(&other),
                    },
                    Err(FetchError::Status { status, .. }) => {
                        RobotsRules::from_response(status, b"")
                    }
                    Err(FetchError::TooManyRedirects(_)) => RobotsRules::AllowAll,
                    Err(e) => RobotsRules::unreachable(&e),
                };
                Arc::new(rules)
            })
            .await
            .clone();
        *host.crawl_delay.lock().unwrap_or_else(|p| p.into_inner()) = rules.crawl_delay();
        rules
    }

    fn host(&self, url: &Url) -> Arc<Host> {
        let key = url.origin().ascii_serialization();
        let mut hosts = self.hosts.lock().unwrap_or_else(|p| p.into_inner());
        Arc::clone(hosts.entry(key).or_insert_with(|| {
            Arc::new(Host {
                slots: Semaphore::new(self.opts.host_concurrency.max(1)),
                next: Mutex::new(Instant::now()),
                crawl_delay: Mutex::new(None),
                robots: OnceCell::new(),
            })
        }))
    }

    /// Wait for a free slot on the host and overall, and for the host's next start time.
    async fn slot<'a>(
        &'a self,
        host: &'a Host,
    ) -> Result<(SemaphorePermit<'a>, SemaphorePermit<'a>), FetchError> {
        let closed = |_| FetchError::Network("the fetcher is shutting down".into());
        let host_permit = host.slots.acquire().await.map_err(closed)?;
        loop {
            let wait = {
                let next = host.next.lock().unwrap_or_else(|p| p.into_inner());
                next.saturating_duration_since(Instant::now())
            };
            if !wait.is_zero() {
                tokio::time::sleep(wait).await;
            }
            let global = self.global.acquire().await.map_err(closed)?;
            let mut next = host.next.lock().unwrap_or_else(|p| p.into_inner());
            let now = Instant::now();
            if *next <= now {
                let delay = host
                    .crawl_delay
                    .lock()
                    .unwrap_or_else(|p| p.into_inner())
                    .unwrap_or_default();
                *next = now + self.opts.host_interval.max(delay);
                return Ok((host_permit, global));
            }
            // Another request took this start time (or a Retry-After moved it): wait again.
        }
    }

    /// Hold back every request to the host for `pause`.
    fn pause_host(&self, url: &Url, pause: Duration) {
        let host = self.host(url);
        let mut next = host.next.lock().unwrap_or_else(|p| p.into_inner());
        let until = Instant::now() + pause;
        if *next < until {
            *next = until;
        }
    }

    async fn with_retries(
        &self,
        url: &Url,
        purpose: Purpose,
        method: &reqwest::Method,
        cond: Option<&Validators>,
        decorate: Decorate<'_>,
    ) -> Result<Hop, FetchError> {
        let mut attempt: u32 = 0;
        loop {
            attempt += 1;
            match self.attempt(url, purpose, method, cond, decorate).await {
                Ok(hop) => return Ok(hop),
                Err(e) if e.is_transient() => {
                    if attempt > self.opts.retries {
                        return Err(if attempt > 1 {
                            FetchError::GaveUp {
                                error: Box::new(e),
                                attempts: attempt,
                            }
                        } else {
                            e
                        });
                    }
                    let pause = match e.retry_after() {
                        Some(asked) if asked > self.opts.max_retry_after => {
                            return Err(FetchError::RetryAfterTooLong {
                                asked,
                                limit: self.opts.max_retry_after,
                            })
                        }
                        Some(asked) => asked,
                        None => self.backoff(attempt),
                    };
                    self.pause_host(url, pause);
                }
                Err(e) => return Err(e),
            }
        }
    }

    fn backoff(&self, attempt: u32) -> Duration {
        let base = self
            .opts
            .backoff
            .saturating_mul(1u32 << (attempt - 1).min(10));
        // ±25% jitter so agents that failed together do not retry together.
        base.mul_f64(0.75 + fastrand::f64() * 0.5)
            .min(self.opts.max_retry_after)
    }

    async fn attempt(
        &self,
        url: &Url,
        purpose: Purpose,
        method: &reqwest::Method,
        cond: Option<&Validators>,
        decorate: Decorate<'_>,
    ) -> Result<Hop, FetchError> {
        let host = self.host(url);
        let _permits = self.slot(&host).await?;
        self.requests.fetch_add(1, Ordering::Relaxed);
        let client = if purpose == Purpose::Api {
            &self.api_client
        } else {
            &self.client
        };
        let mut req = client
            .request(method.clone(), url.clone())
            .header(header::ACCEPT_ENCODING, "gzip, deflate");
        req = match purpose {
            Purpose::Page => req.header(
                header::ACCEPT,
                "text/html,application/xhtml+xml,application/pdf;q=0.9,text/plain;q=0.8,*/*;q=0.1",
            ),
            Purpose::Robots => req.header(header::ACCEPT, "text/plain,*/*;q=0.1"),
            Purpose::Api | Purpose::ApiElsewhere => req,
        };
        if let Some(v) = cond {
            if let Some(etag) = &v.etag {
                req = req.header(header::IF_NONE_MATCH, etag);
            }
            if let Some(lm) = &v.last_modified {
                req = req.header(header::IF_MODIFIED_SINCE, lm);
            }
        }
        let req = decorate(req);
        let mut resp = req.send().await.map_err(|e| self.classify(&e))?;
        let status = resp.status().as_u16();
        let headers = resp.headers().clone();
        if matches!(status, 301 | 302 | 303 | 307 | 308) {
            let next = headers
                .get(header::LOCATION)
                .and_then(|v| v.to_str().ok())
                .and_then(|loc| url.join(loc.trim()).ok())
                .ok_or(FetchError::BadRedirect)?;
            return Ok(Hop::Redirect(next, status));
        }
        if status == 304 {
            return Ok(Hop::NotModified);
        }
        if status == 429 || status == 408 || status >= 500 {
            let retry_after = headers
                .get(header::RETRY_AFTER)
                .and_then(|v| v.to_str().ok())
                .and_then(|v| parse_retry_after(v, SystemTime::now()));
            if purpose != Purpose::Robots || status == 429 || status >= 500 {
                return Err(FetchError::Status {
                    status,
                    retry_after,
                });
            }
        }
        if purpose != Purpose::Robots && !(200..300).contains(&status) {
            return Err(FetchError::Status {
                status,
                retry_after: None,
            });
        }
        let content_type = header_str(&headers, header::CONTENT_TYPE);
        let declared = if purpose == Purpose::Page {
            dispatch(content_type.as_deref())?
        } else {
            None
        };
        let (cap, truncate) = match purpose {
            Purpose::Robots => (robots::MAX_ROBOTS_BYTES, true),
            _ => (self.opts.max_body_bytes, false),
        };
        let raw = self.read_body(&mut resp, cap, truncate).await?;
        drop(resp);
        let encoding = header_str(&headers, header::CONTENT_ENCODING);
        let body = if needs_decoding(encoding.as_deref()) {
            let enc = encoding.clone().unwrap_or_default();
            tokio::task::spawn_blocking(move || decompress(&raw, &enc, cap))
                .await
                .map_err(|e| FetchError::Corrupt(e.to_string()))??
        } else {
            check_encoding(encoding.as_deref())?;
            raw
        };
        let kind = match (purpose, declared) {
            (Purpose::Page, Some(k)) => Some(k),
            (Purpose::Page, None) => Some(sniff(&body).ok_or_else(|| {
                FetchError::ContentType(
                    content_type
                        .clone()
                        .unwrap_or_else(|| "(none) with unrecognised content".into()),
                )
            })?),
            _ => None,
        };
        Ok(Hop::Done(Page {
            status,
            final_url: url.clone(),
            kind,
            content_type,
            body,
            etag: header_str(&headers, header::ETAG),
            last_modified: header_str(&headers, header::LAST_MODIFIED),
        }))
    }

    /// Stream the body, never holding more than `cap` bytes: past it, abort (or, for
    /// robots.txt, stop and keep what was read).
    async fn read_body(
        &self,
        resp: &mut reqwest::Response,
        cap: u64,
        truncate: bool,
    ) -> Result<Vec<u8>, FetchError> {
        let declared = resp.content_length();
        if let Some(len) = declared {
            if len > cap && !truncate {
                return Err(FetchError::TooLarge {
                    limit: cap,
                    declared: Some(len),
                });
            }
        }
        let cap_usize = usize::try_from(cap).unwrap_or(usize::MAX);
        let mut body: Vec<u8> =
            Vec::with_capacity(declared.map_or(16 * 1024, |l| l.min(cap) as usize));
        while let Some(chunk) = resp.chunk().await.map_err(|e| self.classify(&e))? {
            if body.len() + chunk.len() > cap_usize {
                if truncate {
                    let room = cap_usize - body.len();
                    body.extend_from_slice(&chunk[..room]);
                    break;
                }
                return Err(FetchError::TooLarge {
                    limit: cap,
                    declared,
                });
            }
            body.extend_from_slice(&chunk);
        }
        Ok(body)
    }

    fn classify(&self, e: &reqwest::Error) -> FetchError {
        if let Some(r) = ssrf::find_refusal(e) {
            return FetchError::PrivateAddress(r.to_string());
        }
        if e.is_timeout() {
            return FetchError::Timeout(self.opts.timeout);
        }
        let detail = error_chain(e);
        if e.is_connect() {
            FetchError::Connect(detail)
        } else if e.is_body() || e.is_decode() {
            FetchError::Truncated(detail)
        } else {
            FetchError::Network(detail)
        }
    }
}

fn header_str(headers: &HeaderMap, name: header::HeaderName) -> Option<String> {
    headers
        .get(name)
        .and_then(|v| v.to_str().ok())
        .map(|s| s.trim().to_string())
        .filter(|s| !s.is_empty())
}

/// The innermost causes of an error, on one line, without the URL noise.
fn error_chain(e: &(dyn std::error::Error + 'static)) -> String {
    let mut parts = Vec::new();
    let mut cur: Option<&(dyn std::error::Error + 'static)> = Some(e);
    while let Some(err) = cur {
        let s = err.to_string();
        if !parts.contains(&s) {
            parts.push(s);
        }
        cur = err.source();
    }
    let joined = parts.join(": ");
    crate::text::squash_whitespace(&joined)
        .chars()
        .take(300)
        .collect()
}

/// The content kind declared by Content-Type; `Ok(None)` when it says nothing useful (missing or
/// octet-stream) and the body must be sniffed.
pub fn dispatch(content_type: Option<&str>) -> Result<Option<ContentKind>, FetchError> {
    let Some(ct) = content_type else {
        return Ok(None);
    };
    let mime = ct
        .split(';')
        .next()
        .unwrap_or_default()
        .trim()
        .to_ascii_lowercase();
    Ok(Some(match mime.as_str() {
        "" | "application/octet-stream" | "binary/octet-stream" | "application/unknown" => {
            return Ok(None)
        }
        "text/html" | "application/xhtml+xml" => ContentKind::Html,
        "application/pdf" | "application/x-pdf" | "application/acrobat" => ContentKind::Pdf,
        "text/plain" => ContentKind::Text,
        "text/markdown" | "text/x-markdown" => ContentKind::Markdown,
        _ => return Err(FetchError::ContentType(mime)),
    }))
}

/// Recognise a PDF or an HTML document by its first bytes.
pub fn sniff(body: &[u8]) -> Option<ContentKind> {
    if body.starts_with(b"%PDF-") {
        return Some(ContentKind::Pdf);
    }
    let start = body
        .iter()
        .position(|b| !b.is_ascii_whitespace())
        .unwrap_or(body.len());
    let head: Vec<u8> = body[start..body.len().min(start + 64)].to_ascii_lowercase();
    if head.starts_with(b"<!doctype html") || head.starts_with(b"<html") {
        return Some(ContentKind::Html);
    }
    None
}

fn needs_decoding(encoding: Option<&str>) -> bool {
    encoding.is_some_and(|e| {
        let e = e.to_ascii_lowercase();
        e != "identity" && !e.is_empty()
    })
}

fn check_encoding(encoding: Option<&str>) -> Result<(), FetchError> {
    match encoding.map(|e| e.to_ascii_lowercase()) {
        None => Ok(()),
        Some(e) if e == "identity" || e.is_empty() => Ok(()),
        Some(e) => Err(FetchError::Encoding(e)),
    }
}

/// Decompress gzip or deflate, refusing to produce more than `cap` bytes.
pub fn decompress(body: &[u8], encoding: &str, cap: u64) -> Result<Vec<u8>, FetchError> {
    let enc = encoding.trim().to_ascii_lowercase();
    let mut out = Vec::new();
    let read = |reader: &mut dyn Read, out: &mut Vec<u8>| {
        reader
            .take(cap.saturating_add(1))
            .read_to_end(out)
            .map_err(|e| FetchError::Corrupt(format!("{enc}: {e}")))
    };
    match enc.as_str() {
        "gzip" | "x-gzip" => {
            read(&mut flate2::read::MultiGzDecoder::new(body), &mut out)?;
        }
        "deflate" => {
            // Servers send both zlib-wrapped (correct) and raw deflate.
            if read(&mut flate2::read::ZlibDecoder::new(body), &mut out).is_err() {
                out.clear();
                read(&mut flate2::read::DeflateDecoder::new(body), &mut out)?;
            }
        }
        other => return Err(FetchError::Encoding(other.to_string())),
    }
    if out.len() as u64 > cap {
        return Err(FetchError::Bomb(cap));
    }
    Ok(out)
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::io::Write;

    #[test]
    fn content_types_dispatch_before_the_body_is_read() {
        assert_eq!(
            dispatch(Some("text/html; charset=ISO-8859-1")).unwrap(),
            Some(ContentKind::Html)
        );
        assert_eq!(
            dispatch(Some("Application/PDF")).unwrap(),
            Some(ContentKind::Pdf)
        );
        assert_eq!(
            dispatch(Some("text/plain")).unwrap(),
            Some(ContentKind::Text)
        );
        assert_eq!(dispatch(None).unwrap(), None);
        assert_eq!(dispatch(Some("application/octet-stream")).unwrap(), None);
        let err = dispatch(Some("image/png")).unwrap_err();
        assert_eq!(err.kind(), "unsupported-type");
        assert!(err.to_string().contains("image/png"));
        assert_eq!(sniff(b"%PDF-1.7\n..."), Some(ContentKind::Pdf));
        assert_eq!(sniff(b"\n  <!DOCTYPE html><html>"), Some(ContentKind::Html));
        assert_eq!(sniff(b"\x89PNG\r\n"), None);
    }

    #[test]
    fn decompression_stops_at_the_cap() {
        let mut gz = flate2::write::GzEncoder::new(Vec::new(), flate2::Compression::best());
        gz.write_all(&vec![b'a'; 4 * 1024 * 1024]).unwrap();
        let bomb = gz.finish().unwrap();
        assert!(bomb.len() < 64 * 1024);
        let err = decompress(&bomb, "gzip", 1024 * 1024).unwrap_err();
        assert_eq!(err, FetchError::Bomb(1024 * 1024));
        let ok = decompress(&bomb, "gzip", 8 * 1024 * 1024).unwrap();
        assert_eq!(ok.len(), 4 * 1024 * 1024);

        let mut z = flate2::write::ZlibEncoder::new(Vec::new(), flate2::Compression::fast());
        z.write_all(b"hello deflate").unwrap();
        assert_eq!(
            decompress(&z.finish().unwrap(), "deflate", 100).unwrap(),
            b"hello deflate"
        );
        let mut raw = flate2::write::DeflateEncoder::new(Vec::new(), flate2::Compression::fast());
        raw.write_all(b"raw deflate").unwrap();
        assert_eq!(
            decompress(&raw.finish().unwrap(), "deflate", 100).unwrap(),
            b"raw deflate"
        );
        assert_eq!(
            decompress(b"not gzip", "gzip", 100).unwrap_err().kind(),
            "bad-encoding"
        );
        assert_eq!(
            decompress(b"x", "br", 100).unwrap_err().kind(),
            "bad-encoding"
        );
    }

    #[test]
    fn user_agent_names_the_tool_and_version() {
        let ua = user_agent();
        assert!(ua.starts_with(&format!("research/{}", env!("CARGO_PKG_VERSION"))));
    }
}
