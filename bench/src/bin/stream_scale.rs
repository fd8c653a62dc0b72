//! Live-stream benchmark (issue 9): starts `scaleinfra serve` (embedded SQLite, the simulated pool) as
//! a child, opens STREAMS idle streams (read, but their application does not change) and reads the
//! server's resident memory before and after (goal: ≥ 5,000 idle streams within 200 MB). Then, with
//! those still open, it scales another application's group out and in ROUNDS times while WATCHERS
//! streams read that application, and measures on one more the latency from each transition's stored
//! time to its frame's arrival (goal: p99 ≤ 500 ms; a browser adds its render). Asserts nothing.
//! Usage: stream-scale <path/to/scaleinfra> [STREAMS] [ROUNDS] [WATCHERS]

use common::api::{ApplianceChange, frame_kind};
use common::sse::Parser;
use scaleinfra_bench::percentile;
use serde_json::{Value, json};
use std::io::{BufRead, BufReader};
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

const OPERATOR: (&str, &str) = ("operator@bench.example", "Quartz-Meadow-Falcon-42");
const ADMIN: (&str, &str) = ("admin@acme.example", "Velvet-Harbor-Lantern-93");

struct Server {
    child: Child,
    base: String,
    _dir: tempfile::TempDir,
}

impl Drop for Server {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

fn start(bin: &str, streams: usize) -> anyhow::Result<Server> {
    let dir = tempfile::tempdir()?;
    let db = format!("sqlite://{}", dir.path().join("bench.db").display());
    let mut child = Command::new(bin)
        .args(["serve", "--database-url", &db, "--bind", "127.0.0.1:0"])
        .env("SCALEINFRA_ADMIN_EMAIL", OPERATOR.0)
        .env("SCALEINFRA_ADMIN_PASSWORD", OPERATOR.1)
        .env("SCALEINFRA_SIM_BOOT_MS", "100")
        .env("SCALEINFRA_HEARTBEAT_MS", "1000")
        .env("SCALEINFRA_STREAM_MAX_PER_USER", (streams + 10).to_string())
        .env("SCALEINFRA_STREAM_MAX_OPEN", (streams + 10).to_string())
        .env("RUST_LOG", "warn")
        .stdout(Stdio::piped())
        .stderr(Stdio::inherit())
        .spawn()?;
    let out = child
        .stdout
        .take()
        .ok_or_else(|| anyhow::anyhow!("no stdout"))?;
    let mut lines = BufReader::new(out).lines();
    let base = loop {
        let line = lines
            .next()
            .ok_or_else(|| anyhow::anyhow!("the server exited before listening"))??;
        if let Some(rest) = line.split("listening on ").nth(1) {
            break rest.trim().to_owned();
        }
    };
    // keep draining its output so it never blocks on a full pipe
    std::thread::spawn(move || for _ in lines {});
    Ok(Server {
        child,
        base,
        _dir: dir,
    })
}

fn rss_kib(pid: u32) -> u64 {
    std::fs::read_to_string(format!("/proc/{pid}/status"))
        .ok()
        .and_then(|s| {
            s.lines()
                .find(|l| l.starts_with("VmRSS:"))
                .and_then(|l| l.split_whitespace().nth(1)?.parse().ok())
        })
        .unwrap_or(0)
}

struct Api {
    http: reqwest::Client,
    base: String,
}

impl Api {
    async fn call(
        &self,
        method: reqwest::Method,
        path: &str,
        token: Option<&str>,
        body: Option<Value>,
    ) -> anyhow::Result<Value> {
        let mut rb = self
            .http
            .request(method, format!("{}/api/v1{path}", self.base));
        if let Some(t) = token {
            rb = rb.bearer_auth(t);
        }
        if let Some(b) = body {
            rb = rb.json(&b);
        }
        let r = rb.send().await?;
        let status = r.status();
        let text = r.text().await?;
        anyhow::ensure!(status.is_success(), "{path}: {status} {text}");
        Ok(serde_json::from_str(&text).unwrap_or(Value::Null))
    }

