//! Records of applications: applications, layers, groups, appliances, their transitions and domain
//! events.

use crate::StoreError;
use crate::models::parse;
use crate::schema::*;
use crate::time::{Ts, from_db, to_db};
use chrono::{DateTime, Utc};
use common::api::{EventResponse, Flavor, GroupSize, TransitionResponse};
use common::{
    ApplianceId, ApplianceState, ApplicationId, EventId, GroupId, HostId, LayerId, PoolId,
    ProjectId, TemplateId, TenantId,
};
use diesel::prelude::*;

use crate::models_compute::{i32_of, u32_of};

// ---------------------------------------------------------------- applications, layers, groups

#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Application {
    pub id: ApplicationId,
    pub tenant_id: TenantId,
    pub project_id: ProjectId,
    pub name: String,
    pub description: String,
    pub pool_id: Option<PoolId>,
    pub deployed: bool,
    /// Bumped by every change that needs a reconcile.
    pub generation: i64,
    pub failures: u32,
    pub last_error: Option<String>,
    pub created_at: DateTime<Utc>,
    pub updated_at: DateTime<Utc>,
}

#[derive(Queryable, Selectable, Insertable)]
#[diesel(table_name = applications)]
pub(crate) struct ApplicationRow {
    pub id: String,
    pub tenant_id: String,
    pub project_id: String,
    pub name: String,
    pub description: String,
    pub pool_id: Option<String>,
    pub deployed: bool,
    pub generation: i64,
    pub reconcile_after: Ts,
    pub lease_owner: Option<String>,
    pub lease_expires_at: Option<Ts>,
    pub failures: i32,
    pub last_error: Option<String>,
    pub created_at: Ts,
    pub updated_at: Ts,
}

impl TryFrom<ApplicationRow> for Application {
    type Error = StoreError;
    fn try_from(r: ApplicationRow) -> Result<Self, StoreError> {
        Ok(Application {
            id: parse("application id", &r.id)?,
            tenant_id: parse("tenant id", &r.tenant_id)?,
            project_id: parse("project id", &r.project_id)?,
            pool_id: r
                .pool_id
                .as_deref()
                .map(|p| parse("pool id", p))
                .transpose()?,
            failures: u32_of("failures", r.failures.into())?,
            name: r.name,
            description: r.description,
            deployed: r.deployed,
            generation: r.generation,
            last_error: r.last_error,
            created_at: from_db(r.created_at),
            updated_at: from_db(r.updated_at),
        })
    }
}

#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Layer {
    pub id: LayerId,
    pub tenant_id: TenantId,
    pub application_id: ApplicationId,
    pub name: String,
    pub position: u32,
    pub created_at: DateTime<Utc>,
}

#[derive(Queryable, Selectable, Insertable)]
#[diesel(table_name = layers)]
pub(crate) struct LayerRow {
    pub id: String,
    pub tenant_id: String,
    pub application_id: String,
    pub name: String,
    pub position: i32,
    pub created_at: Ts,
}

impl TryFrom<LayerRow> for Layer {
    type Error = StoreError;
    fn try_from(r: LayerRow) -> Result<Self, StoreError> {
        Ok(Layer {
            id: parse("layer id", &r.id)?,
            tenant_id: parse("tenant id", &r.tenant_id)?,
            application_id: parse("application id", &r.application_id)?,
            position: u32_of("position", r.position.into())?,
            name: r.name,
            created_at: from_db(r.created_at),
        })
    }
}

impl From<&Layer> for LayerRow {
    fn from(l: &Layer) -> Self {
        LayerRow {
            id: l.id.to_string(),
            tenant_id: l.tenant_id.to_string(),
            application_id: l.application_id.to_string(),
            name: l.name.clone(),
            position: i32_of(l.position),
            created_at: to_db(l.created_at),
        }
    }
}

#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Group {
    pub id: GroupId,
    pub tenant_id: TenantId,
    pub application_id: ApplicationId,
    pub layer_id: LayerId,
    pub name: String,
    pub template_id: TemplateId,
    pub size: GroupSize,
    pub service_ensure: bool,
    /// The autoscaling policy (JSON; filled by the autoscaling issue).
    pub autoscale: Option<String>,
    /// The simulated load knob, 0–100 %.
    pub load_pct: u32,
    pub created_at: DateTime<Utc>,
    pub updated_at: DateTime<Utc>,
}

#[derive(Queryable, Selectable, Insertable, AsChangeset)]
#[diesel(table_name = appliance_groups, treat_none_as_null = true)]
pub(crate) struct GroupRow {
    pub id: String,
    pub tenant_id: String,
    pub application_id: String,
    pub layer_id: String,
    pub name: String,
    pub template_id: String,
    pub desired: i32,
    pub min_count: i32,
    pub max_count: i32,
    pub service_ensure: bool,
    pub autoscale: Option<String>,
    pub load_pct: i32,
    pub created_at: Ts,
    pub updated_at: Ts,
}

