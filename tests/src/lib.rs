//! The end-to-end harness: a `TestApp` that starts the real server on its own fresh database (a SQLite
//! file, or a PostgreSQL database cloned from a migrated template when `SITEST_DB=postgres`), and
//! fixture builders that act through the HTTP API like a user would.

#![allow(clippy::expect_used, clippy::unwrap_used)] // test support: a failed expectation is a failed test

use backend::config::Config;
use reqwest::{Method, StatusCode, header};
use serde_json::{Value, json};
use std::sync::atomic::{AtomicU32, Ordering};
use store::Store;

/// The database engine this test run uses (`SITEST_DB=sqlite|postgres`, default sqlite).
pub fn engine() -> &'static str {
    match std::env::var("SITEST_DB").as_deref() {
        Ok("postgres") | Ok("postgresql") | Ok("pg") => "postgres",
        _ => "sqlite",
    }
}

/// The PostgreSQL admin URL for tests (`SITEST_PG_URL`).
pub fn pg_admin_url() -> String {
    std::env::var("SITEST_PG_URL").unwrap_or_else(|_| {
        "postgres://scaleinfra:scaleinfra@127.0.0.1:5432/postgres?sslmode=disable".into()
    })
}

pub mod netns;

pub const OPERATOR_EMAIL: &str = "operator@provider.test";
pub const OPERATOR_PASSWORD: &str = "Operator-Pass-Quasar-42";
/// A password that passes the strength rule, for fixtures.
pub const STRONG_PASSWORD: &str = "Velvet-Harbor-Lantern-93";
/// The JWT secret of test servers, so tests can forge tokens signed with the right key.
pub const JWT_SECRET: &str = "test-secret-test-secret-test-secret-0123456789";

enum Db {
    Sqlite(#[allow(dead_code)] tempfile::TempDir),
    Postgres {
        admin_url: String,
        name: String,
    },
    /// A replica's: another `TestApp` owns it.
    Shared,
}

/// A response, read whole.
#[derive(Debug, Clone)]
pub struct Resp {
    pub status: StatusCode,
    pub headers: header::HeaderMap,
    pub body: Value,
    pub text: String,
}

impl Resp {
    /// The `code` of a problem+json body.
    pub fn code(&self) -> &str {
        self.body["code"].as_str().unwrap_or("")
    }

    /// A cookie value set by this response.
    pub fn set_cookie(&self, name: &str) -> Option<String> {
        self.headers
            .get_all(header::SET_COOKIE)
            .iter()
            .find_map(|v| {
                let s = v.to_str().ok()?;
                let (kv, _) = s.split_once(';').unwrap_or((s, ""));
                let (k, v) = kv.split_once('=')?;
                (k.trim() == name).then(|| v.trim().to_owned())
            })
    }

    pub fn set_cookie_header(&self, name: &str) -> Option<String> {
        self.headers
            .get_all(header::SET_COOKIE)
            .iter()
            .filter_map(|v| v.to_str().ok())
            .find(|s| s.starts_with(&format!("{name}=")))
            .map(str::to_owned)
    }

    #[track_caller]
    pub fn assert_status(&self, want: u16) -> &Self {
        assert_eq!(
            self.status.as_u16(),
            want,
            "unexpected status; body: {}",
            self.text
        );
        self
    }

    #[track_caller]
    pub fn assert_problem(&self, status: u16, code: &str) -> &Self {
        self.assert_status(status);
        assert_eq!(
            self.headers
                .get(header::CONTENT_TYPE)
                .and_then(|v| v.to_str().ok()),
            Some("application/problem+json"),
            "{}",
            self.text
        );
        assert_eq!(self.code(), code, "{}", self.text);
        assert_eq!(self.body["status"].as_u64(), Some(u64::from(status)));
        self
    }

