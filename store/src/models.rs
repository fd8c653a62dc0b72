//! Domain records as the store hands them out (typed ids, enums, UTC times), and their table rows.

use crate::StoreError;
use crate::schema::*;
use crate::time::{Ts, from_db, to_db};
use chrono::{DateTime, Utc};
use common::api::{
    AssignmentResponse, AuditEntryResponse, ProjectResponse, Quotas, TenantResponse, UserResponse,
};
use common::{
    AuditId, ProjectId, Role, SessionFamilyId, TenantId, TenantKind, TenantStatus, UserId,
};
use diesel::prelude::*;
use std::str::FromStr;

pub(crate) fn parse<T: FromStr>(what: &str, s: &str) -> Result<T, StoreError> {
    s.parse()
        .map_err(|_| StoreError::Corrupt(format!("{what} {s:?}")))
}

fn u32_of(what: &str, v: i64) -> Result<u32, StoreError> {
    u32::try_from(v).map_err(|_| StoreError::Corrupt(format!("{what} {v}")))
}

// ---------------------------------------------------------------- tenants

#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Tenant {
    pub id: TenantId,
    pub name: String,
    pub slug: String,
    pub kind: TenantKind,
    pub status: TenantStatus,
    pub quotas: Quotas,
    pub created_at: DateTime<Utc>,
    pub updated_at: DateTime<Utc>,
}

#[derive(Queryable, Selectable, Insertable, AsChangeset)]
#[diesel(table_name = tenants)]
pub(crate) struct TenantRow {
    pub id: String,
    pub name: String,
    pub slug: String,
    pub kind: String,
    pub status: String,
    pub max_vcpus: i32,
    pub max_memory_mib: i64,
    pub max_appliances: i32,
    pub created_at: Ts,
    pub updated_at: Ts,
}

impl TryFrom<TenantRow> for Tenant {
    type Error = StoreError;
    fn try_from(r: TenantRow) -> Result<Self, StoreError> {
        Ok(Tenant {
            id: parse("tenant id", &r.id)?,
            kind: parse("tenant kind", &r.kind)?,
            status: parse("tenant status", &r.status)?,
            quotas: Quotas {
                max_vcpus: u32_of("max_vcpus", r.max_vcpus.into())?,
                max_memory_mib: u32_of("max_memory_mib", r.max_memory_mib)?,
                max_appliances: u32_of("max_appliances", r.max_appliances.into())?,
            },
            name: r.name,
            slug: r.slug,
            created_at: from_db(r.created_at),
            updated_at: from_db(r.updated_at),
        })
    }
}

impl From<&Tenant> for TenantRow {
    fn from(t: &Tenant) -> Self {
        TenantRow {
            id: t.id.to_string(),
            name: t.name.clone(),
            slug: t.slug.clone(),
            kind: t.kind.to_string(),
            status: t.status.to_string(),
            max_vcpus: i32::try_from(t.quotas.max_vcpus).unwrap_or(i32::MAX),
            max_memory_mib: i64::from(t.quotas.max_memory_mib),
            max_appliances: i32::try_from(t.quotas.max_appliances).unwrap_or(i32::MAX),
            created_at: to_db(t.created_at),
            updated_at: to_db(t.updated_at),
        }
    }
}

impl From<Tenant> for TenantResponse {
    fn from(t: Tenant) -> Self {
        TenantResponse {
            id: t.id,
            name: t.name,
            slug: t.slug,
            kind: t.kind,
            status: t.status,
            quotas: t.quotas,
            created_at: t.created_at,
            updated_at: t.updated_at,
        }
    }
}

// ---------------------------------------------------------------- users

#[derive(Clone, Debug, PartialEq, Eq)]
pub struct User {
    pub id: UserId,
    pub tenant_id: TenantId,
    pub email: String,
    pub name: String,
    pub role: Role,
    pub password_hash: String,
    pub disabled: bool,
    /// Bumped whenever the user's existing tokens must stop working.
    pub token_version: i32,
    pub created_at: DateTime<Utc>,
    pub updated_at: DateTime<Utc>,
}

#[derive(Queryable, Selectable, Insertable)]
#[diesel(table_name = users)]
pub(crate) struct UserRow {
    pub id: String,
    pub tenant_id: String,
    pub email: String,
    pub name: String,
    pub role: String,
    pub password_hash: String,
    pub disabled: bool,
    pub token_version: i32,
    pub created_at: Ts,
    pub updated_at: Ts,
}

impl TryFrom<UserRow> for User {
    type Error = StoreError;
    fn try_from(r: UserRow) -> Result<Self, StoreError> {
        Ok(User {
            id: parse("user id", &r.id)?,
            tenant_id: parse("tenant id", &r.tenant_id)?,
            role: parse("role", &r.role)?,
            email: r.email,
            name: r.name,
            password_hash: r.password_hash,
            disabled: r.disabled,
            token_version: r.token_version,
            created_at: from_db(r.created_at),
            updated_at: from_db(r.updated_at),
        })
    }
}

