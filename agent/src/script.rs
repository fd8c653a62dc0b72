//! The script side of a job: its work directory, its file, its environment and how it is started.

use common::agent::Job;
use std::fs::{self, OpenOptions};
use std::io::{self, ErrorKind, Write};
use std::os::unix::fs::{DirBuilderExt, OpenOptionsExt, PermissionsExt};
use std::os::unix::process::CommandExt;
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::time::Duration;

/// The `PATH` scripts run with.
pub(crate) const PATH: &str = "/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin";
const WORKDIR: &str = "/run/scaleinfra/jobs";

/// The directory scripts are written to: `/run/scaleinfra/jobs` (mode 0700), or the temporary
/// directory when that cannot be made.
pub fn workdir() -> PathBuf {
    let dir = Path::new(WORKDIR);
    let made = dir
        .parent()
        .map_or(Ok(()), fs::create_dir_all)
        .and_then(|()| match fs::DirBuilder::new().mode(0o700).create(dir) {
            Err(e) if e.kind() == ErrorKind::AlreadyExists => Ok(()),
            r => r,
        })
        .and_then(|()| fs::set_permissions(dir, fs::Permissions::from_mode(0o700)));
    match made {
        Ok(()) => dir.to_path_buf(),
        Err(e) => {
            let tmp = std::env::temp_dir();
            eprintln!(
                "scaleinfra-agent: cannot use {WORKDIR} ({e}); using {}",
                tmp.display()
            );
            tmp
        }
    }
}

fn valid_key(key: &str) -> bool {
    let mut bytes = key.bytes();
    matches!(bytes.next(), Some(b'A'..=b'Z' | b'_'))
        && bytes.all(|b| matches!(b, b'A'..=b'Z' | b'0'..=b'9' | b'_'))
}

/// The minimal environment plus the job's variables (invalid ones skipped, with a note).
pub(crate) fn environment(job: &Job, notes: &mut String) -> Vec<(String, String)> {
    let home = std::env::var("HOME").unwrap_or_else(|_| "/root".into());
    let mut env = vec![
        ("PATH".to_owned(), PATH.to_owned()),
        ("HOME".to_owned(), home),
    ];
    for (key, value) in &job.env {
        let shown: String = key.chars().take(64).collect();
        if !valid_key(key) {
            notes.push_str(&format!(
                "scaleinfra-agent: skipped the variable {shown:?}: names must match [A-Z_][A-Z0-9_]*\n"
            ));
        } else if value.contains('\0') {
            notes.push_str(&format!(
                "scaleinfra-agent: skipped the variable {shown}: its value holds a NUL byte\n"
            ));
        } else {
            env.push((key.clone(), value.clone()));
        }
    }
    env.push(("SI_JOB_ID".to_owned(), job.id.replace('\0', "")));
    // how a script posts a custom event: "$SI_AGENT" emit <name> [detail], as this agent (its
    // identity after the job's variables, so none of them can stand in for it)
    if let Ok(exe) = std::env::current_exe() {
        env.push(("SI_AGENT".to_owned(), exe.to_string_lossy().into_owned()));
    }
    if let Some(id) = crate::identity::shared() {
        env.push((crate::identity::JOB_URL.to_owned(), id.url.clone()));
        env.push((crate::identity::JOB_TOKEN.to_owned(), id.token.clone()));
    }
    env
}

/// Writes the script to a new file (mode 0700) named after the sanitized job id.
pub(crate) fn write_script(job: &Job, workdir: &Path) -> io::Result<PathBuf> {
    let safe: String = job
        .id
        .chars()
        .filter(|c| c.is_ascii_alphanumeric() || *c == '-')
        .take(64)
        .collect();
    let mut n = 0u32;
    let (path, mut file) = loop {
        let path = workdir.join(format!("job-{safe}-{n}"));
        let opened = OpenOptions::new()
            .write(true)
            .create_new(true)
            .mode(0o700)
            .open(&path);
        match opened {
            Ok(file) => break (path, file),
            Err(e) if e.kind() == ErrorKind::AlreadyExists && n < 1000 => n += 1,
            Err(e) => return Err(e),
        }
    };
    if let Err(e) = file.write_all(job.script.as_bytes()) {
        drop(file);
        let _ = fs::remove_file(&path);
        return Err(e);
    }
    Ok(path)
}

/// `#!interpreter [argument]` of a script, as the kernel reads it.
fn shebang(script: &str) -> Option<(&str, Option<&str>)> {
    let line = script.strip_prefix("#!")?.lines().next()?.trim();
    let (interpreter, argument) = match line.split_once([' ', '\t']) {
        Some((i, a)) => (i, Some(a.trim()).filter(|a| !a.is_empty())),
        None => (line, None),
    };
    (!interpreter.is_empty()).then_some((interpreter, argument))
}

pub(crate) fn spawn(path: &Path, script: &str, env: &[(String, String)]) -> io::Result<Child> {
    let configure = |mut cmd: Command| -> io::Result<Child> {
        cmd.env_clear()
            .envs(env.iter().map(|(k, v)| (k, v)))
            .current_dir("/")
            .stdin(Stdio::null())
            .stdout(Stdio::piped())
            .stderr(Stdio::piped())
            .process_group(0)
            .spawn()
    };
    let direct = script.starts_with("#!");
    let mut busy = 0;
    loop {
        let cmd = if direct {
            Command::new(path)
        } else {
            let mut cmd = Command::new("/bin/sh");
            cmd.arg(path);
            cmd
        };
        match configure(cmd) {
            // Another thread forking while the file was open for writing holds it briefly.
            Err(e) if e.kind() == ErrorKind::ExecutableFileBusy && busy < 100 => {
                busy += 1;
                std::thread::sleep(Duration::from_millis(10));
            }
            // A `noexec` mount: hand the file to its interpreter as the kernel would.
            Err(e) if direct && e.kind() == ErrorKind::PermissionDenied => {
                let Some((interpreter, argument)) = shebang(script) else {
                    return Err(e);
                };
                let mut cmd = Command::new(interpreter);
                cmd.args(argument).arg(path);
                return configure(cmd);
            }
            r => return r,
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn variable_names_are_shell_identifiers_in_capitals() {
        for ok in ["A", "_X", "GOOD_1"] {
            assert!(valid_key(ok), "{ok}");
        }
        for bad in ["", "a", "1A", "A-B", "A B", "É"] {
            assert!(!valid_key(bad), "{bad}");
        }
    }

    #[test]
    fn shebang_lines_parse_like_the_kernel() {
        assert_eq!(shebang("#!/bin/sh\necho"), Some(("/bin/sh", None)));
        assert_eq!(
            shebang("#! /usr/bin/env python3 -u\n"),
            Some(("/usr/bin/env", Some("python3 -u")))
        );
        assert_eq!(shebang("#!\n"), None);
        assert_eq!(shebang("echo hi"), None);
    }
}
