//! Why a page was not used. Every failure has a short kind (shown first in the report's
//! "Sources not used" section, so failures can be counted by kind) and a sentence of detail.
//! Retries decide on [`FetchError::is_transient`].

use std::time::Duration;

#[derive(Debug, Clone, PartialEq, thiserror::Error)]
pub enum FetchError {
    #[error("not a usable URL: {0}")]
    BadUrl(String),
    #[error("only http and https are fetched, not {0}:")]
    Scheme(String),
    #[error("refused by the SSRF guard: {0}")]
    PrivateAddress(String),
    #[error("robots.txt disallows {0} for this tool")]
    Robots(String),
    #[error("{0}")]
    RobotsUnreachable(String),
    #[error(
        "robots.txt asks for a Crawl-delay of {asked:.0} s, more than the {limit:.0} s allowed"
    )]
    CrawlDelay { asked: f64, limit: f64 },
    #[error("no complete response within {} s", secs(.0))]
    Timeout(Duration),
    #[error("cannot connect: {0}")]
    Connect(String),
    #[error("the body ended early (truncated or connection reset): {0}")]
    Truncated(String),
    #[error("network error: {0}")]
    Network(String),
    #[error("HTTP {status}{}", retry_after.map(|d| format!(" (Retry-After {} s)", secs(&d))).unwrap_or_default())]
    Status {
        status: u16,
        retry_after: Option<Duration>,
    },
    #[error("the server asks to retry after {} s, more than the {} s allowed", secs(.asked), secs(.limit))]
    RetryAfterTooLong { asked: Duration, limit: Duration },
    #[error("{error} (gave up after {attempts} attempts)")]
    GaveUp {
        error: Box<FetchError>,
        attempts: u32,
    },
    #[error("redirect loop back to {0}")]
    RedirectLoop(String),
    #[error("more than {0} redirects")]
    TooManyRedirects(usize),
    #[error("redirect without a usable Location")]
    BadRedirect,
    #[error("larger than the {limit}-byte cap{}", declared.map(|d| format!(" (Content-Length {d})")).unwrap_or_default())]
    TooLarge { limit: u64, declared: Option<u64> },
    #[error("expands past the {0}-byte cap when decompressed (a decompression bomb)")]
    Bomb(u64),
    #[error("compressed body is corrupt: {0}")]
    Corrupt(String),
    #[error("content-encoding {0} is not supported")]
    Encoding(String),
    #[error("content-type {0} is not a page, a PDF or text")]
    ContentType(String),
    #[error("{0}")]
    Undecodable(String),
    #[error("{0}")]
    Pdf(String),
    #[error("the server answered 304 Not Modified to a request that had no validators")]
    Unexpected304,
    #[error("the run's page budget ({0} pages) was spent")]
    PageBudget(usize),
    #[error("not fetched before the agent's deadline")]
    Deadline,
    #[error("cannot index it: {0}")]
    Index(String),
}

fn secs(d: &Duration) -> String {
    let s = d.as_secs_f64();
    if (s - s.round()).abs() < 0.05 {
        format!("{}", s.round() as u64)
    } else {
        format!("{s:.1}")
    }
}

impl FetchError {
    /// Worth trying again after a pause: timeouts, resets, 429 and 5xx.
    pub fn is_transient(&self) -> bool {
        match self {
            FetchError::Timeout(_)
            | FetchError::Truncated(_)
            | FetchError::Network(_)
            | FetchError::Connect(_) => true,
            FetchError::Status { status, .. } => {
                *status == 429 || *status == 408 || (500..=599).contains(status)
            }
            _ => false,
        }
    }

    pub fn retry_after(&self) -> Option<Duration> {
        match self {
            FetchError::Status { retry_after, .. } => *retry_after,
            _ => None,
        }
    }

