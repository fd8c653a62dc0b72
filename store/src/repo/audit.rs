//! The audit log: written in the same transaction as the change it records.

use super::{Page, PageRequest, convert, fetch_limit};
use crate::models::{Actor, AuditEntry, AuditRow};
use crate::schema::audit_log::dsl as a;
use crate::time::{now, to_db};
use crate::{DbConn, StoreError};
use common::{AuditId, TenantId};
use diesel::prelude::*;

/// An audit entry to write, built step by step:
/// `Entry::new(tenant, &actor, "user.update").object("user", id).detail(json!({..})).record(c)?`.
/// Written in the same transaction as the change it records.
#[derive(Debug)]
#[must_use = "an audit entry is written only by `record`"]
pub struct Entry<'a> {
    tenant: TenantId,
    actor: &'a Actor,
    action: &'static str,
    object_type: &'static str,
    object_id: String,
    detail: serde_json::Value,
}

impl<'a> Entry<'a> {
    /// `actor` did `action` (such as `user.update`) to data of `tenant`.
    pub fn new(tenant: TenantId, actor: &'a Actor, action: &'static str) -> Self {
        Entry {
            tenant,
            actor,
            action,
            object_type: "",
            object_id: String::new(),
            detail: serde_json::json!({}),
        }
    }

    /// The object acted on.
    pub fn object(mut self, object_type: &'static str, id: impl std::fmt::Display) -> Self {
        self.object_type = object_type;
        self.object_id = id.to_string();
        self
    }

    /// What changed, as a JSON object.
    pub fn detail(mut self, detail: serde_json::Value) -> Self {
        self.detail = detail;
        self
    }

    /// Write the entry.
    pub fn record(self, conn: &mut DbConn) -> Result<AuditEntry, StoreError> {
        let actor = self.actor;
        let entry = AuditEntry {
            id: AuditId::new(),
            tenant_id: self.tenant,
            actor_id: actor.user_id,
            actor_tenant_id: actor.tenant_id,
            actor_role: actor.role,
            actor_email: actor.email.clone(),
            action: self.action.to_owned(),
            object_type: self.object_type.to_owned(),
            object_id: self.object_id,
            detail: self.detail.to_string(),
            source_ip: actor.source_ip.clone(),
            at: now(),
        };
        diesel::insert_into(a::audit_log)
            .values(AuditRow {
                id: entry.id.to_string(),
                tenant_id: entry.tenant_id.to_string(),
                actor_id: entry.actor_id.map(|x| x.to_string()),
                actor_tenant_id: entry.actor_tenant_id.map(|x| x.to_string()),
                actor_role: entry.actor_role.map(|r| r.to_string()),
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
