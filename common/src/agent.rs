//! The appliance agent protocol (`/agent/v1`): announce, heartbeat, metrics, jobs. Spoken by the agent
//! binary inside every appliance and, in-process, by the simulated pool.

use crate::ApplianceId;
use serde::{Deserialize, Serialize};
use std::collections::BTreeMap;

/// The header-less bearer token an agent presents: `<appliance id>.<mac>`.
pub const TOKEN_HEADER_PREFIX: &str = "Bearer ";

#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
#[serde(deny_unknown_fields)]
pub struct AnnounceRequest {
    pub agent_version: String,
    pub hostname: String,
    /// The address the appliance serves on, as the guest sees it.
    pub ip: Option<String>,
}

#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
pub struct AnnounceResponse {
    pub appliance_id: ApplianceId,
    pub heartbeat_secs: u32,
    pub metrics_secs: u32,
}

#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
#[serde(deny_unknown_fields)]
pub struct HeartbeatRequest {
    pub uptime_secs: u64,
}

/// Standard metrics plus the custom ones scripts write to the agent's metrics file.
#[derive(Clone, Debug, Default, PartialEq, Serialize, Deserialize)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
#[serde(deny_unknown_fields)]
pub struct MetricsReport {
    pub cpu_pct: f64,
    pub load1: f64,
    pub mem_used_mib: u64,
    pub mem_total_mib: u64,
    pub net_rx_bytes: u64,
    pub net_tx_bytes: u64,
    #[serde(default)]
    pub custom: BTreeMap<String, f64>,
}

/// Work for the agent (CloudScripts; filled by the events issue).
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
pub struct JobsResponse {
    pub jobs: Vec<Job>,
}

#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
pub struct Job {
    pub id: String,
    pub script: String,
}
