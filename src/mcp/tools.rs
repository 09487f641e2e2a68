//! The tools' arguments (their schemas generated from the command line's settings types), what
//! each tool does with the run core's jobs, and how results and resources are shaped.

use super::{describe_roots, Claim, McpError, Server, REPORT_URI};
use crate::cli::{
    self, CheckPlanArgs, DepthArgs, Job, JournalMode, PolicyArgs, ProgressKind, RunArgs, VerifyArgs,
};
use research::artifact::{Citation, Hit, Stance, Vote};
use research::engine::Retriever;
use research::index::SearchRequest;
use research::journal::RunStatus;
use research::pipeline::{self, Corpora};
use research::progress::Progress;
use research::verify::{ClaimInput, VerifyResult};
use rmcp::model::{
    ErrorData, JsonObject, ReadResourceResult, Resource, ResourceContents, Tool, ToolAnnotations,
};
use rmcp::service::RequestContext;
use rmcp::RoleServer;
use schemars::JsonSchema;
use serde::{Deserialize, Serialize};
use serde_json::{json, Value};
use std::path::{Path, PathBuf};
use std::sync::Arc;

/// Passages a `search` call returns when it does not say.
const DEFAULT_K: usize = 10;
/// Passages a `search` call may ask for at most.
const MAX_K: usize = 100;

// ------------------------------------------------------------------------------ tool inputs
//
// The panel's settings come from `PolicyArgs`, the type behind the command line's --reviewers,
// --quorum, --min-sources and --max-claims; a call that leaves one out gets the server's value.

/// Arguments of the `research` tool.
#[derive(Debug, Deserialize, JsonSchema)]
struct ResearchInput {
    /// The research question (not needed with `resume`).
    #[serde(default)]
    question: Option<String>,
    /// Corpora to search: folders or files the server was started with, or paths inside them
    /// (default: all of them).
    #[serde(default)]
    corpora: Vec<PathBuf>,
    // The schema and the type check come from here; the values are laid over the server's.
    #[serde(flatten)]
    #[allow(dead_code)]
    policy: PolicyArgs,
    // Rounds and follow-up searches per round, as the command line's --depth and --breadth.
    #[serde(flatten)]
    #[allow(dead_code)]
    depth: DepthArgs,
    /// Passages each gathering agent may bring back.
    #[serde(default)]
    passages_per_agent: Option<usize>,
    /// Search the web too (default: as the server was started; true is refused when it was
    /// started without the web).
    #[serde(default)]
    web: Option<bool>,
    /// Let web fetches reach loopback and private addresses (refused unless the server was
    /// started with --allow-private).
    #[serde(default)]
    allow_private: Option<bool>,
    /// Continue a stopped run (a cancelled call) by its id instead of starting one; its id is
    /// in the call's first progress message and in `research runs`.
    #[serde(default)]
    resume: Option<String>,
}

/// Arguments of the `verify` tool.
#[derive(Debug, Deserialize, JsonSchema)]
struct VerifyInput {
    /// One claim to check.
    #[serde(default)]
    claim: Option<String>,
    /// Several claims to check (each gets its own verdict, in order).
    #[serde(default)]
    claims: Vec<String>,
    /// Corpora to check against: folders or files the server was started with, or paths inside
    /// them (default: all of them).
    #[serde(default)]
    corpora: Vec<PathBuf>,
    // The schema and the type check come from here; the values are laid over the server's.
    #[serde(flatten)]
    #[allow(dead_code)]
    policy: PolicyArgs,
}

/// Arguments of the `search` tool.
#[derive(Debug, Deserialize, JsonSchema)]
struct SearchInput {
    /// What to look for (ranked by BM25 over passage text, headings and titles).
    query: String,
    /// Corpora to search: folders or files the server was started with, or paths inside them
    /// (default: all of them).
    #[serde(default)]
    corpora: Vec<PathBuf>,
    /// Passages to return (default 10, at most 100).
    #[serde(default)]
    k: Option<usize>,
}

