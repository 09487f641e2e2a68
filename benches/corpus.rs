//! How `research` scales with the corpus: the PostgreSQL 15 manual copied 1, 10 and 100 times
//! (every page made distinct), indexed cold and then queried warm, with wall time and peak RSS
//! per child process (`wait4`), beside ripgrep reading the same files.
//!
//! `cargo bench --bench corpus`. `RESEARCH_BENCH_SCALES=1,10,100` chooses the copies (default
//! 1,10); `RESEARCH_BENCH_BEFORE=/path/to/research` measures another build side by side, row by
//! row (`RESEARCH_BENCH_AFTER` names the other side instead of this checkout's build);
//! `RESEARCH_BENCH_RUNS=N` sets runs per row at scales up to 10 (larger scales run once).

#[cfg(target_os = "linux")]
fn main() {
    if let Err(message) = bench::run() {
        eprintln!("corpus bench: {message}");
        std::process::exit(1);
    }
}

#[cfg(not(target_os = "linux"))]
fn main() {
    eprintln!("corpus bench: Linux only (peak RSS comes from wait4's ru_maxrss in KiB)");
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
    use std::time::Duration;
    use tempfile::TempDir;

    const CORPUS: &str = "/usr/share/doc/postgresql-doc-15/html";
    const QUESTION: &str = "How do replication slots work in PostgreSQL streaming replication?";

    #[derive(Clone, Copy)]
    struct Figures {
        secs: f64,
        rss_mib: f64,
    }

    /// Median wall time, largest peak RSS.
    fn summarize(samples: &[Sample]) -> Figures {
        let mut s: Vec<f64> = samples.iter().map(|x| x.wall.as_secs_f64()).collect();
        s.sort_by(f64::total_cmp);
        let n = s.len();
        let secs = if n % 2 == 1 {
            s[n / 2]
        } else {
            (s[n / 2 - 1] + s[n / 2]) / 2.0
        };
        let kib = samples.iter().map(|x| x.max_rss_kib).max().unwrap_or(0);
        Figures {
            secs,
            rss_mib: kib as f64 / 1024.0,
        }
    }

    pub fn run() -> Result<(), String> {
        let scales = scales()?;
        let runs = runs()?;
        if !Path::new(CORPUS).is_dir() {
            return Err(format!(
                "the corpus {CORPUS} is missing: install the Debian package `postgresql-doc-15`"
            ));
        }
        let rg = find_on_path("rg").ok_or("ripgrep (rg) is missing: apt-get install ripgrep")?;
        let mut binaries = vec![("after", find_research()?)];
        if let Ok(before) = std::env::var("RESEARCH_BENCH_BEFORE") {
            let before = PathBuf::from(before);
            if !before.is_file() {
                return Err(format!(
                    "RESEARCH_BENCH_BEFORE={}: no such file",
                    before.display()
                ));
            }
            binaries.insert(0, ("before", before));
        }
        println!("research corpus-scaling benchmark");
        println!(
            "machine:  nproc {}, load average {}",
            std::thread::available_parallelism().map_or(0, |n| n.get()),
            load_average()
        );
        for (name, path) in &binaries {
            println!("{name}:{:>7}{}", "", path.display());
        }
        println!("question: {QUESTION}");
        println!();
        println!(
            "{:>5} {:>7} {:>9} {:>7} | {:>6} {:>8} {:>8} {:>8} | {:>7} {:>8}",
            "scale",
            "pages",
            "MB",
            "rg MB/s",
            "build",
            "add s",
            "add MiB",
            "add MB/s",
            "warm s",
            "warm MiB"
        );
        for scale in scales {
            let scratch = TempDir::new().map_err(|e| format!("cannot create a temp dir: {e}"))?;
            let corpus = scratch.path().join("corpus");
            let (pages, bytes) = generate(&corpus, scale)?;
            // Files modified within the last 2 s are read again by design (an edit in the
            // same clock tick keeps the mtime): let the copies age past that first.
            std::thread::sleep(Duration::from_millis(2_100));
            let n = if scale > 10 { 1 } else { runs };
            let mut rg_samples = Vec::new();
            for _ in 0..n {
                let mut cmd = Command::new(&rg);
                cmd.args(["-uuu", "--count-matches", "-e", "the"])
                    .arg(&corpus);
                rg_samples.push(measure(cmd, &scratch.path().join("rg.out"), &[0, 1])?);
            }
            let rg = summarize(&rg_samples);
            let mb = bytes as f64 / 1e6;
            for (name, research) in &binaries {
                let mut add = Vec::new();
                let mut warm = Vec::new();
                let mut summary = String::new();
                for i in 0..n {
                    let index = scratch.path().join(format!("index-{name}-{i}"));
                    let out = scratch.path().join("add.out");
                    let mut cmd = Command::new(research);
                    cmd.args(["index", "add"])
                        .arg(&corpus)
                        .arg("--index")
                        .arg(&index)
                        .arg("--quiet");
                    add.push(measure(cmd, &out, &[0])?);
                    summary = std::fs::read_to_string(&out)
                        .unwrap_or_default()
                        .lines()
                        .next()
                        .unwrap_or_default()
                        .to_string();
                    let reports = scratch.path().join(format!("reports-{name}-{i}"));
                    let mut cmd = Command::new(research);
                    cmd.arg(QUESTION)
                        .arg("--corpus")
                        .arg(&corpus)
                        .arg("--index")
                        .arg(&index)
                        .arg("--out")
                        .arg(&reports)
                        .arg("--quiet");
                    warm.push(measure(cmd, &scratch.path().join("warm.out"), &[0])?);
                    let _ = std::fs::remove_dir_all(&index);
                }
                let (a, w) = (summarize(&add), summarize(&warm));
                println!(
                    "{:>4}x {:>7} {:>9.1} {:>7.0} | {:>6} {:>8.2} {:>8.1} {:>8.1} | {:>7.3} {:>8.1}",
                    scale,
                    pages,
                    mb,
                    mb / rg.secs,
                    name,
                    a.secs,
                    a.rss_mib,
                    mb / a.secs,
                    w.secs,
                    w.rss_mib
                );
                println!("       {name} index add: {summary}");
            }
        }
        println!();
        println!(
            "add = `research index add` into a fresh index; warm = a question run on that index \
             right after; median of the runs, peak RSS the largest; MB = 10^6 bytes of corpus; \
             load average after: {}",
            load_average()
        );
        Ok(())
    }

    /// `scale` copies of the manual under `dir`, each page made distinct (its title numbered).
    /// Returns the pages and bytes written.
    fn generate(dir: &Path, scale: usize) -> Result<(usize, u64), String> {
        let mut sources = Vec::new();
        for entry in std::fs::read_dir(CORPUS).map_err(|e| format!("cannot list {CORPUS}: {e}"))? {
            let path = entry
                .map_err(|e| format!("cannot list {CORPUS}: {e}"))?
                .path();
            if path.is_file() {
                let bytes = std::fs::read(&path)
                    .map_err(|e| format!("cannot read {}: {e}", path.display()))?;
                sources.push((path.file_name().unwrap_or_default().to_owned(), bytes));
            }
        }
        let (mut pages, mut total) = (0, 0u64);
        for copy in 0..scale {
            let out = dir.join(format!("copy-{copy:03}"));
            std::fs::create_dir_all(&out)
                .map_err(|e| format!("cannot create {}: {e}", out.display()))?;
            let mark = format!("<title>[{copy}] ");
            for (name, bytes) in &sources {
                let is_html = Path::new(name).extension().is_some_and(|x| x == "html");
                let body = if is_html {
                    pages += 1;
                    replace_once(bytes, b"<title>", mark.as_bytes())
                } else {
                    bytes.clone()
                };
                total += body.len() as u64;
                std::fs::write(out.join(name), body)
                    .map_err(|e| format!("cannot write into {}: {e}", out.display()))?;
            }
        }
        Ok((pages, total))
    }

    fn replace_once(bytes: &[u8], from: &[u8], to: &[u8]) -> Vec<u8> {
        match bytes.windows(from.len()).position(|w| w == from) {
            Some(at) => [&bytes[..at], to, &bytes[at + from.len()..]].concat(),
            // No title: a comment still makes the page's bytes distinct.
            None => [to, bytes].concat(),
        }
    }

    fn scales() -> Result<Vec<usize>, String> {
        let v = std::env::var("RESEARCH_BENCH_SCALES").unwrap_or_else(|_| "1,10".into());
        v.split(',')
            .map(|s| match s.trim().parse::<usize>() {
                Ok(n) if n >= 1 => Ok(n),
                _ => Err(format!(
                    "RESEARCH_BENCH_SCALES={v:?}: give whole numbers of copies, e.g. 1,10,100"
                )),
            })
            .collect()
    }

    fn runs() -> Result<usize, String> {
        match std::env::var("RESEARCH_BENCH_RUNS") {
            Err(_) => Ok(3),
            Ok(v) => match v.trim().parse::<usize>() {
                Ok(n) if n >= 1 => Ok(n),
                _ => Err(format!(
                    "RESEARCH_BENCH_RUNS={v:?}: give a whole number of runs, at least 1"
                )),
            },
        }
    }

    fn find_on_path(name: &str) -> Option<PathBuf> {
        let path = std::env::var_os("PATH")?;
        std::env::split_paths(&path)
            .map(|d| d.join(name))
            .find(|p| p.is_file())
    }

    /// The release `research` binary beside this bench (cargo bench builds it).
    fn find_research() -> Result<PathBuf, String> {
        // Another build than this checkout's (one kept aside while the checkout moves on).
        if let Ok(p) = std::env::var("RESEARCH_BENCH_AFTER") {
            return if Path::new(&p).is_file() {
                Ok(PathBuf::from(p))
            } else {
                Err(format!("RESEARCH_BENCH_AFTER={p}: no such file"))
            };
        }
        if let Some(p) = option_env!("CARGO_BIN_EXE_research") {
            if Path::new(p).is_file() {
                return Ok(PathBuf::from(p));
            }
        }
        std::env::current_exe()
            .ok()
            .and_then(|exe| {
                exe.ancestors()
                    .skip(1)
                    .take(3)
                    .map(|d| d.join("research"))
                    .find(|p| p.is_file())
            })
            .ok_or_else(|| "no research binary found: run cargo build --release first".into())
    }
}
