//! The simulated KVM pool: hosts and domains in memory, boot latency from a seeded generator, fault
//! injection (kill a host, kill a domain, fail boots, slow everything). Each simulated appliance runs
//! the agent protocol in-process against the same `AgentEndpoint` the HTTP agent API serves, with
//! synthetic metrics driven by its group's load knob.

use super::{DomainInfo, DomainSpec, DomainState, DomainStats, DriverError, HostInfo, Hypervisor};
use crate::agent_api::{AgentEndpoint, AgentError};
use async_trait::async_trait;
use common::GroupId;
use common::agent::{AnnounceRequest, HeartbeatRequest, MetricsReport};
use rand::{RngExt, SeedableRng};
use rand_chacha::ChaCha8Rng;
use std::collections::{BTreeMap, HashMap};
use std::sync::{Arc, Mutex, OnceLock};
use std::time::Duration;
use tokio::task::JoinHandle;

/// How the simulated pool behaves.
#[derive(Clone, Debug)]
pub struct SimConfig {
    /// Time from domain start to the agent's announcement.
    pub boot: Duration,
    /// Random extra boot time, up to this fraction of `boot`.
    pub boot_jitter: f64,
    pub seed: u64,
    /// Whether simulated appliances run an agent at all (off for large benchmarks).
    pub agents: bool,
    pub heartbeat: Duration,
    pub metrics: Duration,
    /// What every simulated host reports as its hardware.
    pub host_cpus: u32,
    pub host_memory_mib: u64,
}

impl Default for SimConfig {
    fn default() -> Self {
        SimConfig {
            boot: Duration::from_secs(3),
            boot_jitter: 0.5,
            seed: 42,
            agents: true,
            heartbeat: Duration::from_secs(5),
            metrics: Duration::from_secs(10),
            host_cpus: 32,
            host_memory_mib: 131_072,
        }
    }
}

/// Injected faults.
#[derive(Clone, Copy, Debug, PartialEq, serde::Serialize, serde::Deserialize)]
pub struct Faults {
    /// New domains crash instead of booting.
    pub fail_boots: bool,
    /// CloudScripts the simulated agents run exit with 1.
    pub fail_scripts: bool,
    /// CloudScripts the simulated agents take never end (a hung script): no result is reported.
    pub hang_scripts: bool,
    /// Multiplies boot time and delays every driver call by `(slow - 1) × 10 ms`.
    pub slow: f64,
}

impl Default for Faults {
    fn default() -> Self {
        Faults {
            fail_boots: false,
            fail_scripts: false,
            hang_scripts: false,
            slow: 1.0,
        }
    }
}

struct SimDomain {
    state: DomainState,
    agent: Option<JoinHandle<()>>,
}

#[derive(Default)]
struct SimHost {
    alive: bool,
    domains: BTreeMap<String, SimDomain>,
}

struct State {
    hosts: HashMap<String, SimHost>,
    faults: Faults,
    rng: ChaCha8Rng,
    /// How many times each domain name was defined (tests check nothing is created twice).
    defined: HashMap<String, u32>,
    /// The peers of each application's filter, per host (what a real host would enforce).
    filters: HashMap<(String, common::ApplicationId), Vec<std::net::Ipv4Addr>>,
}

pub struct SimCloud {
    config: SimConfig,
    state: Mutex<State>,
    loads: Arc<Mutex<HashMap<GroupId, u32>>>,
    endpoint: OnceLock<Arc<dyn AgentEndpoint>>,
    panic_next: std::sync::atomic::AtomicBool,
    /// Read by the simulated agents as they run jobs.
    fail_scripts: Arc<std::sync::atomic::AtomicBool>,
    hang_scripts: Arc<std::sync::atomic::AtomicBool>,
}

impl std::fmt::Debug for SimCloud {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("SimCloud")
            .field("config", &self.config)
            .finish_non_exhaustive()
    }
}

