//! Agent traffic at scale through the real `/agent/v1` HTTP endpoints: N running appliances (20,000 by
//! default) whose agents heartbeat every 5 s and report metrics every 10 s — two heartbeats for every
//! report — driven as fast as C connections allow against a running `scaleinfra` server. Prints the
//! requests per second, p50 and p99, the answers that were not 2xx, and whether every appliance's
//! heartbeat reached the database. Goal (issue 7): ≥ 10,000 requests/s with p99 ≤ 50 ms on
//! PostgreSQL. Asserts nothing.
//!
//! Usage: agent-load DATABASE_URL SERVER_URL [APPLIANCES] [CONNECTIONS] [SECONDS]
//! The server must run against DATABASE_URL; the benchmark writes its appliances there directly.

use common::api::{ApplianceRole, Flavor, GroupSize, Quotas};
use common::{ApplianceId, ApplianceState, ApplicationId, GroupId, LayerId, TemplateId, TenantId};
use std::sync::Arc;
use std::time::{Duration, Instant};
use store::repo::unscoped;
use store::repo::{appliances, applications, templates};
use store::time::now;
use store::{Appliance, Application, Group, Layer, Store, Target, Template};

async fn fixture(store: &Store, n: usize) -> anyhow::Result<Vec<ApplianceId>> {
    let ids: Vec<ApplianceId> = (0..n).map(|_| ApplianceId::new()).collect();
    let out = ids.clone();
    store
        .write(move |c| -> Result<(), store::StoreError> {
            let at = now();
            let tenant = TenantId::new();
            let project = scaleinfra_bench::tenant_with_project(
                c,
                tenant,
                "Agents",
                &format!("agents-{}", &tenant.to_string()[28..]),
                Quotas::default(),
            )?;
            let flavor = Flavor {
                vcpus: 1,
                memory_mib: 512,
                disk_gib: 1,
            };
            let template = TemplateId::new();
            templates::insert(
                c,
                &Template {
                    id: template,
                    tenant_id: Some(tenant),
                    name: "agents".into(),
                    role: ApplianceRole::AppServer,
                    description: String::new(),
                    pool_id: None,
                    image_id: None,
                    kernel_image_id: None,
                    initrd_image_id: None,
                    flavor,
                    ports: vec![],
                    install_scripts: vec![],
                    metrics: vec![],
                    created_at: at,
                },
            )?;
            // applications of 20 appliances, not deployed (nothing reconciles them meanwhile)
            for chunk in ids.chunks(20) {
                let app = Application {
                    id: ApplicationId::new(),
                    tenant_id: tenant,
                    project_id: project,
                    name: format!("a-{}", chunk[0]),
                    description: String::new(),
                    pool_id: None,
                    deployed: false,
                    generation: 0,
                    failures: 0,
                    last_error: None,
                    created_at: at,
                    updated_at: at,
                };
                applications::insert(c, tenant, &app)?;
                let layer = LayerId::new();
                applications::insert_layer(
                    c,
                    tenant,
                    &Layer {
                        id: layer,
                        tenant_id: tenant,
                        application_id: app.id,
                        name: "web".into(),
                        position: 0,
                        created_at: at,
                    },
                )?;
                let group = GroupId::new();
                applications::insert_group(
                    c,
                    tenant,
                    &Group {
                        id: group,
                        tenant_id: tenant,
                        application_id: app.id,
                        layer_id: layer,
                        name: "web".into(),
                        template_id: template,
                        size: GroupSize {
                            desired: 20,
                            min: 0,
                            max: 20,
                        },
                        service_ensure: true,
                        autoscale: None,
                        load_pct: 0,
                        created_at: at,
                        updated_at: at,
                    },
                )?;
                for id in chunk {
                    appliances::insert(
                        c,
                        &Appliance {
                            id: *id,
                            tenant_id: tenant,
                            application_id: app.id,
                            group_id: group,
                            template_id: template,
                            name: format!("web-{}", &id.to_string()[28..]),
                            state: ApplianceState::Running,
                            state_reason: "bench".into(),
                            state_since: at,
                            target: Target::Run,
                            host_id: None,
                            ip: Some("10.0.2.15".into()),
                            flavor,
                            last_heartbeat_at: None,
                            created_at: at,
                            updated_at: at,
                        },
                    )?;
                }
            }
            Ok(())
        })
        .await?;
    Ok(out)
}

