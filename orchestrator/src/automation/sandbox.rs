//! Rendering out of process. Fuel bounds a template's instructions and the writer bounds its output,
//! but one instruction can still build a huge value in memory before anything is written (doubling a
//! string through a `namespace`, a recursive macro, `replace` chains), and a template comes from a
//! tenant. As Jinja's maintainers advise, the bound is the operating system's: the product renders in
//! worker processes (`scaleinfra render-worker`) whose data segment is limited (`RLIMIT_DATA`) and whose
//! CPU time per request is limited (`RLIMIT_CPU`). A worker that hits a limit dies with that one
//! request, which answers a [`RenderError`]; the next request gets a fresh worker.
//!
//! [`install`] switches the process to workers (the `scaleinfra` binary does it at start); without it,
//! rendering happens in process, unbounded in memory (unit tests and benchmarks).

use super::render::{self, Context, RenderError, Rendered};
use common::api::VariableDecl;
use serde::{Deserialize, Serialize};
use serde_json::Value;
use std::collections::BTreeMap;
use std::io::{BufRead, Read, Write};
use std::path::PathBuf;
use std::process::{Child, ChildStdin, ChildStdout, Command, Stdio};
use std::sync::{Condvar, Mutex, OnceLock};

/// What a worker may use for one request.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Limits {
    /// The worker's data segment (heap and private mappings), in MiB.
    pub memory_mib: u64,
    /// CPU seconds per request.
    pub cpu_secs: u64,
}

impl Default for Limits {
    fn default() -> Limits {
        Limits {
            memory_mib: 256,
            cpu_secs: 5,
        }
    }
}

/// Workers running at once (more callers wait for one).
const MAX_WORKERS: usize = 8;
/// Idle workers kept for the next requests.
const MAX_IDLE: usize = 2;
/// The longest answer a worker sends (its script, environment and secrets); a longer render is
/// refused by the worker itself.
const ANSWER_MAX: usize = 16 * 1024 * 1024;
/// How long past its CPU limit a request may take in wall-clock time before its worker is killed
/// (a worker stopped or starved answers nothing).
const GRACE_SECS: u64 = 5;

#[derive(Debug, Serialize, Deserialize)]
enum Request {
    Render {
        body: String,
        decls: Vec<VariableDecl>,
        ctx: Box<Context>,
        supplied: BTreeMap<String, Value>,
    },
    Check {
        body: String,
        decls: Vec<VariableDecl>,
    },
    /// Resolve variable values, answering only whether they resolve (the values can be large).
    CheckValues {
        decls: Vec<VariableDecl>,
        supplied: BTreeMap<String, Value>,
        ctx: Box<Context>,
        lenient: bool,
    },
}

#[derive(Debug, Serialize, Deserialize)]
enum Answer {
    Rendered(Rendered),
    Checked,
}

fn handle(req: Request) -> Result<Answer, RenderError> {
    match req {
        Request::Render {
            body,
            decls,
            ctx,
            supplied,
        } => render::render(&body, &decls, &ctx, &supplied).map(Answer::Rendered),
        Request::Check { body, decls } => {
            render::check_script(&body, &decls).map(|()| Answer::Checked)
        }
        Request::CheckValues {
            decls,
            supplied,
            ctx,
            lenient,
        } => render::resolve(&decls, &supplied, &ctx, lenient).map(|_| Answer::Checked),
    }
}

impl Request {
    /// The field a render that kills its worker is reported on.
    fn field(&self) -> &'static str {
        match self {
            Request::CheckValues { .. } => "variables",
            Request::Render { .. } | Request::Check { .. } => "body",
        }
    }
}

fn unexpected() -> RenderError {
    failure("body", "the render worker gave an unexpected answer".into())
}

fn failure(field: &str, message: String) -> RenderError {
    RenderError {
        field: field.to_owned(),
        line: None,
        message,
    }
}

