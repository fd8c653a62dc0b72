//! The slow tier: a real libvirtd (qemu:///system, TCG) boots a tiny real appliance — a Debian kernel
//! and a busybox initramfs carrying the agent, built by infra/guest/build.sh — which comes alive through
//! the agent over HTTP, reports metrics, and is destroyed on undeploy. Run by scripts/test after it
//! starts libvirtd and builds the guest (`SITEST_GUEST_DIR`); ignored in a plain `cargo test`.

use crate::fixtures::{appliances, application, group, layer};
use scaleinfra_tests::*;
use serde_json::json;

#[tokio::test]
#[ignore = "slow tier: needs libvirtd and the guest built by infra/guest/build.sh (scripts/test runs it)"]
async fn a_real_tcg_guest_comes_alive_through_its_agent() {
    let guest = std::env::var("SITEST_GUEST_DIR").expect(
        "SITEST_GUEST_DIR must name the folder infra/guest/build.sh wrote (scripts/test sets it)",
    );
    // the guest reaches this server's agent API only, through the guestfwd of restricted user-mode
    // networking from 10.0.2.100 to the host's loopback
    let port = std::net::TcpListener::bind("127.0.0.1:0")
        .unwrap()
        .local_addr()
        .unwrap()
        .port();
    let app = TestApp::spawn_with(|c| {
        c.bind = format!("127.0.0.1:{port}").parse().unwrap();
        c.agent_url = format!("http://10.0.2.100:{port}");
        c.sim_hosts = 0;
        c.heartbeat_ms = 1000;
        c.heartbeat_timeout_secs = 30;
        c.boot_timeout_secs = 240;
        c.host_check_ms = 2000;
        c.host_down_after = 5;
    })
    .await;
    let op = app.operator().await;
    let r = app
        .post(
            &op.token,
            "/api/v1/pools",
            json!({"name": "kvm", "image_dir": guest}),
        )
        .await;
    r.assert_status(201);
    let pool = r.body["id"].as_str().unwrap().to_owned();
    app.post(&op.token, &format!("/api/v1/pools/{pool}/hosts"), json!({
        "name": "localhost", "uri": "qemu:///system", "capacity": {"vcpus": 2, "memory_mib": 2048, "disk_gib": 10}
    }))
    .await
    .assert_status(201);
    // the guest's kernel and initramfs, registered in the pool's image directory with their checksums
    let mut ids = Vec::new();
    for (name, kind, file) in [
        ("Tiny kernel", "kernel", "vmlinuz"),
        ("Tiny initramfs", "initrd", "initramfs.cpio.gz"),
    ] {
        let bytes = std::fs::read(format!("{guest}/{file}")).unwrap();
        let sha = orchestrator::drivers::images::sha256_of(&bytes[..]).unwrap();
        let r = app
            .post(
                &op.token,
                &format!("/api/v1/pools/{pool}/images"),
                json!({
                    "name": name, "kind": kind, "format": "raw", "file": file,
                    "sha256": sha, "size_bytes": bytes.len()
                }),
            )
            .await;
        r.assert_status(201);
        ids.push(r.body["id"].as_str().unwrap().to_owned());
    }
    let r = app
        .post(
            &op.token,
            "/api/v1/templates",
            json!({
                "name": "Tiny guest", "role": "static",
                "kernel_image_id": ids[0], "initrd_image_id": ids[1],
                "flavor": {"vcpus": 1, "memory_mib": 192, "disk_gib": 1}, "ports": [80]
            }),
        )
        .await;
    r.assert_status(201);
    let tpl = r.body["id"].as_str().unwrap().to_owned();
    let acme = app.tenant(&op, "acme").await;
    let t = &acme.admin.token;
    let project = app.project(&acme.admin, "P").await;
    let a = application(&app, t, &project, "Real").await;
    let l = layer(&app, t, &a, "web").await;
    group(&app, t, &l, "web", &tpl, 1, 1).await;
    app.post(t, &format!("/api/v1/applications/{a}/deploy"), json!({}))
        .await
        .assert_status(202);

    // booted under TCG (kvm refused on this machine is tried first and falls back), announced itself
    let up = app
        .eventually(240, "the real guest to come alive", || async {
            let all = appliances(&app, t, &a).await;
            let first = all.first().cloned()?;
            assert_ne!(first["state"], "failed", "{first}");
            (first["state"] == "running").then_some(first)
        })
        .await;
    let id = up["id"].as_str().unwrap().to_owned();
    assert_eq!(
        up["ip"], "10.0.2.15",
        "the address the agent reports from inside the guest"
    );
    let ev = app
        .get(t, &format!("/api/v1/applications/{a}/events"))
        .await;
    assert!(
        ev.body["items"]
            .as_array()
            .unwrap()
            .iter()
            .any(|e| e["type"] == "appliance.came_alive" && e["appliance_id"] == id.as_str())
    );
    let driver = orchestrator::drivers::libvirt::LibvirtDriver::new(Default::default());
    let hv: std::sync::Arc<dyn orchestrator::drivers::Hypervisor> = std::sync::Arc::new(driver);
    let listed = hv.list("qemu:///system").await.unwrap();
    assert!(
        listed.iter().any(|d| d.name == format!("si-{id}")
            && d.state == orchestrator::drivers::DomainState::Running)
    );
    // the agent reports real metrics from /proc
    let m = app
        .eventually(60, "metrics from the guest", || async {
            let r = app.get(t, &format!("/api/v1/appliances/{id}")).await;
            r.body["metrics"]
                .as_object()
                .map(|_| r.body["metrics"].clone())
        })
        .await;
    assert!(m["mem_total_mib"].as_u64().unwrap() > 100, "{m}");
    // restricted user-mode networking: the guest reached the agent API through its one forward,
    // and nothing of the host's loopback through the gateway (the guest probes this server's port)
    assert_eq!(m["custom"]["host_loopback_open"], 0.0, "{m}");

    // undeploy destroys and undefines the domain
    app.post(t, &format!("/api/v1/applications/{a}/undeploy"), json!({}))
        .await
        .assert_status(202);
    app.eventually(60, "the domain to be gone", || async {
        let listed = hv.list("qemu:///system").await.unwrap();
        (!listed.iter().any(|d| d.name == format!("si-{id}"))).then_some(())
    })
    .await;
    let r = app.get(t, &format!("/api/v1/appliances/{id}")).await;
    assert_eq!(r.body["state"], "terminated");
}
