//! `GET /api/v1/applications/{id}/stream`.

use super::hub::{Refused, Subscription};
use super::{frames, window};
use crate::appliances::service::appliance_response;
use crate::applications::service::visible_app;
use crate::auth::{Auth, AuthCtx, Member};
use crate::error::{ApiError, ApiResult};
use crate::openapi::{Forbidden, NotFound, Unauthenticated};
use crate::state::AppState;
use actix_web::web::Bytes;
use actix_web::{HttpRequest, HttpResponse, get, web};
use common::ApplicationId;
use std::collections::VecDeque;
use std::time::Duration;
use store::repo::{PageRequest, appliances, events};
use tokio_util::sync::CancellationToken;

pub fn configure(cfg: &mut utoipa_actix_web::service_config::ServiceConfig) {
    cfg.service(stream);
}

/// Transitions and events replayed after `Last-Event-ID`, each at most.
const REPLAY_MAX: u32 = 1000;
/// How long an access re-check may take before the stream goes on without its verdict.
const CHECK_TIMEOUT: Duration = Duration::from_secs(2);
/// A `Last-Event-ID` older than this is no resume (the snapshot alone).
const REPLAY_HORIZON_MS: u64 = 10 * 60 * 1000;

/// The application's changes as they happen (`text/event-stream`). Frames: `snapshot` first (the
/// live appliances now), then `appliance` (a state change with the appliance after it) and `event`
/// (a domain event), comments as heartbeats, and `end` when the server closes the stream (token
/// expired, client lagging, shutdown). With `Last-Event-ID`, the changes after that id (and within
/// the grace window before it) are replayed after the snapshot. At least once: readers drop ids they
/// have seen. 429 when the caller holds `stream_max_per_user` streams or the server
/// `stream_max_open`.
#[utoipa::path(tag = "appliances", security(("bearer" = ["operator", "admin", "user"])),
    params(("Last-Event-ID" = Option<String>, Header, description = "The last frame id the client read (a reconnect)")),
    responses(
        (status = 200, description = "The stream, until the token expires", content_type = "text/event-stream", body = String),
        Unauthenticated, Forbidden, NotFound,
        (status = 429, description = "Too many open streams", content_type = "application/problem+json", body = common::Problem)))]
#[get("/applications/{application_id}/stream")]
async fn stream(
    a: Auth<Member>,
    state: web::Data<AppState>,
    application_id: web::Path<ApplicationId>,
    req: HttpRequest,
) -> ApiResult<HttpResponse> {
    let app = *application_id;
    let sub = state
        .live
        .subscribe(a.tenant_id, app, a.user_id)
        .map_err(|r| match r {
            Refused::UserLimit(_) | Refused::Full(_) => ApiError::RateLimited {
                retry_after_secs: 5,
            },
        })?;
    // a reconnect names the last id it read; anything that is not a recent id of ours is no resume
    let grace = state.config.stream_grace_ms;
    let now_ms = now_secs().saturating_mul(1000);
    let resume = req
        .headers()
        .get("last-event-id")
        .and_then(|v| v.to_str().ok())
        .filter(|v| uuid::Uuid::parse_str(v).is_ok_and(|u| u.get_version_num() == 7))
        .and_then(window::ms_of)
        .filter(|ms| *ms + REPLAY_HORIZON_MS >= now_ms && *ms <= now_ms + grace + 1000)
        .map(|ms| window::floor_id(ms.saturating_sub(grace)));
    let ctx = AuthCtx::clone(&a);
    // subscribed first, read after: whatever changes in between comes through the queue too
    let mut initial = state
        .store
        .read(move |c| -> ApiResult<VecDeque<Bytes>> {
            visible_app(c, &ctx, app)?;
            let mut live = Vec::new();
            let mut page = PageRequest {
                after: None,
                limit: 500,
            };
            loop {
                let p = appliances::list_for_app(c, ctx.tenant_id, app, false, &page)?;
                live.extend(p.items.into_iter().map(|x| appliance_response(x, None)));
                match p.next_after {
                    Some(n) => page.after = Some(n),
                    None => break,
                }
            }
            let mut out = VecDeque::from([frames::snapshot(live)]);
            if let Some(from) = resume {
                let ts = appliances::transitions_of_application(
                    c,
                    ctx.tenant_id,
                    app,
                    &from,
                    i64::from(REPLAY_MAX),
                )?;
                let es = events::list(
                    c,
                    ctx.tenant_id,
                    Some(app),
                    &PageRequest {
                        after: Some(from),
                        limit: REPLAY_MAX,
                    },
                )?;
                out.push_back(frames::merged(
                    ts.into_iter().map(|t| (t, None)).collect(),
                    es.items,
                ));
            }
            Ok(out)
        })
        .await?;
    initial.push_front(frames::retry(state.config.stream_retry_ms));
    let expires =
        tokio::time::Instant::now() + Duration::from_secs(a.expires_at.saturating_sub(now_secs()));
    let body = body(
        initial,
        sub,
        Duration::from_secs(state.config.stream_heartbeat_secs),
        expires,
        state.live.closing.clone(),
        Duration::from_secs(state.config.stream_recheck_secs),
        Recheck {
            state: state.clone(),
            ctx: AuthCtx::clone(&a),
            app,
        },
    );
    Ok(HttpResponse::Ok()
        .content_type("text/event-stream")
        .insert_header(("Cache-Control", "no-store"))
        // a buffering proxy (nginx) would hold frames back
        .insert_header(("X-Accel-Buffering", "no"))
        .streaming(body))
}

