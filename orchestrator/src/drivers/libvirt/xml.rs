//! The domain XML of an appliance (pure).

use crate::drivers::DomainSpec;
use std::net::{SocketAddr, SocketAddrV4};

/// How guests are networked.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum GuestNetwork {
    /// QEMU user-mode networking with `restrict=on`: the guest reaches nothing of the hypervisor host
    /// or beyond, except the agent API through one `guestfwd` from `agent_guest` (an address of the
    /// guest's 10.0.2.0/24 that `agent_url` names) to `agent_host` on the hypervisor host.
    User {
        agent_guest: Option<SocketAddrV4>,
        agent_host: SocketAddr,
    },
    /// A bridge of the host: what guests reach is the operator's network's business.
    Bridge(String),
}

/// The host paths a domain uses, already checked against its pool's image directory.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct Paths {
    /// The appliance's own qcow2 overlay.
    pub disk: Option<String>,
    pub kernel: Option<String>,
    pub initrd: Option<String>,
}

pub(crate) fn xml_escape(s: &str) -> String {
    s.replace('&', "&amp;")
        .replace('<', "&lt;")
        .replace('>', "&gt;")
        .replace('\'', "&apos;")
        .replace('"', "&quot;")
}

/// What the guest learns about itself: on the kernel command line and in SMBIOS OEM strings.
fn identity(spec: &DomainSpec) -> String {
    let mut id = format!(
        "si.appliance={} si.token={} si.url={}",
        spec.appliance_id, spec.agent_token, spec.agent_url
    );
    if let Some(nic) = &spec.nic {
        id.push_str(&format!(" si.ip={}/{}", nic.address, nic.prefix));
        if let Some(gw) = nic.gateway {
            id.push_str(&format!(" si.gw={gw}"));
        }
    }
    id
}

/// The domain XML for `spec` on a host of the test driver (no devices).
pub fn test_domain_xml(spec: &DomainSpec) -> String {
    format!(
        "<domain type='test'><name>{}</name><memory unit='MiB'>{}</memory><vcpu>{}</vcpu>\
         <os><type arch='x86_64'>hvm</type></os><description>{}</description></domain>",
        xml_escape(&spec.name),
        spec.memory_mib,
        spec.vcpus,
        xml_escape(&identity(spec))
    )
}

/// The `-netdev` value of restricted user-mode networking. QEMU connects the `guestfwd` to the agent
/// API when the guest starts and carries the guest's connections to `agent_guest` over it, one at a
/// time (the agent calls one after another); `reconnect=1` opens it again within a second whenever
/// the server closes it. Without spawning a program per connection (which the seccomp sandbox that
/// libvirt gives QEMU forbids), this is the only forwarding `restrict=on` leaves: see ADR 4.
pub fn user_netdev(agent_guest: Option<SocketAddrV4>, agent_host: SocketAddr) -> String {
    let mut v = String::from("user,id=n0,restrict=on");
    if let Some(g) = agent_guest {
        v.push_str(&format!(
            ",guestfwd=tcp:{}:{}-tcp:{}:{},,reconnect=1",
            g.ip(),
            g.port(),
            agent_host.ip(),
            agent_host.port()
        ));
    }
    v
}

/// The MAC address of a guest on a pool network: a locally administered prefix and its IPAM
/// address, unique on the bridge as the address is (one pool network per bridge), the same on
/// every host and after every restart (pure).
pub fn mac_of(address: std::net::Ipv4Addr) -> String {
    let [a, b, c, d] = address.octets();
    format!("52:54:{a:02x}:{b:02x}:{c:02x}:{d:02x}")
}

/// The name of an application's peer filter.
pub fn filter_name(app: common::ApplicationId) -> String {
    format!("scaleinfra-app-{app}")
}

