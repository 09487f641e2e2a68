//! Token estimates for prompts, used for rate limiting (tokens per minute), budgets and context
//! checks. The estimator is tiktoken's `cl100k_base` vocabulary (built into the binary, no
//! download). Other model families tokenize differently (Llama, Gemma, Claude), typically within
//! about 20% of it: this is an estimate, not the provider's count, and the ledger always records
//! the provider's own numbers.

use super::CompletionRequest;

/// Which estimator this build uses, for logs and the audit.
pub const ESTIMATOR: &str = "tiktoken cl100k_base";

/// Tokens a chat message costs on top of its text (role markers, separators), as OpenAI's
/// cookbook counts them for cl100k models.
const PER_MESSAGE_OVERHEAD: u64 = 4;
/// Tokens priming the assistant's reply.
const REPLY_PRIMING: u64 = 3;

/// BPE merging is quadratic in the length of one pre-tokenized piece, so a long run without
/// whitespace (base64, minified text) could take seconds. Texts are counted in chunks cut at
/// whitespace; the sum differs from the exact count by at most a token per cut.
const CHUNK_BYTES: usize = 8 * 1024;

/// Estimated tokens in `text`.
pub fn estimate_tokens(text: &str) -> u64 {
    if text.is_empty() {
        return 0;
    }
    let bpe = tiktoken_rs::cl100k_base_singleton();
    let mut total = 0u64;
    let mut rest = text;
    while !rest.is_empty() {
        let cut = chunk_end(rest, CHUNK_BYTES);
        total += bpe.encode_ordinary(&rest[..cut]).len() as u64;
        rest = &rest[cut..];
    }
    total
}

/// The end of the next chunk: after the last whitespace before `max` bytes, else at the last
/// char boundary before `max`.
fn chunk_end(s: &str, max: usize) -> usize {
    if s.len() <= max {
        return s.len();
    }
    let mut end = max;
    while !s.is_char_boundary(end) {
        end -= 1;
    }
    match s[..end].rfind(char::is_whitespace) {
        // Keep the whitespace with the following word, as cl100k's pre-tokenizer does.
        Some(ws) if ws > 0 => ws,
        _ => end,
    }
}

/// Estimated prompt tokens of a request: system and user messages, the JSON schema (servers
/// put it in the prompt or a grammar; counted either way) and the chat template's overhead.
pub fn estimate_prompt_tokens(req: &CompletionRequest) -> u64 {
    let schema = req
        .json_schema
        .as_ref()
        .map(|s| estimate_tokens(&s.to_string()))
        .unwrap_or(0);
    estimate_tokens(&req.system)
        + estimate_tokens(&req.user)
        + schema
        + 2 * PER_MESSAGE_OVERHEAD
        + REPLY_PRIMING
}

/// The most tokens a request can consume: its prompt estimate plus the whole `max_tokens`.
/// Rate limiters and budgets reserve this much before sending.
pub fn estimate_request_tokens(req: &CompletionRequest) -> u64 {
    estimate_prompt_tokens(req) + u64::from(req.max_tokens)
}

/// Whether `prompt` plus `max_output` reply tokens fit in a `context_window` of tokens.
pub fn fits(context_window: u64, prompt: &str, max_output: u64) -> bool {
    // Overflow means it cannot fit.
    estimate_tokens(prompt)
        .checked_add(REPLY_PRIMING)
        .and_then(|n| n.checked_add(max_output))
        .is_some_and(|n| n <= context_window)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn counts_like_cl100k() {
        assert_eq!(estimate_tokens(""), 0);
        // "hello world" is two cl100k tokens.
        assert_eq!(estimate_tokens("hello world"), 2);
        let long = "word ".repeat(10_000);
        let n = estimate_tokens(&long);
        assert!((9_000..=11_000).contains(&n), "{n}");
    }

    #[test]
    fn long_runs_without_spaces_are_cheap_and_boundaries_safe() {
        let s = "é".repeat(20_000) + &"x".repeat(50_000);
        let start = std::time::Instant::now();
        assert!(estimate_tokens(&s) > 0);
        assert!(start.elapsed().as_secs() < 5);
    }

    #[test]
    fn fits_respects_window() {
        assert!(fits(100, "hello world", 50));
        assert!(!fits(100, "hello world", 96));
        assert!(!fits(10, &"word ".repeat(100), 0));
        assert!(!fits(u64::MAX, "x", u64::MAX));
    }

    #[test]
    fn request_estimate_includes_max_tokens() {
        let req = CompletionRequest {
            role: "r".into(),
            model: "m".into(),
            system: "sys".into(),
            user: "user".into(),
            max_tokens: 100,
            temperature: 0.0,
            json_schema: None,
        };
        assert_eq!(
            estimate_request_tokens(&req),
            estimate_prompt_tokens(&req) + 100
        );
    }
}
