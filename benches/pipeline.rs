//! Speed and memory of the `research` binary on a real manual, side by side with ripgrep.
//!
//! `cargo bench --bench pipeline` runs every row as a child process (the release binary, as a
//! user would run it) and measures wall time and peak RSS per child with `wait4`. The corpus is
//! the PostgreSQL 15 HTML manual from Debian's `postgresql-doc-15`; the baseline is Debian's
//! `ripgrep` reading the same files in full. `RESEARCH_BENCH_RUNS` sets the runs per row.

#[cfg(target_os = "linux")]
fn main() {
    if let Err(message) = bench::run() {
        eprintln!("pipeline bench: {message}");
        std::process::exit(1);
    }
}

// ru_maxrss is KiB only on Linux (bytes on macOS) and wait4 is not on Windows: say so rather
// than print figures in the wrong unit.
#[cfg(not(target_os = "linux"))]
fn main() {
    eprintln!("pipeline bench: Linux only (peak RSS comes from wait4's ru_maxrss in KiB)");
    std::process::exit(1);
}

#[cfg(target_os = "linux")]
#[path = "support/child.rs"]
mod child;

#[cfg(target_os = "linux")]
mod bench {
    use super::child::{load_average, measure, Sample};
    use std::path::{Path, PathBuf};
    use std::process::Command;
    use tempfile::TempDir;

    const CORPUS: &str = "/usr/share/doc/postgresql-doc-15/html";
    const CORPUS_PACKAGE: &str = "postgresql-doc-15";
    const RG: &str = "/usr/bin/rg";
    const QUESTION: &str = "How do replication slots work in PostgreSQL streaming replication?";
    const DEFAULT_RUNS: usize = 3;

    struct Row {
        name: &'static str,
        samples: Vec<Sample>,
    }

    impl Row {
        fn median_secs(&self) -> f64 {
            let mut s: Vec<f64> = self.samples.iter().map(|x| x.wall.as_secs_f64()).collect();
            s.sort_by(f64::total_cmp);
            let n = s.len();
            if n % 2 == 1 {
                s[n / 2]
            } else {
                (s[n / 2 - 1] + s[n / 2]) / 2.0
            }
        }

        fn peak_rss_mib(&self) -> f64 {
            let kib = self
                .samples
                .iter()
                .map(|x| x.max_rss_kib)
                .max()
                .unwrap_or(0);
            kib as f64 / 1024.0
        }
    }

    struct Corpus {
        dir: PathBuf,
        files: usize,
        html: usize,
        bytes: u64,
    }

