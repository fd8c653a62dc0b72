//! The libvirt driver (crate `virt`): one connection per host URI (`qemu+ssh://`, `qemu+tcp://`,
//! `qemu:///system`, `test:///…`), calls on the blocking pool. Domains get a qcow2 copy-on-write overlay
//! of the template's base image in a libvirt storage pool of the host, optional direct kernel boot, and
//! the appliance's identity on the kernel command line and in SMBIOS OEM strings. Whether a host runs
//! guests with `kvm` or `qemu` (TCG) is decided by trying: kvm first, TCG when the kvm guest dies.

use super::{DomainInfo, DomainSpec, DomainState, DomainStats, DriverError, HostInfo, Hypervisor};
use async_trait::async_trait;
use std::collections::HashMap;
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};
use virt::connect::Connect;
use virt::domain::Domain;
use virt::storage_pool::StoragePool;
use virt::storage_vol::StorageVol;

/// Which accelerator guests use.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Accel {
    /// Try kvm; fall back to TCG for the host when a kvm guest does not stay up.
    Auto,
    Kvm,
    Tcg,
}

#[derive(Clone, Debug)]
pub struct LibvirtConfig {
    pub accel: Accel,
    /// The libvirt storage pool that holds the overlays (created as a directory pool if missing).
    pub storage_pool: String,
    pub storage_dir: String,
    /// How long a kvm guest must stay running before kvm is trusted on a host.
    pub kvm_probe: Duration,
    /// `user` (user-mode networking with port forwards to the host's loopback) or `bridge:NAME`.
    pub network: String,
}

impl Default for LibvirtConfig {
    fn default() -> Self {
        LibvirtConfig {
            accel: Accel::Auto,
            storage_pool: "scaleinfra".into(),
            storage_dir: "/var/lib/libvirt/scaleinfra".into(),
            kvm_probe: Duration::from_secs(4),
            network: "user".into(),
        }
    }
}

pub struct LibvirtDriver {
    config: LibvirtConfig,
    conns: Mutex<HashMap<String, Arc<Connect>>>,
    /// What was learnt per host: kvm works (true) or not (false).
    kvm_ok: Mutex<HashMap<String, bool>>,
}

impl std::fmt::Debug for LibvirtDriver {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("LibvirtDriver")
            .field("config", &self.config)
            .finish_non_exhaustive()
    }
}

fn lv(e: virt::error::Error) -> DriverError {
    DriverError::Libvirt(e.to_string())
}

fn is_no_domain(e: &virt::error::Error) -> bool {
    matches!(
        e.code(),
        virt::enumutil::Enum::Known(virt::error::ErrorNumber::NoDomain)
    )
}

fn state_of(d: &Domain) -> DomainState {
    use virt::domain::DomainState as S;
    match d.state() {
        Ok((virt::enumutil::Enum::Known(s), _)) => match s {
            S::Running | S::Blocked => DomainState::Running,
            S::Paused | S::PMSuspended => DomainState::Paused,
            S::Shutdown | S::Shutoff => DomainState::ShutOff,
            S::Crashed => DomainState::Crashed,
            S::NoState => DomainState::Other,
        },
        _ => DomainState::Other,
    }
}

fn xml_escape(s: &str) -> String {
    s.replace('&', "&amp;")
        .replace('<', "&lt;")
        .replace('>', "&gt;")
        .replace('\'', "&apos;")
        .replace('"', "&quot;")
}

