//! The composition root: opens the store, migrates, bootstraps, builds the actix App (API, OpenAPI,
//! Swagger UI, health, metrics) and runs the HTTP server with its housekeeping tasks.

use crate::config::Config;
use crate::error;
use crate::state::AppState;
use crate::{
    agent, appliances, applications, audit, auth, bootstrap, catalog, cloudscripts, compute,
    health, images, live, openapi::ApiDoc, projects, rules, telemetry, tenants, users,
};
use actix_web::body::MessageBody;
use actix_web::dev::{ServerHandle, ServiceFactory, ServiceRequest, ServiceResponse};
use actix_web::middleware::{DefaultHeaders, from_fn};
use actix_web::{App, HttpServer, ResponseError, web};
use common::api::Capacity;
use orchestrator::drivers::Drivers;
use orchestrator::drivers::libvirt::{Accel, GuestNetwork, LibvirtConfig, LibvirtDriver};
use orchestrator::{Orchestrator, OrchestratorConfig, SimCloud, SimConfig};
use std::net::{SocketAddr, TcpListener};
use std::sync::Arc;
use std::time::Duration;
use store::{PoolOptions, Store};
use tokio_util::sync::CancellationToken;
use utoipa::OpenApi;
use utoipa_actix_web::AppExt;
use utoipa_swagger_ui::SwaggerUi;

/// Build the application for one worker.
pub fn build(
    state: web::Data<AppState>,
) -> App<
    impl ServiceFactory<
        ServiceRequest,
        Config = (),
        Response = ServiceResponse<impl MessageBody>,
        Error = actix_web::Error,
        InitError = (),
    >,
> {
    let json = web::JsonConfig::default()
        .limit(state.config.max_body_bytes)
        .content_type_required(true)
        .error_handler(error::json_error);
    let (app, api) = App::new()
        .into_utoipa_app()
        .openapi(ApiDoc::openapi())
        .app_data(state)
        .app_data(json)
        .app_data(web::PathConfig::default().error_handler(error::path_error))
        .app_data(web::QueryConfig::default().error_handler(error::query_error))
        .service(
            utoipa_actix_web::scope("/api/v1")
                .wrap(from_fn(auth::extract::authenticate))
                .configure(auth::routes::configure)
                .configure(tenants::routes::configure)
                .configure(users::routes::configure)
                .configure(projects::routes::configure)
                .configure(audit::routes::configure)
                .configure(compute::routes::configure)
                .configure(catalog::routes::configure)
                .configure(images::routes::configure)
                .configure(applications::routes::configure)
                .configure(appliances::routes::configure)
                .configure(live::routes::configure)
                .configure(cloudscripts::routes::configure)
                .configure(rules::routes::configure),
        )
        .service(utoipa_actix_web::scope("/agent/v1").configure(agent::routes::configure))
        .configure(health::configure)
        .service(telemetry::metrics_endpoint)
        .split_for_parts();
    let mut api = api;
    crate::openapi::declare_path_parameters(&mut api);
    crate::openapi::declare_body_errors(&mut api);
    let methods = web::Data::new(crate::openapi::Methods::of(&api));
    app.service(SwaggerUi::new("/api/docs/{_:.*}").url("/api/openapi.json", api))
        .app_data(methods)
        .default_service(web::to(fallback))
        .wrap(
            DefaultHeaders::new()
                .add(("X-Content-Type-Options", "nosniff"))
                .add(("X-Frame-Options", "DENY"))
                .add(("Referrer-Policy", "no-referrer")),
        )
        .wrap(from_fn(telemetry::record))
}

/// What no route answered: a documented path asked with another method is `405` (with `Allow`);
/// anything else is the SPA's (its files, its client-side routes, or `404`).
async fn fallback(
    req: actix_web::HttpRequest,
    methods: web::Data<crate::openapi::Methods>,
) -> Result<actix_web::HttpResponse, error::ApiError> {
    if let Some(allowed) = methods.allowed(req.path())
        && !allowed.contains(&req.method().as_str())
    {
        return Err(error::ApiError::MethodNotAllowed(allowed));
    }
    crate::spa::serve(req).await
}

/// The agent protocol alone, for the listener guests reach (`agent_bind`): nothing else of the API
/// is served there, and no forwarded header is believed.
fn build_agent(
    state: web::Data<AppState>,
) -> App<
    impl ServiceFactory<
        ServiceRequest,
        Config = (),
        Response = ServiceResponse<impl MessageBody>,
        Error = actix_web::Error,
        InitError = (),
    >,