/// Arguments of the `check_plan` tool.
#[derive(Debug, Deserialize, JsonSchema)]
struct CheckPlanInput {
    /// The design plan as Markdown text (give this or `path`).
    #[serde(default)]
    text: Option<String>,
    /// A plan file (Markdown) inside the corpora the server may read.
    #[serde(default)]
    path: Option<PathBuf>,
    /// Angles to check from (default: all): correctness, performance, security, operability,
    /// cost, prior-art.
    #[serde(default)]
    angles: Vec<String>,
    /// Corpora to check against: folders or files the server was started with, or paths inside
    /// them (default: all of them).
    #[serde(default)]
    corpora: Vec<PathBuf>,
    /// Search the web too (refused when the server was started without it).
    #[serde(default)]
    web: Option<bool>,
    // The schema and the type check come from here; the values are laid over the server's.
    #[serde(flatten)]
    #[allow(dead_code)]
    policy: PolicyArgs,
}

// --------------------------------------------------------------------------- arguments

/// The call's arguments as `T`, refusing any argument the tool does not take (a misspelt
/// setting must not silently fall back to a default).
fn parse<T: JsonSchema + serde::de::DeserializeOwned + 'static>(
    tool: &str,
    args: &JsonObject,
) -> Result<T, McpError> {
    let schema = input_schema::<T>();
    let known: Vec<String> = schema
        .get("properties")
        .and_then(Value::as_object)
        .map(|p| p.keys().cloned().collect())
        .unwrap_or_default();
    for name in args.keys() {
        if !known.contains(name) {
            return Err(McpError::UnknownArgument {
                name: name.clone(),
                tool: tool.into(),
                known: known.join(", "),
            });
        }
    }
    serde_json::from_value(Value::Object(args.clone())).map_err(|e| McpError::BadArguments {
        tool: tool.into(),
        detail: e.to_string(),
    })
}

/// The server's `base` settings with the ones the call gives (each key of `T` present in
/// `args` replaces the server's value; the rest stay the server's).
fn overlay<T: Serialize + serde::de::DeserializeOwned>(
    tool: &str,
    base: &T,
    args: &JsonObject,
) -> Result<T, McpError> {
    let mut value = serde_json::to_value(base).map_err(|e| McpError::Failed(e.to_string()))?;
    if let Some(fields) = value.as_object_mut() {
        for (k, v) in args {
            if fields.contains_key(k) {
                fields.insert(k.clone(), v.clone());
            }
        }
    }
    serde_json::from_value(value).map_err(|e| McpError::BadArguments {
        tool: tool.into(),
        detail: e.to_string(),
    })
}

/// A tool's input schema: generated from its argument type (the panel's settings from the
/// command line's own type), with the defaults this server applies.
fn input_schema<T: JsonSchema + 'static>() -> JsonObject {
    rmcp::handler::server::common::schema_for_input::<T>()
        .map(|s| s.as_ref().clone())
        .unwrap_or_default()
}

fn with_defaults(mut schema: JsonObject, policy: &PolicyArgs) -> JsonObject {
    let values = [
        serde_json::to_value(policy),
        serde_json::to_value(DepthArgs::default()),
    ];
    if let Some(props) = schema.get_mut("properties").and_then(Value::as_object_mut) {
        for value in values {
            let Ok(Value::Object(values)) = value else {
                continue;
            };
            for (k, v) in values {
                if let Some(Value::Object(p)) = props.get_mut(&k) {
                    p.insert("default".into(), v);
                }
            }
        }
    }
    schema
}

// ------------------------------------------------------------------------------ results

/// A citation as a caller reads it: where the quote is and the quote itself.
#[derive(Debug, Serialize)]
struct Quote {
    /// The source: a file path or URL (with `#page=N` for PDF pages).
    source: String,
    title: String,
    #[serde(skip_serializing_if = "Vec::is_empty")]
    heading_path: Vec<String>,
    /// Byte span of the quote in the source's extracted text.
    start: usize,
    end: usize,
    #[serde(skip_serializing_if = "Option::is_none")]
    page: Option<u32>,
    /// blake3 of the source's extracted text.
    doc_hash: String,
    #[serde(skip_serializing_if = "Option::is_none")]
    fetched: Option<String>,
    quote: String,
}

