//! The seed catalog and the embedded simulated pool: what a fresh installation starts with.

use common::api::{ApplianceRole, Capacity, Flavor, Overcommit, PlacementStrategy};
use common::{HostId, HostState, PoolId, TemplateId};
use store::repo::{hosts, pools, templates};
use store::time::now;
use store::{Host, Pool, Store, StoreError, Template};

/// Where the seed templates expect their base image on each KVM host.
pub const BASE_IMAGE: &str = "/var/lib/scaleinfra/images/debian-12-base.qcow2";

fn template(
    name: &str,
    role: ApplianceRole,
    description: &str,
    flavor: Flavor,
    ports: &[u16],
    metrics: &[&str],
) -> Template {
    Template {
        id: TemplateId::new(),
        tenant_id: None,
        name: name.into(),
        role,
        description: description.into(),
        base_image: BASE_IMAGE.into(),
        kernel: None,
        initrd: None,
        flavor,
        ports: ports.to_vec(),
        install_scripts: Vec::new(),
        metrics: metrics.iter().map(|m| (*m).to_owned()).collect(),
        created_at: now(),
    }
}

/// The global catalog of a new installation.
pub fn seed_templates() -> Vec<Template> {
    let f = |vcpus, memory_mib, disk_gib| Flavor {
        vcpus,
        memory_mib,
        disk_gib,
    };
    vec![
        template(
            "HAProxy load balancer",
            ApplianceRole::LoadBalancer,
            "HAProxy 2.6 in front of an app layer",
            f(1, 1024, 10),
            &[80, 443],
            &["haproxy_sessions", "haproxy_backend_up"],
        ),
        template(
            "MySQL",
            ApplianceRole::Database,
            "MySQL-compatible database server (MariaDB 10.11)",
            f(2, 4096, 50),
            &[3306],
            &["mysql_connections", "mysql_qps"],
        ),
        template(
            "Rails app server",
            ApplianceRole::AppServer,
            "Ruby on Rails behind Puma",
            f(2, 2048, 20),
            &[3000],
            &["http_requests", "http_latency_ms"],
        ),
        template(
            "PHP app server",
            ApplianceRole::AppServer,
            "PHP-FPM with nginx",
            f(1, 1024, 20),
            &[80],
            &["http_requests", "php_fpm_active"],
        ),
        template(
            "Nginx static",
            ApplianceRole::Static,
            "nginx serving static files",
            f(1, 512, 10),
            &[80],
            &["http_requests"],
        ),
    ]
}

/// Insert the seed catalog unless a global template exists. Idempotent.
pub async fn seed_catalog(store: &Store) -> Result<usize, StoreError> {
    store
        .write(|c| -> Result<usize, StoreError> {
            if templates::count_global(c)? > 0 {
                return Ok(0);
            }
            let seeds = seed_templates();
            for t in &seeds {
                templates::insert(c, t)?;
            }
            Ok(seeds.len())
        })
        .await
}

/// Create the pool `sim` with `n` simulated hosts unless any pool exists. Idempotent.
pub async fn seed_sim_pool(
    store: &Store,
    n: u32,
    capacity: Capacity,
) -> Result<Option<PoolId>, StoreError> {
    store
        .write(move |c| -> Result<Option<PoolId>, StoreError> {
            if !pools::all(c)?.is_empty() {
                return Ok(None);
            }
            let at = now();
            let pool = Pool {
                id: PoolId::new(),
                name: "sim".into(),
                description: "The simulated KVM pool of the embedded installation".into(),
                strategy: PlacementStrategy::Spread,
                overcommit: Overcommit::default(),
                created_at: at,
                updated_at: at,
            };
            pools::insert(c, &pool)?;
            for i in 1..=n {
                hosts::insert(
                    c,
                    &Host {
                        id: HostId::new(),
                        pool_id: pool.id,
                        name: format!("sim-{i}"),
                        uri: format!("sim://sim-{i}"),
                        capacity,
                        labels: Default::default(),
                        state: HostState::Up,
                        missed_checks: 0,
                        last_seen_at: None,
                        created_at: at,
                        updated_at: at,
                    },
                )?;
            }
            Ok(Some(pool.id))
        })
        .await
}
