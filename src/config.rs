//! Configuration for model-backed runs: a `research.toml` file (the XDG config folder, or
//! `--config FILE`), then the environment (`OPENAI_API_KEY`, `ANTHROPIC_API_KEY`, `RESEARCH_*`),
//! then flags; later sources win. API keys are kept out of Debug output, reports and errors.

use serde::{Deserialize, Serialize};
use std::collections::BTreeMap;
use std::path::{Path, PathBuf};

#[derive(Debug, thiserror::Error)]
pub enum ConfigError {
    #[error("cannot read the config file {path}: {detail}")]
    Read { path: PathBuf, detail: String },
    #[error("the config file {path} is not valid: {detail}")]
    Parse { path: PathBuf, detail: String },
    #[error("{0}")]
    Invalid(String),
}

/// Which wire protocol a provider speaks.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum ProviderKind {
    /// OpenAI Chat Completions: OpenAI, vLLM, Ollama, llama.cpp server, OpenRouter...
    Openai,
    /// Anthropic Messages.
    Anthropic,
}

/// One provider endpoint.
#[derive(Clone, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct ProviderConfig {
    pub kind: ProviderKind,
    #[serde(default)]
    pub base_url: Option<String>,
    /// The key itself (prefer `api_key_env`).
    #[serde(default, skip_serializing)]
    pub api_key: Option<String>,
    /// The environment variable holding the key.
    #[serde(default)]
    pub api_key_env: Option<String>,
    /// Context window of this provider's models, in tokens.
    #[serde(default = "default_context")]
    pub context_window: u32,
    #[serde(default = "default_concurrency")]
    pub max_concurrency: usize,
    #[serde(default)]
    pub requests_per_minute: Option<u32>,
    #[serde(default)]
    pub tokens_per_minute: Option<u32>,
    #[serde(default = "default_timeout")]
    pub timeout_secs: u64,
    #[serde(default = "default_attempts")]
    pub max_attempts: u32,
    /// Whether the server honours `response_format: json_schema` (llama.cpp and vLLM do).
    #[serde(default = "yes")]
    pub json_schema: bool,
}

impl std::fmt::Debug for ProviderConfig {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("ProviderConfig")
            .field("kind", &self.kind)
            .field("base_url", &self.base_url)
            .field("api_key", &self.api_key.as_ref().map(|_| "<redacted>"))
            .field("api_key_env", &self.api_key_env)
            .field("context_window", &self.context_window)
            .finish_non_exhaustive()
    }
}

fn default_context() -> u32 {
    8192
}
fn default_concurrency() -> usize {
    4
}
fn default_timeout() -> u64 {
    120
}
fn default_attempts() -> u32 {
    4
}
fn yes() -> bool {
    true
}

/// Which model plays each role, as `provider/model` (e.g. `local/gemma-3-270m`,
/// `anthropic/claude-haiku-4-5`). Reviewers may be a jury of different models: the panel cycles
/// through the list.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, Default)]
#[serde(deny_unknown_fields)]
pub struct Roles {
    #[serde(default)]
    pub planner: Option<String>,
    #[serde(default)]
    pub extractor: Option<String>,
    #[serde(default)]
    pub reviewers: Vec<String>,
    #[serde(default)]
    pub writer: Option<String>,
}

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, Default)]
#[serde(deny_unknown_fields)]
pub struct BudgetConfig {
    #[serde(default)]
    pub tokens: Option<u64>,
    #[serde(default)]
    pub usd: Option<f64>,
    /// Wall time for the run's model calls.
    #[serde(default)]
    pub seconds: Option<u64>,
}

/// The whole file.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, Default)]
#[serde(deny_unknown_fields)]
pub struct Config {
    #[serde(default)]
    pub providers: BTreeMap<String, ProviderConfig>,
    #[serde(default)]
    pub roles: Roles,
    /// US dollars per million tokens, keyed by model name (the part after `provider/`).
    #[serde(default)]
    pub prices: BTreeMap<String, crate::llm::Price>,
    #[serde(default)]
    pub budget: BudgetConfig,
    /// `[web]`: search providers and fetcher limits for `--web` runs (flags override).
    #[serde(default)]
    pub web: WebFileConfig,
}

/// What flags say (None = not given).
#[derive(Debug, Clone, Default)]
pub struct Overrides {
    pub provider: Option<ProviderKind>,
    pub base_url: Option<String>,
    /// One model for every role.
    pub model: Option<String>,
    pub budget_tokens: Option<u64>,
    pub budget_usd: Option<f64>,
    pub budget_seconds: Option<u64>,
}

/// The provider name flags and environment configure.
pub const DEFAULT_PROVIDER: &str = "default";