    /// The per-field errors of a problem, as (field, code) pairs.
    pub fn field_errors(&self) -> Vec<(String, String)> {
        self.body["errors"]
            .as_array()
            .map(|a| {
                a.iter()
                    .map(|e| {
                        (
                            e["field"].as_str().unwrap_or("").to_owned(),
                            e["code"].as_str().unwrap_or("").to_owned(),
                        )
                    })
                    .collect()
            })
            .unwrap_or_default()
    }
}

/// A logged-in user.
#[derive(Debug, Clone)]
pub struct Session {
    pub token: String,
    pub refresh: String,
    pub id: String,
    pub tenant_id: String,
    pub email: String,
    pub role: String,
}

/// The real server on a fresh database.
pub struct TestApp {
    pub base: String,
    /// The agent-only listener (`agent_bind`), when configured.
    pub agent_base: Option<String>,
    pub client: reqwest::Client,
    pub store: Store,
    pub config: Config,
    pub state: backend::state::AppState,
    pub shutdown: tokio_util::sync::CancellationToken,
    handle: actix_web::dev::ServerHandle,
    db: Db,
    counter: AtomicU32,
    spec: Documented,
}

/// The statuses the OpenAPI document lists per operation: every answer a test sees through
/// [`TestApp::call`] must be one of them, so an undocumented status fails the test that met it.
struct Documented(Vec<(Method, Vec<String>, Vec<String>)>);

impl Documented {
    fn of(doc: &Value) -> Documented {
        let mut ops = Vec::new();
        for (path, item) in doc["paths"].as_object().expect("paths") {
            let segments = path.split('/').map(str::to_owned).collect::<Vec<_>>();
            for (method, op) in item.as_object().expect("path item") {
                let Ok(m) = Method::from_bytes(method.to_uppercase().as_bytes()) else {
                    continue;
                };
                let statuses = op["responses"]
                    .as_object()
                    .map(|r| r.keys().cloned().collect())
                    .unwrap_or_default();
                ops.push((m, segments.clone(), statuses));
            }
        }
        Documented(ops)
    }

    /// The documented statuses of the operation `method path` names, the one with the most literal
    /// segments when templates overlap; `None` for paths the document does not describe.
    fn statuses(&self, method: &Method, path: &str) -> Option<&[String]> {
        let path = path.split('?').next().unwrap_or(path);
        let want = path.split('/').collect::<Vec<_>>();
        self.0
            .iter()
            .filter(|(m, segs, _)| {
                m == method
                    && segs.len() == want.len()
                    && segs
                        .iter()
                        .zip(&want)
                        .all(|(s, w)| s.starts_with('{') || s == w)
            })
            .max_by_key(|(_, segs, _)| segs.iter().filter(|s| !s.starts_with('{')).count())
            .map(|(_, _, st)| st.as_slice())
    }

    fn check(&self, method: &Method, path: &str, status: StatusCode, text: &str) {
        let Some(statuses) = self.statuses(method, path) else {
            return;
        };
        let code = status.as_str();
        let class = format!("{}XX", &code[..1]);
        assert!(
            statuses
                .iter()
                .any(|s| s == code || s.eq_ignore_ascii_case(&class) || s == "default"),
            "{method} {path} answered {code}, which its OpenAPI operation does not document \
             (documented: {statuses:?}); body: {text}"
        );
    }
}

impl TestApp {
    /// Start with the test defaults.
    pub async fn spawn() -> TestApp {
        Self::spawn_with(|_| {}).await
    }

