//! Progress on stderr for long steps: spinners while a stage works, quiet when stderr is not a
//! terminal or with --quiet. Nothing here ever writes to stdout (stdout carries the report path).

use indicatif::{ProgressBar, ProgressDrawTarget, ProgressStyle};
use std::io::IsTerminal;
use std::time::Duration;

#[derive(Clone)]
pub struct Progress {
    enabled: bool,
}

impl Progress {
    pub fn new(quiet: bool) -> Progress {
        Progress {
            enabled: !quiet && std::io::stderr().is_terminal(),
        }
    }

    pub fn hidden() -> Progress {
        Progress { enabled: false }
    }

    /// A spinner for one stage; finish it with [`Stage::done`].
    pub fn stage(&self, message: &str) -> Stage {
        let bar = if self.enabled {
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
        bar.set_message(message.to_string());
        Stage { bar }
    }

    /// A line of information for a person watching (not shown when quiet).
    pub fn note(&self, message: &str) {
        if self.enabled {
            eprintln!("{message}");
        }
    }
}

pub struct Stage {
    bar: ProgressBar,
}

impl Stage {
    pub fn set(&self, message: String) {
        self.bar.set_message(message);
    }

    pub fn done(self, message: String) {
        if self.bar.is_hidden() {
            return;
        }
        self.bar.finish_and_clear();
        eprintln!("✓ {message}");
    }
}
