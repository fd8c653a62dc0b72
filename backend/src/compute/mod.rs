//! Compute pools, KVM hosts and the simulated pool's fault injection (operators only).

pub mod routes;
pub mod service;