impl TryFrom<GroupRow> for Group {
    type Error = StoreError;
    fn try_from(r: GroupRow) -> Result<Self, StoreError> {
        Ok(Group {
            id: parse("group id", &r.id)?,
            tenant_id: parse("tenant id", &r.tenant_id)?,
            application_id: parse("application id", &r.application_id)?,
            layer_id: parse("layer id", &r.layer_id)?,
            template_id: parse("template id", &r.template_id)?,
            size: GroupSize {
                desired: u32_of("desired", r.desired.into())?,
                min: u32_of("min", r.min_count.into())?,
                max: u32_of("max", r.max_count.into())?,
            },
            load_pct: u32_of("load", r.load_pct.into())?,
            name: r.name,
            service_ensure: r.service_ensure,
            autoscale: r.autoscale,
            created_at: from_db(r.created_at),
            updated_at: from_db(r.updated_at),
        })
    }
}

impl From<&Group> for GroupRow {
    fn from(g: &Group) -> Self {
        GroupRow {
            id: g.id.to_string(),
            tenant_id: g.tenant_id.to_string(),
            application_id: g.application_id.to_string(),
            layer_id: g.layer_id.to_string(),
            name: g.name.clone(),
            template_id: g.template_id.to_string(),
            desired: i32_of(g.size.desired),
            min_count: i32_of(g.size.min),
            max_count: i32_of(g.size.max),
            service_ensure: g.service_ensure,
            autoscale: g.autoscale.clone(),
            load_pct: i32_of(g.load_pct),
            created_at: to_db(g.created_at),
            updated_at: to_db(g.updated_at),
        }
    }
}

// ---------------------------------------------------------------- appliances

/// What the owner wants of an appliance; the reconciler moves its state there.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub enum Target {
    Run,
    Stop,
    Reboot,
    Terminate,
}

impl Target {
    pub fn as_str(self) -> &'static str {
        match self {
            Target::Run => "run",
            Target::Stop => "stop",
            Target::Reboot => "reboot",
            Target::Terminate => "terminate",
        }
    }
}

impl std::str::FromStr for Target {
    type Err = StoreError;
    fn from_str(s: &str) -> Result<Self, StoreError> {
        match s {
            "run" => Ok(Target::Run),
            "stop" => Ok(Target::Stop),
            "reboot" => Ok(Target::Reboot),
            "terminate" => Ok(Target::Terminate),
            _ => Err(StoreError::Corrupt(format!("target {s:?}"))),
        }
    }
}

#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Appliance {
    pub id: ApplianceId,
    pub tenant_id: TenantId,
    pub application_id: ApplicationId,
    pub group_id: GroupId,
    pub template_id: TemplateId,
    pub name: String,
    pub state: ApplianceState,
    pub state_reason: String,
    pub state_since: DateTime<Utc>,
    pub target: Target,
    pub host_id: Option<HostId>,
    pub ip: Option<String>,
    pub flavor: Flavor,
    pub last_heartbeat_at: Option<DateTime<Utc>>,
    pub created_at: DateTime<Utc>,
    pub updated_at: DateTime<Utc>,
}

impl Appliance {
    /// The libvirt domain name of this appliance (deterministic: a retry never creates a second one).
    pub fn domain_name(&self) -> String {
        domain_name(self.id)
    }
}

/// The domain name of an appliance: `si-<appliance id>`.
pub fn domain_name(id: ApplianceId) -> String {
    format!("si-{id}")
}

#[derive(Queryable, Selectable, Insertable)]
#[diesel(table_name = appliances)]
pub(crate) struct ApplianceRow {
    pub id: String,
    pub tenant_id: String,
    pub application_id: String,
    pub group_id: String,
    pub template_id: String,
    pub name: String,
    pub state: String,
    pub state_reason: String,
    pub state_since: Ts,
    pub target: String,
    pub host_id: Option<String>,
    pub ip: Option<String>,
    pub vcpus: i32,
    pub memory_mib: i32,
    pub disk_gib: i32,
    pub last_heartbeat_at: Option<Ts>,
    pub created_at: Ts,
    pub updated_at: Ts,
}

impl TryFrom<ApplianceRow> for Appliance {
    type Error = StoreError;
    fn try_from(r: ApplianceRow) -> Result<Self, StoreError> {
        Ok(Appliance {
            id: parse("appliance id", &r.id)?,
            tenant_id: parse("tenant id", &r.tenant_id)?,
            application_id: parse("application id", &r.application_id)?,
            group_id: parse("group id", &r.group_id)?,
            template_id: parse("template id", &r.template_id)?,
            state: parse("appliance state", &r.state)?,
            target: r.target.parse()?,
            host_id: r
                .host_id
                .as_deref()
                .map(|h| parse("host id", h))
                .transpose()?,
            flavor: Flavor {
                vcpus: u32_of("vcpus", r.vcpus.into())?,
                memory_mib: u32_of("memory", r.memory_mib.into())?,
                disk_gib: u32_of("disk", r.disk_gib.into())?,
            },
            name: r.name,
            state_reason: r.state_reason,
            state_since: from_db(r.state_since),
            ip: r.ip,
            last_heartbeat_at: r.last_heartbeat_at.map(from_db),
            created_at: from_db(r.created_at),
            updated_at: from_db(r.updated_at),
        })
    }
}

