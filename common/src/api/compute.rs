//! Compute pools and KVM hosts (operators only).

use crate::lifecycle::HostState;
use crate::{HostId, PoolId};
use chrono::{DateTime, Utc};
use serde::{Deserialize, Serialize};
use std::collections::BTreeMap;
use validator::Validate;

/// How placement weighs the hosts that fit: spread load evenly, or pack hosts full.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
#[serde(rename_all = "snake_case")]
pub enum PlacementStrategy {
    #[default]
    Spread,
    Pack,
}

impl PlacementStrategy {
    pub fn as_str(self) -> &'static str {
        match self {
            Self::Spread => "spread",
            Self::Pack => "pack",
        }
    }
}

impl std::str::FromStr for PlacementStrategy {
    type Err = crate::roles::UnknownVariant;
    fn from_str(s: &str) -> Result<Self, Self::Err> {
        match s {
            "spread" => Ok(Self::Spread),
            "pack" => Ok(Self::Pack),
            _ => Err(crate::roles::UnknownVariant {
                what: "placement strategy",
                value: s.into(),
            }),
        }
    }
}

/// Overcommit ratios in percent (100 = none; 400 = four virtual per physical).
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize, Deserialize, Validate)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
#[serde(deny_unknown_fields)]
pub struct Overcommit {
    #[validate(range(min = 100, max = 1600))]
    #[cfg_attr(feature = "openapi", schema(minimum = 100, maximum = 1600))]
    pub cpu_pct: u32,
    #[validate(range(min = 100, max = 400))]
    #[cfg_attr(feature = "openapi", schema(minimum = 100, maximum = 400))]
    pub ram_pct: u32,
    #[validate(range(min = 100, max = 400))]
    #[cfg_attr(feature = "openapi", schema(minimum = 100, maximum = 400))]
    pub disk_pct: u32,
}

impl Default for Overcommit {
    fn default() -> Self {
        Overcommit {
            cpu_pct: 400,
            ram_pct: 100,
            disk_pct: 100,
        }
    }
}

#[derive(Clone, Debug, Serialize, Deserialize, Validate)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
#[serde(deny_unknown_fields)]
pub struct CreatePoolRequest {
    #[validate(custom(function = "crate::validate::name"))]
    #[cfg_attr(
        feature = "openapi",
        schema(
            min_length = 1,
            max_length = 100,
            pattern = r"^[^\u0000-\u001f\u007f-\u009f]*[^\s\u0000-\u001f\u007f-\u009f][^\u0000-\u001f\u007f-\u009f]*$"
        )
    )]
    pub name: String,
    #[serde(default)]
    #[validate(custom(function = "crate::validate::description"))]
    #[cfg_attr(feature = "openapi", schema(max_length = 2000))]
    pub description: String,
    #[serde(default)]
    pub strategy: PlacementStrategy,
    #[serde(default)]
    #[validate(nested)]
    pub overcommit: Overcommit,
    /// Where the pool's images live on each of its hosts (default `/var/lib/scaleinfra/images`).
    #[serde(default = "default_image_dir")]
    #[validate(custom(function = "crate::validate::image_dir"))]
    #[cfg_attr(
        feature = "openapi",
        schema(max_length = 512, pattern = r"^(/[A-Za-z0-9_+-][A-Za-z0-9._+-]*)+$")
    )]
    pub image_dir: String,
    /// The guests' network: a bridge on every host and the range their addresses come from. Without
    /// one, guests get restricted user-mode networking that reaches the agent API only.
    #[serde(default)]
    #[validate(nested)]
    pub network: Option<PoolNetwork>,
}

/// A pool's guest network. Every host of the pool has `bridge`; each appliance placed in the pool
/// gets an address of `cidr` of its own (IPAM: never handed out twice, released when the appliance
/// is terminated), which the guest learns from its kernel command line (`si.ip=ADDR/PREFIX
/// si.gw=GATEWAY`); Script Variables' `.ip` and `.ips` are these addresses.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize, Validate)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
#[serde(deny_unknown_fields)]
pub struct PoolNetwork {
    /// The Linux bridge the guests' interfaces join on each host.
    #[validate(custom(function = "crate::validate::bridge_name"))]
    #[cfg_attr(
        feature = "openapi",
        schema(
            min_length = 1,
            max_length = 15,
            pattern = r"^[A-Za-z0-9_-][A-Za-z0-9_.-]*$"
        )
    )]
    pub bridge: String,
    /// The IPv4 network of the guests, `ADDRESS/PREFIX` with the network's own address and a prefix
    /// of 16 to 30, e.g. `10.77.0.0/24`.
    #[validate(custom(function = "crate::validate::guest_cidr"))]
    #[cfg_attr(feature = "openapi", schema(max_length = 18, example = "10.77.0.0/24"))]
    pub cidr: String,
    /// The guests' default route, an address of `cidr` (never handed to a guest). Default: the
    /// first address of `cidr`.
    #[serde(default)]
    #[cfg_attr(feature = "openapi", schema(value_type = Option<String>, format = Ipv4))]
    pub gateway: Option<std::net::Ipv4Addr>,
    /// How guests on this network reach the agent API, e.g. the gateway's address and the
    /// server's port (required: the server's own `agent_url` names an address of user-mode
    /// networking, which a guest on a bridge does not have).
    #[validate(custom(function = "crate::validate::agent_url"))]
    #[cfg_attr(
        feature = "openapi",
        schema(max_length = 200, example = "http://10.77.0.1:8080")
    )]
    pub agent_url: String,
}

