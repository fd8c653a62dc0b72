//! The appliance catalog: global templates (tenant `None`) and tenants' private ones. A tenant sees the
//! global ones and its own.

use super::{Page, PageRequest, convert, fetch_limit};
use crate::models_compute::{Template, TemplateRow, template_scope};
use crate::schema::appliance_templates::dsl as t;
use crate::{DbConn, StoreError};
use common::{TemplateId, TenantId};
use diesel::prelude::*;

pub fn insert(conn: &mut DbConn, template: &Template) -> Result<(), StoreError> {
    diesel::insert_into(t::appliance_templates)
        .values(TemplateRow::from(template))
        .execute(conn)
        .map_err(|e| StoreError::unique_as(e, "name"))?;
    Ok(())
}

/// A template `tenant` may use: global, or its own.
pub fn get_visible(
    conn: &mut DbConn,
    tenant: TenantId,
    id: TemplateId,
) -> Result<Option<Template>, StoreError> {
    t::appliance_templates
        .filter(t::id.eq(id.to_string()))
        .filter(t::scope.eq_any([template_scope(None), template_scope(Some(tenant))]))
        .select(TemplateRow::as_select())
        .first(conn)
        .optional()?
        .map(Template::try_from)
        .transpose()
}

pub fn list_visible(
    conn: &mut DbConn,
    tenant: TenantId,
    page: &PageRequest,
) -> Result<Page<Template>, StoreError> {
    let base = t::appliance_templates
        .filter(t::scope.eq_any([template_scope(None), template_scope(Some(tenant))]))
        .select(TemplateRow::as_select())
        .order(t::id.asc())
        .limit(fetch_limit(page.limit));
    let rows = match &page.after {
        None => base.load(conn)?,
        Some(a) => base.filter(t::id.gt(a.clone())).load(conn)?,
    };
    Ok(Page::from_rows(
        convert(rows)?,
        page.limit,
        |x: &Template| x.id.to_string(),
    ))
}

pub fn count_global(conn: &mut DbConn) -> Result<i64, StoreError> {
    Ok(t::appliance_templates
        .filter(t::scope.eq(template_scope(None)))
        .count()
        .get_result(conn)?)
}

/// Delete a template owned by `owner` (`None`: a global one).
pub fn delete(
    conn: &mut DbConn,
    owner: Option<TenantId>,
    id: TemplateId,
) -> Result<bool, StoreError> {
    let n = diesel::delete(
        t::appliance_templates
            .filter(t::id.eq(id.to_string()))
            .filter(t::scope.eq(template_scope(owner))),
    )
    .execute(conn)?;
    Ok(n > 0)
}

/// Whether any group uses the template.
pub fn in_use(conn: &mut DbConn, id: TemplateId) -> Result<bool, StoreError> {
    use crate::schema::appliance_groups::dsl as g;
    let n: i64 = g::appliance_groups
        .filter(g::template_id.eq(id.to_string()))
        .count()
        .get_result(conn)?;
    Ok(n > 0)
}

/// How many templates `owner` (`None`: the provider's global ones) has.
pub fn count_owned(conn: &mut DbConn, owner: Option<TenantId>) -> Result<i64, StoreError> {
    Ok(t::appliance_templates
        .filter(t::scope.eq(template_scope(owner)))
        .count()
        .get_result(conn)?)
}
