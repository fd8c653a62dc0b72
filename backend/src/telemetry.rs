//! Logging set-up and Prometheus metrics: requests by route and status, latency histograms, pool usage.

use crate::config::LogFormat;
use crate::state::AppState;
use actix_web::body::MessageBody;
use actix_web::dev::{ServiceRequest, ServiceResponse};
use actix_web::middleware::Next;
use actix_web::{HttpResponse, get, web};
use metrics_exporter_prometheus::{Matcher, PrometheusBuilder, PrometheusHandle};
use std::sync::OnceLock;
use std::time::Instant;

/// Install the tracing subscriber (text or JSON). `RUST_LOG` overrides `level` when set.
pub fn init_logging(format: LogFormat, level: &str) {
    use tracing_subscriber::EnvFilter;
    let filter = EnvFilter::try_from_default_env().unwrap_or_else(|_| EnvFilter::new(level));
    let builder = tracing_subscriber::fmt()
        .with_env_filter(filter)
        .with_writer(std::io::stderr);
    let installed = match format {
        LogFormat::Text => builder.try_init(),
        LogFormat::Json => builder.json().try_init(),
    };
    if installed.is_ok() {
        // panics (in any thread) go through tracing too, so they reach the same log as the rest
        let previous = std::panic::take_hook();
        std::panic::set_hook(Box::new(move |info| {
            let message = orchestrator::supervise::panic_message(info.payload());
            let at = info
                .location()
                .map(|l| format!("{}:{}", l.file(), l.line()))
                .unwrap_or_default();
            tracing::error!(panic = %message, at = %at, "panic");
            previous(info);
        }));
    }
}

/// The process-wide Prometheus recorder (the `metrics` facade is global by design; installed once).
pub fn prometheus() -> PrometheusHandle {
    static HANDLE: OnceLock<PrometheusHandle> = OnceLock::new();
    HANDLE
        .get_or_init(|| {
            let builder = PrometheusBuilder::new()
                .set_buckets_for_metric(
                    Matcher::Full("http_request_duration_seconds".into()),
                    &[
                        0.0005, 0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1.0, 2.5,
                        5.0,
                    ],
                )
                .unwrap_or_else(|_| PrometheusBuilder::new());
            match builder.install_recorder() {
                Ok(h) => h,
                // another recorder is installed: render a local one so /metrics still answers
                Err(_) => PrometheusBuilder::new().build_recorder().handle(),
            }
        })
        .clone()
}

/// Middleware: count and time every request by method, route pattern and status.
pub async fn record(
    req: ServiceRequest,
    next: Next<impl MessageBody>,
) -> Result<ServiceResponse<impl MessageBody>, actix_web::Error> {
    let start = Instant::now();
    let method = req.method().to_string();
    let route = req.match_pattern().unwrap_or_else(|| "unmatched".into());
    let res = next.call(req).await;
    let status = match &res {
        Ok(r) => r.status().as_u16(),
        Err(e) => e.as_response_error().status_code().as_u16(),
    };
    let elapsed = start.elapsed().as_secs_f64();
    metrics::counter!("http_requests_total", "method" => method.clone(), "route" => route.clone(), "status" => status.to_string()).increment(1);
    metrics::histogram!("http_request_duration_seconds", "method" => method.clone(), "route" => route.clone()).record(elapsed);
    tracing::debug!(%method, %route, status, ms = elapsed * 1000.0, "request");
    res
}

/// Prometheus text exposition.
#[utoipa::path(tag = "ops", security(()), responses((status = 200, description = "Prometheus metrics", body = String, content_type = "text/plain")))]
#[get("/metrics")]
pub async fn metrics_endpoint(state: web::Data<AppState>) -> HttpResponse {
    let (open, idle, max) = state.store.pool_state();
    metrics::gauge!("db_pool_connections", "state" => "open").set(f64::from(open));
    metrics::gauge!("db_pool_connections", "state" => "idle").set(f64::from(idle));
    metrics::gauge!("db_pool_connections", "state" => "max").set(f64::from(max));
    HttpResponse::Ok()
        .content_type("text/plain; version=0.0.4")
        .body(prometheus().render())
}