impl PoolNetwork {
    /// The network, when `cidr` is valid.
    pub fn net(&self) -> Option<ipnet::Ipv4Net> {
        crate::validate::parse_guest_cidr(&self.cidr)
    }

    /// The gateway: the one given, or the network's first address.
    pub fn gateway(&self) -> Option<std::net::Ipv4Addr> {
        self.gateway
            .or_else(|| self.net().and_then(|n| n.hosts().next()))
    }

    /// Why guests could not reach `agent_url`, if they could not: an address of the range that is
    /// not the gateway is a guest's (IPAM may hand it out) and its filter lets no neighbour in.
    pub fn agent_problem(&self) -> Option<String> {
        let rest = self
            .agent_url
            .strip_prefix("http://")
            .or_else(|| self.agent_url.strip_prefix("https://"))?;
        let authority = rest.split('/').next()?;
        let host = authority.rsplit_once(':').map_or(authority, |(h, _)| h);
        let ip: std::net::Ipv4Addr = host.parse().ok()?;
        let net = self.net()?;
        (net.contains(&ip) && Some(ip) != self.gateway()).then(|| {
            format!(
                "{ip} is an address of {net} but not its gateway: guests reach the agent API at the gateway or beyond the range"
            )
        })
    }

    /// Why the gateway cannot serve `cidr`, if it cannot (it must be one of its host addresses).
    pub fn gateway_problem(&self) -> Option<String> {
        let (net, gw) = (self.net()?, self.gateway()?);
        (!net.contains(&gw) || gw == net.network() || gw == net.broadcast())
            .then(|| format!("{gw} is not a host address of {net}"))
    }
}

/// The image directory of a pool created without one.
pub const DEFAULT_IMAGE_DIR: &str = "/var/lib/scaleinfra/images";

fn default_image_dir() -> String {
    DEFAULT_IMAGE_DIR.into()
}

#[derive(Clone, Debug, Default, Serialize, Deserialize, Validate)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
#[serde(deny_unknown_fields)]
pub struct UpdatePoolRequest {
    #[validate(custom(function = "crate::validate::name"))]
    #[cfg_attr(
        feature = "openapi",
        schema(
            min_length = 1,
            max_length = 100,
            pattern = r"^[^\u0000-\u001f\u007f-\u009f]*[^\s\u0000-\u001f\u007f-\u009f][^\u0000-\u001f\u007f-\u009f]*$"
        )
    )]
    pub name: Option<String>,
    #[validate(custom(function = "crate::validate::description"))]
    #[cfg_attr(feature = "openapi", schema(max_length = 2000))]
    pub description: Option<String>,
    pub strategy: Option<PlacementStrategy>,
    #[validate(nested)]
    pub overcommit: Option<Overcommit>,
    #[validate(custom(function = "crate::validate::image_dir"))]
    #[cfg_attr(
        feature = "openapi",
        schema(max_length = 512, pattern = r"^(/[A-Za-z0-9_+-][A-Za-z0-9._+-]*)+$")
    )]
    pub image_dir: Option<String>,
    /// A new guest network, or `null` for user-mode networking again; refused while appliances
    /// hold addresses of the pool's network.
    #[serde(default, deserialize_with = "crate::api::page::present")]
    #[validate(nested)]
    #[cfg_attr(feature = "openapi", schema(value_type = Option<PoolNetwork>, nullable = true))]
    pub network: Option<Option<PoolNetwork>>,
}

#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
pub struct PoolResponse {
    pub id: PoolId,
    pub name: String,
    pub description: String,
    pub strategy: PlacementStrategy,
    pub overcommit: Overcommit,
    pub image_dir: String,
    pub network: Option<PoolNetwork>,
    /// Addresses of `network` held by appliances now.
    pub addresses_in_use: u64,
    /// Addresses of `network` a guest may get, held or not.
    pub addresses_total: u64,
    #[serde(serialize_with = "crate::time::rfc3339")]
    pub created_at: DateTime<Utc>,
    #[serde(serialize_with = "crate::time::rfc3339")]
    pub updated_at: DateTime<Utc>,
}

/// An address of a pool's network and the appliance that holds it.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
pub struct AddressResponse {
    #[cfg_attr(feature = "openapi", schema(value_type = String, format = Ipv4))]
    pub address: std::net::Ipv4Addr,
    pub appliance_id: crate::ApplianceId,
    #[serde(serialize_with = "crate::time::rfc3339")]
    pub allocated_at: DateTime<Utc>,
}

