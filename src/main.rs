//! The `research` binary: parse arguments, run the command, turn any error into one line on
//! stderr and a non-zero exit.

mod cli;

use clap::Parser;
use std::process::ExitCode;

fn main() -> ExitCode {
    // Past a file-size limit (ulimit -f) writes should fail with an error we can report, not
    // kill the process mid-write.
    // SAFETY: setting a signal's disposition to SIG_IGN has no memory-safety preconditions.
    unsafe {
        libc::signal(libc::SIGXFSZ, libc::SIG_IGN);
    }
    let args = match cli::Cli::try_parse() {
        Ok(a) => a,
        // --help and --version print as clap formats them; usage errors become one line.
        Err(e) if !e.use_stderr() => {
            let _ = e.print();
            return ExitCode::SUCCESS;
        }
        Err(e) => {
            let text = e.to_string();
            let first = text
                .lines()
                .find(|l| !l.trim().is_empty())
                .unwrap_or("invalid arguments")
                .trim_start_matches("error: ");
            eprintln!("research: error: {first} (see research --help)");
            return ExitCode::from(2);
        }
    };
    let runtime = match tokio::runtime::Builder::new_multi_thread()
        .enable_all()
        .build()
    {
        Ok(rt) => rt,
        Err(e) => {
            eprintln!("research: error: cannot start the async runtime: {e}");
            return ExitCode::FAILURE;
        }
    };
    match runtime.block_on(cli::run(args)) {
        Ok(()) => ExitCode::SUCCESS,
        Err(e) => {
            let interrupted = e
                .downcast_ref::<research::pipeline::RunError>()
                .is_some_and(|r| matches!(r, research::pipeline::RunError::Interrupted(_)));
            let message = format!("{e:#}");
            eprintln!(
                "research: error: {}",
                research::text::squash_whitespace(&message)
            );
            // 130: stopped by Ctrl-C, as shells report it.
            if interrupted {
                ExitCode::from(130)
            } else {
                ExitCode::FAILURE
            }
        }
    }
}