/// The domain XML for `spec` (pure; `disk` is the overlay's path when the template has a base image).
pub fn domain_xml(
    spec: &DomainSpec,
    test_driver: bool,
    kvm: bool,
    disk: Option<&str>,
    network: &str,
) -> String {
    let identity = format!(
        "si.appliance={} si.token={} si.url={}",
        spec.appliance_id, spec.agent_token, spec.agent_url
    );
    if test_driver {
        return format!(
            "<domain type='test'><name>{}</name><memory unit='MiB'>{}</memory><vcpu>{}</vcpu>\
             <os><type arch='x86_64'>hvm</type></os><description>{}</description></domain>",
            xml_escape(&spec.name),
            spec.memory_mib,
            spec.vcpus,
            xml_escape(&identity)
        );
    }
    let mut os =
        String::from("<type arch='x86_64' machine='q35'>hvm</type><smbios mode='sysinfo'/>");
    if let Some(k) = &spec.kernel {
        os.push_str(&format!("<kernel>{}</kernel>", xml_escape(k)));
        if let Some(i) = &spec.initrd {
            os.push_str(&format!("<initrd>{}</initrd>", xml_escape(i)));
        }
        os.push_str(&format!(
            "<cmdline>console=ttyS0 quiet panic=-1 {}</cmdline>",
            xml_escape(&identity)
        ));
    } else {
        os.push_str("<boot dev='hd'/>");
    }
    let disk_xml = disk
        .map(|p| {
            format!(
                "<disk type='file' device='disk'><driver name='qemu' type='qcow2'/><source file='{}'/>\
                 <target dev='vda' bus='virtio'/></disk>",
                xml_escape(p)
            )
        })
        .unwrap_or_default();
    let (iface, qemu_args) = match network.strip_prefix("bridge:") {
        Some(br) => (
            format!(
                "<interface type='bridge'><source bridge='{}'/><model type='virtio'/></interface>",
                xml_escape(br)
            ),
            String::new(),
        ),
        None => {
            let fwd: String = spec
                .forwards
                .iter()
                .map(|(g, h)| format!(",hostfwd=tcp:127.0.0.1:{h}-:{g}"))
                .collect();
            (
                String::new(),
                format!(
                    "<qemu:commandline><qemu:arg value='-netdev'/><qemu:arg value='user,id=n0{fwd}'/>\
                     <qemu:arg value='-device'/><qemu:arg value='virtio-net-pci,netdev=n0,bus=pcie.0,addr=0x10'/>\
                     </qemu:commandline>"
                ),
            )
        }
    };
    let cpu = if kvm {
        "<cpu mode='host-passthrough'/>"
    } else {
        "<cpu mode='custom' match='exact'><model fallback='allow'>qemu64</model></cpu>"
    };
    format!(
        "<domain type='{ty}' xmlns:qemu='http://libvirt.org/schemas/domain/qemu/1.0'>\
         <name>{name}</name><memory unit='MiB'>{mem}</memory><vcpu>{vcpus}</vcpu>\
         <description>{desc}</description>\
         <sysinfo type='smbios'><oemStrings><entry>{oem}</entry></oemStrings></sysinfo>\
         <os>{os}</os>{cpu}\
         <on_poweroff>destroy</on_poweroff><on_reboot>restart</on_reboot><on_crash>destroy</on_crash>\
         <devices>{disk_xml}{iface}<serial type='pty'><target port='0'/></serial><console type='pty'/>\
         <memballoon model='none'/></devices>{qemu_args}</domain>",
        ty = if kvm { "kvm" } else { "qemu" },
        name = xml_escape(&spec.name),
        mem = spec.memory_mib,
        vcpus = spec.vcpus,
        desc = xml_escape(&format!("ScaleInfra appliance {}", spec.appliance_id)),
        oem = xml_escape(&identity),
    )
}

impl LibvirtDriver {
    pub fn new(config: LibvirtConfig) -> Arc<LibvirtDriver> {
        virt::error::clear_error_callback();
        Arc::new(LibvirtDriver {
            config,
            conns: Mutex::new(HashMap::new()),
            kvm_ok: Mutex::new(HashMap::new()),
        })
    }

    fn conn(&self, uri: &str) -> Result<Arc<Connect>, DriverError> {
        let mut conns = self.conns.lock().unwrap_or_else(|p| p.into_inner());
        if let Some(c) = conns.get(uri) {
            if c.is_alive().unwrap_or(false) {
                return Ok(c.clone());
            }
            conns.remove(uri);
        }
        let c = Connect::open(Some(uri)).map_err(|e| DriverError::Unreachable {
            uri: uri.to_owned(),
            reason: e.to_string(),
        })?;
        let c = Arc::new(c);
        conns.insert(uri.to_owned(), c.clone());
        Ok(c)
    }

    /// Forget a connection that failed (a restarted libvirtd needs a new one).
    fn forget(&self, uri: &str) {
        self.conns
            .lock()
            .unwrap_or_else(|p| p.into_inner())
            .remove(uri);
    }

