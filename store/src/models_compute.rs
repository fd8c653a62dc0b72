//! Records of the compute side: pools, hosts and templates.

use crate::StoreError;
use crate::models::parse;
use crate::schema::*;
use crate::time::{Ts, from_db, to_db};
use chrono::{DateTime, Utc};
use common::api::{
    ApplianceRole, Capacity, Flavor, Overcommit, PlacementStrategy, PoolNetwork, PoolResponse,
    TemplateResponse,
};
use common::api::{ImageFormat, ImageKind, ImageResponse};
use common::{HostId, HostState, ImageId, PoolId, TemplateId, TenantId};
use diesel::prelude::*;
use std::collections::BTreeMap;

pub(crate) fn u32_of(what: &str, v: i64) -> Result<u32, StoreError> {
    u32::try_from(v).map_err(|_| StoreError::Corrupt(format!("{what} {v}")))
}

pub(crate) fn opt_parse<T: std::str::FromStr>(
    what: &str,
    s: Option<&str>,
) -> Result<Option<T>, StoreError> {
    s.map(|v| parse(what, v)).transpose()
}

pub(crate) fn i32_of(v: u32) -> i32 {
    i32::try_from(v).unwrap_or(i32::MAX)
}

pub(crate) fn json_of<T: serde::de::DeserializeOwned>(
    what: &'static str,
    s: &str,
) -> Result<T, StoreError> {
    serde_json::from_str(s).map_err(|source| StoreError::Json { what, source })
}

pub(crate) fn json<T: serde::Serialize>(v: &T) -> String {
    serde_json::to_string(v).unwrap_or_default()
}

// ---------------------------------------------------------------- pools

#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Pool {
    pub id: PoolId,
    pub name: String,
    pub description: String,
    pub strategy: PlacementStrategy,
    pub overcommit: Overcommit,
    /// Where the pool's images live on each of its hosts (operator-set, validated).
    pub image_dir: String,
    /// The guests' bridge network and address range (IPAM); none: user-mode networking.
    pub network: Option<PoolNetwork>,
    pub created_at: DateTime<Utc>,
    pub updated_at: DateTime<Utc>,
}

#[derive(Queryable, Selectable, Insertable, AsChangeset)]
#[diesel(table_name = compute_pools, treat_none_as_null = true)]
pub(crate) struct PoolRow {
    pub id: String,
    pub name: String,
    pub description: String,
    pub strategy: String,
    pub cpu_overcommit_pct: i32,
    pub ram_overcommit_pct: i32,
    pub disk_overcommit_pct: i32,
    pub image_dir: String,
    pub created_at: Ts,
    pub updated_at: Ts,
    pub network_bridge: Option<String>,
    pub network_cidr: Option<String>,
    pub network_gateway: Option<String>,
    pub network_agent_url: Option<String>,
}

impl TryFrom<PoolRow> for Pool {
    type Error = StoreError;
    fn try_from(r: PoolRow) -> Result<Self, StoreError> {
        Ok(Pool {
            id: parse("pool id", &r.id)?,
            strategy: parse("strategy", &r.strategy)?,
            overcommit: Overcommit {
                cpu_pct: u32_of("cpu overcommit", r.cpu_overcommit_pct.into())?,
                ram_pct: u32_of("ram overcommit", r.ram_overcommit_pct.into())?,
                disk_pct: u32_of("disk overcommit", r.disk_overcommit_pct.into())?,
            },
            name: r.name,
            description: r.description,
            image_dir: r.image_dir,
            network: match (r.network_bridge, r.network_cidr) {
                (Some(bridge), Some(cidr)) => Some(PoolNetwork {
                    bridge,
                    cidr,
                    gateway: r
                        .network_gateway
                        .map(|g| parse("gateway", &g))
                        .transpose()?,
                    agent_url: r.network_agent_url.ok_or_else(|| {
                        StoreError::Corrupt(format!("agent url of the network of pool {}", r.id))
                    })?,
                }),
                _ => None,
            },
            created_at: from_db(r.created_at),
            updated_at: from_db(r.updated_at),
        })
    }
}

impl From<&Pool> for PoolRow {
    fn from(p: &Pool) -> Self {
        PoolRow {
            id: p.id.to_string(),
            name: p.name.clone(),
            description: p.description.clone(),
            strategy: p.strategy.as_str().into(),
            cpu_overcommit_pct: i32_of(p.overcommit.cpu_pct),
            ram_overcommit_pct: i32_of(p.overcommit.ram_pct),
            disk_overcommit_pct: i32_of(p.overcommit.disk_pct),
            image_dir: p.image_dir.clone(),
            created_at: to_db(p.created_at),
            updated_at: to_db(p.updated_at),
            network_bridge: p.network.as_ref().map(|n| n.bridge.clone()),
            network_cidr: p.network.as_ref().map(|n| n.cidr.clone()),
            network_gateway: p
                .network
                .as_ref()
                .and_then(|n| n.gateway)
                .map(|g| g.to_string()),
            network_agent_url: p.network.as_ref().map(|n| n.agent_url.clone()),
        }
    }
}

