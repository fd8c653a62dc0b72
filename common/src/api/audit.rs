//! The audit log: who changed what, when, from where.

use crate::{AuditId, TenantId, UserId};
use chrono::{DateTime, Utc};
use serde::{Deserialize, Serialize};

#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
pub struct AuditEntryResponse {
    pub id: AuditId,
    /// The tenant whose data changed.
    pub tenant_id: TenantId,
    /// Absent for actions of the system itself (bootstrap, CLI).
    pub actor_id: Option<UserId>,
    pub actor_email: Option<String>,
    /// Such as `user.create`, `project.rename`, `tenant.suspend`, `auth.login`.
    pub action: String,
    pub object_type: String,
    pub object_id: String,
    pub source_ip: Option<String>,
    #[serde(serialize_with = "crate::time::rfc3339")]
    pub at: DateTime<Utc>,
}
