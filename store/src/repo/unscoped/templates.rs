//! Templates read and written without a tenant (see [`super`]).

use crate::models_compute::{Template, TemplateRow};
use crate::schema::appliance_templates::dsl as t;
use crate::{DbConn, StoreError};
use common::{TemplateId, TenantId};
use diesel::prelude::*;

/// A template by id whatever its owner (the orchestrator builds domains from it).
pub fn get(conn: &mut DbConn, id: TemplateId) -> Result<Option<Template>, StoreError> {
    t::appliance_templates
        .find(id.to_string())
        .select(TemplateRow::as_select())
        .first(conn)
        .optional()?
        .map(Template::try_from)
        .transpose()
}

/// The pool of each template of `ids` (`None`: a template without images).
pub fn pools_of(
    conn: &mut DbConn,
    ids: &[TemplateId],
) -> Result<std::collections::HashMap<TemplateId, Option<common::PoolId>>, StoreError> {
    let ids: Vec<String> = ids.iter().map(|x| x.to_string()).collect();
    let rows: Vec<(String, Option<String>)> = t::appliance_templates
        .filter(t::id.eq_any(ids))
        .select((t::id, t::pool_id))
        .load(conn)?;
    rows.into_iter()
        .map(|(id, pool)| {
            Ok((
                crate::models::parse("template id", &id)?,
                pool.as_deref()
                    .map(|p| crate::models::parse("pool id", p))
                    .transpose()?,
            ))
        })
        .collect()
}

/// Whether a template installs with the script `name` of `owner` (`None`: a library script, which
/// any template may name; a tenant's script only that tenant's templates).
pub fn uses_script(
    conn: &mut DbConn,
    name: &str,
    owner: Option<TenantId>,
) -> Result<bool, StoreError> {
    let mut q = t::appliance_templates
        .select(t::install_scripts)
        .into_boxed();
    if let Some(tenant) = owner {
        q = q.filter(t::tenant_id.eq(tenant.to_string()));
    }
    let lists: Vec<String> = q.load(conn)?;
    for l in lists {
        let names: Vec<String> = crate::models_compute::json_of("install scripts", &l)?;
        if names.iter().any(|n| n == name) {
            return Ok(true);
        }
    }
    Ok(false)
}