fn now_secs() -> u64 {
    u64::try_from(chrono::Utc::now().timestamp()).unwrap_or(0)
}

/// What an open stream checks again every `stream_recheck_secs`: that its caller is still let in (not
/// disabled, logged out everywhere, re-roled or suspended) and still sees the application.
struct Recheck {
    state: web::Data<AppState>,
    ctx: AuthCtx,
    app: ApplicationId,
}

impl Recheck {
    /// False when access is gone; a store that cannot answer now keeps the stream.
    async fn allowed(&self) -> bool {
        let (ctx, app) = (self.ctx.clone(), self.app);
        let r = self
            .state
            .store
            .read(move |c| -> ApiResult<bool> {
                if !crate::auth::extract::still_admitted(c, &ctx)? {
                    return Ok(false);
                }
                match visible_app(c, &ctx, app) {
                    Ok(_) => Ok(true),
                    Err(ApiError::NotFound | ApiError::Forbidden) => Ok(false),
                    // the store failing is not a verdict
                    Err(e) => Err(e),
                }
            })
            .await;
        match r {
            Ok(ok) => ok,
            Err(e) => {
                tracing::warn!(error = %store::Chain(&e), "a stream could not check its access");
                true
            }
        }
    }
}

struct Open {
    initial: VecDeque<Bytes>,
    sub: Subscription,
    heartbeat: tokio::time::Interval,
    recheck: tokio::time::Interval,
    access: Recheck,
    expires: tokio::time::Instant,
    closing: CancellationToken,
    ended: bool,
}

/// The response body: the opening frames, then the queue, heartbeats while it is quiet, and an
/// `end` frame when the stream closes.
fn body(
    initial: VecDeque<Bytes>,
    sub: Subscription,
    every: Duration,
    expires: tokio::time::Instant,
    closing: CancellationToken,
    recheck_every: Duration,
    access: Recheck,
) -> impl futures_util::Stream<Item = Result<Bytes, std::convert::Infallible>> {
    let start = tokio::time::Instant::now();
    let mut heartbeat = tokio::time::interval_at(start + every, every);
    heartbeat.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
    let mut recheck = tokio::time::interval_at(start + recheck_every, recheck_every);
    recheck.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
    let open = Open {
        initial,
        sub,
        heartbeat,
        recheck,
        access,
        expires,
        closing,
        ended: false,
    };
    futures_util::stream::unfold(open, |mut o| async move {
        if o.ended {
            return None;
        }
        if let Some(f) = o.initial.pop_front() {
            return Some((Ok(f), o));
        }
        let out = loop {
            tokio::select! {
                biased;
                () = o.closing.cancelled() => {
                    o.ended = true;
                    break frames::end("shutdown");
                }
                () = tokio::time::sleep_until(o.expires) => {
                    o.ended = true;
                    break frames::end("token_expired");
                }
                f = o.sub.rx.recv() => match f {
                    Some(f) => {
                        // a heartbeat is for a quiet stream
                        o.heartbeat.reset();
                        break f;
                    }
                    // the hub closes only a queue that filled up
                    None => {
                        o.ended = true;
                        break frames::end("lagging");
                    }
                },
                _ = o.recheck.tick() => {
                    // bounded: a slow store must not hold the stream's other branches for long
                    let allowed = tokio::time::timeout(CHECK_TIMEOUT, o.access.allowed()).await;
                    if allowed == Ok(false) {
                        o.ended = true;
                        break frames::end("access_changed");
                    }
                }
                _ = o.heartbeat.tick() => break frames::heartbeat(),
            }
        };
        Some((Ok(out), o))
    })
}