#[tokio::main]
async fn main() -> anyhow::Result<()> {
    let mut args = std::env::args().skip(1);
    let db = args.next().ok_or_else(|| {
        anyhow::anyhow!("usage: agent-load DATABASE_URL SERVER_URL [N] [CONNS] [SECS]")
    })?;
    let server = args
        .next()
        .ok_or_else(|| anyhow::anyhow!("SERVER_URL missing"))?;
    let n: usize = args.next().map_or(Ok(20_000), |s| s.parse())?;
    let conns: usize = args.next().map_or(Ok(64), |s| s.parse())?;
    let secs: u64 = args.next().map_or(Ok(10), |s| s.parse())?;
    let store = Store::open(&db, &store::PoolOptions::default())?;
    let t0 = Instant::now();
    let ids = fixture(&store, n).await?;
    let key = orchestrator::token_key(&store).await?;
    let tokens: Arc<Vec<String>> = Arc::new(ids.iter().map(|id| key.issue(*id)).collect());
    eprintln!(
        "fixture: {n} running appliances in {:.1} s",
        t0.elapsed().as_secs_f64()
    );

    let started = now();
    let deadline = Instant::now() + Duration::from_secs(secs);
    let mut tasks = Vec::new();
    for t in 0..conns {
        let (tokens, server) = (tokens.clone(), server.clone());
        tasks.push(tokio::spawn(async move {
            // one connection per task, kept alive, as one agent's would be
            let client = reqwest::Client::builder()
                .pool_max_idle_per_host(1)
                .build()
                .unwrap_or_default();
            let heartbeat = format!("{server}/agent/v1/heartbeat");
            let metrics = format!("{server}/agent/v1/metrics");
            let report = serde_json::json!({"cpu_pct": 12.5, "load1": 0.3, "mem_used_mib": 180,
                "mem_total_mib": 512, "net_rx_bytes": 1000, "net_tx_bytes": 2000,
                "custom": {"rps": 42.0}});
            let hb = serde_json::json!({"uptime_secs": 100});
            let mut lat = Vec::with_capacity(200_000);
            let mut bad = 0u64;
            let mut i = t;
            while Instant::now() < deadline {
                let token = &tokens[i % tokens.len()];
                // two heartbeats for every metrics report
                let (url, body) = if i % 3 == 2 {
                    (&metrics, &report)
                } else {
                    (&heartbeat, &hb)
                };
                let sent = Instant::now();
                let r = client.post(url).bearer_auth(token).json(body).send().await;
                lat.push(u32::try_from(sent.elapsed().as_micros()).unwrap_or(u32::MAX));
                if !r.is_ok_and(|r| r.status().is_success()) {
                    bad += 1;
                }
                i += conns;
            }
            (lat, bad)
        }));
    }
    let mut lat = Vec::new();
    let mut bad = 0;
    for t in tasks {
        let (l, b) = t.await?;
        lat.extend(l);
        bad += b;
    }
    lat.sort_unstable();
    let pct = |p: f64| {
        lat.get(((lat.len() as f64 - 1.0) * p) as usize)
            .copied()
            .unwrap_or(0) as f64
            / 1000.0
    };
    let rps = lat.len() as f64 / secs as f64;
    // every appliance that was called must have its heartbeat in the database within a flush
    let called = lat.len().min(n);
    let flushed_by = Instant::now() + Duration::from_secs(5);
    let mut fresh = 0usize;
    while Instant::now() < flushed_by {
        let wanted = ids[..called].to_vec();
        fresh = store
            .read(move |c| unscoped::appliances::get_many(c, &wanted))
            .await?
            .iter()
            .filter(|a| a.last_heartbeat_at.is_some_and(|t| t >= started))
            .count();
        if fresh == called {
            break;
        }
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
    println!(
        "{conns} connections, {secs} s: {rps:.0} req/s, p50 {:.2} ms, p99 {:.2} ms, {bad} not 2xx; heartbeats in the database: {fresh}/{called}",
        pct(0.5),
        pct(0.99)
    );
    Ok(())
}
