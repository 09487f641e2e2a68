//! The web's command-line flags and how they combine with the `[web]` table of research.toml.
//!
//! Which sources a run uses:
//! - `--sources corpus,web` says it outright;
//! - otherwise `--web` (or `--search` given on the command line) turns the web on, and the
//!   local corpus stays on only when `--corpus` is given: `research "q" --web` searches the web
//!   alone (not the bundled sample corpus), `research "q" --web --corpus ~/notes` both;
//! - without any of these the run is corpus-only and never touches the network.

use super::search::{provider_from_spec, SearchProvider};
use super::{FetchOptions, WebFileConfig, WebOptions};
use std::time::Duration;

#[derive(
    Debug, Clone, Copy, PartialEq, Eq, clap::ValueEnum, serde::Serialize, serde::Deserialize,
)]
#[serde(rename_all = "lowercase")]
pub enum SourceKind {
    /// Local corpora (--corpus, or the bundled sample corpus).
    Corpus,
    /// Web search, fetched pages and PDFs.
    Web,
}

/// Journaled with the run as data (a missing field takes its default), so a run resumes under
/// a build whose flags were renamed.
#[derive(Debug, Clone, Default, clap::Args, serde::Serialize, serde::Deserialize)]
#[serde(default)]
pub struct WebArgs {
    /// Search the web too: shorthand for --sources web (plus corpus when --corpus is given).
    #[arg(long, help_heading = "Web", help_heading = "Web")]
    pub web: bool,
    /// Which sources to use, comma-separated: corpus, web.
    #[arg(
        long,
        help_heading = "Web",
        value_enum,
        value_delimiter = ',',
        value_name = "LIST"
    )]
    pub sources: Vec<SourceKind>,
    /// A search provider, repeatable: searxng=URL (recommended, self-hostable), brave, tavily,
    /// arxiv[=URL]. Keys come from BRAVE_API_KEY / TAVILY_API_KEY.
    #[arg(long, help_heading = "Web", value_name = "NAME[=URL]")]
    pub search: Vec<String>,
    /// Pages fetched at most in this run.
    #[arg(long, help_heading = "Web", value_name = "N")]
    pub max_pages: Option<usize>,
    #[command(flatten)]
    #[serde(flatten)]
    pub fetch: FetchArgs,
}

/// How pages are fetched: shared by every command that fetches (a run with `--web`, digest's
/// articles), each flag falling back to research.toml's `[web]` table, then to the default.
#[derive(Debug, Clone, Default, clap::Args, serde::Serialize, serde::Deserialize)]
#[serde(default)]
pub struct FetchArgs {
    /// Let fetches reach loopback and private-network addresses (never link-local or cloud
    /// metadata addresses).
    #[arg(long, help_heading = "Web")]
    pub allow_private: bool,
    /// Seconds one request may take, body included (default 20).
    #[arg(long, help_heading = "Web", value_name = "SECS")]
    pub fetch_timeout: Option<u64>,
    /// Minimum pause between two requests to one host, in milliseconds (default 500; a
    /// robots.txt Crawl-delay raises it).
    #[arg(long, help_heading = "Web", value_name = "MS")]
    pub host_delay: Option<u64>,
    /// Requests in flight to one host (default 2).
    #[arg(long, help_heading = "Web", value_name = "N")]
    pub host_concurrency: Option<usize>,
    /// Retries of a request after a timeout, a reset, 429 or 5xx (default 2).
    #[arg(long, help_heading = "Web", value_name = "N")]
    pub fetch_retries: Option<u32>,
}

impl FetchArgs {
    /// The fetch options: each flag, else the `[web]` table's setting, else the default.
    pub fn resolve(&self, file: Option<&WebFileConfig>) -> Result<FetchOptions, String> {
        let file = file.cloned().unwrap_or_default();
        let mut fetch = FetchOptions {
            allow_private: self.allow_private || file.allow_private.unwrap_or(false),
            ..FetchOptions::default()
        };
        if let Some(secs) = self.fetch_timeout.or(file.fetch_timeout_secs) {
            if secs == 0 {
                return Err("--fetch-timeout must be at least 1 second".into());
            }
            fetch.timeout = Duration::from_secs(secs);
        }
        if let Some(ms) = self.host_delay.or(file.host_delay_ms) {
            fetch.host_interval = Duration::from_millis(ms);
        }
        if let Some(n) = self.host_concurrency.or(file.host_concurrency) {
            if n == 0 {
                return Err("--host-concurrency must be at least 1".into());
            }
            fetch.host_concurrency = n;
        }
        if let Some(n) = self.fetch_retries.or(file.retries) {
            fetch.retries = n.min(10);
        }
        if let Some(mib) = file.max_page_mib {
            fetch.max_body_bytes = mib.max(1).saturating_mul(1024 * 1024);
        }
        Ok(fetch)
    }
}

