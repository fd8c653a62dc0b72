//! Applications read and written without a tenant (see [`super`]).

use crate::models_apps::{Application, ApplicationRow, Group, GroupRow};
use crate::repo::convert;
use crate::schema::{appliance_groups::dsl as g, applications::dsl as a};
use crate::time::{now, to_db};
use crate::{DbConn, StoreError};
use chrono::{DateTime, Utc};
use common::ApplicationId;
use diesel::prelude::*;
use diesel::sql_types::{BigInt, Text, Timestamp};

#[derive(QueryableByName)]
struct ClaimedRow {
    #[diesel(sql_type = Text)]
    id: String,
    #[diesel(sql_type = BigInt)]
    generation: i64,
}

/// A claimed application: its id and the generation seen when it was claimed.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Claim {
    pub id: ApplicationId,
    pub generation: i64,
}

/// An application's lease holder and its end (`None`: not claimed).
pub type Lease = (Option<String>, Option<DateTime<Utc>>);

/// A claim given back: the application is due again at `next` (at once if it changed meanwhile);
/// `error` records a failed pass and counts toward backoff, `None` resets the failure count.
#[derive(Clone, Debug)]
pub struct Release {
    pub claim: Claim,
    pub next: DateTime<Utc>,
    pub error: Option<String>,
}

/// The statement of [`release_all`] for `n` claims, with placeholders written by `p(1..)`.
fn release_sql(n: usize, p: impl Fn(usize) -> String) -> String {
    let rows: Vec<String> = (0..n)
        .map(|i| {
            let k = i * 4;
            format!("({}, {}, {}, {})", p(k + 1), p(k + 2), p(k + 3), p(k + 4))
        })
        .collect();
    format!(
        "WITH v(id, gen, next_at, err) AS (VALUES {}) \
         UPDATE applications SET lease_owner = NULL, lease_expires_at = NULL, \
           reconcile_after = CASE WHEN applications.generation = v.gen THEN v.next_at ELSE {} END, \
           failures = CASE WHEN v.err IS NULL THEN 0 ELSE applications.failures + 1 END, \
           last_error = v.err \
         FROM v WHERE applications.id = v.id AND applications.lease_owner = {}",
        rows.join(", "),
        p(n * 4 + 1),
        p(n * 4 + 2)
    )
}

/// An application by id alone: for the orchestrator, which works for every tenant.
pub fn get(conn: &mut DbConn, id: ApplicationId) -> Result<Option<Application>, StoreError> {
    a::applications
        .find(id.to_string())
        .select(ApplicationRow::as_select())
        .first(conn)
        .optional()?
        .map(Application::try_from)
        .transpose()
}

/// The applications of `ids` that exist, whatever their tenant (the orchestrator's batched load).
pub fn get_many(conn: &mut DbConn, ids: &[ApplicationId]) -> Result<Vec<Application>, StoreError> {
    let ids: Vec<String> = ids.iter().map(|i| i.to_string()).collect();
    convert(
        a::applications
            .filter(a::id.eq_any(ids))
            .select(ApplicationRow::as_select())
            .load(conn)?,
    )
}

/// Mark an application for reconcile now (a change its orchestrator must act on).
pub fn touch(conn: &mut DbConn, id: ApplicationId) -> Result<(), StoreError> {
    diesel::update(a::applications.find(id.to_string()))
        .set((
            a::generation.eq(a::generation + 1),
            a::reconcile_after.eq(to_db(now())),
        ))
        .execute(conn)?;
    Ok(())
}

/// Claim up to `limit` applications that are due and not leased by another orchestrator.
pub fn claim_due(
    conn: &mut DbConn,
    owner: &str,
    at: DateTime<Utc>,
    lease_until: DateTime<Utc>,
    limit: i64,
) -> Result<Vec<Claim>, StoreError> {
    let rows: Vec<ClaimedRow> = match conn {
        DbConn::Pg(c) => diesel::sql_query(
            "UPDATE applications SET lease_owner = $1, lease_expires_at = $2 \
             WHERE id IN (SELECT id FROM applications WHERE reconcile_after <= $3 \
               AND (lease_owner IS NULL OR lease_expires_at < $3) \
               ORDER BY reconcile_after LIMIT $4 FOR UPDATE SKIP LOCKED) \
             RETURNING id, generation",
        )
        .bind::<Text, _>(owner)
        .bind::<Timestamp, _>(to_db(lease_until))
        .bind::<Timestamp, _>(to_db(at))
        .bind::<BigInt, _>(limit)
        .load(c)?,
        DbConn::Sqlite(c) => diesel::sql_query(
            "UPDATE applications SET lease_owner = ?, lease_expires_at = ? \
             WHERE id IN (SELECT id FROM applications WHERE reconcile_after <= ? \
               AND (lease_owner IS NULL OR lease_expires_at < ?) \
               ORDER BY reconcile_after LIMIT ?) \
             RETURNING id, generation",
        )
        .bind::<Text, _>(owner)
        .bind::<Timestamp, _>(to_db(lease_until))
        .bind::<Timestamp, _>(to_db(at))
        .bind::<Timestamp, _>(to_db(at))
        .bind::<BigInt, _>(limit)
        .load(c)?,
    };
    rows.into_iter()
        .map(|r| {
            Ok(Claim {
                id: crate::models::parse("application id", &r.id)?,
                generation: r.generation,
            })
        })
        .collect()
}

