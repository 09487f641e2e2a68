//! The `research` binary: parse arguments, run the command, turn any error into one line on
//! stderr and a non-zero exit.

mod cli;
mod mcp;

use clap::Parser;
use std::process::ExitCode;

fn main() -> ExitCode {
    // Past a file-size limit (ulimit -f) writes should fail with an error we can report, not
    // kill the process mid-write.
    // SAFETY: setting a signal's disposition to SIG_IGN has no memory-safety preconditions.
    unsafe {
        libc::signal(libc::SIGXFSZ, libc::SIG_IGN);
    }
    // glibc gives threads malloc arenas of their own and seldom returns freed memory: documents
    // made on extraction threads and freed on the index writer's would otherwise grow the heap
    // with the corpus. Two arenas keep ingest memory flat at no measurable cost in speed.
    // A fixed mmap threshold: by default glibc raises it each time a big block is freed, after
    // which the index writer's and merges' big buffers come from the heap and stay there once
    // freed, so peak memory grew with the number of segments written (1.4x to 1.6x from the
    // 1x to the 10x bench corpus; 1.2x with it fixed).
    // SAFETY: mallopt only tunes the allocator; it is called before any other thread exists.
    #[cfg(all(target_os = "linux", target_env = "gnu"))]
    unsafe {
        libc::mallopt(libc::M_ARENA_MAX, 2);
        libc::mallopt(libc::M_MMAP_THRESHOLD, 256 * 1024);
    }
    let args = match cli::Cli::try_parse() {
        Ok(a) => a,
        // --help and --version print as clap formats them; usage errors become one line.
        Err(e) if !e.use_stderr() => {
            let _ = e.print();
            return ExitCode::SUCCESS;
        }
        Err(e) => {
            // args_os: a first argument that is not UTF-8 must not panic here.
            let first = std::env::args_os()
                .nth(1)
                .map(|a| a.to_string_lossy().into_owned())
                .unwrap_or_default();
            match near_command(&first) {
                Some(meant) => eprintln!(
                    "research: error: unknown command '{first}'; did you mean '{meant}'? (see research --help)"
                ),
                None => {
                    let words: Vec<String> = std::env::args_os()
                        .skip(1)
                        .take(2)
                        .map(|a| a.to_string_lossy().into_owned())
                        .collect();
                    eprintln!(
                        "research: error: {}",
                        usage_error(&e.to_string(), &command_of(&words))
                    )
                }
            }
            return ExitCode::from(2);
        }
    };
    // "research verfy" parses as a one-word question: run, it would research the typo.
    if let (None, Some(word)) = (&args.command, &args.run.question) {
        if let Some(meant) = near_command(word.trim()) {
            eprintln!(
                "research: error: unknown command '{}'; did you mean '{meant}'? (see research --help)",
                word.trim()
            );
            return ExitCode::from(2);
        }
    }
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

/// clap's usage error as one line: what is wrong with every detail it gives (the missing
/// arguments, a "did you mean" tip), pointing at the help of the command that was meant.
fn usage_error(text: &str, invoked: &str) -> String {
    let mut said = Vec::new();
    let mut command = invoked.to_string();
    for line in text.lines() {
        let line = line.trim();
        // clap's own pointer; ours names the command's help below.
        if line.starts_with("For more information") {
            continue;
        }
        if let Some(usage) = line.strip_prefix("Usage: ") {
            // "research verify [OPTIONS] [CLAIM]": the command path is the words before the
            // first placeholder or flag.
            command = usage
                .split_whitespace()
                .take_while(|w| !w.starts_with(['[', '<', '-']))
                .collect::<Vec<_>>()
                .join(" ");
            break;
        }
        if !line.is_empty() {
            said.push(line.trim_start_matches("error: ").to_string());
        }
    }
    // A line ending in ':' introduces the next ("...not provided: <CLAIM>"); others are
    // separate remarks ("...found; tip: ...").
    let mut message = String::new();
    for part in &said {
        if !message.is_empty() {
            message.push_str(if message.ends_with(':') { " " } else { "; " });
        }
        message.push_str(part);
    }
    if message.is_empty() {
        message = "invalid arguments".into();
    }
    format!("{message} (see {command} --help)")
}

/// The command a command line invokes, for errors clap gives without its usage line: "research
/// eval" for `research eval --json`, "research index stats" for `research index stats --index`.
fn command_of(args: &[String]) -> String {
    let mut command = String::from("research");
    if let Some(first) = args.first().filter(|a| COMMANDS.contains(&a.as_str())) {
        command.push(' ');
        command.push_str(first);
        if let Some(second) = args
            .get(1)
            .filter(|a| !a.starts_with('-') && ["index", "models"].contains(&first.as_str()))
        {
            command.push(' ');
            command.push_str(second);
        }
    }
    command
}

const COMMANDS: &[&str] = &[
    "verify",
    "index",
    "eval",
    "check-plan",
    "digest",
    "models",
    "resume",
    "replay",
    "runs",
    "mcp",
];

/// The subcommand a mistyped first word was meant to be: one edit away (two for long names).
/// Only asked once clap has refused the command line, so a one-word question still runs.
fn near_command(word: &str) -> Option<&'static str> {
    if word.starts_with('-') || word.contains(char::is_whitespace) || COMMANDS.contains(&word) {
        return None;
    }
    let word = word.to_lowercase();
    COMMANDS.iter().copied().find(|c| {
        let allowed = if c.len() > 5 { 2 } else { 1 };
        edits(&word, c) <= allowed
    })
}

