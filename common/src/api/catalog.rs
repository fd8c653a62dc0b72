//! The appliance catalog: templates of virtual servers (global ones from operators, private ones of a
//! tenant).

use crate::{ImageId, PoolId, TemplateId, TenantId};
use chrono::{DateTime, Utc};
use serde::{Deserialize, Serialize};
use validator::Validate;

/// What an appliance does in an application.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
#[serde(rename_all = "snake_case")]
pub enum ApplianceRole {
    LoadBalancer,
    AppServer,
    Database,
    Cache,
    Static,
    Other,
}

impl ApplianceRole {
    pub const ALL: [ApplianceRole; 6] = [
        Self::LoadBalancer,
        Self::AppServer,
        Self::Database,
        Self::Cache,
        Self::Static,
        Self::Other,
    ];
    pub fn as_str(self) -> &'static str {
        match self {
            Self::LoadBalancer => "load_balancer",
            Self::AppServer => "app_server",
            Self::Database => "database",
            Self::Cache => "cache",
            Self::Static => "static",
            Self::Other => "other",
        }
    }
}

impl std::str::FromStr for ApplianceRole {
    type Err = crate::roles::UnknownVariant;
    fn from_str(s: &str) -> Result<Self, Self::Err> {
        Self::ALL
            .into_iter()
            .find(|r| r.as_str() == s)
            .ok_or_else(|| crate::roles::UnknownVariant {
                what: "appliance role",
                value: s.into(),
            })
    }
}

/// vCPUs, RAM and disk of one appliance.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize, Deserialize, Validate)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
#[serde(deny_unknown_fields)]
pub struct Flavor {
    #[validate(range(min = 1, max = 64))]
    #[cfg_attr(feature = "openapi", schema(minimum = 1, maximum = 64))]
    pub vcpus: u32,
    #[validate(range(min = 128, max = 524_288))]
    #[cfg_attr(feature = "openapi", schema(minimum = 128, maximum = 524_288))]
    pub memory_mib: u32,
    #[validate(range(min = 1, max = 16_384))]
    #[cfg_attr(feature = "openapi", schema(minimum = 1, maximum = 16_384))]
    pub disk_gib: u32,
}

#[derive(Clone, Debug, Serialize, Deserialize, Validate)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
#[serde(deny_unknown_fields)]
pub struct CreateTemplateRequest {
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
    pub role: ApplianceRole,
    #[serde(default)]
    #[validate(custom(function = "crate::validate::description"))]
    #[cfg_attr(feature = "openapi", schema(max_length = 2000))]
    pub description: String,
    /// The registered disk image (kind `disk`) each appliance gets a copy-on-write overlay of.
    pub image_id: Option<ImageId>,
    /// Optional direct kernel boot: a registered image of kind `kernel` …
    pub kernel_image_id: Option<ImageId>,
    /// … and of kind `initrd` (only with a kernel). All of a template's images live in one pool.
    pub initrd_image_id: Option<ImageId>,
    #[validate(nested)]
    pub flavor: Flavor,
    /// TCP ports the appliance serves.
    #[serde(default)]
    #[validate(length(max = 32))]
    #[cfg_attr(feature = "openapi", schema(max_items = 32))]
    pub ports: Vec<u16>,
    /// Install CloudScripts run when the appliance comes alive (names; the events issue fills them).
    #[serde(default)]
    #[validate(length(max = 32), custom(function = "crate::validate::identifiers"))]
    #[cfg_attr(feature = "openapi", schema(schema_with = crate::validate::identifiers_32_schema))]
    pub install_scripts: Vec<String>,
    /// The metrics the appliance reports besides the standard ones.
    #[serde(default)]
    #[validate(length(max = 64), custom(function = "crate::validate::identifiers"))]
    #[cfg_attr(feature = "openapi", schema(schema_with = crate::validate::identifiers_64_schema))]
    pub metrics: Vec<String>,
}

#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
pub struct TemplateResponse {
    pub id: TemplateId,
    /// Absent for global templates (from the provider).
    pub tenant_id: Option<TenantId>,
    pub name: String,
    pub role: ApplianceRole,
    pub description: String,
    /// The pool whose image directory holds the template's images (its appliances run there);
    /// absent for a template without images, which cannot be deployed.
    pub pool_id: Option<PoolId>,
    pub image_id: Option<ImageId>,
    pub kernel_image_id: Option<ImageId>,
    pub initrd_image_id: Option<ImageId>,
    pub flavor: Flavor,
    pub ports: Vec<u16>,
    pub install_scripts: Vec<String>,
    pub metrics: Vec<String>,
    #[serde(serialize_with = "crate::time::rfc3339")]
    pub created_at: DateTime<Utc>,
}
