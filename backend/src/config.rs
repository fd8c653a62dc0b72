//! Configuration: defaults, then an optional TOML file, then `SCALEINFRA_*` environment variables
//! (and `DATABASE_URL`), then command-line flags. Read once and validated at start with clear messages.

use figment::Figment;
use figment::providers::{Env, Format, Serialized, Toml};
use serde::{Deserialize, Serialize};
use std::net::SocketAddr;
use std::path::{Path, PathBuf};

#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize, Deserialize, clap::ValueEnum)]
#[serde(rename_all = "lowercase")]
pub enum LogFormat {
    Text,
    Json,
}

#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct Config {
    /// Address the HTTP server listens on.
    pub bind: SocketAddr,
    /// `sqlite://path` (embedded default) or `postgres://…`.
    pub database_url: String,
    /// Maximum pooled database connections (SQLite is capped at 4).
    pub db_pool_size: u32,
    /// The URL users reach the portal at; `https://…` marks cookies Secure.
    pub public_url: Option<String>,
    /// HS256 signing key for access tokens (at least 32 bytes). When absent, a random key is generated
    /// once and kept in the database, so every replica shares it.
    pub jwt_secret: Option<String>,
    pub jwt_issuer: String,
    pub jwt_audience: String,
    pub access_token_ttl_secs: u64,
    pub refresh_token_ttl_secs: u64,
    /// Login attempts allowed per client IP per minute.
    pub login_per_ip_per_minute: u32,
    /// Login attempts allowed per account (email) from one client IP per minute (the strict limit).
    pub login_per_account_ip_per_minute: u32,
    /// Login attempts allowed per account from anywhere per minute (the lenient fallback).
    pub login_per_account_per_minute: u32,
    /// Password changes allowed per user per hour.
    pub password_changes_per_hour: u32,
    /// Password hashes computed at once, process-wide (default: one per core).
    pub hashing_concurrency: Option<usize>,
    /// A session's absolute lifetime, however often it is refreshed, in seconds.
    pub session_max_secs: u64,
    /// How long after a refresh token was used it may be used again (two tabs refreshing at once)
    /// before that counts as a reuse, in seconds.
    pub refresh_reuse_grace_secs: u64,
    /// Largest accepted JSON body.
    pub max_body_bytes: usize,
    /// Reverse proxies (addresses or CIDR blocks) whose `X-Forwarded-For`/`Forwarded` entries are
    /// believed: the client is the rightmost address none of them added. Empty: the socket peer.
    pub trusted_proxies: Vec<String>,
    pub log_format: LogFormat,
    /// A `tracing` filter such as `info` or `scaleinfra=debug,actix_web=info`.
    pub log_level: String,
    /// HTTP worker threads (default: one per core).
    pub workers: Option<usize>,
    /// Email of the first operator, created on the first start against an empty database.
    pub admin_email: Option<String>,
    /// Password of the first operator; generated and printed once when absent.
    pub admin_password: Option<String>,
    /// Run the orchestrator in this process (`serve`); `false` for API-only replicas.
    pub orchestrator: bool,
    /// Simulated KVM hosts to create on first start (the embedded default); 0 for none.
    pub sim_hosts: u32,
    /// Simulated boot time, in milliseconds.
    pub sim_boot_ms: u64,
    /// How often agents heartbeat, in milliseconds.
    pub heartbeat_ms: u64,
    /// Heartbeat silence after which a running appliance is failed, in seconds.
    pub heartbeat_timeout_secs: u64,
    /// Time a booting appliance has to announce itself, in seconds.
    pub boot_timeout_secs: u64,
    /// The URL guests reach this server's agent API at. With user-mode networking it is an address
    /// of the guest network (10.0.2.x, not .2 or .3) that a `guestfwd` carries to
    /// `libvirt_agent_forward`; guests reach nothing else of the host.
    pub agent_url: String,
    /// `auto` (try kvm, fall back to TCG), `kvm` or `tcg`.
    pub libvirt_accel: String,
    /// `user` (restricted user-mode networking) or `bridge:NAME` (a bridge of each host).
    pub libvirt_network: String,
    /// A second listener that serves the agent protocol (`/agent/v1`) and nothing else: what guests
    /// should reach, so that no guest reaches the rest of the API or passes for a trusted proxy.
    pub agent_bind: Option<SocketAddr>,
    /// Where, on each hypervisor host, user-mode guests' agent traffic goes (default: `agent_bind`,
    /// else this server's port on the host's loopback).
    pub libvirt_agent_forward: Option<SocketAddr>,
    /// Deadline of one libvirt call, in seconds.
    pub libvirt_call_timeout_secs: u64,
    /// How often the orchestrator looks for work, in milliseconds.
    pub orchestrator_tick_ms: u64,
    /// How often the automation engine looks for events, runs and jobs, in milliseconds.
    pub automation_tick_ms: u64,
    /// Let rule webhooks reach loopback, private and link-local addresses (off: tenants cannot
    /// reach the control plane's network through a webhook).
    pub webhook_allow_internal: bool,
    /// Days ended runs, their jobs and dispatched events are kept (0: forever).
    pub automation_retention_days: u32,
    /// The memory one render of a CloudScript may use (its worker's data segment), in MiB.
    pub render_memory_mib: u64,
    /// The CPU time one render of a CloudScript may use, in seconds.
    pub render_cpu_secs: u64,
    /// How often hosts are checked, in milliseconds.
    pub host_check_ms: u64,
    /// Missed checks after which a host is down and its appliances lost.
    pub host_down_after: u32,
    /// How often the live streams read new changes, in milliseconds.
    pub stream_poll_ms: u64,
    /// How late a change may become visible (a long transaction, clock skew between replicas) and
    /// still reach the live streams, in milliseconds.
    pub stream_grace_ms: u64,
    /// A comment is sent on a quiet stream this often, in seconds.
    pub stream_heartbeat_secs: u64,
    /// How long a client waits before reconnecting a closed stream (the `retry` field), in ms.
    pub stream_retry_ms: u64,
    /// How often an open stream checks that its caller is still let in and still sees the
    /// application (disabled, logged out everywhere, re-roled, suspended, unassigned), in seconds.
    pub stream_recheck_secs: u64,
    /// Frames queued per stream; a client this far behind is dropped (it reconnects).
    pub stream_buffer: usize,
    /// Streams one process holds open at most.
    pub stream_max_open: usize,
    /// Streams one user holds open at most.
    pub stream_max_per_user: usize,
    /// Caps on what one tenant may hold.
    pub limits: crate::limits::Limits,
}