impl From<&Citation> for Quote {
    fn from(c: &Citation) -> Quote {
        Quote {
            source: c.location.clone(),
            title: c.title.clone(),
            heading_path: c.heading_path.clone(),
            start: c.start,
            end: c.end,
            page: c.page,
            doc_hash: c.doc_hash.clone(),
            fetched: c.fetched.clone(),
            quote: c.quote.clone(),
        }
    }
}

/// A vote that decided a verdict, with its quote.
#[derive(Debug, Serialize)]
struct Deciding {
    reviewer: String,
    skeptic: bool,
    stance: Stance,
    confidence: f32,
    note: String,
    #[serde(flatten)]
    quote: Quote,
}

/// The votes a verdict rests on: supports for a supported claim, refutations for a refuted
/// one, both for a disputed one, none when nothing decided it.
fn deciding(verdict: &str, votes: &[Vote]) -> Vec<Deciding> {
    let wanted: &[Stance] = match verdict {
        "supported" => &[Stance::Support],
        "refuted" => &[Stance::Refute],
        "disputed" => &[Stance::Support, Stance::Refute],
        _ => &[],
    };
    votes
        .iter()
        .filter(|v| wanted.contains(&v.stance))
        .filter_map(|v| {
            let e = v.evidence.as_ref()?;
            Some(Deciding {
                reviewer: v.reviewer.clone(),
                skeptic: v.skeptic,
                stance: v.stance,
                confidence: v.confidence,
                note: v.note.clone(),
                quote: e.into(),
            })
        })
        .collect()
}

fn verdict_json(r: &VerifyResult) -> Value {
    json!({
        "id": r.id,
        "claim": r.claim,
        "verdict": r.verdict,
        "support": r.support,
        "refute": r.refute,
        "abstain": r.abstain,
        "unverified": r.unverified,
        "supporting_docs": r.supporting_docs,
        "reason": r.reason,
        "deciding": deciding(&r.verdict, &r.votes),
        "votes": r.votes,
    })
}

fn verdict_text(r: &VerifyResult) -> String {
    let mut s = format!(
        "{}: {}\n  {} support, {} refute, {} abstain, {} unverified ({})\n",
        r.verdict, r.claim, r.support, r.refute, r.abstain, r.unverified, r.reason
    );
    for d in deciding(&r.verdict, &r.votes) {
        s.push_str(&format!(
            "  - {} {:?}: “{}” ({}, bytes {}..{})\n",
            d.reviewer,
            d.stance,
            research::text::squash_whitespace(&d.quote.quote),
            d.quote.source,
            d.quote.start,
            d.quote.end
        ));
    }
    s
}

fn hit_json(h: &Hit) -> Value {
    json!({
        "source": h.location,
        "title": h.title,
        "heading_path": h.passage.heading_path,
        "start": h.passage.start,
        "end": h.passage.end,
        "page": h.passage.page,
        "doc_hash": h.doc_hash,
        "fetched": h.fetched,
        "score": h.score,
        "text": h.passage.text,
    })
}

fn report_uri(path: &Path) -> String {
    format!(
        "{REPORT_URI}{}",
        path.file_name().unwrap_or_default().to_string_lossy()
    )
}

// ------------------------------------------------------------------------------- tools

