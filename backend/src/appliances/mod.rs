//! Appliances (the VMs of applications): listing, transitions, events, and the stop / start / reboot /
//! terminate requests the orchestrator carries out.

pub mod routes;
pub mod service;
