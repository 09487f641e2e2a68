//! Structured output from models that do not always follow the format: reasoning blocks,
//! Markdown fences and prose around the JSON, trailing commas, absurd numbers. One repair round
//! trip quotes the parse error back to the model; a second failure is a permanent error (the
//! caller records an error vote: unverified).

use super::{Completion, CompletionModel, CompletionRequest, LlmError};
use serde::de::DeserializeOwned;

/// Why a reply could not be used, in words short enough to quote back to the model.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("{message}")]
pub struct ParseError {
    pub message: String,
}

impl ParseError {
    fn new(message: impl Into<String>) -> ParseError {
        let mut message: String = message.into();
        if message.len() > 240 {
            let mut end = 240;
            while !message.is_char_boundary(end) {
                end -= 1;
            }
            message.truncate(end);
            message.push_str("...");
        }
        ParseError { message }
    }
}

/// At most this many candidate starts are tried, so a long reply full of braces stays cheap.
const MAX_CANDIDATES: usize = 32;

/// Clamps to [0, 1]; NaN becomes 0. For confidences and scores from weak models.
pub fn clamp01(x: f64) -> f64 {
    if x.is_nan() {
        0.0
    } else {
        x.clamp(0.0, 1.0)
    }
}

/// Accepts a value in [0, 1] and rejects anything else (non-finite included) with a message for
/// a repair request. The strict alternative to [`clamp01`].
pub fn unit_interval(name: &str, x: f64) -> Result<f64, String> {
    if x.is_finite() && (0.0..=1.0).contains(&x) {
        Ok(x)
    } else {
        Err(format!("`{name}` must be a number from 0 to 1, got {x}"))
    }
}

/// Removes reasoning: every `<think>...</think>` block (any case); text before a `</think>` that
/// has no opening tag (the template opened it); and an unterminated `<think>` to the end (the
/// reasoning was cut off, so nothing after it is an answer).
pub fn strip_reasoning(text: &str) -> String {
    const OPEN: &str = "<think>";
    const CLOSE: &str = "</think>";
    // ASCII lowercasing keeps byte offsets valid for `text`.
    let lower = text.to_ascii_lowercase();
    let mut i = 0;
    if let Some(c) = lower.find(CLOSE) {
        if !lower[..c].contains(OPEN) {
            i = c + CLOSE.len();
        }
    }
    let mut out = String::with_capacity(text.len());
    loop {
        match lower[i..].find(OPEN) {
            None => {
                out.push_str(&text[i..]);
                break;
            }
            Some(o) => {
                out.push_str(&text[i..i + o]);
                let after = i + o + OPEN.len();
                match lower[after..].find(CLOSE) {
                    Some(c) => i = after + c + CLOSE.len(),
                    None => break,
                }
            }
        }
    }
    out
}

/// Contents of Markdown code fences (```json ... ```), in order; an unclosed fence runs to the end.
fn fenced_blocks(text: &str) -> Vec<&str> {
    let mut blocks = Vec::new();
    let mut rest = text;
    while let Some(open) = rest.find("```") {
        let after = &rest[open + 3..];
        // Skip the info string ("json") up to the end of the line.
        let body_start = after.find('\n').map(|n| n + 1).unwrap_or(after.len());
        let body = &after[body_start..];
        match body.find("```") {
            Some(close) => {
                blocks.push(&body[..close]);
                rest = &body[close + 3..];
            }
            None => {
                blocks.push(body);
                break;
            }
        }
    }
    blocks
}

/// End (exclusive) of the balanced object or array starting at `start`, string-aware.
/// `Err(true)` when the text ends first (cut off), `Err(false)` on a mismatched closer.
fn balanced_end(s: &[u8], start: usize) -> Result<usize, bool> {
    let mut stack: Vec<u8> = Vec::new();
    let mut in_string = false;
    let mut escape = false;
    for (i, &b) in s.iter().enumerate().skip(start) {
        if in_string {
            if escape {
                escape = false;
            } else if b == b'\\' {
                escape = true;
            } else if b == b'"' {
                in_string = false;
            }
            continue;
        }
        match b {
            b'"' => in_string = true,
            b'{' => stack.push(b'}'),
            b'[' => stack.push(b']'),
            b'}' | b']' => {
                if stack.pop() != Some(b) {
                    return Err(false);
                }
                if stack.is_empty() {
                    return Ok(i + 1);
                }
            }
            _ => {}
        }
    }
    Err(true)
}

