//! The appliance agent: a small static binary inside every appliance. It reads its identity from the
//! kernel command line (or the environment), announces itself, heartbeats, reports metrics (CPU, load,
//! memory, network, plus custom metrics scripts write to a file), pulls jobs, runs them on a worker thread
//! and reports their results — all over plain HTTP to
//! the orchestrator's agent API, so it works through NAT.

pub mod client;
pub mod identity;
pub mod jobs;
pub mod metrics;
mod output;
mod script;
pub mod worker;