    pub fn run() -> Result<(), String> {
        let runs = runs()?;
        let dir = Path::new(CORPUS);
        if !dir.is_dir() {
            return Err(format!(
                "the corpus {CORPUS} is missing: install the Debian package `{CORPUS_PACKAGE}` \
                 (apt-get install {CORPUS_PACKAGE})"
            ));
        }
        let rg = find_rg()?;
        let research = find_research()?;
        // Every row then reads from memory, so the rg row is not the only one paying for disk.
        let corpus = warm_up(dir)?;
        if corpus.html == 0 {
            return Err(format!(
                "{CORPUS} holds no .html files; reinstall `{CORPUS_PACKAGE}`"
            ));
        }

        print_header(&corpus, &rg, &research, runs);
        let load_before = load_average();

        let scratch = TempDir::new().map_err(|e| format!("cannot create a temp dir: {e}"))?;
        let mut rows = Vec::new();
        let mut notes = Vec::new();

        // 1. Baseline: every byte read and scanned, nothing else.
        let mut samples = Vec::new();
        for _ in 0..runs {
            // Output goes to a file, not /dev/null: some greps stop at the first match when
            // they see /dev/null, which would make the baseline read less than all files.
            let out = scratch.path().join("rg.out");
            let mut cmd = Command::new(&rg);
            cmd.args(["-uuu", "--count-matches", "-e", "the"])
                .arg(&corpus.dir);
            // rg exits 1 when nothing matched; that is still a full read.
            samples.push(measure(cmd, &out, &[0, 1])?);
        }
        rows.push(Row {
            name: "rg baseline",
            samples,
        });

        // 2. Cold ingest+index: a fresh index each run. The last one is kept for row 3.
        let mut samples = Vec::new();
        let mut warm_index: Option<TempDir> = None;
        for _ in 0..runs {
            let index = TempDir::new().map_err(|e| format!("cannot create a temp dir: {e}"))?;
            let out = scratch.path().join("index-add.out");
            let mut cmd = Command::new(&research);
            cmd.args(["index", "add"])
                .arg(&corpus.dir)
                .arg("--index")
                .arg(index.path())
                .arg("--quiet");
            samples.push(measure(cmd, &out, &[0])?);
            let summary = std::fs::read_to_string(&out).unwrap_or_default();
            if let Some(line) = summary.lines().next() {
                notes.push(format!("index add: {line}"));
            }
            warm_index = Some(index);
        }
        notes.dedup();
        rows.push(Row {
            name: "cold ingest+index",
            samples,
        });
        let warm_index = warm_index.ok_or("no runs, so no index for the warm row")?;

        // 3. Warm runs: the index already holds every file, so these are unchanged-file
        // detection plus plan/gather/claims/review/report: one pass, the default two rounds,
        // and the default with the verifier model judging (when it is installed).
        let warm_rows: [(&'static str, &[&str]); 3] = [
            ("warm run, --depth 1", &["--depth", "1"]),
            ("warm run (default depth 2)", &[]),
            ("warm run, --verifier", &["--verifier"]),
        ];
        for (r, (name, extra)) in warm_rows.into_iter().enumerate() {
            let mut samples = Vec::new();
            for i in 0..runs {
                let out_dir = scratch.path().join(format!("warm-reports-{r}-{i}"));
                let (sample, stats) = research_run(
                    &research,
                    &corpus.dir,
                    warm_index.path(),
                    &out_dir,
                    scratch.path(),
                    extra,
                )?;
                samples.push(sample);
                if i == 0 {
                    notes.push(format!("{name}: {}", describe(&stats)));
                    if stats.as_ref().is_some_and(|s| s.indexed != 0) {
                        notes.push(format!(
                            "WARNING: {name} re-indexed documents; it is not measuring a fully \
                             warm index"
                        ));
                    }
                    if stats.as_ref().is_some_and(|s| s.lexical) && extra.contains(&"--verifier") {
                        notes.push(format!(
                            "WARNING: {name} judged lexically: the verifier is not installed \
                             (research models install)"
                        ));
                    }
                }
            }
            rows.push(Row { name, samples });
        }

        // 4. Cold full run: ingest + index + report in one process.
        let mut samples = Vec::new();
        for i in 0..runs {
            let index = TempDir::new().map_err(|e| format!("cannot create a temp dir: {e}"))?;
            let out_dir = scratch.path().join(format!("cold-reports-{i}"));
            let (sample, stats) = research_run(
                &research,
                &corpus.dir,
                index.path(),
                &out_dir,
                scratch.path(),
                &[],
            )?;
            samples.push(sample);
            if i == 0 {
                notes.push(format!("cold full run: {}", describe(&stats)));
            }
        }
        rows.push(Row {
            name: "cold full run",
            samples,
        });

        print_table(&rows, &corpus);
        println!();
        for note in &notes {
            println!("{note}");
        }
        println!(
            "load average before: {load_before}; after: {}",
            load_average()
        );
        Ok(())
    }

    fn runs() -> Result<usize, String> {
        match std::env::var("RESEARCH_BENCH_RUNS") {
            Err(_) => Ok(DEFAULT_RUNS),
            Ok(v) => match v.trim().parse::<usize>() {
                Ok(n) if n >= 1 => Ok(n),
                _ => Err(format!(
                    "RESEARCH_BENCH_RUNS={v:?}: give a whole number of runs, at least 1"
                )),
            },
        }
    }

    fn find_rg() -> Result<PathBuf, String> {
        if Path::new(RG).is_file() {
            return Ok(PathBuf::from(RG));
        }
        find_on_path("rg").ok_or_else(|| {
            "ripgrep (rg) is missing: it is the baseline; install the Debian package `ripgrep` \
             (apt-get install ripgrep)"
                .to_string()
        })
    }

    fn find_on_path(name: &str) -> Option<PathBuf> {
        let path = std::env::var_os("PATH")?;
        std::env::split_paths(&path)
            .map(|d| d.join(name))
            .find(|p| p.is_file())
    }

    /// The `research` binary cargo built for this bench (bench profile = release settings).
    fn find_research() -> Result<PathBuf, String> {
        // Cargo sets this when it compiles benches of a package with a binary target.
        if let Some(p) = option_env!("CARGO_BIN_EXE_research") {
            if Path::new(p).is_file() {
                return Ok(PathBuf::from(p));
            }
        }
        // Run by hand: the bench lives in target/<profile>/deps, the binary one level up.
        if let Ok(exe) = std::env::current_exe() {
            if let Some(found) = exe
                .ancestors()
                .skip(1)
                .take(3)
                .map(|d| d.join("research"))
                .find(|p| p.is_file())
            {
                return Ok(found);
            }
        }
        let manifest_dir = Path::new(env!("CARGO_MANIFEST_DIR"));
        eprintln!("pipeline bench: no research binary found; running cargo build --release");
        let cargo = std::env::var_os("CARGO").unwrap_or_else(|| "cargo".into());
        let status = Command::new(cargo)
            .args(["build", "--release", "--bin", "research"])
            .current_dir(manifest_dir)
            .status()
            .map_err(|e| format!("cannot run cargo build --release: {e}"))?;
        if !status.success() {
            return Err(format!("cargo build --release failed ({status})"));
        }
        let target = std::env::var_os("CARGO_TARGET_DIR")
            .map(PathBuf::from)
            .unwrap_or_else(|| manifest_dir.join("target"));
        let built = target.join("release").join("research");
        if built.is_file() {
            Ok(built)
        } else {
            Err(format!(
                "cargo build --release did not leave {}",
                built.display()
            ))
        }
    }

    /// Read every file once (so timings start from a warm page cache) and count them.
    fn warm_up(dir: &Path) -> Result<Corpus, String> {
        let mut corpus = Corpus {
            dir: dir.to_path_buf(),
            files: 0,
            html: 0,
            bytes: 0,
        };
        let mut pending = vec![dir.to_path_buf()];
        while let Some(d) = pending.pop() {
            let entries =
                std::fs::read_dir(&d).map_err(|e| format!("cannot list {}: {e}", d.display()))?;
            for entry in entries {
                let path = entry
                    .map_err(|e| format!("cannot list {}: {e}", d.display()))?
                    .path();
                let meta = std::fs::metadata(&path)
                    .map_err(|e| format!("cannot stat {}: {e}", path.display()))?;
                if meta.is_dir() {
                    pending.push(path);
                } else if meta.is_file() {
                    let bytes = std::fs::read(&path)
                        .map_err(|e| format!("cannot read {}: {e}", path.display()))?;
                    corpus.files += 1;
                    corpus.bytes += bytes.len() as u64;
                    if path
                        .extension()
                        .is_some_and(|x| x.eq_ignore_ascii_case("html"))
                    {
                        corpus.html += 1;
                    }
                }
            }
        }
        Ok(corpus)
    }

    /// What a research run's audit JSON says it did.
    struct RunStats {
        documents: u64,
        indexed: u64,
        unchanged: u64,
        kept: u64,
        claims: u64,
        rounds: u64,
        /// The offline panel judged without the verifier model (its note says so).
        lexical: bool,
    }

    fn describe(stats: &Option<RunStats>) -> String {
        match stats {
            Some(s) => format!(
                "{} documents ({} indexed, {} unchanged), {} round(s), {} claims considered, {} kept",
                s.documents, s.indexed, s.unchanged, s.rounds, s.claims, s.kept
            ),
            None => "(audit JSON not found or not readable)".to_string(),
        }
    }

    fn research_run(
        research: &Path,
        corpus: &Path,
        index: &Path,
        out_dir: &Path,
        scratch: &Path,
        extra: &[&str],
    ) -> Result<(Sample, Option<RunStats>), String> {
        let stdout = scratch.join("research.out");
        let mut cmd = Command::new(research);
        cmd.arg(QUESTION)
            .arg("--corpus")
            .arg(corpus)
            .arg("--index")
            .arg(index)
            .arg("--out")
            .arg(out_dir)
            .args(extra)
            .arg("--quiet");
        let sample = measure(cmd, &stdout, &[0])?;
        Ok((sample, audit_stats(out_dir)))
    }

    /// The stats block of the one audit JSON the run wrote into its fresh `--out` folder.
    fn audit_stats(out_dir: &Path) -> Option<RunStats> {
        let json = std::fs::read_dir(out_dir)
            .ok()?
            .filter_map(Result::ok)
            .map(|e| e.path())
            .find(|p| p.extension().is_some_and(|x| x == "json"))?;
        let value: serde_json::Value =
            serde_json::from_str(&std::fs::read_to_string(json).ok()?).ok()?;
        let stats = value.get("stats")?;
        let n = |k: &str| stats.get(k).and_then(serde_json::Value::as_u64);
        Some(RunStats {
            documents: n("documents")?,
            indexed: n("documents_indexed")?,
            unchanged: n("documents_unchanged")?,
            kept: n("kept")?,
            claims: n("claims_considered")?,
            rounds: 1 + value
                .get("trail")
                .and_then(serde_json::Value::as_array)
                .map_or(0, |t| t.len() as u64),
            lexical: value
                .get("notes")
                .and_then(serde_json::Value::as_array)
                .is_some_and(|n| {
                    n.iter()
                        .any(|n| n.as_str().is_some_and(|n| n.contains("lexical")))
                }),
        })
    }

    fn print_header(corpus: &Corpus, rg: &Path, research: &Path, runs: usize) {
        let cores = std::thread::available_parallelism().map_or(0, |n| n.get());
        let cpu = std::fs::read_to_string("/proc/cpuinfo")
            .ok()
            .and_then(|s| {
                s.lines()
                    .find(|l| l.starts_with("model name"))
                    .and_then(|l| l.split_once(':'))
                    .map(|(_, v)| v.trim().to_string())
            })
            .unwrap_or_else(|| "unknown CPU".to_string());
        let rg_version = Command::new(rg)
            .arg("--version")
            .output()
            .ok()
            .and_then(|o| {
                String::from_utf8_lossy(&o.stdout)
                    .lines()
                    .next()
                    .map(str::to_string)
            })
            .unwrap_or_else(|| "version unknown".to_string());
        println!("research pipeline benchmark");
        println!("machine:  nproc {cores}, {cpu}");
        println!(
            "corpus:   {} ({} files, {} of them .html docs, {} bytes = {:.1} MiB)",
            corpus.dir.display(),
            corpus.files,
            corpus.html,
            corpus.bytes,
            corpus.bytes as f64 / (1024.0 * 1024.0)
        );
        println!("baseline: {} ({rg_version})", rg.display());
        println!("binary:   {}", research.display());
        println!("question: {QUESTION}");
        println!(
            "method:   page cache warmed first (every corpus file read once); {runs} run(s) per row \
             (RESEARCH_BENCH_RUNS); median wall time; peak RSS = largest ru_maxrss of the runs; \
             MB = 10^6 bytes of corpus input"
        );
        println!();
    }

    fn print_table(rows: &[Row], corpus: &Corpus) {
        let base = rows.first().map_or(0.0, Row::median_secs);
        println!(
            "{:<28} {:>9} {:>10} {:>9} {:>8} {:>13}",
            "row", "median s", "vs rg", "docs/s", "MB/s", "peak RSS MiB"
        );
        for row in rows {
            let secs = row.median_secs();
            let ratio = if base > 0.0 {
                format!("{:.1}x rg", secs / base)
            } else {
                "n/a".to_string()
            };
            let per_sec = |x: f64| if secs > 0.0 { x / secs } else { 0.0 };
            println!(
                "{:<28} {:>9.3} {:>10} {:>9.0} {:>8.1} {:>13.1}",
                row.name,
                secs,
                ratio,
                per_sec(corpus.html as f64),
                per_sec(corpus.bytes as f64 / 1e6),
                row.peak_rss_mib()
            );
        }
        println!();
        for row in rows {
            let all: Vec<String> = row
                .samples
                .iter()
                .map(|s| format!("{:.3}", s.wall.as_secs_f64()))
                .collect();
            println!("{:<28} runs (s): {}", row.name, all.join(" "));
        }
    }
}
