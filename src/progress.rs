//! Progress on stderr for long steps: spinners while a stage works, quiet when stderr is not a
//! terminal or with --quiet; or, with `--progress json`, one JSON event a line for other tools.
//! Nothing here ever writes to stdout (stdout carries the report path).

use indicatif::{ProgressBar, ProgressDrawTarget, ProgressStyle};
use std::io::IsTerminal;
use std::time::{Duration, Instant};

#[derive(Clone, Copy, PartialEq)]
enum Mode {
    Hidden,
    Human,
    Json,
}

#[derive(Clone)]
pub struct Progress {
    mode: Mode,
    started: Instant,
    board: indicatif::MultiProgress,
}

impl Progress {
    pub fn new(quiet: bool) -> Progress {
        let mode = if !quiet && std::io::stderr().is_terminal() {
            Mode::Human
        } else {
            Mode::Hidden
        };
        Progress {
            mode,
            started: Instant::now(),
            board: indicatif::MultiProgress::with_draw_target(ProgressDrawTarget::stderr()),
        }
    }

    /// One JSON object a line on stderr: stage starts and ends, notes.
    pub fn json() -> Progress {
        Progress {
            mode: Mode::Json,
            started: Instant::now(),
            board: indicatif::MultiProgress::with_draw_target(ProgressDrawTarget::hidden()),
        }
    }

    pub fn hidden() -> Progress {
        Progress {
            mode: Mode::Hidden,
            started: Instant::now(),
            board: indicatif::MultiProgress::with_draw_target(ProgressDrawTarget::hidden()),
        }
    }

    fn event(&self, value: serde_json::Value) {
        eprintln!("{value}");
    }

    /// A spinner for one stage; finish it with [`Stage::done`].
    pub fn stage(&self, message: &str) -> Stage {
        let bar = if self.mode == Mode::Human {
            let bar = ProgressBar::with_draw_target(None, ProgressDrawTarget::stderr());
            bar.set_style(
                ProgressStyle::with_template("{spinner} {msg} [{elapsed}]")
                    .unwrap_or_else(|_| ProgressStyle::default_spinner()),
            );
            bar.enable_steady_tick(Duration::from_millis(100));
            bar
        } else {
            ProgressBar::hidden()
        };
        if self.mode == Mode::Json {
            self.event(
                serde_json::json!({"event": "stage", "state": "started", "stage": message,
                "elapsed_ms": self.started.elapsed().as_millis() as u64}),
            );
        }
        bar.set_message(message.to_string());
        Stage {
            bar,
            progress: self.clone(),
            name: message.to_string(),
        }
    }

    /// A live line for one agent (a gatherer or a reviewer): role, target, state, elapsed.
    pub fn agent(&self, role: &str, target: &str) -> Agent {
        let bar = if self.mode == Mode::Human {
            let bar = self.board.add(ProgressBar::new_spinner());
            bar.set_style(
                ProgressStyle::with_template("  {spinner} {msg} [{elapsed}]")
                    .unwrap_or_else(|_| ProgressStyle::default_spinner()),
            );
            bar.enable_steady_tick(Duration::from_millis(120));
            bar
        } else {
            ProgressBar::hidden()
        };
        bar.set_message(format!("{role} {target}: working"));
        if self.mode == Mode::Json {
            self.event(
                serde_json::json!({"event": "agent", "role": role, "target": target,
                "state": "working", "elapsed_ms": self.started.elapsed().as_millis() as u64}),
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
            Mode::Human => eprintln!("{message}"),
            Mode::Json => self.event(serde_json::json!({"event": "note", "message": message,
                "elapsed_ms": self.started.elapsed().as_millis() as u64})),
            Mode::Hidden => {}
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
                eprintln!("✓ {message}");
            }
            Mode::Json => {
                self.progress
                    .event(serde_json::json!({"event": "stage", "state": "done",
                "stage": self.name, "detail": message,
                "elapsed_ms": self.progress.started.elapsed().as_millis() as u64}))
            }
            Mode::Hidden => {}
        }
    }
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
    /// The agent finished: its final state stays on screen until the stage ends.
    pub fn done(self, state: &str) {
        let elapsed = self.started.elapsed();
        if self.progress.mode == Mode::Json {
            self.progress
                .event(serde_json::json!({"event": "agent", "role": self.role,
                "target": self.target, "state": state, "seconds": elapsed.as_secs_f64(),
                "elapsed_ms": self.progress.started.elapsed().as_millis() as u64}));
        }
        self.bar.finish_and_clear();
    }
}
