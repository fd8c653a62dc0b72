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
        base_image: String::new(),
        kernel: None,
        initrd: None,
        agent_token: "token".into(),
        agent_url: "http://10.0.2.2:8080".into(),
        forwards: vec![],
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
    use orchestrator::drivers::libvirt::domain_xml;
    let mut s = spec("si-x", 1, 192);
    s.kernel = Some("/g/vmlinuz".into());
    s.initrd = Some("/g/initrd".into());
    let tcg = domain_xml(&s, false, false, Some("/pool/si-x.qcow2"), "user");
    for needle in [
        "<domain type='qemu'",
        "<kernel>/g/vmlinuz</kernel>",
        "si.token=token",
        "si.url=http://10.0.2.2:8080",
        "<oemStrings><entry>si.appliance=",
        "<source file='/pool/si-x.qcow2'/>",
        "virtio-net-pci,netdev=n0",
    ] {
        assert!(tcg.contains(needle), "{needle} missing:\n{tcg}");
    }
    let kvm = domain_xml(&s, false, true, None, "bridge:br0");
    assert!(
        kvm.contains("<domain type='kvm'")
            && kvm.contains("<source bridge='br0'/>")
            && !kvm.contains("<disk")
    );
    let test = domain_xml(&s, true, false, None, "user");
    assert!(test.starts_with("<domain type='test'>"));
    // names and values are escaped
    let mut evil = spec("si-'<x>", 1, 192);
    evil.agent_token = "a&b".into();
    assert!(domain_xml(&evil, true, false, None, "user").contains("si-&apos;&lt;x&gt;"));
}
