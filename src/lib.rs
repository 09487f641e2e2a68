//! `research`: deep research with adversarial voting. The crate follows the pipeline:
//! question -> [`plan`] -> [`gather`] (from the [`index`], fed by [`ingest`]) -> [`claims`] ->
//! [`review`] -> [`report`], driven by an [`engine`] through role traits.

pub mod accounting;
pub mod artifact;
pub mod bundled;
pub mod checkplan;
pub mod claims;
pub mod config;
pub mod digest;
pub mod engine;
pub mod eval;
pub mod gather;
pub mod index;
pub mod ingest;
pub mod journal;
pub mod llm;
pub mod pipeline;
pub mod plan;
pub mod policy;
pub mod progress;
pub mod quote;
pub mod relevance;
pub mod report;
pub mod retrieval;
pub mod review;
pub mod sqlite;
pub mod text;
pub mod verifier;
pub mod verify;
pub mod web;