/// [`render::render`], in a worker once [`install`]ed.
pub fn render(
    body: &str,
    decls: &[VariableDecl],
    ctx: &Context,
    supplied: &BTreeMap<String, Value>,
) -> Result<Rendered, RenderError> {
    let Some(pool) = POOL.get() else {
        return render::render(body, decls, ctx, supplied);
    };
    match pool.ask(&Request::Render {
        body: body.to_owned(),
        decls: decls.to_vec(),
        ctx: Box::new(ctx.clone()),
        supplied: supplied.clone(),
    })? {
        Answer::Rendered(r) => Ok(r),
        _ => Err(unexpected()),
    }
}

/// [`render::check_script`], in a worker once [`install`]ed.
pub fn check_script(body: &str, decls: &[VariableDecl]) -> Result<(), RenderError> {
    let Some(pool) = POOL.get() else {
        return render::check_script(body, decls);
    };
    match pool.ask(&Request::Check {
        body: body.to_owned(),
        decls: decls.to_vec(),
    })? {
        Answer::Checked => Ok(()),
        _ => Err(unexpected()),
    }
}

/// Whether [`render::resolve`] accepts these values, in a worker once [`install`]ed.
pub fn check_values(
    decls: &[VariableDecl],
    supplied: &BTreeMap<String, Value>,
    ctx: &Context,
    lenient: bool,
) -> Result<(), RenderError> {
    let Some(pool) = POOL.get() else {
        return render::resolve(decls, supplied, ctx, lenient).map(|_| ());
    };
    match pool.ask(&Request::CheckValues {
        decls: decls.to_vec(),
        supplied: supplied.clone(),
        ctx: Box::new(ctx.clone()),
        lenient,
    })? {
        Answer::Checked => Ok(()),
        _ => Err(unexpected()),
    }
}

static POOL: OnceLock<Pool> = OnceLock::new();

/// Render in workers from now on: `exe render-worker …` (the `scaleinfra` binary). One worker is
/// started and asked once here, so a binary that cannot serve fails at start, not at the first
/// render. A second call keeps the first pool.
pub fn install(exe: PathBuf, limits: Limits) -> std::io::Result<()> {
    let pool = Pool {
        exe,
        limits,
        state: Mutex::new(Slots::default()),
        freed: Condvar::new(),
    };
    let mut w = Worker::spawn(&pool.exe, limits)?;
    let probe = Request::Check {
        body: "{{ 1 }}".into(),
        decls: Vec::new(),
    };
    match w.ask(&probe, pool.deadline()) {
        Ok(Ok(Answer::Checked)) => {}
        Ok(other) => {
            return Err(std::io::Error::other(format!(
                "the render worker answered {other:?}"
            )));
        }
        Err(e) => return Err(std::io::Error::other(e.describe())),
    }
    *pool.slots() = Slots {
        idle: vec![w],
        live: 1,
    };
    let _ = POOL.set(pool);
    Ok(())
}

#[derive(Default)]
struct Slots {
    idle: Vec<Worker>,
    live: usize,
}

struct Pool {
    exe: PathBuf,
    limits: Limits,
    state: Mutex<Slots>,
    freed: Condvar,
}

impl Pool {
    fn slots(&self) -> std::sync::MutexGuard<'_, Slots> {
        self.state.lock().unwrap_or_else(|p| p.into_inner())
    }

    /// An idle worker, a new one while fewer than [`MAX_WORKERS`] run, else the next one freed.
    fn take(&self) -> Result<Worker, RenderError> {
        let mut slots = self.slots();
        loop {
            if let Some(mut w) = slots.idle.pop() {
                // one that died while idle (killed from outside) is not handed out
                if matches!(w.child.try_wait(), Ok(None)) {
                    return Ok(w);
                }
                slots.live -= 1;
                continue;
            }
            if slots.live < MAX_WORKERS {
                slots.live += 1;
                drop(slots);
                return Worker::spawn(&self.exe, self.limits).map_err(|e| {
                    self.gone();
                    tracing::error!(error = %e, exe = %self.exe.display(), "cannot start a render worker");
                    failure("body", format!("the renderer is unavailable: {e}"))
                });
            }
            slots = self.freed.wait(slots).unwrap_or_else(|p| p.into_inner());
        }
    }

    fn give_back(&self, w: Worker) {
        let mut slots = self.slots();
        if slots.idle.len() < MAX_IDLE {
            slots.idle.push(w);
        } else {
            slots.live -= 1;
            drop(slots);
            // dropping a worker ends it
            drop(w);
        }
        self.freed.notify_one();
    }

    fn deadline(&self) -> std::time::Duration {
        std::time::Duration::from_secs(self.limits.cpu_secs.saturating_add(GRACE_SECS))
    }

    fn gone(&self) {
        self.slots().live -= 1;
        self.freed.notify_one();
    }

    fn ask(&self, req: &Request) -> Result<Answer, RenderError> {
        let mut w = self.take()?;
        match w.ask(req, self.deadline()) {
            Ok(answer) => {
                self.give_back(w);
                answer
            }
            Err(died) => {
                self.gone();
                let why = died.describe();
                if !matches!(died.end, End::Signal(6 | 24)) {
                    tracing::error!(error = %why, "a render worker failed");
                }
                Err(failure(req.field(), why))
            }
        }
    }
}

