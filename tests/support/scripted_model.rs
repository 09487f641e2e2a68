//! A scripted model server on 127.0.0.1 speaking the OpenAI Chat Completions API, for the LLM
//! engine's tests and token benchmark: deterministic replies built from the prompt it receives
//! (it quotes the passages it is shown), scripted failures, and counters of requests, tokens and
//! prompt bytes shared with other requests' prompts (what a prefix cache could serve).

#![allow(dead_code)]

use axum::extract::State;
use axum::http::StatusCode;
use axum::response::{IntoResponse, Response};
use axum::routing::{get, post};
use axum::{Json, Router};
use serde_json::{json, Value};
use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::{Arc, Mutex};

#[derive(Clone, Copy, PartialEq)]
pub enum Mode {
    /// Sensible JSON for every role, plus one claim whose quote is not in its passage.
    Good,
    /// Reviewer calls fail with 500; the other roles answer.
    ReviewersFail,
    /// Every reply is prose, not JSON.
    Garbage,
    /// As `Good`, each reply after half a second (time to press Ctrl-C).
    Slow,
    /// As `Good`, with no usage object in the replies.
    NoUsage,
    /// As `Good`, with absurd usage (u64::MAX tokens).
    AbsurdUsage,
    /// As `Good`, but a reviewer prompt with more than two claims gets llama.cpp's HTTP 500
    /// "Context size has been exceeded" (a small `-c` shared by parallel slots).
    SmallContext,
    /// llama.cpp with a small slot: `/props` says 1,500 tokens per slot, and a prompt much past
    /// that gets the HTTP 500 "Context size has been exceeded".
    SlotContext,
    /// As `Good`, but slow as a small local model on 2 cores: each reply takes 0.4 ms per
    /// prompt token (a 3,000-token prompt, 1.2 s).
    TokenPaced,
    /// An older llama.cpp: `/props` has no slot context, `/slots` lists two slots of 1,500
    /// tokens; each reply takes 50 ms, so a client sending more than two at once is seen.
    SlotsOnly,
    /// Ollama on its OpenAI-compatible route: `/api/show` gives the model's trained context but
    /// no `num_ctx`, so Ollama runs it with its default context and silently cuts longer prompts
    /// (counted in `truncated`).
    Ollama,
}

/// The slot context `Mode::SlotContext` reports.
pub const SLOT_CONTEXT: usize = 1500;

/// The slots `Mode::SlotsOnly` has.
pub const SLOTS: usize = 2;

/// The context Ollama gives a model whose Modelfile sets no `num_ctx`.
pub const OLLAMA_DEFAULT_CONTEXT: usize = 2048;

pub struct Script {
    pub mode: Mode,
    pub requests: AtomicUsize,
    pub reviewer_requests: AtomicUsize,
    /// User messages, in arrival order.
    pub prompts: Mutex<Vec<String>>,
    /// Full prompts (system + user) of reviewer calls, for the prefix figures.
    pub reviewer_prompts: Mutex<Vec<String>>,
    pub prompt_tokens: AtomicUsize,
    pub reviewer_prompt_tokens: AtomicUsize,
    /// Chat requests being answered now, and the most seen at once.
    pub in_flight: AtomicUsize,
    pub max_in_flight: AtomicUsize,
    /// Prompts longer than the server's context, which it cut without a word (Ollama).
    pub truncated: AtomicUsize,
}

impl Script {
    /// Share of reviewer prompt bytes that lie in a prefix byte-identical to another reviewer
    /// call's prefix (what a provider's prefix cache can serve).
    pub fn reviewer_prefix_share(&self) -> f64 {
        let prompts = self.reviewer_prompts.lock().unwrap();
        let total: usize = prompts.iter().map(String::len).sum();
        let shared: usize = prompts
            .iter()
            .enumerate()
            .map(|(i, p)| {
                prompts
                    .iter()
                    .enumerate()
                    .filter(|(j, _)| *j != i)
                    .map(|(_, q)| p.bytes().zip(q.bytes()).take_while(|(a, b)| a == b).count())
                    .max()
                    .unwrap_or(0)
            })
            .sum();
        shared as f64 / total.max(1) as f64
    }
}

