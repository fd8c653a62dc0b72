//! Rules for pools and hosts: names and URIs are unique; a pool with hosts, or a host holding
//! appliances, cannot be deleted; operators may put a host in maintenance, fence it, or return it.

use crate::auth::AuthCtx;
use crate::error::{ApiError, ApiResult};
use crate::pagination;
use crate::state::AppState;
use common::api::{
    AddressResponse, CreateHostRequest, CreatePoolRequest, HostResponse, Page, PageQuery,
    PoolNetwork, PoolResponse, UpdateHostRequest, UpdatePoolRequest, Usage,
};
use common::{HostId, HostState, PoolId};
use serde_json::json;
use store::repo::locks::{self, Table};
use store::repo::{audit, hosts, ipam, pools, unscoped};
use store::time::now;
use store::{DbConn, Host, Pool};
use validator::Validate;

fn pool_found(c: &mut DbConn, id: PoolId) -> ApiResult<Pool> {
    pools::get(c, id)?.ok_or(ApiError::NotFound)
}

fn host_found(c: &mut DbConn, id: HostId) -> ApiResult<Host> {
    hosts::get(c, id)?.ok_or(ApiError::NotFound)
}

/// A bridge carries one pool network: guests of two pools on one segment would reach each other
/// as "outside the range", past their applications' filters (docs/adr/0007). Nor may it be the
/// bridge of the server's own `libvirt_network`, whose guests have no filter.
fn bridge_free(
    c: &mut DbConn,
    id: PoolId,
    network: &PoolNetwork,
    server_network: &str,
) -> ApiResult<()> {
    if server_network.strip_prefix("bridge:") == Some(network.bridge.as_str()) {
        return Err(ApiError::field(
            "network.bridge",
            "in_use",
            format!(
                "{} is the bridge of the server's libvirt_network, whose guests are not filtered",
                network.bridge
            ),
        ));
    }
    for other in pools::all(c)? {
        if other.id != id
            && let Some(o) = &other.network
            && o.bridge == network.bridge
        {
            return Err(ApiError::field(
                "network.bridge",
                "in_use",
                format!(
                    "{} carries the network of pool {} already (one pool network per bridge)",
                    o.bridge, other.name
                ),
            ));
        }
    }
    Ok(())
}

/// The checks of a network that need no database: its gateway and its agent address.
fn network_problem(n: &PoolNetwork) -> ApiResult<()> {
    if let Some(why) = n.gateway_problem() {
        return Err(ApiError::field("network.gateway", "outside_network", why));
    }
    if let Some(why) = n.agent_problem() {
        return Err(ApiError::field("network.agent_url", "not_the_gateway", why));
    }
    Ok(())
}

pub async fn create_pool(
    state: &AppState,
    ctx: &AuthCtx,
    req: CreatePoolRequest,
) -> ApiResult<PoolResponse> {
    req.validate()?;
    let at = now();
    let pool = Pool {
        id: PoolId::new(),
        name: req.name.trim().to_owned(),
        description: req.description,
        strategy: req.strategy,
        overcommit: req.overcommit,
        image_dir: req.image_dir,
        network: req.network,
        created_at: at,
        updated_at: at,
    };
    if let Some(n) = &pool.network {
        network_problem(n)?;
    }
    let (tenant, actor) = (ctx.tenant_id, ctx.actor());
    let server_network = state.config.libvirt_network.clone();
    state
        .store
        .write(move |c| -> ApiResult<PoolResponse> {
            if let Some(n) = &pool.network {
                hosts::lock_placement(c)?;
                bridge_free(c, pool.id, n, &server_network)?;
            }
            pools::insert(c, &pool)?;
            audit::Entry::new(tenant, &actor, "pool.create")
                .object("pool", pool.id)
                .detail(json!({"name": pool.name}))
                .record(c)?;
            Ok(pool.response(0))
        })
        .await
}

/// The API's view of a pool, with how many of its addresses are held.
fn respond_pool(c: &mut DbConn, p: Pool) -> ApiResult<PoolResponse> {
    let held = if p.network.is_some() {
        ipam::held_count(c, p.id)?
    } else {
        0
    };
    Ok(p.response(held))
}

pub async fn list_pools(state: &AppState, q: &PageQuery) -> ApiResult<Page<PoolResponse>> {
    let page = pagination::request(q)?;
    state
        .store
        .read(move |c| -> ApiResult<Page<PoolResponse>> {
            let found = pools::list(c, &page)?;
            let mut items = Vec::with_capacity(found.items.len());
            for p in found.items {
                items.push(respond_pool(c, p)?);
            }
            Ok(pagination::respond_map(
                store::repo::Page {
                    items,
                    next_after: found.next_after,
                },
                |p| p,
            ))
        })
        .await
}

