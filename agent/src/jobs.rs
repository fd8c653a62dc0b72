//! Running one job: its CloudScript becomes an executable file run in its own process group, bounded in
//! time and output, and ends as a [`JobResult`].
//!
//! Guarantees: the script runs with a minimal environment, stdin `/dev/null` and cwd `/`; after its
//! timeout its whole process group is killed; each stream keeps at most [`JOB_OUTPUT_MAX`] bytes (the
//! rest is read and dropped so the script never blocks); the script file is removed afterwards; the
//! job id never reaches a path unsanitized. When the script exits but processes it left behind keep its
//! output open, they are given [`LINGER`] and then killed with the group.
//! Assumptions: Linux; the agent is the only writer of its work directory.

use crate::output::{Captured, capture, text};
use crate::script::{environment, spawn, write_script};
use common::agent::{JOB_TIMEOUT_MAX_SECS, Job, JobResult};
use rustix::process::{Pid, Signal, kill_process_group};
use std::fs;
use std::io;
use std::os::unix::process::ExitStatusExt;
use std::path::Path;
use std::process::{Child, ExitStatus};
use std::sync::mpsc::{self, RecvTimeoutError};
use std::time::{Duration, Instant};

pub use crate::script::workdir;

/// How long processes a finished script left behind may keep its output open before they are killed.
pub const LINGER: Duration = Duration::from_secs(2);
/// How long to wait for the output to close after killing the group (a process may have left it).
const AFTER_KILL: Duration = Duration::from_secs(5);

/// Runs `job` to its end (or its timeout) and says how it went.
pub fn run(job: &Job, workdir: &Path) -> JobResult {
    let started = Instant::now();
    let timeout = Duration::from_secs(u64::from(job.timeout_secs.clamp(1, JOB_TIMEOUT_MAX_SECS)));
    let mut notes = String::new();
    let env = environment(job, &mut notes);
    let not_started =
        |notes: &str| finish(None, false, Captured::default(), Captured::default(), notes);
    let mut result = match write_script(job, workdir) {
        Err(e) => {
            let dir = workdir.display();
            notes.push_str(&format!(
                "scaleinfra-agent: could not write the script to {dir}: {e}\n"
            ));
            not_started(&notes)
        }
        Ok(path) => {
            let result = match spawn(&path, &job.script, &env) {
                Ok(child) => supervise(child, started + timeout, timeout, notes),
                Err(e) => {
                    notes.push_str(&format!(
                        "scaleinfra-agent: could not start the script: {e}\n"
                    ));
                    not_started(&notes)
                }
            };
            if let Err(e) = fs::remove_file(&path) {
                eprintln!("scaleinfra-agent: cannot remove {}: {e}", path.display());
            }
            result
        }
    };
    result.duration_ms = u64::try_from(started.elapsed().as_millis()).unwrap_or(u64::MAX);
    result
}

fn finish(
    exit_code: Option<i32>,
    timed_out: bool,
    out: Captured,
    err: Captured,
    notes: &str,
) -> JobResult {
    let (stdout, out_dropped) = text(out, "");
    let (stderr, err_dropped) = text(err, notes);
    JobResult {
        exit_code,
        timed_out,
        stdout,
        stderr,
        truncated: out_dropped || err_dropped,
        duration_ms: 0,
    }
}

enum Event {
    Exit(io::Result<ExitStatus>),
    Stdout(Captured),
    Stderr(Captured),
}

