//! IPAM: the addresses of a pool's guest network. Placement allocates one per appliance under the
//! placement lock (so two orchestrators never pick together; the table's keys refuse a second holder
//! regardless); moving an appliance to `terminated` releases it in the same transaction. A fresh
//! address is preferred; a released one is handed out again only when none is left, the longest
//! released first.

use crate::schema::{appliances::dsl as ap, ip_addresses::dsl as ip};
use crate::time::{Ts, from_db, now, to_db};
use crate::{DbConn, Pool, StoreError};
use chrono::{DateTime, Utc};
use common::{ApplianceId, ApplicationId, PoolId};
use diesel::prelude::*;
use ipnet::Ipv4Net;
use std::collections::HashMap;
use std::net::Ipv4Addr;

/// The addresses of `net` a guest may get: its host addresses but the gateway's.
pub fn assignable(net: Ipv4Net, gateway: Option<Ipv4Addr>) -> impl Iterator<Item = Ipv4Addr> {
    net.hosts().filter(move |a| Some(*a) != gateway)
}

/// How many addresses of `net` a guest may get.
pub fn capacity(net: Ipv4Net, gateway: Option<Ipv4Addr>) -> u64 {
    let hosts = match net.prefix_len() {
        32 => 1,
        31 => 2,
        p => (1u64 << (32 - u32::from(p))) - 2,
    };
    let gw = gateway.is_some_and(|g| net.contains(&g) && net.hosts().any(|h| h == g));
    hosts - u64::from(gw)
}

/// The first address of `net` a guest may get after `after` (all of them when `None`) (pure).
/// Fresh addresses are handed out in order, so what follows the greatest ever handed out is fresh.
pub fn fresh_after(
    net: Ipv4Net,
    gateway: Option<Ipv4Addr>,
    after: Option<Ipv4Addr>,
) -> Option<Ipv4Addr> {
    assignable(net, gateway).find(|a| after.is_none_or(|x| *a > x))
}

/// An address held by an appliance.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Held {
    pub address: Ipv4Addr,
    pub appliance_id: ApplianceId,
    pub allocated_at: DateTime<Utc>,
}

fn addr(s: &str) -> Result<Ipv4Addr, StoreError> {
    s.parse()
        .map_err(|_| StoreError::Corrupt(format!("ip address {s}")))
}

/// Allocates addresses for the appliances one placement transaction places, in few statements:
/// what they hold already is read once for them all ([`Allocator::new`]), the greatest address a
/// pool has handed out once per pool (and kept up to date as addresses are handed out), and the fresh
/// addresses are written together by [`Allocator::finish`], which the transaction must call
/// before anything else reads or releases them.
pub struct Allocator {
    /// Per pool, the greatest address ever handed out (read once, then kept here).
    last: HashMap<PoolId, Option<Ipv4Addr>>,
    held: HashMap<String, (String, String)>,
    fresh: Vec<(String, String, String)>,
    /// (appliance, address) to record as the appliances' `ip`.
    ips: Vec<(String, String)>,
    at: Ts,
}

impl Allocator {
    /// An allocator for these appliances (what they hold read now).
    pub fn new(c: &mut DbConn, appliances: &[ApplianceId]) -> Result<Self, StoreError> {
        let ids: Vec<String> = appliances.iter().map(ToString::to_string).collect();
        let held = held_rows(c, &ids)?
            .into_iter()
            .map(|(id, pool, a)| (id, (pool, a)))
            .collect();
        Ok(Allocator {
            last: HashMap::new(),
            held,
            fresh: Vec::new(),
            ips: Vec::new(),
            at: to_db(now()),
        })
    }

    /// The address `appliance` (one of [`Allocator::new`]'s) holds in `pool`, allocated now when
    /// it holds none: `None` when the pool has no network, `Err(Exhausted)` when every address is
    /// held. Also records it as the appliance's `ip` (on [`Allocator::finish`]). An address the
    /// appliance holds in another
    /// pool (it is placed anew elsewhere) is given back first. Call under
    /// [`hosts::lock_placement`](super::hosts::lock_placement), in one transaction per allocator.
    pub fn allocate(
        &mut self,
        c: &mut DbConn,
        pool: &Pool,
        appliance: ApplianceId,
    ) -> Result<Option<Ipv4Addr>, StoreError> {
        let Some(network) = &pool.network else {
            return Ok(None);
        };
        let net = network
            .net()
            .ok_or_else(|| StoreError::Corrupt(format!("network of pool {}", pool.id)))?;
        let id = appliance.to_string();
        let pool_id = pool.id.to_string();
        let chosen = match self.held.get(&id) {
            Some((p, a)) if *p == pool_id => addr(a)?,
            other => {
                if other.is_some() {
                    give_back(c, &[appliance])?;
                    self.held.remove(&id);
                }
                let a = self.hand_out(c, pool, net, network.gateway(), &id)?;
                self.held.insert(id.clone(), (pool_id, a.to_string()));
                a
            }
        };
        self.ips.push((id, chosen.to_string()));
        Ok(Some(chosen))
    }

