//! Login, tokens, the current user and password changes.

use crate::{Role, TenantId, TenantKind, UserId};
use serde::{Deserialize, Serialize};
use validator::Validate;

#[derive(Clone, Debug, Serialize, Deserialize, Validate)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
#[serde(deny_unknown_fields)]
pub struct LoginRequest {
    #[validate(email)]
    #[cfg_attr(feature = "openapi", schema(format = Email, max_length = 254))]
    pub email: String,
    #[validate(length(min = 1, max = 1024))]
    #[cfg_attr(feature = "openapi", schema(min_length = 1, max_length = 1024))]
    pub password: String,
    /// The organisation's slug: needed only when the same email and password open accounts in
    /// several tenants (an email is unique within a tenant, not across tenants).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    #[validate(custom(function = "crate::validate::slug"))]
    #[cfg_attr(
        feature = "openapi",
        schema(
            min_length = 3,
            max_length = 40,
            pattern = r"^[a-z0-9][a-z0-9-]*[a-z0-9]$"
        )
    )]
    pub tenant: Option<String>,
}

/// An access token (send it as `Authorization: Bearer …`); the refresh token travels in an HttpOnly cookie.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
pub struct TokenResponse {
    pub access_token: String,
    /// Always `Bearer`.
    pub token_type: String,
    /// Seconds until the access token expires.
    pub expires_in: u64,
    pub me: MeResponse,
}

/// Who the caller is.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
pub struct MeResponse {
    pub id: UserId,
    pub email: String,
    pub name: String,
    pub role: Role,
    pub tenant_id: TenantId,
    pub tenant_name: String,
    pub tenant_kind: TenantKind,
}

#[derive(Clone, Debug, Serialize, Deserialize, Validate)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
#[serde(deny_unknown_fields)]
pub struct ChangePasswordRequest {
    #[validate(length(min = 1, max = 1024))]
    #[cfg_attr(feature = "openapi", schema(min_length = 1, max_length = 1024))]
    pub current_password: String,
    #[validate(custom(function = "crate::validate::password"))]
    #[cfg_attr(feature = "openapi", schema(min_length = 12, max_length = 128))]
    pub new_password: String,
}