impl From<&User> for UserRow {
    fn from(u: &User) -> Self {
        UserRow {
            id: u.id.to_string(),
            tenant_id: u.tenant_id.to_string(),
            email: u.email.clone(),
            name: u.name.clone(),
            role: u.role.to_string(),
            password_hash: u.password_hash.clone(),
            disabled: u.disabled,
            token_version: u.token_version,
            created_at: to_db(u.created_at),
            updated_at: to_db(u.updated_at),
        }
    }
}

impl From<User> for UserResponse {
    fn from(u: User) -> Self {
        UserResponse {
            id: u.id,
            tenant_id: u.tenant_id,
            email: u.email,
            name: u.name,
            role: u.role,
            disabled: u.disabled,
            created_at: u.created_at,
            updated_at: u.updated_at,
        }
    }
}

// ---------------------------------------------------------------- projects

#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Project {
    pub id: ProjectId,
    pub tenant_id: TenantId,
    pub name: String,
    pub description: String,
    pub created_at: DateTime<Utc>,
    pub updated_at: DateTime<Utc>,
}

#[derive(Queryable, Selectable, Insertable)]
#[diesel(table_name = projects)]
pub(crate) struct ProjectRow {
    pub id: String,
    pub tenant_id: String,
    pub name: String,
    pub description: String,
    pub created_at: Ts,
    pub updated_at: Ts,
}

impl TryFrom<ProjectRow> for Project {
    type Error = StoreError;
    fn try_from(r: ProjectRow) -> Result<Self, StoreError> {
        Ok(Project {
            id: parse("project id", &r.id)?,
            tenant_id: parse("tenant id", &r.tenant_id)?,
            name: r.name,
            description: r.description,
            created_at: from_db(r.created_at),
            updated_at: from_db(r.updated_at),
        })
    }
}

impl From<&Project> for ProjectRow {
    fn from(p: &Project) -> Self {
        ProjectRow {
            id: p.id.to_string(),
            tenant_id: p.tenant_id.to_string(),
            name: p.name.clone(),
            description: p.description.clone(),
            created_at: to_db(p.created_at),
            updated_at: to_db(p.updated_at),
        }
    }
}

impl From<Project> for ProjectResponse {
    fn from(p: Project) -> Self {
        ProjectResponse {
            id: p.id,
            tenant_id: p.tenant_id,
            name: p.name,
            description: p.description,
            created_at: p.created_at,
            updated_at: p.updated_at,
        }
    }
}

// ---------------------------------------------------------------- assignments

#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Assignment {
    pub project_id: ProjectId,
    pub user_id: UserId,
    pub tenant_id: TenantId,
    pub assigned_at: DateTime<Utc>,
}

#[derive(Queryable, Selectable, Insertable)]
#[diesel(table_name = project_assignments)]
pub(crate) struct AssignmentRow {
    pub project_id: String,
    pub user_id: String,
    pub tenant_id: String,
    pub assigned_at: Ts,
}

impl TryFrom<AssignmentRow> for Assignment {
    type Error = StoreError;
    fn try_from(r: AssignmentRow) -> Result<Self, StoreError> {
        Ok(Assignment {
            project_id: parse("project id", &r.project_id)?,
            user_id: parse("user id", &r.user_id)?,
            tenant_id: parse("tenant id", &r.tenant_id)?,
            assigned_at: from_db(r.assigned_at),
        })
    }
}

impl From<Assignment> for AssignmentResponse {
    fn from(a: Assignment) -> Self {
        AssignmentResponse {
            project_id: a.project_id,
            user_id: a.user_id,
            assigned_at: a.assigned_at,
        }
    }
}

// ---------------------------------------------------------------- refresh tokens

#[derive(Clone, Debug, PartialEq, Eq)]
pub struct RefreshToken {
    pub id: uuid::Uuid,
    pub family_id: SessionFamilyId,
    pub user_id: UserId,
    pub tenant_id: TenantId,
    /// SHA-256 of the token, hex; the token itself is never stored.
    pub token_hash: String,
    pub created_at: DateTime<Utc>,
    pub expires_at: DateTime<Utc>,
    /// Set when the token was exchanged for a new one; a second use is a reuse.
    pub used_at: Option<DateTime<Utc>>,
    pub revoked_at: Option<DateTime<Utc>>,
    /// When the session (the family) began: its absolute lifetime counts from here.
    pub session_started_at: DateTime<Utc>,
}

#[derive(Queryable, Selectable, Insertable)]
#[diesel(table_name = refresh_tokens)]
pub(crate) struct RefreshTokenRow {
    pub id: String,
    pub family_id: String,
    pub user_id: String,
    pub tenant_id: String,
    pub token_hash: String,
    pub created_at: Ts,
    pub expires_at: Ts,
    pub used_at: Option<Ts>,
    pub revoked_at: Option<Ts>,
    pub session_started_at: Ts,
}