    /// Write the fresh addresses handed out and the appliances' `ip`: on PostgreSQL in multi-row
    /// statements of 500, on
    /// SQLite (in process, where a statement costs no round trip) one by one, as
    /// `appliances::insert_many` does.
    pub fn finish(self, c: &mut DbConn) -> Result<(), StoreError> {
        let row = |(pool, a, id): &(String, String, String)| {
            let number = a.parse::<Ipv4Addr>().map_or(0, |a| i64::from(u32::from(a)));
            (
                ip::pool_id.eq(pool.clone()),
                ip::address.eq(a.clone()),
                ip::number.eq(number),
                ip::appliance_id.eq(Some(id.clone())),
                ip::allocated_at.eq(self.at),
            )
        };
        match c {
            DbConn::Pg(pg) => {
                for chunk in self.fresh.chunks(500) {
                    let rows: Vec<_> = chunk.iter().map(row).collect();
                    diesel::insert_into(ip::ip_addresses)
                        .values(rows)
                        .execute(pg)?;
                }
                // the appliances' ip, one `UPDATE … FROM (VALUES …)` per 500
                for chunk in self.ips.chunks(500) {
                    use diesel::sql_types::Text;
                    let values: Vec<String> = (0..chunk.len())
                        .map(|i| format!("(${}::text, ${}::text)", 2 * i + 1, 2 * i + 2))
                        .collect();
                    let sql = format!(
                        "WITH v(id, ip) AS (VALUES {}) UPDATE appliances SET ip = v.ip FROM v \
                         WHERE appliances.id = v.id",
                        values.join(", ")
                    );
                    let mut q = diesel::sql_query(sql).into_boxed::<diesel::pg::Pg>();
                    for (id, a) in chunk {
                        q = q.bind::<Text, _>(id.clone()).bind::<Text, _>(a.clone());
                    }
                    q.execute(pg)?;
                }
            }
            DbConn::Sqlite(lite) => {
                for f in &self.fresh {
                    diesel::insert_into(ip::ip_addresses)
                        .values(row(f))
                        .execute(lite)?;
                }
                for (id, a) in &self.ips {
                    diesel::update(ap::appliances.find(id))
                        .set(ap::ip.eq(a))
                        .execute(lite)?;
                }
            }
        }
        Ok(())
    }

    fn hand_out(
        &mut self,
        c: &mut DbConn,
        pool: &Pool,
        net: Ipv4Net,
        gateway: Option<Ipv4Addr>,
        id: &str,
    ) -> Result<Ipv4Addr, StoreError> {
        let pool_id = pool.id.to_string();
        let at = self.at;
        let last = match self.last.entry(pool.id) {
            std::collections::hash_map::Entry::Occupied(e) => e.into_mut(),
            std::collections::hash_map::Entry::Vacant(e) => {
                let greatest: Option<i64> = ip::ip_addresses
                    .filter(ip::pool_id.eq(&pool_id))
                    .select(diesel::dsl::max(ip::number))
                    .first(c)?;
                e.insert(
                    greatest
                        .and_then(|n| u32::try_from(n).ok())
                        .map(Ipv4Addr::from),
                )
            }
        };
        if let Some(fresh) = fresh_after(net, gateway, *last) {
            *last = Some(fresh);
            self.fresh.push((pool_id, fresh.to_string(), id.to_owned()));
            return Ok(fresh);
        }
        // the longest released address still inside the network (not the gateway)
        let released: Vec<String> = ip::ip_addresses
            .filter(ip::pool_id.eq(&pool_id))
            .filter(ip::appliance_id.is_null())
            .order((ip::released_at.asc(), ip::allocated_at.asc()))
            .select(ip::address)
            .load(c)?;
        let Some(again) = released
            .iter()
            .filter_map(|a| a.parse::<Ipv4Addr>().ok())
            .find(|a| net.contains(a) && assignable(net, gateway).any(|h| h == *a))
        else {
            return Err(StoreError::Exhausted(format!(
                "pool {} has no free address left in {net}",
                pool.name
            )));
        };
        let n = diesel::update(
            ip::ip_addresses
                .filter(ip::pool_id.eq(&pool_id))
                .filter(ip::address.eq(again.to_string()))
                .filter(ip::appliance_id.is_null()),
        )
        .set((
            ip::appliance_id.eq(Some(id)),
            ip::allocated_at.eq(at),
            ip::released_at.eq(None::<Ts>),
        ))
        .execute(c)?;
        if n == 0 {
            return Err(StoreError::Stale);
        }
        Ok(again)
    }
}

