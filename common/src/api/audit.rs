//! The audit log: who changed what, when, from where.

use crate::{AuditId, Role, TenantId, UserId};
use chrono::{DateTime, Utc};
use serde::{Deserialize, Serialize};

#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
pub struct AuditEntryResponse {
    pub id: AuditId,
    /// The tenant whose data changed.
    pub tenant_id: TenantId,
    /// Absent for actions of the system itself (bootstrap, CLI), and for provider staff acting on a
    /// customer's data as that customer sees it (`actor_role` says who they are).
    pub actor_id: Option<UserId>,
    /// The actor's role when the action was taken.
    pub actor_role: Option<Role>,
    pub actor_email: Option<String>,
    /// Such as `user.create`, `project.rename`, `tenant.suspend`, `auth.login`.
    pub action: String,
    pub object_type: String,
    pub object_id: String,
    pub source_ip: Option<String>,
    #[serde(serialize_with = "crate::time::rfc3339")]
    pub at: DateTime<Utc>,
}
