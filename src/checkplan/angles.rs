//! Angles of `research check-plan`: one Markdown file each, `prompts/angles/<name>.md`, with a
//! TOML front matter between `+++` lines and a prompt body:
//!
//! ```text
//! +++
//! title = "Security"
//! keywords = ["authentication", "password", "encryption"]   # steer the offline reviewers
//! checks = ["authentication method trust allows connections without a password"]  # risks
//! +++
//! Review the plan from the security angle... (the prompt, for model-backed engines)
//! ```
//!
//! The built-in angles are compiled into the binary; a folder given with `--angles-dir` adds
//! more (a file named like a built-in one replaces it): a user adds an angle by adding a file.

use serde::{Deserialize, Serialize};
use std::collections::BTreeMap;
use std::path::{Path, PathBuf};

/// The angles shipped with the binary, in the order they are reported.
pub const BUILT_IN: &[(&str, &str)] = &[
    (
        "correctness",
        include_str!("../../prompts/angles/correctness.md"),
    ),
    (
        "performance",
        include_str!("../../prompts/angles/performance.md"),
    ),
    ("security", include_str!("../../prompts/angles/security.md")),
    (
        "operability",
        include_str!("../../prompts/angles/operability.md"),
    ),
    ("cost", include_str!("../../prompts/angles/cost.md")),
    (
        "prior-art",
        include_str!("../../prompts/angles/prior-art.md"),
    ),
];

/// One angle, ready to use.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Angle {
    /// The file name without `.md`, as given to `--angles`.
    pub name: String,
    pub title: String,
    /// Extra query words for the offline reviewers' steered retrieval.
    pub keywords: Vec<String>,
    /// Queries whose answers in the corpora are the risks this angle raises.
    pub checks: Vec<String>,
    /// The prompt body (for model-backed engines).
    pub prompt: String,
    /// Where it came from: `built-in` or the file's path.
    pub origin: String,
    /// blake3 of the whole file, for the audit.
    pub hash: String,
}