    /// Run blocking libvirt work for `uri` on the blocking pool; connection failures drop the cached
    /// connection and read as `Unreachable`.
    async fn with_conn<T: Send + 'static>(
        self: &Arc<Self>,
        uri: &str,
        f: impl FnOnce(&LibvirtDriver, &Connect) -> Result<T, DriverError> + Send + 'static,
    ) -> Result<T, DriverError> {
        let this = self.clone();
        let uri = uri.to_owned();
        tokio::task::spawn_blocking(move || {
            let c = this.conn(&uri)?;
            let r = f(&this, &c);
            if let Err(DriverError::Libvirt(m)) = &r
                && (m.contains("Broken pipe")
                    || m.contains("client socket is closed")
                    || m.contains("End of file"))
            {
                this.forget(&uri);
                return Err(DriverError::Unreachable {
                    uri,
                    reason: m.clone(),
                });
            }
            r
        })
        .await?
    }

    fn storage_pool(&self, c: &Connect) -> Result<StoragePool, DriverError> {
        let pool = match c.lookup_storage_pool_by_name(&self.config.storage_pool) {
            Ok(p) => p,
            Err(_) => {
                let xml = format!(
                    "<pool type='dir'><name>{}</name><target><path>{}</path></target></pool>",
                    xml_escape(&self.config.storage_pool),
                    xml_escape(&self.config.storage_dir)
                );
                let p = c.define_storage_pool_xml(&xml, 0).map_err(lv)?;
                p.build(0).map_err(lv)?;
                p
            }
        };
        if !pool.is_active().map_err(lv)? {
            pool.create(0).map_err(lv)?;
        }
        Ok(pool)
    }

    /// The overlay volume of a domain, created on first use.
    fn overlay(&self, c: &Connect, spec: &DomainSpec) -> Result<String, DriverError> {
        let pool = self.storage_pool(c)?;
        let vol_name = format!("{}.qcow2", spec.name);
        if let Ok(v) = pool.lookup_storage_vol_by_name(&vol_name) {
            return v.path().map_err(lv);
        }
        let xml = format!(
            "<volume><name>{}</name><capacity unit='GiB'>{}</capacity><target><format type='qcow2'/></target>\
             <backingStore><path>{}</path><format type='qcow2'/></backingStore></volume>",
            xml_escape(&vol_name),
            spec.disk_gib,
            xml_escape(&spec.base_image)
        );
        let v = StorageVol::create_xml(&pool, &xml, 0).map_err(|e| {
            DriverError::Refused(format!(
                "cannot create the disk overlay of {}: {e}",
                spec.name
            ))
        })?;
        v.path().map_err(lv)
    }

    fn define_and_start(
        &self,
        c: &Connect,
        uri: &str,
        spec: &DomainSpec,
        kvm: bool,
    ) -> Result<Domain, DriverError> {
        let test_driver = uri.starts_with("test:");
        let disk = if test_driver || spec.base_image.is_empty() || spec.base_image == "none" {
            None
        } else {
            Some(self.overlay(c, spec)?)
        };
        let xml = domain_xml(
            spec,
            test_driver,
            kvm,
            disk.as_deref(),
            &self.config.network,
        );
        let dom = c.define_domain_xml(&xml).map_err(|e| {
            DriverError::Refused(format!("libvirt refused the domain {}: {e}", spec.name))
        })?;
        if let Err(e) = dom.create() {
            return Err(DriverError::Refused(format!(
                "cannot start {}: {e}",
                spec.name
            )));
        }
        Ok(dom)
    }

    /// Whether a kvm guest stays running for the probe time.
    fn stays_up(&self, dom: &Domain) -> bool {
        let until = Instant::now() + self.config.kvm_probe;
        while Instant::now() < until {
            if state_of(dom) != DomainState::Running {
                return false;
            }
            std::thread::sleep(Duration::from_millis(200));
        }
        state_of(dom) == DomainState::Running
    }

    fn remove(dom: &Domain) {
        if dom.is_active().unwrap_or(false) {
            let _ = dom.destroy();
        }
        let _ = dom.undefine();
    }

    fn create_blocking(
        &self,
        c: &Connect,
        uri: &str,
        spec: &DomainSpec,
    ) -> Result<(), DriverError> {
        if let Ok(dom) = c.lookup_domain_by_name(&spec.name) {
            if !dom.is_active().map_err(lv)? {
                dom.create().map_err(lv)?;
            }
            return Ok(());
        }
        if uri.starts_with("test:") {
            self.define_and_start(c, uri, spec, false)?;
            return Ok(());
        }
        let known = self
            .kvm_ok
            .lock()
            .unwrap_or_else(|p| p.into_inner())
            .get(uri)
            .copied();
        let try_kvm = match self.config.accel {
            Accel::Kvm => true,
            Accel::Tcg => false,
            Accel::Auto => known.unwrap_or(true),
        };
        if try_kvm {
            match self.define_and_start(c, uri, spec, true) {
                Ok(dom)
                    if self.config.accel == Accel::Kvm
                        || known == Some(true)
                        || self.stays_up(&dom) =>
                {
                    self.kvm_ok
                        .lock()
                        .unwrap_or_else(|p| p.into_inner())
                        .insert(uri.to_owned(), true);
                    return Ok(());
                }
                Ok(dom) => Self::remove(&dom),
                Err(e) if self.config.accel == Accel::Kvm => return Err(e),
                Err(_) => {
                    if let Ok(dom) = c.lookup_domain_by_name(&spec.name) {
                        Self::remove(&dom);
                    }
                }
            }
            tracing::info!(%uri, "kvm guests do not stay up on this host; using TCG");
            self.kvm_ok
                .lock()
                .unwrap_or_else(|p| p.into_inner())
                .insert(uri.to_owned(), false);
        }
        self.define_and_start(c, uri, spec, false)?;
        Ok(())
    }
}