impl Server {
    pub(super) fn tools(&self) -> Vec<Tool> {
        let policy = &self.0.args.panel.policy;
        let schema = |s: JsonObject| Arc::new(with_defaults(s, policy));
        let limits = format!(
            "Corpora: {}. Web: {}.",
            describe_roots(&self.0.roots),
            if self.0.web_allowed {
                "allowed"
            } else {
                "not allowed"
            }
        );
        // Reading tools change nothing a user sees (the index and the journal are the server's);
        // the others add report files, never over an existing one.
        let reads = ToolAnnotations::new().read_only(true).open_world(false);
        let writes_a_report = ToolAnnotations::new()
            .read_only(false)
            .destructive(false)
            .idempotent(false)
            .open_world(self.0.web_allowed);
        vec![
            Tool::new(
                "research",
                format!(
                    "Research a question: plan, gather passages, extract claims (each with a verbatim quote), have a reviewer panel vote on each, and write a cited report. Returns the report's Markdown, its path and resource URI, and counts. Long: sends progress (the first message names the run); a cancelled call stops cleanly and can be resumed with `resume`. {limits}"
                ),
                schema(input_schema::<ResearchInput>()),
            )
            .annotate(writes_a_report.clone()),
            Tool::new(
                "verify",
                format!(
                    "Have the reviewer panel check one claim or several against the corpora. Returns each verdict (supported, refuted, disputed or insufficient) with the deciding quotes, their sources and byte spans, and every vote. {limits}"
                ),
                schema(input_schema::<VerifyInput>()),
            )
            .annotate(reads.clone()),
            Tool::new(
                "search",
                format!(
                    "Search the index: the k best passages for a query, each with its source, heading path, byte span and verbatim text, straight from the index (no judging). {limits}"
                ),
                Arc::new(input_schema::<SearchInput>()),
            )
            .annotate(reads),
            Tool::new(
                "check_plan",
                format!(
                    "Check a design plan (Markdown text, or a file inside the corpora) against the corpora, angle by angle: each statement with its verdict per angle (contradicted, disputed, unverifiable, confirmed) and quotes, the open risks, and the report's Markdown and path. {limits}"
                ),
                schema(input_schema::<CheckPlanInput>()),
            )
            .annotate(writes_a_report),
        ]
    }

    pub(super) async fn call(
        &self,
        name: &str,
        args: JsonObject,
        ctx: RequestContext<RoleServer>,
    ) -> Result<(String, Value), McpError> {
        match name {
            "research" => self.research(args, ctx).await,
            "verify" => self.verify(args, ctx).await,
            "search" => self.search(args).await,
            "check_plan" => self.check_plan(args, ctx).await,
            other => Err(McpError::UnknownTool(other.to_string())),
        }
    }

    async fn research(
        &self,
        args: JsonObject,
        ctx: RequestContext<RoleServer>,
    ) -> Result<(String, Value), McpError> {
        let s = &self.0;
        let input: ResearchInput = parse("research", &args)?;
        let policy = overlay("research", &s.args.panel.policy, &args)?;
        let depth: DepthArgs = overlay("research", &DepthArgs::default(), &args)?;
        depth.check().map_err(|detail| McpError::BadArguments {
            tool: "research".into(),
            detail,
        })?;
        let mut _claim = None;
        let (a, mode) = match &input.resume {
            Some(id) => {
                if args.len() > 1 {
                    return Err(McpError::BadArguments {
                        tool: "research".into(),
                        detail: "`resume` continues a run with its own settings: give it alone"
                            .into(),
                    });
                }
                _claim = Some(Claim::new(s, id)?);
                // A finished run is answered with its report.
                if let Some(done) = self.finished(id)? {
                    return Ok(done);
                }
                (self.resumable(id)?, JournalMode::Resume(id.clone()))
            }
            None => {
                let question = input.question.clone().unwrap_or_default();
                if question.trim().is_empty() {
                    return Err(McpError::BadArguments {
                        tool: "research".into(),
                        detail: "give a `question` (or `resume` with a run's id)".into(),
                    });
                }
                let mut a = RunArgs {
                    question: Some(question),
                    out: s.out.clone(),
                    progress: ProgressKind::Human,
                    panel: s.panel(s.corpora(&input.corpora)?, policy),
                    web: s.web(input.web, input.allow_private)?,
                    depth,
                    ..RunArgs::default()
                };
                if let Some(n) = input.passages_per_agent {
                    a.passages_per_agent = n;
                }
                (a, JournalMode::New)
            }
        };
        let _running = s.runs.read().await;
        let call = s.call(&ctx);
        let result = cli::question_job(&a, mode, s.host(&call)).await;
        s.end(call).await;
        let (id, outcome) = result.map_err(|e| McpError::from_job(e, "research"))?;
        let w = &outcome.written;
        let markdown = std::fs::read_to_string(&w.markdown)
            .map_err(|e| McpError::Failed(format!("cannot read {}: {e}", w.markdown.display())))?;
        let structured = json!({
            "run": id,
            "question": outcome.report.question,
            "path": w.markdown,
            "uri": report_uri(&w.markdown),
            "html": w.html,
            "audit": w.audit,
            "stats": outcome.report.stats,
            "markdown": markdown,
        });
        let text = format!(
            "{markdown}\n\n---\nreport: {} ({}); run {id}\n",
            w.markdown.display(),
            report_uri(&w.markdown)
        );
        Ok((text, structured))
    }

