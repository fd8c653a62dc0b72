//! The libvirt driver against libvirt's test driver: `test:///default`, and several
//! `test:///…/host.xml` files as a multi-host pool. No daemon needed.

#![allow(clippy::unwrap_used, clippy::expect_used)]

use common::{ApplianceId, GroupId};
use orchestrator::drivers::libvirt::{LibvirtConfig, LibvirtDriver};
use orchestrator::drivers::{DomainSpec, DomainState, DriverError, Hypervisor};
use scaleinfra_orchestrator as orchestrator;
use std::sync::Arc;

fn driver() -> Arc<dyn Hypervisor> {
    Arc::new(LibvirtDriver::new(LibvirtConfig::default()))
}

fn spec(name: &str, vcpus: u32, memory_mib: u32) -> DomainSpec {
    DomainSpec {
        name: name.into(),
        appliance_id: ApplianceId::new(),
        group_id: GroupId::new(),
        vcpus,
        memory_mib,
        disk_gib: 1,
        image_dir: "/var/lib/scaleinfra/images".into(),
        disk: None,
        kernel: None,
        initrd: None,
        agent_token: "token".into(),
        agent_url: "http://10.0.2.100:8080".into(),
        nic: None,
    }
}

fn state(list: &[orchestrator::drivers::DomainInfo], name: &str) -> Option<DomainState> {
    list.iter().find(|d| d.name == name).map(|d| d.state)
}

#[tokio::test]
async fn lifecycle_on_the_default_test_host() {
    let hv = driver();
    let uri = "test:///default";
    let info = hv.host_info(uri).await.unwrap();
    assert!(info.cpus > 0 && info.memory_mib > 0, "{info:?}");
    // the test driver ships a domain of its own
    let before = hv.list(uri).await.unwrap();
    assert_eq!(state(&before, "test"), Some(DomainState::Running));

    let s = spec("si-lifecycle", 2, 512);
    hv.create(uri, &s).await.unwrap();
    hv.create(uri, &s).await.unwrap(); // idempotent: one domain, still running
    let list = hv.list(uri).await.unwrap();
    assert_eq!(list.iter().filter(|d| d.name == s.name).count(), 1);
    assert_eq!(state(&list, &s.name), Some(DomainState::Running));
    let stats = hv.stats(uri, &s.name).await.unwrap();
    assert_eq!(stats.memory_kib, 512 * 1024);

    hv.stop(uri, &s.name).await.unwrap();
    assert_eq!(
        state(&hv.list(uri).await.unwrap(), &s.name),
        Some(DomainState::ShutOff)
    );
    hv.start(uri, &s.name).await.unwrap();
    assert_eq!(
        state(&hv.list(uri).await.unwrap(), &s.name),
        Some(DomainState::Running)
    );
    hv.destroy(uri, &s.name).await.unwrap();
    hv.destroy(uri, &s.name).await.unwrap(); // idempotent
    assert_eq!(
        state(&hv.list(uri).await.unwrap(), &s.name),
        Some(DomainState::ShutOff)
    );
    hv.undefine(uri, &s.name).await.unwrap();
    hv.undefine(uri, &s.name).await.unwrap(); // idempotent
    assert_eq!(state(&hv.list(uri).await.unwrap(), &s.name), None);
    assert!(matches!(
        hv.start(uri, "si-nothing").await,
        Err(DriverError::NoSuchDomain(_))
    ));
    assert!(matches!(
        hv.stats(uri, "si-nothing").await,
        Err(DriverError::NoSuchDomain(_))
    ));
    // the foreign domain was never touched
    assert_eq!(
        state(&hv.list(uri).await.unwrap(), "test"),
        Some(DomainState::Running)
    );
}

#[tokio::test]
async fn several_host_files_make_a_pool() {
    let dir = tempfile::tempdir().unwrap();
    let mut uris = Vec::new();
    for (i, (cpus, mem_kib)) in [(8u32, 16_777_216u64), (16, 33_554_432)]
        .into_iter()
        .enumerate()
    {
        let path = dir.path().join(format!("host{i}.xml"));
        std::fs::write(
            &path,
            format!(
                "<node><cpu><mhz>2000</mhz><model>x86_64</model><active>{cpus}</active><nodes>1</nodes>\
                 <sockets>1</sockets><cores>{cpus}</cores><threads>1</threads></cpu><memory>{mem_kib}</memory></node>"
            ),
        )
        .unwrap();
        uris.push(format!("test://{}", path.display()));
    }
    let hv = driver();
    let a = hv.host_info(&uris[0]).await.unwrap();
    let b = hv.host_info(&uris[1]).await.unwrap();
    assert_eq!((a.cpus, a.memory_mib), (8, 16_384));
    assert_eq!((b.cpus, b.memory_mib), (16, 32_768));
    hv.create(&uris[0], &spec("si-on-a", 1, 256)).await.unwrap();
    hv.create(&uris[1], &spec("si-on-b", 1, 256)).await.unwrap();
    let on_a: Vec<String> = hv
        .list(&uris[0])
        .await
        .unwrap()
        .into_iter()
        .map(|d| d.name)
        .collect();
    let on_b: Vec<String> = hv
        .list(&uris[1])
        .await
        .unwrap()
        .into_iter()
        .map(|d| d.name)
        .collect();
    assert_eq!(on_a, ["si-on-a"]);
    assert_eq!(on_b, ["si-on-b"]);
}

