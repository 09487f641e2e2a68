//! Progress on stderr while a run works: a spinner per stage, a line per active agent (role,
//! target, state, tokens, elapsed) and a totals line (tasks done/total, tokens, cost, elapsed);
//! quiet when stderr is not a terminal or with --quiet. With `--progress json`, one JSON event a
//! line for other tools instead. Nothing here ever writes to stdout (stdout carries the report
//! path).

use crate::accounting::Accounting;
use indicatif::{MultiProgress, ProgressBar, ProgressDrawTarget, ProgressState, ProgressStyle};
use std::io::IsTerminal;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::{Arc, Mutex, OnceLock};
use std::time::{Duration, Instant};

#[derive(Clone, Copy, PartialEq)]
enum Mode {
    Hidden,
    Human,
    Json,
}

/// Where a [`Progress::events`] run's JSON events go instead of stderr.
pub type Sink = Arc<dyn Fn(&serde_json::Value) + Send + Sync>;

#[derive(Clone)]
pub struct Progress {
    mode: Mode,
    started: Instant,
    board: MultiProgress,
    live: Arc<Live>,
    sink: Option<Sink>,
}

/// Counters shared by every clone of one run's [`Progress`].
#[derive(Default)]
struct Live {
    tasks_total: AtomicUsize,
    tasks_done: AtomicUsize,
    /// What the engine has spent, when it pays for calls.
    meter: OnceLock<Arc<dyn Accounting>>,
    /// The totals line, shown while agents are at work.
    totals: Mutex<Option<ProgressBar>>,
}

impl Live {
    fn tokens_and_cost(&self) -> Option<(u64, f64)> {
        self.meter.get().map(|m| m.spent(None))
    }

    fn tokens_of(&self, role: &str) -> Option<u64> {
        self.meter.get().map(|m| m.spent(Some(role)).0)
    }

    fn totals_line(&self, elapsed: Duration) -> String {
        let mut line = format!(
            "tasks {}/{}",
            self.tasks_done.load(Ordering::Relaxed),
            self.tasks_total.load(Ordering::Relaxed)
        );
        if let Some((tokens, cost)) = self.tokens_and_cost() {
            line.push_str(&format!(" · {tokens} tokens · ${cost:.4}"));
        }
        line.push_str(&format!(" · {}s", elapsed.as_secs()));
        line
    }
}

impl Progress {
    pub fn new(quiet: bool) -> Progress {
        let mode = if !quiet && std::io::stderr().is_terminal() {
            Mode::Human
        } else {
            Mode::Hidden
        };
        let target = if mode == Mode::Human {
            ProgressDrawTarget::stderr()
        } else {
            ProgressDrawTarget::hidden()
        };
        Progress::with(mode, target)
    }

    /// One JSON object a line on stderr: stage starts and ends, agents, totals, notes.
    pub fn json() -> Progress {
        Progress::with(Mode::Json, ProgressDrawTarget::hidden())
    }

    /// The JSON events of [`Progress::json`], handed to `sink` (a server relays them to its
    /// client) rather than printed.
    pub fn events(sink: Sink) -> Progress {
        Progress {
            sink: Some(sink),
            ..Progress::with(Mode::Json, ProgressDrawTarget::hidden())
        }
    }

    pub fn hidden() -> Progress {
        Progress::with(Mode::Hidden, ProgressDrawTarget::hidden())
    }

    fn with(mode: Mode, target: ProgressDrawTarget) -> Progress {
        Progress {
            mode,
            started: Instant::now(),
            board: MultiProgress::with_draw_target(target),
            live: Arc::default(),
            sink: None,
        }
    }

    /// Show what the engine spends (tokens, cost) in the agent and totals lines.
    pub fn meter(&self, accounting: Arc<dyn Accounting>) {
        let _ = self.live.meter.set(accounting);
    }

    fn elapsed_ms(&self) -> u64 {
        self.started.elapsed().as_millis() as u64
    }

    fn event(&self, value: serde_json::Value) {
        match &self.sink {
            Some(sink) => sink(&value),
            None => eprintln!("{value}"),
        }
    }

    /// A line above the live bars (or a JSON note), so the two never garble each other.
    fn println(&self, line: &str) {
        let _ = self.board.println(line);
    }