> {
    let json = web::JsonConfig::default()
        .limit(state.config.max_body_bytes)
        .content_type_required(true)
        .error_handler(error::json_error);
    App::new()
        .into_utoipa_app()
        .app_data(state)
        .app_data(json)
        .service(utoipa_actix_web::scope("/agent/v1").configure(agent::routes::configure))
        .into_app()
        .default_service(web::to(|| async {
            error::ApiError::NotFound.error_response()
        }))
        .wrap(from_fn(telemetry::record))
}

/// A running server.
pub struct Running {
    pub addr: SocketAddr,
    pub handle: ServerHandle,
    pub state: AppState,
    pub bootstrapped: Option<bootstrap::Bootstrapped>,
    /// Cancels the background loops (the orchestrator).
    pub shutdown: CancellationToken,
    /// The servers, already running in tasks of their own (an actix server starts only once its
    /// future is polled: spawning it here means no caller can forget to).
    server: tokio::task::JoinHandle<std::io::Result<()>>,
    /// The agent-only listener (`agent_bind`), if any.
    pub agent_addr: Option<SocketAddr>,
    agent_server: Option<(ServerHandle, tokio::task::JoinHandle<std::io::Result<()>>)>,
}

impl Running {
    /// Stop accepting and finish what is in flight, on every listener (open streams end first).
    pub async fn stop(&self) {
        self.state.live.closing.cancel();
        if let Some((a, _)) = &self.agent_server {
            a.stop(true).await;
        }
        self.handle.stop(true).await;
    }

    /// Wait until the servers stop.
    pub async fn wait(self) -> std::io::Result<()> {
        let joined = |r: Result<std::io::Result<()>, tokio::task::JoinError>| {
            r.unwrap_or_else(|e| Err(std::io::Error::other(e)))
        };
        if let Some((_, a)) = self.agent_server {
            let (main, agent) = futures_util::future::join(self.server, a).await;
            joined(main)?;
            return joined(agent);
        }
        joined(self.server.await)
    }
}

/// The orchestrator settings of `config`.
pub fn orchestrator_config(config: &Config) -> OrchestratorConfig {
    let ms = std::time::Duration::from_millis;
    let mut o = OrchestratorConfig {
        tick: ms(config.orchestrator_tick_ms),
        host_check: ms(config.host_check_ms),
        host_check_timeout: ms(config.host_check_ms.clamp(100, 5000)),
        host_down_after: config.host_down_after,
        agent_url: config.agent_url.clone(),
        heartbeat_secs: u32::try_from(config.heartbeat_ms.div_ceil(1000)).unwrap_or(5),
        metrics_secs: u32::try_from((config.heartbeat_ms * 2).div_ceil(1000)).unwrap_or(10),
        heartbeat: ms(config.heartbeat_ms),
        automation_tick: ms(config.automation_tick_ms.max(1)),
        webhook_allow_internal: config.webhook_allow_internal,
        automation_retention_days: config.automation_retention_days,
        ..OrchestratorConfig::default()
    };
    o.timeouts.boot = Duration::from_secs(config.boot_timeout_secs);
    o.timeouts.heartbeat = Duration::from_secs(config.heartbeat_timeout_secs);
    o.resync = o.resync.max(o.tick * 4);
    o
}

/// The drivers of `config`: the simulated pool when it has hosts, libvirt always.
pub fn drivers(config: &Config) -> (Option<Arc<SimCloud>>, Drivers) {
    let ms = std::time::Duration::from_millis;
    let sim = (config.sim_hosts > 0).then(|| {
        SimCloud::new(SimConfig {
            boot: ms(config.sim_boot_ms),
            heartbeat: ms(config.heartbeat_ms),
            metrics: ms(config.heartbeat_ms * 2),
            ..SimConfig::default()
        })
    });
    let accel = match config.libvirt_accel.as_str() {
        "kvm" => Accel::Kvm,
        "tcg" => Accel::Tcg,
        _ => Accel::Auto,
    };
    let network = match config.libvirt_network.strip_prefix("bridge:") {
        Some(bridge) => GuestNetwork::Bridge(bridge.to_owned()),
        None => GuestNetwork::User {
            agent_guest: orchestrator::drivers::libvirt::agent_guest_addr(&config.agent_url),
            agent_host: config.libvirt_agent_forward.unwrap_or_else(|| {
                config
                    .agent_bind
                    .unwrap_or_else(|| SocketAddr::from(([127, 0, 0, 1], config.bind.port())))
            }),
        },
    };
    let libvirt = LibvirtDriver::new(LibvirtConfig {
        accel,
        network,
        call_timeout: Duration::from_secs(config.libvirt_call_timeout_secs),
        ..LibvirtConfig::default()
    });
    (sim.clone(), Drivers::new(sim, libvirt))
}