impl From<&Appliance> for ApplianceRow {
    fn from(a: &Appliance) -> Self {
        ApplianceRow {
            id: a.id.to_string(),
            tenant_id: a.tenant_id.to_string(),
            application_id: a.application_id.to_string(),
            group_id: a.group_id.to_string(),
            template_id: a.template_id.to_string(),
            name: a.name.clone(),
            state: a.state.as_str().into(),
            state_reason: a.state_reason.clone(),
            state_since: to_db(a.state_since),
            target: a.target.as_str().into(),
            host_id: a.host_id.map(|h| h.to_string()),
            ip: a.ip.clone(),
            vcpus: i32_of(a.flavor.vcpus),
            memory_mib: i32_of(a.flavor.memory_mib),
            disk_gib: i32_of(a.flavor.disk_gib),
            last_heartbeat_at: a.last_heartbeat_at.map(to_db),
            created_at: to_db(a.created_at),
            updated_at: to_db(a.updated_at),
        }
    }
}

/// One stored transition (billing meters from these).
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Transition {
    pub appliance_id: ApplianceId,
    pub tenant_id: TenantId,
    pub from: Option<ApplianceState>,
    pub to: ApplianceState,
    pub reason: String,
    pub at: DateTime<Utc>,
}

#[derive(Queryable, Selectable, Insertable)]
#[diesel(table_name = appliance_events)]
pub(crate) struct TransitionRow {
    pub id: String,
    pub tenant_id: String,
    pub appliance_id: String,
    pub application_id: String,
    pub from_state: Option<String>,
    pub to_state: String,
    pub reason: String,
    pub at: Ts,
}

impl TryFrom<TransitionRow> for Transition {
    type Error = StoreError;
    fn try_from(r: TransitionRow) -> Result<Self, StoreError> {
        Ok(Transition {
            appliance_id: parse("appliance id", &r.appliance_id)?,
            tenant_id: parse("tenant id", &r.tenant_id)?,
            from: r
                .from_state
                .as_deref()
                .map(|s| parse("state", s))
                .transpose()?,
            to: parse("state", &r.to_state)?,
            reason: r.reason,
            at: from_db(r.at),
        })
    }
}

/// A stored transition with its id and application (what the live streams send).
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct AppTransition {
    /// A UUIDv7: ids sort in the order their writers made them.
    pub id: String,
    pub application_id: ApplicationId,
    pub transition: Transition,
}

impl TryFrom<TransitionRow> for AppTransition {
    type Error = StoreError;
    fn try_from(r: TransitionRow) -> Result<Self, StoreError> {
        Ok(AppTransition {
            id: r.id.clone(),
            application_id: parse("application id", &r.application_id)?,
            transition: Transition::try_from(r)?,
        })
    }
}

impl From<Transition> for TransitionResponse {
    fn from(t: Transition) -> Self {
        TransitionResponse {
            from: t.from,
            to: t.to,
            reason: t.reason,
            at: t.at,
        }
    }
}

// ---------------------------------------------------------------- events

#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Event {
    pub id: EventId,
    pub tenant_id: TenantId,
    pub type_: String,
    pub application_id: Option<ApplicationId>,
    pub appliance_id: Option<ApplianceId>,
    pub host_id: Option<HostId>,
    pub detail: String,
    pub at: DateTime<Utc>,
}

#[derive(Queryable, Selectable, Insertable)]
#[diesel(table_name = events)]
pub(crate) struct EventRow {
    pub id: String,
    pub tenant_id: String,
    pub type_: String,
    pub application_id: Option<String>,
    pub appliance_id: Option<String>,
    pub host_id: Option<String>,
    pub detail: String,
    pub at: Ts,
}

impl TryFrom<EventRow> for Event {
    type Error = StoreError;
    fn try_from(r: EventRow) -> Result<Self, StoreError> {
        Ok(Event {
            id: parse("event id", &r.id)?,
            tenant_id: parse("tenant id", &r.tenant_id)?,
            application_id: r
                .application_id
                .as_deref()
                .map(|s| parse("application id", s))
                .transpose()?,
            appliance_id: r
                .appliance_id
                .as_deref()
                .map(|s| parse("appliance id", s))
                .transpose()?,
            host_id: r
                .host_id
                .as_deref()
                .map(|s| parse("host id", s))
                .transpose()?,
            type_: r.type_,
            detail: r.detail,
            at: from_db(r.at),
        })
    }
}

impl From<Event> for EventResponse {
    fn from(e: Event) -> Self {
        EventResponse {
            id: e.id,
            type_: e.type_,
            application_id: e.application_id,
            appliance_id: e.appliance_id,
            host_id: e.host_id,
            detail: e.detail,
            at: e.at,
        }
    }
}
