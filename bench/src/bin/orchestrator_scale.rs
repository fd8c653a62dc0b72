//! Scale benchmark of the orchestrator on the simulated pool: 1,000 hosts and 20,000 running
//! appliances in 1,000 applications. Prints the time of one full reconcile pass, the time to place
//! 1,000 new appliances, and the peak RSS. Goals (issue 3): ≤ 200 ms, ≤ 1 s, ≤ 500 MB. Asserts nothing.
//! Usage: orchestrator-scale [DATABASE_URL]   (default: a fresh SQLite file)

use common::api::{
    ApplianceRole, Capacity, Flavor, GroupSize, Overcommit, PlacementStrategy, Quotas,
};
use common::{
    ApplianceId, ApplianceState, ApplicationId, GroupId, HostId, HostState, LayerId, PoolId,
    TemplateId, TenantId,
};
use orchestrator::drivers::Drivers;
use orchestrator::drivers::libvirt::{LibvirtConfig, LibvirtDriver};
use orchestrator::{Orchestrator, OrchestratorConfig, SimCloud, SimConfig};
use std::time::{Duration, Instant};
use store::repo::unscoped;
use store::repo::{appliances, applications, hosts, pools, templates};
use store::time::now;
use store::{Appliance, Application, Group, Host, Layer, Pool, Store, Target, Template};

const HOSTS: usize = 1000;
const APPS: usize = 1000;
const PER_APP: usize = 20;
const GROW_APPS: usize = 50;

fn peak_rss_mib() -> u64 {
    std::fs::read_to_string("/proc/self/status")
        .ok()
        .and_then(|s| {
            s.lines()
                .find(|l| l.starts_with("VmHWM:"))
                .map(str::to_owned)
        })
        .and_then(|l| {
            l.split_whitespace()
                .nth(1)
                .and_then(|v| v.parse::<u64>().ok())
        })
        .map_or(0, |kib| kib / 1024)
}

#[tokio::main]
async fn main() -> anyhow::Result<()> {
    let dir = tempfile::tempdir()?;
    let url = std::env::args()
        .nth(1)
        .unwrap_or_else(|| format!("sqlite://{}/scale.db", dir.path().display()));
    let store = Store::open(
        &url,
        &store::PoolOptions {
            max_size: 8,
            ..Default::default()
        },
    )?;
    store::migrate::run(&store)?;
    let sim = SimCloud::new(SimConfig {
        agents: false,
        boot: Duration::ZERO,
        ..SimConfig::default()
    });
    let t0 = Instant::now();
    let (tenant, group_ids, app_ids) = fixture(&store, &sim).await?;
    println!(
        "fixture: {HOSTS} hosts, {APPS} applications, {} appliances in {:.1} s",
        APPS * PER_APP,
        t0.elapsed().as_secs_f64()
    );

    let drivers = Drivers::new(
        Some(sim.clone()),
        LibvirtDriver::new(LibvirtConfig::default()),
    );
    let config = OrchestratorConfig {
        concurrency: 8,
        ..OrchestratorConfig::default()
    };
    let o = Orchestrator::new(store.clone(), drivers, config).await?;

    // one full reconcile pass: every application due, nothing to change
    o.resync_all().await?;
    let t = Instant::now();
    let mut passes = 0;
    loop {
        let n = o.reconcile_due().await?;
        passes += n;
        if n == 0 {
            break;
        }
    }
    let full_pass = t.elapsed();
    let live = store.read(unscoped::appliances::count_live).await?;
    println!(
        "full reconcile pass over {passes} applications ({live} appliances): {:.0} ms (goal ≤ 200 ms)",
        full_pass.as_secs_f64() * 1000.0
    );

    // grow 50 groups by 20: 1,000 new appliances to place
    let grow: Vec<GroupId> = group_ids.iter().take(GROW_APPS).copied().collect();
    let grow_apps: Vec<ApplicationId> = app_ids.iter().take(GROW_APPS).copied().collect();
    let watched = grow_apps.clone();
    store
        .write(move |c| -> Result<(), store::StoreError> {
            for g in &grow {
                let mut group =
                    applications::get_group(c, tenant, *g)?.ok_or(store::StoreError::Stale)?;
                group.size.desired += PER_APP as u32;
                group.size.max = group.size.desired;
                applications::save_group(c, tenant, &group)?;
            }
            for a in &grow_apps {
                unscoped::applications::touch(c, *a)?;
            }
            Ok(())
        })
        .await?;
    let t = Instant::now();
    let placed_in = loop {
        o.reconcile_due().await?;
        let ids = watched.clone();
        let started = store
            .read(move |c| unscoped::appliances::of_applications(c, &ids))
            .await?
            .iter()
            .filter(|a| matches!(a.state, ApplianceState::Booting | ApplianceState::Running))
            .count();
        if started >= 2 * GROW_APPS * PER_APP {
            break t.elapsed();
        }
        if t.elapsed() > Duration::from_secs(120) {
            anyhow::bail!(
                "placement did not finish: {started} of {} started",
                2 * GROW_APPS * PER_APP
            );
        }
    };
    println!(
        "placing {} new appliances (and starting their domains): {:.0} ms (goal ≤ 1 s)",
        GROW_APPS * PER_APP,
        placed_in.as_secs_f64() * 1000.0
    );
    println!("peak RSS: {} MiB (goal ≤ 500 MB)", peak_rss_mib());
    Ok(())
}

