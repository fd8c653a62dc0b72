//! The hypervisor façade: one async trait over libvirt hosts and the simulated pool. Every call names
//! the host by its URI; drivers are chosen by the URI's scheme (`sim://` → the simulated pool, anything
//! else → libvirt).

pub mod images;
pub mod libvirt;
pub mod sim;

use async_trait::async_trait;
use common::ApplianceId;
use common::api::ImageFormat;
use std::sync::Arc;

/// A cause kept as the source of a driver error.
pub type Cause = Box<dyn std::error::Error + Send + Sync>;

/// What a driver call can fail with. Every variant keeps its cause as the error's source, so logs and
/// an application's `last_error` show the whole chain.
#[derive(Debug, thiserror::Error)]
pub enum DriverError {
    /// The host does not answer (down, unreachable, daemon gone).
    #[error("host {uri} is unreachable")]
    Unreachable {
        uri: String,
        #[source]
        source: Cause,
    },
    /// A call did not finish in time (the host hangs); the call may still complete on the host.
    #[error("{call} on {uri} did not answer within {after:?}")]
    Timeout {
        uri: String,
        call: &'static str,
        after: std::time::Duration,
    },
    #[error("domain {0} does not exist")]
    NoSuchDomain(String),
    /// The request cannot work (bad image, invalid XML…): retrying will not help.
    #[error("{what}")]
    Refused {
        what: String,
        #[source]
        source: Option<Cause>,
    },
    /// A libvirt call failed.
    #[error("libvirt {call} failed")]
    Libvirt {
        call: &'static str,
        #[source]
        source: virt::error::Error,
    },
    #[error("driver task failed")]
    Join(#[from] tokio::task::JoinError),
}

impl DriverError {
    pub fn is_unreachable(&self) -> bool {
        matches!(
            self,
            DriverError::Unreachable { .. } | DriverError::Timeout { .. }
        )
    }

    /// A refusal without an underlying error.
    pub fn refused(what: impl Into<String>) -> Self {
        DriverError::Refused {
            what: what.into(),
            source: None,
        }
    }

    /// A refusal caused by `source`.
    pub fn refused_by(what: impl Into<String>, source: impl Into<Cause>) -> Self {
        DriverError::Refused {
            what: what.into(),
            source: Some(source.into()),
        }
    }

    pub fn unreachable(uri: &str, source: impl Into<Cause>) -> Self {
        DriverError::Unreachable {
            uri: uri.to_owned(),
            source: source.into(),
        }
    }
}

/// A registered image as the driver needs it: a file of the pool's image directory, with the checksum
/// and size it must have. Never a path: the driver joins `file` to the spec's `image_dir` only after
/// checking both (see [`images`]).
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct ImageRef {
    pub id: common::ImageId,
    pub file: String,
    pub format: ImageFormat,
    pub sha256: String,
    pub size_bytes: u64,
}

/// How an appliance's VM is built.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct DomainSpec {
    /// `si-<appliance id>`: deterministic, so a retried create finds the domain it made.
    pub name: String,
    pub appliance_id: ApplianceId,
    pub group_id: common::GroupId,
    pub vcpus: u32,
    pub memory_mib: u32,
    pub disk_gib: u32,
    /// The image directory of the host's pool (operator-set).
    pub image_dir: String,
    /// The disk image the appliance's disk is a copy-on-write overlay of.
    pub disk: Option<ImageRef>,
    /// Direct kernel boot.
    pub kernel: Option<ImageRef>,
    pub initrd: Option<ImageRef>,
    /// The agent's credentials and where to reach the orchestrator, passed to the guest.
    pub agent_token: String,
    pub agent_url: String,
    /// The guest's interface on its pool's bridge network with its IPAM address; none: the
    /// driver's own networking (restricted user mode).
    pub nic: Option<Nic>,
}

/// A guest interface on a bridge with a fixed address, inside its application's peer filter.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Nic {
    pub bridge: String,
    pub address: std::net::Ipv4Addr,
    pub prefix: u8,
    pub gateway: Option<std::net::Ipv4Addr>,
    pub peers: PeerFilter,
}

