//! Roles, tenant kinds and tenant states, with their text forms as stored and sent.

use serde::{Deserialize, Serialize};
use std::fmt;
use std::str::FromStr;

/// What a user may do. Operators belong to the provider tenant; the other roles to customer tenants
/// (the provider tenant may also have finance users).
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
#[serde(rename_all = "snake_case")]
pub enum Role {
    Operator,
    Admin,
    User,
    Finance,
}

impl Role {
    pub const ALL: [Role; 4] = [Role::Operator, Role::Admin, Role::User, Role::Finance];

    pub fn as_str(self) -> &'static str {
        match self {
            Role::Operator => "operator",
            Role::Admin => "admin",
            Role::User => "user",
            Role::Finance => "finance",
        }
    }

    /// Whether a user of a tenant of `kind` may hold this role.
    pub fn allowed_in(self, kind: TenantKind) -> bool {
        match kind {
            TenantKind::Provider => matches!(self, Role::Operator | Role::Finance),
            TenantKind::Customer => matches!(self, Role::Admin | Role::User | Role::Finance),
        }
    }

    /// Rank used for "at least" checks on project management: operator > admin > user.
    /// Finance sits outside that ladder (it manages no projects) and ranks 0.
    pub fn management_rank(self) -> u8 {
        match self {
            Role::Operator => 3,
            Role::Admin => 2,
            Role::User => 1,
            Role::Finance => 0,
        }
    }
}

/// Error for a text that names no known variant.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("unknown {what}: {value:?}")]
pub struct UnknownVariant {
    pub what: &'static str,
    pub value: String,
}

macro_rules! text_enum {
    ($ty:ident, $what:literal, $($variant:ident => $text:literal),+ $(,)?) => {
        impl FromStr for $ty {
            type Err = UnknownVariant;
            fn from_str(s: &str) -> Result<Self, Self::Err> {
                match s {
                    $($text => Ok($ty::$variant),)+
                    _ => Err(UnknownVariant { what: $what, value: s.to_owned() }),
                }
            }
        }
        impl fmt::Display for $ty {
            fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
                f.write_str(match self { $($ty::$variant => $text,)+ })
            }
        }
    };
}

text_enum!(Role, "role", Operator => "operator", Admin => "admin", User => "user", Finance => "finance");

/// The provider runs the platform; customers buy from it.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
#[serde(rename_all = "snake_case")]
pub enum TenantKind {
    Provider,
    Customer,
}
text_enum!(TenantKind, "tenant kind", Provider => "provider", Customer => "customer");

/// A suspended tenant's users cannot log in and their tokens stop working.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
#[serde(rename_all = "snake_case")]
pub enum TenantStatus {
    Active,
    Suspended,
}
text_enum!(TenantStatus, "tenant status", Active => "active", Suspended => "suspended");

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn roles_round_trip_as_text() {
        for r in Role::ALL {
            assert_eq!(r.to_string().parse::<Role>(), Ok(r));
            assert_eq!(r.as_str(), r.to_string());
        }
        assert!("root".parse::<Role>().is_err());
    }

    #[test]
    fn roles_allowed_per_tenant_kind() {
        let table = [
            (Role::Operator, TenantKind::Provider, true),
            (Role::Operator, TenantKind::Customer, false),
            (Role::Admin, TenantKind::Provider, false),
            (Role::Admin, TenantKind::Customer, true),
            (Role::User, TenantKind::Provider, false),
            (Role::User, TenantKind::Customer, true),
            (Role::Finance, TenantKind::Provider, true),
            (Role::Finance, TenantKind::Customer, true),
        ];
        for (role, kind, ok) in table {
            assert_eq!(role.allowed_in(kind), ok, "{role} in {kind}");
        }
    }
}