fn host_name(uri: &str) -> Result<&str, DriverError> {
    uri.strip_prefix("sim://")
        .filter(|n| !n.is_empty())
        .ok_or_else(|| DriverError::refused(format!("{uri} is not a sim:// URI")))
}

impl SimCloud {
    pub fn new(config: SimConfig) -> Arc<SimCloud> {
        let rng = ChaCha8Rng::seed_from_u64(config.seed);
        Arc::new(SimCloud {
            config,
            state: Mutex::new(State {
                hosts: HashMap::new(),
                faults: Faults::default(),
                rng,
                defined: HashMap::new(),
                filters: HashMap::new(),
            }),
            loads: Arc::new(Mutex::new(HashMap::new())),
            endpoint: OnceLock::new(),
            panic_next: std::sync::atomic::AtomicBool::new(false),
            fail_scripts: Arc::new(std::sync::atomic::AtomicBool::new(false)),
            hang_scripts: Arc::new(std::sync::atomic::AtomicBool::new(false)),
        })
    }

    /// Connect the simulated agents to the orchestrator's agent protocol.
    pub fn attach(&self, endpoint: Arc<dyn AgentEndpoint>) {
        let _ = self.endpoint.set(endpoint);
    }

    fn lock(&self) -> std::sync::MutexGuard<'_, State> {
        self.state.lock().unwrap_or_else(|p| p.into_inner())
    }

    fn host<'a>(state: &'a mut State, uri: &str) -> Result<&'a mut SimHost, DriverError> {
        let name = host_name(uri)?;
        let host = state
            .hosts
            .entry(name.to_owned())
            .or_insert_with(|| SimHost {
                alive: true,
                domains: BTreeMap::new(),
            });
        if !host.alive {
            return Err(DriverError::unreachable(uri, "simulated host is down"));
        }
        Ok(host)
    }

    async fn delay(&self) {
        if self
            .panic_next
            .swap(false, std::sync::atomic::Ordering::SeqCst)
        {
            panic!("injected panic in a simulated driver call");
        }
        let slow = self.lock().faults.slow;
        if slow > 1.0 {
            tokio::time::sleep(Duration::from_millis(((slow - 1.0) * 10.0) as u64)).await;
        }
    }

    // ------------------------------------------------------------ fault injection

    /// The next driver call panics (tests the orchestrator's supervision of its loops).
    pub fn inject_panic(&self) {
        self.panic_next
            .store(true, std::sync::atomic::Ordering::SeqCst);
    }

    /// The host stops answering and its domains die with it (their agents fall silent).
    pub fn kill_host(&self, name: &str) -> bool {
        let mut st = self.lock();
        let Some(h) = st.hosts.get_mut(name) else {
            return false;
        };
        h.alive = false;
        for d in h.domains.values_mut() {
            if let Some(t) = d.agent.take() {
                t.abort();
            }
        }
        true
    }

    /// The host answers again, rebooted: empty.
    pub fn revive_host(&self, name: &str) -> bool {
        let mut st = self.lock();
        let h = st.hosts.entry(name.to_owned()).or_default();
        h.alive = true;
        h.domains.clear();
        true
    }

    /// A domain crashes (its agent falls silent).
    pub fn kill_domain(&self, name: &str) -> bool {
        let mut st = self.lock();
        for h in st.hosts.values_mut() {
            if let Some(d) = h.domains.get_mut(name) {
                d.state = DomainState::Crashed;
                if let Some(t) = d.agent.take() {
                    t.abort();
                }
                return true;
            }
        }
        false
    }

    pub fn set_faults(&self, faults: Faults) {
        self.fail_scripts
            .store(faults.fail_scripts, std::sync::atomic::Ordering::Relaxed);
        self.hang_scripts
            .store(faults.hang_scripts, std::sync::atomic::Ordering::Relaxed);
        self.lock().faults = faults;
    }

    pub fn faults(&self) -> Faults {
        self.lock().faults
    }

    /// Set a group's load knob (0–100 %), which drives its appliances' synthetic metrics.
    pub fn set_load(&self, group: GroupId, pct: u32) {
        self.loads
            .lock()
            .unwrap_or_else(|p| p.into_inner())
            .insert(group, pct.min(100));
    }

    /// How many times a domain of that name was defined.
    pub fn times_defined(&self, name: &str) -> u32 {
        self.lock().defined.get(name).copied().unwrap_or(0)
    }

    /// Every domain on every live host, as (host, domain, state).
    /// The peers an application's filter lets its guests reach, per host URI.
    pub fn peers_of(
        &self,
        app: common::ApplicationId,
    ) -> std::collections::BTreeMap<String, Vec<std::net::Ipv4Addr>> {
        self.lock()
            .filters
            .iter()
            .filter(|((_, a), _)| *a == app)
            .map(|((uri, _), peers)| (uri.clone(), peers.clone()))
            .collect()
    }

    pub fn all_domains(&self) -> Vec<(String, String, DomainState)> {
        let st = self.lock();
        let mut out: Vec<_> = st
            .hosts
            .iter()
            .filter(|(_, h)| h.alive)
            .flat_map(|(hn, h)| {
                h.domains
                    .iter()
                    .map(move |(dn, d)| (hn.clone(), dn.clone(), d.state))
            })
            .collect();
        out.sort();
        out
    }

    /// Put a domain on a host without the orchestrator (tests of unknown-domain reporting).
    pub fn plant_domain(&self, host: &str, name: &str) {
        let mut st = self.lock();
        st.hosts
            .entry(host.to_owned())
            .or_insert_with(|| SimHost {
                alive: true,
                domains: BTreeMap::new(),
            })
            .domains
            .insert(
                name.to_owned(),
                SimDomain {
                    state: DomainState::Running,
                    agent: None,
                },
            );
    }

    /// The in-process agent of a new domain: announces itself after `boot`, then heartbeats and reports
    /// metrics until its appliance is terminated or the task is aborted (domain killed or removed).
    /// A domain whose boot fails gets no agent.
    fn spawn_agent(&self, spec: &DomainSpec, boot: Duration, fail: bool) -> Option<JoinHandle<()>> {
        if !self.config.agents || fail {
            return None;
        }
        let endpoint = self.endpoint.get()?.clone();
        let (token, name, group, vcpus, memory) = (
            spec.agent_token.clone(),
            spec.name.clone(),
            spec.group_id,
            spec.vcpus,
            spec.memory_mib,
        );
        let (heartbeat, metrics_every) = (self.config.heartbeat, self.config.metrics);
        let loads = self.loads.clone();
        let (fail_scripts, hang_scripts) = (self.fail_scripts.clone(), self.hang_scripts.clone());
        // a simulated guest claims an address of its own making even on a pool network (as one
        // that ignores si.ip would): the server keeps the IPAM address, which the tests check
        let ip = fake_ip(spec.appliance_id);
        Some(tokio::spawn(async move {
            tokio::time::sleep(boot).await;
            let announce = AnnounceRequest {
                agent_version: "sim".into(),
                hostname: name.clone(),
                ip: Some(ip),
            };
            if endpoint.announce(&token, announce).await.is_err() {
                return;
            }
            let started = tokio::time::Instant::now();
            let mut since_metrics = Duration::ZERO;
            let (mut rx, mut tx) = (0u64, 0u64);
            loop {
                tokio::time::sleep(heartbeat).await;
                let hb = HeartbeatRequest {
                    uptime_secs: started.elapsed().as_secs(),
                };
                if let Err(AgentError::Revoked) = endpoint.heartbeat(&token, hb).await {
                    return;
                }
                let faults = (fail_scripts.as_ref(), hang_scripts.as_ref());
                if let Err(AgentError::Revoked) = run_jobs(endpoint.as_ref(), &token, faults).await
                {
                    return;
                }
                since_metrics += heartbeat;
                if since_metrics >= metrics_every {
                    since_metrics = Duration::ZERO;
                    let load = loads
                        .lock()
                        .map(|l| l.get(&group).copied().unwrap_or(0))
                        .unwrap_or(0);
                    rx += u64::from(load) * 10_000;
                    tx += u64::from(load) * 4_000;
                    let report = synthetic_metrics(load, vcpus, memory, rx, tx);
                    // a simulated agent, like a real one, tries again at its next report
                    if let Err(e) = endpoint.metrics(&token, report).await {
                        tracing::debug!(error = %store::Chain(&e), "a simulated agent's report failed");
                    }
                }
            }
        }))
    }
}

