//! Tenants. These functions are the provider's view (operators act across tenants); a customer's own
//! tenant is read with `get` using the id from its authenticated context.

use super::{Page, PageRequest, convert, fetch_limit};
use crate::models::{Tenant, TenantRow};
use crate::schema::tenants::dsl as t;
use crate::time::{now, to_db};
use crate::{DbConn, StoreError};
use common::api::Quotas;
use common::{TenantId, TenantKind, TenantStatus};
use diesel::prelude::*;

pub fn insert(conn: &mut DbConn, tenant: &Tenant) -> Result<(), StoreError> {
    diesel::insert_into(t::tenants)
        .values(TenantRow::from(tenant))
        .execute(conn)
        .map_err(|e| StoreError::unique_as(e, "slug"))?;
    Ok(())
}

pub fn get(conn: &mut DbConn, id: TenantId) -> Result<Option<Tenant>, StoreError> {
    t::tenants
        .find(id.to_string())
        .select(TenantRow::as_select())
        .first(conn)
        .optional()?
        .map(Tenant::try_from)
        .transpose()
}

/// The provider tenant, if bootstrapped.
pub fn provider(conn: &mut DbConn) -> Result<Option<Tenant>, StoreError> {
    t::tenants
        .filter(t::kind.eq(TenantKind::Provider.to_string()))
        .select(TenantRow::as_select())
        .first(conn)
        .optional()?
        .map(Tenant::try_from)
        .transpose()
}

pub fn list(conn: &mut DbConn, page: &PageRequest) -> Result<Page<Tenant>, StoreError> {
    let mut q = t::tenants
        .select(TenantRow::as_select())
        .order(t::id.asc())
        .into_boxed();
    if let Some(after) = &page.after {
        q = q.filter(t::id.gt(after.clone()));
    }
    let rows = q.limit(fetch_limit(page.limit)).load(conn)?;
    Ok(Page::from_rows(convert(rows)?, page.limit, |x: &Tenant| {
        x.id.to_string()
    }))
}

/// Change a tenant's name and/or quotas, writing only those columns; returns the tenant as it is now.
pub fn update(
    conn: &mut DbConn,
    id: TenantId,
    name: Option<&str>,
    quotas: Option<Quotas>,
) -> Result<Option<Tenant>, StoreError> {
    #[derive(AsChangeset)]
    #[diesel(table_name = crate::schema::tenants)]
    struct Set<'a> {
        name: Option<&'a str>,
        max_vcpus: Option<i32>,
        max_memory_mib: Option<i64>,
        max_appliances: Option<i32>,
        updated_at: crate::time::Ts,
    }
    let clamp = |v: u32| i32::try_from(v).unwrap_or(i32::MAX);
    let set = Set {
        name,
        max_vcpus: quotas.map(|q| clamp(q.max_vcpus)),
        max_memory_mib: quotas.map(|q| i64::from(q.max_memory_mib)),
        max_appliances: quotas.map(|q| clamp(q.max_appliances)),
        updated_at: to_db(now()),
    };
    let n = diesel::update(t::tenants.find(id.to_string()))
        .set(set)
        .execute(conn)?;
    if n == 0 {
        return Ok(None);
    }
    get(conn, id)
}

pub fn set_status(
    conn: &mut DbConn,
    id: TenantId,
    status: TenantStatus,
) -> Result<Option<Tenant>, StoreError> {
    let n = diesel::update(t::tenants.find(id.to_string()))
        .set((
            t::status.eq(status.to_string()),
            t::updated_at.eq(to_db(now())),
        ))
        .execute(conn)?;
    if n == 0 {
        return Ok(None);
    }
    get(conn, id)
}

/// Delete a tenant and (by cascade) its users, projects, assignments and sessions.
pub fn delete(conn: &mut DbConn, id: TenantId) -> Result<bool, StoreError> {
    Ok(diesel::delete(t::tenants.find(id.to_string()))
        .execute(conn)
        .map_err(StoreError::orphan_guard)?
        > 0)
}
