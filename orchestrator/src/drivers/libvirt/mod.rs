//! The libvirt driver (crate `virt`): one connection per host URI (`qemu+ssh://`, `qemu+tcp://`,
//! `qemu:///system`, `test:///…`), calls on the blocking pool, each with a deadline. Domains get a
//! qcow2 copy-on-write overlay of a registered disk image in a libvirt storage pool of the host,
//! optional direct kernel boot from registered images, and the appliance's identity on the kernel
//! command line and in SMBIOS OEM strings. Whether a host runs guests with `kvm` or `qemu` (TCG) is
//! decided by trying: kvm first, TCG when the kvm guest dies.
//!
//! Guarantees: a host that hangs never blocks calls to other hosts (connections are opened under a
//! per-host lock) and never blocks its caller longer than the call timeout; at most
//! [`LibvirtConfig::max_in_flight`] calls wait on one host. Images are used only from the pool's image
//! directory, after their size and SHA-256 were checked on that host (see [`images`](super::images)).

mod conn;
mod xml;

pub use xml::{GuestNetwork, Paths, agent_guest_addr, domain_xml, test_domain_xml, user_netdev};

use super::images::{self, Checked, image_path};
use super::{
    DomainInfo, DomainSpec, DomainState, DomainStats, DriverError, HostInfo, Hypervisor, ImageRef,
};
use async_trait::async_trait;
use common::ImageId;
use conn::Hosts;
use std::collections::{HashMap, HashSet};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};
use virt::connect::Connect;
use virt::domain::Domain;
use virt::storage_pool::StoragePool;
use virt::storage_vol::StorageVol;
use xml::xml_escape;

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
    pub network: GuestNetwork,
    /// Deadline of one driver call (opening the connection included).
    pub call_timeout: Duration,
    /// Calls that may wait on one host at once; more are refused as `Unreachable` at once.
    pub max_in_flight: usize,
}

impl Default for LibvirtConfig {
    fn default() -> Self {
        LibvirtConfig {
            accel: Accel::Auto,
            storage_pool: "scaleinfra".into(),
            storage_dir: "/var/lib/libvirt/scaleinfra".into(),
            kvm_probe: Duration::from_secs(4),
            network: GuestNetwork::User {
                agent_guest: agent_guest_addr("http://10.0.2.100:8080"),
                agent_host: std::net::SocketAddr::from(([127, 0, 0, 1], 8080)),
            },
            call_timeout: Duration::from_secs(60),
            max_in_flight: 8,
        }
    }
}

pub struct LibvirtDriver {
    config: LibvirtConfig,
    hosts: Hosts,
    /// What was learnt per host: kvm works (true) or not (false).
    kvm_ok: Mutex<HashMap<String, bool>>,
    /// Local files already hashed.
    checked: Checked,
    /// Images whose content was checked through libvirt, per host: (uri, image, sha256).
    verified: Mutex<HashSet<(String, ImageId, String)>>,
}

impl std::fmt::Debug for LibvirtDriver {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("LibvirtDriver")
            .field("config", &self.config)
            .finish_non_exhaustive()
    }
}

