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
use std::io::{BufRead, BufReader, Read, Write};
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
/// The longest answer read from a worker (a script is at most [`render::OUTPUT_MAX`]).
const ANSWER_MAX: u64 = 16 * 1024 * 1024;

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
    Resolve {
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
    Resolved(BTreeMap<String, Value>),
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
        Request::Resolve {
            decls,
            supplied,
            ctx,
            lenient,
        } => render::resolve(&decls, &supplied, &ctx, lenient).map(Answer::Resolved),
    }
}

fn unexpected() -> RenderError {
    failure("the render worker gave an unexpected answer".into())
}

fn failure(message: String) -> RenderError {
    RenderError {
        field: "body".into(),
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

/// [`render::resolve`], in a worker once [`install`]ed.
pub fn resolve(
    decls: &[VariableDecl],
    supplied: &BTreeMap<String, Value>,
    ctx: &Context,
    lenient: bool,
) -> Result<BTreeMap<String, Value>, RenderError> {
    let Some(pool) = POOL.get() else {
        return render::resolve(decls, supplied, ctx, lenient);
    };
    match pool.ask(&Request::Resolve {
        decls: decls.to_vec(),
        supplied: supplied.clone(),
        ctx: Box::new(ctx.clone()),
        lenient,
    })? {
        Answer::Resolved(v) => Ok(v),
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
    match w.ask(&probe) {
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
            if let Some(w) = slots.idle.pop() {
                return Ok(w);
            }
            if slots.live < MAX_WORKERS {
                slots.live += 1;
                drop(slots);
                return Worker::spawn(&self.exe, self.limits).map_err(|e| {
                    self.gone();
                    tracing::error!(error = %e, exe = %self.exe.display(), "cannot start a render worker");
                    failure(format!("the renderer is unavailable: {e}"))
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
            w.stop();
        }
        self.freed.notify_one();
    }

    fn gone(&self) {
        self.slots().live -= 1;
        self.freed.notify_one();
    }

    fn ask(&self, req: &Request) -> Result<Answer, RenderError> {
        let mut w = self.take()?;
        match w.ask(req) {
            Ok(answer) => {
                self.give_back(w);
                answer
            }
            Err(died) => {
                self.gone();
                let why = died.describe();
                if died.signal.is_none() {
                    tracing::error!(error = %why, "a render worker failed");
                }
                Err(failure(why))
            }
        }
    }
}

/// A worker that did not answer: how it ended.
#[derive(Debug)]
struct Died {
    signal: Option<i32>,
    detail: String,
}

impl Died {
    fn describe(&self) -> String {
        const SIGABRT: i32 = 6;
        const SIGKILL: i32 = 9;
        const SIGXCPU: i32 = 24;
        match self.signal {
            // Rust aborts when the allocator refuses
            Some(SIGABRT) => "rendering needs more memory than a render may use".into(),
            Some(SIGXCPU | SIGKILL) => "rendering takes more CPU time than a render may use".into(),
            Some(s) => format!("the render worker died (signal {s})"),
            None => format!("the render worker failed: {}", self.detail),
        }
    }
}

struct Worker {
    child: Child,
    input: ChildStdin,
    output: BufReader<ChildStdout>,
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
            output: BufReader::new(output),
        })
    }

    /// One request, one line each way. `Err` when the worker ends instead of answering (it is
    /// reaped); the caller drops it.
    fn ask(&mut self, req: &Request) -> Result<Result<Answer, RenderError>, Died> {
        let sent = serde_json::to_vec(req)
            .map_err(std::io::Error::other)
            .and_then(|mut line| {
                line.push(b'\n');
                self.input.write_all(&line)?;
                self.input.flush()
            });
        let mut line = String::new();
        let read = sent.and_then(|()| {
            (&mut self.output)
                .take(ANSWER_MAX)
                .read_line(&mut line)
                .map(|_| ())
        });
        let answer = read.and_then(|()| {
            if line.ends_with('\n') {
                serde_json::from_str::<Result<Answer, RenderError>>(&line)
                    .map_err(std::io::Error::other)
            } else {
                Err(std::io::Error::other("the answer ended early"))
            }
        });
        match answer {
            Ok(a) => Ok(a),
            Err(e) => {
                // an answer that never ends or does not parse: the worker is not trusted any more
                let _ = self.child.kill();
                let status = self.child.wait();
                use std::os::unix::process::ExitStatusExt;
                let signal = status.as_ref().ok().and_then(|s| s.signal());
                Err(Died {
                    // our own kill says nothing about the request: report what went wrong first
                    signal: signal.filter(|_| line.is_empty()),
                    detail: e.to_string(),
                })
            }
        }
    }

    fn stop(mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
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
    let bytes = limits.memory_mib.saturating_mul(1024 * 1024);
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
            Ok(req) => handle(req),
            Err(e) => Err(failure(format!("a malformed render request: {e}"))),
        };
        let mut out = serde_json::to_vec(&answer).map_err(std::io::Error::other)?;
        out.push(b'\n');
        stdout.write_all(&out)?;
        stdout.flush()?;
    }
    Ok(())
}
