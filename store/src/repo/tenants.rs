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

pub fn update(
    conn: &mut DbConn,
    id: TenantId,
    name: Option<&str>,
    quotas: Option<Quotas>,
) -> Result<Option<Tenant>, StoreError> {
    let Some(mut tenant) = get(conn, id)? else {
        return Ok(None);
    };
    if let Some(n) = name {
        tenant.name = n.to_owned();
    }
    if let Some(q) = quotas {
        tenant.quotas = q;
    }
    tenant.updated_at = now();
    let row = TenantRow::from(&tenant);
    diesel::update(t::tenants.find(id.to_string()))
        .set(&row)
        .execute(conn)?;
    Ok(Some(tenant))
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
    Ok(diesel::delete(t::tenants.find(id.to_string())).execute(conn)? > 0)
}
