//! Users of a tenant.

use super::{Page, PageRequest, convert, fetch_limit};
use crate::models::{Tenant, TenantRow, User, UserRow};
use crate::schema::{tenants, users::dsl as u};
use crate::time::{now, to_db};
use crate::{DbConn, StoreError};
use common::{Role, TenantId, UserId};
use diesel::prelude::*;

pub fn insert(conn: &mut DbConn, tenant: TenantId, user: &User) -> Result<(), StoreError> {
    debug_assert_eq!(tenant, user.tenant_id);
    let mut row = UserRow::from(user);
    row.tenant_id = tenant.to_string();
    diesel::insert_into(u::users)
        .values(row)
        .execute(conn)
        .map_err(|e| StoreError::unique_as(e, "email"))?;
    Ok(())
}

pub fn get(conn: &mut DbConn, tenant: TenantId, id: UserId) -> Result<Option<User>, StoreError> {
    u::users
        .filter(u::tenant_id.eq(tenant.to_string()))
        .filter(u::id.eq(id.to_string()))
        .select(UserRow::as_select())
        .first(conn)
        .optional()?
        .map(User::try_from)
        .transpose()
}

/// A user and its tenant, for authenticating a request whose token names both.
pub fn with_tenant(
    conn: &mut DbConn,
    tenant: TenantId,
    id: UserId,
) -> Result<Option<(User, Tenant)>, StoreError> {
    let row: Option<(UserRow, TenantRow)> = u::users
        .inner_join(tenants::table)
        .filter(u::tenant_id.eq(tenant.to_string()))
        .filter(u::id.eq(id.to_string()))
        .select((UserRow::as_select(), TenantRow::as_select()))
        .first(conn)
        .optional()?;
    row.map(|(u, t)| Ok((User::try_from(u)?, Tenant::try_from(t)?)))
        .transpose()
}

pub fn list(
    conn: &mut DbConn,
    tenant: TenantId,
    page: &PageRequest,
) -> Result<Page<User>, StoreError> {
    let mut q = u::users
        .filter(u::tenant_id.eq(tenant.to_string()))
        .select(UserRow::as_select())
        .order(u::id.asc())
        .into_boxed();
    if let Some(after) = &page.after {
        q = q.filter(u::id.gt(after.clone()));
    }
    let rows = q.limit(fetch_limit(page.limit)).load(conn)?;
    Ok(Page::from_rows(convert(rows)?, page.limit, |x: &User| {
        x.id.to_string()
    }))
}

/// A user read under its row lock (see [`super::locks`]): current until the transaction ends.
pub fn get_locked(
    conn: &mut DbConn,
    tenant: TenantId,
    id: UserId,
) -> Result<Option<User>, StoreError> {
    super::locks::lock(conn, super::locks::Table::Users, &id.to_string())?;
    get(conn, tenant, id)
}

/// What an admin changes of a user; `None` leaves a column as it is.
#[derive(Clone, Debug, Default)]
pub struct UserChanges {
    pub name: Option<String>,
    pub role: Option<Role>,
    pub disabled: Option<bool>,
    /// Bump the token version: every token issued before stops working.
    pub end_sessions: bool,
}

/// Apply `changes` to the user's own columns only (never its password). Returns whether it exists.
pub fn update(
    conn: &mut DbConn,
    tenant: TenantId,
    id: UserId,
    changes: &UserChanges,
) -> Result<bool, StoreError> {
    #[derive(AsChangeset)]
    #[diesel(table_name = crate::schema::users)]
    struct Set {
        name: Option<String>,
        role: Option<String>,
        disabled: Option<bool>,
        updated_at: crate::time::Ts,
    }
    let target = u::users
        .filter(u::tenant_id.eq(tenant.to_string()))
        .filter(u::id.eq(id.to_string()));
    let set = Set {
        name: changes.name.clone(),
        role: changes.role.map(|r| r.to_string()),
        disabled: changes.disabled,
        updated_at: to_db(now()),
    };
    let n = diesel::update(target).set(set).execute(conn)?;
    if changes.end_sessions && n > 0 {
        bump_token_version(conn, tenant, id)?;
    }
    Ok(n > 0)
}

/// Set a user's password hash and end every session issued before (token version + 1), touching
/// no other column.
pub fn set_password(
    conn: &mut DbConn,
    tenant: TenantId,
    id: UserId,
    password_hash: &str,
) -> Result<bool, StoreError> {
    let n = diesel::update(
        u::users
            .filter(u::tenant_id.eq(tenant.to_string()))
            .filter(u::id.eq(id.to_string())),
    )
    .set((
        u::password_hash.eq(password_hash),
        u::token_version.eq(u::token_version + 1),
        u::updated_at.eq(to_db(now())),
    ))
    .execute(conn)?;
    Ok(n > 0)
}

/// How many enabled users of `tenant` hold `role` (to keep at least one admin or operator).
pub fn count_enabled_with_role(
    conn: &mut DbConn,
    tenant: TenantId,
    role: Role,
) -> Result<i64, StoreError> {
    Ok(u::users
        .filter(u::tenant_id.eq(tenant.to_string()))
        .filter(u::role.eq(role.to_string()))
        .filter(u::disabled.eq(false))
        .count()
        .get_result(conn)?)
}

/// Bump a user's token version so every token issued before stops working at once.
pub fn bump_token_version(
    conn: &mut DbConn,
    tenant: TenantId,
    id: UserId,
) -> Result<bool, StoreError> {
    let n = diesel::update(
        u::users
            .filter(u::tenant_id.eq(tenant.to_string()))
            .filter(u::id.eq(id.to_string())),
    )
    .set((
        u::token_version.eq(u::token_version + 1),
        u::updated_at.eq(to_db(now())),
    ))
    .execute(conn)?;
    Ok(n > 0)
}