    /// Start with the test defaults changed by `tweak`.
    pub async fn spawn_with(tweak: impl FnOnce(&mut Config)) -> TestApp {
        let (db, url) = fresh_database().await;
        let mut config = Config {
            bind: "127.0.0.1:0".parse().expect("addr"),
            database_url: url,
            db_pool_size: 4,
            workers: Some(1),
            jwt_secret: Some(JWT_SECRET.into()),
            admin_email: Some(OPERATOR_EMAIL.into()),
            admin_password: Some(OPERATOR_PASSWORD.into()),
            login_per_ip_per_minute: 10_000,
            login_per_account_per_minute: 10_000,
            log_level: "warn".into(),
            sim_hosts: 4,
            sim_boot_ms: 30,
            heartbeat_ms: 100,
            heartbeat_timeout_secs: 2,
            orchestrator_tick_ms: 20,
            automation_tick_ms: 20,
            webhook_allow_internal: true,
            host_check_ms: 100,
            host_down_after: 2,
            ..Config::default()
        };
        tweak(&mut config);
        Self::start(db, config).await
    }

    /// Another server on this one's database (an API replica): `tweak` says what it runs. Stop
    /// it before this one.
    pub async fn replica(&self, tweak: impl FnOnce(&mut Config)) -> TestApp {
        let mut config = Config {
            bind: "127.0.0.1:0".parse().expect("addr"),
            ..self.config.clone()
        };
        tweak(&mut config);
        Self::start(Db::Shared, config).await
    }

    async fn start(db: Db, config: Config) -> TestApp {
        // errors (5xx causes) show in a failing test's output
        backend::telemetry::init_logging(
            backend::config::LogFormat::Text,
            &std::env::var("SITEST_LOG").unwrap_or_else(|_| "error".into()),
        );
        let running = backend::app::start(config.clone())
            .await
            .expect("server starts");
        let base = format!("http://{}", running.addr);
        let agent_base = running.agent_addr.map(|a| format!("http://{a}"));
        let handle = running.handle.clone();
        let store = running.state.store.clone();
        let state = running.state.clone();
        let shutdown = running.shutdown.clone();
        tokio::spawn(running.wait());
        let client = reqwest::Client::builder().build().expect("client");
        let doc: Value = client
            .get(format!("{base}/api/openapi.json"))
            .send()
            .await
            .expect("openapi document")
            .json()
            .await
            .expect("openapi json");
        let spec = Documented::of(&doc);
        TestApp {
            base,
            agent_base,
            client,
            store,
            config,
            state,
            shutdown,
            handle,
            db,
            counter: AtomicU32::new(0),
            spec,
        }
    }

    /// A unique suffix for names within this app.
    pub fn unique(&self) -> u32 {
        self.counter.fetch_add(1, Ordering::Relaxed)
    }

    /// Send a request; `body` is sent as JSON when given.
    pub async fn call(
        &self,
        method: Method,
        path: &str,
        token: Option<&str>,
        body: Option<Value>,
    ) -> Resp {
        let mut rb = self
            .client
            .request(method.clone(), format!("{}{}", self.base, path));
        if let Some(t) = token {
            rb = rb.bearer_auth(t);
        }
        if let Some(b) = body {
            rb = rb.json(&b);
        }
        let resp = read(rb.send().await.expect("request sent")).await;
        self.spec.check(&method, path, resp.status, &resp.text);
        resp
    }

    /// Send a raw request (custom headers and body).
    pub async fn raw(&self, rb: reqwest::RequestBuilder) -> Resp {
        read(rb.send().await.expect("request sent")).await
    }

    pub fn url(&self, path: &str) -> String {
        format!("{}{}", self.base, path)
    }

    pub async fn get(&self, token: &str, path: &str) -> Resp {
        self.call(Method::GET, path, Some(token), None).await
    }
    pub async fn post(&self, token: &str, path: &str, body: Value) -> Resp {
        self.call(Method::POST, path, Some(token), Some(body)).await
    }
    pub async fn patch(&self, token: &str, path: &str, body: Value) -> Resp {
        self.call(Method::PATCH, path, Some(token), Some(body))
            .await
    }
    pub async fn put(&self, token: &str, path: &str) -> Resp {
        self.call(Method::PUT, path, Some(token), None).await
    }
    pub async fn delete(&self, token: &str, path: &str) -> Resp {
        self.call(Method::DELETE, path, Some(token), None).await
    }