    /// A finished run's report, if the run is done and its report still there.
    fn finished(&self, id: &str) -> Result<Option<(String, Value)>, McpError> {
        let runs = self
            .0
            .journals
            .list()
            .map_err(|e| McpError::Failed(e.to_string()))?;
        let Some(run) = runs.into_iter().find(|r| r.id == id) else {
            return Err(McpError::NotFound(format!("run {id}")));
        };
        if run.status != RunStatus::Done {
            return Ok(None);
        }
        let Some(path) = run.report.map(PathBuf::from).filter(|p| p.exists()) else {
            return Ok(None);
        };
        let markdown = std::fs::read_to_string(&path)
            .map_err(|e| McpError::Failed(format!("cannot read {}: {e}", path.display())))?;
        let structured = json!({
            "run": id,
            "question": run.question,
            "path": path,
            "uri": report_uri(&path),
            "markdown": markdown,
        });
        let text = format!(
            "{markdown}\n\n---\nreport: {} ({}); run {id}\n",
            path.display(),
            report_uri(&path)
        );
        Ok(Some((text, structured)))
    }

    /// A journaled question run's settings, if this server may run it: its corpora inside the
    /// roots, and no web or private address the server was not started with. It runs with the
    /// server's engine, web providers, index and report folder.
    fn resumable(&self, id: &str) -> Result<RunArgs, McpError> {
        let s = &self.0;
        let job =
            cli::journaled_job(&s.journals, id).map_err(|e| McpError::Failed(format!("{e:#}")))?;
        let Job::Question(mut a) = job else {
            return Err(McpError::BadArguments {
                tool: "research".into(),
                detail: format!(
                    "run {id} is not a question run; resume it with `research resume {id}`"
                ),
            });
        };
        a.panel.corpus = a
            .panel
            .corpus
            .iter()
            .map(|p| s.allowed(p))
            .collect::<Result<_, _>>()?;
        let web = a.web.web
            || !a.web.search.is_empty()
            || a.web
                .sources
                .contains(&research::web::args::SourceKind::Web);
        // The server's providers and limits, as for a new call.
        a.web = s.web(Some(web), Some(a.web.fetch.allow_private))?;
        let server = &s.args.panel;
        a.panel.engine = server.engine;
        a.panel.llm = server.llm.clone();
        a.panel.verifier = server.verifier;
        a.panel.common = server.common.clone();
        a.out = s.out.clone();
        a.progress = ProgressKind::Human;
        Ok(a)
    }