impl Pool {
    /// The API's view of the pool, with how many of its network's addresses are held.
    pub fn response(self, addresses_in_use: u64) -> PoolResponse {
        let addresses_total = self.network.as_ref().map_or(0, |n| {
            n.net()
                .map_or(0, |net| crate::repo::ipam::capacity(net, n.gateway()))
        });
        PoolResponse {
            id: self.id,
            name: self.name,
            description: self.description,
            strategy: self.strategy,
            overcommit: self.overcommit,
            image_dir: self.image_dir,
            network: self.network,
            addresses_in_use,
            addresses_total,
            created_at: self.created_at,
            updated_at: self.updated_at,
        }
    }
}

// ---------------------------------------------------------------- hosts

#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Host {
    pub id: HostId,
    pub pool_id: PoolId,
    pub name: String,
    pub uri: String,
    pub capacity: Capacity,
    pub labels: BTreeMap<String, String>,
    pub state: HostState,
    pub missed_checks: u32,
    pub last_seen_at: Option<DateTime<Utc>>,
    pub created_at: DateTime<Utc>,
    pub updated_at: DateTime<Utc>,
}

#[derive(Queryable, Selectable, Insertable, AsChangeset)]
#[diesel(table_name = hosts, treat_none_as_null = true)]
pub(crate) struct HostRow {
    pub id: String,
    pub pool_id: String,
    pub name: String,
    pub uri: String,
    pub vcpus: i32,
    pub memory_mib: i64,
    pub disk_gib: i32,
    pub labels: String,
    pub state: String,
    pub missed_checks: i32,
    pub last_seen_at: Option<Ts>,
    pub created_at: Ts,
    pub updated_at: Ts,
}

impl TryFrom<HostRow> for Host {
    type Error = StoreError;
    fn try_from(r: HostRow) -> Result<Self, StoreError> {
        Ok(Host {
            id: parse("host id", &r.id)?,
            pool_id: parse("pool id", &r.pool_id)?,
            capacity: Capacity {
                vcpus: u32_of("vcpus", r.vcpus.into())?,
                memory_mib: u32_of("memory", r.memory_mib)?,
                disk_gib: u32_of("disk", r.disk_gib.into())?,
            },
            labels: json_of("labels", &r.labels)?,
            state: parse("host state", &r.state)?,
            missed_checks: u32_of("missed checks", r.missed_checks.into())?,
            last_seen_at: r.last_seen_at.map(from_db),
            name: r.name,
            uri: r.uri,
            created_at: from_db(r.created_at),
            updated_at: from_db(r.updated_at),
        })
    }
}

impl From<&Host> for HostRow {
    fn from(h: &Host) -> Self {
        HostRow {
            id: h.id.to_string(),
            pool_id: h.pool_id.to_string(),
            name: h.name.clone(),
            uri: h.uri.clone(),
            vcpus: i32_of(h.capacity.vcpus),
            memory_mib: i64::from(h.capacity.memory_mib),
            disk_gib: i32_of(h.capacity.disk_gib),
            labels: json(&h.labels),
            state: h.state.as_str().into(),
            missed_checks: i32_of(h.missed_checks),
            last_seen_at: h.last_seen_at.map(to_db),
            created_at: to_db(h.created_at),
            updated_at: to_db(h.updated_at),
        }
    }
}

// ---------------------------------------------------------------- templates

#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Template {
    pub id: TemplateId,
    pub tenant_id: Option<TenantId>,
    pub name: String,
    pub role: ApplianceRole,
    pub description: String,
    /// The pool of its images (`None`: a template without images, which cannot be deployed).
    pub pool_id: Option<PoolId>,
    pub image_id: Option<ImageId>,
    pub kernel_image_id: Option<ImageId>,
    pub initrd_image_id: Option<ImageId>,
    pub flavor: Flavor,
    pub ports: Vec<u16>,
    pub install_scripts: Vec<String>,
    pub metrics: Vec<String>,
    pub created_at: DateTime<Utc>,
}

#[derive(Queryable, Selectable, Insertable)]
#[diesel(table_name = appliance_templates)]
pub(crate) struct TemplateRow {
    pub id: String,
    pub tenant_id: Option<String>,
    pub scope: String,
    pub name: String,
    pub role: String,
    pub description: String,
    pub pool_id: Option<String>,
    pub image_id: Option<String>,
    pub kernel_image_id: Option<String>,
    pub initrd_image_id: Option<String>,
    pub vcpus: i32,
    pub memory_mib: i32,
    pub disk_gib: i32,
    pub ports: String,
    pub install_scripts: String,
    pub metrics: String,
    pub created_at: Ts,
}

/// The `scope` column of a template: `global` or the owner's tenant id.
pub(crate) fn template_scope(tenant: Option<TenantId>) -> String {
    tenant.map_or_else(|| "global".to_owned(), |t| t.to_string())
}

