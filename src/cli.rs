//! Command-line arguments and the commands they run. Errors become anyhow here, at the edge.

use anyhow::{bail, Context, Result};
use clap::{Args, Parser, Subcommand, ValueEnum};
use research::config::{Config, Overrides, ProviderKind};
use research::engine::llm::{self as llm_engine, Prompts, Voting};
use research::engine::{offline, Engine, Retriever};
use research::eval;
use research::gather::AgentBudget;
use research::index::Store;
use research::ingest::IngestOptions;
use research::pipeline::{self, Corpora, RunConfig};
use research::progress::Progress;
use research::review::Policy;
use research::verify;
use std::io::Write;
use std::path::PathBuf;
use std::sync::Arc;
use std::time::Duration;

/// Deep research with adversarial voting: every claim in the report carries a verbatim quote
/// checked against its source, and a panel of reviewers (one a skeptic) voted on it.
#[derive(Parser, Debug)]
#[command(name = "research", version, args_conflicts_with_subcommands = true)]
pub struct Cli {
    #[command(subcommand)]
    pub command: Option<Command>,
    #[command(flatten)]
    pub run: RunArgs,
}

#[derive(Subcommand, Debug)]
pub enum Command {
    /// Run the reviewer panel on one claim, or on a JSONL file of claims.
    Verify(VerifyArgs),
    /// Manage the persistent index.
    #[command(subcommand)]
    Index(IndexCommand),
    /// Quality figures on a labelled question set or verdict set.
    Eval(EvalArgs),
}

#[derive(Subcommand, Debug)]
pub enum IndexCommand {
    /// Index folders or files now (unchanged files are skipped).
    Add {
        #[arg(required = true)]
        paths: Vec<PathBuf>,
        #[command(flatten)]
        common: Common,
    },
    /// Show what the index holds.
    Stats {
        #[command(flatten)]
        common: Common,
    },
}

#[derive(Clone, Copy, Debug, ValueEnum, PartialEq)]
pub enum EngineKind {
    /// No network, no model: deterministic retrieval and lexical judging.
    Offline,
    /// Models over OpenAI-compatible or Anthropic APIs (configure with research.toml, the
    /// environment, or --model / --base-url / --provider).
    Llm,
}

#[derive(Clone, Copy, Debug, ValueEnum, PartialEq)]
pub enum VotingKind {
    /// Many claims per reviewer call, stable prompt prefix first.
    Batched,
    /// One call per claim per reviewer (a baseline for comparison).
    Naive,
}

#[derive(Clone, Copy, Debug, ValueEnum, PartialEq)]
pub enum ProviderArg {
    Openai,
    Anthropic,
}

/// Settings of the LLM engine (ignored by the offline engine).
#[derive(Args, Debug, Clone)]
pub struct LlmArgs {
    /// Config file (default: research.toml in the user's config folder, when present).
    #[arg(long, value_name = "FILE")]
    pub config: Option<PathBuf>,
    /// Wire protocol of the default provider.
    #[arg(long, value_enum)]
    pub provider: Option<ProviderArg>,
    /// API root of the default provider, e.g. http://127.0.0.1:8080/v1 for llama.cpp.
    #[arg(long, value_name = "URL")]
    pub base_url: Option<String>,
    /// One model for every role (provider/model, or a model of the default provider).
    #[arg(long)]
    pub model: Option<String>,
    /// Hard cap on tokens (input + output) for the run.
    #[arg(long, value_name = "N")]
    pub budget_tokens: Option<u64>,
    /// Hard cap on cost in US dollars for the run (needs prices in the config).
    #[arg(long, value_name = "USD")]
    pub budget_usd: Option<f64>,
    /// Print the cost estimate and stop: nothing is dispatched.
    #[arg(long)]
    pub dry_run: bool,
    /// How reviewers spend calls.
    #[arg(long, value_enum, default_value_t = VotingKind::Batched)]
    pub voting: VotingKind,
    /// Folder of role prompts overriding the built-in ones (<role>.md).
    #[arg(long, value_name = "DIR")]
    pub prompts: Option<PathBuf>,
}

#[derive(Args, Debug, Clone)]
pub struct Common {
    /// Index folder (default: the user's data dir, e.g. ~/.local/share/research/index).
    #[arg(long, env = "RESEARCH_INDEX", global = true)]
    pub index: Option<PathBuf>,
    /// No progress on stderr.
    #[arg(long, short, global = true)]
    pub quiet: bool,
}

