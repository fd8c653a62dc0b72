//! Users read and written without a tenant (see [`super`]).

use crate::models::{Tenant, TenantRow, User, UserRow};
use crate::schema::{tenants, users::dsl as u};
use crate::{DbConn, StoreError};
use diesel::prelude::*;

/// Login lookup: the accounts of an email (unique within a tenant, not across tenants), at most 20,
/// with their tenants. Not scoped by tenant: login is where the tenant is found.
pub fn by_email(conn: &mut DbConn, email: &str) -> Result<Vec<(User, Tenant)>, StoreError> {
    let rows: Vec<(UserRow, TenantRow)> = u::users
        .inner_join(tenants::table)
        .filter(u::email.eq(email))
        .select((UserRow::as_select(), TenantRow::as_select()))
        .order(u::id.asc())
        .limit(20)
        .load(conn)?;
    rows.into_iter()
        .map(|(u, t)| Ok((User::try_from(u)?, Tenant::try_from(t)?)))
        .collect()
}

pub fn count_all(conn: &mut DbConn) -> Result<i64, StoreError> {
    Ok(u::users.count().get_result(conn)?)
}
