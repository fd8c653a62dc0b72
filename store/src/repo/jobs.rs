//! Script jobs (tenant-scoped reads): one CloudScript run on one appliance.

use super::{Page, PageRequest, convert, fetch_limit};
use crate::models_automation::{Job, JobRow};
use crate::schema::script_jobs as j;
use crate::{DbConn, StoreError};
use common::{ApplianceId, JobId, TenantId};
use diesel::prelude::*;

pub fn get(conn: &mut DbConn, tenant: TenantId, id: JobId) -> Result<Option<Job>, StoreError> {
    j::table
        .find(id.to_string())
        .filter(j::tenant_id.eq(tenant.to_string()))
        .select(JobRow::as_select())
        .first(conn)
        .optional()?
        .map(Job::try_from)
        .transpose()
}

/// An appliance's jobs, newest first.
pub fn of_appliance(
    conn: &mut DbConn,
    tenant: TenantId,
    appliance: ApplianceId,
    page: &PageRequest,
) -> Result<Page<Job>, StoreError> {
    let mut q = j::table
        .filter(j::tenant_id.eq(tenant.to_string()))
        .filter(j::appliance_id.eq(appliance.to_string()))
        .select(JobRow::as_select())
        .order(j::id.desc())
        .limit(fetch_limit(page.limit))
        .into_boxed();
    if let Some(a) = &page.after {
        q = q.filter(j::id.lt(a.clone()));
    }
    Ok(Page::from_rows(
        convert(q.load(conn)?)?,
        page.limit,
        |x: &Job| x.id.to_string(),
    ))
}