/// Release the addresses the appliances hold (they were terminated).
pub fn release(c: &mut DbConn, appliances: &[ApplianceId]) -> Result<usize, StoreError> {
    let mut n = 0;
    for chunk in appliances.chunks(500) {
        let ids: Vec<String> = chunk.iter().map(ToString::to_string).collect();
        n += diesel::update(ip::ip_addresses.filter(ip::appliance_id.eq_any(&ids)))
            .set((
                ip::appliance_id.eq(None::<String>),
                ip::released_at.eq(Some(to_db(now()))),
            ))
            .execute(c)?;
    }
    Ok(n)
}

/// Give back the addresses just allocated to appliances that did not take their place after all,
/// and forget them as the appliances' `ip` (another appliance may get them next).
pub fn give_back(c: &mut DbConn, appliances: &[ApplianceId]) -> Result<(), StoreError> {
    release(c, appliances)?;
    for chunk in appliances.chunks(500) {
        let ids: Vec<String> = chunk.iter().map(ToString::to_string).collect();
        diesel::update(ap::appliances.filter(ap::id.eq_any(&ids)))
            .set(ap::ip.eq(None::<String>))
            .execute(c)?;
    }
    Ok(())
}

/// The rows held by these appliances (ids as stored): (appliance, pool, address), 500 ids a query.
fn held_rows<S: AsRef<str>>(
    c: &mut DbConn,
    appliances: &[S],
) -> Result<Vec<(String, String, String)>, StoreError> {
    let mut out = Vec::new();
    for chunk in appliances.chunks(500) {
        let rows: Vec<(String, String, Option<String>)> = ip::ip_addresses
            .filter(ip::appliance_id.eq_any(chunk.iter().map(|s| Some(s.as_ref()))))
            .select((ip::pool_id, ip::address, ip::appliance_id))
            .load(c)?;
        out.extend(
            rows.into_iter()
                .filter_map(|(pool, a, id)| Some((id?, pool, a))),
        );
    }
    Ok(out)
}

/// The addresses the appliances hold, in any pool.
pub fn of_appliances(
    c: &mut DbConn,
    appliances: &[ApplianceId],
) -> Result<HashMap<ApplianceId, Ipv4Addr>, StoreError> {
    let ids: Vec<String> = appliances.iter().map(ToString::to_string).collect();
    let mut out = HashMap::new();
    for (id, _, a) in held_rows(c, &ids)? {
        out.insert(crate::models::parse("appliance id", &id)?, addr(&a)?);
    }
    Ok(out)
}

/// The addresses the appliances of each application hold, per pool (sorted): whom its guests on a
/// pool network may reach.
pub fn of_applications(
    c: &mut DbConn,
    apps: &[ApplicationId],
) -> Result<HashMap<(ApplicationId, PoolId), Vec<Ipv4Addr>>, StoreError> {
    let mut out: HashMap<(ApplicationId, PoolId), Vec<Ipv4Addr>> = HashMap::new();
    for chunk in apps.chunks(500) {
        let ids: Vec<String> = chunk.iter().map(ToString::to_string).collect();
        let members: HashMap<String, String> = ap::appliances
            .filter(ap::application_id.eq_any(&ids))
            .filter(ap::state.ne(common::ApplianceState::Terminated.as_str()))
            .select((ap::id, ap::application_id))
            .load::<(String, String)>(c)?
            .into_iter()
            .collect();
        let member_ids: Vec<&String> = members.keys().collect();
        for (holder, pool, a) in held_rows(c, &member_ids)? {
            let Some(app) = members.get(&holder) else {
                continue;
            };
            let key = (
                crate::models::parse("application id", app)?,
                crate::models::parse("pool id", &pool)?,
            );
            out.entry(key).or_default().push(addr(&a)?);
        }
    }
    for v in out.values_mut() {
        v.sort();
        v.dedup();
    }
    Ok(out)
}