/// Reads the output and waits for the script, killing its group at `deadline`.
fn supervise(
    mut child: Child,
    deadline: Instant,
    timeout: Duration,
    mut notes: String,
) -> JobResult {
    let group = Pid::from_child(&child);
    let (tx, rx) = mpsc::channel();
    let (mut out, mut err) = (None, None);
    match child.stdout.take() {
        Some(s) => {
            let tx = tx.clone();
            std::thread::spawn(move || tx.send(Event::Stdout(capture(s))));
        }
        None => out = Some(Captured::default()),
    }
    match child.stderr.take() {
        Some(s) => {
            let tx = tx.clone();
            std::thread::spawn(move || tx.send(Event::Stderr(capture(s))));
        }
        None => err = Some(Captured::default()),
    }
    std::thread::spawn(move || tx.send(Event::Exit(child.wait())));

    let (mut status, mut exited_at, mut killed_at) = (None, None, None);
    let mut timed_out = false;
    while status.is_none() || out.is_none() || err.is_none() {
        let until = match (killed_at, exited_at) {
            (Some(k), _) => k + AFTER_KILL,
            (None, Some(e)) => deadline.min(e + LINGER),
            (None, None) => deadline,
        };
        match rx.recv_timeout(until.saturating_duration_since(Instant::now())) {
            Ok(Event::Exit(s)) => (status, exited_at) = (Some(s), Some(Instant::now())),
            Ok(Event::Stdout(c)) => out = Some(c),
            Ok(Event::Stderr(c)) => err = Some(c),
            Err(RecvTimeoutError::Timeout) if killed_at.is_none() => {
                if status.is_none() {
                    timed_out = true;
                    let secs = timeout.as_secs();
                    notes.push_str(&format!(
                        "scaleinfra-agent: timed out after {secs} s; killed\n"
                    ));
                } else {
                    notes.push_str(
                        "scaleinfra-agent: processes left behind kept the output open; killed\n",
                    );
                }
                if let Err(e) = kill_process_group(group, Signal::KILL) {
                    notes.push_str(&format!("scaleinfra-agent: could not kill the job: {e}\n"));
                }
                killed_at = Some(Instant::now());
            }
            Err(_) => {
                notes.push_str(
                    "scaleinfra-agent: a process outside the job's group holds its output\n",
                );
                break;
            }
        }
    }
    let exit_code = match status {
        _ if timed_out => None,
        Some(Ok(s)) => {
            if let Some(signal) = s.signal() {
                notes.push_str(&format!(
                    "scaleinfra-agent: the script was killed by signal {signal}\n"
                ));
            }
            s.code()
        }
        Some(Err(e)) => {
            notes.push_str(&format!(
                "scaleinfra-agent: could not wait for the script: {e}\n"
            ));
            None
        }
        None => None,
    };
    finish(
        exit_code,
        timed_out,
        out.unwrap_or_default(),
        err.unwrap_or_default(),
        &notes,
    )
}

#[cfg(test)]
mod tests {
    #![allow(clippy::unwrap_used, clippy::expect_used)]
    use super::*;
    use crate::script::PATH;
    use common::agent::JOB_OUTPUT_MAX;
    use std::collections::BTreeMap;
    use std::path::PathBuf;

    fn job(id: &str, script: &str) -> Job {
        Job {
            id: id.into(),
            script: script.into(),
            env: BTreeMap::new(),
            timeout_secs: 60,
        }
    }

    fn entries(dir: &Path) -> Vec<PathBuf> {
        fs::read_dir(dir)
            .unwrap()
            .map(|e| e.unwrap().path())
            .collect()
    }

    /// Gone, or a zombie nobody reaped yet: either way it no longer runs.
    fn dead(pid: &str) -> bool {
        match fs::read_to_string(format!("/proc/{pid}/stat")) {
            Err(_) => true,
            Ok(stat) => stat
                .rsplit_once(") ")
                .is_some_and(|(_, rest)| rest.starts_with('Z')),
        }
    }

    #[test]
    fn a_shell_script_reports_output_and_exit_code_and_its_file_is_removed() {
        let dir = tempfile::tempdir().unwrap();
        let r = run(
            &job("j-1", "#!/bin/sh\necho out\necho err >&2\n"),
            dir.path(),
        );
        assert_eq!(
            (r.exit_code, r.timed_out, r.truncated),
            (Some(0), false, false)
        );
        assert_eq!((r.stdout.as_str(), r.stderr.as_str()), ("out\n", "err\n"));
        assert!(entries(dir.path()).is_empty(), "the script file is removed");
        let r = run(
            &job("j-2", "#!/bin/sh\necho failing >&2\nexit 3\n"),
            dir.path(),
        );
        assert_eq!((r.exit_code, r.stderr.as_str()), (Some(3), "failing\n"));
    }

    #[test]
    fn the_shebang_chooses_the_interpreter_and_env_reaches_it() {
        let dir = tempfile::tempdir().unwrap();
        let mut j = job(
            "j-py",
            "#!/usr/bin/env python3\nimport os\nprint(os.environ['GREETING'], os.environ['SI_JOB_ID'])\n",
        );
        j.env.insert("GREETING".into(), "hello".into());
        let r = run(&j, dir.path());
        assert_eq!(
            (r.exit_code, r.stdout.as_str(), r.stderr.as_str()),
            (Some(0), "hello j-py\n", "")
        );
    }

    #[test]
    fn a_script_without_shebang_runs_with_sh_in_a_minimal_environment() {
        let dir = tempfile::tempdir().unwrap();
        let (leaked, _) = std::env::vars()
            .find(|(k, _)| k != "PATH" && k != "HOME")
            .unwrap();
        let script = format!("echo \"$PATH\"\necho \"[${{{leaked}:-}}]\"\necho \"$0\"\n");
        let r = run(&job("j-3", &script), dir.path());
        assert_eq!(r.exit_code, Some(0), "{r:?}");
        let lines: Vec<&str> = r.stdout.lines().collect();
        assert_eq!(
            lines[..2],
            [PATH, "[]"],
            "the agent's own environment does not leak"
        );
        assert!(
            Path::new(lines[2]).starts_with(dir.path()),
            "run as `/bin/sh <file>`"
        );
    }