/// Physical resources of a host.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize, Deserialize, Validate)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
#[serde(deny_unknown_fields)]
pub struct Capacity {
    #[validate(range(min = 1, max = 4096))]
    #[cfg_attr(feature = "openapi", schema(minimum = 1, maximum = 4096))]
    pub vcpus: u32,
    #[validate(range(min = 256, max = 67_108_864))]
    #[cfg_attr(feature = "openapi", schema(minimum = 256, maximum = 67_108_864))]
    pub memory_mib: u32,
    #[validate(range(min = 1, max = 1_048_576))]
    #[cfg_attr(feature = "openapi", schema(minimum = 1, maximum = 1_048_576))]
    pub disk_gib: u32,
}

#[derive(Clone, Debug, Serialize, Deserialize, Validate)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
#[serde(deny_unknown_fields)]
pub struct CreateHostRequest {
    #[validate(custom(function = "crate::validate::name"))]
    #[cfg_attr(
        feature = "openapi",
        schema(
            min_length = 1,
            max_length = 100,
            pattern = r"^[^\u0000-\u001f\u007f-\u009f]*[^\s\u0000-\u001f\u007f-\u009f][^\u0000-\u001f\u007f-\u009f]*$"
        )
    )]
    pub name: String,
    /// libvirt URI (`qemu+ssh://root@kvm1/system`, `qemu+tcp://…`, `qemu:///system`, `test:///…`) or
    /// `sim://NAME` for a host of the simulated pool.
    #[validate(custom(function = "crate::validate::hypervisor_uri"))]
    #[cfg_attr(
        feature = "openapi",
        schema(
            max_length = 512,
            pattern = r"^(sim://|test://|qemu://|qemu\+ssh://|qemu\+tcp://|qemu\+tls://|qemu\+unix://)[^\s\u0000-\u001f\u007f-\u009f]+$"
        )
    )]
    pub uri: String,
    #[validate(nested)]
    pub capacity: Capacity,
    #[serde(default)]
    #[validate(custom(function = "crate::validate::labels"))]
    #[cfg_attr(feature = "openapi", schema(schema_with = crate::validate::labels_schema))]
    pub labels: BTreeMap<String, String>,
}

#[derive(Clone, Debug, Default, Serialize, Deserialize, Validate)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
#[serde(deny_unknown_fields)]
pub struct UpdateHostRequest {
    #[validate(nested)]
    pub capacity: Option<Capacity>,
    #[validate(custom(function = "crate::validate::labels"))]
    #[cfg_attr(feature = "openapi", schema(schema_with = crate::validate::labels_or_null_schema))]
    pub labels: Option<BTreeMap<String, String>>,
    /// `maintenance` (keep what runs, place nothing new), `fenced`, or `up` to return the host.
    pub state: Option<HostState>,
}

#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
pub struct HostResponse {
    pub id: HostId,
    pub pool_id: PoolId,
    pub name: String,
    pub uri: String,
    pub capacity: Capacity,
    pub labels: BTreeMap<String, String>,
    pub state: HostState,
    /// Resources held by appliances on this host.
    pub used: Usage,
    pub appliances: u32,
    #[serde(serialize_with = "crate::time::rfc3339_opt")]
    pub last_seen_at: Option<DateTime<Utc>>,
    #[serde(serialize_with = "crate::time::rfc3339")]
    pub created_at: DateTime<Utc>,
    #[serde(serialize_with = "crate::time::rfc3339")]
    pub updated_at: DateTime<Utc>,
}

/// Resources that may be zero (usage).
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq, Serialize, Deserialize)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
pub struct Usage {
    pub vcpus: u32,
    pub memory_mib: u32,
    pub disk_gib: u32,
}

/// Faults injected into the simulated pool.
#[derive(Clone, Copy, Debug, PartialEq, Serialize, Deserialize, Validate)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
#[serde(deny_unknown_fields)]
pub struct SimFaults {
    /// New domains crash instead of booting.
    pub fail_boots: bool,
    /// CloudScripts the simulated agents run fail (exit 1).
    #[serde(default)]
    pub fail_scripts: bool,
    /// CloudScripts the simulated agents take never report a result (a hung script).
    #[serde(default)]
    pub hang_scripts: bool,
    /// Slow-down factor for boots and driver calls (1 = normal).
    #[validate(range(min = 1.0, max = 100.0))]
    #[cfg_attr(feature = "openapi", schema(minimum = 1.0, maximum = 100.0))]
    pub slow: f64,
}

/// The load knob of a group in the simulated pool: drives its appliances' synthetic metrics.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize, Deserialize, Validate)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
#[serde(deny_unknown_fields)]
pub struct SimLoad {
    #[validate(range(max = 100))]
    #[cfg_attr(feature = "openapi", schema(maximum = 100))]
    pub load_pct: u32,
}