/// Whom the guests of one application on a pool network exchange IPv4 packets with: each other
/// (`peers`, the addresses its appliances hold in the pool), the gateway, and addresses outside the
/// pool's range (through the gateway). Guests of other applications, other tenants' included,
/// share the bridge but not a packet. One per application and host; setting it again with other
/// peers changes it for every guest of the application on that host.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct PeerFilter {
    pub application_id: common::ApplicationId,
    pub network: ipnet::Ipv4Net,
    pub gateway: Option<std::net::Ipv4Addr>,
    /// Sorted, without duplicates.
    pub peers: Vec<std::net::Ipv4Addr>,
}

/// A domain's run state as the hypervisor reports it.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub enum DomainState {
    Running,
    Paused,
    ShutOff,
    Crashed,
    Other,
}

#[derive(Clone, Debug, PartialEq, Eq)]
pub struct DomainInfo {
    pub name: String,
    pub state: DomainState,
}

/// A host's hardware as the hypervisor reports it.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct HostInfo {
    pub hostname: String,
    pub cpus: u32,
    pub memory_mib: u64,
    pub domains: u32,
}

/// Counters of one domain.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct DomainStats {
    pub cpu_time_ns: u64,
    pub memory_kib: u64,
    pub net_rx_bytes: u64,
    pub net_tx_bytes: u64,
    pub disk_read_bytes: u64,
    pub disk_write_bytes: u64,
}

/// One KVM host pool technology. Calls are idempotent where the name says so; blocking work runs off
/// the async executor.
#[async_trait]
pub trait Hypervisor: Send + Sync {
    /// Hardware and liveness: an error means the host is not usable now.
    async fn host_info(&self, uri: &str) -> Result<HostInfo, DriverError>;
    /// Define and start a domain. Idempotent: an existing domain of that name is started if needed.
    async fn create(&self, uri: &str, spec: &DomainSpec) -> Result<(), DriverError>;
    /// Start a defined, shut-off domain.
    async fn start(&self, uri: &str, name: &str) -> Result<(), DriverError>;
    /// Ask the guest to shut down (ACPI); returns at once.
    async fn stop(&self, uri: &str, name: &str) -> Result<(), DriverError>;
    /// Power off at once. Idempotent (an absent or stopped domain is fine).
    async fn destroy(&self, uri: &str, name: &str) -> Result<(), DriverError>;
    /// Remove the definition and the domain's disk overlay. Idempotent.
    async fn undefine(&self, uri: &str, name: &str) -> Result<(), DriverError>;
    /// Every domain on the host with its state.
    async fn list(&self, uri: &str) -> Result<Vec<DomainInfo>, DriverError>;
    async fn stats(&self, uri: &str, name: &str) -> Result<DomainStats, DriverError>;
    /// Define or change an application's peer filter on the host (idempotent; [`create`] of a
    /// domain with a [`Nic`] sets it first).
    ///
    /// [`create`]: Hypervisor::create
    async fn set_peers(&self, uri: &str, filter: &PeerFilter) -> Result<(), DriverError>;
}

/// The drivers of an installation, chosen per host by URI scheme.
#[derive(Clone)]
pub struct Drivers {
    pub sim: Option<Arc<sim::SimCloud>>,
    pub libvirt: Arc<dyn Hypervisor>,
}

impl Drivers {
    pub fn new(sim: Option<Arc<sim::SimCloud>>, libvirt: Arc<libvirt::LibvirtDriver>) -> Self {
        Drivers {
            sim,
            libvirt: Arc::new(libvirt),
        }
    }

    /// The driver for a host URI.
    pub fn for_uri(&self, uri: &str) -> Result<Arc<dyn Hypervisor>, DriverError> {
        if uri.starts_with("sim://") {
            return match &self.sim {
                Some(s) => Ok(s.clone() as Arc<dyn Hypervisor>),
                None => Err(DriverError::unreachable(
                    uri,
                    "this installation runs no simulated pool",
                )),
            };
        }
        Ok(self.libvirt.clone() as Arc<dyn Hypervisor>)
    }
}
