//! Templates read and written without a tenant (see [`super`]).

use crate::models_compute::{Template, TemplateRow};
use crate::schema::appliance_templates::dsl as t;
use crate::{DbConn, StoreError};
use common::TemplateId;
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