/// Repairs what serde_json refuses but a model commonly emits: trailing commas, and numbers
/// outside f64's range (`4096.15e4535444059008520`), which become ±1e308 so the value still
/// parses and range validation (or [`clamp01`]) decides.
fn clean(candidate: &str) -> String {
    let b = candidate.as_bytes();
    let mut out = String::with_capacity(candidate.len());
    let mut i = 0;
    let mut in_string = false;
    let mut escape = false;
    let mut copied = 0; // bytes of `candidate` already in `out`
    while i < b.len() {
        let c = b[i];
        if in_string {
            if escape {
                escape = false;
            } else if c == b'\\' {
                escape = true;
            } else if c == b'"' {
                in_string = false;
            }
            i += 1;
            continue;
        }
        match c {
            b'"' => {
                in_string = true;
                i += 1;
            }
            b',' => {
                let next = b[i + 1..].iter().position(|x| !x.is_ascii_whitespace());
                if matches!(next.map(|n| b[i + 1 + n]), Some(b'}') | Some(b']')) {
                    out.push_str(&candidate[copied..i]);
                    copied = i + 1;
                }
                i += 1;
            }
            b'-' | b'0'..=b'9' => {
                let start = i;
                while i < b.len() && matches!(b[i], b'0'..=b'9' | b'-' | b'+' | b'.' | b'e' | b'E')
                {
                    i += 1;
                }
                if let Ok(x) = candidate[start..i].parse::<f64>() {
                    if x.is_infinite() {
                        out.push_str(&candidate[copied..start]);
                        out.push_str(if x > 0.0 { "1e308" } else { "-1e308" });
                        copied = i;
                    }
                }
            }
            _ => i += 1,
        }
    }
    out.push_str(&candidate[copied..]);
    out
}

/// Parses the first JSON value in a model's reply that deserializes to `T`, after removing
/// reasoning and looking inside code fences first. Only top-level values are tried (never an
/// object nested in another), so a wrapper of the wrong shape is an error, not a silent pick
/// of its insides.
pub fn parse_json<T: DeserializeOwned>(text: &str) -> Result<T, ParseError> {
    let stripped = strip_reasoning(text);
    if stripped.trim().is_empty() {
        return Err(ParseError::new(if text.trim().is_empty() {
            "the reply was empty"
        } else {
            "the reply held only reasoning (<think>) and no JSON"
        }));
    }
    let mut regions = fenced_blocks(&stripped);
    regions.push(&stripped);
    // The most useful error seen: wrong shape beats invalid JSON beats cut off.
    let mut shape_err: Option<String> = None;
    let mut syntax_err: Option<String> = None;
    let mut cut_off = false;
    let mut tried = 0;
    for region in regions {
        let bytes = region.as_bytes();
        let mut p = 0;
        while p < bytes.len() && tried < MAX_CANDIDATES {
            if bytes[p] != b'{' && bytes[p] != b'[' {
                p += 1;
                continue;
            }
            tried += 1;
            let end = match balanced_end(bytes, p) {
                Ok(end) => end,
                Err(true) => {
                    cut_off = true;
                    p += 1;
                    continue;
                }
                Err(false) => {
                    p += 1;
                    continue;
                }
            };
            let candidate = clean(&region[p..end]);
            match serde_json::from_str::<serde_json::Value>(&candidate) {
                Err(e) => {
                    syntax_err.get_or_insert_with(|| format!("invalid JSON: {e}"));
                    p += 1;
                }
                Ok(_) => match serde_json::from_str::<T>(&candidate) {
                    Ok(v) => return Ok(v),
                    Err(e) => {
                        shape_err.get_or_insert_with(|| {
                            format!("the JSON does not have the required shape: {e}")
                        });
                        p = end;
                    }
                },
            }
        }
    }
    Err(ParseError::new(if let Some(e) = shape_err {
        e
    } else if let Some(e) = syntax_err {
        e
    } else if cut_off {
        "the JSON is cut off (a `{` or `[` is never closed): keep the reply shorter".to_string()
    } else {
        "no JSON object or array found in the reply".to_string()
    }))
}