/// A simulated agent runs its jobs: nothing executes on the control plane; the script is recorded
/// with the job (its rendered text is stored) and a simulated result is reported.
/// `faults`: (fail, hang), read again as each job is run, so a fault set while a pull was under
/// way applies to what it brought.
async fn run_jobs(
    endpoint: &dyn AgentEndpoint,
    token: &str,
    faults: (
        &std::sync::atomic::AtomicBool,
        &std::sync::atomic::AtomicBool,
    ),
) -> Result<(), AgentError> {
    use std::sync::atomic::Ordering::Relaxed;
    if faults.1.load(Relaxed) {
        return Ok(());
    }
    for job in endpoint.jobs(token).await?.jobs {
        // a hung script never ends: the job stays handed out
        if faults.1.load(Relaxed) {
            return Ok(());
        }
        let fail = faults.0.load(Relaxed);
        let Ok(id) = job.id.parse::<common::JobId>() else {
            continue;
        };
        let interpreter = crate::automation::render::interpreter(&job.script);
        let result = common::agent::JobResult {
            exit_code: Some(if fail { 1 } else { 0 }),
            timed_out: false,
            stdout: format!(
                "simulated: {} bytes run by {interpreter} with {} variables\n",
                job.script.len(),
                job.env.len()
            ),
            stderr: if fail {
                "simulated failure (fault injected)\n".into()
            } else {
                String::new()
            },
            truncated: false,
            duration_ms: 1,
        };
        endpoint.report(token, id, result).await?;
    }
    Ok(())
}

