//! The LLM engine: the same roles as the offline engine, played by models over
//! OpenAI-compatible or Anthropic APIs, under a budget that holds.

pub mod caller;
pub mod prompts;
pub mod roles;

pub use caller::Caller;
pub use prompts::{Prompts, Rendered};
pub use roles::{LlmExtractor, LlmPlanner, LlmReviewer, LlmWriter, Voting};

use crate::config::Config;
use crate::engine::{Engine, Notes, Reviewer};
use std::sync::Arc;

/// Build the engine: `reviewers` panel members (the last of every four a skeptic, at least
/// one), cycling through the configured reviewer models so a jury of different models judges.
pub fn engine(
    config: Config,
    prompts: Prompts,
    reviewers: usize,
    voting: Voting,
    max_claims: usize,
    journal: Option<Arc<crate::journal::RunJournal>>,
) -> Engine {
    let notes = Notes::default();
    let roles = config.roles.clone();
    let hashes = prompts.hashes();
    let caller = Arc::new(Caller::new(config, prompts, notes.clone(), journal));
    let n = reviewers.max(3);
    let skeptics = (n / 4).max(1);
    let jury = if roles.reviewers.is_empty() {
        vec![String::new()]
    } else {
        roles.reviewers.clone()
    };
    let panel: Vec<Box<dyn Reviewer>> = (0..n)
        .map(|i| {
            let skeptic = i >= n - skeptics;
            let index = if skeptic { i - (n - skeptics) } else { i };
            let model = jury[i % jury.len()].clone();
            Box::new(LlmReviewer::new(
                Arc::clone(&caller),
                index,
                skeptic,
                model,
                voting,
            )) as Box<dyn Reviewer>
        })
        .collect();
    Engine {
        name: "llm".into(),
        planner: Box::new(LlmPlanner {
            caller: Arc::clone(&caller),
            model: roles.planner.clone().unwrap_or_default(),
        }),
        extractor: Box::new(LlmExtractor {
            caller: Arc::clone(&caller),
            model: roles.extractor.clone().unwrap_or_default(),
            max_claims,
        }),
        reviewers: panel,
        writer: Box::new(LlmWriter {
            caller: Arc::clone(&caller),
            model: roles.writer.clone().unwrap_or_default(),
        }),
        notes,
        accounting: Some(caller),
        prompt_hashes: hashes,
        meaning: None,
    }
}