/// Longest bad reply quoted back in a repair request.
const MAX_QUOTED_REPLY: usize = 2000;

fn quote_reply(text: &str) -> String {
    if text.len() <= MAX_QUOTED_REPLY {
        return text.to_string();
    }
    let mut head = MAX_QUOTED_REPLY * 3 / 4;
    while !text.is_char_boundary(head) {
        head -= 1;
    }
    let mut tail = text.len() - MAX_QUOTED_REPLY / 4;
    while !text.is_char_boundary(tail) {
        tail += 1;
    }
    format!("{}\n[...]\n{}", &text[..head], &text[tail..])
}

/// The repair request: same system prefix (still cached), the original user text, the bad
/// reply and what was wrong with it.
pub fn repair_request(req: &CompletionRequest, bad: &Completion, error: &str) -> CompletionRequest {
    let cut = if bad.truncated {
        " Your reply was cut off at the token limit: answer more briefly."
    } else {
        ""
    };
    CompletionRequest {
        user: format!(
            "{}\n\n---\nYour previous reply could not be used: {error}.{cut}\n\
             Your previous reply was:\n<<<\n{}\n>>>\n\
             Reply with JSON only: one JSON value in the required format, with no prose, \
             no Markdown fences and no <think> block.",
            req.user,
            quote_reply(&bad.text)
        ),
        ..req.clone()
    }
}

/// Completes `req` and parses the reply as `T`, with up to `max_repairs` repair requests (1 is
/// the intended value). Returns the value and every completion made (for usage accounting).
/// Provider errors pass through unchanged (a transient one stays transient); a reply still
/// unusable after the repairs is `LlmError::Permanent`.
pub async fn complete_json<T>(
    model: &dyn CompletionModel,
    req: &CompletionRequest,
    max_repairs: usize,
) -> Result<(T, Vec<Completion>), LlmError>
where
    T: DeserializeOwned + Send,
{
    complete_json_validated(model, req, max_repairs, |_: &T| Ok(())).await
}