    async fn verify(
        &self,
        args: JsonObject,
        ctx: RequestContext<RoleServer>,
    ) -> Result<(String, Value), McpError> {
        let s = &self.0;
        let input: VerifyInput = parse("verify", &args)?;
        let policy = overlay("verify", &s.args.panel.policy, &args)?;
        let mut claims: Vec<String> = input.claim.into_iter().collect();
        claims.extend(input.claims);
        if claims.is_empty() || claims.iter().any(|c| c.trim().is_empty()) {
            return Err(McpError::BadArguments {
                tool: "verify".into(),
                detail: "give a non-empty `claim`, or `claims` (a list of statements)".into(),
            });
        }
        let claim_list: Vec<ClaimInput> = claims
            .iter()
            .enumerate()
            .map(|(i, c)| ClaimInput {
                id: format!("c{}", i + 1),
                claim: c.clone(),
            })
            .collect();
        let a = VerifyArgs {
            claim: None,
            claims: None,
            json: true,
            claim_list,
            panel: s.panel(s.corpora(&input.corpora)?, policy),
        };
        let _running = s.runs.read().await;
        let call = s.call(&ctx);
        let host = s.host(&call);
        let total = claims.len();
        let mut results: Vec<VerifyResult> = Vec::new();
        let result = {
            let mut emit = |r: &VerifyResult| {
                results.push(r.clone());
                call.relay.say(format!(
                    "verdict {}/{total}: {} ({})",
                    results.len(),
                    r.verdict,
                    r.claim
                ));
            };
            cli::verify_job(&a, JournalMode::New, host, &mut emit).await
        };
        s.end(call).await;
        let id = result.map_err(|e| McpError::from_job(e, "verify"))?;
        let text: String = results.iter().map(verdict_text).collect();
        let structured = json!({
            "run": id,
            "verdicts": results.iter().map(verdict_json).collect::<Vec<_>>(),
        });
        Ok((text, structured))
    }

    async fn search(&self, args: JsonObject) -> Result<(String, Value), McpError> {
        let s = &self.0;
        let input: SearchInput = parse("search", &args)?;
        if input.query.trim().is_empty() {
            return Err(McpError::BadArguments {
                tool: "search".into(),
                detail: "the query is empty".into(),
            });
        }
        let k = input.k.unwrap_or(DEFAULT_K).clamp(1, MAX_K);
        let corpora = s.corpora(&input.corpora)?;
        let scope = self.indexed(&corpora).await?;
        let retriever = Retriever::new(Arc::clone(&s.store), scope);
        let hits = tokio::task::block_in_place(|| {
            retriever.search(SearchRequest {
                text: input.query.clone(),
                limit: k,
                ..SearchRequest::default()
            })
        })
        .map_err(|e| McpError::Failed(e.to_string()))?;
        let mut text = String::new();
        for (i, h) in hits.iter().enumerate() {
            text.push_str(&format!(
                "[{}] {} › {} (bytes {}..{})\n{}\n\n",
                i + 1,
                h.location,
                if h.passage.heading_path.is_empty() {
                    h.title.clone()
                } else {
                    h.passage.heading_path.join(" › ")
                },
                h.passage.start,
                h.passage.end,
                h.passage.text.trim()
            ));
        }
        if hits.is_empty() {
            text.push_str("no passage matches\n");
        }
        let structured = json!({
            "query": input.query,
            "passages": hits.iter().map(hit_json).collect::<Vec<_>>(),
        });
        Ok((text, structured))
    }

    /// Bring `corpora` into the index once (the store is incremental: unchanged files are not
    /// read again) and return their retrieval scope. Searches after that read the index as it
    /// is; every run (which brings its own corpora up to date) makes the next search check again.
    async fn indexed(&self, corpora: &[PathBuf]) -> Result<Vec<String>, McpError> {
        let s = &self.0;
        if corpora.is_empty() {
            let mut done = s.indexed.lock().await;
            if done.insert(PathBuf::new()) {
                let prepared = tokio::task::block_in_place(|| {
                    pipeline::prepare(
                        s.store.as_ref(),
                        &Corpora::Bundled,
                        &Default::default(),
                        &Progress::hidden(),
                    )
                });
                if let Err(e) = prepared {
                    done.remove(&PathBuf::new());
                    return Err(McpError::Failed(e.to_string()));
                }
            }
            return Ok(vec![research::bundled::CORPUS_ID.to_string()]);
        }
        // One preparation at a time: two calls on a new corpus must not both index it.
        let mut done = s.indexed.lock().await;
        let missing: Vec<PathBuf> = corpora
            .iter()
            .filter(|c| !done.contains(*c))
            .cloned()
            .collect();
        if !missing.is_empty() {
            let panel = s
                .args
                .panel
                .resolve()
                .map_err(|e| McpError::Failed(e.to_string()))?;
            tokio::task::block_in_place(|| {
                pipeline::prepare(
                    s.store.as_ref(),
                    &Corpora::Paths(missing.clone()),
                    &panel.ingest,
                    &Progress::hidden(),
                )
            })
            .map_err(|e| McpError::Failed(e.to_string()))?;
            // Files of a folder around or inside these are stored under these now: that folder
            // is brought up to date again when next searched.
            done.retain(|c| {
                c.as_os_str().is_empty()
                    || !missing.iter().any(|m| c.starts_with(m) || m.starts_with(c))
            });
            done.extend(missing);
        }
        Ok(corpora
            .iter()
            .map(|c| c.to_string_lossy().into_owned())
            .collect())
    }

