//! Fixtures the benchmarks share.

use common::api::Quotas;
use common::{ProjectId, TenantId, TenantKind, TenantStatus};
use store::repo::{projects, tenants};
use store::time::now;
use store::{DbConn, Project, StoreError, Tenant};

/// The value at fraction `p` (0–1) of `sorted` (NaN when it is empty).
pub fn percentile(sorted: &[f64], p: f64) -> f64 {
    if sorted.is_empty() {
        return f64::NAN;
    }
    let i = ((sorted.len() as f64 - 1.0) * p).round() as usize;
    sorted[i.min(sorted.len() - 1)]
}

/// A customer tenant (`name`, `slug`, `quotas`) with one project `P`.
pub fn tenant_with_project(
    c: &mut DbConn,
    tenant: TenantId,
    name: &str,
    slug: &str,
    quotas: Quotas,
) -> Result<ProjectId, StoreError> {
    let at = now();
    tenants::insert(
        c,
        &Tenant {
            id: tenant,
            name: name.into(),
            slug: slug.into(),
            kind: TenantKind::Customer,
            status: TenantStatus::Active,
            quotas,
            created_at: at,
            updated_at: at,
        },
    )?;
    let project = ProjectId::new();
    projects::insert(
        c,
        tenant,
        &Project {
            id: project,
            tenant_id: tenant,
            name: "P".into(),
            description: String::new(),
            created_at: at,
            updated_at: at,
        },
    )?;
    Ok(project)
}