/// Seed (with a simulated pool) the pool's hosts and image, then the catalog on that image.
async fn seed(store: &Store, config: &Config) -> anyhow::Result<()> {
    if config.sim_hosts > 0 {
        let capacity = Capacity {
            vcpus: 16,
            memory_mib: 65_536,
            disk_gib: 1000,
        };
        orchestrator::catalog::seed_sim_pool(store, config.sim_hosts, capacity).await?;
    }
    orchestrator::automation::library::load(store).await?;
    orchestrator::catalog::seed_catalog(store).await?;
    Ok(())
}

/// Open and migrate the database named by `config`.
pub async fn open_store(config: &Config) -> anyhow::Result<Store> {
    let opts = PoolOptions {
        max_size: config.db_pool_size,
        ..PoolOptions::default()
    };
    let url = config.database_url.clone();
    let store = tokio::task::spawn_blocking(move || -> anyhow::Result<Store> {
        let store = Store::open(&url, &opts)?;
        let applied = store::migrate::run(&store)?;
        if !applied.is_empty() {
            tracing::info!(?applied, "database migrated");
        }
        Ok(store)
    })
    .await??;
    Ok(store)
}

/// Start everything `serve` runs, bound to `config.bind` (port 0 picks a free port).
/// Signals are left to the caller, which stops the server through `handle`.
pub async fn start(config: Config) -> anyhow::Result<Running> {
    let store = open_store(&config).await?;
    let bootstrapped = bootstrap::ensure_provider(
        &store,
        config.admin_email.as_deref(),
        config.admin_password.as_deref(),
    )
    .await
    .map_err(|e| anyhow::anyhow!("bootstrap failed: {e}: {:?}", e.problem().errors))?;
    seed(&store, &config).await?;
    let workers = config
        .workers
        .unwrap_or_else(|| std::thread::available_parallelism().map_or(2, |n| n.get()));
    let listener = TcpListener::bind(config.bind)?;
    let addr = listener.local_addr()?;
    let shutdown = CancellationToken::new();
    let (sim, drivers) = drivers(&config);
    let orchestrator = if config.orchestrator {
        let o = Orchestrator::new(store.clone(), drivers, orchestrator_config(&config)).await?;
        let (o2, token) = (o.clone(), shutdown.clone());
        tokio::spawn(async move {
            if let Err(e) = o2.run(token).await {
                tracing::error!(error = %store::Chain(&e), "orchestrator stopped");
            }
        });
        Some(o)
    } else {
        None
    };
    let state = AppState::new(config, store, sim, orchestrator)
        .await
        .map_err(anyhow::Error::new)?;
    let _ = telemetry::prometheus();
    let data = web::Data::new(state.clone());
    let server = HttpServer::new(move || build(data.clone()))
        .workers(workers)
        // agents call every few seconds over one kept-alive connection (through the guestfwd of
        // user-mode networking, one connection is all a guest has): outlast their interval
        .keep_alive(Duration::from_secs(75))
        .shutdown_timeout(10)
        .disable_signals()
        .listen(listener)?
        .run();
    let handle = server.handle();
    let (agent_addr, agent_server) = match state.config.agent_bind {
        Some(bind) => {
            let listener = TcpListener::bind(bind)?;
            let addr = listener.local_addr()?;
            let data = web::Data::new(state.clone());
            let server = HttpServer::new(move || build_agent(data.clone()))
                .workers(workers.min(2))
                .keep_alive(Duration::from_secs(75))
                .shutdown_timeout(10)
                .disable_signals()
                .listen(listener)?
                .run();
            tracing::info!(%addr, "agent protocol listening");
            (Some(addr), Some((server.handle(), tokio::spawn(server))))
        }
        None => (None, None),
    };
    spawn_housekeeping(state.clone());
    tokio::spawn(live::poller::run(
        state.store.clone(),
        state.live.clone(),
        live::PollConfig {
            every: Duration::from_millis(state.config.stream_poll_ms),
            grace: Duration::from_millis(state.config.stream_grace_ms),
            batch: 1000,
        },
    ));
    tracing::info!(%addr, "listening");
    Ok(Running {
        addr,
        handle,
        state,
        bootstrapped,
        shutdown,
        server: tokio::spawn(server),
        agent_addr,
        agent_server,
    })
}

/// Periodic chores: forget recovered rate-limit keys; delete expired refresh tokens.
fn spawn_housekeeping(state: AppState) {
    tokio::spawn(async move {
        let mut tick = tokio::time::interval(Duration::from_secs(60));
        let mut n: u64 = 0;
        loop {
            tick.tick().await;
            state.limiter.retain_recent();
            state.agent.retain_recent();
            n += 1;
            if n.is_multiple_of(60) {
                let r = state
                    .store
                    .write(|c| store::repo::refresh_tokens::purge_expired(c, store::time::now()))
                    .await;
                if let Err(e) = r {
                    tracing::warn!(error = %store::Chain(&e), "purging expired refresh tokens failed");
                }
            }
        }
    });
}