pub async fn get_pool(state: &AppState, id: PoolId) -> ApiResult<PoolResponse> {
    state
        .store
        .read(move |c| {
            let p = pool_found(c, id)?;
            respond_pool(c, p)
        })
        .await
}

/// The addresses of a pool's network that appliances hold.
pub async fn list_addresses(
    state: &AppState,
    id: PoolId,
    q: &PageQuery,
) -> ApiResult<Page<AddressResponse>> {
    let page = pagination::request(q)?;
    // this list's positions are addresses; another well-formed cursor is a place too (as on every
    // list), past the last address, so a client that sends one ends instead of restarting
    if page
        .after
        .as_deref()
        .is_some_and(|a| a.parse::<std::net::Ipv4Addr>().is_err())
    {
        return Ok(Page::empty());
    }
    state
        .store
        .read(move |c| -> ApiResult<Page<AddressResponse>> {
            pool_found(c, id)?;
            Ok(pagination::respond_map(ipam::held(c, id, &page)?, |h| {
                AddressResponse {
                    address: h.address,
                    appliance_id: h.appliance_id,
                    allocated_at: h.allocated_at,
                }
            }))
        })
        .await
}

pub async fn update_pool(
    state: &AppState,
    ctx: &AuthCtx,
    id: PoolId,
    req: UpdatePoolRequest,
) -> ApiResult<PoolResponse> {
    req.validate()?;
    let (tenant, actor) = (ctx.tenant_id, ctx.actor());
    let server_network = state.config.libvirt_network.clone();
    state
        .store
        .write(move |c| -> ApiResult<PoolResponse> {
            locks::lock(c, Table::Pools, &id.to_string())?;
            let mut p = pool_found(c, id)?;
            if let Some(n) = &req.name {
                p.name = n.trim().to_owned();
            }
            if let Some(d) = req.description {
                p.description = d;
            }
            if let Some(s) = req.strategy {
                p.strategy = s;
            }
            if let Some(o) = req.overcommit {
                p.overcommit = o;
            }
            if let Some(d) = req.image_dir {
                p.image_dir = d;
            }
            if let Some(network) = req.network
                && network != p.network
            {
                if let Some(n) = &network {
                    network_problem(n)?;
                }
                // under the placement lock: no placement allocates from the old network meanwhile
                hosts::lock_placement(c)?;
                // an appliance keeps its network until it is terminated (its guest knows no other)
                let live = unscoped::appliances::count_live_in_pool(c, id)?;
                let held = ipam::held_count(c, id)?;
                if live > 0 || held > 0 {
                    return Err(ApiError::InvalidState {
                        code: "network_in_use",
                        detail: format!(
                            "{} appliances on the pool's hosts use its network; terminate them first",
                            live.max(i64::try_from(held).unwrap_or(i64::MAX))
                        ),
                    });
                }
                if let Some(n) = &network {
                    bridge_free(c, id, n, &server_network)?;
                }
                ipam::forget_released(c, id)?;
                p.network = network;
            }
            p.updated_at = now();
            pools::save(c, &p)?;
            audit::Entry::new(tenant, &actor, "pool.update")
                .object("pool", id)
                .record(c)?;
            respond_pool(c, p)
        })
        .await
}

pub async fn delete_pool(state: &AppState, ctx: &AuthCtx, id: PoolId) -> ApiResult<()> {
    let (tenant, actor) = (ctx.tenant_id, ctx.actor());
    state
        .store
        .write(move |c| -> ApiResult<()> {
            pool_found(c, id)?;
            let n = pools::host_count(c, id)?;
            let i = store::repo::images::count_in_pool(c, id)?;
            if n > 0 || i > 0 {
                return Err(ApiError::InvalidState {
                    code: "pool_not_empty",
                    detail: format!("the pool still has {n} hosts and {i} images"),
                });
            }
            pools::delete(c, id)?;
            audit::Entry::new(tenant, &actor, "pool.delete")
                .object("pool", id)
                .record(c)?;
            Ok(())
        })
        .await
}