/// A worker that did not answer: how it ended.
#[derive(Debug)]
struct Died {
    end: End,
}

#[derive(Debug)]
enum End {
    /// It ended on this signal by itself.
    Signal(i32),
    /// It gave no answer in time and was killed.
    Deadline,
    /// It closed its output without answering (replaced by how it ended once it is reaped).
    Eof,
    /// It broke the protocol (or exited) and was killed.
    Broken(String),
}

impl Died {
    fn describe(&self) -> String {
        match &self.end {
            // Rust aborts when the allocator refuses
            End::Signal(6) => "rendering needs more memory than a render may use".into(),
            // the CPU limit's signal
            End::Signal(24) => "rendering takes more CPU time than a render may use".into(),
            End::Signal(s) => format!("the render worker died (signal {s})"),
            End::Deadline => "the render worker did not answer in time".into(),
            End::Broken(e) => format!("the render worker failed: {e}"),
            End::Eof => "the render worker ended without answering".into(),
        }
    }
}

struct Worker {
    child: Child,
    input: ChildStdin,
    output: ChildStdout,
}

impl Worker {
    fn spawn(exe: &std::path::Path, limits: Limits) -> std::io::Result<Worker> {
        let mut child = Command::new(exe)
            .arg("render-worker")
            .arg(format!("--memory-mib={}", limits.memory_mib))
            .arg(format!("--cpu-secs={}", limits.cpu_secs))
            .env_clear()
            .stdin(Stdio::piped())
            .stdout(Stdio::piped())
            .stderr(Stdio::null())
            .spawn()?;
        let (Some(input), Some(output)) = (child.stdin.take(), child.stdout.take()) else {
            let _ = child.kill();
            let _ = child.wait();
            return Err(std::io::Error::other("the worker has no pipes"));
        };
        Ok(Worker {
            child,
            input,
            output,
        })
    }

    /// One request, one line each way, within `deadline`. `Err` when the worker ends instead of
    /// answering (it is reaped); the caller drops it.
    fn ask(
        &mut self,
        req: &Request,
        deadline: std::time::Duration,
    ) -> Result<Result<Answer, RenderError>, Died> {
        let until = std::time::Instant::now() + deadline;
        let sent = serde_json::to_vec(req)
            .map_err(std::io::Error::other)
            .and_then(|mut line| {
                line.push(b'\n');
                self.input.write_all(&line)?;
                self.input.flush()
            });
        let answer = match sent.map_err(|e| End::Broken(e.to_string())) {
            Ok(()) => self.read_line(until),
            Err(e) => Err(e),
        }
        .and_then(|line| {
            serde_json::from_slice::<Result<Answer, RenderError>>(&line)
                .map_err(|e| End::Broken(e.to_string()))
        });
        match answer {
            Ok(a) => Ok(a),
            Err(end) => {
                let _ = self.child.kill();
                let status = self.child.wait();
                // a worker that closed its end first ended by itself: its status says why (our kill
                // comes after its exit began and does not change it); otherwise we ended it
                let end = match end {
                    End::Eof => {
                        use std::os::unix::process::ExitStatusExt;
                        match status {
                            Ok(s) => s.signal().map_or_else(
                                || End::Broken(format!("it exited ({s}) without answering")),
                                End::Signal,
                            ),
                            Err(e) => End::Broken(e.to_string()),
                        }
                    }
                    other => other,
                };
                Err(Died { end })
            }
        }
    }