/// Who holds an application's lease, and until when (operators' diagnostics and tests).
pub fn lease_of(conn: &mut DbConn, id: ApplicationId) -> Result<Option<Lease>, StoreError> {
    let row: Option<(Option<String>, Option<crate::time::Ts>)> = a::applications
        .find(id.to_string())
        .select((a::lease_owner, a::lease_expires_at))
        .first(conn)
        .optional()?;
    Ok(row.map(|(owner, until)| (owner, until.map(crate::time::from_db))))
}

/// Extend `owner`'s leases of `ids` to `until`; returns the ids still held (a lease that lapsed and
/// was taken by another orchestrator is not renewed).
pub fn renew(
    conn: &mut DbConn,
    owner: &str,
    ids: &[ApplicationId],
    until: DateTime<Utc>,
) -> Result<Vec<ApplicationId>, StoreError> {
    let ids: Vec<String> = ids.iter().map(|x| x.to_string()).collect();
    let mut held = Vec::with_capacity(ids.len());
    for chunk in ids.chunks(500) {
        let renewed: Vec<String> = diesel::update(
            a::applications
                .filter(a::id.eq_any(chunk))
                .filter(a::lease_owner.eq(owner)),
        )
        .set(a::lease_expires_at.eq(Some(to_db(until))))
        .returning(a::id)
        .get_results(conn)?;
        for id in renewed {
            held.push(crate::models::parse("application id", &id)?);
        }
    }
    Ok(held)
}

/// Give back the claims `owner` still holds, one statement for up to 500 of them. A claim whose lease
/// was lost meanwhile (it lapsed and another orchestrator took the application) is left to the new
/// owner.
pub fn release_all(conn: &mut DbConn, owner: &str, released: &[Release]) -> Result<(), StoreError> {
    use diesel::sql_types::Nullable;
    let at = to_db(now());
    for chunk in released.chunks(500) {
        macro_rules! run {
            ($c:expr, $db:ty, $p:expr) => {{
                let mut q = diesel::sql_query(release_sql(chunk.len(), $p)).into_boxed::<$db>();
                for r in chunk {
                    q = q
                        .bind::<Text, _>(r.claim.id.to_string())
                        .bind::<BigInt, _>(r.claim.generation)
                        .bind::<Timestamp, _>(to_db(r.next))
                        .bind::<Nullable<Text>, _>(r.error.clone());
                }
                q.bind::<Timestamp, _>(at)
                    .bind::<Text, _>(owner.to_owned())
                    .execute($c)?
            }};
        }
        match conn {
            DbConn::Pg(c) => run!(c, diesel::pg::Pg, |i| format!("${i}")),
            DbConn::Sqlite(c) => run!(c, diesel::sqlite::Sqlite, |_| "?".to_owned()),
        };
    }
    Ok(())
}

/// Every deployed application's id (the periodic resync).
pub fn all_deployed(conn: &mut DbConn) -> Result<Vec<ApplicationId>, StoreError> {
    let ids: Vec<String> = a::applications
        .filter(a::deployed.eq(true))
        .select(a::id)
        .load(conn)?;
    ids.iter()
        .map(|s| crate::models::parse("application id", s))
        .collect()
}

/// The groups of an application (the orchestrator reads them for any tenant by application id).
pub fn groups(conn: &mut DbConn, app: ApplicationId) -> Result<Vec<Group>, StoreError> {
    groups_of_many(conn, &[app])
}

/// The groups of the applications of `apps`, in id order.
pub fn groups_of_many(conn: &mut DbConn, apps: &[ApplicationId]) -> Result<Vec<Group>, StoreError> {
    let ids: Vec<String> = apps.iter().map(|i| i.to_string()).collect();
    convert(
        g::appliance_groups
            .filter(g::application_id.eq_any(ids))
            .select(GroupRow::as_select())
            .order(g::id.asc())
            .load(conn)?,
    )
}
