//! Event rules of an application (tenant-scoped).

use super::{Page, PageRequest, convert, fetch_limit};
use crate::models_automation::{Rule, RuleRow};
use crate::schema::event_rules as r;
use crate::{DbConn, StoreError};
use common::{ApplicationId, RuleId, TenantId};
use diesel::prelude::*;

pub fn insert(conn: &mut DbConn, rule: &Rule) -> Result<(), StoreError> {
    diesel::insert_into(r::table)
        .values(RuleRow::from(rule))
        .execute(conn)
        .map_err(|e| StoreError::unique_as(e, "name"))?;
    Ok(())
}

pub fn get(conn: &mut DbConn, tenant: TenantId, id: RuleId) -> Result<Option<Rule>, StoreError> {
    r::table
        .find(id.to_string())
        .filter(r::tenant_id.eq(tenant.to_string()))
        .select(RuleRow::as_select())
        .first(conn)
        .optional()?
        .map(Rule::try_from)
        .transpose()
}

/// The rule, locked until the transaction ends (read-modify-write).
pub fn get_locked(
    conn: &mut DbConn,
    tenant: TenantId,
    id: RuleId,
) -> Result<Option<Rule>, StoreError> {
    super::locks::lock(conn, super::locks::Table::Rules, &id.to_string())?;
    get(conn, tenant, id)
}

/// An application's rules, in id order.
pub fn list(
    conn: &mut DbConn,
    tenant: TenantId,
    application: ApplicationId,
    page: &PageRequest,
) -> Result<Page<Rule>, StoreError> {
    let mut q = r::table
        .filter(r::tenant_id.eq(tenant.to_string()))
        .filter(r::application_id.eq(application.to_string()))
        .select(RuleRow::as_select())
        .order(r::id.asc())
        .limit(fetch_limit(page.limit))
        .into_boxed();
    if let Some(a) = &page.after {
        q = q.filter(r::id.gt(a.clone()));
    }
    Ok(Page::from_rows(
        convert(q.load(conn)?)?,
        page.limit,
        |x: &Rule| x.id.to_string(),
    ))
}

/// Write a rule read with [`get_locked`] back (the caller holds its lock).
pub fn save(conn: &mut DbConn, rule: &Rule) -> Result<(), StoreError> {
    diesel::update(
        r::table
            .find(rule.id.to_string())
            .filter(r::tenant_id.eq(rule.tenant_id.to_string())),
    )
    .set(RuleRow::from(rule))
    .execute(conn)
    .map_err(|e| StoreError::unique_as(e, "name"))?;
    Ok(())
}

pub fn delete(conn: &mut DbConn, tenant: TenantId, id: RuleId) -> Result<bool, StoreError> {
    Ok(diesel::delete(
        r::table
            .find(id.to_string())
            .filter(r::tenant_id.eq(tenant.to_string())),
    )
    .execute(conn)?
        > 0)
}

/// Whether any of the tenant's rules runs the script (any version).
pub fn uses_script(conn: &mut DbConn, script: common::ScriptId) -> Result<bool, StoreError> {
    let needle = format!("%\"script_id\":\"{script}\"%");
    let n: i64 = r::table
        .filter(r::steps.like(needle))
        .count()
        .get_result(conn)?;
    Ok(n > 0)
}

/// How many rules an application has.
pub fn count(
    conn: &mut DbConn,
    tenant: TenantId,
    application: ApplicationId,
) -> Result<i64, StoreError> {
    Ok(r::table
        .filter(r::tenant_id.eq(tenant.to_string()))
        .filter(r::application_id.eq(application.to_string()))
        .count()
        .get_result(conn)?)
}