    async fn check_plan(
        &self,
        args: JsonObject,
        ctx: RequestContext<RoleServer>,
    ) -> Result<(String, Value), McpError> {
        let s = &self.0;
        let input: CheckPlanInput = parse("check_plan", &args)?;
        let policy = overlay("check_plan", &s.args.panel.policy, &args)?;
        let plan = match (&input.text, &input.path) {
            (Some(text), None) => self.plan_file(text)?,
            (None, Some(path)) => s.allowed(path)?,
            _ => {
                return Err(McpError::BadArguments {
                    tool: "check_plan".into(),
                    detail: "give the plan as `text` (Markdown) or as a `path`, one of the two"
                        .into(),
                })
            }
        };
        let corpora = s.corpora(&input.corpora)?;
        if corpora.is_empty() && !s.web_allowed {
            return Err(McpError::BadArguments {
                tool: "check_plan".into(),
                detail: "this server reads no corpus folder (it was started without --corpus), so there is nothing to check a plan against".into(),
            });
        }
        let a = CheckPlanArgs {
            plan,
            angles: input.angles.clone(),
            angles_dir: None,
            out: s.out.clone(),
            panel: s.panel(corpora, policy),
            web: s.web(input.web, None)?,
        };
        let _running = s.runs.read().await;
        let call = s.call(&ctx);
        let result = cli::check_plan_job(&a, JournalMode::New, s.host(&call)).await;
        s.end(call).await;
        let (id, report, written) = result.map_err(|e| McpError::from_job(e, "check_plan"))?;
        let markdown = std::fs::read_to_string(&written.markdown).map_err(|e| {
            McpError::Failed(format!("cannot read {}: {e}", written.markdown.display()))
        })?;
        let statement = |item: &str| report.items.iter().find(|i| i.id == item);
        let angles: Vec<Value> = report
            .angles
            .iter()
            .map(|angle| {
                json!({
                    "angle": angle.name,
                    "title": angle.title,
                    "statements": angle.checks.iter().map(|c| {
                        let item = statement(&c.item);
                        let verdict = research::checkplan::Outcome::label(c.outcome);
                        let judged = match c.outcome {
                            research::checkplan::Outcome::Confirmed => "supported",
                            research::checkplan::Outcome::Contradicted => "refuted",
                            research::checkplan::Outcome::Disputed => "disputed",
                            research::checkplan::Outcome::Unverifiable => "insufficient",
                        };
                        json!({
                            "id": c.item,
                            "line": item.map(|i| i.line),
                            "statement": item.map(|i| i.text.clone()),
                            "verdict": verdict,
                            "reason": c.reviewed.verdict.reason,
                            "quotes": deciding(judged, &c.reviewed.votes),
                        })
                    }).collect::<Vec<_>>(),
                    "risks": angle.risks.iter().map(|r| json!({
                        "check": r.check,
                        "quote": Quote::from(&r.citation),
                    })).collect::<Vec<_>>(),
                })
            })
            .collect();
        let structured = json!({
            "run": id,
            "plan": report.plan,
            "stats": report.stats,
            "statements": report.items.iter().map(|i| json!({
                "id": i.id,
                "line": i.line,
                "statement": i.text,
                "verdict": report.overall(&i.id).label(),
            })).collect::<Vec<_>>(),
            "angles": angles,
            "path": written.markdown,
            "uri": report_uri(&written.markdown),
            "markdown": markdown,
        });
        let text = format!(
            "{markdown}\n\n---\nreport: {} ({}); run {id}\n",
            written.markdown.display(),
            report_uri(&written.markdown)
        );
        Ok((text, structured))
    }