/// What the flags and the file decided.
pub struct WebPlan {
    pub use_corpus: bool,
    /// Set when the web is on.
    pub web: Option<(WebOptions, Vec<Box<dyn SearchProvider>>)>,
}

impl WebArgs {
    /// Combine with the `[web]` table and the environment (for API keys).
    pub fn resolve(
        &self,
        file: Option<&WebFileConfig>,
        corpus_given: bool,
        env: &dyn Fn(&str) -> Option<String>,
    ) -> Result<WebPlan, String> {
        let file = file.cloned().unwrap_or_default();
        let (use_corpus, use_web) = if self.sources.is_empty() {
            let web = self.web || !self.search.is_empty();
            (!web || corpus_given, web)
        } else {
            (
                self.sources.contains(&SourceKind::Corpus),
                self.sources.contains(&SourceKind::Web) || self.web,
            )
        };
        if corpus_given && !use_corpus {
            return Err(
                "--corpus was given but --sources leaves the corpus out; add corpus to \
                        --sources or drop --corpus"
                    .into(),
            );
        }
        if !use_web {
            return Ok(WebPlan {
                use_corpus,
                web: None,
            });
        }
        let specs = if self.search.is_empty() {
            file.search.clone()
        } else {
            self.search.clone()
        };
        if specs.is_empty() {
            return Err(
                "the web needs a search provider: --search searxng=URL (recommended), \
                        brave (BRAVE_API_KEY), tavily (TAVILY_API_KEY) or arxiv; or a [web] \
                        search list in research.toml"
                    .into(),
            );
        }
        let providers = specs
            .iter()
            .map(|s| provider_from_spec(s, env).map_err(|e| e.to_string()))
            .collect::<Result<Vec<_>, _>>()?;
        let fetch = self.fetch.resolve(Some(&file))?;
        let mut opts = WebOptions {
            fetch,
            ..WebOptions::default()
        };
        if let Some(n) = self.max_pages.or(file.max_pages) {
            if n == 0 {
                return Err("--max-pages must be at least 1".into());
            }
            opts.max_pages = n;
        }
        // Ask each provider for as many results as the run may fetch pages.
        opts.results_per_query = opts.max_pages.min(50);
        Ok(WebPlan {
            use_corpus,
            web: Some((opts, providers)),
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn no_env(_: &str) -> Option<String> {
        None
    }

    fn args(f: impl FnOnce(&mut WebArgs)) -> WebArgs {
        let mut a = WebArgs::default();
        f(&mut a);
        a
    }

    #[test]
    fn sources_follow_what_a_user_expects() {
        let plain = WebArgs::default().resolve(None, false, &no_env).unwrap();
        assert!(plain.use_corpus && plain.web.is_none());

        let searx = |a: &mut WebArgs| a.search = vec!["searxng=http://127.0.0.1:9".into()];
        let web_only = args(|a| {
            a.web = true;
            searx(a)
        })
        .resolve(None, false, &no_env)
        .unwrap();
        assert!(!web_only.use_corpus && web_only.web.is_some());

        let both = args(|a| {
            a.web = true;
            searx(a)
        })
        .resolve(None, true, &no_env)
        .unwrap();
        assert!(both.use_corpus && both.web.is_some());

        // --sources corpus with a provider configured: no web at all.
        let corpus_only = args(|a| {
            a.sources = vec![SourceKind::Corpus];
            searx(a)
        })
        .resolve(None, false, &no_env)
        .unwrap();
        assert!(corpus_only.use_corpus && corpus_only.web.is_none());

        let err = args(|a| a.web = true)
            .resolve(None, false, &no_env)
            .err()
            .unwrap();
        assert!(err.contains("search provider"), "{err}");
        let err = args(|a| {
            a.sources = vec![SourceKind::Web];
            searx(a)
        })
        .resolve(None, true, &no_env)
        .err()
        .unwrap();
        assert!(err.contains("--corpus"), "{err}");
    }

    #[test]
    fn file_settings_apply_and_flags_win() {
        let file = WebFileConfig {
            search: vec!["searxng=http://127.0.0.1:9".into()],
            allow_private: Some(true),
            max_pages: Some(7),
            fetch_timeout_secs: Some(9),
            ..WebFileConfig::default()
        };
        let plan = args(|a| {
            a.web = true;
            a.max_pages = Some(3);
        })
        .resolve(Some(&file), false, &no_env)
        .unwrap();
        let (opts, providers) = plan.web.unwrap();
        assert_eq!(providers.len(), 1);
        assert_eq!(opts.max_pages, 3);
        assert_eq!(opts.fetch.timeout, Duration::from_secs(9));
        assert!(opts.fetch.allow_private);
        let parsed: WebFileConfig =
            toml::from_str("search = [\"arxiv\"]\nmax_pages = 5\n").unwrap();
        assert_eq!(parsed.max_pages, Some(5));
        assert!(toml::from_str::<WebFileConfig>("nonsense = 1").is_err());
    }
}
