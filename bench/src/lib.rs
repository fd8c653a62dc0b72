//! Fixtures the benchmarks share.

use common::api::Quotas;
use common::{ProjectId, TenantId, TenantKind, TenantStatus};
use store::repo::{projects, tenants};
use store::time::now;
use store::{DbConn, Project, StoreError, Tenant};

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