fn respond(h: Host, usage: &std::collections::HashMap<HostId, (Usage, u32)>) -> HostResponse {
    let (used, appliances) = usage.get(&h.id).copied().unwrap_or_default();
    HostResponse {
        id: h.id,
        pool_id: h.pool_id,
        name: h.name,
        uri: h.uri,
        capacity: h.capacity,
        labels: h.labels,
        state: h.state,
        used,
        appliances,
        last_seen_at: h.last_seen_at,
        created_at: h.created_at,
        updated_at: h.updated_at,
    }
}

pub async fn create_host(
    state: &AppState,
    ctx: &AuthCtx,
    pool: PoolId,
    req: CreateHostRequest,
) -> ApiResult<HostResponse> {
    req.validate()?;
    if req.uri.starts_with("sim://") && state.sim.is_none() {
        return Err(ApiError::field(
            "uri",
            "no_sim",
            "this installation runs no simulated pool",
        ));
    }
    let at = now();
    let host = Host {
        id: HostId::new(),
        pool_id: pool,
        name: req.name.trim().to_owned(),
        uri: req.uri,
        capacity: req.capacity,
        labels: req.labels,
        state: HostState::Up,
        missed_checks: 0,
        last_seen_at: None,
        created_at: at,
        updated_at: at,
    };
    let (tenant, actor) = (ctx.tenant_id, ctx.actor());
    state
        .store
        .write(move |c| -> ApiResult<HostResponse> {
            pool_found(c, pool)?;
            hosts::insert(c, &host)?;
            audit::Entry::new(tenant, &actor, "host.create")
                .object("host", host.id)
                .detail(json!({"uri": host.uri}))
                .record(c)?;
            Ok(respond(host, &Default::default()))
        })
        .await
}

pub async fn list_hosts(
    state: &AppState,
    pool: PoolId,
    q: &PageQuery,
) -> ApiResult<Page<HostResponse>> {
    let page = pagination::request(q)?;
    let (p, usage) = state
        .store
        .read(move |c| -> ApiResult<_> {
            pool_found(c, pool)?;
            Ok((hosts::list_in_pool(c, pool, &page)?, hosts::usage(c)?))
        })
        .await?;
    Ok(pagination::respond_map(p, |h| respond(h, &usage)))
}

pub async fn get_host(state: &AppState, id: HostId) -> ApiResult<HostResponse> {
    let (h, usage) = state
        .store
        .read(move |c| -> ApiResult<_> { Ok((host_found(c, id)?, hosts::usage(c)?)) })
        .await?;
    Ok(respond(h, &usage))
}

pub async fn update_host(
    state: &AppState,
    ctx: &AuthCtx,
    id: HostId,
    req: UpdateHostRequest,
) -> ApiResult<HostResponse> {
    req.validate()?;
    if let Some(s) = req.state
        && !matches!(
            s,
            HostState::Up | HostState::Maintenance | HostState::Fenced
        )
    {
        return Err(ApiError::field(
            "state",
            "not_settable",
            "operators set up, maintenance or fenced; the monitor sets suspect and down",
        ));
    }
    let (tenant, actor) = (ctx.tenant_id, ctx.actor());
    state
        .store
        .write(move |c| -> ApiResult<HostResponse> {
            // read under the row lock: the host monitor writes this row too
            locks::lock(c, Table::Hosts, &id.to_string())?;
            let mut h = host_found(c, id)?;
            if let Some(cap) = req.capacity {
                h.capacity = cap;
            }
            if let Some(l) = req.labels {
                h.labels = l;
            }
            if let Some(s) = req.state {
                h.state = s;
                h.missed_checks = 0;
            }
            h.updated_at = now();
            hosts::save(c, &h)?;
            audit::Entry::new(tenant, &actor, "host.update")
                .object("host", id)
                .detail(json!({"state": req.state}))
                .record(c)?;
            let usage = hosts::usage(c)?;
            Ok(respond(h, &usage))
        })
        .await
}

pub async fn delete_host(state: &AppState, ctx: &AuthCtx, id: HostId) -> ApiResult<()> {
    let (tenant, actor) = (ctx.tenant_id, ctx.actor());
    state
        .store
        .write(move |c| -> ApiResult<()> {
            host_found(c, id)?;
            let held = hosts::usage(c)?.get(&id).map_or(0, |u| u.1);
            if held > 0 {
                return Err(ApiError::InvalidState {
                    code: "host_not_empty",
                    detail: format!("{held} appliances still run on the host"),
                });
            }
            hosts::delete(c, id)?;
            audit::Entry::new(tenant, &actor, "host.delete")
                .object("host", id)
                .record(c)?;
            Ok(())
        })
        .await
}