async fn fixture(
    store: &Store,
    sim: &SimCloud,
) -> anyhow::Result<(TenantId, Vec<GroupId>, Vec<ApplicationId>)> {
    let at = now();
    let tenant = TenantId::new();
    let pool = PoolId::new();
    let host_ids: Vec<HostId> = (0..HOSTS).map(|_| HostId::new()).collect();
    let template = TemplateId::new();
    let flavor = Flavor {
        vcpus: 1,
        memory_mib: 1024,
        disk_gib: 10,
    };
    let hids = host_ids.clone();
    let (group_ids, app_ids) = store
        .write(
            move |c| -> Result<(Vec<GroupId>, Vec<ApplicationId>), store::StoreError> {
                let project = scaleinfra_bench::tenant_with_project(
                    c,
                    tenant,
                    "Bench",
                    "bench",
                    Quotas {
                        max_vcpus: 1_000_000,
                        max_memory_mib: 1_000_000_000,
                        max_appliances: 1_000_000,
                    },
                )?;
                let the_pool = Pool {
                    id: pool,
                    name: "bench".into(),
                    description: String::new(),
                    strategy: PlacementStrategy::Spread,
                    overcommit: Overcommit::default(),
                    image_dir: common::api::DEFAULT_IMAGE_DIR.into(),
                    // BENCH_NETWORK: a pool network, so every appliance holds an IPAM address
                    network: std::env::var_os("BENCH_NETWORK").map(|_| common::api::PoolNetwork {
                        bridge: "br0".into(),
                        cidr: "10.0.0.0/16".into(),
                        gateway: None,
                        agent_url: "http://10.0.0.1:8080".into(),
                    }),
                    created_at: at,
                    updated_at: at,
                };
                pools::insert(c, &the_pool)?;
                let mut addresses = store::repo::ipam::Allocator::new(c, &[])?;
                let image = store::Image {
                    id: common::ImageId::new(),
                    pool_id: pool,
                    name: "bench".into(),
                    kind: common::api::ImageKind::Disk,
                    format: common::api::ImageFormat::Qcow2,
                    file: "bench.qcow2".into(),
                    sha256: "0".repeat(64),
                    size_bytes: 1,
                    created_at: at,
                };
                store::repo::images::insert(c, &image)?;
                for (i, id) in hids.iter().enumerate() {
                    hosts::insert(
                        c,
                        &Host {
                            id: *id,
                            pool_id: pool,
                            name: format!("h{i:04}"),
                            uri: format!("sim://h{i:04}"),
                            capacity: Capacity {
                                vcpus: 64,
                                memory_mib: 262_144,
                                disk_gib: 4000,
                            },
                            labels: Default::default(),
                            state: HostState::Up,
                            missed_checks: 0,
                            last_seen_at: Some(at),
                            created_at: at,
                            updated_at: at,
                        },
                    )?;
                }
                templates::insert(
                    c,
                    &Template {
                        id: template,
                        tenant_id: None,
                        name: "bench".into(),
                        role: ApplianceRole::AppServer,
                        description: String::new(),
                        pool_id: Some(pool),
                        image_id: Some(image.id),
                        kernel_image_id: None,
                        initrd_image_id: None,
                        flavor,
                        ports: vec![],
                        install_scripts: vec![],
                        metrics: vec![],
                        created_at: at,
                    },
                )?;
                let mut groups = Vec::new();
                let mut apps = Vec::new();
                let mut k = 0usize;
                for i in 0..APPS {
                    let app = Application {
                        id: ApplicationId::new(),
                        tenant_id: tenant,
                        project_id: project,
                        name: format!("app{i}"),
                        description: String::new(),
                        pool_id: Some(pool),
                        deployed: true,
                        generation: 0,
                        failures: 0,
                        last_error: None,
                        created_at: at,
                        updated_at: at,
                    };
                    applications::insert(c, tenant, &app)?;
                    let layer = Layer {
                        id: LayerId::new(),
                        tenant_id: tenant,
                        application_id: app.id,
                        name: "web".into(),
                        position: 0,
                        created_at: at,
                    };
                    applications::insert_layer(c, tenant, &layer)?;
                    let group = Group {
                        id: GroupId::new(),
                        tenant_id: tenant,
                        application_id: app.id,
                        layer_id: layer.id,
                        name: "web".into(),
                        template_id: template,
                        size: GroupSize {
                            desired: PER_APP as u32,
                            min: 0,
                            max: PER_APP as u32,
                        },
                        service_ensure: true,
                        autoscale: None,
                        load_pct: 0,
                        created_at: at,
                        updated_at: at,
                    };
                    applications::insert_group(c, tenant, &group)?;
                    for _ in 0..PER_APP {
                        let host = hids[k % HOSTS];
                        k += 1;
                        let id = ApplianceId::new();
                        appliances::insert(
                            c,
                            &Appliance {
                                id,
                                tenant_id: tenant,
                                application_id: app.id,
                                group_id: group.id,
                                template_id: template,
                                name: format!("web-{k}"),
                                state: ApplianceState::Running,
                                state_reason: "bench fixture".into(),
                                state_since: at,
                                target: Target::Run,
                                host_id: Some(host),
                                ip: None,
                                flavor,
                                last_heartbeat_at: None,
                                created_at: at,
                                updated_at: at,
                            },
                        )?;
                        addresses.allocate(c, &the_pool, id)?;
                    }
                    groups.push(group.id);
                    apps.push(app.id);
                }
                addresses.finish(c)?;
                Ok((groups, apps))
            },
        )
        .await?;
    // the hypervisor side: every appliance's domain runs on its host
    let all = store
        .read(
            move |c| -> Result<Vec<(String, Option<HostId>)>, store::StoreError> {
                let mut out = Vec::new();
                for h in &host_ids {
                    for a in unscoped::appliances::on_host(c, *h)? {
                        out.push((a.domain_name(), a.host_id));
                    }
                }
                Ok(out)
            },
        )
        .await?;
    let names: std::collections::HashMap<HostId, String> = store
        .read(hosts::all)
        .await?
        .into_iter()
        .map(|h| (h.id, h.uri.trim_start_matches("sim://").to_owned()))
        .collect();
    for (domain, host) in all {
        if let Some(h) = host.and_then(|h| names.get(&h)) {
            sim.plant_domain(h, &domain);
        }
    }
    Ok((tenant, group_ids, app_ids))
}
