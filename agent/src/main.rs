//! `scaleinfra-agent`: run inside an appliance (started by its init); exits when its appliance is
//! terminated. `scaleinfra-agent emit <name> [detail…]` posts a custom event (`custom.<name>`) for the
//! application's rules; CloudScripts find the binary as `$SI_AGENT`.

use common::agent::{AnnounceRequest, EventRequest, HeartbeatRequest};
use scaleinfra_agent::client::{CallError, Client, EmitError};
use scaleinfra_agent::worker::{self, RECENT_IDS, RecentIds};
use scaleinfra_agent::{identity, jobs, metrics};
use std::process::ExitCode;
use std::sync::mpsc;
use std::thread::JoinHandle;
use std::time::{Duration, Instant};

const CUSTOM_METRICS: &str = "/run/scaleinfra/metrics";

fn hostname() -> String {
    std::fs::read_to_string("/proc/sys/kernel/hostname")
        .map(|h| h.trim().to_owned())
        .unwrap_or_default()
}

/// The first non-loopback IPv4 address (from `/proc/net/fib_trie` is overkill; the route to the
/// orchestrator tells it): connect a UDP socket and read its local address.
fn local_ip(url: &str) -> Option<String> {
    let host = url.strip_prefix("http://")?.split('/').next()?;
    let sock = std::net::UdpSocket::bind("0.0.0.0:0").ok()?;
    sock.connect(host).ok()?;
    Some(sock.local_addr().ok()?.ip().to_string())
}

/// The worker stopped taking jobs: it ends only when the appliance is revoked (or on a panic).
fn worker_gone(worker: JoinHandle<()>) -> ExitCode {
    if worker.join().is_ok() {
        eprintln!("scaleinfra-agent: the job worker stopped; exiting");
        ExitCode::SUCCESS
    } else {
        eprintln!("scaleinfra-agent: the job worker panicked; exiting");
        ExitCode::FAILURE
    }
}

/// `emit <name> [detail…]`: exit 0 once recorded; 64 (EX_USAGE) without a name; 2 without an
/// identity; 65 (EX_DATAERR) when refused as it is; 75 (EX_TEMPFAIL) when too many were posted (try
/// again later); 1 otherwise.
fn emit(args: &[String]) -> ExitCode {
    let Some(name) = args.first() else {
        eprintln!("usage: scaleinfra-agent emit <name> [detail…]");
        return ExitCode::from(64);
    };
    let Some(id) = identity::for_emit() else {
        eprintln!(
            "scaleinfra-agent emit: no identity (si.token/si.url on the kernel command line, or SI_TOKEN/SI_URL)"
        );
        return ExitCode::from(2);
    };
    let req = EventRequest {
        name: name.clone(),
        detail: args[1..].join(" "),
    };
    match Client::new(id).emit(&req) {
        Ok(r) => {
            println!("{} {}", r.type_, r.event_id);
            ExitCode::SUCCESS
        }
        Err(EmitError::Invalid(why)) => {
            eprintln!("scaleinfra-agent emit: refused: {why}");
            ExitCode::from(65)
        }
        Err(EmitError::TooMany(after)) => {
            let wait = after.map_or_else(String::new, |s| format!("; try again in {s} s"));
            eprintln!("scaleinfra-agent emit: too many events{wait}");
            ExitCode::from(75)
        }
        Err(EmitError::Failed(why)) => {
            eprintln!("scaleinfra-agent emit: {why}");
            ExitCode::FAILURE
        }
    }
}

fn main() -> ExitCode {
    let args: Vec<String> = std::env::args().collect();
    if args.get(1).map(String::as_str) == Some("emit") {
        return emit(&args[2..]);
    }
    let Some(id) = identity::discover() else {
        eprintln!(
            "scaleinfra-agent: no identity (si.token/si.url on the kernel command line, or SI_TOKEN/SI_URL)"
        );
        return ExitCode::from(2);
    };
    identity::share(&id);
    let client = Client::new(id.clone());
    let started = Instant::now();
    let mut backoff = Duration::from_secs(1);
    let plan = loop {
        let req = AnnounceRequest {
            agent_version: env!("CARGO_PKG_VERSION").into(),
            hostname: hostname(),
            ip: local_ip(&id.url),
        };
        match client.announce(&req) {
            Ok(r) => break r,
            Err(CallError::Revoked) => return ExitCode::SUCCESS,
            Err(e) => {
                eprintln!("scaleinfra-agent: announce failed ({e:?}); retrying in {backoff:?}");
                std::thread::sleep(backoff);
                backoff = (backoff * 2).min(Duration::from_secs(30));
            }
        }
    };
    eprintln!("scaleinfra-agent: announced as {}", plan.appliance_id);
    let heartbeat = Duration::from_secs(u64::from(plan.heartbeat_secs.max(1)));
    let every_metrics =
        u64::from(plan.metrics_secs.max(1)).div_ceil(u64::from(plan.heartbeat_secs.max(1)));
    let mut sampler = metrics::Sampler::new(CUSTOM_METRICS);
    // Jobs run on their own thread so that a long script never stops the heartbeats.
    let (to_worker, from_main) = mpsc::channel();
    let worker_client = Client::new(id.clone());
    let workdir = jobs::workdir();
    let worker = match std::thread::Builder::new()
        .name("jobs".into())
        .spawn(move || worker::work(&worker_client, from_main, &workdir))
    {
        Ok(w) => w,
        Err(e) => {
            eprintln!("scaleinfra-agent: cannot start the job worker: {e}");
            return ExitCode::FAILURE;
        }
    };
    let mut handed_over = RecentIds::new(RECENT_IDS);
    let mut tick: u64 = 0;
    loop {
        std::thread::sleep(heartbeat);
        tick += 1;
        let mut outcome = client.heartbeat(&HeartbeatRequest {
            uptime_secs: started.elapsed().as_secs(),
        });
        if outcome.is_ok() && tick.is_multiple_of(every_metrics) {
            outcome = client.metrics(&sampler.sample());
        }
        let mut pulled = Vec::new();
        if outcome.is_ok() {
            outcome = client.jobs().map(|r| pulled = r.jobs);
        }
        for job in pulled {
            if handed_over.insert(&job.id) && to_worker.send(job).is_err() {
                return worker_gone(worker);
            }
        }
        match outcome {
            Ok(()) => {}
            Err(CallError::Revoked) => {
                eprintln!("scaleinfra-agent: the appliance is terminated; exiting");
                return ExitCode::SUCCESS;
            }
            Err(e) => eprintln!("scaleinfra-agent: {e:?}"),
        }
    }
}