impl Default for Config {
    fn default() -> Self {
        Config {
            bind: SocketAddr::from(([127, 0, 0, 1], 8080)),
            database_url: "sqlite://./data/scaleinfra.db".into(),
            db_pool_size: 16,
            public_url: None,
            jwt_secret: None,
            jwt_issuer: "scaleinfra".into(),
            jwt_audience: "scaleinfra-api".into(),
            access_token_ttl_secs: 15 * 60,
            refresh_token_ttl_secs: 14 * 24 * 3600,
            login_per_ip_per_minute: 30,
            login_per_account_ip_per_minute: 10,
            login_per_account_per_minute: 100,
            password_changes_per_hour: 10,
            hashing_concurrency: None,
            session_max_secs: 30 * 24 * 3600,
            refresh_reuse_grace_secs: 10,
            max_body_bytes: 64 * 1024,
            trusted_proxies: Vec::new(),
            log_format: LogFormat::Text,
            log_level: "info".into(),
            workers: None,
            admin_email: None,
            admin_password: None,
            orchestrator: true,
            sim_hosts: 4,
            sim_boot_ms: 3000,
            heartbeat_ms: 5000,
            heartbeat_timeout_secs: 20,
            boot_timeout_secs: 300,
            agent_url: "http://10.0.2.100:8080".into(),
            libvirt_accel: "auto".into(),
            libvirt_network: "user".into(),
            agent_bind: None,
            libvirt_agent_forward: None,
            libvirt_call_timeout_secs: 60,
            orchestrator_tick_ms: 250,
            automation_tick_ms: 200,
            webhook_allow_internal: false,
            automation_retention_days: 30,
            render_memory_mib: 256,
            render_cpu_secs: 5,
            host_check_ms: 5000,
            host_down_after: 3,
            stream_poll_ms: 200,
            stream_grace_ms: 5000,
            stream_heartbeat_secs: 15,
            stream_retry_ms: 2000,
            stream_recheck_secs: 60,
            stream_buffer: 256,
            stream_max_open: 10_000,
            stream_max_per_user: 16,
            limits: crate::limits::Limits::default(),
        }
    }
}

