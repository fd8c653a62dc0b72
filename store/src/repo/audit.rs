//! The audit log: written in the same transaction as the change it records.

use super::{Page, PageRequest, convert, fetch_limit};
use crate::models::{Actor, AuditEntry, AuditRow};
use crate::schema::audit_log::dsl as a;
use crate::time::{now, to_db};
use crate::{DbConn, StoreError};
use common::{AuditId, TenantId};
use diesel::prelude::*;

/// Record that `actor` did `action` to an object of `tenant`. `detail` is a JSON object.
pub fn record(
    conn: &mut DbConn,
    tenant: TenantId,
    actor: &Actor,
    action: &str,
    object_type: &str,
    object_id: &str,
    detail: serde_json::Value,
) -> Result<AuditEntry, StoreError> {
    let entry = AuditEntry {
        id: AuditId::new(),
        tenant_id: tenant,
        actor_id: actor.user_id,
        actor_email: actor.email.clone(),
        action: action.to_owned(),
        object_type: object_type.to_owned(),
        object_id: object_id.to_owned(),
        detail: detail.to_string(),
        source_ip: actor.source_ip.clone(),
        at: now(),
    };
    diesel::insert_into(a::audit_log)
        .values(AuditRow {
            id: entry.id.to_string(),
            tenant_id: tenant.to_string(),
            actor_id: entry.actor_id.map(|x| x.to_string()),
            actor_email: entry.actor_email.clone(),
            action: entry.action.clone(),
            object_type: entry.object_type.clone(),
            object_id: entry.object_id.clone(),
            detail: entry.detail.clone(),
            source_ip: entry.source_ip.clone(),
            at: to_db(entry.at),
        })
        .execute(conn)?;
    Ok(entry)
}

/// A tenant's log, oldest first; `None` lists every tenant's (the provider's view).
pub fn list(
    conn: &mut DbConn,
    tenant: Option<TenantId>,
    page: &PageRequest,
) -> Result<Page<AuditEntry>, StoreError> {
    let mut q = a::audit_log
        .select(AuditRow::as_select())
        .order(a::id.asc())
        .into_boxed();
    if let Some(t) = tenant {
        q = q.filter(a::tenant_id.eq(t.to_string()));
    }
    if let Some(after) = &page.after {
        q = q.filter(a::id.gt(after.clone()));
    }
    let rows = q.limit(fetch_limit(page.limit)).load(conn)?;
    Ok(Page::from_rows(
        convert(rows)?,
        page.limit,
        |x: &AuditEntry| x.id.to_string(),
    ))
}

pub fn count(conn: &mut DbConn, tenant: Option<TenantId>) -> Result<i64, StoreError> {
    let mut q = a::audit_log.count().into_boxed();
    if let Some(t) = tenant {
        q = q.filter(a::tenant_id.eq(t.to_string()));
    }
    Ok(q.get_result(conn)?)
}