    async fn login(&self, who: (&str, &str)) -> anyhow::Result<String> {
        let r = self
            .call(
                reqwest::Method::POST,
                "/auth/login",
                None,
                Some(json!({"email": who.0, "password": who.1})),
            )
            .await?;
        Ok(r["access_token"].as_str().unwrap_or_default().to_owned())
    }
}

/// An application with one group of one running appliance, and an empty one:
/// (token, application, group, idle application).
async fn fixture(api: &Api) -> anyhow::Result<(String, String, String, String)> {
    use reqwest::Method;
    let op = api.login(OPERATOR).await?;
    api.call(
        Method::POST,
        "/tenants",
        Some(&op),
        Some(json!({
            "name": "Acme", "slug": "acme",
            "admin": {"email": ADMIN.0, "name": "Admin", "password": ADMIN.1}
        })),
    )
    .await?;
    let admin = api.login(ADMIN).await?;
    let project = api
        .call(
            Method::POST,
            "/projects",
            Some(&admin),
            Some(json!({"name": "shop"})),
        )
        .await?;
    let images = api.call(Method::GET, "/images", Some(&admin), None).await?;
    let image = images["items"]
        .as_array()
        .and_then(|i| i.iter().find(|x| x["kind"] == "disk"))
        .and_then(|i| i["id"].as_str())
        .ok_or_else(|| anyhow::anyhow!("no base image"))?
        .to_owned();
    let template = api
        .call(
            Method::POST,
            "/templates",
            Some(&admin),
            Some(json!({
                "name": "tiny", "role": "app_server", "image_id": image,
                "flavor": {"vcpus": 1, "memory_mib": 256, "disk_gib": 10}, "ports": [80]
            })),
        )
        .await?;
    let project = project["id"].as_str().unwrap_or_default();
    let application = |name: &'static str| {
        let (api, admin) = (&api, &admin);
        async move {
            let app = api
                .call(
                    Method::POST,
                    &format!("/projects/{project}/applications"),
                    Some(admin),
                    Some(json!({ "name": name })),
                )
                .await?;
            anyhow::Ok(app["id"].as_str().unwrap_or_default().to_owned())
        }
    };
    let app_id = application("live").await?;
    let layers = api
        .call(
            Method::POST,
            &format!("/applications/{app_id}/layers"),
            Some(&admin),
            Some(json!({"name": "web"})),
        )
        .await?;
    let layer = layers["layers"][0]["id"]
        .as_str()
        .unwrap_or_default()
        .to_owned();
    let groups = api.call(Method::POST, &format!("/layers/{layer}/groups"), Some(&admin), Some(json!({
        "name": "web", "template_id": template["id"], "size": {"desired": 1, "min": 0, "max": 50}
    }))).await?;
    let group = groups["layers"][0]["groups"][0]["id"]
        .as_str()
        .unwrap_or_default()
        .to_owned();
    api.call(
        Method::POST,
        &format!("/applications/{app_id}/deploy"),
        Some(&admin),
        Some(json!({})),
    )
    .await?;
    let idle = application("idle").await?;
    Ok((admin, app_id, group, idle))
}

async fn open(
    http: &reqwest::Client,
    base: &str,
    token: &str,
    app: &str,
) -> anyhow::Result<reqwest::Response> {
    let mut r = http
        .get(format!("{base}/api/v1/applications/{app}/stream"))
        .bearer_auth(token)
        .send()
        .await?;
    anyhow::ensure!(r.status() == 200, "stream: {}", r.status());
    // the retry line and the snapshot
    let mut p = Parser::new();
    while p
        .feed(std::str::from_utf8(&r.chunk().await?.unwrap_or_default())?)
        .is_empty()
    {}
    Ok(r)
}

/// Read a stream to its end in the background, discarding what comes (a client that keeps up).
fn drain(mut r: reqwest::Response) -> tokio::task::JoinHandle<()> {
    tokio::spawn(async move { while let Ok(Some(_)) = r.chunk().await {} })
}

fn raise_fd_limit() {
    use rustix::process::{Resource, getrlimit, setrlimit};
    let mut l = getrlimit(Resource::Nofile);
    l.current = l.maximum;
    let _ = setrlimit(Resource::Nofile, l);
}