impl TryFrom<TemplateRow> for Template {
    type Error = StoreError;
    fn try_from(r: TemplateRow) -> Result<Self, StoreError> {
        Ok(Template {
            id: parse("template id", &r.id)?,
            tenant_id: r
                .tenant_id
                .as_deref()
                .map(|t| parse("tenant id", t))
                .transpose()?,
            role: parse("role", &r.role)?,
            flavor: Flavor {
                vcpus: u32_of("vcpus", r.vcpus.into())?,
                memory_mib: u32_of("memory", r.memory_mib.into())?,
                disk_gib: u32_of("disk", r.disk_gib.into())?,
            },
            ports: json_of("ports", &r.ports)?,
            install_scripts: json_of("install scripts", &r.install_scripts)?,
            metrics: json_of("metrics", &r.metrics)?,
            pool_id: opt_parse("pool id", r.pool_id.as_deref())?,
            image_id: opt_parse("image id", r.image_id.as_deref())?,
            kernel_image_id: opt_parse("image id", r.kernel_image_id.as_deref())?,
            initrd_image_id: opt_parse("image id", r.initrd_image_id.as_deref())?,
            name: r.name,
            description: r.description,
            created_at: from_db(r.created_at),
        })
    }
}

impl From<&Template> for TemplateRow {
    fn from(t: &Template) -> Self {
        TemplateRow {
            id: t.id.to_string(),
            tenant_id: t.tenant_id.map(|x| x.to_string()),
            scope: template_scope(t.tenant_id),
            name: t.name.clone(),
            role: t.role.as_str().into(),
            description: t.description.clone(),
            pool_id: t.pool_id.map(|x| x.to_string()),
            image_id: t.image_id.map(|x| x.to_string()),
            kernel_image_id: t.kernel_image_id.map(|x| x.to_string()),
            initrd_image_id: t.initrd_image_id.map(|x| x.to_string()),
            vcpus: i32_of(t.flavor.vcpus),
            memory_mib: i32_of(t.flavor.memory_mib),
            disk_gib: i32_of(t.flavor.disk_gib),
            ports: json(&t.ports),
            install_scripts: json(&t.install_scripts),
            metrics: json(&t.metrics),
            created_at: to_db(t.created_at),
        }
    }
}

impl From<Template> for TemplateResponse {
    fn from(t: Template) -> Self {
        TemplateResponse {
            id: t.id,
            tenant_id: t.tenant_id,
            name: t.name,
            role: t.role,
            description: t.description,
            pool_id: t.pool_id,
            image_id: t.image_id,
            kernel_image_id: t.kernel_image_id,
            initrd_image_id: t.initrd_image_id,
            flavor: t.flavor,
            ports: t.ports,
            install_scripts: t.install_scripts,
            metrics: t.metrics,
            created_at: t.created_at,
        }
    }
}

// ---------------------------------------------------------------- images

/// A registered image: a file in its pool's image directory, with the checksum and size the driver
/// checks before a host uses it.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Image {
    pub id: ImageId,
    pub pool_id: PoolId,
    pub name: String,
    pub kind: ImageKind,
    pub format: ImageFormat,
    pub file: String,
    pub sha256: String,
    pub size_bytes: u64,
    pub created_at: DateTime<Utc>,
}

impl Image {
    /// The API view: the file name is shown to operators only.
    pub fn respond(self, operator: bool) -> ImageResponse {
        ImageResponse {
            id: self.id,
            pool_id: self.pool_id,
            name: self.name,
            kind: self.kind,
            format: self.format,
            file: operator.then_some(self.file),
            sha256: self.sha256,
            size_bytes: self.size_bytes,
            created_at: self.created_at,
        }
    }
}

#[derive(Queryable, Selectable, Insertable)]
#[diesel(table_name = images)]
pub(crate) struct ImageRow {
    pub id: String,
    pub pool_id: String,
    pub name: String,
    pub kind: String,
    pub format: String,
    pub file: String,
    pub sha256: String,
    pub size_bytes: i64,
    pub created_at: Ts,
}

impl TryFrom<ImageRow> for Image {
    type Error = StoreError;
    fn try_from(r: ImageRow) -> Result<Self, StoreError> {
        Ok(Image {
            id: parse("image id", &r.id)?,
            pool_id: parse("pool id", &r.pool_id)?,
            kind: parse("image kind", &r.kind)?,
            format: parse("image format", &r.format)?,
            size_bytes: u64::try_from(r.size_bytes)
                .map_err(|_| StoreError::Corrupt(format!("image size {}", r.size_bytes)))?,
            name: r.name,
            file: r.file,
            sha256: r.sha256,
            created_at: from_db(r.created_at),
        })
    }
}

impl From<&Image> for ImageRow {
    fn from(i: &Image) -> Self {
        ImageRow {
            id: i.id.to_string(),
            pool_id: i.pool_id.to_string(),
            name: i.name.clone(),
            kind: i.kind.as_str().into(),
            format: i.format.as_str().into(),
            file: i.file.clone(),
            sha256: i.sha256.clone(),
            size_bytes: i64::try_from(i.size_bytes).unwrap_or(i64::MAX),
            created_at: to_db(i.created_at),
        }
    }
}
