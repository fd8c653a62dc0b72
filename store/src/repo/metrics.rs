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

/// Store the latest report of many appliances at once (upsert; a report never replaces a newer one,
/// whichever replica or retried batch wrote that). One statement per 500 appliances.
pub fn put_many(
    conn: &mut DbConn,
    reports: &[(TenantId, ApplianceId, DateTime<Utc>, MetricsReport)],
) -> Result<(), StoreError> {
    use diesel::sql_types::{Text, Timestamp};
    for chunk in reports.chunks(500) {
        let mut rows = Vec::with_capacity(chunk.len());
        for (tenant, id, at, report) in chunk {
            let text = serde_json::to_string(report).map_err(|source| StoreError::Json {
                what: "metrics report",
                source,
            })?;
            rows.push((id.to_string(), tenant.to_string(), to_db(*at), text));
        }
        macro_rules! run {
            ($c:expr, $db:ty, $p:expr) => {{
                let values: Vec<String> = (0..rows.len())
                    .map(|i| {
                        format!(
                            "({}, {}, {}, {})",
                            $p(4 * i + 1, "text"),
                            $p(4 * i + 2, "text"),
                            $p(4 * i + 3, "timestamp"),
                            $p(4 * i + 4, "text")
                        )
                    })
                    .collect();
                let sql = format!(
                    "INSERT INTO appliance_metrics (appliance_id, tenant_id, at, report) VALUES {} \
                     ON CONFLICT (appliance_id) DO UPDATE SET at = excluded.at, report = excluded.report \
                     WHERE appliance_metrics.at < excluded.at",
                    values.join(", ")
                );
                let mut q = diesel::sql_query(sql).into_boxed::<$db>();
                for (id, tenant, at, text) in &rows {
                    q = q
                        .bind::<Text, _>(id.clone())
                        .bind::<Text, _>(tenant.clone())
                        .bind::<Timestamp, _>(*at)
                        .bind::<Text, _>(text.clone());
                }
                q.execute($c)?
            }};
        }
        match conn {
            DbConn::Pg(c) => run!(c, diesel::pg::Pg, |i: usize, ty: &str| format!(
                "${i}::{ty}"
            )),
            DbConn::Sqlite(c) => run!(c, diesel::sqlite::Sqlite, |_: usize, _: &str| "?"
                .to_owned()),
        };
    }
    Ok(())
}