/// A stable private address for a simulated appliance.
fn fake_ip(id: common::ApplianceId) -> String {
    let b = id.0.as_bytes();
    format!("10.77.{}.{}", b[14], b[15].max(1))
}

/// Metrics of an appliance under `load` percent.
pub fn synthetic_metrics(
    load: u32,
    vcpus: u32,
    memory_mib: u32,
    rx: u64,
    tx: u64,
) -> MetricsReport {
    let l = f64::from(load.min(100));
    MetricsReport {
        cpu_pct: l,
        load1: f64::from(vcpus) * l / 100.0,
        mem_used_mib: (f64::from(memory_mib) * (0.25 + 0.5 * l / 100.0)) as u64,
        mem_total_mib: u64::from(memory_mib),
        net_rx_bytes: rx,
        net_tx_bytes: tx,
        custom: BTreeMap::new(),
    }
}

#[async_trait]
impl Hypervisor for SimCloud {
    async fn host_info(&self, uri: &str) -> Result<HostInfo, DriverError> {
        self.delay().await;
        let mut st = self.lock();
        let h = Self::host(&mut st, uri)?;
        let domains = u32::try_from(h.domains.len()).unwrap_or(u32::MAX);
        Ok(HostInfo {
            hostname: host_name(uri)?.to_owned(),
            cpus: self.config.host_cpus,
            memory_mib: self.config.host_memory_mib,
            domains,
        })
    }