    /// The worker's next line (without its newline), read as it comes until `until`.
    fn read_line(&mut self, until: std::time::Instant) -> Result<Vec<u8>, End> {
        use rustix::event::{PollFd, PollFlags, Timespec, poll};
        let mut line = Vec::new();
        let mut buf = vec![0u8; 64 * 1024];
        loop {
            let left = until.saturating_duration_since(std::time::Instant::now());
            if left.is_zero() {
                return Err(End::Deadline);
            }
            let timeout = Timespec {
                tv_sec: i64::try_from(left.as_secs()).unwrap_or(i64::MAX),
                tv_nsec: i64::from(left.subsec_nanos()),
            };
            let mut fds = [PollFd::new(&self.output, PollFlags::IN)];
            match poll(&mut fds, Some(&timeout)) {
                Ok(0) => continue,
                Ok(_) => {}
                Err(rustix::io::Errno::INTR) => continue,
                Err(e) => return Err(End::Broken(e.to_string())),
            }
            let n = match self.output.read(&mut buf) {
                Ok(n) => n,
                Err(e) if e.kind() == std::io::ErrorKind::Interrupted => continue,
                Err(e) => return Err(End::Broken(e.to_string())),
            };
            if n == 0 {
                return Err(End::Eof);
            }
            line.extend_from_slice(&buf[..n]);
            if let Some(end) = line.iter().position(|b| *b == b'\n') {
                line.truncate(end);
                return Ok(line);
            }
            if line.len() > ANSWER_MAX + 1024 {
                return Err(End::Broken("its answer is too long".into()));
            }
        }
    }
}

impl Drop for Worker {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

/// `scaleinfra render-worker`: answer requests from stdin on stdout, one JSON line each, within
/// `limits`, until stdin ends.
pub fn serve_worker(limits: Limits) -> std::io::Result<()> {
    use rustix::process::{Resource, Rlimit, getrlimit, setrlimit};
    // never above what this process may already use (lowering a limit needs no privilege)
    let bytes = limits
        .memory_mib
        .saturating_mul(1024 * 1024)
        .min(getrlimit(Resource::Data).maximum.unwrap_or(u64::MAX));
    setrlimit(
        Resource::Core,
        Rlimit {
            current: Some(0),
            maximum: Some(0),
        },
    )?;
    setrlimit(
        Resource::Data,
        Rlimit {
            current: Some(bytes),
            maximum: Some(bytes),
        },
    )?;
    let cpu_max = getrlimit(Resource::Cpu).maximum;
    let stdin = std::io::stdin().lock();
    let mut stdout = std::io::stdout().lock();
    for line in stdin.lines() {
        let line = line?;
        // this request may use `cpu_secs` more than the worker has used so far (SIGXCPU past it)
        let used = rustix::time::clock_gettime(rustix::time::ClockId::ProcessCPUTime).tv_sec;
        let soft = u64::try_from(used)
            .unwrap_or(0)
            .saturating_add(limits.cpu_secs.max(1))
            .min(cpu_max.unwrap_or(u64::MAX));
        setrlimit(
            Resource::Cpu,
            Rlimit {
                current: Some(soft),
                maximum: cpu_max,
            },
        )?;
        let answer = match serde_json::from_str::<Request>(&line) {
            Ok(req) => {
                let field = req.field();
                std::panic::catch_unwind(move || handle(req)).unwrap_or_else(|_| {
                    Err(failure(
                        field,
                        "the renderer failed on this template".into(),
                    ))
                })
            }
            Err(_) => Err(failure("body", "a malformed render request".into())),
        };
        let mut out = serde_json::to_vec(&answer).map_err(std::io::Error::other)?;
        if out.len() > ANSWER_MAX {
            let too_long = Err::<Answer, _>(failure(
                "body",
                format!(
                    "the rendered script and its variables come to more than {ANSWER_MAX} bytes"
                ),
            ));
            out = serde_json::to_vec(&too_long).map_err(std::io::Error::other)?;
        }
        out.push(b'\n');
        stdout.write_all(&out)?;
        stdout.flush()?;
    }
    Ok(())
}
