//! Typed identifiers: a `TenantId` can never be passed where a `ProjectId` is expected.

use serde::{Deserialize, Serialize};
use std::fmt;
use std::str::FromStr;
use uuid::Uuid;

macro_rules! typed_id {
    ($($(#[$doc:meta])* $name:ident),* $(,)?) => {$(
        $(#[$doc])*
        #[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, PartialOrd, Ord, Serialize, Deserialize)]
        #[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
        #[serde(transparent)]
        pub struct $name(pub Uuid);

        impl $name {
            /// A new, time-ordered (UUIDv7) id: ids sort in creation order, which keyset pagination uses.
            pub fn new() -> Self {
                Self(Uuid::now_v7())
            }
        }

        impl Default for $name {
            fn default() -> Self {
                Self::new()
            }
        }

        impl fmt::Display for $name {
            fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
                self.0.fmt(f)
            }
        }

        impl FromStr for $name {
            type Err = uuid::Error;
            fn from_str(s: &str) -> Result<Self, Self::Err> {
                Uuid::parse_str(s).map(Self)
            }
        }

        impl From<Uuid> for $name {
            fn from(u: Uuid) -> Self {
                Self(u)
            }
        }
    )*};
}

typed_id!(
    /// A tenant: the provider itself or one of its customers.
    TenantId,
    /// A user of one tenant.
    UserId,
    /// A project, owned by one tenant.
    ProjectId,
    /// One entry of the audit log.
    AuditId,
    /// A family of rotating refresh tokens started by one login.
    SessionFamilyId,
    /// A pool of KVM hosts.
    PoolId,
    /// One KVM host.
    HostId,
    /// A base image, kernel or initrd registered in a pool's image directory.
    ImageId,
    /// An appliance template of the catalog.
    TemplateId,
    /// An application in a project.
    ApplicationId,
    /// A layer (tier) of an application.
    LayerId,
    /// A group of identical appliances in a layer.
    GroupId,
    /// One appliance (VM).
    ApplianceId,
    /// A durable domain event.
    EventId,
    /// A CloudScript (its versions are numbered 1, 2, …).
    ScriptId,
    /// An event rule of an application.
    RuleId,
    /// One run of a rule's chain of actions, for one event.
    RunId,
    /// One CloudScript run on one appliance.
    JobId,
);

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn ids_round_trip_through_text_and_json() {
        let id = ProjectId::new();
        assert_eq!(id.to_string().parse::<ProjectId>().ok(), Some(id));
        let json = serde_json::to_string(&id).unwrap_or_default();
        assert_eq!(json, format!("\"{id}\""));
        assert!("not-a-uuid".parse::<TenantId>().is_err());
    }

    #[test]
    fn new_ids_sort_in_creation_order() {
        let a = UserId::new();
        let b = UserId::new();
        assert!(a < b);
    }
}