impl TryFrom<RefreshTokenRow> for RefreshToken {
    type Error = StoreError;
    fn try_from(r: RefreshTokenRow) -> Result<Self, StoreError> {
        Ok(RefreshToken {
            id: parse("refresh token id", &r.id)?,
            family_id: parse("family id", &r.family_id)?,
            user_id: parse("user id", &r.user_id)?,
            tenant_id: parse("tenant id", &r.tenant_id)?,
            token_hash: r.token_hash,
            created_at: from_db(r.created_at),
            expires_at: from_db(r.expires_at),
            used_at: r.used_at.map(from_db),
            revoked_at: r.revoked_at.map(from_db),
            session_started_at: from_db(r.session_started_at),
        })
    }
}

impl From<&RefreshToken> for RefreshTokenRow {
    fn from(t: &RefreshToken) -> Self {
        RefreshTokenRow {
            id: t.id.to_string(),
            family_id: t.family_id.to_string(),
            user_id: t.user_id.to_string(),
            tenant_id: t.tenant_id.to_string(),
            token_hash: t.token_hash.clone(),
            created_at: to_db(t.created_at),
            expires_at: to_db(t.expires_at),
            used_at: t.used_at.map(to_db),
            revoked_at: t.revoked_at.map(to_db),
            session_started_at: to_db(t.session_started_at),
        }
    }
}

// ---------------------------------------------------------------- audit log

/// Who did something: a user, or the system itself (bootstrap, CLI).
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Actor {
    pub user_id: Option<UserId>,
    /// The actor's own tenant (the provider's, for operators acting on a customer).
    pub tenant_id: Option<TenantId>,
    pub role: Option<Role>,
    pub email: Option<String>,
    pub source_ip: Option<String>,
}

impl Actor {
    pub fn system() -> Self {
        Actor {
            user_id: None,
            tenant_id: None,
            role: None,
            email: None,
            source_ip: None,
        }
    }
}

#[derive(Clone, Debug, PartialEq, Eq)]
pub struct AuditEntry {
    pub id: AuditId,
    pub tenant_id: TenantId,
    pub actor_id: Option<UserId>,
    pub actor_tenant_id: Option<TenantId>,
    pub actor_role: Option<Role>,
    pub actor_email: Option<String>,
    pub action: String,
    pub object_type: String,
    pub object_id: String,
    pub detail: String,
    pub source_ip: Option<String>,
    pub at: DateTime<Utc>,
}

impl AuditEntry {
    /// The entry as `reader` (a tenant) may see it: an actor from another tenant — provider staff
    /// acting on a customer — shows as their role only, never as a person (no id, email or IP).
    pub fn seen_by(mut self, reader: TenantId) -> Self {
        // (an entry whose actor's tenant is unknown — a deleted user's — is treated as foreign)
        let foreign = self.actor_id.is_some() && self.actor_tenant_id != Some(reader);
        if foreign {
            self.actor_id = None;
            self.actor_email = None;
            self.source_ip = None;
        }
        self
    }
}

#[derive(Queryable, Selectable, Insertable)]
#[diesel(table_name = audit_log)]
pub(crate) struct AuditRow {
    pub id: String,
    pub tenant_id: String,
    pub actor_id: Option<String>,
    pub actor_tenant_id: Option<String>,
    pub actor_role: Option<String>,
    pub actor_email: Option<String>,
    pub action: String,
    pub object_type: String,
    pub object_id: String,
    pub detail: String,
    pub source_ip: Option<String>,
    pub at: Ts,
}

impl TryFrom<AuditRow> for AuditEntry {
    type Error = StoreError;
    fn try_from(r: AuditRow) -> Result<Self, StoreError> {
        Ok(AuditEntry {
            id: parse("audit id", &r.id)?,
            tenant_id: parse("tenant id", &r.tenant_id)?,
            actor_id: r
                .actor_id
                .as_deref()
                .map(|s| parse("user id", s))
                .transpose()?,
            actor_tenant_id: r
                .actor_tenant_id
                .as_deref()
                .map(|s| parse("tenant id", s))
                .transpose()?,
            actor_role: r
                .actor_role
                .as_deref()
                .map(|s| parse("role", s))
                .transpose()?,
            actor_email: r.actor_email,
            action: r.action,
            object_type: r.object_type,
            object_id: r.object_id,
            detail: r.detail,
            source_ip: r.source_ip,
            at: from_db(r.at),
        })
    }
}

impl From<AuditEntry> for AuditEntryResponse {
    fn from(a: AuditEntry) -> Self {
        AuditEntryResponse {
            id: a.id,
            tenant_id: a.tenant_id,
            actor_id: a.actor_id,
            actor_role: a.actor_role,
            actor_email: a.actor_email,
            action: a.action,
            object_type: a.object_type,
            object_id: a.object_id,
            source_ip: a.source_ip,
            at: a.at,
        }
    }
}
