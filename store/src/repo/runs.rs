//! Action runs (tenant-scoped reads): one per (event, rule), with per-step status.

use super::{Page, PageRequest, convert, fetch_limit};
use crate::models_automation::{Run, RunRow};
use crate::schema::action_runs as ar;
use crate::{DbConn, StoreError};
use common::{ApplicationId, RuleId, RunId, TenantId};
use diesel::prelude::*;

pub fn get(conn: &mut DbConn, tenant: TenantId, id: RunId) -> Result<Option<Run>, StoreError> {
    ar::table
        .find(id.to_string())
        .filter(ar::tenant_id.eq(tenant.to_string()))
        .select(RunRow::as_select())
        .first(conn)
        .optional()?
        .map(Run::try_from)
        .transpose()
}

/// Runs of an application or of one of its rules, newest first.
pub fn list(
    conn: &mut DbConn,
    tenant: TenantId,
    application: Option<ApplicationId>,
    rule: Option<RuleId>,
    page: &PageRequest,
) -> Result<Page<Run>, StoreError> {
    let mut q = ar::table
        .filter(ar::tenant_id.eq(tenant.to_string()))
        .select(RunRow::as_select())
        .order(ar::id.desc())
        .limit(fetch_limit(page.limit))
        .into_boxed();
    if let Some(a) = application {
        q = q.filter(ar::application_id.eq(a.to_string()));
    }
    if let Some(r) = rule {
        q = q.filter(ar::rule_id.eq(r.to_string()));
    }
    if let Some(a) = &page.after {
        q = q.filter(ar::id.lt(a.clone()));
    }
    Ok(Page::from_rows(
        convert(q.load(conn)?)?,
        page.limit,
        |x: &Run| x.id.to_string(),
    ))
}