    /// A plan given as text, kept as a file under the report folder (the check quotes it by
    /// line and span, and a resumed check reads it again).
    fn plan_file(&self, text: &str) -> Result<PathBuf, McpError> {
        if text.trim().is_empty() {
            return Err(McpError::BadArguments {
                tool: "check_plan".into(),
                detail: "the plan text is empty".into(),
            });
        }
        let dir = self.0.out.join("plans");
        let title = text
            .lines()
            .find_map(|l| {
                l.trim()
                    .strip_prefix('#')
                    .map(|t| t.trim_start_matches('#').trim().to_string())
            })
            .filter(|t| !t.is_empty())
            .unwrap_or_else(|| "plan".into());
        let hash = blake3::hash(text.as_bytes()).to_hex();
        let path = dir.join(format!(
            "{}-{}.md",
            research::text::slug(&title, 40),
            &hash.as_str()[..8]
        ));
        if !path.exists() {
            std::fs::create_dir_all(&dir)
                .and_then(|_| research::report::write_new(&path, text.as_bytes()))
                .or_else(|e| if path.exists() { Ok(()) } else { Err(e) })
                .map_err(|e| {
                    McpError::Failed(format!("cannot keep the plan in {}: {e}", dir.display()))
                })?;
        }
        Ok(path)
    }

    pub(super) fn resources(&self) -> Vec<Resource> {
        let Ok(entries) = std::fs::read_dir(&self.0.out) else {
            return Vec::new();
        };
        let mut out: Vec<Resource> = entries
            .filter_map(Result::ok)
            .filter(|e| e.file_type().is_ok_and(|t| t.is_file()))
            .filter_map(|e| {
                let name = e.file_name().to_string_lossy().into_owned();
                let mime = mime_of(&name)?;
                if name.starts_with('.') {
                    return None;
                }
                let size = e.metadata().map(|m| m.len()).unwrap_or(0);
                Some(
                    Resource::new(format!("{REPORT_URI}{name}"), name.clone())
                        .with_mime_type(mime)
                        .with_size(size),
                )
            })
            .collect();
        out.sort_by(|a, b| a.uri.cmp(&b.uri));
        out
    }

    pub(super) fn read(&self, uri: &str) -> Result<ReadResourceResult, ErrorData> {
        let not_found = || {
            ErrorData::resource_not_found(
                format!("no report {uri}; list the resources to see the reports"),
                None,
            )
        };
        let name = uri.strip_prefix(REPORT_URI).ok_or_else(not_found)?;
        // A plain file name in the report folder, nothing else.
        if name.is_empty() || name.starts_with('.') || name.contains(['/', '\\']) {
            return Err(not_found());
        }
        let mime = mime_of(name).ok_or_else(not_found)?;
        let text = std::fs::read_to_string(self.0.out.join(name)).map_err(|_| not_found())?;
        Ok(ReadResourceResult::new(vec![
            ResourceContents::TextResourceContents {
                uri: uri.to_string(),
                mime_type: Some(mime.into()),
                text: self.0.redact(&text),
                meta: None,
            },
        ]))
    }
}

fn mime_of(name: &str) -> Option<&'static str> {
    match Path::new(name).extension()?.to_str()? {
        "md" => Some("text/markdown"),
        "html" => Some("text/html"),
        "json" => Some("application/json"),
        _ => None,
    }
}