    /// POST /auth/login.
    pub async fn try_login(&self, email: &str, password: &str) -> Resp {
        self.call(
            Method::POST,
            "/api/v1/auth/login",
            None,
            Some(json!({"email": email, "password": password})),
        )
        .await
    }

    pub async fn login(&self, email: &str, password: &str) -> Session {
        let r = self.try_login(email, password).await;
        r.assert_status(200);
        session_of(&r)
    }

    pub async fn operator(&self) -> Session {
        self.login(OPERATOR_EMAIL, OPERATOR_PASSWORD).await
    }

    /// POST /auth/refresh with a refresh cookie.
    pub async fn refresh(&self, refresh: &str) -> Resp {
        self.raw(
            self.client
                .post(self.url("/api/v1/auth/refresh"))
                .header(header::COOKIE, format!("si_refresh={refresh}")),
        )
        .await
    }

    /// Create a customer tenant through the operator and log its admin in.
    pub async fn tenant(&self, operator: &Session, slug: &str) -> TenantFixture {
        let admin_email = format!("admin@{slug}.test");
        let r = self
            .post(
                &operator.token,
                "/api/v1/tenants",
                json!({"name": format!("Tenant {slug}"), "slug": slug,
                       "admin": {"email": admin_email, "name": "First Admin", "password": STRONG_PASSWORD}}),
            )
            .await;
        r.assert_status(201);
        let id = r.body["tenant"]["id"]
            .as_str()
            .expect("tenant id")
            .to_owned();
        let admin = self.login(&admin_email, STRONG_PASSWORD).await;
        TenantFixture {
            id,
            slug: slug.to_owned(),
            admin,
        }
    }

    /// Create a user with `role` in the admin's tenant and log it in.
    pub async fn user(&self, admin: &Session, role: &str) -> Session {
        let n = self.unique();
        let email = format!("{role}{n}.{}@example.test", &admin.tenant_id[..8]);
        let r = self
            .post(
                &admin.token,
                "/api/v1/users",
                json!({"email": email, "name": format!("{role} {n}"), "role": role, "password": STRONG_PASSWORD}),
            )
            .await;
        r.assert_status(201);
        self.login(&email, STRONG_PASSWORD).await
    }

    /// Create a project as `admin`; returns its id.
    pub async fn project(&self, admin: &Session, name: &str) -> String {
        let r = self
            .post(&admin.token, "/api/v1/projects", json!({"name": name}))
            .await;
        r.assert_status(201);
        r.body["id"].as_str().expect("project id").to_owned()
    }

    /// Assign `user` to `project` as `admin`.
    pub async fn assign(&self, admin: &Session, project: &str, user: &str) {
        let r = self
            .put(
                &admin.token,
                &format!("/api/v1/projects/{project}/members/{user}"),
            )
            .await;
        assert!(r.status == 201 || r.status == 200, "{}", r.text);
    }

    /// Stop the server and its background loops.
    pub async fn stop(&self) {
        self.shutdown.cancel();
        self.state.live.closing.cancel();
        self.handle.stop(false).await;
    }