/// Bodies of `<source ...>` blocks in a prompt, with their ids.
fn sources(user: &str) -> Vec<(String, String)> {
    let mut out = Vec::new();
    let mut rest = user;
    while let Some(i) = rest.find("<source id=\"") {
        let after = &rest[i + 12..];
        let Some(q) = after.find('"') else { break };
        let id = after[..q].to_string();
        let Some(open_end) = after.find(">\n") else {
            break;
        };
        let body = &after[open_end + 2..];
        let Some(close) = body.find("\n</source>") else {
            break;
        };
        out.push((id, body[..close].to_string()));
        rest = &body[close..];
    }
    out
}

fn first_sentence(text: &str) -> String {
    let end = text.find(". ").map(|i| i + 1).unwrap_or(text.len());
    text[..end].trim().to_string()
}

fn reply(system: &str, user: &str) -> Value {
    // The naive baseline sends its rules after the data, in the user message.
    let rules = format!("{system}\n{user}");
    let system = rules.as_str();
    if system.contains("between two rounds") {
        // The next round: follow the first kept claim's opening words.
        let first = user
            .lines()
            .skip_while(|l| !l.starts_with("Kept claims:"))
            .find_map(|l| l.strip_prefix("- ").and_then(|r| r.split_once(": ")))
            .map(|(_, text)| {
                text.split_whitespace()
                    .take(4)
                    .collect::<Vec<_>>()
                    .join(" ")
            });
        return match first {
            Some(words) => {
                json!({"follow_ups": [{"lead": "bridge", "query": format!("{words} lifespan"), "reason": "the next hop", "claim": ""}]})
            }
            None => json!({"follow_ups": []}),
        };
    }
    if system.contains("You are the planner") {
        return json!({"sub_queries": [
            {"angle": "definition", "label": "Storage", "query": "storage charge percent lithium-ion"},
            {"angle": "limits", "label": "Heat", "query": "temperature heat degrees ageing"},
            {"angle": "mechanism", "label": "Charging", "query": "charging habits partial charge"}]});
    }
    if system.contains("You are the claim extractor") {
        let mut claims: Vec<Value> = sources(user)
            .into_iter()
            .take(7)
            .map(|(id, text)| {
                let q = first_sentence(&text);
                json!({"claim": q, "quote": q, "source": id})
            })
            .collect();
        // First, so the extractor's per-batch cap never hides it.
        claims.insert(
            0,
            json!({"claim": "Batteries love the sun.", "quote": "Batteries love being left in hot sun all day.", "source": "S1"}));
        return json!({ "claims": claims });
    }
    if system.contains("fact-checking panel") {
        let srcs = sources(user);
        let votes: Vec<Value> = user
            .lines()
            .filter_map(|l| l.strip_prefix("Claim "))
            .map(|rest| {
                let id = rest.split(':').next().unwrap_or("");
                let first = rest.rsplit("(look first at: ").next().and_then(|e| e.split([',', ')']).next()).unwrap_or("").trim();
                match srcs.iter().find(|(i, _)| i == first) {
                    Some((eid, text)) => json!({"claim": id, "stance": "support", "confidence": 0.9, "evidence": eid, "quote": first_sentence(text)}),
                    None => json!({"claim": id, "stance": "abstain", "confidence": 0.5, "evidence": "", "quote": ""}),
                }
            })
            .collect();
        return json!({ "votes": votes });
    }
    if system.contains("You write the answer") {
        // Per part: one sentence resting on its first two claims, one stating a number no claim
        // holds, and one citing a claim that was not given (both must be deleted).
        let mut parts: Vec<(String, Vec<(String, String)>)> = Vec::new();
        for line in user.lines() {
            if let Some(p) = line.strip_prefix("## ") {
                parts.push((p.to_string(), Vec::new()));
            } else if let (Some(rest), Some(cur)) = (line.strip_prefix("- "), parts.last_mut()) {
                if let Some((id, text)) = rest.split_once(": ") {
                    cur.1.push((id.to_string(), text.to_string()));
                }
            }
        }
        let parts: Vec<Value> = parts
            .into_iter()
            .map(|(part, claims)| {
                let Some((first, text)) = claims.first() else {
                    return json!({"part": part, "sentences": []});
                };
                let mut ids = vec![first.clone()];
                ids.extend(claims.get(1).map(|c| c.0.clone()));
                json!({"part": part, "sentences": [
                    {"text": format!("In short: {}", text.trim_end_matches('.')), "claims": ids},
                    {"text": "Batteries last 97 years when kept cool.", "claims": [first]},
                    {"text": "Nothing cited here is true.", "claims": ["c999"]}]})
            })
            .collect();
        return json!({ "parts": parts });
    }
    // Writer: one sentence per claim, its own words.
    let mut sections = Vec::new();
    let mut current: Option<(String, Vec<Value>)> = None;
    for line in user.lines() {
        if let Some(h) = line.strip_prefix("## ") {
            if let Some(s) = current.take() {
                sections.push(s);
            }
            current = Some((h.to_string(), Vec::new()));
        } else if let (Some(rest), Some(cur)) = (line.strip_prefix("- "), current.as_mut()) {
            if let Some((id, text)) = rest.split_once(": ") {
                cur.1.push(json!({"text": text, "claims": [id]}));
            }
        }
    }
    sections.extend(current);
    json!({"sections": sections.into_iter().map(|(h, s)| json!({"heading": h, "sentences": s})).collect::<Vec<_>>()})
}