    /// A spinner for one stage; finish it with [`Stage::done`].
    pub fn stage(&self, message: &str) -> Stage {
        let bar = if self.mode == Mode::Human {
            let style = ProgressStyle::with_template("{spinner} {msg} [{elapsed}]")
                .unwrap_or_else(|_| ProgressStyle::default_spinner());
            let bar = ProgressBar::new_spinner()
                .with_style(style)
                .with_message(message.to_string());
            let bar = self.board.add(bar);
            bar.enable_steady_tick(Duration::from_millis(100));
            bar
        } else {
            ProgressBar::hidden()
        };
        if self.mode == Mode::Json {
            self.event(
                serde_json::json!({"event": "stage", "state": "started", "stage": message,
                "elapsed_ms": self.elapsed_ms()}),
            );
        }
        Stage {
            bar,
            progress: self.clone(),
            name: message.to_string(),
        }
    }

    /// Announce `n` more agent tasks; the totals line counts them.
    pub fn expect(&self, n: usize) {
        self.live.tasks_total.fetch_add(n, Ordering::Relaxed);
        if self.mode != Mode::Human {
            return;
        }
        let mut totals = self.live.totals.lock().unwrap_or_else(|p| p.into_inner());
        if totals.is_none() {
            let live = Arc::clone(&self.live);
            let started = self.started;
            let style = ProgressStyle::with_template("  {totals}")
                .unwrap_or_else(|_| ProgressStyle::default_spinner())
                .with_key(
                    "totals",
                    move |_: &ProgressState, w: &mut dyn std::fmt::Write| {
                        let _ = w.write_str(&live.totals_line(started.elapsed()));
                    },
                );
            let bar = self.board.add(ProgressBar::new_spinner());
            bar.set_style(style);
            bar.enable_steady_tick(Duration::from_millis(250));
            *totals = Some(bar);
        }
    }

    /// A live line for one agent (a gatherer or a reviewer): role, target, state, tokens,
    /// elapsed. Count it first with [`Progress::expect`].
    pub fn agent(&self, role: &str, target: &str) -> Agent {
        let message = format!("{role} working: {target}");
        let bar = if self.mode == Mode::Human {
            let live = Arc::clone(&self.live);
            let role_of = role.to_string();
            // Elapsed and tokens first: a long target is cut at the terminal's edge, not them.
            let style = ProgressStyle::with_template("  {spinner} [{elapsed}]{tokens} {wide_msg}")
                .unwrap_or_else(|_| ProgressStyle::default_spinner())
                .with_key(
                    "tokens",
                    move |_: &ProgressState, w: &mut dyn std::fmt::Write| {
                        if let Some(t) = live.tokens_of(&role_of).filter(|t| *t > 0) {
                            let _ = write!(w, " {t} tokens");
                        }
                    },
                );
            let bar = ProgressBar::new_spinner()
                .with_style(style)
                .with_message(message.clone());
            let totals = self.live.totals.lock().unwrap_or_else(|p| p.into_inner());
            let bar = match totals.as_ref() {
                Some(totals) => self.board.insert_before(totals, bar),
                None => self.board.add(bar),
            };
            bar.enable_steady_tick(Duration::from_millis(120));
            bar
        } else {
            ProgressBar::hidden()
        };
        if self.mode == Mode::Json {
            self.event(
                serde_json::json!({"event": "agent", "role": role, "target": target,
                "state": "working", "elapsed_ms": self.elapsed_ms()}),
            );
        }
        Agent {
            bar,
            progress: self.clone(),
            role: role.to_string(),
            target: target.to_string(),
            started: Instant::now(),
        }
    }

    /// A line of information for a person watching (not shown when quiet).
    pub fn note(&self, message: &str) {
        match self.mode {
            Mode::Human => self.println(message),
            Mode::Json => self.event(serde_json::json!({"event": "note", "message": message,
                "elapsed_ms": self.elapsed_ms()})),
            Mode::Hidden => {}
        }
    }

    fn totals_event(&self) {
        let live = &self.live;
        let mut event = serde_json::json!({"event": "totals",
            "tasks_done": live.tasks_done.load(Ordering::Relaxed),
            "tasks_total": live.tasks_total.load(Ordering::Relaxed),
            "elapsed_ms": self.elapsed_ms()});
        if let Some((tokens, cost)) = live.tokens_and_cost() {
            event["tokens"] = tokens.into();
            event["cost_usd"] = cost.into();
        }
        self.event(event);
    }

    /// Take the totals line down once every announced task is done.
    fn settle(&self) {
        let live = &self.live;
        if live.tasks_done.load(Ordering::Relaxed) >= live.tasks_total.load(Ordering::Relaxed) {
            if let Some(bar) = live.totals.lock().unwrap_or_else(|p| p.into_inner()).take() {
                bar.finish_and_clear();
                self.println(&format!("  {}", live.totals_line(self.started.elapsed())));
            }
        }
    }
}

