//! `scaleinfra sim …`: fault injection into a running installation's simulated pool, through its API
//! (as an operator).

use anyhow::{Context, anyhow, bail};
use serde_json::{Value, json};

/// What to do to the simulated pool.
#[derive(Debug, clap::Subcommand)]
pub enum SimCommand {
    /// A host stops answering and its appliances die with it.
    KillHost { name: String },
    /// A killed host answers again (rebooted, empty).
    ReviveHost { name: String },
    /// An appliance's domain crashes.
    KillAppliance { id: String },
    /// Set injected faults.
    Faults {
        /// New domains crash instead of booting.
        #[arg(long)]
        fail_boots: bool,
        /// CloudScripts fail (exit 1).
        #[arg(long)]
        fail_scripts: bool,
        /// CloudScripts never end (no result is reported).
        #[arg(long)]
        hang_scripts: bool,
        /// Slow-down factor for boots and driver calls (1 = normal).
        #[arg(long, default_value_t = 1.0)]
        slow: f64,
    },
}

/// Where the installation is and who acts.
#[derive(Debug, clap::Args)]
pub struct SimTarget {
    /// The installation's base URL.
    #[arg(long, default_value = "http://127.0.0.1:8080")]
    pub url: String,
    /// An operator's email.
    #[arg(long, env = "SCALEINFRA_OPERATOR_EMAIL")]
    pub email: String,
    /// The operator's password.
    #[arg(long, env = "SCALEINFRA_OPERATOR_PASSWORD", hide_env_values = true)]
    pub password: String,
}

struct Api {
    agent: ureq::Agent,
    base: String,
    token: String,
}

impl Api {
    fn call(&self, method: &str, path: &str, body: Option<Value>) -> anyhow::Result<Value> {
        let url = format!("{}/api/v1{path}", self.base);
        let auth = format!("Bearer {}", self.token);
        let mut resp = match (method, body) {
            ("GET", _) => self.agent.get(&url).header("Authorization", &auth).call(),
            (_, Some(b)) if method == "PUT" => self
                .agent
                .put(&url)
                .header("Authorization", &auth)
                .send_json(b),
            (_, b) => self
                .agent
                .post(&url)
                .header("Authorization", &auth)
                .send_json(b.unwrap_or(json!({}))),
        }
        .with_context(|| format!("{method} {url}"))?;
        let status = resp.status().as_u16();
        let text = resp.body_mut().read_to_string().unwrap_or_default();
        if !(200..300).contains(&status) {
            bail!("{method} {path}: HTTP {status}: {text}");
        }
        Ok(serde_json::from_str(&text).unwrap_or(Value::Null))
    }

    fn host_id(&self, name: &str) -> anyhow::Result<String> {
        let pools = self.call("GET", "/pools?limit=500", None)?;
        for p in pools["items"].as_array().into_iter().flatten() {
            let pid = p["id"].as_str().unwrap_or_default();
            let hosts = self.call("GET", &format!("/pools/{pid}/hosts?limit=500"), None)?;
            if let Some(h) = hosts["items"]
                .as_array()
                .into_iter()
                .flatten()
                .find(|h| h["name"] == name)
            {
                return Ok(h["id"].as_str().unwrap_or_default().to_owned());
            }
        }
        Err(anyhow!("no host named {name}"))
    }
}

pub fn run(target: &SimTarget, command: &SimCommand) -> anyhow::Result<()> {
    let agent: ureq::Agent = ureq::Agent::config_builder()
        .http_status_as_error(false)
        .build()
        .into();
    let base = target.url.trim_end_matches('/').to_owned();
    let mut login = agent
        .post(&format!("{base}/api/v1/auth/login"))
        .send_json(json!({"email": target.email, "password": target.password}))
        .context("logging in")?;
    if login.status() != 200 {
        bail!(
            "login refused: {}",
            login.body_mut().read_to_string().unwrap_or_default()
        );
    }
    let token: Value = login.body_mut().read_json()?;
    let api = Api {
        agent,
        base,
        token: token["access_token"]
            .as_str()
            .unwrap_or_default()
            .to_owned(),
    };
    match command {
        SimCommand::KillHost { name } => {
            api.call(
                "POST",
                &format!("/sim/hosts/{}/kill", api.host_id(name)?),
                None,
            )?;
            println!("host {name} killed");
        }
        SimCommand::ReviveHost { name } => {
            api.call(
                "POST",
                &format!("/sim/hosts/{}/revive", api.host_id(name)?),
                None,
            )?;
            println!("host {name} revived");
        }
        SimCommand::KillAppliance { id } => {
            api.call("POST", &format!("/sim/appliances/{id}/kill"), None)?;
            println!("appliance {id} killed");
        }
        SimCommand::Faults {
            fail_boots,
            fail_scripts,
            hang_scripts,
            slow,
        } => {
            let f = api.call(
                "PUT",
                "/sim/faults",
                Some(
                    json!({"fail_boots": fail_boots, "fail_scripts": fail_scripts,
                    "hang_scripts": hang_scripts, "slow": slow}),
                ),
            )?;
            println!("faults: {f}");
        }
    }
    Ok(())
}