/// Counts a chat request in flight until it is answered.
struct InFlight<'a>(&'a Script);

impl<'a> InFlight<'a> {
    fn enter(s: &'a Script) -> InFlight<'a> {
        let now = s.in_flight.fetch_add(1, Ordering::SeqCst) + 1;
        s.max_in_flight.fetch_max(now, Ordering::SeqCst);
        InFlight(s)
    }
}

impl Drop for InFlight<'_> {
    fn drop(&mut self) {
        self.0.in_flight.fetch_sub(1, Ordering::SeqCst);
    }
}

async fn chat(State(s): State<Arc<Script>>, Json(body): Json<Value>) -> Response {
    s.requests.fetch_add(1, Ordering::SeqCst);
    let _in_flight = InFlight::enter(&s);
    let text = |role: &str| -> String {
        body["messages"]
            .as_array()
            .map(|m| {
                m.iter()
                    .filter(|x| x["role"] == role)
                    .filter_map(|x| x["content"].as_str())
                    .collect::<Vec<_>>()
                    .join("\n")
            })
            .unwrap_or_default()
    };
    let (system, user) = (text("system"), text("user"));
    s.prompts.lock().unwrap().push(user.clone());
    let reviewer = system.contains("fact-checking panel") || user.contains("fact-checking panel");
    let prompt_tokens = (system.len() + user.len()) / 4;
    s.prompt_tokens.fetch_add(prompt_tokens, Ordering::SeqCst);
    if reviewer {
        s.reviewer_requests.fetch_add(1, Ordering::SeqCst);
        s.reviewer_prompt_tokens
            .fetch_add(prompt_tokens, Ordering::SeqCst);
        s.reviewer_prompts
            .lock()
            .unwrap()
            .push(format!("{system}\n{user}"));
    }
    if s.mode == Mode::Slow {
        tokio::time::sleep(std::time::Duration::from_millis(500)).await;
    }
    if s.mode == Mode::SlotsOnly {
        tokio::time::sleep(std::time::Duration::from_millis(50)).await;
    }
    if s.mode == Mode::Ollama && prompt_tokens > OLLAMA_DEFAULT_CONTEXT {
        s.truncated.fetch_add(1, Ordering::SeqCst);
    }
    if s.mode == Mode::TokenPaced {
        tokio::time::sleep(std::time::Duration::from_micros(400 * prompt_tokens as u64)).await;
    }
    if s.mode == Mode::ReviewersFail && reviewer {
        return (StatusCode::INTERNAL_SERVER_ERROR, "overloaded").into_response();
    }
    let too_long_for_slot =
        s.mode == Mode::SlotContext && prompt_tokens > SLOT_CONTEXT + SLOT_CONTEXT / 4;
    if too_long_for_slot
        || (s.mode == Mode::SmallContext
            && reviewer
            && user.lines().filter(|l| l.starts_with("Claim ")).count() > 2)
    {
        return (
            StatusCode::INTERNAL_SERVER_ERROR,
            Json(json!({"error": {"code": 500, "message": "Context size has been exceeded.", "type": "server_error"}})),
        )
            .into_response();
    }
    let content = if s.mode == Mode::Garbage {
        "Sure! Here is what I think about batteries: they are great.".to_string()
    } else {
        reply(&system, &user).to_string()
    };
    let mut reply = json!({
        "choices": [{"index": 0, "message": {"role": "assistant", "content": content}, "finish_reason": "stop"}],
        "usage": {"prompt_tokens": prompt_tokens, "completion_tokens": content.len() / 4}
    });
    match s.mode {
        Mode::NoUsage => {
            reply.as_object_mut().unwrap().remove("usage");
        }
        Mode::AbsurdUsage => {
            reply["usage"] = json!({"prompt_tokens": u64::MAX, "completion_tokens": u64::MAX});
        }
        _ => {}
    }
    Json(reply).into_response()
}

