//! One child process, timed: wall time and peak RSS from `wait4` (Linux, ru_maxrss in KiB).
//! Shared by the benches that run the release binary as a user would.

use std::fs::File;
use std::path::Path;
use std::process::{Command, Stdio};
use std::time::{Duration, Instant};

/// One timed child process.
pub struct Sample {
    pub wall: Duration,
    pub max_rss_kib: u64,
}

/// Runs `cmd` with stdout to the file `stdout` (stderr beside it, `.err`); an exit code outside
/// `ok_codes` is an error carrying the child's stderr.
pub fn measure(mut cmd: Command, stdout: &Path, ok_codes: &[i32]) -> Result<Sample, String> {
    let program = cmd.get_program().to_string_lossy().into_owned();
    // Files, not pipes: nobody reads a pipe while we block in wait4, so a chatty child
    // could fill it and stall.
    let out =
        File::create(stdout).map_err(|e| format!("cannot create {}: {e}", stdout.display()))?;
    let err_path = stdout.with_extension("err");
    let err = File::create(&err_path)
        .map_err(|e| format!("cannot create {}: {e}", err_path.display()))?;
    cmd.stdin(Stdio::null()).stdout(out).stderr(err);

    let started = Instant::now();
    let child = cmd
        .spawn()
        .map_err(|e| format!("cannot run {program}: {e}"))?;
    let pid = child.id() as libc::pid_t;
    let mut status: libc::c_int = 0;
    // SAFETY: rusage is plain old data, so all-zero is a valid value.
    let mut usage: libc::rusage = unsafe { std::mem::zeroed() };
    loop {
        // SAFETY: pid is our own unreaped child; both pointers are to live locals. std's
        // Child is never waited on afterwards, so it cannot reap the pid twice.
        let r = unsafe { libc::wait4(pid, &mut status, 0, &mut usage) };
        if r == pid {
            break;
        }
        let e = std::io::Error::last_os_error();
        if e.kind() != std::io::ErrorKind::Interrupted {
            return Err(format!("wait4 on {program} failed: {e}"));
        }
    }
    let wall = started.elapsed();
    drop(child);

    let code = if libc::WIFEXITED(status) {
        Some(libc::WEXITSTATUS(status))
    } else {
        None
    };
    if !code.is_some_and(|c| ok_codes.contains(&c)) {
        let how = match code {
            Some(c) => format!("exit code {c}"),
            None => format!("signal {}", libc::WTERMSIG(status)),
        };
        let stderr = std::fs::read_to_string(&err_path).unwrap_or_default();
        return Err(format!(
            "{} failed ({how}): {}",
            describe_command(&cmd),
            stderr.trim()
        ));
    }
    Ok(Sample {
        wall,
        // ru_maxrss is in KiB on Linux.
        max_rss_kib: u64::try_from(usage.ru_maxrss).unwrap_or(0),
    })
}

/// The machine's load averages (1, 5, 15 minutes), printed beside the figures.
pub fn load_average() -> String {
    std::fs::read_to_string("/proc/loadavg")
        .ok()
        .map(|s| s.split_whitespace().take(3).collect::<Vec<_>>().join(" "))
        .unwrap_or_else(|| "unknown".to_string())
}

/// The command line, for an error message.
fn describe_command(cmd: &Command) -> String {
    let mut s = cmd.get_program().to_string_lossy().into_owned();
    for a in cmd.get_args() {
        s.push(' ');
        s.push_str(&a.to_string_lossy());
    }
    s
}
