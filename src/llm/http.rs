//! HTTP plumbing shared by the providers: one POST, status classification, Retry-After, and
//! redaction so an API key never reaches an error string.

use super::LlmError;
use reqwest::header::HeaderMap;
use std::time::{Duration, Instant, SystemTime};

/// Longest server message quoted in an error: enough to diagnose, short enough for a log line.
const MAX_DETAIL: usize = 300;

/// A client with a connect timeout. The overall timeout is generous on purpose: the scheduler
/// enforces the per-call timeout, this one only stops a provider used without a scheduler from
/// hanging forever.
pub(crate) fn client(timeout: Duration) -> reqwest::Client {
    reqwest::Client::builder()
        .connect_timeout(Duration::from_secs(10))
        .timeout(timeout)
        .build()
        // Building fails only when the TLS backend cannot initialise; the default client has the
        // same backend, so fall back to it rather than making every constructor fallible.
        .unwrap_or_default()
}

/// Replaces every occurrence of the secret with `[redacted]`.
pub(crate) fn redact(text: &str, secret: Option<&str>) -> String {
    match secret {
        Some(s) if !s.is_empty() => text.replace(s, "[redacted]"),
        _ => text.to_string(),
    }
}

fn shorten(text: &str) -> String {
    let text = text.trim();
    if text.len() <= MAX_DETAIL {
        return text.to_string();
    }
    let mut end = MAX_DETAIL;
    while !text.is_char_boundary(end) {
        end -= 1;
    }
    format!("{}...", &text[..end])
}

/// The server's own error message: `error.message` (OpenAI, Anthropic), `message`, `error` as a
/// string (llama.cpp, proxies), else the body itself, shortened.
pub(crate) fn error_message(body: &[u8]) -> String {
    let text = String::from_utf8_lossy(body);
    if let Ok(v) = serde_json::from_str::<serde_json::Value>(&text) {
        let msg = v
            .pointer("/error/message")
            .or_else(|| v.get("message"))
            .or_else(|| v.get("error"))
            .or_else(|| v.get("detail"));
        if let Some(m) = msg {
            return shorten(&match m {
                serde_json::Value::String(s) => s.clone(),
                other => other.to_string(),
            });
        }
    }
    if text.trim().is_empty() {
        return "(empty body)".to_string();
    }
    shorten(&text)
}

/// Parses a Retry-After value: delta seconds (integer or decimal) or an HTTP-date (relative to
/// `now`; a date in the past means "now").
pub fn parse_retry_after(value: &str, now: SystemTime) -> Option<Duration> {
    let value = value.trim();
    if let Ok(secs) = value.parse::<f64>() {
        // Negative, NaN or absurd values are ignored rather than trusted.
        if (0.0..1e9).contains(&secs) {
            return Some(Duration::from_secs_f64(secs));
        }
        return None;
    }
    let when = httpdate::parse_http_date(value).ok()?;
    Some(when.duration_since(now).unwrap_or(Duration::ZERO))
}

/// Retry-After from the headers: OpenAI's `retry-after-ms` first (finer), then `retry-after`.
pub(crate) fn retry_after(headers: &HeaderMap) -> Option<Duration> {
    if let Some(ms) = headers
        .get("retry-after-ms")
        .and_then(|v| v.to_str().ok())
        .and_then(|v| v.trim().parse::<f64>().ok())
        .filter(|ms| (0.0..1e12).contains(ms))
    {
        return Some(Duration::from_secs_f64(ms / 1000.0));
    }
    headers
        .get(reqwest::header::RETRY_AFTER)
        .and_then(|v| v.to_str().ok())
        .and_then(|v| parse_retry_after(v, SystemTime::now()))
}

/// Maps a non-success status to an error: 429 rate limited; 408, 409, 5xx and 529 (Anthropic's
/// "overloaded") transient; every other status permanent, quoting the server's message.
pub(crate) fn status_error(
    provider: &str,
    status: reqwest::StatusCode,
    headers: &HeaderMap,
    body: &[u8],
    secret: Option<&str>,
) -> LlmError {
    let code = status.as_u16();
    if code == 429 {
        return LlmError::RateLimited {
            provider: provider.to_string(),
            retry_after: retry_after(headers),
        };
    }
    let message = error_message(body);
    let detail = redact(&format!("HTTP {}: {}", code, message), secret);
    if is_context_exceeded(&message) {
        return LlmError::ContextExceeded {
            provider: provider.to_string(),
            detail,
        };
    }
    if code == 408 || code == 409 || status.is_server_error() {
        LlmError::Transient {
            provider: provider.to_string(),
            detail,
        }
    } else {
        LlmError::Permanent {
            provider: provider.to_string(),
            detail,
        }
    }
}

/// How servers say a prompt is too long for the model: llama.cpp ("Context size has been
/// exceeded", "exceeds the available context size"), OpenAI ("context_length_exceeded",
/// "maximum context length"), Anthropic ("prompt is too long"), Ollama ("exceeds context").
fn is_context_exceeded(message: &str) -> bool {
    let m = message.to_lowercase();
    [
        "context size has been exceeded",
        "exceeds the available context size",
        "context_length_exceeded",
        "maximum context length",
        "prompt is too long",
        "exceeds context",
    ]
    .iter()
    .any(|p| m.contains(p))
}