/// llama.cpp's `/props`, for the modes that play llama.cpp; other modes have none (404).
async fn props(State(s): State<Arc<Script>>) -> Response {
    match s.mode {
        Mode::SlotContext => {
            Json(json!({"default_generation_settings": {"n_ctx": SLOT_CONTEXT}, "total_slots": 4}))
                .into_response()
        }
        // Older builds: generation settings without the slot's context.
        Mode::SlotsOnly => {
            Json(json!({"default_generation_settings": {"temperature": 0.8}})).into_response()
        }
        _ => StatusCode::NOT_FOUND.into_response(),
    }
}

/// llama.cpp's `/slots`: one entry per parallel slot, each with its context.
async fn slots(State(s): State<Arc<Script>>) -> Response {
    if s.mode != Mode::SlotsOnly {
        return StatusCode::NOT_FOUND.into_response();
    }
    let slots: Vec<Value> = (0..SLOTS)
        .map(|id| json!({"id": id, "n_ctx": SLOT_CONTEXT, "is_processing": false}))
        .collect();
    Json(Value::Array(slots)).into_response()
}

/// Ollama's `/api/show`: the model's trained context in `model_info`, and its Modelfile
/// parameters, here without `num_ctx`.
async fn ollama_show(State(s): State<Arc<Script>>, Json(body): Json<Value>) -> Response {
    if s.mode != Mode::Ollama {
        return StatusCode::NOT_FOUND.into_response();
    }
    Json(json!({
        "parameters": "stop \"<end_of_turn>\"\ntemperature 1",
        "model_info": {"general.architecture": "gemma3", "gemma3.context_length": 32768},
        "details": {"family": "gemma3"},
        "model": body["model"],
    }))
    .into_response()
}

pub struct Server {
    pub url: String,
    pub script: Arc<Script>,
    _rt: tokio::runtime::Runtime,
}

pub fn serve(mode: Mode) -> Server {
    let rt = tokio::runtime::Builder::new_multi_thread()
        .worker_threads(2)
        .enable_all()
        .build()
        .unwrap();
    let script = Arc::new(Script {
        mode,
        requests: AtomicUsize::new(0),
        reviewer_requests: AtomicUsize::new(0),
        prompts: Mutex::new(Vec::new()),
        reviewer_prompts: Mutex::new(Vec::new()),
        prompt_tokens: AtomicUsize::new(0),
        reviewer_prompt_tokens: AtomicUsize::new(0),
        in_flight: AtomicUsize::new(0),
        max_in_flight: AtomicUsize::new(0),
        truncated: AtomicUsize::new(0),
    });
    let listener = rt
        .block_on(tokio::net::TcpListener::bind("127.0.0.1:0"))
        .unwrap();
    let addr = listener.local_addr().unwrap();
    let app = Router::new()
        .route("/v1/chat/completions", post(chat))
        .route("/props", get(props))
        .route("/slots", get(slots))
        .route("/api/show", post(ollama_show))
        .with_state(Arc::clone(&script));
    rt.spawn(async move { axum::serve(listener, app).await });
    Server {
        url: format!("http://{addr}/v1"),
        script,
        _rt: rt,
    }
}