#[tokio::test]
async fn an_unreachable_host_says_so() {
    let hv = driver();
    let err = hv.list("qemu+tcp://127.0.0.1:1/system").await.unwrap_err();
    assert!(err.is_unreachable(), "{err}");
}

#[test]
fn domain_xml_carries_identity_and_chooses_the_accelerator() {
    use orchestrator::drivers::libvirt::{GuestNetwork, Paths, domain_xml, test_domain_xml};
    let s = spec("si-x", 1, 192);
    let paths = Paths {
        disk: Some("/pool/si-x.qcow2".into()),
        kernel: Some("/g/vmlinuz".into()),
        initrd: Some("/g/initrd".into()),
    };
    let user = GuestNetwork::User {
        agent_guest: orchestrator::drivers::libvirt::agent_guest_addr(&s.agent_url),
        agent_host: "127.0.0.1:8080".parse().unwrap(),
    };
    let tcg = domain_xml(&s, false, &paths, &user);
    for needle in [
        "<domain type='qemu'",
        "<kernel>/g/vmlinuz</kernel>",
        "si.token=token",
        "si.url=http://10.0.2.100:8080",
        "<oemStrings><entry>si.appliance=",
        "<source file='/pool/si-x.qcow2'/>",
        "virtio-net-pci,netdev=n0",
        // the guest reaches the agent API and nothing else of the host
        "user,id=n0,restrict=on,guestfwd=tcp:10.0.2.100:8080-tcp:127.0.0.1:8080,,reconnect=1",
    ] {
        assert!(tcg.contains(needle), "{needle} missing:\n{tcg}");
    }
    assert!(!tcg.contains("hostfwd"), "{tcg}");
    let kvm = domain_xml(
        &s,
        true,
        &Paths::default(),
        &GuestNetwork::Bridge("br0".into()),
    );
    assert!(
        kvm.contains("<domain type='kvm'")
            && kvm.contains("<source bridge='br0'/>")
            && !kvm.contains("<disk")
    );
    assert!(test_domain_xml(&s).starts_with("<domain type='test'>"));
    // names and values are escaped
    let mut evil = spec("si-'<x>", 1, 192);
    evil.agent_token = "a&b".into();
    assert!(test_domain_xml(&evil).contains("si-&apos;&lt;x&gt;"));
}

/// A spec naming an image outside the pool's image directory is refused before anything is defined,
/// whatever the host.
#[tokio::test]
async fn image_files_that_leave_the_image_directory_are_refused() {
    use orchestrator::drivers::ImageRef;
    let hv = driver();
    for file in [
        "../../etc/shadow",
        "/etc/shadow",
        "sub/x.qcow2",
        ".hidden",
        "..",
    ] {
        let mut s = spec(&format!("si-evil-{}", file.len()), 1, 256);
        s.disk = Some(ImageRef {
            id: common::ImageId::new(),
            file: file.into(),
            format: common::api::ImageFormat::Qcow2,
            sha256: "0".repeat(64),
            size_bytes: 1,
        });
        let e = hv.create("test:///default", &s).await.unwrap_err();
        assert!(matches!(e, DriverError::Refused { .. }), "{file}: {e}");
        assert_eq!(
            state(&hv.list("test:///default").await.unwrap(), &s.name),
            None
        );
    }
}

/// A host whose libvirt accepts the connection but never answers holds up only its own calls: they
/// time out, while calls to another host go on at once.
#[tokio::test]
async fn a_hanging_host_times_out_and_blocks_no_other_host() {
    let listener = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
    let port = listener.local_addr().unwrap().port();
    // accept and hold every connection without a word
    std::thread::spawn(move || {
        let mut held = Vec::new();
        for s in listener.incoming().flatten() {
            held.push(s);
        }
    });
    let hv: Arc<dyn Hypervisor> = Arc::new(LibvirtDriver::new(LibvirtConfig {
        call_timeout: std::time::Duration::from_secs(3),
        max_in_flight: 2,
        ..LibvirtConfig::default()
    }));
    let hung = format!("qemu+tcp://127.0.0.1:{port}/system");
    let stuck = {
        let (hv, hung) = (hv.clone(), hung.clone());
        tokio::spawn(async move { hv.host_info(&hung).await })
    };
    let stuck2 = {
        let (hv, hung) = (hv.clone(), hung.clone());
        tokio::spawn(async move { hv.list(&hung).await })
    };
    // while both wait on the hung host, another host answers
    let info = hv.host_info("test:///default").await.unwrap();
    assert!(info.cpus > 0);
    assert!(
        !stuck.is_finished() && !stuck2.is_finished(),
        "the other host answered while the hung host's calls still wait"
    );
    let e = stuck.await.unwrap().unwrap_err();
    assert!(matches!(e, DriverError::Timeout { .. }), "{e}");
    assert!(e.is_unreachable());
    assert!(matches!(
        stuck2.await.unwrap(),
        Err(DriverError::Timeout { .. })
    ));
    // the hung host's blocked calls are bounded: a third is refused at once, not queued
    let e = hv.host_info(&hung).await.unwrap_err();
    assert!(matches!(e, DriverError::Unreachable { .. }), "{e}");
}