fn lv(call: &'static str) -> impl Fn(virt::error::Error) -> DriverError {
    move |source| DriverError::Libvirt { call, source }
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

/// Whether a host URI names this machine's libvirt (no host part), whose files this process sees.
fn is_local(uri: &str) -> bool {
    uri.split_once("://")
        .is_some_and(|(scheme, rest)| rest.starts_with('/') && !scheme.starts_with("test"))
}

/// The libvirt storage pool that exposes a pool's image directory on a host.
fn image_pool_name(dir: &str) -> String {
    use sha2::Digest;
    let h = images::hex(&sha2::Sha256::digest(dir.as_bytes()));
    format!("si-images-{}", &h[..12])
}

impl LibvirtDriver {
    pub fn new(config: LibvirtConfig) -> Arc<LibvirtDriver> {
        virt::error::clear_error_callback();
        Arc::new(LibvirtDriver {
            config,
            hosts: Hosts::default(),
            kvm_ok: Mutex::new(HashMap::new()),
            checked: Checked::default(),
            verified: Mutex::new(HashSet::new()),
        })
    }

    /// Run blocking libvirt work for `uri` on a thread, within the call timeout; a failure
    /// of the connection itself drops it (a restarted libvirtd needs a new one) and reads as
    /// `Unreachable`.
    async fn with_conn<T: Send + 'static>(
        self: &Arc<Self>,
        uri: &str,
        call: &'static str,
        f: impl FnOnce(&LibvirtDriver, &Connect) -> Result<T, DriverError> + Send + 'static,
    ) -> Result<T, DriverError> {
        let slot = self.hosts.slot(uri);
        let ticket = slot.enter(self.config.max_in_flight).ok_or_else(|| {
            DriverError::unreachable(
                uri,
                format!(
                    "{} calls already wait on this host (it does not answer)",
                    self.config.max_in_flight
                ),
            )
        })?;
        let this = self.clone();
        let owned = uri.to_owned();
        let (reply, answer) = tokio::sync::oneshot::channel();
        // a thread of its own, not tokio's blocking pool: a call stuck on a hung host is abandoned at
        // its deadline and never holds up the runtime's shutdown or other blocking work
        std::thread::Builder::new()
            .name(format!("libvirt-{call}"))
            .spawn(move || {
                let _ticket = ticket;
                let outcome = slot.connect(&owned).and_then(|c| match f(&this, &c) {
                    Err(DriverError::Libvirt { source, .. }) if conn::is_broken(&source) => {
                        slot.forget();
                        Err(DriverError::unreachable(&owned, source))
                    }
                    r => r,
                });
                let _ = reply.send(outcome);
            })
            .map_err(|e| DriverError::unreachable(uri, e))?;
        match tokio::time::timeout(self.config.call_timeout, answer).await {
            Ok(Ok(outcome)) => outcome,
            Ok(Err(_)) => Err(DriverError::unreachable(
                uri,
                "the libvirt call's thread ended without an answer (it panicked)",
            )),
            Err(_) => Err(DriverError::Timeout {
                uri: uri.to_owned(),
                call,
                after: self.config.call_timeout,
            }),
        }
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
                let p = c
                    .define_storage_pool_xml(&xml, 0)
                    .map_err(lv("define storage pool"))?;
                p.build(0).map_err(lv("build storage pool"))?;
                p
            }
        };
        if !pool.is_active().map_err(lv("storage pool state"))? {
            pool.create(0).map_err(lv("start storage pool"))?;
        }
        Ok(pool)
    }

    /// The storage pool over a pool's image directory (defined on first use; never built: the
    /// directory is the operator's).
    fn image_pool(&self, c: &Connect, dir: &str) -> Result<StoragePool, DriverError> {
        let name = image_pool_name(dir);
        let pool = match c.lookup_storage_pool_by_name(&name) {
            Ok(p) => p,
            Err(_) => {
                let xml = format!(
                    "<pool type='dir'><name>{}</name><target><path>{}</path></target></pool>",
                    xml_escape(&name),
                    xml_escape(dir)
                );
                c.define_storage_pool_xml(&xml, 0)
                    .map_err(lv("define image pool"))?
            }
        };
        if !pool.is_active().map_err(lv("image pool state"))? {
            pool.create(0).map_err(|e| {
                DriverError::refused_by(format!("the image directory {dir} is not usable"), e)
            })?;
        }
        pool.refresh(0).map_err(lv("refresh image pool"))?;
        Ok(pool)
    }

    /// The path of a registered image on the host behind `c`, once it was found in the image
    /// directory with its registered size and checksum.
    fn resolve_image(
        &self,
        c: &Connect,
        uri: &str,
        dir: &str,
        image: &ImageRef,
    ) -> Result<String, DriverError> {
        let path = image_path(dir, &image.file)?;
        if is_local(uri) {
            // this machine's files: canonical, no symlink out, size and SHA-256 (cached)
            return images::verify_local(dir, image, &self.checked);
        }
        let pool = self.image_pool(c, dir)?;
        let vol = pool.lookup_storage_vol_by_name(&image.file).map_err(|e| {
            DriverError::refused_by(format!("image {} is not in {dir} on {uri}", image.file), e)
        })?;
        let found = vol.path().map_err(lv("image path"))?;
        if found != path {
            return Err(DriverError::refused(format!(
                "image {} resolves to {found}, outside {dir}",
                image.file
            )));
        }
        // VIR_STORAGE_VOL_GET_PHYSICAL (1): `allocation` is the file's size on the host
        let info = vol.info_flags(1).map_err(lv("image size"))?;
        if info.allocation != image.size_bytes {
            return Err(DriverError::refused(format!(
                "image {}: {} bytes on {uri}, {} registered",
                image.file, info.allocation, image.size_bytes
            )));
        }
        let key = (uri.to_owned(), image.id, image.sha256.clone());
        let known = self
            .verified
            .lock()
            .unwrap_or_else(|p| p.into_inner())
            .contains(&key);
        if !known {
            let digest = download_sha256(c, &vol)?;
            if digest != image.sha256 {
                return Err(DriverError::refused(format!(
                    "image {} on {uri}: SHA-256 {digest}, the registry says {}",
                    image.file, image.sha256
                )));
            }
            self.verified
                .lock()
                .unwrap_or_else(|p| p.into_inner())
                .insert(key);
        }
        Ok(path)
    }

    /// The overlay volume of a domain on top of `base`, created on first use.
    fn overlay(&self, c: &Connect, spec: &DomainSpec, base: &str) -> Result<String, DriverError> {
        let pool = self.storage_pool(c)?;
        let vol_name = format!("{}.qcow2", spec.name);
        if let Ok(v) = pool.lookup_storage_vol_by_name(&vol_name) {
            return v.path().map_err(lv("overlay path"));
        }
        let format = spec.disk.as_ref().map_or("qcow2", |d| d.format.as_str());
        let xml = format!(
            "<volume><name>{}</name><capacity unit='GiB'>{}</capacity><target><format type='qcow2'/></target>\
             <backingStore><path>{}</path><format type='{}'/></backingStore></volume>",
            xml_escape(&vol_name),
            spec.disk_gib,
            xml_escape(base),
            format
        );
        let v = StorageVol::create_xml(&pool, &xml, 0).map_err(|e| {
            DriverError::refused_by(
                format!("cannot create the disk overlay of {}", spec.name),
                e,
            )
        })?;
        v.path().map_err(lv("overlay path"))
    }

    /// The checked host paths of a spec's images and its overlay.
    fn paths(&self, c: &Connect, uri: &str, spec: &DomainSpec) -> Result<Paths, DriverError> {
        let resolve = |i: &Option<ImageRef>| {
            i.as_ref()
                .map(|i| self.resolve_image(c, uri, &spec.image_dir, i))
                .transpose()
        };
        let base = resolve(&spec.disk)?;
        let kernel = resolve(&spec.kernel)?;
        let initrd = resolve(&spec.initrd)?;
        if base.is_none() && kernel.is_none() {
            return Err(DriverError::refused(format!(
                "{} has neither a disk image nor a kernel",
                spec.name
            )));
        }
        let disk = base.map(|b| self.overlay(c, spec, &b)).transpose()?;
        Ok(Paths {
            disk,
            kernel,
            initrd,
        })
    }

    /// Define (or change) an application's peer filter on the host behind `c`. Always sent: what
    /// another orchestrator defined there since is not known here, and a definition costs one call.
    fn define_filter(c: &Connect, f: &crate::drivers::PeerFilter) -> Result<(), DriverError> {
        c.define_nwfilter_xml(&xml::peer_filter_xml(f))
            .map(|_| ())
            .map_err(|e| {
                DriverError::refused_by(
                    format!(
                        "libvirt refused the network filter of application {}",
                        f.application_id
                    ),
                    e,
                )
            })
    }

    fn define_and_start(&self, c: &Connect, xml: &str, name: &str) -> Result<Domain, DriverError> {
        let dom = c.define_domain_xml(xml).map_err(|e| {
            DriverError::refused_by(format!("libvirt refused the domain {name}"), e)
        })?;
        if let Err(e) = dom.create() {
            return Err(DriverError::refused_by(format!("cannot start {name}"), e));
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

    /// Remove a kvm attempt that did not stay up; a failure is the create's failure (a leftover
    /// definition would be taken for the appliance's domain by the next create).
    fn remove(dom: &Domain) -> Result<(), DriverError> {
        if dom.is_active().map_err(lv("domain state"))? {
            dom.destroy().map_err(lv("destroy"))?;
        }
        dom.undefine().map_err(lv("undefine"))
    }

    fn kvm_known(&self, uri: &str) -> Option<bool> {
        self.kvm_ok
            .lock()
            .unwrap_or_else(|p| p.into_inner())
            .get(uri)
            .copied()
    }

    fn learn_kvm(&self, uri: &str, works: bool) {
        self.kvm_ok
            .lock()
            .unwrap_or_else(|p| p.into_inner())
            .insert(uri.to_owned(), works);
    }

    fn create_blocking(
        &self,
        c: &Connect,
        uri: &str,
        spec: &DomainSpec,
    ) -> Result<(), DriverError> {
        // the spec's images are checked even where they are not used (the test driver)
        for i in [&spec.disk, &spec.kernel, &spec.initrd]
            .into_iter()
            .flatten()
        {
            image_path(&spec.image_dir, &i.file)?;
        }
        if let Ok(dom) = c.lookup_domain_by_name(&spec.name) {
            if !dom.is_active().map_err(lv("domain state"))? {
                dom.create().map_err(lv("start"))?;
            }
            return Ok(());
        }
        if uri.starts_with("test:") {
            self.define_and_start(c, &test_domain_xml(spec), &spec.name)?;
            return Ok(());
        }
        let paths = self.paths(c, uri, spec)?;
        if let Some(nic) = &spec.nic {
            Self::define_filter(c, &nic.peers)?;
        }
        let known = self.kvm_known(uri);
        let try_kvm = match self.config.accel {
            Accel::Kvm => true,
            Accel::Tcg => false,
            Accel::Auto => known.unwrap_or(true),
        };
        if try_kvm {
            let xml = domain_xml(spec, true, &paths, &self.config.network);
            match self.define_and_start(c, &xml, &spec.name) {
                Ok(dom)
                    if self.config.accel == Accel::Kvm
                        || known == Some(true)
                        || self.stays_up(&dom) =>
                {
                    self.learn_kvm(uri, true);
                    return Ok(());
                }
                Ok(dom) => Self::remove(&dom)?,
                Err(e) if self.config.accel == Accel::Kvm => return Err(e),
                Err(_) => {
                    if let Ok(dom) = c.lookup_domain_by_name(&spec.name) {
                        Self::remove(&dom)?;
                    }
                }
            }
            tracing::info!(%uri, "kvm guests do not stay up on this host; using TCG");
            self.learn_kvm(uri, false);
        }
        let xml = domain_xml(spec, false, &paths, &self.config.network);
        self.define_and_start(c, &xml, &spec.name)?;
        Ok(())
    }
}

/// SHA-256 of a volume's content, streamed from its host.
fn download_sha256(c: &Connect, vol: &StorageVol) -> Result<String, DriverError> {
    use sha2::Digest;
    let stream = virt::stream::Stream::new(c, 0).map_err(lv("open stream"))?;
    vol.download(&stream, 0, 0, 0)
        .map_err(lv("download image"))?;
    let mut h = sha2::Sha256::new();
    let mut buf = vec![0u8; 1 << 18];
    loop {
        let n = match stream.recv(&mut buf) {
            Ok(n) => n,
            Err(e) => {
                let _ = stream.abort();
                return Err(lv("read image")(e));
            }
        };
        if n <= 0 {
            break;
        }
        h.update(&buf[..n.unsigned_abs()]);
    }
    stream.finish().map_err(lv("finish stream"))?;
    Ok(images::hex(&h.finalize()))
}

#[async_trait]
impl Hypervisor for Arc<LibvirtDriver> {
    async fn host_info(&self, uri: &str) -> Result<HostInfo, DriverError> {
        self.with_conn(uri, "host_info", |_, c| {
            let ni = c.node_info().map_err(lv("node info"))?;
            let hostname = c.hostname().map_err(lv("hostname"))?;
            let domains = c.list_all_domains(0).map_err(lv("list domains"))?.len();
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
        self.with_conn(uri, "create", move |d, c| d.create_blocking(c, &u, &spec))
            .await
    }

    async fn set_peers(
        &self,
        uri: &str,
        filter: &crate::drivers::PeerFilter,
    ) -> Result<(), DriverError> {
        // the test driver's domains have no devices
        if uri.starts_with("test:") {
            return Ok(());
        }
        let filter = filter.clone();
        self.with_conn(uri, "set peers", move |_, c| {
            LibvirtDriver::define_filter(c, &filter)
        })
        .await
    }

    async fn start(&self, uri: &str, name: &str) -> Result<(), DriverError> {
        let name = name.to_owned();
        self.with_conn(uri, "start", move |_, c| {
            let dom = c
                .lookup_domain_by_name(&name)
                .map_err(|_| DriverError::NoSuchDomain(name.clone()))?;
            if !dom.is_active().map_err(lv("domain state"))? {
                dom.create().map_err(lv("start"))?;
            }
            Ok(())
        })
        .await
    }

    async fn stop(&self, uri: &str, name: &str) -> Result<(), DriverError> {
        let name = name.to_owned();
        self.with_conn(uri, "stop", move |_, c| {
            let dom = c
                .lookup_domain_by_name(&name)
                .map_err(|_| DriverError::NoSuchDomain(name.clone()))?;
            if dom.is_active().map_err(lv("domain state"))? {
                dom.shutdown().map_err(lv("shutdown"))?;
            }
            Ok(())
        })
        .await
    }

    async fn destroy(&self, uri: &str, name: &str) -> Result<(), DriverError> {
        let name = name.to_owned();
        self.with_conn(uri, "destroy", move |_, c| {
            match c.lookup_domain_by_name(&name) {
                Ok(dom) => {
                    if dom.is_active().map_err(lv("domain state"))?
                        && let Err(e) = dom.destroy()
                        && dom.is_active().unwrap_or(true)
                    {
                        return Err(lv("destroy")(e));
                    }
                    Ok(())
                }
                Err(e) if is_no_domain(&e) => Ok(()),
                Err(e) => Err(lv("look up domain")(e)),
            }
        })
        .await
    }

    async fn undefine(&self, uri: &str, name: &str) -> Result<(), DriverError> {
        let name = name.to_owned();
        let is_test = uri.starts_with("test:");
        self.with_conn(uri, "undefine", move |d, c| {
            match c.lookup_domain_by_name(&name) {
                Ok(dom) => {
                    // a domain that still runs must not lose its definition unnoticed
                    if dom.is_active().map_err(lv("domain state"))? {
                        dom.destroy().map_err(lv("destroy"))?;
                    }
                    dom.undefine().map_err(lv("undefine"))?;
                }
                Err(e) if is_no_domain(&e) => {}
                Err(e) => return Err(lv("look up domain")(e)),
            }
            if !is_test && let Ok(pool) = c.lookup_storage_pool_by_name(&d.config.storage_pool) {
                pool.refresh(0).map_err(lv("refresh storage pool"))?;
                if let Ok(v) = pool.lookup_storage_vol_by_name(&format!("{name}.qcow2")) {
                    v.delete(0).map_err(lv("delete overlay"))?;
                }
            }
            Ok(())
        })
        .await
    }

    async fn list(&self, uri: &str) -> Result<Vec<DomainInfo>, DriverError> {
        self.with_conn(uri, "list", |_, c| {
            let mut out = Vec::new();
            for d in c.list_all_domains(0).map_err(lv("list domains"))? {
                out.push(DomainInfo {
                    name: d.name().map_err(lv("domain name"))?,
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
        self.with_conn(uri, "stats", move |_, c| {
            let dom = c
                .lookup_domain_by_name(&name)
                .map_err(|_| DriverError::NoSuchDomain(name.clone()))?;
            let info = dom.info().map_err(lv("domain info"))?;
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

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn local_uris_are_those_without_a_host() {
        let table = [
            ("qemu:///system", true),
            ("qemu+unix:///system", true),
            ("qemu+ssh://root@kvm1/system", false),
            ("qemu+tcp://10.0.0.5/system", false),
            ("test:///default", false),
            ("nonsense", false),
        ];
        for (uri, want) in table {
            assert_eq!(is_local(uri), want, "{uri}");
        }
    }

    #[test]
    fn image_pools_are_named_after_their_directory() {
        let a = image_pool_name("/var/lib/scaleinfra/images");
        assert!(a.starts_with("si-images-") && a.len() == 22, "{a}");
        assert_ne!(a, image_pool_name("/srv/images"));
        assert_eq!(a, image_pool_name("/var/lib/scaleinfra/images"));
    }
}