pub struct Stage {
    bar: ProgressBar,
    progress: Progress,
    name: String,
}

impl Stage {
    pub fn set(&self, message: String) {
        self.bar.set_message(message);
    }

    pub fn done(self, message: String) {
        match self.progress.mode {
            Mode::Human => {
                self.bar.finish_and_clear();
                self.progress.settle();
                self.progress.println(&format!("✓ {message}"));
            }
            Mode::Json => self.progress.event(serde_json::json!({"event": "stage",
                "state": "done", "stage": self.name, "detail": message,
                "elapsed_ms": self.progress.elapsed_ms()})),
            Mode::Hidden => {}
        }
    }
}

/// "1200 of 11690 files (10%), about 25 s left": how far a long pass over `total` items is,
/// and when it ends at the pace so far. No estimate until a few items (and a second) have gone
/// by: the first files say little about the pace.
pub fn share_and_eta(done: usize, total: usize, elapsed: Duration, what: &str) -> String {
    let total = total.max(done);
    let percent = (done * 100).checked_div(total).unwrap_or(100);
    let mut line = format!("{done} of {total} {what} ({percent}%)");
    let secs = elapsed.as_secs_f64();
    if done >= 20 && secs >= 1.0 && done < total {
        let left = secs * (total - done) as f64 / done as f64;
        line.push_str(&match left.round() as u64 {
            s if s < 60 => format!(", about {} s left", s.max(1)),
            s if s < 3600 => format!(", about {} min left", (s + 30) / 60),
            s => format!(", about {:.1} h left", s as f64 / 3600.0),
        });
    }
    line
}

/// One agent's live line.
pub struct Agent {
    bar: ProgressBar,
    progress: Progress,
    role: String,
    target: String,
    started: Instant,
}

impl Agent {
    /// The agent finished with `state` (e.g. "12 passages", "failed: ..."); its line goes.
    pub fn done(self, state: &str) {
        let elapsed = self.started.elapsed();
        let live = &self.progress.live;
        live.tasks_done.fetch_add(1, Ordering::Relaxed);
        if self.progress.mode == Mode::Json {
            let mut event = serde_json::json!({"event": "agent", "role": self.role,
                "target": self.target, "state": state, "seconds": elapsed.as_secs_f64(),
                "elapsed_ms": self.progress.elapsed_ms()});
            if let Some(tokens) = live.tokens_of(&self.role) {
                event["tokens"] = tokens.into();
            }
            self.progress.event(event);
            self.progress.totals_event();
        }
        self.bar.finish_and_clear();
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::artifact::{Estimate, Plan, Spend};

    struct Spent;

    impl Accounting for Spent {
        fn estimate(&self, _: &Plan, _: usize, _: usize, _: usize) -> Estimate {
            Estimate::default()
        }
        fn spend(&self) -> Spend {
            Spend::default()
        }
        fn spent(&self, role: Option<&str>) -> (u64, f64) {
            match role {
                None => (127, 0.5),
                Some("reviewer-1") => (42, 0.1),
                Some(_) => (0, 0.0),
            }
        }
    }

    #[test]
    fn the_totals_line_counts_tasks_tokens_and_cost() {
        let p = Progress::hidden();
        p.expect(3);
        p.agent("gather", "corpus: q").done("4 passages");
        assert_eq!(
            p.live.totals_line(Duration::from_secs(2)),
            "tasks 1/3 · 2s",
            "an engine that pays nothing shows no tokens"
        );
        p.meter(Arc::new(Spent));
        assert_eq!(
            p.live.totals_line(Duration::from_secs(2)),
            "tasks 1/3 · 127 tokens · $0.5000 · 2s"
        );
        assert_eq!(p.live.tokens_of("reviewer-1"), Some(42));
    }

    #[test]
    fn a_long_pass_shows_its_share_done_and_the_time_left() {
        let line =
            |done, total, secs| share_and_eta(done, total, Duration::from_secs_f64(secs), "files");
        assert_eq!(
            line(1200, 12000, 3.0),
            "1200 of 12000 files (10%), about 27 s left"
        );
        assert_eq!(
            line(500, 12000, 10.0),
            "500 of 12000 files (4%), about 4 min left"
        );
        assert_eq!(
            line(100, 100_000, 10.0),
            "100 of 100000 files (0%), about 2.8 h left"
        );
        // Too early to tell, or finished: no estimate.
        assert_eq!(line(10, 12000, 0.2), "10 of 12000 files (0%)");
        assert_eq!(line(300, 300, 5.0), "300 of 300 files (100%)");
        assert_eq!(line(0, 0, 0.0), "0 of 0 files (100%)");
    }
}