    async fn create(&self, uri: &str, spec: &DomainSpec) -> Result<(), DriverError> {
        self.delay().await;
        // the simulated hosts have no files, but a spec is checked as a real host would
        for i in [&spec.disk, &spec.kernel, &spec.initrd]
            .into_iter()
            .flatten()
        {
            super::images::image_path(&spec.image_dir, &i.file)?;
        }
        if spec.disk.is_none() && spec.kernel.is_none() {
            return Err(DriverError::refused(format!(
                "{} has neither a disk image nor a kernel",
                spec.name
            )));
        }
        let mut st = self.lock();
        let faults = st.faults;
        let jitter = st.rng.random_range(0.0..=self.config.boot_jitter.max(0.0));
        Self::host(&mut st, uri)?;
        if let Some(nic) = &spec.nic {
            st.filters.insert(
                (uri.to_owned(), nic.peers.application_id),
                nic.peers.peers.clone(),
            );
        }
        let h = Self::host(&mut st, uri)?;
        if let Some(d) = h.domains.get(&spec.name)
            && d.state == DomainState::Running
        {
            return Ok(());
        }
        let boot = self
            .config
            .boot
            .mul_f64((1.0 + jitter) * faults.slow.max(1.0));
        let state = if faults.fail_boots {
            DomainState::Crashed
        } else {
            DomainState::Running
        };
        let agent = self.spawn_agent(spec, boot, faults.fail_boots);
        let h = Self::host(&mut st, uri)?;
        if let Some(old) = h
            .domains
            .insert(spec.name.clone(), SimDomain { state, agent })
            && let Some(t) = old.agent
        {
            t.abort();
        }
        *st.defined.entry(spec.name.clone()).or_insert(0) += 1;
        Ok(())
    }

    async fn start(&self, uri: &str, name: &str) -> Result<(), DriverError> {
        self.delay().await;
        let mut st = self.lock();
        let h = Self::host(&mut st, uri)?;
        let d = h
            .domains
            .get_mut(name)
            .ok_or_else(|| DriverError::NoSuchDomain(name.to_owned()))?;
        d.state = DomainState::Running;
        Ok(())
    }

    async fn stop(&self, uri: &str, name: &str) -> Result<(), DriverError> {
        self.delay().await;
        let mut st = self.lock();
        let h = Self::host(&mut st, uri)?;
        let d = h
            .domains
            .get_mut(name)
            .ok_or_else(|| DriverError::NoSuchDomain(name.to_owned()))?;
        d.state = DomainState::ShutOff;
        if let Some(t) = d.agent.take() {
            t.abort();
        }
        Ok(())
    }

    async fn destroy(&self, uri: &str, name: &str) -> Result<(), DriverError> {
        self.delay().await;
        let mut st = self.lock();
        let h = Self::host(&mut st, uri)?;
        if let Some(d) = h.domains.get_mut(name) {
            d.state = DomainState::ShutOff;
            if let Some(t) = d.agent.take() {
                t.abort();
            }
        }
        Ok(())
    }

    async fn undefine(&self, uri: &str, name: &str) -> Result<(), DriverError> {
        self.delay().await;
        let mut st = self.lock();
        let h = Self::host(&mut st, uri)?;
        if let Some(d) = h.domains.remove(name)
            && let Some(t) = d.agent
        {
            t.abort();
        }
        Ok(())
    }

    async fn list(&self, uri: &str) -> Result<Vec<DomainInfo>, DriverError> {
        self.delay().await;
        let mut st = self.lock();
        let h = Self::host(&mut st, uri)?;
        Ok(h.domains
            .iter()
            .map(|(n, d)| DomainInfo {
                name: n.clone(),
                state: d.state,
            })
            .collect())
    }

    async fn stats(&self, uri: &str, name: &str) -> Result<DomainStats, DriverError> {
        self.delay().await;
        let mut st = self.lock();
        let h = Self::host(&mut st, uri)?;
        h.domains
            .get(name)
            .ok_or_else(|| DriverError::NoSuchDomain(name.to_owned()))?;
        Ok(DomainStats::default())
    }

    async fn set_peers(&self, uri: &str, filter: &super::PeerFilter) -> Result<(), DriverError> {
        self.delay().await;
        let mut st = self.lock();
        Self::host(&mut st, uri)?;
        st.filters.insert(
            (uri.to_owned(), filter.application_id),
            filter.peers.clone(),
        );
        Ok(())
    }
}
