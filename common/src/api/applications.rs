//! Applications in projects: ordered layers of appliance groups, deployed and scaled by the
//! orchestrator; and the appliances (VMs) it runs for them.

use crate::lifecycle::ApplianceState;
use crate::{
    ApplianceId, ApplicationId, EventId, GroupId, HostId, LayerId, PoolId, ProjectId, TemplateId,
    TenantId,
};
use chrono::{DateTime, Utc};
use serde::{Deserialize, Serialize};
use validator::{Validate, ValidationError};

pub const MAX_GROUP_SIZE: u32 = 1000;

#[derive(Clone, Debug, Serialize, Deserialize, Validate)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
#[serde(deny_unknown_fields)]
pub struct CreateApplicationRequest {
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
    /// Deploy onto this pool only (default: any pool).
    pub pool_id: Option<PoolId>,
}

#[derive(Clone, Debug, Default, Serialize, Deserialize, Validate)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
#[serde(deny_unknown_fields)]
pub struct UpdateApplicationRequest {
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
}

#[derive(Clone, Debug, Serialize, Deserialize, Validate)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
#[serde(deny_unknown_fields)]
pub struct CreateLayerRequest {
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
    /// Where the layer goes (0 = first); default: last.
    #[validate(range(max = 1000))]
    #[cfg_attr(feature = "openapi", schema(maximum = 1000))]
    pub position: Option<u32>,
}

#[derive(Clone, Debug, Default, Serialize, Deserialize, Validate)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
#[serde(deny_unknown_fields)]
pub struct UpdateLayerRequest {
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
    #[validate(range(max = 1000))]
    #[cfg_attr(feature = "openapi", schema(maximum = 1000))]
    pub position: Option<u32>,
}

/// Sizes of a group: `min ≤ desired ≤ max`.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
#[serde(deny_unknown_fields)]
pub struct GroupSize {
    #[cfg_attr(feature = "openapi", schema(maximum = 1000))]
    pub desired: u32,
    #[cfg_attr(feature = "openapi", schema(maximum = 1000))]
    pub min: u32,
    #[cfg_attr(feature = "openapi", schema(maximum = 1000))]
    pub max: u32,
}

impl Validate for GroupSize {
    fn validate(&self) -> Result<(), validator::ValidationErrors> {
        let mut errs = validator::ValidationErrors::new();
        if self.max > MAX_GROUP_SIZE {
            errs.add(
                "max",
                ValidationError::new("range")
                    .with_message(format!("must be at most {MAX_GROUP_SIZE}").into()),
            );
        }
        if self.min > self.desired {
            errs.add(
                "min",
                ValidationError::new("min_above_desired")
                    .with_message("must not exceed desired".into()),
            );
        }
        if self.desired > self.max {
            errs.add(
                "desired",
                ValidationError::new("above_max").with_message("must not exceed max".into()),
            );
        }
        if errs.is_empty() { Ok(()) } else { Err(errs) }
    }
}

#[derive(Clone, Debug, Serialize, Deserialize, Validate)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
#[serde(deny_unknown_fields)]
pub struct CreateGroupRequest {
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
    pub template_id: TemplateId,
    #[validate(nested)]
    pub size: GroupSize,
    /// Re-create this group's appliances when they fail or their host is lost.
    #[serde(default = "yes")]
    pub service_ensure: bool,
}

fn yes() -> bool {
    true
}

#[derive(Clone, Debug, Default, Serialize, Deserialize, Validate)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
#[serde(deny_unknown_fields)]
pub struct UpdateGroupRequest {
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
    #[validate(nested)]
    pub size: Option<GroupSize>,
    pub service_ensure: Option<bool>,
}

/// Set only the desired count (within the group's min and max).
#[derive(Clone, Debug, Serialize, Deserialize, Validate)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
#[serde(deny_unknown_fields)]
pub struct ScaleGroupRequest {
    #[validate(range(max = 1000))]
    #[cfg_attr(feature = "openapi", schema(maximum = 1000))]
    pub desired: u32,
}

#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
pub struct GroupResponse {
    pub id: GroupId,
    pub layer_id: LayerId,
    pub name: String,
    pub template_id: TemplateId,
    pub size: GroupSize,
    pub service_ensure: bool,
    /// Appliances of the group by state (live ones only).
    pub running: u32,
    #[serde(serialize_with = "crate::time::rfc3339")]
    pub created_at: DateTime<Utc>,
    #[serde(serialize_with = "crate::time::rfc3339")]
    pub updated_at: DateTime<Utc>,
}

#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
pub struct LayerResponse {
    pub id: LayerId,
    pub name: String,
    pub position: u32,
    pub groups: Vec<GroupResponse>,
}

#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
pub struct ApplicationResponse {
    pub id: ApplicationId,
    pub tenant_id: TenantId,
    pub project_id: ProjectId,
    pub name: String,
    pub description: String,
    pub pool_id: Option<PoolId>,
    pub deployed: bool,
    pub layers: Vec<LayerResponse>,
    #[serde(serialize_with = "crate::time::rfc3339")]
    pub created_at: DateTime<Utc>,
    #[serde(serialize_with = "crate::time::rfc3339")]
    pub updated_at: DateTime<Utc>,
}

#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
pub struct ApplianceResponse {
    pub id: ApplianceId,
    pub application_id: ApplicationId,
    pub group_id: GroupId,
    pub name: String,
    pub state: ApplianceState,
    /// Why the appliance is in its state (e.g. the placement failure).
    pub state_reason: String,
    pub host_id: Option<HostId>,
    pub ip: Option<String>,
    pub vcpus: u32,
    pub memory_mib: u32,
    #[serde(serialize_with = "crate::time::rfc3339")]
    pub created_at: DateTime<Utc>,
    #[serde(serialize_with = "crate::time::rfc3339")]
    pub state_since: DateTime<Utc>,
    #[serde(serialize_with = "crate::time::rfc3339_opt")]
    pub last_heartbeat_at: Option<DateTime<Utc>>,
    /// The last metrics the agent reported.
    pub metrics: Option<crate::agent::MetricsReport>,
}

/// One stored state transition of an appliance.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
pub struct TransitionResponse {
    pub from: Option<ApplianceState>,
    pub to: ApplianceState,
    pub reason: String,
    #[serde(serialize_with = "crate::time::rfc3339")]
    pub at: DateTime<Utc>,
}

/// A durable domain event (`appliance.came_alive`, `placement.failed`, `host.lost`, …).
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
pub struct EventResponse {
    pub id: EventId,
    #[serde(rename = "type")]
    pub type_: String,
    pub application_id: Option<ApplicationId>,
    pub appliance_id: Option<ApplianceId>,
    pub host_id: Option<HostId>,
    pub detail: String,
    #[serde(serialize_with = "crate::time::rfc3339")]
    pub at: DateTime<Utc>,
}
