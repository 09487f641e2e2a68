//! The model providers, scheduler, ledger and JSON repair against a scripted HTTP server on
//! loopback that speaks both the OpenAI Chat Completions and the Anthropic Messages API.
//! Every test runs in a few seconds: delays are configured in milliseconds.

use axum::body::Body;
use axum::extract::State;
use axum::http::{HeaderMap, StatusCode};
use axum::response::Response;
use axum::routing::post;
use axum::Router;
use research::llm::tokens::{estimate_request_tokens, estimate_tokens};
use research::llm::{
    clamp01, complete_json, complete_json_validated, unit_interval, Anthropic, Budget, Completion,
    CompletionModel, CompletionRequest, Ledger, LlmError, OpenAiCompatible, Price, PriceTable,
    Scheduler, SchedulerConfig,
};
use serde::Deserialize;
use serde_json::{json, Value};
use std::collections::{HashSet, VecDeque};
use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

const KEY: &str = "sk-test-SECRET-0123456789abcdef";

/// What the server does with the next request.
#[derive(Clone, Debug)]
enum Step {
    /// 200 with this reply text and usage.
    Reply(&'static str),
    /// 200, but cut off at max_tokens (finish_reason length / stop_reason max_tokens).
    Truncated(&'static str),
    /// This status, an optional Retry-After, and a body.
    Status(u16, Option<&'static str>, String),
    /// Waits, then replies.
    Slow(Duration, &'static str),
    /// 200 whose body is not JSON at all.
    GarbageBody,
}

#[derive(Debug, Clone)]
struct Seen {
    path: String,
    at: Instant,
    headers: HeaderMap,
    body: Value,
    raw: String,
}

struct Server {
    script: Mutex<VecDeque<Step>>,
    fallback: Step,
    requests: AtomicUsize,
    seen: Mutex<Vec<Seen>>,
    /// System prompts already served: a repeated one is reported as cached, like a real
    /// prefix cache.
    cached: Mutex<HashSet<String>>,
    base: String,
}

impl Server {
    async fn start(script: Vec<Step>, fallback: Step) -> Arc<Server> {
        let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
        let addr = listener.local_addr().unwrap();
        let server = Arc::new(Server {
            script: Mutex::new(script.into()),
            fallback,
            requests: AtomicUsize::new(0),
            seen: Mutex::new(Vec::new()),
            cached: Mutex::new(HashSet::new()),
            base: format!("http://{addr}/v1"),
        });
        let app = Router::new()
            .route("/v1/chat/completions", post(openai))
            .route("/v1/messages", post(anthropic))
            .with_state(server.clone());
        tokio::spawn(async move {
            axum::serve(listener, app).await.unwrap();
        });
        server
    }

    fn requests(&self) -> usize {
        self.requests.load(Ordering::SeqCst)
    }

    fn seen(&self) -> Vec<Seen> {
        self.seen.lock().unwrap().clone()
    }

    /// Counts and logs the request, and takes the next step.
    fn next(&self, path: &str, headers: &HeaderMap, raw: &str) -> Step {
        self.requests.fetch_add(1, Ordering::SeqCst);
        self.seen.lock().unwrap().push(Seen {
            path: path.to_string(),
            at: Instant::now(),
            headers: headers.clone(),
            body: serde_json::from_str(raw).unwrap_or(Value::Null),
            raw: raw.to_string(),
        });
        self.script
            .lock()
            .unwrap()
            .pop_front()
            .unwrap_or_else(|| self.fallback.clone())
    }

    /// Tokens of `system` served from the cache: all of them when seen before.
    fn cache_hit(&self, system: &str) -> bool {
        !self.cached.lock().unwrap().insert(system.to_string())
    }
}

fn respond(status: u16, headers: &[(&str, &str)], body: String) -> Response {
    let mut r = Response::builder().status(StatusCode::from_u16(status).unwrap());
    for (k, v) in headers {
        r = r.header(*k, *v);
    }
    r.body(Body::from(body)).unwrap()
}

/// Steps that are not a model reply answer the same on both APIs.
async fn non_reply(step: &Step) -> Option<Response> {
    match step {
        Step::Status(code, retry_after, body) => {
            let mut h = vec![("content-type", "application/json")];
            if let Some(ra) = retry_after {
                h.push(("retry-after", ra));
            }
            Some(respond(*code, &h, body.clone()))
        }
        Step::GarbageBody => Some(respond(
            200,
            &[("content-type", "text/html")],
            "<html>502 Bad Gateway from some proxy</html>".to_string(),
        )),
        _ => None,
    }
}

/// The reply text and whether it was cut off, after any scripted delay.
async fn reply_text(step: &Step) -> (&'static str, bool) {
    match step {
        Step::Reply(t) => (t, false),
        Step::Truncated(t) => (t, true),
        Step::Slow(d, t) => {
            tokio::time::sleep(*d).await;
            (t, false)
        }
        _ => unreachable!("handled by non_reply"),
    }
}

async fn openai(State(s): State<Arc<Server>>, headers: HeaderMap, raw: String) -> Response {
    let step = s.next("/v1/chat/completions", &headers, &raw);
    if let Some(r) = non_reply(&step).await {
        return r;
    }
    let (text, truncated) = reply_text(&step).await;
    let body: Value = serde_json::from_str(&raw).unwrap_or(Value::Null);
    let system = body["messages"][0]["content"].as_str().unwrap_or("");
    let user = body["messages"][1]["content"].as_str().unwrap_or("");
    let sys_tokens = estimate_tokens(system);
    let cached = if s.cache_hit(system) { sys_tokens } else { 0 };
    let prompt = sys_tokens + estimate_tokens(user);
    let completion = estimate_tokens(text);
    let reply = json!({
        "id": "chatcmpl-1",
        "object": "chat.completion",
        "choices": [{
            "index": 0,
            "message": {"role": "assistant", "content": text},
            "finish_reason": if truncated { "length" } else { "stop" },
        }],
        "usage": {
            "prompt_tokens": prompt,
            "completion_tokens": completion,
            "total_tokens": prompt + completion,
            "prompt_tokens_details": {"cached_tokens": cached},
        },
    });
    respond(
        200,
        &[("content-type", "application/json")],
        reply.to_string(),
    )
}

async fn anthropic(State(s): State<Arc<Server>>, headers: HeaderMap, raw: String) -> Response {
    let step = s.next("/v1/messages", &headers, &raw);
    if let Some(r) = non_reply(&step).await {
        return r;
    }
    let (text, truncated) = reply_text(&step).await;
    let body: Value = serde_json::from_str(&raw).unwrap_or(Value::Null);
    let system = body["system"][0]["text"].as_str().unwrap_or("");
    let cacheable = body["system"][0]["cache_control"]["type"] == "ephemeral";
    let user = body["messages"][0]["content"].as_str().unwrap_or("");
    let sys_tokens = estimate_tokens(system);
    let (input, read, write) = match (cacheable, cacheable && s.cache_hit(system)) {
        (false, _) => (sys_tokens + estimate_tokens(user), 0, 0),
        (true, true) => (estimate_tokens(user), sys_tokens, 0),
        (true, false) => (estimate_tokens(user), 0, sys_tokens),
    };
    let reply = json!({
        "id": "msg_1",
        "type": "message",
        "role": "assistant",
        "content": [{"type": "text", "text": text}],
        "stop_reason": if truncated { "max_tokens" } else { "end_turn" },
        "usage": {
            "input_tokens": input,
            "cache_read_input_tokens": read,
            "cache_creation_input_tokens": write,
            "output_tokens": estimate_tokens(text),
        },
    });
    respond(
        200,
        &[("content-type", "application/json")],
        reply.to_string(),
    )
}

/// A raw HTTP/1.1 server for what hyper will not do on purpose: a 200 whose body stops
/// before its Content-Length (the connection drops mid-reply). The first `cut` requests are cut;
/// later ones get a complete reply in the API their path asks for.
struct CutServer {
    requests: AtomicUsize,
    base: String,
}

impl CutServer {
    async fn start(cut: usize) -> Arc<CutServer> {
        use tokio::io::{AsyncReadExt, AsyncWriteExt};
        let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
        let server = Arc::new(CutServer {
            requests: AtomicUsize::new(0),
            base: format!("http://{}/v1", listener.local_addr().unwrap()),
        });
        let s = server.clone();
        tokio::spawn(async move {
            while let Ok((mut sock, _)) = listener.accept().await {
                let s = s.clone();
                tokio::spawn(async move {
                    // Read the head, then the body its Content-Length announces.
                    let mut buf = Vec::new();
                    let mut chunk = [0u8; 4096];
                    let head_end = loop {
                        if let Some(p) = buf.windows(4).position(|w| w == b"\r\n\r\n") {
                            break p + 4;
                        }
                        match sock.read(&mut chunk).await {
                            Ok(0) | Err(_) => return,
                            Ok(n) => buf.extend_from_slice(&chunk[..n]),
                        }
                    };
                    let head = String::from_utf8_lossy(&buf[..head_end]).to_ascii_lowercase();
                    let len: usize = head
                        .lines()
                        .find_map(|l| l.strip_prefix("content-length:"))
                        .and_then(|v| v.trim().parse().ok())
                        .unwrap_or(0);
                    while buf.len() < head_end + len {
                        match sock.read(&mut chunk).await {
                            Ok(0) | Err(_) => return,
                            Ok(n) => buf.extend_from_slice(&chunk[..n]),
                        }
                    }
                    let n = s.requests.fetch_add(1, Ordering::SeqCst) + 1;
                    let reply = if n <= cut {
                        "HTTP/1.1 200 OK\r\ncontent-type: application/json\r\n\
                         content-length: 4000\r\n\r\n{\"choices\":[{\"message\":"
                            .to_string()
                    } else {
                        let body = if head.contains("/messages") {
                            json!({"content": [{"type": "text", "text": VOTE}],
                                   "stop_reason": "end_turn",
                                   "usage": {"input_tokens": 1, "output_tokens": 1}})
                        } else {
                            json!({"choices": [{"message": {"content": VOTE},
                                                "finish_reason": "stop"}],
                                   "usage": {"prompt_tokens": 1, "completion_tokens": 1}})
                        }
                        .to_string();
                        format!(
                            "HTTP/1.1 200 OK\r\ncontent-type: application/json\r\n\
                             connection: close\r\ncontent-length: {}\r\n\r\n{body}",
                            body.len()
                        )
                    };
                    let _ = sock.write_all(reply.as_bytes()).await;
                    let _ = sock.flush().await;
                    // Dropping the socket closes the connection, mid-body for a cut reply.
                });
            }
        });
        server
    }

    fn requests(&self) -> usize {
        self.requests.load(Ordering::SeqCst)
    }
}

const VOTE: &str = r#"{"stance": "support", "confidence": 0.8}"#;

#[derive(Debug, Deserialize, PartialEq)]
struct Vote {
    stance: String,
    confidence: f64,
}

fn request(system: &str) -> CompletionRequest {
    CompletionRequest {
        role: "reviewer-1".into(),
        model: "test-model".into(),
        system: system.into(),
        user: "Claim: lithium-ion cells last longest stored at 40-60% charge. Vote.".into(),
        max_tokens: 64,
        temperature: 0.0,
        json_schema: Some(json!({
            "type": "object",
            "properties": {
                "stance": {"type": "string", "enum": ["support", "refute", "abstain"]},
                "confidence": {"type": "number"}
            },
            "required": ["stance", "confidence"],
            "additionalProperties": false
        })),
    }
}

const SYSTEM: &str = "You are a careful reviewer. Vote support, refute or abstain on the claim, \
                      using only the evidence given. Reply with JSON.";

fn fast() -> SchedulerConfig {
    SchedulerConfig {
        max_concurrency: 8,
        call_timeout: Duration::from_secs(3),
        max_attempts: 4,
        min_backoff: Duration::from_millis(5),
        max_backoff: Duration::from_millis(20),
        max_retry_after: Duration::from_secs(5),
        cooldown: Duration::from_millis(200),
        ..SchedulerConfig::default()
    }
}

fn openai_provider(s: &Server) -> Arc<OpenAiCompatible> {
    Arc::new(OpenAiCompatible::new(
        s.base.clone(),
        Some(KEY.to_string()),
        "test-openai",
    ))
}

fn anthropic_provider(s: &Server) -> Arc<Anthropic> {
    Arc::new(Anthropic::new(KEY).with_base_url(s.base.clone()))
}

fn scheduler(model: Arc<dyn CompletionModel>, cfg: SchedulerConfig) -> Scheduler {
    Scheduler::new(model, cfg)
}

fn assert_no_key(text: &str) {
    assert!(!text.contains(KEY), "the API key leaked: {text}");
}

#[tokio::test]
async fn openai_reply_carries_usage_and_prefix_cache_reads() {
    let s = Server::start(vec![], Step::Reply(VOTE)).await;
    let prices = PriceTable::new().with(
        "test-model",
        Price {
            input: 1.0,
            output: 2.0,
            cache_read: Some(0.1),
            cache_write: None,
        },
    );
    let sched = scheduler(openai_provider(&s), fast()).with_ledger(Ledger::new(), prices);
    let req = request(SYSTEM);
    let first = sched.complete(&req).await.unwrap();
    let second = sched.complete(&req).await.unwrap();
    assert_eq!(first.text, VOTE);
    assert!(!first.truncated);
    let sys = estimate_tokens(SYSTEM);
    let user = estimate_tokens(&req.user);
    assert_eq!(first.usage.cache_read, 0);
    assert_eq!(first.usage.input_uncached, sys + user);
    assert_eq!(
        second.usage.cache_read, sys,
        "a repeated system prompt is cached"
    );
    assert_eq!(second.usage.input_uncached, user);
    assert_eq!(second.usage.output, estimate_tokens(VOTE));
    assert_eq!(s.requests(), 2);

    let seen = s.seen();
    let body = &seen[0].body;
    assert_eq!(seen[0].path, "/v1/chat/completions");
    assert_eq!(body["messages"][0]["role"], "system");
    assert_eq!(body["messages"][0]["content"], SYSTEM);
    assert_eq!(body["messages"][1]["role"], "user");
    assert_eq!(body["max_tokens"], 64);
    assert_eq!(body["response_format"]["type"], "json_schema");
    assert_eq!(body["response_format"]["json_schema"]["strict"], true);
    assert_eq!(
        body["response_format"]["json_schema"]["schema"],
        req.json_schema.clone().unwrap()
    );
    // The key travels in the Authorization header and nowhere else.
    assert_eq!(
        seen[0].headers["authorization"].to_str().unwrap(),
        format!("Bearer {KEY}")
    );
    assert_no_key(&seen[0].raw);

    let totals = sched.ledger().totals();
    assert_eq!(totals.calls, 2);
    assert_eq!(totals.cache_read, sys);
    assert_eq!(totals.unpriced_calls, 0);
    let want = (2 * (sys + user) - sys) as f64 * 1.0 / 1e6
        + sys as f64 * 0.1 / 1e6
        + 2.0 * estimate_tokens(VOTE) as f64 * 2.0 / 1e6;
    assert!((totals.cost_usd - want).abs() < 1e-12, "{totals:?}");
    let entries = sched.ledger().entries();
    assert_eq!(entries[0].role, "reviewer-1");
    assert_eq!(entries[0].provider, "test-openai");
    assert!(serde_json::to_string(&entries)
        .unwrap()
        .contains("cache_read"));
}

#[tokio::test]
async fn anthropic_system_block_is_cached_and_cache_reads_show_in_usage() {
    let s = Server::start(vec![], Step::Reply(VOTE)).await;
    let sched = scheduler(anthropic_provider(&s), fast());
    let req = request(SYSTEM);
    let (first, _) = complete_json::<Vote>(&sched, &req, 1).await.unwrap();
    let (second, completions) = complete_json::<Vote>(&sched, &req, 1).await.unwrap();
    assert_eq!(first.stance, "support");
    assert_eq!(second.confidence, 0.8);
    let system_text = Anthropic::system_text(&req);
    let sys = estimate_tokens(&system_text);
    assert_eq!(completions[0].usage.cache_read, sys);
    assert_eq!(completions[0].usage.cache_write, 0);
    assert_eq!(
        completions[0].usage.input_uncached,
        estimate_tokens(&req.user)
    );
    let totals = sched.ledger().totals();
    assert_eq!((totals.cache_write, totals.cache_read), (sys, sys));

    let seen = s.seen();
    assert_eq!(seen.len(), 2);
    for r in &seen {
        assert_eq!(r.path, "/v1/messages");
        assert_eq!(r.body["system"][0]["type"], "text");
        assert_eq!(r.body["system"][0]["cache_control"]["type"], "ephemeral");
        assert_eq!(r.body["messages"][0]["role"], "user");
        assert_eq!(r.headers["x-api-key"].to_str().unwrap(), KEY);
        assert_eq!(
            r.headers["anthropic-version"].to_str().unwrap(),
            "2023-06-01"
        );
        assert!(r.headers.get("authorization").is_none());
        assert_no_key(&r.raw);
    }
    // The schema is part of the stable, cached system text, byte-identical across calls.
    assert_eq!(seen[0].body["system"], seen[1].body["system"]);
    assert!(system_text.contains("\"required\""));
}

#[tokio::test]
async fn transient_failures_are_retried_up_to_the_bound_then_surface_as_transient() {
    let five_hundred = Step::Status(500, None, r#"{"error":{"message":"upstream"}}"#.into());
    let s = Server::start(vec![], five_hundred).await;
    let sched = scheduler(openai_provider(&s), fast());
    let err = sched.complete(&request(SYSTEM)).await.unwrap_err();
    assert!(err.is_transient(), "{err}");
    assert!(matches!(err, LlmError::Transient { .. }));
    assert_eq!(s.requests(), 4, "max_attempts HTTP requests, no more");
    let st = sched.stats();
    assert_eq!((st.attempts, st.retries, st.failed), (4, 3, 1));
    let entries = sched.ledger().entries();
    assert_eq!(entries.len(), 1, "one ledger entry per logical call");
    assert!(!entries[0].ok && entries[0].attempts == 4);

    // 500 and 503 and then a reply: recovers on the third attempt.
    let s = Server::start(
        vec![
            Step::Status(500, None, "oops".into()),
            Step::Status(503, None, String::new()),
        ],
        Step::Reply(VOTE),
    )
    .await;
    let sched = scheduler(anthropic_provider(&s), fast());
    assert_eq!(sched.complete(&request(SYSTEM)).await.unwrap().text, VOTE);
    assert_eq!(s.requests(), 3);

    // Anthropic's 529 "overloaded" is transient too.
    let overloaded = Step::Status(
        529,
        None,
        r#"{"type":"error","error":{"type":"overloaded_error","message":"Overloaded"}}"#.into(),
    );
    let s = Server::start(vec![overloaded.clone(), overloaded], Step::Reply(VOTE)).await;
    let sched = scheduler(anthropic_provider(&s), fast());
    assert!(sched.complete(&request(SYSTEM)).await.is_ok());
    assert_eq!(s.requests(), 3);
}

#[tokio::test]
async fn permanent_4xx_is_not_retried() {
    let bad = Step::Status(
        400,
        None,
        r#"{"error":{"message":"model `nope` does not exist","type":"invalid_request_error"}}"#
            .into(),
    );
    let s = Server::start(vec![], bad).await;
    let sched = scheduler(openai_provider(&s), fast());
    let err = sched.complete(&request(SYSTEM)).await.unwrap_err();
    assert!(!err.is_transient());
    assert!(matches!(err, LlmError::Permanent { .. }));
    assert!(err.to_string().contains("does not exist"), "{err}");
    assert!(err.to_string().contains("400"), "{err}");
    assert_eq!(s.requests(), 1);

    let s = Server::start(vec![], Step::Status(404, None, "not found".into())).await;
    let sched = scheduler(anthropic_provider(&s), fast());
    assert!(!sched
        .complete(&request(SYSTEM))
        .await
        .unwrap_err()
        .is_transient());
    assert_eq!(s.requests(), 1);
}

#[tokio::test]
async fn retry_after_is_honoured() {
    let s = Server::start(
        vec![Step::Status(
            429,
            Some("1"),
            r#"{"error":{"message":"slow down"}}"#.into(),
        )],
        Step::Reply(VOTE),
    )
    .await;
    let sched = scheduler(openai_provider(&s), fast());
    let start = Instant::now();
    let c = sched.complete(&request(SYSTEM)).await.unwrap();
    assert_eq!(c.text, VOTE);
    assert!(
        start.elapsed() >= Duration::from_secs(1),
        "{:?}",
        start.elapsed()
    );
    let seen = s.seen();
    assert_eq!(seen.len(), 2);
    assert!(seen[1].at - seen[0].at >= Duration::from_secs(1));
    assert_eq!(sched.stats().rate_limited, 1);

    // Retry-After: 0 (retry at once) on Anthropic.
    let s = Server::start(
        vec![Step::Status(429, Some("0"), String::new())],
        Step::Reply(VOTE),
    )
    .await;
    let sched = scheduler(anthropic_provider(&s), fast());
    assert!(sched.complete(&request(SYSTEM)).await.is_ok());
    assert_eq!(s.requests(), 2);
}

#[tokio::test]
async fn a_burst_of_429s_across_concurrent_calls_waits_and_never_multiplies_requests() {
    const N: usize = 6;
    let burst: Vec<Step> = (0..N)
        .map(|_| Step::Status(429, Some("1"), r#"{"error":{"message":"rate"}}"#.into()))
        .collect();
    let s = Server::start(burst, Step::Reply(VOTE)).await;
    let cfg = SchedulerConfig {
        max_concurrency: N,
        // Long enough that the limits are still lowered when the test looks.
        cooldown: Duration::from_secs(30),
        ..fast()
    };
    let sched = Arc::new(scheduler(openai_provider(&s), cfg));
    let start = Instant::now();
    let handles: Vec<_> = (0..N)
        .map(|_| {
            let sched = sched.clone();
            tokio::spawn(async move { sched.complete(&request(SYSTEM)).await })
        })
        .collect();
    for h in handles {
        assert_eq!(h.await.unwrap().unwrap().text, VOTE);
    }
    let elapsed = start.elapsed();
    assert!(elapsed >= Duration::from_secs(1), "{elapsed:?}");
    assert!(elapsed < Duration::from_secs(5), "{elapsed:?}");
    let n = s.requests();
    let max_attempts = fast().max_attempts as usize;
    assert!(n <= N * max_attempts, "{n} requests");
    assert_eq!(n, 2 * N, "each call: one 429, then one success");
    // Nobody retried before the Retry-After had passed: in the first second only the N
    // first attempts arrived.
    let seen = s.seen();
    let t0 = seen[0].at;
    let early = seen
        .iter()
        .filter(|r| r.at < t0 + Duration::from_secs(1))
        .count();
    assert_eq!(early, N);
    // The burst slowed the scheduler down (once, not once per 429).
    let st = sched.stats();
    assert_eq!(st.rate_limited, N as u64);
    assert_eq!(st.slowdowns, 1);
    assert!(sched.current_concurrency() < N);
}

#[tokio::test]
async fn persistent_429s_fail_as_transient_within_the_attempt_bound() {
    const N: usize = 5;
    let s = Server::start(vec![], Step::Status(429, Some("0"), String::new())).await;
    let cfg = SchedulerConfig {
        max_attempts: 3,
        ..fast()
    };
    let sched = Arc::new(scheduler(anthropic_provider(&s), cfg));
    let handles: Vec<_> = (0..N)
        .map(|_| {
            let sched = sched.clone();
            tokio::spawn(async move { sched.complete(&request(SYSTEM)).await })
        })
        .collect();
    for h in handles {
        let err = h.await.unwrap().unwrap_err();
        assert!(err.is_transient(), "{err}");
        assert!(matches!(err, LlmError::RateLimited { .. }));
    }
    assert_eq!(s.requests(), N * 3);
    assert!(
        sched.current_concurrency() < fast().max_concurrency,
        "slowed down"
    );

    // A Retry-After beyond the ceiling is not waited out.
    let s = Server::start(vec![], Step::Status(429, Some("86400"), String::new())).await;
    let sched = scheduler(openai_provider(&s), fast());
    let start = Instant::now();
    let err = sched.complete(&request(SYSTEM)).await.unwrap_err();
    assert!(err.is_transient());
    assert!(start.elapsed() < Duration::from_secs(2));
    assert_eq!(s.requests(), 1);
}

#[tokio::test]
async fn a_slow_reply_times_out_as_transient_and_is_retried() {
    let slow = Step::Slow(Duration::from_secs(3), VOTE);
    let s = Server::start(vec![], slow.clone()).await;
    let cfg = SchedulerConfig {
        call_timeout: Duration::from_millis(200),
        max_attempts: 2,
        ..fast()
    };
    let sched = scheduler(openai_provider(&s), cfg.clone());
    let start = Instant::now();
    let err = sched.complete(&request(SYSTEM)).await.unwrap_err();
    assert!(err.is_transient(), "{err}");
    // The first attempt taught the pace: the retry waited three times as long.
    assert!(err.to_string().contains("no reply within 600 ms"), "{err}");
    assert!(start.elapsed() < Duration::from_secs(2));
    assert_eq!(s.requests(), 2);
    assert_eq!(sched.stats().timeouts, 2);

    let s = Server::start(vec![slow], Step::Reply(VOTE)).await;
    let sched = scheduler(anthropic_provider(&s), cfg);
    assert_eq!(sched.complete(&request(SYSTEM)).await.unwrap().text, VOTE);
    assert_eq!(s.requests(), 2);
}

#[tokio::test]
async fn cut_off_replies_are_flagged_or_retried() {
    // finish_reason "length": flagged, and the cut JSON gets a repair request.
    let s = Server::start(
        vec![Step::Truncated(r#"{"stance": "support", "confid"#)],
        Step::Reply(VOTE),
    )
    .await;
    let sched = scheduler(openai_provider(&s), fast());
    let (vote, completions) = complete_json::<Vote>(&sched, &request(SYSTEM), 1)
        .await
        .unwrap();
    assert_eq!(vote.stance, "support");
    assert!(completions[0].truncated && !completions[1].truncated);
    let repair = s.seen()[1].body["messages"][1]["content"]
        .as_str()
        .unwrap()
        .to_string();
    assert!(repair.contains("cut off"), "{repair}");

    // stop_reason "max_tokens" on Anthropic.
    let s = Server::start(vec![Step::Truncated("{")], Step::Reply(VOTE)).await;
    let c = anthropic_provider(&s)
        .complete(&request(SYSTEM))
        .await
        .unwrap();
    assert!(c.truncated);

    // A body that stops before its Content-Length: transient, retried.
    let cut = CutServer::start(1).await;
    let sched = scheduler(
        Arc::new(OpenAiCompatible::new(cut.base.clone(), None, "cut")),
        fast(),
    );
    assert_eq!(sched.complete(&request(SYSTEM)).await.unwrap().text, VOTE);
    assert_eq!(cut.requests(), 2);

    let cut = CutServer::start(usize::MAX).await;
    let sched = scheduler(
        Arc::new(Anthropic::new(KEY).with_base_url(cut.base.clone())),
        fast(),
    );
    let err = sched.complete(&request(SYSTEM)).await.unwrap_err();
    assert!(err.is_transient(), "{err}");
    assert!(err.to_string().contains("reply body cut off"), "{err}");
    assert_no_key(&err.to_string());
    assert_eq!(cut.requests(), 4);

    // A 200 whose body is not JSON (a proxy's HTML page): transient, retried.
    let s = Server::start(vec![Step::GarbageBody], Step::Reply(VOTE)).await;
    let sched = scheduler(openai_provider(&s), fast());
    assert!(sched.complete(&request(SYSTEM)).await.is_ok());
    assert_eq!(s.requests(), 2);
}

#[tokio::test]
async fn garbage_json_gets_exactly_one_repair_then_permanent() {
    let s = Server::start(vec![], Step::Reply("I am unable to evaluate this claim.")).await;
    let sched = scheduler(openai_provider(&s), fast());
    let req = request(SYSTEM);
    let err = complete_json::<Vote>(&sched, &req, 1).await.unwrap_err();
    assert!(matches!(err, LlmError::Permanent { .. }), "{err}");
    assert!(!err.is_transient());
    assert_eq!(s.requests(), 2, "the call and exactly one repair");
    let seen = s.seen();
    let repair = &seen[1].body;
    assert_eq!(
        repair["messages"][0]["content"], SYSTEM,
        "same system prefix"
    );
    let user = repair["messages"][1]["content"].as_str().unwrap();
    assert!(user.starts_with(&req.user));
    assert!(user.contains("I am unable to evaluate this claim."));
    assert!(user.contains("no JSON object or array found"));
    assert!(user.contains("Reply with JSON only"));
    // The repair hit the prefix cache.
    assert_eq!(
        sched.ledger().entries()[1].usage.cache_read,
        estimate_tokens(SYSTEM)
    );

    // Garbage, then a valid reply: succeeds with both completions returned.
    let s = Server::start(vec![Step::Reply("garbage {not json")], Step::Reply(VOTE)).await;
    let sched = scheduler(anthropic_provider(&s), fast());
    let (vote, completions) = complete_json::<Vote>(&sched, &req, 1).await.unwrap();
    assert_eq!(vote.confidence, 0.8);
    assert_eq!(completions.len(), 2);
    assert_eq!(s.requests(), 2);

    // With no repairs allowed: one request, then permanent.
    let s = Server::start(vec![], Step::Reply("nope")).await;
    let err = complete_json::<Vote>(&*openai_provider(&s), &req, 0)
        .await
        .unwrap_err();
    assert!(matches!(err, LlmError::Permanent { .. }));
    assert_eq!(s.requests(), 1);
}

#[tokio::test]
async fn think_blocks_and_fences_are_stripped() {
    let s = Server::start(
        vec![
            Step::Reply(
                "<think>The claim says {\"stance\": \"refute\"}? No...</think>\n\
                 Here is my vote:\n```json\n{\"stance\": \"support\", \"confidence\": 0.8,}\n```",
            ),
            Step::Reply("Reasoning without an opening tag.</think>{\"stance\":\"abstain\",\"confidence\":0}"),
        ],
        Step::Reply(VOTE),
    )
    .await;
    let sched = scheduler(openai_provider(&s), fast());
    let (vote, _) = complete_json::<Vote>(&sched, &request(SYSTEM), 1)
        .await
        .unwrap();
    assert_eq!(
        vote,
        Vote {
            stance: "support".into(),
            confidence: 0.8
        }
    );
    let (vote, _) = complete_json::<Vote>(&sched, &request(SYSTEM), 1)
        .await
        .unwrap();
    assert_eq!(vote.stance, "abstain");
    assert_eq!(s.requests(), 2, "no repair was needed");
}

#[tokio::test]
async fn valid_json_of_the_wrong_shape_is_repaired() {
    let s = Server::start(
        vec![Step::Reply(r#"{"verdict": "true", "score": 7}"#)],
        Step::Reply(VOTE),
    )
    .await;
    let sched = scheduler(openai_provider(&s), fast());
    let (vote, completions) = complete_json::<Vote>(&sched, &request(SYSTEM), 1)
        .await
        .unwrap();
    assert_eq!(vote.stance, "support");
    assert_eq!(completions.len(), 2);
    let user = s.seen()[1].body["messages"][1]["content"]
        .as_str()
        .unwrap()
        .to_string();
    assert!(user.contains("missing field"), "{user}");
}

#[tokio::test]
async fn absurd_numbers_from_a_weak_model_never_panic() {
    const ABSURD: &str = r#"{"stance": "support", "confidence": 4096.15e4535444059008520}"#;
    let s = Server::start(vec![], Step::Reply(ABSURD)).await;
    let sched = scheduler(openai_provider(&s), fast());
    // Lenient: parse, then clamp.
    let (vote, _) = complete_json::<Vote>(&sched, &request(SYSTEM), 1)
        .await
        .unwrap();
    assert_eq!(clamp01(vote.confidence), 1.0);
    // Strict: out of range is a validation error, repaired once, then permanent.
    let err = complete_json_validated::<Vote, _>(&sched, &request(SYSTEM), 1, |v| {
        unit_interval("confidence", v.confidence).map(|_| ())
    })
    .await
    .unwrap_err();
    assert!(matches!(err, LlmError::Permanent { .. }));
    assert!(err.to_string().contains("confidence"), "{err}");
    assert_eq!(s.requests(), 3);
    let repair = s.seen()[2].body["messages"][1]["content"]
        .as_str()
        .unwrap()
        .to_string();
    assert!(repair.contains("must be a number from 0 to 1"), "{repair}");
}

#[tokio::test]
async fn the_budget_refuses_a_call_that_would_pass_the_cap() {
    let req = request(SYSTEM);
    let estimate = estimate_request_tokens(&req);
    assert_eq!(
        scheduler(
            Arc::new(OpenAiCompatible::new("http://x", None, "x")),
            fast()
        )
        .estimate(&req)
        .0,
        estimate
    );

    // Sequential: calls go out while spent + estimate fits; the first that would not is
    // refused and never sent.
    let s = Server::start(vec![], Step::Reply(VOTE)).await;
    let cap = 3 * estimate;
    let sched = scheduler(openai_provider(&s), fast()).with_budget(Budget::new(Some(cap), None));
    let mut sent = 0;
    let refused = loop {
        match sched.complete(&req).await {
            Ok(_) => sent += 1,
            Err(e) => break e,
        }
        assert!(sent < 1000, "the cap never bit");
    };
    assert!(matches!(refused, LlmError::Budget(_)), "{refused}");
    assert!(!refused.is_transient());
    assert_eq!(s.requests(), sent, "nothing was sent past the cap");
    let totals = sched.ledger().totals();
    assert!(totals.total_tokens <= cap);
    assert!(
        totals.total_tokens + estimate > cap,
        "refused only when it would pass"
    );
    assert_eq!(totals.refused_calls, 1);
    assert_eq!(sched.stats().budget_refused, 1);
    // Every later call is refused too, without a request.
    assert!(sched.complete(&req).await.is_err());
    assert_eq!(s.requests(), sent);

    // Concurrent: calls in flight reserve their estimate, so ten at once with room for
    // three send three.
    let s = Server::start(vec![], Step::Slow(Duration::from_millis(300), VOTE)).await;
    let sched = Arc::new(
        scheduler(openai_provider(&s), fast()).with_budget(Budget::new(Some(3 * estimate), None)),
    );
    let handles: Vec<_> = (0..10)
        .map(|_| {
            let sched = sched.clone();
            let req = req.clone();
            tokio::spawn(async move { sched.complete(&req).await })
        })
        .collect();
    let mut ok = 0;
    for h in handles {
        match h.await.unwrap() {
            Ok(_) => ok += 1,
            Err(e) => assert!(matches!(e, LlmError::Budget(_)), "{e}"),
        }
    }
    assert_eq!(ok, 3);
    assert_eq!(s.requests(), 3);
    assert!(sched.ledger().totals().total_tokens <= 3 * estimate);

    // A dollar cap works the same way on the worst-case price.
    let s = Server::start(vec![], Step::Reply(VOTE)).await;
    let prices = PriceTable::new().with(
        "test-model",
        Price {
            input: 1000.0,
            output: 1000.0,
            cache_read: None,
            cache_write: None,
        },
    );
    let sched = scheduler(openai_provider(&s), fast())
        .with_ledger(Ledger::new(), prices)
        .with_budget(Budget::new(None, Some(0.001)));
    assert!(matches!(
        sched.complete(&req).await,
        Err(LlmError::Budget(_))
    ));
    assert_eq!(s.requests(), 0);
}

#[tokio::test]
async fn the_api_key_never_appears_in_errors_or_debug_output() {
    let echo = format!(r#"{{"error":{{"message":"Incorrect API key provided: {KEY}"}}}}"#);
    for code in [401, 500] {
        let s = Server::start(vec![], Step::Status(code, None, echo.clone())).await;
        for model in [
            openai_provider(&s) as Arc<dyn CompletionModel>,
            anthropic_provider(&s) as Arc<dyn CompletionModel>,
        ] {
            let sched = scheduler(model, fast());
            let err = sched.complete(&request(SYSTEM)).await.unwrap_err();
            let text = format!("{err} {err:?}");
            assert_no_key(&text);
            assert!(text.contains("[redacted]"), "{text}");
            for e in sched.ledger().entries() {
                assert_no_key(&serde_json::to_string(&e).unwrap());
            }
            assert_no_key(&format!("{sched:?}"));
        }
    }
    // Transport errors: nothing listens on this port.
    let port = {
        let l = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
        l.local_addr().unwrap().port()
    };
    let dead = OpenAiCompatible::new(
        format!("http://127.0.0.1:{port}/v1"),
        Some(KEY.to_string()),
        "dead",
    );
    let err = dead.complete(&request(SYSTEM)).await.unwrap_err();
    assert!(err.is_transient(), "{err}");
    assert!(err.to_string().contains("could not connect"), "{err}");
    assert_no_key(&format!("{err} {err:?} {dead:?}"));
    let dead = Anthropic::new(KEY).with_base_url(format!("http://127.0.0.1:{port}/v1"));
    let err = dead.complete(&request(SYSTEM)).await.unwrap_err();
    assert!(err.is_transient());
    assert_no_key(&format!("{err} {err:?} {dead:?}"));
}

#[tokio::test]
async fn requests_per_minute_spaces_calls_out() {
    let s = Server::start(vec![], Step::Reply(VOTE)).await;
    let cfg = SchedulerConfig {
        requests_per_minute: Some(600),
        burst: Duration::from_millis(100),
        ..fast()
    };
    let sched = Arc::new(scheduler(openai_provider(&s), cfg));
    let start = Instant::now();
    let handles: Vec<_> = (0..4)
        .map(|_| {
            let sched = sched.clone();
            tokio::spawn(async move { sched.complete(&request(SYSTEM)).await })
        })
        .collect();
    for h in handles {
        h.await.unwrap().unwrap();
    }
    // 10 a second with a bucket of one: the 4th leaves about 300 ms after the first.
    let elapsed = start.elapsed();
    assert!(elapsed >= Duration::from_millis(250), "{elapsed:?}");
    assert!(elapsed < Duration::from_secs(3), "{elapsed:?}");
    assert_eq!(s.requests(), 4);
}

#[tokio::test]
async fn providers_work_without_the_scheduler() {
    let s = Server::start(vec![], Step::Reply(VOTE)).await;
    let local = OpenAiCompatible::new(s.base.clone(), None, "llama.cpp");
    let c: Completion = local.complete(&request(SYSTEM)).await.unwrap();
    assert_eq!(c.text, VOTE);
    assert!(s.seen()[0].headers.get("authorization").is_none());
    assert_eq!(local.provider(), "llama.cpp");
}