#[derive(Args, Debug, Clone)]
pub struct PanelArgs {
    /// Local corpus: a folder (searched recursively) or a file; repeat for several. Without it,
    /// the sample corpus bundled in the binary is used.
    #[arg(long, value_name = "PATH")]
    pub corpus: Vec<PathBuf>,
    /// Reviewers on the panel (at least 3; at least one is a skeptic).
    #[arg(long, default_value_t = 5)]
    pub reviewers: usize,
    /// Support votes needed to keep a claim (default: a majority of the panel).
    #[arg(long)]
    pub quorum: Option<usize>,
    /// Distinct documents that must support a kept claim.
    #[arg(long, default_value_t = 1)]
    pub min_sources: usize,
    /// Which engine plays the roles.
    #[arg(long, value_enum, default_value_t = EngineKind::Offline)]
    pub engine: EngineKind,
    #[command(flatten)]
    pub llm: LlmArgs,
    /// Claims extracted and reviewed at most.
    #[arg(long, default_value_t = 40)]
    pub max_claims: usize,
    /// Skip files larger than this many MiB.
    #[arg(long, default_value_t = 64, value_name = "MIB")]
    pub max_file_mib: u64,
    #[command(flatten)]
    pub common: Common,
}

#[derive(Args, Debug)]
pub struct RunArgs {
    /// The research question.
    pub question: Option<String>,
    /// Folder for the report files.
    #[arg(long, default_value = "reports")]
    pub out: PathBuf,
    /// Passages each gathering agent may bring back.
    #[arg(long, default_value_t = 24)]
    pub passages_per_agent: usize,
    /// Seconds each gathering agent may take.
    #[arg(long, default_value_t = 30)]
    pub agent_deadline: u64,
    #[command(flatten)]
    pub panel: PanelArgs,
    #[command(flatten)]
    pub web: research::web::args::WebArgs,
}

#[derive(Args, Debug)]
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
    #[command(flatten)]
    pub panel: PanelArgs,
}

#[derive(Args, Debug)]
pub struct EvalArgs {
    /// A question set (JSON) to score reports on.
    #[arg(long, requires = "docs_root", conflicts_with = "claims")]
    pub questions: Option<PathBuf>,
    /// Folder the question set's corpus paths are relative to.
    #[arg(long)]
    pub docs_root: Option<PathBuf>,
    /// A verdict set folder (claims.jsonl + corpus/) to score the panel on.
    #[arg(long, required_unless_present = "questions")]
    pub claims: Option<PathBuf>,
    /// Score only the first N questions or claims.
    #[arg(long)]
    pub limit: Option<usize>,
    /// Also write the figures as JSON to this file.
    #[arg(long, value_name = "FILE")]
    pub json: Option<PathBuf>,
    #[command(flatten)]
    pub panel: PanelArgs,
}

impl PanelArgs {
    fn policy(&self) -> Policy {
        Policy {
            reviewers: self.reviewers,
            quorum: self.quorum.unwrap_or(self.reviewers / 2 + 1),
            min_sources: self.min_sources,
            ..Policy::default()
        }
    }

    fn corpora(&self) -> Corpora {
        if self.corpus.is_empty() {
            Corpora::Bundled
        } else {
            Corpora::Paths(self.corpus.clone())
        }
    }

    fn engine(&self) -> Result<Engine> {
        Ok(match self.engine {
            EngineKind::Offline => offline::engine(self.reviewers, self.max_claims.max(1)),
            EngineKind::Llm => {
                let a = &self.llm;
                let overrides = Overrides {
                    provider: a.provider.map(|p| match p {
                        ProviderArg::Openai => ProviderKind::Openai,
                        ProviderArg::Anthropic => ProviderKind::Anthropic,
                    }),
                    base_url: a.base_url.clone(),
                    model: a.model.clone(),
                    budget_tokens: a.budget_tokens,
                    budget_usd: a.budget_usd,
                };
                let config = Config::load(a.config.as_deref())?.resolve(
                    &|k| std::env::var(k).ok().filter(|v| !v.is_empty()),
                    &overrides,
                )?;
                let prompts = Prompts::load(a.prompts.as_deref())?;
                let voting = match a.voting {
                    VotingKind::Batched => Voting::Batched,
                    VotingKind::Naive => Voting::Naive,
                };
                llm_engine::engine(
                    config,
                    prompts,
                    self.reviewers,
                    voting,
                    self.max_claims.max(1),
                )
            }
        })
    }

    fn config(&self, question: String, out: PathBuf, budget: AgentBudget) -> RunConfig {
        RunConfig {
            question,
            corpora: self.corpora(),
            out_dir: out,
            policy: self.policy(),
            budget,
            ingest: IngestOptions {
                max_file_bytes: self.max_file_mib.saturating_mul(1024 * 1024),
            },
            max_claims: self.max_claims.max(1),
        }
    }
}

impl Common {
    fn store(&self) -> Result<Arc<Store>> {
        let dir = match &self.index {
            Some(d) => d.clone(),
            None => default_index_dir()?,
        };
        Ok(Arc::new(Store::open(&dir)?))
    }
}

fn default_index_dir() -> Result<PathBuf> {
    let dirs = directories::ProjectDirs::from("", "", "research")
        .context("no home folder to keep the index in; pass --index DIR")?;
    Ok(dirs.data_dir().join("index"))
}

