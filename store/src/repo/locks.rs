//! Row locks for read-modify-write inside a write transaction. On PostgreSQL (READ COMMITTED) a row
//! read and then written back can be changed by another transaction in between; `lock` takes the
//! row's lock (`SELECT … FOR NO KEY UPDATE`: the strength an `UPDATE` that keeps the key takes, so it
//! never waits for, nor blocks, the `KEY SHARE` locks foreign-key checks take on parent rows) so the
//! read that follows is current until commit. On SQLite a
//! write transaction already holds the database's write lock from its start (`BEGIN IMMEDIATE`), so
//! there is nothing more to take.
//!
//! Lock order, to never deadlock: the tenant first, then the object.

use crate::{DbConn, StoreError};
use diesel::RunQueryDsl;
use diesel::sql_types::Text;

/// A table whose rows are read and written back.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Table {
    Tenants,
    Users,
    Projects,
    Hosts,
    Pools,
    Applications,
    Groups,
    Scripts,
    Rules,
    Runs,
}

impl Table {
    fn sql(self) -> &'static str {
        match self {
            Table::Tenants => "SELECT 1 FROM tenants WHERE id = $1 FOR NO KEY UPDATE",
            Table::Users => "SELECT 1 FROM users WHERE id = $1 FOR NO KEY UPDATE",
            Table::Projects => "SELECT 1 FROM projects WHERE id = $1 FOR NO KEY UPDATE",
            Table::Hosts => "SELECT 1 FROM hosts WHERE id = $1 FOR NO KEY UPDATE",
            Table::Pools => "SELECT 1 FROM compute_pools WHERE id = $1 FOR NO KEY UPDATE",
            Table::Applications => "SELECT 1 FROM applications WHERE id = $1 FOR NO KEY UPDATE",
            Table::Groups => "SELECT 1 FROM appliance_groups WHERE id = $1 FOR NO KEY UPDATE",
            Table::Scripts => "SELECT 1 FROM cloudscripts WHERE id = $1 FOR NO KEY UPDATE",
            Table::Rules => "SELECT 1 FROM event_rules WHERE id = $1 FOR NO KEY UPDATE",
            Table::Runs => "SELECT 1 FROM action_runs WHERE id = $1 FOR NO KEY UPDATE",
        }
    }
}

/// Lock the row `id` of `table` until the transaction ends (a missing row locks nothing).
pub fn lock(conn: &mut DbConn, table: Table, id: &str) -> Result<(), StoreError> {
    if let DbConn::Pg(c) = conn {
        diesel::sql_query(table.sql())
            .bind::<Text, _>(id)
            .execute(c)?;
    }
    Ok(())
}

/// Lock a tenant's row: every change that checks a tenant-wide rule (quotas, its last admin) or
/// reads and writes back one of its objects takes it first, so such changes run one at a time per
/// tenant.
pub fn tenant(conn: &mut DbConn, tenant: common::TenantId) -> Result<(), StoreError> {
    lock(conn, Table::Tenants, &tenant.to_string())
}
