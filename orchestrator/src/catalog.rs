//! The seed catalog and the embedded simulated pool: what a fresh installation starts with. The seed
//! templates are built on the simulated pool's registered base image; an installation without a
//! simulated pool starts with an empty catalog (operators register images, then templates on them).

use common::api::{
    ApplianceRole, Capacity, DEFAULT_IMAGE_DIR, Flavor, ImageFormat, ImageKind, Overcommit,
    PlacementStrategy,
};
use common::{HostId, HostState, ImageId, PoolId, TemplateId};
use store::repo::{hosts, images, pools, templates};
use store::time::now;
use store::{Host, Image, Pool, Store, StoreError, Template};

/// The file of the simulated pool's base image (a registry entry only: simulated hosts have no files).
pub const SIM_BASE_FILE: &str = "debian-12-base.qcow2";
/// The name of the simulated pool.
pub const SIM_POOL: &str = "sim";

#[allow(clippy::too_many_arguments)] // one seed template per call, read as a table
fn template(
    base: &Image,
    name: &str,
    role: ApplianceRole,
    description: &str,
    flavor: Flavor,
    ports: &[u16],
    metrics: &[&str],
    install: &str,
) -> Template {
    Template {
        id: TemplateId::new(),
        tenant_id: None,
        name: name.into(),
        role,
        description: description.into(),
        pool_id: Some(base.pool_id),
        image_id: Some(base.id),
        kernel_image_id: None,
        initrd_image_id: None,
        flavor,
        ports: ports.to_vec(),
        install_scripts: vec![install.to_owned()],
        metrics: metrics.iter().map(|m| (*m).to_owned()).collect(),
        created_at: now(),
    }
}

/// The global catalog of a new installation, on the base image `base`.
pub fn seed_templates(base: &Image) -> Vec<Template> {
    let f = |vcpus, memory_mib, disk_gib| Flavor {
        vcpus,
        memory_mib,
        disk_gib,
    };
    vec![
        template(
            base,
            "HAProxy load balancer",
            ApplianceRole::LoadBalancer,
            "HAProxy 2.6 in front of an app layer",
            f(1, 1024, 10),
            &[80, 443],
            &["haproxy_sessions", "haproxy_backend_up"],
            "install-haproxy",
        ),
        template(
            base,
            "MySQL",
            ApplianceRole::Database,
            "MySQL-compatible database server (MariaDB 10.11)",
            f(2, 4096, 50),
            &[3306],
            &["mysql_connections", "mysql_qps"],
            "install-mysql",
        ),
        template(
            base,
            "Rails app server",
            ApplianceRole::AppServer,
            "Ruby on Rails behind Puma",
            f(2, 2048, 20),
            &[3000],
            &["http_requests", "http_latency_ms"],
            "install-rails",
        ),
        template(
            base,
            "PHP app server",
            ApplianceRole::AppServer,
            "PHP-FPM with nginx",
            f(1, 1024, 20),
            &[80],
            &["http_requests", "php_fpm_active"],
            "install-php",
        ),
        template(
            base,
            "Nginx static",
            ApplianceRole::Static,
            "nginx serving static files",
            f(1, 512, 10),
            &[80],
            &["http_requests"],
            "install-nginx-static",
        ),
    ]
}

/// Insert the seed catalog on the simulated pool's base image unless a global template exists or
/// there is no simulated pool. Idempotent.
pub async fn seed_catalog(store: &Store) -> Result<usize, StoreError> {
    store
        .write(|c| -> Result<usize, StoreError> {
            if templates::count_global(c)? > 0 {
                return Ok(0);
            }
            let Some(sim) = pools::all(c)?.into_iter().find(|p| p.name == SIM_POOL) else {
                return Ok(0);
            };
            let page = store::repo::PageRequest::first(1000);
            let Some(base) = images::list(c, Some(sim.id), &page)?
                .items
                .into_iter()
                .find(|i| i.file == SIM_BASE_FILE)
            else {
                return Ok(0);
            };
            let seeds = seed_templates(&base);
            for t in &seeds {
                templates::insert(c, t)?;
            }
            Ok(seeds.len())
        })
        .await
}

/// Create the pool `sim` with `n` simulated hosts and its registered base image unless any pool
/// exists. Idempotent.
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
                name: SIM_POOL.into(),
                description: "The simulated KVM pool of the embedded installation".into(),
                strategy: PlacementStrategy::Spread,
                overcommit: Overcommit::default(),
                image_dir: DEFAULT_IMAGE_DIR.into(),
                network: None,
                created_at: at,
                updated_at: at,
            };
            pools::insert(c, &pool)?;
            images::insert(
                c,
                &Image {
                    id: ImageId::new(),
                    pool_id: pool.id,
                    name: "Debian 12 base".into(),
                    kind: ImageKind::Disk,
                    format: ImageFormat::Qcow2,
                    file: SIM_BASE_FILE.into(),
                    // the simulated hosts have no files: a well-formed entry, never read
                    sha256: "0".repeat(64),
                    size_bytes: 1 << 30,
                    created_at: at,
                },
            )?;
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