#[derive(Debug, thiserror::Error, PartialEq)]
pub enum AngleError {
    #[error("angle file {path}: {detail}")]
    Bad { path: String, detail: String },
    #[error("cannot read the angles folder {path}: {detail}")]
    Dir { path: String, detail: String },
    #[error("unknown angle {name:?}; the angles are: {known}")]
    Unknown { name: String, known: String },
    #[error("--angles names no angle")]
    Empty,
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct FrontMatter {
    title: Option<String>,
    #[serde(default)]
    keywords: Vec<String>,
    #[serde(default)]
    checks: Vec<String>,
}

/// Parse one angle file (`origin` names it in errors and in the audit).
pub fn parse(name: &str, text: &str, origin: &str) -> Result<Angle, AngleError> {
    let bad = |detail: String| AngleError::Bad {
        path: origin.to_string(),
        detail,
    };
    let text = text.strip_prefix('\u{feff}').unwrap_or(text);
    let rest = text.trim_start().strip_prefix("+++").ok_or_else(|| {
        bad("it must start with a +++ front matter (title, keywords, checks)".into())
    })?;
    let (front, body) = rest
        .split_once("\n+++")
        .ok_or_else(|| bad("the front matter is not closed by a +++ line".into()))?;
    let body = body.strip_prefix('\r').unwrap_or(body);
    let fm: FrontMatter = toml::from_str(front).map_err(|e| {
        bad(format!(
            "the front matter is not valid TOML ({})",
            crate::text::squash_whitespace(&e.to_string())
        ))
    })?;
    let keywords: Vec<String> = fm
        .keywords
        .iter()
        .map(|k| k.trim().to_string())
        .filter(|k| !k.is_empty())
        .collect();
    if keywords.is_empty() {
        return Err(bad("keywords must list at least one word".into()));
    }
    let prompt = body.trim().to_string();
    if prompt.is_empty() {
        return Err(bad("the prompt body after the front matter is empty".into()));
    }
    Ok(Angle {
        name: name.to_string(),
        title: fm
            .title
            .map(|t| t.trim().to_string())
            .filter(|t| !t.is_empty())
            .unwrap_or_else(|| name.to_string()),
        keywords,
        checks: fm
            .checks
            .iter()
            .map(|c| c.trim().to_string())
            .filter(|c| !c.is_empty())
            .collect(),
        prompt,
        origin: origin.to_string(),
        hash: blake3::hash(text.as_bytes()).to_hex().to_string(),
    })
}

/// The built-in angles, then those of `dirs` (`*.md`, sorted by name; a file named like an
/// earlier angle replaces it).
pub fn load(dirs: &[PathBuf]) -> Result<Vec<Angle>, AngleError> {
    let mut order: Vec<String> = Vec::new();
    let mut by_name: BTreeMap<String, Angle> = BTreeMap::new();
    for (name, text) in BUILT_IN {
        order.push(name.to_string());
        by_name.insert(name.to_string(), parse(name, text, "built-in")?);
    }
    for dir in dirs {
        for path in angle_files(dir)? {
            let name = path
                .file_stem()
                .map(|s| s.to_string_lossy().to_lowercase())
                .unwrap_or_default();
            let shown = path.display().to_string();
            let text = std::fs::read_to_string(&path).map_err(|e| AngleError::Bad {
                path: shown.clone(),
                detail: format!("unreadable ({e})"),
            })?;
            let angle = parse(&name, &text, &shown)?;
            if !order.contains(&name) {
                order.push(name.clone());
            }
            by_name.insert(name, angle);
        }
    }
    Ok(order
        .into_iter()
        .filter_map(|n| by_name.remove(&n))
        .collect())
}

fn angle_files(dir: &Path) -> Result<Vec<PathBuf>, AngleError> {
    let err = |e: std::io::Error| AngleError::Dir {
        path: dir.display().to_string(),
        detail: e.to_string(),
    };
    let mut out: Vec<PathBuf> = std::fs::read_dir(dir)
        .map_err(err)?
        .filter_map(Result::ok)
        .map(|e| e.path())
        .filter(|p| {
            p.is_file()
                && p.extension().is_some_and(|e| e.eq_ignore_ascii_case("md"))
                && !p
                    .file_name()
                    .is_some_and(|n| n.to_string_lossy().starts_with('.'))
        })
        .collect();
    out.sort();
    Ok(out)
}

/// The angles `--angles` names, in the order given (all of them when `names` is empty).
pub fn select(all: Vec<Angle>, names: &[String]) -> Result<Vec<Angle>, AngleError> {
    let wanted: Vec<String> = names
        .iter()
        .map(|n| n.trim().to_lowercase().replace(['_', ' '], "-"))
        .filter(|n| !n.is_empty())
        .collect();
    if wanted.is_empty() {
        if names.is_empty() {
            return Ok(all);
        }
        return Err(AngleError::Empty);
    }
    let mut out = Vec::new();
    for name in wanted {
        match all.iter().find(|a| a.name == name) {
            Some(a) if !out.iter().any(|o: &Angle| o.name == a.name) => out.push(a.clone()),
            Some(_) => {}
            None => {
                return Err(AngleError::Unknown {
                    name,
                    known: all
                        .iter()
                        .map(|a| a.name.as_str())
                        .collect::<Vec<_>>()
                        .join(", "),
                })
            }
        }
    }
    Ok(out)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn built_in_angles_parse() {
        let all = load(&[]).unwrap();
        let names: Vec<&str> = all.iter().map(|a| a.name.as_str()).collect();
        for n in [
            "security",
            "performance",
            "cost",
            "operability",
            "correctness",
            "prior-art",
        ] {
            assert!(names.contains(&n), "{names:?}");
        }
        for a in &all {
            assert!(!a.keywords.is_empty() && !a.prompt.is_empty(), "{}", a.name);
        }
    }

    #[test]
    fn a_folder_adds_and_replaces_angles() {
        let dir = tempfile::tempdir().unwrap();
        std::fs::write(
            dir.path().join("accessibility.md"),
            "+++\ntitle = \"Accessibility\"\nkeywords = [\"screen reader\"]\n+++\nCheck it.\n",
        )
        .unwrap();
        std::fs::write(
            dir.path().join("cost.md"),
            "+++\nkeywords = [\"money\"]\n+++\nMy cost angle.\n",
        )
        .unwrap();
        std::fs::write(dir.path().join("notes.txt"), "not an angle").unwrap();
        let all = load(&[dir.path().to_path_buf()]).unwrap();
        let cost = all.iter().find(|a| a.name == "cost").unwrap();
        assert_eq!(cost.keywords, vec!["money".to_string()]);
        assert_eq!(cost.title, "cost");
        assert!(all.iter().any(|a| a.name == "accessibility"));
        let picked = select(all.clone(), &["accessibility".into(), "Cost".into()]).unwrap();
        assert_eq!(picked.len(), 2);
        assert_eq!(picked[0].name, "accessibility");
        let err = select(all, &["nonsense".into()]).unwrap_err();
        assert!(err.to_string().contains("security"), "{err}");
    }

    #[test]
    fn malformed_angle_files_are_named() {
        for (text, needle) in [
            ("no front matter", "front matter"),
            ("+++\nkeywords = [\"a\"]\nno close", "not closed"),
            ("+++\nkeywords = [\n+++\nbody", "TOML"),
            ("+++\nkeywords = []\n+++\nbody", "keywords"),
            ("+++\nkeywords = [\"a\"]\n+++\n  \n", "empty"),
            ("+++\nkeywords = [\"a\"]\ncolour = 1\n+++\nbody", "TOML"),
        ] {
            let err = parse("x", text, "/p/x.md").unwrap_err().to_string();
            assert!(
                err.contains("/p/x.md") && err.contains(needle),
                "{text:?}: {err}"
            );
        }
    }
}