/// A transport failure (connect, timeout, body cut off): transient, with the cause chain.
pub(crate) fn transport_error(
    provider: &str,
    err: &reqwest::Error,
    secret: Option<&str>,
) -> LlmError {
    let kind = if err.is_timeout() {
        "timed out"
    } else if err.is_connect() {
        "could not connect"
    } else if err.is_body() || err.is_decode() {
        "reply body cut off"
    } else {
        "request failed"
    };
    let mut chain = String::new();
    let mut source: Option<&dyn std::error::Error> = Some(err);
    while let Some(e) = source {
        if !chain.is_empty() {
            chain.push_str(": ");
        }
        chain.push_str(&e.to_string());
        source = e.source();
    }
    LlmError::Transient {
        provider: provider.to_string(),
        detail: redact(&format!("{kind}: {}", shorten(&chain)), secret),
    }
}

/// POSTs a JSON body and returns the parsed JSON reply and the latency. Errors are classified
/// as above; a 2xx reply that is not JSON counts as cut off (transient).
pub(crate) async fn post_json(
    provider: &str,
    request: reqwest::RequestBuilder,
    body: &serde_json::Value,
    secret: Option<&str>,
) -> Result<(serde_json::Value, Duration), LlmError> {
    let start = Instant::now();
    let resp = request
        .header(reqwest::header::CONTENT_TYPE, "application/json")
        .body(body.to_string())
        .send()
        .await
        .map_err(|e| transport_error(provider, &e, secret))?;
    let status = resp.status();
    let headers = resp.headers().clone();
    let bytes = resp
        .bytes()
        .await
        .map_err(|e| transport_error(provider, &e, secret))?;
    let latency = start.elapsed();
    if !status.is_success() {
        return Err(status_error(provider, status, &headers, &bytes, secret));
    }
    let value =
        serde_json::from_slice::<serde_json::Value>(&bytes).map_err(|e| LlmError::Transient {
            provider: provider.to_string(),
            detail: redact(
                &format!(
                    "reply is not JSON ({e}; cut off?): {}",
                    shorten(&String::from_utf8_lossy(&bytes))
                ),
                secret,
            ),
        })?;
    Ok((value, latency))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn retry_after_seconds_and_dates() {
        let now = SystemTime::UNIX_EPOCH + Duration::from_secs(784_111_777);
        assert_eq!(parse_retry_after("1", now), Some(Duration::from_secs(1)));
        assert_eq!(parse_retry_after(" 0 ", now), Some(Duration::ZERO));
        assert_eq!(
            parse_retry_after("1.5", now),
            Some(Duration::from_millis(1500))
        );
        assert_eq!(parse_retry_after("-3", now), None);
        assert_eq!(parse_retry_after("soon", now), None);
        // 784111777 is Sun, 06 Nov 1994 08:49:37 GMT.
        assert_eq!(
            parse_retry_after("Sun, 06 Nov 1994 08:49:47 GMT", now),
            Some(Duration::from_secs(10))
        );
        assert_eq!(
            parse_retry_after("Sun, 06 Nov 1994 08:49:00 GMT", now),
            Some(Duration::ZERO)
        );
    }

    #[test]
    fn error_messages_are_short_and_redacted() {
        assert_eq!(
            error_message(br#"{"error":{"message":"bad model","type":"x"}}"#),
            "bad model"
        );
        assert_eq!(error_message(br#"{"error":"nope"}"#), "nope");
        assert_eq!(error_message(b""), "(empty body)");
        assert!(error_message("x".repeat(5000).as_bytes()).len() < 400);
        assert_eq!(
            redact("key sk-123 leaked sk-123", Some("sk-123")),
            "key [redacted] leaked [redacted]"
        );
    }

    #[test]
    fn a_prompt_too_long_for_the_context_is_its_own_error_never_retried() {
        let h = HeaderMap::new();
        let s = |c| reqwest::StatusCode::from_u16(c).unwrap();
        for (code, body) in [
            (500, &br#"{"error":{"code":500,"message":"Context size has been exceeded.","type":"server_error"}}"#[..]),
            (400, &br#"{"error":{"message":"This model's maximum context length is 8192 tokens","code":"context_length_exceeded"}}"#[..]),
            (400, &br#"{"type":"error","error":{"type":"invalid_request_error","message":"prompt is too long: 210000 tokens > 200000 maximum"}}"#[..]),
        ] {
            let e = status_error("p", s(code), &h, body, None);
            assert!(matches!(e, LlmError::ContextExceeded { .. }), "{code}: {e}");
            assert!(!e.is_transient());
        }
        assert!(status_error("p", s(500), &h, b"overloaded", None).is_transient());
    }

    #[test]
    fn statuses_classify() {
        let h = HeaderMap::new();
        let s = |c: u16| reqwest::StatusCode::from_u16(c).unwrap();
        assert!(matches!(
            status_error("p", s(429), &h, b"", None),
            LlmError::RateLimited {
                retry_after: None,
                ..
            }
        ));
        for c in [408, 500, 502, 503, 529] {
            assert!(status_error("p", s(c), &h, b"", None).is_transient(), "{c}");
        }
        for c in [400, 401, 403, 404, 422] {
            assert!(
                !status_error("p", s(c), &h, b"", None).is_transient(),
                "{c}"
            );
        }
    }
}