/// As [`complete_json`], and `validate` checks the parsed value (ranges, non-empty fields); its
/// message goes into the repair request like a parse error.
pub async fn complete_json_validated<T, V>(
    model: &dyn CompletionModel,
    req: &CompletionRequest,
    max_repairs: usize,
    validate: V,
) -> Result<(T, Vec<Completion>), LlmError>
where
    T: DeserializeOwned + Send,
    V: Fn(&T) -> Result<(), String> + Send + Sync,
{
    let mut completions: Vec<Completion> = Vec::new();
    let mut current = req.clone();
    let mut attempt = 0;
    loop {
        let completion = model.complete(&current).await?;
        let outcome = parse_json::<T>(&completion.text)
            .map_err(|e| e.message)
            .and_then(|v| validate(&v).map(|()| v));
        completions.push(completion);
        let error = match outcome {
            Ok(v) => return Ok((v, completions)),
            Err(e) => e,
        };
        if attempt >= max_repairs {
            return Err(LlmError::Permanent {
                provider: model.provider().to_string(),
                detail: format!("unusable reply after {attempt} repair request(s): {error}"),
            });
        }
        attempt += 1;
        let bad = completions.last().expect("pushed above");
        current = repair_request(req, bad, &error);
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde::Deserialize;

    #[derive(Debug, Deserialize, PartialEq)]
    struct Vote {
        stance: String,
        confidence: f64,
    }

    fn vote(text: &str) -> Result<Vote, ParseError> {
        parse_json::<Vote>(text)
    }

    #[test]
    fn plain_and_surrounded() {
        let want = Vote {
            stance: "support".into(),
            confidence: 0.5,
        };
        assert_eq!(
            vote(r#"{"stance":"support","confidence":0.5}"#).unwrap(),
            want
        );
        assert_eq!(
            vote("Sure! Here it is: {\"stance\": \"support\", \"confidence\": 0.5} Hope it helps {:}")
                .unwrap(),
            want
        );
        assert_eq!(
            vote("```json\n{\"stance\":\"support\",\"confidence\":0.5,}\n```").unwrap(),
            want
        );
        assert_eq!(
            vote("<think>maybe {\"stance\":\"refute\",\"confidence\":1}</think>\n{\"stance\":\"support\",\"confidence\":0.5}")
                .unwrap(),
            want
        );
        assert_eq!(
            vote("reasoning about {x}</think>{\"stance\":\"support\",\"confidence\":0.5}").unwrap(),
            want
        );
        // Braces inside strings do not confuse the matcher.
        let v = vote(r#"{"stance":"sup}port{","confidence":0.5}"#).unwrap();
        assert_eq!(v.stance, "sup}port{");
        // Arrays, and a prose bracket before the JSON.
        let v: Vec<u32> = parse_json("the [answer] is [1, 2, 3,]").unwrap();
        assert_eq!(v, vec![1, 2, 3]);
    }

    #[test]
    fn errors_are_short_and_specific() {
        assert!(vote("").unwrap_err().message.contains("empty"));
        assert!(vote("<think>I wonder {")
            .unwrap_err()
            .message
            .contains("reasoning"));
        assert!(vote("no json here")
            .unwrap_err()
            .message
            .contains("no JSON"));
        assert!(vote(r#"{"stance":"support","confid"#)
            .unwrap_err()
            .message
            .contains("cut off"));
        let e = vote(r#"{"stance":"support"}"#).unwrap_err();
        assert!(
            e.message.contains("shape") && e.message.contains("confidence"),
            "{e}"
        );
        let e = vote(r#"{"stance": support}"#).unwrap_err();
        assert!(e.message.contains("invalid JSON"), "{e}");
        let huge = format!("{{\"stance\":\"{}\"}}", "x".repeat(5000));
        assert!(vote(&huge).unwrap_err().message.len() < 300);
    }

    #[test]
    fn absurd_numbers_never_panic() {
        let v = vote(r#"{"stance":"support","confidence":4096.15e4535444059008520}"#).unwrap();
        assert!(v.confidence.is_finite());
        assert_eq!(clamp01(v.confidence), 1.0);
        assert!(unit_interval("confidence", v.confidence).is_err());
        let v = vote(r#"{"stance":"x","confidence":-1e999999}"#).unwrap();
        assert_eq!(clamp01(v.confidence), 0.0);
        let v = vote(r#"{"stance":"x","confidence":1e-99999}"#).unwrap();
        assert_eq!(v.confidence, 0.0);
        assert_eq!(clamp01(f64::NAN), 0.0);
        assert_eq!(clamp01(0.25), 0.25);
        // An integer field that overflows is an error, not a panic.
        #[derive(Debug, Deserialize)]
        #[allow(dead_code)]
        struct N {
            n: u32,
        }
        assert!(parse_json::<N>(r#"{"n": 99999999999999999999999}"#).is_err());
        assert!(parse_json::<N>(r#"{"n": 1e400}"#).is_err());
    }

    #[test]
    fn many_braces_stay_cheap() {
        let text = "{".repeat(100_000);
        let start = std::time::Instant::now();
        assert!(vote(&text).is_err());
        let text = "{a} ".repeat(100_000);
        assert!(vote(&text).is_err());
        assert!(start.elapsed().as_secs() < 5);
    }

    #[test]
    fn strip_reasoning_cases() {
        assert_eq!(strip_reasoning("a<THINK>x</Think>b"), "ab");
        assert_eq!(strip_reasoning("a<think>x"), "a");
        assert_eq!(strip_reasoning("x</think>b"), "b");
        assert_eq!(strip_reasoning("é<think>ü</think>ö"), "éö");
    }

    #[test]
    fn repair_request_quotes_error_and_reply() {
        let req = CompletionRequest {
            role: "r".into(),
            model: "m".into(),
            system: "S".into(),
            user: "U".into(),
            max_tokens: 5,
            temperature: 0.0,
            json_schema: None,
        };
        let bad = Completion {
            text: "garbage".into(),
            usage: Default::default(),
            truncated: false,
            latency: Default::default(),
        };
        let r = repair_request(&req, &bad, "no JSON found");
        assert_eq!(r.system, "S");
        assert!(r.user.starts_with("U\n"));
        assert!(r.user.contains("garbage") && r.user.contains("no JSON found"));
        assert!(r.user.contains("JSON only"));
    }
}