    #[test]
    fn invalid_variable_names_are_skipped_and_said_so() {
        let dir = tempfile::tempdir().unwrap();
        let mut j = job("j-4", "#!/bin/sh\necho \"$GOOD_1\"\nenv\n");
        for (k, v) in [
            ("GOOD_1", "yes"),
            ("lower", "x"),
            ("1BAD", "x"),
            ("A-B", "x"),
            ("NUL", "a\0b"),
        ] {
            j.env.insert(k.into(), v.into());
        }
        let r = run(&j, dir.path());
        assert_eq!(r.exit_code, Some(0), "{r:?}");
        assert!(r.stdout.starts_with("yes\n"));
        for bad in ["lower", "1BAD", "A-B", "NUL"] {
            assert!(
                !r.stdout.contains(&format!("{bad}=")),
                "{bad} must not be set"
            );
            assert!(
                r.stderr.contains(bad),
                "{bad} must be reported: {}",
                r.stderr
            );
        }
    }

    #[test]
    fn a_timeout_kills_the_whole_process_group() {
        let (dir, scratch) = (tempfile::tempdir().unwrap(), tempfile::tempdir().unwrap());
        let pidfile = scratch.path().join("pid");
        let mut j = job(
            "j-5",
            &format!(
                "#!/bin/sh\nsleep 30 &\necho $! > {}\nsleep 30\n",
                pidfile.display()
            ),
        );
        j.timeout_secs = 1;
        let r = run(&j, dir.path());
        assert!(r.timed_out && r.exit_code.is_none(), "{r:?}");
        assert!((1000..10_000).contains(&r.duration_ms), "{r:?}");
        assert!(r.stderr.contains("timed out"));
        let pid = fs::read_to_string(&pidfile).unwrap().trim().to_owned();
        let deadline = Instant::now() + Duration::from_secs(5);
        while !dead(&pid) {
            assert!(
                Instant::now() < deadline,
                "the background child {pid} survived"
            );
            std::thread::sleep(Duration::from_millis(20));
        }
        assert!(entries(dir.path()).is_empty());
    }

    #[test]
    fn processes_left_holding_the_output_do_not_hold_the_job() {
        let dir = tempfile::tempdir().unwrap();
        let r = run(
            &job("j-6", "#!/bin/sh\nsleep 30 &\necho done\n"),
            dir.path(),
        );
        assert_eq!(
            (r.exit_code, r.timed_out, r.stdout.as_str()),
            (Some(0), false, "done\n")
        );
        assert!(
            r.duration_ms < 10_000 && r.stderr.contains("kept the output open"),
            "{r:?}"
        );
    }

    #[test]
    fn output_is_bounded() {
        let dir = tempfile::tempdir().unwrap();
        let r = run(
            &job("j-7", "#!/bin/sh\nhead -c 200000 /dev/zero | tr '\\0' a\n"),
            dir.path(),
        );
        assert_eq!(
            (r.exit_code, r.truncated, r.stdout.len()),
            (Some(0), true, JOB_OUTPUT_MAX)
        );
        assert!(r.stdout.bytes().all(|b| b == b'a'));
    }

    #[test]
    fn a_script_that_cannot_start_says_why() {
        let dir = tempfile::tempdir().unwrap();
        let r = run(
            &job("j-8", "#!/nonexistent/interpreter\necho never\n"),
            dir.path(),
        );
        assert_eq!((r.exit_code, r.stdout.as_str()), (None, ""));
        assert!(
            r.stderr.contains("could not start") && r.stderr.contains("os error 2"),
            "{r:?}"
        );
        assert!(entries(dir.path()).is_empty());
    }

    #[test]
    fn a_hostile_job_id_stays_inside_the_workdir() {
        let outer = tempfile::tempdir().unwrap();
        let work = outer.path().join("a/b/work");
        fs::create_dir_all(&work).unwrap();
        let r = run(&job("../../etc/x", "#!/bin/sh\necho \"$0\"\n"), &work);
        let ran = PathBuf::from(r.stdout.trim_end());
        assert_eq!(ran.parent(), Some(work.as_path()), "{r:?}");
        assert_eq!(ran.file_name().unwrap(), "job-etcx-0");
        assert_eq!(entries(outer.path()), [outer.path().join("a")]);
        assert_eq!(
            entries(&outer.path().join("a/b")),
            std::slice::from_ref(&work)
        );
        assert!(entries(&work).is_empty());
    }
}