/// How many addresses of the pool are held now.
pub fn held_count(c: &mut DbConn, pool: PoolId) -> Result<u64, StoreError> {
    let n: i64 = ip::ip_addresses
        .filter(ip::pool_id.eq(pool.to_string()))
        .filter(ip::appliance_id.is_not_null())
        .count()
        .get_result(c)?;
    Ok(u64::try_from(n).unwrap_or(0))
}

/// A page of the pool's held addresses, in address order.
pub fn held(
    c: &mut DbConn,
    pool: PoolId,
    page: &super::PageRequest,
) -> Result<super::Page<Held>, StoreError> {
    let after: Option<Ipv4Addr> = page.after.as_deref().and_then(|a| a.parse().ok());
    let rows: Vec<(String, Option<String>, Ts)> = ip::ip_addresses
        .filter(ip::pool_id.eq(pool.to_string()))
        .filter(ip::appliance_id.is_not_null())
        .select((ip::address, ip::appliance_id, ip::allocated_at))
        .load(c)?;
    let mut out = Vec::with_capacity(rows.len());
    for (a, id, at) in rows {
        let address = addr(&a)?;
        if after.is_some_and(|x| address <= x) {
            continue;
        }
        if let Some(id) = id {
            out.push(Held {
                address,
                appliance_id: crate::models::parse("appliance id", &id)?,
                allocated_at: from_db(at),
            });
        }
    }
    // (text order is not address order: a pool holds at most a /16, sorted here)
    out.sort_by_key(|h| h.address);
    out.truncate(page.limit as usize + 1);
    Ok(super::Page::from_rows(out, page.limit, |h| {
        h.address.to_string()
    }))
}

/// Forget the released addresses of a pool (its network changes; none may be held).
pub fn forget_released(c: &mut DbConn, pool: PoolId) -> Result<(), StoreError> {
    diesel::delete(
        ip::ip_addresses
            .filter(ip::pool_id.eq(pool.to_string()))
            .filter(ip::appliance_id.is_null()),
    )
    .execute(c)?;
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    fn net(s: &str) -> Ipv4Net {
        s.parse().unwrap()
    }

    #[test]
    fn capacity_leaves_out_network_broadcast_and_gateway() {
        let table = [
            ("10.77.0.0/24", None, 254),
            ("10.77.0.0/24", Some("10.77.0.1"), 253),
            ("10.77.0.0/24", Some("10.77.0.0"), 254), // not a host address: nothing to leave out
            ("10.77.0.0/24", Some("10.78.0.1"), 254),
            ("10.77.0.0/30", Some("10.77.0.1"), 1),
            ("10.0.0.0/16", Some("10.0.0.1"), 65_533),
        ];
        for (n, gw, want) in table {
            let gw = gw.map(|g: &str| g.parse().unwrap());
            assert_eq!(capacity(net(n), gw), want, "{n} {gw:?}");
            assert_eq!(assignable(net(n), gw).count() as u64, want, "{n} {gw:?}");
        }
    }

    #[test]
    fn fresh_addresses_follow_the_greatest_handed_out_and_skip_the_gateway() {
        let gw = Some("10.77.0.1".parse().unwrap());
        let table: [(&str, Option<&str>, Option<&str>); 5] = [
            ("10.77.0.0/24", None, Some("10.77.0.2")),
            ("10.77.0.0/24", Some("10.77.0.3"), Some("10.77.0.4")),
            ("10.77.0.0/24", Some("10.77.0.254"), None),
            ("10.77.0.0/30", Some("10.77.0.2"), None),
            ("10.77.0.0/30", None, Some("10.77.0.2")),
        ];
        for (n, after, want) in table {
            let after = after.map(|a| a.parse().unwrap());
            assert_eq!(
                fresh_after(net(n), gw, after)
                    .map(|a| a.to_string())
                    .as_deref(),
                want,
                "{n} after {after:?}"
            );
        }
    }
}