    /// The short, countable name of the failure.
    pub fn kind(&self) -> &'static str {
        match self {
            FetchError::BadUrl(_) | FetchError::Scheme(_) => "bad-url",
            FetchError::PrivateAddress(_) => "private-address",
            FetchError::Robots(_) => "robots-disallowed",
            FetchError::RobotsUnreachable(_) => "robots-unreachable",
            FetchError::CrawlDelay { .. } => "crawl-delay",
            FetchError::Timeout(_) => "timeout",
            FetchError::Connect(_) => "connect",
            FetchError::Truncated(_) => "truncated",
            FetchError::Network(_) => "network",
            FetchError::Status { status: 429, .. } => "rate-limited",
            FetchError::Status { status, .. } if *status >= 500 => "server-error",
            FetchError::Status { .. } => "http-error",
            FetchError::RetryAfterTooLong { .. } => "rate-limited",
            FetchError::GaveUp { error, .. } => error.kind(),
            FetchError::RedirectLoop(_) => "redirect-loop",
            FetchError::TooManyRedirects(_) | FetchError::BadRedirect => "redirects",
            FetchError::TooLarge { .. } => "too-large",
            FetchError::Bomb(_) => "decompression-bomb",
            FetchError::Corrupt(_) | FetchError::Encoding(_) => "bad-encoding",
            FetchError::ContentType(_) => "unsupported-type",
            FetchError::Undecodable(_) => "undecodable",
            FetchError::Pdf(_) => "pdf",
            FetchError::Unexpected304 => "http-error",
            FetchError::PageBudget(_) => "page-budget",
            FetchError::Deadline => "deadline",
            FetchError::Index(_) => "index",
        }
    }

    /// `kind: detail`, the reason line of a [`crate::artifact::Skipped`] entry.
    pub fn reason(&self) -> String {
        format!("{}: {self}", self.kind())
    }
}

/// Parse a Retry-After value: delay-seconds or an HTTP-date (RFC 9110 §10.2.3). A date in the
/// past means "now".
pub fn parse_retry_after(value: &str, now: std::time::SystemTime) -> Option<Duration> {
    let v = value.trim();
    if let Ok(secs) = v.parse::<u64>() {
        return Some(Duration::from_secs(secs));
    }
    let when = httpdate::parse_http_date(v).ok()?;
    Some(when.duration_since(now).unwrap_or(Duration::ZERO))
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::time::{SystemTime, UNIX_EPOCH};

    #[test]
    fn retry_after_seconds_and_http_date() {
        let now = UNIX_EPOCH + Duration::from_secs(784_111_777);
        assert_eq!(
            parse_retry_after("120", now),
            Some(Duration::from_secs(120))
        );
        assert_eq!(parse_retry_after(" 0 ", now), Some(Duration::ZERO));
        // Sun, 06 Nov 1994 08:49:37 GMT is 784111777 seconds after the epoch.
        assert_eq!(
            parse_retry_after("Sun, 06 Nov 1994 08:50:07 GMT", now),
            Some(Duration::from_secs(30))
        );
        assert_eq!(
            parse_retry_after("Sun, 06 Nov 1994 08:00:00 GMT", now),
            Some(Duration::ZERO)
        );
        assert_eq!(parse_retry_after("soon", now), None);
        assert_eq!(parse_retry_after("-5", now), None);
        assert!(parse_retry_after("Wed, 21 Oct 2015 07:28:00 GMT", SystemTime::now()).is_some());
    }

    #[test]
    fn kinds_and_transience() {
        let rl = FetchError::Status {
            status: 429,
            retry_after: Some(Duration::from_secs(1)),
        };
        assert!(rl.is_transient());
        assert_eq!(rl.kind(), "rate-limited");
        assert_eq!(rl.to_string(), "HTTP 429 (Retry-After 1 s)");
        let gave_up = FetchError::GaveUp {
            error: Box::new(rl),
            attempts: 3,
        };
        assert_eq!(
            gave_up.reason(),
            "rate-limited: HTTP 429 (Retry-After 1 s) (gave up after 3 attempts)"
        );
        assert!(!FetchError::Status {
            status: 404,
            retry_after: None
        }
        .is_transient());
        assert!(!FetchError::Bomb(10).is_transient());
        assert_eq!(
            FetchError::Timeout(Duration::from_millis(2500)).to_string(),
            "no complete response within 2.5 s"
        );
    }
}