/// A configuration that cannot be used, with the reason in words.
#[derive(Debug, thiserror::Error)]
pub enum ConfigError {
    #[error("configuration: {0}")]
    Load(#[from] Box<figment::Error>),
    #[error("configuration file {0} does not exist")]
    MissingFile(PathBuf),
    #[error("configuration: {field}: {reason}")]
    Invalid { field: &'static str, reason: String },
}

/// `SCALEINFRA_*` variables that are not configuration keys (command-line inputs of their own).
const ENV_NOT_CONFIG: [&str; 3] = ["config", "operator_email", "operator_password"];

impl Config {
    /// Load from defaults, the TOML file (if given), and the environment.
    pub fn load(file: Option<&Path>) -> Result<Config, ConfigError> {
        let mut fig = Figment::from(Serialized::defaults(Config::default()));
        if let Some(path) = file {
            if !path.exists() {
                return Err(ConfigError::MissingFile(path.to_owned()));
            }
            fig = fig.merge(Toml::file_exact(path));
        }
        fig = fig
            .merge(Env::raw().only(&["DATABASE_URL"]))
            .merge(Env::prefixed("SCALEINFRA_").ignore(&ENV_NOT_CONFIG));
        let config: Config = fig.extract().map_err(Box::new)?;
        config.validate()?;
        Ok(config)
    }

    /// Check values that parse but cannot work.
    pub fn validate(&self) -> Result<(), ConfigError> {
        let invalid = |field, reason: &str| {
            Err(ConfigError::Invalid {
                field,
                reason: reason.into(),
            })
        };
        if let Err(e) = store::Backend::from_url(&self.database_url) {
            return Err(ConfigError::Invalid {
                field: "database_url",
                reason: e.to_string(),
            });
        }
        if self.jwt_secret.as_ref().is_some_and(|s| s.len() < 32) {
            return invalid("jwt_secret", "must be at least 32 bytes");
        }
        if self.access_token_ttl_secs == 0 || self.access_token_ttl_secs > 24 * 3600 {
            return invalid("access_token_ttl_secs", "must be between 1 and 86400");
        }
        if self.refresh_token_ttl_secs < self.access_token_ttl_secs {
            return invalid(
                "refresh_token_ttl_secs",
                "must not be shorter than the access token's",
            );
        }
        if self.login_per_ip_per_minute == 0
            || self.login_per_account_ip_per_minute == 0
            || self.login_per_account_per_minute == 0
            || self.password_changes_per_hour == 0
        {
            return invalid(
                "login_per_*/password_changes_per_hour",
                "must be at least 1",
            );
        }
        if let Err(reason) = crate::auth::client_ip::parse_trusted(&self.trusted_proxies) {
            return Err(ConfigError::Invalid {
                field: "trusted_proxies",
                reason,
            });
        }
        if self.session_max_secs < self.access_token_ttl_secs {
            return invalid(
                "session_max_secs",
                "must not be shorter than the access token's lifetime",
            );
        }
        if self.hashing_concurrency == Some(0) {
            return invalid("hashing_concurrency", "must be at least 1");
        }
        if self.automation_retention_days > 36_500 {
            return invalid(
                "automation_retention_days",
                "must be at most 36500 (0 keeps history forever)",
            );
        }
        if self.render_memory_mib < 64 {
            return invalid("render_memory_mib", "must be at least 64");
        }
        if self.render_cpu_secs == 0 || self.render_cpu_secs > 600 {
            return invalid("render_cpu_secs", "must be between 1 and 600");
        }
        if self.max_body_bytes < 1024 {
            return invalid("max_body_bytes", "must be at least 1024");
        }
        if self.db_pool_size == 0 {
            return invalid("db_pool_size", "must be at least 1");
        }
        if self
            .public_url
            .as_ref()
            .is_some_and(|u| !(u.starts_with("http://") || u.starts_with("https://")))
        {
            return invalid("public_url", "must start with http:// or https://");
        }
        if !["auto", "kvm", "tcg"].contains(&self.libvirt_accel.as_str()) {
            return invalid("libvirt_accel", "must be auto, kvm or tcg");
        }
        let bridge = self.libvirt_network.strip_prefix("bridge:");
        if self.libvirt_network != "user"
            && !bridge.is_some_and(|b| {
                (1..=15).contains(&b.len())
                    && b.chars()
                        .all(|c| c.is_ascii_alphanumeric() || "-_.".contains(c))
            })
        {
            return invalid(
                "libvirt_network",
                "must be user or bridge:NAME (1 to 15 letters, digits, '-', '_' or '.')",
            );
        }
        if self.libvirt_network == "user"
            && orchestrator::drivers::libvirt::agent_guest_addr(&self.agent_url).is_none()
        {
            return invalid(
                "agent_url",
                "with user-mode networking it must be http://10.0.2.X:PORT (X not 0, 2, 3 or 255): the only address guests reach",
            );
        }
        if self.libvirt_call_timeout_secs == 0 {
            return invalid("libvirt_call_timeout_secs", "must be at least 1");
        }
        if self.stream_poll_ms == 0
            || self.stream_heartbeat_secs == 0
            || self.stream_recheck_secs == 0
            || self.stream_max_open == 0
            || self.stream_buffer == 0
            || self.stream_max_per_user == 0
        {
            return invalid(
                "stream_poll_ms/stream_heartbeat_secs/stream_recheck_secs/stream_buffer/stream_max_open/stream_max_per_user",
                "must be at least 1",
            );
        }
        if self.heartbeat_ms == 0 || self.orchestrator_tick_ms == 0 || self.host_check_ms == 0 {
            return invalid(
                "heartbeat_ms/orchestrator_tick_ms/host_check_ms",
                "must be at least 1",
            );
        }
        if self.heartbeat_timeout_secs * 1000 <= self.heartbeat_ms {
            return invalid(
                "heartbeat_timeout_secs",
                "must be longer than the heartbeat interval",
            );
        }
        if self.host_down_after == 0 {
            return invalid("host_down_after", "must be at least 1");
        }
        if self.workers == Some(0) {
            return invalid("workers", "must be at least 1");
        }
        if let Some(Err(e)) = self
            .admin_password
            .as_deref()
            .map(common::validate::password)
        {
            return Err(ConfigError::Invalid {
                field: "admin_password",
                reason: e.message.map(|m| m.to_string()).unwrap_or_default(),
            });
        }
        Ok(())
    }

    /// Whether cookies must carry `Secure`.
    pub fn secure_cookies(&self) -> bool {
        self.public_url
            .as_deref()
            .is_some_and(|u| u.starts_with("https://"))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn defaults_are_valid() {
        assert!(Config::default().validate().is_ok());
    }

    #[test]
    fn invalid_values_are_named() {
        type Mutation = fn(&mut Config);
        let table: Vec<(Mutation, &str)> = vec![
            (|c| c.database_url = "mysql://x".into(), "database_url"),
            (|c| c.jwt_secret = Some("short".into()), "jwt_secret"),
            (|c| c.access_token_ttl_secs = 0, "access_token_ttl_secs"),
            (|c| c.refresh_token_ttl_secs = 1, "refresh_token_ttl_secs"),
            (|c| c.max_body_bytes = 10, "max_body_bytes"),
            (|c| c.public_url = Some("ftp://x".into()), "public_url"),
            (|c| c.agent_url = "http://10.0.2.2:8080".into(), "agent_url"),
            (
                |c| c.trusted_proxies = vec!["10.0.0.0/33".into()],
                "trusted_proxies",
            ),
            (|c| c.session_max_secs = 1, "session_max_secs"),
            (|c| c.libvirt_network = "bridge:".into(), "libvirt_network"),
            (
                |c| c.libvirt_network = "bridge:a b".into(),
                "libvirt_network",
            ),
            (
                |c| c.libvirt_call_timeout_secs = 0,
                "libvirt_call_timeout_secs",
            ),
            (
                |c| c.admin_password = Some("short".into()),
                "admin_password",
            ),
        ];
        for (mutate, field) in table {
            let mut c = Config::default();
            mutate(&mut c);
            match c.validate() {
                Err(ConfigError::Invalid { field: f, .. }) => assert_eq!(f, field),
                other => panic!("{field}: {other:?}"),
            }
        }
    }

    #[test]
    fn toml_file_is_read_and_unknown_keys_refused() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("c.toml");
        std::fs::write(&path, "bind = \"127.0.0.1:9999\"\nlog_format = \"json\"\n").unwrap();
        let c = Config::load(Some(&path)).unwrap();
        assert_eq!(c.bind.port(), 9999);
        assert_eq!(c.log_format, LogFormat::Json);
        std::fs::write(&path, "bnid = \"127.0.0.1:9999\"\n").unwrap();
        let err = Config::load(Some(&path)).unwrap_err().to_string();
        assert!(err.contains("bnid"), "{err}");
        assert!(Config::load(Some(&dir.path().join("missing.toml"))).is_err());
    }
}
