//! CloudScripts and their immutable versions: a tenant sees its own scripts and the provider's
//! library (`tenant_id` none), changes only its own.

use super::{Page, PageRequest, convert, fetch_limit};
use crate::models_automation::{Script, ScriptRow, ScriptVersion, ScriptVersionRow};
use crate::schema::{cloudscript_versions as v, cloudscripts as s};
use crate::time::to_db;
use crate::{DbConn, StoreError};
use chrono::{DateTime, Utc};
use common::{ScriptId, TenantId};
use diesel::prelude::*;

/// Insert a script with its first version.
pub fn insert(conn: &mut DbConn, script: &Script, first: &ScriptVersion) -> Result<(), StoreError> {
    diesel::insert_into(s::table)
        .values(ScriptRow::from(script))
        .execute(conn)
        .map_err(|e| StoreError::unique_as(e, "name"))?;
    diesel::insert_into(v::table)
        .values(ScriptVersionRow::from(first))
        .execute(conn)?;
    Ok(())
}

/// A script `tenant` may see (its own or the library's).
pub fn get(
    conn: &mut DbConn,
    tenant: TenantId,
    id: ScriptId,
) -> Result<Option<Script>, StoreError> {
    let row: Option<ScriptRow> = s::table
        .find(id.to_string())
        .select(ScriptRow::as_select())
        .first(conn)
        .optional()?;
    row.map(Script::try_from)
        .transpose()
        .map(|x| x.filter(|sc| sc.tenant_id.is_none_or(|t| t == tenant)))
}

/// A script by name as `tenant` sees it: its own first, else the library's.
pub fn by_name(
    conn: &mut DbConn,
    tenant: Option<TenantId>,
    name: &str,
) -> Result<Option<Script>, StoreError> {
    let rows: Vec<ScriptRow> = s::table
        .filter(s::name.eq(name))
        .select(ScriptRow::as_select())
        .load(conn)?;
    let scripts: Vec<Script> = convert(rows)?;
    let own = scripts
        .iter()
        .find(|x| tenant.is_some() && x.tenant_id == tenant)
        .cloned();
    Ok(own.or_else(|| scripts.into_iter().find(|x| x.tenant_id.is_none())))
}

/// The scripts `owner` sees, in id order: `Some(tenant)` its own and the library's, `None` the
/// library's only.
pub fn list(
    conn: &mut DbConn,
    owner: Option<TenantId>,
    page: &PageRequest,
) -> Result<Page<Script>, StoreError> {
    let mut q = s::table
        .select(ScriptRow::as_select())
        .order(s::id.asc())
        .limit(fetch_limit(page.limit))
        .into_boxed();
    q = match owner {
        Some(t) => q.filter(s::tenant_id.eq(t.to_string()).or(s::tenant_id.is_null())),
        None => q.filter(s::tenant_id.is_null()),
    };
    if let Some(a) = &page.after {
        q = q.filter(s::id.gt(a.clone()));
    }
    Ok(Page::from_rows(
        convert(q.load(conn)?)?,
        page.limit,
        |x: &Script| x.id.to_string(),
    ))
}

/// One version of a script.
pub fn version(
    conn: &mut DbConn,
    id: ScriptId,
    version: u32,
) -> Result<Option<ScriptVersion>, StoreError> {
    v::table
        .find((id.to_string(), crate::models_compute::i32_of(version)))
        .select(ScriptVersionRow::as_select())
        .first(conn)
        .optional()?
        .map(ScriptVersion::try_from)
        .transpose()
}

/// Every version of a script, oldest first.
pub fn versions(conn: &mut DbConn, id: ScriptId) -> Result<Vec<ScriptVersion>, StoreError> {
    convert(
        v::table
            .filter(v::script_id.eq(id.to_string()))
            .order(v::version.asc())
            .select(ScriptVersionRow::as_select())
            .load(conn)?,
    )
}

/// The names of the variables that are secret in any version of the script (only the declarations
/// are read, not the bodies).
pub fn secret_names(conn: &mut DbConn, id: ScriptId) -> Result<Vec<String>, StoreError> {
    let all: Vec<String> = v::table
        .filter(v::script_id.eq(id.to_string()))
        .select(v::variables)
        .load(conn)?;
    let mut names = Vec::new();
    for text in all {
        let decls: Vec<common::api::VariableDecl> =
            crate::models_compute::json_of("script variables", &text)?;
        for d in decls.into_iter().filter(|d| d.secret) {
            if !names.contains(&d.name) {
                names.push(d.name);
            }
        }
    }
    Ok(names)
}

/// Add the next version if the script's latest is still `after` (a concurrent save answers
/// [`StoreError::Stale`] instead of overwriting or skipping a number).
pub fn add_version(
    conn: &mut DbConn,
    script: &Script,
    next: &ScriptVersion,
    description: Option<&str>,
    at: DateTime<Utc>,
) -> Result<(), StoreError> {
    let moved = diesel::update(
        s::table
            .find(script.id.to_string())
            .filter(s::latest_version.eq(crate::models_compute::i32_of(script.latest_version))),
    )
    .set((
        s::latest_version.eq(crate::models_compute::i32_of(next.version)),
        s::description.eq(description.unwrap_or(&script.description)),
        s::updated_at.eq(to_db(at)),
    ))
    .execute(conn)?;
    if moved == 0 {
        return Err(StoreError::Stale);
    }
    diesel::insert_into(v::table)
        .values(ScriptVersionRow::from(next))
        .execute(conn)?;
    Ok(())
}

/// Delete a script `owner` owns (`None`: a library script) with its versions.
pub fn delete(
    conn: &mut DbConn,
    owner: Option<TenantId>,
    id: ScriptId,
) -> Result<bool, StoreError> {
    let q = s::table.find(id.to_string());
    let n = match owner {
        Some(t) => diesel::delete(q.filter(s::tenant_id.eq(t.to_string()))).execute(conn)?,
        None => diesel::delete(q.filter(s::tenant_id.is_null())).execute(conn)?,
    };
    Ok(n > 0)
}

/// How many library scripts exist.
pub fn count_library(conn: &mut DbConn) -> Result<i64, StoreError> {
    Ok(s::table
        .filter(s::tenant_id.is_null())
        .count()
        .get_result(conn)?)
}

/// How many scripts a tenant owns.
pub fn count_of(conn: &mut DbConn, tenant: TenantId) -> Result<i64, StoreError> {
    Ok(s::table
        .filter(s::tenant_id.eq(tenant.to_string()))
        .count()
        .get_result(conn)?)
}