/// The network filter of an application's guests on a host (pure). Like libvirt's
/// `clean-traffic`, it binds each interface to its MAC and IPAM address (no frame, packet or ARP
/// answer in another's name: a guest whose tenant's scripts run as root still cannot take a
/// neighbour's address) and drops other layer-2 traffic; unlike it, IPv4 goes only to and from the
/// application's own guests, the gateway, and addresses outside the pool's range, where the
/// gateway routes and the operator's network decides. Its UUID is the application's, so defining
/// it again changes the filter of every interface that uses it.
pub fn peer_filter_xml(f: &crate::drivers::PeerFilter) -> String {
    let (net, mask) = (f.network.network(), f.network.prefix_len());
    // (no-ip-spoofing lets UDP from 0.0.0.0 out, for DHCP, which pool networks do not use: it
    // would reach every guest of the bridge as a broadcast from "outside the range")
    let mut rules = format!(
        "<rule action='drop' direction='out' priority='-660'>\
         <ip srcipaddr='0.0.0.0' srcipmask='8'/></rule>\
         <rule action='drop' direction='in' priority='-660'>\
         <ip srcipaddr='0.0.0.0' srcipmask='8'/></rule>\
         <rule action='accept' direction='out' priority='-650'>\
         <ip match='no' dstipaddr='{net}' dstipmask='{mask}'/></rule>\
         <rule action='accept' direction='in' priority='-650'>\
         <ip match='no' srcipaddr='{net}' srcipmask='{mask}'/></rule>"
    );
    for p in f.gateway.iter().chain(&f.peers) {
        rules.push_str(&format!(
            "<rule action='accept' direction='out' priority='-650'><ip dstipaddr='{p}'/></rule>\
             <rule action='accept' direction='in' priority='-650'><ip srcipaddr='{p}'/></rule>"
        ));
    }
    format!(
        "<filter name='{}' chain='root'><uuid>{}</uuid>\
         <filterref filter='no-mac-spoofing'/><filterref filter='no-ip-spoofing'/>\
         <filterref filter='no-arp-spoofing'/>{rules}\
         <rule action='accept' direction='inout' priority='-500'><mac protocolid='arp'/></rule>\
         <filterref filter='no-other-l2-traffic'/><filterref filter='qemu-announce-self'/></filter>",
        filter_name(f.application_id),
        f.application_id
    )
}

/// The interface of a guest on its pool's bridge, in its application's peer filter with its MAC
/// and IPAM address.
fn pool_interface(nic: &crate::drivers::Nic) -> String {
    format!(
        "<interface type='bridge'><mac address='{}'/><source bridge='{}'/><model type='virtio'/>\
         <filterref filter='{}'><parameter name='IP' value='{}'/></filterref></interface>",
        mac_of(nic.address),
        xml_escape(&nic.bridge),
        filter_name(nic.peers.application_id),
        nic.address
    )
}

