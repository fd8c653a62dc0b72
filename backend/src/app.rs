//! The composition root: opens the store, migrates, bootstraps, builds the actix App (API, OpenAPI,
//! Swagger UI, health, metrics) and runs the HTTP server with its housekeeping tasks.

use crate::config::Config;
use crate::error;
use crate::state::AppState;
use crate::{audit, auth, bootstrap, health, openapi::ApiDoc, projects, telemetry, tenants, users};
use actix_web::body::MessageBody;
use actix_web::dev::{ServerHandle, ServiceFactory, ServiceRequest, ServiceResponse};
use actix_web::middleware::{DefaultHeaders, from_fn};
use actix_web::{App, HttpServer, web};
use std::net::{SocketAddr, TcpListener};
use std::time::Duration;
use store::{PoolOptions, Store};
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
                .configure(audit::routes::configure),
        )
        .configure(health::configure)
        .service(telemetry::metrics_endpoint)
        .split_for_parts();
    app.service(SwaggerUi::new("/api/docs/{_:.*}").url("/api/openapi.json", api))
        .default_service(web::to(crate::spa::serve))
        .wrap(
            DefaultHeaders::new()
                .add(("X-Content-Type-Options", "nosniff"))
                .add(("X-Frame-Options", "DENY"))
                .add(("Referrer-Policy", "no-referrer")),
        )
        .wrap(from_fn(telemetry::record))
}

/// A running server.
pub struct Running {
    pub addr: SocketAddr,
    pub handle: ServerHandle,
    pub state: AppState,
    pub bootstrapped: Option<bootstrap::Bootstrapped>,
    server: actix_web::dev::Server,
}

impl Running {
    /// Wait until the server stops.
    pub async fn wait(self) -> std::io::Result<()> {
        self.server.await
    }
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
    let workers = config
        .workers
        .unwrap_or_else(|| std::thread::available_parallelism().map_or(2, |n| n.get()));
    let listener = TcpListener::bind(config.bind)?;
    let addr = listener.local_addr()?;
    let state = AppState::new(config, store)
        .await
        .map_err(|e| anyhow::anyhow!("{e}"))?;
    let _ = telemetry::prometheus();
    let data = web::Data::new(state.clone());
    let server = HttpServer::new(move || build(data.clone()))
        .workers(workers)
        .shutdown_timeout(10)
        .disable_signals()
        .listen(listener)?
        .run();
    let handle = server.handle();
    spawn_housekeeping(state.clone());
    tracing::info!(%addr, "listening");
    Ok(Running {
        addr,
        handle,
        state,
        bootstrapped,
        server,
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
            n += 1;
            if n.is_multiple_of(60) {
                let r = state
                    .store
                    .write(|c| store::repo::refresh_tokens::purge_expired(c, store::time::now()))
                    .await;
                if let Err(e) = r {
                    tracing::warn!(error = ?e, "purging expired refresh tokens failed");
                }
            }
        }
    });
}
