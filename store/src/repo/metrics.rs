//! The latest metrics report of each appliance.

use crate::schema::appliance_metrics::dsl as m;
use crate::time::{Ts, to_db};
use crate::{DbConn, StoreError};
use chrono::{DateTime, Utc};
use common::agent::MetricsReport;
use common::{ApplianceId, TenantId};
use diesel::prelude::*;

pub fn put(
    conn: &mut DbConn,
    tenant: TenantId,
    id: ApplianceId,
    at: DateTime<Utc>,
    report: &MetricsReport,
) -> Result<(), StoreError> {
    let text = serde_json::to_string(report).map_err(|source| StoreError::Json {
        what: "metrics report",
        source,
    })?;
    let n = diesel::update(m::appliance_metrics.find(id.to_string()))
        .set((m::at.eq(to_db(at)), m::report.eq(&text)))
        .execute(conn)?;
    if n == 0 {
        diesel::insert_into(m::appliance_metrics)
            .values((
                m::appliance_id.eq(id.to_string()),
                m::tenant_id.eq(tenant.to_string()),
                m::at.eq(to_db(at)),
                m::report.eq(&text),
            ))
            .execute(conn)?;
    }
    Ok(())
}

pub fn get(
    conn: &mut DbConn,
    tenant: TenantId,
    id: ApplianceId,
) -> Result<Option<MetricsReport>, StoreError> {
    let row: Option<(String, Ts)> = m::appliance_metrics
        .filter(m::tenant_id.eq(tenant.to_string()))
        .filter(m::appliance_id.eq(id.to_string()))
        .select((m::report, m::at))
        .first(conn)
        .optional()?;
    row.map(|(r, _)| {
        serde_json::from_str(&r).map_err(|source| StoreError::Json {
            what: "stored metrics report",
            source,
        })
    })
    .transpose()
}

/// Store the latest report of many appliances at once (upsert, latest wins).
pub fn put_many(
    conn: &mut DbConn,
    reports: &[(TenantId, ApplianceId, DateTime<Utc>, MetricsReport)],
) -> Result<(), StoreError> {
    use diesel::upsert::excluded;
    for chunk in reports.chunks(500) {
        let rows = chunk
            .iter()
            .map(|(tenant, id, at, report)| {
                let text = serde_json::to_string(report).map_err(|source| StoreError::Json {
                    what: "metrics report",
                    source,
                })?;
                Ok((
                    m::appliance_id.eq(id.to_string()),
                    m::tenant_id.eq(tenant.to_string()),
                    m::at.eq(to_db(*at)),
                    m::report.eq(text),
                ))
            })
            .collect::<Result<Vec<_>, StoreError>>()?;
        // (the connection enum has no upsert of its own: each engine runs it)
        macro_rules! upsert {
            ($c:expr) => {
                diesel::insert_into(m::appliance_metrics)
                    .values(rows)
                    .on_conflict(m::appliance_id)
                    .do_update()
                    .set((m::at.eq(excluded(m::at)), m::report.eq(excluded(m::report))))
                    .execute($c)?
            };
        }
        match conn {
            DbConn::Pg(c) => upsert!(c),
            DbConn::Sqlite(c) => upsert!(c),
        };
    }
    Ok(())
}