/// Levenshtein distance.
fn edits(a: &str, b: &str) -> usize {
    let b: Vec<char> = b.chars().collect();
    let mut row: Vec<usize> = (0..=b.len()).collect();
    for (i, ca) in a.chars().enumerate() {
        let mut prev = row[0];
        row[0] = i + 1;
        for (j, cb) in b.iter().enumerate() {
            let next = (row[j + 1] + 1)
                .min(row[j] + 1)
                .min(prev + usize::from(ca != *cb));
            prev = row[j + 1];
            row[j + 1] = next;
        }
    }
    row[b.len()]
}

#[cfg(test)]
mod tests {
    use super::{command_of, near_command, usage_error};

    #[test]
    fn a_mistyped_command_is_named() {
        assert_eq!(near_command("verfy"), Some("verify"));
        assert_eq!(near_command("chek-plan"), Some("check-plan"));
        assert_eq!(near_command("WAL"), None);
        assert_eq!(near_command("How does WAL work?"), None);
        assert_eq!(near_command("--reviewers"), None);
    }

    #[test]
    fn a_usage_error_names_what_is_missing_and_the_commands_own_help() {
        let missing = "error: the following required arguments were not provided:\n  <CLAIM|--claims <FILE>>\n\nUsage: research verify <CLAIM|--claims <FILE>>\n\nFor more information, try '--help'.\n";
        assert_eq!(
            usage_error(missing, "research"),
            "the following required arguments were not provided: <CLAIM|--claims <FILE>> (see research verify --help)"
        );
        let typo = "error: unexpected argument '--reviewrs' found\n\n  tip: a similar argument exists: '--reviewers'\n\nUsage: research --reviewers <REVIEWERS> [QUESTION]\n";
        assert_eq!(
            usage_error(typo, "research"),
            "unexpected argument '--reviewrs' found; tip: a similar argument exists: '--reviewers' (see research --help)"
        );
        // Without a usage line, the command typed names the help.
        let value = "error: a value is required for '--json <FILE>' but none was supplied\n\nFor more information, try '--help'.\n";
        let words = ["eval".to_string(), "--json".to_string()];
        assert_eq!(
            usage_error(value, &command_of(&words)),
            "a value is required for '--json <FILE>' but none was supplied (see research eval --help)"
        );
        let words = ["index".to_string(), "stats".to_string()];
        assert_eq!(command_of(&words), "research index stats");
        let words = ["How does WAL work?".to_string()];
        assert_eq!(command_of(&words), "research");
    }
}