    /// Poll `check` until it returns `Some`, or fail after `secs` seconds with `what`.
    pub async fn eventually<T, F, Fut>(&self, secs: u64, what: &str, mut check: F) -> T
    where
        F: FnMut() -> Fut,
        Fut: std::future::Future<Output = Option<T>>,
    {
        let deadline = tokio::time::Instant::now() + std::time::Duration::from_secs(secs);
        loop {
            if let Some(v) = check().await {
                return v;
            }
            assert!(
                tokio::time::Instant::now() < deadline,
                "timed out after {secs} s waiting for: {what}"
            );
            tokio::time::sleep(std::time::Duration::from_millis(25)).await;
        }
    }
}

/// A customer tenant and its logged-in first admin.
#[derive(Debug, Clone)]
pub struct TenantFixture {
    pub id: String,
    pub slug: String,
    pub admin: Session,
}

pub fn session_of(r: &Resp) -> Session {
    Session {
        token: r.body["access_token"]
            .as_str()
            .expect("access token")
            .to_owned(),
        refresh: r.set_cookie("si_refresh").expect("refresh cookie"),
        id: r.body["me"]["id"].as_str().expect("id").to_owned(),
        tenant_id: r.body["me"]["tenant_id"]
            .as_str()
            .expect("tenant")
            .to_owned(),
        email: r.body["me"]["email"].as_str().expect("email").to_owned(),
        role: r.body["me"]["role"].as_str().expect("role").to_owned(),
    }
}

/// Bytes as they arrive → text, holding back a character split across two chunks.
#[derive(Default)]
pub struct Utf8Chunks {
    pending: Vec<u8>,
}

impl Utf8Chunks {
    /// The text complete so far; panics on bytes that can never be UTF-8.
    pub fn push(&mut self, bytes: &[u8]) -> String {
        self.pending.extend_from_slice(bytes);
        let valid = match std::str::from_utf8(&self.pending) {
            Ok(_) => self.pending.len(),
            Err(e) if e.error_len().is_none() => e.valid_up_to(),
            Err(e) => panic!("not UTF-8: {e}"),
        };
        let rest = self.pending.split_off(valid);
        String::from_utf8(std::mem::replace(&mut self.pending, rest)).expect("checked")
    }
}

async fn read(mut resp: reqwest::Response) -> Resp {
    let status = resp.status();
    let headers = resp.headers().clone();
    let streaming = headers
        .get("content-type")
        .is_some_and(|v| v.as_bytes().starts_with(b"text/event-stream"));
    let text = if streaming {
        // a live stream never ends: its answer is what it sends up to its first frame
        let (mut text, mut parser, mut utf8) = (
            String::new(),
            common::sse::Parser::new(),
            Utf8Chunks::default(),
        );
        let deadline = tokio::time::Instant::now() + std::time::Duration::from_secs(20);
        loop {
            let chunk = tokio::time::timeout_at(deadline, resp.chunk())
                .await
                .expect("a stream's first frame within 20 s")
                .expect("stream read")
                .expect("the stream stays open");
            let chunk = utf8.push(&chunk);
            text.push_str(&chunk);
            if !parser.feed(&chunk).is_empty() {
                break;
            }
        }
        text
    } else {
        resp.text().await.expect("body")
    };
    let body = serde_json::from_str(&text).unwrap_or(Value::Null);
    Resp {
        status,
        headers,
        body,
        text,
    }
}

async fn fresh_database() -> (Db, String) {
    match engine() {
        "postgres" => {
            let admin_url = pg_admin_url();
            let name = format!("test_{}", uuid::Uuid::new_v4().simple());
            let (a, n) = (admin_url.clone(), name.clone());
            let url = tokio::task::spawn_blocking(move || {
                let template = store::admin::ensure_template(&a)
                    .expect("template database (is PostgreSQL up? see scripts/test)");
                store::admin::create_from_template(&a, &n, &template).expect("test database")
            })
            .await
            .expect("join");
            (Db::Postgres { admin_url, name }, url)
        }
        _ => {
            let dir = tempfile::tempdir().expect("tempdir");
            let url = format!("sqlite://{}", dir.path().join("test.db").display());
            (Db::Sqlite(dir), url)
        }
    }
}

impl Drop for TestApp {
    fn drop(&mut self) {
        self.shutdown.cancel();
        if let Db::Postgres { admin_url, name } = &self.db {
            let (a, n) = (admin_url.clone(), name.clone());
            // a plain thread: Drop may run inside the async runtime
            let _ = std::thread::spawn(move || store::admin::drop_database(&a, &n)).join();
        }
    }
}