impl Config {
    /// `--config FILE`, else `$XDG_CONFIG_HOME/research/research.toml` when it exists, else empty.
    pub fn load(explicit: Option<&Path>) -> Result<Config, ConfigError> {
        let path = match explicit {
            Some(p) => Some(p.to_path_buf()),
            None => directories::ProjectDirs::from("", "", "research")
                .map(|d| d.config_dir().join("research.toml"))
                .filter(|p| p.exists()),
        };
        let Some(path) = path else {
            return Ok(Config::default());
        };
        let text = std::fs::read_to_string(&path).map_err(|e| ConfigError::Read {
            path: path.clone(),
            detail: e.to_string(),
        })?;
        Config::parse(&text).map_err(|detail| ConfigError::Parse { path, detail })
    }

    pub fn parse(text: &str) -> Result<Config, String> {
        toml::from_str(text).map_err(|e| crate::text::squash_whitespace(&e.to_string()))
    }

    /// Apply the environment, then flags, over the file.
    pub fn resolve(
        mut self,
        env: &dyn Fn(&str) -> Option<String>,
        flags: &Overrides,
    ) -> Result<Config, ConfigError> {
        let kind = flags
            .provider
            .or_else(|| match env("RESEARCH_PROVIDER").as_deref() {
                Some("anthropic") => Some(ProviderKind::Anthropic),
                Some("openai") => Some(ProviderKind::Openai),
                _ => None,
            });
        let base_url = flags.base_url.clone().or_else(|| env("RESEARCH_BASE_URL"));
        let needs_default = kind.is_some() || base_url.is_some() || self.providers.is_empty();
        if needs_default {
            let kind = kind.unwrap_or(
                if base_url.is_none()
                    && env("ANTHROPIC_API_KEY").is_some()
                    && env("OPENAI_API_KEY").is_none()
                {
                    ProviderKind::Anthropic
                } else {
                    ProviderKind::Openai
                },
            );
            let entry = self
                .providers
                .entry(DEFAULT_PROVIDER.to_string())
                .or_insert_with(|| ProviderConfig {
                    kind,
                    base_url: None,
                    api_key: None,
                    api_key_env: None,
                    context_window: default_context(),
                    max_concurrency: default_concurrency(),
                    requests_per_minute: None,
                    tokens_per_minute: None,
                    timeout_secs: default_timeout(),
                    max_attempts: default_attempts(),
                    json_schema: true,
                });
            entry.kind = kind;
            if base_url.is_some() {
                entry.base_url = base_url;
            }
        }
        for p in self.providers.values_mut() {
            let env_key = p.api_key_env.clone().unwrap_or_else(|| {
                match p.kind {
                    ProviderKind::Openai => "OPENAI_API_KEY",
                    ProviderKind::Anthropic => "ANTHROPIC_API_KEY",
                }
                .to_string()
            });
            if let Some(k) = env(&env_key) {
                p.api_key = Some(k);
            }
            if p.base_url.is_none() {
                p.base_url = Some(match p.kind {
                    ProviderKind::Openai => {
                        env("OPENAI_BASE_URL").unwrap_or_else(|| "https://api.openai.com/v1".into())
                    }
                    ProviderKind::Anthropic => "https://api.anthropic.com/v1".into(),
                });
            }
        }
        let model = flags.model.clone().or_else(|| env("RESEARCH_MODEL"));
        if let Some(m) = model {
            let m = if m.contains('/')
                && self
                    .providers
                    .contains_key(m.split('/').next().unwrap_or(""))
            {
                m
            } else {
                format!("{DEFAULT_PROVIDER}/{m}")
            };
            self.roles = Roles {
                planner: Some(m.clone()),
                extractor: Some(m.clone()),
                reviewers: vec![m.clone()],
                writer: Some(m),
            };
        }
        if let Some(t) = flags
            .budget_tokens
            .or_else(|| env("RESEARCH_BUDGET_TOKENS").and_then(|v| v.parse().ok()))
        {
            self.budget.tokens = Some(t);
        }
        if let Some(u) = flags
            .budget_usd
            .or_else(|| env("RESEARCH_BUDGET_USD").and_then(|v| v.parse().ok()))
        {
            self.budget.usd = Some(u);
        }
        if let Some(s) = flags
            .budget_seconds
            .or_else(|| env("RESEARCH_BUDGET_SECONDS").and_then(|v| v.parse().ok()))
        {
            self.budget.seconds = Some(s);
        }
        self.validate()?;
        Ok(self)
    }