pub async fn run(cli: Cli) -> Result<()> {
    match cli.command {
        None => research(cli.run).await,
        Some(Command::Verify(a)) => verify_cmd(a).await,
        Some(Command::Index(c)) => index_cmd(c),
        Some(Command::Eval(a)) => eval_cmd(a).await,
    }
}

async fn research(a: RunArgs) -> Result<()> {
    let Some(question) = a.question.clone() else {
        bail!("no question given: research \"your question\" [--corpus DIR] (see research --help)");
    };
    if question.trim().is_empty() {
        bail!("the question is empty: ask something, e.g. research \"How do replication slots work?\"");
    }
    let progress = Progress::new(a.panel.common.quiet);
    // research.toml's [web] table is read only when a web flag asks for the web.
    let w = &a.web;
    let file_web = if w.web || !w.sources.is_empty() || !w.search.is_empty() {
        Some(Config::load(a.panel.llm.config.as_deref())?.web)
    } else {
        None
    };
    let web_plan = w
        .resolve(file_web.as_ref(), !a.panel.corpus.is_empty(), &|k| {
            std::env::var(k).ok()
        })
        .map_err(anyhow::Error::msg)?;
    if a.panel.corpus.is_empty() && web_plan.use_corpus {
        progress
            .note("no --corpus given: using the bundled sample corpus (lithium-ion battery care)");
    }
    let budget = AgentBudget {
        max_passages: a.passages_per_agent.max(1),
        deadline: Duration::from_secs(a.agent_deadline.max(1)),
    };
    let mut cfg = a.panel.config(question, a.out.clone(), budget);
    if !web_plan.use_corpus {
        cfg.corpora = Corpora::None;
    }
    cfg.policy.validate()?;
    let store = a.panel.common.store()?;
    let engine = a.panel.engine()?;
    if a.panel.llm.dry_run {
        match pipeline::estimate(&cfg, &engine, Arc::clone(&store), &progress).await? {
            Some(e) => println!(
                "estimate: {} calls, {} input tokens, {} output tokens, ${:.4} (nothing was dispatched)",
                e.calls, e.input_tokens, e.output_tokens, e.cost_usd
            ),
            None => println!("estimate: the {} engine makes no paid calls", engine.name),
        }
        return Ok(());
    }
    let mut extra: Vec<Arc<dyn research::gather::Source>> = Vec::new();
    if let Some((opts, providers)) = web_plan.web {
        let web = research::web::WebSource::new(opts, providers, Arc::clone(&store))?;
        extra.push(Arc::new(web));
    }
    let outcome = pipeline::run_with(&cfg, &engine, store, &progress, &extra).await?;
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

async fn verify_cmd(a: VerifyArgs) -> Result<()> {
    let inputs = match (&a.claim, &a.claims) {
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
    };
    let policy = a.panel.policy();
    policy.validate()?;
    let progress = Progress::new(a.panel.common.quiet);
    let store = a.panel.common.store()?;
    let ingest = IngestOptions {
        max_file_bytes: a.panel.max_file_mib.saturating_mul(1024 * 1024),
    };
    let prepared = tokio::task::block_in_place(|| {
        pipeline::prepare(&store, &a.panel.corpora(), &ingest, &progress)
    })?;
    let retriever = Retriever::new(store, prepared.scope);
    let engine = a.panel.engine()?;
    let results = verify::verify(&inputs, &engine, &policy, &retriever).await;
    let mut out = std::io::stdout().lock();
    if a.claims.is_none() && !a.json {
        for r in &results {
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
        }
    } else {
        for r in &results {
            writeln!(out, "{}", serde_json::to_string(r)?)?;
        }
    }
    Ok(())
}

fn index_cmd(c: IndexCommand) -> Result<()> {
    match c {
        IndexCommand::Add { paths, common } => {
            let progress = Progress::new(common.quiet);
            let store = common.store()?;
            let p = pipeline::prepare(
                &store,
                &Corpora::Paths(paths),
                &IngestOptions::default(),
                &progress,
            )?;
            println!(
                "{} documents: {} indexed, {} unchanged, {} removed, {} skipped",
                p.documents,
                p.indexed,
                p.unchanged,
                p.removed,
                p.skipped.len()
            );
            for s in &p.skipped {
                println!("skipped {}: {}", s.location, s.reason);
            }
        }
        IndexCommand::Stats { common } => {
            let store = common.store()?;
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
    let store = a.panel.common.store()?;
    let engine = a.panel.engine()?;
    let base = a.panel.config(
        String::new(),
        PathBuf::from("reports"),
        AgentBudget::default(),
    );
    base.policy.validate()?;
    let json = if let Some(set) = &a.questions {
        let root = a
            .docs_root
            .clone()
            .context("--questions needs --docs-root")?;
        let s = eval::eval_questions(set, &root, &base, &engine, store, a.limit, &progress).await?;
        print!("{}", eval::format_questions(&s));
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
        std::fs::write(path, json).with_context(|| format!("cannot write {}", path.display()))?;
    }
    Ok(())
}
