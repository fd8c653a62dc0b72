//! Application state: read once at start, shared by every request (no global statics).

use crate::auth::jwt::JwtKeys;
use crate::auth::password;
use crate::auth::ratelimit::LoginLimiter;
use crate::auth::refresh;
use crate::config::Config;
use crate::error::ApiError;
use orchestrator::agent_api::AgentService;
use orchestrator::{Orchestrator, SimCloud};
use std::sync::Arc;
use store::Store;

const JWT_SECRET_SETTING: &str = "jwt_hs256_secret";

#[derive(Clone)]
pub struct AppState {
    pub store: Store,
    pub config: Arc<Config>,
    pub jwt: JwtKeys,
    pub limiter: LoginLimiter,
    /// Password changes per user.
    pub password_limiter: crate::auth::ratelimit::UserLimiter,
    /// Bounded argon2 work.
    pub hasher: password::Hasher,
    /// Parsed `trusted_proxies`.
    pub trusted_proxies: Arc<Vec<ipnet::IpNet>>,
    /// A hash of a random password: unknown emails are verified against it so they cost the same
    /// argon2 work as a wrong password.
    pub dummy_hash: Arc<str>,
    /// The agent protocol (served at /agent/v1).
    pub agent: Arc<AgentService>,
    /// The simulated pool, when this installation runs one.
    pub sim: Option<Arc<SimCloud>>,
    /// The in-process orchestrator (`serve`).
    pub orchestrator: Option<Arc<Orchestrator>>,
    /// The live streams' fan-out (its poller runs from `app::start`).
    pub live: Arc<crate::live::Hub>,
}

impl AppState {
    pub async fn new(
        config: Config,
        store: Store,
        sim: Option<Arc<SimCloud>>,
        orchestrator: Option<Arc<Orchestrator>>,
    ) -> Result<AppState, ApiError> {
        let secret = match &config.jwt_secret {
            Some(s) => s.clone(),
            None => {
                let generated = refresh::generate().map_err(ApiError::internal)?
                    + &refresh::generate().map_err(ApiError::internal)?;
                store
                    .write(move |c| {
                        store::repo::settings::get_or_insert(c, JWT_SECRET_SETTING, &generated)
                    })
                    .await?
            }
        };
        let jwt = JwtKeys::new(
            secret.as_bytes(),
            &config.jwt_issuer,
            &config.jwt_audience,
            config.access_token_ttl_secs,
        );
        let limiter = LoginLimiter::new(
            config.login_per_ip_per_minute,
            config.login_per_account_ip_per_minute,
            config.login_per_account_per_minute,
        );
        let password_limiter =
            crate::auth::ratelimit::user_limiter(config.password_changes_per_hour);
        let hasher = password::Hasher::new(
            config
                .hashing_concurrency
                .unwrap_or_else(|| std::thread::available_parallelism().map_or(2, |n| n.get())),
        );
        let trusted_proxies = Arc::new(
            crate::auth::client_ip::parse_trusted(&config.trusted_proxies)
                .map_err(|e| ApiError::internal(anyhow::anyhow!(e)))?,
        );
        let dummy = refresh::generate().map_err(ApiError::internal)?;
        let dummy_hash: Arc<str> = hasher.hash(dummy).await?.into();
        let agent = match &orchestrator {
            Some(o) => o.agent(),
            None => Arc::new(
                AgentService::open(store.clone(), &crate::app::orchestrator_config(&config))
                    .await?,
            ),
        };
        let live = crate::live::Hub::new(crate::live::Limits {
            buffer: config.stream_buffer,
            max_open: config.stream_max_open,
            max_per_user: config.stream_max_per_user,
        });
        Ok(AppState {
            store,
            config: Arc::new(config),
            jwt,
            limiter,
            password_limiter,
            hasher,
            trusted_proxies,
            dummy_hash,
            agent,
            sim,
            orchestrator,
            live,
        })
    }
}