#[tokio::main]
async fn main() -> anyhow::Result<()> {
    let args: Vec<String> = std::env::args().collect();
    let bin = args
        .get(1)
        .ok_or_else(|| anyhow::anyhow!("usage: stream-scale <scaleinfra> [STREAMS] [ROUNDS]"))?;
    let streams: usize = args.get(2).and_then(|s| s.parse().ok()).unwrap_or(5000);
    let rounds: usize = args.get(3).and_then(|s| s.parse().ok()).unwrap_or(10);
    let watchers: usize = args.get(4).and_then(|s| s.parse().ok()).unwrap_or(100);
    raise_fd_limit();
    let server = start(bin, streams + watchers + 1)?;
    let pid = server.child.id();
    let api = Api {
        http: reqwest::Client::new(),
        base: server.base.clone(),
    };
    let (token, app, group, idle) = fixture(&api).await?;
    // idle streams, each on its own connection
    let http = reqwest::Client::builder()
        .pool_max_idle_per_host(0)
        .build()?;
    tokio::time::sleep(Duration::from_secs(1)).await;
    let before = rss_kib(pid);
    let t = Instant::now();
    let mut held = Vec::with_capacity(streams);
    for chunk in (0..streams).collect::<Vec<_>>().chunks(100) {
        let opened = futures_util::future::join_all(
            chunk
                .iter()
                .map(|_| open(&http, &server.base, &token, &idle)),
        )
        .await;
        for o in opened {
            held.push(drain(o?));
        }
    }
    let opening = t.elapsed();
    tokio::time::sleep(Duration::from_secs(2)).await;
    let after = rss_kib(pid);
    println!(
        "idle streams: {streams} opened in {:.1} s; server RSS {:.1} MiB before, {:.1} MiB after: {:.1} KiB per stream",
        opening.as_secs_f64(),
        before as f64 / 1024.0,
        after as f64 / 1024.0,
        (after.saturating_sub(before)) as f64 / streams.max(1) as f64
    );

    // latency, with WATCHERS more streams reading the changing application
    let mut watching = Vec::with_capacity(watchers);
    for _ in 0..watchers {
        watching.push(drain(open(&http, &server.base, &token, &app).await?));
    }
    let mut probe = open(&http, &server.base, &token, &app).await?;
    let mut parser = Parser::new();
    let mut lat_ms: Vec<f64> = Vec::new();
    for round in 0..rounds {
        let desired = if round % 2 == 0 { 20 } else { 1 };
        api.call(
            reqwest::Method::PUT,
            &format!("/groups/{group}/desired"),
            Some(&token),
            Some(json!({"desired": desired})),
        )
        .await?;
        // the round ends when the group's last change has arrived: 19 appliances reach their end state
        let want = if desired == 20 {
            "running"
        } else {
            "terminated"
        };
        let mut done = 0;
        let deadline = Instant::now() + Duration::from_secs(60);
        while done < 19 {
            anyhow::ensure!(Instant::now() < deadline, "round {round} did not settle");
            let chunk = tokio::time::timeout(Duration::from_secs(30), probe.chunk())
                .await??
                .unwrap_or_default();
            let got = chrono::Utc::now();
            for f in parser.feed(std::str::from_utf8(&chunk)?) {
                if f.event != frame_kind::APPLIANCE {
                    continue;
                }
                let c: ApplianceChange = serde_json::from_str(&f.data)?;
                lat_ms.push((got - c.at).num_microseconds().unwrap_or(0) as f64 / 1000.0);
                if c.to.as_str() == want {
                    done += 1;
                }
            }
        }
    }
    lat_ms.sort_by(f64::total_cmp);
    println!(
        "store to stream, {} transitions, {} streams on the application, {} idle: p50 {:.0} ms, p99 {:.0} ms, max {:.0} ms",
        lat_ms.len(),
        watchers + 1,
        streams,
        percentile(&lat_ms, 0.50),
        percentile(&lat_ms, 0.99),
        lat_ms.last().copied().unwrap_or(0.0)
    );
    println!(
        "server RSS at the end: {:.1} MiB",
        rss_kib(pid) as f64 / 1024.0
    );
    for h in held.into_iter().chain(watching) {
        h.abort();
    }
    Ok(())
}