    fn validate(&self) -> Result<(), ConfigError> {
        let roles = [
            ("planner", self.roles.planner.as_ref()),
            ("extractor", self.roles.extractor.as_ref()),
            ("writer", self.roles.writer.as_ref()),
        ];
        for (role, m) in roles {
            match m {
                None => {
                    return Err(ConfigError::Invalid(format!(
                        "no model for the {role}: pass --model NAME, set RESEARCH_MODEL, or name one under [roles] in research.toml"
                    )))
                }
                Some(m) => self.split_model(m)?,
            };
        }
        if self.roles.reviewers.is_empty() {
            return Err(ConfigError::Invalid(
                "no reviewer models: pass --model NAME or list [roles] reviewers in research.toml"
                    .into(),
            ));
        }
        for m in &self.roles.reviewers {
            self.split_model(m)?;
        }
        Ok(())
    }

    /// `provider/model` -> (provider config name, model name).
    pub fn split_model<'a>(&self, spec: &'a str) -> Result<(&'a str, &'a str), ConfigError> {
        let (provider, model) = spec.split_once('/').ok_or_else(|| {
            ConfigError::Invalid(format!(
                "model {spec:?} names no provider: write it as provider/model (e.g. {DEFAULT_PROVIDER}/{spec})"
            ))
        })?;
        if !self.providers.contains_key(provider) {
            return Err(ConfigError::Invalid(format!(
                "model {spec:?} names provider {provider:?}, which is not configured under [providers]"
            )));
        }
        Ok((provider, model))
    }

    pub fn price_table(&self) -> crate::llm::PriceTable {
        crate::llm::PriceTable {
            models: self.prices.clone(),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn env_of(pairs: &[(&str, &str)]) -> impl Fn(&str) -> Option<String> {
        let map: BTreeMap<String, String> = pairs
            .iter()
            .map(|(k, v)| (k.to_string(), v.to_string()))
            .collect();
        move |k| map.get(k).cloned()
    }

    #[test]
    fn flags_beat_environment_beat_file() {
        let file = Config::parse(
            r#"
            [providers.default]
            kind = "openai"
            base_url = "http://file:1/v1"
            [roles]
            planner = "default/file-model"
            extractor = "default/file-model"
            reviewers = ["default/file-model"]
            writer = "default/file-model"
            [budget]
            tokens = 100
            "#,
        )
        .unwrap();
        let env = env_of(&[
            ("RESEARCH_BASE_URL", "http://env:2/v1"),
            ("RESEARCH_BUDGET_TOKENS", "200"),
            ("OPENAI_API_KEY", "sk-secret"),
        ]);
        let c = file.clone().resolve(&env, &Overrides::default()).unwrap();
        assert_eq!(
            c.providers["default"].base_url.as_deref(),
            Some("http://env:2/v1")
        );
        assert_eq!(c.budget.tokens, Some(200));
        assert_eq!(c.roles.planner.as_deref(), Some("default/file-model"));
        let flags = Overrides {
            base_url: Some("http://flag:3/v1".into()),
            model: Some("flag-model".into()),
            budget_tokens: Some(300),
            ..Overrides::default()
        };
        let c = file.resolve(&env, &flags).unwrap();
        assert_eq!(
            c.providers["default"].base_url.as_deref(),
            Some("http://flag:3/v1")
        );
        assert_eq!(c.budget.tokens, Some(300));
        assert_eq!(c.roles.reviewers, ["default/flag-model"]);
        // The key is used but never shown.
        assert_eq!(c.providers["default"].api_key.as_deref(), Some("sk-secret"));
        assert!(!format!("{c:?}").contains("sk-secret"));
        assert!(!toml::to_string(&c).unwrap().contains("sk-secret"));
    }

    #[test]
    fn missing_models_and_unknown_fields_are_clear_errors() {
        let err = Config::default()
            .resolve(&env_of(&[]), &Overrides::default())
            .unwrap_err();
        assert!(err.to_string().contains("--model"), "{err}");
        assert!(Config::parse("[roles]\nplaner = \"x\"").is_err());
        let c = Config::parse("[roles]\nplanner = \"nowhere/m\"\nextractor = \"nowhere/m\"\nwriter = \"nowhere/m\"\nreviewers = [\"nowhere/m\"]").unwrap();
        let err = c.resolve(&env_of(&[]), &Overrides::default()).unwrap_err();
        assert!(err.to_string().contains("nowhere"), "{err}");
    }
}

/// The `[web]` table of research.toml. Flags override it.
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct WebFileConfig {
    /// Search providers as on the command line: `searxng=URL`, `brave`, `tavily`, `arxiv`.
    #[serde(default)]
    pub search: Vec<String>,
    #[serde(default)]
    pub allow_private: Option<bool>,
    #[serde(default)]
    pub max_pages: Option<usize>,
    #[serde(default)]
    pub fetch_timeout_secs: Option<u64>,
    #[serde(default)]
    pub host_delay_ms: Option<u64>,
    #[serde(default)]
    pub host_concurrency: Option<usize>,
    #[serde(default)]
    pub retries: Option<u32>,
    #[serde(default)]
    pub max_page_mib: Option<u64>,
}