#[async_trait]
impl Hypervisor for Arc<LibvirtDriver> {
    async fn host_info(&self, uri: &str) -> Result<HostInfo, DriverError> {
        self.with_conn(uri, |_, c| {
            let ni = c.node_info().map_err(lv)?;
            let hostname = c.hostname().map_err(lv)?;
            let domains = c.list_all_domains(0).map_err(lv)?.len();
            Ok(HostInfo {
                hostname,
                cpus: ni.cpus,
                memory_mib: ni.memory / 1024,
                domains: u32::try_from(domains).unwrap_or(u32::MAX),
            })
        })
        .await
    }

    async fn create(&self, uri: &str, spec: &DomainSpec) -> Result<(), DriverError> {
        let (u, spec) = (uri.to_owned(), spec.clone());
        self.with_conn(uri, move |d, c| d.create_blocking(c, &u, &spec))
            .await
    }

    async fn start(&self, uri: &str, name: &str) -> Result<(), DriverError> {
        let name = name.to_owned();
        self.with_conn(uri, move |_, c| {
            let dom = c
                .lookup_domain_by_name(&name)
                .map_err(|_| DriverError::NoSuchDomain(name.clone()))?;
            if !dom.is_active().map_err(lv)? {
                dom.create().map_err(lv)?;
            }
            Ok(())
        })
        .await
    }

    async fn stop(&self, uri: &str, name: &str) -> Result<(), DriverError> {
        let name = name.to_owned();
        self.with_conn(uri, move |_, c| {
            let dom = c
                .lookup_domain_by_name(&name)
                .map_err(|_| DriverError::NoSuchDomain(name.clone()))?;
            if dom.is_active().map_err(lv)? {
                dom.shutdown().map_err(lv)?;
            }
            Ok(())
        })
        .await
    }

    async fn destroy(&self, uri: &str, name: &str) -> Result<(), DriverError> {
        let name = name.to_owned();
        self.with_conn(uri, move |_, c| match c.lookup_domain_by_name(&name) {
            Ok(dom) => {
                if dom.is_active().map_err(lv)?
                    && let Err(e) = dom.destroy()
                    && dom.is_active().unwrap_or(true)
                {
                    return Err(lv(e));
                }
                Ok(())
            }
            Err(e) if is_no_domain(&e) => Ok(()),
            Err(e) => Err(lv(e)),
        })
        .await
    }

    async fn undefine(&self, uri: &str, name: &str) -> Result<(), DriverError> {
        let name = name.to_owned();
        let is_test = uri.starts_with("test:");
        self.with_conn(uri, move |d, c| {
            match c.lookup_domain_by_name(&name) {
                Ok(dom) => {
                    if dom.is_active().unwrap_or(false) {
                        let _ = dom.destroy();
                    }
                    dom.undefine().map_err(lv)?;
                }
                Err(e) if is_no_domain(&e) => {}
                Err(e) => return Err(lv(e)),
            }
            if !is_test && let Ok(pool) = c.lookup_storage_pool_by_name(&d.config.storage_pool) {
                let _ = pool.refresh(0);
                if let Ok(v) = pool.lookup_storage_vol_by_name(&format!("{name}.qcow2")) {
                    v.delete(0).map_err(lv)?;
                }
            }
            Ok(())
        })
        .await
    }

    async fn list(&self, uri: &str) -> Result<Vec<DomainInfo>, DriverError> {
        self.with_conn(uri, |_, c| {
            let mut out = Vec::new();
            for d in c.list_all_domains(0).map_err(lv)? {
                out.push(DomainInfo {
                    name: d.name().map_err(lv)?,
                    state: state_of(&d),
                });
            }
            out.sort_by(|a, b| a.name.cmp(&b.name));
            Ok(out)
        })
        .await
    }

    async fn stats(&self, uri: &str, name: &str) -> Result<DomainStats, DriverError> {
        let name = name.to_owned();
        self.with_conn(uri, move |_, c| {
            let dom = c
                .lookup_domain_by_name(&name)
                .map_err(|_| DriverError::NoSuchDomain(name.clone()))?;
            let info = dom.info().map_err(lv)?;
            let mut s = DomainStats {
                cpu_time_ns: info.cpu_time,
                memory_kib: info.memory,
                ..DomainStats::default()
            };
            if let Ok(b) = dom.block_stats("vda") {
                s.disk_read_bytes = u64::try_from(b.rd_bytes).unwrap_or(0);
                s.disk_write_bytes = u64::try_from(b.wr_bytes).unwrap_or(0);
            }
            Ok(s)
        })
        .await
    }
}