/// The domain XML for `spec` on a QEMU host.
pub fn domain_xml(spec: &DomainSpec, kvm: bool, paths: &Paths, network: &GuestNetwork) -> String {
    let identity = identity(spec);
    let mut os =
        String::from("<type arch='x86_64' machine='q35'>hvm</type><smbios mode='sysinfo'/>");
    if let Some(k) = &paths.kernel {
        os.push_str(&format!("<kernel>{}</kernel>", xml_escape(k)));
        if let Some(i) = &paths.initrd {
            os.push_str(&format!("<initrd>{}</initrd>", xml_escape(i)));
        }
        os.push_str(&format!(
            "<cmdline>console=ttyS0 quiet panic=-1 {}</cmdline>",
            xml_escape(&identity)
        ));
    } else {
        os.push_str("<boot dev='hd'/>");
    }
    let disk_xml = paths
        .disk
        .as_deref()
        .map(|p| {
            format!(
                "<disk type='file' device='disk'><driver name='qemu' type='qcow2'/><source file='{}'/>\
                 <target dev='vda' bus='virtio'/></disk>",
                xml_escape(p)
            )
        })
        .unwrap_or_default();
    // an interface on the pool's bridge with its IPAM address, else the driver's networking
    let (iface, qemu_args) = match (&spec.nic, network) {
        (Some(nic), _) => (pool_interface(nic), String::new()),
        (None, GuestNetwork::Bridge(br)) => (
            format!(
                "<interface type='bridge'><source bridge='{}'/><model type='virtio'/></interface>",
                xml_escape(br)
            ),
            String::new(),
        ),
        (
            None,
            GuestNetwork::User {
                agent_guest,
                agent_host,
            },
        ) => (
            String::new(),
            format!(
                "<qemu:commandline><qemu:arg value='-netdev'/><qemu:arg value='{}'/>\
                 <qemu:arg value='-device'/><qemu:arg value='virtio-net-pci,netdev=n0,bus=pcie.0,addr=0x10'/>\
                 </qemu:commandline>",
                xml_escape(&user_netdev(*agent_guest, *agent_host))
            ),
        ),
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

/// The guest-side agent address of user-mode networking: `agent_url`'s host and port when the host is
/// an address of the guest network 10.0.2.0/24 other than its gateway (.2) and DNS (.3).
pub fn agent_guest_addr(agent_url: &str) -> Option<SocketAddrV4> {
    let rest = agent_url.strip_prefix("http://")?;
    let authority = rest.split('/').next()?;
    let (host, port) = authority
        .rsplit_once(':')
        .map_or((authority, 80), |(h, p)| (h, p.parse().unwrap_or(0)));
    let ip: std::net::Ipv4Addr = host.parse().ok()?;
    let o = ip.octets();
    (o[0] == 10 && o[1] == 0 && o[2] == 2 && !matches!(o[3], 0 | 2 | 3 | 255) && port != 0)
        .then(|| SocketAddrV4::new(ip, port))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_agent_address_must_be_inside_the_guest_network() {
        let table = [
            ("http://10.0.2.100:8080", Some("10.0.2.100:8080")),
            ("http://10.0.2.100:8080/agent", Some("10.0.2.100:8080")),
            ("http://10.0.2.100", Some("10.0.2.100:80")),
            ("http://10.0.2.2:8080", None),
            ("http://10.0.2.3:53", None),
            ("http://10.0.3.100:8080", None),
            ("http://192.168.1.10:8080", None),
            ("https://10.0.2.100:8443", None),
            ("http://agent.example:8080", None),
            ("http://10.0.2.100:0", None),
        ];
        for (url, want) in table {
            assert_eq!(
                agent_guest_addr(url).map(|a| a.to_string()),
                want.map(str::to_owned),
                "{url}"
            );
        }
    }

    #[test]
    fn user_networking_is_restricted_to_the_agent_forward() {
        let host: SocketAddr = "127.0.0.1:8080".parse().unwrap_or_else(|_| unreachable!());
        let guest = agent_guest_addr("http://10.0.2.100:8080");
        assert_eq!(
            user_netdev(guest, host),
            "user,id=n0,restrict=on,guestfwd=tcp:10.0.2.100:8080-tcp:127.0.0.1:8080,,reconnect=1"
        );
        assert_eq!(user_netdev(None, host), "user,id=n0,restrict=on");
    }

    #[test]
    fn a_guest_of_a_pool_network_joins_its_bridge_and_learns_its_address() {
        let app = common::ApplicationId::new();
        let mut spec = DomainSpec {
            name: "si-x".into(),
            appliance_id: common::ApplianceId::new(),
            group_id: common::GroupId::new(),
            vcpus: 1,
            memory_mib: 192,
            disk_gib: 1,
            image_dir: "/img".into(),
            disk: None,
            kernel: None,
            initrd: None,
            agent_token: "t".into(),
            agent_url: "http://10.77.0.1:8080".into(),
            nic: Some(crate::drivers::Nic {
                bridge: "sibr0".into(),
                address: "10.77.0.7".parse().unwrap_or_else(|_| unreachable!()),
                prefix: 24,
                gateway: "10.77.0.1".parse().ok(),
                peers: crate::drivers::PeerFilter {
                    application_id: app,
                    network: "10.77.0.0/24".parse().unwrap_or_else(|_| unreachable!()),
                    gateway: "10.77.0.1".parse().ok(),
                    peers: vec![],
                },
            }),
        };
        let paths = Paths {
            kernel: Some("/img/vmlinuz".into()),
            ..Paths::default()
        };
        let user = GuestNetwork::User {
            agent_guest: agent_guest_addr("http://10.0.2.100:8080"),
            agent_host: "127.0.0.1:8080".parse().unwrap_or_else(|_| unreachable!()),
        };
        let xml = domain_xml(&spec, false, &paths, &user);
        assert!(
            xml.contains(&format!(
                "<interface type='bridge'><mac address='{}'/><source bridge='sibr0'/>",
                mac_of("10.77.0.7".parse().unwrap_or_else(|_| unreachable!()))
            )),
            "{xml}"
        );
        assert!(
            xml.contains(&format!(
                "<filterref filter='scaleinfra-app-{app}'><parameter name='IP' value='10.77.0.7'/>"
            )),
            "the guest may speak only as its own address, to its application: {xml}"
        );
        assert!(
            !xml.contains("-netdev"),
            "no user-mode NIC beside the bridge: {xml}"
        );
        assert!(
            xml.contains("si.url=http://10.77.0.1:8080 si.ip=10.77.0.7/24 si.gw=10.77.0.1"),
            "{xml}"
        );
        spec.nic = None;
        let xml = domain_xml(&spec, false, &paths, &user);
        assert!(
            xml.contains("restrict=on") && !xml.contains("si.ip="),
            "{xml}"
        );
    }

    #[test]
    fn an_application_filter_lets_ipv4_through_to_its_peers_the_gateway_and_beyond_the_range() {
        let app = common::ApplicationId::new();
        let f = crate::drivers::PeerFilter {
            application_id: app,
            network: "10.77.0.0/24".parse().unwrap_or_else(|_| unreachable!()),
            gateway: "10.77.0.1".parse().ok(),
            peers: vec![
                "10.77.0.2".parse().unwrap_or_else(|_| unreachable!()),
                "10.77.0.9".parse().unwrap_or_else(|_| unreachable!()),
            ],
        };
        let xml = peer_filter_xml(&f);
        assert!(
            xml.starts_with(&format!(
                "<filter name='scaleinfra-app-{app}' chain='root'><uuid>{app}</uuid>"
            )),
            "{xml}"
        );
        for p in ["10.77.0.1", "10.77.0.2", "10.77.0.9"] {
            assert!(
                xml.contains(&format!(
                    "direction='out' priority='-650'><ip dstipaddr='{p}'/>"
                )),
                "{p}: {xml}"
            );
            assert!(
                xml.contains(&format!(
                    "direction='in' priority='-650'><ip srcipaddr='{p}'/>"
                )),
                "{p}: {xml}"
            );
        }
        assert_eq!(
            xml.matches("<ip dstipaddr=").count(),
            3,
            "nobody else in the range: {xml}"
        );
        assert!(
            xml.contains("<ip match='no' dstipaddr='10.77.0.0' dstipmask='24'/>"),
            "{xml}"
        );
        assert!(
            xml.contains("<ip match='no' srcipaddr='10.77.0.0' srcipmask='24'/>"),
            "{xml}"
        );
        for dir in ["out", "in"] {
            assert!(
                xml.contains(&format!(
                    "<rule action='drop' direction='{dir}' priority='-660'><ip srcipaddr='0.0.0.0' srcipmask='8'/>"
                )),
                "nothing from 0.0.0.0/8 either way: {xml}"
            );
        }
        assert_eq!(
            mac_of("10.77.0.7".parse().unwrap_or_else(|_| unreachable!())),
            "52:54:0a:4d:00:07"
        );
        for anti in [
            "no-mac-spoofing",
            "no-ip-spoofing",
            "no-arp-spoofing",
            "no-other-l2-traffic",
        ] {
            assert!(
                xml.contains(&format!("<filterref filter='{anti}'/>")),
                "{anti}: {xml}"
            );
        }
    }
}
